//! Goop2's own table: template ownership (goop2-credit-system.md, "Data Model",
//! `template_purchases`). Each storage backend implements these traits; units of work
//! reach them through [`LedgerTx::repo`](crate::ledger::LedgerTx::repo), reads through
//! [`LedgerRead::repo`](crate::ledger::LedgerRead::repo).

use crate::ledger::{AccountId, LedgerError, TenantId};

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

/// A campaign: an operator-made code worth `amount` whole credits, open in
/// `[starts_at, ends_at)`, at most `max_redemptions` times and once per peer
/// (goop2-credit-system.md, "Phase 3": promotional credit campaigns).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Campaign {
    /// Row id.
    pub id: i64,
    /// The code, upper-case (`LAUNCH-2026`).
    pub code: String,
    /// Whole credits per redemption.
    pub amount: i64,
    /// RFC 3339 UTC, inclusive.
    pub starts_at: String,
    /// RFC 3339 UTC, exclusive.
    pub ends_at: String,
    /// Most redemptions in all.
    pub max_redemptions: i64,
    /// Redemptions so far.
    pub redeemed: i64,
    /// The operator's note.
    pub note: Option<String>,
    /// RFC 3339 UTC.
    pub created_at: String,
}

/// What an operator gives to make a campaign (checked by
/// [`create_campaign`](super::ops::create_campaign)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCampaign {
    /// The code, upper-case, 3 to 32 of `A-Z 0-9 - _`.
    pub code: String,
    /// Whole credits per redemption, ≥ 1.
    pub amount: i64,
    /// RFC 3339 UTC, inclusive.
    pub starts_at: String,
    /// RFC 3339 UTC, exclusive, after `starts_at`.
    pub ends_at: String,
    /// ≥ 1.
    pub max_redemptions: i64,
    /// At most 500 bytes.
    pub note: Option<String>,
}

/// Campaigns and referrals inside a unit of work.
pub trait Promotions {
    /// The campaign of `tenant` with `code` (upper-case).
    ///
    /// # Errors
    /// Storage errors.
    fn campaign(&mut self, tenant: &TenantId, code: &str) -> Result<Option<Campaign>, LedgerError>;
    /// Records a new campaign; returns its id.
    ///
    /// # Errors
    /// Storage errors (a code taken in the tenant is refused by the store).
    fn insert_campaign(
        &mut self,
        tenant: &TenantId,
        campaign: &NewCampaign,
        now: &str,
    ) -> Result<i64, LedgerError>;
    /// Whether `account` has redeemed campaign `campaign_id`.
    ///
    /// # Errors
    /// Storage errors.
    fn has_redeemed(&mut self, campaign_id: i64, account: AccountId) -> Result<bool, LedgerError>;
    /// Records a redemption with its `promo` entry and counts it on the campaign.
    ///
    /// # Errors
    /// Storage errors (past `max_redemptions`, or twice per account, the store refuses).
    fn insert_redemption(
        &mut self,
        campaign_id: i64,
        account: AccountId,
        entry_id: i64,
        now: &str,
    ) -> Result<(), LedgerError>;
    /// The invite code of `account`, if made.
    ///
    /// # Errors
    /// Storage errors.
    fn referral_code(&mut self, account: AccountId) -> Result<Option<String>, LedgerError>;
    /// Whether `code` is taken, by a referral code or by a campaign of `tenant`.
    ///
    /// # Errors
    /// Storage errors.
    fn code_taken(&mut self, tenant: &TenantId, code: &str) -> Result<bool, LedgerError>;
    /// Records `account`'s invite code.
    ///
    /// # Errors
    /// Storage errors.
    fn insert_referral_code(
        &mut self,
        account: AccountId,
        code: &str,
        now: &str,
    ) -> Result<(), LedgerError>;
    /// The account of `tenant` whose invite code is `code`.
    ///
    /// # Errors
    /// Storage errors.
    fn referral_owner(
        &mut self,
        tenant: &TenantId,
        code: &str,
    ) -> Result<Option<AccountId>, LedgerError>;
    /// Whether `invitee` has redeemed an invite code.
    ///
    /// # Errors
    /// Storage errors.
    fn referred(&mut self, invitee: AccountId) -> Result<bool, LedgerError>;
    /// How many referral bonuses `inviter` has received.
    ///
    /// # Errors
    /// Storage errors.
    fn inviter_bonuses(&mut self, inviter: AccountId) -> Result<i64, LedgerError>;
    /// Records a referral with the invitee's entry and, under the cap, the inviter's.
    ///
    /// # Errors
    /// Storage errors (a second referral of one invitee is refused by the store).
    fn insert_referral(
        &mut self,
        invitee: AccountId,
        inviter: AccountId,
        invitee_entry: Option<i64>,
        inviter_entry: Option<i64>,
        now: &str,
    ) -> Result<(), LedgerError>;
    /// When `account` was opened (RFC 3339 UTC).
    ///
    /// # Errors
    /// [`LedgerError::UnknownAccount`]; storage errors.
    fn account_opened_at(&mut self, account: AccountId) -> Result<String, LedgerError>;
}

/// Campaigns and referrals as readers see them.
pub trait PromotionReads {
    /// The campaigns of `tenant`, newest first.
    ///
    /// # Errors
    /// Storage errors.
    fn campaigns(&mut self, tenant: &TenantId) -> Result<Vec<Campaign>, LedgerError>;
}
