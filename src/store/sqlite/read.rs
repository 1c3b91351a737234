//! Read-only connections: [`SqliteRead`] implements the core's [`ReadBackend`].

use std::any::Any;

use rusqlite::{params, Connection, OptionalExtension};

use super::tx::{lot_row, LOT_COLUMNS};
use crate::ledger::backend::{AccountTotals, EntryRecord, LotRow, ReadBackend, VerifyVisitor};
use crate::ledger::{
    AccountId, AccountView, Balances, Bucket, DayFlow, EntryView, KindTotal, LedgerError, TenantId,
    TenantTotals,
};

/// A read-only connection: a reader thread's, or one opened for one synchronous read.
pub struct SqliteRead(pub(crate) Connection);

impl SqliteRead {
    /// The connection, for the repositories of this backend.
    pub(crate) fn conn(&self) -> &Connection {
        &self.0
    }
}

/// An account row read as `id, holder, available, held, pending, created_at,
/// updated_at`.
fn account_view(r: &rusqlite::Row<'_>) -> rusqlite::Result<AccountView> {
    Ok(AccountView {
        id: AccountId(r.get(0)?),
        holder: r.get(1)?,
        available: r.get(2)?,
        held: r.get(3)?,
        pending: r.get(4)?,
        created_at: r.get(5)?,
        updated_at: r.get(6)?,
    })
}

impl ReadBackend for SqliteRead {
    fn begin_snapshot(&mut self) -> Result<(), LedgerError> {
        // A read transaction: its snapshot is taken at the first read.
        Ok(self.0.execute_batch("BEGIN")?)
    }

    fn end_snapshot(&mut self) -> Result<(), LedgerError> {
        Ok(self.0.execute_batch("COMMIT")?)
    }

    fn account(
        &mut self,
        tenant: &TenantId,
        holder: &str,
    ) -> Result<Option<AccountView>, LedgerError> {
        Ok(self
            .conn()
            .prepare_cached(
                "SELECT id, holder, available, held, pending, created_at, updated_at
                 FROM credit_accounts WHERE tenant_id = ?1 AND holder = ?2",
            )?
            .query_row(params![tenant.as_str(), holder], account_view)
            .optional()?)
    }

