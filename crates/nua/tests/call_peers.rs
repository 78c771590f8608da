//! Calls of a user agent against a scripted peer built on the transaction
//! engine (sofia-nta) on 127.0.0.1: the RFC 3261 rules that two well-behaved
//! user agents never exercise.

use std::time::{Duration, Instant, SystemTime};

use sofia_iptsec::{AuthModule, Config as AuthConfig, MemoryStore};
use sofia_msg::{HeaderName, Message, Method, RequestBuilder, ResponseBuilder};
use sofia_nta::{Agent, ClientEvent, Config as NtaConfig, Event as NtaEvent, ServerRequest};
use sofia_nua::{CallState, Config, Credentials, Event, EventKind, Nua};
use sofia_tport::{Destination, Tport, Transport};
use tokio::sync::mpsc::{Receiver, UnboundedReceiver};

const WAIT: Duration = Duration::from_secs(10);

struct Peer {
    agent: Agent,
    addr: std::net::SocketAddr,
    requests: UnboundedReceiver<ServerRequest>,
    others: UnboundedReceiver<NtaEvent>,
}

async fn peer() -> Peer {
    let (tport, incoming) = Tport::bind(sofia_tport::Config::new(["sip:127.0.0.1:0"]))
        .await
        .unwrap();
    let addr = tport.local_addr(Transport::Udp).unwrap();
    let (agent, requests, others) = Agent::new(tport, incoming, NtaConfig::default());
    Peer {
        agent,
        addr,
        requests,
        others,
    }
}

impl Peer {
    async fn request(&mut self) -> ServerRequest {
        tokio::time::timeout(WAIT, self.requests.recv())
            .await
            .expect("a request in time")
            .expect("the peer runs")
    }

    async fn ack(&mut self) -> Message {
        loop {
            let ev = tokio::time::timeout(WAIT, self.others.recv())
                .await
                .expect("an ACK in time")
                .expect("the peer runs");
            if let NtaEvent::Ack { msg, .. } = ev {
                return msg;
            }
        }
    }

    fn answer(&self, req: &ServerRequest, status: u16, tag: &str, sdp: bool) {
        let mut b = ResponseBuilder::reply_to(&req.msg, status, "OK", Some(tag))
            .header(HeaderName::Contact, &format!("<sip:peer@{}>", self.addr));
        if sdp {
            b = b.body("application/sdp", answer_sdp());
        }
        self.agent.respond(req.server, b.build().unwrap()).unwrap();
    }
}

fn answer_sdp() -> String {
    "v=0\r\no=- 7 7 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
     m=audio 6000 RTP/AVP 0\r\n"
        .to_string()
}

async fn next(events: &mut Receiver<Event>) -> Event {
    tokio::time::timeout(WAIT, events.recv())
        .await
        .expect("an event in time")
        .expect("the user agent runs")
}

async fn until_state(events: &mut Receiver<Event>, state: CallState) -> Event {
    loop {
        let ev = next(events).await;
        if ev.kind == EventKind::IState && ev.state == Some(state) {
            return ev;
        }
    }
}

fn fast_timers() -> sofia_nta::Timers {
    sofia_nta::Timers {
        t1: Duration::from_millis(50),
        t2: Duration::from_millis(400),
        ..sofia_nta::Timers::default()
    }
}

#[tokio::test]
async fn a_2xx_of_a_second_fork_is_acked_and_ended_with_bye() {
    let mut p = peer().await;
    let (alice, mut events) = Nua::new(Config::default()).await.unwrap();
    let call = alice.handle(&format!("sip:bob@{}", p.addr)).unwrap();
    call.invite().unwrap();
    let invite = p.request().await;
    // Two forks answer: tags "one" then "two" (RFC 3261 §13.2.2.4).
    p.answer(&invite, 200, "one", true);
    p.answer(&invite, 200, "two", true);
    let acks = [p.ack().await, p.ack().await];
    let mut tags: Vec<_> = acks
        .iter()
        .map(|a| a.to_tag().unwrap().to_string())
        .collect();
    tags.sort();
    assert_eq!(tags, ["one", "two"]);
    let bye = p.request().await;
    assert_eq!(bye.msg.method(), Method::Bye);
    assert_eq!(bye.msg.to_tag(), Some("two"), "the second fork is hung up");
    p.answer(&bye, 200, "two", false);
    let ready = until_state(&mut events, CallState::Ready).await;
    assert_eq!(ready.status, 200);
    // The first fork's call goes on: its BYE comes with tag "one".
    call.bye().unwrap();
    let bye = p.request().await;
    assert_eq!(bye.msg.to_tag(), Some("one"));
    p.answer(&bye, 200, "one", false);
    until_state(&mut events, CallState::Terminated).await;
}

