//! Promotions (contract §9, field-notes §3): drafts and their validation, edits while
//! DRAFT, the approval matrix (two distinct client admins with the client's token,
//! one RRR admin with the node's admin token), pause/resume/end, and how an ACTIVE
//! promotion changes earns (multiplier, best one wins, eligibility, cap, lot expiry,
//! the scheduler ending it).

use std::time::Duration;

use serde_json::{json, Value};

use super::*;
use crate::common::TestNode;

/// Client admin ids as XCN sends them (24-hex, not UUIDs).
pub const ADMIN_A: &str = "65a1f0c2e4b7d8a9c0f1e2d3";
pub const ADMIN_B: &str = "65a1f0c2e4b7d8a9c0f1e2d4";
const ADMIN_C: &str = "65a1f0c2e4b7d8a9c0f1e2d5";
/// The RRR account manager.
pub const RRR_ADMIN_ID: &str = "rrr-account-manager-7";

/// Now plus `secs`, ISO-8601 with a fixed -05:00 offset, whole seconds.
pub fn at(secs: i64) -> String {
    let t = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(secs);
    t.to_zoned(jiff::tz::TimeZone::fixed(jiff::tz::offset(-5)))
        .strftime("%Y-%m-%dT%H:%M:%S%:z")
        .to_string()
}

/// A wire time as an instant.
fn instant(v: &Value) -> jiff::Timestamp {
    v.as_str()
        .unwrap_or_else(|| panic!("not a time: {v}"))
        .parse()
        .unwrap_or_else(|e| panic!("not a time with an offset: {v}: {e}"))
}

/// A promotion live from `starts` to `ends` seconds from now with `multiplier`.
fn promo(name: &str, starts: i64, ends: i64, multiplier: Value) -> Value {
    json!({"name": name, "starts_at": at(starts), "ends_at": at(ends),
           "earn_rules": {"multiplier": multiplier}})
}

/// An approval body as XCN sends it.
pub fn approval(actor_type: &str, actor_id: &str) -> Value {
    json!({"actor": {"actor_type": actor_type, "actor_id": actor_id},
           "signature": {"method": "OIDC_SESSION", "attestation": "session_verified"}})
}

/// `POST path` with the node's admin token, acting for `client` (`X-Client-Id`).
pub async fn admin_post(node: &TestNode, client: &str, path: &str, body: &Value) -> Reply {
    send(
        node.http
            .post(node.url(path))
            .bearer_auth(&node.admin_token)
            .header("X-Client-Id", client)
            .header("X-Request-Trace", uuid::Uuid::new_v4().to_string())
            .header("Content-Type", "application/json")
            .header("Idempotency-Key", uuid::Uuid::new_v4().to_string())
            .body(body.to_string()),
    )
    .await
}

fn path(id: &str, action: &str) -> String {
    format!("/v1/promotions/{id}/{action}")
}

/// Creates `body`, submits it and has it approved by two client admins and the RRR
/// admin; returns its id (ACTIVE).
async fn activate(node: &TestNode, xcn: &Xcn, body: &Value) -> String {
    let p = xcn.post("/v1/promotions", body).await.ok(201);
    let id = p["promotion_id"].as_str().unwrap().to_string();
    let submitted = xcn.post(&path(&id, "submit"), &json!({})).await.ok(200);
    assert_eq!(submitted["status"], "PENDING_APPROVAL");
    for a in [ADMIN_A, ADMIN_B] {
        xcn.post(&path(&id, "approve"), &approval("CLIENT_ADMIN", a))
            .await
            .ok(200);
    }
    let done = admin_post(
        node,
        CLIENT,
        &path(&id, "approve"),
        &approval("RRR_ADMIN", RRR_ADMIN_ID),
    )
    .await
    .ok(200);
    assert_eq!(done["status"], "ACTIVE", "{done}");
    id
}

/// An earn of `points` with `metadata`; returns the reply.
async fn earn_meta(
    xcn: &Xcn,
    user: &str,
    member: &str,
    order: &str,
    points: i64,
    metadata: Value,
) -> Reply {
    let mut b = earn_body(user, member, order, points);
    b["metadata"] = metadata;
    xcn.post("/v1/points/earn", &b).await
}

async fn get(xcn: &Xcn, id: &str) -> Value {
    xcn.get(&format!("/v1/promotions/{id}")).await.ok(200)
}

