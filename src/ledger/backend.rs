//! The storage boundary of the core: what a storage engine must offer.
//!
//! - [`Engine`]: the running store. It runs units of work ([`Unit`]) in its writer's
//!   transactions (group commit is the engine's business), hands out read snapshots
//!   ([`ReadBackend`]) and says what it knows of durability.
//! - [`LedgerBackend`]: the writer's transaction as the core sees it: typed methods on
//!   tenants, accounts, buckets, entries, the chain head, holds, idempotency records and
//!   the outbox. The core ([`LedgerTx`](super::LedgerTx)) is the only caller; it keeps
//!   the rules (no negative bucket, ceilings, the hash chain) and the backend keeps the
//!   rows.
//! - [`ReadBackend`]: a read-only connection: accounts, entries, and the scans of
//!   `verify`.
//!
//! Tables that belong to a dialect or a subsystem sit behind that module's own
//! repository trait, reached through [`Repositories`](super::repo::Repositories).
//! Every method is object safe; amounts are `i64` minor units of the tenant's scale;
//! timestamps are RFC 3339 UTC strings with whole seconds (`2026-02-07T10:30:00Z`).

use std::any::Any;

use futures::future::BoxFuture;

use super::hash::EntryFields;
use super::unit::Unit;
use super::{AccountId, Balances, Bucket, EntryView, LedgerError, TenantId, TenantSpec};

/// Why [`Engine::try_submit`] did not queue a unit.
pub enum TrySubmit {
    /// The queue is full: here is the unit back, wait with [`Engine::submit`].
    Full(Unit),
    /// The store is shut down.
    Closed,
}

/// The running store behind a [`Ledger`](super::Ledger).
pub trait Engine: Send + Sync {
    /// Queues `unit` for the writer without waiting (the common case: no allocation
    /// beyond the unit).
    ///
    /// # Errors
    /// [`TrySubmit`]: the queue is full, or the store is shut down.
    fn try_submit(&self, unit: Unit) -> Result<(), TrySubmit>;
    /// Queues `unit` for the writer, waiting for room. Errors: [`LedgerError::Closed`]
    /// once shut down.
    fn submit(&self, unit: Unit) -> BoxFuture<'_, Result<(), LedgerError>>;
    /// [`Engine::submit`] for synchronous callers (not from an async worker).
    ///
    /// # Errors
    /// [`LedgerError::Closed`] once shut down.
    fn submit_blocking(&self, unit: Unit) -> Result<(), LedgerError>;
    /// A read-only connection for the calling thread (synchronous readers: the CLI).
    ///
    /// # Errors
    /// Storage errors (no connection to be had).
    fn reader(&self) -> Result<Box<dyn ReadBackend>, LedgerError>;
    /// Runs `job` on one of the store's reader threads (never the caller's), with a
    /// read-only connection or the error that kept it from getting one.
    fn spawn_read(&self, job: ReadJob);
    /// Notified after every durable batch that wrote outbox events.
    fn outbox_signal(&self) -> std::sync::Arc<tokio::sync::Notify>;
    /// The highest outbox event id known to be durable.
    fn durable_outbox_id(&self) -> i64;
    /// Why the store stopped taking writes, if it did.
    fn poisoned(&self) -> Option<String>;
    /// Counters of the writer since start.
    fn stats(&self) -> WriterStats;
    /// Stops taking units, commits what is queued, waits for the writer to exit.
    fn shutdown(&self);
    /// Where the data lives, for messages (a file path, a database name).
    fn location(&self) -> String;
    /// Whether other nodes may write to the same storage at once (PostgreSQL), so
    /// that work one node takes on (a webhook attempt) must be leased first.
    fn shared(&self) -> bool {
        false
    }
}

/// A read to run on a reader thread: it gets a connection, or why there is none.
pub type ReadJob = Box<dyn FnOnce(Result<&mut dyn ReadBackend, LedgerError>) + Send>;

/// Counters of the writer since start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriterStats {
    /// Transactions committed.
    pub batches: u64,
    /// Units of work run (kept or rolled back).
    pub units: u64,
    /// The largest batch so far.
    pub max_batch_seen: u64,
}

