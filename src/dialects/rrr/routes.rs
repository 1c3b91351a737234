//! RRR HTTP handlers: authenticate ([`Client`]), validate, run one unit of work (or
//! one read), render. Every POST/PATCH/DELETE needs an `Idempotency-Key` (scope:
//! endpoint + client, over the path and the body); a replay answers the stored status
//! and body with `Idempotent-Replayed: true`. A batch of earns is one row per unit of
//! work, each with its source as business key, and its answer is stored once the rows
//! are done: a batch retried after a crash answers its rows as `DUPLICATE`.

use actix_web::http::header::{self, ContentType};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::value::RawValue;
use serde_json::Value;

use super::awards::{self, AwardCommitRequest, AwardIntentRequest, AwardReverseRequest};
use super::caller::{Approver, Client, RrrState};
use super::error::{ErrorBody, RrrError};
use super::ops::{self, Business, Earn};
use super::promotions::{self, ApproveRequest, ListQuery, PromotionPatch, PromotionRequest};
use super::reads::{self, Page, ENTRY_TYPES};
use super::repo::EarnStatus;
use super::settings::CEILING;
use super::time;
use super::wire::*;
use crate::http::JsonBody;
use crate::ledger::idempotency::{fingerprint, Answer};
use crate::ledger::{Idempotency, LedgerTx};

type Result<T> = std::result::Result<T, RrrError>;

/// The idempotency header.
pub const IDEMPOTENCY_HEADER: &str = "Idempotency-Key";
/// Largest `metadata`, bytes of compact JSON.
pub const MAX_METADATA_BYTES: usize = 4096;
/// Largest money amount of a request, currency minor units (10 billion units).
pub const MAX_MINOR: i64 = 1_000_000_000_000;
/// Most items of a batch.
pub const MAX_BATCH: usize = 1000;
/// Default and largest ledger page.
pub const PAGE: (u32, u32) = (50, 500);

/// The stored answer as the HTTP response.
fn respond(answer: Answer) -> HttpResponse {
    let status = StatusCode::from_u16(answer.response.status).unwrap_or(StatusCode::OK);
    let mut r = HttpResponse::build(status);
    r.content_type(ContentType::json());
    if answer.replayed {
        r.insert_header(("Idempotent-Replayed", "true"));
    }
    r.body(answer.response.body)
}

/// The request's `Idempotency-Key` for `route`, with the fingerprint of the path and
/// the body.
///
/// # Errors
/// 422 naming the header when it is missing or malformed.
fn idempotency(req: &HttpRequest, c: &Client, route: &str, raw: &[u8]) -> Result<Idempotency> {
    let key = req
        .headers()
        .get(IDEMPOTENCY_HEADER)
        .ok_or_else(|| {
            RrrError::field(
                IDEMPOTENCY_HEADER,
                "is required on every POST, PATCH and DELETE",
            )
        })?
        .to_str()
        .map_err(|_| RrrError::field(IDEMPOTENCY_HEADER, "must be visible ASCII"))?;
    let body = canonical_body(raw);
    // The path too: the same key on another promotion, award or webhook is another
    // request.
    let fp = fingerprint(&[route.as_bytes(), req.path().as_bytes(), body.as_bytes()]);
    let retention = u64::from(c.tenant.settings.idempotency_retention_days) * 86_400;
    Idempotency::new(&c.tenant.id, route, &c.client_id, key, fp, retention)
        .map_err(|e| RrrError::field(IDEMPOTENCY_HEADER, e.to_string()))
}

/// The body in canonical form (sorted keys, compact); the bytes themselves when they
/// are not JSON.
fn canonical_body(raw: &[u8]) -> String {
    serde_json::from_slice::<Value>(raw)
        .map(|v| ops::canonical(&v))
        .unwrap_or_else(|_| String::from_utf8_lossy(raw).into_owned())
}

