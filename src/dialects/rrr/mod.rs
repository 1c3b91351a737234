//! The RedRoomRewards v1 dialect (rrr-xcn-api-contract-v1.md, field-notes §3): a
//! loyalty-points ledger for an app (XCN) on the same core, one `[[tenants]]` entry
//! with `mode = "rrr"` per program. Points are whole numbers (scale 0) kept as lots
//! that expire; pending earns, escrow (holds), idempotency keys, the outbox and the
//! scheduler are the core's.
//!
//! - [`caller`]: `POST /oauth/token` bearers, `X-Client-Id`, `X-Request-Trace`, rate
//!   limits, and the RRR admin.
//! - [`error`]: the canonical error body `{"error": {"code", "message", "details"}}`.
//! - [`wire`]: request and response shapes.
//! - [`ops`]: units of work (earn, reverse, adjust, redeem, top up) with their
//!   business keys; [`links`], [`promotions`], [`awards`], [`endpoints`] likewise.
//! - [`reads`]: wallet, ledger pages, promotions, reports.
//! - [`webhook`]: the envelope, `X-RRR-Signature`, and the scheduler's hook.
//! - [`repo`]: the dialect's tables, as traits each storage backend implements.
//! - [`time`]: business time in America/Toronto.

pub mod awards;
pub mod caller;
pub mod console;
pub mod endpoints;
pub mod error;
pub mod links;
pub mod ops;
pub mod promotions;
pub mod reads;
pub mod repo;
pub mod routes;
pub mod settings;
pub mod time;
pub mod webhook;
pub mod wire;

use actix_web::middleware::from_fn;
use actix_web::web;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::http::BodyConfig;

pub use caller::RrrState;
pub use error::RrrError;
pub use settings::RrrTenant;

/// The OpenAPI document of the RRR routes.
#[derive(OpenApi)]
#[openapi(
    paths(
        routes::token,
        routes::link_intent,
        routes::link_confirm,
        routes::link_revoke,
        routes::link_status,
        routes::wallet,
        routes::ledger,
        routes::earn,
        routes::earn_batch,
        routes::earn_reverse,
        routes::adjustment,
        routes::redemption_quote,
        routes::redemption_commit,
        routes::redemption_reverse,
        routes::topup_quote,
        routes::topup_commit,
        routes::award_intent,
        routes::award_commit,
        routes::award_reverse,
        routes::promotion_create,
        routes::promotion_patch,
        routes::promotion_get,
        routes::promotion_list,
        routes::promotion_action,
        routes::promotion_approve,
        routes::webhook_create,
        routes::webhook_list,
        routes::webhook_delete,
        routes::liability,
        routes::segments,
    ),
    modifiers(&BearerSchemes),
    tags((name = "rrr", description = "RedRoomRewards v1: loyalty points (OAuth client credentials, X-Client-Id, Idempotency-Key)"))
)]
pub struct ApiDoc;

/// Declares the `bearer` (client token) and `admin` (node admin token) schemes.
struct BearerSchemes;

impl Modify for BearerSchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        for name in ["bearer", "admin"] {
            components.add_security_scheme(
                name,
                SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
            );
        }
    }
}

fn body_config(state: &RrrState) -> BodyConfig {
    BodyConfig {
        limit: state.max_body_bytes,
        require_json: false,
        render: |e| RrrError::from_body(e).into(),
    }
}

fn invalid(what: &'static str) -> impl Fn(String) -> actix_web::Error + Clone {
    move |message| RrrError::field(what, message).into()
}

/// An RRR route group: bodies, queries and paths refused in RRR words, the trace
/// echoed, unknown paths a canonical 404.
fn scope(
    prefix: &str,
    state: &web::Data<RrrState>,
) -> actix_web::Scope<
    impl actix_web::dev::ServiceFactory<
        actix_web::dev::ServiceRequest,
        Config = (),
        Response = actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let body = body_config(state);
    let query = invalid("query");
    let path = invalid("path");
    web::scope(prefix)
        .wrap(from_fn(caller::trace))
        .app_data(state.clone())
        .app_data(body)
        .app_data(body.payload())
        .app_data(web::QueryConfig::default().error_handler(move |e, _| query(e.to_string())))
        .app_data(web::PathConfig::default().error_handler(move |e, _| path(e.to_string())))
        .default_service(web::to(routes::no_route))
}

fn resource(path: &str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(routes::wrong_method))
}

/// Mounts the RRR routes with `state`: `POST /oauth/token` and `/v1/links/…`,
/// `/v1/members/…`, `/v1/points/…`, `/v1/redemptions/…`, `/v1/awards/…`,
/// `/v1/promotions…`, `/v1/webhooks…`, `/v1/reports/…`.
pub fn mount(cfg: &mut web::ServiceConfig, state: web::Data<RrrState>) {
    use routes as r;
    cfg.service(
        scope("/oauth", &state).service(resource("/token").route(web::post().to(r::token))),
    )
    .service(
        scope("/v1/links", &state)
            .service(resource("/intents").route(web::post().to(r::link_intent)))
            .service(resource("/confirm").route(web::post().to(r::link_confirm)))
            .service(resource("/revoke").route(web::post().to(r::link_revoke)))
            .service(resource("/status").route(web::get().to(r::link_status))),
    )
    .service(
        scope("/v1/members", &state)
            .service(resource("/{id}/wallet").route(web::get().to(r::wallet)))
            .service(resource("/{id}/ledger").route(web::get().to(r::ledger))),
    )
    .service(
        scope("/v1/points", &state)
            .service(resource("/earn").route(web::post().to(r::earn)))
            .service(resource("/earn/batch").route(web::post().to(r::earn_batch)))
            .service(resource("/reverse").route(web::post().to(r::earn_reverse)))
            .service(resource("/adjustments").route(web::post().to(r::adjustment)))
            .service(resource("/topup/quote").route(web::post().to(r::topup_quote)))
            .service(resource("/topup/commit").route(web::post().to(r::topup_commit))),
    )
    .service(
        scope("/v1/redemptions", &state)
            .service(resource("/quote").route(web::post().to(r::redemption_quote)))
            .service(resource("/commit").route(web::post().to(r::redemption_commit)))
            .service(resource("/reverse").route(web::post().to(r::redemption_reverse))),
    )
    .service(
        scope("/v1/awards", &state)
            .service(resource("/intents").route(web::post().to(r::award_intent)))
            .service(resource("/commit").route(web::post().to(r::award_commit)))
            .service(resource("/{id}/reverse").route(web::post().to(r::award_reverse))),
    )
    .service(
        scope("/v1/promotions", &state)
            .service(
                resource("")
                    .route(web::post().to(r::promotion_create))
                    .route(web::get().to(r::promotion_list)),
            )
            .service(
                resource("/{id}")
                    .route(web::get().to(r::promotion_get))
                    .route(web::patch().to(r::promotion_patch)),
            )
            .service(resource("/{id}/approve").route(web::post().to(r::promotion_approve)))
            .service(resource("/{id}/{action}").route(web::post().to(r::promotion_action))),
    )
    .service(
        scope("/v1/webhooks", &state)
            .service(
                resource("")
                    .route(web::post().to(r::webhook_create))
                    .route(web::get().to(r::webhook_list)),
            )
            .service(resource("/{id}").route(web::delete().to(r::webhook_delete))),
    )
    .service(
        scope("/v1/reports", &state)
            .service(resource("/liability").route(web::get().to(r::liability)))
            .service(resource("/segments").route(web::get().to(r::segments))),
    );
}
