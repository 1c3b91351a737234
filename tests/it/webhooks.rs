//! Webhook delivery of outbox events to a real receiver: `tests/it/webhook_receiver.js`
//! (Node.js, built-in modules only) checks `X-Roochip-Signature` with the integration
//! guide's own `verifyRoochipWebhook`, over `JSON.stringify` of the parsed body, and
//! the Standard Webhooks `webhook-signature` over the raw body; it records every
//! request and answers as the test tells it. Events are written straight into the
//! ledger with `enqueue_event`, as a dialect does inside its unit of work.

use std::process::Child;
use std::time::Duration;

use hmac::{Hmac, Mac};
use rendezvous_credits::config::{
    seed_packages, sha256_hex, DecimalSetting, RoochipTenant, WebhookConfig,
};
use rendezvous_credits::ledger::{Ledger, LedgerError, LedgerOptions, TenantId};
use rendezvous_credits::webhooks::{get_delivery, DeliveryView, Status, NO_ENDPOINT};
use reqwest::StatusCode;
use serde_json::{json, Value};
use sha2::Sha256;

use crate::common::{json, run_cli, spawn_script, within, TestNode};

/// The shared webhook secret (non-ASCII on purpose: both sides key with UTF-8 bytes).
pub(crate) const SECRET: &str = "roochip_provided_secret_ü";
const ADMIN_KEY: &str = "rc_admin_key_alpha_0123456789";
const SERVER_KEY: &str = "rc_server_key_alpha_0123456789";
const OTHER_ADMIN_KEY: &str = "rc_admin_key_beta_0123456789";

/// The Node.js receiver, killed when dropped.
pub(crate) struct Receiver {
    child: Option<Child>,
    port: u16,
    http: reqwest::Client,
}

impl Receiver {
    /// Starts a receiver on a free port.
    pub(crate) fn start() -> Receiver {
        Receiver::launch(0)
    }

    fn launch(port: u16) -> Receiver {
        let (child, port) =
            spawn_script("webhook_receiver.js", port, &[("WEBHOOK_SECRET", SECRET)]);
        Receiver {
            child: Some(child),
            port,
            http: reqwest::Client::new(),
        }
    }

    /// Where the node POSTs.
    pub(crate) fn url(&self) -> String {
        format!("http://127.0.0.1:{}/webhooks/roochip", self.port)
    }

    /// Kills the receiver: its port refuses connections until [`Receiver::restart`].
    pub(crate) fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// A new receiver process on the same port (its records start empty).
    fn restart(&mut self) {
        self.stop();
        let port = self.port;
        *self = Receiver::launch(port);
    }

    /// Every request received, in arrival order.
    pub(crate) async fn records(&self) -> Vec<Value> {
        let res = within(
            "receiver records",
            self.http
                .get(format!("http://127.0.0.1:{}/_records", self.port))
                .send(),
        )
        .await
        .expect("the receiver answers");
        let (status, body) = json(res).await;
        assert_eq!(status, StatusCode::OK);
        body.as_array().expect("an array of records").clone()
    }

    /// The records of outbox event `id`, in arrival order.
    pub(crate) async fn records_of(&self, id: i64) -> Vec<Value> {
        let webhook_id = format!("evt_{id}");
        self.records()
            .await
            .into_iter()
            .filter(|r| r["headers"]["webhook-id"] == webhook_id.as_str())
            .collect()
    }

