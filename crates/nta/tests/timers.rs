//! Every transaction timer path in virtual time (RFC 3261 §17, RFC 6026).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use sofia_msg::{HeaderName, Message, Method, RequestBuilder, ResponseBuilder};
use sofia_nta::{Config, Endpoint, Event, Transmit};
use sofia_tport::{ConnId, Destination, Incoming, Transport};

const T1: Duration = Duration::from_millis(500);

fn peer() -> SocketAddr {
    "127.0.0.1:5062".parse().unwrap()
}
fn me() -> SocketAddr {
    "127.0.0.1:5060".parse().unwrap()
}

fn endpoint() -> Endpoint {
    Endpoint::new(Config {
        seed: Some(7),
        ..Config::default()
    })
}

fn request(method: Method, branch: &str, via_extra: &str) -> Message {
    RequestBuilder::new(method, "sip:bob@127.0.0.1")
        .header(
            HeaderName::Via,
            &format!("SIP/2.0/UDP 127.0.0.1:5062;branch={branch}{via_extra}"),
        )
        .header(HeaderName::MaxForwards, "70")
        .header(HeaderName::From, "<sip:alice@127.0.0.1>;tag=a1")
        .header(HeaderName::To, "<sip:bob@127.0.0.1>")
        .header(HeaderName::CallId, "call-1")
        .header(HeaderName::CSeq, &format!("1 {}", method.as_str()))
        .header(HeaderName::Contact, "<sip:alice@127.0.0.1:5062>")
        .build()
        .unwrap()
}

fn incoming(msg: Message, transport: Transport) -> Incoming {
    Incoming {
        msg,
        transport,
        remote: peer(),
        local: me(),
        conn: transport.is_stream().then_some(ConnId(1)),
        oversized: None,
    }
}

fn reply(req: &Message, status: u16, tag: &str) -> Message {
    ResponseBuilder::reply_to(req, status, "Reason", Some(tag))
        .build()
        .unwrap()
}

fn transmits(ep: &mut Endpoint) -> Vec<Transmit> {
    std::iter::from_fn(|| ep.poll_transmit()).collect()
}

fn events(ep: &mut Endpoint) -> Vec<Event> {
    std::iter::from_fn(|| ep.poll_event()).collect()
}

/// Runs timers until `until`, recording (offset, bytes) of each transmit.
fn run_until(ep: &mut Endpoint, start: Instant, until: Duration) -> Vec<(Duration, Bytes)> {
    let mut out = Vec::new();
    while let Some(at) = ep.poll_timeout() {
        if at > start + until {
            break;
        }
        ep.handle_timeout(at);
        for t in transmits(ep) {
            out.push((at - start, t.bytes));
        }
    }
    out
}

fn ms(v: &[(Duration, Bytes)]) -> Vec<u128> {
    v.iter().map(|(d, _)| d.as_millis()).collect()
}

#[test]
fn non_invite_client_retransmits_e_capped_at_t2_then_f() {
    let mut ep = endpoint();
    let t0 = Instant::now();
    let req = request(Method::Options, "z9hG4bKnict1", "");
    let id = ep
        .send_request(t0, req, Destination::new(Transport::Udp, peer()))
        .unwrap();
    assert_eq!(transmits(&mut ep).len(), 1);
    let sent = run_until(&mut ep, t0, Duration::from_secs(40));
    assert_eq!(
        ms(&sent),
        vec![
            500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500
        ]
    );
    let ev = events(&mut ep);
    assert!(matches!(ev[0], Event::Timeout { client } if client == id));
    assert!(matches!(ev[1], Event::Terminated { .. }));
    assert_eq!(ep.transactions(), (0, 0));
}

#[test]
fn non_invite_client_proceeding_then_completed_then_k() {
    let mut ep = endpoint();
    let t0 = Instant::now();
    let req = request(Method::Options, "z9hG4bKnict2", "");
    ep.send_request(t0, req.clone(), Destination::new(Transport::Udp, peer()))
        .unwrap();
    transmits(&mut ep);
    ep.handle(
        t0 + Duration::from_millis(100),
        incoming(reply(&req, 100, "b"), Transport::Udp),
    );
    // In Proceeding, E fires at T2 intervals.
    let sent = run_until(&mut ep, t0, Duration::from_millis(9000));
    assert_eq!(ms(&sent), vec![500, 4500, 8500]);
    let t = t0 + Duration::from_millis(9000);
    ep.handle(t, incoming(reply(&req, 200, "b"), Transport::Udp));
    let ev = events(&mut ep);
    assert_eq!(
        ev.iter()
            .filter(|e| matches!(e, Event::Response { .. }))
            .count(),
        2
    );
    // A retransmitted final response is absorbed; K = T4 ends it.
    ep.handle(
        t + Duration::from_secs(1),
        incoming(reply(&req, 200, "b"), Transport::Udp),
    );
    assert!(events(&mut ep).is_empty());
    assert_eq!(ep.poll_timeout(), Some(t + Duration::from_secs(5)));
    ep.handle_timeout(t + Duration::from_secs(5));
    assert!(matches!(events(&mut ep)[..], [Event::Terminated { .. }]));
}

