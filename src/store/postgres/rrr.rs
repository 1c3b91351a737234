//! The RedRoomRewards repositories on PostgreSQL: `rrr_members`, `rrr_link_intents`,
//! `rrr_links`, `rrr_entries`, `rrr_earns`, `rrr_quotes`, `rrr_orders`, `rrr_daily`,
//! `rrr_promotions` (with approvals and bonus), `rrr_awards`, `rrr_segments`.
//!
//! Several nodes may write to one database at once, so the rows a unit decides on are
//! locked by the reads that find them, until the batch commits: a member (its
//! lifetime spend, its cohort, and so its bonus and new-member counts; also what
//! serializes a model's awards), a link, a link intent, an earn (by its source, its
//! id or its pending credit), a quote being committed, an order being reversed, a
//! promotion being approved or ended, a member's bonus under a promotion's cap and an
//! award. Another node's unit waits for them and then reads what was committed. The
//! counters (daily aggregates, segments, bonus, lifetime spend) are added to in
//! place, never read and written back. A second earn of a source, order of a quote,
//! active link of a user or member, member, or approval by one actor is refused with
//! an error, without a failed statement (`ON CONFLICT DO NOTHING` and the count of
//! rows written), so the transaction stays usable.

use postgres::fallible_iterator::FallibleIterator;
use postgres::types::ToSql;
use postgres::Row;

use super::error;
use super::read::PgRead;
use super::tx::{PgConn, PgTx};
use crate::dialects::rrr::repo::{
    ApprovalRow, AwardRow, CheckData, EarnRow, EarnStatus, EntryRow, IntentRow, IntentStatus,
    LinkRow, MemberRow, NewLink, OrderKind, OrderRow, PromotionRow, QuoteRow, RrrReads, RrrStore,
    SegmentTally, Tally,
};
use crate::ledger::{AccountId, LedgerError, TenantId};

macro_rules! member_columns {
    () => {
        "member_id, client_id, account_id, lifetime_spend_minor, cohort"
    };
}

macro_rules! link_columns {
    () => {
        "id, client_id, client_user_id, member_id, link_type, proof_method, linked_at"
    };
}

macro_rules! earn_columns {
    () => {
        "entry_uuid, client_id, member_id, event_type, order_id, line_id, points, bonus_points,
         amount_minor, tier, promotion_id, pending_id, core_entry_id, status, metadata,
         created_at, fingerprint, response"
    };
}

macro_rules! promotion_columns {
    () => {
        "id, client_id, name, description, starts_at, ends_at, tiers, min_lifetime_spend_minor,
         multiplier_bp, cap_points, expiry_days, status, created_at, updated_at"
    };
}

macro_rules! award_columns {
    () => {
        "intent_id, client_id, model_member_id, viewer_member_id, client_model_id,
         client_viewer_user_id, points, day, status, reason, in_entry_id, expires_at"
    };
}

macro_rules! segments_by {
    ($column:literal) => {
        concat!(
            "SELECT ",
            $column,
            ", sum(earns)::bigint, sum(points)::bigint, sum(bonus_points)::bigint,
                    sum(spend_minor)::bigint, sum(new_members)::bigint
             FROM rrr_segments
             WHERE tenant_id = $1 AND client_id = $2
               AND ($3::text IS NULL OR day >= $3) AND ($4::text IS NULL OR day <= $4)
             GROUP BY ",
            $column,
            " ORDER BY ",
            $column
        )
    };
}

type Params<'a> = [&'a (dyn ToSql + Sync)];

fn unexpected(what: &str, value: &str) -> LedgerError {
    LedgerError::Invalid(format!("unexpected {what} {value:?} in the rrr tables"))
}

