//! The delivery state of outbox events (`webhook_deliveries`): the rules the
//! dispatcher, the admin routes and the CLI share, over the [`Deliveries`] (in a unit
//! of work) and [`DeliveryReads`] repositories that each storage backend implements.
//!
//! Reads take a [`LedgerRead`] (use them inside [`Ledger::read`]); changes take a
//! [`LedgerTx`] (run them inside [`Ledger::run`]) and only ever touch the delivery
//! state.
//!
//! [`Ledger::read`]: crate::ledger::Ledger::read
//! [`Ledger::run`]: crate::ledger::Ledger::run

use serde::Serialize;
use utoipa::ToSchema;

use super::signing::webhook_id;
use crate::ledger::{Ledger, LedgerError, LedgerRead, LedgerTx, TenantId};
use crate::secret::Secret;

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

/// A delivery as stored, before it is shown ([`DeliveryRow::view`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRow {
    /// Outbox id.
    pub id: i64,
    /// The endpoint it goes to (`''`: none wanted the event when it was written).
    pub endpoint: String,
    /// Tenant.
    pub tenant: String,
    /// Event type.
    pub event_type: String,
    /// State.
    pub status: Status,
    /// Attempts made.
    pub attempts: u32,
    /// Unix milliseconds of the next attempt.
    pub next_attempt_at: i64,
    /// HTTP status of the last attempt.
    pub last_status: Option<u16>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// When the event was written (RFC 3339 UTC).
    pub created_at: String,
    /// When it was delivered (RFC 3339 UTC).
    pub delivered_at: Option<String>,
    /// The exact body.
    pub payload: String,
}

impl DeliveryRow {
    /// As admins see it.
    pub fn view(self) -> DeliveryView {
        DeliveryView {
            id: self.id,
            webhook_id: webhook_id(self.id),
            tenant: self.tenant,
            event_type: self.event_type,
            status: self.status,
            attempts: self.attempts,
            next_attempt_at: (self.status == Status::Pending)
                .then(|| rfc3339_millis(self.next_attempt_at)),
            last_status: self.last_status,
            last_error: self.last_error,
            created_at: self.created_at,
            delivered_at: self.delivered_at,
            payload: self.payload,
        }
    }
}

/// What an attempt (or a replay) leaves on a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryUpdate {
    /// The new state.
    pub status: Status,
    /// Attempts made so far.
    pub attempts: u32,
    /// Unix milliseconds of the next attempt.
    pub next_attempt_at: i64,
    /// HTTP status of the last attempt.
    pub last_status: Option<u16>,
    /// Why it failed.
    pub last_error: Option<String>,
    /// When it was delivered (RFC 3339 UTC).
    pub delivered_at: Option<String>,
}

/// The delivery state inside a unit of work.
pub trait Deliveries {
    /// The deliveries of event `outbox_id`, one per endpoint (of `tenant` only, when
    /// given), by endpoint id.
    ///
    /// # Errors
    /// Storage errors.
    fn deliveries_of(
        &mut self,
        outbox_id: i64,
        tenant: Option<&TenantId>,
    ) -> Result<Vec<DeliveryRow>, LedgerError>;
    /// Puts the event's deliveries that are not pending back to pending with 0
    /// attempts, due at `now_ms`, keeping `last_status` and `last_error`.
    ///
    /// # Errors
    /// Storage errors.
    fn reset(&mut self, outbox_id: i64, now_ms: i64, now: &str) -> Result<(), LedgerError>;
    /// Leases the delivery of event `outbox_id` to `endpoint` until `until_ms` (unix
    /// ms) if it is still pending with `attempts_before` attempts and not leased past
    /// `now_ms`; returns whether this call got it. Nodes sharing one database lease a
    /// delivery before attempting it, so that one event goes out once while they all
    /// run, and again only after a lease runs out (its node died mid-attempt). A
    /// leased delivery is not due, and holds back its account's later events, until
    /// its outcome is recorded or the lease runs out. On PostgreSQL the row is claimed
    /// with `FOR UPDATE SKIP LOCKED`.
    ///
    /// # Errors
    /// Storage errors.
    fn lease(
        &mut self,
        outbox_id: i64,
        endpoint: &str,
        attempts_before: u32,
        now_ms: i64,
        until_ms: i64,
    ) -> Result<bool, LedgerError>;
    /// Ends the lease of the delivery of `outbox_id` to `endpoint` that runs until
    /// `until_ms` (this node's, given back at shutdown for an attempt it abandoned);
    /// returns whether it was still that lease.
    ///
    /// # Errors
    /// Storage errors.
    fn release(
        &mut self,
        outbox_id: i64,
        endpoint: &str,
        until_ms: i64,
    ) -> Result<bool, LedgerError>;
    /// Writes `update` on the delivery of the event to `endpoint` if it is still
    /// pending with `attempts_before` attempts, ending its lease; returns whether it
    /// was.
    ///
    /// # Errors
    /// Storage errors.
    fn update_if_unchanged(
        &mut self,
        outbox_id: i64,
        endpoint: &str,
        attempts_before: u32,
        update: &DeliveryUpdate,
        now: &str,
    ) -> Result<bool, LedgerError>;
}

