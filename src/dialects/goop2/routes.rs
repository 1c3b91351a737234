//! Goop2 HTTP handlers: extract, call one operation, render. Routes of
//! goop2-credit-system.md ("API Design") and of the real Goop2 peer (field-notes §1).

use actix_web::http::header;
use actix_web::{web, HttpMessage, HttpRequest, HttpResponse};
use serde_json::Value;

use super::campaigns::{self, Redeemed, ReferralRules, REFERRAL_WINDOW};
use super::error::Goop2Error;
use super::limits::Limit;
use super::ops::{self, PurchaseOutcome};
use super::presence::PING_INTERVAL;
use super::repo::NewCampaign;
use super::wire::*;
use super::Goop2State as AppState;
use crate::auth::PeerIdentity;
use crate::catalog::Template;
use crate::http::{AuthenticationInfo, JsonBody};
use crate::ledger::{Amount, Bucket, LedgerError};
use crate::payments::stripe::CheckoutError;

type Result<T> = std::result::Result<T, Goop2Error>;

/// The peer of `req`, required. A completed handshake's `Authentication-Info` is
/// attached to the response by the app's middleware.
fn peer(state: &AppState, req: &HttpRequest) -> Result<PeerIdentity> {
    let identity = state.peers.require(req)?;
    remember_auth_info(req, &identity);
    Ok(identity)
}

/// The peer of `req`, if it sent credentials.
fn maybe_peer(state: &AppState, req: &HttpRequest) -> Result<Option<PeerIdentity>> {
    let identity = state.peers.identify(req)?;
    if let Some(identity) = &identity {
        remember_auth_info(req, identity);
    }
    Ok(identity)
}

/// The peer of `req`, required, after taking one request from its `limit`. Returns
/// the peer id as text.
fn limited_peer(state: &AppState, req: &HttpRequest, limit: Limit) -> Result<String> {
    let id = peer(state, req)?.peer.to_string();
    state.limits.check(limit, &id)?;
    Ok(id)
}

fn remember_auth_info(req: &HttpRequest, identity: &PeerIdentity) {
    if let Some(info) = &identity.authentication_info {
        req.extensions_mut()
            .insert(AuthenticationInfo(info.clone()));
    }
}

fn admin(state: &AppState, req: &HttpRequest) -> Result<()> {
    let authorization = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    Ok(state.admin.check(authorization)?)
}

fn template<'a>(state: &'a AppState, name: &str) -> Result<&'a std::sync::Arc<Template>> {
    state
        .catalog
        .get(name)
        .ok_or_else(|| Goop2Error::NotFound(format!("unknown template {name:?}")))
}

/// The price a caller pays: 0 when credits are off.
fn price(state: &AppState, t: &Template) -> i64 {
    if state.settings.credits_enabled {
        t.price
    } else {
        0
    }
}

async fn available(state: &AppState, peer: &str) -> Result<i64> {
    let tenant = state.tenant.clone();
    let peer = peer.to_string();
    let account = state
        .ledger
        .read(move |r| r.account(&tenant, &peer))
        .await?;
    Ok(account.map_or(0, |a| a.available))
}

/// The names of the templates `peer` owns, and the balance.
async fn holdings(state: &AppState, peer: &str) -> Result<(i64, Vec<String>)> {
    let tenant = state.tenant.clone();
    let peer = peer.to_string();
    Ok(state
        .ledger
        .read(move |r| match r.account(&tenant, &peer)? {
            Some(a) => Ok::<_, LedgerError>((
                a.available,
                ops::owned_templates(r, a.id)?
                    .into_iter()
                    .map(|o| o.template)
                    .collect(),
            )),
            None => Ok((0, Vec::new())),
        })
        .await?)
}

/// Parses a peer id given in a body, naming the field.
pub(crate) fn parse_peer_id(text: &str) -> Result<String> {
    text.trim()
        .parse::<libp2p::PeerId>()
        .map(|p| p.to_string())
        .map_err(|_| Goop2Error::BadRequest("peer_id: not a valid libp2p peer id".into()))
}

