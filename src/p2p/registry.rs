//! In-memory table of rendezvous registrations.
//!
//! Pure bookkeeping without I/O: every method that depends on time takes the
//! current time as unix seconds, so the rules can be tested deterministically.
//!
//! Each stored registration gets a `serial` from a counter that only grows;
//! re-registering gets a new serial. Discovery returns registrations in serial
//! order and hands out a [`Cookie`] holding the last serial delivered, so a
//! client polling with its cookie only sees registrations made (or refreshed)
//! since its previous query, as the rendezvous specification describes.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use libp2p::{Multiaddr, PeerId};

use super::protocol::{valid_namespace, Cookie, RecordDomain, ResponseStatus, MAX_NAMESPACE_LEN};

/// Most registrations returned by one discovery (rendezvous specification:
/// "a maximum of 1000 peers should be returned per namespace query").
pub const DISCOVER_LIMIT_MAX: u64 = 1000;

/// Bounds enforced by a [`Registry`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegistryLimits {
    /// Most namespaces one peer may be registered in at the same time.
    pub max_per_peer: usize,
    /// Most registrations held in total.
    pub max_total: usize,
    /// Smallest TTL accepted, in seconds.
    pub min_ttl_secs: u64,
    /// Largest TTL accepted, in seconds.
    pub max_ttl_secs: u64,
    /// TTL applied when a `REGISTER` carries none (or 0), in seconds.
    pub default_ttl_secs: u64,
}

impl Default for RegistryLimits {
    /// rust-libp2p's rendezvous server defaults, which follow the
    /// specification's recommendations for TTLs (2 h minimum and default,
    /// 72 h maximum): 10 per peer, 10 000 in total.
    fn default() -> Self {
        RegistryLimits {
            max_per_peer: 10,
            max_total: 10_000,
            min_ttl_secs: 2 * 60 * 60,
            max_ttl_secs: 72 * 60 * 60,
            default_ttl_secs: 2 * 60 * 60,
        }
    }
}

impl RegistryLimits {
    /// Checks that the limits are usable: `min <= default <= max` TTL and
    /// non-zero counts. Returns a description of the first problem.
    pub fn validate(&self) -> Result<(), String> {
        if self.min_ttl_secs > self.max_ttl_secs {
            return Err(format!(
                "min_ttl_secs ({}) exceeds max_ttl_secs ({})",
                self.min_ttl_secs, self.max_ttl_secs
            ));
        }
        if !(self.min_ttl_secs..=self.max_ttl_secs).contains(&self.default_ttl_secs) {
            return Err(format!(
                "default_ttl_secs ({}) is outside [{}, {}]",
                self.default_ttl_secs, self.min_ttl_secs, self.max_ttl_secs
            ));
        }
        if self.max_per_peer == 0 || self.max_total == 0 {
            return Err("max_per_peer and max_total must be at least 1".into());
        }
        Ok(())
    }
}

/// A registration request that passed signature checks, before the
/// [`Registry`] applies its limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRegistration {
    /// The registering peer (signer of the record and of the connection).
    pub peer: PeerId,
    /// Namespace, 1 to 255 bytes.
    pub namespace: String,
    /// Addresses listed in the signed peer record.
    pub addrs: Vec<Multiaddr>,
    /// Requested TTL in seconds; `None` or `Some(0)` means the default.
    pub ttl_secs: Option<u64>,
    /// The signed envelope exactly as received.
    pub envelope: Vec<u8>,
    /// Domain the envelope was sealed in.
    pub domain: RecordDomain,
}

/// A stored registration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    /// The registered peer.
    pub peer: PeerId,
    /// Namespace, 1 to 255 bytes.
    pub namespace: String,
    /// Addresses listed in the signed peer record (may be empty).
    pub addrs: Vec<Multiaddr>,
    /// Granted TTL, in seconds.
    pub ttl_secs: u64,
    /// Expiry time, in unix seconds; the registration is expired from this
    /// second on.
    pub expires_at_unix: u64,
    /// The signed envelope exactly as received; handed out unchanged by
    /// discovery.
    pub envelope: Vec<u8>,
    /// Domain the envelope was sealed in.
    pub domain: RecordDomain,
    /// Position in the registry's insertion order (see the module docs).
    pub serial: u64,
}

