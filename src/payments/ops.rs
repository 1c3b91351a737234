//! The units of work every provider shares. Each runs inside one ledger unit, so the
//! payment row and the money it moves commit together or not at all.

use super::repo::{Payment, PaymentStatus, Payments};
use super::{Merchant, Provider};
use crate::ledger::{Actor, Amount, EntryKind, LedgerError, LedgerTx, Posting};

/// Failures of a payment unit.
#[derive(Debug, thiserror::Error)]
pub enum PaymentError {
    /// The payment was credited before to another account or package, or the
    /// provider's message does not match what the node recorded: nothing written.
    #[error("{0}")]
    Mismatch(String),
    /// A ledger failure (storage, ceiling); the unit rolled back.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}

/// The outcome of [`credit`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credit {
    /// The payment as stored after the unit.
    pub payment: Payment,
    /// `true` when this unit credited it; `false` when it was credited before.
    pub fresh: bool,
    /// The account's available balance after the credit (tenant minor units); the
    /// current balance when credited before.
    pub balance_after: i64,
}

/// Records a checkout the provider has opened, as `open`. A second record of the
/// same (provider, external id) only fills in an order reference the row lacked
/// (and the receipt held for that order).
///
/// # Errors
/// Storage errors.
pub fn record_checkout(tx: &mut LedgerTx<'_>, payment: &Payment) -> Result<(), LedgerError> {
    let now = tx.now().to_string();
    let known = tx
        .repo::<dyn Payments>()?
        .payment(payment.provider, &payment.external_id)?;
    match known {
        None => {
            let mut open = Payment {
                status: PaymentStatus::Open,
                created_at: now.clone(),
                updated_at: now,
                ..payment.clone()
            };
            attach_held_receipt(tx, &mut open)?;
            tx.repo::<dyn Payments>()?.insert_payment(&open)?;
        }
        Some(mut known) if known.order_ref.is_none() && payment.order_ref.is_some() => {
            known.order_ref = payment.order_ref.clone();
            known.updated_at = now;
            attach_held_receipt(tx, &mut known)?;
            tx.repo::<dyn Payments>()?.update_payment(&known)?;
        }
        Some(_) => {}
    }
    Ok(())
}

/// Gives `payment` the receipt held for its order, if it has none.
fn attach_held_receipt(tx: &mut LedgerTx<'_>, payment: &mut Payment) -> Result<(), LedgerError> {
    if let (None, Some(order)) = (&payment.receipt_url, &payment.order_ref) {
        payment.receipt_url = tx
            .repo::<dyn Payments>()?
            .take_receipt(payment.provider, order)?;
    }
    Ok(())
}

/// Credits a verified payment once per (provider, external id): the merchant posts
/// its entry and events and the row becomes `credited` with the entry id, in this
/// unit. A payment credited before is returned as it is (`fresh: false`), whatever
/// `verified` says of its order or answer; one recorded as `open` (a checkout) must
/// name the same tenant, account and package. Google Play: an order (`orderId`) is
/// credited once, whatever its purchase token.
///
/// # Errors
/// [`PaymentError::Mismatch`] when the payment was recorded for another tenant,
/// account or package, or (Google) its order was credited under another token;
/// nothing is written. Ledger errors.
pub fn credit(
    tx: &mut LedgerTx<'_>,
    merchant: &dyn Merchant,
    verified: &Payment,
) -> Result<Credit, PaymentError> {
    let known = tx
        .repo::<dyn Payments>()?
        .payment(verified.provider, &verified.external_id)?;
    if let Some(p) = &known {
        if p.tenant != verified.tenant
            || p.account != verified.account
            || p.package != verified.package
        {
            return Err(PaymentError::Mismatch(format!(
                "{} payment {} belongs to another account or package",
                p.provider, p.external_id
            )));
        }
        if p.status != PaymentStatus::Open {
            let balance_after = match tx.find_account(&p.tenant, &p.account)? {
                Some(account) => tx.balances(account)?.available,
                None => 0,
            };
            return Ok(Credit {
                payment: p.clone(),
                fresh: false,
                balance_after,
            });
        }
    }
    if let (Provider::GoogleIap, Some(order)) = (verified.provider, &verified.order_ref) {
        if let Some(other) = tx
            .repo::<dyn Payments>()?
            .payment_of_order(Provider::GoogleIap, order)?
            .filter(|o| o.external_id != verified.external_id)
        {
            return Err(PaymentError::Mismatch(format!(
                "order {order} was credited under another purchase token ({})",
                other.created_at
            )));
        }
    }
    // A recorded checkout buys what it bought when it was opened.
    let credits = known.as_ref().map_or(verified.credits, |open| open.credits);
    let mut payment = Payment {
        credits,
        status: PaymentStatus::Credited,
        ..verified.clone()
    };
    let entry = merchant.issue(tx, &payment)?;
    let now = tx.now().to_string();
    payment.entry_id = Some(entry.id);
    payment.updated_at = now.clone();
    if let Some(open) = &known {
        payment.receipt_url = payment.receipt_url.take().or(open.receipt_url.clone());
        payment.order_ref = payment.order_ref.take().or(open.order_ref.clone());
    }
    attach_held_receipt(tx, &mut payment)?;
    let repo = tx.repo::<dyn Payments>()?;
    match known {
        Some(open) => {
            payment.id = open.id;
            payment.created_at = open.created_at;
            repo.update_payment(&payment)?;
        }
        None => {
            payment.created_at = now;
            payment.id = repo.insert_payment(&payment)?;
        }
    }
    Ok(Credit {
        payment,
        fresh: true,
        balance_after: entry.balance_after,
    })
}

