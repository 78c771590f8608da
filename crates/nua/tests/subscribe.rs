//! SUBSCRIBE/NOTIFY and PUBLISH of a user agent on 127.0.0.1 against
//! scripted peers built on the transaction engine (sofia-nta), and against
//! sofia-nea's notifier driven by a small loop.

use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};

use sofia_iptsec::{AuthModule, Config as AuthConfig, MemoryStore};
use sofia_msg::{HeaderName, Message, Method, RequestBuilder, ResponseBuilder};
use sofia_nta::dialog::Dialog;
use sofia_nta::{Agent, ClientEvent, Config as NtaConfig, ServerRequest};
use sofia_nua::{Config, Credentials, Event, EventKind, Handle, Nua, SubState};
use sofia_tport::{Destination, Tport, Transport};
use tokio::sync::mpsc::{Receiver, UnboundedReceiver};

const WAIT: Duration = Duration::from_secs(10);

struct Peer {
    agent: Agent,
    addr: SocketAddr,
    requests: UnboundedReceiver<ServerRequest>,
}

async fn peer() -> Peer {
    let (tport, incoming) = Tport::bind(sofia_tport::Config::new(["sip:127.0.0.1:0"]))
        .await
        .unwrap();
    let addr = tport.local_addr(Transport::Udp).unwrap();
    let (agent, requests, _others) = Agent::new(tport, incoming, NtaConfig::default());
    Peer {
        agent,
        addr,
        requests,
    }
}

impl Peer {
    async fn request(&mut self) -> ServerRequest {
        tokio::time::timeout(WAIT, self.requests.recv())
            .await
            .expect("a request in time")
            .expect("the peer runs")
    }

    fn answer(
        &self,
        req: &ServerRequest,
        status: u16,
        reason: &str,
        tag: &str,
        extra: &[(HeaderName, &str)],
    ) {
        let mut b = ResponseBuilder::reply_to(&req.msg, status, reason, Some(tag))
            .header(HeaderName::Contact, &format!("<sip:peer@{}>", self.addr));
        for (name, value) in extra {
            b = b.header(*name, value);
        }
        self.agent.respond(req.server, b.build().unwrap()).unwrap();
    }

    /// Sends a NOTIFY in `dialog` to `to` and returns the status of its
    /// final response.
    async fn notify(
        &self,
        dialog: &mut Dialog,
        to: SocketAddr,
        state: &str,
        body: Option<&str>,
    ) -> u16 {
        let via = self.agent.via(Transport::Udp).unwrap();
        let mut b = dialog
            .request(Method::Notify, &via, None)
            .header(HeaderName::Event, "presence")
            .header(HeaderName::SubscriptionState, state)
            .header(HeaderName::Contact, &format!("<sip:peer@{}>", self.addr));
        if let Some(body) = body {
            b = b.body("application/pidf+xml", body.to_string());
        }
        self.send(b.build().unwrap(), to).await
    }

    /// Sends a request to `to` and returns the status of its final response.
    async fn send(&self, msg: Message, to: SocketAddr) -> u16 {
        let mut rx = self
            .agent
            .request(msg, Destination::new(Transport::Udp, to))
            .unwrap();
        loop {
            let ev = tokio::time::timeout(WAIT, rx.recv())
                .await
                .expect("a response in time")
                .expect("the transaction runs");
            match ev {
                ClientEvent::Response(r) if r.status().unwrap_or(0) >= 200 => {
                    return r.status().unwrap_or(0);
                }
                ClientEvent::Response(_) => {}
                ClientEvent::Timeout => return 408,
            }
        }
    }
}

async fn next(events: &mut Receiver<Event>) -> Event {
    tokio::time::timeout(WAIT, events.recv())
        .await
        .expect("an event in time")
        .expect("the user agent runs")
}

async fn until(events: &mut Receiver<Event>, kind: EventKind) -> Event {
    loop {
        let ev = next(events).await;
        if ev.kind == kind {
            return ev;
        }
    }
}

async fn ua(
    config: Config,
    peer: SocketAddr,
    who: &str,
) -> (Nua, Receiver<Event>, Handle, SocketAddr) {
    let (nua, events) = Nua::new(config).await.unwrap();
    let addr = nua.listeners()[0].1;
    let handle = nua.handle(&format!("sip:{who}@{peer}")).unwrap();
    (nua, events, handle, addr)
}