#[tokio::test]
async fn every_retransmitted_2xx_is_acked_again() {
    let mut p = peer().await;
    let (alice, mut events) = Nua::new(Config::default()).await.unwrap();
    let call = alice.handle(&format!("sip:bob@{}", p.addr)).unwrap();
    call.invite().unwrap();
    let invite = p.request().await;
    p.answer(&invite, 200, "t", true);
    let first = p.ack().await;
    // The UAS core retransmits its 2xx (RFC 6026 §7.1): ACKed again.
    p.answer(&invite, 200, "t", true);
    let second = p.ack().await;
    assert_eq!(first.cseq(), second.cseq());
    assert_eq!(first.cseq().unwrap().1, Method::Ack);
    until_state(&mut events, CallState::Ready).await;
    drop(call);
}

#[tokio::test]
async fn the_2xx_is_retransmitted_until_acked_then_bye_without_ack() {
    let mut p = peer().await;
    let config = Config {
        timers: fast_timers(),
        ..Config::default()
    };
    let (bob, mut events) = Nua::new(config).await.unwrap();
    let bob_addr = bob.listeners()[0].1;
    let via = p.agent.via(Transport::Udp).unwrap();
    let invite = RequestBuilder::new(Method::Invite, &format!("sip:bob@{bob_addr}"))
        .header(HeaderName::Via, &via)
        .header(HeaderName::MaxForwards, "70")
        .header(HeaderName::From, "<sip:carol@127.0.0.1>;tag=c1")
        .header(HeaderName::To, &format!("<sip:bob@{bob_addr}>"))
        .header(HeaderName::CallId, "no-ack@127.0.0.1")
        .header(HeaderName::CSeq, "1 INVITE")
        .header(HeaderName::Contact, &format!("<sip:carol@{}>", p.addr))
        .body("application/sdp", answer_sdp())
        .build()
        .unwrap();
    let mut rx = p
        .agent
        .request(invite, Destination::new(Transport::Udp, bob_addr))
        .unwrap();
    let ev = next(&mut events).await;
    assert_eq!(ev.kind, EventKind::IInvite);
    bob.handle_of(ev.handle).respond(200, "OK").unwrap();
    // We never ACK: the 2xx comes at T1, 2T1, 4T1, ... capped at T2.
    let start = Instant::now();
    let mut arrivals = Vec::new();
    while arrivals.len() < 5 {
        match tokio::time::timeout(WAIT, rx.recv())
            .await
            .unwrap()
            .unwrap()
        {
            ClientEvent::Response(r) if r.status() == Some(200) => arrivals.push(start.elapsed()),
            _ => {}
        }
    }
    let gaps: Vec<_> = arrivals.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(
        gaps[0] >= Duration::from_millis(40) && gaps[2] >= Duration::from_millis(150),
        "growing intervals: {gaps:?}"
    );
    // After 64*T1 (3.2 s) without ACK, the UAS sends BYE (§13.3.1.4).
    let bye = p.request().await;
    assert_eq!(bye.msg.method(), Method::Bye);
    assert_eq!(bye.msg.call_id(), Some("no-ack@127.0.0.1"));
    let tag = bye.msg.from_tag().unwrap().to_string();
    p.agent
        .respond(
            bye.server,
            ResponseBuilder::reply_to(&bye.msg, 200, "OK", Some("c1"))
                .build()
                .unwrap(),
        )
        .unwrap();
    let mut saw_error = false;
    loop {
        let ev = next(&mut events).await;
        saw_error |= ev.kind == EventKind::IError && ev.status == 408;
        if ev.state == Some(CallState::Terminated) {
            break;
        }
    }
    assert!(saw_error, "the missing ACK is reported");
    assert!(!tag.is_empty());
}

