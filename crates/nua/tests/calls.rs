//! Calls between user agents on 127.0.0.1 over real UDP (and TCP): each
//! flow with its events asserted in order.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sofia_msg::HeaderName;
use sofia_nua::{CallState, Config, Event, EventKind, Handle, Nua};
use sofia_soa::Direction;
use tokio::sync::mpsc::Receiver;

const WAIT: Duration = Duration::from_secs(10);

/// The next event that is not a provisional `r_invite` 100.
async fn next(events: &mut Receiver<Event>) -> Event {
    loop {
        let ev = tokio::time::timeout(WAIT, events.recv())
            .await
            .expect("an event in time")
            .expect("the user agent is running");
        if ev.kind == EventKind::RInvite && ev.status == 100 {
            continue;
        }
        return ev;
    }
}

/// Reads events until one of `kind` (and, for `i_state`, `state`) comes;
/// returns it and the kinds seen before it.
async fn until(
    events: &mut Receiver<Event>,
    kind: EventKind,
    state: Option<CallState>,
) -> (Event, Vec<String>) {
    let mut seen = Vec::new();
    loop {
        let ev = next(events).await;
        if ev.kind == kind && (state.is_none() || ev.state == state) {
            return (ev, seen);
        }
        seen.push(ev.to_string());
    }
}

fn summary(ev: &Event) -> String {
    match ev.state {
        Some(s) => format!("{} {} {s}", ev.kind, ev.status),
        None => format!("{} {}", ev.kind, ev.status),
    }
}

/// Collects the events of one side until the call state `last`.
async fn flow(events: &mut Receiver<Event>, last: CallState) -> Vec<String> {
    let mut out = Vec::new();
    loop {
        let ev = next(events).await;
        out.push(summary(&ev));
        if ev.state == Some(last) {
            return out;
        }
    }
}

async fn pair(config: Config) -> ((Nua, Receiver<Event>), (Nua, Receiver<Event>), String) {
    let alice = Nua::new(config.clone()).await.unwrap();
    let bob = Nua::new(config).await.unwrap();
    let addr = bob.0.listeners()[0].1;
    (alice, bob, format!("sip:bob@{addr}"))
}

/// Bob's side: the incoming call's handle.
async fn incoming(bob: &Nua, events: &mut Receiver<Event>) -> Handle {
    let ev = next(events).await;
    assert_eq!(summary(&ev), "i_invite 100");
    let msg = ev.message.as_ref().unwrap();
    assert_eq!(msg.method_str(), "INVITE");
    assert_eq!(summary(&next(events).await), "i_state 100 received");
    bob.handle_of(ev.handle)
}

#[tokio::test]
async fn basic_call_ring_answer_bye() {
    let ((alice, mut a_ev), (bob, mut b_ev), uri) = pair(Config::default()).await;
    let call = alice.handle(&uri).unwrap();
    call.invite().unwrap();
    assert_eq!(summary(&next(&mut a_ev).await), "i_state 0 calling");

    let bob_call = incoming(&bob, &mut b_ev).await;
    bob_call.respond(180, "Ringing").unwrap();
    assert_eq!(summary(&next(&mut b_ev).await), "i_state 180 early");
    let ringing = next(&mut a_ev).await;
    assert_eq!(summary(&ringing), "r_invite 180");
    assert_eq!(summary(&next(&mut a_ev).await), "i_state 180 proceeding");

    bob_call.respond(200, "OK").unwrap();
    assert_eq!(summary(&next(&mut b_ev).await), "i_state 200 completed");
    assert_eq!(
        flow(&mut a_ev, CallState::Ready).await,
        [
            "i_state 200 completing",
            "r_invite 200",
            "i_state 200 ready"
        ]
    );
    assert_eq!(
        flow(&mut b_ev, CallState::Ready).await,
        ["i_ack 200", "i_state 200 ready"]
    );

    call.bye().unwrap();
    assert_eq!(
        flow(&mut a_ev, CallState::Terminated).await,
        [
            "i_state 0 terminating",
            "r_bye 200",
            "i_state 200 terminated"
        ]
    );
    assert_eq!(
        flow(&mut b_ev, CallState::Terminated).await,
        ["i_bye 200", "i_state 200 terminated"]
    );
}

