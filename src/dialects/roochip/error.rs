//! The Roochip error boundary: every failure of a Roochip route, rendered as
//! `{"error": "<message>"}` with the status of roochip-lite-integration-guide.md
//! ("Error Codes").

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};

use super::wire::ErrorBody;
use crate::http::StorageFull;
use crate::ledger::LedgerError;

/// The message of a 402 (the spec's exact text).
pub const INSUFFICIENT_CREDITS: &str = "Insufficient credits";

/// Failures of Roochip routes. The `String` of each variant is the sentence sent as
/// `error`; a 400 names the field at fault (`credits: must be greater than zero`).
#[derive(Debug, thiserror::Error)]
pub enum RoochipError {
    /// 400: missing or invalid fields.
    #[error("{0}")]
    BadRequest(String),
    /// 401: no `X-API-Key`, or a key no tenant has.
    #[error("{0}")]
    Unauthorized(String),
    /// 402: a deduct larger than the balance. Rendered as
    /// `{"error": "Insufficient credits"}`.
    #[error("Insufficient credits")]
    InsufficientCredits,
    /// 403: the tenant is inactive, the code was issued to another user, or a server
    /// key was sent to an admin route.
    #[error("{0}")]
    Forbidden(String),
    /// 404: unknown code, code request, package or route.
    #[error("{0}")]
    NotFound(String),
    /// 405: the route exists with another method.
    #[error("{0}")]
    MethodNotAllowed(String),
    /// 409: a duplicate request, a code already used, an idempotency key reused with
    /// another request.
    #[error("{0}")]
    Conflict(String),
    /// 413: a body over `server.max_body_bytes`.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// 502: the payment provider refused or could not be reached; nothing was taken
    /// or recorded.
    #[error("{0}")]
    BadGateway(String),
    /// 503: a payment method that is not live on this node.
    #[error("{0}")]
    Unavailable(String),
    /// 503 with `Retry-After`: the node's storage is full; nothing was written.
    #[error("{}", StorageFull::MESSAGE)]
    StorageFull(StorageFull),
    /// 500: a bug or a storage failure; the detail is logged, not sent.
    #[error("Internal server error")]
    Internal(String),
}

impl From<LedgerError> for RoochipError {
    fn from(e: LedgerError) -> Self {
        match e {
            LedgerError::InsufficientFunds { .. } => RoochipError::InsufficientCredits,
            LedgerError::CeilingExceeded { ceiling, .. } => RoochipError::BadRequest(format!(
                "credits: the wallet balance would exceed the maximum of {} ROO",
                crate::ledger::format_minor(ceiling, 2)
            )),
            LedgerError::IdempotencyMismatch { .. } => RoochipError::Conflict(
                "Idempotency-Key: this key was already used with a different request; \
                 use a new key for a new request"
                    .into(),
            ),
            LedgerError::Invalid(message) => RoochipError::BadRequest(message),
            LedgerError::StorageFull(detail) => {
                RoochipError::StorageFull(StorageFull::refused(&detail))
            }
            other => RoochipError::Internal(other.to_string()),
        }
    }
}

impl ResponseError for RoochipError {
    fn status_code(&self) -> StatusCode {
        match self {
            RoochipError::BadRequest(_) => StatusCode::BAD_REQUEST,
            RoochipError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            RoochipError::InsufficientCredits => StatusCode::PAYMENT_REQUIRED,
            RoochipError::Forbidden(_) => StatusCode::FORBIDDEN,
            RoochipError::NotFound(_) => StatusCode::NOT_FOUND,
            RoochipError::BadGateway(_) => StatusCode::BAD_GATEWAY,
            RoochipError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            RoochipError::Conflict(_) => StatusCode::CONFLICT,
            RoochipError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            RoochipError::Unavailable(_) | RoochipError::StorageFull(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            RoochipError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let RoochipError::Internal(detail) = self {
            tracing::error!(%detail, "internal error on a roochip route");
        }
        let mut response = HttpResponse::build(self.status_code());
        if let RoochipError::StorageFull(full) = self {
            response.insert_header(full.retry_after());
        }
        response.json(ErrorBody {
            error: self.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ledger_refusals_map_to_the_spec_statuses() {
        let e: RoochipError = LedgerError::InsufficientFunds {
            available: 1,
            required: 2,
        }
        .into();
        assert_eq!(e.status_code(), StatusCode::PAYMENT_REQUIRED);
        assert_eq!(e.to_string(), INSUFFICIENT_CREDITS);
        let e: RoochipError = LedgerError::CeilingExceeded {
            balance: 999_999_999_999,
            amount: 1,
            ceiling: 999_999_999_999,
        }
        .into();
        assert_eq!(e.status_code(), StatusCode::BAD_REQUEST);
        assert!(e.to_string().starts_with("credits: "), "{e}");
        assert!(e.to_string().contains("9999999999.99"), "{e}");
        let e: RoochipError = LedgerError::IdempotencyMismatch { key: "k".into() }.into();
        assert_eq!(e.status_code(), StatusCode::CONFLICT);
        let e: RoochipError = LedgerError::Closed.into();
        assert_eq!(e.status_code(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(e.to_string(), "Internal server error");
    }
}
