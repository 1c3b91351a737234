//! Admin routes of a Roochip tenant's webhook deliveries, for its admin API key:
//!
//! - `GET /v1/admin/webhooks/deliveries?status=pending|delivered|dead&limit&offset`:
//!   the tenant's deliveries, newest event first;
//! - `POST /v1/admin/webhooks/deliveries/{id}/replay`: a dead or delivered delivery
//!   goes back to pending, attempts 0, due now (a pending one: 409).
//!
//! Authentication: `X-API-Key` with a key of `admin_api_keys` (missing or unknown key
//! → 401, a server key → 403, an inactive tenant → 403; a key of a tenant of another
//! mode is unknown here → 401). Everything is scoped to the key's tenant: another
//! tenant's delivery id is 404. Another method is 405. Errors
//! are Roochip style, `{"error": "message"}`.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};

use super::{RoochipState, RoochipTenant};
use crate::auth::api_key::ApiKeyRefusal;
use crate::auth::{ApiKeys, KeyRole};
use crate::http::StorageFull;
use crate::ledger::{LedgerError, TenantId};
use crate::webhooks::deliveries::{self, DeliveryView, ReplayError, Status};

/// Default page size of the list.
pub const DEFAULT_LIMIT: u32 = 50;

/// Largest page size of the list.
pub const MAX_LIMIT: u32 = 500;

/// The OpenAPI document of the webhook admin routes.
#[derive(OpenApi)]
#[openapi(
    paths(list, replay),
    components(schemas(DeliveriesResponse, DeliveryView, Status, ErrorBody)),
    tags((name = "webhooks", description = "Webhook deliveries of a tenant (admin API key)"))
)]
pub struct ApiDoc;

/// Mounts the webhook admin routes with `state`. The paths are exact resources (no
/// `/v1` scope), so that they do not shadow another dialect's `/v1` routes.
pub fn mount(cfg: &mut web::ServiceConfig, state: &web::Data<RoochipState>) {
    let query = || {
        web::QueryConfig::default()
            .error_handler(|err, _req| AdminError::BadRequest(format!("query: {err}")).into())
    };
    let path = || {
        web::PathConfig::default()
            .error_handler(|err, _req| AdminError::BadRequest(format!("path: {err}")).into())
    };
    cfg.service(
        web::resource("/v1/admin/webhooks/deliveries")
            .app_data(state.clone())
            .app_data(query())
            .route(web::get().to(list))
            .default_service(web::to(wrong_method)),
    )
    .service(
        web::resource("/v1/admin/webhooks/deliveries/{id}/replay")
            .app_data(state.clone())
            .app_data(path())
            .route(web::post().to(replay))
            .default_service(web::to(wrong_method)),
    );
}

/// `{"error": "message"}`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: String,
}

/// Failures of the webhook admin routes.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// 401: no or unknown `X-API-Key`.
    #[error("{0}")]
    Unauthorized(String),
    /// 403: not an admin key, or the tenant is inactive.
    #[error("{0}")]
    Forbidden(String),
    /// 400: a bad query or path value; the message names it.
    #[error("{0}")]
    BadRequest(String),
    /// 404: no such delivery in the key's tenant.
    #[error("{0}")]
    NotFound(String),
    /// 409: the delivery is already pending.
    #[error("{0}")]
    Conflict(String),
    /// 405: another method than the route's.
    #[error("{0}")]
    MethodNotAllowed(String),
    /// 503 with `Retry-After`: the node's storage is full; nothing was written.
    #[error("{}", StorageFull::MESSAGE)]
    StorageFull(StorageFull),
    /// 500: logged, not sent.
    #[error("internal error")]
    Internal(String),
}

impl From<LedgerError> for AdminError {
    fn from(e: LedgerError) -> Self {
        match e {
            LedgerError::StorageFull(detail) => {
                AdminError::StorageFull(StorageFull::refused(&detail))
            }
            other => AdminError::Internal(other.to_string()),
        }
    }
}

