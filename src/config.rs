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

pub use crate::dialects::goop2::settings::{Goop2Settings, RateLimits};
pub use crate::dialects::roochip::settings::{
    seed_packages, DecimalSetting, PackageConfig, RoochipTenant,
};
pub use crate::dialects::rrr::settings::RrrTenant;
use crate::ledger::{LedgerError, LedgerOptions, Synchronous, TenantSpec};
pub use crate::secret::sha256_hex;
pub use crate::webhooks::WebhookConfig;

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
    /// Where the ledger is stored.
    pub storage: StorageConfig,
    /// The Goop2 economy.
    pub goop2: Goop2Settings,
    /// HTTP peer authentication.
    pub auth: AuthConfig,
    /// Operator access.
    pub admin: AdminConfig,
    /// Webhook delivery (all tenants).
    pub webhooks: WebhookConfig,
    /// Scheduled jobs (expiry, pending posting, idempotency sweep).
    pub jobs: JobsConfig,
    /// Tenants served with another dialect than Goop2 (`[[tenants]]`).
    pub tenants: Vec<TenantSettings>,
}

/// `[jobs]`: the scheduler of the ledger's time-driven work.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct JobsConfig {
    /// How often every job runs, milliseconds.
    pub interval_ms: u64,
}

impl Default for JobsConfig {
    fn default() -> Self {
        JobsConfig { interval_ms: 1000 }
    }
}

/// A `[[tenants]]` entry: its `mode` names the dialect that serves it, and the rest of
/// the entry is that dialect's settings.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "mode", rename_all = "lowercase")]
pub enum TenantSettings {
    /// `mode = "roochip"`: roochip-lite-integration-guide.md.
    Roochip(RoochipTenant),
    /// `mode = "rrr"`: rrr-xcn-api-contract-v1.md.
    Rrr(RrrTenant),
}

impl From<RoochipTenant> for TenantSettings {
    fn from(t: RoochipTenant) -> TenantSettings {
        TenantSettings::Roochip(t)
    }
}

impl TenantSettings {
    /// The tenant id.
    pub fn id(&self) -> &str {
        match self {
            TenantSettings::Roochip(t) => &t.id,
            TenantSettings::Rrr(t) => &t.id,
        }
    }

    /// The dialect's name (`roochip`, `rrr`).
    pub fn mode(&self) -> &'static str {
        match self {
            TenantSettings::Roochip(_) => "roochip",
            TenantSettings::Rrr(_) => "rrr",
        }
    }

    /// Whether the tenant is served (an inactive one answers 403).
    pub fn active(&self) -> bool {
        match self {
            TenantSettings::Roochip(t) => t.active,
            TenantSettings::Rrr(t) => t.active,
        }
    }

    /// What the ledger core keeps of the tenant (scale, ceiling).
    ///
    /// # Errors
    /// [`LedgerError::Invalid`] for an invalid tenant id.
    pub fn spec(&self) -> Result<TenantSpec, LedgerError> {
        match self {
            TenantSettings::Roochip(t) => t.spec(),
            TenantSettings::Rrr(t) => t.spec(),
        }
    }

    /// The dialect's own checks.
    ///
    /// # Errors
    /// A message naming the setting at fault.
    pub fn validate(&self) -> Result<(), String> {
        match self {
            TenantSettings::Roochip(t) => t.validate(),
            TenantSettings::Rrr(t) => t.validate(),
        }
    }

    /// The SHA-256 digests of the tenant's credentials (API keys, client secrets):
    /// no two may be the same.
    pub fn key_digests(&self) -> Vec<&str> {
        match self {
            TenantSettings::Roochip(t) => t
                .api_keys
                .iter()
                .chain(&t.admin_api_keys)
                .map(String::as_str)
                .collect(),
            TenantSettings::Rrr(t) => t
                .clients
                .iter()
                .map(|c| c.client_secret_sha256.as_str())
                .collect(),
        }
    }

    /// The Roochip settings, if the tenant is a Roochip one.
    pub fn roochip(&self) -> Option<&RoochipTenant> {
        match self {
            TenantSettings::Roochip(t) => Some(t),
            TenantSettings::Rrr(_) => None,
        }
    }

    /// The RedRoomRewards settings, if the tenant is an RRR one.
    pub fn rrr(&self) -> Option<&RrrTenant> {
        match self {
            TenantSettings::Rrr(t) => Some(t),
            TenantSettings::Roochip(_) => None,
        }
    }
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
    /// Reader threads, each with its own read-only connection.
    pub read_pool_size: u32,
    /// Largest size of `ledger.db` in 4 KiB pages; 0 = only the disk limits it. Once
    /// reached, writes answer 503 (storage full) and reads go on.
    pub max_pages: u64,
}

