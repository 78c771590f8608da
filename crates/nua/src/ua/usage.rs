//! Subscriptions (SUBSCRIBE/NOTIFY, RFC 6665) and publications (PUBLISH,
//! RFC 3903): the commands of [`Handle`] and the driver side of
//! [`SubscriptionState`] and [`PublicationState`].
//!
//! A handle has at most one subscription and one publication. Their
//! requests are located (RFC 3263) in helper tasks and sent in client
//! transactions like a REGISTER's; a NOTIFY is routed to the subscription
//! whose Call-ID it carries (the subscription then matches the tags), so
//! that one arriving before the 2xx of its SUBSCRIBE finds it too.

use std::collections::HashMap;
use std::time::Instant;

use bytes::Bytes;
use sofia_msg::{HeaderName, Message, Method, ResponseBuilder};
use sofia_nta::resolve::Target;
use sofia_nta::{ClientEvent, ServerRequest};
use sofia_su::su_log;
use sofia_tport::Transport;

use super::{Command, Handle, Internal, Task, host_port};
use crate::publish::{Action as PublishAction, PublicationParams, PublicationState};
use crate::subscribe::{SubState, SubscriptionOutput, SubscriptionParams, SubscriptionState};
use crate::{Error, Event, EventKind, HandleId};

/// Expiry of a subscription or publication given none, in seconds
/// (sofia-sip's default).
pub const DEFAULT_EXPIRES: u32 = 3600;

/// The subscriptions and publications of the handles.
#[derive(Debug, Default)]
pub(super) struct Usages {
    subs: HashMap<HandleId, SubscriptionState>,
    /// The handle of each subscription's Call-ID, to route NOTIFYs.
    by_call_id: HashMap<String, HandleId>,
    pubs: HashMap<HandleId, PublicationState>,
}

impl Usages {
    /// When the handle's subscription or publication wants its timers run.
    pub(super) fn deadline(&self, id: HandleId) -> Option<Instant> {
        let sub = self.subs.get(&id).and_then(SubscriptionState::poll_timeout);
        let publ = self.pubs.get(&id).and_then(PublicationState::poll_timeout);
        sub.into_iter().chain(publ).min()
    }
}

/// Which of a handle's usages a request is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Subscribe,
    Publish,
}

/// What the helper tasks tell the main loop about these requests.
// Responses are the common case; boxing them would cost an allocation each.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub(super) enum UsageInternal {
    Resolved {
        id: HandleId,
        kind: Kind,
        targets: Result<Vec<Target>, String>,
    },
    Client {
        id: HandleId,
        kind: Kind,
        cseq: Option<u32>,
        ev: ClientEvent,
    },
}

impl Handle {
    /// Subscribes to `event` (an `Event` value: `presence`,
    /// `message-summary`, `dialog;id=2`, ...) of the handle's URI for
    /// `expires` seconds (`None`: 3600), with `accept` as the Accept
    /// header when given (RFC 6665). The subscription is refreshed before
    /// it expires; each final response gives an `r_subscribe` event and
    /// each NOTIFY an `i_notify` event (with the body), both with
    /// [`Event::substate`]. On a handle already subscribed to the same
    /// event it refreshes with the new expiry; `expires` 0 fetches the
    /// state once. A handle has one subscription: another event while it
    /// lives gets `r_subscribe` 400.
    pub fn subscribe(
        &self,
        event: &str,
        accept: Option<&str>,
        expires: Option<u32>,
    ) -> Result<(), Error> {
        self.send(Command::Subscribe {
            id: self.id,
            event: event.to_string(),
            accept: accept.map(str::to_string),
            expires,
        })
    }

    /// Ends the handle's subscription (SUBSCRIBE with `Expires: 0`); the
    /// final response gives `r_unsubscribe`, the notifier's final NOTIFY
    /// an `i_notify` with state `terminated`. Without a subscription:
    /// `r_unsubscribe` 481.
    pub fn unsubscribe(&self) -> Result<(), Error> {
        self.send(Command::Unsubscribe { id: self.id })
    }

