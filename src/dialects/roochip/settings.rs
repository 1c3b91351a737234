//! A Roochip tenant's settings (`[[tenants]]` with `mode = "roochip"`), and its money
//! settings read exactly at the ROO scale: the promo code amount and the credit
//! packages ("Available packages").

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::ledger::{Amount, LedgerError, TenantId, TenantSpec};
use crate::payments::apple::AppleSettings;
use crate::payments::google::GoogleSettings;
use crate::payments::stripe::StripeSettings;
use crate::secret::Secret;

pub use crate::ledger::amount::DecimalSetting;

/// One credit package of a Roochip tenant (roochip-lite-integration-guide.md,
/// "Available packages").
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PackageConfig {
    /// Package id (a UUID); derived from the tenant and name when absent.
    #[serde(default)]
    pub id: Option<String>,
    /// Display name (`Starter Pack`).
    pub name: String,
    /// ROO issued, decimal (`10`).
    pub credits_to_issue: DecimalSetting,
    /// Price in cents (`1000` = $10.00).
    pub price_amount: i64,
    /// ISO currency, lowercase (`usd`).
    #[serde(default = "default_currency")]
    pub currency: String,
    /// Listed by `GET /v1/packages`.
    #[serde(default = "default_true")]
    pub active: bool,
    /// The App Store product id that buys this package (`POST /iap/apple`).
    #[serde(default)]
    pub apple_product_id: Option<String>,
    /// The Google Play product id that buys this package (`POST /iap/google`).
    #[serde(default)]
    pub google_product_id: Option<String>,
}

fn default_currency() -> String {
    "usd".into()
}

fn default_true() -> bool {
    true
}

fn default_scale() -> u32 {
    2
}

fn default_retention_days() -> u32 {
    30
}

fn default_promo_credits() -> DecimalSetting {
    DecimalSetting::Text("5.00".into())
}

/// The seed packages of roochip-lite-integration-guide.md: Starter 10 / $10.00,
/// Popular 25 / $25.00, Premium 50 / $50.00.
pub fn seed_packages() -> Vec<PackageConfig> {
    [
        ("Starter Pack", 10, 1000),
        ("Popular Pack", 25, 2500),
        ("Premium Pack", 50, 5000),
    ]
    .into_iter()
    .map(|(name, credits, cents)| PackageConfig {
        id: None,
        name: name.into(),
        credits_to_issue: DecimalSetting::Integer(credits),
        price_amount: cents,
        currency: default_currency(),
        active: true,
        apple_product_id: None,
        google_product_id: None,
    })
    .collect()
}

/// A `[[tenants]]` entry with `mode = "roochip"`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RoochipTenant {
    /// Tenant id (1-64 of `a-z0-9_-`); its ledger accounts are separate from every
    /// other tenant's.
    pub id: String,
    /// An inactive tenant answers 403 on every route.
    #[serde(default = "default_true")]
    pub active: bool,
    /// Decimal places of its currency; Roochip ROO has 2.
    #[serde(default = "default_scale")]
    pub scale: u32,
    /// SHA-256 (lowercase hex) of each server API key (`X-API-Key`).
    #[serde(default)]
    pub api_keys: Vec<String>,
    /// SHA-256 (lowercase hex) of each admin API key.
    #[serde(default)]
    pub admin_api_keys: Vec<String>,
    /// Where events are POSTed; empty = no webhooks.
    #[serde(default)]
    pub webhook_url: String,
    /// HMAC-SHA256 key of the webhook signature. Needed in clear to sign; never
    /// printed or logged.
    #[serde(default)]
    pub webhook_secret: Secret,
    /// ROO issued by a promo code.
    #[serde(default = "default_promo_credits")]
    pub promo_code_credits: DecimalSetting,
    /// Credit packages (default: the seed packages).
    #[serde(default = "seed_packages")]
    pub packages: Vec<PackageConfig>,
    /// How long an `Idempotency-Key` answer is kept, days (at least 1).
    #[serde(default = "default_retention_days")]
    pub idempotency_retention_days: u32,
    /// `[tenants.stripe]`: Stripe Checkout for the packages; absent = `POST
    /// /v1/checkout` answers the guide's 503 `coming_soon`.
    #[serde(default)]
    pub stripe: Option<Box<StripeSettings>>,
    /// `[tenants.apple]`: App Store purchases (`POST /iap/apple`); absent = 503.
    #[serde(default)]
    pub apple: Option<Box<AppleSettings>>,
    /// `[tenants.google]`: Google Play purchases (`POST /iap/google`); absent = 503.
    #[serde(default)]
    pub google: Option<Box<GoogleSettings>>,
}

