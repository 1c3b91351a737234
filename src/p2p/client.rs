//! Minimal rendezvous client: each call dials the node over TCP + Noise +
//! Yamux, performs its request(s) on that connection and closes it.

use std::time::Duration;

use futures::StreamExt;
use libp2p::{
    identity::{Keypair, SigningError},
    multiaddr::Protocol,
    noise,
    request_response::{self, OutboundFailure, OutboundRequestId, ProtocolSupport},
    swarm::SwarmEvent,
    tcp, yamux, Multiaddr, PeerId, Swarm,
};

use super::protocol::{
    decode_status, open_record, seal_record, Message, MessageType, RecordDomain, RendezvousCodec,
    ResponseStatus, PROTOCOL,
};

/// The sealing domain to use for a record; see [`RecordDomain`].
pub type RecordDomainChoice = RecordDomain;

/// Longest one request may take, dialing included.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);

/// Most `DISCOVER` round trips made by one [`discover`] call.
const MAX_DISCOVER_PAGES: usize = 100;

/// Error returned by the client calls.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The address ends in `/p2p/<id>` with an id other than the node's.
    #[error("address {addr} names another peer than the expected {expected}")]
    PeerIdMismatch {
        /// The address given.
        addr: Multiaddr,
        /// The PeerId the caller expects.
        expected: PeerId,
    },
    /// The transport could not be built.
    #[error("failed to build the libp2p transport: {0}")]
    Transport(String),
    /// The peer record could not be signed.
    #[error("failed to sign the peer record: {0}")]
    Signing(#[from] SigningError),
    /// The node could not be reached or did not authenticate as expected.
    #[error("cannot connect to the rendezvous node: {0}")]
    Dial(String),
    /// The request failed after connecting (stream error, protocol not
    /// supported by the node, connection lost).
    #[error("rendezvous request failed: {0}")]
    Request(String),
    /// No answer within [`REQUEST_TIMEOUT`].
    #[error("no answer from the rendezvous node within {}s", REQUEST_TIMEOUT.as_secs())]
    Timeout,
    /// The node answered with an error status.
    #[error("rendezvous node refused the request: {status}: {text}")]
    Rejected {
        /// The status.
        status: ResponseStatus,
        /// The node's explanation (may be empty).
        text: String,
    },
    /// The node's answer does not follow the protocol.
    #[error("unexpected answer from the rendezvous node: {0}")]
    Protocol(String),
}

/// Splits a trailing `/p2p/<peer id>` off `addr`, if present.
pub fn split_p2p(addr: &Multiaddr) -> (Multiaddr, Option<PeerId>) {
    let mut base = addr.clone();
    match base.pop() {
        Some(Protocol::P2p(peer)) => (base, Some(peer)),
        _ => (addr.clone(), None),
    }
}

type ClientSwarm = Swarm<request_response::Behaviour<RendezvousCodec>>;

/// One connection to a rendezvous node.
struct Session {
    swarm: ClientSwarm,
    node: PeerId,
    addr: Multiaddr,
    last_dial_error: Option<String>,
}

