//! Webhook delivery of outbox events, shared by every dialect.
//!
//! A dialect writes an event with [`LedgerTx::enqueue_event`] inside the unit of work
//! that caused it: the event (an `outbox` row holding the exact body to send) and its
//! pending delivery (`webhook_deliveries`) exist if and only if the effect does. The
//! [`Dispatcher`] delivers them after the commit:
//!
//! - **at least once**: an attempt whose outcome was not recorded (crash, shutdown)
//!   leaves the delivery pending, and it is attempted again; receivers de-duplicate
//!   on `webhook-id`;
//! - **in order per account**: an account's pending event holds back its later ones;
//!   other accounts are delivered concurrently (`webhooks.concurrency`);
//! - **retries** follow `webhooks.schedule_secs` (the Standard Webhooks schedule by
//!   default, field-notes §4): the first attempt `schedule[0]` s after the event,
//!   attempt k+1 `schedule[k]` s after the k-th failure; after `schedule.len()`
//!   failed attempts the delivery is dead. A 2xx answer delivers; 410 Gone
//!   dead-letters at once; any other status, a timeout (`webhooks.timeout_secs`), a
//!   connection error or a redirect (not followed) is a failed attempt;
//! - **restarts**: all state is in SQLite; a new dispatcher resumes every pending
//!   delivery.
//!
//! Signatures: [`signing`]. Queries and replay for the admin routes and the CLI:
//! [`deliveries`]. A dialect mounts admin routes over [`deliveries`]. Logs name events by `webhook-id`, tenant
//! and status only: never a secret, a payload or a webhook URL.
//!
//! [`LedgerTx::enqueue_event`]: crate::ledger::LedgerTx::enqueue_event

use serde::{Deserialize, Serialize};

pub mod deliveries;
pub mod dispatcher;
pub mod signing;

pub use deliveries::{
    count_deliveries, get_delivery, list_deliveries, replay, DeliveryView, ReplayError, Status,
};
pub use dispatcher::{Dispatcher, DispatcherHandle, NO_ENDPOINT};
pub use signing::WebhookFormat;

/// `[webhooks]`: delivery of outbox events.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct WebhookConfig {
    /// Timeout of one delivery attempt, seconds.
    pub timeout_secs: u64,
    /// Delay before each attempt, seconds, counted from the event (first) or the
    /// previous failure: the Standard Webhooks schedule by default (immediately, 5 s,
    /// 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h, 24 h). After the last attempt fails
    /// the event is dead-lettered.
    pub schedule_secs: Vec<u64>,
    /// How often the dispatcher looks for due deliveries when not woken, milliseconds.
    pub poll_interval_ms: u64,
    /// Deliveries in flight at once (each account's events stay in order).
    pub concurrency: usize,
    /// How long a node that shares its database (PostgreSQL) leases a delivery it
    /// attempts, seconds: another node attempts it again only after the lease runs
    /// out (the first node died mid-attempt). More than `timeout_secs`.
    pub lease_secs: u64,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        WebhookConfig {
            timeout_secs: 10,
            schedule_secs: vec![0, 5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400],
            poll_interval_ms: 1000,
            concurrency: 16,
            lease_secs: 60,
        }
    }
}
