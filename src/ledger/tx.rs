//! `LedgerTx`: what a unit of work may do inside the writer's transaction.

use super::backend::{HoldStatus, IdempotencyRecord, LedgerBackend, NewEntry, NewHold};
use super::hash::{entry_hash, EntryFields};
use super::repo::Repositories;
use super::{AccountId, Amount, LedgerError, TenantId, TenantSpec};

/// A balance bucket of an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Bucket {
    /// Spendable credits.
    Available,
    /// Credits in escrow (holds).
    Held,
    /// Credits announced but not yet settled.
    Pending,
}

impl Bucket {
    /// The column name and the `bucket` value stored on entries.
    pub fn as_str(self) -> &'static str {
        match self {
            Bucket::Available => "available",
            Bucket::Held => "held",
            Bucket::Pending => "pending",
        }
    }

    /// Parses a stored `bucket` value.
    pub fn parse(s: &str) -> Option<Bucket> {
        match s {
            "available" => Some(Bucket::Available),
            "held" => Some(Bucket::Held),
            "pending" => Some(Bucket::Pending),
            _ => None,
        }
    }
}

/// The kind of an entry: what movement it records. Stored as its [`EntryKind::as_str`]
/// text, which the hash chain covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntryKind {
    /// Goop2 starter credits, once per peer (goop2-credit-system.md, "Registration").
    Starter,
    /// A template bought with credits.
    Purchase,
    /// Credits given back for a purchase.
    Refund,
    /// An operator's grant.
    Grant,
    /// Roochip: credits rewarded by the app.
    Reward,
    /// Roochip: credits spent in the app.
    Deduction,
    /// A manual or promotional correction (Roochip promo codes and admin grants).
    Adjustment,
    /// Funds moved into escrow (available → held).
    Hold,
    /// Escrow returned (held → available).
    Release,
    /// Escrow spent (held → out).
    Capture,
    /// What was left of a lot past its expiry.
    Expire,
    /// A pending credit announced (into pending).
    PendingCredit,
    /// A pending credit posted (pending → available).
    PendingPost,
    /// A pending credit cancelled (out of pending).
    PendingCancel,
    /// A movement undone (lots restored).
    Reversal,
}

impl EntryKind {
    /// The stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::Starter => "starter",
            EntryKind::Purchase => "purchase",
            EntryKind::Refund => "refund",
            EntryKind::Grant => "grant",
            EntryKind::Reward => "reward",
            EntryKind::Deduction => "deduction",
            EntryKind::Adjustment => "adjustment",
            EntryKind::Hold => "hold",
            EntryKind::Release => "release",
            EntryKind::Capture => "capture",
            EntryKind::Expire => "expire",
            EntryKind::PendingCredit => "pending",
            EntryKind::PendingPost => "post",
            EntryKind::PendingCancel => "cancel",
            EntryKind::Reversal => "reversal",
        }
    }
}

impl std::fmt::Display for EntryKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who caused an entry. Stored as its [`Actor::render`] text.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Actor {
    /// The node itself (starter credits, scheduled jobs): `system`.
    System,
    /// The operator (admin token or CLI): `admin`.
    Admin,
    /// A Goop2 peer: `peer:<peer id>`.
    Peer(String),
    /// A tenant's API key: `tenant:<id>`, or `tenant:<id>:admin` for an admin key.
    TenantKey {
        /// The tenant.
        tenant: String,
        /// An admin key.
        admin: bool,
    },
}

impl Actor {
    /// The stored text.
    pub fn render(&self) -> String {
        match self {
            Actor::System => "system".into(),
            Actor::Admin => "admin".into(),
            Actor::Peer(p) => format!("peer:{p}"),
            Actor::TenantKey {
                tenant,
                admin: false,
            } => format!("tenant:{tenant}"),
            Actor::TenantKey {
                tenant,
                admin: true,
            } => format!("tenant:{tenant}:admin"),
        }
    }
}

/// The descriptive part of an entry: what kind of movement, what it refers to, who did
/// it.
#[derive(Debug, Clone)]
pub struct Posting {
    /// Transaction type.
    pub kind: EntryKind,
    /// What the entry refers to (`template`, `hold`, …).
    pub ref_type: Option<String>,
    /// The id of what it refers to (template name, hold id, …).
    pub ref_id: Option<String>,
    /// Human-readable description.
    pub note: Option<String>,
    /// Who caused it.
    pub actor: Actor,
}

impl Posting {
    /// A posting of `kind` by `actor` with no reference or note.
    pub fn new(kind: EntryKind, actor: Actor) -> Posting {
        Posting {
            kind,
            ref_type: None,
            ref_id: None,
            note: None,
            actor,
        }
    }

