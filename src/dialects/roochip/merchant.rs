//! Roochip as a seller of its packages (roochip-lite-integration-guide.md, "Buying
//! ROO — Purchase Flow", "Payment Methods"): a verified payment becomes a `purchase`
//! entry and a `credits.issued` event whose `payment_source` names the provider.

use super::ops::{self, KIND_PURCHASE};
use super::settings::{package_credits, package_id, RoochipTenant};
use crate::ledger::{Actor, LedgerError, LedgerTx, PostedEntry, Posting, TenantId};
use crate::payments::{Merchant, Offer, Payment, Provider};

/// A Roochip tenant's packages, for sale.
pub struct RoochipMerchant {
    tenant: RoochipTenant,
    id: TenantId,
}

impl RoochipMerchant {
    /// The merchant of `tenant`.
    ///
    /// # Errors
    /// [`LedgerError::Invalid`] for an invalid tenant id.
    pub fn new(tenant: RoochipTenant) -> Result<RoochipMerchant, LedgerError> {
        let id = TenantId::new(tenant.id.clone())?;
        Ok(RoochipMerchant { tenant, id })
    }
}

/// The active package with `id` as an offer: credits in hundredths of ROO, price in
/// cents.
pub fn offer(tenant: &RoochipTenant, id: &str) -> Option<Offer> {
    let p = tenant
        .packages
        .iter()
        .find(|p| p.active && package_id(tenant, p) == id)?;
    Some(Offer {
        id: id.to_string(),
        name: p.name.clone(),
        credits: package_credits(tenant, p).ok()?.minor(),
        price_amount: p.price_amount,
        currency: p.currency.clone(),
    })
}

/// The product id of `provider`'s store that buys package `id` (`apple_product_id`,
/// `google_product_id`).
pub fn product(tenant: &RoochipTenant, id: &str, provider: Provider) -> Option<String> {
    let p = tenant
        .packages
        .iter()
        .find(|p| package_id(tenant, p) == id)?;
    match provider {
        Provider::AppleIap => p.apple_product_id.clone(),
        Provider::GoogleIap => p.google_product_id.clone(),
        Provider::Stripe => None,
    }
}

impl Merchant for RoochipMerchant {
    fn offer(&self, id: &str) -> Option<Offer> {
        offer(&self.tenant, id)
    }

    fn issue(&self, tx: &mut LedgerTx<'_>, payment: &Payment) -> Result<PostedEntry, LedgerError> {
        let amount = payment.credits_amount()?;
        let actor = Actor::Payment(payment.provider.as_str());
        let account = tx.open_account(&self.id, &payment.account)?;
        let entry = tx.credit(
            account,
            amount,
            &Posting::new(KIND_PURCHASE, actor.clone())
                .reference("payment", payment.external_id.clone())
                .note(format!("package {}", payment.package)),
        )?;
        let w = super::caller::WalletContext {
            tenant: self.id.clone(),
            webhooks: self.tenant.webhooks(),
            actor,
        };
        ops::issued(
            tx,
            &w,
            account,
            &payment.account,
            amount,
            entry.balance_after,
            payment.provider.as_str(),
        )
        .map_err(|e| LedgerError::Invalid(format!("credits.issued: {e:?}")))?;
        Ok(entry)
    }
}
