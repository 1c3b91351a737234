//! The core's time dimension: lots (FIFO by expiry, partial consumption, expiry job,
//! restore on reversal), pending credits (posting, cancelling, the due job), holds
//! that expire, and idempotency (replay, mismatch, sweep).

use super::Fixture;
use crate::ledger::backend::PendingStatus;
use crate::ledger::idempotency::Idempotency;
use crate::ledger::{
    Actor, Amount, Bucket, EntryKind, Ledger, LedgerError, LedgerTx, Posting, StoredResponse,
    TenantId, TenantSpec,
};

const DAY1: &str = "2030-01-01T00:00:00Z";
const DAY2: &str = "2030-01-02T00:00:00Z";
const DAY3: &str = "2030-01-03T00:00:00Z";

/// Registers tenant `pts` (points kept as lots) and tenant `flat` (no lots).
fn tenants(ledger: &Ledger) -> (TenantId, TenantId) {
    let pts = TenantId::new("pts").unwrap();
    let flat = TenantId::new("flat").unwrap();
    for (id, lots) in [(&pts, true), (&flat, false)] {
        ledger
            .ensure_tenant_blocking(TenantSpec {
                id: id.clone(),
                mode: "rrr".into(),
                scale: 0,
                ceiling: 1_000_000,
                lots,
            })
            .unwrap();
    }
    (pts, flat)
}

fn p(kind: EntryKind) -> Posting {
    Posting::new(kind, Actor::System)
}

fn amt(n: i64) -> Amount {
    Amount::new(n).unwrap()
}

/// (remaining, expires_at) of the account's open lots, in consumption order.
fn lots(tx: &mut LedgerTx<'_>, holder: &str, tenant: &TenantId) -> Vec<(i64, Option<String>)> {
    let a = tx.find_account(tenant, holder).unwrap().unwrap();
    tx.backend()
        .open_lots_for_update(a, u32::MAX)
        .unwrap()
        .into_iter()
        .map(|l| (l.remaining, l.expires_at))
        .collect()
}

fn verify_ok(ledger: &Ledger) {
    let report = ledger.verify_blocking(&mut |_| {}).unwrap();
    assert!(report.is_ok(), "{report:?}");
}

/// Debits draw the earliest-expiring lots first, never-expiring last, and may take
/// part of a lot.
pub fn lots_are_consumed_earliest_expiry_first(open: fn() -> Fixture) {
    let f = open();
    let (pts, _) = tenants(&f.ledger);
    f.ledger
        .run_blocking(move |tx| {
            let a = tx.open_account(&pts, "m")?;
            tx.credit_expiring(a, amt(10), Some(DAY3), &p(EntryKind::Grant))?;
            tx.credit_expiring(
                a,
                amt(20),
                Some("2030-01-01T01:00:00+01:00"),
                &p(EntryKind::Grant),
            )?;
            tx.credit(a, amt(5), &p(EntryKind::Grant))?;
            tx.credit_expiring(a, amt(7), Some(DAY2), &p(EntryKind::Grant))?;
            assert_eq!(
                lots(tx, "m", &pts),
                vec![
                    (20, Some(DAY1.into())),
                    (7, Some(DAY2.into())),
                    (10, Some(DAY3.into())),
                    (5, None)
                ]
            );
            tx.debit(a, amt(25), &p(EntryKind::Deduction))?;
            assert_eq!(
                lots(tx, "m", &pts),
                vec![(2, Some(DAY2.into())), (10, Some(DAY3.into())), (5, None)]
            );
            tx.debit(a, amt(14), &p(EntryKind::Deduction))?;
            assert_eq!(lots(tx, "m", &pts), vec![(3, None)]);
            assert!(matches!(
                tx.debit(a, amt(4), &p(EntryKind::Deduction)),
                Err(LedgerError::InsufficientFunds {
                    available: 3,
                    required: 4
                })
            ));
            Ok::<_, LedgerError>(())
        })
        .unwrap();
    verify_ok(&f.ledger);
    f.ledger.shutdown();
}

