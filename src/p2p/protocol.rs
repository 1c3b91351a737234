//! Wire format of the libp2p rendezvous protocol (`/rendezvous/1.0.0`).
//!
//! Every stream carries exactly one request and (except for `UNREGISTER`) one
//! response. Each message is framed as an unsigned-varint length prefix
//! followed by the protobuf encoding of [`Message`] (proto2 schema, package
//! `rendezvous.pb`, from the libp2p rendezvous specification).
//!
//! Signed peer records are accepted in both sealing domains in use today:
//! the standard one (`libp2p-peer-record`, payload type `0x03 0x01`, used by
//! go-libp2p and js-libp2p) and the legacy one (`libp2p-routing-state`,
//! payload type `/libp2p/routing-state-record`, used by rust-libp2p up to at
//! least libp2p-core 0.44 in its rendezvous client).

use std::{fmt, io};

use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::{
    core::SignedEnvelope,
    core::{peer_record::FromEnvelopeError, signed_envelope::DecodingError, PeerRecord},
    identity::{Keypair, SigningError},
    Multiaddr, StreamProtocol,
};
use prost::Message as _;

/// Protocol name negotiated by multistream-select for rendezvous streams.
pub const PROTOCOL: StreamProtocol = StreamProtocol::new("/rendezvous/1.0.0");

/// Largest accepted or emitted message, in bytes, excluding the length prefix.
pub const MAX_MESSAGE_LEN: usize = 64 * 1024;

/// Longest namespace, in bytes of UTF-8 (rendezvous specification:
/// "a maximum namespace length of 255").
pub const MAX_NAMESPACE_LEN: usize = 255;

/// Largest signed peer record envelope accepted in a `REGISTER`, in bytes.
///
/// A peer record with a handful of addresses takes a few hundred bytes; the
/// cap guarantees that a `DISCOVER_RESPONSE` always has room for several
/// registrations within [`MAX_MESSAGE_LEN`].
pub const MAX_ENVELOPE_LEN: usize = 8 * 1024;

/// Length of the serial prefix of a [`Cookie`], in bytes.
const COOKIE_SERIAL_LEN: usize = 8;

/// Type of a rendezvous [`Message`] (`Message.MessageType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum MessageType {
    /// A peer asks to be registered under a namespace.
    Register = 0,
    /// Answer to [`MessageType::Register`].
    RegisterResponse = 1,
    /// A peer asks to be removed from a namespace. There is no response.
    Unregister = 2,
    /// A peer asks for the registrations of a namespace (or of all).
    Discover = 3,
    /// Answer to [`MessageType::Discover`].
    DiscoverResponse = 4,
}

/// Status of a response (`Message.ResponseStatus`), as defined by the
/// rendezvous specification.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum ResponseStatus {
    /// The request succeeded.
    Ok = 0,
    /// The namespace is missing, empty (for `REGISTER`) or longer than
    /// [`MAX_NAMESPACE_LEN`] bytes.
    EInvalidNamespace = 100,
    /// The signed peer record is missing, malformed, badly signed or too large.
    EInvalidSignedPeerRecord = 101,
    /// The requested TTL is outside the bounds accepted by the node.
    EInvalidTtl = 102,
    /// The discovery cookie is malformed or belongs to another namespace.
    EInvalidCookie = 103,
    /// The peer may not perform this registration (record signed by another
    /// peer, or too many registrations for this peer).
    ENotAuthorized = 200,
    /// The node failed while handling the request.
    EInternalError = 300,
    /// The node cannot take the request now (registration table full, busy).
    EUnavailable = 400,
}

