//! UDP, TCP and TLS on 127.0.0.1: delivery, connection reuse, framing,
//! keepalives, the UDP-to-TCP switch, and every limit.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use sofia_msg::{HeaderName, Message, Method, RequestBuilder, ResponseBuilder};
use sofia_tport::{Config, Destination, Incoming, TlsConfig, TlsRoots, Tport, Transport};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::mpsc::Receiver;
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(5);

fn request(call_id: &str, body_len: usize) -> Message {
    RequestBuilder::new(Method::Message, "sip:bob@127.0.0.1")
        .header(HeaderName::Via, "SIP/2.0/UDP 127.0.0.1;branch=z9hG4bK1")
        .header(HeaderName::MaxForwards, "70")
        .header(HeaderName::From, "<sip:alice@127.0.0.1>;tag=a")
        .header(HeaderName::To, "<sip:bob@127.0.0.1>")
        .header(HeaderName::CallId, call_id)
        .header(HeaderName::CSeq, "1 MESSAGE")
        .body("text/plain", "x".repeat(body_len))
        .build()
        .unwrap()
}

fn raw(call_id: &str) -> String {
    format!(
        "OPTIONS sip:bob@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1;branch=z9hG4bK{call_id}\r\n\
         From: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:b@127.0.0.1>\r\nCall-ID: {call_id}\r\n\
         CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    )
}

async fn bind(names: &[&str]) -> (Tport, Receiver<Incoming>) {
    Tport::bind(Config::new(names.iter().copied()))
        .await
        .unwrap()
}

async fn next(rx: &mut Receiver<Incoming>) -> Incoming {
    timeout(WAIT, rx.recv())
        .await
        .expect("timed out")
        .expect("closed")
}

async fn wait_until(mut f: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !f() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "condition not reached"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn one_bind_serves_udp_and_tcp_on_one_port() {
    let (t, _rx) = bind(&["sip:127.0.0.1:0"]).await;
    let udp = t.local_addr(Transport::Udp).unwrap();
    let tcp = t.local_addr(Transport::Tcp).unwrap();
    assert_ne!(udp.port(), 0);
    assert_eq!(udp, tcp);
    let (t6, _rx6) = bind(&["sip:[::1]:0;transport=tcp"]).await;
    assert!(t6.local_addr(Transport::Tcp).unwrap().is_ipv6());
    assert!(t6.local_addr(Transport::Udp).is_none());
}

#[tokio::test]
async fn udp_round_trip_and_counters() {
    let (a, _arx) = bind(&["sip:127.0.0.1:0;transport=udp"]).await;
    let (b, mut brx) = bind(&["sip:127.0.0.1:0;transport=udp"]).await;
    let to_b = Destination::new(Transport::Udp, b.local_addr(Transport::Udp).unwrap());
    let sent = a.send(&to_b, &request("udp-1", 10)).await.unwrap();
    assert_eq!(sent.transport, Transport::Udp);
    let got = next(&mut brx).await;
    assert_eq!(got.msg.call_id(), Some("udp-1"));
    assert_eq!(got.transport, Transport::Udp);
    assert_eq!(got.remote, a.local_addr(Transport::Udp).unwrap());
    assert_eq!(got.local, b.local_addr(Transport::Udp).unwrap());
    assert_eq!(got.conn, None);
    assert_eq!(a.stats().udp.msgs_out, 1);
    assert_eq!(b.stats().udp.msgs_in, 1);
    assert_eq!(b.stats().udp.bytes_in, a.stats().udp.bytes_out);
}

#[tokio::test]
async fn udp_garbage_is_dropped_and_counted() {
    let (b, mut brx) = bind(&["sip:127.0.0.1:0;transport=udp"]).await;
    let addr = b.local_addr(Transport::Udp).unwrap();
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    sock.send_to(b"\x00\x01garbage\r\n\r\n", addr)
        .await
        .unwrap();
    sock.send_to(b"\r\n\r\n", addr).await.unwrap();
    sock.send_to(raw("after-garbage").as_bytes(), addr)
        .await
        .unwrap();
    let got = next(&mut brx).await;
    assert_eq!(got.msg.call_id(), Some("after-garbage"));
    assert_eq!(b.stats().udp.errors, 1);
}

#[tokio::test]
async fn tcp_response_reuses_the_request_connection() {
    let (a, mut arx) = bind(&["sip:127.0.0.1:0;transport=tcp"]).await;
    let (b, mut brx) = bind(&["sip:127.0.0.1:0;transport=tcp"]).await;
    let to_b = Destination::new(Transport::Tcp, b.local_addr(Transport::Tcp).unwrap());
    let sent = a.send(&to_b, &request("tcp-1", 5)).await.unwrap();
    let got = next(&mut brx).await;
    assert_eq!(got.transport, Transport::Tcp);
    assert!(got.conn.is_some());
    // The response goes back on the incoming connection, not a new one.
    let resp = ResponseBuilder::reply_to(&got.msg, 200, "OK", Some("b"))
        .build()
        .unwrap();
    b.send(&Destination::reply_to(&got), &resp).await.unwrap();
    let back = next(&mut arx).await;
    assert_eq!(back.msg.status(), Some(200));
    assert_eq!(back.conn, sent.conn);
    assert_eq!(a.connections().len(), 1);
    assert_eq!(b.connections().len(), 1);
    // A second request to the same peer reuses the connection too.
    let again = a.send(&to_b, &request("tcp-2", 5)).await.unwrap();
    assert_eq!(again.conn, sent.conn);
    assert_eq!(next(&mut brx).await.msg.call_id(), Some("tcp-2"));
    assert_eq!(a.stats().tcp.open_connections, 1);
}

#[tokio::test]
async fn tcp_partial_reads_and_pipelined_messages() {
    let (b, mut brx) = bind(&["sip:127.0.0.1:0;transport=tcp"]).await;
    let mut s = TcpStream::connect(b.local_addr(Transport::Tcp).unwrap())
        .await
        .unwrap();
    let one = raw("part-1");
    for chunk in one.as_bytes().chunks(7) {
        s.write_all(chunk).await.unwrap();
        s.flush().await.unwrap();
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    assert_eq!(next(&mut brx).await.msg.call_id(), Some("part-1"));
    let two = format!("{}{}", raw("pipe-1"), raw("pipe-2"));
    s.write_all(two.as_bytes()).await.unwrap();
    assert_eq!(next(&mut brx).await.msg.call_id(), Some("pipe-1"));
    assert_eq!(next(&mut brx).await.msg.call_id(), Some("pipe-2"));
}

#[tokio::test]
async fn keepalive_ping_gets_pong() {
    let (b, _brx) = bind(&["sip:127.0.0.1:0;transport=tcp"]).await;
    let mut s = TcpStream::connect(b.local_addr(Transport::Tcp).unwrap())
        .await
        .unwrap();
    s.write_all(b"\r\n\r\n").await.unwrap();
    let mut buf = [0u8; 2];
    timeout(WAIT, s.read_exact(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&buf, b"\r\n");
}

#[tokio::test]
async fn outbound_keepalives_are_sent() {
    let server = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = server.local_addr().unwrap();
    let mut config = Config::new(["sip:127.0.0.1:0;transport=tcp"]);
    config.keepalive_interval = Some(Duration::from_millis(50));
    let (a, _arx) = Tport::bind(config).await.unwrap();
    a.send(&Destination::new(Transport::Tcp, addr), &request("ka", 0))
        .await
        .unwrap();
    let (mut s, _) = server.accept().await.unwrap();
    let expected = request("ka", 0).to_bytes();
    let mut buf = vec![0u8; expected.len() + 8];
    timeout(WAIT, s.read_exact(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&buf[..expected.len()], &expected[..]);
    assert_eq!(&buf[expected.len()..], b"\r\n\r\n\r\n\r\n");
}

#[tokio::test]
async fn large_udp_request_goes_over_tcp() {
    let (a, _arx) = bind(&["sip:127.0.0.1:0"]).await;
    let (b, mut brx) = bind(&["sip:127.0.0.1:0"]).await;
    let to_b = Destination::new(Transport::Udp, b.local_addr(Transport::Udp).unwrap());
    let big = request("big", 2000);
    assert_eq!(
        a.transport_for(&to_b, big.to_bytes().len(), true),
        Transport::Tcp
    );
    let sent = a.send(&to_b, &big).await.unwrap();
    assert_eq!(sent.transport, Transport::Tcp);
    let got = next(&mut brx).await;
    assert_eq!(got.transport, Transport::Tcp);
    assert_eq!(got.msg.body_bytes().len(), 2000);
    // Responses are not switched; small requests stay on UDP.
    assert_eq!(a.transport_for(&to_b, 5000, false), Transport::Udp);
    assert_eq!(
        a.send(&to_b, &request("small", 10))
            .await
            .unwrap()
            .transport,
        Transport::Udp
    );

    let mut off = Config::new(["sip:127.0.0.1:0"]);
    off.udp_max_request = None;
    let (c, _crx) = Tport::bind(off).await.unwrap();
    assert_eq!(c.transport_for(&to_b, 5000, true), Transport::Udp);
}

#[tokio::test]
async fn framing_error_closes_only_that_connection() {
    let (b, mut brx) = bind(&["sip:127.0.0.1:0;transport=tcp"]).await;
    let addr = b.local_addr(Transport::Tcp).unwrap();
    let mut good = TcpStream::connect(addr).await.unwrap();
    let mut bad = TcpStream::connect(addr).await.unwrap();
    // No Content-Length on a stream: a framing error.
    bad.write_all(b"OPTIONS sip:b SIP/2.0\r\nCall-ID: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 1];
    let n = timeout(WAIT, bad.read(&mut buf))
        .await
        .unwrap()
        .unwrap_or(0);
    assert_eq!(n, 0, "the bad connection is closed");
    good.write_all(raw("still-fine").as_bytes()).await.unwrap();
    assert_eq!(next(&mut brx).await.msg.call_id(), Some("still-fine"));
    assert!(b.stats().tcp.errors >= 1);
}

#[tokio::test]
async fn oversized_stream_message_closes_connection() {
    let mut config = Config::new(["sip:127.0.0.1:0;transport=tcp"]);
    config.max_message_size = 1024;
    let (b, _brx) = Tport::bind(config).await.unwrap();
    let mut s = TcpStream::connect(b.local_addr(Transport::Tcp).unwrap())
        .await
        .unwrap();
    let _ = s
        .write_all(b"OPTIONS sip:b SIP/2.0\r\nContent-Length: 5000\r\n\r\n")
        .await;
    let mut buf = [0u8; 1];
    let n = timeout(WAIT, s.read(&mut buf)).await.unwrap().unwrap_or(0);
    assert_eq!(n, 0);
    // Sending more than the limit is refused before anything is written.
    let big = request("too-big", 2000);
    let err = b
        .send(
            &Destination::new(Transport::Tcp, "127.0.0.1:9".parse().unwrap()),
            &big,
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("exceeds the limit"), "{err}");
}

#[tokio::test]
async fn connection_limits_refuse_extra_connections() {
    let mut config = Config::new(["sip:127.0.0.1:0;transport=tcp"]);
    config.max_connections_per_ip = 2;
    let (b, mut brx) = Tport::bind(config).await.unwrap();
    let addr = b.local_addr(Transport::Tcp).unwrap();
    let mut one = TcpStream::connect(addr).await.unwrap();
    let _two = TcpStream::connect(addr).await.unwrap();
    wait_until(|| b.connections().len() == 2).await;
    let mut three = TcpStream::connect(addr).await.unwrap();
    let mut buf = [0u8; 1];
    let n = timeout(WAIT, three.read(&mut buf))
        .await
        .unwrap()
        .unwrap_or(0);
    assert_eq!(n, 0, "third connection from the same IP is closed");
    assert_eq!(b.connections().len(), 2);
    one.write_all(raw("limit-ok").as_bytes()).await.unwrap();
    assert_eq!(next(&mut brx).await.msg.call_id(), Some("limit-ok"));

    let mut config = Config::new(["sip:127.0.0.1:0;transport=tcp"]);
    config.max_connections = 1;
    let (c, _crx) = Tport::bind(config).await.unwrap();
    let c_addr = c.local_addr(Transport::Tcp).unwrap();
    let _first = TcpStream::connect(c_addr).await.unwrap();
    wait_until(|| c.connections().len() == 1).await;
    let err = c
        .send(&Destination::new(Transport::Tcp, addr), &request("x", 0))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("max-connections"), "{err}");
}

#[tokio::test]
async fn idle_connections_close() {
    let mut config = Config::new(["sip:127.0.0.1:0;transport=tcp"]);
    config.idle_timeout = Duration::from_millis(200);
    let (b, _brx) = Tport::bind(config).await.unwrap();
    let mut s = TcpStream::connect(b.local_addr(Transport::Tcp).unwrap())
        .await
        .unwrap();
    wait_until(|| b.connections().len() == 1).await;
    let mut buf = [0u8; 1];
    let n = timeout(WAIT, s.read(&mut buf)).await.unwrap().unwrap_or(0);
    assert_eq!(n, 0);
    wait_until(|| b.connections().is_empty()).await;
}

#[tokio::test]
async fn connect_failure_and_timeout_are_errors() {
    let (a, _arx) = bind(&["sip:127.0.0.1:0;transport=tcp"]).await;
    // Nothing listens there.
    let closed = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let err = a
        .send(&Destination::new(Transport::Tcp, closed), &request("x", 0))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("cannot connect"), "{err}");
    assert_eq!(a.connections().len(), 0);
}

#[tokio::test]
async fn a_stalled_peer_does_not_block_others() {
    // A peer that accepts but never reads.
    let stalled = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let stalled_addr = stalled.local_addr().unwrap();
    let _keep = tokio::spawn(async move {
        let (s, _) = stalled.accept().await.unwrap();
        tokio::time::sleep(Duration::from_secs(30)).await;
        drop(s);
    });
    let mut config = Config::new(["sip:127.0.0.1:0;transport=tcp"]);
    config.write_queue = 4;
    let (a, _arx) = Tport::bind(config).await.unwrap();
    let (b, mut brx) = bind(&["sip:127.0.0.1:0;transport=tcp"]).await;
    let big = request("fill", 60_000);
    let mut full = false;
    for _ in 0..200 {
        if a.send(&Destination::new(Transport::Tcp, stalled_addr), &big)
            .await
            .is_err()
        {
            full = true;
            break;
        }
    }
    assert!(
        full,
        "the queue to a stalled peer fills and sends fail fast"
    );
    let to_b = Destination::new(Transport::Tcp, b.local_addr(Transport::Tcp).unwrap());
    a.send(&to_b, &request("unblocked", 0)).await.unwrap();
    assert_eq!(next(&mut brx).await.msg.call_id(), Some("unblocked"));
}

#[tokio::test]
async fn tls_round_trip_with_runtime_certificate() {
    let cert =
        rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    let cert_der = cert.cert.der().to_vec();
    let key_der = cert.signing_key.serialize_der();
    let mut server = Config::new(["sips:127.0.0.1:0"]);
    server.tls = Some(TlsConfig {
        cert_der: Some((vec![cert_der.clone()], key_der)),
        ..TlsConfig::default()
    });
    let (b, mut brx) = Tport::bind(server).await.unwrap();
    let b_addr = b.local_addr(Transport::Tls).unwrap();
    let mut client = Config::new(["sip:127.0.0.1:0;transport=tcp"]);
    client.tls = Some(TlsConfig {
        roots: TlsRoots::Der(vec![cert_der]),
        ..TlsConfig::default()
    });
    let (a, mut arx) = Tport::bind(client).await.unwrap();
    let dest = Destination::new(Transport::Tls, b_addr).with_server_name("localhost");
    let sent = a.send(&dest, &request("tls-1", 100)).await.unwrap();
    assert_eq!(sent.transport, Transport::Tls);
    let got = next(&mut brx).await;
    assert_eq!(got.transport, Transport::Tls);
    assert_eq!(got.msg.call_id(), Some("tls-1"));
    let resp = ResponseBuilder::reply_to(&got.msg, 200, "OK", Some("t"))
        .build()
        .unwrap();
    b.send(&Destination::reply_to(&got), &resp).await.unwrap();
    assert_eq!(next(&mut arx).await.msg.status(), Some(200));
    assert_eq!(a.stats().tls.open_connections, 1);

    // A client that does not trust the certificate fails the handshake.
    let mut untrusting = Config::new(["sip:127.0.0.1:0;transport=tcp"]);
    untrusting.tls = Some(TlsConfig {
        roots: TlsRoots::Der(Vec::new()),
        ..TlsConfig::default()
    });
    let (c, _crx) = Tport::bind(untrusting).await.unwrap();
    let err = c.send(&dest, &request("tls-2", 0)).await.unwrap_err();
    assert!(err.to_string().contains("TLS handshake"), "{err}");
}

#[tokio::test]
async fn tls_bind_without_certificate_is_an_error() {
    let err = Tport::bind(Config::new(["sips:127.0.0.1:0"]))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("certificate"), "{err}");
    let err = Tport::bind(Config::new(["sip:example.com:5060"]))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("bad bind name"), "{err}");
}

#[tokio::test]
async fn raw_bytes_can_be_sent() {
    let (a, _arx) = bind(&["sip:127.0.0.1:0;transport=udp"]).await;
    let (b, mut brx) = bind(&["sip:127.0.0.1:0;transport=udp"]).await;
    let dest = Destination::new(Transport::Udp, b.local_addr(Transport::Udp).unwrap());
    let bytes = Bytes::from(raw("raw-1"));
    a.send_bytes(&dest, bytes, true).await.unwrap();
    assert_eq!(next(&mut brx).await.msg.call_id(), Some("raw-1"));
    let _: SocketAddr = dest.addr;
}

#[tokio::test]
async fn tls_from_pem_files() {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let dir = std::env::temp_dir().join(format!("sofia-tport-pem-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert_file, key_file) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert_file, cert.cert.pem()).unwrap();
    std::fs::write(&key_file, cert.signing_key.serialize_pem()).unwrap();
    let mut server = Config::new(["sip:127.0.0.1:0;transport=tls"]);
    server.tls = Some(TlsConfig {
        cert_file: Some(cert_file.clone()),
        key_file: Some(key_file),
        ..TlsConfig::default()
    });
    let (b, mut brx) = Tport::bind(server).await.unwrap();
    let mut client = Config::new(["sip:127.0.0.1:0;transport=tcp"]);
    client.tls = Some(TlsConfig {
        roots: TlsRoots::PemFile(cert_file),
        ..TlsConfig::default()
    });
    let (a, _arx) = Tport::bind(client).await.unwrap();
    let dest = Destination::new(Transport::Tls, b.local_addr(Transport::Tls).unwrap())
        .with_server_name("localhost");
    a.send(&dest, &request("tls-pem", 0)).await.unwrap();
    assert_eq!(next(&mut brx).await.msg.call_id(), Some("tls-pem"));

    // A missing key file is a clear error naming it.
    let mut bad = Config::new(["sips:127.0.0.1:0"]);
    bad.tls = Some(TlsConfig {
        cert_file: Some(dir.join("cert.pem")),
        key_file: Some(dir.join("missing.pem")),
        ..TlsConfig::default()
    });
    let err = Tport::bind(bad).await.unwrap_err();
    assert!(err.to_string().contains("missing.pem"), "{err}");
}

#[tokio::test]
async fn shutdown_closes_the_sockets() {
    let (t, rx) = bind(&["sip:127.0.0.1:0"]).await;
    let udp = t.local_addr(Transport::Udp).unwrap();
    let tcp = t.local_addr(Transport::Tcp).unwrap();
    t.shutdown();
    drop((t, rx));
    // Without SO_REUSEADDR, binding fails while the sockets live.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let u = std::net::UdpSocket::bind(udp).map(drop);
        let t = std::net::TcpListener::bind(tcp).map(drop);
        if u.is_ok() && t.is_ok() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still bound: udp {u:?}, tcp {t:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