/// [`credit`], answering with the body of the first credit: a payment credited now
/// stores `render(&credit)` as its answer in the same unit; one credited before
/// answers what it stored (rendered anew if it stored nothing). Returns the answer
/// and whether this unit credited.
///
/// # Errors
/// As [`credit`].
pub fn credit_answering(
    tx: &mut LedgerTx<'_>,
    merchant: &dyn Merchant,
    verified: &Payment,
    render: impl FnOnce(&Credit) -> String,
) -> Result<(String, bool), PaymentError> {
    let credit = credit(tx, merchant, verified)?;
    if let (false, Some(answer)) = (credit.fresh, &credit.payment.answer) {
        return Ok((answer.clone(), false));
    }
    let answer = render(&credit);
    if credit.fresh {
        let mut payment = credit.payment;
        payment.answer = Some(answer.clone());
        tx.repo::<dyn Payments>()?.update_payment(&payment)?;
    }
    Ok((answer, credit.fresh))
}

/// What a claw-back did, tenant minor units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ClawBack {
    /// What the event newly claimed back.
    pub claimed: i64,
    /// Of that, what was taken from the account's available balance.
    pub taken: i64,
    /// What a refund claimed that an open dispute had claimed already (moved from the
    /// dispute's claim to the refunds', with what the dispute took of it).
    pub moved: i64,
}

impl ClawBack {
    /// What this event could not take back (new shortfall).
    pub fn shortfall(&self) -> i64 {
        self.claimed - self.taken
    }

    /// Whether the event changed the claims at all.
    pub fn changed(&self) -> bool {
        self.claimed > 0 || self.moved > 0
    }
}

/// Takes up to `wanted` from the payment's account as an `adjustment` entry, never
/// more than its available balance. Returns what was taken.
fn take_back(
    tx: &mut LedgerTx<'_>,
    payment: &Payment,
    wanted: i64,
    note: &str,
) -> Result<i64, LedgerError> {
    let Some(account) = tx.find_account(&payment.tenant, &payment.account)? else {
        return Ok(0);
    };
    let taken = wanted.min(tx.balances(account)?.available);
    if let Some(amount) = Amount::new(taken) {
        tx.debit(account, amount, &posting(payment, note))?;
    }
    Ok(taken.max(0))
}

fn posting(payment: &Payment, note: &str) -> Posting {
    Posting::new(
        EntryKind::Adjustment,
        Actor::Payment(payment.provider.as_str()),
    )
    .reference("payment", payment.external_id.clone())
    .note(note.to_string())
}

/// What is not yet claimed back by refunds or a dispute.
fn unclaimed(p: &Payment) -> i64 {
    (p.credits - p.refund_claimed - p.dispute_claimed).max(0)
}

/// The credited payment of `provider` for `order_ref`, if any.
fn credited_of_order(
    tx: &mut LedgerTx<'_>,
    provider: Provider,
    order_ref: &str,
) -> Result<Option<Payment>, LedgerError> {
    Ok(tx
        .repo::<dyn Payments>()?
        .payment_of_order(provider, order_ref)?
        .filter(|p| p.status != PaymentStatus::Open))
}

fn store(tx: &mut LedgerTx<'_>, mut payment: Payment) -> Result<Payment, LedgerError> {
    payment.updated_at = tx.now().to_string();
    tx.repo::<dyn Payments>()?.update_payment(&payment)?;
    Ok(payment)
}

