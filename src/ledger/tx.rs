//! `LedgerTx`: what a unit of work may do inside the writer's transaction.

use super::backend::{
    AccountRow, HoldRow, HoldStatus, IdempotencyRecord, LedgerBackend, LotRow, NewEntry, NewHold,
    PendingRow, PendingStatus,
};
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
    /// Something bought: in Goop2 a template bought with credits (a debit); in
    /// Roochip a package of credits bought with money (a credit).
    Purchase,
    /// Goop2: credits bought with real money (goop2-credit-system.md, "Transaction
    /// types": `buy`).
    Buy,
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
    /// Goop2: credits of a redeemed campaign code (goop2-credit-system.md, "Phase 3").
    Promo,
    /// Goop2: a referral bonus, to the invitee and the inviter (goop2-credit-system.md,
    /// "Phase 3").
    Referral,
}

impl EntryKind {
    /// The stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::Starter => "starter",
            EntryKind::Purchase => "purchase",
            EntryKind::Buy => "buy",
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
            EntryKind::Promo => "promo",
            EntryKind::Referral => "referral",
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
    /// An OAuth client of a tenant (client credentials): `client:<tenant>:<client id>`.
    Client {
        /// The tenant.
        tenant: String,
        /// The client id.
        client: String,
    },
    /// A payment provider's verified message (a Stripe event, an Apple signed
    /// transaction, a Google purchase): `payment:<provider>` (`stripe`, `apple_iap`,
    /// `google_iap`).
    Payment(&'static str),
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
            Actor::Client { tenant, client } => format!("client:{tenant}:{client}"),
            Actor::Payment(provider) => format!("payment:{provider}"),
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

    /// The backend itself, for the store contract tests.
    #[cfg(test)]
    pub(crate) fn backend(&mut self) -> &mut dyn LedgerBackend {
        self.backend
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
            Some(row)
                if row.scale == spec.scale && row.mode == spec.mode && row.lots == spec.lots =>
            {
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

    /// Adds `amount` to the account's available balance (a lot that never expires,
    /// for a tenant that keeps lots).
    ///
    /// # Errors
    /// [`LedgerError::CeilingExceeded`], [`LedgerError::UnknownAccount`], storage errors.
    pub fn credit(
        &mut self,
        account: AccountId,
        amount: Amount,
        posting: &Posting,
    ) -> Result<PostedEntry, LedgerError> {
        self.credit_expiring(account, amount, None, posting)
    }

    /// Adds `amount` to the account's available balance as a lot that expires at
    /// `expires_at` (RFC 3339; `None`: never). The expiry job takes back what is left
    /// of it then ([`LedgerTx::expire_due`]).
    ///
    /// # Errors
    /// [`LedgerError::Invalid`] for an expiry on a tenant that keeps no lots, or an
    /// expiry that is not RFC 3339; [`LedgerError::CeilingExceeded`],
    /// [`LedgerError::UnknownAccount`], storage errors.
    pub fn credit_expiring(
        &mut self,
        account: AccountId,
        amount: Amount,
        expires_at: Option<&str>,
        posting: &Posting,
    ) -> Result<PostedEntry, LedgerError> {
        let row = self.account_row(account)?;
        let expires_at = self.lot_expiry(&row, expires_at)?;
        let entry = self.post_on(account, &row, Bucket::Available, amount.minor(), posting)?;
        if row.lots {
            self.backend.insert_lot(
                account,
                entry.id,
                amount.minor(),
                expires_at.as_deref(),
                self.now,
            )?;
        }
        Ok(entry)
    }

    /// Takes `amount` from the account's available balance; for a tenant that keeps
    /// lots, from the earliest-expiring lots first (never-expiring ones last).
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
        let row = self.account_row(account)?;
        let entry = self.post_on(account, &row, Bucket::Available, -amount.minor(), posting)?;
        if row.lots {
            self.consume_lots(account, entry.id, amount.minor())?;
        }
        Ok(entry)
    }

    /// Moves `amount` from one account's available balance to another's (same tenant):
    /// one debit entry and one credit entry (a never-expiring lot on the receiving
    /// side). Returns (debit, credit).
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
        let debit = self.debit(from, amount, posting)?;
        let credit = self.credit(to, amount, posting)?;
        Ok((debit, credit))
    }

    /// Gives back what debit `entry_id` took from available, as one credit entry
    /// (`posting`, usually [`EntryKind::Reversal`]); for a tenant that keeps lots, into
    /// exactly the lots it consumed (a lot past its expiry is taken back by the next
    /// expiry run). Returns the credit.
    ///
    /// # Errors
    /// [`LedgerError::Invalid`] when the entry is not a debit of available, funds a
    /// hold (release the hold), or was already reversed; ceiling and storage errors.
    pub fn reverse(
        &mut self,
        entry_id: i64,
        posting: &Posting,
    ) -> Result<PostedEntry, LedgerError> {
        let entry = self
            .backend
            .entry(entry_id)?
            .ok_or_else(|| LedgerError::Invalid(format!("no entry {entry_id}")))?;
        if entry.bucket != Bucket::Available || entry.amount >= 0 {
            return Err(LedgerError::Invalid(format!(
                "entry {entry_id} is not a debit of available credits"
            )));
        }
        if self.backend.funds_hold(entry_id)? {
            return Err(LedgerError::Invalid(format!(
                "entry {entry_id} funds a hold: release the hold instead"
            )));
        }
        if self.backend.reversal_of(entry_id)?.is_some() {
            return Err(LedgerError::Invalid(format!(
                "entry {entry_id} was already reversed"
            )));
        }
        let account = entry.account;
        let row = self.account_row(account)?;
        let uses = if row.lots {
            self.backend.lot_uses_for_update(entry_id)?
        } else {
            Vec::new()
        };
        let back = self.post_on(account, &row, Bucket::Available, -entry.amount, posting)?;
        self.backend.insert_reversal(entry_id, back.id)?;
        if row.lots {
            self.restore_lots(entry_id, back.id, &uses, -entry.amount)?;
        }
        Ok(back)
    }

    /// Moves `amount` from available to held under a new hold `hold_id` (escrow); with
    /// `expires_at`, the hold releases itself then ([`LedgerTx::release_expired`]).
    /// Returns the two entries (available debit, held credit).
    ///
    /// # Errors
    /// [`LedgerError::InsufficientFunds`], [`LedgerError::Invalid`] for a reused hold id
    /// or a malformed expiry, storage errors.
    pub fn hold(
        &mut self,
        account: AccountId,
        amount: Amount,
        hold_id: &str,
        expires_at: Option<&str>,
        posting: &Posting,
    ) -> Result<(PostedEntry, PostedEntry), LedgerError> {
        if self.backend.hold_for_update(account, hold_id)?.is_some() {
            return Err(LedgerError::Invalid(format!(
                "hold {hold_id:?} already exists"
            )));
        }
        let expires_at = expires_at.map(canonical_time).transpose()?;
        let out = self.debit(account, amount, posting)?;
        let into = self.post(account, Bucket::Held, amount.minor(), posting)?;
        self.backend.insert_hold(&NewHold {
            id: hold_id,
            account,
            amount: amount.minor(),
            ref_type: posting.ref_type.as_deref(),
            ref_id: posting.ref_id.as_deref(),
            expires_at: expires_at.as_deref(),
            entry_id: out.id,
            created_at: self.now,
        })?;
        Ok((out, into))
    }

    /// Returns an open hold of `account` to available (into the lots it took, for a
    /// tenant that keeps lots). Returns (held debit, available credit).
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
        let (amount, entry_id) = self.resolve_hold(account, hold_id, HoldStatus::Released)?;
        let out = self.post(account, Bucket::Held, -amount, posting)?;
        let row = self.account_row(account)?;
        let back = self.post_on(account, &row, Bucket::Available, amount, posting)?;
        if row.lots {
            let uses = match entry_id {
                Some(id) => self.backend.lot_uses_for_update(id)?,
                None => Vec::new(),
            };
            self.restore_lots(entry_id.unwrap_or(back.id), back.id, &uses, amount)?;
        }
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
        let (amount, _) = self.resolve_hold(account, hold_id, HoldStatus::Captured)?;
        self.post(account, Bucket::Held, -amount, posting)
    }

