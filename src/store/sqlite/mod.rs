//! The SQLite backend: one file in WAL mode, one writer thread with group commit
//! ([`writer`]), reader threads with a read-only connection each, migrations
//! ([`connect`]),
//! the core's backend ([`tx`], [`read`]) and every module's repository (`goop2`,
//! `roochip`, `rrr`, `webhooks`, `directory`, `payments`), and online backup.

pub mod connect;
mod directory;
mod error;
mod goop2;
mod payments;
pub mod read;
mod roochip;
mod rrr;
pub mod tx;
mod webhooks;
pub mod writer;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures::future::BoxFuture;

pub use connect::{open_reader, schema_version};

use self::read::SqliteRead;
use self::tx::SqliteTx;
use crate::ledger::backend::{Engine, ReadBackend, ReadJob, TrySubmit, WriterStats};
use crate::ledger::unit::Unit;
use crate::ledger::{Ledger, LedgerError, LedgerOptions, Repositories, Synchronous};

/// Every repository this backend implements, for units of work and for reads.
pub fn repositories() -> Repositories {
    super::repositories::<SqliteTx, SqliteRead>()
}

/// The running SQLite store: the writer thread and the reader threads (a synchronous
/// reader, the CLI's, opens a connection of its own).
struct SqliteEngine {
    writer: Option<writer::WriterHandle>,
    readers: Option<crate::store::threads::ReaderThreads>,
    path: PathBuf,
}

impl SqliteEngine {
    fn writer(&self) -> Result<&writer::WriterHandle, LedgerError> {
        self.writer.as_ref().ok_or_else(|| {
            LedgerError::Invalid(format!(
                "{} is open read-only: writes go through the running node",
                self.path.display()
            ))
        })
    }
}

impl Engine for SqliteEngine {
    fn try_submit(&self, unit: Unit) -> Result<(), TrySubmit> {
        match &self.writer {
            Some(w) => w.queue.try_submit(unit),
            // Read-only: `submit` says why.
            None => Err(TrySubmit::Full(unit)),
        }
    }

    fn submit(&self, unit: Unit) -> BoxFuture<'_, Result<(), LedgerError>> {
        Box::pin(async move { self.writer()?.queue.submit(unit).await })
    }

    fn submit_blocking(&self, unit: Unit) -> Result<(), LedgerError> {
        self.writer()?.queue.submit_blocking(unit)
    }

    fn reader(&self) -> Result<Box<dyn ReadBackend>, LedgerError> {
        Ok(Box::new(SqliteRead(open_reader(&self.path)?)))
    }

    fn spawn_read(&self, job: ReadJob) {
        match &self.readers {
            Some(readers) => readers.run(job),
            None => {
                let path = self.path.clone();
                tokio::task::spawn_blocking(move || match open_reader(&path) {
                    Ok(c) => job(Ok(&mut SqliteRead(c))),
                    Err(e) => job(Err(e)),
                });
            }
        }
    }

    fn outbox_signal(&self) -> Arc<tokio::sync::Notify> {
        match &self.writer {
            Some(w) => w.shared.outbox_signal.clone(),
            None => Arc::default(),
        }
    }

    fn durable_outbox_id(&self) -> i64 {
        self.writer
            .as_ref()
            .map_or(0, |w| w.shared.durable_outbox_id())
    }

    fn poisoned(&self) -> Option<String> {
        self.writer
            .as_ref()
            .and_then(|w| w.shared.poisoned().cloned())
    }

    fn stats(&self) -> WriterStats {
        self.writer
            .as_ref()
            .map(|w| w.queue.stats())
            .unwrap_or_default()
    }

    fn shutdown(&self) {
        if let Some(w) = &self.writer {
            w.queue.shutdown();
        }
    }

    fn location(&self) -> String {
        self.path.display().to_string()
    }
}