fn fast_timers() -> sofia_nta::Timers {
    sofia_nta::Timers {
        t1: Duration::from_millis(50),
        t2: Duration::from_millis(400),
        ..sofia_nta::Timers::default()
    }
}

#[tokio::test]
async fn subscribes_gets_notifies_and_unsubscribes() {
    let mut p = peer().await;
    let (_alice, mut events, bob, alice_addr) = ua(Config::default(), p.addr, "bob").await;
    bob.subscribe("presence", Some("application/pidf+xml"), Some(600))
        .unwrap();
    let sub = p.request().await;
    assert_eq!(sub.msg.method(), Method::Subscribe);
    assert_eq!(sub.msg.header(HeaderName::Event), Some("presence"));
    assert_eq!(sub.msg.header(HeaderName::Expires), Some("600"));
    assert_eq!(
        sub.msg.header(HeaderName::Accept),
        Some("application/pidf+xml")
    );
    assert!(sub.msg.header(HeaderName::Contact).is_some());
    assert_eq!(sub.msg.to_tag(), None);
    p.answer(&sub, 200, "OK", "n1", &[(HeaderName::Expires, "600")]);
    let r = until(&mut events, EventKind::RSubscribe).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.substate, Some(SubState::Embryonic));
    assert_eq!(r.handle, bob.id());

    let mut dialog = Dialog::from_uas(&sub.msg, "n1", false).unwrap();
    let status = p
        .notify(
            &mut dialog,
            alice_addr,
            "active;expires=600",
            Some("<open/>"),
        )
        .await;
    assert_eq!(status, 200);
    let n = until(&mut events, EventKind::INotify).await;
    assert_eq!((n.status, n.substate), (200, Some(SubState::Active)));
    assert_eq!(n.message.as_ref().unwrap().body_bytes(), b"<open/>");
    assert_eq!(
        n.to_string(),
        format!("i_notify {}: 200 OK (active)", bob.id())
    );

    bob.unsubscribe().unwrap();
    let un = p.request().await;
    assert_eq!(un.msg.method(), Method::Subscribe);
    assert_eq!(un.msg.header(HeaderName::Expires), Some("0"));
    assert_eq!(un.msg.to_tag(), Some("n1"));
    assert_eq!(un.msg.call_id(), sub.msg.call_id());
    assert!(un.msg.cseq().unwrap().0 > sub.msg.cseq().unwrap().0);
    p.answer(&un, 200, "OK", "n1", &[(HeaderName::Expires, "0")]);
    let r = until(&mut events, EventKind::RUnsubscribe).await;
    assert_eq!(r.status, 200);
    let status = p
        .notify(&mut dialog, alice_addr, "terminated;reason=timeout", None)
        .await;
    assert_eq!(status, 200);
    let n = until(&mut events, EventKind::INotify).await;
    assert_eq!(n.substate, Some(SubState::Terminated));
    // The dialog is gone: a further NOTIFY gets 481.
    let status = p.notify(&mut dialog, alice_addr, "active", None).await;
    assert_eq!(status, 481);
}

#[tokio::test]
async fn a_notify_before_the_2xx_makes_the_dialog_and_other_forks_get_481() {
    let mut p = peer().await;
    let (_alice, mut events, bob, alice_addr) = ua(Config::default(), p.addr, "bob").await;
    bob.subscribe("presence", None, Some(600)).unwrap();
    let sub = p.request().await;
    // The NOTIFY overtakes the 2xx.
    let mut dialog = Dialog::from_uas(&sub.msg, "first", false).unwrap();
    let status = p
        .notify(&mut dialog, alice_addr, "pending;expires=600", None)
        .await;
    assert_eq!(status, 200, "a NOTIFY before the 2xx is the subscription's");
    let n = until(&mut events, EventKind::INotify).await;
    assert_eq!(n.substate, Some(SubState::Pending));
    // Another fork's NOTIFY.
    let mut fork = Dialog::from_uas(&sub.msg, "second", false).unwrap();
    let status = p.notify(&mut fork, alice_addr, "active", None).await;
    assert_eq!(status, 481);
    p.answer(
        &sub,
        202,
        "Accepted",
        "first",
        &[(HeaderName::Expires, "600")],
    );
    let r = until(&mut events, EventKind::RSubscribe).await;
    assert_eq!((r.status, r.substate), (202, Some(SubState::Pending)));
    let status = p
        .notify(
            &mut dialog,
            alice_addr,
            "active;expires=600",
            Some("<open/>"),
        )
        .await;
    assert_eq!(status, 200);
    let n = until(&mut events, EventKind::INotify).await;
    assert_eq!(n.substate, Some(SubState::Active));
    // The unsubscription goes in the NOTIFY's dialog.
    bob.unsubscribe().unwrap();
    let un = p.request().await;
    assert_eq!(un.msg.to_tag(), Some("first"));
    assert_eq!(
        un.msg.request_uri_str(),
        Some(&*format!("sip:peer@{}", p.addr))
    );
}