#[tokio::test]
async fn the_answer_negotiates_media() {
    let ((alice, mut a_ev), (bob, mut b_ev), uri) = pair(Config::default()).await;
    let call = alice.handle(&uri).unwrap();
    call.invite().unwrap();
    let bob_call = incoming(&bob, &mut b_ev).await;
    bob_call.respond(200, "OK").unwrap();
    let (ok, _) = until(&mut a_ev, EventKind::RInvite, None).await;
    let msg = ok.message.unwrap();
    assert_eq!(msg.status(), Some(200));
    let sdp = std::str::from_utf8(msg.body_bytes()).unwrap();
    assert!(sdp.contains("m=audio 40000 RTP/AVP 0 8 101"), "{sdp}");
    assert!(msg.header(HeaderName::Contact).is_some());
    until(&mut b_ev, EventKind::IState, Some(CallState::Ready)).await;
    call.bye().unwrap();
    until(&mut b_ev, EventKind::IBye, None).await;
}

#[tokio::test]
async fn rejected_call() {
    let ((alice, mut a_ev), (bob, mut b_ev), uri) = pair(Config::default()).await;
    let call = alice.handle(&uri).unwrap();
    call.invite().unwrap();
    let bob_call = incoming(&bob, &mut b_ev).await;
    bob_call.respond(486, "Busy Here").unwrap();
    assert_eq!(summary(&next(&mut b_ev).await), "i_state 486 terminated");
    assert_eq!(
        flow(&mut a_ev, CallState::Terminated).await,
        [
            "i_state 0 calling",
            "r_invite 486",
            "i_state 486 terminated"
        ]
    );
}

#[tokio::test]
async fn cancelled_call() {
    let ((alice, mut a_ev), (bob, mut b_ev), uri) = pair(Config::default()).await;
    let call = alice.handle(&uri).unwrap();
    call.invite().unwrap();
    let bob_call = incoming(&bob, &mut b_ev).await;
    bob_call.respond(180, "Ringing").unwrap();
    until(&mut a_ev, EventKind::IState, Some(CallState::Proceeding)).await;
    call.bye().unwrap();
    assert_eq!(
        flow(&mut b_ev, CallState::Terminated).await,
        [
            "i_state 180 early",
            "i_cancel 200",
            "i_state 487 terminated"
        ]
    );
    assert_eq!(
        flow(&mut a_ev, CallState::Terminated).await,
        ["r_invite 487", "i_state 487 terminated"]
    );
    // Answering now is refused: the call is over.
    bob_call.respond(200, "OK").unwrap();
    let refused = next(&mut b_ev).await;
    assert_eq!(summary(&refused), "i_invite 400");
}

#[tokio::test]
async fn cancel_before_any_provisional_waits_for_one() {
    let ((alice, mut a_ev), (bob, mut b_ev), uri) = pair(Config::default()).await;
    let call = alice.handle(&uri).unwrap();
    call.invite().unwrap();
    call.cancel().unwrap();
    let bob_call = incoming(&bob, &mut b_ev).await;
    bob_call.respond(180, "Ringing").unwrap();
    assert_eq!(
        flow(&mut b_ev, CallState::Terminated).await,
        [
            "i_state 180 early",
            "i_cancel 200",
            "i_state 487 terminated"
        ]
    );
    let (ev, _) = until(&mut a_ev, EventKind::IState, Some(CallState::Terminated)).await;
    assert_eq!(ev.status, 487);
}

