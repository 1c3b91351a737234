//! The webhook delivery repositories on SQLite: `webhook_deliveries` joined with
//! `outbox`.

use rusqlite::{params, Connection, OptionalExtension, Row};

use super::read::SqliteRead;
use super::tx::SqliteTx;
use crate::ledger::{LedgerError, TenantId};
use crate::secret::Secret;
use crate::webhooks::deliveries::{
    Deliveries, DeliveryReads, DeliveryRow, DeliveryUpdate, Due, EndpointReads, EndpointRow,
    Status, WebhookEndpoints,
};

const ROW_COLUMNS: &str = "d.outbox_id, d.tenant_id, o.event_type, d.status, d.attempts,
     d.next_attempt_at, d.last_status, d.last_error, o.created_at, d.delivered_at, o.payload,
     d.endpoint_id";

const DUE_COLUMNS: &str =
    "d.outbox_id, d.tenant_id, d.account_id, o.event_type, d.attempts, o.payload, d.endpoint_id,
     o.trace";

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
        endpoint: r.get(11)?,
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
        endpoint: r.get(6)?,
        trace: r.get(7)?,
    })
}

fn of_event(
    conn: &Connection,
    outbox_id: i64,
    tenant: Option<&TenantId>,
) -> Result<Vec<DeliveryRow>, LedgerError> {
    let sql = format!(
        "SELECT {ROW_COLUMNS} FROM webhook_deliveries d JOIN outbox o ON o.id = d.outbox_id
         WHERE d.outbox_id = ?1 AND (?2 IS NULL OR d.tenant_id = ?2) ORDER BY d.endpoint_id"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(
        params![outbox_id, tenant.map(TenantId::as_str)],
        delivery_row,
    )?;
    Ok(rows.collect::<Result<_, _>>()?)
}

impl Deliveries for SqliteTx {
    fn deliveries_of(
        &mut self,
        outbox_id: i64,
        tenant: Option<&TenantId>,
    ) -> Result<Vec<DeliveryRow>, LedgerError> {
        of_event(self.conn(), outbox_id, tenant)
    }

    fn reset(&mut self, outbox_id: i64, now_ms: i64, now: &str) -> Result<(), LedgerError> {
        self.conn()
            .prepare_cached(
                "UPDATE webhook_deliveries
                 SET status = 'pending', attempts = 0, next_attempt_at = ?2, delivered_at = NULL,
                     leased_until = NULL, updated_at = ?3
                 WHERE outbox_id = ?1 AND status <> 'pending'",
            )?
            .execute(params![outbox_id, now_ms, now])?;
        Ok(())
    }

    fn lease(
        &mut self,
        outbox_id: i64,
        endpoint: &str,
        attempts_before: u32,
        now_ms: i64,
        until_ms: i64,
    ) -> Result<bool, LedgerError> {
        let leased = self
            .conn()
            .prepare_cached(
                "UPDATE webhook_deliveries SET leased_until = ?5
                 WHERE outbox_id = ?1 AND endpoint_id = ?2 AND status = 'pending'
                   AND attempts = ?3 AND (leased_until IS NULL OR leased_until <= ?4)",
            )?
            .execute(params![
                outbox_id,
                endpoint,
                attempts_before,
                now_ms,
                until_ms
            ])?;
        Ok(leased == 1)
    }

    fn release(
        &mut self,
        outbox_id: i64,
        endpoint: &str,
        until_ms: i64,
    ) -> Result<bool, LedgerError> {
        let released = self
            .conn()
            .prepare_cached(
                "UPDATE webhook_deliveries SET leased_until = NULL
                 WHERE outbox_id = ?1 AND endpoint_id = ?2 AND leased_until = ?3",
            )?
            .execute(params![outbox_id, endpoint, until_ms])?;
        Ok(released == 1)
    }

