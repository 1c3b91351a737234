//! The payments repositories on PostgreSQL: `payments` and `payment_receipts`.
//!
//! Several nodes may handle events of one payment at once (Stripe sends a session's
//! and its charge's events together; a client retries an in-app purchase on another
//! node). A payment a unit decides on is read `FOR UPDATE`, so the second unit waits
//! and then sees what the first wrote. An order is locked before it is looked up
//! (a transaction advisory lock on provider and order): that lookup decides on a row
//! that may not exist yet (Google: an order is credited once, whatever its purchase
//! token). A second payment with the same (provider, external id) is refused by the
//! unique key without failing the transaction (`ON CONFLICT DO NOTHING`), and a
//! payment breaking the table's checks is refused before it is written: the unit
//! sees the error and may go on, as on SQLite.

use postgres::Row;

use super::read::PgRead;
use super::tx::{PgConn, PgTx};
use crate::ledger::{LedgerError, TenantId};
use crate::payments::repo::{
    Acknowledgement, Payment, PaymentFilter, PaymentReads, PaymentStatus, Payments,
};
use crate::payments::Provider;

/// The class of the advisory locks taken on orders (the first of the two keys; the
/// second is a hash of provider and order). "pord".
const ORDER_LOCK: i32 = 0x706f_7264;

/// The columns [`row`] reads, in its order.
macro_rules! columns {
    () => {
        "id, provider, external_id, tenant_id, account, package_id, credits, amount,
         currency, status, order_ref, entry_id, refund_claimed, refund_taken, dispute_claimed,
         dispute_taken, receipt_url, answer, acknowledged, created_at, updated_at, product_id,
         dispute_id, dispute_closed"
    };
}

fn corrupt(what: &str, value: &str) -> LedgerError {
    LedgerError::Invalid(format!("payments.{what} holds {value:?}"))
}

/// A write the table refuses (a unique key or a check), as SQLite reports it: a
/// storage error.
fn refused(why: String) -> LedgerError {
    LedgerError::Storage(why.into())
}

fn row(r: &Row) -> Result<Payment, LedgerError> {
    let provider: String = r.get(1);
    let tenant: String = r.get(3);
    let status: String = r.get(9);
    Ok(Payment {
        id: r.get(0),
        provider: Provider::parse(&provider).ok_or_else(|| corrupt("provider", &provider))?,
        external_id: r.get(2),
        tenant: TenantId::new(tenant.clone()).map_err(|_| corrupt("tenant_id", &tenant))?,
        account: r.get(4),
        package: r.get(5),
        credits: r.get(6),
        amount: r.get(7),
        currency: r.get(8),
        status: PaymentStatus::parse(&status).ok_or_else(|| corrupt("status", &status))?,
        order_ref: r.get(10),
        entry_id: r.get(11),
        refund_claimed: r.get(12),
        refund_taken: r.get(13),
        dispute_claimed: r.get(14),
        dispute_taken: r.get(15),
        receipt_url: r.get(16),
        answer: r.get(17),
        acknowledged: match r.get::<_, Option<i32>>(18) {
            None => None,
            Some(code) => Some(
                Acknowledgement::from_code(i64::from(code))
                    .ok_or_else(|| corrupt("acknowledged", &code.to_string()))?,
            ),
        },
        created_at: r.get(19),
        updated_at: r.get(20),
        product_id: r.get(21),
        dispute_id: r.get(22),
        dispute_closed: r.get(23),
    })
}

fn rows(rows: &[Row]) -> Result<Vec<Payment>, LedgerError> {
    rows.iter().map(row).collect()
}

/// The stored acknowledgement.
fn ack(p: &Payment) -> Option<i32> {
    p.acknowledged
        .map(|a| i32::try_from(a.code()).unwrap_or(i32::MAX))
}

