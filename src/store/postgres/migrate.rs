//! Migrations of a PostgreSQL database: `schema.sql` beside this file, in `-- version N`
//! sections, applied in order above the database's `schema_version`.

use super::error;
use crate::ledger::LedgerError;

/// The schema file.
const SCHEMA: &str = include_str!("schema.sql");

/// The lock every node takes while it migrates (`pg_advisory_xact_lock`), so that
/// nodes starting together apply each migration once.
const LOCK: i64 = 0x7263_6d69_6772_6174; // "rcmigrat"

/// The schema version this build writes.
pub fn schema_version() -> i64 {
    crate::store::versions(SCHEMA).last().map_or(0, |(n, _)| *n)
}

/// The schema version of the database of `client`; 0 when it has none.
///
/// # Errors
/// Storage errors.
pub fn current_version(client: &mut postgres::Client) -> Result<i64, LedgerError> {
    let exists: bool = client
        .query_one("SELECT to_regclass('schema_version') IS NOT NULL", &[])
        .map_err(error)?
        .get(0);
    if !exists {
        return Ok(0);
    }
    Ok(client
        .query_one("SELECT coalesce(max(version), 0) FROM schema_version", &[])
        .map_err(error)?
        .get(0))
}

/// Brings the database of `client` to [`schema_version`]: every missing migration in
/// one transaction with the version bump. Returns the version the database had
/// before.
///
/// # Errors
/// [`LedgerError::Invalid`] when the database is newer than this build; storage
/// errors (nothing of a failed migration is kept).
pub fn migrate(client: &mut postgres::Client) -> Result<i64, LedgerError> {
    let latest = schema_version();
    let mut tx = client.transaction().map_err(error)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK])
        .map_err(error)?;
    // Not the NOTICE that the table exists, at every start.
    tx.batch_execute(
        "SET LOCAL client_min_messages = warning;
         CREATE TABLE IF NOT EXISTS schema_version (
             version     bigint PRIMARY KEY,
             applied_at  timestamptz NOT NULL DEFAULT now()
         )",
    )
    .map_err(error)?;
    let before: i64 = tx
        .query_one("SELECT coalesce(max(version), 0) FROM schema_version", &[])
        .map_err(error)?
        .get(0);
    if before > latest {
        return Err(LedgerError::Invalid(format!(
            "the database has schema version {before}, newer than this build's {latest}"
        )));
    }
    for (n, sql) in crate::store::versions(SCHEMA)
        .into_iter()
        .filter(|(n, _)| *n > before)
    {
        tx.batch_execute(sql).map_err(error)?;
        tx.execute("INSERT INTO schema_version (version) VALUES ($1)", &[&n])
            .map_err(error)?;
        tracing::info!(version = n, "PostgreSQL schema migrated");
    }
    tx.commit().map_err(error)?;
    Ok(before)
}

#[cfg(test)]
mod tests {
    use super::super::{connect, testing::TestDatabase};
    use super::*;

    #[test]
    fn migrations_apply_once_even_from_nodes_starting_together() {
        let db = TestDatabase::create();
        let runs: Vec<i64> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..4)
                .map(|_| {
                    s.spawn(|| {
                        let mut c = connect(&db.url).unwrap();
                        migrate(&mut c).unwrap()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        // One node found version 0 and migrated; the others found it done.
        assert_eq!(runs.iter().filter(|v| **v == 0).count(), 1, "{runs:?}");
        assert!(runs.iter().all(|v| *v == 0 || *v == schema_version()));
        let mut c = connect(&db.url).unwrap();
        assert_eq!(migrate(&mut c).unwrap(), schema_version());
        let versions: i64 = c
            .query_one("SELECT count(*) FROM schema_version", &[])
            .unwrap()
            .get(0);
        assert_eq!(versions, schema_version());
    }

    #[test]
    fn the_schema_keeps_balances_and_entries_honest() {
        let db = TestDatabase::create();
        let mut c = connect(&db.url).unwrap();
        migrate(&mut c).unwrap();
        c.batch_execute(
            "INSERT INTO tenants (id, mode, scale, ceiling, created_at)
                 VALUES ('goop2', 'goop2', 0, 1000, '2026-12-01T00:00:00Z');
             INSERT INTO credit_accounts (tenant_id, holder, ceiling, created_at, updated_at)
                 VALUES ('goop2', 'peer-a', 1000, '2026-12-01T00:00:00Z', '2026-12-01T00:00:00Z');
             INSERT INTO credit_transactions
                 (tenant_id, seq, account_id, kind, amount, balance_after, actor, created_at, hash)
                 VALUES ('goop2', 1, 1, 'grant', 10, 10, 'admin', '2026-12-01T00:00:00Z',
                         decode(repeat('ab', 32), 'hex'));",
        )
        .unwrap();
        let refused = |c: &mut postgres::Client, sql: &str, says: &str| {
            let e = c.batch_execute(sql).unwrap_err();
            let message = e
                .as_db_error()
                .map(|d| d.message().to_string())
                .unwrap_or_else(|| e.to_string());
            assert!(message.contains(says), "{sql}: {message}");
        };
        refused(
            &mut c,
            "UPDATE credit_accounts SET available = -1",
            "credit_accounts_available_check",
        );
        refused(
            &mut c,
            "UPDATE credit_accounts SET available = 1001",
            "credit_accounts_check",
        );
        refused(
            &mut c,
            "UPDATE credit_transactions SET amount = 99",
            "append-only: UPDATE refused",
        );
        refused(
            &mut c,
            "DELETE FROM credit_transactions",
            "append-only: DELETE refused",
        );
        refused(
            &mut c,
            "TRUNCATE credit_transactions CASCADE",
            "append-only: TRUNCATE refused",
        );
        refused(
            &mut c,
            "INSERT INTO credit_transactions
                 (tenant_id, seq, account_id, kind, amount, balance_after, actor, created_at, hash)
                 VALUES ('goop2', 1, 1, 'grant', 5, 15, 'admin', 'x', decode(repeat('cd', 32), 'hex'))",
            "credit_transactions_tenant_id_seq_key",
        );
        refused(
            &mut c,
            "INSERT INTO idempotency_keys (scope, key, fingerprint, status, response, created_at)
                 VALUES ('s', 'k', 'f', 200, '', 'x'), ('s', 'k', 'g', 200, '', 'x')",
            "idempotency_keys_pkey",
        );
        let kept: i64 = c
            .query_one("SELECT amount FROM credit_transactions WHERE seq = 1", &[])
            .unwrap()
            .get(0);
        assert_eq!(kept, 10);
    }
}