#[tokio::test]
async fn hold_and_resume_by_reinvite() {
    let ((alice, mut a_ev), (bob, mut b_ev), uri) = pair(Config::default()).await;
    let call = alice.handle(&uri).unwrap();
    call.invite().unwrap();
    let bob_call = incoming(&bob, &mut b_ev).await;
    bob_call.respond(200, "OK").unwrap();
    until(&mut a_ev, EventKind::IState, Some(CallState::Ready)).await;
    until(&mut b_ev, EventKind::IState, Some(CallState::Ready)).await;

    call.hold(true).unwrap();
    let (reinvite, _) = until(&mut b_ev, EventKind::IInvite, None).await;
    let offer = reinvite.message.unwrap();
    assert!(
        std::str::from_utf8(offer.body_bytes())
            .unwrap()
            .contains("a=sendonly")
    );
    let (ok, _) = until(&mut a_ev, EventKind::RInvite, None).await;
    assert_eq!(ok.status, 200);
    let answer = ok.message.unwrap();
    let answer =
        sofia_soa::SessionDescription::parse(std::str::from_utf8(answer.body_bytes()).unwrap())
            .unwrap();
    assert_eq!(answer.media_direction(0), Direction::RecvOnly);
    let (ack, _) = until(&mut b_ev, EventKind::IAck, None).await;
    assert_eq!(ack.status, 200);

    call.hold(false).unwrap();
    let (reinvite, _) = until(&mut b_ev, EventKind::IInvite, None).await;
    let offer = reinvite.message.unwrap();
    let resumed = std::str::from_utf8(offer.body_bytes()).unwrap();
    assert!(
        !resumed.contains("a=sendonly") && !resumed.contains("a=inactive"),
        "{resumed}"
    );
    let (ok, _) = until(&mut a_ev, EventKind::RInvite, None).await;
    assert_eq!(ok.status, 200);
    until(&mut b_ev, EventKind::IAck, None).await;

    // The callee hangs up.
    bob_call.bye().unwrap();
    until(&mut a_ev, EventKind::IBye, None).await;
    let (ev, _) = until(&mut b_ev, EventKind::RBye, None).await;
    assert_eq!(ev.status, 200);
}

#[tokio::test]
async fn late_offer_answer_in_ack() {
    let ((alice, mut a_ev), (bob, mut b_ev), uri) = pair(Config::default()).await;
    let call = alice.handle(&uri).unwrap();
    call.invite_late_offer().unwrap();
    let ev = next(&mut b_ev).await;
    assert_eq!(ev.kind, EventKind::IInvite);
    assert!(ev.message.as_ref().unwrap().body_bytes().is_empty());
    let bob_call = bob.handle_of(ev.handle);
    bob_call.respond(200, "OK").unwrap();
    let (ok, _) = until(&mut a_ev, EventKind::RInvite, None).await;
    assert!(
        !ok.message.unwrap().body_bytes().is_empty(),
        "the 2xx carries the offer"
    );
    let (ack, _) = until(&mut b_ev, EventKind::IAck, None).await;
    let body = ack.message.unwrap();
    let sdp = std::str::from_utf8(body.body_bytes()).unwrap();
    assert!(sdp.starts_with("v=0"), "the ACK carries the answer: {sdp}");
    until(&mut b_ev, EventKind::IState, Some(CallState::Ready)).await;
    call.bye().unwrap();
    until(&mut b_ev, EventKind::IBye, None).await;
}

#[tokio::test]
async fn info_and_update_in_a_call() {
    let ((alice, mut a_ev), (bob, mut b_ev), uri) = pair(Config::default()).await;
    let call = alice.handle(&uri).unwrap();
    call.invite().unwrap();
    let bob_call = incoming(&bob, &mut b_ev).await;
    bob_call.respond(200, "OK").unwrap();
    until(&mut a_ev, EventKind::IState, Some(CallState::Ready)).await;
    until(&mut b_ev, EventKind::IState, Some(CallState::Ready)).await;

    call.info("application/dtmf-relay", "Signal=5\r\nDuration=160\r\n")
        .unwrap();
    let (info, _) = until(&mut b_ev, EventKind::IInfo, None).await;
    assert_eq!(
        info.message.unwrap().body_bytes(),
        b"Signal=5\r\nDuration=160\r\n"
    );
    let (r, _) = until(&mut a_ev, EventKind::RInfo, None).await;
    assert_eq!(r.status, 200);

    bob_call.update().unwrap();
    let (u, _) = until(&mut a_ev, EventKind::IUpdate, None).await;
    assert_eq!(u.status, 200);
    let (r, _) = until(&mut b_ev, EventKind::RUpdate, None).await;
    assert_eq!(r.status, 200);
    assert!(
        !r.message.unwrap().body_bytes().is_empty(),
        "the 200 carries the answer"
    );

    call.bye().unwrap();
    until(&mut b_ev, EventKind::IBye, None).await;
}

