//! The one wiring root: it builds the store, the dialects (the only file that names
//! every one), the HTTP server, the libp2p node, the webhook dispatcher and the
//! scheduled jobs, and stops them in order.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix_web::{middleware, web, App, HttpRequest, HttpResponse, HttpServer};
use libp2p::{Multiaddr, PeerId};
use utoipa::OpenApi;

use crate::auth::{AdminAuth, PeerAuthenticator};
use crate::catalog::{Catalog, CatalogError};
use crate::config::{Config, TenantSettings};
use crate::console::{self, ConsoleDialect, ConsoleState, ConsoleTenant};
use crate::dialects::goop2::{
    self, limits::Limiters, merchant::Goop2Merchant, ops, presence::Presence, Goop2State,
};
use crate::dialects::roochip::{self, merchant::RoochipMerchant, RoochipState};
use crate::dialects::rrr::{self, RrrState};
use crate::http;
use crate::ledger::jobs::{Scheduler, SettleHooks};
use crate::ledger::{Ledger, LedgerError, TenantId};
use crate::p2p::{
    self, directory, KeyError, NodeInfo, P2pHandle, RegistrationEvent, RegistrationHook,
    RegistryLimits,
};
use crate::payments::{
    self,
    admin::PaymentsAdmin,
    google::Acknowledger,
    stripe::{StripeCheckout, StripeTenant, StripeWebhooks},
};
use crate::store;
use crate::webhooks::{Dispatcher, DispatcherHandle};

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
    #[error(transparent)]
    NodeKey(#[from] KeyError),
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
    jobs: Scheduler,
    acknowledger: Acknowledger,
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
    node: PeerId,
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
                            directory::record(tx, &node, &reg)?;
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
                    .run(move |tx| directory::remove(tx, &node, &peer, &namespace))
                    .await
                    .map_err(|e: LedgerError| e.to_string()),
                RegistrationEvent::Expired(reg) => ledger
                    .run(move |tx| directory::remove(tx, &node, &reg.peer, &reg.namespace))
                    .await
                    .map_err(|e: LedgerError| e.to_string()),
            }
        })
    })
}

/// The Stripe webhook's tenants: Goop2 with `[goop2.stripe]`, each Roochip tenant
/// with `[tenants.stripe]`, each with its merchant.
fn stripe_webhooks(config: &Config, ledger: Ledger) -> Result<StripeWebhooks, StartError> {
    let mut tenants = HashMap::new();
    if let Some(stripe) = &config.goop2.stripe {
        let merchant = Goop2Merchant {
            tenant: TenantId::new(config.goop2.tenant.clone())?,
            bundles: config.goop2.bundles.clone(),
        };
        tenants.insert(
            config.goop2.tenant.clone(),
            StripeTenant {
                signing_secret: stripe.webhook_signing_secret.clone(),
                merchant: Arc::new(merchant),
            },
        );
    }
    for t in config.tenants.iter().filter_map(TenantSettings::roochip) {
        if let Some(stripe) = &t.stripe {
            tenants.insert(
                t.id.clone(),
                StripeTenant {
                    signing_secret: stripe.webhook_signing_secret.clone(),
                    merchant: Arc::new(RoochipMerchant::new(t.clone())?),
                },
            );
        }
    }
    Ok(StripeWebhooks::new(ledger, tenants))
}

