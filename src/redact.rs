//! Pseudonyms for logs: ids of people (peer ids, user ids, member ids) are never
//! logged in clear. A tag is the first 12 hex digits of an HMAC-SHA256 of the id under
//! the node's pseudonym key ([`set_key`], derived from the node key at start; plain
//! SHA-256 before it is set, in the CLI and unit tests): stable on one node, so that
//! log lines about one person can be correlated, but neither the id itself nor, without
//! the node key, found by trying the ids a client uses (`XCN_USER_12345`, …).

use std::sync::OnceLock;

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

static KEY: OnceLock<[u8; 32]> = OnceLock::new();

/// Sets the pseudonym key from `secret` (the node's key bytes); the first call wins.
pub fn set_key(secret: &[u8]) {
    let mut h = Sha256::new();
    h.update(b"rendezvous-credits log pseudonyms v1");
    h.update(secret);
    let _ = KEY.set(h.finalize().into());
}

/// `id#<12 hex digits>` for any id.
pub fn tag(id: &impl std::fmt::Display) -> String {
    let id = id.to_string();
    let digest: [u8; 32] = match KEY.get() {
        Some(key) => {
            let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key");
            mac.update(id.as_bytes());
            mac.finalize().into_bytes().into()
        }
        None => Sha256::digest(id.as_bytes()).into(),
    };
    format!("id#{}", &hex::encode(digest)[..12])
}

#[cfg(test)]
mod tests {
    #[test]
    fn tags_are_stable_and_hide_the_id() {
        let id = "12D3KooWDxmr37jfiZuDTqQePKEnQ2J7YpTHsyuPy1JrBsKgv9bD";
        assert_eq!(super::tag(&id), super::tag(&id));
        assert_ne!(super::tag(&id), super::tag(&"other"));
        assert!(!super::tag(&id).contains("12D3"));
        assert_eq!(super::tag(&id).len(), 15);
        // Keyed once set: the same id gives another tag, stable from then on.
        let plain = super::tag(&id);
        super::set_key(b"node key bytes");
        assert_ne!(super::tag(&id), plain);
        assert_eq!(super::tag(&id), super::tag(&id));
    }
}