    /// Publishes event state (RFC 3903) at the handle's address of record:
    /// a PUBLISH of `event` with this body for `expires` seconds (`None`:
    /// 3600), refreshed before it expires with `SIP-If-Match` and no body.
    /// Publishing again while published modifies the state
    /// (`SIP-If-Match` with the new body). Each final response gives an
    /// `r_publish` event. A handle has one publication: another event
    /// while it lives gets `r_publish` 400.
    pub fn publish(
        &self,
        event: &str,
        content_type: &str,
        body: impl Into<Bytes>,
        expires: Option<u32>,
    ) -> Result<(), Error> {
        self.send(Command::Publish {
            id: self.id,
            event: event.to_string(),
            content_type: content_type.to_string(),
            body: body.into(),
            expires,
        })
    }

    /// Removes the published state (PUBLISH with `SIP-If-Match` and
    /// `Expires: 0`); the final response gives `r_unpublish`. With nothing
    /// published: `r_unpublish` 400.
    pub fn unpublish(&self) -> Result<(), Error> {
        self.send(Command::Unpublish { id: self.id })
    }
}

/// Subscriptions and publications: the driver side of
/// [`SubscriptionState`] and [`PublicationState`].
impl Task {
    /// Forgets the handle's subscription and publication (without
    /// unsubscribing or unpublishing).
    pub(super) fn usage_destroy(&mut self, id: HandleId) {
        if let Some(sub) = self.usages.subs.remove(&id) {
            self.usages.by_call_id.remove(sub.call_id());
            if let Some(d) = sub.dialog() {
                self.agent.remove_dialog(&d.id);
            }
        }
        self.usages.pubs.remove(&id);
    }

    async fn emit_usage(
        &self,
        handle: HandleId,
        kind: EventKind,
        status: u16,
        phrase: &str,
        message: Option<Message>,
        substate: Option<SubState>,
    ) {
        su_log!(
            NUA,
            5,
            "nua: event {kind} {handle}: {status} {phrase}{}",
            substate.map(|s| format!(" ({s})")).unwrap_or_default()
        );
        let _ = self
            .events
            .send(Event {
                handle,
                kind,
                status,
                phrase: phrase.to_string(),
                message,
                state: None,
                substate,
            })
            .await;
    }

    /// Runs a SUBSCRIBE or PUBLISH command.
    pub(super) async fn usage_command(&mut self, now: Instant, cmd: Command) {
        match cmd {
            Command::Subscribe {
                id,
                event,
                accept,
                expires,
            } => {
                if !self.handles.contains_key(&id) {
                    return;
                }
                if sofia_msg::headers::Event::parse(&event).is_err() {
                    self.emit_usage(id, EventKind::RSubscribe, 400, "Invalid Event", None, None)
                        .await;
                    return;
                }
                let other = self
                    .usages
                    .subs
                    .get(&id)
                    .filter(|s| s.is_live())
                    .map(|s| !s.event().eq_ignore_ascii_case(&event));
                match other {
                    Some(true) => {
                        self.emit_usage(
                            id,
                            EventKind::RSubscribe,
                            400,
                            "Another Event Subscribed",
                            None,
                            None,
                        )
                        .await;
                        return;
                    }
                    Some(false) => {}
                    None => {
                        let sub = SubscriptionState::new(self.sub_params(id, event, accept));
                        if let Some(old) = self.usages.subs.remove(&id) {
                            self.usages.by_call_id.remove(old.call_id());
                        }
                        self.usages.by_call_id.insert(sub.call_id().to_string(), id);
                        self.usages.subs.insert(id, sub);
                    }
                }
                if let Some(sub) = self.usages.subs.get_mut(&id) {
                    sub.subscribe(now, expires.unwrap_or(DEFAULT_EXPIRES));
                }
                self.sub_drive(id).await;
            }
            Command::Unsubscribe { id } => {
                if !self.handles.contains_key(&id) {
                    return;
                }
                match self.usages.subs.get_mut(&id) {
                    Some(sub) => sub.unsubscribe(now),
                    None => {
                        self.emit_usage(
                            id,
                            EventKind::RUnsubscribe,
                            481,
                            "No Subscription",
                            None,
                            None,
                        )
                        .await;
                        return;
                    }
                }
                self.sub_drive(id).await;
            }
            Command::Publish {
                id,
                event,
                content_type,
                body,
                expires,
            } => {
                let Some(aor) = self.handles.get(&id).map(|h| h.target.clone()) else {
                    return;
                };
                if sofia_msg::headers::Event::parse(&event).is_err() {
                    self.emit(id, EventKind::RPublish, 400, "Invalid Event", None)
                        .await;
                    return;
                }
                let other = self
                    .usages
                    .pubs
                    .get(&id)
                    .filter(|p| p.is_live())
                    .map(|p| !p.event().eq_ignore_ascii_case(&event));
                match other {
                    Some(true) => {
                        self.emit(
                            id,
                            EventKind::RPublish,
                            400,
                            "Another Event Published",
                            None,
                        )
                        .await;
                        return;
                    }
                    Some(false) => {}
                    None => {
                        let host = self.local.1.ip().to_string();
                        let params = PublicationParams {
                            event,
                            aor,
                            call_id: self.ids.call_id(Some(&host)),
                            from_tag: self.ids.tag(),
                            user_agent: Some(self.config.user_agent.clone()),
                        };
                        self.usages.pubs.insert(id, PublicationState::new(params));
                    }
                }
                let Some(p) = self.usages.pubs.get_mut(&id) else {
                    return;
                };
                let action =
                    p.publish(now, &content_type, body, expires.unwrap_or(DEFAULT_EXPIRES));
                self.pub_apply(id, action, None).await;
            }
            Command::Unpublish { id } => {
                if !self.handles.contains_key(&id) {
                    return;
                }
                let action = match self.usages.pubs.get_mut(&id) {
                    Some(p) => p.unpublish(now),
                    None => {
                        self.emit(id, EventKind::RUnpublish, 400, "Nothing Published", None)
                            .await;
                        return;
                    }
                };
                self.pub_apply(id, action, None).await;
            }
            _ => {}
        }
    }

