//! A call answered behind record-routing proxies: the dialog-creating
//! responses carry the INVITE's Record-Route (RFC 3261 §12.1.1), and the
//! callee's BYE follows that route set, in order, to the first hop.

use std::time::Duration;

use sofia_msg::{HeaderName, Message, Method, RequestBuilder, ResponseBuilder};
use sofia_nta::{Agent, ClientEvent, Config as NtaConfig};
use sofia_nua::{CallState, Config, Event, EventKind, Nua};
use sofia_tport::{Destination, Tport, Transport};
use tokio::sync::mpsc::Receiver;

const WAIT: Duration = Duration::from_secs(10);

async fn next(events: &mut Receiver<Event>) -> Event {
    tokio::time::timeout(WAIT, events.recv())
        .await
        .expect("an event in time")
        .expect("the user agent runs")
}

fn sdp() -> String {
    "v=0\r\no=- 7 7 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
     m=audio 6000 RTP/AVP 0\r\n"
        .to_string()
}

fn record_routes(msg: &Message) -> Vec<String> {
    msg.header_lines(HeaderName::RecordRoute)
        .map(str::to_string)
        .collect()
}

#[tokio::test]
async fn the_answer_keeps_the_record_route_and_the_bye_follows_it() {
    // The scripted peer is both the caller and the proxy next to the callee.
    let (tport, incoming) = Tport::bind(sofia_tport::Config::new(["sip:127.0.0.1:0"]))
        .await
        .unwrap();
    let peer_addr = tport.local_addr(Transport::Udp).unwrap();
    let (agent, mut requests, _others) = Agent::new(tport, incoming, NtaConfig::default());
    let (bob, mut events) = Nua::new(Config::default()).await.unwrap();
    let bob_addr = bob.listeners()[0].1;

    let near = format!("<sip:127.0.0.1:{};lr;ftag=c1>", peer_addr.port());
    let far = "<sip:far-proxy.invalid;lr>".to_string();
    let invite = RequestBuilder::new(Method::Invite, &format!("sip:bob@{bob_addr}"))
        .header(HeaderName::Via, &agent.via(Transport::Udp).unwrap())
        .header(HeaderName::MaxForwards, "70")
        .header(HeaderName::RecordRoute, &near)
        .header(HeaderName::RecordRoute, &far)
        .header(HeaderName::From, "<sip:carol@127.0.0.1>;tag=c1")
        .header(HeaderName::To, &format!("<sip:bob@{bob_addr}>"))
        .header(HeaderName::CallId, "record-route@127.0.0.1")
        .header(HeaderName::CSeq, "1 INVITE")
        .header(HeaderName::Contact, &format!("<sip:carol@{peer_addr}>"))
        .body("application/sdp", sdp())
        .build()
        .unwrap();
    let mut rx = agent
        .request(invite, Destination::new(Transport::Udp, bob_addr))
        .unwrap();
    let ev = next(&mut events).await;
    assert_eq!(ev.kind, EventKind::IInvite);
    let call = bob.handle_of(ev.handle);
    call.respond(180, "Ringing").unwrap();
    call.respond(200, "OK").unwrap();

    let mut ringing = None;
    let ok = loop {
        let ev = tokio::time::timeout(WAIT, rx.recv())
            .await
            .expect("a response in time")
            .expect("the transaction runs");
        match ev {
            ClientEvent::Response(r) if r.status() == Some(180) => ringing = Some(r),
            ClientEvent::Response(r) if r.status() == Some(200) => break r,
            _ => {}
        }
    };
    let expected = vec![near.clone(), far.clone()];
    assert_eq!(record_routes(&ringing.expect("a 180")), expected);
    assert_eq!(record_routes(&ok), expected);

    // ACK straight to the callee (the peer plays the proxy too).
    let to = ok.header(HeaderName::To).unwrap().to_string();
    let ack = RequestBuilder::new(Method::Ack, &format!("sip:nua@{bob_addr}"))
        .header(
            HeaderName::Via,
            &format!("SIP/2.0/UDP {peer_addr};branch=z9hG4bKrrack1"),
        )
        .header(HeaderName::MaxForwards, "70")
        .header(HeaderName::From, "<sip:carol@127.0.0.1>;tag=c1")
        .header(HeaderName::To, &to)
        .header(HeaderName::CallId, "record-route@127.0.0.1")
        .header(HeaderName::CSeq, "1 ACK")
        .build()
        .unwrap();
    agent.send_stateless(&ack, Destination::new(Transport::Udp, bob_addr));
    loop {
        let ev = next(&mut events).await;
        if ev.kind == EventKind::IState && ev.state == Some(CallState::Ready) {
            break;
        }
    }

    // The callee's BYE: Route = the Record-Route in order, sent to the
    // first hop (the peer), Request-URI = the caller's Contact.
    call.bye().unwrap();
    let bye = tokio::time::timeout(WAIT, requests.recv())
        .await
        .expect("a BYE in time")
        .expect("the peer runs");
    assert_eq!(bye.msg.method(), Method::Bye);
    let routes: Vec<String> = bye
        .msg
        .header_lines(HeaderName::Route)
        .map(str::to_string)
        .collect();
    assert_eq!(routes, expected);
    assert_eq!(
        bye.msg.request_uri_str(),
        Some(format!("sip:carol@{peer_addr}").as_str())
    );
    agent
        .respond(
            bye.server,
            ResponseBuilder::reply_to(&bye.msg, 200, "OK", None)
                .build()
                .unwrap(),
        )
        .unwrap();
    loop {
        let ev = next(&mut events).await;
        if ev.state == Some(CallState::Terminated) {
            assert_eq!(ev.status, 200);
            break;
        }
    }
}
