//! Storage engines behind the core's [`backend`](crate::ledger::backend) traits and
//! the modules' repository traits. Each engine lives in its own folder and is the
//! only code that names it: [`sqlite`] (embedded, the default) and [`postgres`]
//! (several nodes on one database). The rest of the program picks one through a
//! [`Location`] and the functions beside it.

pub mod postgres;
pub mod sqlite;
mod threads;

use std::any::Any;
use std::collections::HashMap;
use std::path::PathBuf;

use crate::dialects::goop2::repo::{PromotionReads, Promotions, PurchaseReads, Purchases};
use crate::dialects::roochip::repo::{PromoCodeReads, PromoCodes};
use crate::dialects::rrr::repo::{RrrReads, RrrStore};
use crate::ledger::backend::ChainHead;
use crate::ledger::{Ledger, LedgerError, LedgerOptions, Repositories};
use crate::p2p::directory::{Directory, DirectoryReads};
use crate::payments::repo::{PaymentReads, Payments};
use crate::secret::Secret;
use crate::webhooks::deliveries::{Deliveries, DeliveryReads, EndpointReads, WebhookEndpoints};

/// Every repository, for units of work (on the engine's transaction `T`) and for reads
/// (on its reader `R`): each engine implements all of them, and registers them here,
/// so that both offer the same list.
pub(crate) fn repositories<T, R>() -> Repositories
where
    T: Purchases
        + Promotions
        + PromoCodes
        + RrrStore
        + Deliveries
        + WebhookEndpoints
        + Directory
        + Payments
        + 'static,
    R: PurchaseReads
        + PromotionReads
        + PromoCodeReads
        + RrrReads
        + DeliveryReads
        + EndpointReads
        + DirectoryReads
        + PaymentReads
        + 'static,
{
    fn tx<T: 'static>(a: &mut dyn Any) -> Option<&mut T> {
        a.downcast_mut::<T>()
    }
    let mut r = Repositories::new();
    r.register::<dyn Purchases>(|a| tx::<T>(a).map(|t| t as &mut dyn Purchases))
        .register::<dyn PurchaseReads>(|a| tx::<R>(a).map(|t| t as &mut dyn PurchaseReads))
        .register::<dyn Promotions>(|a| tx::<T>(a).map(|t| t as &mut dyn Promotions))
        .register::<dyn PromotionReads>(|a| tx::<R>(a).map(|t| t as &mut dyn PromotionReads))
        .register::<dyn PromoCodes>(|a| tx::<T>(a).map(|t| t as &mut dyn PromoCodes))
        .register::<dyn PromoCodeReads>(|a| tx::<R>(a).map(|t| t as &mut dyn PromoCodeReads))
        .register::<dyn RrrStore>(|a| tx::<T>(a).map(|t| t as &mut dyn RrrStore))
        .register::<dyn RrrReads>(|a| tx::<R>(a).map(|t| t as &mut dyn RrrReads))
        .register::<dyn Deliveries>(|a| tx::<T>(a).map(|t| t as &mut dyn Deliveries))
        .register::<dyn DeliveryReads>(|a| tx::<R>(a).map(|t| t as &mut dyn DeliveryReads))
        .register::<dyn WebhookEndpoints>(|a| tx::<T>(a).map(|t| t as &mut dyn WebhookEndpoints))
        .register::<dyn EndpointReads>(|a| tx::<R>(a).map(|t| t as &mut dyn EndpointReads))
        .register::<dyn Directory>(|a| tx::<T>(a).map(|t| t as &mut dyn Directory))
        .register::<dyn DirectoryReads>(|a| tx::<R>(a).map(|t| t as &mut dyn DirectoryReads))
        .register::<dyn Payments>(|a| tx::<T>(a).map(|t| t as &mut dyn Payments))
        .register::<dyn PaymentReads>(|a| tx::<R>(a).map(|t| t as &mut dyn PaymentReads));
    r
}

/// Where a node's ledger is stored (`[storage]` in the settings).
#[derive(Debug, Clone)]
pub enum Location {
    /// The SQLite file at this path (`data_dir/ledger.db`), this node's own.
    Sqlite(PathBuf),
    /// The PostgreSQL database at this URL (a secret), which several nodes may share.
    Postgres(Secret),
}

impl std::fmt::Display for Location {
    /// The file's path, or "PostgreSQL database NAME" (never the URL).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Sqlite(path) => write!(f, "{}", path.display()),
            Location::Postgres(url) => f.write_str(&postgres::describe(url)),
        }
    }
}

