//! The `payments` table as repositories: [`Payments`] inside a unit of work,
//! [`PaymentReads`] on a read snapshot. One row per payment at its provider, unique
//! by (provider, external id); the row is written in the same unit as the credit or
//! claw-back it records.

use super::Provider;
use crate::ledger::{LedgerError, TenantId};

/// Where a payment stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentStatus {
    /// A checkout was started; nothing is paid or credited yet.
    Open,
    /// Paid and credited.
    Credited,
    /// Credited, then refunded in part or in full (see `refund_claimed`).
    Refunded,
    /// Credited, then disputed (see `dispute_claimed`).
    Disputed,
}

impl PaymentStatus {
    /// The stored text: `open`, `credited`, `refunded`, `disputed`.
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentStatus::Open => "open",
            PaymentStatus::Credited => "credited",
            PaymentStatus::Refunded => "refunded",
            PaymentStatus::Disputed => "disputed",
        }
    }

    /// The status stored as `text`.
    pub fn parse(text: &str) -> Option<PaymentStatus> {
        [
            PaymentStatus::Open,
            PaymentStatus::Credited,
            PaymentStatus::Refunded,
            PaymentStatus::Disputed,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }
}

/// Where a Google Play purchase's acknowledgement stands (Google refunds purchases
/// left unacknowledged for three days).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acknowledgement {
    /// Not acknowledged yet: the node retries.
    Pending,
    /// Google has it.
    Done,
    /// Google refused it (the purchase was consumed, refunded or expired): not retried.
    Refused,
}

impl Acknowledgement {
    /// The stored number: 0 pending, 1 done, 2 refused.
    pub fn code(self) -> i64 {
        match self {
            Acknowledgement::Pending => 0,
            Acknowledgement::Done => 1,
            Acknowledgement::Refused => 2,
        }
    }

    /// The acknowledgement stored as `code`.
    pub fn from_code(code: i64) -> Option<Acknowledgement> {
        match code {
            0 => Some(Acknowledgement::Pending),
            1 => Some(Acknowledgement::Done),
            2 => Some(Acknowledgement::Refused),
            _ => None,
        }
    }
}

/// One payment. Credits in the tenant's minor units; `amount` in the currency's
/// minor units.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payment {
    /// Row id (0 before it is stored).
    pub id: i64,
    /// Who took the money.
    pub provider: Provider,
    /// The provider's id of the payment: Checkout Session id, Apple `transactionId`,
    /// Google purchase token.
    pub external_id: String,
    /// The ledger tenant.
    pub tenant: TenantId,
    /// The account's holder: a peer id (Goop2) or an external user id (Roochip).
    pub account: String,
    /// Package or bundle id.
    pub package: String,
    /// Credits the payment buys.
    pub credits: i64,
    /// Price paid, currency minor units.
    pub amount: i64,
    /// ISO 4217 code, lowercase.
    pub currency: String,
    /// Where it stands.
    pub status: PaymentStatus,
    /// The provider's order: Stripe `payment_intent`, Apple `originalTransactionId`,
    /// Google `orderId`.
    pub order_ref: Option<String>,
    /// The credit's entry id, once credited.
    pub entry_id: Option<i64>,
    /// Credits the refunds claim back in total (⌊credits × refunded ÷ amount⌋).
    pub refund_claimed: i64,
    /// Of those, what was taken back.
    pub refund_taken: i64,
    /// Credits the open dispute claims back.
    pub dispute_claimed: i64,
    /// Of those, what was taken back.
    pub dispute_taken: i64,
    /// The store's product bought (Apple `productId`, Google product id).
    pub product_id: Option<String>,
    /// The provider's id of the dispute, once one was opened (Stripe `dp_…`).
    pub dispute_id: Option<String>,
    /// That dispute is closed: a late or repeated opening event changes nothing.
    pub dispute_closed: bool,
    /// Stripe's receipt URL, where Stripe gives one.
    pub receipt_url: Option<String>,
    /// The success answer (JSON) replayed to a repeated IAP request.
    pub answer: Option<String>,
    /// Google: where the acknowledgement stands (`None` where it does not apply).
    pub acknowledged: Option<Acknowledgement>,
    /// RFC 3339 UTC.
    pub created_at: String,
    /// RFC 3339 UTC.
    pub updated_at: String,
}

