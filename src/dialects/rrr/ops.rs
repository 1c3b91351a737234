//! The RRR units of work (each runs in one transaction of the ledger) and reads. Every
//! movement of points goes through the core ([`LedgerTx`]); in the same unit, the
//! member ledger row (§5.2), the daily aggregates and the webhook event are written.
//!
//! Retries are safe twice over (contract §4.3 and the business keys): the
//! `Idempotency-Key` (per endpoint and client) replays the stored answer, and a
//! business key (the earn's source, the order, the quote, the intent) answers the
//! original result to a retry with a *new* key, or 409 `CONFLICT` when the request
//! differs. Business keys are kept for good (the ledger keeps 7 years).

use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};

use super::caller::Client;
use super::error::RrrError;
use super::repo::{
    EarnRow, EarnStatus, EntryRow, LinkRow, MemberRow, OrderKind, OrderRow, QuoteRow, RrrStore,
    SegmentTally, Tally,
};
use super::time;
use super::webhook;
use crate::ledger::idempotency::Answer;
use crate::ledger::{
    AccountId, Actor, Amount, EntryKind, Idempotency, LedgerError, LedgerTx, Posting,
    StoredResponse,
};

type Result<T> = std::result::Result<T, RrrError>;

/// A new UUID, lowercase, in the RFC 9562 version 4 layout, whose first 48 bits are
/// the unix time in milliseconds and the other 74 random: ids made later sort later,
/// so the tables keyed by them grow at their end (fewer pages written per commit)
/// while the ids stay unguessable.
pub fn new_uuid() -> String {
    let ms = u64::try_from(jiff::Timestamp::now().as_millisecond()).unwrap_or(0);
    let mut bytes: [u8; 16] = rand::random();
    bytes[..6].copy_from_slice(&ms.to_be_bytes()[2..]);
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .to_string()
}

/// Checks that `id` is a UUID and returns it lowercase.
///
/// # Errors
/// 422 naming `field`.
pub fn uuid_field(field: &str, id: &str) -> Result<String> {
    uuid::Uuid::try_parse(id.trim())
        .map(|u| u.to_string())
        .map_err(|_| RrrError::field(field, "must be a UUID"))
}

/// The actor of a client's service call.
pub fn service(c: &Client) -> Actor {
    Actor::Client {
        tenant: c.tenant.id.to_string(),
        client: c.client_id.clone(),
    }
}

/// The answer of a unit: status and body, stored with its keys.
pub fn answer(status: u16, body: &impl Serialize) -> Result<StoredResponse> {
    Ok(StoredResponse {
        status,
        body: serde_json::to_string(body).map_err(|e| RrrError::Internal(e.to_string()))?,
    })
}

/// A business key: what makes a retry with a new `Idempotency-Key` safe.
pub struct Business {
    /// What kind of operation (`earn`, `redeem`, …).
    pub kind: &'static str,
    /// The key within the client (the source, the order id, …).
    pub key: String,
    /// The fingerprint of what the request asks (the same operation asked again
    /// has the same one, whatever its `Idempotency-Key`).
    pub fingerprint: String,
}

fn business_scope(c: &Client, kind: &str) -> String {
    format!("{}:business:{kind}:{}", c.tenant.id, c.client_id)
}

/// The stored answer of `business` if this operation was done before with the same
/// request (`fingerprint`); `Ok(None)` when it was not.
///
/// # Errors
/// 409 `CONFLICT` when it was done with another request.
pub fn business_replay(
    tx: &mut LedgerTx<'_>,
    c: &Client,
    business: &Business,
) -> Result<Option<StoredResponse>> {
    let scope = business_scope(c, business.kind);
    match tx.idempotency_lookup(&scope, &business.key, &business.fingerprint) {
        Ok(found) => Ok(found),
        Err(LedgerError::IdempotencyMismatch { .. }) => Err(RrrError::Conflict(format!(
            "this {} was already done with a different request ({}): it is not applied twice",
            business.kind, business.key
        ))),
        Err(e) => Err(e.into()),
    }
}

/// Remembers the answer of `business` for good.
///
/// # Errors
/// Storage errors.
pub fn business_store(
    tx: &mut LedgerTx<'_>,
    c: &Client,
    business: &Business,
    response: &StoredResponse,
) -> Result<()> {
    let scope = business_scope(c, business.kind);
    tx.idempotency_store(&scope, &business.key, &business.fingerprint, response, None)?;
    Ok(())
}

