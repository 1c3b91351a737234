//! The libp2p node: TCP + Noise + Yamux, identify, ping and a rendezvous
//! server (`/rendezvous/1.0.0`, inbound only) that accepts signed peer
//! records in both the standard and the legacy domain.
//!
//! The swarm runs in one tokio task that `select!`s over swarm events, the
//! [`P2pHandle`] command channel, the completion of hook calls and a 1 s
//! expiry tick.
//!
//! Every change of the registration table (register, unregister, expiry)
//! goes through one queue processed in order, and the [`RegistrationHook`] is
//! called for them one at a time, in that order, from a separate task: the
//! swarm keeps serving discovery and other traffic while a hook runs, and the
//! integrator sees the changes in the same order as the table does.

use std::{
    collections::{HashMap, VecDeque},
    sync::Arc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use futures::{future::BoxFuture, StreamExt};
use libp2p::{
    identify,
    identity::Keypair,
    noise, ping,
    request_response::{self, InboundFailure, ProtocolSupport, ResponseChannel},
    swarm::{NetworkBehaviour, SwarmEvent},
    tcp, yamux, Multiaddr, PeerId, Swarm,
};
use prost::Message as _;
use tokio::sync::{mpsc, oneshot};

use super::{
    protocol::{
        open_record, valid_namespace, Cookie, Message, MessageType, RecordDomain, Register,
        RendezvousCodec, ResponseStatus, MAX_ENVELOPE_LEN, MAX_MESSAGE_LEN, PROTOCOL,
    },
    registry::{NewRegistration, Registration, Registry, RegistryLimits},
};

/// Protocol version announced through identify.
pub const IDENTIFY_PROTOCOL: &str = "/goop2-rendezvous/1.0.0";

/// Longest a [`RegistrationHook`] call may take before it counts as failed.
/// Kept below the 10 s request timeout of rust-libp2p's rendezvous client so
/// that it still receives the `E_INTERNAL_ERROR`.
pub const HOOK_TIMEOUT: Duration = Duration::from_secs(5);

/// Longest an inbound rendezvous request may wait for its response (queueing
/// and hook included) before libp2p abandons the stream.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Most table changes waiting for their turn; further `REGISTER`s are
/// answered `E_UNAVAILABLE` and further `UNREGISTER`s dropped.
pub const MAX_PENDING_CHANGES: usize = 1024;

/// Connections without any open stream are closed after this long.
pub const IDLE_CONNECTION_TIMEOUT: Duration = Duration::from_secs(60);

/// Room kept in a `DISCOVER_RESPONSE` for everything but the registrations.
const DISCOVER_RESPONSE_SLACK: usize = 1024;

/// Interval of the expiry check.
const EXPIRY_TICK: Duration = Duration::from_secs(1);

/// Agent version prefix of rust-libp2p's identify default.
const RUST_LIBP2P_AGENT_PREFIX: &str = "rust-libp2p/";

/// Settings of the node started by [`spawn`].
#[derive(Debug)]
pub struct NodeConfig {
    /// Identity of the node (its PeerId is derived from it).
    pub keypair: Keypair,
    /// Addresses to listen on, e.g. `/ip4/0.0.0.0/tcp/4001` (port 0 picks a
    /// free port; see [`P2pHandle::listen_addrs`]).
    pub listen: Vec<Multiaddr>,
    /// Bounds of the registration table.
    pub limits: RegistryLimits,
    /// Registrations to load at start (e.g. saved by the hook). They are
    /// trusted as they are (envelopes are not verified again); expired ones
    /// are skipped, and the hook is not called for any of them.
    pub restore: Vec<Registration>,
}

impl NodeConfig {
    /// A configuration with default limits and nothing to restore.
    pub fn new(keypair: Keypair, listen: Vec<Multiaddr>) -> Self {
        NodeConfig {
            keypair,
            listen,
            limits: RegistryLimits::default(),
            restore: Vec::new(),
        }
    }
}

/// A change of the registration table, passed to the [`RegistrationHook`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistrationEvent {
    /// A `REGISTER` was accepted (new or refreshed registration). The node
    /// stores it and answers `OK` only if the hook succeeds.
    Registered(Registration),
    /// The peer removed its registration with `UNREGISTER`.
    Unregistered {
        /// The peer.
        peer: PeerId,
        /// The namespace it left.
        namespace: String,
    },
    /// The registration reached its expiry time and was removed.
    Expired(Registration),
}

/// Called for every change of the registration table, one call at a time in
/// the order of the changes.
///
/// For [`RegistrationEvent::Registered`] it is called before the `OK` is
/// sent: the node awaits it and, if it fails (error, panic, or longer than
/// [`HOOK_TIMEOUT`]), answers `E_INTERNAL_ERROR` with the error text and does
/// not store the registration. For the other events the table has already
/// changed and a failure is only logged.
pub type RegistrationHook = Arc<
    dyn Fn(RegistrationEvent) -> futures::future::BoxFuture<'static, Result<(), String>>
        + Send
        + Sync,
>;

/// Error returned by [`spawn`].
#[derive(Debug, thiserror::Error)]
pub enum P2pError {
    /// The registry limits are inconsistent.
    #[error("invalid registry limits: {0}")]
    InvalidLimits(String),
    /// The transport could not be built.
    #[error("failed to build the libp2p transport: {0}")]
    Transport(String),
    /// A listen address could not be used.
    #[error("cannot listen on {addr}: {reason}")]
    Listen {
        /// The address.
        addr: Multiaddr,
        /// Why.
        reason: String,
    },
}

/// Cheap, cloneable handle to the running node.
///
/// The node stops when [`P2pHandle::shutdown`] is called or when every
/// handle has been dropped. After that, the methods return empty results.
#[derive(Clone, Debug)]
pub struct P2pHandle {
    peer_id: PeerId,
    commands: mpsc::Sender<Command>,
}

