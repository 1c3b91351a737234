//! The operator console over real HTTP: sign-in, session cookies, CSRF and origin
//! checks, every route refused without a session, a peer's bearer never opening it,
//! HTML escaping, and grant, refund, campaign and replay forms writing the same
//! entries as the admin API.

use reqwest::{redirect, StatusCode};
use serde_json::json;

use crate::common::{json, within, TestNode, ADMIN_TOKEN};

/// A browser-like client of the console: no redirects followed, the session cookie
/// and the page's CSRF token kept by hand.
pub struct Console {
    http: reqwest::Client,
    base: String,
    /// `rc_console=…`.
    pub cookie: String,
    /// The session's CSRF token, read from a page's form.
    pub csrf: String,
}

/// The value of the first `name="csrf" value="…"` field of `html`.
pub fn csrf_of(html: &str) -> String {
    let at = html
        .find(r#"name="csrf" value=""#)
        .expect("a form with a CSRF token");
    let rest = &html[at + r#"name="csrf" value=""#.len()..];
    rest[..rest.find('"').expect("end of the value")].to_string()
}

/// The text of the `figure` span of the dashboard card `data-figure="{name}"`.
pub fn figure(html: &str, name: &str) -> String {
    let at = html
        .find(&format!(r#"data-figure="{name}""#))
        .unwrap_or_else(|| panic!("no figure {name}"));
    let rest = &html[at..];
    let start = rest.find(r#"class="figure">"#).expect("figure span") + r#"class="figure">"#.len();
    let text = &rest[start..];
    let text = &text[..text.find("</span>").expect("end of the figure")];
    // The low-balance figure is a link.
    let text = text.rsplit_once("\">").map_or(text, |(_, t)| t);
    text.trim_end_matches("</a>").replace(',', "")
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(redirect::Policy::none())
        .build()
        .expect("client")
}

impl Console {
    /// Signs in with the admin token.
    pub async fn sign_in(node: &TestNode) -> Console {
        let http = client();
        let res = within(
            "sign in",
            http.post(node.url("/admin/login"))
                .header("Origin", &node.base)
                .form(&[("token", ADMIN_TOKEN)])
                .send(),
        )
        .await
        .expect("HTTP");
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        assert_eq!(res.headers()["location"], "/admin/");
        let set = res.headers()["set-cookie"].to_str().unwrap().to_string();
        let cookie = set.split(';').next().unwrap().to_string();
        let mut console = Console {
            http,
            base: node.base.clone(),
            cookie,
            csrf: String::new(),
        };
        let (status, page) = console.page("/admin/").await;
        assert_eq!(status, StatusCode::OK, "{page}");
        console.csrf = csrf_of(&page);
        console
    }

    /// `GET path` with the session: status and body.
    pub async fn page(&self, path: &str) -> (StatusCode, String) {
        let res = within(
            path,
            self.http
                .get(format!("{}{path}", self.base))
                .header("Cookie", &self.cookie)
                .send(),
        )
        .await
        .expect("HTTP");
        let status = res.status();
        (status, res.text().await.expect("body"))
    }

    /// `POST path` from the console's own origin with the CSRF token and `fields`.
    pub async fn post(&self, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        let mut form: Vec<(&str, &str)> = vec![("csrf", &self.csrf)];
        form.extend_from_slice(fields);
        self.post_raw(path, &form, Some(&self.base)).await
    }

    /// `POST path` with exactly `form` and `origin`.
    pub async fn post_raw(
        &self,
        path: &str,
        form: &[(&str, &str)],
        origin: Option<&str>,
    ) -> reqwest::Response {
        let mut req = self
            .http
            .post(format!("{}{path}", self.base))
            .header("Cookie", &self.cookie)
            .form(form);
        if let Some(origin) = origin {
            req = req.header("Origin", origin);
        }
        within(path, req.send()).await.expect("HTTP")
    }

    /// Posts and follows the 303 to the result page; returns its body.
    pub async fn submit(&self, path: &str, fields: &[(&str, &str)]) -> String {
        let res = self.post(path, fields).await;
        assert_eq!(
            res.status(),
            StatusCode::SEE_OTHER,
            "{path}: {:?}",
            res.text().await
        );
        let to = res.headers()["location"].to_str().unwrap().to_string();
        let (status, body) = self.page(&to).await;
        assert_eq!(status, StatusCode::OK, "{to}: {body}");
        body
    }
}

fn account_path(peer: &libp2p::PeerId) -> String {
    format!("/admin/t/goop2/account?holder={peer}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_console_route_refuses_without_a_session() {
    let node = TestNode::start(|_| {}).await;
    let peer = node.peer().await;
    node.grant(&peer.id, 10).await;
    let http = client();
    let pages = [
        "/admin/".to_string(),
        "/admin/t/goop2".into(),
        "/admin/t/goop2/accounts".into(),
        account_path(&peer.id),
        "/admin/t/goop2/deliveries".into(),
        "/admin/t/goop2/payments".into(),
        "/admin/t/goop2/goop2/campaigns".into(),
    ];
    for path in &pages {
        // No cookie, a made-up cookie, the peer's bearer, the admin token as a bearer:
        // only a console session opens a page.
        for (name, value) in [
            ("X-None", "x".to_string()),
            ("Cookie", "rc_console=made-up-session-id".to_string()),
            ("Authorization", peer.authorization.clone()),
            ("Authorization", format!("Bearer {ADMIN_TOKEN}")),
        ] {
            let res = http
                .get(node.url(path))
                .header(name, &value)
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), StatusCode::SEE_OTHER, "{path} with {name}");
            assert_eq!(res.headers()["location"], "/admin/login", "{path}");
            let body = res.text().await.unwrap();
            assert!(
                !body.contains(&peer.id.to_string()),
                "{path} leaked the account"
            );
        }
    }
    let posts = [
        "/admin/logout",
        "/admin/t/goop2/goop2/grant",
        "/admin/t/goop2/goop2/refund",
        "/admin/t/goop2/goop2/campaigns",
        "/admin/t/goop2/deliveries/1/replay",
    ];
    for path in posts {
        let res = http
            .post(node.url(path))
            .header("Origin", &node.base)
            .header("Authorization", format!("Bearer {ADMIN_TOKEN}"))
            .form(&[
                ("holder", peer.id.to_string().as_str()),
                ("amount", "5"),
                ("csrf", "x"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{path}");
        assert!(res.text().await.unwrap().contains("no console session"));
    }
    assert_eq!(peer.balance().await, 10, "nothing was granted");

    // A wrong token, an empty one, or a sign-in posted from another site opens nothing.
    for (token, origin, status) in [
        ("wrong", node.base.as_str(), StatusCode::UNAUTHORIZED),
        ("", node.base.as_str(), StatusCode::UNAUTHORIZED),
        (ADMIN_TOKEN, "https://evil.example", StatusCode::FORBIDDEN),
    ] {
        let res = http
            .post(node.url("/admin/login"))
            .header("Origin", origin)
            .form(&[("token", token)])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), status, "token {token:?} from {origin}");
        assert!(res.headers().get("set-cookie").is_none());
    }
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_cookies_csrf_and_origins() {
    let node = TestNode::start(|_| {}).await;
    let peer = node.peer().await;
    node.grant(&peer.id, 40).await;

    // The session cookie: HttpOnly, SameSite=Strict, scoped to /admin; Secure only
    // over TLS (here: as a proxy in front says with X-Forwarded-Proto).
    let http = client();
    let login = |proto: Option<&'static str>| {
        let req = http
            .post(node.url("/admin/login"))
            .form(&[("token", ADMIN_TOKEN)]);
        match proto {
            Some(p) => req
                .header("X-Forwarded-Proto", p)
                .header("Origin", node.base.replace("http://", &format!("{p}://"))),
            None => req.header("Origin", &node.base),
        }
        .send()
    };
    let plain = login(None).await.unwrap();
    let set = plain.headers()["set-cookie"].to_str().unwrap().to_string();
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/admin"] {
        assert!(set.contains(flag), "{set}");
    }
    assert!(!set.contains("Secure"), "{set}");
    let tls = login(Some("https")).await.unwrap();
    assert_eq!(tls.status(), StatusCode::SEE_OTHER);
    assert!(tls.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .contains("Secure"));

    let console = Console::sign_in(&node).await;
    let grant = [("holder", peer.id.to_string()), ("amount", "250".into())];
    let grant: Vec<(&str, &str)> = grant.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let path = "/admin/t/goop2/goop2/grant";
    // Without the token, with a wrong one, from another origin, or with no origin at
    // all: 403 and nothing written.
    let mut wrong = grant.clone();
    wrong.push(("csrf", "not-the-token"));
    let mut right = grant.clone();
    right.push(("csrf", &console.csrf));
    for (form, origin) in [
        (&grant, Some(node.base.as_str())),
        (&wrong, Some(node.base.as_str())),
        (&right, Some("https://evil.example")),
        (&right, None),
    ] {
        let res = console.post_raw(path, form, origin).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "origin {origin:?}");
        assert!(res.text().await.unwrap().starts_with("<!DOCTYPE html>"));
    }
    assert_eq!(peer.balance().await, 40, "no refused post granted anything");

    // The right post grants once, as the admin API does.
    let page = console.submit(path, &grant).await;
    assert!(
        page.contains("Granted 250 credits: the balance is now 290."),
        "{page}"
    );
    assert_eq!(peer.balance().await, 290);
    let newest = &node.entries(&peer.id)[0];
    assert_eq!(
        (newest.kind.as_str(), newest.actor.as_str(), newest.amount),
        ("grant", "admin", 250)
    );

    // Bad input is named and changes nothing.
    for (amount, says) in [
        ("0", "amount: must be a whole number &gt; 0"),
        ("1.5", "amount: must be a whole number"),
        ("x", "amount: must be a whole number"),
    ] {
        let page = console
            .submit(
                path,
                &[("holder", &peer.id.to_string()), ("amount", amount)],
            )
            .await;
        assert!(page.contains(says), "{amount}: {page}");
    }
    let page = console
        .submit(path, &[("holder", "not-a-peer"), ("amount", "5")])
        .await;
    assert!(
        page.contains("peer_id: not a valid libp2p peer id"),
        "{page}"
    );
    assert_eq!(peer.balance().await, 290);

    // Signing out ends the session: the same cookie opens nothing any more.
    let res = console.post("/admin/logout", &[]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert!(res.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .contains("Max-Age=0"));
    let (status, _) = console.page("/admin/t/goop2").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let res = console.post(path, &grant).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(peer.balance().await, 290);
    node.verify();
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn markup_in_names_and_notes_renders_as_text() {
    let catalog = tempfile::tempdir().unwrap();
    let dir = catalog.path().join("xss");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("manifest.json"),
        json!({"name": "xss", "title": "<script>alert('title')</script>", "version": "1.0.0", "price": 5}).to_string(),
    )
    .unwrap();
    std::fs::write(dir.join("index.html"), "<h1>x</h1>").unwrap();
    let root = catalog.path().to_path_buf();
    let node = TestNode::start(move |c| c.server.catalog_dir = root).await;
    let peer = node.peer().await;
    let res = node
        .admin_post(
            "/api/credits/grant",
            &json!({"peer_id": peer.id.to_string(), "amount": 50, "note": "<script>alert('note')</script>"}),
        )
        .await;
    assert_eq!(json(res).await.0, StatusCode::OK);
    let (status, body) = json(
        peer.post("/api/credits/purchase", &json!({"template": "xss"}))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let console = Console::sign_in(&node).await;
    let page = console
        .submit(
            "/admin/t/goop2/goop2/campaigns",
            &[
                ("code", "SAFE-1"),
                ("amount", "5"),
                ("max_redemptions", "3"),
                ("ends_at", "2099-01-01T00:00:00Z"),
                ("note", "<img src=x onerror=alert(1)>"),
            ],
        )
        .await;
    assert!(
        page.contains("&lt;img src=x onerror=alert(1)&gt;"),
        "{page}"
    );
    let (_, page) = console.page(&account_path(&peer.id)).await;
    assert!(
        page.contains("&lt;script&gt;alert('note')&lt;/script&gt;"),
        "{page}"
    );
    assert!(
        page.contains("Purchased template: &lt;script&gt;alert('title')&lt;/script&gt;"),
        "{page}"
    );
    for p in [page, console.page("/admin/t/goop2").await.1] {
        assert!(!p.contains("<script>alert"), "{p}");
        assert!(!p.contains("<img src=x"), "{p}");
    }
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refunds_campaigns_and_the_dashboard_match_the_ledger() {
    let node = TestNode::start(|_| {}).await;
    let console = Console::sign_in(&node).await;
    let (a, b) = (node.peer().await, node.peer().await);
    node.grant(&a.id, 500).await;
    node.grant(&b.id, 20).await;
    let (status, body) = json(
        a.post("/api/credits/purchase", &json!({"template": "poker"}))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Refund from the account page: the price comes back, ownership goes.
    let (_, page) = console.page(&account_path(&a.id)).await;
    assert!(page.contains(r#"data-owned="poker""#), "{page}");
    let page = console
        .submit(
            "/admin/t/goop2/goop2/refund",
            &[("holder", &a.id.to_string()), ("template", "poker")],
        )
        .await;
    assert!(
        page.contains("Refunded poker (100 credits): the balance is now 500."),
        "{page}"
    );
    assert!(!page.contains(r#"data-owned="poker""#));
    let page = console
        .submit(
            "/admin/t/goop2/goop2/refund",
            &[("holder", &a.id.to_string()), ("template", "poker")],
        )
        .await;
    assert!(page.contains("peer does not own template poker"), "{page}");
    assert_eq!(a.balance().await, 500);

    // A campaign made in the console is redeemable by peers.
    let page = console
        .submit(
            "/admin/t/goop2/goop2/campaigns",
            &[
                ("code", "winter-26"),
                ("amount", "30"),
                ("max_redemptions", "2"),
                ("ends_at", "2099-01-01T00:00:00Z"),
            ],
        )
        .await;
    assert!(page.contains("Campaign WINTER-26 made"), "{page}");
    let page = console
        .submit(
            "/admin/t/goop2/goop2/campaigns",
            &[
                ("code", "WINTER-26"),
                ("amount", "30"),
                ("max_redemptions", "2"),
                ("ends_at", "2099-01-01T00:00:00Z"),
            ],
        )
        .await;
    assert!(page.contains("already in use"), "{page}");
    let (status, body) = json(
        b.post("/api/credits/redeem", &json!({"code": "WINTER-26"}))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = json(
        b.post("/api/credits/purchase", &json!({"template": "chess"}))
            .await,
    )
    .await;
    assert!(
        status == StatusCode::OK || status == StatusCode::PAYMENT_REQUIRED,
        "{body}"
    );

    // The dashboard's figures equal what the peers' own histories sum to.
    let (status, page) = console.page("/admin/t/goop2").await;
    assert_eq!(status, StatusCode::OK);
    let mut balances = 0;
    let (mut issued, mut spent) = (0, 0);
    for p in [&a, &b] {
        balances += p.balance().await;
        for e in p.history().await["transactions"].as_array().unwrap() {
            let amount = e["amount"].as_i64().unwrap();
            if amount > 0 {
                issued += amount
            } else {
                spent -= amount
            }
        }
    }
    assert_eq!(figure(&page, "accounts"), "2");
    assert_eq!(figure(&page, "liability"), balances.to_string());
    assert_eq!(figure(&page, "issued"), issued.to_string());
    assert_eq!(figure(&page, "spent"), spent.to_string());
    let low =
        if a.balance().await < 100 { 1 } else { 0 } + if b.balance().await < 100 { 1 } else { 0 };
    assert_eq!(figure(&page, "low-balance"), low.to_string());
    assert!(page.contains(r#"data-kind="promo""#) && page.contains(r#"data-campaign="WINTER-26""#));
    assert!(
        page.contains(r#"data-template="poker""#),
        "top templates: {page}"
    );
    node.verify();
    node.shutdown().await;
}

/// A node with the Goop2 tenant, a Roochip tenant `rooverse` whose webhooks go to a
/// port where nothing listens (one attempt, then a dead letter), and a RedRoomRewards
/// tenant `xcn`, with work waiting for the operator: a pending promo code request of
/// `request_user`, and a promotion with its two client-admin approvals awaiting the
/// RRR admin's (`promotion`).
pub struct Scene {
    /// The node.
    pub node: TestNode,
    /// The Roochip user whose code request waits.
    pub request_user: String,
    /// The promotion awaiting the RRR admin.
    pub promotion: String,
}

impl Scene {
    /// Starts the node and puts the work in place.
    pub async fn start() -> Scene {
        use crate::common::{roochip_server_key, roochip_tenant};
        use crate::rrr::promotions::{approval, at, ADMIN_A, ADMIN_B};
        use crate::rrr::{rrr_tenant, Xcn, CLIENT};
        let node = TestNode::start(|c| {
            let mut rooverse = roochip_tenant("rooverse");
            rooverse.webhook_url = "http://127.0.0.1:9/hooks".into();
            rooverse.webhook_secret = "whsec_console_scene".into();
            c.tenants.push(rooverse.into());
            c.tenants.push(rrr_tenant("xcn", &[CLIENT], json!({})));
            c.webhooks.schedule_secs = vec![0];
            c.webhooks.poll_interval_ms = 100;
            c.webhooks.timeout_secs = 2;
        })
        .await;
        let request_user = "roo-user-7".to_string();
        let res = node
            .http
            .post(node.url("/v1/codes/request"))
            .header("X-API-Key", roochip_server_key("rooverse"))
            .json(&json!({"external_user_id": request_user}))
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success(), "{:?}", res.text().await);

        let xcn = Xcn::connect(&node, CLIENT).await;
        let body = json!({"name": "Double points <b>weekend</b>", "starts_at": at(60), "ends_at": at(86_400),
                          "earn_rules": {"multiplier": 2}});
        let p = xcn.post("/v1/promotions", &body).await.ok(201);
        let promotion = p["promotion_id"].as_str().unwrap().to_string();
        xcn.post(&format!("/v1/promotions/{promotion}/submit"), &json!({}))
            .await
            .ok(200);
        for a in [ADMIN_A, ADMIN_B] {
            xcn.post(
                &format!("/v1/promotions/{promotion}/approve"),
                &approval("CLIENT_ADMIN", a),
            )
            .await
            .ok(200);
        }
        Scene {
            node,
            request_user,
            promotion,
        }
    }

    /// The tenant's deliveries with `status`.
    pub fn deliveries(
        &self,
        tenant: &str,
        status: &str,
    ) -> Vec<rendezvous_credits::webhooks::deliveries::DeliveryView> {
        use rendezvous_credits::webhooks::deliveries::{list_deliveries, Status};
        let tenant = rendezvous_credits::ledger::TenantId::new(tenant).unwrap();
        let status = Status::parse(status).unwrap();
        crate::common::off_runtime(|| {
            self.node
                .running
                .ledger
                .read_blocking(|r| list_deliveries(r, Some(&tenant), Some(status), 100, 0))
                .unwrap()
        })
    }

    /// Waits until `tenant` has a dead letter; returns its outbox id.
    pub async fn dead_letter(&self, tenant: &str) -> i64 {
        within("a dead letter", async {
            loop {
                if let Some(d) = self.deliveries(tenant, "dead").first() {
                    return d.id;
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        })
        .await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roochip_codes_dead_letters_and_rrr_approvals_from_the_console() {
    let scene = Scene::start().await;
    let node = &scene.node;
    let console = Console::sign_in(node).await;

    // Roochip: the request is listed; generating shows the code once and fulfils it.
    let (status, page) = console.page("/admin/t/rooverse/roochip/codes").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains(&scene.request_user), "{page}");
    let page = console
        .submit(
            "/admin/t/rooverse/roochip/codes/generate",
            &[("user", &scene.request_user)],
        )
        .await;
    let at = page
        .find("Code for roo-user-7: ")
        .expect("the code is shown")
        + "Code for roo-user-7: ".len();
    let code = &page[at..at + 12];
    assert!(code.starts_with("ROO-"), "{code}");
    assert!(
        !page.contains(r#"data-request=""#),
        "no request is pending any more"
    );
    let (_, again) = console.page("/admin/t/rooverse/roochip/codes").await;
    assert!(!again.contains(code), "the code is shown once");
    let page = console
        .submit(
            "/admin/t/rooverse/roochip/codes/generate",
            &[("user", &scene.request_user)],
        )
        .await;
    assert!(page.contains("notice error"), "one code per user: {page}");

    // A grant from the account page writes the event; its delivery dead-letters.
    let page = console
        .submit(
            "/admin/t/rooverse/roochip/grant",
            &[
                ("user", "roo-user-9"),
                ("amount", "12.50"),
                ("reason", "goodwill"),
            ],
        )
        .await;
    assert!(
        page.contains("Granted 12.50 ROO: the balance is now 12.50."),
        "{page}"
    );
    let page = console
        .submit(
            "/admin/t/rooverse/roochip/grant",
            &[("user", "roo-user-9"), ("amount", "1.234"), ("reason", "x")],
        )
        .await;
    assert!(page.contains("amount: "), "{page}");
    let dead = scene.dead_letter("rooverse").await;
    let (_, page) = console
        .page("/admin/t/rooverse/deliveries?status=dead")
        .await;
    assert!(
        page.contains(&format!(r#"data-delivery="{dead}""#)),
        "{page}"
    );
    let page = console
        .submit(&format!("/admin/t/rooverse/deliveries/{dead}/replay"), &[])
        .await;
    assert!(
        page.contains(&format!("evt_{dead} is pending again")),
        "{page}"
    );
    let page = console
        .submit("/admin/t/goop2/deliveries/999999/replay", &[])
        .await;
    assert!(page.contains("notice error"), "{page}");

    // RedRoomRewards: the promotion awaits the RRR admin; approving makes it ACTIVE.
    let (_, page) = console.page("/admin/t/xcn/rrr/promotions").await;
    assert!(page.contains(&scene.promotion), "{page}");
    assert!(
        page.contains("Double points &lt;b&gt;weekend&lt;/b&gt;"),
        "{page}"
    );
    assert!(page.contains("CLIENT_ADMIN: 2 of 2"), "{page}");
    let approve = format!("/admin/t/xcn/rrr/promotions/{}/approve", scene.promotion);
    let page = console
        .submit(&approve, &[("actor_id", "operator-1")])
        .await;
    assert!(page.contains("the promotion is now ACTIVE"), "{page}");
    assert!(page.contains("No promotion awaits approval."), "{page}");
    let page = console
        .submit(&approve, &[("actor_id", "operator-2")])
        .await;
    assert!(
        page.contains("only a PENDING_APPROVAL promotion is approved"),
        "{page}"
    );
    let page = console
        .submit(
            "/admin/t/xcn/rrr/promotions/not-a-uuid/approve",
            &[("actor_id", "x")],
        )
        .await;
    assert!(page.contains("promotion_id"), "{page}");

    // Without a session, no dialect's form post does anything.
    let http = client();
    for path in [
        "/admin/t/rooverse/roochip/codes/generate".to_string(),
        "/admin/t/rooverse/roochip/codes/some-id/reject".into(),
        "/admin/t/rooverse/roochip/grant".into(),
        approve.clone(),
    ] {
        let res = http
            .post(node.url(&path))
            .header("Origin", &node.base)
            .form(&[
                ("user", "roo-user-9"),
                ("amount", "1.00"),
                ("reason", "x"),
                ("actor_id", "x"),
                ("csrf", "x"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{path}");
    }

    // A dialect's pages belong to its tenants only.
    for path in [
        "/admin/t/goop2/roochip/codes",
        "/admin/t/rooverse/rrr/promotions",
        "/admin/t/xcn/goop2/campaigns",
        "/admin/t/nobody",
    ] {
        assert_eq!(console.page(path).await.0, StatusCode::NOT_FOUND, "{path}");
    }
    scene.node.verify();
    scene.node.shutdown().await;
}
