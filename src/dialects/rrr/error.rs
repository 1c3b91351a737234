//! The canonical error of the RedRoomRewards routes (contract §4.5):
//! `{"error": {"code": "STRING_CODE", "message": "…", "details": {…}}}` with the
//! contract's codes, and the domain codes `INSUFFICIENT_POINTS`, `QUOTE_EXPIRED` and
//! `IDEMPOTENCY_KEY_REUSE_MISMATCH` (409). A 5xx is a bug (or a full disk).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use serde_json::{json, Map, Value};
use utoipa::ToSchema;

use crate::http::{BodyError, StorageFull};
use crate::ledger::LedgerError;

/// An RRR error.
#[derive(Debug, thiserror::Error)]
pub enum RrrError {
    /// 401 `UNAUTHENTICATED`: no bearer, or one this node did not issue or that expired.
    #[error("{0}")]
    Unauthenticated(String),
    /// 403 `UNAUTHORIZED`: a wrong `X-Client-Id`, a role the caller lacks, a failed
    /// link proof, an inactive tenant.
    #[error("{0}")]
    Unauthorized(String),
    /// 404 `NOT_FOUND` (also for what belongs to another client).
    #[error("{0}")]
    NotFound(String),
    /// 409 `CONFLICT`: the state forbids it (a link taken, a quote used, a business key
    /// repeated with another request, …).
    #[error("{0}")]
    Conflict(String),
    /// 409 `INSUFFICIENT_POINTS`: the member's available points (escrow excluded) do
    /// not cover it.
    #[error("the member has {available} available points; {required} are needed")]
    InsufficientPoints {
        /// Available points.
        available: i64,
        /// Points needed.
        required: i64,
    },
    /// 409 `QUOTE_EXPIRED`.
    #[error("{0}")]
    QuoteExpired(String),
    /// 409 `IDEMPOTENCY_KEY_REUSE_MISMATCH`: the key was used with another payload.
    #[error("Idempotency-Key was already used with a different payload on this endpoint; use a new key for a new request")]
    IdempotencyMismatch,
    /// 405 `METHOD_NOT_ALLOWED`.
    #[error("{0}")]
    MethodNotAllowed(String),
    /// 413 `PAYLOAD_TOO_LARGE`.
    #[error("the request body is larger than {0} bytes")]
    TooLarge(usize),
    /// 422 `VALIDATION_FAILED`, naming the field (`details.field`).
    #[error("{field}: {message}")]
    Validation {
        /// The field (a JSON path, a query parameter or a header name).
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// 429 `RATE_LIMITED`, with `Retry-After`.
    #[error("rate limit exceeded: retry in {retry_after_secs} s")]
    RateLimited {
        /// Seconds to wait.
        retry_after_secs: u64,
    },
    /// 503 `STORAGE_FULL`: nothing was written.
    #[error("{}", StorageFull::MESSAGE)]
    StorageFull(StorageFull),
    /// 500 `INTERNAL_ERROR` (logged, not shown).
    #[error("internal error")]
    Internal(String),
}

/// The error body.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorObject,
}

/// The error object (contract §4.5).
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorObject {
    /// `UNAUTHENTICATED`, `UNAUTHORIZED`, `NOT_FOUND`, `CONFLICT`, `VALIDATION_FAILED`,
    /// `RATE_LIMITED`, `INSUFFICIENT_POINTS`, `QUOTE_EXPIRED`,
    /// `IDEMPOTENCY_KEY_REUSE_MISMATCH`, `INTERNAL_ERROR`, …
    pub code: String,
    /// What went wrong, for people.
    pub message: String,
    /// Context: `field` for validation errors, balances for `INSUFFICIENT_POINTS`.
    #[schema(value_type = Object)]
    pub details: Value,
}

impl RrrError {
    /// A validation error of `field`.
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> RrrError {
        RrrError::Validation {
            field: field.into(),
            message: message.into(),
        }
    }

