//! The PUBLISH client (RFC 3903) as a sans-IO state machine.
//!
//! [`PublicationState`] keeps one event state published for one address of
//! record: the body and its type, the entity tag (`SIP-ETag`) the event
//! state compositor gave it, the granted expiry and the time of the next
//! refresh. Like [`RegistrationState`](crate::RegistrationState) it reads
//! no clock and sends nothing: every input returns an [`Action`]; when it
//! says `send`, the caller builds the PUBLISH with
//! [`PublicationState::build_request`] and feeds back its final response
//! with [`PublicationState::handle_response`];
//! [`PublicationState::handle_timeout`] runs at
//! [`PublicationState::poll_timeout`].
//!
//! # Rules
//!
//! - The first PUBLISH carries the body and no `SIP-If-Match`; the 2xx's
//!   `SIP-ETag` names the publication from then on.
//! - **Refresh** (by [`refresh_delay`] of the 2xx's
//!   `Expires`, else of the expiry asked for): `SIP-If-Match` with the last
//!   entity tag and no body (RFC 3903 §4.3).
//! - **Modify** (publishing again while published): `SIP-If-Match` and the
//!   new body (§4.4).
//! - **Remove** ([`PublicationState::unpublish`]): `SIP-If-Match`,
//!   `Expires: 0`, no body (§4.5).
//! - **412 Conditional Request Failed** to a refresh or modification: the
//!   entity tag is forgotten and the body published again from scratch,
//!   once per request (§4.3). To a removal: the publication was gone
//!   already; reported.
//! - **423 Interval Too Brief**: sent again with `Min-Expires` (once per
//!   raise). **401/407**: answered with the handle's digest client (three
//!   rounds at most).
//! - A 2xx without `SIP-ETag` is reported and not refreshed; any other
//!   failure, or a transaction timeout, is reported and ends the
//!   publication.
//! - A command given while a PUBLISH is on its way runs when that one is
//!   answered.

use std::time::Instant;

use bytes::Bytes;
use sofia_iptsec::AuthClient;
use sofia_msg::headers::SipETag;
use sofia_msg::{HeaderName, Message, Method, RequestBuilder};
use sofia_su::su_log;

use crate::{Error, refresh_delay};

/// Challenges answered in a row before the challenge is reported as final.
const MAX_AUTH_ROUNDS: u32 = 3;

/// Where a publication stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublishPhase {
    /// Nothing published, nothing sent.
    Idle,
    /// A PUBLISH (first, refresh or modification) is on its way.
    Publishing,
    /// Published; a refresh is scheduled.
    Published,
    /// The removing PUBLISH is on its way.
    Unpublishing,
    /// The last PUBLISH failed; nothing is refreshed.
    Failed,
}

/// The fixed parts of a publication.
#[derive(Debug, Clone)]
pub struct PublicationParams {
    /// The `Event` value, e.g. `presence`.
    pub event: String,
    /// The address of record: Request-URI, From and To.
    pub aor: String,
    /// The Call-ID of every PUBLISH of this publication.
    pub call_id: String,
    /// The From tag.
    pub from_tag: String,
    /// The User-Agent header value, if any.
    pub user_agent: Option<String>,
}

/// A final result to report to the application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishReport {
    /// The status code (408 for a transaction timeout).
    pub status: u16,
    /// The reason phrase.
    pub phrase: String,
    /// True when it answers [`PublicationState::unpublish`]
    /// (`r_unpublish`), false for a publication, refresh or modification
    /// (`r_publish`).
    pub unpublish: bool,
}

/// What the caller does after an input.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Action {
    /// A final result to report.
    pub report: Option<PublishReport>,
    /// A PUBLISH is to be sent: build it with
    /// [`PublicationState::build_request`].
    pub send: bool,
}

impl Action {
    fn send() -> Action {
        Action {
            report: None,
            send: true,
        }
    }

    fn report(status: u16, phrase: &str, unpublish: bool) -> Action {
        Action {
            report: Some(PublishReport {
                status,
                phrase: phrase.to_string(),
                unpublish,
            }),
            send: false,
        }
    }
}

