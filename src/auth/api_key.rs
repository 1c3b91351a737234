//! Tenant API keys (`X-API-Key`): kept only as SHA-256 digests, looked up by the
//! digest of the presented key. A key belongs to one tenant and has one role.

use std::collections::HashMap;

use crate::config::{sha256_hex, TenantConfig};
use crate::ledger::{LedgerError, TenantId};

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
    /// From the `[[tenants]]` settings (`api_keys`, `admin_api_keys`).
    ///
    /// # Errors
    /// [`LedgerError::Invalid`] for an invalid tenant id.
    pub fn from_tenants(tenants: &[TenantConfig]) -> Result<ApiKeys, LedgerError> {
        let mut by_digest = HashMap::new();
        for t in tenants {
            let tenant = TenantId::new(t.id.clone())?;
            for (digests, role) in [
                (&t.api_keys, KeyRole::Server),
                (&t.admin_api_keys, KeyRole::Admin),
            ] {
                for d in digests {
                    by_digest.insert(
                        d.to_ascii_lowercase(),
                        ApiKeyGrant {
                            tenant: tenant.clone(),
                            role,
                        },
                    );
                }
            }
        }
        Ok(ApiKeys { by_digest })
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
        let mut t: TenantConfig = toml_tenant("rooverse");
        t.api_keys = vec![server_digest];
        t.admin_api_keys = vec![admin_digest.to_uppercase()];
        let keys = ApiKeys::from_tenants(&[t]).unwrap();
        assert_eq!(keys.lookup(&server).unwrap().role, KeyRole::Server);
        assert_eq!(keys.lookup(&admin).unwrap().role, KeyRole::Admin);
        assert_eq!(keys.lookup(&admin).unwrap().tenant.as_str(), "rooverse");
        assert!(keys.lookup("rc_unknown").is_none());
        assert!(keys.lookup("").is_none());
        assert!(server.starts_with("rc_") && server.len() == 43);
    }

    fn toml_tenant(id: &str) -> TenantConfig {
        use figment::providers::Format;
        let config: crate::config::Config = figment::Figment::new()
            .merge(figment::providers::Serialized::defaults(
                crate::config::Config::default(),
            ))
            .merge(figment::providers::Toml::string(&format!(
                "[[tenants]]\nid = \"{id}\"\nmode = \"roochip\"\n"
            )))
            .extract()
            .unwrap();
        config.tenants[0].clone()
    }
}