    fn entries(
        &mut self,
        account: AccountId,
        bucket: Bucket,
        limit: u32,
        offset: u64,
    ) -> Result<Vec<EntryView>, LedgerError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT id, bucket, kind, amount, balance_after, ref_type, ref_id, note, actor, created_at
             FROM credit_transactions WHERE account_id = ?1 AND bucket = ?2
             ORDER BY id DESC LIMIT ?3 OFFSET ?4",
        )?;
        let rows = stmt.query_map(
            params![
                account.0,
                bucket.as_str(),
                limit,
                i64::try_from(offset).unwrap_or(i64::MAX)
            ],
            |r| {
                Ok(EntryView {
                    id: r.get(0)?,
                    bucket: r.get(1)?,
                    kind: r.get(2)?,
                    amount: r.get(3)?,
                    balance_after: r.get(4)?,
                    ref_type: r.get(5)?,
                    ref_id: r.get(6)?,
                    note: r.get(7)?,
                    actor: r.get(8)?,
                    created_at: r.get(9)?,
                })
            },
        )?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn entry_count(&mut self, account: AccountId, bucket: Bucket) -> Result<u64, LedgerError> {
        let n: i64 = self
            .conn()
            .prepare_cached(
                "SELECT count(*) FROM credit_transactions WHERE account_id = ?1 AND bucket = ?2",
            )?
            .query_row(params![account.0, bucket.as_str()], |r| r.get(0))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    fn lots_expiring(
        &mut self,
        account: AccountId,
        until: &str,
    ) -> Result<Vec<LotRow>, LedgerError> {
        let mut stmt = self.conn().prepare_cached(&format!(
            "SELECT {LOT_COLUMNS} FROM lots
             WHERE account_id = ?1 AND expires_at IS NOT NULL AND expires_at <= ?2
               AND remaining > 0
             ORDER BY expires_at, id"
        ))?;
        let rows = stmt.query_map(params![account.0, until], lot_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn daily_flows(&mut self, tenant: &TenantId, since: &str) -> Result<Vec<DayFlow>, LedgerError> {
        let mut stmt = self.conn().prepare_cached(
            "SELECT substr(created_at, 1, 10) AS day,
                    coalesce(sum(CASE WHEN amount > 0 AND bucket = 'available' THEN amount END), 0),
                    coalesce(sum(CASE WHEN amount < 0 THEN -amount END), 0)
             FROM credit_transactions
             WHERE tenant_id = ?1 AND created_at >= ?2
               AND ((bucket = 'available' AND kind NOT IN ('hold', 'release'))
                    OR (bucket = 'held' AND kind = 'capture'))
             GROUP BY day ORDER BY day",
        )?;
        let rows = stmt.query_map(params![tenant.as_str(), since], |r| {
            Ok(DayFlow {
                day: r.get(0)?,
                credited: r.get(1)?,
                debited: r.get(2)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn kind_totals(&mut self, tenant: &TenantId) -> Result<Vec<KindTotal>, LedgerError> {
        let mut stmt = self.conn().prepare_cached(
            "SELECT kind,
                    coalesce(sum(CASE WHEN amount > 0 THEN amount END), 0),
                    coalesce(sum(CASE WHEN amount < 0 THEN -amount END), 0),
                    count(*)
             FROM credit_transactions
             WHERE tenant_id = ?1 AND bucket = 'available'
             GROUP BY kind ORDER BY kind",
        )?;
        let rows = stmt.query_map(params![tenant.as_str()], |r| {
            Ok(KindTotal {
                kind: r.get(0)?,
                credited: r.get(1)?,
                debited: r.get(2)?,
                entries: u64::try_from(r.get::<_, i64>(3)?).unwrap_or(0),
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn top_debit_refs(
        &mut self,
        tenant: &TenantId,
        kind: &str,
        limit: u32,
    ) -> Result<Vec<(String, i64)>, LedgerError> {
        let mut stmt = self.conn().prepare_cached(
            "SELECT ref_id, sum(-amount) AS spent
             FROM credit_transactions
             WHERE tenant_id = ?1 AND bucket = 'available' AND kind = ?2 AND amount < 0
               AND ref_id IS NOT NULL
             GROUP BY ref_id ORDER BY spent DESC, ref_id LIMIT ?3",
        )?;
        let rows = stmt.query_map(params![tenant.as_str(), kind, limit], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn tenant_totals(
        &mut self,
        tenant: &TenantId,
        low_below: Option<i64>,
    ) -> Result<TenantTotals, LedgerError> {
        Ok(self
            .conn()
            .prepare_cached(
                "SELECT count(*), coalesce(sum(available), 0), coalesce(sum(held), 0),
                        coalesce(sum(pending), 0),
                        coalesce(sum(CASE WHEN available < ?2 THEN 1 ELSE 0 END), 0)
                 FROM credit_accounts WHERE tenant_id = ?1",
            )?
            .query_row(params![tenant.as_str(), low_below], |r| {
                Ok(TenantTotals {
                    accounts: u64::try_from(r.get::<_, i64>(0)?).unwrap_or(0),
                    available: r.get(1)?,
                    held: r.get(2)?,
                    pending: r.get(3)?,
                    low_balance: u64::try_from(r.get::<_, i64>(4)?).unwrap_or(0),
                })
            })?)
    }

    fn find_accounts(
        &mut self,
        tenant: &TenantId,
        query: &str,
        low_below: Option<i64>,
        limit: u32,
    ) -> Result<Vec<AccountView>, LedgerError> {
        let mut stmt = self.conn().prepare_cached(
            "SELECT id, holder, available, held, pending, created_at, updated_at
             FROM credit_accounts
             WHERE tenant_id = ?1 AND instr(holder, ?2) > 0
               AND (?3 IS NULL OR available < ?3)
             ORDER BY holder LIMIT ?4",
        )?;
        let rows = stmt.query_map(
            params![tenant.as_str(), query, low_below, limit],
            account_view,
        )?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn scan(&mut self, visitor: &mut dyn VerifyVisitor) -> Result<(), LedgerError> {
        // One read transaction: both scans see the same snapshot, even while a node
        // writes to the file.
        let snapshot = self.conn().unchecked_transaction()?;
        let conn: &Connection = &snapshot;
        let mut stmt = conn.prepare(
            "SELECT id, tenant_id, seq, account_id, bucket, kind, amount, balance_after,
                    ref_type, ref_id, note, actor, created_at, hash
             FROM credit_transactions ORDER BY tenant_id, seq",
        )?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let entry = EntryRecord {
                id: r.get(0)?,
                tenant: r.get(1)?,
                seq: r.get(2)?,
                account: r.get(3)?,
                bucket: r.get(4)?,
                kind: r.get(5)?,
                amount: r.get(6)?,
                balance_after: r.get(7)?,
                ref_type: r.get(8)?,
                ref_id: r.get(9)?,
                note: r.get(10)?,
                actor: r.get(11)?,
                created_at: r.get(12)?,
                hash: r.get(13)?,
            };
            if !visitor.entry(entry) {
                return Ok(());
            }
        }
        drop(rows);
        let mut accounts = conn.prepare(
            "SELECT a.id, a.available, a.held, a.pending,
                    (SELECT coalesce(sum(h.amount), 0) FROM holds h
                      WHERE h.account_id = a.id AND h.status = 'open'),
                    CASE WHEN t.lots THEN
                      (SELECT coalesce(sum(l.remaining), 0) FROM lots l
                        WHERE l.account_id = a.id AND l.remaining > 0)
                    END,
                    (SELECT coalesce(sum(p.amount), 0) FROM pending_credits p
                      WHERE p.account_id = a.id AND p.status = 'pending')
             FROM credit_accounts a JOIN tenants t ON t.id = a.tenant_id ORDER BY a.id",
        )?;
        let mut rows = accounts.query([])?;
        while let Some(r) = rows.next()? {
            let totals = AccountTotals {
                account: r.get(0)?,
                balances: Balances {
                    available: r.get(1)?,
                    held: r.get(2)?,
                    pending: r.get(3)?,
                },
                open_holds: r.get(4)?,
                open_lots: r.get(5)?,
                open_pending: r.get(6)?,
            };
            if !visitor.account(totals) {
                return Ok(());
            }
        }
        Ok(())
    }

    fn as_any(&mut self) -> &mut dyn Any {
        self
    }
}