/// A refund of the order's charge, `refunded` of `charged` (currency minor units,
/// cumulative over all refunds of the charge): the refunds claim back
/// ⌊credits × refunded ÷ charged⌋ in total; this event claims the difference to what
/// earlier refund events claimed, so a replay or an older event claims nothing. A
/// share an open dispute claimed already moves to the refunds (with what the dispute
/// took of it), so that winning the dispute does not give back what was refunded.
/// Returns the payment and the claw-back, or `None` when the order names no
/// credited payment.
///
/// # Errors
/// Ledger errors.
pub fn refund(
    tx: &mut LedgerTx<'_>,
    provider: Provider,
    order_ref: &str,
    refunded: i64,
    charged: i64,
) -> Result<Option<(Payment, ClawBack)>, LedgerError> {
    let Some(mut p) = credited_of_order(tx, provider, order_ref)? else {
        return Ok(None);
    };
    let total = if charged <= 0 {
        p.credits
    } else {
        let share =
            i128::from(p.credits) * i128::from(refunded.clamp(0, charged)) / i128::from(charged);
        i64::try_from(share).unwrap_or(p.credits)
    };
    let share = (total - p.refund_claimed).max(0);
    if share == 0 {
        return Ok(Some((p, ClawBack::default())));
    }
    let claimed = share.min(unclaimed(&p));
    let moved = (share - claimed).min(p.dispute_claimed);
    let moved_taken = moved.min(p.dispute_taken);
    p.dispute_claimed -= moved;
    p.dispute_taken -= moved_taken;
    p.refund_claimed += moved;
    p.refund_taken += moved_taken;
    let taken = take_back(tx, &p, claimed, "payment refunded")?;
    p.refund_claimed += claimed;
    p.refund_taken += taken;
    if p.status == PaymentStatus::Credited {
        p.status = PaymentStatus::Refunded;
    }
    let c = ClawBack {
        claimed,
        taken,
        moved,
    };
    Ok(Some((store(tx, p)?, c)))
}

/// Dispute `dispute_id` opened on the order's charge: it claims back everything the
/// refunds have not. The same dispute again, or one already closed (events arrive
/// in any order), claims nothing.
///
/// # Errors
/// Ledger errors.
pub fn dispute(
    tx: &mut LedgerTx<'_>,
    provider: Provider,
    order_ref: &str,
    dispute_id: &str,
) -> Result<Option<(Payment, ClawBack)>, LedgerError> {
    let Some(mut p) = credited_of_order(tx, provider, order_ref)? else {
        return Ok(None);
    };
    let same = p.dispute_id.as_deref() == Some(dispute_id);
    if same && p.dispute_closed {
        return Ok(Some((p, ClawBack::default())));
    }
    p.dispute_id = Some(dispute_id.to_string());
    p.dispute_closed = false;
    let claimed = unclaimed(&p);
    let taken = take_back(tx, &p, claimed, "payment disputed")?;
    p.dispute_claimed += claimed;
    p.dispute_taken += taken;
    p.status = PaymentStatus::Disputed;
    let c = ClawBack {
        claimed,
        taken,
        moved: 0,
    };
    Ok(Some((store(tx, p)?, c)))
}

/// Dispute `dispute_id` closed. `won` (the merchant keeps the money, an inquiry
/// closed without a chargeback included): what the dispute took is credited back
/// (an `adjustment` entry) and its claim, shortfall included, is dropped. Lost: the
/// claim stays. Either way the dispute is closed, so a late opening event claims
/// nothing. Returns what was given back; a replay gives nothing.
///
/// # Errors
/// Ledger errors (the ceiling).
pub fn dispute_closed(
    tx: &mut LedgerTx<'_>,
    provider: Provider,
    order_ref: &str,
    dispute_id: &str,
    won: bool,
) -> Result<Option<(Payment, i64)>, LedgerError> {
    let Some(mut p) = credited_of_order(tx, provider, order_ref)? else {
        return Ok(None);
    };
    let same = p.dispute_id.as_deref() == Some(dispute_id);
    if same && p.dispute_closed {
        return Ok(Some((p, 0)));
    }
    let mut give = 0;
    if same && won {
        give = p.dispute_taken;
        if let Some(amount) = Amount::new(give) {
            let account = tx.open_account(&p.tenant, &p.account)?;
            tx.credit(account, amount, &posting(&p, "payment dispute won"))?;
        }
        p.dispute_claimed = 0;
        p.dispute_taken = 0;
        p.status = if p.refund_claimed > 0 {
            PaymentStatus::Refunded
        } else {
            PaymentStatus::Credited
        };
    }
    p.dispute_id = Some(dispute_id.to_string());
    p.dispute_closed = true;
    Ok(Some((store(tx, p)?, give)))
}

/// Stores Stripe's receipt URL on the order's payment, or, when no payment has that
/// order yet (the charge's event came first), holds it until the payment is
/// recorded. Returns whether a payment has it now.
///
/// # Errors
/// Storage errors.
pub fn set_receipt(
    tx: &mut LedgerTx<'_>,
    provider: Provider,
    order_ref: &str,
    receipt_url: &str,
) -> Result<bool, LedgerError> {
    let now = tx.now().to_string();
    let repo = tx.repo::<dyn Payments>()?;
    let Some(mut p) = repo.payment_of_order(provider, order_ref)? else {
        repo.hold_receipt(provider, order_ref, receipt_url, &now)?;
        return Ok(false);
    };
    if p.receipt_url.as_deref() == Some(receipt_url) {
        return Ok(true);
    }
    p.receipt_url = Some(receipt_url.to_string());
    store(tx, p)?;
    Ok(true)
}
