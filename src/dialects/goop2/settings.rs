//! The `[goop2]` settings: the rendezvous economy of goop2-credit-system.md.

use serde::{Deserialize, Serialize};

use crate::ledger::{LedgerError, TenantId, TenantSpec};

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
            trust_peer_id_header: false,
            credits_enabled: true,
            rate_limits: RateLimits::default(),
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
        Ok(())
    }
}