/// Runs `effect` under the request's `Idempotency-Key` and, when `business` is given,
/// under the business key too: a repeat of either answers the stored result.
///
/// # Errors
/// 409 `IDEMPOTENCY_KEY_REUSE_MISMATCH`, 409 `CONFLICT`, and `effect`'s errors.
pub fn once(
    tx: &mut LedgerTx<'_>,
    c: &Client,
    idempotency: &Idempotency,
    business: Option<Business>,
    effect: impl FnOnce(&mut LedgerTx<'_>) -> Result<StoredResponse>,
) -> Result<Answer> {
    tx.once(
        Some(idempotency),
        move |tx| {
            let Some(business) = business else {
                return effect(tx);
            };
            if let Some(stored) = business_replay(tx, c, &business)? {
                return Ok(stored);
            }
            let response = effect(tx)?;
            business_store(tx, c, &business, &response)?;
            Ok(response)
        },
        |r| Ok(r.clone()),
    )
}

/// The member `member_id` of the caller's client.
///
/// # Errors
/// 422 for an id that is not a UUID; 404 when the tenant has no such member or it
/// belongs to another client.
pub fn member_of(tx: &mut LedgerTx<'_>, c: &Client, member_id: &str) -> Result<MemberRow> {
    let id = uuid_field("rrr_member_id", member_id)?;
    let found = tx.repo::<dyn RrrStore>()?.member(&c.tenant.id, &id)?;
    owned_member(c, &id, found)
}

/// `found` (the tenant's member `id`, if any) when it belongs to the caller's client.
///
/// # Errors
/// 404 otherwise: another client's member is not found either.
pub fn owned_member(c: &Client, id: &str, found: Option<MemberRow>) -> Result<MemberRow> {
    match found {
        Some(m) if m.client_id == c.client_id => Ok(m),
        _ => Err(RrrError::NotFound(format!("member {id} not found"))),
    }
}

/// The member `member_id` of the caller's client, actively linked to its user
/// `client_user_id`, and the link.
///
/// # Errors
/// As [`member_of`]; 409 `CONFLICT` when the user is not linked to that member.
pub fn linked(
    tx: &mut LedgerTx<'_>,
    c: &Client,
    client_user_id: &str,
    member_id: &str,
) -> Result<(MemberRow, LinkRow)> {
    let member = member_of(tx, c, member_id)?;
    let link =
        tx.repo::<dyn RrrStore>()?
            .link_of_user(&c.tenant.id, &c.client_id, client_user_id)?;
    match link {
        Some(l) if l.member_id == member.member_id => Ok((member, l)),
        _ => Err(RrrError::Conflict(format!(
            "the client's user is not linked to member {}",
            member.member_id
        ))),
    }
}

/// [`linked`] without the link.
///
/// # Errors
/// As [`linked`].
pub fn linked_member(
    tx: &mut LedgerTx<'_>,
    c: &Client,
    client_user_id: &str,
    member_id: &str,
) -> Result<MemberRow> {
    linked(tx, c, client_user_id, member_id).map(|(m, _)| m)
}

/// What a member ledger row says beside its amount.
pub struct EntrySpec<'a> {
    /// The row's UUID.
    pub uuid: String,
    /// `EARN`, `REDEEM`, ….
    pub entry_type: &'a str,
    /// Signed points.
    pub points_delta: i64,
    /// Why.
    pub reason_code: &'a str,
    /// The client's reference.
    pub source_ref: Option<&'a str>,
    /// (`actor_type`, `actor_id`).
    pub actor: (&'a str, &'a str),
    /// When accepted (RFC 3339 UTC); the batch time when `None`.
    pub created_at: Option<&'a str>,
    /// The core entry.
    pub core_entry_id: Option<i64>,
    /// The available balance after it, when the caller knows it (the core entry's own
    /// `balance_after` for a movement of available); read from the account otherwise.
    pub balance_after: Option<i64>,
    /// The request's `metadata`, as given (adjustments).
    pub metadata: Option<&'a str>,
}

/// Appends the member ledger row of a movement just made (its `balance_after` is
/// the available balance now).
///
/// # Errors
/// Storage errors.
pub fn record(
    tx: &mut LedgerTx<'_>,
    member: &MemberRow,
    tenant: &crate::ledger::TenantId,
    e: EntrySpec<'_>,
) -> Result<EntryRow> {
    let now = tx.now().to_string();
    let balance_after = match e.balance_after {
        Some(b) => b,
        None => tx.balances(member.account)?.available,
    };
    let row = EntryRow {
        id: 0,
        entry_uuid: e.uuid,
        account: member.account,
        member_id: member.member_id.clone(),
        client_id: member.client_id.clone(),
        entry_type: e.entry_type.to_string(),
        points_delta: e.points_delta,
        balance_after,
        reason_code: e.reason_code.to_string(),
        source_ref: e.source_ref.map(str::to_string),
        actor_type: e.actor.0.to_string(),
        actor_id: e.actor.1.to_string(),
        created_at: e.created_at.unwrap_or(&now).to_string(),
        posted_at: now,
        core_entry_id: e.core_entry_id,
        metadata: e.metadata.map(str::to_string),
    };
    let id = tx.repo::<dyn RrrStore>()?.insert_entry(tenant, &row)?;
    Ok(EntryRow { id, ..row })
}

/// Adds `tally` to the member's client's aggregates of today (Toronto).
///
/// # Errors
/// Storage errors.
pub fn count(
    tx: &mut LedgerTx<'_>,
    tenant: &crate::ledger::TenantId,
    client_id: &str,
    tally: Tally,
) -> Result<()> {
    let day = time::day(tx.now());
    tx.repo::<dyn RrrStore>()?
        .add_tally(tenant, client_id, &day, &tally)?;
    Ok(())
}

fn points(n: i64) -> Result<Amount> {
    Amount::new(n).ok_or_else(|| RrrError::field("points", "must be a positive whole number"))
}

