//! The store UI's guards over plain HTTP: it answers only to its own `Host` (no DNS
//! rebinding), and its form posts need its origin and its CSRF token, so another
//! site cannot spend the peer's credits.

use libp2p::identity::Keypair;
use reqwest::{redirect, StatusCode};

use crate::common::TestNode;
use rendezvous_credits::client::PeerClient;

/// A store UI on a free loopback port for a new peer of `node`, installing below
/// `installs`; returns it and the peer's id.
pub async fn start_ui(
    node: &TestNode,
    installs: &std::path::Path,
) -> (rendezvous_credits::peer_ui::RunningUi, libp2p::PeerId) {
    let key = Keypair::generate_ed25519();
    let peer = key.public().to_peer_id();
    let ui = rendezvous_credits::peer_ui::start(
        PeerClient::new(&node.base, key),
        &node.base,
        "127.0.0.1:0",
        installs.to_path_buf(),
        false,
    )
    .await
    .expect("the store UI starts");
    (ui, peer)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_ui_refuses_other_hosts_and_cross_site_posts() {
    let node = TestNode::start(|_| {}).await;
    let installs = tempfile::tempdir().unwrap();
    let (ui, peer) = start_ui(&node, installs.path()).await;
    node.grant(&peer, 300).await;
    let http = reqwest::Client::builder()
        .redirect(redirect::Policy::none())
        .build()
        .unwrap();
    let own = format!("http://{}", ui.addr);

    let page = http.get(ui.url()).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let page = page.text().await.unwrap();
    assert!(
        page.contains(r#"<span class="balance" id="balance""#) && page.contains("300 credits"),
        "{page}"
    );
    let csrf = crate::console::csrf_of(&page);

    // A rebound name reaches the same socket but is refused.
    let rebound = http
        .get(ui.url())
        .header("Host", "evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(rebound.status(), StatusCode::FORBIDDEN);
    assert!(!rebound.text().await.unwrap().contains("300 credits"));

    // Forwarding headers do not stand in for Host (a rebound page could set them).
    for header in ["X-Forwarded-Host", "Forwarded"] {
        let value = if header == "Forwarded" {
            format!("host={}", ui.addr)
        } else {
            ui.addr.to_string()
        };
        let res = http
            .get(ui.url())
            .header("Host", "evil.example")
            .header(header, value)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{header}");
    }

    // Posts without the token, with a wrong one, from another origin, or with no
    // origin at all buy nothing.
    for (token, origin) in [
        (None, Some(own.as_str())),
        (Some("wrong"), Some(own.as_str())),
        (Some(csrf.as_str()), Some("https://evil.example")),
        (Some(csrf.as_str()), None),
    ] {
        let mut form = vec![("template", "poker")];
        if let Some(t) = token {
            form.push(("csrf", t));
        }
        let mut req = http.post(format!("{own}/buy")).form(&form);
        if let Some(origin) = origin {
            req = req.header("Origin", origin);
        }
        let res = req.send().await.unwrap();
        assert_eq!(
            res.status(),
            StatusCode::FORBIDDEN,
            "{token:?} from {origin:?}"
        );
    }
    assert_eq!(
        node.account(&peer).unwrap().available,
        300,
        "nothing was bought"
    );

    // The UI's own form post buys, once.
    let res = http
        .post(format!("{own}/buy"))
        .header("Origin", &own)
        .form(&[("template", "poker"), ("csrf", &csrf)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(node.account(&peer).unwrap().available, 200);
    ui.stop().await;
    node.shutdown().await;
}
