//! The PostgreSQL backend, for operators who run several nodes on one database
//! (PostgreSQL 15 or newer), with the `postgres` client: its calls are synchronous,
//! which fits the core's closure units of work run on a writer thread, as on SQLite.
//!
//! So far: the schema of the core's tables (`schema.sql` beside this file, bigint
//! money, the same constraints as SQLite, entries append-only by trigger, the chain
//! head kept on the tenant row for `SELECT … FOR UPDATE`, delivery leases), the
//! migrations that bring a database to it ([`migrate`]), and the core's backend:
//! the writer with group commit ([`engine`]), its transaction ([`tx`]) and the reads
//! ([`read`]), Goop2's repositories and the webhooks' (deliveries and endpoints),
//! which pass the store contract's tests of the core and of those repositories. The
//! other modules' repositories (Roochip, RRR, payments, the peer directory) are not
//! implemented yet, so a node cannot serve from PostgreSQL in this build.

mod engine;
mod goop2;
pub mod migrate;
pub mod read;
pub mod tx;
mod webhooks;

use std::sync::Arc;

pub use migrate::{migrate, schema_version};

use crate::ledger::{Ledger, LedgerError, LedgerOptions, Repositories};
use crate::secret::Secret;

fn tx(a: &mut dyn std::any::Any) -> Option<&mut tx::PgTx> {
    a.downcast_mut::<tx::PgTx>()
}

fn rd(a: &mut dyn std::any::Any) -> Option<&mut read::PgRead> {
    a.downcast_mut::<read::PgRead>()
}

/// The repositories this backend implements so far: Goop2's and the webhooks'.
pub fn repositories() -> Repositories {
    use crate::dialects::goop2::repo::{PromotionReads, Promotions, PurchaseReads, Purchases};
    use crate::webhooks::deliveries::{Deliveries, DeliveryReads, EndpointReads, WebhookEndpoints};
    let mut r = Repositories::new();
    r.register::<dyn Deliveries>(|a| tx(a).map(|t| t as &mut dyn Deliveries))
        .register::<dyn DeliveryReads>(|a| rd(a).map(|t| t as &mut dyn DeliveryReads))
        .register::<dyn WebhookEndpoints>(|a| tx(a).map(|t| t as &mut dyn WebhookEndpoints))
        .register::<dyn EndpointReads>(|a| rd(a).map(|t| t as &mut dyn EndpointReads));
    r.register::<dyn Purchases>(|a| tx(a).map(|t| t as &mut dyn Purchases))
        .register::<dyn PurchaseReads>(|a| rd(a).map(|t| t as &mut dyn PurchaseReads))
        .register::<dyn Promotions>(|a| tx(a).map(|t| t as &mut dyn Promotions))
        .register::<dyn PromotionReads>(|a| rd(a).map(|t| t as &mut dyn PromotionReads));
    r
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
    let location = url
        .expose()
        .parse::<postgres::Config>()
        .ok()
        .and_then(|c| c.get_dbname().map(|db| format!("PostgreSQL database {db}")))
        .unwrap_or_else(|| "PostgreSQL".into());
    let repos = Arc::new(repositories());
    let engine = engine::PgEngine::start(url.clone(), client, repos.clone(), &options, location)?;
    Ok(Ledger::new(Arc::new(engine), repos))
}

/// A PostgreSQL error as a core error: out of disk (SQLSTATE class 53, e.g. 53100
/// `disk_full`) is [`LedgerError::StorageFull`], anything else
/// [`LedgerError::Storage`].
pub(crate) fn error(e: postgres::Error) -> LedgerError {
    let full = e.code().is_some_and(|c| c.code().starts_with("53"));
    if full {
        LedgerError::StorageFull(e.to_string())
    } else {
        LedgerError::Storage(Box::new(e))
    }
}

/// A connection to the database at `url` (`postgres://user:password@host:port/db`,
/// a secret: it never appears in messages).
///
/// # Errors
/// [`LedgerError::Invalid`] for a URL that does not parse or a server that cannot be
/// reached (the message names the host, not the URL).
pub fn connect(url: &Secret) -> Result<postgres::Client, LedgerError> {
    let config: postgres::Config = url
        .expose()
        .parse()
        .map_err(|_| LedgerError::Invalid("storage.postgres_url: not a PostgreSQL URL".into()))?;
    config.connect(postgres::NoTls).map_err(|e| {
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
    })
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

    crate::contract_tests!(partial: fixture);
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
