//! The Roochip Lite dialect (roochip-lite-integration-guide.md): a B2B credit bank
//! for an app backend (Rooverse) that sends `X-API-Key` and points
//! `ROOCHIP_BASE_URL` at this node.
//!
//! Each `[[tenants]]` entry with `mode = "roochip"` is one tenant with its own wallets
//! (one per `external_user_id`, opened on first write), keys, packages, promo codes and
//! webhook URL; the key says which tenant a request is for. ROO are kept as `i64`
//! hundredths and shown on the wire as JSON numbers with at most 2 decimals. Errors
//! are `{"error": "<message>"}` with the spec's statuses ([`RoochipError`]).
//!
//! - [`caller`]: the API key → tenant and role (401, 403).
//! - [`body`]: JSON bodies naming the field at fault; `Idempotency-Key`.
//! - [`wire`]: request and response shapes.
//! - [`ops`]: units of work on the ledger core and reads.
//! - [`routes`]: the handlers.
//! - [`settings`]: promo code amount and packages from the config.

pub mod body;
pub mod caller;
pub mod console;
pub mod deliveries;
pub mod error;
pub mod merchant;
pub mod ops;
pub mod repo;
pub mod routes;
pub mod settings;
pub mod webhook;
pub mod wire;

use actix_web::web;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::auth::{ApiKeys, KeyRole};
use crate::http::BodyConfig;
use crate::ledger::{Ledger, TenantId};
use crate::payments::apple::AppleVerifier;
use crate::payments::google::GooglePlay;
use crate::payments::stripe::StripeCheckout;
use merchant::RoochipMerchant;
use std::collections::HashMap;
use std::sync::Arc;

pub use error::RoochipError;
pub use settings::RoochipTenant;

/// What the Roochip routes share: the ledger, the Roochip tenants and their keys.
pub struct RoochipState {
    /// The ledger core.
    pub ledger: Ledger,
    /// The `[[tenants]]` entries with `mode = "roochip"`.
    pub tenants: Vec<RoochipTenant>,
    /// Their API keys (digests), server and admin.
    pub api_keys: ApiKeys,
    /// Largest request body, bytes.
    pub max_body_bytes: usize,
    /// Each tenant's sales (same order as `tenants`).
    sellers: Vec<Seller>,
}

/// How one tenant sells its packages.
struct Seller {
    merchant: Arc<RoochipMerchant>,
    stripe: Option<StripeCheckout>,
    apple: Option<Arc<AppleVerifier>>,
    google: Option<Arc<GooglePlay>>,
}

impl RoochipState {
    /// The state of `tenants` on `ledger`; reads each tenant's Apple root
    /// certificates and Google service account key.
    ///
    /// # Errors
    /// A message naming the setting at fault: an invalid tenant id, an Apple or
    /// Google setting.
    pub async fn new(
        ledger: Ledger,
        tenants: Vec<RoochipTenant>,
        max_body_bytes: usize,
    ) -> Result<RoochipState, String> {
        let mut keys = Vec::new();
        let mut sellers = Vec::new();
        for t in &tenants {
            let id = TenantId::new(t.id.clone()).map_err(|e| e.to_string())?;
            for d in &t.api_keys {
                keys.push((id.clone(), KeyRole::Server, d.as_str()));
            }
            for d in &t.admin_api_keys {
                keys.push((id.clone(), KeyRole::Admin, d.as_str()));
            }
            let apple = t
                .apple
                .as_ref()
                .map(|a| AppleVerifier::new(a, &format!("tenants[id = {:?}].apple", t.id)))
                .transpose()?
                .map(Arc::new);
            let google = match &t.google {
                Some(g) => Some(Arc::new(
                    GooglePlay::new(g, &format!("tenants[id = {:?}].google", t.id)).await?,
                )),
                None => None,
            };
            sellers.push(Seller {
                merchant: Arc::new(RoochipMerchant::new(t.clone()).map_err(|e| e.to_string())?),
                stripe: t.stripe.as_deref().map(StripeCheckout::new),
                apple,
                google,
            });
        }
        let api_keys = ApiKeys::new(keys);
        Ok(RoochipState {
            ledger,
            tenants,
            api_keys,
            max_body_bytes,
            sellers,
        })
    }

    /// The Stripe client of the caller's tenant, if it sells through Stripe.
    pub fn checkout(&self, caller: &caller::Caller) -> Option<&StripeCheckout> {
        self.seller(caller).stripe.as_ref()
    }

    /// The Apple verifier of the caller's tenant, if it takes App Store purchases.
    pub fn apple(&self, caller: &caller::Caller) -> Option<Arc<AppleVerifier>> {
        self.seller(caller).apple.clone()
    }

    /// The Google Play client of the caller's tenant, if it takes Play purchases.
    pub fn google(&self, caller: &caller::Caller) -> Option<Arc<GooglePlay>> {
        self.seller(caller).google.clone()
    }

