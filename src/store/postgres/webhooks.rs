//! The webhook repositories on PostgreSQL: `webhook_deliveries` joined with `outbox`,
//! and `webhook_endpoints`. Recording an attempt is a compare-and-set on
//! `(status = 'pending', attempts)`, so when nodes race on one delivery only one
//! outcome is kept.

use postgres::Row;

use super::read::PgRead;
use super::tx::{PgConn, PgTx};
use crate::ledger::{LedgerError, TenantId};
use crate::secret::Secret;
use crate::webhooks::deliveries::{
    Deliveries, DeliveryReads, DeliveryRow, DeliveryUpdate, Due, EndpointReads, EndpointRow,
    Status, WebhookEndpoints,
};

fn attempts(n: i32) -> u32 {
    u32::try_from(n).unwrap_or(0)
}

fn delivery_row(r: &Row) -> Result<DeliveryRow, LedgerError> {
    let status: String = r.get(3);
    Ok(DeliveryRow {
        id: r.get(0),
        tenant: r.get(1),
        event_type: r.get(2),
        status: Status::parse(&status)
            .ok_or_else(|| LedgerError::Invalid(format!("unknown delivery status {status:?}")))?,
        attempts: attempts(r.get(4)),
        next_attempt_at: r.get(5),
        last_status: r
            .get::<_, Option<i32>>(6)
            .and_then(|s| u16::try_from(s).ok()),
        last_error: r.get(7),
        created_at: r.get(8),
        delivered_at: r.get(9),
        payload: r.get(10),
        endpoint: r.get(11),
    })
}

fn due_row(r: &Row) -> Due {
    Due {
        outbox_id: r.get(0),
        tenant: r.get(1),
        account: r.get(2),
        event_type: r.get(3),
        attempts: attempts(r.get(4)),
        payload: r.get(5),
        endpoint: r.get(6),
        trace: r.get(7),
    }
}

fn of_event(
    conn: &mut PgConn,
    outbox_id: i64,
    tenant: Option<&TenantId>,
) -> Result<Vec<DeliveryRow>, LedgerError> {
    conn.query(
        "SELECT d.outbox_id, d.tenant_id, o.event_type, d.status, d.attempts,
                d.next_attempt_at, d.last_status, d.last_error, o.created_at, d.delivered_at,
                o.payload, d.endpoint_id
         FROM webhook_deliveries d JOIN outbox o ON o.id = d.outbox_id
         WHERE d.outbox_id = $1 AND ($2::text IS NULL OR d.tenant_id = $2)
         ORDER BY d.endpoint_id",
        &[&outbox_id, &tenant.map(TenantId::as_str)],
    )?
    .iter()
    .map(delivery_row)
    .collect()
}

impl Deliveries for PgTx {
    fn deliveries_of(
        &mut self,
        outbox_id: i64,
        tenant: Option<&TenantId>,
    ) -> Result<Vec<DeliveryRow>, LedgerError> {
        of_event(&mut self.conn, outbox_id, tenant)
    }

    fn reset(&mut self, outbox_id: i64, now_ms: i64, now: &str) -> Result<(), LedgerError> {
        self.conn.execute(
            "UPDATE webhook_deliveries
             SET status = 'pending', attempts = 0, next_attempt_at = $2, delivered_at = NULL,
                 leased_until = NULL, updated_at = $3
             WHERE outbox_id = $1 AND status <> 'pending'",
            &[&outbox_id, &now_ms, &now],
        )?;
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
        let before = i32::try_from(attempts_before).unwrap_or(i32::MAX);
        // A row another transaction is claiming is skipped, not waited for.
        let leased = self.conn.execute(
            "UPDATE webhook_deliveries d SET leased_until = $5
             FROM (SELECT outbox_id, endpoint_id FROM webhook_deliveries
                   WHERE outbox_id = $1 AND endpoint_id = $2 AND status = 'pending'
                     AND attempts = $3 AND (leased_until IS NULL OR leased_until <= $4)
                   FOR UPDATE SKIP LOCKED) c
             WHERE d.outbox_id = c.outbox_id AND d.endpoint_id = c.endpoint_id",
            &[&outbox_id, &endpoint, &before, &now_ms, &until_ms],
        )?;
        Ok(leased == 1)
    }

