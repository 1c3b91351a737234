//! The PostgreSQL engine: one writer thread with group commit, reader threads, and a
//! listener thread (`LISTEN rc_outbox`, which wakes the webhook dispatcher when any
//! node commits events), each with a connection of its own.
//!
//! The writer waits for a unit of work, takes every other unit already queued (up to
//! `max_batch`), opens one transaction, runs each unit inside its own `SAVEPOINT` (a
//! unit that fails or panics is rolled back alone), commits once, and only then answers
//! every caller: one commit, and one WAL flush on the server, serves many requests. As
//! on SQLite, an answered unit is durable (the server's `synchronous_commit` is left
//! on).

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use futures::future::BoxFuture;

use super::read::PgRead;
use super::tx::{PgConn, PgTx};
use super::{connect, error};
use crate::ledger::backend::{Engine, ReadBackend, ReadJob, TrySubmit, WriterStats};
use crate::ledger::unit::{Reply, Unit};
use crate::ledger::{LedgerError, LedgerOptions, LedgerTx, Repositories};
use crate::secret::Secret;
use crate::store::threads::{Counters, ReaderThreads, WriterQueue};

/// The running PostgreSQL store.
pub(crate) struct PgEngine {
    /// None: opened read-only.
    writer: Option<WriterQueue>,
    durable: Arc<AtomicI64>,
    outbox_signal: Arc<tokio::sync::Notify>,
    readers: ReaderThreads,
    /// Set at shutdown: the listener thread ends.
    stopping: Arc<AtomicBool>,
    url: Secret,
    location: String,
}

impl PgEngine {
    /// Starts the writer on `client` and `options.read_pool_size` readers on `url`.
    pub(crate) fn start(
        url: Secret,
        mut client: postgres::Client,
        repos: Arc<Repositories>,
        options: &LedgerOptions,
        location: String,
    ) -> Result<PgEngine, LedgerError> {
        let outbox_signal = Arc::new(tokio::sync::Notify::new());
        let max_batch = options.max_batch.max(1);
        // Whatever the database holds at start is durable.
        let durable = Arc::new(AtomicI64::new(max_outbox_id(&mut client)?));
        let (writer_durable, writer_url, writer_signal) =
            (durable.clone(), url.clone(), outbox_signal.clone());
        let queue = WriterQueue::start(options.queue_capacity, move |incoming| {
            let mut writer = Writer {
                durable: writer_durable,
                tx: PgTx::new(client),
                url: writer_url,
                repos,
                max_batch,
                counters: incoming.counters.clone(),
                outbox_signal: writer_signal,
            };
            for ack in incoming.serve(max_batch, |queue| writer.run_one_batch(queue)) {
                let _ = ack.send(());
            }
        })?;
        let stopping = Arc::new(AtomicBool::new(false));
        {
            let (url, signal, stopping) = (url.clone(), outbox_signal.clone(), stopping.clone());
            let durable = durable.clone();
            std::thread::Builder::new()
                .name("ledger-listener".into())
                .spawn(move || listen(&url, &signal, &durable, &stopping))
                .map_err(|e| LedgerError::Invalid(format!("cannot start the listener: {e}")))?;
        }
        Ok(PgEngine {
            stopping,
            writer: Some(queue),
            durable,
            outbox_signal,
            readers: start_readers(&url, options.read_pool_size)?,
            url,
            location,
        })
    }

    /// Starts `read_pool_size` readers on `url` and no writer: units of work are
    /// refused.
    pub(crate) fn start_read_only(
        url: Secret,
        read_pool_size: u32,
        location: String,
    ) -> Result<PgEngine, LedgerError> {
        Ok(PgEngine {
            stopping: Arc::default(),
            writer: None,
            durable: Arc::default(),
            outbox_signal: Arc::default(),
            readers: start_readers(&url, read_pool_size)?,
            url,
            location,
        })
    }

    fn writer(&self) -> Result<&WriterQueue, LedgerError> {
        self.writer.as_ref().ok_or_else(|| {
            LedgerError::Invalid(format!(
                "{} is open read-only: writes go through a running node",
                self.location
            ))
        })
    }
}

/// `count` (at least one) reader threads on `url`, each with a connection of its own
/// (a new one when the server closed it).
fn start_readers(url: &Secret, count: u32) -> Result<ReaderThreads, LedgerError> {
    let url = url.clone();
    ReaderThreads::start(
        count,
        move || Ok(PgRead(PgConn::new(connect(&url)?))),
        |c: &PgRead| !c.0.client.is_closed(),
    )
}

