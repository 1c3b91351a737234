//! Fixtures shared by the tests: a whole node in a temporary data folder, peers with
//! real Ed25519 keys authenticated over HTTP, and checks on the ledger.
//!
//! The storage is SQLite (`data_dir/ledger.db`) unless `RC_TEST_BACKEND=postgres`:
//! then every node of [`test_config`] gets a fresh database on the PostgreSQL server of
//! `RC_TEST_POSTGRES_URL` (`eval "$(scripts/pg-test-cluster.sh)"` starts a throwaway
//! one). The tests that look at the SQLite file itself are skipped in that run by
//! name (`scripts/test-postgres.sh`).

use std::collections::BTreeMap;
use std::future::Future;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use libp2p::identity::Keypair;
use libp2p::multiaddr::Protocol;
use libp2p::{Multiaddr, PeerId};
use rendezvous_credits::app::{self as server, RunningNode, StartOptions};
use rendezvous_credits::auth::peer_id_auth::ClientAuth;
use rendezvous_credits::client::PeerClient;
use rendezvous_credits::config::{
    seed_packages, sha256_hex, Config, DecimalSetting, RateLimits, RoochipTenant, StorageBackend,
};
use rendezvous_credits::ledger::{AccountView, Bucket, EntryView, TenantId, VerifyReport};
use rendezvous_credits::store;
use reqwest::StatusCode;
use serde_json::Value;
use tempfile::TempDir;

/// The admin token every test node is started with.
pub const ADMIN_TOKEN: &str = "integration-admin-token-0123456789";

/// Longest any single step may take before the test fails instead of hanging.
pub const WAIT: Duration = Duration::from_secs(20);

/// Awaits `fut`, failing the test with `what` when it takes longer than [`WAIT`].
pub async fn within<T>(what: &str, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(WAIT, fut)
        .await
        .unwrap_or_else(|_| panic!("timed out after {WAIT:?}: {what}"))
}

/// The repository's template catalog.
pub fn repo_catalog() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("templates-catalog")
}

/// Whether the suite runs on PostgreSQL (`RC_TEST_BACKEND=postgres`). Panics on an
/// unknown value.
pub fn on_postgres() -> bool {
    match std::env::var("RC_TEST_BACKEND").as_deref() {
        Err(_) | Ok("" | "sqlite") => false,
        Ok("postgres") => true,
        Ok(other) => panic!("RC_TEST_BACKEND={other:?}: use sqlite or postgres"),
    }
}

/// Runs `f` on a thread of its own and returns its result: the synchronous
/// PostgreSQL client refuses to run on a thread that drives async tasks (a test's).
pub fn off_runtime<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| match s.spawn(f).join() {
        Ok(value) => value,
        Err(panic) => std::panic::resume_unwind(panic),
    })
}

/// A fresh database on the test server, for one node (or the nodes of one cluster):
/// its URL. Panics, saying how to get a server, when `RC_TEST_POSTGRES_URL` is unset.
/// The throwaway cluster of the tests takes its databases away when it stops.
pub fn fresh_database() -> String {
    let server = match std::env::var("RC_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => url,
        _ => panic!(
            "RC_TEST_BACKEND=postgres needs a server: install PostgreSQL 15 or newer \
             (Debian: apt-get install postgresql), then run \
             `eval \"$(scripts/pg-test-cluster.sh)\"` before cargo test"
        ),
    };
    let name = format!("rc_it_{}", uuid::Uuid::new_v4().simple());
    off_runtime(|| {
        let mut client = postgres::Client::connect(&server, postgres::NoTls)
            .expect("connect to the test server");
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .expect("create a test database");
    });
    let (base, _) = server.rsplit_once('/').expect("a URL with a database");
    format!("{base}/{name}")
}

/// The PostgreSQL database of the node whose data folder is `data_dir`: made on first
/// use, the same one afterwards (a restart with new settings, the CLI run on that
/// folder).
pub fn database_of(data_dir: &Path) -> String {
    static DATABASES: std::sync::Mutex<BTreeMap<PathBuf, String>> =
        std::sync::Mutex::new(BTreeMap::new());
    let mut databases = DATABASES.lock().unwrap_or_else(|e| e.into_inner());
    databases
        .entry(data_dir.to_path_buf())
        .or_insert_with(fresh_database)
        .clone()
}

/// Points `c` at the PostgreSQL database `url` with a small pool (test nodes are many).
pub fn use_postgres(c: &mut Config, url: &str) {
    c.storage.backend = StorageBackend::Postgres;
    c.storage.postgres_url = url.into();
    c.storage.pool_size = 2;
}

