//! The client side: sofia-sip's `auth_client`. Answers 401 and 407
//! challenges with `Authorization` and `Proxy-Authorization`, keeps what it
//! learned per realm for later requests, and tells the caller when retrying
//! is pointless.

use rand::{SeedableRng, rngs::StdRng};
use sofia_msg::headers::{AuthenticationInfo, Challenge};
use sofia_msg::{HeaderName, Message};
use sofia_su::id::IdGenerator;
use sofia_su::su_log;
use thiserror::Error;

use crate::digest::{self, Algorithm, DigestParams, Qop};
use crate::server::{ChallengeKind, push_quoted};

/// Why a challenge cannot be answered.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ClientError {
    /// No credentials were given for the realm.
    #[error("no credentials for realm \"{realm}\"")]
    NoCredentials {
        /// The realm challenged.
        realm: String,
    },
    /// The server challenged again after our credentials for this nonce:
    /// wrong user name or password.
    #[error("credentials for realm \"{realm}\" were rejected")]
    Rejected {
        /// The realm.
        realm: String,
    },
    /// The server said `stale=true` again right after a retry with a fresh
    /// nonce.
    #[error("nonce for realm \"{realm}\" still stale after a retry")]
    StaleAgain {
        /// The realm.
        realm: String,
    },
    /// None of the realm's challenges uses an algorithm (or qop) this client
    /// speaks.
    #[error("no supported digest challenge for realm \"{realm}\" (offered: {offered})")]
    Unsupported {
        /// The realm.
        realm: String,
        /// The algorithms offered.
        offered: String,
    },
    /// A challenge header does not parse or lacks `realm` or `nonce`.
    #[error("bad {header} header: {reason}")]
    BadChallenge {
        /// The header.
        header: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A 401 or 407 without a Digest challenge.
    #[error("{status} response without a Digest challenge")]
    NoChallenge {
        /// The status code.
        status: u16,
    },
}

#[derive(Clone)]
struct Credential {
    realm: Option<String>,
    username: String,
    password: String,
}

/// What is known of one realm: its latest challenge and the nonce count.
#[derive(Clone)]
struct Session {
    realm: String,
    kind: ChallengeKind,
    algorithm: Algorithm,
    nonce: String,
    opaque: Option<String>,
    qop: Option<Qop>,
    nc: u32,
    username: String,
    password: String,
    /// Credentials with the current nonce were sent.
    used: bool,
    /// Stale challenges since the last response that was not a challenge.
    stale_retries: u32,
}

/// A digest client: give it credentials, feed it every final response with
/// [`handle_response`](AuthClient::handle_response), and add what
/// [`authorize`](AuthClient::authorize) returns to each request.
///
/// ```
/// use sofia_iptsec::AuthClient;
/// let mut client = AuthClient::new();
/// client.add_credentials(Some("atlanta.com"), "alice", "secret");
/// // Nothing is known before a challenge: no headers yet.
/// assert!(client.authorize("REGISTER", "sip:atlanta.com", b"").is_empty());
/// ```
pub struct AuthClient {
    credentials: Vec<Credential>,
    sessions: Vec<Session>,
    ids: IdGenerator,
    algorithms: Vec<Algorithm>,
    max_stale_retries: u32,
}

