//! SQLite connection setup, pragmas and schema migrations.
//!
//! The schema is `schema.sql` at the crate root, embedded in the binary. Migrations are
//! numbered by `PRAGMA user_version`: version N is applied when the file's version is
//! below N, inside one transaction with the version bump.

use std::path::Path;
use std::time::Duration;

use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::{Connection, OpenFlags};

use crate::ledger::{LedgerError, Synchronous};

/// Migrations in order; index + 1 is the `user_version` each one brings the file to.
const MIGRATIONS: &[&str] = &[include_str!("../schema.sql")];

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// How long a connection waits for another process's lock (the CLI beside a running
/// node) before failing with `SQLITE_BUSY`.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Opens the write connection: WAL, the given `synchronous`, foreign keys on, and the
/// schema migrated to [`SCHEMA_VERSION`]. Creates the file and its folder if needed.
///
/// # Errors
/// Storage errors; [`LedgerError::Invalid`] when the file was written by a newer build.
pub fn open_writer(path: &Path, synchronous: Synchronous) -> Result<Connection, LedgerError> {
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
    migrate(&mut conn)?;
    Ok(conn)
}

/// Applies the migrations the file lacks.
fn migrate(conn: &mut Connection) -> Result<(), LedgerError> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version > SCHEMA_VERSION {
        return Err(LedgerError::Invalid(format!(
            "the database has schema version {version}, newer than this build's {SCHEMA_VERSION}"
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        // Another process may have migrated while we waited for the lock.
        let now: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if now > i as i64 {
            continue;
        }
        tx.execute_batch(sql)?;
        tx.execute_batch(&format!("PRAGMA user_version = {}", i + 1))?;
        tx.commit()?;
        tracing::info!(version = i + 1, "schema migrated");
    }
    Ok(())
}

/// The manager of the read pool: read-only connections on the same file.
pub fn reader_manager(path: &Path) -> SqliteConnectionManager {
    SqliteConnectionManager::file(path)
        .with_flags(
            OpenFlags::SQLITE_OPEN_READ_ONLY
                | OpenFlags::SQLITE_OPEN_NO_MUTEX
                | OpenFlags::SQLITE_OPEN_URI,
        )
        .with_init(|c| {
            c.busy_timeout(BUSY_TIMEOUT)?;
            c.set_prepared_statement_cache_capacity(64);
            Ok(())
        })
}

/// Opens one read-only connection (for `verify` and `backup`).
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
    Ok(conn)
}