/// Settings of a test node: loopback with free ports, the repository catalog, two
/// HTTP workers, and rate limits high enough not to interfere (tests of the limits
/// set their own). On PostgreSQL (see [`on_postgres`]) a fresh database.
pub fn test_config(data_dir: &Path) -> Config {
    let mut c = Config::default();
    if on_postgres() {
        use_postgres(&mut c, &database_of(data_dir));
    }
    c.server.http_addr = "127.0.0.1:0".into();
    c.server.data_dir = data_dir.to_path_buf();
    c.server.catalog_dir = repo_catalog();
    c.server.workers = 2;
    c.p2p.listen = vec!["/ip4/127.0.0.1/tcp/0".into()];
    c.goop2.rate_limits = RateLimits {
        balance_per_min: 100_000,
        purchase_per_min: 100_000,
        transactions_per_min: 100_000,
        publish_per_min: 100_000,
    };
    c
}

/// A running node, its settings and its data folder (deleted when dropped).
pub struct TestNode {
    /// The node.
    pub running: RunningNode,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The settings it runs with.
    pub config: Config,
    /// The data folder (ledger.db, node.key), kept alive across restarts.
    pub data: TempDir,
    /// A plain HTTP client without credentials.
    pub http: reqwest::Client,
    /// The admin token in clear.
    pub admin_token: String,
}

impl TestNode {
    /// Starts a node with [`test_config`] adjusted by `configure`.
    pub async fn start(configure: impl FnOnce(&mut Config)) -> TestNode {
        let data = tempfile::tempdir().expect("temporary data folder");
        let mut config = test_config(data.path());
        configure(&mut config);
        Self::start_with(config, data).await
    }

    /// Starts a node with `config` on an existing data folder (after
    /// [`TestNode::shutdown`], to change the files or the settings in between).
    pub async fn start_with(config: Config, data: TempDir) -> TestNode {
        let running = within(
            "node start",
            server::start(
                config.clone(),
                StartOptions {
                    admin_token: Some(ADMIN_TOKEN.to_string()),
                },
            ),
        )
        .await
        .expect("the node starts");
        TestNode {
            base: format!("http://{}", running.http_addr),
            running,
            config,
            data,
            http: reqwest::Client::new(),
            admin_token: ADMIN_TOKEN.to_string(),
        }
    }

    /// Graceful shutdown, then a new node on the same data folder and settings (the
    /// HTTP and libp2p ports change; the node key and the ledger stay).
    pub async fn restart(self) -> TestNode {
        let TestNode {
            running,
            config,
            data,
            ..
        } = self;
        within("node shutdown", running.shutdown()).await;
        Self::start_with(config, data).await
    }

    /// Graceful shutdown; returns the data folder for inspection.
    pub async fn shutdown(self) -> TempDir {
        within("node shutdown", self.running.shutdown()).await;
        self.data
    }

    /// The URL of `path` on this node.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The Host header value clients send (and signatures cover).
    pub fn host(&self) -> String {
        self.running.http_addr.to_string()
    }

    /// The node's libp2p identity.
    pub fn peer_id(&self) -> PeerId {
        self.running.peer_id
    }

    /// The node's libp2p address, ending in `/p2p/<node>`.
    pub async fn p2p_addr(&self) -> Multiaddr {
        let addrs = within("listen addresses", self.running.p2p.listen_addrs()).await;
        addrs
            .into_iter()
            .next()
            .expect("the node listens on libp2p")
            .with(Protocol::P2p(self.peer_id()))
    }

    /// `data_dir/ledger.db`.
    pub fn ledger_path(&self) -> PathBuf {
        self.config.ledger_path()
    }

    fn tenant(&self) -> TenantId {
        TenantId::new(self.config.goop2.tenant.clone()).expect("tenant id")
    }

    /// The peer's Goop2 account, if opened.
    pub fn account(&self, peer: &PeerId) -> Option<AccountView> {
        let tenant = self.tenant();
        off_runtime(|| {
            self.running
                .ledger
                .read_blocking(|r| r.account(&tenant, &peer.to_string()))
                .expect("read the account")
        })
    }

    /// The peer's entries, newest first.
    pub fn entries(&self, peer: &PeerId) -> Vec<EntryView> {
        let tenant = self.tenant();
        off_runtime(|| {
            self.running
                .ledger
                .read_blocking(|r| match r.account(&tenant, &peer.to_string())? {
                    Some(a) => r.entries(a.id, Bucket::Available, 10_000, 0),
                    None => Ok(Vec::new()),
                })
                .expect("read the entries")
        })
    }