/// The delivery state as readers see it.
pub trait DeliveryReads {
    /// Deliveries, newest event first, optionally of one tenant and one status.
    ///
    /// # Errors
    /// Storage errors.
    fn list(
        &mut self,
        tenant: Option<&TenantId>,
        status: Option<Status>,
        limit: u32,
        offset: u64,
    ) -> Result<Vec<DeliveryRow>, LedgerError>;
    /// How many deliveries [`DeliveryReads::list`] pages through.
    ///
    /// # Errors
    /// Storage errors.
    fn count(
        &mut self,
        tenant: Option<&TenantId>,
        status: Option<Status>,
    ) -> Result<u64, LedgerError>;
    /// The first delivery of an event (by endpoint id).
    ///
    /// # Errors
    /// Storage errors.
    fn get(
        &mut self,
        outbox_id: i64,
        tenant: Option<&TenantId>,
    ) -> Result<Option<DeliveryRow>, LedgerError>;
    /// The events that may be attempted: see [`due`].
    ///
    /// # Errors
    /// Storage errors.
    fn due(
        &mut self,
        now_ms: i64,
        first_delay_ms: i64,
        durable_max: i64,
        limit: usize,
    ) -> Result<Vec<Due>, LedgerError>;
    /// The oldest pending event of `account` to `endpoint` (or to no endpoint yet,
    /// `''`) if it may be attempted: see [`next_for_account`].
    ///
    /// # Errors
    /// Storage errors.
    fn next_for_account(
        &mut self,
        account: i64,
        endpoint: &str,
        now_ms: i64,
        first_delay_ms: i64,
        durable_max: i64,
    ) -> Result<Option<Due>, LedgerError>;
}

/// Deliveries, newest event first, optionally of one tenant and one status. `limit`
/// and `offset` page through them.
///
/// # Errors
/// Storage errors.
pub fn list_deliveries(
    r: &mut LedgerRead<'_>,
    tenant: Option<&TenantId>,
    status: Option<Status>,
    limit: u32,
    offset: u64,
) -> Result<Vec<DeliveryView>, LedgerError> {
    Ok(r.repo::<dyn DeliveryReads>()?
        .list(tenant, status, limit, offset)?
        .into_iter()
        .map(DeliveryRow::view)
        .collect())
}

/// How many deliveries [`list_deliveries`] would page through with the same filters.
///
/// # Errors
/// Storage errors.
pub fn count_deliveries(
    r: &mut LedgerRead<'_>,
    tenant: Option<&TenantId>,
    status: Option<Status>,
) -> Result<u64, LedgerError> {
    r.repo::<dyn DeliveryReads>()?.count(tenant, status)
}

/// One delivery by outbox id; `None` when unknown or, with `tenant`, of another
/// tenant.
///
/// # Errors
/// Storage errors.
pub fn get_delivery(
    r: &mut LedgerRead<'_>,
    outbox_id: i64,
    tenant: Option<&TenantId>,
) -> Result<Option<DeliveryView>, LedgerError> {
    Ok(r.repo::<dyn DeliveryReads>()?
        .get(outbox_id, tenant)?
        .map(DeliveryRow::view))
}

/// [`replay`] in its own unit of work (of `tenant` only, with one), then wakes the
/// dispatcher so that the attempt goes out now, and logs it. What the admin routes
/// and the console call.
///
/// # Errors
/// As [`replay`].
pub async fn replay_now(
    ledger: &Ledger,
    outbox_id: i64,
    tenant: Option<TenantId>,
) -> Result<DeliveryView, ReplayError> {
    let view = ledger
        .run(move |tx| replay(tx, outbox_id, tenant.as_ref()))
        .await?;
    ledger.outbox_signal().notify_one();
    tracing::info!(event = %view.webhook_id, tenant = %view.tenant, "webhook delivery replayed");
    Ok(view)
}

/// Puts a dead or delivered event back to pending with 0 attempts (to each of its
/// endpoints that is not pending), due now: the retry schedule starts over as for a
/// new event. `last_status` and `last_error` are
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
    let now = tx.now();
    let repo = tx.repo::<dyn Deliveries>()?;
    let current = repo.deliveries_of(outbox_id, tenant)?;
    if current.is_empty() {
        return Err(ReplayError::NotFound(outbox_id));
    }
    if current.iter().all(|d| d.status == Status::Pending) {
        return Err(ReplayError::AlreadyPending(outbox_id));
    }
    repo.reset(outbox_id, now_millis(), now)?;
    repo.deliveries_of(outbox_id, tenant)?
        .into_iter()
        .next()
        .map(DeliveryRow::view)
        .ok_or(ReplayError::NotFound(outbox_id))
}

