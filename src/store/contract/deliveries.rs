//! Delivery state through the [`Deliveries`] and [`DeliveryReads`] repositories.

use super::Fixture;
use crate::ledger::{Ledger, LedgerError, TenantId, TenantSpec};
use crate::secret::Secret;
use crate::webhooks::deliveries::{
    count_deliveries, due, get_delivery, list_deliveries, next_for_account, now_millis, record,
    replay, Outcome, ReplayError, Status,
};
use crate::webhooks::deliveries::{Deliveries, EndpointReads, EndpointRow, WebhookEndpoints};

fn roochip_tenant(ledger: &Ledger) -> TenantId {
    let t = TenantId::new("t").unwrap();
    ledger
        .ensure_tenant_blocking(TenantSpec {
            id: t.clone(),
            mode: "roochip".into(),
            scale: 2,
            ceiling: 1_000_000,
            lots: false,
        })
        .unwrap();
    t
}

fn enqueue(ledger: &Ledger, t: &TenantId, holder: Option<&str>) -> i64 {
    let t = t.clone();
    let holder = holder.map(str::to_string);
    ledger
        .run_blocking(move |tx| {
            let a = match holder {
                Some(h) => Some(tx.open_account(&t, &h)?),
                None => None,
            };
            tx.enqueue_event(&t, a, "credits.issued", "{}")
        })
        .unwrap()
}

fn due_ids(ledger: &Ledger, now: i64, first: i64) -> Vec<i64> {
    ledger
        .read_blocking(|r| due(r, now, first, i64::MAX, 100))
        .unwrap()
        .into_iter()
        .map(|d| d.outbox_id)
        .collect()
}

fn record_blocking(
    ledger: &Ledger,
    id: i64,
    before: u32,
    o: Outcome,
    s: &[u64],
) -> Option<(Status, u32)> {
    let s = s.to_vec();
    ledger
        .run_blocking(move |tx| record(tx, id, "", before, &o, &s))
        .unwrap()
}

/// Per account, only the oldest pending event is due.
pub fn the_oldest_pending_event_of_an_account_holds_back_the_rest(open: fn() -> Fixture) {
    let f: Fixture = open();
    let (ledger, t) = (&f.ledger, roochip_tenant(&f.ledger));
    let a1 = enqueue(ledger, &t, Some("a"));
    let a2 = enqueue(ledger, &t, Some("a"));
    let b1 = enqueue(ledger, &t, Some("b"));
    let n1 = enqueue(ledger, &t, None);
    let n2 = enqueue(ledger, &t, None);
    let later = now_millis() + 60_000;
    assert_eq!(due_ids(ledger, later, 0), vec![a1, b1, n1, n2]);
    // schedule[0] delays a never-attempted event.
    assert!(due_ids(ledger, now_millis(), 3_600_000).is_empty());

    // a1 fails and is retried later: a2 stays held back.
    let s = [0, 5, 5];
    assert_eq!(
        record_blocking(
            ledger,
            a1,
            0,
            Outcome::Failed {
                status: Some(500),
                error: "HTTP 500".into()
            },
            &s
        ),
        Some((Status::Pending, 1))
    );
    assert_eq!(due_ids(ledger, now_millis(), 0), vec![b1, n1, n2]);
    assert!(due_ids(ledger, now_millis() + 6_000, 0).contains(&a1));
    // A stale outcome (attempt count moved on) writes nothing.
    assert_eq!(
        record_blocking(ledger, a1, 0, Outcome::Delivered { status: 200 }, &s),
        None
    );
    // a1 delivered: a2 is next.
    assert_eq!(
        record_blocking(ledger, a1, 1, Outcome::Delivered { status: 204 }, &s),
        Some((Status::Delivered, 2))
    );
    assert_eq!(due_ids(ledger, later, 0), vec![a2, b1, n1, n2]);
    let next = ledger
        .read_blocking(|r| {
            let a = r.account(&t, "a")?.unwrap();
            next_for_account(r, a.id.0, "", later, 0, i64::MAX)
        })
        .unwrap();
    assert_eq!(next.map(|d| d.outbox_id), Some(a2));
    // A dead event does not hold its account back.
    let dead = Outcome::Dead {
        status: Some(410),
        error: "HTTP 410".into(),
        attempted: true,
    };
    assert_eq!(
        record_blocking(ledger, a2, 0, dead, &s),
        Some((Status::Dead, 1))
    );
    let a3 = enqueue(ledger, &t, Some("a"));
    assert_eq!(due_ids(ledger, later, 0), vec![b1, n1, n2, a3]);
}

