//! Pseudonyms for logs: ids of people (peer ids, user ids, member ids) are never
//! logged in clear. A tag is the first 12 hex digits of the SHA-256 of the id: stable,
//! so that log lines about one peer can be correlated, but not the id itself.

use sha2::{Digest, Sha256};

/// `id#<12 hex digits>` for any id.
pub fn tag(id: &impl std::fmt::Display) -> String {
    let digest = Sha256::digest(id.to_string().as_bytes());
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
    }
}