/// Runs `effect` as one unit under the request's idempotency key.
async fn run_once<F>(
    state: &RrrState,
    c: Client,
    idem: Idempotency,
    effect: F,
) -> Result<HttpResponse>
where
    F: FnOnce(&mut LedgerTx<'_>, &Client) -> Result<crate::ledger::StoredResponse> + Send + 'static,
{
    let answer = state
        .ledger
        .run(move |tx| ops::once(tx, &c, &idem, None, |tx| effect(tx, &c)))
        .await?;
    Ok(respond(answer))
}

/// A client's id of a user (or model): 1 to 128 characters, no control characters.
fn user_id(field: &str, s: &str) -> Result<String> {
    ops::text(field, s, 128)
}

/// A reference (order id, reason, …): 1 to `max` characters, no control characters.
fn reference(field: &str, s: &str, max: usize) -> Result<String> {
    ops::text(field, s, max)
}

fn positive_points(field: &str, n: i64) -> Result<i64> {
    if n <= 0 || n > CEILING {
        return Err(RrrError::field(
            field,
            format!("must be a whole number from 1 to {CEILING}"),
        ));
    }
    Ok(n)
}

fn currency(c: &Client, field: &str, s: &str) -> Result<()> {
    if s != c.tenant.settings.currency {
        return Err(RrrError::field(
            field,
            format!(
                "must be {} (the tenant's currency)",
                c.tenant.settings.currency
            ),
        ));
    }
    Ok(())
}

/// `metadata` as sent: an object of at most 4 KB of compact JSON; its value (`None`
/// when absent or `null`).
fn metadata(raw: Option<&RawValue>) -> Result<Option<Value>> {
    let Some(raw) = raw else { return Ok(None) };
    let v: Value =
        serde_json::from_str(raw.get()).map_err(|e| RrrError::field("metadata", e.to_string()))?;
    match v {
        Value::Null => Ok(None),
        Value::Object(_) if v.to_string().len() > MAX_METADATA_BYTES => Err(RrrError::field(
            "metadata",
            format!("must be at most {MAX_METADATA_BYTES} bytes of JSON"),
        )),
        Value::Object(_) => Ok(Some(v)),
        _ => Err(RrrError::field("metadata", "must be a JSON object")),
    }
}

/// The earn types of `source.event_type` (§8.1).
pub const EARN_TYPES: [&str; 4] = [
    "TOKEN_PURCHASE",
    "MEMBERSHIP_PURCHASE",
    "ADJUSTMENT",
    "MODEL_AWARD",
];

/// Checks an earn request (the route's part: shapes and settings).
fn check_earn(c: &Client, r: EarnRequest) -> Result<Earn> {
    user_id("client_user_id", &r.client_user_id)?;
    ops::uuid_field("rrr_member_id", &r.rrr_member_id)?;
    if !EARN_TYPES.contains(&r.source.event_type.as_str()) {
        return Err(RrrError::field(
            "source.event_type",
            format!("must be one of {}", EARN_TYPES.join(", ")),
        ));
    }
    reference("source.order_id", &r.source.order_id, 128)?;
    let line_id = match &r.source.line_id {
        Some(l) => reference("source.line_id", l, 64)?,
        None => "1".into(),
    };
    currency(c, "currency", &r.currency)?;
    if !(0..=MAX_MINOR).contains(&r.amount_minor) {
        return Err(RrrError::field(
            "amount_minor",
            format!("must be a whole number from 0 to {MAX_MINOR}"),
        ));
    }
    positive_points("points", r.points)?;
    let policy = r.policy.clone().unwrap_or_default();
    let pending = match policy.posting_mode.as_deref() {
        None | Some("POSTED") => false,
        Some("PENDING") => true,
        Some(_) => {
            return Err(RrrError::field(
                "policy.posting_mode",
                "must be POSTED or PENDING",
            ))
        }
    };
    let expires_at = policy
        .expires_at
        .as_deref()
        .map(|t| time::stored(t).map_err(|m| RrrError::field("policy.expires_at", m)))
        .transpose()?;
    // Read as a value to check it and take the two keys; kept as the client sent it.
    let parsed = metadata(r.metadata.as_deref())?;
    let meta = parsed
        .as_ref()
        .and(r.metadata.as_ref())
        .map(|raw| raw.get().to_string());
    let text_of = |key: &str| -> Result<Option<String>> {
        match parsed.as_ref().and_then(|m| m.get(key)) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.trim().to_string()).filter(|s| !s.is_empty())),
            Some(_) => Err(RrrError::field(
                format!("metadata.{key}"),
                "must be a string",
            )),
        }
    };
    let tier = text_of("xcn_membership_tier")?;
    let promotion_id = text_of("promotion_id")?;
    Ok(Earn {
        fingerprint: Earn::fingerprint_of(&r, &line_id),
        request: r,
        line_id,
        pending,
        expires_at,
        metadata: meta,
        tier,
        promotion_id,
    })
}

// ---------------------------------------------------------------------------------
// Auth

fn oauth_error(status: StatusCode, error: &'static str, description: &str) -> HttpResponse {
    let mut r = HttpResponse::build(status);
    if status == StatusCode::UNAUTHORIZED {
        r.insert_header((header::WWW_AUTHENTICATE, "Basic realm=\"rrr\""));
    }
    r.insert_header((header::CACHE_CONTROL, "no-store"))
        .json(OAuthError {
            error,
            error_description: description.to_string(),
        })
}

/// Client id and secret from `Authorization: Basic` (RFC 6749 §2.3.1: each part
/// form-urlencoded).
fn basic(req: &HttpRequest) -> Option<(String, String)> {
    use base64::Engine as _;
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, b64) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, secret) = text.split_once(':')?;
    let unescape = |s: &str| {
        web::Query::<std::collections::HashMap<String, String>>::from_query(&format!("v={s}"))
            .ok()
            .and_then(|q| q.get("v").cloned())
            .unwrap_or_else(|| s.to_string())
    };
    Some((unescape(id), unescape(secret)))
}

/// Client credentials → a bearer (RFC 6749 §4.4). The body is JSON or
/// `application/x-www-form-urlencoded`; the credentials may come in
/// `Authorization: Basic` instead (`client_secret_basic`). Errors are RFC 6749 §5.2
/// bodies.
#[utoipa::path(post, path = "/oauth/token", tag = "rrr",
    request_body(content = TokenRequest, description = "JSON or form fields"),
    responses((status = 200, body = TokenResponse), (status = 400, body = OAuthError),
        (status = 401, body = OAuthError)))]
pub async fn token(req: HttpRequest, body: web::Bytes, state: web::Data<RrrState>) -> HttpResponse {
    let form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim_start()
                .starts_with("application/x-www-form-urlencoded")
        });
    let parsed: std::result::Result<TokenRequest, String> =
        if body.iter().all(u8::is_ascii_whitespace) {
            Ok(TokenRequest::default())
        } else if form {
            std::str::from_utf8(&body)
                .map_err(|e| e.to_string())
                .and_then(|s| {
                    web::Query::<TokenRequest>::from_query(s)
                        .map(|q| q.into_inner())
                        .map_err(|e| e.to_string())
                })
        } else {
            serde_json::from_slice(&body).map_err(|e| e.to_string())
        };
    let request = match parsed {
        Ok(r) => r,
        Err(e) => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                &format!("the body cannot be read: {e}"),
            )
        }
    };
    match request.grant_type.as_deref() {
        Some("client_credentials") => {}
        None => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "grant_type is required",
            )
        }
        Some(_) => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "only client_credentials is supported",
            )
        }
    }
    let (client_id, secret) =
        match (basic(&req), request.client_id, request.client_secret) {
            (Some(_), _, Some(_)) => {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "send the client credentials once: in Authorization: Basic or in the body",
                )
            }
            (Some(creds), _, None) => creds,
            (None, Some(id), Some(secret)) => (id, secret),
            _ => return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "client_id and client_secret are required (in the body or Authorization: Basic)",
            ),
        };
    let Some(tenant) = state.client_credentials(&client_id, &secret) else {
        tracing::warn!("token refused: unknown client or wrong secret");
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "unknown client or wrong secret",
        );
    };
    if !tenant.settings.active {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "this client's tenant is inactive",
        );
    }
    let ttl = tenant.settings.token_ttl_secs;
    let token = state.issuer.issue(
        tenant.id.as_str(),
        &client_id,
        ttl,
        super::caller::unix_now(),
    );
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(TokenResponse {
            access_token: token,
            token_type: "Bearer",
            expires_in: ttl,
        })
}

