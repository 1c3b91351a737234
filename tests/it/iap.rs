//! In-app purchases on a Roochip tenant. Apple: StoreKit 2 signed transactions from
//! a self-made PKI (rcgen: root → intermediate with Apple's WWDR OID → leaf with
//! Apple's receipt-signing OID, ES256), verified by the node against the root it is
//! configured with.

use std::path::Path;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rcgen::{
    BasicConstraints, CertificateParams, CustomExtension, IsCa, Issuer, KeyPair,
    PKCS_ECDSA_P256_SHA256,
};
use rendezvous_credits::config::{Config, RoochipTenant, TenantSettings};
use rendezvous_credits::payments::apple::AppleSettings;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::common::{json, roochip_server_key, roochip_tenant, TestNode};
use crate::roochip::Roo;

const BUNDLE_ID: &str = "com.rooverse.app";
const STARTER_PRODUCT: &str = "com.rooverse.roo.starter";
const POPULAR_PRODUCT: &str = "com.rooverse.roo.popular";
const WWDR_OID: &[u64] = &[1, 2, 840, 113635, 100, 6, 2, 1];
const RECEIPT_SIGNER_OID: &[u64] = &[1, 2, 840, 113635, 100, 6, 11, 1];

/// A root → intermediate → leaf chain that signs transactions like the App Store.
struct ApplePki {
    root_der: Vec<u8>,
    chain: Vec<String>,
    leaf_key_der: Vec<u8>,
}

impl ApplePki {
    fn new(name: &str) -> ApplePki {
        use base64::Engine as _;
        let b64 = |der: &[u8]| base64::engine::general_purpose::STANDARD.encode(der);
        let ca = |cn: &str, oid: Option<&[u64]>| {
            let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
            p.distinguished_name.push(rcgen::DnType::CommonName, cn);
            p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            if let Some(oid) = oid {
                p.custom_extensions
                    .push(CustomExtension::from_oid_content(oid, vec![0x05, 0x00]));
            }
            p
        };
        let root_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
        let root_params = ca(&format!("{name} Root CA - G3"), None);
        let root = root_params.self_signed(&root_key).unwrap();
        let root_issuer = Issuer::new(root_params, root_key);

        let inter_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
        let inter_params = ca(
            &format!("{name} Worldwide Developer Relations"),
            Some(WWDR_OID),
        );
        let inter = inter_params.signed_by(&inter_key, &root_issuer).unwrap();
        let inter_issuer = Issuer::new(inter_params, inter_key);

        let leaf_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
        let mut leaf_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        leaf_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, format!("{name} StoreKit signer"));
        leaf_params
            .custom_extensions
            .push(CustomExtension::from_oid_content(
                RECEIPT_SIGNER_OID,
                vec![0x05, 0x00],
            ));
        let leaf = leaf_params.signed_by(&leaf_key, &inter_issuer).unwrap();
        ApplePki {
            root_der: root.der().to_vec(),
            chain: vec![b64(leaf.der()), b64(inter.der()), b64(root.der())],
            leaf_key_der: leaf_key.serialize_der(),
        }
    }

    /// A signed transaction (JWS) of `product`, with `fields` merged in.
    fn sign(&self, transaction_id: &str, product: &str, fields: Value) -> String {
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64;
        let mut claims = json!({
            "transactionId": transaction_id,
            "originalTransactionId": transaction_id,
            "bundleId": BUNDLE_ID,
            "productId": product,
            "purchaseDate": now_ms,
            "originalPurchaseDate": now_ms,
            "quantity": 1,
            "type": "Consumable",
            "inAppOwnershipType": "PURCHASED",
            "signedDate": now_ms,
            "environment": "Sandbox",
            "transactionReason": "PURCHASE",
            "storefront": "USA",
            "storefrontId": "143441",
            "price": 10000,
            "currency": "USD"
        });
        for (k, v) in fields.as_object().unwrap() {
            claims[k] = v.clone();
        }
        let mut header = Header::new(Algorithm::ES256);
        header.x5c = Some(self.chain.clone());
        jsonwebtoken::encode(
            &header,
            &claims,
            &EncodingKey::from_ec_der(&self.leaf_key_der),
        )
        .unwrap()
    }
}

