//! Awards (contract §12): a model gives a viewer points. The intent checks both links
//! (the model's of type MODEL, the viewer's of type MEMBER) and the caps
//! (`max_points_per_award`, `max_points_per_day_per_model` per America/Toronto day),
//! then holds the model's points (escrow) until `intent_ttl_secs`; an ineligible
//! intent says why (`eligible: false`) and holds nothing. The commit moves the held
//! points in one unit: TRANSFER_OUT (model) and TRANSFER_IN (viewer), once per intent;
//! an expired intent's hold is released by the scheduler and its commit is 409. The
//! RRR admin may reverse a committed award (TRANSFER_REVERSED): what is left of the
//! viewer's lot goes back to the model.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;

use super::caller::Client;
use super::error::RrrError;
use super::ops::{self, EntrySpec};
use super::repo::{AwardRow, MemberRow, RrrStore, Tally};
use super::time;
use super::webhook;
use crate::ledger::{Amount, EntryKind, LedgerTx, Posting, StoredResponse, TenantId};

type Result<T> = std::result::Result<T, RrrError>;

/// `POST /v1/awards/intents` (§12.1).
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AwardIntentRequest {
    /// The client's id of the model.
    pub client_model_id: String,
    /// The model's member id.
    pub rrr_model_member_id: String,
    /// The client's id of the viewer.
    pub client_viewer_user_id: String,
    /// The viewer's member id.
    pub rrr_viewer_member_id: String,
    /// Points to give.
    pub points: i64,
    /// Open object (room, stream), not interpreted.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub context: Option<Value>,
}

/// An award intent.
#[derive(Debug, Serialize, ToSchema)]
pub struct AwardIntentResponse {
    /// UUID (also the transfer id).
    pub intent_id: String,
    /// Whether it can be committed.
    pub eligible: bool,
    /// Why not: `OVER_AWARD_CAP`, `DAILY_CAP_REACHED`, `INSUFFICIENT_POINTS`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ineligibility_reason: Option<String>,
    /// Most points the model may give now.
    pub max_points: i64,
    /// When the hold lapses.
    pub expires_at: String,
}

/// `POST /v1/awards/commit` (§12.2).
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AwardCommitRequest {
    /// The intent.
    pub intent_id: String,
    /// The client's id of the model (the intent's).
    pub client_model_id: String,
    /// The client's id of the viewer (the intent's).
    pub client_viewer_user_id: String,
}

/// A committed award.
#[derive(Debug, Serialize, ToSchema)]
pub struct AwardCommitResponse {
    /// `COMPLETED`.
    pub status: &'static str,
    /// The intent id.
    pub transfer_id: String,
    /// The model.
    pub from_member_id: String,
    /// The viewer.
    pub to_member_id: String,
    /// Points moved.
    pub points: i64,
    /// The model's TRANSFER_OUT entry.
    pub out_entry_id: String,
    /// The viewer's TRANSFER_IN entry.
    pub in_entry_id: String,
}

/// `POST /v1/awards/{intent_id}/reverse` (RRR admin).
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AwardReverseRequest {
    /// Why.
    pub reason: String,
}

/// A reversed award.
#[derive(Debug, Serialize, ToSchema)]
pub struct AwardReverseResponse {
    /// `REVERSED`.
    pub status: &'static str,
    /// The intent id.
    pub transfer_id: String,
    /// Points given back to the model.
    pub points_reversed: i64,
    /// Points the viewer had already spent: not taken back.
    pub shortfall_points: i64,
}

fn linked_as(
    tx: &mut LedgerTx<'_>,
    c: &Client,
    user: &str,
    member: &str,
    link_type: &str,
) -> Result<MemberRow> {
    let (m, link) = ops::linked(tx, c, user, member)?;
    if link.link_type != link_type {
        return Err(RrrError::Conflict(format!(
            "member {} is linked as {}, not {link_type}",
            m.member_id, link.link_type
        )));
    }
    Ok(m)
}