/// What the next PUBLISH does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Request {
    /// The body, with `SIP-If-Match` when there is an entity tag.
    Publish,
    /// `SIP-If-Match`, no body.
    Refresh,
    /// `SIP-If-Match`, `Expires: 0`.
    Remove,
}

/// A command that waits for the PUBLISH on its way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Queued {
    Publish,
    Unpublish,
}

/// One publication's state (see the [module documentation](self)).
#[derive(Debug)]
pub struct PublicationState {
    params: PublicationParams,
    phase: PublishPhase,
    cseq: u32,
    pending: Option<Request>,
    sent_cseq: Option<u32>,
    /// The last request carried `SIP-If-Match`.
    sent_conditional: bool,
    requested: u32,
    granted: Option<u32>,
    etag: Option<String>,
    content: Option<(String, Bytes)>,
    refresh_at: Option<Instant>,
    auth_rounds: u32,
    /// A 412 was answered by publishing from scratch for this command.
    republished: bool,
    queued: Option<Queued>,
}

impl PublicationState {
    /// A publication that has not sent anything.
    pub fn new(params: PublicationParams) -> PublicationState {
        PublicationState {
            params,
            phase: PublishPhase::Idle,
            cseq: 0,
            pending: None,
            sent_cseq: None,
            sent_conditional: false,
            requested: 3600,
            granted: None,
            etag: None,
            content: None,
            refresh_at: None,
            auth_rounds: 0,
            republished: false,
            queued: None,
        }
    }

    /// Where it stands.
    pub fn phase(&self) -> PublishPhase {
        self.phase
    }

    /// The `Event` value.
    pub fn event(&self) -> &str {
        &self.params.event
    }

    /// The entity tag of the published state, once a 2xx gave one.
    pub fn etag(&self) -> Option<&str> {
        self.etag.as_deref()
    }

    /// The expiry asked for, in seconds.
    pub fn requested(&self) -> u32 {
        self.requested
    }

    /// The expiry the last 2xx granted, in seconds.
    pub fn granted(&self) -> Option<u32> {
        self.granted
    }

    /// True while something is published or being published.
    pub fn is_live(&self) -> bool {
        !matches!(self.phase, PublishPhase::Idle | PublishPhase::Failed)
    }

    fn set_phase(&mut self, phase: PublishPhase) {
        if self.phase != phase {
            su_log!(
                NUA,
                5,
                "nua: publication {} of {} {:?} -> {:?}",
                self.params.event,
                self.params.aor,
                self.phase,
                phase
            );
            self.phase = phase;
        }
    }

    fn send(&mut self, request: Request) -> Action {
        self.pending = Some(request);
        self.sent_cseq = None;
        Action::send()
    }

    /// Publishes this body for `expires` seconds: the first publication, or
    /// a modification of the published state (`SIP-If-Match`). While a
    /// PUBLISH is on its way the command waits for its answer.
    pub fn publish(
        &mut self,
        _now: Instant,
        content_type: &str,
        body: Bytes,
        expires: u32,
    ) -> Action {
        self.content = Some((content_type.to_string(), body));
        self.requested = expires;
        if self.pending.is_some() {
            self.queued = Some(Queued::Publish);
            return Action::default();
        }
        self.auth_rounds = 0;
        self.republished = false;
        self.refresh_at = None;
        self.set_phase(PublishPhase::Publishing);
        self.send(Request::Publish)
    }

    /// Removes the published state (`Expires: 0`); the answer gives
    /// `r_unpublish`. With nothing published, `r_unpublish` 400 at once.
    pub fn unpublish(&mut self, _now: Instant) -> Action {
        if self.pending.is_some() {
            self.queued = Some(Queued::Unpublish);
            return Action::default();
        }
        self.refresh_at = None;
        if self.etag.is_none() {
            self.set_phase(PublishPhase::Idle);
            return Action::report(400, "Nothing Published", true);
        }
        self.auth_rounds = 0;
        self.set_phase(PublishPhase::Unpublishing);
        self.send(Request::Remove)
    }

