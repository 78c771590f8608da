//! The driver over loopback UDP: an nta `Agent` (or a bare socket) subscribes
//! to a `Server` and answers its NOTIFYs.

use std::net::SocketAddr;
use std::time::Duration;

use sofia_msg::{HeaderName, Message, Method, RequestBuilder, ResponseBuilder};
use sofia_nea::{Config, Decision, MessageSummary, Notifier, Presence, Server, ServerEvent};
use sofia_nta::{Agent, ClientEvent, ServerRequest, Timers};
use sofia_tport::{Destination, Tport, Transport};
use tokio::sync::mpsc;
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(5);

async fn bind() -> (Tport, mpsc::Receiver<sofia_tport::Incoming>, SocketAddr) {
    let (tport, incoming) =
        Tport::bind(sofia_tport::Config::new(["sip:127.0.0.1:0;transport=udp"]))
            .await
            .unwrap();
    let addr = tport.local_addr(Transport::Udp).unwrap();
    (tport, incoming, addr)
}

/// A presence and message-summary server on 127.0.0.1 with a fast
/// transaction clock (T1 10 ms: an unanswered NOTIFY times out in 640 ms).
/// Requests other than SUBSCRIBE are answered 501 by the test's loop.
async fn server(config: Config) -> (Server, SocketAddr) {
    let (tport, incoming, addr) = bind().await;
    let nta = sofia_nta::Config {
        timers: Timers {
            t1: Duration::from_millis(10),
            ..Timers::default()
        },
        ..sofia_nta::Config::default()
    };
    let (agent, mut requests, _others) = Agent::new(tport, incoming, nta);
    let mut notifier = Notifier::new(Config {
        contact: format!("sip:nea@{addr}"),
        ..config
    });
    notifier.add_package(Box::new(Presence));
    notifier.add_package(Box::new(MessageSummary));
    let server = Server::new(agent.clone(), notifier);
    let s = server.clone();
    tokio::spawn(async move {
        while let Some(req) = requests.recv().await {
            if let Err(other) = s.handle(req) {
                let r = ResponseBuilder::reply_to(&other.msg, 501, "Not Implemented", Some("x"))
                    .build()
                    .unwrap();
                agent.respond(other.server, r).unwrap();
            }
        }
    });
    (server, addr)
}

fn fast() -> Config {
    Config {
        min_expires: 1,
        min_notify_interval: Duration::from_millis(20),
        ..Config::default()
    }
}

/// A subscriber: an nta agent keeping one subscription's dialog.
struct Subscriber {
    agent: Agent,
    requests: mpsc::UnboundedReceiver<ServerRequest>,
    local: SocketAddr,
    server: SocketAddr,
    call_id: String,
    from_tag: String,
    to_tag: Option<String>,
    cseq: u32,
    user: String,
}

impl Subscriber {
    async fn new(server: SocketAddr, user: &str) -> Subscriber {
        let (tport, incoming, local) = bind().await;
        let (agent, requests, _others) = Agent::new(tport, incoming, sofia_nta::Config::default());
        let from_tag = agent.tag();
        Subscriber {
            call_id: format!("{user}-{}", agent.tag()),
            agent,
            requests,
            local,
            server,
            from_tag,
            to_tag: None,
            cseq: 0,
            user: user.into(),
        }
    }

    fn request(&mut self, resource: &str, event: &str, expires: Option<u32>) -> Message {
        self.cseq += 1;
        let to = match &self.to_tag {
            Some(t) => format!("<sip:{resource}@127.0.0.1>;tag={t}"),
            None => format!("<sip:{resource}@127.0.0.1>"),
        };
        let mut b = RequestBuilder::new(
            Method::Subscribe,
            &format!("sip:{resource}@{}", self.server),
        )
        .header(HeaderName::Via, &self.agent.via(Transport::Udp).unwrap())
        .header(HeaderName::MaxForwards, "70")
        .header(
            HeaderName::From,
            &format!("<sip:{}@127.0.0.1>;tag={}", self.user, self.from_tag),
        )
        .header(HeaderName::To, &to)
        .header(HeaderName::CallId, &self.call_id)
        .header(HeaderName::CSeq, &format!("{} SUBSCRIBE", self.cseq))
        .header(
            HeaderName::Contact,
            &format!("<sip:{}@{}>", self.user, self.local),
        )
        .header(HeaderName::Event, event);
        if let Some(e) = expires {
            b = b.header(HeaderName::Expires, &e.to_string());
        }
        b.build().unwrap()
    }

