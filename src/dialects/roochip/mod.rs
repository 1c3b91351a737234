//! The Roochip Lite dialect (roochip-lite-integration-guide.md).

use actix_web::web;
use utoipa::OpenApi;

/// The OpenAPI document of the Roochip routes.
#[derive(OpenApi)]
#[openapi()]
pub struct ApiDoc;

/// Mounts the Roochip routes.
pub fn config(_cfg: &mut web::ServiceConfig, _max_body_bytes: usize) {}
