//! Real-money purchases through Stripe, against an in-process fake of Stripe's API
//! (an actix server answering `POST /v1/checkout/sessions` with Stripe's JSON, and
//! recording what the node sent) and events signed the way Stripe signs them
//! (`Stripe-Signature: t=…,v1=hex(HMAC-SHA256(secret, "{t}.{body}"))`).

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use hmac::{Hmac, Mac};
use rendezvous_credits::config::{Config, TenantSettings};
use rendezvous_credits::ledger::TenantId;
use rendezvous_credits::payments::stripe::StripeSettings;
use reqwest::StatusCode;
use serde_json::{json, Value};
use sha2::Sha256;

use crate::common::{json, roochip_server_key, roochip_tenant, run_cli, TestNode};
use crate::roochip::Roo;

const SIGNING_SECRET: &str = "whsec_test_0123456789abcdef";
const SECRET_KEY: &str = "sk_test_fake_0123456789";
/// The seed "Starter Pack": 10 ROO for $10.00.
const STARTER: &str = "Starter Pack";

/// What the fake saw of one request.
#[derive(Debug, Clone)]
struct Seen {
    authorization: String,
    idempotency_key: Option<String>,
    form: Vec<(String, String)>,
}

impl Seen {
    fn field(&self, key: &str) -> Option<&str> {
        self.form
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// The fake Stripe API: Checkout Sessions only.
struct FakeStripe {
    base: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    fail: Arc<AtomicBool>,
    server: actix_web::dev::ServerHandle,
}

#[derive(Clone)]
struct FakeState {
    seen: Arc<Mutex<Vec<Seen>>>,
    fail: Arc<AtomicBool>,
    next: Arc<AtomicU32>,
}

async fn create_session(
    state: web::Data<FakeState>,
    req: HttpRequest,
    form: web::Form<Vec<(String, String)>>,
) -> HttpResponse {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let seen = Seen {
        authorization: header("authorization").unwrap_or_default(),
        idempotency_key: header("idempotency-key"),
        form: form.into_inner(),
    };
    state.seen.lock().unwrap().push(seen.clone());
    if state.fail.load(Ordering::SeqCst) {
        return HttpResponse::PaymentRequired().json(json!({"error": {
            "type": "invalid_request_error", "message": "Your account cannot currently make live charges."
        }}));
    }
    let n = state.next.fetch_add(1, Ordering::SeqCst);
    let id = format!("cs_test_{n:04}");
    let meta = |k: &str| {
        seen.field(&format!("metadata[{k}]"))
            .unwrap_or("")
            .to_string()
    };
    let amount: i64 = seen
        .field("line_items[0][price_data][unit_amount]")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut s = session(
        &id,
        &meta("tenant"),
        &meta("account"),
        &meta("package"),
        amount,
        seen.field("line_items[0][price_data][currency]")
            .unwrap_or("usd"),
        "unpaid",
        None,
    );
    s["status"] = json!("open");
    s["url"] = json!(format!("https://checkout.stripe.test/c/pay/{id}"));
    HttpResponse::Ok().json(s)
}

impl FakeStripe {
    async fn start() -> FakeStripe {
        let state = FakeState {
            seen: Arc::default(),
            fail: Arc::default(),
            next: Arc::new(AtomicU32::new(1)),
        };
        let shared = state.clone();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(web::Data::new(shared.clone()))
                .route("/v1/checkout/sessions", web::post().to(create_session))
        })
        .workers(1)
        .disable_signals()
        .bind("127.0.0.1:0")
        .expect("bind the fake Stripe");
        let addr = server.addrs()[0];
        let server = server.run();
        let handle = server.handle();
        tokio::spawn(server);
        FakeStripe {
            base: format!("http://{addr}/"),
            seen: state.seen,
            fail: state.fail,
            server: handle,
        }
    }

