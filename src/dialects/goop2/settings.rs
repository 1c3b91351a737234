//! The `[goop2]` settings: the rendezvous economy of goop2-credit-system.md.

use serde::{Deserialize, Serialize};

use crate::ledger::{LedgerError, TenantId, TenantSpec};
use crate::payments::stripe::StripeSettings;

/// Largest Goop2 balance, in credits.
pub const CEILING: i64 = 1_000_000_000_000;

/// `[goop2]`: the rendezvous economy (goop2-credit-system.md).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Goop2Settings {
    /// The ledger tenant that holds Goop2 accounts.
    pub tenant: String,
    /// The rendezvous namespace whose registrations open accounts.
    pub namespace: String,
    /// Credits granted once per peer on its first registration ("starter" entry).
    pub starter_credits: i64,
    /// Below this balance, balance answers carry `low_balance: true`.
    pub low_balance_threshold: i64,
    /// Accept `X-Goop-Peer-ID` (and `?peer_id=`) without proof. Off by default: anyone
    /// could claim any peer id.
    pub trust_peer_id_header: bool,
    /// `false` makes every template free (credits off).
    pub credits_enabled: bool,
    /// Requests per minute.
    pub rate_limits: RateLimits,
    /// Whole credits a referral gives to the invitee and to the inviter
    /// (`GET /api/credits/referral`, `POST /api/credits/redeem`).
    pub referral_bonus: i64,
    /// Most referral bonuses one inviter receives; past it, invitees still get theirs.
    pub referral_cap: i64,
    /// `[goop2.stripe]`: Stripe Checkout for the credit bundles; absent = checkout
    /// answers 503.
    pub stripe: Option<StripeSettings>,
    /// `[[goop2.bundles]]`: credit bundles sold for money (default: the design's
    /// three, goop2-credit-system.md "Phase 2: Credit Bundles").
    pub bundles: Vec<Bundle>,
}

/// A credit bundle: `credits` whole credits for `price_amount` in the currency's
/// minor units.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Bundle {
    /// Bundle id (`credits-500`).
    pub id: String,
    /// Credits issued.
    pub credits: i64,
    /// Price in cents (`499` = $4.99).
    pub price_amount: i64,
    /// ISO 4217, lowercase (`usd`).
    pub currency: String,
}

/// The design's bundles: 500 credits for $4.99, 1,200 for $9.99, 3,000 for $19.99.
pub fn default_bundles() -> Vec<Bundle> {
    [
        ("credits-500", 500, 499),
        ("credits-1200", 1200, 999),
        ("credits-3000", 3000, 1999),
    ]
    .into_iter()
    .map(|(id, credits, price_amount)| Bundle {
        id: id.into(),
        credits,
        price_amount,
        currency: "usd".into(),
    })
    .collect()
}

/// `[goop2.rate_limits]`: requests per minute (goop2-credit-system.md, "Rate Limiting").
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimits {
    /// Balance reads per peer.
    pub balance_per_min: u32,
    /// Purchases and spends per peer.
    pub purchase_per_min: u32,
    /// History reads per peer.
    pub transactions_per_min: u32,
    /// `POST /publish` per client IP.
    pub publish_per_min: u32,
}

impl Default for Goop2Settings {
    fn default() -> Self {
        Goop2Settings {
            tenant: "goop2".into(),
            namespace: "goop2".into(),
            starter_credits: 500,
            low_balance_threshold: 100,
            referral_bonus: 50,
            referral_cap: 20,
            trust_peer_id_header: false,
            credits_enabled: true,
            rate_limits: RateLimits::default(),
            stripe: None,
            bundles: default_bundles(),
        }
    }
}

impl Default for RateLimits {
    fn default() -> Self {
        RateLimits {
            balance_per_min: 60,
            purchase_per_min: 10,
            transactions_per_min: 30,
            publish_per_min: 60,
        }
    }
}

impl Goop2Settings {
    /// What the ledger core keeps of the Goop2 tenant: whole credits up to [`CEILING`].
    ///
    /// # Errors
    /// [`LedgerError::Invalid`] for an invalid tenant id.
    pub fn spec(&self) -> Result<TenantSpec, LedgerError> {
        Ok(TenantSpec {
            id: TenantId::new(self.tenant.clone())?,
            mode: "goop2".into(),
            scale: 0,
            ceiling: CEILING,
            lots: false,
        })
    }

    /// Checks what the types cannot.
    ///
    /// # Errors
    /// A message naming the key at fault.
    pub fn validate(&self) -> Result<(), String> {
        if self.starter_credits < 0 {
            return Err("goop2.starter_credits must not be negative".into());
        }
        if !(0..=CEILING).contains(&self.referral_bonus) {
            return Err(format!("goop2.referral_bonus must be 0 to {CEILING}"));
        }
        if self.referral_cap < 0 {
            return Err("goop2.referral_cap must not be negative".into());
        }
        if self.namespace.is_empty() || self.namespace.len() > 255 {
            return Err("goop2.namespace must be 1 to 255 bytes".into());
        }
        let r = &self.rate_limits;
        if [
            r.balance_per_min,
            r.purchase_per_min,
            r.transactions_per_min,
            r.publish_per_min,
        ]
        .contains(&0)
        {
            return Err("goop2.rate_limits values must be at least 1".into());
        }
        let mut ids = std::collections::HashSet::new();
        for b in &self.bundles {
            let at = format!("goop2.bundles[id = {:?}]", b.id);
            if b.id.is_empty() || b.id.len() > 64 || !ids.insert(b.id.as_str()) {
                return Err(format!("{at}: ids must be 1 to 64 bytes and unique"));
            }
            if b.credits <= 0 || b.credits > CEILING {
                return Err(format!("{at}.credits: must be 1 to {CEILING}"));
            }
            if b.price_amount <= 0 {
                return Err(format!(
                    "{at}.price_amount: must be at least 1 (a bundle is sold for money)"
                ));
            }
            if b.currency.parse::<stripe::Currency>().is_err() {
                return Err(format!("{at}.currency: unknown currency {:?}", b.currency));
            }
        }
        if let Some(stripe) = &self.stripe {
            stripe.validate("goop2.stripe")?;
        }
        Ok(())
    }
}
