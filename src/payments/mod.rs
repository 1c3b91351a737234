//! Real-money purchases: credits are issued only from a payment the node verified
//! itself, exactly once per payment.
//!
//! - [`apple`]: StoreKit 2 signed transactions verified offline
//!   (app-store-server-library).
//! - [`google`]: Google Play purchases (google-androidpublisher3) and their
//!   acknowledgement, retried until Google has it.
//! - [`stripe`]: Checkout Sessions (async-stripe) and the signed webhook
//!   `POST /webhooks/stripe/{tenant}`: completed and async-succeeded sessions credit,
//!   refunds and disputes claw back.
//! - [`ops`]: the units of work every provider shares: record a checkout, credit a
//!   verified payment once, claw back without overdrawing, give back a won dispute.
//! - [`repo`]: the `payments` table, as a repository the store implements.
//! - [`admin`]: `GET /admin/payments` (the admin token), behind `admin payments list`.
//!
//! A dialect sells through a [`Merchant`]: it names its offers (Roochip packages,
//! Goop2 bundles) and writes its own entry and events when a payment is credited
//! (a Roochip `purchase` entry and `credits.issued`; a Goop2 `buy` entry). This
//! module knows no dialect; the wiring root hands it one merchant per tenant.
//!
//! Amounts: `credits` are the tenant's minor units (Goop2 whole credits, Roochip
//! hundredths of ROO); `amount` is the price in the currency's minor units (cents).

pub mod admin;
pub mod apple;
pub mod google;
pub mod ops;
pub mod repo;
pub mod stripe;

use crate::ledger::{LedgerError, LedgerTx, PostedEntry, TenantId};
use utoipa::OpenApi;

pub use repo::{Payment, PaymentStatus};

/// The OpenAPI document of the payments routes.
#[derive(OpenApi)]
#[openapi(
    paths(admin::payments, stripe::webhook),
    components(schemas(admin::PaymentView, admin::PaymentList)),
    tags((name = "payments", description = "Payment providers' webhooks"))
)]
pub struct ApiDoc;

/// Who took the money.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Provider {
    /// Stripe Checkout (web).
    Stripe,
    /// Apple in-app purchase (StoreKit 2 signed transaction).
    AppleIap,
    /// Google Play in-app purchase (purchase token).
    GoogleIap,
}

impl Provider {
    /// The stored text, also the Roochip `payment_source` (roochip-lite-integration-guide.md,
    /// "Webhook payload"): `stripe`, `apple_iap`, `google_iap`.
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Stripe => "stripe",
            Provider::AppleIap => "apple_iap",
            Provider::GoogleIap => "google_iap",
        }
    }

    /// The provider stored as `text`.
    pub fn parse(text: &str) -> Option<Provider> {
        [Provider::Stripe, Provider::AppleIap, Provider::GoogleIap]
            .into_iter()
            .find(|p| p.as_str() == text)
    }
}

impl std::fmt::Display for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a payment buys: a Roochip package or a Goop2 credit bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offer {
    /// Package or bundle id (the `package` metadata key).
    pub id: String,
    /// Shown on the provider's payment page.
    pub name: String,
    /// Credits issued, in the tenant's minor units.
    pub credits: i64,
    /// Price, in the currency's minor units (cents).
    pub price_amount: i64,
    /// ISO 4217 code, lowercase (`usd`).
    pub currency: String,
}

/// A dialect's side of a sale.
pub trait Merchant: Send + Sync {
    /// The offer with `id`, if the tenant sells it.
    fn offer(&self, id: &str) -> Option<Offer>;

    /// Credits `payment` (verified, not yet credited) inside the caller's unit of
    /// work: opens the account of `payment.account` if needed, posts
    /// `payment.credits` as the dialect's purchase entry, and writes the dialect's
    /// events. Returns the entry.
    ///
    /// # Errors
    /// Ledger errors (ceiling, storage); the unit then rolls back.
    fn issue(&self, tx: &mut LedgerTx<'_>, payment: &Payment) -> Result<PostedEntry, LedgerError>;
}

/// Checks that setting `at`.`name` is an http(s) URL.
///
/// # Errors
/// A message naming the setting and its value.
pub fn http_url(at: &str, name: &str, url: &str) -> Result<(), String> {
    if url.starts_with("https://") || url.starts_with("http://") {
        Ok(())
    } else {
        Err(format!("{at}.{name} must be an http(s) URL, not {url:?}"))
    }
}

/// Counts a payment outcome in `payments_total{provider,outcome}`: `checkout` (a
/// Stripe session opened), `credited`, `replayed` (credited or answered before),
/// `refused` (unverifiable or mismatching), `pending` (not paid yet), `clawed_back`,
/// `given_back`, `ignored` (an event this node does not act on).
pub fn count(provider: Provider, outcome: &'static str) {
    metrics::counter!("payments_total", "provider" => provider.as_str(), "outcome" => outcome)
        .increment(1);
}

/// Adds `credits` (tenant minor units) that a claw-back of `tenant` could not take
/// back to `payment_shortfall_credits_total{tenant}`.
pub fn count_shortfall(tenant: &TenantId, credits: i64) {
    if let Ok(n) = u64::try_from(credits) {
        if n > 0 {
            metrics::counter!("payment_shortfall_credits_total", "tenant" => tenant.to_string())
                .increment(n);
        }
    }
}
