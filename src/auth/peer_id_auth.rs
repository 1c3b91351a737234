//! The `libp2p-PeerID` HTTP authentication scheme (libp2p/specs `http/peer-id-auth.md`).
//!
//! Both peers prove ownership of their libp2p identity key by signing a
//! challenge chosen by the other side, bound to the HTTP hostname. After a
//! successful handshake the server hands out a bearer token that the client
//! presents on later requests.
//!
//! * [`ServerAuth`] is the stateless server side: the `opaque` value of a
//!   challenge and the `bearer` token are HMAC-SHA256-authenticated blobs, so
//!   no per-client state is kept.
//! * [`ClientAuth`] is the client side, with pure building blocks and
//!   `reqwest`-based drivers for both the server-initiated and the
//!   client-initiated handshakes.
//!
//! Header values are at most [`MAX_HEADER_LEN`] bytes (spec section
//! "Considerations for Implementations"). Binary values are URL-safe base64
//! (spec section "Base64 Encoding"); padding is emitted and optional on input.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, URL_SAFE};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use libp2p::identity::{Keypair, PeerId, PublicKey};
use rand::RngCore;
use sha2::Sha256;

/// The authentication scheme name, also the prefix of all signed data (spec
/// sections "Introduction" and "Signing").
pub const SCHEME: &str = "libp2p-PeerID";

/// The largest accepted authentication header value, in bytes (spec section
/// "Considerations for Implementations").
pub const MAX_HEADER_LEN: usize = 2048;

/// Random bytes in a freshly generated challenge (before base64 encoding).
const CHALLENGE_BYTES: usize = 32;
/// Shortest accepted challenge string, in characters (as go-libp2p requires).
const MIN_CHALLENGE_LEN: usize = 32;
/// Longest accepted challenge string, in characters; keeps the `opaque` value
/// of a client-initiated handshake well below [`MAX_HEADER_LEN`].
const MAX_CHALLENGE_LEN: usize = 256;
/// How long a server-issued challenge (`opaque`) stays valid.
const CHALLENGE_TTL_SECS: u64 = 60;

/// Length of an HMAC-SHA256 tag in bytes.
const MAC_LEN: usize = 32;
/// Blob kind byte of an `opaque` challenge state.
const KIND_CHALLENGE: u8 = 1;
/// Blob kind byte of a bearer token.
const KIND_BEARER: u8 = 2;

type HmacSha256 = Hmac<Sha256>;

/// URL-safe base64 that accepts both padded and unpadded input.
const B64_LENIENT: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Why authentication failed, on either side.
#[derive(Debug, thiserror::Error)]
pub enum PeerAuthError {
    /// An authentication header value exceeds [`MAX_HEADER_LEN`] bytes.
    #[error("The authentication header value is longer than {MAX_HEADER_LEN} bytes.")]
    HeaderTooLong,
    /// The header value does not follow the auth-param syntax, or a value
    /// (base64, challenge length, blob layout) is invalid.
    #[error("The authentication header is malformed: {0}.")]
    Malformed(String),
    /// A parameter the current handshake step requires is absent.
    #[error("The authentication header lacks the required parameter `{0}`.")]
    MissingParam(&'static str),
    /// A `public-key` value is not a protobuf-encoded public key of a
    /// supported type.
    #[error("The public key is not a valid protobuf-encoded libp2p public key.")]
    BadPublicKey,
    /// A signature does not verify against the expected public key and data.
    #[error("The signature does not verify for the claimed public key.")]
    BadSignature,
    /// The server challenge (`opaque`) is older than its 60 second lifetime.
    #[error("The authentication challenge has expired; start a new handshake.")]
    ExpiredChallenge,
    /// The bearer token is past its expiry time.
    #[error("The bearer token has expired; authenticate again.")]
    ExpiredToken,
    /// The `opaque` value was not issued by this server for this hostname
    /// (bad HMAC, wrong blob kind or different hostname).
    #[error("The challenge state was not issued by this server for this hostname.")]
    ForeignChallenge,
    /// The bearer token was not issued by this server for this hostname (bad
    /// HMAC, wrong blob kind or different hostname).
    #[error("The bearer token was not issued by this server for this hostname.")]
    ForeignToken,
    /// The server's public key does not belong to the expected peer.
    #[error("The server's public key does not match the expected peer ID.")]
    UnexpectedServerKey,
    /// Producing a signature with the local keypair failed.
    #[error("Signing with the local key failed: {0}.")]
    Signing(String),
    /// The HTTP exchange failed or the server answered unexpectedly.
    #[error("The HTTP exchange failed: {0}.")]
    Http(String),
}

/// Parsed parameters of one `libp2p-PeerID` header value.
///
/// Fields hold the values as sent, with surrounding quotes and quoted-pair
/// escapes removed; base64 values are not decoded.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct AuthParams {
    /// `bearer`: the server-issued token (base64).
    pub bearer: Option<String>,
    /// `challenge-client`: the server's challenge to the client.
    pub challenge_client: Option<String>,
    /// `challenge-server`: the client's challenge to the server.
    pub challenge_server: Option<String>,
    /// `opaque`: server state the client must echo back (base64).
    pub opaque: Option<String>,
    /// `public-key`: the sender's protobuf-encoded public key (base64).
    pub public_key: Option<String>,
    /// `sig`: a signature (base64).
    pub sig: Option<String>,
    /// `expires`: advisory bearer expiry, RFC 3339.
    pub expires: Option<String>,
}

/// One lexical item of an authentication header value.
enum Item {
    /// A bare token: an auth-scheme name (or a token68 value).
    Word { text: String, after_comma: bool },
    /// A `name=value` auth-param.
    Param { name: String, value: String },
}

/// Splits a header value into words and `name=value` params, honouring
/// quoted strings (RFC 9110 section 11, the ABNF the spec refers to).
struct Tokenizer<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Tokenizer<'a> {
    fn new(s: &'a str) -> Self {
        Self {
            bytes: s.as_bytes(),
            pos: 0,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.pos += 1;
        }
    }

    fn slice_to_string(&self, start: usize, end: usize) -> Result<String, &'static str> {
        self.bytes
            .get(start..end)
            .and_then(|b| std::str::from_utf8(b).ok())
            .map(str::to_owned)
            .ok_or("the header is not valid UTF-8")
    }

    /// Reads a quoted string starting at the opening quote.
    fn quoted(&mut self) -> Result<String, &'static str> {
        self.pos += 1; // opening quote
        let mut out = Vec::new();
        loop {
            match self.peek() {
                None => return Err("a quoted string is not terminated"),
                Some(b'"') => {
                    self.pos += 1;
                    break;
                }
                Some(b'\\') => {
                    self.pos += 1;
                    match self.peek() {
                        None => return Err("a quoted string is not terminated"),
                        Some(c) => {
                            out.push(c);
                            self.pos += 1;
                        }
                    }
                }
                Some(c) => {
                    out.push(c);
                    self.pos += 1;
                }
            }
        }
        String::from_utf8(out).map_err(|_| "a quoted string is not valid UTF-8")
    }

    fn next_item(&mut self) -> Option<Result<Item, &'static str>> {
        let mut after_comma = false;
        while let Some(c) = self.peek() {
            match c {
                b' ' | b'\t' => self.pos += 1,
                b',' => {
                    after_comma = true;
                    self.pos += 1;
                }
                _ => break,
            }
        }
        self.peek()?;
        Some(self.item(after_comma))
    }

    fn item(&mut self, after_comma: bool) -> Result<Item, &'static str> {
        let start = self.pos;
        while let Some(c) = self.peek() {
            if matches!(c, b' ' | b'\t' | b',' | b'=' | b'"') {
                break;
            }
            self.pos += 1;
        }
        if self.pos == start {
            return Err("a parameter name is missing before `=` or a quote");
        }
        let name = self.slice_to_string(start, self.pos)?;
        // No whitespace before '=': otherwise `scheme ="v"` would read as a
        // parameter named like the scheme.
        if self.peek() != Some(b'=') {
            return Ok(Item::Word {
                text: name,
                after_comma,
            });
        }
        self.pos += 1; // '='
        self.skip_ws();
        let value = if self.peek() == Some(b'"') {
            self.quoted()?
        } else {
            let vstart = self.pos;
            while let Some(c) = self.peek() {
                if matches!(c, b' ' | b'\t' | b',') {
                    break;
                }
                if c == b'"' {
                    return Err("an unquoted value contains a quote");
                }
                self.pos += 1;
            }
            self.slice_to_string(vstart, self.pos)?
        };
        match self.peek() {
            None | Some(b' ' | b'\t' | b',') => Ok(Item::Param { name, value }),
            Some(_) => Err("unexpected characters follow a quoted value"),
        }
    }
}

fn contains_scheme(s: &str) -> bool {
    s.to_ascii_lowercase()
        .contains(&SCHEME.to_ascii_lowercase())
}