/// Opens the ledger at `location`: creates or migrates its schema and starts the
/// writer (group commit of up to `options.max_batch` units) and the readers.
///
/// # Errors
/// Storage and connection errors; [`LedgerError::Invalid`] when the schema is newer
/// than this build.
pub fn open(location: &Location, options: LedgerOptions) -> Result<Ledger, LedgerError> {
    match location {
        Location::Sqlite(path) => sqlite::open(path, options),
        Location::Postgres(url) => postgres::open(url, options),
    }
}

/// Opens the ledger at `location` for reads only (the CLI's `verify` and reports
/// beside running nodes): no writer, no migration; units of work are refused with
/// [`LedgerError::Invalid`].
///
/// # Errors
/// [`LedgerError::Invalid`] when there is no ledger there or its schema is not this
/// build's; storage and connection errors.
pub fn open_read_only(location: &Location) -> Result<Ledger, LedgerError> {
    match location {
        Location::Sqlite(path) => sqlite::open_read_only(path),
        Location::Postgres(url) => postgres::open_read_only(url),
    }
}

/// Brings the schema at `location` to this build's version without serving; returns
/// (the version before, the version now).
///
/// # Errors
/// As [`open`].
pub fn migrate(location: &Location) -> Result<(i64, i64), LedgerError> {
    match location {
        Location::Sqlite(path) => {
            let (_, before) =
                sqlite::connect::open_writer_migrated(path, crate::ledger::Synchronous::Full)?;
            Ok((before, sqlite::schema_version()))
        }
        Location::Postgres(url) => {
            let before = postgres::migrate(&mut postgres::connect(url)?)?;
            Ok((before, postgres::schema_version()))
        }
    }
}

/// The command that backs up the ledger at `location` into `dest` when its engine
/// has a tool of its own for it: on PostgreSQL, `pg_dump` in its custom format (the
/// URL without its password); `None` for SQLite, whose backup is
/// [`sqlite::backup`].
pub fn backup_command(location: &Location, dest: &std::path::Path) -> Option<String> {
    match location {
        Location::Sqlite(_) => None,
        Location::Postgres(url) => Some(postgres::dump_command(url, dest)),
    }
}

/// The migrations of a schema file, in order, as (version, SQL): each starts at a line
/// `-- version N` and runs to the next one. Both engines keep their schema this way.
pub(crate) fn versions(schema: &'static str) -> Vec<(i64, &'static str)> {
    // (version, where its marker line starts, where its SQL starts)
    let mut marks: Vec<(i64, usize, usize)> = Vec::new();
    let mut offset = 0;
    for line in schema.split_inclusive('\n') {
        if let Some(n) = line.trim().strip_prefix("-- version ") {
            if let Ok(n) = n.trim().parse() {
                marks.push((n, offset, offset + line.len()));
            }
        }
        offset += line.len();
    }
    let ends = marks
        .iter()
        .skip(1)
        .map(|(_, marker, _)| *marker)
        .chain(std::iter::once(schema.len()));
    marks
        .iter()
        .zip(ends)
        .map(|((n, _, start), end)| (*n, &schema[*start..end]))
        .collect()
}

#[cfg(test)]
pub mod contract;

/// A writer's cache of each tenant's chain head (last seq and hash), so that appending
/// an entry needs no lookup. A unit's changes are undone when its savepoint rolls
/// back. How long it stays valid is the engine's rule: SQLite drops it when a batch
/// fails or another connection wrote to the file; PostgreSQL keeps it for one
/// transaction, which holds the tenant rows locked.
#[derive(Debug, Default)]
pub(crate) struct ChainHeads {
    heads: HashMap<String, ChainHead>,
    undo: Vec<(String, Option<ChainHead>)>,
}

impl ChainHeads {
    /// `tenant`'s head, if remembered.
    pub(crate) fn get(&self, tenant: &str) -> Option<ChainHead> {
        self.heads.get(tenant).copied()
    }

    /// Remembers `tenant`'s head (read, or advanced by an appended entry).
    pub(crate) fn advance(&mut self, tenant: String, seq: i64, hash: [u8; 32]) {
        let previous = self.heads.insert(tenant.clone(), (seq, hash));
        self.undo.push((tenant, previous));
    }

    /// Starts a unit: its changes are the ones to undo on rollback.
    pub(crate) fn begin_unit(&mut self) {
        self.undo.clear();
    }

    /// Undoes the current unit's changes (its savepoint was rolled back).
    pub(crate) fn rollback_unit(&mut self) {
        while let Some((tenant, previous)) = self.undo.pop() {
            match previous {
                Some(head) => self.heads.insert(tenant, head),
                None => self.heads.remove(&tenant),
            };
        }
    }

    /// Forgets everything (the transaction ended or failed, or the file changed under
    /// us).
    pub(crate) fn clear(&mut self) {
        self.heads.clear();
        self.undo.clear();
    }
}
