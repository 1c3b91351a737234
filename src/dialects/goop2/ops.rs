//! Goop2 operations: each write is one unit of work on the ledger core
//! (goop2-credit-system.md, "Security Considerations": a purchase is one transaction:
//! check, debit, entry, ownership). Amounts are whole credits.

use std::sync::Arc;

use rusqlite::{params, Connection, OptionalExtension};

use super::error::Goop2Error;
use crate::catalog::Template;
use crate::ledger::{AccountId, Amount, LedgerError, LedgerTx, Posting, TenantId};

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

/// The `actor` of entries a peer causes.
pub fn peer_actor(peer: &str) -> String {
    format!("peer:{peer}")
}

fn owns(conn: &Connection, account: AccountId, template: &str) -> Result<bool, LedgerError> {
    Ok(conn
        .prepare_cached(
            "SELECT 1 FROM template_purchases
             WHERE account_id = ?1 AND template_name = ?2 AND revoked_at IS NULL",
        )?
        .exists(params![account.0, template])?)
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
    if owns(tx.conn(), account, &template.dir)? {
        let balance = tx.balances(account)?.available;
        return Ok(PurchaseOutcome::AlreadyOwned { balance });
    }
    let price = Amount::new(template.price)
        .ok_or_else(|| Goop2Error::BadRequest(format!("{} is free", template.dir)))?;
    let entry = tx.debit(
        account,
        price,
        &Posting::new("purchase", peer_actor(peer))
            .reference("template", &template.dir)
            .note(format!("Purchased template: {}", template.title)),
    )?;
    tx.conn()
        .prepare_cached(
            "INSERT INTO template_purchases (account_id, template_name, price_paid, txn_id, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )
        .and_then(|mut s| {
            s.execute(params![
                account.0,
                template.dir,
                template.price,
                entry.id,
                tx.now()
            ])
        })
        .map_err(LedgerError::from)?;
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
    let mut posting = Posting::new("grant", "admin");
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
    let (purchase_id, price_paid): (i64, i64) = tx
        .conn()
        .prepare_cached(
            "SELECT id, price_paid FROM template_purchases
             WHERE account_id = ?1 AND template_name = ?2 AND revoked_at IS NULL",
        )
        .and_then(|mut s| {
            s.query_row(params![account.0, template], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()
        })
        .map_err(LedgerError::from)?
        .ok_or_else(not_owned)?;
    let mut new_balance = tx.balances(account)?.available;
    let mut refund_txn = None;
    if let Some(amount) = Amount::new(price_paid) {
        let entry = tx.credit(
            account,
            amount,
            &Posting {
                kind: "refund".into(),
                ref_type: Some("template".into()),
                ref_id: Some(template.to_string()),
                note: Some(note.unwrap_or_else(|| format!("Refund of template: {template}"))),
                actor: "admin".into(),
            },
        )?;
        new_balance = entry.balance_after;
        refund_txn = Some(entry.id);
    }
    tx.conn()
        .prepare_cached(
            "UPDATE template_purchases SET revoked_at = ?2, refund_txn_id = ?3 WHERE id = ?1",
        )
        .and_then(|mut s| s.execute(params![purchase_id, tx.now(), refund_txn]))
        .map_err(LedgerError::from)?;
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
            &Posting::new("starter", "system").note("Welcome bonus"),
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
    )?;
    Ok(true)
}

/// Templates `account` owns (not refunded), oldest first: (name, price paid,
/// purchased at).
///
/// # Errors
/// Storage errors.
pub fn owned_templates(
    conn: &Connection,
    account: AccountId,
) -> Result<Vec<(String, i64, String)>, LedgerError> {
    let mut stmt = conn.prepare_cached(
        "SELECT template_name, price_paid, created_at FROM template_purchases
         WHERE account_id = ?1 AND revoked_at IS NULL ORDER BY id",
    )?;
    let rows = stmt.query_map([account.0], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Whether the caller may download `template`: free, credits off, or owned.
///
/// # Errors
/// Storage errors.
pub fn may_download(
    conn: &Connection,
    tenant: &TenantId,
    peer: Option<&str>,
    template: &Arc<Template>,
    credits_enabled: bool,
) -> Result<bool, LedgerError> {
    if !credits_enabled || template.price == 0 {
        return Ok(true);
    }
    let Some(peer) = peer else { return Ok(false) };
    match crate::ledger::read::account(conn, tenant, peer)? {
        Some(account) => owns(conn, account.id, &template.dir),
        None => Ok(false),
    }
}
