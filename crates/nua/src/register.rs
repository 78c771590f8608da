//! The REGISTER client (RFC 3261 §10.2) as a sans-IO state machine.
//!
//! [`RegistrationState`] keeps one registration of one contact: the Call-ID
//! and From tag that stay the same for every REGISTER, the CSeq that counts
//! up, the digest client that answers challenges, the granted expiry and
//! the time of the next refresh. It reads no clock and sends nothing: the
//! caller passes `now`, builds the REGISTER with
//! [`RegistrationState::build_request`] whenever an [`Action`] says
//! `send`, feeds back every response with
//! [`RegistrationState::handle_response`], and calls
//! [`RegistrationState::handle_timeout`] at
//! [`RegistrationState::poll_timeout`].
//!
//! # Refresh rule
//!
//! A binding granted for `d` seconds is refreshed at the middle of the
//! window sofia-sip's nua draws its random refresh time from
//! (`nua_dialog_usage_set_refresh`):
//!
//! - `90 < d < 300`: `d - 45` seconds after the 2xx (sofia-sip: 30 to 60
//!   seconds before expiry);
//! - otherwise: `d / 2` after the 2xx (sofia-sip: between `d/4` and
//!   `3d/4`), and never sooner than 500 ms.
//!
//! See [`refresh_delay`].
//!
//! # Responses
//!
//! - 401/407: answered once per challenge with the credentials of the
//!   [`AuthClient`]; when the server challenges again after our answer, or
//!   no credentials fit the realm, the challenge is reported as the final
//!   result.
//! - 423 Interval Too Brief: sent again with the `Min-Expires` value, once
//!   per raise.
//! - 2xx: the granted expiry is the `expires` parameter of the Contact that
//!   matches ours, else the `Expires` header, else what was asked. When the
//!   top Via's `received` differs from our contact's host (a NAT between
//!   us and the registrar), the contact is rewritten to that address and
//!   the `rport` port (else ours) and registered again, the old contact removed in the same
//!   REGISTER (`expires=0`). A contact set by the user is never rewritten.
//! - Any other final response, or a transaction timeout: reported; the
//!   registration stops refreshing.

use std::time::{Duration, Instant};

use sofia_iptsec::AuthClient;
use sofia_msg::headers::Contact;
use sofia_msg::{HeaderName, Message, Method, RequestBuilder, Uri};
use sofia_su::su_log;

use crate::Error;

/// Challenges answered in a row before the challenge is reported as final.
const MAX_AUTH_ROUNDS: u32 = 3;

/// When a binding granted for `expires` seconds is refreshed, counted from
/// the 2xx that granted it (see the [module documentation](self)).
///
/// ```
/// use std::time::Duration;
/// use sofia_nua::refresh_delay;
/// assert_eq!(refresh_delay(3600), Duration::from_secs(1800));
/// assert_eq!(refresh_delay(120), Duration::from_secs(75));
/// assert_eq!(refresh_delay(2), Duration::from_secs(1));
/// assert_eq!(refresh_delay(0), Duration::from_millis(500));
/// ```
pub fn refresh_delay(expires: u32) -> Duration {
    if expires > 90 && expires < 300 {
        Duration::from_secs(u64::from(expires - 45))
    } else {
        Duration::from_millis(u64::from(expires) * 500).max(Duration::from_millis(500))
    }
}

/// Where a registration stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Nothing registered, nothing sent.
    Idle,
    /// A REGISTER is on its way (first registration or refresh).
    Registering,
    /// Registered; a refresh is scheduled.
    Registered,
    /// An unregistering REGISTER is on its way.
    Unregistering,
    /// The last REGISTER failed; no refresh is scheduled.
    Failed,
}

/// A final result to report to the application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The status code (408 for a transaction timeout).
    pub status: u16,
    /// The reason phrase.
    pub phrase: String,
    /// True when it answers an unregistration (`r_unregister`), false for a
    /// registration or refresh (`r_register`).
    pub unregister: bool,
}

/// What the caller does after an input.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Action {
    /// A final result to report.
    pub report: Option<Report>,
    /// A REGISTER is to be sent: build it with
    /// [`RegistrationState::build_request`].
    pub send: bool,
}