    /// Every entry of every account.
    pub fn entry_total(&self) -> i64 {
        i64::try_from(self.verify().entries).expect("entry count")
    }

    /// Runs `verify` on the node's ledger (as the CLI does, read-only beside the
    /// node) and returns its report; fails on a discrepancy.
    pub fn verify(&self) -> VerifyReport {
        verify_at(&self.config.ledger_location())
    }

    /// `POST` with the admin token.
    pub async fn admin_post(&self, path: &str, body: &Value) -> reqwest::Response {
        within(
            path,
            self.http
                .post(self.url(path))
                .bearer_auth(&self.admin_token)
                .json(body)
                .send(),
        )
        .await
        .expect("HTTP request")
    }

    /// Grants `amount` credits to `peer` with the admin API; returns the new balance.
    pub async fn grant(&self, peer: &PeerId, amount: i64) -> i64 {
        let res = self
            .admin_post(
                "/api/credits/grant",
                &serde_json::json!({"peer_id": peer.to_string(), "amount": amount, "note": "test grant"}),
            )
            .await;
        let (status, body) = json(res).await;
        assert_eq!(status, StatusCode::OK, "grant: {body}");
        assert_eq!(body["status"], "ok", "grant: {body}");
        body["new_balance"].as_i64().expect("new_balance")
    }

    /// A new peer (fresh Ed25519 key) authenticated with libp2p-PeerID.
    pub async fn peer(&self) -> Peer {
        Peer::authenticate(self, Keypair::generate_ed25519()).await
    }

    /// `GET path` without credentials.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        within(path, self.http.get(self.url(path)).send())
            .await
            .expect("HTTP request")
    }
}

/// Runs the `rendezvous-credits` binary with `args` (without `RC_CONFIG` and
/// `RC_DATA_DIR` from the environment); returns (success, stdout + stderr).
///
/// On PostgreSQL, a `--data-dir` among the arguments brings the storage settings of
/// that folder's node along (`RC_STORAGE__*`).
pub fn run_cli<A: AsRef<std::ffi::OsStr>>(args: impl IntoIterator<Item = A>) -> (bool, String) {
    let args: Vec<std::ffi::OsString> = args.into_iter().map(|a| a.as_ref().into()).collect();
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_rendezvous-credits"));
    command
        .args(&args)
        .env_remove("RC_CONFIG")
        .env_remove("RC_DATA_DIR");
    let data_dir = args
        .iter()
        .position(|a| a == "--data-dir")
        .and_then(|i| args.get(i + 1));
    if let (true, Some(dir)) = (on_postgres(), data_dir) {
        command
            .env("RC_STORAGE__BACKEND", "postgres")
            .env("RC_STORAGE__POSTGRES_URL", database_of(Path::new(dir)));
    }
    let out = command.output().expect("run the binary");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// A free TCP port on the loopback interface (free when asked; taken by whoever binds
/// it first).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// `serve` as a child process with `config` on `127.0.0.1:port`, with `env` added to
/// its environment (`RUST_LOG=warn`; its log goes to `config` with the extension
/// `log`).
pub fn spawn_serve(config: &Path, port: u16, env: &[(&str, &str)]) -> std::process::Child {
    std::process::Command::new(env!("CARGO_BIN_EXE_rendezvous-credits"))
        .args(["serve", "--config"])
        .arg(config)
        .args(["--http-addr", &format!("127.0.0.1:{port}")])
        .env_remove("RC_CONFIG")
        .env_remove("RC_DATA_DIR")
        .envs(env.iter().copied())
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(config.with_extension("log")).expect("log file"))
        .spawn()
        .expect("start serve")
}

