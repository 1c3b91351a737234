//! The scheduler of the ledger's time-driven work: one task that, every interval,
//! posts pending credits that are due, releases expired holds, expires lots past
//! their expiry and sweeps idempotency records past their retention. Each job runs
//! page by page ([`BATCH`] items), each item in its own unit of work, so that one
//! item that cannot be settled (say a pending credit that would lift a balance over
//! the ceiling) is logged and tried again at the next tick while the others go on.
//!
//! A dialect that must record what the jobs do (an entry of its own, a webhook)
//! registers a [`SettleHook`] for its tenants; the hook runs in the same unit of work
//! as the settlement, so both happen or neither.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::tx::{DueKind, Settled};
use super::{timestamp_now, Ledger, LedgerError, LedgerTx, TenantId};

/// What a dialect does when the scheduler settles an item of one of its tenants: runs
/// inside the settling unit of work; an error undoes both (the item is tried again
/// at the next tick).
pub trait SettleHook: Send + Sync {
    /// Records `settled`.
    ///
    /// # Errors
    /// Whatever undoes the settlement.
    fn settled(&self, tx: &mut LedgerTx<'_>, settled: &Settled) -> Result<(), LedgerError>;

    /// The dialect's own time-driven work for `tenant` (ending promotions, say), once
    /// per run in a unit of its own. Returns how many items it handled.
    ///
    /// # Errors
    /// Whatever undoes the unit (it is tried again at the next run).
    fn tick(&self, tx: &mut LedgerTx<'_>, tenant: &TenantId) -> Result<u64, LedgerError> {
        let _ = (tx, tenant);
        Ok(0)
    }
}

/// The hooks of the tenants that have one, by tenant id.
#[derive(Clone, Default)]
pub struct SettleHooks(HashMap<String, Arc<dyn SettleHook>>);

impl SettleHooks {
    /// No hooks.
    pub fn new() -> SettleHooks {
        SettleHooks::default()
    }

    /// Runs `hook` for every item of `tenant` the scheduler settles.
    pub fn add(&mut self, tenant: &TenantId, hook: Arc<dyn SettleHook>) -> &mut SettleHooks {
        self.0.insert(tenant.to_string(), hook);
        self
    }

    fn run(&self, tx: &mut LedgerTx<'_>, settled: Option<&Settled>) -> Result<(), LedgerError> {
        match settled.and_then(|s| Some((s, self.0.get(s.tenant().as_str())?))) {
            Some((s, hook)) => hook.settled(tx, s),
            None => Ok(()),
        }
    }
}

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
    /// Items of the dialects' own work ([`SettleHook::tick`]).
    pub dialect: u64,
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
/// until the next run; the others go on. Returns how many this run settled (an item
/// another run, e.g. another node's, settled first is re-read under its lock and left
/// alone).
async fn settle(ledger: &Ledger, hooks: &SettleHooks, name: &str, kind: DueKind, now: &str) -> u64 {
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
            let hooks = hooks.clone();
            async move {
                let result = ledger
                    .run(move |tx| {
                        let settled = tx.settle_due(&item, &now)?;
                        hooks.run(tx, settled.as_ref())?;
                        Ok::<_, LedgerError>(settled.is_some())
                    })
                    .await;
                result
            }
        });
        for result in futures::future::join_all(runs).await {
            match result {
                // Settled here, or already by another run (another node's).
                Ok(true) => settled += 1,
                Ok(false) => {}
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
pub async fn run_once(ledger: &Ledger, hooks: &SettleHooks, now: &str) -> JobReport {
    let mut done = [0u64; 3];
    for (i, (name, kind)) in JOBS.iter().enumerate() {
        done[i] = settle(ledger, hooks, name, *kind, now).await;
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
    let mut dialect = 0;
    for (tenant, hook) in &hooks.0 {
        let (tenant, hook) = (tenant.clone(), hook.clone());
        let ticked = ledger
            .run(move |tx| {
                let id = TenantId::new(tenant)?;
                hook.tick(tx, &id)
            })
            .await;
        match ticked {
            Ok(n) => dialect += n,
            Err(e) => {
                let e: LedgerError = e;
                tracing::error!(error = %e, "a dialect's scheduled work failed; retried at the next tick");
            }
        }
    }
    let report = JobReport {
        posted: done[0],
        released: done[1],
        expired: done[2],
        swept,
        dialect,
    };
    if report != JobReport::default() {
        tracing::info!(
            posted = report.posted,
            expired = report.expired,
            released = report.released,
            swept = report.swept,
            dialect = report.dialect,
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
    /// Starts the scheduler on the current Tokio runtime: every job every `interval`,
    /// with the dialects' `hooks`.
    ///
    /// # Panics
    /// Outside a Tokio runtime.
    pub fn spawn(ledger: Ledger, interval: Duration, hooks: SettleHooks) -> Scheduler {
        let (stop, mut stopped) = watch::channel(false);
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval.max(Duration::from_millis(1)));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => {
                        run_once(&ledger, &hooks, &timestamp_now()).await;
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
