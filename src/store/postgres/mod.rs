//! The PostgreSQL backend, for operators who run several nodes on one database
//! (PostgreSQL 15 or newer), with the `postgres` client: its calls are synchronous,
//! which fits the core's closure units of work run on a writer thread, as on SQLite.
//!
//! - `schema.sql` beside this file: the same tables and constraints as SQLite's
//!   (bigint money, non-negative buckets, ceilings, unique idempotency keys, entries
//!   append-only by trigger), with the chain head kept on the tenant row and delivery
//!   leases; [`migrate`] brings a database to it under an advisory lock.
//! - [`engine`]: the writer (group commit: one transaction per batch, a `SAVEPOINT`
//!   per unit, the answer after `COMMIT`), the readers, and the listener that wakes
//!   the webhook dispatcher on `NOTIFY rc_outbox`.
//! - [`tx`] and [`read`]: the core's backend; every module's repository beside them
//!   (`goop2`, `roochip`, `rrr`, `payments`, `webhooks`, `directory`).
//!
//! Several nodes may write at once: each batch locks the tenant rows first, the rows
//! a unit decides on are read `FOR UPDATE`, and nothing another node can change is
//! cached across transactions (the writer remembers only account ids, which never
//! change: restart the nodes after restoring the database from a backup).

mod directory;
mod engine;
mod goop2;
pub mod migrate;
mod payments;
pub mod read;
mod roochip;
mod rrr;
pub mod tx;
mod webhooks;

use std::sync::Arc;

pub use migrate::{migrate, schema_version};

use crate::ledger::{Ledger, LedgerError, LedgerOptions, Repositories};
use crate::secret::Secret;

/// Every repository this backend implements, for units of work and for reads: the
/// same list as SQLite's.
pub fn repositories() -> Repositories {
    super::repositories::<tx::PgTx, read::PgRead>()
}

/// Opens the ledger on the database at `url`: connects, migrates, and starts the
/// writer and `options.read_pool_size` readers. `options.max_batch` is the group
/// commit's batch; `synchronous` and `max_pages` are SQLite's and not used here.
///
/// # Errors
/// Connection, migration and storage errors.
pub fn open(url: &Secret, options: LedgerOptions) -> Result<Ledger, LedgerError> {
    let mut client = connect(url)?;
    migrate(&mut client)?;
    let repos = Arc::new(repositories());
    let engine =
        engine::PgEngine::start(url.clone(), client, repos.clone(), &options, describe(url))?;
    Ok(Ledger::new(Arc::new(engine), repos))
}

/// Opens the ledger on the database at `url` for reads only (two readers, no
/// writer, no migration).
///
/// # Errors
/// [`LedgerError::Invalid`] when the database's schema is not this build's (older:
/// run `migrate`; newer: upgrade); connection and storage errors.
pub fn open_read_only(url: &Secret) -> Result<Ledger, LedgerError> {
    let mut client = connect(url)?;
    let found = migrate::current_version(&mut client)?;
    let latest = schema_version();
    if found != latest {
        let what = if found < latest {
            "run `rendezvous-credits migrate` first"
        } else {
            "this build is older than the database"
        };
        return Err(LedgerError::Invalid(format!(
            "{} has schema version {found}, this build's is {latest}: {what}",
            describe(url)
        )));
    }
    let engine = engine::PgEngine::start_read_only(url.clone(), 2, describe(url))?;
    Ok(Ledger::new(Arc::new(engine), Arc::new(repositories())))
}

/// The `pg_dump` command that writes a consistent snapshot of the database at `url`
/// into `dest` (custom format, for `pg_restore`), naming user, host, port and
/// database but never the password. Arguments are shell-quoted.
pub fn dump_command(url: &Secret, dest: &std::path::Path) -> String {
    let quote = |s: &str| format!("'{}'", s.replace('\'', "'\\''"));
    let mut args = vec!["pg_dump".to_string(), "--format=custom".to_string()];
    if let Ok(c) = url.expose().parse::<postgres::Config>() {
        if let Some(host) = c.get_hosts().first() {
            let host = match host {
                postgres::config::Host::Tcp(name) => name.clone(),
                #[cfg(unix)]
                postgres::config::Host::Unix(path) => path.display().to_string(),
            };
            args.push(format!("--host={}", quote(&host)));
        }
        if let Some(port) = c.get_ports().first() {
            args.push(format!("--port={port}"));
        }
        if let Some(user) = c.get_user() {
            args.push(format!("--username={}", quote(user)));
        }
        if let Some(db) = c.get_dbname() {
            args.push(format!("--dbname={}", quote(db)));
        }
    }
    args.push(format!("--file={}", quote(&dest.display().to_string())));
    args.join(" ")
}

