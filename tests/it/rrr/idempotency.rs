//! `Idempotency-Key` on every mutating route: missing → 422 naming the header; the
//! same key and payload → the original status and body (`Idempotent-Replayed`); the
//! same key with another payload → 409 `IDEMPOTENCY_KEY_REUSE_MISMATCH`. And lots that
//! expire on the scheduler's clock.

use reqwest::Method;
use serde_json::{json, Value};

use super::*;

/// Checks the three rules on `method path` with `body` (the first use answers
/// `status`) and `other` (another payload); returns the first answer's body.
async fn check(
    xcn: &Xcn,
    admin: Option<&str>,
    method: Method,
    path: &str,
    body: &Value,
    other: &Value,
    status: u16,
) -> Value {
    let request = |key: Option<&str>, body: &Value| {
        let mut r = xcn
            .http
            .request(method.clone(), format!("{}{path}", xcn.base))
            .bearer_auth(admin.unwrap_or(&xcn.token))
            .header("X-Client-Id", &xcn.client_id)
            .header("Content-Type", "application/json")
            .body(body.to_string());
        if let Some(k) = key {
            r = r.header("Idempotency-Key", k);
        }
        r
    };
    let missing = send(request(None, body)).await;
    missing.error(422, "VALIDATION_FAILED");
    assert_eq!(
        missing.body["error"]["details"]["field"], "Idempotency-Key",
        "{method} {path}"
    );
    let key = format!("key_{}", uuid::Uuid::new_v4().simple());
    let first = send(request(Some(&key), body)).await;
    assert_eq!(
        first.status.as_u16(),
        status,
        "{method} {path}: {}",
        first.body
    );
    let replay = send(request(Some(&key), body)).await;
    assert_eq!(replay.status, first.status, "{method} {path}");
    let mut original = first.body.clone();
    if original.get("secret").is_some_and(Value::is_string) {
        // A webhook's secret is shown once: the replay carries null.
        original["secret"] = Value::Null;
    }
    assert_eq!(replay.body, original, "{method} {path}: the original body");
    assert_eq!(
        replay.headers["idempotent-replayed"], "true",
        "{method} {path}"
    );
    send(request(Some(&key), other))
        .await
        .error(409, "IDEMPOTENCY_KEY_REUSE_MISMATCH");
    first.body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_mutating_route_honours_the_key() {
    let node = node_with(
        json!({"redemption": {"min_points": 10, "max_fraction": 1, "quote_ttl_secs": 600}}),
    )
    .await;
    let xcn = Xcn::connect(&node, CLIENT).await;
    let admin = node.admin_token.clone();
    let post = Method::POST;

    let intent = check(
        &xcn,
        None,
        post.clone(),
        "/v1/links/intents",
        &json!({"client_user_id": "u1", "link_type": "MEMBER"}),
        &json!({"client_user_id": "u2", "link_type": "MEMBER"}),
        201,
    )
    .await;
    let confirm = json!({"intent_id": intent["intent_id"], "client_user_id": "u1",
        "proof": {"method": "EMAIL_OTP", "assertion": intent["rrr_link_code"]}});
    let mut other = confirm.clone();
    other["rrr_member_id"] = json!(uuid::Uuid::new_v4().to_string());
    let m = check(
        &xcn,
        None,
        post.clone(),
        "/v1/links/confirm",
        &confirm,
        &other,
        200,
    )
    .await["rrr_member_id"]
        .as_str()
        .unwrap()
        .to_string();
    let model = xcn.link("model1", "MODEL", None).await;

    let earn = earn_body("u1", &m, "O1", 500);
    let e = check(
        &xcn,
        None,
        post.clone(),
        "/v1/points/earn",
        &earn,
        &earn_body("u1", &m, "O1", 501),
        201,
    )
    .await;
    xcn.earn("model1", &model, "M1", 500).await;
    let mut item = earn_body("u1", &m, "B1", 5);
    item["source_ref"] = json!("row-1");
    check(
        &xcn,
        None,
        post.clone(),
        "/v1/points/earn/batch",
        &json!({"items": [item]}),
        &json!({"items": [item, item]}),
        201,
    )
    .await;
    check(&xcn, None, post.clone(), "/v1/points/adjustments",
        &json!({"client_user_id": "u1", "rrr_member_id": m, "points": 5, "reason_code": "GOODWILL"}),
        &json!({"client_user_id": "u1", "rrr_member_id": m, "points": 6, "reason_code": "GOODWILL"}), 201).await;
    let cart = |total: i64| {
        json!({"client_user_id": "u1", "rrr_member_id": m,
        "cart": {"currency": "USD", "total_minor": total}, "requested": {"mode": "MAX"}})
    };
    let q = check(
        &xcn,
        None,
        post.clone(),
        "/v1/redemptions/quote",
        &cart(100),
        &cart(101),
        200,
    )
    .await;
    let commit = |order: &str| json!({"quote_id": q["quote_id"], "client_order_id": order, "client_user_id": "u1", "rrr_member_id": m});
    check(
        &xcn,
        None,
        post.clone(),
        "/v1/redemptions/commit",
        &commit("R1"),
        &commit("R2"),
        200,
    )
    .await;
    check(
        &xcn,
        None,
        post.clone(),
        "/v1/redemptions/reverse",
        &json!({"client_order_id": "R1", "reason": "CANCELLED"}),
        &json!({"client_order_id": "R1", "reason": "FRAUD_BLOCKED"}),
        200,
    )
    .await;
    let tq = check(
        &xcn,
        None,
        post.clone(),
        "/v1/points/topup/quote",
        &json!({"bundle": 100, "unit_price_minor": 3}),
        &json!({"bundle": 250, "unit_price_minor": 3}),
        200,
    )
    .await;
    let topup = |order: &str| json!({"topup_quote_id": tq["topup_quote_id"], "client_order_id": order, "client_user_id": "u1", "rrr_member_id": m});
    check(
        &xcn,
        None,
        post.clone(),
        "/v1/points/topup/commit",
        &topup("T1"),
        &topup("T2"),
        200,
    )
    .await;
    check(
        &xcn,
        None,
        post.clone(),
        "/v1/points/reverse",
        &json!({"ledger_entry_id": e["ledger_entry_id"], "reason": "CHARGEBACK"}),
        &json!({"ledger_entry_id": e["ledger_entry_id"], "reason": "FRAUD"}),
        200,
    )
    .await;

    let award = |points: i64| {
        json!({"client_model_id": "model1", "rrr_model_member_id": model,
        "client_viewer_user_id": "u1", "rrr_viewer_member_id": m, "points": points})
    };
    let ai = check(
        &xcn,
        None,
        post.clone(),
        "/v1/awards/intents",
        &award(10),
        &award(11),
        201,
    )
    .await;
    let ac = |viewer: &str| json!({"intent_id": ai["intent_id"], "client_model_id": "model1", "client_viewer_user_id": viewer});
    check(
        &xcn,
        None,
        post.clone(),
        "/v1/awards/commit",
        &ac("u1"),
        &ac("u9"),
        200,
    )
    .await;
    let reverse_path = format!("/v1/awards/{}/reverse", ai["intent_id"].as_str().unwrap());
    check(
        &xcn,
        Some(&admin),
        post.clone(),
        &reverse_path,
        &json!({"reason": "ABUSE"}),
        &json!({"reason": "OTHER"}),
        200,
    )
    .await;

    let start = (jiff::Timestamp::now() - jiff::SignedDuration::from_hours(1)).to_string();
    let end = (jiff::Timestamp::now() + jiff::SignedDuration::from_hours(5)).to_string();
    let promo = |name: &str| json!({"name": name, "starts_at": start, "ends_at": end, "earn_rules": {"multiplier": 1.5}});
    let p = check(
        &xcn,
        None,
        post.clone(),
        "/v1/promotions",
        &promo("P"),
        &promo("Q"),
        201,
    )
    .await;
    let pid = p["promotion_id"].as_str().unwrap().to_string();
    check(
        &xcn,
        None,
        Method::PATCH,
        &format!("/v1/promotions/{pid}"),
        &json!({"name": "P2"}),
        &json!({"name": "P3"}),
        200,
    )
    .await;
    check(
        &xcn,
        None,
        post.clone(),
        &format!("/v1/promotions/{pid}/submit"),
        &json!({}),
        &json!({"x": 1}),
        200,
    )
    .await;
    let approve = |t: &str, id: &str| {
        json!({"actor": {"actor_type": t, "actor_id": id},
        "signature": {"method": "OIDC_SESSION", "attestation": "session_verified"}})
    };
    check(
        &xcn,
        None,
        post.clone(),
        &format!("/v1/promotions/{pid}/approve"),
        &approve("CLIENT_ADMIN", "a1"),
        &approve("CLIENT_ADMIN", "a2"),
        200,
    )
    .await;
    xcn.post(
        &format!("/v1/promotions/{pid}/approve"),
        &approve("CLIENT_ADMIN", "a2"),
    )
    .await
    .ok(200);
    check(
        &xcn,
        Some(&admin),
        post.clone(),
        &format!("/v1/promotions/{pid}/approve"),
        &approve("RRR_ADMIN", "ops"),
        &approve("RRR_ADMIN", "ops2"),
        200,
    )
    .await;
    for action in ["pause", "resume", "end"] {
        check(
            &xcn,
            None,
            post.clone(),
            &format!("/v1/promotions/{pid}/{action}"),
            &json!({}),
            &json!({"x": 1}),
            200,
        )
        .await;
    }
    let hook = check(
        &xcn,
        None,
        post.clone(),
        "/v1/webhooks",
        &json!({"url": "http://127.0.0.1:9/h", "events": ["POINTS_POSTED"]}),
        &json!({"url": "http://127.0.0.1:9/h", "events": ["LINK_UPDATED"]}),
        201,
    )
    .await;
    // The same key on another webhook is another request.
    let second = xcn
        .post(
            "/v1/webhooks",
            &json!({"url": "http://127.0.0.1:9/g", "events": ["POINTS_POSTED"]}),
        )
        .await
        .ok(201);
    let delete = |id: &Value| {
        xcn.http
            .delete(format!("{}/v1/webhooks/{}", xcn.base, id.as_str().unwrap()))
            .bearer_auth(&xcn.token)
            .header("X-Client-Id", &xcn.client_id)
            .header("Idempotency-Key", "delete-key")
    };
    send(delete(&hook["webhook_id"])).await.ok(200);
    send(delete(&second["webhook_id"]))
        .await
        .error(409, "IDEMPOTENCY_KEY_REUSE_MISMATCH");
    assert_eq!(
        xcn.get("/v1/webhooks")
            .await
            .ok(200)
            .as_array()
            .unwrap()
            .len(),
        1,
        "the second stays"
    );
    let hook = second;
    check(
        &xcn,
        None,
        Method::DELETE,
        &format!("/v1/webhooks/{}", hook["webhook_id"].as_str().unwrap()),
        &json!({}),
        &json!({"x": 1}),
        200,
    )
    .await;
    check(
        &xcn,
        None,
        post.clone(),
        "/v1/links/revoke",
        &json!({"client_user_id": "u1", "reason": "USER_REQUEST"}),
        &json!({"client_user_id": "u1", "reason": "OTHER"}),
        200,
    )
    .await;
    node.verify();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lots_expire_on_the_scheduler_s_clock() {
    let node = node().await;
    let xcn = Xcn::connect(&node, CLIENT).await;
    let m = xcn.link("u1", "MEMBER", None).await;
    let soon = (jiff::Timestamp::now() + jiff::SignedDuration::from_secs(2)).to_string();
    let mut b = earn_body("u1", &m, "SHORT", 40);
    b["policy"] = json!({"posting_mode": "POSTED", "expires_at": soon});
    xcn.post("/v1/points/earn", &b).await.ok(201);
    xcn.earn("u1", &m, "LONG", 60).await;
    let w = xcn.wallet(&m).await;
    assert_eq!(w["expiring_soon"].as_array().unwrap().len(), 1, "{w}");
    assert_eq!(w["expiring_soon"][0]["points"], 40);
    let mut expired = false;
    for _ in 0..100 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        if xcn.available(&m).await == 60 {
            expired = true;
            break;
        }
    }
    assert!(expired, "the lot expires at its expires_at");
    let rows = xcn
        .get(&format!("/v1/members/{m}/ledger?type=EXPIRE"))
        .await
        .ok(200);
    assert_eq!(rows.as_array().unwrap().len(), 1);
    assert_eq!(
        (
            rows[0]["points_delta"].clone(),
            rows[0]["balance_after"].clone()
        ),
        (json!(-40), json!(60))
    );
    assert_eq!(rows[0]["actor"]["actor_type"], "SYSTEM");
    let report = xcn.get("/v1/reports/liability").await.ok(200);
    assert_eq!(report["window"]["expired"], 40);
    assert_eq!(report["outstanding"]["available"], 60);
    node.verify();
}
