//! Storage engines behind the core's [`backend`](crate::ledger::backend) traits and
//! the modules' repository traits. Each engine lives in its own folder and is the
//! only code that names it: [`sqlite`] (embedded, the default) and [`postgres`]
//! (several nodes on one database; in progress: the core's backend, Goop2's and the
//! webhooks' repositories so far).

pub mod postgres;
pub mod sqlite;

use std::collections::HashMap;

use crate::ledger::backend::ChainHead;

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
