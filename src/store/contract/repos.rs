//! The modules' repositories: template purchases, campaigns and referrals, promo codes
//! and requests, the peer directory, payments, and the tenant registry of the core.

use super::core::tenant;
use super::Fixture;
use crate::dialects::goop2::repo::{
    NewCampaign, PromotionReads, Promotions, PurchaseReads, Purchases,
};
use crate::dialects::roochip::repo::{CodeRequest, NewCode, PromoCodeReads, PromoCodes};
use crate::ledger::{Actor, Amount, EntryKind, LedgerError, Posting, TenantId, TenantSpec};
use crate::p2p::directory::{Directory, DirectoryReads, StoredRegistration};
use crate::payments::repo::{
    Acknowledgement, Payment, PaymentFilter, PaymentReads, PaymentStatus, Payments,
};
use crate::payments::{Offer, Provider};

/// Purchases: one live purchase per template, revoked by a refund, read back in order.
pub fn template_purchases(open: fn() -> Fixture) {
    let f = open();
    let t = tenant(&f.ledger);
    let account = f
        .ledger
        .run_blocking(move |tx| {
            let a = tx.open_account(&t, "peer")?;
            let e = tx.credit(
                a,
                Amount::new(500).unwrap(),
                &Posting::new(EntryKind::Grant, Actor::Admin),
            )?;
            let now = tx.now();
            let repo = tx.repo::<dyn Purchases>()?;
            assert_eq!(repo.owned(a, "poker")?, None);
            repo.insert_purchase(a, "poker", 100, e.id, now)?;
            repo.insert_purchase(a, "studio", 50, e.id, now)?;
            let poker = repo.owned(a, "poker")?.unwrap();
            assert_eq!((poker.template.as_str(), poker.price_paid), ("poker", 100));
            repo.revoke_purchase(poker.id, Some(e.id), now)?;
            assert_eq!(repo.owned(a, "poker")?, None);
            repo.insert_purchase(a, "poker", 90, e.id, now)?;
            Ok::<_, LedgerError>((a, e.id))
        })
        .unwrap();
    let (account, entry) = account;
    // A second live purchase of a template is refused, and fails its unit (on
    // PostgreSQL a failed statement ends what the transaction can do).
    let twice = f.ledger.run_blocking(move |tx| {
        let now = tx.now();
        tx.repo::<dyn Purchases>()?
            .insert_purchase(account, "poker", 100, entry, now)
    });
    assert!(twice.is_err());
    let (owned, owns, not) = f
        .ledger
        .read_blocking(|r| {
            let repo = r.repo::<dyn PurchaseReads>()?;
            Ok::<_, LedgerError>((
                repo.owned_templates(account)?,
                repo.owns(account, "studio")?,
                repo.owns(account, "chess")?,
            ))
        })
        .unwrap();
    let names: Vec<(&str, i64)> = owned
        .iter()
        .map(|o| (o.template.as_str(), o.price_paid))
        .collect();
    assert_eq!(names, vec![("studio", 50), ("poker", 90)]);
    assert!(owns && !not);
    f.ledger.shutdown();
}