/// When a lot credited at `now` expires with `days` of life: the end of that Toronto
/// day; never for 0.
pub fn default_expiry(days: u32, now: &str) -> Option<String> {
    (days > 0).then(|| time::end_of_day_after(now, days))
}

/// A text field: trimmed, 1 to `max` characters, no control characters.
///
/// # Errors
/// 422 naming `field`.
pub fn text(field: &str, value: &str, max: usize) -> Result<String> {
    let v = value.trim();
    if v.is_empty() || v.chars().count() > max || v.chars().any(char::is_control) {
        return Err(RrrError::field(
            field,
            format!("must be 1 to {max} characters without control characters"),
        ));
    }
    Ok(v.to_string())
}

/// The actor of the caller (`SERVICE`, its client id).
fn service_actor(c: &Client) -> (&'static str, &str) {
    ("SERVICE", c.client_id.as_str())
}

// ---------------------------------------------------------------------------------
// Links (§3.3, §6)

/// Lifetime of a link intent, seconds.
pub const INTENT_TTL_SECS: u64 = 15 * 60;
/// Wrong proofs that burn an intent.
pub const MAX_PROOF_FAILURES: u32 = 5;

/// A new link code: 8 characters of an alphabet without look-alikes.
pub fn link_code() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    (0..8)
        .map(|_| ALPHABET[rand::random::<usize>() % ALPHABET.len()] as char)
        .collect()
}

/// The answer of a confirmed or revoked link.
pub fn link_answer(
    link: &LinkRow,
    status: &'static str,
    revoked_at: Option<&str>,
) -> super::wire::LinkResponse {
    super::wire::LinkResponse {
        status,
        rrr_member_id: link.member_id.clone(),
        client_user_id: link.client_user_id.clone(),
        link_type: link.link_type.clone(),
        linked_at: time::wire(&link.linked_at),
        revoked_at: revoked_at.map(time::wire),
    }
}

/// `LINK_UPDATED`.
pub fn link_event(
    tx: &mut LedgerTx<'_>,
    c: &Client,
    account: Option<AccountId>,
    link: &LinkRow,
    status: &str,
) -> Result<()> {
    webhook::emit(
        tx,
        c,
        account,
        webhook::LINK_UPDATED,
        json!({
            "member_id": link.member_id,
            "client_user_id": link.client_user_id,
            "status": status,
        }),
    )
}

// ---------------------------------------------------------------------------------
// Earn (§8)

/// An earn checked by the route, ready for its unit.
pub struct Earn {
    /// The request.
    pub request: super::wire::EarnRequest,
    /// `source.line_id` (default `1`).
    pub line_id: String,
    /// PENDING rather than POSTED.
    pub pending: bool,
    /// `policy.expires_at` (RFC 3339 UTC).
    pub expires_at: Option<String>,
    /// `metadata` as compact JSON.
    pub metadata: Option<String>,
    /// `metadata.xcn_membership_tier`.
    pub tier: Option<String>,
    /// `metadata.promotion_id`.
    pub promotion_id: Option<String>,
    /// The fingerprint of what the earn asks ([`Earn::fingerprint_of`]).
    pub fingerprint: String,
}

impl Earn {
    /// The fingerprint of what `request` asks (with `line_id` filled in), whatever its
    /// `Idempotency-Key` and a batch row's `source_ref`: the same source asked again
    /// with the same request answers the original result.
    pub fn fingerprint_of(request: &super::wire::EarnRequest, line_id: &str) -> String {
        let mut request = request.clone();
        request.source_ref = None;
        request.source.line_id = Some(line_id.to_string());
        let body = serde_json::to_value(&request)
            .map(|v| canonical(&v))
            .unwrap_or_default();
        crate::ledger::idempotency::fingerprint(&[b"earn", body.as_bytes()])
    }
}

/// Whether the earn's source (its business key) was earned before: the original
/// answer when the request was the same.
///
/// # Errors
/// 409 `CONFLICT` when the source was earned with another request.
pub fn earn_replay(tx: &mut LedgerTx<'_>, c: &Client, e: &Earn) -> Result<Option<StoredResponse>> {
    let s = &e.request.source;
    let Some(earn) = tx.repo::<dyn RrrStore>()?.earn_by_source(
        &c.tenant.id,
        &c.client_id,
        (&s.event_type, &s.order_id, &e.line_id),
    )?
    else {
        return Ok(None);
    };
    if earn.fingerprint != e.fingerprint {
        return Err(RrrError::Conflict(format!(
            "order {:?} line {:?} ({}) was already earned with a different request: it is not earned twice",
            s.order_id, e.line_id, s.event_type
        )));
    }
    Ok(Some(StoredResponse {
        status: 201,
        body: earn.response,
    }))
}

/// [`earn`] unless the source was earned before ([`earn_replay`]). Returns the answer
/// and whether it is the original one.
///
/// # Errors
/// As [`earn_replay`] and [`earn`].
pub fn earn_once(tx: &mut LedgerTx<'_>, c: &Client, e: &Earn) -> Result<(StoredResponse, bool)> {
    match earn_replay(tx, c, e)? {
        Some(stored) => Ok((stored, true)),
        None => earn(tx, c, e).map(|r| (r, false)),
    }
}

