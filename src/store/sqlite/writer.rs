//! The SQLite writer thread: group commit.
//!
//! One thread owns the only write connection. It waits for a unit of work, takes every
//! other unit already queued (up to `max_batch`), opens `BEGIN IMMEDIATE`, runs each
//! unit inside its own `SAVEPOINT` (a unit that fails or panics is rolled back alone),
//! commits once, and only then answers every caller. With `synchronous = FULL` the
//! commit's fsync makes the whole batch durable at once, so one fsync serves many
//! requests.

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use rusqlite::Connection;

use super::tx::SqliteTx;
use crate::ledger::unit::{Reply, Unit};
use crate::ledger::{LedgerError, LedgerOptions, LedgerTx, Repositories};
use crate::store::threads::{Counters, Incoming, WriterQueue};

/// What the writer, its flusher and readers share about durability.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    /// Set once, when durability can no longer be confirmed (an fsync failed, the
    /// flusher stopped): from then on no unit runs, every caller gets
    /// [`LedgerError::CommitFailed`] with this reason.
    poisoned: std::sync::OnceLock<String>,
    /// The highest outbox id known to be on disk: events above it are committed but
    /// not yet fsynced, and must not be delivered.
    outbox_watermark: std::sync::atomic::AtomicI64,
    /// Notified after every durable batch that wrote outbox events.
    pub(crate) outbox_signal: Arc<tokio::sync::Notify>,
}

impl Shared {
    pub(crate) fn poison(&self, why: String) {
        let _ = self.poisoned.set(why);
    }

    pub(crate) fn poisoned(&self) -> Option<&String> {
        self.poisoned.get()
    }

    pub(crate) fn durable_outbox_id(&self) -> i64 {
        self.outbox_watermark.load(Ordering::Acquire)
    }

    fn advance(&self, outbox_id: i64) {
        self.outbox_watermark.fetch_max(outbox_id, Ordering::AcqRel);
    }
}

/// The running writer: its queue, and what it shares about durability.
pub(crate) struct WriterHandle {
    pub(crate) queue: WriterQueue,
    pub(crate) shared: Arc<Shared>,
}

impl WriterHandle {
    pub(crate) fn start(
        conn: Connection,
        repos: Arc<Repositories>,
        options: &LedgerOptions,
        durability: Durability,
        wal_path: std::path::PathBuf,
        initial_outbox_id: i64,
    ) -> Result<WriterHandle, LedgerError> {
        let max_batch = options.max_batch.max(1);
        let shared = Arc::new(Shared::default());
        shared.advance(initial_outbox_id);
        let thread_shared = shared.clone();
        let queue = WriterQueue::start(options.queue_capacity, move |incoming| {
            writer_loop(
                conn,
                repos,
                incoming,
                max_batch,
                durability,
                wal_path,
                thread_shared,
            );
        })?;
        Ok(WriterHandle { queue, shared })
    }
}

/// How an answered unit is made durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Durability {
    /// `synchronous = FULL`: the commit itself fsyncs; answer right after it.
    Inline,
    /// Group commit: the connection commits with `synchronous = NORMAL` (no fsync) and
    /// hands the batch to the flusher thread, which fsyncs the WAL once for every
    /// batch committed meanwhile and only then answers. The writer goes on with the
    /// next batch during the fsync. An answered unit is as durable as with `FULL`.
    Flusher,
    /// `synchronous = NORMAL` without the flusher: answers before the fsync.
    Relaxed,
}

/// A committed batch waiting for its fsync.
struct Committed {
    replies: Vec<Reply>,
    started: Instant,
    events_written: bool,
    max_outbox_id: i64,
}

/// The state the writer thread keeps between batches.
struct Writer {
    tx: SqliteTx,
    repos: Arc<Repositories>,
    max_batch: usize,
    counters: Arc<Counters>,
    data_version: i64,
    flusher: Option<std::sync::mpsc::Sender<Committed>>,
    shared: Arc<Shared>,
}

