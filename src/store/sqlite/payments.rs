//! The payments repositories on SQLite: the `payments` table.

use rusqlite::{params, OptionalExtension};

use super::read::SqliteRead;
use super::tx::SqliteTx;
use crate::ledger::{LedgerError, TenantId};
use crate::payments::repo::{
    Acknowledgement, Payment, PaymentFilter, PaymentReads, PaymentStatus, Payments,
};
use crate::payments::Provider;

const COLUMNS: &str = "id, provider, external_id, tenant_id, account, package_id, credits, amount,
    currency, status, order_ref, entry_id, refund_claimed, refund_taken, dispute_claimed,
    dispute_taken, receipt_url, answer, acknowledged, created_at, updated_at, product_id,
    dispute_id, dispute_closed";

fn corrupt(what: &str, value: &str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        0,
        rusqlite::types::Type::Text,
        format!("payments.{what} holds {value:?}").into(),
    )
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Payment> {
    let provider: String = r.get(1)?;
    let tenant: String = r.get(3)?;
    let status: String = r.get(9)?;
    Ok(Payment {
        id: r.get(0)?,
        provider: Provider::parse(&provider).ok_or_else(|| corrupt("provider", &provider))?,
        external_id: r.get(2)?,
        tenant: TenantId::new(tenant.clone()).map_err(|_| corrupt("tenant_id", &tenant))?,
        account: r.get(4)?,
        package: r.get(5)?,
        credits: r.get(6)?,
        amount: r.get(7)?,
        currency: r.get(8)?,
        status: PaymentStatus::parse(&status).ok_or_else(|| corrupt("status", &status))?,
        order_ref: r.get(10)?,
        entry_id: r.get(11)?,
        refund_claimed: r.get(12)?,
        refund_taken: r.get(13)?,
        dispute_claimed: r.get(14)?,
        dispute_taken: r.get(15)?,
        receipt_url: r.get(16)?,
        answer: r.get(17)?,
        acknowledged: match r.get::<_, Option<i64>>(18)? {
            None => None,
            Some(code) => Some(
                Acknowledgement::from_code(code)
                    .ok_or_else(|| corrupt("acknowledged", &code.to_string()))?,
            ),
        },
        created_at: r.get(19)?,
        updated_at: r.get(20)?,
        product_id: r.get(21)?,
        dispute_id: r.get(22)?,
        dispute_closed: r.get(23)?,
    })
}

fn by_external_id(
    conn: &rusqlite::Connection,
    provider: Provider,
    external_id: &str,
) -> Result<Option<Payment>, LedgerError> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM payments WHERE provider = ?1 AND external_id = ?2"
        ))?
        .query_row(params![provider.as_str(), external_id], row)
        .optional()?)
}

impl Payments for SqliteTx {
    fn payment(
        &mut self,
        provider: Provider,
        external_id: &str,
    ) -> Result<Option<Payment>, LedgerError> {
        by_external_id(self.conn(), provider, external_id)
    }

