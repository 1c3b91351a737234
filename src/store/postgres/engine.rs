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
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

use futures::future::BoxFuture;
use tokio::sync::mpsc;

use super::read::PgRead;
use super::tx::{PgConn, PgTx};
use super::{connect, error};
use crate::ledger::backend::{Engine, ReadBackend, ReadJob, TrySubmit, WriterStats};
use crate::ledger::unit::{Reply, Unit};
use crate::ledger::{LedgerError, LedgerOptions, LedgerTx, Repositories};
use crate::secret::Secret;

#[derive(Default)]
struct Counters {
    batches: AtomicU64,
    units: AtomicU64,
    max_batch_seen: AtomicU64,
}

enum Msg {
    Unit(Unit),
    Shutdown(std::sync::mpsc::Sender<()>),
}

/// The running PostgreSQL store.
pub(crate) struct PgEngine {
    /// None: opened read-only.
    sender: Option<mpsc::Sender<Msg>>,
    counters: Arc<Counters>,
    thread: Mutex<Option<JoinHandle<()>>>,
    durable: Arc<AtomicI64>,
    outbox_signal: Arc<tokio::sync::Notify>,
    readers: Mutex<std::sync::mpsc::Sender<ReadJob>>,
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
        let (sender, receiver) = mpsc::channel(options.queue_capacity.max(1));
        let counters = Arc::new(Counters::default());
        let outbox_signal = Arc::new(tokio::sync::Notify::new());
        let max_batch = options.max_batch.max(1);
        // Whatever the database holds at start is durable.
        let durable = Arc::new(AtomicI64::new(max_outbox_id(&mut client)?));
        let writer = Writer {
            durable: durable.clone(),
            tx: PgTx::new(client),
            url: url.clone(),
            repos,
            max_batch,
            counters: counters.clone(),
            outbox_signal: outbox_signal.clone(),
        };
        let thread = std::thread::Builder::new()
            .name("ledger-writer".into())
            .spawn(move || writer.run(receiver))
            .map_err(|e| LedgerError::Invalid(format!("cannot start the writer thread: {e}")))?;
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
            sender: Some(sender),
            counters,
            thread: Mutex::new(Some(thread)),
            durable,
            outbox_signal,
            readers: Mutex::new(start_readers(&url, options.read_pool_size)?),
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
            sender: None,
            counters: Arc::default(),
            thread: Mutex::new(None),
            durable: Arc::default(),
            outbox_signal: Arc::default(),
            readers: Mutex::new(start_readers(&url, read_pool_size)?),
            url,
            location,
        })
    }

    fn sender(&self) -> Result<&mpsc::Sender<Msg>, LedgerError> {
        self.sender.as_ref().ok_or_else(|| {
            LedgerError::Invalid(format!(
                "{} is open read-only: writes go through a running node",
                self.location
            ))
        })
    }
}