// ---------------------------------------------------------------------------------
// Links

/// Creates a link intent (§6.1).
#[utoipa::path(post, path = "/v1/links/intents", tag = "rrr", request_body = LinkIntentRequest,
    security(("bearer" = [])),
    responses((status = 201, body = LinkIntentResponse), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn link_intent(
    req: HttpRequest,
    c: Client,
    state: web::Data<RrrState>,
    body: JsonBody<LinkIntentRequest>,
) -> Result<HttpResponse> {
    let mut idem = idempotency(&req, &c, "links.intents", &body.raw)?;
    // The answer holds the link code: kept no longer than the intent lives.
    idem.retention_secs = ops::INTENT_TTL_SECS;
    let user = user_id("client_user_id", &body.value.client_user_id)?;
    let link_type = match body.value.link_type.as_str() {
        t @ ("MEMBER" | "MODEL") => t.to_string(),
        _ => return Err(RrrError::field("link_type", "must be MEMBER or MODEL")),
    };
    run_once(&state, c, idem, move |tx, c| {
        super::links::intent(tx, c, &user, &link_type)
    })
    .await
}

/// Confirms a link with a proof (§6.2).
#[utoipa::path(post, path = "/v1/links/confirm", tag = "rrr", request_body = LinkConfirmRequest,
    security(("bearer" = [])),
    responses((status = 200, body = LinkResponse), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn link_confirm(
    req: HttpRequest,
    c: Client,
    state: web::Data<RrrState>,
    body: JsonBody<LinkConfirmRequest>,
) -> Result<HttpResponse> {
    let idem = idempotency(&req, &c, "links.confirm", &body.raw)?;
    let mut r = body.value;
    r.client_user_id = user_id("client_user_id", &r.client_user_id)?;
    reference("proof.assertion", &r.proof.assertion, 8192)?;
    let answer = state
        .ledger
        .run(move |tx| super::links::confirm(tx, &c, &idem, &r))
        .await??;
    Ok(respond(answer))
}

/// Ends a link.
#[utoipa::path(post, path = "/v1/links/revoke", tag = "rrr", request_body = LinkRevokeRequest,
    security(("bearer" = [])),
    responses((status = 200, body = LinkResponse), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn link_revoke(
    req: HttpRequest,
    c: Client,
    state: web::Data<RrrState>,
    body: JsonBody<LinkRevokeRequest>,
) -> Result<HttpResponse> {
    let idem = idempotency(&req, &c, "links.revoke", &body.raw)?;
    let user = user_id("client_user_id", &body.value.client_user_id)?;
    let reason = reference("reason", &body.value.reason, 200)?;
    run_once(&state, c, idem, move |tx, c| {
        super::links::revoke(tx, c, &user, &reason)
    })
    .await
}

/// A user's link (§6.3).
#[utoipa::path(get, path = "/v1/links/status", tag = "rrr", params(LinkStatusQuery),
    security(("bearer" = [])),
    responses((status = 200, body = LinkStatusResponse), (status = 422, body = ErrorBody)))]
pub async fn link_status(
    c: Client,
    state: web::Data<RrrState>,
    query: web::Query<LinkStatusQuery>,
) -> Result<HttpResponse> {
    let user = user_id(
        "client_user_id",
        query.client_user_id.as_deref().unwrap_or_default(),
    )?;
    let status = state
        .ledger
        .read(move |r| reads::link_status(r, &c, &user))
        .await?;
    Ok(HttpResponse::Ok().json(status))
}

// ---------------------------------------------------------------------------------
// Wallet and ledger

/// A member's wallet (§7.1).
#[utoipa::path(get, path = "/v1/members/{rrr_member_id}/wallet", tag = "rrr",
    params(("rrr_member_id" = String, Path, description = "member UUID")),
    security(("bearer" = [])),
    responses((status = 200, body = WalletResponse), (status = 404, body = ErrorBody)))]
pub async fn wallet(
    c: Client,
    state: web::Data<RrrState>,
    id: web::Path<String>,
) -> Result<HttpResponse> {
    let id = id.into_inner();
    let wallet = state
        .ledger
        .read(move |r| reads::wallet(r, &c, &id))
        .await?;
    Ok(HttpResponse::Ok().json(wallet))
}

