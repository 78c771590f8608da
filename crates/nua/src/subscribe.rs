//! The SUBSCRIBE client (RFC 6665) as a sans-IO state machine.
//!
//! [`SubscriptionState`] keeps one subscription to one event package at
//! one resource: the Call-ID and From tag of its SUBSCRIBEs, the dialog the
//! subscription lives in, the state the notifier reports
//! ([`SubState`]), and the times of the next refresh and of timer N. It
//! reads no clock and sends nothing: the caller passes `now`, and takes
//! what to do from [`SubscriptionState::poll_output`] — a SUBSCRIBE to send
//! (locate [`SubscriptionState::next_hop`], build it with
//! [`SubscriptionState::build_request`]), a report for the user, a dialog
//! to register with or remove from the transaction engine. Every final
//! response goes to [`SubscriptionState::handle_response`], every NOTIFY of
//! the subscription's Call-ID to [`SubscriptionState::handle_notify`]
//! (which says how to answer it), and [`SubscriptionState::handle_timeout`]
//! runs at [`SubscriptionState::poll_timeout`].
//!
//! # Rules
//!
//! - **The dialog** is made by whichever comes first: the 2xx to the
//!   initial SUBSCRIBE, or a NOTIFY (which may overtake the 2xx,
//!   RFC 6665 §4.1.2.4). One subscription keeps one dialog: a NOTIFY from
//!   another fork of the SUBSCRIBE (another From tag) is answered
//!   481 Subscription Does Not Exist, so that notifier ends its copy
//!   without the user agent keeping any state for it (RFC 6665 §4.1.4 and §5.4.9, the
//!   "first dialog-establishing message" rule); a 2xx whose To tag is not
//!   the dialog's completes the transaction and makes no second dialog.
//! - **Refresh**: a 2xx's `Expires` (else the expiry asked for) is refreshed
//!   by [`refresh_delay`], the registration rule; a
//!   NOTIFY whose `Subscription-State` carries a shorter `expires` brings
//!   the refresh forward. Refreshes go inside the dialog.
//! - **Responses**: 401/407 are answered with the handle's digest client
//!   (three rounds at most); 423 Interval Too Brief is retried with its
//!   `Min-Expires` (once per raise); any other failure — 489 Bad Event,
//!   481 to a refresh, 408 — ends the subscription and is reported
//!   (`r_subscribe`, state `terminated`).
//! - **NOTIFY**: answered 200 and reported (`i_notify` with the request and
//!   its body) when it carries an `Event` of this subscription and a valid
//!   `Subscription-State`; without `Event` or `Subscription-State` it gets
//!   400, of another event or dialog 481, with a CSeq lower than the last
//!   500. Its Contact refreshes the dialog's remote target.
//!   `active` and `pending` set the state; `terminated` ends the
//!   subscription.
//! - **Terminated**: with reason `deactivated` or `timeout` a new
//!   subscription is made at once (or after `retry-after`), with
//!   `probation` or `giveup` after `retry-after` (not at all without
//!   one); `rejected`, `noresource`, `invariant`, any other reason or none
//!   end it for good, and so does every `terminated` after an
//!   unsubscription or a fetch (`Expires: 0`). At most
//!   three new subscriptions are made in a row without a refresh in
//!   between.
//! - **Timer N**: when no NOTIFY comes within 64·T1 of the 2xx to the
//!   initial SUBSCRIBE, the subscription ends, reported as `i_notify` 408
//!   Early Subscription Timeouts without NOTIFY (sofia-sip's words).
//! - **Unsubscribe**: a SUBSCRIBE with `Expires: 0` in the dialog
//!   (`r_unsubscribe`); the dialog is kept until the final NOTIFY, or for
//!   64·T1 when none comes. A command given while a SUBSCRIBE is on its way
//!   runs when that one is answered.

use std::collections::VecDeque;
use std::fmt;
use std::time::{Duration, Instant};

use sofia_iptsec::AuthClient;
use sofia_msg::headers::{Event, SubState as HeaderSubState, SubscriptionState as StateHeader};
use sofia_msg::{HeaderName, Message, Method, RequestBuilder, Uri};
use sofia_nta::Timers;
use sofia_nta::dialog::{Dialog, DialogError, DialogId, DialogState};
use sofia_su::su_log;

use crate::{Error, EventKind, refresh_delay};

/// Challenges answered in a row before the challenge is reported as final.
const MAX_AUTH_ROUNDS: u32 = 3;
/// New subscriptions made in a row after `terminated` NOTIFYs without a
/// refresh in between.
const MAX_RESUBSCRIBES: u32 = 3;

/// The state of a subscription, sofia-sip's `nua_substate_t`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SubState {
    /// Subscribing: no NOTIFY has told the state yet.
    Embryonic,
    /// The notifier has not authorized it yet (`pending`).
    Pending,
    /// Notifications flow (`active`).
    Active,
    /// The subscription is over.
    Terminated,
}

impl SubState {
    /// sofia-sip's name without its `nua_substate_` prefix (`active`).
    pub fn name(self) -> &'static str {
        match self {
            SubState::Embryonic => "embryonic",
            SubState::Pending => "pending",
            SubState::Active => "active",
            SubState::Terminated => "terminated",
        }
    }
}

impl fmt::Display for SubState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Where the subscription's requests stand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Never subscribed.
    Idle,
    /// The initial SUBSCRIBE is on its way.
    Subscribing,
    /// Subscribed (a 2xx or a NOTIFY came); refreshed when due.
    Subscribed,
    /// Our unsubscription is on its way or answered; the final NOTIFY is
    /// awaited.
    Unsubscribing,
    /// Over.
    Terminated,
}

/// The fixed parts of a subscription.
#[derive(Debug, Clone)]
pub struct SubscriptionParams {
    /// The `Event` value, e.g. `presence` or `dialog;id=7`.
    pub event: String,
    /// The `Accept` value, if any (`application/pidf+xml`).
    pub accept: Option<String>,
    /// Our address: From of the SUBSCRIBEs.
    pub local_uri: String,
    /// The resource: To and Request-URI of the initial SUBSCRIBE.
    pub remote_uri: String,
    /// Our Contact URI (without angle brackets).
    pub contact: String,
    /// The Call-ID of every SUBSCRIBE of this subscription.
    pub call_id: String,
    /// Our tag.
    pub from_tag: String,
    /// The User-Agent header value, if any.
    pub user_agent: Option<String>,
    /// The transaction timers: 64·T1 is timer N.
    pub timers: Timers,
}

/// Something to tell the user.
#[derive(Debug, Clone)]
pub struct Report {
    /// `r_subscribe`, `r_unsubscribe` or `i_notify`.
    pub kind: EventKind,
    /// The response's status, or our answer's for `i_notify`.
    pub status: u16,
    /// The reason phrase.
    pub phrase: String,
    /// The response or the NOTIFY.
    pub message: Option<Message>,
    /// The subscription's state after it.
    pub substate: SubState,
}

/// What the caller does for a subscription.
#[derive(Debug, Clone)]
pub enum SubscriptionOutput {
    /// Send a SUBSCRIBE: locate [`SubscriptionState::next_hop`], then
    /// build it with [`SubscriptionState::build_request`].
    Send,
    /// Tell the user.
    Report(Report),
    /// A dialog to register with the transaction engine.
    DialogAdded(DialogId),
    /// A dialog that has ended.
    DialogRemoved(DialogId),
}