/// Parses the `libp2p-PeerID` parameters out of an `Authorization`,
/// `WWW-Authenticate` or `Authentication-Info` header value.
///
/// The scheme name is matched case-insensitively anywhere among the
/// challenges of the value (other schemes before it are skipped); its
/// parameters run until the next bare token (the next scheme) or the end.
/// Parameters may be separated by commas and/or spaces, values may be quoted
/// (with `\` escapes) or unquoted, whitespace may follow `=` but not precede
/// it; unknown parameter names are ignored.
///
/// Returns `Ok(None)` when the value holds no `libp2p-PeerID` challenge.
///
/// # Errors
/// * [`PeerAuthError::HeaderTooLong`] if the value exceeds
///   [`MAX_HEADER_LEN`] bytes (checked first, whatever the scheme).
/// * [`PeerAuthError::Malformed`] for an unterminated quoted string, a
///   missing parameter name, a bare token right after the scheme, or a
///   duplicated parameter.
pub fn parse_params(header_value: &str) -> Result<Option<AuthParams>, PeerAuthError> {
    if header_value.len() > MAX_HEADER_LEN {
        return Err(PeerAuthError::HeaderTooLong);
    }
    let malformed = |m: &str| PeerAuthError::Malformed(m.to_owned());
    let mut tokens = Tokenizer::new(header_value);
    loop {
        match tokens.next_item() {
            None => return Ok(None),
            Some(Err(e)) => {
                return if contains_scheme(header_value) {
                    Err(malformed(e))
                } else {
                    Ok(None)
                }
            }
            Some(Ok(Item::Word { text, .. })) if text.eq_ignore_ascii_case(SCHEME) => break,
            Some(Ok(_)) => {}
        }
    }
    let mut params = AuthParams::default();
    let mut seen_param = false;
    while let Some(item) = tokens.next_item() {
        match item.map_err(malformed)? {
            Item::Word { after_comma, .. } => {
                if !seen_param && !after_comma {
                    return Err(malformed(
                        "the scheme must be followed by name=value parameters",
                    ));
                }
                break;
            }
            Item::Param { name, value } => {
                seen_param = true;
                let slot = match name.as_str() {
                    "bearer" => &mut params.bearer,
                    "challenge-client" => &mut params.challenge_client,
                    "challenge-server" => &mut params.challenge_server,
                    "opaque" => &mut params.opaque,
                    "public-key" => &mut params.public_key,
                    "sig" => &mut params.sig,
                    "expires" => &mut params.expires,
                    _ => continue,
                };
                if slot.is_some() {
                    return Err(PeerAuthError::Malformed(format!(
                        "the parameter `{name}` appears more than once"
                    )));
                }
                *slot = Some(value);
            }
        }
    }
    Ok(Some(params))
}

/// Builds the bytes to sign (spec section "Signing"): [`SCHEME`], then for
/// each `(name, value)` part sorted by name,
/// `uvarint(len(name) + 1 + len(value)) ‖ name ‖ "=" ‖ value`.
///
/// String values (challenges, hostname) are passed as their UTF-8 bytes,
/// public keys as their raw protobuf encoding.
pub fn data_to_sign(parts: &[(&str, &[u8])]) -> Vec<u8> {
    let mut sorted: Vec<&(&str, &[u8])> = parts.iter().collect();
    sorted.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let mut out = Vec::with_capacity(
        SCHEME.len()
            + sorted
                .iter()
                .map(|(n, v)| n.len() + v.len() + 11)
                .sum::<usize>(),
    );
    out.extend_from_slice(SCHEME.as_bytes());
    for (name, value) in sorted {
        // usize -> u64 never truncates on supported targets.
        let mut len = (name.len() + 1 + value.len()) as u64;
        while len >= 0x80 {
            out.push((len as u8 & 0x7f) | 0x80);
            len >>= 7;
        }
        out.push(len as u8);
        out.extend_from_slice(name.as_bytes());
        out.push(b'=');
        out.extend_from_slice(value);
    }
    out
}

fn sign_parts(keypair: &Keypair, parts: &[(&str, &[u8])]) -> Result<Vec<u8>, PeerAuthError> {
    keypair
        .sign(&data_to_sign(parts))
        .map_err(|e| PeerAuthError::Signing(e.to_string()))
}

fn verify_parts(key: &PublicKey, parts: &[(&str, &[u8])], sig: &[u8]) -> Result<(), PeerAuthError> {
    if key.verify(&data_to_sign(parts), sig) {
        Ok(())
    } else {
        Err(PeerAuthError::BadSignature)
    }
}

fn b64_encode(bytes: &[u8]) -> String {
    URL_SAFE.encode(bytes)
}

fn b64_decode(value: &str, what: &str) -> Result<Vec<u8>, PeerAuthError> {
    B64_LENIENT
        .decode(value)
        .map_err(|_| PeerAuthError::Malformed(format!("`{what}` is not URL-safe base64")))
}

fn decode_public_key(value: &str) -> Result<PublicKey, PeerAuthError> {
    let bytes = B64_LENIENT
        .decode(value)
        .map_err(|_| PeerAuthError::BadPublicKey)?;
    PublicKey::try_decode_protobuf(&bytes).map_err(|_| PeerAuthError::BadPublicKey)
}

fn new_challenge() -> String {
    let mut bytes = [0u8; CHALLENGE_BYTES];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    b64_encode(&bytes)
}

fn check_challenge(value: &str, name: &str) -> Result<(), PeerAuthError> {
    if value.len() < MIN_CHALLENGE_LEN {
        return Err(PeerAuthError::Malformed(format!(
            "`{name}` is shorter than {MIN_CHALLENGE_LEN} characters"
        )));
    }
    if value.len() > MAX_CHALLENGE_LEN {
        return Err(PeerAuthError::Malformed(format!(
            "`{name}` is longer than {MAX_CHALLENGE_LEN} characters"
        )));
    }
    Ok(())
}

/// Formats `SCHEME name="value", …`, escaping quotes and backslashes.
fn build_header(params: &[(&str, &str)]) -> String {
    let mut out = String::from(SCHEME);
    for (i, (name, value)) in params.iter().enumerate() {
        out.push_str(if i == 0 { " " } else { ", " });
        out.push_str(name);
        out.push_str("=\"");
        for c in value.chars() {
            if c == '"' || c == '\\' {
                out.push('\\');
            }
            out.push(c);
        }
        out.push('"');
    }
    out
}

fn unix_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn rfc3339(secs: u64) -> String {
    i64::try_from(secs)
        .ok()
        .and_then(|s| jiff::Timestamp::from_second(s).ok())
        .unwrap_or(jiff::Timestamp::MAX)
        .to_string()
}

/// Length-prefixed binary layout of the HMAC-authenticated blobs.
#[derive(Default)]
struct BlobWriter(Vec<u8>);

impl BlobWriter {
    fn u8(mut self, v: u8) -> Self {
        self.0.push(v);
        self
    }
    fn u64(mut self, v: u64) -> Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    fn bytes(mut self, v: &[u8]) -> Self {
        // Field lengths are bounded by the 2048-byte header limit or by the
        // Host header, far below u32::MAX; saturate rather than wrap.
        let len = u32::try_from(v.len()).unwrap_or(u32::MAX);
        self.0.extend_from_slice(&len.to_be_bytes());
        self.0.extend_from_slice(v);
        self
    }
}

struct BlobReader<'a>(&'a [u8]);

impl<'a> BlobReader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Some(head)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    fn u64(&mut self) -> Option<u64> {
        let b: [u8; 8] = self.take(8)?.try_into().ok()?;
        Some(u64::from_be_bytes(b))
    }
    fn bytes(&mut self) -> Option<&'a [u8]> {
        let b: [u8; 4] = self.take(4)?.try_into().ok()?;
        let len = usize::try_from(u32::from_be_bytes(b)).ok()?;
        self.take(len)
    }
    fn string(&mut self) -> Option<String> {
        std::str::from_utf8(self.bytes()?).ok().map(str::to_owned)
    }
    fn end(&self) -> Option<()> {
        self.0.is_empty().then_some(())
    }
}

/// State carried in the `opaque` parameter of a server challenge.
struct ChallengeState {
    created: u64,
    hostname: String,
    challenge_client: String,
    /// Client-initiated flow: the client's public key (protobuf) and its
    /// `challenge-server`.
    client_initiated: Option<(Vec<u8>, String)>,
}

/// State carried in a bearer token.
struct BearerState {
    expires: u64,
    peer: Vec<u8>,
    hostname: String,
}

fn blob_body(blob: &[u8]) -> Option<(&[u8], &[u8])> {
    (blob.len() > MAC_LEN).then(|| blob.split_at(MAC_LEN))
}

fn decode_challenge_state(body: &[u8]) -> Option<ChallengeState> {
    let mut r = BlobReader(body);
    if r.u8()? != KIND_CHALLENGE {
        return None;
    }
    let created = r.u64()?;
    let hostname = r.string()?;
    let challenge_client = r.string()?;
    let client_initiated = match r.u8()? {
        0 => None,
        1 => Some((r.bytes()?.to_vec(), r.string()?)),
        _ => return None,
    };
    r.end()?;
    Some(ChallengeState {
        created,
        hostname,
        challenge_client,
        client_initiated,
    })
}

fn decode_bearer_state(body: &[u8]) -> Option<BearerState> {
    let mut r = BlobReader(body);
    if r.u8()? != KIND_BEARER {
        return None;
    }
    let expires = r.u64()?;
    let peer = r.bytes()?.to_vec();
    let hostname = r.string()?;
    r.end()?;
    Some(BearerState {
        expires,
        peer,
        hostname,
    })
}

/// Server side of the scheme (spec sections "Server Initiated Handshake",
/// "Client Initiated Handshake" and "libp2p bearer token").
///
/// Stateless: `opaque` challenge state (valid 60 s) and bearer tokens (valid
/// `token_ttl`) are blobs authenticated with HMAC-SHA256 under the key given
/// to [`ServerAuth::new`]. Bearer tokens bind the client's peer ID, the
/// hostname and the expiry (unix seconds).
pub struct ServerAuth {
    keypair: Keypair,
    public_key: PublicKey,
    public_key_bytes: Vec<u8>,
    public_key_b64: String,
    mac: HmacSha256,
    token_ttl: Duration,
}

impl fmt::Debug for ServerAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerAuth")
            .field("peer", &self.public_key.to_peer_id())
            .field("token_ttl", &self.token_ttl)
            .finish_non_exhaustive()
    }
}