#[test]
fn reliable_transports_do_not_retransmit() {
    let mut ep = endpoint();
    let t0 = Instant::now();
    let req = request(Method::Options, "z9hG4bKtcp1", "");
    ep.send_request(t0, req.clone(), Destination::new(Transport::Tcp, peer()))
        .unwrap();
    transmits(&mut ep);
    assert_eq!(ep.poll_timeout(), Some(t0 + T1 * 64));
    ep.handle(t0, incoming(reply(&req, 200, "b"), Transport::Tcp));
    let ev = events(&mut ep);
    assert!(matches!(ev[0], Event::Response { .. }));
    assert!(matches!(ev[1], Event::Terminated { .. }), "K is 0 over TCP");
}

#[test]
fn invite_client_timer_a_doubles_until_b() {
    let mut ep = endpoint();
    let t0 = Instant::now();
    let req = request(Method::Invite, "z9hG4bKict1", "");
    let id = ep
        .send_request(t0, req, Destination::new(Transport::Udp, peer()))
        .unwrap();
    transmits(&mut ep);
    let sent = run_until(&mut ep, t0, Duration::from_secs(40));
    assert_eq!(ms(&sent), vec![500, 1500, 3500, 7500, 15500, 31500]);
    assert!(matches!(events(&mut ep)[0], Event::Timeout { client } if client == id));
}

#[test]
fn invite_client_acks_non_2xx_and_waits_d() {
    let mut ep = endpoint();
    let t0 = Instant::now();
    let req = request(Method::Invite, "z9hG4bKict2", "");
    ep.send_request(t0, req.clone(), Destination::new(Transport::Udp, peer()))
        .unwrap();
    transmits(&mut ep);
    ep.handle(t0, incoming(reply(&req, 180, "b"), Transport::Udp));
    // Provisional: no more retransmissions; timer C guards Proceeding.
    assert_eq!(ep.poll_timeout(), Some(t0 + Duration::from_secs(185)));
    let busy = reply(&req, 486, "b");
    ep.handle(
        t0 + Duration::from_secs(1),
        incoming(busy.clone(), Transport::Udp),
    );
    let sent = transmits(&mut ep);
    assert_eq!(sent.len(), 1);
    let ack = Message::parse(sent[0].bytes.clone()).unwrap();
    assert_eq!(ack.method(), Method::Ack);
    assert_eq!(ack.branch(), req.branch());
    assert_eq!(ack.to_tag(), Some("b"));
    assert_eq!(ack.cseq(), Some((1, Method::Ack)));
    assert_eq!(ack.request_uri_str(), req.request_uri_str());
    assert_eq!(events(&mut ep).len(), 2);
    // The 486 again: ACK again, nothing for the user.
    ep.handle(t0 + Duration::from_secs(2), incoming(busy, Transport::Udp));
    assert_eq!(transmits(&mut ep).len(), 1);
    assert!(events(&mut ep).is_empty());
    // Timer D: 32 s.
    assert_eq!(ep.poll_timeout(), Some(t0 + Duration::from_secs(33)));
}

#[test]
fn invite_client_accepted_passes_every_2xx_until_m() {
    let mut ep = endpoint();
    let t0 = Instant::now();
    let req = request(Method::Invite, "z9hG4bKict3", "");
    let id = ep
        .send_request(t0, req.clone(), Destination::new(Transport::Udp, peer()))
        .unwrap();
    transmits(&mut ep);
    ep.handle(t0, incoming(reply(&req, 200, "fork1"), Transport::Udp));
    ep.handle(t0, incoming(reply(&req, 200, "fork2"), Transport::Udp));
    ep.handle(t0, incoming(reply(&req, 200, "fork1"), Transport::Udp));
    let tags: Vec<String> = events(&mut ep)
        .into_iter()
        .filter_map(|e| match e {
            Event::Response { client, msg } if client == id => msg.to_tag().map(String::from),
            _ => None,
        })
        .collect();
    assert_eq!(tags, vec!["fork1", "fork2", "fork1"]);
    assert!(transmits(&mut ep).is_empty(), "the user ACKs a 2xx");
    assert_eq!(ep.poll_timeout(), Some(t0 + T1 * 64));
}