#[derive(Debug)]
enum Command {
    ListenAddrs(oneshot::Sender<Vec<Multiaddr>>),
    Registrations {
        namespace: Option<String>,
        reply: oneshot::Sender<Vec<Registration>>,
    },
    Shutdown(oneshot::Sender<()>),
}

impl P2pHandle {
    /// The node's PeerId.
    pub fn peer_id(&self) -> PeerId {
        self.peer_id
    }

    /// The addresses the node actually listens on (port 0 resolved), waiting
    /// until at least one is bound. Empty if the node has stopped or has no
    /// listener left.
    pub async fn listen_addrs(&self) -> Vec<Multiaddr> {
        let (tx, rx) = oneshot::channel();
        if self.commands.send(Command::ListenAddrs(tx)).await.is_err() {
            return Vec::new();
        }
        rx.await.unwrap_or_default()
    }

    /// Current (non-expired) registrations, in `namespace` or all when
    /// `None`, oldest first. Empty if the node has stopped.
    pub async fn registrations(&self, namespace: Option<String>) -> Vec<Registration> {
        let (reply, rx) = oneshot::channel();
        let cmd = Command::Registrations { namespace, reply };
        if self.commands.send(cmd).await.is_err() {
            return Vec::new();
        }
        rx.await.unwrap_or_default()
    }

    /// Stops the node and waits until its swarm is dropped (listeners and
    /// connections closed). Returns at once if it has already stopped.
    pub async fn shutdown(&self) {
        let (tx, rx) = oneshot::channel();
        if self.commands.send(Command::Shutdown(tx)).await.is_ok() {
            let _ = rx.await;
        }
    }
}

#[derive(NetworkBehaviour)]
struct NodeBehaviour {
    identify: identify::Behaviour,
    ping: ping::Behaviour,
    rendezvous: request_response::Behaviour<RendezvousCodec>,
}

/// A queued change of the registration table.
enum Change {
    Register {
        new: NewRegistration,
        channel: ResponseChannel<Message>,
    },
    Unregister {
        peer: PeerId,
        namespace: String,
    },
    Expire,
}

/// Result of a hook run, sent back to the swarm task.
enum HookDone {
    Register {
        reg: Box<Registration>,
        channel: ResponseChannel<Message>,
        outcome: Result<(), String>,
    },
    Notified,
}

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Starts the node in a tokio task and returns its handle.
///
/// Fails if `config.limits` is inconsistent, if the transport cannot be
/// built or if a listen address is refused (e.g. unsupported protocol or
/// port in use).
pub async fn spawn(config: NodeConfig, hook: RegistrationHook) -> Result<P2pHandle, P2pError> {
    config.limits.validate().map_err(P2pError::InvalidLimits)?;
    let peer_id = config.keypair.public().to_peer_id();

    let mut swarm = libp2p::SwarmBuilder::with_existing_identity(config.keypair)
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )
        .map_err(|e| P2pError::Transport(e.to_string()))?
        .with_behaviour(|key| NodeBehaviour {
            identify: identify::Behaviour::new(
                identify::Config::new(IDENTIFY_PROTOCOL.to_owned(), key.public())
                    .with_agent_version(format!(
                        "rendezvous-credits/{}",
                        env!("CARGO_PKG_VERSION")
                    )),
            ),
            ping: ping::Behaviour::default(),
            rendezvous: request_response::Behaviour::with_codec(
                RendezvousCodec,
                [(PROTOCOL, ProtocolSupport::Inbound)],
                request_response::Config::default().with_request_timeout(REQUEST_TIMEOUT),
            ),
        })
        .map_err(|e| P2pError::Transport(e.to_string()))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(IDLE_CONNECTION_TIMEOUT))
        .build();

    for addr in &config.listen {
        swarm
            .listen_on(addr.clone())
            .map_err(|e| P2pError::Listen {
                addr: addr.clone(),
                reason: e.to_string(),
            })?;
    }

    let mut registry = Registry::new(config.limits);
    let restored = registry.restore(config.restore, now_unix());
    tracing::info!(%peer_id, restored, "rendezvous node starting");

    let (commands, command_rx) = mpsc::channel(64);
    let (hook_tx, hook_rx) = mpsc::unbounded_channel();
    let node = Node {
        swarm,
        registry,
        hook,
        changes: VecDeque::new(),
        busy: false,
        expire_queued: false,
        hook_tx,
        listen_waiters: Vec::new(),
        active_listeners: config.listen.len(),
        agents: HashMap::new(),
    };
    tokio::spawn(node.run(command_rx, hook_rx));
    Ok(P2pHandle { peer_id, commands })
}

struct Node {
    swarm: Swarm<NodeBehaviour>,
    registry: Registry,
    hook: RegistrationHook,
    changes: VecDeque<Change>,
    /// A hook call is in progress; the next change waits for it.
    busy: bool,
    expire_queued: bool,
    hook_tx: mpsc::UnboundedSender<HookDone>,
    listen_waiters: Vec<oneshot::Sender<Vec<Multiaddr>>>,
    /// Listeners not closed yet.
    active_listeners: usize,
    /// Identify agent versions of connected peers.
    agents: HashMap<PeerId, String>,
}