    fn release(
        &mut self,
        outbox_id: i64,
        endpoint: &str,
        until_ms: i64,
    ) -> Result<bool, LedgerError> {
        let released = self.conn.execute(
            "UPDATE webhook_deliveries SET leased_until = NULL
             WHERE outbox_id = $1 AND endpoint_id = $2 AND leased_until = $3",
            &[&outbox_id, &endpoint, &until_ms],
        )?;
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
        let before = i32::try_from(attempts_before).unwrap_or(i32::MAX);
        let after = i32::try_from(u.attempts).unwrap_or(i32::MAX);
        let changed = self.conn.execute(
            "UPDATE webhook_deliveries
             SET status = $3, attempts = $4, next_attempt_at = $5, last_status = $6,
                 last_error = $7, delivered_at = $8, updated_at = $9, leased_until = NULL
             WHERE outbox_id = $1 AND endpoint_id = $10 AND status = 'pending'
               AND attempts = $2",
            &[
                &outbox_id,
                &before,
                &u.status.as_str(),
                &after,
                &u.next_attempt_at,
                &u.last_status.map(i32::from),
                &u.last_error,
                &u.delivered_at,
                &now,
                &endpoint,
            ],
        )?;
        Ok(changed == 1)
    }
}

impl DeliveryReads for PgRead {
    fn list(
        &mut self,
        tenant: Option<&TenantId>,
        status: Option<Status>,
        limit: u32,
        offset: u64,
    ) -> Result<Vec<DeliveryRow>, LedgerError> {
        self.0
            .query(
                "SELECT d.outbox_id, d.tenant_id, o.event_type, d.status, d.attempts,
                        d.next_attempt_at, d.last_status, d.last_error, o.created_at,
                        d.delivered_at, o.payload, d.endpoint_id
                 FROM webhook_deliveries d JOIN outbox o ON o.id = d.outbox_id
                 WHERE ($1::text IS NULL OR d.tenant_id = $1)
                   AND ($2::text IS NULL OR d.status = $2)
                 ORDER BY d.outbox_id DESC LIMIT $3 OFFSET $4",
                &[
                    &tenant.map(TenantId::as_str),
                    &status.map(Status::as_str),
                    &i64::from(limit),
                    &i64::try_from(offset).unwrap_or(i64::MAX),
                ],
            )?
            .iter()
            .map(delivery_row)
            .collect()
    }

    fn count(
        &mut self,
        tenant: Option<&TenantId>,
        status: Option<Status>,
    ) -> Result<u64, LedgerError> {
        let n: i64 = self
            .0
            .query_opt(
                "SELECT count(*) FROM webhook_deliveries
                 WHERE ($1::text IS NULL OR tenant_id = $1) AND ($2::text IS NULL OR status = $2)",
                &[&tenant.map(TenantId::as_str), &status.map(Status::as_str)],
            )?
            .map_or(0, |r| r.get(0));
        Ok(u64::try_from(n).unwrap_or(0))
    }

    fn get(
        &mut self,
        outbox_id: i64,
        tenant: Option<&TenantId>,
    ) -> Result<Option<DeliveryRow>, LedgerError> {
        Ok(of_event(&mut self.0, outbox_id, tenant)?.into_iter().next())
    }