#[test]
fn timer_c_times_out_a_proceeding_invite() {
    let mut ep = endpoint();
    let t0 = Instant::now();
    let req = request(Method::Invite, "z9hG4bKict4", "");
    let id = ep
        .send_request(t0, req.clone(), Destination::new(Transport::Udp, peer()))
        .unwrap();
    ep.handle(t0, incoming(reply(&req, 183, "b"), Transport::Udp));
    events(&mut ep);
    ep.handle_timeout(t0 + Duration::from_secs(185));
    assert!(matches!(events(&mut ep)[0], Event::Timeout { client } if client == id));
}

/// A CANCEL for `request(Method::Invite, branch, "")`.
fn cancel(branch: &str) -> Message {
    RequestBuilder::new(Method::Cancel, "sip:bob@127.0.0.1")
        .header(
            HeaderName::Via,
            &format!("SIP/2.0/UDP 127.0.0.1:5062;branch={branch}"),
        )
        .header(HeaderName::From, "<sip:alice@127.0.0.1>;tag=a1")
        .header(HeaderName::To, "<sip:bob@127.0.0.1>")
        .header(HeaderName::CallId, "call-1")
        .header(HeaderName::CSeq, "1 CANCEL")
        .build()
        .unwrap()
}

/// `msg` with the first occurrence of `from` replaced by `to`.
fn edited(msg: &Message, from: &str, to: &str) -> Message {
    let text = String::from_utf8(msg.as_bytes().to_vec()).unwrap();
    assert!(text.contains(from), "{from:?} not in the message");
    Message::parse(Bytes::from(text.replacen(from, to, 1))).unwrap()
}

/// The status codes of what the engine has to send.
fn statuses(ep: &mut Endpoint) -> Vec<u16> {
    transmits(ep)
        .iter()
        .map(|t| Message::parse(t.bytes.clone()).unwrap().status().unwrap())
        .collect()
}

fn server_request(
    ep: &mut Endpoint,
    t: Instant,
    req: &Message,
    transport: Transport,
) -> sofia_nta::ServerId {
    ep.handle(t, incoming(req.clone(), transport));
    match events(ep).into_iter().next() {
        Some(Event::Request { server, .. }) => server,
        other => panic!("expected a request event, got {other:?}"),
    }
}

#[test]
fn invite_server_sends_100_retransmits_g_until_ack_then_i() {
    let mut ep = endpoint();
    let t0 = Instant::now();
    let req = request(Method::Invite, "z9hG4bKist1", "");
    let id = server_request(&mut ep, t0, &req, Transport::Udp);
    // 100 Trying after 200 ms without an answer.
    assert_eq!(ep.poll_timeout(), Some(t0 + Duration::from_millis(200)));
    ep.handle_timeout(t0 + Duration::from_millis(200));
    let sent = transmits(&mut ep);
    assert_eq!(
        Message::parse(sent[0].bytes.clone()).unwrap().status(),
        Some(100)
    );
    // A retransmitted INVITE gets the 100 again.
    ep.handle(t0 + T1, incoming(req.clone(), Transport::Udp));
    assert_eq!(transmits(&mut ep).len(), 1);
    assert!(events(&mut ep).is_empty());
    let t1 = t0 + Duration::from_secs(1);
    ep.respond(t1, id, reply(&req, 486, "s")).unwrap();
    assert_eq!(transmits(&mut ep).len(), 1);
    let sent = run_until(&mut ep, t1, Duration::from_millis(12000));
    assert_eq!(ms(&sent), vec![500, 1500, 3500, 7500, 11500]);
    // The ACK: Confirmed, no more retransmissions, I = T4.
    let ack = RequestBuilder::new(Method::Ack, "sip:bob@127.0.0.1")
        .header(
            HeaderName::Via,
            "SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bKist1",
        )
        .header(HeaderName::From, "<sip:alice@127.0.0.1>;tag=a1")
        .header(HeaderName::To, "<sip:bob@127.0.0.1>;tag=s")
        .header(HeaderName::CallId, "call-1")
        .header(HeaderName::CSeq, "1 ACK")
        .build()
        .unwrap();
    let t2 = t1 + Duration::from_secs(12);
    ep.handle(t2, incoming(ack, Transport::Udp));
    assert!(
        events(&mut ep).is_empty(),
        "the ACK of a non-2xx stays in the transaction"
    );
    assert_eq!(ep.poll_timeout(), Some(t2 + Duration::from_secs(5)));
    ep.handle_timeout(t2 + Duration::from_secs(5));
    assert!(transmits(&mut ep).is_empty());
    assert!(matches!(events(&mut ep)[..], [Event::Terminated { .. }]));
}