/// How to answer a NOTIFY.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotifyAnswer {
    /// The status code.
    pub status: u16,
    /// The reason phrase.
    pub phrase: &'static str,
}

impl NotifyAnswer {
    fn new(status: u16, phrase: &'static str) -> NotifyAnswer {
        NotifyAnswer { status, phrase }
    }
}

/// What the next SUBSCRIBE does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Request {
    Subscribe,
    Unsubscribe,
}

/// A command that waits for the SUBSCRIBE on its way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Queued {
    Subscribe(u32),
    Unsubscribe,
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

/// The URI of a Contact header, when it has one.
fn contact_uri(msg: &Message) -> Option<String> {
    match msg.typed::<sofia_msg::headers::Contact>() {
        Some(Ok(sofia_msg::headers::Contact::Addr(a))) => Some(a.uri().as_str().to_string()),
        _ => None,
    }
}

/// One subscription's state (see the [module documentation](self)).
#[derive(Debug)]
pub struct SubscriptionState {
    params: SubscriptionParams,
    phase: Phase,
    substate: SubState,
    /// CSeq of requests outside the dialog.
    cseq: u32,
    /// What the next built request is; `Some` from a send until its final
    /// response.
    pending: Option<Request>,
    /// The CSeq of the request on its way.
    sent_cseq: Option<u32>,
    /// The last SUBSCRIBE built (a 2xx makes the dialog from it).
    sent: Option<Message>,
    requested: u32,
    granted: Option<u32>,
    dialog: Option<Dialog>,
    /// The peer's tag of the last dialog that ended, whose stray NOTIFYs
    /// must not make a new one.
    ended_tag: Option<String>,
    /// A NOTIFY came since the initial SUBSCRIBE was sent.
    notified: bool,
    refresh_at: Option<Instant>,
    /// Timer N, or the wait for the final NOTIFY after unsubscribing.
    timer_n: Option<Instant>,
    /// A new subscription after a `terminated` NOTIFY.
    retry_at: Option<Instant>,
    resubscribes: u32,
    auth_rounds: u32,
    queued: Option<Queued>,
    outputs: VecDeque<SubscriptionOutput>,
}

impl SubscriptionState {
    /// A subscription that has not sent anything.
    pub fn new(params: SubscriptionParams) -> SubscriptionState {
        SubscriptionState {
            params,
            phase: Phase::Idle,
            substate: SubState::Embryonic,
            cseq: 0,
            pending: None,
            sent_cseq: None,
            sent: None,
            requested: 3600,
            granted: None,
            dialog: None,
            ended_tag: None,
            notified: false,
            refresh_at: None,
            timer_n: None,
            retry_at: None,
            resubscribes: 0,
            auth_rounds: 0,
            queued: None,
            outputs: VecDeque::new(),
        }
    }

    /// Where its requests stand.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// The state the notifier reported last.
    pub fn substate(&self) -> SubState {
        self.substate
    }

    /// The `Event` value.
    pub fn event(&self) -> &str {
        &self.params.event
    }

    /// The Call-ID of its SUBSCRIBEs (and of the NOTIFYs it takes).
    pub fn call_id(&self) -> &str {
        &self.params.call_id
    }

    /// The dialog, once a 2xx or NOTIFY made it.
    pub fn dialog(&self) -> Option<&Dialog> {
        self.dialog.as_ref()
    }

    /// The expiry asked for, in seconds.
    pub fn requested(&self) -> u32 {
        self.requested
    }

    /// The expiry the last 2xx granted, in seconds.
    pub fn granted(&self) -> Option<u32> {
        self.granted
    }

    /// True while the subscription exists or is being made (not idle, not
    /// terminated).
    pub fn is_live(&self) -> bool {
        !matches!(self.phase, Phase::Idle | Phase::Terminated) || self.retry_at.is_some()
    }

    /// The next thing to do.
    pub fn poll_output(&mut self) -> Option<SubscriptionOutput> {
        self.outputs.pop_front()
    }

    fn set_phase(&mut self, phase: Phase) {
        if self.phase != phase {
            su_log!(
                NUA,
                5,
                "nua: subscription {} to {} {:?} -> {:?}",
                self.params.event,
                self.params.remote_uri,
                self.phase,
                phase
            );
            self.phase = phase;
        }
    }

    fn set_substate(&mut self, substate: SubState) {
        if self.substate != substate {
            su_log!(
                NUA,
                5,
                "nua: subscription {} to {} {} -> {}",
                self.params.event,
                self.params.remote_uri,
                self.substate,
                substate
            );
            self.substate = substate;
        }
    }

    fn report(&mut self, kind: EventKind, status: u16, phrase: &str, message: Option<Message>) {
        self.outputs.push_back(SubscriptionOutput::Report(Report {
            kind,
            status,
            phrase: phrase.to_string(),
            message,
            substate: self.substate,
        }));
    }

    fn send(&mut self, request: Request) {
        self.pending = Some(request);
        // A response to a request sent before is no longer the answer.
        self.sent_cseq = None;
        self.outputs.push_back(SubscriptionOutput::Send);
    }

    /// True while a SUBSCRIBE is on its way.
    fn in_flight(&self) -> bool {
        self.pending.is_some()
    }

    /// Subscribes for `expires` seconds (0: a fetch, one NOTIFY), or, when
    /// subscribed, refreshes with that expiry. While a SUBSCRIBE is on its
    /// way the command waits for its answer.
    pub fn subscribe(&mut self, _now: Instant, expires: u32) {
        if self.in_flight() {
            self.queued = Some(Queued::Subscribe(expires));
            return;
        }
        self.requested = expires;
        self.auth_rounds = 0;
        self.refresh_at = None;
        self.retry_at = None;
        self.resubscribes = 0;
        match self.phase {
            Phase::Subscribed if self.dialog.is_some() => self.send(Request::Subscribe),
            _ => self.start(),
        }
    }

    /// A new subscription outside any dialog.
    fn start(&mut self) {
        if let Some(d) = self.dialog.take() {
            self.cseq = self.cseq.max(d.local_seq);
            self.ended_tag = Some(d.id.remote_tag.clone());
            self.outputs
                .push_back(SubscriptionOutput::DialogRemoved(d.id));
        }
        self.notified = false;
        self.timer_n = None;
        self.granted = None;
        self.set_substate(SubState::Embryonic);
        self.set_phase(Phase::Subscribing);
        self.send(Request::Subscribe);
    }

    /// Ends the subscription: a SUBSCRIBE with `Expires: 0` (in the dialog
    /// when there is one); the answer gives `r_unsubscribe`. Without a
    /// subscription, `r_unsubscribe` 481 at once.
    pub fn unsubscribe(&mut self, _now: Instant) {
        if self.in_flight() {
            self.queued = Some(Queued::Unsubscribe);
            return;
        }
        self.retry_at = None;
        if matches!(self.phase, Phase::Idle | Phase::Terminated) {
            self.report(EventKind::RUnsubscribe, 481, "No Subscription", None);
            return;
        }
        self.auth_rounds = 0;
        self.refresh_at = None;
        self.timer_n = None;
        self.set_phase(Phase::Unsubscribing);
        self.send(Request::Unsubscribe);
    }