impl ResponseStatus {
    /// The status name as written in the protobuf schema, e.g. `E_INVALID_TTL`.
    pub fn name(self) -> &'static str {
        match self {
            ResponseStatus::Ok => "OK",
            ResponseStatus::EInvalidNamespace => "E_INVALID_NAMESPACE",
            ResponseStatus::EInvalidSignedPeerRecord => "E_INVALID_SIGNED_PEER_RECORD",
            ResponseStatus::EInvalidTtl => "E_INVALID_TTL",
            ResponseStatus::EInvalidCookie => "E_INVALID_COOKIE",
            ResponseStatus::ENotAuthorized => "E_NOT_AUTHORIZED",
            ResponseStatus::EInternalError => "E_INTERNAL_ERROR",
            ResponseStatus::EUnavailable => "E_UNAVAILABLE",
        }
    }
}

impl fmt::Display for ResponseStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// `Message.Register`: a registration request, or one entry of a discovery
/// response.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Register {
    /// Namespace, UTF-8, at most [`MAX_NAMESPACE_LEN`] bytes.
    #[prost(string, optional, tag = "1")]
    pub ns: Option<String>,
    /// Signed envelope (protobuf encoding) containing the peer record.
    #[prost(bytes = "vec", optional, tag = "2")]
    pub signed_peer_record: Option<Vec<u8>>,
    /// Requested (in a request) or remaining (in a discovery response)
    /// lifetime of the registration, in seconds.
    #[prost(uint64, optional, tag = "3")]
    pub ttl: Option<u64>,
}

/// `Message.RegisterResponse`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RegisterResponse {
    /// A [`ResponseStatus`] value.
    #[prost(enumeration = "ResponseStatus", optional, tag = "1")]
    pub status: Option<i32>,
    /// Human readable detail for an error status.
    #[prost(string, optional, tag = "2")]
    pub status_text: Option<String>,
    /// Granted lifetime of the registration, in seconds (present on `OK`).
    #[prost(uint64, optional, tag = "3")]
    pub ttl: Option<u64>,
}

/// `Message.Unregister`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Unregister {
    /// Namespace to leave.
    #[prost(string, optional, tag = "1")]
    pub ns: Option<String>,
    /// Binary PeerId of the unregistering peer (sent by go-libp2p, omitted by
    /// rust-libp2p). When present it must be the sender's own PeerId.
    #[prost(bytes = "vec", optional, tag = "2")]
    pub id: Option<Vec<u8>>,
}

/// `Message.Discover`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Discover {
    /// Namespace to list; absent or empty means all namespaces.
    #[prost(string, optional, tag = "1")]
    pub ns: Option<String>,
    /// Maximum number of registrations wanted; absent or 0 means the node's
    /// maximum.
    #[prost(uint64, optional, tag = "2")]
    pub limit: Option<u64>,
    /// Cookie from a previous response, to get only newer registrations.
    #[prost(bytes = "vec", optional, tag = "3")]
    pub cookie: Option<Vec<u8>>,
}

/// `Message.DiscoverResponse`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct DiscoverResponse {
    /// The registrations found, oldest first.
    #[prost(message, repeated, tag = "1")]
    pub registrations: Vec<Register>,
    /// Cookie to pass in the next `DISCOVER` (present on `OK`), see [`Cookie`].
    #[prost(bytes = "vec", optional, tag = "2")]
    pub cookie: Option<Vec<u8>>,
    /// A [`ResponseStatus`] value.
    #[prost(enumeration = "ResponseStatus", optional, tag = "3")]
    pub status: Option<i32>,
    /// Human readable detail for an error status.
    #[prost(string, optional, tag = "4")]
    pub status_text: Option<String>,
}

/// `Message`: the envelope of every rendezvous request and response.
///
/// The body is in the field named after the `type`; the others are absent.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Message {
    /// A [`MessageType`] value.
    #[prost(enumeration = "MessageType", optional, tag = "1")]
    pub r#type: Option<i32>,
    /// Body of a `REGISTER`.
    #[prost(message, optional, tag = "2")]
    pub register: Option<Register>,
    /// Body of a `REGISTER_RESPONSE`.
    #[prost(message, optional, tag = "3")]
    pub register_response: Option<RegisterResponse>,
    /// Body of an `UNREGISTER`.
    #[prost(message, optional, tag = "4")]
    pub unregister: Option<Unregister>,
    /// Body of a `DISCOVER`.
    #[prost(message, optional, tag = "5")]
    pub discover: Option<Discover>,
    /// Body of a `DISCOVER_RESPONSE`.
    #[prost(message, optional, tag = "6")]
    pub discover_response: Option<DiscoverResponse>,
}