fn apple_settings(root: &Path) -> AppleSettings {
    AppleSettings {
        bundle_id: BUNDLE_ID.into(),
        app_apple_id: None,
        environment: "Sandbox".into(),
        root_certificates: vec![root.to_path_buf()],
        allow_unsigned_test_environments: false,
    }
}

/// The `rooverse` tenant with its starter pack bought by `STARTER_PRODUCT` and the
/// popular pack by `POPULAR_PRODUCT`.
fn tenant() -> RoochipTenant {
    let mut t = roochip_tenant("rooverse");
    t.packages[0].apple_product_id = Some(STARTER_PRODUCT.into());
    t.packages[1].apple_product_id = Some(POPULAR_PRODUCT.into());
    t.webhook_url = "http://127.0.0.1:9/roochip".into();
    t.webhook_secret = "rooverse-webhook-secret".into();
    t
}

async fn node_with_apple(pki: &ApplePki, configure: impl FnOnce(&mut Config)) -> TestNode {
    let der = pki.root_der.clone();
    TestNode::start(move |c| {
        let root = c.server.data_dir.join("AppleRootCA-test.cer");
        std::fs::write(&root, der).unwrap();
        let mut t = tenant();
        t.apple = Some(Box::new(apple_settings(&root)));
        c.tenants = vec![TenantSettings::Roochip(t)];
        configure(c);
    })
    .await
}

async fn package_ids(node: &TestNode) -> (String, String) {
    let roo = Roo::server(node, "rooverse");
    (
        roo.package_id("Starter Pack").await,
        roo.package_id("Popular Pack").await,
    )
}

async fn apple(node: &TestNode, body: &Value) -> (StatusCode, Value) {
    Roo::server(node, "rooverse").post("/iap/apple", body).await
}

async fn balance(node: &TestNode, user: &str) -> String {
    Roo::server(node, "rooverse").balance(user).await
}

