//! TPORT_DEBUG: level 5 gives one line per message in and out, level 3 the
//! connection errors only.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sofia_su::log::REGISTRY;
use sofia_tport::{Config, Destination, Tport, Transport};
use tokio::net::UdpSocket;

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

const OPTIONS: &[u8] =
    b"OPTIONS sip:b@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bK5\r\n\
From: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:b@127.0.0.1>\r\nCall-ID: dbg\r\nCSeq: 1 OPTIONS\r\n\
Content-Length: 0\r\n\r\n";

// One test: the module levels are process-wide.
#[tokio::test]
async fn level_5_lines_per_message_and_level_3_errors() {
    let capture = Capture::default();
    let writer = capture.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let text = || String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();

    let (b, mut brx) = Tport::bind(Config::new(["sip:127.0.0.1:0;transport=udp"]))
        .await
        .unwrap();
    let addr = b.local_addr(Transport::Udp).unwrap();
    let peer = UdpSocket::bind("127.0.0.1:0").await.unwrap();

    REGISTRY.set_level("tport", 3).unwrap();
    peer.send_to(OPTIONS, addr).await.unwrap();
    brx.recv().await.unwrap();
    assert!(!text().contains("recv 191 bytes"), "{}", text());

    REGISTRY.set_level("tport", 5).unwrap();
    peer.send_to(OPTIONS, addr).await.unwrap();
    let got = brx.recv().await.unwrap();
    let from = peer.local_addr().unwrap();
    assert!(
        text().contains(&format!(
            "tport: recv {} bytes from udp/{from}",
            OPTIONS.len()
        )),
        "{}",
        text()
    );
    b.send_bytes(
        &Destination::new(Transport::Udp, from),
        got.msg.to_bytes(),
        true,
    )
    .await
    .unwrap();
    assert!(
        text().contains(&format!(
            "tport: send {} bytes to udp/{from}",
            OPTIONS.len()
        )),
        "{}",
        text()
    );

    // Level 3 still shows a connection error.
    REGISTRY.set_level("tport", 3).unwrap();
    let mut config = Config::new(["sip:127.0.0.1:0;transport=tcp"]);
    config.connect_timeout = Duration::from_secs(1);
    let (c, _crx) = Tport::bind(config).await.unwrap();
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    assert!(
        c.send_bytes(
            &Destination::new(Transport::Tcp, closed),
            OPTIONS.to_vec().into(),
            true
        )
        .await
        .is_err()
    );
    assert!(text().contains("cannot connect over tcp"), "{}", text());
    assert!(text().contains("sofia::tport"), "{}", text());
}
