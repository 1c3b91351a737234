//! Promotions (contract §9): a client creates one (DRAFT), edits it while DRAFT,
//! submits it (PENDING_APPROVAL); two distinct client admins (`CLIENT_ADMIN`, through
//! the client's token) and one RRR admin (`RRR_ADMIN`, through the node's admin token
//! or the CLI) approve it, in any order, each approval an append-only audit row; it is
//! then ACTIVE and applies to earns between `starts_at` and `ends_at`, until paused,
//! ended, or past `ends_at` (the scheduler ends it). `PROMOTION_STATUS_CHANGED` on
//! every change.
//!
//! On an earn, the promotion named in `metadata.promotion_id` applies (409 when it
//! does not); when none is named, the best eligible live one whose cap the member has
//! not used up (highest multiplier, then earliest start). Eligibility: the earn's `metadata.xcn_membership_tier` is one of
//! the promotion's tiers (any when it lists none), and the member's lifetime spend of
//! earlier earns reaches `min_lifetime_spend_minor`. The bonus is
//! ⌊points × multiplier⌋ − points, capped by `cap_points` per member over the
//! promotion's life.

use serde::{Deserialize, Serialize};
use serde_json::{json, Number};
use utoipa::{IntoParams, ToSchema};

use super::caller::{Approver, Client};
use super::error::RrrError;
use super::ops::{self, Earn};
use super::repo::{ApprovalRow, MemberRow, PromotionRow, RrrStore};
use super::time;
use super::webhook;
use crate::ledger::{json_number, Amount, LedgerTx, StoredResponse};

type Result<T> = std::result::Result<T, RrrError>;

/// Largest multiplier.
pub const MAX_MULTIPLIER_BP: i64 = 100 * 10_000;

/// `eligibility`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Eligibility {
    /// Membership tiers (any when empty).
    #[serde(default)]
    pub xcn_membership_tiers: Vec<String>,
    /// Lifetime spend needed, currency minor units.
    #[serde(default)]
    pub min_lifetime_spend_minor: i64,
}

/// `earn_rules`.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EarnRules {
    /// Earn multiplier, 1 to 100, at most 4 decimals (`1.5`).
    #[schema(value_type = f64)]
    pub multiplier: Number,
    /// Most bonus points per member.
    #[serde(default)]
    pub cap_points: Option<i64>,
    /// Lot expiry of its earns, days.
    #[serde(default)]
    pub expiry_days: Option<u32>,
}

/// `POST /v1/promotions`.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PromotionRequest {
    /// Name (1 to 200 characters).
    pub name: String,
    /// Description.
    #[serde(default)]
    pub description: Option<String>,
    /// Start (ISO-8601 with offset).
    pub starts_at: String,
    /// End (after the start).
    pub ends_at: String,
    /// Who it is for.
    #[serde(default)]
    pub eligibility: Option<Eligibility>,
    /// What it gives.
    pub earn_rules: EarnRules,
}

/// `PATCH /v1/promotions/{id}` (DRAFT only): the fields given replace the stored ones.
#[derive(Debug, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PromotionPatch {
    /// Name.
    #[serde(default)]
    pub name: Option<String>,
    /// Description.
    #[serde(default)]
    pub description: Option<String>,
    /// Start.
    #[serde(default)]
    pub starts_at: Option<String>,
    /// End.
    #[serde(default)]
    pub ends_at: Option<String>,
    /// Who it is for.
    #[serde(default)]
    pub eligibility: Option<Eligibility>,
    /// What it gives.
    #[serde(default)]
    pub earn_rules: Option<EarnRules>,
}

/// An approver.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActorRef {
    /// `CLIENT_ADMIN` or `RRR_ADMIN`.
    pub actor_type: String,
    /// Opaque id (1 to 128 visible characters).
    pub actor_id: String,
}

/// A signature.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Signature {
    /// `OIDC_SESSION`, ….
    pub method: String,
    /// The attestation (kept as its SHA-256).
    pub attestation: String,
}

/// `POST /v1/promotions/{id}/approve` (§9.3).
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApproveRequest {
    /// Who approves.
    pub actor: ActorRef,
    /// How they signed.
    pub signature: Signature,
}

