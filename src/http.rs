//! Builds the HTTP app from the configuration: shared state, the dialects' routes,
//! `/metrics`, `/openapi.json`, and the middleware that counts requests and returns
//! `Authentication-Info` after a libp2p-PeerID handshake.

use std::sync::{Arc, OnceLock, RwLock};
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::error::JsonPayloadError;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::http::Method;
use actix_web::{web, HttpMessage, HttpResponse, ResponseError};
use libp2p::{Multiaddr, PeerId};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use utoipa::OpenApi;

use crate::auth::{AdminAuth, ApiKeys, PeerAuthenticator};
use crate::catalog::Catalog;
use crate::config::Config;
use crate::dialects::goop2::{self, limits::Limiters, presence::Presence};
use crate::ledger::{Ledger, TenantId};

/// The node's libp2p identity and its current listen addresses.
#[derive(Clone)]
pub struct NodeInfo {
    /// The node's PeerId.
    pub peer_id: PeerId,
    addrs: Arc<RwLock<Vec<Multiaddr>>>,
}

impl NodeInfo {
    /// A node with no known addresses yet.
    pub fn new(peer_id: PeerId) -> NodeInfo {
        NodeInfo {
            peer_id,
            addrs: Arc::default(),
        }
    }

    /// Replaces the listen addresses.
    pub fn set_listen_addrs(&self, addrs: Vec<Multiaddr>) {
        if let Ok(mut a) = self.addrs.write() {
            *a = addrs;
        }
    }

    /// The listen addresses as multiaddr strings ending in `/p2p/<peer id>`.
    pub fn listen_addrs(&self) -> Vec<String> {
        self.addrs
            .read()
            .map(|a| {
                a.iter()
                    .map(|m| format!("{m}/p2p/{}", self.peer_id))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Everything a handler may use. Shared by all workers.
pub struct AppState {
    /// The settings in force.
    pub config: Arc<Config>,
    /// The ledger core.
    pub ledger: Ledger,
    /// The template catalog.
    pub catalog: Arc<Catalog>,
    /// Goop2 peer identification.
    pub peers: Arc<PeerAuthenticator>,
    /// Operator credentials.
    pub admin: AdminAuth,
    /// Goop2 rate limits.
    pub limits: Arc<Limiters>,
    /// Goop2 presence.
    pub presence: Arc<Presence>,
    /// The libp2p node's identity.
    pub node: NodeInfo,
    /// The tenant of Goop2 accounts.
    pub goop2_tenant: TenantId,
    /// Tenant API keys (`[[tenants]]`).
    pub api_keys: Arc<ApiKeys>,
}

/// An `Authentication-Info` value to send back on this request's response.
#[derive(Debug, Clone)]
pub struct AuthenticationInfo(pub String);

/// Renders a JSON body error in a dialect's error type: 413 for a body over the limit,
/// 400 naming the problem (unknown field, wrong type, malformed JSON) otherwise.
pub fn json_error<E: ResponseError + 'static>(
    err: JsonPayloadError,
    bad_request: fn(String) -> E,
    too_large: fn(String) -> E,
) -> actix_web::Error {
    let e = match &err {
        JsonPayloadError::Overflow { limit }
        | JsonPayloadError::OverflowKnownLength { limit, .. } => {
            too_large(format!("body: larger than the limit of {limit} bytes"))
        }
        JsonPayloadError::ContentType => {
            bad_request("body: Content-Type must be application/json".to_string())
        }
        JsonPayloadError::Deserialize(e) => bad_request(format!("body: {e}")),
        other => bad_request(format!("body: {other}")),
    };
    e.into()
}

/// How a route group renders body errors that the JSON parser did not catch: a
/// body that is not a JSON object, or a field of the wrong type. Registered with
/// `app_data` next to the group's `JsonConfig`.
#[derive(Clone, Copy)]
pub struct BodyErrors(pub fn(String) -> actix_web::Error);

/// A JSON object request body deserialized into `T`. Unlike `web::Json`, an array
/// is refused, and every error names the field it is about
/// (`body: amount: invalid type: string "10", expected i64`).
pub struct JsonBody<T>(pub T);

impl<T: serde::de::DeserializeOwned + 'static> actix_web::FromRequest for JsonBody<T> {
    type Error = actix_web::Error;
    type Future = futures::future::LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(
        req: &actix_web::HttpRequest,
        payload: &mut actix_web::dev::Payload,
    ) -> Self::Future {
        let value = web::Json::<serde_json::Value>::from_request(req, payload);
        let errors = req
            .app_data::<BodyErrors>()
            .copied()
            .unwrap_or(BodyErrors(actix_web::error::ErrorBadRequest::<String>));
        Box::pin(async move {
            let value = value.await?.into_inner();
            if !value.is_object() {
                return Err((errors.0)("body: must be a JSON object".into()));
            }
            serde_path_to_error::deserialize(value)
                .map(JsonBody)
                .map_err(|e| {
                    let path = e.path().to_string();
                    let msg = if path == "." {
                        format!("body: {}", e.inner())
                    } else {
                        format!("body: {path}: {}", e.inner())
                    };
                    (errors.0)(msg)
                })
        })
    }
}

/// The process-wide Prometheus recorder (installed on first use).
pub fn prometheus() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("a metrics recorder was already installed; /metrics may be empty");
        }
        handle
    })
}