/// Waits until the node on `127.0.0.1:port` answers `/healthz`.
pub async fn wait_healthy(http: &reqwest::Client, port: u16) {
    within("the node answers /healthz", async {
        loop {
            let url = format!("http://127.0.0.1:{port}/healthz");
            if let Ok(res) = http.get(&url).send().await {
                if res.status().is_success() {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
}

/// The rows of `sql` on the ledger of the node configured by `config`, each column as
/// text (`None` for NULL), on either engine. `$1`, `$2`… in `sql` are bound to
/// `params` (as text; both engines convert them to the column's type). The SQL must
/// be valid on both engines.
pub fn sql(config: &Config, sql: &str, params: &[&str]) -> Vec<Vec<Option<String>>> {
    match config.ledger_location() {
        store::Location::Sqlite(path) => {
            let conn = rusqlite::Connection::open(path).expect("open the ledger");
            let mut stmt = conn.prepare(&sql.replace('$', "?")).expect(sql);
            let width = stmt.column_count();
            let rows = stmt
                .query_map(rusqlite::params_from_iter(params), |r| {
                    (0..width)
                        .map(|i| {
                            use rusqlite::types::ValueRef;
                            Ok(match r.get_ref(i)? {
                                ValueRef::Null => None,
                                ValueRef::Integer(n) => Some(n.to_string()),
                                ValueRef::Real(x) => Some(x.to_string()),
                                ValueRef::Text(t) => Some(String::from_utf8_lossy(t).into()),
                                ValueRef::Blob(b) => Some(hex::encode(b)),
                            })
                        })
                        .collect()
                })
                .expect(sql);
            rows.collect::<Result<_, _>>().expect(sql)
        }
        store::Location::Postgres(url) => off_runtime(|| {
            let mut client = postgres::Client::connect(url.expose(), postgres::NoTls)
                .expect("connect to the ledger");
            let mut text = sql.to_string();
            for (i, p) in params.iter().enumerate().rev() {
                text = text.replace(
                    &format!("${}", i + 1),
                    &format!("'{}'", p.replace('\'', "''")),
                );
            }
            client
                .simple_query(&text)
                .expect(sql)
                .into_iter()
                .filter_map(|m| match m {
                    postgres::SimpleQueryMessage::Row(r) => {
                        Some((0..r.len()).map(|i| r.get(i).map(str::to_string)).collect())
                    }
                    _ => None,
                })
                .collect()
        }),
    }
}

/// The one number `sql` answers on the node's ledger (see [`sql`]).
pub fn sql_i64(config: &Config, query: &str, params: &[&str]) -> i64 {
    let rows = sql(config, query, params);
    rows.first()
        .and_then(|r| r.first().cloned().flatten())
        .unwrap_or_else(|| panic!("{query}: no value"))
        .parse()
        .unwrap_or_else(|e| panic!("{query}: {e}"))
}

/// Counts every entry in the ledger file.
pub fn entry_total(path: &Path) -> i64 {
    let conn = store::sqlite::open_reader(path).expect("open the ledger");
    conn.query_row("SELECT count(*) FROM credit_transactions", [], |r| r.get(0))
        .expect("count entries")
}

/// Runs `verify` on a ledger file; fails the test on a discrepancy or storage error.
pub fn verify_file(path: &Path) -> VerifyReport {
    verify_at(&store::Location::Sqlite(path.to_path_buf()))
}

/// Runs `verify` on the ledger at `location`; fails the test on a discrepancy or
/// storage error.
pub fn verify_at(location: &store::Location) -> VerifyReport {
    off_runtime(|| {
        let ledger = store::open_read_only(location).expect("open the ledger");
        let report = match server::verify(&ledger, &mut |_| {}) {
            Ok(Ok(report)) => report,
            other => panic!("verify of {location} failed: {other:?}"),
        };
        ledger.shutdown();
        report
    })
}

/// A Goop2 peer: its key, a bearer obtained with the libp2p-PeerID handshake, a raw
/// HTTP client and the crate's own peer client.
pub struct Peer {
    /// The peer's key.
    pub key: Keypair,
    /// Its PeerId.
    pub id: PeerId,
    /// `libp2p-PeerID bearer="…"`.
    pub authorization: String,
    /// The crate's client for the same key and node.
    pub client: PeerClient,
    base: String,
    http: reqwest::Client,
}

impl Peer {
    /// Authenticates `key` to `node` (server-initiated handshake on
    /// `/api/credits/transactions`, so that no balance-read quota is spent).
    pub async fn authenticate(node: &TestNode, key: Keypair) -> Peer {
        // Idle connections are dropped before the server's keep-alive (5 s) closes
        // them: otherwise a request sent on one the server is closing at that moment
        // fails with IncompleteMessage.
        let http = reqwest::Client::builder()
            .pool_idle_timeout(Duration::from_secs(2))
            .build()
            .expect("HTTP client");
        let bearer = within(
            "libp2p-PeerID handshake",
            ClientAuth::new(key.clone()).authenticate(
                &http,
                &node.url("/api/credits/transactions"),
                Some(node.peer_id()),
            ),
        )
        .await
        .expect("the handshake succeeds");
        Peer {
            id: key.public().to_peer_id(),
            authorization: bearer.authorization(),
            client: PeerClient::new(&node.base, key.clone()),
            key,
            base: node.base.clone(),
            http,
        }
    }

    /// `GET path` with the bearer.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        within(
            path,
            self.http
                .get(format!("{}{path}", self.base))
                .header("Authorization", &self.authorization)
                .send(),
        )
        .await
        .expect("HTTP request")
    }

    /// `POST path` with a JSON body and the bearer.
    pub async fn post(&self, path: &str, body: &Value) -> reqwest::Response {
        within(
            path,
            self.http
                .post(format!("{}{path}", self.base))
                .header("Authorization", &self.authorization)
                .json(body)
                .send(),
        )
        .await
        .expect("HTTP request")
    }

    /// The balance from `GET /api/credits/balance`.
    pub async fn balance(&self) -> i64 {
        let (status, body) = json(self.get("/api/credits/balance").await).await;
        assert_eq!(status, StatusCode::OK, "balance: {body}");
        assert_eq!(body["peer_id"], self.id.to_string());
        body["balance"].as_i64().expect("balance")
    }

    /// `GET /api/credits/transactions?limit=100`.
    pub async fn history(&self) -> Value {
        let (status, body) = json(self.get("/api/credits/transactions?limit=100").await).await;
        assert_eq!(status, StatusCode::OK, "transactions: {body}");
        body
    }
}

/// The status and JSON body of `res` (the body must be JSON).
pub async fn json(res: reqwest::Response) -> (StatusCode, Value) {
    let status = res.status();
    let text = within("response body", res.text())
        .await
        .expect("response body");
    let body = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("status {status}: body is not JSON ({e}): {text:?}"));
    (status, body)
}

/// Checks a Goop2 error answer: `status`, `{"error": code, "message": …}` with a
/// message holding every one of `mentions`. Returns the message.
pub async fn expect_error(
    res: reqwest::Response,
    status: StatusCode,
    code: &str,
    mentions: &[&str],
) -> String {
    let (got, body) = json(res).await;
    assert_eq!(got, status, "body: {body}");
    assert_eq!(body["error"], code, "body: {body}");
    let message = body["message"]
        .as_str()
        .unwrap_or_else(|| panic!("no message in {body}"))
        .to_string();
    for m in mentions {
        assert!(
            message.contains(m),
            "the message {message:?} should mention {m:?}"
        );
    }
    message
}

/// The regular files of a tar.gz: name → (contents, mode).
pub fn untar(bytes: &[u8]) -> BTreeMap<String, (Vec<u8>, u32)> {
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(bytes));
    let mut out = BTreeMap::new();
    for entry in archive.entries().expect("a tar.gz") {
        let mut entry = entry.expect("a tar entry");
        assert!(
            entry.header().entry_type().is_file(),
            "only regular files in a bundle"
        );
        let name = entry.path().expect("entry name").display().to_string();
        let mode = entry.header().mode().expect("mode");
        let mut body = Vec::new();
        entry.read_to_end(&mut body).expect("entry body");
        assert!(out.insert(name, (body, mode)).is_none(), "duplicate entry");
    }
    out
}

/// The files of catalog folder `root/dir` as the bundle should name them:
/// `{dir}/{relpath}` → contents (hidden entries skipped, as the catalog does).
pub fn catalog_files(root: &Path, dir: &str) -> BTreeMap<String, Vec<u8>> {
    fn walk(base: &Path, path: &Path, prefix: &str, out: &mut BTreeMap<String, Vec<u8>>) {
        for entry in std::fs::read_dir(path).expect("read the template folder") {
            let entry = entry.expect("folder entry");
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            let p = entry.path();
            if p.is_dir() {
                walk(base, &p, prefix, out);
            } else {
                let rel = p.strip_prefix(base).expect("inside the template");
                let rel = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect::<Vec<_>>()
                    .join("/");
                out.insert(format!("{prefix}/{rel}"), std::fs::read(&p).expect("file"));
            }
        }
    }
    let base = root.join(dir);
    let mut out = BTreeMap::new();
    walk(&base, &base, dir, &mut out);
    out
}

/// Checks that `bundle` holds exactly the files of `root/dir`, byte for byte, mode 0644.
pub fn assert_bundle_matches(bundle: &[u8], root: &Path, dir: &str) {
    let got = untar(bundle);
    let want = catalog_files(root, dir);
    assert!(!want.is_empty(), "the template {dir} has files");
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>(),
        "bundle entry names"
    );
    for (name, (bytes, mode)) in &got {
        assert_eq!(*mode, 0o644, "{name} mode");
        assert!(
            bytes == &want[name],
            "{name}: contents differ from the catalog"
        );
    }
}