impl Registration {
    /// Whether the registration is expired at `now_unix`.
    pub fn is_expired(&self, now_unix: u64) -> bool {
        self.expires_at_unix <= now_unix
    }

    /// Seconds left before expiry at `now_unix` (0 once expired).
    pub fn remaining_ttl(&self, now_unix: u64) -> u64 {
        self.expires_at_unix.saturating_sub(now_unix)
    }
}

/// Why a registration was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegisterError {
    /// Empty namespace or longer than 255 bytes.
    #[error("namespace must be 1 to {MAX_NAMESPACE_LEN} bytes long")]
    InvalidNamespace,
    /// TTL outside `[min, max]` seconds.
    #[error("ttl {ttl}s is outside the accepted range [{min}s, {max}s]")]
    InvalidTtl {
        /// Requested TTL, seconds.
        ttl: u64,
        /// Smallest accepted TTL, seconds.
        min: u64,
        /// Largest accepted TTL, seconds.
        max: u64,
    },
    /// The peer already holds the maximum number of registrations.
    #[error("peer already holds the maximum of {max} registrations")]
    TooManyForPeer {
        /// The per-peer limit.
        max: usize,
    },
    /// The registry holds the maximum number of registrations.
    #[error("registration table is full ({max} registrations)")]
    Full {
        /// The total limit.
        max: usize,
    },
}

impl RegisterError {
    /// The `REGISTER_RESPONSE` status for this error: `E_INVALID_NAMESPACE`,
    /// `E_INVALID_TTL`, `E_NOT_AUTHORIZED` (per-peer limit, as go-libp2p's
    /// server answers) or `E_UNAVAILABLE` (table full).
    pub fn status(&self) -> ResponseStatus {
        match self {
            RegisterError::InvalidNamespace => ResponseStatus::EInvalidNamespace,
            RegisterError::InvalidTtl { .. } => ResponseStatus::EInvalidTtl,
            RegisterError::TooManyForPeer { .. } => ResponseStatus::ENotAuthorized,
            RegisterError::Full { .. } => ResponseStatus::EUnavailable,
        }
    }
}

/// Why a discovery was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DiscoverError {
    /// Namespace longer than 255 bytes.
    #[error("namespace must be at most {MAX_NAMESPACE_LEN} bytes long")]
    InvalidNamespace,
    /// Cookie malformed, or issued for one namespace and used for another
    /// one or for all namespaces. (A cookie for all namespaces is accepted
    /// with any namespace, as rust-libp2p's server does.)
    #[error("invalid cookie: {0}")]
    InvalidCookie(&'static str),
}

impl DiscoverError {
    /// The `DISCOVER_RESPONSE` status for this error.
    pub fn status(&self) -> ResponseStatus {
        match self {
            DiscoverError::InvalidNamespace => ResponseStatus::EInvalidNamespace,
            DiscoverError::InvalidCookie(_) => ResponseStatus::EInvalidCookie,
        }
    }
}

/// The registration table. See the module documentation.
#[derive(Debug)]
pub struct Registry {
    limits: RegistryLimits,
    /// All registrations, keyed by serial.
    by_serial: BTreeMap<u64, Registration>,
    /// `(peer, namespace)` to serial.
    by_key: HashMap<(PeerId, String), u64>,
    /// Namespaces each peer is registered in.
    by_peer: HashMap<PeerId, HashSet<String>>,
    /// `(expires_at_unix, serial)`, soonest first.
    expiry: BTreeSet<(u64, u64)>,
    /// Serial the next registration gets; starts at 1 (0 means "nothing seen"
    /// in a cookie).
    next_serial: u64,
}