/// One approval as shown.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApprovalView {
    /// Who.
    pub actor: ActorRef,
    /// How.
    pub signature_method: String,
    /// When.
    pub approved_at: String,
}

/// A promotion as shown.
#[derive(Debug, Serialize, ToSchema)]
pub struct PromotionView {
    /// UUID.
    pub promotion_id: String,
    /// Its client.
    pub client_id: String,
    /// Name.
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// `DRAFT|PENDING_APPROVAL|ACTIVE|PAUSED|ENDED`.
    pub status: String,
    /// Start.
    pub starts_at: String,
    /// End.
    pub ends_at: String,
    /// Who it is for.
    pub eligibility: Eligibility,
    /// What it gives.
    pub earn_rules: EarnRules,
    /// Every approval, the RRR admin's included.
    pub approvals: Vec<ApprovalView>,
    /// Created.
    pub created_at: String,
    /// Last changed.
    pub updated_at: String,
}

/// `GET /v1/promotions` query.
#[derive(Debug, Deserialize, IntoParams)]
pub struct ListQuery {
    /// Only this status.
    pub status: Option<String>,
}

/// The statuses.
pub const STATUSES: [&str; 5] = ["DRAFT", "PENDING_APPROVAL", "ACTIVE", "PAUSED", "ENDED"];

/// How a promotion and its approvals are shown.
pub fn view(p: &PromotionRow, approvals: &[ApprovalRow]) -> PromotionView {
    PromotionView {
        promotion_id: p.id.clone(),
        client_id: p.client_id.clone(),
        name: p.name.clone(),
        description: p.description.clone(),
        status: p.status.clone(),
        starts_at: time::wire(&p.starts_at),
        ends_at: time::wire(&p.ends_at),
        eligibility: Eligibility {
            xcn_membership_tiers: p.tiers.clone(),
            min_lifetime_spend_minor: p.min_lifetime_spend_minor,
        },
        earn_rules: EarnRules {
            multiplier: json_number(p.multiplier_bp, 4),
            cap_points: p.cap_points,
            expiry_days: p.expiry_days,
        },
        approvals: approvals
            .iter()
            .map(|a| ApprovalView {
                actor: ActorRef {
                    actor_type: a.actor_type.clone(),
                    actor_id: a.actor_id.clone(),
                },
                signature_method: a.signature_method.clone(),
                approved_at: time::wire(&a.approved_at),
            })
            .collect(),
        created_at: time::wire(&p.created_at),
        updated_at: time::wire(&p.updated_at),
    }
}

fn text(field: &str, value: &str, max: usize) -> Result<String> {
    ops::text(field, value, max)
}

fn multiplier(n: &Number) -> Result<i64> {
    let bp = Amount::from_json_number(n, 4, MAX_MULTIPLIER_BP)
        .map_err(|e| RrrError::field("earn_rules.multiplier", e.to_string()))?
        .minor();
    if bp < 10_000 {
        return Err(RrrError::field(
            "earn_rules.multiplier",
            "must be at least 1 (a promotion never lowers an earn)",
        ));
    }
    Ok(bp)
}

fn apply_eligibility(p: &mut PromotionRow, e: &Eligibility) -> Result<()> {
    if e.min_lifetime_spend_minor < 0 {
        return Err(RrrError::field(
            "eligibility.min_lifetime_spend_minor",
            "must be 0 or more",
        ));
    }
    p.tiers = e
        .xcn_membership_tiers
        .iter()
        .map(|t| text("eligibility.xcn_membership_tiers", t, 64))
        .collect::<Result<_>>()?;
    p.min_lifetime_spend_minor = e.min_lifetime_spend_minor;
    Ok(())
}

fn apply_rules(p: &mut PromotionRow, r: &EarnRules) -> Result<()> {
    p.multiplier_bp = multiplier(&r.multiplier)?;
    if r.cap_points.is_some_and(|c| c < 0) {
        return Err(RrrError::field(
            "earn_rules.cap_points",
            "must be 0 or more",
        ));
    }
    if r.expiry_days.is_some_and(|d| d > 36_500) {
        return Err(RrrError::field(
            "earn_rules.expiry_days",
            "must be at most 36500",
        ));
    }
    p.cap_points = r.cap_points;
    p.expiry_days = r.expiry_days;
    Ok(())
}