/// Writes a catalog of `count` templates `t000`, `t001`, … priced `price` each, plus a
/// free one, `free`.
pub fn write_catalog(root: &Path, count: usize, price: i64) {
    for i in 0..count {
        let dir = root.join(format!("t{i:03}"));
        std::fs::create_dir_all(&dir).expect("template folder");
        std::fs::write(
            dir.join("manifest.json"),
            serde_json::json!({"name": format!("t{i:03}"), "title": format!("Template {i}"), "version": "1.0.0", "price": price})
                .to_string(),
        )
        .expect("manifest");
        std::fs::write(dir.join("index.html"), format!("<h1>{i}</h1>")).expect("file");
    }
    let free = root.join("free");
    std::fs::create_dir_all(&free).expect("template folder");
    std::fs::write(
        free.join("manifest.json"),
        r#"{"name":"free","title":"Free","version":"1.0.0","price":0}"#,
    )
    .expect("manifest");
}

/// Sends `GET target` exactly as given (no URL normalisation) on a fresh connection
/// and returns the status and body. For paths a URL library would rewrite.
pub async fn raw_get(node: &TestNode, target: &str) -> (u16, Vec<u8>) {
    let addr = node.running.http_addr;
    let request = format!("GET {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    let response = within(
        "raw HTTP request",
        tokio::task::spawn_blocking(move || {
            let mut stream = std::net::TcpStream::connect(addr)?;
            stream.set_read_timeout(Some(WAIT))?;
            stream.write_all(request.as_bytes())?;
            let mut out = Vec::new();
            stream.read_to_end(&mut out)?;
            Ok::<_, std::io::Error>(out)
        }),
    )
    .await
    .expect("the request task")
    .expect("raw HTTP exchange");
    let head_end = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("an HTTP response head");
    let head = String::from_utf8_lossy(&response[..head_end]).into_owned();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {head:?}"));
    (status, response[head_end + 4..].to_vec())
}