    /// The identities of a new subscription of handle `id`.
    fn sub_params(
        &mut self,
        id: HandleId,
        event: String,
        accept: Option<String>,
    ) -> SubscriptionParams {
        let transport = match self.local.0 {
            Transport::Udp => "",
            _ => ";transport=tcp",
        };
        let contact = self.config.contact.clone().unwrap_or_else(|| {
            format!("sip:{}@{}{transport}", self.user(), host_port(self.local.1))
        });
        let host = self.local.1.ip().to_string();
        SubscriptionParams {
            event,
            accept,
            local_uri: self.local_identity(),
            remote_uri: self
                .handles
                .get(&id)
                .map(|h| h.target.clone())
                .unwrap_or_default(),
            contact,
            call_id: self.ids.call_id(Some(&host)),
            from_tag: self.ids.tag(),
            user_agent: Some(self.config.user_agent.clone()),
            timers: self.config.timers,
        }
    }

    /// Does everything the handle's subscription asks for.
    async fn sub_drive(&mut self, id: HandleId) {
        while let Some(out) = self
            .usages
            .subs
            .get_mut(&id)
            .and_then(SubscriptionState::poll_output)
        {
            match out {
                SubscriptionOutput::Send => self.usage_resolve(id, Kind::Subscribe),
                SubscriptionOutput::Report(r) => {
                    self.emit_usage(id, r.kind, r.status, &r.phrase, r.message, Some(r.substate))
                        .await;
                }
                SubscriptionOutput::DialogAdded(d) => {
                    self.agent.add_dialog(d);
                }
                SubscriptionOutput::DialogRemoved(d) => {
                    self.agent.remove_dialog(&d);
                }
            }
        }
        self.schedule(id);
    }

    /// Reports and sends what a publication asks for; `msg` is the
    /// response the report is about.
    async fn pub_apply(&mut self, id: HandleId, action: PublishAction, msg: Option<Message>) {
        if let Some(r) = action.report {
            let kind = if r.unpublish {
                EventKind::RUnpublish
            } else {
                EventKind::RPublish
            };
            self.emit(id, kind, r.status, &r.phrase, msg).await;
        }
        if action.send {
            self.usage_resolve(id, Kind::Publish);
        }
        self.schedule(id);
    }

