//! Goop2's own table: template ownership (goop2-credit-system.md, "Data Model",
//! `template_purchases`). Each storage backend implements these traits; units of work
//! reach them through [`LedgerTx::repo`](crate::ledger::LedgerTx::repo), reads through
//! [`LedgerRead::repo`](crate::ledger::LedgerRead::repo).

use crate::ledger::{AccountId, LedgerError};

/// An owned template: a purchase not refunded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owned {
    /// The purchase row id.
    pub id: i64,
    /// Template name (its catalog folder).
    pub template: String,
    /// Credits paid (whole credits; 0 never occurs: free templates are not recorded).
    pub price_paid: i64,
    /// RFC 3339 UTC.
    pub purchased_at: String,
}

/// Template ownership inside a unit of work.
pub trait Purchases {
    /// The purchase of `template` that `account` holds now (not refunded).
    ///
    /// # Errors
    /// Storage errors.
    fn owned(&mut self, account: AccountId, template: &str) -> Result<Option<Owned>, LedgerError>;
    /// Records that `account` bought `template` for `price_paid` credits with entry
    /// `entry_id`.
    ///
    /// # Errors
    /// Storage errors (a second live purchase of the same template is refused).
    fn insert_purchase(
        &mut self,
        account: AccountId,
        template: &str,
        price_paid: i64,
        entry_id: i64,
        now: &str,
    ) -> Result<(), LedgerError>;
    /// Revokes the purchase `id` (a refund), with the refund entry if credits went back.
    ///
    /// # Errors
    /// Storage errors.
    fn revoke_purchase(
        &mut self,
        id: i64,
        refund_entry: Option<i64>,
        now: &str,
    ) -> Result<(), LedgerError>;
}

/// Template ownership as readers see it.
pub trait PurchaseReads {
    /// The templates `account` owns, oldest purchase first.
    ///
    /// # Errors
    /// Storage errors.
    fn owned_templates(&mut self, account: AccountId) -> Result<Vec<Owned>, LedgerError>;
    /// Whether `account` owns `template`.
    ///
    /// # Errors
    /// Storage errors.
    fn owns(&mut self, account: AccountId, template: &str) -> Result<bool, LedgerError>;
}
