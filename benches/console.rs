//! The operator console's reads against the size of a tenant's ledger: the
//! dashboard's one read (totals, 30 days of daily flows, totals by kind, top
//! templates) and an account search, at 10k entries and again at 1M, on the Goop2
//! tenant (1,000 peers: grants and template purchases). The reads are the console's
//! own core reads on the store's reader, in process (no HTTP).
//!
//! `cargo bench --bench console`; environment variables: `RC_BENCH_ENTRIES`
//! (1000000), `RC_BENCH_READS` (20), `RC_BENCH_DIR` (a folder on the disk to measure;
//! default a temp folder).

use std::time::{Duration, Instant};

use rendezvous_credits::dialects::goop2::{ops, Goop2Error, Goop2Settings};
use rendezvous_credits::ledger::{Amount, Ledger, LedgerError, LedgerOptions, TenantId};
use rendezvous_credits::store;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Median and slowest of `n` runs of `read`.
fn time_reads(n: usize, mut read: impl FnMut()) -> (Duration, Duration) {
    let mut samples: Vec<Duration> = (0..n)
        .map(|_| {
            let t = Instant::now();
            read();
            t.elapsed()
        })
        .collect();
    samples.sort();
    (samples[samples.len() / 2], samples[samples.len() - 1])
}

const PEERS: usize = 1_000;

/// Adds `count` entries to the tenant, peer after peer in rounds: a grant of 5 to each
/// peer (through `ops::grant`), then a debit of 3 from each as a `purchase` of one of
/// 8 templates (the core's debit), and so on; 2,000 per unit of work.
fn fill(ledger: &Ledger, tenant: &TenantId, from: usize, count: usize) {
    let mut done = 0;
    while done < count {
        let n = (count - done).min(2_000);
        let (t, start) = (tenant.clone(), from + done);
        ledger
            .run_blocking(move |tx| {
                for i in start..start + n {
                    let peer = format!("bench-peer-{}", i % PEERS);
                    if (i / PEERS).is_multiple_of(2) {
                        ops::grant(tx, &t, &peer, Amount::new(5).expect("amount"), None)?;
                    } else {
                        let account = tx.open_account(&t, &peer)?;
                        let posting = rendezvous_credits::ledger::Posting::new(
                            rendezvous_credits::ledger::EntryKind::Purchase,
                            rendezvous_credits::ledger::Actor::Peer(peer.clone()),
                        )
                        .reference("template", format!("template-{}", i % 8));
                        tx.debit(account, Amount::new(3).expect("amount"), &posting)?;
                    }
                }
                Ok::<_, Goop2Error>(())
            })
            .expect("fill");
        done += n;
    }
}

fn measure(ledger: &Ledger, tenant: &TenantId, entries: usize, reads_n: usize) {
    let since = format!(
        "{}T00:00:00Z",
        jiff::Timestamp::now()
            .to_zoned(jiff::tz::TimeZone::UTC)
            .date()
            .checked_sub(jiff::Span::new().days(29))
            .expect("day")
    );
    let dashboard = |t: TenantId, since: String| {
        ledger
            .read_blocking(move |r| {
                let totals = r.tenant_totals(&t, Some(100))?;
                let flows = r.daily_flows(&t, &since)?;
                let kinds = r.kind_totals(&t)?;
                let top = r.top_debit_refs(&t, "purchase", 10)?;
                Ok::<_, LedgerError>((totals, flows, kinds, top))
            })
            .expect("dashboard read")
    };
    let (totals, flows, kinds, top) = dashboard(tenant.clone(), since.clone());
    assert_eq!(totals.accounts as usize, PEERS.min(entries));
    assert_eq!(
        kinds.iter().map(|k| k.entries as usize).sum::<usize>(),
        entries
    );
    assert!(!flows.is_empty() && !top.is_empty());
    let (p50, max) = time_reads(reads_n, || {
        dashboard(tenant.clone(), since.clone());
    });
    println!("{entries:>9} entries  dashboard read   p50 {p50:>10.2?}  max {max:>10.2?}");
    let (p50, max) = time_reads(reads_n, || {
        let t = tenant.clone();
        ledger
            .read_blocking(move |r| r.find_accounts(&t, "peer-99", None, 200))
            .expect("search");
    });
    println!("{entries:>9} entries  account search   p50 {p50:>10.2?}  max {max:>10.2?}");
}

fn main() {
    let entries: usize = env_or("RC_BENCH_ENTRIES", 1_000_000);
    let reads_n: usize = env_or("RC_BENCH_READS", 20);
    let dir = match std::env::var("RC_BENCH_DIR") {
        Ok(d) => tempfile::tempdir_in(d).expect("temp dir"),
        Err(_) => tempfile::tempdir().expect("temp dir"),
    };
    let ledger = store::sqlite::open(&dir.path().join("ledger.db"), LedgerOptions::default())
        .expect("open ledger");
    let settings = Goop2Settings::default();
    ledger
        .ensure_tenant_blocking(settings.spec().expect("spec"))
        .expect("tenant");
    let tenant = TenantId::new(settings.tenant.clone()).expect("tenant id");
    println!("console reads, Goop2 tenant, {PEERS} peers (release build, 2 cores)");
    let small = 10_000.min(entries);
    let t = Instant::now();
    fill(&ledger, &tenant, 0, small);
    println!("(wrote {small} entries in {:.1?})", t.elapsed());
    measure(&ledger, &tenant, small, reads_n);
    if entries > small {
        let t = Instant::now();
        fill(&ledger, &tenant, small, entries - small);
        println!(
            "(wrote {} more entries in {:.1?})",
            entries - small,
            t.elapsed()
        );
        measure(&ledger, &tenant, entries, reads_n);
    }
    ledger.shutdown();
}