    /// Sets the reference.
    pub fn reference(mut self, ref_type: impl Into<String>, ref_id: impl Into<String>) -> Posting {
        self.ref_type = Some(ref_type.into());
        self.ref_id = Some(ref_id.into());
        self
    }

    /// Sets the note.
    pub fn note(mut self, note: impl Into<String>) -> Posting {
        self.note = Some(note.into());
        self
    }

    /// The same posting with another kind (the paired entry of a hold, …).
    pub fn with_kind(&self, kind: EntryKind) -> Posting {
        Posting {
            kind,
            ..self.clone()
        }
    }
}

/// An entry just written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostedEntry {
    /// Row id in `credit_transactions`.
    pub id: i64,
    /// Position in the tenant's chain (1, 2, …).
    pub seq: i64,
    /// Signed amount in minor units (+ credit, - debit).
    pub amount: i64,
    /// The bucket's balance after this entry, minor units.
    pub balance_after: i64,
    /// RFC 3339 UTC timestamp of the batch.
    pub created_at: String,
}

/// The three balances of an account, in minor units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Balances {
    /// Spendable.
    pub available: i64,
    /// In escrow.
    pub held: i64,
    /// Not yet settled.
    pub pending: i64,
}

/// A response stored under an idempotency key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    /// HTTP status.
    pub status: u16,
    /// The response body as sent.
    pub body: String,
}

/// The transaction a unit of work runs in. Every method writes within the unit's
/// savepoint; nothing is visible to readers before the batch commits. Balances,
/// entries, holds, idempotency records and the outbox change only through these
/// methods; a module's own tables through its repository ([`LedgerTx::repo`]).
pub struct LedgerTx<'a> {
    backend: &'a mut dyn LedgerBackend,
    repos: &'a Repositories,
    now: &'a str,
}