/// Promo codes: one request per user, codes by digest within their tenant, one
/// redemption per user.
pub fn promo_codes_and_requests(open: fn() -> Fixture) {
    let f = open();
    let t = TenantId::new("roo").unwrap();
    let other = TenantId::new("other").unwrap();
    for id in [&t, &other] {
        f.ledger
            .ensure_tenant_blocking(TenantSpec {
                id: id.clone(),
                mode: "roochip".into(),
                scale: 2,
                ceiling: 1_000_000,
                lots: false,
            })
            .unwrap();
    }
    let (tt, ot) = (t.clone(), other.clone());
    f.ledger
        .run_blocking(move |tx| {
            let a = tx.open_account(&tt, "u1")?;
            let e = tx.credit(
                a,
                Amount::new(500).unwrap(),
                &Posting::new(EntryKind::Adjustment, Actor::Admin),
            )?;
            let now = tx.now();
            let codes = tx.repo::<dyn PromoCodes>()?;
            let request = |id: &str, user: &str, status: &str| CodeRequest {
                id: id.into(),
                external_user_id: user.into(),
                status: status.into(),
                created_at: now.into(),
            };
            codes.insert_request(&tt, &request("r1", "u1", "pending"), None)?;
            codes.insert_request(&tt, &request("r2", "u2", "fulfilled"), Some(now))?;
            assert!(codes
                .insert_request(&tt, &request("r3", "u1", "pending"), None)
                .is_err());
            assert_eq!(codes.request_of_user(&tt, "u1")?.unwrap().id, "r1");
            assert_eq!(codes.request_of_user(&ot, "u1")?, None);
            assert_eq!(codes.request(&tt, "r2")?.unwrap().status, "fulfilled");
            assert_eq!(codes.request(&ot, "r2")?, None);
            codes.resolve_request("r1", "rejected", now)?;
            assert_eq!(codes.request(&tt, "r1")?.unwrap().status, "rejected");

            assert!(!codes.user_has_code(&tt, "u1")?);
            assert!(!codes.digest_taken("d1")?);
            codes.insert_code(&NewCode {
                digest: "d1",
                tenant: &tt,
                user: "u1",
                credits: 500,
                request_id: "r1",
                created_at: now,
            })?;
            assert!(codes.user_has_code(&tt, "u1")? && codes.digest_taken("d1")?);
            assert_eq!(codes.code(&ot, "d1")?, None);
            let code = codes.code(&tt, "d1")?.unwrap();
            assert_eq!((code.owner.as_str(), code.credits), ("u1", 500));
            assert_eq!(code.redeemed_at, None);
            assert!(!codes.user_redeemed(&tt, "u1")?);
            codes.mark_redeemed("d1", e.id, now)?;
            assert!(codes.user_redeemed(&tt, "u1")?);
            assert!(codes.code(&tt, "d1")?.unwrap().redeemed_at.is_some());
            Ok::<_, LedgerError>(())
        })
        .unwrap();
    let (all, rejected, page) = f
        .ledger
        .read_blocking(move |r| {
            let reads = r.repo::<dyn PromoCodeReads>()?;
            Ok::<_, LedgerError>((
                reads.code_requests(&t, None, 10, 0)?,
                reads.code_requests(&t, Some("rejected"), 10, 0)?,
                reads.code_requests(&t, None, 1, 1)?,
            ))
        })
        .unwrap();
    assert_eq!(all.0, 2);
    assert_eq!(rejected.0, 1);
    assert_eq!(rejected.1[0].id, "r1");
    assert_eq!((page.0, page.1.len(), page.1[0].id.as_str()), (2, 1, "r2"));
    f.ledger.shutdown();
}

/// The directory: one registration per peer and namespace, replaced, removed, and
/// read back while it has not expired.
pub fn peer_directory(open: fn() -> Fixture) {
    const NODE: &str = "12D3KooWNode";
    let f = open();
    let reg = |peer: &str, ns: &str, expires: u64| StoredRegistration {
        peer: peer.into(),
        namespace: ns.into(),
        addrs: vec!["/ip4/127.0.0.1/tcp/4001".into()],
        ttl_secs: 60,
        record: vec![1, 2, 3],
        domain: "standard".into(),
        expires_at_unix: expires,
    };
    let (a1, a2, b1) = (
        reg("a", "goop2", 1_000),
        reg("a", "goop2", 2_000),
        reg("b", "x", 500),
    );
    f.ledger
        .run_blocking(move |tx| {
            let now = tx.now();
            let dir = tx.repo::<dyn Directory>()?;
            dir.upsert(NODE, &a1, now)?;
            dir.upsert(NODE, &b1, now)?;
            dir.upsert(NODE, &a2, now)?;
            dir.upsert(NODE, &reg("c", "goop2", 3_000), now)?;
            dir.remove(NODE, "c", "goop2")?;
            dir.remove(NODE, "nobody", "goop2")?;
            Ok::<_, LedgerError>(())
        })
        .unwrap();
    let (all, later) = f
        .ledger
        .read_blocking(|r| {
            let dir = r.repo::<dyn DirectoryReads>()?;
            Ok::<_, LedgerError>((dir.active(NODE, 0)?, dir.active(NODE, 999)?))
        })
        .unwrap();
    assert_eq!(all.len(), 2);
    let a = all.iter().find(|r| r.peer == "a").unwrap();
    assert_eq!(
        (a.expires_at_unix, a.record.as_slice()),
        (2_000, &[1u8, 2, 3][..])
    );
    assert_eq!(a.addrs, vec!["/ip4/127.0.0.1/tcp/4001".to_string()]);
    assert_eq!(later.len(), 1, "b expired at 500");
    f.ledger.shutdown();
}

