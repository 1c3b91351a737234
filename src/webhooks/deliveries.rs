//! The delivery state of outbox events (`webhook_deliveries`, schema version 2): the
//! queries the dispatcher, the admin routes and the CLI share.
//!
//! Reads take a plain [`Connection`] (use them inside [`Ledger::read`]); changes take a
//! [`LedgerTx`] (run them inside [`Ledger::run`]) and only ever touch
//! `webhook_deliveries`.
//!
//! [`Ledger::read`]: crate::ledger::Ledger::read
//! [`Ledger::run`]: crate::ledger::Ledger::run

use rusqlite::{params, Connection, OptionalExtension, Row};
use serde::Serialize;
use utoipa::ToSchema;

use super::signing::webhook_id;
use crate::ledger::{LedgerError, LedgerTx, TenantId};

/// The state of a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Not yet delivered: waiting for its next attempt (or for an older event of its
    /// account).
    Pending,
    /// A receiver answered 2xx.
    Delivered,
    /// Given up: the retry schedule ran out, the receiver answered 410 Gone, or the
    /// tenant has no `webhook_url`. Can be replayed.
    Dead,
}

impl Status {
    /// The stored value: `pending`, `delivered` or `dead`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Delivered => "delivered",
            Status::Dead => "dead",
        }
    }

    /// Parses a stored or query value; `None` for anything else.
    pub fn parse(s: &str) -> Option<Status> {
        match s {
            "pending" => Some(Status::Pending),
            "delivered" => Some(Status::Delivered),
            "dead" => Some(Status::Dead),
            _ => None,
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One outbox event and its delivery state, as admins see it.
///
/// The payload is included: it is the tenant's own event (the body its receiver gets),
/// shown only to that tenant's admin key and to the operator's CLI. It is never
/// logged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct DeliveryView {
    /// The outbox id (the `{id}` of the replay route).
    pub id: i64,
    /// The `webhook-id` header of every attempt: `evt_<id>`.
    pub webhook_id: String,
    /// The tenant.
    pub tenant: String,
    /// Event type, e.g. `credits.issued`.
    pub event_type: String,
    /// `pending`, `delivered` or `dead`.
    pub status: Status,
    /// Attempts made since the event was written or last replayed.
    pub attempts: u32,
    /// When the next attempt is due (RFC 3339 UTC, milliseconds); only while pending.
    pub next_attempt_at: Option<String>,
    /// HTTP status of the last attempt, if the receiver answered.
    pub last_status: Option<u16>,
    /// Why the last attempt failed (`HTTP 500: …`, `timeout after 10 s`,
    /// `connection error: …`, `no webhook_url configured`).
    pub last_error: Option<String>,
    /// When the event was written (RFC 3339 UTC).
    pub created_at: String,
    /// When a receiver acknowledged it (RFC 3339 UTC).
    pub delivered_at: Option<String>,
    /// The exact body sent.
    pub payload: String,
}

/// Why a replay was refused.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// No delivery with that id (in the caller's tenant).
    #[error("Webhook delivery {0} not found.")]
    NotFound(i64),
    /// The delivery is still pending: it will be attempted anyway.
    #[error("Webhook delivery {0} is already pending.")]
    AlreadyPending(i64),
    /// Storage failed.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}

/// RFC 3339 UTC of unix milliseconds `ms`.
pub fn rfc3339_millis(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_else(|_| ms.to_string())
}

/// The current time in unix milliseconds (the unit of `next_attempt_at`).
pub fn now_millis() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

const VIEW_COLUMNS: &str = "d.outbox_id, d.tenant_id, o.event_type, d.status, d.attempts,
     d.next_attempt_at, d.last_status, d.last_error, o.created_at, d.delivered_at, o.payload";

fn view(r: &Row<'_>) -> rusqlite::Result<DeliveryView> {
    let id: i64 = r.get(0)?;
    let status_text: String = r.get(3)?;
    let status = Status::parse(&status_text).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            3,
            rusqlite::types::Type::Text,
            format!("unknown delivery status {status_text:?}").into(),
        )
    })?;
    let next: i64 = r.get(5)?;
    Ok(DeliveryView {
        id,
        webhook_id: webhook_id(id),
        tenant: r.get(1)?,
        event_type: r.get(2)?,
        status,
        attempts: r.get(4)?,
        next_attempt_at: (status == Status::Pending).then(|| rfc3339_millis(next)),
        last_status: r.get(6)?,
        last_error: r.get(7)?,
        created_at: r.get(8)?,
        delivered_at: r.get(9)?,
        payload: r.get(10)?,
    })
}