    /// Sends a request and returns its final response.
    async fn send(&self, req: Message) -> Message {
        let dest = Destination::new(Transport::Udp, self.server);
        let mut rx = self.agent.request(req, dest).unwrap();
        loop {
            match timeout(WAIT, rx.recv()).await.unwrap() {
                Some(ClientEvent::Response(r)) if r.status().unwrap() >= 200 => return r,
                Some(ClientEvent::Response(_)) => {}
                other => panic!("no final response: {other:?}"),
            }
        }
    }

    /// SUBSCRIBE (or refresh or unsubscribe, in the dialog once made).
    async fn subscribe(&mut self, resource: &str, event: &str, expires: Option<u32>) -> Message {
        let req = self.request(resource, event, expires);
        let resp = self.send(req).await;
        if self.to_tag.is_none() && matches!(resp.status(), Some(200 | 202)) {
            self.to_tag = resp.to_tag().map(str::to_string);
        }
        resp
    }

    /// The next NOTIFY, answered with `status`: (Subscription-State, body).
    async fn notify(&mut self, status: u16) -> (String, String) {
        let req = timeout(WAIT, self.requests.recv())
            .await
            .expect("a NOTIFY in time")
            .unwrap();
        let msg = &req.msg;
        assert_eq!(msg.method(), Method::Notify);
        assert_eq!(msg.call_id(), Some(self.call_id.as_str()));
        assert_eq!(msg.to_tag(), Some(self.from_tag.as_str()));
        assert_eq!(msg.from_tag(), self.to_tag.as_deref());
        assert_eq!(
            msg.request_uri_str(),
            Some(format!("sip:{}@{}", self.user, self.local).as_str())
        );
        let reason = if status == 200 { "OK" } else { "Failed" };
        let r = ResponseBuilder::reply_to(msg, status, reason, None)
            .build()
            .unwrap();
        self.agent.respond(req.server, r).unwrap();
        (
            msg.header(HeaderName::SubscriptionState)
                .unwrap()
                .to_string(),
            String::from_utf8_lossy(msg.body_bytes()).into_owned(),
        )
    }

    /// No NOTIFY comes within `d`.
    async fn quiet(&mut self, d: Duration) {
        if let Ok(Some(r)) = timeout(d, self.requests.recv()).await {
            panic!("unexpected {}", r.msg.method_str());
        }
    }
}

