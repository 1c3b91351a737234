//! Goop2 operations: each write is one unit of work on the ledger core
//! (goop2-credit-system.md, "Security Considerations": a purchase is one transaction:
//! check, debit, entry, ownership). Amounts are whole credits.

use std::sync::Arc;

use super::error::Goop2Error;
use super::repo::{Owned, PurchaseReads, Purchases};
use crate::catalog::Template;
use crate::ledger::{
    AccountId, Actor, Amount, EntryKind, LedgerError, LedgerRead, LedgerTx, Posting, TenantId,
};

/// Idempotency scope that makes the starter grant once-per-peer-ever.
pub const STARTER_SCOPE: &str = "goop2:starter";

/// The outcome of a purchase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PurchaseOutcome {
    /// Debited; the balance after.
    Bought {
        /// Balance after, credits.
        new_balance: i64,
    },
    /// Already owned: nothing was charged.
    AlreadyOwned {
        /// The current balance, credits.
        balance: i64,
    },
}

/// Buys `template` (price > 0) for `peer`: in one unit, check ownership, debit the
/// price as a `purchase` entry, record ownership. Nothing is written when it fails.
///
/// # Errors
/// [`Goop2Error::InsufficientCredits`] with the exact shortfall; storage errors.
pub fn purchase(
    tx: &mut LedgerTx<'_>,
    tenant: &TenantId,
    peer: &str,
    template: &Template,
) -> Result<PurchaseOutcome, Goop2Error> {
    let account = tx.open_account(tenant, peer)?;
    if tx
        .repo::<dyn Purchases>()?
        .owned(account, &template.dir)?
        .is_some()
    {
        let balance = tx.balances(account)?.available;
        return Ok(PurchaseOutcome::AlreadyOwned { balance });
    }
    let price = Amount::new(template.price)
        .ok_or_else(|| Goop2Error::BadRequest(format!("{} is free", template.dir)))?;
    let entry = tx.debit(
        account,
        price,
        &Posting::new(EntryKind::Purchase, Actor::Peer(peer.to_string()))
            .reference("template", &template.dir)
            .note(format!("Purchased template: {}", template.title)),
    )?;
    let now = tx.now();
    tx.repo::<dyn Purchases>()?.insert_purchase(
        account,
        &template.dir,
        template.price,
        entry.id,
        now,
    )?;
    Ok(PurchaseOutcome::Bought {
        new_balance: entry.balance_after,
    })
}

/// Credits `amount` to `peer` as an admin `grant`. Returns the balance after.
///
/// # Errors
/// Ceiling or storage errors.
pub fn grant(
    tx: &mut LedgerTx<'_>,
    tenant: &TenantId,
    peer: &str,
    amount: Amount,
    note: Option<String>,
) -> Result<i64, Goop2Error> {
    let account = tx.open_account(tenant, peer)?;
    let mut posting = Posting::new(EntryKind::Grant, Actor::Admin);
    posting.note = note;
    Ok(tx.credit(account, amount, &posting)?.balance_after)
}

/// Refunds an owned template: credits the price paid back as a `refund` entry and
/// revokes ownership. Returns (refunded, balance after).
///
/// # Errors
/// [`Goop2Error::NotFound`] when `peer` does not own `template`; storage errors.
pub fn refund(
    tx: &mut LedgerTx<'_>,
    tenant: &TenantId,
    peer: &str,
    template: &str,
    note: Option<String>,
) -> Result<(i64, i64), Goop2Error> {
    let not_owned = || Goop2Error::NotFound(format!("peer does not own template {template}"));
    let account = tx.find_account(tenant, peer)?.ok_or_else(not_owned)?;
    let Owned {
        id: purchase_id,
        price_paid,
        ..
    } = tx
        .repo::<dyn Purchases>()?
        .owned(account, template)?
        .ok_or_else(not_owned)?;
    let mut new_balance = tx.balances(account)?.available;
    let mut refund_txn = None;
    if let Some(amount) = Amount::new(price_paid) {
        let entry = tx.credit(
            account,
            amount,
            &Posting::new(EntryKind::Refund, Actor::Admin)
                .reference("template", template)
                .note(note.unwrap_or_else(|| format!("Refund of template: {template}"))),
        )?;
        new_balance = entry.balance_after;
        refund_txn = Some(entry.id);
    }
    let now = tx.now();
    tx.repo::<dyn Purchases>()?
        .revoke_purchase(purchase_id, refund_txn, now)?;
    Ok((price_paid, new_balance))
}

/// Opens `peer`'s account and grants `starter_credits` as a `starter` entry noted
/// "Welcome bonus", once per peer ever (goop2-credit-system.md, "Registration +
/// Starter Credits"). Returns whether the grant happened now.
///
/// # Errors
/// Storage errors.
pub fn welcome(
    tx: &mut LedgerTx<'_>,
    tenant: &TenantId,
    peer: &str,
    starter_credits: i64,
) -> Result<bool, LedgerError> {
    let account = tx.open_account(tenant, peer)?;
    if tx.idempotency_lookup(STARTER_SCOPE, peer, "")?.is_some() {
        return Ok(false);
    }
    if let Some(amount) = Amount::new(starter_credits) {
        tx.credit(
            account,
            amount,
            &Posting::new(EntryKind::Starter, Actor::System).note("Welcome bonus"),
        )?;
    }
    tx.idempotency_store(
        STARTER_SCOPE,
        peer,
        "",
        &crate::ledger::StoredResponse {
            status: 200,
            body: starter_credits.to_string(),
        },
        None,
    )?;
    Ok(true)
}

/// Templates `account` owns (not refunded), oldest first.
///
/// # Errors
/// Storage errors.
pub fn owned_templates(
    r: &mut LedgerRead<'_>,
    account: AccountId,
) -> Result<Vec<Owned>, LedgerError> {
    r.repo::<dyn PurchaseReads>()?.owned_templates(account)
}

/// Whether the caller may download `template`: free, credits off, or owned.
///
/// # Errors
/// Storage errors.
pub fn may_download(
    r: &mut LedgerRead<'_>,
    tenant: &TenantId,
    peer: Option<&str>,
    template: &Arc<Template>,
    credits_enabled: bool,
) -> Result<bool, LedgerError> {
    if !credits_enabled || template.price == 0 {
        return Ok(true);
    }
    let Some(peer) = peer else { return Ok(false) };
    match r.account(tenant, peer)? {
        Some(account) => r
            .repo::<dyn PurchaseReads>()?
            .owns(account.id, &template.dir),
        None => Ok(false),
    }
}
