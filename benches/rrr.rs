//! RedRoomRewards reads against the size of the ledger: the member ledger page
//! (newest page, and a page deep in the history by its cursor) and the liability
//! report, at 10k entries and again at 1M, on one member of one client. The reads are
//! the routes' own ([`reads::ledger`], [`reads::liability`]) on the store's reader, in
//! process (no HTTP).
//!
//! `cargo bench --bench rrr`; environment variables: `RC_BENCH_ENTRIES` (1000000),
//! `RC_BENCH_READS` (2000), `RC_BENCH_DIR` (a folder on the disk to measure; default a
//! temp folder).

use std::time::{Duration, Instant};

use rendezvous_credits::auth::AdminAuth;
use rendezvous_credits::dialects::rrr::caller::Client;
use rendezvous_credits::dialects::rrr::ops::{self, Earn};
use rendezvous_credits::dialects::rrr::reads::{self, Page};
use rendezvous_credits::dialects::rrr::repo::{MemberRow, NewLink, RrrStore, Tally};
use rendezvous_credits::dialects::rrr::wire::EarnRequest;
use rendezvous_credits::dialects::rrr::{RrrError, RrrState, RrrTenant};
use rendezvous_credits::ledger::{Ledger, LedgerOptions};
use rendezvous_credits::store;
use serde_json::json;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Median and 99th percentile of `samples`.
fn p50_p99(mut samples: Vec<Duration>) -> (Duration, Duration) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q) as usize];
    (at(0.5), at(0.99))
}

fn time_reads(n: usize, mut read: impl FnMut()) -> (Duration, Duration) {
    let samples = (0..n)
        .map(|_| {
            let t = Instant::now();
            read();
            t.elapsed()
        })
        .collect();
    p50_p99(samples)
}

/// Adds `count` POSTED earns of 20 points to `member`, 2,000 per unit of work.
fn earn(ledger: &Ledger, client: &Client, member: &str, from: usize, count: usize) {
    let mut done = 0;
    while done < count {
        let n = (count - done).min(2_000);
        let (c, m, start) = (client.clone(), member.to_string(), from + done);
        ledger
            .run_blocking(move |tx| {
                for i in start..start + n {
                    let request: EarnRequest = serde_json::from_value(json!({
                        "client_user_id": "bench-user", "rrr_member_id": m,
                        "source": {"event_type": "TOKEN_PURCHASE", "order_id": format!("o{i}")},
                        "currency": "USD", "amount_minor": 1999, "points": 20}))
                    .map_err(|e| RrrError::Internal(e.to_string()))?;
                    let e = Earn {
                        fingerprint: Earn::fingerprint_of(&request, "1"),
                        request,
                        line_id: "1".into(),
                        pending: false,
                        expires_at: None,
                        metadata: None,
                        tier: Some("GOLD".into()),
                        promotion_id: None,
                    };
                    ops::earn(tx, &c, &e)?;
                }
                Ok::<_, RrrError>(())
            })
            .expect("earns");
        done += n;
    }
}

fn measure(ledger: &Ledger, client: &Client, member: &str, entries: usize, reads_n: usize) {
    // The newest page, and a page at the middle of the history (its cursor).
    let first = Page {
        before: None,
        types: Vec::new(),
        window: (None, None),
        limit: 50,
    };
    let deep = Page {
        before: Some((entries / 2) as i64 + 100),
        types: Vec::new(),
        window: (None, None),
        limit: 50,
    };
    let newest = first;
    for (what, p) in [("newest 50", &newest), ("mid-history", &deep)] {
        let (p50, p99) = time_reads(reads_n, || {
            let (c, m) = (client.clone(), member.to_string());
            let (rows, _) = ledger
                .read_blocking(|r| reads::ledger(r, &c, &m, p))
                .expect("page");
            assert_eq!(rows.len(), 50);
        });
        println!(
            "{entries:>9} entries: ledger page ({what:<11})    p50 {p50:>9.1?}  p99 {p99:>9.1?}"
        );
    }
    let (p50, p99) = time_reads(reads_n / 4, || {
        let c = client.clone();
        ledger
            .read_blocking(|r| reads::liability(r, &c, None, None))
            .expect("report");
    });
    println!("{entries:>9} entries: liability report (all days) p50 {p50:>9.1?}  p99 {p99:>9.1?}");
}

fn main() {
    let entries: usize = env_or("RC_BENCH_ENTRIES", 1_000_000);
    let reads_n: usize = env_or("RC_BENCH_READS", 2_000);
    let dir = match std::env::var("RC_BENCH_DIR") {
        Ok(d) => tempfile::tempdir_in(d).expect("temp dir"),
        Err(_) => tempfile::tempdir().expect("temp dir"),
    };
    let ledger = store::sqlite::open(&dir.path().join("ledger.db"), LedgerOptions::default())
        .expect("open ledger");
    let tenant: RrrTenant = serde_json::from_value(json!({"id": "xcn", "clients": [
        {"client_id": "xcn-backend", "client_secret_sha256": "0".repeat(64)}]}))
    .expect("tenant");
    ledger
        .ensure_tenant_blocking(tenant.spec().expect("spec"))
        .expect("tenant");
    let state = RrrState::new(
        ledger.clone(),
        &[tenant],
        b"bench",
        AdminAuth::new("", None),
        65_536,
    )
    .expect("state");
    let client = Client {
        tenant: state.tenant_of_client("xcn-backend").expect("client"),
        client_id: "xcn-backend".into(),
        trace: String::new(),
    };
    let member = uuid::Uuid::new_v4().to_string();
    let (c, m) = (client.clone(), member.clone());
    ledger
        .run_blocking(move |tx| {
            let account = tx.open_account(&c.tenant.id, &m)?;
            let now = tx.now().to_string();
            let store = tx.repo::<dyn RrrStore>()?;
            store.insert_member(
                &c.tenant.id,
                &MemberRow {
                    member_id: m.clone(),
                    client_id: c.client_id.clone(),
                    account,
                    lifetime_spend_minor: 0,
                    cohort: None,
                },
                &now,
            )?;
            store.insert_link(
                &c.tenant.id,
                &NewLink {
                    client_id: &c.client_id,
                    client_user_id: "bench-user",
                    member_id: &m,
                    link_type: "MEMBER",
                    proof_method: "EMAIL_OTP",
                    intent_id: "bench",
                },
                &now,
            )?;
            // Two years of days in the aggregates (each empty), so that the report
            // reads 730 days as a real one would.
            for d in 0..730 {
                let day = jiff::civil::date(2024, 1, 1)
                    .checked_add(jiff::Span::new().days(d))
                    .expect("day");
                store.add_tally(
                    &c.tenant.id,
                    &c.client_id,
                    &day.to_string(),
                    &Tally::default(),
                )?;
            }
            Ok::<_, RrrError>(())
        })
        .expect("member");
    println!("rrr reads, one member of one client (release build, 2 cores)");
    let small = 10_000.min(entries);
    let t = Instant::now();
    earn(&ledger, &client, &member, 0, small);
    println!("(wrote {small} earns in {:.1?})", t.elapsed());
    measure(&ledger, &client, &member, small, reads_n);
    if entries > small {
        let t = Instant::now();
        earn(&ledger, &client, &member, small, entries - small);
        println!(
            "(wrote {} more earns in {:.1?})",
            entries - small,
            t.elapsed()
        );
        measure(&ledger, &client, &member, entries, reads_n);
    }
    ledger.shutdown();
}