/// A member's ledger (§7.2): a bare array, newest first; the next page in
/// `Link: <…>; rel="next"`.
#[utoipa::path(get, path = "/v1/members/{rrr_member_id}/ledger", tag = "rrr",
    params(("rrr_member_id" = String, Path, description = "member UUID"), LedgerQuery),
    security(("bearer" = [])),
    responses((status = 200, body = Vec<LedgerEntry>), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn ledger(
    req: HttpRequest,
    c: Client,
    state: web::Data<RrrState>,
    id: web::Path<String>,
    query: web::Query<LedgerQuery>,
) -> Result<HttpResponse> {
    let limit = match query.limit.as_deref() {
        None => PAGE.0,
        Some(l) => l
            .trim()
            .parse::<u32>()
            .ok()
            .filter(|l| (1..=PAGE.1).contains(l))
            .ok_or_else(|| {
                RrrError::field(
                    "limit",
                    format!("must be a whole number from 1 to {}", PAGE.1),
                )
            })?,
    };
    let before = query
        .cursor
        .as_deref()
        .map(|c| {
            c.trim()
                .parse::<i64>()
                .ok()
                .filter(|c| *c > 0)
                .ok_or_else(|| RrrError::field("cursor", "is not a cursor of this ledger"))
        })
        .transpose()?;
    let types = match query.types.as_deref() {
        None => Vec::new(),
        Some(t) => t
            .split(',')
            .map(|t| {
                let t = t.trim().to_ascii_uppercase();
                ENTRY_TYPES
                    .contains(&t.as_str())
                    .then_some(t)
                    .ok_or_else(|| {
                        RrrError::field("type", format!("must be among {}", ENTRY_TYPES.join(",")))
                    })
            })
            .collect::<Result<_>>()?,
    };
    let bound = |field: &str, v: Option<&str>| {
        v.map(|v| time::query_time(v).map_err(|m| RrrError::field(field, m)))
            .transpose()
    };
    let window = (
        bound("from", query.from.as_deref())?,
        bound("to", query.to.as_deref())?,
    );
    let page = Page {
        before,
        types,
        window,
        limit,
    };
    let member = id.into_inner();
    let m = member.clone();
    let (entries, next) = state
        .ledger
        .read(move |r| reads::ledger(r, &c, &m, &page))
        .await?;
    let mut response = HttpResponse::Ok();
    if let Some(next) = next {
        let mut params: Vec<(String, String)> =
            web::Query::<Vec<(String, String)>>::from_query(req.query_string())
                .map(|q| q.into_inner())
                .unwrap_or_default()
                .into_iter()
                .filter(|(k, _)| k != "cursor")
                .collect();
        params.push(("cursor".into(), next.to_string()));
        let query: Vec<String> = params
            .iter()
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
            .collect();
        response.insert_header((
            header::LINK,
            format!(
                "</v1/members/{member}/ledger?{}>; rel=\"next\"",
                query.join("&")
            ),
        ));
    }
    Ok(response.json(entries))
}

/// Percent-encodes a query component.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

// ---------------------------------------------------------------------------------
// Earn

/// Posts an earn (§8.1).
#[utoipa::path(post, path = "/v1/points/earn", tag = "rrr", request_body = EarnRequest,
    security(("bearer" = [])),
    responses((status = 201, body = EarnResponse), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn earn(
    req: HttpRequest,
    c: Client,
    state: web::Data<RrrState>,
    body: JsonBody<EarnRequest>,
) -> Result<HttpResponse> {
    let idem = idempotency(&req, &c, "points.earn", &body.raw)?;
    if body.value.source_ref.is_some() {
        return Err(RrrError::field(
            "source_ref",
            "is a field of batch items only",
        ));
    }
    let e = check_earn(&c, body.value)?;
    let answer = state
        .ledger
        .run(move |tx| ops::once(tx, &c, &idem, None, |tx| Ok(ops::earn_once(tx, &c, &e)?.0)))
        .await?;
    Ok(respond(answer))
}

/// One batch row: checked, then earned in its own unit.
async fn batch_row(
    state: &RrrState,
    c: &Client,
    index: usize,
    item: Box<serde_json::value::RawValue>,
) -> BatchRow {
    let source_ref = serde_json::from_str::<Value>(item.get())
        .ok()
        .and_then(|v| {
            v.get("source_ref")
                .and_then(Value::as_str)
                .map(str::to_string)
        });
    let reject = |e: RrrError| BatchRow {
        index,
        source_ref: source_ref.clone(),
        status: "REJECTED",
        ledger_entry_id: None,
        error: serde_json::from_str::<Value>(&e.body())
            .ok()
            .and_then(|v| v.get("error").cloned()),
    };
    let parsed = crate::http::parse_object::<EarnRequest>(item.get().as_bytes()).map_err(|e| {
        match RrrError::from_body(e) {
            RrrError::Validation { field, message } if field == "body" => {
                RrrError::field(format!("items[{index}]"), message)
            }
            other => other,
        }
    });
    let checked = parsed.and_then(|r| {
        let source_ref = r
            .source_ref
            .as_deref()
            .ok_or_else(|| RrrError::field("source_ref", "is required on every batch item"))
            .and_then(|s| reference("source_ref", s, 128))?;
        check_earn(c, r).map(|e| (e, source_ref))
    });
    let (e, _) = match checked {
        Ok(v) => v,
        Err(err) => return reject(err),
    };
    let client = c.clone();
    let done = state
        .ledger
        .run(move |tx| {
            let (response, replayed) = ops::earn_once(tx, &client, &e)?;
            Ok::<_, RrrError>((if replayed { "DUPLICATE" } else { "ACCEPTED" }, response))
        })
        .await;
    match done {
        Ok((status, stored)) => BatchRow {
            index,
            source_ref,
            status,
            ledger_entry_id: serde_json::from_str::<EarnResponse>(&stored.body)
                .ok()
                .map(|r| r.ledger_entry_id),
            error: None,
        },
        Err(err) => reject(err),
    }
}

/// Posts up to 1,000 earns, each with its `source_ref`; a bad row never fails the
/// others (§8.2).
#[utoipa::path(post, path = "/v1/points/earn/batch", tag = "rrr", request_body = EarnBatchRequest,
    security(("bearer" = [])),
    responses((status = 201, body = BatchResponse), (status = 422, body = ErrorBody)))]
pub async fn earn_batch(
    req: HttpRequest,
    c: Client,
    state: web::Data<RrrState>,
    body: JsonBody<EarnBatchRequest>,
) -> Result<HttpResponse> {
    let idem = idempotency(&req, &c, "points.earn.batch", &body.raw)?;
    let items = body.value.items;
    if items.is_empty() || items.len() > MAX_BATCH {
        return Err(RrrError::field(
            "items",
            format!("must hold 1 to {MAX_BATCH} earns"),
        ));
    }
    let (scope, key, fp) = (
        idem.scope.clone(),
        idem.key.clone(),
        idem.fingerprint.clone(),
    );
    let replay = state
        .ledger
        .run(move |tx| tx.idempotency_lookup(&scope, &key, &fp))
        .await?;
    if let Some(response) = replay {
        return Ok(respond(Answer {
            response,
            replayed: true,
        }));
    }
    let rows = futures::future::join_all(
        items
            .into_iter()
            .enumerate()
            .map(|(i, item)| batch_row(&state, &c, i, item)),
    )
    .await;
    let count = |s: &str| rows.iter().filter(|r| r.status == s).count();
    let body = BatchResponse {
        accepted: count("ACCEPTED"),
        duplicates: count("DUPLICATE"),
        rejected: count("REJECTED"),
        results: rows,
    };
    let stored = ops::answer(201, &body)?;
    let answer = state
        .ledger
        .run(move |tx| ops::once(tx, &c, &idem, None, move |_| Ok(stored)))
        .await?;
    Ok(respond(answer))
}