impl Payment {
    /// A verified payment of `offer` not yet credited, as a provider reports it:
    /// `external_id` is what is credited once, `order_ref` the provider's order.
    pub fn verified(
        provider: Provider,
        external_id: String,
        tenant: TenantId,
        account: String,
        offer: &super::Offer,
        order_ref: Option<String>,
    ) -> Payment {
        Payment {
            id: 0,
            provider,
            external_id,
            tenant,
            account,
            package: offer.id.clone(),
            credits: offer.credits,
            amount: offer.price_amount,
            currency: offer.currency.clone(),
            status: PaymentStatus::Open,
            order_ref,
            entry_id: None,
            refund_claimed: 0,
            refund_taken: 0,
            dispute_claimed: 0,
            dispute_taken: 0,
            product_id: None,
            dispute_id: None,
            dispute_closed: false,
            receipt_url: None,
            answer: None,
            acknowledged: None,
            created_at: String::new(),
            updated_at: String::new(),
        }
    }

    /// The credits bought, as an amount to credit.
    ///
    /// # Errors
    /// [`LedgerError::Invalid`] when the payment buys no credits.
    pub fn credits_amount(&self) -> Result<crate::ledger::Amount, LedgerError> {
        crate::ledger::Amount::new(self.credits)
            .ok_or_else(|| LedgerError::Invalid("a payment must buy some credits".into()))
    }

    /// What claw-backs claimed and could not take back: the payment's shortfall.
    pub fn shortfall(&self) -> i64 {
        (self.refund_claimed - self.refund_taken) + (self.dispute_claimed - self.dispute_taken)
    }
}

/// Which payments a listing shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PaymentFilter {
    /// Only this tenant's.
    pub tenant: Option<TenantId>,
    /// Only this provider's.
    pub provider: Option<Provider>,
    /// Only those with a shortfall.
    pub unrecovered: bool,
    /// Rows before this id (newest first).
    pub before: Option<i64>,
    /// At most this many.
    pub limit: u32,
}

/// The `payments` table inside a unit of work.
pub trait Payments {
    /// The payment of `provider` with `external_id`.
    ///
    /// # Errors
    /// Storage errors.
    fn payment(
        &mut self,
        provider: Provider,
        external_id: &str,
    ) -> Result<Option<Payment>, LedgerError>;

    /// The payment of `provider` for order `order_ref` (a Stripe payment intent, a
    /// Google order id), the newest if several.
    ///
    /// # Errors
    /// Storage errors.
    fn payment_of_order(
        &mut self,
        provider: Provider,
        order_ref: &str,
    ) -> Result<Option<Payment>, LedgerError>;

    /// Inserts `payment` (its `id` is ignored); returns the row id.
    ///
    /// # Errors
    /// A constraint error when (provider, external id) exists; storage errors.
    fn insert_payment(&mut self, payment: &Payment) -> Result<i64, LedgerError>;

    /// Holds `receipt_url` for the order `order_ref` of `provider` until its payment
    /// is recorded (a second receipt replaces the first).
    ///
    /// # Errors
    /// Storage errors.
    fn hold_receipt(
        &mut self,
        provider: Provider,
        order_ref: &str,
        receipt_url: &str,
        now: &str,
    ) -> Result<(), LedgerError>;

    /// Takes (removes and returns) the receipt held for `order_ref`, if any.
    ///
    /// # Errors
    /// Storage errors.
    fn take_receipt(
        &mut self,
        provider: Provider,
        order_ref: &str,
    ) -> Result<Option<String>, LedgerError>;

    /// Writes every mutable field of `payment` (by `id`): status, order, entry,
    /// claw-back counters, receipt, answer, acknowledgement, `updated_at`.
    ///
    /// # Errors
    /// Storage errors.
    fn update_payment(&mut self, payment: &Payment) -> Result<(), LedgerError>;
}

/// The `payments` table on a read snapshot.
pub trait PaymentReads {
    /// The payment of `provider` with `external_id`.
    ///
    /// # Errors
    /// Storage errors.
    fn find_payment(
        &mut self,
        provider: Provider,
        external_id: &str,
    ) -> Result<Option<Payment>, LedgerError>;

    /// Google purchases credited whose acknowledgement is pending, with ids above
    /// `after`, oldest first, at most `limit` (page with the last id).
    ///
    /// # Errors
    /// Storage errors.
    fn unacknowledged(&mut self, after: i64, limit: u32) -> Result<Vec<Payment>, LedgerError>;

    /// Payments matching `filter`, newest first.
    ///
    /// # Errors
    /// Storage errors.
    fn list_payments(&mut self, filter: &PaymentFilter) -> Result<Vec<Payment>, LedgerError>;
}
