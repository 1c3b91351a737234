//! Stripe: Checkout Sessions opened with async-stripe, and the webhook that credits
//! them, `POST /webhooks/stripe/{tenant}`.
//!
//! A checkout is a Checkout Session in `payment` mode with one line item at the
//! offer's price, `client_reference_id` = the account, and metadata `tenant`,
//! `account` (peer id or external user id) and `package` (package or bundle id); the
//! node records it as an `open` payment. Redirects to `success_url` carry no
//! authority: only a signed event credits.
//!
//! The webhook verifies `Stripe-Signature` over the raw body with
//! [`stripe::Webhook::construct_event`] (HMAC-SHA256, 300 s tolerance); anything
//! unverifiable is 400 and changes nothing. Then, in one unit of work keyed by the
//! event id (a replayed event answers the first answer and does nothing):
//!
//! - `checkout.session.completed` with `payment_status = paid`, and
//!   `checkout.session.async_payment_succeeded`: the session's credits, once per
//!   session id ([`ops::credit`]); a completed session not paid yet credits nothing;
//! - `charge.refunded`: [`ops::refund`]; `charge.dispute.created`: [`ops::dispute`];
//!   `charge.dispute.closed`: [`ops::dispute_closed`], `won` and `warning_closed`
//!   giving back what the dispute took (the charge is
//!   matched to its session through `payment_intent`);
//! - `charge.succeeded`: the receipt URL is stored on the session's payment (held
//!   until the session's payment is recorded when the charge's event comes first);
//! - any other type: 200, ignored.
//!
//! The answer is 200 only once the effect is committed; a storage failure is 500, so
//! that Stripe retries.

use std::collections::HashMap;
use std::sync::Arc;

use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use stripe::{
    CheckoutSession, CheckoutSessionMode, CheckoutSessionPaymentStatus, CreateCheckoutSession,
    CreateCheckoutSessionLineItems, CreateCheckoutSessionLineItemsPriceData,
    CreateCheckoutSessionLineItemsPriceDataProductData, Currency, DisputeStatus, Event,
    EventObject, EventType, RequestStrategy, Webhook, WebhookError,
};

use super::ops::{self, PaymentError};
use super::repo::{Payment, Payments};
use super::{count, count_shortfall, Merchant, Offer, Provider};
use crate::ledger::idempotency::{fingerprint, Idempotency};
use crate::ledger::{Ledger, LedgerError, LedgerTx, StoredResponse, TenantId};
use crate::secret::Secret;

/// Stripe's API.
pub const DEFAULT_API_BASE: &str = "https://api.stripe.com/";

/// The header Stripe signs its events in.
pub const SIGNATURE_HEADER: &str = "Stripe-Signature";

/// How long opening a Checkout Session at Stripe may take.
pub const CALL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// How long an event id is remembered, seconds (Stripe retries for three days).
const EVENT_RETENTION_SECS: u64 = 30 * 24 * 3600;

fn default_api_base() -> String {
    DEFAULT_API_BASE.into()
}

/// `[goop2.stripe]` or `[tenants.stripe]`: the Stripe account a tenant sells through.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StripeSettings {
    /// The secret API key (`sk_live_…`, `sk_test_…`); never printed or logged.
    pub secret_key: Secret,
    /// The webhook endpoint's signing secret (`whsec_…`) that `Stripe-Signature`
    /// is verified with; never printed or logged.
    pub webhook_signing_secret: Secret,
    /// Where Stripe sends the buyer after paying (no authority: only the webhook
    /// credits).
    pub success_url: String,
    /// Where Stripe sends the buyer who gives up.
    pub cancel_url: String,
    /// Stripe's API base URL; tests and staging point it at a fake.
    #[serde(default = "default_api_base")]
    pub api_base: String,
}

