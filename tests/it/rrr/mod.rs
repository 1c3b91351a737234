//! The RedRoomRewards dialect over real HTTP: a node with an `rrr` tenant, and a
//! client that behaves as XCN's backend does (field-notes §3): a bearer from
//! `POST /oauth/token`, `X-Client-Id`, `X-Request-Trace` and
//! `Content-Type: application/json` on every call, a fresh `Idempotency-Key` on every
//! POST.

mod awards;
mod flows;
mod habits;
mod idempotency;
pub mod promotions;
mod reports;
mod webhooks;

use rendezvous_credits::config::{sha256_hex, RrrTenant, TenantSettings};
use reqwest::header::HeaderMap;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::common::{within, TestNode};

/// The client id of the test tenant's client.
pub const CLIENT: &str = "xcn-backend";

/// The secret (in clear) of client `id`.
pub fn client_secret(id: &str) -> String {
    format!("rrr-test-secret-of-{id}")
}

/// The HS256 key of `SIGNED_JWT` link proofs of client `id`.
pub fn jwt_secret(id: &str) -> String {
    format!("jwt-key-of-{id}")
}

/// An active RRR tenant `id` with `clients` (each with [`client_secret`] and
/// [`jwt_secret`]) and the default settings, adjusted by `extra` (JSON keys
/// of the `[[tenants]]` entry).
pub fn rrr_tenant(id: &str, clients: &[&str], extra: Value) -> TenantSettings {
    let mut v = json!({
        "id": id,
        "rate_limit_rps": 100_000,
        "rate_limit_burst": 100_000,
        "clients": clients.iter().map(|c| json!({
            "client_id": c,
            "client_secret_sha256": sha256_hex(&client_secret(c)),
            "link_jwt_secret": jwt_secret(c),
        })).collect::<Vec<_>>(),
    });
    if let (Some(o), Some(extra)) = (v.as_object_mut(), extra.as_object()) {
        o.extend(extra.clone());
    }
    TenantSettings::Rrr(serde_json::from_value::<RrrTenant>(v).expect("rrr tenant settings"))
}

/// A node with one RRR tenant `xcn` and its client [`CLIENT`].
pub async fn node() -> TestNode {
    node_with(json!({})).await
}

/// [`node`] with tenant settings adjusted by `extra`, and a scheduler that runs every
/// 50 ms.
pub async fn node_with(extra: Value) -> TestNode {
    TestNode::start(|c| {
        c.jobs.interval_ms = 50;
        c.tenants.push(rrr_tenant("xcn", &[CLIENT], extra));
    })
    .await
}

/// An answer: status, headers, JSON body.
pub struct Reply {
    /// Status.
    pub status: StatusCode,
    /// Headers.
    pub headers: HeaderMap,
    /// Body (`Null` when empty).
    pub body: Value,
}

impl Reply {
    /// Asserts a canonical error with `status` and `code`; returns the message.
    pub fn error(&self, status: u16, code: &str) -> String {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.body);
        assert_eq!(self.body["error"]["code"], code, "body: {}", self.body);
        assert!(
            self.body["error"]["details"].is_object(),
            "details: {}",
            self.body
        );
        self.body["error"]["message"]
            .as_str()
            .expect("error.message")
            .to_string()
    }

    /// Asserts `status`; returns the body.
    pub fn ok(self, status: u16) -> Value {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.body);
        self.body
    }
}

/// XCN's backend, as a client of the node.
#[derive(Clone)]
pub struct Xcn {
    /// The node's base URL.
    pub base: String,
    /// HTTP.
    pub http: reqwest::Client,
    /// `X-Client-Id`.
    pub client_id: String,
    /// The bearer.
    pub token: String,
}

/// Sends `request` and reads the reply.
pub async fn send(request: reqwest::RequestBuilder) -> Reply {
    let res = within("rrr request", request.send())
        .await
        .expect("HTTP request");
    let status = res.status();
    let headers = res.headers().clone();
    let text = within("rrr body", res.text()).await.expect("body");
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{status}: not JSON ({e}): {text:?}"))
    };
    Reply {
        status,
        headers,
        body,
    }
}

