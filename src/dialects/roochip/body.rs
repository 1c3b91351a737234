//! Request bodies and the `Idempotency-Key` header of Roochip POST routes.
//!
//! [`Body`] is the Roochip form of [`crate::http::JsonBody`]: a JSON object parsed
//! into `T` with every error naming the field (unknown fields refused), and in
//! addition the raw bytes, which the idempotency fingerprint covers. It parses the
//! bytes itself so that a number JSON cannot hold (`1e400`) is reported against its
//! field (`credits: number out of range …`) like any other bad value. Content-Type is
//! not required: the body is JSON whatever the header says.

use actix_web::error::PayloadError;
use actix_web::{web, FromRequest, HttpRequest};
use futures::future::LocalBoxFuture;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use super::caller::Caller;
use super::error::RoochipError;
use crate::http::AppState;

/// The optional header that makes a POST safe to retry.
pub const IDEMPOTENCY_HEADER: &str = "Idempotency-Key";

/// Longest accepted idempotency key, in bytes (Stripe's limit, field-notes §4).
pub const MAX_IDEMPOTENCY_KEY: usize = 255;

/// A JSON object body parsed into `T`, with the bytes as received.
pub struct Body<T> {
    /// The parsed body.
    pub value: T,
    /// The body as received.
    pub raw: web::Bytes,
}

impl<T: DeserializeOwned + 'static> FromRequest for Body<T> {
    type Error = RoochipError;
    type Future = LocalBoxFuture<'static, Result<Self, RoochipError>>;

    fn from_request(req: &HttpRequest, payload: &mut actix_web::dev::Payload) -> Self::Future {
        let raw = read(req, payload);
        Box::pin(async move {
            let raw = raw.await?;
            let value = parse(&raw)?;
            Ok(Body { value, raw })
        })
    }
}

/// A body that may be empty (or only whitespace); when present, a JSON object parsed
/// into `T` as [`Body`] does.
pub struct OptionalBody<T> {
    /// The parsed body, if one was sent.
    pub value: Option<T>,
    /// The body as received.
    pub raw: web::Bytes,
}

impl<T: DeserializeOwned + 'static> FromRequest for OptionalBody<T> {
    type Error = RoochipError;
    type Future = LocalBoxFuture<'static, Result<Self, RoochipError>>;

    fn from_request(req: &HttpRequest, payload: &mut actix_web::dev::Payload) -> Self::Future {
        let raw = read(req, payload);
        Box::pin(async move {
            let raw = raw.await?;
            let value = if raw.iter().all(u8::is_ascii_whitespace) {
                None
            } else {
                Some(parse(&raw)?)
            };
            Ok(OptionalBody { value, raw })
        })
    }
}

/// Reads the whole body, up to `server.max_body_bytes`.
fn read(
    req: &HttpRequest,
    payload: &mut actix_web::dev::Payload,
) -> LocalBoxFuture<'static, Result<web::Bytes, RoochipError>> {
    let bytes = web::Bytes::from_request(req, payload);
    let limit = req
        .app_data::<web::Data<AppState>>()
        .map(|s| s.config.server.max_body_bytes);
    Box::pin(async move { bytes.await.map_err(|e| payload_error(e, limit)) })
}

/// Renders a failure to read the body: 413 over the limit, else 400.
fn payload_error(err: actix_web::Error, limit: Option<usize>) -> RoochipError {
    match err.as_error::<PayloadError>() {
        Some(PayloadError::Overflow) => RoochipError::PayloadTooLarge(match limit {
            Some(limit) => format!("body: larger than the limit of {limit} bytes"),
            None => "body: larger than the limit of this server".into(),
        }),
        _ => RoochipError::BadRequest(format!("body: cannot be read: {err}")),
    }
}

/// Parses `raw` as a JSON object into `T`.
///
/// # Errors
/// 400 naming the field (`credits: invalid type: string "10", expected a JSON
/// number`), or the body (`body: must be a JSON object`, `body: not valid JSON: …`).
pub fn parse<T: DeserializeOwned>(raw: &[u8]) -> Result<T, RoochipError> {
    let bad = RoochipError::BadRequest;
    match raw.iter().find(|b| !b.is_ascii_whitespace()) {
        None => return Err(bad("body: required: send a JSON object".into())),
        Some(b'{') => {}
        Some(_) if serde_json::from_slice::<serde_json::Value>(raw).is_err() => {
            return Err(bad(
                "body: not valid JSON: send a JSON object such as {\"key\": \"value\"}".into(),
            ))
        }
        Some(_) => return Err(bad("body: must be a JSON object".into())),
    }
    let mut de = serde_json::Deserializer::from_slice(raw);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let syntax = !inner.is_data();
        // "." is the object itself, "?" a key not read yet; an unknown field's path is
        // the field itself, which its message already names.
        let unknown = inner.to_string().starts_with("unknown field");
        let field = Some(path.as_str()).filter(|p| *p != "." && !p.contains('?') && !unknown);
        match (field, syntax) {
            (Some(field), _) => bad(format!("{field}: {inner}")),
            (None, true) => bad(format!("body: not valid JSON: {inner}")),
            (None, false) => bad(format!("body: {inner}")),
        }
    })?;
    de.end()
        .map_err(|e| bad(format!("body: not valid JSON after the object: {e}")))?;
    Ok(value)
}

/// An `Idempotency-Key` with the request it came with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Idempotency {
    /// `roochip:<tenant>`: a key is unique per tenant, whatever the route.
    pub scope: String,
    /// The key as sent.
    pub key: String,
    /// Lowercase hex SHA-256 of the method, the path and the body bytes.
    pub fingerprint: String,
}

impl Idempotency {
    /// The idempotency key of `req`, if it carries one.
    ///
    /// # Errors
    /// 400 for an empty key, one over [`MAX_IDEMPOTENCY_KEY`] bytes, or one that is not
    /// visible ASCII.
    pub fn of(
        req: &HttpRequest,
        caller: &Caller,
        body: &[u8],
    ) -> Result<Option<Idempotency>, RoochipError> {
        let Some(value) = req.headers().get(IDEMPOTENCY_HEADER) else {
            return Ok(None);
        };
        let key = value.to_str().map(str::trim).unwrap_or_default();
        let visible = key.bytes().all(|b| b.is_ascii_graphic() || b == b' ');
        if key.is_empty() || key.len() > MAX_IDEMPOTENCY_KEY || !visible {
            return Err(RoochipError::BadRequest(format!(
                "Idempotency-Key: must be 1 to {MAX_IDEMPOTENCY_KEY} visible ASCII characters"
            )));
        }
        Ok(Some(Idempotency {
            scope: format!("roochip:{}", caller.tenant),
            key: key.to_string(),
            fingerprint: fingerprint(req.method().as_str(), req.uri().path(), body),
        }))
    }
}

/// Lowercase hex SHA-256 of `method`, `path` and `body`, separated so that no two
/// requests share the input.
pub fn fingerprint(method: &str, path: &str, body: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(method.as_bytes());
    h.update(b"\n");
    h.update(path.as_bytes());
    h.update(b"\n");
    h.update(body);
    hex::encode(h.finalize())
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

    #[test]
    fn fingerprints_cover_method_path_and_body() {
        let a = fingerprint("POST", "/v1/users/u/deduct", b"{}");
        assert_eq!(a.len(), 64);
        assert_ne!(a, fingerprint("POST", "/v1/users/u/reward", b"{}"));
        assert_ne!(a, fingerprint("POST", "/v1/users/u/deduct", b"{ }"));
        assert_eq!(a, fingerprint("POST", "/v1/users/u/deduct", b"{}"));
    }
}