/// The result of [`ServerAuth::authenticate`] for one request.
pub enum ServerOutcome {
    /// Header absent or another scheme: the route decides (a protected route
    /// answers 401 with [`ServerAuth::challenge`]).
    NoCredentials,
    /// A valid bearer, or a handshake that just completed.
    /// `authentication_info` is `Some(header value)` when the handshake
    /// completed in this request; the caller must send it in an
    /// `Authentication-Info` response header.
    Authenticated {
        /// The authenticated client.
        peer: PeerId,
        /// The `Authentication-Info` value (carries the new bearer token).
        authentication_info: Option<String>,
    },
    /// Client-initiated step 1 answered: send 401 with this
    /// `WWW-Authenticate` value.
    Challenge {
        /// The `WWW-Authenticate` value.
        www_authenticate: String,
    },
    /// Credentials present but invalid (forged signature, stale or foreign
    /// bearer, oversized or malformed header…): send 401 with this fresh
    /// `WWW-Authenticate` value.
    Rejected {
        /// Why the credentials were refused.
        reason: PeerAuthError,
        /// A fresh server-initiated challenge.
        www_authenticate: String,
    },
}

impl fmt::Debug for ServerOutcome {
    /// Redacts `authentication_info`, which carries a bearer token.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoCredentials => f.write_str("NoCredentials"),
            Self::Authenticated {
                peer,
                authentication_info,
            } => f
                .debug_struct("Authenticated")
                .field("peer", peer)
                .field(
                    "authentication_info",
                    &authentication_info.as_ref().map(|_| "<redacted>"),
                )
                .finish(),
            Self::Challenge { www_authenticate } => f
                .debug_struct("Challenge")
                .field("www_authenticate", www_authenticate)
                .finish(),
            Self::Rejected {
                reason,
                www_authenticate,
            } => f
                .debug_struct("Rejected")
                .field("reason", reason)
                .field("www_authenticate", www_authenticate)
                .finish(),
        }
    }
}

impl ServerAuth {
    /// Creates the server side with its identity `keypair`, the 32-byte
    /// `hmac_key` authenticating `opaque` and bearer blobs (keep it secret;
    /// changing it invalidates all outstanding tokens), and the bearer token
    /// lifetime `token_ttl` (whole seconds are used).
    pub fn new(keypair: Keypair, hmac_key: [u8; 32], token_ttl: Duration) -> Self {
        let public_key = keypair.public();
        let public_key_bytes = public_key.encode_protobuf();
        let public_key_b64 = b64_encode(&public_key_bytes);
        let mac = HmacSha256::new_from_slice(&hmac_key).expect("HMAC accepts keys of any length");
        Self {
            keypair,
            public_key,
            public_key_bytes,
            public_key_b64,
            mac,
            token_ttl,
        }
    }

    /// The server's identity public key.
    pub fn public_key(&self) -> PublicKey {
        self.public_key.clone()
    }

    fn seal(&self, body: &[u8]) -> String {
        let mut mac = self.mac.clone();
        mac.update(body);
        let mut blob = mac.finalize().into_bytes().to_vec();
        blob.extend_from_slice(body);
        b64_encode(&blob)
    }

    /// Decodes and authenticates a blob, returning its body; `None` when the
    /// HMAC does not verify (constant-time comparison).
    fn open<'a>(&self, blob: &'a [u8]) -> Option<&'a [u8]> {
        let (tag, body) = blob_body(blob)?;
        let mut mac = self.mac.clone();
        mac.update(body);
        mac.verify_slice(tag).ok()?;
        Some(body)
    }

    /// A fresh server-initiated challenge (spec "Server Initiated Handshake"
    /// step 2): the `WWW-Authenticate` value
    /// `libp2p-PeerID challenge-client="…", public-key="…", opaque="…"` for a
    /// 401 response. `hostname` is the request's Host header as sent.
    pub fn challenge(&self, hostname: &str, now: SystemTime) -> String {
        let challenge_client = new_challenge();
        let opaque = self.seal_challenge(hostname, &challenge_client, now, None);
        build_header(&[
            ("challenge-client", &challenge_client),
            ("public-key", &self.public_key_b64),
            ("opaque", &opaque),
        ])
    }

    fn seal_challenge(
        &self,
        hostname: &str,
        challenge_client: &str,
        now: SystemTime,
        client_initiated: Option<(&[u8], &str)>,
    ) -> String {
        let mut w = BlobWriter::default()
            .u8(KIND_CHALLENGE)
            .u64(unix_secs(now))
            .bytes(hostname.as_bytes())
            .bytes(challenge_client.as_bytes());
        w = match client_initiated {
            None => w.u8(0),
            Some((key, challenge_server)) => w.u8(1).bytes(key).bytes(challenge_server.as_bytes()),
        };
        self.seal(&w.0)
    }

    /// Checks the request's `Authorization` value (`authorization`, if any)
    /// for the request addressed to `hostname` (the Host header as sent) at
    /// time `now`.
    ///
    /// Dispatches on the parameters present, like go-libp2p: `sig` and
    /// `opaque` complete a handshake; `bearer` is a token; `challenge-server`
    /// and `public-key` start a client-initiated handshake. Never panics on
    /// any input; every failure becomes [`ServerOutcome::Rejected`],
    /// including a value over [`MAX_HEADER_LEN`] bytes of any scheme.
    pub fn authenticate(
        &self,
        authorization: Option<&str>,
        hostname: &str,
        now: SystemTime,
    ) -> ServerOutcome {
        let Some(value) = authorization else {
            return ServerOutcome::NoCredentials;
        };
        let result = match parse_params(value) {
            Ok(None) => return ServerOutcome::NoCredentials,
            Ok(Some(p)) => self.dispatch(&p, hostname, now),
            Err(e) => Err(e),
        };
        match result {
            Ok(outcome) => outcome,
            Err(reason) => ServerOutcome::Rejected {
                reason,
                www_authenticate: self.challenge(hostname, now),
            },
        }
    }

    fn dispatch(
        &self,
        p: &AuthParams,
        hostname: &str,
        now: SystemTime,
    ) -> Result<ServerOutcome, PeerAuthError> {
        match p {
            AuthParams {
                sig: Some(sig),
                opaque: Some(opaque),
                ..
            } => self.verify_challenge(p, sig, opaque, hostname, now),
            AuthParams {
                bearer: Some(bearer),
                ..
            } => self.verify_bearer(bearer, hostname, now),
            AuthParams {
                challenge_server: Some(cs),
                public_key: Some(pk),
                ..
            } => self.sign_challenge(cs, pk, hostname, now),
            _ => Err(PeerAuthError::Malformed(
                "the parameters match no handshake step".to_owned(),
            )),
        }
    }

    /// Client-initiated step 2: sign the client's challenge and challenge it.
    fn sign_challenge(
        &self,
        challenge_server: &str,
        public_key: &str,
        hostname: &str,
        now: SystemTime,
    ) -> Result<ServerOutcome, PeerAuthError> {
        check_challenge(challenge_server, "challenge-server")?;
        let client_key = decode_public_key(public_key)?;
        let client_key_bytes = client_key.encode_protobuf();
        let sig = sign_parts(
            &self.keypair,
            &[
                ("challenge-server", challenge_server.as_bytes()),
                ("client-public-key", &client_key_bytes),
                ("hostname", hostname.as_bytes()),
            ],
        )?;
        let challenge_client = new_challenge();
        let opaque = self.seal_challenge(
            hostname,
            &challenge_client,
            now,
            Some((&client_key_bytes, challenge_server)),
        );
        Ok(ServerOutcome::Challenge {
            www_authenticate: build_header(&[
                ("challenge-client", &challenge_client),
                ("public-key", &self.public_key_b64),
                ("sig", &b64_encode(&sig)),
                ("opaque", &opaque),
            ]),
        })
    }

    /// Final step of either handshake: verify the client's signature over
    /// the `challenge-client` stored in `opaque` and issue a bearer token.
    fn verify_challenge(
        &self,
        p: &AuthParams,
        sig: &str,
        opaque: &str,
        hostname: &str,
        now: SystemTime,
    ) -> Result<ServerOutcome, PeerAuthError> {
        let blob = b64_decode(opaque, "opaque")?;
        let body = self.open(&blob).ok_or(PeerAuthError::ForeignChallenge)?;
        let state = decode_challenge_state(body).ok_or(PeerAuthError::ForeignChallenge)?;
        if state.hostname != hostname {
            return Err(PeerAuthError::ForeignChallenge);
        }
        if unix_secs(now) > state.created.saturating_add(CHALLENGE_TTL_SECS) {
            return Err(PeerAuthError::ExpiredChallenge);
        }
        let (client_key, server_initiated_challenge) = match &state.client_initiated {
            Some((key_bytes, _)) => {
                let key = PublicKey::try_decode_protobuf(key_bytes)
                    .map_err(|_| PeerAuthError::BadPublicKey)?;
                if let Some(sent) = &p.public_key {
                    if decode_public_key(sent)? != key {
                        return Err(PeerAuthError::Malformed(
                            "`public-key` differs from the key that started the handshake"
                                .to_owned(),
                        ));
                    }
                }
                (key, None)
            }
            None => {
                let sent = p
                    .public_key
                    .as_deref()
                    .ok_or(PeerAuthError::MissingParam("public-key"))?;
                let challenge_server = p
                    .challenge_server
                    .as_deref()
                    .ok_or(PeerAuthError::MissingParam("challenge-server"))?;
                check_challenge(challenge_server, "challenge-server")?;
                (decode_public_key(sent)?, Some(challenge_server))
            }
        };
        let sig = b64_decode(sig, "sig")?;
        verify_parts(
            &client_key,
            &[
                ("challenge-client", state.challenge_client.as_bytes()),
                ("server-public-key", &self.public_key_bytes),
                ("hostname", hostname.as_bytes()),
            ],
            &sig,
        )?;
        let peer = client_key.to_peer_id();
        let expires = unix_secs(now).saturating_add(self.token_ttl.as_secs());
        let bearer = self.seal(
            &BlobWriter::default()
                .u8(KIND_BEARER)
                .u64(expires)
                .bytes(&peer.to_bytes())
                .bytes(hostname.as_bytes())
                .0,
        );
        let expires = rfc3339(expires);
        let info = match server_initiated_challenge {
            Some(challenge_server) => {
                let client_key_bytes = client_key.encode_protobuf();
                let server_sig = sign_parts(
                    &self.keypair,
                    &[
                        ("challenge-server", challenge_server.as_bytes()),
                        ("client-public-key", &client_key_bytes),
                        ("hostname", hostname.as_bytes()),
                    ],
                )?;
                build_header(&[
                    ("sig", &b64_encode(&server_sig)),
                    ("bearer", &bearer),
                    ("expires", &expires),
                ])
            }
            None => build_header(&[("bearer", &bearer), ("expires", &expires)]),
        };
        Ok(ServerOutcome::Authenticated {
            peer,
            authentication_info: Some(info),
        })
    }

    fn verify_bearer(
        &self,
        bearer: &str,
        hostname: &str,
        now: SystemTime,
    ) -> Result<ServerOutcome, PeerAuthError> {
        let blob = b64_decode(bearer, "bearer")?;
        let body = self.open(&blob).ok_or(PeerAuthError::ForeignToken)?;
        let state = decode_bearer_state(body).ok_or(PeerAuthError::ForeignToken)?;
        if state.hostname != hostname {
            return Err(PeerAuthError::ForeignToken);
        }
        if unix_secs(now) >= state.expires {
            return Err(PeerAuthError::ExpiredToken);
        }
        let peer = PeerId::from_bytes(&state.peer).map_err(|_| {
            PeerAuthError::Malformed("the bearer holds no valid peer ID".to_owned())
        })?;
        Ok(ServerOutcome::Authenticated {
            peer,
            authentication_info: None,
        })
    }
}

