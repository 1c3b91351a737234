//! Goop2 wire types: request and response bodies exactly as goop2-credit-system.md
//! ("API Design") and field-notes §1 name them. Amounts are whole credits (scale 0).

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// `GET /api/credits/balance`
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct BalanceResponse {
    /// Spendable credits.
    pub balance: i64,
    /// The caller's peer id.
    pub peer_id: String,
    /// `balance < goop2.low_balance_threshold`.
    pub low_balance: bool,
}

/// Query of `GET /api/credits/transactions`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct TransactionsQuery {
    /// Page size, 1 to 100 (default 20).
    pub limit: Option<u32>,
    /// Entries to skip (default 0).
    pub offset: Option<u64>,
    /// Legacy peer id (only with `goop2.trust_peer_id_header`).
    pub peer_id: Option<String>,
}

/// One entry of the caller's history.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Transaction {
    /// Entry id.
    pub id: i64,
    /// Signed credits (+ credit, - debit).
    pub amount: i64,
    /// Balance after this entry.
    pub balance: i64,
    /// `starter`, `purchase`, `refund`, `grant`, `buy`.
    #[serde(rename = "type")]
    pub kind: String,
    /// What it refers to (`template`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ref_type: Option<String>,
    /// The template name, etc.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ref_id: Option<String>,
    /// Human-readable description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// RFC 3339 UTC.
    pub created_at: String,
}

/// `GET /api/credits/transactions`
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TransactionsResponse {
    /// Newest first.
    pub transactions: Vec<Transaction>,
    /// All entries of the caller.
    pub total: u64,
}

/// `GET /api/credits/bundles`: the credit bundles on sale.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct BundlesResponse {
    /// Every bundle: `{id, credits, price_amount, currency}`.
    pub bundles: Vec<super::settings::Bundle>,
    /// Whether `POST /api/credits/checkout` can open a payment (`[goop2.stripe]` is set).
    pub checkout_available: bool,
}

/// `POST /api/credits/checkout`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BundleCheckoutRequest {
    /// A bundle id from `GET /api/credits/bundles`.
    pub bundle: String,
}

/// `POST /api/credits/checkout` answer: open `checkout_url` in a browser; the credits
/// arrive with Stripe's webhook (a `buy` entry), never with the redirect.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct BundleCheckoutResponse {
    /// Stripe's payment page.
    pub checkout_url: String,
    /// The Checkout Session id (`cs_…`).
    pub session_id: String,
}

/// `POST /api/credits/purchase` and `POST /api/credits/spend`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateRequest {
    /// Template name (the catalog folder, e.g. `poker`).
    pub template: String,
}

/// `POST /api/credits/purchase` answers: `ok`, `already_owned` or `free`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PurchaseResponse {
    /// `ok`, `already_owned` or `free`.
    pub status: String,
    /// The template.
    pub template: String,
    /// Credits paid (`ok` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub price: Option<i64>,
    /// Balance after the purchase (`ok` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new_balance: Option<i64>,
}

/// One owned template.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Purchase {
    /// Template name.
    pub template: String,
    /// Credits paid.
    pub price_paid: i64,
    /// RFC 3339 UTC.
    pub purchased_at: String,
}

/// `GET /api/credits/purchases`
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PurchasesResponse {
    /// Owned (not refunded) templates.
    pub purchases: Vec<Purchase>,
}

/// `POST /api/credits/grant` (admin)
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GrantRequest {
    /// The peer to credit.
    pub peer_id: String,
    /// Whole credits, > 0.
    pub amount: i64,
    /// Why (shown in the peer's history).
    #[serde(default)]
    pub note: Option<String>,
}

/// `POST /api/credits/grant` and `/refund` answers.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct GrantResponse {
    /// `ok`.
    pub status: String,
    /// Balance after.
    pub new_balance: i64,
}

/// `POST /api/credits/refund` (admin)
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefundRequest {
    /// The peer.
    pub peer_id: String,
    /// The owned template to refund.
    pub template: String,
    /// Why.
    #[serde(default)]
    pub note: Option<String>,
}

/// `POST /api/credits/refund` answer.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RefundResponse {
    /// `ok`.
    pub status: String,
    /// The template, no longer owned.
    pub template: String,
    /// Credits given back.
    pub refunded: i64,
    /// Balance after.
    pub new_balance: i64,
}

/// One row of `GET /api/templates/list`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TemplateListing {
    /// Template name.
    pub name: String,
    /// Display title.
    pub title: String,
    /// Credits (0 = free, or credits are off).
    pub price: i64,
    /// Free, or bought by the caller.
    pub owned: bool,
    /// Manifest version.
    pub version: String,
}