/// The server `X-API-Key` (in clear) of the test Roochip tenant `id`.
pub fn roochip_server_key(id: &str) -> String {
    format!("rc_test_{id}_server_key")
}

/// The admin `X-API-Key` (in clear) of the test Roochip tenant `id`.
pub fn roochip_admin_key(id: &str) -> String {
    format!("rc_test_{id}_admin_key")
}

/// An active Roochip tenant `id` with one server key ([`roochip_server_key`]), one
/// admin key ([`roochip_admin_key`]), the seed packages, 5.00 ROO promo codes and no
/// webhook URL.
pub fn roochip_tenant(id: &str) -> RoochipTenant {
    RoochipTenant {
        id: id.into(),
        active: true,
        scale: 2,
        api_keys: vec![sha256_hex(&roochip_server_key(id))],
        admin_api_keys: vec![sha256_hex(&roochip_admin_key(id))],
        webhook_url: String::new(),
        webhook_secret: Default::default(),
        promo_code_credits: DecimalSetting::Text("5.00".into()),
        packages: seed_packages(),
        idempotency_retention_days: 30,
        stripe: None,
        apple: None,
        google: None,
    }
}

/// Starts the Node.js script `tests/it/<script>` on `port` (0: a free one) with `env`;
/// the script prints its port on its first line. Returns the process and the port.
pub fn spawn_script(script: &str, port: u16, env: &[(&str, &str)]) -> (std::process::Child, u16) {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/it")
        .join(script);
    let node = std::env::var("NODE").unwrap_or_else(|_| "node".into());
    let mut child = Command::new(&node)
        .arg(&path)
        .arg(port.to_string())
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "the webhook tests need Node.js 18 or later: `{node}` could not be started ({e}); \
                 install Node.js or set NODE to its path"
            )
        });
    let stdout = child.stdout.take().expect("the script's stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let read = BufReader::new(stdout).read_line(&mut line).map(|_| line);
        let _ = tx.send(read);
    });
    let line = match rx.recv_timeout(WAIT) {
        Ok(Ok(line)) if !line.trim().is_empty() => line,
        other => {
            let _ = child.kill();
            panic!("{script} ({node}) did not print its port: {other:?}")
        }
    };
    let Ok(port) = line.trim().parse::<u16>() else {
        let _ = child.kill();
        panic!("{script} printed {line:?} instead of its port");
    };
    (child, port)
}