/// Waits until the server has `n` subscriptions.
async fn until_len(server: &Server, n: usize) {
    timeout(WAIT, async {
        while server.len() != n {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{} subscriptions, expected {n}", server.len()));
}

#[tokio::test]
async fn subscribe_change_refresh_unsubscribe() {
    let (server, addr) = server(fast()).await;
    let mut events = server.events().unwrap();
    assert!(server.events().is_none());
    let mut bob = Subscriber::new(addr, "bob").await;
    let r = bob.subscribe("alice", "presence", Some(600)).await;
    assert_eq!(r.status(), Some(200));
    assert_eq!(r.header(HeaderName::Expires), Some("600"));
    assert_eq!(
        r.header(HeaderName::Contact),
        Some(format!("<sip:nea@{addr}>").as_str())
    );
    let (state, body) = bob.notify(200).await;
    assert_eq!(state, "active;expires=600");
    assert!(body.contains("<basic>closed</basic>"), "{body}");
    assert!(body.contains("entity=\"sip:alice@127.0.0.1\""), "{body}");
    let Some(ServerEvent::Subscribed(info)) = events.recv().await else {
        panic!("no Subscribed event")
    };
    assert_eq!(info.resource, "alice@127.0.0.1");
    assert_eq!(info.subscriber, "sip:bob@127.0.0.1");

    // A state change.
    let n = server
        .set_state(
            "presence",
            "alice@127.0.0.1",
            Presence::pidf("sip:alice@127.0.0.1", true, Some("at work")),
        )
        .unwrap();
    assert_eq!(n, 1);
    let (state, body) = bob.notify(200).await;
    assert!(state.starts_with("active;expires="), "{state}");
    assert!(
        body.contains("<basic>open</basic></status><note>at work</note>"),
        "{body}"
    );

    // A refresh: 200 and a NOTIFY with the new expiry.
    let r = bob.subscribe("alice", "presence", Some(300)).await;
    assert_eq!(r.status(), Some(200));
    assert_eq!(r.header(HeaderName::Expires), Some("300"));
    let (state, body) = bob.notify(200).await;
    assert_eq!(state, "active;expires=300");
    assert!(body.contains("<basic>open</basic>"));

    // Unsubscribe: 200, the final NOTIFY, gone.
    let r = bob.subscribe("alice", "presence", Some(0)).await;
    assert_eq!(r.status(), Some(200));
    let (state, _) = bob.notify(200).await;
    assert_eq!(state, "terminated");
    until_len(&server, 0).await;
    let mut seen = Vec::new();
    while let Ok(Some(e)) = timeout(Duration::from_millis(300), events.recv()).await {
        seen.push(e);
    }
    assert!(
        seen.contains(&ServerEvent::Ended { sub: info.id }),
        "{seen:?}"
    );
    assert!(seen.contains(&ServerEvent::Notified {
        sub: info.id,
        state: "terminated".into(),
        status: Some(200)
    }));
    // The dialog is gone: a refresh gets 481.
    let r = bob.subscribe("alice", "presence", Some(600)).await;
    assert_eq!(r.status(), Some(481));
    bob.quiet(Duration::from_millis(200)).await;
}

#[tokio::test]
async fn every_subscriber_gets_the_change() {
    let (server, addr) = server(fast()).await;
    let mut subs = Vec::new();
    for who in ["bob", "carol", "dave"] {
        let mut s = Subscriber::new(addr, who).await;
        assert_eq!(
            s.subscribe("1000", "message-summary", None).await.status(),
            Some(200)
        );
        assert!(s.notify(200).await.1.starts_with("Messages-Waiting: no"));
        subs.push(s);
    }
    let body = MessageSummary::body("sip:1000@127.0.0.1", 3, 1);
    assert_eq!(
        server.set_state("message-summary", "1000@127.0.0.1", body.clone()),
        Ok(3)
    );
    for s in &mut subs {
        assert_eq!(s.notify(200).await.1, body);
    }
    assert!(server.set_state("dialog", "1000@127.0.0.1", body).is_err());
}

#[tokio::test]
async fn expiry_sends_terminated_timeout() {
    let (server, addr) = server(fast()).await;
    let mut bob = Subscriber::new(addr, "bob").await;
    assert_eq!(
        bob.subscribe("alice", "presence", Some(1)).await.status(),
        Some(200)
    );
    assert_eq!(bob.notify(200).await.0, "active;expires=1");
    assert_eq!(bob.notify(200).await.0, "terminated;reason=timeout");
    until_len(&server, 0).await;
}

#[tokio::test]
async fn pending_then_approved_or_rejected() {
    let (server, addr) = server(fast()).await;
    server.set_authorizer(|_| Decision::Pending);
    let mut bob = Subscriber::new(addr, "bob").await;
    assert_eq!(
        bob.subscribe("alice", "presence", Some(600)).await.status(),
        Some(202)
    );
    let (state, body) = bob.notify(200).await;
    assert_eq!(state, "pending;expires=600");
    assert_eq!(body, "", "no state while pending");
    let id = server.subscriptions()[0].id;
    server.approve(id).unwrap();
    let (state, body) = bob.notify(200).await;
    assert!(state.starts_with("active;expires="), "{state}");
    assert!(body.contains("<basic>closed</basic>"));

    let mut carol = Subscriber::new(addr, "carol").await;
    assert_eq!(
        carol
            .subscribe("alice", "presence", Some(600))
            .await
            .status(),
        Some(202)
    );
    carol.notify(200).await;
    let id = server
        .subscriptions()
        .into_iter()
        .find(|s| s.subscriber.contains("carol"))
        .unwrap()
        .id;
    server.reject(id).unwrap();
    let (state, body) = carol.notify(200).await;
    assert_eq!(state, "terminated;reason=rejected");
    assert_eq!(body, "");
    until_len(&server, 1).await;
    assert!(server.approve(id).is_err());
}

#[tokio::test]
async fn refusals_489_403_423() {
    let (server, addr) = server(Config::default()).await;
    let mut bob = Subscriber::new(addr, "bob").await;
    let r = bob.subscribe("alice", "dialog", None).await;
    assert_eq!(r.status(), Some(489));
    assert_eq!(
        r.header(HeaderName::AllowEvents),
        Some("presence, message-summary")
    );
    let r = bob.subscribe("alice", "presence", Some(5)).await;
    assert_eq!(r.status(), Some(423));
    assert_eq!(r.header(HeaderName::MinExpires), Some("60"));
    server.set_authorizer(|i| {
        if i.subscriber.contains("bob") {
            Decision::Reject
        } else {
            Decision::Accept
        }
    });
    let r = bob.subscribe("alice", "presence", None).await;
    assert_eq!(r.status(), Some(403));
    assert!(server.is_empty());
    bob.quiet(Duration::from_millis(200)).await;
    // Other methods are the application's.
    let options = RequestBuilder::new(Method::Options, &format!("sip:{addr}"))
        .header(HeaderName::Via, &bob.agent.via(Transport::Udp).unwrap())
        .header(HeaderName::From, "<sip:bob@127.0.0.1>;tag=o1")
        .header(HeaderName::To, "<sip:nea@127.0.0.1>")
        .header(HeaderName::CallId, "options-1")
        .header(HeaderName::CSeq, "1 OPTIONS")
        .build()
        .unwrap();
    assert_eq!(bob.send(options).await.status(), Some(501));
}

#[tokio::test]
async fn notify_answered_481_ends_the_subscription() {
    let (server, addr) = server(fast()).await;
    let mut events = server.events().unwrap();
    let mut bob = Subscriber::new(addr, "bob").await;
    bob.subscribe("alice", "presence", Some(600)).await;
    assert_eq!(bob.notify(481).await.0, "active;expires=600");
    until_len(&server, 0).await;
    let mut seen = Vec::new();
    while let Ok(Some(e)) = timeout(Duration::from_millis(300), events.recv()).await {
        seen.push(e);
    }
    assert!(
        seen.iter().any(|e| matches!(
            e,
            ServerEvent::Notified {
                status: Some(481),
                ..
            }
        )),
        "{seen:?}"
    );
    assert!(seen.iter().any(|e| matches!(e, ServerEvent::Ended { .. })));
    // State changes reach nobody now.
    assert_eq!(
        server.set_state("presence", "alice@127.0.0.1", "x".into()),
        Ok(0)
    );
    bob.quiet(Duration::from_millis(200)).await;
}

/// A bare UDP socket as subscriber: sends raw requests, reads raw messages.
struct Raw {
    sock: tokio::net::UdpSocket,
    server: SocketAddr,
}

impl Raw {
    async fn new(server: SocketAddr) -> Raw {
        Raw {
            sock: tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap(),
            server,
        }
    }

    fn subscribe(&self, branch: &str, expires: u32) -> String {
        let local = self.sock.local_addr().unwrap();
        format!(
            "SUBSCRIBE sip:alice@{server} SIP/2.0\r\n\
             Via: SIP/2.0/UDP {local};branch={branch}\r\n\
             Max-Forwards: 70\r\n\
             From: <sip:raw@127.0.0.1>;tag=raw1\r\n\
             To: <sip:alice@127.0.0.1>\r\n\
             Call-ID: raw-call\r\n\
             CSeq: 1 SUBSCRIBE\r\n\
             Contact: <sip:raw@{local}>\r\n\
             Event: presence\r\n\
             Expires: {expires}\r\n\
             Content-Length: 0\r\n\r\n",
            server = self.server
        )
    }

    async fn send(&self, text: &str) {
        self.sock
            .send_to(text.as_bytes(), self.server)
            .await
            .unwrap();
    }

    async fn recv(&self) -> Option<Message> {
        let mut buf = vec![0u8; 65536];
        let (n, _) = timeout(WAIT, self.sock.recv_from(&mut buf))
            .await
            .ok()?
            .ok()?;
        Message::parse(bytes::Bytes::copy_from_slice(&buf[..n])).ok()
    }
}

#[tokio::test]
async fn retransmitted_or_merged_subscribe_makes_one_subscription() {
    let (server, addr) = server(fast()).await;
    let raw = Raw::new(addr).await;
    let first = raw.subscribe("z9hG4bKraw-a", 600);
    raw.send(&first).await;
    // A retransmission (same branch) and the same request by another path
    // (a fork merged here: another branch).
    raw.send(&first).await;
    raw.send(&raw.subscribe("z9hG4bKraw-b", 600)).await;
    let mut oks = Vec::new();
    let mut merged = 0;
    let mut notifies = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_millis(1500);
    while tokio::time::Instant::now() < deadline {
        let Ok(Some(m)) = timeout(Duration::from_millis(300), raw.recv()).await else {
            continue;
        };
        match (m.method(), m.status()) {
            (Method::Notify, _) => {
                notifies += 1;
                let ok = ResponseBuilder::reply_to(&m, 200, "OK", None)
                    .build()
                    .unwrap();
                raw.sock.send_to(&ok.to_bytes(), addr).await.unwrap();
            }
            (_, Some(200)) => oks.push(m.to_tag().unwrap().to_string()),
            (_, Some(482)) => merged += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(!oks.is_empty());
    assert!(oks.iter().all(|t| *t == oks[0]), "one dialog: {oks:?}");
    assert_eq!(merged, 1);
    assert_eq!(notifies, 1);
    assert_eq!(server.len(), 1);
}

#[tokio::test]
async fn unanswered_notify_times_out_and_ends_the_subscription() {
    let (server, addr) = server(fast()).await;
    let raw = Raw::new(addr).await;
    raw.send(&raw.subscribe("z9hG4bKraw-t", 600)).await;
    // 200, then the NOTIFY (sent again and again), never answered: timer F
    // (64*T1 = 640 ms) ends the transaction and the subscription.
    until_len(&server, 1).await;
    until_len(&server, 0).await;
}

#[tokio::test]
async fn shutdown_terminates_every_subscription() {
    let (server, addr) = server(fast()).await;
    let mut bob = Subscriber::new(addr, "bob").await;
    let mut carol = Subscriber::new(addr, "carol").await;
    for s in [&mut bob, &mut carol] {
        s.subscribe("alice", "presence", Some(600)).await;
        s.notify(200).await;
    }
    let (b, c, n) = tokio::join!(
        bob.notify(200),
        carol.notify(200),
        server.shutdown(None, WAIT)
    );
    assert_eq!(n, 2);
    assert_eq!(b.0, "terminated;reason=deactivated");
    assert_eq!(c.0, "terminated;reason=deactivated");
    assert!(server.is_empty());
    let mut dave = Subscriber::new(addr, "dave").await;
    let r = dave.subscribe("alice", "presence", Some(600)).await;
    assert_eq!(r.status(), Some(503));
    assert_eq!(r.header(HeaderName::RetryAfter), Some("30"));
}

#[tokio::test]
async fn serve_answers_other_methods_405() {
    let (tport, incoming, addr) = bind().await;
    let (agent, requests, _others) = Agent::new(tport, incoming, sofia_nta::Config::default());
    let mut notifier = Notifier::new(fast());
    notifier.add_package(Box::new(Presence));
    let server = Server::new(agent, notifier);
    let s = server.clone();
    tokio::spawn(async move { s.serve(requests).await });
    let mut bob = Subscriber::new(addr, "bob").await;
    let options = RequestBuilder::new(Method::Options, &format!("sip:{addr}"))
        .header(HeaderName::Via, &bob.agent.via(Transport::Udp).unwrap())
        .header(HeaderName::From, "<sip:bob@127.0.0.1>;tag=o1")
        .header(HeaderName::To, "<sip:nea@127.0.0.1>")
        .header(HeaderName::CallId, "options-2")
        .header(HeaderName::CSeq, "1 OPTIONS")
        .build()
        .unwrap();
    let r = bob.send(options).await;
    assert_eq!(r.status(), Some(405));
    assert_eq!(r.header(HeaderName::Allow), Some("SUBSCRIBE"));
    assert_eq!(
        bob.subscribe("alice", "presence", Some(60)).await.status(),
        Some(200)
    );
    assert_eq!(bob.notify(200).await.0, "active;expires=60");
}

#[tokio::test]
async fn notify_follows_the_record_route_to_the_proxy() {
    let (server, addr) = server(fast()).await;
    // The subscriber and a loose-routing proxy, both bare sockets.
    let raw = Raw::new(addr).await;
    let proxy = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let proxy_addr = proxy.local_addr().unwrap();
    let local = raw.sock.local_addr().unwrap();
    let subscribe = raw.subscribe("z9hG4bKraw-rr", 600).replace(
        "Event: presence\r\n",
        &format!("Event: presence\r\nRecord-Route: <sip:{proxy_addr};lr>\r\n"),
    );
    raw.send(&subscribe).await;
    let ok = raw.recv().await.unwrap();
    assert_eq!(ok.status(), Some(200));
    // The NOTIFY goes to the proxy, with the Route, for the Contact.
    let mut buf = vec![0u8; 65536];
    let (n, _) = timeout(WAIT, proxy.recv_from(&mut buf))
        .await
        .unwrap()
        .unwrap();
    let notify = Message::parse(bytes::Bytes::copy_from_slice(&buf[..n])).unwrap();
    assert_eq!(notify.method(), Method::Notify);
    assert_eq!(
        notify.request_uri_str(),
        Some(format!("sip:raw@{local}").as_str())
    );
    assert_eq!(
        notify.header(HeaderName::Route),
        Some(format!("<sip:{proxy_addr};lr>").as_str())
    );
    assert_eq!(notify.to_tag(), Some("raw1"));
    assert_eq!(notify.from_tag(), ok.to_tag());
    assert_eq!(notify.call_id(), Some("raw-call"));
    assert_eq!(notify.cseq().map(|c| c.0), Some(1));
    let answer = ResponseBuilder::reply_to(&notify, 200, "OK", None)
        .build()
        .unwrap();
    proxy.send_to(&answer.to_bytes(), addr).await.unwrap();
    assert_eq!(server.len(), 1);
}
