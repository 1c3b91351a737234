//! The Goop2 dialect: the rendezvous credit API of goop2-credit-system.md and the
//! routes real Goop2 peers call (field-notes §1), on the ledger core.

pub mod error;
pub mod limits;
pub mod ops;
pub mod presence;
pub mod repo;
pub mod routes;
pub mod wire;

use actix_web::web;

use crate::http::BodyErrors;

pub use error::Goop2Error;

fn bad_request(message: String) -> actix_web::Error {
    Goop2Error::BadRequest(message).into()
}

/// Mounts the Goop2 routes. JSON, query and path errors render as [`Goop2Error`].
pub fn config(cfg: &mut web::ServiceConfig, max_body_bytes: usize) {
    let json = || {
        web::JsonConfig::default()
            .limit(max_body_bytes)
            .error_handler(|err, _req| {
                crate::http::json_error(err, Goop2Error::BadRequest, Goop2Error::PayloadTooLarge)
            })
    };
    let query =
        web::QueryConfig::default().error_handler(|err, _req| bad_request(format!("query: {err}")));
    let path =
        web::PathConfig::default().error_handler(|err, _req| bad_request(format!("path: {err}")));
    cfg.service(
        web::scope("/api")
            .app_data(json())
            .app_data(BodyErrors(bad_request))
            .app_data(query)
            .app_data(path)
            .route("/credits/balance", web::get().to(routes::balance))
            .route("/credits/transactions", web::get().to(routes::transactions))
            .route("/credits/purchase", web::post().to(routes::purchase))
            .route("/credits/purchases", web::get().to(routes::purchases))
            .route("/credits/grant", web::post().to(routes::grant))
            .route("/credits/refund", web::post().to(routes::refund))
            .route("/credits/store-data", web::get().to(routes::store_data))
            .route("/credits/spend", web::post().to(routes::spend))
            .route("/templates", web::get().to(routes::manifests))
            .route("/templates/list", web::get().to(routes::list))
            .route("/templates/download", web::get().to(routes::download))
            .route("/templates/prices", web::get().to(routes::prices))
            .route(
                "/templates/{dir}/manifest.json",
                web::get().to(routes::manifest),
            )
            .route("/templates/{dir}/bundle", web::get().to(routes::bundle))
            .route("/node", web::get().to(routes::node)),
    )
    .service(
        web::resource("/publish")
            .app_data(json())
            .app_data(BodyErrors(bad_request))
            .route(web::post().to(routes::publish)),
    )
    .route("/events", web::get().to(routes::events))
    .route("/healthz", web::get().to(routes::healthz));
}