impl Registry {
    /// An empty registry enforcing `limits`.
    pub fn new(limits: RegistryLimits) -> Self {
        Registry {
            limits,
            by_serial: BTreeMap::new(),
            by_key: HashMap::new(),
            by_peer: HashMap::new(),
            expiry: BTreeSet::new(),
            next_serial: 1,
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> &RegistryLimits {
        &self.limits
    }

    /// Checks `new` against the namespace rule, the TTL bounds and the limits
    /// and returns the registration that [`Registry::register`] would store
    /// at `now_unix`, serial included, without storing it.
    ///
    /// Replacing the peer's existing registration in the same namespace does
    /// not count against the limits. Expired registrations not yet removed by
    /// [`Registry::expire`] still count.
    pub fn prepare(
        &self,
        new: NewRegistration,
        now_unix: u64,
    ) -> Result<Registration, RegisterError> {
        if !valid_namespace(&new.namespace) {
            return Err(RegisterError::InvalidNamespace);
        }
        let ttl = match new.ttl_secs {
            None | Some(0) => self.limits.default_ttl_secs,
            Some(ttl) => ttl,
        };
        if !(self.limits.min_ttl_secs..=self.limits.max_ttl_secs).contains(&ttl) {
            return Err(RegisterError::InvalidTtl {
                ttl,
                min: self.limits.min_ttl_secs,
                max: self.limits.max_ttl_secs,
            });
        }
        let replaces = self.by_key.contains_key(&(new.peer, new.namespace.clone()));
        if !replaces {
            let held = self.by_peer.get(&new.peer).map_or(0, HashSet::len);
            if held >= self.limits.max_per_peer {
                return Err(RegisterError::TooManyForPeer {
                    max: self.limits.max_per_peer,
                });
            }
            if self.by_serial.len() >= self.limits.max_total {
                return Err(RegisterError::Full {
                    max: self.limits.max_total,
                });
            }
        }
        Ok(Registration {
            peer: new.peer,
            namespace: new.namespace,
            addrs: new.addrs,
            ttl_secs: ttl,
            expires_at_unix: now_unix.saturating_add(ttl),
            envelope: new.envelope,
            domain: new.domain,
            serial: self.next_serial,
        })
    }

    /// Validates and stores a registration, replacing the peer's previous
    /// registration in the same namespace (re-registration refreshes the TTL
    /// and gives a new serial). Errors as in [`Registry::prepare`].
    pub fn register(
        &mut self,
        new: NewRegistration,
        now_unix: u64,
    ) -> Result<&Registration, RegisterError> {
        let reg = self.prepare(new, now_unix)?;
        Ok(self.commit(reg))
    }

    /// Stores a registration produced by [`Registry::prepare`], with no
    /// further checks. The stored serial is the registry's next serial, which
    /// equals the prepared one when nothing was stored in between.
    pub(crate) fn commit(&mut self, mut reg: Registration) -> &Registration {
        self.remove(&reg.peer, &reg.namespace);
        reg.serial = self.next_serial;
        self.next_serial += 1;
        self.insert(reg)
    }

    fn insert(&mut self, reg: Registration) -> &Registration {
        let serial = reg.serial;
        self.by_key
            .insert((reg.peer, reg.namespace.clone()), serial);
        self.by_peer
            .entry(reg.peer)
            .or_default()
            .insert(reg.namespace.clone());
        self.expiry.insert((reg.expires_at_unix, serial));
        self.by_serial.entry(serial).or_insert(reg)
    }

    fn remove(&mut self, peer: &PeerId, namespace: &str) -> Option<Registration> {
        let serial = self.by_key.remove(&(*peer, namespace.to_owned()))?;
        let reg = self.by_serial.remove(&serial)?;
        self.expiry.remove(&(reg.expires_at_unix, serial));
        if let Some(set) = self.by_peer.get_mut(peer) {
            set.remove(namespace);
            if set.is_empty() {
                self.by_peer.remove(peer);
            }
        }
        Some(reg)
    }

    /// Removes `peer`'s registration in `namespace`; `true` if there was one.
    pub fn unregister(&mut self, peer: &PeerId, namespace: &str) -> bool {
        self.remove(peer, namespace).is_some()
    }

    /// Lists registrations newer than `cookie`, oldest first, skipping
    /// expired ones.
    ///
    /// - `namespace`: `None` or `Some("")` for all namespaces.
    /// - `limit`: `None` or 0 means [`DISCOVER_LIMIT_MAX`]; larger values
    ///   are capped to it.
    /// - `cookie`: a cookie from a previous call for the same namespace, or
    ///   for all namespaces; otherwise [`DiscoverError::InvalidCookie`] (as
    ///   when malformed). A cookie whose serial lies beyond anything this registry
    ///   has issued (e.g. from before a restart that lost registrations) is
    ///   treated as absent, so the caller gets the full list again.
    ///
    /// Returns the registrations and the encoded [`Cookie`] to use next.
    pub fn discover(
        &self,
        namespace: Option<&str>,
        limit: Option<u64>,
        cookie: Option<&[u8]>,
        now_unix: u64,
    ) -> Result<(Vec<&Registration>, Vec<u8>), DiscoverError> {
        let namespace = namespace.filter(|ns| !ns.is_empty());
        if namespace.is_some_and(|ns| ns.len() > MAX_NAMESPACE_LEN) {
            return Err(DiscoverError::InvalidNamespace);
        }
        let mut start = 0;
        if let Some(bytes) = cookie {
            let cookie =
                Cookie::decode(bytes).map_err(|_| DiscoverError::InvalidCookie("malformed"))?;
            if cookie
                .namespace
                .as_deref()
                .is_some_and(|cns| Some(cns) != namespace)
            {
                return Err(DiscoverError::InvalidCookie("issued for another namespace"));
            }
            if cookie.serial < self.next_serial {
                start = cookie.serial;
            }
        }
        let limit = match limit {
            None | Some(0) => DISCOVER_LIMIT_MAX,
            Some(n) => n.min(DISCOVER_LIMIT_MAX),
        } as usize;

        let found: Vec<&Registration> = self
            .by_serial
            .range(start.saturating_add(1)..)
            .map(|(_, reg)| reg)
            .filter(|reg| namespace.is_none_or(|ns| reg.namespace == ns))
            .filter(|reg| !reg.is_expired(now_unix))
            .take(limit)
            .collect();
        let last = if found.len() < limit {
            // Everything up to the newest serial has been scanned.
            start.max(self.next_serial - 1)
        } else {
            found.last().map_or(start, |reg| reg.serial)
        };
        let cookie = Cookie {
            serial: last,
            namespace: namespace.map(str::to_owned),
        };
        Ok((found, cookie.encode()))
    }

    /// Removes and returns the registrations expired at `now_unix`, soonest
    /// expiry first.
    pub fn expire(&mut self, now_unix: u64) -> Vec<Registration> {
        let mut expired = Vec::new();
        while let Some(&(at, serial)) = self.expiry.first() {
            if at > now_unix {
                break;
            }
            self.expiry.pop_first();
            let Some(key) = self
                .by_serial
                .get(&serial)
                .map(|r| (r.peer, r.namespace.clone()))
            else {
                continue;
            };
            if let Some(reg) = self.remove(&key.0, &key.1) {
                expired.push(reg);
            }
        }
        expired
    }

    /// Expiry time (unix seconds) of the registration expiring soonest.
    pub fn next_expiry(&self) -> Option<u64> {
        self.expiry.first().map(|&(at, _)| at)
    }

    /// Loads registrations saved earlier (e.g. in a database), skipping those
    /// expired at `now_unix` and those with an invalid namespace. Limits are
    /// not applied. Serials are kept, so cookies issued before a restart keep
    /// working; a serial of 0 or one already in use gets a fresh serial. When
    /// the same `(peer, namespace)` appears twice, the larger serial wins.
    /// Returns how many registrations were loaded.
    pub fn restore(&mut self, mut regs: Vec<Registration>, now_unix: u64) -> usize {
        regs.retain(|r| !r.is_expired(now_unix) && valid_namespace(&r.namespace));
        regs.sort_by_key(|r| r.serial);
        let mut latest: HashMap<(PeerId, String), Registration> = HashMap::new();
        for reg in regs {
            latest.insert((reg.peer, reg.namespace.clone()), reg);
        }
        let mut regs: Vec<Registration> = latest.into_values().collect();
        regs.sort_by_key(|r| r.serial);
        let max_serial = regs.iter().map(|r| r.serial).max().unwrap_or(0);
        self.next_serial = self.next_serial.max(max_serial.saturating_add(1));
        let loaded = regs.len();
        for mut reg in regs {
            if reg.serial == 0 || self.by_serial.contains_key(&reg.serial) {
                reg.serial = self.next_serial;
                self.next_serial += 1;
            }
            self.remove(&reg.peer, &reg.namespace);
            self.insert(reg);
        }
        loaded
    }

    /// Registrations not expired at `now_unix`, in `namespace` (or all when
    /// `None`), oldest first.
    pub fn list(&self, namespace: Option<&str>, now_unix: u64) -> Vec<&Registration> {
        self.by_serial
            .values()
            .filter(|reg| namespace.is_none_or(|ns| reg.namespace == ns))
            .filter(|reg| !reg.is_expired(now_unix))
            .collect()
    }

    /// Whether `peer` holds a registration sealed in `domain`, not expired at
    /// `now_unix`.
    pub fn holds_domain(&self, peer: &PeerId, domain: RecordDomain, now_unix: u64) -> bool {
        let Some(namespaces) = self.by_peer.get(peer) else {
            return false;
        };
        namespaces.iter().any(|ns| {
            self.by_key
                .get(&(*peer, ns.clone()))
                .and_then(|serial| self.by_serial.get(serial))
                .is_some_and(|reg| reg.domain == domain && !reg.is_expired(now_unix))
        })
    }

    /// Number of registrations held, including expired ones not yet removed.
    pub fn len(&self) -> usize {
        self.by_serial.len()
    }

    /// Whether no registration is held.
    pub fn is_empty(&self) -> bool {
        self.by_serial.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_700_000_000;

    fn limits() -> RegistryLimits {
        RegistryLimits {
            max_per_peer: 2,
            max_total: 3,
            min_ttl_secs: 100,
            max_ttl_secs: 1000,
            default_ttl_secs: 200,
        }
    }

    fn new_reg(peer: PeerId, ns: &str, ttl: Option<u64>) -> NewRegistration {
        NewRegistration {
            peer,
            namespace: ns.into(),
            addrs: vec!["/ip4/10.0.0.1/tcp/1".parse().expect("multiaddr")],
            ttl_secs: ttl,
            envelope: vec![1, 2, 3],
            domain: RecordDomain::Standard,
        }
    }

    fn peers_of(regs: &[&Registration]) -> Vec<PeerId> {
        regs.iter().map(|r| r.peer).collect()
    }

    #[test]
    fn default_limits_match_rust_libp2p() {
        let l = RegistryLimits::default();
        assert_eq!(
            (
                l.max_per_peer,
                l.max_total,
                l.min_ttl_secs,
                l.max_ttl_secs,
                l.default_ttl_secs
            ),
            (10, 10_000, 7200, 259_200, 7200)
        );
        assert_eq!(l.validate(), Ok(()));
        let bad = RegistryLimits {
            default_ttl_secs: 1,
            ..l
        };
        assert!(bad.validate().is_err());
    }

    #[test]
    fn ttl_bounds_and_default() {
        let mut r = Registry::new(limits());
        let p = PeerId::random();
        let err = r.register(new_reg(p, "a", Some(99)), NOW).unwrap_err();
        assert_eq!(err.status(), ResponseStatus::EInvalidTtl);
        let err = r.register(new_reg(p, "a", Some(1001)), NOW).unwrap_err();
        assert_eq!(err.status(), ResponseStatus::EInvalidTtl);
        assert!(r.is_empty());

        let reg = r.register(new_reg(p, "a", Some(100)), NOW).expect("min ok");
        assert_eq!((reg.ttl_secs, reg.expires_at_unix), (100, NOW + 100));
        let reg = r.register(new_reg(p, "b", None), NOW).expect("default");
        assert_eq!(reg.ttl_secs, 200);
        let reg = r
            .register(new_reg(p, "b", Some(0)), NOW)
            .expect("zero = default");
        assert_eq!(reg.ttl_secs, 200);
        assert_eq!(r.len(), 2);
    }

    #[test]
    fn namespace_rules() {
        let mut r = Registry::new(limits());
        let p = PeerId::random();
        let err = r.register(new_reg(p, "", None), NOW).unwrap_err();
        assert_eq!(err.status(), ResponseStatus::EInvalidNamespace);
        let long = "x".repeat(MAX_NAMESPACE_LEN + 1);
        assert_eq!(
            r.register(new_reg(p, &long, None), NOW).unwrap_err(),
            RegisterError::InvalidNamespace
        );
        let max = "x".repeat(MAX_NAMESPACE_LEN);
        assert!(r.register(new_reg(p, &max, None), NOW).is_ok());
        assert_eq!(
            r.discover(Some(&long), None, None, NOW).unwrap_err(),
            DiscoverError::InvalidNamespace
        );
    }

    #[test]
    fn per_peer_and_total_limits() {
        let mut r = Registry::new(limits());
        let (p, q) = (PeerId::random(), PeerId::random());
        r.register(new_reg(p, "a", None), NOW).expect("1");
        r.register(new_reg(p, "b", None), NOW).expect("2");
        let err = r.register(new_reg(p, "c", None), NOW).unwrap_err();
        assert_eq!(err, RegisterError::TooManyForPeer { max: 2 });
        assert_eq!(err.status(), ResponseStatus::ENotAuthorized);
        // Re-registering an existing namespace is not a new registration.
        r.register(new_reg(p, "a", Some(300)), NOW)
            .expect("refresh at limit");

        r.register(new_reg(q, "a", None), NOW).expect("3");
        let err = r.register(new_reg(q, "b", None), NOW).unwrap_err();
        assert_eq!(err, RegisterError::Full { max: 3 });
        assert_eq!(err.status(), ResponseStatus::EUnavailable);
        assert_eq!(r.len(), 3);

        assert!(r.unregister(&p, "b"));
        assert!(!r.unregister(&p, "b"));
        r.register(new_reg(q, "b", None), NOW).expect("room again");
    }

    #[test]
    fn reregistration_replaces_and_refreshes() {
        let mut r = Registry::new(limits());
        let p = PeerId::random();
        let first = r
            .register(new_reg(p, "a", Some(100)), NOW)
            .expect("ok")
            .serial;
        let mut again = new_reg(p, "a", Some(500));
        again.envelope = vec![9];
        let second = r.register(again, NOW + 50).expect("ok").clone();
        assert!(second.serial > first);
        assert_eq!(second.expires_at_unix, NOW + 550);
        assert_eq!(r.len(), 1);
        let listed = r.list(Some("a"), NOW + 200);
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].envelope, vec![9]);
        // The old expiry entry is gone: nothing expires at the old time.
        assert!(r.expire(NOW + 200).is_empty());
        assert_eq!(r.next_expiry(), Some(NOW + 550));
    }

    #[test]
    fn discover_pages_with_cookie_and_limit() {
        let mut r = Registry::new(RegistryLimits::default());
        let peers: Vec<PeerId> = (0..5).map(|_| PeerId::random()).collect();
        for p in &peers {
            r.register(new_reg(*p, "ns", None), NOW).expect("ok");
        }
        let other = PeerId::random();
        r.register(new_reg(other, "other", None), NOW).expect("ok");

        let (page, cookie) = r.discover(Some("ns"), Some(2), None, NOW).expect("ok");
        assert_eq!(peers_of(&page), peers[0..2]);
        let (page, cookie) = r
            .discover(Some("ns"), Some(2), Some(&cookie), NOW)
            .expect("ok");
        assert_eq!(peers_of(&page), peers[2..4]);
        let (page, cookie) = r
            .discover(Some("ns"), Some(2), Some(&cookie), NOW)
            .expect("ok");
        assert_eq!(peers_of(&page), peers[4..5]);
        let (page, cookie) = r
            .discover(Some("ns"), Some(2), Some(&cookie), NOW)
            .expect("ok");
        assert!(page.is_empty());

        // A new registration and a refresh show up after the cookie.
        let late = PeerId::random();
        r.register(new_reg(late, "ns", None), NOW).expect("ok");
        r.register(new_reg(peers[0], "ns", None), NOW)
            .expect("refresh");
        let (page, _) = r
            .discover(Some("ns"), None, Some(&cookie), NOW)
            .expect("ok");
        assert_eq!(peers_of(&page), vec![late, peers[0]]);

        // All namespaces, oldest first (the refreshed registration moved last).
        let (all, all_cookie) = r.discover(None, None, None, NOW).expect("ok");
        let mut expected = peers[1..].to_vec();
        expected.extend([other, late, peers[0]]);
        assert_eq!(peers_of(&all), expected);
        assert_eq!(Cookie::decode(&all_cookie).expect("cookie").namespace, None);
        let (again, _) = r
            .discover(Some(""), None, Some(&all_cookie), NOW)
            .expect("ok");
        assert!(again.is_empty());
    }

    #[test]
    fn discover_rejects_foreign_or_malformed_cookie() {
        let mut r = Registry::new(RegistryLimits::default());
        r.register(new_reg(PeerId::random(), "a", None), NOW)
            .expect("ok");
        let (_, cookie_a) = r.discover(Some("a"), None, None, NOW).expect("ok");
        let (_, cookie_all) = r.discover(None, None, None, NOW).expect("ok");

        let err = r
            .discover(Some("b"), None, Some(&cookie_a), NOW)
            .unwrap_err();
        assert_eq!(err.status(), ResponseStatus::EInvalidCookie);
        assert!(r.discover(None, None, Some(&cookie_a), NOW).is_err());
        // A cookie for all namespaces narrows to one namespace (rust-libp2p's
        // server accepts that too); the answer carries that namespace.
        let (page, narrowed) = r
            .discover(Some("a"), None, Some(&cookie_all), NOW)
            .expect("all-namespaces cookie accepted");
        assert!(page.is_empty());
        assert_eq!(
            Cookie::decode(&narrowed)
                .expect("cookie")
                .namespace
                .as_deref(),
            Some("a")
        );
        assert!(r.discover(Some("a"), None, Some(&[1, 2]), NOW).is_err());
        assert!(r.discover(Some("a"), None, Some(&cookie_a), NOW).is_ok());
    }

    #[test]
    fn discover_cookie_from_the_future_restarts_listing() {
        let mut r = Registry::new(RegistryLimits::default());
        let p = PeerId::random();
        r.register(new_reg(p, "a", None), NOW).expect("ok");
        let future = Cookie {
            serial: 1_000_000,
            namespace: Some("a".into()),
        }
        .encode();
        let (page, cookie) = r.discover(Some("a"), None, Some(&future), NOW).expect("ok");
        assert_eq!(peers_of(&page), vec![p]);
        assert_eq!(Cookie::decode(&cookie).expect("cookie").serial, 1);
    }

    #[test]
    fn limit_is_capped() {
        let mut r = Registry::new(RegistryLimits {
            max_per_peer: 1,
            max_total: 2000,
            ..RegistryLimits::default()
        });
        for _ in 0..1001 {
            r.register(new_reg(PeerId::random(), "a", None), NOW)
                .expect("ok");
        }
        let (page, _) = r.discover(Some("a"), Some(5000), None, NOW).expect("ok");
        assert_eq!(page.len(), DISCOVER_LIMIT_MAX as usize);
        let (page, _) = r.discover(Some("a"), Some(0), None, NOW).expect("ok");
        assert_eq!(page.len(), DISCOVER_LIMIT_MAX as usize);
    }

    #[test]
    fn expiry_removes_and_discovery_skips() {
        let mut r = Registry::new(limits());
        let (p, q) = (PeerId::random(), PeerId::random());
        r.register(new_reg(p, "a", Some(100)), NOW).expect("ok");
        r.register(new_reg(q, "a", Some(300)), NOW).expect("ok");
        assert_eq!(r.next_expiry(), Some(NOW + 100));

        assert!(r.expire(NOW + 99).is_empty());
        // Expired but not yet removed: hidden from discovery and listing.
        let (page, _) = r.discover(Some("a"), None, None, NOW + 100).expect("ok");
        assert_eq!(peers_of(&page), vec![q]);
        assert_eq!(r.list(None, NOW + 100).len(), 1);
        assert!(r.holds_domain(&p, RecordDomain::Standard, NOW + 99));
        assert!(!r.holds_domain(&p, RecordDomain::Standard, NOW + 100));

        let expired = r.expire(NOW + 100);
        assert_eq!(expired.len(), 1);
        assert_eq!(expired[0].peer, p);
        assert_eq!(r.len(), 1);
        assert!(!r.unregister(&p, "a"));
        assert_eq!(r.expire(NOW + 1000).len(), 1);
        assert!(r.is_empty());
        assert_eq!(r.next_expiry(), None);
    }

    #[test]
    fn restore_skips_expired_and_keeps_serials() {
        let mut source = Registry::new(RegistryLimits::default());
        let (p, q, s) = (PeerId::random(), PeerId::random(), PeerId::random());
        let keep = source
            .register(new_reg(p, "a", Some(7200)), NOW)
            .expect("ok")
            .clone();
        let gone = source
            .register(new_reg(q, "a", Some(7200)), NOW - 8000)
            .expect("ok")
            .clone();
        let mut unserialed = source
            .register(new_reg(s, "b", None), NOW)
            .expect("ok")
            .clone();
        unserialed.serial = 0;
        let (_, cookie) = source.discover(Some("a"), Some(1), None, NOW).expect("ok");

        let mut r = Registry::new(RegistryLimits::default());
        let loaded = r.restore(vec![gone, unserialed, keep.clone()], NOW);
        assert_eq!(loaded, 2);
        assert_eq!(r.len(), 2);
        assert_eq!(r.list(Some("a"), NOW), vec![&keep]);
        let b: Vec<u64> = r.list(Some("b"), NOW).iter().map(|r| r.serial).collect();
        assert_eq!(b.len(), 1);
        assert!(b[0] > keep.serial);
        // A cookie issued before the restart still pages from where it was.
        let (page, _) = r.discover(Some("a"), None, Some(&cookie), NOW).expect("ok");
        assert!(page.is_empty());
        // New registrations get serials after the restored ones.
        let fresh = r.register(new_reg(q, "a", None), NOW).expect("ok").serial;
        assert!(fresh > b[0]);
    }

    #[test]
    fn prepare_does_not_store() {
        let mut r = Registry::new(limits());
        let p = PeerId::random();
        let prepared = r.prepare(new_reg(p, "a", None), NOW).expect("ok");
        assert!(r.is_empty());
        let stored = r.commit(prepared.clone()).clone();
        assert_eq!(stored, prepared);
        assert_eq!(r.len(), 1);
    }
}