impl Message {
    /// The message type, or `None` if absent or unknown.
    pub fn kind(&self) -> Option<MessageType> {
        self.r#type.and_then(|t| MessageType::try_from(t).ok())
    }

    /// A `REGISTER` request for `ns` with the given envelope and TTL
    /// (seconds; `None` lets the node apply its default).
    pub fn new_register(ns: &str, signed_peer_record: Vec<u8>, ttl: Option<u64>) -> Self {
        Message {
            r#type: Some(MessageType::Register as i32),
            register: Some(Register {
                ns: Some(ns.to_owned()),
                signed_peer_record: Some(signed_peer_record),
                ttl,
            }),
            ..Default::default()
        }
    }

    /// A successful `REGISTER_RESPONSE` granting `ttl` seconds.
    pub fn register_ok(ttl: u64) -> Self {
        Message {
            r#type: Some(MessageType::RegisterResponse as i32),
            register_response: Some(RegisterResponse {
                status: Some(ResponseStatus::Ok as i32),
                status_text: None,
                ttl: Some(ttl),
            }),
            ..Default::default()
        }
    }

    /// A failed `REGISTER_RESPONSE`.
    pub fn register_error(status: ResponseStatus, text: impl Into<String>) -> Self {
        Message {
            r#type: Some(MessageType::RegisterResponse as i32),
            register_response: Some(RegisterResponse {
                status: Some(status as i32),
                status_text: Some(text.into()),
                ttl: None,
            }),
            ..Default::default()
        }
    }

    /// An `UNREGISTER` request for `ns`, optionally naming the sender's
    /// binary PeerId.
    pub fn new_unregister(ns: &str, id: Option<Vec<u8>>) -> Self {
        Message {
            r#type: Some(MessageType::Unregister as i32),
            unregister: Some(Unregister {
                ns: Some(ns.to_owned()),
                id,
            }),
            ..Default::default()
        }
    }

    /// A `DISCOVER` request.
    pub fn new_discover(ns: Option<&str>, limit: Option<u64>, cookie: Option<Vec<u8>>) -> Self {
        Message {
            r#type: Some(MessageType::Discover as i32),
            discover: Some(Discover {
                ns: ns.map(str::to_owned),
                limit,
                cookie,
            }),
            ..Default::default()
        }
    }

    /// A successful `DISCOVER_RESPONSE`.
    pub fn discover_ok(registrations: Vec<Register>, cookie: Vec<u8>) -> Self {
        Message {
            r#type: Some(MessageType::DiscoverResponse as i32),
            discover_response: Some(DiscoverResponse {
                registrations,
                cookie: Some(cookie),
                status: Some(ResponseStatus::Ok as i32),
                status_text: None,
            }),
            ..Default::default()
        }
    }

    /// A failed `DISCOVER_RESPONSE`.
    pub fn discover_error(status: ResponseStatus, text: impl Into<String>) -> Self {
        Message {
            r#type: Some(MessageType::DiscoverResponse as i32),
            discover_response: Some(DiscoverResponse {
                registrations: Vec::new(),
                cookie: None,
                status: Some(status as i32),
                status_text: Some(text.into()),
            }),
            ..Default::default()
        }
    }
}

/// Decodes a wire status value; unknown values map to
/// [`ResponseStatus::EInternalError`] and absence to `None`.
pub fn decode_status(status: Option<i32>) -> Option<ResponseStatus> {
    status.map(|s| ResponseStatus::try_from(s).unwrap_or(ResponseStatus::EInternalError))
}

/// Checks a namespace received on the wire: non-empty, at most
/// [`MAX_NAMESPACE_LEN`] bytes.
pub fn valid_namespace(ns: &str) -> bool {
    !ns.is_empty() && ns.len() <= MAX_NAMESPACE_LEN
}