/// How long the listener waits for a notification before it looks whether to stop.
const LISTEN_TICK: std::time::Duration = std::time::Duration::from_secs(1);

/// The listener: `LISTEN rc_outbox` on a connection of its own. For every
/// notification (the writers of every node send one when they commit events) it
/// raises `durable` to the highest committed outbox id, so that this node's
/// dispatcher may attempt other nodes' events too (a node that died leaves its
/// events to the others), and wakes the dispatcher. Reconnects when the connection
/// drops (and wakes the dispatcher then, for what it may have missed); ends once
/// `stopping` is set.
fn listen(url: &Secret, signal: &tokio::sync::Notify, durable: &AtomicI64, stopping: &AtomicBool) {
    use postgres::fallible_iterator::FallibleIterator;
    while !stopping.load(Ordering::Acquire) {
        let mut client = match connect(url).and_then(|mut c| {
            c.batch_execute("LISTEN rc_outbox").map_err(error)?;
            Ok(c)
        }) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "LISTEN rc_outbox: cannot connect; retrying");
                std::thread::sleep(LISTEN_TICK);
                continue;
            }
        };
        let wake = |client: &mut postgres::Client| {
            if let Ok(head) = max_outbox_id(client) {
                durable.fetch_max(head, Ordering::AcqRel);
            }
            signal.notify_one();
        };
        wake(&mut client);
        while !stopping.load(Ordering::Acquire) {
            let next = client.notifications().timeout_iter(LISTEN_TICK).next();
            match next {
                Ok(Some(_)) => wake(&mut client),
                Ok(None) if !client.is_closed() => {}
                Ok(None) | Err(_) => {
                    tracing::warn!("LISTEN rc_outbox: the connection closed; reconnecting");
                    break;
                }
            }
        }
    }
}

impl Engine for PgEngine {
    fn try_submit(&self, unit: Unit) -> Result<(), TrySubmit> {
        match &self.writer {
            Some(w) => w.try_submit(unit),
            // Read-only: `submit` says why.
            None => Err(TrySubmit::Full(unit)),
        }
    }

    fn submit(&self, unit: Unit) -> BoxFuture<'_, Result<(), LedgerError>> {
        Box::pin(async move { self.writer()?.submit(unit).await })
    }

    fn submit_blocking(&self, unit: Unit) -> Result<(), LedgerError> {
        self.writer()?.submit_blocking(unit)
    }

    fn reader(&self) -> Result<Box<dyn ReadBackend>, LedgerError> {
        Ok(Box::new(PgRead(PgConn::new(connect(&self.url)?))))
    }

    fn spawn_read(&self, job: ReadJob) {
        self.readers.run(job);
    }

    fn outbox_signal(&self) -> Arc<tokio::sync::Notify> {
        self.outbox_signal.clone()
    }

    /// The highest outbox id known committed: at start, then this writer's events as
    /// each batch commits, and every node's as the listener hears their
    /// `NOTIFY rc_outbox`.
    fn durable_outbox_id(&self) -> i64 {
        self.durable.load(Ordering::Acquire)
    }

    /// Never: the server confirms each commit itself, so no commit is left
    /// unconfirmed (a failed one fails its batch's units).
    fn poisoned(&self) -> Option<String> {
        None
    }

    fn stats(&self) -> WriterStats {
        self.writer
            .as_ref()
            .map(WriterQueue::stats)
            .unwrap_or_default()
    }

    fn shutdown(&self) {
        self.stopping.store(true, Ordering::Release);
        if let Some(w) = &self.writer {
            w.shutdown();
        }
        self.readers.close();
    }

    fn location(&self) -> String {
        self.location.clone()
    }

    fn shared(&self) -> bool {
        true
    }
}

/// The highest outbox id visible to `client`.
fn max_outbox_id(client: &mut postgres::Client) -> Result<i64, LedgerError> {
    Ok(client
        .query_one("SELECT coalesce(max(id), 0) FROM outbox", &[])
        .map_err(error)?
        .get(0))
}

struct Writer {
    durable: Arc<AtomicI64>,
    tx: PgTx,
    url: Secret,
    repos: Arc<Repositories>,
    max_batch: usize,
    counters: Arc<Counters>,
    outbox_signal: Arc<tokio::sync::Notify>,
}

fn fail_all(replies: Vec<Reply>, why: &LedgerError) {
    for reply in replies {
        reply(Some(same(why)));
    }
}