/// Reverses an earn by its source or its `ledger_entry_id` (chargebacks).
#[utoipa::path(post, path = "/v1/points/reverse", tag = "rrr", request_body = EarnReverseRequest,
    security(("bearer" = [])),
    responses((status = 200, body = EarnReverseResponse), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn earn_reverse(
    req: HttpRequest,
    c: Client,
    state: web::Data<RrrState>,
    body: JsonBody<EarnReverseRequest>,
) -> Result<HttpResponse> {
    let idem = idempotency(&req, &c, "points.reverse", &body.raw)?;
    let r = body.value;
    let reason = reference("reason", &r.reason, 200)?;
    let by = match (&r.source, &r.ledger_entry_id) {
        (Some(s), None) => {
            reference("source.order_id", &s.order_id, 128)?;
            Ok((
                s.event_type.clone(),
                s.order_id.clone(),
                s.line_id.clone().unwrap_or_else(|| "1".into()),
            ))
        }
        (None, Some(id)) => Err(ops::uuid_field("ledger_entry_id", id)?),
        _ => {
            return Err(RrrError::field(
                "source",
                "name the earn by source or by ledger_entry_id (one of them)",
            ))
        }
    };
    run_once(&state, c, idem, move |tx, c| {
        let store = tx.repo::<dyn super::repo::RrrStore>()?;
        let earn = match &by {
            Ok((t, o, l)) => store.earn_by_source(&c.tenant.id, &c.client_id, (t, o, l))?,
            Err(uuid) => store.earn(&c.tenant.id, uuid)?,
        }
        .filter(|e| e.client_id == c.client_id)
        .ok_or_else(|| RrrError::NotFound("no such earn".into()))?;
        let business = Business {
            kind: "earn-reverse",
            key: earn.entry_uuid.clone(),
            fingerprint: fingerprint(&[earn.entry_uuid.as_bytes(), reason.as_bytes()]),
        };
        if let Some(stored) = ops::business_replay(tx, c, &business)? {
            return Ok(stored);
        }
        if earn.status == EarnStatus::Reversed {
            return Err(RrrError::Conflict(format!(
                "earn {} was already reversed with another reason",
                earn.entry_uuid
            )));
        }
        let response = ops::reverse_earn(tx, c, &earn, &reason)?;
        ops::business_store(tx, c, &business, &response)?;
        Ok(response)
    })
    .await
}

/// A signed points adjustment (field-notes §3).
#[utoipa::path(post, path = "/v1/points/adjustments", tag = "rrr", request_body = AdjustmentRequest,
    security(("bearer" = [])),
    responses((status = 201, body = AdjustmentResponse), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn adjustment(
    req: HttpRequest,
    c: Client,
    state: web::Data<RrrState>,
    body: JsonBody<AdjustmentRequest>,
) -> Result<HttpResponse> {
    let idem = idempotency(&req, &c, "points.adjustments", &body.raw)?;
    let mut r = body.value;
    user_id("client_user_id", &r.client_user_id)?;
    if r.points == 0 || r.points.abs() > CEILING {
        return Err(RrrError::field(
            "points",
            format!("must be a non-zero whole number from -{CEILING} to {CEILING}"),
        ));
    }
    r.reason_code = reference("reason_code", &r.reason_code, 64)?;
    r.ticket_reference = r
        .ticket_reference
        .as_deref()
        .map(|t| reference("ticket_reference", t, 128))
        .transpose()?;
    if metadata(r.metadata.as_deref())?.is_none() {
        r.metadata = None;
    }
    let business = r.ticket_reference.clone().map(|t| Business {
        kind: "adjustment",
        key: t,
        fingerprint: fingerprint(&[b"adjustment", canonical_body(&body.raw).as_bytes()]),
    });
    let answer = state
        .ledger
        .run(move |tx| ops::once(tx, &c, &idem, business, |tx| ops::adjust(tx, &c, &r)))
        .await?;
    Ok(respond(answer))
}

// ---------------------------------------------------------------------------------
// Redemptions and top-ups

/// Quotes a redemption (§10.1); ineligible is `eligible: false`, not an error.
#[utoipa::path(post, path = "/v1/redemptions/quote", tag = "rrr", request_body = RedemptionQuoteRequest,
    security(("bearer" = [])),
    responses((status = 200, body = RedemptionQuoteResponse), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn redemption_quote(
    req: HttpRequest,
    c: Client,
    state: web::Data<RrrState>,
    body: JsonBody<RedemptionQuoteRequest>,
) -> Result<HttpResponse> {
    let idem = idempotency(&req, &c, "redemptions.quote", &body.raw)?;
    let r = body.value;
    user_id("client_user_id", &r.client_user_id)?;
    currency(&c, "cart.currency", &r.cart.currency)?;
    if !(0..=MAX_MINOR).contains(&r.cart.total_minor) {
        return Err(RrrError::field(
            "cart.total_minor",
            format!("must be a whole number from 0 to {MAX_MINOR}"),
        ));
    }
    let exact = match r.requested.mode.as_str() {
        "MAX" => None,
        "EXACT" => Some(positive_points(
            "requested.points",
            r.requested
                .points
                .ok_or_else(|| RrrError::field("requested.points", "is required with EXACT"))?,
        )?),
        _ => return Err(RrrError::field("requested.mode", "must be MAX or EXACT")),
    };
    run_once(&state, c, idem, move |tx, c| {
        ops::quote_redemption(tx, c, &r, exact)
    })
    .await
}

/// Commits a redemption (§10.2): once per quote and per `client_order_id`.
#[utoipa::path(post, path = "/v1/redemptions/commit", tag = "rrr", request_body = RedemptionCommitRequest,
    security(("bearer" = [])),
    responses((status = 200, body = RedemptionCommitResponse), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn redemption_commit(
    req: HttpRequest,
    c: Client,
    state: web::Data<RrrState>,
    body: JsonBody<RedemptionCommitRequest>,
) -> Result<HttpResponse> {
    let idem = idempotency(&req, &c, "redemptions.commit", &body.raw)?;
    let mut r = body.value;
    user_id("client_user_id", &r.client_user_id)?;
    r.client_order_id = reference("client_order_id", &r.client_order_id, 128)?;
    let business = Business {
        kind: "redemption",
        key: r.client_order_id.clone(),
        fingerprint: fingerprint(&[b"redemption", canonical_body(&body.raw).as_bytes()]),
    };
    let answer = state
        .ledger
        .run(move |tx| {
            ops::once(tx, &c, &idem, Some(business), |tx| {
                ops::commit_redemption(tx, &c, &r)
            })
        })
        .await?;
    Ok(respond(answer))
}

/// Reverses a committed redemption (§10.3); a repeat answers the original result.
#[utoipa::path(post, path = "/v1/redemptions/reverse", tag = "rrr", request_body = RedemptionReverseRequest,
    security(("bearer" = [])),
    responses((status = 200, body = RedemptionReverseResponse), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn redemption_reverse(
    req: HttpRequest,
    c: Client,
    state: web::Data<RrrState>,
    body: JsonBody<RedemptionReverseRequest>,
) -> Result<HttpResponse> {
    let idem = idempotency(&req, &c, "redemptions.reverse", &body.raw)?;
    let mut r = body.value;
    r.client_order_id = reference("client_order_id", &r.client_order_id, 128)?;
    r.reason = reference("reason", &r.reason, 64)?;
    let business = Business {
        kind: "redemption-reverse",
        key: r.client_order_id.clone(),
        fingerprint: fingerprint(&[b"redemption-reverse", canonical_body(&body.raw).as_bytes()]),
    };
    let answer = state
        .ledger
        .run(move |tx| {
            ops::once(tx, &c, &idem, Some(business), |tx| {
                ops::reverse_redemption(tx, &c, &r)
            })
        })
        .await?;
    Ok(respond(answer))
}

/// Quotes a top-up (§11.1).
#[utoipa::path(post, path = "/v1/points/topup/quote", tag = "rrr", request_body = TopupQuoteRequest,
    security(("bearer" = [])),
    responses((status = 200, body = TopupQuoteResponse), (status = 422, body = ErrorBody)))]
pub async fn topup_quote(
    req: HttpRequest,
    c: Client,
    state: web::Data<RrrState>,
    body: JsonBody<TopupQuoteRequest>,
) -> Result<HttpResponse> {
    let idem = idempotency(&req, &c, "points.topup.quote", &body.raw)?;
    let r = body.value;
    let settings = &c.tenant.settings.topup;
    if !settings.bundles.contains(&r.bundle) {
        return Err(RrrError::field(
            "bundle",
            format!("must be one of the bundles {:?}", settings.bundles),
        ));
    }
    if r.unit_price_minor != settings.unit_price_minor {
        return Err(RrrError::field(
            "unit_price_minor",
            format!(
                "must be {} (the tenant's price of a point)",
                settings.unit_price_minor
            ),
        ));
    }
    let member = r.rrr_member_id.clone();
    run_once(&state, c, idem, move |tx, c| {
        ops::quote_topup(tx, c, r.bundle, member.as_deref())
    })
    .await
}

/// Commits a paid top-up (§11.2): once per quote and per `client_order_id`.
#[utoipa::path(post, path = "/v1/points/topup/commit", tag = "rrr", request_body = TopupCommitRequest,
    security(("bearer" = [])),
    responses((status = 200, body = TopupCommitResponse), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn topup_commit(
    req: HttpRequest,
    c: Client,
    state: web::Data<RrrState>,
    body: JsonBody<TopupCommitRequest>,
) -> Result<HttpResponse> {
    let idem = idempotency(&req, &c, "points.topup.commit", &body.raw)?;
    let mut r = body.value;
    user_id("client_user_id", &r.client_user_id)?;
    r.client_order_id = reference("client_order_id", &r.client_order_id, 128)?;
    let business = Business {
        kind: "topup",
        key: r.client_order_id.clone(),
        fingerprint: fingerprint(&[b"topup", canonical_body(&body.raw).as_bytes()]),
    };
    let answer = state
        .ledger
        .run(move |tx| {
            ops::once(tx, &c, &idem, Some(business), |tx| {
                ops::commit_topup(tx, &c, &r)
            })
        })
        .await?;
    Ok(respond(answer))
}

// ---------------------------------------------------------------------------------
// Awards

/// Creates an award intent (§12.1): holds the model's points when eligible.
#[utoipa::path(post, path = "/v1/awards/intents", tag = "rrr", request_body = AwardIntentRequest,
    security(("bearer" = [])),
    responses((status = 201, body = awards::AwardIntentResponse), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn award_intent(
    req: HttpRequest,
    c: Client,
    state: web::Data<RrrState>,
    body: JsonBody<AwardIntentRequest>,
) -> Result<HttpResponse> {
    let idem = idempotency(&req, &c, "awards.intents", &body.raw)?;
    let r = body.value;
    user_id("client_model_id", &r.client_model_id)?;
    user_id("client_viewer_user_id", &r.client_viewer_user_id)?;
    ops::uuid_field("rrr_model_member_id", &r.rrr_model_member_id)?;
    ops::uuid_field("rrr_viewer_member_id", &r.rrr_viewer_member_id)?;
    positive_points("points", r.points)?;
    if let Some(ctx) = &r.context {
        if !ctx.is_object() || ctx.to_string().len() > MAX_METADATA_BYTES {
            return Err(RrrError::field(
                "context",
                "must be a JSON object of at most 4096 bytes",
            ));
        }
    }
    run_once(&state, c, idem, move |tx, c| awards::intent(tx, c, &r)).await
}

/// Commits an award (§12.2): once per intent.
#[utoipa::path(post, path = "/v1/awards/commit", tag = "rrr", request_body = AwardCommitRequest,
    security(("bearer" = [])),
    responses((status = 200, body = awards::AwardCommitResponse), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn award_commit(
    req: HttpRequest,
    c: Client,
    state: web::Data<RrrState>,
    body: JsonBody<AwardCommitRequest>,
) -> Result<HttpResponse> {
    let idem = idempotency(&req, &c, "awards.commit", &body.raw)?;
    let r = body.value;
    let business = Business {
        kind: "award",
        key: ops::uuid_field("intent_id", &r.intent_id)?,
        fingerprint: fingerprint(&[b"award", canonical_body(&body.raw).as_bytes()]),
    };
    let answer = state
        .ledger
        .run(move |tx| {
            ops::once(tx, &c, &idem, Some(business), |tx| {
                awards::commit(tx, &c, &r)
            })
        })
        .await?;
    Ok(respond(answer))
}

/// Reverses a committed award (the RRR admin's token, the client in `X-Client-Id`).
#[utoipa::path(post, path = "/v1/awards/{intent_id}/reverse", tag = "rrr",
    params(("intent_id" = String, Path, description = "award intent UUID")),
    request_body = AwardReverseRequest, security(("admin" = [])),
    responses((status = 200, body = awards::AwardReverseResponse), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn award_reverse(
    req: HttpRequest,
    approver: Approver,
    state: web::Data<RrrState>,
    id: web::Path<String>,
    body: JsonBody<AwardReverseRequest>,
) -> Result<HttpResponse> {
    let Approver::RrrAdmin(c) = approver else {
        return Err(RrrError::Unauthorized(
            "only the RRR admin (the node's admin token) reverses awards".into(),
        ));
    };
    let idem = idempotency(&req, &c, "awards.reverse", &body.raw)?;
    let reason = reference("reason", &body.value.reason, 200)?;
    let id = id.into_inner();
    run_once(&state, c, idem, move |tx, c| {
        awards::reverse(tx, c, &id, &reason)
    })
    .await
}

// ---------------------------------------------------------------------------------
// Promotions

/// Creates a promotion (DRAFT).
#[utoipa::path(post, path = "/v1/promotions", tag = "rrr", request_body = PromotionRequest,
    security(("bearer" = [])),
    responses((status = 201, body = promotions::PromotionView), (status = 422, body = ErrorBody)))]
pub async fn promotion_create(
    req: HttpRequest,
    c: Client,
    state: web::Data<RrrState>,
    body: JsonBody<PromotionRequest>,
) -> Result<HttpResponse> {
    let idem = idempotency(&req, &c, "promotions.create", &body.raw)?;
    let p = promotions::new_promotion(&c.client_id, &body.value, &crate::ledger::timestamp_now())?;
    run_once(&state, c, idem, move |tx, c| {
        let mut p = p;
        p.created_at = tx.now().to_string();
        p.updated_at = p.created_at.clone();
        promotions::create(tx, c, &p)
    })
    .await
}

/// Edits a DRAFT promotion.
#[utoipa::path(patch, path = "/v1/promotions/{promotion_id}", tag = "rrr",
    params(("promotion_id" = String, Path, description = "promotion UUID")),
    request_body = PromotionPatch, security(("bearer" = [])),
    responses((status = 200, body = promotions::PromotionView), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn promotion_patch(
    req: HttpRequest,
    c: Client,
    state: web::Data<RrrState>,
    id: web::Path<String>,
    body: JsonBody<PromotionPatch>,
) -> Result<HttpResponse> {
    let idem = idempotency(&req, &c, "promotions.patch", &body.raw)?;
    let (id, r) = (id.into_inner(), body.value);
    run_once(&state, c, idem, move |tx, c| {
        promotions::patch(tx, c, &id, &r)
    })
    .await
}

/// One promotion with its approvals.
#[utoipa::path(get, path = "/v1/promotions/{promotion_id}", tag = "rrr",
    params(("promotion_id" = String, Path, description = "promotion UUID")),
    security(("bearer" = [])),
    responses((status = 200, body = promotions::PromotionView), (status = 404, body = ErrorBody)))]
pub async fn promotion_get(
    c: Client,
    state: web::Data<RrrState>,
    id: web::Path<String>,
) -> Result<HttpResponse> {
    let id = id.into_inner();
    let p = state
        .ledger
        .read(move |r| reads::promotion(r, &c, &id))
        .await?;
    Ok(HttpResponse::Ok().json(p))
}

/// The client's promotions (a bare array), optionally of one status.
#[utoipa::path(get, path = "/v1/promotions", tag = "rrr", params(ListQuery),
    security(("bearer" = [])),
    responses((status = 200, body = Vec<promotions::PromotionView>), (status = 422, body = ErrorBody)))]
pub async fn promotion_list(
    c: Client,
    state: web::Data<RrrState>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse> {
    let status = query.into_inner().status;
    if let Some(s) = &status {
        if !promotions::STATUSES.contains(&s.as_str()) {
            return Err(RrrError::field(
                "status",
                format!("must be one of {}", promotions::STATUSES.join(", ")),
            ));
        }
    }
    let list = state
        .ledger
        .read(move |r| reads::promotion_list(r, &c, status.as_deref()))
        .await?;
    Ok(HttpResponse::Ok().json(list))
}

/// `submit`, `pause`, `resume` or `end` a promotion.
#[utoipa::path(post, path = "/v1/promotions/{promotion_id}/{action}", tag = "rrr",
    params(("promotion_id" = String, Path, description = "promotion UUID"),
        ("action" = String, Path, description = "submit, pause, resume or end")),
    security(("bearer" = [])),
    responses((status = 200, body = promotions::PromotionView), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody)))]