/// A note of at most 500 bytes.
pub(crate) fn check_note(note: &Option<String>) -> Result<()> {
    match note {
        Some(n) if n.len() > 500 => Err(Goop2Error::BadRequest("note: at most 500 bytes".into())),
        _ => Ok(()),
    }
}

/// Sends `low_balance` on `peer`'s event streams when a debit of `spent` credits took
/// its balance from at or above `goop2.low_balance_threshold` to below it.
fn notify_low_balance(state: &AppState, peer: &str, spent: i64, new_balance: i64) {
    let threshold = state.settings.low_balance_threshold;
    if new_balance < threshold && new_balance + spent >= threshold {
        state.presence.notify(
            peer,
            "low_balance",
            &serde_json::json!({
                "type": "low_balance",
                "peerId": peer,
                "balance": new_balance,
                "threshold": threshold,
            }),
        );
    }
}

/// The caller's balance.
#[utoipa::path(get, path = "/api/credits/balance", tag = "goop2",
    params(PeerQuery),
    responses((status = 200, body = BalanceResponse), (status = 401, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn balance(
    state: web::Data<AppState>,
    req: HttpRequest,
    _q: web::Query<PeerQuery>,
) -> Result<HttpResponse> {
    let id = limited_peer(&state, &req, Limit::Balance)?;
    let balance = available(&state, &id).await?;
    Ok(HttpResponse::Ok().json(BalanceResponse {
        balance,
        low_balance: balance < state.settings.low_balance_threshold,
        peer_id: id,
    }))
}

/// The caller's history, newest first.
#[utoipa::path(get, path = "/api/credits/transactions", tag = "goop2",
    params(TransactionsQuery),
    responses((status = 200, body = TransactionsResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn transactions(
    state: web::Data<AppState>,
    req: HttpRequest,
    q: web::Query<TransactionsQuery>,
) -> Result<HttpResponse> {
    let id = limited_peer(&state, &req, Limit::Transactions)?;
    let limit = q.limit.unwrap_or(20);
    if !(1..=100).contains(&limit) {
        return Err(Goop2Error::BadRequest("limit: must be 1 to 100".into()));
    }
    let offset = q.offset.unwrap_or(0);
    let tenant = state.tenant.clone();
    let (transactions, total) = state
        .ledger
        .read(move |r| {
            // The page and its total agree.
            r.in_snapshot(|r| {
                let Some(account) = r.account(&tenant, &id)? else {
                    return Ok::<_, LedgerError>((Vec::new(), 0));
                };
                let entries = r.entries(account.id, Bucket::Available, limit, offset)?;
                let total = r.entry_count(account.id, Bucket::Available)?;
                Ok((entries, total))
            })
        })
        .await?;
    Ok(HttpResponse::Ok().json(TransactionsResponse {
        transactions: transactions
            .into_iter()
            .map(|e| Transaction {
                id: e.id,
                amount: e.amount,
                balance: e.balance_after,
                kind: e.kind,
                ref_type: e.ref_type,
                ref_id: e.ref_id,
                note: e.note,
                created_at: e.created_at,
            })
            .collect(),
        total,
    }))
}

/// Buys a template: `ok`, `already_owned`, `free`, or 402 with the shortfall.
#[utoipa::path(post, path = "/api/credits/purchase", tag = "goop2",
    request_body = TemplateRequest,
    responses((status = 200, body = PurchaseResponse), (status = 402, body = ErrorBody), (status = 404, body = ErrorBody), (status = 400, body = ErrorBody)))]
pub async fn purchase(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: JsonBody<TemplateRequest>,
) -> Result<HttpResponse> {
    let id = limited_peer(&state, &req, Limit::Purchase)?;
    let t = template(&state, &body.value.template)?.clone();
    if price(&state, &t) == 0 {
        return Ok(HttpResponse::Ok().json(PurchaseResponse {
            status: "free".into(),
            template: t.dir.clone(),
            price: None,
            new_balance: None,
        }));
    }
    let tenant = state.tenant.clone();
    let unit_template = t.clone();
    let buyer = id.clone();
    let outcome = state
        .ledger
        .run(move |tx| ops::purchase(tx, &tenant, &buyer, &unit_template))
        .await?;
    if let PurchaseOutcome::Bought { new_balance } = outcome {
        notify_low_balance(&state, &id, t.price, new_balance);
    }
    Ok(HttpResponse::Ok().json(match outcome {
        PurchaseOutcome::Bought { new_balance } => PurchaseResponse {
            status: "ok".into(),
            template: t.dir.clone(),
            price: Some(t.price),
            new_balance: Some(new_balance),
        },
        PurchaseOutcome::AlreadyOwned { .. } => PurchaseResponse {
            status: "already_owned".into(),
            template: t.dir.clone(),
            price: None,
            new_balance: None,
        },
    }))
}

/// The credit bundles on sale (no authentication), and whether checkout is open.
#[utoipa::path(get, path = "/api/credits/bundles", tag = "goop2",
    responses((status = 200, body = BundlesResponse)))]