fn check_window(p: &PromotionRow, now: &str) -> Result<()> {
    if p.starts_at >= p.ends_at {
        return Err(RrrError::field("ends_at", "must be after starts_at"));
    }
    if p.ends_at.as_str() <= now {
        return Err(RrrError::field("ends_at", "must be in the future"));
    }
    Ok(())
}

fn stored_time(field: &str, t: &str) -> Result<String> {
    time::stored(t).map_err(|m| RrrError::field(field, m))
}

/// Checks a new promotion (DRAFT) of `client_id`, made at `now`.
///
/// # Errors
/// 422 naming the field.
pub fn new_promotion(client_id: &str, r: &PromotionRequest, now: &str) -> Result<PromotionRow> {
    let mut p = PromotionRow {
        id: ops::new_uuid(),
        client_id: client_id.to_string(),
        name: text("name", &r.name, 200)?,
        description: r
            .description
            .as_deref()
            .map(|d| text("description", d, 2000))
            .transpose()?,
        starts_at: stored_time("starts_at", &r.starts_at)?,
        ends_at: stored_time("ends_at", &r.ends_at)?,
        tiers: Vec::new(),
        min_lifetime_spend_minor: 0,
        multiplier_bp: 10_000,
        cap_points: None,
        expiry_days: None,
        status: "DRAFT".into(),
        created_at: now.to_string(),
        updated_at: now.to_string(),
    };
    apply_eligibility(&mut p, &r.eligibility.clone().unwrap_or_default())?;
    apply_rules(&mut p, &r.earn_rules)?;
    check_window(&p, now)?;
    Ok(p)
}

/// Creates a promotion (201).
///
/// # Errors
/// Storage errors.
pub fn create(tx: &mut LedgerTx<'_>, c: &Client, p: &PromotionRow) -> Result<StoredResponse> {
    tx.repo::<dyn RrrStore>()?.put_promotion(&c.tenant.id, p)?;
    ops::answer(201, &view(p, &[]))
}

/// The client's promotion `id`.
fn owned(tx: &mut LedgerTx<'_>, c: &Client, id: &str) -> Result<PromotionRow> {
    let id = ops::uuid_field("promotion_id", id)?;
    tx.repo::<dyn RrrStore>()?
        .promotion(&c.tenant.id, &id)?
        .filter(|p| p.client_id == c.client_id)
        .ok_or_else(|| RrrError::NotFound(format!("promotion {id} not found")))
}

fn answer_with_approvals(tx: &mut LedgerTx<'_>, p: &PromotionRow) -> Result<StoredResponse> {
    let approvals = tx.repo::<dyn RrrStore>()?.approvals(&p.id)?;
    ops::answer(200, &view(p, &approvals))
}

/// Edits a DRAFT promotion.
///
/// # Errors
/// 404, 409 when it is not DRAFT, 422.
pub fn patch(
    tx: &mut LedgerTx<'_>,
    c: &Client,
    id: &str,
    r: &PromotionPatch,
) -> Result<StoredResponse> {
    let mut p = owned(tx, c, id)?;
    if p.status != "DRAFT" {
        return Err(RrrError::Conflict(format!(
            "promotion {} is {}: only a DRAFT can be edited",
            p.id, p.status
        )));
    }
    if let Some(n) = &r.name {
        p.name = text("name", n, 200)?;
    }
    if let Some(d) = &r.description {
        p.description = Some(text("description", d, 2000)?);
    }
    if let Some(t) = &r.starts_at {
        p.starts_at = stored_time("starts_at", t)?;
    }
    if let Some(t) = &r.ends_at {
        p.ends_at = stored_time("ends_at", t)?;
    }
    if let Some(e) = &r.eligibility {
        apply_eligibility(&mut p, e)?;
    }
    if let Some(rules) = &r.earn_rules {
        apply_rules(&mut p, rules)?;
    }
    let now = tx.now().to_string();
    check_window(&p, &now)?;
    p.updated_at = now;
    tx.repo::<dyn RrrStore>()?.put_promotion(&c.tenant.id, &p)?;
    answer_with_approvals(tx, &p)
}

