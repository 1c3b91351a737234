//! Who calls an RRR route (contract §3.2, §4.2): a client of a tenant, with the bearer
//! of `POST /oauth/token` and its id in `X-Client-Id`; or the node's operator with
//! the admin token (RRR admin approvals). Also the request trace (`X-Request-Trace`)
//! and each client's rate limit.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue, AUTHORIZATION};
use actix_web::middleware::Next;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
use futures::future::{ready, Ready};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tracing::Instrument;

use super::error::RrrError;
use super::settings::RrrTenant;
use crate::auth::oauth::{TokenError, TokenIssuer};
use crate::auth::AdminAuth;
use crate::ledger::{Ledger, LedgerError, TenantId};

/// The client id header.
pub const CLIENT_ID_HEADER: &str = "X-Client-Id";
/// The trace header, echoed on every response.
pub const TRACE_HEADER: &str = "X-Request-Trace";
/// Longest trace accepted as sent (a longer or odd one is replaced by a new UUID).
pub const MAX_TRACE_LEN: usize = 128;

/// One RRR tenant as the routes use it.
pub struct Tenant {
    /// Its id.
    pub id: TenantId,
    /// Its settings.
    pub settings: RrrTenant,
    /// `redemption.max_fraction` in basis points.
    pub max_fraction_bp: i64,
    limiter: DefaultKeyedRateLimiter<String>,
}

/// What the RRR routes share.
pub struct RrrState {
    /// The ledger core.
    pub ledger: Ledger,
    /// The tenants, by id.
    pub tenants: HashMap<String, Arc<Tenant>>,
    /// Every client: its tenant and the SHA-256 of its secret, by client id.
    clients: HashMap<String, (Arc<Tenant>, [u8; 32])>,
    /// Issues and checks bearers.
    pub issuer: TokenIssuer,
    /// The operator's admin token (RRR admin approvals).
    pub admin: AdminAuth,
    /// Largest request body, bytes.
    pub max_body_bytes: usize,
    clock: DefaultClock,
}

impl RrrState {
    /// The state of `tenants` on `ledger`; bearers are signed with a key derived from
    /// `node_secret`.
    ///
    /// # Errors
    /// [`LedgerError::Invalid`] for an invalid tenant id, a bad setting or a client id
    /// used twice.
    pub fn new(
        ledger: Ledger,
        tenants: &[RrrTenant],
        node_secret: &[u8],
        admin: AdminAuth,
        max_body_bytes: usize,
    ) -> Result<RrrState, LedgerError> {
        let mut by_id = HashMap::new();
        let mut clients = HashMap::new();
        for t in tenants {
            let max_fraction_bp = t.max_fraction_bp().map_err(LedgerError::Invalid)?;
            let rps = NonZeroU32::new(t.rate_limit_rps).unwrap_or(NonZeroU32::MIN);
            let burst = NonZeroU32::new(t.rate_limit_burst).unwrap_or(rps);
            let tenant = Arc::new(Tenant {
                id: TenantId::new(t.id.clone())?,
                settings: t.clone(),
                max_fraction_bp,
                limiter: RateLimiter::keyed(Quota::per_second(rps).allow_burst(burst)),
            });
            for c in &t.clients {
                let digest = hex::decode(&c.client_secret_sha256)
                    .ok()
                    .and_then(|d| <[u8; 32]>::try_from(d.as_slice()).ok())
                    .ok_or_else(|| {
                        LedgerError::Invalid(format!(
                            "client {:?}: client_secret_sha256 is not a SHA-256 digest",
                            c.client_id
                        ))
                    })?;
                if clients
                    .insert(c.client_id.clone(), (tenant.clone(), digest))
                    .is_some()
                {
                    return Err(LedgerError::Invalid(format!(
                        "client id {:?} is used by two rrr tenants",
                        c.client_id
                    )));
                }
            }
            by_id.insert(t.id.clone(), tenant);
        }
        Ok(RrrState {
            ledger,
            tenants: by_id,
            clients,
            issuer: TokenIssuer::new(node_secret),
            admin,
            max_body_bytes,
            clock: DefaultClock::default(),
        })
    }

    /// The tenant of `client_id` if `secret` is its secret (compared as SHA-256
    /// digests, in constant time).
    pub fn client_credentials(&self, client_id: &str, secret: &str) -> Option<Arc<Tenant>> {
        let (tenant, digest) = self.clients.get(client_id)?;
        let given: [u8; 32] = Sha256::digest(secret.as_bytes()).into();
        bool::from(given.ct_eq(digest)).then(|| tenant.clone())
    }

    /// The tenant of a configured client.
    pub fn tenant_of_client(&self, client_id: &str) -> Option<Arc<Tenant>> {
        self.clients.get(client_id).map(|(t, _)| t.clone())
    }

    /// Takes one request of `client_id` from its tenant's limit.
    fn admit(&self, tenant: &Tenant, client_id: &str) -> Result<(), RrrError> {
        tenant
            .limiter
            .check_key(&client_id.to_string())
            .map_err(|not_until| {
                let wait = not_until.wait_time_from(self.clock.now());
                RrrError::RateLimited {
                    retry_after_secs: wait.as_secs() + u64::from(wait.subsec_nanos() > 0),
                }
            })
    }

    /// Forgets clients back at a full quota (called periodically).
    pub fn shrink(&self) {
        for t in self.tenants.values() {
            t.limiter.retain_recent();
            t.limiter.shrink_to_fit();
        }
    }
}

/// The request's trace id: `X-Request-Trace` as sent, or a new UUID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trace(pub String);