/// `count` (at least one) reader threads on `url`, fed by the returned queue.
fn start_readers(
    url: &Secret,
    count: u32,
) -> Result<std::sync::mpsc::Sender<ReadJob>, LedgerError> {
    let (jobs_tx, jobs_rx) = std::sync::mpsc::channel::<ReadJob>();
    let jobs_rx = Arc::new(Mutex::new(jobs_rx));
    for i in 0..count.max(1) {
        let (jobs, url) = (jobs_rx.clone(), url.clone());
        std::thread::Builder::new()
            .name(format!("ledger-reader-{i}"))
            .spawn(move || reader_loop(&url, &jobs))
            .map_err(|e| LedgerError::Invalid(format!("cannot start a reader: {e}")))?;
    }
    Ok(jobs_tx)
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

fn reader_loop(url: &Secret, jobs: &Mutex<std::sync::mpsc::Receiver<ReadJob>>) {
    let mut conn: Option<PgRead> = None;
    loop {
        let job = match jobs.lock() {
            Ok(rx) => rx.recv(),
            Err(_) => return,
        };
        let Ok(job) = job else { return };
        if conn.as_ref().is_some_and(|c| c.0.client.is_closed()) {
            conn = None;
        }
        if conn.is_none() {
            match connect(url) {
                Ok(c) => conn = Some(PgRead(PgConn::new(c))),
                Err(e) => {
                    job(Err(e));
                    continue;
                }
            }
        }
        if let Some(c) = conn.as_mut() {
            let run = catch_unwind(AssertUnwindSafe(|| job(Ok(c as &mut dyn ReadBackend))));
            if run.is_err() {
                tracing::error!("a read panicked; its caller was told");
                conn = None;
            }
        }
    }
}

impl Engine for PgEngine {
    fn try_submit(&self, unit: Unit) -> Result<(), TrySubmit> {
        let Some(sender) = &self.sender else {
            // Read-only: `submit` says why.
            return Err(TrySubmit::Full(unit));
        };
        match sender.try_send(Msg::Unit(unit)) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Full(Msg::Unit(unit))) => Err(TrySubmit::Full(unit)),
            Err(_) => Err(TrySubmit::Closed),
        }
    }

    fn submit(&self, unit: Unit) -> BoxFuture<'_, Result<(), LedgerError>> {
        Box::pin(async move {
            self.sender()?
                .send(Msg::Unit(unit))
                .await
                .map_err(|_| LedgerError::Closed)
        })
    }

    fn submit_blocking(&self, unit: Unit) -> Result<(), LedgerError> {
        self.sender()?
            .blocking_send(Msg::Unit(unit))
            .map_err(|_| LedgerError::Closed)
    }

    fn reader(&self) -> Result<Box<dyn ReadBackend>, LedgerError> {
        Ok(Box::new(PgRead(PgConn::new(connect(&self.url)?))))
    }

    fn spawn_read(&self, job: ReadJob) {
        let refused = match self.readers.lock() {
            Ok(q) => q.send(job).err().map(|e| e.0),
            Err(_) => Some(job),
        };
        if let Some(job) = refused {
            job(Err(LedgerError::Closed));
        }
    }

    fn outbox_signal(&self) -> Arc<tokio::sync::Notify> {
        self.outbox_signal.clone()
    }

    /// The highest outbox id committed as the writer or the listener last looked (at
    /// start, with each batch, and at each `NOTIFY rc_outbox` of any node).
    fn durable_outbox_id(&self) -> i64 {
        self.durable.load(Ordering::Acquire)
    }

    /// Never: the server confirms each commit itself, so no commit is left
    /// unconfirmed (a failed one fails its batch's units).
    fn poisoned(&self) -> Option<String> {
        None
    }

    fn stats(&self) -> WriterStats {
        WriterStats {
            batches: self.counters.batches.load(Ordering::Relaxed),
            units: self.counters.units.load(Ordering::Relaxed),
            max_batch_seen: self.counters.max_batch_seen.load(Ordering::Relaxed),
        }
    }

    fn shutdown(&self) {
        self.stopping.store(true, Ordering::Release);
        if let Some(sender) = &self.sender {
            let (ack, acked) = std::sync::mpsc::channel();
            let sent = match sender.try_send(Msg::Shutdown(ack)) {
                Ok(()) => true,
                Err(mpsc::error::TrySendError::Full(msg)) => sender.blocking_send(msg).is_ok(),
                Err(mpsc::error::TrySendError::Closed(_)) => false,
            };
            if sent {
                let _ = acked.recv();
            }
        }
        if let Some(thread) = self.thread.lock().ok().and_then(|mut t| t.take()) {
            let _ = thread.join();
        }
        // Readers end when their queue closes.
        if let Ok(mut q) = self.readers.lock() {
            *q = std::sync::mpsc::channel().0;
        }
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
    fn run(mut self, mut receiver: mpsc::Receiver<Msg>) {
        let mut queue: VecDeque<Unit> = VecDeque::with_capacity(self.max_batch);
        let mut acks = Vec::new();
        while let Some(first) = receiver.blocking_recv() {
            let mut push = |msg: Msg, queue: &mut VecDeque<Unit>| match msg {
                Msg::Unit(u) => queue.push_back(u),
                Msg::Shutdown(ack) => acks.push(ack),
            };
            push(first, &mut queue);
            while queue.len() < self.max_batch {
                match receiver.try_recv() {
                    Ok(msg) => push(msg, &mut queue),
                    Err(_) => break,
                }
            }
            while !queue.is_empty() {
                self.run_one_batch(&mut queue);
            }
            if !acks.is_empty() {
                receiver.close();
                while let Some(msg) = receiver.blocking_recv() {
                    if let Msg::Unit(u) = msg {
                        queue.push_back(u);
                    }
                }
                while !queue.is_empty() {
                    self.run_one_batch(&mut queue);
                }
                break;
            }
        }
        for ack in acks {
            let _ = ack.send(());
        }
    }

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
        // Committed with this batch: its own events and every one committed before.
        let head = match max_outbox_id(&mut self.tx.conn.client) {
            Ok(head) => head,
            Err(e) => {
                self.abort_batch(replies, &e);
                return;
            }
        };
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
        self.durable.fetch_max(head, Ordering::AcqRel);
        self.counters.batches.fetch_add(1, Ordering::Relaxed);
        self.counters.units.fetch_add(ran, Ordering::Relaxed);
        self.counters
            .max_batch_seen
            .fetch_max(ran, Ordering::Relaxed);
        metrics::histogram!("ledger_batch_size").record(ran as f64);
        metrics::histogram!("ledger_commit_seconds").record(started.elapsed().as_secs_f64());
        if self.tx.events_written {
            self.outbox_signal.notify_one();
        }
        for reply in replies {
            reply(None);
        }
    }
}
