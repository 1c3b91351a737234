//! A RedRoomRewards tenant's settings (`[[tenants]]` with `mode = "rrr"`,
//! rrr-xcn-api-contract-v1.md): points (scale 0) kept as lots that expire, the
//! tenant's clients (OAuth client credentials, stored as SHA-256 digests), and the
//! rules of redemptions, top-ups and awards. Fractions are read exactly, in basis
//! points.

use serde::{Deserialize, Serialize};

use crate::ledger::amount::DecimalSetting;
use crate::ledger::{Amount, LedgerError, TenantId, TenantSpec};
use crate::secret::Secret;

/// Decimal places of points.
pub const SCALE: u32 = 0;

/// The largest balance of one bucket, points.
pub const CEILING: i64 = 1_000_000_000_000;

/// One client of the tenant (XCN's backend): `POST /oauth/token` with these
/// credentials gives a bearer.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RrrClient {
    /// The client id (`X-Client-Id`).
    pub client_id: String,
    /// Lowercase hex SHA-256 of the client secret.
    pub client_secret_sha256: String,
    /// HS256 key of `SIGNED_JWT` link proofs from this client, if it sends them.
    #[serde(default)]
    pub link_jwt_secret: Option<Secret>,
}

/// `redemption = { … }`: quotes against a cart.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RedemptionSettings {
    /// Fewest points a redemption burns.
    pub min_points: i64,
    /// Largest share of the cart total points may pay, a decimal from 0 to 1 (`0.8`).
    pub max_fraction: DecimalSetting,
    /// How long a quote holds, seconds.
    pub quote_ttl_secs: u64,
}

/// `topup = { … }`: points bought by the client for a member.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TopupSettings {
    /// Price of one point, currency minor units.
    pub unit_price_minor: i64,
    /// The bundles (points) on offer.
    pub bundles: Vec<i64>,
    /// How long a quote holds, seconds.
    pub quote_ttl_secs: u64,
}

/// `awards = { … }`: points a model gives a viewer (contract §12).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AwardSettings {
    /// Most points of one award.
    pub max_points_per_award: i64,
    /// Most points one model gives per America/Toronto day.
    pub max_points_per_day_per_model: i64,
    /// How long an award intent holds the model's points, seconds.
    pub intent_ttl_secs: u64,
}

impl Default for RedemptionSettings {
    fn default() -> Self {
        RedemptionSettings {
            min_points: 250,
            max_fraction: DecimalSetting::Text("0.8".into()),
            quote_ttl_secs: 600,
        }
    }
}

impl Default for TopupSettings {
    fn default() -> Self {
        TopupSettings {
            unit_price_minor: 3,
            bundles: vec![100, 250, 500, 1000],
            quote_ttl_secs: 900,
        }
    }
}

impl Default for AwardSettings {
    fn default() -> Self {
        AwardSettings {
            max_points_per_award: 1000,
            max_points_per_day_per_model: 10_000,
            intent_ttl_secs: 300,
        }
    }
}

/// A `[[tenants]]` entry with `mode = "rrr"`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RrrTenant {
    /// Tenant id (1-64 of `a-z0-9_-`).
    pub id: String,
    /// An inactive tenant answers 403.
    #[serde(default = "yes")]
    pub active: bool,
    /// Bearer lifetime, seconds (the real client refreshes under 300 s left).
    #[serde(default = "token_ttl")]
    pub token_ttl_secs: u64,
    /// How long an `Idempotency-Key` answer is kept, days.
    #[serde(default = "retention")]
    pub idempotency_retention_days: u32,
    /// `PENDING` earns post by then at the latest, seconds.
    #[serde(default = "pending_posting")]
    pub pending_posting_secs: u64,
    /// Lot expiry when an earn gives none, days; 0 = never.
    #[serde(default = "default_expiry")]
    pub default_expiry_days: u32,
    /// The window of the wallet's `expiring_soon`, days.
    #[serde(default = "expiring_soon")]
    pub expiring_soon_days: u32,
    /// Requests per second per client.
    #[serde(default = "rps")]
    pub rate_limit_rps: u32,
    /// Burst per client.
    #[serde(default = "burst")]
    pub rate_limit_burst: u32,
    /// Liability value of one point, currency minor units.
    #[serde(default = "point_value")]
    pub point_value_minor: i64,
    /// ISO currency of the liability report.
    #[serde(default = "currency")]
    pub currency: String,
    /// Redemption rules.
    #[serde(default)]
    pub redemption: RedemptionSettings,
    /// Top-up rules.
    #[serde(default)]
    pub topup: TopupSettings,
    /// Award rules.
    #[serde(default)]
    pub awards: AwardSettings,
    /// The tenant's clients.
    #[serde(default)]
    pub clients: Vec<RrrClient>,
}

fn yes() -> bool {
    true
}
fn token_ttl() -> u64 {
    3600
}
fn retention() -> u32 {
    30
}
fn pending_posting() -> u64 {
    172_800
}
fn default_expiry() -> u32 {
    365
}
fn expiring_soon() -> u32 {
    30
}
fn rps() -> u32 {
    100
}
fn burst() -> u32 {
    200
}
fn point_value() -> i64 {
    1
}
fn currency() -> String {
    "USD".into()
}