/// Moves a promotion to `to` and says so (`PROMOTION_STATUS_CHANGED`).
fn set_status(
    tx: &mut LedgerTx<'_>,
    source: &webhook::Source,
    p: &mut PromotionRow,
    to: &str,
) -> Result<()> {
    let previous = std::mem::replace(&mut p.status, to.to_string());
    p.updated_at = tx.now().to_string();
    tx.repo::<dyn RrrStore>()?
        .put_promotion(&source.tenant, p)?;
    webhook::emit_from(
        tx,
        source,
        None,
        webhook::PROMOTION_STATUS_CHANGED,
        json!({"promotion_id": p.id, "status": to, "previous_status": previous}),
    )
}

/// A state change asked for by the client: `submit` (DRAFT → PENDING_APPROVAL),
/// `pause` (ACTIVE → PAUSED), `resume` (PAUSED → ACTIVE), `end` (any but ENDED →
/// ENDED).
///
/// # Errors
/// 404, 409 when the promotion is not in a state the change starts from.
pub fn transition(
    tx: &mut LedgerTx<'_>,
    c: &Client,
    id: &str,
    action: &str,
) -> Result<StoredResponse> {
    let mut p = owned(tx, c, id)?;
    let (from, to): (&[&str], &str) = match action {
        "submit" => (&["DRAFT"], "PENDING_APPROVAL"),
        "pause" => (&["ACTIVE"], "PAUSED"),
        "resume" => (&["PAUSED"], "ACTIVE"),
        _ => (&["DRAFT", "PENDING_APPROVAL", "ACTIVE", "PAUSED"], "ENDED"),
    };
    if !from.contains(&p.status.as_str()) {
        return Err(RrrError::Conflict(format!(
            "promotion {} is {}: {action} needs {}",
            p.id,
            p.status,
            from.join(" or ")
        )));
    }
    set_status(tx, &webhook::Source::of(c), &mut p, to)?;
    answer_with_approvals(tx, &p)
}

/// Approvals a promotion needs of each kind.
pub const NEEDED: [(&str, usize); 2] = [("CLIENT_ADMIN", 2), ("RRR_ADMIN", 1)];

/// Records an approval; the last one needed makes the promotion ACTIVE.
///
/// # Errors
/// 403 when the actor type does not match the credential (a client token approves as
/// `CLIENT_ADMIN`, the admin token as `RRR_ADMIN`), 404, 409 when the promotion is not
/// PENDING_APPROVAL, the actor approved already, or no more approvals of that kind are
/// needed; 422.
pub fn approve(
    tx: &mut LedgerTx<'_>,
    approver: &Approver,
    id: &str,
    r: &ApproveRequest,
) -> Result<StoredResponse> {
    let c = approver.client();
    let expected = match approver {
        Approver::Client(_) => "CLIENT_ADMIN",
        Approver::RrrAdmin(_) => "RRR_ADMIN",
    };
    let actor_type = r.actor.actor_type.trim();
    if !NEEDED.iter().any(|(t, _)| *t == actor_type) {
        return Err(RrrError::field(
            "actor.actor_type",
            "must be CLIENT_ADMIN or RRR_ADMIN",
        ));
    }
    if actor_type != expected {
        return Err(RrrError::Unauthorized(format!(
            "this credential approves as {expected}, not {actor_type}"
        )));
    }
    let actor_id = text("actor.actor_id", &r.actor.actor_id, 128)?;
    let method = text("signature.method", &r.signature.method, 64)?;
    text("signature.attestation", &r.signature.attestation, 4096)?;
    let mut p = owned(tx, c, id)?;
    if p.status != "PENDING_APPROVAL" {
        return Err(RrrError::Conflict(format!(
            "promotion {} is {}: only a PENDING_APPROVAL promotion is approved",
            p.id, p.status
        )));
    }
    let mut approvals = tx.repo::<dyn RrrStore>()?.approvals(&p.id)?;
    if approvals
        .iter()
        .any(|a| a.actor_type == actor_type && a.actor_id == actor_id)
    {
        return Err(RrrError::Conflict(format!(
            "{actor_type} {actor_id:?} already approved promotion {}",
            p.id
        )));
    }
    let count =
        |approvals: &[ApprovalRow], t: &str| approvals.iter().filter(|a| a.actor_type == t).count();
    let needed = NEEDED
        .iter()
        .find(|(t, _)| *t == actor_type)
        .map_or(0, |(_, n)| *n);
    if count(&approvals, actor_type) >= needed {
        return Err(RrrError::Conflict(format!(
            "promotion {} already has its {needed} {actor_type} approval(s)",
            p.id
        )));
    }
    let row = ApprovalRow {
        actor_type: actor_type.to_string(),
        actor_id,
        signature_method: method,
        attestation_sha256: crate::secret::sha256_hex(&r.signature.attestation),
        approved_at: tx.now().to_string(),
    };
    tx.repo::<dyn RrrStore>()?.insert_approval(&p.id, &row)?;
    approvals.push(row);
    if NEEDED.iter().all(|(t, n)| count(&approvals, t) >= *n) {
        set_status(tx, &webhook::Source::of(c), &mut p, "ACTIVE")?;
    }
    ops::answer(200, &view(&p, &approvals))
}

