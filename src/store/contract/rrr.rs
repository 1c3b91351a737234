//! The RedRoomRewards repositories ([`RrrStore`] in units of work, [`RrrReads`] on
//! the readers): members and links, earns, quotes and orders, the member ledger and
//! the aggregates, promotions and their approvals, awards. Points are the tenant's
//! minor units (scale 0). A refused duplicate member, link, earn, order or approval
//! is an error the unit may go on from: the transaction stays usable on every
//! backend. (Intents, quotes and awards get fresh random ids from the dialect: a
//! duplicate of one is a failed statement, not an expected answer.)

use super::Fixture;
use crate::dialects::rrr::repo::{
    ApprovalRow, AwardRow, EarnRow, EarnStatus, EntryRow, IntentRow, IntentStatus, LinkRow,
    MemberRow, NewLink, OrderKind, OrderRow, PromotionRow, QuoteRow, RrrReads, RrrStore,
    SegmentTally, Tally,
};
use crate::dialects::rrr::time;
use crate::ledger::{
    Actor, Amount, EntryKind, Ledger, LedgerError, LedgerTx, Posting, TenantId, TenantSpec,
};

/// Registers RRR tenant `id` (points, lots kept, ceiling 1,000,000,000 points).
fn rrr_tenant(ledger: &Ledger, id: &str) -> TenantId {
    let tenant = TenantId::new(id).unwrap();
    ledger
        .ensure_tenant_blocking(TenantSpec {
            id: tenant.clone(),
            mode: "rrr".into(),
            scale: 0,
            ceiling: 1_000_000_000,
            lots: true,
        })
        .unwrap();
    tenant
}

/// The two tenants of a test: `rrr` and `other`.
fn tenants(ledger: &Ledger) -> (TenantId, TenantId) {
    (rrr_tenant(ledger, "rrr"), rrr_tenant(ledger, "other"))
}

fn reward() -> Posting {
    Posting::new(EntryKind::Reward, Actor::System)
}

fn points(n: i64) -> Amount {
    Amount::new(n).unwrap()
}

/// Opens the account of member `id` of `client` and records the member.
fn new_member(
    tx: &mut LedgerTx<'_>,
    tenant: &TenantId,
    id: &str,
    client: &str,
) -> Result<MemberRow, LedgerError> {
    let account = tx.open_account(tenant, id)?;
    let m = MemberRow {
        member_id: id.into(),
        client_id: client.into(),
        account,
        lifetime_spend_minor: 0,
        cohort: None,
    };
    let now = tx.now();
    tx.repo::<dyn RrrStore>()?.insert_member(tenant, &m, now)?;
    Ok(m)
}

fn link<'a>(user: &'a str, member: &'a str) -> NewLink<'a> {
    NewLink {
        client_id: "c1",
        client_user_id: user,
        member_id: member,
        link_type: "MEMBER",
        proof_method: "SIGNED_JWT",
        intent_id: "i1",
    }
}

