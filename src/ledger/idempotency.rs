//! Idempotency keys, owned by the core: a unit of work that carries an
//! [`Idempotency`] stores its answer in the same transaction as its effect, so that a
//! retry with the same key and the same request gets the stored answer (and nothing
//! happens twice), and the same key with another request is a conflict
//! ([`LedgerError::IdempotencyMismatch`]) that each dialect words its own way.
//!
//! - Scope: tenant + route + client. A dialect chooses how fine its routes are (one
//!   route per endpoint, or `*` for keys unique across the tenant's routes).
//! - Key: 1 to [`MAX_KEY_LEN`] visible ASCII characters, as the client sent it.
//! - Fingerprint: SHA-256 of the canonical request ([`fingerprint`]).
//! - Retention: each record is kept for its tenant's retention, then swept by the
//!   scheduled job ([`LedgerTx::sweep_idempotency`](super::LedgerTx::sweep_idempotency)).

use sha2::{Digest, Sha256};

use super::tx::canonical_time;
use super::{LedgerError, LedgerTx, StoredResponse, TenantId};

/// Longest accepted key, in bytes (Stripe's limit, field-notes §4).
pub const MAX_KEY_LEN: usize = 255;

/// Default retention of a record: 30 days, in seconds.
pub const DEFAULT_RETENTION_SECS: u64 = 30 * 24 * 3600;

/// Why a key was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be 1 to {MAX_KEY_LEN} visible ASCII characters")]
pub struct BadKey;

/// An idempotency key with the request it came with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Idempotency {
    /// `tenant:route:client`.
    pub scope: String,
    /// The key as sent (surrounding spaces trimmed).
    pub key: String,
    /// Lowercase hex SHA-256 of the canonical request.
    pub fingerprint: String,
    /// How long the answer is kept, seconds.
    pub retention_secs: u64,
}

impl Idempotency {
    /// The key `key` of `client` on `route` of `tenant`, for a request whose canonical
    /// form has `fingerprint`.
    ///
    /// # Errors
    /// [`BadKey`] for an empty key, one over [`MAX_KEY_LEN`] bytes, or one that is not
    /// visible ASCII.
    pub fn new(
        tenant: &TenantId,
        route: &str,
        client: &str,
        key: &str,
        fingerprint: String,
        retention_secs: u64,
    ) -> Result<Idempotency, BadKey> {
        let key = key.trim();
        let visible = key.bytes().all(|b| b.is_ascii_graphic() || b == b' ');
        if key.is_empty() || key.len() > MAX_KEY_LEN || !visible {
            return Err(BadKey);
        }
        Ok(Idempotency {
            scope: format!("{tenant}:{route}:{client}"),
            key: key.to_string(),
            fingerprint,
            retention_secs,
        })
    }
}

/// Lowercase hex SHA-256 of `parts` joined by newlines (every part but the last must
/// hold no newline, so that no two requests share the input): e.g. method, path, body.
pub fn fingerprint(parts: &[&[u8]]) -> String {
    let mut h = Sha256::new();
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            h.update(b"\n");
        }
        h.update(part);
    }
    hex::encode(h.finalize())
}

/// The answer of [`LedgerTx::once`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The answer to send.
    pub response: StoredResponse,
    /// It is the stored answer of an earlier request with the same key.
    pub replayed: bool,
}

impl LedgerTx<'_> {
    /// Runs `effect` at most once per idempotency key: a repeated key with the same
    /// request replays the stored answer and does nothing else; a new key runs `effect`
    /// and stores what `stored` makes of its answer (the answer itself, or a form
    /// without a secret) in the same transaction, kept for the retention. Without a key,
    /// `effect` just runs. Errors are not stored: the unit rolls back and a retry runs
    /// again.
    ///
    /// # Errors
    /// [`LedgerError::IdempotencyMismatch`] (converted into `E`) for a key used with
    /// another request; `effect`'s errors.
    pub fn once<E: From<LedgerError>>(
        &mut self,
        idempotency: Option<&Idempotency>,
        effect: impl FnOnce(&mut LedgerTx<'_>) -> Result<StoredResponse, E>,
        stored: impl FnOnce(&StoredResponse) -> Result<StoredResponse, E>,
    ) -> Result<Answer, E> {
        let Some(i) = idempotency else {
            return Ok(Answer {
                response: effect(self)?,
                replayed: false,
            });
        };
        if let Some(response) = self.idempotency_lookup(&i.scope, &i.key, &i.fingerprint)? {
            return Ok(Answer {
                response,
                replayed: true,
            });
        }
        let response = effect(self)?;
        let expires_at = retention_end(self.now(), i.retention_secs)?;
        self.idempotency_store(
            &i.scope,
            &i.key,
            &i.fingerprint,
            &stored(&response)?,
            Some(&expires_at),
        )?;
        Ok(Answer {
            response,
            replayed: false,
        })
    }
}

/// `now` plus `secs`, in the ledger's time format.
fn retention_end(now: &str, secs: u64) -> Result<String, LedgerError> {
    let now: jiff::Timestamp = canonical_time(now)?
        .parse()
        .map_err(|e| LedgerError::Invalid(format!("batch time {now:?}: {e}")))?;
    let secs = i64::try_from(secs).unwrap_or(i64::MAX / 2);
    let end = now
        .checked_add(jiff::SignedDuration::from_secs(secs))
        .unwrap_or(jiff::Timestamp::MAX);
    canonical_time(&end.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_bounded_visible_ascii_and_scoped() {
        let t = TenantId::new("rooverse").unwrap();
        let i = Idempotency::new(&t, "*", "", " earn_token_42 ", "f".into(), 60).unwrap();
        assert_eq!(i.scope, "rooverse:*:");
        assert_eq!(i.key, "earn_token_42");
        assert!(Idempotency::new(&t, "*", "", "", "f".into(), 60).is_err());
        assert!(Idempotency::new(&t, "*", "", &"k".repeat(256), "f".into(), 60).is_err());
        assert!(Idempotency::new(&t, "*", "", &"k".repeat(255), "f".into(), 60).is_ok());
        assert!(Idempotency::new(&t, "*", "", "clé", "f".into(), 60).is_err());
    }

    #[test]
    fn fingerprints_cover_every_part() {
        let a = fingerprint(&[b"POST", b"/v1/users/u/deduct", b"{}"]);
        assert_eq!(a.len(), 64);
        assert_ne!(a, fingerprint(&[b"POST", b"/v1/users/u/reward", b"{}"]));
        assert_ne!(a, fingerprint(&[b"POST", b"/v1/users/u/deduct", b"{ }"]));
        assert_eq!(a, fingerprint(&[b"POST", b"/v1/users/u/deduct", b"{}"]));
    }

    #[test]
    fn retention_ends_after_the_given_seconds() {
        assert_eq!(
            retention_end("2026-01-31T23:59:30Z", 45).unwrap(),
            "2026-02-01T00:00:15Z"
        );
        assert_eq!(
            retention_end("2026-01-01T00:00:00Z", DEFAULT_RETENTION_SECS).unwrap(),
            "2026-01-31T00:00:00Z"
        );
    }
}