/// Creates an award intent (201) and, when eligible, holds the model's points.
///
/// # Errors
/// 404 for unknown members, 409 when a link is missing or of the wrong type, 422 for
/// a model awarding itself.
pub fn intent(tx: &mut LedgerTx<'_>, c: &Client, r: &AwardIntentRequest) -> Result<StoredResponse> {
    let model = linked_as(tx, c, &r.client_model_id, &r.rrr_model_member_id, "MODEL")?;
    let viewer = linked_as(
        tx,
        c,
        &r.client_viewer_user_id,
        &r.rrr_viewer_member_id,
        "MEMBER",
    )?;
    if model.member_id == viewer.member_id {
        return Err(RrrError::field(
            "rrr_viewer_member_id",
            "must not be the model",
        ));
    }
    let settings = &c.tenant.settings.awards;
    let now = tx.now().to_string();
    let day = time::day(&now);
    let available = tx.balances(model.account)?.available;
    let given_today =
        tx.repo::<dyn RrrStore>()?
            .awarded_on(&c.tenant.id, &model.member_id, (&day, &now))?;
    let left_today = (settings.max_points_per_day_per_model - given_today).max(0);
    let max_points = available
        .min(settings.max_points_per_award)
        .min(left_today)
        .max(0);
    let reason = if r.points > settings.max_points_per_award {
        Some("OVER_AWARD_CAP")
    } else if r.points > left_today {
        Some("DAILY_CAP_REACHED")
    } else if r.points > available {
        Some("INSUFFICIENT_POINTS")
    } else {
        None
    };
    let intent_id = ops::new_uuid();
    let expires_at = time::plus_secs(&now, settings.intent_ttl_secs);
    if reason.is_none() {
        let amount = Amount::new(r.points)
            .ok_or_else(|| RrrError::field("points", "must be a positive whole number"))?;
        let posting =
            Posting::new(EntryKind::Hold, ops::service(c)).reference("award", intent_id.clone());
        tx.hold(
            model.account,
            amount,
            &intent_id,
            Some(&expires_at),
            &posting,
        )?;
        ops::count(
            tx,
            &c.tenant.id,
            &c.client_id,
            Tally {
                d_available: -r.points,
                d_escrow: r.points,
                ..Tally::default()
            },
        )?;
    }
    let row = AwardRow {
        intent_id: intent_id.clone(),
        client_id: c.client_id.clone(),
        model_member_id: model.member_id,
        viewer_member_id: viewer.member_id,
        client_model_id: r.client_model_id.clone(),
        client_viewer_user_id: r.client_viewer_user_id.clone(),
        points: r.points,
        day,
        status: if reason.is_some() {
            "INELIGIBLE"
        } else {
            "OPEN"
        }
        .into(),
        reason: reason.map(str::to_string),
        in_entry_id: None,
        expires_at: expires_at.clone(),
    };
    tx.repo::<dyn RrrStore>()?
        .insert_award(&c.tenant.id, &row, &now)?;
    ops::answer(
        201,
        &AwardIntentResponse {
            intent_id,
            eligible: reason.is_none(),
            ineligibility_reason: reason.map(str::to_string),
            max_points,
            expires_at: time::wire(&expires_at),
        },
    )
}

fn owned(tx: &mut LedgerTx<'_>, c: &Client, id: &str) -> Result<AwardRow> {
    let id = ops::uuid_field("intent_id", id)?;
    tx.repo::<dyn RrrStore>()?
        .award(&c.tenant.id, &id)?
        .filter(|a| a.client_id == c.client_id)
        .ok_or_else(|| RrrError::NotFound(format!("award intent {id} not found")))
}

