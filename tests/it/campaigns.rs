//! Campaign codes, referrals and the low-balance notice (goop2-credit-system.md,
//! "Phase 3"), over HTTP and the CLI.

use reqwest::StatusCode;
use serde_json::{json as j, Value};

use crate::common::{expect_error, json, run_cli, within, Peer, TestNode};

async fn ok(res: reqwest::Response) -> Value {
    let (status, body) = json(res).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

fn hours_from_now(h: i64) -> String {
    (jiff::Timestamp::now() + jiff::SignedDuration::from_hours(h)).to_string()
}

/// `GET /api/credits/campaigns` with the admin token.
async fn list(node: &TestNode) -> Value {
    ok(node
        .http
        .get(node.url("/api/credits/campaigns"))
        .bearer_auth(&node.admin_token)
        .send()
        .await
        .expect("list"))
    .await
}

async fn create(node: &TestNode, body: Value) -> reqwest::Response {
    node.admin_post("/api/credits/campaigns", &body).await
}

/// The entries of `peer` of `kind`, as (amount, ref_id).
async fn entries_of(peer: &Peer, kind: &str) -> Vec<(i64, String)> {
    peer.history().await["transactions"]
        .as_array()
        .expect("transactions")
        .iter()
        .filter(|t| t["type"] == kind)
        .map(|t| {
            (
                t["amount"].as_i64().expect("amount"),
                t["ref_id"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn campaign_codes_keep_their_window_cap_and_once_per_peer() {
    let node = TestNode::start(|_| {}).await;
    let (a, b, c) = (node.peer().await, node.peer().await, node.peer().await);

    // Bad input is refused with the field named, and nothing is made.
    for (body, field) in [
        (
            j!({"code": "x", "amount": 10, "ends_at": hours_from_now(1), "max_redemptions": 2}),
            "code",
        ),
        (
            j!({"code": "SPRING", "amount": 0, "ends_at": hours_from_now(1), "max_redemptions": 2}),
            "amount",
        ),
        (
            j!({"code": "SPRING", "amount": 10, "ends_at": hours_from_now(1), "max_redemptions": 0}),
            "max_redemptions",
        ),
        (
            j!({"code": "SPRING", "amount": 10, "starts_at": hours_from_now(2), "ends_at": hours_from_now(1), "max_redemptions": 2}),
            "ends_at",
        ),
        (
            j!({"code": "SPRING", "amount": 10, "ends_at": "tomorrow", "max_redemptions": 2}),
            "ends_at",
        ),
    ] {
        expect_error(
            create(&node, body).await,
            StatusCode::BAD_REQUEST,
            "bad_request",
            &[field],
        )
        .await;
    }
    // A peer's bearer is not the admin token.
    let res = a
        .post(
            "/api/credits/campaigns",
            &j!({"code": "MINE", "amount": 10, "ends_at": hours_from_now(1), "max_redemptions": 1}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let listed = list(&node).await;
    assert_eq!(listed["campaigns"], j!([]));

    let made = ok(create(
        &node,
        j!({"code": "spring-26", "amount": 40, "ends_at": hours_from_now(24), "max_redemptions": 2, "note": "spring"}),
    )
    .await)
    .await;
    assert_eq!(made["code"], "SPRING-26");
    assert_eq!(made["redeemed"], 0);
    expect_error(
        create(
            &node,
            j!({"code": "SPRING-26", "amount": 5, "ends_at": hours_from_now(1), "max_redemptions": 1}),
        )
        .await,
        StatusCode::CONFLICT,
        "code_taken",
        &["SPRING-26"],
    )
    .await;

    // Redeemed once per peer (any case), then exhausted.
    let r = ok(a
        .post("/api/credits/redeem", &j!({"code": "Spring-26"}))
        .await)
    .await;
    assert_eq!(
        r,
        j!({"status": "ok", "kind": "campaign", "amount": 40, "new_balance": 40})
    );
    expect_error(
        a.post("/api/credits/redeem", &j!({"code": "SPRING-26"}))
            .await,
        StatusCode::CONFLICT,
        "already_redeemed",
        &["SPRING-26"],
    )
    .await;
    ok(b.post("/api/credits/redeem", &j!({"code": "SPRING-26"}))
        .await)
    .await;
    expect_error(
        c.post("/api/credits/redeem", &j!({"code": "SPRING-26"}))
            .await,
        StatusCode::CONFLICT,
        "campaign_exhausted",
        &[],
    )
    .await;
    assert_eq!(c.balance().await, 0);
    assert_eq!(
        entries_of(&a, "promo").await,
        vec![(40, "SPRING-26".into())]
    );

    // Outside the window: not yet open, and closed.
    ok(create(
        &node,
        j!({"code": "LATER", "amount": 5, "starts_at": hours_from_now(2), "ends_at": hours_from_now(3), "max_redemptions": 5}),
    )
    .await)
    .await;
    ok(create(
        &node,
        j!({"code": "GONE", "amount": 5, "starts_at": hours_from_now(-3), "ends_at": hours_from_now(-2), "max_redemptions": 5}),
    )
    .await)
    .await;
    for code in ["LATER", "GONE"] {
        expect_error(
            c.post("/api/credits/redeem", &j!({"code": code})).await,
            StatusCode::CONFLICT,
            "campaign_not_open",
            &[code],
        )
        .await;
    }
    expect_error(
        c.post("/api/credits/redeem", &j!({"code": "NOSUCHCODE"}))
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
        &["NOSUCHCODE"],
    )
    .await;
    expect_error(
        c.post("/api/credits/redeem", &j!({"code": "<b>"})).await,
        StatusCode::BAD_REQUEST,
        "bad_request",
        &["code"],
    )
    .await;
    assert_eq!(c.balance().await, 0);
    assert!(entries_of(&c, "promo").await.is_empty());

    // The CLI makes and lists campaigns on the same ledger (beside the running node).
    let data_dir = node.data.path().to_str().expect("path").to_string();
    let ends_at = hours_from_now(5);
    let create_cli_code = || {
        run_cli([
            "admin",
            "--data-dir",
            &data_dir,
            "campaigns",
            "create",
            "--code",
            "cli-code",
            "--amount",
            "7",
            "--ends-at",
            &ends_at,
            "--max-redemptions",
            "3",
        ])
    };
    let (done, out) = create_cli_code();
    assert!(done, "{out}");
    assert!(out.contains("campaign CLI-CODE created"), "{out}");
    // The same code again is refused.
    let (done, out) = create_cli_code();
    assert!(!done && out.contains("already in use"), "{out}");
    let (done, out) = run_cli(["admin", "--data-dir", &data_dir, "campaigns", "list"]);
    assert!(done, "{out}");
    assert!(
        out.contains("CLI-CODE") && out.contains("SPRING-26"),
        "{out}"
    );
    assert!(out.contains("4 campaigns"), "{out}");
    ok(c.post("/api/credits/redeem", &j!({"code": "cli-code"}))
        .await)
    .await;
    assert_eq!(c.balance().await, 7);
    node.verify();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_simultaneous_redemptions_of_a_code_capped_at_ten() {
    let node = TestNode::start(|_| {}).await;
    ok(create(
        &node,
        j!({"code": "RUSH", "amount": 25, "ends_at": hours_from_now(1), "max_redemptions": 10}),
    )
    .await)
    .await;
    let mut peers = Vec::new();
    for _ in 0..100 {
        peers.push(node.peer().await);
    }
    let body = j!({"code": "RUSH"});
    let answers = within(
        "100 redemptions",
        futures::future::join_all(peers.iter().map(|p| p.post("/api/credits/redeem", &body))),
    )
    .await;
    let mut codes = std::collections::BTreeMap::new();
    for res in answers {
        let (status, body) = json(res).await;
        let key = if status == StatusCode::OK {
            "ok".to_string()
        } else {
            body["error"].as_str().unwrap_or("?").to_string()
        };
        *codes.entry(key).or_insert(0) += 1;
    }
    assert_eq!(
        codes,
        [
            ("campaign_exhausted".to_string(), 90),
            ("ok".to_string(), 10)
        ]
        .into_iter()
        .collect()
    );
    let mut credited = 0;
    for p in &peers {
        credited += p.balance().await;
    }
    assert_eq!(credited, 250);
    let listed = list(&node).await;
    assert_eq!(listed["campaigns"][0]["redeemed"], 10);
    node.verify();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn referrals_reward_both_once_within_a_day_under_the_cap() {
    let node = TestNode::start(|c| {
        c.goop2.referral_cap = 2;
    })
    .await;
    let inviter = node.peer().await;
    let code = ok(inviter.get("/api/credits/referral").await).await;
    assert_eq!(code["bonus"], 50);
    assert_eq!(code["cap"], 2);
    assert_eq!(code["bonuses_received"], 0);
    assert_eq!(code["window_hours"], 24);
    let invite = code["code"].as_str().expect("code").to_string();
    // The same code on every call.
    assert_eq!(
        ok(inviter.get("/api/credits/referral").await).await["code"],
        invite
    );

    // Your own code does nothing.
    expect_error(
        inviter
            .post("/api/credits/redeem", &j!({"code": invite}))
            .await,
        StatusCode::CONFLICT,
        "own_code",
        &["own"],
    )
    .await;
    assert_eq!(inviter.balance().await, 0);

    // Three new peers: the first two give the inviter its two bonuses, the third
    // still gets its own.
    let mut invitees = Vec::new();
    for _ in 0..3 {
        let p = node.peer().await;
        let r = ok(p
            .post("/api/credits/redeem", &j!({"code": invite.to_lowercase()}))
            .await)
        .await;
        assert_eq!(
            r,
            j!({"status": "ok", "kind": "referral", "amount": 50, "new_balance": 50})
        );
        invitees.push(p);
    }
    assert_eq!(inviter.balance().await, 100);
    assert_eq!(entries_of(&inviter, "referral").await.len(), 2);
    assert_eq!(
        ok(inviter.get("/api/credits/referral").await).await["bonuses_received"],
        2
    );

    // Once per invitee, whatever the code.
    let other = node.peer().await;
    let other_code = ok(other.get("/api/credits/referral").await).await["code"]
        .as_str()
        .expect("code")
        .to_string();
    expect_error(
        invitees[0]
            .post("/api/credits/redeem", &j!({"code": other_code}))
            .await,
        StatusCode::CONFLICT,
        "already_referred",
        &[],
    )
    .await;
    assert_eq!(invitees[0].balance().await, 50);
    assert_eq!(other.balance().await, 0);

    // A peer that joined more than a day ago cannot redeem an invite code: its
    // account is dated back in the file while the node is down.
    let late = node.peer().await;
    let late_code = ok(late.get("/api/credits/referral").await).await;
    assert!(late_code["code"].is_string());
    let config = node.config.clone();
    let data = node.shutdown().await;
    crate::common::sql(
        &config,
        "UPDATE credit_accounts SET created_at = '2020-01-01T00:00:00Z' WHERE holder = $1",
        &[&late.id.to_string()],
    );
    assert_eq!(
        crate::common::sql_i64(
            &config,
            "SELECT count(*) FROM credit_accounts WHERE created_at = '2020-01-01T00:00:00Z'",
            &[]
        ),
        1,
        "the account is dated back"
    );
    let config = crate::common::test_config(data.path());
    let node = TestNode::start_with(
        rendezvous_credits::config::Config {
            goop2: rendezvous_credits::dialects::goop2::Goop2Settings {
                referral_cap: 2,
                ..config.goop2.clone()
            },
            ..config
        },
        data,
    )
    .await;
    let late = Peer::authenticate(&node, late.key.clone()).await;
    expect_error(
        late.post("/api/credits/redeem", &j!({"code": other_code}))
            .await,
        StatusCode::CONFLICT,
        "referral_window_closed",
        &["a day"],
    )
    .await;
    assert_eq!(late.balance().await, 0);
    node.verify();
}

/// Reads the event stream until `needle` arrives; panics after a few seconds.
async fn read_until(res: &mut reqwest::Response, needle: &str) -> String {
    let mut seen = String::new();
    within(&format!("{needle:?} on /events"), async {
        while !seen.contains(needle) {
            let chunk = res.chunk().await.expect("stream").expect("not ended");
            seen.push_str(&String::from_utf8_lossy(&chunk));
        }
    })
    .await;
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn low_balance_goes_to_the_peer_stream_when_the_balance_first_drops() {
    let node = TestNode::start(|_| {}).await;
    let peer = node.peer().await;
    let bystander = node.peer().await;
    node.grant(&peer.id, 200).await;
    let stream = |auth: Option<&str>| {
        let mut req = node.http.get(node.url("/events"));
        if let Some(a) = auth {
            req = req.header("Authorization", a);
        }
        req.send()
    };
    let mut mine = stream(Some(&peer.authorization)).await.expect("events");
    let mut theirs = stream(Some(&bystander.authorization))
        .await
        .expect("events");
    let mut anonymous = stream(None).await.expect("events");

    // 200 → 100: not below the threshold of 100, no notice. 100 → 50: the notice.
    ok(peer
        .post("/api/credits/purchase", &j!({"template": "poker"}))
        .await)
    .await;
    ok(peer
        .post("/api/credits/purchase", &j!({"template": "trivia-league"}))
        .await)
    .await;
    let seen = read_until(&mut mine, "event: low_balance").await;
    let data = seen
        .split("event: low_balance\ndata: ")
        .nth(1)
        .and_then(|rest| rest.lines().next())
        .expect("a data line");
    let notice: Value = serde_json::from_str(data).expect("JSON");
    assert_eq!(
        notice,
        j!({"type": "low_balance", "peerId": peer.id.to_string(), "balance": 50, "threshold": 100})
    );
    // Only once: a presence message sent afterwards arrives, with no second notice.
    let res = node
        .http
        .post(node.url("/publish"))
        .json(&j!({"type": "online", "peerId": "marker-peer"}))
        .send()
        .await
        .expect("publish");
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let after = read_until(&mut mine, "marker-peer").await;
    assert!(!after.contains("low_balance"), "{after}");
    // Other streams see the presence message but never this peer's notice.
    for s in [&mut theirs, &mut anonymous] {
        let seen = read_until(s, "marker-peer").await;
        assert!(!seen.contains("low_balance"), "{seen}");
    }
    // The CLI prints the nudge.
    let key = tempfile::NamedTempFile::new().expect("key file");
    let bytes = peer.key.to_protobuf_encoding().expect("encode");
    std::fs::write(key.path(), bytes).expect("write key");
    let (done, out) = run_cli([
        "peer",
        "--node",
        &node.base,
        "--key",
        key.path().to_str().expect("path"),
        "balance",
    ]);
    assert!(done, "{out}");
    assert!(out.contains("50 credits"), "{out}");
    assert!(
        out.contains("Running low on credits. Contact the server admin for more credits."),
        "{out}"
    );
}
