//! Three nodes on one PostgreSQL database, each a `serve` process of its own with its
//! own data folder (libp2p key) and the cluster's `token_secret`, as an operator runs
//! them behind a load balancer: requests spread over the nodes move one ledger
//! without overdraft, webhooks go out once, a node killed with SIGKILL under load
//! loses nothing it answered and its leased deliveries go out after the lease, and
//! `verify` passes. These tests need the PostgreSQL server of `RC_TEST_POSTGRES_URL`
//! whatever `RC_TEST_BACKEND` says (they fail, saying how to get one, without it).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::{Child, Command};
use std::sync::Arc;
use std::time::Duration;

use libp2p::identity::Keypair;
use rendezvous_credits::auth::peer_id_auth::ClientAuth;
use rendezvous_credits::config::{sha256_hex, Config};
use reqwest::{header, StatusCode};
use serde_json::{json, Value};
use tempfile::TempDir;

use crate::common::{
    database_of, free_port, roochip_admin_key, roochip_server_key, spawn_serve, sql, sql_i64,
    use_postgres, verify_at, wait_healthy, within, write_catalog, ADMIN_TOKEN,
};
use crate::webhooks::{Receiver, SECRET};

/// The cluster's shared bearer key.
const TOKEN_SECRET: &str = "the-cluster-token-secret-of-forty-bytes!";
/// Timeout of one webhook attempt, seconds.
const TIMEOUT_SECS: u64 = 5;
/// How long a node leases a delivery it attempts, seconds (more than the timeout).
const LEASE_SECS: u64 = 6;
/// Goop2 template price in the test catalog, credits.
const PRICE: i64 = 10;

/// One `serve` process.
struct NodeProcess {
    child: Child,
    base: String,
}

/// The nodes of one database, their settings, and the webhook receiver.
struct Cluster {
    dir: TempDir,
    catalog: PathBuf,
    url: String,
    receiver: Receiver,
    nodes: Vec<Option<NodeProcess>>,
    http: reqwest::Client,
}

impl Cluster {
    /// A fresh database, a catalog of 300 priced templates, a receiver, and `n` nodes.
    async fn start(n: usize) -> Cluster {
        let dir = tempfile::tempdir().expect("temporary folder");
        let catalog = dir.path().join("catalog");
        write_catalog(&catalog, 300, PRICE);
        let url = database_of(&dir.path().join("cluster"));
        let mut cluster = Cluster {
            dir,
            catalog,
            url,
            receiver: Receiver::start(),
            nodes: Vec::new(),
            http: reqwest::Client::builder()
                .pool_max_idle_per_host(64)
                .build()
                .expect("HTTP client"),
        };
        for i in 0..n {
            cluster.nodes.push(None);
            cluster.launch(i, TOKEN_SECRET).await;
        }
        cluster
    }

    /// The settings file of node `i` (the secrets go in the environment).
    fn config_file(&self, i: usize) -> PathBuf {
        let path = self.dir.path().join(format!("node{i}.toml"));
        let data = self.dir.path().join(format!("node{i}"));
        std::fs::write(
            &path,
            format!(
                r#"[server]
data_dir = "{data}"
catalog_dir = "{catalog}"
workers = 2
[p2p]
listen = ["/ip4/127.0.0.1/tcp/0"]
[storage]
backend = "postgres"
pool_size = 4
[goop2.rate_limits]
balance_per_min = 100000
purchase_per_min = 100000
transactions_per_min = 100000
publish_per_min = 100000
[admin]
token_sha256 = "{admin}"
[webhooks]
timeout_secs = {TIMEOUT_SECS}
lease_secs = {LEASE_SECS}
schedule_secs = [0, 1, 1, 1, 1, 1, 1, 1, 1, 1]
poll_interval_ms = 100
concurrency = 4
[[tenants]]
id = "rooverse"
mode = "roochip"
api_keys = ["{server}"]
admin_api_keys = ["{admin_key}"]
webhook_url = "{hook}"
webhook_secret = "{SECRET}"
"#,
                data = data.display(),
                catalog = self.catalog.display(),
                admin = sha256_hex(ADMIN_TOKEN),
                server = sha256_hex(&roochip_server_key("rooverse")),
                admin_key = sha256_hex(&roochip_admin_key("rooverse")),
                hook = self.receiver.url(),
            ),
        )
        .expect("write the settings");
        path
    }

