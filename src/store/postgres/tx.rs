//! The writer's transaction on PostgreSQL: [`PgTx`] implements the core's
//! [`LedgerBackend`] on one connection. Rows read "for update" are locked
//! (`SELECT … FOR UPDATE`) until the batch's transaction ends, and the chain head of a
//! tenant is its `tenants` row, locked the same way: several nodes writing to one
//! database never fork a chain and never lose an update. Nothing another node may
//! change is cached between transactions: only the ids of committed accounts, which
//! never change.

use std::any::Any;
use std::collections::HashMap;

use postgres::types::ToSql;
use postgres::{Client, Row, Statement};

use super::error;
use crate::ledger::backend::{
    AccountRow, ChainHead, EntryRow, HoldRow, HoldStatus, IdempotencyRecord, LedgerBackend, LotRow,
    LotUse, NewEntry, NewHold, PendingRow, PendingStatus, TenantRow,
};
use crate::ledger::hash::GENESIS;
use crate::ledger::{AccountId, Balances, Bucket, LedgerError, TenantId, TenantSpec};

/// One connection and its prepared statements.
pub struct PgConn {
    pub(crate) client: Client,
    statements: HashMap<&'static str, Statement>,
}

impl PgConn {
    /// Wraps `client`.
    pub(crate) fn new(client: Client) -> PgConn {
        PgConn {
            client,
            statements: HashMap::new(),
        }
    }

    fn stmt(&mut self, sql: &'static str) -> Result<Statement, LedgerError> {
        if let Some(s) = self.statements.get(sql) {
            return Ok(s.clone());
        }
        let s = self.client.prepare(sql).map_err(error)?;
        self.statements.insert(sql, s.clone());
        Ok(s)
    }

