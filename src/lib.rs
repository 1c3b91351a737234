//! rendezvous-credits: a libp2p rendezvous node with an embedded, durable credit ledger.
//!
//! Layout (see DESIGN.md): [`ledger`] is the core and the only code that moves money;
//! it knows no dialect and no storage engine. [`store`] holds the storage engines
//! behind the core's backend traits (SQLite in `store/sqlite/`). [`p2p`] is the
//! libp2p node; [`auth`] identifies callers; [`catalog`] loads templates;
//! [`dialects`] hold one folder per wire dialect, each mounting its own routes and
//! state; [`webhooks`] delivers outbox events; [`http`] holds the shared HTTP pieces;
//! [`app`] is the one wiring root that builds and stops it all.

pub mod app;
pub mod auth;
pub mod catalog;
pub mod client;
pub mod config;
pub mod console;
pub mod dialects;
pub mod http;
pub mod ledger;
pub mod p2p;
pub mod payments;
pub mod peer_ui;
pub mod redact;
pub mod secret;
pub mod store;
pub mod web;
pub mod webhooks;
