//! The peer directory: peers seen and their current rendezvous registrations, kept so
//! that registrations survive a restart until they expire. Registrations belong to the
//! node that took them (`node`, its libp2p peer id in base58): nodes sharing one
//! database each restore their own, while the peers seen are shared. Writes run inside ledger
//! units of work through the [`Directory`] repository; the restore at start reads
//! through [`DirectoryReads`]. Each storage backend implements both.

use libp2p::{Multiaddr, PeerId};

use super::{RecordDomain, Registration};
use crate::ledger::{LedgerError, LedgerRead, LedgerTx};

/// A registration as stored: the peer record exactly as received, its addresses as
/// multiaddr strings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRegistration {
    /// The peer id (base58).
    pub peer: String,
    /// The rendezvous namespace.
    pub namespace: String,
    /// Multiaddr strings.
    pub addrs: Vec<String>,
    /// Seconds granted.
    pub ttl_secs: u64,
    /// The signed envelope as received.
    pub record: Vec<u8>,
    /// `standard` or `legacy`.
    pub domain: String,
    /// Unix seconds.
    pub expires_at_unix: u64,
}

/// The directory inside a unit of work.
pub trait Directory {
    /// Records the peer (first and last seen) and replaces its registration with
    /// `node` in the namespace. (A SQLite file serves one node, which may ignore
    /// `node`.)
    ///
    /// # Errors
    /// Storage errors.
    fn upsert(
        &mut self,
        node: &str,
        reg: &StoredRegistration,
        now: &str,
    ) -> Result<(), LedgerError>;
    /// Removes the registration of `peer` in `namespace` with `node`.
    ///
    /// # Errors
    /// Storage errors.
    fn remove(&mut self, node: &str, peer: &str, namespace: &str) -> Result<(), LedgerError>;
}

/// The directory as readers see it.
pub trait DirectoryReads {
    /// `node`'s registrations not expired at `now_unix`, oldest first.
    ///
    /// # Errors
    /// Storage errors.
    fn active(&mut self, node: &str, now_unix: u64)
        -> Result<Vec<StoredRegistration>, LedgerError>;
}

/// Records `reg`, taken by the node `node`: the peer's first and last seen times, and
/// the registration itself (replacing the peer's previous one with `node` in that
/// namespace).
///
/// # Errors
/// Storage errors.
pub fn record(tx: &mut LedgerTx<'_>, node: &PeerId, reg: &Registration) -> Result<(), LedgerError> {
    let stored = StoredRegistration {
        peer: reg.peer.to_string(),
        namespace: reg.namespace.clone(),
        addrs: reg.addrs.iter().map(ToString::to_string).collect(),
        ttl_secs: reg.ttl_secs,
        record: reg.envelope.clone(),
        domain: reg.domain.as_str().to_string(),
        expires_at_unix: reg.expires_at_unix,
    };
    let now = tx.now();
    tx.repo::<dyn Directory>()?
        .upsert(&node.to_string(), &stored, now)
}

/// Removes the registration of `peer` in `namespace` with `node` (unregistered or
/// expired).
///
/// # Errors
/// Storage errors.
pub fn remove(
    tx: &mut LedgerTx<'_>,
    node: &PeerId,
    peer: &PeerId,
    namespace: &str,
) -> Result<(), LedgerError> {
    tx.repo::<dyn Directory>()?
        .remove(&node.to_string(), &peer.to_string(), namespace)
}

/// `node`'s registrations not expired at `now_unix`, oldest first, to restore at
/// start. Rows that no longer parse are skipped.
///
/// # Errors
/// Storage errors.
pub fn load_active(
    r: &mut LedgerRead<'_>,
    node: &PeerId,
    now_unix: u64,
) -> Result<Vec<Registration>, LedgerError> {
    let rows = r
        .repo::<dyn DirectoryReads>()?
        .active(&node.to_string(), now_unix)?;
    Ok(rows
        .into_iter()
        .filter_map(|row| {
            let peer = row.peer.parse::<PeerId>().ok()?;
            let domain = row.domain.parse::<RecordDomain>().ok()?;
            Some(Registration {
                peer,
                namespace: row.namespace,
                addrs: row
                    .addrs
                    .iter()
                    .filter_map(|a| a.parse::<Multiaddr>().ok())
                    .collect(),
                ttl_secs: row.ttl_secs,
                expires_at_unix: row.expires_at_unix,
                envelope: row.record,
                domain,
                serial: 0,
            })
        })
        .collect())
}