/// The node operator's approval of promotion `id` of `tenant` as `RRR_ADMIN`
/// `actor_id`, signed with `method` (`CLI`, `CONSOLE`) and `attestation`: the
/// approver and the request [`approve`] takes. `None` when the tenant has no such
/// promotion.
///
/// # Errors
/// Storage errors.
pub fn operator_approval(
    r: &mut crate::ledger::LedgerRead<'_>,
    tenant: &std::sync::Arc<super::caller::Tenant>,
    id: &str,
    actor_id: &str,
    method: &str,
    attestation: String,
) -> Result<Option<(Approver, ApproveRequest)>> {
    let Some((p, _)) = r
        .repo::<dyn super::repo::RrrReads>()?
        .promotion(&tenant.id, id)?
    else {
        return Ok(None);
    };
    let approver = Approver::RrrAdmin(Client {
        tenant: tenant.clone(),
        client_id: p.client_id,
        trace: String::new(),
    });
    let request = ApproveRequest {
        actor: ActorRef {
            actor_type: "RRR_ADMIN".into(),
            actor_id: actor_id.to_string(),
        },
        signature: Signature {
            method: method.into(),
            attestation,
        },
    };
    Ok(Some((approver, request)))
}

/// The RRR admin's approval from the command line (`admin rrr approve`): finds the
/// promotion among `state`'s tenants, approves it as `RRR_ADMIN` `actor_id` with
/// signature method `CLI`, and returns the promotion as JSON. For synchronous callers.
///
/// # Errors
/// 404 when no tenant has the promotion; as [`approve`].
pub fn approve_from_cli(
    state: &super::RrrState,
    promotion_id: &str,
    actor_id: &str,
) -> Result<String> {
    let id = ops::uuid_field("promotion_id", promotion_id)?;
    for tenant in state.tenants.values() {
        let (t, pid, actor) = (tenant.clone(), id.clone(), actor_id.to_string());
        let attestation = format!("rendezvous-credits admin rrr approve {id}");
        let found = state
            .ledger
            .read_blocking(move |r| operator_approval(r, &t, &pid, &actor, "CLI", attestation))?;
        let Some((approver, request)) = found else {
            continue;
        };
        let id = id.clone();
        let answer = state
            .ledger
            .run_blocking(move |tx| approve(tx, &approver, &id, &request))?;
        return Ok(answer.body);
    }
    Err(RrrError::NotFound(format!(
        "promotion {id} not found in any rrr tenant"
    )))
}

/// Ends the tenant's promotions past their `ends_at` (the scheduler). Returns how
/// many.
///
/// # Errors
/// Storage errors.
pub fn end_past(tx: &mut LedgerTx<'_>, tenant: &crate::ledger::TenantId) -> Result<u32> {
    let now = tx.now().to_string();
    let due = tx
        .repo::<dyn RrrStore>()?
        .promotions_past_end(tenant, &now, 256)?;
    let n = due.len() as u32;
    for mut p in due {
        let source = webhook::Source {
            tenant: tenant.clone(),
            client_id: p.client_id.clone(),
            trace: None,
        };
        set_status(tx, &source, &mut p, "ENDED")?;
    }
    Ok(n)
}

