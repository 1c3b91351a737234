//! RedRoomRewards webhooks (contract §13, field-notes §3): the envelope
//! `{"event_id", "event_type", "occurred_at", "data"}` (compact JSON, so that it is
//! byte-identical to `JSON.stringify(JSON.parse(body))`), signed with
//! `X-RRR-Signature`, the bare lowercase hex HMAC-SHA256 of the body keyed with the
//! UTF-8 bytes of the endpoint's secret, beside the Standard Webhooks headers and
//! `X-Request-Trace` of the request that caused the event.
//!
//! Endpoints belong to a client: their events are stored as
//! `<client_id>:<EVENT_TYPE>` (the routing type), so that one client's endpoints
//! never receive another client's events. An event is written only when an endpoint
//! of the client wants it, in the unit that caused it (so it exists if and only if its
//! effect does), and delivered at least once, in order per member.
//!
//! [`RrrJobs`] records what the scheduler does to RRR tenants: a PENDING earn that
//! posts gets its EARN entry and `POINTS_POSTED`; an expired lot its EXPIRE entry.

use serde::Serialize;
use serde_json::Value;

use super::caller::Client;
use super::error::RrrError;
use super::ops;
use super::repo::{EarnStatus, RrrStore, Tally};
use super::time;
use crate::ledger::jobs::SettleHook;
use crate::ledger::{AccountId, LedgerError, LedgerTx, Settled, TenantId};
use crate::webhooks::signing::hex_hmac;
use crate::webhooks::WebhookFormat;

/// Points credited (earns when posted, top-ups, adjustments).
pub const POINTS_POSTED: &str = "POINTS_POSTED";
/// Points of an earn taken back.
pub const POINTS_REVERSED: &str = "POINTS_REVERSED";
/// A redemption burned points.
pub const REDEMPTION_COMMITTED: &str = "REDEMPTION_COMMITTED";
/// A redemption gave them back.
pub const REDEMPTION_REVERSED: &str = "REDEMPTION_REVERSED";
/// A link became active or was revoked.
pub const LINK_UPDATED: &str = "LINK_UPDATED";
/// A promotion changed state.
pub const PROMOTION_STATUS_CHANGED: &str = "PROMOTION_STATUS_CHANGED";
/// An award moved points between members.
pub const TRANSFER_COMPLETED: &str = "TRANSFER_COMPLETED";
/// An award was reversed.
pub const TRANSFER_REVERSED: &str = "TRANSFER_REVERSED";

/// Every event type (contract §13.2).
pub const EVENT_TYPES: [&str; 8] = [
    POINTS_POSTED,
    POINTS_REVERSED,
    REDEMPTION_COMMITTED,
    REDEMPTION_REVERSED,
    LINK_UPDATED,
    PROMOTION_STATUS_CHANGED,
    TRANSFER_COMPLETED,
    TRANSFER_REVERSED,
];

/// The signature header.
pub const SIGNATURE_HEADER: &str = "X-RRR-Signature";

/// The RRR webhook format.
pub struct RrrWebhooks;

impl WebhookFormat for RrrWebhooks {
    fn envelope(&self, event_id: &str, event_type: &str, occurred_at: &str, data: &str) -> String {
        let data: Value = serde_json::from_str(data).unwrap_or(Value::Null);
        serde_json::to_string(&Envelope {
            event_id,
            event_type,
            occurred_at: &time::wire(occurred_at),
            data: &data,
        })
        .unwrap_or_default()
    }

    fn signature(&self, secret: &str, body: &[u8]) -> Vec<(&'static str, String)> {
        vec![(SIGNATURE_HEADER, hex_hmac(secret, body))]
    }
}

#[derive(Serialize)]
struct Envelope<'a> {
    event_id: &'a str,
    event_type: &'a str,
    occurred_at: &'a str,
    data: &'a Value,
}

/// The routing type of `event_type` for `client_id`'s endpoints.
pub fn routing_type(client_id: &str, event_type: &str) -> String {
    format!("{client_id}:{event_type}")
}

/// Whose event it is: the tenant, the client whose endpoints get it, and the trace
/// of the request that caused it.
pub struct Source {
    /// The tenant.
    pub tenant: TenantId,
    /// The client.
    pub client_id: String,
    /// `X-Request-Trace`.
    pub trace: Option<String>,
}

