//! ROO money on the Roochip routes: exact hundredths, the wallet ceiling, atomic
//! deducts under concurrency, idempotent retries and `credits.issued` outbox events.

use reqwest::StatusCode;
use serde_json::{json as j, Value};

use super::{count, expect_error, has_wallet, node, parse, reply_text, Roo};
use crate::common::{roochip_tenant, within, TestNode};

/// Sends `n` POSTs of `body` to `path` at once with `key` (and `headers`); returns
/// (status, raw body) of each.
async fn all_at_once(
    node: &TestNode,
    key: &str,
    path: &str,
    body: &Value,
    headers: &[(&str, &str)],
    n: usize,
) -> Vec<(StatusCode, String)> {
    let http = reqwest::Client::new();
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let mut req = http
                .post(node.url(path))
                .header("X-API-Key", key)
                .header("Content-Type", "application/json")
                .body(body.to_string());
            for (name, value) in headers {
                req = req.header(*name, *value);
            }
            tokio::spawn(async move {
                let res = req.send().await.expect("HTTP request");
                let status = res.status();
                (status, res.text().await.expect("body"))
            })
        })
        .collect();
    within("concurrent requests", futures::future::join_all(tasks))
        .await
        .into_iter()
        .map(|r| r.expect("request task"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_deducts_never_overdraw() {
    let node = node().await;
    let roo = Roo::server(&node, "rooverse");
    // Funds for exactly 137 deducts of 0.37.
    const N: usize = 137;
    assert_eq!(roo.reward("hot", j!(50.69)).await, "50.69");
    let results = all_at_once(
        &node,
        &roo.key,
        "/v1/users/hot/deduct",
        &j!({"credits": 0.37, "reason": "post_boost"}),
        &[],
        500,
    )
    .await;
    let mut ok = 0;
    let mut balances = std::collections::BTreeSet::new();
    for (status, body) in &results {
        match *status {
            StatusCode::OK => {
                ok += 1;
                let body = parse(*status, body);
                assert_eq!(body["credits_deducted"].to_string(), "0.37");
                assert!(
                    balances.insert(body["new_balance"].to_string()),
                    "two deducts saw the same balance: {body}"
                );
            }
            StatusCode::PAYMENT_REQUIRED => {
                assert_eq!(body, r#"{"error":"Insufficient credits"}"#);
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!(ok, N);
    assert!(balances.contains("0"), "the last deduct empties the wallet");
    assert_eq!(roo.balance("hot").await, "0");
    assert_eq!(node.entry_total(), 1 + N as i64);
    node.verify();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundredths_add_up_exactly_and_print_as_javascript_does() {
    let node = node().await;
    let roo = Roo::server(&node, "rooverse");
    let results = all_at_once(
        &node,
        &roo.key,
        "/v1/users/liker/reward",
        &j!({"credits": 0.01, "reason": "like"}),
        &[],
        100,
    )
    .await;
    assert!(results.iter().all(|(s, _)| *s == StatusCode::OK));
    let (status, body) = roo.get_text("/v1/users/liker/balance").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains(r#""balance":1,"#), "{body}");

    // 115.5, 0.01 and 5 print as JavaScript prints them, in every answer.
    let (_, body) = roo
        .post_text(
            "/v1/users/printer/reward",
            &j!({"credits": 115.50, "reason": "x"}),
        )
        .await;
    assert!(
        body.contains(r#""credits_rewarded":115.5,"new_balance":115.5}"#),
        "{body}"
    );
    let (_, body) = roo
        .post_text(
            "/v1/users/printer/reward",
            &j!({"credits": 0.01, "reason": "x"}),
        )
        .await;
    assert!(
        body.contains(r#""credits_rewarded":0.01,"new_balance":115.51}"#),
        "{body}"
    );
    let (_, body) = roo
        .post_text(
            "/v1/users/printer/deduct",
            &j!({"credits": 110.51, "reason": "x"}),
        )
        .await;
    assert!(
        body.contains(r#""credits_deducted":110.51,"new_balance":5}"#),
        "{body}"
    );
    let (_, body) = roo.get_text("/v1/users/printer/balance").await;
    assert!(body.contains(r#""balance":5,"#), "{body}");
    let (_, body) = roo.get_text("/v1/users/printer/transactions").await;
    assert!(
        body.contains(r#""credits_delta":-110.51,"balance_before":115.51,"balance_after":5,"#),
        "{body}"
    );
    assert!(!body.contains(".0,") && !body.contains("e-"), "{body}");
    node.verify();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ceiling_is_reachable_and_never_passed() {
    let node = node().await;
    let roo = Roo::server(&node, "rooverse");
    let (status, body) = roo
        .post_text(
            "/v1/users/whale/reward",
            &j!({"credits": 9999999999.99, "reason": "max"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains(r#""new_balance":9999999999.99}"#), "{body}");
    assert_eq!(roo.balance("whale").await, "9999999999.99");
    let entries = node.entry_total();
    let got = roo
        .post(
            "/v1/users/whale/reward",
            &j!({"credits": 0.01, "reason": "one more"}),
        )
        .await;
    expect_error(got, StatusCode::BAD_REQUEST, &["credits", "9999999999.99"]);
    assert_eq!(node.entry_total(), entries);
    assert_eq!(roo.balance("whale").await, "9999999999.99");

    // Over the ceiling in one amount: refused before the ledger.
    let got = roo
        .post(
            "/v1/users/minnow/reward",
            &j!({"credits": 10000000000u64, "reason": "x"}),
        )
        .await;
    expect_error(got, StatusCode::BAD_REQUEST, &["credits", "9999999999.99"]);
    assert!(!has_wallet(&node, "rooverse", "minnow"));

    // A full wallet can still spend its last cent.
    let (status, body) = roo
        .post_text(
            "/v1/users/whale/deduct",
            &j!({"credits": 9999999999.99, "reason": "all"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        body.contains(r#""credits_deducted":9999999999.99,"new_balance":0}"#),
        "{body}"
    );
    node.verify();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_amounts_are_400_naming_credits_and_write_nothing() {
    let node = node().await;
    let roo = Roo::server(&node, "rooverse");
    let cases = [
        r#"{"credits": 0.001, "reason": "x"}"#,
        r#"{"credits": 0, "reason": "x"}"#,
        r#"{"credits": 0.00, "reason": "x"}"#,
        r#"{"credits": -1, "reason": "x"}"#,
        r#"{"credits": -0.01, "reason": "x"}"#,
        r#"{"credits": "10", "reason": "x"}"#,
        r#"{"credits": 1e400, "reason": "x"}"#,
        r#"{"credits": 1e-7, "reason": "x"}"#,
        r#"{"credits": 1e20, "reason": "x"}"#,
        r#"{"credits": 123456789012345678901234567890, "reason": "x"}"#,
        r#"{"credits": null, "reason": "x"}"#,
        r#"{"credits": true, "reason": "x"}"#,
        r#"{"credits": [1], "reason": "x"}"#,
        r#"{"credits": {"value": 1}, "reason": "x"}"#,
        r#"{"credits": NaN, "reason": "x"}"#,
        r#"{"reason": "x"}"#,
    ];
    for route in ["deduct", "reward"] {
        for body in cases {
            let res = roo
                .post_raw(
                    &format!("/v1/users/amounts/{route}"),
                    body,
                    &[("Idempotency-Key", "k1")],
                )
                .await;
            let (status, text) = reply_text(res).await;
            let got = (status, parse(status, &text));
            let message = expect_error(got, StatusCode::BAD_REQUEST, &["credits"]);
            assert!(!message.contains("line 0"), "{body}: {message}");
        }
    }
    assert_eq!(node.entry_total(), 0);
    assert!(!has_wallet(&node, "rooverse", "amounts"));
    assert_eq!(count(&node, "SELECT count(*) FROM idempotency_keys"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idempotency_key_makes_a_retry_safe() {
    let node = node().await;
    let roo = Roo::server(&node, "rooverse");
    let reward = j!({"credits": 2.5, "reason": "daily_login"}).to_string();
    let key = [("Idempotency-Key", "9f0c6a7e-retry-1")];

    let first = roo
        .post_raw("/v1/users/retry/reward", reward.clone(), &key)
        .await;
    assert!(first.headers().get("idempotent-replayed").is_none());
    let first = reply_text(first).await;
    let again = roo
        .post_raw("/v1/users/retry/reward", reward.clone(), &key)
        .await;
    assert_eq!(again.headers().get("idempotent-replayed").unwrap(), "true");
    let again = reply_text(again).await;
    assert_eq!(first.0, StatusCode::OK);
    assert_eq!(first, again, "the replay is the stored answer");
    assert_eq!(roo.balance("retry").await, "2.5", "one effect");
    assert_eq!(node.entry_total(), 1);

    // The same key with another body, path or route is a conflict.
    for (path, body) in [
        (
            "/v1/users/retry/reward",
            j!({"credits": 3, "reason": "daily_login"}).to_string(),
        ),
        ("/v1/users/other/reward", reward.clone()),
        ("/v1/users/retry/deduct", reward.clone()),
    ] {
        let (status, text) = reply_text(roo.post_raw(path, body, &key).await).await;
        let message = expect_error(
            (status, parse(status, &text)),
            StatusCode::CONFLICT,
            &["Idempotency-Key"],
        );
        assert!(message.contains("different request"), "{message}");
    }
    assert_eq!(node.entry_total(), 1);

    // Keys are per tenant... and bounded.
    let long = "k".repeat(256);
    let (status, text) = reply_text(
        roo.post_raw(
            "/v1/users/retry/reward",
            reward.clone(),
            &[("Idempotency-Key", &long)],
        )
        .await,
    )
    .await;
    expect_error(
        (status, parse(status, &text)),
        StatusCode::BAD_REQUEST,
        &["Idempotency-Key", "255"],
    );
    let max = "k".repeat(255);
    let (status, _) = reply_text(
        roo.post_raw(
            "/v1/users/retry/reward",
            reward.clone(),
            &[("Idempotency-Key", &max)],
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(roo.balance("retry").await, "5");

    // A refused request stores nothing: a retry with the same key runs again.
    let deduct = j!({"credits": 7, "reason": "ai_generation"}).to_string();
    let refused = [("Idempotency-Key", "after-topup")];
    let (status, _) = reply_text(
        roo.post_raw("/v1/users/retry/deduct", deduct.clone(), &refused)
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::PAYMENT_REQUIRED);
    roo.reward("retry", j!(2)).await;
    let (status, body) = reply_text(
        roo.post_raw("/v1/users/retry/deduct", deduct.clone(), &refused)
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(roo.balance("retry").await, "0");
    node.verify();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_duplicates_have_one_effect() {
    let node = node().await;
    let roo = Roo::server(&node, "rooverse");
    roo.reward("twin", j!(100)).await;
    let results = all_at_once(
        &node,
        &roo.key,
        "/v1/users/twin/deduct",
        &j!({"credits": 10, "reason": "ai_generation", "reference_id": "job-1"}),
        &[("Idempotency-Key", "job-1")],
        20,
    )
    .await;
    let first = &results[0];
    assert_eq!(first.0, StatusCode::OK, "{}", first.1);
    assert!(results.iter().all(|r| r == first), "{results:?}");
    assert!(first.1.contains(r#""new_balance":90}"#), "{}", first.1);
    assert_eq!(roo.balance("twin").await, "90");
    assert_eq!(node.entry_total(), 2);

    // Code routes: a replayed request is its 201, not the 409 of a second request.
    let key = [("Idempotency-Key", "request-twin")];
    let body = j!({"external_user_id": "twin"}).to_string();
    let a = reply_text(roo.post_raw("/v1/codes/request", body.clone(), &key).await).await;
    let b = reply_text(roo.post_raw("/v1/codes/request", body.clone(), &key).await).await;
    assert_eq!(a.0, StatusCode::CREATED);
    assert_eq!(a, b);
    let c = reply_text(roo.post_raw("/v1/codes/request", body.clone(), &[]).await).await;
    assert_eq!(c.0, StatusCode::CONFLICT);

    // Generating: the code is never stored in clear, so a replay is a 409 that says
    // so, and no second code exists.
    let admin = Roo::admin(&node, "rooverse");
    let key = [("Idempotency-Key", "generate-twin")];
    let a = reply_text(
        admin
            .post_raw("/v1/admin/codes/generate", body.clone(), &key)
            .await,
    )
    .await;
    assert_eq!(a.0, StatusCode::CREATED, "{}", a.1);
    let code = parse(a.0, &a.1)["code"].as_str().unwrap().to_string();
    let b = reply_text(
        admin
            .post_raw("/v1/admin/codes/generate", body.clone(), &key)
            .await,
    )
    .await;
    let message = expect_error(
        (b.0, parse(b.0, &b.1)),
        StatusCode::CONFLICT,
        &["shown only once"],
    );
    assert!(!message.contains(&code));
    assert_eq!(count(&node, "SELECT count(*) FROM promo_codes"), 1);

    // Redeeming: concurrent retries issue once.
    let redeem = j!({"external_user_id": "twin", "code": code});
    let results = all_at_once(
        &node,
        &roo.key,
        "/v1/codes/redeem",
        &redeem,
        &[("Idempotency-Key", "redeem-twin")],
        10,
    )
    .await;
    assert!(results.iter().all(|r| r == &results[0]), "{results:?}");
    assert_eq!(results[0].0, StatusCode::OK);
    assert_eq!(roo.balance("twin").await, "95");
    node.verify();
}

/// The `credits.issued` payloads of `tenant`'s outbox, oldest first.
fn events(node: &TestNode, tenant: &str) -> Vec<String> {
    crate::common::sql(
        &node.config,
        "SELECT event_type, payload FROM outbox WHERE tenant_id = $1 ORDER BY id",
        &[tenant],
    )
    .into_iter()
    .map(|r| {
        assert_eq!(r[0].as_deref(), Some("credits.issued"));
        r[1].clone().expect("a payload")
    })
    .collect()
}

/// The payload the spec describes, with `timestamp` taken from `payload` (checked to
/// be RFC 3339 UTC).
fn expected_event(payload: &str, user: &str, credits: &str, balance: &str, source: &str) -> String {
    let parsed: Value = serde_json::from_str(payload).unwrap();
    let ts = parsed["timestamp"].as_str().unwrap();
    assert!(ts.ends_with('Z'), "{ts}");
    ts.parse::<jiff::Timestamp>()
        .expect("RFC 3339 UTC timestamp");
    format!(
        r#"{{"event":"credits.issued","external_user_id":"{user}","credits_issued":{credits},"new_balance":{balance},"payment_source":"{source}","timestamp":"{ts}"}}"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_issuance_writes_one_credits_issued_event() {
    let node = TestNode::start(|c| {
        let mut hooked = roochip_tenant("hooked");
        // Nothing listens there: deliveries fail and are retried later; the events
        // stay in the outbox either way.
        hooked.webhook_url = "http://127.0.0.1:9/webhooks/roochip".into();
        hooked.webhook_secret = "roochip_provided_secret".into();
        c.tenants.push(hooked.into());
        c.tenants.push(roochip_tenant("quiet").into());
    })
    .await;
    let roo = Roo::server(&node, "hooked");
    let admin = Roo::admin(&node, "hooked");
    let user = "rooverse-user-123";

    roo.reward(user, j!(0.01)).await;
    let key = [("Idempotency-Key", "reward-120")];
    let reward = j!({"credits": 120, "reason": "referral_bonus"}).to_string();
    for _ in 0..2 {
        let (status, _) = reply_text(
            roo.post_raw(&format!("/v1/users/{user}/reward"), reward.clone(), &key)
                .await,
        )
        .await;
        assert_eq!(status, StatusCode::OK);
    }
    let (status, _) = roo
        .post(
            &format!("/v1/users/{user}/deduct"),
            &j!({"credits": 5, "reason": "premium_filter"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let got = roo
        .post(
            &format!("/v1/users/{user}/deduct"),
            &j!({"credits": 500, "reason": "too much"}),
        )
        .await;
    expect_error(got, StatusCode::PAYMENT_REQUIRED, &[]);
    let code = {
        let (status, body) = admin
            .post("/v1/admin/codes/generate", &j!({"external_user_id": user}))
            .await;
        assert_eq!(status, StatusCode::CREATED);
        body["code"].as_str().unwrap().to_string()
    };
    let (status, _) = roo
        .post(
            "/v1/codes/redeem",
            &j!({"external_user_id": user, "code": code}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let got = roo
        .post(
            "/v1/codes/redeem",
            &j!({"external_user_id": user, "code": code}),
        )
        .await;
    expect_error(got, StatusCode::CONFLICT, &[]);

    // An admin grant is an issuance too; a server key may not grant.
    let grant = j!({"credits": 2.5, "reason": "support", "reference_id": "ticket-7"});
    let refused = roo
        .post(&format!("/v1/admin/users/{user}/grant"), &grant)
        .await;
    expect_error(refused, StatusCode::FORBIDDEN, &[]);
    let (status, body) = admin
        .post(&format!("/v1/admin/users/{user}/grant"), &grant)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["external_user_id"], user);
    assert_eq!(body["credits_granted"].to_string(), "2.5");
    assert_eq!(body["new_balance"].to_string(), "122.51");

    // One event per issuance, none for deducts, refusals or replays; each byte for
    // byte what JSON.stringify(JSON.parse(body)) gives back.
    let payloads = events(&node, "hooked");
    assert_eq!(payloads.len(), 4, "{payloads:#?}");
    assert_eq!(
        payloads[0],
        expected_event(&payloads[0], user, "0.01", "0.01", "reward")
    );
    assert_eq!(
        payloads[1],
        expected_event(&payloads[1], user, "120", "120.01", "reward")
    );
    assert_eq!(
        payloads[2],
        expected_event(&payloads[2], user, "5", "120.01", "promo_code")
    );
    assert_eq!(
        payloads[3],
        expected_event(&payloads[3], user, "2.5", "122.51", "admin")
    );
    assert_eq!(
        count(
            &node,
            "SELECT count(*) FROM webhook_deliveries WHERE tenant_id = 'hooked'"
        ),
        4
    );
    let linked = crate::common::sql_i64(
        &node.config,
        "SELECT count(*) FROM outbox o JOIN credit_accounts a ON a.id = o.account_id
         WHERE a.holder = $1 AND a.tenant_id = 'hooked'",
        &[user],
    );
    assert_eq!(linked, 4, "events are tied to the wallet");

    // A tenant without a webhook URL writes no events.
    let quiet = Roo::server(&node, "quiet");
    quiet.reward(user, j!(3)).await;
    let code = {
        let (_, body) = Roo::admin(&node, "quiet")
            .post("/v1/admin/codes/generate", &j!({"external_user_id": user}))
            .await;
        body["code"].as_str().unwrap().to_string()
    };
    let (status, _) = quiet
        .post(
            "/v1/codes/redeem",
            &j!({"external_user_id": user, "code": code}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(quiet.balance(user).await, "8");
    assert!(events(&node, "quiet").is_empty());
    node.verify();
}
