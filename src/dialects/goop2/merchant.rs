//! Goop2 as a seller of credit bundles (goop2-credit-system.md, "Future: Real-Money
//! Purchases"): a verified payment becomes a `buy` entry of the bundle's credits.

use super::settings::Bundle;
use crate::ledger::{Actor, EntryKind, LedgerError, LedgerTx, PostedEntry, Posting, TenantId};
use crate::payments::{Merchant, Offer, Payment};

/// The Goop2 tenant's bundles, for sale.
pub struct Goop2Merchant {
    /// The Goop2 ledger tenant.
    pub tenant: TenantId,
    /// `[[goop2.bundles]]`.
    pub bundles: Vec<Bundle>,
}

/// `bundle` as an offer: whole credits, price in cents.
pub fn offer(bundle: &Bundle) -> Offer {
    Offer {
        id: bundle.id.clone(),
        name: format!("{} credits", bundle.credits),
        credits: bundle.credits,
        price_amount: bundle.price_amount,
        currency: bundle.currency.clone(),
    }
}

impl Merchant for Goop2Merchant {
    fn offer(&self, id: &str) -> Option<Offer> {
        self.bundles.iter().find(|b| b.id == id).map(offer)
    }

    fn issue(&self, tx: &mut LedgerTx<'_>, payment: &Payment) -> Result<PostedEntry, LedgerError> {
        let amount = payment.credits_amount()?;
        let account = tx.open_account(&self.tenant, &payment.account)?;
        tx.credit(
            account,
            amount,
            &Posting::new(EntryKind::Buy, Actor::Payment(payment.provider.as_str()))
                .reference("bundle", payment.package.clone())
                .note(format!("Bought {} credits", payment.credits)),
        )
    }
}