    fn payment_of_order(
        &mut self,
        provider: Provider,
        order_ref: &str,
    ) -> Result<Option<Payment>, LedgerError> {
        Ok(self
            .conn()
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM payments WHERE provider = ?1 AND order_ref = ?2
                 ORDER BY id DESC LIMIT 1"
            ))?
            .query_row(params![provider.as_str(), order_ref], row)
            .optional()?)
    }

    fn insert_payment(&mut self, p: &Payment) -> Result<i64, LedgerError> {
        let conn = self.conn();
        conn.prepare_cached(
            "INSERT INTO payments (provider, external_id, tenant_id, account, package_id,
               credits, amount, currency, status, order_ref, entry_id, refund_claimed,
               refund_taken, dispute_claimed, dispute_taken, receipt_url, answer,
               acknowledged, created_at, updated_at, product_id, dispute_id, dispute_closed)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16,
               ?17, ?18, ?19, ?20, ?21, ?22, ?23)",
        )?
        .execute(params![
            p.provider.as_str(),
            p.external_id,
            p.tenant.as_str(),
            p.account,
            p.package,
            p.credits,
            p.amount,
            p.currency,
            p.status.as_str(),
            p.order_ref,
            p.entry_id,
            p.refund_claimed,
            p.refund_taken,
            p.dispute_claimed,
            p.dispute_taken,
            p.receipt_url,
            p.answer,
            p.acknowledged.map(Acknowledgement::code),
            p.created_at,
            p.updated_at,
            p.product_id,
            p.dispute_id,
            p.dispute_closed,
        ])?;
        Ok(conn.last_insert_rowid())
    }

    fn hold_receipt(
        &mut self,
        provider: Provider,
        order_ref: &str,
        receipt_url: &str,
        now: &str,
    ) -> Result<(), LedgerError> {
        self.conn()
            .prepare_cached(
                "INSERT INTO payment_receipts (provider, order_ref, receipt_url, created_at)
                 VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (provider, order_ref) DO UPDATE SET receipt_url = excluded.receipt_url",
            )?
            .execute(params![provider.as_str(), order_ref, receipt_url, now])?;
        Ok(())
    }

    fn take_receipt(
        &mut self,
        provider: Provider,
        order_ref: &str,
    ) -> Result<Option<String>, LedgerError> {
        Ok(self
            .conn()
            .prepare_cached(
                "DELETE FROM payment_receipts WHERE provider = ?1 AND order_ref = ?2
                 RETURNING receipt_url",
            )?
            .query_row(params![provider.as_str(), order_ref], |r| r.get(0))
            .optional()?)
    }

    fn update_payment(&mut self, p: &Payment) -> Result<(), LedgerError> {
        self.conn()
            .prepare_cached(
                "UPDATE payments SET status = ?2, order_ref = ?3, entry_id = ?4,
                   refund_claimed = ?5, refund_taken = ?6, dispute_claimed = ?7,
                   dispute_taken = ?8, receipt_url = ?9, answer = ?10, acknowledged = ?11,
                   credits = ?12, updated_at = ?13, product_id = ?14, dispute_id = ?15,
                   dispute_closed = ?16
                 WHERE id = ?1",
            )?
            .execute(params![
                p.id,
                p.status.as_str(),
                p.order_ref,
                p.entry_id,
                p.refund_claimed,
                p.refund_taken,
                p.dispute_claimed,
                p.dispute_taken,
                p.receipt_url,
                p.answer,
                p.acknowledged.map(Acknowledgement::code),
                p.credits,
                p.updated_at,
                p.product_id,
                p.dispute_id,
                p.dispute_closed,
            ])?;
        Ok(())
    }
}

impl PaymentReads for SqliteRead {
    fn find_payment(
        &mut self,
        provider: Provider,
        external_id: &str,
    ) -> Result<Option<Payment>, LedgerError> {
        by_external_id(self.conn(), provider, external_id)
    }

    fn unacknowledged(&mut self, after: i64, limit: u32) -> Result<Vec<Payment>, LedgerError> {
        let mut stmt = self.conn().prepare_cached(&format!(
            "SELECT {COLUMNS} FROM payments
             WHERE acknowledged = 0 AND status <> 'open' AND id > ?1
             ORDER BY id LIMIT ?2"
        ))?;
        let rows = stmt.query_map(params![after, limit], row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn list_payments(&mut self, f: &PaymentFilter) -> Result<Vec<Payment>, LedgerError> {
        let mut stmt = self.conn().prepare_cached(&format!(
            "SELECT {COLUMNS} FROM payments
             WHERE (?1 IS NULL OR tenant_id = ?1) AND (?2 IS NULL OR provider = ?2)
               AND (?3 = 0 OR refund_claimed > refund_taken OR dispute_claimed > dispute_taken)
               AND (?4 IS NULL OR id < ?4)
             ORDER BY id DESC LIMIT ?5"
        ))?;
        let rows = stmt.query_map(
            params![
                f.tenant.as_ref().map(|t| t.as_str()),
                f.provider.map(Provider::as_str),
                f.unrecovered,
                f.before,
                f.limit
            ],
            row,
        )?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}
