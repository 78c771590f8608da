//! The server side: sofia-sip's `auth_module`. Challenges requests, verifies
//! credentials, protects against replays and password guessing.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rand::{Rng, SeedableRng, rngs::StdRng};
use sofia_msg::headers::{Credentials, NameAddr};
use sofia_msg::{HeaderName, Message, Method, ResponseBuilder, Uri};
use sofia_su::su_log;
use subtle::ConstantTimeEq;

use crate::digest::{self, Algorithm, DigestParams, Qop};
use crate::nonce::{NonceCheck, NonceKey};
use crate::store::{CredentialStore, Secret};

/// Which challenge a module sends: a registrar or UAS asks with 401, a proxy
/// with 407.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChallengeKind {
    /// 401 Unauthorized with `WWW-Authenticate`; credentials in
    /// `Authorization`.
    Www,
    /// 407 Proxy Authentication Required with `Proxy-Authenticate`;
    /// credentials in `Proxy-Authorization`.
    Proxy,
}

impl ChallengeKind {
    /// The status code of the challenge.
    pub fn status(self) -> u16 {
        match self {
            ChallengeKind::Www => 401,
            ChallengeKind::Proxy => 407,
        }
    }

    /// The reason phrase of the challenge.
    pub fn reason(self) -> &'static str {
        match self {
            ChallengeKind::Www => "Unauthorized",
            ChallengeKind::Proxy => "Proxy Authentication Required",
        }
    }

    /// The challenge header.
    pub fn challenge_header(self) -> HeaderName {
        match self {
            ChallengeKind::Www => HeaderName::WwwAuthenticate,
            ChallengeKind::Proxy => HeaderName::ProxyAuthenticate,
        }
    }

    /// The credentials header.
    pub fn credentials_header(self) -> HeaderName {
        match self {
            ChallengeKind::Www => HeaderName::Authorization,
            ChallengeKind::Proxy => HeaderName::ProxyAuthorization,
        }
    }
}

/// How the realm of a challenge is chosen, as FreeSWITCH's `challenge-realm`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RealmPolicy {
    /// `auto_from`: the host of the From URI.
    AutoFrom,
    /// `auto_to`: the host of the To URI.
    AutoTo,
    /// A fixed realm.
    Fixed(String),
}

impl RealmPolicy {
    /// Reads FreeSWITCH's `challenge-realm` value: `auto_from`, `auto_to`, or
    /// a realm.
    pub fn from_setting(value: &str) -> RealmPolicy {
        match value.trim() {
            "auto_from" => RealmPolicy::AutoFrom,
            "auto_to" => RealmPolicy::AutoTo,
            v => RealmPolicy::Fixed(v.to_string()),
        }
    }
}

/// Protection against password guessing: a source address with more than
/// `max_failures` failed attempts within `window` is answered 403 for
/// `cooldown`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lockout {
    /// Failures tolerated within one window.
    pub max_failures: u32,
    /// The window failures are counted in.
    pub window: Duration,
    /// How long a source over the limit is answered 403.
    pub cooldown: Duration,
    /// The most source addresses tracked at once (bounded memory).
    pub max_sources: usize,
}

impl Default for Lockout {
    fn default() -> Self {
        Lockout {
            max_failures: 10,
            window: Duration::from_secs(60),
            cooldown: Duration::from_secs(300),
            max_sources: 65_536,
        }
    }
}