impl Session {
    fn new(keypair: &Keypair, node: PeerId, addr: Multiaddr) -> Result<Self, ClientError> {
        let (base, named) = split_p2p(&addr);
        if named.is_some_and(|found| found != node) {
            return Err(ClientError::PeerIdMismatch {
                addr,
                expected: node,
            });
        }
        let swarm = libp2p::SwarmBuilder::with_existing_identity(keypair.clone())
            .with_tokio()
            .with_tcp(
                tcp::Config::default().nodelay(true),
                noise::Config::new,
                yamux::Config::default,
            )
            .map_err(|e| ClientError::Transport(e.to_string()))?
            .with_behaviour(|_| {
                request_response::Behaviour::with_codec(
                    RendezvousCodec,
                    [(PROTOCOL, ProtocolSupport::Outbound)],
                    request_response::Config::default().with_request_timeout(REQUEST_TIMEOUT),
                )
            })
            .map_err(|e| ClientError::Transport(e.to_string()))?
            .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(5)))
            .build();
        Ok(Session {
            swarm,
            node,
            addr: base,
            last_dial_error: None,
        })
    }

    fn send(&mut self, request: Message) -> OutboundRequestId {
        let addrs = vec![self.addr.clone()];
        self.swarm
            .behaviour_mut()
            .send_request_with_addresses(&self.node, request, addrs)
    }

    /// Waits for the outcome of request `id`.
    async fn outcome(&mut self, id: OutboundRequestId) -> Result<Message, OutboundError> {
        let wait = async {
            loop {
                match self.swarm.select_next_some().await {
                    SwarmEvent::Behaviour(request_response::Event::Message {
                        message:
                            request_response::Message::Response {
                                request_id,
                                response,
                            },
                        ..
                    }) if request_id == id => return Ok(response),
                    SwarmEvent::Behaviour(request_response::Event::OutboundFailure {
                        request_id,
                        error,
                        ..
                    }) if request_id == id => return Err(OutboundError::Failure(error)),
                    SwarmEvent::OutgoingConnectionError { error, .. } => {
                        self.last_dial_error = Some(error.to_string());
                    }
                    _ => {}
                }
            }
        };
        tokio::time::timeout(REQUEST_TIMEOUT, wait)
            .await
            .unwrap_or(Err(OutboundError::Timeout))
    }

    fn failure(&self, error: OutboundError) -> ClientError {
        match error {
            OutboundError::Timeout => ClientError::Timeout,
            OutboundError::Failure(OutboundFailure::DialFailure) => ClientError::Dial(
                self.last_dial_error
                    .clone()
                    .unwrap_or_else(|| "dial failed".to_owned()),
            ),
            OutboundError::Failure(OutboundFailure::Timeout) => ClientError::Timeout,
            OutboundError::Failure(other) => ClientError::Request(other.to_string()),
        }
    }

    async fn call(&mut self, request: Message) -> Result<Message, ClientError> {
        let id = self.send(request);
        let outcome = self.outcome(id).await;
        outcome.map_err(|e| self.failure(e))
    }
}

enum OutboundError {
    Timeout,
    Failure(OutboundFailure),
}

/// Sends one request on a fresh connection to `node` at `rendezvous_addr`
/// and returns the response, whatever its status.
///
/// `rendezvous_addr` may end in `/p2p/<node>`. The connection is
/// authenticated with `keypair` and the node must authenticate as `node`.
/// Not for `UNREGISTER`, which has no response (see [`unregister`]).
pub async fn request(
    keypair: &Keypair,
    node: PeerId,
    rendezvous_addr: Multiaddr,
    message: Message,
) -> Result<Message, ClientError> {
    Session::new(keypair, node, rendezvous_addr)?
        .call(message)
        .await
}

/// Registers the client (`keypair`) under `namespace` at `node`.
///
/// The peer record lists `external_addrs` and is sealed in `domain`. The
/// list may be empty: a record without addresses is valid and still
/// announces the PeerId (the client does not listen, so it has no address
/// of its own to offer). `ttl` is in seconds; `None` lets the node apply its
/// default. Returns the TTL granted, in seconds, or
/// [`ClientError::Rejected`] with the node's status and text.
pub async fn register(
    keypair: &Keypair,
    node: PeerId,
    rendezvous_addr: Multiaddr,
    namespace: &str,
    ttl: Option<u64>,
    domain: RecordDomainChoice,
    external_addrs: Vec<Multiaddr>,
) -> Result<u64, ClientError> {
    let envelope = seal_record(keypair, external_addrs, domain)?;
    let message = Message::new_register(namespace, envelope, ttl);
    let response = request(keypair, node, rendezvous_addr, message).await?;
    if response.kind() != Some(MessageType::RegisterResponse) {
        return Err(ClientError::Protocol(format!(
            "expected REGISTER_RESPONSE, got {:?}",
            response.kind()
        )));
    }
    let body = response
        .register_response
        .ok_or_else(|| ClientError::Protocol("empty REGISTER_RESPONSE".into()))?;
    match decode_status(body.status) {
        Some(ResponseStatus::Ok) => body
            .ttl
            .ok_or_else(|| ClientError::Protocol("OK without ttl".into())),
        Some(status) => Err(ClientError::Rejected {
            status,
            text: body.status_text.unwrap_or_default(),
        }),
        None => Err(ClientError::Protocol(
            "REGISTER_RESPONSE without status".into(),
        )),
    }
}