/// A tenant as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantRow {
    /// Decimal places.
    pub scale: u32,
    /// The dialect that serves it.
    pub mode: String,
    /// The largest balance of one bucket, minor units.
    pub ceiling: i64,
    /// Whether its credits are kept as lots (they may expire).
    pub lots: bool,
}

/// An account's balances and limits, read for update inside the writer's transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountRow {
    /// The owning tenant.
    pub tenant: TenantId,
    /// The three buckets, minor units.
    pub balances: Balances,
    /// The ceiling of each bucket, minor units.
    pub ceiling: i64,
    /// Whether the tenant keeps lots.
    pub lots: bool,
}

impl AccountRow {
    /// The balance of `bucket`.
    pub fn balance(&self, bucket: Bucket) -> i64 {
        match bucket {
            Bucket::Available => self.balances.available,
            Bucket::Held => self.balances.held,
            Bucket::Pending => self.balances.pending,
        }
    }
}

/// The (seq, hash) of a tenant's last entry; `(0, GENESIS)` before the first.
pub type ChainHead = (i64, [u8; 32]);

/// An entry to append, already chained by the core: the fields the chain covers
/// (tenant, seq, account, bucket, kind, signed amount in minor units, balance after,
/// reference, note, actor, time) and the SHA-256 that chains it to the tenant's
/// previous entry.
#[derive(Clone)]
pub struct NewEntry<'a> {
    /// What the entry says.
    pub fields: EntryFields<'a>,
    /// Its hash.
    pub hash: [u8; 32],
}

/// The state of a hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HoldStatus {
    /// Funds in escrow.
    Open,
    /// Spent.
    Captured,
    /// Returned to available (by a caller or by expiry).
    Released,
}

impl HoldStatus {
    /// The stored value.
    pub fn as_str(self) -> &'static str {
        match self {
            HoldStatus::Open => "open",
            HoldStatus::Captured => "captured",
            HoldStatus::Released => "released",
        }
    }

    /// Parses a stored value.
    pub fn parse(s: &str) -> Option<HoldStatus> {
        match s {
            "open" => Some(HoldStatus::Open),
            "captured" => Some(HoldStatus::Captured),
            "released" => Some(HoldStatus::Released),
            _ => None,
        }
    }
}

/// A hold as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HoldRow {
    /// Minor units in escrow.
    pub amount: i64,
    /// Its state.
    pub status: HoldStatus,
    /// The entry that took the funds out of available.
    pub entry_id: Option<i64>,
}

/// A new hold.
#[derive(Debug, Clone)]
pub struct NewHold<'a> {
    /// The caller's id, unique per account.
    pub id: &'a str,
    /// The account.
    pub account: AccountId,
    /// Minor units.
    pub amount: i64,
    /// Reference type.
    pub ref_type: Option<&'a str>,
    /// Reference id.
    pub ref_id: Option<&'a str>,
    /// When the hold is released by itself (RFC 3339 UTC); `None`: never.
    pub expires_at: Option<&'a str>,
    /// The entry that took the funds out of available.
    pub entry_id: i64,
    /// RFC 3339 UTC.
    pub created_at: &'a str,
}

/// A lot: what is left of one credit, and when it expires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LotRow {
    /// Row id.
    pub id: i64,
    /// The account.
    pub account: AccountId,
    /// Credited, minor units.
    pub amount: i64,
    /// Left, minor units.
    pub remaining: i64,
    /// RFC 3339 UTC; `None`: never.
    pub expires_at: Option<String>,
}

/// What one entry took from one lot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LotUse {
    /// The lot.
    pub lot: i64,
    /// Minor units taken.
    pub amount: i64,
    /// The reversal that gave them back, if any.
    pub restored_by: Option<i64>,
}

/// The state of a pending credit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PendingStatus {
    /// In the pending bucket.
    Pending,
    /// Moved to available.
    Posted,
    /// Taken back out of pending.
    Cancelled,
}

impl PendingStatus {
    /// The stored value.
    pub fn as_str(self) -> &'static str {
        match self {
            PendingStatus::Pending => "pending",
            PendingStatus::Posted => "posted",
            PendingStatus::Cancelled => "cancelled",
        }
    }

    /// Parses a stored value.
    pub fn parse(s: &str) -> Option<PendingStatus> {
        match s {
            "pending" => Some(PendingStatus::Pending),
            "posted" => Some(PendingStatus::Posted),
            "cancelled" => Some(PendingStatus::Cancelled),
            _ => None,
        }
    }
}