/// A debit that spans more lots than one page of them takes from each in order; a
/// chargeback takes back what is left of one credit's lot, never more; readers see
/// the lots that expire by a time.
pub fn many_lots_chargebacks_and_expiring_reads(open: fn() -> Fixture) {
    let f = open();
    let (pts, _) = tenants(&f.ledger);
    let t = pts.clone();
    let (first, last) = f
        .ledger
        .run_blocking(move |tx| {
            let a = tx.open_account(&t, "m")?;
            let first = tx.credit_expiring(a, amt(1), Some(DAY1), &p(EntryKind::Grant))?;
            for _ in 0..38 {
                tx.credit_expiring(a, amt(1), Some(DAY2), &p(EntryKind::Grant))?;
            }
            let last = tx.credit(a, amt(5), &p(EntryKind::Grant))?;
            // 37 of the 40 one-point lots (three pages of 16), then none of the rest.
            tx.debit(a, amt(37), &p(EntryKind::Deduction))?;
            assert_eq!(
                lots(tx, "m", &t),
                vec![(1, Some(DAY2.into())), (1, Some(DAY2.into())), (5, None)]
            );
            // The first lot is spent: nothing to take back; the last gives its 5.
            assert_eq!(tx.take_back_lot(first.id, &p(EntryKind::Reversal))?, None);
            let back = tx
                .take_back_lot(last.id, &p(EntryKind::Reversal))?
                .expect("a debit");
            assert_eq!((back.amount, back.balance_after), (-5, 2));
            assert_eq!(tx.take_back_lot(last.id, &p(EntryKind::Reversal))?, None);
            assert!(matches!(
                tx.take_back_lot(back.id, &p(EntryKind::Reversal)),
                Err(LedgerError::Invalid(_))
            ));
            Ok::<_, LedgerError>((first.id, last.id))
        })
        .unwrap();
    assert!(first < last);
    let (soon, later) = f
        .ledger
        .read_blocking(|r| {
            let a = r.account(&pts, "m")?.unwrap();
            Ok::<_, LedgerError>((r.lots_expiring(a.id, DAY1)?, r.lots_expiring(a.id, DAY3)?))
        })
        .unwrap();
    assert_eq!(soon, vec![]);
    assert_eq!(later, vec![(DAY2.to_string(), 1), (DAY2.to_string(), 1)]);
    verify_ok(&f.ledger);
    f.ledger.shutdown();
}

/// The expiry job takes back what is left of lots past their expiry, one `expire`
/// entry each, and nothing else.
pub fn the_expiry_job_takes_back_what_is_left(open: fn() -> Fixture) {
    let f = open();
    let (pts, _) = tenants(&f.ledger);
    let t = pts.clone();
    f.ledger
        .run_blocking(move |tx| {
            let a = tx.open_account(&t, "m")?;
            tx.credit_expiring(a, amt(10), Some(DAY1), &p(EntryKind::Grant))?;
            tx.credit_expiring(a, amt(6), Some(DAY2), &p(EntryKind::Grant))?;
            tx.credit(a, amt(4), &p(EntryKind::Grant))?;
            tx.debit(a, amt(3), &p(EntryKind::Deduction))?;
            Ok::<_, LedgerError>(())
        })
        .unwrap();
    let t = pts.clone();
    let (before, at_day1, after_day2, again) = f
        .ledger
        .run_blocking(move |tx| {
            let before = tx.expire_due("2029-12-31T23:59:59Z", 100)?;
            let at_day1 = tx.expire_due(DAY1, 100)?;
            let after_day2 = tx.expire_due("2030-01-05T00:00:00Z", 100)?;
            let again = tx.expire_due("2030-01-05T00:00:00Z", 100)?;
            assert_eq!(lots(tx, "m", &t), vec![(4, None)]);
            Ok::<_, LedgerError>((before, at_day1, after_day2, again))
        })
        .unwrap();
    assert_eq!((before, at_day1, after_day2, again), (0, 1, 1, 0));
    let entries = f
        .ledger
        .read_blocking(|r| {
            let a = r.account(&pts, "m")?.unwrap();
            assert_eq!(a.available, 4);
            r.entries(a.id, Bucket::Available, 10, 0)
        })
        .unwrap();
    let expired: Vec<(String, i64)> = entries
        .iter()
        .filter(|e| e.kind == "expire")
        .map(|e| (e.kind.clone(), e.amount))
        .collect();
    assert_eq!(expired, vec![("expire".into(), -6), ("expire".into(), -7)]);
    verify_ok(&f.ledger);
    f.ledger.shutdown();
}