impl Node {
    async fn run(
        mut self,
        mut commands: mpsc::Receiver<Command>,
        mut hook_done: mpsc::UnboundedReceiver<HookDone>,
    ) {
        let mut tick = tokio::time::interval(EXPIRY_TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                event = self.swarm.select_next_some() => self.on_swarm_event(event),
                command = commands.recv() => match command {
                    Some(Command::Shutdown(done)) => {
                        tracing::info!("rendezvous node shutting down");
                        drop(self);
                        let _ = done.send(());
                        return;
                    }
                    Some(command) => self.on_command(command),
                    None => {
                        tracing::info!("all handles dropped, rendezvous node stopping");
                        return;
                    }
                },
                Some(done) = hook_done.recv() => self.on_hook_done(done),
                _ = tick.tick() => self.on_tick(),
            }
        }
    }

    fn on_command(&mut self, command: Command) {
        match command {
            Command::ListenAddrs(reply) => {
                let addrs: Vec<Multiaddr> = self.swarm.listeners().cloned().collect();
                if addrs.is_empty() && self.active_listeners > 0 {
                    self.listen_waiters.push(reply);
                } else {
                    let _ = reply.send(addrs);
                }
            }
            Command::Registrations { namespace, reply } => {
                let regs = self
                    .registry
                    .list(namespace.as_deref(), now_unix())
                    .into_iter()
                    .cloned()
                    .collect();
                let _ = reply.send(regs);
            }
            Command::Shutdown(_) => {}
        }
    }

    fn on_tick(&mut self) {
        let due = self
            .registry
            .next_expiry()
            .is_some_and(|at| at <= now_unix());
        if due && !self.expire_queued {
            self.expire_queued = true;
            self.changes.push_back(Change::Expire);
            self.start_next_change();
        }
    }

    fn on_swarm_event(&mut self, event: SwarmEvent<NodeBehaviourEvent>) {
        match event {
            SwarmEvent::NewListenAddr { address, .. } => {
                tracing::info!(%address, "listening");
                let addrs: Vec<Multiaddr> = self.swarm.listeners().cloned().collect();
                for waiter in self.listen_waiters.drain(..) {
                    let _ = waiter.send(addrs.clone());
                }
            }
            SwarmEvent::ListenerClosed {
                addresses, reason, ..
            } => {
                tracing::warn!(?addresses, ?reason, "listener closed");
                self.active_listeners = self.active_listeners.saturating_sub(1);
                if self.active_listeners == 0 {
                    for waiter in self.listen_waiters.drain(..) {
                        let _ = waiter.send(Vec::new());
                    }
                }
            }
            SwarmEvent::ListenerError { error, .. } => {
                tracing::warn!(%error, "listener error");
            }
            SwarmEvent::ConnectionEstablished { peer_id, .. } => {
                tracing::debug!(peer = %crate::redact::tag(&peer_id), "connection established");
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established,
                cause,
                ..
            } => {
                tracing::debug!(peer = %crate::redact::tag(&peer_id), ?cause, "connection closed");
                if num_established == 0 {
                    self.agents.remove(&peer_id);
                }
            }
            SwarmEvent::IncomingConnectionError { error, .. } => {
                tracing::debug!(%error, "incoming connection failed");
            }
            SwarmEvent::Behaviour(NodeBehaviourEvent::Identify(identify::Event::Received {
                peer_id,
                info,
                ..
            })) => {
                tracing::debug!(peer = %crate::redact::tag(&peer_id), agent = %info.agent_version, "identified peer");
                self.agents.insert(peer_id, info.agent_version);
            }
            SwarmEvent::Behaviour(NodeBehaviourEvent::Rendezvous(event)) => {
                self.on_rendezvous_event(event)
            }
            _ => {}
        }
    }

    fn on_rendezvous_event(&mut self, event: request_response::Event<Message, Message>) {
        match event {
            request_response::Event::Message {
                peer,
                message:
                    request_response::Message::Request {
                        request, channel, ..
                    },
                ..
            } => self.on_request(peer, request, channel),
            request_response::Event::InboundFailure {
                peer,
                error: InboundFailure::ResponseOmission,
                ..
            } => {
                // Expected after UNREGISTER, which has no response.
                tracing::trace!(peer = %crate::redact::tag(&peer), "stream closed without response");
            }
            request_response::Event::InboundFailure { peer, error, .. } => {
                tracing::debug!(peer = %crate::redact::tag(&peer), %error, "inbound rendezvous request failed");
            }
            _ => {}
        }
    }

    fn respond(&mut self, channel: ResponseChannel<Message>, response: Message) {
        if self
            .swarm
            .behaviour_mut()
            .rendezvous
            .send_response(channel, response)
            .is_err()
        {
            tracing::debug!("rendezvous response dropped: stream already closed");
        }
    }

    fn on_request(&mut self, peer: PeerId, request: Message, channel: ResponseChannel<Message>) {
        match request.kind() {
            Some(MessageType::Register) => {
                let body = request.register.unwrap_or_default();
                match check_register(peer, body) {
                    Ok(new) => {
                        if self.changes.len() >= MAX_PENDING_CHANGES {
                            tracing::warn!(peer = %crate::redact::tag(&peer), "registration queue full");
                            let msg = Message::register_error(
                                ResponseStatus::EUnavailable,
                                "node busy, retry later",
                            );
                            self.respond(channel, msg);
                            return;
                        }
                        self.changes.push_back(Change::Register { new, channel });
                        self.start_next_change();
                    }
                    Err((status, text)) => {
                        tracing::info!(peer = %crate::redact::tag(&peer), %status, "registration refused");
                        self.respond(channel, Message::register_error(status, text));
                    }
                }
            }
            Some(MessageType::Unregister) => {
                // The protocol has no UNREGISTER response: rust-libp2p's and
                // go-libp2p's clients do not read one, so the channel is
                // dropped and the stream closed.
                drop(channel);
                let body = request.unregister.unwrap_or_default();
                let Some(namespace) = body.ns.filter(|ns| valid_namespace(ns)) else {
                    tracing::debug!(peer = %crate::redact::tag(&peer), "UNREGISTER with invalid namespace ignored");
                    return;
                };
                if let Some(id) = body.id {
                    if PeerId::from_bytes(&id).ok() != Some(peer) {
                        tracing::info!(peer = %crate::redact::tag(&peer), "UNREGISTER for another peer ignored");
                        return;
                    }
                }
                if self.changes.len() >= MAX_PENDING_CHANGES {
                    tracing::warn!(peer = %crate::redact::tag(&peer), "change queue full, UNREGISTER dropped");
                    return;
                }
                self.changes
                    .push_back(Change::Unregister { peer, namespace });
                self.start_next_change();
            }
            Some(MessageType::Discover) => {
                let response = self.discover(peer, request.discover.unwrap_or_default());
                self.respond(channel, response);
            }
            other => {
                tracing::debug!(peer = %crate::redact::tag(&peer), kind = ?other, "unexpected rendezvous message ignored");
            }
        }
    }

    /// Whether `peer`'s client is expected to reject standard-domain records
    /// in a discovery response. rust-libp2p's rendezvous client (0.18) opens
    /// every record with the legacy domain and fails the whole response on
    /// the first other one; it is recognised by a live legacy registration
    /// or by rust-libp2p's default identify agent version.
    fn legacy_only(&self, peer: &PeerId, now: u64) -> bool {
        self.registry.holds_domain(peer, RecordDomain::Legacy, now)
            || self
                .agents
                .get(peer)
                .is_some_and(|a| a.starts_with(RUST_LIBP2P_AGENT_PREFIX))
    }

    fn discover(&self, peer: PeerId, req: super::protocol::Discover) -> Message {
        let now = now_unix();
        let namespace = req.ns.filter(|ns| !ns.is_empty());
        let result =
            self.registry
                .discover(namespace.as_deref(), req.limit, req.cookie.as_deref(), now);
        let (found, cookie) = match result {
            Ok(found) => found,
            Err(e) => {
                tracing::debug!(peer = %crate::redact::tag(&peer), error = %e, "discovery refused");
                return Message::discover_error(e.status(), e.to_string());
            }
        };
        let legacy_only = self.legacy_only(&peer, now);
        let budget = MAX_MESSAGE_LEN - DISCOVER_RESPONSE_SLACK;
        let mut size = 0;
        let mut last_passed = None;
        let mut truncated = false;
        let mut out = Vec::with_capacity(found.len());
        for reg in found {
            if legacy_only && reg.domain != RecordDomain::Legacy {
                last_passed = Some(reg.serial);
                continue;
            }
            let entry = Register {
                ns: Some(reg.namespace.clone()),
                signed_peer_record: Some(reg.envelope.clone()),
                ttl: Some(reg.remaining_ttl(now).max(1)),
            };
            // Field tag plus length prefix take at most 4 bytes here.
            let len = entry.encoded_len() + 4;
            if size + len > budget {
                truncated = true;
                break;
            }
            size += len;
            last_passed = Some(reg.serial);
            out.push(entry);
        }
        let cookie = match (truncated, last_passed) {
            (true, Some(serial)) => Cookie { serial, namespace }.encode(),
            _ => cookie,
        };
        tracing::debug!(peer = %crate::redact::tag(&peer), returned = out.len(), legacy_only, truncated, "discovery served");
        Message::discover_ok(out, cookie)
    }

    /// Starts the next queued change unless a hook call is in progress.
    fn start_next_change(&mut self) {
        while !self.busy {
            let Some(change) = self.changes.pop_front() else {
                return;
            };
            let now = now_unix();
            match change {
                Change::Register { new, channel } => {
                    if !channel.is_open() {
                        tracing::debug!(peer = %crate::redact::tag(&new.peer), "registration abandoned by the peer");
                        continue;
                    }
                    match self.registry.prepare(new.clone(), now) {
                        Ok(reg) => {
                            self.busy = true;
                            let hook = self.hook.clone();
                            let done = self.hook_tx.clone();
                            let event = RegistrationEvent::Registered(reg.clone());
                            tokio::spawn(async move {
                                let outcome = call_hook(hook, event).await;
                                let _ = done.send(HookDone::Register {
                                    reg: Box::new(reg),
                                    channel,
                                    outcome,
                                });
                            });
                        }
                        Err(e) => {
                            tracing::info!(peer = %crate::redact::tag(&new.peer), namespace = %new.namespace, error = %e, "registration refused");
                            self.respond(
                                channel,
                                Message::register_error(e.status(), e.to_string()),
                            );
                        }
                    }
                }
                Change::Unregister { peer, namespace } => {
                    if self.registry.unregister(&peer, &namespace) {
                        tracing::info!(peer = %crate::redact::tag(&peer), %namespace, "unregistered");
                        self.notify(vec![RegistrationEvent::Unregistered { peer, namespace }]);
                    }
                }
                Change::Expire => {
                    self.expire_queued = false;
                    let expired = self.registry.expire(now);
                    for reg in &expired {
                        tracing::info!(peer = %crate::redact::tag(&reg.peer), namespace = %reg.namespace, "registration expired");
                    }
                    if !expired.is_empty() {
                        self.notify(
                            expired
                                .into_iter()
                                .map(RegistrationEvent::Expired)
                                .collect(),
                        );
                    }
                }
            }
        }
    }

    /// Calls the hook for `events` in order in a separate task.
    fn notify(&mut self, events: Vec<RegistrationEvent>) {
        self.busy = true;
        let hook = self.hook.clone();
        let done = self.hook_tx.clone();
        tokio::spawn(async move {
            for event in events {
                let (kind, peer, namespace) = match &event {
                    RegistrationEvent::Registered(r) => ("registered", r.peer, r.namespace.clone()),
                    RegistrationEvent::Unregistered { peer, namespace } => {
                        ("unregistered", *peer, namespace.clone())
                    }
                    RegistrationEvent::Expired(r) => ("expired", r.peer, r.namespace.clone()),
                };
                if let Err(error) = call_hook(hook.clone(), event).await {
                    tracing::warn!(%error, kind, peer = %crate::redact::tag(&peer), %namespace, "registration hook failed");
                }
            }
            let _ = done.send(HookDone::Notified);
        });
    }

    fn on_hook_done(&mut self, done: HookDone) {
        self.busy = false;
        if let HookDone::Register {
            reg,
            channel,
            outcome,
        } = done
        {
            match outcome {
                Ok(()) => {
                    let stored = self.registry.commit(*reg);
                    let ttl = stored.ttl_secs;
                    tracing::info!(
                        peer = %crate::redact::tag(&stored.peer),
                        namespace = %stored.namespace,
                        ttl,
                        domain = %stored.domain,
                        addrs = stored.addrs.len(),
                        "registered"
                    );
                    self.respond(channel, Message::register_ok(ttl));
                }
                Err(error) => {
                    tracing::warn!(peer = %crate::redact::tag(&reg.peer), namespace = %reg.namespace, %error, "registration hook failed, registration refused");
                    self.respond(
                        channel,
                        Message::register_error(ResponseStatus::EInternalError, error),
                    );
                }
            }
        }
        self.start_next_change();
    }
}