fn request(user: &str, receipt: &str, package: &str) -> Value {
    json!({"external_user_id": user, "receipt_data": receipt, "package_id": package, "tenant_id": "rooverse"})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_apple_transaction_is_verified_offline_and_credited_once() {
    let pki = ApplePki::new("Test");
    let node = node_with_apple(&pki, |_| {}).await;
    let (starter, popular) = package_ids(&node).await;
    let jws = pki.sign("2000000123", STARTER_PRODUCT, json!({}));

    let (status, first) = apple(&node, &request("user-1", &jws, &starter)).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(
        first,
        json!({"transaction_id": "2000000123", "credits_issued": 10, "new_balance": 10})
    );
    // The same request again: the original answer, nothing more.
    let (status, again) = apple(&node, &request("user-1", &jws, &starter)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again, first);
    assert_eq!(balance(&node, "user-1").await, "10");
    // The same transaction for another user or another package: 409, nothing credited.
    let (status, body) = apple(&node, &request("user-2", &jws, &starter)).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (status, body) = apple(&node, &request("user-1", &jws, &popular)).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(balance(&node, "user-2").await, "0");
    assert_eq!(balance(&node, "user-1").await, "10");

    // A second purchase credits on top, with its credits.issued event.
    let jws2 = pki.sign("2000000124", POPULAR_PRODUCT, json!({}));
    let (status, body) = apple(&node, &request("user-1", &jws2, &popular)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["new_balance"], 35);
    let events = Roo::server(&node, "rooverse").events("rooverse").await;
    assert_eq!(events.len(), 2);
    for payload in &events {
        assert_eq!(payload["payment_source"], "apple_iap", "{payload}");
    }
    let (_, listed) = json(
        node.http
            .get(node.url("/admin/payments?provider=apple_iap"))
            .bearer_auth(&node.admin_token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(listed["payments"].as_array().unwrap().len(), 2, "{listed}");
    assert_eq!(listed["payments"][1]["external_id"], "2000000123");
    assert_eq!(listed["payments"][1]["status"], "credited");
    node.verify();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apple_transactions_that_do_not_verify_or_match_are_refused_and_change_nothing() {
    let pki = ApplePki::new("Test");
    let node = node_with_apple(&pki, |_| {}).await;
    let (starter, _) = package_ids(&node).await;
    let forger = ApplePki::new("Forger");
    let cases = [
        (
            forger.sign("1", STARTER_PRODUCT, json!({})),
            "signature or its certificate chain",
        ),
        (
            pki.sign("2", STARTER_PRODUCT, json!({"bundleId": "com.other.app"})),
            "bundle id",
        ),
        (
            pki.sign("3", STARTER_PRODUCT, json!({"environment": "Production"})),
            "environment",
        ),
        (
            pki.sign(
                "4",
                STARTER_PRODUCT,
                json!({"revocationDate": 1_700_000_000_000i64, "revocationReason": 1}),
            ),
            "revoked",
        ),
        (
            pki.sign("5", POPULAR_PRODUCT, json!({})),
            "does not buy package",
        ),
        ("not-a-jws".to_string(), "receipt_data"),
    ];
    for (jws, mention) in cases {
        let (status, body) = apple(&node, &request("user-1", &jws, &starter)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{mention}: {body}");
        let message = body["error"].as_str().unwrap();
        assert!(message.contains(mention), "{mention}: {message}");
    }
    // Another chain that names our root in x5c: its intermediate was not issued by it.
    let mut swapped = ApplePki::new("Test");
    swapped.chain[2] = pki.chain[2].clone();
    let (status, body) = apple(
        &node,
        &request(
            "user-1",
            &swapped.sign("6", STARTER_PRODUCT, json!({})),
            &starter,
        ),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("certificate chain"),
        "{body}"
    );

    let good = pki.sign("7", STARTER_PRODUCT, json!({}));
    let (status, body) = apple(
        &node,
        &json!({"external_user_id": "user-1", "receipt_data": good, "package_id": starter, "tenant_id": "someone-else"}),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, _) = apple(&node, &request("user-1", &good, "no-such-package")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = apple(&node, &json!({"external_user_id": "user-1"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(balance(&node, "user-1").await, "0");
    assert_eq!(node.entry_total(), 0);

    // A tenant without [tenants.apple]: 503, as before.
    let plain = TestNode::start(|c| c.tenants = vec![TenantSettings::Roochip(tenant())]).await;
    let (status, body) = apple(&plain, &request("user-1", &good, &starter)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsigned_test_environments_need_an_explicit_setting() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root.cer");
    std::fs::write(&root, ApplePki::new("Test").root_der).unwrap();
    let mut settings = apple_settings(&root);
    settings.environment = "Xcode".into();
    let mut t = tenant();
    t.apple = Some(Box::new(settings.clone()));
    let data = tempfile::tempdir().unwrap();
    let mut config = crate::common::test_config(data.path());
    config.tenants = vec![TenantSettings::Roochip(t)];
    let refused = rendezvous_credits::app::start(config, Default::default()).await;
    let message = refused.err().expect("refused").to_string();
    assert!(
        message.contains("allow_unsigned_test_environments"),
        "{message}"
    );
    // Missing certificates are named at start too.
    settings.environment = "Sandbox".into();
    settings.root_certificates = vec![dir.path().join("missing.cer")];
    let mut t = tenant();
    t.apple = Some(Box::new(settings));
    let mut config = crate::common::test_config(data.path());
    config.tenants = vec![TenantSettings::Roochip(t)];
    let refused = rendezvous_credits::app::start(config, Default::default()).await;
    let message = refused.err().expect("refused").to_string();
    assert!(message.contains("missing.cer"), "{message}");
}

// ---------------------------------------------------------------------------------
// Google Play: a fake OAuth token endpoint and a fake Android Publisher API.

const PLAY_PACKAGE: &str = "com.rooverse.android";
const PLAY_STARTER: &str = "roo_starter";
const ACCESS_TOKEN: &str = "ya29.fake-access-token";

/// One purchase the fake Play knows: (product, order id, purchaseState,
/// acknowledgementState, extra fields such as `purchaseType` for a test purchase).
type PlayPurchase = (String, String, i32, i32, Value);

#[derive(Default)]
struct PlayState {
    purchases: std::collections::HashMap<String, PlayPurchase>,
    /// Acknowledgements to refuse (503) before accepting.
    failing_acks: u32,
    /// Successful acknowledgements, by token.
    acked: Vec<String>,
    /// Answer every purchase check with 500.
    down: bool,
    /// OAuth assertions received (the JWT claims).
    assertions: Vec<Value>,
    /// Purchase checks answered with a purchase.
    confirmed: u32,
}

struct FakePlay {
    base: String,
    state: std::sync::Arc<std::sync::Mutex<PlayState>>,
    server: actix_web::dev::ServerHandle,
}

type Shared = actix_web::web::Data<std::sync::Arc<std::sync::Mutex<PlayState>>>;

fn google_error(status: u16, message: &str) -> actix_web::HttpResponse {
    actix_web::HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap()).json(
        json!({"error": {"code": status, "message": message, "errors": [{"message": message, "domain": "global", "reason": "notFound"}]}}),
    )
}

async fn token(
    state: Shared,
    form: actix_web::web::Form<Vec<(String, String)>>,
) -> actix_web::HttpResponse {
    use base64::Engine as _;
    let field = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    if field("grant_type").as_deref() != Some("urn:ietf:params:oauth:grant-type:jwt-bearer") {
        return google_error(400, "unsupported grant_type");
    }
    let Some(assertion) = field("assertion") else {
        return google_error(400, "no assertion");
    };
    let claims = assertion
        .split('.')
        .nth(1)
        .and_then(|p| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(p)
                .ok()
        })
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        .unwrap_or_default();
    state.lock().unwrap().assertions.push(claims);
    actix_web::HttpResponse::Ok()
        .json(json!({"access_token": ACCESS_TOKEN, "expires_in": 3600, "token_type": "Bearer"}))
}

async fn purchases(
    state: Shared,
    req: actix_web::HttpRequest,
    path: actix_web::web::Path<(String, String, String)>,
) -> actix_web::HttpResponse {
    let (package, product, tail) = path.into_inner();
    let bearer = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if bearer != format!("Bearer {ACCESS_TOKEN}") {
        return google_error(
            401,
            "Request is missing required authentication credential.",
        );
    }
    let mut s = state.lock().unwrap();
    if package != PLAY_PACKAGE {
        return google_error(404, "No application was found for the given package name.");
    }
    if let Some(token) = tail.strip_suffix(":acknowledge") {
        if req.method() != actix_web::http::Method::POST {
            return google_error(405, "method");
        }
        if s.failing_acks > 0 {
            s.failing_acks -= 1;
            return google_error(503, "The service is currently unavailable.");
        }
        let Some(p) = s.purchases.get_mut(token) else {
            return google_error(404, "The purchase token was not found.");
        };
        p.3 = 1;
        s.acked.push(token.to_string());
        return actix_web::HttpResponse::NoContent().finish();
    }
    if s.down {
        return google_error(500, "Internal error.");
    }
    let found = s.purchases.get(&tail).cloned();
    match found {
        Some((p, order, state, ack, extra)) if p == product => {
            s.confirmed += 1;
            let mut body = json!({
                "kind": "androidpublisher#productPurchase",
                "purchaseTimeMillis": "1764547200000",
                "purchaseState": state,
                "consumptionState": 0,
                "developerPayload": "",
                "orderId": order,
                "acknowledgementState": ack,
                "regionCode": "US"
            });
            for (k, v) in extra.as_object().unwrap() {
                body[k] = v.clone();
            }
            actix_web::HttpResponse::Ok().json(body)
        }
        _ => google_error(404, "The purchase token was not found."),
    }
}

impl FakePlay {
    async fn start() -> FakePlay {
        let state = std::sync::Arc::new(std::sync::Mutex::new(PlayState::default()));
        let shared = state.clone();
        let server = actix_web::HttpServer::new(move || {
            actix_web::App::new()
                .app_data(actix_web::web::Data::new(shared.clone()))
                .route("/token", actix_web::web::post().to(token))
                .route(
                    "/androidpublisher/v3/applications/{package}/purchases/products/{product}/tokens/{token}",
                    actix_web::web::route().to(purchases),
                )
        })
        .workers(1)
        .disable_signals()
        .bind("127.0.0.1:0")
        .unwrap();
        let addr = server.addrs()[0];
        let server = server.run();
        let handle = server.handle();
        tokio::spawn(server);
        FakePlay {
            base: format!("http://{addr}/"),
            state,
            server: handle,
        }
    }

    fn sell(&self, token: &str, product: &str, order: &str, purchase_state: i32) {
        self.sell_with(token, product, order, purchase_state, json!({}));
    }

    fn sell_with(&self, token: &str, product: &str, order: &str, state: i32, extra: Value) {
        self.state.lock().unwrap().purchases.insert(
            token.into(),
            (product.into(), order.into(), state, 0, extra),
        );
    }

    async fn wait_acked(&self, count: usize) {
        crate::common::within("Google acknowledges", async {
            while self.state.lock().unwrap().acked.len() < count {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        })
        .await;
    }
}

impl Drop for FakePlay {
    fn drop(&mut self) {
        let handle = self.server.clone();
        tokio::spawn(async move { handle.stop(false).await });
    }
}

/// A node whose `rooverse` starter pack is Play product `PLAY_STARTER`, with the
/// service account key file in its data folder and the scheduler at 50 ms.
async fn node_with_play(play: &FakePlay) -> TestNode {
    let base = play.base.clone();
    TestNode::start(move |c| {
        let key_file = write_service_account(&c.server.data_dir);
        let mut t = tenant();
        t.packages[0].google_product_id = Some(PLAY_STARTER.into());
        t.google = Some(Box::new(
            rendezvous_credits::payments::google::GoogleSettings {
                package_name: PLAY_PACKAGE.into(),
                service_account_key_file: key_file,
                api_base: base.clone(),
                token_uri: Some(format!("{base}token")),
                allow_test_purchases: false,
            },
        ));
        c.tenants = vec![TenantSettings::Roochip(t)];
        c.jobs.interval_ms = 50;
    })
    .await
}

async fn google(
    node: &TestNode,
    user: &str,
    token: &str,
    product: &str,
    package: &str,
) -> (StatusCode, Value) {
    let body = json!({"external_user_id": user, "purchase_token": token,
        "product_id": product, "package_id": package});
    Roo::server(node, "rooverse")
        .post("/iap/google", &body)
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_google_purchase_is_confirmed_credited_once_and_acknowledged() {
    let play = FakePlay::start().await;
    let node = node_with_play(&play).await;
    let (starter, popular) = package_ids(&node).await;
    play.sell("tok-1", PLAY_STARTER, "GPA.1111-2222-3333-44444", 0);

    let (status, first) = google(&node, "user-1", "tok-1", PLAY_STARTER, &starter).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(
        first,
        json!({"transaction_id": "tok-1", "credits_issued": 10, "new_balance": 10})
    );
    // Acknowledged in the background, once.
    play.wait_acked(1).await;
    assert_eq!(play.state.lock().unwrap().acked, vec!["tok-1".to_string()]);
    // The service account's assertion named the scope and the token endpoint.
    let claims = play.state.lock().unwrap().assertions[0].clone();
    assert_eq!(
        claims["iss"],
        "rendezvous-credits@rooverse-test.iam.gserviceaccount.com"
    );
    assert!(claims["scope"]
        .as_str()
        .unwrap()
        .contains("androidpublisher"));
    assert_eq!(claims["aud"], format!("{}token", play.base));

    // A replay answers the original body without asking Google again (even while it
    // is down); nothing more is credited or acknowledged.
    play.state.lock().unwrap().down = true;
    let (status, again) = google(&node, "user-1", "tok-1", PLAY_STARTER, &starter).await;
    assert_eq!((status, &again), (StatusCode::OK, &first));
    play.state.lock().unwrap().down = false;
    assert_eq!(play.state.lock().unwrap().confirmed, 1);
    assert_eq!(play.state.lock().unwrap().acked.len(), 1);
    // The same token for another user; a new token for the same order; the token
    // sent for another package: 409.
    let (status, body) = google(&node, "user-2", "tok-1", PLAY_STARTER, &starter).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    play.sell("tok-1b", PLAY_STARTER, "GPA.1111-2222-3333-44444", 0);
    let (status, body) = google(&node, "user-1", "tok-1b", PLAY_STARTER, &starter).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body["error"].as_str().unwrap().contains("order"), "{body}");
    let (status, body) = google(&node, "user-1", "tok-1", PLAY_STARTER, &popular).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");

    // Refused: unknown token, canceled or pending purchase, a license tester's test
    // purchase, several items, another product.
    play.sell("tok-canceled", PLAY_STARTER, "GPA.2", 1);
    play.sell("tok-pending", PLAY_STARTER, "GPA.3", 2);
    play.sell_with(
        "tok-test",
        PLAY_STARTER,
        "GPA.5",
        0,
        json!({"purchaseType": 0}),
    );
    play.sell_with("tok-many", PLAY_STARTER, "GPA.6", 0, json!({"quantity": 3}));
    for (token, product, package, mention) in [
        ("tok-unknown", PLAY_STARTER, &starter, "does not confirm"),
        ("tok-canceled", PLAY_STARTER, &starter, "purchaseState 1"),
        ("tok-pending", PLAY_STARTER, &starter, "purchaseState 2"),
        ("tok-test", PLAY_STARTER, &starter, "test purchase"),
        ("tok-many", PLAY_STARTER, &starter, "3 items"),
        ("tok-x", "roo_other", &starter, "does not buy package"),
        (" ", PLAY_STARTER, &starter, "purchase_token"),
    ] {
        let (status, body) = google(&node, "user-3", token, product, package).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{token}: {body}");
        assert!(
            body["error"].as_str().unwrap().contains(mention),
            "{token}: {body}"
        );
    }
    // Google down: 502, nothing credited.
    play.state.lock().unwrap().down = true;
    play.sell("tok-4", PLAY_STARTER, "GPA.4", 0);
    let (status, body) = google(&node, "user-3", "tok-4", PLAY_STARTER, &starter).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    assert_eq!(balance(&node, "user-2").await, "0");
    assert_eq!(balance(&node, "user-3").await, "0");
    assert_eq!(balance(&node, "user-1").await, "10");

    let events = Roo::server(&node, "rooverse").events("rooverse").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["payment_source"], "google_iap", "{:?}", events[0]);
    node.verify();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_acknowledgement_keeps_the_credit_and_is_retried() {
    let play = FakePlay::start().await;
    let node = node_with_play(&play).await;
    let (starter, _) = package_ids(&node).await;
    play.sell("tok-9", PLAY_STARTER, "GPA.9", 0);
    play.state.lock().unwrap().failing_acks = 3;
    let (status, body) = google(&node, "user-9", "tok-9", PLAY_STARTER, &starter).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(balance(&node, "user-9").await, "10");
    // Retried every 50 ms, backing off (100, 200 ms…), until Google has it.
    play.wait_acked(1).await;
    assert_eq!(play.state.lock().unwrap().acked, vec!["tok-9".to_string()]);
    assert_eq!(balance(&node, "user-9").await, "10");
    // Once recorded, it is not acknowledged again.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(play.state.lock().unwrap().acked.len(), 1);
    node.verify();
}

/// The service account key file of the fake Play, written into `dir`.
fn write_service_account(dir: &Path) -> std::path::PathBuf {
    let key_file = dir.join("service-account.json");
    let key = json!({
        "type": "service_account",
        "private_key_id": "test-key-1",
        "private_key": include_str!("fixtures/google-test-service-account.pem"),
        "client_email": "rendezvous-credits@rooverse-test.iam.gserviceaccount.com",
        "token_uri": "https://oauth2.googleapis.com/token"
    });
    std::fs::write(&key_file, key.to_string()).unwrap();
    key_file
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_between_googles_answer_and_the_commit_loses_nothing_and_the_retry_credits_once() {
    let play = FakePlay::start().await;
    play.sell("tok-crash", PLAY_STARTER, "GPA.crash", 0);
    let dir = tempfile::tempdir().unwrap();
    let key_file = write_service_account(dir.path());
    let data = dir.path().join("data");
    let config = dir.path().join("node.toml");
    std::fs::write(
        &config,
        format!(
            r#"[server]
data_dir = "{data}"
catalog_dir = "{catalog}"
[p2p]
listen = ["/ip4/127.0.0.1/tcp/0"]
[[tenants]]
id = "rooverse"
mode = "roochip"
api_keys = ["{key}"]
[[tenants.packages]]
id = "starter"
name = "Starter Pack"
credits_to_issue = 10
price_amount = 1000
google_product_id = "{PLAY_STARTER}"
[tenants.google]
package_name = "{PLAY_PACKAGE}"
service_account_key_file = "{key_file}"
api_base = "{base}"
token_uri = "{base}token"
"#,
            data = data.display(),
            catalog = crate::common::repo_catalog().display(),
            key = rendezvous_credits::config::sha256_hex(&roochip_server_key("rooverse")),
            key_file = key_file.display(),
            base = play.base,
        ),
    )
    .unwrap();
    let port = crate::common::free_port();
    let http = reqwest::Client::new();
    let buy = {
        let http = http.clone();
        move || {
            http.post(format!("http://127.0.0.1:{port}/iap/google"))
                .header("X-API-Key", roochip_server_key("rooverse"))
                .json(
                    &json!({"external_user_id": "user-c", "purchase_token": "tok-crash",
                    "product_id": PLAY_STARTER, "package_id": "starter"}),
                )
                .send()
        }
    };
    let mut node = crate::common::spawn_serve(&config, port, &[]);
    crate::common::wait_healthy(&http, port).await;

    // Another process holds the ledger's write lock: the unit that would credit the
    // purchase waits for it after Google has answered, and the node dies then.
    let lock = rusqlite::Connection::open(data.join("ledger.db")).unwrap();
    lock.execute_batch("BEGIN IMMEDIATE").unwrap();
    let pending = tokio::spawn(buy());
    crate::common::within("Google confirms the purchase", async {
        while play.state.lock().unwrap().confirmed == 0 {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    node.kill().unwrap();
    node.wait().unwrap();
    assert!(pending.await.unwrap().is_err(), "the crashed node answered");
    lock.execute_batch("ROLLBACK").unwrap();
    drop(lock);
    assert_eq!(crate::common::entry_total(&data.join("ledger.db")), 0);

    // The app retries against the restarted node: credited once, acknowledged.
    let mut node = crate::common::spawn_serve(&config, port, &[]);
    crate::common::wait_healthy(&http, port).await;
    let (status, first) = json(buy().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(first["credits_issued"], 10);
    assert_eq!(first["new_balance"], 10);
    let (status, again) = json(buy().await.unwrap()).await;
    assert_eq!((status, &again), (StatusCode::OK, &first));
    // Google was asked once per run: the replay answered from the ledger.
    assert_eq!(play.state.lock().unwrap().confirmed, 2);
    play.wait_acked(1).await;
    assert_eq!(
        play.state.lock().unwrap().acked,
        vec!["tok-crash".to_string()]
    );
    node.kill().unwrap();
    node.wait().unwrap();
    assert_eq!(crate::common::entry_total(&data.join("ledger.db")), 1);
    crate::common::verify_file(&data.join("ledger.db"));
}