/// A pending credit as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingRow {
    /// Row id.
    pub id: i64,
    /// The account.
    pub account: AccountId,
    /// Minor units.
    pub amount: i64,
    /// When it posts by itself (RFC 3339 UTC).
    pub pending_until: String,
    /// The expiry of the lot it becomes.
    pub lot_expires_at: Option<String>,
    /// Its state.
    pub status: PendingStatus,
    /// Reference type.
    pub ref_type: Option<String>,
    /// Reference id.
    pub ref_id: Option<String>,
}

/// An entry as the core reads it back (to reverse it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryRow {
    /// The account.
    pub account: AccountId,
    /// The bucket.
    pub bucket: Bucket,
    /// Signed minor units.
    pub amount: i64,
}

/// An idempotency record: the answer stored for (scope, key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyRecord {
    /// Tenant + route + client, e.g. `roochip:rooverse:POST /v1/users/{id}/deduct:key#1`.
    pub scope: String,
    /// The client's key (at most 255 characters).
    pub key: String,
    /// Digest of the canonical request.
    pub fingerprint: String,
    /// HTTP status of the stored answer.
    pub status: u16,
    /// The stored body.
    pub body: String,
    /// RFC 3339 UTC.
    pub created_at: String,
    /// When the record may be swept (RFC 3339 UTC); `None`: kept forever.
    pub expires_at: Option<String>,
}

