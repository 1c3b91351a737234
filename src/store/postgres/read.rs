//! Reads on PostgreSQL: [`PgRead`] implements the core's [`ReadBackend`] on a
//! connection of its own (each reader thread keeps one). Every call sees every batch
//! committed before it, by any node; `scan` reads one snapshot (`REPEATABLE READ`).

use std::any::Any;

use postgres::fallible_iterator::FallibleIterator;
use postgres::Row;

use super::error;
use super::tx::PgConn;
use crate::ledger::backend::{AccountTotals, EntryRecord, LotRow, ReadBackend, VerifyVisitor};
use crate::ledger::{
    AccountId, AccountView, Balances, Bucket, DayFlow, EntryView, KindTotal, LedgerError, TenantId,
    TenantTotals,
};

/// A reader's connection.
pub struct PgRead(pub(crate) PgConn);

fn account_view(r: &Row) -> AccountView {
    AccountView {
        id: AccountId(r.get(0)),
        holder: r.get(1),
        available: r.get(2),
        held: r.get(3),
        pending: r.get(4),
        created_at: r.get(5),
        updated_at: r.get(6),
    }
}

fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

impl ReadBackend for PgRead {
    fn begin_snapshot(&mut self) -> Result<(), LedgerError> {
        self.0
            .client
            .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .map_err(error)
    }

    fn end_snapshot(&mut self) -> Result<(), LedgerError> {
        self.0.client.batch_execute("COMMIT").map_err(error)
    }

    fn account(
        &mut self,
        tenant: &TenantId,
        holder: &str,
    ) -> Result<Option<AccountView>, LedgerError> {
        let row = self.0.query_opt(
            "SELECT id, holder, available, held, pending, created_at, updated_at
             FROM credit_accounts WHERE tenant_id = $1 AND holder = $2",
            &[&tenant.as_str(), &holder],
        )?;
        Ok(row.as_ref().map(account_view))
    }

    fn entries(
        &mut self,
        account: AccountId,
        bucket: Bucket,
        limit: u32,
        offset: u64,
    ) -> Result<Vec<EntryView>, LedgerError> {
        let offset = i64::try_from(offset).unwrap_or(i64::MAX);
        let rows = self.0.query(
            "SELECT id, bucket, kind, amount, balance_after, ref_type, ref_id, note, actor, created_at
             FROM credit_transactions WHERE account_id = $1 AND bucket = $2
             ORDER BY id DESC LIMIT $3 OFFSET $4",
            &[&account.0, &bucket.as_str(), &i64::from(limit), &offset],
        )?;
        Ok(rows
            .iter()
            .map(|r| EntryView {
                id: r.get(0),
                bucket: r.get(1),
                kind: r.get(2),
                amount: r.get(3),
                balance_after: r.get(4),
                ref_type: r.get(5),
                ref_id: r.get(6),
                note: r.get(7),
                actor: r.get(8),
                created_at: r.get(9),
            })
            .collect())
    }

    fn entry_count(&mut self, account: AccountId, bucket: Bucket) -> Result<u64, LedgerError> {
        let row = self.0.query_opt(
            "SELECT count(*) FROM credit_transactions WHERE account_id = $1 AND bucket = $2",
            &[&account.0, &bucket.as_str()],
        )?;
        Ok(row.map_or(0, |r| count(r.get(0))))
    }

    fn lots_expiring(
        &mut self,
        account: AccountId,
        until: &str,
    ) -> Result<Vec<LotRow>, LedgerError> {
        let rows = self.0.query(
            "SELECT id, account_id, amount, remaining, expires_at FROM lots
             WHERE account_id = $1 AND expires_at IS NOT NULL AND expires_at <= $2
               AND remaining > 0
             ORDER BY expires_at, id",
            &[&account.0, &until],
        )?;
        Ok(rows
            .iter()
            .map(|r| LotRow {
                id: r.get(0),
                account: AccountId(r.get(1)),
                amount: r.get(2),
                remaining: r.get(3),
                expires_at: r.get(4),
            })
            .collect())
    }

    fn daily_flows(&mut self, tenant: &TenantId, since: &str) -> Result<Vec<DayFlow>, LedgerError> {
        let rows = self.0.query(
            "SELECT substr(created_at, 1, 10) AS day,
                    coalesce(sum(CASE WHEN amount > 0 AND bucket = 'available' THEN amount END), 0)::bigint,
                    coalesce(sum(CASE WHEN amount < 0 THEN -amount END), 0)::bigint
             FROM credit_transactions
             WHERE tenant_id = $1 AND created_at >= $2
               AND ((bucket = 'available' AND kind NOT IN ('hold', 'release'))
                    OR (bucket = 'held' AND kind = 'capture'))
             GROUP BY day ORDER BY day",
            &[&tenant.as_str(), &since],
        )?;
        Ok(rows
            .iter()
            .map(|r| DayFlow {
                day: r.get(0),
                credited: r.get(1),
                debited: r.get(2),
            })
            .collect())
    }

