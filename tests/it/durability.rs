//! What was answered survives a restart; tampering with the journal is detected; the
//! operator's `verify` and `backup` commands work on the data folder.

use rendezvous_credits::ledger::Discrepancy;
use rendezvous_credits::store;
use reqwest::StatusCode;
use serde_json::{json as j, Value};

use crate::common::{json, run_cli, verify_file, Peer, TestNode};

/// Some history: grants, purchases and a refund for three peers.
async fn make_history(node: &TestNode) -> Vec<Peer> {
    let mut peers = Vec::new();
    for i in 0..3i64 {
        let peer = node.peer().await;
        node.grant(&peer.id, 100 + i * 100).await;
        peers.push(peer);
    }
    for (peer, template) in peers.iter().zip(["poker", "trivia-league", "poker"]) {
        let res = peer
            .post("/api/credits/purchase", &j!({"template": template}))
            .await;
        assert_eq!(json(res).await.0, StatusCode::OK);
    }
    let res = peers[2]
        .post("/api/credits/spend", &j!({"template": "trivia-league"}))
        .await;
    assert_eq!(json(res).await.0, StatusCode::OK);
    let res = node
        .admin_post(
            "/api/credits/refund",
            &j!({"peer_id": peers[0].id.to_string(), "template": "poker"}),
        )
        .await;
    assert_eq!(json(res).await.0, StatusCode::OK);
    node.grant(&peers[1].id, 7).await;
    peers
}

/// What a peer sees: balance, history, purchases.
async fn snapshot(peer: &Peer) -> (i64, Value, Value) {
    let purchases = json(peer.get("/api/credits/purchases").await).await.1;
    (peer.balance().await, peer.history().await, purchases)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_loses_nothing_that_was_answered() {
    let node = TestNode::start(|_| {}).await;
    let peers = make_history(&node).await;
    let mut before = Vec::new();
    for peer in &peers {
        before.push(snapshot(peer).await);
    }
    assert_eq!(before[0].0, 100, "refunded");
    assert_eq!(before[1].0, 157);
    assert_eq!(before[2].0, 150);
    let entries_before: Vec<_> = peers.iter().map(|p| node.entries(&p.id)).collect();
    let total = node.entry_total();
    assert_eq!(total, 9);

    let node = node.restart().await;
    for ((peer, want), entries) in peers.iter().zip(&before).zip(&entries_before) {
        // The port changed: authenticate again with the same key.
        let peer = Peer::authenticate(&node, peer.key.clone()).await;
        assert_eq!(&snapshot(&peer).await, want);
        assert_eq!(&node.entries(&peer.id), entries);
    }
    assert_eq!(node.entry_total(), total);
    let report = node.verify();
    assert_eq!(report.entries as i64, total);
    assert_eq!(report.accounts, 3);

    // Still writable after the restart, and the chain continues.
    let peer = Peer::authenticate(&node, peers[1].key.clone()).await;
    assert_eq!(node.grant(&peer.id, 3).await, 160);
    node.verify();
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_are_append_only_and_tampering_fails_verify() {
    let node = TestNode::start(|_| {}).await;
    let peers = make_history(&node).await;
    let victim = node.entries(&peers[1].id)[0].id;
    let path = node.ledger_path();
    let data = node.shutdown().await;
    assert!(path.starts_with(data.path()));

    let conn = rusqlite::Connection::open(&path).expect("open the ledger");
    let err = conn
        .execute(
            "UPDATE credit_transactions SET amount = amount + 1 WHERE id = ?1",
            [victim],
        )
        .expect_err("UPDATE is refused");
    assert!(err.to_string().contains("append-only"), "{err}");
    let err = conn
        .execute("DELETE FROM credit_transactions WHERE id = ?1", [victim])
        .expect_err("DELETE is refused");
    assert!(err.to_string().contains("append-only"), "{err}");
    verify_file(&path);

    conn.execute_batch("DROP TRIGGER credit_transactions_no_update")
        .expect("drop the trigger");
    let changed = conn
        .execute(
            "UPDATE credit_transactions SET amount = amount + 1 WHERE id = ?1",
            [victim],
        )
        .expect("the update now goes through");
    assert_eq!(changed, 1);
    drop(conn);

    let ledger = store::sqlite::open_read_only(&path).expect("open read-only");
    match ledger.verify_blocking(&mut |_| {}) {
        Ok(Err(Discrepancy::HashMismatch {
            entry_id, tenant, ..
        })) => {
            assert_eq!(entry_id, victim);
            assert_eq!(tenant, "goop2");
        }
        other => panic!("expected a hash mismatch at entry {victim}, got {other:?}"),
    }
    drop(data);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_verify_and_backup() {
    let node = TestNode::start(|_| {}).await;
    let peers = make_history(&node).await;
    let victim = node.entries(&peers[2].id)[1].id;
    let path = node.ledger_path();
    let data = node.shutdown().await;
    let dir = data.path().to_str().unwrap().to_string();

    let (ok, out) = run_cli(["verify", "--data-dir", &dir]);
    assert!(ok, "verify of a good ledger succeeds: {out}");
    assert!(out.contains("verify: OK: 9 entries, 3 accounts"), "{out}");

    // A backup on which verify passes.
    let backups = tempfile::tempdir().unwrap();
    let dest = backups.path().join("copy.db");
    let dest_s = dest.to_str().unwrap();
    let (ok, out) = run_cli(["backup", "--data-dir", &dir, dest_s]);
    assert!(ok, "backup succeeds: {out}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&dest).unwrap().permissions().mode();
        assert_eq!(
            mode & 0o777,
            0o600,
            "the backup is readable by its owner only"
        );
    }
    assert!(dest.is_file());
    let report = verify_file(&dest);
    assert_eq!(report.entries, 9);
    assert_eq!(report.accounts, 3);
    // It refuses to overwrite unless told to.
    let (ok, out) = run_cli(["backup", "--data-dir", &dir, dest_s]);
    assert!(!ok, "{out}");
    assert!(out.contains("--force"), "{out}");
    let (ok, out) = run_cli(["backup", "--data-dir", &dir, "--force", dest_s]);
    assert!(ok, "{out}");

    // Tamper with one entry: verify fails and names it.
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch("DROP TRIGGER credit_transactions_no_update")
        .unwrap();
    conn.execute(
        "UPDATE credit_transactions SET note = 'edited' WHERE id = ?1",
        [victim],
    )
    .unwrap();
    drop(conn);
    let (ok, out) = run_cli(["verify", "--data-dir", &dir]);
    assert!(!ok, "verify of a tampered ledger fails: {out}");
    assert!(out.contains(&format!("entry id {victim} ")), "{out}");
    assert!(out.contains("FAILED"), "{out}");

    // The backup taken before is still good.
    verify_file(&dest);
    let (ok, out) = run_cli(["verify", "--data-dir", backups.path().to_str().unwrap()]);
    assert!(!ok, "no ledger.db in that folder: {out}");
    drop(data);
}