/// Removes the client's registration under `namespace` at `node`.
///
/// The protocol defines no answer to `UNREGISTER`: success means the request
/// was delivered and the node closed the stream, not that a registration
/// existed.
pub async fn unregister(
    keypair: &Keypair,
    node: PeerId,
    rendezvous_addr: Multiaddr,
    namespace: &str,
) -> Result<(), ClientError> {
    let mut session = Session::new(keypair, node, rendezvous_addr)?;
    let id_bytes = keypair.public().to_peer_id().to_bytes();
    let id = session.send(Message::new_unregister(namespace, Some(id_bytes)));
    match session.outcome(id).await {
        // The node closes the stream after reading the request.
        Ok(_) | Err(OutboundError::Failure(OutboundFailure::Io(_))) => Ok(()),
        Err(e) => Err(session.failure(e)),
    }
}

/// Lists the peers registered at `node` under `namespace` (all namespaces
/// when `None`), following discovery cookies until the node has nothing
/// more.
///
/// Records in either domain are accepted; a registration whose record does
/// not verify is skipped. A peer registered in several namespaces appears
/// once, with the addresses of all its records. Order is the node's
/// (oldest registration first).
pub async fn discover(
    keypair: &Keypair,
    node: PeerId,
    rendezvous_addr: Multiaddr,
    namespace: Option<&str>,
) -> Result<Vec<(PeerId, Vec<Multiaddr>)>, ClientError> {
    let mut session = Session::new(keypair, node, rendezvous_addr)?;
    let mut found: Vec<(PeerId, Vec<Multiaddr>)> = Vec::new();
    let mut cookie = None;
    for _ in 0..MAX_DISCOVER_PAGES {
        let response = session
            .call(Message::new_discover(namespace, None, cookie.take()))
            .await?;
        if response.kind() != Some(MessageType::DiscoverResponse) {
            return Err(ClientError::Protocol(format!(
                "expected DISCOVER_RESPONSE, got {:?}",
                response.kind()
            )));
        }
        let body = response
            .discover_response
            .ok_or_else(|| ClientError::Protocol("empty DISCOVER_RESPONSE".into()))?;
        match decode_status(body.status) {
            Some(ResponseStatus::Ok) => {}
            Some(status) => {
                return Err(ClientError::Rejected {
                    status,
                    text: body.status_text.unwrap_or_default(),
                })
            }
            None => {
                return Err(ClientError::Protocol(
                    "DISCOVER_RESPONSE without status".into(),
                ))
            }
        }
        if body.registrations.is_empty() {
            break;
        }
        for reg in body.registrations {
            let Some(envelope) = reg.signed_peer_record else {
                continue;
            };
            let record = match open_record(&envelope) {
                Ok((record, _)) => record,
                Err(error) => {
                    tracing::warn!(%error, "skipping registration with an invalid record");
                    continue;
                }
            };
            let peer = record.peer_id();
            let slot = match found.iter().position(|(p, _)| *p == peer) {
                Some(i) => i,
                None => {
                    found.push((peer, Vec::new()));
                    found.len() - 1
                }
            };
            for addr in record.addresses() {
                if !found[slot].1.contains(addr) {
                    found[slot].1.push(addr.clone());
                }
            }
        }
        match body.cookie {
            Some(next) => cookie = Some(next),
            None => break,
        }
    }
    Ok(found)
}