/// `u32` as the `integer` of the tables.
fn int(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// An `integer` of the tables as `u32`.
fn nat(n: i32) -> u32 {
    u32::try_from(n).unwrap_or(0)
}

fn member_row(r: &Row) -> MemberRow {
    MemberRow {
        member_id: r.get(0),
        client_id: r.get(1),
        account: AccountId(r.get(2)),
        lifetime_spend_minor: r.get(3),
        cohort: r.get(4),
    }
}

fn link_row(r: &Row) -> LinkRow {
    LinkRow {
        id: r.get(0),
        client_id: r.get(1),
        client_user_id: r.get(2),
        member_id: r.get(3),
        link_type: r.get(4),
        proof_method: r.get(5),
        linked_at: r.get(6),
    }
}

fn earn_row(r: &Row) -> Result<EarnRow, LedgerError> {
    let status: String = r.get(13);
    Ok(EarnRow {
        entry_uuid: r.get(0),
        client_id: r.get(1),
        member_id: r.get(2),
        event_type: r.get(3),
        order_id: r.get(4),
        line_id: r.get(5),
        points: r.get(6),
        bonus_points: r.get(7),
        amount_minor: r.get(8),
        tier: r.get(9),
        promotion_id: r.get(10),
        pending_id: r.get(11),
        core_entry_id: r.get(12),
        status: EarnStatus::parse(&status).ok_or_else(|| unexpected("earn status", &status))?,
        metadata: r.get(14),
        created_at: r.get(15),
        fingerprint: r.get(16),
        response: r.get(17),
    })
}

fn promotion_row(r: &Row) -> Result<PromotionRow, LedgerError> {
    let tiers: String = r.get(6);
    Ok(PromotionRow {
        id: r.get(0),
        client_id: r.get(1),
        name: r.get(2),
        description: r.get(3),
        starts_at: r.get(4),
        ends_at: r.get(5),
        tiers: serde_json::from_str(&tiers).map_err(|_| unexpected("tiers", &tiers))?,
        min_lifetime_spend_minor: r.get(7),
        multiplier_bp: r.get(8),
        cap_points: r.get(9),
        expiry_days: r.get::<_, Option<i32>>(10).map(nat),
        status: r.get(11),
        created_at: r.get(12),
        updated_at: r.get(13),
    })
}

fn approval_row(r: &Row) -> ApprovalRow {
    ApprovalRow {
        actor_type: r.get(0),
        actor_id: r.get(1),
        signature_method: r.get(2),
        attestation_sha256: r.get(3),
        approved_at: r.get(4),
    }
}

fn award_row(r: &Row) -> AwardRow {
    AwardRow {
        intent_id: r.get(0),
        client_id: r.get(1),
        model_member_id: r.get(2),
        viewer_member_id: r.get(3),
        client_model_id: r.get(4),
        client_viewer_user_id: r.get(5),
        points: r.get(6),
        day: r.get(7),
        status: r.get(8),
        reason: r.get(9),
        in_entry_id: r.get(10),
        expires_at: r.get(11),
    }
}

fn kind(s: &str) -> Result<OrderKind, LedgerError> {
    match s {
        "REDEMPTION" => Ok(OrderKind::Redemption),
        "TOPUP" => Ok(OrderKind::Topup),
        _ => Err(unexpected("order kind", s)),
    }
}

/// The nine counters of a `rrr_daily` row (or of its sums) from column `i` on.
fn tally_at(r: &Row, i: usize) -> Tally {
    Tally {
        issued: r.get(i),
        redeemed: r.get(i + 1),
        expired: r.get(i + 2),
        reversed: r.get(i + 3),
        adjusted: r.get(i + 4),
        transferred: r.get(i + 5),
        d_available: r.get(i + 6),
        d_escrow: r.get(i + 7),
        d_pending: r.get(i + 8),
    }
}

/// The five counters of a `rrr_segments` row (or of its sums) from column `i` on.
fn segment_at(r: &Row, i: usize) -> SegmentTally {
    SegmentTally {
        earns: r.get(i),
        points: r.get(i + 1),
        bonus_points: r.get(i + 2),
        spend_minor: r.get(i + 3),
        new_members: r.get(i + 4),
    }
}

fn one_member(
    conn: &mut PgConn,
    sql: &'static str,
    params: &Params<'_>,
) -> Result<Option<MemberRow>, LedgerError> {
    Ok(conn.query_opt(sql, params)?.as_ref().map(member_row))
}

fn one_link(
    conn: &mut PgConn,
    sql: &'static str,
    params: &Params<'_>,
) -> Result<Option<LinkRow>, LedgerError> {
    Ok(conn.query_opt(sql, params)?.as_ref().map(link_row))
}

fn one_earn(
    conn: &mut PgConn,
    sql: &'static str,
    params: &Params<'_>,
) -> Result<Option<EarnRow>, LedgerError> {
    conn.query_opt(sql, params)?
        .as_ref()
        .map(earn_row)
        .transpose()
}

fn approvals(conn: &mut PgConn, promotion_id: &str) -> Result<Vec<ApprovalRow>, LedgerError> {
    Ok(conn
        .query(
            "SELECT actor_type, actor_id, signature_method, attestation_sha256, approved_at
             FROM rrr_promotion_approvals WHERE promotion_id = $1 ORDER BY id",
            &[&promotion_id],
        )?
        .iter()
        .map(approval_row)
        .collect())
}

/// Refuses a row that was not written because it exists already (`ON CONFLICT DO
/// NOTHING` wrote none).
fn written(rows: u64, what: impl FnOnce() -> String) -> Result<(), LedgerError> {
    if rows == 0 {
        Err(LedgerError::Invalid(what()))
    } else {
        Ok(())
    }
}

impl RrrStore for PgTx {
    fn member(
        &mut self,
        tenant: &TenantId,
        member_id: &str,
    ) -> Result<Option<MemberRow>, LedgerError> {
        one_member(
            &mut self.conn,
            concat!(
                "SELECT ",
                member_columns!(),
                " FROM rrr_members WHERE tenant_id = $1 AND member_id = $2 FOR UPDATE"
            ),
            &[&tenant.as_str(), &member_id],
        )
    }

    fn insert_member(
        &mut self,
        tenant: &TenantId,
        m: &MemberRow,
        now: &str,
    ) -> Result<(), LedgerError> {
        let rows = self.conn.execute(
            "INSERT INTO rrr_members
               (tenant_id, member_id, client_id, account_id, lifetime_spend_minor, cohort,
                created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
            &[
                &tenant.as_str(),
                &m.member_id,
                &m.client_id,
                &m.account.0,
                &m.lifetime_spend_minor,
                &m.cohort,
                &now,
            ],
        )?;
        written(rows, || {
            format!("that member of tenant {tenant} exists already")
        })
    }

    fn add_spend(
        &mut self,
        tenant: &TenantId,
        member_id: &str,
        amount_minor: i64,
        cohort: &str,
    ) -> Result<(), LedgerError> {
        self.conn.execute(
            "UPDATE rrr_members
             SET lifetime_spend_minor = lifetime_spend_minor + $3,
                 cohort = coalesce(cohort, $4)
             WHERE tenant_id = $1 AND member_id = $2",
            &[&tenant.as_str(), &member_id, &amount_minor, &cohort],
        )?;
        Ok(())
    }

    fn insert_intent(
        &mut self,
        tenant: &TenantId,
        i: &IntentRow,
        now: &str,
    ) -> Result<(), LedgerError> {
        self.conn.execute(
            "INSERT INTO rrr_link_intents
               (id, tenant_id, client_id, client_user_id, link_type, code_sha256, failures,
                status, expires_at, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            &[
                &i.id,
                &tenant.as_str(),
                &i.client_id,
                &i.client_user_id,
                &i.link_type,
                &i.code_sha256,
                &int(i.failures),
                &i.status.as_str(),
                &i.expires_at,
                &now,
            ],
        )?;
        Ok(())
    }

    fn intent(&mut self, tenant: &TenantId, id: &str) -> Result<Option<IntentRow>, LedgerError> {
        self.conn
            .query_opt(
                "SELECT id, client_id, client_user_id, link_type, code_sha256, failures, status,
                        expires_at
                 FROM rrr_link_intents WHERE id = $1 AND tenant_id = $2 FOR UPDATE",
                &[&id, &tenant.as_str()],
            )?
            .map(|r| {
                let status: String = r.get(6);
                Ok(IntentRow {
                    id: r.get(0),
                    client_id: r.get(1),
                    client_user_id: r.get(2),
                    link_type: r.get(3),
                    code_sha256: r.get(4),
                    failures: nat(r.get(5)),
                    status: IntentStatus::parse(&status)
                        .ok_or_else(|| unexpected("intent status", &status))?,
                    expires_at: r.get(7),
                })
            })
            .transpose()
    }

    fn set_intent(
        &mut self,
        id: &str,
        status: IntentStatus,
        failures: u32,
    ) -> Result<(), LedgerError> {
        self.conn.execute(
            "UPDATE rrr_link_intents SET status = $2, failures = $3 WHERE id = $1",
            &[&id, &status.as_str(), &int(failures)],
        )?;
        Ok(())
    }

    fn link_of_user(
        &mut self,
        tenant: &TenantId,
        client_id: &str,
        client_user_id: &str,
    ) -> Result<Option<LinkRow>, LedgerError> {
        one_link(
            &mut self.conn,
            concat!(
                "SELECT ",
                link_columns!(),
                " FROM rrr_links
                 WHERE tenant_id = $1 AND client_id = $2 AND client_user_id = $3
                   AND status = 'ACTIVE'
                 FOR UPDATE"
            ),
            &[&tenant.as_str(), &client_id, &client_user_id],
        )
    }

    fn link_of_member(
        &mut self,
        tenant: &TenantId,
        member_id: &str,
    ) -> Result<Option<LinkRow>, LedgerError> {
        one_link(
            &mut self.conn,
            concat!(
                "SELECT ",
                link_columns!(),
                " FROM rrr_links
                 WHERE tenant_id = $1 AND member_id = $2 AND status = 'ACTIVE'
                 FOR UPDATE"
            ),
            &[&tenant.as_str(), &member_id],
        )
    }

    fn insert_link(
        &mut self,
        tenant: &TenantId,
        l: &NewLink<'_>,
        now: &str,
    ) -> Result<(), LedgerError> {
        // The two partial unique indexes (one active link per user, per member)
        // decide, also against another node's link written at the same time.
        let rows = self.conn.execute(
            "INSERT INTO rrr_links
               (tenant_id, client_id, client_user_id, member_id, link_type, proof_method,
                intent_id, status, linked_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, 'ACTIVE', $8) ON CONFLICT DO NOTHING",
            &[
                &tenant.as_str(),
                &l.client_id,
                &l.client_user_id,
                &l.member_id,
                &l.link_type,
                &l.proof_method,
                &l.intent_id,
                &now,
            ],
        )?;
        written(rows, || {
            "the client's user or the member has an active link already".to_string()
        })
    }

    fn revoke_link(&mut self, id: i64, reason: &str, now: &str) -> Result<(), LedgerError> {
        self.conn.execute(
            "UPDATE rrr_links SET status = 'REVOKED', revoked_at = $2, revoke_reason = $3
             WHERE id = $1",
            &[&id, &now, &reason],
        )?;
        Ok(())
    }

    fn insert_entry(&mut self, tenant: &TenantId, e: &EntryRow) -> Result<i64, LedgerError> {
        self.conn
            .query_opt(
                "INSERT INTO rrr_entries
                   (entry_uuid, tenant_id, account_id, member_id, client_id, type, points_delta,
                    balance_after, reason_code, source_ref, actor_type, actor_id, created_at,
                    posted_at, core_entry_id, metadata)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
                 RETURNING id",
                &[
                    &e.entry_uuid,
                    &tenant.as_str(),
                    &e.account.0,
                    &e.member_id,
                    &e.client_id,
                    &e.entry_type,
                    &e.points_delta,
                    &e.balance_after,
                    &e.reason_code,
                    &e.source_ref,
                    &e.actor_type,
                    &e.actor_id,
                    &e.created_at,
                    &e.posted_at,
                    &e.core_entry_id,
                    &e.metadata,
                ],
            )?
            .map(|r| r.get(0))
            .ok_or_else(|| LedgerError::Invalid("the member ledger row was not written".into()))
    }

    fn insert_earn(&mut self, tenant: &TenantId, e: &EarnRow) -> Result<(), LedgerError> {
        // Its source (and its id) decide: a second earn of a source, even one written
        // by another node at the same time, is refused.
        let rows = self.conn.execute(
            "INSERT INTO rrr_earns
               (entry_uuid, tenant_id, client_id, member_id, event_type, order_id, line_id,
                points, bonus_points, amount_minor, tier, promotion_id, pending_id,
                core_entry_id, status, metadata, created_at, fingerprint, response)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16,
                     $17, $18, $19)
             ON CONFLICT DO NOTHING",
            &[
                &e.entry_uuid,
                &tenant.as_str(),
                &e.client_id,
                &e.member_id,
                &e.event_type,
                &e.order_id,
                &e.line_id,
                &e.points,
                &e.bonus_points,
                &e.amount_minor,
                &e.tier,
                &e.promotion_id,
                &e.pending_id,
                &e.core_entry_id,
                &e.status.as_str(),
                &e.metadata,
                &e.created_at,
                &e.fingerprint,
                &e.response,
            ],
        )?;
        written(rows, || {
            format!("that order line ({}) was earned already", e.event_type)
        })
    }

    fn earn_by_source(
        &mut self,
        tenant: &TenantId,
        client_id: &str,
        (event_type, order_id, line_id): (&str, &str, &str),
    ) -> Result<Option<EarnRow>, LedgerError> {
        one_earn(
            &mut self.conn,
            concat!(
                "SELECT ",
                earn_columns!(),
                " FROM rrr_earns
                 WHERE tenant_id = $1 AND client_id = $2 AND event_type = $3 AND order_id = $4
                   AND line_id = $5
                 FOR UPDATE"
            ),
            &[
                &tenant.as_str(),
                &client_id,
                &event_type,
                &order_id,
                &line_id,
            ],
        )
    }

    fn earn(
        &mut self,
        tenant: &TenantId,
        entry_uuid: &str,
    ) -> Result<Option<EarnRow>, LedgerError> {
        one_earn(
            &mut self.conn,
            concat!(
                "SELECT ",
                earn_columns!(),
                " FROM rrr_earns WHERE entry_uuid = $1 AND tenant_id = $2 FOR UPDATE"
            ),
            &[&entry_uuid, &tenant.as_str()],
        )
    }

    fn earn_by_pending(
        &mut self,
        pending_id: i64,
    ) -> Result<Option<(TenantId, EarnRow)>, LedgerError> {
        self.conn
            .query_opt(
                concat!(
                    "SELECT ",
                    earn_columns!(),
                    ", tenant_id FROM rrr_earns WHERE pending_id = $1 FOR UPDATE"
                ),
                &[&pending_id],
            )?
            .map(|r| Ok((TenantId::new(r.get::<_, String>(18))?, earn_row(&r)?)))
            .transpose()
    }

    fn set_earn(
        &mut self,
        entry_uuid: &str,
        status: EarnStatus,
        core_entry_id: Option<i64>,
        (reversed, shortfall): (i64, i64),
    ) -> Result<(), LedgerError> {
        self.conn.execute(
            "UPDATE rrr_earns
             SET status = $2, core_entry_id = coalesce($3, core_entry_id),
                 reversed_points = $4, shortfall = $5
             WHERE entry_uuid = $1",
            &[
                &entry_uuid,
                &status.as_str(),
                &core_entry_id,
                &reversed,
                &shortfall,
            ],
        )?;
        Ok(())
    }

    fn insert_quote(
        &mut self,
        tenant: &TenantId,
        q: &QuoteRow,
        now: &str,
    ) -> Result<(), LedgerError> {
        self.conn.execute(
            "INSERT INTO rrr_quotes
               (id, tenant_id, client_id, kind, member_id, points, money_minor, expires_at,
                created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            &[
                &q.id,
                &tenant.as_str(),
                &q.client_id,
                &q.kind.as_str(),
                &q.member_id,
                &q.points,
                &q.money_minor,
                &q.expires_at,
                &now,
            ],
        )?;
        Ok(())
    }

    fn quote(&mut self, tenant: &TenantId, id: &str) -> Result<Option<QuoteRow>, LedgerError> {
        // NO KEY UPDATE: the order's foreign key to it (KEY SHARE) is not held back.
        self.conn
            .query_opt(
                "SELECT id, client_id, kind, member_id, points, money_minor, expires_at, used_by
                 FROM rrr_quotes WHERE id = $1 AND tenant_id = $2 FOR NO KEY UPDATE",
                &[&id, &tenant.as_str()],
            )?
            .map(|r| {
                Ok(QuoteRow {
                    id: r.get(0),
                    client_id: r.get(1),
                    kind: kind(r.get(2))?,
                    member_id: r.get(3),
                    points: r.get(4),
                    money_minor: r.get(5),
                    expires_at: r.get(6),
                    used_by: r.get(7),
                })
            })
            .transpose()
    }

    fn insert_order(
        &mut self,
        tenant: &TenantId,
        o: &OrderRow,
        now: &str,
    ) -> Result<(), LedgerError> {
        // The order id and the quote are each used once (primary key, unique quote).
        let rows = self.conn.execute(
            "INSERT INTO rrr_orders
               (tenant_id, client_id, kind, client_order_id, quote_id, member_id, points,
                money_minor, core_entry_id, status, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'COMMITTED', $10)
             ON CONFLICT DO NOTHING",
            &[
                &tenant.as_str(),
                &o.client_id,
                &o.kind.as_str(),
                &o.client_order_id,
                &o.quote_id,
                &o.member_id,
                &o.points,
                &o.money_minor,
                &o.core_entry_id,
                &now,
            ],
        )?;
        written(rows, || {
            "that order or quote was committed already".to_string()
        })?;
        self.conn.execute(
            "UPDATE rrr_quotes SET used_by = $2 WHERE id = $1",
            &[&o.quote_id, &o.client_order_id],
        )?;
        Ok(())
    }

    fn order(
        &mut self,
        tenant: &TenantId,
        client_id: &str,
        k: OrderKind,
        client_order_id: &str,
    ) -> Result<Option<OrderRow>, LedgerError> {
        self.conn
            .query_opt(
                "SELECT client_id, kind, client_order_id, quote_id, member_id, points,
                        money_minor, core_entry_id, status
                 FROM rrr_orders
                 WHERE tenant_id = $1 AND client_id = $2 AND kind = $3 AND client_order_id = $4
                 FOR UPDATE",
                &[&tenant.as_str(), &client_id, &k.as_str(), &client_order_id],
            )?
            .map(|r| {
                Ok(OrderRow {
                    client_id: r.get(0),
                    kind: kind(r.get(1))?,
                    client_order_id: r.get(2),
                    quote_id: r.get(3),
                    member_id: r.get(4),
                    points: r.get(5),
                    money_minor: r.get(6),
                    core_entry_id: r.get(7),
                    reversed: r.get::<_, &str>(8) == "REVERSED",
                })
            })
            .transpose()
    }

    fn reverse_order(
        &mut self,
        tenant: &TenantId,
        o: &OrderRow,
        reason: &str,
        now: &str,
    ) -> Result<(), LedgerError> {
        self.conn.execute(
            "UPDATE rrr_orders SET status = 'REVERSED', reverse_reason = $5, reversed_at = $6
             WHERE tenant_id = $1 AND client_id = $2 AND kind = $3 AND client_order_id = $4",
            &[
                &tenant.as_str(),
                &o.client_id,
                &o.kind.as_str(),
                &o.client_order_id,
                &reason,
                &now,
            ],
        )?;
        Ok(())
    }

    fn add_tally(
        &mut self,
        tenant: &TenantId,
        client_id: &str,
        day: &str,
        t: &Tally,
    ) -> Result<(), LedgerError> {
        self.conn.execute(
            "INSERT INTO rrr_daily AS d
               (tenant_id, client_id, day, issued, redeemed, expired, reversed, adjusted,
                transferred, d_available, d_escrow, d_pending)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
             ON CONFLICT (tenant_id, client_id, day) DO UPDATE SET
               issued = d.issued + excluded.issued,
               redeemed = d.redeemed + excluded.redeemed,
               expired = d.expired + excluded.expired,
               reversed = d.reversed + excluded.reversed,
               adjusted = d.adjusted + excluded.adjusted,
               transferred = d.transferred + excluded.transferred,
               d_available = d.d_available + excluded.d_available,
               d_escrow = d.d_escrow + excluded.d_escrow,
               d_pending = d.d_pending + excluded.d_pending",
            &[
                &tenant.as_str(),
                &client_id,
                &day,
                &t.issued,
                &t.redeemed,
                &t.expired,
                &t.reversed,
                &t.adjusted,
                &t.transferred,
                &t.d_available,
                &t.d_escrow,
                &t.d_pending,
            ],
        )?;
        Ok(())
    }

    fn member_by_account(
        &mut self,
        tenant: &TenantId,
        account: AccountId,
    ) -> Result<Option<MemberRow>, LedgerError> {
        // Not locked: the scheduler's hooks ask, after the core locked the account, and
        // use only what never changes (the member's id, client and account).
        one_member(
            &mut self.conn,
            concat!(
                "SELECT ",
                member_columns!(),
                " FROM rrr_members WHERE account_id = $1 AND tenant_id = $2"
            ),
            &[&account.0, &tenant.as_str()],
        )
    }

    fn put_promotion(&mut self, tenant: &TenantId, p: &PromotionRow) -> Result<(), LedgerError> {
        let tiers = serde_json::to_string(&p.tiers).unwrap_or_else(|_| "[]".into());
        self.conn.execute(
            "INSERT INTO rrr_promotions
               (id, tenant_id, client_id, name, description, starts_at, ends_at, tiers,
                min_lifetime_spend_minor, multiplier_bp, cap_points, expiry_days, status,
                created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
             ON CONFLICT (id) DO UPDATE SET
               name = excluded.name, description = excluded.description,
               starts_at = excluded.starts_at, ends_at = excluded.ends_at,
               tiers = excluded.tiers,
               min_lifetime_spend_minor = excluded.min_lifetime_spend_minor,
               multiplier_bp = excluded.multiplier_bp, cap_points = excluded.cap_points,
               expiry_days = excluded.expiry_days, status = excluded.status,
               updated_at = excluded.updated_at",
            &[
                &p.id,
                &tenant.as_str(),
                &p.client_id,
                &p.name,
                &p.description,
                &p.starts_at,
                &p.ends_at,
                &tiers,
                &p.min_lifetime_spend_minor,
                &p.multiplier_bp,
                &p.cap_points,
                &p.expiry_days.map(int),
                &p.status,
                &p.created_at,
                &p.updated_at,
            ],
        )?;
        Ok(())
    }

    fn promotion(
        &mut self,
        tenant: &TenantId,
        id: &str,
    ) -> Result<Option<PromotionRow>, LedgerError> {
        // NO KEY UPDATE: the foreign keys of approvals and bonus rows to it (KEY SHARE)
        // are not held back.
        self.conn
            .query_opt(
                concat!(
                    "SELECT ",
                    promotion_columns!(),
                    " FROM rrr_promotions WHERE id = $1 AND tenant_id = $2 FOR NO KEY UPDATE"
                ),
                &[&id, &tenant.as_str()],
            )?
            .as_ref()
            .map(promotion_row)
            .transpose()
    }

    fn live_promotions(
        &mut self,
        tenant: &TenantId,
        client_id: &str,
        now: &str,
    ) -> Result<Vec<PromotionRow>, LedgerError> {
        // Not locked: an earn only applies them (its member's row, locked, guards the
        // member's bonus), and every earn of a client reads them.
        self.conn
            .query(
                concat!(
                    "SELECT ",
                    promotion_columns!(),
                    " FROM rrr_promotions
                     WHERE tenant_id = $1 AND client_id = $2 AND status = 'ACTIVE'
                       AND starts_at <= $3 AND ends_at > $3
                     ORDER BY multiplier_bp DESC, starts_at, id"
                ),
                &[&tenant.as_str(), &client_id, &now],
            )?
            .iter()
            .map(promotion_row)
            .collect()
    }

    fn promotions_past_end(
        &mut self,
        tenant: &TenantId,
        now: &str,
        limit: u32,
    ) -> Result<Vec<PromotionRow>, LedgerError> {
        // Locked: a node ending them at the same time waits, then finds them ENDED.
        self.conn
            .query(
                concat!(
                    "SELECT ",
                    promotion_columns!(),
                    " FROM rrr_promotions
                     WHERE tenant_id = $1 AND status IN ('ACTIVE', 'PAUSED') AND ends_at <= $2
                     ORDER BY ends_at LIMIT $3
                     FOR NO KEY UPDATE"
                ),
                &[&tenant.as_str(), &now, &i64::from(limit)],
            )?
            .iter()
            .map(promotion_row)
            .collect()
    }

    fn approvals(&mut self, promotion_id: &str) -> Result<Vec<ApprovalRow>, LedgerError> {
        approvals(&mut self.conn, promotion_id)
    }

    fn insert_approval(&mut self, promotion_id: &str, a: &ApprovalRow) -> Result<(), LedgerError> {
        let rows = self.conn.execute(
            "INSERT INTO rrr_promotion_approvals
               (promotion_id, actor_type, actor_id, signature_method, attestation_sha256,
                approved_at)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
            &[
                &promotion_id,
                &a.actor_type,
                &a.actor_id,
                &a.signature_method,
                &a.attestation_sha256,
                &a.approved_at,
            ],
        )?;
        written(rows, || {
            format!(
                "that {} approved promotion {promotion_id} already",
                a.actor_type
            )
        })
    }

    fn bonus_given(&mut self, promotion_id: &str, member_id: &str) -> Result<i64, LedgerError> {
        Ok(self
            .conn
            .query_opt(
                "SELECT bonus_points FROM rrr_promotion_bonus
                 WHERE promotion_id = $1 AND member_id = $2 FOR UPDATE",
                &[&promotion_id, &member_id],
            )?
            .map_or(0, |r| r.get(0)))
    }

    fn add_bonus(
        &mut self,
        promotion_id: &str,
        member_id: &str,
        points: i64,
    ) -> Result<(), LedgerError> {
        self.conn.execute(
            "INSERT INTO rrr_promotion_bonus AS b (promotion_id, member_id, bonus_points)
             VALUES ($1, $2, $3)
             ON CONFLICT (promotion_id, member_id)
             DO UPDATE SET bonus_points = b.bonus_points + excluded.bonus_points",
            &[&promotion_id, &member_id, &points],
        )?;
        Ok(())
    }

    fn insert_award(
        &mut self,
        tenant: &TenantId,
        a: &AwardRow,
        now: &str,
    ) -> Result<(), LedgerError> {
        self.conn.execute(
            "INSERT INTO rrr_awards
               (intent_id, tenant_id, client_id, model_member_id, viewer_member_id,
                client_model_id, client_viewer_user_id, points, day, status, reason,
                in_entry_id, expires_at, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
            &[
                &a.intent_id,
                &tenant.as_str(),
                &a.client_id,
                &a.model_member_id,
                &a.viewer_member_id,
                &a.client_model_id,
                &a.client_viewer_user_id,
                &a.points,
                &a.day,
                &a.status,
                &a.reason,
                &a.in_entry_id,
                &a.expires_at,
                &now,
            ],
        )?;
        Ok(())
    }

    fn award(&mut self, tenant: &TenantId, id: &str) -> Result<Option<AwardRow>, LedgerError> {
        Ok(self
            .conn
            .query_opt(
                concat!(
                    "SELECT ",
                    award_columns!(),
                    " FROM rrr_awards WHERE intent_id = $1 AND tenant_id = $2 FOR UPDATE"
                ),
                &[&id, &tenant.as_str()],
            )?
            .as_ref()
            .map(award_row))
    }

    fn set_award(
        &mut self,
        id: &str,
        status: &str,
        in_entry_id: Option<i64>,
    ) -> Result<(), LedgerError> {
        self.conn.execute(
            "UPDATE rrr_awards SET status = $2, in_entry_id = coalesce($3, in_entry_id)
             WHERE intent_id = $1",
            &[&id, &status, &in_entry_id],
        )?;
        Ok(())
    }

    fn awarded_on(
        &mut self,
        tenant: &TenantId,
        model_member_id: &str,
        (day, now): (&str, &str),
    ) -> Result<i64, LedgerError> {
        // The model's row first: its awards are decided one unit at a time across
        // nodes, and the sum below (a statement of its own) sees every award committed
        // before the lock was granted, so the daily cap holds.
        self.conn.query_opt(
            "SELECT 1 FROM rrr_members WHERE tenant_id = $1 AND member_id = $2 FOR UPDATE",
            &[&tenant.as_str(), &model_member_id],
        )?;
        Ok(self
            .conn
            .query_opt(
                "SELECT coalesce(sum(points), 0)::bigint FROM rrr_awards
                 WHERE tenant_id = $1 AND model_member_id = $2 AND day = $3
                   AND (status = 'COMMITTED' OR (status = 'OPEN' AND expires_at > $4))",
                &[&tenant.as_str(), &model_member_id, &day, &now],
            )?
            .map_or(0, |r| r.get(0)))
    }

    fn add_segment(
        &mut self,
        tenant: &TenantId,
        client_id: &str,
        day: &str,
        (tier, promotion, cohort): (&str, &str, &str),
        t: &SegmentTally,
    ) -> Result<(), LedgerError> {
        self.conn.execute(
            "INSERT INTO rrr_segments AS s
               (tenant_id, client_id, day, tier, promotion_id, cohort, earns, points,
                bonus_points, spend_minor, new_members)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
             ON CONFLICT (tenant_id, client_id, day, tier, promotion_id, cohort)
             DO UPDATE SET
               earns = s.earns + excluded.earns, points = s.points + excluded.points,
               bonus_points = s.bonus_points + excluded.bonus_points,
               spend_minor = s.spend_minor + excluded.spend_minor,
               new_members = s.new_members + excluded.new_members",
            &[
                &tenant.as_str(),
                &client_id,
                &day,
                &tier,
                &promotion,
                &cohort,
                &t.earns,
                &t.points,
                &t.bonus_points,
                &t.spend_minor,
                &t.new_members,
            ],
        )?;
        Ok(())
    }
}

impl RrrReads for PgRead {
    fn member(
        &mut self,
        tenant: &TenantId,
        member_id: &str,
    ) -> Result<Option<MemberRow>, LedgerError> {
        one_member(
            &mut self.0,
            concat!(
                "SELECT ",
                member_columns!(),
                " FROM rrr_members WHERE tenant_id = $1 AND member_id = $2"
            ),
            &[&tenant.as_str(), &member_id],
        )
    }

    fn link_of_user(
        &mut self,
        tenant: &TenantId,
        client_id: &str,
        client_user_id: &str,
    ) -> Result<Option<LinkRow>, LedgerError> {
        one_link(
            &mut self.0,
            concat!(
                "SELECT ",
                link_columns!(),
                " FROM rrr_links
                 WHERE tenant_id = $1 AND client_id = $2 AND client_user_id = $3
                   AND status = 'ACTIVE'"
            ),
            &[&tenant.as_str(), &client_id, &client_user_id],
        )
    }

    fn entries(
        &mut self,
        account: AccountId,
        before: Option<i64>,
        types: &[String],
        (from, to): (Option<&str>, Option<&str>),
        limit: u32,
    ) -> Result<Vec<EntryRow>, LedgerError> {
        // One statement for every filter: the types as an array, NULL for all.
        let types = (!types.is_empty()).then_some(types);
        let rows = self.0.query(
            "SELECT id, entry_uuid, account_id, member_id, client_id, type, points_delta,
                    balance_after, reason_code, source_ref, actor_type, actor_id, created_at,
                    posted_at, core_entry_id
             FROM rrr_entries
             WHERE account_id = $1 AND id < $2
               AND ($3::text[] IS NULL OR type = ANY($3))
               AND ($4::text IS NULL OR created_at >= $4) AND ($5::text IS NULL OR created_at < $5)
             ORDER BY id DESC LIMIT $6",
            &[
                &account.0,
                &before.unwrap_or(i64::MAX),
                &types,
                &from,
                &to,
                &i64::from(limit),
            ],
        )?;
        Ok(rows
            .iter()
            .map(|r| EntryRow {
                id: r.get(0),
                entry_uuid: r.get(1),
                account: AccountId(r.get(2)),
                member_id: r.get(3),
                client_id: r.get(4),
                entry_type: r.get(5),
                points_delta: r.get(6),
                balance_after: r.get(7),
                reason_code: r.get(8),
                source_ref: r.get(9),
                actor_type: r.get(10),
                actor_id: r.get(11),
                created_at: r.get(12),
                posted_at: r.get(13),
                core_entry_id: r.get(14),
                metadata: None,
            })
            .collect())
    }

    fn tally(
        &mut self,
        tenant: &TenantId,
        client_id: &str,
        from: Option<&str>,
        to: Option<&str>,
    ) -> Result<Tally, LedgerError> {
        Ok(self
            .0
            .query_opt(
                "SELECT coalesce(sum(issued), 0)::bigint, coalesce(sum(redeemed), 0)::bigint,
                        coalesce(sum(expired), 0)::bigint, coalesce(sum(reversed), 0)::bigint,
                        coalesce(sum(adjusted), 0)::bigint, coalesce(sum(transferred), 0)::bigint,
                        coalesce(sum(d_available), 0)::bigint, coalesce(sum(d_escrow), 0)::bigint,
                        coalesce(sum(d_pending), 0)::bigint
                 FROM rrr_daily
                 WHERE tenant_id = $1 AND client_id = $2
                   AND ($3::text IS NULL OR day >= $3) AND ($4::text IS NULL OR day <= $4)",
                &[&tenant.as_str(), &client_id, &from, &to],
            )?
            .map_or_else(Tally::default, |r| tally_at(&r, 0)))
    }

    fn promotion(
        &mut self,
        tenant: &TenantId,
        id: &str,
    ) -> Result<Option<(PromotionRow, Vec<ApprovalRow>)>, LedgerError> {
        let found = self
            .0
            .query_opt(
                concat!(
                    "SELECT ",
                    promotion_columns!(),
                    " FROM rrr_promotions WHERE id = $1 AND tenant_id = $2"
                ),
                &[&id, &tenant.as_str()],
            )?
            .as_ref()
            .map(promotion_row)
            .transpose()?;
        match found {
            Some(p) => {
                let a = approvals(&mut self.0, &p.id)?;
                Ok(Some((p, a)))
            }
            None => Ok(None),
        }
    }

    fn promotions(
        &mut self,
        tenant: &TenantId,
        client_id: &str,
        status: Option<&str>,
    ) -> Result<Vec<(PromotionRow, Vec<ApprovalRow>)>, LedgerError> {
        let rows = self
            .0
            .query(
                concat!(
                    "SELECT ",
                    promotion_columns!(),
                    " FROM rrr_promotions
                     WHERE tenant_id = $1 AND client_id = $2 AND ($3::text IS NULL OR status = $3)
                     ORDER BY created_at DESC, id"
                ),
                &[&tenant.as_str(), &client_id, &status],
            )?
            .iter()
            .map(promotion_row)
            .collect::<Result<Vec<_>, _>>()?;
        rows.into_iter()
            .map(|p| {
                let a = approvals(&mut self.0, &p.id)?;
                Ok((p, a))
            })
            .collect()
    }

    fn segments(
        &mut self,
        tenant: &TenantId,
        client_id: &str,
        dimension: &str,
        from: Option<&str>,
        to: Option<&str>,
    ) -> Result<Vec<(String, SegmentTally)>, LedgerError> {
        // The column is one of three names, never the caller's text.
        let sql = match dimension {
            "tier" => segments_by!("tier"),
            "promotion" => segments_by!("promotion_id"),
            _ => segments_by!("cohort"),
        };
        Ok(self
            .0
            .query(sql, &[&tenant.as_str(), &client_id, &from, &to])?
            .iter()
            .map(|r| (r.get(0), segment_at(r, 1)))
            .collect())
    }

    fn check_data(
        &mut self,
        entry: &mut dyn FnMut(&str, &str, &str, i64, &str),
        earn: &mut dyn FnMut(&str, &str, &str, SegmentTally),
    ) -> Result<CheckData, LedgerError> {
        // One snapshot for every read.
        let mut snapshot = self
            .0
            .client
            .build_transaction()
            .isolation_level(postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .map_err(error)?;
        let none: [&(dyn ToSql + Sync); 0] = [];
        {
            let mut rows = snapshot
                .query_raw(
                    "SELECT tenant_id, client_id, type, points_delta, posted_at FROM rrr_entries",
                    none.iter().copied(),
                )
                .map_err(error)?;
            while let Some(r) = rows.next().map_err(error)? {
                entry(r.get(0), r.get(1), r.get(2), r.get(3), r.get(4));
            }
        }
        let daily = snapshot
            .query(
                "SELECT tenant_id, client_id, day, issued, redeemed, expired, reversed, adjusted,
                        transferred, d_available, d_escrow, d_pending
                 FROM rrr_daily",
                &[],
            )
            .map_err(error)?
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2), tally_at(r, 3)))
            .collect();
        let balances = snapshot
            .query(
                "SELECT m.tenant_id, m.client_id, sum(a.available)::bigint, sum(a.held)::bigint,
                        sum(a.pending)::bigint
                 FROM rrr_members m JOIN credit_accounts a ON a.id = m.account_id
                 GROUP BY m.tenant_id, m.client_id",
                &[],
            )
            .map_err(error)?
            .iter()
            .map(|r| (r.get(0), r.get(1), [r.get(2), r.get(3), r.get(4)]))
            .collect();
        {
            let mut rows = snapshot
                .query_raw(
                    "SELECT tenant_id, client_id, created_at, points, bonus_points, amount_minor
                     FROM rrr_earns",
                    none.iter().copied(),
                )
                .map_err(error)?;
            while let Some(r) = rows.next().map_err(error)? {
                let tally = SegmentTally {
                    earns: 1,
                    points: r.get(3),
                    bonus_points: r.get(4),
                    spend_minor: r.get(5),
                    new_members: 0,
                };
                earn(r.get(0), r.get(1), r.get(2), tally);
            }
        }
        let segments = snapshot
            .query(
                "SELECT tenant_id, client_id, day, sum(earns)::bigint, sum(points)::bigint,
                        sum(bonus_points)::bigint, sum(spend_minor)::bigint,
                        sum(new_members)::bigint
                 FROM rrr_segments GROUP BY tenant_id, client_id, day",
                &[],
            )
            .map_err(error)?
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2), segment_at(r, 3)))
            .collect();
        let cohorts = snapshot
            .query(
                "SELECT tenant_id, client_id, count(*) FROM rrr_members
                 WHERE cohort IS NOT NULL GROUP BY tenant_id, client_id",
                &[],
            )
            .map_err(error)?
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect();
        snapshot.commit().map_err(error)?;
        Ok(CheckData {
            daily,
            balances,
            segments,
            cohorts,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::super::{connect, open, testing::TestDatabase};
    use super::PgTx;
    use crate::dialects::rrr::repo::{
        AwardRow, MemberRow, OrderKind, OrderRow, QuoteRow, RrrStore,
    };
    use crate::ledger::{
        Actor, Amount, EntryKind, LedgerError, LedgerOptions, Posting, TenantId, TenantSpec,
    };
    use crate::secret::Secret;

    /// A transaction of its own on the database at `url`, as another node's writer.
    fn begun(url: &Secret) -> PgTx {
        let mut tx = PgTx::new(connect(url).unwrap());
        tx.conn.client.batch_execute("BEGIN").unwrap();
        tx
    }

    fn commit(tx: &mut PgTx) {
        tx.conn.client.batch_execute("COMMIT").unwrap();
    }

    /// Transaction A runs `decide` (the reads that lock); transaction B, on another
    /// connection, runs `second`, which must wait for A's locks; A then runs `write`
    /// and commits. Returns what B read: A's writes.
    fn second_waits<T: Send + 'static>(
        url: &Secret,
        decide: impl FnOnce(&mut PgTx),
        write: impl FnOnce(&mut PgTx),
        second: impl FnOnce(&mut PgTx) -> T + Send + 'static,
    ) -> T {
        let mut a = begun(url);
        decide(&mut a);
        let mut b = begun(url);
        let waiting = std::thread::spawn(move || {
            let seen = second(&mut b);
            commit(&mut b);
            seen
        });
        let mut watch = connect(url).unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let blocked: i64 = watch
                .query_one(
                    "SELECT count(*) FROM pg_stat_activity
                     WHERE datname = current_database() AND wait_event_type = 'Lock'",
                    &[],
                )
                .unwrap()
                .get(0);
            if blocked > 0 {
                break;
            }
            assert!(
                Instant::now() < deadline && !waiting.is_finished(),
                "the second transaction did not wait for the first one's lock"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        write(&mut a);
        commit(&mut a);
        waiting.join().unwrap()
    }

    /// Two nodes' transactions on one database: a member, a quote and a model's daily
    /// awards are decided by one transaction at a time, so the second one reads what
    /// the first one wrote.
    #[test]
    fn a_second_node_waits_for_the_rows_a_first_one_decides_on() {
        let db = TestDatabase::create();
        let ledger = open(&db.url, LedgerOptions::default()).unwrap();
        let t = TenantId::new("rrr").unwrap();
        ledger
            .ensure_tenant_blocking(TenantSpec {
                id: t.clone(),
                mode: "rrr".into(),
                scale: 0,
                ceiling: 1_000_000,
                lots: true,
            })
            .unwrap();
        let tt = t.clone();
        let debit = ledger
            .run_blocking(move |tx| {
                let account = tx.open_account(&tt, "m1")?;
                let p = Posting::new(EntryKind::Reward, Actor::System);
                tx.credit(account, Amount::new(500).unwrap(), &p)?;
                let debit = tx.debit(account, Amount::new(100).unwrap(), &p)?;
                let m = MemberRow {
                    member_id: "m1".into(),
                    client_id: "c1".into(),
                    account,
                    lifetime_spend_minor: 0,
                    cohort: None,
                };
                let now = tx.now();
                let s = tx.repo::<dyn RrrStore>()?;
                s.insert_member(&tt, &m, now)?;
                let quote = QuoteRow {
                    id: "q1".into(),
                    client_id: "c1".into(),
                    kind: OrderKind::Redemption,
                    member_id: Some("m1".into()),
                    points: 100,
                    money_minor: 100,
                    expires_at: "2999-01-01T00:00:00Z".into(),
                    used_by: None,
                };
                s.insert_quote(&tt, &quote, now)?;
                Ok::<_, LedgerError>(debit.id)
            })
            .unwrap();
        ledger.shutdown();
        let now = "2026-01-15T12:00:00Z";

        // The first earn of a member sets its cohort: the other node's earn sees it.
        let (t1, t2, t3) = (t.clone(), t.clone(), t.clone());
        let seen = second_waits(
            &db.url,
            |a| assert_eq!(a.member(&t1, "m1").unwrap().unwrap().cohort, None),
            |a| a.add_spend(&t2, "m1", 700, "2026-01").unwrap(),
            move |b| b.member(&t3, "m1").unwrap().unwrap(),
        );
        assert_eq!(
            (seen.lifetime_spend_minor, seen.cohort.as_deref()),
            (700, Some("2026-01"))
        );

        // A quote is committed once: the other node finds it used.
        let (t1, t2, t3) = (t.clone(), t.clone(), t.clone());
        let seen = second_waits(
            &db.url,
            |a| assert_eq!(a.quote(&t1, "q1").unwrap().unwrap().used_by, None),
            |a| {
                let order = OrderRow {
                    client_id: "c1".into(),
                    kind: OrderKind::Redemption,
                    client_order_id: "order-1".into(),
                    quote_id: "q1".into(),
                    member_id: "m1".into(),
                    points: 100,
                    money_minor: 100,
                    core_entry_id: debit,
                    reversed: false,
                };
                a.insert_order(&t2, &order, now).unwrap();
            },
            move |b| b.quote(&t3, "q1").unwrap().unwrap(),
        );
        assert_eq!(seen.used_by.as_deref(), Some("order-1"));

        // A model's awards of a day: the other node counts the first one's.
        let (t1, t2, t3) = (t.clone(), t.clone(), t);
        let day = "2026-01-15";
        let seen = second_waits(
            &db.url,
            |a| assert_eq!(a.awarded_on(&t1, "m1", (day, now)).unwrap(), 0),
            |a| {
                let award = AwardRow {
                    intent_id: "a1".into(),
                    client_id: "c1".into(),
                    model_member_id: "m1".into(),
                    viewer_member_id: "m2".into(),
                    client_model_id: "model".into(),
                    client_viewer_user_id: "viewer".into(),
                    points: 40,
                    day: day.into(),
                    status: "OPEN".into(),
                    reason: None,
                    in_entry_id: None,
                    expires_at: "2999-01-01T00:00:00Z".into(),
                };
                a.insert_award(&t2, &award, now).unwrap();
            },
            move |b| b.awarded_on(&t3, "m1", (day, now)).unwrap(),
        );
        assert_eq!(seen, 40);
    }
}