    /// Credits `amount` into the account's pending bucket, to be posted to available
    /// (as a lot expiring at `lot_expires_at`) by `pending_until` at the latest
    /// ([`LedgerTx::post_pending`], [`LedgerTx::post_pending_due`]) or cancelled
    /// ([`LedgerTx::cancel_pending`]). Returns the entry and the pending credit's id.
    ///
    /// # Errors
    /// [`LedgerError::Invalid`] for a malformed time, or a lot expiry on a tenant that
    /// keeps no lots; ceiling and storage errors.
    pub fn credit_pending(
        &mut self,
        account: AccountId,
        amount: Amount,
        pending_until: &str,
        lot_expires_at: Option<&str>,
        posting: &Posting,
    ) -> Result<(PostedEntry, i64), LedgerError> {
        let row = self.account_row(account)?;
        let lot_expires_at = self.lot_expiry(&row, lot_expires_at)?;
        let pending_until = canonical_time(pending_until)?;
        let entry = self.post_on(account, &row, Bucket::Pending, amount.minor(), posting)?;
        let id = self.backend.insert_pending(
            &PendingRow {
                id: 0,
                account,
                amount: amount.minor(),
                pending_until,
                lot_expires_at,
                status: PendingStatus::Pending,
                ref_type: posting.ref_type.clone(),
                ref_id: posting.ref_id.clone(),
            },
            entry.id,
            self.now,
        )?;
        Ok((entry, id))
    }