    /// The code.
    pub fn code(&self) -> &'static str {
        match self {
            RrrError::Unauthenticated(_) => "UNAUTHENTICATED",
            RrrError::Unauthorized(_) => "UNAUTHORIZED",
            RrrError::NotFound(_) => "NOT_FOUND",
            RrrError::Conflict(_) => "CONFLICT",
            RrrError::InsufficientPoints { .. } => "INSUFFICIENT_POINTS",
            RrrError::QuoteExpired(_) => "QUOTE_EXPIRED",
            RrrError::IdempotencyMismatch => "IDEMPOTENCY_KEY_REUSE_MISMATCH",
            RrrError::MethodNotAllowed(_) => "METHOD_NOT_ALLOWED",
            RrrError::TooLarge(_) => "PAYLOAD_TOO_LARGE",
            RrrError::Validation { .. } => "VALIDATION_FAILED",
            RrrError::RateLimited { .. } => "RATE_LIMITED",
            RrrError::StorageFull(_) => "STORAGE_FULL",
            RrrError::Internal(_) => "INTERNAL_ERROR",
        }
    }

    fn details(&self) -> Value {
        match self {
            RrrError::Validation { field, .. } => json!({ "field": field }),
            RrrError::InsufficientPoints {
                available,
                required,
            } => json!({ "available_points": available, "required_points": required }),
            RrrError::RateLimited { retry_after_secs } => {
                json!({ "retry_after_secs": retry_after_secs })
            }
            _ => Value::Object(Map::new()),
        }
    }

    /// The body as JSON text (stored with idempotency keys where an error is the
    /// answer to remember).
    pub fn body(&self) -> String {
        let message = match self {
            RrrError::Validation { message, .. } => message.clone(),
            other => other.to_string(),
        };
        serde_json::to_string(&ErrorBody {
            error: ErrorObject {
                code: self.code().into(),
                message,
                details: self.details(),
            },
        })
        .unwrap_or_default()
    }

    /// How a refused JSON body reads (the extractor's [`BodyError`]).
    pub fn from_body(e: BodyError) -> RrrError {
        match e {
            BodyError::TooLarge { limit } => RrrError::TooLarge(limit),
            BodyError::Unreadable(m) => RrrError::field("body", format!("cannot be read: {m}")),
            BodyError::ContentType => RrrError::field("Content-Type", "must be application/json"),
            BodyError::Empty => RrrError::field("body", "a JSON object is required"),
            BodyError::NotJson { message, .. } => {
                RrrError::field("body", format!("is not valid JSON: {message}"))
            }
            BodyError::NotObject => RrrError::field("body", "must be a JSON object"),
            BodyError::Field { field, bare, .. } => RrrError::field(field, bare),
            BodyError::UnknownField { field, .. } => {
                RrrError::field(field, "is not a field of this request")
            }
            BodyError::Object { bare, .. } => {
                let field = bare
                    .strip_prefix("missing field `")
                    .and_then(|r| r.split('`').next())
                    .unwrap_or("body")
                    .to_string();
                RrrError::field(field, bare)
            }
            BodyError::Trailing(m) => RrrError::field("body", m),
        }
    }
}

impl From<LedgerError> for RrrError {
    fn from(e: LedgerError) -> RrrError {
        match e {
            LedgerError::InsufficientFunds {
                available,
                required,
            } => RrrError::InsufficientPoints {
                available,
                required,
            },
            LedgerError::CeilingExceeded { ceiling, .. } => RrrError::field(
                "points",
                format!("the member's balance would exceed {ceiling} points"),
            ),
            LedgerError::IdempotencyMismatch { .. } => RrrError::IdempotencyMismatch,
            LedgerError::StorageFull(detail) => {
                RrrError::StorageFull(StorageFull::refused(&detail))
            }
            other => RrrError::Internal(other.to_string()),
        }
    }
}

impl ResponseError for RrrError {
    fn status_code(&self) -> StatusCode {
        match self {
            RrrError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            RrrError::Unauthorized(_) => StatusCode::FORBIDDEN,
            RrrError::NotFound(_) => StatusCode::NOT_FOUND,
            RrrError::Conflict(_)
            | RrrError::InsufficientPoints { .. }
            | RrrError::QuoteExpired(_)
            | RrrError::IdempotencyMismatch => StatusCode::CONFLICT,
            RrrError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            RrrError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            RrrError::Validation { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            RrrError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            RrrError::StorageFull(_) => StatusCode::SERVICE_UNAVAILABLE,
            RrrError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let RrrError::Internal(detail) = self {
            tracing::error!(%detail, "internal error on an rrr route");
        }
        let mut response = HttpResponse::build(self.status_code());
        match self {
            RrrError::StorageFull(full) => {
                response.insert_header(full.retry_after());
            }
            RrrError::RateLimited { retry_after_secs } => {
                response.insert_header(("Retry-After", retry_after_secs.to_string()));
            }
            RrrError::Unauthenticated(_) => {
                response.insert_header(("WWW-Authenticate", "Bearer"));
            }
            _ => {}
        }
        response.content_type("application/json").body(self.body())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_canonical() {
        let e = RrrError::field("points", "must be a positive integer");
        assert_eq!(e.status_code(), StatusCode::UNPROCESSABLE_ENTITY);
        let v: Value = serde_json::from_str(&e.body()).unwrap();
        assert_eq!(v["error"]["code"], "VALIDATION_FAILED");
        assert_eq!(v["error"]["details"]["field"], "points");
        assert_eq!(v["error"]["message"], "must be a positive integer");
        let e: RrrError = LedgerError::InsufficientFunds {
            available: 5,
            required: 9,
        }
        .into();
        assert_eq!(
            (e.status_code(), e.code()),
            (StatusCode::CONFLICT, "INSUFFICIENT_POINTS")
        );
        let e: RrrError = LedgerError::Closed.into();
        let v: Value = serde_json::from_str(&e.body()).unwrap();
        assert_eq!(
            v["error"]["message"], "internal error",
            "details are not shown"
        );
    }
}
