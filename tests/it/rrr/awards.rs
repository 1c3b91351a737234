//! Awards (contract §12, field-notes §3): a model gives a viewer points. Intents check
//! the links and the caps and hold the model's points; commits move them once
//! (TRANSFER_OUT, TRANSFER_IN); expired intents release their hold; the RRR admin
//! reverses a committed award; and concurrent awards never overdraw the model.

use std::time::Duration;

use serde_json::{json, Value};

use super::promotions::admin_post;
use super::*;

/// A model `model` (linked as MODEL) with `points`, and a viewer `viewer` (linked as
/// MEMBER); returns their member ids.
async fn pair(xcn: &Xcn, model: &str, viewer: &str, points: i64) -> (String, String) {
    let m = xcn.link(model, "MODEL", None).await;
    if points > 0 {
        xcn.earn(model, &m, &format!("seed-{model}"), points).await;
    }
    let v = xcn.link(viewer, "MEMBER", None).await;
    (m, v)
}

fn intent_body(model: &str, m: &str, viewer: &str, v: &str, points: i64) -> Value {
    json!({
        "client_model_id": model,
        "rrr_model_member_id": m,
        "client_viewer_user_id": viewer,
        "rrr_viewer_member_id": v,
        "points": points,
        "context": {"room_id": "abc", "stream_id": "def"},
    })
}

fn commit_body(intent: &Value, model: &str, viewer: &str) -> Value {
    json!({"intent_id": intent["intent_id"], "client_model_id": model, "client_viewer_user_id": viewer})
}

/// (available, escrow) of `member`.
async fn balances(xcn: &Xcn, member: &str) -> (i64, i64) {
    let w = xcn.wallet(member).await;
    (
        w["available_points"].as_i64().unwrap(),
        w["escrow_points"].as_i64().unwrap(),
    )
}

async fn ledger(xcn: &Xcn, member: &str) -> Vec<Value> {
    xcn.get(&format!("/v1/members/{member}/ledger?limit=500"))
        .await
        .ok(200)
        .as_array()
        .unwrap()
        .clone()
}