/// A reversal gives back exactly the lots a debit took, once; a tenant without lots
/// keeps none, and refuses expiries.
pub fn a_reversal_restores_the_lots_a_debit_took(open: fn() -> Fixture) {
    let f = open();
    let (pts, flat) = tenants(&f.ledger);
    f.ledger
        .run_blocking(move |tx| {
            let a = tx.open_account(&pts, "m")?;
            tx.credit_expiring(a, amt(5), Some(DAY1), &p(EntryKind::Grant))?;
            tx.credit_expiring(a, amt(5), Some(DAY2), &p(EntryKind::Grant))?;
            let spent = tx.debit(a, amt(8), &p(EntryKind::Deduction))?;
            assert_eq!(lots(tx, "m", &pts), vec![(2, Some(DAY2.into()))]);
            let back = tx.reverse(spent.id, &p(EntryKind::Reversal))?;
            assert_eq!((back.amount, back.balance_after), (8, 10));
            assert_eq!(
                lots(tx, "m", &pts),
                vec![(5, Some(DAY1.into())), (5, Some(DAY2.into()))]
            );
            assert!(matches!(
                tx.reverse(spent.id, &p(EntryKind::Reversal)),
                Err(LedgerError::Invalid(m)) if m.contains("already reversed")
            ));
            assert!(matches!(
                tx.reverse(back.id, &p(EntryKind::Reversal)),
                Err(LedgerError::Invalid(m)) if m.contains("not a debit")
            ));
            let (held, _) = tx.hold(a, amt(4), "h", None, &p(EntryKind::Hold))?;
            assert!(matches!(
                tx.reverse(held.id, &p(EntryKind::Reversal)),
                Err(LedgerError::Invalid(m)) if m.contains("funds a hold")
            ));
            tx.release(a, "h", &p(EntryKind::Release))?;
            assert_eq!(tx.balances(a)?.available, 10);

            let b = tx.open_account(&flat, "u")?;
            assert!(matches!(
                tx.credit_expiring(b, amt(5), Some(DAY1), &p(EntryKind::Grant)),
                Err(LedgerError::Invalid(m)) if m.contains("keeps no lots")
            ));
            tx.credit(b, amt(9), &p(EntryKind::Grant))?;
            let spent = tx.debit(b, amt(4), &p(EntryKind::Deduction))?;
            assert!(tx.backend().open_lots_for_update(b, 16)?.is_empty());
            assert!(tx.backend().lot_uses_for_update(spent.id)?.is_empty());
            assert_eq!(
                tx.reverse(spent.id, &p(EntryKind::Reversal))?.balance_after,
                9
            );
            assert!(matches!(
                tx.reverse(spent.id, &p(EntryKind::Reversal)),
                Err(LedgerError::Invalid(m)) if m.contains("already reversed")
            ));
            Ok::<_, LedgerError>(())
        })
        .unwrap();
    verify_ok(&f.ledger);
    f.ledger.shutdown();
}

