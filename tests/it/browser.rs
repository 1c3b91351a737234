//! Real-browser tests: headless Chromium (Debian's `chromium`) driven through
//! `chromedriver` with fantoccini. The store UI from registration on, and the operator
//! console (sign-in, grant, refund, a Roochip code, a dead letter's replay, an RRR
//! approval, the dashboard against the ledger), each page checked with axe-core (WCAG 2
//! A and AA) and at phone width. Screenshots of the store and the dashboard go to
//! `docs/`, where the README shows them.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

use crate::common::{within, ADMIN_TOKEN, WAIT};
use crate::console::{Console, Scene};

/// axe-core, injected into each page checked.
const AXE: &str = include_str!("fixtures/axe.min.js");

/// A chromedriver process and a browser session in a fresh profile.
struct Browser {
    client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
}

impl Browser {
    async fn start() -> Browser {
        let driver_bin = std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".into());
        let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
        let port = crate::common::free_port();
        let driver = Command::new(&driver_bin)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start {driver_bin} ({e}): install Debian's chromium and chromium-driver")
            });
        within("chromedriver listens", async {
            while tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_err()
            {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await;
        let profile = tempfile::tempdir().expect("a browser profile folder");
        let caps = json!({
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-quic", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--window-size=1280,1000",
                    format!("--user-data-dir={}", profile.path().display()),
                ]
            }
        });
        let Value::Object(caps) = caps else {
            unreachable!()
        };
        let client = within(
            "a browser session",
            ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
                .capabilities(caps)
                .connect(&format!("http://127.0.0.1:{port}")),
        )
        .await
        .expect("chromedriver opens a Chromium session");
        Browser {
            client,
            driver,
            _profile: profile,
        }
    }

    async fn goto(&self, url: &str) {
        within(url, self.client.goto(url))
            .await
            .expect("navigation");
    }

    async fn find(&self, css: &str) -> fantoccini::elements::Element {
        within(
            css,
            self.client
                .wait()
                .at_most(WAIT)
                .for_element(Locator::Css(css)),
        )
        .await
        .unwrap_or_else(|e| panic!("no {css}: {e}"))
    }

    async fn text(&self, css: &str) -> String {
        self.find(css).await.text().await.expect("text")
    }

    async fn click(&self, css: &str) {
        self.find(css)
            .await
            .click()
            .await
            .unwrap_or_else(|e| panic!("click {css}: {e}"));
    }

    async fn fill(&self, css: &str, value: &str) {
        let e = self.find(css).await;
        e.clear().await.expect("clear");
        e.send_keys(value).await.expect("type");
    }

    /// Waits until the element `css` exists and its text holds `needle`.
    async fn wait_text(&self, css: &str, needle: &str) -> String {
        let mut last = String::new();
        let found = tokio::time::timeout(WAIT, async {
            loop {
                if let Ok(e) = self.client.find(Locator::Css(css)).await {
                    if let Ok(t) = e.text().await {
                        if t.contains(needle) {
                            return t;
                        }
                        last = t;
                    }
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await;
        found.unwrap_or_else(|_| panic!("{css} never said {needle:?}; last: {last:?}"))
    }

    /// Runs axe-core's WCAG 2 A and AA rules on the page; fails on any violation.
    async fn accessible(&self, page: &str) {
        self.client.execute(AXE, vec![]).await.expect("inject axe");
        let found = self
            .client
            .execute_async(
                "const done = arguments[arguments.length - 1];
                 axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa']}})
                    .then(r => done(r.violations.map(v => v.id + ': ' + v.nodes.map(n => n.target.join(' ')).join(', '))))
                    .catch(e => done(['axe failed: ' + e]));",
                vec![],
            )
            .await
            .expect("axe runs");
        assert_eq!(found, json!([]), "accessibility violations on {page}");
    }

    /// Whether the page fits a phone's width (390 px) without scrolling sideways.
    async fn fits_a_phone(&self, page: &str) {
        self.client.set_window_size(390, 844).await.expect("resize");
        let overflow = self
            .client
            .execute(
                "return document.documentElement.scrollWidth - window.innerWidth;",
                vec![],
            )
            .await
            .expect("measure");
        assert!(
            overflow.as_i64().unwrap_or(1) <= 0,
            "{page} is wider than a phone by {overflow} px"
        );
        self.client
            .set_window_size(1280, 1000)
            .await
            .expect("resize");
    }

    /// Saves a screenshot of the page as `docs/<name>`.
    async fn screenshot(&self, name: &str) {
        let png = self.client.screenshot().await.expect("screenshot");
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("docs")
            .join(name);
        std::fs::write(&path, png).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn credits(n: i64) -> String {
    format!("{n} credits")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_ui_and_the_console_in_a_real_browser() {
    let scene = Scene::start().await;
    let node = &scene.node;
    let installs = tempfile::tempdir().unwrap();
    let (ui, peer) = crate::store_ui::start_ui(node, installs.path()).await;
    let store = ui.url();
    let b = Browser::start().await;

    // Registration: the welcome message and the starter credits in the navbar.
    b.goto(&store).await;
    b.accessible("the store before registration").await;
    b.click("form[action='/register'] button").await;
    b.wait_text(
        ".notice.ok",
        "Welcome! You've received 500 credits to get started.",
    )
    .await;
    assert_eq!(b.text("#balance").await, credits(500));

    // Buying poker asks first, with the balance before and after.
    assert_eq!(
        b.text("li[data-template='poker'] .price").await,
        "100 credits"
    );
    b.click("li[data-template='poker'] a.button").await;
    assert_eq!(
        b.text("#confirm-text").await,
        "Purchase 'Texas Hold'em' for 100 credits? Your balance: 500 credits → 400 credits"
    );
    let focused = b
        .client
        .execute("return document.activeElement.textContent;", vec![])
        .await
        .unwrap();
    assert_eq!(
        focused, "Confirm purchase",
        "the dialog takes the keyboard focus"
    );
    b.accessible("the purchase confirmation").await;
    b.click("dialog button[type='submit']").await;
    b.wait_text(
        ".notice.ok",
        "Bought 'Texas Hold'em' for 100 credits. Your balance: 400 credits.",
    )
    .await;
    assert_eq!(b.text("#balance").await, credits(400));
    assert_eq!(b.text("li[data-template='poker'] .badge").await, "Owned");
    assert_eq!(b.text("li[data-template='chess'] .badge").await, "Free");

    // Install into a chosen folder, as `peer install` does.
    let target = installs.path().join("my-poker");
    b.fill(
        "li[data-template='poker'] input[name='dir']",
        &target.display().to_string(),
    )
    .await;
    b.click("li[data-template='poker'] form[action='/install'] button")
        .await;
    b.wait_text(".notice.ok", "Installed 'Texas Hold'em' into")
        .await;
    assert!(target.join("manifest.json").is_file() && target.join("index.html").is_file());

    // Studio costs more than the balance: the node's 402 and its shortfall, plainly.
    b.click("li[data-template='studio'] a.button").await;
    assert!(b
        .text("#confirm-text")
        .await
        .ends_with("Your balance: 400 credits (100 credits short)"));
    b.click("dialog button[type='submit']").await;
    b.wait_text(
        ".notice.error",
        "Not enough credits: 'Pixel Studio' costs 500 credits and your balance is 400 credits. You need 100 more credits.",
    )
    .await;
    assert_eq!(b.text("#balance").await, credits(400));
    b.fits_a_phone("the store").await;
    b.screenshot("store-ui.png").await;

    // The history pages through the transactions, newest first.
    for _ in 0..20 {
        node.grant(&peer, 1).await;
    }
    b.click("a[href='/history']").await;
    b.wait_text("caption", "22 transactions in all").await;
    let rows = b.client.find_all(Locator::Css("tbody tr")).await.unwrap();
    assert_eq!(rows.len(), 20);
    b.accessible("the history").await;
    b.click("a[rel='next']").await;
    b.wait_text(".pager", "Page 2 of 2").await;
    let older: Vec<String> = {
        let mut texts = Vec::new();
        for r in b.client.find_all(Locator::Css("tbody tr")).await.unwrap() {
            texts.push(r.text().await.unwrap());
        }
        texts
    };
    assert_eq!(older.len(), 2);
    assert!(
        older[0].contains("purchase") && older[1].contains("starter"),
        "{older:?}"
    );

    // The console: sign in with the admin token.
    b.goto(&node.url("/admin/")).await;
    b.wait_text("h1", "Sign in").await;
    b.accessible("the sign-in page").await;
    b.fill("#token", ADMIN_TOKEN).await;
    b.click("form[action='/admin/login'] button").await;
    b.wait_text("h1", "Tenants").await;

    // Grant 250 from the account page: the peer's navbar changes.
    b.goto(&node.url(&format!("/admin/t/goop2/account?holder={peer}")))
        .await;
    b.fill("#grant-amount", "250").await;
    b.fill("#grant-note", "Thanks for testing").await;
    b.click("form[action='/admin/t/goop2/goop2/grant'] button")
        .await;
    b.wait_text(".notice.ok", "Granted 250 credits: the balance is now 670.")
        .await;
    b.accessible("the account page").await;
    // Refund poker: the price comes back and ownership goes.
    b.click("tr[data-owned='poker'] button").await;
    b.wait_text(
        ".notice.ok",
        "Refunded poker (100 credits): the balance is now 770.",
    )
    .await;
    b.goto(&store).await;
    b.wait_text("#balance", &credits(770)).await;
    assert_eq!(
        b.text("li[data-template='poker'] a.button").await,
        "Buy for 100 credits"
    );

    // Roochip: generate the pending request's code.
    b.goto(&node.url("/admin/t/rooverse/roochip/codes")).await;
    b.accessible("the code requests").await;
    b.click("tr[data-request] form[action$='/generate'] button")
        .await;
    let shown = b
        .wait_text(
            ".notice.ok",
            &format!("Code for {}: ROO-", scene.request_user),
        )
        .await;
    assert!(shown.contains("It is shown only now"), "{shown}");

    // A dead letter, replayed from the deliveries page.
    let http = Console::sign_in(node).await;
    http.submit(
        "/admin/t/rooverse/roochip/grant",
        &[
            ("user", "roo-user-9"),
            ("amount", "3.00"),
            ("reason", "goodwill"),
        ],
    )
    .await;
    let dead = scene.dead_letter("rooverse").await;
    b.goto(&node.url("/admin/t/rooverse/deliveries?status=dead"))
        .await;
    b.accessible("the webhook deliveries").await;
    b.click(&format!("tr[data-delivery='{dead}'] button")).await;
    b.wait_text(".notice.ok", &format!("evt_{dead} is pending again"))
        .await;

    // RedRoomRewards: approve the promotion awaiting the RRR admin.
    b.goto(&node.url("/admin/t/xcn/rrr/promotions")).await;
    b.accessible("the promotions awaiting approval").await;
    b.fill(&format!("#actor-{}", scene.promotion), "operator-1")
        .await;
    b.click(&format!(
        "section[data-promotion='{}'] button",
        scene.promotion
    ))
    .await;
    b.wait_text(".notice.ok", "the promotion is now ACTIVE")
        .await;

    // The dashboard's figures equal the sums recomputed from the ledger.
    b.goto(&node.url("/admin/t/goop2")).await;
    b.find("#daily-chart canvas").await;
    let entries = node.entries(&peer);
    let issued: i64 = entries
        .iter()
        .filter(|e| e.amount > 0)
        .map(|e| e.amount)
        .sum();
    let spent: i64 = entries
        .iter()
        .filter(|e| e.amount < 0)
        .map(|e| -e.amount)
        .sum();
    let balance = node.account(&peer).unwrap().available;
    for (name, expected) in [
        ("accounts", "1".to_string()),
        ("liability", balance.to_string()),
        ("issued", issued.to_string()),
        ("spent", spent.to_string()),
        ("low-balance", "0".to_string()),
    ] {
        let shown = b.text(&format!("[data-figure='{name}'] .figure")).await;
        assert_eq!(shown.replace(',', ""), expected, "{name}");
    }
    let grants: i64 = entries
        .iter()
        .filter(|e| e.kind == "grant")
        .map(|e| e.amount)
        .sum();
    let row = b.text("tr[data-kind='grant']").await;
    assert!(row.contains(&grants.to_string()), "{row}");
    b.accessible("the dashboard").await;
    b.fits_a_phone("the dashboard").await;
    b.screenshot("console-dashboard.png").await;

    // Signing out ends the session.
    b.click("form[action='/admin/logout'] button").await;
    b.wait_text("h1", "Sign in").await;
    b.goto(&node.url("/admin/t/goop2")).await;
    b.wait_text("h1", "Sign in").await;

    let _ = b.client.clone().close().await;
    drop(b);
    ui.stop().await;
    scene.node.verify();
    scene.node.shutdown().await;
}