/// The module's settings. Defaults: 401 challenges, realm from the To URI,
/// SHA-256 and MD5 challenges, `qop="auth"`, a 60 s nonce lifetime (as
/// FreeSWITCH's `nonce-ttl`), and the lockout of [`Lockout::default`].
#[derive(Debug, Clone)]
pub struct Config {
    /// 401 or 407.
    pub kind: ChallengeKind,
    /// The realm of challenges and of the credentials accepted.
    pub realm: RealmPolicy,
    /// The algorithms offered, one challenge each, in this order (RFC 8760
    /// §2.4: most preferred first); credentials with another algorithm are
    /// challenged again.
    pub algorithms: Vec<Algorithm>,
    /// The qop options offered; empty offers none (RFC 2069 digests).
    pub qop: Vec<Qop>,
    /// Accept credentials without a qop (RFC 2069 clients) even when a qop
    /// was offered. Such credentials have no nonce count, so a replay within
    /// the nonce's lifetime cannot be told from a retry.
    pub allow_no_qop: bool,
    /// The `opaque` value of challenges, which credentials must echo; `None`
    /// sends none.
    pub opaque: Option<String>,
    /// How long a nonce is accepted; credentials with an older nonce are
    /// challenged again with `stale=true`.
    pub nonce_ttl: Duration,
    /// Tolerance for nonce issue times ahead of the clock.
    pub clock_skew: Duration,
    /// The secret nonces are made with; `None` draws one at random (nonces
    /// then do not survive a restart).
    pub secret: Option<[u8; 32]>,
    /// The most nonces whose count is remembered (replay protection). Past
    /// it the oldest are forgotten, and their nonces are treated as stale.
    pub max_nonces: usize,
    /// Guessing protection; `None` turns it off.
    pub lockout: Option<Lockout>,
    /// Answer wrong credentials with 403 (FreeSWITCH's behaviour) instead of
    /// a new challenge (sofia-sip's).
    pub forbid_wrong_credentials: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            kind: ChallengeKind::Www,
            realm: RealmPolicy::AutoTo,
            algorithms: vec![Algorithm::Sha256, Algorithm::Md5],
            qop: vec![Qop::Auth],
            allow_no_qop: true,
            opaque: None,
            nonce_ttl: Duration::from_secs(60),
            clock_skew: Duration::from_secs(5),
            secret: None,
            max_nonces: 65_536,
            lockout: Some(Lockout::default()),
            forbid_wrong_credentials: false,
        }
    }
}

/// Why a request was refused; carried by [`Verdict::Challenge`] and
/// [`Verdict::Forbidden`] for logs and statistics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No credentials for the realm.
    NoCredentials,
    /// The credentials name an algorithm not offered.
    UnsupportedAlgorithm,
    /// The nonce is not one of this server's.
    InvalidNonce,
    /// The nonce is too old (the credentials were otherwise right).
    StaleNonce,
    /// The nonce count was used before (a replay).
    Replay,
    /// Unknown user, or a secret that cannot serve the algorithm.
    UnknownUser,
    /// The response digest is wrong (wrong password).
    WrongResponse,
    /// The source is locked out after too many failures.
    LockedOut,
    /// The `opaque` value is not the challenge's.
    WrongOpaque,
}

impl Refusal {
    /// A short description.
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::NoCredentials => "no credentials",
            Refusal::UnsupportedAlgorithm => "unsupported algorithm",
            Refusal::InvalidNonce => "invalid nonce",
            Refusal::StaleNonce => "stale nonce",
            Refusal::Replay => "nonce count replayed",
            Refusal::UnknownUser => "unknown user",
            Refusal::WrongResponse => "wrong response",
            Refusal::LockedOut => "source locked out",
            Refusal::WrongOpaque => "wrong opaque",
        }
    }
}

/// The outcome of [`AuthModule::verify`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The credentials are right.
    Authorized {
        /// The authenticated user name.
        username: String,
        /// The realm.
        realm: String,
        /// The algorithm used.
        algorithm: Algorithm,
    },
    /// ACK and CANCEL are never challenged (RFC 3261 §22.1).
    Exempt,
    /// Answer with a challenge: 401 or 407 and these header values.
    Challenge {
        /// 401 or 407.
        status: u16,
        /// The challenge header (`WWW-Authenticate` or `Proxy-Authenticate`).
        header: HeaderName,
        /// One value per algorithm.
        challenges: Vec<String>,
        /// Why.
        why: Refusal,
    },
    /// Answer 400: the credentials are malformed; the reason names what.
    BadRequest {
        /// The reason phrase.
        reason: String,
    },
    /// Answer 403.
    Forbidden {
        /// Why.
        why: Refusal,
    },
}

impl Verdict {
    /// True for [`Verdict::Authorized`] and [`Verdict::Exempt`].
    pub fn is_allowed(&self) -> bool {
        matches!(self, Verdict::Authorized { .. } | Verdict::Exempt)
    }

    /// The status code and reason phrase to answer with, when the request is
    /// refused.
    pub fn status(&self) -> Option<(u16, &str)> {
        match self {
            Verdict::Authorized { .. } | Verdict::Exempt => None,
            Verdict::Challenge { status, .. } => Some((
                *status,
                if *status == 407 {
                    "Proxy Authentication Required"
                } else {
                    "Unauthorized"
                },
            )),
            Verdict::BadRequest { reason } => Some((400, reason)),
            Verdict::Forbidden { .. } => Some((403, "Forbidden")),
        }
    }

