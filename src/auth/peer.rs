//! Identifying a Goop2 peer on an HTTP request.
//!
//! A peer proves its PeerId with the libp2p-PeerID scheme ([`super::peer_id_auth`]),
//! signed by the node's own libp2p key. The legacy `X-Goop-Peer-ID` header (fallback
//! `?peer_id=`) carries no proof and counts only when the operator sets
//! `goop2.trust_peer_id_header = true` (field-notes §1–2).

use std::time::{Duration, SystemTime};

use actix_web::http::header;
use actix_web::HttpRequest;
use libp2p::identity::Keypair;
use libp2p::PeerId;
use sha2::{Digest, Sha256};

use super::peer_id_auth::{PeerAuthError, ServerAuth, ServerOutcome};

/// The legacy, unproven peer header of Goop2.
pub const LEGACY_PEER_HEADER: &str = "X-Goop-Peer-ID";

/// A peer identified on a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerIdentity {
    /// The peer.
    pub peer: PeerId,
    /// `true` when proven by libp2p-PeerID; `false` for a trusted legacy claim.
    pub proven: bool,
    /// The `Authentication-Info` header value to send back when a handshake completed
    /// on this request.
    pub authentication_info: Option<String>,
}

/// Why no peer could be identified.
#[derive(Debug)]
pub enum PeerAuthFailure {
    /// No credentials at all: answer 401 with this `WWW-Authenticate` challenge.
    Missing {
        /// The challenge.
        www_authenticate: String,
    },
    /// The first step of a client-initiated handshake: answer 401 with this
    /// `WWW-Authenticate` (it carries the server's signature).
    Challenge {
        /// The header value.
        www_authenticate: String,
    },
    /// Credentials present but invalid: answer 401 with the reason and a fresh
    /// challenge.
    Rejected {
        /// What was wrong.
        reason: PeerAuthError,
        /// A fresh challenge.
        www_authenticate: String,
    },
    /// A legacy header that is not a valid PeerId (only when it is trusted): 400.
    BadClaim(String),
}

/// Identifies peers on requests.
pub struct PeerAuthenticator {
    server: ServerAuth,
    trust_legacy_header: bool,
}

impl std::fmt::Debug for PeerAuthenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerAuthenticator")
            .field("trust_legacy_header", &self.trust_legacy_header)
            .finish()
    }
}

impl PeerAuthenticator {
    /// With the node's libp2p key. Bearer tokens live `token_ttl`. The HMAC key of
    /// tokens and opaque values is derived from `shared_secret` when given (the
    /// cluster's `auth.token_secret`: every node of the cluster accepts the others'
    /// tokens), else from the node key (tokens survive a restart and no other node can
    /// mint them).
    pub fn new(
        node_key: &Keypair,
        shared_secret: Option<&[u8]>,
        token_ttl: Duration,
        trust_legacy_header: bool,
    ) -> Self {
        let secret = match shared_secret {
            Some(shared) => shared.to_vec(),
            None => node_key
                .clone()
                .try_into_ed25519()
                .map(|k| k.secret().as_ref().to_vec())
                .unwrap_or_else(|_| node_key.public().encode_protobuf()),
        };
        let mut h = Sha256::new();
        h.update(b"rendezvous-credits peer-id-auth hmac v1");
        h.update(&secret);
        let hmac_key: [u8; 32] = h.finalize().into();
        PeerAuthenticator {
            server: ServerAuth::new(node_key.clone(), hmac_key, token_ttl),
            trust_legacy_header,
        }
    }

    /// The hostname the signatures cover: the `Host` header as sent.
    fn hostname(req: &HttpRequest) -> String {
        req.headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(str::to_string)
            .unwrap_or_else(|| req.connection_info().host().to_string())
    }

    /// A fresh server-initiated challenge for a 401.
    pub fn challenge(&self, req: &HttpRequest) -> String {
        self.server
            .challenge(&Self::hostname(req), SystemTime::now())
    }

    /// Identifies the peer of `req`. `Ok(None)`: no credentials of any kind.
    ///
    /// # Errors
    /// [`PeerAuthFailure`] for handshake steps, invalid credentials and bad claims.
    pub fn identify(&self, req: &HttpRequest) -> Result<Option<PeerIdentity>, PeerAuthFailure> {
        let hostname = Self::hostname(req);
        let authorization = match req.headers().get(header::AUTHORIZATION) {
            None => None,
            Some(v) => match v.to_str() {
                Ok(s) => Some(s),
                Err(_) => {
                    return Err(PeerAuthFailure::Rejected {
                        reason: PeerAuthError::Malformed(
                            "the Authorization header is not visible ASCII".into(),
                        ),
                        www_authenticate: self.server.challenge(&hostname, SystemTime::now()),
                    })
                }
            },
        };
        match self
            .server
            .authenticate(authorization, &hostname, SystemTime::now())
        {
            ServerOutcome::Authenticated {
                peer,
                authentication_info,
            } => {
                return Ok(Some(PeerIdentity {
                    peer,
                    proven: true,
                    authentication_info,
                }))
            }
            ServerOutcome::Challenge { www_authenticate } => {
                return Err(PeerAuthFailure::Challenge { www_authenticate })
            }
            ServerOutcome::Rejected {
                reason,
                www_authenticate,
            } => {
                return Err(PeerAuthFailure::Rejected {
                    reason,
                    www_authenticate,
                })
            }
            ServerOutcome::NoCredentials => {}
        }
        if !self.trust_legacy_header {
            return Ok(None);
        }
        let claimed = req
            .headers()
            .get(LEGACY_PEER_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .or_else(|| query_param(req.query_string(), "peer_id"));
        match claimed {
            None => Ok(None),
            Some(text) => text
                .trim()
                .parse::<PeerId>()
                .map(|peer| {
                    Some(PeerIdentity {
                        peer,
                        proven: false,
                        authentication_info: None,
                    })
                })
                .map_err(|_| {
                    PeerAuthFailure::BadClaim(format!(
                        "{LEGACY_PEER_HEADER} is not a valid libp2p peer id"
                    ))
                }),
        }
    }

    /// Like [`PeerAuthenticator::identify`], but no credentials is a failure carrying a
    /// fresh challenge.
    ///
    /// # Errors
    /// As `identify`, plus [`PeerAuthFailure::Missing`].
    pub fn require(&self, req: &HttpRequest) -> Result<PeerIdentity, PeerAuthFailure> {
        self.identify(req)?.ok_or_else(|| PeerAuthFailure::Missing {
            www_authenticate: self.challenge(req),
        })
    }
}

/// The first value of `name` in a URL query string, percent-decoded.
fn query_param(query: &str, name: &str) -> Option<String> {
    serde_urlencoded_pairs(query)
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

fn serde_urlencoded_pairs(query: &str) -> Vec<(String, String)> {
    actix_web::web::Query::<Vec<(String, String)>>::from_query(query)
        .map(|q| q.into_inner())
        .unwrap_or_default()
}