#[tokio::test]
async fn glare_is_answered_491_and_retried() {
    let ((alice, mut a_ev), (bob, mut b_ev), uri) = pair(Config::default()).await;
    let call = alice.handle(&uri).unwrap();
    call.invite().unwrap();
    let bob_call = incoming(&bob, &mut b_ev).await;
    bob_call.respond(200, "OK").unwrap();
    until(&mut a_ev, EventKind::IState, Some(CallState::Ready)).await;
    until(&mut b_ev, EventKind::IState, Some(CallState::Ready)).await;

    // Both re-INVITE at once: each side answers the other's 491.
    call.reinvite().unwrap();
    bob_call.reinvite().unwrap();
    let (a491, _) = until(&mut a_ev, EventKind::RInvite, None).await;
    let (b491, _) = until(&mut b_ev, EventKind::RInvite, None).await;
    assert_eq!((a491.status, b491.status), (491, 491));
    // Bob (not the Call-ID's owner) retries within 2 s and gets 200; then
    // Alice's retry, 2.1-4 s after her 491, succeeds too.
    let (b200, _) = until(&mut b_ev, EventKind::RInvite, None).await;
    assert_eq!(b200.status, 200);
    let (a200, _) = until(&mut a_ev, EventKind::RInvite, None).await;
    assert_eq!(a200.status, 200);
    call.bye().unwrap();
    until(&mut b_ev, EventKind::IBye, None).await;
}

#[tokio::test]
async fn a_body_that_is_not_sdp_gets_415() {
    let ((_alice, _a_ev), (bob, mut b_ev), uri) = pair(Config::default()).await;
    let _ = &bob;
    let (tport, incoming) = sofia_tport::Tport::bind(sofia_tport::Config::new(["sip:127.0.0.1:0"]))
        .await
        .unwrap();
    let local = tport.local_addr(sofia_tport::Transport::Udp).unwrap();
    let (agent, _r, _o) = sofia_nta::Agent::new(tport, incoming, sofia_nta::Config::default());
    let via = agent.via(sofia_tport::Transport::Udp).unwrap();
    let invite = sofia_msg::RequestBuilder::new(sofia_msg::Method::Invite, &uri)
        .header(HeaderName::Via, &via)
        .header(HeaderName::MaxForwards, "70")
        .header(HeaderName::From, "<sip:carol@127.0.0.1>;tag=c1")
        .header(HeaderName::To, &format!("<{uri}>"))
        .header(HeaderName::CallId, "415-test@127.0.0.1")
        .header(HeaderName::CSeq, "1 INVITE")
        .header(HeaderName::Contact, &format!("<sip:carol@{local}>"))
        .body("text/plain", "not a session description")
        .build()
        .unwrap();
    let dest = uri.trim_start_matches("sip:bob@").parse().unwrap();
    let mut rx = agent
        .request(
            invite,
            sofia_tport::Destination::new(sofia_tport::Transport::Udp, dest),
        )
        .unwrap();
    loop {
        match tokio::time::timeout(WAIT, rx.recv())
            .await
            .unwrap()
            .unwrap()
        {
            sofia_nta::ClientEvent::Response(r) if r.status() >= Some(200) => {
                assert_eq!(r.status(), Some(415));
                assert_eq!(r.header(HeaderName::Accept), Some("application/sdp"));
                break;
            }
            sofia_nta::ClientEvent::Response(_) => {}
            sofia_nta::ClientEvent::Timeout => panic!("no answer"),
        }
    }
    let ev = next(&mut b_ev).await;
    assert_eq!(summary(&ev), "i_state 415 terminated");
}