async fn list(xcn: &Xcn, query: &str) -> Vec<Value> {
    xcn.get(&format!("/v1/promotions{query}"))
        .await
        .ok(200)
        .as_array()
        .unwrap_or_else(|| panic!("GET /v1/promotions{query} is a bare array"))
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drafts_are_validated_and_edited_only_while_draft() {
    let node = node().await;
    let xcn = Xcn::connect(&node, CLIENT).await;
    let (starts, ends) = (at(-3600), at(86_400));
    let body = json!({
        "name": "Double Days",
        "description": "More points on token packs",
        "starts_at": starts,
        "ends_at": ends,
        "eligibility": {"xcn_membership_tiers": ["GOLD", "PLATINUM"], "min_lifetime_spend_minor": 5000},
        "earn_rules": {"multiplier": 1.5, "cap_points": 500, "expiry_days": 90},
    });
    let created = xcn.post("/v1/promotions", &body).await.ok(201);
    let id = created["promotion_id"].as_str().unwrap().to_string();
    assert!(uuid::Uuid::parse_str(&id).is_ok(), "{created}");
    assert_eq!(created["status"], "DRAFT");
    assert_eq!(created["client_id"], CLIENT);
    assert_eq!(created["name"], "Double Days");
    assert_eq!(created["description"], "More points on token packs");
    assert_eq!(created["eligibility"], body["eligibility"]);
    assert_eq!(
        created["earn_rules"],
        json!({"multiplier": 1.5, "cap_points": 500, "expiry_days": 90})
    );
    assert_eq!(created["approvals"], json!([]));
    assert_eq!(instant(&created["starts_at"]), instant(&json!(starts)));
    assert_eq!(instant(&created["ends_at"]), instant(&json!(ends)));
    for t in ["starts_at", "ends_at", "created_at", "updated_at"] {
        assert!(
            !created[t].as_str().unwrap().ends_with('Z'),
            "{t} carries an offset: {created}"
        );
    }
    assert_eq!(get(&xcn, &id).await, created);

    // Bad input: 422 naming the field, and nothing is created.
    let mut missing_key = body.clone();
    missing_key["name"] = json!("no key");
    let r = send(
        xcn.http
            .post(node.url("/v1/promotions"))
            .bearer_auth(&xcn.token)
            .header("X-Client-Id", CLIENT)
            .header("Content-Type", "application/json")
            .body(missing_key.to_string()),
    )
    .await;
    r.error(422, "VALIDATION_FAILED");
    assert_eq!(r.body["error"]["details"]["field"], "Idempotency-Key");
    for (patch, field) in [
        (json!({"bogus": 1}), "bogus"),
        (json!({"ends_at": at(-7200)}), "ends_at"),
        (json!({"ends_at": starts}), "ends_at"),
        (json!({"starts_at": "tomorrow"}), "starts_at"),
        (json!({"starts_at": "2026-01-15T00:00:00"}), "starts_at"),
        (json!({"name": ""}), "name"),
        (
            json!({"earn_rules": {"multiplier": 0.5}}),
            "earn_rules.multiplier",
        ),
        (
            json!({"earn_rules": {"multiplier": 0}}),
            "earn_rules.multiplier",
        ),
        (
            json!({"earn_rules": {"multiplier": 1.23456}}),
            "earn_rules.multiplier",
        ),
        (
            json!({"earn_rules": {"multiplier": 101}}),
            "earn_rules.multiplier",
        ),
        (
            json!({"earn_rules": {"multiplier": "2"}}),
            "earn_rules.multiplier",
        ),
        (
            json!({"earn_rules": {"multiplier": 2, "cap_points": -1}}),
            "earn_rules.cap_points",
        ),
        (json!({"earn_rules": {"cap_points": 5}}), "earn_rules"),
        (
            json!({"eligibility": {"min_lifetime_spend_minor": -1}}),
            "eligibility.min_lifetime_spend_minor",
        ),
    ] {
        let mut b = body.clone();
        for (k, v) in patch.as_object().unwrap() {
            b[k] = v.clone();
        }
        let r = xcn.post("/v1/promotions", &b).await;
        r.error(422, "VALIDATION_FAILED");
        assert_eq!(r.body["error"]["details"]["field"], field, "{patch}");
    }
    let mut no_rules = body.clone();
    no_rules.as_object_mut().unwrap().remove("earn_rules");
    let r = xcn.post("/v1/promotions", &no_rules).await;
    r.error(422, "VALIDATION_FAILED");
    assert_eq!(r.body["error"]["details"]["field"], "earn_rules");
    // A multiplier with 4 decimals is fine (and is kept exactly).
    let fine = xcn
        .post(
            "/v1/promotions",
            &promo("Fine print", -60, 3600, json!(1.2345)),
        )
        .await
        .ok(201);
    assert_eq!(fine["earn_rules"]["multiplier"], json!(1.2345));
    assert_eq!(fine["earn_rules"]["cap_points"], Value::Null);
    assert_eq!(
        fine["eligibility"],
        json!({"xcn_membership_tiers": [], "min_lifetime_spend_minor": 0})
    );
    let fine_id = fine["promotion_id"].as_str().unwrap().to_string();
    let all = list(&xcn, "").await;
    assert_eq!(all.len(), 2, "only the two good ones exist: {all:?}");

    // PATCH while DRAFT replaces the fields given.
    let edited = xcn
        .patch(
            &format!("/v1/promotions/{id}"),
            &json!({"name": "Triple Days", "earn_rules": {"multiplier": 3, "cap_points": 100}}),
        )
        .await
        .ok(200);
    assert_eq!(edited["name"], "Triple Days");
    assert_eq!(
        edited["earn_rules"],
        json!({"multiplier": 3, "cap_points": 100, "expiry_days": null})
    );
    assert_eq!(
        edited["description"], created["description"],
        "untouched fields stay"
    );
    assert_eq!(edited["eligibility"], created["eligibility"]);
    assert_eq!(get(&xcn, &id).await, edited);
    // A bad edit changes nothing.
    for (patch, field) in [
        (json!({"ends_at": at(-7200)}), "ends_at"),
        (json!({"starts_at": at(200_000)}), "ends_at"),
        (
            json!({"earn_rules": {"multiplier": 0.99}}),
            "earn_rules.multiplier",
        ),
        (json!({"status": "ACTIVE"}), "status"),
        (json!({"name": " "}), "name"),
    ] {
        let r = xcn.patch(&format!("/v1/promotions/{id}"), &patch).await;
        r.error(422, "VALIDATION_FAILED");
        assert_eq!(r.body["error"]["details"]["field"], field, "{patch}");
    }
    let r = send(
        xcn.http
            .patch(node.url(&format!("/v1/promotions/{id}")))
            .bearer_auth(&xcn.token)
            .header("X-Client-Id", CLIENT)
            .body(json!({"name": "keyless"}).to_string()),
    )
    .await;
    r.error(422, "VALIDATION_FAILED");
    assert_eq!(r.body["error"]["details"]["field"], "Idempotency-Key");
    assert_eq!(get(&xcn, &id).await, edited);

    // Lists: a bare array, newest first, filtered by status.
    let drafts = list(&xcn, "?status=DRAFT").await;
    let ids: Vec<&str> = drafts
        .iter()
        .map(|p| p["promotion_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 2);
    assert!(ids.contains(&id.as_str()) && ids.contains(&fine_id.as_str()));
    assert_eq!(list(&xcn, "?status=ACTIVE").await, Vec::<Value>::new());
    for q in ["?status=bogus", "?status=draft"] {
        let r = xcn.get(&format!("/v1/promotions{q}")).await;
        r.error(422, "VALIDATION_FAILED");
        assert_eq!(r.body["error"]["details"]["field"], "status", "{q}");
    }

    // Submitted: PENDING_APPROVAL, and no longer editable.
    let submitted = xcn.post(&path(&id, "submit"), &json!({})).await.ok(200);
    assert_eq!(submitted["status"], "PENDING_APPROVAL");
    xcn.patch(
        &format!("/v1/promotions/{id}"),
        &json!({"name": "Late edit"}),
    )
    .await
    .error(409, "CONFLICT");
    xcn.post(&path(&id, "submit"), &json!({}))
        .await
        .error(409, "CONFLICT");
    let now = get(&xcn, &id).await;
    assert_eq!(now["name"], "Triple Days");
    assert_eq!(now["status"], "PENDING_APPROVAL");
    assert_eq!(list(&xcn, "?status=PENDING_APPROVAL").await, vec![now]);
    // Promotions are never deleted.
    xcn.delete(&format!("/v1/promotions/{id}"))
        .await
        .error(405, "METHOD_NOT_ALLOWED");
    assert_eq!(list(&xcn, "").await.len(), 2);

    // Unknown ids, malformed ids and unknown actions.
    let unknown = uuid::Uuid::new_v4().to_string();
    xcn.get(&format!("/v1/promotions/{unknown}"))
        .await
        .error(404, "NOT_FOUND");
    xcn.patch(&format!("/v1/promotions/{unknown}"), &json!({"name": "x"}))
        .await
        .error(404, "NOT_FOUND");
    xcn.post(&path(&unknown, "submit"), &json!({}))
        .await
        .error(404, "NOT_FOUND");
    let r = xcn.get("/v1/promotions/not-a-uuid").await;
    r.error(422, "VALIDATION_FAILED");
    assert_eq!(r.body["error"]["details"]["field"], "promotion_id");
    xcn.post(&path(&fine_id, "launch"), &json!({}))
        .await
        .error(404, "NOT_FOUND");
    assert_eq!(get(&xcn, &fine_id).await["status"], "DRAFT");
    node.verify();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approval_needs_two_distinct_client_admins_and_one_rrr_admin() {
    let node = node().await;
    let xcn = Xcn::connect(&node, CLIENT).await;
    let p = xcn
        .post("/v1/promotions", &promo("Multi-sig", -60, 86_400, json!(2)))
        .await
        .ok(201);
    let id = p["promotion_id"].as_str().unwrap().to_string();
    let approve = path(&id, "approve");

    // Not before it is submitted, by either side.
    xcn.post(&approve, &approval("CLIENT_ADMIN", ADMIN_A))
        .await
        .error(409, "CONFLICT");
    admin_post(
        &node,
        CLIENT,
        &approve,
        &approval("RRR_ADMIN", RRR_ADMIN_ID),
    )
    .await
    .error(409, "CONFLICT");
    xcn.post(&path(&id, "submit"), &json!({})).await.ok(200);

    // Each credential approves only as its own kind; malformed approvals are 422.
    xcn.post(&approve, &approval("RRR_ADMIN", RRR_ADMIN_ID))
        .await
        .error(403, "UNAUTHORIZED");
    admin_post(&node, CLIENT, &approve, &approval("CLIENT_ADMIN", ADMIN_A))
        .await
        .error(403, "UNAUTHORIZED");
    admin_post(&node, "", &approve, &approval("RRR_ADMIN", RRR_ADMIN_ID))
        .await
        .error(403, "UNAUTHORIZED");
    send(
        node.http
            .post(node.url(&approve))
            .bearer_auth("not-the-admin-token")
            .header("X-Client-Id", CLIENT)
            .header("Idempotency-Key", uuid::Uuid::new_v4().to_string())
            .json(&approval("RRR_ADMIN", RRR_ADMIN_ID)),
    )
    .await
    .error(401, "UNAUTHENTICATED");
    for (body, field) in [
        (approval("OWNER", ADMIN_A), "actor.actor_type"),
        (approval("CLIENT_ADMIN", ""), "actor.actor_id"),
        (
            json!({"actor": {"actor_type": "CLIENT_ADMIN", "actor_id": ADMIN_A},
                   "signature": {"method": "", "attestation": "session_verified"}}),
            "signature.method",
        ),
        (
            json!({"actor": {"actor_type": "CLIENT_ADMIN", "actor_id": ADMIN_A}}),
            "signature",
        ),
    ] {
        let r = xcn.post(&approve, &body).await;
        r.error(422, "VALIDATION_FAILED");
        assert_eq!(r.body["error"]["details"]["field"], field, "{body}");
    }
    let untouched = get(&xcn, &id).await;
    assert_eq!(untouched["status"], "PENDING_APPROVAL");
    assert_eq!(untouched["approvals"], json!([]));

    // First client admin; a retry with the same key replays, not a second approval.
    let key = uuid::Uuid::new_v4().to_string();
    let first = xcn
        .post_key(&approve, &key, &approval("CLIENT_ADMIN", ADMIN_A))
        .await
        .ok(200);
    assert_eq!(first["status"], "PENDING_APPROVAL");
    assert_eq!(first["approvals"].as_array().unwrap().len(), 1);
    let replay = xcn
        .post_key(&approve, &key, &approval("CLIENT_ADMIN", ADMIN_A))
        .await;
    assert_eq!(replay.headers["idempotent-replayed"], "true");
    assert_eq!(replay.ok(200), first);
    // The same admin again (a new key) is 409.
    xcn.post(&approve, &approval("CLIENT_ADMIN", ADMIN_A))
        .await
        .error(409, "CONFLICT");
    // The second, distinct client admin: still waiting for the RRR admin.
    let second = xcn
        .post(&approve, &approval("CLIENT_ADMIN", ADMIN_B))
        .await
        .ok(200);
    assert_eq!(second["status"], "PENDING_APPROVAL");
    // A third client admin is one too many.
    xcn.post(&approve, &approval("CLIENT_ADMIN", ADMIN_C))
        .await
        .error(409, "CONFLICT");
    assert_eq!(
        get(&xcn, &id).await["approvals"].as_array().unwrap().len(),
        2
    );
    // The RRR admin completes it.
    let active = admin_post(
        &node,
        CLIENT,
        &approve,
        &approval("RRR_ADMIN", RRR_ADMIN_ID),
    )
    .await
    .ok(200);
    assert_eq!(active["status"], "ACTIVE");
    let approvals = active["approvals"].as_array().unwrap();
    let actors: Vec<Value> = approvals.iter().map(|a| a["actor"].clone()).collect();
    assert_eq!(
        actors,
        vec![
            json!({"actor_type": "CLIENT_ADMIN", "actor_id": ADMIN_A}),
            json!({"actor_type": "CLIENT_ADMIN", "actor_id": ADMIN_B}),
            json!({"actor_type": "RRR_ADMIN", "actor_id": RRR_ADMIN_ID}),
        ]
    );
    for a in approvals {
        assert_eq!(a["signature_method"], "OIDC_SESSION");
        let when = instant(&a["approved_at"]);
        assert!(when <= jiff::Timestamp::now(), "{a}");
        assert!(
            a.get("attestation").is_none() && a.get("signature").is_none(),
            "the attestation is not shown: {a}"
        );
    }
    let shown = get(&xcn, &id).await;
    assert_eq!(shown["approvals"], active["approvals"]);
    assert_eq!(shown["status"], "ACTIVE");
    assert_eq!(list(&xcn, "?status=ACTIVE").await, vec![shown.clone()]);
    // Nothing more to approve, by anyone.
    admin_post(
        &node,
        CLIENT,
        &approve,
        &approval("RRR_ADMIN", "another-manager"),
    )
    .await
    .error(409, "CONFLICT");
    xcn.post(&approve, &approval("CLIENT_ADMIN", ADMIN_C))
        .await
        .error(409, "CONFLICT");
    assert_eq!(get(&xcn, &id).await, shown);

    // Order does not matter: the RRR admin first, then two client admins.
    let q = xcn
        .post("/v1/promotions", &promo("RRR first", -60, 86_400, json!(2)))
        .await
        .ok(201);
    let qid = q["promotion_id"].as_str().unwrap().to_string();
    xcn.post(&path(&qid, "submit"), &json!({})).await.ok(200);
    let r = admin_post(
        &node,
        CLIENT,
        &path(&qid, "approve"),
        &approval("RRR_ADMIN", RRR_ADMIN_ID),
    )
    .await
    .ok(200);
    assert_eq!(r["status"], "PENDING_APPROVAL");
    admin_post(
        &node,
        CLIENT,
        &path(&qid, "approve"),
        &approval("RRR_ADMIN", "another-manager"),
    )
    .await
    .error(409, "CONFLICT");
    let r = xcn
        .post(&path(&qid, "approve"), &approval("CLIENT_ADMIN", ADMIN_B))
        .await
        .ok(200);
    assert_eq!(r["status"], "PENDING_APPROVAL");
    let r = xcn
        .post(&path(&qid, "approve"), &approval("CLIENT_ADMIN", ADMIN_C))
        .await
        .ok(200);
    assert_eq!(r["status"], "ACTIVE");
    assert_eq!(r["approvals"][0]["actor"]["actor_type"], "RRR_ADMIN");
    node.verify();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_resume_and_end_move_only_from_their_states() {
    let node = node().await;
    let xcn = Xcn::connect(&node, CLIENT).await;
    let m = xcn.link("u1", "MEMBER", None).await;
    let id = activate(&node, &xcn, &promo("Toggle", -60, 86_400, json!(2))).await;
    let named = json!({"promotion_id": id});

    xcn.post(&path(&id, "resume"), &json!({}))
        .await
        .error(409, "CONFLICT");
    xcn.post(&path(&id, "submit"), &json!({}))
        .await
        .error(409, "CONFLICT");
    let e = earn_meta(&xcn, "u1", &m, "O1", 10, json!({})).await.ok(201);
    assert_eq!(
        (e["points"].clone(), e["promotion_id"].clone()),
        (json!(20), json!(id))
    );

    let paused = xcn.post(&path(&id, "pause"), &json!({})).await.ok(200);
    assert_eq!(paused["status"], "PAUSED");
    assert_eq!(paused["approvals"].as_array().unwrap().len(), 3);
    xcn.post(&path(&id, "pause"), &json!({}))
        .await
        .error(409, "CONFLICT");
    // While paused it gives nothing, and naming it is 409.
    let e = earn_meta(&xcn, "u1", &m, "O2", 10, json!({})).await.ok(201);
    assert_eq!(
        (e["points"].clone(), e["promotion_id"].clone()),
        (json!(10), Value::Null)
    );
    earn_meta(&xcn, "u1", &m, "O3", 10, named.clone())
        .await
        .error(409, "CONFLICT");
    assert_eq!(xcn.available(&m).await, 30);

    let resumed = xcn.post(&path(&id, "resume"), &json!({})).await.ok(200);
    assert_eq!(resumed["status"], "ACTIVE");
    let e = earn_meta(&xcn, "u1", &m, "O3", 10, named.clone())
        .await
        .ok(201);
    assert_eq!(e["points"], 20);

    let ended = xcn.post(&path(&id, "end"), &json!({})).await.ok(200);
    assert_eq!(ended["status"], "ENDED");
    for action in ["end", "pause", "resume", "submit"] {
        xcn.post(&path(&id, action), &json!({}))
            .await
            .error(409, "CONFLICT");
    }
    xcn.patch(&format!("/v1/promotions/{id}"), &json!({"name": "again"}))
        .await
        .error(409, "CONFLICT");
    earn_meta(&xcn, "u1", &m, "O4", 10, named)
        .await
        .error(409, "CONFLICT");
    let e = earn_meta(&xcn, "u1", &m, "O4", 10, json!({})).await.ok(201);
    assert_eq!(
        (e["points"].clone(), e["promotion_id"].clone()),
        (json!(10), Value::Null)
    );
    assert_eq!(xcn.available(&m).await, 60);

    // A draft and a pending promotion can be ended too; a draft cannot be paused.
    let d = xcn
        .post("/v1/promotions", &promo("Never mind", -60, 3600, json!(2)))
        .await
        .ok(201);
    let did = d["promotion_id"].as_str().unwrap();
    xcn.post(&path(did, "pause"), &json!({}))
        .await
        .error(409, "CONFLICT");
    assert_eq!(
        xcn.post(&path(did, "end"), &json!({})).await.ok(200)["status"],
        "ENDED"
    );
    let pnd = xcn
        .post("/v1/promotions", &promo("Withdrawn", -60, 3600, json!(2)))
        .await
        .ok(201);
    let pid = pnd["promotion_id"].as_str().unwrap();
    xcn.post(&path(pid, "submit"), &json!({})).await.ok(200);
    assert_eq!(
        xcn.post(&path(pid, "end"), &json!({})).await.ok(200)["status"],
        "ENDED"
    );
    xcn.post(&path(pid, "approve"), &approval("CLIENT_ADMIN", ADMIN_A))
        .await
        .error(409, "CONFLICT");
    assert_eq!(list(&xcn, "?status=ENDED").await.len(), 3);
    assert_eq!(list(&xcn, "?status=ACTIVE").await.len(), 0);
    node.verify();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_promotion_multiplies_earns_and_sets_their_expiry() {
    let node = node().await;
    let xcn = Xcn::connect(&node, CLIENT).await;
    let m = xcn.link("u1", "MEMBER", None).await;
    // Before any promotion, a default lot (365 days) is not expiring soon.
    let e = xcn.earn("u1", &m, "BEFORE", 25).await;
    assert_eq!(
        (e["points"].clone(), e["promotion_id"].clone()),
        (json!(25), Value::Null)
    );
    assert_eq!(xcn.wallet(&m).await["expiring_soon"], json!([]));

    let mut body = promo("Half again", -60, 86_400, json!(1.5));
    body["earn_rules"]["expiry_days"] = json!(10);
    let id = activate(&node, &xcn, &body).await;

    // Applied without being named: ⌊25 × 1.5⌋ = 37.
    let e = xcn.earn("u1", &m, "O1", 25).await;
    assert_eq!(
        (e["points"].clone(), e["promotion_id"].clone()),
        (json!(37), json!(id))
    );
    let ledger = xcn.get(&format!("/v1/members/{m}/ledger")).await.ok(200);
    assert_eq!(ledger[0]["type"], "EARN");
    assert_eq!(ledger[0]["points_delta"], 37);
    assert_eq!(ledger[0]["entry_id"], e["ledger_entry_id"]);
    assert_eq!(ledger[0]["balance_after"], 62);
    // Named: the same.
    let e = earn_meta(&xcn, "u1", &m, "O2", 3, json!({"promotion_id": id}))
        .await
        .ok(201);
    assert_eq!(
        (e["points"].clone(), e["promotion_id"].clone()),
        (json!(4), json!(id))
    );
    assert_eq!(xcn.available(&m).await, 66);

    // The promotion's lots expire after expiry_days, inside the 30-day window.
    let wallet = xcn.wallet(&m).await;
    let soon = wallet["expiring_soon"].as_array().unwrap();
    assert_eq!(soon.len(), 1, "{wallet}");
    assert_eq!(
        soon[0]["points"], 41,
        "37 + 4, the default lot is not in it"
    );
    let expires = instant(&soon[0]["expires_at"]);
    let now = jiff::Timestamp::now();
    let day = jiff::SignedDuration::from_hours(24);
    assert!(
        expires > now + day * 10 && expires <= now + day * 11 + jiff::SignedDuration::from_hours(2),
        "expires at the end of the day 10 days ahead: {wallet}"
    );

    // Naming an unknown or malformed promotion changes nothing.
    earn_meta(
        &xcn,
        "u1",
        &m,
        "O3",
        10,
        json!({"promotion_id": uuid::Uuid::new_v4().to_string()}),
    )
    .await
    .error(404, "NOT_FOUND");
    let r = earn_meta(&xcn, "u1", &m, "O3", 10, json!({"promotion_id": "summer"})).await;
    r.error(422, "VALIDATION_FAILED");
    assert_eq!(r.body["error"]["details"]["field"], "metadata.promotion_id");
    let r = earn_meta(&xcn, "u1", &m, "O3", 10, json!({"promotion_id": 7})).await;
    r.error(422, "VALIDATION_FAILED");
    assert_eq!(r.body["error"]["details"]["field"], "metadata.promotion_id");
    assert_eq!(xcn.available(&m).await, 66);
    assert_eq!(
        xcn.get(&format!("/v1/members/{m}/ledger"))
            .await
            .ok(200)
            .as_array()
            .unwrap()
            .len(),
        3
    );
    // The order is still free: a good earn for it goes through.
    assert_eq!(xcn.earn("u1", &m, "O3", 10).await["points"], 15);
    node.verify();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_best_eligible_promotion_wins() {
    let node = node().await;
    let xcn = Xcn::connect(&node, CLIENT).await;
    let m = xcn.link("u1", "MEMBER", None).await;
    let later = activate(&node, &xcn, &promo("Later 1.5", -3600, 86_400, json!(1.5))).await;
    let earlier = activate(
        &node,
        &xcn,
        &promo("Earlier 1.5", -7200, 86_400, json!(1.5)),
    )
    .await;
    let mut gold = promo("Gold double", -60, 86_400, json!(2));
    gold["eligibility"] = json!({"xcn_membership_tiers": ["GOLD"]});
    let gold = activate(&node, &xcn, &gold).await;
    let mut big = promo("Big spenders", -60, 86_400, json!(3));
    big["eligibility"] = json!({"min_lifetime_spend_minor": 3000});
    let big = activate(&node, &xcn, &big).await;
    // A better promotion that is not approved yet never applies.
    let draft = xcn
        .post("/v1/promotions", &promo("Draft x4", -60, 86_400, json!(4)))
        .await
        .ok(201);

    // No tier, no spend yet: of the two 1.5s, the earlier start wins.
    let e = earn_meta(&xcn, "u1", &m, "O1", 10, json!({})).await.ok(201);
    assert_eq!(
        (e["points"].clone(), e["promotion_id"].clone()),
        (json!(15), json!(earlier))
    );
    // GOLD, 1999 spent before (this earn's own 1999 does not count yet): ×2, not ×3.
    let e = earn_meta(
        &xcn,
        "u1",
        &m,
        "O2",
        10,
        json!({"xcn_membership_tier": "GOLD"}),
    )
    .await
    .ok(201);
    assert_eq!(
        (e["points"].clone(), e["promotion_id"].clone()),
        (json!(20), json!(gold))
    );
    // 3998 spent before: ×3 for any tier.
    let e = earn_meta(
        &xcn,
        "u1",
        &m,
        "O3",
        10,
        json!({"xcn_membership_tier": "SILVER"}),
    )
    .await
    .ok(201);
    assert_eq!(
        (e["points"].clone(), e["promotion_id"].clone()),
        (json!(30), json!(big))
    );
    // A named promotion applies even when a better one exists.
    let e = earn_meta(&xcn, "u1", &m, "O4", 10, json!({"promotion_id": later}))
        .await
        .ok(201);
    assert_eq!(
        (e["points"].clone(), e["promotion_id"].clone()),
        (json!(15), json!(later))
    );
    // Naming one the member is not eligible for, or one not ACTIVE, is 409.
    earn_meta(
        &xcn,
        "u1",
        &m,
        "O5",
        10,
        json!({"promotion_id": gold, "xcn_membership_tier": "SILVER"}),
    )
    .await
    .error(409, "CONFLICT");
    earn_meta(&xcn, "u1", &m, "O5", 10, json!({"promotion_id": gold}))
        .await
        .error(409, "CONFLICT");
    earn_meta(
        &xcn,
        "u1",
        &m,
        "O5",
        10,
        json!({"promotion_id": draft["promotion_id"]}),
    )
    .await
    .error(409, "CONFLICT");
    assert_eq!(xcn.available(&m).await, 80);

    // A new member has spent nothing before: the spend rule does not apply to its
    // first earn, however large.
    let n = xcn.link("u2", "MEMBER", None).await;
    let mut b = earn_body("u2", &n, "N1", 10);
    b["amount_minor"] = json!(1_000_000);
    let e = xcn.post("/v1/points/earn", &b).await.ok(201);
    assert_eq!(
        (e["points"].clone(), e["promotion_id"].clone()),
        (json!(15), json!(earlier))
    );
    let e = xcn.earn("u2", &n, "N2", 10).await;
    assert_eq!(
        (e["points"].clone(), e["promotion_id"].clone()),
        (json!(30), json!(big))
    );
    node.verify();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cap_points_caps_the_bonus_per_member() {
    let node = node().await;
    let xcn = Xcn::connect(&node, CLIENT).await;
    let mut body = promo("Capped double", -60, 86_400, json!(2));
    body["earn_rules"]["cap_points"] = json!(30);
    let id = activate(&node, &xcn, &body).await;
    let m1 = xcn.link("u1", "MEMBER", None).await;
    let m2 = xcn.link("u2", "MEMBER", None).await;
    // Bonus 25, then 5 (30 in all), then none.
    let mut got = Vec::new();
    for order in ["A", "B", "C"] {
        let e = xcn.earn("u1", &m1, order, 25).await;
        got.push(e["points"].as_i64().unwrap());
    }
    assert_eq!(got, vec![50, 30, 25]);
    assert_eq!(xcn.available(&m1).await, 105);
    // Another member has a cap of their own.
    assert_eq!(xcn.earn("u2", &m2, "D", 25).await["points"], 50);
    assert_eq!(xcn.available(&m2).await, 50);
    // Retrying an earn does not count its bonus twice.
    let again = xcn
        .post("/v1/points/earn", &earn_body("u2", &m2, "D", 25))
        .await
        .ok(201);
    assert_eq!(again["points"], 50);
    assert_eq!(xcn.earn("u2", &m2, "E", 3).await["points"], 6);
    assert_eq!(xcn.earn("u2", &m2, "F", 10).await["points"], 12);
    assert_eq!(xcn.available(&m2).await, 68);
    assert_eq!(get(&xcn, &id).await["earn_rules"]["cap_points"], 30);
    // The cap is per promotion: once this one ends, another gives its own bonus.
    xcn.post(&path(&id, "end"), &json!({})).await.ok(200);
    let mut next = promo("Next double", -60, 86_400, json!(2));
    next["earn_rules"]["cap_points"] = json!(10);
    let next = activate(&node, &xcn, &next).await;
    let e = xcn.earn("u1", &m1, "G", 25).await;
    assert_eq!(
        (e["points"].clone(), e["promotion_id"].clone()),
        (json!(35), json!(next))
    );
    assert_eq!(xcn.available(&m1).await, 140);
    node.verify();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_promotion_starting_later_is_active_but_does_not_apply_yet() {
    let node = node().await;
    let xcn = Xcn::connect(&node, CLIENT).await;
    let m = xcn.link("u1", "MEMBER", None).await;
    let id = activate(
        &node,
        &xcn,
        &promo("Next week", 7 * 86_400, 14 * 86_400, json!(2)),
    )
    .await;
    assert_eq!(get(&xcn, &id).await["status"], "ACTIVE");
    let e = xcn.earn("u1", &m, "O1", 10).await;
    assert_eq!(
        (e["points"].clone(), e["promotion_id"].clone()),
        (json!(10), Value::Null)
    );
    let msg = earn_meta(&xcn, "u1", &m, "O2", 10, json!({"promotion_id": id}))
        .await
        .error(409, "CONFLICT");
    assert!(msg.contains(&id), "{msg}");
    assert_eq!(xcn.available(&m).await, 10);
    node.verify();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scheduler_ends_promotions_past_their_end() {
    let node = node_with(json!({})).await;
    let xcn = Xcn::connect(&node, CLIENT).await;
    let m = xcn.link("u1", "MEMBER", None).await;
    let id = activate(&node, &xcn, &promo("Flash", -60, 4, json!(2))).await;
    let paused = activate(&node, &xcn, &promo("Flash paused", -60, 4, json!(3))).await;
    xcn.post(&path(&paused, "pause"), &json!({})).await.ok(200);
    let draft = xcn
        .post("/v1/promotions", &promo("Flash draft", -60, 4, json!(3)))
        .await
        .ok(201);
    let draft = draft["promotion_id"].as_str().unwrap().to_string();
    let e = xcn.earn("u1", &m, "DURING", 10).await;
    assert_eq!(
        (e["points"].clone(), e["promotion_id"].clone()),
        (json!(20), json!(id))
    );

    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let (a, b) = (get(&xcn, &id).await, get(&xcn, &paused).await);
        if a["status"] == "ENDED" && b["status"] == "ENDED" {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the scheduler did not end them: {a} {b}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        instant(&get(&xcn, &id).await["ends_at"]) <= jiff::Timestamp::now(),
        "ended no earlier than ends_at"
    );
    // The scheduler ends only ACTIVE and PAUSED promotions.
    assert_eq!(get(&xcn, &draft).await["status"], "DRAFT");
    let e = xcn.earn("u1", &m, "AFTER", 10).await;
    assert_eq!(
        (e["points"].clone(), e["promotion_id"].clone()),
        (json!(10), Value::Null)
    );
    earn_meta(&xcn, "u1", &m, "LATE", 10, json!({"promotion_id": id}))
        .await
        .error(409, "CONFLICT");
    xcn.post(&path(&id, "resume"), &json!({}))
        .await
        .error(409, "CONFLICT");
    assert_eq!(xcn.available(&m).await, 30);
    node.verify();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_clients_promotion_is_not_found() {
    let node = TestNode::start(|c| {
        c.tenants
            .push(rrr_tenant("xcn", &[CLIENT, "other-client"], json!({})));
    })
    .await;
    let xcn = Xcn::connect(&node, CLIENT).await;
    let other = Xcn::connect(&node, "other-client").await;
    let id = activate(&node, &xcn, &promo("Ours", -60, 86_400, json!(2))).await;
    let draft = xcn
        .post("/v1/promotions", &promo("Ours too", -60, 86_400, json!(2)))
        .await
        .ok(201);
    let draft = draft["promotion_id"].as_str().unwrap().to_string();
    let before = (get(&xcn, &id).await, get(&xcn, &draft).await);

    other
        .get(&format!("/v1/promotions/{id}"))
        .await
        .error(404, "NOT_FOUND");
    other
        .patch(
            &format!("/v1/promotions/{draft}"),
            &json!({"name": "theirs"}),
        )
        .await
        .error(404, "NOT_FOUND");
    for action in ["submit", "pause", "end"] {
        other
            .post(&path(&draft, action), &json!({}))
            .await
            .error(404, "NOT_FOUND");
        other
            .post(&path(&id, action), &json!({}))
            .await
            .error(404, "NOT_FOUND");
    }
    other
        .post(&path(&draft, "approve"), &approval("CLIENT_ADMIN", ADMIN_A))
        .await
        .error(404, "NOT_FOUND");
    // The RRR admin acting for the other client does not see it either.
    admin_post(
        &node,
        "other-client",
        &path(&id, "approve"),
        &approval("RRR_ADMIN", RRR_ADMIN_ID),
    )
    .await
    .error(404, "NOT_FOUND");
    assert_eq!(list(&other, "").await, Vec::<Value>::new());
    assert_eq!(list(&xcn, "").await.len(), 2);

    // It never applies to the other client's earns, and naming it is 404 there.
    let theirs = other.link("o1", "MEMBER", None).await;
    let e = other.earn("o1", &theirs, "T1", 10).await;
    assert_eq!(
        (e["points"].clone(), e["promotion_id"].clone()),
        (json!(10), Value::Null)
    );
    earn_meta(&other, "o1", &theirs, "T2", 10, json!({"promotion_id": id}))
        .await
        .error(404, "NOT_FOUND");
    assert_eq!(other.available(&theirs).await, 10);
    let ours = xcn.link("u1", "MEMBER", None).await;
    assert_eq!(xcn.earn("u1", &ours, "U1", 10).await["points"], 20);
    assert_eq!((get(&xcn, &id).await, get(&xcn, &draft).await), before);
    node.verify();
}