    /// Where the next SUBSCRIBE goes (a URI to locate per RFC 3263): the
    /// dialog's first loose route or remote target, else the resource.
    pub fn next_hop(&self) -> String {
        match &self.dialog {
            Some(d) => {
                let (uri, routes) = d.request_target();
                next_hop(&uri, &routes)
            }
            None => self.params.remote_uri.clone(),
        }
    }

    /// Builds the next SUBSCRIBE with this Via (a fresh branch each time):
    /// in the dialog when there is one, with `Event`, `Expires`, `Accept`,
    /// Contact, and `auth`'s credentials for every realm challenged so far.
    pub fn build_request(&mut self, via: &str, auth: &mut AuthClient) -> Result<Message, Error> {
        let request = self.pending.unwrap_or(Request::Subscribe);
        let expires = match request {
            Request::Subscribe => self.requested,
            Request::Unsubscribe => 0,
        };
        let p = &self.params;
        let (mut b, uri, seq) = match self.dialog.as_mut() {
            Some(d) => {
                let b = d.request(Method::Subscribe, via, None);
                (b, d.request_target().0, d.local_seq)
            }
            None => {
                self.cseq += 1;
                let b = RequestBuilder::new(Method::Subscribe, &p.remote_uri)
                    .header(HeaderName::Via, via)
                    .header(HeaderName::MaxForwards, "70")
                    .header(
                        HeaderName::From,
                        &format!("<{}>;tag={}", p.local_uri, p.from_tag),
                    )
                    .header(HeaderName::To, &format!("<{}>", p.remote_uri))
                    .header(HeaderName::CallId, &p.call_id)
                    .header(HeaderName::CSeq, &format!("{} SUBSCRIBE", self.cseq));
                (b, p.remote_uri.clone(), self.cseq)
            }
        };
        b = b
            .header(HeaderName::Contact, &format!("<{}>", p.contact))
            .header(HeaderName::Event, &p.event)
            .header(HeaderName::Expires, &expires.to_string());
        if let Some(accept) = &p.accept {
            b = b.header(HeaderName::Accept, accept);
        }
        if let Some(ua) = &p.user_agent {
            b = b.header(HeaderName::UserAgent, ua);
        }
        for (name, value) in auth.authorize("SUBSCRIBE", &uri, b"") {
            b = b.header(name, &value);
        }
        let msg = b.build()?;
        self.sent_cseq = Some(seq);
        self.sent = Some(msg.clone());
        Ok(msg)
    }

    /// Takes a response to a SUBSCRIBE of ours. Responses to older requests
    /// (another CSeq) and provisional ones change nothing.
    pub fn handle_response(&mut self, now: Instant, response: &Message, auth: &mut AuthClient) {
        let Some(status) = response.status() else {
            return;
        };
        let Some(request) = self.pending else {
            return;
        };
        let current = response
            .cseq()
            .is_some_and(|(n, m)| m == Method::Subscribe && Some(n) == self.sent_cseq);
        if !current || status < 200 {
            return;
        }
        let kind = match request {
            Request::Subscribe => EventKind::RSubscribe,
            Request::Unsubscribe => EventKind::RUnsubscribe,
        };
        let phrase = response.reason().unwrap_or("").to_string();
        if status == 401 || status == 407 {
            match auth.handle_response(response) {
                Ok(true) if self.auth_rounds < MAX_AUTH_ROUNDS => {
                    self.auth_rounds += 1;
                    su_log!(
                        NUA,
                        5,
                        "nua: SUBSCRIBE {} challenged ({status}), answering",
                        self.params.remote_uri
                    );
                    self.send(request);
                }
                Ok(_) => self.failed(now, kind, status, &phrase, Some(response.clone())),
                Err(e) => {
                    su_log!(
                        NUA,
                        3,
                        "nua: SUBSCRIBE {} not authenticated: {e}",
                        self.params.remote_uri
                    );
                    self.failed(now, kind, status, &phrase, Some(response.clone()));
                }
            }
            return;
        }
        self.auth_rounds = 0;
        // A non-challenge may carry a nextnonce; nothing else to do with it.
        let _ = auth.handle_response(response);
        if status == 423 && request == Request::Subscribe {
            let min = response
                .header(HeaderName::MinExpires)
                .and_then(|v| v.trim().parse::<u32>().ok());
            match min {
                Some(min) if min > self.requested => {
                    su_log!(
                        NUA,
                        5,
                        "nua: SUBSCRIBE {} interval too brief, retrying with {min} s",
                        self.params.remote_uri
                    );
                    self.requested = min;
                    self.send(request);
                }
                _ => self.failed(now, kind, status, &phrase, Some(response.clone())),
            }
            return;
        }
        if !(200..300).contains(&status) {
            self.failed(now, kind, status, &phrase, Some(response.clone()));
            return;
        }
        self.pending = None;
        self.sent_cseq = None;
        self.dialog_from_2xx(response);
        if request == Request::Unsubscribe {
            self.report(kind, status, &phrase, Some(response.clone()));
            if self.phase == Phase::Unsubscribing {
                if self.dialog.is_some() {
                    // The final NOTIFY ends it; 64·T1 at most.
                    self.timer_n = Some(now + self.params.timers.t1x64());
                } else {
                    self.terminate();
                }
            }
            self.run_queued(now);
            return;
        }
        let granted = response
            .header(HeaderName::Expires)
            .and_then(|v| v.trim().parse::<u32>().ok())
            .unwrap_or(self.requested);
        self.granted = Some(granted);
        if self.phase == Phase::Subscribing {
            self.set_phase(Phase::Subscribed);
            if !self.notified {
                self.timer_n = Some(now + self.params.timers.t1x64());
            }
        }
        if self.phase == Phase::Subscribed && granted > 0 {
            let delay = refresh_delay(granted);
            self.refresh_at = now.checked_add(delay);
            su_log!(
                NUA,
                5,
                "nua: subscribed to {} of {} for {granted} s, refresh in {delay:?}",
                self.params.event,
                self.params.remote_uri
            );
        }
        self.report(kind, status, &phrase, Some(response.clone()));
        self.run_queued(now);
    }

    /// The dialog a 2xx makes, when none exists yet (RFC 3261 §12.1.2; a
    /// 2xx without Contact makes one with the resource as remote target).
    fn dialog_from_2xx(&mut self, response: &Message) {
        let Some(tag) = response.to_tag() else {
            return;
        };
        if let Some(d) = &mut self.dialog {
            if d.id.remote_tag == tag {
                d.on_response(response);
            } else {
                su_log!(
                    NUA,
                    5,
                    "nua: 2xx to SUBSCRIBE from another fork (tag {tag}) makes no dialog"
                );
            }
            return;
        }
        if self.phase == Phase::Terminated {
            return;
        }
        let Some(request) = &self.sent else {
            return;
        };
        let dialog = match Dialog::from_uac(request, response) {
            Ok(d) => Some(d),
            Err(DialogError::Missing("Contact")) => {
                let mut routes: Vec<String> = response
                    .header_lines(HeaderName::RecordRoute)
                    .map(|r| r.trim().to_string())
                    .collect();
                routes.reverse();
                Some(Dialog {
                    id: DialogId {
                        call_id: self.params.call_id.clone(),
                        local_tag: self.params.from_tag.clone(),
                        remote_tag: tag.to_string(),
                    },
                    state: DialogState::Confirmed,
                    local_uri: self.params.local_uri.clone(),
                    remote_uri: self.params.remote_uri.clone(),
                    local_seq: self.cseq,
                    remote_seq: None,
                    remote_target: self.params.remote_uri.clone(),
                    route_set: routes,
                    secure: false,
                })
            }
            Err(e) => {
                su_log!(NUA, 3, "nua: 2xx to SUBSCRIBE makes no dialog: {e}");
                None
            }
        };
        if let Some(d) = dialog {
            self.added(d);
        }
    }

