//! The RRR reads: link status, wallet, member ledger, promotions, and the reports.
//! Each runs on one read snapshot; none writes.

use std::collections::BTreeMap;

use serde::Serialize;
use utoipa::ToSchema;

use super::caller::Client;
use super::error::RrrError;
use super::promotions::{self, PromotionView};
use super::repo::{CheckData, EntryRow, MemberRow, RrrReads, SegmentTally, Tally};
use super::time;
use super::wire::{ActorView, ExpiringPoints, LedgerEntry, LinkStatusResponse, WalletResponse};
use crate::ledger::LedgerRead;

type Result<T> = std::result::Result<T, RrrError>;

/// The member `member_id` (a UUID) of the caller's client.
///
/// # Errors
/// 422 for a malformed id, 404 when it is not the client's.
pub fn member(r: &mut LedgerRead<'_>, c: &Client, member_id: &str) -> Result<MemberRow> {
    let id = super::ops::uuid_field("rrr_member_id", member_id)?;
    let found = r.repo::<dyn RrrReads>()?.member(&c.tenant.id, &id)?;
    super::ops::owned_member(c, &id, found)
}

/// `GET /v1/links/status`.
///
/// # Errors
/// Storage errors.
pub fn link_status(r: &mut LedgerRead<'_>, c: &Client, user: &str) -> Result<LinkStatusResponse> {
    let link = r
        .repo::<dyn RrrReads>()?
        .link_of_user(&c.tenant.id, &c.client_id, user)?;
    Ok(match link {
        Some(l) => LinkStatusResponse {
            linked: true,
            rrr_member_id: Some(l.member_id),
            link_type: Some(l.link_type),
            linked_at: Some(time::wire(&l.linked_at)),
        },
        None => LinkStatusResponse {
            linked: false,
            rrr_member_id: None,
            link_type: None,
            linked_at: None,
        },
    })
}

/// `GET /v1/members/{id}/wallet`: balances, and the lots expiring within
/// `expiring_soon_days` summed per Toronto day (shown with the day's earliest expiry).
///
/// # Errors
/// 404, 422.
pub fn wallet(r: &mut LedgerRead<'_>, c: &Client, member_id: &str) -> Result<WalletResponse> {
    let m = member(r, c, member_id)?;
    let now = crate::ledger::timestamp_now();
    let account = r.account(&c.tenant.id, &m.member_id)?;
    let (available, held, pending) =
        account.map_or((0, 0, 0), |a| (a.available, a.held, a.pending));
    let until = time::plus_secs(
        &now,
        u64::from(c.tenant.settings.expiring_soon_days) * 86_400,
    );
    let mut days: BTreeMap<String, (String, i64)> = BTreeMap::new();
    // Lots past their expiry that the job has not taken back yet are not "soon".
    for (expires_at, points) in r
        .lots_expiring(m.account, &until)?
        .into_iter()
        .filter(|(t, _)| t.as_str() > now.as_str())
    {
        let slot = days
            .entry(time::day(&expires_at))
            .or_insert_with(|| (expires_at.clone(), 0));
        slot.1 += points;
    }
    Ok(WalletResponse {
        member_id: m.member_id,
        available_points: available,
        escrow_points: held,
        pending_points: pending,
        expiring_soon: days
            .into_values()
            .map(|(t, points)| ExpiringPoints {
                points,
                expires_at: time::wire(&t),
            })
            .collect(),
        as_of: time::wire(&now),
    })
}

/// The entry types of the member ledger (§5.2).
pub const ENTRY_TYPES: [&str; 7] = [
    "EARN",
    "REDEEM",
    "EXPIRE",
    "ADJUST",
    "TRANSFER_IN",
    "TRANSFER_OUT",
    "REVERSAL",
];

/// What a ledger page asks for.
pub struct Page {
    /// Rows below this id (the cursor).
    pub before: Option<i64>,
    /// Types (all when empty).
    pub types: Vec<String>,
    /// `[from, to)`, RFC 3339 UTC.
    pub window: (Option<String>, Option<String>),
    /// Rows.
    pub limit: u32,
}