/// Tenants: registered once, their ceiling changes (not below a balance), their scale,
/// mode and lot keeping never.
pub fn tenants_keep_their_scale_mode_and_lots(open: fn() -> Fixture) {
    let f = open();
    let t = tenant(&f.ledger);
    let spec = |ceiling: i64, scale: u32, lots: bool| TenantSpec {
        id: t.clone(),
        mode: "goop2".into(),
        scale,
        ceiling,
        lots,
    };
    let tt = t.clone();
    f.ledger
        .run_blocking(move |tx| {
            let a = tx.open_account(&tt, "u")?;
            tx.credit(
                a,
                Amount::new(700).unwrap(),
                &Posting::new(EntryKind::Grant, Actor::Admin),
            )?;
            let row = tx.backend().tenant(&tt)?.unwrap();
            assert_eq!((row.scale, row.ceiling, row.lots), (0, 1_000_000, false));
            Ok::<_, LedgerError>(())
        })
        .unwrap();
    f.ledger
        .ensure_tenant_blocking(spec(800, 0, false))
        .unwrap();
    assert!(matches!(
        f.ledger.ensure_tenant_blocking(spec(600, 0, false)),
        Err(LedgerError::Invalid(m)) if m.contains("exceed")
    ));
    for wrong in [spec(800, 2, false), spec(800, 0, true)] {
        assert!(matches!(
            f.ledger.ensure_tenant_blocking(wrong),
            Err(LedgerError::TenantMismatch { .. })
        ));
    }
    let tt = t.clone();
    let refused = f.ledger.run_blocking(move |tx| {
        let a = tx.open_account(&tt, "u")?;
        tx.credit(
            a,
            Amount::new(101).unwrap(),
            &Posting::new(EntryKind::Grant, Actor::Admin),
        )
    });
    assert!(matches!(
        refused,
        Err(LedgerError::CeilingExceeded { ceiling: 800, .. })
    ));
    let unknown = f
        .ledger
        .run_blocking(|tx| tx.open_account(&TenantId::new("nobody").unwrap(), "u"));
    assert!(matches!(unknown, Err(LedgerError::UnknownTenant(_))));
    f.ledger.shutdown();
}

