//! Webhook delivery of outbox events, shared by every dialect.

pub mod routes;