/// A discovery cookie.
///
/// Wire layout (the one rust-libp2p's rendezvous client decodes): 8 bytes of
/// big-endian `serial`, followed by the namespace in UTF-8, empty when the
/// cookie covers all namespaces.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Cookie {
    /// Serial of the newest registration already delivered; the next
    /// discovery returns only registrations with a larger serial.
    pub serial: u64,
    /// Namespace the cookie belongs to; `None` for all namespaces.
    pub namespace: Option<String>,
}

/// Error returned by [`Cookie::decode`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed discovery cookie")]
pub struct InvalidCookie;

impl Cookie {
    /// Wire encoding, see [`Cookie`].
    pub fn encode(&self) -> Vec<u8> {
        let ns = self.namespace.as_deref().unwrap_or_default();
        let mut out = Vec::with_capacity(COOKIE_SERIAL_LEN + ns.len());
        out.extend_from_slice(&self.serial.to_be_bytes());
        out.extend_from_slice(ns.as_bytes());
        out
    }

    /// Parses the wire encoding. Fails if shorter than 8 bytes, if the
    /// namespace is not UTF-8 or longer than [`MAX_NAMESPACE_LEN`] bytes.
    pub fn decode(bytes: &[u8]) -> Result<Self, InvalidCookie> {
        if bytes.len() < COOKIE_SERIAL_LEN {
            return Err(InvalidCookie);
        }
        let (serial, ns) = bytes.split_at(COOKIE_SERIAL_LEN);
        let serial = u64::from_be_bytes(serial.try_into().map_err(|_| InvalidCookie)?);
        let ns = std::str::from_utf8(ns).map_err(|_| InvalidCookie)?;
        if ns.len() > MAX_NAMESPACE_LEN {
            return Err(InvalidCookie);
        }
        Ok(Cookie {
            serial,
            namespace: (!ns.is_empty()).then(|| ns.to_owned()),
        })
    }
}

/// Sealing domain of a signed peer record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RecordDomain {
    /// Domain `libp2p-peer-record`, payload type `0x03 0x01` (RFC 0003;
    /// go-libp2p, js-libp2p).
    Standard,
    /// Domain `libp2p-routing-state`, payload type
    /// `/libp2p/routing-state-record` (rust-libp2p's rendezvous client).
    Legacy,
}

impl RecordDomain {
    /// `"standard"` or `"legacy"`.
    pub fn as_str(self) -> &'static str {
        match self {
            RecordDomain::Standard => "standard",
            RecordDomain::Legacy => "legacy",
        }
    }
}

impl fmt::Display for RecordDomain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for RecordDomain {
    type Err = String;

    /// Parses `"standard"` or `"legacy"` (case-insensitive).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "standard" => Ok(RecordDomain::Standard),
            "legacy" => Ok(RecordDomain::Legacy),
            other => Err(format!(
                "unknown record domain {other:?} (expected \"standard\" or \"legacy\")"
            )),
        }
    }
}

/// Error returned by [`open_record`].
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// The bytes are not a signed envelope.
    #[error("malformed signed envelope: {0}")]
    Envelope(#[from] DecodingError),
    /// The envelope is not a validly signed peer record in either domain.
    #[error("not a valid peer record (standard domain: {standard}; legacy domain: {legacy})")]
    Record {
        /// Why the standard domain was rejected.
        standard: FromEnvelopeError,
        /// Why the legacy domain was rejected.
        legacy: FromEnvelopeError,
    },
}

/// Opens a signed peer record envelope (protobuf encoding), trying the
/// standard domain first and then the legacy one.
///
/// On success the record's signature has been checked and its PeerId is the
/// one of the signing key.
pub fn open_record(envelope: &[u8]) -> Result<(PeerRecord, RecordDomain), RecordError> {
    let envelope = SignedEnvelope::from_protobuf_encoding(envelope)?;
    match PeerRecord::from_signed_envelope_interop(envelope.clone()) {
        Ok(record) => Ok((record, RecordDomain::Standard)),
        Err(standard) => match PeerRecord::from_signed_envelope(envelope) {
            Ok(record) => Ok((record, RecordDomain::Legacy)),
            Err(legacy) => Err(RecordError::Record { standard, legacy }),
        },
    }
}

