//! Starting and stopping the whole node: ledger, catalog, libp2p swarm, HTTP server.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix_web::{middleware, web, App, HttpServer};
use libp2p::identity::Keypair;
use libp2p::{Multiaddr, PeerId};

use crate::auth::{AdminAuth, ApiKeys, PeerAuthenticator};
use crate::catalog::{Catalog, CatalogError};
use crate::config::Config;
use crate::dialects::goop2::{limits::Limiters, ops, presence::Presence};
use crate::http::{self, AppState, NodeInfo};
use crate::ledger::{Ledger, LedgerError, TenantId, TenantSpec};
use crate::p2p::{self, directory, P2pHandle, RegistrationEvent, RegistrationHook, RegistryLimits};
use crate::webhooks::{Dispatcher, DispatcherHandle};

/// Largest Goop2 balance, in credits.
pub const GOOP2_CEILING: i64 = 1_000_000_000_000;

/// Largest Roochip wallet: 9,999,999,999.99 ROO in hundredths (the NUMERIC(12,2)
/// ceiling of roochip-lite-integration-guide.md, "The ROO Currency").
pub const ROOCHIP_CEILING: i64 = 999_999_999_999;

/// The ledger tenants of `config`: the Goop2 tenant (whole credits) and every
/// `[[tenants]]` entry (Roochip: hundredths up to [`ROOCHIP_CEILING`]).
///
/// # Errors
/// [`LedgerError::Invalid`] for an invalid tenant id.
pub fn tenant_specs(config: &Config) -> Result<Vec<TenantSpec>, LedgerError> {
    let mut specs = vec![TenantSpec {
        id: TenantId::new(config.goop2.tenant.clone())?,
        mode: "goop2".into(),
        scale: 0,
        ceiling: GOOP2_CEILING,
    }];
    for t in &config.tenants {
        specs.push(TenantSpec {
            id: TenantId::new(t.id.clone())?,
            mode: t.mode.clone(),
            scale: t.scale,
            ceiling: ROOCHIP_CEILING,
        });
    }
    Ok(specs)
}

