//! rendezvous-credits: a libp2p rendezvous node with an embedded, durable credit ledger.
//!
//! Layout (see DESIGN.md): [`ledger`] is the core and the only writer of money;
//! [`store`] opens SQLite and migrates the schema; [`p2p`] is the libp2p node;
//! [`auth`] identifies callers; [`catalog`] loads templates; [`dialects`] hold one
//! folder per wire dialect; [`http`] builds the app; [`server`] starts and stops it all.

pub mod auth;
pub mod catalog;
pub mod client;
pub mod config;
pub mod dialects;
pub mod http;
pub mod ledger;
pub mod p2p;
pub mod redact;
pub mod server;
pub mod store;
pub mod webhooks;