#[tokio::test]
async fn refreshes_in_the_dialog_before_expiry() {
    let mut p = peer().await;
    let (_alice, mut events, bob, alice_addr) = ua(Config::default(), p.addr, "bob").await;
    bob.subscribe("presence", None, Some(600)).unwrap();
    let sub = p.request().await;
    // Granted 2 s: refreshed after 1 s (refresh_delay).
    p.answer(&sub, 200, "OK", "n1", &[(HeaderName::Expires, "2")]);
    let mut dialog = Dialog::from_uas(&sub.msg, "n1", false).unwrap();
    assert_eq!(
        p.notify(&mut dialog, alice_addr, "active;expires=2", None)
            .await,
        200
    );
    let started = Instant::now();
    let refresh = p.request().await;
    assert!(started.elapsed() >= Duration::from_millis(500));
    assert_eq!(refresh.msg.method(), Method::Subscribe);
    assert_eq!(refresh.msg.to_tag(), Some("n1"));
    assert_eq!(refresh.msg.header(HeaderName::Expires), Some("600"));
    assert_eq!(refresh.msg.call_id(), sub.msg.call_id());
    p.answer(&refresh, 200, "OK", "n1", &[(HeaderName::Expires, "600")]);
    let mut statuses = Vec::new();
    for _ in 0..2 {
        let r = until(&mut events, EventKind::RSubscribe).await;
        statuses.push(r.status);
    }
    assert_eq!(statuses, [200, 200]);
}

#[tokio::test]
async fn bad_event_is_reported_and_interval_too_brief_retried() {
    let mut p = peer().await;
    let (_alice, mut events, bob, _) = ua(Config::default(), p.addr, "bob").await;
    bob.subscribe("presence", None, Some(10)).unwrap();
    let first = p.request().await;
    p.answer(
        &first,
        423,
        "Interval Too Brief",
        "x",
        &[(HeaderName::MinExpires, "60")],
    );
    let second = p.request().await;
    assert_eq!(second.msg.header(HeaderName::Expires), Some("60"));
    assert_eq!(second.msg.to_tag(), None);
    p.answer(
        &second,
        489,
        "Bad Event",
        "x",
        &[(HeaderName::AllowEvents, "message-summary")],
    );
    let r = until(&mut events, EventKind::RSubscribe).await;
    assert_eq!((r.status, r.substate), (489, Some(SubState::Terminated)));
    assert_eq!(
        r.message.unwrap().header(HeaderName::AllowEvents),
        Some("message-summary")
    );
}

