//! Console sessions.
//!
//! Signing in with the admin token opens a session: a random 32-byte id sent as the
//! cookie `rc_console` (`Path=/admin; HttpOnly; SameSite=Strict`, plus `Secure` when
//! the request came over TLS, directly or as told by `X-Forwarded-Proto`/`Forwarded`).
//! The node keeps only the SHA-256 of the id, with the session's CSRF token, its
//! expiry and a one-time notice for the next page. A session ends when the operator
//! signs out, after [`IDLE`] without a request, after [`LIFETIME`], or when the node
//! restarts (sessions live in memory).

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use actix_web::cookie::{time::Duration as CookieAge, Cookie, SameSite};
use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use super::{ConsoleError, ConsoleState, BASE};
use crate::web::guard;

/// The session cookie's name.
pub const COOKIE: &str = "rc_console";

/// A session ends after this long without a request.
pub const IDLE: Duration = Duration::from_secs(60 * 60);

/// A session ends this long after sign-in, used or not.
pub const LIFETIME: Duration = Duration::from_secs(12 * 60 * 60);

/// At most this many sessions at once; signing in past it ends the oldest.
pub const MAX_SESSIONS: usize = 256;

/// Largest form body the console reads.
pub const MAX_FORM_BYTES: usize = 16 * 1024;

struct Session {
    csrf: String,
    /// Opening order (the oldest is ended first when too many are open).
    number: u64,
    started: Instant,
    seen: Instant,
    notice: Option<(&'static str, String)>,
}

#[derive(Default)]
struct Live {
    opened: u64,
    by_key: HashMap<[u8; 32], Session>,
}

/// The signed-in sessions, by the SHA-256 of their ids.
#[derive(Default)]
pub struct Sessions {
    live: Mutex<Live>,
}

fn key(id: &str) -> [u8; 32] {
    Sha256::digest(id.as_bytes()).into()
}

impl Sessions {
    /// Opens a session; returns its id (for the cookie).
    pub fn open(&self) -> String {
        let id = guard::random_token();
        let now = Instant::now();
        let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        live.by_key.retain(|_, s| alive(s, now));
        if live.by_key.len() >= MAX_SESSIONS {
            if let Some(oldest) = live
                .by_key
                .iter()
                .min_by_key(|(_, s)| s.number)
                .map(|(k, _)| *k)
            {
                live.by_key.remove(&oldest);
            }
        }
        live.opened += 1;
        let number = live.opened;
        live.by_key.insert(
            key(&id),
            Session {
                csrf: guard::random_token(),
                number,
                started: now,
                seen: now,
                notice: None,
            },
        );
        id
    }

    /// Ends the session `id` (unknown ids are ignored).
    pub fn close(&self, id: &str) {
        let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        live.by_key.remove(&key(id));
    }

    /// The CSRF token of the live session `id`. Refreshes its idle timer.
    fn touch(&self, id: &str) -> Option<String> {
        let now = Instant::now();
        let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        let k = key(id);
        let s = live.by_key.get_mut(&k)?;
        if !alive(s, now) {
            live.by_key.remove(&k);
            return None;
        }
        s.seen = now;
        Some(s.csrf.clone())
    }

    /// Takes the notice left for the session's next page.
    pub fn take_notice(&self, id: &str) -> Option<(&'static str, String)> {
        let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        live.by_key.get_mut(&key(id))?.notice.take()
    }

    /// Whether `id` names a live session (refreshes its idle timer).
    pub fn is_live(&self, id: &str) -> bool {
        self.touch(id).is_some()
    }

    /// Leaves a notice (`ok` or `error`) for the session's next page.
    fn leave_notice(&self, id: &str, kind: &'static str, text: String) {
        let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = live.by_key.get_mut(&key(id)) {
            s.notice = Some((kind, text));
        }
    }

    /// How many sessions are live.
    pub fn len(&self) -> usize {
        let now = Instant::now();
        let live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        live.by_key.values().filter(|s| alive(s, now)).count()
    }

    /// Whether no session is live.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn alive(s: &Session, now: Instant) -> bool {
    now.duration_since(s.seen) < IDLE && now.duration_since(s.started) < LIFETIME
}

/// The session cookie for `id`, `Secure` when `req` came over TLS.
pub fn cookie(req: &HttpRequest, id: &str) -> Cookie<'static> {
    let mut c = Cookie::build(COOKIE, id.to_string())
        .path(BASE)
        .http_only(true)
        .same_site(SameSite::Strict)
        .max_age(CookieAge::seconds(LIFETIME.as_secs() as i64))
        .finish();
    if req.connection_info().scheme() == "https" {
        c.set_secure(true);
    }
    c
}

/// A cookie that removes the session cookie.
pub fn removal(req: &HttpRequest) -> Cookie<'static> {
    let mut c = cookie(req, "");
    c.set_max_age(CookieAge::ZERO);
    c
}

