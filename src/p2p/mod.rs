//! libp2p side of the node: a rendezvous server (`/rendezvous/1.0.0`) that
//! accepts signed peer records sealed in the standard domain (go-libp2p,
//! js-libp2p) as well as in rust-libp2p's legacy domain, plus a minimal
//! client for the same protocol.
//!
//! - [`protocol`]: wire messages, codec, cookies, record sealing/opening.
//! - [`registry`]: the in-memory registration table and its rules.
//! - [`node`]: the swarm and its [`P2pHandle`].
//! - [`client`]: one-shot `register` / `discover` calls against a node.

pub mod client;
pub mod directory;
pub mod identity;
pub mod node;
pub mod protocol;
pub mod registry;

pub use identity::{load_or_create_key, KeyError, NodeInfo};
pub use node::{spawn, NodeConfig, P2pError, P2pHandle, RegistrationEvent, RegistrationHook};
pub use protocol::{open_record, RecordDomain, RecordError, ResponseStatus, PROTOCOL};
pub use registry::{Registration, Registry, RegistryLimits};