    /// The response to `request` when it is refused: the status, the To tag
    /// given, and the challenge headers.
    pub fn response(
        &self,
        request: &Message,
        to_tag: Option<&str>,
    ) -> Option<Result<Message, sofia_msg::BuildError>> {
        let (status, reason) = self.status()?;
        let mut b = ResponseBuilder::reply_to(request, status, reason, to_tag);
        if let Verdict::Challenge {
            header, challenges, ..
        } = self
        {
            for c in challenges {
                b = b.header(*header, c);
            }
        }
        Some(b.build())
    }
}

struct NonceUse {
    last_nc: u32,
    serial: u64,
    expires: u64,
}

struct Failures {
    count: u32,
    window_start: SystemTime,
    blocked_until: Option<SystemTime>,
}

/// The authentication module: challenges, verification, nonce-count replay
/// protection, and failure counting per source address.
///
/// Sans-IO: [`verify`](AuthModule::verify) is given the request, its source
/// and the wall-clock time, and says what to answer.
pub struct AuthModule<S> {
    config: Config,
    store: S,
    key: NonceKey,
    nonces: HashMap<String, NonceUse>,
    nonce_order: VecDeque<String>,
    /// The serial number of the next nonce.
    next_serial: u64,
    /// The highest serial number whose count was forgotten to bound memory:
    /// unknown nonces with a serial up to it are treated as stale.
    forgotten_up_to: Option<u64>,
    failures: HashMap<IpAddr, Failures>,
}

impl<S> std::fmt::Debug for AuthModule<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthModule")
            .field("config", &self.config)
            .field("nonces", &self.nonces.len())
            .field("sources", &self.failures.len())
            .finish()
    }
}

