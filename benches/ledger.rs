//! Group-commit throughput of the ledger core: durable grants from many concurrent
//! submitters, each awaiting its unit before sending the next.
//!
//! `cargo bench --bench ledger` runs it with the defaults; environment variables:
//! `RC_BENCH_SUBMITTERS` (64), `RC_BENCH_SECONDS` (5), `RC_BENCH_MAX_BATCH` (a list,
//! default "4096,1"), `RC_BENCH_DIR` (a folder on the disk to measure; default a temp
//! folder), `RC_BENCH_POSTGRES_URL` (measure the PostgreSQL backend on that database
//! instead of SQLite; it is migrated and written to).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rendezvous_credits::ledger::{
    Actor, Amount, EntryKind, LedgerError, LedgerOptions, Posting, TenantId, TenantSpec,
};
use rendezvous_credits::store;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn run(max_batch: usize, submitters: usize, seconds: u64) -> (f64, u64, u64) {
    let dir = match std::env::var("RC_BENCH_DIR") {
        Ok(d) => tempfile::tempdir_in(d).expect("temp dir"),
        Err(_) => tempfile::tempdir().expect("temp dir"),
    };
    let options = LedgerOptions {
        max_batch,
        ..LedgerOptions::default()
    };
    let ledger = match std::env::var("RC_BENCH_POSTGRES_URL") {
        Ok(url) => store::postgres::open(&rendezvous_credits::secret::Secret::new(url), options),
        Err(_) => store::sqlite::open(&dir.path().join("ledger.db"), options),
    }
    .expect("open ledger");
    let tenant = TenantId::new("bench").expect("tenant id");
    ledger
        .ensure_tenant_blocking(TenantSpec {
            id: tenant.clone(),
            mode: "goop2".into(),
            scale: 0,
            ceiling: i64::MAX / 2,
            lots: false,
        })
        .expect("tenant");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let done = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    rt.block_on(async {
        let mut tasks = Vec::new();
        for s in 0..submitters {
            let ledger = ledger.clone();
            let tenant = tenant.clone();
            let done = done.clone();
            let stop = stop.clone();
            tasks.push(tokio::spawn(async move {
                let holder = format!("peer-{s}");
                while !stop.load(Ordering::Relaxed) {
                    let tenant = tenant.clone();
                    let holder = holder.clone();
                    ledger
                        .run(move |tx| {
                            let account = tx.open_account(&tenant, &holder)?;
                            let amount = Amount::new(1).expect("positive");
                            let posting = Posting::new(EntryKind::Grant, Actor::System);
                            tx.credit(account, amount, &posting)?;
                            Ok::<_, LedgerError>(())
                        })
                        .await
                        .expect("grant");
                    done.fetch_add(1, Ordering::Relaxed);
                }
            }));
        }
        tokio::time::sleep(Duration::from_secs(seconds)).await;
        stop.store(true, Ordering::Relaxed);
        for t in tasks {
            t.await.expect("submitter");
        }
    });
    let elapsed = started.elapsed().as_secs_f64();
    let units = done.load(Ordering::Relaxed);
    let stats = ledger.writer_stats();
    ledger.shutdown();
    (units as f64 / elapsed, stats.batches, stats.max_batch_seen)
}

fn main() {
    // `cargo bench` passes `--bench`; ignore arguments.
    let submitters = env_or("RC_BENCH_SUBMITTERS", 64usize);
    let seconds = env_or("RC_BENCH_SECONDS", 5u64);
    let batches = std::env::var("RC_BENCH_MAX_BATCH").unwrap_or_else(|_| "4096,1".into());
    let mut results = Vec::new();
    for max_batch in batches
        .split(',')
        .filter_map(|b| b.trim().parse::<usize>().ok())
    {
        let (rate, commits, max_seen) = run(max_batch, submitters, seconds);
        let backend = if std::env::var("RC_BENCH_POSTGRES_URL").is_ok() {
            "postgres"
        } else {
            "sqlite"
        };
        println!(
            "ledger grants ({backend}): max_batch={max_batch:<5} submitters={submitters} seconds={seconds} \
             -> {rate:>10.0} units/s, {commits} commits, largest batch {max_seen}"
        );
        results.push((max_batch, rate));
    }
    if let (Some(&(_, best)), Some(&(_, single))) = (
        results.iter().find(|(b, _)| *b > 1),
        results.iter().find(|(b, _)| *b == 1),
    ) {
        println!("group commit speed-up: {:.1}x", best / single);
    }
}