pub async fn bundles(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(BundlesResponse {
        bundles: state.settings.bundles.clone(),
        checkout_available: state.checkout.is_some() && state.settings.credits_enabled,
    })
}

/// Opens a Stripe Checkout for a credit bundle, for the authenticated peer. The
/// credits arrive with Stripe's webhook as a `buy` entry. 503 when the node has no
/// `[goop2.stripe]`; 404 for an unknown bundle; 502 when Stripe cannot open it.
#[utoipa::path(post, path = "/api/credits/checkout", tag = "goop2",
    request_body = BundleCheckoutRequest,
    responses((status = 200, body = BundleCheckoutResponse), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 502, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn checkout(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: JsonBody<BundleCheckoutRequest>,
) -> Result<HttpResponse> {
    let id = limited_peer(&state, &req, Limit::Purchase)?;
    let stripe = state
        .checkout
        .as_ref()
        .filter(|_| state.settings.credits_enabled)
        .ok_or_else(|| {
            Goop2Error::Unavailable(
                "checkout is not available on this node: contact the server admin for more credits"
                    .into(),
            )
        })?;
    let bundle = state
        .settings
        .bundles
        .iter()
        .find(|b| b.id == body.value.bundle)
        .ok_or_else(|| Goop2Error::NotFound(format!("unknown bundle {:?}", body.value.bundle)))?;
    let started = stripe
        .start(
            &state.ledger,
            &state.tenant,
            &id,
            &super::merchant::offer(bundle),
            &uuid::Uuid::new_v4().to_string(),
        )
        .await
        .map_err(|e| match e {
            CheckoutError::Provider(detail) => {
                tracing::warn!(%detail, "Stripe checkout failed");
                Goop2Error::BadGateway(
                    "the payment provider could not open a checkout; no payment was taken".into(),
                )
            }
            CheckoutError::Ledger(e) => Goop2Error::from(e),
        })?;
    Ok(HttpResponse::Ok().json(BundleCheckoutResponse {
        checkout_url: started.checkout_url,
        session_id: started.session_id,
    }))
}

/// The caller's owned templates.
#[utoipa::path(get, path = "/api/credits/purchases", tag = "goop2",
    params(PeerQuery),
    responses((status = 200, body = PurchasesResponse), (status = 401, body = ErrorBody)))]
