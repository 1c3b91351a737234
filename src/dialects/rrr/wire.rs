//! Request and response shapes of the RedRoomRewards routes (rrr-xcn-api-contract-v1.md
//! and field-notes §3: what the real client sends and reads). Requests refuse unknown
//! fields (422), except inside `metadata`, an open object. Points are whole numbers
//! (`i64`); money is `*_minor`, integer minor units of the tenant's currency; times
//! are ISO-8601 with the America/Toronto offset.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

/// `POST /oauth/token` (RFC 6749 §4.4), as JSON or form fields.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct TokenRequest {
    /// `client_credentials`.
    #[serde(default)]
    pub grant_type: Option<String>,
    /// The client id (or in `Authorization: Basic`).
    #[serde(default)]
    pub client_id: Option<String>,
    /// The client secret (or in `Authorization: Basic`).
    #[serde(default)]
    pub client_secret: Option<String>,
    /// Ignored: a token covers the client's routes.
    #[serde(default)]
    pub scope: Option<String>,
}

/// A bearer.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    /// The bearer (a secret).
    pub access_token: String,
    /// `Bearer`.
    pub token_type: &'static str,
    /// Seconds until it expires.
    pub expires_in: u64,
}

/// An RFC 6749 §5.2 error.
#[derive(Debug, Serialize, ToSchema)]
pub struct OAuthError {
    /// `invalid_client`, `invalid_request`, `unsupported_grant_type`.
    pub error: &'static str,
    /// Why.
    pub error_description: String,
}

/// `POST /v1/links/intents` (§6.1).
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkIntentRequest {
    /// The client's id of its user.
    pub client_user_id: String,
    /// `MEMBER` or `MODEL`.
    pub link_type: String,
}

/// A link intent.
#[derive(Debug, Serialize, ToSchema)]
pub struct LinkIntentResponse {
    /// UUID.
    pub intent_id: String,
    /// 15 minutes after creation.
    pub expires_at: String,
    /// The code the user proves control with (`EMAIL_OTP`).
    pub rrr_link_code: String,
}

/// A link proof.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkProof {
    /// `SIGNED_JWT`, `EMAIL_OTP` or `SSO_ASSERTION`.
    pub method: String,
    /// The JWT, the link code, or the assertion.
    pub assertion: String,
}

/// `POST /v1/links/confirm` (§6.2).
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkConfirmRequest {
    /// The intent.
    pub intent_id: String,
    /// The member to link (created with this id when unknown); minted when absent.
    #[serde(default)]
    pub rrr_member_id: Option<String>,
    /// The client's id of its user (the intent's).
    pub client_user_id: String,
    /// The proof.
    pub proof: LinkProof,
}

/// A confirmed link.
#[derive(Debug, Serialize, ToSchema)]
pub struct LinkResponse {
    /// `ACTIVE` or `REVOKED`.
    pub status: &'static str,
    /// The member.
    pub rrr_member_id: String,
    /// The client's id of its user.
    pub client_user_id: String,
    /// `MEMBER` or `MODEL`.
    pub link_type: String,
    /// When it was confirmed.
    pub linked_at: String,
    /// When it was revoked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<String>,
}

/// `POST /v1/links/revoke`.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkRevokeRequest {
    /// The client's id of its user.
    pub client_user_id: String,
    /// Why (kept with the link).
    pub reason: String,
}

/// `GET /v1/links/status` query.
#[derive(Debug, Deserialize, IntoParams)]
pub struct LinkStatusQuery {
    /// The client's id of its user.
    pub client_user_id: Option<String>,
}

/// `GET /v1/links/status` (§6.3).
#[derive(Debug, Serialize, ToSchema)]
pub struct LinkStatusResponse {
    /// Whether an active link exists.
    pub linked: bool,
    /// The member, when linked.
    pub rrr_member_id: Option<String>,
    /// `MEMBER` or `MODEL`, when linked.
    pub link_type: Option<String>,
    /// When linked.
    pub linked_at: Option<String>,
}

/// Points expiring on one Toronto day.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExpiringPoints {
    /// Points left in lots expiring that day.
    pub points: i64,
    /// The end of that day (midnight, Toronto).
    pub expires_at: String,
}