impl From<ReplayError> for AdminError {
    fn from(e: ReplayError) -> Self {
        match e {
            ReplayError::NotFound(_) => AdminError::NotFound(e.to_string()),
            ReplayError::AlreadyPending(_) => AdminError::Conflict(e.to_string()),
            ReplayError::Ledger(e) => e.into(),
        }
    }
}

impl ResponseError for AdminError {
    fn status_code(&self) -> StatusCode {
        match self {
            AdminError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            AdminError::Forbidden(_) => StatusCode::FORBIDDEN,
            AdminError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AdminError::NotFound(_) => StatusCode::NOT_FOUND,
            AdminError::Conflict(_) => StatusCode::CONFLICT,
            AdminError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            AdminError::StorageFull(_) => StatusCode::SERVICE_UNAVAILABLE,
            AdminError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let AdminError::Internal(detail) = self {
            tracing::error!(error = %detail, "webhook admin route failed");
        }
        let mut response = HttpResponse::build(self.status_code());
        if let AdminError::StorageFull(full) = self {
            response.insert_header(full.retry_after());
        }
        response.json(ErrorBody {
            error: self.to_string(),
        })
    }
}

/// The Roochip tenant of an admin API key in `X-API-Key`.
fn admin_tenant(state: &RoochipState, req: &HttpRequest) -> Result<TenantId, AdminError> {
    roochip_admin(&state.api_keys, &state.tenants, req)
}

/// The tenant of `req`'s admin key among the Roochip `tenants`: a key of a tenant of
/// another mode is unknown here (401), a server key 403, an inactive tenant 403.
fn roochip_admin(
    keys: &ApiKeys,
    tenants: &[RoochipTenant],
    req: &HttpRequest,
) -> Result<TenantId, AdminError> {
    let grant = keys
        .from_request(req)
        .map_err(|refusal| AdminError::Unauthorized(refusal.to_string()))?;
    let Some(tenant) = tenants.iter().find(|t| t.id == grant.tenant.as_str()) else {
        return Err(AdminError::Unauthorized(ApiKeyRefusal::Invalid.to_string()));
    };
    if grant.role != KeyRole::Admin {
        return Err(AdminError::Forbidden(
            "This route needs an admin API key.".into(),
        ));
    }
    if !tenant.active {
        return Err(AdminError::Forbidden("This tenant is inactive.".into()));
    }
    Ok(grant.tenant.clone())
}

/// 405 for a webhook admin route called with another method.
async fn wrong_method(req: HttpRequest) -> Result<HttpResponse, AdminError> {
    Err(AdminError::MethodNotAllowed(format!(
        "Method {} is not allowed on {}.",
        req.method(),
        req.path()
    )))
}

/// Query of the list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DeliveriesQuery {
    /// `pending`, `delivered` or `dead`; all when absent.
    pub status: Option<String>,
    /// Page size, 1 to 500 (default 50).
    pub limit: Option<u32>,
    /// Deliveries to skip (default 0).
    pub offset: Option<u64>,
}

/// A page of deliveries.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveriesResponse {
    /// Newest event first.
    pub deliveries: Vec<DeliveryView>,
    /// Deliveries in this page.
    pub count: usize,
    /// Deliveries matching the filter, all pages.
    pub total: u64,
    /// The page size used.
    pub limit: u32,
    /// The offset used.
    pub offset: u64,
}

