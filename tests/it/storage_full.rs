//! A full disk: every write answers 503 in its dialect's error shape with a
//! `Retry-After`, counted in a metric; reads go on; nothing answered is lost; and once
//! space returns, writes succeed again without a restart. `ledger.max_pages` caps the
//! file the way a small filesystem would.

use reqwest::{header, StatusCode};
use serde_json::{json as j, Value};

use crate::common::{json, roochip_tenant, verify_file, TestNode};
use crate::roochip::{reply_text, Roo};
use rendezvous_credits::store;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_answers_503_in_each_dialect_and_writes_resume_when_space_returns() {
    let node = TestNode::start(|c| {
        c.tenants.push(roochip_tenant("rooverse").into());
        c.ledger.max_pages = 120;
    })
    .await;
    let roo = Roo::server(&node, "rooverse");
    let peer = node.peer().await;
    node.grant(&peer.id, 10).await;
    let mut answered = 1;

    // Idempotent rewards store their answers: the file fills up.
    let reason = "r".repeat(200);
    let mut refused = None;
    for i in 0..5_000 {
        let body = j!({"credits": 1, "reason": reason}).to_string();
        let key = format!("fill-{i}");
        let res = roo
            .post_raw(
                &format!("/v1/users/u{}/reward", i % 20),
                body,
                &[("Idempotency-Key", &key)],
            )
            .await;
        if res.status() == StatusCode::SERVICE_UNAVAILABLE {
            refused = Some(res);
            break;
        }
        assert_eq!(res.status(), StatusCode::OK, "reward {i}");
        answered += 1;
    }
    let res = refused.expect("the capped ledger fills up");
    let retry = res
        .headers()
        .get(header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u32>().ok())
        .expect("Retry-After in seconds");
    assert!(retry > 0);
    let (_, text) = reply_text(res).await;
    let body: Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(body.as_object().map(|o| o.len()), Some(1), "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap_or("")
            .contains("storage is full"),
        "Roochip's shape: {body}"
    );

    // Goop2's shape for the same condition (a small grant may still fit a page).
    let mut granted = 10;
    let mut refused = None;
    for _ in 0..1_000 {
        let res = node
            .admin_post(
                "/api/credits/grant",
                &j!({"peer_id": peer.id.to_string(), "amount": 1, "note": "n".repeat(400)}),
            )
            .await;
        if res.status() == StatusCode::SERVICE_UNAVAILABLE {
            refused = Some(res);
            break;
        }
        assert_eq!(res.status(), StatusCode::OK);
        granted += 1;
        answered += 1;
    }
    let res = refused.expect("Goop2 grants are refused too");
    assert!(res.headers().get(header::RETRY_AFTER).is_some());
    let (status, body) = json(res).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"], "storage_full", "{body}");
    assert!(body["message"]
        .as_str()
        .unwrap_or("")
        .contains("storage is full"));

    // Reads keep working.
    assert_eq!(peer.balance().await, granted);
    assert!(roo.balance("u0").await.parse::<i64>().is_ok());
    let (status, metrics) = reply_text(node.get("/metrics").await).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        metrics.contains("storage_full_responses_total"),
        "{metrics}"
    );

    // Space returns (the operator frees some): the next writes succeed, no restart.
    {
        let conn = rusqlite::Connection::open(node.ledger_path()).expect("open");
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .unwrap();
        conn.execute("DELETE FROM idempotency_keys", [])
            .expect("free space");
    }
    let (status, text) = roo
        .post_text(
            "/v1/users/u0/reward",
            &j!({"credits": 1, "reason": "after"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(node.grant(&peer.id, 5).await, granted + 5);
    answered += 2;

    let path = node.ledger_path();
    let _data = node.shutdown().await;
    // Nothing answered is lost, nothing refused was written.
    let conn = store::sqlite::open_reader(&path).unwrap();
    let entries: i64 = conn
        .query_row("SELECT count(*) FROM credit_transactions", [], |r| r.get(0))
        .unwrap();
    assert_eq!(entries, answered);
    verify_file(&path);
}