    /// Posts pending credit `id` now: out of pending, into available (with its lot).
    /// Returns the available credit.
    ///
    /// # Errors
    /// [`LedgerError::Invalid`] for an unknown or settled pending credit; storage
    /// errors.
    pub fn post_pending(&mut self, id: i64, posting: &Posting) -> Result<PostedEntry, LedgerError> {
        let p = self.open_pending(id)?;
        self.post(p.account, Bucket::Pending, -p.amount, posting)?;
        let amount = Amount::new(p.amount)
            .ok_or_else(|| LedgerError::Invalid(format!("pending credit {id} holds nothing")))?;
        let credit =
            self.credit_expiring(p.account, amount, p.lot_expires_at.as_deref(), posting)?;
        self.backend
            .settle_pending(id, PendingStatus::Posted, credit.id, self.now)?;
        Ok(credit)
    }

    /// Cancels pending credit `id`: its amount leaves the pending bucket. Returns the
    /// entry.
    ///
    /// # Errors
    /// [`LedgerError::Invalid`] for an unknown or settled pending credit; storage
    /// errors.
    pub fn cancel_pending(
        &mut self,
        id: i64,
        posting: &Posting,
    ) -> Result<PostedEntry, LedgerError> {
        let p = self.open_pending(id)?;
        let entry = self.post(p.account, Bucket::Pending, -p.amount, posting)?;
        self.backend
            .settle_pending(id, PendingStatus::Cancelled, entry.id, self.now)?;
        Ok(entry)
    }

    /// The pending credit `id`, if it is still pending.
    fn open_pending(&mut self, id: i64) -> Result<PendingRow, LedgerError> {
        let p = self
            .backend
            .pending_for_update(id)?
            .ok_or_else(|| LedgerError::Invalid(format!("no pending credit {id}")))?;
        if p.status != PendingStatus::Pending {
            return Err(LedgerError::Invalid(format!(
                "pending credit {id} is already {}",
                p.status.as_str()
            )));
        }
        Ok(p)
    }