/// Commits an award: the model's held points move to the viewer (a lot with the
/// tenant's default expiry). `TRANSFER_COMPLETED`.
///
/// # Errors
/// 404, 409 (ineligible, expired or committed intent, links gone, ids that are not
/// the intent's).
pub fn commit(tx: &mut LedgerTx<'_>, c: &Client, r: &AwardCommitRequest) -> Result<StoredResponse> {
    let award = owned(tx, c, &r.intent_id)?;
    if award.client_model_id != r.client_model_id
        || award.client_viewer_user_id != r.client_viewer_user_id
    {
        return Err(RrrError::Conflict(format!(
            "client_model_id and client_viewer_user_id must be those of award intent {}",
            award.intent_id
        )));
    }
    match award.status.as_str() {
        "OPEN" if award.expires_at.as_str() > tx.now() => {}
        "OPEN" | "EXPIRED" => {
            return Err(RrrError::Conflict(format!(
                "award intent {} expired at {}: its hold is released",
                award.intent_id,
                time::wire(&award.expires_at)
            )))
        }
        "INELIGIBLE" => {
            return Err(RrrError::Conflict(format!(
                "award intent {} is not eligible ({})",
                award.intent_id,
                award.reason.clone().unwrap_or_default()
            )))
        }
        other => {
            return Err(RrrError::Conflict(format!(
                "award intent {} is already {other}",
                award.intent_id
            )))
        }
    }
    let model = linked_as(
        tx,
        c,
        &award.client_model_id,
        &award.model_member_id,
        "MODEL",
    )?;
    let viewer = linked_as(
        tx,
        c,
        &award.client_viewer_user_id,
        &award.viewer_member_id,
        "MEMBER",
    )?;
    let posting = Posting::new(EntryKind::Capture, ops::service(c))
        .reference("award", award.intent_id.clone());
    let out = tx.capture(model.account, &award.intent_id, &posting)?;
    let now = tx.now().to_string();
    let expiry = ops::default_expiry(c.tenant.settings.default_expiry_days, &now);
    let amount = Amount::new(award.points)
        .ok_or_else(|| RrrError::Internal(format!("award {} has no points", award.intent_id)))?;
    let into = tx.credit_expiring(
        viewer.account,
        amount,
        expiry.as_deref(),
        &posting.with_kind(EntryKind::Reward),
    )?;
    let actor = ("SERVICE", c.client_id.as_str());
    let out_row = ops::record(
        tx,
        &model,
        &c.tenant.id,
        EntrySpec {
            uuid: ops::new_uuid(),
            entry_type: "TRANSFER_OUT",
            points_delta: -award.points,
            reason_code: "MODEL_AWARD",
            source_ref: Some(&award.intent_id),
            actor,
            created_at: None,
            core_entry_id: Some(out.id),
            balance_after: None,
            metadata: None,
        },
    )?;
    let in_row = ops::record(
        tx,
        &viewer,
        &c.tenant.id,
        EntrySpec {
            uuid: ops::new_uuid(),
            entry_type: "TRANSFER_IN",
            points_delta: award.points,
            reason_code: "MODEL_AWARD",
            source_ref: Some(&award.intent_id),
            actor,
            created_at: None,
            core_entry_id: Some(into.id),
            balance_after: Some(into.balance_after),
            metadata: None,
        },
    )?;
    tx.repo::<dyn RrrStore>()?
        .set_award(&award.intent_id, "COMMITTED", Some(into.id))?;
    ops::count(
        tx,
        &c.tenant.id,
        &c.client_id,
        Tally {
            transferred: award.points,
            d_escrow: -award.points,
            d_available: award.points,
            ..Tally::default()
        },
    )?;
    webhook::emit(
        tx,
        c,
        Some(model.account),
        webhook::TRANSFER_COMPLETED,
        json!({
            "from_member_id": model.member_id,
            "to_member_id": viewer.member_id,
            "points": award.points,
            "transfer_id": award.intent_id,
        }),
    )?;
    ops::answer(
        200,
        &AwardCommitResponse {
            status: "COMPLETED",
            transfer_id: award.intent_id,
            from_member_id: model.member_id,
            to_member_id: viewer.member_id,
            points: award.points,
            out_entry_id: out_row.entry_uuid,
            in_entry_id: in_row.entry_uuid,
        },
    )
}