    /// Changes how the receiver answers (see the script's header).
    pub(crate) async fn control(&self, body: Value) {
        let res = within(
            "receiver control",
            self.http
                .post(format!("http://127.0.0.1:{}/_control", self.port))
                .json(&body)
                .send(),
        )
        .await
        .expect("the receiver answers");
        assert_eq!(res.status(), StatusCode::OK);
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A Roochip tenant; `webhook_url` empty means no webhooks.
fn tenant(id: &str, webhook_url: &str, admin_keys: &[&str], server_keys: &[&str]) -> RoochipTenant {
    RoochipTenant {
        id: id.into(),
        active: true,
        scale: 2,
        api_keys: server_keys.iter().map(|k| sha256_hex(k)).collect(),
        admin_api_keys: admin_keys.iter().map(|k| sha256_hex(k)).collect(),
        webhook_url: webhook_url.into(),
        webhook_secret: if webhook_url.is_empty() {
            Default::default()
        } else {
            SECRET.into()
        },
        promo_code_credits: DecimalSetting::Text("5.00".into()),
        packages: seed_packages(),
        idempotency_retention_days: 30,
        stripe: None,
        apple: None,
        google: None,
    }
}

/// A node with `tenants`, a short retry schedule, a 5 s timeout and a 100 ms poll.
async fn node_with(tenants: Vec<RoochipTenant>, schedule_secs: &[u64]) -> TestNode {
    node_with_timeout(tenants, schedule_secs, 5).await
}

async fn node_with_timeout(
    tenants: Vec<RoochipTenant>,
    schedule_secs: &[u64],
    timeout_secs: u64,
) -> TestNode {
    let schedule_secs = schedule_secs.to_vec();
    TestNode::start(move |c| {
        c.tenants = tenants.into_iter().map(Into::into).collect();
        c.webhooks = WebhookConfig {
            timeout_secs,
            schedule_secs,
            poll_interval_ms: 100,
            concurrency: 4,
            ..WebhookConfig::default()
        };
    })
    .await
}

/// The compact body the Roochip dialect writes for `credits.issued`.
fn issued_body(user: &str, credits: &str, balance: &str) -> String {
    format!(
        r#"{{"event":"credits.issued","external_user_id":"{user}","credits_issued":{credits},"new_balance":{balance},"payment_source":"promo_code","timestamp":"2026-03-30T10:00:00Z"}}"#
    )
}

/// Writes a `credits.issued` event for `user` of `tenant` on `ledger`; returns its
/// outbox id and body.
async fn issue_on(ledger: &Ledger, tenant: &str, user: &str, credits: &str) -> (i64, String) {
    let body = issued_body(user, credits, credits);
    let t = TenantId::new(tenant).expect("tenant id");
    let user = user.to_string();
    let payload = body.clone();
    let id = ledger
        .run(move |tx| -> Result<i64, LedgerError> {
            let account = tx.open_account(&t, &user)?;
            tx.enqueue_event(&t, Some(account), "credits.issued", &payload)
        })
        .await
        .expect("the event is written");
    (id, body)
}

async fn issue(node: &TestNode, tenant: &str, user: &str, credits: &str) -> (i64, String) {
    issue_on(&node.running.ledger, tenant, user, credits).await
}

fn delivery(node: &TestNode, id: i64) -> DeliveryView {
    crate::common::off_runtime(|| {
        node.running
            .ledger
            .read_blocking(|r| get_delivery(r, id, None))
            .expect("read the delivery")
            .expect("the delivery exists")
    })
}

/// Polls the delivery of `id` until `done` holds (fails after [`crate::common::WAIT`]).
async fn wait_delivery(
    node: &TestNode,
    id: i64,
    what: &str,
    done: impl Fn(&DeliveryView) -> bool,
) -> DeliveryView {
    within(what, async {
        loop {
            let d = delivery(node, id);
            if done(&d) {
                return d;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
}

async fn delivered(node: &TestNode, id: i64) -> DeliveryView {
    wait_delivery(node, id, &format!("event {id} delivered"), |d| {
        d.status == Status::Delivered
    })
    .await
}

fn hex_hmac(secret: &str, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(body.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs() as i64
}

async fn admin_get(node: &TestNode, key: Option<&str>, path: &str) -> (StatusCode, Value) {
    let mut req = node.http.get(node.url(path));
    if let Some(key) = key {
        req = req.header("X-API-Key", key);
    }
    json(within(path, req.send()).await.expect("HTTP request")).await
}

async fn admin_post(node: &TestNode, key: Option<&str>, path: &str) -> (StatusCode, Value) {
    let mut req = node.http.post(node.url(path));
    if let Some(key) = key {
        req = req.header("X-API-Key", key);
    }
    json(within(path, req.send()).await.expect("HTTP request")).await
}

fn statuses(records: &[Value]) -> Vec<i64> {
    records
        .iter()
        .map(|r| r["status"].as_i64().expect("status"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_are_delivered_once_signed_with_the_exact_body() {
    let receiver = Receiver::start();
    let node = node_with(
        vec![tenant("rooverse", &receiver.url(), &[], &[])],
        &[0, 1, 1],
    )
    .await;
    let before = unix_now();
    let events = [
        issue(&node, "rooverse", "u1", "120.5").await,
        issue(&node, "rooverse", "u2", "0.01").await,
        issue(&node, "rooverse", "u1", "5").await,
    ];
    for (id, _) in &events {
        let d = delivered(&node, *id).await;
        assert_eq!(d.attempts, 1, "{d:?}");
        assert_eq!(d.last_status, Some(200));
        assert_eq!(d.last_error, None);
        assert!(
            d.delivered_at.is_some() && d.next_attempt_at.is_none(),
            "{d:?}"
        );
    }
    let after = unix_now();
    // Time for a duplicate to arrive, were one sent.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let records = receiver.records().await;
    assert_eq!(
        records.len(),
        events.len(),
        "one request per event: {records:#?}"
    );
    for (id, body) in &events {
        let mine = receiver.records_of(*id).await;
        assert_eq!(mine.len(), 1, "event {id}: {records:#?}");
        let r = &mine[0];
        assert_eq!(r["body"], body.as_str(), "the exact payload is sent");
        assert_eq!(r["verified"], true, "verifyRoochipWebhook accepts it: {r}");
        assert_eq!(
            r["standard_verified"], true,
            "webhook-signature checks: {r}"
        );
        assert_eq!(r["status"], 200);
        assert_eq!(r["path"], "/webhooks/roochip");
        let h = &r["headers"];
        assert_eq!(h["content-type"], "application/json");
        assert_eq!(h["x-roochip-signature"], hex_hmac(SECRET, body).as_str());
        let ts: i64 = h["webhook-timestamp"]
            .as_str()
            .and_then(|t| t.parse().ok())
            .expect("webhook-timestamp in unix seconds");
        assert!(
            (before..=after).contains(&ts),
            "{ts} not in {before}..={after}"
        );
    }

    // The receiver does refuse what it should: a signature made with another secret.
    let (_, body) = &events[0];
    let res = within(
        "forged webhook",
        node.http
            .post(receiver.url())
            .header("Content-Type", "application/json")
            .header("X-Roochip-Signature", hex_hmac("another secret", body))
            .body(body.clone())
            .send(),
    )
    .await
    .expect("the receiver answers");
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let last = receiver.records().await.pop().expect("a record");
    assert_eq!(last["verified"], false);
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_attempts_are_retried_on_schedule_with_a_stable_webhook_id() {
    let receiver = Receiver::start();
    receiver
        .control(json!({"fail_next": 2, "fail_status": 500}))
        .await;
    let node = node_with(
        vec![tenant("rooverse", &receiver.url(), &[], &[])],
        &[0, 1, 1, 1],
    )
    .await;
    let (id, body) = issue(&node, "rooverse", "u1", "10").await;
    let d = delivered(&node, id).await;
    assert_eq!((d.attempts, d.last_status), (3, Some(200)), "{d:?}");

    let records = receiver.records_of(id).await;
    assert_eq!(statuses(&records), vec![500, 500, 200]);
    let mut previous: Option<(i64, i64)> = None;
    for r in &records {
        assert_eq!(r["headers"]["webhook-id"], format!("evt_{id}"));
        assert_eq!(r["body"], body.as_str());
        assert_eq!(r["verified"], true);
        let at = r["at_ms"].as_i64().expect("at_ms");
        let ts: i64 = r["headers"]["webhook-timestamp"]
            .as_str()
            .and_then(|t| t.parse().ok())
            .expect("timestamp");
        if let Some((prev_at, prev_ts)) = previous {
            // schedule[1] = schedule[2] = 1 s after the previous failure.
            assert!(at - prev_at >= 900, "retried after {} ms", at - prev_at);
            assert!(ts >= prev_ts, "timestamps are those of each attempt");
        }
        previous = Some((at, ts));
    }
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attempt_that_times_out_is_retried() {
    let receiver = Receiver::start();
    receiver.control(json!({"hang_next": 1})).await;
    let node = node_with_timeout(
        vec![tenant("rooverse", &receiver.url(), &[], &[])],
        &[0, 1, 1],
        1,
    )
    .await;
    let (id, _) = issue(&node, "rooverse", "u1", "10").await;
    let failed = wait_delivery(&node, id, "a timed-out attempt", |d| d.attempts >= 1).await;
    assert_eq!(failed.status, Status::Pending, "{failed:?}");
    assert_eq!(failed.last_error.as_deref(), Some("timeout after 1 s"));
    assert_eq!(failed.last_status, None);
    let d = delivered(&node, id).await;
    assert_eq!(d.attempts, 2);
    let records = receiver.records_of(id).await;
    assert_eq!(statuses(&records), vec![0, 200], "hung, then answered");
    let gap =
        records[1]["at_ms"].as_i64().expect("at_ms") - records[0]["at_ms"].as_i64().expect("at_ms");
    assert!(gap >= 1800, "1 s timeout + 1 s delay, got {gap} ms");
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attempt_in_flight_at_shutdown_is_made_again_after_the_restart() {
    let receiver = Receiver::start();
    receiver.control(json!({"hang_next": 1})).await;
    let node = node_with_timeout(
        vec![tenant("rooverse", &receiver.url(), &[], &[])],
        &[0, 1],
        30,
    )
    .await;
    let (id, body) = issue(&node, "rooverse", "u1", "10").await;
    within("the attempt reaches the receiver", async {
        while receiver.records_of(id).await.is_empty() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    // The shutdown does not wait for the 30 s timeout; the outcome is unknown, so
    // the delivery stays pending and is attempted again (at least once).
    let stopping = std::time::Instant::now();
    let node = node.restart().await;
    assert!(
        stopping.elapsed() < Duration::from_secs(15),
        "restart took {:?}",
        stopping.elapsed()
    );
    let d = delivered(&node, id).await;
    assert_eq!(d.attempts, 1, "the abandoned attempt is not counted: {d:?}");
    let records = receiver.records_of(id).await;
    assert_eq!(statuses(&records), vec![0, 200]);
    assert!(records.iter().all(|r| r["body"] == body.as_str()));
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_wait_out_a_receiver_that_is_down() {
    let mut receiver = Receiver::start();
    receiver.stop();
    let node = node_with(
        vec![tenant("rooverse", &receiver.url(), &[], &[])],
        &[0, 1, 1, 1, 1, 1, 1, 1, 1, 1],
    )
    .await;
    let (id, body) = issue(&node, "rooverse", "u1", "10").await;
    let failing = wait_delivery(&node, id, "two refused attempts", |d| d.attempts >= 2).await;
    assert_eq!(failing.status, Status::Pending);
    assert_eq!(failing.last_status, None);
    let error = failing.last_error.clone().unwrap_or_default();
    assert!(error.starts_with("connection error"), "{error}");
    assert!(
        !error.contains("127.0.0.1"),
        "no URL in last_error: {error}"
    );

    receiver.restart();
    let d = delivered(&node, id).await;
    assert!(d.attempts >= 3, "{d:?}");
    let records = receiver.records().await;
    assert_eq!(records.len(), 1, "{records:#?}");
    assert_eq!(records[0]["body"], body.as_str());
    assert_eq!(records[0]["verified"], true);
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_deliveries_survive_a_restart() {
    let receiver = Receiver::start();
    let node = node_with(
        vec![tenant("rooverse", &receiver.url(), &[], &[])],
        &[0, 1, 1, 1, 1, 1, 1, 1, 1, 1],
    )
    .await;

    // Written while the node is down: delivered when it starts.
    let config = node.config.clone();
    let data = node.shutdown().await;
    let location = config.ledger_location();
    let ledger = tokio::task::spawn_blocking(move || {
        rendezvous_credits::store::open(&location, LedgerOptions::default())
    })
    .await
    .expect("open task")
    .expect("open");
    let (written_offline, body) = issue_on(&ledger, "rooverse", "u1", "7").await;
    tokio::task::spawn_blocking(move || ledger.shutdown())
        .await
        .expect("ledger shutdown");
    assert!(receiver.records().await.is_empty());
    let node = TestNode::start_with(config, data).await;
    let d = delivered(&node, written_offline).await;
    assert_eq!(d.attempts, 1);
    let records = receiver.records_of(written_offline).await;
    assert_eq!(records.len(), 1);
    assert_eq!(records[0]["body"], body.as_str());

    // Failing when the node stops: the attempts made so far are kept, and delivery
    // goes on after the restart.
    receiver.control(json!({"always_status": 503})).await;
    let (id, _) = issue(&node, "rooverse", "u1", "8").await;
    let before = wait_delivery(&node, id, "a failed attempt", |d| d.attempts >= 1).await;
    assert_eq!(before.last_status, Some(503));
    let node = node.restart().await;
    let kept = delivery(&node, id);
    assert_eq!(kept.status, Status::Pending);
    assert!(kept.attempts >= before.attempts, "{kept:?}");
    receiver.control(json!({"always_status": null})).await;
    let d = delivered(&node, id).await;
    assert!(d.attempts > before.attempts, "{d:?} after {before:?}");
    let records = receiver.records_of(id).await;
    assert_eq!(records.len() as u32, d.attempts, "{records:#?}");
    assert_eq!(records.last().expect("a record")["status"], 200);
    assert!(statuses(&records[..records.len() - 1])
        .iter()
        .all(|s| *s == 503));
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exhausted_deliveries_are_dead_lettered_and_can_be_replayed() {
    let receiver = Receiver::start();
    receiver.control(json!({"always_status": 500})).await;
    let schedule = [0, 1, 1];
    let node = node_with(
        vec![tenant("rooverse", &receiver.url(), &[ADMIN_KEY], &[])],
        &schedule,
    )
    .await;
    let (id, body) = issue(&node, "rooverse", "u1", "10").await;

    let dead = within("the delivery is dead", async {
        loop {
            let (status, page) = admin_get(
                &node,
                Some(ADMIN_KEY),
                "/v1/admin/webhooks/deliveries?status=dead",
            )
            .await;
            assert_eq!(status, StatusCode::OK, "{page}");
            if page["total"] == 1 {
                return page;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    assert_eq!(dead["count"], 1);
    let d = &dead["deliveries"][0];
    assert_eq!(d["id"], id);
    assert_eq!(d["webhook_id"], format!("evt_{id}"));
    assert_eq!(d["tenant"], "rooverse");
    assert_eq!(d["event_type"], "credits.issued");
    assert_eq!(d["status"], "dead");
    assert_eq!(d["attempts"], schedule.len());
    assert_eq!(d["last_status"], 500);
    assert!(
        d["last_error"]
            .as_str()
            .unwrap_or("")
            .starts_with("HTTP 500"),
        "{d}"
    );
    assert_eq!(d["next_attempt_at"], Value::Null);
    assert_eq!(d["payload"], body.as_str());
    let (_, pending) = admin_get(
        &node,
        Some(ADMIN_KEY),
        "/v1/admin/webhooks/deliveries?status=pending",
    )
    .await;
    assert_eq!(pending["total"], 0, "{pending}");
    assert_eq!(
        statuses(&receiver.records_of(id).await),
        vec![500, 500, 500]
    );

    receiver.control(json!({"always_status": null})).await;
    let (status, replayed) = admin_post(
        &node,
        Some(ADMIN_KEY),
        &format!("/v1/admin/webhooks/deliveries/{id}/replay"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{replayed}");
    assert_eq!(replayed["status"], "pending");
    assert_eq!(replayed["attempts"], 0);
    assert!(replayed["next_attempt_at"].is_string(), "{replayed}");
    let d = delivered(&node, id).await;
    assert_eq!(d.attempts, 1);
    let records = receiver.records_of(id).await;
    assert_eq!(statuses(&records), vec![500, 500, 500, 200]);
    assert_eq!(records[3]["verified"], true);

    let (_, done) = admin_get(
        &node,
        Some(ADMIN_KEY),
        "/v1/admin/webhooks/deliveries?status=delivered",
    )
    .await;
    assert_eq!(done["deliveries"][0]["id"], id, "{done}");
    assert!(done["deliveries"][0]["delivered_at"].is_string());
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gone_and_missing_endpoints_dead_letter_at_once() {
    let receiver = Receiver::start();
    receiver.control(json!({"always_status": 410})).await;
    let node = node_with(
        vec![
            tenant("rooverse", &receiver.url(), &[], &[]),
            tenant("quiet", "", &[], &[]),
        ],
        &[0, 1, 1, 1],
    )
    .await;
    let (gone, _) = issue(&node, "rooverse", "u1", "1").await;
    let (nowhere, _) = issue(&node, "quiet", "u1", "1").await;

    let d = wait_delivery(&node, gone, "410 dead-letters", |d| {
        d.status != Status::Pending
    })
    .await;
    assert_eq!(
        (d.status, d.attempts, d.last_status),
        (Status::Dead, 1, Some(410)),
        "{d:?}"
    );
    assert_eq!(statuses(&receiver.records_of(gone).await), vec![410]);

    let d = wait_delivery(&node, nowhere, "no endpoint dead-letters", |d| {
        d.status != Status::Pending
    })
    .await;
    assert_eq!(
        (d.status, d.attempts, d.last_status),
        (Status::Dead, 0, None)
    );
    assert_eq!(d.last_error.as_deref(), Some(NO_ENDPOINT));
    assert!(receiver.records_of(nowhere).await.is_empty());
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_accounts_events_arrive_in_order_while_other_accounts_go_on() {
    let receiver = Receiver::start();
    receiver
        .control(json!({"fail_next": 2, "fail_status": 500, "fail_user": "alice"}))
        .await;
    let node = node_with(
        vec![tenant("rooverse", &receiver.url(), &[], &[])],
        &[0, 1, 1, 1, 1],
    )
    .await;
    let mut alice = Vec::new();
    let mut bob = Vec::new();
    for i in 1..=4 {
        alice.push(issue(&node, "rooverse", "alice", &i.to_string()).await.0);
        if i < 4 {
            bob.push(issue(&node, "rooverse", "bob", &i.to_string()).await.0);
        }
    }
    for id in alice.iter().chain(&bob) {
        delivered(&node, *id).await;
    }

    let records = receiver.records().await;
    let of = |user: &str| -> Vec<Value> {
        records
            .iter()
            .filter(|r| r["user"] == user)
            .cloned()
            .collect()
    };
    for (user, ids) in [("alice", &alice), ("bob", &bob)] {
        // Each request is for the oldest event not yet acknowledged.
        let mut next = 0;
        for r in of(user) {
            assert!(next < ids.len(), "{user}: extra request {r}");
            assert_eq!(
                r["headers"]["webhook-id"],
                format!("evt_{}", ids[next]),
                "{user}: out of order at {r}"
            );
            if r["status"] == 200 {
                next += 1;
            }
        }
        assert_eq!(next, ids.len(), "{user}: every event acknowledged");
    }
    assert_eq!(
        of("alice").len(),
        alice.len() + 2,
        "two retries of alice's first"
    );
    assert_eq!(of("bob").len(), bob.len());
    let seq = |r: &Value| r["seq"].as_i64().expect("seq");
    let bob_done = of("bob").iter().map(seq).max().expect("bob's requests");
    let alice_first_ok = of("alice")
        .iter()
        .filter(|r| r["status"] == 200)
        .map(seq)
        .min()
        .expect("alice's deliveries");
    assert!(
        bob_done < alice_first_ok,
        "bob's events are not held back by alice's retries"
    );
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_routes_need_the_tenants_admin_key() {
    let receiver = Receiver::start();
    let node = node_with(
        vec![
            tenant("alpha", &receiver.url(), &[ADMIN_KEY], &[SERVER_KEY]),
            tenant("beta", "", &[OTHER_ADMIN_KEY], &[]),
        ],
        &[0, 1],
    )
    .await;
    let (mine, _) = issue(&node, "alpha", "u1", "1").await;
    let (theirs, _) = issue(&node, "beta", "u1", "1").await;
    delivered(&node, mine).await;
    wait_delivery(&node, theirs, "beta's event dead", |d| {
        d.status == Status::Dead
    })
    .await;

    let list = "/v1/admin/webhooks/deliveries";
    let replay_theirs = format!("{list}/{theirs}/replay");
    for (key, want) in [
        (None, StatusCode::UNAUTHORIZED),
        (Some("rc_unknown"), StatusCode::UNAUTHORIZED),
        (Some(SERVER_KEY), StatusCode::FORBIDDEN),
    ] {
        let (status, body) = admin_get(&node, key, list).await;
        assert_eq!(status, want, "GET with {key:?}: {body}");
        assert!(body["error"].is_string(), "{body}");
        let (status, body) = admin_post(&node, key, &replay_theirs).await;
        assert_eq!(status, want, "POST with {key:?}: {body}");
        assert!(body["error"].is_string(), "{body}");
    }

    // Scoped to the key's tenant.
    let (status, page) = admin_get(&node, Some(ADMIN_KEY), list).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["total"], 1, "{page}");
    assert_eq!(page["deliveries"][0]["id"], mine);
    assert_eq!(page["deliveries"][0]["status"], "delivered");
    let (status, body) = admin_post(&node, Some(ADMIN_KEY), &replay_theirs).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(
        body["error"].as_str().unwrap_or("").contains("not found"),
        "{body}"
    );
    let (status, _) = admin_post(&node, Some(ADMIN_KEY), &format!("{list}/999999/replay")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, page) =
        admin_get(&node, Some(OTHER_ADMIN_KEY), &format!("{list}?status=dead")).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["deliveries"][0]["id"], theirs, "{page}");
    assert_eq!(page["deliveries"][0]["last_error"], NO_ENDPOINT);

    // Bad input names what is wrong.
    for (query, mention) in [
        ("?status=lost", "status"),
        ("?limit=0", "limit"),
        ("?limit=abc", "query"),
        ("?colour=red", "colour"),
    ] {
        let (status, body) = admin_get(&node, Some(ADMIN_KEY), &format!("{list}{query}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        let error = body["error"].as_str().unwrap_or("");
        assert!(error.contains(mention), "{query}: {error}");
    }
    let (status, body) = admin_post(&node, Some(ADMIN_KEY), &format!("{list}/abc/replay")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) = admin_post(&node, Some(ADMIN_KEY), list).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{body}");
    assert!(body["error"].is_string(), "{body}");

    // A delivered event can be sent again.
    let (status, body) = admin_post(&node, Some(ADMIN_KEY), &format!("{list}/{mine}/replay")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    within("the replay arrives", async {
        while receiver.records_of(mine).await.len() < 2 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    delivered(&node, mine).await;

    let (_, doc) = json(node.get("/openapi.json").await).await;
    assert!(
        doc["paths"][list]["get"].is_object(),
        "list in the OpenAPI document"
    );
    assert!(doc["paths"]["/v1/admin/webhooks/deliveries/{id}/replay"]["post"].is_object());
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roochip_rewards_reach_the_guides_receiver_verified() {
    let receiver = Receiver::start();
    let node = node_with(
        vec![tenant("rooverse", &receiver.url(), &[], &[SERVER_KEY])],
        &[0, 1, 1],
    )
    .await;
    for (credits, reference) in [(json!(0.01), "post-1"), (json!(120.5), "post-2")] {
        let res = within(
            "reward",
            node.http
                .post(node.url("/v1/users/rooverse-user-123/reward"))
                .header("X-API-Key", SERVER_KEY)
                .json(&json!({"credits": credits, "reason": "like", "reference_id": reference}))
                .send(),
        )
        .await
        .expect("HTTP request");
        let (status, body) = json(res).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let records = within("two credits.issued webhooks", async {
        loop {
            let r = receiver.records().await;
            if r.len() >= 2 {
                return r;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert_eq!(records.len(), 2, "{records:#?}");
    let mut balances = Vec::new();
    for r in &records {
        assert_eq!(
            r["verified"], true,
            "the dialect's body verifies as JSON.stringify: {r}"
        );
        assert_eq!(r["status"], 200);
        let body: Value = serde_json::from_str(r["body"].as_str().expect("body")).expect("JSON");
        assert_eq!(body["event"], "credits.issued");
        assert_eq!(body["external_user_id"], "rooverse-user-123");
        balances.push(body["new_balance"].clone());
    }
    assert_eq!(
        balances,
        vec![json!(0.01), json!(120.51)],
        "in issuance order"
    );
    node.shutdown().await;
}

/// `admin grant --tenant T --user ID --amount 5.00` beside a running node: the same
/// issuance as the admin route (an `adjustment` entry and a `credits.issued` event
/// with `payment_source: "admin"`, delivered by the node); bad input writes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_grants_roo_with_the_same_issuance_and_webhook() {
    let receiver = Receiver::start();
    let node = node_with(
        vec![tenant("rooverse", &receiver.url(), &[], &[SERVER_KEY])],
        &[0, 1],
    )
    .await;
    let data_dir = node.config.server.data_dir.clone();
    let file = data_dir.join("cli.toml");
    std::fs::write(
        &file,
        format!(
            "[[tenants]]\nid = \"rooverse\"\nmode = \"roochip\"\nwebhook_url = \"{}\"\nwebhook_secret = \"{SECRET}\"\n",
            receiver.url()
        ),
    )
    .expect("write the config");
    let cli = |args: &[&str]| {
        let mut all = vec![
            "admin".to_string(),
            "--config".into(),
            file.display().to_string(),
            "--data-dir".into(),
            data_dir.display().to_string(),
            "grant".into(),
        ];
        all.extend(args.iter().map(|a| a.to_string()));
        run_cli(all)
    };
    for (args, mention) in [
        (
            vec!["--tenant", "rooverse", "--user", "u1", "--amount", "0.001"],
            "--amount \"0.001\"",
        ),
        (
            vec!["--tenant", "rooverse", "--user", "u1", "--amount", "-5"],
            "--amount \"-5\"",
        ),
        (
            vec!["--tenant", "rooverse", "--user", "u1", "--amount", "abc"],
            "--amount \"abc\"",
        ),
        (
            vec!["--tenant", "nowhere", "--user", "u1", "--amount", "5"],
            "no [[tenants]] entry with id \"nowhere\"",
        ),
        (
            vec!["--tenant", "rooverse", "--amount", "5"],
            "--user <USER>",
        ),
        (
            vec![
                "--peer", "x", "--tenant", "rooverse", "--user", "u1", "--amount", "5",
            ],
            "cannot be used with",
        ),
    ] {
        let (ok, out) = cli(&args);
        assert!(!ok, "{args:?} should fail: {out}");
        assert!(out.contains(mention), "{args:?}: {out}");
    }
    assert_eq!(node.entry_total(), 0, "refused grants write nothing");

    let (ok, out) = cli(&[
        "--tenant",
        "rooverse",
        "--user",
        "u1",
        "--amount",
        "5.00",
        "--note",
        "beta tester",
    ]);
    assert!(ok, "{out}");
    assert!(out.contains("new balance 5"), "{out}");
    let roo = crate::roochip::Roo {
        node: &node,
        key: SERVER_KEY.into(),
    };
    assert_eq!(roo.balance("u1").await, "5");
    let events = within("the CLI's event is delivered", async {
        loop {
            let got = receiver.records().await;
            if !got.is_empty() {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    let body: Value = serde_json::from_str(events[0]["body"].as_str().expect("body")).unwrap();
    assert_eq!(body["event"], "credits.issued");
    assert_eq!(body["external_user_id"], "u1");
    assert_eq!(body["credits_issued"], 5);
    assert_eq!(body["new_balance"], 5);
    assert_eq!(body["payment_source"], "admin");
    assert_eq!(events[0]["verified"], true, "{}", events[0]);
    assert_eq!(events.len(), 1);
    node.shutdown().await;
}

/// Endpoints are data the dispatcher reads on each pass: an endpoint added while the
/// node runs (as a dialect's API would) gets the next events, signed the tenant's way,
/// beside the configured one; each has its own delivery.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_added_at_run_time_gets_the_next_events() {
    use rendezvous_credits::secret::Secret;
    use rendezvous_credits::webhooks::deliveries::{EndpointRow, WebhookEndpoints};
    let configured = Receiver::start();
    let added = Receiver::start();
    let node = node_with(
        vec![tenant("rooverse", &configured.url(), &[], &[])],
        &[0, 1],
    )
    .await;
    let (first, _) = issue(&node, "rooverse", "u1", "1").await;
    delivered(&node, first).await;
    let row = EndpointRow {
        id: "api:second".into(),
        tenant: "rooverse".into(),
        url: added.url(),
        secret: Secret::new(SECRET),
        events: vec!["credits.issued".into()],
        active: true,
    };
    node.running
        .ledger
        .run(move |tx| -> Result<(), LedgerError> {
            let now = tx.now();
            tx.repo::<dyn WebhookEndpoints>()?
                .upsert_endpoint(&row, now)
        })
        .await
        .expect("the endpoint is added");
    let (second, body) = issue(&node, "rooverse", "u1", "2").await;
    for receiver in [&configured, &added] {
        let got = within("both endpoints get the event", async {
            loop {
                let got = receiver.records_of(second).await;
                if !got.is_empty() {
                    return got;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await;
        assert_eq!(got.len(), 1);
        assert_eq!(got[0]["body"], body.as_str());
        assert_eq!(got[0]["verified"], true, "{}", got[0]);
    }
    assert!(
        added.records_of(first).await.is_empty(),
        "only later events"
    );
    node.shutdown().await;
}