    /// Up to `limit` items of `kind` due at `now` (RFC 3339), earliest first,
    /// skipping the first `offset` (items that failed to settle this run).
    ///
    /// # Errors
    /// [`LedgerError::Invalid`] for a malformed `now`; storage errors.
    pub fn due_items(
        &mut self,
        kind: DueKind,
        now: &str,
        limit: u32,
        offset: u32,
    ) -> Result<Vec<DueItem>, LedgerError> {
        let now = canonical_time(now)?;
        Ok(match kind {
            DueKind::Pending => self
                .backend
                .pending_due(&now, limit, offset)?
                .into_iter()
                .map(DueItem::Pending)
                .collect(),
            DueKind::Holds => self
                .backend
                .holds_due(&now, limit, offset)?
                .into_iter()
                .map(|(account, hold)| DueItem::Hold(account, hold))
                .collect(),
            DueKind::Lots => self
                .backend
                .lots_due(&now, limit, offset)?
                .into_iter()
                .map(|lot| DueItem::Lot(lot.id))
                .collect(),
        })
    }

    /// Settles one due item as of `now` (RFC 3339): posts the pending credit, releases
    /// the hold, or takes back what is left of the lot (an `expire` entry). Returns what
    /// was done, for the tenant's [`SettleHook`](super::jobs::SettleHook); `None` for
    /// an item already settled (by another run), which is left alone.
    ///
    /// # Errors
    /// [`LedgerError::Invalid`] for a malformed `now`; ceiling and storage errors.
    pub fn settle_due(
        &mut self,
        item: &DueItem,
        now: &str,
    ) -> Result<Option<Settled>, LedgerError> {
        let now = canonical_time(now)?;
        match item {
            DueItem::Pending(id) => {
                let Some(pending) = self
                    .backend
                    .pending_for_update(*id)?
                    .filter(|p| p.status == PendingStatus::Pending && p.pending_until <= now)
                else {
                    return Ok(None);
                };
                let posting = Posting::new(EntryKind::PendingPost, Actor::System)
                    .reference("pending", id.to_string());
                let credit = self.post_pending(*id, &posting)?;
                let tenant = self.account_row(pending.account)?.tenant;
                Ok(Some(Settled::Posted {
                    tenant,
                    pending,
                    credit,
                }))
            }
            DueItem::Hold(account, hold) => {
                let Some(row) = self
                    .backend
                    .hold_for_update(*account, hold)?
                    .filter(|h| h.status == HoldStatus::Open)
                else {
                    return Ok(None);
                };
                let posting = Posting::new(EntryKind::Release, Actor::System)
                    .reference("hold", hold.clone())
                    .note("Hold expired");
                self.release(*account, hold, &posting)?;
                let tenant = self.account_row(*account)?.tenant;
                Ok(Some(Settled::Released {
                    tenant,
                    account: *account,
                    hold_id: hold.clone(),
                    hold: row,
                }))
            }
            DueItem::Lot(id) => {
                let Some(lot) = self.backend.lot_for_update(*id)? else {
                    return Ok(None);
                };
                let due = lot.expires_at.as_deref().is_some_and(|t| t <= now.as_str());
                if lot.remaining == 0 || !due {
                    return Ok(None);
                }
                let row = self.account_row(lot.account)?;
                let posting = Posting::new(EntryKind::Expire, Actor::System)
                    .reference("lot", lot.id.to_string())
                    .note("Expired");
                let entry = self.post_on(
                    lot.account,
                    &row,
                    Bucket::Available,
                    -lot.remaining,
                    &posting,
                )?;
                self.backend
                    .insert_lot_use(entry.id, lot.id, lot.remaining)?;
                self.backend.set_lot_remaining(lot.id, 0)?;
                Ok(Some(Settled::Expired {
                    tenant: row.tenant,
                    lot,
                    entry,
                }))
            }
        }
    }

