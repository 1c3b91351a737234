//! RRR webhooks to a receiver that verifies them XCN's way
//! (`tests/it/rrr_webhook_receiver.js`): over the re-serialised JSON, with the secret
//! shown once at registration; nothing lost across a restart; one client's endpoint
//! never gets another client's events.

use std::process::Child;
use std::time::Duration;

use rendezvous_credits::config::WebhookConfig;
use serde_json::{json, Value};

use super::*;
use crate::common::{spawn_script, within, TestNode};

/// The receiver process, killed when dropped.
struct Receiver {
    child: Option<Child>,
    port: u16,
}

impl Receiver {
    fn start(port: u16) -> Receiver {
        let (child, port) = spawn_script("rrr_webhook_receiver.js", port, &[]);
        Receiver {
            child: Some(child),
            port,
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/loyalty-points/webhooks", self.port)
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    async fn set_secret(&self, secret: &str) {
        reqwest::Client::new()
            .post(format!("http://127.0.0.1:{}/_secret", self.port))
            .json(&json!({"secret": secret}))
            .send()
            .await
            .expect("the receiver answers");
    }

    async fn records(&self) -> Vec<Value> {
        let r = within(
            "receiver records",
            reqwest::Client::new()
                .get(format!("http://127.0.0.1:{}/_records", self.port))
                .send(),
        )
        .await
        .expect("the receiver answers");
        r.json::<Value>().await.unwrap().as_array().unwrap().clone()
    }

    /// Waits until `n` webhooks arrived; returns them.
    async fn wait_for(&self, n: usize) -> Vec<Value> {
        for _ in 0..400 {
            let r = self.records().await;
            if r.len() >= n {
                return r;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{n} webhooks did not arrive: {:?}", self.records().await);
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn webhook_node(clients: &[&str]) -> TestNode {
    let clients: Vec<String> = clients.iter().map(|c| c.to_string()).collect();
    TestNode::start(move |c| {
        let refs: Vec<&str> = clients.iter().map(String::as_str).collect();
        c.tenants.push(rrr_tenant("xcn", &refs, json!({})));
        c.webhooks = WebhookConfig {
            timeout_secs: 5,
            schedule_secs: vec![0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1],
            poll_interval_ms: 100,
            concurrency: 4,
            ..WebhookConfig::default()
        };
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_are_signed_over_reserialised_json_and_survive_a_restart() {
    let mut receiver = Receiver::start(0);
    let node = webhook_node(&[CLIENT, "other-client"]).await;
    let xcn = Xcn::connect(&node, CLIENT).await;
    let other = Xcn::connect(&node, "other-client").await;

    // Registration: 201 with a secret shown once; bad input is 422 and registers nothing.
    let body = json!({"url": receiver.url(), "events": ["POINTS_POSTED", "LINK_UPDATED", "REDEMPTION_COMMITTED", "POINTS_POSTED"]});
    let key = uuid::Uuid::new_v4().to_string();
    let created = xcn.post_key("/v1/webhooks", &key, &body).await.ok(201);
    let secret = created["secret"].as_str().unwrap().to_string();
    assert_eq!(
        created["events"],
        json!(["POINTS_POSTED", "LINK_UPDATED", "REDEMPTION_COMMITTED"])
    );
    let replay = xcn.post_key("/v1/webhooks", &key, &body).await.ok(201);
    assert_eq!(replay["webhook_id"], created["webhook_id"]);
    assert!(
        replay["secret"].is_null(),
        "the secret is shown once: {replay}"
    );
    for (bad, field) in [
        (
            json!({"url": "ftp://x", "events": ["POINTS_POSTED"]}),
            "url",
        ),
        (
            json!({"url": receiver.url(), "events": ["EVERYTHING"]}),
            "events",
        ),
        (json!({"url": receiver.url(), "events": []}), "events"),
    ] {
        let r = xcn.post("/v1/webhooks", &bad).await;
        r.error(422, "VALIDATION_FAILED");
        assert_eq!(r.body["error"]["details"]["field"], field);
    }
    let list = xcn.get("/v1/webhooks").await.ok(200);
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    assert!(list[0].get("secret").is_none());
    assert_eq!(
        other.get("/v1/webhooks").await.ok(200),
        json!([]),
        "another client sees none"
    );
    other
        .delete(&format!(
            "/v1/webhooks/{}",
            created["webhook_id"].as_str().unwrap()
        ))
        .await
        .error(404, "NOT_FOUND");
    receiver.set_secret(&secret).await;

    // LINK_UPDATED and POINTS_POSTED of this client; the other client's activity
    // sends nothing here.
    let trace = "trace-for-the-earn";
    let m = xcn.link("u1", "MEMBER", None).await;
    let om = other.link("o1", "MEMBER", None).await;
    other.earn("o1", &om, "OTHER-1", 10).await;
    let earned = send(
        xcn.http
            .post(format!("{}/v1/points/earn", node.base))
            .bearer_auth(&xcn.token)
            .header("X-Client-Id", CLIENT)
            .header("X-Request-Trace", trace)
            .header("Idempotency-Key", "earn_token_1")
            .json(&earn_body("u1", &m, "ORDER-1", 120)),
    )
    .await
    .ok(201);
    let records = receiver.wait_for(2).await;
    for r in &records {
        assert!(
            r["verified"].as_bool().unwrap(),
            "X-RRR-Signature over JSON.stringify: {r}"
        );
        assert!(r["valid"].as_bool().unwrap(), "envelope: {r}");
        assert!(
            r["raw_equals_restringified"].as_bool().unwrap(),
            "byte-identical: {r}"
        );
        assert!(r["headers"]["webhook-signature"]
            .as_str()
            .unwrap()
            .starts_with("v1,"));
        assert!(uuid::Uuid::parse_str(r["body"]["event_id"].as_str().unwrap()).is_ok());
        assert!(r["body"]["occurred_at"].is_string());
    }
    assert_eq!(records[0]["body"]["event_type"], "LINK_UPDATED");
    assert_eq!(
        records[0]["body"]["data"],
        json!({"member_id": m, "client_user_id": "u1", "status": "ACTIVE"})
    );
    assert_eq!(records[1]["body"]["event_type"], "POINTS_POSTED");
    assert_eq!(
        records[1]["body"]["data"],
        json!({"member_id": m, "points_delta": 120, "ledger_entry_id": earned["ledger_entry_id"], "source_ref": "ORDER-1"})
    );
    assert_eq!(
        records[1]["headers"]["x-request-trace"], trace,
        "the request's trace rides along"
    );

    // The receiver goes down; events wait; the node restarts; nothing is lost.
    receiver.stop();
    xcn.earn("u1", &m, "ORDER-2", 30).await;
    xcn.earn("u1", &m, "ORDER-3", 40).await;
    let node = node.restart().await;
    let xcn = Xcn {
        base: node.base.clone(),
        ..xcn
    };
    xcn.earn("u1", &m, "ORDER-4", 50).await;
    let port = receiver.port;
    let receiver = Receiver::start(port);
    receiver.set_secret(&secret).await;
    let records = receiver.wait_for(3).await;
    let refs: Vec<&str> = records
        .iter()
        .filter(|r| !r["duplicate"].as_bool().unwrap())
        .map(|r| r["body"]["data"]["source_ref"].as_str().unwrap())
        .collect();
    assert_eq!(
        refs,
        ["ORDER-2", "ORDER-3", "ORDER-4"],
        "in order per member, each once"
    );

    // Deleting the webhook stops deliveries.
    xcn.delete(&format!(
        "/v1/webhooks/{}",
        created["webhook_id"].as_str().unwrap()
    ))
    .await
    .ok(200);
    xcn.earn("u1", &m, "ORDER-5", 5).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(receiver.records().await.len(), records.len());
    node.verify();
}