impl StripeSettings {
    /// Checks the settings of `at` (`goop2.stripe`, `tenants[xcn].stripe`).
    ///
    /// # Errors
    /// A message naming the field: an empty secret, or a URL that is not http(s).
    pub fn validate(&self, at: &str) -> Result<(), String> {
        if self.secret_key.is_empty() {
            return Err(format!("{at}.secret_key must be set"));
        }
        if self.webhook_signing_secret.is_empty() {
            return Err(format!("{at}.webhook_signing_secret must be set"));
        }
        for (name, url) in [
            ("success_url", &self.success_url),
            ("cancel_url", &self.cancel_url),
            ("api_base", &self.api_base),
        ] {
            super::http_url(at, name, url)?;
        }
        Ok(())
    }
}

/// A checkout the buyer can now pay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Started {
    /// The Checkout Session id (`cs_…`).
    pub session_id: String,
    /// Stripe's payment page.
    pub checkout_url: String,
}

/// Why a checkout could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum CheckoutError {
    /// Stripe refused or could not be reached; nothing was recorded.
    #[error("the payment provider could not open a checkout: {0}")]
    Provider(String),
    /// The session was opened but could not be recorded (it can still be paid: the
    /// webhook credits it from its metadata).
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}

/// A tenant's Stripe account, for opening Checkout Sessions. Cheap to clone (one
/// HTTP client per tenant).
#[derive(Clone)]
pub struct StripeCheckout {
    client: stripe::Client,
    success_url: String,
    cancel_url: String,
}

impl std::fmt::Debug for StripeCheckout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StripeCheckout").finish_non_exhaustive()
    }
}

impl StripeCheckout {
    /// The client of `settings`.
    pub fn new(settings: &StripeSettings) -> StripeCheckout {
        StripeCheckout {
            client: stripe::Client::from_url(
                settings.api_base.as_str(),
                settings.secret_key.expose(),
            ),
            success_url: settings.success_url.clone(),
            cancel_url: settings.cancel_url.clone(),
        }
    }