/// Decimal places of ROO (hundredths).
pub const SCALE: u32 = 2;

/// The largest wallet balance: 9,999,999,999.99 ROO in hundredths (the spec's
/// NUMERIC(12,2) ceiling, "The ROO Currency").
pub const CEILING: i64 = 999_999_999_999;

/// ROO issued by one promo code of `tenant` (`promo_code_credits`), in hundredths.
///
/// # Errors
/// A message naming the setting when it is not a positive amount with at most 2
/// decimals under the wallet ceiling.
pub fn promo_code_credits(tenant: &RoochipTenant) -> Result<Amount, String> {
    let text = tenant.promo_code_credits.text();
    Amount::parse_decimal(&text, SCALE, CEILING).map_err(|e| {
        format!(
            "tenants[id = {:?}].promo_code_credits {text:?}: {e}",
            tenant.id
        )
    })
}

/// ROO issued by package `p` of `tenant` (`credits_to_issue`), in hundredths.
///
/// # Errors
/// A message naming the setting when it is not a valid amount.
pub fn package_credits(tenant: &RoochipTenant, p: &PackageConfig) -> Result<Amount, String> {
    let text = p.credits_to_issue.text();
    Amount::parse_decimal(&text, SCALE, CEILING).map_err(|e| {
        format!(
            "tenants[id = {:?}].packages[name = {:?}].credits_to_issue {text:?}: {e}",
            tenant.id, p.name
        )
    })
}

/// The id of package `p`: its configured `id`, else a UUID (version 8) derived from
/// the SHA-256 of the tenant id and the package name, so that it stays the same
/// across restarts and differs between tenants.
pub fn package_id(tenant: &RoochipTenant, p: &PackageConfig) -> String {
    if let Some(id) = p.id.as_deref().filter(|id| !id.is_empty()) {
        return id.to_string();
    }
    let digest = Sha256::digest(format!("roochip-package\n{}\n{}", tenant.id, p.name).as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_custom_bytes(bytes)
        .into_uuid()
        .to_string()
}

impl RoochipTenant {
    /// What the ledger core keeps of the tenant: ROO in hundredths up to [`CEILING`].
    ///
    /// # Errors
    /// [`LedgerError::Invalid`] for an invalid tenant id.
    pub fn spec(&self) -> Result<TenantSpec, LedgerError> {
        Ok(TenantSpec {
            id: TenantId::new(self.id.clone())?,
            mode: "roochip".into(),
            scale: self.scale,
            ceiling: CEILING,
            lots: false,
        })
    }

    /// Whether the tenant receives webhooks (`webhook_url` is set).
    pub fn webhooks(&self) -> bool {
        !self.webhook_url.is_empty()
    }

    /// Checks what the types cannot: scale 2, key digests, webhook URL and secret,
    /// amounts and packages ([`check`]).
    ///
    /// # Errors
    /// A message naming the setting at fault.
    pub fn validate(&self) -> Result<(), String> {
        let name = format!("tenants[id = {:?}]", self.id);
        if self.scale != SCALE {
            return Err(format!("{name}.scale: Roochip ROO has scale 2"));
        }
        check(self)?;
        if self.idempotency_retention_days == 0 {
            return Err(format!(
                "{name}.idempotency_retention_days: must be at least 1"
            ));
        }
        for d in self.api_keys.iter().chain(&self.admin_api_keys) {
            if d.len() != 64 || !d.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(format!(
                    "{name}: api_keys and admin_api_keys hold SHA-256 digests (64 hex digits); `rendezvous-credits admin tenant-key` makes one"
                ));
            }
        }
        if !self.webhook_url.is_empty() {
            if !(self.webhook_url.starts_with("http://")
                || self.webhook_url.starts_with("https://"))
            {
                return Err(format!(
                    "{name}.webhook_url: must be an http:// or https:// URL"
                ));
            }
            if self.webhook_secret.is_empty() {
                return Err(format!("{name}.webhook_secret: required with webhook_url"));
            }
        }
        Ok(())
    }
}