/// Credits an earn (POSTED: a lot now; PENDING: pending points that post by
/// `pending_posting_secs`). Returns the answer (201). The caller has checked the
/// source is new ([`earn_once`]).
///
/// # Errors
/// 404 for an unknown member or promotion, 409 when the user is not linked to the
/// member or a named promotion does not apply, 422 for points over the ceiling.
pub fn earn(tx: &mut LedgerTx<'_>, c: &Client, e: &Earn) -> Result<StoredResponse> {
    let r = &e.request;
    let member = linked_member(tx, c, &r.client_user_id, &r.rrr_member_id)?;
    let now = tx.now().to_string();
    let settings = &c.tenant.settings;
    let promotion = super::promotions::applicable(tx, c, &member, e)?;
    let bonus = promotion.as_ref().map_or(0, |p| p.bonus);
    let total = r
        .points
        .checked_add(bonus)
        .ok_or_else(|| RrrError::field("points", "too large"))?;
    let expiry_days = promotion
        .as_ref()
        .and_then(|p| p.expiry_days)
        .unwrap_or(settings.default_expiry_days);
    let expires_at = match &e.expires_at {
        Some(t) if t.as_str() <= now.as_str() => {
            return Err(RrrError::field(
                "policy.expires_at",
                "must be in the future",
            ))
        }
        Some(t) => Some(t.clone()),
        None => default_expiry(expiry_days, &now),
    };
    let uuid = new_uuid();
    let posting = Posting::new(EntryKind::Reward, service(c)).reference("earn", uuid.clone());
    let amount = points(total)?;
    let (credit, pending_id, pending_until) = if e.pending {
        let until = time::plus_secs(&now, settings.pending_posting_secs);
        let (_, id) = tx.credit_pending(
            member.account,
            amount,
            &until,
            expires_at.as_deref(),
            &posting,
        )?;
        (None, Some(id), Some(until))
    } else {
        let entry = tx.credit_expiring(member.account, amount, expires_at.as_deref(), &posting)?;
        (Some((entry.id, entry.balance_after)), None, None)
    };
    let promotion_id = promotion.as_ref().map(|p| p.id.clone());
    let response = answer(
        201,
        &super::wire::EarnResponse {
            status: "ACCEPTED".into(),
            ledger_entry_id: uuid.clone(),
            posted_at: (!e.pending).then(|| time::wire(&now)),
            pending_until: pending_until.as_deref().map(time::wire),
            points: total,
            promotion_id: promotion_id.clone(),
        },
    )?;
    let row = EarnRow {
        entry_uuid: uuid.clone(),
        client_id: c.client_id.clone(),
        member_id: member.member_id.clone(),
        event_type: r.source.event_type.clone(),
        order_id: r.source.order_id.clone(),
        line_id: e.line_id.clone(),
        points: total,
        bonus_points: bonus,
        amount_minor: r.amount_minor,
        tier: e.tier.clone(),
        promotion_id,
        pending_id,
        core_entry_id: credit.map(|c| c.0),
        status: if e.pending {
            EarnStatus::Pending
        } else {
            EarnStatus::Posted
        },
        metadata: e.metadata.clone(),
        fingerprint: e.fingerprint.clone(),
        response: response.body.clone(),
        created_at: now.clone(),
    };
    let store = tx.repo::<dyn RrrStore>()?;
    store.insert_earn(&c.tenant.id, &row)?;
    store.add_spend(
        &c.tenant.id,
        &member.member_id,
        r.amount_minor,
        &time::month(&now),
    )?;
    if let Some(p) = &promotion {
        super::promotions::record_use(tx, p, &member)?;
    }
    segments(tx, c, &member, &row, &now)?;
    if e.pending {
        count(
            tx,
            &c.tenant.id,
            &c.client_id,
            Tally {
                d_pending: total,
                ..Tally::default()
            },
        )?;
    } else {
        post_earn(tx, &webhook::Source::of(c), &member, &row, credit)?;
    }
    Ok(response)
}

/// Counts an accepted earn in its segment (tier, promotion, cohort) of today.
fn segments(
    tx: &mut LedgerTx<'_>,
    c: &Client,
    member: &MemberRow,
    earn: &EarnRow,
    now: &str,
) -> Result<()> {
    let (cohort, new_members) = match &member.cohort {
        Some(c) => (c.clone(), 0),
        None => (time::month(now), 1),
    };
    let tally = SegmentTally {
        earns: 1,
        points: earn.points,
        bonus_points: earn.bonus_points,
        spend_minor: earn.amount_minor,
        new_members,
    };
    let segment = (
        earn.tier.as_deref().unwrap_or_default(),
        earn.promotion_id.as_deref().unwrap_or_default(),
        cohort.as_str(),
    );
    tx.repo::<dyn RrrStore>()?.add_segment(
        &c.tenant.id,
        &c.client_id,
        &time::day(now),
        segment,
        &tally,
    )?;
    Ok(())
}

/// How the segment of earns without a tier or a promotion is named in reports.
pub const NO_SEGMENT: &str = "NONE";