/// Payments: unique by (provider, external id), found by order, updated in place;
/// claw-back counters never exceed what was claimed; listings filter by tenant,
/// provider and shortfall, newest first; unacknowledged Google purchases are listed.
pub fn payments(open: fn() -> Fixture) {
    let f = open();
    let t = tenant(&f.ledger);
    let offer = Offer {
        id: "credits-500".into(),
        name: "500 credits".into(),
        credits: 500,
        price_amount: 499,
        currency: "usd".into(),
    };
    let tt = t.clone();
    f.ledger
        .run_blocking(move |tx| {
            let a = tx.open_account(&tt, "peer")?;
            let e = tx.credit(
                a,
                Amount::new(500).unwrap(),
                &Posting::new(EntryKind::Buy, Actor::Payment("stripe")),
            )?;
            let now = tx.now().to_string();
            let at = |p: Payment| Payment {
                created_at: now.clone(),
                updated_at: now.clone(),
                ..p
            };
            let repo = tx.repo::<dyn Payments>()?;
            let open = at(Payment::verified(
                Provider::Stripe,
                "cs_1".into(),
                tt.clone(),
                "peer".into(),
                &offer,
                None,
            ));
            let id = repo.insert_payment(&open)?;
            assert!(repo.insert_payment(&open).is_err(), "unique per provider");
            let apple = Payment {
                provider: Provider::AppleIap,
                ..open.clone()
            };
            repo.insert_payment(&apple)?;
            let mut p = repo.payment(Provider::Stripe, "cs_1")?.expect("stored");
            assert_eq!((p.id, p.status, p.credits), (id, PaymentStatus::Open, 500));
            assert_eq!(repo.payment_of_order(Provider::Stripe, "pi_1")?, None);
            // Credited: status, entry and order are written.
            p.status = PaymentStatus::Credited;
            p.entry_id = Some(e.id);
            p.order_ref = Some("pi_1".into());
            repo.update_payment(&p)?;
            assert_eq!(
                repo.payment_of_order(Provider::Stripe, "pi_1")?,
                Some(p.clone())
            );
            // A claw-back that took more than it claimed is refused.
            let mut bad = p.clone();
            bad.refund_taken = 10;
            assert!(repo.update_payment(&bad).is_err());
            p.refund_claimed = 100;
            p.refund_taken = 40;
            p.status = PaymentStatus::Refunded;
            repo.update_payment(&p)?;
            // A payment past `open` keeps the entry of its credit.
            let mut entryless = p.clone();
            entryless.entry_id = None;
            assert!(repo.update_payment(&entryless).is_err());
            // Receipts held by order until a payment takes them; the latest wins.
            repo.hold_receipt(Provider::Stripe, "pi_9", "https://r/1", &now)?;
            repo.hold_receipt(Provider::Stripe, "pi_9", "https://r/2", &now)?;
            assert_eq!(repo.take_receipt(Provider::AppleIap, "pi_9")?, None);
            assert_eq!(
                repo.take_receipt(Provider::Stripe, "pi_9")?.as_deref(),
                Some("https://r/2")
            );
            assert_eq!(repo.take_receipt(Provider::Stripe, "pi_9")?, None);
            let google = Payment {
                provider: Provider::GoogleIap,
                external_id: "tok-1".into(),
                status: PaymentStatus::Credited,
                entry_id: Some(e.id),
                acknowledged: Some(Acknowledgement::Pending),
                product_id: Some("roo_starter".into()),
                ..open.clone()
            };
            repo.insert_payment(&google)?;
            Ok::<_, LedgerError>(())
        })
        .unwrap();
    let tt = t.clone();
    let (all, stripe, short, other_tenant, page, unacked) = f
        .ledger
        .read_blocking(move |r| {
            let repo = r.repo::<dyn PaymentReads>()?;
            let f = |p: PaymentFilter| PaymentFilter { limit: 10, ..p };
            let all = repo.list_payments(&f(PaymentFilter::default()))?;
            let stripe = repo.list_payments(&f(PaymentFilter {
                provider: Some(Provider::Stripe),
                ..Default::default()
            }))?;
            let short = repo.list_payments(&f(PaymentFilter {
                unrecovered: true,
                ..Default::default()
            }))?;
            let other = repo.list_payments(&f(PaymentFilter {
                tenant: Some(TenantId::new("elsewhere").unwrap()),
                ..Default::default()
            }))?;
            let page = repo.list_payments(&PaymentFilter {
                tenant: Some(tt.clone()),
                before: Some(all[0].id),
                limit: 1,
                ..Default::default()
            })?;
            let unacked = repo.unacknowledged(0, 10)?;
            assert!(
                repo.unacknowledged(unacked[0].id, 10)?.is_empty(),
                "paged by id"
            );
            let google = repo.find_payment(Provider::GoogleIap, "tok-1")?.unwrap();
            assert_eq!(google.acknowledged, Some(Acknowledgement::Pending));
            assert_eq!(google.product_id.as_deref(), Some("roo_starter"));
            Ok::<_, LedgerError>((all, stripe, short, other, page, unacked))
        })
        .unwrap();
    let providers: Vec<Provider> = all.iter().map(|p| p.provider).collect();
    assert_eq!(
        providers,
        vec![Provider::GoogleIap, Provider::AppleIap, Provider::Stripe],
        "newest first"
    );
    assert_eq!(stripe.len(), 1);
    assert_eq!(stripe[0].shortfall(), 60);
    assert_eq!(short.len(), 1);
    assert_eq!(short[0].external_id, "cs_1");
    assert!(other_tenant.is_empty());
    assert_eq!(page.len(), 1);
    assert_eq!(page[0].provider, Provider::AppleIap);
    assert_eq!(unacked.len(), 1);
    assert_eq!(unacked[0].external_id, "tok-1");
    f.ledger.shutdown();
}

/// The campaign the contract makes: `SPRING`, 5 credits, at most 2 redemptions.
fn spring() -> NewCampaign {
    NewCampaign {
        code: "SPRING".into(),
        amount: 5,
        starts_at: "2026-01-01T00:00:00Z".into(),
        ends_at: "2026-02-01T00:00:00Z".into(),
        max_redemptions: 2,
        note: Some("n".into()),
    }
}

