//! The operator's view of payments: `GET /admin/payments` (admin token) and the
//! listing behind `admin payments list`.

use actix_web::{http::header, web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};

use super::repo::{Payment, PaymentFilter, PaymentReads};
use super::Provider;
use crate::auth::{AdminAuth, AdminAuthError};
use crate::ledger::{Ledger, LedgerError, LedgerRead, TenantId};

/// Most rows one listing returns.
pub const MAX_LIMIT: u32 = 1000;

/// A payment as listed. Credits in the tenant's minor units, `amount` in the
/// currency's minor units.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct PaymentView {
    /// Row id (the `before` cursor of the next page).
    pub id: i64,
    /// `stripe`, `apple_iap` or `google_iap`.
    pub provider: String,
    /// Checkout Session id, Apple transaction id or Google purchase token.
    pub external_id: String,
    /// Ledger tenant.
    pub tenant: String,
    /// Peer id or external user id.
    pub account: String,
    /// Package or bundle id.
    pub package: String,
    /// Credits bought.
    pub credits: i64,
    /// Price paid, currency minor units.
    pub amount: i64,
    /// Lowercase ISO 4217.
    pub currency: String,
    /// `open`, `credited`, `refunded` or `disputed`.
    pub status: String,
    /// Stripe payment intent, Apple original transaction id or Google order id.
    pub order_ref: Option<String>,
    /// Credits refunds and disputes claimed back.
    pub clawed_back: i64,
    /// Of those, what could not be taken back.
    pub shortfall: i64,
    /// Stripe's receipt, where Stripe gives one.
    pub receipt_url: Option<String>,
    /// RFC 3339 UTC.
    pub created_at: String,
    /// RFC 3339 UTC.
    pub updated_at: String,
}

impl From<Payment> for PaymentView {
    fn from(p: Payment) -> PaymentView {
        PaymentView {
            id: p.id,
            provider: p.provider.to_string(),
            shortfall: p.shortfall(),
            clawed_back: p.refund_claimed + p.dispute_claimed,
            external_id: p.external_id,
            tenant: p.tenant.to_string(),
            account: p.account,
            package: p.package,
            credits: p.credits,
            amount: p.amount,
            currency: p.currency,
            status: p.status.as_str().to_string(),
            order_ref: p.order_ref,
            receipt_url: p.receipt_url,
            created_at: p.created_at,
            updated_at: p.updated_at,
        }
    }
}

/// Payments matching `filter`, newest first (at most [`MAX_LIMIT`]).
///
/// # Errors
/// Storage errors.
pub fn list(
    r: &mut LedgerRead<'_>,
    mut filter: PaymentFilter,
) -> Result<Vec<PaymentView>, LedgerError> {
    filter.limit = filter.limit.clamp(1, MAX_LIMIT);
    Ok(r.repo::<dyn PaymentReads>()?
        .list_payments(&filter)?
        .into_iter()
        .map(PaymentView::from)
        .collect())
}

/// The state of `GET /admin/payments`.
pub struct PaymentsAdmin {
    /// The ledger.
    pub ledger: Ledger,
    /// The operator's token.
    pub admin: AdminAuth,
}

/// Query of `GET /admin/payments`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Only this tenant's payments.
    pub tenant: Option<String>,
    /// Only this provider's: `stripe`, `apple_iap`, `google_iap`.
    pub provider: Option<String>,
    /// Only payments with a claw-back shortfall.
    #[serde(default)]
    pub unrecovered: bool,
    /// Rows with an id below this (the last id of the previous page).
    pub before: Option<i64>,
    /// At most this many (default 100, at most 1000).
    pub limit: Option<u32>,
}

/// `{"payments": [...]}`.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PaymentList {
    /// Newest first.
    pub payments: Vec<PaymentView>,
}

fn error(status: actix_web::http::StatusCode, message: impl std::fmt::Display) -> HttpResponse {
    HttpResponse::build(status).json(serde_json::json!({ "error": message.to_string() }))
}

/// The filter `q` asks for.
///
/// # Errors
/// A message naming the bad parameter.
pub fn filter(q: ListQuery) -> Result<PaymentFilter, String> {
    let tenant = q
        .tenant
        .map(TenantId::new)
        .transpose()
        .map_err(|e| format!("tenant: {e}"))?;
    let provider = q
        .provider
        .map(|p| Provider::parse(&p).ok_or(format!("provider: unknown provider {p:?}")))
        .transpose()?;
    Ok(PaymentFilter {
        tenant,
        provider,
        unrecovered: q.unrecovered,
        before: q.before,
        limit: q.limit.unwrap_or(100),
    })
}

/// Lists payments, newest first: provider, external id, account, credits, status,
/// claw-backs and shortfall. `?unrecovered=true` lists those with a shortfall.
#[utoipa::path(get, path = "/admin/payments", tag = "admin",
    params(ListQuery),
    security(("admin" = [])),
    responses((status = 200, body = PaymentList), (status = 400), (status = 401), (status = 403)))]
pub async fn payments(
    state: web::Data<PaymentsAdmin>,
    req: HttpRequest,
    query: web::Query<ListQuery>,
) -> HttpResponse {
    let authorization = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    match state.admin.check(authorization) {
        Ok(()) => {}
        Err(e @ AdminAuthError::Disabled) => {
            return error(actix_web::http::StatusCode::FORBIDDEN, e)
        }
        Err(e) => return error(actix_web::http::StatusCode::UNAUTHORIZED, e),
    }
    let filter = match filter(query.into_inner()) {
        Ok(f) => f,
        Err(message) => return error(actix_web::http::StatusCode::BAD_REQUEST, message),
    };
    match state.ledger.read(move |r| list(r, filter)).await {
        Ok(payments) => HttpResponse::Ok().json(PaymentList { payments }),
        Err(e) => error(actix_web::http::StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

/// Mounts `GET /admin/payments`.
pub fn mount(cfg: &mut web::ServiceConfig, state: web::Data<PaymentsAdmin>) {
    cfg.service(
        web::resource("/admin/payments")
            .app_data(state)
            .app_data(web::QueryConfig::default().error_handler(|err, _req| {
                actix_web::error::InternalError::from_response(
                    err.to_string(),
                    error(
                        actix_web::http::StatusCode::BAD_REQUEST,
                        format!("query: {err}"),
                    ),
                )
                .into()
            }))
            .route(web::get().to(payments)),
    );
}
