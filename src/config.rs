//! Settings, layered: embedded defaults → TOML file → `RC_*` environment → CLI flags.
//!
//! Any key can be set from the environment as `RC_<SECTION>__<KEY>` (double underscore
//! between section and key), e.g. `RC_LEDGER__MAX_BATCH=1`,
//! `RC_GOOP2__STARTER_CREDITS=1000`. The single-level names `RC_CONFIG`, `RC_DATA_DIR`,
//! `RC_HTTP_ADDR`, `RC_P2P_LISTEN` are the CLI flags' (see `serve --help`), and
//! `RC_ADMIN_TOKEN` sets the admin token in clear (only its SHA-256 is kept).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::ledger::{LedgerOptions, Synchronous};

/// All settings. Every section and key has a default; unknown keys are errors.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// HTTP server and files.
    pub server: ServerConfig,
    /// The libp2p node.
    pub p2p: P2pConfig,
    /// The ledger core.
    pub ledger: LedgerConfig,
    /// The Goop2 economy.
    pub goop2: Goop2Config,
    /// HTTP peer authentication.
    pub auth: AuthConfig,
    /// Operator access.
    pub admin: AdminConfig,
    /// Webhook delivery (all tenants).
    pub webhooks: WebhookConfig,
    /// Tenants served with another dialect than Goop2 (`[[tenants]]`).
    pub tenants: Vec<TenantConfig>,
}

/// `[webhooks]`: delivery of outbox events.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct WebhookConfig {
    /// Timeout of one delivery attempt, seconds.
    pub timeout_secs: u64,
    /// Delay before each attempt, seconds, counted from the event (first) or the
    /// previous failure: the Standard Webhooks schedule by default (immediately, 5 s,
    /// 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h, 24 h). After the last attempt fails
    /// the event is dead-lettered.
    pub schedule_secs: Vec<u64>,
    /// How often the dispatcher looks for due deliveries when not woken, milliseconds.
    pub poll_interval_ms: u64,
    /// Deliveries in flight at once (each account's events stay in order).
    pub concurrency: usize,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        WebhookConfig {
            timeout_secs: 10,
            schedule_secs: vec![0, 5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400],
            poll_interval_ms: 1000,
            concurrency: 16,
        }
    }
}

/// A decimal amount in a settings file: a string (`"5.00"`) or a number (`5`,
/// `5.5`); parsed exactly at the tenant's scale.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum DecimalSetting {
    /// `"5.00"`
    Text(String),
    /// `5`
    Integer(i64),
    /// `5.5` (TOML floats are read through their shortest decimal form)
    Float(f64),
}

impl DecimalSetting {
    /// The decimal text.
    pub fn text(&self) -> String {
        match self {
            DecimalSetting::Text(s) => s.clone(),
            DecimalSetting::Integer(i) => i.to_string(),
            DecimalSetting::Float(f) => f.to_string(),
        }
    }
}

/// One credit package of a Roochip tenant (roochip-lite-integration-guide.md,
/// "Available packages").
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PackageConfig {
    /// Package id (a UUID); derived from the tenant and name when absent.
    #[serde(default)]
    pub id: Option<String>,
    /// Display name (`Starter Pack`).
    pub name: String,
    /// ROO issued, decimal (`10`).
    pub credits_to_issue: DecimalSetting,
    /// Price in cents (`1000` = $10.00).
    pub price_amount: i64,
    /// ISO currency, lowercase (`usd`).
    #[serde(default = "default_currency")]
    pub currency: String,
    /// Listed by `GET /v1/packages`.
    #[serde(default = "default_true")]
    pub active: bool,
}

fn default_currency() -> String {
    "usd".into()
}

fn default_true() -> bool {
    true
}

fn default_scale() -> u32 {
    2
}

fn default_promo_credits() -> DecimalSetting {
    DecimalSetting::Text("5.00".into())
}

/// The seed packages of roochip-lite-integration-guide.md: Starter 10 / $10.00,
/// Popular 25 / $25.00, Premium 50 / $50.00.
pub fn seed_packages() -> Vec<PackageConfig> {
    [
        ("Starter Pack", 10, 1000),
        ("Popular Pack", 25, 2500),
        ("Premium Pack", 50, 5000),
    ]
    .into_iter()
    .map(|(name, credits, cents)| PackageConfig {
        id: None,
        name: name.into(),
        credits_to_issue: DecimalSetting::Integer(credits),
        price_amount: cents,
        currency: default_currency(),
        active: true,
    })
    .collect()
}

