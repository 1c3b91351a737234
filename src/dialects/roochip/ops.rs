//! Roochip operations. Every write is one unit of work on the ledger core: the wallet
//! is opened, moved, its entry and (for issuances) its `credits.issued` outbox event
//! written, and the idempotency record stored, all in one transaction: either all of
//! it happens or none of it. Amounts are ROO in hundredths.
//!
//! Entry kinds: `reward` (reward route), `deduction` (deduct route), `adjustment`
//! with note `promo_code` (a redeemed promo code: free credits, not a purchase).
//! The request's `reason` is the entry's note, its `reference_id` the entry's
//! `ref_id` with `ref_type` `reference`.

use rand::RngCore;
use serde::Serialize;

use super::caller::WalletContext;
use super::error::RoochipError;
use super::repo::{CodeRequest, NewCode, PromoCodeReads, PromoCodes};
use super::settings::{CEILING, SCALE};
use super::webhook::RoochipWebhooks;
use super::wire::CreditsIssuedEvent;
use crate::ledger::{
    format_minor, idempotency::Idempotency, json_number, AccountId, Actor, Amount, Bucket,
    EntryKind, EntryView, LedgerError, LedgerRead, LedgerTx, Posting, StoredResponse, TenantId,
};
use crate::secret::sha256_hex;
use crate::webhooks::WebhookFormat;

/// The event type of an issuance ("Inbound Webhooks").
pub const CREDITS_ISSUED: &str = "credits.issued";

/// Entry kind of a reward.
pub const KIND_REWARD: EntryKind = EntryKind::Reward;
/// Entry kind of a package bought with money ("Transaction type label": `purchase`).
pub const KIND_PURCHASE: EntryKind = EntryKind::Purchase;
/// Entry kind of a deduct.
pub const KIND_DEDUCTION: EntryKind = EntryKind::Deduction;
/// Entry kind of a redeemed promo code.
pub const KIND_PROMO: EntryKind = KIND_ADJUSTMENT;
/// Entry kind of admin grants and other manual corrections.
pub const KIND_ADJUSTMENT: EntryKind = EntryKind::Adjustment;
/// Note of a redeemed promo code's entry.
pub const PROMO_NOTE: &str = "promo_code";
/// `ref_type` of entries that carry the request's `reference_id`.
pub const REF_REFERENCE: &str = "reference";
/// `ref_type` of promo code entries (the `ref_id` is the code request's id).
pub const REF_PROMO_REQUEST: &str = "promo_code_request";

/// The spec's 409 message for a second code request ("POST /v1/codes/request").
pub const ALREADY_REQUESTED: &str =
    "You have already requested a promo code. Each account can only request once.";

/// An HTTP answer rendered inside the unit of work, so that it can be stored under an
/// idempotency key in the same transaction as the effect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// JSON body.
    pub body: String,
    /// A stored answer replayed for a repeated idempotency key.
    pub replayed: bool,
}

impl Reply {
    /// `body` serialized as the answer with `status`.
    ///
    /// # Errors
    /// 500 if `body` cannot be serialized (a bug).
    pub fn json(status: u16, body: &impl Serialize) -> Result<Reply, RoochipError> {
        Ok(Reply {
            status,
            body: serde_json::to_string(body)
                .map_err(|e| RoochipError::Internal(format!("serialize a response: {e}")))?,
            replayed: false,
        })
    }
}