/// Deliveries, newest event first, optionally of one tenant and one status. `limit`
/// and `offset` page through them.
///
/// # Errors
/// Storage errors.
pub fn list_deliveries(
    conn: &Connection,
    tenant: Option<&TenantId>,
    status: Option<Status>,
    limit: u32,
    offset: u64,
) -> Result<Vec<DeliveryView>, LedgerError> {
    let sql = format!(
        "SELECT {VIEW_COLUMNS} FROM webhook_deliveries d JOIN outbox o ON o.id = d.outbox_id
         WHERE (?1 IS NULL OR d.tenant_id = ?1) AND (?2 IS NULL OR d.status = ?2)
         ORDER BY d.outbox_id DESC LIMIT ?3 OFFSET ?4"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(
        params![
            tenant.map(TenantId::as_str),
            status.map(Status::as_str),
            limit,
            i64::try_from(offset).unwrap_or(i64::MAX)
        ],
        view,
    )?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// How many deliveries [`list_deliveries`] would page through with the same filters.
///
/// # Errors
/// Storage errors.
pub fn count_deliveries(
    conn: &Connection,
    tenant: Option<&TenantId>,
    status: Option<Status>,
) -> Result<u64, LedgerError> {
    Ok(conn
        .prepare_cached(
            "SELECT count(*) FROM webhook_deliveries
             WHERE (?1 IS NULL OR tenant_id = ?1) AND (?2 IS NULL OR status = ?2)",
        )?
        .query_row(
            params![tenant.map(TenantId::as_str), status.map(Status::as_str)],
            |r| r.get::<_, i64>(0),
        )
        .map(|n| u64::try_from(n).unwrap_or(0))?)
}

/// One delivery by outbox id; `None` when unknown or, with `tenant`, of another
/// tenant.
///
/// # Errors
/// Storage errors.
pub fn get_delivery(
    conn: &Connection,
    outbox_id: i64,
    tenant: Option<&TenantId>,
) -> Result<Option<DeliveryView>, LedgerError> {
    let sql = format!(
        "SELECT {VIEW_COLUMNS} FROM webhook_deliveries d JOIN outbox o ON o.id = d.outbox_id
         WHERE d.outbox_id = ?1 AND (?2 IS NULL OR d.tenant_id = ?2)"
    );
    Ok(conn
        .prepare_cached(&sql)?
        .query_row(params![outbox_id, tenant.map(TenantId::as_str)], view)
        .optional()?)
}

/// Puts a dead or delivered delivery back to pending with 0 attempts, due now: the
/// retry schedule starts over as for a new event. `last_status` and `last_error` are
/// kept (they describe the last attempt made); `delivered_at` is cleared. With
/// `tenant`, only that tenant's deliveries are found. Returns the delivery as it is
/// now. The dispatcher picks it up on its next poll (wake it with
/// [`Ledger::outbox_signal`](crate::ledger::Ledger::outbox_signal) after the commit).
///
/// # Errors
/// [`ReplayError::NotFound`], [`ReplayError::AlreadyPending`], storage errors.
pub fn replay(
    tx: &mut LedgerTx<'_>,
    outbox_id: i64,
    tenant: Option<&TenantId>,
) -> Result<DeliveryView, ReplayError> {
    let current =
        get_delivery(tx.conn(), outbox_id, tenant)?.ok_or(ReplayError::NotFound(outbox_id))?;
    if current.status == Status::Pending {
        return Err(ReplayError::AlreadyPending(outbox_id));
    }
    let now = tx.now().to_string();
    tx.conn()
        .prepare_cached(
            "UPDATE webhook_deliveries
             SET status = 'pending', attempts = 0, next_attempt_at = ?2, delivered_at = NULL,
                 updated_at = ?3
             WHERE outbox_id = ?1",
        )
        .map_err(LedgerError::from)?
        .execute(params![outbox_id, now_millis(), now])
        .map_err(LedgerError::from)?;
    get_delivery(tx.conn(), outbox_id, tenant)?.ok_or(ReplayError::NotFound(outbox_id))
}

/// What the dispatcher needs to attempt a delivery.
#[derive(Clone)]
pub(crate) struct Due {
    pub(crate) outbox_id: i64,
    pub(crate) tenant: String,
    pub(crate) account: Option<i64>,
    pub(crate) event_type: String,
    pub(crate) attempts: u32,
    pub(crate) payload: String,
}

/// The events that may be attempted at `now_ms`: pending, due, durable (outbox id at
/// most `durable_max`, see [`Ledger::durable_outbox_id`](crate::ledger::Ledger::durable_outbox_id)),
/// and the oldest pending event of their account (events without an account are
/// independent).
/// A delivery that has never been attempted is due `first_delay_ms` after its
/// `next_attempt_at` (schedule[0]). In outbox order: the scan walks the pending rows
/// by `idx_deliveries_pending` and stops at `limit`, so its cost depends on how far
/// the first heads are, not on the size of the backlog (no sort over every pending
/// row).
pub(crate) fn due(
    conn: &Connection,
    now_ms: i64,
    first_delay_ms: i64,
    durable_max: i64,
    limit: usize,
) -> Result<Vec<Due>, LedgerError> {
    let mut stmt = conn.prepare_cached(
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

/// The oldest pending event of `account` if it may be attempted at `now_ms` (the
/// same rules as [`due`]): what to send next once the account's previous event is
/// settled. One index seek, whatever the backlog.
pub(crate) fn next_for_account(
    conn: &Connection,
    account: i64,
    now_ms: i64,
    first_delay_ms: i64,
    durable_max: i64,
) -> Result<Option<Due>, LedgerError> {
    Ok(conn
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

fn due_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Due> {
    Ok(Due {
        outbox_id: r.get(0)?,
        tenant: r.get(1)?,
        account: r.get(2)?,
        event_type: r.get(3)?,
        attempts: r.get(4)?,
        payload: r.get(5)?,
    })
}

/// The outcome of one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// 2xx.
    Delivered {
        /// The status.
        status: u16,
    },
    /// A failed attempt: another is made after the schedule's delay, unless the
    /// schedule is exhausted.
    Failed {
        /// The receiver's status, if it answered.
        status: Option<u16>,
        /// Why.
        error: String,
    },
    /// No further attempt: dead at once (410 Gone, no endpoint).
    Dead {
        /// The receiver's status, if it answered.
        status: Option<u16>,
        /// Why.
        error: String,
        /// Whether an HTTP attempt was made (counts in `attempts`).
        attempted: bool,
    },
}

/// When the attempt after the `attempts`-th failure is due (unix ms), or `None` when
/// the schedule is exhausted (`attempts >= schedule.len()`): attempt k+1 happens
/// `schedule_secs[k]` seconds after failure k.
pub(crate) fn next_attempt_at(attempts: u32, schedule_secs: &[u64], now_ms: i64) -> Option<i64> {
    let delay = *schedule_secs.get(usize::try_from(attempts).ok()?)?;
    let delay_ms = i64::try_from(delay.saturating_mul(1000)).unwrap_or(i64::MAX);
    Some(now_ms.saturating_add(delay_ms))
}

/// Records `outcome` of the attempt made on `due` (which had `due.attempts` attempts
/// before). Does nothing when the row changed meanwhile (no longer pending with that
/// count). Returns the status the delivery now has, or `None` when nothing was
/// written.
pub(crate) fn record(
    tx: &mut LedgerTx<'_>,
    outbox_id: i64,
    attempts_before: u32,
    outcome: &Outcome,
    schedule_secs: &[u64],
) -> Result<Option<(Status, u32)>, LedgerError> {
    let now = tx.now().to_string();
    let now_ms = now_millis();
    let attempts = attempts_before.saturating_add(1);
    let (status, attempts, next, last_status, last_error, delivered_at) = match outcome {
        Outcome::Delivered { status } => (
            Status::Delivered,
            attempts,
            now_ms,
            Some(*status),
            None,
            Some(now.clone()),
        ),
        Outcome::Failed { status, error } => match next_attempt_at(attempts, schedule_secs, now_ms)
        {
            Some(next) => (
                Status::Pending,
                attempts,
                next,
                *status,
                Some(error.clone()),
                None,
            ),
            None => (
                Status::Dead,
                attempts,
                now_ms,
                *status,
                Some(error.clone()),
                None,
            ),
        },
        Outcome::Dead {
            status,
            error,
            attempted,
        } => (
            Status::Dead,
            if *attempted {
                attempts
            } else {
                attempts_before
            },
            now_ms,
            *status,
            Some(error.clone()),
            None,
        ),
    };
    let changed = tx
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
            status.as_str(),
            attempts,
            next,
            last_status,
            last_error,
            delivered_at,
            now
        ])?;
    Ok((changed == 1).then_some((status, attempts)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::{Ledger, LedgerOptions, TenantSpec};

    fn ledger() -> (tempfile::TempDir, Ledger, TenantId) {
        let dir = tempfile::tempdir().unwrap();
        let ledger = Ledger::open(&dir.path().join("ledger.db"), LedgerOptions::default()).unwrap();
        let t = TenantId::new("t").unwrap();
        ledger
            .ensure_tenant_blocking(TenantSpec {
                id: t.clone(),
                mode: "roochip".into(),
                scale: 2,
                ceiling: 1_000_000,
            })
            .unwrap();
        (dir, ledger, t)
    }

    fn enqueue(ledger: &Ledger, t: &TenantId, holder: Option<&str>) -> i64 {
        let t = t.clone();
        let holder = holder.map(str::to_string);
        ledger
            .run_blocking(move |tx| {
                let a = match holder {
                    Some(h) => Some(tx.open_account(&t, &h)?),
                    None => None,
                };
                tx.enqueue_event(&t, a, "credits.issued", "{}")
            })
            .unwrap()
    }

    fn due_ids(ledger: &Ledger, now: i64, first: i64) -> Vec<i64> {
        ledger
            .read(|c| due(c, now, first, i64::MAX, 100))
            .unwrap()
            .into_iter()
            .map(|d| d.outbox_id)
            .collect()
    }

    fn record_blocking(
        ledger: &Ledger,
        id: i64,
        before: u32,
        o: Outcome,
        s: &[u64],
    ) -> Option<(Status, u32)> {
        let s = s.to_vec();
        ledger
            .run_blocking(move |tx| record(tx, id, before, &o, &s))
            .unwrap()
    }

    #[test]
    fn the_oldest_pending_event_of_an_account_holds_back_the_rest() {
        let (_dir, ledger, t) = ledger();
        let a1 = enqueue(&ledger, &t, Some("a"));
        let a2 = enqueue(&ledger, &t, Some("a"));
        let b1 = enqueue(&ledger, &t, Some("b"));
        let n1 = enqueue(&ledger, &t, None);
        let n2 = enqueue(&ledger, &t, None);
        let later = now_millis() + 60_000;
        assert_eq!(due_ids(&ledger, later, 0), vec![a1, b1, n1, n2]);
        // schedule[0] delays a never-attempted event.
        assert!(due_ids(&ledger, now_millis(), 3_600_000).is_empty());

        // a1 fails and is retried later: a2 stays held back.
        let s = [0, 5, 5];
        assert_eq!(
            record_blocking(
                &ledger,
                a1,
                0,
                Outcome::Failed {
                    status: Some(500),
                    error: "HTTP 500".into()
                },
                &s
            ),
            Some((Status::Pending, 1))
        );
        assert_eq!(due_ids(&ledger, now_millis(), 0), vec![b1, n1, n2]);
        assert!(due_ids(&ledger, now_millis() + 6_000, 0).contains(&a1));
        // A stale outcome (attempt count moved on) writes nothing.
        assert_eq!(
            record_blocking(&ledger, a1, 0, Outcome::Delivered { status: 200 }, &s),
            None
        );
        // a1 delivered: a2 is next.
        assert_eq!(
            record_blocking(&ledger, a1, 1, Outcome::Delivered { status: 204 }, &s),
            Some((Status::Delivered, 2))
        );
        assert_eq!(due_ids(&ledger, later, 0), vec![a2, b1, n1, n2]);
        // A dead event does not hold its account back.
        let dead = Outcome::Dead {
            status: Some(410),
            error: "HTTP 410".into(),
            attempted: true,
        };
        assert_eq!(
            record_blocking(&ledger, a2, 0, dead, &s),
            Some((Status::Dead, 1))
        );
        let a3 = enqueue(&ledger, &t, Some("a"));
        assert_eq!(due_ids(&ledger, later, 0), vec![b1, n1, n2, a3]);
    }

    #[test]
    fn failures_follow_the_schedule_then_dead_letter_and_replay_restarts() {
        let (_dir, ledger, t) = ledger();
        let id = enqueue(&ledger, &t, Some("a"));
        let s = [0, 1, 1];
        let fail = || Outcome::Failed {
            status: None,
            error: "connection error".into(),
        };
        assert_eq!(
            record_blocking(&ledger, id, 0, fail(), &s),
            Some((Status::Pending, 1))
        );
        assert_eq!(
            record_blocking(&ledger, id, 1, fail(), &s),
            Some((Status::Pending, 2))
        );
        assert_eq!(
            record_blocking(&ledger, id, 2, fail(), &s),
            Some((Status::Dead, 3))
        );
        let v = ledger
            .read(|c| get_delivery(c, id, Some(&t)))
            .unwrap()
            .unwrap();
        assert_eq!(
            (v.status, v.attempts, v.next_attempt_at),
            (Status::Dead, 3, None)
        );
        assert_eq!(v.last_error.as_deref(), Some("connection error"));
        assert_eq!(v.webhook_id, format!("evt_{id}"));

        let other = TenantId::new("other").unwrap();
        let replayed = {
            let other = other.clone();
            ledger.run_blocking(move |tx| replay(tx, id, Some(&other)))
        };
        assert!(matches!(replayed, Err(ReplayError::NotFound(_))));
        let v = {
            let t = t.clone();
            ledger
                .run_blocking(move |tx| replay(tx, id, Some(&t)))
                .unwrap()
        };
        assert_eq!((v.status, v.attempts), (Status::Pending, 0));
        assert!(v.next_attempt_at.is_some());
        let again = ledger.run_blocking(move |tx| replay(tx, id, None));
        assert!(matches!(again, Err(ReplayError::AlreadyPending(_))));
        assert_eq!(due_ids(&ledger, now_millis() + 1, 0), vec![id]);

        let listed = ledger
            .read(|c| list_deliveries(c, Some(&t), Some(Status::Pending), 10, 0))
            .unwrap();
        assert_eq!(listed.len(), 1);
        assert!(ledger
            .read(|c| list_deliveries(c, Some(&other), None, 10, 0))
            .unwrap()
            .is_empty());
        assert_eq!(
            ledger
                .read(|c| count_deliveries(c, None, Some(Status::Dead)))
                .unwrap(),
            0
        );
        ledger.shutdown();
    }

    #[test]
    fn the_next_attempt_is_the_schedule_delay_after_the_failure() {
        let s = [0, 5, 300];
        assert_eq!(next_attempt_at(1, &s, 1_000), Some(6_000));
        assert_eq!(next_attempt_at(2, &s, 1_000), Some(301_000));
        assert_eq!(next_attempt_at(3, &s, 1_000), None);
        assert!(rfc3339_millis(1_700_000_000_123).starts_with("2023-11-14T22:13:20.123Z"));
    }
}
