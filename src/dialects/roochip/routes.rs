//! Roochip HTTP handlers: authenticate, validate, run one unit of work (or one read),
//! render. Routes of roochip-lite-integration-guide.md; every amount is ROO printed
//! with [`json_number`] (`5`, `0.01`, `115.5`).
//!
//! POST routes with effects honour an optional `Idempotency-Key`
//! ([`super::body::idempotency`]): the answer is stored with the effect and replayed
//! for the same request (with `Idempotent-Replayed: true`); the same key with another
//! request is 409.

use actix_web::http::header::ContentType;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::Number;

use super::body::{idempotency, Body, OptionalBody};
use super::caller::{AdminCaller, Caller, WalletContext};
use super::error::RoochipError;
use super::ops::{self, Movement, Reply};
use super::settings::{self, CEILING, SCALE};
use super::wire::*;
use super::RoochipState as AppState;
use crate::ledger::{format_minor, json_number, Amount, LedgerTx};
use crate::payments::google::GoogleError;
use crate::payments::ops::PaymentError;
use crate::payments::repo::{Acknowledgement, PaymentReads};
use crate::payments::stripe::CheckoutError;
use crate::payments::{self, Payment, Provider};
use crate::redact;

type Result<T> = std::result::Result<T, RoochipError>;

/// Longest `reason` and `reference_id`, in characters.
pub const MAX_TEXT: usize = 200;

/// Longest `external_user_id`, in characters (and bytes: the ledger keeps holders of
/// at most 256 bytes).
pub const MAX_USER_ID: usize = 256;

/// Validates an `external_user_id` (path or body): 1 to 256 characters (at most 256
/// bytes), not blank, no control characters.
///
/// # Errors
/// 400 naming `external_user_id`.
pub fn external_user_id(text: &str) -> Result<String> {
    let bad = |why: &str| Err(RoochipError::BadRequest(format!("external_user_id: {why}")));
    if text.trim().is_empty() {
        return bad("required: send the app's id of the user (1 to 256 characters)");
    }
    if text.chars().count() > MAX_USER_ID || text.len() > MAX_USER_ID {
        return bad("must be at most 256 characters (256 bytes of UTF-8)");
    }
    if text.chars().any(char::is_control) {
        return bad("must not contain control characters");
    }
    Ok(text.to_string())
}

/// A text field of 1 to [`MAX_TEXT`] characters, not blank.
fn text(field: &str, value: &str) -> Result<String> {
    if value.trim().is_empty() || value.chars().count() > MAX_TEXT {
        return Err(RoochipError::BadRequest(format!(
            "{field}: must be 1 to {MAX_TEXT} characters"
        )));
    }
    Ok(value.to_string())
}

/// `credits`: ROO, > 0, at most 2 decimals, at most the ceiling.
fn credits(number: &Number) -> Result<Amount> {
    Amount::from_json_number(number, SCALE, CEILING)
        .map_err(|e| RoochipError::BadRequest(format!("credits: {e}")))
}

fn movement(body: &CreditsRequest) -> Result<Movement> {
    Ok(Movement {
        amount: credits(&body.credits)?,
        reason: text("reason", &body.reason)?,
        reference_id: body
            .reference_id
            .as_deref()
            .map(|r| text("reference_id", r))
            .transpose()?,
    })
}

/// A page number (default 1) and size (default `default`, at most `max`); returns
/// (page, limit, offset).
fn paging(
    page: Option<&str>,
    limit: Option<&str>,
    default: u32,
    max: u32,
) -> Result<(u32, u32, u64)> {
    let page = match page {
        None => 1,
        Some(p) => p
            .trim()
            .parse::<u32>()
            .ok()
            .filter(|p| *p >= 1)
            .ok_or_else(|| {
                RoochipError::BadRequest("page: must be a whole number of at least 1".into())
            })?,
    };
    let limit = match limit {
        None => default,
        Some(l) => l
            .trim()
            .parse::<u32>()
            .ok()
            .filter(|l| (1..=max).contains(l))
            .ok_or_else(|| {
                RoochipError::BadRequest(format!("limit: must be a whole number from 1 to {max}"))
            })?,
    };
    Ok((page, limit, u64::from(page - 1) * u64::from(limit)))
}