/// Runs `effect` at most once per idempotency key ([`LedgerTx::once`]): a repeated key
/// with the same request replays the stored answer (and does nothing else); a new key
/// runs `effect` and stores its answer in the same transaction. Without a key,
/// `effect` just runs. Errors are not stored: the unit rolls back and a retry runs
/// again.
///
/// # Errors
/// 409 for a key already used with another request; `effect`'s errors.
pub fn once(
    tx: &mut LedgerTx<'_>,
    idempotency: Option<&Idempotency>,
    effect: impl FnOnce(&mut LedgerTx<'_>) -> Result<Reply, RoochipError>,
) -> Result<Reply, RoochipError> {
    once_replaying(tx, idempotency, effect, |reply| Ok(reply.clone()))
}

/// [`once`], storing for replays what `replay` makes of the answer instead of the
/// answer itself: for answers holding a secret that must not be stored in clear.
///
/// # Errors
/// As [`once`].
pub fn once_replaying(
    tx: &mut LedgerTx<'_>,
    idempotency: Option<&Idempotency>,
    effect: impl FnOnce(&mut LedgerTx<'_>) -> Result<Reply, RoochipError>,
    replay: impl FnOnce(&Reply) -> Result<Reply, RoochipError>,
) -> Result<Reply, RoochipError> {
    let to_stored = |r: Reply| StoredResponse {
        status: r.status,
        body: r.body,
    };
    let answer = tx.once(
        idempotency,
        |tx| effect(tx).map(to_stored),
        |response| {
            replay(&Reply {
                status: response.status,
                body: response.body.clone(),
                replayed: false,
            })
            .map(to_stored)
        },
    )?;
    Ok(Reply {
        status: answer.response.status,
        body: answer.response.body,
        replayed: answer.replayed,
    })
}

/// What a deduct or reward records on its entry.
#[derive(Debug, Clone)]
pub struct Movement {
    /// ROO, hundredths.
    pub amount: Amount,
    /// The request's `reason` (the entry's note).
    pub reason: String,
    /// The request's `reference_id`.
    pub reference_id: Option<String>,
}

impl Movement {
    fn posting(&self, kind: EntryKind, actor: &Actor) -> Posting {
        let posting = Posting::new(kind, actor.clone()).note(self.reason.clone());
        match &self.reference_id {
            Some(r) => posting.reference(REF_REFERENCE, r.clone()),
            None => posting,
        }
    }
}

/// Deducts from `user`'s wallet (opened if new) as a `deduction` entry. Returns the
/// balance after, hundredths.
///
/// # Errors
/// [`RoochipError::InsufficientCredits`] when the balance is smaller (nothing is
/// written); storage errors.
pub fn deduct(
    tx: &mut LedgerTx<'_>,
    w: &WalletContext,
    user: &str,
    m: &Movement,
) -> Result<i64, RoochipError> {
    let account = tx.open_account(&w.tenant, user)?;
    let entry = tx.debit(account, m.amount, &m.posting(KIND_DEDUCTION, &w.actor))?;
    Ok(entry.balance_after)
}

/// Credits `user`'s wallet (opened if new) as a `reward` entry and writes the
/// `credits.issued` event (`payment_source: reward`) when the tenant has webhooks.
/// Returns the balance after, hundredths.
///
/// # Errors
/// 400 naming `credits` when the balance would pass the ceiling; storage errors.
pub fn reward(
    tx: &mut LedgerTx<'_>,
    w: &WalletContext,
    user: &str,
    m: &Movement,
) -> Result<i64, RoochipError> {
    issue(tx, w, user, m, KIND_REWARD, "reward")
}

/// Admin: credits `user`'s wallet (opened if new) as an `adjustment` entry and writes
/// the `credits.issued` event (`payment_source: admin`) when the tenant has webhooks.
/// Returns the balance after, hundredths.
///
/// # Errors
/// 400 naming `credits` when the balance would pass the ceiling; storage errors.
pub fn grant(
    tx: &mut LedgerTx<'_>,
    w: &WalletContext,
    user: &str,
    m: &Movement,
) -> Result<i64, RoochipError> {
    issue(tx, w, user, m, KIND_ADJUSTMENT, "admin")
}

/// An issuance: credits the wallet (opened if new) as a `kind` entry and writes the
/// `credits.issued` event with `payment_source` in the same unit.
fn issue(
    tx: &mut LedgerTx<'_>,
    w: &WalletContext,
    user: &str,
    m: &Movement,
    kind: EntryKind,
    payment_source: &'static str,
) -> Result<i64, RoochipError> {
    let account = tx.open_account(&w.tenant, user)?;
    let entry = tx.credit(account, m.amount, &m.posting(kind, &w.actor))?;
    issued(
        tx,
        w,
        account,
        user,
        m.amount,
        entry.balance_after,
        payment_source,
    )?;
    Ok(entry.balance_after)
}

/// Records a promo code request of `user` (pending) and opens the wallet. One
/// request per user of a tenant, ever, whatever became of it.
///
/// # Errors
/// 409 [`ALREADY_REQUESTED`]; storage errors.
pub fn request_code(
    tx: &mut LedgerTx<'_>,
    w: &WalletContext,
    user: &str,
) -> Result<(), RoochipError> {
    if tx
        .repo::<dyn PromoCodes>()?
        .request_of_user(&w.tenant, user)?
        .is_some()
    {
        return Err(RoochipError::Conflict(ALREADY_REQUESTED.into()));
    }
    tx.open_account(&w.tenant, user)?;
    let request = CodeRequest {
        id: uuid::Uuid::new_v4().to_string(),
        external_user_id: user.to_string(),
        status: "pending".into(),
        created_at: tx.now().to_string(),
    };
    tx.repo::<dyn PromoCodes>()?
        .insert_request(&w.tenant, &request, None)?;
    Ok(())
}

/// Generates the promo code of `user`: `ROO-` and 8 uppercase hex digits from the
/// operating system's CSPRNG, worth `credits`, redeemable once and only by `user`.
/// Only its SHA-256 is stored. The user's request becomes `fulfilled` (a pending or
/// rejected one; with no request, one is recorded as fulfilled, so that the user
/// cannot request another code). Opens the wallet. Returns the code.
///
/// # Errors
/// 409 when `user` already has a code; storage errors.
pub fn generate_code(
    tx: &mut LedgerTx<'_>,
    w: &WalletContext,
    user: &str,
    credits: Amount,
) -> Result<String, RoochipError> {
    let now = tx.now();
    if tx
        .repo::<dyn PromoCodes>()?
        .user_has_code(&w.tenant, user)?
    {
        return Err(RoochipError::Conflict(
            "A promo code was already generated for this user. Each account gets one code.".into(),
        ));
    }
    let codes = tx.repo::<dyn PromoCodes>()?;
    let request_id = match codes.request_of_user(&w.tenant, user)? {
        Some(request) => {
            codes.resolve_request(&request.id, "fulfilled", now)?;
            request.id
        }
        None => {
            let request = CodeRequest {
                id: uuid::Uuid::new_v4().to_string(),
                external_user_id: user.to_string(),
                status: "fulfilled".into(),
                created_at: now.to_string(),
            };
            codes.insert_request(&w.tenant, &request, Some(now))?;
            request.id
        }
    };
    tx.open_account(&w.tenant, user)?;
    let codes = tx.repo::<dyn PromoCodes>()?;
    for _ in 0..16 {
        let code = new_code();
        let digest = sha256_hex(&code);
        if codes.digest_taken(&digest)? {
            continue;
        }
        codes.insert_code(&NewCode {
            digest: &digest,
            tenant: &w.tenant,
            user,
            credits: credits.minor(),
            request_id: &request_id,
            created_at: now,
        })?;
        return Ok(code);
    }
    Err(RoochipError::Internal(
        "no unused promo code after 16 draws".into(),
    ))
}

/// A fresh code: `ROO-` and 8 uppercase hex digits (32 bits from the OS CSPRNG).
fn new_code() -> String {
    let mut bytes = [0u8; 4];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("ROO-{}", hex::encode_upper(bytes))
}

/// A code as typed by a user, in its stored form: trimmed, uppercase.
pub fn normalize_code(code: &str) -> String {
    code.trim().to_ascii_uppercase()
}

/// What a redemption issued, hundredths.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Redeemed {
    /// ROO issued.
    pub credits: i64,
    /// Balance after.
    pub new_balance: i64,
}

/// Redeems `code` for `user`: credits the code's amount as an `adjustment` entry
/// noted `promo_code`, marks the code used, and writes the `credits.issued` event
/// (`payment_source: promo_code`) when the tenant has webhooks.
///
/// # Errors
/// 404 unknown code (or another tenant's), 403 a code issued to another user, 409 a
/// code already used or a user who already redeemed one, 400 when the balance would
/// pass the ceiling; storage errors.
pub fn redeem_code(
    tx: &mut LedgerTx<'_>,
    w: &WalletContext,
    user: &str,
    code: &str,
) -> Result<Redeemed, RoochipError> {
    let digest = sha256_hex(&normalize_code(code));
    let Some(stored) = tx.repo::<dyn PromoCodes>()?.code(&w.tenant, &digest)? else {
        return Err(RoochipError::NotFound("This code is invalid.".into()));
    };
    let (owner, credits, request_id, redeemed_at) = (
        stored.owner,
        stored.credits,
        stored.request_id,
        stored.redeemed_at,
    );
    if owner != user {
        return Err(RoochipError::Forbidden(
            "This code was not issued to this account.".into(),
        ));
    }
    if redeemed_at.is_some() {
        return Err(RoochipError::Conflict(
            "This code has already been redeemed.".into(),
        ));
    }
    if tx
        .repo::<dyn PromoCodes>()?
        .user_redeemed(&w.tenant, user)?
    {
        return Err(RoochipError::Conflict(
            "This account has already redeemed a promo code. Each account can only redeem once."
                .into(),
        ));
    }
    let amount = Amount::new(credits)
        .ok_or_else(|| RoochipError::Internal(format!("a promo code holds {credits}")))?;
    let account = tx.open_account(&w.tenant, user)?;
    let mut posting = Posting::new(KIND_PROMO, w.actor.clone()).note(PROMO_NOTE);
    if let Some(id) = request_id {
        posting = posting.reference(REF_PROMO_REQUEST, id);
    }
    let entry = tx.credit(account, amount, &posting).map_err(|e| match e {
        LedgerError::CeilingExceeded { .. } => RoochipError::BadRequest(format!(
            "code: redeeming it would lift the balance past the maximum of {} ROO",
            format_minor(CEILING, SCALE)
        )),
        other => other.into(),
    })?;
    let now = tx.now();
    tx.repo::<dyn PromoCodes>()?
        .mark_redeemed(&digest, entry.id, now)?;
    issued(
        tx,
        w,
        account,
        user,
        amount,
        entry.balance_after,
        "promo_code",
    )?;
    Ok(Redeemed {
        credits,
        new_balance: entry.balance_after,
    })
}

/// Rejects the pending code request `id`. The user still cannot request again (one
/// request per user, ever). Returns the request as it is now.
///
/// # Errors
/// 404 unknown request (or another tenant's), 409 a request no longer pending;
/// storage errors.
pub fn reject_request(
    tx: &mut LedgerTx<'_>,
    w: &WalletContext,
    id: &str,
) -> Result<CodeRequest, RoochipError> {
    let now = tx.now();
    let codes = tx.repo::<dyn PromoCodes>()?;
    let request = codes
        .request(&w.tenant, id)?
        .ok_or_else(|| RoochipError::NotFound("Code request not found.".into()))?;
    if request.status != "pending" {
        return Err(RoochipError::Conflict(format!(
            "This code request is already {}.",
            request.status
        )));
    }
    codes.resolve_request(id, "rejected", now)?;
    Ok(CodeRequest {
        status: "rejected".into(),
        ..request
    })
}

/// Code requests of `tenant`, oldest first, filtered by `status`: (how many match,
/// this page).
///
/// # Errors
/// Storage errors.
pub fn code_requests(
    r: &mut LedgerRead<'_>,
    tenant: &TenantId,
    status: Option<&str>,
    limit: u32,
    offset: u64,
) -> Result<(u64, Vec<CodeRequest>), LedgerError> {
    r.repo::<dyn PromoCodeReads>()?
        .code_requests(tenant, status, limit, offset)
}

/// A wallet's entries, newest first: (all entries, this page). An unknown user has
/// none (nothing is written).
///
/// # Errors
/// Storage errors.
pub fn history(
    r: &mut LedgerRead<'_>,
    tenant: &TenantId,
    user: &str,
    limit: u32,
    offset: u64,
) -> Result<(u64, Vec<EntryView>), LedgerError> {
    // The page and its total agree.
    r.in_snapshot(|r| {
        let Some(account) = r.account(tenant, user)? else {
            return Ok((0, Vec::new()));
        };
        let total = r.entry_count(account.id, Bucket::Available)?;
        let entries = r.entries(account.id, Bucket::Available, limit, offset)?;
        Ok((total, entries))
    })
}

/// The `credits.issued` payload ("Inbound Webhooks"): compact JSON in the spec's key
/// order, amounts printed as JavaScript prints them.
///
/// # Errors
/// 500 if it cannot be serialized (a bug).
pub fn credits_issued_payload(
    user: &str,
    credits: i64,
    new_balance: i64,
    payment_source: &'static str,
    timestamp: &str,
) -> Result<String, RoochipError> {
    serde_json::to_string(&CreditsIssuedEvent {
        event: CREDITS_ISSUED,
        external_user_id: user.to_string(),
        credits_issued: json_number(credits, SCALE),
        new_balance: json_number(new_balance, SCALE),
        payment_source,
        timestamp: timestamp.to_string(),
    })
    .map_err(|e| RoochipError::Internal(format!("serialize a webhook event: {e}")))
}

/// Writes the `credits.issued` outbox event of an issuance, in the same unit, when
/// the tenant has a webhook URL.
pub(super) fn issued(
    tx: &mut LedgerTx<'_>,
    w: &WalletContext,
    account: AccountId,
    user: &str,
    amount: Amount,
    new_balance: i64,
    payment_source: &'static str,
) -> Result<(), RoochipError> {
    if !w.webhooks {
        return Ok(());
    }
    let data = credits_issued_payload(user, amount.minor(), new_balance, payment_source, tx.now())?;
    let payload = RoochipWebhooks.envelope("", CREDITS_ISSUED, tx.now(), &data);
    tx.enqueue_event(&w.tenant, Some(account), CREDITS_ISSUED, &payload)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_roo_and_eight_uppercase_hex_digits() {
        let a = new_code();
        assert_eq!(a.len(), 12);
        assert!(a.starts_with("ROO-"));
        assert!(a[4..]
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b)));
        assert_ne!(a, new_code());
        assert_eq!(normalize_code("  roo-a3f29c1b "), "ROO-A3F29C1B");
    }

    #[test]
    fn the_event_payload_is_compact_and_in_the_spec_order() {
        let body =
            credits_issued_payload("u-1", 12000, 32050, "promo_code", "2026-03-30T10:00:00Z")
                .unwrap();
        assert_eq!(
            body,
            r#"{"event":"credits.issued","external_user_id":"u-1","credits_issued":120,"new_balance":320.5,"payment_source":"promo_code","timestamp":"2026-03-30T10:00:00Z"}"#
        );
        let small = credits_issued_payload("u", 1, 999_999_999_999, "reward", "t").unwrap();
        assert!(
            small.contains(r#""credits_issued":0.01,"new_balance":9999999999.99"#),
            "{small}"
        );
    }
}