/// Seals a peer record listing `addrs` with `keypair` in `domain` and returns
/// the envelope's protobuf encoding. The record's sequence number is the
/// current unix time in seconds. An empty address list is valid.
pub fn seal_record(
    keypair: &Keypair,
    addrs: Vec<Multiaddr>,
    domain: RecordDomain,
) -> Result<Vec<u8>, SigningError> {
    let record = match domain {
        RecordDomain::Standard => PeerRecord::new_interop(keypair, addrs)?,
        RecordDomain::Legacy => PeerRecord::new(keypair, addrs)?,
    };
    Ok(record.into_signed_envelope().into_protobuf_encoding())
}

/// [`libp2p::request_response::Codec`] for the rendezvous protocol: one
/// length-prefixed [`Message`] each way, at most [`MAX_MESSAGE_LEN`] bytes.
#[derive(Debug, Clone, Copy, Default)]
pub struct RendezvousCodec;

/// Reads one unsigned-varint length prefix followed by that many bytes and
/// decodes them as a [`Message`].
async fn read_message<T>(io: &mut T) -> io::Result<Message>
where
    T: AsyncRead + Unpin + Send,
{
    let mut len: usize = 0;
    let mut shift = 0u32;
    loop {
        let mut byte = [0u8; 1];
        io.read_exact(&mut byte).await?;
        len |= usize::from(byte[0] & 0x7f) << shift;
        if len > MAX_MESSAGE_LEN {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("rendezvous message longer than {MAX_MESSAGE_LEN} bytes"),
            ));
        }
        if byte[0] & 0x80 == 0 {
            break;
        }
        shift += 7;
        if shift > 21 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "overlong varint length prefix",
            ));
        }
    }
    let mut buf = vec![0u8; len];
    io.read_exact(&mut buf).await?;
    Message::decode(buf.as_slice()).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// Encodes `msg` with its length prefix and writes it.
async fn write_message<T>(io: &mut T, msg: &Message) -> io::Result<()>
where
    T: AsyncWrite + Unpin + Send,
{
    let len = msg.encoded_len();
    if len > MAX_MESSAGE_LEN {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("rendezvous message of {len} bytes exceeds {MAX_MESSAGE_LEN}"),
        ));
    }
    io.write_all(&msg.encode_length_delimited_to_vec()).await?;
    io.flush().await
}

impl libp2p::request_response::Codec for RendezvousCodec {
    type Protocol = StreamProtocol;
    type Request = Message;
    type Response = Message;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Message>
    where
        T: AsyncRead + Unpin + Send,
    {
        read_message(io).await
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Message>
    where
        T: AsyncRead + Unpin + Send,
    {
        read_message(io).await
    }

    async fn write_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        req: Message,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_message(io, &req).await
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        res: Message,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_message(io, &res).await
    }
}

#[cfg(test)]
mod tests {
    use futures::io::Cursor;
    use libp2p::request_response::Codec as _;

    use super::*;

    fn addr() -> Multiaddr {
        "/ip4/127.0.0.1/tcp/4001".parse().expect("valid multiaddr")
    }

    #[test]
    fn codec_roundtrip_and_framing() {
        futures::executor::block_on(async {
            let mut codec = RendezvousCodec;
            let msg = Message::new_discover(Some("ns"), Some(5), Some(vec![0; 8]));
            let mut out = Vec::new();
            codec
                .write_request(&PROTOCOL, &mut Cursor::new(&mut out), msg.clone())
                .await
                .expect("write");
            // Prefix is the varint body length; trailing bytes stay unread.
            assert_eq!(out[0] as usize, out.len() - 1);
            out.extend_from_slice(b"trailing");
            let mut cursor = Cursor::new(out);
            let back = codec
                .read_request(&PROTOCOL, &mut cursor)
                .await
                .expect("read");
            assert_eq!(back, msg);
            assert_eq!(back.kind(), Some(MessageType::Discover));
        });
    }