    fn update_if_unchanged(
        &mut self,
        outbox_id: i64,
        endpoint: &str,
        attempts_before: u32,
        u: &DeliveryUpdate,
        now: &str,
    ) -> Result<bool, LedgerError> {
        let changed = self
            .conn()
            .prepare_cached(
                "UPDATE webhook_deliveries
                 SET status = ?3, attempts = ?4, next_attempt_at = ?5, last_status = ?6,
                     last_error = ?7, delivered_at = ?8, updated_at = ?9, leased_until = NULL
                 WHERE outbox_id = ?1 AND endpoint_id = ?10 AND status = 'pending'
                   AND attempts = ?2",
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
                now,
                endpoint
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
        Ok(of_event(self.conn(), outbox_id, tenant)?.into_iter().next())
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
        let mut stmt = self.conn().prepare_cached(&format!(
            "SELECT {DUE_COLUMNS}
             FROM webhook_deliveries d JOIN outbox o ON o.id = d.outbox_id
             WHERE d.status = 'pending'
               AND d.outbox_id <= ?4
               AND d.next_attempt_at <= ?1
               AND (d.attempts > 0 OR d.next_attempt_at <= ?1 - ?2)
               AND (d.leased_until IS NULL OR d.leased_until <= ?1)
               AND (d.account_id IS NULL OR NOT EXISTS (
                     SELECT 1 FROM webhook_deliveries p
                     WHERE p.account_id = d.account_id
                       AND (p.endpoint_id = d.endpoint_id OR p.endpoint_id = ''
                            OR d.endpoint_id = '')
                       AND p.status = 'pending' AND p.outbox_id < d.outbox_id))
             ORDER BY d.outbox_id
             LIMIT ?3"
        ))?;
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
        endpoint: &str,
        now_ms: i64,
        first_delay_ms: i64,
        durable_max: i64,
    ) -> Result<Option<Due>, LedgerError> {
        Ok(self
            .conn()
            .prepare_cached(&format!(
                "SELECT {DUE_COLUMNS}
                 FROM (SELECT outbox_id, endpoint_id FROM webhook_deliveries
                       WHERE account_id = ?1 AND endpoint_id IN (?5, '') AND status = 'pending'
                       ORDER BY outbox_id LIMIT 1) h
                 JOIN webhook_deliveries d
                   ON d.outbox_id = h.outbox_id AND d.endpoint_id = h.endpoint_id
                 JOIN outbox o ON o.id = d.outbox_id
                 WHERE d.next_attempt_at <= ?2
                   AND (d.attempts > 0 OR d.next_attempt_at <= ?2 - ?3)
                   AND (d.leased_until IS NULL OR d.leased_until <= ?2)
                   AND d.outbox_id <= ?4"
            ))?
            .query_row(
                params![account, now_ms, first_delay_ms, durable_max, endpoint],
                due_row,
            )
            .optional()?)
    }
}

fn endpoint_row(r: &Row<'_>) -> rusqlite::Result<(EndpointRow, String)> {
    let events: String = r.get(4)?;
    Ok((
        EndpointRow {
            id: r.get(0)?,
            tenant: r.get(1)?,
            url: r.get(2)?,
            secret: Secret::new(r.get::<_, String>(3)?),
            events: events.split(',').map(str::to_string).collect(),
            active: r.get(5)?,
        },
        r.get(6)?,
    ))
}

impl WebhookEndpoints for SqliteTx {
    fn upsert_endpoint(&mut self, e: &EndpointRow, now: &str) -> Result<(), LedgerError> {
        self.conn()
            .prepare_cached(
                "INSERT INTO webhook_endpoints
                   (id, tenant_id, url, secret, events, active, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)
                 ON CONFLICT (id) DO UPDATE SET
                   tenant_id = excluded.tenant_id, url = excluded.url, secret = excluded.secret,
                   events = excluded.events, active = excluded.active,
                   updated_at = excluded.updated_at",
            )?
            .execute(params![
                e.id,
                e.tenant,
                e.url,
                e.secret.expose(),
                e.events.join(","),
                e.active,
                now
            ])?;
        Ok(())
    }

    fn deactivate_others(
        &mut self,
        id_prefix: &str,
        keep: &[String],
        now: &str,
    ) -> Result<u64, LedgerError> {
        let keep = serde_json::to_string(keep).unwrap_or_else(|_| "[]".into());
        let n = self
            .conn()
            .prepare_cached(
                "UPDATE webhook_endpoints SET active = 0, updated_at = ?3
                 WHERE active AND substr(id, 1, length(?1)) = ?1
                   AND id NOT IN (SELECT value FROM json_each(?2))",
            )?
            .execute(params![id_prefix, keep, now])?;
        Ok(n as u64)
    }

    fn delete_endpoint(&mut self, tenant: &TenantId, id: &str) -> Result<bool, LedgerError> {
        let n = self
            .conn()
            .prepare_cached("DELETE FROM webhook_endpoints WHERE tenant_id = ?1 AND id = ?2")?
            .execute(params![tenant.as_str(), id])?;
        Ok(n == 1)
    }
}

impl EndpointReads for SqliteRead {
    fn endpoints(&mut self) -> Result<Vec<(EndpointRow, String)>, LedgerError> {
        let mut stmt = self.conn().prepare_cached(
            "SELECT e.id, e.tenant_id, e.url, e.secret, e.events, e.active, t.mode
             FROM webhook_endpoints e JOIN tenants t ON t.id = e.tenant_id ORDER BY e.id",
        )?;
        let rows = stmt.query_map([], endpoint_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}
