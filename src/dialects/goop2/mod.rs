//! The Goop2 dialect: the rendezvous credit API of goop2-credit-system.md and the
//! routes real Goop2 peers call (field-notes §1), on the ledger core.

pub mod campaigns;
pub mod console;
pub mod error;
pub mod limits;
pub mod merchant;
pub mod ops;
pub mod presence;
pub mod repo;
pub mod routes;
pub mod settings;
pub mod wire;

use std::sync::Arc;

use actix_web::{web, HttpRequest, HttpResponse};

use crate::auth::{AdminAuth, PeerAuthenticator};
use crate::catalog::Catalog;
use crate::http::BodyConfig;
use crate::ledger::{Ledger, TenantId};
use crate::p2p::NodeInfo;
use crate::payments::stripe::StripeCheckout;

pub use error::Goop2Error;
use limits::Limiters;
use presence::Presence;
pub use settings::Goop2Settings;

/// The OpenAPI document of the Goop2 routes.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "rendezvous-credits",
        description = "Credit ledger and rendezvous node HTTP API"
    ),
    paths(
        routes::balance,
        routes::transactions,
        routes::purchase,
        routes::purchases,
        routes::bundles,
        routes::checkout,
        routes::grant,
        routes::refund,
        routes::list,
        routes::download,
        routes::healthz,
        routes::publish,
        routes::events,
        routes::manifests,
        routes::manifest,
        routes::bundle,
        routes::prices,
        routes::store_data,
        routes::spend,
        routes::node,
        routes::redeem,
        routes::referral,
        routes::create_campaign,
        routes::list_campaigns,
    )
)]
pub struct ApiDoc;

/// What the Goop2 routes share.
pub struct Goop2State {
    /// `[goop2]`.
    pub settings: Goop2Settings,
    /// The ledger tenant of Goop2 accounts.
    pub tenant: TenantId,
    /// The ledger core.
    pub ledger: Ledger,
    /// The template catalog.
    pub catalog: Arc<Catalog>,
    /// Peer identification (libp2p-PeerID, or the trusted legacy header).
    pub peers: Arc<PeerAuthenticator>,
    /// Operator credentials.
    pub admin: AdminAuth,
    /// Per-peer and per-IP rate limits.
    pub limits: Arc<Limiters>,
    /// Presence (`/publish`, `/events`).
    pub presence: Arc<Presence>,
    /// The libp2p node's identity and addresses.
    pub node: NodeInfo,
    /// The Stripe client, when `[goop2.stripe]` is set.
    pub checkout: Option<StripeCheckout>,
}

fn bad_request(message: String) -> actix_web::Error {
    Goop2Error::BadRequest(message).into()
}

/// A Goop2 404 for an unknown path under the dialect's prefixes.
async fn no_route(req: HttpRequest) -> Result<HttpResponse, Goop2Error> {
    Err(Goop2Error::NotFound(format!(
        "no route for {} {}",
        req.method(),
        req.path()
    )))
}

/// Mounts the Goop2 routes with `state`: `/api/…`, `/publish`, `/events`,
/// `/healthz`. Bodies are limited to `max_body_bytes`; JSON, query and path errors
/// render as [`Goop2Error`], and an unknown path under `/api` is a Goop2 404.
pub fn mount(cfg: &mut web::ServiceConfig, state: web::Data<Goop2State>, max_body_bytes: usize) {
    let body = BodyConfig {
        limit: max_body_bytes,
        require_json: true,
        render: error::body_error,
    };
    let query =
        web::QueryConfig::default().error_handler(|err, _req| bad_request(format!("query: {err}")));
    let path =
        web::PathConfig::default().error_handler(|err, _req| bad_request(format!("path: {err}")));
    cfg.service(
        web::scope("/api")
            .app_data(state.clone())
            .app_data(body)
            .app_data(body.payload())
            .app_data(query)
            .app_data(path)
            .route("/credits/balance", web::get().to(routes::balance))
            .route("/credits/transactions", web::get().to(routes::transactions))
            .route("/credits/purchase", web::post().to(routes::purchase))
            .route("/credits/purchases", web::get().to(routes::purchases))
            .route("/credits/bundles", web::get().to(routes::bundles))
            .route("/credits/checkout", web::post().to(routes::checkout))
            .route("/credits/grant", web::post().to(routes::grant))
            .route("/credits/refund", web::post().to(routes::refund))
            .route("/credits/store-data", web::get().to(routes::store_data))
            .route("/credits/spend", web::post().to(routes::spend))
            .route("/credits/redeem", web::post().to(routes::redeem))
            .route("/credits/referral", web::get().to(routes::referral))
            .route(
                "/credits/campaigns",
                web::post().to(routes::create_campaign),
            )
            .route("/credits/campaigns", web::get().to(routes::list_campaigns))
            .route("/templates", web::get().to(routes::manifests))
            .route("/templates/list", web::get().to(routes::list))
            .route("/templates/download", web::get().to(routes::download))
            .route("/templates/prices", web::get().to(routes::prices))
            .route(
                "/templates/{dir}/manifest.json",
                web::get().to(routes::manifest),
            )
            .route("/templates/{dir}/bundle", web::get().to(routes::bundle))
            .route("/node", web::get().to(routes::node))
            .default_service(web::to(no_route)),
    )
    .service(
        web::resource("/publish")
            .app_data(state.clone())
            .app_data(body)
            .app_data(body.payload())
            .route(web::post().to(routes::publish)),
    )
    .service(
        web::resource("/events")
            .app_data(state)
            .route(web::get().to(routes::events)),
    )
    .route("/healthz", web::get().to(routes::healthz));
}
