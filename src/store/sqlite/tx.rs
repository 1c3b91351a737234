//! The writer's transaction: [`SqliteTx`] implements the core's [`LedgerBackend`] on
//! the single write connection.

use std::any::Any;
use std::collections::HashMap;

use rusqlite::{params, Connection, OptionalExtension};

use crate::ledger::backend::{
    AccountRow, ChainHead, EntryRow, HoldRow, HoldStatus, IdempotencyRecord, LedgerBackend, LotRow,
    LotUse, NewEntry, NewHold, PendingRow, PendingStatus, TenantRow,
};
use crate::ledger::hash::GENESIS;
use crate::ledger::{AccountId, Balances, Bucket, LedgerError, TenantId, TenantSpec};

/// The write connection and what the writer carries from unit to unit: the chain
/// heads, and what the batch wrote to the outbox (so that the dispatcher is woken
/// after the commit).
pub struct SqliteTx {
    pub(crate) conn: Connection,
    pub(crate) heads: crate::store::ChainHeads,
    /// Whether each tenant keeps lots (tenant rows change only through this writer;
    /// dropped with the chain heads when another connection wrote).
    pub(crate) tenant_lots: HashMap<String, bool>,
    /// Whether the batch wrote outbox events.
    pub(crate) events_written: bool,
    /// The highest outbox id the batch wrote (0: none).
    pub(crate) max_outbox_id: i64,
}

impl SqliteTx {
    pub(crate) fn new(conn: Connection) -> SqliteTx {
        SqliteTx {
            conn,
            heads: crate::store::ChainHeads::default(),
            tenant_lots: HashMap::new(),
            events_written: false,
            max_outbox_id: 0,
        }
    }

    /// The connection, for the repositories of this backend.
    pub(crate) fn conn(&self) -> &Connection {
        &self.conn
    }

    /// Forgets the cached chain heads and tenant flags (the file changed under us, or a
    /// batch failed).
    pub(crate) fn forget_cache(&mut self) {
        self.heads.clear();
        self.tenant_lots.clear();
    }

    fn tenant_keeps_lots(&mut self, tenant: &str) -> Result<bool, LedgerError> {
        if let Some(lots) = self.tenant_lots.get(tenant) {
            return Ok(*lots);
        }
        let lots: bool = self
            .conn
            .prepare_cached("SELECT lots FROM tenants WHERE id = ?1")?
            .query_row([tenant], |r| r.get(0))?;
        self.tenant_lots.insert(tenant.to_string(), lots);
        Ok(lots)
    }
}

pub(super) fn lot_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<LotRow> {
    Ok(LotRow {
        id: r.get(0)?,
        account: AccountId(r.get(1)?),
        amount: r.get(2)?,
        remaining: r.get(3)?,
        expires_at: r.get(4)?,
    })
}

pub(super) const LOT_COLUMNS: &str = "id, account_id, amount, remaining, expires_at";

fn bucket_sql(bucket: Bucket) -> &'static str {
    match bucket {
        Bucket::Available => {
            "UPDATE credit_accounts SET available = ?2, updated_at = ?3 WHERE id = ?1"
        }
        Bucket::Held => "UPDATE credit_accounts SET held = ?2, updated_at = ?3 WHERE id = ?1",
        Bucket::Pending => "UPDATE credit_accounts SET pending = ?2, updated_at = ?3 WHERE id = ?1",
    }
}

impl LedgerBackend for SqliteTx {
    fn tenant(&mut self, id: &TenantId) -> Result<Option<TenantRow>, LedgerError> {
        Ok(self
            .conn
            .prepare_cached("SELECT scale, mode, ceiling, lots FROM tenants WHERE id = ?1")?
            .query_row([id.as_str()], |r| {
                Ok(TenantRow {
                    scale: r.get(0)?,
                    mode: r.get(1)?,
                    ceiling: r.get(2)?,
                    lots: r.get(3)?,
                })
            })
            .optional()?)
    }

