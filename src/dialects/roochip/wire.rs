//! Roochip wire types: request and response bodies exactly as
//! roochip-lite-integration-guide.md names them.
//!
//! Amounts are ROO: decimal JSON numbers with at most 2 places on the wire (`5`,
//! `0.01`, `115.5`), `i64` hundredths inside. Request amounts are
//! [`serde_json::Number`] (so that a string such as `"10"` is refused by type) and are
//! parsed exactly with [`crate::ledger::Amount::from_json_number`]; response amounts
//! are built with [`crate::ledger::json_number`], so they print the way JavaScript
//! prints them. Request bodies reject unknown fields.

use serde::{Deserialize, Serialize};
use serde_json::Number;
use utoipa::{IntoParams, ToSchema};

/// Every error: `{"error": "<message>"}` ("Error Codes").
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(as = roochip::ErrorBody)]
pub struct ErrorBody {
    /// What went wrong, as a sentence; a 400 names the field
    /// (`credits: must be greater than zero`).
    pub error: String,
}

/// `GET /v1/users/{external_user_id}/balance` ("Get User Balance").
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = roochip::BalanceResponse)]
pub struct BalanceResponse {
    /// The app's id of the user.
    pub external_user_id: String,
    /// ROO, at most 2 decimals (`115.5`).
    #[schema(value_type = f64, example = 115.5)]
    pub balance: Number,
    /// RFC 3339 UTC of the wallet's last change (now for a wallet not opened yet).
    pub updated_at: String,
}

/// Query of `GET /v1/users/{external_user_id}/transactions`. Numbers are taken as
/// text so that a bad value is answered with a message naming the parameter.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct TransactionsQuery {
    /// Page number, from 1 (default 1).
    #[param(value_type = Option<u32>, minimum = 1)]
    pub page: Option<String>,
    /// Entries per page, 1 to 100 (default 20).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    pub limit: Option<String>,
}

/// One ledger entry of a wallet ("Get Transaction History").
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = roochip::TransactionEntry)]
pub struct TransactionEntry {
    /// Entry id, increasing with time (stable across pages).
    pub id: i64,
    /// `purchase`, `reward`, `deduction` or `adjustment` (promo codes).
    #[serde(rename = "type")]
    pub kind: String,
    /// ROO added (positive) or deducted (negative).
    #[schema(value_type = f64, example = -10)]
    pub credits_delta: Number,
    /// Balance before the entry, ROO.
    #[schema(value_type = f64)]
    pub balance_before: Number,
    /// Balance after the entry, ROO.
    #[schema(value_type = f64)]
    pub balance_after: Number,
    /// RFC 3339 UTC.
    pub created_at: String,
    /// The `reason` sent with the reward or deduct (`promo_code` for codes).
    pub reason: Option<String>,
    /// The `reference_id` sent with it, if any.
    pub reference_id: Option<String>,
}

/// `GET /v1/users/{external_user_id}/transactions`: newest first.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = roochip::TransactionsResponse)]
pub struct TransactionsResponse {
    /// The app's id of the user.
    pub external_user_id: String,
    /// Entries of the wallet in all pages.
    pub total: u64,
    /// This page (from 1).
    pub page: u32,
    /// Page size.
    pub limit: u32,
    /// This page's entries, newest first.
    pub entries: Vec<TransactionEntry>,
}

/// Body of `POST /v1/users/{external_user_id}/deduct` and `…/reward`.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = roochip::CreditsRequest)]
#[serde(deny_unknown_fields)]
pub struct CreditsRequest {
    /// ROO, > 0, at most 2 decimals (`0.01`, `10.00`).
    #[schema(value_type = f64, example = 10)]
    pub credits: Number,
    /// Why (`ai_generation`, `like`, …): 1 to 200 characters, kept on the entry.
    pub reason: String,
    /// The app's id of the event or job, at most 200 characters.
    #[serde(default)]
    pub reference_id: Option<String>,
}

/// `POST /v1/users/{external_user_id}/deduct` answer ("Deduct Credits").
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = roochip::DeductResponse)]
pub struct DeductResponse {
    /// The app's id of the user.
    pub external_user_id: String,
    /// ROO deducted.
    #[schema(value_type = f64)]
    pub credits_deducted: Number,
    /// Balance after, ROO.
    #[schema(value_type = f64)]
    pub new_balance: Number,
}

