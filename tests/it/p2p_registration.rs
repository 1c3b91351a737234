//! Registration over libp2p opens a Goop2 account with the starter credits, once.

use std::time::Duration;

use futures::StreamExt;
use libp2p::identity::Keypair;
use libp2p::rendezvous::{self, Namespace};
use libp2p::swarm::SwarmEvent;
use libp2p::{noise, tcp, yamux, Multiaddr, PeerId};
use rendezvous_credits::p2p::client::{self as p2p_client, ClientError};
use rendezvous_credits::p2p::protocol::{seal_record, Message, ResponseStatus};
use rendezvous_credits::p2p::RecordDomain;

use crate::common::{within, TestNode};

/// The address a test peer announces in its record (never dialed).
fn announced() -> Multiaddr {
    "/ip4/192.0.2.10/tcp/4001".parse().expect("multiaddr")
}

/// Registers `key` in `namespace` with rust-libp2p's own rendezvous client (legacy
/// record domain) on a fresh connection and returns the client's event.
pub(crate) async fn rust_register(
    node: &TestNode,
    key: &Keypair,
    namespace: &str,
) -> rendezvous::client::Event {
    let mut swarm = libp2p::SwarmBuilder::with_existing_identity(key.clone())
        .with_tokio()
        .with_tcp(
            tcp::Config::default(),
            noise::Config::new,
            yamux::Config::default,
        )
        .expect("transport")
        .with_behaviour(|k| rendezvous::client::Behaviour::new(k.clone()))
        .expect("behaviour")
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(10)))
        .build();
    swarm.add_external_address(announced());
    let node_peer = node.peer_id();
    swarm.dial(node.p2p_addr().await).expect("dial");
    within("rust-libp2p registration", async {
        loop {
            match swarm.select_next_some().await {
                SwarmEvent::ConnectionEstablished { peer_id, .. } => {
                    assert_eq!(peer_id, node_peer);
                    swarm
                        .behaviour_mut()
                        .register(
                            Namespace::new(namespace.to_string()).expect("namespace"),
                            node_peer,
                            None,
                        )
                        .expect("register request");
                }
                SwarmEvent::OutgoingConnectionError { error, .. } => {
                    panic!("cannot connect to the node: {error}")
                }
                SwarmEvent::Behaviour(
                    event @ (rendezvous::client::Event::Registered { .. }
                    | rendezvous::client::Event::RegisterFailed { .. }),
                ) => return event,
                _ => {}
            }
        }
    })
    .await
}

/// Asserts a successful registration in `namespace`.
pub(crate) fn assert_registered(event: rendezvous::client::Event, node: PeerId, namespace: &str) {
    match event {
        rendezvous::client::Event::Registered {
            rendezvous_node,
            ttl,
            namespace: ns,
        } => {
            assert_eq!(rendezvous_node, node);
            assert_eq!(ns.to_string(), namespace);
            assert!(ttl > 0);
        }
        other => panic!("expected Registered, got {other:?}"),
    }
}