/// Failed attempts follow the schedule, then dead-letter; replay starts over.
pub fn failures_follow_the_schedule_then_dead_letter_and_replay_restarts(open: fn() -> Fixture) {
    let f: Fixture = open();
    let (ledger, t) = (&f.ledger, roochip_tenant(&f.ledger));
    let id = enqueue(ledger, &t, Some("a"));
    let s = [0, 1, 1];
    let fail = || Outcome::Failed {
        status: None,
        error: "connection error".into(),
    };
    assert_eq!(
        record_blocking(ledger, id, 0, fail(), &s),
        Some((Status::Pending, 1))
    );
    assert_eq!(
        record_blocking(ledger, id, 1, fail(), &s),
        Some((Status::Pending, 2))
    );
    assert_eq!(
        record_blocking(ledger, id, 2, fail(), &s),
        Some((Status::Dead, 3))
    );
    let v = ledger
        .read_blocking(|r| get_delivery(r, id, Some(&t)))
        .unwrap()
        .unwrap();
    assert_eq!(
        (v.status, v.attempts, v.next_attempt_at),
        (Status::Dead, 3, None)
    );
    assert_eq!(v.last_error.as_deref(), Some("connection error"));
    assert_eq!(v.webhook_id, format!("evt_{id}"));

    let other = TenantId::new("other").unwrap();
    let replayed = {
        let other = other.clone();
        ledger.run_blocking(move |tx| replay(tx, id, Some(&other)))
    };
    assert!(matches!(replayed, Err(ReplayError::NotFound(_))));
    let v = {
        let t = t.clone();
        ledger
            .run_blocking(move |tx| replay(tx, id, Some(&t)))
            .unwrap()
    };
    assert_eq!((v.status, v.attempts), (Status::Pending, 0));
    assert!(v.next_attempt_at.is_some());
    let again = ledger.run_blocking(move |tx| replay(tx, id, None));
    assert!(matches!(again, Err(ReplayError::AlreadyPending(_))));
    assert_eq!(due_ids(ledger, now_millis() + 1, 0), vec![id]);

    let listed = ledger
        .read_blocking(|r| list_deliveries(r, Some(&t), Some(Status::Pending), 10, 0))
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert!(ledger
        .read_blocking(|r| list_deliveries(r, Some(&other), None, 10, 0))
        .unwrap()
        .is_empty());
    assert_eq!(
        ledger
            .read_blocking(|r| count_deliveries(r, None, Some(Status::Dead)))
            .unwrap(),
        0
    );
    ledger.shutdown();
}

/// Endpoints as data: an event gets one delivery per active endpoint of its tenant
/// that wants it (none: one without an endpoint); each endpoint's delivery has its
/// own state and its own order per account.
pub fn events_go_to_each_endpoint_that_wants_them(open: fn() -> Fixture) {
    let f: Fixture = open();
    let (ledger, t) = (&f.ledger, roochip_tenant(&f.ledger));
    let endpoint = |id: &str, events: &[&str], active: bool| EndpointRow {
        id: id.into(),
        tenant: t.to_string(),
        url: format!("http://127.0.0.1:9/{id}"),
        secret: Secret::new(format!("secret-{id}")),
        events: events.iter().map(|e| e.to_string()).collect(),
        active,
    };
    let rows = [
        endpoint("all", &["*"], true),
        endpoint("issued", &["credits.issued", "x.y"], true),
        endpoint("off", &["*"], false),
        endpoint("other", &["points.posted"], true),
    ];
    let seeded = rows.clone();
    ledger
        .run_blocking(move |tx| {
            let now = tx.now();
            let repo = tx.repo::<dyn WebhookEndpoints>()?;
            for e in &seeded {
                repo.upsert_endpoint(e, now)?;
            }
            Ok::<_, LedgerError>(())
        })
        .unwrap();
    let listed = ledger
        .read_blocking(|r| r.repo::<dyn EndpointReads>()?.endpoints())
        .unwrap();
    assert_eq!(listed.len(), 4);
    let issued = listed.iter().find(|(e, _)| e.id == "issued").unwrap();
    assert_eq!(issued.0, rows[1]);
    assert_eq!(issued.1, "roochip", "the tenant's mode comes along");
    assert!(issued.0.wants("x.y") && !issued.0.wants("points.posted"));

    let a1 = enqueue(ledger, &t, Some("a"));
    let a2 = enqueue(ledger, &t, Some("a"));
    let endpoints_of = |id: i64| {
        let t = t.clone();
        ledger
            .run_blocking(move |tx| tx.repo::<dyn Deliveries>()?.deliveries_of(id, Some(&t)))
            .unwrap()
            .into_iter()
            .map(|d| d.endpoint)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        endpoints_of(a1),
        vec!["all".to_string(), "issued".to_string()]
    );
    let later = now_millis() + 60_000;
    let heads = || {
        ledger
            .read_blocking(|r| due(r, later, 0, i64::MAX, 100))
            .unwrap()
            .into_iter()
            .map(|d| (d.outbox_id, d.endpoint))
            .collect::<Vec<_>>()
    };
    assert_eq!(heads(), vec![(a1, "all".into()), (a1, "issued".into())]);
    // Delivered to one endpoint: that endpoint's next event is due, the other's not.
    let s = [0, 5];
    let ok = Outcome::Delivered { status: 200 };
    let recorded = ledger
        .run_blocking(move |tx| record(tx, a1, "all", 0, &ok, &s))
        .unwrap();
    assert_eq!(recorded, Some((Status::Delivered, 1)));
    assert_eq!(heads(), vec![(a1, "issued".into()), (a2, "all".into())]);
    // A replay resets only what is not pending.
    let replayed = ledger.run_blocking(move |tx| replay(tx, a1, None)).unwrap();
    assert_eq!(replayed.status, Status::Pending);

    // Deleted or turned off, an endpoint gets no new deliveries.
    let tt = t.clone();
    let deleted = ledger
        .run_blocking(move |tx| {
            let repo = tx.repo::<dyn WebhookEndpoints>()?;
            Ok::<_, LedgerError>((
                repo.delete_endpoint(&tt, "issued")?,
                repo.delete_endpoint(&tt, "issued")?,
            ))
        })
        .unwrap();
    assert_eq!(deleted, (true, false));
    let a3 = enqueue(ledger, &t, Some("a"));
    assert_eq!(endpoints_of(a3), vec!["all".to_string()]);
    let turned_off = ledger
        .run_blocking(move |tx| {
            let now = tx.now();
            let repo = tx.repo::<dyn WebhookEndpoints>()?;
            let kept = repo.deactivate_others("a", &["all".to_string()], now)?;
            let off = repo.deactivate_others("a", &[], now)?;
            Ok::<_, LedgerError>((kept, off))
        })
        .unwrap();
    assert_eq!(
        turned_off,
        (0, 1),
        "only active endpoints with the prefix, not kept"
    );
    let a4 = enqueue(ledger, &t, Some("a"));
    assert_eq!(endpoints_of(a4), vec![String::new()], "none wants it");
}

