//! Many purchases at once against one account: the balance never goes negative and
//! nothing is charged twice.

use std::collections::BTreeSet;

use reqwest::StatusCode;
use serde_json::{json as j, Value};

use crate::common::{within, write_catalog, TestNode};

const PRICE: i64 = 10;
const TEMPLATES: usize = 200;

/// Sends every `(route, template)` at once with `authorization`; returns
/// `(route, template, status, body)` in the order given.
async fn all_at_once(
    node: &TestNode,
    authorization: &str,
    requests: Vec<(&'static str, String)>,
) -> Vec<(&'static str, String, StatusCode, Value)> {
    let http = reqwest::Client::new();
    let tasks: Vec<_> = requests
        .into_iter()
        .map(|(route, template)| {
            let req = http
                .post(node.url(route))
                .header("Authorization", authorization)
                .json(&j!({ "template": template }));
            tokio::spawn(async move {
                let res = req.send().await.expect("HTTP request");
                let status = res.status();
                let body: Value = res.json().await.expect("a JSON body");
                (route, template, status, body)
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
async fn concurrent_purchases_never_overdraw() {
    let catalog = tempfile::tempdir().unwrap();
    write_catalog(catalog.path(), TEMPLATES, PRICE);
    let node = TestNode::start(|c| {
        c.server.catalog_dir = catalog.path().to_path_buf();
        c.goop2.rate_limits.purchase_per_min = 100_000;
    })
    .await;
    let peer = node.peer().await;
    const N: i64 = 37;
    assert_eq!(node.grant(&peer.id, PRICE * N).await, PRICE * N);

    // Distinct templates, half through the spec route, half through the Goop2 route.
    let requests = (0..TEMPLATES)
        .map(|i| {
            let route = if i % 2 == 0 {
                "/api/credits/purchase"
            } else {
                "/api/credits/spend"
            };
            (route, format!("t{i:03}"))
        })
        .collect();
    let results = all_at_once(&node, &peer.authorization, requests).await;

    let mut bought = BTreeSet::new();
    let mut refused = 0;
    for (route, template, status, body) in &results {
        match *status {
            StatusCode::OK => {
                if *route == "/api/credits/purchase" {
                    assert_eq!(body["status"], "ok", "{body}");
                    assert_eq!(body["price"], PRICE);
                    assert!(body["new_balance"].as_i64().unwrap() >= 0);
                } else {
                    assert_eq!(body["owned"], true, "{body}");
                    assert!(body["balance"].as_i64().unwrap() >= 0);
                }
                assert!(bought.insert(template.clone()));
            }
            StatusCode::PAYMENT_REQUIRED => {
                // A refusal only happens once the balance is spent.
                assert_eq!(
                    *body,
                    j!({"error": "insufficient_credits", "balance": 0, "price": PRICE, "shortfall": PRICE})
                );
                refused += 1;
            }
            other => panic!("{route} {template}: unexpected {other}: {body}"),
        }
    }
    assert_eq!(bought.len() as i64, N, "exactly N purchases succeed");
    assert_eq!(refused, TEMPLATES as i64 - N);

    assert_eq!(peer.balance().await, 0);
    let entries = node.entries(&peer.id);
    assert_eq!(entries.len() as i64, N + 1, "one grant and N purchases");
    assert!(entries.iter().all(|e| e.balance_after >= 0));
    let charged: BTreeSet<String> = entries
        .iter()
        .filter(|e| e.kind == "purchase")
        .map(|e| e.ref_id.clone().expect("ref_id"))
        .collect();
    assert_eq!(
        charged, bought,
        "the ledger charged exactly what was answered 200"
    );
    // Running balances descend by the price from the grant to zero.
    let mut balances: Vec<i64> = entries.iter().map(|e| e.balance_after).collect();
    balances.sort_unstable();
    assert_eq!(balances, (0..=N).map(|k| k * PRICE).collect::<Vec<_>>());

    let store = crate::common::json(peer.get("/api/credits/store-data").await)
        .await
        .1;
    let owned: BTreeSet<String> = store["owned_templates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert_eq!(owned, bought);
    let report = node.verify();
    assert_eq!(report.entries as i64, N + 1);
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_template_bought_concurrently_is_charged_once() {
    let catalog = tempfile::tempdir().unwrap();
    write_catalog(catalog.path(), 2, PRICE);
    let node = TestNode::start(|c| {
        c.server.catalog_dir = catalog.path().to_path_buf();
        c.goop2.rate_limits.purchase_per_min = 100_000;
    })
    .await;
    let peer = node.peer().await;
    node.grant(&peer.id, 500).await;

    let results = all_at_once(
        &node,
        &peer.authorization,
        (0..50)
            .map(|_| ("/api/credits/purchase", "t000".to_string()))
            .collect(),
    )
    .await;
    let ok = results.iter().filter(|r| r.3["status"] == "ok").count();
    let owned = results
        .iter()
        .filter(|r| r.3 == j!({"status": "already_owned", "template": "t000"}))
        .count();
    assert!(results.iter().all(|r| r.2 == StatusCode::OK), "{results:?}");
    assert_eq!(ok, 1, "exactly one purchase is charged");
    assert_eq!(owned, 49);

    let results = all_at_once(
        &node,
        &peer.authorization,
        (0..50)
            .map(|_| ("/api/credits/spend", "t001".to_string()))
            .collect(),
    )
    .await;
    for (_, _, status, body) in &results {
        assert_eq!(*status, StatusCode::OK, "{body}");
        assert_eq!(*body, j!({"balance": 500 - 2 * PRICE, "owned": true}));
    }

    assert_eq!(peer.balance().await, 500 - 2 * PRICE);
    let entries = node.entries(&peer.id);
    let purchases: Vec<_> = entries.iter().filter(|e| e.kind == "purchase").collect();
    assert_eq!(purchases.len(), 2, "{entries:?}");
    node.verify();
    node.shutdown().await;
}