/// Members belong to their tenant; their spend adds up and their cohort is the first
/// one given. Intents keep their state and failures. A user of a client and a member
/// have at most one active link each; a revoked link frees both.
pub fn members_and_links_are_one_to_one(open: fn() -> Fixture) {
    let f = open();
    let (t, other) = tenants(&f.ledger);
    let (tt, ot) = (t.clone(), other.clone());
    let (m1, revoked) = f
        .ledger
        .run_blocking(move |tx| {
            let (t, other) = (tt, ot);
            let now = tx.now();
            let m1 = new_member(tx, &t, "m1", "c1")?;
            let m2 = new_member(tx, &t, "m2", "c1")?;
            let s = tx.repo::<dyn RrrStore>()?;
            assert_eq!(s.member(&t, "m1")?, Some(m1.clone()));
            assert_eq!(s.member(&other, "m1")?, None);
            assert_eq!(s.member_by_account(&t, m2.account)?, Some(m2.clone()));
            assert_eq!(s.member_by_account(&other, m2.account)?, None);
            // The same member twice is refused; the unit goes on.
            assert!(s.insert_member(&t, &m1, now).is_err());

            s.add_spend(&t, "m1", 1_500, "2026-01")?;
            s.add_spend(&t, "m1", 500, "2026-02")?;
            let spent = s.member(&t, "m1")?.unwrap();
            assert_eq!(spent.lifetime_spend_minor, 2_000);
            assert_eq!(spent.cohort.as_deref(), Some("2026-01"));
            assert_eq!(s.member(&t, "m2")?.unwrap().lifetime_spend_minor, 0);

            let intent = IntentRow {
                id: "i1".into(),
                client_id: "c1".into(),
                client_user_id: "u1".into(),
                link_type: "MEMBER".into(),
                code_sha256: "ab".repeat(32),
                failures: 0,
                status: IntentStatus::Open,
                expires_at: time::plus_secs(now, 900),
            };
            s.insert_intent(&t, &intent, now)?;
            assert_eq!(s.intent(&t, "i1")?, Some(intent.clone()));
            assert_eq!(s.intent(&other, "i1")?, None);
            s.set_intent("i1", IntentStatus::Open, 3)?;
            assert_eq!(s.intent(&t, "i1")?.unwrap().failures, 3);
            s.set_intent("i1", IntentStatus::Used, 3)?;
            let used = s.intent(&t, "i1")?.unwrap();
            assert_eq!((used.status, used.failures), (IntentStatus::Used, 3));

            assert_eq!(s.link_of_user(&t, "c1", "u1")?, None);
            s.insert_link(&t, &link("u1", "m1"), now)?;
            let active = s.link_of_user(&t, "c1", "u1")?.unwrap();
            assert_eq!(
                active,
                LinkRow {
                    id: active.id,
                    client_id: "c1".into(),
                    client_user_id: "u1".into(),
                    member_id: "m1".into(),
                    link_type: "MEMBER".into(),
                    proof_method: "SIGNED_JWT".into(),
                    linked_at: now.into(),
                }
            );
            assert_eq!(s.link_of_member(&t, "m1")?, Some(active.clone()));
            assert_eq!(s.link_of_user(&t, "c2", "u1")?, None);
            assert_eq!(s.link_of_member(&other, "m1")?, None);
            // A second active link of the user, or of the member, is refused.
            assert!(s.insert_link(&t, &link("u1", "m2"), now).is_err());
            assert!(s.insert_link(&t, &link("u2", "m1"), now).is_err());
            assert_eq!(s.link_of_member(&t, "m2")?, None);
            s.insert_link(&t, &link("u2", "m2"), now)?;
            assert_eq!(s.link_of_member(&t, "m2")?.unwrap().client_user_id, "u2");

            s.revoke_link(active.id, "USER_REQUEST", now)?;
            assert_eq!(s.link_of_user(&t, "c1", "u1")?, None);
            assert_eq!(s.link_of_member(&t, "m1")?, None);
            Ok::<_, LedgerError>((m1, active.id))
        })
        .unwrap();

    // A refused link fails its unit, which keeps nothing.
    let tt = t.clone();
    let refused = f.ledger.run_blocking(move |tx| {
        let now = tx.now();
        let s = tx.repo::<dyn RrrStore>()?;
        s.add_spend(&tt, "m1", 1, "2026-03")?;
        s.insert_link(&tt, &link("u2", "m1"), now)
    });
    assert!(refused.is_err());

    // Revoked, the user and the member link again; the revoked link stays history.
    let tt = t.clone();
    f.ledger
        .run_blocking(move |tx| {
            let now = tx.now();
            tx.repo::<dyn RrrStore>()?
                .insert_link(&tt, &link("u1", "m1"), now)
        })
        .unwrap();
    let (member, relinked, none, elsewhere) = f
        .ledger
        .read_blocking(move |r| {
            let reads = r.repo::<dyn RrrReads>()?;
            Ok::<_, LedgerError>((
                reads.member(&t, "m1")?,
                reads.link_of_user(&t, "c1", "u1")?,
                reads.link_of_user(&t, "c1", "nobody")?,
                reads.member(&other, "m1")?,
            ))
        })
        .unwrap();
    assert_eq!(
        member,
        Some(MemberRow {
            lifetime_spend_minor: 2_000,
            cohort: Some("2026-01".into()),
            ..m1
        })
    );
    let relinked = relinked.unwrap();
    assert_eq!(relinked.member_id, "m1");
    assert_ne!(relinked.id, revoked);
    assert_eq!((none, elsewhere), (None, None));
    f.ledger.shutdown();
}