#[test]
fn invite_server_without_ack_reports_timer_h() {
    let mut ep = endpoint();
    let t0 = Instant::now();
    let req = request(Method::Invite, "z9hG4bKist2", "");
    let id = server_request(&mut ep, t0, &req, Transport::Udp);
    ep.respond(t0, id, reply(&req, 603, "s")).unwrap();
    ep.handle_timeout(t0 + T1 * 64);
    let ev = events(&mut ep);
    assert!(
        matches!(ev[0], Event::NoAck { server } if server == id),
        "{ev:?}"
    );
}

#[test]
fn invite_server_accepted_absorbs_retransmissions_and_passes_ack() {
    let mut ep = endpoint();
    let t0 = Instant::now();
    let req = request(Method::Invite, "z9hG4bKist3", "");
    let id = server_request(&mut ep, t0, &req, Transport::Udp);
    let ok = reply(&req, 200, "s");
    ep.respond(t0, id, ok.clone()).unwrap();
    transmits(&mut ep);
    ep.handle(t0 + T1, incoming(req.clone(), Transport::Udp));
    assert!(transmits(&mut ep).is_empty(), "Accepted absorbs the INVITE");
    // The user retransmits its 2xx through the transaction.
    ep.respond(t0 + T1, id, ok).unwrap();
    assert_eq!(transmits(&mut ep).len(), 1);
    let ack = RequestBuilder::new(Method::Ack, "sip:alice@127.0.0.1:5062")
        .header(
            HeaderName::Via,
            "SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bKist3",
        )
        .header(HeaderName::CallId, "call-1")
        .header(HeaderName::From, "<sip:alice@127.0.0.1>;tag=a1")
        .header(HeaderName::To, "<sip:bob@127.0.0.1>;tag=s")
        .header(HeaderName::CSeq, "1 ACK")
        .build()
        .unwrap();
    ep.handle(t0 + T1 * 2, incoming(ack, Transport::Udp));
    assert!(matches!(events(&mut ep)[..], [Event::Ack { server: Some(s), .. }] if s == id));
    ep.handle_timeout(t0 + T1 * 64);
    assert!(matches!(events(&mut ep)[..], [Event::Terminated { .. }]));
}

#[test]
fn non_invite_server_absorbs_then_resends_final_until_j() {
    let mut ep = endpoint();
    let t0 = Instant::now();
    let req = request(Method::Options, "z9hG4bKnist1", "");
    let id = server_request(&mut ep, t0, &req, Transport::Udp);
    ep.handle(t0 + T1, incoming(req.clone(), Transport::Udp));
    assert!(transmits(&mut ep).is_empty() && events(&mut ep).is_empty());
    ep.respond(t0 + T1, id, reply(&req, 200, "s")).unwrap();
    assert_eq!(transmits(&mut ep).len(), 1);
    ep.handle(t0 + T1 * 2, incoming(req.clone(), Transport::Udp));
    let again = transmits(&mut ep);
    assert_eq!(
        Message::parse(again[0].bytes.clone()).unwrap().status(),
        Some(200)
    );
    assert!(ep.respond(t0 + T1 * 2, id, reply(&req, 500, "s")).is_err());
    assert_eq!(ep.poll_timeout(), Some(t0 + T1 + T1 * 64));
}

#[test]
fn cancel_matches_its_invite_or_gets_481() {
    let mut ep = endpoint();
    let t0 = Instant::now();
    let invite = request(Method::Invite, "z9hG4bKcan1", "");
    let inv_id = server_request(&mut ep, t0, &invite, Transport::Udp);
    ep.handle(t0, incoming(cancel("z9hG4bKcan1"), Transport::Udp));
    let sent = transmits(&mut ep);
    let resp = Message::parse(sent[0].bytes.clone()).unwrap();
    assert_eq!(
        (resp.status(), resp.cseq().unwrap().1),
        (Some(200), Method::Cancel)
    );
    assert!(matches!(events(&mut ep)[..], [Event::Cancelled { invite, .. }] if invite == inv_id));

    ep.handle(t0, incoming(cancel("z9hG4bKcan2"), Transport::Udp));
    assert_eq!(statuses(&mut ep), vec![481]);
}