impl Action {
    fn send() -> Action {
        Action {
            report: None,
            send: true,
        }
    }

    fn report(status: u16, phrase: &str, unregister: bool) -> Action {
        Action {
            report: Some(Report {
                status,
                phrase: phrase.to_string(),
                unregister,
            }),
            send: false,
        }
    }
}

/// What the next REGISTER does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Request {
    Register,
    Unregister { all: bool },
}

/// The fixed parts of a registration.
#[derive(Debug, Clone)]
pub struct RegistrationParams {
    /// The address of record (From and To), e.g. `sip:alice@example.com`.
    pub aor: String,
    /// The Request-URI, e.g. `sip:example.com`.
    pub registrar: String,
    /// Our contact URI, e.g. `sip:alice@192.0.2.1:5060`.
    pub contact: String,
    /// True when the contact was set by the user (it is then never rewritten
    /// from `received`/`rport`).
    pub contact_fixed: bool,
    /// The Call-ID of every REGISTER of this registration.
    pub call_id: String,
    /// The From tag.
    pub from_tag: String,
    /// The User-Agent header value, if any.
    pub user_agent: Option<String>,
}

/// One registration's state (see the [module documentation](self)).
#[derive(Debug)]
pub struct RegistrationState {
    params: RegistrationParams,
    auth: AuthClient,
    cseq: u32,
    phase: Phase,
    /// What the next built request is; `Some` from a send action until its
    /// final response.
    pending: Option<Request>,
    /// The CSeq of the request on its way.
    sent_cseq: Option<u32>,
    requested: u32,
    granted: Option<u32>,
    refresh_at: Option<Instant>,
    auth_rounds: u32,
    /// A contact replaced after a NAT was detected, removed with the next
    /// REGISTER.
    stale_contact: Option<String>,
}

impl RegistrationState {
    /// A registration that has not sent anything; `auth` answers challenges.
    pub fn new(params: RegistrationParams, auth: AuthClient) -> RegistrationState {
        RegistrationState {
            params,
            auth,
            cseq: 0,
            phase: Phase::Idle,
            pending: None,
            sent_cseq: None,
            requested: 3600,
            granted: None,
            refresh_at: None,
            auth_rounds: 0,
            stale_contact: None,
        }
    }

    /// Where it stands.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// The current contact URI (rewritten after a NAT was detected).
    pub fn contact(&self) -> &str {
        &self.params.contact
    }

    /// The Request-URI of the REGISTERs.
    pub fn registrar(&self) -> &str {
        &self.params.registrar
    }

    /// The expiry the registrar granted last, in seconds.
    pub fn granted(&self) -> Option<u32> {
        self.granted
    }

    /// The expiry asked for, in seconds.
    pub fn requested(&self) -> u32 {
        self.requested
    }

    fn set_phase(&mut self, phase: Phase) {
        if self.phase != phase {
            su_log!(
                NUA,
                5,
                "nua: registration {} {:?} -> {:?}",
                self.params.aor,
                self.phase,
                phase
            );
            self.phase = phase;
        }
    }

    /// Starts (or restarts) registering for `expires` seconds.
    pub fn register(&mut self, _now: Instant, expires: u32) -> Action {
        self.requested = expires;
        self.pending = Some(Request::Register);
        // A response to a REGISTER sent before is no longer the answer.
        self.sent_cseq = None;
        self.auth_rounds = 0;
        self.refresh_at = None;
        self.set_phase(Phase::Registering);
        Action::send()
    }

    /// Removes our contact (`all == false`, `Contact: <ours>;expires=0`) or
    /// every contact of the address of record (`all == true`, `Contact: *`),
    /// both with `Expires: 0`.
    pub fn unregister(&mut self, _now: Instant, all: bool) -> Action {
        self.pending = Some(Request::Unregister { all });
        self.sent_cseq = None;
        self.auth_rounds = 0;
        self.refresh_at = None;
        self.set_phase(Phase::Unregistering);
        Action::send()
    }