    /// Builds the next PUBLISH with this Via (a fresh branch each time):
    /// the next CSeq, `Event`, `Expires`, `SIP-If-Match` and body per the
    /// request pending, and `auth`'s credentials for every realm challenged
    /// so far.
    pub fn build_request(&mut self, via: &str, auth: &mut AuthClient) -> Result<Message, Error> {
        let request = self.pending.unwrap_or(Request::Publish);
        self.cseq += 1;
        let p = &self.params;
        let expires = match request {
            Request::Remove => 0,
            _ => self.requested,
        };
        let mut b = RequestBuilder::new(Method::Publish, &p.aor)
            .header(HeaderName::Via, via)
            .header(HeaderName::MaxForwards, "70")
            .header(HeaderName::From, &format!("<{}>;tag={}", p.aor, p.from_tag))
            .header(HeaderName::To, &format!("<{}>", p.aor))
            .header(HeaderName::CallId, &p.call_id)
            .header(HeaderName::CSeq, &format!("{} PUBLISH", self.cseq))
            .header(HeaderName::Event, &p.event)
            .header(HeaderName::Expires, &expires.to_string());
        let conditional = self.etag.is_some();
        if let Some(etag) = &self.etag {
            b = b.header(HeaderName::SipIfMatch, etag);
        }
        if let Some(ua) = &p.user_agent {
            b = b.header(HeaderName::UserAgent, ua);
        }
        let body: &[u8] = match (&self.content, request) {
            (Some((_, body)), Request::Publish) => body,
            _ => b"",
        };
        for (name, value) in auth.authorize("PUBLISH", &p.aor, body) {
            b = b.header(name, &value);
        }
        let msg = match (&self.content, request) {
            (Some((content_type, body)), Request::Publish) => {
                b.body(content_type, body.clone()).build()?
            }
            _ => b.build()?,
        };
        self.sent_cseq = Some(self.cseq);
        self.sent_conditional = conditional;
        Ok(msg)
    }

    /// Takes a response to a PUBLISH of ours. Responses to older requests
    /// (another CSeq) and provisional ones change nothing.
    pub fn handle_response(
        &mut self,
        now: Instant,
        response: &Message,
        auth: &mut AuthClient,
    ) -> Action {
        let Some(status) = response.status() else {
            return Action::default();
        };
        let Some(request) = self.pending else {
            return Action::default();
        };
        let current = response
            .cseq()
            .is_some_and(|(n, m)| m == Method::Publish && Some(n) == self.sent_cseq);
        if !current || status < 200 {
            return Action::default();
        }
        let unpublish = request == Request::Remove;
        let phrase = response.reason().unwrap_or("").to_string();
        if status == 401 || status == 407 {
            return match auth.handle_response(response) {
                Ok(true) if self.auth_rounds < MAX_AUTH_ROUNDS => {
                    self.auth_rounds += 1;
                    su_log!(
                        NUA,
                        5,
                        "nua: PUBLISH {} challenged ({status}), answering",
                        self.params.aor
                    );
                    self.send(request)
                }
                Ok(_) => self.fail(now, status, &phrase, unpublish),
                Err(e) => {
                    su_log!(
                        NUA,
                        3,
                        "nua: PUBLISH {} not authenticated: {e}",
                        self.params.aor
                    );
                    self.fail(now, status, &phrase, unpublish)
                }
            };
        }
        self.auth_rounds = 0;
        let _ = auth.handle_response(response);
        if status == 412 && !unpublish && self.sent_conditional && !self.republished {
            if self.content.is_some() {
                su_log!(
                    NUA,
                    5,
                    "nua: PUBLISH {} conditional request failed, publishing again",
                    self.params.aor
                );
                self.etag = None;
                self.republished = true;
                return self.send(Request::Publish);
            }
            return self.fail(now, status, &phrase, unpublish);
        }
        if status == 423 && !unpublish {
            let min = response
                .header(HeaderName::MinExpires)
                .and_then(|v| v.trim().parse::<u32>().ok());
            return match min {
                Some(min) if min > self.requested => {
                    su_log!(
                        NUA,
                        5,
                        "nua: PUBLISH {} interval too brief, retrying with {min} s",
                        self.params.aor
                    );
                    self.requested = min;
                    self.send(request)
                }
                _ => self.fail(now, status, &phrase, unpublish),
            };
        }
        if !(200..300).contains(&status) {
            return self.fail(now, status, &phrase, unpublish);
        }
        self.pending = None;
        self.sent_cseq = None;
        self.republished = false;
        if unpublish {
            self.etag = None;
            self.granted = None;
            self.refresh_at = None;
            self.set_phase(PublishPhase::Idle);
            return self.then_queued(now, Action::report(status, &phrase, true));
        }
        let granted = response
            .header(HeaderName::Expires)
            .and_then(|v| v.trim().parse::<u32>().ok())
            .unwrap_or(self.requested);
        self.granted = Some(granted);
        self.etag = match response.typed::<SipETag>() {
            Some(Ok(tag)) => Some(tag.0.0.to_string()),
            _ => {
                su_log!(
                    NUA,
                    3,
                    "nua: 2xx to PUBLISH {} without SIP-ETag; not refreshed",
                    self.params.aor
                );
                None
            }
        };
        if self.etag.is_some() && granted > 0 {
            let delay = refresh_delay(granted);
            // A delay past the clock's range is no refresh at all.
            self.refresh_at = now.checked_add(delay);
            su_log!(
                NUA,
                5,
                "nua: {} published {} for {granted} s (etag {}), refresh in {delay:?}",
                self.params.aor,
                self.params.event,
                self.etag.as_deref().unwrap_or("")
            );
            self.set_phase(PublishPhase::Published);
        } else {
            self.refresh_at = None;
            self.set_phase(PublishPhase::Idle);
        }
        self.then_queued(now, Action::report(status, &phrase, false))
    }