/// `[[tenants]]`: a tenant served with another dialect.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TenantConfig {
    /// Tenant id (1-64 of `a-z0-9_-`); its ledger accounts are separate from every
    /// other tenant's.
    pub id: String,
    /// Dialect: `roochip`.
    pub mode: String,
    /// An inactive tenant answers 403 on every route.
    #[serde(default = "default_true")]
    pub active: bool,
    /// Decimal places of its currency; Roochip ROO has 2.
    #[serde(default = "default_scale")]
    pub scale: u32,
    /// SHA-256 (lowercase hex) of each server API key (`X-API-Key`).
    #[serde(default)]
    pub api_keys: Vec<String>,
    /// SHA-256 (lowercase hex) of each admin API key.
    #[serde(default)]
    pub admin_api_keys: Vec<String>,
    /// Where events are POSTed; empty = no webhooks.
    #[serde(default)]
    pub webhook_url: String,
    /// HMAC-SHA256 key of the webhook signature. Needed in clear to sign; never
    /// logged.
    #[serde(default)]
    pub webhook_secret: String,
    /// ROO issued by a promo code.
    #[serde(default = "default_promo_credits")]
    pub promo_code_credits: DecimalSetting,
    /// Credit packages (default: the seed packages).
    #[serde(default = "seed_packages")]
    pub packages: Vec<PackageConfig>,
}

/// `[server]`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// HTTP listen address, `IP:PORT` (port 0 picks a free port).
    pub http_addr: String,
    /// Folder of `ledger.db` and `node.key`.
    pub data_dir: PathBuf,
    /// Folder of the template catalog (`{dir}/manifest.json` and files).
    pub catalog_dir: PathBuf,
    /// HTTP worker threads; 0 = one per core.
    pub workers: usize,
    /// Largest accepted JSON request body, in bytes.
    pub max_body_bytes: usize,
}

/// `[p2p]`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct P2pConfig {
    /// libp2p listen multiaddrs.
    pub listen: Vec<String>,
    /// Namespaces one peer may be registered in at once.
    pub max_registrations_per_peer: usize,
    /// Registrations held at once across all peers.
    pub max_registrations_total: usize,
    /// Shortest TTL a peer may ask for, seconds.
    pub min_ttl_secs: u64,
    /// Longest TTL a peer may ask for, seconds.
    pub max_ttl_secs: u64,
    /// TTL when a peer asks for none, seconds.
    pub default_ttl_secs: u64,
}

/// `[ledger]`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LedgerConfig {
    /// Most units of work per transaction; `1` turns group commit off.
    pub max_batch: usize,
    /// `full` (an answered write is on disk) or `normal`.
    pub synchronous: Synchronous,
    /// Read-only connections in the pool.
    pub read_pool_size: u32,
}

/// `[goop2]`: the rendezvous economy (goop2-credit-system.md).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Goop2Config {
    /// The ledger tenant that holds Goop2 accounts.
    pub tenant: String,
    /// The rendezvous namespace whose registrations open accounts.
    pub namespace: String,
    /// Credits granted once per peer on its first registration ("starter" entry).
    pub starter_credits: i64,
    /// Below this balance, balance answers carry `low_balance: true`.
    pub low_balance_threshold: i64,
    /// Accept `X-Goop-Peer-ID` (and `?peer_id=`) without proof. Off by default: anyone
    /// could claim any peer id.
    pub trust_peer_id_header: bool,
    /// `false` makes every template free (credits off).
    pub credits_enabled: bool,
    /// Requests per minute.
    pub rate_limits: RateLimits,
}

/// `[goop2.rate_limits]`: requests per minute (goop2-credit-system.md, "Rate Limiting").
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimits {
    /// Balance reads per peer.
    pub balance_per_min: u32,
    /// Purchases and spends per peer.
    pub purchase_per_min: u32,
    /// History reads per peer.
    pub transactions_per_min: u32,
    /// `POST /publish` per client IP.
    pub publish_per_min: u32,
}

/// `[auth]`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Lifetime of a libp2p-PeerID bearer token, seconds.
    pub bearer_ttl_secs: u64,
}

/// `[admin]`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    /// Lowercase hex SHA-256 of the admin token (`rendezvous-credits admin token`
    /// prints a new token and its digest). Empty: admin routes are closed unless
    /// `RC_ADMIN_TOKEN` is set.
    pub token_sha256: String,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            http_addr: "0.0.0.0:8080".into(),
            data_dir: PathBuf::from("data"),
            catalog_dir: PathBuf::from("templates-catalog"),
            workers: 0,
            max_body_bytes: 64 * 1024,
        }
    }
}