#[tokio::test]
async fn a_challenged_subscribe_is_sent_again_with_credentials() {
    let mut p = peer().await;
    let mut store = MemoryStore::new();
    store.add_password("alice", None, "secret");
    let mut auth = AuthModule::new(AuthConfig::default(), store);
    let config = Config {
        credentials: vec![Credentials::new("alice", "secret")],
        ..Config::default()
    };
    let (_alice, mut events, bob, _) = ua(config, p.addr, "bob").await;
    bob.subscribe("presence", None, None).unwrap();
    let first = p.request().await;
    assert_eq!(first.msg.header(HeaderName::Expires), Some("3600"));
    let verdict = auth.verify(SystemTime::now(), first.source.remote.ip(), &first.msg);
    let challenge = verdict.response(&first.msg, Some("x")).unwrap().unwrap();
    assert_eq!(challenge.status(), Some(401));
    p.agent.respond(first.server, challenge).unwrap();
    let second = p.request().await;
    assert!(second.msg.header(HeaderName::Authorization).is_some());
    let verdict = auth.verify(SystemTime::now(), second.source.remote.ip(), &second.msg);
    assert!(matches!(verdict, sofia_iptsec::Verdict::Authorized { .. }));
    p.answer(&second, 200, "OK", "n1", &[]);
    let r = until(&mut events, EventKind::RSubscribe).await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn no_notify_within_64_t1_ends_the_subscription() {
    let mut p = peer().await;
    let config = Config {
        timers: fast_timers(),
        ..Config::default()
    };
    let (_alice, mut events, bob, alice_addr) = ua(config, p.addr, "bob").await;
    bob.subscribe("presence", None, Some(600)).unwrap();
    let sub = p.request().await;
    p.answer(&sub, 200, "OK", "n1", &[]);
    let answered = Instant::now();
    let r = until(&mut events, EventKind::RSubscribe).await;
    assert_eq!(r.status, 200);
    let n = until(&mut events, EventKind::INotify).await;
    assert!(
        answered.elapsed() >= Duration::from_millis(3000),
        "64*T1 is 3.2 s"
    );
    assert_eq!((n.status, n.substate), (408, Some(SubState::Terminated)));
    assert!(n.message.is_none());
    // Its dialog is gone.
    let mut dialog = Dialog::from_uas(&sub.msg, "n1", false).unwrap();
    assert_eq!(p.notify(&mut dialog, alice_addr, "active", None).await, 481);
}

#[tokio::test]
async fn publishes_refreshes_republishes_after_412_and_unpublishes() {
    let mut p = peer().await;
    let (_alice, mut events, alice, _) = ua(Config::default(), p.addr, "alice").await;
    let pidf = "<presence entity=\"sip:alice@example.com\"/>";
    alice
        .publish("presence", "application/pidf+xml", pidf, Some(600))
        .unwrap();
    let first = p.request().await;
    assert_eq!(first.msg.method(), Method::Publish);
    assert_eq!(first.msg.header(HeaderName::Event), Some("presence"));
    assert_eq!(first.msg.header(HeaderName::SipIfMatch), None);
    assert_eq!(first.msg.body_bytes(), pidf.as_bytes());
    p.answer(
        &first,
        200,
        "OK",
        "e",
        &[(HeaderName::SipETag, "e1"), (HeaderName::Expires, "2")],
    );
    let r = until(&mut events, EventKind::RPublish).await;
    assert_eq!(r.status, 200);
    // Refreshed after 1 s with the entity tag and no body.
    let refresh = p.request().await;
    assert_eq!(refresh.msg.header(HeaderName::SipIfMatch), Some("e1"));
    assert!(refresh.msg.body_bytes().is_empty());
    assert_eq!(refresh.msg.call_id(), first.msg.call_id());
    p.answer(&refresh, 412, "Conditional Request Failed", "e", &[]);
    // Published again from scratch.
    let again = p.request().await;
    assert_eq!(again.msg.header(HeaderName::SipIfMatch), None);
    assert_eq!(again.msg.body_bytes(), pidf.as_bytes());
    p.answer(
        &again,
        200,
        "OK",
        "e",
        &[(HeaderName::SipETag, "e2"), (HeaderName::Expires, "600")],
    );
    let r = until(&mut events, EventKind::RPublish).await;
    assert_eq!(r.status, 200);
    // Modified with the new body.
    alice
        .publish("presence", "application/pidf+xml", "<closed/>", Some(600))
        .unwrap();
    let modify = p.request().await;
    assert_eq!(modify.msg.header(HeaderName::SipIfMatch), Some("e2"));
    assert_eq!(modify.msg.body_bytes(), b"<closed/>");
    p.answer(&modify, 200, "OK", "e", &[(HeaderName::SipETag, "e3")]);
    until(&mut events, EventKind::RPublish).await;
    alice.unpublish().unwrap();
    let un = p.request().await;
    assert_eq!(un.msg.header(HeaderName::SipIfMatch), Some("e3"));
    assert_eq!(un.msg.header(HeaderName::Expires), Some("0"));
    assert!(un.msg.body_bytes().is_empty());
    p.answer(&un, 200, "OK", "e", &[]);
    let r = until(&mut events, EventKind::RUnpublish).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.to_string(), format!("r_unpublish {}: 200 OK", alice.id()));
}