#[tokio::test]
async fn an_invite_challenged_with_401_is_sent_again_with_credentials() {
    let mut p = peer().await;
    let mut store = MemoryStore::new();
    store.add_password("alice", None, "secret");
    let mut auth = AuthModule::new(AuthConfig::default(), store);
    let config = Config {
        credentials: vec![Credentials::new("alice", "secret")],
        ..Config::default()
    };
    let (alice, mut events) = Nua::new(config).await.unwrap();
    let call = alice.handle(&format!("sip:bob@{}", p.addr)).unwrap();
    call.invite().unwrap();
    let first = p.request().await;
    let verdict = auth.verify(SystemTime::now(), first.source.remote.ip(), &first.msg);
    let challenge = verdict.response(&first.msg, Some("x")).unwrap().unwrap();
    assert_eq!(challenge.status(), Some(401));
    p.agent.respond(first.server, challenge).unwrap();
    let second = p.request().await;
    assert_eq!(
        second.msg.cseq().unwrap().0,
        first.msg.cseq().unwrap().0 + 1
    );
    assert_eq!(second.msg.call_id(), first.msg.call_id());
    assert_eq!(second.msg.from_tag(), first.msg.from_tag());
    let verdict = auth.verify(SystemTime::now(), second.source.remote.ip(), &second.msg);
    assert!(
        verdict.response(&second.msg, None).is_none(),
        "credentials accepted"
    );
    p.answer(&second, 200, "b", true);
    p.ack().await;
    let mut statuses = Vec::new();
    loop {
        let ev = next(&mut events).await;
        if ev.kind == EventKind::RInvite {
            statuses.push(ev.status);
        }
        if ev.state == Some(CallState::Ready) {
            break;
        }
    }
    assert_eq!(statuses, [401, 200]);
}

#[tokio::test]
async fn requests_of_unknown_dialogs_get_481_and_lower_cseq_500() {
    let mut p = peer().await;
    let (alice, mut events) = Nua::new(Config::default()).await.unwrap();
    let alice_addr = alice.listeners()[0].1;
    // A BYE for no call: 481 from the transaction engine.
    let via = p.agent.via(Transport::Udp).unwrap();
    let bye = RequestBuilder::new(Method::Bye, &format!("sip:alice@{alice_addr}"))
        .header(HeaderName::Via, &via)
        .header(HeaderName::MaxForwards, "70")
        .header(HeaderName::From, "<sip:x@127.0.0.1>;tag=x")
        .header(HeaderName::To, "<sip:alice@127.0.0.1>;tag=nosuch")
        .header(HeaderName::CallId, "nosuch@127.0.0.1")
        .header(HeaderName::CSeq, "5 BYE")
        .build()
        .unwrap();
    let mut rx = p
        .agent
        .request(bye, Destination::new(Transport::Udp, alice_addr))
        .unwrap();
    match tokio::time::timeout(WAIT, rx.recv())
        .await
        .unwrap()
        .unwrap()
    {
        ClientEvent::Response(r) => assert_eq!(r.status(), Some(481)),
        ClientEvent::Timeout => panic!("no answer"),
    }

    // In a call, an INFO with a CSeq below the last one gets 500.
    let call = alice.handle(&format!("sip:bob@{}", p.addr)).unwrap();
    call.invite().unwrap();
    let invite = p.request().await;
    p.answer(&invite, 200, "b", true);
    p.ack().await;
    until_state(&mut events, CallState::Ready).await;
    let send_info = |cseq: u32| {
        let via = p.agent.via(Transport::Udp).unwrap();
        let info = RequestBuilder::new(Method::Info, &format!("sip:alice@{alice_addr}"))
            .header(HeaderName::Via, &via)
            .header(HeaderName::MaxForwards, "70")
            .header(HeaderName::From, "<sip:bob@127.0.0.1>;tag=b")
            .header(
                HeaderName::To,
                &format!(
                    "<sip:alice@127.0.0.1>;tag={}",
                    invite.msg.from_tag().unwrap()
                ),
            )
            .header(HeaderName::CallId, invite.msg.call_id().unwrap())
            .header(HeaderName::CSeq, &format!("{cseq} INFO"))
            .build()
            .unwrap();
        p.agent
            .request(info, Destination::new(Transport::Udp, alice_addr))
            .unwrap()
    };
    for (cseq, status) in [(10, 200), (9, 500)] {
        let mut rx = send_info(cseq);
        match tokio::time::timeout(WAIT, rx.recv())
            .await
            .unwrap()
            .unwrap()
        {
            ClientEvent::Response(r) => assert_eq!(r.status(), Some(status), "CSeq {cseq}"),
            ClientEvent::Timeout => panic!("no answer"),
        }
    }
}