pub async fn purchases(
    state: web::Data<AppState>,
    req: HttpRequest,
    _q: web::Query<PeerQuery>,
) -> Result<HttpResponse> {
    let id = limited_peer(&state, &req, Limit::Balance)?;
    let tenant = state.tenant.clone();
    let owned = state
        .ledger
        .read(move |r| match r.account(&tenant, &id)? {
            Some(a) => ops::owned_templates(r, a.id),
            None => Ok(Vec::new()),
        })
        .await?;
    Ok(HttpResponse::Ok().json(PurchasesResponse {
        purchases: owned
            .into_iter()
            .map(|o| Purchase {
                template: o.template,
                price_paid: o.price_paid,
                purchased_at: o.purchased_at,
            })
            .collect(),
    }))
}

/// Admin: grants credits to a peer.
#[utoipa::path(post, path = "/api/credits/grant", tag = "admin",
    request_body = GrantRequest,
    responses((status = 200, body = GrantResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn grant(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: JsonBody<GrantRequest>,
) -> Result<HttpResponse> {
    admin(&state, &req)?;
    let body = body.value;
    let peer = parse_peer_id(&body.peer_id)?;
    check_note(&body.note)?;
    let amount = Amount::new(body.amount)
        .ok_or_else(|| Goop2Error::BadRequest("amount: must be a whole number > 0".into()))?;
    let tenant = state.tenant.clone();
    let new_balance = state
        .ledger
        .run(move |tx| ops::grant(tx, &tenant, &peer, amount, body.note))
        .await?;
    Ok(HttpResponse::Ok().json(GrantResponse {
        status: "ok".into(),
        new_balance,
    }))
}

/// Admin: refunds an owned template and revokes ownership.
#[utoipa::path(post, path = "/api/credits/refund", tag = "admin",
    request_body = RefundRequest,
    responses((status = 200, body = RefundResponse), (status = 404, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn refund(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: JsonBody<RefundRequest>,
) -> Result<HttpResponse> {
    admin(&state, &req)?;
    let body = body.value;
    let peer = parse_peer_id(&body.peer_id)?;
    check_note(&body.note)?;
    let tenant = state.tenant.clone();
    let name = body.template.clone();
    let (refunded, new_balance) = state
        .ledger
        .run(move |tx| ops::refund(tx, &tenant, &peer, &name, body.note))
        .await?;
    Ok(HttpResponse::Ok().json(RefundResponse {
        status: "ok".into(),
        template: body.template,
        refunded,
        new_balance,
    }))
}

/// The catalog with price and ownership for the caller.
#[utoipa::path(get, path = "/api/templates/list", tag = "goop2",
    params(PeerQuery),
    responses((status = 200, body = [TemplateListing])))]
pub async fn list(
    state: web::Data<AppState>,
    req: HttpRequest,
    _q: web::Query<PeerQuery>,
) -> Result<HttpResponse> {
    let who = maybe_peer(&state, &req)?;
    let owned: Vec<String> = match &who {
        Some(w) => holdings(&state, &w.peer.to_string()).await?.1,
        None => Vec::new(),
    };
    let listing: Vec<TemplateListing> = state
        .catalog
        .iter()
        .map(|t| {
            let price = price(&state, t);
            TemplateListing {
                name: t.dir.clone(),
                title: t.title.clone(),
                price,
                owned: price == 0 || owned.contains(&t.dir),
                version: t.version.clone(),
            }
        })
        .collect();
    Ok(HttpResponse::Ok().json(listing))
}

/// Serves a bundle after the credit check: free, credits off, or owned; else 402
/// (401 with a challenge when the caller sent no credentials).
async fn gated_bundle(state: &AppState, req: &HttpRequest, name: &str) -> Result<HttpResponse> {
    let t = template(state, name)?.clone();
    if price(state, &t) > 0 {
        let who = match maybe_peer(state, req)? {
            Some(w) => w,
            None => peer(state, req)?,
        };
        let id = who.peer.to_string();
        let tenant = state.tenant.clone();
        let credits_enabled = state.settings.credits_enabled;
        let unit_template = t.clone();
        let allowed = state
            .ledger
            .read(move |r| {
                ops::may_download(r, &tenant, Some(&id), &unit_template, credits_enabled)
            })
            .await?;
        if !allowed {
            return Err(Goop2Error::PaymentRequired {
                template: t.dir.clone(),
                price: t.price,
            });
        }
    }
    Ok(HttpResponse::Ok()
        .content_type("application/gzip")
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{}.tar.gz\"", t.dir),
        ))
        .body(t.bundle.clone()))
}