    /// Starts node `i` (again) with `token_secret` and waits until it answers.
    async fn launch(&mut self, i: usize, token_secret: &str) {
        let config = self.config_file(i);
        let port = free_port();
        let child = spawn_serve(
            &config,
            port,
            &[
                ("RC_STORAGE__POSTGRES_URL", &self.url),
                ("RC_AUTH__TOKEN_SECRET", token_secret),
            ],
        );
        wait_healthy(&self.http, port).await;
        let base = format!("http://127.0.0.1:{port}");
        self.nodes[i] = Some(NodeProcess { child, base });
    }

    /// The base URL of node `i`.
    fn base(&self, i: usize) -> String {
        self.nodes[i].as_ref().expect("the node runs").base.clone()
    }

    /// SIGKILL to node `i`: the process dies at once, whatever it was doing.
    fn kill(&self, i: usize) {
        let pid = self.nodes[i].as_ref().expect("the node runs").child.id();
        let status = Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status()
            .expect("kill -9");
        assert!(status.success());
    }

    /// Reaps node `i` after [`Cluster::kill`].
    fn reap(&mut self, i: usize) {
        let mut node = self.nodes[i].take().expect("the node ran");
        node.child.wait().expect("reap");
    }

    /// SIGTERM and wait: the graceful stop an operator does.
    fn stop(&mut self, i: usize) {
        let mut node = self.nodes[i].take().expect("the node runs");
        let killed = Command::new("kill")
            .args(["-TERM", &node.child.id().to_string()])
            .status()
            .expect("kill -TERM");
        assert!(killed.success());
        let status = node.child.wait().expect("wait");
        assert!(status.success(), "a graceful stop exits 0: {status}");
    }

    /// Settings that point at the cluster's database (for the checks on it).
    fn settings(&self) -> Config {
        let mut c = Config::default();
        use_postgres(&mut c, &self.url);
        c
    }

