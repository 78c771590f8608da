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

/// A request over a size or header-count limit is answered 513 statelessly
/// (over UDP, and over TCP when only the header count is over), and never
/// reaches the user.
#[tokio::test]
async fn oversized_requests_are_answered_513() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut config = sofia_tport::Config::new(["sip:127.0.0.1:0"]);
    config.max_message_size = 4000;
    let (tport, incoming) = Tport::bind(config).await.unwrap();
    let (agent, mut requests, _others) = Agent::new(tport, incoming, Config::default());
    let udp = agent
        .tport()
        .listeners()
        .into_iter()
        .find(|(t, _)| *t == Transport::Udp)
        .unwrap()
        .1;
    let request = |extra: &str, transport: &str| {
        format!(
            "OPTIONS sip:bob@127.0.0.1 SIP/2.0\r\n\
             Via: SIP/2.0/{transport} 127.0.0.1:5999;rport;branch=z9hG4bK513{}\r\n\
             Max-Forwards: 70\r\nFrom: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:bob@127.0.0.1>\r\n\
             Call-ID: big@127.0.0.1\r\nCSeq: 1 OPTIONS\r\n{extra}Content-Length: 0\r\n\r\n",
            extra.len()
        )
    };
    let many = "X-H: v\r\n".repeat(300);
    let large = format!("Subject: {}\r\n", "x".repeat(5000));
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    for (extra, status) in [
        (&many, "SIP/2.0 513 Too Many Headers\r\n"),
        (&large, "SIP/2.0 513 Message Too Large\r\n"),
    ] {
        sock.send_to(request(extra, "UDP").as_bytes(), udp)
            .await
            .unwrap();
        let mut buf = vec![0u8; 65536];
        let (n, _) = tokio::time::timeout(Duration::from_secs(5), sock.recv_from(&mut buf))
            .await
            .expect("an answer")
            .unwrap();
        let text = String::from_utf8_lossy(&buf[..n]);
        assert!(text.starts_with(status), "{text}");
        assert!(text.contains("Call-ID: big@127.0.0.1"), "{text}");
    }
    // Over TCP the framing stays intact with too many headers: 513, and the
    // connection still serves the next request.
    let tcp = agent
        .tport()
        .listeners()
        .into_iter()
        .find(|(t, _)| *t == Transport::Tcp)
        .unwrap()
        .1;
    let mut stream = tokio::net::TcpStream::connect(tcp).await.unwrap();
    stream
        .write_all(request(&many, "TCP").as_bytes())
        .await
        .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&got).contains("\r\n\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf))
            .await
            .expect("an answer")
            .unwrap();
        assert!(n > 0, "connection closed");
        got.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&got);
    assert!(
        text.starts_with("SIP/2.0 513 Too Many Headers\r\n"),
        "{text}"
    );
    stream
        .write_all(request("", "TCP").as_bytes())
        .await
        .unwrap();
    let req = tokio::time::timeout(Duration::from_secs(5), requests.recv())
        .await
        .expect("the small request")
        .unwrap();
    assert!(
        req.msg.header_count() < 10,
        "the oversized ones never arrive"
    );
}

#[tokio::test]
async fn shutdown_ends_the_engine_and_frees_its_sockets() {
    let (a, mut requests) = agent().await;
    let udp = a.tport().local_addr(Transport::Udp).unwrap();
    a.shutdown();
    drop(a);
    // The engine's loop has ended and the last clone is gone: the request
    // stream ends, and the UDP port can be bound again (without
    // SO_REUSEADDR, which a live socket would refuse).
    let ended = tokio::time::timeout(Duration::from_secs(5), requests.recv())
        .await
        .expect("the request stream ends");
    assert!(ended.is_none());
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        match std::net::UdpSocket::bind(udp) {
            Ok(_) => break,
            Err(e) => {
                assert!(
                    std::time::Instant::now() < deadline,
                    "{udp} stays bound: {e}"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

#[tokio::test]
async fn a_handler_answers_in_the_loop_and_passes_on_what_it_declines() {
    let (a, _arx) = agent().await;
    let (tport, incoming) = Tport::bind(sofia_tport::Config::new(["sip:127.0.0.1:0"]))
        .await
        .unwrap();
    // OPTIONS are answered by the handler; anything else goes up.
    let handler: sofia_nta::Handler = Box::new(|req| {
        (req.msg.method() == Method::Options).then(|| {
            ResponseBuilder::reply_to(&req.msg, 200, "OK", Some("h"))
                .build()
                .unwrap()
        })
    });
    let (b, mut brx, _others) = Agent::with_handler(tport, incoming, Config::default(), handler);
    let b_addr = b.tport().local_addr(Transport::Udp).unwrap();
    let request = |method: Method, call: &str| {
        RequestBuilder::new(method, &format!("sip:b@{b_addr}"))
            .header(HeaderName::Via, &a.via(Transport::Udp).unwrap())
            .header(HeaderName::MaxForwards, "70")
            .header(
                HeaderName::From,
                &format!("<sip:a@127.0.0.1>;tag={}", a.tag()),
            )
            .header(HeaderName::To, &format!("<sip:b@{b_addr}>"))
            .header(HeaderName::CallId, call)
            .header(HeaderName::CSeq, &format!("1 {}", method.as_str()))
            .build()
            .unwrap()
    };
    let first = |mut rx: tokio::sync::mpsc::UnboundedReceiver<ClientEvent>| async move {
        match tokio::time::timeout(Duration::from_secs(5), rx.recv()).await {
            Ok(Some(ClientEvent::Response(msg))) => msg,
            other => panic!("no response: {other:?}"),
        }
    };
    let dest = Destination::new(Transport::Udp, b_addr);
    let answered = first(
        a.request(request(Method::Options, "h-1"), dest.clone())
            .unwrap(),
    )
    .await;
    assert_eq!(answered.status(), Some(200));
    assert_eq!(answered.to_tag(), Some("h"));
    // The MESSAGE reaches the receiver, and is answered from there.
    let rx = a.request(request(Method::Message, "h-2"), dest).unwrap();
    let req = tokio::time::timeout(Duration::from_secs(5), brx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(req.msg.method(), Method::Message);
    let resp = ResponseBuilder::reply_to(&req.msg, 202, "Accepted", Some("u"))
        .build()
        .unwrap();
    b.respond(req.server, resp).unwrap();
    let accepted = first(rx).await;
    assert_eq!(accepted.status(), Some(202));
    assert!(brx.try_recv().is_err(), "the OPTIONS did not go up");
}