#[tokio::test]
async fn calls_over_tcp() {
    // Both transports on one port: the call over TCP says so in the
    // Contacts, so that ACK and BYE come over TCP too.
    let config = Config {
        bind: vec!["sip:127.0.0.1:0".to_string()],
        ..Config::default()
    };
    let ((alice, mut a_ev), (bob, mut b_ev), _) = pair(config).await;
    let addr = bob.listeners()[0].1;
    let call = alice
        .handle(&format!("sip:bob@{addr};transport=tcp"))
        .unwrap();
    call.invite().unwrap();
    let ev = next(&mut b_ev).await;
    let invite = ev.message.unwrap();
    assert!(
        invite
            .top_via()
            .unwrap()
            .transport()
            .eq_ignore_ascii_case("TCP")
    );
    assert!(
        invite
            .header(HeaderName::Contact)
            .unwrap()
            .contains(";transport=tcp")
    );
    let bob_call = bob.handle_of(ev.handle);
    bob_call.respond(200, "OK").unwrap();
    let (ok, _) = until(&mut a_ev, EventKind::RInvite, None).await;
    let ok = ok.message.unwrap();
    assert!(
        ok.header(HeaderName::Contact)
            .unwrap()
            .contains(";transport=tcp")
    );
    until(&mut a_ev, EventKind::IState, Some(CallState::Ready)).await;
    let (ack, _) = until(&mut b_ev, EventKind::IAck, None).await;
    assert!(
        ack.message
            .unwrap()
            .top_via()
            .unwrap()
            .transport()
            .eq_ignore_ascii_case("TCP")
    );
    call.bye().unwrap();
    let (bye, _) = until(&mut b_ev, EventKind::IBye, None).await;
    assert!(
        bye.message
            .unwrap()
            .top_via()
            .unwrap()
            .transport()
            .eq_ignore_ascii_case("TCP")
    );
    let (ev, _) = until(&mut a_ev, EventKind::RBye, None).await;
    assert_eq!(ev.status, 200);
}

