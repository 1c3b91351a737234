//! Integration tests: each test starts a whole node (ledger, catalog, libp2p swarm,
//! HTTP server) on loopback ports in a temporary data folder and talks to it as real
//! peers do: rust-libp2p swarms, real Ed25519 keys, HTTP with libp2p-PeerID.
//!
//! One binary on purpose: every file directly under `tests/` would link the whole
//! dependency tree again.

mod bad_input;
mod browser;
mod campaigns;
mod cluster;
mod common;
mod concurrency;
mod console;
mod durability;
mod goop2_flows;
mod iap;
mod ops;
mod p2p_registration;
mod payments;
mod peer_auth;
mod roochip;
mod rrr;
mod storage_full;
mod store_ui;
mod webhooks;