/// A bearer token obtained from a server.
#[derive(Clone)]
pub struct Bearer {
    /// The token exactly as the server sent it (base64).
    pub token: String,
    /// The authenticated server.
    pub server: PeerId,
    /// The advisory expiry the server announced (RFC 3339), if any.
    pub expires: Option<String>,
}

impl fmt::Debug for Bearer {
    /// Redacts the token.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bearer")
            .field("token", &"<redacted>")
            .field("server", &self.server)
            .field("expires", &self.expires)
            .finish()
    }
}

impl Bearer {
    /// The `Authorization` value for later requests:
    /// `libp2p-PeerID bearer="…"` (spec section "libp2p bearer token").
    pub fn authorization(&self) -> String {
        build_header(&[("bearer", &self.token)])
    }
}

/// The client's answer to a server-initiated challenge, from
/// [`ClientAuth::answer_challenge`].
#[derive(Debug, Clone)]
pub struct ChallengeAnswer {
    /// The `Authorization` value for the second request:
    /// `libp2p-PeerID public-key="…", opaque="…", challenge-server="…", sig="…"`.
    pub authorization: String,
    /// The challenge the server must sign in `Authentication-Info`.
    pub challenge_server: String,
    /// The server's public key taken from the challenge (not yet
    /// authenticated).
    pub server_key: PublicKey,
}

/// The first request of a client-initiated handshake, from
/// [`ClientAuth::start_client_initiated`].
#[derive(Debug, Clone)]
pub struct ClientInitiatedStart {
    /// The `Authorization` value:
    /// `libp2p-PeerID challenge-server="…", public-key="…"`.
    pub authorization: String,
    /// The challenge the server must sign in its `WWW-Authenticate`.
    pub challenge_server: String,
}

/// The client's second request of a client-initiated handshake, from
/// [`ClientAuth::finish_client_initiated`].
#[derive(Debug, Clone)]
pub struct ClientInitiatedFinish {
    /// The `Authorization` value: `libp2p-PeerID opaque="…", sig="…"`.
    pub authorization: String,
    /// The server, already authenticated by its signature.
    pub server: PeerId,
}

/// Client side of the scheme: authenticates to a server and verifies the
/// server's identity.
pub struct ClientAuth {
    keypair: Keypair,
    public_key_bytes: Vec<u8>,
    public_key_b64: String,
}

impl fmt::Debug for ClientAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientAuth")
            .field("peer", &self.keypair.public().to_peer_id())
            .finish_non_exhaustive()
    }
}

fn check_expected(key: &PublicKey, expected: Option<PeerId>) -> Result<PeerId, PeerAuthError> {
    let peer = key.to_peer_id();
    match expected {
        Some(e) if e != peer => Err(PeerAuthError::UnexpectedServerKey),
        _ => Ok(peer),
    }
}

fn require_scheme(value: &str, header: &str) -> Result<AuthParams, PeerAuthError> {
    parse_params(value)?.ok_or_else(|| {
        PeerAuthError::Malformed(format!("the {header} header is not of the {SCHEME} scheme"))
    })
}

fn http_err(e: reqwest::Error) -> PeerAuthError {
    PeerAuthError::Http(e.without_url().to_string())
}

/// The Host header value reqwest sends for `url`: host, plus `:port` when
/// the port is not the scheme's default.
fn host_of(url: &reqwest::Url) -> Result<String, PeerAuthError> {
    let host = url
        .host_str()
        .ok_or_else(|| PeerAuthError::Http("the URL has no host".to_owned()))?;
    Ok(match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    })
}

/// The first `libp2p-PeerID` value among the response's `name` headers.
fn scheme_header(resp: &reqwest::Response, name: &str) -> Result<String, PeerAuthError> {
    let mut too_long = false;
    for value in resp.headers().get_all(name) {
        let Ok(value) = value.to_str() else { continue };
        match parse_params(value) {
            Ok(Some(_)) => return Ok(value.to_owned()),
            Err(PeerAuthError::HeaderTooLong) => too_long = true,
            _ => {}
        }
    }
    if too_long {
        return Err(PeerAuthError::HeaderTooLong);
    }
    Err(PeerAuthError::Http(format!(
        "the response (status {}) has no {SCHEME} {name} header",
        resp.status()
    )))
}

impl ClientAuth {
    /// Creates the client side with its identity `keypair`.
    pub fn new(keypair: Keypair) -> Self {
        let public_key_bytes = keypair.public().encode_protobuf();
        let public_key_b64 = b64_encode(&public_key_bytes);
        Self {
            keypair,
            public_key_bytes,
            public_key_b64,
        }
    }

    /// The client's identity public key.
    pub fn public_key(&self) -> PublicKey {
        self.keypair.public()
    }

    /// Server-initiated step 3: answers the 401's `WWW-Authenticate` value
    /// by signing `challenge-client`, `server-public-key` and `hostname` (the
    /// Host header as sent), and challenging the server in return.
    ///
    /// # Errors
    /// [`PeerAuthError::HeaderTooLong`], [`PeerAuthError::Malformed`] (not
    /// this scheme, challenge too short or long),
    /// [`PeerAuthError::MissingParam`], [`PeerAuthError::BadPublicKey`],
    /// [`PeerAuthError::Signing`].
    pub fn answer_challenge(
        &self,
        www_authenticate: &str,
        hostname: &str,
    ) -> Result<ChallengeAnswer, PeerAuthError> {
        let p = require_scheme(www_authenticate, "WWW-Authenticate")?;
        let challenge_client = p
            .challenge_client
            .ok_or(PeerAuthError::MissingParam("challenge-client"))?;
        check_challenge(&challenge_client, "challenge-client")?;
        let server_key = decode_public_key(
            p.public_key
                .as_deref()
                .ok_or(PeerAuthError::MissingParam("public-key"))?,
        )?;
        let opaque = p.opaque.ok_or(PeerAuthError::MissingParam("opaque"))?;
        let sig = sign_parts(
            &self.keypair,
            &[
                ("challenge-client", challenge_client.as_bytes()),
                ("server-public-key", &server_key.encode_protobuf()),
                ("hostname", hostname.as_bytes()),
            ],
        )?;
        let challenge_server = new_challenge();
        let authorization = build_header(&[
            ("public-key", &self.public_key_b64),
            ("opaque", &opaque),
            ("challenge-server", &challenge_server),
            ("sig", &b64_encode(&sig)),
        ]);
        Ok(ChallengeAnswer {
            authorization,
            challenge_server,
            server_key,
        })
    }

    /// Server-initiated step 5: verifies the server's `sig` in the
    /// `Authentication-Info` value over `challenge_server`, this client's
    /// public key and `hostname`, checks `server_key` belongs to
    /// `expected_server` (if given) and returns the bearer token.
    ///
    /// # Errors
    /// [`PeerAuthError::UnexpectedServerKey`], [`PeerAuthError::BadSignature`],
    /// [`PeerAuthError::MissingParam`], [`PeerAuthError::Malformed`],
    /// [`PeerAuthError::HeaderTooLong`].
    pub fn verify_server(
        &self,
        authentication_info: &str,
        server_key: &PublicKey,
        challenge_server: &str,
        hostname: &str,
        expected_server: Option<PeerId>,
    ) -> Result<Bearer, PeerAuthError> {
        let p = require_scheme(authentication_info, "Authentication-Info")?;
        let server = check_expected(server_key, expected_server)?;
        let sig = b64_decode(
            p.sig.as_deref().ok_or(PeerAuthError::MissingParam("sig"))?,
            "sig",
        )?;
        verify_parts(
            server_key,
            &[
                ("challenge-server", challenge_server.as_bytes()),
                ("client-public-key", &self.public_key_bytes),
                ("hostname", hostname.as_bytes()),
            ],
            &sig,
        )?;
        let token = p.bearer.ok_or(PeerAuthError::MissingParam("bearer"))?;
        Ok(Bearer {
            token,
            server,
            expires: p.expires,
        })
    }