/// Runs the hook in its own task so that a panic or a timeout becomes an
/// error instead of stalling the change queue.
async fn call_hook(hook: RegistrationHook, event: RegistrationEvent) -> Result<(), String> {
    let task = tokio::spawn(async move {
        let fut: BoxFuture<'static, Result<(), String>> = hook(event);
        tokio::time::timeout(HOOK_TIMEOUT, fut).await
    });
    match task.await {
        Ok(Ok(result)) => result,
        Ok(Err(_)) => Err(format!(
            "registration hook timed out after {}s",
            HOOK_TIMEOUT.as_secs()
        )),
        Err(e) => Err(format!("registration hook failed: {e}")),
    }
}

/// Validates the parts of a `REGISTER` that do not depend on the table:
/// namespace, envelope (size, encoding, signature, either domain) and that
/// the record was signed by the connection's authenticated peer.
fn check_register(
    peer: PeerId,
    body: Register,
) -> Result<NewRegistration, (ResponseStatus, String)> {
    let namespace = body.ns.filter(|ns| valid_namespace(ns)).ok_or_else(|| {
        (
            ResponseStatus::EInvalidNamespace,
            "namespace must be 1 to 255 bytes long".to_owned(),
        )
    })?;
    let envelope = body.signed_peer_record.ok_or_else(|| {
        (
            ResponseStatus::EInvalidSignedPeerRecord,
            "missing signed peer record".to_owned(),
        )
    })?;
    if envelope.len() > MAX_ENVELOPE_LEN {
        return Err((
            ResponseStatus::EInvalidSignedPeerRecord,
            format!("signed peer record larger than {MAX_ENVELOPE_LEN} bytes"),
        ));
    }
    let (record, domain) = open_record(&envelope)
        .map_err(|e| (ResponseStatus::EInvalidSignedPeerRecord, e.to_string()))?;
    if record.peer_id() != peer {
        return Err((
            ResponseStatus::ENotAuthorized,
            format!(
                "record signed by {} but the connection is authenticated as {peer}",
                record.peer_id()
            ),
        ));
    }
    Ok(NewRegistration {
        peer,
        namespace,
        addrs: record.addresses().to_vec(),
        ttl_secs: body.ttl,
        envelope,
        domain,
    })
}

