//! Promo codes ("Phase 1: Promo Code Flow"): one request and one redemption per user,
//! ever; admin listing, generation and rejection; codes kept only as digests.

use reqwest::StatusCode;
use serde_json::{json as j, Value};

use super::{count, expect_error, has_wallet, node, Roo};
use crate::common::{roochip_tenant, TestNode};
use rendezvous_credits::config::{sha256_hex, DecimalSetting};

/// Generates the code of `user` with the admin key; returns it.
async fn generate(admin: &Roo<'_>, user: &str) -> String {
    let (status, body) = admin
        .post("/v1/admin/codes/generate", &j!({"external_user_id": user}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["code"].as_str().unwrap().to_string()
}

fn is_code(code: &str) -> bool {
    code.len() == 12
        && code.starts_with("ROO-")
        && code[4..]
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_promo_code_flow_of_the_spec() {
    let node = node().await;
    let roo = Roo::server(&node, "rooverse");
    let admin = Roo::admin(&node, "rooverse");
    let user = "rooverse-user-123";

    // The user requests a code: 201, then 409 forever.
    let (status, text) = roo
        .post_text("/v1/codes/request", &j!({"external_user_id": user}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(
        text,
        r#"{"message":"Request received. An admin will generate your code shortly.","status":"pending"}"#
    );
    let (status, text) = roo
        .post_text("/v1/codes/request", &j!({"external_user_id": user}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(
        text,
        r#"{"error":"You have already requested a promo code. Each account can only request once."}"#
    );

    // The admin sees it pending.
    let (status, body) = admin.get("/v1/admin/codes/requests?status=pending").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["count"], 1);
    let request = &body["requests"][0];
    assert_eq!(request["external_user_id"], user);
    assert_eq!(request["status"], "pending");
    uuid::Uuid::parse_str(request["id"].as_str().unwrap()).expect("a UUID id");
    assert!(request["created_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(request.as_object().unwrap().len(), 4, "{request}");

    // The admin generates the code: 201, the spec's shape; the request is fulfilled.
    let (status, body) = admin
        .post("/v1/admin/codes/generate", &j!({"external_user_id": user}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let code = body["code"].as_str().unwrap().to_string();
    assert!(is_code(&code), "{code}");
    assert_eq!(
        body,
        j!({
            "code": code,
            "external_user_id": user,
            "credits": 5,
            "message": "Share this code with rooverse-user-123. It is single-use."
        })
    );
    let (_, pending) = admin.get("/v1/admin/codes/requests?status=pending").await;
    assert_eq!(pending["count"], 0);
    let (_, fulfilled) = admin.get("/v1/admin/codes/requests?status=fulfilled").await;
    assert_eq!(fulfilled["count"], 1);
    assert_eq!(fulfilled["requests"][0]["id"], request["id"]);

    // Another user cannot redeem it; an unknown code is 404; nothing moves.
    let got = roo
        .post(
            "/v1/codes/redeem",
            &j!({"external_user_id": "someone-else", "code": code}),
        )
        .await;
    assert_eq!(
        expect_error(got, StatusCode::FORBIDDEN, &[]),
        "This code was not issued to this account."
    );
    let got = roo
        .post(
            "/v1/codes/redeem",
            &j!({"external_user_id": user, "code": "ROO-00000000"}),
        )
        .await;
    assert_eq!(
        expect_error(got, StatusCode::NOT_FOUND, &[]),
        "This code is invalid."
    );
    assert_eq!(node.entry_total(), 0);

    // The user redeems it: exactly the spec's answer.
    let (status, text) = roo
        .post_text(
            "/v1/codes/redeem",
            &j!({"external_user_id": user, "code": code}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(
        text,
        r#"{"message":"5 ROO credits added to your account.","credits_issued":5,"new_balance":5}"#
    );
    assert_eq!(roo.balance(user).await, "5");

    // Used: 409, for the user and for anyone else's try it stays 403.
    let got = roo
        .post(
            "/v1/codes/redeem",
            &j!({"external_user_id": user, "code": code}),
        )
        .await;
    assert_eq!(
        expect_error(got, StatusCode::CONFLICT, &[]),
        "This code has already been redeemed."
    );
    let got = roo
        .post(
            "/v1/codes/redeem",
            &j!({"external_user_id": "someone-else", "code": code}),
        )
        .await;
    expect_error(got, StatusCode::FORBIDDEN, &[]);
    assert_eq!(roo.balance(user).await, "5");

    // The history shows an adjustment noted promo_code.
    let (_, history) = roo.get(&format!("/v1/users/{user}/transactions")).await;
    assert_eq!(history["total"], 1);
    let entry = &history["entries"][0];
    assert_eq!(entry["type"], "adjustment");
    assert_eq!(entry["reason"], "promo_code");
    assert_eq!(entry["credits_delta"], 5);
    assert_eq!(entry["balance_before"], 0);
    assert_eq!(entry["balance_after"], 5);
    assert_eq!(entry["reference_id"], request["id"]);
    node.verify();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codes_are_typed_loosely_and_stored_only_as_digests() {
    let node = node().await;
    let roo = Roo::server(&node, "rooverse");
    let admin = Roo::admin(&node, "rooverse");
    let code = generate(&admin, "typist").await;

    // Stored: the digest only, never the code.
    let digest = crate::common::sql(&node.config, "SELECT code_sha256 FROM promo_codes", &[]);
    assert_eq!(digest, vec![vec![Some(sha256_hex(&code))]]);
    let dump: String = crate::common::sql(
        &node.config,
        "SELECT code_sha256 || external_user_id || coalesce(request_id, '') AS x FROM promo_codes
         UNION ALL SELECT key || response FROM idempotency_keys
         UNION ALL SELECT payload FROM outbox
         UNION ALL SELECT coalesce(note, '') || coalesce(ref_id, '') FROM credit_transactions",
        &[],
    )
    .into_iter()
    .flatten()
    .flatten()
    .collect::<Vec<_>>()
    .join(" ");
    assert!(!dump.contains(&code), "the code is stored in clear");

    // Case and surrounding spaces do not matter to a user typing it.
    let typed = format!("  {}\t", code.to_lowercase());
    let (status, body) = roo
        .post(
            "/v1/codes/redeem",
            &j!({"external_user_id": "typist", "code": typed}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["credits_issued"], 5);

    // An empty code is a bad request, not a lookup.
    let got = roo
        .post(
            "/v1/codes/redeem",
            &j!({"external_user_id": "typist", "code": "  "}),
        )
        .await;
    expect_error(got, StatusCode::BAD_REQUEST, &["code"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_code_per_user_and_generation_without_a_request() {
    let node = node().await;
    let roo = Roo::server(&node, "rooverse");
    let admin = Roo::admin(&node, "rooverse");

    // No request: the code is generated and a fulfilled request recorded, so that
    // the user cannot request another one.
    let code = generate(&admin, "direct").await;
    assert!(is_code(&code));
    assert!(
        has_wallet(&node, "rooverse", "direct"),
        "the wallet opens with the code"
    );
    let (_, fulfilled) = admin.get("/v1/admin/codes/requests?status=fulfilled").await;
    assert_eq!(fulfilled["count"], 1);
    assert_eq!(fulfilled["requests"][0]["external_user_id"], "direct");
    let got = roo
        .post("/v1/codes/request", &j!({"external_user_id": "direct"}))
        .await;
    expect_error(got, StatusCode::CONFLICT, &["already requested"]);

    // A second code for the same user is 409, before and after redemption.
    let got = admin
        .post(
            "/v1/admin/codes/generate",
            &j!({"external_user_id": "direct"}),
        )
        .await;
    expect_error(got, StatusCode::CONFLICT, &["already generated"]);
    let (status, _) = roo
        .post(
            "/v1/codes/redeem",
            &j!({"external_user_id": "direct", "code": code}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let got = admin
        .post(
            "/v1/admin/codes/generate",
            &j!({"external_user_id": "direct"}),
        )
        .await;
    expect_error(got, StatusCode::CONFLICT, &["already generated"]);
    assert_eq!(count(&node, "SELECT count(*) FROM promo_codes"), 1);
    assert_eq!(roo.balance("direct").await, "5");

    // Codes are drawn at random: many users, all distinct, all well formed.
    let mut codes = std::collections::BTreeSet::new();
    for i in 0..30 {
        let code = generate(&admin, &format!("many-{i}")).await;
        assert!(is_code(&code), "{code}");
        codes.insert(code);
    }
    assert_eq!(codes.len(), 30);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_can_be_rejected_and_listed_by_status() {
    let node = node().await;
    let roo = Roo::server(&node, "rooverse");
    let admin = Roo::admin(&node, "rooverse");
    for user in ["first", "second", "third"] {
        let (status, _) = roo
            .post("/v1/codes/request", &j!({"external_user_id": user}))
            .await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let (_, all) = admin.get("/v1/admin/codes/requests").await;
    assert_eq!(all["count"], 3);
    let users: Vec<&str> = all["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["external_user_id"].as_str().unwrap())
        .collect();
    assert_eq!(users, ["first", "second", "third"], "oldest first");
    let second_id = all["requests"][1]["id"].as_str().unwrap().to_string();

    // Reject: 200 with the request; again 409; an unknown id 404.
    let path = format!("/v1/admin/codes/requests/{second_id}/reject");
    let (status, body) = admin.post_text(&path, &Value::Null).await;
    // `null` is not an object: the optional body must be empty or `{}`.
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) = super::reply_text(admin.post_raw(&path, "", &[]).await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["id"], second_id.as_str());
    assert_eq!(body["status"], "rejected");
    assert_eq!(body["external_user_id"], "second");
    let got = admin.post(&path, &j!({})).await;
    expect_error(got, StatusCode::CONFLICT, &["already rejected"]);
    let got = admin
        .post("/v1/admin/codes/requests/no-such-request/reject", &j!({}))
        .await;
    expect_error(got, StatusCode::NOT_FOUND, &["not found"]);

    let (_, rejected) = admin.get("/v1/admin/codes/requests?status=rejected").await;
    assert_eq!(rejected["count"], 1);
    assert_eq!(rejected["requests"][0]["external_user_id"], "second");
    let (_, pending) = admin.get("/v1/admin/codes/requests?status=pending").await;
    assert_eq!(pending["count"], 2);
    let (_, page) = admin
        .get("/v1/admin/codes/requests?status=pending&limit=1&page=2")
        .await;
    assert_eq!(page["count"], 2, "count is every match");
    assert_eq!(page["requests"].as_array().unwrap().len(), 1);
    assert_eq!(page["requests"][0]["external_user_id"], "third");
    let got = admin.get("/v1/admin/codes/requests?status=open").await;
    expect_error(got, StatusCode::BAD_REQUEST, &["status", "pending"]);

    // A rejected user cannot request again, but the admin may still decide to
    // generate their code; a fulfilled request cannot be rejected.
    let got = roo
        .post("/v1/codes/request", &j!({"external_user_id": "second"}))
        .await;
    expect_error(got, StatusCode::CONFLICT, &["already requested"]);
    generate(&admin, "second").await;
    let got = admin.post(&path, &j!({})).await;
    expect_error(got, StatusCode::CONFLICT, &["already fulfilled"]);
    let (_, rejected) = admin.get("/v1/admin/codes/requests?status=rejected").await;
    assert_eq!(rejected["count"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_promo_amount_is_the_tenants() {
    let node = TestNode::start(|c| {
        let mut t = roochip_tenant("generous");
        t.promo_code_credits = DecimalSetting::Text("2.50".into());
        c.tenants.push(t.into());
    })
    .await;
    let roo = Roo::server(&node, "generous");
    let admin = Roo::admin(&node, "generous");
    let (status, body) = admin
        .post("/v1/admin/codes/generate", &j!({"external_user_id": "u"}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(body["credits"].to_string(), "2.5");
    roo.reward("u", Value::from(100)).await;
    let (status, text) = roo
        .post_text(
            "/v1/codes/redeem",
            &j!({"external_user_id": "u", "code": body["code"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        text,
        r#"{"message":"2.5 ROO credits added to your account.","credits_issued":2.5,"new_balance":102.5}"#
    );
    let (status, body) = roo.post("/v1/checkout", &j!({})).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        body["message"],
        "Payment system coming soon! In the meantime, request a free 2.5-credit code."
    );
}