/// A page of the member ledger, newest first, and the cursor of the next one (when
/// the page is full).
///
/// # Errors
/// 404, 422.
pub fn ledger(
    r: &mut LedgerRead<'_>,
    c: &Client,
    member_id: &str,
    page: &Page,
) -> Result<(Vec<LedgerEntry>, Option<i64>)> {
    let m = member(r, c, member_id)?;
    let rows = r.repo::<dyn RrrReads>()?.entries(
        m.account,
        page.before,
        &page.types,
        (page.window.0.as_deref(), page.window.1.as_deref()),
        page.limit,
    )?;
    let next = (rows.len() == page.limit as usize)
        .then(|| rows.last().map(|e| e.id))
        .flatten();
    Ok((rows.into_iter().map(entry_view).collect(), next))
}

fn entry_view(e: EntryRow) -> LedgerEntry {
    LedgerEntry {
        entry_id: e.entry_uuid,
        member_id: e.member_id,
        client_id: e.client_id,
        entry_type: e.entry_type,
        points_delta: e.points_delta,
        balance_after: e.balance_after,
        reason_code: e.reason_code,
        source_ref: e.source_ref,
        created_at: time::wire(&e.created_at),
        posted_at: time::wire(&e.posted_at),
        actor: ActorView {
            actor_type: e.actor_type,
            actor_id: e.actor_id,
        },
    }
}

/// `GET /v1/promotions/{id}`.
///
/// # Errors
/// 404, 422.
pub fn promotion(r: &mut LedgerRead<'_>, c: &Client, id: &str) -> Result<PromotionView> {
    let id = super::ops::uuid_field("promotion_id", id)?;
    match r.repo::<dyn RrrReads>()?.promotion(&c.tenant.id, &id)? {
        Some((p, a)) if p.client_id == c.client_id => Ok(promotions::view(&p, &a)),
        _ => Err(RrrError::NotFound(format!("promotion {id} not found"))),
    }
}

/// `GET /v1/promotions?status=`.
///
/// # Errors
/// Storage errors.
pub fn promotion_list(
    r: &mut LedgerRead<'_>,
    c: &Client,
    status: Option<&str>,
) -> Result<Vec<PromotionView>> {
    Ok(r.repo::<dyn RrrReads>()?
        .promotions(&c.tenant.id, &c.client_id, status)?
        .iter()
        .map(|(p, a)| promotions::view(p, a))
        .collect())
}

/// What is outstanding, in points, and its value.
#[derive(Debug, Serialize, ToSchema)]
pub struct Outstanding {
    /// Available points.
    pub available: i64,
    /// Points in escrow.
    pub escrow: i64,
    /// Points of pending earns.
    pub pending: i64,
    /// The sum.
    pub total: i64,
    /// `total` × `point_value_minor`, currency minor units.
    pub value_minor: i64,
}

/// A window's movements, in points.
#[derive(Debug, Serialize, ToSchema)]
pub struct Window {
    /// First day (Toronto), inclusive.
    pub from: Option<String>,
    /// Last day (Toronto), inclusive.
    pub to: Option<String>,
    /// Credited by earns (when posted) and top-ups.
    pub issued: i64,
    /// Burned by redemptions, net of their reversals (never below 0).
    pub redeemed: i64,
    /// Expired.
    pub expired: i64,
    /// Taken back by earn reversals.
    pub reversed: i64,
    /// Net of adjustments (may be negative).
    pub adjusted: i64,
    /// Moved between members by awards.
    pub transferred: i64,
}

/// `GET /v1/reports/liability` (§14.1).
#[derive(Debug, Serialize, ToSchema)]
pub struct LiabilityReport {
    /// ISO 4217.
    pub currency: String,
    /// When computed.
    pub as_of: String,
    /// What the client's members hold now.
    pub outstanding: Outstanding,
    /// What moved in the window.
    pub window: Window,
}

