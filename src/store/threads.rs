//! The threads both engines run alike: the writer's queue (callers submit units of
//! work; one writer thread takes them in batches of at most `max_batch`) and the
//! reader threads (one queue of reads, a connection each). What a batch does with its
//! units, and what a connection is, is each engine's.

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use tokio::sync::mpsc;

use crate::ledger::backend::{ReadBackend, ReadJob, TrySubmit, WriterStats};
use crate::ledger::unit::Unit;
use crate::ledger::LedgerError;

enum Msg {
    Unit(Unit),
    Shutdown(std::sync::mpsc::Sender<()>),
}

/// What the writer has committed since start.
#[derive(Default)]
pub(crate) struct Counters {
    batches: AtomicU64,
    units: AtomicU64,
    max_batch_seen: AtomicU64,
}

impl Counters {
    /// Counts a committed batch of `ran` units, and records its size
    /// (`ledger_batch_size`).
    pub(crate) fn committed(&self, ran: u64) {
        self.batches.fetch_add(1, Ordering::Relaxed);
        self.units.fetch_add(ran, Ordering::Relaxed);
        self.max_batch_seen.fetch_max(ran, Ordering::Relaxed);
        metrics::histogram!("ledger_batch_size").record(ran as f64);
    }
}

/// The callers' side of the writer: a bounded queue to the writer thread.
pub(crate) struct WriterQueue {
    sender: mpsc::Sender<Msg>,
    counters: Arc<Counters>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

/// The writer thread's side of the queue, handed to the engine's writer.
pub(crate) struct Incoming {
    receiver: mpsc::Receiver<Msg>,
    /// Where the writer counts what it committed.
    pub(crate) counters: Arc<Counters>,
}

impl WriterQueue {
    /// Starts the thread `ledger-writer` running `writer` on the receiving side of a
    /// queue of `capacity` units.
    ///
    /// # Errors
    /// [`LedgerError::Invalid`] when the thread cannot start.
    pub(crate) fn start(
        capacity: usize,
        writer: impl FnOnce(Incoming) + Send + 'static,
    ) -> Result<WriterQueue, LedgerError> {
        let (sender, receiver) = mpsc::channel(capacity.max(1));
        let counters = Arc::new(Counters::default());
        let incoming = Incoming {
            receiver,
            counters: counters.clone(),
        };
        let thread = std::thread::Builder::new()
            .name("ledger-writer".into())
            .spawn(move || writer(incoming))
            .map_err(|e| LedgerError::Invalid(format!("cannot start the writer thread: {e}")))?;
        Ok(WriterQueue {
            sender,
            counters,
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Queues `unit`, waiting for room.
    ///
    /// # Errors
    /// [`LedgerError::Closed`] once the writer stopped.
    pub(crate) async fn submit(&self, unit: Unit) -> Result<(), LedgerError> {
        self.sender
            .send(Msg::Unit(unit))
            .await
            .map_err(|_| LedgerError::Closed)
    }

    /// Queues `unit` if there is room now.
    ///
    /// # Errors
    /// [`TrySubmit::Full`] (the unit handed back) or [`TrySubmit::Closed`].
    pub(crate) fn try_submit(&self, unit: Unit) -> Result<(), TrySubmit> {
        match self.sender.try_send(Msg::Unit(unit)) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Full(Msg::Unit(unit))) => Err(TrySubmit::Full(unit)),
            Err(_) => Err(TrySubmit::Closed),
        }
    }

    /// Queues `unit` from a thread outside the async runtime, waiting for room.
    ///
    /// # Errors
    /// [`LedgerError::Closed`] once the writer stopped.
    pub(crate) fn submit_blocking(&self, unit: Unit) -> Result<(), LedgerError> {
        self.sender
            .blocking_send(Msg::Unit(unit))
            .map_err(|_| LedgerError::Closed)
    }

    /// What the writer committed since start.
    pub(crate) fn stats(&self) -> WriterStats {
        let c = &self.counters;
        WriterStats {
            batches: c.batches.load(Ordering::Relaxed),
            units: c.units.load(Ordering::Relaxed),
            max_batch_seen: c.max_batch_seen.load(Ordering::Relaxed),
        }
    }

    /// Tells the writer to stop taking units and finish the queued ones, waits until
    /// it has, and joins its thread.
    pub(crate) fn shutdown(&self) {
        let (ack, acked) = std::sync::mpsc::channel();
        // A full queue must not block shutdown forever: try, then fall back to waiting.
        let sent = match self.sender.try_send(Msg::Shutdown(ack)) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(msg)) => self.sender.blocking_send(msg).is_ok(),
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        };
        if sent {
            let _ = acked.recv();
        }
        if let Some(thread) = self.thread.lock().ok().and_then(|mut t| t.take()) {
            let _ = thread.join();
        }
    }
}