/// `POST /v1/users/{external_user_id}/reward` answer ("Issue a Reward").
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = roochip::RewardResponse)]
pub struct RewardResponse {
    /// The app's id of the user.
    pub external_user_id: String,
    /// ROO issued.
    #[schema(value_type = f64)]
    pub credits_rewarded: Number,
    /// Balance after, ROO.
    #[schema(value_type = f64)]
    pub new_balance: Number,
}

/// `POST /v1/admin/users/{external_user_id}/grant` answer.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = roochip::GrantResponse)]
pub struct GrantResponse {
    /// The app's id of the user.
    pub external_user_id: String,
    /// ROO issued.
    #[schema(value_type = f64)]
    pub credits_granted: Number,
    /// Balance after, ROO.
    #[schema(value_type = f64)]
    pub new_balance: Number,
}

/// One credit package ("Get Available Packages").
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = roochip::Package)]
pub struct Package {
    /// The configured id, or a UUID derived from the tenant and the name.
    pub id: String,
    /// Display name (`Starter Pack`).
    pub name: String,
    /// ROO issued by the package.
    #[schema(value_type = f64, example = 10)]
    pub credits_to_issue: Number,
    /// Price in cents (`1000` = $10.00).
    pub price_amount: i64,
    /// Lowercase ISO currency (`usd`).
    pub currency: String,
}

/// `GET /v1/packages`: the tenant's active packages.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = roochip::PackagesResponse)]
pub struct PackagesResponse {
    /// In configuration order.
    pub packages: Vec<Package>,
}

/// The 503 answer of `POST /v1/checkout` while no payment provider is configured
/// ("Phase 1 — Coming soon response").
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = roochip::ComingSoonResponse)]
pub struct ComingSoonResponse {
    /// `coming_soon`.
    pub status: String,
    /// `Payment system coming soon! In the meantime, request a free 5-credit code.`
    pub message: String,
    /// `POST /v1/codes/request`.
    pub request_code_endpoint: String,
}

/// Body of `POST /v1/checkout` ("Phase 2 — Real checkout").
#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = roochip::CheckoutRequest)]
#[serde(deny_unknown_fields)]
pub struct CheckoutRequest {
    /// The app's id of the buyer, 1 to 256 characters.
    pub external_user_id: String,
    /// A package id from `GET /v1/packages`.
    pub package_id: String,
}

/// `POST /v1/checkout` answer (200) when the tenant has `[tenants.stripe]`: open
/// `checkout_url` in a WebView; credits are issued by Stripe's webhook, never by the
/// redirect.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(as = roochip::CheckoutResponse)]
pub struct CheckoutResponse {
    /// Stripe's payment page.
    pub checkout_url: String,
    /// The Checkout Session id (`cs_…`).
    pub session_id: String,
}

/// Body of `POST /iap/apple` ("Mobile IAP call").
#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = roochip::AppleIapRequest)]
#[serde(deny_unknown_fields)]
pub struct AppleIapRequest {
    /// The app's id of the buyer.
    pub external_user_id: String,
    /// The StoreKit 2 signed transaction (JWS) the app got from the purchase.
    pub receipt_data: String,
    /// The package bought (its `apple_product_id` must be the transaction's product).
    pub package_id: String,
    /// The tenant; must be the API key's.
    pub tenant_id: String,
}

/// Body of `POST /iap/google`.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = roochip::GoogleIapRequest)]
#[serde(deny_unknown_fields)]
pub struct GoogleIapRequest {
    /// The app's id of the buyer.
    pub external_user_id: String,
    /// The Play Billing purchase token.
    pub purchase_token: String,
    /// The Play product id bought (must be the package's `google_product_id`).
    pub product_id: String,
    /// The package bought.
    pub package_id: String,
}

