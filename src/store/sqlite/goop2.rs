//! Goop2's repositories on SQLite: `template_purchases`.

use rusqlite::{params, Connection, OptionalExtension};

use super::read::SqliteRead;
use super::tx::SqliteTx;
use crate::dialects::goop2::repo::{Owned, PurchaseReads, Purchases};
use crate::ledger::{AccountId, LedgerError};

fn owned(
    conn: &Connection,
    account: AccountId,
    template: &str,
) -> Result<Option<Owned>, LedgerError> {
    Ok(conn
        .prepare_cached(
            "SELECT id, template_name, price_paid, created_at FROM template_purchases
             WHERE account_id = ?1 AND template_name = ?2 AND revoked_at IS NULL",
        )?
        .query_row(params![account.0, template], row)
        .optional()?)
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Owned> {
    Ok(Owned {
        id: r.get(0)?,
        template: r.get(1)?,
        price_paid: r.get(2)?,
        purchased_at: r.get(3)?,
    })
}

impl Purchases for SqliteTx {
    fn owned(&mut self, account: AccountId, template: &str) -> Result<Option<Owned>, LedgerError> {
        owned(self.conn(), account, template)
    }

    fn insert_purchase(
        &mut self,
        account: AccountId,
        template: &str,
        price_paid: i64,
        entry_id: i64,
        now: &str,
    ) -> Result<(), LedgerError> {
        self.conn()
            .prepare_cached(
                "INSERT INTO template_purchases (account_id, template_name, price_paid, txn_id, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![account.0, template, price_paid, entry_id, now])?;
        Ok(())
    }

    fn revoke_purchase(
        &mut self,
        id: i64,
        refund_entry: Option<i64>,
        now: &str,
    ) -> Result<(), LedgerError> {
        self.conn()
            .prepare_cached(
                "UPDATE template_purchases SET revoked_at = ?2, refund_txn_id = ?3 WHERE id = ?1",
            )?
            .execute(params![id, now, refund_entry])?;
        Ok(())
    }
}

impl PurchaseReads for SqliteRead {
    fn owned_templates(&mut self, account: AccountId) -> Result<Vec<Owned>, LedgerError> {
        let mut stmt = self.conn().prepare_cached(
            "SELECT id, template_name, price_paid, created_at FROM template_purchases
             WHERE account_id = ?1 AND revoked_at IS NULL ORDER BY id",
        )?;
        let rows = stmt.query_map([account.0], row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn owns(&mut self, account: AccountId, template: &str) -> Result<bool, LedgerError> {
        Ok(owned(self.conn(), account, template)?.is_some())
    }
}