/// The writer's transaction as the core sees it. Implemented by each backend; called
/// only by [`LedgerTx`](super::LedgerTx). "For update" methods read rows that the
/// rest of the unit may change: a backend with several writers locks them until the
/// end of the transaction.
pub trait LedgerBackend: Send {
    /// The tenant `id`, if registered.
    ///
    /// # Errors
    /// Storage errors.
    fn tenant(&mut self, id: &TenantId) -> Result<Option<TenantRow>, LedgerError>;
    /// Registers a new tenant.
    ///
    /// # Errors
    /// Storage errors.
    fn insert_tenant(&mut self, spec: &TenantSpec, now: &str) -> Result<(), LedgerError>;
    /// Sets the ceiling of the tenant and of all its accounts.
    ///
    /// # Errors
    /// [`LedgerError::Invalid`] when a balance exceeds the new ceiling; storage errors.
    fn set_ceiling(&mut self, id: &TenantId, ceiling: i64) -> Result<(), LedgerError>;
    /// The account of `holder` in `tenant`.
    ///
    /// # Errors
    /// Storage errors.
    fn find_account(
        &mut self,
        tenant: &TenantId,
        holder: &str,
    ) -> Result<Option<AccountId>, LedgerError>;
    /// Opens an account with all buckets at 0.
    ///
    /// # Errors
    /// Storage errors.
    fn insert_account(
        &mut self,
        tenant: &TenantId,
        holder: &str,
        ceiling: i64,
        now: &str,
    ) -> Result<AccountId, LedgerError>;
    /// The account's tenant, balances and ceiling, for update.
    ///
    /// # Errors
    /// Storage errors.
    fn account_for_update(&mut self, account: AccountId)
        -> Result<Option<AccountRow>, LedgerError>;
    /// Sets one bucket of the account (the core has checked the bounds; the backend's
    /// constraints check them again).
    ///
    /// # Errors
    /// Storage errors.
    fn set_balance(
        &mut self,
        account: AccountId,
        bucket: Bucket,
        balance: i64,
        now: &str,
    ) -> Result<(), LedgerError>;
    /// The last (seq, hash) of the tenant's chain, locked until the transaction ends.
    ///
    /// # Errors
    /// Storage errors.
    fn chain_head_for_update(&mut self, tenant: &TenantId) -> Result<ChainHead, LedgerError>;
    /// Appends an entry; it becomes the tenant's chain head. Returns its row id.
    ///
    /// # Errors
    /// Storage errors.
    fn append_entry(&mut self, entry: &NewEntry<'_>) -> Result<i64, LedgerError>;
    /// Records a new open hold.
    ///
    /// # Errors
    /// Storage errors.
    fn insert_hold(&mut self, hold: &NewHold<'_>) -> Result<(), LedgerError>;
    /// The hold `id` of `account`, for update.
    ///
    /// # Errors
    /// Storage errors.
    fn hold_for_update(
        &mut self,
        account: AccountId,
        id: &str,
    ) -> Result<Option<HoldRow>, LedgerError>;
    /// Settles a hold.
    ///
    /// # Errors
    /// Storage errors.
    fn set_hold_status(
        &mut self,
        account: AccountId,
        id: &str,
        status: HoldStatus,
        now: &str,
    ) -> Result<(), LedgerError>;
    /// Records a lot of `amount` credited by `entry_id`. Returns its id.
    ///
    /// # Errors
    /// Storage errors.
    fn insert_lot(
        &mut self,
        account: AccountId,
        entry_id: i64,
        amount: i64,
        expires_at: Option<&str>,
        now: &str,
    ) -> Result<i64, LedgerError>;
    /// The first `limit` of the account's lots with something left, earliest expiry
    /// first, never-expiring last, then oldest first; for update.
    ///
    /// # Errors
    /// Storage errors.
    fn open_lots_for_update(
        &mut self,
        account: AccountId,
        limit: u32,
    ) -> Result<Vec<LotRow>, LedgerError>;
    /// One lot, for update.
    ///
    /// # Errors
    /// Storage errors.
    fn lot_for_update(&mut self, lot: i64) -> Result<Option<LotRow>, LedgerError>;
    /// Sets what is left of a lot.
    ///
    /// # Errors
    /// Storage errors.
    fn set_lot_remaining(&mut self, lot: i64, remaining: i64) -> Result<(), LedgerError>;
    /// Sets when a lot expires (`None`: never).
    ///
    /// # Errors
    /// Storage errors.
    fn set_lot_expiry(&mut self, lot: i64, expires_at: Option<&str>) -> Result<(), LedgerError>;
    /// Records that `entry_id` took `amount` from `lot`.
    ///
    /// # Errors
    /// Storage errors.
    fn insert_lot_use(&mut self, entry_id: i64, lot: i64, amount: i64) -> Result<(), LedgerError>;
    /// What `entry_id` took from lots, for update.
    ///
    /// # Errors
    /// Storage errors.
    fn lot_uses_for_update(&mut self, entry_id: i64) -> Result<Vec<LotUse>, LedgerError>;
    /// Marks what `entry_id` took as given back by `reversal`.
    ///
    /// # Errors
    /// Storage errors.
    fn mark_lot_uses_restored(&mut self, entry_id: i64, reversal: i64) -> Result<(), LedgerError>;
    /// The lot credited by entry `entry_id`, for update.
    ///
    /// # Errors
    /// Storage errors.
    fn lot_of_entry_for_update(&mut self, entry_id: i64) -> Result<Option<LotRow>, LedgerError>;
    /// Up to `limit` lots with something left whose expiry is at or before `now`,
    /// earliest first, skipping the first `offset`.
    ///
    /// # Errors
    /// Storage errors.
    fn lots_due(&mut self, now: &str, limit: u32, offset: u32) -> Result<Vec<LotRow>, LedgerError>;
    /// Records a pending credit. Returns its id.
    ///
    /// # Errors
    /// Storage errors.
    fn insert_pending(
        &mut self,
        pending: &PendingRow,
        entry_id: i64,
        now: &str,
    ) -> Result<i64, LedgerError>;
    /// One pending credit, for update.
    ///
    /// # Errors
    /// Storage errors.
    fn pending_for_update(&mut self, id: i64) -> Result<Option<PendingRow>, LedgerError>;
    /// Settles a pending credit as posted or cancelled by `entry_id`.
    ///
    /// # Errors
    /// Storage errors.
    fn settle_pending(
        &mut self,
        id: i64,
        status: PendingStatus,
        entry_id: i64,
        now: &str,
    ) -> Result<(), LedgerError>;
    /// Up to `limit` pending credits due at `now`, earliest first, skipping the
    /// first `offset`.
    ///
    /// # Errors
    /// Storage errors.
    fn pending_due(&mut self, now: &str, limit: u32, offset: u32) -> Result<Vec<i64>, LedgerError>;
    /// Up to `limit` open holds whose expiry is at or before `now`, earliest first,
    /// skipping the first `offset`: (account, hold id).
    ///
    /// # Errors
    /// Storage errors.
    fn holds_due(
        &mut self,
        now: &str,
        limit: u32,
        offset: u32,
    ) -> Result<Vec<(AccountId, String)>, LedgerError>;
    /// One entry.
    ///
    /// # Errors
    /// Storage errors.
    fn entry(&mut self, id: i64) -> Result<Option<EntryRow>, LedgerError>;
    /// The reversal of entry `id`, if it was reversed.
    ///
    /// # Errors
    /// Storage errors.
    fn reversal_of(&mut self, id: i64) -> Result<Option<i64>, LedgerError>;
    /// Records that `reversal` gave back entry `id` (once: a second is refused).
    ///
    /// # Errors
    /// Storage errors.
    fn insert_reversal(&mut self, id: i64, reversal: i64) -> Result<(), LedgerError>;
    /// Whether entry `id` moved funds into a hold (its release gives them back).
    ///
    /// # Errors
    /// Storage errors.
    fn funds_hold(&mut self, id: i64) -> Result<bool, LedgerError>;
    /// The record stored under (scope, key).
    ///
    /// # Errors
    /// Storage errors.
    fn idempotency_get(
        &mut self,
        scope: &str,
        key: &str,
    ) -> Result<Option<IdempotencyRecord>, LedgerError>;
    /// Stores a record (a duplicate (scope, key) is a storage error: look up first).
    ///
    /// # Errors
    /// Storage errors.
    fn idempotency_put(&mut self, record: &IdempotencyRecord) -> Result<(), LedgerError>;
    /// Deletes up to `limit` idempotency records whose retention ended at or before
    /// `now`. Returns how many.
    ///
    /// # Errors
    /// Storage errors.
    fn idempotency_sweep(&mut self, now: &str, limit: u32) -> Result<u64, LedgerError>;
    /// Writes an outbox event and its pending delivery, due now, with the trace of
    /// the request that caused it (sent with each attempt). Returns the event id.
    ///
    /// # Errors
    /// Storage errors.
    fn insert_event(
        &mut self,
        tenant: &TenantId,
        account: Option<AccountId>,
        event_type: &str,
        payload: &str,
        trace: Option<&str>,
        now: &str,
    ) -> Result<i64, LedgerError>;
    /// Whether an active endpoint of `tenant` wants events of `event_type` (a dialect
    /// whose events go only to subscribers writes none otherwise).
    ///
    /// # Errors
    /// Storage errors.
    fn event_wanted(&mut self, tenant: &TenantId, event_type: &str) -> Result<bool, LedgerError>;
    /// The backend itself, so that repositories can reach their tables in the same
    /// transaction (see [`Repositories`](super::repo::Repositories)).
    fn as_any(&mut self) -> &mut dyn Any;
}

/// One entry as `verify` reads it.
#[derive(Debug, Clone)]
pub struct EntryRecord {
    /// Row id.
    pub id: i64,
    /// Tenant.
    pub tenant: String,
    /// Chain position.
    pub seq: i64,
    /// Account row id.
    pub account: i64,
    /// Bucket as stored.
    pub bucket: String,
    /// Kind as stored.
    pub kind: String,
    /// Signed minor units.
    pub amount: i64,
    /// Stored running balance.
    pub balance_after: i64,
    /// Reference type.
    pub ref_type: Option<String>,
    /// Reference id.
    pub ref_id: Option<String>,
    /// Note.
    pub note: Option<String>,
    /// Actor.
    pub actor: String,
    /// RFC 3339 UTC.
    pub created_at: String,
    /// Stored hash (32 bytes when well formed).
    pub hash: Vec<u8>,
}

/// One account as `verify` reads it: stored balances, and what its open holds, open
/// lots and pending credits sum to.
#[derive(Debug, Clone, Copy)]
pub struct AccountTotals {
    /// Account row id.
    pub account: i64,
    /// Stored balances.
    pub balances: Balances,
    /// Sum of the open holds, minor units.
    pub open_holds: i64,
    /// Sum of what is left of its lots; `None` when the tenant keeps no lots.
    pub open_lots: Option<i64>,
    /// Sum of its pending credits not yet posted or cancelled.
    pub open_pending: i64,
}

/// What `verify` is told while the backend scans one snapshot. Returning `false` stops
/// the scan.
pub trait VerifyVisitor {
    /// Every entry, ordered by tenant, then seq.
    fn entry(&mut self, entry: EntryRecord) -> bool;
    /// Every account, ordered by id, after all entries.
    fn account(&mut self, account: AccountTotals) -> bool;
}

/// A read-only connection. Each call sees every batch committed before it; between
/// [`ReadBackend::begin_snapshot`] and [`ReadBackend::end_snapshot`] every call sees
/// the same committed state.
pub trait ReadBackend: Send {
    /// Starts a read-only snapshot: the calls until [`ReadBackend::end_snapshot`] see
    /// one committed state, whatever commits meanwhile.
    ///
    /// # Errors
    /// Storage errors.
    fn begin_snapshot(&mut self) -> Result<(), LedgerError>;
    /// Ends the snapshot [`ReadBackend::begin_snapshot`] started.
    ///
    /// # Errors
    /// Storage errors.
    fn end_snapshot(&mut self) -> Result<(), LedgerError>;
    /// The account of `holder` in `tenant`.
    ///
    /// # Errors
    /// Storage errors.
    fn account(
        &mut self,
        tenant: &TenantId,
        holder: &str,
    ) -> Result<Option<super::AccountView>, LedgerError>;
    /// Entries of `account` in `bucket`, newest first.
    ///
    /// # Errors
    /// Storage errors.
    fn entries(
        &mut self,
        account: AccountId,
        bucket: Bucket,
        limit: u32,
        offset: u64,
    ) -> Result<Vec<EntryView>, LedgerError>;
    /// How many entries `account` has in `bucket`.
    ///
    /// # Errors
    /// Storage errors.
    fn entry_count(&mut self, account: AccountId, bucket: Bucket) -> Result<u64, LedgerError>;
    /// The account's lots with something left that expire at or before `until` (RFC
    /// 3339 UTC), earliest first.
    ///
    /// # Errors
    /// Storage errors.
    fn lots_expiring(
        &mut self,
        account: AccountId,
        until: &str,
    ) -> Result<Vec<LotRow>, LedgerError>;
    /// Per UTC day from `since` (canonical RFC 3339) on, oldest day first: `tenant`'s
    /// credits and debits as [`DayFlow`](super::read::DayFlow) defines them.
    ///
    /// # Errors
    /// Storage errors.
    fn daily_flows(
        &mut self,
        tenant: &TenantId,
        since: &str,
    ) -> Result<Vec<super::read::DayFlow>, LedgerError>;
    /// `tenant`'s `available` entries summed by kind.
    ///
    /// # Errors
    /// Storage errors.
    fn kind_totals(
        &mut self,
        tenant: &TenantId,
    ) -> Result<Vec<super::read::KindTotal>, LedgerError>;
    /// Reference ids of `tenant`'s `available` debits of `kind`, by minor units debited.
    ///
    /// # Errors
    /// Storage errors.
    fn top_debit_refs(
        &mut self,
        tenant: &TenantId,
        kind: &str,
        limit: u32,
    ) -> Result<Vec<(String, i64)>, LedgerError>;
    /// `tenant`'s accounts in sum.
    ///
    /// # Errors
    /// Storage errors.
    fn tenant_totals(
        &mut self,
        tenant: &TenantId,
        low_below: Option<i64>,
    ) -> Result<super::read::TenantTotals, LedgerError>;
    /// `tenant`'s accounts by holder (substring `query`), optionally below a balance.
    ///
    /// # Errors
    /// Storage errors.
    fn find_accounts(
        &mut self,
        tenant: &TenantId,
        query: &str,
        low_below: Option<i64>,
        limit: u32,
    ) -> Result<Vec<super::AccountView>, LedgerError>;
    /// Scans every entry, then every account, in one snapshot.
    ///
    /// # Errors
    /// Storage errors.
    fn scan(&mut self, visitor: &mut dyn VerifyVisitor) -> Result<(), LedgerError>;
    /// The connection itself, for repositories' reads.
    fn as_any(&mut self) -> &mut dyn Any;
}
