//! The peer directory repositories on SQLite: `peers` and `registrations`. A SQLite
//! file serves one node, so the `node` of each call is not stored.

use rusqlite::params;

use super::read::SqliteRead;
use super::tx::SqliteTx;
use crate::ledger::LedgerError;
use crate::p2p::directory::{Directory, DirectoryReads, StoredRegistration};

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl Directory for SqliteTx {
    fn upsert(
        &mut self,
        _node: &str,
        reg: &StoredRegistration,
        now: &str,
    ) -> Result<(), LedgerError> {
        let addrs = serde_json::to_string(&reg.addrs).unwrap_or_else(|_| "[]".into());
        let conn = self.conn();
        conn.prepare_cached(
            "INSERT INTO peers (peer_id, first_seen, last_seen) VALUES (?1, ?2, ?2)
             ON CONFLICT (peer_id) DO UPDATE SET last_seen = excluded.last_seen",
        )?
        .execute(params![reg.peer, now])?;
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
            reg.peer,
            reg.namespace,
            addrs,
            to_i64(reg.ttl_secs),
            reg.record,
            reg.domain,
            now,
            to_i64(reg.expires_at_unix),
        ])?;
        Ok(())
    }

    fn remove(&mut self, _node: &str, peer: &str, namespace: &str) -> Result<(), LedgerError> {
        self.conn()
            .prepare_cached("DELETE FROM registrations WHERE peer_id = ?1 AND namespace = ?2")?
            .execute(params![peer, namespace])?;
        Ok(())
    }
}

impl DirectoryReads for SqliteRead {
    fn active(
        &mut self,
        _node: &str,
        now_unix: u64,
    ) -> Result<Vec<StoredRegistration>, LedgerError> {
        let mut stmt = self.conn().prepare(
            "SELECT peer_id, namespace, addrs, ttl, record, record_domain, expires_at
             FROM registrations WHERE expires_at > ?1 ORDER BY registered_at, peer_id",
        )?;
        let rows = stmt.query_map([to_i64(now_unix)], |r| {
            let addrs: String = r.get(2)?;
            Ok(StoredRegistration {
                peer: r.get(0)?,
                namespace: r.get(1)?,
                addrs: serde_json::from_str(&addrs).unwrap_or_default(),
                ttl_secs: u64::try_from(r.get::<_, i64>(3)?).unwrap_or(0),
                record: r.get(4)?,
                domain: r.get(5)?,
                expires_at_unix: u64::try_from(r.get::<_, i64>(6)?).unwrap_or(0),
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}