/// Pending credits sit in `pending` until posted (by hand or by the due job), with
/// their lot, or cancelled; each settles once.
pub fn pending_credits_post_or_cancel_once(open: fn() -> Fixture) {
    let f = open();
    let (pts, _) = tenants(&f.ledger);
    let t = pts.clone();
    f.ledger
        .run_blocking(move |tx| {
            let a = tx.open_account(&t, "m")?;
            let (entry, first) =
                tx.credit_pending(a, amt(30), DAY2, Some(DAY3), &p(EntryKind::PendingCredit))?;
            assert_eq!(entry.balance_after, 30);
            let (_, second) =
                tx.credit_pending(a, amt(12), DAY1, None, &p(EntryKind::PendingCredit))?;
            let (_, third) =
                tx.credit_pending(a, amt(4), DAY1, None, &p(EntryKind::PendingCredit))?;
            let b = tx.balances(a)?;
            assert_eq!((b.available, b.pending), (0, 46));
            let posted = tx.post_pending(first, &p(EntryKind::PendingPost))?;
            assert_eq!(posted.balance_after, 30);
            assert_eq!(lots(tx, "m", &t), vec![(30, Some(DAY3.into()))]);
            assert!(matches!(
                tx.post_pending(first, &p(EntryKind::PendingPost)),
                Err(LedgerError::Invalid(m)) if m.contains("already posted")
            ));
            tx.cancel_pending(third, &p(EntryKind::PendingCancel))?;
            assert!(tx
                .cancel_pending(third, &p(EntryKind::PendingCancel))
                .is_err());
            assert_eq!(
                tx.backend().pending_for_update(third)?.unwrap().status,
                PendingStatus::Cancelled
            );
            assert_eq!(tx.post_pending_due("2029-12-31T00:00:00Z", 10)?, 0);
            assert_eq!(tx.post_pending_due(DAY1, 10)?, 1);
            assert_eq!(tx.post_pending_due(DAY3, 10)?, 0);
            let b = tx.balances(a)?;
            assert_eq!((b.available, b.pending), (42, 0));
            assert_eq!(
                tx.backend().pending_for_update(second)?.unwrap().status,
                PendingStatus::Posted
            );
            assert!(tx
                .post_pending(999_999, &p(EntryKind::PendingPost))
                .is_err());
            Ok::<_, LedgerError>(())
        })
        .unwrap();
    verify_ok(&f.ledger);
    f.ledger.shutdown();
}

/// A hold with an expiry releases itself (into the lots it took); one without stays.
pub fn holds_release_themselves_when_they_expire(open: fn() -> Fixture) {
    let f = open();
    let (pts, _) = tenants(&f.ledger);
    let t = pts.clone();
    f.ledger
        .run_blocking(move |tx| {
            let a = tx.open_account(&t, "m")?;
            tx.credit_expiring(a, amt(10), Some(DAY3), &p(EntryKind::Grant))?;
            tx.credit(a, amt(10), &p(EntryKind::Grant))?;
            tx.hold(a, amt(12), "soon", Some(DAY1), &p(EntryKind::Hold))?;
            tx.hold(a, amt(3), "kept", None, &p(EntryKind::Hold))?;
            assert_eq!(lots(tx, "m", &t), vec![(5, None)]);
            assert!(matches!(
                tx.hold(a, amt(1), "bad", Some("tomorrow"), &p(EntryKind::Hold)),
                Err(LedgerError::Invalid(_))
            ));
            assert_eq!(tx.release_expired("2029-12-31T00:00:00Z", 10)?, 0);
            assert_eq!(tx.release_expired(DAY2, 10)?, 1);
            assert_eq!(tx.release_expired(DAY3, 10)?, 0);
            let b = tx.balances(a)?;
            assert_eq!((b.available, b.held), (17, 3));
            assert_eq!(lots(tx, "m", &t), vec![(10, Some(DAY3.into())), (7, None)]);
            Ok::<_, LedgerError>(())
        })
        .unwrap();
    verify_ok(&f.ledger);
    f.ledger.shutdown();
}