    /// Client-initiated step 1: a fresh `challenge-server` and the
    /// `Authorization` value carrying it with this client's public key.
    pub fn start_client_initiated(&self) -> ClientInitiatedStart {
        let challenge_server = new_challenge();
        ClientInitiatedStart {
            authorization: build_header(&[
                ("challenge-server", &challenge_server),
                ("public-key", &self.public_key_b64),
            ]),
            challenge_server,
        }
    }

    /// Client-initiated step 3: verifies the server's `sig` in the 401's
    /// `WWW-Authenticate` value over `challenge_server`, this client's public
    /// key and `hostname`, checks the server key against `expected_server`
    /// (if given), then signs `challenge-client`, `server-public-key` and
    /// `hostname`.
    ///
    /// # Errors
    /// [`PeerAuthError::UnexpectedServerKey`], [`PeerAuthError::BadSignature`],
    /// [`PeerAuthError::BadPublicKey`], [`PeerAuthError::MissingParam`],
    /// [`PeerAuthError::Malformed`], [`PeerAuthError::HeaderTooLong`],
    /// [`PeerAuthError::Signing`].
    pub fn finish_client_initiated(
        &self,
        www_authenticate: &str,
        challenge_server: &str,
        hostname: &str,
        expected_server: Option<PeerId>,
    ) -> Result<ClientInitiatedFinish, PeerAuthError> {
        let p = require_scheme(www_authenticate, "WWW-Authenticate")?;
        let server_key = decode_public_key(
            p.public_key
                .as_deref()
                .ok_or(PeerAuthError::MissingParam("public-key"))?,
        )?;
        let server = check_expected(&server_key, expected_server)?;
        let server_sig = b64_decode(
            p.sig.as_deref().ok_or(PeerAuthError::MissingParam("sig"))?,
            "sig",
        )?;
        verify_parts(
            &server_key,
            &[
                ("challenge-server", challenge_server.as_bytes()),
                ("client-public-key", &self.public_key_bytes),
                ("hostname", hostname.as_bytes()),
            ],
            &server_sig,
        )?;
        let challenge_client = p
            .challenge_client
            .ok_or(PeerAuthError::MissingParam("challenge-client"))?;
        check_challenge(&challenge_client, "challenge-client")?;
        let opaque = p.opaque.ok_or(PeerAuthError::MissingParam("opaque"))?;
        let sig = sign_parts(
            &self.keypair,
            &[
                ("challenge-client", challenge_client.as_bytes()),
                ("server-public-key", &server_key.encode_protobuf()),
                ("hostname", hostname.as_bytes()),
            ],
        )?;
        Ok(ClientInitiatedFinish {
            authorization: build_header(&[("opaque", &opaque), ("sig", &b64_encode(&sig))]),
            server,
        })
    }

    /// Client-initiated step 5: extracts the bearer token (and advisory
    /// `expires`) from the `Authentication-Info` value of the server
    /// authenticated as `server` in [`ClientAuth::finish_client_initiated`].
    ///
    /// # Errors
    /// [`PeerAuthError::MissingParam`], [`PeerAuthError::Malformed`],
    /// [`PeerAuthError::HeaderTooLong`].
    pub fn accept_bearer(
        &self,
        authentication_info: &str,
        server: PeerId,
    ) -> Result<Bearer, PeerAuthError> {
        let p = require_scheme(authentication_info, "Authentication-Info")?;
        let token = p.bearer.ok_or(PeerAuthError::MissingParam("bearer"))?;
        Ok(Bearer {
            token,
            server,
            expires: p.expires,
        })
    }

    /// Runs the server-initiated handshake against `url` with `client`: a
    /// GET without credentials must yield 401 with a `libp2p-PeerID`
    /// challenge; a second GET carries the signed answer and must return
    /// `Authentication-Info`, whose server signature is verified. If
    /// `expected_server` is given, the server key must belong to it (checked
    /// before this client signs anything). The hostname signed is the URL's
    /// host\[:port\] as sent in the Host header.
    ///
    /// # Errors
    /// [`PeerAuthError::Http`] for transport failures or unexpected
    /// responses, plus the errors of [`ClientAuth::answer_challenge`] and
    /// [`ClientAuth::verify_server`].
    pub async fn authenticate(
        &self,
        client: &reqwest::Client,
        url: &str,
        expected_server: Option<PeerId>,
    ) -> Result<Bearer, PeerAuthError> {
        Ok(self.authenticate_get(client, url, expected_server).await?.0)
    }

    /// [`ClientAuth::authenticate`], also handing back the server's answer to the
    /// authenticated GET of `url`: the request that completes the handshake is a real
    /// request, and its answer is the one the caller wanted (no second request, so no
    /// second draw on a rate limit).
    ///
    /// # Errors
    /// As [`ClientAuth::authenticate`].
    pub async fn authenticate_get(
        &self,
        client: &reqwest::Client,
        url: &str,
        expected_server: Option<PeerId>,
    ) -> Result<(Bearer, reqwest::Response), PeerAuthError> {
        let url = reqwest::Url::parse(url)
            .map_err(|e| PeerAuthError::Http(format!("invalid URL: {e}")))?;
        let hostname = host_of(&url)?;
        let first = client.get(url.clone()).send().await.map_err(http_err)?;
        if first.status() != reqwest::StatusCode::UNAUTHORIZED {
            return Err(PeerAuthError::Http(format!(
                "expected status 401 with a challenge, got {}",
                first.status()
            )));
        }
        let www = scheme_header(&first, "www-authenticate")?;
        let answer = self.answer_challenge(&www, &hostname)?;
        check_expected(&answer.server_key, expected_server)?;
        let second = client
            .get(url)
            .header(reqwest::header::AUTHORIZATION, &answer.authorization)
            .send()
            .await
            .map_err(http_err)?;
        let info = scheme_header(&second, "authentication-info")?;
        let bearer = self.verify_server(
            &info,
            &answer.server_key,
            &answer.challenge_server,
            &hostname,
            expected_server,
        )?;
        Ok((bearer, second))
    }