    /// Builds the next REGISTER with this Via (a fresh branch each time):
    /// the next CSeq, Contact and expiry per the request pending, and the
    /// credentials for every realm challenged so far.
    pub fn build_request(&mut self, via: &str) -> Result<Message, Error> {
        let request = self.pending.unwrap_or(Request::Register);
        self.cseq += 1;
        self.sent_cseq = Some(self.cseq);
        let p = &self.params;
        let mut b = RequestBuilder::new(Method::Register, &p.registrar)
            .header(HeaderName::Via, via)
            .header(HeaderName::MaxForwards, "70")
            .header(HeaderName::From, &format!("<{}>;tag={}", p.aor, p.from_tag))
            .header(HeaderName::To, &format!("<{}>", p.aor))
            .header(HeaderName::CallId, &p.call_id)
            .header(HeaderName::CSeq, &format!("{} REGISTER", self.cseq));
        match request {
            Request::Register => {
                b = b.header(
                    HeaderName::Contact,
                    &format!("<{}>;expires={}", p.contact, self.requested),
                );
                if let Some(old) = &self.stale_contact {
                    b = b.header(HeaderName::Contact, &format!("<{old}>;expires=0"));
                }
            }
            Request::Unregister { all: false } => {
                b = b
                    .header(HeaderName::Contact, &format!("<{}>;expires=0", p.contact))
                    .header(HeaderName::Expires, "0");
            }
            Request::Unregister { all: true } => {
                b = b
                    .header(HeaderName::Contact, "*")
                    .header(HeaderName::Expires, "0");
            }
        }
        if let Some(ua) = &p.user_agent {
            b = b.header(HeaderName::UserAgent, ua);
        }
        for (name, value) in self.auth.authorize("REGISTER", &p.registrar, b"") {
            b = b.header(name, &value);
        }
        Ok(b.build()?)
    }

    /// Takes a response to a REGISTER of ours. Responses to older requests
    /// (another CSeq) and provisional ones change nothing.
    pub fn handle_response(&mut self, now: Instant, response: &Message) -> Action {
        let Some(status) = response.status() else {
            return Action::default();
        };
        let Some(request) = self.pending else {
            return Action::default();
        };
        let current = response
            .cseq()
            .is_some_and(|(n, m)| m == Method::Register && Some(n) == self.sent_cseq);
        if !current || status < 200 {
            return Action::default();
        }
        let unregister = matches!(request, Request::Unregister { .. });
        let phrase = response.reason().unwrap_or("").to_string();
        if status == 401 || status == 407 {
            return match self.auth.handle_response(response) {
                Ok(true) if self.auth_rounds < MAX_AUTH_ROUNDS => {
                    self.auth_rounds += 1;
                    su_log!(
                        NUA,
                        5,
                        "nua: REGISTER {} challenged ({status}), answering",
                        self.params.aor
                    );
                    Action::send()
                }
                Ok(_) => self.fail(status, &phrase, unregister),
                Err(e) => {
                    su_log!(
                        NUA,
                        3,
                        "nua: REGISTER {} not authenticated: {e}",
                        self.params.aor
                    );
                    self.fail(status, &phrase, unregister)
                }
            };
        }
        self.auth_rounds = 0;
        // A non-challenge may carry a nextnonce; nothing else to do with it.
        let _ = self.auth.handle_response(response);
        if status == 423 && !unregister {
            let min = response
                .header(HeaderName::MinExpires)
                .and_then(|v| v.trim().parse::<u32>().ok());
            return match min {
                Some(min) if min > self.requested => {
                    su_log!(
                        NUA,
                        5,
                        "nua: REGISTER {} interval too brief, retrying with {min} s",
                        self.params.aor
                    );
                    self.requested = min;
                    Action::send()
                }
                _ => self.fail(status, &phrase, unregister),
            };
        }
        if !(200..300).contains(&status) {
            return self.fail(status, &phrase, unregister);
        }
        self.pending = None;
        self.sent_cseq = None;
        if unregister {
            self.granted = None;
            self.refresh_at = None;
            self.set_phase(Phase::Idle);
            return Action::report(status, &phrase, true);
        }
        self.stale_contact = None;
        let granted = self.granted_expiry(response);
        self.granted = Some(granted);
        if granted == 0 {
            self.refresh_at = None;
            self.set_phase(Phase::Idle);
            return Action::report(status, &phrase, false);
        }
        let delay = refresh_delay(granted);
        self.refresh_at = Some(now + delay);
        self.set_phase(Phase::Registered);
        su_log!(
            NUA,
            5,
            "nua: {} registered for {granted} s, refresh in {:?}",
            self.params.aor,
            delay
        );
        let mut action = Action::report(status, &phrase, false);
        if let Some(contact) = self.nat_contact(response) {
            su_log!(
                NUA,
                5,
                "nua: {} seen from another address, contact {} -> {contact}",
                self.params.aor,
                self.params.contact
            );
            self.stale_contact = Some(std::mem::replace(&mut self.params.contact, contact));
            self.pending = Some(Request::Register);
            self.refresh_at = None;
            self.set_phase(Phase::Registering);
            action.send = true;
        }
        action
    }