#[cfg(test)]
mod tests {
    use std::sync::{
        atomic::{AtomicBool, Ordering},
        Mutex,
    };

    use futures::FutureExt;
    use libp2p::{
        multiaddr::Protocol,
        rendezvous::{self, Namespace},
    };

    use super::super::{
        client::{self, ClientError},
        protocol::seal_record,
    };
    use super::*;

    const WAIT: Duration = Duration::from_secs(10);

    async fn within<T>(fut: impl std::future::Future<Output = T>) -> T {
        tokio::time::timeout(WAIT, fut).await.expect("timed out")
    }

    #[derive(Clone, Default)]
    struct Recorder {
        events: Arc<Mutex<Vec<RegistrationEvent>>>,
        fail: Arc<AtomicBool>,
    }

    impl Recorder {
        fn hook(&self) -> RegistrationHook {
            let this = self.clone();
            Arc::new(move |event| {
                let this = this.clone();
                async move {
                    if this.fail.load(Ordering::SeqCst) {
                        return Err("ledger unavailable".to_owned());
                    }
                    this.events.lock().expect("lock").push(event);
                    Ok(())
                }
                .boxed()
            })
        }

        fn events(&self) -> Vec<RegistrationEvent> {
            self.events.lock().expect("lock").clone()
        }
    }

    struct TestNode {
        handle: P2pHandle,
        addr: Multiaddr,
        recorder: Recorder,
    }

    async fn start(limits: RegistryLimits, restore: Vec<Registration>) -> TestNode {
        let recorder = Recorder::default();
        let config = NodeConfig {
            keypair: Keypair::generate_ed25519(),
            listen: vec!["/ip4/127.0.0.1/tcp/0".parse().expect("multiaddr")],
            limits,
            restore,
        };
        let handle = spawn(config, recorder.hook()).await.expect("spawn");
        let addrs = within(handle.listen_addrs()).await;
        let addr = addrs
            .into_iter()
            .next()
            .expect("bound address")
            .with(Protocol::P2p(handle.peer_id()));
        TestNode {
            handle,
            addr,
            recorder,
        }
    }

    fn ext_addr() -> Multiaddr {
        "/ip4/192.0.2.7/tcp/4001".parse().expect("multiaddr")
    }