    fn settings(&self) -> StripeSettings {
        StripeSettings {
            secret_key: SECRET_KEY.into(),
            webhook_signing_secret: SIGNING_SECRET.into(),
            success_url: "https://rendezvous.example/credits/thanks".into(),
            cancel_url: "https://rendezvous.example/credits".into(),
            api_base: self.base.clone(),
        }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for FakeStripe {
    fn drop(&mut self) {
        let handle = self.server.clone();
        tokio::spawn(async move { handle.stop(false).await });
    }
}

/// A `checkout.session` object as Stripe's API version 2023-10-16 sends it.
#[allow(clippy::too_many_arguments)]
fn session(
    id: &str,
    tenant: &str,
    account: &str,
    package: &str,
    amount: i64,
    currency: &str,
    payment_status: &str,
    payment_intent: Option<&str>,
) -> Value {
    json!({
        "id": id,
        "object": "checkout.session",
        "amount_subtotal": amount,
        "amount_total": amount,
        "automatic_tax": {"enabled": false, "status": null},
        "cancel_url": "https://rendezvous.example/credits",
        "client_reference_id": account,
        "created": unix_now(),
        "currency": currency,
        "custom_fields": [],
        "custom_text": {"shipping_address": null, "submit": null},
        "expires_at": unix_now() + 86400,
        "livemode": false,
        "metadata": {"tenant": tenant, "account": account, "package": package},
        "mode": "payment",
        "payment_intent": payment_intent,
        "payment_method_types": ["card"],
        "payment_status": payment_status,
        "shipping_options": [],
        "status": "complete",
        "success_url": "https://rendezvous.example/credits/thanks",
        "url": null
    })
}

/// A `charge` object: `amount` charged, `refunded` of it refunded so far.
fn charge(intent: &str, amount: i64, refunded: i64) -> Value {
    json!({
        "id": format!("ch_{intent}"),
        "object": "charge",
        "amount": amount,
        "amount_captured": amount,
        "amount_refunded": refunded,
        "billing_details": {"address": null, "email": null, "name": null, "phone": null},
        "captured": true,
        "created": unix_now(),
        "currency": "usd",
        "disputed": false,
        "livemode": false,
        "metadata": {},
        "paid": true,
        "payment_intent": intent,
        "receipt_url": format!("https://pay.stripe.test/receipts/{intent}"),
        "refunded": refunded == amount,
        "status": "succeeded"
    })
}

/// A `dispute` object on the charge of `intent`.
fn dispute(intent: &str, amount: i64, status: &str) -> Value {
    json!({
        "id": format!("dp_{intent}"),
        "object": "dispute",
        "amount": amount,
        "balance_transactions": [],
        "charge": format!("ch_{intent}"),
        "created": unix_now(),
        "currency": "usd",
        "evidence": {},
        "evidence_details": {"due_by": null, "has_evidence": false, "past_due": false, "submission_count": 0},
        "is_charge_refundable": false,
        "livemode": false,
        "metadata": {},
        "payment_intent": intent,
        "reason": "fraudulent",
        "status": status
    })
}

/// An event wrapping `object`.
fn event(id: &str, kind: &str, object: Value) -> String {
    json!({
        "id": id,
        "object": "event",
        "api_version": "2023-10-16",
        "created": unix_now(),
        "data": {"object": object},
        "livemode": false,
        "pending_webhooks": 1,
        "request": {"id": null, "idempotency_key": null},
        "type": kind
    })
    .to_string()
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// `Stripe-Signature` of `body` at `t` under `secret`.
fn signature(body: &str, t: i64, secret: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.{body}").as_bytes());
    format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// POSTs `body` to the tenant's Stripe webhook with `signature` (None: no header).
async fn post_event(
    node: &TestNode,
    tenant: &str,
    body: &str,
    signature: Option<String>,
) -> (StatusCode, Value) {
    let mut req = node
        .http
        .post(node.url(&format!("/webhooks/stripe/{tenant}")))
        .header("Content-Type", "application/json")
        .body(body.to_string());
    if let Some(s) = signature {
        req = req.header("Stripe-Signature", s);
    }
    json(req.send().await.expect("webhook request")).await
}

/// Delivers `body` signed now with the right secret; expects 200 and returns the
/// outcome.
async fn deliver(node: &TestNode, tenant: &str, body: &str) -> String {
    let (status, answer) = post_event(
        node,
        tenant,
        body,
        Some(signature(body, unix_now(), SIGNING_SECRET)),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["received"], true, "{answer}");
    answer["outcome"].as_str().unwrap().to_string()
}

/// A node with a Roochip tenant `rooverse` selling through `stripe`, its webhook
/// URL pointing nowhere (events stay in the outbox), and Goop2 selling through it
/// too.
async fn node_with(stripe: &FakeStripe, configure: impl FnOnce(&mut Config)) -> TestNode {
    let mut t = roochip_tenant("rooverse");
    t.stripe = Some(Box::new(stripe.settings()));
    t.webhook_url = "http://127.0.0.1:9/roochip".into();
    t.webhook_secret = "rooverse-webhook-secret".into();
    let settings = stripe.settings();
    TestNode::start(move |c| {
        c.tenants = vec![TenantSettings::Roochip(t)];
        c.goop2.stripe = Some(settings);
        configure(c);
    })
    .await
}

async fn admin_payments(node: &TestNode, query: &str) -> Vec<Value> {
    let (status, body) = json(
        node.http
            .get(node.url(&format!("/admin/payments{query}")))
            .bearer_auth(&node.admin_token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["payments"].as_array().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roochip_checkout_opens_a_stripe_session_and_its_webhook_credits_once() {
    let stripe = FakeStripe::start().await;
    let node = node_with(&stripe, |_| {}).await;
    let starter = Roo::server(&node, "rooverse").package_id(STARTER).await;

    let (status, body) = json(
        node.http
            .post(node.url("/v1/checkout"))
            .header("X-API-Key", roochip_server_key("rooverse"))
            .header("Idempotency-Key", "buy-1")
            .json(&json!({"external_user_id": "user-7", "package_id": starter}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let session_id = body["session_id"].as_str().unwrap().to_string();
    assert_eq!(
        body["checkout_url"],
        format!("https://checkout.stripe.test/c/pay/{session_id}")
    );
    // What the node asked Stripe for.
    let seen = stripe.seen();
    assert_eq!(seen.len(), 1);
    let s = &seen[0];
    assert_eq!(s.authorization, format!("Bearer {SECRET_KEY}"));
    assert_eq!(s.idempotency_key.as_deref(), Some("rooverse:buy-1"));
    for (key, value) in [
        ("mode", "payment"),
        ("line_items[0][quantity]", "1"),
        ("line_items[0][price_data][unit_amount]", "1000"),
        ("line_items[0][price_data][currency]", "usd"),
        ("line_items[0][price_data][product_data][name]", STARTER),
        ("client_reference_id", "user-7"),
        ("metadata[tenant]", "rooverse"),
        ("metadata[account]", "user-7"),
        ("metadata[package]", starter.as_str()),
        ("success_url", "https://rendezvous.example/credits/thanks"),
        ("cancel_url", "https://rendezvous.example/credits"),
    ] {
        assert_eq!(s.field(key), Some(value), "{key} in {:?}", s.form);
    }
    // Recorded as open: nothing credited by opening a checkout.
    let open = admin_payments(&node, "").await;
    assert_eq!(open.len(), 1);
    assert_eq!(open[0]["status"], "open");
    assert_eq!(open[0]["external_id"], session_id);
    assert_eq!(Roo::server(&node, "rooverse").balance("user-7").await, "0");

    let paid = session(
        &session_id,
        "rooverse",
        "user-7",
        &starter,
        1000,
        "usd",
        "paid",
        Some("pi_7"),
    );
    let completed = event("evt_1", "checkout.session.completed", paid.clone());
    assert_eq!(deliver(&node, "rooverse", &completed).await, "credited");
    assert_eq!(Roo::server(&node, "rooverse").balance("user-7").await, "10");
    // Stripe retries the same event, and sends the async success for the same session:
    // neither credits again.
    assert_eq!(deliver(&node, "rooverse", &completed).await, "credited");
    let again = event("evt_2", "checkout.session.async_payment_succeeded", paid);
    assert_eq!(deliver(&node, "rooverse", &again).await, "already_credited");
    assert_eq!(Roo::server(&node, "rooverse").balance("user-7").await, "10");

    // The ledger: one purchase entry; the event: payment_source stripe.
    let (_, history) = Roo::server(&node, "rooverse")
        .get("/v1/users/user-7/transactions")
        .await;
    let entries = history["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{history}");
    assert_eq!(entries[0]["type"], "purchase");
    assert_eq!(entries[0]["credits_delta"], 10);
    let events = Roo::server(&node, "rooverse").events("rooverse").await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["event"], "credits.issued");
    assert_eq!(events[0]["payment_source"], "stripe");
    assert_eq!(events[0]["credits_issued"], 10);
    assert_eq!(events[0]["new_balance"], 10);

    let listed = admin_payments(&node, "?provider=stripe&tenant=rooverse").await;
    assert_eq!(listed[0]["status"], "credited");
    assert_eq!(listed[0]["credits"], 1000, "hundredths of ROO");
    assert_eq!(listed[0]["amount"], 1000, "cents");
    assert_eq!(listed[0]["order_ref"], "pi_7");

    // Stripe's receipt is kept where Stripe gives one.
    let succeeded = event("evt_3", "charge.succeeded", charge("pi_7", 1000, 0));
    assert_eq!(
        deliver(&node, "rooverse", &succeeded).await,
        "receipt_stored"
    );
    let listed = admin_payments(&node, "").await;
    assert_eq!(
        listed[0]["receipt_url"],
        "https://pay.stripe.test/receipts/pi_7"
    );

    // The counter is the process's (other tests credit too): at least this one.
    let metrics = node.get("/metrics").await.text().await.unwrap();
    let credited = metrics
        .lines()
        .find_map(|l| l.strip_prefix(r#"payments_total{provider="stripe",outcome="credited"} "#))
        .and_then(|v| v.parse::<u64>().ok());
    assert!(credited >= Some(1), "{metrics}");
    assert!(node.verify().entries >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roochip_checkout_errors_and_the_phase_one_answer_without_stripe() {
    let stripe = FakeStripe::start().await;
    let node = node_with(&stripe, |_| {}).await;
    let starter = Roo::server(&node, "rooverse").package_id(STARTER).await;
    for (body, status, mention) in [
        (
            json!({"external_user_id": "u", "package_id": "nope"}),
            404,
            "Package not found",
        ),
        (
            json!({"external_user_id": "", "package_id": starter}),
            400,
            "external_user_id",
        ),
        (json!({"external_user_id": "u"}), 400, "package_id"),
        (
            json!({"external_user_id": "u", "package_id": starter, "x": 1}),
            400,
            "x",
        ),
    ] {
        let (got, answer) = Roo::server(&node, "rooverse")
            .post("/v1/checkout", &body)
            .await;
        assert_eq!(got.as_u16(), status, "{body} → {answer}");
        assert!(
            answer["error"].as_str().unwrap().contains(mention),
            "{answer}"
        );
    }
    // Stripe refuses: 502, nothing recorded.
    stripe.fail.store(true, Ordering::SeqCst);
    let (got, answer) = Roo::server(&node, "rooverse")
        .post(
            "/v1/checkout",
            &json!({"external_user_id": "u", "package_id": starter}),
        )
        .await;
    assert_eq!(got, StatusCode::BAD_GATEWAY, "{answer}");
    assert!(answer["error"]
        .as_str()
        .unwrap()
        .contains("no payment was taken"));
    assert!(admin_payments(&node, "").await.is_empty());
    assert_eq!(
        stripe.seen().len(),
        1,
        "only the refused call reached Stripe"
    );

    // A tenant without [tenants.stripe] keeps the guide's 503.
    let plain = TestNode::start(|c| {
        c.tenants = vec![TenantSettings::Roochip(roochip_tenant("rooverse"))];
    })
    .await;
    let (got, answer) = Roo::server(&plain, "rooverse")
        .post(
            "/v1/checkout",
            &json!({"external_user_id": "u", "package_id": starter}),
        )
        .await;
    assert_eq!(got, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(answer["status"], "coming_soon");
    // And its webhook has no tenant to credit.
    let body = event("evt_x", "checkout.session.completed", json!({}));
    let (got, _) = post_event(
        &plain,
        "rooverse",
        &body,
        Some(signature(&body, unix_now(), SIGNING_SECRET)),
    )
    .await;
    assert_eq!(got, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn goop2_sells_bundles_through_stripe_as_buy_entries() {
    let stripe = FakeStripe::start().await;
    let node = node_with(&stripe, |_| {}).await;
    let (status, bundles) = json(node.get("/api/credits/bundles").await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        bundles,
        json!({"bundles": [
            {"id": "credits-500", "credits": 500, "price_amount": 499, "currency": "usd"},
            {"id": "credits-1200", "credits": 1200, "price_amount": 999, "currency": "usd"},
            {"id": "credits-3000", "credits": 3000, "price_amount": 1999, "currency": "usd"}
        ], "checkout_available": true})
    );
    let peer = node.peer().await;
    let peer_id = peer.id.to_string();
    let res = peer
        .post("/api/credits/checkout", &json!({"bundle": "credits-1200"}))
        .await;
    let (status, body) = json(res).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let session_id = body["session_id"].as_str().unwrap().to_string();
    let s = &stripe.seen()[0];
    assert_eq!(s.field("metadata[tenant]"), Some("goop2"));
    assert_eq!(s.field("metadata[account]"), Some(peer_id.as_str()));
    assert_eq!(s.field("metadata[package]"), Some("credits-1200"));
    assert_eq!(
        s.field("line_items[0][price_data][unit_amount]"),
        Some("999")
    );
    assert!(s.idempotency_key.is_some());

    // The peer client's command prints the page to open.
    let key = node.config.server.data_dir.join("cli-peer.key");
    let (ok, out) = run_cli([
        "peer".to_string(),
        "--node".into(),
        node.base.clone(),
        "--key".into(),
        key.display().to_string(),
        "buy-credits".into(),
        "credits-500".into(),
    ]);
    assert!(ok, "{out}");
    assert!(
        out.contains("https://checkout.stripe.test/c/pay/cs_test_"),
        "{out}"
    );
    assert_eq!(
        stripe.seen()[1].field("metadata[package]"),
        Some("credits-500")
    );
    let (ok, out) = run_cli([
        "peer".to_string(),
        "--node".into(),
        node.base.clone(),
        "--key".into(),
        key.display().to_string(),
        "buy-credits".into(),
        "credits-7".into(),
    ]);
    assert!(!ok && out.contains("404"), "{out}");

    let (status, body) = json(
        peer.post("/api/credits/checkout", &json!({"bundle": "credits-9"}))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["error"], "not_found");

    let before = peer.balance().await;
    // Stripe's charge event often comes first: its receipt waits for the payment.
    let succeeded = event("evt_g0", "charge.succeeded", charge("pi_g", 999, 0));
    assert_eq!(deliver(&node, "goop2", &succeeded).await, "receipt_held");
    let paid = session(
        &session_id,
        "goop2",
        &peer_id,
        "credits-1200",
        999,
        "usd",
        "paid",
        Some("pi_g"),
    );
    let completed = event("evt_g1", "checkout.session.completed", paid);
    assert_eq!(deliver(&node, "goop2", &completed).await, "credited");
    assert_eq!(peer.balance().await, before + 1200);
    let listed = admin_payments(&node, "?tenant=goop2").await;
    let paid = listed
        .iter()
        .find(|p| p["external_id"] == session_id.as_str())
        .unwrap();
    assert_eq!(paid["status"], "credited");
    assert_eq!(paid["receipt_url"], "https://pay.stripe.test/receipts/pi_g");
    let history = peer.history().await;
    let newest = &history["transactions"][0];
    assert_eq!(newest["type"], "buy", "{history}");
    assert_eq!(newest["amount"], 1200);
    // The same session on another tenant's endpoint is refused: its metadata names goop2.
    let (status, answer) = post_event(
        &node,
        "rooverse",
        &completed,
        Some(signature(&completed, unix_now(), SIGNING_SECRET)),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert!(answer["error"]
        .as_str()
        .unwrap()
        .contains("metadata.tenant"));
    assert_eq!(peer.balance().await, before + 1200);
    node.verify();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn goop2_checkout_without_stripe_is_503_and_the_bundles_say_so() {
    let node = TestNode::start(|_| {}).await;
    let (_, bundles) = json(node.get("/api/credits/bundles").await).await;
    assert_eq!(bundles["checkout_available"], false);
    let peer = node.peer().await;
    let (status, body) = json(
        peer.post("/api/credits/checkout", &json!({"bundle": "credits-500"}))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(body["message"].as_str().unwrap().contains("server admin"));
    // Unauthenticated: 401 before anything else.
    let res = node
        .http
        .post(node.url("/api/credits/checkout"))
        .json(&json!({"bundle": "credits-500"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unverifiable_or_inconsistent_events_change_nothing() {
    let stripe = FakeStripe::start().await;
    let node = node_with(&stripe, |_| {}).await;
    let starter = Roo::server(&node, "rooverse").package_id(STARTER).await;
    let paid = |id: &str, package: &str, amount: i64| {
        session(
            id,
            "rooverse",
            "user-1",
            package,
            amount,
            "usd",
            "paid",
            Some("pi_1"),
        )
    };
    let good = event(
        "evt_ok",
        "checkout.session.completed",
        paid("cs_1", &starter, 1000),
    );
    let now = unix_now();
    let cases: Vec<(String, Option<String>, &str)> = vec![
        (good.clone(), None, "Stripe-Signature"),
        (
            good.clone(),
            Some(signature(&good, now, "whsec_someone_else")),
            "signature verification failed",
        ),
        (
            good.clone(),
            Some(signature(&good, now - 400, SIGNING_SECRET)),
            "signature verification failed",
        ),
        (
            good.replace("user-1", "user-2"),
            Some(signature(&good, now, SIGNING_SECRET)),
            "signature verification failed",
        ),
        (
            good.clone(),
            Some(format!("t={now},v1=zz")),
            "signature verification failed",
        ),
    ];
    for (body, sig, mention) in cases {
        let (status, answer) = post_event(&node, "rooverse", &body, sig).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
        assert!(
            answer["error"].as_str().unwrap().contains(mention),
            "{answer}"
        );
    }
    // Signed, but not consistent with what the tenant sells.
    let inconsistent = [
        (
            event(
                "evt_a",
                "checkout.session.completed",
                paid("cs_2", "no-such-package", 1000),
            ),
            "unknown package",
        ),
        (
            event(
                "evt_b",
                "checkout.session.completed",
                paid("cs_3", &starter, 1),
            ),
            "paid 1 usd",
        ),
        (
            event(
                "evt_c",
                "checkout.session.completed",
                json!({"id": "cs_4", "object": "checkout.session"}),
            ),
            "could not be read",
        ),
        (
            event("evt_d", "charge.refunded", paid("cs_5", &starter, 1000)),
            "another kind of object",
        ),
    ];
    for (body, mention) in inconsistent {
        let (status, answer) = post_event(
            &node,
            "rooverse",
            &body,
            Some(signature(&body, unix_now(), SIGNING_SECRET)),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
        assert!(
            answer["error"].as_str().unwrap().contains(mention),
            "{answer}"
        );
    }
    assert_eq!(Roo::server(&node, "rooverse").balance("user-1").await, "0");
    assert!(admin_payments(&node, "").await.is_empty());
    assert_eq!(node.entry_total(), 0);

    // An event type the webhook does not act on is acknowledged and ignored, even one
    // async-stripe cannot read.
    let other = event(
        "evt_o",
        "customer.created",
        json!({"id": "cus_1", "object": "customer"}),
    );
    assert_eq!(deliver(&node, "rooverse", &other).await, "ignored");

    // Completed but not paid yet (a bank debit): 200, nothing credited; the async
    // success credits it.
    let pending = session(
        "cs_9",
        "rooverse",
        "user-1",
        &starter,
        1000,
        "usd",
        "unpaid",
        Some("pi_9"),
    );
    let completed = event("evt_p1", "checkout.session.completed", pending.clone());
    assert_eq!(deliver(&node, "rooverse", &completed).await, "not_paid");
    assert_eq!(Roo::server(&node, "rooverse").balance("user-1").await, "0");
    let listed = admin_payments(&node, "").await;
    assert_eq!(listed[0]["status"], "open");
    assert_eq!(listed[0]["order_ref"], "pi_9");
    let succeeded = event(
        "evt_p2",
        "checkout.session.async_payment_succeeded",
        pending,
    );
    assert_eq!(deliver(&node, "rooverse", &succeeded).await, "credited");
    assert_eq!(Roo::server(&node, "rooverse").balance("user-1").await, "10");
    node.verify();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refunds_and_disputes_claw_back_without_overdrawing() {
    let stripe = FakeStripe::start().await;
    let node = node_with(&stripe, |_| {}).await;
    let peer = node.peer().await;
    let peer_id = peer.id.to_string();
    let start = peer.balance().await;
    // 3,000 credits for $19.99.
    credited_session(&node, &peer_id, "pi_r").await;
    assert_eq!(peer.balance().await, start + 3000);

    // A partial refund of $5.00: ⌊3000 × 500 ÷ 1999⌋ = 750 credits back.
    let refund1 = event("evt_r1", "charge.refunded", charge("pi_r", 1999, 500));
    assert_eq!(deliver(&node, "goop2", &refund1).await, "clawed_back");
    assert_eq!(peer.balance().await, start + 3000 - 750);
    // A second refund, $10.00 in all: ⌊3000 × 1000 ÷ 1999⌋ = 1500, so 750 more.
    let refund2 = event("evt_r2", "charge.refunded", charge("pi_r", 1999, 1000));
    assert_eq!(deliver(&node, "goop2", &refund2).await, "clawed_back");
    assert_eq!(peer.balance().await, start + 3000 - 1500);
    // The first refund event again, under a new id (older cumulative amount): nothing.
    let stale = event("evt_r1b", "charge.refunded", charge("pi_r", 1999, 500));
    assert_eq!(deliver(&node, "goop2", &stale).await, "nothing_to_take");
    assert_eq!(peer.balance().await, start + 3000 - 1500);

    // The peer spends all but 100 credits; a dispute then claims the remaining 1,500
    // and can take only what is there.
    let spend = peer.balance().await - 100;
    move_credits(&node, &peer_id, -spend).await;
    assert_eq!(peer.balance().await, 100);
    let opened = event(
        "evt_d1",
        "charge.dispute.created",
        dispute("pi_r", 1999, "needs_response"),
    );
    assert_eq!(deliver(&node, "goop2", &opened).await, "clawed_back");
    assert_eq!(peer.balance().await, 0, "never overdrawn");
    let short = admin_payments(&node, "?unrecovered=true").await;
    assert_eq!(short.len(), 1);
    assert_eq!(short[0]["shortfall"], 1400);
    assert_eq!(short[0]["clawed_back"], 3000);
    assert_eq!(short[0]["status"], "disputed");
    let metrics = node.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains(r#"payment_shortfall_credits_total{tenant="goop2"} 1400"#),
        "{metrics}"
    );
    // The CLI lists the same.
    let data = node.config.server.data_dir.display().to_string();
    let (ok, out) = run_cli([
        "admin",
        "--data-dir",
        &data,
        "payments",
        "list",
        "--unrecovered",
    ]);
    assert!(ok, "{out}");
    assert!(
        out.contains("shortfall 1400") && out.contains("1 payments shown"),
        "{out}"
    );
    // The peer earns 50 more; a replayed dispute (same event, or the same dispute under
    // a new event id) takes nothing of them.
    move_credits(&node, &peer_id, 50).await;
    assert_eq!(deliver(&node, "goop2", &opened).await, "clawed_back");
    let again = event(
        "evt_d1b",
        "charge.dispute.created",
        dispute("pi_r", 1999, "needs_response"),
    );
    assert_eq!(deliver(&node, "goop2", &again).await, "nothing_to_take");
    assert_eq!(peer.balance().await, 50);

    // Won: what the dispute took (100) comes back and its shortfall is dropped.
    let won = event(
        "evt_d2",
        "charge.dispute.closed",
        dispute("pi_r", 1999, "won"),
    );
    assert_eq!(deliver(&node, "goop2", &won).await, "given_back");
    assert_eq!(peer.balance().await, 150);
    assert!(admin_payments(&node, "?unrecovered=true").await.is_empty());
    let listed = admin_payments(&node, "").await;
    assert_eq!(listed[0]["status"], "refunded");
    let won_again = event(
        "evt_d2b",
        "charge.dispute.closed",
        dispute("pi_r", 1999, "won"),
    );
    assert_eq!(deliver(&node, "goop2", &won_again).await, "nothing_to_give");
    // The opening event again, late (Stripe does not order events): the dispute is
    // closed, nothing is taken.
    let late = event(
        "evt_d1c",
        "charge.dispute.created",
        dispute("pi_r", 1999, "needs_response"),
    );
    assert_eq!(deliver(&node, "goop2", &late).await, "nothing_to_take");
    assert_eq!(peer.balance().await, 150);
    // A refund of an order the node never credited changes nothing.
    let unknown = event("evt_u", "charge.refunded", charge("pi_unknown", 1000, 1000));
    assert_eq!(deliver(&node, "goop2", &unknown).await, "unknown_payment");
    node.verify();
}

/// Adds (or with a negative `amount`, spends) credits of `peer` on the Goop2 tenant
/// straight through the ledger, as other purchases and grants would.
async fn move_credits(node: &TestNode, peer: &str, amount: i64) {
    use rendezvous_credits::ledger::{Actor, Amount, EntryKind, Posting};
    let (tenant, who) = (TenantId::new("goop2").unwrap(), peer.to_string());
    node.running
        .ledger
        .run(move |tx| {
            let account = tx.open_account(&tenant, &who)?;
            let posting = Posting::new(EntryKind::Grant, Actor::Admin);
            match Amount::new(amount.abs()) {
                Some(a) if amount > 0 => tx.credit(account, a, &posting),
                Some(a) => tx.debit(account, a, &posting),
                None => unreachable!("a test moves some credits"),
            }
        })
        .await
        .unwrap();
}

/// A paid Goop2 session of `credits-3000` on `intent`, credited.
async fn credited_session(node: &TestNode, peer: &str, intent: &str) {
    let paid = session(
        &format!("cs_{intent}"),
        "goop2",
        peer,
        "credits-3000",
        1999,
        "usd",
        "paid",
        Some(intent),
    );
    let completed = event(
        &format!("evt_c_{intent}"),
        "checkout.session.completed",
        paid,
    );
    assert_eq!(deliver(node, "goop2", &completed).await, "credited");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refunds_during_a_dispute_lost_disputes_and_closed_inquiries() {
    let stripe = FakeStripe::start().await;
    let node = node_with(&stripe, |_| {}).await;
    let peer = node.peer().await;
    let id = peer.id.to_string();
    let start = peer.balance().await;

    // A dispute takes all 3,000; the charge is then refunded in full while the
    // dispute is open: the refund's share moves from the dispute to the refunds, so
    // winning the dispute gives nothing back.
    credited_session(&node, &id, "pi_a").await;
    let dispute_a = |status| dispute("pi_a", 1999, status);
    let opened = event(
        "evt_a1",
        "charge.dispute.created",
        dispute_a("needs_response"),
    );
    assert_eq!(deliver(&node, "goop2", &opened).await, "clawed_back");
    assert_eq!(peer.balance().await, start);
    let refunded = event("evt_a2", "charge.refunded", charge("pi_a", 1999, 1999));
    assert_eq!(deliver(&node, "goop2", &refunded).await, "clawed_back");
    let won = event("evt_a3", "charge.dispute.closed", dispute_a("won"));
    assert_eq!(deliver(&node, "goop2", &won).await, "nothing_to_give");
    assert_eq!(peer.balance().await, start);
    let listed = admin_payments(&node, "").await;
    assert_eq!(
        (
            listed[0]["status"].as_str(),
            listed[0]["clawed_back"].as_i64()
        ),
        (Some("refunded"), Some(3000))
    );

    // Lost: the credits stay taken, and a late opening event changes nothing.
    credited_session(&node, &id, "pi_b").await;
    let dispute_b = |status| dispute("pi_b", 1999, status);
    let opened = event(
        "evt_b1",
        "charge.dispute.created",
        dispute_b("under_review"),
    );
    assert_eq!(deliver(&node, "goop2", &opened).await, "clawed_back");
    let lost = event("evt_b2", "charge.dispute.closed", dispute_b("lost"));
    assert_eq!(deliver(&node, "goop2", &lost).await, "dispute_lost");
    let late = event(
        "evt_b3",
        "charge.dispute.created",
        dispute_b("needs_response"),
    );
    assert_eq!(deliver(&node, "goop2", &late).await, "nothing_to_take");
    assert_eq!(peer.balance().await, start);

    // An inquiry closed without a chargeback (`warning_closed`): the money stayed with
    // the merchant, so the credits come back.
    credited_session(&node, &id, "pi_c").await;
    let dispute_c = |status| dispute("pi_c", 1999, status);
    let opened = event(
        "evt_c1",
        "charge.dispute.created",
        dispute_c("warning_needs_response"),
    );
    assert_eq!(deliver(&node, "goop2", &opened).await, "clawed_back");
    assert_eq!(peer.balance().await, start);
    let closed = event(
        "evt_c2",
        "charge.dispute.closed",
        dispute_c("warning_closed"),
    );
    assert_eq!(deliver(&node, "goop2", &closed).await, "given_back");
    assert_eq!(peer.balance().await, start + 3000);
    assert!(admin_payments(&node, "?unrecovered=true").await.is_empty());
    node.verify();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copies_of_one_event_and_events_of_one_session_at_once_credit_once() {
    let stripe = FakeStripe::start().await;
    let node = node_with(&stripe, |_| {}).await;
    let peer = node.peer().await;
    let id = peer.id.to_string();
    let start = peer.balance().await;
    let paid = session(
        "cs_many",
        "goop2",
        &id,
        "credits-500",
        499,
        "usd",
        "paid",
        Some("pi_m"),
    );
    // 16 copies of one event, and 16 events (other ids) of the same session, all at
    // once.
    let copies = event("evt_m", "checkout.session.completed", paid.clone());
    let mut bodies: Vec<String> = vec![copies; 16];
    bodies.extend((0..16).map(|i| {
        event(
            &format!("evt_m{i}"),
            "checkout.session.async_payment_succeeded",
            paid.clone(),
        )
    }));
    let outcomes =
        futures::future::join_all(bodies.iter().map(|b| deliver(&node, "goop2", b))).await;
    assert_eq!(peer.balance().await, start + 500);
    let fresh = outcomes.iter().filter(|o| *o == "credited").count();
    let replays = outcomes.iter().filter(|o| *o == "already_credited").count();
    // The copies of the credited event answer its stored "credited"; the others
    // answer "already_credited"; one way or the other, one credit.
    assert_eq!(fresh + replays, 32, "{outcomes:?}");
    assert!(replays >= 15, "{outcomes:?}");
    assert_eq!(admin_payments(&node, "").await.len(), 1);
    node.verify();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkout_buys_what_it_bought_when_opened_whatever_the_package_says_at_payment() {
    let stripe = FakeStripe::start().await;
    let node = node_with(&stripe, |_| {}).await;
    let roo = Roo::server(&node, "rooverse");
    let starter = roo.package_id(STARTER).await;
    let (status, body) = roo
        .post(
            "/v1/checkout",
            &json!({"external_user_id": "user-5", "package_id": starter}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let session_id = body["session_id"].as_str().unwrap().to_string();
    // The operator changes the pack's credits and then withdraws it, restarting.
    let mut config = node.config.clone();
    let data = node.shutdown().await;
    if let TenantSettings::Roochip(t) = &mut config.tenants[0] {
        let p = t.packages.iter_mut().find(|p| p.name == STARTER).unwrap();
        p.credits_to_issue = rendezvous_credits::config::DecimalSetting::Integer(99);
        p.active = false;
    }
    let node = TestNode::start_with(config, data).await;
    let paid = session(
        &session_id,
        "rooverse",
        "user-5",
        &starter,
        1000,
        "usd",
        "paid",
        Some("pi_5"),
    );
    let completed = event("evt_5", "checkout.session.completed", paid);
    assert_eq!(deliver(&node, "rooverse", &completed).await, "credited");
    assert_eq!(Roo::server(&node, "rooverse").balance("user-5").await, "10");
    node.verify();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_the_node_never_recorded_is_credited_once_from_its_metadata() {
    // The node crashed after Stripe opened the session and before it recorded it: the
    // buyer pays anyway, and the signed event alone is enough, once, across a restart.
    let stripe = FakeStripe::start().await;
    let node = node_with(&stripe, |_| {}).await;
    let starter = Roo::server(&node, "rooverse").package_id(STARTER).await;
    let paid = session(
        "cs_lost",
        "rooverse",
        "user-9",
        &starter,
        1000,
        "usd",
        "paid",
        Some("pi_l"),
    );
    let body = event("evt_l1", "checkout.session.completed", paid.clone());
    assert_eq!(deliver(&node, "rooverse", &body).await, "credited");
    let node = node.restart().await;
    assert_eq!(deliver(&node, "rooverse", &body).await, "credited");
    let other = event("evt_l2", "checkout.session.completed", paid);
    assert_eq!(deliver(&node, "rooverse", &other).await, "already_credited");
    assert_eq!(Roo::server(&node, "rooverse").balance("user-9").await, "10");
    assert_eq!(
        Roo::server(&node, "rooverse")
            .events("rooverse")
            .await
            .len(),
        1
    );
    // The admin route needs the admin token.
    let res = node.get("/admin/payments").await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = node
        .http
        .get(node.url("/admin/payments?provider=paypal"))
        .bearer_auth(&node.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    node.verify();
}