#[test]
fn client_cancel_after_provisional() {
    let mut ep = endpoint();
    let t0 = Instant::now();
    let req = request(Method::Invite, "z9hG4bKcc1", "");
    let id = ep
        .send_request(t0, req.clone(), Destination::new(Transport::Udp, peer()))
        .unwrap();
    transmits(&mut ep);
    assert!(ep.cancel(t0, id).is_err(), "no provisional yet");
    ep.handle(t0, incoming(reply(&req, 180, "b"), Transport::Udp));
    ep.cancel(t0, id).unwrap();
    let sent = transmits(&mut ep);
    let cancel = Message::parse(sent[0].bytes.clone()).unwrap();
    assert_eq!(cancel.method(), Method::Cancel);
    assert_eq!(cancel.branch(), req.branch());
    assert_eq!(cancel.cseq(), Some((1, Method::Cancel)));
    assert_eq!(cancel.to_tag(), None);
}

#[test]
fn bad_requests_get_stateless_answers() {
    let mut ep = Endpoint::new(Config {
        seed: Some(3),
        supported: vec!["timer".into()],
        ..Config::default()
    });
    let t0 = Instant::now();
    let no_call_id = String::from_utf8(
        request(Method::Options, "z9hG4bKbad1", "")
            .to_bytes()
            .to_vec(),
    )
    .unwrap()
    .replace("Call-ID: call-1\r\n", "");
    ep.handle(
        t0,
        incoming(
            Message::parse(Bytes::from(no_call_id)).unwrap(),
            Transport::Udp,
        ),
    );
    let resp = Message::parse(transmits(&mut ep)[0].bytes.clone()).unwrap();
    assert_eq!(resp.status(), Some(400));
    assert_eq!(resp.reason(), Some("Missing Call-ID header"));

    let require = String::from_utf8(
        request(Method::Options, "z9hG4bKbad2", "")
            .to_bytes()
            .to_vec(),
    )
    .unwrap()
    .replace(
        "Max-Forwards: 70\r\n",
        "Max-Forwards: 70\r\nRequire: timer, foo\r\n",
    );
    ep.handle(
        t0,
        incoming(
            Message::parse(Bytes::from(require)).unwrap(),
            Transport::Udp,
        ),
    );
    let resp = Message::parse(transmits(&mut ep)[0].bytes.clone()).unwrap();
    assert_eq!(resp.status(), Some(420));
    assert_eq!(resp.header(HeaderName::Unsupported), Some("foo"));
    assert!(events(&mut ep).is_empty());
    assert_eq!(ep.transactions(), (0, 0));
}

#[test]
fn rfc2543_requests_match_by_the_old_key() {
    let mut ep = endpoint();
    let t0 = Instant::now();
    let req = request(Method::Options, "oldstylebranch", "");
    let id = server_request(&mut ep, t0, &req, Transport::Udp);
    ep.respond(t0, id, reply(&req, 200, "s")).unwrap();
    transmits(&mut ep);
    ep.handle(t0 + T1, incoming(req, Transport::Udp));
    assert_eq!(transmits(&mut ep).len(), 1, "retransmission answered again");
    assert!(events(&mut ep).is_empty());
}

#[test]
fn responses_route_by_via_rport_and_connection() {
    let mut ep = endpoint();
    let t0 = Instant::now();
    // No rport: the sent-by port.
    let req = RequestBuilder::new(Method::Options, "sip:bob@127.0.0.1")
        .header(
            HeaderName::Via,
            "SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKr1",
        )
        .header(HeaderName::From, "<sip:a@h>;tag=1")
        .header(HeaderName::To, "<sip:b@h>")
        .header(HeaderName::CallId, "r1")
        .header(HeaderName::CSeq, "1 OPTIONS")
        .build()
        .unwrap();
    let id = server_request(&mut ep, t0, &req, Transport::Udp);
    ep.respond(t0, id, reply(&req, 200, "s")).unwrap();
    assert_eq!(transmits(&mut ep)[0].dest.addr.port(), 5070);
    // rport: the source port.
    let req = String::from_utf8(req.to_bytes().to_vec())
        .unwrap()
        .replace("branch=z9hG4bKr1", "rport;branch=z9hG4bKr2")
        .replace("Call-ID: r1", "Call-ID: r2");
    let req = Message::parse(Bytes::from(req)).unwrap();
    let id = server_request(&mut ep, t0, &req, Transport::Udp);
    ep.respond(t0, id, reply(&req, 200, "s")).unwrap();
    assert_eq!(transmits(&mut ep)[0].dest.addr, peer());
    // TCP: back on the connection.
    let req = request(Method::Options, "z9hG4bKr3", "");
    let id = server_request(&mut ep, t0, &req, Transport::Tcp);
    ep.respond(t0, id, reply(&req, 200, "s")).unwrap();
    let t = &transmits(&mut ep)[0];
    assert_eq!(
        (t.dest.transport, t.dest.conn),
        (Transport::Tcp, Some(ConnId(1)))
    );
}