    fn due(
        &mut self,
        now_ms: i64,
        first_delay_ms: i64,
        durable_max: i64,
        limit: usize,
    ) -> Result<Vec<Due>, LedgerError> {
        Ok(self
            .0
            .query(
                "SELECT d.outbox_id, d.tenant_id, d.account_id, o.event_type, d.attempts,
                        o.payload, d.endpoint_id, o.trace
                 FROM webhook_deliveries d JOIN outbox o ON o.id = d.outbox_id
                 WHERE d.status = 'pending'
                   AND d.outbox_id <= $4
                   AND d.next_attempt_at <= $1
                   AND (d.attempts > 0 OR d.next_attempt_at <= $1 - $2)
                   AND (d.leased_until IS NULL OR d.leased_until <= $1)
                   AND (d.account_id IS NULL OR NOT EXISTS (
                         SELECT 1 FROM webhook_deliveries p
                         WHERE p.account_id = d.account_id
                           AND (p.endpoint_id = d.endpoint_id OR p.endpoint_id = ''
                                OR d.endpoint_id = '')
                           AND p.status = 'pending' AND p.outbox_id < d.outbox_id))
                 ORDER BY d.outbox_id
                 LIMIT $3",
                &[
                    &now_ms,
                    &first_delay_ms,
                    &i64::try_from(limit).unwrap_or(i64::MAX),
                    &durable_max,
                ],
            )?
            .iter()
            .map(due_row)
            .collect())
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
            .0
            .query_opt(
                "SELECT d.outbox_id, d.tenant_id, d.account_id, o.event_type, d.attempts,
                        o.payload, d.endpoint_id, o.trace
                 FROM (SELECT outbox_id, endpoint_id FROM webhook_deliveries
                       WHERE account_id = $1 AND endpoint_id IN ($5, '') AND status = 'pending'
                       ORDER BY outbox_id LIMIT 1) h
                 JOIN webhook_deliveries d
                   ON d.outbox_id = h.outbox_id AND d.endpoint_id = h.endpoint_id
                 JOIN outbox o ON o.id = d.outbox_id
                 WHERE d.next_attempt_at <= $2
                   AND (d.attempts > 0 OR d.next_attempt_at <= $2 - $3)
                   AND (d.leased_until IS NULL OR d.leased_until <= $2)
                   AND d.outbox_id <= $4",
                &[&account, &now_ms, &first_delay_ms, &durable_max, &endpoint],
            )?
            .as_ref()
            .map(due_row))
    }
}

impl WebhookEndpoints for PgTx {
    fn upsert_endpoint(&mut self, e: &EndpointRow, now: &str) -> Result<(), LedgerError> {
        self.conn.execute(
            "INSERT INTO webhook_endpoints
               (id, tenant_id, url, secret, events, active, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7)
             ON CONFLICT (id) DO UPDATE SET
               tenant_id = excluded.tenant_id, url = excluded.url, secret = excluded.secret,
               events = excluded.events, active = excluded.active,
               updated_at = excluded.updated_at",
            &[
                &e.id,
                &e.tenant,
                &e.url,
                &e.secret.expose(),
                &e.events.join(","),
                &e.active,
                &now,
            ],
        )?;
        Ok(())
    }

    fn deactivate_others(
        &mut self,
        id_prefix: &str,
        keep: &[String],
        now: &str,
    ) -> Result<u64, LedgerError> {
        self.conn.execute(
            "UPDATE webhook_endpoints SET active = false, updated_at = $3
             WHERE active AND starts_with(id, $1) AND NOT (id = ANY ($2))",
            &[&id_prefix, &keep, &now],
        )
    }

    fn delete_endpoint(&mut self, tenant: &TenantId, id: &str) -> Result<bool, LedgerError> {
        Ok(self.conn.execute(
            "DELETE FROM webhook_endpoints WHERE tenant_id = $1 AND id = $2",
            &[&tenant.as_str(), &id],
        )? == 1)
    }
}

impl EndpointReads for PgRead {
    fn endpoints(&mut self) -> Result<Vec<(EndpointRow, String)>, LedgerError> {
        Ok(self
            .0
            .query(
                "SELECT e.id, e.tenant_id, e.url, e.secret, e.events, e.active, t.mode
                 FROM webhook_endpoints e JOIN tenants t ON t.id = e.tenant_id ORDER BY e.id",
                &[],
            )?
            .iter()
            .map(|r| {
                let events: String = r.get(4);
                (
                    EndpointRow {
                        id: r.get(0),
                        tenant: r.get(1),
                        url: r.get(2),
                        secret: Secret::new(r.get::<_, String>(3)),
                        events: events.split(',').map(str::to_string).collect(),
                        active: r.get(5),
                    },
                    r.get(6),
                )
            })
            .collect())
    }
}