    /// Locates the next hop of the usage's next request in a helper task;
    /// the request is built and sent when the answer is back.
    fn usage_resolve(&mut self, id: HandleId, kind: Kind) {
        let uri = match kind {
            Kind::Subscribe => self.usages.subs.get(&id).map(SubscriptionState::next_hop),
            Kind::Publish => self.handles.get(&id).map(|h| h.target.clone()),
        };
        let Some(uri) = uri else {
            return;
        };
        let resolver = self.resolver.clone();
        let internal = self.internal.clone();
        tokio::spawn(async move {
            let targets = match sofia_msg::Uri::parse(&uri) {
                Ok(u) => match sofia_nta::resolve::numeric_target(&u) {
                    Some(t) => Ok(vec![t]),
                    None => resolver.resolve(&u).await.map_err(|e| e.to_string()),
                },
                Err(e) => Err(e.to_string()),
            };
            let _ = internal.send(Internal::Usage(UsageInternal::Resolved {
                id,
                kind,
                targets,
            }));
        });
    }

    /// A located request or a response of a subscription or publication.
    pub(super) async fn usage_internal(&mut self, u: UsageInternal) {
        match u {
            UsageInternal::Resolved { id, kind, targets } => match targets {
                Ok(targets) => self.usage_send(id, kind, targets).await,
                Err(e) => {
                    su_log!(NUA, 3, "nua: {id}: cannot resolve the destination: {e}");
                    self.usage_failed(id, kind, None, 503, "Service Unavailable (DNS)")
                        .await;
                }
            },
            UsageInternal::Client { id, kind, cseq, ev } => match ev {
                ClientEvent::Timeout => {
                    self.usage_failed(id, kind, cseq, 408, "Request Timeout")
                        .await
                }
                ClientEvent::Response(msg) => self.usage_response(id, kind, msg).await,
            },
        }
    }

    /// A request that got no response.
    async fn usage_failed(
        &mut self,
        id: HandleId,
        kind: Kind,
        cseq: Option<u32>,
        status: u16,
        phrase: &str,
    ) {
        let now = Instant::now();
        match kind {
            Kind::Subscribe => {
                if let Some(sub) = self.usages.subs.get_mut(&id) {
                    sub.transaction_failed(now, cseq, status, phrase);
                }
                self.sub_drive(id).await;
            }
            Kind::Publish => {
                let Some(p) = self.usages.pubs.get_mut(&id) else {
                    return;
                };
                let action = p.transaction_failed(now, cseq, status, phrase);
                self.pub_apply(id, action, None).await;
            }
        }
    }

    /// Builds the usage's next request and sends it to `targets`.
    async fn usage_send(&mut self, id: HandleId, kind: Kind, targets: Vec<Target>) {
        let Some(first) = targets.first() else {
            self.usage_failed(id, kind, None, 503, "Service Unavailable (no target)")
                .await;
            return;
        };
        let Some(via) = self.agent.via(first.transport) else {
            self.usage_failed(
                id,
                kind,
                None,
                503,
                "Service Unavailable (no local address)",
            )
            .await;
            return;
        };
        let (transport, addr) = (first.transport, first.addr);
        let Some(h) = self.handles.get_mut(&id) else {
            return;
        };
        let built = match kind {
            Kind::Subscribe => match self.usages.subs.get_mut(&id) {
                Some(sub) => sub.build_request(&via, &mut h.auth),
                None => return,
            },
            Kind::Publish => match self.usages.pubs.get_mut(&id) {
                Some(p) => p.build_request(&via, &mut h.auth),
                None => return,
            },
        };
        let msg = match built {
            Ok(msg) => msg,
            Err(e) => {
                su_log!(NUA, 3, "nua: {id}: cannot build the request: {e}");
                self.emit(id, EventKind::IError, 500, &e.to_string(), None)
                    .await;
                self.usage_failed(id, kind, None, 500, "Request Not Built")
                    .await;
                return;
            }
        };
        let cseq = msg.cseq().map(|c| c.0);
        su_log!(
            NUA,
            5,
            "nua: {id}: sending {} {} to {transport}/{addr}",
            msg.method_str(),
            msg.request_uri_str().unwrap_or("")
        );
        let mut rx = match self.agent.request_with_failover(msg, targets) {
            Ok(rx) => rx,
            Err(e) => {
                su_log!(NUA, 3, "nua: {id}: cannot send: {e}");
                self.usage_failed(id, kind, cseq, 503, "Service Unavailable")
                    .await;
                return;
            }
        };
        let internal = self.internal.clone();
        tokio::spawn(async move {
            while let Some(ev) = rx.recv().await {
                let last = match &ev {
                    ClientEvent::Timeout => true,
                    ClientEvent::Response(m) => m.status().unwrap_or(0) >= 200,
                };
                let msg = Internal::Usage(UsageInternal::Client { id, kind, cseq, ev });
                if internal.send(msg).is_err() || last {
                    break;
                }
            }
        });
    }