    /// Takes back what is left of the lot that credit `entry_id` opened (points
    /// clawed back after a chargeback, say): one debit of available for the lot's
    /// remainder, never more, so it cannot overdraw. The lot then expires now: what a
    /// later reversal gives back into it (a redemption that spent part of it, say) is
    /// taken back by the next expiry run instead of living on. Returns the debit, or
    /// `None` when nothing is left of the lot.
    ///
    /// # Errors
    /// [`LedgerError::Invalid`] when the entry opened no lot; storage errors.
    pub fn take_back_lot(
        &mut self,
        entry_id: i64,
        posting: &Posting,
    ) -> Result<Option<PostedEntry>, LedgerError> {
        let lot = self
            .backend
            .lot_of_entry_for_update(entry_id)?
            .ok_or_else(|| LedgerError::Invalid(format!("entry {entry_id} opened no lot")))?;
        if lot.expires_at.as_deref().is_none_or(|t| t > self.now) {
            self.backend.set_lot_expiry(lot.id, Some(self.now))?;
        }
        if lot.remaining == 0 {
            return Ok(None);
        }
        let row = self.account_row(lot.account)?;
        let entry = self.post_on(
            lot.account,
            &row,
            Bucket::Available,
            -lot.remaining,
            posting,
        )?;
        self.backend
            .insert_lot_use(entry.id, lot.id, lot.remaining)?;
        self.backend.set_lot_remaining(lot.id, 0)?;
        Ok(Some(entry))
    }

    /// Settles up to `limit` due items of `kind` in this unit; the first failure undoes
    /// the unit. Returns how many were due. (The scheduler settles each item in its own
    /// unit instead, so that one failing item does not hold back the others.)
    #[cfg(test)]
    fn settle_all(&mut self, kind: DueKind, now: &str, limit: u32) -> Result<u32, LedgerError> {
        let items = self.due_items(kind, now, limit, 0)?;
        for item in &items {
            self.settle_due(item, now)?;
        }
        Ok(items.len() as u32)
    }

    /// Takes back what is left of up to `limit` lots whose expiry is at or before `now`
    /// (RFC 3339), one `expire` entry each. Returns how many lots expired.
    ///
    /// # Errors
    /// [`LedgerError::Invalid`] for a malformed `now`; storage errors.
    #[cfg(test)]
    pub(crate) fn expire_due(&mut self, now: &str, limit: u32) -> Result<u32, LedgerError> {
        self.settle_all(DueKind::Lots, now, limit)
    }

    /// Posts up to `limit` pending credits due at `now` (RFC 3339). Returns how many.
    ///
    /// # Errors
    /// [`LedgerError::Invalid`] for a malformed `now`; ceiling and storage errors.
    #[cfg(test)]
    pub(crate) fn post_pending_due(&mut self, now: &str, limit: u32) -> Result<u32, LedgerError> {
        self.settle_all(DueKind::Pending, now, limit)
    }

    /// Releases up to `limit` open holds whose expiry is at or before `now` (RFC
    /// 3339). Returns how many.
    ///
    /// # Errors
    /// [`LedgerError::Invalid`] for a malformed `now`; ceiling and storage errors.
    #[cfg(test)]
    pub(crate) fn release_expired(&mut self, now: &str, limit: u32) -> Result<u32, LedgerError> {
        self.settle_all(DueKind::Holds, now, limit)
    }

    /// Deletes up to `limit` idempotency records whose retention ended at or before
    /// `now` (RFC 3339). Returns how many.
    ///
    /// # Errors
    /// [`LedgerError::Invalid`] for a malformed `now`; storage errors.
    pub fn sweep_idempotency(&mut self, now: &str, limit: u32) -> Result<u64, LedgerError> {
        let now = canonical_time(now)?;
        self.backend.idempotency_sweep(&now, limit)
    }

    /// Takes `amount` from the account's open lots, earliest expiry first, recording
    /// what `entry_id` took from each.
    fn consume_lots(
        &mut self,
        account: AccountId,
        entry_id: i64,
        amount: i64,
    ) -> Result<(), LedgerError> {
        // A page of lots at a time: a debit usually takes from one or two, whatever
        // the number an account holds. Emptied lots leave the next page.
        const PAGE: u32 = 16;
        let mut left = amount;
        while left > 0 {
            let lots = self.backend.open_lots_for_update(account, PAGE)?;
            if lots.is_empty() {
                break;
            }
            for lot in lots {
                if left == 0 {
                    break;
                }
                let take = lot.remaining.min(left);
                self.backend
                    .set_lot_remaining(lot.id, lot.remaining - take)?;
                self.backend.insert_lot_use(entry_id, lot.id, take)?;
                left -= take;
            }
        }
        if left > 0 {
            // The available balance covered the debit, so the lots must have: they
            // disagree with the balance.
            return Err(LedgerError::Invalid(format!(
                "account {}: its lots hold {} less than its available balance",
                account.0, left
            )));
        }
        Ok(())
    }

