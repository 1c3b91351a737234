//! SQLite connections: setup, pragmas and schema migrations.
//!
//! The schema is `schema.sql` at the crate root, embedded in the binary. Migrations are
//! numbered by `PRAGMA user_version`: version N is applied when the file's version is
//! below N, inside one transaction with the version bump.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use crate::ledger::{LedgerError, Synchronous};

/// The schema file: migrations introduced by `-- version N` lines.
const SCHEMA: &str = include_str!("../../../schema.sql");

/// The migrations of [`SCHEMA`] in order, as (version, SQL).
fn migrations() -> Vec<(i64, &'static str)> {
    crate::store::versions(SCHEMA)
}

/// The schema version this build writes.
pub fn schema_version() -> i64 {
    migrations().last().map_or(0, |(n, _)| *n)
}

/// How long a connection waits for another process's lock (the CLI beside a running
/// node) before failing with `SQLITE_BUSY`.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Opens the write connection: WAL, the given `synchronous`, foreign keys on, and the
/// schema migrated to [`schema_version`]. Creates the file and its folder if needed.
///
/// # Errors
/// Storage errors; [`LedgerError::Invalid`] when the file was written by a newer build.
pub fn open_writer(path: &Path, synchronous: Synchronous) -> Result<Connection, LedgerError> {
    open_writer_migrated(path, synchronous).map(|(conn, _)| conn)
}

/// [`open_writer`], also returning the schema version the file had before.
///
/// # Errors
/// As [`open_writer`].
pub fn open_writer_migrated(
    path: &Path,
    synchronous: Synchronous,
) -> Result<(Connection, i64), LedgerError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| {
            LedgerError::Invalid(format!(
                "cannot create the data folder {}: {e}",
                dir.display()
            ))
        })?;
    }
    let mut conn = Connection::open(path)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.set_prepared_statement_cache_capacity(64);
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(LedgerError::Invalid(format!(
            "cannot switch {} to WAL (journal_mode is {mode})",
            path.display()
        )));
    }
    let sync = match synchronous {
        Synchronous::Full => "FULL",
        Synchronous::Normal => "NORMAL",
    };
    conn.execute_batch(&format!(
        "PRAGMA synchronous = {sync}; PRAGMA foreign_keys = ON; PRAGMA temp_store = MEMORY;
         PRAGMA cache_size = -65536; PRAGMA wal_autocheckpoint = 8000;"
    ))?;
    let before = migrate(&mut conn)?;
    Ok((conn, before))
}

/// Applies the migrations the file lacks; returns the version it had before.
fn migrate(conn: &mut Connection) -> Result<i64, LedgerError> {
    let latest = schema_version();
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version > latest {
        return Err(LedgerError::Invalid(format!(
            "the database has schema version {version}, newer than this build's {latest}"
        )));
    }
    for (n, sql) in migrations().into_iter().filter(|(n, _)| *n > version) {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        // Another process may have migrated while we waited for the lock.
        let now: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if now >= n {
            continue;
        }
        tx.execute_batch(sql)?;
        tx.execute_batch(&format!("PRAGMA user_version = {n}"))?;
        tx.commit()?;
        tracing::info!(version = n, "schema migrated");
    }
    Ok(version)
}

/// Opens one read-only connection (a reader thread's, `verify`, `backup`), with the
/// busy timeout and a statement cache.
///
/// # Errors
/// Storage errors, e.g. when the file does not exist.
pub fn open_reader(path: &Path) -> Result<Connection, LedgerError> {
    if !path.exists() {
        return Err(LedgerError::Invalid(format!(
            "no ledger at {}",
            path.display()
        )));
    }
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_numbered_one_by_one_and_apply_in_order() {
        let m = migrations();
        let numbers: Vec<i64> = m.iter().map(|(n, _)| *n).collect();
        assert_eq!(numbers, (1..=m.len() as i64).collect::<Vec<_>>());
        assert!(m[0].1.contains("CREATE TABLE tenants"));
        assert!(!m[0].1.contains("webhook_deliveries"));

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.db");
        // A file at version 1 is brought to the latest version.
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(m[0].1).unwrap();
            conn.execute_batch("PRAGMA user_version = 1").unwrap();
        }
        let conn = open_writer(&path, Synchronous::Full).unwrap();
        let v: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, schema_version());
        conn.execute_batch("SELECT count(*) FROM promo_codes")
            .unwrap();
    }

    #[test]
    fn version_3_keeps_what_version_2_held() {
        let m = migrations();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.db");
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(m[0].1).unwrap();
            conn.execute_batch(m[1].1).unwrap();
            conn.execute_batch(
                "PRAGMA user_version = 2;
                 INSERT INTO tenants VALUES ('roo', 'roochip', 2, 1000, '2026-01-01T00:00:00Z');
                 INSERT INTO credit_accounts (tenant_id, holder, ceiling, created_at, updated_at)
                   VALUES ('roo', 'u', 1000, '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z');
                 INSERT INTO outbox (tenant_id, account_id, event_type, payload, created_at)
                   VALUES ('roo', 1, 'credits.issued', '{}', '2026-01-01T00:00:00Z');
                 INSERT INTO webhook_deliveries
                   (outbox_id, tenant_id, account_id, status, attempts, next_attempt_at, updated_at)
                   VALUES (1, 'roo', 1, 'dead', 3, 0, '2026-01-01T00:00:00Z');
                 INSERT INTO idempotency_keys VALUES
                   ('roochip:roo', 'k', 'f', 200, '{}', '2026-01-01T00:00:00Z'),
                   ('goop2:starter', 'peer', '', 200, '500', '2026-01-01T00:00:00Z');",
            )
            .unwrap();
        }
        let conn = open_writer(&path, Synchronous::Full).unwrap();
        let delivery: (String, String, u32) = conn
            .query_row(
                "SELECT endpoint_id, status, attempts FROM webhook_deliveries WHERE outbox_id = 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap();
        assert_eq!(delivery, ("config:roo".into(), "dead".into(), 3));
        let keys: Vec<(String, Option<String>)> = conn
            .prepare("SELECT scope, expires_at FROM idempotency_keys ORDER BY scope")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(
            keys,
            vec![
                ("goop2:starter".into(), None),
                ("roo:*:".into(), Some("2026-01-31T00:00:00Z".into())),
            ]
        );
        let lots: bool = conn
            .query_row("SELECT lots FROM tenants WHERE id = 'roo'", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert!(!lots);
    }
}