/// The same key and request replay the stored answer; another request is a
/// conflict; records past their retention are swept, records kept forever are not.
pub fn idempotency_replays_refuses_and_sweeps(open: fn() -> Fixture) {
    let f = open();
    let (_, flat) = tenants(&f.ledger);
    let key = |fp: &str, secs: u64| {
        Idempotency::new(&flat, "POST /x", "c1", "k-1", fp.into(), secs).unwrap()
    };
    let (first, second, other) = (key("fp-a", 60), key("fp-a", 60), key("fp-b", 60));
    let t = flat.clone();
    let answers = f
        .ledger
        .run_blocking(move |tx| {
            let a = tx.open_account(&t, "u")?;
            let mut effects = 0;
            let mut answers = Vec::new();
            for i in [&first, &second] {
                let answer = tx.once(
                    Some(i),
                    |tx| {
                        effects += 1;
                        let e = tx.credit(a, amt(5), &p(EntryKind::Reward))?;
                        Ok::<_, LedgerError>(StoredResponse {
                            status: 200,
                            body: e.balance_after.to_string(),
                        })
                    },
                    |r| Ok(r.clone()),
                )?;
                answers.push(answer);
            }
            assert_eq!(effects, 1);
            let conflict = tx.once(
                Some(&other),
                |_| -> Result<StoredResponse, LedgerError> { panic!("must not run") },
                |r| Ok(r.clone()),
            );
            assert!(matches!(
                conflict,
                Err(LedgerError::IdempotencyMismatch { .. })
            ));
            // Kept forever: never swept.
            tx.idempotency_store(
                "flat:once",
                "u",
                "",
                &StoredResponse {
                    status: 200,
                    body: "1".into(),
                },
                None,
            )?;
            Ok::<_, LedgerError>(answers)
        })
        .unwrap();
    assert_eq!(
        (answers[0].replayed, answers[1].replayed),
        (false, true),
        "{answers:?}"
    );
    assert_eq!(answers[0].response, answers[1].response);
    let swept = f
        .ledger
        .run_blocking(|tx| {
            let now = tx.now().to_string();
            let early = tx.sweep_idempotency(&now, 100)?;
            let later = tx.sweep_idempotency("2999-01-01T00:00:00Z", 100)?;
            let record = tx.backend().idempotency_get("flat:POST /x:c1", "k-1")?;
            let forever = tx.backend().idempotency_get("flat:once", "u")?;
            Ok::<_, LedgerError>((early, later, record, forever.is_some()))
        })
        .unwrap();
    assert_eq!((swept.0, swept.1, swept.2, swept.3), (0, 1, None, true));
    f.ledger.shutdown();
}