impl Incoming {
    /// Waits for a unit, takes every other unit already queued (up to `max_batch`)
    /// and calls `run_batch` until they have all been taken (each call takes at most
    /// `max_batch` units off the front of the queue and answers them); over and over
    /// until shutdown, when it refuses new units and runs those already queued.
    /// Returns the shutdown's acknowledgements, to send once the engine has closed its
    /// store.
    pub(crate) fn serve(
        mut self,
        max_batch: usize,
        mut run_batch: impl FnMut(&mut VecDeque<Unit>),
    ) -> Vec<std::sync::mpsc::Sender<()>> {
        let max_batch = max_batch.max(1);
        let mut queue: VecDeque<Unit> = VecDeque::with_capacity(max_batch);
        let mut acks = Vec::new();
        while let Some(first) = self.receiver.blocking_recv() {
            let mut push = |msg: Msg, queue: &mut VecDeque<Unit>| match msg {
                Msg::Unit(u) => queue.push_back(u),
                Msg::Shutdown(ack) => acks.push(ack),
            };
            push(first, &mut queue);
            while queue.len() < max_batch {
                match self.receiver.try_recv() {
                    Ok(msg) => push(msg, &mut queue),
                    Err(_) => break,
                }
            }
            while !queue.is_empty() {
                run_batch(&mut queue);
            }
            if !acks.is_empty() {
                // Refuse new units, then finish everything already queued.
                self.receiver.close();
                while let Some(msg) = self.receiver.blocking_recv() {
                    if let Msg::Unit(u) = msg {
                        queue.push_back(u);
                    }
                }
                while !queue.is_empty() {
                    run_batch(&mut queue);
                }
                break;
            }
        }
        acks
    }
}

/// Reader threads `ledger-reader-N` fed by one queue: a thread takes the next read,
/// runs it on its connection (opened on its first read, and again after a read
/// panicked or the connection broke), and goes on to the next. Under load a thread
/// goes from one read to the next without sleeping, so a read costs one hand-off,
/// not two thread wake-ups.
pub(crate) struct ReaderThreads {
    queue: Mutex<std::sync::mpsc::Sender<ReadJob>>,
}

impl ReaderThreads {
    /// Starts `count` (at least one) threads; each opens its connection with `open`,
    /// and opens a new one when `usable` says the one it has is not.
    ///
    /// # Errors
    /// [`LedgerError::Invalid`] when a thread cannot start.
    pub(crate) fn start<C: ReadBackend + 'static>(
        count: u32,
        open: impl Fn() -> Result<C, LedgerError> + Send + Sync + 'static,
        usable: fn(&C) -> bool,
    ) -> Result<ReaderThreads, LedgerError> {
        let (queue, jobs) = std::sync::mpsc::channel::<ReadJob>();
        let jobs = Arc::new(Mutex::new(jobs));
        let open = Arc::new(open);
        for i in 0..count.max(1) {
            let (jobs, open) = (jobs.clone(), open.clone());
            std::thread::Builder::new()
                .name(format!("ledger-reader-{i}"))
                .spawn(move || reader_loop(&jobs, &*open, usable))
                .map_err(|e| LedgerError::Invalid(format!("cannot start a reader: {e}")))?;
        }
        Ok(ReaderThreads {
            queue: Mutex::new(queue),
        })
    }

    /// Queues `job` (answered with [`LedgerError::Closed`] if no reader is left).
    pub(crate) fn run(&self, job: ReadJob) {
        let refused = match self.queue.lock() {
            Ok(q) => q.send(job).err().map(|e| e.0),
            Err(_) => Some(job),
        };
        if let Some(job) = refused {
            job(Err(LedgerError::Closed));
        }
    }

    /// Closes the queue: each reader ends after the read it is running, and later
    /// reads are answered with [`LedgerError::Closed`].
    pub(crate) fn close(&self) {
        if let Ok(mut q) = self.queue.lock() {
            *q = std::sync::mpsc::channel().0;
        }
    }
}

fn reader_loop<C: ReadBackend>(
    jobs: &Mutex<std::sync::mpsc::Receiver<ReadJob>>,
    open: &dyn Fn() -> Result<C, LedgerError>,
    usable: fn(&C) -> bool,
) {
    let mut conn: Option<C> = None;
    loop {
        let job = match jobs.lock() {
            Ok(rx) => rx.recv(),
            Err(_) => return,
        };
        let Ok(job) = job else { return };
        if conn.as_ref().is_some_and(|c| !usable(c)) {
            conn = None;
        }
        if conn.is_none() {
            match open() {
                Ok(c) => conn = Some(c),
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
                // A connection left mid-transaction is not reused.
                conn = None;
            }
        }
    }
}
