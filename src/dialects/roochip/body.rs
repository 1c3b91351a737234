//! Request bodies and the `Idempotency-Key` header of Roochip POST routes.
//!
//! Bodies are read by the shared extractor ([`crate::http::JsonBody`]): a JSON object
//! parsed into `T` with every error naming the field (unknown fields refused), and the
//! raw bytes, which the idempotency fingerprint covers. [`words`] says a refusal the
//! Roochip way. Content-Type is not required: the body is JSON whatever the header
//! says.

use actix_web::HttpRequest;
use serde::de::DeserializeOwned;

use super::caller::Caller;
use super::error::RoochipError;
use crate::http::{parse_object, BodyError};
use crate::ledger::idempotency::{fingerprint, Idempotency, MAX_KEY_LEN};

/// A JSON object body parsed into `T`, with the bytes as received.
pub type Body<T> = crate::http::JsonBody<T>;

/// A body that may be empty; when present, a JSON object.
pub type OptionalBody<T> = crate::http::OptionalJsonBody<T>;

/// The optional header that makes a POST safe to retry.
pub const IDEMPOTENCY_HEADER: &str = "Idempotency-Key";

/// Longest accepted idempotency key, in bytes (Stripe's limit, field-notes §4).
pub const MAX_IDEMPOTENCY_KEY: usize = MAX_KEY_LEN;

/// A refused body in Roochip's words: 413 over the limit, else 400 naming the field
/// (`credits: invalid type: string "10", expected a JSON number`), or the body
/// (`body: must be a JSON object`, `body: not valid JSON: …`).
pub fn words(e: BodyError) -> RoochipError {
    let bad = RoochipError::BadRequest;
    match e {
        BodyError::TooLarge { limit } => {
            RoochipError::PayloadTooLarge(format!("body: larger than the limit of {limit} bytes"))
        }
        BodyError::Unreadable(m) => bad(format!("body: cannot be read: {m}")),
        BodyError::ContentType => bad("body: Content-Type must be application/json".into()),
        BodyError::Empty => bad("body: required: send a JSON object".into()),
        BodyError::NotJson { object: false, .. } => {
            bad("body: not valid JSON: send a JSON object such as {\"key\": \"value\"}".into())
        }
        BodyError::NotJson {
            message,
            object: true,
        } => bad(format!("body: not valid JSON: {message}")),
        BodyError::NotObject => bad("body: must be a JSON object".into()),
        BodyError::Field { field, message, .. } => bad(format!("{field}: {message}")),
        BodyError::Object { message, .. } | BodyError::UnknownField { message, .. } => {
            bad(format!("body: {message}"))
        }
        BodyError::Trailing(message) => {
            bad(format!("body: not valid JSON after the object: {message}"))
        }
    }
}

/// [`words`] as an actix error, for the route group's body settings.
pub fn body_error(e: BodyError) -> actix_web::Error {
    words(e).into()
}

/// Parses `raw` as a JSON object into `T`.
///
/// # Errors
/// 400 (or 413) in [`words`].
pub fn parse<T: DeserializeOwned>(raw: &[u8]) -> Result<T, RoochipError> {
    parse_object(raw).map_err(words)
}

/// The `Idempotency-Key` of `req`, if it carries one, in the core's form: scoped to
/// the caller's tenant and any route (a key is unique per tenant, whatever the
/// route), fingerprinted over the method, the path and the body bytes, kept for the
/// tenant's `idempotency_retention_days`.
///
/// # Errors
/// 400 for an empty key, one over [`MAX_IDEMPOTENCY_KEY`] bytes, or one that is not
/// visible ASCII.
pub fn idempotency(
    req: &HttpRequest,
    caller: &Caller,
    body: &[u8],
) -> Result<Option<Idempotency>, RoochipError> {
    let Some(value) = req.headers().get(IDEMPOTENCY_HEADER) else {
        return Ok(None);
    };
    let refused = || {
        RoochipError::BadRequest(format!(
            "Idempotency-Key: must be 1 to {MAX_IDEMPOTENCY_KEY} visible ASCII characters"
        ))
    };
    let key = value.to_str().map_err(|_| refused())?;
    let fingerprint = fingerprint(&[
        req.method().as_str().as_bytes(),
        req.uri().path().as_bytes(),
        body,
    ]);
    let retention = u64::from(caller.settings().idempotency_retention_days) * 24 * 3600;
    Idempotency::new(&caller.tenant, "*", "", key, fingerprint, retention)
        .map(Some)
        .map_err(|_| refused())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dialects::roochip::wire::CreditsRequest;

    fn message(raw: &str) -> String {
        match parse::<CreditsRequest>(raw.as_bytes()) {
            Err(e) => e.to_string(),
            Ok(v) => panic!("{raw:?} parsed: {v:?}"),
        }
    }

    #[test]
    fn errors_name_the_field_or_the_body() {
        assert!(message(r#"{"credits": 1e400, "reason": "x"}"#).starts_with("credits: "));
        assert!(message(r#"{"credits": "10", "reason": "x"}"#).starts_with("credits: invalid type"));
        assert!(message(r#"{"credits": null, "reason": "x"}"#).starts_with("credits: "));
        assert!(message(r#"{"credits": 1, "reason": 5}"#).starts_with("reason: "));
        assert!(message(r#"{"credits": 1, "reason": "x", "extra": 1}"#)
            .contains("unknown field `extra`"));
        assert!(message(r#"{"credits": 1}"#).contains("missing field `reason`"));
        assert_eq!(message("[1, \"x\"]"), "body: must be a JSON object");
        assert_eq!(message("  "), "body: required: send a JSON object");
        assert!(message("nope").starts_with("body: not valid JSON"));
        assert!(message("{").starts_with("body: not valid JSON"));
        assert!(message(r#"{"credits": 1,"#).starts_with("body: not valid JSON"));
        assert!(message(r#"{"credits": 1, "reason": "x"} {}"#)
            .starts_with("body: not valid JSON after"));
    }

    #[test]
    fn a_valid_body_parses_exactly() {
        let v: CreditsRequest =
            parse(br#"{"credits": 0.01, "reason": "like", "reference_id": null}"#).unwrap();
        assert_eq!(v.credits.to_string(), "0.01");
        assert_eq!(v.reference_id, None);
    }
}
