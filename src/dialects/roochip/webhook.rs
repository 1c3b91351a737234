//! How Roochip webhooks look: the envelope is the `credits.issued` body itself (flat,
//! compact JSON in the guide's key order), signed with `X-Roochip-Signature`, the
//! lowercase hex HMAC-SHA256 of the body keyed with the UTF-8 bytes of the tenant's
//! `webhook_secret` (roochip-lite-integration-guide.md, "Webhook Signature
//! Verification"). Each tenant's endpoint is seeded from its settings.

use super::settings::RoochipTenant;
use crate::ledger::{LedgerError, LedgerTx, TenantId};
use crate::webhooks::deliveries::{EndpointRow, WebhookEndpoints};
use crate::webhooks::signing::hex_hmac;
use crate::webhooks::WebhookFormat;

/// The Roochip webhook format.
pub struct RoochipWebhooks;

/// The signature header.
pub const SIGNATURE_HEADER: &str = "X-Roochip-Signature";

impl WebhookFormat for RoochipWebhooks {
    fn envelope(
        &self,
        _event_id: &str,
        _event_type: &str,
        _occurred_at: &str,
        data: &str,
    ) -> String {
        data.to_string()
    }

    fn signature(&self, secret: &str, body: &[u8]) -> Vec<(&'static str, String)> {
        vec![(SIGNATURE_HEADER, hex_hmac(secret, body))]
    }
}

/// The prefix of configured endpoints' ids.
const CONFIGURED: &str = "config:";

/// The id of a tenant's configured endpoint.
pub fn endpoint_id(tenant: &str) -> String {
    format!("{CONFIGURED}{tenant}")
}

/// Makes each tenant's endpoint what its settings say: its `webhook_url` and
/// `webhook_secret` for every event, or inactive when it has no URL (its pending
/// deliveries then dead-letter, and can be replayed once a URL is set). The
/// configured endpoint of a tenant no longer in the settings is turned off too.
///
/// # Errors
/// Storage errors.
pub fn seed_endpoints(tx: &mut LedgerTx<'_>, tenants: &[RoochipTenant]) -> Result<(), LedgerError> {
    let now = tx.now();
    let repo = tx.repo::<dyn WebhookEndpoints>()?;
    for t in tenants {
        TenantId::new(t.id.clone())?;
        repo.upsert_endpoint(
            &EndpointRow {
                id: endpoint_id(&t.id),
                tenant: t.id.clone(),
                url: t.webhook_url.clone(),
                secret: t.webhook_secret.clone(),
                events: vec!["*".into()],
                active: t.webhooks(),
            },
            now,
        )?;
    }
    let keep: Vec<String> = tenants.iter().map(|t| endpoint_id(&t.id)).collect();
    repo.deactivate_others(CONFIGURED, &keep, now)?;
    Ok(())
}
