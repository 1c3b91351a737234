//! Bad input on every POST route: a 4xx whose JSON body names the problem, and nothing
//! written. `/publish` and the presence stream of `/events`.

use reqwest::{header, StatusCode};
use serde_json::{json as j, Value};

use crate::common::{expect_error, within, TestNode};

/// Larger than the 64 KiB body limit.
fn huge_body(field: &str) -> String {
    j!({ field: "x".repeat(70 * 1024) }).to_string()
}

/// One bad request: the raw body, the expected status and what the message must name.
struct Case {
    body: String,
    status: StatusCode,
    mentions: Vec<&'static str>,
}

fn case(body: impl Into<String>, mentions: &[&'static str]) -> Case {
    Case {
        body: body.into(),
        status: StatusCode::BAD_REQUEST,
        mentions: mentions.to_vec(),
    }
}

fn too_large(body: String) -> Case {
    Case {
        body,
        status: StatusCode::PAYLOAD_TOO_LARGE,
        mentions: vec!["limit"],
    }
}

/// Cases every JSON route shares: malformed, not an object, a huge body.
fn common_cases(field: &str) -> Vec<Case> {
    vec![
        case(format!("{{\"{field}\": "), &["EOF"]),
        case("{", &["EOF"]),
        case("", &["EOF"]),
        case("not json", &["expected"]),
        case("[]", &["must be a JSON object"]),
        case(format!("[\"{field}\"]"), &["must be a JSON object"]),
        case("\"poker\"", &["must be a JSON object"]),
        too_large(huge_body(field)),
    ]
}

/// Sends every case to `path` (with `auth` as the Authorization header, if any) and
/// checks each answer.
async fn check_cases(node: &TestNode, path: &str, auth: Option<&str>, cases: Vec<Case>) {
    for c in cases {
        let mut req = node
            .http
            .post(node.url(path))
            .header(header::CONTENT_TYPE, "application/json")
            .body(c.body.clone());
        if let Some(auth) = auth {
            req = req.header(header::AUTHORIZATION, auth);
        }
        let res = within(path, req.send()).await.expect("HTTP request");
        let shown: String = c.body.chars().take(80).collect();
        let (status, body) = crate::common::json(res).await;
        assert_eq!(status, c.status, "{path} {shown:?}: {body}");
        let code = if c.status == StatusCode::PAYLOAD_TOO_LARGE {
            "payload_too_large"
        } else {
            "bad_request"
        };
        assert_eq!(body["error"], code, "{path} {shown:?}: {body}");
        let message = body["message"]
            .as_str()
            .unwrap_or_else(|| panic!("{path} {shown:?}: no message in {body}"));
        for m in &c.mentions {
            assert!(
                message.contains(m),
                "{path} {shown:?}: the message {message:?} should name {m:?}"
            );
        }
    }
    // A JSON route wants JSON.
    let mut req = node
        .http
        .post(node.url(path))
        .header(header::CONTENT_TYPE, "text/plain")
        .body("{}");
    if let Some(auth) = auth {
        req = req.header(header::AUTHORIZATION, auth);
    }
    let res = within(path, req.send()).await.expect("HTTP request");
    expect_error(
        res,
        StatusCode::BAD_REQUEST,
        "bad_request",
        &["Content-Type"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_bodies_are_refused_and_write_nothing() {
    let node = TestNode::start(|_| {}).await;
    let peer = node.peer().await;
    node.grant(&peer.id, 100).await;
    let admin = format!("Bearer {}", node.admin_token);
    let pid = peer.id.to_string();
    let entries = node.entry_total();

    for path in ["/api/credits/purchase", "/api/credits/spend"] {
        let mut cases = common_cases("template");
        cases.extend([
            case(
                r#"{"template":"poker","extra":1}"#,
                &["unknown field", "extra"],
            ),
            case(
                r#"{"template":"poker","peer_id":"x"}"#,
                &["unknown field", "peer_id"],
            ),
            case(r#"{"template":5}"#, &["template"]),
            case(r#"{"template":null}"#, &["template"]),
            case(r#"{"template":["poker"]}"#, &["template"]),
            case(r#"{}"#, &["missing field", "template"]),
            case(r#"{"name":"poker"}"#, &["unknown field", "name"]),
        ]);
        check_cases(&node, path, Some(&peer.authorization), cases).await;
    }

    let mut cases = common_cases("peer_id");
    for (amount, mention) in [
        (j!("10"), "amount"),
        (j!(-5), "amount"),
        (j!(0), "amount"),
        (j!(1.5), "amount"),
        (j!(null), "amount"),
        (j!(true), "amount"),
        (j!(2_000_000_000_000i64), "amount"),
        (j!(9_223_372_036_854_775_807i64), "amount"),
    ] {
        cases.push(case(
            j!({"peer_id": pid, "amount": amount}).to_string(),
            &[mention],
        ));
    }
    cases.extend([
        case(
            r#"{"peer_id":"x","amount":10,"extra":1}"#,
            &["unknown field", "extra"],
        ),
        case(
            j!({"peer_id": pid}).to_string(),
            &["missing field", "amount"],
        ),
        case(r#"{"amount":10}"#, &["missing field", "peer_id"]),
        case(r#"{"peer_id":"not-a-peer","amount":10}"#, &["peer_id"]),
        case(r#"{"peer_id":5,"amount":10}"#, &["peer_id"]),
        case(
            j!({"peer_id": pid, "amount": 10, "note": 5}).to_string(),
            &["note"],
        ),
        case(
            j!({"peer_id": pid, "amount": 10, "note": "n".repeat(600)}).to_string(),
            &["note"],
        ),
    ]);
    check_cases(&node, "/api/credits/grant", Some(&admin), cases).await;

    let mut cases = common_cases("peer_id");
    cases.extend([
        case(r#"{}"#, &["missing field", "peer_id"]),
        case(
            j!({"peer_id": pid}).to_string(),
            &["missing field", "template"],
        ),
        case(
            j!({"peer_id": pid, "template": 5}).to_string(),
            &["template"],
        ),
        case(
            j!({"peer_id": 5, "template": "poker"}).to_string(),
            &["peer_id"],
        ),
        case(
            r#"{"peer_id":"not-a-peer","template":"poker"}"#,
            &["peer_id"],
        ),
        case(
            j!({"peer_id": pid, "template": "poker", "amount": 10}).to_string(),
            &["unknown field", "amount"],
        ),
        case(
            j!({"peer_id": pid, "template": "poker", "note": "n".repeat(600)}).to_string(),
            &["note"],
        ),
    ]);
    check_cases(&node, "/api/credits/refund", Some(&admin), cases).await;

    let mut cases = common_cases("peerId");
    cases.extend([
        case(r#"{"type":"online"}"#, &["missing field", "peerId"]),
        case(r#"{"peerId":"12D3KooWabc"}"#, &["missing field", "type"]),
        case(r#"{"type":"away","peerId":"12D3KooWabc"}"#, &["type"]),
        case(r#"{"type":5,"peerId":"12D3KooWabc"}"#, &["type"]),
        case(r#"{"type":"online","peerId":7}"#, &["peerId"]),
        case(r#"{"type":"online","peerId":""}"#, &["peerId"]),
        case(
            j!({"type": "online", "peerId": "p".repeat(300)}).to_string(),
            &["peerId"],
        ),
        case(
            r#"{"type":"online","peerId":"12D3KooWabc","nick":"x"}"#,
            &["unknown field", "nick"],
        ),
        case(
            r#"{"type":"online","peerId":"12D3KooWabc","ts":"yesterday"}"#,
            &["ts"],
        ),
        case(
            r#"{"type":"online","peerId":"12D3KooWabc","email":5}"#,
            &["email"],
        ),
    ]);
    check_cases(&node, "/publish", None, cases).await;

    // Nothing was written.
    assert_eq!(node.entry_total(), entries);
    assert_eq!(peer.balance().await, 100);
    assert_eq!(peer.history().await["total"], 1);
    let purchases = crate::common::json(peer.get("/api/credits/purchases").await)
        .await
        .1;
    assert_eq!(purchases["purchases"], j!([]));
    node.verify();
    // The routes still work afterwards.
    let res = peer
        .post("/api/credits/purchase", &j!({"template": "poker"}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    node.shutdown().await;
}

/// Reads the event stream until a `data:` line arrives; returns its JSON.
async fn next_event(res: &mut reqwest::Response, buffer: &mut String) -> Value {
    within("a data: line on /events", async {
        loop {
            if let Some(end) = buffer.find("\n\n") {
                let frame: String = buffer.drain(..end + 2).collect();
                if let Some(data) = frame.strip_prefix("data: ") {
                    return serde_json::from_str(data.trim()).expect("presence JSON");
                }
                continue; // a comment (": ping")
            }
            let chunk = res
                .chunk()
                .await
                .expect("read the stream")
                .expect("the stream stays open");
            buffer.push_str(std::str::from_utf8(&chunk).expect("UTF-8"));
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_shows_up_on_events() {
    let node = TestNode::start(|_| {}).await;
    let mut stream = node.get("/events").await;
    assert_eq!(stream.status(), StatusCode::OK);
    assert_eq!(stream.headers()[header::CONTENT_TYPE], "text/event-stream");
    let mut buffer = String::new();

    // A refused publish is not broadcast; the valid one that follows is.
    let res = within(
        "bad publish",
        node.http
            .post(node.url("/publish"))
            .json(&j!({"type": "away", "peerId": "12D3KooWbad"}))
            .send(),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let message = j!({"type": "online", "peerId": "12D3KooWalice", "content": "hi", "email": "a@example.com", "avatarHash": "abc", "ts": 1_700_000_000_000i64});
    let res = within(
        "publish",
        node.http.post(node.url("/publish")).json(&message).send(),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(next_event(&mut stream, &mut buffer).await, message);

    // A new subscriber first gets the peers online.
    let mut late = node.get("/events").await;
    let mut late_buffer = String::new();
    assert_eq!(next_event(&mut late, &mut late_buffer).await, message);

    let offline = j!({"type": "offline", "peerId": "12D3KooWalice"});
    let res = within(
        "publish offline",
        node.http.post(node.url("/publish")).json(&offline).send(),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(next_event(&mut stream, &mut buffer).await, offline);
    assert_eq!(next_event(&mut late, &mut late_buffer).await, offline);
    drop(late);

    // A graceful shutdown ends the streams of subscribers that are still connected
    // (cleanly: the chunked body is terminated, not cut).
    let shutdown = tokio::spawn(node.shutdown());
    let end = within("the event stream ends at shutdown", async {
        loop {
            match stream.chunk().await {
                Ok(Some(_)) => continue,
                Ok(None) => return Ok(()),
                Err(e) => return Err(e),
            }
        }
    })
    .await;
    assert!(end.is_ok(), "the stream ends cleanly: {end:?}");
    within("shutdown", shutdown).await.expect("shutdown task");
}