/// The liability report of the caller's client: O(days), from the daily aggregates.
///
/// # Errors
/// Storage errors.
pub fn liability(
    r: &mut LedgerRead<'_>,
    c: &Client,
    from: Option<String>,
    to: Option<String>,
) -> Result<LiabilityReport> {
    let repo = r.repo::<dyn RrrReads>()?;
    let all = repo.tally(&c.tenant.id, &c.client_id, None, None)?;
    let w: Tally = repo.tally(&c.tenant.id, &c.client_id, from.as_deref(), to.as_deref())?;
    let total = all.d_available + all.d_escrow + all.d_pending;
    Ok(LiabilityReport {
        currency: c.tenant.settings.currency.clone(),
        as_of: time::wire(&crate::ledger::timestamp_now()),
        outstanding: Outstanding {
            available: all.d_available,
            escrow: all.d_escrow,
            pending: all.d_pending,
            total,
            value_minor: total.saturating_mul(c.tenant.settings.point_value_minor),
        },
        window: Window {
            from,
            to,
            issued: w.issued,
            redeemed: w.redeemed.max(0),
            expired: w.expired,
            reversed: w.reversed,
            adjusted: w.adjusted,
            transferred: w.transferred,
        },
    })
}

/// One segment.
#[derive(Debug, Serialize, ToSchema)]
pub struct Segment {
    /// The tier, the promotion id, or the cohort month (`NONE` without one).
    pub segment: String,
    /// Earns accepted.
    pub earns: i64,
    /// Points they credited.
    pub points: i64,
    /// Of which promotional bonus.
    pub bonus_points: i64,
    /// What was spent, currency minor units.
    pub spend_minor: i64,
    /// Members whose first earn fell in the window.
    pub new_members: i64,
}

/// `GET /v1/reports/segments` (§14.2).
#[derive(Debug, Serialize, ToSchema)]
pub struct SegmentsReport {
    /// `tier`, `promotion` or `cohort`.
    pub group_by: String,
    /// First day, inclusive.
    pub from: Option<String>,
    /// Last day, inclusive.
    pub to: Option<String>,
    /// The segments.
    pub segments: Vec<Segment>,
}

/// The segments of the caller's client by `group_by`.
///
/// # Errors
/// Storage errors.
pub fn segments(
    r: &mut LedgerRead<'_>,
    c: &Client,
    group_by: &str,
    from: Option<String>,
    to: Option<String>,
) -> Result<SegmentsReport> {
    let rows = r.repo::<dyn RrrReads>()?.segments(
        &c.tenant.id,
        &c.client_id,
        group_by,
        from.as_deref(),
        to.as_deref(),
    )?;
    Ok(SegmentsReport {
        group_by: group_by.to_string(),
        from,
        to,
        segments: rows
            .into_iter()
            .map(|(segment, t)| Segment {
                segment: if segment.is_empty() {
                    super::ops::NO_SEGMENT.to_string()
                } else {
                    segment
                },
                earns: t.earns,
                points: t.points,
                bonus_points: t.bonus_points,
                spend_minor: t.spend_minor,
                new_members: t.new_members,
            })
            .collect(),
    })
}