    /// The tenants that take Google Play purchases, with their Play client: what the
    /// acknowledgements need.
    pub fn google_tenants(&self) -> HashMap<TenantId, Arc<GooglePlay>> {
        self.tenants
            .iter()
            .zip(&self.sellers)
            .filter_map(|(t, s)| Some((TenantId::new(t.id.clone()).ok()?, s.google.clone()?)))
            .collect()
    }

    /// The merchant of the caller's tenant.
    pub fn merchant(&self, caller: &caller::Caller) -> Arc<RoochipMerchant> {
        self.seller(caller).merchant.clone()
    }

    /// The sales of the caller's tenant: `sellers` has one entry per tenant, in the
    /// order of `tenants`, which the caller's index points into.
    fn seller(&self, caller: &caller::Caller) -> &Seller {
        &self.sellers[caller.index()]
    }
}

/// The OpenAPI document of the Roochip routes.
#[derive(OpenApi)]
#[openapi(
    paths(
        routes::balance,
        routes::transactions,
        routes::deduct,
        routes::reward,
        routes::packages,
        routes::checkout,
        routes::iap_apple,
        routes::iap_google,
        routes::request_code,
        routes::redeem_code,
        routes::code_requests,
        routes::generate_code,
        routes::reject_request,
        routes::grant,
    ),
    components(schemas(wire::CreditsIssuedEvent, wire::CheckoutRequest, wire::CheckoutResponse)),
    modifiers(&ApiKeyScheme),
    tags(
        (name = "roochip", description = "Roochip Lite: ROO wallets of an app's users (X-API-Key)"),
        (name = "roochip-admin", description = "Roochip Lite admin routes (an admin X-API-Key)"),
    )
)]
pub struct ApiDoc;

/// Declares the `api_key` security scheme: the `X-API-Key` header.
struct ApiKeyScheme;

impl Modify for ApiKeyScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme(
                "api_key",
                SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new(caller::API_KEY_HEADER))),
            );
    }
}

fn bad_request(message: String) -> actix_web::Error {
    RoochipError::BadRequest(message).into()
}

/// A Roochip route group: JSON, query, path and body errors render as
/// [`RoochipError`]; unknown paths below `prefix` answer a Roochip 404.
fn scope(prefix: &str, state: &web::Data<RoochipState>) -> actix_web::Scope {
    let body = body_config(state);
    web::scope(prefix)
        .app_data(state.clone())
        .app_data(body)
        .app_data(body.payload())
        .app_data(
            web::QueryConfig::default()
                .error_handler(|err, _req| bad_request(format!("query: {err}"))),
        )
        .app_data(
            web::PathConfig::default()
                .error_handler(|err, _req| bad_request(format!("path: {err}"))),
        )
        .default_service(web::to(routes::no_route))
}

/// How Roochip routes read bodies: any Content-Type, Roochip's words for errors.
fn body_config(state: &RoochipState) -> BodyConfig {
    BodyConfig {
        limit: state.max_body_bytes,
        require_json: false,
        render: body::body_error,
    }
}

/// A Roochip route: another method answers a Roochip 405.
fn resource(path: &str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(routes::wrong_method))
}

/// Mounts the Roochip routes with `state`: `/v1/users/…`, `/v1/packages`,
/// `/v1/checkout`, `/v1/codes/…`, `/v1/admin/codes/…`, `/v1/admin/users/…`,
/// `/v1/admin/webhooks/…`, `/iap/…`.
pub fn mount(cfg: &mut web::ServiceConfig, state: web::Data<RoochipState>) {
    let body = body_config(&state);
    let exact = |path: &str| {
        resource(path)
            .app_data(state.clone())
            .app_data(body)
            .app_data(body.payload())
    };
    cfg.service(
        scope("/v1/users", &state)
            .service(resource("/{external_user_id}/balance").route(web::get().to(routes::balance)))
            .service(
                resource("/{external_user_id}/transactions")
                    .route(web::get().to(routes::transactions)),
            )
            .service(resource("/{external_user_id}/deduct").route(web::post().to(routes::deduct)))
            .service(resource("/{external_user_id}/reward").route(web::post().to(routes::reward))),
    )
    .service(
        scope("/v1/codes", &state)
            .service(resource("/request").route(web::post().to(routes::request_code)))
            .service(resource("/redeem").route(web::post().to(routes::redeem_code))),
    )
    .service(
        scope("/v1/admin/codes", &state)
            .service(resource("/requests").route(web::get().to(routes::code_requests)))
            .service(
                resource("/requests/{id}/reject").route(web::post().to(routes::reject_request)),
            )
            .service(resource("/generate").route(web::post().to(routes::generate_code))),
    )
    .service(
        scope("/v1/admin/users", &state)
            .service(resource("/{external_user_id}/grant").route(web::post().to(routes::grant))),
    )
    .service(
        scope("/iap", &state)
            .service(resource("/apple").route(web::post().to(routes::iap_apple)))
            .service(resource("/google").route(web::post().to(routes::iap_google))),
    )
    .service(exact("/v1/packages").route(web::get().to(routes::packages)))
    .service(exact("/v1/checkout").route(web::post().to(routes::checkout)));
    deliveries::mount(cfg, &state);
}