/// Records an earn's points as posted now: its EARN row, the aggregates (issued,
/// and out of pending when it was pending) and `POINTS_POSTED`. `credit` is the core
/// credit of available that posted it: (entry id, available balance after).
///
/// # Errors
/// Storage errors.
pub fn post_earn(
    tx: &mut LedgerTx<'_>,
    events: &webhook::Source,
    member: &MemberRow,
    earn: &EarnRow,
    credit: Option<(i64, i64)>,
) -> Result<()> {
    let entry = record(
        tx,
        member,
        &events.tenant,
        EntrySpec {
            uuid: earn.entry_uuid.clone(),
            entry_type: "EARN",
            points_delta: earn.points,
            reason_code: &earn.event_type,
            source_ref: Some(&earn.order_id),
            actor: ("SERVICE", &earn.client_id),
            created_at: Some(&earn.created_at),
            core_entry_id: credit.map(|c| c.0),
            balance_after: credit.map(|c| c.1),
            metadata: None,
        },
    )?;
    let was_pending = earn.status == EarnStatus::Pending;
    count(
        tx,
        &events.tenant,
        &earn.client_id,
        Tally {
            issued: earn.points,
            d_available: earn.points,
            d_pending: if was_pending { -earn.points } else { 0 },
            ..Tally::default()
        },
    )?;
    webhook::emit_from(
        tx,
        events,
        Some(member.account),
        webhook::POINTS_POSTED,
        json!({
            "member_id": member.member_id,
            "points_delta": earn.points,
            "ledger_entry_id": entry.entry_uuid,
            "source_ref": earn.order_id,
        }),
    )
}

/// Reverses an earn (a chargeback): takes back what is left of its lot (never more;
/// the rest is the shortfall), or cancels it while pending. `POINTS_REVERSED`.
///
/// # Errors
/// 404 for an unknown earn (or another client's), 409 when it was already reversed.
pub fn reverse_earn(
    tx: &mut LedgerTx<'_>,
    c: &Client,
    earn: &EarnRow,
    reason: &str,
) -> Result<StoredResponse> {
    if earn.status == EarnStatus::Reversed {
        return Err(RrrError::Conflict(format!(
            "earn {} was already reversed",
            earn.entry_uuid
        )));
    }
    let member = member_of(tx, c, &earn.member_id)?;
    let posting = Posting::new(EntryKind::Reversal, service(c))
        .reference("earn", earn.entry_uuid.clone())
        .note(reason.to_string());
    let (taken, shortfall, entry_uuid) = match (earn.status, earn.pending_id, earn.core_entry_id) {
        (EarnStatus::Pending, Some(pending), _) => {
            tx.cancel_pending(pending, &posting.with_kind(EntryKind::PendingCancel))?;
            count(
                tx,
                &c.tenant.id,
                &c.client_id,
                Tally {
                    d_pending: -earn.points,
                    ..Tally::default()
                },
            )?;
            (earn.points, 0, None)
        }
        (_, _, Some(credit)) => match tx.take_back_lot(credit, &posting)? {
            Some(entry) => {
                let taken = -entry.amount;
                let row = record(
                    tx,
                    &member,
                    &c.tenant.id,
                    EntrySpec {
                        uuid: new_uuid(),
                        entry_type: "REVERSAL",
                        points_delta: -taken,
                        reason_code: reason,
                        source_ref: Some(&earn.order_id),
                        actor: service_actor(c),
                        created_at: None,
                        core_entry_id: Some(entry.id),
                        balance_after: Some(entry.balance_after),
                        metadata: None,
                    },
                )?;
                count(
                    tx,
                    &c.tenant.id,
                    &c.client_id,
                    Tally {
                        reversed: taken,
                        d_available: -taken,
                        ..Tally::default()
                    },
                )?;
                (taken, earn.points - taken, Some(row.entry_uuid))
            }
            None => (0, earn.points, None),
        },
        _ => {
            return Err(RrrError::Internal(format!(
                "earn {} has neither a pending credit nor a lot",
                earn.entry_uuid
            )))
        }
    };
    tx.repo::<dyn RrrStore>()?.set_earn(
        &earn.entry_uuid,
        EarnStatus::Reversed,
        None,
        (taken, shortfall),
    )?;
    webhook::emit(
        tx,
        c,
        Some(member.account),
        webhook::POINTS_REVERSED,
        json!({
            "member_id": member.member_id,
            "points_delta": -taken,
            "reason": reason,
            "ledger_entry_id": entry_uuid.clone().unwrap_or_else(|| earn.entry_uuid.clone()),
        }),
    )?;
    answer(
        200,
        &super::wire::EarnReverseResponse {
            status: "REVERSED",
            ledger_entry_id: earn.entry_uuid.clone(),
            reversal_entry_id: entry_uuid,
            points_reversed: taken,
            shortfall_points: shortfall,
        },
    )
}

// ---------------------------------------------------------------------------------
// Adjustments (field-notes §3)