/// A promotion applied to an earn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// The promotion.
    pub id: String,
    /// Bonus points (above the base), after the cap.
    pub bonus: i64,
    /// Its lot expiry, days.
    pub expiry_days: Option<u32>,
}

fn eligible(p: &PromotionRow, member: &MemberRow, tier: Option<&str>) -> bool {
    let tier_ok = p.tiers.is_empty() || tier.is_some_and(|t| p.tiers.iter().any(|x| x == t));
    tier_ok && member.lifetime_spend_minor >= p.min_lifetime_spend_minor
}

/// The promotion an earn gets, if any (see the module documentation).
///
/// # Errors
/// 404 for a named promotion that is not the client's; 409 when it is not ACTIVE, not
/// live now, or the member is not eligible.
pub fn applicable(
    tx: &mut LedgerTx<'_>,
    c: &Client,
    member: &MemberRow,
    e: &Earn,
) -> Result<Option<Applied>> {
    let now = tx.now().to_string();
    let tier = e.tier.as_deref();
    let chosen = match &e.promotion_id {
        Some(id) => {
            let id = ops::uuid_field("metadata.promotion_id", id)?;
            let p = tx
                .repo::<dyn RrrStore>()?
                .promotion(&c.tenant.id, &id)?
                .filter(|p| p.client_id == c.client_id)
                .ok_or_else(|| RrrError::NotFound(format!("promotion {id} not found")))?;
            if p.status != "ACTIVE" {
                return Err(RrrError::Conflict(format!(
                    "promotion {id} is {}, not ACTIVE",
                    p.status
                )));
            }
            if now < p.starts_at || now >= p.ends_at {
                return Err(RrrError::Conflict(format!(
                    "promotion {id} applies from {} to {}",
                    time::wire(&p.starts_at),
                    time::wire(&p.ends_at)
                )));
            }
            if !eligible(&p, member, tier) {
                return Err(RrrError::Conflict(format!(
                    "the member is not eligible for promotion {id} (tier or lifetime spend)"
                )));
            }
            p
        }
        None => {
            let live =
                tx.repo::<dyn RrrStore>()?
                    .live_promotions(&c.tenant.id, &c.client_id, &now)?;
            // The best eligible one whose cap the member has not used up.
            let mut best = None;
            for p in live.into_iter().filter(|p| eligible(p, member, tier)) {
                if bonus_room(tx, &p, member)? != Some(0) {
                    best = Some(p);
                    break;
                }
            }
            match best {
                Some(p) => p,
                None => return Ok(None),
            }
        }
    };
    let base = e.request.points;
    let boosted = i64::try_from(i128::from(base) * i128::from(chosen.multiplier_bp) / 10_000)
        .unwrap_or(i64::MAX);
    let mut bonus = (boosted - base).max(0);
    if let Some(room) = bonus_room(tx, &chosen, member)? {
        bonus = bonus.min(room);
    }
    Ok(Some(Applied {
        id: chosen.id,
        bonus,
        expiry_days: chosen.expiry_days,
    }))
}

/// What is left of the member's bonus under the promotion's cap (`None`: no cap).
fn bonus_room(tx: &mut LedgerTx<'_>, p: &PromotionRow, member: &MemberRow) -> Result<Option<i64>> {
    match p.cap_points {
        None => Ok(None),
        Some(cap) => {
            let given = tx
                .repo::<dyn RrrStore>()?
                .bonus_given(&p.id, &member.member_id)?;
            Ok(Some((cap - given).max(0)))
        }
    }
}

/// Counts an applied promotion's bonus against its cap.
///
/// # Errors
/// Storage errors.
pub fn record_use(tx: &mut LedgerTx<'_>, applied: &Applied, member: &MemberRow) -> Result<()> {
    if applied.bonus > 0 {
        tx.repo::<dyn RrrStore>()?
            .add_bonus(&applied.id, &member.member_id, applied.bonus)?;
    }
    Ok(())
}
