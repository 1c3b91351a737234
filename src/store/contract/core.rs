//! The core's backend: accounts, buckets, entries, the chain, holds, the outbox, and
//! `verify`.

use super::Fixture;
use crate::ledger::{Actor, Amount, EntryKind, Ledger, LedgerError, Posting, TenantId, TenantSpec};

/// Registers tenant `t` (whole credits, ceiling 1,000,000).
pub fn tenant(ledger: &Ledger) -> TenantId {
    let tenant = TenantId::new("t").unwrap();
    ledger
        .ensure_tenant_blocking(TenantSpec {
            id: tenant.clone(),
            mode: "goop2".into(),
            scale: 0,
            ceiling: 1_000_000,
            lots: false,
        })
        .unwrap();
    tenant
}

fn p(kind: EntryKind) -> Posting {
    Posting::new(kind, Actor::System)
}

/// An answered event is durable; a reopened ledger counts what it holds as durable.
pub fn answered_events_are_below_the_durable_watermark(open: fn() -> Fixture) {
    let f = open();
    let tenant = tenant(&f.ledger);
    assert_eq!(f.ledger.durable_outbox_id(), 0);
    let t = tenant.clone();
    let id = f
        .ledger
        .run_blocking(move |tx| {
            let a = tx.open_account(&t, "u")?;
            tx.enqueue_event(&t, Some(a), "credits.issued", "{}")
        })
        .unwrap();
    assert!(id > 0);
    assert!(f.ledger.durable_outbox_id() >= id);
    f.ledger.shutdown();
    let again = (f.reopen)();
    assert_eq!(again.durable_outbox_id(), id);
    again.shutdown();
}

/// `verify` passes on every snapshot while writes go on, and counts them all after.
pub fn verify_reads_one_snapshot_while_writes_go_on(open: fn() -> Fixture) {
    let f = open();
    let tenant = tenant(&f.ledger);
    let writes = {
        let ledger = f.ledger.clone();
        std::thread::spawn(move || {
            for i in 0..1500 {
                let t = tenant.clone();
                ledger
                    .run_blocking(move |tx| {
                        let a = tx.open_account(&t, &format!("u{}", i % 7))?;
                        tx.credit(a, Amount::new(1).unwrap(), &p(EntryKind::Grant))
                    })
                    .unwrap();
            }
        })
    };
    let mut runs = 0;
    while !writes.is_finished() {
        let outcome = f.ledger.verify_blocking(&mut |_| {}).unwrap();
        assert!(outcome.is_ok(), "{outcome:?}");
        runs += 1;
    }
    writes.join().unwrap();
    assert!(runs > 0);
    let report = f.ledger.verify_blocking(&mut |_| {}).unwrap().unwrap();
    assert_eq!(report.entries, 1500);
    assert_eq!(report.accounts, 7);
    f.ledger.shutdown();
}

/// Holds move funds between buckets, belong to their account, settle once.
pub fn holds_move_between_buckets_and_belong_to_their_account(open: fn() -> Fixture) {
    let f = open();
    let t = tenant(&f.ledger);
    let after = f
        .ledger
        .run_blocking(move |tx| {
            let a = tx.open_account(&t, "a")?;
            let b = tx.open_account(&t, "b")?;
            tx.credit(a, Amount::new(100).unwrap(), &p(EntryKind::Grant))?;
            tx.hold(a, Amount::new(30).unwrap(), "h1", None, &p(EntryKind::Hold))?;
            let held = tx.balances(a)?;
            assert_eq!((held.available, held.held), (70, 30));
            // Another account cannot see or settle the hold.
            assert!(matches!(
                tx.release(b, "h1", &p(EntryKind::Release)),
                Err(LedgerError::UnknownHold(_))
            ));
            tx.hold(b, Amount::new(1).unwrap(), "h1", None, &p(EntryKind::Hold))
                .expect_err("b has nothing to hold");
            tx.capture(a, "h1", &p(EntryKind::Capture))?;
            assert!(matches!(
                tx.capture(a, "h1", &p(EntryKind::Capture)),
                Err(LedgerError::HoldNotOpen { .. })
            ));
            tx.hold(a, Amount::new(20).unwrap(), "h2", None, &p(EntryKind::Hold))?;
            tx.release(a, "h2", &p(EntryKind::Release))?;
            assert!(matches!(
                tx.hold(a, Amount::new(71).unwrap(), "h3", None, &p(EntryKind::Hold)),
                Err(LedgerError::InsufficientFunds {
                    available: 70,
                    required: 71
                })
            ));
            tx.balances(a)
        })
        .unwrap();
    assert_eq!((after.available, after.held), (70, 0));
    let report = f.ledger.verify_blocking(&mut |_| {}).unwrap().unwrap();
    // grant 1, hold 2, capture 1, hold 2, release 2
    assert_eq!(report.entries, 8);
    f.ledger.shutdown();
}

/// Reads inside one `in_snapshot` agree with each other while a unit commits between
/// them; a read after it sees the commit.
pub fn reads_in_a_snapshot_agree_while_a_unit_commits(open: fn() -> Fixture) {
    let f = open();
    let tenant = tenant(&f.ledger);
    let writer = f.ledger.clone();
    let (first, second, after) = f
        .ledger
        .read_blocking(move |r| {
            let (first, second) = r.in_snapshot(|r| {
                let first = r.account(&tenant, "u")?;
                let t = tenant.clone();
                writer.run_blocking(move |tx| {
                    let a = tx.open_account(&t, "u")?;
                    tx.credit(a, Amount::new(5).unwrap(), &p(EntryKind::Grant))
                })?;
                let second = r.account(&tenant, "u")?;
                Ok::<_, LedgerError>((first, second))
            })?;
            Ok::<_, LedgerError>((first, second, r.account(&tenant, "u")?))
        })
        .unwrap();
    assert!(first.is_none());
    assert!(second.is_none(), "the snapshot does not see the commit");
    assert_eq!(after.map(|a| a.available), Some(5));
    f.ledger.shutdown();
}