/// A signed adjustment (ADJUST entry); a negative one never overdraws.
///
/// # Errors
/// 404, 409 (`INSUFFICIENT_POINTS`, not linked).
pub fn adjust(
    tx: &mut LedgerTx<'_>,
    c: &Client,
    r: &super::wire::AdjustmentRequest,
) -> Result<StoredResponse> {
    let member = linked_member(tx, c, &r.client_user_id, &r.rrr_member_id)?;
    let now = tx.now().to_string();
    let posting = Posting::new(EntryKind::Adjustment, service(c))
        .reference("adjustment", r.ticket_reference.clone().unwrap_or_default())
        .note(r.reason_code.clone());
    let entry = if r.points > 0 {
        let expiry = default_expiry(c.tenant.settings.default_expiry_days, &now);
        tx.credit_expiring(
            member.account,
            points(r.points)?,
            expiry.as_deref(),
            &posting,
        )?
    } else {
        tx.debit(member.account, points(-r.points)?, &posting)?
    };
    let row = record(
        tx,
        &member,
        &c.tenant.id,
        EntrySpec {
            uuid: new_uuid(),
            entry_type: "ADJUST",
            points_delta: r.points,
            reason_code: &r.reason_code,
            source_ref: r.ticket_reference.as_deref(),
            actor: service_actor(c),
            created_at: None,
            core_entry_id: Some(entry.id),
            balance_after: Some(entry.balance_after),
            metadata: r.metadata.as_deref().map(RawValue::get),
        },
    )?;
    count(
        tx,
        &c.tenant.id,
        &c.client_id,
        Tally {
            adjusted: r.points,
            d_available: r.points,
            ..Tally::default()
        },
    )?;
    webhook::emit(
        tx,
        c,
        Some(member.account),
        webhook::POINTS_POSTED,
        json!({
            "member_id": member.member_id,
            "points_delta": r.points,
            "ledger_entry_id": row.entry_uuid,
            "source_ref": r.ticket_reference,
        }),
    )?;
    answer(
        201,
        &super::wire::AdjustmentResponse {
            ledger_entry_id: row.entry_uuid,
            status: "POSTED",
            balance_after: row.balance_after,
        },
    )
}

// ---------------------------------------------------------------------------------
// Redemptions (§10) and top-ups (§11)

/// Quotes a redemption: how many points may pay part of the cart.
///
/// # Errors
/// 404, 409 (not linked).
pub fn quote_redemption(
    tx: &mut LedgerTx<'_>,
    c: &Client,
    r: &super::wire::RedemptionQuoteRequest,
    exact: Option<i64>,
) -> Result<StoredResponse> {
    let member = linked_member(tx, c, &r.client_user_id, &r.rrr_member_id)?;
    let settings = &c.tenant.settings;
    let available = tx.balances(member.account)?.available;
    // ⌊total × fraction⌋ in money, then in whole points (each worth point_value_minor).
    let cap_minor = i128::from(r.cart.total_minor) * i128::from(c.tenant.max_fraction_bp) / 10_000;
    let cap_points =
        i64::try_from(cap_minor / i128::from(settings.point_value_minor)).unwrap_or(i64::MAX);
    let max_points = available.min(cap_points);
    let min_points = settings.redemption.min_points;
    let refuse = |reason: &str| {
        answer(
            200,
            &super::wire::RedemptionQuoteResponse {
                eligible: false,
                reason: Some(reason.into()),
                min_points,
                max_points: max_points.max(0),
                quote: None,
                quote_id: None,
                expires_at: None,
            },
        )
    };
    if available < min_points {
        return refuse("INSUFFICIENT_POINTS");
    }
    if max_points < min_points {
        return refuse("CART_TOO_SMALL");
    }
    let burn = match exact {
        None => max_points,
        Some(n) if (min_points..=max_points).contains(&n) => n,
        Some(_) => return refuse("REQUESTED_POINTS_OUT_OF_RANGE"),
    };
    let discount_minor = burn * settings.point_value_minor;
    let now = tx.now().to_string();
    let quote = QuoteRow {
        id: new_uuid(),
        client_id: c.client_id.clone(),
        kind: OrderKind::Redemption,
        member_id: Some(member.member_id.clone()),
        points: burn,
        money_minor: discount_minor,
        expires_at: time::plus_secs(&now, settings.redemption.quote_ttl_secs),
        used_by: None,
    };
    tx.repo::<dyn RrrStore>()?
        .insert_quote(&c.tenant.id, &quote, &now)?;
    answer(
        200,
        &super::wire::RedemptionQuoteResponse {
            eligible: true,
            reason: None,
            min_points,
            max_points,
            quote: Some(super::wire::QuoteFigures {
                points_to_burn: burn,
                discount_minor,
            }),
            quote_id: Some(quote.id),
            expires_at: Some(time::wire(&quote.expires_at)),
        },
    )
}

