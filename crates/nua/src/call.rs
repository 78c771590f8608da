//! Calls: the INVITE session of one dialog (sofia-sip's session usage),
//! sans-IO.
//!
//! A [`Call`] takes what happens (a response to one of its requests, an
//! in-dialog request, an ACK, a CANCEL, the user's commands, the time) with
//! an explicit `now`, and queues what to do as [`CallOutput`]s: requests to
//! send in client transactions, ACKs to send without one, responses to
//! server transactions, a CANCEL, events for the user, dialogs to register
//! with the transaction engine. [`Call::poll_timeout`] says when it wants
//! [`Call::handle_timeout`]. The offer/answer is `sofia-soa`'s [`Session`].
//!
//! The RFC 3261 rules it keeps: the UAS core retransmits its 2xx to an
//! INVITE from T1 doubling to T2 until the ACK comes and sends BYE when none
//! comes within 64·T1 (§13.3.1.4); the UAC core ACKs every 2xx, again for
//! each retransmission (§13.2.2.4), and ACKs then sends BYE to a 2xx of a
//! second fork (§13.2.2.4) or one that crossed its CANCEL; a re-INVITE that
//! meets one of ours is answered 491 and ours, answered 491, is sent again
//! after §14.1's random interval (2.1–4 s when we own the Call-ID, else
//! 0–2 s); a re-INVITE while a 2xx is still unacknowledged gets 500 with
//! Retry-After (§14.2); a request with a lower CSeq 500 (§12.2.2); a BYE
//! ends the call, and an unanswered INVITE is then answered 487 (§15.1.2).

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use sofia_iptsec::AuthClient;
use sofia_msg::{HeaderName, Message, Method, RequestBuilder, ResponseBuilder, Scheme, Uri};
use sofia_nta::dialog::{Dialog, DialogError, DialogId, DialogState};
use sofia_nta::{ServerId, Timers};
use sofia_soa::{Session, State as SoaState};
use sofia_su::{IdGenerator, su_log};
use sofia_tport::Transport;

use crate::EventKind;

/// Methods a user agent with calls answers, in its Allow header.
pub const CALL_ALLOW: &str =
    "INVITE, ACK, BYE, CANCEL, OPTIONS, MESSAGE, INFO, UPDATE, PRACK, REFER, NOTIFY";

/// How long the implicit subscription of a REFER we accept lasts, in
/// seconds, unless a final NOTIFY ends it first.
const REFER_EXPIRES: u32 = 60;

/// Challenges answered in a row for one request of a call.
const MAX_AUTH_ROUNDS: u32 = 3;

/// The state of a call, sofia-sip's `nua_callstate_t`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CallState {
    /// Nothing sent or received yet.
    Init,
    /// Our INVITE is sent; no provisional response yet.
    Calling,
    /// A provisional response to our INVITE came.
    Proceeding,
    /// A 2xx to our INVITE came and is being ACKed.
    Completing,
    /// An INVITE came and is not answered yet.
    Received,
    /// We sent a provisional response with a To tag.
    Early,
    /// We sent a 2xx and wait for the ACK.
    Completed,
    /// The call is established.
    Ready,
    /// Our BYE is sent.
    Terminating,
    /// The call is over.
    Terminated,
}

impl CallState {
    /// sofia-sip's name without its `nua_callstate_` prefix (`ready`).
    pub fn name(self) -> &'static str {
        match self {
            CallState::Init => "init",
            CallState::Calling => "calling",
            CallState::Proceeding => "proceeding",
            CallState::Completing => "completing",
            CallState::Received => "received",
            CallState::Early => "early",
            CallState::Completed => "completed",
            CallState::Ready => "ready",
            CallState::Terminating => "terminating",
            CallState::Terminated => "terminated",
        }
    }
}

impl fmt::Display for CallState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What one of a call's requests is for, to route its responses back
/// ([`Call::handle_response`], [`Call::request_failed`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Purpose {
    /// The dialog-creating INVITE.
    Invite,
    /// A re-INVITE (hold, resume, new offer).
    ReInvite,
    /// Our BYE.
    Bye,
    /// An UPDATE (RFC 3311).
    Update,
    /// An INFO.
    Info,
    /// A PRACK (RFC 3262) of a reliable provisional response.
    Prack,
    /// A REFER (RFC 3515).
    Refer,
    /// A NOTIFY of the implicit subscription of a REFER we accepted.
    Notify,
    /// The BYE ending a dialog we do not keep (a second fork's 2xx, or one
    /// that crossed our CANCEL); its response is not reported.
    Discard,
}

/// The identities and settings of a call.
#[derive(Debug, Clone)]
pub struct CallParams {
    /// Our address of record (the From of our INVITE).
    pub local_uri: String,
    /// The peer's URI: To and Request-URI of our INVITE.
    pub remote_uri: String,
    /// Our Contact URI (without angle brackets).
    pub contact: String,
    /// User-Agent of requests, Server of responses.
    pub user_agent: String,
    /// Our transports' addresses, for Via.
    pub listeners: Vec<(Transport, SocketAddr)>,
    /// The transaction timers (T1 and T2 pace 2xx retransmissions).
    pub timers: Timers,
    /// Reliable provisional responses (RFC 3262): `100rel` in our
    /// INVITEs' Supported, and our 1xx sent reliably when the INVITE
    /// supports or requires it.
    pub reliable_provisionals: bool,
    /// The session interval our INVITEs ask for (RFC 4028
    /// `Session-Expires`); `None` asks for none (a peer's request is still
    /// honoured).
    pub session_expires: Option<u32>,
    /// The smallest session interval we accept (`Min-SE`, RFC 4028 §5;
    /// at least 90).
    pub min_se: u32,
}

/// What a call reports to the user.
#[derive(Debug, Clone)]
pub struct CallEvent {
    /// What happened.
    pub kind: EventKind,
    /// The status of the response (ours for `i_` events).
    pub status: u16,
    /// Its reason phrase.
    pub phrase: String,
    /// The request or response, when there is one.
    pub message: Option<Message>,
    /// The call state, for `i_state` events.
    pub state: Option<CallState>,
}

/// What a call asks its driver to do.
#[derive(Debug)]
pub enum CallOutput {
    /// Send `msg` in a new client transaction to `next_hop` (a URI to
    /// locate per RFC 3263); its responses go to
    /// [`Call::handle_response`] with `purpose`.
    Request {
        /// What the request is for.
        purpose: Purpose,
        /// The request.
        msg: Message,
        /// Where to send it.
        next_hop: String,
    },
    /// Send an ACK for a 2xx, outside any transaction.
    Ack {
        /// The ACK.
        msg: Message,
        /// Where to send it.
        next_hop: String,
    },
    /// Answer a server transaction.
    Respond {
        /// The server transaction.
        server: ServerId,
        /// The response.
        msg: Message,
    },
    /// CANCEL our INVITE's client transaction.
    Cancel,
    /// Tell the user.
    Event(CallEvent),
    /// A dialog to register with the transaction engine, so that its
    /// requests are passed up rather than answered 481.
    DialogAdded(DialogId),
    /// A dialog that has ended.
    DialogRemoved(DialogId),
}

/// Who started the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// We sent the INVITE.
    Uac,
    /// We received it.
    Uas,
}

/// A 2xx to an INVITE that is retransmitted until its ACK comes.
#[derive(Debug)]
struct Unacked {
    server: ServerId,
    msg: Message,
    cseq: u32,
    reliable: bool,
    next: Instant,
    interval: Duration,
    deadline: Instant,
    /// Our 2xx carried an offer: the answer comes in the ACK.
    answer_in_ack: bool,
}

/// Our reliable provisional response (RFC 3262 §3), retransmitted until
/// its PRACK comes.
#[derive(Debug)]
struct Reliable {
    rseq: u32,
    msg: Message,
    next: Instant,
    interval: Duration,
    deadline: Instant,
}

/// The session timer of an established call (RFC 4028).
#[derive(Debug, Clone, Copy)]
struct SessionTimer {
    /// The session interval in seconds.
    interval: u32,
    /// We refresh (else we expect the peer to).
    we_refresh: bool,
    /// When to refresh, or when the session has expired.
    at: Instant,
}

/// A request kept to be sent again with credentials.
#[derive(Debug, Clone)]
struct Recipe {
    method: Method,
    body: Option<(String, Bytes)>,
    extra: Vec<(HeaderName, String)>,
    rounds: u32,
}

