//! The Roochip Lite dialect over real HTTP, as the Rooverse backend calls it
//! (roochip-lite-integration-guide.md): wallet routes, keys and tenants, packages,
//! checkout and IAP. Promo codes, money edge cases, idempotency, webhook events and
//! bad input are in the `roochip_*` modules.

#[path = "roochip_bad_input.rs"]
mod bad_input;
#[path = "roochip_codes.rs"]
mod codes;
#[path = "roochip_money.rs"]
mod money;

use reqwest::{header, StatusCode};
use serde_json::{json as j, Value};

use crate::common::{
    json, roochip_admin_key, roochip_server_key, roochip_tenant, within, TestNode,
};

/// A Rooverse backend: one tenant's key against one node.
pub struct Roo<'a> {
    /// The node.
    pub node: &'a TestNode,
    /// The `X-API-Key` sent (in clear).
    pub key: String,
}

impl<'a> Roo<'a> {
    /// The server key of tenant `id`.
    pub fn server(node: &'a TestNode, id: &str) -> Roo<'a> {
        Roo {
            node,
            key: roochip_server_key(id),
        }
    }

    /// The admin key of tenant `id`.
    pub fn admin(node: &'a TestNode, id: &str) -> Roo<'a> {
        Roo {
            node,
            key: roochip_admin_key(id),
        }
    }

    /// `GET path` with the key; status and raw body.
    pub async fn get_text(&self, path: &str) -> (StatusCode, String) {
        let res = within(
            path,
            self.node
                .http
                .get(self.node.url(path))
                .header("X-API-Key", &self.key)
                .send(),
        )
        .await
        .expect("HTTP request");
        reply_text(res).await
    }

    /// `GET path` with the key; status and JSON body.
    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        let (status, body) = self.get_text(path).await;
        (status, parse(status, &body))
    }

    /// `POST path` with the key, a raw body and extra headers; the response.
    pub async fn post_raw(
        &self,
        path: &str,
        body: impl Into<reqwest::Body>,
        headers: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut req = self
            .node
            .http
            .post(self.node.url(path))
            .header("X-API-Key", &self.key)
            .header(header::CONTENT_TYPE, "application/json")
            .body(body);
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        within(path, req.send()).await.expect("HTTP request")
    }

    /// `POST path` with the key and a JSON body; status and raw body.
    pub async fn post_text(&self, path: &str, body: &Value) -> (StatusCode, String) {
        reply_text(self.post_raw(path, body.to_string(), &[]).await).await
    }

    /// `POST path` with the key and a JSON body; status and JSON body.
    pub async fn post(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        let (status, text) = self.post_text(path, body).await;
        (status, parse(status, &text))
    }

    /// Rewards `credits` (a JSON number) to `user`; the new balance as printed.
    pub async fn reward(&self, user: &str, credits: Value) -> String {
        let (status, body) = self
            .post_text(
                &format!("/v1/users/{user}/reward"),
                &j!({"credits": credits, "reason": "test"}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "reward: {body}");
        let body: Value = serde_json::from_str(&body).unwrap();
        body["new_balance"].to_string()
    }

    /// The id of the package named `name` (`GET /v1/packages`).
    pub async fn package_id(&self, name: &str) -> String {
        let (status, body) = self.get("/v1/packages").await;
        assert_eq!(status, StatusCode::OK, "packages: {body}");
        body["packages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("no package {name} in {body}"))["id"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// The payloads of the tenant's outbox events (`credits.issued`), newest first.
    pub async fn events(&self, tenant: &str) -> Vec<Value> {
        let tenant = rendezvous_credits::ledger::TenantId::new(tenant).unwrap();
        self.node
            .running
            .ledger
            .read(move |r| {
                rendezvous_credits::webhooks::list_deliveries(r, Some(&tenant), None, 100, 0)
            })
            .await
            .unwrap()
            .into_iter()
            .map(|d| serde_json::from_str(&d.payload).unwrap())
            .collect()
    }

    /// The balance of `user` as printed on the wire (`5`, `0.01`).
    pub async fn balance(&self, user: &str) -> String {
        let (status, body) = self.get(&format!("/v1/users/{user}/balance")).await;
        assert_eq!(status, StatusCode::OK, "balance: {body}");
        assert_eq!(body["external_user_id"], user);
        body["balance"].to_string()
    }
}

/// Status and raw body of `res`.
pub async fn reply_text(res: reqwest::Response) -> (StatusCode, String) {
    let status = res.status();
    let body = within("response body", res.text()).await.expect("body");
    (status, body)
}

/// Parses a JSON body, failing with the status and text when it is not JSON.
pub fn parse(status: StatusCode, text: &str) -> Value {
    serde_json::from_str(text)
        .unwrap_or_else(|e| panic!("status {status}: body is not JSON ({e}): {text:?}"))
}

/// Checks a Roochip error: `status` and a body that is exactly `{"error": "<text>"}`
/// with a message containing every one of `mentions`. Returns the message.
pub fn expect_error(got: (StatusCode, Value), status: StatusCode, mentions: &[&str]) -> String {
    let (got_status, body) = got;
    assert_eq!(got_status, status, "body: {body}");
    let object = body
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {body}"));
    assert_eq!(object.len(), 1, "only `error` in {body}");
    let message = body["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no error message in {body}"))
        .to_string();
    assert!(!message.is_empty());
    for m in mentions {
        assert!(message.contains(m), "{message:?} should mention {m:?}");
    }
    message
}

/// Reads one number from the node's ledger.
pub fn count(node: &TestNode, sql: &str) -> i64 {
    crate::common::sql_i64(&node.config, sql, &[])
}

/// Whether `tenant` has a wallet for `user`.
pub fn has_wallet(node: &TestNode, tenant: &str, user: &str) -> bool {
    !crate::common::sql(
        &node.config,
        "SELECT 1 FROM credit_accounts WHERE tenant_id = $1 AND holder = $2",
        &[tenant, user],
    )
    .is_empty()
}

/// A node with one Roochip tenant, `rooverse`.
pub async fn node() -> TestNode {
    TestNode::start(|c| c.tenants.push(roochip_tenant("rooverse").into())).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wallet_routes_answer_the_spec_shapes() {
    let node = node().await;
    let roo = Roo::server(&node, "rooverse");
    let user = "rooverse-user-123";

    // A user never seen has balance 0, and reading it writes nothing.
    let (status, body) = roo.get(&format!("/v1/users/{user}/balance")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["external_user_id"], user);
    assert_eq!(body["balance"], 0);
    assert!(
        body["updated_at"].as_str().unwrap().ends_with('Z'),
        "{body}"
    );
    assert!(!has_wallet(&node, "rooverse", user));

    // Reward, exactly the spec's answer.
    let (status, body) = roo
        .post_text(
            &format!("/v1/users/{user}/reward"),
            &j!({"credits": 120.00, "reason": "referral_bonus", "reference_id": "ref-1"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        r#"{"external_user_id":"rooverse-user-123","credits_rewarded":120,"new_balance":120}"#
    );
    assert!(has_wallet(&node, "rooverse", user));
    let (_, body) = roo
        .post_text(
            &format!("/v1/users/{user}/reward"),
            &j!({"credits": 0.01, "reason": "like", "reference_id": "post-uuid-abc"}),
        )
        .await;
    assert_eq!(
        body,
        r#"{"external_user_id":"rooverse-user-123","credits_rewarded":0.01,"new_balance":120.01}"#
    );

    // Deduct, exactly the spec's answer.
    let (status, body) = roo
        .post_text(
            &format!("/v1/users/{user}/deduct"),
            &j!({"credits": 10.00, "reason": "ai_generation", "reference_id": "rooverse-job-abc123"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        r#"{"external_user_id":"rooverse-user-123","credits_deducted":10,"new_balance":110.01}"#
    );

    // Balance.
    let (status, body) = roo.get(&format!("/v1/users/{user}/balance")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["balance"].to_string(), "110.01");
    let updated_at = body["updated_at"].as_str().unwrap();
    assert!(
        updated_at.ends_with('Z') && updated_at.parse::<jiff::Timestamp>().is_ok(),
        "{updated_at}"
    );
    assert_eq!(body.as_object().unwrap().len(), 3, "{body}");

    // History: newest first, typed, signed, with balances before and after.
    let (status, body) = roo.get(&format!("/v1/users/{user}/transactions")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["external_user_id"], user);
    assert_eq!(body["total"], 3);
    assert_eq!(body["page"], 1);
    assert_eq!(body["limit"], 20);
    let entries = body["entries"].as_array().unwrap();
    let summary: Vec<String> = entries
        .iter()
        .map(|e| {
            format!(
                "{} {} {} {} {} {}",
                e["type"].as_str().unwrap(),
                e["credits_delta"],
                e["balance_before"],
                e["balance_after"],
                e["reason"].as_str().unwrap(),
                e["reference_id"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            "deduction -10 120.01 110.01 ai_generation rooverse-job-abc123",
            "reward 0.01 120 120.01 like post-uuid-abc",
            "reward 120 0 120 referral_bonus ref-1",
        ]
    );
    assert!(entries[0]["created_at"].as_str().unwrap().ends_with('Z'));
    assert!(entries[0]["id"].as_i64().unwrap() > entries[1]["id"].as_i64().unwrap());
    node.verify();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_pages_newest_first_and_checks_its_query() {
    let node = node().await;
    let roo = Roo::server(&node, "rooverse");
    for i in 1..=25 {
        let (status, body) = roo
            .post(
                "/v1/users/pager/reward",
                &j!({"credits": i, "reason": format!("r{i}")}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let reasons = |body: &Value| -> Vec<String> {
        body["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["reason"].as_str().unwrap().to_string())
            .collect()
    };
    let (_, first) = roo.get("/v1/users/pager/transactions").await;
    assert_eq!(first["total"], 25);
    assert_eq!(reasons(&first).len(), 20);
    assert_eq!(reasons(&first)[0], "r25");
    assert_eq!(reasons(&first)[19], "r6");
    let (_, second) = roo.get("/v1/users/pager/transactions?page=2").await;
    assert_eq!(reasons(&second), ["r5", "r4", "r3", "r2", "r1"]);
    assert_eq!(second["page"], 2);
    let (_, third) = roo.get("/v1/users/pager/transactions?page=3&limit=5").await;
    assert_eq!(reasons(&third), ["r15", "r14", "r13", "r12", "r11"]);
    assert_eq!(third["limit"], 5);
    let (_, past) = roo.get("/v1/users/pager/transactions?page=9").await;
    assert_eq!(reasons(&past).len(), 0);
    assert_eq!(past["total"], 25);
    let (_, unknown) = roo.get("/v1/users/nobody/transactions").await;
    assert_eq!(unknown["total"], 0);
    assert!(!has_wallet(&node, "rooverse", "nobody"));

    for (query, field) in [
        ("page=0", "page"),
        ("page=-1", "page"),
        ("page=x", "page"),
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=2.5", "limit"),
        ("limitt=5", "limitt"),
    ] {
        let got = roo
            .get(&format!("/v1/users/pager/transactions?{query}"))
            .await;
        let message = expect_error(got, StatusCode::BAD_REQUEST, &[field]);
        assert!(!message.contains("pager"), "{message}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deduct_over_the_balance_is_402_and_writes_nothing() {
    let node = node().await;
    let roo = Roo::server(&node, "rooverse");
    let body = j!({"credits": 10, "reason": "ai_generation"});
    let (status, text) = roo.post_text("/v1/users/broke/deduct", &body).await;
    assert_eq!(status, StatusCode::PAYMENT_REQUIRED);
    assert_eq!(text, r#"{"error":"Insufficient credits"}"#);
    assert!(
        !has_wallet(&node, "rooverse", "broke"),
        "a refused deduct opens nothing"
    );

    roo.reward("broke", j!(9.99)).await;
    let entries = node.entry_total();
    let (status, text) = roo.post_text("/v1/users/broke/deduct", &body).await;
    assert_eq!(status, StatusCode::PAYMENT_REQUIRED);
    assert_eq!(text, r#"{"error":"Insufficient credits"}"#);
    assert_eq!(node.entry_total(), entries);
    assert_eq!(roo.balance("broke").await, "9.99");
    let (status, _) = roo
        .post(
            "/v1/users/broke/deduct",
            &j!({"credits": 9.99, "reason": "all of it"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(roo.balance("broke").await, "0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_are_checked_401_and_403() {
    let node = TestNode::start(|c| {
        c.tenants.push(roochip_tenant("rooverse").into());
        let mut asleep = roochip_tenant("asleep");
        asleep.active = false;
        c.tenants.push(asleep.into());
    })
    .await;
    let user_routes: Vec<(bool, String)> = vec![
        (false, "/v1/users/u1/balance".into()),
        (false, "/v1/users/u1/transactions".into()),
        (true, "/v1/users/u1/deduct".into()),
        (true, "/v1/users/u1/reward".into()),
        (false, "/v1/packages".into()),
        (true, "/v1/checkout".into()),
        (true, "/v1/codes/request".into()),
        (true, "/v1/codes/redeem".into()),
        (true, "/iap/apple".into()),
        (true, "/iap/google".into()),
        (false, "/v1/admin/codes/requests".into()),
        (true, "/v1/admin/codes/generate".into()),
        (true, "/v1/admin/codes/requests/r1/reject".into()),
    ];
    let body = j!({"credits": 1, "reason": "x"}).to_string();
    for (post, path) in &user_routes {
        let send = |key: Option<&str>| {
            let mut req = if *post {
                node.http.post(node.url(path)).body(body.clone())
            } else {
                node.http.get(node.url(path))
            };
            if let Some(key) = key {
                req = req.header("X-API-Key", key);
            }
            req.send()
        };
        let missing = json(within(path, send(None)).await.unwrap()).await;
        expect_error(missing, StatusCode::UNAUTHORIZED, &["X-API-Key"]);
        let empty = json(within(path, send(Some(""))).await.unwrap()).await;
        expect_error(empty, StatusCode::UNAUTHORIZED, &["API key"]);
        let wrong = json(within(path, send(Some("rc_test_not_a_key"))).await.unwrap()).await;
        expect_error(wrong, StatusCode::UNAUTHORIZED, &["Invalid API key"]);
        for inactive in [roochip_server_key("asleep"), roochip_admin_key("asleep")] {
            let got = json(within(path, send(Some(&inactive))).await.unwrap()).await;
            expect_error(got, StatusCode::FORBIDDEN, &["inactive"]);
        }
    }
    assert_eq!(node.entry_total(), 0);

    // A server key on an admin route is 403; the admin key works on both kinds.
    let server = Roo::server(&node, "rooverse");
    let admin = Roo::admin(&node, "rooverse");
    let got = server.get("/v1/admin/codes/requests").await;
    expect_error(got, StatusCode::FORBIDDEN, &["admin"]);
    let got = server
        .post("/v1/admin/codes/generate", &j!({"external_user_id": "u1"}))
        .await;
    expect_error(got, StatusCode::FORBIDDEN, &["admin"]);
    let got = server
        .post("/v1/admin/codes/requests/r1/reject", &j!({}))
        .await;
    expect_error(got, StatusCode::FORBIDDEN, &["admin"]);
    assert_eq!(count(&node, "SELECT count(*) FROM promo_codes"), 0);
    let (status, body) = admin.get("/v1/admin/codes/requests").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(admin.reward("u1", j!(1)).await, "1");
    assert_eq!(server.balance("u1").await, "1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn packages_checkout_and_iap() {
    let node = TestNode::start(|c| {
        c.tenants.push(roochip_tenant("rooverse").into());
        let mut other = roochip_tenant("other");
        other.packages[1].active = false;
        other.packages[0].id = Some("starter-configured".into());
        c.tenants.push(other.into());
    })
    .await;
    let roo = Roo::server(&node, "rooverse");
    let (status, text) = roo.get_text("/v1/packages").await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let body = parse(status, &text);
    let packages = body["packages"].as_array().unwrap();
    let shown: Vec<String> = packages
        .iter()
        .map(|p| {
            format!(
                "{} {} {} {}",
                p["name"].as_str().unwrap(),
                p["credits_to_issue"],
                p["price_amount"],
                p["currency"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        shown,
        [
            "Starter Pack 10 1000 usd",
            "Popular Pack 25 2500 usd",
            "Premium Pack 50 5000 usd"
        ]
    );
    assert!(
        text.contains(r#""credits_to_issue":10,"price_amount":1000"#),
        "{text}"
    );
    let ids: Vec<&str> = packages.iter().map(|p| p["id"].as_str().unwrap()).collect();
    for id in &ids {
        uuid::Uuid::parse_str(id).unwrap_or_else(|e| panic!("{id}: {e}"));
    }
    assert_eq!(roo.get("/v1/packages").await.1, body, "ids are stable");
    let (_, other) = Roo::server(&node, "other").get("/v1/packages").await;
    let other_ids: Vec<&str> = other["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(other_ids.len(), 2, "the inactive package is not listed");
    assert_eq!(other_ids[0], "starter-configured");
    assert_ne!(other_ids[1], ids[2], "derived ids differ between tenants");

    // Checkout: exactly the spec's Phase 1 answer, whatever the body.
    for body in [
        j!({"external_user_id": "u1", "package_id": ids[0]}).to_string(),
        String::new(),
        "not json".to_string(),
    ] {
        let (status, text) = reply_text(roo.post_raw("/v1/checkout", body, &[]).await).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            text,
            r#"{"status":"coming_soon","message":"Payment system coming soon! In the meantime, request a free 5-credit code.","request_code_endpoint":"POST /v1/codes/request"}"#
        );
    }

    // In-app purchases: 503 with a clear message, nothing issued.
    let receipt = j!({"external_user_id": "u1", "receipt_data": "base64", "package_id": ids[0], "tenant_id": "rooverse"});
    let got = roo.post("/iap/apple", &receipt).await;
    expect_error(
        got,
        StatusCode::SERVICE_UNAVAILABLE,
        &["Apple", "not available"],
    );
    let got = roo.post("/iap/google", &receipt).await;
    expect_error(
        got,
        StatusCode::SERVICE_UNAVAILABLE,
        &["Google", "not available"],
    );
    assert_eq!(node.entry_total(), 0);
    assert!(!has_wallet(&node, "rooverse", "u1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenants_never_see_each_others_wallets() {
    let node = TestNode::start(|c| {
        c.tenants.push(roochip_tenant("alpha").into());
        c.tenants.push(roochip_tenant("beta").into());
    })
    .await;
    let alpha = Roo::server(&node, "alpha");
    let beta = Roo::server(&node, "beta");
    let user = "same-user";
    assert_eq!(alpha.reward(user, j!(10)).await, "10");
    assert_eq!(beta.reward(user, j!(3)).await, "3");
    assert_eq!(alpha.balance(user).await, "10");
    assert_eq!(beta.balance(user).await, "3");

    // Beta cannot spend alpha's credits, and alpha's history holds only its own.
    let got = beta
        .post(
            &format!("/v1/users/{user}/deduct"),
            &j!({"credits": 5, "reason": "x"}),
        )
        .await;
    expect_error(got, StatusCode::PAYMENT_REQUIRED, &["Insufficient credits"]);
    let (_, history) = alpha.get(&format!("/v1/users/{user}/transactions")).await;
    assert_eq!(history["total"], 1);
    assert_eq!(history["entries"][0]["credits_delta"], 10);

    // Codes and requests belong to their tenant.
    let (status, _) = Roo::admin(&node, "alpha")
        .post("/v1/admin/codes/generate", &j!({"external_user_id": user}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, alpha_requests) = Roo::admin(&node, "alpha")
        .get("/v1/admin/codes/requests")
        .await;
    let (_, beta_requests) = Roo::admin(&node, "beta")
        .get("/v1/admin/codes/requests")
        .await;
    assert_eq!(alpha_requests["count"], 1);
    assert_eq!(beta_requests["count"], 0);
    let (status, _) = beta
        .post("/v1/codes/request", &j!({"external_user_id": user}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "beta's user may still request");

    // Goop2 keeps working beside them, with its own tenant.
    let peer = node.peer().await;
    assert_eq!(node.grant(&peer.id, 70).await, 70);
    assert_eq!(peer.balance().await, 70);
    assert_eq!(alpha.balance(user).await, "10");
    assert_eq!(
        count(
            &node,
            "SELECT count(DISTINCT tenant_id) FROM credit_accounts"
        ),
        3
    );
    node.verify();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_paths_and_methods_answer_roochip_errors() {
    let node = node().await;
    let roo = Roo::server(&node, "rooverse");
    let got = roo.get("/v1/users/u1/deduct").await;
    expect_error(got, StatusCode::METHOD_NOT_ALLOWED, &["GET"]);
    let got = roo.post("/v1/users/u1/balance", &j!({})).await;
    expect_error(got, StatusCode::METHOD_NOT_ALLOWED, &["POST"]);
    let got = roo.get("/v1/users/u1/wallet").await;
    expect_error(got, StatusCode::NOT_FOUND, &["/v1/users/u1/wallet"]);
    let got = roo.get("/v1/codes/list").await;
    expect_error(got, StatusCode::NOT_FOUND, &["No route"]);
    let got = roo.get("/v1/checkout").await;
    expect_error(got, StatusCode::METHOD_NOT_ALLOWED, &["GET"]);

    // The OpenAPI document lists every Roochip route.
    let (status, doc) = json(node.get("/openapi.json").await).await;
    assert_eq!(status, StatusCode::OK);
    for path in [
        "/v1/users/{external_user_id}/balance",
        "/v1/users/{external_user_id}/transactions",
        "/v1/users/{external_user_id}/deduct",
        "/v1/users/{external_user_id}/reward",
        "/v1/packages",
        "/v1/checkout",
        "/v1/codes/request",
        "/v1/codes/redeem",
        "/v1/admin/codes/requests",
        "/v1/admin/codes/generate",
        "/v1/admin/codes/requests/{id}/reject",
        "/iap/apple",
        "/iap/google",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} is not documented");
    }
    assert_eq!(
        doc["components"]["securitySchemes"]["api_key"]["name"],
        "X-API-Key"
    );
}
