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
    fn digests_are_lowercase_hex() {
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