/// Why the node could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The ledger could not be opened.
    #[error("ledger: {0}")]
    Ledger(#[from] LedgerError),
    /// The catalog could not be loaded.
    #[error("catalog: {0}")]
    Catalog(#[from] CatalogError),
    /// The node key could not be read or written.
    #[error("node key {path}: {message}")]
    NodeKey {
        /// The key file.
        path: String,
        /// What failed.
        message: String,
    },
    /// A setting is invalid.
    #[error("{0}")]
    Config(String),
    /// The libp2p node could not start.
    #[error("libp2p: {0}")]
    P2p(#[from] p2p::P2pError),
    /// The HTTP server could not bind.
    #[error("http: cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: String,
        /// The cause.
        source: std::io::Error,
    },
}

/// Options that are not settings.
#[derive(Debug, Clone, Default)]
pub struct StartOptions {
    /// The admin token in clear (`RC_ADMIN_TOKEN`); hashed at once.
    pub admin_token: Option<String>,
}

/// A running node.
pub struct RunningNode {
    /// Where HTTP listens (the real port when configured with port 0).
    pub http_addr: SocketAddr,
    /// The node's libp2p PeerId.
    pub peer_id: PeerId,
    /// The libp2p node.
    pub p2p: P2pHandle,
    /// The ledger.
    pub ledger: Ledger,
    /// Identity and listen addresses.
    pub node: NodeInfo,
    presence: Arc<Presence>,
    server: actix_web::dev::ServerHandle,
    server_task: tokio::task::JoinHandle<std::io::Result<()>>,
    background: Vec<tokio::task::JoinHandle<()>>,
    webhooks: DispatcherHandle,
}

/// Reads the node's libp2p key from `path`, or creates an Ed25519 key there (mode
/// 0600 on Unix).
///
/// # Errors
/// [`StartError::NodeKey`] when the file is unreadable, not a key, or cannot be
/// written.
pub fn load_or_create_key(path: &Path) -> Result<Keypair, StartError> {
    let err = |message: String| StartError::NodeKey {
        path: path.display().to_string(),
        message,
    };
    if path.exists() {
        let bytes = std::fs::read(path).map_err(|e| err(e.to_string()))?;
        return Keypair::from_protobuf_encoding(&bytes)
            .map_err(|e| err(format!("not a libp2p private key: {e}")));
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| err(e.to_string()))?;
    }
    let key = Keypair::generate_ed25519();
    let bytes = key.to_protobuf_encoding().map_err(|e| err(e.to_string()))?;
    write_private(path, &bytes).map_err(|e| err(e.to_string()))?;
    Ok(key)
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The hook that persists registrations and welcomes Goop2 peers: a registration in
/// the Goop2 namespace opens the peer's account and grants the starter credits once.
fn registration_hook(
    ledger: Ledger,
    tenant: TenantId,
    namespace: String,
    starter: i64,
) -> RegistrationHook {
    Arc::new(move |event| {
        let ledger = ledger.clone();
        let tenant = tenant.clone();
        let namespace = namespace.clone();
        Box::pin(async move {
            match event {
                RegistrationEvent::Registered(reg) => {
                    let welcomed = ledger
                        .run(move |tx| {
                            directory::record(tx, &reg)?;
                            if reg.namespace == namespace {
                                return ops::welcome(tx, &tenant, &reg.peer.to_string(), starter);
                            }
                            Ok(false)
                        })
                        .await
                        .map_err(|e: LedgerError| e.to_string())?;
                    if welcomed {
                        tracing::info!("new peer registered and received its starter credits");
                    }
                    Ok(())
                }
                RegistrationEvent::Unregistered { peer, namespace } => ledger
                    .run(move |tx| directory::remove(tx, &peer, &namespace))
                    .await
                    .map_err(|e: LedgerError| e.to_string()),
                RegistrationEvent::Expired(reg) => ledger
                    .run(move |tx| directory::remove(tx, &reg.peer, &reg.namespace))
                    .await
                    .map_err(|e: LedgerError| e.to_string()),
            }
        })
    })
}

/// Starts everything (ledger, libp2p node, HTTP server, webhook dispatcher) and
/// returns once HTTP and libp2p listen.
///
/// # Errors
/// [`StartError`] naming what could not start.
pub async fn start(config: Config, options: StartOptions) -> Result<RunningNode, StartError> {
    config
        .validate()
        .map_err(|e| StartError::Config(e.to_string()))?;
    let config = Arc::new(config);
    let ledger = {
        let path = config.ledger_path();
        let opts = config.ledger_options();
        tokio::task::spawn_blocking(move || crate::store::sqlite::open(&path, opts))
            .await
            .map_err(|e| StartError::Config(format!("ledger open task failed: {e}")))??
    };
    let goop2_tenant = TenantId::new(config.goop2.tenant.clone())?;
    for spec in tenant_specs(&config)? {
        ledger.ensure_tenant(spec).await?;
    }
    let api_keys = Arc::new(ApiKeys::from_tenants(&config.tenants)?);
    let keypair = load_or_create_key(&config.node_key_path())?;
    let peer_id = keypair.public().to_peer_id();
    let catalog = Arc::new(Catalog::load(&config.server.catalog_dir)?);

    let listen = config
        .p2p
        .listen
        .iter()
        .map(|a| {
            a.parse::<Multiaddr>()
                .map_err(|e| StartError::Config(format!("p2p.listen {a:?}: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let now = unix_now();
    let restore = ledger.read(move |r| directory::load_active(r, now)).await?;
    let p2p_config = p2p::NodeConfig {
        keypair: keypair.clone(),
        listen,
        limits: RegistryLimits {
            max_per_peer: config.p2p.max_registrations_per_peer,
            max_total: config.p2p.max_registrations_total,
            min_ttl_secs: config.p2p.min_ttl_secs,
            max_ttl_secs: config.p2p.max_ttl_secs,
            default_ttl_secs: config.p2p.default_ttl_secs,
        },
        restore,
    };
    let hook = registration_hook(
        ledger.clone(),
        goop2_tenant.clone(),
        config.goop2.namespace.clone(),
        config.goop2.starter_credits,
    );
    let p2p = p2p::spawn(p2p_config, hook).await?;
    let node = NodeInfo::new(peer_id);
    node.set_listen_addrs(p2p.listen_addrs().await);

    let limits = Arc::new(Limiters::new(&config.goop2.rate_limits));
    let presence = Arc::new(Presence::default());
    let state = web::Data::new(AppState {
        config: config.clone(),
        ledger: ledger.clone(),
        catalog: catalog.clone(),
        peers: Arc::new(PeerAuthenticator::new(
            &keypair,
            Duration::from_secs(config.auth.bearer_ttl_secs),
            config.goop2.trust_peer_id_header,
        )),
        admin: AdminAuth::new(&config.admin.token_sha256, options.admin_token.as_deref()),
        limits: limits.clone(),
        presence: presence.clone(),
        node: node.clone(),
        goop2_tenant,
        api_keys,
    });
    let _ = http::prometheus();
    let factory_state = state.clone();
    let mut server = HttpServer::new(move || {
        let state = factory_state.clone();
        App::new()
            .wrap(middleware::from_fn(http::observe))
            .configure(move |cfg| http::configure(cfg, &state))
    })
    .disable_signals()
    .shutdown_timeout(10);
    if config.server.workers > 0 {
        server = server.workers(config.server.workers);
    }
    let server = server
        .bind(&config.server.http_addr)
        .map_err(|source| StartError::Bind {
            addr: config.server.http_addr.clone(),
            source,
        })?;
    let http_addr = server
        .addrs()
        .first()
        .copied()
        .ok_or_else(|| StartError::Config("the HTTP server bound no address".into()))?;
    let server = server.run();
    let handle = server.handle();
    let server_task = tokio::spawn(server);

    let webhooks = Dispatcher::spawn(
        ledger.clone(),
        config.tenants.clone(),
        config.webhooks.clone(),
    );
    let upkeep = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(10));
        loop {
            tick.tick().await;
            limits.shrink();
            http::prometheus().run_upkeep();
        }
    });
    tracing::info!(
        %peer_id,
        http = %http_addr,
        p2p = ?node.listen_addrs(),
        templates = catalog.len(),
        "rendezvous-credits node started"
    );
    Ok(RunningNode {
        http_addr,
        peer_id,
        p2p,
        ledger,
        node,
        presence,
        server: handle,
        server_task,
        background: vec![upkeep],
        webhooks,
    })
}

impl RunningNode {
    /// Graceful shutdown: end the `/events` streams, stop accepting HTTP requests and
    /// finish those in flight, stop the libp2p node and the webhook dispatcher (an
    /// attempt in flight gets a short grace; one not recorded stays pending and is
    /// retried after the restart), then drain the ledger writer (everything queued is
    /// committed) and close the database.
    pub async fn shutdown(self) {
        self.presence.close();
        self.server.stop(true).await;
        let _ = self.server_task.await;
        for task in &self.background {
            task.abort();
        }
        self.p2p.shutdown().await;
        self.webhooks.shutdown().await;
        let ledger = self.ledger.clone();
        let _ = tokio::task::spawn_blocking(move || ledger.shutdown()).await;
        tracing::info!("rendezvous-credits node stopped");
    }
}