#[tokio::test]
async fn a_challenged_publish_is_sent_again_with_credentials() {
    let mut p = peer().await;
    let mut store = MemoryStore::new();
    store.add_password("alice", None, "secret");
    let mut auth = AuthModule::new(AuthConfig::default(), store);
    let config = Config {
        credentials: vec![Credentials::new("alice", "secret")],
        ..Config::default()
    };
    let (_alice, mut events, alice, _) = ua(config, p.addr, "alice").await;
    alice.publish("presence", "text/plain", "x", None).unwrap();
    let first = p.request().await;
    let verdict = auth.verify(SystemTime::now(), first.source.remote.ip(), &first.msg);
    let challenge = verdict.response(&first.msg, Some("x")).unwrap().unwrap();
    p.agent.respond(first.server, challenge).unwrap();
    let second = p.request().await;
    let verdict = auth.verify(SystemTime::now(), second.source.remote.ip(), &second.msg);
    assert!(matches!(verdict, sofia_iptsec::Verdict::Authorized { .. }));
    assert_eq!(second.msg.body_bytes(), b"x");
    p.answer(
        &second,
        423,
        "Interval Too Brief",
        "e",
        &[(HeaderName::MinExpires, "7200")],
    );
    let third = p.request().await;
    assert_eq!(third.msg.header(HeaderName::Expires), Some("7200"));
    p.answer(&third, 200, "OK", "e", &[(HeaderName::SipETag, "t")]);
    let r = until(&mut events, EventKind::RPublish).await;
    assert_eq!(r.status, 200);
}

/// sofia-nea's notifier on an nta agent: SUBSCRIBEs answered by the
/// notifier, its NOTIFYs sent in client transactions.
#[tokio::test]
async fn against_the_nea_notifier() {
    use sofia_nea::{Config as NeaConfig, Decision, Notifier, Presence};

    let mut p = peer().await;
    let (_alice, mut events, bob, _) = ua(Config::default(), p.addr, "bob").await;
    let mut notifier = Notifier::new(NeaConfig {
        contact: format!("sip:nea@{}", p.addr),
        ..NeaConfig::default()
    });
    notifier.add_package(Box::new(Presence));
    let resource = format!("bob@{}", p.addr.ip());

    bob.subscribe("presence", Some("application/pidf+xml"), Some(600))
        .unwrap();
    // Serve until the subscription is active.
    let sub = p.request().await;
    let subscriber = sub.source.remote;
    let tag = p.agent.tag();
    let resp = notifier
        .handle_subscribe(Instant::now(), &sub.msg, &tag, |_| Decision::Accept)
        .unwrap();
    p.agent.respond(sub.server, resp).unwrap();
    let flush = |notifier: &mut Notifier, p: &Peer| {
        let mut out = Vec::new();
        while let Some(n) =
            notifier.poll_notify(Instant::now(), || p.agent.via(Transport::Udp).unwrap())
        {
            out.push(n);
        }
        out
    };
    for n in flush(&mut notifier, &p) {
        let status = p.send(n.request, subscriber).await;
        notifier.handle_notify_result(n.sub, Some(status));
        assert_eq!(status, 200);
    }
    // The NOTIFY may be reported before the 2xx.
    let (a, b) = (next(&mut events).await, next(&mut events).await);
    let (r, n) = if a.kind == EventKind::RSubscribe {
        (a, b)
    } else {
        (b, a)
    };
    assert_eq!((r.kind, r.status), (EventKind::RSubscribe, 200));
    assert_eq!(n.kind, EventKind::INotify);
    assert_eq!(n.substate, Some(SubState::Active));
    assert!(
        std::str::from_utf8(n.message.as_ref().unwrap().body_bytes())
            .unwrap()
            .contains("<basic>closed</basic>")
    );

    // A state change reaches the subscriber (after the notifier's
    // one-second throttle).
    let pidf = Presence::pidf(&format!("sip:{resource}"), true, Some("here"));
    assert_eq!(notifier.set_state("presence", &resource, pidf).unwrap(), 1);
    tokio::time::sleep(notifier.config().min_notify_interval).await;
    for n in flush(&mut notifier, &p) {
        let status = p.send(n.request, subscriber).await;
        notifier.handle_notify_result(n.sub, Some(status));
    }
    let n = until(&mut events, EventKind::INotify).await;
    let body = std::str::from_utf8(n.message.as_ref().unwrap().body_bytes())
        .unwrap()
        .to_string();
    assert!(
        body.contains("<basic>open</basic>") && body.contains("here"),
        "{body}"
    );

    // Unsubscribing: 200, then the final NOTIFY.
    bob.unsubscribe().unwrap();
    let un = p.request().await;
    let resp = notifier
        .handle_subscribe(Instant::now(), &un.msg, &tag, |_| Decision::Accept)
        .unwrap();
    assert_eq!(resp.status(), Some(200));
    p.agent.respond(un.server, resp).unwrap();
    for n in flush(&mut notifier, &p) {
        assert!(n.last);
        let status = p.send(n.request, subscriber).await;
        notifier.handle_notify_result(n.sub, Some(status));
        assert_eq!(status, 200);
    }
    let (a, b) = (next(&mut events).await, next(&mut events).await);
    let (r, n) = if a.kind == EventKind::RUnsubscribe {
        (a, b)
    } else {
        (b, a)
    };
    assert_eq!((r.kind, r.status), (EventKind::RUnsubscribe, 200));
    assert_eq!(n.kind, EventKind::INotify);
    assert_eq!(n.substate, Some(SubState::Terminated));
    assert!(notifier.is_empty());
}