#[test]
fn unknown_methods_get_501_unless_accepted() {
    let mut ep = endpoint();
    let t0 = Instant::now();
    let req = RequestBuilder::with_method("FOO", "sip:bob@127.0.0.1")
        .header(
            HeaderName::Via,
            "SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bKfoo1",
        )
        .header(HeaderName::From, "<sip:a@h>;tag=1")
        .header(HeaderName::To, "<sip:b@h>")
        .header(HeaderName::CallId, "foo1")
        .header(HeaderName::CSeq, "1 FOO")
        .build()
        .unwrap();
    ep.handle(t0, incoming(req.clone(), Transport::Udp));
    let resp = Message::parse(transmits(&mut ep)[0].bytes.clone()).unwrap();
    assert_eq!(resp.status(), Some(501));
    assert!(resp.header(HeaderName::Allow).unwrap().contains("INVITE"));
    let mut open = Endpoint::new(Config {
        accept_unknown_methods: true,
        ..Config::default()
    });
    open.handle(t0, incoming(req, Transport::Udp));
    assert!(matches!(events(&mut open)[..], [Event::Request { .. }]));
}

#[test]
fn received_and_rport_are_added_to_the_top_via() {
    let mut ep = endpoint();
    let t0 = Instant::now();
    // sent-by is a name, and rport is asked for: both parameters added.
    let req = RequestBuilder::new(Method::Options, "sip:bob@127.0.0.1")
        .header(
            HeaderName::Via,
            "SIP/2.0/UDP client.example.com:5070;rport;branch=z9hG4bKv1",
        )
        .header(
            HeaderName::Via,
            "SIP/2.0/UDP other.example.com;branch=z9hG4bKv0",
        )
        .header(HeaderName::From, "<sip:a@h>;tag=1")
        .header(HeaderName::To, "<sip:b@h>")
        .header(HeaderName::CallId, "v1")
        .header(HeaderName::CSeq, "1 OPTIONS")
        .build()
        .unwrap();
    ep.handle(t0, incoming(req, Transport::Udp));
    let (server, msg) = match events(&mut ep).into_iter().next() {
        Some(Event::Request { server, msg, .. }) => (server, msg),
        other => panic!("{other:?}"),
    };
    let via = msg.top_via().unwrap();
    assert_eq!(via.received(), Some("127.0.0.1"));
    assert_eq!(via.rport(), Some(Some(5062)));
    assert_eq!(via.branch(), Some("z9hG4bKv1"));
    assert_eq!(msg.header_lines(HeaderName::Via).count(), 2);
    assert!(msg.check().is_ok());
    // The response carries them and goes to the source port.
    let resp = ResponseBuilder::reply_to(&msg, 200, "OK", Some("s"))
        .build()
        .unwrap();
    let top = resp.header(HeaderName::Via).unwrap();
    assert!(
        top.contains(";rport=5062;") && top.ends_with(";received=127.0.0.1"),
        "{top}"
    );
    ep.respond(t0, server, resp).unwrap();
    assert_eq!(transmits(&mut ep)[0].dest.addr, peer());
    // A sent-by that is the source address, without rport: unchanged.
    let plain = request(Method::Options, "z9hG4bKv2", "");
    ep.handle(t0, incoming(plain.clone(), Transport::Udp));
    match events(&mut ep).into_iter().next() {
        Some(Event::Request { msg, .. }) => assert_eq!(msg.to_bytes(), plain.to_bytes()),
        other => panic!("{other:?}"),
    }
}

#[test]
fn merged_requests_get_482() {
    let mut ep = endpoint();
    let t0 = Instant::now();
    // The same request forked by a proxy arrives twice with different branches.
    let first = request(Method::Invite, "z9hG4bKpath1", "");
    let second = request(Method::Invite, "z9hG4bKpath2", "");
    server_request(&mut ep, t0, &first, Transport::Udp);
    ep.handle(t0, incoming(second, Transport::Udp));
    assert!(events(&mut ep).is_empty());
    let resp = Message::parse(transmits(&mut ep)[0].bytes.clone()).unwrap();
    assert_eq!(resp.status(), Some(482));
    // A retransmission of the first is not a merge.
    ep.handle(t0 + T1, incoming(first, Transport::Udp));
    assert!(
        transmits(&mut ep)
            .iter()
            .all(|t| Message::parse(t.bytes.clone()).unwrap().status() != Some(482))
    );
}