    /// Runs the CLI with the cluster's storage settings.
    fn cli(&self, args: &[&str]) -> (Option<i32>, String, String) {
        let out = Command::new(env!("CARGO_BIN_EXE_rendezvous-credits"))
            .args(args)
            .env_remove("RC_CONFIG")
            .env_remove("RC_DATA_DIR")
            .env("RC_STORAGE__BACKEND", "postgres")
            .env("RC_STORAGE__POSTGRES_URL", &self.url)
            .output()
            .expect("run the CLI");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into(),
            String::from_utf8_lossy(&out.stderr).into(),
        )
    }

    /// `POST path` on node `i` with the Roochip server key and `headers`.
    async fn roochip(
        &self,
        i: usize,
        path: &str,
        body: &Value,
        headers: &[(&str, String)],
    ) -> Result<(StatusCode, String), reqwest::Error> {
        let mut req = self
            .http
            .post(format!("{}{path}", self.base(i)))
            .header("X-API-Key", roochip_server_key("rooverse"))
            .json(body);
        for (name, value) in headers {
            req = req.header(*name, value);
        }
        let res = req.send().await?;
        let status = res.status();
        Ok((status, res.text().await?))
    }

    /// The Roochip balance of `user`, read on node `i`.
    async fn balance(&self, i: usize, user: &str) -> String {
        let res = self
            .http
            .get(format!("{}/v1/users/{user}/balance", self.base(i)))
            .header("X-API-Key", roochip_server_key("rooverse"))
            .send()
            .await
            .expect("balance");
        let body: Value = res.json().await.expect("JSON");
        body["balance"].to_string()
    }

    /// The Goop2 balance of the peer with `bearer`, read on node `i` with node 0's Host
    /// (as behind a load balancer): the status and body.
    async fn peer_balance(&self, i: usize, bearer: &str, host: &str) -> (StatusCode, Value) {
        let res = self
            .http
            .get(format!("{}/api/credits/balance", self.base(i)))
            .header(header::AUTHORIZATION, bearer)
            .header(header::HOST, host)
            .send()
            .await
            .expect("balance");
        let status = res.status();
        (status, res.json().await.expect("JSON"))
    }

    /// Waits until no delivery of the database is pending; returns the outbox ids.
    async fn all_delivered(&self) -> BTreeSet<i64> {
        let settings = self.settings();
        within("every webhook delivered", async {
            loop {
                let pending = sql_i64(
                    &settings,
                    "SELECT count(*) FROM webhook_deliveries WHERE status <> 'delivered'",
                    &[],
                );
                if pending == 0 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
        .await;
        sql(&settings, "SELECT id FROM outbox ORDER BY id", &[])
            .into_iter()
            .map(|r| r[0].as_deref().expect("id").parse().expect("an id"))
            .collect()
    }

    /// The receiver's records by outbox id, each in arrival order.
    async fn records_by_event(&self) -> BTreeMap<i64, Vec<Value>> {
        let mut by_event: BTreeMap<i64, Vec<Value>> = BTreeMap::new();
        for r in self.receiver.records().await {
            let id = r["headers"]["webhook-id"]
                .as_str()
                .and_then(|h| h.strip_prefix("evt_"))
                .and_then(|n| n.parse().ok())
                .expect("a webhook id");
            by_event.entry(id).or_default().push(r);
        }
        by_event
    }

    /// `verify` through the CLI, on the cluster's database, beside the running nodes.
    fn verify(&self) {
        let (code, out, err) = self.cli(&["verify"]);
        assert_eq!(code, Some(0), "verify: {out}{err}");
        assert!(out.starts_with("verify: OK"), "{out}");
        verify_at(&self.settings().ledger_location());
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for node in self.nodes.iter_mut().flatten() {
            let _ = node.child.kill();
            let _ = node.child.wait();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_move_one_ledger_without_overdraft_and_send_each_webhook_once() {
    let mut cluster = Cluster::start(3).await;

    // 600 deducts of 1 ROO spread over the three nodes at once, against a wallet funded
    // for 150: exactly 150 succeed, each seeing its own balance.
    const FUNDED: usize = 150;
    let (status, body) = cluster
        .roochip(
            0,
            "/v1/users/hot/reward",
            &json!({"credits": FUNDED, "reason": "fund"}),
            &[],
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    let deducts = (0..600).map(|i| {
        let cluster = &cluster;
        async move {
            cluster
                .roochip(
                    i % 3,
                    "/v1/users/hot/deduct",
                    &json!({"credits": 1, "reason": "post_boost"}),
                    &[],
                )
                .await
                .expect("an answer")
        }
    });
    let results = within("600 deducts", futures::future::join_all(deducts)).await;
    let mut balances = BTreeSet::new();
    for (status, body) in &results {
        match *status {
            StatusCode::OK => {
                let body: Value = serde_json::from_str(body).unwrap();
                assert!(
                    balances.insert(body["new_balance"].to_string()),
                    "two deducts saw the same balance: {body}"
                );
            }
            StatusCode::PAYMENT_REQUIRED => {
                assert_eq!(body, r#"{"error":"Insufficient credits"}"#)
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!(balances.len(), FUNDED, "exactly the funded deducts succeed");
    assert!(balances.contains("0"));
    for i in 0..3 {
        assert_eq!(cluster.balance(i, "hot").await, "0", "node {i}");
    }

    // 300 Goop2 purchases of distinct templates, spread over the nodes, by a peer
    // funded for 37: the bearer node 0 issued works on every node of the cluster
    // (behind a load balancer, with node 0's Host).
    let key = Keypair::generate_ed25519();
    let peer = key.public().to_peer_id();
    let host = cluster.base(0).trim_start_matches("http://").to_string();
    let bearer = within(
        "libp2p-PeerID handshake",
        ClientAuth::new(key).authenticate(
            &cluster.http,
            &format!("{}/api/credits/balance", cluster.base(0)),
            None,
        ),
    )
    .await
    .expect("the handshake succeeds")
    .authorization();
    const N: i64 = 37;
    let grant = cluster
        .http
        .post(format!("{}/api/credits/grant", cluster.base(1)))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"peer_id": peer.to_string(), "amount": N * PRICE, "note": "fund"}))
        .send()
        .await
        .unwrap();
    assert_eq!(grant.status(), StatusCode::OK);
    let purchases = (0..300).map(|i| {
        let (cluster, bearer, host) = (&cluster, &bearer, &host);
        async move {
            let res = cluster
                .http
                .post(format!("{}/api/credits/purchase", cluster.base(i % 3)))
                .header(header::AUTHORIZATION, bearer)
                .header(header::HOST, host)
                .json(&json!({"template": format!("t{i:03}")}))
                .send()
                .await
                .expect("an answer");
            let status = res.status();
            (i, status, res.json::<Value>().await.expect("JSON"))
        }
    });
    let results = within("300 purchases", futures::future::join_all(purchases)).await;
    let mut bought = BTreeSet::new();
    for (i, status, body) in &results {
        match *status {
            StatusCode::OK => assert!(bought.insert(format!("t{i:03}")), "{body}"),
            StatusCode::PAYMENT_REQUIRED => {
                assert_eq!(body["error"], "insufficient_credits", "{body}")
            }
            other => panic!("t{i:03}: unexpected {other}: {body}"),
        }
    }
    assert_eq!(
        bought.len() as i64,
        N,
        "exactly the funded purchases succeed"
    );
    for i in 0..3 {
        let (status, body) = cluster.peer_balance(i, &bearer, &host).await;
        assert_eq!(
            (status, &body["balance"]),
            (StatusCode::OK, &json!(0)),
            "node {i}: {body}"
        );
    }
    let charged: BTreeSet<String> = sql(
        &cluster.settings(),
        "SELECT e.ref_id FROM credit_transactions e JOIN credit_accounts a ON a.id = e.account_id
         WHERE a.holder = $1 AND e.kind = 'purchase'",
        &[&peer.to_string()],
    )
    .into_iter()
    .map(|r| r[0].clone().expect("ref_id"))
    .collect();
    assert_eq!(charged, bought, "charged exactly what was answered 200");

    // A node of the same database with another token_secret refuses that bearer.
    cluster.nodes.push(None);
    cluster
        .launch(3, "another-token-secret-of-forty-bytes-yyyy")
        .await;
    let (status, body) = cluster.peer_balance(3, &bearer, &host).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    cluster.stop(3);

    // Webhooks: 60 rewards to 20 wallets over the three nodes; every event goes out
    // exactly once while all nodes run.
    let rewards = (0..60).map(|i| {
        let cluster = &cluster;
        async move {
            cluster
                .roochip(
                    i % 3,
                    &format!("/v1/users/w{}/reward", i % 20),
                    &json!({"credits": 1, "reason": "like"}),
                    &[],
                )
                .await
                .expect("an answer")
        }
    });
    let results = within("60 rewards", futures::future::join_all(rewards)).await;
    assert!(results.iter().all(|(s, _)| *s == StatusCode::OK));
    let events = cluster.all_delivered().await;
    assert_eq!(events.len(), 61, "the funding reward and 60 more");
    let records = cluster.records_by_event().await;
    assert_eq!(records.keys().copied().collect::<BTreeSet<_>>(), events);
    for (id, rs) in &records {
        assert_eq!(rs.len(), 1, "event {id} went out {} times", rs.len());
        assert_eq!(rs[0]["verified"], true, "event {id}: {}", rs[0]);
    }

    // The CLI on the cluster's database: verify, migrate (nothing to do), and backup,
    // which names pg_dump and writes nothing.
    cluster.verify();
    let (code, out, _) = cluster.cli(&["migrate"]);
    assert_eq!(code, Some(0));
    assert!(out.contains("nothing to do"), "{out}");
    let dest = cluster.dir.path().join("backup.dump");
    let (code, out, err) = cluster.cli(&["backup", dest.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(out.starts_with("pg_dump --format=custom"), "{out}");
    assert!(err.contains("pg_dump"), "{err}");
    assert!(!out.contains("password") && !dest.exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_under_load_loses_nothing_answered_and_its_leases_run_out() {
    let mut cluster = Cluster::start(3).await;
    let settings = cluster.settings();

    // Node 0 alone attempts four deliveries that the receiver never answers: it holds
    // their leases (the others stopped gracefully, giving back any of theirs).
    cluster.stop(1);
    cluster.stop(2);
    cluster.receiver.control(json!({"hang_next": 4})).await;
    for i in 0..4 {
        let (status, body) = cluster
            .roochip(
                0,
                &format!("/v1/users/h{i}/reward"),
                &json!({"credits": 1, "reason": "like"}),
                &[],
            )
            .await
            .unwrap();
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    within("four attempts hang", async {
        while cluster.receiver.records().await.len() < 4 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    let leased = sql_i64(
        &settings,
        "SELECT count(*) FROM webhook_deliveries WHERE status = 'pending' AND leased_until IS NOT NULL",
        &[],
    );
    assert_eq!(leased, 4, "node 0 leased the four deliveries");

    // Rewards with idempotency keys through node 0 from 8 clients, each sending one
    // after another until node 0, killed with SIGKILL once 40 are answered, stops
    // answering.
    let answered = Arc::new(std::sync::Mutex::new(BTreeMap::<String, String>::new()));
    let attempted = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let clients = (0..8).map(|w| {
        let (cluster, answered, attempted) = (&cluster, answered.clone(), attempted.clone());
        async move {
            for n in 0.. {
                let key = format!("load-{w}-{n}");
                attempted.lock().unwrap().push(key.clone());
                let sent = cluster
                    .roochip(
                        0,
                        "/v1/users/load/reward",
                        &json!({"credits": 1, "reason": "load"}),
                        &[("Idempotency-Key", key.clone())],
                    )
                    .await;
                match sent {
                    Ok((StatusCode::OK, body)) => {
                        answered.lock().unwrap().insert(key, body);
                    }
                    Ok((status, body)) => panic!("{key}: {status} {body}"),
                    // Node 0 is gone: this one may or may not have been written.
                    Err(_) => break,
                }
            }
        }
    });
    let killer = async {
        while answered.lock().unwrap().len() < 40 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        cluster.kill(0);
    };
    within(
        "load and kill",
        futures::future::join(futures::future::join_all(clients), killer),
    )
    .await;
    cluster.reap(0);
    let answered = answered.lock().unwrap().clone();
    let attempted = attempted.lock().unwrap().clone();
    assert!(answered.len() >= 40 && attempted.len() > answered.len());

    // The other nodes come back. Every answered reward is in the ledger: its retry is
    // the same answer, replayed. The unanswered ones apply now, once each.
    cluster.launch(1, TOKEN_SECRET).await;
    cluster.launch(2, TOKEN_SECRET).await;
    for (i, key) in attempted.iter().enumerate() {
        let (status, body) = cluster
            .roochip(
                1 + i % 2,
                "/v1/users/load/reward",
                &json!({"credits": 1, "reason": "load"}),
                &[("Idempotency-Key", key.clone())],
            )
            .await
            .unwrap();
        assert_eq!(status, StatusCode::OK, "{key}: {body}");
        if let Some(first) = answered.get(key) {
            assert_eq!(&body, first, "{key} was answered: its retry replays it");
        }
    }
    assert_eq!(
        cluster.balance(1, "load").await,
        attempted.len().to_string(),
        "each reward once"
    );

    // Every event goes out; an event sent twice went again only once its lease ran
    // out (the four node 0 held, and any it was sending when it died).
    let events = cluster.all_delivered().await;
    assert_eq!(events.len(), 4 + attempted.len());
    let records = cluster.records_by_event().await;
    assert_eq!(records.keys().copied().collect::<BTreeSet<_>>(), events);
    let lease_ms = i64::try_from(LEASE_SECS * 1000).unwrap();
    let mut again = 0;
    for (id, rs) in &records {
        for pair in rs.windows(2) {
            let gap = pair[1]["at_ms"].as_i64().unwrap() - pair[0]["at_ms"].as_i64().unwrap();
            assert!(
                gap >= lease_ms - 500,
                "event {id} went again {gap} ms after its first attempt, within the lease"
            );
            again += 1;
        }
    }
    assert!(
        again >= 4,
        "the four hung deliveries went again after the lease"
    );
    cluster.verify();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_registered_on_two_nodes_gets_its_starter_credits_once() {
    use crate::common::TestNode;
    use crate::p2p_registration::{assert_registered, assert_welcomed_once, rust_register};
    let shared = tempfile::tempdir().expect("temporary folder");
    let url = database_of(shared.path());
    let start = || TestNode::start(|c| use_postgres(c, &url));
    let (a, b) = (start().await, start().await);
    assert_ne!(a.peer_id(), b.peer_id());

    // The same peer registers with both nodes at once: one account, one starter grant.
    let key = Keypair::generate_ed25519();
    let me = key.public().to_peer_id();
    let (at_a, at_b) = futures::join!(
        rust_register(&a, &key, "goop2"),
        rust_register(&b, &key, "goop2")
    );
    assert_registered(at_a, a.peer_id(), "goop2");
    assert_registered(at_b, b.peer_id(), "goop2");
    assert_welcomed_once(&a, &me, 500);
    assert_welcomed_once(&b, &me, 500);

    // Registrations stay with their node: B restarted restores its own, and a third
    // node on the same database restores none.
    let b = b.restart().await;
    let registered = |n: &TestNode| {
        let p2p = n.running.p2p.clone();
        async move { p2p.registrations(Some("goop2".into())).await }
    };
    let peers = |regs: Vec<rendezvous_credits::p2p::Registration>| {
        regs.into_iter().map(|r| r.peer).collect::<Vec<_>>()
    };
    assert_eq!(peers(registered(&a).await), vec![me]);
    assert_eq!(peers(registered(&b).await), vec![me]);
    let c = start().await;
    assert!(registered(&c).await.is_empty());
    assert_welcomed_once(&c, &me, 500);
    c.verify();
}