/// One call: an INVITE dialog with its offer/answer. See the [module
/// documentation](self).
#[derive(Debug)]
pub struct Call {
    role: Role,
    state: CallState,
    params: CallParams,
    soa: Session,
    auth: AuthClient,
    ids: IdGenerator,
    call_id: String,
    local_tag: String,
    /// Our last INVITE (UAC) or the INVITE received (UAS).
    invite: Option<Message>,
    /// The received INVITE's server transaction (UAS).
    invite_server: Option<ServerId>,
    dialog: Option<Dialog>,
    /// CSeq of the INVITE before a dialog exists (UAC).
    cseq: u32,
    /// Our INVITE carried an offer (else the 2xx carries it).
    offered: bool,
    offer_body: Option<Bytes>,
    /// The answer to the received INVITE's offer (UAS).
    answer_body: Option<Bytes>,
    cancel_pending: bool,
    cancelled: bool,
    auth_rounds: u32,
    unacked: Option<Unacked>,
    /// The ACK of the last 2xx we got, with its CSeq, sent again for each
    /// retransmission of that 2xx.
    last_ack: Option<(u32, Message, String)>,
    reinvite_seq: Option<u32>,
    glare_retry_at: Option<Instant>,
    bye_after_ack: bool,
    recipes: HashMap<Purpose, Recipe>,
    /// The session interval of our next INVITE (raised by a 422).
    session_expires: Option<u32>,
    session: Option<SessionTimer>,
    /// UAS: the INVITE supports or requires 100rel.
    peer_100rel: bool,
    next_rseq: u32,
    reliable: Option<Reliable>,
    /// Reliable provisional responses waiting for the one before to be
    /// acknowledged (bounded).
    reliable_queue: VecDeque<(u16, String)>,
    /// UAC: the RSeq of the last reliable provisional response PRACKed.
    last_rseq: Option<u32>,
    /// The Allow header of the peer's INVITE or 2xx.
    peer_allow: String,
    /// Our REFER was accepted and its NOTIFYs are expected.
    refer_subscribed: bool,
    /// A REFER we accepted: its NOTIFYs are ours to send until a final
    /// one.
    refer_notifier: bool,
    outputs: VecDeque<CallOutput>,
}

/// Reliable provisional responses queued behind an unacknowledged one.
const MAX_QUEUED_RELIABLE: usize = 4;

/// True when `name` lists the option tag `tag` (Supported, Require).
fn has_option(msg: &Message, name: HeaderName, tag: &str) -> bool {
    msg.header_values(name)
        .flatten()
        .any(|v| v.trim().eq_ignore_ascii_case(tag))
}

fn has_sdp(msg: &Message) -> bool {
    !msg.body_bytes().is_empty()
        && msg
            .content_type()
            .is_some_and(|t| t.is("application", "sdp"))
}

/// The terms of a `Session-Expires`: the interval in seconds and whether
/// `refresher=uac` (`None` without the parameter).
type SessionTerms = (u32, Option<bool>);

/// `Session-Expires` of a message.
fn session_expires(msg: &Message) -> Option<SessionTerms> {
    let se = msg.typed::<sofia_msg::headers::SessionExpires>()?.ok()?;
    let refresher = se
        .refresher()
        .map(|r| r == sofia_msg::headers::Refresher::Uac);
    Some((se.delta, refresher))
}

fn body_text(msg: &Message) -> &str {
    std::str::from_utf8(msg.body_bytes()).unwrap_or("")
}

/// The next hop of a request with this Request-URI and Route set: the
/// first route when it is a loose router, else the Request-URI.
fn next_hop(uri: &str, routes: &[String]) -> String {
    match routes.first() {
        Some(r) => {
            let inner = r.trim_start_matches('<').trim_end_matches('>');
            if Uri::parse(inner).is_ok_and(|u| u.lr()) {
                inner.to_string()
            } else {
                uri.to_string()
            }
        }
        None => uri.to_string(),
    }
}

/// The transport RFC 3263 picks for a URI without DNS: its `transport`
/// parameter, TLS for `sips:`, else UDP.
pub(crate) fn transport_of(uri: &str) -> Transport {
    match Uri::parse(uri) {
        Ok(u) => match u.transport().and_then(Transport::from_name) {
            Some(Transport::Tcp) if u.scheme() == Scheme::Sips => Transport::Tls,
            Some(t) => t,
            None if u.scheme() == Scheme::Sips => Transport::Tls,
            None => Transport::Udp,
        },
        Err(_) => Transport::Udp,
    }
}

impl Call {
    fn new(
        role: Role,
        params: CallParams,
        soa: Session,
        auth: AuthClient,
        mut ids: IdGenerator,
        call_id: String,
    ) -> Call {
        let local_tag = ids.tag();
        let session_expires = params.session_expires;
        // RFC 3262 §3: the first RSeq is random, below 2^31 with room to
        // count up.
        let next_rseq = (ids.u64() % (1 << 30)) as u32 + 1;
        Call {
            role,
            state: CallState::Init,
            params,
            soa,
            auth,
            ids,
            call_id,
            local_tag,
            invite: None,
            invite_server: None,
            dialog: None,
            cseq: 0,
            offered: false,
            offer_body: None,
            answer_body: None,
            cancel_pending: false,
            cancelled: false,
            auth_rounds: 0,
            unacked: None,
            last_ack: None,
            reinvite_seq: None,
            glare_retry_at: None,
            bye_after_ack: false,
            recipes: HashMap::new(),
            session_expires,
            session: None,
            peer_100rel: false,
            next_rseq,
            reliable: None,
            reliable_queue: VecDeque::new(),
            last_rseq: None,
            peer_allow: String::new(),
            refer_subscribed: false,
            refer_notifier: false,
            outputs: VecDeque::new(),
        }
    }

    /// A call we place: sends the INVITE, with an offer from `soa` unless
    /// `late_offer` (then the 2xx carries the offer and our ACK the
    /// answer).
    pub fn outgoing(
        params: CallParams,
        soa: Session,
        auth: AuthClient,
        mut ids: IdGenerator,
        late_offer: bool,
    ) -> Call {
        let host = params
            .listeners
            .first()
            .map(|l| l.1.ip().to_string())
            .unwrap_or_default();
        let call_id = ids.call_id(Some(&host));
        let mut call = Call::new(Role::Uac, params, soa, auth, ids, call_id);
        if !late_offer {
            match call.soa.generate_offer() {
                Ok(offer) => {
                    call.offered = true;
                    call.offer_body = Some(Bytes::from(offer.to_string()));
                }
                Err(e) => {
                    su_log!(NUA, 3, "nua: no offer for the INVITE ({e}); sending none");
                }
            }
        }
        call.send_invite();
        call
    }

    /// A call we receive: the INVITE of `server`. Answers 415 for a body
    /// that is not SDP, 488 (or soa's status) for an offer that cannot be
    /// answered, 400 without Contact; otherwise reports `i_invite` and
    /// waits for [`Call::respond`]. `reliable`: the INVITE came over a
    /// stream (no 2xx retransmissions).
    pub fn incoming(
        params: CallParams,
        soa: Session,
        auth: AuthClient,
        ids: IdGenerator,
        server: ServerId,
        invite: Message,
        secure: bool,
    ) -> Call {
        let call_id = invite.call_id().unwrap_or_default().to_string();
        let mut call = Call::new(Role::Uas, params, soa, auth, ids, call_id);
        call.invite_server = Some(server);
        call.cseq = invite.cseq().map_or(0, |c| c.0);
        call.peer_allow = invite
            .header_lines(HeaderName::Allow)
            .collect::<Vec<_>>()
            .join(",");
        call.peer_100rel = has_option(&invite, HeaderName::Supported, "100rel")
            || has_option(&invite, HeaderName::Require, "100rel");
        if let Some((interval, _)) = session_expires(&invite)
            && interval < call.params.min_se
        {
            // RFC 4028 §8.1.
            call.invite = Some(invite.clone());
            let min_se = call.params.min_se.to_string();
            call.reply_with(
                server,
                &invite,
                422,
                "Session Interval Too Small",
                None,
                &[(HeaderName::MinSe, min_se)],
            );
            call.set_state(
                CallState::Terminated,
                422,
                "Session Interval Too Small",
                None,
            );
            return call;
        }
        let refused = if !invite.body_bytes().is_empty() && !has_sdp(&invite) {
            Some((415, "Unsupported Media Type".to_string()))
        } else if has_sdp(&invite) {
            match call.soa.process_offer(body_text(&invite)) {
                Ok(answer) => {
                    call.offered = true;
                    call.answer_body = Some(Bytes::from(answer.to_string()));
                    None
                }
                Err(e) => {
                    let (status, phrase) = e.sip_status();
                    su_log!(NUA, 3, "nua: offer refused: {e}");
                    Some((status, phrase.to_string()))
                }
            }
        } else {
            None
        };
        let dialog = match refused {
            Some(_) => None,
            None => match Dialog::from_uas(&invite, &call.local_tag, secure) {
                Ok(d) => Some(d),
                Err(DialogError::Missing(what)) => {
                    call.invite = Some(invite.clone());
                    call.reply(
                        server,
                        &invite,
                        400,
                        &format!("Missing or bad {what}"),
                        None,
                    );
                    call.set_state(CallState::Terminated, 400, "Bad Request", None);
                    return call;
                }
                Err(e) => {
                    call.invite = Some(invite.clone());
                    call.reply(server, &invite, 400, &e.to_string(), None);
                    call.set_state(CallState::Terminated, 400, "Bad Request", None);
                    return call;
                }
            },
        };
        call.invite = Some(invite.clone());
        if let Some((status, phrase)) = refused {
            call.reply(server, &invite, status, &phrase, None);
            call.set_state(CallState::Terminated, status, &phrase, None);
            return call;
        }
        if let Some(d) = dialog {
            call.outputs
                .push_back(CallOutput::DialogAdded(d.id.clone()));
            call.dialog = Some(d);
        }
        call.event(EventKind::IInvite, 100, "Trying", Some(invite));
        call.set_state(CallState::Received, 100, "Trying", None);
        call
    }