impl RrrTenant {
    /// What the ledger core keeps of the tenant: whole points up to [`CEILING`], kept
    /// as lots (points expire).
    ///
    /// # Errors
    /// [`LedgerError::Invalid`] for an invalid tenant id.
    pub fn spec(&self) -> Result<TenantSpec, LedgerError> {
        Ok(TenantSpec {
            id: TenantId::new(self.id.clone())?,
            mode: "rrr".into(),
            scale: SCALE,
            ceiling: CEILING,
            lots: true,
        })
    }

    /// `redemption.max_fraction` in basis points (0 to 10,000), read exactly.
    ///
    /// # Errors
    /// A message naming the setting when it is not a decimal from 0 to 1 with at most
    /// 4 places.
    pub fn max_fraction_bp(&self) -> Result<i64, String> {
        let text = self.redemption.max_fraction.text();
        Amount::parse_decimal(&text, 4, 10_000)
            .map(|a| a.minor())
            .map_err(|e| {
                format!(
                    "tenants[id = {:?}].redemption.max_fraction {text:?}: {e} (a decimal from 0 to 1)",
                    self.id
                )
            })
    }

    /// Checks what the types cannot.
    ///
    /// # Errors
    /// A message naming the setting at fault.
    pub fn validate(&self) -> Result<(), String> {
        let name = format!("tenants[id = {:?}]", self.id);
        self.max_fraction_bp()?;
        let positive = [
            ("token_ttl_secs", self.token_ttl_secs > 300),
            (
                "idempotency_retention_days",
                self.idempotency_retention_days > 0,
            ),
            ("pending_posting_secs", self.pending_posting_secs > 0),
            ("rate_limit_rps", self.rate_limit_rps > 0),
            (
                "rate_limit_burst",
                self.rate_limit_burst >= self.rate_limit_rps,
            ),
            ("point_value_minor", self.point_value_minor > 0),
            ("redemption.min_points", self.redemption.min_points > 0),
            (
                "redemption.quote_ttl_secs",
                self.redemption.quote_ttl_secs > 0,
            ),
            ("topup.unit_price_minor", self.topup.unit_price_minor > 0),
            ("topup.quote_ttl_secs", self.topup.quote_ttl_secs > 0),
            (
                "awards.max_points_per_award",
                self.awards.max_points_per_award > 0,
            ),
            (
                "awards.max_points_per_day_per_model",
                self.awards.max_points_per_day_per_model >= self.awards.max_points_per_award,
            ),
            ("awards.intent_ttl_secs", self.awards.intent_ttl_secs > 0),
        ];
        if let Some((key, _)) = positive.iter().find(|(_, ok)| !ok) {
            return Err(format!(
                "{name}.{key}: out of range (token_ttl_secs must exceed 300, bursts and daily caps must cover one request or award, the rest must be > 0)"
            ));
        }
        if self.topup.bundles.is_empty() || self.topup.bundles.iter().any(|b| *b <= 0) {
            return Err(format!(
                "{name}.topup.bundles: one or more positive point counts"
            ));
        }
        if self.currency.len() != 3 || !self.currency.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(format!("{name}.currency: an ISO 4217 code such as \"USD\""));
        }
        let mut ids = std::collections::HashSet::new();
        for c in &self.clients {
            if c.client_id.is_empty() || !ids.insert(c.client_id.as_str()) {
                return Err(format!(
                    "{name}.clients: client_id {:?} is empty or used twice",
                    c.client_id
                ));
            }
            let d = &c.client_secret_sha256;
            if d.len() != 64 || !d.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(format!(
                    "{name}.clients[client_id = {:?}].client_secret_sha256: a SHA-256 digest (64 hex digits)",
                    c.client_id
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant(extra: serde_json::Value) -> RrrTenant {
        let mut v = serde_json::json!({
            "id": "xcn",
            "clients": [{"client_id": "xcn-backend", "client_secret_sha256": "a".repeat(64)}],
        });
        if let (Some(o), Some(extra)) = (v.as_object_mut(), extra.as_object()) {
            o.extend(extra.clone());
        }
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn the_defaults_are_the_issue_s_and_valid() {
        let t = tenant(serde_json::json!({}));
        assert_eq!(t.validate(), Ok(()));
        assert_eq!(t.max_fraction_bp(), Ok(8_000));
        assert_eq!((t.token_ttl_secs, t.pending_posting_secs), (3600, 172_800));
        assert_eq!(t.topup.bundles, vec![100, 250, 500, 1000]);
        let spec = t.spec().unwrap();
        assert!(spec.lots);
        assert_eq!((spec.scale, spec.mode.as_str()), (0, "rrr"));
    }

    #[test]
    fn fractions_are_exact_and_bad_settings_are_named() {
        let t = tenant(serde_json::json!({"redemption": {"max_fraction": 0.35}}));
        assert_eq!(t.max_fraction_bp(), Ok(3_500));
        for (extra, key) in [
            (
                serde_json::json!({"redemption": {"max_fraction": 1.5}}),
                "max_fraction",
            ),
            (
                serde_json::json!({"redemption": {"max_fraction": "0.00001"}}),
                "max_fraction",
            ),
            (serde_json::json!({"token_ttl_secs": 200}), "token_ttl_secs"),
            (
                serde_json::json!({"topup": {"bundles": [100, 0]}}),
                "bundles",
            ),
            (serde_json::json!({"currency": "usd"}), "currency"),
            (
                serde_json::json!({"clients": [{"client_id": "c", "client_secret_sha256": "nope"}]}),
                "client_secret_sha256",
            ),
        ] {
            let err = tenant(extra.clone()).validate().unwrap_err();
            assert!(err.contains(key), "{extra}: {err}");
        }
    }
}