/// Opens (creating if needed) the ledger file at `path`, applies the schema
/// migrations, and starts the writer thread and the reader threads
/// (`options.read_pool_size`, each with its own read-only connection).
///
/// # Errors
/// Storage errors when the file cannot be opened or migrated.
pub fn open(path: &Path, options: LedgerOptions) -> Result<Ledger, LedgerError> {
    // Group commit (max_batch > 1 with FULL): the connection commits without an
    // fsync and the flusher thread fsyncs the WAL before answering. max_batch = 1
    // keeps one transaction and one fsync per unit, for comparison.
    let (sync, durability) = match (options.synchronous, options.max_batch > 1) {
        (Synchronous::Full, true) => (Synchronous::Normal, writer::Durability::Flusher),
        (Synchronous::Full, false) => (Synchronous::Full, writer::Durability::Inline),
        (Synchronous::Normal, _) => (Synchronous::Normal, writer::Durability::Relaxed),
    };
    let conn = connect::open_writer(path, sync)?;
    if options.max_pages > 0 {
        // Per connection: only the writer allocates pages.
        let granted: i64 = conn.query_row(
            &format!("PRAGMA max_page_count = {}", options.max_pages),
            [],
            |r| r.get(0),
        )?;
        tracing::info!(max_pages = granted, "ledger size capped");
    }
    // Whatever the file holds at start is on disk.
    let initial_outbox_id: i64 =
        conn.query_row("SELECT coalesce(max(id), 0) FROM outbox", [], |r| r.get(0))?;
    let mut wal_path = path.as_os_str().to_owned();
    wal_path.push("-wal");
    let repos = Arc::new(repositories());
    let writer = writer::WriterHandle::start(
        conn,
        repos.clone(),
        &options,
        durability,
        PathBuf::from(wal_path),
        initial_outbox_id,
    )?;
    let engine = SqliteEngine {
        writer: Some(writer),
        readers: Some(crate::store::threads::ReaderThreads::start(
            options.read_pool_size,
            {
                let path = path.to_path_buf();
                move || open_reader(&path).map(SqliteRead)
            },
            |_| true,
        )?),
        path: path.to_path_buf(),
    };
    Ok(Ledger::new(Arc::new(engine), repos))
}

/// Opens the ledger file at `path` for reading only (the CLI beside a running node):
/// reads work, writes are refused. Nothing is created or migrated.
///
/// # Errors
/// [`LedgerError::Invalid`] when there is no ledger at `path`; storage errors.
pub fn open_read_only(path: &Path) -> Result<Ledger, LedgerError> {
    drop(open_reader(path)?);
    let engine = SqliteEngine {
        writer: None,
        readers: None,
        path: path.to_path_buf(),
    };
    Ok(Ledger::new(Arc::new(engine), Arc::new(repositories())))
}