/// A quote of the caller's client, of `kind`, not used, not expired, for `member`
/// when it names one.
fn usable_quote(
    tx: &mut LedgerTx<'_>,
    c: &Client,
    kind: OrderKind,
    quote_id: &str,
    member: &MemberRow,
) -> Result<QuoteRow> {
    let field = match kind {
        OrderKind::Redemption => "quote_id",
        OrderKind::Topup => "topup_quote_id",
    };
    let id = uuid_field(field, quote_id)?;
    let quote = tx
        .repo::<dyn RrrStore>()?
        .quote(&c.tenant.id, &id)?
        .filter(|q| q.client_id == c.client_id && q.kind == kind)
        .ok_or_else(|| RrrError::NotFound(format!("quote {id} not found")))?;
    if quote
        .member_id
        .as_ref()
        .is_some_and(|m| *m != member.member_id)
    {
        return Err(RrrError::Conflict(format!(
            "quote {id} was made for another member"
        )));
    }
    if let Some(order) = &quote.used_by {
        return Err(RrrError::Conflict(format!(
            "quote {id} was already committed by order {order:?}"
        )));
    }
    if quote.expires_at.as_str() <= tx.now() {
        return Err(RrrError::QuoteExpired(format!(
            "quote {id} expired at {}: request a new quote",
            time::wire(&quote.expires_at)
        )));
    }
    Ok(quote)
}

/// Records a committed order of `quote` by the core entry `moved` that burned or
/// issued its points, and its member ledger row (`entry`: type, points, reason).
fn record_order(
    tx: &mut LedgerTx<'_>,
    c: &Client,
    member: &MemberRow,
    quote: &QuoteRow,
    (kind, client_order_id): (OrderKind, &str),
    moved: &crate::ledger::PostedEntry,
    (entry_type, points_delta, reason_code): (&str, i64, &str),
) -> Result<EntryRow> {
    let now = tx.now().to_string();
    let order = OrderRow {
        client_id: c.client_id.clone(),
        kind,
        client_order_id: client_order_id.to_string(),
        quote_id: quote.id.clone(),
        member_id: member.member_id.clone(),
        points: quote.points,
        money_minor: quote.money_minor,
        core_entry_id: moved.id,
        reversed: false,
    };
    tx.repo::<dyn RrrStore>()?
        .insert_order(&c.tenant.id, &order, &now)?;
    record(
        tx,
        member,
        &c.tenant.id,
        EntrySpec {
            uuid: new_uuid(),
            entry_type,
            points_delta,
            reason_code,
            source_ref: Some(client_order_id),
            actor: service_actor(c),
            created_at: None,
            core_entry_id: Some(moved.id),
            balance_after: Some(moved.balance_after),
            metadata: None,
        },
    )
}

/// Commits a redemption: burns the quote's points, earliest-expiring lots first.
/// `REDEMPTION_COMMITTED`.
///
/// # Errors
/// 404, 409 (`QUOTE_EXPIRED`, `INSUFFICIENT_POINTS`, a used quote, not linked).
pub fn commit_redemption(
    tx: &mut LedgerTx<'_>,
    c: &Client,
    r: &super::wire::RedemptionCommitRequest,
) -> Result<StoredResponse> {
    let member = linked_member(tx, c, &r.client_user_id, &r.rrr_member_id)?;
    let quote = usable_quote(tx, c, OrderKind::Redemption, &r.quote_id, &member)?;
    let posting = Posting::new(EntryKind::Deduction, service(c))
        .reference("redemption", r.client_order_id.clone());
    let debit = tx.debit(member.account, points(quote.points)?, &posting)?;
    let row = record_order(
        tx,
        c,
        &member,
        &quote,
        (OrderKind::Redemption, &r.client_order_id),
        &debit,
        ("REDEEM", -quote.points, "REDEMPTION"),
    )?;
    count(
        tx,
        &c.tenant.id,
        &c.client_id,
        Tally {
            redeemed: quote.points,
            d_available: -quote.points,
            ..Tally::default()
        },
    )?;
    webhook::emit(
        tx,
        c,
        Some(member.account),
        webhook::REDEMPTION_COMMITTED,
        json!({
            "member_id": member.member_id,
            "points_burned": quote.points,
            "discount_minor": quote.money_minor,
            "order_id": r.client_order_id,
        }),
    )?;
    answer(
        200,
        &super::wire::RedemptionCommitResponse {
            status: "COMMITTED",
            ledger_entry_id: row.entry_uuid,
            quote_id: quote.id,
            client_order_id: r.client_order_id.clone(),
            points_burned: quote.points,
            discount_minor: quote.money_minor,
            balance_after: row.balance_after,
        },
    )
}