/// A leased delivery is not due (nor are its account's later events) until its lease
/// runs out or its outcome is recorded; a second lease while the first holds is
/// refused, and so is one with a stale attempt count.
pub fn a_leased_delivery_waits_for_its_lease(open: fn() -> Fixture) {
    let f: Fixture = open();
    let (ledger, t) = (&f.ledger, roochip_tenant(&f.ledger));
    let a1 = enqueue(ledger, &t, Some("a"));
    let a2 = enqueue(ledger, &t, Some("a"));
    let b1 = enqueue(ledger, &t, Some("b"));
    let now = now_millis();
    let lease = |id: i64, before: u32, at: i64, until: i64| {
        ledger
            .run_blocking(move |tx| {
                tx.repo::<dyn Deliveries>()?
                    .lease(id, "", before, at, until)
            })
            .unwrap()
    };
    assert!(lease(a1, 0, now, now + 10_000));
    assert!(!lease(a1, 0, now + 1, now + 20_000), "leased twice");
    assert!(!lease(b1, 1, now, now + 10_000), "stale attempt count");
    // a1 is leased: neither it nor a2 (held back behind it) is due; b1 is.
    assert_eq!(due_ids(ledger, now + 5_000, 0), vec![b1]);
    let account_a = ledger
        .read_blocking(|r| due(r, now + 20_000, 0, i64::MAX, 100))
        .unwrap()
        .into_iter()
        .find(|d| d.outbox_id == a1)
        .and_then(|d| d.account)
        .unwrap();
    let next_of_a = |at: i64| {
        ledger
            .read_blocking(move |r| next_for_account(r, account_a, "", at, 0, i64::MAX))
            .unwrap()
            .map(|d| d.outbox_id)
    };
    assert_eq!(next_of_a(now + 5_000), None);
    // The lease ran out (its node died): a1 is due again and may be leased anew.
    assert_eq!(due_ids(ledger, now + 10_000, 0), vec![a1, b1]);
    assert_eq!(next_of_a(now + 10_000), Some(a1));
    assert!(lease(a1, 0, now + 10_000, now + 30_000));
    // Its outcome ends the lease: a2 is next at once.
    assert_eq!(
        record_blocking(ledger, a1, 0, Outcome::Delivered { status: 200 }, &[0]),
        Some((Status::Delivered, 1))
    );
    assert_eq!(due_ids(ledger, now + 11_000, 0), vec![a2, b1]);
    f.ledger.shutdown();
}
