//! Checks of state-changing form posts, for both UIs:
//!
//! - a CSRF token (synchronizer token pattern): 32 random bytes, URL-safe base64,
//!   put in a hidden `csrf` field of every form and compared in constant time;
//! - the request's origin: `Origin` (or, where a browser sent none, `Referer`) must be
//!   this server's own `scheme://host[:port]`; `Sec-Fetch-Site: cross-site` is refused.
//!   A post with neither header is refused: every browser sends `Origin` with a form
//!   post.

use actix_web::{http::header, HttpRequest};
use base64::Engine as _;
use rand::RngCore;
use subtle::ConstantTimeEq;

/// A new random token: 32 bytes, URL-safe base64 without padding (43 characters).
/// Used for CSRF tokens and session ids.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Whether `given` equals `expected`, in time independent of where they differ.
pub fn same_token(given: &str, expected: &str) -> bool {
    !expected.is_empty() && bool::from(given.as_bytes().ct_eq(expected.as_bytes()))
}

/// Why a form post is refused (answered 403 with this sentence).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GuardError {
    /// Neither `Origin` nor `Referer` was sent.
    #[error("refused: the form post carries no Origin header")]
    NoOrigin,
    /// The post came from another site.
    #[error("refused: the form was posted from another origin ({0})")]
    OtherOrigin(String),
    /// The CSRF token is missing or wrong.
    #[error("refused: the form's CSRF token is missing or does not match this session")]
    Csrf,
}

/// This server's origin as the browser sees it: `scheme://host[:port]` from the
/// request's `Host` (and `X-Forwarded-Proto`/`Forwarded` behind a proxy).
pub fn own_origin(req: &HttpRequest) -> String {
    let info = req.connection_info();
    format!("{}://{}", info.scheme(), info.host())
}

/// Checks that `req` was posted from this server's own pages ([`own_origin`]).
///
/// # Errors
/// [`GuardError::NoOrigin`] or [`GuardError::OtherOrigin`].
pub fn same_origin(req: &HttpRequest) -> Result<(), GuardError> {
    same_origin_as(req, &own_origin(req))
}

/// Checks that `req` was posted from pages of `own` (`scheme://host[:port]`).
///
/// # Errors
/// [`GuardError::NoOrigin`] or [`GuardError::OtherOrigin`].
pub fn same_origin_as(req: &HttpRequest, own: &str) -> Result<(), GuardError> {
    let headers = req.headers();
    let get = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    if get(header::HeaderName::from_static("sec-fetch-site")) == Some("cross-site") {
        return Err(GuardError::OtherOrigin("Sec-Fetch-Site: cross-site".into()));
    }
    if let Some(origin) = get(header::ORIGIN) {
        return if origin.eq_ignore_ascii_case(own) {
            Ok(())
        } else {
            Err(GuardError::OtherOrigin(origin.chars().take(100).collect()))
        };
    }
    match get(header::REFERER) {
        Some(referer) if referer.starts_with(&format!("{own}/")) => Ok(()),
        Some(referer) => Err(GuardError::OtherOrigin(referer.chars().take(100).collect())),
        None => Err(GuardError::NoOrigin),
    }
}

/// Checks the form's `csrf` field against `expected`.
///
/// # Errors
/// [`GuardError::Csrf`].
pub fn check_csrf(csrf: Option<&str>, expected: &str) -> Result<(), GuardError> {
    match csrf {
        Some(given) if same_token(given, expected) => Ok(()),
        _ => Err(GuardError::Csrf),
    }
}

#[derive(serde::Deserialize)]
struct CsrfField {
    csrf: Option<String>,
}

/// Why a form body is refused.
#[derive(Debug, thiserror::Error)]
pub enum FormError {
    /// The CSRF token is missing or wrong.
    #[error(transparent)]
    Guard(#[from] GuardError),
    /// The body is not the form expected; the message names the field.
    #[error("form: {0}")]
    Malformed(String),
}

/// The urlencoded form `body` as `T`, once its `csrf` field equals `expected`.
///
/// # Errors
/// [`FormError`].
pub fn checked_form<T: serde::de::DeserializeOwned>(
    body: &[u8],
    expected: &str,
) -> Result<T, FormError> {
    let given: CsrfField = serde_urlencoded::from_bytes(body).unwrap_or(CsrfField { csrf: None });
    check_csrf(given.csrf.as_deref(), expected)?;
    serde_urlencoded::from_bytes(body).map_err(|e| FormError::Malformed(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn post(headers: &[(&str, &str)]) -> HttpRequest {
        let mut r = TestRequest::post().insert_header(("Host", "node.example:8080"));
        for (k, v) in headers {
            r = r.insert_header((*k, *v));
        }
        r.to_http_request()
    }

    #[test]
    fn only_own_origin_posts_pass() {
        let own = "http://node.example:8080";
        assert_eq!(same_origin(&post(&[("Origin", own)])), Ok(()));
        let referer = format!("{own}/admin/");
        assert_eq!(same_origin(&post(&[("Referer", &referer)])), Ok(()));
        assert_eq!(same_origin(&post(&[])), Err(GuardError::NoOrigin));
        for bad in ["https://evil.example", "null", "http://node.example:8081"] {
            assert!(matches!(
                same_origin(&post(&[("Origin", bad)])),
                Err(GuardError::OtherOrigin(_))
            ));
        }
        // A referer on a look-alike host is not the own origin.
        assert!(same_origin(&post(&[(
            "Referer",
            "http://node.example:8080.evil.example/"
        )]))
        .is_err());
        assert!(same_origin(&post(&[("Origin", own), ("Sec-Fetch-Site", "cross-site")])).is_err());
    }

    #[test]
    fn csrf_tokens_are_compared_exactly() {
        let token = random_token();
        assert_eq!(token.len(), 43);
        assert_ne!(token, random_token());
        assert_eq!(check_csrf(Some(&token), &token), Ok(()));
        assert_eq!(check_csrf(None, &token), Err(GuardError::Csrf));
        assert_eq!(check_csrf(Some(&token[1..]), &token), Err(GuardError::Csrf));
        assert_eq!(check_csrf(Some(""), ""), Err(GuardError::Csrf));
        #[derive(serde::Deserialize, Debug)]
        struct Amount {
            amount: String,
        }
        let form = format!("csrf={token}&amount=5");
        let parsed: Amount = checked_form(form.as_bytes(), &token).unwrap();
        assert_eq!(parsed.amount, "5");
        assert!(matches!(
            checked_form::<Amount>(b"amount=5", &token),
            Err(FormError::Guard(GuardError::Csrf))
        ));
        assert!(matches!(
            checked_form::<Amount>(format!("csrf={token}").as_bytes(), &token),
            Err(FormError::Malformed(_))
        ));
    }
}