/// Reverses a committed redemption: gives back exactly the lots it burned (a
/// REVERSAL entry). `REDEMPTION_REVERSED`.
///
/// # Errors
/// 404 for an unknown order, 409 when it was already reversed (with another request).
pub fn reverse_redemption(
    tx: &mut LedgerTx<'_>,
    c: &Client,
    r: &super::wire::RedemptionReverseRequest,
) -> Result<StoredResponse> {
    let order = tx
        .repo::<dyn RrrStore>()?
        .order(
            &c.tenant.id,
            &c.client_id,
            OrderKind::Redemption,
            &r.client_order_id,
        )?
        .ok_or_else(|| {
            RrrError::NotFound(format!("no redemption of order {:?}", r.client_order_id))
        })?;
    if order.reversed {
        return Err(RrrError::Conflict(format!(
            "the redemption of order {:?} was already reversed",
            r.client_order_id
        )));
    }
    let member = member_of(tx, c, &order.member_id)?;
    let posting = Posting::new(EntryKind::Reversal, service(c))
        .reference("redemption", r.client_order_id.clone())
        .note(r.reason.clone());
    let back = tx.reverse(order.core_entry_id, &posting)?;
    let now = tx.now().to_string();
    tx.repo::<dyn RrrStore>()?
        .reverse_order(&c.tenant.id, &order, &r.reason, &now)?;
    let row = record(
        tx,
        &member,
        &c.tenant.id,
        EntrySpec {
            uuid: new_uuid(),
            entry_type: "REVERSAL",
            points_delta: order.points,
            reason_code: &r.reason,
            source_ref: Some(&r.client_order_id),
            actor: service_actor(c),
            created_at: None,
            core_entry_id: Some(back.id),
            balance_after: Some(back.balance_after),
            metadata: None,
        },
    )?;
    count(
        tx,
        &c.tenant.id,
        &c.client_id,
        Tally {
            redeemed: -order.points,
            d_available: order.points,
            ..Tally::default()
        },
    )?;
    webhook::emit(
        tx,
        c,
        Some(member.account),
        webhook::REDEMPTION_REVERSED,
        json!({
            "member_id": member.member_id,
            "points_restored": order.points,
            "order_id": r.client_order_id,
            "reason": r.reason,
        }),
    )?;
    answer(
        200,
        &super::wire::RedemptionReverseResponse {
            status: "REVERSED",
            client_order_id: r.client_order_id.clone(),
            ledger_entry_id: row.entry_uuid,
            points_restored: order.points,
            balance_after: row.balance_after,
        },
    )
}

/// Quotes a top-up of `bundle` points at the tenant's price.
///
/// # Errors
/// 404 for a member that is not the client's.
pub fn quote_topup(
    tx: &mut LedgerTx<'_>,
    c: &Client,
    bundle: i64,
    member_id: Option<&str>,
) -> Result<StoredResponse> {
    let member = member_id.map(|m| member_of(tx, c, m)).transpose()?;
    let settings = &c.tenant.settings;
    let now = tx.now().to_string();
    let quote = QuoteRow {
        id: new_uuid(),
        client_id: c.client_id.clone(),
        kind: OrderKind::Topup,
        member_id: member.map(|m| m.member_id),
        points: bundle,
        money_minor: bundle * settings.topup.unit_price_minor,
        expires_at: time::plus_secs(&now, settings.topup.quote_ttl_secs),
        used_by: None,
    };
    tx.repo::<dyn RrrStore>()?
        .insert_quote(&c.tenant.id, &quote, &now)?;
    answer(
        200,
        &super::wire::TopupQuoteResponse {
            topup_quote_id: quote.id,
            points: quote.points,
            total_cost_minor: quote.money_minor,
            currency: settings.currency.clone(),
            expires_at: time::wire(&quote.expires_at),
        },
    )
}

/// Commits a paid top-up: issues the quote's points once (a lot with the tenant's
/// default expiry). `POINTS_POSTED`.
///
/// # Errors
/// 404, 409 (`QUOTE_EXPIRED`, a used quote, not linked).
pub fn commit_topup(
    tx: &mut LedgerTx<'_>,
    c: &Client,
    r: &super::wire::TopupCommitRequest,
) -> Result<StoredResponse> {
    let member = linked_member(tx, c, &r.client_user_id, &r.rrr_member_id)?;
    let quote = usable_quote(tx, c, OrderKind::Topup, &r.topup_quote_id, &member)?;
    let now = tx.now().to_string();
    let expiry = default_expiry(c.tenant.settings.default_expiry_days, &now);
    let posting =
        Posting::new(EntryKind::Reward, service(c)).reference("topup", r.client_order_id.clone());
    let credit = tx.credit_expiring(
        member.account,
        points(quote.points)?,
        expiry.as_deref(),
        &posting,
    )?;
    let row = record_order(
        tx,
        c,
        &member,
        &quote,
        (OrderKind::Topup, &r.client_order_id),
        &credit,
        ("EARN", quote.points, "TOPUP"),
    )?;
    count(
        tx,
        &c.tenant.id,
        &c.client_id,
        Tally {
            issued: quote.points,
            d_available: quote.points,
            ..Tally::default()
        },
    )?;
    webhook::emit(
        tx,
        c,
        Some(member.account),
        webhook::POINTS_POSTED,
        json!({
            "member_id": member.member_id,
            "points_delta": quote.points,
            "ledger_entry_id": row.entry_uuid,
            "source_ref": r.client_order_id,
        }),
    )?;
    answer(
        200,
        &super::wire::TopupCommitResponse {
            status: "POSTED",
            ledger_entry_id: row.entry_uuid,
            topup_quote_id: quote.id,
            client_order_id: r.client_order_id.clone(),
            points: quote.points,
            balance_after: row.balance_after,
        },
    )
}

/// A canonical form of a JSON body for fingerprints: keys sorted, compact.
pub fn canonical(v: &Value) -> String {
    // serde_json's map keeps keys sorted (no `preserve_order`), so printing is
    // canonical.
    v.to_string()
}
