//! Who is calling: Goop2 peers (libp2p-PeerID HTTP authentication, or the legacy
//! header when the operator trusts it), tenant servers (API keys) and the operator
//! (admin token).

pub mod admin;
pub mod api_key;
pub mod oauth;
pub mod peer;
pub mod peer_id_auth;

pub use admin::{AdminAuth, AdminAuthError};
pub use api_key::{ApiKeyGrant, ApiKeys, KeyRole};
pub use peer::{PeerAuthFailure, PeerAuthenticator, PeerIdentity};
