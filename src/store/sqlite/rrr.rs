//! The RedRoomRewards repositories on SQLite: `rrr_members`, `rrr_link_intents`,
//! `rrr_links`, `rrr_entries`, `rrr_earns`, `rrr_quotes`, `rrr_orders`, `rrr_daily`,
//! `rrr_promotions` (with approvals and bonus), `rrr_awards`, `rrr_segments`.

use rusqlite::{params, Connection, OptionalExtension};

use super::read::SqliteRead;
use super::tx::SqliteTx;
use crate::dialects::rrr::repo::{
    ApprovalRow, AwardRow, CheckData, EarnRow, EarnStatus, EntryRow, IntentRow, IntentStatus,
    LinkRow, MemberRow, NewLink, OrderKind, OrderRow, PromotionRow, QuoteRow, RrrReads, RrrStore,
    SegmentTally, Tally,
};
use crate::ledger::{AccountId, LedgerError, TenantId};

const MEMBER_COLUMNS: &str = "member_id, client_id, account_id, lifetime_spend_minor, cohort";

fn member_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<MemberRow> {
    Ok(MemberRow {
        member_id: r.get(0)?,
        client_id: r.get(1)?,
        account: AccountId(r.get(2)?),
        lifetime_spend_minor: r.get(3)?,
        cohort: r.get(4)?,
    })
}

const PROMOTION_COLUMNS: &str = "id, client_id, name, description, starts_at, ends_at, tiers,
    min_lifetime_spend_minor, multiplier_bp, cap_points, expiry_days, status, created_at,
    updated_at";

fn promotion_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<PromotionRow> {
    let tiers: String = r.get(6)?;
    Ok(PromotionRow {
        id: r.get(0)?,
        client_id: r.get(1)?,
        name: r.get(2)?,
        description: r.get(3)?,
        starts_at: r.get(4)?,
        ends_at: r.get(5)?,
        tiers: serde_json::from_str(&tiers).map_err(|_| bad_text(6, &tiers))?,
        min_lifetime_spend_minor: r.get(7)?,
        multiplier_bp: r.get(8)?,
        cap_points: r.get(9)?,
        expiry_days: r.get(10)?,
        status: r.get(11)?,
        created_at: r.get(12)?,
        updated_at: r.get(13)?,
    })
}

fn promotion(
    conn: &Connection,
    tenant: &TenantId,
    id: &str,
) -> Result<Option<PromotionRow>, LedgerError> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {PROMOTION_COLUMNS} FROM rrr_promotions WHERE id = ?1 AND tenant_id = ?2"
        ))?
        .query_row(params![id, tenant.as_str()], promotion_row)
        .optional()?)
}

fn approvals(conn: &Connection, promotion_id: &str) -> Result<Vec<ApprovalRow>, LedgerError> {
    let mut stmt = conn.prepare_cached(
        "SELECT actor_type, actor_id, signature_method, attestation_sha256, approved_at
         FROM rrr_promotion_approvals WHERE promotion_id = ?1 ORDER BY rowid",
    )?;
    let rows = stmt.query_map([promotion_id], |r| {
        Ok(ApprovalRow {
            actor_type: r.get(0)?,
            actor_id: r.get(1)?,
            signature_method: r.get(2)?,
            attestation_sha256: r.get(3)?,
            approved_at: r.get(4)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

const AWARD_COLUMNS: &str = "intent_id, client_id, model_member_id, viewer_member_id,
    client_model_id, client_viewer_user_id, points, day, status, reason, in_entry_id,
    expires_at";

fn award_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<AwardRow> {
    Ok(AwardRow {
        intent_id: r.get(0)?,
        client_id: r.get(1)?,
        model_member_id: r.get(2)?,
        viewer_member_id: r.get(3)?,
        client_model_id: r.get(4)?,
        client_viewer_user_id: r.get(5)?,
        points: r.get(6)?,
        day: r.get(7)?,
        status: r.get(8)?,
        reason: r.get(9)?,
        in_entry_id: r.get(10)?,
        expires_at: r.get(11)?,
    })
}

fn member(
    conn: &Connection,
    tenant: &TenantId,
    member_id: &str,
) -> Result<Option<MemberRow>, LedgerError> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {MEMBER_COLUMNS} FROM rrr_members WHERE tenant_id = ?1 AND member_id = ?2"
        ))?
        .query_row(params![tenant.as_str(), member_id], member_row)
        .optional()?)
}

const LINK_COLUMNS: &str =
    "id, client_id, client_user_id, member_id, link_type, proof_method, linked_at";

fn link_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<LinkRow> {
    Ok(LinkRow {
        id: r.get(0)?,
        client_id: r.get(1)?,
        client_user_id: r.get(2)?,
        member_id: r.get(3)?,
        link_type: r.get(4)?,
        proof_method: r.get(5)?,
        linked_at: r.get(6)?,
    })
}

fn link_of_user(
    conn: &Connection,
    tenant: &TenantId,
    client_id: &str,
    client_user_id: &str,
) -> Result<Option<LinkRow>, LedgerError> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {LINK_COLUMNS} FROM rrr_links
             WHERE tenant_id = ?1 AND client_id = ?2 AND client_user_id = ?3
               AND status = 'ACTIVE'"
        ))?
        .query_row(
            params![tenant.as_str(), client_id, client_user_id],
            link_row,
        )
        .optional()?)
}