/// What the dispatcher needs to attempt a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due {
    /// Outbox id.
    pub outbox_id: i64,
    /// The endpoint (`''`: none wanted the event when it was written).
    pub endpoint: String,
    /// Tenant.
    pub tenant: String,
    /// The account whose events go in order, if any.
    pub account: Option<i64>,
    /// Event type.
    pub event_type: String,
    /// Attempts made before.
    pub attempts: u32,
    /// The exact body.
    pub payload: String,
    /// The trace of the request that caused it (`X-Request-Trace`).
    pub trace: Option<String>,
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
    r: &mut LedgerRead<'_>,
    now_ms: i64,
    first_delay_ms: i64,
    durable_max: i64,
    limit: usize,
) -> Result<Vec<Due>, LedgerError> {
    r.repo::<dyn DeliveryReads>()?
        .due(now_ms, first_delay_ms, durable_max, limit)
}

/// The oldest pending event of `account` if it may be attempted at `now_ms` (the
/// same rules as [`due`]): what to send next once the account's previous event is
/// settled (per endpoint). One index seek, whatever the backlog.
pub(crate) fn next_for_account(
    r: &mut LedgerRead<'_>,
    account: i64,
    endpoint: &str,
    now_ms: i64,
    first_delay_ms: i64,
    durable_max: i64,
) -> Result<Option<Due>, LedgerError> {
    r.repo::<dyn DeliveryReads>()?.next_for_account(
        account,
        endpoint,
        now_ms,
        first_delay_ms,
        durable_max,
    )
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

/// Records `outcome` of the attempt made on the delivery of `outbox_id` to `endpoint`
/// (which had `attempts_before` attempts before). Does nothing when the row changed meanwhile (no longer pending with that
/// count). Returns the status the delivery now has, or `None` when nothing was
/// written.
pub(crate) fn record(
    tx: &mut LedgerTx<'_>,
    outbox_id: i64,
    endpoint: &str,
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
    let update = DeliveryUpdate {
        status,
        attempts,
        next_attempt_at: next,
        last_status,
        last_error,
        delivered_at,
    };
    let changed = tx.repo::<dyn Deliveries>()?.update_if_unchanged(
        outbox_id,
        endpoint,
        attempts_before,
        &update,
        &now,
    )?;
    Ok(changed.then_some((status, attempts)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_attempt_is_the_schedule_delay_after_the_failure() {
        let s = [0, 5, 300];
        assert_eq!(next_attempt_at(1, &s, 1_000), Some(6_000));
        assert_eq!(next_attempt_at(2, &s, 1_000), Some(301_000));
        assert_eq!(next_attempt_at(3, &s, 1_000), None);
        assert!(rfc3339_millis(1_700_000_000_123).starts_with("2023-11-14T22:13:20.123Z"));
    }
}

/// A webhook endpoint: where a tenant's events go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointRow {
    /// Its id (`config:<tenant>` for a configured one).
    pub id: String,
    /// The tenant whose events go there.
    pub tenant: String,
    /// The receiver's URL.
    pub url: String,
    /// The signing secret.
    pub secret: Secret,
    /// Event types it wants (`["*"]`: all).
    pub events: Vec<String>,
    /// Whether events go there.
    pub active: bool,
}

impl EndpointRow {
    /// Whether it wants events of `event_type`.
    pub fn wants(&self, event_type: &str) -> bool {
        self.events.iter().any(|e| e == "*" || e == event_type)
    }
}

/// Webhook endpoints inside a unit of work. New events get one delivery per active
/// endpoint of their tenant that wants them.
pub trait WebhookEndpoints {
    /// Creates or replaces endpoint `row.id` (its creation time kept).
    ///
    /// # Errors
    /// Storage errors.
    fn upsert_endpoint(&mut self, row: &EndpointRow, now: &str) -> Result<(), LedgerError>;
    /// Turns off every endpoint whose id starts with `id_prefix`, except those in
    /// `keep` (the ones a dialect seeds from its settings, when a tenant left them).
    /// Returns how many.
    ///
    /// # Errors
    /// Storage errors.
    fn deactivate_others(
        &mut self,
        id_prefix: &str,
        keep: &[String],
        now: &str,
    ) -> Result<u64, LedgerError>;
    /// Deletes endpoint `id` of `tenant`; says whether it existed. Its pending
    /// deliveries dead-letter when due.
    ///
    /// # Errors
    /// Storage errors.
    fn delete_endpoint(&mut self, tenant: &TenantId, id: &str) -> Result<bool, LedgerError>;
}

/// Webhook endpoints as readers see them.
pub trait EndpointReads {
    /// Every endpoint with the mode of its tenant (the dialect that signs), by id.
    ///
    /// # Errors
    /// Storage errors.
    fn endpoints(&mut self) -> Result<Vec<(EndpointRow, String)>, LedgerError>;
}