/// `[storage]`: where the ledger lives.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// `sqlite`: the file `data_dir/ledger.db` of this node (the default). `postgres`:
    /// the database at `postgres_url`, which several nodes may share.
    pub backend: StorageBackend,
    /// The PostgreSQL URL, `postgres://user:password@host:port/database`
    /// (`RC_STORAGE__POSTGRES_URL`). A secret: never logged; set it in the
    /// environment rather than in the file.
    pub postgres_url: crate::secret::Secret,
    /// PostgreSQL connections of this node's readers; the writer and the webhook
    /// dispatcher's listener have one each besides. (SQLite's readers are
    /// `ledger.read_pool_size`.)
    pub pool_size: u32,
}

/// The storage engine of `[storage] backend`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum StorageBackend {
    /// One SQLite file per node.
    #[default]
    Sqlite,
    /// One PostgreSQL database for every node of a cluster.
    Postgres,
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            backend: StorageBackend::Sqlite,
            postgres_url: crate::secret::Secret::default(),
            pool_size: 16,
        }
    }
}

/// `[auth]`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Lifetime of a libp2p-PeerID bearer token, seconds.
    pub bearer_ttl_secs: u64,
    /// The key material of bearer tokens (libp2p-PeerID bearers and the RRR OAuth
    /// tokens) shared by the nodes of one cluster, so that a bearer one node issued
    /// works on any of them (`RC_AUTH__TOKEN_SECRET`). Empty: each node derives its
    /// own from its libp2p key, and its bearers work on it alone. At least 32 bytes
    /// when set; never logged.
    pub token_secret: crate::secret::Secret,
}

