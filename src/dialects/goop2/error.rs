//! The Goop2 error boundary: every failure of a Goop2 route, rendered as
//! `{"error": "<code>", …}` with the right status.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};

use super::wire::ErrorBody;
use crate::auth::{AdminAuthError, PeerAuthFailure};
use crate::http::{BodyError, StorageFull};
use crate::ledger::LedgerError;

/// Failures of Goop2 routes.
#[derive(Debug, thiserror::Error)]
pub enum Goop2Error {
    /// 401: no or invalid peer credentials; carries a fresh `WWW-Authenticate`.
    #[error("{message}")]
    Unauthorized {
        /// What was wrong.
        message: String,
        /// The challenge to send, if any.
        www_authenticate: Option<String>,
    },
    /// 403: the admin API is closed.
    #[error("{0}")]
    Forbidden(String),
    /// 400: malformed input; the message names the field.
    #[error("{0}")]
    BadRequest(String),
    /// 404.
    #[error("{0}")]
    NotFound(String),
    /// 402 on purchase and spend (goop2-credit-system.md, "POST /api/credits/purchase").
    #[error("insufficient credits: balance {balance}, price {price}")]
    InsufficientCredits {
        /// Spendable credits.
        balance: i64,
        /// The template's price.
        price: i64,
        /// `price - balance`.
        shortfall: i64,
    },
    /// 402 on a download of a paid template the caller does not own.
    #[error("template {template} costs {price} credits: buy it first")]
    PaymentRequired {
        /// Template name.
        template: String,
        /// Its price.
        price: i64,
    },
    /// 409: a campaign or invite code that cannot be redeemed now; `code` says why
    /// (`campaign_not_open`, `campaign_exhausted`, `already_redeemed`, `own_code`,
    /// `referral_window_closed`, `already_referred`, `code_taken`).
    #[error("{message}")]
    Refused {
        /// The error code of the body.
        code: &'static str,
        /// The sentence for the peer.
        message: String,
    },
    /// 413.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// 429 with `Retry-After`.
    #[error("rate limit exceeded: retry in {retry_after_secs} s")]
    RateLimited {
        /// Seconds until a request is allowed again.
        retry_after_secs: u64,
    },
    /// 503: a bounded resource is full.
    #[error("{0}")]
    Unavailable(String),
    /// 502: the payment provider refused or could not be reached; nothing was taken.
    #[error("{0}")]
    BadGateway(String),
    /// 503 with `Retry-After`: the node's storage is full; nothing was written.
    #[error("{}", StorageFull::MESSAGE)]
    StorageFull(StorageFull),
    /// 500: a bug or a storage failure; details are logged, not sent.
    #[error("internal error")]
    Internal(String),
}

impl From<LedgerError> for Goop2Error {
    fn from(e: LedgerError) -> Self {
        match e {
            LedgerError::InsufficientFunds {
                available,
                required,
            } => Goop2Error::InsufficientCredits {
                balance: available,
                price: required,
                shortfall: required - available,
            },
            LedgerError::CeilingExceeded { .. } => Goop2Error::BadRequest(
                "amount: the balance would exceed the largest allowed balance".into(),
            ),
            LedgerError::Invalid(msg) => Goop2Error::BadRequest(msg),
            LedgerError::StorageFull(detail) => {
                Goop2Error::StorageFull(StorageFull::refused(&detail))
            }
            other => Goop2Error::Internal(other.to_string()),
        }
    }
}

impl From<PeerAuthFailure> for Goop2Error {
    fn from(f: PeerAuthFailure) -> Self {
        match f {
            PeerAuthFailure::Missing { www_authenticate } => Goop2Error::Unauthorized {
                message: "authenticate with the libp2p-PeerID scheme (see WWW-Authenticate)".into(),
                www_authenticate: Some(www_authenticate),
            },
            PeerAuthFailure::Challenge { www_authenticate } => Goop2Error::Unauthorized {
                message: "libp2p-PeerID: answer the challenge".into(),
                www_authenticate: Some(www_authenticate),
            },
            PeerAuthFailure::Rejected {
                reason,
                www_authenticate,
            } => Goop2Error::Unauthorized {
                message: format!("libp2p-PeerID authentication failed: {reason}"),
                www_authenticate: Some(www_authenticate),
            },
            PeerAuthFailure::BadClaim(msg) => Goop2Error::BadRequest(msg),
        }
    }
}

impl From<AdminAuthError> for Goop2Error {
    fn from(e: AdminAuthError) -> Self {
        match e {
            AdminAuthError::Disabled => Goop2Error::Forbidden(e.to_string()),
            AdminAuthError::Missing | AdminAuthError::Invalid => Goop2Error::Unauthorized {
                message: e.to_string(),
                www_authenticate: None,
            },
        }
    }
}