/// The tenant's webhook deliveries, newest first, filtered by status.
#[utoipa::path(get, path = "/v1/admin/webhooks/deliveries", tag = "webhooks",
    params(DeliveriesQuery, ("X-API-Key" = String, Header, description = "A tenant admin API key")),
    responses(
        (status = 200, body = DeliveriesResponse),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list(
    state: web::Data<RoochipState>,
    req: HttpRequest,
    q: web::Query<DeliveriesQuery>,
) -> Result<HttpResponse, AdminError> {
    let tenant = admin_tenant(&state, &req)?;
    let q = q.into_inner();
    let status = match q.status.as_deref() {
        None => None,
        Some(s) => Some(Status::parse(s).ok_or_else(|| {
            AdminError::BadRequest(format!(
                "status: must be pending, delivered or dead, not {s:?}"
            ))
        })?),
    };
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(AdminError::BadRequest(format!(
            "limit: must be 1 to {MAX_LIMIT}"
        )));
    }
    let offset = q.offset.unwrap_or(0);
    if i64::try_from(offset).is_err() {
        return Err(AdminError::BadRequest("offset: too large".into()));
    }
    let (page, total) = state
        .ledger
        .read(move |r| {
            // The page and its total agree.
            r.in_snapshot(|r| {
                Ok::<_, LedgerError>((
                    deliveries::list_deliveries(r, Some(&tenant), status, limit, offset)?,
                    deliveries::count_deliveries(r, Some(&tenant), status)?,
                ))
            })
        })
        .await?;
    Ok(HttpResponse::Ok().json(DeliveriesResponse {
        count: page.len(),
        deliveries: page,
        total,
        limit,
        offset,
    }))
}

/// Puts a dead or delivered delivery of the tenant back to pending (attempts 0, due
/// now) and wakes the dispatcher. Answers the delivery as it now is.
#[utoipa::path(post, path = "/v1/admin/webhooks/deliveries/{id}/replay", tag = "webhooks",
    params(("id" = i64, Path, description = "Outbox id of the delivery"),
           ("X-API-Key" = String, Header, description = "A tenant admin API key")),
    responses(
        (status = 200, body = DeliveryView),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "Already pending")))]
pub async fn replay(
    state: web::Data<RoochipState>,
    req: HttpRequest,
    id: web::Path<i64>,
) -> Result<HttpResponse, AdminError> {
    let tenant = admin_tenant(&state, &req)?;
    let id = id.into_inner();
    let view = deliveries::replay_now(&state.ledger, id, Some(tenant)).await?;
    Ok(HttpResponse::Ok().json(view))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::sha256_hex;

    fn roochip(id: &str, active: bool) -> RoochipTenant {
        let mut t: RoochipTenant = serde_json::from_value(serde_json::json!({"id": id})).unwrap();
        t.active = active;
        t
    }

    fn request(key: &str) -> HttpRequest {
        actix_web::test::TestRequest::default()
            .insert_header(("X-API-Key", key))
            .to_http_request()
    }

    #[test]
    fn only_admin_keys_of_active_roochip_tenants_open_the_routes() {
        let id = |t: &str| TenantId::new(t).unwrap();
        let keys = ApiKeys::new([
            (
                id("rooverse"),
                KeyRole::Admin,
                sha256_hex("rooverse-admin").as_str(),
            ),
            (
                id("rooverse"),
                KeyRole::Server,
                sha256_hex("rooverse-server").as_str(),
            ),
            (
                id("asleep"),
                KeyRole::Admin,
                sha256_hex("asleep-admin").as_str(),
            ),
            // An admin key of a tenant served by another dialect.
            (id("xcn"), KeyRole::Admin, sha256_hex("xcn-admin").as_str()),
        ]);
        let tenants = [roochip("rooverse", true), roochip("asleep", false)];
        let check = |key: &str| roochip_admin(&keys, &tenants, &request(key));
        assert_eq!(check("rooverse-admin").unwrap(), id("rooverse"));
        assert!(matches!(
            check("xcn-admin"),
            Err(AdminError::Unauthorized(_))
        ));
        assert!(matches!(
            check("rooverse-server"),
            Err(AdminError::Forbidden(_))
        ));
        assert!(
            matches!(check("asleep-admin"), Err(AdminError::Forbidden(m)) if m.contains("inactive"))
        );
        assert!(matches!(check("nobody"), Err(AdminError::Unauthorized(_))));
    }
}
