//! The liability and segment reports against sums recomputed from the member ledger;
//! `verify` catching aggregates that disagree with the rows.

use serde_json::{json, Value};

use super::*;
use crate::common::TestNode;

/// Sums of the member ledger rows of `members`, by type.
async fn sums(xcn: &Xcn, members: &[String]) -> std::collections::BTreeMap<String, i64> {
    let mut out = std::collections::BTreeMap::new();
    for m in members {
        let rows = xcn
            .get(&format!("/v1/members/{m}/ledger?limit=500"))
            .await
            .ok(200);
        for r in rows.as_array().unwrap() {
            *out.entry(r["type"].as_str().unwrap().to_string())
                .or_insert(0) += r["points_delta"].as_i64().unwrap();
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_equal_the_sums_of_the_ledger() {
    let node = node_with(
        json!({"redemption": {"min_points": 10, "max_fraction": 1, "quote_ttl_secs": 600}}),
    )
    .await;
    let xcn = Xcn::connect(&node, CLIENT).await;
    let a = xcn.link("a", "MEMBER", None).await;
    let b = xcn.link("b", "MEMBER", None).await;
    let earn = |user: &str, m: &str, order: &str, points: i64, tier: Option<&str>| {
        let mut body = earn_body(user, m, order, points);
        if let Some(t) = tier {
            body["metadata"] = json!({"xcn_membership_tier": t});
        }
        body
    };
    xcn.post("/v1/points/earn", &earn("a", &a, "A1", 500, Some("GOLD")))
        .await
        .ok(201);
    xcn.post("/v1/points/earn", &earn("b", &b, "B1", 300, None))
        .await
        .ok(201);
    let mut pending = earn("b", &b, "B2", 70, Some("GOLD"));
    pending["policy"] = json!({"posting_mode": "PENDING"});
    xcn.post("/v1/points/earn", &pending).await.ok(201);
    let q = xcn
        .post(
            "/v1/redemptions/quote",
            &json!({"client_user_id": "a", "rrr_member_id": a,
        "cart": {"currency": "USD", "total_minor": 200}, "requested": {"mode": "MAX"}}),
        )
        .await
        .ok(200);
    xcn.post("/v1/redemptions/commit", &json!({"quote_id": q["quote_id"], "client_order_id": "R1", "client_user_id": "a", "rrr_member_id": a})).await.ok(200);
    xcn.post(
        "/v1/points/adjustments",
        &json!({"client_user_id": "b", "rrr_member_id": b, "points": -20, "reason_code": "FIX"}),
    )
    .await
    .ok(201);
    xcn.post("/v1/points/reverse", &json!({"source": {"event_type": "TOKEN_PURCHASE", "order_id": "B1"}, "reason": "CHARGEBACK"})).await.ok(200);

    let report = xcn.get("/v1/reports/liability").await.ok(200);
    let s = sums(&xcn, &[a.clone(), b.clone()]).await;
    let wa = xcn.wallet(&a).await;
    let wb = xcn.wallet(&b).await;
    let available =
        wa["available_points"].as_i64().unwrap() + wb["available_points"].as_i64().unwrap();
    let pending_points = wb["pending_points"].as_i64().unwrap();
    assert_eq!(report["currency"], "USD");
    assert_eq!(
        report["outstanding"],
        json!({"available": available, "escrow": 0, "pending": pending_points,
               "total": available + pending_points, "value_minor": available + pending_points})
    );
    let w = &report["window"];
    assert_eq!(w["issued"], s["EARN"]);
    assert_eq!(w["redeemed"].as_i64().unwrap(), -s["REDEEM"]);
    assert_eq!(w["reversed"].as_i64().unwrap(), -s["REVERSAL"]);
    assert_eq!(w["adjusted"], s["ADJUST"]);
    assert_eq!(
        (w["expired"].clone(), w["transferred"].clone()),
        (json!(0), json!(0))
    );
    assert_eq!(
        available,
        s.values().sum::<i64>(),
        "the rows sum to the balances"
    );
    // A window in the past holds nothing; today's window holds everything.
    let old = xcn
        .get("/v1/reports/liability?from=2001-01-01&to=2001-12-31")
        .await
        .ok(200);
    assert_eq!(old["window"]["issued"], 0);
    assert_eq!(
        old["outstanding"], report["outstanding"],
        "outstanding is as of now"
    );
    for (q, field) in [
        ("from=someday", "from"),
        ("from=2026-02-01&to=2026-01-01", "to"),
    ] {
        let r = xcn.get(&format!("/v1/reports/liability?{q}")).await;
        r.error(422, "VALIDATION_FAILED");
        assert_eq!(r.body["error"]["details"]["field"], field);
    }
    xcn.get("/v1/reports/liability?client_id=someone-else")
        .await
        .error(403, "UNAUTHORIZED");

    // Segments: by tier (earns accepted, pending ones too), by cohort (new members).
    let tiers = xcn.get("/v1/reports/segments?group_by=tier").await.ok(200);
    let by = |v: &Value, key: &str| {
        v["segments"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["segment"] == key)
            .cloned()
            .unwrap()
    };
    assert_eq!(by(&tiers, "GOLD")["points"], 570);
    assert_eq!(by(&tiers, "GOLD")["earns"], 2);
    assert_eq!(by(&tiers, "NONE")["points"], 300);
    let cohorts = xcn
        .get("/v1/reports/segments?group_by=cohort")
        .await
        .ok(200);
    let segs = cohorts["segments"].as_array().unwrap();
    assert_eq!(segs.len(), 1);
    assert_eq!(
        (segs[0]["new_members"].clone(), segs[0]["earns"].clone()),
        (json!(2), json!(3))
    );
    assert!(!cohorts.to_string().contains("\"a\""), "no client user ids");
    xcn.get("/v1/reports/segments?group_by=email")
        .await
        .error(422, "VALIDATION_FAILED");
    xcn.get("/v1/reports/segments")
        .await
        .error(422, "VALIDATION_FAILED");
    node.verify();

    // verify notices aggregates that no longer match the rows: the daily ones, the
    // segments, and the balance deltas.
    let config = node.config.clone();
    let location = config.ledger_location();
    let _data = node.shutdown().await;
    for (change, undo, mentions) in [
        (
            "UPDATE rrr_daily SET issued = issued + 1",
            "UPDATE rrr_daily SET issued = issued - 1",
            "issued",
        ),
        (
            "UPDATE rrr_segments SET points = points + 1",
            "UPDATE rrr_segments SET points = points - 1",
            "segments",
        ),
        (
            "UPDATE rrr_segments SET new_members = new_members + 1",
            "UPDATE rrr_segments SET new_members = new_members - 1",
            "new members",
        ),
        (
            "UPDATE rrr_daily SET d_available = d_available + 1",
            "UPDATE rrr_daily SET d_available = d_available - 1",
            "members hold",
        ),
    ] {
        crate::common::sql(&config, change, &[]);
        let found = crate::common::off_runtime(|| {
            let ledger = rendezvous_credits::store::open_read_only(&location).unwrap();
            let found = rendezvous_credits::app::verify(&ledger, &mut |_| {});
            ledger.shutdown();
            found
        });
        match found {
            Ok(Err(rendezvous_credits::ledger::Discrepancy::Dialect { dialect, detail })) => {
                assert_eq!(dialect, "rrr");
                assert!(detail.contains(mentions), "{change}: {detail}");
            }
            other => panic!("verify should find {change}: {other:?}"),
        }
        crate::common::sql(&config, undo, &[]);
    }
    crate::common::verify_at(&location);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenants_and_clients_are_isolated_and_rate_limited() {
    let node = TestNode::start(|c| {
        c.tenants.push(rrr_tenant("xcn", &[CLIENT], json!({})));
        c.tenants.push(rrr_tenant(
            "other",
            &["other-tenant-client"],
            json!({"rate_limit_rps": 1, "rate_limit_burst": 8}),
        ));
    })
    .await;
    let xcn = Xcn::connect(&node, CLIENT).await;
    let far = Xcn::connect(&node, "other-tenant-client").await;
    let m = xcn.link("u1", "MEMBER", None).await;
    let e = xcn.earn("u1", &m, "O1", 10).await;
    // Another tenant's client sees none of it.
    far.get(&format!("/v1/members/{m}/wallet"))
        .await
        .error(404, "NOT_FOUND");
    far.get(&format!("/v1/members/{m}/ledger"))
        .await
        .error(404, "NOT_FOUND");
    far.post(
        "/v1/points/reverse",
        &json!({"ledger_entry_id": e["ledger_entry_id"], "reason": "X"}),
    )
    .await
    .error(404, "NOT_FOUND");
    let status = far.get("/v1/links/status?client_user_id=u1").await.ok(200);
    assert_eq!(status["linked"], false);
    // A token names its client: one client's token with another's X-Client-Id is 403.
    let mixed = send(
        xcn.http
            .get(format!("{}/v1/members/{m}/wallet", node.base))
            .bearer_auth(&far.token)
            .header("X-Client-Id", CLIENT),
    )
    .await;
    mixed.error(403, "UNAUTHORIZED");
    // The rate limit: a burst of 8 at 1 rps, then 429 with Retry-After.
    let mut limited = None;
    for _ in 0..30 {
        let r = far.get("/v1/links/status?client_user_id=x").await;
        if r.status.as_u16() == 429 {
            limited = Some(r);
            break;
        }
    }
    let r = limited.expect("429 after the burst");
    assert!(
        r.headers["retry-after"]
            .to_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            >= 1
    );
    r.error(429, "RATE_LIMITED");
    // The other tenant's client is not limited by it.
    xcn.get(&format!("/v1/members/{m}/wallet")).await.ok(200);
    node.verify();
}