/// Query of `GET /api/templates/download`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct DownloadQuery {
    /// Template name.
    pub name: String,
    /// Legacy peer id (only with `goop2.trust_peer_id_header`).
    pub peer_id: Option<String>,
}

/// Query of routes that only take the legacy `?peer_id=`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PeerQuery {
    /// Legacy peer id (only with `goop2.trust_peer_id_header`).
    pub peer_id: Option<String>,
}

/// `GET /api/credits/store-data` (field-notes §1).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct StoreDataResponse {
    /// `goop2.credits_enabled`.
    pub credits_active: bool,
    /// Spendable credits.
    pub balance: i64,
    /// Owned template folders.
    pub owned_templates: Vec<String>,
}

/// `POST /api/credits/spend` answer (field-notes §1).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SpendResponse {
    /// Balance after.
    pub balance: i64,
    /// Whether the caller now owns the template.
    pub owned: bool,
}

/// `POST /publish` body (field-notes §1).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PublishRequest {
    /// `online`, `update` or `offline`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The peer's id, at most 256 characters.
    #[serde(rename = "peerId")]
    pub peer_id: String,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// Contact address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Avatar digest.
    #[serde(
        rename = "avatarHash",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub avatar_hash: Option<String>,
    /// Client timestamp, milliseconds since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ts: Option<i64>,
}

/// `GET /api/node`
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct NodeResponse {
    /// The node's libp2p PeerId.
    pub peer_id: String,
    /// Multiaddrs the node listens on.
    pub listen_addrs: Vec<String>,
    /// The rendezvous namespace of Goop2 peers.
    pub namespace: String,
    /// This build's version.
    pub version: String,
}

/// Error body: `{"error": "<code>", "message": "…"}`; 402 on purchase adds
/// `balance`, `price`, `shortfall` (and has no `message`).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    /// Machine-readable code (`insufficient_credits`, `not_found`, …).
    pub error: String,
    /// What went wrong.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Balance (402 only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub balance: Option<i64>,
    /// Price (402 only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub price: Option<i64>,
    /// `price - balance` (402 only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shortfall: Option<i64>,
    /// Template (402 on downloads).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
}

/// `POST /api/credits/redeem`: a campaign code or an invite code.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RedeemRequest {
    /// The code, any case.
    pub code: String,
}

/// `POST /api/credits/redeem` answer.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RedeemResponse {
    /// `ok`.
    pub status: String,
    /// `campaign` or `referral`.
    pub kind: String,
    /// Credits given to the caller.
    pub amount: i64,
    /// Balance after.
    pub new_balance: i64,
}

/// `GET /api/credits/referral`: the caller's invite code and the rules.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ReferralResponse {
    /// The invite code to share.
    pub code: String,
    /// Credits each peer gets (`goop2.referral_bonus`).
    pub bonus: i64,
    /// Most bonuses the caller can receive as an inviter (`goop2.referral_cap`).
    pub cap: i64,
    /// Bonuses the caller has received as an inviter.
    pub bonuses_received: i64,
    /// Hours after joining within which a new peer may redeem a code.
    pub window_hours: u64,
}

/// `POST /api/credits/campaigns` (admin): a new campaign.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CampaignRequest {
    /// 3 to 32 of `A-Z 0-9 - _` (lower case is upper-cased).
    pub code: String,
    /// Whole credits per redemption.
    pub amount: i64,
    /// RFC 3339; default now.
    #[serde(default)]
    pub starts_at: Option<String>,
    /// RFC 3339, after `starts_at`.
    pub ends_at: String,
    /// Most redemptions in all, ≥ 1.
    pub max_redemptions: i64,
    /// The operator's note.
    #[serde(default)]
    pub note: Option<String>,
}

/// A campaign as the admin routes show it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CampaignView {
    /// The code.
    pub code: String,
    /// Whole credits per redemption.
    pub amount: i64,
    /// RFC 3339 UTC, inclusive.
    pub starts_at: String,
    /// RFC 3339 UTC, exclusive.
    pub ends_at: String,
    /// Most redemptions.
    pub max_redemptions: i64,
    /// Redemptions so far.
    pub redeemed: i64,
    /// The operator's note.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// RFC 3339 UTC.
    pub created_at: String,
}

impl From<super::repo::Campaign> for CampaignView {
    fn from(c: super::repo::Campaign) -> Self {
        CampaignView {
            code: c.code,
            amount: c.amount,
            starts_at: c.starts_at,
            ends_at: c.ends_at,
            max_redemptions: c.max_redemptions,
            redeemed: c.redeemed,
            note: c.note,
            created_at: c.created_at,
        }
    }
}

/// `GET /api/credits/campaigns` (admin).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CampaignsResponse {
    /// Newest first.
    pub campaigns: Vec<CampaignView>,
}