pub async fn promotion_action(
    req: HttpRequest,
    c: Client,
    state: web::Data<RrrState>,
    path: web::Path<(String, String)>,
    body: String,
) -> Result<HttpResponse> {
    let (id, action) = path.into_inner();
    if !["submit", "pause", "resume", "end"].contains(&action.as_str()) {
        return Err(RrrError::NotFound(format!(
            "no route for POST /v1/promotions/{{id}}/{action}"
        )));
    }
    let idem = idempotency(&req, &c, &format!("promotions.{action}"), body.as_bytes())?;
    run_once(&state, c, idem, move |tx, c| {
        promotions::transition(tx, c, &id, &action)
    })
    .await
}

/// Approves a promotion (§9.3): `CLIENT_ADMIN` with the client's token, `RRR_ADMIN`
/// with the node's admin token and the promotion's client in `X-Client-Id`.
#[utoipa::path(post, path = "/v1/promotions/{promotion_id}/approve", tag = "rrr",
    params(("promotion_id" = String, Path, description = "promotion UUID")),
    request_body = ApproveRequest, security(("bearer" = []), ("admin" = [])),
    responses((status = 200, body = promotions::PromotionView), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn promotion_approve(
    req: HttpRequest,
    approver: Approver,
    state: web::Data<RrrState>,
    id: web::Path<String>,
    body: JsonBody<ApproveRequest>,
) -> Result<HttpResponse> {
    let idem = idempotency(&req, approver.client(), "promotions.approve", &body.raw)?;
    let (id, r) = (id.into_inner(), body.value);
    let c = approver.client().clone();
    let answer = state
        .ledger
        .run(move |tx| {
            ops::once(tx, &c, &idem, None, |tx| {
                promotions::approve(tx, &approver, &id, &r)
            })
        })
        .await?;
    Ok(respond(answer))
}

// ---------------------------------------------------------------------------------
// Webhooks

/// Registers a webhook (§13.1): the `secret` is shown once.
#[utoipa::path(post, path = "/v1/webhooks", tag = "rrr", request_body = super::endpoints::WebhookRequest,
    security(("bearer" = [])),
    responses((status = 201, body = super::endpoints::WebhookCreated), (status = 422, body = ErrorBody)))]