/// Downloads a template bundle (tar.gz); 402 unless free or owned.
#[utoipa::path(get, path = "/api/templates/download", tag = "goop2",
    params(DownloadQuery),
    responses((status = 200, content_type = "application/gzip", description = "tar.gz of {dir}/{files}"), (status = 402, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn download(
    state: web::Data<AppState>,
    req: HttpRequest,
    q: web::Query<DownloadQuery>,
) -> Result<HttpResponse> {
    gated_bundle(&state, &req, &q.name).await
}

/// Liveness: `ok`.
#[utoipa::path(get, path = "/healthz", tag = "ops", responses((status = 200, body = String)))]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("ok")
}

/// Records a presence message (field-notes §1); 204.
#[utoipa::path(post, path = "/publish", tag = "goop2",
    request_body = PublishRequest,
    responses((status = 204), (status = 400, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn publish(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: JsonBody<PublishRequest>,
) -> Result<HttpResponse> {
    let ip = req
        .peer_addr()
        .map(|a| a.ip().to_string())
        .unwrap_or_default();
    state.limits.check(Limit::Publish, &ip)?;
    let body = body.value;
    if !matches!(body.kind.as_str(), "online" | "update" | "offline") {
        return Err(Goop2Error::BadRequest(
            "type: must be online, update or offline".into(),
        ));
    }
    if body.peer_id.is_empty() || body.peer_id.chars().count() > 256 {
        return Err(Goop2Error::BadRequest(
            "peerId: required, at most 256 characters".into(),
        ));
    }
    for (field, value, max) in [
        ("content", &body.content, 4096),
        ("email", &body.email, 320),
        ("avatarHash", &body.avatar_hash, 256),
    ] {
        if value.as_ref().is_some_and(|v| v.chars().count() > max) {
            return Err(Goop2Error::BadRequest(format!(
                "{field}: at most {max} characters"
            )));
        }
    }
    state.presence.publish(&body).map_err(|_| {
        Goop2Error::Unavailable("too many peers are online: try again later".into())
    })?;
    Ok(HttpResponse::NoContent().finish())
}

/// Presence as Server-Sent Events, with a `: ping` every 25 s. With a peer's
/// credentials the stream also carries that peer's `event: low_balance` notices
/// (`{"type": "low_balance", "peerId", "balance", "threshold"}`) when a purchase takes
/// its balance below `goop2.low_balance_threshold`.
#[utoipa::path(get, path = "/events", tag = "goop2",
    responses((status = 200, content_type = "text/event-stream", description = "data: <presence JSON> lines; event: low_balance for the authenticated peer"),
        (status = 401, body = ErrorBody)))]
pub async fn events(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse> {
    let viewer = maybe_peer(&state, &req)?.map(|w| w.peer.to_string());
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .streaming(state.presence.subscribe(PING_INTERVAL, viewer)))
}

/// Redeems a campaign code or an invite code for the caller (goop2-credit-system.md,
/// "Phase 3"): a `promo` or `referral` entry. 404 for an unknown code; 409 with the
/// rule that refused it (`campaign_not_open`, `campaign_exhausted`,
/// `already_redeemed`, `own_code`, `already_referred`, `referral_window_closed`).
#[utoipa::path(post, path = "/api/credits/redeem", tag = "goop2",
    request_body = RedeemRequest,
    responses((status = 200, body = RedeemResponse), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn redeem(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: JsonBody<RedeemRequest>,
) -> Result<HttpResponse> {
    let id = limited_peer(&state, &req, Limit::Purchase)?;
    let tenant = state.tenant.clone();
    let rules = ReferralRules {
        bonus: state.settings.referral_bonus,
        cap: state.settings.referral_cap,
    };
    let code = body.value.code;
    let redeemed = state
        .ledger
        .run(move |tx| campaigns::redeem(tx, &tenant, &id, &code, rules))
        .await?;
    let (kind, amount, new_balance) = match redeemed {
        Redeemed::Campaign {
            amount,
            new_balance,
        } => ("campaign", amount, new_balance),
        Redeemed::Referral {
            amount,
            new_balance,
            ..
        } => ("referral", amount, new_balance),
    };
    Ok(HttpResponse::Ok().json(RedeemResponse {
        status: "ok".into(),
        kind: kind.into(),
        amount,
        new_balance,
    }))
}

/// The caller's invite code (made on first call) and the referral rules.
#[utoipa::path(get, path = "/api/credits/referral", tag = "goop2",
    responses((status = 200, body = ReferralResponse), (status = 401, body = ErrorBody)))]