/// Copies the ledger at `src` into the new file `dest` (mode 0600) in one step inside
/// one read transaction, a consistent snapshot even while a node writes, then runs
/// an integrity check on the copy. Returns its page count.
///
/// # Errors
/// A message naming what failed; `dest` must not exist.
pub fn backup(src: &Path, dest: &Path) -> Result<i64, String> {
    let source = open_reader(src).map_err(|e| e.to_string())?;
    // The copy holds balances and personal ids: readable by its owner only.
    {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        options
            .open(dest)
            .map_err(|e| format!("{}: {e}", dest.display()))?;
    }
    let mut copy =
        rusqlite::Connection::open(dest).map_err(|e| format!("{}: {e}", dest.display()))?;
    {
        // One step copies every page inside one read transaction: a consistent
        // snapshot that a busy writer cannot restart (WAL readers do not block it).
        let backup =
            rusqlite::backup::Backup::new(&source, &mut copy).map_err(|e| e.to_string())?;
        let done = backup.step(-1).map_err(|e| e.to_string())?;
        if done != rusqlite::backup::StepResult::Done {
            return Err(format!("the backup did not complete ({done:?}); try again"));
        }
    }
    let check: String = copy
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .map_err(|e| e.to_string())?;
    if check != "ok" {
        return Err(format!("the backup failed its integrity check: {check}"));
    }
    copy.query_row("PRAGMA page_count", [], |r| r.get(0))
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::contract::Fixture;

    /// A fresh ledger file in a temp dir.
    fn fixture() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.db");
        let ledger = open(&path, LedgerOptions::default()).unwrap();
        Fixture {
            ledger,
            reopen: Box::new(move || open(&path, LedgerOptions::default()).unwrap()),
            _keep: Box::new(dir),
        }
    }

    crate::contract_tests!(fixture);

    #[test]
    fn verify_finds_lots_and_pending_credits_that_disagree_with_the_balances() {
        use crate::ledger::{Actor, Amount, Discrepancy, EntryKind, Posting, TenantId, TenantSpec};
        let f = fixture();
        let t = TenantId::new("pts").unwrap();
        f.ledger
            .ensure_tenant_blocking(TenantSpec {
                id: t.clone(),
                mode: "rrr".into(),
                scale: 0,
                ceiling: 1_000,
                lots: true,
            })
            .unwrap();
        let account = f
            .ledger
            .run_blocking(move |tx| {
                let a = tx.open_account(&t, "m")?;
                let p = Posting::new(EntryKind::Grant, Actor::System);
                tx.credit_expiring(
                    a,
                    Amount::new(10).unwrap(),
                    Some("2030-01-01T00:00:00Z"),
                    &p,
                )?;
                tx.credit_pending(a, Amount::new(4).unwrap(), "2030-01-01T00:00:00Z", None, &p)?;
                Ok::<_, LedgerError>(a)
            })
            .unwrap();
        let path = f.ledger.location();
        f.ledger.shutdown();
        let conn = rusqlite::Connection::open(&path).unwrap();
        let verify = || {
            open_read_only(Path::new(&path))
                .unwrap()
                .verify_blocking(&mut |_| {})
                .unwrap()
        };
        assert!(verify().is_ok());
        conn.execute("UPDATE lots SET remaining = remaining - 1", [])
            .unwrap();
        assert_eq!(
            verify(),
            Err(Discrepancy::Lots {
                account_id: account.0,
                available: 10,
                open_lots: 9
            })
        );
        conn.execute("UPDATE lots SET remaining = remaining + 1", [])
            .unwrap();
        conn.execute("UPDATE pending_credits SET status = 'cancelled'", [])
            .unwrap();
        assert_eq!(
            verify(),
            Err(Discrepancy::Pending {
                account_id: account.0,
                pending: 4,
                open_pending: 0
            })
        );
    }

    #[test]
    fn a_poisoned_writer_runs_nothing_and_says_why() {
        use crate::ledger::{Actor, Amount, EntryKind, Posting};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.db");
        let repos = Arc::new(repositories());
        let writer = writer::WriterHandle::start(
            connect::open_writer(&path, Synchronous::Full).unwrap(),
            repos.clone(),
            &LedgerOptions::default(),
            writer::Durability::Inline,
            path.with_extension("db-wal"),
            0,
        )
        .unwrap();
        let shared = writer.shared.clone();
        let ledger = Ledger::new(
            Arc::new(SqliteEngine {
                writer: Some(writer),
                readers: None,
                path: path.clone(),
            }),
            repos,
        );
        let tenant = crate::store::contract::core::tenant(&ledger);
        shared.poison("fsync of the WAL failed: test".into());
        let t = tenant.clone();
        let result = ledger.run_blocking(move |tx| {
            let a = tx.open_account(&t, "u")?;
            tx.credit(
                a,
                Amount::new(5).unwrap(),
                &Posting::new(EntryKind::Grant, Actor::System),
            )
        });
        assert!(
            matches!(&result, Err(LedgerError::CommitFailed(m)) if m.contains("fsync")),
            "{result:?}"
        );
        assert!(ledger
            .read_blocking(|r| r.account(&tenant, "u"))
            .unwrap()
            .is_none());
        assert_eq!(
            ledger.poisoned().as_deref(),
            Some("fsync of the WAL failed: test")
        );
        ledger.shutdown();
    }
}