    /// Gives `uses` (what `taken_by` took) back to their lots, marking them restored by
    /// `reversal`; whatever the uses do not cover (`amount` minus their sum) becomes a
    /// new lot that never expires.
    fn restore_lots(
        &mut self,
        taken_by: i64,
        reversal: i64,
        uses: &[super::backend::LotUse],
        amount: i64,
    ) -> Result<(), LedgerError> {
        if uses.iter().any(|u| u.restored_by.is_some()) {
            return Err(LedgerError::Invalid(format!(
                "what entry {taken_by} took was already given back"
            )));
        }
        let mut restored = 0;
        for u in uses {
            let lot = self
                .backend
                .lot_for_update(u.lot)?
                .ok_or_else(|| LedgerError::Invalid(format!("no lot {}", u.lot)))?;
            self.backend
                .set_lot_remaining(lot.id, lot.remaining + u.amount)?;
            restored += u.amount;
        }
        if !uses.is_empty() {
            self.backend.mark_lot_uses_restored(taken_by, reversal)?;
        }
        if amount > restored {
            let account = self
                .backend
                .entry(reversal)?
                .ok_or_else(|| LedgerError::Invalid(format!("no entry {reversal}")))?
                .account;
            self.backend
                .insert_lot(account, reversal, amount - restored, None, self.now)?;
        }
        Ok(())
    }

    /// A lot expiry in canonical form; refused for tenants that keep no lots.
    fn lot_expiry(
        &self,
        row: &AccountRow,
        expires_at: Option<&str>,
    ) -> Result<Option<String>, LedgerError> {
        match expires_at {
            None => Ok(None),
            Some(_) if !row.lots => Err(LedgerError::Invalid(format!(
                "tenant {} keeps no lots: its credits cannot expire",
                row.tenant
            ))),
            Some(t) => canonical_time(t).map(Some),
        }
    }