const EARN_COLUMNS: &str = "entry_uuid, client_id, member_id, event_type, order_id, line_id,
    points, bonus_points, amount_minor, tier, promotion_id, pending_id, core_entry_id, status,
    metadata, created_at, fingerprint, response";

fn earn_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<EarnRow> {
    let status: String = r.get(13)?;
    Ok(EarnRow {
        entry_uuid: r.get(0)?,
        client_id: r.get(1)?,
        member_id: r.get(2)?,
        event_type: r.get(3)?,
        order_id: r.get(4)?,
        line_id: r.get(5)?,
        points: r.get(6)?,
        bonus_points: r.get(7)?,
        amount_minor: r.get(8)?,
        tier: r.get(9)?,
        promotion_id: r.get(10)?,
        pending_id: r.get(11)?,
        core_entry_id: r.get(12)?,
        status: EarnStatus::parse(&status).ok_or_else(|| bad_text(13, &status))?,
        metadata: r.get(14)?,
        created_at: r.get(15)?,
        fingerprint: r.get(16)?,
        response: r.get(17)?,
    })
}

/// The nine counters of a `rrr_daily` row (or of its sums) from column `i` on.
fn tally_at(r: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<Tally> {
    Ok(Tally {
        issued: r.get(i)?,
        redeemed: r.get(i + 1)?,
        expired: r.get(i + 2)?,
        reversed: r.get(i + 3)?,
        adjusted: r.get(i + 4)?,
        transferred: r.get(i + 5)?,
        d_available: r.get(i + 6)?,
        d_escrow: r.get(i + 7)?,
        d_pending: r.get(i + 8)?,
    })
}

/// The five counters of a `rrr_segments` row (or of its sums) from column `i` on.
fn segment_at(r: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<SegmentTally> {
    Ok(SegmentTally {
        earns: r.get(i)?,
        points: r.get(i + 1)?,
        bonus_points: r.get(i + 2)?,
        spend_minor: r.get(i + 3)?,
        new_members: r.get(i + 4)?,
    })
}

fn bad_text(column: usize, value: &str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        column,
        rusqlite::types::Type::Text,
        format!("unexpected value {value:?}").into(),
    )
}

fn kind(s: &str) -> Option<OrderKind> {
    match s {
        "REDEMPTION" => Some(OrderKind::Redemption),
        "TOPUP" => Some(OrderKind::Topup),
        _ => None,
    }
}

impl RrrStore for SqliteTx {
    fn member(
        &mut self,
        tenant: &TenantId,
        member_id: &str,
    ) -> Result<Option<MemberRow>, LedgerError> {
        member(self.conn(), tenant, member_id)
    }

    fn insert_member(
        &mut self,
        tenant: &TenantId,
        m: &MemberRow,
        now: &str,
    ) -> Result<(), LedgerError> {
        self.conn()
            .prepare_cached(
                "INSERT INTO rrr_members
                   (tenant_id, member_id, client_id, account_id, lifetime_spend_minor, cohort,
                    created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![
                tenant.as_str(),
                m.member_id,
                m.client_id,
                m.account.0,
                m.lifetime_spend_minor,
                m.cohort,
                now
            ])?;
        Ok(())
    }

    fn add_spend(
        &mut self,
        tenant: &TenantId,
        member_id: &str,
        amount_minor: i64,
        cohort: &str,
    ) -> Result<(), LedgerError> {
        self.conn()
            .prepare_cached(
                "UPDATE rrr_members
                 SET lifetime_spend_minor = lifetime_spend_minor + ?3,
                     cohort = coalesce(cohort, ?4)
                 WHERE tenant_id = ?1 AND member_id = ?2",
            )?
            .execute(params![tenant.as_str(), member_id, amount_minor, cohort])?;
        Ok(())
    }

    fn insert_intent(
        &mut self,
        tenant: &TenantId,
        i: &IntentRow,
        now: &str,
    ) -> Result<(), LedgerError> {
        self.conn()
            .prepare_cached(
                "INSERT INTO rrr_link_intents
                   (id, tenant_id, client_id, client_user_id, link_type, code_sha256, failures,
                    status, expires_at, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )?
            .execute(params![
                i.id,
                tenant.as_str(),
                i.client_id,
                i.client_user_id,
                i.link_type,
                i.code_sha256,
                i.failures,
                i.status.as_str(),
                i.expires_at,
                now
            ])?;
        Ok(())
    }

    fn intent(&mut self, tenant: &TenantId, id: &str) -> Result<Option<IntentRow>, LedgerError> {
        Ok(self
            .conn()
            .prepare_cached(
                "SELECT id, client_id, client_user_id, link_type, code_sha256, failures, status,
                        expires_at
                 FROM rrr_link_intents WHERE id = ?1 AND tenant_id = ?2",
            )?
            .query_row(params![id, tenant.as_str()], |r| {
                let status: String = r.get(6)?;
                Ok(IntentRow {
                    id: r.get(0)?,
                    client_id: r.get(1)?,
                    client_user_id: r.get(2)?,
                    link_type: r.get(3)?,
                    code_sha256: r.get(4)?,
                    failures: r.get(5)?,
                    status: IntentStatus::parse(&status).ok_or_else(|| bad_text(6, &status))?,
                    expires_at: r.get(7)?,
                })
            })
            .optional()?)
    }

    fn set_intent(
        &mut self,
        id: &str,
        status: IntentStatus,
        failures: u32,
    ) -> Result<(), LedgerError> {
        self.conn()
            .prepare_cached("UPDATE rrr_link_intents SET status = ?2, failures = ?3 WHERE id = ?1")?
            .execute(params![id, status.as_str(), failures])?;
        Ok(())
    }

    fn link_of_user(
        &mut self,
        tenant: &TenantId,
        client_id: &str,
        client_user_id: &str,
    ) -> Result<Option<LinkRow>, LedgerError> {
        link_of_user(self.conn(), tenant, client_id, client_user_id)
    }

    fn link_of_member(
        &mut self,
        tenant: &TenantId,
        member_id: &str,
    ) -> Result<Option<LinkRow>, LedgerError> {
        Ok(self
            .conn()
            .prepare_cached(&format!(
                "SELECT {LINK_COLUMNS} FROM rrr_links
                 WHERE tenant_id = ?1 AND member_id = ?2 AND status = 'ACTIVE'"
            ))?
            .query_row(params![tenant.as_str(), member_id], link_row)
            .optional()?)
    }

    fn insert_link(
        &mut self,
        tenant: &TenantId,
        l: &NewLink<'_>,
        now: &str,
    ) -> Result<(), LedgerError> {
        self.conn()
            .prepare_cached(
                "INSERT INTO rrr_links
                   (tenant_id, client_id, client_user_id, member_id, link_type, proof_method,
                    intent_id, status, linked_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'ACTIVE', ?8)",
            )?
            .execute(params![
                tenant.as_str(),
                l.client_id,
                l.client_user_id,
                l.member_id,
                l.link_type,
                l.proof_method,
                l.intent_id,
                now
            ])?;
        Ok(())
    }

    fn revoke_link(&mut self, id: i64, reason: &str, now: &str) -> Result<(), LedgerError> {
        self.conn()
            .prepare_cached(
                "UPDATE rrr_links SET status = 'REVOKED', revoked_at = ?2, revoke_reason = ?3
                 WHERE id = ?1",
            )?
            .execute(params![id, now, reason])?;
        Ok(())
    }

    fn insert_entry(&mut self, tenant: &TenantId, e: &EntryRow) -> Result<i64, LedgerError> {
        let conn = self.conn();
        conn.prepare_cached(
            "INSERT INTO rrr_entries
               (entry_uuid, tenant_id, account_id, member_id, client_id, type, points_delta,
                balance_after, reason_code, source_ref, actor_type, actor_id, created_at,
                posted_at, core_entry_id, metadata)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
        )?
        .execute(params![
            e.entry_uuid,
            tenant.as_str(),
            e.account.0,
            e.member_id,
            e.client_id,
            e.entry_type,
            e.points_delta,
            e.balance_after,
            e.reason_code,
            e.source_ref,
            e.actor_type,
            e.actor_id,
            e.created_at,
            e.posted_at,
            e.core_entry_id,
            e.metadata
        ])?;
        Ok(conn.last_insert_rowid())
    }

    fn insert_earn(&mut self, tenant: &TenantId, e: &EarnRow) -> Result<(), LedgerError> {
        self.conn()
            .prepare_cached(
                "INSERT INTO rrr_earns
                   (entry_uuid, tenant_id, client_id, member_id, event_type, order_id, line_id,
                    points, bonus_points, amount_minor, tier, promotion_id, pending_id,
                    core_entry_id, status, metadata, created_at, fingerprint, response)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15,
                         ?16, ?17, ?18, ?19)",
            )?
            .execute(params![
                e.entry_uuid,
                tenant.as_str(),
                e.client_id,
                e.member_id,
                e.event_type,
                e.order_id,
                e.line_id,
                e.points,
                e.bonus_points,
                e.amount_minor,
                e.tier,
                e.promotion_id,
                e.pending_id,
                e.core_entry_id,
                e.status.as_str(),
                e.metadata,
                e.created_at,
                e.fingerprint,
                e.response,
            ])?;
        Ok(())
    }

    fn earn_by_source(
        &mut self,
        tenant: &TenantId,
        client_id: &str,
        (event_type, order_id, line_id): (&str, &str, &str),
    ) -> Result<Option<EarnRow>, LedgerError> {
        Ok(self
            .conn()
            .prepare_cached(&format!(
                "SELECT {EARN_COLUMNS} FROM rrr_earns
                 WHERE tenant_id = ?1 AND client_id = ?2 AND event_type = ?3 AND order_id = ?4
                   AND line_id = ?5"
            ))?
            .query_row(
                params![tenant.as_str(), client_id, event_type, order_id, line_id],
                earn_row,
            )
            .optional()?)
    }

    fn earn(
        &mut self,
        tenant: &TenantId,
        entry_uuid: &str,
    ) -> Result<Option<EarnRow>, LedgerError> {
        Ok(self
            .conn()
            .prepare_cached(&format!(
                "SELECT {EARN_COLUMNS} FROM rrr_earns WHERE entry_uuid = ?1 AND tenant_id = ?2"
            ))?
            .query_row(params![entry_uuid, tenant.as_str()], earn_row)
            .optional()?)
    }

    fn earn_by_pending(
        &mut self,
        pending_id: i64,
    ) -> Result<Option<(TenantId, EarnRow)>, LedgerError> {
        let row = self
            .conn()
            .prepare_cached(&format!(
                "SELECT {EARN_COLUMNS}, tenant_id FROM rrr_earns WHERE pending_id = ?1"
            ))?
            .query_row([pending_id], |r| {
                Ok((earn_row(r)?, r.get::<_, String>(18)?))
            })
            .optional()?;
        row.map(|(e, t)| Ok((TenantId::new(t)?, e))).transpose()
    }

    fn set_earn(
        &mut self,
        entry_uuid: &str,
        status: EarnStatus,
        core_entry_id: Option<i64>,
        (reversed, shortfall): (i64, i64),
    ) -> Result<(), LedgerError> {
        self.conn()
            .prepare_cached(
                "UPDATE rrr_earns
                 SET status = ?2, core_entry_id = coalesce(?3, core_entry_id),
                     reversed_points = ?4, shortfall = ?5
                 WHERE entry_uuid = ?1",
            )?
            .execute(params![
                entry_uuid,
                status.as_str(),
                core_entry_id,
                reversed,
                shortfall
            ])?;
        Ok(())
    }

    fn insert_quote(
        &mut self,
        tenant: &TenantId,
        q: &QuoteRow,
        now: &str,
    ) -> Result<(), LedgerError> {
        self.conn()
            .prepare_cached(
                "INSERT INTO rrr_quotes
                   (id, tenant_id, client_id, kind, member_id, points, money_minor, expires_at,
                    created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?
            .execute(params![
                q.id,
                tenant.as_str(),
                q.client_id,
                q.kind.as_str(),
                q.member_id,
                q.points,
                q.money_minor,
                q.expires_at,
                now
            ])?;
        Ok(())
    }

    fn quote(&mut self, tenant: &TenantId, id: &str) -> Result<Option<QuoteRow>, LedgerError> {
        Ok(self
            .conn()
            .prepare_cached(
                "SELECT id, client_id, kind, member_id, points, money_minor, expires_at, used_by
                 FROM rrr_quotes WHERE id = ?1 AND tenant_id = ?2",
            )?
            .query_row(params![id, tenant.as_str()], |r| {
                let k: String = r.get(2)?;
                Ok(QuoteRow {
                    id: r.get(0)?,
                    client_id: r.get(1)?,
                    kind: kind(&k).ok_or_else(|| bad_text(2, &k))?,
                    member_id: r.get(3)?,
                    points: r.get(4)?,
                    money_minor: r.get(5)?,
                    expires_at: r.get(6)?,
                    used_by: r.get(7)?,
                })
            })
            .optional()?)
    }

    fn insert_order(
        &mut self,
        tenant: &TenantId,
        o: &OrderRow,
        now: &str,
    ) -> Result<(), LedgerError> {
        let conn = self.conn();
        conn.prepare_cached(
            "INSERT INTO rrr_orders
               (tenant_id, client_id, kind, client_order_id, quote_id, member_id, points,
                money_minor, core_entry_id, status, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 'COMMITTED', ?10)",
        )?
        .execute(params![
            tenant.as_str(),
            o.client_id,
            o.kind.as_str(),
            o.client_order_id,
            o.quote_id,
            o.member_id,
            o.points,
            o.money_minor,
            o.core_entry_id,
            now
        ])?;
        conn.prepare_cached("UPDATE rrr_quotes SET used_by = ?2 WHERE id = ?1")?
            .execute(params![o.quote_id, o.client_order_id])?;
        Ok(())
    }

    fn order(
        &mut self,
        tenant: &TenantId,
        client_id: &str,
        k: OrderKind,
        client_order_id: &str,
    ) -> Result<Option<OrderRow>, LedgerError> {
        Ok(self
            .conn()
            .prepare_cached(
                "SELECT client_id, kind, client_order_id, quote_id, member_id, points,
                        money_minor, core_entry_id, status
                 FROM rrr_orders
                 WHERE tenant_id = ?1 AND client_id = ?2 AND kind = ?3 AND client_order_id = ?4",
            )?
            .query_row(
                params![tenant.as_str(), client_id, k.as_str(), client_order_id],
                |r| {
                    let k: String = r.get(1)?;
                    let status: String = r.get(8)?;
                    Ok(OrderRow {
                        client_id: r.get(0)?,
                        kind: kind(&k).ok_or_else(|| bad_text(1, &k))?,
                        client_order_id: r.get(2)?,
                        quote_id: r.get(3)?,
                        member_id: r.get(4)?,
                        points: r.get(5)?,
                        money_minor: r.get(6)?,
                        core_entry_id: r.get(7)?,
                        reversed: status == "REVERSED",
                    })
                },
            )
            .optional()?)
    }

    fn reverse_order(
        &mut self,
        tenant: &TenantId,
        o: &OrderRow,
        reason: &str,
        now: &str,
    ) -> Result<(), LedgerError> {
        self.conn()
            .prepare_cached(
                "UPDATE rrr_orders SET status = 'REVERSED', reverse_reason = ?5, reversed_at = ?6
                 WHERE tenant_id = ?1 AND client_id = ?2 AND kind = ?3 AND client_order_id = ?4",
            )?
            .execute(params![
                tenant.as_str(),
                o.client_id,
                o.kind.as_str(),
                o.client_order_id,
                reason,
                now
            ])?;
        Ok(())
    }

    fn add_tally(
        &mut self,
        tenant: &TenantId,
        client_id: &str,
        day: &str,
        t: &Tally,
    ) -> Result<(), LedgerError> {
        self.conn()
            .prepare_cached(
                "INSERT INTO rrr_daily
                   (tenant_id, client_id, day, issued, redeemed, expired, reversed, adjusted,
                    transferred, d_available, d_escrow, d_pending)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
                 ON CONFLICT (tenant_id, client_id, day) DO UPDATE SET
                   issued = issued + excluded.issued,
                   redeemed = redeemed + excluded.redeemed,
                   expired = expired + excluded.expired,
                   reversed = reversed + excluded.reversed,
                   adjusted = adjusted + excluded.adjusted,
                   transferred = transferred + excluded.transferred,
                   d_available = d_available + excluded.d_available,
                   d_escrow = d_escrow + excluded.d_escrow,
                   d_pending = d_pending + excluded.d_pending",
            )?
            .execute(params![
                tenant.as_str(),
                client_id,
                day,
                t.issued,
                t.redeemed,
                t.expired,
                t.reversed,
                t.adjusted,
                t.transferred,
                t.d_available,
                t.d_escrow,
                t.d_pending
            ])?;
        Ok(())
    }

    fn member_by_account(
        &mut self,
        tenant: &TenantId,
        account: AccountId,
    ) -> Result<Option<MemberRow>, LedgerError> {
        Ok(self
            .conn()
            .prepare_cached(&format!(
                "SELECT {MEMBER_COLUMNS} FROM rrr_members WHERE account_id = ?1 AND tenant_id = ?2"
            ))?
            .query_row(params![account.0, tenant.as_str()], member_row)
            .optional()?)
    }

    fn put_promotion(&mut self, tenant: &TenantId, p: &PromotionRow) -> Result<(), LedgerError> {
        let tiers = serde_json::to_string(&p.tiers).unwrap_or_else(|_| "[]".into());
        self.conn()
            .prepare_cached(
                "INSERT INTO rrr_promotions
                   (id, tenant_id, client_id, name, description, starts_at, ends_at, tiers,
                    min_lifetime_spend_minor, multiplier_bp, cap_points, expiry_days, status,
                    created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)
                 ON CONFLICT (id) DO UPDATE SET
                   name = excluded.name, description = excluded.description,
                   starts_at = excluded.starts_at, ends_at = excluded.ends_at,
                   tiers = excluded.tiers,
                   min_lifetime_spend_minor = excluded.min_lifetime_spend_minor,
                   multiplier_bp = excluded.multiplier_bp, cap_points = excluded.cap_points,
                   expiry_days = excluded.expiry_days, status = excluded.status,
                   updated_at = excluded.updated_at",
            )?
            .execute(params![
                p.id,
                tenant.as_str(),
                p.client_id,
                p.name,
                p.description,
                p.starts_at,
                p.ends_at,
                tiers,
                p.min_lifetime_spend_minor,
                p.multiplier_bp,
                p.cap_points,
                p.expiry_days,
                p.status,
                p.created_at,
                p.updated_at
            ])?;
        Ok(())
    }

    fn promotion(
        &mut self,
        tenant: &TenantId,
        id: &str,
    ) -> Result<Option<PromotionRow>, LedgerError> {
        promotion(self.conn(), tenant, id)
    }

    fn live_promotions(
        &mut self,
        tenant: &TenantId,
        client_id: &str,
        now: &str,
    ) -> Result<Vec<PromotionRow>, LedgerError> {
        let mut stmt = self.conn().prepare_cached(&format!(
            "SELECT {PROMOTION_COLUMNS} FROM rrr_promotions
             WHERE tenant_id = ?1 AND client_id = ?2 AND status = 'ACTIVE'
               AND starts_at <= ?3 AND ends_at > ?3
             ORDER BY multiplier_bp DESC, starts_at, id"
        ))?;
        let rows = stmt.query_map(params![tenant.as_str(), client_id, now], promotion_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn promotions_past_end(
        &mut self,
        tenant: &TenantId,
        now: &str,
        limit: u32,
    ) -> Result<Vec<PromotionRow>, LedgerError> {
        let mut stmt = self.conn().prepare_cached(&format!(
            "SELECT {PROMOTION_COLUMNS} FROM rrr_promotions
             WHERE tenant_id = ?1 AND status IN ('ACTIVE', 'PAUSED') AND ends_at <= ?2
             ORDER BY ends_at LIMIT ?3"
        ))?;
        let rows = stmt.query_map(params![tenant.as_str(), now, limit], promotion_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn approvals(&mut self, promotion_id: &str) -> Result<Vec<ApprovalRow>, LedgerError> {
        approvals(self.conn(), promotion_id)
    }

    fn insert_approval(&mut self, promotion_id: &str, a: &ApprovalRow) -> Result<(), LedgerError> {
        self.conn()
            .prepare_cached(
                "INSERT INTO rrr_promotion_approvals
                   (promotion_id, actor_type, actor_id, signature_method, attestation_sha256,
                    approved_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![
                promotion_id,
                a.actor_type,
                a.actor_id,
                a.signature_method,
                a.attestation_sha256,
                a.approved_at
            ])?;
        Ok(())
    }

    fn bonus_given(&mut self, promotion_id: &str, member_id: &str) -> Result<i64, LedgerError> {
        Ok(self
            .conn()
            .prepare_cached(
                "SELECT bonus_points FROM rrr_promotion_bonus
                 WHERE promotion_id = ?1 AND member_id = ?2",
            )?
            .query_row(params![promotion_id, member_id], |r| r.get(0))
            .optional()?
            .unwrap_or(0))
    }

    fn add_bonus(
        &mut self,
        promotion_id: &str,
        member_id: &str,
        points: i64,
    ) -> Result<(), LedgerError> {
        self.conn()
            .prepare_cached(
                "INSERT INTO rrr_promotion_bonus (promotion_id, member_id, bonus_points)
                 VALUES (?1, ?2, ?3)
                 ON CONFLICT (promotion_id, member_id)
                 DO UPDATE SET bonus_points = bonus_points + excluded.bonus_points",
            )?
            .execute(params![promotion_id, member_id, points])?;
        Ok(())
    }

    fn insert_award(
        &mut self,
        tenant: &TenantId,
        a: &AwardRow,
        now: &str,
    ) -> Result<(), LedgerError> {
        self.conn()
            .prepare_cached(
                "INSERT INTO rrr_awards
                   (intent_id, tenant_id, client_id, model_member_id, viewer_member_id,
                    client_model_id, client_viewer_user_id, points, day, status, reason,
                    in_entry_id, expires_at, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
            )?
            .execute(params![
                a.intent_id,
                tenant.as_str(),
                a.client_id,
                a.model_member_id,
                a.viewer_member_id,
                a.client_model_id,
                a.client_viewer_user_id,
                a.points,
                a.day,
                a.status,
                a.reason,
                a.in_entry_id,
                a.expires_at,
                now
            ])?;
        Ok(())
    }

    fn award(&mut self, tenant: &TenantId, id: &str) -> Result<Option<AwardRow>, LedgerError> {
        Ok(self
            .conn()
            .prepare_cached(&format!(
                "SELECT {AWARD_COLUMNS} FROM rrr_awards WHERE intent_id = ?1 AND tenant_id = ?2"
            ))?
            .query_row(params![id, tenant.as_str()], award_row)
            .optional()?)
    }

    fn set_award(
        &mut self,
        id: &str,
        status: &str,
        in_entry_id: Option<i64>,
    ) -> Result<(), LedgerError> {
        self.conn()
            .prepare_cached(
                "UPDATE rrr_awards SET status = ?2, in_entry_id = coalesce(?3, in_entry_id)
                 WHERE intent_id = ?1",
            )?
            .execute(params![id, status, in_entry_id])?;
        Ok(())
    }

    fn awarded_on(
        &mut self,
        tenant: &TenantId,
        model_member_id: &str,
        (day, now): (&str, &str),
    ) -> Result<i64, LedgerError> {
        Ok(self
            .conn()
            .prepare_cached(
                "SELECT coalesce(sum(points), 0) FROM rrr_awards
                 WHERE tenant_id = ?1 AND model_member_id = ?2 AND day = ?3
                   AND (status = 'COMMITTED' OR (status = 'OPEN' AND expires_at > ?4))",
            )?
            .query_row(params![tenant.as_str(), model_member_id, day, now], |r| {
                r.get(0)
            })?)
    }

    fn add_segment(
        &mut self,
        tenant: &TenantId,
        client_id: &str,
        day: &str,
        (tier, promotion, cohort): (&str, &str, &str),
        t: &SegmentTally,
    ) -> Result<(), LedgerError> {
        self.conn()
            .prepare_cached(
                "INSERT INTO rrr_segments
                   (tenant_id, client_id, day, tier, promotion_id, cohort, earns, points,
                    bonus_points, spend_minor, new_members)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
                 ON CONFLICT (tenant_id, client_id, day, tier, promotion_id, cohort)
                 DO UPDATE SET
                   earns = earns + excluded.earns, points = points + excluded.points,
                   bonus_points = bonus_points + excluded.bonus_points,
                   spend_minor = spend_minor + excluded.spend_minor,
                   new_members = new_members + excluded.new_members",
            )?
            .execute(params![
                tenant.as_str(),
                client_id,
                day,
                tier,
                promotion,
                cohort,
                t.earns,
                t.points,
                t.bonus_points,
                t.spend_minor,
                t.new_members
            ])?;
        Ok(())
    }
}

impl RrrReads for SqliteRead {
    fn member(
        &mut self,
        tenant: &TenantId,
        member_id: &str,
    ) -> Result<Option<MemberRow>, LedgerError> {
        member(self.conn(), tenant, member_id)
    }

    fn link_of_user(
        &mut self,
        tenant: &TenantId,
        client_id: &str,
        client_user_id: &str,
    ) -> Result<Option<LinkRow>, LedgerError> {
        link_of_user(self.conn(), tenant, client_id, client_user_id)
    }

    fn entries(
        &mut self,
        account: AccountId,
        before: Option<i64>,
        types: &[String],
        (from, to): (Option<&str>, Option<&str>),
        limit: u32,
    ) -> Result<Vec<EntryRow>, LedgerError> {
        // The types as one `,A,B,` text: one cached statement for every filter.
        let types = if types.is_empty() {
            None
        } else {
            Some(format!(",{},", types.join(",")))
        };
        let mut stmt = self.conn().prepare_cached(
            "SELECT id, entry_uuid, account_id, member_id, client_id, type, points_delta,
                    balance_after, reason_code, source_ref, actor_type, actor_id, created_at,
                    posted_at, core_entry_id
             FROM rrr_entries
             WHERE account_id = ?1 AND id < ?2
               AND (?3 IS NULL OR instr(?3, ',' || type || ',') > 0)
               AND (?4 IS NULL OR created_at >= ?4) AND (?5 IS NULL OR created_at < ?5)
             ORDER BY id DESC LIMIT ?6",
        )?;
        let rows = stmt.query_map(
            params![
                account.0,
                before.unwrap_or(i64::MAX),
                types,
                from,
                to,
                limit
            ],
            |r| {
                Ok(EntryRow {
                    id: r.get(0)?,
                    entry_uuid: r.get(1)?,
                    account: AccountId(r.get(2)?),
                    member_id: r.get(3)?,
                    client_id: r.get(4)?,
                    entry_type: r.get(5)?,
                    points_delta: r.get(6)?,
                    balance_after: r.get(7)?,
                    reason_code: r.get(8)?,
                    source_ref: r.get(9)?,
                    actor_type: r.get(10)?,
                    actor_id: r.get(11)?,
                    created_at: r.get(12)?,
                    posted_at: r.get(13)?,
                    core_entry_id: r.get(14)?,
                    metadata: None,
                })
            },
        )?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn tally(
        &mut self,
        tenant: &TenantId,
        client_id: &str,
        from: Option<&str>,
        to: Option<&str>,
    ) -> Result<Tally, LedgerError> {
        Ok(self
            .conn()
            .prepare_cached(
                "SELECT coalesce(sum(issued), 0), coalesce(sum(redeemed), 0),
                        coalesce(sum(expired), 0), coalesce(sum(reversed), 0),
                        coalesce(sum(adjusted), 0), coalesce(sum(transferred), 0),
                        coalesce(sum(d_available), 0), coalesce(sum(d_escrow), 0),
                        coalesce(sum(d_pending), 0)
                 FROM rrr_daily
                 WHERE tenant_id = ?1 AND client_id = ?2
                   AND (?3 IS NULL OR day >= ?3) AND (?4 IS NULL OR day <= ?4)",
            )?
            .query_row(params![tenant.as_str(), client_id, from, to], |r| {
                tally_at(r, 0)
            })?)
    }

    fn promotion(
        &mut self,
        tenant: &TenantId,
        id: &str,
    ) -> Result<Option<(PromotionRow, Vec<ApprovalRow>)>, LedgerError> {
        let conn = self.conn();
        match promotion(conn, tenant, id)? {
            Some(p) => {
                let a = approvals(conn, &p.id)?;
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
        let conn = self.conn();
        let rows: Vec<PromotionRow> = {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {PROMOTION_COLUMNS} FROM rrr_promotions
                 WHERE tenant_id = ?1 AND client_id = ?2 AND (?3 IS NULL OR status = ?3)
                 ORDER BY created_at DESC, id"
            ))?;
            let rows =
                stmt.query_map(params![tenant.as_str(), client_id, status], promotion_row)?;
            rows.collect::<Result<_, _>>()?
        };
        rows.into_iter()
            .map(|p| {
                let a = approvals(conn, &p.id)?;
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
        let column = match dimension {
            "tier" => "tier",
            "promotion" => "promotion_id",
            _ => "cohort",
        };
        let mut stmt = self.conn().prepare_cached(&format!(
            "SELECT {column}, sum(earns), sum(points), sum(bonus_points), sum(spend_minor),
                    sum(new_members)
             FROM rrr_segments
             WHERE tenant_id = ?1 AND client_id = ?2
               AND (?3 IS NULL OR day >= ?3) AND (?4 IS NULL OR day <= ?4)
             GROUP BY {column} ORDER BY {column}"
        ))?;
        let rows = stmt.query_map(params![tenant.as_str(), client_id, from, to], |r| {
            Ok((r.get(0)?, segment_at(r, 1)?))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn check_data(
        &mut self,
        entry: &mut dyn FnMut(&str, &str, &str, i64, &str),
        earn: &mut dyn FnMut(&str, &str, &str, SegmentTally),
    ) -> Result<CheckData, LedgerError> {
        // One read transaction: the three reads see the same snapshot.
        let snapshot = self.conn().unchecked_transaction()?;
        let conn: &Connection = &snapshot;
        let mut stmt = conn.prepare(
            "SELECT tenant_id, client_id, type, points_delta, posted_at FROM rrr_entries",
        )?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let (t, c, ty, d, at): (String, String, String, i64, String) =
                (r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?);
            entry(&t, &c, &ty, d, &at);
        }
        drop(rows);
        let mut stmt = conn.prepare(
            "SELECT tenant_id, client_id, day, issued, redeemed, expired, reversed, adjusted,
                    transferred, d_available, d_escrow, d_pending
             FROM rrr_daily",
        )?;
        let daily = stmt
            .query_map([], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, tally_at(r, 3)?))
            })?
            .collect::<Result<_, _>>()?;
        let mut stmt = conn.prepare(
            "SELECT m.tenant_id, m.client_id, sum(a.available), sum(a.held), sum(a.pending)
             FROM rrr_members m JOIN credit_accounts a ON a.id = m.account_id
             GROUP BY m.tenant_id, m.client_id",
        )?;
        let balances = stmt
            .query_map([], |r| {
                Ok((r.get(0)?, r.get(1)?, [r.get(2)?, r.get(3)?, r.get(4)?]))
            })?
            .collect::<Result<_, _>>()?;
        let mut stmt = conn.prepare(
            "SELECT tenant_id, client_id, created_at, points, bonus_points, amount_minor
             FROM rrr_earns",
        )?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let (t, c, at): (String, String, String) = (r.get(0)?, r.get(1)?, r.get(2)?);
            let tally = SegmentTally {
                earns: 1,
                points: r.get(3)?,
                bonus_points: r.get(4)?,
                spend_minor: r.get(5)?,
                new_members: 0,
            };
            earn(&t, &c, &at, tally);
        }
        drop(rows);
        let mut stmt = conn.prepare(
            "SELECT tenant_id, client_id, day, sum(earns), sum(points), sum(bonus_points),
                    sum(spend_minor), sum(new_members)
             FROM rrr_segments GROUP BY tenant_id, client_id, day",
        )?;
        let segments = stmt
            .query_map([], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, segment_at(r, 3)?))
            })?
            .collect::<Result<_, _>>()?;
        let mut stmt = conn.prepare(
            "SELECT tenant_id, client_id, count(*) FROM rrr_members
             WHERE cohort IS NOT NULL GROUP BY tenant_id, client_id",
        )?;
        let cohorts = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<Result<_, _>>()?;
        Ok(CheckData {
            daily,
            balances,
            segments,
            cohorts,
        })
    }
}