/// The table's checks on the values a write stores, so that a payment breaking them
/// is refused without failing the transaction. The table keeps them too.
fn check(p: &Payment) -> Result<(), LedgerError> {
    let broken = if p.credits <= 0 {
        "credits > 0"
    } else if p.amount < 0 {
        "amount >= 0"
    } else if p.refund_claimed < 0 {
        "refund_claimed >= 0"
    } else if p.refund_taken < 0 || p.refund_taken > p.refund_claimed {
        "refund_taken >= 0 AND refund_taken <= refund_claimed"
    } else if p.dispute_claimed < 0 {
        "dispute_claimed >= 0"
    } else if p.dispute_taken < 0 || p.dispute_taken > p.dispute_claimed {
        "dispute_taken >= 0 AND dispute_taken <= dispute_claimed"
    } else if p.refund_claimed.checked_add(p.dispute_claimed).is_none()
        || p.refund_claimed + p.dispute_claimed > p.credits
    {
        "refund_claimed + dispute_claimed <= credits"
    } else if p.status != PaymentStatus::Open && p.entry_id.is_none() {
        "status = 'open' OR entry_id IS NOT NULL"
    } else {
        return Ok(());
    };
    // The external id (a purchase token, a transaction id) stays out of messages.
    Err(refused(format!(
        "payments: a {} payment breaks the check ({broken})",
        p.provider
    )))
}

fn by_external_id(
    conn: &mut PgConn,
    sql: &'static str,
    provider: Provider,
    external_id: &str,
) -> Result<Option<Payment>, LedgerError> {
    conn.query_opt(sql, &[&provider.as_str(), &external_id])?
        .as_ref()
        .map(row)
        .transpose()
}

impl Payments for PgTx {
    fn payment(
        &mut self,
        provider: Provider,
        external_id: &str,
    ) -> Result<Option<Payment>, LedgerError> {
        by_external_id(
            &mut self.conn,
            concat!(
                "SELECT ",
                columns!(),
                " FROM payments WHERE provider = $1 AND external_id = $2 FOR UPDATE"
            ),
            provider,
            external_id,
        )
    }

    fn payment_of_order(
        &mut self,
        provider: Provider,
        order_ref: &str,
    ) -> Result<Option<Payment>, LedgerError> {
        // Locked first, then read with a snapshot taken after the lock: a payment
        // another node wrote for this order meanwhile is seen.
        self.conn.query(
            "SELECT pg_advisory_xact_lock($1, hashtext($2::text || '/' || $3::text))",
            &[&ORDER_LOCK, &provider.as_str(), &order_ref],
        )?;
        self.conn
            .query_opt(
                concat!(
                    "SELECT ",
                    columns!(),
                    " FROM payments WHERE provider = $1 AND order_ref = $2
                     ORDER BY id DESC LIMIT 1 FOR UPDATE"
                ),
                &[&provider.as_str(), &order_ref],
            )?
            .as_ref()
            .map(row)
            .transpose()
    }

