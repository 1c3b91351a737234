//! Wire dialects: each translates its spec's requests into units of work on the
//! ledger core and renders the outcome in its own format. One folder per dialect,
//! each with the same shape:
//!
//! - `mod.rs`: the dialect's state and `mount(cfg, state)`, which mounts its routes,
//!   its body and query error rendering, and its own 404 under its prefixes;
//! - `routes.rs`: handlers (extract, one unit of work or one read, render);
//! - `ops.rs`: the units of work on the core;
//! - `repo.rs`: the dialect's own tables, as traits each storage backend implements;
//! - `wire.rs`, `error.rs`: its request and response shapes and its error body;
//! - `settings.rs`: its part of the configuration (Roochip: its `[[tenants]]` variant).
//!
//! No dialect imports another; `app.rs` is the only module that names them all.

pub mod goop2;
pub mod roochip;
pub mod rrr;