/// `GET /v1/members/{id}/wallet` (§7.1, flat as field-notes §3).
#[derive(Debug, Serialize, ToSchema)]
pub struct WalletResponse {
    /// The member.
    pub member_id: String,
    /// Spendable points (escrow excluded).
    pub available_points: i64,
    /// Points held by award intents.
    pub escrow_points: i64,
    /// Points of PENDING earns not yet posted.
    pub pending_points: i64,
    /// Lots expiring within `expiring_soon_days`, summed per Toronto day.
    pub expiring_soon: Vec<ExpiringPoints>,
    /// When read.
    pub as_of: String,
}

/// `GET /v1/members/{id}/ledger` query.
#[derive(Debug, Deserialize, IntoParams)]
pub struct LedgerQuery {
    /// Entries created at or after (a date or a time with an offset).
    pub from: Option<String>,
    /// Entries created before.
    pub to: Option<String>,
    /// Types, comma-separated (`EARN,REDEEM`).
    #[serde(rename = "type")]
    pub types: Option<String>,
    /// Page size: 1 to 500 (default 50).
    pub limit: Option<String>,
    /// The `cursor` of the `Link: rel="next"` header.
    pub cursor: Option<String>,
}

/// Who caused an entry (no PII).
#[derive(Debug, Serialize, ToSchema)]
pub struct ActorView {
    /// `SERVICE`, `CLIENT_ADMIN`, `RRR_ADMIN`, `SYSTEM`.
    pub actor_type: String,
    /// Opaque id.
    pub actor_id: String,
}

/// A ledger entry (§5.2).
#[derive(Debug, Serialize, ToSchema)]
pub struct LedgerEntry {
    /// UUID.
    pub entry_id: String,
    /// The member.
    pub member_id: String,
    /// The member's client.
    pub client_id: String,
    /// `EARN|REDEEM|EXPIRE|ADJUST|TRANSFER_IN|TRANSFER_OUT|REVERSAL`.
    #[serde(rename = "type")]
    pub entry_type: String,
    /// Signed points.
    pub points_delta: i64,
    /// Available points after it.
    pub balance_after: i64,
    /// Why.
    pub reason_code: String,
    /// The client's reference.
    pub source_ref: Option<String>,
    /// When accepted.
    pub created_at: String,
    /// When the points moved.
    pub posted_at: String,
    /// Who.
    pub actor: ActorView,
}

/// An earn's source.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EarnSource {
    /// `TOKEN_PURCHASE|MEMBERSHIP_PURCHASE|ADJUSTMENT|MODEL_AWARD`.
    pub event_type: String,
    /// The client's order.
    pub order_id: String,
    /// The order's line (default `1`).
    #[serde(default)]
    pub line_id: Option<String>,
}

/// An earn's policy.
#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EarnPolicy {
    /// When the lot expires (exactly); else the promotion's or the tenant's days.
    #[serde(default)]
    pub expires_at: Option<String>,
    /// `POSTED` (default) or `PENDING`.
    #[serde(default)]
    pub posting_mode: Option<String>,
}

/// `POST /v1/points/earn` (§8.1); also one item of a batch (with `source_ref`).
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EarnRequest {
    /// The client's id of the member's user.
    pub client_user_id: String,
    /// The member.
    pub rrr_member_id: String,
    /// What the points are for.
    pub source: EarnSource,
    /// ISO 4217 of `amount_minor` (the tenant's currency).
    pub currency: String,
    /// What the user spent, minor units.
    pub amount_minor: i64,
    /// Base points (before a promotion).
    pub points: i64,
    /// Expiry and posting.
    #[serde(default)]
    pub policy: Option<EarnPolicy>,
    /// Open object (≤ 4 KB), kept as given; `xcn_membership_tier` and `promotion_id`
    /// are read.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub metadata: Option<Box<RawValue>>,
    /// A batch row's own reference (batch items only).
    #[serde(default)]
    pub source_ref: Option<String>,
}