/// Campaigns and referrals: a code once per tenant, one redemption per account up to
/// the maximum, one invite code per account found only in its tenant, one referral per
/// invitee, and bonuses counted per inviter.
pub fn campaigns_and_referrals(open: fn() -> Fixture) {
    let f = open();
    let t = tenant(&f.ledger);
    let other = TenantId::new("elsewhere").unwrap();
    f.ledger
        .ensure_tenant_blocking(TenantSpec {
            id: other.clone(),
            mode: "goop2".into(),
            scale: 0,
            ceiling: 1_000_000,
            lots: false,
        })
        .unwrap();
    let (tt, ot) = (t.clone(), other.clone());
    let (a, b, c, id, entry) = f
        .ledger
        .run_blocking(move |tx| {
            let (t, other) = (tt, ot);
            let (a, b, c) = (
                tx.open_account(&t, "a")?,
                tx.open_account(&t, "b")?,
                tx.open_account(&t, "c")?,
            );
            let e = tx.credit(
                a,
                Amount::new(5).unwrap(),
                &Posting::new(EntryKind::Promo, Actor::System),
            )?;
            let now = tx.now();
            let opened = tx.repo::<dyn Promotions>()?.account_opened_at(a)?;
            assert_eq!(opened, now);
            let repo = tx.repo::<dyn Promotions>()?;
            let id = repo.insert_campaign(&t, &spring(), now)?;
            assert!(repo.insert_campaign(&other, &spring(), now).is_ok());
            assert!(repo.code_taken(&t, "SPRING")?);
            assert!(!repo.code_taken(&t, "AUTUMN")?);
            assert!(!repo.has_redeemed(id, a)?);
            repo.insert_redemption(id, a, e.id, now)?;
            assert!(repo.has_redeemed(id, a)?);
            repo.insert_redemption(id, b, e.id, now)?;
            let stored = repo.campaign(&t, "SPRING")?.unwrap();
            assert_eq!((stored.redeemed, stored.max_redemptions), (2, 2));
            assert_eq!(repo.campaign(&t, "spring")?, None);

            assert_eq!(repo.referral_code(a)?, None);
            repo.insert_referral_code(a, "INVITEA", now)?;
            assert_eq!(repo.referral_code(a)?.as_deref(), Some("INVITEA"));
            assert!(repo.code_taken(&other, "INVITEA")?);
            assert_eq!(repo.referral_owner(&t, "INVITEA")?, Some(a));
            assert_eq!(repo.referral_owner(&other, "INVITEA")?, None);
            assert!(!repo.referred(b)?);
            repo.insert_referral(b, a, Some(e.id), Some(e.id), now)?;
            repo.insert_referral(c, a, Some(e.id), None, now)?;
            assert!(repo.referred(b)?);
            assert_eq!(repo.inviter_bonuses(a)?, 1);
            assert_eq!(repo.inviter_bonuses(b)?, 0);
            Ok::<_, LedgerError>((a, b, c, id, e.id))
        })
        .unwrap();
    // Each refusal fails its unit (on PostgreSQL a failed statement ends what the
    // transaction can do) and changes nothing.
    type Refused = Box<dyn FnOnce(&mut dyn Promotions, &str) -> Result<(), LedgerError> + Send>;
    let tt = t.clone();
    let refusals: Vec<(&str, Refused)> = vec![
        (
            "the same code twice in a tenant",
            Box::new(move |r, now| r.insert_campaign(&tt, &spring(), now).map(drop)),
        ),
        (
            "a second redemption by one account",
            Box::new(move |r, now| r.insert_redemption(id, a, entry, now)),
        ),
        (
            "a redemption past the maximum",
            Box::new(move |r, now| r.insert_redemption(id, c, entry, now)),
        ),
        (
            "an invite code taken",
            Box::new(move |r, now| r.insert_referral_code(b, "INVITEA", now)),
        ),
        (
            "a second referral of an invitee",
            Box::new(move |r, now| r.insert_referral(b, a, None, None, now)),
        ),
        (
            "a self-referral",
            Box::new(move |r, now| r.insert_referral(a, a, None, None, now)),
        ),
    ];
    for (what, refused) in refusals {
        let result = f.ledger.run_blocking(move |tx| {
            let now = tx.now().to_string();
            refused(tx.repo::<dyn Promotions>()?, &now)
        });
        assert!(result.is_err(), "{what} is refused");
    }
    let campaigns = f
        .ledger
        .read_blocking(move |r| r.repo::<dyn PromotionReads>()?.campaigns(&t))
        .unwrap();
    assert_eq!(campaigns.len(), 1);
    assert_eq!(campaigns[0].code, "SPRING");
    assert_eq!(campaigns[0].note.as_deref(), Some("n"));
    f.ledger.shutdown();
}
