//! Roochip's own tables: promo code requests and promo codes
//! (roochip-lite-integration-guide.md, "Phase 1: Promo Code Flow"). Codes are kept as
//! the SHA-256 of the code only. Each storage backend implements these traits; units
//! of work reach them through [`LedgerTx::repo`](crate::ledger::LedgerTx::repo), reads
//! through [`LedgerRead::repo`](crate::ledger::LedgerRead::repo).

use crate::ledger::{LedgerError, TenantId};

/// A promo code request as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeRequest {
    /// UUID.
    pub id: String,
    /// The app's id of the user.
    pub external_user_id: String,
    /// `pending`, `fulfilled` or `rejected`.
    pub status: String,
    /// RFC 3339 UTC.
    pub created_at: String,
}

/// A promo code as stored (by its digest).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCode {
    /// The user it was issued to.
    pub owner: String,
    /// ROO it issues, hundredths.
    pub credits: i64,
    /// The request it fulfilled.
    pub request_id: Option<String>,
    /// When it was redeemed (RFC 3339 UTC).
    pub redeemed_at: Option<String>,
}

/// A new promo code.
#[derive(Debug, Clone)]
pub struct NewCode<'a> {
    /// Lowercase hex SHA-256 of the code.
    pub digest: &'a str,
    /// Its tenant.
    pub tenant: &'a TenantId,
    /// The only user who may redeem it.
    pub user: &'a str,
    /// ROO it issues, hundredths.
    pub credits: i64,
    /// The request it fulfils.
    pub request_id: &'a str,
    /// RFC 3339 UTC.
    pub created_at: &'a str,
}

/// Promo codes and their requests inside a unit of work.
pub trait PromoCodes {
    /// The request of `user` in `tenant` (one per user, ever).
    ///
    /// # Errors
    /// Storage errors.
    fn request_of_user(
        &mut self,
        tenant: &TenantId,
        user: &str,
    ) -> Result<Option<CodeRequest>, LedgerError>;
    /// The request `id` of `tenant`.
    ///
    /// # Errors
    /// Storage errors.
    fn request(&mut self, tenant: &TenantId, id: &str) -> Result<Option<CodeRequest>, LedgerError>;
    /// Records a request with `status`; `resolved_at` for one recorded already settled.
    ///
    /// # Errors
    /// Storage errors (a second request of the same user is refused).
    fn insert_request(
        &mut self,
        tenant: &TenantId,
        request: &CodeRequest,
        resolved_at: Option<&str>,
    ) -> Result<(), LedgerError>;
    /// Settles request `id` as `status` (`fulfilled` or `rejected`).
    ///
    /// # Errors
    /// Storage errors.
    fn resolve_request(&mut self, id: &str, status: &str, now: &str) -> Result<(), LedgerError>;
    /// Whether `user` of `tenant` was ever issued a code.
    ///
    /// # Errors
    /// Storage errors.
    fn user_has_code(&mut self, tenant: &TenantId, user: &str) -> Result<bool, LedgerError>;
    /// Whether a code with this digest exists in any tenant.
    ///
    /// # Errors
    /// Storage errors.
    fn digest_taken(&mut self, digest: &str) -> Result<bool, LedgerError>;
    /// Stores a new code.
    ///
    /// # Errors
    /// Storage errors.
    fn insert_code(&mut self, code: &NewCode<'_>) -> Result<(), LedgerError>;
    /// The code with this digest in `tenant`.
    ///
    /// # Errors
    /// Storage errors.
    fn code(&mut self, tenant: &TenantId, digest: &str) -> Result<Option<StoredCode>, LedgerError>;
    /// Whether `user` of `tenant` already redeemed a code.
    ///
    /// # Errors
    /// Storage errors.
    fn user_redeemed(&mut self, tenant: &TenantId, user: &str) -> Result<bool, LedgerError>;
    /// Marks the code redeemed by entry `entry_id`.
    ///
    /// # Errors
    /// Storage errors.
    fn mark_redeemed(&mut self, digest: &str, entry_id: i64, now: &str) -> Result<(), LedgerError>;
}

/// Promo code requests as readers see them.
pub trait PromoCodeReads {
    /// Requests of `tenant`, oldest first, optionally of one status: (how many match,
    /// this page).
    ///
    /// # Errors
    /// Storage errors.
    fn code_requests(
        &mut self,
        tenant: &TenantId,
        status: Option<&str>,
        limit: u32,
        offset: u64,
    ) -> Result<(u64, Vec<CodeRequest>), LedgerError>;
}
