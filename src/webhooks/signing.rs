//! Webhook signatures: the headers that let a receiver check that a delivery comes
//! from this node and was not altered.
//!
//! Every delivery carries the Standard Webhooks headers (field-notes §4):
//!
//! - `webhook-id`: `evt_<outbox id>`, the same on every attempt of an event (receivers
//!   de-duplicate on it);
//! - `webhook-timestamp`: unix **seconds** of the attempt;
//! - `webhook-signature`: `v1,<base64 of HMAC-SHA256(key, "{id}.{timestamp}.{body}")>`.
//!   The key is the tenant's `webhook_secret`: when the secret has the Standard
//!   Webhooks form `whsec_<base64>`, the key is the decoded bytes (what the
//!   `standardwebhooks` libraries expect); otherwise it is the secret's UTF-8 bytes
//!   (give such a library `whsec_` + base64 of the secret).
//!
//! On top of them, the tenant's dialect adds its own envelope and signature through
//! [`WebhookFormat`] (Roochip: `X-Roochip-Signature`, in the Roochip dialect).

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// `webhook-id` of outbox event `outbox_id`: `evt_<outbox id>`.
pub fn webhook_id(outbox_id: i64) -> String {
    format!("evt_{outbox_id}")
}

/// How a dialect shapes and signs its webhooks: one small trait each dialect that
/// sends events implements, registered with the dispatcher by the tenant's mode.
pub trait WebhookFormat: Send + Sync {
    /// The body of an event as sent, byte for byte: the dialect's envelope around
    /// `data` (compact JSON). A dialect whose events are flat returns `data` itself.
    fn envelope(&self, event_id: &str, event_type: &str, occurred_at: &str, data: &str) -> String;
    /// The dialect's own signature headers of `body` keyed with `secret`, sent beside
    /// the Standard Webhooks ones (none by default).
    fn signature(&self, secret: &str, body: &[u8]) -> Vec<(&'static str, String)> {
        let _ = (secret, body);
        Vec::new()
    }
}

/// Lowercase hex HMAC-SHA256 of `body` keyed with the UTF-8 bytes of `secret`: the
/// signature several dialects send in their own header.
pub fn hex_hmac(secret: &str, body: &[u8]) -> String {
    hex::encode(hmac(secret.as_bytes(), &[body]))
}

/// The key of `webhook-signature` for `secret` (see the module documentation).
pub fn standard_key(secret: &str) -> Vec<u8> {
    secret
        .strip_prefix("whsec_")
        .and_then(|b64| base64::engine::general_purpose::STANDARD.decode(b64).ok())
        .filter(|key| !key.is_empty())
        .unwrap_or_else(|| secret.as_bytes().to_vec())
}

/// `webhook-signature`: `v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>`
/// with `timestamp` in unix seconds and the key of [`standard_key`].
pub fn standard_signature(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> String {
    let ts = timestamp.to_string();
    let mac = hmac(
        &standard_key(secret),
        &[id.as_bytes(), b".", ts.as_bytes(), b".", body],
    );
    format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac)
    )
}

/// Every header of one attempt except `Content-Type`: the dialect's own signature
/// (if `format` has one) and the Standard Webhooks trio. `timestamp` is the attempt's
/// unix time in seconds.
pub fn headers(
    format: Option<&dyn WebhookFormat>,
    secret: &str,
    outbox_id: i64,
    timestamp: i64,
    body: &[u8],
) -> Vec<(&'static str, String)> {
    let id = webhook_id(outbox_id);
    let mut out = Vec::with_capacity(4);
    if let Some(format) = format {
        out.extend(format.signature(secret, body));
    }
    out.push((
        "webhook-signature",
        standard_signature(secret, &id, timestamp, body),
    ));
    out.push(("webhook-timestamp", timestamp.to_string()));
    out.push(("webhook-id", id));
    out
}

fn hmac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC accepts keys of any length");
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_hmac_is_the_known_value() {
        // RFC 4231-style known value: HMAC-SHA256("key", "The quick brown fox …").
        assert_eq!(
            hex_hmac("key", b"The quick brown fox jumps over the lazy dog"),
            "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
        );
    }

    #[test]
    fn standard_signature_matches_the_reference_example() {
        // The example of the Standard Webhooks specification.
        let sig = standard_signature(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1_614_265_330,
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn a_plain_secret_is_used_as_bytes() {
        assert_eq!(standard_key("s3cret"), b"s3cret".to_vec());
        assert_eq!(
            standard_key("whsec_!!notbase64"),
            b"whsec_!!notbase64".to_vec()
        );
        assert_eq!(standard_key("whsec_AQID"), vec![1, 2, 3]);
    }

    struct Signed;
    impl WebhookFormat for Signed {
        fn envelope(&self, _: &str, _: &str, _: &str, data: &str) -> String {
            data.to_string()
        }
        fn signature(&self, secret: &str, body: &[u8]) -> Vec<(&'static str, String)> {
            vec![("X-Test-Signature", hex_hmac(secret, body))]
        }
    }

    #[test]
    fn headers_carry_the_id_timestamp_and_both_signatures() {
        let h = headers(Some(&Signed), "k", 42, 1_700_000_000, b"{}");
        let get = |n: &str| h.iter().find(|(k, _)| *k == n).map(|(_, v)| v.clone());
        assert_eq!(get("webhook-id").as_deref(), Some("evt_42"));
        assert_eq!(get("webhook-timestamp").as_deref(), Some("1700000000"));
        assert_eq!(get("X-Test-Signature"), Some(hex_hmac("k", b"{}")));
        assert_eq!(
            get("webhook-signature"),
            Some(standard_signature("k", "evt_42", 1_700_000_000, b"{}"))
        );
        let other = headers(None, "k", 42, 1_700_000_000, b"{}");
        assert_eq!(other.len(), 3, "no dialect signature without a format");
    }
}
