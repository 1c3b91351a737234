//! The scheduler of the ledger's time-driven work: one task that, every interval,
//! posts pending credits that are due, releases expired holds, expires lots past
//! their expiry and sweeps idempotency records past their retention. Each job runs
//! page by page ([`BATCH`] items), each item in its own unit of work, so that one
//! item that cannot be settled (say a pending credit that would lift a balance over
//! the ceiling) is logged and tried again at the next tick while the others go on.

use std::time::Duration;

use tokio::sync::watch;

use super::tx::DueKind;
use super::{timestamp_now, Ledger, LedgerError};

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

/// The jobs that settle items one unit each, in this order: funds a hold gives back
/// return to their lots before the lots expire, so one run leaves nothing due.
const JOBS: [(&str, DueKind); 3] = [
    ("post pending credits", DueKind::Pending),
    ("release expired holds", DueKind::Holds),
    ("expire lots", DueKind::Lots),
];

/// Settles every item of `kind` due at `now`, each in its own unit (the writer batches
/// them: one transaction, a savepoint each). An item that fails is logged and skipped
/// until the next run; the others go on. Returns how many were settled.
async fn settle(ledger: &Ledger, name: &str, kind: DueKind, now: &str) -> u64 {
    let mut settled = 0;
    let mut skipped = 0u32;
    loop {
        let n = now.to_string();
        let items = match ledger
            .run(move |tx| tx.due_items(kind, &n, BATCH, skipped))
            .await
        {
            Ok(items) => items,
            Err(e) => {
                let e: LedgerError = e;
                tracing::error!(job = name, error = %e, "scheduled job failed; retried at the next tick");
                return settled;
            }
        };
        let page = items.len();
        let runs = items.into_iter().map(|item| {
            let now = now.to_string();
            async move {
                let result = ledger
                    .run(move |tx| tx.settle_due(&item, &now).map(|()| item))
                    .await;
                result
            }
        });
        for result in futures::future::join_all(runs).await {
            match result {
                Ok(_) => settled += 1,
                Err(e) => {
                    let e: LedgerError = e;
                    skipped += 1;
                    tracing::error!(job = name, error = %e, "a due item could not be settled; retried at the next tick");
                }
            }
        }
        if page < BATCH as usize {
            return settled;
        }
    }
}

/// Runs every job once, as of `now` (RFC 3339). Returns what was done; an item that
/// fails is logged and left for the next run.
pub async fn run_once(ledger: &Ledger, now: &str) -> JobReport {
    let mut done = [0u64; 3];
    for (i, (name, kind)) in JOBS.iter().enumerate() {
        done[i] = settle(ledger, name, *kind, now).await;
    }
    let mut swept = 0;
    loop {
        let n = now.to_string();
        match ledger.run(move |tx| tx.sweep_idempotency(&n, BATCH)).await {
            Ok(k) => {
                swept += k;
                if k < u64::from(BATCH) {
                    break;
                }
            }
            Err(e) => {
                let e: LedgerError = e;
                tracing::error!(error = %e, "sweeping idempotency records failed; retried at the next tick");
                break;
            }
        }
    }
    let report = JobReport {
        posted: done[0],
        released: done[1],
        expired: done[2],
        swept,
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