    /// The current state.
    pub fn state(&self) -> CallState {
        self.state
    }

    /// Who placed the call.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The dialog, once there is one.
    pub fn dialog(&self) -> Option<&Dialog> {
        self.dialog.as_ref()
    }

    /// The Call-ID.
    pub fn call_id(&self) -> &str {
        &self.call_id
    }

    /// The offer/answer session (negotiated media, hold state).
    pub fn media(&self) -> &Session {
        &self.soa
    }

    /// The received INVITE's server transaction (UAS).
    pub fn invite_server(&self) -> Option<ServerId> {
        self.invite_server
    }

    /// The next thing to do.
    pub fn poll_output(&mut self) -> Option<CallOutput> {
        self.outputs.pop_front()
    }

    /// When [`Call::handle_timeout`] is due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let retransmit = self.unacked.as_ref().map(|u| {
            if u.reliable {
                u.deadline
            } else {
                u.next.min(u.deadline)
            }
        });
        let provisional = self.reliable.as_ref().map(|r| r.next.min(r.deadline));
        [
            retransmit,
            provisional,
            self.glare_retry_at,
            self.session.map(|t| t.at),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    fn event(&mut self, kind: EventKind, status: u16, phrase: &str, message: Option<Message>) {
        self.outputs.push_back(CallOutput::Event(CallEvent {
            kind,
            status,
            phrase: phrase.to_string(),
            message,
            state: None,
        }));
    }

    fn set_state(&mut self, state: CallState, status: u16, phrase: &str, message: Option<Message>) {
        if state == self.state {
            return;
        }
        su_log!(
            NUA,
            5,
            "nua: call {}: {} -> {} ({status} {phrase})",
            self.call_id,
            self.state,
            state
        );
        self.state = state;
        if state == CallState::Terminated {
            self.unacked = None;
            self.glare_retry_at = None;
            if let Some(d) = &self.dialog {
                self.outputs
                    .push_back(CallOutput::DialogRemoved(d.id.clone()));
            }
        }
        self.outputs.push_back(CallOutput::Event(CallEvent {
            kind: EventKind::IState,
            status,
            phrase: phrase.to_string(),
            message,
            state: Some(state),
        }));
    }

    fn via(&mut self, next_hop: &str) -> String {
        let transport = transport_of(next_hop);
        let local = self
            .params
            .listeners
            .iter()
            .find(|l| l.0 == transport)
            .or_else(|| self.params.listeners.first())
            .map(|l| l.1);
        let sent_by = match local {
            Some(a) => a.to_string(),
            None => "invalid".to_string(),
        };
        format!(
            "SIP/2.0/{} {sent_by};rport;branch={}",
            transport.via_name(),
            self.ids.branch()
        )
    }

    fn contact(&self) -> String {
        format!("<{}>", self.params.contact)
    }

    /// Our Supported header.
    fn supported(&self) -> &'static str {
        if self.params.reliable_provisionals {
            "timer, replaces, 100rel"
        } else {
            "timer, replaces"
        }
    }

    /// Session-Expires and Supported for a request of ours in a call with a
    /// session timer: `refresher=uac` when we refresh.
    fn session_headers(&self) -> Vec<(HeaderName, String)> {
        match self.session {
            Some(t) => vec![
                (
                    HeaderName::SessionExpires,
                    format!(
                        "{};refresher={}",
                        t.interval,
                        if t.we_refresh { "uac" } else { "uas" }
                    ),
                ),
                (HeaderName::Supported, self.supported().to_string()),
            ],
            None => Vec::new(),
        }
    }

    /// Arms the session timer after a 2xx that carries `Session-Expires`
    /// (`we_requested`: the 2xx answers our request, so `refresher=uac`
    /// means us). A 2xx without it ends the timer.
    fn arm_session(&mut self, now: Instant, se: Option<SessionTerms>, we_requested: bool) {
        self.session = se.map(|(interval, refresher_is_uac)| {
            let uac_refreshes = refresher_is_uac.unwrap_or(true);
            let we_refresh = uac_refreshes == we_requested;
            let secs = u64::from(interval.max(1));
            let at = if we_refresh {
                now + Duration::from_secs(secs) / 2
            } else {
                // RFC 4028 §10: BYE before the interval runs out, by a third
                // of it or 32 s, whichever is less.
                now + Duration::from_secs(secs - (secs / 3).min(32))
            };
            SessionTimer {
                interval,
                we_refresh,
                at,
            }
        });
        if let Some(t) = self.session {
            su_log!(
                NUA,
                5,
                "nua: {}: session interval {} s, {} refresh",
                self.call_id,
                t.interval,
                if t.we_refresh { "we" } else { "the peer will" }
            );
        }
    }

    /// Builds and queues the dialog-creating INVITE (again, with
    /// credentials, after a challenge).
    fn send_invite(&mut self) {
        self.cseq += 1;
        let uri = self.params.remote_uri.clone();
        let via = self.via(&uri);
        let mut b = RequestBuilder::new(Method::Invite, &uri)
            .header(HeaderName::Via, &via)
            .header(HeaderName::MaxForwards, "70")
            .header(
                HeaderName::From,
                &format!("<{}>;tag={}", self.params.local_uri, self.local_tag),
            )
            .header(HeaderName::To, &format!("<{uri}>"))
            .header(HeaderName::CallId, &self.call_id)
            .header(HeaderName::CSeq, &format!("{} INVITE", self.cseq))
            .header(HeaderName::Contact, &self.contact())
            .header(HeaderName::Allow, CALL_ALLOW)
            .header(HeaderName::Supported, self.supported())
            .header(HeaderName::UserAgent, &self.params.user_agent);
        if let Some(se) = self.session_expires {
            b = b
                .header(HeaderName::SessionExpires, &se.to_string())
                .header(HeaderName::MinSe, &self.params.min_se.to_string());
        }
        let body = self.offer_body.clone().unwrap_or_default();
        for (name, value) in self.auth.authorize("INVITE", &uri, &body) {
            b = b.header(name, &value);
        }
        if self.offer_body.is_some() {
            b = b.body("application/sdp", body);
        }
        match b.build() {
            Ok(msg) => {
                self.invite = Some(msg.clone());
                self.outputs.push_back(CallOutput::Request {
                    purpose: Purpose::Invite,
                    msg,
                    next_hop: uri,
                });
                self.set_state(CallState::Calling, 0, "INVITE sent", None);
            }
            Err(e) => {
                su_log!(NUA, 3, "nua: cannot build the INVITE: {e}");
                self.event(EventKind::RInvite, 500, "Request Not Built", None);
                self.set_state(CallState::Terminated, 500, "Request Not Built", None);
            }
        }
    }

    /// Queues an in-dialog request of `dialog` (the call's own when
    /// `None`).
    fn send_in_dialog(
        &mut self,
        purpose: Purpose,
        method: Method,
        body: Option<(String, Bytes)>,
        extra: Vec<(HeaderName, String)>,
        rounds: u32,
    ) -> Option<u32> {
        let mut dialog = self.dialog.take()?;
        let msg = self.in_dialog_request(&mut dialog, method, None, body.clone(), &extra);
        let seq = dialog.local_seq;
        let (uri, routes) = dialog.request_target();
        self.dialog = Some(dialog);
        let msg = msg?;
        self.recipes.insert(
            purpose,
            Recipe {
                method,
                body,
                extra,
                rounds,
            },
        );
        self.outputs.push_back(CallOutput::Request {
            purpose,
            msg,
            next_hop: next_hop(&uri, &routes),
        });
        Some(seq)
    }

    /// An in-dialog request of `dialog`: Route, From/To with tags, CSeq
    /// (`ack_seq` for an ACK), Contact for INVITE and UPDATE, credentials.
    fn in_dialog_request(
        &mut self,
        dialog: &mut Dialog,
        method: Method,
        ack_seq: Option<u32>,
        body: Option<(String, Bytes)>,
        extra: &[(HeaderName, String)],
    ) -> Option<Message> {
        let (uri, routes) = dialog.request_target();
        let via = self.via(&next_hop(&uri, &routes));
        let mut b = dialog.request(method, &via, ack_seq);
        for (name, value) in extra {
            b = b.header(*name, value);
        }
        if matches!(method, Method::Invite | Method::Update) {
            b = b
                .header(HeaderName::Contact, &self.contact())
                .header(HeaderName::Allow, CALL_ALLOW);
        }
        b = b.header(HeaderName::UserAgent, &self.params.user_agent);
        if method != Method::Ack {
            let bytes = body.as_ref().map(|(_, b)| b.clone()).unwrap_or_default();
            for (name, value) in self.auth.authorize(method.as_str(), &uri, &bytes) {
                b = b.header(name, &value);
            }
        }
        if let Some((content_type, bytes)) = body {
            b = b.body(&content_type, bytes);
        }
        match b.build() {
            Ok(m) => Some(m),
            Err(e) => {
                su_log!(NUA, 3, "nua: cannot build {}: {e}", method.as_str());
                None
            }
        }
    }

    /// ACKs a 2xx of `dialog` with CSeq `seq` (with the answer, when the
    /// 2xx carried an offer), remembering it for retransmissions.
    fn ack(&mut self, dialog: &mut Dialog, seq: u32, body: Option<Bytes>, keep: bool) {
        let body = body.map(|b| ("application/sdp".to_string(), b));
        let Some(msg) = self.in_dialog_request(dialog, Method::Ack, Some(seq), body, &[]) else {
            return;
        };
        let (uri, routes) = dialog.request_target();
        let hop = next_hop(&uri, &routes);
        if keep {
            self.last_ack = Some((seq, msg.clone(), hop.clone()));
        }
        self.outputs
            .push_back(CallOutput::Ack { msg, next_hop: hop });
    }

    /// Answers `request` on `server` with our tag and Contact.
    fn reply(
        &mut self,
        server: ServerId,
        request: &Message,
        status: u16,
        phrase: &str,
        body: Option<Bytes>,
    ) -> Option<Message> {
        self.reply_with(server, request, status, phrase, body, &[])
    }

    /// [`Call::reply`] with more headers.
    fn reply_with(
        &mut self,
        server: ServerId,
        request: &Message,
        status: u16,
        phrase: &str,
        body: Option<Bytes>,
        extra: &[(HeaderName, String)],
    ) -> Option<Message> {
        let tag = self.local_tag.clone();
        let mut b = ResponseBuilder::reply_to(request, status, phrase, Some(&tag))
            .header(HeaderName::Server, &self.params.user_agent);
        for (name, value) in extra {
            b = b.header(*name, value);
        }
        let dialog_creating = request.method() == Method::Invite && (101..300).contains(&status);
        if dialog_creating || (request.method() == Method::Update && status < 300) {
            b = b.header(HeaderName::Contact, &self.contact());
        }
        // RFC 3261 §12.1.1: a response that establishes a dialog carries
        // the request's Record-Route values, in order.
        if dialog_creating && request.to_tag().is_none() {
            for rr in request.header_lines(HeaderName::RecordRoute) {
                b = b.header(HeaderName::RecordRoute, &sofia_msg::unfold(rr));
            }
        }
        if (200..300).contains(&status) && request.method() == Method::Invite
            || status == 405
            || request.method() == Method::Options
        {
            b = b.header(HeaderName::Allow, CALL_ALLOW);
        }
        if status == 415 {
            b = b.header(HeaderName::Accept, "application/sdp");
        }
        if let Some(body) = body {
            b = b.body("application/sdp", body);
        }
        match b.build() {
            Ok(msg) => {
                self.outputs.push_back(CallOutput::Respond {
                    server,
                    msg: msg.clone(),
                });
                Some(msg)
            }
            Err(e) => {
                su_log!(NUA, 2, "nua: cannot build a {status} response: {e}");
                None
            }
        }
    }

    // ---- commands ----

    /// Answers the received INVITE (UAS): 1xx (183 carries the answer as
    /// early media), 2xx (with the answer, or an offer when the INVITE had
    /// none; retransmitted until the ACK), or a failure. Refused in any
    /// other state.
    pub fn respond(&mut self, now: Instant, status: u16, phrase: &str) -> Result<(), &'static str> {
        if self.role != Role::Uas || !matches!(self.state, CallState::Received | CallState::Early) {
            return Err("no INVITE waiting for an answer");
        }
        if !(101..700).contains(&status) {
            return Err("status out of range");
        }
        let (Some(server), Some(invite)) = (self.invite_server, self.invite.clone()) else {
            return Err("no INVITE waiting for an answer");
        };
        if status < 200 {
            if self.params.reliable_provisionals && self.peer_100rel {
                if self.reliable.is_some() {
                    // RFC 3262 §3: one unacknowledged reliable provisional
                    // response at a time; the next waits for its PRACK.
                    if self.reliable_queue.len() >= MAX_QUEUED_RELIABLE {
                        return Err("too many provisional responses waiting for PRACK");
                    }
                    self.reliable_queue.push_back((status, phrase.to_string()));
                    return Ok(());
                }
                self.send_reliable(now, server, &invite, status, phrase);
            } else {
                let body = if status == 183 {
                    self.answer_body.clone()
                } else {
                    None
                };
                self.reply(server, &invite, status, phrase, body);
            }
            self.set_state(CallState::Early, status, phrase, None);
            return Ok(());
        }
        self.reliable = None;
        self.reliable_queue.clear();
        if status < 300 {
            let (body, answer_in_ack) = if self.offered {
                (self.answer_body.clone(), false)
            } else {
                match self.soa.generate_offer() {
                    Ok(offer) => (Some(Bytes::from(offer.to_string())), true),
                    Err(e) => {
                        su_log!(NUA, 3, "nua: no offer for the 2xx: {e}");
                        let (s, p) = e.sip_status();
                        self.reply(server, &invite, s, p, None);
                        self.set_state(CallState::Terminated, s, p, None);
                        return Ok(());
                    }
                }
            };
            let (extra, se) = self.uas_session(&invite);
            if let Some(msg) = self.reply_with(server, &invite, status, phrase, body, &extra) {
                self.start_unacked(now, server, msg, &invite, answer_in_ack);
            }
            self.arm_session(now, se, false);
            self.set_state(CallState::Completed, status, phrase, None);
            return Ok(());
        }
        self.reply(server, &invite, status, phrase, None);
        self.set_state(CallState::Terminated, status, phrase, None);
        Ok(())
    }

    /// The session timer of a 2xx to `request` (an INVITE, re-INVITE or
    /// UPDATE with `Session-Expires`, RFC 4028 §9): the headers to add and
    /// the timer's terms from the requester's side. Without a refresher
    /// parameter, the requester refreshes when it supports `timer`, else
    /// we do.
    fn uas_session(&self, request: &Message) -> (Vec<(HeaderName, String)>, Option<SessionTerms>) {
        let Some((interval, refresher)) = session_expires(request) else {
            return (Vec::new(), None);
        };
        let uac_supports = has_option(request, HeaderName::Supported, "timer")
            || has_option(request, HeaderName::Require, "timer");
        let uac = refresher.unwrap_or(uac_supports);
        let mut extra = vec![(
            HeaderName::SessionExpires,
            format!("{interval};refresher={}", if uac { "uac" } else { "uas" }),
        )];
        if uac_supports {
            extra.push((HeaderName::Require, "timer".to_string()));
        }
        (extra, Some((interval, Some(uac))))
    }

    /// Sends a reliable provisional response (RFC 3262 §3): `Require:
    /// 100rel`, the next RSeq, retransmitted from T1 doubling until its
    /// PRACK.
    fn send_reliable(
        &mut self,
        now: Instant,
        server: ServerId,
        invite: &Message,
        status: u16,
        phrase: &str,
    ) {
        let rseq = self.next_rseq;
        self.next_rseq += 1;
        let body = if status == 183 {
            self.answer_body.clone()
        } else {
            None
        };
        let extra = [
            (HeaderName::Require, "100rel".to_string()),
            (HeaderName::RSeq, rseq.to_string()),
        ];
        if let Some(msg) = self.reply_with(server, invite, status, phrase, body, &extra) {
            let t = self.params.timers;
            self.reliable = Some(Reliable {
                rseq,
                msg,
                next: now + t.t1,
                interval: t.t1,
                deadline: now + t.t1x64(),
            });
        }
    }

    fn start_unacked(
        &mut self,
        now: Instant,
        server: ServerId,
        msg: Message,
        request: &Message,
        answer_in_ack: bool,
    ) {
        let t = self.params.timers;
        let reliable = request
            .top_via()
            .is_some_and(|v| !v.transport().eq_ignore_ascii_case("UDP"));
        self.unacked = Some(Unacked {
            server,
            msg,
            cseq: request.cseq().map_or(0, |c| c.0),
            reliable,
            next: now + t.t1,
            interval: t.t1,
            deadline: now + t.t1x64(),
            answer_in_ack,
        });
    }

    /// Hangs up: CANCEL before an answer (UAC; sent once a provisional
    /// response has come), 480 to an unanswered INVITE (UAS), BYE in a
    /// call (once our 2xx is ACKed, §15).
    pub fn bye(&mut self, now: Instant) {
        match self.state {
            CallState::Calling | CallState::Proceeding if self.role == Role::Uac => self.cancel(),
            CallState::Received | CallState::Early => {
                let _ = self.respond(now, 480, "Temporarily Unavailable");
            }
            CallState::Completed => self.bye_after_ack = true,
            CallState::Ready | CallState::Completing => self.send_bye(),
            _ => {}
        }
    }

    fn send_bye(&mut self) {
        self.unacked = None;
        self.glare_retry_at = None;
        if self
            .send_in_dialog(Purpose::Bye, Method::Bye, None, Vec::new(), 0)
            .is_some()
        {
            self.set_state(CallState::Terminating, 0, "BYE sent", None);
        } else {
            self.set_state(CallState::Terminated, 500, "BYE Not Sent", None);
        }
    }

    /// Cancels our INVITE (UAC, before a final response).
    pub fn cancel(&mut self) {
        if self.role != Role::Uac || self.cancelled {
            return;
        }
        match self.state {
            CallState::Calling => self.cancel_pending = true,
            CallState::Proceeding => {
                self.cancelled = true;
                self.outputs.push_back(CallOutput::Cancel);
            }
            _ => {}
        }
    }

    /// Puts the call on hold (`true`) or resumes it with a re-INVITE
    /// (RFC 3264 §8.4).
    pub fn hold(&mut self, now: Instant, hold: bool) -> Result<(), &'static str> {
        if hold {
            self.soa.hold();
        } else {
            self.soa.resume();
        }
        self.reinvite(now)
    }

    /// Sends a re-INVITE with a new offer. Refused outside a ready call or
    /// while an offer is pending.
    pub fn reinvite(&mut self, _now: Instant) -> Result<(), &'static str> {
        if self.state != CallState::Ready {
            return Err("the call is not established");
        }
        if self.reinvite_seq.is_some() || self.soa.state() != SoaState::Established {
            return Err("an offer is pending");
        }
        let offer = self
            .soa
            .generate_offer()
            .map_err(|_| "no offer can be made")?;
        let body = Some((
            "application/sdp".to_string(),
            Bytes::from(offer.to_string()),
        ));
        let extra = self.session_headers();
        match self.send_in_dialog(Purpose::ReInvite, Method::Invite, body, extra, 0) {
            Some(seq) => {
                self.reinvite_seq = Some(seq);
                Ok(())
            }
            None => {
                self.soa.rollback();
                Err("the re-INVITE could not be built")
            }
        }
    }

    /// Sends an UPDATE (RFC 3311) with a new offer.
    pub fn update(&mut self, _now: Instant) -> Result<(), &'static str> {
        if !matches!(
            self.state,
            CallState::Ready | CallState::Early | CallState::Proceeding
        ) || self.dialog.is_none()
        {
            return Err("no dialog");
        }
        if self.soa.state() != SoaState::Established {
            return Err("an offer is pending");
        }
        let offer = self
            .soa
            .generate_offer()
            .map_err(|_| "no offer can be made")?;
        let body = Some((
            "application/sdp".to_string(),
            Bytes::from(offer.to_string()),
        ));
        if self
            .send_in_dialog(
                Purpose::Update,
                Method::Update,
                body,
                self.session_headers(),
                0,
            )
            .is_none()
        {
            self.soa.rollback();
            return Err("the UPDATE could not be built");
        }
        Ok(())
    }

    /// Sends an INFO with this body.
    pub fn info(&mut self, content_type: &str, body: Bytes) -> Result<(), &'static str> {
        if self.dialog.is_none() || matches!(self.state, CallState::Terminated) {
            return Err("no dialog");
        }
        let body = (!body.is_empty()).then(|| (content_type.to_string(), body));
        self.send_in_dialog(Purpose::Info, Method::Info, body, Vec::new(), 0)
            .map(|_| ())
            .ok_or("the INFO could not be built")
    }

    /// Asks the peer to call `target` (REFER, RFC 3515; an attended
    /// transfer puts `?Replaces=...` in the URI): `Refer-To`,
    /// `Referred-By`; the 202 gives `r_refer`, each NOTIFY of the implicit
    /// subscription an `i_notify` with its `message/sipfrag` body.
    pub fn refer(&mut self, target: &str) -> Result<(), &'static str> {
        if self.state != CallState::Ready {
            return Err("the call is not established");
        }
        if target.contains(['\r', '\n']) {
            return Err("bad Refer-To");
        }
        let extra = vec![
            (HeaderName::ReferTo, format!("<{target}>")),
            (
                HeaderName::ReferredBy,
                format!("<{}>", self.params.local_uri),
            ),
        ];
        // The first NOTIFY may overtake the 202 (RFC 3515 §2.4.4): the
        // subscription counts from the REFER on.
        self.refer_subscribed = true;
        self.send_in_dialog(Purpose::Refer, Method::Refer, None, extra, 0)
            .map(|_| ())
            .ok_or("the REFER could not be built")
    }

    /// Reports the progress of the call placed for a REFER we accepted:
    /// a NOTIFY with `SIP/2.0 <status> <phrase>` as `message/sipfrag`; a
    /// final status ends the implicit subscription (RFC 3515 §2.4.5).
    pub fn refer_notify(&mut self, status: u16, phrase: &str) -> Result<(), &'static str> {
        if !self.refer_notifier {
            return Err("no REFER accepted");
        }
        if phrase.contains(['\r', '\n']) {
            return Err("bad phrase");
        }
        self.send_refer_notify(status, phrase);
        Ok(())
    }

    fn send_refer_notify(&mut self, status: u16, phrase: &str) {
        let state = if status >= 200 {
            self.refer_notifier = false;
            "terminated;reason=noresource".to_string()
        } else {
            format!("active;expires={REFER_EXPIRES}")
        };
        let body = Some((
            "message/sipfrag;version=2.0".to_string(),
            Bytes::from(format!("SIP/2.0 {status} {phrase}\r\n")),
        ));
        let extra = vec![
            (HeaderName::Event, "refer".to_string()),
            (HeaderName::SubscriptionState, state),
        ];
        self.send_in_dialog(Purpose::Notify, Method::Notify, body, extra, 0);
    }

    // ---- what comes from the network ----

    /// A response to one of our requests.
    pub fn handle_response(&mut self, now: Instant, purpose: Purpose, msg: Message) {
        let status = msg.status().unwrap_or(0);
        match purpose {
            Purpose::Invite => self.invite_response(now, msg),
            Purpose::ReInvite => self.reinvite_response(now, msg),
            Purpose::Discard => {}
            _ if status < 200 => {}
            _ if (status == 401 || status == 407) && self.retry_with_credentials(purpose, &msg) => {
            }
            Purpose::Bye => {
                let phrase = msg.reason().unwrap_or("").to_string();
                self.event(EventKind::RBye, status, &phrase, Some(msg));
                self.set_state(CallState::Terminated, status, &phrase, None);
            }
            Purpose::Update => {
                let phrase = msg.reason().unwrap_or("").to_string();
                if (200..300).contains(&status) {
                    if let Some(d) = self.dialog.as_mut() {
                        d.on_response(&msg);
                    }
                    self.take_answer(&msg);
                    if self.state == CallState::Ready {
                        self.arm_session(now, session_expires(&msg), true);
                    }
                } else {
                    self.soa.rollback();
                    if matches!(status, 408 | 481) && self.state == CallState::Ready {
                        self.event(EventKind::RUpdate, status, &phrase, Some(msg));
                        self.send_bye();
                        return;
                    }
                }
                self.event(EventKind::RUpdate, status, &phrase, Some(msg));
            }
            Purpose::Info => {
                let phrase = msg.reason().unwrap_or("").to_string();
                self.event(EventKind::RInfo, status, &phrase, Some(msg));
            }
            Purpose::Prack => {
                let phrase = msg.reason().unwrap_or("").to_string();
                self.event(EventKind::RPrack, status, &phrase, Some(msg));
            }
            Purpose::Refer => {
                let phrase = msg.reason().unwrap_or("").to_string();
                if status >= 300 {
                    self.refer_subscribed = false;
                }
                self.event(EventKind::RRefer, status, &phrase, Some(msg));
            }
            Purpose::Notify => {
                let phrase = msg.reason().unwrap_or("").to_string();
                if status >= 300 {
                    // RFC 6665 §4.2.2: a failed NOTIFY ends the subscription.
                    self.refer_notifier = false;
                }
                self.event(EventKind::RNotify, status, &phrase, Some(msg));
            }
        }
    }

    /// Sends the request of `purpose` again with credentials; false when
    /// the challenge cannot be answered.
    fn retry_with_credentials(&mut self, purpose: Purpose, msg: &Message) -> bool {
        let Some(recipe) = self.recipes.get(&purpose).cloned() else {
            return false;
        };
        if recipe.rounds >= MAX_AUTH_ROUNDS {
            return false;
        }
        match self.auth.handle_response(msg) {
            Ok(true) => {}
            Ok(false) => return false,
            Err(e) => {
                su_log!(NUA, 3, "nua: {}: not authenticated: {e}", self.call_id);
                return false;
            }
        }
        let seq = self.send_in_dialog(
            purpose,
            recipe.method,
            recipe.body,
            recipe.extra,
            recipe.rounds + 1,
        );
        if purpose == Purpose::ReInvite {
            self.reinvite_seq = seq;
        }
        seq.is_some()
    }

    /// Takes the answer in a response to our offer; a bad one ends the
    /// call (after the ACK, for an INVITE).
    fn take_answer(&mut self, msg: &Message) -> bool {
        if self.soa.state() != SoaState::OfferSent {
            return true;
        }
        if !has_sdp(msg) {
            return false;
        }
        match self.soa.process_answer(body_text(msg)) {
            Ok(()) => true,
            Err(e) => {
                su_log!(NUA, 3, "nua: {}: answer refused: {e}", self.call_id);
                self.soa.rollback();
                false
            }
        }
    }

    /// PRACKs a reliable provisional response (RFC 3262 §4) in its early
    /// dialog, once per RSeq, in order; an offer in it is answered in the
    /// PRACK.
    fn prack(&mut self, msg: &Message) {
        let Some(rseq) = msg
            .typed::<sofia_msg::headers::RSeq>()
            .and_then(Result::ok)
            .map(|r| r.0)
        else {
            su_log!(
                NUA,
                3,
                "nua: {}: 100rel response without RSeq",
                self.call_id
            );
            return;
        };
        if self.last_rseq.is_some_and(|last| rseq <= last) {
            // A retransmission, already PRACKed.
            return;
        }
        if self
            .dialog
            .as_ref()
            .is_none_or(|d| Some(d.id.remote_tag.as_str()) != msg.to_tag())
        {
            return;
        }
        self.last_rseq = Some(rseq);
        let mut body = None;
        if !self.offered && has_sdp(msg) && self.soa.state() == SoaState::NoSession {
            match self.soa.process_offer(body_text(msg)) {
                Ok(answer) => {
                    body = Some((
                        "application/sdp".to_string(),
                        Bytes::from(answer.to_string()),
                    ))
                }
                Err(e) => su_log!(NUA, 3, "nua: {}: offer in 1xx refused: {e}", self.call_id),
            }
        }
        let rack = format!("{rseq} {} INVITE", self.cseq);
        self.send_in_dialog(
            Purpose::Prack,
            Method::Prack,
            body,
            vec![(HeaderName::RAck, rack)],
            0,
        );
    }

    fn invite_response(&mut self, now: Instant, msg: Message) {
        let status = msg.status().unwrap_or(0);
        let phrase = msg.reason().unwrap_or("").to_string();
        let Some(invite) = self.invite.clone() else {
            return;
        };
        if msg.cseq().map(|c| c.0) != Some(self.cseq) {
            return;
        }
        match status {
            100..=199 => {
                if !matches!(self.state, CallState::Calling | CallState::Proceeding) {
                    return;
                }
                if self.cancel_pending {
                    self.cancel_pending = false;
                    self.cancelled = true;
                    self.outputs.push_back(CallOutput::Cancel);
                }
                if status > 100
                    && msg.to_tag().is_some()
                    && self.dialog.is_none()
                    && let Ok(d) = Dialog::from_uac(&invite, &msg)
                {
                    self.outputs
                        .push_back(CallOutput::DialogAdded(d.id.clone()));
                    self.dialog = Some(d);
                }
                if status > 100 && self.offered && has_sdp(&msg) {
                    // Early media: the answer comes in the provisional
                    // response (RFC 3261 §13.2.1).
                    self.take_answer(&msg);
                }
                if status > 100 && has_option(&msg, HeaderName::Require, "100rel") {
                    self.prack(&msg);
                }
                self.event(EventKind::RInvite, status, &phrase, Some(msg.clone()));
                if status > 100 {
                    self.set_state(CallState::Proceeding, status, &phrase, Some(msg));
                } else if self.state == CallState::Calling {
                    self.state = CallState::Proceeding;
                }
            }
            200..=299 => self.invite_2xx(now, invite, msg),
            _ => {
                if matches!(self.state, CallState::Terminated | CallState::Ready) {
                    return;
                }
                if status == 422
                    && !self.cancelled
                    && let Some(min) = msg
                        .typed::<sofia_msg::headers::MinSe>()
                        .and_then(Result::ok)
                        .map(|m| m.delta)
                    && self.session_expires.is_none_or(|se| se < min)
                {
                    // RFC 4028 §7.4: ask again with the peer's Min-SE.
                    self.session_expires = Some(min);
                    self.params.min_se = self.params.min_se.max(min);
                    if let Some(d) = self.dialog.take() {
                        self.outputs.push_back(CallOutput::DialogRemoved(d.id));
                    }
                    self.event(EventKind::RInvite, status, &phrase, Some(msg));
                    self.send_invite();
                    return;
                }
                if (status == 401 || status == 407)
                    && !self.cancelled
                    && self.auth_rounds < MAX_AUTH_ROUNDS
                {
                    match self.auth.handle_response(&msg) {
                        Ok(true) => {
                            self.auth_rounds += 1;
                            if let Some(d) = self.dialog.take() {
                                self.outputs.push_back(CallOutput::DialogRemoved(d.id));
                            }
                            self.event(EventKind::RInvite, status, &phrase, Some(msg));
                            self.send_invite();
                            return;
                        }
                        Ok(false) => {}
                        Err(e) => {
                            su_log!(NUA, 3, "nua: {}: not authenticated: {e}", self.call_id)
                        }
                    }
                }
                self.event(EventKind::RInvite, status, &phrase, Some(msg.clone()));
                self.set_state(CallState::Terminated, status, &phrase, Some(msg));
            }
        }
    }

    fn invite_2xx(&mut self, now: Instant, invite: Message, msg: Message) {
        let status = msg.status().unwrap_or(200);
        let phrase = msg.reason().unwrap_or("").to_string();
        let Some(tag) = msg.to_tag().map(str::to_string) else {
            su_log!(NUA, 3, "nua: {}: 2xx without To tag dropped", self.call_id);
            return;
        };
        let ours = self.dialog.as_ref().is_some_and(|d| d.id.remote_tag == tag);
        let confirmed = self
            .dialog
            .as_ref()
            .is_some_and(|d| d.state == DialogState::Confirmed);
        if ours && confirmed {
            // A retransmission: ACK it again (§13.2.2.4).
            if let Some((seq, ack, hop)) = self.last_ack.clone()
                && Some(seq) == msg.cseq().map(|c| c.0)
            {
                self.outputs.push_back(CallOutput::Ack {
                    msg: ack,
                    next_hop: hop,
                });
            }
            return;
        }
        let unwanted = confirmed
            || self.cancelled
            || matches!(self.state, CallState::Terminated | CallState::Terminating);
        let Ok(mut dialog) = Dialog::from_uac(&invite, &msg) else {
            su_log!(NUA, 3, "nua: {}: 2xx without Contact dropped", self.call_id);
            return;
        };
        if unwanted {
            // A second fork's 2xx, or one that crossed our CANCEL: ACK it and
            // end that dialog at once.
            su_log!(
                NUA,
                5,
                "nua: {}: ACK and BYE to a 2xx not kept ({tag})",
                self.call_id
            );
            self.ack(&mut dialog, self.cseq, None, false);
            if let Some(bye) = self.in_dialog_request(&mut dialog, Method::Bye, None, None, &[]) {
                let (uri, routes) = dialog.request_target();
                self.outputs.push_back(CallOutput::Request {
                    purpose: Purpose::Discard,
                    msg: bye,
                    next_hop: next_hop(&uri, &routes),
                });
            }
            if self.cancelled && self.state != CallState::Terminated {
                self.event(EventKind::RInvite, status, &phrase, Some(msg.clone()));
                self.set_state(CallState::Terminated, 487, "Call Cancelled", Some(msg));
            }
            return;
        }
        match self.dialog.take() {
            Some(mut early) if early.id.remote_tag == tag => {
                early.on_response(&msg);
                dialog = early;
            }
            Some(other) => {
                self.outputs.push_back(CallOutput::DialogRemoved(other.id));
                self.outputs
                    .push_back(CallOutput::DialogAdded(dialog.id.clone()));
            }
            None => self
                .outputs
                .push_back(CallOutput::DialogAdded(dialog.id.clone())),
        }
        self.peer_allow = msg
            .header_lines(HeaderName::Allow)
            .collect::<Vec<_>>()
            .join(",");
        self.set_state(CallState::Completing, status, &phrase, None);
        let mut ack_body = None;
        let mut media_ok = true;
        if self.offered {
            media_ok = self.take_answer(&msg);
        } else if self.soa.state() == SoaState::Established {
            // The offer came in a reliable provisional response and our
            // PRACK answered it.
        } else if has_sdp(&msg) {
            match self.soa.process_offer(body_text(&msg)) {
                Ok(answer) => ack_body = Some(Bytes::from(answer.to_string())),
                Err(e) => {
                    su_log!(NUA, 3, "nua: {}: offer in 2xx refused: {e}", self.call_id);
                    media_ok = false;
                }
            }
        } else {
            media_ok = false;
        }
        let seq = self.cseq;
        self.ack(&mut dialog, seq, ack_body, true);
        self.dialog = Some(dialog);
        self.arm_session(now, session_expires(&msg), true);
        self.event(EventKind::RInvite, status, &phrase, Some(msg.clone()));
        if media_ok {
            self.set_state(CallState::Ready, status, &phrase, Some(msg));
        } else {
            // RFC 3261 §13.2.2.4: ACK, then end the session.
            self.event(EventKind::IError, 488, "Not Acceptable Here", None);
            self.send_bye();
        }
    }

    fn reinvite_response(&mut self, now: Instant, msg: Message) {
        let status = msg.status().unwrap_or(0);
        let phrase = msg.reason().unwrap_or("").to_string();
        let seq = msg.cseq().map(|c| c.0);
        if status < 200 {
            return;
        }
        if status < 300 {
            if self.reinvite_seq != seq {
                // A retransmitted 2xx: ACK again.
                if let Some((s, ack, hop)) = self.last_ack.clone()
                    && Some(s) == seq
                {
                    self.outputs.push_back(CallOutput::Ack {
                        msg: ack,
                        next_hop: hop,
                    });
                }
                return;
            }
            self.reinvite_seq = None;
            let ok = self.take_answer(&msg);
            let Some(mut dialog) = self.dialog.take() else {
                return;
            };
            dialog.on_response(&msg);
            if let Some(s) = seq {
                self.ack(&mut dialog, s, None, true);
            }
            self.dialog = Some(dialog);
            self.arm_session(now, session_expires(&msg), true);
            self.event(EventKind::RInvite, status, &phrase, Some(msg));
            if !ok {
                self.event(EventKind::IError, 488, "Not Acceptable Here", None);
                self.send_bye();
            }
            return;
        }
        if self.reinvite_seq != seq {
            return;
        }
        if (status == 401 || status == 407) && self.retry_with_credentials(Purpose::ReInvite, &msg)
        {
            return;
        }
        self.reinvite_seq = None;
        self.soa.rollback();
        self.event(EventKind::RInvite, status, &phrase, Some(msg));
        match status {
            491 => {
                // RFC 3261 §14.1: the owner of the Call-ID waits 2.1-4 s,
                // the other side 0-2 s, in units of 10 ms.
                let r = self.ids.u64();
                let ms = match self.role {
                    Role::Uac => 2100 + (r % 191) * 10,
                    Role::Uas => (r % 201) * 10,
                };
                self.glare_retry_at = Some(now + Duration::from_millis(ms));
            }
            408 | 481 => self.send_bye(),
            _ => {}
        }
    }

    /// A request of our transaction failed without a response (timeout,
    /// unreachable destination): reported with `status`.
    pub fn request_failed(&mut self, _now: Instant, purpose: Purpose, status: u16, phrase: &str) {
        match purpose {
            Purpose::Invite => {
                if matches!(self.state, CallState::Calling | CallState::Proceeding) {
                    self.event(EventKind::RInvite, status, phrase, None);
                    self.set_state(CallState::Terminated, status, phrase, None);
                }
            }
            Purpose::ReInvite => {
                self.reinvite_seq = None;
                self.soa.rollback();
                self.event(EventKind::RInvite, status, phrase, None);
                // RFC 3261 §14.1: a re-INVITE that times out ends the call.
                self.send_bye();
            }
            Purpose::Bye => {
                self.event(EventKind::RBye, status, phrase, None);
                self.set_state(CallState::Terminated, status, phrase, None);
            }
            Purpose::Update => {
                self.soa.rollback();
                self.event(EventKind::RUpdate, status, phrase, None);
            }
            Purpose::Info => self.event(EventKind::RInfo, status, phrase, None),
            Purpose::Prack => self.event(EventKind::RPrack, status, phrase, None),
            Purpose::Refer => {
                self.refer_subscribed = false;
                self.event(EventKind::RRefer, status, phrase, None);
            }
            Purpose::Notify => {
                self.refer_notifier = false;
                self.event(EventKind::RNotify, status, phrase, None);
            }
            Purpose::Discard => {}
        }
    }

    /// The ACK of a 2xx of ours: stops its retransmissions; takes the
    /// answer when our 2xx carried the offer (no answer: BYE).
    pub fn handle_ack(&mut self, _now: Instant, ack: Message) {
        let seq = ack.cseq().map(|c| c.0);
        let Some(unacked) = self.unacked.take_if(|u| Some(u.cseq) == seq) else {
            return;
        };
        let mut ok = true;
        if unacked.answer_in_ack {
            ok = has_sdp(&ack) && self.soa.process_answer(body_text(&ack)).is_ok();
            if !ok {
                self.soa.rollback();
            }
        }
        self.event(EventKind::IAck, 200, "OK", Some(ack));
        if !ok {
            self.event(EventKind::IError, 488, "Not Acceptable Here", None);
            self.send_bye();
            return;
        }
        if self.state == CallState::Completed {
            self.set_state(CallState::Ready, 200, "OK", None);
        }
        if self.bye_after_ack {
            self.bye_after_ack = false;
            self.send_bye();
        }
    }

    /// A CANCEL of the INVITE (the engine has answered it 200): the INVITE
    /// is answered 487 unless a final response went first.
    pub fn handle_cancel(&mut self, _now: Instant, cancel: Message) {
        let (Some(server), Some(invite)) = (self.invite_server, self.invite.clone()) else {
            return;
        };
        if !matches!(self.state, CallState::Received | CallState::Early) {
            return;
        }
        self.event(EventKind::ICancel, 200, "OK", Some(cancel));
        self.reply(server, &invite, 487, "Request Terminated", None);
        self.set_state(CallState::Terminated, 487, "Request Terminated", None);
    }

    /// A request inside the call's dialog.
    pub fn handle_request(&mut self, now: Instant, server: ServerId, req: Message) {
        let Some(mut dialog) = self.dialog.take() else {
            self.reply(server, &req, 481, "Call/Transaction Does Not Exist", None);
            return;
        };
        let checked = dialog.on_request(&req);
        self.dialog = Some(dialog);
        if let Err(e) = checked {
            su_log!(NUA, 3, "nua: {}: {e}", self.call_id);
            self.reply(server, &req, 500, "Lower CSeq", None);
            return;
        }
        match req.method() {
            Method::Bye => {
                self.reply(server, &req, 200, "OK", None);
                if matches!(self.state, CallState::Received | CallState::Early)
                    && let (Some(s), Some(invite)) = (self.invite_server, self.invite.clone())
                {
                    self.reply(s, &invite, 487, "Request Terminated", None);
                }
                self.event(EventKind::IBye, 200, "OK", Some(req));
                self.set_state(CallState::Terminated, 200, "Received BYE", None);
            }
            Method::Invite => self.incoming_reinvite(now, server, req),
            Method::Update => {
                if self.soa.state() == SoaState::OfferSent || self.reinvite_seq.is_some() {
                    self.reply(server, &req, 491, "Request Pending", None);
                    return;
                }
                let mut body = None;
                if !req.body_bytes().is_empty() {
                    if !has_sdp(&req) {
                        self.reply(server, &req, 415, "Unsupported Media Type", None);
                        return;
                    }
                    match self.soa.process_offer(body_text(&req)) {
                        Ok(answer) => body = Some(Bytes::from(answer.to_string())),
                        Err(e) => {
                            let (s, p) = e.sip_status();
                            self.reply(server, &req, s, p, None);
                            return;
                        }
                    }
                }
                let (extra, se) = self.uas_session(&req);
                self.reply_with(server, &req, 200, "OK", body, &extra);
                if self.state == CallState::Ready {
                    self.arm_session(now, se, false);
                }
                self.event(EventKind::IUpdate, 200, "OK", Some(req));
            }
            Method::Info => {
                self.reply(server, &req, 200, "OK", None);
                self.event(EventKind::IInfo, 200, "OK", Some(req));
            }
            Method::Message => {
                self.reply(server, &req, 200, "OK", None);
                self.event(EventKind::IMessage, 200, "OK", Some(req));
            }
            Method::Options => {
                self.reply(server, &req, 200, "OK", None);
                self.event(EventKind::IOptions, 200, "OK", Some(req));
            }
            Method::Ack => self.handle_ack(now, req),
            Method::Prack => self.incoming_prack(now, server, req),
            Method::Refer => self.incoming_refer(server, req),
            Method::Notify => self.incoming_notify(server, req),
            _ => {
                self.reply(server, &req, 405, "Method Not Allowed", None);
            }
        }
    }

    fn incoming_reinvite(&mut self, now: Instant, server: ServerId, req: Message) {
        if self.state != CallState::Ready {
            if self.unacked.is_some() {
                self.retry_after(server, &req);
            } else {
                self.reply(server, &req, 491, "Request Pending", None);
            }
            return;
        }
        if self.reinvite_seq.is_some() || self.soa.state() == SoaState::OfferSent {
            // Glare (RFC 3261 §14.2).
            self.reply(server, &req, 491, "Request Pending", None);
            return;
        }
        if self.unacked.is_some() {
            self.retry_after(server, &req);
            return;
        }
        let (body, answer_in_ack) = if req.body_bytes().is_empty() {
            match self.soa.generate_offer() {
                Ok(offer) => (Bytes::from(offer.to_string()), true),
                Err(e) => {
                    let (s, p) = e.sip_status();
                    self.reply(server, &req, s, p, None);
                    return;
                }
            }
        } else if !has_sdp(&req) {
            self.reply(server, &req, 415, "Unsupported Media Type", None);
            return;
        } else {
            match self.soa.process_offer(body_text(&req)) {
                Ok(answer) => (Bytes::from(answer.to_string()), false),
                Err(e) => {
                    let (s, p) = e.sip_status();
                    self.reply(server, &req, s, p, None);
                    return;
                }
            }
        };
        let (extra, se) = self.uas_session(&req);
        if let Some(ok) = self.reply_with(server, &req, 200, "OK", Some(body), &extra) {
            self.start_unacked(now, server, ok, &req, answer_in_ack);
        }
        self.arm_session(now, se, false);
        self.event(EventKind::IInvite, 200, "OK", Some(req));
    }

    /// A PRACK: 200 when its RAck names our unacknowledged reliable
    /// provisional response (the next queued one goes out), else 481
    /// (RFC 3262 §3).
    fn incoming_prack(&mut self, now: Instant, server: ServerId, req: Message) {
        let rack = req
            .typed::<sofia_msg::headers::RAck>()
            .and_then(Result::ok)
            .map(|r| (r.rseq, r.cseq, r.method));
        let matches = match (&self.reliable, rack) {
            (Some(r), Some((rseq, cseq, Method::Invite))) => r.rseq == rseq && cseq == self.cseq,
            _ => false,
        };
        if !matches {
            self.reply(server, &req, 481, "Call/Transaction Does Not Exist", None);
            return;
        }
        self.reliable = None;
        let mut body = None;
        if has_sdp(&req) && self.soa.state() == SoaState::OfferSent {
            if self.soa.process_answer(body_text(&req)).is_err() {
                self.soa.rollback();
            }
        } else if has_sdp(&req) {
            match self.soa.process_offer(body_text(&req)) {
                Ok(answer) => body = Some(Bytes::from(answer.to_string())),
                Err(e) => {
                    let (s, p) = e.sip_status();
                    self.reply(server, &req, s, p, None);
                    return;
                }
            }
        }
        self.reply(server, &req, 200, "OK", body);
        self.event(EventKind::IPrack, 200, "OK", Some(req));
        if let (Some((status, phrase)), Some(s), Some(invite)) = (
            self.reliable_queue.pop_front(),
            self.invite_server,
            self.invite.clone(),
        ) && matches!(self.state, CallState::Received | CallState::Early)
        {
            self.send_reliable(now, s, &invite, status, &phrase);
        }
    }

    /// A REFER in the call (RFC 3515): 202 Accepted and a first NOTIFY
    /// (`100 Trying`); the user places the new call and reports with
    /// [`Call::refer_notify`]. 400 without exactly one Refer-To.
    fn incoming_refer(&mut self, server: ServerId, req: Message) {
        let refer_to = req.header_lines(HeaderName::ReferTo).count();
        if refer_to != 1 {
            self.reply(server, &req, 400, "Bad Refer-To Header", None);
            return;
        }
        if self.state != CallState::Ready {
            self.reply(server, &req, 491, "Request Pending", None);
            return;
        }
        self.reply(server, &req, 202, "Accepted", None);
        self.refer_notifier = true;
        self.event(EventKind::IRefer, 202, "Accepted", Some(req));
        self.send_refer_notify(100, "Trying");
    }

    /// A NOTIFY of the implicit subscription of our REFER: 200 and
    /// `i_notify`; `terminated` ends it. Other NOTIFYs in a call get 481.
    fn incoming_notify(&mut self, server: ServerId, req: Message) {
        let refer_event = req
            .typed::<sofia_msg::headers::Event>()
            .and_then(Result::ok)
            .is_some_and(|e| e.event_type.0.eq_ignore_ascii_case("refer"));
        if !self.refer_subscribed || !refer_event {
            self.reply(server, &req, 481, "Subscription Does Not Exist", None);
            return;
        }
        let terminated = req
            .typed::<sofia_msg::headers::SubscriptionState>()
            .and_then(Result::ok)
            .is_some_and(|s| s.state() == sofia_msg::headers::SubState::Terminated);
        if terminated {
            self.refer_subscribed = false;
        }
        self.reply(server, &req, 200, "OK", None);
        self.event(EventKind::INotify, 200, "OK", Some(req));
    }

    /// 500 with a Retry-After of 0-10 s (RFC 3261 §14.2).
    fn retry_after(&mut self, server: ServerId, req: &Message) {
        let secs = self.ids.u64() % 11;
        let tag = self.local_tag.clone();
        if let Ok(msg) = ResponseBuilder::reply_to(req, 500, "Server Internal Error", Some(&tag))
            .header(HeaderName::RetryAfter, &secs.to_string())
            .header(HeaderName::Server, &self.params.user_agent)
            .build()
        {
            self.outputs.push_back(CallOutput::Respond { server, msg });
        }
    }

    /// Refreshes the session (RFC 4028 §7.3, §9): UPDATE without a body
    /// when the peer allows UPDATE, else a re-INVITE with our current
    /// description. Another refresh is tried at the next half-interval if
    /// this one cannot go now (an offer is pending).
    fn refresh_session(&mut self, now: Instant, t: SessionTimer) {
        let half = Duration::from_secs(u64::from(t.interval.max(2)) / 2);
        self.session = Some(SessionTimer {
            at: now + half,
            ..t
        });
        if self.state != CallState::Ready {
            return;
        }
        let peer_updates = self.peer_allows_update();
        let sent = if peer_updates {
            self.send_in_dialog(
                Purpose::Update,
                Method::Update,
                None,
                self.session_headers(),
                0,
            )
            .is_some()
        } else {
            self.reinvite(now).is_ok()
        };
        su_log!(
            NUA,
            5,
            "nua: {}: session refresh by {}{}",
            self.call_id,
            if peer_updates { "UPDATE" } else { "re-INVITE" },
            if sent { "" } else { " not sent" }
        );
    }

    /// The peer listed UPDATE in the Allow of its INVITE or 2xx.
    fn peer_allows_update(&self) -> bool {
        self.peer_allow
            .split(',')
            .any(|m| m.trim().eq_ignore_ascii_case("UPDATE"))
    }

    /// Runs the timers that are due: 2xx retransmissions and their timeout
    /// (BYE), the retry of a re-INVITE after 491.
    pub fn handle_timeout(&mut self, now: Instant) {
        if let Some(u) = self.unacked.as_mut() {
            if now >= u.deadline {
                su_log!(
                    NUA,
                    3,
                    "nua: {}: no ACK for our 2xx; sending BYE",
                    self.call_id
                );
                self.unacked = None;
                self.event(EventKind::IError, 408, "No ACK", None);
                self.send_bye();
            } else if !u.reliable && now >= u.next {
                u.interval = (u.interval * 2).min(self.params.timers.t2);
                u.next = now + u.interval;
                let (server, msg) = (u.server, u.msg.clone());
                self.outputs.push_back(CallOutput::Respond { server, msg });
            }
        }
        if let Some(r) = self.reliable.as_mut() {
            if now >= r.deadline {
                // RFC 3262 §3: no PRACK within 64*T1: reject the INVITE.
                self.reliable = None;
                self.reliable_queue.clear();
                if let (Some(s), Some(invite)) = (self.invite_server, self.invite.clone())
                    && matches!(self.state, CallState::Received | CallState::Early)
                {
                    self.reply(s, &invite, 504, "No PRACK", None);
                    self.set_state(CallState::Terminated, 504, "No PRACK", None);
                }
            } else if now >= r.next {
                r.interval *= 2;
                r.next = now + r.interval;
                let msg = r.msg.clone();
                if let Some(server) = self.invite_server {
                    self.outputs.push_back(CallOutput::Respond { server, msg });
                }
            }
        }
        if let Some(t) = self.session
            && now >= t.at
        {
            if t.we_refresh {
                self.refresh_session(now, t);
            } else {
                su_log!(
                    NUA,
                    3,
                    "nua: {}: session expired without refresh",
                    self.call_id
                );
                self.session = None;
                self.event(EventKind::IError, 408, "Session Timer Expired", None);
                self.send_bye();
            }
        }
        if self.glare_retry_at.is_some_and(|at| now >= at) {
            self.glare_retry_at = None;
            if let Err(e) = self.reinvite(now) {
                su_log!(NUA, 3, "nua: {}: re-INVITE not retried: {e}", self.call_id);
            }
        }
    }
}
