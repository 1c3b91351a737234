//! The RedRoomRewards v1 dialect (rrr-xcn-api-contract-v1.md): loyalty points on the
//! same ledger. So far its settings ([`settings`]); its routes are not mounted yet, and
//! `[[tenants]]` does not accept `mode = "rrr"` until they are.

pub mod settings;

pub use settings::RrrTenant;
