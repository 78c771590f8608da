//! The tokio driver over real loopback sockets: a request and its response,
//! over UDP and TCP.

use std::time::Duration;

use sofia_msg::{HeaderName, Method, RequestBuilder, ResponseBuilder};
use sofia_nta::{Agent, ClientEvent, Config};
use sofia_tport::{Destination, Tport, Transport};

async fn agent() -> (
    Agent,
    tokio::sync::mpsc::UnboundedReceiver<sofia_nta::ServerRequest>,
) {
    let (tport, incoming) = Tport::bind(sofia_tport::Config::new(["sip:127.0.0.1:0"]))
        .await
        .unwrap();
    let (agent, requests, _others) = Agent::new(tport, incoming, Config::default());
    (agent, requests)
}

#[tokio::test]
async fn options_round_trip_over_udp_and_tcp() {
    let (a, _arx) = agent().await;
    let (b, mut brx) = agent().await;
    let b_addr = b.tport().local_addr(Transport::Udp).unwrap();
    // b answers every request 200.
    let responder = b.clone();
    tokio::spawn(async move {
        while let Some(req) = brx.recv().await {
            let resp = ResponseBuilder::reply_to(&req.msg, 200, "OK", Some("b"))
                .build()
                .unwrap();
            responder.respond(req.server, resp).unwrap();
        }
    });
    for transport in [Transport::Udp, Transport::Tcp] {
        let req = RequestBuilder::new(Method::Options, &format!("sip:b@{b_addr}"))
            .header(HeaderName::Via, &a.via(transport).unwrap())
            .header(HeaderName::MaxForwards, "70")
            .header(
                HeaderName::From,
                &format!("<sip:a@127.0.0.1>;tag={}", a.tag()),
            )
            .header(HeaderName::To, &format!("<sip:b@{b_addr}>"))
            .header(HeaderName::CallId, &format!("agent-{transport}"))
            .header(HeaderName::CSeq, "1 OPTIONS")
            .build()
            .unwrap();
        let mut rx = a.request(req, Destination::new(transport, b_addr)).unwrap();
        let ev = tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .unwrap()
            .unwrap();
        match ev {
            ClientEvent::Response(msg) => {
                assert_eq!(msg.status(), Some(200));
                assert_eq!(msg.to_tag(), Some("b"));
            }
            ClientEvent::Timeout => panic!("timed out over {transport}"),
        }
    }
}

#[tokio::test]
async fn failover_to_the_next_target_on_503_and_timeout() {
    use sofia_nta::resolve::Target;
    let timers = sofia_nta::Timers {
        t1: Duration::from_millis(10),
        ..sofia_nta::Timers::default()
    };
    let (tport, incoming) = Tport::bind(sofia_tport::Config::new(["sip:127.0.0.1:0"]))
        .await
        .unwrap();
    let (a, _r, _o) = Agent::new(
        tport,
        incoming,
        Config {
            timers,
            ..Config::default()
        },
    );
    // busy answers 503, good answers 200; nothing answers on `silent`.
    let mut servers = Vec::new();
    for status in [503u16, 200] {
        let (s, mut rx) = agent().await;
        let responder = s.clone();
        tokio::spawn(async move {
            while let Some(req) = rx.recv().await {
                let resp = ResponseBuilder::reply_to(&req.msg, status, "X", Some("s"))
                    .build()
                    .unwrap();
                responder.respond(req.server, resp).unwrap();
            }
        });
        servers.push(s.tport().local_addr(Transport::Udp).unwrap());
    }
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let target = |addr| Target {
        transport: Transport::Udp,
        addr,
        host: "127.0.0.1".into(),
        priority: 0,
        weight: 0,
    };
    let targets = vec![
        target(silent.local_addr().unwrap()),
        target(servers[0]),
        target(servers[1]),
    ];
    let req = RequestBuilder::new(Method::Options, "sip:x@example.test")
        .header(HeaderName::Via, &a.via(Transport::Udp).unwrap())
        .header(
            HeaderName::From,
            &format!("<sip:a@127.0.0.1>;tag={}", a.tag()),
        )
        .header(HeaderName::To, "<sip:x@example.test>")
        .header(HeaderName::CallId, "failover")
        .header(HeaderName::CSeq, "1 OPTIONS")
        .build()
        .unwrap();
    let mut rx = a.request_with_failover(req, targets).unwrap();
    let ev = tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .unwrap()
        .unwrap();
    match ev {
        ClientEvent::Response(msg) => assert_eq!(msg.status(), Some(200)),
        ClientEvent::Timeout => panic!("no failover"),
    }
}
