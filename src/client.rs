//! A Goop2-style peer client: its own persistent Ed25519 key, registration over
//! libp2p, and the credit routes over HTTP authenticated with libp2p-PeerID.
//! Used by the `peer` CLI commands and by tests.

use std::io::Read;
use std::path::{Component, Path, PathBuf};

use libp2p::identity::Keypair;
use libp2p::multiaddr::Protocol;
use libp2p::{Multiaddr, PeerId};
use serde::de::DeserializeOwned;

use crate::auth::peer_id_auth::{Bearer, ClientAuth, PeerAuthError};
use crate::catalog::MAX_FILE_BYTES;
use crate::dialects::goop2::wire::{
    BalanceResponse, BundleCheckoutResponse, BundlesResponse, NodeResponse, PurchaseResponse,
    RedeemResponse, ReferralResponse, TemplateListing, TransactionsResponse,
};
use crate::p2p::{self, RecordDomain};

/// Errors of the peer client, each a sentence for the operator.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The node could not be reached or answered garbage.
    #[error("cannot reach the node at {url}: {message}")]
    Http {
        /// The URL.
        url: String,
        /// What failed.
        message: String,
    },
    /// The node answered with an error status.
    #[error("the node answered {status}: {body}")]
    Status {
        /// HTTP status.
        status: u16,
        /// The error body.
        body: String,
    },
    /// Authentication failed.
    #[error("libp2p-PeerID authentication failed: {0}")]
    Auth(#[from] PeerAuthError),
    /// Registration over libp2p failed.
    #[error("registration failed: {0}")]
    Register(String),
    /// Reading or writing local files failed.
    #[error("{0}")]
    Local(String),
}

/// A peer talking to one node.
pub struct PeerClient {
    http: reqwest::Client,
    base: String,
    keypair: Keypair,
    auth: ClientAuth,
    bearer: Option<Bearer>,
}

/// Reads a peer key from `path`, or creates one there (mode 0600 on Unix).
///
/// # Errors
/// [`ClientError::Local`] when the file is unreadable or not a key.
pub fn load_or_create_peer_key(path: &Path) -> Result<Keypair, ClientError> {
    crate::p2p::load_or_create_key(path).map_err(|e| ClientError::Local(e.to_string()))
}

impl PeerClient {
    /// A client of the node at `base_url` (e.g. `http://127.0.0.1:8080`).
    pub fn new(base_url: &str, keypair: Keypair) -> PeerClient {
        PeerClient {
            http: reqwest::Client::new(),
            base: base_url.trim_end_matches('/').to_string(),
            auth: ClientAuth::new(keypair.clone()),
            keypair,
            bearer: None,
        }
    }

