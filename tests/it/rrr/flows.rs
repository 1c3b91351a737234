//! Auth, links, earns, the wallet and the ledger, redemptions and top-ups.

use serde_json::{json, Value};

use super::*;
use crate::common::TestNode;

fn jwt(client: &str, sub: &str, intent: &str, exp_in: i64) -> String {
    let exp = jiff::Timestamp::now().as_second() + exp_in;
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &json!({"sub": sub, "intent_id": intent, "exp": exp}),
        &jsonwebtoken::EncodingKey::from_secret(jwt_secret(client).as_bytes()),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_headers_and_their_refusals() {
    let node = node().await;
    let http = reqwest::Client::new();
    let token_url = node.url("/oauth/token");
    // RFC 6749 form body and client_secret_basic work too.
    let form = send(http.post(&token_url).form(&[
        ("grant_type", "client_credentials"),
        ("client_id", CLIENT),
        ("client_secret", &client_secret(CLIENT)),
    ]))
    .await
    .ok(200);
    assert_eq!(form["expires_in"], 3600);
    let basic = send(
        http.post(&token_url)
            .basic_auth(CLIENT, Some(client_secret(CLIENT)))
            .form(&[("grant_type", "client_credentials")]),
    )
    .await;
    assert_eq!(basic.headers["cache-control"], "no-store");
    let basic = basic.ok(200);
    assert_ne!(
        basic["access_token"], form["access_token"],
        "several live tokens"
    );
    // Credentials twice (Basic and body) are refused.
    let twice = send(
        http.post(&token_url)
            .basic_auth(CLIENT, Some(client_secret(CLIENT)))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_secret", &client_secret(CLIENT)),
            ]),
    )
    .await;
    assert_eq!(
        (twice.status.as_u16(), twice.body["error"].clone()),
        (400, json!("invalid_request"))
    );
    for (body, status, error) in [
        (
            json!({"grant_type": "client_credentials", "client_id": CLIENT, "client_secret": "wrong"}),
            401,
            "invalid_client",
        ),
        (
            json!({"grant_type": "client_credentials", "client_id": "nobody", "client_secret": "x"}),
            401,
            "invalid_client",
        ),
        (
            json!({"grant_type": "password", "client_id": CLIENT, "client_secret": "x"}),
            400,
            "unsupported_grant_type",
        ),
        (
            json!({"client_id": CLIENT, "client_secret": "x"}),
            400,
            "invalid_request",
        ),
        (
            json!({"grant_type": "client_credentials"}),
            400,
            "invalid_request",
        ),
    ] {
        let r = send(http.post(&token_url).json(&body)).await;
        assert_eq!(r.status.as_u16(), status, "{body}: {}", r.body);
        assert_eq!(r.body["error"], error, "{body}");
        assert!(r.body["error_description"].is_string());
    }

    let xcn = Xcn::connect(&node, CLIENT).await;
    // A GET with Content-Type: application/json and no body is fine; the trace sent
    // comes back, and one is minted when none is sent.
    let r = send(
        http.get(node.url("/v1/links/status?client_user_id=u1"))
            .bearer_auth(&xcn.token)
            .header("X-Client-Id", CLIENT)
            .header("X-Request-Trace", "trace-abc-123")
            .header("Content-Type", "application/json"),
    )
    .await;
    assert_eq!(r.headers["x-request-trace"], "trace-abc-123");
    assert_eq!(
        r.ok(200),
        json!({"linked": false, "rrr_member_id": null, "link_type": null, "linked_at": null})
    );
    let path = node.url("/v1/links/status?client_user_id=u1");
    let r = send(http.get(&path)).await;
    assert!(uuid::Uuid::parse_str(r.headers["x-request-trace"].to_str().unwrap()).is_ok());
    r.error(401, "UNAUTHENTICATED");
    send(
        http.get(&path)
            .bearer_auth("not-a-token")
            .header("X-Client-Id", CLIENT),
    )
    .await
    .error(401, "UNAUTHENTICATED");
    send(http.get(&path).bearer_auth(&xcn.token))
        .await
        .error(403, "UNAUTHORIZED");
    send(
        http.get(&path)
            .bearer_auth(&xcn.token)
            .header("X-Client-Id", "other"),
    )
    .await
    .error(403, "UNAUTHORIZED");
    // Every POST needs an Idempotency-Key (422 naming the header); it need not be a UUID.
    let r = send(
        http.post(node.url("/v1/links/intents"))
            .bearer_auth(&xcn.token)
            .header("X-Client-Id", CLIENT)
            .json(&json!({"client_user_id": "u1", "link_type": "MEMBER"})),
    )
    .await;
    r.error(422, "VALIDATION_FAILED");
    assert_eq!(r.body["error"]["details"]["field"], "Idempotency-Key");
    xcn.post_key(
        "/v1/links/intents",
        "earn_token_42",
        &json!({"client_user_id": "u1", "link_type": "MEMBER"}),
    )
    .await
    .ok(201);
    // Unknown paths and methods answer the canonical body.
    xcn.get("/v1/points/nothing").await.error(404, "NOT_FOUND");
    xcn.get("/v1/points/earn")
        .await
        .error(405, "METHOD_NOT_ALLOWED");

    // Tokens stay valid across a restart (same node key).
    let node = node.restart().await;
    let again = Xcn {
        base: node.base.clone(),
        ..xcn
    };
    again
        .get("/v1/links/status?client_user_id=u1")
        .await
        .ok(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn links_are_one_to_one_and_proven() {
    let node = TestNode::start(|c| {
        c.tenants
            .push(rrr_tenant("xcn", &[CLIENT, "other-client"], json!({})));
    })
    .await;
    let xcn = Xcn::connect(&node, CLIENT).await;
    let other = Xcn::connect(&node, "other-client").await;
    let proposed = uuid::Uuid::new_v4().to_string();

    // SIGNED_JWT binding sub, intent_id and exp; a proposed member id is created.
    let intent = xcn
        .post(
            "/v1/links/intents",
            &json!({"client_user_id": "alice", "link_type": "MEMBER"}),
        )
        .await
        .ok(201);
    assert_eq!(intent["rrr_link_code"].as_str().unwrap().len(), 8);
    assert!(
        intent["expires_at"].as_str().unwrap().ends_with(":00"),
        "offset: {intent}"
    );
    let id = intent["intent_id"].as_str().unwrap();
    let confirm = |assertion: String| {
        json!({"intent_id": id, "rrr_member_id": proposed, "client_user_id": "alice",
               "proof": {"method": "SIGNED_JWT", "assertion": assertion}})
    };
    for bad in [
        jwt(CLIENT, "mallory", id, 300),
        jwt(CLIENT, "alice", &uuid::Uuid::new_v4().to_string(), 300),
        jwt(CLIENT, "alice", id, -600),
        jwt("other-client", "alice", id, 300),
    ] {
        xcn.post("/v1/links/confirm", &confirm(bad))
            .await
            .error(403, "UNAUTHORIZED");
    }
    let body = confirm(jwt(CLIENT, "alice", id, 300));
    let linked = xcn.post("/v1/links/confirm", &body).await.ok(200);
    assert_eq!(linked["rrr_member_id"], proposed.as_str());
    assert_eq!(linked["link_type"], "MEMBER");
    // Confirming the same pair again (new key) answers the original result, with a
    // freshly signed proof too.
    assert_eq!(xcn.post("/v1/links/confirm", &body).await.ok(200), linked);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let resigned = confirm(jwt(CLIENT, "alice", id, 300));
    assert_ne!(resigned, body, "another JWT");
    assert_eq!(
        xcn.post("/v1/links/confirm", &resigned).await.ok(200),
        linked
    );
    let status = xcn
        .get("/v1/links/status?client_user_id=alice")
        .await
        .ok(200);
    assert_eq!(
        (status["linked"].clone(), status["rrr_member_id"].clone()),
        (json!(true), json!(proposed))
    );

    // One-to-one: another user cannot take the member; alice cannot take another.
    let bob = xcn
        .post(
            "/v1/links/intents",
            &json!({"client_user_id": "bob", "link_type": "MEMBER"}),
        )
        .await
        .ok(201);
    let r = xcn
        .post(
            "/v1/links/confirm",
            &json!({
        "intent_id": bob["intent_id"], "rrr_member_id": proposed, "client_user_id": "bob",
        "proof": {"method": "EMAIL_OTP", "assertion": bob["rrr_link_code"]}}),
        )
        .await;
    r.error(409, "CONFLICT");
    let again = xcn
        .post(
            "/v1/links/intents",
            &json!({"client_user_id": "alice", "link_type": "MEMBER"}),
        )
        .await
        .ok(201);
    xcn.post("/v1/links/confirm", &json!({
        "intent_id": again["intent_id"], "rrr_member_id": uuid::Uuid::new_v4().to_string(),
        "client_user_id": "alice", "proof": {"method": "EMAIL_OTP", "assertion": again["rrr_link_code"]}}))
        .await
        .error(409, "CONFLICT");
    // A member created by another client is 404 to this one, and its wallet too.
    xcn.get(&format!("/v1/members/{proposed}/wallet"))
        .await
        .ok(200);
    other
        .get(&format!("/v1/members/{proposed}/wallet"))
        .await
        .error(404, "NOT_FOUND");
    let o = other
        .post(
            "/v1/links/intents",
            &json!({"client_user_id": "carol", "link_type": "MEMBER"}),
        )
        .await
        .ok(201);
    other
        .post(
            "/v1/links/confirm",
            &json!({
        "intent_id": o["intent_id"], "rrr_member_id": proposed, "client_user_id": "carol",
        "proof": {"method": "EMAIL_OTP", "assertion": o["rrr_link_code"]}}),
        )
        .await
        .error(404, "NOT_FOUND");
    // Another client's intent is 404 here.
    xcn.post(
        "/v1/links/confirm",
        &json!({
        "intent_id": o["intent_id"], "client_user_id": "carol",
        "proof": {"method": "EMAIL_OTP", "assertion": o["rrr_link_code"]}}),
    )
    .await
    .error(404, "NOT_FOUND");

    // EMAIL_OTP: five wrong codes burn the intent; no member id mints one.
    let dave = xcn
        .post(
            "/v1/links/intents",
            &json!({"client_user_id": "dave", "link_type": "MODEL"}),
        )
        .await
        .ok(201);
    let code = dave["rrr_link_code"].as_str().unwrap();
    let with = |assertion: &str| {
        json!({"intent_id": dave["intent_id"], "client_user_id": "dave",
        "proof": {"method": "EMAIL_OTP", "assertion": assertion}})
    };
    for _ in 0..5 {
        xcn.post("/v1/links/confirm", &with("WRONG123"))
            .await
            .error(403, "UNAUTHORIZED");
    }
    xcn.post("/v1/links/confirm", &with(code))
        .await
        .error(409, "CONFLICT");
    let minted = xcn.link("dave", "MODEL", None).await;
    assert!(uuid::Uuid::parse_str(&minted).is_ok());
    // SSO needs an issuer; the user of another intent and unknown methods are 422.
    let eve = xcn
        .post(
            "/v1/links/intents",
            &json!({"client_user_id": "eve", "link_type": "MEMBER"}),
        )
        .await
        .ok(201);
    for (proof, user, field) in [
        (
            json!({"method": "SSO_ASSERTION", "assertion": "x"}),
            "eve",
            "proof.method",
        ),
        (
            json!({"method": "SMOKE", "assertion": "x"}),
            "eve",
            "proof.method",
        ),
        (
            json!({"method": "EMAIL_OTP", "assertion": eve["rrr_link_code"]}),
            "frank",
            "client_user_id",
        ),
    ] {
        let r = xcn
            .post(
                "/v1/links/confirm",
                &json!({"intent_id": eve["intent_id"], "client_user_id": user, "proof": proof}),
            )
            .await;
        r.error(422, "VALIDATION_FAILED");
        assert_eq!(r.body["error"]["details"]["field"], field);
    }
    for (body, field) in [
        (
            json!({"client_user_id": "", "link_type": "MEMBER"}),
            "client_user_id",
        ),
        (
            json!({"client_user_id": "x", "link_type": "ADMIN"}),
            "link_type",
        ),
        (
            json!({"client_user_id": "x", "link_type": "MEMBER", "extra": 1}),
            "extra",
        ),
        (json!({"client_user_id": "x"}), "link_type"),
    ] {
        let r = xcn.post("/v1/links/intents", &body).await;
        r.error(422, "VALIDATION_FAILED");
        assert_eq!(r.body["error"]["details"]["field"], field, "{body}");
    }

    // Revoking frees both sides.
    let revoked = xcn
        .post(
            "/v1/links/revoke",
            &json!({"client_user_id": "alice", "reason": "USER_REQUEST"}),
        )
        .await
        .ok(200);
    assert_eq!(revoked["status"], "REVOKED");
    xcn.post(
        "/v1/links/revoke",
        &json!({"client_user_id": "alice", "reason": "USER_REQUEST"}),
    )
    .await
    .error(404, "NOT_FOUND");
    assert_eq!(
        xcn.get("/v1/links/status?client_user_id=alice")
            .await
            .ok(200)["linked"],
        false
    );
    assert_eq!(xcn.link("bob", "MEMBER", Some(&proposed)).await, proposed);
    let fresh = xcn.link("alice", "MEMBER", None).await;
    assert_ne!(fresh, proposed);
    node.verify();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn earns_post_or_pend_and_retries_apply_once() {
    let node = node_with(json!({"pending_posting_secs": 1})).await;
    let xcn = Xcn::connect(&node, CLIENT).await;
    let m = xcn.link("u1", "MEMBER", None).await;

    let body = earn_body("u1", &m, "XCN_ORDER_1", 200);
    let first = xcn
        .post_key("/v1/points/earn", "earn_token_XCN_ORDER_1", &body)
        .await
        .ok(201);
    assert_eq!(first["status"], "ACCEPTED");
    assert!(
        first["posted_at"].is_string() && first["pending_until"].is_null(),
        "{first}"
    );
    // The same key replays; a new key for the same source answers the original; the
    // same source with another request is 409; the same key with another body too.
    let replay = xcn
        .post_key("/v1/points/earn", "earn_token_XCN_ORDER_1", &body)
        .await;
    assert_eq!(replay.headers["idempotent-replayed"], "true");
    assert_eq!(replay.ok(201), first);
    assert_eq!(xcn.post("/v1/points/earn", &body).await.ok(201), first);
    let mut changed = body.clone();
    changed["points"] = json!(300);
    xcn.post("/v1/points/earn", &changed)
        .await
        .error(409, "CONFLICT");
    xcn.post_key("/v1/points/earn", "earn_token_XCN_ORDER_1", &changed)
        .await
        .error(409, "IDEMPOTENCY_KEY_REUSE_MISMATCH");
    assert_eq!(xcn.available(&m).await, 200);

    // Bad input changes nothing.
    let big = "x".repeat(5000);
    for (patch, field) in [
        (json!({"currency": "EUR"}), "currency"),
        (json!({"points": 0}), "points"),
        (json!({"points": 1.5}), "points"),
        (json!({"amount_minor": -1}), "amount_minor"),
        (json!({"metadata": {"blob": big}}), "metadata"),
        (json!({"metadata": [1]}), "metadata"),
        (
            json!({"policy": {"posting_mode": "LATER"}}),
            "policy.posting_mode",
        ),
        (
            json!({"policy": {"expires_at": "2020-01-01T00:00:00-05:00"}}),
            "policy.expires_at",
        ),
        (
            json!({"policy": {"expires_at": "tomorrow"}}),
            "policy.expires_at",
        ),
        (
            json!({"source": {"event_type": "GIFT", "order_id": "o"}}),
            "source.event_type",
        ),
        (json!({"rrr_member_id": "not-a-uuid"}), "rrr_member_id"),
        (json!({"unknown": true}), "unknown"),
    ] {
        let mut b = earn_body("u1", &m, "XCN_BAD", 10);
        for (k, v) in patch.as_object().unwrap() {
            b[k] = v.clone();
        }
        let r = xcn.post("/v1/points/earn", &b).await;
        r.error(422, "VALIDATION_FAILED");
        assert_eq!(r.body["error"]["details"]["field"], field, "{patch}");
    }
    xcn.post(
        "/v1/points/earn",
        &earn_body("someone-else", &m, "XCN_X", 10),
    )
    .await
    .error(409, "CONFLICT");
    xcn.post(
        "/v1/points/earn",
        &earn_body("u1", &uuid::Uuid::new_v4().to_string(), "XCN_X", 10),
    )
    .await
    .error(404, "NOT_FOUND");
    assert_eq!(xcn.available(&m).await, 200);

    // PENDING: in pending points, posted by the scheduler within pending_posting_secs.
    let mut pending = earn_body("u1", &m, "XCN_ORDER_2", 50);
    pending["policy"] = json!({"posting_mode": "PENDING"});
    pending["metadata"] = json!({"xcn_membership_tier": "GOLD", "campaign": {"nested": [1, 2]}});
    let p = xcn.post("/v1/points/earn", &pending).await.ok(201);
    assert!(
        p["posted_at"].is_null() && p["pending_until"].is_string(),
        "{p}"
    );
    let w = xcn.wallet(&m).await;
    assert_eq!(
        (w["available_points"].clone(), w["pending_points"].clone()),
        (json!(200), json!(50))
    );
    let mut posted = false;
    for _ in 0..100 {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let w = xcn.wallet(&m).await;
        if w["available_points"] == 250 && w["pending_points"] == 0 {
            posted = true;
            break;
        }
    }
    assert!(posted, "the pending earn posts by pending_until");
    let ledger = xcn.get(&format!("/v1/members/{m}/ledger")).await.ok(200);
    let entries = ledger.as_array().unwrap();
    assert_eq!(entries.len(), 2, "{ledger}");
    assert_eq!(
        entries[0]["entry_id"], p["ledger_entry_id"],
        "newest first; the EARN id is the answer's"
    );
    assert_eq!(entries[0]["balance_after"], 250);
    assert_eq!(entries[1]["entry_id"], first["ledger_entry_id"]);
    for e in entries {
        assert_eq!(e["type"], "EARN");
        assert_eq!(e["member_id"], m.as_str());
        assert_eq!(e["client_id"], CLIENT);
        assert_eq!(
            e["actor"],
            json!({"actor_type": "SERVICE", "actor_id": CLIENT})
        );
        assert_eq!(e["reason_code"], "TOKEN_PURCHASE");
    }
    // Lots expire at the end of a Toronto day: default_expiry_days ahead, outside the
    // 30-day window.
    assert_eq!(xcn.wallet(&m).await["expiring_soon"], json!([]));
    node.verify();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ledger_pages_follow_the_link_header() {
    let node = node().await;
    let xcn = Xcn::connect(&node, CLIENT).await;
    let m = xcn.link("u1", "MEMBER", None).await;
    for i in 0..7 {
        xcn.earn("u1", &m, &format!("O{i}"), 10 + i).await;
    }
    xcn.post(
        "/v1/points/adjustments",
        &json!({"client_user_id": "u1", "rrr_member_id": m, "points": -5,
        "reason_code": "GOODWILL_CORRECTION", "ticket_reference": "T-1"}),
    )
    .await
    .ok(201);
    let mut seen: Vec<Value> = Vec::new();
    let mut path = format!("/v1/members/{m}/ledger?limit=3");
    let mut pages = 0;
    loop {
        let r = xcn.get(&path).await;
        let link = r
            .headers
            .get("link")
            .map(|l| l.to_str().unwrap().to_string());
        seen.extend(r.ok(200).as_array().unwrap().iter().cloned());
        pages += 1;
        match link {
            Some(l) => {
                assert!(l.ends_with("; rel=\"next\""), "{l}");
                path = l
                    .trim_start_matches('<')
                    .split('>')
                    .next()
                    .unwrap()
                    .to_string();
                assert!(path.contains("limit=3"), "{path}");
            }
            None => break,
        }
    }
    assert_eq!((seen.len(), pages), (8, 3));
    assert_eq!(seen[0]["type"], "ADJUST");
    assert_eq!(seen[0]["points_delta"], -5);
    assert_eq!(seen[0]["source_ref"], "T-1");
    let ids: std::collections::HashSet<_> = seen
        .iter()
        .map(|e| e["entry_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 8, "no entry twice");
    let balances: Vec<i64> = seen
        .iter()
        .map(|e| e["balance_after"].as_i64().unwrap())
        .collect();
    assert_eq!(balances[0], xcn.available(&m).await);
    for w in seen.windows(2) {
        assert_eq!(
            w[0]["balance_after"].as_i64().unwrap() - w[0]["points_delta"].as_i64().unwrap(),
            w[1]["balance_after"].as_i64().unwrap(),
            "each balance_after follows the previous one"
        );
    }
    let earns = xcn
        .get(&format!("/v1/members/{m}/ledger?type=ADJUST,REDEEM"))
        .await
        .ok(200);
    assert_eq!(earns.as_array().unwrap().len(), 1);
    let none = xcn
        .get(&format!(
            "/v1/members/{m}/ledger?from=2001-01-01&to=2001-02-01"
        ))
        .await
        .ok(200);
    assert_eq!(none, json!([]));
    for (q, field) in [
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("type=BOGUS", "type"),
        ("cursor=abc", "cursor"),
        ("from=yesterday", "from"),
    ] {
        let r = xcn.get(&format!("/v1/members/{m}/ledger?{q}")).await;
        r.error(422, "VALIDATION_FAILED");
        assert_eq!(r.body["error"]["details"]["field"], field, "{q}");
    }
    // Adjustments: the ticket is the business key; a negative one never overdraws.
    let adj = json!({"client_user_id": "u1", "rrr_member_id": m, "points": -5, "reason_code": "GOODWILL_CORRECTION", "ticket_reference": "T-1"});
    let again = xcn.post("/v1/points/adjustments", &adj).await.ok(201);
    assert_eq!(
        again["balance_after"], seen[0]["balance_after"],
        "the original answer"
    );
    let too_much = json!({"client_user_id": "u1", "rrr_member_id": m, "points": -100_000, "reason_code": "FRAUD"});
    let r = xcn.post("/v1/points/adjustments", &too_much).await;
    r.error(409, "INSUFFICIENT_POINTS");
    xcn.post(
        "/v1/points/adjustments",
        &json!({"client_user_id": "u1", "rrr_member_id": m, "points": 0, "reason_code": "X"}),
    )
    .await
    .error(422, "VALIDATION_FAILED");
    node.verify();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redemptions_burn_the_earliest_lots_and_reversals_restore_them() {
    let node = node_with(
        json!({"redemption": {"min_points": 100, "max_fraction": 0.5, "quote_ttl_secs": 600}}),
    )
    .await;
    let xcn = Xcn::connect(&node, CLIENT).await;
    let m = xcn.link("u1", "MEMBER", None).await;
    let soon = |days: i64| {
        let t = jiff::Timestamp::now() + jiff::SignedDuration::from_hours(24 * days);
        t.to_string()
    };
    // Three lots: expiring in 20 days, in 10 days, never (default 365 days is later).
    for (order, points, expiry) in [
        ("A", 300, Some(soon(20))),
        ("B", 200, Some(soon(10))),
        ("C", 500, None),
    ] {
        let mut b = earn_body("u1", &m, order, points);
        if let Some(e) = expiry {
            b["policy"] = json!({"posting_mode": "POSTED", "expires_at": e});
        }
        xcn.post("/v1/points/earn", &b).await.ok(201);
    }
    let soon_points = |w: &Value| -> Vec<i64> {
        w["expiring_soon"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["points"].as_i64().unwrap())
            .collect()
    };
    assert_eq!(soon_points(&xcn.wallet(&m).await), vec![200, 300]);

    let quote_body = |mode: &str, points: Option<i64>, total: i64| {
        let mut requested = json!({"mode": mode});
        if let Some(p) = points {
            requested["points"] = json!(p);
        }
        json!({"client_user_id": "u1", "rrr_member_id": m,
               "cart": {"currency": "USD", "total_minor": total, "items": [{"sku": "GOLD_1M", "qty": 1, "minor": total}]},
               "requested": requested})
    };
    // MAX: min(available 1000, ⌊999 × 0.5⌋ = 499).
    let q = xcn
        .post("/v1/redemptions/quote", &quote_body("MAX", None, 999))
        .await
        .ok(200);
    assert_eq!(
        (
            q["eligible"].clone(),
            q["max_points"].clone(),
            q["min_points"].clone()
        ),
        (json!(true), json!(499), json!(100))
    );
    assert_eq!(
        q["quote"],
        json!({"points_to_burn": 499, "discount_minor": 499})
    );
    // Ineligible is an answer, not an error.
    let small = xcn
        .post("/v1/redemptions/quote", &quote_body("MAX", None, 100))
        .await
        .ok(200);
    assert_eq!(
        (small["eligible"].clone(), small["reason"].clone()),
        (json!(false), json!("CART_TOO_SMALL"))
    );
    assert!(small["quote_id"].is_null());
    let over = xcn
        .post(
            "/v1/redemptions/quote",
            &quote_body("EXACT", Some(600), 1000),
        )
        .await
        .ok(200);
    assert_eq!(over["eligible"], false);
    let exact = xcn
        .post(
            "/v1/redemptions/quote",
            &quote_body("EXACT", Some(250), 2000),
        )
        .await
        .ok(200);
    assert_eq!(exact["quote"]["points_to_burn"], 250);

    let commit = json!({"quote_id": exact["quote_id"], "client_order_id": "ORDER-1", "client_user_id": "u1", "rrr_member_id": m});
    let done = xcn.post("/v1/redemptions/commit", &commit).await.ok(200);
    assert_eq!(
        (done["points_burned"].clone(), done["balance_after"].clone()),
        (json!(250), json!(750))
    );
    // 250 came from the lot expiring in 10 days (200), then the one in 20 (50).
    assert_eq!(soon_points(&xcn.wallet(&m).await), vec![250]);
    // Once per order (a new key answers the original), once per quote.
    assert_eq!(
        xcn.post("/v1/redemptions/commit", &commit).await.ok(200),
        done
    );
    let other_order = json!({"quote_id": exact["quote_id"], "client_order_id": "ORDER-2", "client_user_id": "u1", "rrr_member_id": m});
    xcn.post("/v1/redemptions/commit", &other_order)
        .await
        .error(409, "CONFLICT");
    let other_quote = json!({"quote_id": q["quote_id"], "client_order_id": "ORDER-1", "client_user_id": "u1", "rrr_member_id": m});
    xcn.post("/v1/redemptions/commit", &other_quote)
        .await
        .error(409, "CONFLICT");
    xcn.post("/v1/redemptions/commit", &json!({"quote_id": uuid::Uuid::new_v4().to_string(), "client_order_id": "O9", "client_user_id": "u1", "rrr_member_id": m}))
        .await
        .error(404, "NOT_FOUND");
    // The MAX quote (499) no longer fits after an adjustment takes most points.
    xcn.post(
        "/v1/points/adjustments",
        &json!({"client_user_id": "u1", "rrr_member_id": m, "points": -600, "reason_code": "TEST"}),
    )
    .await
    .ok(201);
    let r = xcn.post("/v1/redemptions/commit", &json!({"quote_id": q["quote_id"], "client_order_id": "ORDER-3", "client_user_id": "u1", "rrr_member_id": m})).await;
    r.error(409, "INSUFFICIENT_POINTS");
    xcn.post(
        "/v1/points/adjustments",
        &json!({"client_user_id": "u1", "rrr_member_id": m, "points": 600, "reason_code": "TEST"}),
    )
    .await
    .ok(201);

    // Reversal restores exactly the lots burned, once.
    let rev = json!({"client_order_id": "ORDER-1", "reason": "PAYMENT_FAILED"});
    let back = xcn.post("/v1/redemptions/reverse", &rev).await.ok(200);
    assert_eq!(back["points_restored"], 250);
    // Exactly the lots burned: 200 to B and 50 to A (the -600 adjustment in between
    // took the rest of A, so A holds only what came back).
    assert_eq!(soon_points(&xcn.wallet(&m).await), vec![200, 50]);
    assert_eq!(
        xcn.post("/v1/redemptions/reverse", &rev).await.ok(200),
        back
    );
    xcn.post(
        "/v1/redemptions/reverse",
        &json!({"client_order_id": "ORDER-1", "reason": "FRAUD_BLOCKED"}),
    )
    .await
    .error(409, "CONFLICT");
    xcn.post(
        "/v1/redemptions/reverse",
        &json!({"client_order_id": "NOPE", "reason": "CANCELLED"}),
    )
    .await
    .error(404, "NOT_FOUND");
    let types: Vec<String> = xcn
        .get(&format!("/v1/members/{m}/ledger"))
        .await
        .ok(200)
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(&types[..2], ["REVERSAL", "ADJUST"]);
    assert!(types.contains(&"REDEEM".to_string()));
    node.verify();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quotes_expire_and_top_ups_issue_once() {
    let node = node_with(
        json!({"redemption": {"min_points": 10, "max_fraction": 1, "quote_ttl_secs": 1},
        "topup": {"unit_price_minor": 3, "bundles": [100, 250], "quote_ttl_secs": 900}}),
    )
    .await;
    let xcn = Xcn::connect(&node, CLIENT).await;
    let m = xcn.link("u1", "MEMBER", None).await;
    xcn.earn("u1", &m, "O1", 100).await;
    let q = xcn
        .post(
            "/v1/redemptions/quote",
            &json!({"client_user_id": "u1", "rrr_member_id": m,
        "cart": {"currency": "USD", "total_minor": 500}, "requested": {"mode": "MAX"}}),
        )
        .await
        .ok(200);
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    xcn.post("/v1/redemptions/commit", &json!({"quote_id": q["quote_id"], "client_order_id": "late", "client_user_id": "u1", "rrr_member_id": m}))
        .await
        .error(409, "QUOTE_EXPIRED");

    for (body, field) in [
        (json!({"bundle": 300, "unit_price_minor": 3}), "bundle"),
        (
            json!({"bundle": 250, "unit_price_minor": 2}),
            "unit_price_minor",
        ),
    ] {
        let r = xcn.post("/v1/points/topup/quote", &body).await;
        r.error(422, "VALIDATION_FAILED");
        assert_eq!(r.body["error"]["details"]["field"], field);
    }
    let tq = xcn
        .post(
            "/v1/points/topup/quote",
            &json!({"bundle": 250, "unit_price_minor": 3}),
        )
        .await
        .ok(200);
    assert_eq!(
        (tq["points"].clone(), tq["total_cost_minor"].clone()),
        (json!(250), json!(750))
    );
    let commit = json!({"topup_quote_id": tq["topup_quote_id"], "client_order_id": "XCN_ORDER_987_TOPUP", "client_user_id": "u1", "rrr_member_id": m});
    let done = xcn.post("/v1/points/topup/commit", &commit).await.ok(200);
    assert_eq!(done["balance_after"], 350);
    assert_eq!(
        xcn.post("/v1/points/topup/commit", &commit).await.ok(200),
        done
    );
    let mut other = commit.clone();
    other["client_order_id"] = json!("another");
    xcn.post("/v1/points/topup/commit", &other)
        .await
        .error(409, "CONFLICT");
    assert_eq!(xcn.available(&m).await, 350);
    node.verify();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_earn_reversal_takes_back_what_is_left() {
    let node = node_with(
        json!({"redemption": {"min_points": 10, "max_fraction": 1, "quote_ttl_secs": 600}}),
    )
    .await;
    let xcn = Xcn::connect(&node, CLIENT).await;
    let m = xcn.link("u1", "MEMBER", None).await;
    let earn = xcn.earn("u1", &m, "CHARGED", 100).await;
    xcn.earn("u1", &m, "KEPT", 50).await;
    // 120 burned: the two lots expire the same day, so the older goes first (100),
    // then 20 of the second.
    let q = xcn.post("/v1/redemptions/quote", &json!({"client_user_id": "u1", "rrr_member_id": m,
        "cart": {"currency": "USD", "total_minor": 120}, "requested": {"mode": "EXACT", "points": 120}})).await.ok(200);
    xcn.post("/v1/redemptions/commit", &json!({"quote_id": q["quote_id"], "client_order_id": "R1", "client_user_id": "u1", "rrr_member_id": m})).await.ok(200);
    let rev = json!({"source": {"event_type": "TOKEN_PURCHASE", "order_id": "KEPT", "line_id": "1"}, "reason": "CHARGEBACK"});
    let r = xcn.post("/v1/points/reverse", &rev).await.ok(200);
    assert_eq!(
        (r["points_reversed"].clone(), r["shortfall_points"].clone()),
        (json!(30), json!(20))
    );
    assert_eq!(xcn.available(&m).await, 0, "never below zero");
    // By entry id, the same reversal answers the original; another reason is 409.
    let by_id = json!({"ledger_entry_id": r["ledger_entry_id"], "reason": "CHARGEBACK"});
    assert_eq!(xcn.post("/v1/points/reverse", &by_id).await.ok(200), r);
    xcn.post(
        "/v1/points/reverse",
        &json!({"ledger_entry_id": r["ledger_entry_id"], "reason": "FRAUD"}),
    )
    .await
    .error(409, "CONFLICT");
    let fully_spent = xcn
        .post(
            "/v1/points/reverse",
            &json!({"ledger_entry_id": earn["ledger_entry_id"], "reason": "CHARGEBACK"}),
        )
        .await
        .ok(200);
    assert_eq!(
        (
            fully_spent["points_reversed"].clone(),
            fully_spent["shortfall_points"].clone()
        ),
        (json!(0), json!(100))
    );
    // Reversing the redemption gives the 120 back into the two charged-back lots: they
    // expired when charged back, so the scheduler takes the points back at once.
    xcn.post(
        "/v1/redemptions/reverse",
        &json!({"client_order_id": "R1", "reason": "CANCELLED"}),
    )
    .await
    .ok(200);
    let mut gone = false;
    for _ in 0..100 {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        if xcn.available(&m).await == 0 {
            gone = true;
            break;
        }
    }
    assert!(
        gone,
        "charged-back points do not come back through a redemption reversal"
    );
    let expired = xcn
        .get(&format!("/v1/members/{m}/ledger?type=EXPIRE"))
        .await
        .ok(200);
    let sum: i64 = expired
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["points_delta"].as_i64().unwrap())
        .sum();
    assert_eq!(sum, -120);
    xcn.post("/v1/points/reverse", &json!({"reason": "X"}))
        .await
        .error(422, "VALIDATION_FAILED");
    xcn.post(
        "/v1/points/reverse",
        &json!({"ledger_entry_id": uuid::Uuid::new_v4().to_string(), "reason": "X"}),
    )
    .await
    .error(404, "NOT_FOUND");
    node.verify();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn earn_metadata_is_kept_as_given() {
    let node = node().await;
    let xcn = Xcn::connect(&node, CLIENT).await;
    let m = xcn.link("u1", "MEMBER", None).await;
    // Keys out of order and spaces, as a client may send them; only the tier is read.
    let metadata =
        r#"{"zeta": 1, "xcn_membership_tier": "GOLD", "alpha": {"b": [2, 1], "a": null}}"#;
    let body = format!(
        r#"{{"client_user_id":"u1","rrr_member_id":"{m}","source":{{"event_type":"TOKEN_PURCHASE","order_id":"RAW-1"}},"currency":"USD","amount_minor":100,"points":10,"metadata":{metadata}}}"#
    );
    xcn.post_raw("/v1/points/earn", &body).await.ok(201);
    let adjustment = format!(
        r#"{{"client_user_id":"u1","rrr_member_id":"{m}","points":-3,"reason_code":"GOODWILL","metadata":{metadata}}}"#
    );
    xcn.post_raw("/v1/points/adjustments", &adjustment)
        .await
        .ok(201);
    // Not an object, or over 4 KB: 422, nothing kept.
    for bad in [
        "[1]".to_string(),
        format!(r#"{{"x": "{}"}}"#, "y".repeat(4200)),
    ] {
        let b = format!(
            r#"{{"client_user_id":"u1","rrr_member_id":"{m}","points":-3,"reason_code":"GOODWILL","metadata":{bad}}}"#
        );
        let r = xcn.post_raw("/v1/points/adjustments", &b).await;
        r.error(422, "VALIDATION_FAILED");
        assert_eq!(r.body["error"]["details"]["field"], "metadata");
    }
    assert_eq!(xcn.available(&m).await, 7);
    let segments = xcn.get("/v1/reports/segments?group_by=tier").await.ok(200);
    assert_eq!(segments["segments"][0]["segment"], "GOLD");
    let config = node.config.clone();
    let _data = node.shutdown().await;
    let stored = crate::common::sql(
        &config,
        "SELECT metadata FROM rrr_earns WHERE order_id = 'RAW-1'",
        &[],
    );
    assert_eq!(stored, vec![vec![Some(metadata.to_string())]]);
    let adjusted = crate::common::sql(
        &config,
        "SELECT metadata FROM rrr_entries WHERE type = 'ADJUST'",
        &[],
    );
    assert_eq!(adjusted, vec![vec![Some(metadata.to_string())]]);
}
