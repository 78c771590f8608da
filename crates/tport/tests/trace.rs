//! TPORT_LOG and TPORT_DUMP through real sockets, byte for byte (the time of
//! day in stamp lines aside, which is checked for its shape).

use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sofia_msg::{HeaderName, Message, Method, RequestBuilder};
use sofia_tport::logging::{Direction, LOG_TARGET, log_text};
use sofia_tport::{Config, Destination, Tport, Transport};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(5);

fn request(call_id: &str) -> Message {
    RequestBuilder::new(Method::Options, "sip:bob@127.0.0.1")
        .header(HeaderName::Via, "SIP/2.0/UDP 127.0.0.1;branch=z9hG4bK1")
        .header(HeaderName::From, "<sip:alice@127.0.0.1>;tag=a")
        .header(HeaderName::To, "<sip:bob@127.0.0.1>")
        .header(HeaderName::CallId, call_id)
        .header(HeaderName::CSeq, "1 OPTIONS")
        .build()
        .unwrap()
}

/// Replaces the `HH:MM:SS.uuuuuu` of every stamp line with `TIME`, after
/// checking its shape.
fn mask_times(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find(" at ") {
        let (head, tail) = rest.split_at(i + 4);
        out.push_str(head);
        let time = tail.get(..15).unwrap_or("");
        let shape_ok = time.len() == 15
            && time.bytes().enumerate().all(|(k, b)| match k {
                2 | 5 => b == b':',
                8 => b == b'.',
                _ => b.is_ascii_digit(),
            })
            && tail[15..].starts_with(":\n");
        if shape_ok {
            out.push_str("TIME");
            rest = &tail[15..];
        } else {
            rest = tail;
        }
    }
    out.push_str(rest);
    out
}

fn temp_path(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("sofia-tport-trace-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    let _ = std::fs::remove_file(&path);
    path
}

#[tokio::test]
async fn dump_holds_every_byte_in_and_out() {
    let server_dump = temp_path("server.dump");
    let client_dump = temp_path("client.dump");
    let mut config = Config::new(["sip:127.0.0.1:0"]);
    config.dump = Some(server_dump.to_string_lossy().into_owned());
    let (b, mut brx) = Tport::bind(config).await.unwrap();
    let mut config = Config::new(["sip:127.0.0.1:0;transport=udp"]);
    config.dump = Some(client_dump.to_string_lossy().into_owned());
    let (a, _arx) = Tport::bind(config).await.unwrap();

    let b_udp = b.local_addr(Transport::Udp).unwrap();
    let a_udp = a.local_addr(Transport::Udp).unwrap();
    let msg = request("dump-udp");
    let bytes = msg.to_bytes();
    a.send(&Destination::new(Transport::Udp, b_udp), &msg)
        .await
        .unwrap();
    timeout(WAIT, brx.recv()).await.unwrap().unwrap();

    // A TCP peer sending a keepalive and a message: both are dumped as read.
    let mut s = TcpStream::connect(b.local_addr(Transport::Tcp).unwrap())
        .await
        .unwrap();
    let peer: SocketAddr = s.local_addr().unwrap();
    let tcp_msg = request("dump-tcp").to_bytes();
    s.write_all(b"\r\n\r\n").await.unwrap();
    s.write_all(&tcp_msg).await.unwrap();
    timeout(WAIT, brx.recv()).await.unwrap().unwrap();

    let server = std::fs::read(&server_dump).unwrap();
    let text = mask_times(&String::from_utf8_lossy(&server));
    let header_end = text.find("\n\n\n").unwrap() + 3;
    assert!(text.starts_with("dump started at "), "{text}");
    let mut expected = String::new();
    expected.push_str(&format!(
        "recv {} bytes from udp/[127.0.0.1]:{} at TIME:\n",
        bytes.len(),
        a_udp.port()
    ));
    expected.push_str(&String::from_utf8_lossy(&bytes));
    expected.push_str("\u{b}\n");
    expected.push_str(&format!(
        "recv 4 bytes from tcp/[127.0.0.1]:{} at TIME:\n\r\n\r\n\u{b}\n",
        peer.port()
    ));
    expected.push_str(&format!(
        "recv {} bytes from tcp/[127.0.0.1]:{} at TIME:\n",
        tcp_msg.len(),
        peer.port()
    ));
    expected.push_str(&String::from_utf8_lossy(&tcp_msg));
    expected.push_str("\u{b}\n");
    // The pong written back is in the dump too.
    expected.push_str(&format!(
        "sent 2 bytes to tcp/[127.0.0.1]:{} at TIME:\n\r\n\u{b}\n",
        peer.port()
    ));
    let records = &text[header_end..];
    // The pong may be written before or after the message is read.
    let alt = {
        let pong = format!(
            "sent 2 bytes to tcp/[127.0.0.1]:{} at TIME:\n\r\n\u{b}\n",
            peer.port()
        );
        let without = expected.replace(&pong, "");
        let split = without
            .find(&format!("recv {} bytes from tcp", tcp_msg.len()))
            .unwrap();
        format!("{}{}{}", &without[..split], pong, &without[split..])
    };
    assert!(
        records == expected || records == alt,
        "{records:?}\n!=\n{expected:?}"
    );

    let client = std::fs::read(&client_dump).unwrap();
    let text = mask_times(&String::from_utf8_lossy(&client));
    let header_end = text.find("\n\n\n").unwrap() + 3;
    let expected = format!(
        "sent {} bytes to udp/[127.0.0.1]:{} at TIME:\n{}\u{b}\n",
        bytes.len(),
        b_udp.port(),
        String::from_utf8_lossy(&bytes)
    );
    assert_eq!(&text[header_end..], expected);
}

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

#[tokio::test]
async fn trace_prints_each_message_once_and_switches_at_run_time() {
    let capture = Capture::default();
    let writer = capture.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .without_time()
        .with_level(false)
        .with_target(false)
        .with_writer(move || writer.clone())
        .finish();
    // The test runtime is single-threaded: the transport's tasks run on this
    // thread and see this subscriber.
    let _guard = tracing::subscriber::set_default(subscriber);

    let mut config = Config::new(["sip:127.0.0.1:0;transport=udp"]);
    config.log = Some(false);
    let (a, _arx) = Tport::bind(config).await.unwrap();
    let (b, mut brx) = Tport::bind(Config::new(["sip:127.0.0.1:0;transport=udp"]))
        .await
        .unwrap();
    let dest = Destination::new(Transport::Udp, b.local_addr(Transport::Udp).unwrap());

    a.send(&dest, &request("quiet")).await.unwrap();
    timeout(WAIT, brx.recv()).await.unwrap().unwrap();
    let logged = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    assert!(!logged.contains("quiet"), "{logged}");

    a.logging().set_log(true);
    let msg = request("traced");
    a.send(&dest, &msg).await.unwrap();
    timeout(WAIT, brx.recv()).await.unwrap().unwrap();
    let logged = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    let expected = log_text(
        Direction::Send,
        "udp",
        dest.addr,
        std::time::SystemTime::now(),
        &msg.to_bytes(),
    );
    let traced: Vec<&str> = logged.matches("Call-ID: traced").collect();
    assert_eq!(traced.len(), 1, "{logged}");
    assert!(
        mask_times(&logged).contains(mask_times(&expected).trim_end()),
        "{logged}\n---\n{expected}"
    );
    let _ = LOG_TARGET;
}
