//! Admin routes of webhook deliveries.

use actix_web::web;
use utoipa::OpenApi;

/// The OpenAPI document of the webhook admin routes.
#[derive(OpenApi)]
#[openapi()]
pub struct ApiDoc;

/// Mounts the webhook admin routes.
pub fn config(_cfg: &mut web::ServiceConfig, _max_body_bytes: usize) {}