    /// Rows of `sql` (prepared once per connection).
    pub(crate) fn query(
        &mut self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, LedgerError> {
        let s = self.stmt(sql)?;
        self.client.query(&s, params).map_err(error)
    }

    /// The row of `sql`, if any.
    pub(crate) fn query_opt(
        &mut self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Row>, LedgerError> {
        let s = self.stmt(sql)?;
        self.client.query_opt(&s, params).map_err(error)
    }

    /// Runs `sql`; returns the rows it touched.
    pub(crate) fn execute(
        &mut self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<u64, LedgerError> {
        let s = self.stmt(sql)?;
        self.client.execute(&s, params).map_err(error)
    }
}

/// The writer's connection and what a batch tells the writer.
pub struct PgTx {
    pub(crate) conn: PgConn,
    /// Whether the batch wrote outbox events.
    pub(crate) events_written: bool,
    /// The highest outbox id the batch wrote (0: none).
    pub(crate) max_outbox_id: i64,
    /// The chain heads this transaction locked and advanced. Valid until the
    /// transaction ends (the rows stay locked meanwhile); written back to the tenant
    /// rows once, before COMMIT ([`PgTx::write_heads`]).
    heads: crate::store::ChainHeads,
    /// Heads advanced since the last [`PgTx::write_heads`].
    advanced: std::collections::BTreeSet<String>,
    /// Account ids by (tenant, holder), of accounts committed before the current
    /// transaction: an account is never deleted and never changes its tenant or
    /// holder, so its id may be remembered across transactions and nodes. At most
    /// [`ACCOUNT_IDS`] entries.
    account_ids: HashMap<(String, String), i64>,
    /// Ids found during the current transaction, remembered once it commits (a row
    /// inserted by this transaction is not committed until then).
    found_ids: Vec<((String, String), i64)>,
}

/// Most account ids the writer remembers (some 10 MB); past it, it starts over.
const ACCOUNT_IDS: usize = 100_000;

impl PgTx {
    pub(crate) fn new(client: Client) -> PgTx {
        PgTx {
            conn: PgConn::new(client),
            events_written: false,
            max_outbox_id: 0,
            heads: crate::store::ChainHeads::default(),
            advanced: std::collections::BTreeSet::new(),
            account_ids: HashMap::new(),
            found_ids: Vec::new(),
        }
    }

    /// Begins the batch's transaction and locks every tenant row (`SELECT … FOR
    /// UPDATE`, in id order), remembering their chain heads, in one round trip.
    ///
    /// Every batch, on every node sharing the database, takes the tenant rows first
    /// and in the same order before any other row: batches that would lock accounts
    /// in opposite orders (a deadlock, which PostgreSQL breaks by failing one whole
    /// batch) wait on the tenants instead. One batch at a time writes, cluster-wide:
    /// the chain heads serialize the batches of a tenant anyway.
    pub(crate) fn begin(&mut self) -> Result<(), LedgerError> {
        self.events_written = false;
        self.max_outbox_id = 0;
        self.heads.clear();
        self.advanced.clear();
        self.found_ids.clear();
        let messages = self
            .conn
            .client
            .simple_query(
                "BEGIN; SELECT id, head_seq, encode(head_hash, 'hex') FROM tenants
                 ORDER BY id FOR UPDATE",
            )
            .map_err(error)?;
        for message in messages {
            let postgres::SimpleQueryMessage::Row(row) = message else {
                continue;
            };
            let (Some(tenant), Some(seq)) = (row.get(0), row.get(1)) else {
                continue;
            };
            let malformed =
                || LedgerError::Invalid(format!("tenant {tenant}: malformed chain head"));
            // No hash yet: an empty chain.
            let (seq, hash) = match row.get(2) {
                None => (0, GENESIS),
                Some(hex) => (
                    seq.parse::<i64>().map_err(|_| malformed())?,
                    hex::decode(hex)
                        .ok()
                        .and_then(|h| <[u8; 32]>::try_from(h.as_slice()).ok())
                        .ok_or_else(malformed)?,
                ),
            };
            self.heads.advance(tenant.to_string(), seq, hash);
        }
        Ok(())
    }

    /// A new unit: its changes to the cached heads are the ones to undo.
    pub(crate) fn begin_unit(&mut self) {
        self.heads.begin_unit();
    }

    /// The unit's savepoint was rolled back: so are its heads (and the locks it took),
    /// and the account ids found since the batch began are not remembered (one of
    /// them may be of a row the unit inserted).
    pub(crate) fn rollback_unit(&mut self) {
        self.heads.rollback_unit();
        self.found_ids.clear();
    }

    /// The transaction committed: the account ids it found are of committed rows.
    pub(crate) fn committed(&mut self) {
        if self.account_ids.len() + self.found_ids.len() > ACCOUNT_IDS {
            self.account_ids.clear();
        }
        self.account_ids.extend(self.found_ids.drain(..));
    }

    /// Writes the advanced chain heads to their tenant rows (one statement per tenant
    /// per batch).
    pub(crate) fn write_heads(&mut self) -> Result<(), LedgerError> {
        for tenant in std::mem::take(&mut self.advanced) {
            if let Some((seq, hash)) = self.heads.get(&tenant) {
                self.conn.execute(
                    "UPDATE tenants SET head_seq = $2, head_hash = $3 WHERE id = $1",
                    &[&tenant, &seq, &&hash[..]],
                )?;
            }
        }
        Ok(())
    }
}

/// `u32` as the `bigint` PostgreSQL binds.
fn big(n: u32) -> i64 {
    i64::from(n)
}

fn lot_row(r: &Row) -> LotRow {
    LotRow {
        id: r.get(0),
        account: AccountId(r.get(1)),
        amount: r.get(2),
        remaining: r.get(3),
        expires_at: r.get(4),
    }
}

impl LedgerBackend for PgTx {
    fn tenant(&mut self, id: &TenantId) -> Result<Option<TenantRow>, LedgerError> {
        let row = self.conn.query_opt(
            "SELECT scale, mode, ceiling, lots FROM tenants WHERE id = $1",
            &[&id.as_str()],
        )?;
        Ok(row.map(|r| TenantRow {
            scale: u32::try_from(r.get::<_, i32>(0)).unwrap_or(0),
            mode: r.get(1),
            ceiling: r.get(2),
            lots: r.get(3),
        }))
    }

    fn insert_tenant(&mut self, spec: &TenantSpec, now: &str) -> Result<(), LedgerError> {
        let scale = i32::try_from(spec.scale).unwrap_or(i32::MAX);
        self.conn.execute(
            "INSERT INTO tenants (id, mode, scale, ceiling, lots, created_at)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING",
            &[
                &spec.id.as_str(),
                &spec.mode,
                &scale,
                &spec.ceiling,
                &spec.lots,
                &now,
            ],
        )?;
        Ok(())
    }

    fn set_ceiling(&mut self, id: &TenantId, ceiling: i64) -> Result<(), LedgerError> {
        self.conn.execute(
            "UPDATE tenants SET ceiling = $2 WHERE id = $1",
            &[&id.as_str(), &ceiling],
        )?;
        let s = self.conn.stmt(
            "UPDATE credit_accounts SET ceiling = $2 WHERE tenant_id = $1 AND ceiling <> $2",
        )?;
        self.conn
            .client
            .execute(&s, &[&id.as_str(), &ceiling])
            .map_err(|e| {
                if e.code() == Some(&postgres::error::SqlState::CHECK_VIOLATION) {
                    LedgerError::Invalid(format!(
                        "tenant {id}: some balances exceed the new ceiling {ceiling}"
                    ))
                } else {
                    error(e)
                }
            })?;
        Ok(())
    }

    fn find_account(
        &mut self,
        tenant: &TenantId,
        holder: &str,
    ) -> Result<Option<AccountId>, LedgerError> {
        let key = (tenant.as_str().to_string(), holder.to_string());
        if let Some(id) = self.account_ids.get(&key) {
            return Ok(Some(AccountId(*id)));
        }
        let row = self.conn.query_opt(
            "SELECT id FROM credit_accounts WHERE tenant_id = $1 AND holder = $2",
            &[&tenant.as_str(), &holder],
        )?;
        let id = row.map(|r| r.get::<_, i64>(0));
        if let Some(id) = id {
            self.found_ids.push((key, id));
        }
        Ok(id.map(AccountId))
    }

    fn insert_account(
        &mut self,
        tenant: &TenantId,
        holder: &str,
        ceiling: i64,
        now: &str,
    ) -> Result<AccountId, LedgerError> {
        // Another node may open the same account at the same time: the unique key
        // decides, and both get the one row.
        let row = self.conn.query_opt(
            "INSERT INTO credit_accounts (tenant_id, holder, ceiling, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $4) ON CONFLICT (tenant_id, holder) DO NOTHING
             RETURNING id",
            &[&tenant.as_str(), &holder, &ceiling, &now],
        )?;
        match row {
            Some(r) => Ok(AccountId(r.get(0))),
            None => self
                .find_account(tenant, holder)?
                .ok_or_else(|| LedgerError::Invalid(format!("account {holder:?} vanished"))),
        }
    }

    fn account_for_update(
        &mut self,
        account: AccountId,
    ) -> Result<Option<AccountRow>, LedgerError> {
        let row = self.conn.query_opt(
            "SELECT a.tenant_id, a.available, a.held, a.pending, a.ceiling, t.lots
             FROM credit_accounts a JOIN tenants t ON t.id = a.tenant_id
             WHERE a.id = $1 FOR UPDATE OF a",
            &[&account.0],
        )?;
        row.map(|r| {
            Ok(AccountRow {
                tenant: TenantId::new(r.get::<_, String>(0))?,
                balances: Balances {
                    available: r.get(1),
                    held: r.get(2),
                    pending: r.get(3),
                },
                ceiling: r.get(4),
                lots: r.get(5),
            })
        })
        .transpose()
    }

    fn set_balance(
        &mut self,
        account: AccountId,
        bucket: Bucket,
        balance: i64,
        now: &str,
    ) -> Result<(), LedgerError> {
        let sql = match bucket {
            Bucket::Available => {
                "UPDATE credit_accounts SET available = $2, updated_at = $3 WHERE id = $1"
            }
            Bucket::Held => "UPDATE credit_accounts SET held = $2, updated_at = $3 WHERE id = $1",
            Bucket::Pending => {
                "UPDATE credit_accounts SET pending = $2, updated_at = $3 WHERE id = $1"
            }
        };
        self.conn.execute(sql, &[&account.0, &balance, &now])?;
        Ok(())
    }

    fn chain_head_for_update(&mut self, tenant: &TenantId) -> Result<ChainHead, LedgerError> {
        if let Some(head) = self.heads.get(tenant.as_str()) {
            return Ok(head);
        }
        let row = self
            .conn
            .query_opt(
                "SELECT head_seq, head_hash FROM tenants WHERE id = $1 FOR UPDATE",
                &[&tenant.as_str()],
            )?
            .ok_or_else(|| LedgerError::UnknownTenant(tenant.to_string()))?;
        let seq: i64 = row.get(0);
        let head = match row.get::<_, Option<Vec<u8>>>(1) {
            None => (0, GENESIS),
            Some(hash) => (
                seq,
                <[u8; 32]>::try_from(hash.as_slice()).map_err(|_| {
                    LedgerError::Invalid(format!("tenant {tenant}: malformed chain head"))
                })?,
            ),
        };
        self.heads.advance(tenant.to_string(), head.0, head.1);
        Ok(head)
    }

    fn append_entry(&mut self, e: &NewEntry<'_>) -> Result<i64, LedgerError> {
        let f = &e.fields;
        let hash = &e.hash[..];
        let row = self.conn.query_opt(
            "INSERT INTO credit_transactions
               (tenant_id, seq, account_id, bucket, kind, amount, balance_after,
                ref_type, ref_id, note, actor, created_at, hash)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
             RETURNING id",
            &[
                &f.tenant_id,
                &f.seq,
                &f.account_id,
                &f.bucket,
                &f.kind,
                &f.amount,
                &f.balance_after,
                &f.ref_type,
                &f.ref_id,
                &f.note,
                &f.actor,
                &f.created_at,
                &hash,
            ],
        )?;
        self.heads.advance(f.tenant_id.to_string(), f.seq, e.hash);
        self.advanced.insert(f.tenant_id.to_string());
        row.map(|r| r.get(0))
            .ok_or_else(|| LedgerError::Invalid("the entry was not written".into()))
    }

    fn insert_hold(&mut self, h: &NewHold<'_>) -> Result<(), LedgerError> {
        self.conn.execute(
            "INSERT INTO holds
               (id, account_id, amount, status, ref_type, ref_id, created_at, expires_at, entry_id)
             VALUES ($1, $2, $3, 'open', $4, $5, $6, $7, $8)",
            &[
                &h.id,
                &h.account.0,
                &h.amount,
                &h.ref_type,
                &h.ref_id,
                &h.created_at,
                &h.expires_at,
                &h.entry_id,
            ],
        )?;
        Ok(())
    }

    fn hold_for_update(
        &mut self,
        account: AccountId,
        id: &str,
    ) -> Result<Option<HoldRow>, LedgerError> {
        let row = self.conn.query_opt(
            "SELECT amount, status, entry_id FROM holds WHERE account_id = $1 AND id = $2
             FOR UPDATE",
            &[&account.0, &id],
        )?;
        row.map(|r| {
            let status: String = r.get(1);
            let status = HoldStatus::parse(&status).ok_or_else(|| {
                LedgerError::Invalid(format!("hold {id:?} has status {status:?}"))
            })?;
            Ok(HoldRow {
                amount: r.get(0),
                status,
                entry_id: r.get(2),
            })
        })
        .transpose()
    }

    fn set_hold_status(
        &mut self,
        account: AccountId,
        id: &str,
        status: HoldStatus,
        now: &str,
    ) -> Result<(), LedgerError> {
        self.conn.execute(
            "UPDATE holds SET status = $3, resolved_at = $4 WHERE account_id = $1 AND id = $2",
            &[&account.0, &id, &status.as_str(), &now],
        )?;
        Ok(())
    }

    fn insert_lot(
        &mut self,
        account: AccountId,
        entry_id: i64,
        amount: i64,
        expires_at: Option<&str>,
        now: &str,
    ) -> Result<i64, LedgerError> {
        let row = self.conn.query_opt(
            "INSERT INTO lots (account_id, entry_id, amount, remaining, expires_at, created_at)
             VALUES ($1, $2, $3, $3, $4, $5) RETURNING id",
            &[&account.0, &entry_id, &amount, &expires_at, &now],
        )?;
        row.map(|r| r.get(0))
            .ok_or_else(|| LedgerError::Invalid("the lot was not written".into()))
    }

    fn open_lots_for_update(
        &mut self,
        account: AccountId,
        limit: u32,
    ) -> Result<Vec<LotRow>, LedgerError> {
        let rows = self.conn.query(
            "SELECT id, account_id, amount, remaining, expires_at FROM lots
             WHERE account_id = $1 AND remaining > 0
             ORDER BY expires_at IS NULL, expires_at, id LIMIT $2 FOR UPDATE",
            &[&account.0, &big(limit)],
        )?;
        Ok(rows.iter().map(lot_row).collect())
    }

    fn lot_for_update(&mut self, lot: i64) -> Result<Option<LotRow>, LedgerError> {
        let row = self.conn.query_opt(
            "SELECT id, account_id, amount, remaining, expires_at FROM lots WHERE id = $1
             FOR UPDATE",
            &[&lot],
        )?;
        Ok(row.as_ref().map(lot_row))
    }

    fn set_lot_remaining(&mut self, lot: i64, remaining: i64) -> Result<(), LedgerError> {
        self.conn.execute(
            "UPDATE lots SET remaining = $2 WHERE id = $1",
            &[&lot, &remaining],
        )?;
        Ok(())
    }

    fn set_lot_expiry(&mut self, lot: i64, expires_at: Option<&str>) -> Result<(), LedgerError> {
        self.conn.execute(
            "UPDATE lots SET expires_at = $2 WHERE id = $1",
            &[&lot, &expires_at],
        )?;
        Ok(())
    }

    fn insert_lot_use(&mut self, entry_id: i64, lot: i64, amount: i64) -> Result<(), LedgerError> {
        self.conn.execute(
            "INSERT INTO lot_uses (entry_id, lot_id, amount) VALUES ($1, $2, $3)",
            &[&entry_id, &lot, &amount],
        )?;
        Ok(())
    }

    fn lot_uses_for_update(&mut self, entry_id: i64) -> Result<Vec<LotUse>, LedgerError> {
        let rows = self.conn.query(
            "SELECT lot_id, amount, restored_by FROM lot_uses WHERE entry_id = $1
             ORDER BY lot_id FOR UPDATE",
            &[&entry_id],
        )?;
        Ok(rows
            .iter()
            .map(|r| LotUse {
                lot: r.get(0),
                amount: r.get(1),
                restored_by: r.get(2),
            })
            .collect())
    }

    fn mark_lot_uses_restored(&mut self, entry_id: i64, reversal: i64) -> Result<(), LedgerError> {
        self.conn.execute(
            "UPDATE lot_uses SET restored_by = $2 WHERE entry_id = $1",
            &[&entry_id, &reversal],
        )?;
        Ok(())
    }

    fn lot_of_entry_for_update(&mut self, entry_id: i64) -> Result<Option<LotRow>, LedgerError> {
        let row = self.conn.query_opt(
            "SELECT id, account_id, amount, remaining, expires_at FROM lots WHERE entry_id = $1
             FOR UPDATE",
            &[&entry_id],
        )?;
        Ok(row.as_ref().map(lot_row))
    }

    fn lots_due(&mut self, now: &str, limit: u32, offset: u32) -> Result<Vec<LotRow>, LedgerError> {
        let rows = self.conn.query(
            "SELECT id, account_id, amount, remaining, expires_at FROM lots
             WHERE remaining > 0 AND expires_at IS NOT NULL AND expires_at <= $1
             ORDER BY expires_at, id LIMIT $2 OFFSET $3",
            &[&now, &big(limit), &big(offset)],
        )?;
        Ok(rows.iter().map(lot_row).collect())
    }

    fn insert_pending(
        &mut self,
        p: &PendingRow,
        entry_id: i64,
        now: &str,
    ) -> Result<i64, LedgerError> {
        let row = self.conn.query_opt(
            "INSERT INTO pending_credits
               (account_id, amount, pending_until, lot_expires_at, status, entry_id,
                ref_type, ref_id, created_at)
             VALUES ($1, $2, $3, $4, 'pending', $5, $6, $7, $8) RETURNING id",
            &[
                &p.account.0,
                &p.amount,
                &p.pending_until,
                &p.lot_expires_at,
                &entry_id,
                &p.ref_type,
                &p.ref_id,
                &now,
            ],
        )?;
        row.map(|r| r.get(0))
            .ok_or_else(|| LedgerError::Invalid("the pending credit was not written".into()))
    }

    fn pending_for_update(&mut self, id: i64) -> Result<Option<PendingRow>, LedgerError> {
        let row = self.conn.query_opt(
            "SELECT id, account_id, amount, pending_until, lot_expires_at, status, ref_type, ref_id
             FROM pending_credits WHERE id = $1 FOR UPDATE",
            &[&id],
        )?;
        row.map(|r| {
            let status: String = r.get(5);
            Ok(PendingRow {
                id: r.get(0),
                account: AccountId(r.get(1)),
                amount: r.get(2),
                pending_until: r.get(3),
                lot_expires_at: r.get(4),
                status: PendingStatus::parse(&status).ok_or_else(|| {
                    LedgerError::Invalid(format!("pending credit {id} has status {status:?}"))
                })?,
                ref_type: r.get(6),
                ref_id: r.get(7),
            })
        })
        .transpose()
    }

    fn settle_pending(
        &mut self,
        id: i64,
        status: PendingStatus,
        entry_id: i64,
        now: &str,
    ) -> Result<(), LedgerError> {
        self.conn.execute(
            "UPDATE pending_credits SET status = $2, settled_entry = $3, settled_at = $4
             WHERE id = $1",
            &[&id, &status.as_str(), &entry_id, &now],
        )?;
        Ok(())
    }

    fn pending_due(&mut self, now: &str, limit: u32, offset: u32) -> Result<Vec<i64>, LedgerError> {
        let rows = self.conn.query(
            "SELECT id FROM pending_credits WHERE status = 'pending' AND pending_until <= $1
             ORDER BY pending_until, id LIMIT $2 OFFSET $3",
            &[&now, &big(limit), &big(offset)],
        )?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    fn holds_due(
        &mut self,
        now: &str,
        limit: u32,
        offset: u32,
    ) -> Result<Vec<(AccountId, String)>, LedgerError> {
        let rows = self.conn.query(
            "SELECT account_id, id FROM holds
             WHERE status = 'open' AND expires_at IS NOT NULL AND expires_at <= $1
             ORDER BY expires_at, account_id, id LIMIT $2 OFFSET $3",
            &[&now, &big(limit), &big(offset)],
        )?;
        Ok(rows
            .iter()
            .map(|r| (AccountId(r.get(0)), r.get(1)))
            .collect())
    }

    fn entry(&mut self, id: i64) -> Result<Option<EntryRow>, LedgerError> {
        let row = self.conn.query_opt(
            "SELECT account_id, bucket, amount FROM credit_transactions WHERE id = $1",
            &[&id],
        )?;
        row.map(|r| {
            let bucket: String = r.get(1);
            Ok(EntryRow {
                account: AccountId(r.get(0)),
                bucket: Bucket::parse(&bucket).ok_or_else(|| {
                    LedgerError::Invalid(format!("entry {id} has bucket {bucket:?}"))
                })?,
                amount: r.get(2),
            })
        })
        .transpose()
    }

    fn reversal_of(&mut self, id: i64) -> Result<Option<i64>, LedgerError> {
        let row = self.conn.query_opt(
            "SELECT reversal_id FROM reversals WHERE entry_id = $1 FOR UPDATE",
            &[&id],
        )?;
        Ok(row.map(|r| r.get(0)))
    }

    fn insert_reversal(&mut self, id: i64, reversal: i64) -> Result<(), LedgerError> {
        self.conn.execute(
            "INSERT INTO reversals (entry_id, reversal_id) VALUES ($1, $2)",
            &[&id, &reversal],
        )?;
        Ok(())
    }

    fn funds_hold(&mut self, id: i64) -> Result<bool, LedgerError> {
        Ok(self
            .conn
            .query_opt("SELECT 1 FROM holds WHERE entry_id = $1 LIMIT 1", &[&id])?
            .is_some())
    }

    fn idempotency_get(
        &mut self,
        scope: &str,
        key: &str,
    ) -> Result<Option<IdempotencyRecord>, LedgerError> {
        let row = self.conn.query_opt(
            "SELECT fingerprint, status, response, created_at, expires_at FROM idempotency_keys
             WHERE scope = $1 AND key = $2 FOR UPDATE",
            &[&scope, &key],
        )?;
        Ok(row.map(|r| IdempotencyRecord {
            scope: scope.to_string(),
            key: key.to_string(),
            fingerprint: r.get(0),
            status: u16::try_from(r.get::<_, i32>(1)).unwrap_or(0),
            body: r.get(2),
            created_at: r.get(3),
            expires_at: r.get(4),
        }))
    }

    fn idempotency_put(&mut self, r: &IdempotencyRecord) -> Result<(), LedgerError> {
        self.conn.execute(
            "INSERT INTO idempotency_keys
               (scope, key, fingerprint, status, response, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[
                &r.scope,
                &r.key,
                &r.fingerprint,
                &i32::from(r.status),
                &r.body,
                &r.created_at,
                &r.expires_at,
            ],
        )?;
        Ok(())
    }

    fn idempotency_sweep(&mut self, now: &str, limit: u32) -> Result<u64, LedgerError> {
        // SKIP LOCKED: nodes sweeping at once take different records.
        self.conn.execute(
            "DELETE FROM idempotency_keys WHERE ctid IN (
               SELECT ctid FROM idempotency_keys
               WHERE expires_at IS NOT NULL AND expires_at <= $1
               LIMIT $2 FOR UPDATE SKIP LOCKED)",
            &[&now, &big(limit)],
        )
    }

    fn insert_event(
        &mut self,
        tenant: &TenantId,
        account: Option<AccountId>,
        event_type: &str,
        payload: &str,
        trace: Option<&str>,
        now: &str,
    ) -> Result<i64, LedgerError> {
        let account = account.map(|a| a.0);
        let id: i64 = self
            .conn
            .query_opt(
                "INSERT INTO outbox (tenant_id, account_id, event_type, payload, created_at, trace)
                 VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                &[
                    &tenant.as_str(),
                    &account,
                    &event_type,
                    &payload,
                    &now,
                    &trace,
                ],
            )?
            .map(|r| r.get(0))
            .ok_or_else(|| LedgerError::Invalid("the event was not written".into()))?;
        // One delivery per active endpoint of the tenant that wants the event; one
        // without an endpoint ('') when none does, so that it shows as a dead letter.
        let due = jiff::Timestamp::now().as_millisecond();
        let written = self.conn.execute(
            "INSERT INTO webhook_deliveries
               (outbox_id, endpoint_id, tenant_id, account_id, status, attempts,
                next_attempt_at, updated_at)
             SELECT $1, e.id, $2, $3, 'pending', 0, $4, $5 FROM webhook_endpoints e
             WHERE e.tenant_id = $2 AND e.active
               AND (e.events = '*' OR $6 = ANY (string_to_array(e.events, ',')))",
            &[&id, &tenant.as_str(), &account, &due, &now, &event_type],
        )?;
        if written == 0 {
            self.conn.execute(
                "INSERT INTO webhook_deliveries
                   (outbox_id, endpoint_id, tenant_id, account_id, status, attempts,
                    next_attempt_at, updated_at)
                 VALUES ($1, '', $2, $3, 'pending', 0, $4, $5)",
                &[&id, &tenant.as_str(), &account, &due, &now],
            )?;
        }
        self.events_written = true;
        self.max_outbox_id = self.max_outbox_id.max(id);
        Ok(id)
    }

    fn event_wanted(&mut self, tenant: &TenantId, event_type: &str) -> Result<bool, LedgerError> {
        Ok(self
            .conn
            .query_opt(
                "SELECT 1 FROM webhook_endpoints
                 WHERE tenant_id = $1 AND active
                   AND (events = '*' OR $2 = ANY (string_to_array(events, ',')))
                 LIMIT 1",
                &[&tenant.as_str(), &event_type],
            )?
            .is_some())
    }

    fn as_any(&mut self) -> &mut dyn Any {
        self
    }
}