fn awards_settings(per_award: i64, per_day: i64, ttl: u64) -> Value {
    json!({"awards": {"max_points_per_award": per_award,
        "max_points_per_day_per_model": per_day, "intent_ttl_secs": ttl}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_award_holds_then_moves_the_models_points_once() {
    let node = node().await;
    let xcn = Xcn::connect(&node, CLIENT).await;
    let (m, v) = pair(&xcn, "XCN_MODEL_444", "XCN_USER_12345", 500).await;

    let body = intent_body("XCN_MODEL_444", &m, "XCN_USER_12345", &v, 25);
    let intent_key = uuid::Uuid::new_v4().to_string();
    let intent = xcn
        .post_key("/v1/awards/intents", &intent_key, &body)
        .await
        .ok(201);
    let id = intent["intent_id"].as_str().unwrap().to_string();
    assert!(uuid::Uuid::parse_str(&id).is_ok(), "{intent}");
    assert_eq!(intent["eligible"], true);
    assert!(
        intent.get("ineligibility_reason").is_none(),
        "no reason when eligible: {intent}"
    );
    assert_eq!(intent["max_points"], 500, "min(available, caps)");
    let expires: jiff::Timestamp = intent["expires_at"].as_str().unwrap().parse().unwrap();
    let now = jiff::Timestamp::now();
    assert!(
        expires > now + jiff::SignedDuration::from_secs(250)
            && expires <= now + jiff::SignedDuration::from_secs(301),
        "the default 300 s hold: {intent}"
    );
    assert!(!intent["expires_at"].as_str().unwrap().ends_with('Z'));
    // The points are in escrow; available excludes them. A retry with the same key
    // replays the answer and holds nothing more.
    assert_eq!(balances(&xcn, &m).await, (475, 25));
    let replay = xcn.post_key("/v1/awards/intents", &intent_key, &body).await;
    assert_eq!(replay.headers["idempotent-replayed"], "true");
    assert_eq!(replay.ok(201), intent);
    assert_eq!(balances(&xcn, &m).await, (475, 25));
    assert_eq!(balances(&xcn, &v).await, (0, 0));

    // Ids other than the intent's are refused and change nothing.
    for (model, viewer) in [
        ("XCN_MODEL_999", "XCN_USER_12345"),
        ("XCN_MODEL_444", "XCN_USER_99999"),
    ] {
        xcn.post("/v1/awards/commit", &commit_body(&intent, model, viewer))
            .await
            .error(409, "CONFLICT");
    }
    xcn.post(
        "/v1/awards/commit",
        &json!({"intent_id": uuid::Uuid::new_v4().to_string(), "client_model_id": "XCN_MODEL_444", "client_viewer_user_id": "XCN_USER_12345"}),
    )
    .await
    .error(404, "NOT_FOUND");
    let r = xcn
        .post(
            "/v1/awards/commit",
            &json!({"intent_id": "nope", "client_model_id": "XCN_MODEL_444", "client_viewer_user_id": "XCN_USER_12345"}),
        )
        .await;
    r.error(422, "VALIDATION_FAILED");
    assert_eq!(r.body["error"]["details"]["field"], "intent_id");
    let r = xcn
        .post(
            "/v1/awards/commit",
            &json!({"intent_id": id, "client_model_id": "XCN_MODEL_444"}),
        )
        .await;
    r.error(422, "VALIDATION_FAILED");
    assert_eq!(r.body["error"]["details"]["field"], "client_viewer_user_id");
    assert_eq!(balances(&xcn, &m).await, (475, 25));
    assert_eq!(balances(&xcn, &v).await, (0, 0));

    let body = commit_body(&intent, "XCN_MODEL_444", "XCN_USER_12345");
    let key = uuid::Uuid::new_v4().to_string();
    let done = xcn.post_key("/v1/awards/commit", &key, &body).await.ok(200);
    assert_eq!(done["status"], "COMPLETED");
    assert_eq!(done["transfer_id"], id.as_str());
    assert_eq!(done["from_member_id"], m.as_str());
    assert_eq!(done["to_member_id"], v.as_str());
    assert_eq!(done["points"], 25);
    assert_eq!(balances(&xcn, &m).await, (475, 0));
    assert_eq!(balances(&xcn, &v).await, (25, 0));

    // TRANSFER_OUT on the model's ledger, TRANSFER_IN on the viewer's.
    let out = ledger(&xcn, &m).await;
    assert_eq!(out.len(), 2, "the seed earn and the transfer: {out:?}");
    assert_eq!(out[0]["type"], "TRANSFER_OUT");
    assert_eq!(out[0]["points_delta"], -25);
    assert_eq!(out[0]["balance_after"], 475);
    assert_eq!(out[0]["entry_id"], done["out_entry_id"]);
    assert_eq!(out[0]["source_ref"], id.as_str());
    assert_eq!(out[0]["reason_code"], "MODEL_AWARD");
    let into = ledger(&xcn, &v).await;
    assert_eq!(into.len(), 1);
    assert_eq!(into[0]["type"], "TRANSFER_IN");
    assert_eq!(into[0]["points_delta"], 25);
    assert_eq!(into[0]["balance_after"], 25);
    assert_eq!(into[0]["entry_id"], done["in_entry_id"]);
    assert_eq!(into[0]["source_ref"], id.as_str());

    // Once per intent: the same key replays, a new key answers the original, ids
    // other than the intent's are still 409.
    let replay = xcn.post_key("/v1/awards/commit", &key, &body).await;
    assert_eq!(replay.headers["idempotent-replayed"], "true");
    assert_eq!(replay.ok(200), done);
    assert_eq!(
        xcn.post("/v1/awards/commit", &body).await.ok(200),
        done,
        "the original answer"
    );
    xcn.post(
        "/v1/awards/commit",
        &commit_body(&intent, "XCN_MODEL_999", "XCN_USER_12345"),
    )
    .await
    .error(409, "CONFLICT");
    assert_eq!(balances(&xcn, &m).await, (475, 0));
    assert_eq!(balances(&xcn, &v).await, (25, 0));
    assert_eq!(ledger(&xcn, &m).await.len(), 2);
    assert_eq!(ledger(&xcn, &v).await.len(), 1);
    node.verify();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn intents_check_links_and_caps() {
    let node = node_with(awards_settings(100, 150, 300)).await;
    let xcn = Xcn::connect(&node, CLIENT).await;
    let (m, v) = pair(&xcn, "model1", "viewer1", 1000).await;
    // A member linked as MEMBER cannot give; one linked as MODEL cannot receive.
    let member_not_model = xcn.link("member2", "MEMBER", None).await;
    xcn.earn("member2", &member_not_model, "seed-member2", 1000)
        .await;
    let model_not_member = xcn.link("model3", "MODEL", None).await;

    for (body, code) in [
        (
            intent_body("member2", &member_not_model, "viewer1", &v, 10),
            "CONFLICT",
        ),
        (
            intent_body("model1", &m, "model3", &model_not_member, 10),
            "CONFLICT",
        ),
        // The user is not linked to that member.
        (intent_body("model3", &m, "viewer1", &v, 10), "CONFLICT"),
        (intent_body("model1", &m, "nobody", &v, 10), "CONFLICT"),
    ] {
        xcn.post("/v1/awards/intents", &body).await.error(409, code);
    }
    xcn.post(
        "/v1/awards/intents",
        &intent_body(
            "model1",
            &uuid::Uuid::new_v4().to_string(),
            "viewer1",
            &v,
            10,
        ),
    )
    .await
    .error(404, "NOT_FOUND");
    let mut bad: Vec<(Value, &str)> = Vec::new();
    for (k, val, field) in [
        ("points", json!(0), "points"),
        ("points", json!(-5), "points"),
        ("points", json!(2.5), "points"),
        ("context", json!("room"), "context"),
        ("surprise", json!(true), "surprise"),
        ("client_model_id", json!(""), "client_model_id"),
        (
            "rrr_viewer_member_id",
            json!("not-a-uuid"),
            "rrr_viewer_member_id",
        ),
        (
            "rrr_model_member_id",
            json!("not-a-uuid"),
            "rrr_model_member_id",
        ),
    ] {
        let mut b = intent_body("model1", &m, "viewer1", &v, 10);
        b[k] = val;
        bad.push((b, field));
    }
    for (b, field) in bad {
        let r = xcn.post("/v1/awards/intents", &b).await;
        r.error(422, "VALIDATION_FAILED");
        assert_eq!(r.body["error"]["details"]["field"], field, "{b}");
    }
    let r = send(
        xcn.http
            .post(node.url("/v1/awards/intents"))
            .bearer_auth(&xcn.token)
            .header("X-Client-Id", CLIENT)
            .json(&intent_body("model1", &m, "viewer1", &v, 10)),
    )
    .await;
    r.error(422, "VALIDATION_FAILED");
    assert_eq!(r.body["error"]["details"]["field"], "Idempotency-Key");
    assert_eq!(balances(&xcn, &m).await, (1000, 0), "nothing held");
    assert_eq!(balances(&xcn, &member_not_model).await, (1000, 0));

    let intent = |points: i64| intent_body("model1", &m, "viewer1", &v, points);
    // Over the per-award cap: an answer, not an error, and nothing held.
    let over = xcn.post("/v1/awards/intents", &intent(101)).await.ok(201);
    assert_eq!(
        (
            over["eligible"].clone(),
            over["ineligibility_reason"].clone(),
            over["max_points"].clone()
        ),
        (json!(false), json!("OVER_AWARD_CAP"), json!(100))
    );
    assert_eq!(balances(&xcn, &m).await, (1000, 0));
    // An ineligible intent cannot be committed.
    xcn.post(
        "/v1/awards/commit",
        &commit_body(&over, "model1", "viewer1"),
    )
    .await
    .error(409, "CONFLICT");
    assert_eq!(balances(&xcn, &v).await, (0, 0));

    let first = xcn.post("/v1/awards/intents", &intent(100)).await.ok(201);
    assert_eq!(first["eligible"], true);
    assert_eq!(balances(&xcn, &m).await, (900, 100));
    // 50 left today.
    let capped = xcn.post("/v1/awards/intents", &intent(60)).await.ok(201);
    assert_eq!(
        (
            capped["eligible"].clone(),
            capped["ineligibility_reason"].clone(),
            capped["max_points"].clone()
        ),
        (json!(false), json!("DAILY_CAP_REACHED"), json!(50))
    );
    let second = xcn.post("/v1/awards/intents", &intent(50)).await.ok(201);
    assert_eq!(second["eligible"], true);
    assert_eq!(second["max_points"], 50);
    let none_left = xcn.post("/v1/awards/intents", &intent(1)).await.ok(201);
    assert_eq!(
        (
            none_left["ineligibility_reason"].clone(),
            none_left["max_points"].clone()
        ),
        (json!("DAILY_CAP_REACHED"), json!(0))
    );
    assert_eq!(balances(&xcn, &m).await, (850, 150));
    // Committing what was held: the daily cap counts it once.
    xcn.post(
        "/v1/awards/commit",
        &commit_body(&first, "model1", "viewer1"),
    )
    .await
    .ok(200);
    let after = xcn.post("/v1/awards/intents", &intent(1)).await.ok(201);
    assert_eq!(after["ineligibility_reason"], "DAILY_CAP_REACHED");
    assert_eq!(balances(&xcn, &m).await, (850, 50));
    assert_eq!(balances(&xcn, &v).await, (100, 0));

    // Not enough points: another model with 30.
    let (poor, v2) = pair(&xcn, "model4", "viewer2", 30).await;
    let r = xcn
        .post(
            "/v1/awards/intents",
            &intent_body("model4", &poor, "viewer2", &v2, 40),
        )
        .await
        .ok(201);
    assert_eq!(
        (
            r["eligible"].clone(),
            r["ineligibility_reason"].clone(),
            r["max_points"].clone()
        ),
        (json!(false), json!("INSUFFICIENT_POINTS"), json!(30))
    );
    assert_eq!(balances(&xcn, &poor).await, (30, 0));
    let all = xcn
        .post(
            "/v1/awards/intents",
            &intent_body("model4", &poor, "viewer2", &v2, 30),
        )
        .await
        .ok(201);
    assert_eq!(all["eligible"], true);
    let r = xcn
        .post(
            "/v1/awards/intents",
            &intent_body("model4", &poor, "viewer2", &v2, 1),
        )
        .await
        .ok(201);
    assert_eq!(
        (r["ineligibility_reason"].clone(), r["max_points"].clone()),
        (json!("INSUFFICIENT_POINTS"), json!(0)),
        "held points are not available"
    );
    assert_eq!(balances(&xcn, &poor).await, (0, 30));
    node.verify();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_needs_both_links_still_active() {
    let node = node().await;
    let xcn = Xcn::connect(&node, CLIENT).await;
    let (m, v) = pair(&xcn, "model1", "viewer1", 100).await;
    let intent = xcn
        .post(
            "/v1/awards/intents",
            &intent_body("model1", &m, "viewer1", &v, 30),
        )
        .await
        .ok(201);
    assert_eq!(intent["eligible"], true);
    xcn.post(
        "/v1/links/revoke",
        &json!({"client_user_id": "viewer1", "reason": "USER_REQUEST"}),
    )
    .await
    .ok(200);
    let body = commit_body(&intent, "model1", "viewer1");
    xcn.post("/v1/awards/commit", &body)
        .await
        .error(409, "CONFLICT");
    assert_eq!(balances(&xcn, &m).await, (70, 30), "still held");
    assert_eq!(balances(&xcn, &v).await, (0, 0));
    assert_eq!(ledger(&xcn, &m).await.len(), 1);
    // Linked again (same member), the same intent commits.
    assert_eq!(xcn.link("viewer1", "MEMBER", Some(&v)).await, v);
    let done = xcn.post("/v1/awards/commit", &body).await.ok(200);
    assert_eq!(done["points"], 30);
    assert_eq!(balances(&xcn, &m).await, (70, 0));
    assert_eq!(balances(&xcn, &v).await, (30, 0));
    node.verify();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_intent_is_refused_and_its_hold_released() {
    let node = node_with(awards_settings(100, 100, 1)).await;
    let xcn = Xcn::connect(&node, CLIENT).await;
    let (m, v) = pair(&xcn, "model1", "viewer1", 100).await;
    let intent = xcn
        .post(
            "/v1/awards/intents",
            &intent_body("model1", &m, "viewer1", &v, 40),
        )
        .await
        .ok(201);
    assert_eq!(intent["eligible"], true);
    assert_eq!(balances(&xcn, &m).await, (60, 40));
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let msg = xcn
        .post(
            "/v1/awards/commit",
            &commit_body(&intent, "model1", "viewer1"),
        )
        .await
        .error(409, "CONFLICT");
    assert!(msg.contains("expired"), "{msg}");
    // The scheduler (every 50 ms) gives the points back.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while balances(&xcn, &m).await != (100, 0) {
        assert!(
            std::time::Instant::now() < deadline,
            "the hold was not released: {}",
            xcn.wallet(&m).await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    xcn.post(
        "/v1/awards/commit",
        &commit_body(&intent, "model1", "viewer1"),
    )
    .await
    .error(409, "CONFLICT");
    assert_eq!(balances(&xcn, &v).await, (0, 0));
    let out = ledger(&xcn, &m).await;
    assert_eq!(out.len(), 1, "no transfer: {out:?}");
    assert_eq!(out[0]["type"], "EARN");
    // An expired intent no longer counts against the daily cap (100).
    let again = xcn
        .post(
            "/v1/awards/intents",
            &intent_body("model1", &m, "viewer1", &v, 100),
        )
        .await
        .ok(201);
    assert_eq!(again["eligible"], true, "{again}");
    assert_eq!(again["max_points"], 100);
    node.verify();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rrr_admin_reverses_a_committed_award() {
    let node = node().await;
    let xcn = Xcn::connect(&node, CLIENT).await;
    let (m, v) = pair(&xcn, "model1", "viewer1", 500).await;
    let v2 = xcn.link("viewer2", "MEMBER", None).await;
    let mut awarded = Vec::new();
    for (viewer, member) in [("viewer1", &v), ("viewer2", &v2)] {
        let intent = xcn
            .post(
                "/v1/awards/intents",
                &intent_body("model1", &m, viewer, member, 100),
            )
            .await
            .ok(201);
        xcn.post("/v1/awards/commit", &commit_body(&intent, "model1", viewer))
            .await
            .ok(200);
        awarded.push(intent["intent_id"].as_str().unwrap().to_string());
    }
    let open = xcn
        .post(
            "/v1/awards/intents",
            &intent_body("model1", &m, "viewer1", &v, 10),
        )
        .await
        .ok(201);
    let open = open["intent_id"].as_str().unwrap().to_string();
    // viewer2 spends 60 of the 100.
    xcn.post(
        "/v1/points/adjustments",
        &json!({"client_user_id": "viewer2", "rrr_member_id": v2, "points": -60, "reason_code": "SPENT"}),
    )
    .await
    .ok(201);
    assert_eq!(balances(&xcn, &m).await, (290, 10));
    let reverse = |id: &str| format!("/v1/awards/{id}/reverse");
    let why = json!({"reason": "FRAUD_REVIEW"});

    // Only the RRR admin reverses.
    xcn.post(&reverse(&awarded[0]), &why)
        .await
        .error(403, "UNAUTHORIZED");
    admin_post(&node, "", &reverse(&awarded[0]), &why)
        .await
        .error(403, "UNAUTHORIZED");
    let r = admin_post(&node, CLIENT, &reverse(&awarded[0]), &json!({"reason": ""})).await;
    r.error(422, "VALIDATION_FAILED");
    assert_eq!(r.body["error"]["details"]["field"], "reason");
    admin_post(
        &node,
        CLIENT,
        &reverse(&uuid::Uuid::new_v4().to_string()),
        &why,
    )
    .await
    .error(404, "NOT_FOUND");
    admin_post(&node, CLIENT, &reverse(&open), &why)
        .await
        .error(409, "CONFLICT");
    assert_eq!(balances(&xcn, &m).await, (290, 10));
    assert_eq!(balances(&xcn, &v).await, (100, 0));

    // All of viewer1's 100 goes back.
    let back = admin_post(&node, CLIENT, &reverse(&awarded[0]), &why)
        .await
        .ok(200);
    assert_eq!(
        back,
        json!({"status": "REVERSED", "transfer_id": awarded[0], "points_reversed": 100, "shortfall_points": 0})
    );
    assert_eq!(balances(&xcn, &v).await, (0, 0));
    assert_eq!(balances(&xcn, &m).await, (390, 10));
    // viewer2 spent 60: only 40 come back, never below zero.
    let back2 = admin_post(&node, CLIENT, &reverse(&awarded[1]), &why)
        .await
        .ok(200);
    assert_eq!(
        (
            back2["points_reversed"].clone(),
            back2["shortfall_points"].clone()
        ),
        (json!(40), json!(60))
    );
    assert_eq!(balances(&xcn, &v2).await, (0, 0));
    assert_eq!(balances(&xcn, &m).await, (430, 10));
    // Ledgers: REVERSAL on both sides, naming the award.
    let viewer_rows = ledger(&xcn, &v).await;
    assert_eq!(viewer_rows[0]["type"], "REVERSAL");
    assert_eq!(viewer_rows[0]["points_delta"], -100);
    assert_eq!(viewer_rows[0]["source_ref"], awarded[0].as_str());
    assert_eq!(viewer_rows[0]["balance_after"], 0);
    let model_rows = ledger(&xcn, &m).await;
    assert_eq!(model_rows[0]["type"], "REVERSAL");
    assert_eq!(model_rows[0]["points_delta"], 40);
    assert_eq!(model_rows[0]["source_ref"], awarded[1].as_str());
    assert_eq!(model_rows[1]["type"], "REVERSAL");
    assert_eq!(model_rows[1]["points_delta"], 100);
    assert_eq!(model_rows[0]["balance_after"], 430);
    // Once: a second reversal is 409 and moves nothing.
    admin_post(&node, CLIENT, &reverse(&awarded[0]), &why)
        .await
        .error(409, "CONFLICT");
    assert_eq!(balances(&xcn, &m).await, (430, 10));
    assert_eq!(ledger(&xcn, &m).await.len(), model_rows.len());
    node.verify();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_awards_never_overdraw_the_model() {
    const ATTEMPTS: usize = 500;
    const EACH: i64 = 10;
    const FUNDS: i64 = 1000;
    let node = node_with(awards_settings(1000, 1_000_000, 300)).await;
    let xcn = Xcn::connect(&node, CLIENT).await;
    let m = xcn.link("model1", "MODEL", None).await;
    xcn.earn("model1", &m, "seed", FUNDS).await;
    let mut viewers = Vec::new();
    for i in 0..5 {
        let user = format!("viewer{i}");
        let member = xcn.link(&user, "MEMBER", None).await;
        viewers.push((user, member));
    }

    let tasks = (0..ATTEMPTS).map(|i| {
        let xcn = xcn.clone();
        let m = m.clone();
        let (user, member) = viewers[i % viewers.len()].clone();
        tokio::spawn(async move {
            let intent = xcn
                .post(
                    "/v1/awards/intents",
                    &intent_body("model1", &m, &user, &member, EACH),
                )
                .await
                .ok(201);
            if intent["eligible"] != true {
                assert_eq!(
                    intent["ineligibility_reason"], "INSUFFICIENT_POINTS",
                    "{intent}"
                );
                return false;
            }
            let done = xcn
                .post("/v1/awards/commit", &commit_body(&intent, "model1", &user))
                .await
                .ok(200);
            assert_eq!(done["points"], EACH);
            true
        })
    });
    let results = futures::future::join_all(tasks).await;
    let committed = results
        .into_iter()
        .map(|r| r.expect("the task did not panic"))
        .filter(|ok| *ok)
        .count();
    let expected = usize::try_from(FUNDS / EACH).unwrap();
    assert_eq!(committed, expected);
    assert_eq!(balances(&xcn, &m).await, (0, 0));
    let mut received = 0;
    for (_, member) in &viewers {
        let (available, escrow) = balances(&xcn, member).await;
        assert_eq!(escrow, 0);
        received += available;
        for row in ledger(&xcn, member).await {
            assert_eq!(row["type"], "TRANSFER_IN");
            assert!(row["balance_after"].as_i64().unwrap() >= 0);
        }
    }
    assert_eq!(received, FUNDS);
    let rows = ledger(&xcn, &m).await;
    let outs: Vec<&Value> = rows
        .iter()
        .filter(|r| r["type"] == "TRANSFER_OUT")
        .collect();
    assert_eq!(outs.len(), expected);
    assert!(
        rows.iter()
            .all(|r| r["balance_after"].as_i64().unwrap() >= 0),
        "never negative"
    );
    node.verify();
}