    /// The transaction of the REGISTER with CSeq `cseq` ended without a
    /// final response (a timeout, or it could not be sent; `None` when the
    /// request was never built): reported with `status` and `phrase`. A
    /// failure of an older REGISTER than the last one built changes nothing.
    pub fn transaction_failed(
        &mut self,
        _now: Instant,
        cseq: Option<u32>,
        status: u16,
        phrase: &str,
    ) -> Action {
        let unregister = matches!(self.pending, Some(Request::Unregister { .. }));
        if self.pending.is_none() || (cseq.is_some() && cseq != self.sent_cseq) {
            return Action::default();
        }
        self.fail(status, phrase, unregister)
    }

    fn fail(&mut self, status: u16, phrase: &str, unregister: bool) -> Action {
        self.pending = None;
        self.sent_cseq = None;
        self.refresh_at = None;
        self.auth_rounds = 0;
        self.set_phase(if unregister {
            Phase::Idle
        } else {
            Phase::Failed
        });
        Action::report(status, phrase, unregister)
    }

    /// When [`RegistrationState::handle_timeout`] is due next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.refresh_at
    }

    /// Refreshes the registration when its time has come.
    pub fn handle_timeout(&mut self, now: Instant) -> Action {
        match self.refresh_at {
            Some(at) if at <= now => {
                self.refresh_at = None;
                self.pending = Some(Request::Register);
                self.auth_rounds = 0;
                self.set_phase(Phase::Registering);
                su_log!(NUA, 5, "nua: refreshing {}", self.params.aor);
                Action::send()
            }
            _ => Action::default(),
        }
    }

    /// The expiry a 2xx grants our contact.
    fn granted_expiry(&self, response: &Message) -> u32 {
        let ours = Uri::parse(&self.params.contact).ok();
        let from_contact = response.typed_all::<Contact>().find_map(|c| match c {
            Ok(Contact::Addr(a)) => {
                let same = match &ours {
                    Some(u) => u.equivalent(a.uri()),
                    None => a.uri().as_str() == self.params.contact,
                };
                if same { a.expires() } else { None }
            }
            _ => None,
        });
        from_contact
            .or_else(|| {
                response
                    .header(HeaderName::Expires)
                    .and_then(|v| v.trim().parse::<u32>().ok())
            })
            .unwrap_or(self.requested)
    }

    /// Our contact as the registrar sees us, when that differs from it
    /// (RFC 3581 `received` and `rport` in the top Via).
    fn nat_contact(&self, response: &Message) -> Option<String> {
        if self.params.contact_fixed {
            return None;
        }
        let via = response.top_via()?;
        // As sofia-sip's outbound_nat_detect(): only a `received` other than
        // our own host shows a NAT. An `rport` alone is no new address: over
        // TCP and TLS it is the connection's source port, which takes no
        // new requests.
        let received = via.received()?;
        let rport = via.rport().flatten();
        let uri = Uri::parse(&self.params.contact).ok()?;
        let host = uri.host();
        let port = uri.port().unwrap_or(5060);
        let new_host = if received.contains(':') && !received.starts_with('[') {
            format!("[{received}]")
        } else {
            received.to_string()
        };
        if new_host.eq_ignore_ascii_case(host) {
            return None;
        }
        let new_port = rport.unwrap_or(port);
        let user = uri.user().map(|u| format!("{u}@")).unwrap_or_default();
        let params = uri.params();
        let params = if params.as_str().is_empty() {
            String::new()
        } else {
            format!(";{}", params.as_str())
        };
        Some(format!(
            "{}:{user}{new_host}:{new_port}{params}",
            uri.scheme_str()
        ))
    }
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};
    use std::time::SystemTime;

    use sofia_iptsec::{AuthModule, Config as AuthConfig, MemoryStore, Verdict};
    use sofia_msg::ResponseBuilder;

    use super::*;

    const VIA: &str = "SIP/2.0/UDP 192.0.2.1:5060;rport;branch=z9hG4bKtest";

    fn state(contact_fixed: bool, password: Option<&str>) -> RegistrationState {
        let mut auth = AuthClient::with_ids(sofia_su::IdGenerator::with_seed(3));
        if let Some(p) = password {
            auth.add_credentials(None, "alice", p);
        }
        RegistrationState::new(
            RegistrationParams {
                aor: "sip:alice@example.com".into(),
                registrar: "sip:example.com".into(),
                contact: "sip:alice@192.0.2.1:5060".into(),
                contact_fixed,
                call_id: "reg-1@192.0.2.1".into(),
                from_tag: "ft1".into(),
                user_agent: Some("test".into()),
            },
            auth,
        )
    }

    /// A response to `req` with its Via replaced by `via` when given.
    fn reply(
        req: &Message,
        status: u16,
        reason: &str,
        via: Option<&str>,
        extra: &[(HeaderName, &str)],
    ) -> Message {
        let mut b = match via {
            Some(v) => {
                let mut b = ResponseBuilder::new(status, reason).header(HeaderName::Via, v);
                for name in [HeaderName::From, HeaderName::To, HeaderName::CSeq] {
                    b = b.header(name, req.header(name).unwrap_or(""));
                }
                b.header(HeaderName::CallId, req.call_id().unwrap_or(""))
            }
            None => ResponseBuilder::reply_to(req, status, reason, Some("tt")),
        };
        for (name, value) in extra {
            b = b.header(*name, value);
        }
        b.build().unwrap()
    }

    fn contacts(req: &Message) -> Vec<String> {
        req.header_lines(HeaderName::Contact)
            .map(|c| c.to_string())
            .collect()
    }

    #[test]
    fn registers_and_refreshes_at_the_rule() {
        let now = Instant::now();
        let mut s = state(false, None);
        assert_eq!(s.register(now, 3600), Action::send());
        assert_eq!(s.phase(), Phase::Registering);
        let req = s.build_request(VIA).unwrap();
        assert_eq!(req.method(), Method::Register);
        assert_eq!(req.request_uri_str(), Some("sip:example.com"));
        assert_eq!(req.cseq(), Some((1, Method::Register)));
        assert_eq!(
            contacts(&req),
            vec!["<sip:alice@192.0.2.1:5060>;expires=3600"]
        );
        assert!(req.header(HeaderName::Authorization).is_none());
        // A provisional response changes nothing.
        assert_eq!(
            s.handle_response(now, &reply(&req, 100, "Trying", None, &[])),
            Action::default()
        );
        // The registrar grants 120 s to our contact (another contact of the
        // AOR is listed first with a different expiry).
        let ok = reply(
            &req,
            200,
            "OK",
            None,
            &[
                (HeaderName::Contact, "<sip:alice@198.51.100.7>;expires=999"),
                (
                    HeaderName::Contact,
                    "<sip:alice@192.0.2.1:5060>;expires=120",
                ),
            ],
        );
        let a = s.handle_response(now, &ok);
        assert_eq!(a.report.unwrap().status, 200);
        assert!(!a.send);
        assert_eq!(s.granted(), Some(120));
        assert_eq!(s.phase(), Phase::Registered);
        assert_eq!(s.poll_timeout(), Some(now + Duration::from_secs(75)));
        assert_eq!(
            s.handle_timeout(now + Duration::from_secs(74)),
            Action::default()
        );
        assert_eq!(
            s.handle_timeout(now + Duration::from_secs(75)),
            Action::send()
        );
        let again = s.build_request(VIA).unwrap();
        assert_eq!(again.cseq(), Some((2, Method::Register)));
        assert_eq!(again.call_id(), req.call_id());
        assert_eq!(again.from_tag(), Some("ft1"));
        // The same response again (the old CSeq) is ignored.
        assert_eq!(s.handle_response(now, &ok), Action::default());
    }

    #[test]
    fn refresh_rule() {
        assert_eq!(refresh_delay(3600), Duration::from_secs(1800));
        assert_eq!(refresh_delay(300), Duration::from_secs(150));
        assert_eq!(refresh_delay(299), Duration::from_secs(254));
        assert_eq!(refresh_delay(91), Duration::from_secs(46));
        assert_eq!(refresh_delay(90), Duration::from_secs(45));
        assert_eq!(refresh_delay(2), Duration::from_secs(1));
        assert_eq!(refresh_delay(1), Duration::from_millis(500));
    }

    #[test]
    fn expiry_from_expires_header_without_our_contact() {
        let now = Instant::now();
        let mut s = state(false, None);
        s.register(now, 3600);
        let req = s.build_request(VIA).unwrap();
        let a = s.handle_response(
            now,
            &reply(&req, 200, "OK", None, &[(HeaderName::Expires, "600")]),
        );
        assert_eq!(a.report.unwrap().status, 200);
        assert_eq!(s.granted(), Some(600));
        assert_eq!(s.poll_timeout(), Some(now + Duration::from_secs(300)));
    }

    #[test]
    fn interval_too_brief_retries_with_min_expires() {
        let now = Instant::now();
        let mut s = state(false, None);
        s.register(now, 30);
        let req = s.build_request(VIA).unwrap();
        let a = s.handle_response(
            now,
            &reply(
                &req,
                423,
                "Interval Too Brief",
                None,
                &[(HeaderName::MinExpires, "60")],
            ),
        );
        assert_eq!(a, Action::send());
        assert_eq!(s.requested(), 60);
        let req = s.build_request(VIA).unwrap();
        assert_eq!(
            contacts(&req),
            vec!["<sip:alice@192.0.2.1:5060>;expires=60"]
        );
        // A second 423 that asks for no more is a failure.
        let a = s.handle_response(
            now,
            &reply(
                &req,
                423,
                "Interval Too Brief",
                None,
                &[(HeaderName::MinExpires, "60")],
            ),
        );
        let r = a.report.unwrap();
        assert_eq!((r.status, r.unregister, a.send), (423, false, false));
        assert_eq!(s.phase(), Phase::Failed);
        assert_eq!(s.poll_timeout(), None);
    }

    fn registrar() -> AuthModule<MemoryStore> {
        let mut store = MemoryStore::new();
        store.add_password("alice", None, "secret");
        AuthModule::new(AuthConfig::default(), store)
    }

    #[test]
    fn answers_a_challenge_once() {
        let now = Instant::now();
        let wall = SystemTime::now();
        let src = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let mut server = registrar();
        let mut s = state(false, Some("secret"));
        s.register(now, 3600);
        let req = s.build_request(VIA).unwrap();
        let challenge = server
            .verify(wall, src, &req)
            .response(&req, Some("t"))
            .unwrap()
            .unwrap();
        assert_eq!(challenge.status(), Some(401));
        assert_eq!(s.handle_response(now, &challenge), Action::send());
        let req = s.build_request(VIA).unwrap();
        assert!(req.header(HeaderName::Authorization).is_some());
        assert!(matches!(
            server.verify(wall, src, &req),
            Verdict::Authorized { .. }
        ));
        let a = s.handle_response(now, &reply(&req, 200, "OK", None, &[]));
        assert_eq!(a.report.unwrap().status, 200);
        // The refresh carries credentials for the known nonce at once.
        s.handle_timeout(now + Duration::from_secs(1800));
        let refresh = s.build_request(VIA).unwrap();
        assert!(refresh.header(HeaderName::Authorization).is_some());
    }

    #[test]
    fn wrong_password_is_reported() {
        let now = Instant::now();
        let wall = SystemTime::now();
        let src = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let mut server = registrar();
        let mut s = state(false, Some("wrong"));
        s.register(now, 3600);
        let req = s.build_request(VIA).unwrap();
        let challenge = server
            .verify(wall, src, &req)
            .response(&req, Some("t"))
            .unwrap()
            .unwrap();
        assert_eq!(s.handle_response(now, &challenge), Action::send());
        let req = s.build_request(VIA).unwrap();
        let again = server
            .verify(wall, src, &req)
            .response(&req, Some("t"))
            .unwrap()
            .unwrap();
        assert!(matches!(again.status(), Some(401 | 403)));
        let a = s.handle_response(now, &again);
        assert!(!a.send);
        assert_eq!(a.report.unwrap().status, again.status().unwrap());
        assert_eq!(s.phase(), Phase::Failed);
    }

    #[test]
    fn missing_credentials_are_reported() {
        let now = Instant::now();
        let mut server = registrar();
        let mut s = state(false, None);
        s.register(now, 3600);
        let req = s.build_request(VIA).unwrap();
        let challenge = server
            .verify(SystemTime::now(), IpAddr::V4(Ipv4Addr::LOCALHOST), &req)
            .response(&req, Some("t"))
            .unwrap()
            .unwrap();
        let a = s.handle_response(now, &challenge);
        assert!(!a.send);
        assert_eq!(a.report.unwrap().status, 401);
    }

    #[test]
    fn nat_rewrites_the_contact_and_registers_again() {
        let now = Instant::now();
        let mut s = state(false, None);
        s.register(now, 3600);
        let req = s.build_request(VIA).unwrap();
        let seen = "SIP/2.0/UDP 192.0.2.1:5060;rport=40000;received=203.0.113.5;branch=z9hG4bKtest";
        let a = s.handle_response(
            now,
            &reply(
                &req,
                200,
                "OK",
                Some(seen),
                &[(
                    HeaderName::Contact,
                    "<sip:alice@192.0.2.1:5060>;expires=3600",
                )],
            ),
        );
        assert_eq!(a.report.unwrap().status, 200);
        assert!(a.send);
        assert_eq!(s.contact(), "sip:alice@203.0.113.5:40000");
        let req = s.build_request(VIA).unwrap();
        assert_eq!(
            contacts(&req),
            vec![
                "<sip:alice@203.0.113.5:40000>;expires=3600",
                "<sip:alice@192.0.2.1:5060>;expires=0"
            ]
        );
        // Seen at the new contact: registered, nothing more to send.
        let a = s.handle_response(
            now,
            &reply(
                &req,
                200,
                "OK",
                Some(seen),
                &[(
                    HeaderName::Contact,
                    "<sip:alice@203.0.113.5:40000>;expires=3600",
                )],
            ),
        );
        assert!(!a.send);
        assert_eq!(s.phase(), Phase::Registered);
        s.handle_timeout(now + Duration::from_secs(1800));
        let refresh = s.build_request(VIA).unwrap();
        assert_eq!(
            contacts(&refresh),
            vec!["<sip:alice@203.0.113.5:40000>;expires=3600"]
        );
    }

    #[test]
    fn an_rport_alone_is_no_nat() {
        // Kamailio over TCP: `received` is our own host, `rport` the port
        // our connection came from.
        let now = Instant::now();
        let mut s = state(false, None);
        s.register(now, 3600);
        let req = s.build_request(VIA).unwrap();
        let seen = "SIP/2.0/TCP 192.0.2.1:5060;rport=46050;branch=z9hG4bKtest;received=192.0.2.1";
        let a = s.handle_response(
            now,
            &reply(
                &req,
                200,
                "OK",
                Some(seen),
                &[(
                    HeaderName::Contact,
                    "<sip:alice@192.0.2.1:5060>;expires=3600",
                )],
            ),
        );
        assert_eq!(a.report.unwrap().status, 200);
        assert!(!a.send);
        assert_eq!(s.phase(), Phase::Registered);
        assert_eq!(s.contact(), "sip:alice@192.0.2.1:5060");
        // Nor is an `rport` without `received`.
        let mut s = state(false, None);
        s.register(now, 3600);
        let req = s.build_request(VIA).unwrap();
        let seen = "SIP/2.0/UDP 192.0.2.1:5060;rport=40000;branch=z9hG4bKtest";
        let a = s.handle_response(
            now,
            &reply(
                &req,
                200,
                "OK",
                Some(seen),
                &[(
                    HeaderName::Contact,
                    "<sip:alice@192.0.2.1:5060>;expires=3600",
                )],
            ),
        );
        assert!(!a.send);
        assert_eq!(s.contact(), "sip:alice@192.0.2.1:5060");
    }

    #[test]
    fn fixed_contact_is_never_rewritten() {
        let now = Instant::now();
        let mut s = state(true, None);
        s.register(now, 3600);
        let req = s.build_request(VIA).unwrap();
        let seen = "SIP/2.0/UDP 192.0.2.1:5060;rport=40000;received=203.0.113.5;branch=z9hG4bKtest";
        let a = s.handle_response(now, &reply(&req, 200, "OK", Some(seen), &[]));
        assert!(!a.send);
        assert_eq!(s.contact(), "sip:alice@192.0.2.1:5060");
    }

    #[test]
    fn unregisters_ours_or_all() {
        let now = Instant::now();
        let mut s = state(false, None);
        s.register(now, 3600);
        let req = s.build_request(VIA).unwrap();
        s.handle_response(now, &reply(&req, 200, "OK", None, &[]));
        assert_eq!(s.unregister(now, false), Action::send());
        assert_eq!(s.poll_timeout(), None);
        let req = s.build_request(VIA).unwrap();
        assert_eq!(contacts(&req), vec!["<sip:alice@192.0.2.1:5060>;expires=0"]);
        assert_eq!(req.header(HeaderName::Expires), Some("0"));
        let a = s.handle_response(now, &reply(&req, 200, "OK", None, &[]));
        let r = a.report.unwrap();
        assert!(r.unregister);
        assert_eq!(r.status, 200);
        assert_eq!(s.phase(), Phase::Idle);
        assert_eq!(s.poll_timeout(), None);

        s.unregister(now, true);
        let req = s.build_request(VIA).unwrap();
        assert_eq!(contacts(&req), vec!["*"]);
        assert_eq!(req.header(HeaderName::Expires), Some("0"));
    }

    #[test]
    fn timeout_is_reported_and_stops_refreshing() {
        let now = Instant::now();
        let mut s = state(false, None);
        s.register(now, 3600);
        let req = s.build_request(VIA).unwrap();
        // The failure of an older REGISTER is not this one's.
        assert_eq!(
            s.transaction_failed(now, Some(0), 408, "Request Timeout"),
            Action::default()
        );
        let a = s.transaction_failed(now, req.cseq().map(|c| c.0), 408, "Request Timeout");
        let r = a.report.unwrap();
        assert_eq!((r.status, r.unregister), (408, false));
        assert_eq!(s.phase(), Phase::Failed);
        assert_eq!(s.poll_timeout(), None);
        // Nothing pending: a late failure reports nothing.
        assert_eq!(s.transaction_failed(now, None, 408, "x"), Action::default());
    }

    #[test]
    fn a_new_command_ignores_the_answer_to_the_request_before() {
        let now = Instant::now();
        let mut s = state(false, None);
        s.register(now, 3600);
        let first = s.build_request(VIA).unwrap();
        // Unregistering before the first REGISTER is answered.
        assert_eq!(s.unregister(now, false), Action::send());
        assert_eq!(
            s.handle_response(now, &reply(&first, 200, "OK", None, &[])),
            Action::default()
        );
        assert_eq!(s.phase(), Phase::Unregistering);
        assert_eq!(s.poll_timeout(), None);
        let second = s.build_request(VIA).unwrap();
        let a = s.handle_response(now, &reply(&second, 200, "OK", None, &[]));
        assert!(a.report.unwrap().unregister);
        assert_eq!(s.phase(), Phase::Idle);
    }
}
