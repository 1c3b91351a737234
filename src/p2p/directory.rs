//! The peer directory in SQLite: peers seen and their current rendezvous
//! registrations, so that registrations survive a restart until they expire.
//! Writes run inside ledger units of work (the writer owns the only write connection).

use libp2p::{Multiaddr, PeerId};
use rusqlite::{params, Connection};

use super::{RecordDomain, Registration};
use crate::ledger::{LedgerError, LedgerTx};

/// Records `reg`: the peer's first and last seen times, and the registration itself
/// (replacing the peer's previous one in that namespace).
///
/// # Errors
/// Storage errors.
pub fn record(tx: &LedgerTx<'_>, reg: &Registration) -> Result<(), LedgerError> {
    let peer = reg.peer.to_string();
    let addrs = serde_json::to_string(
        &reg.addrs
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
    )
    .unwrap_or_else(|_| "[]".into());
    let conn = tx.conn();
    conn.prepare_cached(
        "INSERT INTO peers (peer_id, first_seen, last_seen) VALUES (?1, ?2, ?2)
         ON CONFLICT (peer_id) DO UPDATE SET last_seen = excluded.last_seen",
    )?
    .execute(params![peer, tx.now()])?;
    conn.prepare_cached(
        "INSERT INTO registrations
           (peer_id, namespace, addrs, ttl, record, record_domain, registered_at, expires_at, last_seen)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?7)
         ON CONFLICT (peer_id, namespace) DO UPDATE SET
           addrs = excluded.addrs, ttl = excluded.ttl, record = excluded.record,
           record_domain = excluded.record_domain, expires_at = excluded.expires_at,
           last_seen = excluded.last_seen",
    )?
    .execute(params![
        peer,
        reg.namespace,
        addrs,
        i64::try_from(reg.ttl_secs).unwrap_or(i64::MAX),
        reg.envelope,
        reg.domain.as_str(),
        tx.now(),
        i64::try_from(reg.expires_at_unix).unwrap_or(i64::MAX),
    ])?;
    Ok(())
}

/// Removes the registration of `peer` in `namespace` (unregistered or expired).
///
/// # Errors
/// Storage errors.
pub fn remove(tx: &LedgerTx<'_>, peer: &PeerId, namespace: &str) -> Result<(), LedgerError> {
    tx.conn()
        .prepare_cached("DELETE FROM registrations WHERE peer_id = ?1 AND namespace = ?2")?
        .execute(params![peer.to_string(), namespace])?;
    Ok(())
}

/// Registrations not expired at `now_unix`, oldest first, to restore at start.
/// Rows that no longer parse are skipped.
///
/// # Errors
/// Storage errors.
pub fn load_active(conn: &Connection, now_unix: u64) -> Result<Vec<Registration>, LedgerError> {
    let mut stmt = conn.prepare(
        "SELECT peer_id, namespace, addrs, ttl, record, record_domain, expires_at
         FROM registrations WHERE expires_at > ?1 ORDER BY registered_at, peer_id",
    )?;
    let rows = stmt.query_map([i64::try_from(now_unix).unwrap_or(i64::MAX)], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, i64>(3)?,
            r.get::<_, Vec<u8>>(4)?,
            r.get::<_, String>(5)?,
            r.get::<_, i64>(6)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (peer, namespace, addrs, ttl, envelope, domain, expires_at) = row?;
        let (Ok(peer), Ok(domain)) = (peer.parse::<PeerId>(), domain.parse::<RecordDomain>())
        else {
            continue;
        };
        let addrs: Vec<String> = serde_json::from_str(&addrs).unwrap_or_default();
        out.push(Registration {
            peer,
            namespace,
            addrs: addrs
                .iter()
                .filter_map(|a| a.parse::<Multiaddr>().ok())
                .collect(),
            ttl_secs: u64::try_from(ttl).unwrap_or(0),
            expires_at_unix: u64::try_from(expires_at).unwrap_or(0),
            envelope,
            domain,
            serial: 0,
        });
    }
    Ok(out)
}