pub async fn webhook_create(
    req: HttpRequest,
    c: Client,
    state: web::Data<RrrState>,
    body: JsonBody<super::endpoints::WebhookRequest>,
) -> Result<HttpResponse> {
    let idem = idempotency(&req, &c, "webhooks.create", &body.raw)?;
    let (url, events) = super::endpoints::check(&body.value)?;
    let answer = state
        .ledger
        .run(move |tx| {
            tx.once(
                Some(&idem),
                |tx| super::endpoints::create(tx, &c, &url, &events),
                super::endpoints::without_secret,
            )
        })
        .await?;
    Ok(respond(answer))
}

/// The client's webhooks (secrets not shown).
#[utoipa::path(get, path = "/v1/webhooks", tag = "rrr", security(("bearer" = [])),
    responses((status = 200, body = Vec<super::endpoints::WebhookView>)))]
pub async fn webhook_list(c: Client, state: web::Data<RrrState>) -> Result<HttpResponse> {
    let list = state
        .ledger
        .read(move |r| super::endpoints::list(r, &c))
        .await?;
    Ok(HttpResponse::Ok().json(list))
}

/// Deletes a webhook (its pending deliveries become dead letters).
#[utoipa::path(delete, path = "/v1/webhooks/{webhook_id}", tag = "rrr",
    params(("webhook_id" = String, Path, description = "webhook UUID")),
    security(("bearer" = [])),
    responses((status = 200, body = super::endpoints::WebhookDeleted), (status = 404, body = ErrorBody)))]