    /// This peer's id.
    pub fn peer_id(&self) -> PeerId {
        self.keypair.public().to_peer_id()
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn http_error(&self, url: &str, e: impl std::fmt::Display) -> ClientError {
        ClientError::Http {
            url: url.to_string(),
            message: e.to_string(),
        }
    }

    async fn check(
        &self,
        url: &str,
        res: reqwest::Response,
    ) -> Result<reqwest::Response, ClientError> {
        if res.status().is_success() {
            return Ok(res);
        }
        let status = res.status().as_u16();
        let body = res.text().await.map_err(|e| self.http_error(url, e))?;
        Err(ClientError::Status { status, body })
    }

    async fn json<T: DeserializeOwned>(
        &self,
        url: &str,
        res: reqwest::Response,
    ) -> Result<T, ClientError> {
        let res = self.check(url, res).await?;
        res.json().await.map_err(|e| self.http_error(url, e))
    }

    /// `GET /api/node`.
    ///
    /// # Errors
    /// [`ClientError`] when the node is unreachable.
    pub async fn node(&self) -> Result<NodeResponse, ClientError> {
        let url = self.url("/api/node");
        let res = self
            .http
            .get(&url)
            .send()
            .await
            .map_err(|e| self.http_error(&url, e))?;
        self.json(&url, res).await
    }

    /// The `Authorization` header value for this peer: authenticates once
    /// (server-initiated libp2p-PeerID handshake) and keeps the bearer; checks that
    /// the node's key matches the PeerId `/api/node` announced.
    ///
    /// # Errors
    /// [`ClientError::Auth`] when the handshake fails.
    pub async fn authorization(&mut self) -> Result<String, ClientError> {
        if let Some(b) = &self.bearer {
            return Ok(b.authorization());
        }
        let node = self.node().await?;
        let expected = node.peer_id.parse::<PeerId>().ok();
        let url = self.url("/api/credits/balance");
        let bearer = self.auth.authenticate(&self.http, &url, expected).await?;
        let header = bearer.authorization();
        self.bearer = Some(bearer);
        Ok(header)
    }

    /// An authenticated GET of `path`, checked for a success status. Without a bearer
    /// yet, on a route that requires one (`peer_route`), the handshake runs on `path`
    /// itself and its last answer is the result, so that a first call costs one
    /// request of the route's rate limit, not two.
    async fn get(
        &mut self,
        path: &str,
        peer_route: bool,
    ) -> Result<(String, reqwest::Response), ClientError> {
        let url = self.url(path);
        let res = match &self.bearer {
            None if peer_route => {
                let node = self.node().await?;
                let expected = node.peer_id.parse::<PeerId>().ok();
                let (bearer, res) = self
                    .auth
                    .authenticate_get(&self.http, &url, expected)
                    .await?;
                self.bearer = Some(bearer);
                res
            }
            _ => {
                let auth = self.authorization().await?;
                self.http
                    .get(&url)
                    .header("Authorization", auth)
                    .send()
                    .await
                    .map_err(|e| self.http_error(&url, e))?
            }
        };
        let res = self.check(&url, res).await?;
        Ok((url, res))
    }

    async fn get_json<T: DeserializeOwned>(
        &mut self,
        path: &str,
        peer_route: bool,
    ) -> Result<T, ClientError> {
        let (url, res) = self.get(path, peer_route).await?;
        res.json().await.map_err(|e| self.http_error(&url, e))
    }

    /// Registers with the node's rendezvous server in `namespace`, sealing the peer
    /// record in `domain`. Returns the granted TTL in seconds.
    ///
    /// # Errors
    /// [`ClientError::Register`] with the node's status text.
    pub async fn register(
        &self,
        namespace: Option<&str>,
        domain: RecordDomain,
    ) -> Result<u64, ClientError> {
        let node = self.node().await?;
        let node_peer: PeerId = node
            .peer_id
            .parse()
            .map_err(|_| ClientError::Register("the node announced an invalid peer id".into()))?;
        let host = reqwest::Url::parse(&self.base)
            .ok()
            .and_then(|u| u.host_str().map(str::to_string))
            .unwrap_or_else(|| "127.0.0.1".into());
        let addr = node
            .listen_addrs
            .iter()
            .filter_map(|a| a.parse::<Multiaddr>().ok())
            .map(|a| dialable(a, &host))
            .next()
            .ok_or_else(|| ClientError::Register("the node announced no libp2p address".into()))?;
        let namespace = namespace.unwrap_or(&node.namespace);
        p2p::client::register(
            &self.keypair,
            node_peer,
            addr,
            namespace,
            None,
            domain,
            Vec::new(),
        )
        .await
        .map_err(|e| ClientError::Register(e.to_string()))
    }

    /// `GET /api/credits/balance`.
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn balance(&mut self) -> Result<BalanceResponse, ClientError> {
        self.get_json("/api/credits/balance", true).await
    }

    /// `GET /api/templates/list`.
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn templates(&mut self) -> Result<Vec<TemplateListing>, ClientError> {
        self.get_json("/api/templates/list", false).await
    }

    /// `GET /api/credits/transactions?limit=`.
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn history(&mut self, limit: u32) -> Result<TransactionsResponse, ClientError> {
        self.history_page(limit, 0).await
    }

    /// An authenticated POST of a JSON body to `path`, its JSON answer checked for a
    /// success status.
    async fn post_json<T: DeserializeOwned>(
        &mut self,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<T, ClientError> {
        let auth = self.authorization().await?;
        let url = self.url(path);
        let res = self
            .http
            .post(&url)
            .header("Authorization", auth)
            .json(body)
            .send()
            .await
            .map_err(|e| self.http_error(&url, e))?;
        self.json(&url, res).await
    }

    /// `POST /api/credits/purchase`.
    ///
    /// # Errors
    /// [`ClientError::Status`] 402 with the shortfall, 404 for an unknown template.
    pub async fn buy(&mut self, template: &str) -> Result<PurchaseResponse, ClientError> {
        self.post_json(
            "/api/credits/purchase",
            &serde_json::json!({ "template": template }),
        )
        .await
    }

    /// `POST /api/credits/checkout`: opens a Stripe Checkout for a credit bundle.
    ///
    /// # Errors
    /// [`ClientError::Status`] 404 for an unknown bundle, 503 when the node sells no
    /// credits, 502 when Stripe could not open the checkout.
    pub async fn buy_credits(
        &mut self,
        bundle: &str,
    ) -> Result<BundleCheckoutResponse, ClientError> {
        self.post_json(
            "/api/credits/checkout",
            &serde_json::json!({ "bundle": bundle }),
        )
        .await
    }

    /// `GET /api/credits/bundles`: the credit bundles and whether checkout is open.
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn bundles(&mut self) -> Result<BundlesResponse, ClientError> {
        self.get_json("/api/credits/bundles", false).await
    }

    /// `POST /api/credits/redeem`: a campaign code or an invite code.
    ///
    /// # Errors
    /// [`ClientError::Status`] 404 for an unknown code, 409 naming the rule that
    /// refused it.
    pub async fn redeem(&mut self, code: &str) -> Result<RedeemResponse, ClientError> {
        self.post_json("/api/credits/redeem", &serde_json::json!({ "code": code }))
            .await
    }

    /// `GET /api/credits/referral`: this peer's invite code.
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn referral(&mut self) -> Result<ReferralResponse, ClientError> {
        self.get_json("/api/credits/referral", true).await
    }

    /// `GET /api/credits/transactions?limit=&offset=`.
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn history_page(
        &mut self,
        limit: u32,
        offset: u64,
    ) -> Result<TransactionsResponse, ClientError> {
        self.get_json(
            &format!("/api/credits/transactions?limit={limit}&offset={offset}"),
            true,
        )
        .await
    }

    /// Downloads `template`'s bundle and extracts it into `dir` safely (see
    /// [`extract_bundle`]). Returns the files written.
    ///
    /// # Errors
    /// [`ClientError::Status`] 402 when the template is not owned; local errors.
    pub async fn install(
        &mut self,
        template: &str,
        dir: &Path,
    ) -> Result<Vec<PathBuf>, ClientError> {
        if !crate::catalog::valid_dir_name(template) {
            return Err(ClientError::Local(format!(
                "{template:?} is not a template name"
            )));
        }
        let (url, res) = self
            .get(&format!("/api/templates/download?name={template}"), false)
            .await?;
        let bytes = res.bytes().await.map_err(|e| self.http_error(&url, e))?;
        extract_bundle(&bytes, dir)
    }
}

/// Replaces an unspecified IP (`0.0.0.0`, `::`) in a listen address by `host`, so
/// that the address can be dialed.
fn dialable(addr: Multiaddr, host: &str) -> Multiaddr {
    addr.into_iter()
        .map(|p| match p {
            Protocol::Ip4(ip) if ip.is_unspecified() => host
                .parse()
                .map(Protocol::Ip4)
                .unwrap_or(Protocol::Ip4(std::net::Ipv4Addr::LOCALHOST)),
            Protocol::Ip6(ip) if ip.is_unspecified() => {
                Protocol::Ip6(std::net::Ipv6Addr::LOCALHOST)
            }
            other => other,
        })
        .collect()
}

/// Extracts a template bundle the way Goop2 peers do (field-notes §1): the top folder
/// is stripped, only regular files are written, any path that is absolute or holds
/// `..` is refused, and no file may exceed 10 MB. Returns the files written.
///
/// # Errors
/// [`ClientError::Local`] for an unsafe entry or an I/O failure; nothing is written
/// for an archive with an unsafe entry.
pub fn extract_bundle(tar_gz: &[u8], dir: &Path) -> Result<Vec<PathBuf>, ClientError> {
    let local = |m: String| ClientError::Local(m);
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(tar_gz));
    let mut files = Vec::new();
    for entry in archive
        .entries()
        .map_err(|e| local(format!("not a tar.gz bundle: {e}")))?
    {
        let mut entry = entry.map_err(|e| local(format!("corrupt bundle: {e}")))?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let path = entry
            .path()
            .map_err(|e| local(format!("bad entry name: {e}")))?
            .into_owned();
        let mut parts = path.components();
        parts.next(); // the template's top folder
        let rel: PathBuf = parts.collect();
        if rel.as_os_str().is_empty()
            || !rel.components().all(|c| matches!(c, Component::Normal(_)))
        {
            return Err(local(format!(
                "refusing unsafe bundle entry {}",
                path.display()
            )));
        }
        if entry.size() > MAX_FILE_BYTES {
            return Err(local(format!(
                "bundle entry {} is larger than 10 MB",
                path.display()
            )));
        }
        let mut bytes = Vec::new();
        entry
            .by_ref()
            .take(MAX_FILE_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| local(format!("reading {}: {e}", path.display())))?;
        files.push((rel, bytes));
    }
    let mut written = Vec::new();
    for (rel, bytes) in files {
        let target = dir.join(&rel);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| local(format!("{}: {e}", parent.display())))?;
        }
        std::fs::write(&target, bytes).map_err(|e| local(format!("{}: {e}", target.display())))?;
        written.push(target);
    }
    Ok(written)
}