/// An accepted earn.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EarnResponse {
    /// `ACCEPTED`.
    pub status: String,
    /// UUID of the EARN entry (once posted).
    pub ledger_entry_id: String,
    /// When posted (`null` while pending).
    pub posted_at: Option<String>,
    /// When a PENDING earn posts at the latest (`null` when posted).
    pub pending_until: Option<String>,
    /// Points credited (base plus bonus).
    pub points: i64,
    /// The promotion applied, if any.
    pub promotion_id: Option<String>,
}

/// `POST /v1/points/earn/batch`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EarnBatchRequest {
    /// Up to 1,000 earns, each with its `source_ref`.
    #[schema(value_type = Vec<Object>)]
    pub items: Vec<Box<RawValue>>,
}

/// One row of a batch's answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct BatchRow {
    /// Position in `items`.
    pub index: usize,
    /// The row's `source_ref`.
    pub source_ref: Option<String>,
    /// `ACCEPTED`, `DUPLICATE` or `REJECTED`.
    pub status: &'static str,
    /// The earn's entry (accepted or duplicate).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ledger_entry_id: Option<String>,
    /// Why rejected.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Object)]
    pub error: Option<Value>,
}

/// The answer of a batch.
#[derive(Debug, Serialize, ToSchema)]
pub struct BatchResponse {
    /// One row per item, in order.
    pub results: Vec<BatchRow>,
    /// Accepted rows.
    pub accepted: usize,
    /// Rows already earned before.
    pub duplicates: usize,
    /// Refused rows.
    pub rejected: usize,
}

/// `POST /v1/points/reverse`: an earn by its source or its entry.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EarnReverseRequest {
    /// The earn's source.
    #[serde(default)]
    pub source: Option<EarnSource>,
    /// Or its `ledger_entry_id`.
    #[serde(default)]
    pub ledger_entry_id: Option<String>,
    /// Why (`CHARGEBACK`, …).
    pub reason: String,
}

/// A reversed earn.
#[derive(Debug, Serialize, ToSchema)]
pub struct EarnReverseResponse {
    /// `REVERSED`.
    pub status: &'static str,
    /// The earn.
    pub ledger_entry_id: String,
    /// The REVERSAL entry (none when nothing was left to take).
    pub reversal_entry_id: Option<String>,
    /// Points taken back.
    pub points_reversed: i64,
    /// Points of the earn already spent or expired: not taken back.
    pub shortfall_points: i64,
}

/// `POST /v1/points/adjustments` (field-notes §3).
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdjustmentRequest {
    /// The client's id of the member's user.
    pub client_user_id: String,
    /// The member.
    pub rrr_member_id: String,
    /// Signed points.
    pub points: i64,
    /// Why.
    pub reason_code: String,
    /// The client's ticket (one adjustment per ticket).
    #[serde(default)]
    pub ticket_reference: Option<String>,
    /// Open object (≤ 4 KB), kept as given with the ADJUST entry.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub metadata: Option<Box<RawValue>>,
}

/// An adjustment.
#[derive(Debug, Serialize, ToSchema)]
pub struct AdjustmentResponse {
    /// The ADJUST entry.
    pub ledger_entry_id: String,
    /// `POSTED`.
    pub status: &'static str,
    /// Available points after it.
    pub balance_after: i64,
}

/// A cart line.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CartItem {
    /// SKU.
    pub sku: String,
    /// Quantity.
    pub qty: i64,
    /// Line price, minor units.
    pub minor: i64,
}

/// A cart.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Cart {
    /// ISO 4217 (the tenant's currency).
    pub currency: String,
    /// Total, minor units.
    pub total_minor: i64,
    /// Lines (informative).
    #[serde(default)]
    pub items: Vec<CartItem>,
}

/// What the client asks for.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Requested {
    /// `MAX` or `EXACT`.
    pub mode: String,
    /// Points (EXACT).
    #[serde(default)]
    pub points: Option<i64>,
}

/// `POST /v1/redemptions/quote` (§10.1).
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RedemptionQuoteRequest {
    /// The client's id of the member's user.
    pub client_user_id: String,
    /// The member.
    pub rrr_member_id: String,
    /// The cart.
    pub cart: Cart,
    /// What to burn.
    pub requested: Requested,
}