/// "PostgreSQL database NAME" for `url`, naming no user, password or host.
pub fn describe(url: &Secret) -> String {
    url.expose()
        .parse::<postgres::Config>()
        .ok()
        .and_then(|c| c.get_dbname().map(|db| format!("PostgreSQL database {db}")))
        .unwrap_or_else(|| "PostgreSQL".into())
}

/// A PostgreSQL error as a core error: out of disk (SQLSTATE class 53, e.g. 53100
/// `disk_full`) is [`LedgerError::StorageFull`], anything else
/// [`LedgerError::Storage`]. A server error keeps its SQLSTATE and message only: its
/// DETAIL names the row's values ("Key (holder)=(…) already exists", "Failing row
/// contains …"), personal ids that must not reach the logs.
pub(crate) fn error(e: postgres::Error) -> LedgerError {
    let full = e.code().is_some_and(|c| c.code().starts_with("53"));
    let text = match e.as_db_error() {
        Some(db) => format!(
            "PostgreSQL {} {}: {}",
            db.severity(),
            db.code().code(),
            db.message()
        ),
        None => e.to_string(),
    };
    if full {
        LedgerError::StorageFull(text)
    } else {
        LedgerError::Storage(text.into())
    }
}

/// A connection to the database at `url` (`postgres://user:password@host:port/db`,
/// a secret: it never appears in messages), without TLS: keep the database on a
/// private network or a local socket (`host=/run/postgresql`).
///
/// # Errors
/// [`LedgerError::Invalid`] for a URL that does not parse or a server that cannot be
/// reached (the message names the host, not the URL).
pub fn connect(url: &Secret) -> Result<postgres::Client, LedgerError> {
    let mut config: postgres::Config = url
        .expose()
        .parse()
        .map_err(|_| LedgerError::Invalid("storage.postgres_url: not a PostgreSQL URL".into()))?;
    // A server that vanished is noticed within half a minute, not the system's two
    // hours.
    config.keepalives_idle(std::time::Duration::from_secs(10));
    let mut client = config.connect(postgres::NoTls).map_err(|e| {
        let hosts: Vec<String> = config
            .get_hosts()
            .iter()
            .map(|h| match h {
                postgres::config::Host::Tcp(name) => name.clone(),
                #[cfg(unix)]
                postgres::config::Host::Unix(path) => path.display().to_string(),
            })
            .collect();
        LedgerError::Invalid(format!(
            "cannot connect to PostgreSQL at {}: {e}",
            hosts.join(",")
        ))
    })?;
    // Every writer batch holds the tenant rows that every node's batches wait for: a
    // node that vanishes mid-batch (its machine, its network) must not keep them.
    // The server ends a session idle inside a transaction after 30 s, and probes a
    // silent client after 10 s.
    client
        .batch_execute(
            "SET idle_in_transaction_session_timeout = '30s';
             SET tcp_keepalives_idle = 10; SET tcp_keepalives_interval = 5;
             SET tcp_keepalives_count = 3",
        )
        .map_err(error)?;
    Ok(client)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::contract::Fixture;

    fn fixture() -> Fixture {
        let db = testing::TestDatabase::create();
        let url = db.url.clone();
        let ledger = open(&url, LedgerOptions::default()).unwrap();
        Fixture {
            ledger,
            reopen: Box::new(move || open(&url, LedgerOptions::default()).unwrap()),
            _keep: Box::new(db),
        }
    }

    crate::contract_tests!(fixture);

    /// Two nodes' schedulers on one database at once (each with its own writer):
    /// every due item is settled once, whichever node gets it; `verify` passes.
    #[test]
    fn jobs_on_two_nodes_at_once_settle_each_item_once() {
        use crate::ledger::jobs::{run_once, SettleHooks};
        use crate::ledger::{Actor, Amount, EntryKind, Posting, TenantId, TenantSpec};
        let f = fixture();
        let (a, b) = (&f.ledger, (f.reopen)());
        let t = TenantId::new("pts").unwrap();
        a.ensure_tenant_blocking(TenantSpec {
            id: t.clone(),
            mode: "rrr".into(),
            scale: 0,
            ceiling: 1_000_000,
            lots: true,
        })
        .unwrap();
        const N: i64 = 120;
        let due = "2030-01-01T00:00:00Z";
        let tenant = t.clone();
        a.run_blocking(move |tx| {
            for i in 0..N {
                let account = tx.open_account(&tenant, &format!("m{}", i % 10))?;
                let one = Amount::new(1).expect("positive");
                let grant = Posting::new(EntryKind::Grant, Actor::System);
                let pending = Posting::new(EntryKind::PendingCredit, Actor::System);
                tx.credit_pending(account, one, due, None, &pending)?;
                tx.credit_expiring(account, one, Some(due), &grant)?;
                tx.hold(account, one, &format!("h{i}"), Some(due), &grant)?;
            }
            Ok::<_, LedgerError>(())
        })
        .unwrap();
        let run = |ledger: Ledger| {
            std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(run_once(
                    &ledger,
                    &SettleHooks::new(),
                    "2031-01-01T00:00:00Z",
                ))
            })
        };
        let (ra, rb) = (run(a.clone()), run(b.clone()));
        let (ra, rb) = (ra.join().unwrap(), rb.join().unwrap());
        assert_eq!(ra.posted + rb.posted, N as u64, "{ra:?} {rb:?}");
        assert_eq!(ra.released + rb.released, N as u64, "{ra:?} {rb:?}");
        // Each lot expires once: the grants' and the posted credits' (no expiry).
        assert_eq!(ra.expired + rb.expired, N as u64, "{ra:?} {rb:?}");
        a.verify_blocking(&mut |_| {})
            .unwrap()
            .expect("verify passes");
        let kinds = a
            .read_blocking(|r| r.kind_totals(&t))
            .unwrap()
            .into_iter()
            .map(|k| (k.kind.clone(), k.entries))
            .collect::<std::collections::BTreeMap<_, _>>();
        // One entry per settled item, whichever node settled it.
        for kind in ["post", "release", "expire"] {
            assert_eq!(kinds.get(kind), Some(&(N as u64)), "{kind}: {kinds:?}");
        }
        b.shutdown();
        f.ledger.shutdown();
    }

    /// Nodes sharing the database each see their own registrations; the peer is
    /// known to all.
    #[test]
    fn registrations_belong_to_their_node() {
        use crate::p2p::directory::{Directory, DirectoryReads, StoredRegistration};
        let f = fixture();
        let reg = |peer: &str| StoredRegistration {
            peer: peer.into(),
            namespace: "goop2".into(),
            addrs: vec![],
            ttl_secs: 60,
            record: vec![7],
            domain: "legacy".into(),
            expires_at_unix: 1_000,
        };
        f.ledger
            .run_blocking(move |tx| {
                let now = tx.now();
                let dir = tx.repo::<dyn Directory>()?;
                dir.upsert("node-a", &reg("p"), now)?;
                dir.upsert("node-b", &reg("p"), now)?;
                dir.upsert("node-b", &reg("q"), now)?;
                dir.remove("node-a", "q", "goop2")?;
                Ok::<_, LedgerError>(())
            })
            .unwrap();
        let (a, b, c) = f
            .ledger
            .read_blocking(|r| {
                let dir = r.repo::<dyn DirectoryReads>()?;
                Ok::<_, LedgerError>((
                    dir.active("node-a", 0)?,
                    dir.active("node-b", 0)?,
                    dir.active("node-c", 0)?,
                ))
            })
            .unwrap();
        let peers = |v: &[StoredRegistration]| v.iter().map(|r| r.peer.clone()).collect::<Vec<_>>();
        assert_eq!(peers(&a), ["p"]);
        assert_eq!(peers(&b), ["p", "q"]);
        assert!(c.is_empty());
        f.ledger.shutdown();
    }
}