/// A copy of `e` for another caller.
fn same(e: &LedgerError) -> LedgerError {
    match e {
        LedgerError::StorageFull(m) => LedgerError::StorageFull(m.clone()),
        other => LedgerError::CommitFailed(other.to_string()),
    }
}

impl Writer {
    /// A live connection: the current one, or a new one when the server closed it.
    fn ensure_connected(&mut self) -> Result<(), LedgerError> {
        if self.tx.conn.client.is_closed() {
            tracing::warn!("the PostgreSQL connection closed; reconnecting");
            self.tx = PgTx::new(connect(&self.url)?);
        }
        Ok(())
    }

    fn abort_unrun(&self, queue: &mut VecDeque<Unit>, why: &LedgerError) {
        let take = queue.len().min(self.max_batch);
        for unit in queue.drain(..take) {
            unit.abort(same(why));
        }
    }

    fn abort_batch(&mut self, replies: Vec<Reply>, why: &LedgerError) {
        let _ = self.tx.conn.client.batch_execute("ROLLBACK");
        fail_all(replies, why);
    }

    fn run_one_batch(&mut self, queue: &mut VecDeque<Unit>) {
        let started = Instant::now();
        let now = crate::ledger::timestamp_now();
        let begun = self.ensure_connected().and_then(|()| self.tx.begin());
        if let Err(e) = begun {
            tracing::error!(error = %e, "cannot begin a transaction");
            let _ = self.tx.conn.client.batch_execute("ROLLBACK");
            self.abort_unrun(queue, &e);
            return;
        }
        let mut replies: Vec<Reply> = Vec::with_capacity(queue.len().min(self.max_batch));
        let mut ran = 0u64;
        // The kept unit's savepoint is released together with the next one's start:
        // one round trip between units.
        let mut release_first = false;
        while ran < self.max_batch as u64 {
            let Some(unit) = queue.pop_front() else { break };
            let start = if release_first {
                "RELEASE SAVEPOINT unit; SAVEPOINT unit"
            } else {
                "SAVEPOINT unit"
            };
            if let Err(e) = self.tx.conn.client.batch_execute(start) {
                queue.push_front(unit);
                self.abort_batch(replies, &error(e));
                return;
            }
            ran += 1;
            self.tx.begin_unit();
            let outcome = {
                let mut tx = LedgerTx::new(&mut self.tx, &self.repos, &now);
                catch_unwind(AssertUnwindSafe(|| unit.run(&mut tx)))
            };
            let keep = matches!(&outcome, Ok((true, _)));
            release_first = keep;
            let settled = if keep {
                Ok(())
            } else {
                self.tx.rollback_unit();
                self.tx
                    .conn
                    .client
                    .batch_execute("ROLLBACK TO SAVEPOINT unit; RELEASE SAVEPOINT unit")
            };
            match outcome {
                Ok((_, reply)) => replies.push(reply),
                Err(_) => tracing::error!("a unit of work panicked; rolled back"),
            }
            if let Err(e) = settled {
                tracing::error!(error = %e, "savepoint settle failed");
                self.abort_batch(replies, &error(e));
                return;
            }
        }
        // A kept unit whose statements failed cannot be released: the batch fails.
        let closed = if release_first {
            self.tx
                .conn
                .client
                .batch_execute("RELEASE SAVEPOINT unit")
                .map_err(error)
        } else {
            Ok(())
        };
        if let Err(e) = closed.and_then(|()| self.tx.write_heads()) {
            tracing::error!(error = %e, "closing the batch failed");
            self.abort_batch(replies, &e);
            return;
        }
        // Other nodes' dispatchers hear of the events (LISTEN rc_outbox) once they
        // are committed.
        let commit = if self.tx.events_written {
            "NOTIFY rc_outbox; COMMIT"
        } else {
            "COMMIT"
        };
        if let Err(e) = self.tx.conn.client.batch_execute(commit) {
            tracing::error!(error = %e, "COMMIT failed");
            // A failed NOTIFY leaves the transaction open (and aborted).
            let _ = self.tx.conn.client.batch_execute("ROLLBACK");
            fail_all(replies, &error(e));
            return;
        }
        self.tx.committed();
        // This batch's events are committed; other nodes' (and the CLI's) are counted
        // by the listener when their NOTIFY arrives.
        self.durable
            .fetch_max(self.tx.max_outbox_id, Ordering::AcqRel);
        self.counters.committed(ran);
        metrics::histogram!("ledger_commit_seconds").record(started.elapsed().as_secs_f64());
        if self.tx.events_written {
            self.outbox_signal.notify_one();
        }
        for reply in replies {
            reply(None);
        }
    }
}