/// Checks the daily aggregates against what they count: per tenant, client and
/// Toronto day the segments sum what the earns accepted that day give (and their new
/// members, what the members who have earned number); per tenant and client, the
/// sum of the balance deltas equals the balances of its members, and per Toronto day
/// `issued` equals the EARN rows, `adjusted` the ADJUST rows, `expired` the EXPIRE rows,
/// `transferred` the TRANSFER_IN rows, and `redeemed + reversed` what REDEEM and
/// REVERSAL rows took (award reversals move points between two members of one
/// client: they sum to nothing). Returns the first disagreement.
///
/// # Errors
/// Storage errors.
pub fn verify(
    r: &mut LedgerRead<'_>,
) -> std::result::Result<Option<String>, crate::ledger::LedgerError> {
    type Key = (String, String, String);
    let mut counted: BTreeMap<Key, Tally> = BTreeMap::new();
    let mut earned: BTreeMap<Key, SegmentTally> = BTreeMap::new();
    let data = r.repo::<dyn RrrReads>()?.check_data(
        &mut |tenant, client, ty, delta, at| {
            let t = counted
                .entry((tenant.to_string(), client.to_string(), time::day(at)))
                .or_default();
            match ty {
                "EARN" => t.issued += delta,
                "ADJUST" => t.adjusted += delta,
                "EXPIRE" => t.expired -= delta,
                "TRANSFER_IN" => t.transferred += delta,
                // The held points leave escrow: counted by the balances below.
                "TRANSFER_OUT" => {}
                _ => t.redeemed -= delta,
            }
        },
        &mut |tenant, client, at, e| {
            let s = earned
                .entry((tenant.to_string(), client.to_string(), time::day(at)))
                .or_default();
            s.earns += e.earns;
            s.points += e.points;
            s.bonus_points += e.bonus_points;
            s.spend_minor += e.spend_minor;
        },
    )?;
    let CheckData {
        daily,
        balances,
        segments,
        cohorts,
    } = data;
    let mut new_members: BTreeMap<(String, String), i64> = BTreeMap::new();
    for (tenant, client, day, s) in segments {
        *new_members
            .entry((tenant.clone(), client.clone()))
            .or_default() += s.new_members;
        let e = earned
            .remove(&(tenant.clone(), client.clone(), day.clone()))
            .unwrap_or_default();
        let stored = [s.earns, s.points, s.bonus_points, s.spend_minor];
        let recount = [e.earns, e.points, e.bonus_points, e.spend_minor];
        if stored != recount {
            return Ok(Some(format!(
                "tenant {tenant}, client {client}, day {day}: segments [earns, points, bonus, spend] = {stored:?}, the earns give {recount:?}"
            )));
        }
    }
    if let Some(((tenant, client, day), _)) = earned.into_iter().next() {
        return Ok(Some(format!(
            "tenant {tenant}, client {client}, day {day}: earns with no segment"
        )));
    }
    for (tenant, client, n) in cohorts {
        let stored = new_members
            .remove(&(tenant.clone(), client.clone()))
            .unwrap_or_default();
        if stored != n {
            return Ok(Some(format!(
                "tenant {tenant}, client {client}: segments count {stored} new members, {n} members have earned"
            )));
        }
    }
    let mut totals: BTreeMap<(String, String), [i64; 3]> = BTreeMap::new();
    for (tenant, client, day, t) in daily {
        let sum = totals.entry((tenant.clone(), client.clone())).or_default();
        sum[0] += t.d_available;
        sum[1] += t.d_escrow;
        sum[2] += t.d_pending;
        let c = counted
            .remove(&(tenant.clone(), client.clone(), day.clone()))
            .unwrap_or_default();
        let stored = [
            t.issued,
            t.adjusted,
            t.expired,
            t.transferred,
            t.redeemed + t.reversed,
        ];
        let recount = [c.issued, c.adjusted, c.expired, c.transferred, c.redeemed];
        if stored != recount {
            return Ok(Some(format!(
                "tenant {tenant}, client {client}, day {day}: aggregates [issued, adjusted, expired, transferred, redeemed+reversed] = {stored:?}, the ledger rows give {recount:?}"
            )));
        }
    }
    if let Some(((tenant, client, day), c)) =
        counted.into_iter().find(|(_, c)| *c != Tally::default())
    {
        return Ok(Some(format!(
            "tenant {tenant}, client {client}, day {day}: ledger rows {c:?} with no aggregate"
        )));
    }
    for (tenant, client, held) in balances {
        let stored = totals
            .remove(&(tenant.clone(), client.clone()))
            .unwrap_or_default();
        if stored != held {
            return Ok(Some(format!(
                "tenant {tenant}, client {client}: aggregates say [available, escrow, pending] = {stored:?}, the members hold {held:?}"
            )));
        }
    }
    if let Some(((tenant, client), t)) = totals.into_iter().find(|(_, t)| *t != [0; 3]) {
        return Ok(Some(format!(
            "tenant {tenant}, client {client}: aggregates say {t:?} but the client has no members"
        )));
    }
    Ok(None)
}
