//! Buying and downloading templates on both route sets: the credit spec's routes and
//! the routes real Goop2 peers call.

use libp2p::identity::Keypair;
use reqwest::{header, StatusCode};
use serde_json::{json as j, Value};

use crate::common::{
    assert_bundle_matches, expect_error, json, raw_get, repo_catalog, untar, within, write_catalog,
    Peer, TestNode,
};

async fn body(res: reqwest::Response, status: StatusCode) -> Value {
    let (got, body) = json(res).await;
    assert_eq!(got, status, "{body}");
    body
}

/// Checks a 402 of purchase or spend: exactly the spec's body.
async fn assert_insufficient(res: reqwest::Response, balance: i64, price: i64) {
    let b = body(res, StatusCode::PAYMENT_REQUIRED).await;
    assert_eq!(
        b,
        j!({"error": "insufficient_credits", "balance": balance, "price": price, "shortfall": price - balance})
    );
}

async fn bytes_of(res: reqwest::Response) -> Vec<u8> {
    within("body", res.bytes()).await.expect("body").to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spec_routes_buy_download_refund() {
    let node = TestNode::start(|_| {}).await;
    let peer = node.peer().await;

    // The catalog with prices and ownership.
    let list = body(peer.get("/api/templates/list").await, StatusCode::OK).await;
    let rows = list.as_array().expect("an array");
    assert_eq!(rows.len(), 8);
    let row = |name: &str| -> Value {
        rows.iter()
            .find(|r| r["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("{name} listed"))
    };
    assert_eq!(row("poker")["price"], 100);
    assert_eq!(row("poker")["owned"], false);
    assert_eq!(row("poker")["title"], "Texas Hold'em");
    assert_eq!(row("chess")["price"], 0);
    assert_eq!(row("chess")["owned"], true);

    // No credits at all: 402 with the whole price as shortfall, nothing written.
    assert_insufficient(
        peer.post("/api/credits/purchase", &j!({"template": "poker"}))
            .await,
        0,
        100,
    )
    .await;
    assert!(
        node.account(&peer.id).is_none(),
        "a failed purchase opens nothing"
    );
    assert_eq!(node.entry_total(), 0);

    // Admin grant: refused without or with a wrong token.
    let grant = j!({"peer_id": peer.id.to_string(), "amount": 60, "note": "beta"});
    let res = within(
        "grant without token",
        node.http
            .post(node.url("/api/credits/grant"))
            .json(&grant)
            .send(),
    )
    .await
    .unwrap();
    expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized", &["Bearer"]).await;
    let res = within(
        "grant with a wrong token",
        node.http
            .post(node.url("/api/credits/grant"))
            .bearer_auth("wrong-token")
            .json(&grant)
            .send(),
    )
    .await
    .unwrap();
    expect_error(
        res,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        &["invalid admin token"],
    )
    .await;
    let res = within(
        "grant with a peer bearer",
        node.http
            .post(node.url("/api/credits/grant"))
            .header(header::AUTHORIZATION, &peer.authorization)
            .json(&grant)
            .send(),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(node.entry_total(), 0);

    let res = node.admin_post("/api/credits/grant", &grant).await;
    assert_eq!(
        body(res, StatusCode::OK).await,
        j!({"status": "ok", "new_balance": 60})
    );
    assert_eq!(peer.balance().await, 60);

    // 60 of 100: the exact shortfall.
    assert_insufficient(
        peer.post("/api/credits/purchase", &j!({"template": "poker"}))
            .await,
        60,
        100,
    )
    .await;
    assert_eq!(node.entry_total(), 1);

    // Download is gated until bought.
    let res = peer.get("/api/templates/download?name=poker").await;
    let b = body(res, StatusCode::PAYMENT_REQUIRED).await;
    assert_eq!(b["error"], "payment_required");
    assert_eq!(b["template"], "poker");
    assert_eq!(b["price"], 100);
    // Without credentials: a challenge.
    let res = node.get("/api/templates/download?name=poker").await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(res.headers().contains_key(header::WWW_AUTHENTICATE));

    assert_eq!(node.grant(&peer.id, 40).await, 100);
    let res = peer
        .post("/api/credits/purchase", &j!({"template": "poker"}))
        .await;
    assert_eq!(
        body(res, StatusCode::OK).await,
        j!({"status": "ok", "template": "poker", "price": 100, "new_balance": 0})
    );
    let res = peer
        .post("/api/credits/purchase", &j!({"template": "poker"}))
        .await;
    assert_eq!(
        body(res, StatusCode::OK).await,
        j!({"status": "already_owned", "template": "poker"})
    );
    assert_eq!(peer.balance().await, 0);

    let purchases = body(peer.get("/api/credits/purchases").await, StatusCode::OK).await;
    let list = purchases["purchases"].as_array().expect("purchases");
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["template"], "poker");
    assert_eq!(list[0]["price_paid"], 100);
    assert!(list[0]["purchased_at"]
        .as_str()
        .is_some_and(|t| t.ends_with('Z')));

    let history = peer.history().await;
    assert_eq!(history["total"], 3);
    let t = history["transactions"].as_array().unwrap();
    assert_eq!(t[0]["type"], "purchase");
    assert_eq!(t[0]["amount"], -100);
    assert_eq!(t[0]["balance"], 0);
    assert_eq!(t[0]["ref_type"], "template");
    assert_eq!(t[0]["ref_id"], "poker");
    assert_eq!(t[0]["note"], "Purchased template: Texas Hold'em");
    assert_eq!(t[1]["type"], "grant");
    assert_eq!(t[1]["amount"], 40);
    assert_eq!(t[1]["balance"], 100);
    assert_eq!(t[2]["type"], "grant");
    assert_eq!(t[2]["amount"], 60);
    assert_eq!(t[2]["note"], "beta");
    // Pagination.
    let page = body(
        peer.get("/api/credits/transactions?limit=1&offset=1").await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(page["total"], 3);
    assert_eq!(page["transactions"].as_array().unwrap().len(), 1);
    assert_eq!(page["transactions"][0]["amount"], 40);
    for bad in ["limit=0", "limit=101"] {
        let res = peer.get(&format!("/api/credits/transactions?{bad}")).await;
        expect_error(res, StatusCode::BAD_REQUEST, "bad_request", &["limit"]).await;
    }
    let res = peer.get("/api/credits/transactions?limit=abc").await;
    expect_error(res, StatusCode::BAD_REQUEST, "bad_request", &["query"]).await;

    let list = body(peer.get("/api/templates/list").await, StatusCode::OK).await;
    let poker = list
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "poker")
        .unwrap()
        .clone();
    assert_eq!(poker["owned"], true);

    // The download now serves the catalog folder byte for byte.
    let res = peer.get("/api/templates/download?name=poker").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()[header::CONTENT_TYPE], "application/gzip");
    assert_bundle_matches(&bytes_of(res).await, &repo_catalog(), "poker");

    // A free template: "free", nothing recorded, downloadable by anyone.
    let res = peer
        .post("/api/credits/purchase", &j!({"template": "chess"}))
        .await;
    let b = body(res, StatusCode::OK).await;
    assert_eq!(b["status"], "free");
    assert_eq!(b["template"], "chess");
    assert_eq!(peer.history().await["total"], 3);
    let res = node.get("/api/templates/download?name=chess").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_bundle_matches(&bytes_of(res).await, &repo_catalog(), "chess");

    // Unknown templates.
    let res = peer
        .post("/api/credits/purchase", &j!({"template": "blackjack"}))
        .await;
    expect_error(res, StatusCode::NOT_FOUND, "not_found", &["blackjack"]).await;
    let res = peer.get("/api/templates/download?name=blackjack").await;
    expect_error(res, StatusCode::NOT_FOUND, "not_found", &["blackjack"]).await;

    // Admin refund: credits back as a refund entry, ownership revoked.
    let refund = j!({"peer_id": peer.id.to_string(), "template": "poker"});
    let res = within(
        "refund without token",
        node.http
            .post(node.url("/api/credits/refund"))
            .json(&refund)
            .send(),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = node.admin_post("/api/credits/refund", &refund).await;
    assert_eq!(
        body(res, StatusCode::OK).await,
        j!({"status": "ok", "template": "poker", "refunded": 100, "new_balance": 100})
    );
    assert_eq!(peer.balance().await, 100);
    let history = peer.history().await;
    assert_eq!(history["total"], 4);
    assert_eq!(history["transactions"][0]["type"], "refund");
    assert_eq!(history["transactions"][0]["amount"], 100);
    assert_eq!(history["transactions"][0]["ref_id"], "poker");
    let purchases = body(peer.get("/api/credits/purchases").await, StatusCode::OK).await;
    assert_eq!(purchases["purchases"], j!([]));
    let res = peer.get("/api/templates/download?name=poker").await;
    assert_eq!(res.status(), StatusCode::PAYMENT_REQUIRED);
    // Refunding what is no longer owned: 404, nothing written.
    let res = node.admin_post("/api/credits/refund", &refund).await;
    expect_error(res, StatusCode::NOT_FOUND, "not_found", &["poker"]).await;
    assert_eq!(peer.history().await["total"], 4);

    // Buying again after the refund charges again.
    let res = peer
        .post("/api/credits/purchase", &j!({"template": "poker"}))
        .await;
    assert_eq!(body(res, StatusCode::OK).await["new_balance"], 0);
    assert_eq!(
        peer.get("/api/templates/download?name=poker")
            .await
            .status(),
        StatusCode::OK
    );

    assert_eq!(node.entry_total(), 5);
    node.verify();
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn goop2_peer_routes_spend_and_bundle() {
    let node = TestNode::start(|_| {}).await;
    let peer = node.peer().await;

    let all = body(node.get("/api/templates").await, StatusCode::OK).await;
    let all = all.as_array().expect("an array of manifests");
    assert_eq!(all.len(), 8);
    for m in all {
        assert_eq!(m["source"], "store");
        assert!(m["dir"].is_string() && m["name"].is_string(), "{m}");
    }
    let manifest = body(
        node.get("/api/templates/poker/manifest.json").await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(manifest["dir"], "poker");
    assert_eq!(manifest["source"], "store");
    assert_eq!(manifest["price"], 100);
    assert_eq!(manifest["title"], "Texas Hold'em");
    assert_eq!(manifest["tables"]["hands"]["insert_policy"], "owner");
    let res = node.get("/api/templates/blackjack/manifest.json").await;
    expect_error(res, StatusCode::NOT_FOUND, "not_found", &["blackjack"]).await;

    let prices = body(node.get("/api/templates/prices").await, StatusCode::OK).await;
    assert_eq!(
        prices,
        j!({"chess": 0, "corkboard": 0, "kanban": 0, "photobook": 0, "poker": 100,
            "quiz": 0, "studio": 500, "trivia-league": 50})
    );

    node.grant(&peer.id, 60).await;
    let store = body(peer.get("/api/credits/store-data").await, StatusCode::OK).await;
    assert_eq!(
        store,
        j!({"credits_active": true, "balance": 60, "owned_templates": []})
    );

    assert_insufficient(
        peer.post("/api/credits/spend", &j!({"template": "poker"}))
            .await,
        60,
        100,
    )
    .await;
    let res = peer.get("/api/templates/poker/bundle").await;
    assert_eq!(
        body(res, StatusCode::PAYMENT_REQUIRED).await["error"],
        "payment_required"
    );

    let res = peer
        .post("/api/credits/spend", &j!({"template": "trivia-league"}))
        .await;
    assert_eq!(
        body(res, StatusCode::OK).await,
        j!({"balance": 10, "owned": true})
    );
    let res = peer
        .post("/api/credits/spend", &j!({"template": "trivia-league"}))
        .await;
    assert_eq!(
        body(res, StatusCode::OK).await,
        j!({"balance": 10, "owned": true})
    );
    // Free: owned, nothing charged or recorded.
    let res = peer
        .post("/api/credits/spend", &j!({"template": "chess"}))
        .await;
    assert_eq!(
        body(res, StatusCode::OK).await,
        j!({"balance": 10, "owned": true})
    );
    let res = peer
        .post("/api/credits/spend", &j!({"template": "blackjack"}))
        .await;
    expect_error(res, StatusCode::NOT_FOUND, "not_found", &["blackjack"]).await;

    assert_eq!(node.grant(&peer.id, 90).await, 100);
    let res = peer
        .post("/api/credits/spend", &j!({"template": "poker"}))
        .await;
    assert_eq!(
        body(res, StatusCode::OK).await,
        j!({"balance": 0, "owned": true})
    );

    let store = body(peer.get("/api/credits/store-data").await, StatusCode::OK).await;
    assert_eq!(
        store,
        j!({"credits_active": true, "balance": 0, "owned_templates": ["trivia-league", "poker"]})
    );
    let history = peer.history().await;
    assert_eq!(history["total"], 4, "two grants, two purchases: {history}");

    for dir in ["poker", "trivia-league", "chess"] {
        let res = peer.get(&format!("/api/templates/{dir}/bundle")).await;
        assert_eq!(res.status(), StatusCode::OK, "{dir}");
        assert_eq!(res.headers()[header::CONTENT_TYPE], "application/gzip");
        assert_eq!(
            res.headers()[header::CONTENT_DISPOSITION],
            format!("attachment; filename=\"{dir}.tar.gz\"").as_str()
        );
        assert_bundle_matches(&bytes_of(res).await, &repo_catalog(), dir);
    }
    let res = peer.get("/api/templates/blackjack/bundle").await;
    expect_error(res, StatusCode::NOT_FOUND, "not_found", &["blackjack"]).await;
    // Another peer does not own what this one bought.
    let other = node.peer().await;
    let res = other.get("/api/templates/poker/bundle").await;
    assert_eq!(res.status(), StatusCode::PAYMENT_REQUIRED);
    let res = node.get("/api/templates/poker/bundle").await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = node.get("/api/templates/chess/bundle").await;
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "free bundles need no credentials"
    );

    assert_eq!(node.entry_total(), 4);
    node.verify();
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn path_traversal_is_refused() {
    let node = TestNode::start(|c| c.goop2.trust_peer_id_header = true).await;
    // An owner of everything, so that a 402 cannot hide a leak.
    let owner = Keypair::generate_ed25519().public().to_peer_id();
    let owner = owner.to_string();
    let targets = [
        "/api/templates/..%2F..%2Fetc/bundle".to_string(),
        "/api/templates/..%2F..%2Fetc%2Fpasswd/bundle".to_string(),
        "/api/templates/..%2F..%2Fetc/manifest.json".to_string(),
        "/api/templates/%2E%2E/bundle".to_string(),
        "/api/templates/poker%2F..%2F..%2Fsrc/bundle".to_string(),
        "/api/templates/poker%00/bundle".to_string(),
        "/api/templates/%2Fetc%2Fpasswd/bundle".to_string(),
        "/api/templates/../../etc/passwd/bundle".to_string(),
        "/api/templates/download?name=../../etc/passwd".to_string(),
        "/api/templates/download?name=..%2F..%2Fetc%2Fpasswd".to_string(),
        "/api/templates/download?name=poker/../poker".to_string(),
        "/api/templates/download?name=poker%2F..%2Fchess".to_string(),
        "/api/templates/download?name=chess%00".to_string(),
        "/api/templates/download?name=/etc/passwd".to_string(),
        "/api/templates/download?name=%2Fetc%2Fpasswd".to_string(),
        "/api/templates/download?name=..".to_string(),
        "/api/templates/download?name=".to_string(),
        format!("/api/templates/download?name=../Cargo.toml&peer_id={owner}"),
        format!("/api/templates/download?name=../templates-catalog/poker&peer_id={owner}"),
    ];
    let cargo_toml = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml")).unwrap();
    for target in &targets {
        let (status, body) = raw_get(&node, target).await;
        assert!(
            status == 400 || status == 404,
            "{target}: expected 400 or 404, got {status}"
        );
        let text = String::from_utf8_lossy(&body);
        assert!(!text.contains("root:"), "{target} leaked /etc/passwd");
        assert!(!text.contains("[package]"), "{target} leaked Cargo.toml");
        assert!(
            !body.windows(64).any(|w| w == &cargo_toml[..64]),
            "{target} leaked Cargo.toml"
        );
        assert!(!body.starts_with(&[0x1f, 0x8b]), "{target} served a bundle");
    }
    // The same names through the JSON routes.
    for name in ["../poker", "poker/", "/etc/passwd", "poker\u{0}", "..", "."] {
        let res = within(
            "purchase with a path",
            node.http
                .post(node.url("/api/credits/purchase"))
                .header("X-Goop-Peer-ID", &owner)
                .json(&j!({"template": name}))
                .send(),
        )
        .await
        .unwrap();
        let status = res.status();
        assert!(
            status == StatusCode::NOT_FOUND || status == StatusCode::BAD_REQUEST,
            "{name:?}: {status}"
        );
    }
    assert_eq!(node.entry_total(), 0);
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credits_disabled_makes_everything_free() {
    let node = TestNode::start(|c| c.goop2.credits_enabled = false).await;
    let prices = body(node.get("/api/templates/prices").await, StatusCode::OK).await;
    let prices = prices.as_object().unwrap();
    assert_eq!(prices.len(), 8);
    assert!(prices.values().all(|p| p == 0), "{prices:?}");
    let manifest = body(
        node.get("/api/templates/studio/manifest.json").await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(manifest["price"], 0);

    // Without any credentials, both download routes serve paid templates.
    let res = node.get("/api/templates/download?name=poker").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_bundle_matches(&bytes_of(res).await, &repo_catalog(), "poker");
    let res = node.get("/api/templates/studio/bundle").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_bundle_matches(&bytes_of(res).await, &repo_catalog(), "studio");

    let peer = node.peer().await;
    let list = body(peer.get("/api/templates/list").await, StatusCode::OK).await;
    for row in list.as_array().unwrap() {
        assert_eq!(row["price"], 0, "{row}");
        assert_eq!(row["owned"], true, "{row}");
    }
    let res = peer
        .post("/api/credits/purchase", &j!({"template": "poker"}))
        .await;
    assert_eq!(body(res, StatusCode::OK).await["status"], "free");
    let res = peer
        .post("/api/credits/spend", &j!({"template": "studio"}))
        .await;
    assert_eq!(
        body(res, StatusCode::OK).await,
        j!({"balance": 0, "owned": true})
    );
    let store = body(peer.get("/api/credits/store-data").await, StatusCode::OK).await;
    assert_eq!(store["credits_active"], false);
    assert_eq!(node.entry_total(), 0, "nothing recorded");
    assert!(node.account(&peer.id).is_none());
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peer_client_register_buy_install() {
    let node = TestNode::start(|_| {}).await;
    let mut peer = node.peer().await;
    let client = &mut peer.client;
    let info = within("node info", client.node()).await.expect("node info");
    assert_eq!(info.peer_id, node.peer_id().to_string());

    within(
        "register",
        client.register(None, rendezvous_credits::p2p::RecordDomain::Standard),
    )
    .await
    .expect("registered");
    let balance = within("balance", client.balance()).await.expect("balance");
    assert_eq!(balance.balance, 500);
    assert_eq!(balance.peer_id, client.peer_id().to_string());

    // Not bought yet: installing is refused with 402 and writes nothing.
    let dir = tempfile::tempdir().unwrap();
    let err = within("install before buying", client.install("poker", dir.path()))
        .await
        .expect_err("402");
    assert!(err.to_string().contains("402"), "{err}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);

    let bought = within("buy", client.buy("poker")).await.expect("bought");
    assert_eq!(bought.status, "ok");
    assert_eq!(bought.new_balance, Some(400));
    let again = within("buy again", client.buy("poker"))
        .await
        .expect("answered");
    assert_eq!(again.status, "already_owned");
    let err = within("buy unknown", client.buy("blackjack"))
        .await
        .expect_err("404");
    assert!(err.to_string().contains("404"), "{err}");

    let files = within("install", client.install("poker", dir.path()))
        .await
        .expect("installed");
    let want = crate::common::catalog_files(&repo_catalog(), "poker");
    assert_eq!(files.len(), want.len());
    for (name, bytes) in &want {
        let rel = name.strip_prefix("poker/").unwrap();
        let got = std::fs::read(dir.path().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
        assert!(&got == bytes, "{rel} differs from the catalog");
    }

    let templates = within("templates", client.templates()).await.expect("list");
    assert!(templates.iter().any(|t| t.name == "poker" && t.owned));
    let history = within("history", client.history(10))
        .await
        .expect("history");
    assert_eq!(history.total, 2);
    assert_eq!(history.transactions[0].kind, "purchase");
    assert_eq!(history.transactions[1].kind, "starter");
    // The raw HTTP view of the same peer agrees.
    assert_eq!(peer.balance().await, 400);
    node.verify();
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ownership_survives_a_new_version() {
    let catalog = tempfile::tempdir().unwrap();
    write_catalog(catalog.path(), 1, 10);
    let root = catalog.path().to_path_buf();
    let node = TestNode::start(|c| c.server.catalog_dir = root.clone()).await;
    let peer = node.peer().await;
    node.grant(&peer.id, 10).await;
    let res = peer
        .post("/api/credits/purchase", &j!({"template": "t000"}))
        .await;
    let bought = body(res, StatusCode::OK).await;
    assert_eq!(bought["status"], "ok");

    // The operator publishes version 2.0.0 with new contents and a higher price.
    std::fs::write(
        root.join("t000/manifest.json"),
        j!({"name": "t000", "title": "Template 0", "version": "2.0.0", "price": 20}).to_string(),
    )
    .unwrap();
    std::fs::write(root.join("t000/index.html"), "<h1>v2</h1>").unwrap();
    let node = node.restart().await;
    let peer = Peer::authenticate(&node, peer.key.clone()).await;

    let list = body(peer.get("/api/templates/list").await, StatusCode::OK).await;
    let t = list
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "t000")
        .expect("t000 listed");
    assert_eq!(t["version"], "2.0.0");
    assert_eq!(t["price"], 20);
    assert_eq!(t["owned"], true);

    let res = peer.get("/api/templates/download?name=t000").await;
    assert_eq!(res.status(), StatusCode::OK);
    let files = untar(&bytes_of(res).await);
    assert_eq!(files["t000/index.html"].0, b"<h1>v2</h1>");

    let again = peer
        .post("/api/credits/purchase", &j!({"template": "t000"}))
        .await;
    assert_eq!(body(again, StatusCode::OK).await["status"], "already_owned");
    assert_eq!(peer.balance().await, 0);
    node.shutdown().await;
}