pub async fn referral(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse> {
    let id = limited_peer(&state, &req, Limit::Balance)?;
    let tenant = state.tenant.clone();
    let (code, bonuses_received) = state
        .ledger
        .run(move |tx| campaigns::invite_code(tx, &tenant, &id))
        .await?;
    Ok(HttpResponse::Ok().json(ReferralResponse {
        code,
        bonus: state.settings.referral_bonus,
        cap: state.settings.referral_cap,
        bonuses_received,
        window_hours: REFERRAL_WINDOW.as_secs() / 3600,
    }))
}

/// Admin: makes a campaign code. 409 `code_taken` when the code is in use.
#[utoipa::path(post, path = "/api/credits/campaigns", tag = "admin",
    request_body = CampaignRequest,
    responses((status = 200, body = CampaignView), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create_campaign(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: JsonBody<CampaignRequest>,
) -> Result<HttpResponse> {
    admin(&state, &req)?;
    let b = body.value;
    let campaign = NewCampaign {
        code: b.code,
        amount: b.amount,
        starts_at: b
            .starts_at
            .unwrap_or_else(|| jiff::Timestamp::now().to_string()),
        ends_at: b.ends_at,
        max_redemptions: b.max_redemptions,
        note: b.note,
    };
    let tenant = state.tenant.clone();
    let made = state
        .ledger
        .run(move |tx| campaigns::create_campaign(tx, &tenant, campaign))
        .await?;
    Ok(HttpResponse::Ok().json(CampaignView::from(made)))
}

/// Admin: every campaign, newest first.
#[utoipa::path(get, path = "/api/credits/campaigns", tag = "admin",
    responses((status = 200, body = CampaignsResponse), (status = 401, body = ErrorBody)))]
pub async fn list_campaigns(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse> {
    admin(&state, &req)?;
    let tenant = state.tenant.clone();
    let all = state
        .ledger
        .read(move |r| campaigns::campaigns(r, &tenant))
        .await?;
    Ok(HttpResponse::Ok().json(CampaignsResponse {
        campaigns: all.into_iter().map(CampaignView::from).collect(),
    }))
}

fn manifest_json(t: &Template, state: &AppState) -> Value {
    let mut m = t.manifest.clone();
    m.insert("dir".into(), Value::from(t.dir.clone()));
    m.insert("source".into(), Value::from("store"));
    m.insert("price".into(), Value::from(price(state, t)));
    Value::Object(m)
}

/// Every manifest, with `dir` and `source: "store"` added (field-notes §1).
#[utoipa::path(get, path = "/api/templates", tag = "goop2",
    responses((status = 200, description = "array of manifests")))]
pub async fn manifests(state: web::Data<AppState>) -> HttpResponse {
    let all: Vec<Value> = state
        .catalog
        .iter()
        .map(|t| manifest_json(t, &state))
        .collect();
    HttpResponse::Ok().json(all)
}