    /// A response to a SUBSCRIBE or PUBLISH of ours.
    async fn usage_response(&mut self, id: HandleId, kind: Kind, msg: Message) {
        let status = msg.status().unwrap_or(0);
        if status < 200 {
            return;
        }
        su_log!(
            NUA,
            5,
            "nua: {id}: {status} {} to {}",
            msg.reason().unwrap_or(""),
            msg.cseq_method_str().unwrap_or("")
        );
        let now = Instant::now();
        let Some(h) = self.handles.get_mut(&id) else {
            return;
        };
        match kind {
            Kind::Subscribe => {
                if let Some(sub) = self.usages.subs.get_mut(&id) {
                    sub.handle_response(now, &msg, &mut h.auth);
                }
                self.sub_drive(id).await;
            }
            Kind::Publish => {
                let Some(p) = self.usages.pubs.get_mut(&id) else {
                    return;
                };
                let action = p.handle_response(now, &msg, &mut h.auth);
                self.pub_apply(id, action, Some(msg)).await;
            }
        }
    }

    /// Runs the handle's subscription and publication timers that are
    /// due.
    pub(super) async fn usage_timers(&mut self, id: HandleId, now: Instant) {
        let due = |at: Option<Instant>| at.is_some_and(|at| at <= now);
        if let Some(sub) = self.usages.subs.get_mut(&id)
            && due(sub.poll_timeout())
        {
            sub.handle_timeout(now);
            self.sub_drive(id).await;
        }
        if let Some(p) = self.usages.pubs.get_mut(&id)
            && due(p.poll_timeout())
        {
            let action = p.handle_timeout(now);
            self.pub_apply(id, action, None).await;
        }
    }

    /// A NOTIFY with the Call-ID of one of our subscriptions goes to it
    /// (which answers it); one outside any dialog (no To tag) that matches
    /// none gets 481 (RFC 6665 §4.1.3); anything else is `Err`, for the
    /// other paths (a NOTIFY in a call's dialog, about a REFER).
    pub(super) async fn usage_request(&mut self, req: ServerRequest) -> Result<(), ServerRequest> {
        if req.msg.method() != Method::Notify {
            return Err(req);
        }
        let found = req
            .msg
            .call_id()
            .and_then(|c| self.usages.by_call_id.get(c))
            .copied()
            .filter(|id| self.usages.subs.contains_key(id));
        let Some(id) = found else {
            if req.msg.to_tag().is_some() {
                return Err(req);
            }
            su_log!(NUA, 5, "nua: NOTIFY of no subscription answered 481");
            self.answer_notify(req, 481, "Subscription Does Not Exist");
            return Ok(());
        };
        let Some(sub) = self.usages.subs.get_mut(&id) else {
            return Err(req);
        };
        let answer = sub.handle_notify(Instant::now(), &req.msg);
        if answer.status != 200 {
            su_log!(
                NUA,
                5,
                "nua: {id}: NOTIFY answered {} {}",
                answer.status,
                answer.phrase
            );
        }
        self.answer_notify(req, answer.status, answer.phrase);
        self.sub_drive(id).await;
        Ok(())
    }

    /// Answers a NOTIFY (a To tag added when it has none).
    fn answer_notify(&self, req: ServerRequest, status: u16, phrase: &str) {
        let tag = self.agent.tag();
        let sent = ResponseBuilder::reply_to(&req.msg, status, phrase, Some(&tag))
            .header(HeaderName::Server, &self.config.user_agent)
            .build()
            .map_err(|e| e.to_string())
            .and_then(|resp| {
                self.agent
                    .respond(req.server, resp)
                    .map_err(|e| e.to_string())
            });
        if let Err(e) = sent {
            su_log!(NUA, 2, "nua: cannot answer NOTIFY: {e}");
        }
    }
}
