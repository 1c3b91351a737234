//! The ledger core: the only code that moves money.
//!
//! Amounts are `i64` minor units of the owning tenant's scale ([`amount`]). Every change
//! of a balance is an entry in the append-only journal, hash-chained per tenant
//! ([`hash`]). Writes are *units of work*: closures over a [`LedgerTx`] that the
//! store's writer batches into one transaction with a savepoint per unit (group
//! commit). Reads run on the store's read-only connections ([`LedgerRead`]), off the
//! async workers.
//!
//! The core knows no wire dialect and no storage engine: dialects translate a request
//! into one unit of work and render its outcome; storage sits behind the traits of
//! [`backend`], and a module's own tables behind its repository trait
//! ([`repo::Repositories`]).

pub mod amount;
pub mod backend;
pub mod hash;
pub mod idempotency;
pub mod jobs;
pub mod read;
pub mod repo;
pub mod tx;
pub mod unit;

use std::sync::Arc;

pub use amount::{format_minor, json_number, Amount, AmountError};
pub use backend::{Engine, WriterStats};
pub use idempotency::Idempotency;
pub use read::{
    AccountView, DayFlow, Discrepancy, EntryView, KindTotal, LedgerRead, TenantTotals, VerifyReport,
};
pub use repo::Repositories;
pub use tx::{
    canonical_time, Actor, Balances, Bucket, DueItem, DueKind, EntryKind, LedgerTx, PostedEntry,
    Posting, Settled, StoredResponse,
};

/// When an answered write is on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Synchronous {
    /// Durable before the answer: an answered unit survives power loss.
    Full,
    /// Flushed later: faster, but the last commits may be lost on power loss (never on
    /// a process crash).
    Normal,
}

/// The batch timestamp format: RFC 3339 UTC with whole seconds, like
/// `2026-02-07T10:30:00Z`. Every entry of a batch carries the batch's time.
pub fn timestamp_now() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// A storage engine's error, boxed so that the core names no engine.
pub type BackendError = Box<dyn std::error::Error + Send + Sync + 'static>;

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
    /// Whether credits are kept as lots that may expire. A tenant without lots keeps
    /// no lot rows: its balance is one implicit lot that never expires.
    pub lots: bool,
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
    /// A tenant re-registered with another scale, mode or lot keeping.
    #[error("tenant {id} exists with scale {existing_scale} and mode {existing_mode} (lots kept or not); refusing to change it")]
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
    /// The storage engine failed.
    #[error("storage error: {0}")]
    Storage(#[source] BackendError),
    /// The storage is full (disk or quota): nothing of the unit was kept. Writes work
    /// again once space returns; reads keep working.
    #[error("the node's storage is full: {0}")]
    StorageFull(String),
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
    /// `Full`: an answered unit is on disk.
    pub synchronous: Synchronous,
    /// Reader threads, each with its own read-only connection.
    pub read_pool_size: u32,
    /// Units that may wait for the writer before submitters wait for room.
    pub queue_capacity: usize,
    /// Largest size of the store, in pages of the engine (SQLite: 4 KiB); 0: no limit
    /// but the disk's. Writes past it fail with [`LedgerError::StorageFull`].
    pub max_pages: u64,
}

impl Default for LedgerOptions {
    fn default() -> Self {
        LedgerOptions {
            max_batch: 4096,
            synchronous: Synchronous::Full,
            read_pool_size: 8,
            queue_capacity: 65_536,
            max_pages: 0,
        }
    }
}

/// The ledger: a handle to the store's writer and readers. Cheap to clone.
#[derive(Clone)]
pub struct Ledger {
    engine: Arc<dyn Engine>,
    repos: Arc<Repositories>,
}

impl Ledger {
    /// A ledger over a running store. For backends: see `store::sqlite::open`.
    pub fn new(engine: Arc<dyn Engine>, repos: Arc<Repositories>) -> Ledger {
        Ledger { engine, repos }
    }

    /// Where the data lives (for messages).
    pub fn location(&self) -> String {
        self.engine.location()
    }

    /// Whether other nodes may write to the same storage at once (PostgreSQL).
    pub fn shared(&self) -> bool {
        self.engine.shared()
    }

