//! The scheduler of the ledger's time-driven work: one task that, every interval,
//! posts pending credits that are due, expires lots past their expiry, releases
//! expired holds and sweeps idempotency records past their retention. Each job runs
//! in units of at most [`BATCH`] items until nothing is due.
//!
//! A job whose unit fails (say a pending credit that would lift a balance over the
//! ceiling) is logged and tried again at the next tick; the other jobs go on.

use std::time::Duration;

use tokio::sync::watch;

use super::{timestamp_now, Ledger, LedgerError, LedgerTx};

/// Most items one unit of a job handles.
pub const BATCH: u32 = 256;

/// What one run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JobReport {
    /// Pending credits posted.
    pub posted: u64,
    /// Lots expired.
    pub expired: u64,
    /// Holds released.
    pub released: u64,
    /// Idempotency records swept.
    pub swept: u64,
}

type Job = fn(&mut LedgerTx<'_>, &str, u32) -> Result<u64, LedgerError>;

const JOBS: [(&str, Job); 4] = [
    ("post pending credits", |tx, now, n| {
        tx.post_pending_due(now, n).map(u64::from)
    }),
    ("expire lots", |tx, now, n| {
        tx.expire_due(now, n).map(u64::from)
    }),
    ("release expired holds", |tx, now, n| {
        tx.release_expired(now, n).map(u64::from)
    }),
    ("sweep idempotency records", |tx, now, n| {
        tx.sweep_idempotency(now, n)
    }),
];

/// Runs every job once, as of `now` (RFC 3339). Returns what was done; the first
/// error of each job is logged and ends that job for this run.
pub async fn run_once(ledger: &Ledger, now: &str) -> JobReport {
    let mut done = [0u64; 4];
    for (i, (name, job)) in JOBS.iter().enumerate() {
        loop {
            let now = now.to_string();
            let job = *job;
            match ledger.run(move |tx| job(tx, &now, BATCH)).await {
                Ok(n) => {
                    done[i] += n;
                    if n < u64::from(BATCH) {
                        break;
                    }
                }
                Err(e) => {
                    tracing::error!(job = name, error = %e, "scheduled job failed; retried at the next tick");
                    break;
                }
            }
        }
    }
    let report = JobReport {
        posted: done[0],
        expired: done[1],
        released: done[2],
        swept: done[3],
    };
    if report != JobReport::default() {
        tracing::info!(
            posted = report.posted,
            expired = report.expired,
            released = report.released,
            swept = report.swept,
            "scheduled jobs ran"
        );
    }
    report
}

/// The running scheduler.
pub struct Scheduler {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Scheduler {
    /// Starts the scheduler on the current Tokio runtime: every job every `interval`.
    ///
    /// # Panics
    /// Outside a Tokio runtime.
    pub fn spawn(ledger: Ledger, interval: Duration) -> Scheduler {
        let (stop, mut stopped) = watch::channel(false);
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval.max(Duration::from_millis(1)));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => {
                        run_once(&ledger, &timestamp_now()).await;
                    }
                    _ = stopped.changed() => break,
                }
            }
        });
        Scheduler { stop, task }
    }

    /// Stops the scheduler after the run in progress, if any.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        if let Err(e) = self.task.await {
            tracing::error!(error = %e, "the scheduler task failed");
        }
    }
}