fn secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Writes `s` as a quoted string, escaping `"` and `\`.
pub(crate) fn push_quoted(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
}

fn host_of(addr: Option<NameAddr<'_>>) -> Option<String> {
    addr.map(|a| a.uri().host().to_ascii_lowercase())
}

impl<S: CredentialStore> AuthModule<S> {
    /// A module with a random nonce secret (unless the config gives one)
    /// from the operating system's generator.
    pub fn new(config: Config, store: S) -> AuthModule<S> {
        AuthModule::with_rng(config, store, StdRng::from_rng(&mut rand::rng()))
    }

    /// A module drawing its secret (when not configured) and the start of
    /// its nonce serial numbers from `rng`, for reproducible tests.
    pub fn with_rng(config: Config, store: S, mut rng: StdRng) -> AuthModule<S> {
        let secret = config.secret.unwrap_or_else(|| {
            let mut k = [0u8; 32];
            rng.fill_bytes(&mut k);
            k
        });
        // A random start (below 2^62, so it never wraps) keeps nonces
        // unique across restarts with a configured secret.
        let next_serial = rng.next_u64() >> 2;
        AuthModule {
            config,
            store,
            key: NonceKey::new(secret),
            nonces: HashMap::new(),
            nonce_order: VecDeque::new(),
            next_serial,
            forgotten_up_to: None,
            failures: HashMap::new(),
        }
    }

    /// The settings.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The credential store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The credential store, to change it.
    pub fn store_mut(&mut self) -> &mut S {
        &mut self.store
    }

    /// Nonces whose count is remembered.
    pub fn tracked_nonces(&self) -> usize {
        self.nonces.len()
    }

    /// Source addresses with failures counted.
    pub fn tracked_sources(&self) -> usize {
        self.failures.len()
    }

    /// The realm for `request` under the configured policy.
    pub fn realm_for(&self, request: &Message) -> String {
        match &self.config.realm {
            RealmPolicy::Fixed(r) => r.clone(),
            RealmPolicy::AutoFrom => host_of(request.from()).unwrap_or_default(),
            RealmPolicy::AutoTo => host_of(request.to()).unwrap_or_default(),
        }
    }

    /// A challenge for `request`, without looking at its credentials.
    pub fn challenge(&mut self, now: SystemTime, request: &Message) -> Verdict {
        let realm = self.realm_for(request);
        self.challenge_for(now, &realm, false, Refusal::NoCredentials)
    }

    fn challenge_for(
        &mut self,
        now: SystemTime,
        realm: &str,
        stale: bool,
        why: Refusal,
    ) -> Verdict {
        let nonce = self.key.issue(secs(now), self.next_serial, realm);
        self.next_serial += 1;
        let mut challenges = Vec::with_capacity(self.config.algorithms.len());
        for alg in &self.config.algorithms {
            let mut c = String::with_capacity(160);
            c.push_str("Digest realm=");
            push_quoted(&mut c, realm);
            c.push_str(", nonce=\"");
            c.push_str(&nonce);
            c.push('"');
            if let Some(o) = &self.config.opaque {
                c.push_str(", opaque=");
                push_quoted(&mut c, o);
            }
            if stale {
                c.push_str(", stale=true");
            }
            c.push_str(", algorithm=");
            c.push_str(alg.name());
            if !self.config.qop.is_empty() {
                c.push_str(", qop=\"");
                for (i, q) in self.config.qop.iter().enumerate() {
                    if i > 0 {
                        c.push(',');
                    }
                    c.push_str(q.name());
                }
                c.push('"');
            }
            challenges.push(c);
        }
        su_log!(
            IPTSEC,
            5,
            "iptsec: challenge {} realm=\"{}\" ({}){}",
            self.config.kind.status(),
            realm,
            why.as_str(),
            if stale { " stale=true" } else { "" }
        );
        Verdict::Challenge {
            status: self.config.kind.status(),
            header: self.config.kind.challenge_header(),
            challenges,
            why,
        }
    }

    fn bad_request(&self, reason: String) -> Verdict {
        su_log!(IPTSEC, 5, "iptsec: 400 {}", reason);
        Verdict::BadRequest { reason }
    }

    /// True when `source` is locked out at `now`.
    pub fn is_locked_out(&self, now: SystemTime, source: IpAddr) -> bool {
        self.failures
            .get(&source)
            .and_then(|f| f.blocked_until)
            .is_some_and(|until| now < until)
    }

    /// Counts a failure of `source`; returns true when it crossed the limit.
    fn count_failure(&mut self, now: SystemTime, source: IpAddr) -> bool {
        let Some(lock) = self.config.lockout.clone() else {
            return false;
        };
        if !self.failures.contains_key(&source) && self.failures.len() >= lock.max_sources {
            // Forget sources whose window and block have passed; when every
            // entry is live, one that is not blocked makes room.
            self.failures.retain(|_, f| {
                f.blocked_until.is_some_and(|u| now < u)
                    || now
                        .duration_since(f.window_start)
                        .is_ok_and(|d| d < lock.window)
            });
            if self.failures.len() >= lock.max_sources {
                let victim = self
                    .failures
                    .iter()
                    .find(|(_, f)| f.blocked_until.is_none())
                    .map(|(a, _)| *a);
                match victim {
                    Some(a) => {
                        self.failures.remove(&a);
                    }
                    None => return false,
                }
            }
        }
        let f = self.failures.entry(source).or_insert(Failures {
            count: 0,
            window_start: now,
            blocked_until: None,
        });
        if let Some(until) = f.blocked_until
            && now >= until
        {
            f.blocked_until = None;
            f.count = 0;
            f.window_start = now;
        }
        if now
            .duration_since(f.window_start)
            .is_ok_and(|d| d >= lock.window)
        {
            f.count = 0;
            f.window_start = now;
        }
        f.count = f.count.saturating_add(1);
        if f.count > lock.max_failures && f.blocked_until.is_none() {
            f.blocked_until = Some(now + lock.cooldown);
            su_log!(
                IPTSEC,
                3,
                "iptsec: {} locked out for {} s after {} failed authentications in {} s",
                source,
                lock.cooldown.as_secs(),
                f.count,
                lock.window.as_secs()
            );
            return true;
        }
        false
    }

    /// A refusal after a failed verification: a new challenge, or 403 when
    /// so configured or when the source just crossed the failure limit.
    fn fail(&mut self, now: SystemTime, source: IpAddr, realm: &str, why: Refusal) -> Verdict {
        let locked = self.count_failure(now, source);
        su_log!(
            IPTSEC,
            5,
            "iptsec: {} from {}: {}",
            realm,
            source,
            why.as_str()
        );
        if locked {
            return Verdict::Forbidden {
                why: Refusal::LockedOut,
            };
        }
        if self.config.forbid_wrong_credentials
            && matches!(why, Refusal::WrongResponse | Refusal::UnknownUser)
        {
            return Verdict::Forbidden { why };
        }
        self.challenge_for(now, realm, false, why)
    }

    /// Remembers `nc` for `nonce`; false when it is not above the last one
    /// seen (a replay).
    fn record_nc(&mut self, nonce: &str, nc: u32, issued: u64, serial: u64) -> bool {
        let expires = issued.saturating_add(self.config.nonce_ttl.as_secs());
        if let Some(u) = self.nonces.get_mut(nonce) {
            if nc <= u.last_nc {
                return false;
            }
            u.last_nc = nc;
            return true;
        }
        while self.nonces.len() >= self.config.max_nonces.max(1) {
            let Some(old) = self.nonce_order.pop_front() else {
                break;
            };
            if let Some(u) = self.nonces.remove(&old) {
                // Its count is forgotten: nonces issued up to it are stale
                // from now on unless their count is known.
                self.forgotten_up_to =
                    Some(self.forgotten_up_to.map_or(u.serial, |f| f.max(u.serial)));
            }
        }
        self.nonces.insert(
            nonce.to_string(),
            NonceUse {
                last_nc: nc,
                serial,
                expires,
            },
        );
        self.nonce_order.push_back(nonce.to_string());
        true
    }

    /// Drops the counts of expired nonces (they would be stale anyway).
    fn expire_nonces(&mut self, now: u64) {
        while let Some(front) = self.nonce_order.front() {
            match self.nonces.get(front) {
                Some(u) if u.expires >= now => break,
                _ => {
                    if let Some(old) = self.nonce_order.pop_front() {
                        self.nonces.remove(&old);
                    }
                }
            }
        }
    }

    /// Checks the credentials of `request`, which came from `source`, at
    /// wall-clock time `now`.
    pub fn verify(&mut self, now: SystemTime, source: IpAddr, request: &Message) -> Verdict {
        if matches!(request.method(), Method::Ack | Method::Cancel) {
            return Verdict::Exempt;
        }
        if self.is_locked_out(now, source) {
            su_log!(IPTSEC, 5, "iptsec: {} is locked out: 403", source);
            return Verdict::Forbidden {
                why: Refusal::LockedOut,
            };
        }
        let realm = self.realm_for(request);
        let header = self.config.kind.credentials_header();
        let mut found = None;
        for line in request.header_lines(header) {
            match Credentials::parse(line) {
                Ok(c) if c.is_digest() && c.realm().is_some_and(|r| unquoted_eq(r, &realm)) => {
                    found = Some(c);
                    break;
                }
                Ok(_) => {}
                Err(e) => {
                    return self.bad_request(format!("Bad {} header: {e}", header.as_str()));
                }
            }
        }
        let Some(cred) = found else {
            return self.challenge_for(now, &realm, false, Refusal::NoCredentials);
        };
        self.verify_credentials(now, source, request, &realm, &cred)
    }

    fn verify_credentials(
        &mut self,
        now: SystemTime,
        source: IpAddr,
        request: &Message,
        realm: &str,
        cred: &Credentials<'_>,
    ) -> Verdict {
        let hname = self.config.kind.credentials_header().as_str();
        let required = (|| {
            Ok::<_, &str>((
                cred.username().ok_or("username")?,
                cred.nonce().ok_or("nonce")?,
                cred.uri().ok_or("uri")?,
                cred.response().ok_or("response")?,
            ))
        })();
        let (username, nonce, uri, resp) = match required {
            Ok(fields) => fields,
            Err(name) => return self.bad_request(format!("Bad {hname} header: no {name}")),
        };
        let username = sofia_msg::bnf::unquote(username);
        let alg = match cred.algorithm() {
            None => Algorithm::Md5,
            Some(a) => match Algorithm::from_name(a) {
                Some(a) => a,
                None => {
                    return self.challenge_for(now, realm, false, Refusal::UnsupportedAlgorithm);
                }
            },
        };
        if !self.config.algorithms.contains(&alg) {
            return self.challenge_for(now, realm, false, Refusal::UnsupportedAlgorithm);
        }
        if !uri_matches(uri, request) {
            self.count_failure(now, source);
            return self.bad_request(format!(
                "Bad {hname} header: uri does not match the Request-URI"
            ));
        }
        let qop = match cred.qop() {
            None => {
                if !self.config.qop.is_empty() && !self.config.allow_no_qop {
                    return self.bad_request(format!("Bad {hname} header: no qop"));
                }
                None
            }
            Some(q) => match Qop::from_name(q) {
                Some(q) if self.config.qop.contains(&q) => Some(q),
                _ => return self.bad_request(format!("Bad {hname} header: qop not offered")),
            },
        };
        let (cnonce, nc_str, nc) = match qop {
            Some(_) => {
                let Some(cnonce) = cred.cnonce() else {
                    return self.bad_request(format!("Bad {hname} header: no cnonce"));
                };
                let (Some(nc_str), Some(nc)) = (cred.nc_str(), cred.nc()) else {
                    return self.bad_request(format!("Bad {hname} header: no valid nc"));
                };
                (cnonce, nc_str, nc)
            }
            None => {
                if alg.is_sess() && cred.cnonce().is_none() {
                    return self.bad_request(format!("Bad {hname} header: no cnonce"));
                }
                (cred.cnonce().unwrap_or(""), "", 0)
            }
        };
        if self
            .config
            .opaque
            .as_deref()
            .is_some_and(|o| cred.opaque() != Some(o))
        {
            return self.fail(now, source, realm, Refusal::WrongOpaque);
        }
        let now_s = secs(now);
        let check = self.key.check(
            nonce,
            realm,
            now_s,
            self.config.nonce_ttl.as_secs(),
            self.config.clock_skew.as_secs(),
        );
        let (issued, serial, mut stale) = match check {
            NonceCheck::Invalid => return self.fail(now, source, realm, Refusal::InvalidNonce),
            NonceCheck::Fresh { issued, serial } => (issued, serial, false),
            NonceCheck::Stale { issued, serial } => (issued, serial, true),
        };
        let Some(secret) = self.store.lookup(&username, realm) else {
            return self.fail(now, source, realm, Refusal::UnknownUser);
        };
        let family = alg.family();
        let base_ha1 = match secret {
            Secret::Password(p) => digest::ha1(family, &username, realm, &p),
            Secret::Ha1(list) => match list.into_iter().find(|(f, _)| *f == family) {
                Some((_, h)) => h.to_ascii_lowercase(),
                None => return self.fail(now, source, realm, Refusal::UnknownUser),
            },
        };
        let body = request.body_bytes();
        let expected = digest::response(
            &base_ha1,
            &DigestParams {
                algorithm: alg,
                nonce,
                cnonce,
                nc: nc_str,
                qop,
                method: request.method_str(),
                uri,
                body,
            },
        );
        let given = resp.to_ascii_lowercase();
        if given.len() != family.hex_len()
            || !bool::from(expected.as_bytes().ct_eq(given.as_bytes()))
        {
            return self.fail(now, source, realm, Refusal::WrongResponse);
        }
        if !stale
            && qop.is_some()
            && self.forgotten_up_to.is_some_and(|f| serial <= f)
            && !self.nonces.contains_key(nonce)
        {
            // Its count may have been forgotten under memory pressure.
            stale = true;
        }
        if stale {
            return self.challenge_for(now, realm, true, Refusal::StaleNonce);
        }
        if qop.is_some() {
            self.expire_nonces(now_s);
            if !self.record_nc(nonce, nc, issued, serial) {
                return self.fail(now, source, realm, Refusal::Replay);
            }
        }
        su_log!(
            IPTSEC,
            5,
            "iptsec: authorized \"{}\" realm=\"{}\" algorithm={} from {}",
            username,
            realm,
            alg.name(),
            source
        );
        Verdict::Authorized {
            username: username.into_owned(),
            realm: realm.to_string(),
            algorithm: alg,
        }
    }
}

/// Compares an auth-param's inner value (escapes kept) with a plain string.
fn unquoted_eq(inner: &str, plain: &str) -> bool {
    if inner.contains('\\') {
        sofia_msg::bnf::unquote(inner) == plain
    } else {
        inner == plain
    }
}

/// True when the digest-uri is the Request-URI: the same text, or an
/// equivalent URI (RFC 3261 §19.1.4).
fn uri_matches(uri: &str, request: &Message) -> bool {
    let Some(ruri) = request.request_uri_str() else {
        return false;
    };
    if uri == ruri {
        return true;
    }
    match (Uri::parse(uri), Uri::parse(ruri)) {
        (Ok(a), Ok(b)) => a.equivalent(&b),
        _ => false,
    }
}