/// The OpenAPI document of every HTTP route.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "rendezvous-credits",
        description = "Credit ledger and rendezvous node HTTP API"
    ),
    paths(
        goop2::routes::balance,
        goop2::routes::transactions,
        goop2::routes::purchase,
        goop2::routes::purchases,
        goop2::routes::grant,
        goop2::routes::refund,
        goop2::routes::list,
        goop2::routes::download,
        goop2::routes::healthz,
        goop2::routes::publish,
        goop2::routes::events,
        goop2::routes::manifests,
        goop2::routes::manifest,
        goop2::routes::bundle,
        goop2::routes::prices,
        goop2::routes::store_data,
        goop2::routes::spend,
        goop2::routes::node,
        metrics_text,
        openapi_json,
    )
)]
pub struct ApiDoc;

/// The OpenAPI document of every dialect and the ops routes.
pub fn full_openapi() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.merge(crate::dialects::roochip::ApiDoc::openapi());
    doc.merge(crate::webhooks::routes::ApiDoc::openapi());
    doc
}

/// Prometheus metrics (text format).
#[utoipa::path(get, path = "/metrics", tag = "ops", responses((status = 200, content_type = "text/plain", description = "Prometheus exposition")))]
pub async fn metrics_text() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(prometheus().render())
}

/// This document.
#[utoipa::path(get, path = "/openapi.json", tag = "ops", responses((status = 200, description = "OpenAPI 3.1 document")))]
pub async fn openapi_json() -> HttpResponse {
    static DOC: OnceLock<String> = OnceLock::new();
    let doc = DOC.get_or_init(|| full_openapi().to_json().unwrap_or_default());
    HttpResponse::Ok()
        .content_type("application/json")
        .body(doc.as_str())
}

async fn not_found(req: actix_web::HttpRequest) -> HttpResponse {
    HttpResponse::NotFound().json(serde_json::json!({
        "error": "not_found",
        "message": format!("no route for {} {}", req.method(), req.path()),
    }))
}

/// Mounts every route on `cfg` with `state`.
pub fn configure(cfg: &mut web::ServiceConfig, state: &web::Data<AppState>) {
    cfg.app_data(state.clone());
    let max_body = state.config.server.max_body_bytes;
    goop2::config(cfg, max_body);
    crate::dialects::roochip::config(cfg, max_body);
    crate::webhooks::routes::config(cfg, max_body);
    cfg.route("/metrics", web::get().to(metrics_text))
        .route("/openapi.json", web::get().to(openapi_json))
        .default_service(web::to(not_found));
}

/// Middleware body: counts requests by route and status, times them, and adds
/// `Authentication-Info` when a handshake completed.
pub async fn observe(
    req: ServiceRequest,
    next: actix_web::middleware::Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    // A fixed set of labels: clients choose the method, and every label value is a
    // new series kept forever.
    let method: &'static str = match *req.method() {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    };
    let mut res = next.call(req).await?;
    let info = res
        .request()
        .extensions()
        .get::<AuthenticationInfo>()
        .cloned();
    if let Some(AuthenticationInfo(info)) = info {
        if let Ok(value) = HeaderValue::from_str(&info) {
            res.headers_mut()
                .insert(HeaderName::from_static("authentication-info"), value);
        }
    }
    let route = res
        .request()
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_string());
    let status = res.status().as_u16().to_string();
    metrics::counter!("http_requests_total", "method" => method, "route" => route.clone(), "status" => status)
        .increment(1);
    metrics::histogram!("http_request_duration_seconds", "route" => route)
        .record(started.elapsed().as_secs_f64());
    Ok(res)
}