    /// Marks `account`'s open hold `hold_id` as `to`; returns its amount and the entry
    /// that funded it.
    fn resolve_hold(
        &mut self,
        account: AccountId,
        hold_id: &str,
        to: HoldStatus,
    ) -> Result<(i64, Option<i64>), LedgerError> {
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
        Ok((hold.amount, hold.entry_id))
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
    /// its effect, kept until `expires_at` (RFC 3339; `None`: forever). Prefer
    /// [`LedgerTx::once`], which looks up, runs and stores.
    ///
    /// # Errors
    /// Storage errors (a duplicate key is a constraint error: look up first).
    pub fn idempotency_store(
        &mut self,
        scope: &str,
        key: &str,
        fingerprint: &str,
        response: &StoredResponse,
        expires_at: Option<&str>,
    ) -> Result<(), LedgerError> {
        self.backend.idempotency_put(&IdempotencyRecord {
            scope: scope.to_string(),
            key: key.to_string(),
            fingerprint: fingerprint.to_string(),
            status: response.status,
            body: response.body.clone(),
            created_at: self.now.to_string(),
            expires_at: expires_at.map(str::to_string),
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
            .insert_event(tenant, account, event_type, payload, None, self.now)
    }

    /// Writes an outbox event as [`LedgerTx::enqueue_event`] does, only if an active
    /// endpoint of the tenant wants `event_type` (`payload` is made only then), with
    /// the `trace` of the request that caused it (each attempt sends it as
    /// `X-Request-Trace`). Returns the event id, or `None` when no endpoint wants it.
    ///
    /// # Errors
    /// Storage errors.
    pub fn enqueue_wanted_event(
        &mut self,
        tenant: &TenantId,
        account: Option<AccountId>,
        event_type: &str,
        payload: impl FnOnce() -> String,
        trace: Option<&str>,
    ) -> Result<Option<i64>, LedgerError> {
        if !self.backend.event_wanted(tenant, event_type)? {
            return Ok(None);
        }
        self.backend
            .insert_event(tenant, account, event_type, &payload(), trace, self.now)
            .map(Some)
    }

    fn account_row(
        &mut self,
        account: AccountId,
    ) -> Result<super::backend::AccountRow, LedgerError> {
        self.backend
            .account_for_update(account)?
            .ok_or(LedgerError::UnknownAccount(account.0))
    }

    /// Moves a bucket of `account` (see [`LedgerTx::post_on`]).
    fn post(
        &mut self,
        account: AccountId,
        bucket: Bucket,
        delta: i64,
        posting: &Posting,
    ) -> Result<PostedEntry, LedgerError> {
        let row = self.account_row(account)?;
        self.post_on(account, &row, bucket, delta, posting)
    }

    /// The one place where a balance changes: moves the bucket of `account` (read as
    /// `row` in this unit) by `delta` (never below zero or over the ceiling) and
    /// appends the chained entry.
    fn post_on(
        &mut self,
        account: AccountId,
        row: &AccountRow,
        bucket: Bucket,
        delta: i64,
        posting: &Posting,
    ) -> Result<PostedEntry, LedgerError> {
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
        let fields = EntryFields {
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
        };
        let hash = entry_hash(&prev_hash, &fields);
        let id = self.backend.append_entry(&NewEntry { fields, hash })?;
        Ok(PostedEntry {
            id,
            seq,
            amount: delta,
            balance_after,
            created_at: self.now.to_string(),
        })
    }
}

/// `t` (RFC 3339, any offset, fractions allowed) in the ledger's canonical form: UTC
/// with whole seconds, `2026-02-07T10:30:00Z`, so that stored times compare as text.
/// Fractions of a second are cut off.
///
/// # Errors
/// [`LedgerError::Invalid`] when `t` is not an RFC 3339 time.
pub fn canonical_time(t: &str) -> Result<String, LedgerError> {
    let ts: jiff::Timestamp = t
        .parse()
        .map_err(|e| LedgerError::Invalid(format!("{t:?} is not an RFC 3339 time: {e}")))?;
    Ok(ts.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
}

/// What [`LedgerTx::settle_due`] did, for the tenant's dialect to record in the same
/// unit of work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settled {
    /// A pending credit was posted.
    Posted {
        /// Its tenant.
        tenant: TenantId,
        /// The pending credit as it was before posting.
        pending: PendingRow,
        /// The credit of available (it opened the lot).
        credit: PostedEntry,
    },
    /// An expired hold was released.
    Released {
        /// Its tenant.
        tenant: TenantId,
        /// Its account.
        account: AccountId,
        /// Its id.
        hold_id: String,
        /// The hold as it was before the release.
        hold: HoldRow,
    },
    /// What was left of a lot expired.
    Expired {
        /// Its tenant.
        tenant: TenantId,
        /// The lot as it was before it expired.
        lot: LotRow,
        /// The `expire` entry (a debit of available).
        entry: PostedEntry,
    },
}

impl Settled {
    /// The tenant of the settled item.
    pub fn tenant(&self) -> &TenantId {
        match self {
            Settled::Posted { tenant, .. }
            | Settled::Released { tenant, .. }
            | Settled::Expired { tenant, .. } => tenant,
        }
    }
}

/// A kind of time-driven work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DueKind {
    /// Pending credits whose `pending_until` has come.
    Pending,
    /// Open holds past their expiry.
    Holds,
    /// Lots past their expiry with something left.
    Lots,
}

/// One item of time-driven work that has come due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DueItem {
    /// A pending credit, by id.
    Pending(i64),
    /// A hold: its account and id.
    Hold(AccountId, String),
    /// A lot, by id.
    Lot(i64),
}