impl std::fmt::Debug for AuthClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Passwords never reach a log.
        f.debug_struct("AuthClient")
            .field("credentials", &self.credentials.len())
            .field(
                "realms",
                &self.sessions.iter().map(|s| &s.realm).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Default for AuthClient {
    fn default() -> Self {
        AuthClient::new()
    }
}

impl AuthClient {
    /// A client with every algorithm enabled and cnonces from the operating
    /// system's generator.
    pub fn new() -> AuthClient {
        AuthClient::with_ids(IdGenerator::new(StdRng::from_rng(&mut rand::rng())))
    }

    /// A client drawing cnonces from `ids`, for reproducible tests.
    pub fn with_ids(ids: IdGenerator) -> AuthClient {
        AuthClient {
            credentials: Vec::new(),
            sessions: Vec::new(),
            ids,
            algorithms: Algorithm::ALL.to_vec(),
            max_stale_retries: 1,
        }
    }

    /// Limits the algorithms this client answers with (sofia-sip's client
    /// answers MD5 only).
    pub fn set_algorithms(&mut self, algorithms: &[Algorithm]) {
        self.algorithms = algorithms.to_vec();
    }

    /// Adds credentials for `realm`, or for any realm when `None` (used when
    /// no realm-specific ones fit). Replaces earlier ones for the same realm
    /// and forgets what was learned of it.
    pub fn add_credentials(&mut self, realm: Option<&str>, username: &str, password: &str) {
        self.credentials.retain(|c| c.realm.as_deref() != realm);
        self.credentials.push(Credential {
            realm: realm.map(str::to_string),
            username: username.to_string(),
            password: password.to_string(),
        });
        match realm {
            Some(r) => self.sessions.retain(|s| s.realm != r),
            None => self.sessions.clear(),
        }
    }

    /// True when some credentials were given.
    pub fn has_credentials(&self) -> bool {
        !self.credentials.is_empty()
    }

    /// The realms challenges were answered for.
    pub fn realms(&self) -> impl Iterator<Item = &str> {
        self.sessions.iter().map(|s| s.realm.as_str())
    }

    /// Forgets every realm's nonce (credentials stay).
    pub fn clear(&mut self) {
        self.sessions.clear();
    }

    fn credential_for(&self, realm: &str) -> Option<&Credential> {
        self.credentials
            .iter()
            .find(|c| c.realm.as_deref() == Some(realm))
            .or_else(|| self.credentials.iter().find(|c| c.realm.is_none()))
    }

    /// Takes in a final response to a request of ours. For a 401 or 407:
    /// `Ok(true)` when the request is to be sent again with
    /// [`authorize`](AuthClient::authorize)'s headers, an error when that
    /// would not help. For other responses: `Ok(false)`, after taking a
    /// `nextnonce` from `Authentication-Info`.
    pub fn handle_response(&mut self, response: &Message) -> Result<bool, ClientError> {
        let Some(status) = response.status() else {
            return Ok(false);
        };
        match status {
            401 | 407 => {}
            100..=199 => return Ok(false),
            _ => {
                for s in &mut self.sessions {
                    s.stale_retries = 0;
                }
                self.take_next_nonce(response);
                return Ok(false);
            }
        }
        // Challenges grouped by kind and realm, in the order they came. A
        // forking proxy puts every branch's WWW-Authenticate and
        // Proxy-Authenticate into one 401 or 407 (RFC 3261 §16.7 step 7).
        let mut realms: Vec<(ChallengeKind, String, Vec<Challenge<'_>>)> = Vec::new();
        for kind in [ChallengeKind::Proxy, ChallengeKind::Www] {
            let header = kind.challenge_header();
            for line in response.header_lines(header) {
                let c = Challenge::parse(line).map_err(|e| ClientError::BadChallenge {
                    header: header.as_str(),
                    reason: e.to_string(),
                })?;
                if !c.is_digest() {
                    continue;
                }
                let realm = c
                    .params
                    .unescaped("realm")
                    .ok_or_else(|| ClientError::BadChallenge {
                        header: header.as_str(),
                        reason: "no realm".into(),
                    })?
                    .into_owned();
                if c.nonce().is_none() {
                    return Err(ClientError::BadChallenge {
                        header: header.as_str(),
                        reason: "no nonce".into(),
                    });
                }
                match realms
                    .iter_mut()
                    .find(|(k, r, _)| *k == kind && *r == realm)
                {
                    Some((_, _, list)) => list.push(c),
                    None => realms.push((kind, realm, vec![c])),
                }
            }
        }
        if realms.is_empty() {
            return Err(ClientError::NoChallenge { status });
        }
        for (kind, realm, challenges) in realms {
            self.take_challenge(kind, &realm, &challenges)?;
        }
        Ok(true)
    }

    fn take_challenge(
        &mut self,
        kind: ChallengeKind,
        realm: &str,
        challenges: &[Challenge<'_>],
    ) -> Result<(), ClientError> {
        // The strongest algorithm; at equal strength one with a qop.
        let mut best: Option<(Algorithm, Option<Qop>, &Challenge<'_>)> = None;
        for c in challenges {
            let Some(alg) = c
                .algorithm()
                .map_or(Some(Algorithm::Md5), Algorithm::from_name)
            else {
                continue;
            };
            if !self.algorithms.contains(&alg) {
                continue;
            }
            let qop = if c.qop().is_none() {
                None
            } else if c.offers_qop("auth") {
                Some(Qop::Auth)
            } else if c.offers_qop("auth-int") {
                Some(Qop::AuthInt)
            } else {
                continue;
            };
            let rank = (alg.strength(), qop.is_some());
            if best.is_none_or(|(a, q, _)| rank > (a.strength(), q.is_some())) {
                best = Some((alg, qop, c));
            }
        }
        let Some((algorithm, qop, chosen)) = best else {
            let offered = challenges
                .iter()
                .map(|c| c.algorithm().unwrap_or("MD5"))
                .collect::<Vec<_>>()
                .join(", ");
            return Err(ClientError::Unsupported {
                realm: realm.to_string(),
                offered,
            });
        };
        let nonce = chosen
            .params
            .unescaped("nonce")
            .unwrap_or_default()
            .into_owned();
        let opaque = chosen.params.unescaped("opaque").map(|o| o.into_owned());
        let stale = chosen.stale();
        let max_stale = self.max_stale_retries;
        if let Some(pos) = self
            .sessions
            .iter()
            .position(|s| s.realm == realm && s.kind == kind)
        {
            let s = &mut self.sessions[pos];
            if stale {
                if s.stale_retries >= max_stale {
                    return Err(ClientError::StaleAgain {
                        realm: realm.to_string(),
                    });
                }
                s.stale_retries += 1;
            } else if s.used {
                self.sessions.remove(pos);
                su_log!(IPTSEC, 5, "iptsec: credentials for \"{}\" rejected", realm);
                return Err(ClientError::Rejected {
                    realm: realm.to_string(),
                });
            }
            s.algorithm = algorithm;
            s.qop = qop;
            s.nonce = nonce;
            s.opaque = opaque;
            s.nc = 0;
            s.used = false;
            su_log!(
                IPTSEC,
                5,
                "iptsec: new nonce for \"{}\" ({}{})",
                realm,
                algorithm,
                if stale { ", stale" } else { "" }
            );
            return Ok(());
        }
        let Some(cred) = self.credential_for(realm).cloned() else {
            su_log!(IPTSEC, 5, "iptsec: no credentials for \"{}\"", realm);
            return Err(ClientError::NoCredentials {
                realm: realm.to_string(),
            });
        };
        su_log!(
            IPTSEC,
            5,
            "iptsec: challenged {} by \"{}\": answering with {} as \"{}\"",
            kind.status(),
            realm,
            algorithm,
            cred.username
        );
        self.sessions.push(Session {
            realm: realm.to_string(),
            kind,
            algorithm,
            nonce,
            opaque,
            qop,
            nc: 0,
            username: cred.username,
            password: cred.password,
            used: false,
            stale_retries: 0,
        });
        Ok(())
    }

    fn take_next_nonce(&mut self, response: &Message) {
        let Some(Ok(info)) = response
            .header(HeaderName::AuthenticationInfo)
            .map(AuthenticationInfo::parse)
        else {
            return;
        };
        let Some(next) = info.params.unescaped("nextnonce") else {
            return;
        };
        // Authentication-Info names no realm: it belongs to the one realm
        // that answered with 401.
        let mut www = self
            .sessions
            .iter_mut()
            .filter(|s| s.kind == ChallengeKind::Www);
        if let (Some(s), None) = (www.next(), www.next()) {
            s.nonce = next.into_owned();
            s.nc = 0;
            s.used = false;
        }
    }

    /// The `Authorization`/`Proxy-Authorization` headers for a request with
    /// this method, Request-URI and body, one per realm challenged so far;
    /// each call counts one more use of each nonce.
    pub fn authorize(&mut self, method: &str, uri: &str, body: &[u8]) -> Vec<(HeaderName, String)> {
        let mut out = Vec::with_capacity(self.sessions.len());
        for i in 0..self.sessions.len() {
            let needs_cnonce = {
                let s = &self.sessions[i];
                s.qop.is_some() || s.algorithm.is_sess()
            };
            let cnonce = if needs_cnonce {
                let mut c = String::with_capacity(16);
                self.ids.push_random(&mut c, 16);
                c
            } else {
                String::new()
            };
            let s = &mut self.sessions[i];
            s.nc = s.nc.wrapping_add(1).max(1);
            s.used = true;
            let nc = format!("{:08x}", s.nc);
            let base = digest::ha1(s.algorithm.family(), &s.username, &s.realm, &s.password);
            let response = digest::response(
                &base,
                &DigestParams {
                    algorithm: s.algorithm,
                    nonce: &s.nonce,
                    cnonce: &cnonce,
                    nc: &nc,
                    qop: s.qop,
                    method,
                    uri,
                    body,
                },
            );
            let mut v = String::with_capacity(256);
            v.push_str("Digest username=");
            push_quoted(&mut v, &s.username);
            v.push_str(", realm=");
            push_quoted(&mut v, &s.realm);
            v.push_str(", nonce=");
            push_quoted(&mut v, &s.nonce);
            v.push_str(", uri=");
            push_quoted(&mut v, uri);
            v.push_str(", response=\"");
            v.push_str(&response);
            v.push_str("\", algorithm=");
            v.push_str(s.algorithm.name());
            if !cnonce.is_empty() {
                v.push_str(", cnonce=\"");
                v.push_str(&cnonce);
                v.push('"');
            }
            if let Some(o) = &s.opaque {
                v.push_str(", opaque=");
                push_quoted(&mut v, o);
            }
            if let Some(q) = s.qop {
                v.push_str(", qop=");
                v.push_str(q.name());
                v.push_str(", nc=");
                v.push_str(&nc);
            }
            out.push((s.kind.credentials_header(), v));
        }
        out
    }
}