/// One manifest.
#[utoipa::path(get, path = "/api/templates/{dir}/manifest.json", tag = "goop2",
    params(("dir" = String, Path, description = "template folder")),
    responses((status = 200, description = "the manifest"), (status = 404, body = ErrorBody)))]
pub async fn manifest(state: web::Data<AppState>, dir: web::Path<String>) -> Result<HttpResponse> {
    let t = template(&state, &dir)?;
    Ok(HttpResponse::Ok().json(manifest_json(t, &state)))
}

/// A template's bundle, gated like `/api/templates/download`.
#[utoipa::path(get, path = "/api/templates/{dir}/bundle", tag = "goop2",
    params(("dir" = String, Path, description = "template folder"), PeerQuery),
    responses((status = 200, content_type = "application/gzip", description = "tar.gz"), (status = 402, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn bundle(
    state: web::Data<AppState>,
    req: HttpRequest,
    dir: web::Path<String>,
    _q: web::Query<PeerQuery>,
) -> Result<HttpResponse> {
    gated_bundle(&state, &req, &dir).await
}

/// `{"<dir>": price, …}`.
#[utoipa::path(get, path = "/api/templates/prices", tag = "goop2",
    responses((status = 200, description = "map of template folder to price")))]
pub async fn prices(state: web::Data<AppState>) -> HttpResponse {
    let map: serde_json::Map<String, Value> = state
        .catalog
        .iter()
        .map(|t| (t.dir.clone(), Value::from(price(&state, t))))
        .collect();
    HttpResponse::Ok().json(map)
}

/// Balance and owned templates in one call (field-notes §1).
#[utoipa::path(get, path = "/api/credits/store-data", tag = "goop2",
    params(PeerQuery),
    responses((status = 200, body = StoreDataResponse), (status = 401, body = ErrorBody)))]
pub async fn store_data(
    state: web::Data<AppState>,
    req: HttpRequest,
    _q: web::Query<PeerQuery>,
) -> Result<HttpResponse> {
    let id = limited_peer(&state, &req, Limit::Balance)?;
    let (balance, owned) = holdings(&state, &id).await?;
    Ok(HttpResponse::Ok().json(StoreDataResponse {
        credits_active: state.settings.credits_enabled,
        balance,
        owned_templates: owned,
    }))
}

/// Buys a template the way Goop2 peers call it: `{"balance", "owned"}`; 402 when
/// short (field-notes §1).
#[utoipa::path(post, path = "/api/credits/spend", tag = "goop2",
    request_body = TemplateRequest,
    responses((status = 200, body = SpendResponse), (status = 402, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn spend(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: JsonBody<TemplateRequest>,
) -> Result<HttpResponse> {
    let id = limited_peer(&state, &req, Limit::Purchase)?;
    let t = template(&state, &body.value.template)?.clone();
    if price(&state, &t) == 0 {
        return Ok(HttpResponse::Ok().json(SpendResponse {
            balance: available(&state, &id).await?,
            owned: true,
        }));
    }
    let tenant = state.tenant.clone();
    let (buyer, price) = (id.clone(), t.price);
    let outcome = state
        .ledger
        .run(move |tx| ops::purchase(tx, &tenant, &buyer, &t))
        .await?;
    let balance = match outcome {
        PurchaseOutcome::Bought { new_balance } => {
            notify_low_balance(&state, &id, price, new_balance);
            new_balance
        }
        PurchaseOutcome::AlreadyOwned { balance } => balance,
    };
    Ok(HttpResponse::Ok().json(SpendResponse {
        balance,
        owned: true,
    }))
}

/// The node's identity and addresses.
#[utoipa::path(get, path = "/api/node", tag = "goop2", responses((status = 200, body = NodeResponse)))]
pub async fn node(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(NodeResponse {
        peer_id: state.node.peer_id.to_string(),
        listen_addrs: state.node.listen_addrs(),
        namespace: state.settings.namespace.clone(),
        version: env!("CARGO_PKG_VERSION").to_string(),
    })
}
