//! Bearer tokens of OAuth 2.0 client credentials (RFC 6749 §4.4), as the
//! RedRoomRewards dialect hands them out at `POST /oauth/token`.
//!
//! Tokens are stateless: `<payload>.<mac>`, both base64url without padding, where the
//! payload is the JSON `{"t": tenant, "c": client_id, "e": expiry (unix seconds),
//! "n": nonce}` and the MAC is HMAC-SHA256 of the payload under a key derived from the
//! node's secret. So tokens survive a restart, several per client may be live at once,
//! and a node with another secret refuses them. A token is a secret: never logged.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// What a valid token says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenClaims {
    /// The tenant.
    #[serde(rename = "t")]
    pub tenant: String,
    /// The client the token was issued to.
    #[serde(rename = "c")]
    pub client_id: String,
    /// Expiry, unix seconds.
    #[serde(rename = "e")]
    pub expires_at: u64,
    /// Random, so that two tokens of one client differ.
    #[serde(rename = "n")]
    nonce: String,
}

/// Why a token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not a token of this node (malformed, altered, or minted with another key).
    #[error("the access token is not valid")]
    Invalid,
    /// Past its expiry.
    #[error("the access token has expired")]
    Expired,
}

/// Issues and checks client-credential bearer tokens.
#[derive(Clone)]
pub struct TokenIssuer {
    key: [u8; 32],
}

impl std::fmt::Debug for TokenIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenIssuer(***)")
    }
}

impl TokenIssuer {
    /// An issuer whose MAC key is derived from `secret` (the node's key bytes).
    pub fn new(secret: &[u8]) -> TokenIssuer {
        let mut h = Sha256::new();
        h.update(b"rendezvous-credits oauth client-credentials v1");
        h.update(secret);
        TokenIssuer {
            key: h.finalize().into(),
        }
    }

    fn mac(&self, payload: &[u8]) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC takes any key");
        mac.update(payload);
        mac
    }

    /// A token for `client_id` of `tenant`, valid `ttl_secs` from `now_unix`.
    pub fn issue(&self, tenant: &str, client_id: &str, ttl_secs: u64, now_unix: u64) -> String {
        let claims = TokenClaims {
            tenant: tenant.to_string(),
            client_id: client_id.to_string(),
            expires_at: now_unix.saturating_add(ttl_secs),
            nonce: hex::encode(rand::random::<[u8; 12]>()),
        };
        let payload = serde_json::to_vec(&claims).unwrap_or_default();
        let tag = self.mac(&payload).finalize().into_bytes();
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(&payload),
            URL_SAFE_NO_PAD.encode(tag)
        )
    }

    /// The claims of `token` if this node issued it and it has not expired at
    /// `now_unix`. The MAC is compared in constant time.
    ///
    /// # Errors
    /// [`TokenError`].
    pub fn verify(&self, token: &str, now_unix: u64) -> Result<TokenClaims, TokenError> {
        let (payload, tag) = token.split_once('.').ok_or(TokenError::Invalid)?;
        let payload = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| TokenError::Invalid)?;
        let tag = URL_SAFE_NO_PAD
            .decode(tag)
            .map_err(|_| TokenError::Invalid)?;
        self.mac(&payload)
            .verify_slice(&tag)
            .map_err(|_| TokenError::Invalid)?;
        let claims: TokenClaims =
            serde_json::from_slice(&payload).map_err(|_| TokenError::Invalid)?;
        if claims.expires_at <= now_unix {
            return Err(TokenError::Expired);
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_carries_its_client_and_expires() {
        let issuer = TokenIssuer::new(b"node secret");
        let a = issuer.issue("xcn", "xcn-backend", 3600, 1_000);
        let b = issuer.issue("xcn", "xcn-backend", 3600, 1_000);
        assert_ne!(a, b, "several live tokens per client");
        let claims = issuer.verify(&a, 1_000).unwrap();
        assert_eq!(
            (
                claims.tenant.as_str(),
                claims.client_id.as_str(),
                claims.expires_at
            ),
            ("xcn", "xcn-backend", 4_600)
        );
        assert_eq!(issuer.verify(&b, 4_599).map(|c| c.expires_at), Ok(4_600));
        assert_eq!(issuer.verify(&a, 4_600), Err(TokenError::Expired));
        // The same secret after a restart accepts it; another secret does not.
        assert!(TokenIssuer::new(b"node secret").verify(&a, 2_000).is_ok());
        assert_eq!(
            TokenIssuer::new(b"other node").verify(&a, 2_000),
            Err(TokenError::Invalid)
        );
        assert_eq!(format!("{issuer:?}"), "TokenIssuer(***)");
    }

    #[test]
    fn altered_or_malformed_tokens_are_refused() {
        let issuer = TokenIssuer::new(b"k");
        let token = issuer.issue("xcn", "c", 60, 0);
        let (payload, tag) = token.split_once('.').unwrap();
        let forged = URL_SAFE_NO_PAD.encode(br#"{"t":"xcn","c":"other","e":999999,"n":"00"}"#);
        for bad in [
            format!("{forged}.{tag}"),
            format!("{payload}.{}", URL_SAFE_NO_PAD.encode([0u8; 32])),
            payload.to_string(),
            "".to_string(),
            "a.b.c".to_string(),
        ] {
            assert_eq!(issuer.verify(&bad, 1), Err(TokenError::Invalid), "{bad}");
        }
    }
}
