//! Tenant API keys (`X-API-Key`): kept only as SHA-256 digests, looked up by the
//! digest of the presented key. A key belongs to one tenant and has one role.

use std::collections::HashMap;

use crate::ledger::TenantId;
use crate::secret::sha256_hex;

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyRole {
    /// Server routes of its tenant (balances, rewards, deducts, codes, checkout).
    Server,
    /// Server routes and the tenant's admin routes.
    Admin,
}

/// The tenant and role of a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyGrant {
    /// The key's tenant.
    pub tenant: TenantId,
    /// Its role.
    pub role: KeyRole,
}

/// Every configured key, by the hex SHA-256 of the key.
#[derive(Debug, Clone, Default)]
pub struct ApiKeys {
    by_digest: HashMap<String, ApiKeyGrant>,
}

impl ApiKeys {
    /// From (tenant, role, lowercase or uppercase hex SHA-256 of the key) triples.
    pub fn new<'a>(keys: impl IntoIterator<Item = (TenantId, KeyRole, &'a str)>) -> ApiKeys {
        let by_digest = keys
            .into_iter()
            .map(|(tenant, role, digest)| {
                (digest.to_ascii_lowercase(), ApiKeyGrant { tenant, role })
            })
            .collect();
        ApiKeys { by_digest }
    }

    /// The grant of a presented key, if any. The key itself is hashed at once and
    /// never stored.
    pub fn lookup(&self, key: &str) -> Option<&ApiKeyGrant> {
        if key.is_empty() {
            return None;
        }
        self.by_digest.get(&sha256_hex(key))
    }
}

/// The header that carries a tenant API key.
pub const API_KEY_HEADER: &str = "X-API-Key";

/// Why the `X-API-Key` of a request was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ApiKeyRefusal {
    /// No key, or an empty one.
    #[error("Missing API key: send the key in the X-API-Key header.")]
    Missing,
    /// A key that no tenant has.
    #[error("Invalid API key.")]
    Invalid,
}

impl ApiKeys {
    /// The grant of the key in `req`'s `X-API-Key` header (surrounding spaces
    /// ignored).
    ///
    /// # Errors
    /// [`ApiKeyRefusal`]: missing or unknown key.
    pub fn from_request(
        &self,
        req: &actix_web::HttpRequest,
    ) -> Result<&ApiKeyGrant, ApiKeyRefusal> {
        let key = req
            .headers()
            .get(API_KEY_HEADER)
            .ok_or(ApiKeyRefusal::Missing)?
            .to_str()
            .map_err(|_| ApiKeyRefusal::Invalid)?
            .trim();
        if key.is_empty() {
            return Err(ApiKeyRefusal::Missing);
        }
        self.lookup(key).ok_or(ApiKeyRefusal::Invalid)
    }
}

/// A new random tenant API key (`rc_` + 40 hex digits) and its hex SHA-256.
pub fn new_key() -> (String, String) {
    let bytes: [u8; 20] = rand::random();
    let key = format!("rc_{}", hex::encode(bytes));
    let digest = sha256_hex(&key);
    (key, digest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_map_to_their_tenant_and_role() {
        let (server, server_digest) = new_key();
        let (admin, admin_digest) = new_key();
        let t = TenantId::new("rooverse").unwrap();
        let keys = ApiKeys::new([
            (t.clone(), KeyRole::Server, server_digest.as_str()),
            (t, KeyRole::Admin, admin_digest.to_uppercase().as_str()),
        ]);
        assert_eq!(keys.lookup(&server).unwrap().role, KeyRole::Server);
        assert_eq!(keys.lookup(&admin).unwrap().role, KeyRole::Admin);
        assert_eq!(keys.lookup(&admin).unwrap().tenant.as_str(), "rooverse");
        assert!(keys.lookup("rc_unknown").is_none());
        assert!(keys.lookup("").is_none());
        assert!(server.starts_with("rc_") && server.len() == 43);
    }
}