#[allow(clippy::too_many_arguments)]
fn writer_loop(
    conn: Connection,
    repos: Arc<Repositories>,
    incoming: Incoming,
    max_batch: usize,
    durability: Durability,
    wal_path: std::path::PathBuf,
    shared: Arc<Shared>,
) {
    let flusher_shared = shared.clone();
    let (flusher, flusher_thread) = if durability == Durability::Flusher {
        let (tx, rx) = std::sync::mpsc::channel();
        match std::thread::Builder::new()
            .name("ledger-flusher".into())
            .spawn(move || flusher_loop(&wal_path, &rx, &flusher_shared))
        {
            Ok(handle) => (Some(tx), Some(handle)),
            Err(e) => {
                tracing::error!(error = %e, "cannot start the flusher; committing with FULL");
                let _ = conn.execute_batch("PRAGMA synchronous = FULL");
                (None, None)
            }
        }
    } else {
        (None, None)
    };
    let mut writer = Writer {
        tx: SqliteTx::new(conn),
        repos,
        max_batch,
        counters: incoming.counters.clone(),
        data_version: 0,
        flusher,
        shared,
    };
    let acks = incoming.serve(max_batch, |queue| writer.run_one_batch(queue));
    // Let the flusher answer the last batches before the file is closed.
    writer.flusher = None;
    if let Some(thread) = flusher_thread {
        let _ = thread.join();
    }
    if let Err(e) = writer
        .tx
        .conn
        .execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")
    {
        tracing::warn!(error = %e, "final WAL checkpoint failed");
    }
    drop(writer);
    for ack in acks {
        let _ = ack.send(());
    }
}

/// fsyncs the WAL once for every batch committed since the last fsync, then answers
/// their units in commit order.
fn flusher_loop(
    wal_path: &std::path::Path,
    batches: &std::sync::mpsc::Receiver<Committed>,
    shared: &Shared,
) {
    let mut wal: Option<std::fs::File> = None;
    while let Ok(first) = batches.recv() {
        let mut ready = vec![first];
        while let Ok(more) = batches.try_recv() {
            ready.push(more);
        }
        if shared.poisoned().is_none() {
            let synced = match &wal {
                Some(file) => file.sync_data(),
                None => std::fs::File::open(wal_path).and_then(|file| {
                    let r = file.sync_data();
                    wal = Some(file);
                    r
                }),
            };
            match synced {
                Ok(()) => {
                    let max = ready.iter().map(|b| b.max_outbox_id).max().unwrap_or(0);
                    shared.advance(max);
                }
                Err(e) => {
                    // The data is committed but its durability is unknown: the
                    // writer stops taking units, and nothing is confirmed from now on.
                    tracing::error!(error = %e, "fsync of the WAL failed; the ledger stops taking writes");
                    shared.poison(format!("fsync of the WAL failed: {e}"));
                }
            }
        }
        let failed = shared.poisoned().cloned();
        if failed.is_none() && ready.iter().any(|b| b.events_written) {
            shared.outbox_signal.notify_one();
        }
        for batch in ready {
            metrics::histogram!("ledger_commit_seconds")
                .record(batch.started.elapsed().as_secs_f64());
            for reply in batch.replies {
                reply(failed.clone().map(LedgerError::CommitFailed));
            }
        }
    }
}

fn exec(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([])?;
    Ok(())
}

/// Why a batch or unit was not kept: the storage is full (writes work again once
/// space returns), or something else.
#[derive(Debug, Clone)]
enum Failure {
    Full(String),
    Other(String),
}

impl Failure {
    /// The failure `e` describes: SQLITE_FULL (or a unit of this batch having met it)
    /// is a full storage.
    fn of(e: &rusqlite::Error) -> Failure {
        if super::error::is_full(e) || super::error::take_full_seen() {
            Failure::Full(e.to_string())
        } else {
            Failure::Other(e.to_string())
        }
    }

    fn error(&self) -> LedgerError {
        match self {
            Failure::Full(why) => LedgerError::StorageFull(why.clone()),
            Failure::Other(why) => LedgerError::CommitFailed(why.clone()),
        }
    }
}

fn fail_all(replies: Vec<Reply>, why: &Failure) {
    for reply in replies {
        reply(Some(why.error()));
    }
}

impl Writer {
    /// Rolls back a failed batch and answers its units.
    fn abort_batch(&mut self, replies: Vec<Reply>, why: &Failure) {
        if !self.tx.conn.is_autocommit() {
            let _ = exec(&self.tx.conn, "ROLLBACK");
        }
        self.tx.forget_cache();
        fail_all(replies, why);
    }

    /// Answers the next batch's worth of queued units with `why`, without running
    /// them.
    fn abort_unrun(&self, queue: &mut VecDeque<Unit>, why: &Failure) {
        let take = queue.len().min(self.max_batch);
        for unit in queue.drain(..take) {
            unit.abort(why.error());
        }
    }