    /// `action`, and the queued command's request after it.
    fn then_queued(&mut self, now: Instant, mut action: Action) -> Action {
        let next = match self.queued.take() {
            Some(Queued::Publish) => match self.content.clone() {
                Some((content_type, body)) => {
                    self.publish(now, &content_type, body, self.requested)
                }
                None => Action::default(),
            },
            Some(Queued::Unpublish) => self.unpublish(now),
            None => Action::default(),
        };
        action.send = next.send;
        match (&action.report, next.report) {
            (None, r) => action.report = r,
            // A queued unpublish with nothing published: the first report
            // stands, the second is dropped with a log line.
            (Some(_), Some(r)) => su_log!(
                NUA,
                5,
                "nua: queued command on {} finished at once: {} {}",
                self.params.aor,
                r.status,
                r.phrase
            ),
            (Some(_), None) => {}
        }
        action
    }

    /// The transaction of the PUBLISH with CSeq `cseq` ended without a
    /// final response (a timeout, or it could not be sent; `None` when the
    /// request was never built): reported with `status` and `phrase`. A
    /// failure of an older PUBLISH than the last one built changes nothing.
    pub fn transaction_failed(
        &mut self,
        now: Instant,
        cseq: Option<u32>,
        status: u16,
        phrase: &str,
    ) -> Action {
        let Some(request) = self.pending else {
            return Action::default();
        };
        if cseq.is_some() && cseq != self.sent_cseq {
            return Action::default();
        }
        self.fail(now, status, phrase, request == Request::Remove)
    }

    fn fail(&mut self, now: Instant, status: u16, phrase: &str, unpublish: bool) -> Action {
        self.pending = None;
        self.sent_cseq = None;
        self.refresh_at = None;
        self.auth_rounds = 0;
        self.republished = false;
        self.etag = None;
        self.granted = None;
        self.set_phase(if unpublish {
            PublishPhase::Idle
        } else {
            PublishPhase::Failed
        });
        let action = Action::report(status, phrase, unpublish);
        match self.queued {
            // A queued unpublish has nothing left to remove.
            Some(Queued::Unpublish) => {
                self.queued = None;
                action
            }
            _ => self.then_queued(now, action),
        }
    }