/// Success of `POST /iap/apple` and `POST /iap/google`; a repeated request answers
/// the same body.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(as = roochip::IapResponse)]
pub struct IapResponse {
    /// Apple `transactionId`, or the Google purchase token.
    pub transaction_id: String,
    /// ROO issued.
    #[schema(value_type = f64, example = 10)]
    pub credits_issued: Number,
    /// The wallet's balance after the credit, ROO.
    #[schema(value_type = f64, example = 130.5)]
    pub new_balance: Number,
}

/// Body of `POST /v1/codes/request`, `POST /v1/admin/codes/generate`.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = roochip::UserRequest)]
#[serde(deny_unknown_fields)]
pub struct UserRequest {
    /// The app's id of the user, 1 to 256 characters.
    pub external_user_id: String,
}

/// `POST /v1/codes/request` answer (201).
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = roochip::CodeRequestResponse)]
pub struct CodeRequestResponse {
    /// `Request received. An admin will generate your code shortly.`
    pub message: String,
    /// `pending`.
    pub status: String,
}

/// Body of `POST /v1/codes/redeem`.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = roochip::RedeemRequest)]
#[serde(deny_unknown_fields)]
pub struct RedeemRequest {
    /// The app's id of the user.
    pub external_user_id: String,
    /// The code (`ROO-A3F29C1B`); case and surrounding spaces are ignored.
    pub code: String,
}

/// `POST /v1/codes/redeem` answer.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = roochip::RedeemResponse)]
pub struct RedeemResponse {
    /// `5 ROO credits added to your account.`
    pub message: String,
    /// ROO issued.
    #[schema(value_type = f64, example = 5)]
    pub credits_issued: Number,
    /// Balance after, ROO.
    #[schema(value_type = f64, example = 5)]
    pub new_balance: Number,
}

/// Query of `GET /v1/admin/codes/requests`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct CodeRequestsQuery {
    /// `pending`, `fulfilled` or `rejected`; all when absent.
    pub status: Option<String>,
    /// Page number, from 1 (default 1).
    #[param(value_type = Option<u32>, minimum = 1)]
    pub page: Option<String>,
    /// Requests per page, 1 to 500 (default 100).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 500)]
    pub limit: Option<String>,
}

/// One promo code request.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = roochip::CodeRequestView)]
pub struct CodeRequestView {
    /// Request id (UUID).
    pub id: String,
    /// The app's id of the user.
    pub external_user_id: String,
    /// `pending`, `fulfilled` or `rejected`.
    pub status: String,
    /// RFC 3339 UTC.
    pub created_at: String,
}

/// `GET /v1/admin/codes/requests`: oldest first.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = roochip::CodeRequestsResponse)]
pub struct CodeRequestsResponse {
    /// This page of the requests matching the filter.
    pub requests: Vec<CodeRequestView>,
    /// How many requests match the filter (all pages).
    pub count: u64,
}

/// `POST /v1/admin/codes/generate` answer (201).
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = roochip::GenerateResponse)]
pub struct GenerateResponse {
    /// `ROO-` and 8 uppercase hex digits; shown once, stored only as a digest.
    pub code: String,
    /// The only user who may redeem it.
    pub external_user_id: String,
    /// ROO it issues.
    #[schema(value_type = f64, example = 5)]
    pub credits: Number,
    /// `Share this code with <user>. It is single-use.`
    pub message: String,
}

/// Optional body of `POST /v1/admin/codes/requests/{id}/reject`: empty or `{}`.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = roochip::RejectRequest)]
#[serde(deny_unknown_fields)]
pub struct RejectRequest {}

/// The `credits.issued` webhook payload ("Inbound Webhooks"), in the spec's key
/// order. Serialized compactly, it is byte-identical to
/// `JSON.stringify(JSON.parse(body))`.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = roochip::CreditsIssuedEvent)]
pub struct CreditsIssuedEvent {
    /// `credits.issued`.
    pub event: &'static str,
    /// The app's id of the user.
    pub external_user_id: String,
    /// ROO issued.
    #[schema(value_type = f64)]
    pub credits_issued: Number,
    /// Balance after, ROO.
    #[schema(value_type = f64)]
    pub new_balance: Number,
    /// `promo_code`, `reward` (later `stripe`, `apple_iap`, `google_iap`).
    pub payment_source: &'static str,
    /// RFC 3339 UTC of the issuance.
    pub timestamp: String,
}