    /// Runs the client-initiated handshake against `url` with `client`: a
    /// GET carrying `challenge-server` must yield 401 with the server's
    /// signed challenge, which is verified (and matched against
    /// `expected_server` if given) before a second GET carries this client's
    /// signature and must return `Authentication-Info` with the bearer.
    ///
    /// # Errors
    /// [`PeerAuthError::Http`] for transport failures or unexpected
    /// responses, plus the errors of [`ClientAuth::finish_client_initiated`]
    /// and [`ClientAuth::accept_bearer`].
    pub async fn authenticate_client_initiated(
        &self,
        client: &reqwest::Client,
        url: &str,
        expected_server: Option<PeerId>,
    ) -> Result<Bearer, PeerAuthError> {
        let url = reqwest::Url::parse(url)
            .map_err(|e| PeerAuthError::Http(format!("invalid URL: {e}")))?;
        let hostname = host_of(&url)?;
        let start = self.start_client_initiated();
        let first = client
            .get(url.clone())
            .header(reqwest::header::AUTHORIZATION, &start.authorization)
            .send()
            .await
            .map_err(http_err)?;
        if first.status() != reqwest::StatusCode::UNAUTHORIZED {
            return Err(PeerAuthError::Http(format!(
                "expected status 401 with a signed challenge, got {}",
                first.status()
            )));
        }
        let www = scheme_header(&first, "www-authenticate")?;
        let finish = self.finish_client_initiated(
            &www,
            &start.challenge_server,
            &hostname,
            expected_server,
        )?;
        let second = client
            .get(url)
            .header(reqwest::header::AUTHORIZATION, &finish.authorization)
            .send()
            .await
            .map_err(http_err)?;
        let info = scheme_header(&second, "authentication-info")?;
        self.accept_bearer(&info, finish.server)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOST: &str = "example.com";
    const HMAC_KEY: [u8; 32] = [7; 32];
    const TTL: Duration = Duration::from_secs(3600);

    fn server() -> ServerAuth {
        ServerAuth::new(Keypair::generate_ed25519(), HMAC_KEY, TTL)
    }

    fn keypair_from_hex(hex_pb: &str) -> Keypair {
        let bytes = hex::decode(hex_pb).expect("test vector hex");
        Keypair::from_protobuf_encoding(&bytes).expect("test vector key")
    }

    fn now() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_700_000_000)
    }

    /// Unwraps a rejection, checking it carries a usable fresh challenge.
    fn rejected(outcome: ServerOutcome) -> PeerAuthError {
        match outcome {
            ServerOutcome::Rejected {
                reason,
                www_authenticate,
            } => {
                let p = parse_params(&www_authenticate)
                    .expect("challenge parses")
                    .expect("challenge uses the scheme");
                assert!(p.challenge_client.is_some() && p.opaque.is_some());
                reason
            }
            other => panic!("expected Rejected, got {other:?}"),
        }
    }

    fn authenticated(outcome: ServerOutcome) -> (PeerId, Option<String>) {
        match outcome {
            ServerOutcome::Authenticated {
                peer,
                authentication_info,
            } => (peer, authentication_info),
            other => panic!("expected Authenticated, got {other:?}"),
        }
    }

    /// Runs a server-initiated handshake and returns the bearer.
    fn handshake(server: &ServerAuth, client: &ClientAuth, host: &str, at: SystemTime) -> Bearer {
        let www = server.challenge(host, at);
        let answer = client.answer_challenge(&www, host).expect("answer");
        let (peer, info) =
            authenticated(server.authenticate(Some(&answer.authorization), host, at));
        assert_eq!(peer, client.public_key().to_peer_id());
        client
            .verify_server(
                &info.expect("Authentication-Info"),
                &answer.server_key,
                &answer.challenge_server,
                host,
                Some(server.public_key().to_peer_id()),
            )
            .expect("server verifies")
    }

    #[test]
    fn spec_signing_example() {
        let server_key = keypair_from_hex(
            "0801124001010101010101010101010101010101010101010101010101010101010101018a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c",
        );
        let client_pk =
            hex::decode("080112208139770ea87d175f56a35466c34c7ecccb8d8a91b4ee37a25df60f5b8fc9b394")
                .expect("hex");
        let parts: [(&str, &[u8]); 3] = [
            ("hostname", b"example.com"),
            ("client-public-key", &client_pk),
            (
                "challenge-server",
                b"ERERERERERERERERERERERERERERERERERERERERERE=",
            ),
        ];
        let data = data_to_sign(&parts);
        assert_eq!(
            hex::encode(&data),
            "6c69627032702d5065657249443d6368616c6c656e67652d7365727665723d455245524552455245524552455245524552455245524552455245524552455245524552455245524552453d36636c69656e742d7075626c69632d6b65793d080112208139770ea87d175f56a35466c34c7ecccb8d8a91b4ee37a25df60f5b8fc9b39414686f73746e616d653d6578616d706c652e636f6d"
        );
        let sig = server_key.sign(&data).expect("sign");
        assert_eq!(
            b64_encode(&sig),
            "UA88qZbLUzmAxrD9KECbDCgSKAUBAvBHrOCF2X0uPLR1uUCF7qGfLPc7dw3Olo-LaFCDpk5sXN7TkLWPVvuXAA=="
        );
        assert!(verify_parts(&server_key.public(), &parts, &sig).is_ok());
    }

    #[test]
    fn spec_complete_handshake_signatures() {
        let server_key = keypair_from_hex(
            "0801124001010101010101010101010101010101010101010101010101010101010101018a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c",
        );
        let client_key = keypair_from_hex(
            "0801124002020202020202020202020202020202020202020202020202020202020202028139770ea87d175f56a35466c34c7ecccb8d8a91b4ee37a25df60f5b8fc9b394",
        );
        assert_eq!(
            b64_encode(&client_key.public().encode_protobuf()),
            "CAESIIE5dw6ofRdfVqNUZsNMfszLjYqRtO43ol32D1uPybOU"
        );
        assert_eq!(
            b64_encode(&server_key.public().encode_protobuf()),
            "CAESIIqI4910CfGV_VLbLTy6XXLKZwm_HZQSG_N0iAG0D29c"
        );
        let client_sig = sign_parts(
            &client_key,
            &[
                (
                    "challenge-client",
                    b"ERERERERERERERERERERERERERERERERERERERERERE=",
                ),
                ("server-public-key", &server_key.public().encode_protobuf()),
                ("hostname", b"example.com"),
            ],
        )
        .expect("sign");
        // The client signature of the spec's client-initiated example. The
        // server-initiated example shows a different, stale value: it signs
        // only `challenge-client` and `hostname`, without the
        // `server-public-key` the spec text requires.
        assert_eq!(
            b64_encode(&client_sig),
            "OrwJPO4buHKJdKXP2av8PFwv3XF_-m5MqndskeVV5UzufYzBCTm7RBaFnBS1sEhuQHZSZPh9RJgN5NmLzrUrBQ=="
        );
        let server_sig = sign_parts(
            &server_key,
            &[
                ("challenge-server", b"MzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMz"),
                ("client-public-key", &client_key.public().encode_protobuf()),
                ("hostname", b"example.com"),
            ],
        )
        .expect("sign");
        assert_eq!(
            b64_encode(&server_sig),
            "HQ7BJRaSpRhNCORNiALNJENdwXUyq0eM2cxNoxe-XnQw6oEAMaeYnjMYaHHjgq0XNxZmy4W2ngKUcI1CgprLCQ=="
        );
    }

    #[test]
    fn data_to_sign_sorts_by_name_and_uses_multibyte_varints() {
        let long = vec![b'x'; 200];
        let a = data_to_sign(&[("b", b"2"), ("a", &long)]);
        let b = data_to_sign(&[("a", &long), ("b", b"2")]);
        assert_eq!(a, b);
        // len("a") + 1 + 200 = 202 = 0xca -> uvarint [0xca, 0x01]
        assert_eq!(&a[..SCHEME.len()], SCHEME.as_bytes());
        assert_eq!(
            &a[SCHEME.len()..SCHEME.len() + 4],
            &[0xca, 0x01, b'a', b'=']
        );
        assert!(a.ends_with(&[3, b'b', b'=', b'2']));
    }

    #[test]
    fn parse_params_matches_go_example() {
        let p = parse_params(
            r#"libp2p-PeerID sig="<base64-signature-bytes>", public-key="<base64-encoded-public-key-bytes>", bearer="<base64-encoded-opaque-blob>""#,
        )
        .expect("parses")
        .expect("scheme found");
        assert_eq!(
            p,
            AuthParams {
                sig: Some("<base64-signature-bytes>".into()),
                public_key: Some("<base64-encoded-public-key-bytes>".into()),
                bearer: Some("<base64-encoded-opaque-blob>".into()),
                ..AuthParams::default()
            }
        );
    }

    #[test]
    fn parse_params_separators_quotes_and_other_schemes() {
        // Space-only separators (as in the spec's Authentication-Info example),
        // no spaces after commas, unquoted values with padding, space after '='.
        let p = parse_params(
            r#"libp2p-PeerID sig="c2ln" bearer=YWJj==,expires= "2024-01-01T00:00:00Z",,opaque="x""#,
        )
        .expect("parses")
        .expect("scheme found");
        assert_eq!(p.sig.as_deref(), Some("c2ln"));
        assert_eq!(p.bearer.as_deref(), Some("YWJj=="));
        assert_eq!(p.expires.as_deref(), Some("2024-01-01T00:00:00Z"));
        assert_eq!(p.opaque.as_deref(), Some("x"));

        // Another scheme first (with our scheme name inside a quoted string),
        // case-insensitive scheme, another scheme after ours, unknown params
        // ignored, quoted-pair escapes removed.
        let p = parse_params(
            r#"Basic realm="a, libp2p-PeerID sig=\"no\"", LIBP2P-peerid foo="bar", sig="a\"b", Bearer token="t""#,
        )
        .expect("parses")
        .expect("scheme found");
        assert_eq!(
            p,
            AuthParams {
                sig: Some("a\"b".into()),
                ..AuthParams::default()
            }
        );

        // Other schemes only, and empty values.
        assert_eq!(parse_params("Bearer abc.def/ghi==").expect("ok"), None);
        assert_eq!(parse_params("").expect("ok"), None);
        // An empty challenge of our scheme followed by another scheme.
        assert_eq!(
            parse_params(r#"libp2p-PeerID, Basic realm="x""#).expect("ok"),
            Some(AuthParams::default())
        );
    }

    #[test]
    fn parse_params_rejects_bad_syntax() {
        for bad in [
            "libp2p-PeerID sig",
            r#"libp2p-PeerID sig="abc"#,
            r#"libp2p-PeerID sig="abc\"#,
            r#"libp2p-PeerID ="abc""#,
            r#"libp2p-PeerID sig="a"b"#,
            r#"libp2p-PeerID sig=a"b""#,
            r#"libp2p-PeerID sig="a", sig="b""#,
        ] {
            match parse_params(bad) {
                Err(PeerAuthError::Malformed(_)) => {}
                other => panic!("{bad:?} gave {other:?}"),
            }
        }
        let long = format!(r#"libp2p-PeerID bearer="{}""#, "a".repeat(MAX_HEADER_LEN));
        assert!(matches!(
            parse_params(&long),
            Err(PeerAuthError::HeaderTooLong)
        ));
        let exact = format!(
            r#"libp2p-PeerID bearer="{}""#,
            "a".repeat(MAX_HEADER_LEN - SCHEME.len() - 10)
        );
        assert_eq!(exact.len(), MAX_HEADER_LEN);
        assert!(parse_params(&exact).is_ok());
    }

    #[test]
    fn server_initiated_handshake_then_bearer() {
        let server = server();
        let client = ClientAuth::new(Keypair::generate_ed25519());
        let www = server.challenge(HOST, now());
        let challenge = parse_params(&www).expect("ok").expect("scheme");
        assert_eq!(
            decode_public_key(challenge.public_key.as_deref().expect("public-key"))
                .expect("server key"),
            server.public_key()
        );
        let bearer = handshake(&server, &client, HOST, now());
        assert_eq!(bearer.server, server.public_key().to_peer_id());
        let expires: jiff::Timestamp = bearer
            .expires
            .as_deref()
            .expect("expires")
            .parse()
            .expect("RFC 3339");
        assert_eq!(
            expires.as_second(),
            i64::try_from(unix_secs(now()) + TTL.as_secs()).expect("fits")
        );
        assert!(bearer
            .authorization()
            .starts_with("libp2p-PeerID bearer=\""));

        let (peer, info) =
            authenticated(server.authenticate(Some(&bearer.authorization()), HOST, now()));
        assert_eq!(peer, client.public_key().to_peer_id());
        assert!(info.is_none());
        // Still valid one second before expiry.
        let later = now() + TTL - Duration::from_secs(1);
        authenticated(server.authenticate(Some(&bearer.authorization()), HOST, later));
    }

    #[test]
    fn client_initiated_handshake_then_bearer() {
        let server = server();
        let client = ClientAuth::new(Keypair::generate_ed25519());
        let start = client.start_client_initiated();
        let www = match server.authenticate(Some(&start.authorization), HOST, now()) {
            ServerOutcome::Challenge { www_authenticate } => www_authenticate,
            other => panic!("expected Challenge, got {other:?}"),
        };
        let finish = client
            .finish_client_initiated(
                &www,
                &start.challenge_server,
                HOST,
                Some(server.public_key().to_peer_id()),
            )
            .expect("server verified");
        assert_eq!(finish.server, server.public_key().to_peer_id());
        let (peer, info) =
            authenticated(server.authenticate(Some(&finish.authorization), HOST, now()));
        assert_eq!(peer, client.public_key().to_peer_id());
        let info = info.expect("Authentication-Info");
        let info_params = parse_params(&info).expect("ok").expect("scheme");
        assert!(info_params.sig.is_none());
        let bearer = client.accept_bearer(&info, finish.server).expect("bearer");
        assert!(bearer.expires.is_some());
        let (peer, info) =
            authenticated(server.authenticate(Some(&bearer.authorization()), HOST, now()));
        assert_eq!(peer, client.public_key().to_peer_id());
        assert!(info.is_none());
    }

    #[test]
    fn client_initiated_finish_rejects_wrong_challenge_and_unexpected_server() {
        let server = server();
        let client = ClientAuth::new(Keypair::generate_ed25519());
        let start = client.start_client_initiated();
        let ServerOutcome::Challenge { www_authenticate } =
            server.authenticate(Some(&start.authorization), HOST, now())
        else {
            panic!("expected Challenge");
        };
        let other = client.start_client_initiated();
        assert!(matches!(
            client.finish_client_initiated(&www_authenticate, &other.challenge_server, HOST, None),
            Err(PeerAuthError::BadSignature)
        ));
        assert!(matches!(
            client.finish_client_initiated(
                &www_authenticate,
                &start.challenge_server,
                "evil.com",
                None
            ),
            Err(PeerAuthError::BadSignature)
        ));
        assert!(matches!(
            client.finish_client_initiated(
                &www_authenticate,
                &start.challenge_server,
                HOST,
                Some(PeerId::random())
            ),
            Err(PeerAuthError::UnexpectedServerKey)
        ));
    }

    #[test]
    fn client_initiated_opaque_is_bound_to_the_first_key() {
        let server = server();
        let client = ClientAuth::new(Keypair::generate_ed25519());
        let start = client.start_client_initiated();
        let ServerOutcome::Challenge { www_authenticate } =
            server.authenticate(Some(&start.authorization), HOST, now())
        else {
            panic!("expected Challenge");
        };
        // An attacker signs the challenge-client with its own key.
        let attacker = ClientAuth::new(Keypair::generate_ed25519());
        let p = parse_params(&www_authenticate)
            .expect("ok")
            .expect("scheme");
        let sig = sign_parts(
            &attacker.keypair,
            &[
                (
                    "challenge-client",
                    p.challenge_client.as_deref().expect("cc").as_bytes(),
                ),
                ("server-public-key", &server.public_key().encode_protobuf()),
                ("hostname", HOST.as_bytes()),
            ],
        )
        .expect("sign");
        let opaque = p.opaque.expect("opaque");
        let forged = build_header(&[("opaque", &opaque), ("sig", &b64_encode(&sig))]);
        assert!(matches!(
            rejected(server.authenticate(Some(&forged), HOST, now())),
            PeerAuthError::BadSignature
        ));
        let swapped = build_header(&[
            ("opaque", &opaque),
            ("sig", &b64_encode(&sig)),
            ("public-key", &attacker.public_key_b64),
        ]);
        assert!(matches!(
            rejected(server.authenticate(Some(&swapped), HOST, now())),
            PeerAuthError::Malformed(_)
        ));
    }

    #[test]
    fn forged_signature_is_rejected() {
        let server = server();
        let victim = ClientAuth::new(Keypair::generate_ed25519());
        let attacker = ClientAuth::new(Keypair::generate_ed25519());
        let www = server.challenge(HOST, now());
        let answer = attacker.answer_challenge(&www, HOST).expect("answer");
        let p = parse_params(&answer.authorization)
            .expect("ok")
            .expect("scheme");
        // The attacker's signature presented under the victim's public key.
        let forged = build_header(&[
            ("public-key", &victim.public_key_b64),
            ("opaque", p.opaque.as_deref().expect("opaque")),
            ("challenge-server", &answer.challenge_server),
            ("sig", p.sig.as_deref().expect("sig")),
        ]);
        assert!(matches!(
            rejected(server.authenticate(Some(&forged), HOST, now())),
            PeerAuthError::BadSignature
        ));
        // A signature over another hostname does not verify either.
        let elsewhere = attacker
            .answer_challenge(&www, "other.example")
            .expect("answer");
        assert!(matches!(
            rejected(server.authenticate(Some(&elsewhere.authorization), HOST, now())),
            PeerAuthError::BadSignature
        ));
    }

    #[test]
    fn client_rejects_forged_server_signature_and_unexpected_server() {
        let server = server();
        let client = ClientAuth::new(Keypair::generate_ed25519());
        let www = server.challenge(HOST, now());
        let answer = client.answer_challenge(&www, HOST).expect("answer");
        let (_, info) =
            authenticated(server.authenticate(Some(&answer.authorization), HOST, now()));
        let info = info.expect("info");
        // Verified against a different challenge-server: the signature fails.
        let other_challenge = new_challenge();
        assert!(matches!(
            client.verify_server(&info, &answer.server_key, &other_challenge, HOST, None),
            Err(PeerAuthError::BadSignature)
        ));
        // Verified against an impostor's key.
        let impostor = Keypair::generate_ed25519().public();
        assert!(matches!(
            client.verify_server(&info, &impostor, &answer.challenge_server, HOST, None),
            Err(PeerAuthError::BadSignature)
        ));
        assert!(matches!(
            client.verify_server(
                &info,
                &answer.server_key,
                &answer.challenge_server,
                HOST,
                Some(PeerId::random())
            ),
            Err(PeerAuthError::UnexpectedServerKey)
        ));
        // An Authentication-Info without a signature.
        let p = parse_params(&info).expect("ok").expect("scheme");
        let unsigned = build_header(&[("bearer", p.bearer.as_deref().expect("bearer"))]);
        assert!(matches!(
            client.verify_server(
                &unsigned,
                &answer.server_key,
                &answer.challenge_server,
                HOST,
                None
            ),
            Err(PeerAuthError::MissingParam("sig"))
        ));
    }

    #[test]
    fn bearer_from_another_server_is_rejected() {
        let client = ClientAuth::new(Keypair::generate_ed25519());
        let issuer = server();
        let bearer = handshake(&issuer, &client, HOST, now());
        // Same identity key, different HMAC key.
        let other = ServerAuth::new(Keypair::generate_ed25519(), [9; 32], TTL);
        assert!(matches!(
            rejected(other.authenticate(Some(&bearer.authorization()), HOST, now())),
            PeerAuthError::ForeignToken
        ));
    }

    #[test]
    fn tampered_bearer_is_rejected() {
        let server = server();
        let client = ClientAuth::new(Keypair::generate_ed25519());
        let bearer = handshake(&server, &client, HOST, now());
        let mut blob = B64_LENIENT.decode(&bearer.token).expect("b64");
        let last = blob.len() - 1;
        blob[last] ^= 1;
        let tampered = build_header(&[("bearer", &b64_encode(&blob))]);
        assert!(matches!(
            rejected(server.authenticate(Some(&tampered), HOST, now())),
            PeerAuthError::ForeignToken
        ));
        let short = build_header(&[("bearer", &b64_encode(&[1, 2, 3]))]);
        assert!(matches!(
            rejected(server.authenticate(Some(&short), HOST, now())),
            PeerAuthError::ForeignToken
        ));
    }

    #[test]
    fn expired_bearer_is_rejected() {
        let server = server();
        let client = ClientAuth::new(Keypair::generate_ed25519());
        let bearer = handshake(&server, &client, HOST, now());
        for late in [now() + TTL, now() + TTL * 1000] {
            assert!(matches!(
                rejected(server.authenticate(Some(&bearer.authorization()), HOST, late)),
                PeerAuthError::ExpiredToken
            ));
        }
    }

    #[test]
    fn bearer_for_another_hostname_is_rejected() {
        let server = server();
        let client = ClientAuth::new(Keypair::generate_ed25519());
        let bearer = handshake(&server, &client, HOST, now());
        for host in ["other.example", "example.com:8080", "EXAMPLE.com"] {
            assert!(matches!(
                rejected(server.authenticate(Some(&bearer.authorization()), host, now())),
                PeerAuthError::ForeignToken
            ));
        }
    }

    #[test]
    fn expired_challenge_is_rejected() {
        let server = server();
        let client = ClientAuth::new(Keypair::generate_ed25519());
        let www = server.challenge(HOST, now());
        let answer = client.answer_challenge(&www, HOST).expect("answer");
        // Exactly at the 60 s limit it still works.
        authenticated(server.authenticate(
            Some(&answer.authorization),
            HOST,
            now() + Duration::from_secs(CHALLENGE_TTL_SECS),
        ));
        assert!(matches!(
            rejected(server.authenticate(
                Some(&answer.authorization),
                HOST,
                now() + Duration::from_secs(CHALLENGE_TTL_SECS + 1)
            )),
            PeerAuthError::ExpiredChallenge
        ));
    }

    #[test]
    fn challenge_for_another_hostname_or_server_is_rejected() {
        let server = server();
        let client = ClientAuth::new(Keypair::generate_ed25519());
        let www = server.challenge("other.example", now());
        let answer = client.answer_challenge(&www, HOST).expect("answer");
        assert!(matches!(
            rejected(server.authenticate(Some(&answer.authorization), HOST, now())),
            PeerAuthError::ForeignChallenge
        ));
        let other = ServerAuth::new(Keypair::generate_ed25519(), [1; 32], TTL);
        let www = other.challenge(HOST, now());
        let answer = client.answer_challenge(&www, HOST).expect("answer");
        assert!(matches!(
            rejected(server.authenticate(Some(&answer.authorization), HOST, now())),
            PeerAuthError::ForeignChallenge
        ));
    }

    #[test]
    fn bearer_and_opaque_are_not_interchangeable() {
        let server = server();
        let client = ClientAuth::new(Keypair::generate_ed25519());
        let bearer = handshake(&server, &client, HOST, now());
        let as_opaque = build_header(&[
            ("public-key", &client.public_key_b64),
            ("opaque", &bearer.token),
            ("challenge-server", &new_challenge()),
            ("sig", &b64_encode(&[0; 64])),
        ]);
        assert!(matches!(
            rejected(server.authenticate(Some(&as_opaque), HOST, now())),
            PeerAuthError::ForeignChallenge
        ));
        let www = server.challenge(HOST, now());
        let opaque = parse_params(&www)
            .expect("ok")
            .expect("scheme")
            .opaque
            .expect("opaque");
        let as_bearer = build_header(&[("bearer", &opaque)]);
        assert!(matches!(
            rejected(server.authenticate(Some(&as_bearer), HOST, now())),
            PeerAuthError::ForeignToken
        ));
    }

    #[test]
    fn oversized_header_is_rejected() {
        let server = server();
        let long = format!(r#"libp2p-PeerID bearer="{}""#, "A".repeat(MAX_HEADER_LEN));
        assert!(matches!(
            rejected(server.authenticate(Some(&long), HOST, now())),
            PeerAuthError::HeaderTooLong
        ));
    }

    #[test]
    fn malformed_headers_are_rejected() {
        let server = server();
        let client = ClientAuth::new(Keypair::generate_ed25519());
        let cases = [
            "libp2p-PeerID bearer".to_owned(),
            r#"libp2p-PeerID bearer="abc"#.to_owned(),
            r#"libp2p-PeerID bearer="!!not base64!!""#.to_owned(),
            r#"libp2p-PeerID opaque="***", sig="AAAA""#.to_owned(),
            r#"libp2p-PeerID foo="bar""#.to_owned(),
            "libp2p-PeerID".to_owned(),
            // challenge-server too short
            build_header(&[
                ("challenge-server", "abc"),
                ("public-key", &client.public_key_b64),
            ]),
        ];
        for case in &cases {
            assert!(
                matches!(
                    rejected(server.authenticate(Some(case), HOST, now())),
                    PeerAuthError::Malformed(_)
                ),
                "{case:?}"
            );
        }
        // Bad public key in a client-initiated start.
        let bad_key = build_header(&[
            ("challenge-server", &new_challenge()),
            ("public-key", &b64_encode(b"not a key")),
        ]);
        assert!(matches!(
            rejected(server.authenticate(Some(&bad_key), HOST, now())),
            PeerAuthError::BadPublicKey
        ));
        // A valid opaque with an undecodable signature, and without a key.
        let www = server.challenge(HOST, now());
        let answer = client.answer_challenge(&www, HOST).expect("answer");
        let p = parse_params(&answer.authorization)
            .expect("ok")
            .expect("scheme");
        let opaque = p.opaque.expect("opaque");
        let bad_sig = build_header(&[
            ("public-key", &client.public_key_b64),
            ("opaque", &opaque),
            ("challenge-server", &answer.challenge_server),
            ("sig", "%%%"),
        ]);
        assert!(matches!(
            rejected(server.authenticate(Some(&bad_sig), HOST, now())),
            PeerAuthError::Malformed(_)
        ));
        let no_key = build_header(&[
            ("opaque", &opaque),
            ("challenge-server", &answer.challenge_server),
            ("sig", p.sig.as_deref().expect("sig")),
        ]);
        assert!(matches!(
            rejected(server.authenticate(Some(&no_key), HOST, now())),
            PeerAuthError::MissingParam("public-key")
        ));
    }

    #[test]
    fn arbitrary_input_never_panics() {
        let server = server();
        let client = ClientAuth::new(Keypair::generate_ed25519());
        let alphabet = b"libp2p-PeerID =\",\\ \tabcAZ09_-/+sigopaquebearer";
        let mut rng = rand::thread_rng();
        let mut rejected_count = 0;
        for _ in 0..3000 {
            let len = rand::Rng::gen_range(&mut rng, 0..80);
            let mut s = String::from("libp2p-PeerID ");
            for _ in 0..len {
                let i = rand::Rng::gen_range(&mut rng, 0..alphabet.len());
                s.push(char::from(alphabet[i]));
            }
            if matches!(
                server.authenticate(Some(&s), HOST, now()),
                ServerOutcome::Rejected { .. }
            ) {
                rejected_count += 1;
            }
            let _ = client.answer_challenge(&s, HOST);
            let _ = client.finish_client_initiated(&s, "x", HOST, None);
        }
        assert!(rejected_count > 0);
    }

    #[test]
    fn absent_or_foreign_scheme_is_no_credentials() {
        let server = server();
        assert!(matches!(
            server.authenticate(None, HOST, now()),
            ServerOutcome::NoCredentials
        ));
        assert!(matches!(
            server.authenticate(Some("Bearer abc"), HOST, now()),
            ServerOutcome::NoCredentials
        ));
        assert!(matches!(
            server.authenticate(Some(""), HOST, now()),
            ServerOutcome::NoCredentials
        ));
    }

    #[test]
    fn secrets_are_redacted_in_debug_output() {
        let server = server();
        let client = ClientAuth::new(Keypair::generate_ed25519());
        let bearer = handshake(&server, &client, HOST, now());
        assert!(!format!("{bearer:?}").contains(&bearer.token));
        let www = server.challenge(HOST, now());
        let answer = client.answer_challenge(&www, HOST).expect("answer");
        let outcome = server.authenticate(Some(&answer.authorization), HOST, now());
        let ServerOutcome::Authenticated {
            authentication_info: Some(info),
            ..
        } = &outcome
        else {
            panic!("expected a completed handshake");
        };
        assert!(!format!("{outcome:?}").contains(info.as_str()));
        assert!(!format!("{server:?}").contains("0707"));
    }

    /// A one-request-per-connection HTTP/1.1 server protecting every path
    /// with `auth`; answers 200 with the client's peer ID as body.
    fn spawn_http_server(auth: ServerAuth) -> std::net::SocketAddr {
        use std::io::{BufRead, BufReader, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                let (mut host, mut authorization) = (String::new(), None);
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some((name, value)) = line.split_once(':') {
                        let value = value.trim().to_owned();
                        match name.to_ascii_lowercase().as_str() {
                            "host" => host = value,
                            "authorization" => authorization = Some(value),
                            _ => {}
                        }
                    }
                }
                let (status, headers, body) =
                    match auth.authenticate(authorization.as_deref(), &host, SystemTime::now()) {
                        ServerOutcome::Authenticated {
                            peer,
                            authentication_info,
                        } => (
                            "200 OK",
                            authentication_info
                                .map(|i| format!("Authentication-Info: {i}\r\n"))
                                .unwrap_or_default(),
                            peer.to_string(),
                        ),
                        ServerOutcome::NoCredentials => (
                            "401 Unauthorized",
                            format!(
                                "WWW-Authenticate: {}\r\n",
                                auth.challenge(&host, SystemTime::now())
                            ),
                            String::new(),
                        ),
                        ServerOutcome::Challenge { www_authenticate }
                        | ServerOutcome::Rejected {
                            www_authenticate, ..
                        } => (
                            "401 Unauthorized",
                            format!("WWW-Authenticate: {www_authenticate}\r\n"),
                            String::new(),
                        ),
                    };
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        addr
    }

    #[tokio::test]
    async fn http_handshakes_against_a_live_server() {
        let server_auth = server();
        let server_peer = server_auth.public_key().to_peer_id();
        let addr = spawn_http_server(server_auth);
        let url = format!("http://{addr}/protected");
        let http = reqwest::Client::new();
        let client = ClientAuth::new(Keypair::generate_ed25519());
        let me = client.public_key().to_peer_id().to_string();

        let bearer = client
            .authenticate(&http, &url, Some(server_peer))
            .await
            .expect("server-initiated");
        assert_eq!(bearer.server, server_peer);
        let resp = http
            .get(&url)
            .header(reqwest::header::AUTHORIZATION, bearer.authorization())
            .send()
            .await
            .expect("request");
        assert_eq!(resp.status(), reqwest::StatusCode::OK);
        assert_eq!(resp.text().await.expect("body"), me);

        let bearer = client
            .authenticate_client_initiated(&http, &url, Some(server_peer))
            .await
            .expect("client-initiated");
        assert_eq!(bearer.server, server_peer);
        let resp = http
            .get(&url)
            .header(reqwest::header::AUTHORIZATION, bearer.authorization())
            .send()
            .await
            .expect("request");
        assert_eq!(resp.text().await.expect("body"), me);

        for result in [
            client
                .authenticate(&http, &url, Some(PeerId::random()))
                .await,
            client
                .authenticate_client_initiated(&http, &url, Some(PeerId::random()))
                .await,
        ] {
            assert!(matches!(result, Err(PeerAuthError::UnexpectedServerKey)));
        }
    }
}
