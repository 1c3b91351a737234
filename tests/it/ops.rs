//! Operations: health, metrics, the OpenAPI document, the node's identity, unknown
//! routes, and the per-peer rate limits.

use reqwest::{header, StatusCode};
use serde_json::{json as j, Value};

use libp2p::identity::Keypair;
use rendezvous_credits::client::{ClientError, PeerClient};
use rendezvous_credits::config::RateLimits;

use crate::common::{expect_error, json, TestNode};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn balance_reads_are_rate_limited_per_peer() {
    let node = TestNode::start(|c| c.goop2.rate_limits.balance_per_min = 3).await;
    let peer = node.peer().await;
    for _ in 0..3 {
        assert_eq!(
            peer.get("/api/credits/balance").await.status(),
            StatusCode::OK
        );
    }
    let res = peer.get("/api/credits/balance").await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = res
        .headers()
        .get(header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("a Retry-After header in whole seconds");
    assert!((1..=60).contains(&retry), "Retry-After {retry}");
    expect_error(
        res,
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        &["retry"],
    )
    .await;

    // The quota is per peer, and other limits are separate.
    let other = node.peer().await;
    assert_eq!(
        other.get("/api/credits/balance").await.status(),
        StatusCode::OK
    );
    assert_eq!(
        peer.get("/api/credits/transactions").await.status(),
        StatusCode::OK
    );
    node.shutdown().await;
}

/// goop2-credit-system.md, "Rate Limiting": 60 balance reads per minute. A new peer
/// using the crate's client (whose first call runs the libp2p-PeerID handshake) gets
/// all 60, and the 61st is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_peer_gets_sixty_balance_reads_a_minute_with_the_default_limits() {
    let node = TestNode::start(|c| c.goop2.rate_limits = RateLimits::default()).await;
    assert_eq!(node.config.goop2.rate_limits.balance_per_min, 60);
    let mut client = PeerClient::new(&node.base, Keypair::generate_ed25519());
    for i in 1..=60 {
        let answer = client.balance().await;
        assert!(answer.is_ok(), "balance read {i} of 60: {answer:?}");
    }
    match client.balance().await {
        Err(ClientError::Status { status: 429, body }) => {
            assert!(body.contains("rate_limited"), "{body}")
        }
        other => panic!("the 61st read should be refused with 429: {other:?}"),
    }
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purchases_are_rate_limited_without_charging() {
    let node = TestNode::start(|c| c.goop2.rate_limits.purchase_per_min = 2).await;
    let peer = node.peer().await;
    node.grant(&peer.id, 1000).await;
    for t in ["poker", "trivia-league"] {
        let res = peer
            .post("/api/credits/purchase", &j!({"template": t}))
            .await;
        assert_eq!(res.status(), StatusCode::OK);
    }
    let res = peer
        .post("/api/credits/spend", &j!({"template": "studio"}))
        .await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(res.headers().contains_key(header::RETRY_AFTER));
    assert_eq!(
        peer.balance().await,
        850,
        "the limited spend charged nothing"
    );
    node.verify();
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_metrics_openapi_and_node_identity() {
    let node = TestNode::start(|_| {}).await;

    let res = node.get("/healthz").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.text().await.unwrap(), "ok");

    // Some traffic, including a ledger write.
    let peer = node.peer().await;
    node.grant(&peer.id, 5).await;
    assert_eq!(peer.balance().await, 5);

    let res = node.get("/metrics").await;
    assert_eq!(res.status(), StatusCode::OK);
    let text = res.text().await.unwrap();
    assert!(text.contains("http_requests_total"), "{text}");
    assert!(
        text.lines().any(|l| l.starts_with("http_requests_total")
            && l.contains("route=\"/api/credits/balance\"")
            && l.contains("status=\"200\"")),
        "{text}"
    );
    assert!(text.contains("ledger_batch_size"), "{text}");

    let (status, doc) = json(node.get("/openapi.json").await).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")),
        "{doc}"
    );
    let paths = doc["paths"].as_object().expect("paths");
    for path in [
        "/api/credits/balance",
        "/api/credits/transactions",
        "/api/credits/purchase",
        "/api/credits/purchases",
        "/api/credits/grant",
        "/api/credits/refund",
        "/api/credits/store-data",
        "/api/credits/spend",
        "/api/templates",
        "/api/templates/list",
        "/api/templates/download",
        "/api/templates/prices",
        "/api/templates/{dir}/manifest.json",
        "/api/templates/{dir}/bundle",
        "/api/node",
        "/publish",
        "/events",
        "/healthz",
        "/metrics",
        "/openapi.json",
    ] {
        assert!(
            paths.contains_key(path),
            "{path} missing from /openapi.json"
        );
    }
    // Every RedRoomRewards route, with its method.
    for (path, method) in [
        ("/oauth/token", "post"),
        ("/v1/links/intents", "post"),
        ("/v1/links/confirm", "post"),
        ("/v1/links/revoke", "post"),
        ("/v1/links/status", "get"),
        ("/v1/members/{rrr_member_id}/wallet", "get"),
        ("/v1/members/{rrr_member_id}/ledger", "get"),
        ("/v1/points/earn", "post"),
        ("/v1/points/earn/batch", "post"),
        ("/v1/points/reverse", "post"),
        ("/v1/points/adjustments", "post"),
        ("/v1/points/topup/quote", "post"),
        ("/v1/points/topup/commit", "post"),
        ("/v1/redemptions/quote", "post"),
        ("/v1/redemptions/commit", "post"),
        ("/v1/redemptions/reverse", "post"),
        ("/v1/awards/intents", "post"),
        ("/v1/awards/commit", "post"),
        ("/v1/awards/{intent_id}/reverse", "post"),
        ("/v1/promotions", "post"),
        ("/v1/promotions", "get"),
        ("/v1/promotions/{promotion_id}", "get"),
        ("/v1/promotions/{promotion_id}", "patch"),
        ("/v1/promotions/{promotion_id}/approve", "post"),
        ("/v1/promotions/{promotion_id}/{action}", "post"),
        ("/v1/webhooks", "post"),
        ("/v1/webhooks", "get"),
        ("/v1/webhooks/{webhook_id}", "delete"),
        ("/v1/reports/liability", "get"),
        ("/v1/reports/segments", "get"),
    ] {
        assert!(
            paths[path][method].is_object(),
            "{method} {path} missing from /openapi.json"
        );
    }
    assert!(paths["/api/credits/purchase"]["post"].is_object());
    assert!(paths["/publish"]["post"].is_object());
    assert!(paths["/api/templates/{dir}/bundle"]["get"].is_object());

    let (status, info) = json(node.get("/api/node").await).await;
    assert_eq!(status, StatusCode::OK);
    let id = node.peer_id().to_string();
    assert_eq!(info["peer_id"], id);
    assert_eq!(info["namespace"], "goop2");
    let addrs: Vec<&str> = info["listen_addrs"]
        .as_array()
        .expect("listen_addrs")
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(!addrs.is_empty());
    let p2p = node.p2p_addr().await.to_string();
    assert!(addrs.contains(&p2p.as_str()), "{addrs:?} lacks {p2p}");
    for a in &addrs {
        assert!(a.ends_with(&format!("/p2p/{id}")), "{a}");
        assert!(a.starts_with("/ip4/127.0.0.1/tcp/"), "{a}");
    }

    // Unknown routes answer JSON.
    let res = node.get("/api/credits/nope").await;
    let (status, body): (StatusCode, Value) = json(res).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"], "not_found");
    node.shutdown().await;
}