/// Databases for tests: a fresh one per test on the server named by
/// `RC_TEST_POSTGRES_URL`, dropped when the test ends.
#[cfg(test)]
pub mod testing {
    use super::*;

    /// A database made for one test; dropped (with its connections) on drop.
    pub struct TestDatabase {
        /// Its URL.
        pub url: Secret,
        name: String,
        admin: Secret,
    }

    /// The server of the PostgreSQL tests. Panics with how to get one when unset: the
    /// PostgreSQL tests never pass silently without PostgreSQL.
    pub fn server_url() -> Secret {
        match std::env::var("RC_TEST_POSTGRES_URL") {
            Ok(url) if !url.is_empty() => Secret::new(url),
            _ => panic!(
                "the PostgreSQL tests need a server: install PostgreSQL 15 or newer \
                 (Debian: apt-get install postgresql), then run \
                 `eval \"$(scripts/pg-test-cluster.sh)\"` before cargo test \
                 (it sets RC_TEST_POSTGRES_URL); .ci/run does both"
            ),
        }
    }

    impl TestDatabase {
        /// Creates an empty database with a unique name.
        pub fn create() -> TestDatabase {
            let admin = server_url();
            let name = format!("rc_test_{}", uuid::Uuid::new_v4().simple());
            let mut client = connect(&admin).expect("connect to the test server");
            client
                .batch_execute(&format!("CREATE DATABASE {name}"))
                .expect("create the test database");
            let url = admin.expose().rsplit_once('/').map_or_else(
                || admin.expose().to_string(),
                |(server, _)| format!("{server}/{name}"),
            );
            TestDatabase {
                url: Secret::new(url),
                name,
                admin,
            }
        }
    }

    impl Drop for TestDatabase {
        fn drop(&mut self) {
            if let Ok(mut client) = connect(&self.admin) {
                let _ = client.batch_execute(&format!(
                    "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                    self.name
                ));
            }
        }
    }
}