    /// A swarm running rust-libp2p's own rendezvous client (legacy domain).
    struct RustClient {
        swarm: Swarm<rendezvous::client::Behaviour>,
        node: PeerId,
    }

    impl RustClient {
        async fn connect(node: &TestNode) -> Self {
            let mut swarm = libp2p::SwarmBuilder::with_new_identity()
                .with_tokio()
                .with_tcp(
                    tcp::Config::default(),
                    noise::Config::new,
                    yamux::Config::default,
                )
                .expect("transport")
                .with_behaviour(|key| rendezvous::client::Behaviour::new(key.clone()))
                .expect("behaviour")
                .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(30)))
                .build();
            swarm.add_external_address(ext_addr());
            swarm.dial(node.addr.clone()).expect("dial");
            let peer = node.handle.peer_id();
            within(async {
                loop {
                    if let SwarmEvent::ConnectionEstablished { peer_id, .. } =
                        swarm.select_next_some().await
                    {
                        assert_eq!(peer_id, peer);
                        break;
                    }
                }
            })
            .await;
            RustClient { swarm, node: peer }
        }

        fn peer_id(&self) -> PeerId {
            *self.swarm.local_peer_id()
        }

        async fn next_event(&mut self) -> rendezvous::client::Event {
            within(async {
                loop {
                    if let SwarmEvent::Behaviour(event) = self.swarm.select_next_some().await {
                        return event;
                    }
                }
            })
            .await
        }

        async fn register(&mut self, ns: &'static str) -> rendezvous::client::Event {
            self.swarm
                .behaviour_mut()
                .register(Namespace::from_static(ns), self.node, None)
                .expect("register request");
            self.next_event().await
        }

        async fn discover(
            &mut self,
            ns: &'static str,
            cookie: Option<rendezvous::Cookie>,
        ) -> rendezvous::client::Event {
            self.swarm.behaviour_mut().discover(
                Some(Namespace::from_static(ns)),
                cookie,
                None,
                self.node,
            );
            self.next_event().await
        }
    }

    /// Polls the node until `check` holds for its registrations.
    async fn until_registrations(
        handle: &P2pHandle,
        ns: &str,
        check: impl Fn(&[Registration]) -> bool,
    ) -> Vec<Registration> {
        within(async {
            loop {
                let regs = handle.registrations(Some(ns.to_owned())).await;
                if check(&regs) {
                    return regs;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
    }

    #[tokio::test]
    async fn rust_libp2p_client_registers_and_discovers() {
        let node = start(RegistryLimits::default(), Vec::new()).await;
        let mut rust = RustClient::connect(&node).await;
        let me = rust.peer_id();

        for _ in 0..2 {
            match rust.register("ns").await {
                rendezvous::client::Event::Registered { ttl, namespace, .. } => {
                    assert_eq!(ttl, 7200);
                    assert_eq!(namespace, Namespace::from_static("ns"));
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        let events = node.recorder.events();
        assert_eq!(events.len(), 2, "hook called once per REGISTER");
        for event in &events {
            let RegistrationEvent::Registered(reg) = event else {
                panic!("unexpected {event:?}");
            };
            assert_eq!(reg.peer, me);
            assert_eq!(reg.domain, RecordDomain::Legacy);
            assert_eq!(reg.addrs, vec![ext_addr()]);
        }
        assert_eq!(node.handle.registrations(None).await.len(), 1);

        let cookie = match rust.discover("ns", None).await {
            rendezvous::client::Event::Discovered {
                registrations,
                cookie,
                ..
            } => {
                assert_eq!(registrations.len(), 1);
                assert_eq!(registrations[0].record.peer_id(), me);
                assert_eq!(registrations[0].record.addresses(), &[ext_addr()]);
                assert!(registrations[0].ttl > 7000);
                cookie
            }
            other => panic!("unexpected {other:?}"),
        };
        match rust.discover("ns", Some(cookie)).await {
            rendezvous::client::Event::Discovered { registrations, .. } => {
                assert!(registrations.is_empty(), "cookie must skip seen ones")
            }
            other => panic!("unexpected {other:?}"),
        }
        node.handle.shutdown().await;
    }

    #[tokio::test]
    async fn standard_domain_client_registers() {
        let node = start(RegistryLimits::default(), Vec::new()).await;
        let key = Keypair::generate_ed25519();
        let ttl = client::register(
            &key,
            node.handle.peer_id(),
            node.addr.clone(),
            "go-app",
            Some(3600 * 3),
            RecordDomain::Standard,
            vec![ext_addr()],
        )
        .await
        .expect("register");
        assert_eq!(ttl, 3600 * 3);

        let events = node.recorder.events();
        assert_eq!(events.len(), 1);
        let RegistrationEvent::Registered(reg) = &events[0] else {
            panic!("unexpected {events:?}");
        };
        assert_eq!(reg.domain, RecordDomain::Standard);
        assert_eq!(reg.peer, key.public().to_peer_id());
        assert_eq!(reg.namespace, "go-app");
        assert_eq!(reg.ttl_secs, 3600 * 3);
        assert_eq!(
            open_record(&reg.envelope).expect("stored as received").1,
            RecordDomain::Standard
        );

        let other = Keypair::generate_ed25519();
        let found = client::discover(
            &other,
            node.handle.peer_id(),
            node.addr.clone(),
            Some("go-app"),
        )
        .await
        .expect("discover");
        assert_eq!(found, vec![(key.public().to_peer_id(), vec![ext_addr()])]);

        // An empty address list is a valid record.
        let bare = Keypair::generate_ed25519();
        client::register(
            &bare,
            node.handle.peer_id(),
            node.addr.clone(),
            "go-app",
            None,
            RecordDomain::Standard,
            Vec::new(),
        )
        .await
        .expect("register without addresses");
        assert_eq!(
            node.handle.registrations(Some("go-app".into())).await.len(),
            2
        );
    }

    #[tokio::test]
    async fn record_of_another_peer_is_not_authorized() {
        let node = start(RegistryLimits::default(), Vec::new()).await;
        let sender = Keypair::generate_ed25519();
        let signer = Keypair::generate_ed25519();
        let envelope =
            seal_record(&signer, vec![ext_addr()], RecordDomain::Standard).expect("seal");
        let response = client::request(
            &sender,
            node.handle.peer_id(),
            node.addr.clone(),
            Message::new_register("ns", envelope, None),
        )
        .await
        .expect("response");
        let body = response.register_response.expect("register response");
        assert_eq!(body.status, Some(ResponseStatus::ENotAuthorized as i32));
        assert_eq!(body.ttl, None);

        let response = client::request(
            &sender,
            node.handle.peer_id(),
            node.addr.clone(),
            Message::new_register("ns", b"garbage".to_vec(), None),
        )
        .await
        .expect("response");
        let body = response.register_response.expect("register response");
        assert_eq!(
            body.status,
            Some(ResponseStatus::EInvalidSignedPeerRecord as i32)
        );

        assert!(node.recorder.events().is_empty(), "hook must not be called");
        assert!(node.handle.registrations(None).await.is_empty());
    }

    #[tokio::test]
    async fn ttl_below_minimum_is_rejected() {
        let node = start(RegistryLimits::default(), Vec::new()).await;
        let key = Keypair::generate_ed25519();
        let err = client::register(
            &key,
            node.handle.peer_id(),
            node.addr.clone(),
            "ns",
            Some(60),
            RecordDomain::Legacy,
            vec![ext_addr()],
        )
        .await
        .expect_err("ttl too small");
        match err {
            ClientError::Rejected { status, text } => {
                assert_eq!(status, ResponseStatus::EInvalidTtl);
                assert!(text.contains("60"), "{text}");
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(node.recorder.events().is_empty());
        assert!(node.handle.registrations(None).await.is_empty());
    }

    #[tokio::test]
    async fn failing_hook_refuses_registration() {
        let node = start(RegistryLimits::default(), Vec::new()).await;
        node.recorder.fail.store(true, Ordering::SeqCst);
        let key = Keypair::generate_ed25519();
        let register = || {
            client::register(
                &key,
                node.handle.peer_id(),
                node.addr.clone(),
                "ns",
                None,
                RecordDomain::Standard,
                vec![ext_addr()],
            )
        };
        match register().await.expect_err("hook fails") {
            ClientError::Rejected { status, text } => {
                assert_eq!(status, ResponseStatus::EInternalError);
                assert_eq!(text, "ledger unavailable");
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(node.handle.registrations(None).await.is_empty());
        let other = Keypair::generate_ed25519();
        let found = client::discover(&other, node.handle.peer_id(), node.addr.clone(), None)
            .await
            .expect("discover");
        assert!(found.is_empty());

        node.recorder.fail.store(false, Ordering::SeqCst);
        assert_eq!(register().await.expect("hook recovered"), 7200);
        assert_eq!(node.handle.registrations(None).await.len(), 1);
    }

    #[tokio::test]
    async fn unregister_removes_from_discovery() {
        let node = start(RegistryLimits::default(), Vec::new()).await;
        let mut rust = RustClient::connect(&node).await;
        let me = rust.peer_id();
        assert!(matches!(
            rust.register("ns").await,
            rendezvous::client::Event::Registered { .. }
        ));
        rust.swarm
            .behaviour_mut()
            .unregister(Namespace::from_static("ns"), rust.node);
        // No response exists for UNREGISTER: wait for the node to apply it
        // while driving the client swarm.
        within(async {
            loop {
                tokio::select! {
                    _ = rust.swarm.select_next_some() => {}
                    _ = tokio::time::sleep(Duration::from_millis(20)) => {
                        if node.handle.registrations(None).await.is_empty() {
                            break;
                        }
                    }
                }
            }
        })
        .await;
        // The same client keeps working on the same node after UNREGISTER.
        match rust.discover("ns", None).await {
            rendezvous::client::Event::Discovered { registrations, .. } => {
                assert!(registrations.is_empty())
            }
            other => panic!("unexpected {other:?}"),
        }
        let events = within(async {
            loop {
                let events = node.recorder.events();
                if events.len() == 2 {
                    return events;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
        assert_eq!(
            events[1],
            RegistrationEvent::Unregistered {
                peer: me,
                namespace: "ns".into()
            }
        );

        // The same through the crate's client (go-libp2p style, with id).
        let key = Keypair::generate_ed25519();
        let (id, addr) = (node.handle.peer_id(), node.addr.clone());
        client::register(
            &key,
            id,
            addr.clone(),
            "ns",
            None,
            RecordDomain::Standard,
            Vec::new(),
        )
        .await
        .expect("register");
        client::unregister(&key, id, addr, "ns")
            .await
            .expect("unregister");
        until_registrations(&node.handle, "ns", |regs| regs.is_empty()).await;
    }

    #[tokio::test]
    async fn rust_client_is_served_only_legacy_records() {
        let node = start(RegistryLimits::default(), Vec::new()).await;
        let mut rust = RustClient::connect(&node).await;
        let me = rust.peer_id();
        assert!(matches!(
            rust.register("mix").await,
            rendezvous::client::Event::Registered { .. }
        ));
        let go = Keypair::generate_ed25519();
        let (id, addr) = (node.handle.peer_id(), node.addr.clone());
        client::register(
            &go,
            id,
            addr.clone(),
            "mix",
            None,
            RecordDomain::Standard,
            vec![ext_addr()],
        )
        .await
        .expect("register");

        match rust.discover("mix", None).await {
            rendezvous::client::Event::Discovered { registrations, .. } => {
                let peers: Vec<PeerId> = registrations.iter().map(|r| r.record.peer_id()).collect();
                assert_eq!(peers, vec![me]);
            }
            other => panic!("unexpected {other:?}"),
        }
        let found = client::discover(&go, id, addr, Some("mix"))
            .await
            .expect("discover");
        let peers: Vec<PeerId> = found.iter().map(|(p, _)| *p).collect();
        assert_eq!(peers, vec![me, go.public().to_peer_id()]);
    }

    #[tokio::test]
    async fn registrations_expire_and_hook_is_told() {
        let limits = RegistryLimits {
            min_ttl_secs: 1,
            max_ttl_secs: 10,
            default_ttl_secs: 1,
            ..RegistryLimits::default()
        };
        let node = start(limits, Vec::new()).await;
        let key = Keypair::generate_ed25519();
        let (id, addr) = (node.handle.peer_id(), node.addr.clone());
        client::register(
            &key,
            id,
            addr,
            "ns",
            Some(1),
            RecordDomain::Standard,
            Vec::new(),
        )
        .await
        .expect("register");
        until_registrations(&node.handle, "ns", |regs| regs.is_empty()).await;
        let events = within(async {
            loop {
                let events = node.recorder.events();
                if events.len() == 2 {
                    return events;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
        let RegistrationEvent::Expired(reg) = &events[1] else {
            panic!("unexpected {events:?}");
        };
        assert_eq!(reg.peer, key.public().to_peer_id());
    }

    #[tokio::test]
    async fn restored_registrations_are_served() {
        let key = Keypair::generate_ed25519();
        let now = now_unix();
        let live = Registration {
            peer: key.public().to_peer_id(),
            namespace: "ns".into(),
            addrs: vec![ext_addr()],
            ttl_secs: 7200,
            expires_at_unix: now + 3600,
            envelope: seal_record(&key, vec![ext_addr()], RecordDomain::Standard).expect("seal"),
            domain: RecordDomain::Standard,
            serial: 4,
        };
        let old_key = Keypair::generate_ed25519();
        let expired = Registration {
            peer: old_key.public().to_peer_id(),
            expires_at_unix: now - 1,
            serial: 3,
            ..live.clone()
        };
        let node = start(RegistryLimits::default(), vec![expired, live.clone()]).await;
        assert_eq!(node.handle.registrations(None).await, vec![live]);
        let found = client::discover(&old_key, node.handle.peer_id(), node.addr.clone(), None)
            .await
            .expect("discover");
        assert_eq!(found, vec![(key.public().to_peer_id(), vec![ext_addr()])]);
        assert!(node.recorder.events().is_empty());
    }

    #[tokio::test]
    async fn large_discovery_is_paged_within_message_cap() {
        let now = now_unix();
        let addrs: Vec<Multiaddr> = (0..100)
            .map(|i| {
                format!("/ip4/198.51.100.{i}/tcp/4001")
                    .parse()
                    .expect("multiaddr")
            })
            .collect();
        let regs: Vec<Registration> = (0..150u64)
            .map(|i| {
                let key = Keypair::generate_ed25519();
                let envelope =
                    seal_record(&key, addrs.clone(), RecordDomain::Standard).expect("seal");
                Registration {
                    peer: key.public().to_peer_id(),
                    namespace: "big".into(),
                    addrs: addrs.clone(),
                    ttl_secs: 7200,
                    expires_at_unix: now + 7200,
                    envelope,
                    domain: RecordDomain::Standard,
                    serial: i + 1,
                }
            })
            .collect();
        let total: usize = regs.iter().map(|r| r.envelope.len()).sum();
        assert!(total > 3 * MAX_MESSAGE_LEN, "needs several pages");
        let expected: Vec<PeerId> = regs.iter().map(|r| r.peer).collect();
        let node = start(RegistryLimits::default(), regs).await;

        // One raw DISCOVER: a full page, under the cap, with a cookie.
        let key = Keypair::generate_ed25519();
        let response = client::request(
            &key,
            node.handle.peer_id(),
            node.addr.clone(),
            Message::new_discover(Some("big"), None, None),
        )
        .await
        .expect("response");
        assert!(response.encoded_len() <= MAX_MESSAGE_LEN);
        let body = response.discover_response.expect("discover response");
        assert!(!body.registrations.is_empty() && body.registrations.len() < 150);
        let cookie = Cookie::decode(&body.cookie.expect("cookie")).expect("valid cookie");
        assert_eq!(cookie.serial, body.registrations.len() as u64);

        // The client follows cookies and gets every peer once, in order.
        let found = client::discover(&key, node.handle.peer_id(), node.addr.clone(), Some("big"))
            .await
            .expect("discover");
        let peers: Vec<PeerId> = found.iter().map(|(p, _)| *p).collect();
        assert_eq!(peers, expected);
        assert!(found.iter().all(|(_, a)| *a == addrs));
    }

    #[tokio::test]
    async fn wrong_node_id_fails_to_connect() {
        let node = start(RegistryLimits::default(), Vec::new()).await;
        let key = Keypair::generate_ed25519();
        let (base, named) = client::split_p2p(&node.addr);
        assert_eq!(named, Some(node.handle.peer_id()));
        let err = client::discover(&key, PeerId::random(), base, None)
            .await
            .expect_err("wrong peer id");
        assert!(matches!(err, ClientError::Dial(_)), "{err:?}");
        let err = client::discover(&key, PeerId::random(), node.addr.clone(), None)
            .await
            .expect_err("mismatching /p2p");
        assert!(matches!(err, ClientError::PeerIdMismatch { .. }), "{err:?}");
    }
}