/// The peer has exactly `balance` credits and exactly one `starter` entry of 500
/// noted "Welcome bonus".
pub(crate) fn assert_welcomed_once(node: &TestNode, peer: &PeerId, balance: i64) {
    let account = node
        .account(peer)
        .expect("the registration opened an account");
    assert_eq!(account.available, balance);
    let entries = node.entries(peer);
    let starters: Vec<_> = entries.iter().filter(|e| e.kind == "starter").collect();
    assert_eq!(starters.len(), 1, "one starter entry: {entries:?}");
    assert_eq!(starters[0].amount, 500);
    assert_eq!(starters[0].note.as_deref(), Some("Welcome bonus"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_libp2p_registration_grants_500_once_even_across_restarts() {
    let node = TestNode::start(|_| {}).await;
    let key = Keypair::generate_ed25519();
    let me = key.public().to_peer_id();
    assert!(node.account(&me).is_none());

    let event = rust_register(&node, &key, "goop2").await;
    assert_registered(event, node.peer_id(), "goop2");
    assert_welcomed_once(&node, &me, 500);
    let regs = node.running.p2p.registrations(Some("goop2".into())).await;
    assert_eq!(regs.len(), 1);
    assert_eq!(regs[0].peer, me);
    assert_eq!(regs[0].domain, RecordDomain::Legacy);
    assert_eq!(regs[0].addrs, vec![announced()]);

    // Over HTTP, authenticated as that peer.
    let peer = crate::common::Peer::authenticate(&node, key.clone()).await;
    assert_eq!(peer.balance().await, 500);
    let history = peer.history().await;
    assert_eq!(history["total"], 1);
    assert_eq!(history["transactions"][0]["type"], "starter");
    assert_eq!(history["transactions"][0]["amount"], 500);
    assert_eq!(history["transactions"][0]["balance"], 500);
    assert_eq!(history["transactions"][0]["note"], "Welcome bonus");

    // Registering again (a refresh) grants nothing.
    let event = rust_register(&node, &key, "goop2").await;
    assert_registered(event, node.peer_id(), "goop2");
    assert_welcomed_once(&node, &me, 500);

    // Nor after a restart on the same data folder (same node key).
    let node_id = node.peer_id();
    let node = node.restart().await;
    assert_eq!(node.peer_id(), node_id, "the node key survives a restart");
    assert_welcomed_once(&node, &me, 500);
    let event = rust_register(&node, &key, "goop2").await;
    assert_registered(event, node.peer_id(), "goop2");
    assert_welcomed_once(&node, &me, 500);
    let peer = crate::common::Peer::authenticate(&node, key).await;
    assert_eq!(peer.balance().await, 500);
    assert_eq!(node.entry_total(), 1);
    node.verify();
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standard_domain_record_registers_and_is_welcomed() {
    let node = TestNode::start(|_| {}).await;
    let key = Keypair::generate_ed25519();
    let me = key.public().to_peer_id();
    let ttl = within(
        "standard-domain registration",
        p2p_client::register(
            &key,
            node.peer_id(),
            node.p2p_addr().await,
            "goop2",
            Some(3600),
            RecordDomain::Standard,
            vec![announced()],
        ),
    )
    .await
    .expect("the node accepts a standard-domain record");
    assert_eq!(ttl, 3600);
    let regs = node.running.p2p.registrations(Some("goop2".into())).await;
    assert_eq!(regs.len(), 1);
    assert_eq!(regs[0].peer, me);
    assert_eq!(regs[0].domain, RecordDomain::Standard);
    assert_welcomed_once(&node, &me, 500);

    // The crate's peer client does the same (standard domain, node's namespace).
    let other = Keypair::generate_ed25519();
    let mut client = rendezvous_credits::client::PeerClient::new(&node.base, other.clone());
    within(
        "peer client registration",
        client.register(None, RecordDomain::Standard),
    )
    .await
    .expect("registered");
    let balance = within("balance", client.balance()).await.expect("balance");
    assert_eq!(balance.balance, 500);
    assert_eq!(balance.peer_id, other.public().to_peer_id().to_string());
    assert_welcomed_once(&node, &other.public().to_peer_id(), 500);
    assert_eq!(node.entry_total(), 2);
    node.verify();
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_namespace_opens_no_account() {
    let node = TestNode::start(|_| {}).await;
    let key = Keypair::generate_ed25519();
    let me = key.public().to_peer_id();
    let event = rust_register(&node, &key, "chat-rooms").await;
    assert_registered(event, node.peer_id(), "chat-rooms");
    assert_eq!(
        node.running
            .p2p
            .registrations(Some("chat-rooms".into()))
            .await
            .len(),
        1,
        "the registration itself is kept"
    );
    assert!(node.account(&me).is_none(), "no account outside goop2");
    let peer = crate::common::Peer::authenticate(&node, key).await;
    assert_eq!(peer.balance().await, 0);
    assert_eq!(peer.history().await["total"], 0);
    assert_eq!(node.entry_total(), 0);
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_signed_by_another_key_is_refused_and_credits_nothing() {
    let node = TestNode::start(|_| {}).await;
    let sender = Keypair::generate_ed25519();
    let signer = Keypair::generate_ed25519();
    for domain in [RecordDomain::Standard, RecordDomain::Legacy] {
        let envelope = seal_record(&signer, vec![announced()], domain).expect("seal");
        let response = within(
            "register with a foreign record",
            p2p_client::request(
                &sender,
                node.peer_id(),
                node.p2p_addr().await,
                Message::new_register("goop2", envelope, None),
            ),
        )
        .await
        .expect("the node answers");
        let body = response.register_response.expect("a REGISTER_RESPONSE");
        assert_eq!(
            body.status,
            Some(ResponseStatus::ENotAuthorized as i32),
            "{domain}: {body:?}"
        );
        assert_eq!(body.ttl, None);
        let text = body.status_text.unwrap_or_default();
        assert!(
            text.contains("signed by"),
            "the refusal explains itself: {text:?}"
        );
    }

    for peer in [sender.public().to_peer_id(), signer.public().to_peer_id()] {
        assert!(node.account(&peer).is_none(), "no account for {peer}");
    }
    assert!(node.running.p2p.registrations(None).await.is_empty());
    assert_eq!(node.entry_total(), 0);

    // A correct registration by the sender still works afterwards.
    let ttl = p2p_client::register(
        &sender,
        node.peer_id(),
        node.p2p_addr().await,
        "goop2",
        None,
        RecordDomain::Standard,
        vec![],
    )
    .await;
    assert!(
        ttl.is_ok(),
        "{:?}",
        ttl.err().map(|e: ClientError| e.to_string())
    );
    assert_welcomed_once(&node, &sender.public().to_peer_id(), 500);
    node.verify();
    node.shutdown().await;
}