/// The scheduler runs every job: pending credits post, lots expire, holds release,
/// records are swept; a run with nothing due does nothing; the spawned scheduler does
/// the same on its own at its interval.
pub fn the_scheduler_runs_every_job(open: fn() -> Fixture) {
    use crate::ledger::jobs::{run_once, JobReport, Scheduler, SettleHooks};
    let f = open();
    let (pts, _) = tenants(&f.ledger);
    let t = pts.clone();
    let past = "2001-01-01T00:00:00Z";
    f.ledger
        .run_blocking(move |tx| {
            let a = tx.open_account(&t, "m")?;
            tx.credit_expiring(a, amt(10), Some(DAY1), &p(EntryKind::Grant))?;
            tx.credit_expiring(a, amt(1), Some(DAY2), &p(EntryKind::Grant))?;
            tx.credit(a, amt(10), &p(EntryKind::Grant))?;
            tx.hold(a, amt(5), "h", Some(DAY1), &p(EntryKind::Hold))?;
            tx.credit_pending(a, amt(3), DAY1, None, &p(EntryKind::PendingCredit))?;
            tx.credit_pending(a, amt(2), past, None, &p(EntryKind::PendingCredit))?;
            let i = Idempotency::new(&t, "r", "c", "k", "f".into(), 1).unwrap();
            tx.once(
                Some(&i),
                |_| {
                    Ok::<_, LedgerError>(StoredResponse {
                        status: 200,
                        body: "{}".into(),
                    })
                },
                |r| Ok(r.clone()),
            )?;
            Ok::<_, LedgerError>(())
        })
        .unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let report = rt.block_on(run_once(
        &f.ledger,
        &SettleHooks::new(),
        "2030-06-01T00:00:00Z",
    ));
    assert_eq!(
        report,
        JobReport {
            posted: 2,
            expired: 2,
            released: 1,
            swept: 1,
            dialect: 0,
        }
    );
    assert_eq!(
        rt.block_on(run_once(
            &f.ledger,
            &SettleHooks::new(),
            "2030-06-01T00:00:00Z"
        )),
        JobReport::default()
    );
    let b = f
        .ledger
        .read_blocking(|r| r.account(&pts, "m"))
        .unwrap()
        .unwrap();
    // 10 + 1 expired (5 of the 10 came back from the hold first), 10 never expire,
    // 5 posted.
    assert_eq!((b.available, b.held, b.pending), (15, 0, 0));
    verify_ok(&f.ledger);

    // On its own: a pending credit due now is posted within a few intervals.
    let t = pts.clone();
    let now = crate::ledger::timestamp_now();
    f.ledger
        .run_blocking(move |tx| {
            let a = tx.open_account(&t, "m")?;
            tx.credit_pending(a, amt(7), &now, None, &p(EntryKind::PendingCredit))
        })
        .unwrap();
    let ledger = f.ledger.clone();
    let posted = rt.block_on(async move {
        let scheduler = Scheduler::spawn(
            ledger.clone(),
            std::time::Duration::from_millis(20),
            SettleHooks::new(),
        );
        let mut pending = 7;
        for _ in 0..250 {
            let pts = pts.clone();
            pending = ledger
                .read(move |r| r.account(&pts, "m"))
                .await
                .map(|a: Option<crate::ledger::AccountView>| a.map_or(-1, |a| a.pending))
                .unwrap_or(-1);
            if pending == 0 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        scheduler.shutdown().await;
        pending
    });
    assert_eq!(posted, 0, "the scheduler posted the credit");
    verify_ok(&f.ledger);
    f.ledger.shutdown();
}

/// One item that cannot be settled (a pending credit that would pass the ceiling)
/// does not hold back the others; it stays due.
pub fn a_failing_item_does_not_hold_back_the_others(open: fn() -> Fixture) {
    use crate::ledger::jobs::{run_once, SettleHooks};
    let f = open();
    let (pts, _) = tenants(&f.ledger);
    let t = pts.clone();
    let past = "2001-01-01T00:00:00Z";
    f.ledger
        .run_blocking(move |tx| {
            let full = tx.open_account(&t, "full")?;
            tx.credit(full, amt(999_995), &p(EntryKind::Grant))?;
            tx.credit_pending(full, amt(10), past, None, &p(EntryKind::PendingCredit))?;
            let other = tx.open_account(&t, "other")?;
            tx.credit_pending(
                other,
                amt(3),
                "2001-01-02T00:00:00Z",
                None,
                &p(EntryKind::PendingCredit),
            )?;
            Ok::<_, LedgerError>(())
        })
        .unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let report = rt.block_on(run_once(
        &f.ledger,
        &SettleHooks::new(),
        "2030-01-01T00:00:00Z",
    ));
    assert_eq!(report.posted, 1);
    let (full, other) = f
        .ledger
        .read_blocking(|r| {
            Ok::<_, LedgerError>((
                r.account(&pts, "full")?.unwrap(),
                r.account(&pts, "other")?.unwrap(),
            ))
        })
        .unwrap();
    assert_eq!((full.available, full.pending), (999_995, 10));
    assert_eq!((other.available, other.pending), (3, 0));
    verify_ok(&f.ledger);
    f.ledger.shutdown();
}