/// A stateful forking proxy on the transaction engine: every INVITE goes to
/// each of `targets` in parallel (our Via on top), every response comes
/// back upstream without our Via (each 2xx of each fork), and a CANCEL is
/// passed on to the branches.
async fn forking_proxy(targets: Vec<std::net::SocketAddr>) -> std::net::SocketAddr {
    let mut p = peer().await;
    let addr = p.addr;
    tokio::spawn(async move {
        let mut branches: Vec<(sofia_nta::ServerId, Vec<sofia_nta::ClientId>)> = Vec::new();
        loop {
            tokio::select! {
                req = p.requests.recv() => {
                    let Some(req) = req else { break };
                    if req.msg.method() != Method::Invite {
                        continue;
                    }
                    let mut clients = Vec::new();
                    for target in &targets {
                        let via = p.agent.via(Transport::Udp).unwrap();
                        let text = String::from_utf8(req.msg.as_bytes().to_vec()).unwrap();
                        let (line, rest) = text.split_once("\r\n").unwrap();
                        let forked = format!("{line}\r\nVia: {via}\r\n{rest}");
                        let msg = Message::parse(bytes::Bytes::from(forked)).unwrap();
                        let (client, mut rx) = p
                            .agent
                            .start(msg, Destination::new(Transport::Udp, *target))
                            .unwrap();
                        clients.push(client);
                        let (agent, server) = (p.agent.clone(), req.server);
                        tokio::spawn(async move {
                            while let Some(ClientEvent::Response(r)) = rx.recv().await {
                                if r.status() == Some(100) {
                                    continue;
                                }
                                // Drop our own Via (the first one).
                                let text = String::from_utf8(r.as_bytes().to_vec()).unwrap();
                                let start = text.find("\r\nVia:").unwrap() + 2;
                                let end = start + text[start..].find("\r\n").unwrap() + 2;
                                let up = format!("{}{}", &text[..start], &text[end..]);
                                let up = Message::parse(bytes::Bytes::from(up)).unwrap();
                                let _ = agent.respond(server, up);
                            }
                        });
                    }
                    branches.push((req.server, clients));
                }
                ev = p.others.recv() => {
                    let Some(ev) = ev else { break };
                    if let NtaEvent::Cancelled { invite, .. } = ev {
                        for (server, clients) in &branches {
                            if *server == invite {
                                for c in clients {
                                    let _ = p.agent.cancel(*c);
                                }
                            }
                        }
                    }
                }
            }
        }
    });
    addr
}

#[tokio::test]
async fn a_call_forked_by_a_proxy_keeps_the_first_answer_and_ends_the_other() {
    let (bob1, mut b1) = Nua::new(Config::default()).await.unwrap();
    let (bob2, mut b2) = Nua::new(Config::default()).await.unwrap();
    let proxy = forking_proxy(vec![bob1.listeners()[0].1, bob2.listeners()[0].1]).await;
    let (alice, mut events) = Nua::new(Config::default()).await.unwrap();
    let call = alice.handle(&format!("sip:bob@{proxy}")).unwrap();
    call.invite().unwrap();

    // Both phones ring: two early dialogs reach Alice.
    let ring = |events: &mut Receiver<Event>| {
        let mut events = std::mem::replace(events, tokio::sync::mpsc::channel(1).1);
        async move {
            loop {
                let ev = next(&mut events).await;
                if ev.kind == EventKind::IInvite {
                    return (ev.handle, events);
                }
            }
        }
    };
    let (h1, e1) = ring(&mut b1).await;
    b1 = e1;
    let (h2, e2) = ring(&mut b2).await;
    b2 = e2;
    let (phone1, phone2) = (bob1.handle_of(h1), bob2.handle_of(h2));
    phone1.respond(180, "Ringing").unwrap();
    phone2.respond(180, "Ringing").unwrap();
    let mut tags = std::collections::HashSet::new();
    while tags.len() < 2 {
        let ev = next(&mut events).await;
        if ev.kind == EventKind::RInvite && ev.status == 180 {
            tags.insert(ev.message.unwrap().to_tag().unwrap().to_string());
        }
    }

    // Both answer: the first 2xx makes the call; the second is ACKed and
    // ended with BYE (RFC 3261 §13.2.2.4).
    phone1.respond(200, "OK").unwrap();
    until_state(&mut events, CallState::Ready).await;
    phone2.respond(200, "OK").unwrap();
    let mut second = Vec::new();
    loop {
        let ev = next(&mut b2).await;
        second.push(format!("{} {}", ev.kind, ev.status));
        if ev.state == Some(CallState::Terminated) {
            break;
        }
    }
    assert_eq!(
        second,
        [
            "i_state 100",
            "i_state 180",
            "i_state 200",
            "i_ack 200",
            "i_state 200",
            "i_bye 200",
            "i_state 200"
        ]
    );
    // The kept call is established with phone 1 and ends normally.
    until_state(&mut b1, CallState::Ready).await;
    call.bye().unwrap();
    until_state(&mut b1, CallState::Terminated).await;
    let end = until_state(&mut events, CallState::Terminated).await;
    assert_eq!(end.status, 200);
}