impl<'a> LedgerTx<'a> {
    /// A transaction over `backend` at the batch time `now` (RFC 3339 UTC). For
    /// backends' writers only.
    pub fn new(
        backend: &'a mut dyn LedgerBackend,
        repos: &'a Repositories,
        now: &'a str,
    ) -> LedgerTx<'a> {
        LedgerTx {
            backend,
            repos,
            now,
        }
    }

    /// The batch's timestamp (RFC 3339 UTC, seconds): every entry of a batch carries it.
    pub fn now(&self) -> &'a str {
        self.now
    }

    /// The repository `R` (a `dyn Trait` of the module that owns some tables), writing
    /// in this transaction.
    ///
    /// # Errors
    /// [`LedgerError::Invalid`] when the backend offers no such repository.
    pub fn repo<R: ?Sized + 'static>(&mut self) -> Result<&mut R, LedgerError> {
        self.repos.get::<R>(self.backend.as_any())
    }

    pub(crate) fn ensure_tenant(&mut self, spec: &TenantSpec) -> Result<(), LedgerError> {
        match self.backend.tenant(&spec.id)? {
            Some(row) if row.scale == spec.scale && row.mode == spec.mode => {
                self.backend.set_ceiling(&spec.id, spec.ceiling)
            }
            Some(row) => Err(LedgerError::TenantMismatch {
                id: spec.id.to_string(),
                existing_scale: row.scale,
                existing_mode: row.mode,
            }),
            None => self.backend.insert_tenant(spec, self.now),
        }
    }

    /// The account of `holder` in `tenant`, if it exists.
    ///
    /// # Errors
    /// Storage errors.
    pub fn find_account(
        &mut self,
        tenant: &TenantId,
        holder: &str,
    ) -> Result<Option<AccountId>, LedgerError> {
        self.backend.find_account(tenant, holder)
    }

    /// The account of `holder` in `tenant`, opened (all balances 0) if it does not exist.
    ///
    /// # Errors
    /// [`LedgerError::UnknownTenant`], [`LedgerError::Invalid`] for an empty holder,
    /// storage errors.
    pub fn open_account(
        &mut self,
        tenant: &TenantId,
        holder: &str,
    ) -> Result<AccountId, LedgerError> {
        if let Some(id) = self.backend.find_account(tenant, holder)? {
            return Ok(id);
        }
        if holder.is_empty() || holder.len() > 256 {
            return Err(LedgerError::Invalid(
                "account holder must be 1 to 256 bytes".into(),
            ));
        }
        let ceiling = self
            .backend
            .tenant(tenant)?
            .ok_or_else(|| LedgerError::UnknownTenant(tenant.to_string()))?
            .ceiling;
        self.backend
            .insert_account(tenant, holder, ceiling, self.now)
    }

    /// The balances of `account`.
    ///
    /// # Errors
    /// [`LedgerError::UnknownAccount`], storage errors.
    pub fn balances(&mut self, account: AccountId) -> Result<Balances, LedgerError> {
        Ok(self.account_row(account)?.balances)
    }

    /// Adds `amount` to the account's available balance.
    ///
    /// # Errors
    /// [`LedgerError::CeilingExceeded`], [`LedgerError::UnknownAccount`], storage errors.
    pub fn credit(
        &mut self,
        account: AccountId,
        amount: Amount,
        posting: &Posting,
    ) -> Result<PostedEntry, LedgerError> {
        self.post(account, Bucket::Available, amount.minor(), posting)
    }

    /// Takes `amount` from the account's available balance.
    ///
    /// # Errors
    /// [`LedgerError::InsufficientFunds`] when the balance is smaller than `amount`,
    /// [`LedgerError::UnknownAccount`], storage errors.
    pub fn debit(
        &mut self,
        account: AccountId,
        amount: Amount,
        posting: &Posting,
    ) -> Result<PostedEntry, LedgerError> {
        self.post(account, Bucket::Available, -amount.minor(), posting)
    }

    /// Moves `amount` from one account's available balance to another's (same tenant):
    /// one debit entry and one credit entry. Returns (debit, credit).
    ///
    /// # Errors
    /// As [`LedgerTx::debit`] and [`LedgerTx::credit`]; [`LedgerError::Invalid`] across
    /// tenants or to the same account.
    pub fn transfer(
        &mut self,
        from: AccountId,
        to: AccountId,
        amount: Amount,
        posting: &Posting,
    ) -> Result<(PostedEntry, PostedEntry), LedgerError> {
        if from == to {
            return Err(LedgerError::Invalid(
                "cannot transfer to the same account".into(),
            ));
        }
        let from_tenant = self.account_row(from)?.tenant;
        let to_tenant = self.account_row(to)?.tenant;
        if from_tenant != to_tenant {
            return Err(LedgerError::Invalid(
                "cannot transfer between tenants".into(),
            ));
        }
        let debit = self.post(from, Bucket::Available, -amount.minor(), posting)?;
        let credit = self.post(to, Bucket::Available, amount.minor(), posting)?;
        Ok((debit, credit))
    }

    /// Moves `amount` from available to held under a new hold `hold_id` (escrow).
    /// Returns the two entries (available debit, held credit).
    ///
    /// # Errors
    /// [`LedgerError::InsufficientFunds`], [`LedgerError::Invalid`] for a reused hold id,
    /// storage errors.
    pub fn hold(
        &mut self,
        account: AccountId,
        amount: Amount,
        hold_id: &str,
        posting: &Posting,
    ) -> Result<(PostedEntry, PostedEntry), LedgerError> {
        if self.backend.hold_for_update(account, hold_id)?.is_some() {
            return Err(LedgerError::Invalid(format!(
                "hold {hold_id:?} already exists"
            )));
        }
        let out = self.post(account, Bucket::Available, -amount.minor(), posting)?;
        let into = self.post(account, Bucket::Held, amount.minor(), posting)?;
        self.backend.insert_hold(&NewHold {
            id: hold_id,
            account,
            amount: amount.minor(),
            ref_type: posting.ref_type.as_deref(),
            ref_id: posting.ref_id.as_deref(),
            expires_at: None,
            created_at: self.now,
        })?;
        Ok((out, into))
    }

    /// Returns an open hold of `account` to available. Returns (held debit, available
    /// credit).
    ///
    /// # Errors
    /// [`LedgerError::UnknownHold`] (also for another account's hold id),
    /// [`LedgerError::HoldNotOpen`], storage errors.
    pub fn release(
        &mut self,
        account: AccountId,
        hold_id: &str,
        posting: &Posting,
    ) -> Result<(PostedEntry, PostedEntry), LedgerError> {
        let amount = self.resolve_hold(account, hold_id, HoldStatus::Released)?;
        let out = self.post(account, Bucket::Held, -amount, posting)?;
        let back = self.post(account, Bucket::Available, amount, posting)?;
        Ok((out, back))
    }

    /// Spends an open hold of `account`: its amount leaves the account. Returns the
    /// held debit.
    ///
    /// # Errors
    /// [`LedgerError::UnknownHold`] (also for another account's hold id),
    /// [`LedgerError::HoldNotOpen`], storage errors.
    pub fn capture(
        &mut self,
        account: AccountId,
        hold_id: &str,
        posting: &Posting,
    ) -> Result<PostedEntry, LedgerError> {
        let amount = self.resolve_hold(account, hold_id, HoldStatus::Captured)?;
        self.post(account, Bucket::Held, -amount, posting)
    }

    /// Marks `account`'s open hold `hold_id` as `to`; returns its amount.
    fn resolve_hold(
        &mut self,
        account: AccountId,
        hold_id: &str,
        to: HoldStatus,
    ) -> Result<i64, LedgerError> {
        let hold = self
            .backend
            .hold_for_update(account, hold_id)?
            .ok_or_else(|| LedgerError::UnknownHold(hold_id.to_string()))?;
        if hold.status != HoldStatus::Open {
            return Err(LedgerError::HoldNotOpen {
                id: hold_id.to_string(),
                status: hold.status.as_str().to_string(),
            });
        }
        self.backend
            .set_hold_status(account, hold_id, to, self.now)?;
        Ok(hold.amount)
    }

    /// Looks up an idempotency record. `Ok(Some)` is a replay: return the stored
    /// response and do nothing else. `Ok(None)`: first use, go on and call
    /// [`LedgerTx::idempotency_store`] in the same unit.
    ///
    /// # Errors
    /// [`LedgerError::IdempotencyMismatch`] when the key was used with another
    /// `fingerprint`; storage errors.
    pub fn idempotency_lookup(
        &mut self,
        scope: &str,
        key: &str,
        fingerprint: &str,
    ) -> Result<Option<StoredResponse>, LedgerError> {
        match self.backend.idempotency_get(scope, key)? {
            None => Ok(None),
            Some(r) if r.fingerprint == fingerprint => Ok(Some(StoredResponse {
                status: r.status,
                body: r.body,
            })),
            Some(_) => Err(LedgerError::IdempotencyMismatch {
                key: key.to_string(),
            }),
        }
    }

    /// Stores the response of a request under (scope, key), in the same transaction as
    /// its effect.
    ///
    /// # Errors
    /// Storage errors (a duplicate key is a constraint error: look up first).
    pub fn idempotency_store(
        &mut self,
        scope: &str,
        key: &str,
        fingerprint: &str,
        response: &StoredResponse,
    ) -> Result<(), LedgerError> {
        self.backend.idempotency_put(&IdempotencyRecord {
            scope: scope.to_string(),
            key: key.to_string(),
            fingerprint: fingerprint.to_string(),
            status: response.status,
            body: response.body.clone(),
            created_at: self.now.to_string(),
            expires_at: None,
        })
    }

    /// Writes an outbox event (a webhook to deliver after commit) and its pending
    /// delivery row, due now. `payload` is the exact body to send. Returns the event
    /// id. The dispatcher is woken once the batch is durable.
    ///
    /// # Errors
    /// Storage errors.
    pub fn enqueue_event(
        &mut self,
        tenant: &TenantId,
        account: Option<AccountId>,
        event_type: &str,
        payload: &str,
    ) -> Result<i64, LedgerError> {
        self.backend
            .insert_event(tenant, account, event_type, payload, self.now)
    }

    fn account_row(
        &mut self,
        account: AccountId,
    ) -> Result<super::backend::AccountRow, LedgerError> {
        self.backend
            .account_for_update(account)?
            .ok_or(LedgerError::UnknownAccount(account.0))
    }

    /// The one place where a balance changes: moves the bucket by `delta` (never below
    /// zero or over the ceiling) and appends the chained entry.
    fn post(
        &mut self,
        account: AccountId,
        bucket: Bucket,
        delta: i64,
        posting: &Posting,
    ) -> Result<PostedEntry, LedgerError> {
        let row = self.account_row(account)?;
        let balance = row.balance(bucket);
        let balance_after = match balance.checked_add(delta) {
            Some(b) if (0..=row.ceiling).contains(&b) => b,
            _ if delta < 0 => {
                return Err(LedgerError::InsufficientFunds {
                    available: balance,
                    required: -delta,
                })
            }
            _ => {
                return Err(LedgerError::CeilingExceeded {
                    balance,
                    amount: delta,
                    ceiling: row.ceiling,
                })
            }
        };
        self.backend
            .set_balance(account, bucket, balance_after, self.now)?;
        let (prev_seq, prev_hash) = self.backend.chain_head_for_update(&row.tenant)?;
        let seq = prev_seq + 1;
        let kind = posting.kind.as_str();
        let actor = posting.actor.render();
        let hash = entry_hash(
            &prev_hash,
            &EntryFields {
                tenant_id: row.tenant.as_str(),
                seq,
                account_id: account.0,
                bucket: bucket.as_str(),
                kind,
                amount: delta,
                balance_after,
                ref_type: posting.ref_type.as_deref(),
                ref_id: posting.ref_id.as_deref(),
                note: posting.note.as_deref(),
                actor: &actor,
                created_at: self.now,
            },
        );
        let id = self.backend.append_entry(&NewEntry {
            tenant: &row.tenant,
            seq,
            account,
            bucket,
            kind,
            amount: delta,
            balance_after,
            ref_type: posting.ref_type.as_deref(),
            ref_id: posting.ref_id.as_deref(),
            note: posting.note.as_deref(),
            actor: &actor,
            created_at: self.now,
            hash,
        })?;
        Ok(PostedEntry {
            id,
            seq,
            amount: delta,
            balance_after,
            created_at: self.now.to_string(),
        })
    }
}
