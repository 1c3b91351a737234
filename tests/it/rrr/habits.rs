//! The real client's habits end to end (field-notes §3): it proposes the member id,
//! sends free-form metadata, never names a promotion, retries every call with a fresh
//! `Idempotency-Key`; and one member under 500 concurrent redemption commits.

use serde_json::{json, Value};

use super::*;
use crate::common::{run_cli, TestNode};

/// A CLIENT_ADMIN approval as XCN sends it.
fn approval(actor_id: &str) -> Value {
    json!({"actor": {"actor_type": "CLIENT_ADMIN", "actor_id": actor_id},
           "signature": {"method": "OIDC_SESSION", "attestation": "session_verified"}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_real_client_s_habits_work_unchanged() {
    let node = node().await;
    let xcn = Xcn::connect(&node, CLIENT).await;
    // Every call is sent twice, each time with a fresh key: the effect happens once and
    // the second answer is the first.
    let twice = |path: &'static str, body: Value| {
        let xcn = xcn.clone();
        async move {
            let first = xcn.post(path, &body).await;
            let second = xcn.post(path, &body).await;
            assert_eq!(first.status, second.status, "{path}");
            assert_eq!(
                first.body, second.body,
                "{path}: the retry answers the original"
            );
            first
        }
    };

    // A promotion, approved by two client admins and the RRR admin (from the CLI).
    let start = (jiff::Timestamp::now() - jiff::SignedDuration::from_hours(1)).to_string();
    let end = (jiff::Timestamp::now() + jiff::SignedDuration::from_hours(48)).to_string();
    let promo = xcn
        .post(
            "/v1/promotions",
            &json!({
        "name": "Double points weekend", "starts_at": start, "ends_at": end,
        "eligibility": {"xcn_membership_tiers": ["GOLD", "VIP"], "min_lifetime_spend_minor": 0},
        "earn_rules": {"multiplier": 2, "cap_points": 150, "expiry_days": 90}}),
        )
        .await
        .ok(201);
    let pid = promo["promotion_id"].as_str().unwrap().to_string();
    xcn.post(&format!("/v1/promotions/{pid}/submit"), &json!({}))
        .await
        .ok(200);
    xcn.post(
        &format!("/v1/promotions/{pid}/approve"),
        &approval("65a1f0c2e4b0a1b2c3d4e5f6"),
    )
    .await
    .ok(200);
    xcn.post(
        &format!("/v1/promotions/{pid}/approve"),
        &approval("65a1f0c2e4b0a1b2c3d4e5f7"),
    )
    .await
    .ok(200);
    let config = node.data.path().join("rrr.toml");
    std::fs::write(
        &config,
        format!(
            "[[tenants]]\nid = \"xcn\"\nmode = \"rrr\"\n[[tenants.clients]]\nclient_id = \"{CLIENT}\"\nclient_secret_sha256 = \"{}\"\n",
            rendezvous_credits::config::sha256_hex(&client_secret(CLIENT))
        ),
    )
    .unwrap();
    let dir = node.data.path().to_str().unwrap().to_string();
    let cfg = config.to_str().unwrap().to_string();
    let (ok, out) = tokio::task::spawn_blocking(move || {
        run_cli([
            "admin",
            "--config",
            &cfg,
            "--data-dir",
            &dir,
            "rrr",
            "approve",
            &pid,
            "--actor-id",
            "rrr-ops-7",
        ])
    })
    .await
    .unwrap();
    assert!(ok, "{out}");
    assert!(out.contains("\"status\":\"ACTIVE\""), "{out}");
    let promo = xcn
        .get(&format!(
            "/v1/promotions/{}",
            promo["promotion_id"].as_str().unwrap()
        ))
        .await
        .ok(200);
    assert_eq!(promo["status"], "ACTIVE");
    let approvers: Vec<&str> = promo["approvals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["actor"]["actor_type"].as_str().unwrap())
        .collect();
    assert_eq!(approvers, ["CLIENT_ADMIN", "CLIENT_ADMIN", "RRR_ADMIN"]);

    // Link with a proposed member id; a retry of the confirmation answers the same.
    let proposed = uuid::Uuid::new_v4().to_string();
    let intent = xcn
        .post(
            "/v1/links/intents",
            &json!({"client_user_id": "XCN_USER_12345", "link_type": "MEMBER"}),
        )
        .await
        .ok(201);
    let linked = twice("/v1/links/confirm", json!({"intent_id": intent["intent_id"], "rrr_member_id": proposed,
        "client_user_id": "XCN_USER_12345", "proof": {"method": "EMAIL_OTP", "assertion": intent["rrr_link_code"]}})).await.ok(200);
    assert_eq!(linked["rrr_member_id"], proposed.as_str());

    // Earns with extra metadata keys; the promotion applies without being named:
    // 2 × 100 = 200, bonus 100; then the cap (150) leaves 50 of the next bonus.
    let earn = |order: &str, points: i64| {
        let mut b = earn_body("XCN_USER_12345", &proposed, order, points);
        b["metadata"] = json!({"xcn_membership_tier": "GOLD", "xcn_order_channel": "web", "utm": {"source": "mail"}});
        b
    };
    let first = twice("/v1/points/earn", earn("XCN_ORDER_1", 100))
        .await
        .ok(201);
    assert_eq!(
        (first["points"].clone(), first["promotion_id"].clone()),
        (json!(200), promo["promotion_id"].clone())
    );
    let second = twice("/v1/points/earn", earn("XCN_ORDER_2", 100))
        .await
        .ok(201);
    assert_eq!(second["points"], 150);
    let w = xcn.wallet(&proposed).await;
    assert_eq!(w["available_points"], 350);
    let soon = w["expiring_soon"].as_array().unwrap();
    assert!(soon.is_empty(), "90-day lots are not within 30 days: {w}");

    // Quote, commit, reverse: each retried with a fresh key.
    // (A quote is not a business operation: a retry makes another quote, harmless.)
    let q = xcn.post("/v1/redemptions/quote", &json!({"client_user_id": "XCN_USER_12345", "rrr_member_id": proposed,
        "cart": {"currency": "USD", "total_minor": 999, "items": [{"sku": "XCN_MEMBERSHIP_GOLD_1M", "qty": 1, "minor": 999}]},
        "requested": {"mode": "EXACT", "points": 300}})).await;
    let q = q.ok(200);
    assert_eq!(q["eligible"], true);
    let c = twice(
        "/v1/redemptions/commit",
        json!({"quote_id": q["quote_id"], "client_order_id": "XCN_ORDER_987",
        "client_user_id": "XCN_USER_12345", "rrr_member_id": proposed}),
    )
    .await
    .ok(200);
    assert_eq!(c["balance_after"], 50);
    twice(
        "/v1/redemptions/reverse",
        json!({"client_order_id": "XCN_ORDER_987", "reason": "PAYMENT_FAILED"}),
    )
    .await
    .ok(200);
    assert_eq!(xcn.available(&proposed).await, 350);
    let ledger = xcn
        .get(&format!("/v1/members/{proposed}/ledger"))
        .await
        .ok(200);
    let types: Vec<&str> = ledger
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        ["REVERSAL", "REDEEM", "EARN", "EARN"],
        "each effect once"
    );
    node.verify();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_redemption_commits_never_overdraw() {
    const N: i64 = 37;
    const PER: i64 = 10;
    const ATTEMPTS: usize = 500;
    let node = node_with(
        json!({"redemption": {"min_points": PER, "max_fraction": 1, "quote_ttl_secs": 600}}),
    )
    .await;
    let xcn = Xcn::connect(&node, CLIENT).await;
    let m = xcn.link("u1", "MEMBER", None).await;
    // Points for N redemptions, in several lots.
    for i in 0..N {
        xcn.earn("u1", &m, &format!("E{i}"), PER).await;
    }
    // 500 quotes (each for 10 points of a cart of 10), then 500 commits at once.
    let quotes = futures::future::join_all((0..ATTEMPTS).map(|_| {
        let xcn = xcn.clone();
        let m = m.clone();
        async move {
            xcn.post(
                "/v1/redemptions/quote",
                &json!({"client_user_id": "u1", "rrr_member_id": m,
                "cart": {"currency": "USD", "total_minor": PER}, "requested": {"mode": "MAX"}}),
            )
            .await
            .ok(200)["quote_id"]
                .as_str()
                .unwrap()
                .to_string()
        }
    }))
    .await;
    let commits = futures::future::join_all(quotes.into_iter().enumerate().map(|(i, q)| {
        let xcn = xcn.clone();
        let m = m.clone();
        tokio::spawn(async move {
            xcn.post(
                "/v1/redemptions/commit",
                &json!({"quote_id": q, "client_order_id": format!("ORDER-{i}"),
                "client_user_id": "u1", "rrr_member_id": m}),
            )
            .await
        })
    }))
    .await;
    let mut ok = 0;
    for r in commits {
        let r = r.unwrap();
        match r.status.as_u16() {
            200 => ok += 1,
            _ => {
                r.error(409, "INSUFFICIENT_POINTS");
            }
        }
    }
    assert_eq!(ok, N, "exactly N commits succeed");
    let w = xcn.wallet(&m).await;
    assert_eq!(
        (w["available_points"].clone(), w["escrow_points"].clone()),
        (json!(0), json!(0))
    );
    let report = xcn.get("/v1/reports/liability").await.ok(200);
    assert_eq!(report["window"]["redeemed"], N * PER);
    node.verify();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_makes_client_secrets() {
    let (ok, out) = tokio::task::spawn_blocking(|| run_cli(["admin", "rrr-client"]))
        .await
        .unwrap();
    assert!(ok, "{out}");
    let field = |name: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim().to_string())
            .unwrap_or_else(|| panic!("no {name} in {out}"))
    };
    let secret = field("client_secret:");
    let digest = field("client_secret_sha256:");
    assert_eq!(digest, rendezvous_credits::config::sha256_hex(&secret));
    // The printed pair works as a client of a node.
    let node = TestNode::start(|c| {
        let mut t = rrr_tenant("xcn", &[], json!({}));
        if let TenantSettings::Rrr(r) = &mut t {
            r.clients = vec![serde_json::from_value(
                json!({"client_id": "fresh", "client_secret_sha256": digest}),
            )
            .unwrap()];
        }
        c.tenants.push(t);
    })
    .await;
    let r = send(
        reqwest::Client::new()
            .post(node.url("/oauth/token"))
            .json(&json!({
        "grant_type": "client_credentials", "client_id": "fresh", "client_secret": secret})),
    )
    .await;
    assert_eq!(r.ok(200)["token_type"], "Bearer");
}