/// ROO hundredths as a wire number.
fn roo(minor: i64) -> Number {
    json_number(minor, SCALE)
}

/// A reply rendered in a unit of work, as the HTTP answer.
fn respond(reply: Reply) -> HttpResponse {
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = HttpResponse::build(status);
    response.content_type(ContentType::json());
    if reply.replayed {
        response.insert_header(("Idempotent-Replayed", "true"));
    }
    response.body(reply.body)
}

/// A user's live balance ("Get User Balance"). A user without a wallet yet has
/// balance 0 and `updated_at` now; nothing is written (the wallet opens on its first
/// write).
#[utoipa::path(get, path = "/v1/users/{external_user_id}/balance", tag = "roochip",
    params(("external_user_id" = String, Path, description = "the app's id of the user")),
    security(("api_key" = [])),
    responses((status = 200, body = BalanceResponse), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn balance(
    caller: Caller,
    state: web::Data<AppState>,
    user: web::Path<String>,
) -> Result<HttpResponse> {
    let user = external_user_id(&user)?;
    let (tenant, holder) = (caller.tenant.clone(), user.clone());
    let account = state
        .ledger
        .read(move |r| r.account(&tenant, &holder))
        .await?;
    let (balance, updated_at) = match account {
        Some(a) => (a.available, a.updated_at),
        None => (0, crate::ledger::timestamp_now()),
    };
    Ok(HttpResponse::Ok().json(BalanceResponse {
        external_user_id: user,
        balance: roo(balance),
        updated_at,
    }))
}

/// A user's ledger entries, newest first, `limit` (default 20) per page ("Get
/// Transaction History").
#[utoipa::path(get, path = "/v1/users/{external_user_id}/transactions", tag = "roochip",
    params(("external_user_id" = String, Path, description = "the app's id of the user"), TransactionsQuery),
    security(("api_key" = [])),
    responses((status = 200, body = TransactionsResponse), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn transactions(
    caller: Caller,
    state: web::Data<AppState>,
    user: web::Path<String>,
    query: web::Query<TransactionsQuery>,
) -> Result<HttpResponse> {
    let user = external_user_id(&user)?;
    let (page, limit, offset) = paging(query.page.as_deref(), query.limit.as_deref(), 20, 100)?;
    let (tenant, holder) = (caller.tenant.clone(), user.clone());
    let (total, entries) = state
        .ledger
        .read(move |r| ops::history(r, &tenant, &holder, limit, offset))
        .await?;
    Ok(HttpResponse::Ok().json(TransactionsResponse {
        external_user_id: user,
        total,
        page,
        limit,
        entries: entries
            .into_iter()
            .map(|e| TransactionEntry {
                id: e.id,
                kind: e.kind,
                credits_delta: roo(e.amount),
                balance_before: roo(e.balance_after - e.amount),
                balance_after: roo(e.balance_after),
                created_at: e.created_at,
                reason: e.note,
                reference_id: e.ref_id,
            })
            .collect(),
    }))
}

/// What deduct, reward and grant share: one unit that moves the body's `credits` on
/// `user`'s wallet with `op` (at most once per `Idempotency-Key`) and answers 200 with
/// `answer(user, credits, new balance)`, amounts as ROO numbers.
async fn move_credits<R: serde::Serialize + 'static>(
    caller: &Caller,
    state: &AppState,
    req: &HttpRequest,
    user: &str,
    body: &Body<CreditsRequest>,
    op: fn(
        &mut LedgerTx<'_>,
        &WalletContext,
        &str,
        &Movement,
    ) -> std::result::Result<i64, RoochipError>,
    answer: fn(String, Number, Number) -> R,
) -> Result<HttpResponse> {
    let user = external_user_id(user)?;
    let m = movement(&body.value)?;
    let idempotency = idempotency(req, caller, &body.raw)?;
    let w = caller.wallet();
    let reply = state
        .ledger
        .run(move |tx| {
            ops::once(tx, idempotency.as_ref(), |tx| {
                let new_balance = op(tx, &w, &user, &m)?;
                Reply::json(
                    200,
                    &answer(user.clone(), roo(m.amount.minor()), roo(new_balance)),
                )
            })
        })
        .await?;
    Ok(respond(reply))
}

/// Deducts ROO for a paid feature, atomically: never below zero, whatever the
/// concurrency ("Deduct Credits"). 402 `{"error": "Insufficient credits"}` when short.
#[utoipa::path(post, path = "/v1/users/{external_user_id}/deduct", tag = "roochip",
    params(("external_user_id" = String, Path, description = "the app's id of the user"),
        ("Idempotency-Key" = Option<String>, Header, description = "makes a retry safe (at most 255 characters)")),
    request_body = CreditsRequest,
    security(("api_key" = [])),
    responses((status = 200, body = DeductResponse), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 402, body = ErrorBody, example = json!({"error": "Insufficient credits"})),
        (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn deduct(
    caller: Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
    user: web::Path<String>,
    body: Body<CreditsRequest>,
) -> Result<HttpResponse> {
    move_credits(
        &caller,
        &state,
        &req,
        &user,
        &body,
        ops::deduct,
        |user, credits, balance| DeductResponse {
            external_user_id: user,
            credits_deducted: credits,
            new_balance: balance,
        },
    )
    .await
}

/// Issues earned ROO, unconditionally (Rooverse applies its own caps first), and
/// writes a `credits.issued` event ("Issue a Reward").
#[utoipa::path(post, path = "/v1/users/{external_user_id}/reward", tag = "roochip",
    params(("external_user_id" = String, Path, description = "the app's id of the user"),
        ("Idempotency-Key" = Option<String>, Header, description = "makes a retry safe (at most 255 characters)")),
    request_body = CreditsRequest,
    security(("api_key" = [])),
    responses((status = 200, body = RewardResponse), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn reward(
    caller: Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
    user: web::Path<String>,
    body: Body<CreditsRequest>,
) -> Result<HttpResponse> {
    move_credits(
        &caller,
        &state,
        &req,
        &user,
        &body,
        ops::reward,
        |user, credits, balance| RewardResponse {
            external_user_id: user,
            credits_rewarded: credits,
            new_balance: balance,
        },
    )
    .await
}

/// Admin: issues ROO to a user (support, promotions) as an `adjustment` entry and
/// writes a `credits.issued` event with `payment_source: "admin"`. Not in the guide:
/// the issuance it lists among those that fire the webhook.
#[utoipa::path(post, path = "/v1/admin/users/{external_user_id}/grant", tag = "roochip-admin",
    params(("external_user_id" = String, Path, description = "the app's id of the user"),
        ("Idempotency-Key" = Option<String>, Header, description = "makes a retry safe (at most 255 characters)")),
    request_body = CreditsRequest,
    security(("api_key" = [])),
    responses((status = 200, body = GrantResponse), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn grant(
    caller: AdminCaller,
    state: web::Data<AppState>,
    req: HttpRequest,
    user: web::Path<String>,
    body: Body<CreditsRequest>,
) -> Result<HttpResponse> {
    move_credits(
        &caller.0,
        &state,
        &req,
        &user,
        &body,
        ops::grant,
        |user, credits, balance| GrantResponse {
            external_user_id: user,
            credits_granted: credits,
            new_balance: balance,
        },
    )
    .await
}

/// The tenant's active credit packages ("Get Available Packages"); `price_amount` in
/// cents.
#[utoipa::path(get, path = "/v1/packages", tag = "roochip",
    security(("api_key" = [])),
    responses((status = 200, body = PackagesResponse), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn packages(caller: Caller) -> Result<HttpResponse> {
    let t = caller.settings();
    let packages = t
        .packages
        .iter()
        .filter(|p| p.active)
        .map(|p| {
            let credits = settings::package_credits(t, p).map_err(RoochipError::Internal)?;
            Ok(Package {
                id: settings::package_id(t, p),
                name: p.name.clone(),
                credits_to_issue: roo(credits.minor()),
                price_amount: p.price_amount,
                currency: p.currency.clone(),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(HttpResponse::Ok().json(PackagesResponse { packages }))
}

/// Checkout ("Buying ROO — Purchase Flow"): with `[tenants.stripe]`, opens a Stripe
/// Checkout Session for the package and answers `{checkout_url, session_id}`; the
/// credits come with Stripe's webhook. Without it, the guide's 503 `coming_soon` ("Phase
/// 1 — Coming soon response"), whatever the body.
///
/// Errors: 400 for a bad body, 404 for an unknown package, 502 when Stripe cannot open
/// the session (nothing is recorded).
#[utoipa::path(post, path = "/v1/checkout", tag = "roochip",
    params(("Idempotency-Key" = Option<String>, Header, description = "sent on to Stripe, so that a retry opens no second session")),
    request_body = CheckoutRequest,
    security(("api_key" = [])),
    responses((status = 200, body = CheckoutResponse), (status = 503, body = ComingSoonResponse),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 502, body = ErrorBody)))]
pub async fn checkout(
    caller: Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
    raw: web::Bytes,
) -> Result<HttpResponse> {
    let Some(stripe) = state.checkout(&caller) else {
        let promo = caller.promo_code_credits()?;
        return Ok(HttpResponse::ServiceUnavailable().json(ComingSoonResponse {
            status: "coming_soon".into(),
            message: format!(
                "Payment system coming soon! In the meantime, request a free {}-credit code.",
                format_minor(promo.minor(), SCALE)
            ),
            request_code_endpoint: "POST /v1/codes/request".into(),
        }));
    };
    let body: CheckoutRequest = super::body::parse(&raw)?;
    let user = external_user_id(&body.external_user_id)?;
    let offer = super::merchant::offer(caller.settings(), &body.package_id)
        .ok_or_else(|| RoochipError::NotFound("Package not found".into()))?;
    let key = match req
        .headers()
        .get(super::body::IDEMPOTENCY_HEADER)
        .and_then(|v| v.to_str().ok())
    {
        Some(k) => format!("{}:{}", caller.tenant, k.trim()),
        None => uuid::Uuid::new_v4().to_string(),
    };
    let started = stripe
        .start(&state.ledger, &caller.tenant, &user, &offer, &key)
        .await
        .map_err(|e| match e {
            CheckoutError::Provider(detail) => {
                tracing::warn!(%detail, "Stripe checkout failed");
                RoochipError::BadGateway(
                    "The payment provider could not open a checkout; no payment was taken. Try again."
                        .into(),
                )
            }
            CheckoutError::Ledger(e) => RoochipError::from(e),
        })?;
    Ok(HttpResponse::Ok().json(CheckoutResponse {
        checkout_url: started.checkout_url,
        session_id: started.session_id,
    }))
}

/// Apple in-app purchase ("Mobile IAP call"): verifies `receipt_data`, a StoreKit 2
/// signed transaction, offline against the tenant's root certificates (bundle id,
/// environment, product → package), then credits the package once per
/// `transactionId`: a `purchase` entry and `credits.issued` with `payment_source:
/// "apple_iap"`. A repeated request answers the original 200 body.
///
/// Errors: 400 naming what failed (signature, bundle id, environment, revoked,
/// product); 403 for another tenant's `tenant_id`; 404 unknown package; 409 the
/// transaction was credited to another user or package; 503 without
/// `[tenants.apple]`.
#[utoipa::path(post, path = "/iap/apple", tag = "roochip",
    request_body = AppleIapRequest,
    security(("api_key" = [])),
    responses((status = 200, body = IapResponse), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub async fn iap_apple(
    caller: Caller,
    state: web::Data<AppState>,
    raw: web::Bytes,
) -> Result<HttpResponse> {
    let apple = state.apple(&caller).ok_or_else(|| {
        RoochipError::Unavailable(
            "Apple in-app purchases are not available yet: receipt verification is not configured on this server. No credits were issued.".into(),
        )
    })?;
    let b: AppleIapRequest = super::body::parse(&raw)?;
    if b.tenant_id != caller.tenant.as_str() {
        return Err(RoochipError::Forbidden(
            "tenant_id: not the tenant of this API key".into(),
        ));
    }
    let user = external_user_id(&b.external_user_id)?;
    let offer = super::merchant::offer(caller.settings(), &b.package_id)
        .ok_or_else(|| RoochipError::NotFound("Package not found".into()))?;
    let refused = |why: String| {
        payments::count(Provider::AppleIap, "refused");
        RoochipError::BadRequest(format!("receipt_data: {why}"))
    };
    let t = apple.verify(&b.receipt_data).map_err(|e| refused(e.0))?;
    if t.revoked {
        return Err(refused(
            "Apple revoked this transaction (refunded or withdrawn)".into(),
        ));
    }
    check_product(
        &state,
        &caller,
        &offer,
        Provider::AppleIap,
        &t.transaction_id,
        &t.product_id,
    )
    .await?;
    let mut payment = Payment::verified(
        Provider::AppleIap,
        t.transaction_id,
        caller.tenant.clone(),
        user,
        &offer,
        t.original_transaction_id,
    );
    payment.product_id = Some(t.product_id);
    iap_credit(&state, &caller, payment).await
}

/// Checks that `product` (the store's product id) buys the package of `offer`. When
/// it does not, a purchase credited before to another package is 409 (the same
/// transaction sent for another package), else 400.
async fn check_product(
    state: &AppState,
    caller: &Caller,
    offer: &payments::Offer,
    provider: Provider,
    external_id: &str,
    product: &str,
) -> Result<()> {
    let buys = super::merchant::product(caller.settings(), &offer.id, provider);
    if buys.as_deref() == Some(product) {
        return Ok(());
    }
    let id = external_id.to_string();
    let known = state
        .ledger
        .read(move |r| r.repo::<dyn PaymentReads>()?.find_payment(provider, &id))
        .await?;
    payments::count(provider, "refused");
    match known {
        Some(p) if p.package != offer.id || p.tenant != caller.tenant => {
            Err(RoochipError::Conflict(format!(
                "{provider} purchase {external_id} was already credited for another package"
            )))
        }
        _ => Err(RoochipError::BadRequest(format!(
            "product {product:?} does not buy package {}",
            offer.id
        ))),
    }
}

/// Credits a verified in-app purchase once and answers `{transaction_id,
/// credits_issued, new_balance}` (the stored answer on a repeat).
async fn iap_credit(state: &AppState, caller: &Caller, payment: Payment) -> Result<HttpResponse> {
    let merchant = state.merchant(caller);
    let provider = payment.provider;
    let (answer, fresh) = state
        .ledger
        .run(move |tx| {
            payments::ops::credit_answering(tx, merchant.as_ref(), &payment, |c| {
                serde_json::to_string(&IapResponse {
                    transaction_id: c.payment.external_id.clone(),
                    credits_issued: roo(c.payment.credits),
                    new_balance: roo(c.balance_after),
                })
                .unwrap_or_default()
            })
        })
        .await
        .map_err(|e| match e {
            PaymentError::Mismatch(m) => {
                payments::count(provider, "refused");
                RoochipError::Conflict(format!(
                    "{m}: this purchase was already credited to another user or package"
                ))
            }
            PaymentError::Ledger(e) => RoochipError::from(e),
        })?;
    payments::count(provider, if fresh { "credited" } else { "replayed" });
    Ok(HttpResponse::Ok()
        .content_type(ContentType::json())
        .body(answer))
}

/// Google Play in-app purchase: asks Google (`purchases.products.get`) about the
/// token, requires `purchaseState = 0` (and, unless `allow_test_purchases`, not a
/// test purchase; one item), then credits the package once per purchase token and
/// once per `orderId`: a `purchase` entry and `credits.issued` with `payment_source:
/// "google_iap"`. A repeated request answers the original 200 body without asking
/// Google again. The purchase is acknowledged to Google in the background (see
/// [`crate::payments::google`]); a failed acknowledgement never undoes the credit.
///
/// Errors: 400 naming what failed (unknown token, not purchased, test purchase,
/// product); 404 unknown package; 409 the token or its order was credited to another
/// user or package; 502 Google could not be asked; 503 without `[tenants.google]`.
#[utoipa::path(post, path = "/iap/google", tag = "roochip",
    request_body = GoogleIapRequest,
    security(("api_key" = [])),
    responses((status = 200, body = IapResponse), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 502, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn iap_google(
    caller: Caller,
    state: web::Data<AppState>,
    raw: web::Bytes,
) -> Result<HttpResponse> {
    let play = state.google(&caller).ok_or_else(|| {
        RoochipError::Unavailable(
            "Google Play in-app purchases are not available yet: purchase verification is not configured on this server. No credits were issued.".into(),
        )
    })?;
    let b: GoogleIapRequest = super::body::parse(&raw)?;
    let user = external_user_id(&b.external_user_id)?;
    let token = b.purchase_token.trim().to_string();
    if token.is_empty() || token.len() > 1024 || !token.bytes().all(|c| c.is_ascii_graphic()) {
        return Err(RoochipError::BadRequest(
            "purchase_token: must be the Play Billing token (1 to 1024 visible ASCII characters)"
                .into(),
        ));
    }
    let offer = super::merchant::offer(caller.settings(), &b.package_id)
        .ok_or_else(|| RoochipError::NotFound("Package not found".into()))?;
    check_product(
        &state,
        &caller,
        &offer,
        Provider::GoogleIap,
        &token,
        &b.product_id,
    )
    .await?;
    if let Some(answer) =
        stored_answer(&state, &caller, Provider::GoogleIap, &token, &user, &offer).await?
    {
        return Ok(answer);
    }
    let purchase = play
        .purchase(&b.product_id, &token)
        .await
        .map_err(|e| match e {
            GoogleError::Refused(_) => {
                payments::count(Provider::GoogleIap, "refused");
                RoochipError::BadRequest(format!("purchase_token: {e}"))
            }
            GoogleError::Unavailable(detail) => {
                tracing::warn!(%detail, "Google Play purchase check failed");
                RoochipError::BadGateway(
                    "Google Play could not confirm the purchase right now; no credits were issued. Try again.".into(),
                )
            }
        })?;
    let refusal = if purchase.purchase_state != 0 {
        Some(format!(
            "the purchase is not completed (purchaseState {}: 1 canceled, 2 pending)",
            purchase.purchase_state
        ))
    } else if purchase.purchase_type == Some(0) && !play.allows_test_purchases() {
        Some("a test purchase (purchaseType 0): set allow_test_purchases to credit them".into())
    } else if purchase.quantity != 1 {
        Some(format!(
            "a purchase of {} items: one package per purchase",
            purchase.quantity
        ))
    } else {
        None
    };
    if let Some(why) = refusal {
        payments::count(Provider::GoogleIap, "refused");
        return Err(RoochipError::BadRequest(format!("purchase_token: {why}")));
    }
    let mut payment = Payment::verified(
        Provider::GoogleIap,
        token,
        caller.tenant.clone(),
        user,
        &offer,
        purchase.order_id,
    );
    payment.product_id = Some(b.product_id);
    payment.acknowledged = Some(if purchase.acknowledged {
        Acknowledgement::Done
    } else {
        Acknowledgement::Pending
    });
    iap_credit(&state, &caller, payment).await
}

/// The answer of an in-app purchase credited before, when this request names the
/// same tenant, user and package: the original 200 body, without asking the store
/// again.
///
/// # Errors
/// 409 when the purchase was credited to another user or package; storage errors.
async fn stored_answer(
    state: &AppState,
    caller: &Caller,
    provider: Provider,
    external_id: &str,
    user: &str,
    offer: &payments::Offer,
) -> Result<Option<HttpResponse>> {
    let id = external_id.to_string();
    let known = state
        .ledger
        .read(move |r| r.repo::<dyn PaymentReads>()?.find_payment(provider, &id))
        .await?;
    let Some(known) = known.filter(|p| p.status != payments::PaymentStatus::Open) else {
        return Ok(None);
    };
    if known.tenant != caller.tenant || known.account != user || known.package != offer.id {
        payments::count(provider, "refused");
        return Err(RoochipError::Conflict(format!(
            "{provider} purchase {external_id}: this purchase was already credited to another user or package"
        )));
    }
    Ok(known.answer.map(|answer| {
        payments::count(provider, "replayed");
        HttpResponse::Ok()
            .content_type(ContentType::json())
            .body(answer)
    }))
}

/// A user asks for a free promo code; one request per user, ever ("POST
/// /v1/codes/request"). 201; 409 on any later request.
#[utoipa::path(post, path = "/v1/codes/request", tag = "roochip",
    params(("Idempotency-Key" = Option<String>, Header, description = "makes a retry safe")),
    request_body = UserRequest,
    security(("api_key" = [])),
    responses((status = 201, body = CodeRequestResponse), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody, example = json!({"error": "You have already requested a promo code. Each account can only request once."}))))]
pub async fn request_code(
    caller: Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
    body: Body<UserRequest>,
) -> Result<HttpResponse> {
    let user = external_user_id(&body.value.external_user_id)?;
    let idempotency = idempotency(&req, &caller, &body.raw)?;
    let w = caller.wallet();
    let reply = state
        .ledger
        .run(move |tx| {
            ops::once(tx, idempotency.as_ref(), |tx| {
                ops::request_code(tx, &w, &user)?;
                Reply::json(
                    201,
                    &CodeRequestResponse {
                        message: "Request received. An admin will generate your code shortly."
                            .into(),
                        status: "pending".into(),
                    },
                )
            })
        })
        .await?;
    if !reply.replayed {
        tracing::info!(tenant = %caller.tenant, user = %redact::tag(&body.value.external_user_id), "promo code requested");
    }
    Ok(respond(reply))
}

/// Redeems a promo code for the user it was issued to ("POST /v1/codes/redeem"): 404
/// unknown, 403 another user's, 409 used (or the user already redeemed one).
#[utoipa::path(post, path = "/v1/codes/redeem", tag = "roochip",
    params(("Idempotency-Key" = Option<String>, Header, description = "makes a retry safe")),
    request_body = RedeemRequest,
    security(("api_key" = [])),
    responses((status = 200, body = RedeemResponse), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn redeem_code(
    caller: Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
    body: Body<RedeemRequest>,
) -> Result<HttpResponse> {
    let user = external_user_id(&body.value.external_user_id)?;
    let code = ops::normalize_code(&body.value.code);
    if code.is_empty() || code.len() > 64 {
        return Err(RoochipError::BadRequest(
            "code: required: send the code as given (like ROO-A3F29C1B)".into(),
        ));
    }
    let idempotency = idempotency(&req, &caller, &body.raw)?;
    let w = caller.wallet();
    let reply = state
        .ledger
        .run(move |tx| {
            ops::once(tx, idempotency.as_ref(), |tx| {
                let r = ops::redeem_code(tx, &w, &user, &code)?;
                Reply::json(
                    200,
                    &RedeemResponse {
                        message: format!(
                            "{} ROO credits added to your account.",
                            format_minor(r.credits, SCALE)
                        ),
                        credits_issued: roo(r.credits),
                        new_balance: roo(r.new_balance),
                    },
                )
            })
        })
        .await?;
    if !reply.replayed {
        tracing::info!(tenant = %caller.tenant, user = %redact::tag(&body.value.external_user_id), "promo code redeemed");
    }
    Ok(respond(reply))
}

/// Admin: promo code requests, oldest first, filtered by `status`; `count` is how
/// many match (all pages).
#[utoipa::path(get, path = "/v1/admin/codes/requests", tag = "roochip-admin",
    params(CodeRequestsQuery),
    security(("api_key" = [])),
    responses((status = 200, body = CodeRequestsResponse), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn code_requests(
    caller: AdminCaller,
    state: web::Data<AppState>,
    query: web::Query<CodeRequestsQuery>,
) -> Result<HttpResponse> {
    let caller = caller.0;
    let status = match query.status.as_deref().map(str::trim) {
        None => None,
        Some(s @ ("pending" | "fulfilled" | "rejected")) => Some(s.to_string()),
        Some(_) => {
            return Err(RoochipError::BadRequest(
                "status: must be pending, fulfilled or rejected".into(),
            ))
        }
    };
    let (_, limit, offset) = paging(query.page.as_deref(), query.limit.as_deref(), 100, 500)?;
    let tenant = caller.tenant.clone();
    let (count, requests) = state
        .ledger
        .read(move |r| ops::code_requests(r, &tenant, status.as_deref(), limit, offset))
        .await?;
    Ok(HttpResponse::Ok().json(CodeRequestsResponse {
        requests: requests.into_iter().map(view).collect(),
        count,
    }))
}

fn view(r: super::repo::CodeRequest) -> CodeRequestView {
    CodeRequestView {
        id: r.id,
        external_user_id: r.external_user_id,
        status: r.status,
        created_at: r.created_at,
    }
}

/// Admin: generates the user's single-use promo code and marks their request
/// fulfilled (201). One code per user: a second one is 409. The code is shown only in
/// this answer: with an `Idempotency-Key`, a replay answers 409 instead of the code,
/// since codes are never stored in clear.
#[utoipa::path(post, path = "/v1/admin/codes/generate", tag = "roochip-admin",
    params(("Idempotency-Key" = Option<String>, Header, description = "a replay answers 409: the code is shown once")),
    request_body = UserRequest,
    security(("api_key" = [])),
    responses((status = 201, body = GenerateResponse), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn generate_code(
    caller: AdminCaller,
    state: web::Data<AppState>,
    req: HttpRequest,
    body: Body<UserRequest>,
) -> Result<HttpResponse> {
    let caller = caller.0;
    let user = external_user_id(&body.value.external_user_id)?;
    let credits = caller.promo_code_credits()?;
    let idempotency = idempotency(&req, &caller, &body.raw)?;
    let w = caller.wallet();
    let reply = state
        .ledger
        .run(move |tx| {
            ops::once_replaying(
                tx,
                idempotency.as_ref(),
                |tx| {
                    let code = ops::generate_code(tx, &w, &user, credits)?;
                    Reply::json(
                        201,
                        &GenerateResponse {
                            code,
                            message: format!("Share this code with {user}. It is single-use."),
                            external_user_id: user.clone(),
                            credits: roo(credits.minor()),
                        },
                    )
                },
                |_| {
                    Reply::json(
                        409,
                        &ErrorBody {
                            error:
                                "This Idempotency-Key already generated the code for this user; \
                                    the code is shown only once and is not stored."
                                    .into(),
                        },
                    )
                },
            )
        })
        .await?;
    if !reply.replayed {
        tracing::info!(tenant = %caller.tenant, user = %redact::tag(&body.value.external_user_id), "promo code generated");
    }
    Ok(respond(reply))
}

/// Admin: rejects a pending code request (the user still cannot request again).
/// The body is empty or `{}`.
#[utoipa::path(post, path = "/v1/admin/codes/requests/{id}/reject", tag = "roochip-admin",
    params(("id" = String, Path, description = "the request id"),
        ("Idempotency-Key" = Option<String>, Header, description = "makes a retry safe")),
    security(("api_key" = [])),
    responses((status = 200, body = CodeRequestView), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn reject_request(
    caller: AdminCaller,
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
    body: OptionalBody<RejectRequest>,
) -> Result<HttpResponse> {
    let caller = caller.0;
    let id = id.into_inner();
    if id.len() > 64 {
        return Err(RoochipError::NotFound("Code request not found.".into()));
    }
    let idempotency = idempotency(&req, &caller, &body.raw)?;
    let w = caller.wallet();
    let reply = state
        .ledger
        .run(move |tx| {
            ops::once(tx, idempotency.as_ref(), |tx| {
                Reply::json(200, &view(ops::reject_request(tx, &w, &id)?))
            })
        })
        .await?;
    Ok(respond(reply))
}

/// 404 for a path under a Roochip prefix that names no route.
pub async fn no_route(req: HttpRequest) -> Result<HttpResponse> {
    Err(RoochipError::NotFound(format!(
        "No route for {} {}.",
        req.method(),
        req.path()
    )))
}

/// 405 for a Roochip route called with another method.
pub async fn wrong_method(req: HttpRequest) -> Result<HttpResponse> {
    Err(RoochipError::MethodNotAllowed(format!(
        "Method {} is not allowed on {}.",
        req.method(),
        req.path()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_ids_are_checked() {
        assert_eq!(
            external_user_id("rooverse-user-123").unwrap(),
            "rooverse-user-123"
        );
        assert!(external_user_id(&"u".repeat(256)).is_ok());
        for bad in [
            String::new(),
            "  ".into(),
            "u".repeat(257),
            "a\nb".into(),
            "é".repeat(200),
        ] {
            let e = external_user_id(&bad).unwrap_err().to_string();
            assert!(e.starts_with("external_user_id: "), "{e}");
        }
    }

    #[test]
    fn paging_is_checked_and_named() {
        assert_eq!(paging(None, None, 20, 100).unwrap(), (1, 20, 0));
        assert_eq!(paging(Some("3"), Some("10"), 20, 100).unwrap(), (3, 10, 20));
        for (p, l, field) in [
            (Some("0"), None, "page"),
            (Some("x"), None, "page"),
            (Some("-1"), None, "page"),
            (None, Some("0"), "limit"),
            (None, Some("101"), "limit"),
            (None, Some("1.5"), "limit"),
        ] {
            let e = paging(p, l, 20, 100).unwrap_err().to_string();
            assert!(e.starts_with(field), "{e}");
        }
    }
}