    fn insert_payment(&mut self, p: &Payment) -> Result<i64, LedgerError> {
        check(p)?;
        self.conn
            .query_opt(
                "INSERT INTO payments (provider, external_id, tenant_id, account, package_id,
                   credits, amount, currency, status, order_ref, entry_id, refund_claimed,
                   refund_taken, dispute_claimed, dispute_taken, receipt_url, answer,
                   acknowledged, created_at, updated_at, product_id, dispute_id, dispute_closed)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16,
                   $17, $18, $19, $20, $21, $22, $23)
                 ON CONFLICT (provider, external_id) DO NOTHING
                 RETURNING id",
                &[
                    &p.provider.as_str(),
                    &p.external_id,
                    &p.tenant.as_str(),
                    &p.account,
                    &p.package,
                    &p.credits,
                    &p.amount,
                    &p.currency,
                    &p.status.as_str(),
                    &p.order_ref,
                    &p.entry_id,
                    &p.refund_claimed,
                    &p.refund_taken,
                    &p.dispute_claimed,
                    &p.dispute_taken,
                    &p.receipt_url,
                    &p.answer,
                    &ack(p),
                    &p.created_at,
                    &p.updated_at,
                    &p.product_id,
                    &p.dispute_id,
                    &p.dispute_closed,
                ],
            )?
            .map(|r| r.get(0))
            .ok_or_else(|| {
                refused(format!(
                    "payments: a {} payment with that external id exists (unique provider, external_id)",
                    p.provider
                ))
            })
    }

    fn hold_receipt(
        &mut self,
        provider: Provider,
        order_ref: &str,
        receipt_url: &str,
        now: &str,
    ) -> Result<(), LedgerError> {
        self.conn.execute(
            "INSERT INTO payment_receipts (provider, order_ref, receipt_url, created_at)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT (provider, order_ref) DO UPDATE SET receipt_url = excluded.receipt_url",
            &[&provider.as_str(), &order_ref, &receipt_url, &now],
        )?;
        Ok(())
    }

    fn take_receipt(
        &mut self,
        provider: Provider,
        order_ref: &str,
    ) -> Result<Option<String>, LedgerError> {
        Ok(self
            .conn
            .query_opt(
                "DELETE FROM payment_receipts WHERE provider = $1 AND order_ref = $2
                 RETURNING receipt_url",
                &[&provider.as_str(), &order_ref],
            )?
            .map(|r| r.get(0)))
    }

    fn update_payment(&mut self, p: &Payment) -> Result<(), LedgerError> {
        check(p)?;
        self.conn.execute(
            "UPDATE payments SET status = $2, order_ref = $3, entry_id = $4,
               refund_claimed = $5, refund_taken = $6, dispute_claimed = $7,
               dispute_taken = $8, receipt_url = $9, answer = $10, acknowledged = $11,
               credits = $12, updated_at = $13, product_id = $14, dispute_id = $15,
               dispute_closed = $16
             WHERE id = $1",
            &[
                &p.id,
                &p.status.as_str(),
                &p.order_ref,
                &p.entry_id,
                &p.refund_claimed,
                &p.refund_taken,
                &p.dispute_claimed,
                &p.dispute_taken,
                &p.receipt_url,
                &p.answer,
                &ack(p),
                &p.credits,
                &p.updated_at,
                &p.product_id,
                &p.dispute_id,
                &p.dispute_closed,
            ],
        )?;
        Ok(())
    }
}

impl PaymentReads for PgRead {
    fn find_payment(
        &mut self,
        provider: Provider,
        external_id: &str,
    ) -> Result<Option<Payment>, LedgerError> {
        by_external_id(
            &mut self.0,
            concat!(
                "SELECT ",
                columns!(),
                " FROM payments WHERE provider = $1 AND external_id = $2"
            ),
            provider,
            external_id,
        )
    }

    fn unacknowledged(&mut self, after: i64, limit: u32) -> Result<Vec<Payment>, LedgerError> {
        rows(&self.0.query(
            concat!(
                "SELECT ",
                columns!(),
                " FROM payments
                 WHERE acknowledged = 0 AND status <> 'open' AND id > $1
                 ORDER BY id LIMIT $2"
            ),
            &[&after, &i64::from(limit)],
        )?)
    }

    fn list_payments(&mut self, f: &PaymentFilter) -> Result<Vec<Payment>, LedgerError> {
        rows(&self.0.query(
            concat!(
                "SELECT ",
                columns!(),
                " FROM payments
                 WHERE ($1::text IS NULL OR tenant_id = $1)
                   AND ($2::text IS NULL OR provider = $2)
                   AND (NOT $3 OR refund_claimed > refund_taken
                        OR dispute_claimed > dispute_taken)
                   AND ($4::bigint IS NULL OR id < $4)
                 ORDER BY id DESC LIMIT $5"
            ),
            &[
                &f.tenant.as_ref().map(TenantId::as_str),
                &f.provider.map(Provider::as_str),
                &f.unrecovered,
                &f.before,
                &i64::from(f.limit),
            ],
        )?)
    }
}