impl Source {
    /// The caller's.
    pub fn of(c: &Client) -> Source {
        Source {
            tenant: c.tenant.id.clone(),
            client_id: c.client_id.clone(),
            trace: Some(c.trace.clone()).filter(|t| !t.is_empty()),
        }
    }
}

/// Writes event `event_type` with `data` for the caller's endpoints (if one wants it),
/// in order per `account`.
///
/// # Errors
/// Storage errors.
pub fn emit(
    tx: &mut LedgerTx<'_>,
    c: &Client,
    account: Option<AccountId>,
    event_type: &str,
    data: Value,
) -> Result<(), RrrError> {
    emit_from(tx, &Source::of(c), account, event_type, data)
}

/// [`emit`] for `source`.
///
/// # Errors
/// Storage errors.
pub fn emit_from(
    tx: &mut LedgerTx<'_>,
    source: &Source,
    account: Option<AccountId>,
    event_type: &str,
    data: Value,
) -> Result<(), RrrError> {
    let now = tx.now().to_string();
    let payload = || RrrWebhooks.envelope(&ops::new_uuid(), event_type, &now, &data.to_string());
    tx.enqueue_wanted_event(
        &source.tenant,
        account,
        &routing_type(&source.client_id, event_type),
        payload,
        source.trace.as_deref(),
    )?;
    Ok(())
}

/// The scheduler's hook for RRR tenants.
pub struct RrrJobs;

impl SettleHook for RrrJobs {
    fn settled(&self, tx: &mut LedgerTx<'_>, settled: &Settled) -> Result<(), LedgerError> {
        settle(tx, settled).map_err(|e| match e {
            RrrError::StorageFull(_) => LedgerError::StorageFull("rrr job".into()),
            other => LedgerError::Invalid(other.to_string()),
        })
    }

    fn tick(&self, tx: &mut LedgerTx<'_>, tenant: &TenantId) -> Result<u64, LedgerError> {
        super::promotions::end_past(tx, tenant)
            .map(u64::from)
            .map_err(|e| LedgerError::Invalid(e.to_string()))
    }
}

fn settle(tx: &mut LedgerTx<'_>, settled: &Settled) -> Result<(), RrrError> {
    match settled {
        Settled::Posted {
            pending, credit, ..
        } => {
            let Some((tenant, earn)) = tx.repo::<dyn RrrStore>()?.earn_by_pending(pending.id)?
            else {
                return Ok(());
            };
            if earn.status != EarnStatus::Pending {
                return Ok(());
            }
            let Some(member) = tx
                .repo::<dyn RrrStore>()?
                .member(&tenant, &earn.member_id)?
            else {
                return Ok(());
            };
            let source = Source {
                tenant,
                client_id: earn.client_id.clone(),
                trace: None,
            };
            ops::post_earn(
                tx,
                &source,
                &member,
                &earn,
                Some((credit.id, credit.balance_after)),
            )?;
            tx.repo::<dyn RrrStore>()?.set_earn(
                &earn.entry_uuid,
                EarnStatus::Posted,
                Some(credit.id),
                (0, 0),
            )?;
        }
        Settled::Expired { tenant, lot, entry } => {
            let Some(member) = tx
                .repo::<dyn RrrStore>()?
                .member_by_account(tenant, lot.account)?
            else {
                return Ok(());
            };
            ops::record(
                tx,
                &member,
                tenant,
                ops::EntrySpec {
                    uuid: ops::new_uuid(),
                    entry_type: "EXPIRE",
                    points_delta: entry.amount,
                    reason_code: "EXPIRED",
                    source_ref: None,
                    actor: ("SYSTEM", "scheduler"),
                    created_at: None,
                    core_entry_id: Some(entry.id),
                    balance_after: Some(entry.balance_after),
                    metadata: None,
                },
            )?;
            ops::count(
                tx,
                tenant,
                &member.client_id,
                Tally {
                    expired: -entry.amount,
                    d_available: entry.amount,
                    ..Tally::default()
                },
            )?;
        }
        Settled::Released {
            tenant,
            account,
            hold_id,
            hold,
        } => {
            let Some(member) = tx
                .repo::<dyn RrrStore>()?
                .member_by_account(tenant, *account)?
            else {
                return Ok(());
            };
            super::awards::expired(tx, tenant, &member, hold_id, hold.amount)?;
        }
    }
    Ok(())
}
