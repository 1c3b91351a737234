//! Shared HTTP pieces that every dialect may use, and that import no dialect: the
//! JSON body extractor ([`JsonBody`]: raw bytes kept, the field at fault named, the
//! wording left to the dialect), the storage-full answer, the Prometheus recorder and
//! `/metrics`, and the middleware that counts requests and returns
//! `Authentication-Info` after a libp2p-PeerID handshake.

use std::sync::OnceLock;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::http::Method;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest, HttpResponse};
use futures::future::LocalBoxFuture;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use serde::de::DeserializeOwned;

/// An `Authentication-Info` value to send back on this request's response.
#[derive(Debug, Clone)]
pub struct AuthenticationInfo(pub String);

/// Why a JSON body was refused, for the route group's renderer ([`BodyConfig`]) to
/// word in its dialect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyError {
    /// Larger than the limit, in bytes (413).
    TooLarge {
        /// The limit.
        limit: usize,
    },
    /// The body could not be read.
    Unreadable(String),
    /// `Content-Type` is not `application/json` (where the group requires it).
    ContentType,
    /// No body (or only white space).
    Empty,
    /// Not JSON. `object`: the body starts like an object (the message is the
    /// parser's); else the message is the parser's too, and the body is not an object.
    NotJson {
        /// The parser's message.
        message: String,
        /// Whether the body starts with `{`.
        object: bool,
    },
    /// Valid JSON, but not an object.
    NotObject,
    /// A field's value is wrong: its path (`amount`, `items[2].points`) and why.
    Field {
        /// The path of the field.
        field: String,
        /// What is wrong, with the parser's position (`… at line 1 column 13`).
        message: String,
        /// The same without the position.
        bare: String,
        /// The value is not JSON at all (a syntax error inside it).
        syntax: bool,
    },
    /// A field the type does not have: its name, and why with and without the
    /// parser's position.
    UnknownField {
        /// The field.
        field: String,
        /// With the position.
        message: String,
        /// Without it.
        bare: String,
    },
    /// The object as a whole is wrong (a missing field): why, with the parser's
    /// position, and without it.
    Object {
        /// With the position.
        message: String,
        /// Without it.
        bare: String,
    },
    /// Something follows the object.
    Trailing(String),
}

/// How a route group reads JSON bodies: the size limit, whether `Content-Type` must be
/// `application/json`, and how a [`BodyError`] is rendered in the group's error body.
/// Registered with `app_data` on the group.
#[derive(Clone, Copy)]
pub struct BodyConfig {
    /// Largest body, bytes.
    pub limit: usize,
    /// Refuse a body whose `Content-Type` is not JSON.
    pub require_json: bool,
    /// The dialect's rendering of a refusal.
    pub render: fn(BodyError) -> actix_web::Error,
}

/// Parses `raw` as one JSON object into `T`, naming the field at fault. Numbers are
/// read from the bytes themselves, so a number JSON cannot hold (`1e400`) is reported
/// against its field like any other bad value.
///
/// # Errors
/// The [`BodyError`] that says why.
pub fn parse_object<T: DeserializeOwned>(raw: &[u8]) -> Result<T, BodyError> {
    match raw.iter().find(|b| !b.is_ascii_whitespace()) {
        None => return Err(BodyError::Empty),
        Some(b'{') => {}
        Some(_) => {
            return Err(match serde_json::from_slice::<serde_json::Value>(raw) {
                Err(e) => BodyError::NotJson {
                    message: e.to_string(),
                    object: false,
                },
                Ok(_) => BodyError::NotObject,
            })
        }
    }
    let mut de = serde_json::Deserializer::from_slice(raw);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let syntax = !inner.is_data();
        let message = inner.to_string();
        let bare = without_position(&inner);
        // "." is the object itself, "?" a key not read yet; an unknown field's path is
        // the field itself.
        if message.starts_with("unknown field") {
            return BodyError::UnknownField {
                field: path,
                message,
                bare,
            };
        }
        match Some(path).filter(|p| p != "." && !p.contains('?')) {
            Some(field) => BodyError::Field {
                field,
                message,
                bare,
                syntax,
            },
            None if syntax => BodyError::NotJson {
                message,
                object: true,
            },
            None => BodyError::Object { message, bare },
        }
    })?;
    de.end().map_err(|e| BodyError::Trailing(e.to_string()))?;
    Ok(value)
}

/// `e`'s message without serde_json's ` at line L column C`.
fn without_position(e: &serde_json::Error) -> String {
    let message = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    match message.strip_suffix(&suffix) {
        Some(bare) if e.line() > 0 => bare.to_string(),
        _ => message,
    }
}

/// A JSON object request body parsed into `T`, with the bytes as received (which an
/// idempotency fingerprint covers). Unlike `web::Json`, an array is refused and every
/// error names the field it is about; the group's [`BodyConfig`] words the error.
pub struct JsonBody<T> {
    /// The parsed body.
    pub value: T,
    /// The body as received.
    pub raw: web::Bytes,
}