    fn added(&mut self, d: Dialog) {
        self.ended_tag = None;
        su_log!(
            NUA,
            5,
            "nua: subscription {} dialog {} / {}",
            self.params.event,
            d.id.local_tag,
            d.id.remote_tag
        );
        self.outputs
            .push_back(SubscriptionOutput::DialogAdded(d.id.clone()));
        self.dialog = Some(d);
    }

    /// The SUBSCRIBE on its way ended without a final response (a timeout,
    /// or it could not be sent; `cseq` `None` when it was never built):
    /// reported with `status` and `phrase`, the subscription ends. A
    /// failure of an older SUBSCRIBE than the last one built changes
    /// nothing.
    pub fn transaction_failed(
        &mut self,
        now: Instant,
        cseq: Option<u32>,
        status: u16,
        phrase: &str,
    ) {
        let Some(request) = self.pending else {
            return;
        };
        if cseq.is_some() && cseq != self.sent_cseq {
            return;
        }
        let kind = match request {
            Request::Subscribe => EventKind::RSubscribe,
            Request::Unsubscribe => EventKind::RUnsubscribe,
        };
        self.failed(now, kind, status, phrase, None);
    }

    /// A final failure: reported, the subscription ends; a queued command
    /// runs.
    fn failed(
        &mut self,
        now: Instant,
        kind: EventKind,
        status: u16,
        phrase: &str,
        message: Option<Message>,
    ) {
        self.pending = None;
        self.sent_cseq = None;
        self.auth_rounds = 0;
        self.terminate();
        self.report(kind, status, phrase, message);
        match self.queued.take() {
            Some(Queued::Subscribe(expires)) => self.subscribe(now, expires),
            Some(Queued::Unsubscribe) => {
                self.report(EventKind::RUnsubscribe, 481, "No Subscription", None)
            }
            None => {}
        }
    }

    fn run_queued(&mut self, now: Instant) {
        match self.queued.take() {
            Some(Queued::Subscribe(expires)) => self.subscribe(now, expires),
            Some(Queued::Unsubscribe) => self.unsubscribe(now),
            None => {}
        }
    }

    /// Ends the subscription: its dialog removed, its timers stopped.
    fn terminate(&mut self) {
        if let Some(d) = self.dialog.take() {
            self.cseq = self.cseq.max(d.local_seq);
            self.ended_tag = Some(d.id.remote_tag.clone());
            self.outputs
                .push_back(SubscriptionOutput::DialogRemoved(d.id));
        }
        self.refresh_at = None;
        self.timer_n = None;
        self.set_substate(SubState::Terminated);
        self.set_phase(Phase::Terminated);
    }

    /// Takes a NOTIFY with this subscription's Call-ID and says how to
    /// answer it (see the [module documentation](self)); a NOTIFY answered
    /// 200 is reported as `i_notify`.
    pub fn handle_notify(&mut self, now: Instant, notify: &Message) -> NotifyAnswer {
        if notify.call_id() != Some(self.params.call_id.as_str())
            || notify.to_tag() != Some(self.params.from_tag.as_str())
        {
            return NotifyAnswer::new(481, "Subscription Does Not Exist");
        }
        let Some(Ok(event)) = notify.typed::<Event>() else {
            return NotifyAnswer::new(400, "Bad Event Header");
        };
        if !self.same_event(&event) {
            return NotifyAnswer::new(481, "Subscription Does Not Exist");
        }
        let Some(Ok(state)) = notify.typed::<StateHeader>() else {
            return NotifyAnswer::new(400, "Bad Subscription-State Header");
        };
        if matches!(self.phase, Phase::Idle | Phase::Terminated) {
            return NotifyAnswer::new(481, "Subscription Does Not Exist");
        }
        let remote_tag = notify.from_tag().unwrap_or("");
        match &mut self.dialog {
            Some(d) => {
                if d.id.remote_tag != remote_tag {
                    su_log!(
                        NUA,
                        5,
                        "nua: NOTIFY of another fork (tag {remote_tag}) answered 481"
                    );
                    return NotifyAnswer::new(481, "Subscription Does Not Exist");
                }
                if let Err(e) = d.on_request(notify) {
                    su_log!(NUA, 5, "nua: NOTIFY refused: {e}");
                    return NotifyAnswer::new(500, "CSeq Out of Order");
                }
            }
            None => {
                if self.ended_tag.as_deref() == Some(remote_tag) {
                    return NotifyAnswer::new(481, "Subscription Does Not Exist");
                }
                match Dialog::from_uas(notify, &self.params.from_tag, false) {
                    Ok(mut d) => {
                        // Our next request counts on from the SUBSCRIBE.
                        d.local_seq = self.cseq;
                        self.added(d);
                    }
                    Err(e) => {
                        su_log!(NUA, 5, "nua: NOTIFY makes no dialog: {e}");
                        return NotifyAnswer::new(400, "Missing Contact Header");
                    }
                }
            }
        }
        // RFC 6665 makes NOTIFY a target refresh request.
        if let (Some(d), Some(target)) = (&mut self.dialog, contact_uri(notify)) {
            d.remote_target = target;
        }
        self.notified = true;
        if self.phase != Phase::Unsubscribing {
            self.timer_n = None;
        }
        if self.phase == Phase::Subscribing && !self.in_flight() {
            self.set_phase(Phase::Subscribed);
        }
        let answer = NotifyAnswer::new(200, "OK");
        match state.state() {
            HeaderSubState::Terminated => {
                let reason = state.reason().map(str::to_ascii_lowercase);
                let retry = self.retry_delay(reason.as_deref(), state.retry_after());
                su_log!(
                    NUA,
                    5,
                    "nua: subscription {} to {} terminated ({})",
                    self.params.event,
                    self.params.remote_uri,
                    reason.as_deref().unwrap_or("no reason")
                );
                self.terminate();
                self.report(
                    EventKind::INotify,
                    answer.status,
                    answer.phrase,
                    Some(notify.clone()),
                );
                if let Some(delay) = retry {
                    self.resubscribes += 1;
                    su_log!(
                        NUA,
                        5,
                        "nua: subscribing to {} of {} again in {delay:?}",
                        self.params.event,
                        self.params.remote_uri
                    );
                    self.retry_at = now.checked_add(delay);
                }
            }
            other => {
                self.set_substate(match other {
                    HeaderSubState::Active => SubState::Active,
                    _ => SubState::Pending,
                });
                if let Some(expires) = state.expires()
                    && self.phase == Phase::Subscribed
                    && !self.in_flight()
                    && expires > 0
                    && let Some(at) = now.checked_add(refresh_delay(expires))
                    && self.refresh_at.is_none_or(|r| at < r)
                {
                    self.refresh_at = Some(at);
                }
                self.report(
                    EventKind::INotify,
                    answer.status,
                    answer.phrase,
                    Some(notify.clone()),
                );
            }
        }
        answer
    }