    /// Opens a Checkout Session for `offer` bought by `account` of `tenant` (one
    /// request to Stripe with `idempotency_key`), then records it as an `open`
    /// payment.
    ///
    /// # Errors
    /// [`CheckoutError::Provider`] when Stripe refuses or cannot be reached, or its
    /// answer has no URL; [`CheckoutError::Ledger`] when the record fails.
    pub async fn start(
        &self,
        ledger: &Ledger,
        tenant: &TenantId,
        account: &str,
        offer: &Offer,
        idempotency_key: &str,
    ) -> Result<Started, CheckoutError> {
        let currency: Currency = offer
            .currency
            .parse()
            .map_err(|_| CheckoutError::Provider(format!("unknown currency {}", offer.currency)))?;
        let metadata: HashMap<String, String> = [
            ("tenant", tenant.as_str()),
            ("account", account),
            ("package", offer.id.as_str()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let mut params = CreateCheckoutSession::new();
        params.mode = Some(CheckoutSessionMode::Payment);
        params.success_url = Some(&self.success_url);
        params.cancel_url = Some(&self.cancel_url);
        // Stripe takes at most 200 characters here; the metadata always has the account.
        params.client_reference_id = Some(account).filter(|a| a.len() <= 200);
        params.metadata = Some(metadata);
        params.line_items = Some(vec![CreateCheckoutSessionLineItems {
            quantity: Some(1),
            price_data: Some(CreateCheckoutSessionLineItemsPriceData {
                currency,
                unit_amount: Some(offer.price_amount),
                product_data: Some(CreateCheckoutSessionLineItemsPriceDataProductData {
                    name: offer.name.clone(),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }]);
        let client = self
            .client
            .clone()
            .with_strategy(RequestStrategy::Idempotent(idempotency_key.to_string()));
        let session = tokio::time::timeout(CALL_TIMEOUT, CheckoutSession::create(&client, params))
            .await
            .map_err(|_| {
                CheckoutError::Provider(format!("no answer within {} s", CALL_TIMEOUT.as_secs()))
            })?
            .map_err(|e| CheckoutError::Provider(e.to_string()))?;
        let checkout_url = session
            .url
            .clone()
            .ok_or_else(|| CheckoutError::Provider("the session has no url".into()))?;
        let session_id = session.id.to_string();
        let payment = Payment::verified(
            Provider::Stripe,
            session_id.clone(),
            tenant.clone(),
            account.to_string(),
            offer,
            None,
        );
        ledger
            .run(move |tx| ops::record_checkout(tx, &payment))
            .await?;
        count(Provider::Stripe, "checkout");
        Ok(Started {
            session_id,
            checkout_url,
        })
    }
}

/// One tenant's side of the webhook.
#[derive(Clone)]
pub struct StripeTenant {
    /// The webhook signing secret.
    pub signing_secret: Secret,
    /// Who sells: names offers, writes the credit's entry and events.
    pub merchant: Arc<dyn Merchant>,
}

/// The state of `POST /webhooks/stripe/{tenant}`.
pub struct StripeWebhooks {
    ledger: Ledger,
    tenants: HashMap<String, StripeTenant>,
}

impl StripeWebhooks {
    /// The webhook of `tenants` (tenant id → signing secret and merchant).
    pub fn new(ledger: Ledger, tenants: HashMap<String, StripeTenant>) -> StripeWebhooks {
        StripeWebhooks { ledger, tenants }
    }
}

/// Mounts `POST /webhooks/stripe/{tenant}`, reading bodies up to `max_body_bytes`.
pub fn mount(
    cfg: &mut web::ServiceConfig,
    state: web::Data<StripeWebhooks>,
    max_body_bytes: usize,
) {
    cfg.service(
        web::resource("/webhooks/stripe/{tenant}")
            .app_data(state)
            .app_data(web::PayloadConfig::new(max_body_bytes))
            .route(web::post().to(webhook)),
    );
}

fn answer(status: u16, body: serde_json::Value) -> HttpResponse {
    HttpResponse::build(
        actix_web::http::StatusCode::from_u16(status)
            .unwrap_or(actix_web::http::StatusCode::INTERNAL_SERVER_ERROR),
    )
    .content_type("application/json")
    .body(body.to_string())
}

fn refused(status: u16, message: impl Into<String>) -> HttpResponse {
    count(Provider::Stripe, "refused");
    answer(status, serde_json::json!({ "error": message.into() }))
}

/// What an event asks of the ledger.
enum Action {
    /// A paid session: credit it.
    Credit(Payment),
    /// A completed session not paid yet: remember its payment intent, credit nothing.
    NotPaid(Payment),
    /// A refund of `refunded` of `charged` (cents, cumulative).
    Refund {
        order: String,
        refunded: i64,
        charged: i64,
    },
    /// A dispute opened.
    Dispute { order: String, dispute: String },
    /// A dispute closed: `won` (or an inquiry closed without a chargeback), or lost.
    DisputeClosed {
        order: String,
        dispute: String,
        won: bool,
    },
    /// A charge's receipt.
    Receipt { order: String, url: String },
    /// Nothing to do, with the reason.
    Ignore(&'static str),
}

/// Stripe's webhook for `tenant` (the ledger tenant id): verifies `Stripe-Signature`
/// over the raw body, then applies the event once (see the module docs). 200 once
/// the effect is durable; 400 unverifiable or inconsistent (nothing written); 404 no
/// Stripe account for the tenant; 500 not applied (Stripe retries).
#[utoipa::path(post, path = "/webhooks/stripe/{tenant}", tag = "payments",
    params(("tenant" = String, Path, description = "the ledger tenant id"),
        ("Stripe-Signature" = String, Header, description = "t=<unix seconds>,v1=<hex HMAC-SHA256>")),
    request_body(content = String, description = "a Stripe event (JSON)", content_type = "application/json"),
    responses((status = 200, description = "`{\"received\": true, \"outcome\": …}`"),
        (status = 400, description = "`{\"error\": …}`: not verified or not consistent"),
        (status = 404), (status = 500)))]
pub async fn webhook(
    state: web::Data<StripeWebhooks>,
    tenant: web::Path<String>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let Some(seller) = state.tenants.get(tenant.as_str()) else {
        return refused(404, "no Stripe account is configured for this tenant");
    };
    let Ok(tenant) = TenantId::new(tenant.into_inner()) else {
        return refused(404, "no such tenant");
    };
    let Some(signature) = req
        .headers()
        .get(SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok())
    else {
        return refused(400, "missing Stripe-Signature header");
    };
    let Ok(payload) = std::str::from_utf8(&body) else {
        return refused(400, "the body is not UTF-8");
    };
    let event = match Webhook::construct_event(payload, signature, seller.signing_secret.expose()) {
        Ok(event) => event,
        Err(WebhookError::BadParse(e)) => return unreadable(payload, &e),
        Err(e) => {
            tracing::warn!(error = %e, "Stripe event refused: signature");
            return refused(400, format!("signature verification failed: {e}"));
        }
    };
    let action = match action(&event, &tenant) {
        Ok(action) => action,
        Err(message) => {
            tracing::warn!(event = %event.id, %message, "Stripe event refused");
            return refused(400, message);
        }
    };
    let merchant = seller.merchant.clone();
    let event_id = event.id.to_string();
    let idempotency = match Idempotency::new(
        &tenant,
        "stripe-event",
        "",
        &event_id,
        fingerprint(&[event_id.as_bytes()]),
        EVENT_RETENTION_SECS,
    ) {
        Ok(i) => i,
        Err(e) => return refused(400, format!("event id: {e}")),
    };
    let applied = state
        .ledger
        .run(move |tx| {
            let (mut label, mut shortfall) = ("replayed", 0);
            let answer = tx.once(
                Some(&idempotency),
                |tx| {
                    let (outcome, short) = apply(tx, merchant.as_ref(), action)?;
                    (label, shortfall) = (outcome_label(outcome), short);
                    Ok::<_, PaymentError>(StoredResponse {
                        status: 200,
                        body: serde_json::json!({ "received": true, "outcome": outcome })
                            .to_string(),
                    })
                },
                |stored| Ok(stored.clone()),
            )?;
            Ok::<_, PaymentError>((answer, label, shortfall))
        })
        .await;
    match applied {
        Ok((answer, label, shortfall)) => {
            count(Provider::Stripe, label);
            count_shortfall(&tenant, shortfall);
            HttpResponse::Ok()
                .content_type("application/json")
                .body(answer.response.body)
        }
        Err(PaymentError::Mismatch(message)) => {
            tracing::warn!(event = %event_id, %message, "Stripe event refused");
            refused(400, message)
        }
        Err(PaymentError::Ledger(e)) => {
            tracing::error!(event = %event_id, error = %e, "Stripe event not applied; Stripe will retry");
            answer(
                500,
                serde_json::json!({ "error": format!("not applied, retry later: {e}") }),
            )
        }
    }
}

/// The metric label of a stored outcome.
fn outcome_label(outcome: &str) -> &'static str {
    match outcome {
        "credited" => "credited",
        "already_credited" => "replayed",
        "not_paid" => "pending",
        "clawed_back" => "clawed_back",
        "given_back" => "given_back",
        _ => "ignored",
    }
}

/// A verified event that async-stripe could not read: the types this webhook acts on
/// are refused (400, so that the operator sees it in Stripe's dashboard and Stripe
/// retries after a fix); any other type is acknowledged.
fn unreadable(payload: &str, error: &serde_json::Error) -> HttpResponse {
    let kind = serde_json::from_str::<serde_json::Value>(payload)
        .ok()
        .and_then(|v| v["type"].as_str().map(str::to_string))
        .unwrap_or_default();
    if HANDLED.contains(&kind.as_str()) {
        tracing::error!(event_type = %kind, %error, "a verified Stripe event could not be read");
        return refused(400, format!("the {kind} event could not be read: {error}"));
    }
    count(Provider::Stripe, "ignored");
    answer(
        200,
        serde_json::json!({ "received": true, "outcome": "ignored" }),
    )
}

/// The event types this webhook acts on.
const HANDLED: [&str; 6] = [
    "checkout.session.completed",
    "checkout.session.async_payment_succeeded",
    "charge.refunded",
    "charge.dispute.created",
    "charge.dispute.closed",
    "charge.succeeded",
];

/// What `event` asks for, checked against the tenant and the merchant's offers.
fn action(event: &Event, tenant: &TenantId) -> Result<Action, String> {
    let object = &event.data.object;
    let intent = |i: &Option<stripe::Expandable<stripe::PaymentIntent>>| {
        i.as_ref()
            .map(|i| i.id().to_string())
            .ok_or_else(|| format!("{} names no payment_intent", event.type_))
    };
    Ok(match (event.type_, object) {
        (EventType::CheckoutSessionCompleted, EventObject::CheckoutSession(s)) => {
            let payment = session_payment(s, tenant)?;
            if s.payment_status == CheckoutSessionPaymentStatus::Paid {
                Action::Credit(payment)
            } else {
                Action::NotPaid(payment)
            }
        }
        (EventType::CheckoutSessionAsyncPaymentSucceeded, EventObject::CheckoutSession(s)) => {
            Action::Credit(session_payment(s, tenant)?)
        }
        (EventType::ChargeRefunded, EventObject::Charge(c)) => Action::Refund {
            order: intent(&c.payment_intent)?,
            refunded: c.amount_refunded,
            charged: c.amount,
        },
        (EventType::ChargeDisputeCreated, EventObject::Dispute(d)) => Action::Dispute {
            order: intent(&d.payment_intent)?,
            dispute: d.id.to_string(),
        },
        (EventType::ChargeDisputeClosed, EventObject::Dispute(d)) => match d.status {
            DisputeStatus::Won | DisputeStatus::WarningClosed | DisputeStatus::Lost => {
                Action::DisputeClosed {
                    order: intent(&d.payment_intent)?,
                    dispute: d.id.to_string(),
                    won: d.status != DisputeStatus::Lost,
                }
            }
            _ => Action::Ignore("ignored"),
        },
        (EventType::ChargeSucceeded, EventObject::Charge(c)) => {
            match (c.payment_intent.as_ref(), c.receipt_url.as_ref()) {
                (Some(i), Some(url)) => Action::Receipt {
                    order: i.id().to_string(),
                    url: url.clone(),
                },
                _ => Action::Ignore("ignored"),
            }
        }
        (t, _) if HANDLED.contains(&t.to_string().as_str()) => {
            return Err(format!("{t} carries another kind of object"))
        }
        _ => Action::Ignore("ignored"),
    })
}

/// The payment a session stands for, from its metadata: it must name this tenant, an
/// account and a package. Its credits are settled in the unit ([`settle`]).
fn session_payment(s: &CheckoutSession, tenant: &TenantId) -> Result<Payment, String> {
    let meta = s.metadata.clone().unwrap_or_default();
    let field = |k: &str| meta.get(k).filter(|v| !v.is_empty()).cloned();
    if field("tenant").as_deref() != Some(tenant.as_str()) {
        return Err(format!(
            "session {} was not opened for tenant {tenant} (metadata.tenant)",
            s.id
        ));
    }
    let account = field("account")
        .or_else(|| s.client_reference_id.clone())
        .ok_or_else(|| format!("session {} names no account (metadata.account)", s.id))?;
    let package = field("package")
        .ok_or_else(|| format!("session {} names no package (metadata.package)", s.id))?;
    let amount = s
        .amount_total
        .ok_or_else(|| format!("session {} has no amount_total", s.id))?;
    let currency = s
        .currency
        .map(|c| c.to_string())
        .ok_or_else(|| format!("session {} has no currency", s.id))?;
    let offer = Offer {
        id: package,
        name: String::new(),
        credits: 0,
        price_amount: amount,
        currency,
    };
    Ok(Payment::verified(
        Provider::Stripe,
        s.id.to_string(),
        tenant.clone(),
        account,
        &offer,
        s.payment_intent.as_ref().map(|i| i.id().to_string()),
    ))
}

/// What a paid session buys, settled in the unit: the checkout the node recorded
/// (its credits and price, whatever the package says now), else the package as sold
/// now. The session must have paid that price.
///
/// # Errors
/// [`PaymentError::Mismatch`] for a package the merchant does not sell (and no
/// recorded checkout), or another amount or currency.
fn settle(
    tx: &mut LedgerTx<'_>,
    merchant: &dyn Merchant,
    paid: Payment,
) -> Result<Payment, PaymentError> {
    let recorded = tx
        .repo::<dyn Payments>()?
        .payment(Provider::Stripe, &paid.external_id)?;
    let (credits, amount, currency) = match recorded {
        Some(r) => (r.credits, r.amount, r.currency),
        None => {
            let offer = merchant.offer(&paid.package).ok_or_else(|| {
                PaymentError::Mismatch(format!(
                    "session {}: unknown package {}",
                    paid.external_id, paid.package
                ))
            })?;
            (offer.credits, offer.price_amount, offer.currency)
        }
    };
    if (paid.amount, paid.currency.as_str()) != (amount, currency.as_str()) {
        return Err(PaymentError::Mismatch(format!(
            "session {} paid {} {}, the package costs {amount} {currency}",
            paid.external_id, paid.amount, paid.currency
        )));
    }
    Ok(Payment { credits, ..paid })
}

/// Applies `action` in the unit; returns the outcome and any new shortfall
/// (credits).
fn apply(
    tx: &mut LedgerTx<'_>,
    merchant: &dyn Merchant,
    action: Action,
) -> Result<(&'static str, i64), PaymentError> {
    let clawed = |r: Option<(Payment, ops::ClawBack)>| match r {
        None => ("unknown_payment", 0),
        Some((_, c)) if !c.changed() => ("nothing_to_take", 0),
        Some((_, c)) => ("clawed_back", c.shortfall()),
    };
    Ok(match action {
        Action::Credit(paid) => {
            let paid = settle(tx, merchant, paid)?;
            let credit = ops::credit(tx, merchant, &paid)?;
            if credit.fresh {
                ("credited", 0)
            } else {
                ("already_credited", 0)
            }
        }
        Action::NotPaid(open) => {
            let open = settle(tx, merchant, open)?;
            ops::record_checkout(tx, &open)?;
            ("not_paid", 0)
        }
        Action::Refund {
            order,
            refunded,
            charged,
        } => clawed(ops::refund(
            tx,
            Provider::Stripe,
            &order,
            refunded,
            charged,
        )?),
        Action::Dispute { order, dispute } => {
            clawed(ops::dispute(tx, Provider::Stripe, &order, &dispute)?)
        }
        Action::DisputeClosed {
            order,
            dispute,
            won,
        } => match ops::dispute_closed(tx, Provider::Stripe, &order, &dispute, won)? {
            None => ("unknown_payment", 0),
            Some(_) if !won => ("dispute_lost", 0),
            Some((_, 0)) => ("nothing_to_give", 0),
            Some(_) => ("given_back", 0),
        },
        Action::Receipt { order, url } => {
            if ops::set_receipt(tx, Provider::Stripe, &order, &url)? {
                ("receipt_stored", 0)
            } else {
                ("receipt_held", 0)
            }
        }
        Action::Ignore(why) => (why, 0),
    })
}