    fn run_one_batch(&mut self, queue: &mut VecDeque<Unit>) {
        if let Some(why) = self.shared.poisoned().cloned() {
            self.abort_unrun(queue, &Failure::Other(why));
            return;
        }
        let started = Instant::now();
        let now = crate::ledger::timestamp_now();
        super::error::take_full_seen();
        if let Err(e) = exec(&self.tx.conn, "BEGIN IMMEDIATE") {
            tracing::error!(error = %e, "BEGIN IMMEDIATE failed");
            let why = match Failure::of(&e) {
                Failure::Full(m) => Failure::Full(m),
                Failure::Other(m) => Failure::Other(format!("cannot begin a transaction: {m}")),
            };
            self.abort_unrun(queue, &why);
            return;
        }
        // Another connection (the CLI) may have appended entries since our last
        // batch: then the cached chain heads are stale.
        match self
            .tx
            .conn
            .query_row("PRAGMA data_version", [], |r| r.get::<_, i64>(0))
        {
            Ok(v) if v == self.data_version => {}
            Ok(v) => {
                self.tx.forget_cache();
                self.data_version = v;
            }
            Err(_) => self.tx.heads.clear(),
        }
        self.tx.events_written = false;
        self.tx.max_outbox_id = 0;
        let mut replies: Vec<Reply> = Vec::with_capacity(queue.len().min(self.max_batch));
        let mut ran = 0u64;
        while ran < self.max_batch as u64 {
            let Some(unit) = queue.pop_front() else { break };
            if let Err(e) = exec(&self.tx.conn, "SAVEPOINT unit") {
                tracing::error!(error = %e, "SAVEPOINT failed");
                queue.push_front(unit);
                self.abort_batch(replies, &Failure::of(&e));
                return;
            }
            ran += 1;
            self.tx.heads.begin_unit();
            let outcome = {
                let mut tx = LedgerTx::new(&mut self.tx, &self.repos, &now);
                catch_unwind(AssertUnwindSafe(|| unit.run(&mut tx)))
            };
            if self.tx.conn.is_autocommit() {
                // SQLite rolled the whole transaction back (e.g. disk full): nothing
                // of this batch can be kept. The rest of the queue gets a new one.
                if let Ok((_, reply)) = outcome {
                    replies.push(reply);
                }
                let why = if super::error::take_full_seen() {
                    tracing::warn!("batch rolled back: the database or disk is full");
                    Failure::Full("database or disk is full".into())
                } else {
                    tracing::error!("batch aborted by the database");
                    Failure::Other("the transaction was aborted by the database".into())
                };
                self.abort_batch(replies, &why);
                return;
            }
            let keep = matches!(&outcome, Ok((true, _)));
            let settled = if keep {
                exec(&self.tx.conn, "RELEASE unit")
            } else {
                self.tx.heads.rollback_unit();
                exec(&self.tx.conn, "ROLLBACK TO unit")
                    .and_then(|()| exec(&self.tx.conn, "RELEASE unit"))
            };
            match outcome {
                Ok((_, reply)) => replies.push(reply),
                Err(_) => tracing::error!("a unit of work panicked; rolled back"),
            }
            // A statement-level SQLITE_FULL concerned this unit only.
            super::error::take_full_seen();
            if let Err(e) = settled {
                tracing::error!(error = %e, "savepoint settle failed");
                self.abort_batch(replies, &Failure::of(&e));
                return;
            }
        }
        // The outbox head as this batch commits it, exactly: rows of units rolled
        // back are not in it (their ids may be handed out again), and rows another
        // process committed (the CLI) are, since they become durable with this batch's
        // fsync too (one WAL file). The scheduler's units keep batches coming when the
        // node is idle.
        self.tx.max_outbox_id = match self
            .tx
            .conn
            .prepare_cached("SELECT coalesce(max(id), 0) FROM outbox")
            .and_then(|mut s| s.query_row([], |r| r.get::<_, i64>(0)))
        {
            Ok(max) => max,
            Err(e) => {
                tracing::warn!(error = %e, "reading the outbox head failed");
                0
            }
        };
        if let Err(e) = exec(&self.tx.conn, "COMMIT") {
            tracing::error!(error = %e, "COMMIT failed");
            self.abort_batch(replies, &Failure::of(&e));
            return;
        }
        self.counters.committed(ran);
        let committed = Committed {
            replies,
            started,
            events_written: self.tx.events_written,
            max_outbox_id: self.tx.max_outbox_id,
        };
        match &self.flusher {
            Some(flusher) => {
                if let Err(std::sync::mpsc::SendError(committed)) = flusher.send(committed) {
                    let why = "the flusher thread stopped: durability cannot be confirmed";
                    tracing::error!(why);
                    self.shared.poison(why.to_string());
                    fail_all(committed.replies, &Failure::Other(why.into()));
                }
            }
            None => {
                metrics::histogram!("ledger_commit_seconds")
                    .record(started.elapsed().as_secs_f64());
                self.shared.advance(committed.max_outbox_id);
                if committed.events_written {
                    self.shared.outbox_signal.notify_one();
                }
                for reply in committed.replies {
                    reply(None);
                }
            }
        }
    }
}
