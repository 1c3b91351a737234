//! The libp2p-PeerID HTTP authentication end to end with real keys, and the legacy
//! `X-Goop-Peer-ID` header.

use base64::Engine as _;
use libp2p::identity::Keypair;
use rendezvous_credits::auth::peer_id_auth::{parse_params, AuthParams, ClientAuth};
use reqwest::{header, StatusCode};

use crate::common::{expect_error, json, within, TestNode};

const BALANCE: &str = "/api/credits/balance";

/// Checks a 401 refusal: a fresh `libp2p-PeerID` challenge in `WWW-Authenticate`, no
/// `Authentication-Info`, and a message holding `reason`.
async fn assert_refused(res: reqwest::Response, reason: &str) {
    let www = res
        .headers()
        .get(header::WWW_AUTHENTICATE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .expect("a WWW-Authenticate header");
    assert!(www.starts_with("libp2p-PeerID "), "{www}");
    let p = parse_params(&www).expect("parses").expect("the scheme");
    assert!(p.challenge_client.is_some() && p.public_key.is_some() && p.opaque.is_some());
    assert!(res.headers().get("authentication-info").is_none());
    expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized", &[reason]).await;
}

/// The `WWW-Authenticate` challenge of an unauthenticated request.
async fn challenge(node: &TestNode, path: &str) -> String {
    let res = node.get(path).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    res.headers()
        .get(header::WWW_AUTHENTICATE)
        .and_then(|v| v.to_str().ok())
        .expect("a challenge")
        .to_string()
}

/// Sends `GET path` with `Authorization: authorization`.
async fn get_with(node: &TestNode, path: &str, authorization: &str) -> reqwest::Response {
    within(
        path,
        node.http
            .get(node.url(path))
            .header(header::AUTHORIZATION, authorization)
            .send(),
    )
    .await
    .expect("HTTP request")
}

/// A server-initiated answer header rebuilt from its parameters.
fn answer_header(p: &AuthParams) -> String {
    format!(
        r#"libp2p-PeerID public-key="{}", opaque="{}", challenge-server="{}", sig="{}""#,
        p.public_key.as_deref().expect("public-key"),
        p.opaque.as_deref().expect("opaque"),
        p.challenge_server.as_deref().expect("challenge-server"),
        p.sig.as_deref().expect("sig"),
    )
}

async fn balance_of(node: &TestNode, authorization: &str) -> serde_json::Value {
    let (status, body) = json(get_with(node, BALANCE, authorization).await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_initiated_handshake_yields_a_working_bearer() {
    let node = TestNode::start(|_| {}).await;
    let key = Keypair::generate_ed25519();
    let me = key.public().to_peer_id();
    let client = ClientAuth::new(key.clone());

    // Step by step: 401 with a challenge, the signed answer, Authentication-Info.
    let www = challenge(&node, BALANCE).await;
    let answer = client
        .answer_challenge(&www, &node.host())
        .expect("answer the challenge");
    assert_eq!(answer.server_key.to_peer_id(), node.peer_id());
    let res = get_with(&node, BALANCE, &answer.authorization).await;
    assert_eq!(res.status(), StatusCode::OK);
    let info = res
        .headers()
        .get("authentication-info")
        .and_then(|v| v.to_str().ok())
        .expect("Authentication-Info on the completing response")
        .to_string();
    let (_, body) = json(res).await;
    assert_eq!(
        body["peer_id"],
        me.to_string(),
        "the completing request is served"
    );
    let bearer = client
        .verify_server(
            &info,
            &answer.server_key,
            &answer.challenge_server,
            &node.host(),
            Some(node.peer_id()),
        )
        .expect("the server's signature verifies");
    assert_eq!(bearer.server, node.peer_id());
    let body = balance_of(&node, &bearer.authorization()).await;
    assert_eq!(body["peer_id"], me.to_string());
    assert_eq!(body["balance"], 0);
    // Later requests with the bearer carry no new Authentication-Info.
    let res = get_with(&node, BALANCE, &bearer.authorization()).await;
    assert!(res.headers().get("authentication-info").is_none());

    // The same through the crate's driver.
    let bearer = within(
        "handshake",
        client.authenticate(&node.http, &node.url(BALANCE), Some(node.peer_id())),
    )
    .await
    .expect("the driver authenticates");
    assert_eq!(
        balance_of(&node, &bearer.authorization()).await["peer_id"],
        me.to_string()
    );

    // A client expecting another server refuses before signing anything.
    let err = within(
        "handshake",
        client.authenticate(
            &node.http,
            &node.url(BALANCE),
            Some(Keypair::generate_ed25519().public().to_peer_id()),
        ),
    )
    .await
    .expect_err("an unexpected server key is refused");
    assert!(err.to_string().contains("does not match"), "{err}");
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_initiated_handshake_yields_a_working_bearer() {
    let node = TestNode::start(|_| {}).await;
    let key = Keypair::generate_ed25519();
    let me = key.public().to_peer_id();
    let client = ClientAuth::new(key);

    // Step by step: the server signs our challenge and challenges us.
    let start = client.start_client_initiated();
    let res = get_with(&node, BALANCE, &start.authorization).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let www = res
        .headers()
        .get(header::WWW_AUTHENTICATE)
        .and_then(|v| v.to_str().ok())
        .expect("the server's signed challenge")
        .to_string();
    let finish = client
        .finish_client_initiated(
            &www,
            &start.challenge_server,
            &node.host(),
            Some(node.peer_id()),
        )
        .expect("the server's signature verifies");
    let res = get_with(&node, BALANCE, &finish.authorization).await;
    assert_eq!(res.status(), StatusCode::OK);
    let info = res
        .headers()
        .get("authentication-info")
        .and_then(|v| v.to_str().ok())
        .expect("Authentication-Info on the completing response")
        .to_string();
    let bearer = client
        .accept_bearer(&info, finish.server)
        .expect("a bearer");
    assert_eq!(
        balance_of(&node, &bearer.authorization()).await["peer_id"],
        me.to_string()
    );

    // The same through the crate's driver.
    let bearer = within(
        "client-initiated handshake",
        client.authenticate_client_initiated(&node.http, &node.url(BALANCE), Some(node.peer_id())),
    )
    .await
    .expect("the driver authenticates");
    assert_eq!(bearer.server, node.peer_id());
    assert_eq!(
        balance_of(&node, &bearer.authorization()).await["peer_id"],
        me.to_string()
    );
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_signatures_are_refused() {
    let node = TestNode::start(|_| {}).await;
    let victim = Keypair::generate_ed25519();
    let attacker = Keypair::generate_ed25519();
    let victim_auth = ClientAuth::new(victim.clone());
    let attacker_auth = ClientAuth::new(attacker);
    let victim_key_b64 =
        base64::engine::general_purpose::URL_SAFE.encode(victim.public().encode_protobuf());

    // The attacker signs with its own key but claims the victim's public key.
    let www = challenge(&node, BALANCE).await;
    let answer = attacker_auth
        .answer_challenge(&www, &node.host())
        .expect("answer");
    let mut p = parse_params(&answer.authorization).unwrap().unwrap();
    p.public_key = Some(victim_key_b64);
    let res = get_with(&node, BALANCE, &answer_header(&p)).await;
    assert_refused(res, "signature does not verify").await;

    // The victim's own answer with one signature byte flipped.
    let www = challenge(&node, BALANCE).await;
    let answer = victim_auth
        .answer_challenge(&www, &node.host())
        .expect("answer");
    let mut p = parse_params(&answer.authorization).unwrap().unwrap();
    let mut sig = base64::engine::general_purpose::URL_SAFE
        .decode(p.sig.as_deref().unwrap())
        .expect("base64 sig");
    sig[10] ^= 0x01;
    p.sig = Some(base64::engine::general_purpose::URL_SAFE.encode(&sig));
    let res = get_with(&node, BALANCE, &answer_header(&p)).await;
    assert_refused(res, "signature does not verify").await;

    // A signature made for another hostname.
    let www = challenge(&node, BALANCE).await;
    let answer = victim_auth
        .answer_challenge(&www, "evil.example:80")
        .expect("answer");
    let res = get_with(&node, BALANCE, &answer.authorization).await;
    assert_refused(res, "signature does not verify").await;

    // A bearer that is not base64 of anything the node issued.
    let res = get_with(
        &node,
        BALANCE,
        r#"libp2p-PeerID bearer="AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA""#,
    )
    .await;
    assert_refused(res, "not issued by this server").await;

    // Forged credentials are never overridden by the legacy header, even when trusted.
    let trusting = TestNode::start(|c| c.goop2.trust_peer_id_header = true).await;
    let www = challenge(&trusting, BALANCE).await;
    let answer = victim_auth
        .answer_challenge(&www, "evil.example:80")
        .expect("answer");
    let res = within(
        "forged + legacy",
        trusting
            .http
            .get(trusting.url(BALANCE))
            .header(header::AUTHORIZATION, &answer.authorization)
            .header("X-Goop-Peer-ID", victim.public().to_peer_id().to_string())
            .send(),
    )
    .await
    .unwrap();
    assert_refused(res, "signature does not verify").await;

    assert!(node.account(&victim.public().to_peer_id()).is_none());
    assert_eq!(node.entry_total(), 0);
    trusting.shutdown().await;
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_bearer_is_refused() {
    let node = TestNode::start(|c| c.auth.bearer_ttl_secs = 1).await;
    let peer = node.peer().await;
    // The bearer lives one second: poll until it is refused, then check the refusal.
    let refused = within("the bearer expires", async {
        loop {
            let res = peer.get(BALANCE).await;
            if res.status() == StatusCode::UNAUTHORIZED {
                return res;
            }
            assert_eq!(res.status(), StatusCode::OK);
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    })
    .await;
    assert_refused(refused, "expired").await;
    // A new handshake works again.
    let again = node.peer().await;
    assert_eq!(again.get(BALANCE).await.status(), StatusCode::OK);
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreign_bearer_is_refused() {
    let a = TestNode::start(|_| {}).await;
    let b = TestNode::start(|_| {}).await;
    let peer = a.peer().await;
    assert_eq!(peer.get(BALANCE).await.status(), StatusCode::OK);

    // On the other node, as sent.
    let res = get_with(&b, BALANCE, &peer.authorization).await;
    assert_refused(res, "not issued by this server").await;

    // On the other node with node a's Host header, so that only the key differs.
    let res = within(
        "foreign bearer",
        b.http
            .get(b.url(BALANCE))
            .header(header::HOST, a.host())
            .header(header::AUTHORIZATION, &peer.authorization)
            .send(),
    )
    .await
    .unwrap();
    assert_refused(res, "not issued by this server").await;

    // On the same node under another hostname.
    let res = within(
        "bearer for another hostname",
        a.http
            .get(a.url(BALANCE))
            .header(header::HOST, "localhost")
            .header(header::AUTHORIZATION, &peer.authorization)
            .send(),
    )
    .await
    .unwrap();
    assert_refused(res, "not issued by this server").await;
    b.shutdown().await;
    a.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_authorization_header_is_refused() {
    let node = TestNode::start(|_| {}).await;
    let peer = node.peer().await;
    let long = format!(r#"libp2p-PeerID bearer="{}""#, "A".repeat(2100));
    assert!(long.len() > 2048);
    let res = get_with(&node, BALANCE, &long).await;
    assert_refused(res, "longer than 2048 bytes").await;

    // The valid bearer padded past the limit with a harmless parameter.
    let padded = format!(r#"{}, expires="{}""#, peer.authorization, "x".repeat(2048));
    let res = get_with(&node, BALANCE, &padded).await;
    assert_refused(res, "longer than 2048 bytes").await;

    // A write route refuses it too, and writes nothing.
    let res = within(
        "purchase with an oversized header",
        node.http
            .post(node.url("/api/credits/purchase"))
            .header(header::AUTHORIZATION, &long)
            .json(&serde_json::json!({"template": "poker"}))
            .send(),
    )
    .await
    .unwrap();
    assert_refused(res, "longer than 2048 bytes").await;
    assert_eq!(node.entry_total(), 0);
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_peer_header_is_refused_unless_trusted() {
    let claimed = Keypair::generate_ed25519()
        .public()
        .to_peer_id()
        .to_string();

    // Default: no proof, no access.
    let node = TestNode::start(|_| {}).await;
    let res = within(
        "legacy header",
        node.http
            .get(node.url(BALANCE))
            .header("X-Goop-Peer-ID", &claimed)
            .send(),
    )
    .await
    .unwrap();
    assert_refused(res, "libp2p-PeerID").await;
    let res = node.get(&format!("{BALANCE}?peer_id={claimed}")).await;
    assert_refused(res, "libp2p-PeerID").await;
    let res = within(
        "legacy spend",
        node.http
            .post(node.url("/api/credits/spend"))
            .header("X-Goop-Peer-ID", &claimed)
            .json(&serde_json::json!({"template": "poker"}))
            .send(),
    )
    .await
    .unwrap();
    assert_refused(res, "libp2p-PeerID").await;
    assert_eq!(node.entry_total(), 0);
    node.shutdown().await;

    // Trusted by the operator: the header (or ?peer_id=) identifies the peer.
    let node = TestNode::start(|c| c.goop2.trust_peer_id_header = true).await;
    let peer_id = claimed.parse().unwrap();
    node.grant(&peer_id, 150).await;
    let res = within(
        "legacy header",
        node.http
            .get(node.url(BALANCE))
            .header("X-Goop-Peer-ID", &claimed)
            .send(),
    )
    .await
    .unwrap();
    let (status, body) = json(res).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["peer_id"], claimed);
    assert_eq!(body["balance"], 150);
    let (status, body) = json(node.get(&format!("{BALANCE}?peer_id={claimed}")).await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["balance"], 150);
    let res = within(
        "legacy spend",
        node.http
            .post(node.url("/api/credits/spend"))
            .header("X-Goop-Peer-ID", &claimed)
            .json(&serde_json::json!({"template": "poker"}))
            .send(),
    )
    .await
    .unwrap();
    let (status, body) = json(res).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, serde_json::json!({"balance": 50, "owned": true}));

    // An invalid claim is a 400 naming the header; nothing is written.
    let before = node.entry_total();
    for bad in [
        "not-a-peer-id",
        "12D3KooWxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
        "",
    ] {
        let res = within(
            "invalid legacy header",
            node.http
                .post(node.url("/api/credits/spend"))
                .header("X-Goop-Peer-ID", bad)
                .json(&serde_json::json!({"template": "trivia-league"}))
                .send(),
        )
        .await
        .unwrap();
        expect_error(
            res,
            StatusCode::BAD_REQUEST,
            "bad_request",
            &["X-Goop-Peer-ID"],
        )
        .await;
    }
    let res = node.get(&format!("{BALANCE}?peer_id=nope")).await;
    expect_error(res, StatusCode::BAD_REQUEST, "bad_request", &["peer id"]).await;
    assert_eq!(node.entry_total(), before);
    node.verify();
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bearer_works_on_every_node_sharing_the_token_secret() {
    use rendezvous_credits::secret::Secret;
    let cluster = "a-cluster-token-secret-of-forty-bytes-xx";
    let start =
        |secret: &'static str| TestNode::start(move |c| c.auth.token_secret = Secret::new(secret));
    let (a, b, other) = (
        start(cluster).await,
        start(cluster).await,
        start("another-cluster-token-secret-40-bytes-yy").await,
    );
    let peer = a.peer().await;
    a.grant(&peer.id, 7).await;
    // Behind a load balancer every node sees the same Host: the bearer is bound to it.
    let at = |node: &TestNode| {
        node.http
            .get(node.url(BALANCE))
            .header(header::AUTHORIZATION, &peer.authorization)
            .header(header::HOST, a.host())
            .send()
    };
    let (status, body) = json(at(&b).await.unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["peer_id"], peer.id.to_string());
    assert_refused(at(&other).await.unwrap(), "not issued by this server").await;

    // A node without a token secret mints its own bearers, which no other node takes.
    let lone = TestNode::start(|_| {}).await;
    let lone_peer = lone.peer().await;
    let res = a
        .http
        .get(a.url(BALANCE))
        .header(header::AUTHORIZATION, &lone_peer.authorization)
        .header(header::HOST, lone.host())
        .send()
        .await
        .unwrap();
    assert_refused(res, "not issued by this server").await;

    // A short secret is refused at start.
    let mut config = crate::common::test_config(std::path::Path::new("unused"));
    config.auth.token_secret = Secret::new("short");
    let e = config.validate().unwrap_err().to_string();
    assert!(e.contains("auth.token_secret: at least 32 bytes"), "{e}");
    for node in [a, b, other, lone] {
        node.shutdown().await;
    }
}