    /// Runs `unit` in the writer's next batch and returns its result once the batch
    /// is committed (durably, with [`Synchronous::Full`]).
    ///
    /// The unit runs inside its own savepoint: when it returns `Err`, everything it
    /// wrote is rolled back and the rest of the batch is unaffected. When the commit
    /// itself fails, every unit of the batch gets [`LedgerError::CommitFailed`] (or
    /// [`LedgerError::StorageFull`]).
    ///
    /// # Errors
    /// The unit's error, or a core error converted into `E`.
    pub async fn run<T, E, F>(&self, unit: F) -> Result<T, E>
    where
        F: FnOnce(&mut LedgerTx<'_>) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<LedgerError> + Send + 'static,
    {
        let (unit, receiver) = unit::erase(unit);
        match self.engine.try_submit(unit) {
            Ok(()) => {}
            Err(backend::TrySubmit::Full(unit)) => {
                self.engine.submit(unit).await.map_err(E::from)?
            }
            Err(backend::TrySubmit::Closed) => return Err(E::from(LedgerError::Closed)),
        }
        receiver.await.map_err(|_| E::from(unit::lost_answer()))?
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
        let (unit, receiver) = unit::erase(unit);
        self.engine.submit_blocking(unit).map_err(E::from)?;
        receiver
            .blocking_recv()
            .map_err(|_| E::from(unit::lost_answer()))?
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

    /// Runs `f` on a read-only connection, on one of the store's reader threads (never
    /// on an async worker). Reads see every committed batch.
    ///
    /// # Errors
    /// Storage errors or what `f` returns.
    pub async fn read<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut LedgerRead<'_>) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<LedgerError> + Send + 'static,
    {
        let (answer, answered) = tokio::sync::oneshot::channel();
        let repos = self.repos.clone();
        self.engine.spawn_read(Box::new(move |backend| {
            let result = match backend {
                Ok(backend) => f(&mut LedgerRead::new(backend, &repos)),
                Err(e) => Err(E::from(e)),
            };
            let _ = answer.send(result);
        }));
        answered
            .await
            .map_err(|_| E::from(LedgerError::Panicked("a read panicked".into())))?
    }

    /// [`Ledger::read`] on the calling thread (CLI, tests, blocking tasks).
    ///
    /// # Errors
    /// Storage errors or what `f` returns.
    pub fn read_blocking<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut LedgerRead<'_>) -> Result<T, E>,
        E: From<LedgerError>,
    {
        let mut backend = self.engine.reader().map_err(E::from)?;
        f(&mut LedgerRead::new(&mut *backend, &self.repos))
    }

    /// Checks the whole ledger on one snapshot: see [`LedgerRead::verify`].
    ///
    /// # Errors
    /// As [`LedgerRead::verify`].
    pub fn verify_blocking(
        &self,
        progress: &mut dyn FnMut(u64),
    ) -> Result<Result<VerifyReport, Discrepancy>, LedgerError> {
        self.read_blocking(|r| r.verify(progress))
    }

    /// Notified after every durable batch that wrote outbox events (see
    /// [`LedgerTx::enqueue_event`]): the webhook dispatcher waits on it.
    pub fn outbox_signal(&self) -> Arc<tokio::sync::Notify> {
        self.engine.outbox_signal()
    }

    /// The highest outbox event id known to be on disk. Events above it are
    /// committed (readers may see them) but their fsync has not returned yet: they
    /// must not be delivered, since a power loss could still take them back.
    pub fn durable_outbox_id(&self) -> i64 {
        self.engine.durable_outbox_id()
    }

    /// Why the ledger stopped taking writes (an fsync failed), if it did. Every unit
    /// submitted after that fails with [`LedgerError::CommitFailed`].
    pub fn poisoned(&self) -> Option<String> {
        self.engine.poisoned()
    }

    /// Counters of the writer since start.
    pub fn writer_stats(&self) -> WriterStats {
        self.engine.stats()
    }

    /// Stops accepting units, commits everything already queued, and waits for the
    /// writer to exit. Later calls to `run` get [`LedgerError::Closed`].
    pub fn shutdown(&self) {
        self.engine.shutdown();
    }
}
