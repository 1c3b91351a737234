//! The webhook delivery repositories on SQLite: `webhook_deliveries` joined with
//! `outbox`.

use rusqlite::{params, Connection, OptionalExtension, Row};

use super::read::SqliteRead;
use super::tx::SqliteTx;
use crate::ledger::{LedgerError, TenantId};
use crate::webhooks::deliveries::{
    Deliveries, DeliveryReads, DeliveryRow, DeliveryUpdate, Due, Status,
};

const ROW_COLUMNS: &str = "d.outbox_id, d.tenant_id, o.event_type, d.status, d.attempts,
     d.next_attempt_at, d.last_status, d.last_error, o.created_at, d.delivered_at, o.payload";

fn delivery_row(r: &Row<'_>) -> rusqlite::Result<DeliveryRow> {
    let status_text: String = r.get(3)?;
    let status = Status::parse(&status_text).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            3,
            rusqlite::types::Type::Text,
            format!("unknown delivery status {status_text:?}").into(),
        )
    })?;
    Ok(DeliveryRow {
        id: r.get(0)?,
        tenant: r.get(1)?,
        event_type: r.get(2)?,
        status,
        attempts: r.get(4)?,
        next_attempt_at: r.get(5)?,
        last_status: r.get(6)?,
        last_error: r.get(7)?,
        created_at: r.get(8)?,
        delivered_at: r.get(9)?,
        payload: r.get(10)?,
    })
}

fn due_row(r: &Row<'_>) -> rusqlite::Result<Due> {
    Ok(Due {
        outbox_id: r.get(0)?,
        tenant: r.get(1)?,
        account: r.get(2)?,
        event_type: r.get(3)?,
        attempts: r.get(4)?,
        payload: r.get(5)?,
    })
}

fn get(
    conn: &Connection,
    outbox_id: i64,
    tenant: Option<&TenantId>,
) -> Result<Option<DeliveryRow>, LedgerError> {
    let sql = format!(
        "SELECT {ROW_COLUMNS} FROM webhook_deliveries d JOIN outbox o ON o.id = d.outbox_id
         WHERE d.outbox_id = ?1 AND (?2 IS NULL OR d.tenant_id = ?2)"
    );
    Ok(conn
        .prepare_cached(&sql)?
        .query_row(
            params![outbox_id, tenant.map(TenantId::as_str)],
            delivery_row,
        )
        .optional()?)
}

impl Deliveries for SqliteTx {
    fn delivery(
        &mut self,
        outbox_id: i64,
        tenant: Option<&TenantId>,
    ) -> Result<Option<DeliveryRow>, LedgerError> {
        get(self.conn(), outbox_id, tenant)
    }

    fn reset(&mut self, outbox_id: i64, now_ms: i64, now: &str) -> Result<(), LedgerError> {
        self.conn()
            .prepare_cached(
                "UPDATE webhook_deliveries
                 SET status = 'pending', attempts = 0, next_attempt_at = ?2, delivered_at = NULL,
                     updated_at = ?3
                 WHERE outbox_id = ?1",
            )?
            .execute(params![outbox_id, now_ms, now])?;
        Ok(())
    }

    fn update_if_unchanged(
        &mut self,
        outbox_id: i64,
        attempts_before: u32,
        u: &DeliveryUpdate,
        now: &str,
    ) -> Result<bool, LedgerError> {
        let changed = self
            .conn()
            .prepare_cached(
                "UPDATE webhook_deliveries
                 SET status = ?3, attempts = ?4, next_attempt_at = ?5, last_status = ?6,
                     last_error = ?7, delivered_at = ?8, updated_at = ?9
                 WHERE outbox_id = ?1 AND status = 'pending' AND attempts = ?2",
            )?
            .execute(params![
                outbox_id,
                attempts_before,
                u.status.as_str(),
                u.attempts,
                u.next_attempt_at,
                u.last_status,
                u.last_error,
                u.delivered_at,
                now
            ])?;
        Ok(changed == 1)
    }
}