/// A quote's figures.
#[derive(Debug, Serialize, ToSchema)]
pub struct QuoteFigures {
    /// Points the commit burns.
    pub points_to_burn: i64,
    /// The discount they buy, minor units.
    pub discount_minor: i64,
}

/// A redemption quote.
#[derive(Debug, Serialize, ToSchema)]
pub struct RedemptionQuoteResponse {
    /// Whether points can pay part of this cart.
    pub eligible: bool,
    /// Why not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Fewest points.
    pub min_points: i64,
    /// Most points: min(available, ⌊cart total × max_fraction⌋ in points).
    pub max_points: i64,
    /// The figures (eligible quotes).
    pub quote: Option<QuoteFigures>,
    /// UUID (eligible quotes).
    pub quote_id: Option<String>,
    /// When the quote lapses.
    pub expires_at: Option<String>,
}

/// `POST /v1/redemptions/commit` (§10.2).
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RedemptionCommitRequest {
    /// The quote.
    pub quote_id: String,
    /// The client's order.
    pub client_order_id: String,
    /// The client's id of the member's user.
    pub client_user_id: String,
    /// The member.
    pub rrr_member_id: String,
}

/// A committed redemption.
#[derive(Debug, Serialize, ToSchema)]
pub struct RedemptionCommitResponse {
    /// `COMMITTED`.
    pub status: &'static str,
    /// The REDEEM entry.
    pub ledger_entry_id: String,
    /// The quote.
    pub quote_id: String,
    /// The order.
    pub client_order_id: String,
    /// Points burned.
    pub points_burned: i64,
    /// The discount, minor units.
    pub discount_minor: i64,
    /// Available points after.
    pub balance_after: i64,
}

/// `POST /v1/redemptions/reverse` (§10.3).
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RedemptionReverseRequest {
    /// The order.
    pub client_order_id: String,
    /// `PAYMENT_FAILED|CANCELLED|FRAUD_BLOCKED`.
    pub reason: String,
}

/// A reversed redemption.
#[derive(Debug, Serialize, ToSchema)]
pub struct RedemptionReverseResponse {
    /// `REVERSED`.
    pub status: &'static str,
    /// The order.
    pub client_order_id: String,
    /// The REVERSAL entry.
    pub ledger_entry_id: String,
    /// Points given back into the lots they came from.
    pub points_restored: i64,
    /// Available points after.
    pub balance_after: i64,
}

/// `POST /v1/points/topup/quote` (§11.1).
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TopupQuoteRequest {
    /// Points of one of the tenant's bundles.
    pub bundle: i64,
    /// The price per point the client shows (must be the tenant's).
    pub unit_price_minor: i64,
    /// The member (optional: the commit names it).
    #[serde(default)]
    pub rrr_member_id: Option<String>,
    /// The client's id of the member's user.
    #[serde(default)]
    pub client_user_id: Option<String>,
}

/// A top-up quote.
#[derive(Debug, Serialize, ToSchema)]
pub struct TopupQuoteResponse {
    /// UUID.
    pub topup_quote_id: String,
    /// Points issued on commit.
    pub points: i64,
    /// What XCN charges, minor units.
    pub total_cost_minor: i64,
    /// ISO 4217.
    pub currency: String,
    /// When the quote lapses.
    pub expires_at: String,
}

/// `POST /v1/points/topup/commit` (§11.2).
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TopupCommitRequest {
    /// The quote.
    pub topup_quote_id: String,
    /// The client's order (paid).
    pub client_order_id: String,
    /// The client's id of the member's user.
    pub client_user_id: String,
    /// The member.
    pub rrr_member_id: String,
}

/// A committed top-up.
#[derive(Debug, Serialize, ToSchema)]
pub struct TopupCommitResponse {
    /// `POSTED`.
    pub status: &'static str,
    /// The EARN entry.
    pub ledger_entry_id: String,
    /// The quote.
    pub topup_quote_id: String,
    /// The order.
    pub client_order_id: String,
    /// Points issued.
    pub points: i64,
    /// Available points after.
    pub balance_after: i64,
}