/// NOTIFYs that belong to nothing: outside a dialog, in an unknown dialog,
/// and a hundred forks of a live subscription, each answered 481 without
/// disturbing the subscription.
#[tokio::test]
async fn notifies_of_nothing_get_481_and_forks_make_no_state() {
    let mut p = peer().await;
    let (_alice, mut events, bob, alice_addr) = ua(Config::default(), p.addr, "bob").await;
    let stray = |call_id: &str, to_tag: Option<&str>| {
        let to = match to_tag {
            Some(t) => format!("<sip:nua@{alice_addr}>;tag={t}"),
            None => format!("<sip:nua@{alice_addr}>"),
        };
        RequestBuilder::new(Method::Notify, &format!("sip:nua@{alice_addr}"))
            .header(HeaderName::Via, &p.agent.via(Transport::Udp).unwrap())
            .header(HeaderName::MaxForwards, "70")
            .header(HeaderName::From, "<sip:peer@127.0.0.1>;tag=s1")
            .header(HeaderName::To, &to)
            .header(HeaderName::CallId, call_id)
            .header(HeaderName::CSeq, "1 NOTIFY")
            .header(HeaderName::Contact, &format!("<sip:peer@{}>", p.addr))
            .header(HeaderName::Event, "presence")
            .header(HeaderName::SubscriptionState, "active")
            .build()
            .unwrap()
    };
    assert_eq!(p.send(stray("nothing-1", None), alice_addr).await, 481);
    assert_eq!(p.send(stray("nothing-2", Some("t")), alice_addr).await, 481);

    bob.subscribe("presence", None, Some(600)).unwrap();
    let sub = p.request().await;
    p.answer(&sub, 200, "OK", "n1", &[]);
    until(&mut events, EventKind::RSubscribe).await;
    for i in 0..100 {
        let mut fork = Dialog::from_uas(&sub.msg, &format!("fork{i}"), false).unwrap();
        assert_eq!(p.notify(&mut fork, alice_addr, "active", None).await, 481);
    }
    let mut dialog = Dialog::from_uas(&sub.msg, "n1", false).unwrap();
    assert_eq!(
        p.notify(&mut dialog, alice_addr, "active", Some("<open/>"))
            .await,
        200
    );
    let n = until(&mut events, EventKind::INotify).await;
    assert_eq!(n.substate, Some(SubState::Active));
    assert_eq!(n.message.unwrap().from_tag(), Some("n1"));
}