    fn kind_totals(&mut self, tenant: &TenantId) -> Result<Vec<KindTotal>, LedgerError> {
        let rows = self.0.query(
            "SELECT kind,
                    coalesce(sum(CASE WHEN amount > 0 THEN amount END), 0)::bigint,
                    coalesce(sum(CASE WHEN amount < 0 THEN -amount END), 0)::bigint,
                    count(*)
             FROM credit_transactions
             WHERE tenant_id = $1 AND bucket = 'available'
             GROUP BY kind ORDER BY kind",
            &[&tenant.as_str()],
        )?;
        Ok(rows
            .iter()
            .map(|r| KindTotal {
                kind: r.get(0),
                credited: r.get(1),
                debited: r.get(2),
                entries: count(r.get(3)),
            })
            .collect())
    }

    fn top_debit_refs(
        &mut self,
        tenant: &TenantId,
        kind: &str,
        limit: u32,
    ) -> Result<Vec<(String, i64)>, LedgerError> {
        let rows = self.0.query(
            "SELECT ref_id, sum(-amount)::bigint AS spent
             FROM credit_transactions
             WHERE tenant_id = $1 AND bucket = 'available' AND kind = $2 AND amount < 0
               AND ref_id IS NOT NULL
             GROUP BY ref_id ORDER BY spent DESC, ref_id LIMIT $3",
            &[&tenant.as_str(), &kind, &i64::from(limit)],
        )?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    fn tenant_totals(
        &mut self,
        tenant: &TenantId,
        low_below: Option<i64>,
    ) -> Result<TenantTotals, LedgerError> {
        let row = self.0.query_opt(
            "SELECT count(*), coalesce(sum(available), 0)::bigint, coalesce(sum(held), 0)::bigint,
                    coalesce(sum(pending), 0)::bigint,
                    count(*) FILTER (WHERE available < $2)
             FROM credit_accounts WHERE tenant_id = $1",
            &[&tenant.as_str(), &low_below],
        )?;
        Ok(row.map_or_else(TenantTotals::default, |r| TenantTotals {
            accounts: count(r.get(0)),
            available: r.get(1),
            held: r.get(2),
            pending: r.get(3),
            low_balance: count(r.get(4)),
        }))
    }

    fn find_accounts(
        &mut self,
        tenant: &TenantId,
        query: &str,
        low_below: Option<i64>,
        limit: u32,
    ) -> Result<Vec<AccountView>, LedgerError> {
        let rows = self.0.query(
            "SELECT id, holder, available, held, pending, created_at, updated_at
             FROM credit_accounts
             WHERE tenant_id = $1 AND strpos(holder, $2) > 0
               AND ($3::bigint IS NULL OR available < $3)
             ORDER BY holder LIMIT $4",
            &[&tenant.as_str(), &query, &low_below, &i64::from(limit)],
        )?;
        Ok(rows.iter().map(account_view).collect())
    }

    fn scan(&mut self, visitor: &mut dyn VerifyVisitor) -> Result<(), LedgerError> {
        let client = &mut self.0.client;
        let mut snapshot = client
            .build_transaction()
            .isolation_level(postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .map_err(error)?;
        let none: [&(dyn postgres::types::ToSql + Sync); 0] = [];
        {
            let mut rows = snapshot
                .query_raw(
                    "SELECT id, tenant_id, seq, account_id, bucket, kind, amount, balance_after,
                            ref_type, ref_id, note, actor, created_at, hash
                     FROM credit_transactions ORDER BY tenant_id, seq",
                    none.iter().copied(),
                )
                .map_err(error)?;
            while let Some(r) = rows.next().map_err(error)? {
                let entry = EntryRecord {
                    id: r.get(0),
                    tenant: r.get(1),
                    seq: r.get(2),
                    account: r.get(3),
                    bucket: r.get(4),
                    kind: r.get(5),
                    amount: r.get(6),
                    balance_after: r.get(7),
                    ref_type: r.get(8),
                    ref_id: r.get(9),
                    note: r.get(10),
                    actor: r.get(11),
                    created_at: r.get(12),
                    hash: r.get(13),
                };
                if !visitor.entry(entry) {
                    return Ok(());
                }
            }
        }
        let mut rows = snapshot
            .query_raw(
                "SELECT a.id, a.available, a.held, a.pending,
                        (SELECT coalesce(sum(h.amount), 0)::bigint FROM holds h
                          WHERE h.account_id = a.id AND h.status = 'open'),
                        CASE WHEN t.lots THEN
                          (SELECT coalesce(sum(l.remaining), 0)::bigint FROM lots l
                            WHERE l.account_id = a.id AND l.remaining > 0)
                        END,
                        (SELECT coalesce(sum(p.amount), 0)::bigint FROM pending_credits p
                          WHERE p.account_id = a.id AND p.status = 'pending')
                 FROM credit_accounts a JOIN tenants t ON t.id = a.tenant_id ORDER BY a.id",
                none.iter().copied(),
            )
            .map_err(error)?;
        while let Some(r) = rows.next().map_err(error)? {
            let totals = AccountTotals {
                account: r.get(0),
                balances: Balances {
                    available: r.get(1),
                    held: r.get(2),
                    pending: r.get(3),
                },
                open_holds: r.get(4),
                open_lots: r.get(5),
                open_pending: r.get(6),
            };
            if !visitor.account(totals) {
                return Ok(());
            }
        }
        drop(rows);
        snapshot.commit().map_err(error)
    }

    fn as_any(&mut self) -> &mut dyn Any {
        self
    }
}