/// The console's tenants in configuration order, each with what its dialect adds.
fn console_tenants(config: &Config) -> Result<Vec<ConsoleTenant>, StartError> {
    Ok(config
        .tenant_specs()?
        .into_iter()
        .map(|spec| {
            let dialect: Arc<dyn ConsoleDialect> = match spec.mode.as_str() {
                "goop2" => goop2::console::dialect(config.goop2.low_balance_threshold),
                "roochip" => Arc::new(roochip::console::RoochipConsole),
                "rrr" => Arc::new(rrr::console::RrrConsole),
                _ => Arc::new(console::CorePagesOnly),
            };
            ConsoleTenant { spec, dialect }
        })
        .collect())
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
        let location = config.ledger_location();
        let opts = config.ledger_options();
        tokio::task::spawn_blocking(move || store::open(&location, opts))
            .await
            .map_err(|e| StartError::Config(format!("ledger open task failed: {e}")))??
    };
    let goop2_tenant = TenantId::new(config.goop2.tenant.clone())?;
    for spec in config.tenant_specs()? {
        ledger.ensure_tenant(spec).await?;
    }
    let keypair = p2p::load_or_create_key(&config.node_key_path())?;
    let node_secret = keypair
        .to_protobuf_encoding()
        .map_err(|e| StartError::Config(format!("the node key cannot be encoded: {e}")))?;
    crate::redact::set_key(&node_secret);
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
    let restore = ledger
        .read(move |r| directory::load_active(r, &peer_id, now))
        .await?;
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
        peer_id,
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
    let admin = AdminAuth::new(&config.admin.token_sha256, options.admin_token.as_deref());
    // The key material of bearers: the cluster's `auth.token_secret` when set (then
    // every node of the cluster takes the others' bearers), else this node's key.
    let token_key = config.auth.token_key_material(&node_secret);
    let cluster_key = (!config.auth.token_secret.is_empty()).then_some(token_key.as_slice());
    let goop2_state = web::Data::new(Goop2State {
        settings: config.goop2.clone(),
        tenant: goop2_tenant,
        ledger: ledger.clone(),
        catalog: catalog.clone(),
        peers: Arc::new(PeerAuthenticator::new(
            &keypair,
            cluster_key,
            Duration::from_secs(config.auth.bearer_ttl_secs),
            config.goop2.trust_peer_id_header,
        )),
        admin: admin.clone(),
        limits: limits.clone(),
        presence: presence.clone(),
        node: node.clone(),
        checkout: config.goop2.stripe.as_ref().map(StripeCheckout::new),
    });
    let roochip_tenants: Vec<_> = config
        .tenants
        .iter()
        .filter_map(TenantSettings::roochip)
        .cloned()
        .collect();
    let seeds = roochip_tenants.clone();
    ledger
        .run(move |tx| roochip::webhook::seed_endpoints(tx, &seeds))
        .await?;
    let roochip_state = web::Data::new(
        RoochipState::new(
            ledger.clone(),
            roochip_tenants,
            config.server.max_body_bytes,
        )
        .await
        .map_err(StartError::Config)?,
    );
    let rrr_tenants: Vec<_> = config
        .tenants
        .iter()
        .filter_map(TenantSettings::rrr)
        .cloned()
        .collect();
    let mut hooks = SettleHooks::new();
    for t in &rrr_tenants {
        hooks.add(
            &TenantId::new(t.id.clone())?,
            Arc::new(rrr::webhook::RrrJobs),
        );
    }
    let rrr_state = web::Data::new(RrrState::new(
        ledger.clone(),
        &rrr_tenants,
        &token_key,
        admin.clone(),
        config.server.max_body_bytes,
    )?);
    let roochip_google = roochip_state.google_tenants();
    let stripe_state = web::Data::new(stripe_webhooks(&config, ledger.clone())?);
    let payments_admin = web::Data::new(PaymentsAdmin {
        ledger: ledger.clone(),
        admin: admin.clone(),
    });
    let console_state = web::Data::new(ConsoleState {
        ledger: ledger.clone(),
        admin: admin.clone(),
        sessions: console::Sessions::default(),
        tenants: console_tenants(&config)?,
    });
    let upkeep_rrr = rrr_state.clone();
    let max_body = config.server.max_body_bytes;
    let _ = http::prometheus();
    let mut server = HttpServer::new(move || {
        let (goop2_state, roochip_state, rrr_state) = (
            goop2_state.clone(),
            roochip_state.clone(),
            rrr_state.clone(),
        );
        let (stripe_state, payments_admin) = (stripe_state.clone(), payments_admin.clone());
        let console_state = console_state.clone();
        App::new()
            .wrap(middleware::from_fn(http::observe))
            .configure(move |cfg| {
                console::mount(cfg, console_state);
                goop2::console::mount(cfg, goop2_state.clone());
                roochip::console::mount(cfg, &roochip_state);
                rrr::console::mount(cfg, rrr_state.clone());
                goop2::mount(cfg, goop2_state, max_body);
                roochip::mount(cfg, roochip_state);
                rrr::mount(cfg, rrr_state);
                payments::stripe::mount(cfg, stripe_state, max_body);
                payments::admin::mount(cfg, payments_admin);
                cfg.route("/metrics", web::get().to(http::metrics_text))
                    .route("/openapi.json", web::get().to(openapi_json))
                    .default_service(web::to(not_found));
            })
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
        vec![
            ("roochip", Arc::new(roochip::webhook::RoochipWebhooks)),
            ("rrr", Arc::new(rrr::webhook::RrrWebhooks)),
        ],
        config.webhooks.clone(),
    );
    let acknowledger = Acknowledger::spawn(
        ledger.clone(),
        roochip_google,
        Duration::from_millis(config.jobs.interval_ms),
    );
    let jobs = Scheduler::spawn(
        ledger.clone(),
        Duration::from_millis(config.jobs.interval_ms),
        hooks,
    );
    let upkeep = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(10));
        loop {
            tick.tick().await;
            limits.shrink();
            upkeep_rrr.shrink();
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
        jobs,
        acknowledger,
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
        self.jobs.shutdown().await;
        self.acknowledger.shutdown().await;
        let ledger = self.ledger.clone();
        let _ = tokio::task::spawn_blocking(move || ledger.shutdown()).await;
        tracing::info!("rendezvous-credits node stopped");
    }
}