fn earn_row(uuid: &str, order: &str, line: &str, points: i64, now: &str) -> EarnRow {
    EarnRow {
        entry_uuid: uuid.into(),
        client_id: "c1".into(),
        member_id: "m1".into(),
        event_type: "PURCHASE".into(),
        order_id: order.into(),
        line_id: line.into(),
        points,
        bonus_points: 0,
        amount_minor: 0,
        tier: None,
        promotion_id: None,
        pending_id: None,
        core_entry_id: None,
        status: EarnStatus::Posted,
        metadata: None,
        fingerprint: format!("fp-{uuid}"),
        response: format!(r#"{{"ledger_entry_id":"{uuid}"}}"#),
        created_at: now.into(),
    }
}

/// An earn is found by its source, its id and its pending credit; a second earn of a
/// source (or of an id) is refused; its state changes keep the credit that posted it.
pub fn earns_are_recorded_once_per_source(open: fn() -> Fixture) {
    let f = open();
    let (t, other) = tenants(&f.ledger);
    let tt = t.clone();
    let (posted, pending) = f
        .ledger
        .run_blocking(move |tx| {
            let t = tt;
            let now = tx.now();
            let m = new_member(tx, &t, "m1", "c1")?;
            let credit = tx.credit(m.account, points(120), &reward())?;
            let posted = EarnRow {
                bonus_points: 20,
                amount_minor: 5_000,
                tier: Some("gold".into()),
                promotion_id: Some("p1".into()),
                core_entry_id: Some(credit.id),
                metadata: Some(r#"{"xcn_membership_tier":"gold"}"#.into()),
                ..earn_row("e1", "o1", "1", 120, now)
            };
            let until = time::plus_secs(now, 3_600);
            let (_, pending_id) =
                tx.credit_pending(m.account, points(50), &until, None, &reward())?;
            let pending = EarnRow {
                pending_id: Some(pending_id),
                status: EarnStatus::Pending,
                ..earn_row("e2", "o2", "1", 50, now)
            };
            let s = tx.repo::<dyn RrrStore>()?;
            let source = ("PURCHASE", "o1", "1");
            assert_eq!(s.earn_by_source(&t, "c1", source)?, None);
            s.insert_earn(&t, &posted)?;
            s.insert_earn(&t, &pending)?;
            assert_eq!(s.earn_by_source(&t, "c1", source)?, Some(posted.clone()));
            assert_eq!(s.earn(&t, "e1")?, Some(posted.clone()));
            assert_eq!(s.earn_by_source(&t, "c1", ("PURCHASE", "o1", "2"))?, None);
            assert_eq!(s.earn_by_source(&t, "c1", ("REFUND", "o1", "1"))?, None);
            assert_eq!(s.earn_by_source(&t, "c2", source)?, None);
            assert_eq!(s.earn(&other, "e1")?, None);
            assert_eq!(
                s.earn_by_pending(pending_id)?,
                Some((t.clone(), pending.clone()))
            );
            assert_eq!(s.earn_by_pending(pending_id + 1_000)?, None);

            // The same source with a new id, or the same id with a new source, is
            // refused; the unit goes on.
            assert!(s
                .insert_earn(&t, &earn_row("e3", "o1", "1", 7, now))
                .is_err());
            assert!(s
                .insert_earn(&t, &earn_row("e1", "o9", "1", 7, now))
                .is_err());
            assert_eq!(s.earn(&t, "e3")?, None);
            assert_eq!(s.earn_by_source(&t, "c1", ("PURCHASE", "o9", "1"))?, None);
            // Another line of the order is another source.
            s.insert_earn(&t, &earn_row("e4", "o1", "2", 7, now))?;
            assert_eq!(s.earn(&t, "e4")?.unwrap().line_id, "2");
            Ok::<_, LedgerError>((posted, pending))
        })
        .unwrap();

    // A refused earn fails its unit.
    let tt = t.clone();
    let refused = f.ledger.run_blocking(move |tx| {
        let now = tx.now();
        tx.repo::<dyn RrrStore>()?
            .insert_earn(&tt, &earn_row("e5", "o2", "1", 9, now))
    });
    assert!(refused.is_err());

    // The pending earn posts; the posted one is reversed (its credit is kept).
    let tt = t.clone();
    let pid = pending.pending_id.unwrap();
    let (after_post, after_reverse, credit) = f
        .ledger
        .run_blocking(move |tx| {
            let credit = tx.post_pending(pid, &reward())?;
            let s = tx.repo::<dyn RrrStore>()?;
            s.set_earn("e2", EarnStatus::Posted, Some(credit.id), (0, 0))?;
            s.set_earn("e1", EarnStatus::Reversed, None, (80, 40))?;
            Ok::<_, LedgerError>((s.earn(&tt, "e2")?, s.earn(&tt, "e1")?, credit.id))
        })
        .unwrap();
    assert_eq!(
        after_post,
        Some(EarnRow {
            status: EarnStatus::Posted,
            core_entry_id: Some(credit),
            ..pending
        })
    );
    assert_eq!(
        after_reverse,
        Some(EarnRow {
            status: EarnStatus::Reversed,
            ..posted.clone()
        })
    );

    // What `verify` reads: each earn once.
    let mut earns = f
        .ledger
        .read_blocking(|r| {
            let mut earns = Vec::new();
            r.repo::<dyn RrrReads>()?.check_data(
                &mut |_, _, _, _, _| {},
                &mut |tenant, client, at, s| {
                    earns.push((tenant.to_string(), client.to_string(), at.to_string(), s));
                },
            )?;
            Ok::<_, LedgerError>(earns)
        })
        .unwrap();
    earns.sort_by_key(|e| e.3.points);
    let at = &posted.created_at;
    let earn = |points: i64, bonus: i64, spend: i64| {
        (
            "rrr".to_string(),
            "c1".to_string(),
            at.clone(),
            SegmentTally {
                earns: 1,
                points,
                bonus_points: bonus,
                spend_minor: spend,
                new_members: 0,
            },
        )
    };
    assert_eq!(
        earns,
        vec![earn(7, 0, 0), earn(50, 0, 0), earn(120, 20, 5_000)]
    );
    f.ledger.shutdown();
}

fn quote_row(id: &str, kind: OrderKind, member: Option<&str>, points: i64, now: &str) -> QuoteRow {
    QuoteRow {
        id: id.into(),
        client_id: "c1".into(),
        kind,
        member_id: member.map(str::to_string),
        points,
        money_minor: points * 10,
        expires_at: time::plus_secs(now, 900),
        used_by: None,
    }
}

/// A quote is committed by one order; an order id is used once per kind; a committed
/// order is found by its client, kind and id, and is reversed in place.
pub fn quotes_are_committed_once(open: fn() -> Fixture) {
    let f = open();
    let (t, other) = tenants(&f.ledger);
    let tt = t.clone();
    let redemption = f
        .ledger
        .run_blocking(move |tx| {
            let (t, other) = (tt, other);
            let now = tx.now();
            let m = new_member(tx, &t, "m1", "c1")?;
            tx.credit(m.account, points(1_000), &reward())?;
            let q1 = quote_row("q1", OrderKind::Redemption, Some("m1"), 300, now);
            let q2 = quote_row("q2", OrderKind::Topup, None, 500, now);
            {
                let s = tx.repo::<dyn RrrStore>()?;
                s.insert_quote(&t, &q1, now)?;
                s.insert_quote(&t, &q2, now)?;
                assert_eq!(s.quote(&t, "q1")?, Some(q1.clone()));
                assert_eq!(s.quote(&t, "q2")?, Some(q2.clone()));
                assert_eq!(s.quote(&other, "q1")?, None);
            }
            let burned = tx.debit(m.account, points(300), &reward())?;
            let order = OrderRow {
                client_id: "c1".into(),
                kind: OrderKind::Redemption,
                client_order_id: "order-1".into(),
                quote_id: "q1".into(),
                member_id: "m1".into(),
                points: 300,
                money_minor: 3_000,
                core_entry_id: burned.id,
                reversed: false,
            };
            let s = tx.repo::<dyn RrrStore>()?;
            s.insert_order(&t, &order, now)?;
            assert_eq!(
                s.quote(&t, "q1")?.unwrap().used_by.as_deref(),
                Some("order-1")
            );
            let found = s.order(&t, "c1", OrderKind::Redemption, "order-1")?;
            assert_eq!(found, Some(order.clone()));
            assert_eq!(s.order(&t, "c1", OrderKind::Topup, "order-1")?, None);
            assert_eq!(s.order(&t, "c2", OrderKind::Redemption, "order-1")?, None);
            assert_eq!(
                s.order(&other, "c1", OrderKind::Redemption, "order-1")?,
                None
            );

            // The quote again (another order id), or the order id again (another
            // quote), is refused; the unit goes on and the other quote stays unused.
            let again = OrderRow {
                client_order_id: "order-2".into(),
                ..order.clone()
            };
            assert!(s.insert_order(&t, &again, now).is_err());
            let reused = OrderRow {
                quote_id: "q2".into(),
                ..order.clone()
            };
            assert!(s.insert_order(&t, &reused, now).is_err());
            assert_eq!(s.quote(&t, "q2")?.unwrap().used_by, None);
            assert_eq!(s.order(&t, "c1", OrderKind::Redemption, "order-2")?, None);
            Ok::<_, LedgerError>(order)
        })
        .unwrap();

    // A top-up may carry the redemption's order id (kinds are apart); the redemption
    // is reversed once.
    let tt = t.clone();
    let red = redemption.clone();
    let (topup, reversed) = f
        .ledger
        .run_blocking(move |tx| {
            let t = tt;
            let now = tx.now();
            let m = tx.repo::<dyn RrrStore>()?.member(&t, "m1")?.unwrap();
            let issued = tx.credit(m.account, points(500), &reward())?;
            let topup = OrderRow {
                kind: OrderKind::Topup,
                quote_id: "q2".into(),
                points: 500,
                money_minor: 5_000,
                core_entry_id: issued.id,
                ..red.clone()
            };
            let s = tx.repo::<dyn RrrStore>()?;
            s.insert_order(&t, &topup, now)?;
            assert_eq!(
                s.quote(&t, "q2")?.unwrap().used_by.as_deref(),
                Some("order-1")
            );
            assert!(
                !s.order(&t, "c1", OrderKind::Redemption, "order-1")?
                    .unwrap()
                    .reversed
            );
            s.reverse_order(&t, &red, "CUSTOMER_CANCELLED", now)?;
            Ok::<_, LedgerError>((
                s.order(&t, "c1", OrderKind::Topup, "order-1")?,
                s.order(&t, "c1", OrderKind::Redemption, "order-1")?,
            ))
        })
        .unwrap();
    assert_eq!(topup.map(|o| (o.points, o.reversed)), Some((500, false)));
    assert_eq!(
        reversed,
        Some(OrderRow {
            reversed: true,
            ..redemption
        })
    );

    // A refused order fails its unit, and leaves its quote unused.
    let tt = t.clone();
    let refused = f.ledger.run_blocking(move |tx| {
        let now = tx.now();
        let s = tx.repo::<dyn RrrStore>()?;
        s.insert_quote(
            &tt,
            &quote_row("q3", OrderKind::Redemption, Some("m1"), 10, now),
            now,
        )?;
        let order = s
            .order(&tt, "c1", OrderKind::Redemption, "order-1")?
            .unwrap();
        s.insert_order(
            &tt,
            &OrderRow {
                quote_id: "q3".into(),
                ..order
            },
            now,
        )
    });
    assert!(refused.is_err());
    let q3 = f
        .ledger
        .run_blocking(move |tx| tx.repo::<dyn RrrStore>()?.quote(&t, "q3"))
        .unwrap();
    assert_eq!(q3, None);
    f.ledger.shutdown();
}

fn entry_row(m: &MemberRow, ty: &str, delta: i64, after: i64, at: &str) -> EntryRow {
    EntryRow {
        id: 0,
        entry_uuid: format!("{ty}-{at}"),
        account: m.account,
        member_id: m.member_id.clone(),
        client_id: m.client_id.clone(),
        entry_type: ty.into(),
        points_delta: delta,
        balance_after: after,
        reason_code: format!("R-{ty}"),
        source_ref: (ty == "EARN").then(|| "o1".to_string()),
        actor_type: "SERVICE".into(),
        actor_id: m.client_id.clone(),
        created_at: at.into(),
        posted_at: at.into(),
        core_entry_id: None,
        metadata: None,
    }
}

fn tally(issued: i64, redeemed: i64, adjusted: i64, d_available: i64) -> Tally {
    Tally {
        issued,
        redeemed,
        adjusted,
        d_available,
        ..Tally::default()
    }
}

fn seg(earns: i64, points: i64, bonus: i64, spend: i64, new_members: i64) -> SegmentTally {
    SegmentTally {
        earns,
        points,
        bonus_points: bonus,
        spend_minor: spend,
        new_members,
    }
}

/// The member ledger is paged newest first by id, filtered by type and by a window
/// of `created_at`; the daily aggregates and the segments add up in place and are
/// summed over days; `check_data` reads them all with the members' balances.
pub fn the_member_ledger_pages_and_the_aggregates_add_up(open: fn() -> Fixture) {
    let f = open();
    let (t, other) = tenants(&f.ledger);
    let tt = t.clone();
    let (m, rows) = f
        .ledger
        .run_blocking(move |tx| {
            let t = tt;
            let m = new_member(tx, &t, "m1", "c1")?;
            let m2 = new_member(tx, &t, "m2", "c2")?;
            let e = tx.credit(m.account, points(100), &reward())?;
            tx.debit(m.account, points(30), &reward())?;
            tx.credit(m2.account, points(9), &reward())?;
            let s = tx.repo::<dyn RrrStore>()?;
            let mut rows = vec![
                EntryRow {
                    core_entry_id: Some(e.id),
                    metadata: Some(r#"{"ticket":"T-1"}"#.into()),
                    ..entry_row(&m, "EARN", 100, 100, "2026-01-01T10:00:00Z")
                },
                entry_row(&m, "REDEEM", -30, 70, "2026-01-02T10:00:00Z"),
                entry_row(&m, "ADJUST", 5, 75, "2026-01-03T10:00:00Z"),
                entry_row(&m, "EXPIRE", -5, 70, "2026-01-04T10:00:00Z"),
            ];
            let mut last = 0;
            for row in &mut rows {
                row.id = s.insert_entry(&t, row)?;
                assert!(row.id > last, "ids grow");
                last = row.id;
                // The ledger shows no metadata.
                row.metadata = None;
            }
            s.insert_entry(&t, &entry_row(&m2, "EARN", 9, 9, "2026-01-02T00:00:00Z"))?;

            s.add_spend(&t, "m1", 5_000, "2026-01")?;
            s.add_tally(&t, "c1", "2026-01-01", &tally(100, 0, 0, 100))?;
            s.add_tally(&t, "c1", "2026-01-01", &tally(20, 30, 0, -10))?;
            s.add_tally(&t, "c1", "2026-01-02", &tally(0, -5, 5, 10))?;
            s.add_tally(
                &t,
                "c1",
                "2026-01-03",
                &Tally {
                    expired: 5,
                    reversed: 1,
                    transferred: 2,
                    d_available: -30,
                    d_escrow: 3,
                    d_pending: 4,
                    ..Tally::default()
                },
            )?;
            s.add_tally(&t, "c2", "2026-01-01", &tally(9, 0, 0, 9))?;

            let day = "2026-01-01";
            s.add_segment(
                &t,
                "c1",
                day,
                ("gold", "", "2026-01"),
                &seg(1, 100, 0, 5_000, 1),
            )?;
            s.add_segment(
                &t,
                "c1",
                day,
                ("gold", "", "2026-01"),
                &seg(1, 50, 10, 2_000, 0),
            )?;
            s.add_segment(&t, "c1", day, ("", "p1", "2026-01"), &seg(1, 20, 5, 700, 0))?;
            let (d2, d3) = ("2026-01-02", "2026-01-03");
            s.add_segment(
                &t,
                "c1",
                d2,
                ("silver", "p1", "2025-12"),
                &seg(2, 8, 0, 90, 1),
            )?;
            s.add_segment(&t, "c1", d3, ("gold", "p1", "2026-01"), &seg(1, 1, 0, 1, 0))?;
            s.add_segment(&t, "c2", day, ("gold", "", "2026-01"), &seg(1, 9, 0, 9, 1))?;
            Ok::<_, LedgerError>((m, rows))
        })
        .unwrap();
    let newest_first: Vec<EntryRow> = rows.iter().rev().cloned().collect();
    let a = m.account;
    let earn_adjust = vec!["EARN".to_string(), "ADJUST".to_string()];
    let (all, first, second, typed, window, none) = f
        .ledger
        .read_blocking(move |r| {
            let reads = r.repo::<dyn RrrReads>()?;
            let all = reads.entries(a, None, &[], (None, None), 10)?;
            let first = reads.entries(a, None, &[], (None, None), 2)?;
            let cursor = first.last().map(|e| e.id);
            let second = reads.entries(a, cursor, &[], (None, None), 2)?;
            let typed = reads.entries(a, None, &earn_adjust, (None, None), 10)?;
            let window = (Some("2026-01-02T00:00:00Z"), Some("2026-01-04T10:00:00Z"));
            let window = reads.entries(a, None, &[], window, 10)?;
            let none = reads.entries(a, None, &["TRANSFER_IN".to_string()], (None, None), 10)?;
            Ok::<_, LedgerError>((all, first, second, typed, window, none))
        })
        .unwrap();
    assert_eq!(all, newest_first);
    assert_eq!(first, newest_first[..2].to_vec());
    assert_eq!(second, newest_first[2..].to_vec());
    assert_eq!(typed, vec![rows[2].clone(), rows[0].clone()]);
    assert_eq!(window, vec![rows[2].clone(), rows[1].clone()]);
    assert!(none.is_empty());

    let (tt, ot) = (t.clone(), other.clone());
    let (sums, segments) = f
        .ledger
        .read_blocking(move |r| {
            let (t, other) = (&tt, &ot);
            let reads = r.repo::<dyn RrrReads>()?;
            let sums = (
                reads.tally(t, "c1", None, None)?,
                reads.tally(t, "c1", Some("2026-01-02"), None)?,
                reads.tally(t, "c1", None, Some("2026-01-01"))?,
                reads.tally(t, "c2", None, None)?,
                reads.tally(other, "c1", None, None)?,
            );
            let segments = (
                reads.segments(t, "c1", "tier", None, None)?,
                reads.segments(t, "c1", "promotion", None, None)?,
                reads.segments(t, "c1", "cohort", None, None)?,
                reads.segments(t, "c1", "tier", Some("2026-01-02"), Some("2026-01-02"))?,
                reads.segments(other, "c1", "tier", None, None)?,
            );
            Ok::<_, LedgerError>((sums, segments))
        })
        .unwrap();
    let day3 = Tally {
        expired: 5,
        reversed: 1,
        transferred: 2,
        d_available: -30,
        d_escrow: 3,
        d_pending: 4,
        ..Tally::default()
    };
    let (all_days, from_day2, to_day1, c2, elsewhere) = sums;
    assert_eq!(all_days, tally(120, 25, 5, 100).plus(day3));
    assert_eq!(from_day2, tally(0, -5, 5, 10).plus(day3));
    assert_eq!(to_day1, tally(120, 30, 0, 90));
    assert_eq!(c2, tally(9, 0, 0, 9));
    assert_eq!(elsewhere, Tally::default());

    let named = |v: &[(&str, SegmentTally)]| -> Vec<(String, SegmentTally)> {
        v.iter().map(|(k, s)| (k.to_string(), *s)).collect()
    };
    let (tiers, promotions, cohorts, day2_tiers, none) = segments;
    assert_eq!(
        tiers,
        named(&[
            ("", seg(1, 20, 5, 700, 0)),
            ("gold", seg(3, 151, 10, 7_001, 1)),
            ("silver", seg(2, 8, 0, 90, 1)),
        ])
    );
    assert_eq!(
        promotions,
        named(&[
            ("", seg(2, 150, 10, 7_000, 1)),
            ("p1", seg(4, 29, 5, 791, 1)),
        ])
    );
    assert_eq!(
        cohorts,
        named(&[
            ("2025-12", seg(2, 8, 0, 90, 1)),
            ("2026-01", seg(4, 171, 15, 7_701, 1)),
        ])
    );
    assert_eq!(day2_tiers, named(&[("silver", seg(2, 8, 0, 90, 1))]));
    assert!(none.is_empty());

    // What `verify` reads, in one snapshot.
    let (mut entries, data) = f
        .ledger
        .read_blocking(|r| {
            let mut entries = Vec::new();
            let data = r.repo::<dyn RrrReads>()?.check_data(
                &mut |tenant, client, ty, delta, at| {
                    entries.push((
                        tenant.to_string(),
                        client.to_string(),
                        ty.to_string(),
                        delta,
                        at.to_string(),
                    ));
                },
                &mut |_, _, _, _| {},
            )?;
            Ok::<_, LedgerError>((entries, data))
        })
        .unwrap();
    entries.sort();
    let row = |client: &str, ty: &str, delta: i64, at: &str| {
        (
            "rrr".to_string(),
            client.to_string(),
            ty.to_string(),
            delta,
            at.to_string(),
        )
    };
    assert_eq!(
        entries,
        vec![
            row("c1", "ADJUST", 5, "2026-01-03T10:00:00Z"),
            row("c1", "EARN", 100, "2026-01-01T10:00:00Z"),
            row("c1", "EXPIRE", -5, "2026-01-04T10:00:00Z"),
            row("c1", "REDEEM", -30, "2026-01-02T10:00:00Z"),
            row("c2", "EARN", 9, "2026-01-02T00:00:00Z"),
        ]
    );
    let key = |client: &str, day: &str| ("rrr".to_string(), client.to_string(), day.to_string());
    let mut daily = data.daily;
    daily.sort_by(|a, b| (&a.0, &a.1, &a.2).cmp(&(&b.0, &b.1, &b.2)));
    let daily: Vec<_> = daily
        .into_iter()
        .map(|(t, c, d, tally)| ((t, c, d), tally))
        .collect();
    assert_eq!(
        daily,
        vec![
            (key("c1", "2026-01-01"), tally(120, 30, 0, 90)),
            (key("c1", "2026-01-02"), tally(0, -5, 5, 10)),
            (key("c1", "2026-01-03"), day3),
            (key("c2", "2026-01-01"), tally(9, 0, 0, 9)),
        ]
    );
    let mut balances = data.balances;
    balances.sort();
    assert_eq!(
        balances,
        vec![
            ("rrr".to_string(), "c1".to_string(), [70, 0, 0]),
            ("rrr".to_string(), "c2".to_string(), [9, 0, 0]),
        ]
    );
    let mut segments = data.segments;
    segments.sort_by(|a, b| (&a.0, &a.1, &a.2).cmp(&(&b.0, &b.1, &b.2)));
    let segments: Vec<_> = segments
        .into_iter()
        .map(|(t, c, d, s)| ((t, c, d), s))
        .collect();
    assert_eq!(
        segments,
        vec![
            (key("c1", "2026-01-01"), seg(3, 170, 15, 7_700, 1)),
            (key("c1", "2026-01-02"), seg(2, 8, 0, 90, 1)),
            (key("c1", "2026-01-03"), seg(1, 1, 0, 1, 0)),
            (key("c2", "2026-01-01"), seg(1, 9, 0, 9, 1)),
        ]
    );
    // Only m1 has earned (has a cohort).
    assert_eq!(data.cohorts, vec![("rrr".to_string(), "c1".to_string(), 1)]);
    f.ledger.shutdown();
}

fn promotion_row(id: &str, status: &str, multiplier_bp: i64, window: (&str, &str)) -> PromotionRow {
    PromotionRow {
        id: id.into(),
        client_id: "c1".into(),
        name: format!("promotion {id}"),
        description: None,
        starts_at: window.0.into(),
        ends_at: window.1.into(),
        tiers: Vec::new(),
        min_lifetime_spend_minor: 0,
        multiplier_bp,
        cap_points: None,
        expiry_days: None,
        status: status.into(),
        // Promotion pN was created at second N.
        created_at: format!("2026-01-01T00:00:0{}Z", &id[1..]),
        updated_at: "2026-01-01T00:00:00Z".into(),
    }
}

fn approval(actor_type: &str, actor_id: &str) -> ApprovalRow {
    ApprovalRow {
        actor_type: actor_type.into(),
        actor_id: actor_id.into(),
        signature_method: "WEBAUTHN".into(),
        attestation_sha256: "cd".repeat(32),
        // One time for all: they stay in the order given.
        approved_at: "2026-01-02T00:00:00Z".into(),
    }
}

/// A promotion is written whole and read back; its approvals are appended in order,
/// once per actor; the live ones are the ACTIVE ones of the client now, best first;
/// those past their end are listed for the scheduler; a member's bonus adds up.
pub fn promotions_take_one_approval_per_actor(open: fn() -> Fixture) {
    let f = open();
    let (t, other) = tenants(&f.ledger);
    let (tt, ot) = (t.clone(), other.clone());
    let approved = f
        .ledger
        .run_blocking(move |tx| {
            let (t, other) = (tt, ot);
            let now = tx.now();
            let (past, soon, later) = (
                "2000-01-01T00:00:00Z",
                time::plus_secs(now, 3_600),
                time::plus_secs(now, 86_400),
            );
            let s = tx.repo::<dyn RrrStore>()?;
            let draft = PromotionRow {
                description: Some("double points".into()),
                tiers: vec!["gold".into(), "vip".into()],
                min_lifetime_spend_minor: 1_000,
                cap_points: Some(50),
                expiry_days: Some(30),
                created_at: "2026-01-01T00:00:01Z".into(),
                ..promotion_row("p1", "DRAFT", 15_000, (past, &later))
            };
            s.put_promotion(&t, &draft)?;
            assert_eq!(s.promotion(&t, "p1")?, Some(draft.clone()));
            assert_eq!(s.promotion(&other, "p1")?, None);
            // Written whole again (its creation time is kept).
            let mut p1 = PromotionRow {
                name: "Spring".into(),
                description: None,
                tiers: Vec::new(),
                status: "PENDING_APPROVAL".into(),
                updated_at: now.into(),
                ..draft.clone()
            };
            s.put_promotion(
                &t,
                &PromotionRow {
                    created_at: now.into(),
                    ..p1.clone()
                },
            )?;
            assert_eq!(s.promotion(&t, "p1")?, Some(p1.clone()));

            assert!(s.approvals("p1")?.is_empty());
            let approvals = vec![
                approval("CLIENT_ADMIN", "bb"),
                approval("CLIENT_ADMIN", "aa"),
                approval("RRR_ADMIN", "aa"),
            ];
            for a in &approvals {
                s.insert_approval("p1", a)?;
            }
            // The same actor twice is refused; the unit goes on.
            assert!(s
                .insert_approval("p1", &approval("CLIENT_ADMIN", "aa"))
                .is_err());
            assert_eq!(s.approvals("p1")?, approvals);
            p1.status = "ACTIVE".into();
            s.put_promotion(&t, &p1)?;

            let window = (past, later.as_str());
            let p2 = promotion_row("p2", "ACTIVE", 20_000, window);
            let p3 = promotion_row("p3", "ACTIVE", 30_000, (&soon, &later));
            let p4 = promotion_row("p4", "PAUSED", 30_000, window);
            let p5 = promotion_row("p5", "ACTIVE", 30_000, (past, now));
            let p6 = PromotionRow {
                client_id: "c2".into(),
                ..promotion_row("p6", "ACTIVE", 40_000, window)
            };
            let p7 = promotion_row("p7", "PAUSED", 12_000, (past, "2001-01-01T00:00:00Z"));
            let p8 = promotion_row("p8", "ENDED", 12_000, (past, "2000-06-01T00:00:00Z"));
            for p in [&p2, &p3, &p4, &p5, &p6, &p7, &p8] {
                s.put_promotion(&t, p)?;
            }
            let live = s.live_promotions(&t, "c1", now)?;
            assert_eq!(live, vec![p2.clone(), p1.clone()]);
            assert_eq!(s.live_promotions(&t, "c2", now)?, vec![p6.clone()]);
            assert!(s.live_promotions(&other, "c1", now)?.is_empty());
            assert_eq!(
                s.promotions_past_end(&t, now, 10)?,
                vec![p7.clone(), p5.clone()]
            );
            assert_eq!(s.promotions_past_end(&t, now, 1)?, vec![p7.clone()]);
            assert!(s.promotions_past_end(&other, now, 10)?.is_empty());

            assert_eq!(s.bonus_given("p1", "m1")?, 0);
            s.add_bonus("p1", "m1", 20)?;
            s.add_bonus("p1", "m1", 15)?;
            s.add_bonus("p2", "m1", 4)?;
            assert_eq!(s.bonus_given("p1", "m1")?, 35);
            assert_eq!(s.bonus_given("p1", "m2")?, 0);
            assert_eq!(s.bonus_given("p2", "m1")?, 4);
            Ok::<_, LedgerError>((p1, approvals, [p2, p3, p4, p5, p7, p8]))
        })
        .unwrap();
    let (p1, approvals, [p2, p3, p4, p5, p7, p8]) = approved;

    // A multiplier under 1 and an end before the start are refused, each failing its
    // unit.
    let bad = [
        promotion_row(
            "p9",
            "DRAFT",
            9_999,
            ("2026-01-01T00:00:00Z", "2026-02-01T00:00:00Z"),
        ),
        promotion_row(
            "p9",
            "DRAFT",
            10_000,
            ("2026-02-01T00:00:00Z", "2026-01-01T00:00:00Z"),
        ),
    ];
    for p in bad {
        let tt = t.clone();
        let refused = f
            .ledger
            .run_blocking(move |tx| tx.repo::<dyn RrrStore>()?.put_promotion(&tt, &p));
        assert!(refused.is_err());
    }

    let (one, missing, all, paused, none) = f
        .ledger
        .read_blocking(move |r| {
            let reads = r.repo::<dyn RrrReads>()?;
            Ok::<_, LedgerError>((
                reads.promotion(&t, "p1")?,
                reads.promotion(&other, "p1")?,
                reads.promotions(&t, "c1", None)?,
                reads.promotions(&t, "c1", Some("PAUSED"))?,
                reads.promotions(&t, "c3", None)?,
            ))
        })
        .unwrap();
    assert_eq!(one, Some((p1.clone(), approvals.clone())));
    assert_eq!(missing, None);
    // Newest first (created_at), then by id.
    let bare = |p: &PromotionRow| (p.clone(), Vec::new());
    assert_eq!(
        all,
        vec![
            bare(&p8),
            bare(&p7),
            bare(&p5),
            bare(&p4),
            bare(&p3),
            bare(&p2),
            (p1, approvals),
        ]
    );
    assert_eq!(paused, vec![bare(&p7), bare(&p4)]);
    assert!(none.is_empty());
    f.ledger.shutdown();
}

fn award_row(
    id: &str,
    model: &str,
    points: i64,
    status: &str,
    day: &str,
    expires_at: &str,
) -> AwardRow {
    AwardRow {
        intent_id: id.into(),
        client_id: "c1".into(),
        model_member_id: model.into(),
        viewer_member_id: "viewer".into(),
        client_model_id: format!("client-{model}"),
        client_viewer_user_id: "client-viewer".into(),
        points,
        day: day.into(),
        status: status.into(),
        reason: (status == "INELIGIBLE").then(|| "DAILY_CAP_REACHED".to_string()),
        in_entry_id: None,
        expires_at: expires_at.into(),
    }
}

/// A model's awards of a day count toward its cap while committed, or open and not
/// expired; an award keeps the viewer's credit once committed.
pub fn awards_count_against_the_models_daily_cap(open: fn() -> Fixture) {
    let f = open();
    let (t, other) = tenants(&f.ledger);
    let tt = t.clone();
    let (a1, credit, today) = f
        .ledger
        .run_blocking(move |tx| {
            let (t, other) = (tt, other);
            let now = tx.now();
            let today = time::day(now);
            let later = time::plus_secs(now, 600);
            let past = "2000-01-01T00:00:00Z";
            new_member(tx, &t, "model", "c1")?;
            let viewer = new_member(tx, &t, "viewer", "c1")?;
            let credit = tx.credit(viewer.account, points(100), &reward())?;
            let s = tx.repo::<dyn RrrStore>()?;
            let a1 = award_row("a1", "model", 100, "OPEN", &today, &later);
            let rows = [
                a1.clone(),
                award_row("a2", "model", 50, "OPEN", &today, past),
                award_row("a3", "model", 500, "INELIGIBLE", &today, &later),
                award_row("a4", "model", 30, "COMMITTED", &today, past),
                award_row("a5", "model", 70, "EXPIRED", &today, past),
                award_row("a6", "model", 40, "OPEN", "2000-01-01", &later),
                award_row("a7", "viewer", 60, "OPEN", &today, &later),
            ];
            for a in &rows {
                s.insert_award(&t, a, now)?;
            }
            assert_eq!(s.award(&t, "a1")?, Some(a1.clone()));
            assert_eq!(s.award(&t, "a3")?, Some(rows[2].clone()));
            assert_eq!(s.award(&other, "a1")?, None);
            assert_eq!(s.awarded_on(&t, "model", (&today, now))?, 130);
            assert_eq!(s.awarded_on(&t, "model", ("2000-01-01", now))?, 40);
            assert_eq!(s.awarded_on(&t, "viewer", (&today, now))?, 60);
            assert_eq!(s.awarded_on(&other, "model", (&today, now))?, 0);
            // Once the open one expires, only the committed one counts.
            assert_eq!(s.awarded_on(&t, "model", (&today, &later))?, 30);
            Ok::<_, LedgerError>((a1, credit.id, today))
        })
        .unwrap();

    let tt = t.clone();
    let (committed, reversed, left) = f
        .ledger
        .run_blocking(move |tx| {
            let now = tx.now();
            let s = tx.repo::<dyn RrrStore>()?;
            s.set_award("a1", "COMMITTED", Some(credit))?;
            let committed = s.award(&tt, "a1")?;
            s.set_award("a1", "REVERSED", None)?;
            let reversed = s.award(&tt, "a1")?;
            Ok::<_, LedgerError>((
                committed,
                reversed,
                s.awarded_on(&tt, "model", (&today, now))?,
            ))
        })
        .unwrap();
    assert_eq!(
        committed,
        Some(AwardRow {
            status: "COMMITTED".into(),
            in_entry_id: Some(credit),
            ..a1.clone()
        })
    );
    // The reversal keeps the viewer's credit it took back from.
    assert_eq!(
        reversed,
        Some(AwardRow {
            status: "REVERSED".into(),
            in_entry_id: Some(credit),
            ..a1
        })
    );
    assert_eq!(left, 30);

    // The same intent twice is refused.
    let refused = f.ledger.run_blocking(move |tx| {
        let now = tx.now();
        let a = award_row("a4", "model", 1, "OPEN", &time::day(now), now);
        tx.repo::<dyn RrrStore>()?.insert_award(&t, &a, now)
    });
    assert!(refused.is_err());
    f.ledger.shutdown();
}