    fn insert_tenant(&mut self, spec: &TenantSpec, now: &str) -> Result<(), LedgerError> {
        self.conn.execute(
            "INSERT INTO tenants (id, mode, scale, ceiling, lots, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                spec.id.as_str(),
                spec.mode,
                spec.scale,
                spec.ceiling,
                spec.lots,
                now
            ],
        )?;
        self.tenant_lots.remove(spec.id.as_str());
        Ok(())
    }

    fn set_ceiling(&mut self, id: &TenantId, ceiling: i64) -> Result<(), LedgerError> {
        self.conn.execute(
            "UPDATE tenants SET ceiling = ?2 WHERE id = ?1",
            params![id.as_str(), ceiling],
        )?;
        // Accounts carry the ceiling for their CHECK constraint.
        self.conn
            .execute(
                "UPDATE credit_accounts SET ceiling = ?2 WHERE tenant_id = ?1 AND ceiling <> ?2",
                params![id.as_str(), ceiling],
            )
            .map_err(|e| match e.sqlite_error_code() {
                Some(rusqlite::ErrorCode::ConstraintViolation) => LedgerError::Invalid(format!(
                    "tenant {id}: some balances exceed the new ceiling {ceiling}"
                )),
                _ => LedgerError::from(e),
            })?;
        Ok(())
    }

    fn find_account(
        &mut self,
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

    fn insert_account(
        &mut self,
        tenant: &TenantId,
        holder: &str,
        ceiling: i64,
        now: &str,
    ) -> Result<AccountId, LedgerError> {
        self.conn
            .prepare_cached(
                "INSERT INTO credit_accounts (tenant_id, holder, ceiling, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?4)",
            )?
            .execute(params![tenant.as_str(), holder, ceiling, now])?;
        Ok(AccountId(self.conn.last_insert_rowid()))
    }

    fn account_for_update(
        &mut self,
        account: AccountId,
    ) -> Result<Option<AccountRow>, LedgerError> {
        // The writer holds the only write lock (BEGIN IMMEDIATE): rows read here cannot
        // change under the unit.
        let row: Option<(String, Balances, i64)> = self
            .conn
            .prepare_cached(
                "SELECT tenant_id, available, held, pending, ceiling FROM credit_accounts WHERE id = ?1",
            )?
            .query_row([account.0], |r| {
                Ok((
                    r.get(0)?,
                    Balances {
                        available: r.get(1)?,
                        held: r.get(2)?,
                        pending: r.get(3)?,
                    },
                    r.get(4)?,
                ))
            })
            .optional()?;
        row.map(|(tenant, balances, ceiling)| {
            let lots = self.tenant_keeps_lots(&tenant)?;
            Ok(AccountRow {
                tenant: TenantId::new(tenant)?,
                balances,
                ceiling,
                lots,
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
        self.conn
            .prepare_cached(bucket_sql(bucket))?
            .execute(params![account.0, balance, now])?;
        Ok(())
    }

    fn chain_head_for_update(&mut self, tenant: &TenantId) -> Result<ChainHead, LedgerError> {
        if let Some(head) = self.heads.get(tenant.as_str()) {
            return Ok(head);
        }
        let head: Option<(i64, Vec<u8>)> = self
            .conn
            .prepare_cached(
                "SELECT seq, hash FROM credit_transactions WHERE tenant_id = ?1 ORDER BY seq DESC LIMIT 1",
            )?
            .query_row([tenant.as_str()], |r| Ok((r.get(0)?, r.get(1)?)))
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

    fn append_entry(&mut self, e: &NewEntry<'_>) -> Result<i64, LedgerError> {
        let f = &e.fields;
        self.conn
            .prepare_cached(
                "INSERT INTO credit_transactions
                   (tenant_id, seq, account_id, bucket, kind, amount, balance_after,
                    ref_type, ref_id, note, actor, created_at, hash)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
            )?
            .execute(params![
                f.tenant_id,
                f.seq,
                f.account_id,
                f.bucket,
                f.kind,
                f.amount,
                f.balance_after,
                f.ref_type,
                f.ref_id,
                f.note,
                f.actor,
                f.created_at,
                &e.hash[..],
            ])?;
        self.heads.advance(f.tenant_id.to_string(), f.seq, e.hash);
        Ok(self.conn.last_insert_rowid())
    }

    fn insert_hold(&mut self, h: &NewHold<'_>) -> Result<(), LedgerError> {
        self.conn
            .prepare_cached(
                "INSERT INTO holds
                   (id, account_id, amount, status, ref_type, ref_id, created_at, expires_at, entry_id)
                 VALUES (?1, ?2, ?3, 'open', ?4, ?5, ?6, ?7, ?8)",
            )?
            .execute(params![
                h.id,
                h.account.0,
                h.amount,
                h.ref_type,
                h.ref_id,
                h.created_at,
                h.expires_at,
                h.entry_id
            ])?;
        Ok(())
    }

    fn hold_for_update(
        &mut self,
        account: AccountId,
        id: &str,
    ) -> Result<Option<HoldRow>, LedgerError> {
        let row: Option<(i64, String, Option<i64>)> = self
            .conn
            .prepare_cached(
                "SELECT amount, status, entry_id FROM holds WHERE account_id = ?1 AND id = ?2",
            )?
            .query_row(params![account.0, id], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .optional()?;
        row.map(|(amount, status, entry_id)| {
            let status = HoldStatus::parse(&status).ok_or_else(|| {
                LedgerError::Invalid(format!("hold {id:?} has status {status:?}"))
            })?;
            Ok(HoldRow {
                amount,
                status,
                entry_id,
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
        self.conn
            .prepare_cached(
                "UPDATE holds SET status = ?3, resolved_at = ?4 WHERE account_id = ?1 AND id = ?2",
            )?
            .execute(params![account.0, id, status.as_str(), now])?;
        Ok(())
    }

    fn idempotency_get(
        &mut self,
        scope: &str,
        key: &str,
    ) -> Result<Option<IdempotencyRecord>, LedgerError> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT fingerprint, status, response, created_at, expires_at FROM idempotency_keys
                 WHERE scope = ?1 AND key = ?2",
            )?
            .query_row(params![scope, key], |r| {
                Ok(IdempotencyRecord {
                    scope: scope.to_string(),
                    key: key.to_string(),
                    fingerprint: r.get(0)?,
                    status: r.get(1)?,
                    body: r.get(2)?,
                    created_at: r.get(3)?,
                    expires_at: r.get(4)?,
                })
            })
            .optional()?)
    }

    fn idempotency_put(&mut self, r: &IdempotencyRecord) -> Result<(), LedgerError> {
        self.conn
            .prepare_cached(
                "INSERT INTO idempotency_keys
                   (scope, key, fingerprint, status, response, created_at, expires_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![
                r.scope,
                r.key,
                r.fingerprint,
                r.status,
                r.body,
                r.created_at,
                r.expires_at
            ])?;
        Ok(())
    }

    fn idempotency_sweep(&mut self, now: &str, limit: u32) -> Result<u64, LedgerError> {
        let n = self
            .conn
            .prepare_cached(
                "DELETE FROM idempotency_keys WHERE rowid IN (
                   SELECT rowid FROM idempotency_keys
                   WHERE expires_at IS NOT NULL AND expires_at <= ?1 LIMIT ?2)",
            )?
            .execute(params![now, limit])?;
        Ok(n as u64)
    }

    fn insert_lot(
        &mut self,
        account: AccountId,
        entry_id: i64,
        amount: i64,
        expires_at: Option<&str>,
        now: &str,
    ) -> Result<i64, LedgerError> {
        self.conn
            .prepare_cached(
                "INSERT INTO lots (account_id, entry_id, amount, remaining, expires_at, created_at)
                 VALUES (?1, ?2, ?3, ?3, ?4, ?5)",
            )?
            .execute(params![account.0, entry_id, amount, expires_at, now])?;
        Ok(self.conn.last_insert_rowid())
    }

    fn open_lots_for_update(
        &mut self,
        account: AccountId,
        limit: u32,
    ) -> Result<Vec<LotRow>, LedgerError> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {LOT_COLUMNS} FROM lots WHERE account_id = ?1 AND remaining > 0
             ORDER BY expires_at IS NULL, expires_at, id LIMIT ?2"
        ))?;
        let rows = stmt.query_map(params![account.0, limit], lot_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn lot_for_update(&mut self, lot: i64) -> Result<Option<LotRow>, LedgerError> {
        Ok(self
            .conn
            .prepare_cached(&format!("SELECT {LOT_COLUMNS} FROM lots WHERE id = ?1"))?
            .query_row([lot], lot_row)
            .optional()?)
    }

    fn lot_of_entry_for_update(&mut self, entry_id: i64) -> Result<Option<LotRow>, LedgerError> {
        Ok(self
            .conn
            .prepare_cached(&format!(
                "SELECT {LOT_COLUMNS} FROM lots WHERE entry_id = ?1"
            ))?
            .query_row([entry_id], lot_row)
            .optional()?)
    }

    fn set_lot_remaining(&mut self, lot: i64, remaining: i64) -> Result<(), LedgerError> {
        self.conn
            .prepare_cached("UPDATE lots SET remaining = ?2 WHERE id = ?1")?
            .execute(params![lot, remaining])?;
        Ok(())
    }

    fn set_lot_expiry(&mut self, lot: i64, expires_at: Option<&str>) -> Result<(), LedgerError> {
        self.conn
            .prepare_cached("UPDATE lots SET expires_at = ?2 WHERE id = ?1")?
            .execute(params![lot, expires_at])?;
        Ok(())
    }

    fn insert_lot_use(&mut self, entry_id: i64, lot: i64, amount: i64) -> Result<(), LedgerError> {
        self.conn
            .prepare_cached("INSERT INTO lot_uses (entry_id, lot_id, amount) VALUES (?1, ?2, ?3)")?
            .execute(params![entry_id, lot, amount])?;
        Ok(())
    }

    fn lot_uses_for_update(&mut self, entry_id: i64) -> Result<Vec<LotUse>, LedgerError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT lot_id, amount, restored_by FROM lot_uses WHERE entry_id = ?1 ORDER BY lot_id",
        )?;
        let rows = stmt.query_map([entry_id], |r| {
            Ok(LotUse {
                lot: r.get(0)?,
                amount: r.get(1)?,
                restored_by: r.get(2)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn mark_lot_uses_restored(&mut self, entry_id: i64, reversal: i64) -> Result<(), LedgerError> {
        self.conn
            .prepare_cached("UPDATE lot_uses SET restored_by = ?2 WHERE entry_id = ?1")?
            .execute(params![entry_id, reversal])?;
        Ok(())
    }

    fn lots_due(&mut self, now: &str, limit: u32, offset: u32) -> Result<Vec<LotRow>, LedgerError> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {LOT_COLUMNS} FROM lots
             WHERE remaining > 0 AND expires_at IS NOT NULL AND expires_at <= ?1
             ORDER BY expires_at, id LIMIT ?2 OFFSET ?3"
        ))?;
        let rows = stmt.query_map(params![now, limit, offset], lot_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn insert_pending(
        &mut self,
        p: &PendingRow,
        entry_id: i64,
        now: &str,
    ) -> Result<i64, LedgerError> {
        self.conn
            .prepare_cached(
                "INSERT INTO pending_credits
                   (account_id, amount, pending_until, lot_expires_at, status, entry_id,
                    ref_type, ref_id, created_at)
                 VALUES (?1, ?2, ?3, ?4, 'pending', ?5, ?6, ?7, ?8)",
            )?
            .execute(params![
                p.account.0,
                p.amount,
                p.pending_until,
                p.lot_expires_at,
                entry_id,
                p.ref_type,
                p.ref_id,
                now
            ])?;
        Ok(self.conn.last_insert_rowid())
    }

    fn pending_for_update(&mut self, id: i64) -> Result<Option<PendingRow>, LedgerError> {
        let row: Option<(PendingRow, String)> = self
            .conn
            .prepare_cached(
                "SELECT id, account_id, amount, pending_until, lot_expires_at, status, ref_type, ref_id
                 FROM pending_credits WHERE id = ?1",
            )?
            .query_row([id], |r| {
                Ok((
                    PendingRow {
                        id: r.get(0)?,
                        account: AccountId(r.get(1)?),
                        amount: r.get(2)?,
                        pending_until: r.get(3)?,
                        lot_expires_at: r.get(4)?,
                        status: PendingStatus::Pending,
                        ref_type: r.get(6)?,
                        ref_id: r.get(7)?,
                    },
                    r.get(5)?,
                ))
            })
            .optional()?;
        row.map(|(mut p, status)| {
            p.status = PendingStatus::parse(&status).ok_or_else(|| {
                LedgerError::Invalid(format!("pending credit {id} has status {status:?}"))
            })?;
            Ok(p)
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
        self.conn
            .prepare_cached(
                "UPDATE pending_credits SET status = ?2, settled_entry = ?3, settled_at = ?4
                 WHERE id = ?1",
            )?
            .execute(params![id, status.as_str(), entry_id, now])?;
        Ok(())
    }

    fn pending_due(&mut self, now: &str, limit: u32, offset: u32) -> Result<Vec<i64>, LedgerError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id FROM pending_credits WHERE status = 'pending' AND pending_until <= ?1
             ORDER BY pending_until, id LIMIT ?2 OFFSET ?3",
        )?;
        let rows = stmt.query_map(params![now, limit, offset], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn holds_due(
        &mut self,
        now: &str,
        limit: u32,
        offset: u32,
    ) -> Result<Vec<(AccountId, String)>, LedgerError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT account_id, id FROM holds
             WHERE status = 'open' AND expires_at IS NOT NULL AND expires_at <= ?1
             ORDER BY expires_at, account_id, id LIMIT ?2 OFFSET ?3",
        )?;
        let rows = stmt.query_map(params![now, limit, offset], |r| {
            Ok((AccountId(r.get(0)?), r.get(1)?))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn reversal_of(&mut self, id: i64) -> Result<Option<i64>, LedgerError> {
        Ok(self
            .conn
            .prepare_cached("SELECT reversal_id FROM reversals WHERE entry_id = ?1")?
            .query_row([id], |r| r.get(0))
            .optional()?)
    }

    fn insert_reversal(&mut self, id: i64, reversal: i64) -> Result<(), LedgerError> {
        self.conn
            .prepare_cached("INSERT INTO reversals (entry_id, reversal_id) VALUES (?1, ?2)")?
            .execute(params![id, reversal])?;
        Ok(())
    }

    fn funds_hold(&mut self, id: i64) -> Result<bool, LedgerError> {
        Ok(self
            .conn
            .prepare_cached("SELECT 1 FROM holds WHERE entry_id = ?1")?
            .exists([id])?)
    }

    fn entry(&mut self, id: i64) -> Result<Option<EntryRow>, LedgerError> {
        let row: Option<(i64, String, i64)> = self
            .conn
            .prepare_cached(
                "SELECT account_id, bucket, amount FROM credit_transactions WHERE id = ?1",
            )?
            .query_row([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .optional()?;
        row.map(|(account, bucket, amount)| {
            let bucket = Bucket::parse(&bucket)
                .ok_or_else(|| LedgerError::Invalid(format!("entry {id} has bucket {bucket:?}")))?;
            Ok(EntryRow {
                account: AccountId(account),
                bucket,
                amount,
            })
        })
        .transpose()
    }

    fn event_wanted(&mut self, tenant: &TenantId, event_type: &str) -> Result<bool, LedgerError> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT 1 FROM webhook_endpoints
                 WHERE tenant_id = ?1 AND active
                   AND (events = '*' OR instr(',' || events || ',', ',' || ?2 || ',') > 0)",
            )?
            .exists(params![tenant.as_str(), event_type])?)
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
        self.conn
            .prepare_cached(
                "INSERT INTO outbox (tenant_id, account_id, event_type, payload, created_at, trace)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![
                tenant.as_str(),
                account.map(|a| a.0),
                event_type,
                payload,
                now,
                trace
            ])?;
        let id = self.conn.last_insert_rowid();
        // One delivery per active endpoint of the tenant that wants the event; one
        // without an endpoint ('') when none does, so that it shows as a dead letter.
        let due = jiff::Timestamp::now().as_millisecond();
        let params = params![
            id,
            tenant.as_str(),
            account.map(|a| a.0),
            due,
            now,
            event_type
        ];
        let written = self
            .conn
            .prepare_cached(
                "INSERT INTO webhook_deliveries
                   (outbox_id, endpoint_id, tenant_id, account_id, status, attempts,
                    next_attempt_at, updated_at)
                 SELECT ?1, e.id, ?2, ?3, 'pending', 0, ?4, ?5 FROM webhook_endpoints e
                 WHERE e.tenant_id = ?2 AND e.active
                   AND (e.events = '*' OR instr(',' || e.events || ',', ',' || ?6 || ',') > 0)",
            )?
            .execute(params)?;
        if written == 0 {
            self.conn
                .prepare_cached(
                    "INSERT INTO webhook_deliveries
                       (outbox_id, endpoint_id, tenant_id, account_id, status, attempts,
                        next_attempt_at, updated_at)
                     VALUES (?1, '', ?2, ?3, 'pending', 0, ?4, ?5)",
                )?
                .execute(params![id, tenant.as_str(), account.map(|a| a.0), due, now])?;
        }
        self.events_written = true;
        self.max_outbox_id = self.max_outbox_id.max(id);
        Ok(id)
    }

    fn as_any(&mut self) -> &mut dyn Any {
        self
    }
}