/// `verify`: the core's checks (hash chains, running balances, lots, pending credits,
/// holds), then each dialect's own (the RRR daily aggregates against the member
/// ledger and the balances). `progress` is told the entries checked so far.
///
/// # Errors
/// `Ok(Err(d))` names the first discrepancy; `Err` is a storage error.
pub fn verify(
    ledger: &Ledger,
    progress: &mut dyn FnMut(u64),
) -> Result<Result<crate::ledger::VerifyReport, crate::ledger::Discrepancy>, LedgerError> {
    let report = match ledger.verify_blocking(progress)? {
        Ok(report) => report,
        Err(d) => return Ok(Err(d)),
    };
    match ledger.read_blocking(rrr::reads::verify)? {
        Some(detail) => Ok(Err(crate::ledger::Discrepancy::Dialect {
            dialect: "rrr".into(),
            detail,
        })),
        None => Ok(Ok(report)),
    }
}

/// The OpenAPI document of every HTTP route: each dialect's, and the ops routes.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = goop2::ApiDoc::openapi();
    doc.merge(roochip::ApiDoc::openapi());
    doc.merge(roochip::deliveries::ApiDoc::openapi());
    doc.merge(rrr::ApiDoc::openapi());
    doc.merge(payments::ApiDoc::openapi());
    doc.merge(OpsDoc::openapi());
    doc
}

/// The ops routes.
#[derive(OpenApi)]
#[openapi(paths(http::metrics_text, openapi_json))]
struct OpsDoc;

/// This document.
#[utoipa::path(get, path = "/openapi.json", tag = "ops", responses((status = 200, description = "OpenAPI 3.1 document")))]
pub async fn openapi_json() -> HttpResponse {
    static DOC: OnceLock<String> = OnceLock::new();
    let doc = DOC.get_or_init(|| openapi().to_json().unwrap_or_default());
    HttpResponse::Ok()
        .content_type("application/json")
        .body(doc.as_str())
}

/// A path no dialect serves.
async fn not_found(req: HttpRequest) -> HttpResponse {
    HttpResponse::NotFound().json(serde_json::json!({
        "error": "not_found",
        "message": format!("no route for {} {}", req.method(), req.path()),
    }))
}