/// Middleware of the RRR routes: reads or mints the trace, runs the request in a
/// span that carries it (every log line of the request names it) and echoes it on the
/// response, errors included.
pub async fn trace(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let sent = req
        .headers()
        .get(TRACE_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|t| {
            !t.is_empty()
                && t.len() <= MAX_TRACE_LEN
                && t.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_:.".contains(&b))
        });
    let trace = sent.map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_string);
    req.extensions_mut().insert(Trace(trace.clone()));
    let span = tracing::info_span!("rrr", trace = %trace);
    let mut response = next.call(req).instrument(span).await?;
    if let Ok(value) = HeaderValue::from_str(&trace) {
        response
            .headers_mut()
            .insert(HeaderName::from_static("x-request-trace"), value);
    }
    Ok(response)
}

/// The bearer of an `Authorization` header.
fn bearer(req: &HttpRequest) -> Option<&str> {
    let value = req.headers().get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

fn state(req: &HttpRequest) -> Result<&web::Data<RrrState>, RrrError> {
    req.app_data::<web::Data<RrrState>>()
        .ok_or_else(|| RrrError::Internal("the rrr state is not registered".into()))
}

/// The current unix time, seconds.
pub fn unix_now() -> u64 {
    u64::try_from(jiff::Timestamp::now().as_second()).unwrap_or(0)
}

/// `X-Client-Id` as sent, trimmed.
fn client_id_header(req: &HttpRequest) -> Option<&str> {
    req.headers()
        .get(CLIENT_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

fn trace_of(req: &HttpRequest) -> String {
    req.extensions()
        .get::<Trace>()
        .map_or_else(String::new, |t| t.0.clone())
}

/// An authenticated client: a valid bearer, an `X-Client-Id` equal to its client, an
/// active tenant, within the rate limit.
#[derive(Clone)]
pub struct Client {
    /// The client's tenant.
    pub tenant: Arc<Tenant>,
    /// The client id.
    pub client_id: String,
    /// The request's trace.
    pub trace: String,
}

impl Client {
    /// Identifies the client of `req`.
    ///
    /// # Errors
    /// 401 without a valid bearer (or for a client no longer configured), 403 for a
    /// missing or other `X-Client-Id` or an inactive tenant, 429 over the limit.
    pub fn identify(req: &HttpRequest) -> Result<Client, RrrError> {
        let state = state(req)?;
        let token = bearer(req).ok_or_else(|| {
            RrrError::Unauthenticated(
                "send Authorization: Bearer <access token> from POST /oauth/token".into(),
            )
        })?;
        let claims = state
            .issuer
            .verify(token, unix_now())
            .map_err(|e| match e {
                TokenError::Expired => RrrError::Unauthenticated(
                    "the access token has expired: request a new one".into(),
                ),
                TokenError::Invalid => {
                    RrrError::Unauthenticated("the access token is not valid".into())
                }
            })?;
        let tenant = state
            .tenant_of_client(&claims.client_id)
            .filter(|t| t.id.as_str() == claims.tenant)
            .ok_or_else(|| {
                RrrError::Unauthenticated("the token's client is no longer registered".into())
            })?;
        match client_id_header(req) {
            None | Some("") => {
                return Err(RrrError::Unauthorized(format!(
                    "{CLIENT_ID_HEADER} is required and must name the token's client"
                )))
            }
            Some(h) if h != claims.client_id => {
                return Err(RrrError::Unauthorized(format!(
                    "{CLIENT_ID_HEADER} does not match the access token's client"
                )))
            }
            Some(_) => {}
        }
        if !tenant.settings.active {
            return Err(RrrError::Unauthorized("this tenant is inactive".into()));
        }
        state.admit(&tenant, &claims.client_id)?;
        Ok(Client {
            tenant,
            client_id: claims.client_id,
            trace: trace_of(req),
        })
    }
}

impl FromRequest for Client {
    type Error = RrrError;
    type Future = Ready<Result<Client, RrrError>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        ready(Client::identify(req))
    }
}

/// Who approves a promotion: a client (its admins, `CLIENT_ADMIN`) with its bearer,
/// or the node's operator (`RRR_ADMIN`) with the admin token and the promotion's
/// client in `X-Client-Id`.
#[derive(Clone)]
pub enum Approver {
    /// A client's bearer.
    Client(Client),
    /// The operator, acting for the client named in `X-Client-Id`.
    RrrAdmin(Client),
}

impl Approver {
    /// The client the approval is about.
    pub fn client(&self) -> &Client {
        match self {
            Approver::Client(c) | Approver::RrrAdmin(c) => c,
        }
    }

    fn identify(req: &HttpRequest) -> Result<Approver, RrrError> {
        let state = state(req)?;
        if let Some(token) = bearer(req) {
            if state.admin.enabled() && state.admin.check(Some(&format!("Bearer {token}"))).is_ok()
            {
                let client_id = client_id_header(req).unwrap_or_default();
                let tenant = state.tenant_of_client(client_id).ok_or_else(|| {
                    RrrError::Unauthorized(format!(
                        "{CLIENT_ID_HEADER} must name the promotion's client"
                    ))
                })?;
                if !tenant.settings.active {
                    return Err(RrrError::Unauthorized("this tenant is inactive".into()));
                }
                return Ok(Approver::RrrAdmin(Client {
                    tenant,
                    client_id: client_id.to_string(),
                    trace: trace_of(req),
                }));
            }
        }
        Client::identify(req).map(Approver::Client)
    }
}

impl FromRequest for Approver {
    type Error = RrrError;
    type Future = Ready<Result<Approver, RrrError>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        ready(Approver::identify(req))
    }
}