    /// True when a NOTIFY's `Event` is this subscription's: the same event
    /// type and `id` (RFC 6665 §8.2.1).
    fn same_event(&self, event: &Event<'_>) -> bool {
        let Ok(ours) = Event::parse(&self.params.event) else {
            return false;
        };
        ours.event_type.0.eq_ignore_ascii_case(event.event_type.0) && ours.id() == event.id()
    }

    /// When to subscribe again after `terminated` with this reason
    /// (RFC 6665 §4.1.3), or `None`.
    fn retry_delay(&self, reason: Option<&str>, retry_after: Option<u32>) -> Option<Duration> {
        let ours = self.phase != Phase::Unsubscribing
            && self.requested > 0
            && !matches!(self.queued, Some(Queued::Unsubscribe))
            && self.resubscribes < MAX_RESUBSCRIBES;
        if !ours {
            return None;
        }
        let after = retry_after.map(|s| Duration::from_secs(u64::from(s)));
        match reason {
            Some("deactivated" | "timeout") => Some(after.unwrap_or(Duration::ZERO)),
            Some("probation" | "giveup") => after,
            _ => None,
        }
    }

    /// When [`SubscriptionState::handle_timeout`] is due next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        [self.refresh_at, self.timer_n, self.retry_at]
            .into_iter()
            .flatten()
            .min()
    }

    /// Runs the timers that are due: a refresh, timer N, a new
    /// subscription after `terminated`.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.timer_n.is_some_and(|t| t <= now) {
            self.timer_n = None;
            if self.phase == Phase::Unsubscribing {
                su_log!(NUA, 5, "nua: no final NOTIFY after unsubscribing; ended");
                self.terminate();
            } else {
                su_log!(NUA, 5, "nua: no NOTIFY within 64*T1 of the 2xx; ended");
                self.terminate();
                self.report(
                    EventKind::INotify,
                    408,
                    "Early Subscription Timeouts without NOTIFY",
                    None,
                );
            }
        }
        if self.refresh_at.is_some_and(|t| t <= now) {
            self.refresh_at = None;
            if !self.in_flight() && self.phase == Phase::Subscribed {
                self.auth_rounds = 0;
                self.resubscribes = 0;
                su_log!(
                    NUA,
                    5,
                    "nua: refreshing subscription {} to {}",
                    self.params.event,
                    self.params.remote_uri
                );
                if self.dialog.is_some() {
                    self.send(Request::Subscribe);
                } else {
                    self.start();
                }
            }
        }
        if self.retry_at.is_some_and(|t| t <= now) {
            self.retry_at = None;
            if !self.in_flight() {
                self.auth_rounds = 0;
                self.start();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};
    use std::time::SystemTime;

    use sofia_iptsec::{AuthModule, Config as AuthConfig, MemoryStore};
    use sofia_msg::ResponseBuilder;

    use super::*;

    const VIA: &str = "SIP/2.0/UDP 192.0.2.1:5060;rport;branch=z9hG4bKsub";

    fn timers() -> Timers {
        Timers::default()
    }

    fn state() -> SubscriptionState {
        SubscriptionState::new(SubscriptionParams {
            event: "presence".into(),
            accept: Some("application/pidf+xml".into()),
            local_uri: "sip:alice@192.0.2.1".into(),
            remote_uri: "sip:bob@example.com".into(),
            contact: "sip:alice@192.0.2.1:5060".into(),
            call_id: "sub-1@192.0.2.1".into(),
            from_tag: "ft1".into(),
            user_agent: Some("test".into()),
            timers: timers(),
        })
    }

    fn auth() -> AuthClient {
        AuthClient::with_ids(sofia_su::IdGenerator::with_seed(5))
    }

    fn outputs(s: &mut SubscriptionState) -> Vec<SubscriptionOutput> {
        std::iter::from_fn(|| s.poll_output()).collect()
    }

    fn reports(outs: &[SubscriptionOutput]) -> Vec<(EventKind, u16, SubState)> {
        outs.iter()
            .filter_map(|o| match o {
                SubscriptionOutput::Report(r) => Some((r.kind, r.status, r.substate)),
                _ => None,
            })
            .collect()
    }

    fn sends(outs: &[SubscriptionOutput]) -> usize {
        outs.iter()
            .filter(|o| matches!(o, SubscriptionOutput::Send))
            .count()
    }

    fn reply(req: &Message, status: u16, reason: &str, extra: &[(HeaderName, &str)]) -> Message {
        let mut b = ResponseBuilder::reply_to(req, status, reason, Some("nt1"))
            .header(HeaderName::Contact, "<sip:bob@198.51.100.2:5070>");
        for (name, value) in extra {
            b = b.header(*name, value);
        }
        b.build().unwrap()
    }

    /// A NOTIFY of the notifier with tag `tag`.
    fn notify(tag: &str, cseq: u32, state: &str, body: &str) -> Message {
        RequestBuilder::new(Method::Notify, "sip:alice@192.0.2.1:5060")
            .header(
                HeaderName::Via,
                "SIP/2.0/UDP 198.51.100.2:5070;branch=z9hG4bKn",
            )
            .header(
                HeaderName::From,
                &format!("<sip:bob@example.com>;tag={tag}"),
            )
            .header(HeaderName::To, "<sip:alice@192.0.2.1>;tag=ft1")
            .header(HeaderName::CallId, "sub-1@192.0.2.1")
            .header(HeaderName::CSeq, &format!("{cseq} NOTIFY"))
            .header(HeaderName::Contact, "<sip:bob@198.51.100.2:5070>")
            .header(HeaderName::Event, "presence")
            .header(HeaderName::SubscriptionState, state)
            .body("application/pidf+xml", body.to_string())
            .build()
            .unwrap()
    }

    fn subscribed(now: Instant, expires: u32) -> (SubscriptionState, AuthClient, Message) {
        let mut s = state();
        let mut a = auth();
        s.subscribe(now, expires);
        assert_eq!(sends(&outputs(&mut s)), 1);
        let req = s.build_request(VIA, &mut a).unwrap();
        (s, a, req)
    }

    #[test]
    fn subscribes_and_refreshes_in_the_dialog() {
        let now = Instant::now();
        let (mut s, mut a, req) = subscribed(now, 600);
        assert_eq!(req.method(), Method::Subscribe);
        assert_eq!(req.request_uri_str(), Some("sip:bob@example.com"));
        assert_eq!(req.header(HeaderName::Event), Some("presence"));
        assert_eq!(req.header(HeaderName::Expires), Some("600"));
        assert_eq!(req.header(HeaderName::Accept), Some("application/pidf+xml"));
        assert_eq!(req.to_tag(), None);
        assert_eq!(s.phase(), Phase::Subscribing);
        assert_eq!(s.next_hop(), "sip:bob@example.com");

        // A provisional response changes nothing.
        s.handle_response(now, &reply(&req, 100, "Trying", &[]), &mut a);
        assert!(outputs(&mut s).is_empty());

        let ok = reply(&req, 200, "OK", &[(HeaderName::Expires, "300")]);
        s.handle_response(now, &ok, &mut a);
        let outs = outputs(&mut s);
        assert!(matches!(&outs[0], SubscriptionOutput::DialogAdded(d)
            if d.remote_tag == "nt1" && d.local_tag == "ft1"));
        assert_eq!(
            reports(&outs),
            vec![(EventKind::RSubscribe, 200, SubState::Embryonic)]
        );
        assert_eq!(s.phase(), Phase::Subscribed);
        assert_eq!(s.granted(), Some(300));
        // Timer N runs until the first NOTIFY.
        assert_eq!(s.poll_timeout(), Some(now + timers().t1x64()));
        let t = now + Duration::from_secs(1);
        assert_eq!(
            s.handle_notify(t, &notify("nt1", 1, "active;expires=300", "<open/>")),
            NotifyAnswer::new(200, "OK")
        );
        let outs = outputs(&mut s);
        assert_eq!(
            reports(&outs),
            vec![(EventKind::INotify, 200, SubState::Active)]
        );
        match &outs[0] {
            SubscriptionOutput::Report(r) => {
                assert_eq!(r.message.as_ref().unwrap().body_bytes(), b"<open/>")
            }
            o => panic!("unexpected {o:?}"),
        }
        assert_eq!(s.substate(), SubState::Active);
        // 300 s granted: refreshed 150 s after the 2xx (the NOTIFY's
        // expiry, a second later, gives no earlier time).
        assert_eq!(s.poll_timeout(), Some(now + Duration::from_secs(150)));
        s.handle_timeout(now + Duration::from_secs(149));
        assert!(outputs(&mut s).is_empty());
        s.handle_timeout(now + Duration::from_secs(150));
        assert_eq!(sends(&outputs(&mut s)), 1);
        assert_eq!(s.next_hop(), "sip:bob@198.51.100.2:5070");
        let refresh = s.build_request(VIA, &mut a).unwrap();
        assert_eq!(refresh.request_uri_str(), Some("sip:bob@198.51.100.2:5070"));
        assert_eq!(refresh.to_tag(), Some("nt1"));
        assert_eq!(refresh.from_tag(), Some("ft1"));
        assert_eq!(refresh.call_id(), req.call_id());
        assert_eq!(refresh.cseq(), Some((2, Method::Subscribe)));
        assert_eq!(refresh.header(HeaderName::Expires), Some("600"));
        // The old 2xx again is ignored.
        s.handle_response(now, &ok, &mut a);
        assert!(outputs(&mut s).is_empty());
        let t2 = now + Duration::from_secs(151);
        s.handle_response(
            t2,
            &reply(&refresh, 200, "OK", &[(HeaderName::Expires, "120")]),
            &mut a,
        );
        assert_eq!(
            reports(&outputs(&mut s)),
            vec![(EventKind::RSubscribe, 200, SubState::Active)]
        );
        assert_eq!(s.poll_timeout(), Some(t2 + Duration::from_secs(75)));
    }

    #[test]
    fn a_shorter_expiry_in_a_notify_brings_the_refresh_forward() {
        let now = Instant::now();
        let (mut s, mut a, req) = subscribed(now, 3600);
        s.handle_response(now, &reply(&req, 200, "OK", &[]), &mut a);
        assert_eq!(
            s.handle_notify(now, &notify("nt1", 1, "active;expires=60", ""))
                .status,
            200
        );
        assert_eq!(s.poll_timeout(), Some(now + Duration::from_secs(30)));
    }

    #[test]
    fn interval_too_brief_retries_with_min_expires() {
        let now = Instant::now();
        let (mut s, mut a, req) = subscribed(now, 30);
        s.handle_response(
            now,
            &reply(
                &req,
                423,
                "Interval Too Brief",
                &[(HeaderName::MinExpires, "60")],
            ),
            &mut a,
        );
        let outs = outputs(&mut s);
        assert_eq!(sends(&outs), 1);
        assert!(reports(&outs).is_empty());
        assert_eq!(s.requested(), 60);
        let again = s.build_request(VIA, &mut a).unwrap();
        assert_eq!(again.header(HeaderName::Expires), Some("60"));
        assert_eq!(again.cseq(), Some((2, Method::Subscribe)));
        // A second 423 that asks for no more is the final answer.
        s.handle_response(
            now,
            &reply(
                &again,
                423,
                "Interval Too Brief",
                &[(HeaderName::MinExpires, "60")],
            ),
            &mut a,
        );
        assert_eq!(
            reports(&outputs(&mut s)),
            vec![(EventKind::RSubscribe, 423, SubState::Terminated)]
        );
        assert_eq!(s.phase(), Phase::Terminated);
        assert_eq!(s.poll_timeout(), None);
    }

    #[test]
    fn bad_event_is_reported_and_ends_it() {
        let now = Instant::now();
        let (mut s, mut a, req) = subscribed(now, 600);
        s.handle_response(
            now,
            &reply(
                &req,
                489,
                "Bad Event",
                &[(HeaderName::AllowEvents, "dialog")],
            ),
            &mut a,
        );
        let outs = outputs(&mut s);
        assert_eq!(
            reports(&outs),
            vec![(EventKind::RSubscribe, 489, SubState::Terminated)]
        );
        assert_eq!(sends(&outs), 0);
        assert!(!s.is_live());
        // A NOTIFY now belongs to nothing.
        assert_eq!(
            s.handle_notify(now, &notify("nt1", 1, "active", "")).status,
            481
        );
    }

    #[test]
    fn notify_before_the_2xx_makes_the_dialog() {
        let now = Instant::now();
        let (mut s, mut a, req) = subscribed(now, 600);
        assert_eq!(
            s.handle_notify(now, &notify("nt1", 1, "pending;expires=600", "")),
            NotifyAnswer::new(200, "OK")
        );
        let outs = outputs(&mut s);
        assert!(matches!(&outs[0], SubscriptionOutput::DialogAdded(d) if d.remote_tag == "nt1"));
        assert_eq!(
            reports(&outs),
            vec![(EventKind::INotify, 200, SubState::Pending)]
        );
        // Still waiting for the 2xx.
        assert_eq!(s.phase(), Phase::Subscribing);
        let d = s.dialog().unwrap();
        assert_eq!(d.remote_target, "sip:bob@198.51.100.2:5070");
        assert_eq!(d.local_seq, 1);
        s.handle_response(now, &reply(&req, 202, "Accepted", &[]), &mut a);
        let outs = outputs(&mut s);
        // No second dialog; no timer N after a NOTIFY.
        assert!(
            !outs
                .iter()
                .any(|o| matches!(o, SubscriptionOutput::DialogAdded(_)))
        );
        assert_eq!(
            reports(&outs),
            vec![(EventKind::RSubscribe, 202, SubState::Pending)]
        );
        assert_eq!(s.phase(), Phase::Subscribed);
        assert_eq!(s.poll_timeout(), Some(now + Duration::from_secs(300)));
        // A second fork's NOTIFY is refused and makes no dialog.
        assert_eq!(
            s.handle_notify(now, &notify("other", 1, "active", "")),
            NotifyAnswer::new(481, "Subscription Does Not Exist")
        );
        assert!(outputs(&mut s).is_empty());
        // The refresh goes in the NOTIFY's dialog with the next CSeq.
        s.handle_timeout(now + Duration::from_secs(300));
        let refresh = s.build_request(VIA, &mut a).unwrap();
        assert_eq!(refresh.to_tag(), Some("nt1"));
        assert_eq!(refresh.cseq(), Some((2, Method::Subscribe)));
    }

    #[test]
    fn a_2xx_of_another_fork_after_a_notify_makes_no_dialog() {
        let now = Instant::now();
        let (mut s, mut a, req) = subscribed(now, 600);
        s.handle_notify(now, &notify("first", 1, "active", ""));
        outputs(&mut s);
        // The 2xx comes with tag "nt1", another fork than the NOTIFY's.
        s.handle_response(now, &reply(&req, 200, "OK", &[]), &mut a);
        let outs = outputs(&mut s);
        assert!(
            !outs
                .iter()
                .any(|o| matches!(o, SubscriptionOutput::DialogAdded(_)))
        );
        assert_eq!(s.dialog().unwrap().id.remote_tag, "first");
        assert_eq!(s.phase(), Phase::Subscribed);
    }

    #[test]
    fn terminated_notify_ends_it_without_retry_when_rejected() {
        let now = Instant::now();
        let (mut s, mut a, req) = subscribed(now, 600);
        s.handle_response(now, &reply(&req, 200, "OK", &[]), &mut a);
        outputs(&mut s);
        let answer = s.handle_notify(now, &notify("nt1", 1, "terminated;reason=rejected", ""));
        assert_eq!(answer.status, 200);
        let outs = outputs(&mut s);
        assert!(matches!(&outs[0], SubscriptionOutput::DialogRemoved(d) if d.remote_tag == "nt1"));
        assert_eq!(
            reports(&outs),
            vec![(EventKind::INotify, 200, SubState::Terminated)]
        );
        assert_eq!(s.phase(), Phase::Terminated);
        assert_eq!(s.poll_timeout(), None);
        assert!(!s.is_live());
        // A stray NOTIFY of the ended dialog does not bring it back.
        assert_eq!(
            s.handle_notify(now, &notify("nt1", 2, "active", "")).status,
            481
        );
    }

    #[test]
    fn deactivated_and_probation_subscribe_again() {
        let now = Instant::now();
        let (mut s, mut a, req) = subscribed(now, 600);
        s.handle_response(now, &reply(&req, 200, "OK", &[]), &mut a);
        outputs(&mut s);
        s.handle_notify(
            now,
            &notify("nt1", 1, "terminated;reason=probation;retry-after=20", ""),
        );
        outputs(&mut s);
        assert!(s.is_live());
        assert_eq!(s.poll_timeout(), Some(now + Duration::from_secs(20)));
        s.handle_timeout(now + Duration::from_secs(20));
        let outs = outputs(&mut s);
        assert_eq!(sends(&outs), 1);
        assert_eq!(s.phase(), Phase::Subscribing);
        assert_eq!(s.substate(), SubState::Embryonic);
        // A new subscription: outside the old dialog, CSeq counting on.
        let again = s.build_request(VIA, &mut a).unwrap();
        assert_eq!(again.to_tag(), None);
        assert_eq!(again.cseq(), Some((2, Method::Subscribe)));
        // Deactivated: at once, at most three times in a row.
        let mut req = again;
        for round in 0..MAX_RESUBSCRIBES {
            s.handle_response(now, &reply(&req, 200, "OK", &[]), &mut a);
            s.handle_notify(
                now,
                &notify("nt1", 10 + round, "terminated;reason=deactivated", ""),
            );
            outputs(&mut s);
            if round + 1 < MAX_RESUBSCRIBES {
                assert_eq!(s.poll_timeout(), Some(now), "round {round}");
                s.handle_timeout(now);
                assert_eq!(sends(&outputs(&mut s)), 1);
                req = s.build_request(VIA, &mut a).unwrap();
            }
        }
        assert_eq!(s.poll_timeout(), None);
        assert!(!s.is_live());
    }

    #[test]
    fn timer_n_ends_a_subscription_without_notify() {
        let now = Instant::now();
        let (mut s, mut a, req) = subscribed(now, 600);
        s.handle_response(now, &reply(&req, 200, "OK", &[]), &mut a);
        outputs(&mut s);
        let n = now + timers().t1x64();
        assert_eq!(s.poll_timeout(), Some(n));
        s.handle_timeout(n - Duration::from_millis(1));
        assert!(outputs(&mut s).is_empty());
        s.handle_timeout(n);
        let outs = outputs(&mut s);
        assert!(matches!(&outs[0], SubscriptionOutput::DialogRemoved(_)));
        assert_eq!(
            reports(&outs),
            vec![(EventKind::INotify, 408, SubState::Terminated)]
        );
        assert_eq!(s.poll_timeout(), None);
    }

    #[test]
    fn bad_notifies_get_4xx() {
        let now = Instant::now();
        let (mut s, mut a, req) = subscribed(now, 600);
        s.handle_response(now, &reply(&req, 200, "OK", &[]), &mut a);
        outputs(&mut s);
        let good = notify("nt1", 5, "active", "");
        let text = String::from_utf8(good.to_bytes().to_vec()).unwrap();
        let without = |name: &str| {
            let t: String = text
                .split("\r\n")
                .filter(|l| !l.starts_with(name))
                .collect::<Vec<_>>()
                .join("\r\n");
            Message::parse(bytes::Bytes::from(t)).unwrap()
        };
        assert_eq!(s.handle_notify(now, &without("Event:")).status, 400);
        assert_eq!(
            s.handle_notify(now, &without("Subscription-State:")).status,
            400
        );
        let other_event = Message::parse(bytes::Bytes::from(
            text.replace("Event: presence", "Event: dialog"),
        ))
        .unwrap();
        assert_eq!(s.handle_notify(now, &other_event).status, 481);
        let other_id = Message::parse(bytes::Bytes::from(
            text.replace("Event: presence", "Event: presence;id=2"),
        ))
        .unwrap();
        assert_eq!(s.handle_notify(now, &other_id).status, 481);
        assert!(outputs(&mut s).is_empty());
        assert_eq!(s.handle_notify(now, &good).status, 200);
        // A lower CSeq than the last NOTIFY's.
        assert_eq!(
            s.handle_notify(now, &notify("nt1", 4, "active", "")).status,
            500
        );
    }

    #[test]
    fn unsubscribes_in_the_dialog_and_waits_for_the_final_notify() {
        let now = Instant::now();
        let (mut s, mut a, req) = subscribed(now, 600);
        s.handle_response(now, &reply(&req, 200, "OK", &[]), &mut a);
        s.handle_notify(now, &notify("nt1", 1, "active;expires=600", ""));
        outputs(&mut s);
        s.unsubscribe(now);
        assert_eq!(sends(&outputs(&mut s)), 1);
        let un = s.build_request(VIA, &mut a).unwrap();
        assert_eq!(un.header(HeaderName::Expires), Some("0"));
        assert_eq!(un.to_tag(), Some("nt1"));
        s.handle_response(now, &reply(&un, 200, "OK", &[]), &mut a);
        assert_eq!(
            reports(&outputs(&mut s)),
            vec![(EventKind::RUnsubscribe, 200, SubState::Active)]
        );
        assert_eq!(s.phase(), Phase::Unsubscribing);
        assert_eq!(s.poll_timeout(), Some(now + timers().t1x64()));
        // The final NOTIFY (reason timeout) ends it without a new one.
        s.handle_notify(now, &notify("nt1", 2, "terminated;reason=timeout", ""));
        let outs = outputs(&mut s);
        assert_eq!(
            reports(&outs),
            vec![(EventKind::INotify, 200, SubState::Terminated)]
        );
        assert_eq!(s.poll_timeout(), None);
        assert!(!s.is_live());
        // Nothing left to unsubscribe.
        s.unsubscribe(now);
        assert_eq!(
            reports(&outputs(&mut s)),
            vec![(EventKind::RUnsubscribe, 481, SubState::Terminated)]
        );
    }

    #[test]
    fn subscribing_again_while_unsubscribing_starts_afresh() {
        let now = Instant::now();
        let (mut s, mut a, req) = subscribed(now, 600);
        s.handle_response(now, &reply(&req, 200, "OK", &[]), &mut a);
        s.handle_notify(now, &notify("nt1", 1, "active", ""));
        s.unsubscribe(now);
        outputs(&mut s);
        let un = s.build_request(VIA, &mut a).unwrap();
        s.handle_response(now, &reply(&un, 200, "OK", &[]), &mut a);
        outputs(&mut s);
        s.subscribe(now, 600);
        let outs = outputs(&mut s);
        assert!(matches!(&outs[0], SubscriptionOutput::DialogRemoved(d) if d.remote_tag == "nt1"));
        assert_eq!(sends(&outs), 1);
        let fresh = s.build_request(VIA, &mut a).unwrap();
        assert_eq!(fresh.to_tag(), None);
        assert_eq!(fresh.cseq(), Some((3, Method::Subscribe)));
        // The old dialog's final NOTIFY does not end the new subscription.
        assert_eq!(
            s.handle_notify(now, &notify("nt1", 2, "terminated", ""))
                .status,
            481
        );
        assert_eq!(s.phase(), Phase::Subscribing);
        assert!(s.dialog().is_none());
    }

    #[test]
    fn a_fetch_takes_one_notify_and_ends() {
        let now = Instant::now();
        let (mut s, mut a, req) = subscribed(now, 0);
        assert_eq!(req.header(HeaderName::Expires), Some("0"));
        s.handle_response(
            now,
            &reply(&req, 200, "OK", &[(HeaderName::Expires, "0")]),
            &mut a,
        );
        outputs(&mut s);
        // No refresh; timer N waits for the NOTIFY.
        assert_eq!(s.poll_timeout(), Some(now + timers().t1x64()));
        let answer = s.handle_notify(now, &notify("nt1", 1, "terminated;reason=timeout", "<x/>"));
        assert_eq!(answer.status, 200);
        let outs = outputs(&mut s);
        assert_eq!(
            reports(&outs),
            vec![(EventKind::INotify, 200, SubState::Terminated)]
        );
        assert_eq!(sends(&outs), 0);
        assert_eq!(s.poll_timeout(), None);
        assert!(!s.is_live());
    }

    #[test]
    fn a_first_notify_without_contact_makes_no_dialog() {
        let now = Instant::now();
        let (mut s, _a, _req) = subscribed(now, 600);
        let good = notify("nt1", 1, "active", "");
        let text = String::from_utf8(good.to_bytes().to_vec()).unwrap();
        let t: String = text
            .split("\r\n")
            .filter(|l| !l.starts_with("Contact:"))
            .collect::<Vec<_>>()
            .join("\r\n");
        let bare = Message::parse(bytes::Bytes::from(t)).unwrap();
        assert_eq!(s.handle_notify(now, &bare).status, 400);
        assert!(s.dialog().is_none());
        assert!(outputs(&mut s).is_empty());
        assert_eq!(s.handle_notify(now, &good).status, 200);
        assert!(s.dialog().is_some());
    }

    #[test]
    fn unsubscribe_waits_for_the_subscribe_on_its_way() {
        let now = Instant::now();
        let (mut s, mut a, req) = subscribed(now, 600);
        s.unsubscribe(now);
        assert!(outputs(&mut s).is_empty());
        s.handle_response(now, &reply(&req, 200, "OK", &[]), &mut a);
        let outs = outputs(&mut s);
        assert_eq!(
            reports(&outs),
            vec![(EventKind::RSubscribe, 200, SubState::Embryonic)]
        );
        assert_eq!(sends(&outs), 1);
        assert_eq!(s.phase(), Phase::Unsubscribing);
        let un = s.build_request(VIA, &mut a).unwrap();
        assert_eq!(un.header(HeaderName::Expires), Some("0"));
        assert_eq!(un.to_tag(), Some("nt1"));
    }

    #[test]
    fn refresh_failure_ends_it() {
        let now = Instant::now();
        let (mut s, mut a, req) = subscribed(now, 600);
        s.handle_response(now, &reply(&req, 200, "OK", &[]), &mut a);
        s.handle_notify(now, &notify("nt1", 1, "active", ""));
        outputs(&mut s);
        s.handle_timeout(now + Duration::from_secs(300));
        assert_eq!(sends(&outputs(&mut s)), 1);
        let refresh = s.build_request(VIA, &mut a).unwrap();
        s.transaction_failed(now, Some(0), 408, "Request Timeout");
        assert!(outputs(&mut s).is_empty(), "an older request's failure");
        s.transaction_failed(now, refresh.cseq().map(|c| c.0), 408, "Request Timeout");
        let outs = outputs(&mut s);
        assert!(matches!(&outs[0], SubscriptionOutput::DialogRemoved(_)));
        assert_eq!(
            reports(&outs),
            vec![(EventKind::RSubscribe, 408, SubState::Terminated)]
        );
    }

    #[test]
    fn answers_a_challenge() {
        let now = Instant::now();
        let wall = SystemTime::now();
        let src = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let mut store = MemoryStore::new();
        store.add_password("alice", None, "secret");
        let mut server = AuthModule::new(AuthConfig::default(), store);
        let mut s = state();
        let mut a = auth();
        a.add_credentials(None, "alice", "secret");
        s.subscribe(now, 600);
        outputs(&mut s);
        let req = s.build_request(VIA, &mut a).unwrap();
        let challenge = server
            .verify(wall, src, &req)
            .response(&req, Some("t"))
            .unwrap()
            .unwrap();
        s.handle_response(now, &challenge, &mut a);
        assert_eq!(sends(&outputs(&mut s)), 1);
        let again = s.build_request(VIA, &mut a).unwrap();
        assert!(matches!(
            server.verify(wall, src, &again),
            sofia_iptsec::Verdict::Authorized { .. }
        ));
    }
}