    /// When [`PublicationState::handle_timeout`] is due next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.refresh_at
    }

    /// Refreshes the publication when its time has come.
    pub fn handle_timeout(&mut self, now: Instant) -> Action {
        match self.refresh_at {
            Some(at) if at <= now && self.pending.is_none() => {
                self.refresh_at = None;
                self.auth_rounds = 0;
                self.republished = false;
                self.set_phase(PublishPhase::Publishing);
                su_log!(
                    NUA,
                    5,
                    "nua: refreshing publication {} of {}",
                    self.params.event,
                    self.params.aor
                );
                self.send(Request::Refresh)
            }
            _ => Action::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use sofia_msg::ResponseBuilder;

    use super::*;

    const VIA: &str = "SIP/2.0/UDP 192.0.2.1:5060;rport;branch=z9hG4bKpub";
    const PIDF: &str = "<presence entity=\"sip:alice@example.com\"/>";

    fn state() -> PublicationState {
        PublicationState::new(PublicationParams {
            event: "presence".into(),
            aor: "sip:alice@example.com".into(),
            call_id: "pub-1@192.0.2.1".into(),
            from_tag: "pt1".into(),
            user_agent: None,
        })
    }

    fn auth() -> AuthClient {
        AuthClient::with_ids(sofia_su::IdGenerator::with_seed(9))
    }

    fn reply(req: &Message, status: u16, reason: &str, extra: &[(HeaderName, &str)]) -> Message {
        let mut b = ResponseBuilder::reply_to(req, status, reason, Some("esc"));
        for (name, value) in extra {
            b = b.header(*name, value);
        }
        b.build().unwrap()
    }

    fn report(a: &Action) -> (u16, bool) {
        let r = a.report.as_ref().expect("a report");
        (r.status, r.unpublish)
    }

    fn published(now: Instant) -> (PublicationState, AuthClient, Message) {
        let mut s = state();
        let mut a = auth();
        assert_eq!(
            s.publish(now, "application/pidf+xml", Bytes::from(PIDF), 600),
            Action::send()
        );
        let req = s.build_request(VIA, &mut a).unwrap();
        let act = s.handle_response(
            now,
            &reply(
                &req,
                200,
                "OK",
                &[(HeaderName::SipETag, "e1"), (HeaderName::Expires, "300")],
            ),
            &mut a,
        );
        assert_eq!(report(&act), (200, false));
        assert!(!act.send);
        (s, a, req)
    }

    #[test]
    fn publishes_then_refreshes_with_if_match_and_no_body() {
        let now = Instant::now();
        let (mut s, mut a, first) = published(now);
        assert_eq!(first.method(), Method::Publish);
        assert_eq!(first.request_uri_str(), Some("sip:alice@example.com"));
        assert_eq!(first.header(HeaderName::Event), Some("presence"));
        assert_eq!(first.header(HeaderName::Expires), Some("600"));
        assert_eq!(first.header(HeaderName::SipIfMatch), None);
        assert_eq!(first.body_bytes(), PIDF.as_bytes());
        assert_eq!(s.etag(), Some("e1"));
        assert_eq!(s.granted(), Some(300));
        assert_eq!(s.phase(), PublishPhase::Published);
        assert_eq!(s.poll_timeout(), Some(now + Duration::from_secs(150)));
        assert_eq!(
            s.handle_timeout(now + Duration::from_secs(149)),
            Action::default()
        );
        let at = now + Duration::from_secs(150);
        assert_eq!(s.handle_timeout(at), Action::send());
        let refresh = s.build_request(VIA, &mut a).unwrap();
        assert_eq!(refresh.header(HeaderName::SipIfMatch), Some("e1"));
        assert!(refresh.body_bytes().is_empty());
        assert_eq!(refresh.header(HeaderName::Expires), Some("600"));
        assert_eq!(refresh.cseq(), Some((2, Method::Publish)));
        assert_eq!(refresh.call_id(), first.call_id());
        let act = s.handle_response(
            at,
            &reply(&refresh, 200, "OK", &[(HeaderName::SipETag, "e2")]),
            &mut a,
        );
        assert_eq!(report(&act), (200, false));
        assert_eq!(s.etag(), Some("e2"));
        assert_eq!(s.poll_timeout(), Some(at + Duration::from_secs(300)));
    }

    #[test]
    fn modifies_with_if_match_and_the_new_body() {
        let now = Instant::now();
        let (mut s, mut a, _) = published(now);
        assert_eq!(
            s.publish(now, "application/pidf+xml", Bytes::from("<closed/>"), 600),
            Action::send()
        );
        assert_eq!(s.poll_timeout(), None);
        let modify = s.build_request(VIA, &mut a).unwrap();
        assert_eq!(modify.header(HeaderName::SipIfMatch), Some("e1"));
        assert_eq!(modify.body_bytes(), b"<closed/>");
    }

    #[test]
    fn conditional_request_failed_publishes_from_scratch_once() {
        let now = Instant::now();
        let (mut s, mut a, _) = published(now);
        s.handle_timeout(now + Duration::from_secs(150));
        let refresh = s.build_request(VIA, &mut a).unwrap();
        let act = s.handle_response(
            now,
            &reply(&refresh, 412, "Conditional Request Failed", &[]),
            &mut a,
        );
        assert_eq!(act, Action::send());
        assert_eq!(s.etag(), None);
        let again = s.build_request(VIA, &mut a).unwrap();
        assert_eq!(again.header(HeaderName::SipIfMatch), None);
        assert_eq!(again.body_bytes(), PIDF.as_bytes());
        // A 412 without If-Match is a final answer.
        let act = s.handle_response(
            now,
            &reply(&again, 412, "Conditional Request Failed", &[]),
            &mut a,
        );
        assert_eq!(report(&act), (412, false));
        assert!(!act.send);
        assert_eq!(s.phase(), PublishPhase::Failed);
        assert_eq!(s.poll_timeout(), None);
    }

    #[test]
    fn interval_too_brief_retries_with_min_expires() {
        let now = Instant::now();
        let mut s = state();
        let mut a = auth();
        s.publish(now, "text/plain", Bytes::from("x"), 10);
        let req = s.build_request(VIA, &mut a).unwrap();
        let act = s.handle_response(
            now,
            &reply(
                &req,
                423,
                "Interval Too Brief",
                &[(HeaderName::MinExpires, "60")],
            ),
            &mut a,
        );
        assert_eq!(act, Action::send());
        let again = s.build_request(VIA, &mut a).unwrap();
        assert_eq!(again.header(HeaderName::Expires), Some("60"));
        assert_eq!(again.body_bytes(), b"x");
    }

    #[test]
    fn unpublishes_with_expires_zero() {
        let now = Instant::now();
        let (mut s, mut a, _) = published(now);
        assert_eq!(s.unpublish(now), Action::send());
        assert_eq!(s.poll_timeout(), None);
        let un = s.build_request(VIA, &mut a).unwrap();
        assert_eq!(un.header(HeaderName::Expires), Some("0"));
        assert_eq!(un.header(HeaderName::SipIfMatch), Some("e1"));
        assert!(un.body_bytes().is_empty());
        let act = s.handle_response(now, &reply(&un, 200, "OK", &[]), &mut a);
        assert_eq!(report(&act), (200, true));
        assert_eq!(s.phase(), PublishPhase::Idle);
        assert_eq!(s.etag(), None);
        // Nothing left.
        assert_eq!(report(&s.unpublish(now)), (400, true));
    }

    #[test]
    fn a_command_waits_for_the_publish_on_its_way() {
        let now = Instant::now();
        let mut s = state();
        let mut a = auth();
        s.publish(now, "text/plain", Bytes::from("one"), 600);
        let first = s.build_request(VIA, &mut a).unwrap();
        assert_eq!(
            s.publish(now, "text/plain", Bytes::from("two"), 600),
            Action::default()
        );
        let act = s.handle_response(
            now,
            &reply(&first, 200, "OK", &[(HeaderName::SipETag, "e1")]),
            &mut a,
        );
        assert_eq!(report(&act), (200, false));
        assert!(act.send);
        let modify = s.build_request(VIA, &mut a).unwrap();
        assert_eq!(modify.body_bytes(), b"two");
        assert_eq!(modify.header(HeaderName::SipIfMatch), Some("e1"));
    }

    #[test]
    fn timeout_is_reported_and_stops_refreshing() {
        let now = Instant::now();
        let (mut s, mut a, _) = published(now);
        s.handle_timeout(now + Duration::from_secs(150));
        let refresh = s.build_request(VIA, &mut a).unwrap();
        assert_eq!(
            s.transaction_failed(now, Some(0), 408, "Request Timeout"),
            Action::default()
        );
        let act = s.transaction_failed(now, refresh.cseq().map(|c| c.0), 408, "Request Timeout");
        assert_eq!(report(&act), (408, false));
        assert_eq!(s.phase(), PublishPhase::Failed);
        assert_eq!(s.poll_timeout(), None);
    }
}