#[test]
fn cancel_racing_a_200() {
    // Server: the INVITE was answered 200 before the CANCEL came: the CANCEL
    // still gets 200, the user hears nothing, the INVITE stays accepted.
    let mut ep = endpoint();
    let t0 = Instant::now();
    let invite = request(Method::Invite, "z9hG4bKrace1", "");
    let id = server_request(&mut ep, t0, &invite, Transport::Udp);
    ep.respond(t0, id, reply(&invite, 200, "s")).unwrap();
    transmits(&mut ep);
    ep.handle(t0 + T1, incoming(cancel("z9hG4bKrace1"), Transport::Udp));
    assert_eq!(statuses(&mut ep), vec![200]);
    assert!(
        events(&mut ep).is_empty(),
        "no Cancelled event after the final answer"
    );

    // Client: CANCEL after a 180, then the INVITE's 200 arrives anyway:
    // both responses reach the user and both transactions finish.
    let mut ep = endpoint();
    let invite = request(Method::Invite, "z9hG4bKrace2", "");
    let inv = ep
        .send_request(t0, invite.clone(), Destination::new(Transport::Udp, peer()))
        .unwrap();
    ep.handle(t0, incoming(reply(&invite, 180, "b"), Transport::Udp));
    let can = ep.cancel(t0, inv).unwrap();
    let cancel_req = Message::parse(transmits(&mut ep).pop().unwrap().bytes).unwrap();
    ep.handle(t0 + T1, incoming(reply(&invite, 200, "b"), Transport::Udp));
    ep.handle(
        t0 + T1,
        incoming(reply(&cancel_req, 200, "b"), Transport::Udp),
    );
    let got: Vec<(sofia_nta::ClientId, u16)> = events(&mut ep)
        .into_iter()
        .filter_map(|e| match e {
            Event::Response { client, msg } => Some((client, msg.status().unwrap())),
            _ => None,
        })
        .collect();
    assert!(
        got.contains(&(inv, 200)) && got.contains(&(can, 200)),
        "{got:?}"
    );
    ep.handle_timeout(t0 + T1 * 70);
    assert_eq!(ep.transactions(), (0, 0));
}

#[test]
fn stray_responses_are_dropped_and_stray_acks_go_up() {
    let mut ep = endpoint();
    let t0 = Instant::now();
    let req = request(Method::Options, "z9hG4bKstray", "");
    ep.handle(t0, incoming(reply(&req, 200, "x"), Transport::Udp));
    assert!(events(&mut ep).is_empty() && transmits(&mut ep).is_empty());
    let ack = RequestBuilder::new(Method::Ack, "sip:bob@127.0.0.1")
        .header(
            HeaderName::Via,
            "SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bKack9",
        )
        .header(HeaderName::From, "<sip:alice@127.0.0.1>;tag=a1")
        .header(HeaderName::To, "<sip:bob@127.0.0.1>;tag=s")
        .header(HeaderName::CallId, "call-9")
        .header(HeaderName::CSeq, "1 ACK")
        .build()
        .unwrap();
    ep.handle(t0, incoming(ack, Transport::Udp));
    assert!(matches!(
        events(&mut ep)[..],
        [Event::Ack { server: None, .. }]
    ));
    assert!(transmits(&mut ep).is_empty());
}

fn in_dialog(method: Method, branch: &str, to_tag: &str) -> Message {
    edited(
        &request(method, branch, ""),
        "To: <sip:bob@127.0.0.1>\r\n",
        &format!("To: <sip:bob@127.0.0.1>;tag={to_tag}\r\n"),
    )
}

#[test]
fn as_a_ua_requests_of_unknown_dialogs_get_481() {
    let mut ep = Endpoint::new(Config {
        seed: Some(7),
        ua: true,
        ..Config::default()
    });
    let t0 = Instant::now();
    let dialog = sofia_nta::dialog::DialogId {
        call_id: "call-1".into(),
        local_tag: "b1".into(),
        remote_tag: "a1".into(),
    };
    // No dialog registered: 481, with the request's To tag kept.
    let bye = in_dialog(Method::Bye, "z9hG4bKbye1", "b1");
    ep.handle(t0, incoming(bye.clone(), Transport::Udp));
    assert!(events(&mut ep).is_empty());
    let sent = transmits(&mut ep);
    assert_eq!(sent.len(), 1);
    let resp = Message::parse(sent[0].bytes.clone()).unwrap();
    assert_eq!(resp.status(), Some(481));
    assert_eq!(resp.to_tag(), Some("b1"));
    // Its retransmission gets the same answer from the server transaction
    // and still does not reach the user.
    ep.handle(t0 + T1, incoming(bye, Transport::Udp));
    assert!(events(&mut ep).is_empty());
    assert_eq!(statuses(&mut ep), vec![481]);
    // Registered: passed up.
    assert!(ep.add_dialog(dialog.clone()));
    assert!(!ep.add_dialog(dialog.clone()));
    assert_eq!(ep.dialog_count(), 1);
    let bye = in_dialog(Method::Bye, "z9hG4bKbye2", "b1");
    server_request(&mut ep, t0, &bye, Transport::Udp);
    // Another tag of the same call is still unknown.
    let other = in_dialog(Method::Info, "z9hG4bKinfo", "b2");
    ep.handle(t0, incoming(other, Transport::Udp));
    assert!(events(&mut ep).is_empty());
    assert_eq!(statuses(&mut ep), vec![481]);
    // Removed: 481 again. Requests without a To tag are unaffected.
    assert!(ep.remove_dialog(&dialog));
    assert!(!ep.remove_dialog(&dialog));
    let bye = in_dialog(Method::Bye, "z9hG4bKbye3", "b1");
    ep.handle(t0, incoming(bye, Transport::Udp));
    assert_eq!(statuses(&mut ep), vec![481]);
    server_request(
        &mut ep,
        t0,
        &request(Method::Invite, "z9hG4bKnew", ""),
        Transport::Udp,
    );
}