fn state(req: &HttpRequest) -> Result<web::Data<ConsoleState>, ConsoleError> {
    req.app_data::<web::Data<ConsoleState>>()
        .cloned()
        .ok_or_else(|| ConsoleError::Internal("the console state is not mounted".into()))
}

/// A signed-in operator on a page (GET). Without a live session the page answers
/// 303 to the sign-in page.
pub struct Operator {
    /// The session's CSRF token, for the page's forms.
    pub csrf: String,
    /// The session id (the notice left by the form post that led here is taken when
    /// the page is rendered, so a page that fails keeps it for the next one).
    pub(crate) session: String,
}

impl FromRequest for Operator {
    type Error = ConsoleError;
    type Future = std::future::Ready<Result<Operator, ConsoleError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready((|| {
            let state = state(req)?;
            let id = req.cookie(COOKIE).ok_or(ConsoleError::SignIn)?;
            let session = id.value().to_string();
            let csrf = state.sessions.touch(&session).ok_or(ConsoleError::SignIn)?;
            Ok(Operator { csrf, session })
        })())
    }
}

/// A form post of a signed-in operator: the session is live, the post comes from this
/// origin and carries the session's CSRF token; `form` is the urlencoded body.
pub struct Posted<T> {
    /// The form's fields.
    pub form: T,
    session: String,
    state: web::Data<ConsoleState>,
}

impl<T> Posted<T> {
    /// Leaves `text` as a notice (`ok` or `error`) on the operator's next page.
    pub fn notice(&self, kind: &'static str, text: impl Into<String>) {
        self.state
            .sessions
            .leave_notice(&self.session, kind, text.into());
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for Posted<T> {
    type Error = ConsoleError;
    type Future = Pin<Box<dyn Future<Output = Result<Posted<T>, ConsoleError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let body = web::Bytes::from_request(&req, payload);
        Box::pin(async move {
            let state = state(&req)?;
            let session = req
                .cookie(COOKIE)
                .map(|c| c.value().to_string())
                .ok_or(ConsoleError::NoSession)?;
            let csrf = state
                .sessions
                .touch(&session)
                .ok_or(ConsoleError::NoSession)?;
            let body = body.await.map_err(|e| {
                ConsoleError::BadRequest(format!("the form could not be read: {e}"))
            })?;
            if body.len() > MAX_FORM_BYTES {
                return Err(ConsoleError::BadRequest("the form is too large".into()));
            }
            guard::same_origin(&req)?;
            let form = guard::checked_form(&body, &csrf).map_err(|e| match e {
                guard::FormError::Guard(g) => ConsoleError::Guard(g),
                malformed => ConsoleError::BadRequest(malformed.to_string()),
            })?;
            Ok(Posted {
                form,
                session,
                state,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_open_close_and_keep_only_hashes() {
        let s = Sessions::default();
        let id = s.open();
        assert_eq!(s.len(), 1);
        let csrf = s.touch(&id).unwrap();
        assert_ne!(csrf, id);
        assert!(s.take_notice(&id).is_none());
        s.leave_notice(&id, "ok", "done".into());
        assert_eq!(s.take_notice(&id), Some(("ok", "done".into())));
        assert_eq!(s.take_notice(&id), None);
        assert!(s.touch("not-a-session").is_none());
        // The only key is the digest of the id: the id itself is not kept.
        let keys: Vec<[u8; 32]> = s.live.lock().unwrap().by_key.keys().copied().collect();
        assert_eq!(keys, vec![key(&id)]);
        assert_ne!(&key(&id)[..], &id.as_bytes()[..32]);
        s.close(&id);
        assert!(s.touch(&id).is_none());
        assert!(s.is_empty());
    }

    #[test]
    fn sessions_are_capped() {
        let s = Sessions::default();
        let first = s.open();
        for _ in 0..MAX_SESSIONS {
            s.open();
        }
        assert_eq!(s.len(), MAX_SESSIONS);
        assert!(s.touch(&first).is_none(), "the oldest session ended");
    }

    #[test]
    fn cookies_are_http_only_and_strict() {
        let req = actix_web::test::TestRequest::default().to_http_request();
        let c = cookie(&req, "abc").to_string();
        assert!(
            c.contains("HttpOnly") && c.contains("SameSite=Strict") && c.contains("Path=/admin"),
            "{c}"
        );
        assert!(!c.contains("Secure"), "{c}");
        let tls = actix_web::test::TestRequest::default()
            .insert_header(("X-Forwarded-Proto", "https"))
            .to_http_request();
        assert!(cookie(&tls, "abc").to_string().contains("Secure"));
        assert!(removal(&req).to_string().contains("Max-Age=0"));
    }
}