/// Checks what the config types cannot: `promo_code_credits` and each package's
/// `credits_to_issue` (positive, at most 2 decimals, under the ceiling),
/// `price_amount` (not negative) and package ids (unique).
///
/// # Errors
/// A message naming the setting at fault.
pub fn check(tenant: &RoochipTenant) -> Result<(), String> {
    promo_code_credits(tenant)?;
    let mut ids = std::collections::HashSet::new();
    for p in &tenant.packages {
        package_credits(tenant, p)?;
        let name = format!(
            "tenants[id = {:?}].packages[name = {:?}]",
            tenant.id, p.name
        );
        if p.price_amount < 0 {
            return Err(format!("{name}.price_amount: must not be negative"));
        }
        if !ids.insert(package_id(tenant, p)) {
            return Err(format!("{name}: the package id (or name) is used twice"));
        }
        if tenant.stripe.is_some() && p.currency.parse::<stripe::Currency>().is_err() {
            return Err(format!(
                "{name}.currency: unknown currency {:?}",
                p.currency
            ));
        }
    }
    if let Some(stripe) = &tenant.stripe {
        stripe.validate(&format!("tenants[id = {:?}].stripe", tenant.id))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant(id: &str) -> RoochipTenant {
        RoochipTenant {
            id: id.into(),
            active: true,
            scale: 2,
            api_keys: Vec::new(),
            admin_api_keys: Vec::new(),
            webhook_url: String::new(),
            webhook_secret: Secret::default(),
            promo_code_credits: DecimalSetting::Text("5.00".into()),
            packages: seed_packages(),
            idempotency_retention_days: 30,
            stripe: None,
            apple: None,
            google: None,
        }
    }

    #[test]
    fn the_seed_settings_are_valid_and_exact() {
        let t = tenant("rooverse");
        assert_eq!(check(&t), Ok(()));
        assert_eq!(promo_code_credits(&t).unwrap().minor(), 500);
        assert_eq!(package_credits(&t, &t.packages[0]).unwrap().minor(), 1000);
    }

    #[test]
    fn package_ids_are_stable_uuids_per_tenant() {
        let a = tenant("a");
        let b = tenant("b");
        let id = package_id(&a, &a.packages[0]);
        assert_eq!(id, package_id(&a, &a.packages[0]));
        assert_ne!(id, package_id(&a, &a.packages[1]));
        assert_ne!(id, package_id(&b, &b.packages[0]));
        let parsed = uuid::Uuid::parse_str(&id).unwrap();
        assert_eq!(parsed.get_version_num(), 8);
        let mut c = tenant("c");
        c.packages[0].id = Some("starter".into());
        assert_eq!(package_id(&c, &c.packages[0]), "starter");
    }

    #[test]
    fn bad_amounts_are_named() {
        let mut t = tenant("t");
        t.promo_code_credits = DecimalSetting::Text("0.001".into());
        assert!(check(&t).unwrap_err().contains("promo_code_credits"));
        let mut t = tenant("t");
        t.packages[1].credits_to_issue = DecimalSetting::Integer(0);
        let err = check(&t).unwrap_err();
        assert!(
            err.contains("Popular Pack") && err.contains("credits_to_issue"),
            "{err}"
        );
        let mut t = tenant("t");
        t.packages[2].name = t.packages[0].name.clone();
        assert!(check(&t).unwrap_err().contains("used twice"));
    }
}