impl AuthConfig {
    /// The secret bearer tokens are derived from: `token_secret` when set (a
    /// cluster), else `node_secret` (the node's own key).
    pub fn token_key_material(&self, node_secret: &[u8]) -> Vec<u8> {
        if self.token_secret.is_empty() {
            node_secret.to_vec()
        } else {
            let mut shared = b"cluster:".to_vec();
            shared.extend_from_slice(self.token_secret.expose().as_bytes());
            shared
        }
    }
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
            max_pages: d.max_pages,
        }
    }
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            bearer_ttl_secs: 3600,
            token_secret: crate::secret::Secret::default(),
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
        let token_secret = self.auth.token_secret.expose();
        if !token_secret.is_empty() && token_secret.len() < 32 {
            return bad("auth.token_secret: at least 32 bytes when set (e.g. the output of `rendezvous-credits admin token`)".into());
        }
        if self.server.http_addr.parse::<SocketAddr>().is_err() {
            return bad(format!(
                "server.http_addr {:?} is not IP:PORT",
                self.server.http_addr
            ));
        }
        match self.storage.backend {
            StorageBackend::Postgres if self.storage.postgres_url.is_empty() => {
                return bad("storage.postgres_url must be set when storage.backend = \"postgres\" (RC_STORAGE__POSTGRES_URL)".into());
            }
            StorageBackend::Sqlite if !self.storage.postgres_url.is_empty() => {
                return bad("storage.postgres_url is set but storage.backend is \"sqlite\": set storage.backend = \"postgres\" to use it".into());
            }
            _ => {}
        }
        if self.storage.pool_size == 0 {
            return bad("storage.pool_size must be at least 1".into());
        }
        if self.ledger.max_batch == 0 {
            return bad("ledger.max_batch must be at least 1".into());
        }
        if self.p2p.min_ttl_secs > self.p2p.max_ttl_secs
            || self.p2p.default_ttl_secs < self.p2p.min_ttl_secs
            || self.p2p.default_ttl_secs > self.p2p.max_ttl_secs
        {
            return bad("p2p: need min_ttl_secs <= default_ttl_secs <= max_ttl_secs".into());
        }
        self.goop2.validate().map_err(ConfigError::Invalid)?;
        if self.jobs.interval_ms == 0 {
            return bad("jobs.interval_ms must be > 0".into());
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
        if self.webhooks.lease_secs <= self.webhooks.timeout_secs {
            return bad("webhooks.lease_secs must be more than webhooks.timeout_secs".into());
        }
        if self.webhooks.concurrency == 0 || self.webhooks.poll_interval_ms == 0 {
            return bad("webhooks: concurrency and poll_interval_ms must be > 0".into());
        }
        let mut ids = std::collections::HashSet::new();
        ids.insert(self.goop2.tenant.as_str());
        let mut digests = std::collections::HashSet::new();
        let mut clients = std::collections::HashSet::new();
        for t in &self.tenants {
            for c in t.rrr().map(|r| r.clients.as_slice()).unwrap_or_default() {
                if !clients.insert(c.client_id.as_str()) {
                    return bad(format!(
                        "tenants[id = {:?}]: client_id {:?} is used by another rrr tenant",
                        t.id(),
                        c.client_id
                    ));
                }
            }
            let name = format!("tenants[id = {:?}]", t.id());
            if !ids.insert(t.id()) {
                return bad(format!("{name}: the tenant id is used twice"));
            }
            t.validate().map_err(ConfigError::Invalid)?;
            for d in t.key_digests() {
                if !digests.insert(d.to_ascii_lowercase()) {
                    return bad(format!("{name}: an API key digest is listed twice"));
                }
            }
        }
        Ok(())
    }

    /// The ledger tenants of the configuration: the Goop2 tenant and every
    /// `[[tenants]]` entry, each with the scale and ceiling its dialect implies.
    ///
    /// # Errors
    /// [`LedgerError::Invalid`] for an invalid tenant id.
    pub fn tenant_specs(&self) -> Result<Vec<TenantSpec>, LedgerError> {
        let mut specs = vec![self.goop2.spec()?];
        for t in &self.tenants {
            specs.push(t.spec()?);
        }
        Ok(specs)
    }

    /// The ledger options of `[ledger]` (readers: `storage.pool_size` on PostgreSQL).
    pub fn ledger_options(&self) -> LedgerOptions {
        let read_pool_size = match self.storage.backend {
            StorageBackend::Sqlite => self.ledger.read_pool_size,
            StorageBackend::Postgres => self.storage.pool_size,
        };
        LedgerOptions {
            max_batch: self.ledger.max_batch,
            synchronous: self.ledger.synchronous,
            read_pool_size,
            max_pages: self.ledger.max_pages,
            ..LedgerOptions::default()
        }
    }

    /// Where the ledger is: `data_dir/ledger.db`, or the PostgreSQL database of
    /// `storage.postgres_url`.
    pub fn ledger_location(&self) -> crate::store::Location {
        match self.storage.backend {
            StorageBackend::Sqlite => crate::store::Location::Sqlite(self.ledger_path()),
            StorageBackend::Postgres => {
                crate::store::Location::Postgres(self.storage.postgres_url.clone())
            }
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
        let t = c.tenants[0].roochip().unwrap();
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
}