impl DeliveryReads for SqliteRead {
    fn list(
        &mut self,
        tenant: Option<&TenantId>,
        status: Option<Status>,
        limit: u32,
        offset: u64,
    ) -> Result<Vec<DeliveryRow>, LedgerError> {
        let sql = format!(
            "SELECT {ROW_COLUMNS} FROM webhook_deliveries d JOIN outbox o ON o.id = d.outbox_id
             WHERE (?1 IS NULL OR d.tenant_id = ?1) AND (?2 IS NULL OR d.status = ?2)
             ORDER BY d.outbox_id DESC LIMIT ?3 OFFSET ?4"
        );
        let mut stmt = self.conn().prepare_cached(&sql)?;
        let rows = stmt.query_map(
            params![
                tenant.map(TenantId::as_str),
                status.map(Status::as_str),
                limit,
                i64::try_from(offset).unwrap_or(i64::MAX)
            ],
            delivery_row,
        )?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn count(
        &mut self,
        tenant: Option<&TenantId>,
        status: Option<Status>,
    ) -> Result<u64, LedgerError> {
        let n: i64 = self
            .conn()
            .prepare_cached(
                "SELECT count(*) FROM webhook_deliveries
                 WHERE (?1 IS NULL OR tenant_id = ?1) AND (?2 IS NULL OR status = ?2)",
            )?
            .query_row(
                params![tenant.map(TenantId::as_str), status.map(Status::as_str)],
                |r| r.get(0),
            )?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    fn get(
        &mut self,
        outbox_id: i64,
        tenant: Option<&TenantId>,
    ) -> Result<Option<DeliveryRow>, LedgerError> {
        get(self.conn(), outbox_id, tenant)
    }

    fn due(
        &mut self,
        now_ms: i64,
        first_delay_ms: i64,
        durable_max: i64,
        limit: usize,
    ) -> Result<Vec<Due>, LedgerError> {
        // Walks the pending rows by idx_deliveries_pending in outbox order and stops at
        // `limit`: no sort over the backlog.
        let mut stmt = self.conn().prepare_cached(
            "SELECT d.outbox_id, d.tenant_id, d.account_id, o.event_type, d.attempts, o.payload
             FROM webhook_deliveries d JOIN outbox o ON o.id = d.outbox_id
             WHERE d.status = 'pending'
               AND d.outbox_id <= ?4
               AND d.next_attempt_at <= ?1
               AND (d.attempts > 0 OR d.next_attempt_at <= ?1 - ?2)
               AND (d.account_id IS NULL OR NOT EXISTS (
                     SELECT 1 FROM webhook_deliveries p
                     WHERE p.account_id = d.account_id AND p.status = 'pending'
                       AND p.outbox_id < d.outbox_id))
             ORDER BY d.outbox_id
             LIMIT ?3",
        )?;
        let rows = stmt.query_map(
            params![
                now_ms,
                first_delay_ms,
                i64::try_from(limit).unwrap_or(i64::MAX),
                durable_max
            ],
            due_row,
        )?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn next_for_account(
        &mut self,
        account: i64,
        now_ms: i64,
        first_delay_ms: i64,
        durable_max: i64,
    ) -> Result<Option<Due>, LedgerError> {
        Ok(self
            .conn()
            .prepare_cached(
                "SELECT d.outbox_id, d.tenant_id, d.account_id, o.event_type, d.attempts, o.payload
                 FROM (SELECT outbox_id FROM webhook_deliveries
                       WHERE account_id = ?1 AND status = 'pending'
                       ORDER BY outbox_id LIMIT 1) h
                 JOIN webhook_deliveries d ON d.outbox_id = h.outbox_id
                 JOIN outbox o ON o.id = d.outbox_id
                 WHERE d.next_attempt_at <= ?2
                   AND (d.attempts > 0 OR d.next_attempt_at <= ?2 - ?3)
                   AND d.outbox_id <= ?4",
            )?
            .query_row(
                params![account, now_ms, first_delay_ms, durable_max],
                due_row,
            )
            .optional()?)
    }
}
