//! The operator's admin token: `Authorization: Bearer <token>`, kept only as its
//! SHA-256 and compared in constant time.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Checks admin credentials.
#[derive(Clone)]
pub struct AdminAuth {
    digest: Option<[u8; 32]>,
}

/// Why an admin request is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdminAuthError {
    /// No admin token is configured: admin routes are closed.
    #[error("the admin API is disabled: set RC_ADMIN_TOKEN or admin.token_sha256")]
    Disabled,
    /// No `Authorization: Bearer` header.
    #[error("admin routes need Authorization: Bearer <admin token>")]
    Missing,
    /// The token does not match.
    #[error("invalid admin token")]
    Invalid,
}

impl std::fmt::Debug for AdminAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminAuth")
            .field("enabled", &self.digest.is_some())
            .finish()
    }
}

impl AdminAuth {
    /// From the configured hex digest (`admin.token_sha256`, may be empty) and the
    /// token in clear from `RC_ADMIN_TOKEN` (wins when set). The clear token is hashed
    /// at once and not kept.
    pub fn new(config_digest_hex: &str, clear_token: Option<&str>) -> AdminAuth {
        let digest = match clear_token.filter(|t| !t.is_empty()) {
            Some(token) => Some(Sha256::digest(token.as_bytes()).into()),
            None => hex::decode(config_digest_hex)
                .ok()
                .and_then(|d| <[u8; 32]>::try_from(d.as_slice()).ok()),
        };
        AdminAuth { digest }
    }

    /// Whether admin routes are open at all.
    pub fn enabled(&self) -> bool {
        self.digest.is_some()
    }

    /// Checks an `Authorization` header value.
    ///
    /// # Errors
    /// [`AdminAuthError`] saying why the request is refused.
    pub fn check(&self, authorization: Option<&str>) -> Result<(), AdminAuthError> {
        if self.digest.is_none() {
            return Err(AdminAuthError::Disabled);
        }
        let token = authorization
            .and_then(|h| {
                let (scheme, rest) = h.trim().split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
            })
            .ok_or(AdminAuthError::Missing)?;
        self.check_token(token)
    }

    /// Checks the token itself (the console's sign-in form).
    ///
    /// # Errors
    /// [`AdminAuthError`] saying why it is refused (an empty token is missing).
    pub fn check_token(&self, token: &str) -> Result<(), AdminAuthError> {
        let Some(expected) = self.digest else {
            return Err(AdminAuthError::Disabled);
        };
        if token.is_empty() {
            return Err(AdminAuthError::Missing);
        }
        let given: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if bool::from(given.ct_eq(&expected)) {
            Ok(())
        } else {
            Err(AdminAuthError::Invalid)
        }
    }
}

/// A new random admin token (32 bytes, URL-safe base64) and its hex SHA-256.
pub fn new_token() -> (String, String) {
    use base64::Engine as _;
    let bytes: [u8; 32] = rand::random();
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let digest = crate::secret::sha256_hex(&token);
    (token, digest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_right_bearer_passes() {
        let (token, digest) = new_token();
        let auth = AdminAuth::new(&digest, None);
        assert_eq!(auth.check(Some(&format!("Bearer {token}"))), Ok(()));
        assert_eq!(auth.check(Some(&format!("bearer {token}"))), Ok(()));
        assert_eq!(
            auth.check(Some("Bearer nope")),
            Err(AdminAuthError::Invalid)
        );
        assert_eq!(auth.check(Some(&token)), Err(AdminAuthError::Missing));
        assert_eq!(auth.check(None), Err(AdminAuthError::Missing));
        let env = AdminAuth::new("", Some("s3cret"));
        assert_eq!(env.check(Some("Bearer s3cret")), Ok(()));
        let closed = AdminAuth::new("", None);
        assert_eq!(
            closed.check(Some("Bearer x")),
            Err(AdminAuthError::Disabled)
        );
        assert!(!format!("{auth:?}").contains(&digest));
    }
}