/// Reverses a committed award (the RRR admin): takes back what is left of the
/// viewer's lot and gives it to the model. `TRANSFER_REVERSED`.
///
/// # Errors
/// 404, 409 when the award is not committed.
pub fn reverse(
    tx: &mut LedgerTx<'_>,
    c: &Client,
    id: &str,
    reason: &str,
) -> Result<StoredResponse> {
    let award = owned(tx, c, id)?;
    let Some(in_entry) = award.in_entry_id.filter(|_| award.status == "COMMITTED") else {
        return Err(RrrError::Conflict(format!(
            "award {} is {}: only a committed award is reversed",
            award.intent_id, award.status
        )));
    };
    let store = tx.repo::<dyn RrrStore>()?;
    let lookup = |m: Option<MemberRow>| {
        m.ok_or_else(|| RrrError::Internal("an award's member is gone".into()))
    };
    let model = lookup(store.member(&c.tenant.id, &award.model_member_id)?)?;
    let viewer = lookup(store.member(&c.tenant.id, &award.viewer_member_id)?)?;
    let actor = Posting::new(EntryKind::Reversal, crate::ledger::Actor::Admin)
        .reference("award", award.intent_id.clone())
        .note(reason.to_string());
    let taken = match tx.take_back_lot(in_entry, &actor)? {
        Some(entry) => {
            let taken = -entry.amount;
            let amount = Amount::new(taken)
                .ok_or_else(|| RrrError::Internal("a lot gave back nothing".into()))?;
            let now = tx.now().to_string();
            let expiry = ops::default_expiry(c.tenant.settings.default_expiry_days, &now);
            let back = tx.credit_expiring(model.account, amount, expiry.as_deref(), &actor)?;
            for (member, delta, core) in [(&viewer, -taken, &entry), (&model, taken, &back)] {
                ops::record(
                    tx,
                    member,
                    &c.tenant.id,
                    EntrySpec {
                        uuid: ops::new_uuid(),
                        entry_type: "REVERSAL",
                        points_delta: delta,
                        reason_code: reason,
                        source_ref: Some(&award.intent_id),
                        actor: ("RRR_ADMIN", "admin"),
                        created_at: None,
                        core_entry_id: Some(core.id),
                        balance_after: Some(core.balance_after),
                        metadata: None,
                    },
                )?;
            }
            taken
        }
        None => 0,
    };
    tx.repo::<dyn RrrStore>()?
        .set_award(&award.intent_id, "REVERSED", None)?;
    webhook::emit(
        tx,
        c,
        Some(model.account),
        webhook::TRANSFER_REVERSED,
        json!({
            "from_member_id": model.member_id,
            "to_member_id": viewer.member_id,
            "points": taken,
            "transfer_id": award.intent_id,
            "reason": reason,
        }),
    )?;
    ops::answer(
        200,
        &AwardReverseResponse {
            status: "REVERSED",
            transfer_id: award.intent_id,
            points_reversed: taken,
            shortfall_points: award.points - taken,
        },
    )
}

/// The scheduler released the hold of award intent `hold_id` (it expired): the
/// intent is EXPIRED and the points are back in the model's available balance.
///
/// # Errors
/// Storage errors.
pub fn expired(
    tx: &mut LedgerTx<'_>,
    tenant: &TenantId,
    member: &MemberRow,
    hold_id: &str,
    amount: i64,
) -> Result<()> {
    let store = tx.repo::<dyn RrrStore>()?;
    if store
        .award(tenant, hold_id)?
        .is_some_and(|a| a.status == "OPEN")
    {
        store.set_award(hold_id, "EXPIRED", None)?;
    }
    ops::count(
        tx,
        tenant,
        &member.client_id,
        Tally {
            d_escrow: -amount,
            d_available: amount,
            ..Tally::default()
        },
    )
}
