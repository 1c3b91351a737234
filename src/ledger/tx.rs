//! `LedgerTx`: what a unit of work may do inside the writer's transaction.

use std::collections::HashMap;

use rusqlite::{params, Connection, OptionalExtension};

use super::hash::{entry_hash, EntryFields, GENESIS};
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

/// The descriptive part of an entry: what kind of movement, what it refers to, who did
/// it. `kind` is the spec's transaction type (`starter`, `purchase`, `refund`, `grant`,
/// `reward`, `deduction`, …); the core does not interpret it.
#[derive(Debug, Clone, Default)]
pub struct Posting {
    /// Transaction type.
    pub kind: String,
    /// What the entry refers to (`template`, `hold`, …).
    pub ref_type: Option<String>,
    /// The id of what it refers to (template name, hold id, …).
    pub ref_id: Option<String>,
    /// Human-readable description.
    pub note: Option<String>,
    /// Who caused it: `peer:<id>`, `admin`, `system`, a tenant key label.
    pub actor: String,
}

impl Posting {
    /// A posting of `kind` by `actor` with no reference or note.
    pub fn new(kind: impl Into<String>, actor: impl Into<String>) -> Posting {
        Posting {
            kind: kind.into(),
            actor: actor.into(),
            ..Posting::default()
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

struct AccountRow {
    tenant_id: String,
    balance: i64,
    ceiling: i64,
}

/// The transaction a unit of work runs in. Every method writes within the unit's
/// savepoint; nothing is visible to readers before the batch commits.
pub struct LedgerTx<'c> {
    conn: &'c Connection,
    now: &'c str,
    state: &'c mut BatchState,
}

/// What the writer carries from unit to unit: the chain heads, and whether the batch
/// wrote outbox events (so that the dispatcher is woken after the commit).
#[derive(Debug, Default)]
pub(crate) struct BatchState {
    pub(crate) heads: ChainHeads,
    pub(crate) events_written: bool,
    /// The highest outbox id the batch wrote (0: none).
    pub(crate) max_outbox_id: i64,
}

impl<'c> LedgerTx<'c> {
    pub(crate) fn new(
        conn: &'c Connection,
        now: &'c str,
        state: &'c mut BatchState,
    ) -> LedgerTx<'c> {
        LedgerTx { conn, now, state }
    }

    /// The batch's timestamp (RFC 3339 UTC, seconds): every entry of a batch carries it.
    pub fn now(&self) -> &str {
        self.now
    }

    /// The connection, for tables outside the money tables (registrations, peers,
    /// template ownership, promo codes, …). Balances, entries, holds, lots, idempotency
    /// records and the outbox must only be changed through the methods of `LedgerTx`.
    pub fn conn(&self) -> &Connection {
        self.conn
    }

    pub(crate) fn ensure_tenant(&mut self, spec: &TenantSpec) -> Result<(), LedgerError> {
        let existing: Option<(u32, String)> = self
            .conn
            .query_row(
                "SELECT scale, mode FROM tenants WHERE id = ?1",
                [spec.id.as_str()],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        match existing {
            Some((scale, mode)) if scale == spec.scale && mode == spec.mode => {
                self.conn.execute(
                    "UPDATE tenants SET ceiling = ?2 WHERE id = ?1",
                    params![spec.id.as_str(), spec.ceiling],
                )?;
                // Accounts carry the ceiling for their CHECK constraint.
                self.conn
                    .execute(
                        "UPDATE credit_accounts SET ceiling = ?2 WHERE tenant_id = ?1 AND ceiling <> ?2",
                        params![spec.id.as_str(), spec.ceiling],
                    )
                    .map_err(|e| match e.sqlite_error_code() {
                        Some(rusqlite::ErrorCode::ConstraintViolation) => LedgerError::Invalid(format!(
                            "tenant {}: some balances exceed the new ceiling {}",
                            spec.id, spec.ceiling
                        )),
                        _ => LedgerError::Storage(e),
                    })?;
                Ok(())
            }
            Some((existing_scale, existing_mode)) => Err(LedgerError::TenantMismatch {
                id: spec.id.to_string(),
                existing_scale,
                existing_mode,
            }),
            None => {
                self.conn.execute(
                    "INSERT INTO tenants (id, mode, scale, ceiling, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![spec.id.as_str(), spec.mode, spec.scale, spec.ceiling, self.now],
                )?;
                Ok(())
            }
        }
    }

    /// The account of `holder` in `tenant`, if it exists.
    ///
    /// # Errors
    /// Storage errors.
    pub fn find_account(
        &self,
        tenant: &TenantId,
        holder: &str,
    ) -> Result<Option<AccountId>, LedgerError> {
        Ok(self
            .conn
            .prepare_cached("SELECT id FROM credit_accounts WHERE tenant_id = ?1 AND holder = ?2")?
            .query_row(params![tenant.as_str(), holder], |r| r.get(0))
            .optional()?
            .map(AccountId))
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
        if let Some(id) = self.find_account(tenant, holder)? {
            return Ok(id);
        }
        if holder.is_empty() || holder.len() > 256 {
            return Err(LedgerError::Invalid(
                "account holder must be 1 to 256 bytes".into(),
            ));
        }
        let ceiling: i64 = self
            .conn
            .prepare_cached("SELECT ceiling FROM tenants WHERE id = ?1")?
            .query_row([tenant.as_str()], |r| r.get(0))
            .optional()?
            .ok_or_else(|| LedgerError::UnknownTenant(tenant.to_string()))?;
        self.conn
            .prepare_cached(
                "INSERT INTO credit_accounts (tenant_id, holder, ceiling, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?4)",
            )?
            .execute(params![tenant.as_str(), holder, ceiling, self.now])?;
        Ok(AccountId(self.conn.last_insert_rowid()))
    }

    /// The balances of `account`.
    ///
    /// # Errors
    /// [`LedgerError::UnknownAccount`], storage errors.
    pub fn balances(&self, account: AccountId) -> Result<Balances, LedgerError> {
        self.conn
            .prepare_cached("SELECT available, held, pending FROM credit_accounts WHERE id = ?1")?
            .query_row([account.0], |r| {
                Ok(Balances {
                    available: r.get(0)?,
                    held: r.get(1)?,
                    pending: r.get(2)?,
                })
            })
            .optional()?
            .ok_or(LedgerError::UnknownAccount(account.0))
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
        let from_tenant = self.account_row(from, Bucket::Available)?.tenant_id;
        let to_tenant = self.account_row(to, Bucket::Available)?.tenant_id;
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
        let exists: bool = self
            .conn
            .prepare_cached("SELECT 1 FROM holds WHERE account_id = ?1 AND id = ?2")?
            .exists(params![account.0, hold_id])?;
        if exists {
            return Err(LedgerError::Invalid(format!(
                "hold {hold_id:?} already exists"
            )));
        }
        let out = self.post(account, Bucket::Available, -amount.minor(), posting)?;
        let into = self.post(account, Bucket::Held, amount.minor(), posting)?;
        self.conn
            .prepare_cached(
                "INSERT INTO holds (id, account_id, amount, status, ref_type, ref_id, created_at)
                 VALUES (?1, ?2, ?3, 'open', ?4, ?5, ?6)",
            )?
            .execute(params![
                hold_id,
                account.0,
                amount.minor(),
                posting.ref_type,
                posting.ref_id,
                self.now
            ])?;
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
        let amount = self.resolve_hold(account, hold_id, "released")?;
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
        let amount = self.resolve_hold(account, hold_id, "captured")?;
        self.post(account, Bucket::Held, -amount, posting)
    }

    /// Marks `account`'s open hold `hold_id` as `to`; returns its amount.
    fn resolve_hold(
        &mut self,
        account: AccountId,
        hold_id: &str,
        to: &str,
    ) -> Result<i64, LedgerError> {
        let (amount, status): (i64, String) = self
            .conn
            .prepare_cached("SELECT amount, status FROM holds WHERE account_id = ?1 AND id = ?2")?
            .query_row(params![account.0, hold_id], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?
            .ok_or_else(|| LedgerError::UnknownHold(hold_id.to_string()))?;
        if status != "open" {
            return Err(LedgerError::HoldNotOpen {
                id: hold_id.to_string(),
                status,
            });
        }
        self.conn
            .prepare_cached(
                "UPDATE holds SET status = ?3, resolved_at = ?4 WHERE account_id = ?1 AND id = ?2",
            )?
            .execute(params![account.0, hold_id, to, self.now])?;
        Ok(amount)
    }

    /// Looks up an idempotency record. `Ok(Some)` is a replay: return the stored
    /// response and do nothing else. `Ok(None)`: first use, go on and call
    /// [`LedgerTx::idempotency_store`] in the same unit.
    ///
    /// # Errors
    /// [`LedgerError::IdempotencyMismatch`] when the key was used with another
    /// `fingerprint`; storage errors.
    pub fn idempotency_lookup(
        &self,
        scope: &str,
        key: &str,
        fingerprint: &str,
    ) -> Result<Option<StoredResponse>, LedgerError> {
        let row: Option<(String, u16, String)> = self
            .conn
            .prepare_cached(
                "SELECT fingerprint, status, response FROM idempotency_keys WHERE scope = ?1 AND key = ?2",
            )?
            .query_row(params![scope, key], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .optional()?;
        match row {
            None => Ok(None),
            Some((stored, status, body)) if stored == fingerprint => {
                Ok(Some(StoredResponse { status, body }))
            }
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
        self.conn
            .prepare_cached(
                "INSERT INTO idempotency_keys (scope, key, fingerprint, status, response, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![
                scope,
                key,
                fingerprint,
                response.status,
                response.body,
                self.now
            ])?;
        Ok(())
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
        self.conn
            .prepare_cached(
                "INSERT INTO outbox (tenant_id, account_id, event_type, payload, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![
                tenant.as_str(),
                account.map(|a| a.0),
                event_type,
                payload,
                self.now
            ])?;
        let id = self.conn.last_insert_rowid();
        self.conn
            .prepare_cached(
                "INSERT INTO webhook_deliveries
                   (outbox_id, tenant_id, account_id, status, attempts, next_attempt_at, updated_at)
                 VALUES (?1, ?2, ?3, 'pending', 0, ?4, ?5)",
            )?
            .execute(params![
                id,
                tenant.as_str(),
                account.map(|a| a.0),
                jiff::Timestamp::now().as_millisecond(),
                self.now
            ])?;
        self.state.events_written = true;
        self.state.max_outbox_id = self.state.max_outbox_id.max(id);
        Ok(id)
    }

    fn account_row(&self, account: AccountId, bucket: Bucket) -> Result<AccountRow, LedgerError> {
        let sql = match bucket {
            Bucket::Available => {
                "SELECT tenant_id, available, ceiling FROM credit_accounts WHERE id = ?1"
            }
            Bucket::Held => "SELECT tenant_id, held, ceiling FROM credit_accounts WHERE id = ?1",
            Bucket::Pending => {
                "SELECT tenant_id, pending, ceiling FROM credit_accounts WHERE id = ?1"
            }
        };
        self.conn
            .prepare_cached(sql)?
            .query_row([account.0], |r| {
                Ok(AccountRow {
                    tenant_id: r.get(0)?,
                    balance: r.get(1)?,
                    ceiling: r.get(2)?,
                })
            })
            .optional()?
            .ok_or(LedgerError::UnknownAccount(account.0))
    }

    /// The one place where a balance changes: moves the bucket by `delta` (guarded so
    /// that it never goes below zero or over the ceiling) and appends the chained
    /// entry.
    fn post(
        &mut self,
        account: AccountId,
        bucket: Bucket,
        delta: i64,
        posting: &Posting,
    ) -> Result<PostedEntry, LedgerError> {
        let row = self.account_row(account, bucket)?;
        let balance_after = match row.balance.checked_add(delta) {
            Some(b) if (0..=row.ceiling).contains(&b) => b,
            _ => return Err(self.refusal(account, bucket, delta)),
        };
        let update = match bucket {
            Bucket::Available => {
                "UPDATE credit_accounts SET available = ?2, updated_at = ?3 WHERE id = ?1"
            }
            Bucket::Held => "UPDATE credit_accounts SET held = ?2, updated_at = ?3 WHERE id = ?1",
            Bucket::Pending => {
                "UPDATE credit_accounts SET pending = ?2, updated_at = ?3 WHERE id = ?1"
            }
        };
        self.conn
            .prepare_cached(update)?
            .execute(params![account.0, balance_after, self.now])?;
        let tenant_id = row.tenant_id;
        let (prev_seq, prev_hash) = self.chain_head(&tenant_id)?;
        let seq = prev_seq + 1;
        let hash = entry_hash(
            &prev_hash,
            &EntryFields {
                tenant_id: &tenant_id,
                seq,
                account_id: account.0,
                bucket: bucket.as_str(),
                kind: &posting.kind,
                amount: delta,
                balance_after,
                ref_type: posting.ref_type.as_deref(),
                ref_id: posting.ref_id.as_deref(),
                note: posting.note.as_deref(),
                actor: &posting.actor,
                created_at: self.now,
            },
        );
        self.conn
            .prepare_cached(
                "INSERT INTO credit_transactions
                   (tenant_id, seq, account_id, bucket, kind, amount, balance_after,
                    ref_type, ref_id, note, actor, created_at, hash)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
            )?
            .execute(params![
                tenant_id,
                seq,
                account.0,
                bucket.as_str(),
                posting.kind,
                delta,
                balance_after,
                posting.ref_type,
                posting.ref_id,
                posting.note,
                posting.actor,
                self.now,
                &hash[..],
            ])?;
        let id = self.conn.last_insert_rowid();
        self.state.heads.advance(tenant_id, seq, hash);
        Ok(PostedEntry {
            id,
            seq,
            amount: delta,
            balance_after,
            created_at: self.now.to_string(),
        })
    }

    /// Why a guarded update moved nothing: unknown account, too little, or too much.
    fn refusal(&self, account: AccountId, bucket: Bucket, delta: i64) -> LedgerError {
        match self.account_row(account, bucket) {
            Err(e) => e,
            Ok(row) if delta < 0 => LedgerError::InsufficientFunds {
                available: row.balance,
                required: -delta,
            },
            Ok(row) => LedgerError::CeilingExceeded {
                balance: row.balance,
                amount: delta,
                ceiling: row.ceiling,
            },
        }
    }

    /// The last (seq, hash) of `tenant`'s chain: from the writer's cache, else from
    /// the table.
    fn chain_head(&mut self, tenant_id: &str) -> Result<(i64, [u8; 32]), LedgerError> {
        if let Some(head) = self.state.heads.get(tenant_id) {
            return Ok(head);
        }
        let head: Option<(i64, Vec<u8>)> = self
            .conn
            .prepare_cached(
                "SELECT seq, hash FROM credit_transactions WHERE tenant_id = ?1 ORDER BY seq DESC LIMIT 1",
            )?
            .query_row([tenant_id], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        match head {
            Some((seq, hash)) => Ok((
                seq,
                <[u8; 32]>::try_from(hash.as_slice()).map_err(|_| {
                    LedgerError::Invalid(format!("entry {seq} has a malformed hash"))
                })?,
            )),
            None => Ok((0, GENESIS)),
        }
    }
}

/// The writer's cache of each tenant's chain head, so that appending an entry needs
/// no lookup. A unit's changes are undone when its savepoint rolls back; the whole
/// cache is dropped when a batch fails or another connection wrote to the file.
#[derive(Debug, Default)]
pub(crate) struct ChainHeads {
    heads: HashMap<String, ChainHead>,
    undo: Vec<(String, Option<ChainHead>)>,
}

/// The (seq, hash) of a tenant's last entry.
type ChainHead = (i64, [u8; 32]);

impl ChainHeads {
    fn get(&self, tenant: &str) -> Option<(i64, [u8; 32])> {
        self.heads.get(tenant).copied()
    }

    fn advance(&mut self, tenant: String, seq: i64, hash: [u8; 32]) {
        let previous = self.heads.insert(tenant.clone(), (seq, hash));
        self.undo.push((tenant, previous));
    }

    /// Starts a unit: its changes are the ones to undo on rollback.
    pub(crate) fn begin_unit(&mut self) {
        self.undo.clear();
    }

    /// Undoes the current unit's changes (its savepoint was rolled back).
    pub(crate) fn rollback_unit(&mut self) {
        while let Some((tenant, previous)) = self.undo.pop() {
            match previous {
                Some(head) => self.heads.insert(tenant, head),
                None => self.heads.remove(&tenant),
            };
        }
    }

    /// Forgets everything (the batch failed, or the file changed under us).
    pub(crate) fn clear(&mut self) {
        self.heads.clear();
        self.undo.clear();
    }
}