impl Xcn {
    /// Gets a token for `client_id` (JSON body, as the real client does).
    pub async fn connect(node: &TestNode, client_id: &str) -> Xcn {
        let http = reqwest::Client::new();
        let token = send(http.post(node.url("/oauth/token")).json(&json!({
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": client_secret(client_id),
        })))
        .await
        .ok(200);
        assert_eq!(token["token_type"], "Bearer");
        assert!(token["expires_in"].as_u64().unwrap() > 300, "{token}");
        Xcn {
            base: node.base.clone(),
            http,
            client_id: client_id.to_string(),
            token: token["access_token"].as_str().unwrap().to_string(),
        }
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .header("X-Client-Id", &self.client_id)
            .header("X-Request-Trace", uuid::Uuid::new_v4().to_string())
            .header("Content-Type", "application/json")
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> Reply {
        send(self.request(reqwest::Method::GET, path)).await
    }

    /// `POST path` with a fresh `Idempotency-Key`.
    pub async fn post(&self, path: &str, body: &Value) -> Reply {
        self.post_key(path, &uuid::Uuid::new_v4().to_string(), body)
            .await
    }

    /// `POST path` with `body` as it is, and a fresh key.
    pub async fn post_raw(&self, path: &str, body: &str) -> Reply {
        send(
            self.request(reqwest::Method::POST, path)
                .header("Idempotency-Key", uuid::Uuid::new_v4().to_string())
                .body(body.to_string()),
        )
        .await
    }

    /// `POST path` with `key`.
    pub async fn post_key(&self, path: &str, key: &str, body: &Value) -> Reply {
        send(
            self.request(reqwest::Method::POST, path)
                .header("Idempotency-Key", key)
                .body(body.to_string()),
        )
        .await
    }

    /// `PATCH path` with a fresh key.
    pub async fn patch(&self, path: &str, body: &Value) -> Reply {
        send(
            self.request(reqwest::Method::PATCH, path)
                .header("Idempotency-Key", uuid::Uuid::new_v4().to_string())
                .body(body.to_string()),
        )
        .await
    }

    /// `DELETE path` with a fresh key.
    pub async fn delete(&self, path: &str) -> Reply {
        send(
            self.request(reqwest::Method::DELETE, path)
                .header("Idempotency-Key", uuid::Uuid::new_v4().to_string()),
        )
        .await
    }

    /// Links `user` (as `link_type`) with an `EMAIL_OTP` proof, proposing `member`
    /// when given; returns the member id.
    pub async fn link(&self, user: &str, link_type: &str, member: Option<&str>) -> String {
        let intent = self
            .post(
                "/v1/links/intents",
                &json!({"client_user_id": user, "link_type": link_type}),
            )
            .await
            .ok(201);
        let mut body = json!({
            "intent_id": intent["intent_id"],
            "client_user_id": user,
            "proof": {"method": "EMAIL_OTP", "assertion": intent["rrr_link_code"]},
        });
        if let Some(m) = member {
            body["rrr_member_id"] = json!(m);
        }
        let linked = self.post("/v1/links/confirm", &body).await.ok(200);
        assert_eq!(linked["status"], "ACTIVE");
        linked["rrr_member_id"].as_str().unwrap().to_string()
    }

    /// A POSTED earn of `points` for `order` (line 1); returns the answer.
    pub async fn earn(&self, user: &str, member: &str, order: &str, points: i64) -> Value {
        self.post("/v1/points/earn", &earn_body(user, member, order, points))
            .await
            .ok(201)
    }

    /// The member's wallet.
    pub async fn wallet(&self, member: &str) -> Value {
        self.get(&format!("/v1/members/{member}/wallet"))
            .await
            .ok(200)
    }

    /// The member's available points.
    pub async fn available(&self, member: &str) -> i64 {
        self.wallet(member).await["available_points"]
            .as_i64()
            .unwrap()
    }
}

/// An earn body: a token purchase of 19.99 USD for `points`.
pub fn earn_body(user: &str, member: &str, order: &str, points: i64) -> Value {
    json!({
        "client_user_id": user,
        "rrr_member_id": member,
        "source": {"event_type": "TOKEN_PURCHASE", "order_id": order, "line_id": "1"},
        "currency": "USD",
        "amount_minor": 1999,
        "points": points,
        "policy": {"posting_mode": "POSTED"},
    })
}