#[test]
fn without_ua_in_dialog_requests_are_passed_up() {
    let mut ep = endpoint();
    let bye = in_dialog(Method::Bye, "z9hG4bKbye", "b1");
    server_request(&mut ep, Instant::now(), &bye, Transport::Udp);
    assert!(transmits(&mut ep).is_empty());
}

#[test]
fn as_a_proxy_max_forwards_0_gets_483() {
    let zero = |method: Method, branch: &str| {
        edited(
            &request(method, branch, ""),
            "Max-Forwards: 70\r\n",
            "Max-Forwards: 0\r\n",
        )
    };
    let t0 = Instant::now();
    let mut proxy = Endpoint::new(Config {
        seed: Some(7),
        proxy: true,
        ..Config::default()
    });
    proxy.handle(
        t0,
        incoming(zero(Method::Invite, "z9hG4bKmf1"), Transport::Udp),
    );
    assert!(events(&mut proxy).is_empty());
    assert_eq!(statuses(&mut proxy), vec![483]);
    // OPTIONS with Max-Forwards 0 is for the proxy itself (RFC 3261 §11).
    server_request(
        &mut proxy,
        t0,
        &zero(Method::Options, "z9hG4bKmf2"),
        Transport::Udp,
    );
    // A UAS takes the request: it is the last hop.
    let mut uas = endpoint();
    server_request(
        &mut uas,
        t0,
        &zero(Method::Invite, "z9hG4bKmf3"),
        Transport::Udp,
    );
}

#[test]
fn an_id_outliving_its_transaction_finds_nothing_in_its_reused_slot() {
    let mut ep = endpoint();
    let t0 = Instant::now();
    let first = request(Method::Options, "z9hG4bKslot1", "");
    let old = server_request(&mut ep, t0, &first, Transport::Tcp);
    // Over TCP timer J is 0: the final response ends the transaction.
    ep.respond(t0, old, reply(&first, 200, "s")).unwrap();
    assert_eq!(ep.transactions(), (0, 0));
    transmits(&mut ep);
    events(&mut ep);
    // The next transaction takes the freed slot under a new id.
    let second = edited(
        &request(Method::Options, "z9hG4bKslot2", ""),
        "call-1",
        "call-2",
    );
    let new = server_request(&mut ep, t0, &second, Transport::Tcp);
    assert_ne!(old, new);
    assert!(matches!(
        ep.respond(t0, old, reply(&first, 200, "s")),
        Err(sofia_nta::Error::NoTransaction)
    ));
    assert!(transmits(&mut ep).is_empty());
    ep.respond(t0, new, reply(&second, 486, "s")).unwrap();
    assert_eq!(statuses(&mut ep), vec![486]);
}

#[test]
fn merged_request_gets_482_only_while_the_first_lives() {
    let mut ep = endpoint();
    let t0 = Instant::now();
    let first = request(Method::Options, "z9hG4bKmerge1", "");
    let id = server_request(&mut ep, t0, &first, Transport::Udp);
    // Same From tag, Call-ID and CSeq, another branch: another path.
    let other = request(Method::Options, "z9hG4bKmerge2", "");
    ep.handle(t0, incoming(other.clone(), Transport::Udp));
    assert_eq!(statuses(&mut ep), vec![482]);
    assert!(events(&mut ep).is_empty());
    ep.respond(t0, id, reply(&first, 200, "s")).unwrap();
    assert_eq!(statuses(&mut ep), vec![200]);
    // Timer J ends the first: the same request is then new.
    run_until(&mut ep, t0, T1 * 64);
    events(&mut ep);
    assert_eq!(ep.transactions(), (0, 0));
    server_request(&mut ep, t0 + T1 * 64, &other, Transport::Udp);
}