    #[test]
    fn codec_rejects_oversized_and_truncated() {
        futures::executor::block_on(async {
            let mut codec = RendezvousCodec;
            // Prefix announcing MAX_MESSAGE_LEN + 1 bytes.
            let mut prefix = Vec::new();
            prost::encoding::encode_varint((MAX_MESSAGE_LEN + 1) as u64, &mut prefix);
            let err = codec
                .read_request(&PROTOCOL, &mut Cursor::new(prefix))
                .await
                .expect_err("oversized must fail");
            assert_eq!(err.kind(), io::ErrorKind::InvalidData);

            let err = codec
                .read_request(&PROTOCOL, &mut Cursor::new(vec![10u8, 1, 2]))
                .await
                .expect_err("truncated must fail");
            assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);

            let big = Message::new_register("ns", vec![0; MAX_MESSAGE_LEN], None);
            let err = codec
                .write_request(&PROTOCOL, &mut Cursor::new(Vec::new()), big)
                .await
                .expect_err("oversized write must fail");
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        });
    }

    #[test]
    fn cookie_layout_matches_rust_libp2p() {
        let cookie = Cookie {
            serial: 0x0102_0304_0506_0708,
            namespace: Some("abc".into()),
        };
        let bytes = cookie.encode();
        assert_eq!(bytes, [1, 2, 3, 4, 5, 6, 7, 8, b'a', b'b', b'c']);
        assert_eq!(Cookie::decode(&bytes), Ok(cookie));

        let all = Cookie {
            serial: 9,
            namespace: None,
        };
        assert_eq!(all.encode().len(), 8);
        assert_eq!(Cookie::decode(&all.encode()), Ok(all));

        assert_eq!(Cookie::decode(&[1, 2, 3]), Err(InvalidCookie));
        assert_eq!(
            Cookie::decode(&[0, 0, 0, 0, 0, 0, 0, 0, 0xff]),
            Err(InvalidCookie)
        );
        let mut long = vec![0u8; 8];
        long.extend(std::iter::repeat_n(b'x', MAX_NAMESPACE_LEN + 1));
        assert_eq!(Cookie::decode(&long), Err(InvalidCookie));
    }

    #[test]
    fn open_record_accepts_both_domains() {
        let key = Keypair::generate_ed25519();
        for domain in [RecordDomain::Standard, RecordDomain::Legacy] {
            let env = seal_record(&key, vec![addr()], domain).expect("sign");
            let (record, got) = open_record(&env).expect("open");
            assert_eq!(got, domain);
            assert_eq!(record.peer_id(), key.public().to_peer_id());
            assert_eq!(record.addresses(), &[addr()]);
        }
        let empty = seal_record(&key, Vec::new(), RecordDomain::Standard).expect("sign");
        let (record, _) = open_record(&empty).expect("empty address list is valid");
        assert!(record.addresses().is_empty());
    }

    #[test]
    fn open_record_rejects_garbage_and_foreign_payloads() {
        assert!(matches!(
            open_record(b"not an envelope"),
            Err(RecordError::Envelope(_))
        ));
        let key = Keypair::generate_ed25519();
        let env = SignedEnvelope::new(&key, "other-domain".into(), vec![1], vec![2])
            .expect("sign")
            .into_protobuf_encoding();
        assert!(matches!(open_record(&env), Err(RecordError::Record { .. })));
    }

    #[test]
    fn record_domain_parses() {
        assert_eq!("Standard".parse(), Ok(RecordDomain::Standard));
        assert_eq!("legacy".parse(), Ok(RecordDomain::Legacy));
        assert!("x".parse::<RecordDomain>().is_err());
        assert_eq!(RecordDomain::Legacy.to_string(), "legacy");
    }
}