impl Default for P2pConfig {
    fn default() -> Self {
        P2pConfig {
            listen: vec!["/ip4/0.0.0.0/tcp/4001".into()],
            max_registrations_per_peer: 10,
            max_registrations_total: 100_000,
            min_ttl_secs: 60,
            max_ttl_secs: 72 * 3600,
            default_ttl_secs: 2 * 3600,
        }
    }
}

impl Default for LedgerConfig {
    fn default() -> Self {
        let d = LedgerOptions::default();
        LedgerConfig {
            max_batch: d.max_batch,
            synchronous: d.synchronous,
            read_pool_size: d.read_pool_size,
        }
    }
}

impl Default for Goop2Config {
    fn default() -> Self {
        Goop2Config {
            tenant: "goop2".into(),
            namespace: "goop2".into(),
            starter_credits: 500,
            low_balance_threshold: 100,
            trust_peer_id_header: false,
            credits_enabled: true,
            rate_limits: RateLimits::default(),
        }
    }
}

impl Default for RateLimits {
    fn default() -> Self {
        RateLimits {
            balance_per_min: 60,
            purchase_per_min: 10,
            transactions_per_min: 30,
            publish_per_min: 60,
        }
    }
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            bearer_ttl_secs: 3600,
        }
    }
}

/// A configuration error: which layer and what is wrong.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A layer could not be read or does not fit the schema.
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

impl Config {
    /// Loads the layers: defaults, then `file` if given (it must exist), then
    /// `RC_<SECTION>__<KEY>` variables.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] naming the file, key or value at fault.
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = file {
            if !file.is_file() {
                return Err(ConfigError::Invalid(format!(
                    "config file {} does not exist",
                    file.display()
                )));
            }
            figment = figment.merge(Toml::file_exact(file));
        }
        figment = figment.merge(
            Env::prefixed("RC_")
                .filter(|key| key.as_str().contains("__"))
                .split("__"),
        );
        let config: Config = figment
            .extract()
            .map_err(|e| ConfigError::Invalid(e.to_string()))?;
        config.validate()?;
        Ok(config)
    }

    /// Checks values that the types cannot.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] naming the key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |msg: String| Err(ConfigError::Invalid(msg));
        if self.server.http_addr.parse::<SocketAddr>().is_err() {
            return bad(format!(
                "server.http_addr {:?} is not IP:PORT",
                self.server.http_addr
            ));
        }
        if self.ledger.max_batch == 0 {
            return bad("ledger.max_batch must be at least 1".into());
        }
        if self.goop2.starter_credits < 0 {
            return bad("goop2.starter_credits must not be negative".into());
        }
        if self.goop2.namespace.is_empty() || self.goop2.namespace.len() > 255 {
            return bad("goop2.namespace must be 1 to 255 bytes".into());
        }
        if self.p2p.min_ttl_secs > self.p2p.max_ttl_secs
            || self.p2p.default_ttl_secs < self.p2p.min_ttl_secs
            || self.p2p.default_ttl_secs > self.p2p.max_ttl_secs
        {
            return bad("p2p: need min_ttl_secs <= default_ttl_secs <= max_ttl_secs".into());
        }
        let r = &self.goop2.rate_limits;
        if [
            r.balance_per_min,
            r.purchase_per_min,
            r.transactions_per_min,
            r.publish_per_min,
        ]
        .contains(&0)
        {
            return bad("goop2.rate_limits values must be at least 1".into());
        }
        let digest = &self.admin.token_sha256;
        if !digest.is_empty()
            && (digest.len() != 64 || !digest.bytes().all(|b| b.is_ascii_hexdigit()))
        {
            return bad("admin.token_sha256 must be 64 hex digits (a SHA-256)".into());
        }
        if self.server.max_body_bytes < 1024 {
            return bad("server.max_body_bytes must be at least 1024".into());
        }
        if self.webhooks.schedule_secs.is_empty() || self.webhooks.timeout_secs == 0 {
            return bad(
                "webhooks: schedule_secs needs at least one delay and timeout_secs must be > 0"
                    .into(),
            );
        }
        if self.webhooks.concurrency == 0 || self.webhooks.poll_interval_ms == 0 {
            return bad("webhooks: concurrency and poll_interval_ms must be > 0".into());
        }
        let mut ids = std::collections::HashSet::new();
        ids.insert(self.goop2.tenant.as_str());
        let mut digests = std::collections::HashSet::new();
        for t in &self.tenants {
            let name = format!("tenants[id = {:?}]", t.id);
            if !ids.insert(t.id.as_str()) {
                return bad(format!("{name}: the tenant id is used twice"));
            }
            if t.mode != "roochip" {
                return bad(format!("{name}.mode: must be \"roochip\""));
            }
            if t.scale != 2 {
                return bad(format!("{name}.scale: Roochip ROO has scale 2"));
            }
            crate::dialects::roochip::settings::check(t).map_err(ConfigError::Invalid)?;
            for d in t.api_keys.iter().chain(&t.admin_api_keys) {
                if d.len() != 64 || !d.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return bad(format!(
                        "{name}: api_keys and admin_api_keys hold SHA-256 digests (64 hex digits); `rendezvous-credits admin tenant-key` makes one"
                    ));
                }
                if !digests.insert(d.to_ascii_lowercase()) {
                    return bad(format!("{name}: an API key digest is listed twice"));
                }
            }
            if !t.webhook_url.is_empty() {
                if !(t.webhook_url.starts_with("http://") || t.webhook_url.starts_with("https://"))
                {
                    return bad(format!(
                        "{name}.webhook_url: must be an http:// or https:// URL"
                    ));
                }
                if t.webhook_secret.is_empty() {
                    return bad(format!("{name}.webhook_secret: required with webhook_url"));
                }
            }
        }
        Ok(())
    }

    /// The ledger options of `[ledger]`.
    pub fn ledger_options(&self) -> LedgerOptions {
        LedgerOptions {
            max_batch: self.ledger.max_batch,
            synchronous: self.ledger.synchronous,
            read_pool_size: self.ledger.read_pool_size,
            ..LedgerOptions::default()
        }
    }

    /// `data_dir/ledger.db`.
    pub fn ledger_path(&self) -> PathBuf {
        self.server.data_dir.join("ledger.db")
    }

    /// `data_dir/node.key`.
    pub fn node_key_path(&self) -> PathBuf {
        self.server.data_dir.join("node.key")
    }
}