/// A body that may be empty (or only white space); when present, a JSON object as
/// [`JsonBody`] reads it.
pub struct OptionalJsonBody<T> {
    /// The parsed body, if one was sent.
    pub value: Option<T>,
    /// The body as received.
    pub raw: web::Bytes,
}

fn body_config(req: &HttpRequest) -> BodyConfig {
    req.app_data::<BodyConfig>().copied().unwrap_or(BodyConfig {
        limit: 64 * 1024,
        require_json: false,
        render: |e| actix_web::error::ErrorBadRequest(format!("{e:?}")),
    })
}

/// Reads the whole body under the group's limit (and content-type rule).
fn read_body(
    req: &HttpRequest,
    payload: &mut actix_web::dev::Payload,
) -> LocalBoxFuture<'static, Result<(web::Bytes, BodyConfig), actix_web::Error>> {
    let config = body_config(req);
    let json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .is_some_and(|m| {
            m.split_once('/')
                .is_some_and(|(_, sub)| sub == "json" || sub.ends_with("+json"))
        });
    let bytes = web::Bytes::from_request(req, payload);
    Box::pin(async move {
        if config.require_json && !json {
            return Err((config.render)(BodyError::ContentType));
        }
        let raw = bytes.await.map_err(|err| {
            (config.render)(match err.as_error::<PayloadError>() {
                Some(PayloadError::Overflow) => BodyError::TooLarge {
                    limit: config.limit,
                },
                _ => BodyError::Unreadable(err.to_string()),
            })
        })?;
        Ok((raw, config))
    })
}

impl<T: DeserializeOwned + 'static> FromRequest for JsonBody<T> {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut actix_web::dev::Payload) -> Self::Future {
        let read = read_body(req, payload);
        Box::pin(async move {
            let (raw, config) = read.await?;
            let value = parse_object(&raw).map_err(config.render)?;
            Ok(JsonBody { value, raw })
        })
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for OptionalJsonBody<T> {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut actix_web::dev::Payload) -> Self::Future {
        let read = read_body(req, payload);
        Box::pin(async move {
            let (raw, config) = read.await?;
            let value = if raw.iter().all(u8::is_ascii_whitespace) {
                None
            } else {
                Some(parse_object(&raw).map_err(config.render)?)
            };
            Ok(OptionalJsonBody { value, raw })
        })
    }
}

impl BodyConfig {
    /// The payload limit that goes with it (register both on the group).
    pub fn payload(&self) -> web::PayloadConfig {
        web::PayloadConfig::new(self.limit)
    }
}

/// The node's storage is full: what every dialect says (503, this message, a
/// `Retry-After`), each in its own error shape. Nothing of the request was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StorageFull;

impl StorageFull {
    /// The message.
    pub const MESSAGE: &'static str =
        "The node's storage is full: nothing was written. Try again later.";
    /// `Retry-After`, seconds.
    pub const RETRY_AFTER_SECS: u32 = 30;

    /// Logs why (`detail`, the engine's words) and counts the refusal in
    /// `storage_full_responses_total`.
    pub fn refused(detail: &str) -> StorageFull {
        tracing::warn!(%detail, "write refused: the storage is full");
        metrics::counter!("storage_full_responses_total").increment(1);
        StorageFull
    }

    /// The `Retry-After` header.
    pub fn retry_after(self) -> (HeaderName, String) {
        (header::RETRY_AFTER, Self::RETRY_AFTER_SECS.to_string())
    }
}

/// The process-wide Prometheus recorder (installed on first use).
pub fn prometheus() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("a metrics recorder was already installed; /metrics may be empty");
        }
        handle
    })
}

/// Prometheus metrics (text format).
#[utoipa::path(get, path = "/metrics", tag = "ops", responses((status = 200, content_type = "text/plain", description = "Prometheus exposition")))]
pub async fn metrics_text() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(prometheus().render())
}

/// Middleware body: counts requests by route and status, times them, and adds
/// `Authentication-Info` when a handshake completed.
pub async fn observe(
    req: ServiceRequest,
    next: actix_web::middleware::Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    // A fixed set of labels: clients choose the method, and every label value is a
    // new series kept forever.
    let method: &'static str = match *req.method() {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    };
    let mut res = next.call(req).await?;
    let info = res
        .request()
        .extensions()
        .get::<AuthenticationInfo>()
        .cloned();
    if let Some(AuthenticationInfo(info)) = info {
        if let Ok(value) = HeaderValue::from_str(&info) {
            res.headers_mut()
                .insert(HeaderName::from_static("authentication-info"), value);
        }
    }
    let route = res
        .request()
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_string());
    let status = res.status().as_u16().to_string();
    metrics::counter!("http_requests_total", "method" => method, "route" => route.clone(), "status" => status)
        .increment(1);
    metrics::histogram!("http_request_duration_seconds", "route" => route)
        .record(started.elapsed().as_secs_f64());
    Ok(res)
}
