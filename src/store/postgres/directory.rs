//! The peer directory repositories on PostgreSQL: `peers`, shared by every node, and
//! `registrations`, keyed by the node that took them (its peer id), so that each node
//! restores its own at start.

use super::read::PgRead;
use super::tx::PgTx;
use crate::ledger::LedgerError;
use crate::p2p::directory::{Directory, DirectoryReads, StoredRegistration};

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl Directory for PgTx {
    fn upsert(
        &mut self,
        node: &str,
        reg: &StoredRegistration,
        now: &str,
    ) -> Result<(), LedgerError> {
        let addrs = serde_json::to_string(&reg.addrs).unwrap_or_else(|_| "[]".into());
        self.conn.execute(
            "INSERT INTO peers (peer_id, first_seen, last_seen) VALUES ($1, $2, $2)
             ON CONFLICT (peer_id) DO UPDATE SET last_seen = excluded.last_seen",
            &[&reg.peer, &now],
        )?;
        self.conn.execute(
            "INSERT INTO registrations
               (node_id, peer_id, namespace, addrs, ttl, record, record_domain,
                registered_at, expires_at, last_seen)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $8)
             ON CONFLICT (node_id, peer_id, namespace) DO UPDATE SET
               addrs = excluded.addrs, ttl = excluded.ttl, record = excluded.record,
               record_domain = excluded.record_domain, expires_at = excluded.expires_at,
               last_seen = excluded.last_seen",
            &[
                &node,
                &reg.peer,
                &reg.namespace,
                &addrs,
                &to_i64(reg.ttl_secs),
                &reg.record,
                &reg.domain,
                &now,
                &to_i64(reg.expires_at_unix),
            ],
        )?;
        Ok(())
    }

    fn remove(&mut self, node: &str, peer: &str, namespace: &str) -> Result<(), LedgerError> {
        self.conn.execute(
            "DELETE FROM registrations WHERE node_id = $1 AND peer_id = $2 AND namespace = $3",
            &[&node, &peer, &namespace],
        )?;
        Ok(())
    }
}

impl DirectoryReads for PgRead {
    fn active(
        &mut self,
        node: &str,
        now_unix: u64,
    ) -> Result<Vec<StoredRegistration>, LedgerError> {
        // Byte order, as SQLite sorts (peer ids are mixed-case base58).
        let rows = self.0.query(
            r#"SELECT peer_id, namespace, addrs, ttl, record, record_domain, expires_at
             FROM registrations WHERE node_id = $1 AND expires_at > $2
             ORDER BY registered_at COLLATE "C", peer_id COLLATE "C""#,
            &[&node, &to_i64(now_unix)],
        )?;
        Ok(rows
            .iter()
            .map(|r| StoredRegistration {
                peer: r.get(0),
                namespace: r.get(1),
                addrs: serde_json::from_str(r.get::<_, &str>(2)).unwrap_or_default(),
                ttl_secs: u64::try_from(r.get::<_, i64>(3)).unwrap_or(0),
                record: r.get(4),
                domain: r.get(5),
                expires_at_unix: u64::try_from(r.get::<_, i64>(6)).unwrap_or(0),
            })
            .collect())
    }
}