/// Lowercase hex SHA-256 of `secret`: how tokens and keys are stored.
pub fn sha256_hex(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_overrides_defaults_and_unknown_keys_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(&file, "[goop2]\nstarter_credits = 42\n").unwrap();
        let c = Config::load(Some(&file)).unwrap();
        assert_eq!(c.goop2.starter_credits, 42);
        assert_eq!(c.goop2.namespace, "goop2");

        std::fs::write(&file, "[goop2]\nstarter_credit = 42\n").unwrap();
        let err = Config::load(Some(&file)).unwrap_err().to_string();
        assert!(err.contains("starter_credit"), "{err}");

        std::fs::write(&file, "[ledger]\nmax_batch = 0\n").unwrap();
        let err = Config::load(Some(&file)).unwrap_err().to_string();
        assert!(err.contains("max_batch"), "{err}");

        let err = Config::load(Some(&dir.path().join("missing.toml")))
            .unwrap_err()
            .to_string();
        assert!(err.contains("does not exist"), "{err}");
    }

    #[test]
    fn the_example_file_documents_the_defaults() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config.example.toml");
        assert_eq!(Config::load(Some(&path)).unwrap(), Config::default());
    }

    #[test]
    fn tenants_are_read_with_their_defaults_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        let digest = sha256_hex("k");
        std::fs::write(
            &file,
            format!(
                "[[tenants]]\nid = \"rooverse\"\nmode = \"roochip\"\napi_keys = [\"{digest}\"]\n"
            ),
        )
        .unwrap();
        let c = Config::load(Some(&file)).unwrap();
        let t = &c.tenants[0];
        assert!(t.active);
        assert_eq!(t.scale, 2);
        assert_eq!(t.promo_code_credits.text(), "5.00");
        assert_eq!(t.packages.len(), 3);
        assert_eq!(t.packages[1].price_amount, 2500);

        std::fs::write(
            &file,
            "[[tenants]]\nid = \"rooverse\"\nmode = \"roochip\"\napi_keys = [\"plain-key\"]\n",
        )
        .unwrap();
        let err = Config::load(Some(&file)).unwrap_err().to_string();
        assert!(err.contains("SHA-256"), "{err}");

        std::fs::write(
            &file,
            "[[tenants]]\nid = \"r\"\nmode = \"roochip\"\npromo_code_credits = \"0.001\"\n",
        )
        .unwrap();
        let err = Config::load(Some(&file)).unwrap_err().to_string();
        assert!(err.contains("promo_code_credits"), "{err}");

        std::fs::write(&file, "[[tenants]]\nid = \"goop2\"\nmode = \"roochip\"\n").unwrap();
        let err = Config::load(Some(&file)).unwrap_err().to_string();
        assert!(err.contains("used twice"), "{err}");
    }

    #[test]
    fn digests_are_lowercase_hex() {
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
