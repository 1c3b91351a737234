//! The ledger core: the only code that moves money.
//!
//! Amounts are `i64` minor units of the owning tenant's scale ([`amount`]). Every change
//! of a balance is an entry in the append-only `credit_transactions` journal, hash-chained
//! per tenant. Writes are *units of work*: closures over a [`LedgerTx`] that the single
//! writer thread ([`writer`]) batches into one `BEGIN IMMEDIATE … COMMIT` with a
//! `SAVEPOINT` per unit (group commit). Reads run on a pool of read-only connections
//! ([`read`]). The core knows no wire dialect: dialects translate a request into one unit
//! of work and render its outcome.

pub mod amount;
mod hash;
pub mod read;
pub mod tx;
pub mod writer;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use r2d2_sqlite::SqliteConnectionManager;

pub use amount::{format_minor, json_number, Amount, AmountError};
pub use read::{AccountView, Discrepancy, EntryView, VerifyReport};
pub use tx::{Balances, Bucket, LedgerTx, PostedEntry, Posting, StoredResponse};
pub use writer::{Synchronous, WriterStats};

use crate::store;

/// A tenant id: 1 to 64 characters of `a-z`, `0-9`, `_`, `-`, starting with a letter
/// or digit.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TenantId(String);

impl TenantId {
    /// Validates `id`.
    ///
    /// # Errors
    /// [`LedgerError::Invalid`] when the id breaks the rule above.
    pub fn new(id: impl Into<String>) -> Result<TenantId, LedgerError> {
        let id = id.into();
        let ok = !id.is_empty()
            && id.len() <= 64
            && id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
            && !id.starts_with(['_', '-']);
        if ok {
            Ok(TenantId(id))
        } else {
            Err(LedgerError::Invalid(format!(
                "tenant id {id:?} must be 1-64 characters of a-z, 0-9, '_' or '-'"
            )))
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for TenantId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What the core keeps of a tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantSpec {
    /// The tenant's id.
    pub id: TenantId,
    /// The wire dialect that serves it (`goop2`, `roochip`, `rrr`); opaque to the core.
    pub mode: String,
    /// Decimal places of its currency (0 to 6).
    pub scale: u32,
    /// The largest balance an account may hold, in minor units (> 0).
    pub ceiling: i64,
}

/// The row id of an account in `credit_accounts`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AccountId(pub i64);

/// Errors of the ledger core. Units of work may return their own error type as long as
/// it converts from this one.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// A debit larger than the bucket's balance (both in minor units).
    #[error("insufficient funds: balance {available}, required {required}")]
    InsufficientFunds {
        /// The balance of the bucket that would be debited.
        available: i64,
        /// The amount of the debit.
        required: i64,
    },
    /// A credit that would lift the balance over the tenant ceiling (minor units).
    #[error("balance would exceed the ceiling: balance {balance} + {amount} > {ceiling}")]
    CeilingExceeded {
        /// The bucket's balance before the credit.
        balance: i64,
        /// The amount of the credit.
        amount: i64,
        /// The ceiling.
        ceiling: i64,
    },
    /// No tenant with that id is registered.
    #[error("unknown tenant {0}")]
    UnknownTenant(String),
    /// No account with that id.
    #[error("unknown account {0}")]
    UnknownAccount(i64),
    /// No hold with that id.
    #[error("unknown hold {0}")]
    UnknownHold(String),
    /// The hold was already captured or released.
    #[error("hold {id} is {status}, not open")]
    HoldNotOpen {
        /// The hold id.
        id: String,
        /// Its current status.
        status: String,
    },
    /// An idempotency key reused with another request.
    #[error("idempotency key {key:?} was already used with another request")]
    IdempotencyMismatch {
        /// The key.
        key: String,
    },
    /// A tenant re-registered with another scale or mode.
    #[error("tenant {id} exists with scale {existing_scale} and mode {existing_mode}; refusing to change it")]
    TenantMismatch {
        /// The tenant.
        id: String,
        /// Its scale on disk.
        existing_scale: u32,
        /// Its mode on disk.
        existing_mode: String,
    },
    /// Invalid input given to the core.
    #[error("{0}")]
    Invalid(String),
    /// SQLite failed.
    #[error("storage error: {0}")]
    Storage(#[from] rusqlite::Error),
    /// The read pool could not hand out a connection.
    #[error("read pool error: {0}")]
    Pool(#[from] r2d2::Error),
    /// The unit of work panicked; its savepoint was rolled back.
    #[error("unit of work panicked: {0}")]
    Panicked(String),
    /// The commit of the batch failed; nothing of the unit was kept.
    #[error("commit failed: {0}")]
    CommitFailed(String),
    /// The writer has shut down.
    #[error("the ledger is shut down")]
    Closed,
}

/// How the ledger is opened.
#[derive(Debug, Clone)]
pub struct LedgerOptions {
    /// Most units of work in one transaction. `1` turns group commit off.
    pub max_batch: usize,
    /// SQLite `synchronous` for the writer. `Full`: an answered unit is on disk.
    pub synchronous: Synchronous,
    /// Read-only connections in the pool.
    pub read_pool_size: u32,
    /// Units that may wait for the writer before submitters wait for room.
    pub queue_capacity: usize,
}

impl Default for LedgerOptions {
    fn default() -> Self {
        LedgerOptions {
            max_batch: 4096,
            synchronous: Synchronous::Full,
            read_pool_size: 8,
            queue_capacity: 65_536,
        }
    }
}

/// The ledger: a handle to the writer thread and the read pool. Cheap to clone.
#[derive(Clone)]
pub struct Ledger {
    writer: writer::WriterHandle,
    reads: r2d2::Pool<SqliteConnectionManager>,
    path: Arc<PathBuf>,
}

impl Ledger {
    /// Opens (creating if needed) the ledger database at `path`, applies the schema
    /// migrations and starts the writer thread.
    ///
    /// # Errors
    /// [`LedgerError::Storage`] when the file cannot be opened or migrated.
    pub fn open(path: &Path, options: LedgerOptions) -> Result<Ledger, LedgerError> {
        // Group commit (max_batch > 1 with FULL): the connection commits without an
        // fsync and the flusher thread fsyncs the WAL before answering. max_batch = 1
        // keeps one transaction and one fsync per unit, for comparison.
        let (sync, durability) = match (options.synchronous, options.max_batch > 1) {
            (Synchronous::Full, true) => (Synchronous::Normal, writer::Durability::Flusher),
            (Synchronous::Full, false) => (Synchronous::Full, writer::Durability::Inline),
            (Synchronous::Normal, _) => (Synchronous::Normal, writer::Durability::Relaxed),
        };
        let conn = store::open_writer(path, sync)?;
        // Whatever the file holds at start is on disk.
        let initial_outbox_id: i64 =
            conn.query_row("SELECT coalesce(max(id), 0) FROM outbox", [], |r| r.get(0))?;
        let mut wal_path = path.as_os_str().to_owned();
        wal_path.push("-wal");
        let writer = writer::WriterHandle::start(
            conn,
            &options,
            durability,
            PathBuf::from(wal_path),
            initial_outbox_id,
        )?;
        let reads = r2d2::Pool::builder()
            .max_size(options.read_pool_size.max(1))
            .build(store::reader_manager(path))?;
        Ok(Ledger {
            writer,
            reads,
            path: Arc::new(path.to_path_buf()),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `unit` in the writer's next batch and returns its result once the batch
    /// is committed (durably, with `synchronous = FULL`).
    ///
    /// The unit runs inside its own `SAVEPOINT`: when it returns `Err`, everything it
    /// wrote is rolled back and the rest of the batch is unaffected. When the commit
    /// itself fails, every unit of the batch gets [`LedgerError::CommitFailed`].
    ///
    /// # Errors
    /// The unit's error, or a core error converted into `E`.
    pub async fn run<T, E, F>(&self, unit: F) -> Result<T, E>
    where
        F: FnOnce(&mut LedgerTx<'_>) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<LedgerError> + Send + 'static,
    {
        self.writer.run(unit).await
    }

    /// [`Ledger::run`] for synchronous callers (CLI, benches). Must not be called from
    /// inside an async runtime's worker thread.
    ///
    /// # Errors
    /// As [`Ledger::run`].
    pub fn run_blocking<T, E, F>(&self, unit: F) -> Result<T, E>
    where
        F: FnOnce(&mut LedgerTx<'_>) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<LedgerError> + Send + 'static,
    {
        self.writer.run_blocking(unit)
    }

    /// Registers `spec` (idempotent). An existing tenant keeps its row; a different
    /// scale or mode is refused, since it would change the meaning of stored amounts.
    ///
    /// # Errors
    /// [`LedgerError::TenantMismatch`], or a storage error.
    pub async fn ensure_tenant(&self, spec: TenantSpec) -> Result<(), LedgerError> {
        self.run(move |tx| tx.ensure_tenant(&spec)).await
    }

    /// [`Ledger::ensure_tenant`] for synchronous callers.
    ///
    /// # Errors
    /// As [`Ledger::ensure_tenant`].
    pub fn ensure_tenant_blocking(&self, spec: TenantSpec) -> Result<(), LedgerError> {
        self.run_blocking(move |tx| tx.ensure_tenant(&spec))
    }

    /// Runs `f` on a pooled read-only connection. Reads see every committed batch.
    ///
    /// # Errors
    /// [`LedgerError::Pool`] or what `f` returns.
    pub fn read<T>(
        &self,
        f: impl FnOnce(&rusqlite::Connection) -> Result<T, LedgerError>,
    ) -> Result<T, LedgerError> {
        let conn = self.reads.get()?;
        f(&conn)
    }

    /// Notified after every durable batch that wrote outbox events (see
    /// [`LedgerTx::enqueue_event`]): the webhook dispatcher waits on it.
    pub fn outbox_signal(&self) -> Arc<tokio::sync::Notify> {
        self.writer.shared.outbox_signal.clone()
    }

    /// The highest outbox event id known to be on disk. Events above it are
    /// committed (readers may see them) but their fsync has not returned yet: they
    /// must not be delivered, since a power loss could still take them back.
    pub fn durable_outbox_id(&self) -> i64 {
        self.writer.shared.durable_outbox_id()
    }

    /// Why the ledger stopped taking writes (an fsync of the WAL failed), if it did.
    /// Every unit submitted after that fails with [`LedgerError::CommitFailed`].
    pub fn poisoned(&self) -> Option<String> {
        self.writer.shared.poisoned().cloned()
    }

    /// Counters of the writer since start.
    pub fn writer_stats(&self) -> WriterStats {
        self.writer.stats()
    }

    /// Stops accepting units, commits everything already queued, and waits for the
    /// writer thread to exit. Later calls to `run` get [`LedgerError::Closed`].
    pub fn shutdown(&self) {
        self.writer.shutdown();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open() -> (tempfile::TempDir, Ledger, TenantId) {
        let dir = tempfile::tempdir().unwrap();
        let ledger = Ledger::open(&dir.path().join("l.db"), LedgerOptions::default()).unwrap();
        let tenant = TenantId::new("t").unwrap();
        ledger
            .ensure_tenant_blocking(TenantSpec {
                id: tenant.clone(),
                mode: "goop2".into(),
                scale: 0,
                ceiling: 1_000_000,
            })
            .unwrap();
        (dir, ledger, tenant)
    }

    #[test]
    fn answered_events_are_below_the_durable_watermark() {
        let (_dir, ledger, tenant) = open();
        assert_eq!(ledger.durable_outbox_id(), 0);
        let t = tenant.clone();
        let id = ledger
            .run_blocking(move |tx| {
                let a = tx.open_account(&t, "u")?;
                tx.enqueue_event(&t, Some(a), "credits.issued", "{}")
            })
            .unwrap();
        assert!(id > 0);
        assert!(ledger.durable_outbox_id() >= id);
        ledger.shutdown();
        // A reopened ledger counts what is on disk as durable.
        let again = Ledger::open(ledger.path(), LedgerOptions::default()).unwrap();
        assert_eq!(again.durable_outbox_id(), id);
        again.shutdown();
    }

    #[test]
    fn a_poisoned_writer_runs_nothing_and_says_why() {
        let (_dir, ledger, tenant) = open();
        ledger
            .writer
            .shared
            .poison("fsync of the WAL failed: test".into());
        let t = tenant.clone();
        let result = ledger.run_blocking(move |tx| {
            let a = tx.open_account(&t, "u")?;
            tx.credit(a, Amount::new(5).unwrap(), &Posting::new("grant", "test"))
        });
        assert!(
            matches!(&result, Err(LedgerError::CommitFailed(m)) if m.contains("fsync")),
            "{result:?}"
        );
        assert!(ledger
            .read(|c| read::account(c, &tenant, "u"))
            .unwrap()
            .is_none());
        assert_eq!(
            ledger.poisoned().as_deref(),
            Some("fsync of the WAL failed: test")
        );
        ledger.shutdown();
    }

    #[test]
    fn verify_reads_one_snapshot_while_writes_go_on() {
        let (_dir, ledger, tenant) = open();
        let writes = {
            let ledger = ledger.clone();
            std::thread::spawn(move || {
                for i in 0..1500 {
                    let t = tenant.clone();
                    ledger
                        .run_blocking(move |tx| {
                            let a = tx.open_account(&t, &format!("u{}", i % 7))?;
                            tx.credit(a, Amount::new(1).unwrap(), &Posting::new("grant", "test"))
                        })
                        .unwrap();
                }
            })
        };
        let conn = crate::store::open_reader(ledger.path()).unwrap();
        let mut runs = 0;
        while !writes.is_finished() {
            let outcome = read::verify(&conn, &mut |_| {}).unwrap();
            assert!(outcome.is_ok(), "{outcome:?}");
            runs += 1;
        }
        writes.join().unwrap();
        assert!(runs > 0);
        assert_eq!(
            read::verify(&conn, &mut |_| {}).unwrap().unwrap().entries,
            1500
        );
        ledger.shutdown();
    }

    #[test]
    fn holds_move_between_buckets_and_belong_to_their_account() {
        let (_dir, ledger, tenant) = open();
        let t = tenant.clone();
        let p = |kind: &str| Posting::new(kind, "test");
        let after = ledger
            .run_blocking(move |tx| {
                let a = tx.open_account(&t, "a")?;
                let b = tx.open_account(&t, "b")?;
                tx.credit(a, Amount::new(100).unwrap(), &p("grant"))?;
                tx.hold(a, Amount::new(30).unwrap(), "h1", &p("hold"))?;
                let held = tx.balances(a)?;
                assert_eq!((held.available, held.held), (70, 30));
                // Another account cannot see or settle the hold.
                assert!(matches!(
                    tx.release(b, "h1", &p("release")),
                    Err(LedgerError::UnknownHold(_))
                ));
                tx.hold(b, Amount::new(1).unwrap(), "h1", &p("hold"))
                    .expect_err("b has nothing to hold");
                tx.capture(a, "h1", &p("capture"))?;
                assert!(matches!(
                    tx.capture(a, "h1", &p("capture")),
                    Err(LedgerError::HoldNotOpen { .. })
                ));
                tx.hold(a, Amount::new(20).unwrap(), "h2", &p("hold"))?;
                tx.release(a, "h2", &p("release"))?;
                assert!(matches!(
                    tx.hold(a, Amount::new(71).unwrap(), "h3", &p("hold")),
                    Err(LedgerError::InsufficientFunds {
                        available: 70,
                        required: 71
                    })
                ));
                tx.balances(a)
            })
            .unwrap();
        assert_eq!((after.available, after.held), (70, 0));
        let conn = crate::store::open_reader(ledger.path()).unwrap();
        let report = read::verify(&conn, &mut |_| {}).unwrap().unwrap();
        // grant 1, hold 2, capture 1, hold 2, release 2
        assert_eq!(report.entries, 8);
        ledger.shutdown();
    }
}