pub async fn webhook_delete(
    req: HttpRequest,
    c: Client,
    state: web::Data<RrrState>,
    id: web::Path<String>,
    body: String,
) -> Result<HttpResponse> {
    let idem = idempotency(&req, &c, "webhooks.delete", body.as_bytes())?;
    let id = ops::uuid_field("webhook_id", &id)?;
    run_once(&state, c, idem, move |tx, c| {
        super::endpoints::delete(tx, c, &id)
    })
    .await
}

// ---------------------------------------------------------------------------------
// Reports

/// `from`/`to` query of the reports: Toronto days.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
pub struct ReportQuery {
    /// First day (a date or a time with an offset), inclusive.
    pub from: Option<String>,
    /// Last day, inclusive.
    pub to: Option<String>,
    /// Segments: `tier`, `promotion` or `cohort`.
    pub group_by: Option<String>,
    /// The caller's own client id (any other is refused).
    pub client_id: Option<String>,
}

fn days(c: &Client, q: &ReportQuery) -> Result<(Option<String>, Option<String>)> {
    if q.client_id.as_ref().is_some_and(|id| *id != c.client_id) {
        return Err(RrrError::Unauthorized(
            "a client reads its own reports only".into(),
        ));
    }
    let day = |field: &str, v: Option<&str>| {
        v.map(|v| {
            time::query_day(v)
                .map(|d| d.to_string())
                .map_err(|m| RrrError::field(field, m))
        })
        .transpose()
    };
    let (from, to) = (day("from", q.from.as_deref())?, day("to", q.to.as_deref())?);
    if let (Some(f), Some(t)) = (&from, &to) {
        if f > t {
            return Err(RrrError::field("to", "must not be before from"));
        }
    }
    Ok((from, to))
}

/// The liability report (§14.1), in points: O(days), from the daily aggregates.
#[utoipa::path(get, path = "/v1/reports/liability", tag = "rrr", params(ReportQuery),
    security(("bearer" = [])),
    responses((status = 200, body = reads::LiabilityReport), (status = 422, body = ErrorBody)))]
pub async fn liability(
    c: Client,
    state: web::Data<RrrState>,
    query: web::Query<ReportQuery>,
) -> Result<HttpResponse> {
    let (from, to) = days(&c, &query)?;
    let report = state
        .ledger
        .read(move |r| reads::liability(r, &c, from, to))
        .await?;
    Ok(HttpResponse::Ok().json(report))
}

/// Segments of the earns (§14.2): by tier, promotion or cohort; no PII.
#[utoipa::path(get, path = "/v1/reports/segments", tag = "rrr", params(ReportQuery),
    security(("bearer" = [])),
    responses((status = 200, body = reads::SegmentsReport), (status = 422, body = ErrorBody)))]
pub async fn segments(
    c: Client,
    state: web::Data<RrrState>,
    query: web::Query<ReportQuery>,
) -> Result<HttpResponse> {
    let (from, to) = days(&c, &query)?;
    let group_by = match query.group_by.as_deref() {
        Some(g @ ("tier" | "promotion" | "cohort")) => g.to_string(),
        _ => {
            return Err(RrrError::field(
                "group_by",
                "must be tier, promotion or cohort",
            ))
        }
    };
    let report = state
        .ledger
        .read(move |r| reads::segments(r, &c, &group_by, from, to))
        .await?;
    Ok(HttpResponse::Ok().json(report))
}

/// A path no RRR route serves.
pub async fn no_route(req: HttpRequest) -> Result<HttpResponse> {
    Err(RrrError::NotFound(format!(
        "no route for {} {}",
        req.method(),
        req.path()
    )))
}

/// A method the route does not take.
pub async fn wrong_method(req: HttpRequest) -> Result<HttpResponse> {
    Err(RrrError::MethodNotAllowed(format!(
        "{} is not allowed on {}",
        req.method(),
        req.path()
    )))
}