/// Forwards UDP datagrams between `peer` and the rest, dropping one in
/// `1/loss_one_in` (a fixed pseudo-random sequence).
async fn lossy_relay(
    peer: std::net::SocketAddr,
    other: std::net::SocketAddr,
    loss_one_in: u64,
    seed: u64,
) -> (std::net::SocketAddr, Arc<AtomicU64>) {
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    let dropped = Arc::new(AtomicU64::new(0));
    let counter = dropped.clone();
    tokio::spawn(async move {
        let mut state = seed;
        let mut buf = vec![0u8; 65536];
        while let Ok((n, from)) = socket.recv_from(&mut buf).await {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            if (state >> 33).is_multiple_of(loss_one_in) {
                counter.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            let to = if from == peer { other } else { peer };
            let _ = socket.send_to(&buf[..n], to).await;
        }
    });
    (addr, dropped)
}

#[tokio::test]
async fn calls_complete_with_ten_percent_loss() {
    let timers = sofia_nta::Timers {
        t1: Duration::from_millis(50),
        t2: Duration::from_millis(400),
        ..sofia_nta::Timers::default()
    };
    // Bind first to learn the addresses, then point each side's Contact at
    // the relay in front of it: every request, response and ACK crosses a
    // relay that loses 10 % of the datagrams.
    let a_sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let b_sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let (a_addr, b_addr) = (a_sock.local_addr().unwrap(), b_sock.local_addr().unwrap());
    drop((a_sock, b_sock));
    let (to_bob, lost_b) = lossy_relay(b_addr, a_addr, 10, 7).await;
    let (to_alice, lost_a) = lossy_relay(a_addr, b_addr, 10, 11).await;
    let config = |addr: std::net::SocketAddr, contact: std::net::SocketAddr, user: &str| Config {
        bind: vec![format!("sip:{addr};transport=udp")],
        contact: Some(format!("sip:{user}@{contact}")),
        timers,
        ..Config::default()
    };
    let (alice, mut a_ev) = Nua::new(config(a_addr, to_alice, "alice")).await.unwrap();
    let (bob, mut b_ev) = Nua::new(config(b_addr, to_bob, "bob")).await.unwrap();
    let calls = 20;
    let mut answered = 0;
    for _ in 0..calls {
        let call = alice.handle(&format!("sip:bob@{to_bob}")).unwrap();
        call.invite().unwrap();
        let (ev, _) = until(&mut b_ev, EventKind::IInvite, None).await;
        let bob_call = bob.handle_of(ev.handle);
        bob_call.respond(180, "Ringing").unwrap();
        bob_call.respond(200, "OK").unwrap();
        let (ready, _) = until(&mut a_ev, EventKind::IState, Some(CallState::Ready)).await;
        assert_eq!(ready.status, 200);
        until(&mut b_ev, EventKind::IState, Some(CallState::Ready)).await;
        call.bye().unwrap();
        let (end, _) = until(&mut a_ev, EventKind::IState, Some(CallState::Terminated)).await;
        assert_eq!(end.status, 200);
        let (end, _) = until(&mut b_ev, EventKind::IState, Some(CallState::Terminated)).await;
        assert_eq!(end.status, 200);
        answered += 1;
    }
    assert_eq!(answered, calls);
    let lost = lost_a.load(Ordering::Relaxed) + lost_b.load(Ordering::Relaxed);
    assert!(lost >= 10, "only {lost} datagrams were lost");
}

#[tokio::test]
async fn blind_transfer_by_refer_with_sipfrag_notifies() {
    let ((alice, mut a_ev), (bob, mut b_ev), uri) = pair(Config::default()).await;
    let (carol, mut c_ev) = Nua::new(Config::default()).await.unwrap();
    let carol_uri = format!("sip:carol@{}", carol.listeners()[0].1);
    let call = alice.handle(&uri).unwrap();
    call.invite().unwrap();
    let bob_call = incoming(&bob, &mut b_ev).await;
    bob_call.respond(200, "OK").unwrap();
    until(&mut a_ev, EventKind::IState, Some(CallState::Ready)).await;
    until(&mut b_ev, EventKind::IState, Some(CallState::Ready)).await;

    // Alice transfers Bob to Carol.
    call.refer(&carol_uri).unwrap();
    let (refer, _) = until(&mut b_ev, EventKind::IRefer, None).await;
    let refer_to = refer.message.unwrap();
    let target = refer_to.header(HeaderName::ReferTo).unwrap();
    assert_eq!(target, format!("<{carol_uri}>"));
    // The 202 and the first NOTIFY may come in either order.
    let mut first = Vec::new();
    while first.len() < 2 {
        let ev = next(&mut a_ev).await;
        match ev.kind {
            EventKind::RRefer => first.push(format!("r_refer {}", ev.status)),
            EventKind::INotify => first.push(format!(
                "i_notify {}",
                String::from_utf8_lossy(ev.message.unwrap().body_bytes()).trim_end()
            )),
            _ => {}
        }
    }
    first.sort();
    assert_eq!(first, ["i_notify SIP/2.0 100 Trying", "r_refer 202"]);

    // Bob calls Carol and reports the outcome.
    let to_carol = bob.handle(&carol_uri).unwrap();
    to_carol.invite().unwrap();
    let carol_call = incoming(&carol, &mut c_ev).await;
    carol_call.respond(200, "OK").unwrap();
    until(&mut b_ev, EventKind::IState, Some(CallState::Ready)).await;
    bob_call.refer_notify(200, "OK").unwrap();
    let (done, _) = until(&mut a_ev, EventKind::INotify, None).await;
    let notify = done.message.unwrap();
    assert_eq!(notify.body_bytes(), b"SIP/2.0 200 OK\r\n");
    assert!(
        notify
            .header(HeaderName::SubscriptionState)
            .unwrap()
            .starts_with("terminated")
    );
    // The transfer is done: Alice hangs up.
    call.bye().unwrap();
    until(&mut b_ev, EventKind::IBye, None).await;
    to_carol.bye().unwrap();
    until(&mut c_ev, EventKind::IBye, None).await;
}

#[tokio::test]
async fn an_invite_with_replaces_takes_over_the_call() {
    let ((alice, mut a_ev), (bob, mut b_ev), uri) = pair(Config::default()).await;
    let call = alice.handle(&uri).unwrap();
    call.invite().unwrap();
    let bob_call = incoming(&bob, &mut b_ev).await;
    bob_call.respond(200, "OK").unwrap();
    let (ok, _) = until(&mut a_ev, EventKind::RInvite, None).await;
    let ok = ok.message.unwrap();
    until(&mut b_ev, EventKind::IState, Some(CallState::Ready)).await;

    // Carol (a bare transaction engine) replaces Alice in Bob's call.
    let (tport, incoming_rx) =
        sofia_tport::Tport::bind(sofia_tport::Config::new(["sip:127.0.0.1:0"]))
            .await
            .unwrap();
    let carol_addr = tport.local_addr(sofia_tport::Transport::Udp).unwrap();
    let (agent, _r, mut others) =
        sofia_nta::Agent::new(tport, incoming_rx, sofia_nta::Config::default());
    let replaces = format!(
        "{};to-tag={};from-tag={}",
        ok.call_id().unwrap(),
        ok.to_tag().unwrap(),
        ok.from_tag().unwrap()
    );
    let bob_addr: std::net::SocketAddr = uri.trim_start_matches("sip:bob@").parse().unwrap();
    let invite = |replaces: &str, call_id: &str| {
        sofia_msg::RequestBuilder::new(sofia_msg::Method::Invite, &uri)
            .header(
                HeaderName::Via,
                &agent.via(sofia_tport::Transport::Udp).unwrap(),
            )
            .header(HeaderName::MaxForwards, "70")
            .header(HeaderName::From, "<sip:carol@127.0.0.1>;tag=c1")
            .header(HeaderName::To, &format!("<{uri}>"))
            .header(HeaderName::CallId, call_id)
            .header(HeaderName::CSeq, "1 INVITE")
            .header(HeaderName::Contact, &format!("<sip:carol@{carol_addr}>"))
            .header(HeaderName::Replaces, replaces)
            .body(
                "application/sdp",
                "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
                 m=audio 7000 RTP/AVP 0\r\n",
            )
            .build()
            .unwrap()
    };
    // A Replaces naming no dialog: 481.
    let mut rx = agent
        .request(
            invite("nosuch;to-tag=a;from-tag=b", "r1@127.0.0.1"),
            sofia_tport::Destination::new(sofia_tport::Transport::Udp, bob_addr),
        )
        .unwrap();
    loop {
        match tokio::time::timeout(WAIT, rx.recv())
            .await
            .unwrap()
            .unwrap()
        {
            sofia_nta::ClientEvent::Response(r) if r.status() >= Some(200) => {
                assert_eq!(r.status(), Some(481));
                break;
            }
            sofia_nta::ClientEvent::Response(_) => {}
            sofia_nta::ClientEvent::Timeout => panic!("no answer"),
        }
    }
    // Naming Alice's call: Bob answers the new call and hangs up on Alice.
    let mut rx = agent
        .request(
            invite(&replaces, "r2@127.0.0.1"),
            sofia_tport::Destination::new(sofia_tport::Transport::Udp, bob_addr),
        )
        .unwrap();
    let (new_call, _) = until(&mut b_ev, EventKind::IInvite, None).await;
    let new_call = bob.handle_of(new_call.handle);
    new_call.respond(200, "OK").unwrap();
    let ok = loop {
        match tokio::time::timeout(WAIT, rx.recv())
            .await
            .unwrap()
            .unwrap()
        {
            sofia_nta::ClientEvent::Response(r) if r.status() == Some(200) => break r,
            sofia_nta::ClientEvent::Response(_) => {}
            sofia_nta::ClientEvent::Timeout => panic!("no answer"),
        }
    };
    let mut dialog =
        sofia_nta::dialog::Dialog::from_uac(&invite(&replaces, "r2@127.0.0.1"), &ok).unwrap();
    let ack = dialog
        .request(
            sofia_msg::Method::Ack,
            &agent.via(sofia_tport::Transport::Udp).unwrap(),
            Some(1),
        )
        .build()
        .unwrap();
    agent.send_stateless(
        &ack,
        sofia_tport::Destination::new(sofia_tport::Transport::Udp, bob_addr),
    );
    let (bye, _) = until(&mut a_ev, EventKind::IBye, None).await;
    assert_eq!(bye.status, 200);
    drop((others.try_recv(), bob_call));
}