impl Goop2Error {
    fn code(&self) -> &'static str {
        match self {
            Goop2Error::Unauthorized { .. } => "unauthorized",
            Goop2Error::Forbidden(_) => "forbidden",
            Goop2Error::BadRequest(_) => "bad_request",
            Goop2Error::NotFound(_) => "not_found",
            Goop2Error::InsufficientCredits { .. } => "insufficient_credits",
            Goop2Error::PaymentRequired { .. } => "payment_required",
            Goop2Error::Refused { code, .. } => code,
            Goop2Error::PayloadTooLarge(_) => "payload_too_large",
            Goop2Error::RateLimited { .. } => "rate_limited",
            Goop2Error::Unavailable(_) => "unavailable",
            Goop2Error::StorageFull(_) => "storage_full",
            Goop2Error::BadGateway(_) => "payment_provider_unavailable",
            Goop2Error::Internal(_) => "internal_error",
        }
    }
}

impl ResponseError for Goop2Error {
    fn status_code(&self) -> StatusCode {
        match self {
            Goop2Error::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            Goop2Error::Forbidden(_) => StatusCode::FORBIDDEN,
            Goop2Error::BadRequest(_) => StatusCode::BAD_REQUEST,
            Goop2Error::NotFound(_) => StatusCode::NOT_FOUND,
            Goop2Error::InsufficientCredits { .. } | Goop2Error::PaymentRequired { .. } => {
                StatusCode::PAYMENT_REQUIRED
            }
            Goop2Error::Refused { .. } => StatusCode::CONFLICT,
            Goop2Error::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Goop2Error::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Goop2Error::Unavailable(_) | Goop2Error::StorageFull(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Goop2Error::BadGateway(_) => StatusCode::BAD_GATEWAY,
            Goop2Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut body = ErrorBody {
            error: self.code().to_string(),
            message: Some(self.to_string()),
            balance: None,
            price: None,
            shortfall: None,
            template: None,
        };
        match self {
            Goop2Error::InsufficientCredits {
                balance,
                price,
                shortfall,
            } => {
                body.message = None;
                body.balance = Some(*balance);
                body.price = Some(*price);
                body.shortfall = Some(*shortfall);
            }
            Goop2Error::PaymentRequired { template, price } => {
                body.template = Some(template.clone());
                body.price = Some(*price);
            }
            Goop2Error::Internal(detail) => {
                tracing::error!(%detail, "internal error on a goop2 route");
            }
            _ => {}
        }
        let mut response = HttpResponse::build(self.status_code());
        match self {
            Goop2Error::Unauthorized {
                www_authenticate: Some(challenge),
                ..
            } => {
                response.insert_header((header::WWW_AUTHENTICATE, challenge.as_str()));
            }
            Goop2Error::RateLimited { retry_after_secs } => {
                response.insert_header((header::RETRY_AFTER, retry_after_secs.to_string()));
            }
            Goop2Error::StorageFull(full) => {
                response.insert_header(full.retry_after());
            }
            _ => {}
        }
        response.json(body)
    }
}

/// Words a refused JSON body the way Goop2 routes always have (`body: …`): syntax
/// errors with the parser's position, a field's wrong value by its path and without
/// a position.
pub fn body_error(e: BodyError) -> actix_web::Error {
    match e {
        BodyError::TooLarge { limit } => {
            Goop2Error::PayloadTooLarge(format!("body: larger than the limit of {limit} bytes"))
        }
        BodyError::Unreadable(m) => Goop2Error::BadRequest(format!(
            "body: Error that occur during reading payload: {m}"
        )),
        BodyError::ContentType => {
            Goop2Error::BadRequest("body: Content-Type must be application/json".into())
        }
        BodyError::Empty => {
            Goop2Error::BadRequest("body: EOF while parsing a value at line 1 column 0".into())
        }
        BodyError::NotJson { message, .. }
        | BodyError::Trailing(message)
        | BodyError::Field {
            message,
            syntax: true,
            ..
        } => Goop2Error::BadRequest(format!("body: {message}")),
        BodyError::NotObject => Goop2Error::BadRequest("body: must be a JSON object".into()),
        BodyError::Field { field, bare, .. } | BodyError::UnknownField { field, bare, .. } => {
            Goop2Error::BadRequest(format!("body: {field}: {bare}"))
        }
        BodyError::Object { bare, .. } => Goop2Error::BadRequest(format!("body: {bare}")),
    }
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dialects::goop2::wire::TemplateRequest;
    use crate::http::parse_object;

    fn message(raw: &str) -> String {
        let e = parse_object::<TemplateRequest>(raw.as_bytes()).expect_err(raw);
        body_error(e).to_string()
    }

    #[test]
    fn body_errors_read_as_they_always_have() {
        assert_eq!(
            message(""),
            "body: EOF while parsing a value at line 1 column 0"
        );
        assert_eq!(
            message("not json"),
            "body: expected ident at line 1 column 2"
        );
        assert_eq!(message("[]"), "body: must be a JSON object");
        assert_eq!(
            message(r#"{"template":5}"#),
            "body: template: invalid type: integer `5`, expected a string"
        );
        assert_eq!(message("{}"), "body: missing field `template`");
        assert_eq!(
            message(r#"{"template":"poker","extra":1}"#),
            "body: extra: unknown field `extra`, expected `template`"
        );
        assert_eq!(
            message(r#"{"template": "#),
            "body: EOF while parsing a value at line 1 column 13"
        );
        assert_eq!(
            message(r#"{"template":"poker"} x"#),
            "body: trailing characters at line 1 column 22"
        );
    }
}
