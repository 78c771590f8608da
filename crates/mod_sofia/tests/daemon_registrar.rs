//! The `sofia` daemon's registrar end to end, driven over SIP on 127.0.0.1
//! and checked with `sofia -x`: each `multiple-registrations` mode, an
//! `apply-register-acl` that refuses the source (403), the expiry sweep,
//! `sofia profile internal stop|start|restart` keeping the stored bindings,
//! `sofia::register` events on the console, and the configuration warnings
//! printed at start.

mod common;

use std::io::Write;
use std::net::UdpSocket;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use sofia_nua::{Config, Credentials, EventKind, Nua};

use common::{TempDir, free_port, out, profile_port, start, stdout, wait_for, x, x_in};

const WAIT: Duration = Duration::from_secs(20);

/// A configuration tree: profile `internal` on 127.0.0.1 (UDP and TCP on a
/// port the system picks) with the extra `<param>` lines `params`, users
/// 1000 (password `password1000`) and 1001 in domain 127.0.0.1, and the
/// ACL list `deny-loopback` (allows all but 127.0.0.0/8).
fn write_config(dir: &TempDir, params: &[(&str, &str)]) -> PathBuf {
    let extra: String = params
        .iter()
        .map(|(n, v)| format!("        <param name=\"{n}\" value=\"{v}\"/>\n"))
        .collect();
    let conf = dir.0.join("conf/autoload_configs/sofia.conf.xml");
    std::fs::write(
        &conf,
        format!(
            r#"<configuration name="sofia.conf" description="sofia Endpoint">
  <global_settings>
    <param name="log-level" value="0"/>
  </global_settings>
  <profiles>
    <profile name="internal">
      <domains><domain name="all" alias="true" parse="false"/></domains>
      <settings>
        <param name="sip-ip" value="127.0.0.1"/>
        <param name="sip-port" value="auto"/>
        <param name="challenge-realm" value="auto_from"/>
        <param name="context" value="public"/>
{extra}      </settings>
    </profile>
  </profiles>
</configuration>
"#
        ),
    )
    .unwrap();
    std::fs::write(
        dir.0.join("conf/autoload_configs/acl.conf.xml"),
        r#"<configuration name="acl.conf" description="Network Lists">
  <network-lists>
    <list name="deny-loopback" default="allow">
      <node type="deny" cidr="127.0.0.0/8"/>
    </list>
  </network-lists>
</configuration>
"#,
    )
    .unwrap();
    common::write_users(dir, &[("1000", "password1000"), ("1001", "password1001")]);
    conf
}

fn reg(dir: &TempDir) -> String {
    out(dir, "sofia status profile internal reg")
}

fn count(dir: &TempDir, user: &str) -> String {
    stdout(&x(dir, &format!("sofia_count_reg {user}@127.0.0.1")))
        .trim()
        .to_string()
}

/// Waits until `sofia status profile internal reg` satisfies `ok`.
fn wait_reg(dir: &TempDir, within: Duration, ok: impl Fn(&str) -> bool) -> String {
    wait_for(dir, "sofia status profile internal reg", within, ok)
}

/// A plain UDP client sending hand-written REGISTERs.
struct RawClient {
    sock: UdpSocket,
    cseq: u32,
}

impl RawClient {
    fn new() -> RawClient {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        RawClient { sock, cseq: 0 }
    }

    /// Sends a REGISTER for `user` with `call_id`, `contact` and `expires`
    /// and returns the final response's status and text.
    fn register(
        &mut self,
        port: u16,
        user: &str,
        call_id: &str,
        contact: &str,
        expires: u32,
    ) -> (u16, String) {
        self.cseq += 1;
        let local = self.sock.local_addr().unwrap();
        let msg = format!(
            "REGISTER sip:127.0.0.1:{port} SIP/2.0\r\n\
             Via: SIP/2.0/UDP {local};branch=z9hG4bK-raw-{cseq}-{call_id};rport\r\n\
             Max-Forwards: 70\r\n\
             From: <sip:{user}@127.0.0.1>;tag=raw{cseq}\r\n\
             To: <sip:{user}@127.0.0.1>\r\n\
             Call-ID: {call_id}\r\n\
             CSeq: {cseq} REGISTER\r\n\
             Contact: <{contact}>\r\n\
             Expires: {expires}\r\n\
             User-Agent: raw-test\r\n\
             Content-Length: 0\r\n\r\n",
            cseq = self.cseq
        );
        self.sock
            .send_to(msg.as_bytes(), ("127.0.0.1", port))
            .unwrap();
        let mut buf = vec![0u8; 65536];
        loop {
            let (n, _) = self.sock.recv_from(&mut buf).expect("a response");
            let text = String::from_utf8_lossy(&buf[..n]).into_owned();
            let status: u16 = text
                .get(8..11)
                .and_then(|s| s.parse().ok())
                .expect("a status line");
            if status >= 200 {
                return (status, text);
            }
        }
    }
}

/// Registers `user` with digest through sofia-nua and returns the user
/// agent (kept alive by the caller) and the final status.
async fn nua_register(port: u16, user: &str, password: &str) -> (Nua, u16) {
    let (nua, mut events) = Nua::new(Config {
        credentials: vec![Credentials::new(user, password)],
        ..Config::default()
    })
    .await
    .unwrap();
    let h = nua.handle(&format!("sip:{user}@127.0.0.1:{port}")).unwrap();
    h.register(Some(600)).unwrap();
    loop {
        let ev = tokio::time::timeout(WAIT, events.recv())
            .await
            .expect("an answer")
            .expect("the user agent runs");
        if ev.kind == EventKind::RRegister {
            return (nua, ev.status);
        }
    }
}

/// Loopback REGISTERs need no authentication in the raw tests.
const ALLOW_LOOPBACK: (&str, &str) = ("apply-register-acl", "127.0.0.0/8");

#[test]
fn multiple_registrations_false_keeps_one_binding_per_user() {
    let dir = TempDir::new("mr-false");
    let conf = write_config(&dir, &[("multiple-registrations", "false"), ALLOW_LOOPBACK]);
    let _daemon = start(&dir, &conf, false);
    let port = profile_port(&dir).unwrap();
    let mut c = RawClient::new();
    let (s, _) = c.register(port, "1000", "cid-a", "sip:1000@127.0.0.1:7001", 600);
    assert_eq!(s, 200);
    let (s, _) = c.register(port, "1000", "cid-b", "sip:1000@127.0.0.1:7002", 600);
    assert_eq!(s, 200);
    let r = reg(&dir);
    assert!(r.contains("Total items returned: 1"), "{r}");
    assert!(r.contains("sip:1000@127.0.0.1:7002"), "{r}");
    assert!(!r.contains("sip:1000@127.0.0.1:7001"), "{r}");
    assert!(r.contains("Call-ID:    \tcid-b\n"), "{r}");
    assert_eq!(count(&dir, "1000"), "1");
    // Another user has a binding of its own.
    let (s, _) = c.register(port, "1001", "cid-c", "sip:1001@127.0.0.1:7003", 600);
    assert_eq!(s, 200);
    assert_eq!(count(&dir, "1000"), "1");
    assert_eq!(count(&dir, "1001"), "1");
    // Expires 0 removes it.
    let (s, _) = c.register(port, "1000", "cid-b", "sip:1000@127.0.0.1:7002", 0);
    assert_eq!(s, 200);
    assert_eq!(count(&dir, "1000"), "0");
}

#[test]
fn multiple_registrations_call_id_keeps_one_binding_per_call_id() {
    let dir = TempDir::new("mr-callid");
    let conf = write_config(
        &dir,
        &[("multiple-registrations", "call-id"), ALLOW_LOOPBACK],
    );
    let _daemon = start(&dir, &conf, false);
    let port = profile_port(&dir).unwrap();
    let mut c = RawClient::new();
    assert_eq!(
        c.register(port, "1000", "cid-a", "sip:1000@127.0.0.1:7001", 600)
            .0,
        200
    );
    assert_eq!(
        c.register(port, "1000", "cid-b", "sip:1000@127.0.0.1:7002", 600)
            .0,
        200
    );
    assert_eq!(count(&dir, "1000"), "2");
    // The same Call-ID with a new Contact replaces that Call-ID's binding.
    let (s, resp) = c.register(port, "1000", "cid-a", "sip:1000@127.0.0.1:7003", 600);
    assert_eq!(s, 200);
    assert!(resp.contains("127.0.0.1:7003"), "{resp}");
    let r = reg(&dir);
    assert!(r.contains("Total items returned: 2"), "{r}");
    assert!(r.contains("sip:1000@127.0.0.1:7002"), "{r}");
    assert!(r.contains("sip:1000@127.0.0.1:7003"), "{r}");
    assert!(!r.contains("sip:1000@127.0.0.1:7001"), "{r}");
    assert_eq!(count(&dir, "1000"), "2");
}

#[test]
fn multiple_registrations_contact_keeps_one_binding_per_contact() {
    let dir = TempDir::new("mr-contact");
    let conf = write_config(
        &dir,
        &[("multiple-registrations", "contact"), ALLOW_LOOPBACK],
    );
    let _daemon = start(&dir, &conf, false);
    let port = profile_port(&dir).unwrap();
    let mut c = RawClient::new();
    for (cid, contact) in [
        ("cid-a", "sip:1000@127.0.0.1:7001"),
        ("cid-b", "sip:1000@127.0.0.1:7002"),
    ] {
        assert_eq!(c.register(port, "1000", cid, contact, 600).0, 200);
    }
    assert_eq!(count(&dir, "1000"), "2");
    // The same Contact under another Call-ID replaces that Contact's binding.
    assert_eq!(
        c.register(port, "1000", "cid-c", "sip:1000@127.0.0.1:7001", 600)
            .0,
        200
    );
    let r = reg(&dir);
    assert!(r.contains("Total items returned: 2"), "{r}");
    assert!(r.contains("Call-ID:    \tcid-c\n"), "{r}");
    assert!(!r.contains("Call-ID:    \tcid-a\n"), "{r}");
    // A new Contact adds one.
    assert_eq!(
        c.register(port, "1000", "cid-d", "sip:1000@127.0.0.1:7004", 600)
            .0,
        200
    );
    assert_eq!(count(&dir, "1000"), "3");
    let contact = stdout(&x(&dir, "sofia_contact 1000@127.0.0.1"));
    assert_eq!(contact.matches("sofia/internal/").count(), 3, "{contact}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_acl_that_denies_the_source_gets_403() {
    let dir = TempDir::new("acl");
    let conf = write_config(&dir, &[("apply-register-acl", "deny-loopback")]);
    let _daemon = start(&dir, &conf, false);
    let port = profile_port(&dir).unwrap();
    let mut c = RawClient::new();
    let (s, resp) = c.register(port, "1000", "cid-acl", "sip:1000@127.0.0.1:7001", 600);
    assert_eq!(s, 403, "{resp}");
    // The right password does not help: the ACL decides first.
    let (_ua, status) = nua_register(port, "1000", "password1000").await;
    assert_eq!(status, 403);
    let r = reg(&dir);
    assert!(r.contains("Total items returned: 0"), "{r}");
    assert_eq!(count(&dir, "1000"), "0");
}

#[test]
fn an_expired_binding_is_swept_without_traffic() {
    let dir = TempDir::new("expiry");
    let conf = write_config(
        &dir,
        &[
            ("multiple-registrations", "contact"),
            ("sip-expires-late-margin", "0"),
            ALLOW_LOOPBACK,
        ],
    );
    let _daemon = start(&dir, &conf, false);
    let port = profile_port(&dir).unwrap();
    let mut c = RawClient::new();
    let (s, resp) = c.register(port, "1000", "cid-short", "sip:1000@127.0.0.1:7001", 2);
    assert_eq!(s, 200, "{resp}");
    let (s, _) = c.register(port, "1000", "cid-long", "sip:1000@127.0.0.1:7002", 600);
    assert_eq!(s, 200);
    let started = Instant::now();
    let r = reg(&dir);
    assert!(r.contains("Total items returned: 2"), "{r}");
    let r = wait_reg(&dir, Duration::from_secs(10), |r| {
        r.contains("Total items returned: 1")
    });
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "swept before it expired"
    );
    assert!(r.contains("sip:1000@127.0.0.1:7002"), "{r}");
    assert!(!r.contains("sip:1000@127.0.0.1:7001"), "{r}");
    assert_eq!(count(&dir, "1000"), "1");
}

#[test]
fn stop_start_and_restart_keep_the_stored_bindings() {
    let dir = TempDir::new("stop");
    let conf = write_config(&dir, &[ALLOW_LOOPBACK]);
    let daemon = start(&dir, &conf, false);
    let up = Instant::now();
    let port = profile_port(&dir).unwrap();
    let mut c = RawClient::new();
    assert_eq!(
        c.register(port, "1000", "cid-keep", "sip:1000@127.0.0.1:7001", 600)
            .0,
        200
    );
    let early = x(&dir, "sofia profile internal stop");
    assert!(
        stdout(&early).contains("must be up for at least 10 seconds"),
        "{}",
        stdout(&early)
    );
    std::thread::sleep(
        Duration::from_secs(10).saturating_sub(up.elapsed()) + Duration::from_millis(500),
    );

    let out = x(&dir, "sofia profile internal stop");
    assert!(out.status.success(), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("stopping: internal"),
        "{}",
        stdout(&out)
    );
    let deadline = Instant::now() + WAIT;
    while profile_port(&dir).is_some() {
        assert!(Instant::now() < deadline, "the profile still runs");
        std::thread::sleep(Duration::from_millis(50));
    }
    let gone = x(&dir, "sofia status profile internal reg");
    assert!(!gone.status.success(), "{}", stdout(&gone));
    // Nothing answers on its port any more.
    let (s, _) = {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        let _ = sock.send_to(b"OPTIONS sip:x SIP/2.0\r\n\r\n", ("127.0.0.1", port));
        let mut buf = [0u8; 2048];
        (sock.recv_from(&mut buf).is_ok(), ())
    };
    assert!(!s, "the stopped profile still answers on {port}");

    let out = x(&dir, "sofia profile internal start");
    assert!(out.status.success(), "{}", stdout(&out));
    let deadline = Instant::now() + WAIT;
    while profile_port(&dir).is_none() {
        assert!(Instant::now() < deadline, "the profile did not come back");
        std::thread::sleep(Duration::from_millis(50));
    }
    let up = Instant::now();
    let r = reg(&dir);
    assert!(r.contains("Total items returned: 1"), "after start: {r}");
    assert!(r.contains("sip:1000@127.0.0.1:7001"), "after start: {r}");
    assert_eq!(count(&dir, "1000"), "1");

    std::thread::sleep(
        Duration::from_secs(10).saturating_sub(up.elapsed()) + Duration::from_millis(500),
    );
    let out = x(&dir, "sofia profile internal restart");
    assert!(out.status.success(), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("restarting: internal"),
        "{}",
        stdout(&out)
    );
    let deadline = Instant::now() + WAIT;
    let port = loop {
        if let Some(p) = profile_port(&dir) {
            break p;
        }
        assert!(Instant::now() < deadline, "the profile did not restart");
        std::thread::sleep(Duration::from_millis(50));
    };
    let r = reg(&dir);
    assert!(r.contains("sip:1000@127.0.0.1:7001"), "after restart: {r}");
    // The restarted profile answers REGISTERs.
    let mut c = RawClient::new();
    assert_eq!(
        c.register(port, "1001", "cid-new", "sip:1001@127.0.0.1:7002", 600)
            .0,
        200
    );
    assert_eq!(count(&dir, "1001"), "1");
    assert_eq!(count(&dir, "1000"), "1");
    assert!(
        !daemon.stderr().contains("stays in use"),
        "{}",
        daemon.stderr()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_prints_sofia_register_events() {
    let dir = TempDir::new("events");
    let conf = write_config(&dir, &[]);
    let mut daemon = start(&dir, &conf, true);
    let port = profile_port(&dir).unwrap();
    daemon.say("events on");
    daemon.read_until("+OK events on", WAIT);
    let (_ua, status) = nua_register(port, "1000", "password1000").await;
    assert_eq!(status, 200);
    let mut lines = daemon.read_until("Event-Subclass: sofia%3A%3Aregister", WAIT);
    // The event's headers follow, up to an empty line.
    let rest = daemon.read_until("", WAIT);
    lines.extend(rest);
    let text = lines.join("\n");
    assert!(text.contains("Event-Name: CUSTOM"), "{text}");
    assert!(text.contains("profile-name: internal"), "{text}");
    assert!(text.contains("from-user: 1000"), "{text}");
    daemon.say("events off");
}

#[test]
fn warnings_are_printed_at_start() {
    let dir = TempDir::new("warn");
    let conf = write_config(&dir, &[("no-such-param", "1")]);
    std::fs::write(
        dir.0.join("conf/directory/default.xml"),
        r#"<include>
  <domain name="127.0.0.1">
    <users><user id="1000"><params><param name="password" value="1234"/></params></user></users>
  </domain>
</include>
"#,
    )
    .unwrap();
    let daemon = start(&dir, &conf, false);
    let deadline = Instant::now() + WAIT;
    while !daemon.stderr().contains("no-such-param") {
        assert!(Instant::now() < deadline, "{}", daemon.stderr());
        std::thread::sleep(Duration::from_millis(50));
    }
    let err = daemon.stderr();
    assert!(err.contains("sofia: "), "{err}");
    assert!(err.contains("sofia.conf.xml:"), "{err}");
    assert!(
        err.contains("unknown parameter in profile 'internal', ignored"),
        "{err}"
    );
    // Loopback only: the default password is no warning.
    assert!(!err.contains("default password"), "{err}");
    drop(daemon);

    // The same tree listening on another address warns of the default
    // password (checked on the loaded configuration: the test binds
    // loopback only).
    let text = std::fs::read_to_string(&conf).unwrap().replace(
        r#""sip-ip" value="127.0.0.1""#,
        r#""sip-ip" value="192.0.2.10""#,
    );
    std::fs::write(&conf, text).unwrap();
    let loaded = mod_sofia::config::load(&conf, &Default::default()).unwrap();
    let warnings: Vec<String> = loaded.warnings.iter().map(|w| w.to_string()).collect();
    let default = warnings
        .iter()
        .find(|w| w.contains("default password"))
        .unwrap_or_else(|| panic!("{warnings:?}"));
    assert!(
        default.contains("profile 'internal' listens on 192.0.2.10 while 1 directory user(s) have the default password 1234 (1000"),
        "{default}"
    );
    assert!(default.contains("sip-ip"), "{default}");
    let direct = mod_sofia::config::default_password_warnings(&loaded.sofia, &loaded.directory);
    assert_eq!(direct.len(), 1);
}

/// Sends a REGISTER over the TCP connection `stream` and returns the final
/// response's status.
fn tcp_register(stream: &mut std::net::TcpStream, port: u16, user: &str, call_id: &str) -> u16 {
    use std::io::Read;
    let local = stream.local_addr().unwrap();
    let msg = format!(
        "REGISTER sip:127.0.0.1:{port};transport=tcp SIP/2.0\r\n\
         Via: SIP/2.0/TCP {local};branch=z9hG4bK-tcp-{call_id}\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:{user}@127.0.0.1>;tag=tcp1\r\n\
         To: <sip:{user}@127.0.0.1>\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: 1 REGISTER\r\n\
         Contact: <sip:{user}@{local};transport=tcp>\r\n\
         Expires: 600\r\n\
         Content-Length: 0\r\n\r\n"
    );
    stream.write_all(msg.as_bytes()).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = stream.read(&mut buf).expect("a response over TCP");
        assert!(n > 0, "the connection closed before a response");
        got.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&got).into_owned();
        if let Some(end) = text.find("\r\n\r\n") {
            let status: u16 = text[8..11].parse().expect("a status line");
            if status >= 200 {
                return status;
            }
            got.drain(..end + 4);
        }
    }
}

#[test]
fn a_fixed_port_is_bound_again_by_start_and_restart() {
    use std::io::Read;
    let dir = TempDir::new("fixed");
    let port = free_port();
    let conf = write_config(&dir, &[ALLOW_LOOPBACK]);
    let text = std::fs::read_to_string(&conf).unwrap().replace(
        r#""sip-port" value="auto""#,
        &format!(r#""sip-port" value="{port}""#),
    );
    std::fs::write(&conf, text).unwrap();
    let daemon = start(&dir, &conf, false);
    let up = Instant::now();
    assert_eq!(profile_port(&dir), Some(port));
    // A phone registered over TCP keeps its connection open.
    let mut tcp = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    assert_eq!(tcp_register(&mut tcp, port, "1000", "cid-tcp"), 200);
    let r = reg(&dir);
    assert!(r.contains("Registered(TCP)"), "{r}");

    std::thread::sleep(
        Duration::from_secs(10).saturating_sub(up.elapsed()) + Duration::from_millis(500),
    );
    let out = x(&dir, "sofia profile internal stop");
    assert!(out.status.success(), "{}", stdout(&out));
    // The stopped profile closes its connections.
    let mut buf = [0u8; 64];
    match tcp.read(&mut buf) {
        Ok(0) => {}
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        other => panic!("the stopped profile's TCP connection is still open: {other:?}"),
    }
    // And frees its port: another socket can have it.
    let deadline = Instant::now() + WAIT;
    while UdpSocket::bind(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "the stopped profile keeps UDP port {port}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = x(&dir, "sofia profile internal start");
    assert!(out.status.success(), "{}", stdout(&out));
    let deadline = Instant::now() + WAIT;
    while profile_port(&dir).is_none() {
        assert!(
            Instant::now() < deadline,
            "the profile did not bind {port} again:\n{}",
            daemon.stderr()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(profile_port(&dir), Some(port));
    let up = Instant::now();
    let r = reg(&dir);
    assert!(r.contains("Registered(TCP)"), "after start: {r}");
    let mut tcp = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    assert_eq!(tcp_register(&mut tcp, port, "1001", "cid-tcp2"), 200);

    std::thread::sleep(
        Duration::from_secs(10).saturating_sub(up.elapsed()) + Duration::from_millis(500),
    );
    let out = x(&dir, "sofia profile internal restart");
    assert!(out.status.success(), "{}", stdout(&out));
    let deadline = Instant::now() + WAIT;
    loop {
        // The profile may still show while it stops; a REGISTER on the
        // port answers once it is back.
        if profile_port(&dir) == Some(port) {
            let mut c = RawClient::new();
            if let Ok(s) = std::panic::catch_unwind(move || {
                c.register(port, "1001", "cid-udp", "sip:1001@127.0.0.1:7005", 600)
                    .0
            }) {
                assert_eq!(s, 200);
                break;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the profile did not come back on {port}:\n{}",
            daemon.stderr()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(count(&dir, "1000"), "1");
    assert_eq!(count(&dir, "1001"), "1");
    assert!(
        !daemon.stderr().contains("stays in use"),
        "{}",
        daemon.stderr()
    );
}

#[test]
fn the_console_prints_unregister_and_expire_events() {
    let dir = TempDir::new("events-exp");
    let conf = write_config(
        &dir,
        &[
            ("multiple-registrations", "contact"),
            ("sip-expires-late-margin", "0"),
            ALLOW_LOOPBACK,
        ],
    );
    let mut daemon = start(&dir, &conf, true);
    let port = profile_port(&dir).unwrap();
    daemon.say("events on");
    daemon.read_until("+OK events on", WAIT);
    let mut c = RawClient::new();
    assert_eq!(
        c.register(port, "1000", "cid-gone", "sip:1000@127.0.0.1:7001", 600)
            .0,
        200
    );
    daemon.read_until("Event-Subclass: sofia%3A%3Aregister", WAIT);
    assert_eq!(
        c.register(port, "1000", "cid-gone", "sip:1000@127.0.0.1:7001", 0)
            .0,
        200
    );
    daemon.read_until("Event-Subclass: sofia%3A%3Aunregister", WAIT);
    let text = daemon.read_until("", WAIT).join("\n");
    assert!(text.contains("call-id: cid-gone"), "{text}");
    assert_eq!(count(&dir, "1000"), "0");

    assert_eq!(
        c.register(port, "1000", "cid-short", "sip:1000@127.0.0.1:7002", 1)
            .0,
        200
    );
    daemon.read_until("Event-Subclass: sofia%3A%3Aregister", WAIT);
    // The sweep removes it and says so.
    daemon.read_until("Event-Subclass: sofia%3A%3Aexpire", WAIT);
    let text = daemon.read_until("", WAIT).join("\n");
    assert!(text.contains("call-id: cid-short"), "{text}");
    assert!(text.contains("profile-name: internal"), "{text}");
    assert_eq!(count(&dir, "1000"), "0");
}

#[test]
fn rescan_reloadxml_applies_the_new_configuration_at_once_and_restart_keeps_it() {
    let dir = TempDir::new("rescan");
    let conf = write_config(&dir, &[("multiple-registrations", "false"), ALLOW_LOOPBACK]);
    let daemon = start(&dir, &conf, false);
    let up = Instant::now();
    let port = profile_port(&dir).unwrap();
    let mut c = RawClient::new();
    for (cid, contact) in [
        ("cid-a", "sip:1000@127.0.0.1:7001"),
        ("cid-b", "sip:1000@127.0.0.1:7002"),
    ] {
        assert_eq!(c.register(port, "1000", cid, contact, 600).0, 200);
    }
    assert_eq!(count(&dir, "1000"), "1");

    let text = std::fs::read_to_string(&conf).unwrap().replace(
        r#""multiple-registrations" value="false""#,
        r#""multiple-registrations" value="contact""#,
    );
    std::fs::write(&conf, text).unwrap();
    let out = x(&dir, "sofia profile internal rescan reloadxml");
    assert!(out.status.success(), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("Reload XML [Success]"),
        "{}",
        stdout(&out)
    );
    // `contact` at once, without rebinding: a new Contact is added.
    assert_eq!(
        c.register(port, "1000", "cid-r", "sip:1000@127.0.0.1:7009", 600)
            .0,
        200
    );
    assert_eq!(count(&dir, "1000"), "2", "{}", reg(&dir));
    std::thread::sleep(
        Duration::from_secs(10).saturating_sub(up.elapsed()) + Duration::from_millis(500),
    );
    let out = x(&dir, "sofia profile internal restart");
    assert!(out.status.success(), "{}", stdout(&out));
    let deadline = Instant::now() + WAIT;
    // `restart` takes the profile out before it answers: the port shown
    // next is the new profile's.
    let port = loop {
        if let Some(p) = profile_port(&dir) {
            break p;
        }
        assert!(
            Instant::now() < deadline,
            "the profile did not restart:\n{}",
            daemon.stderr()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut c = RawClient::new();
    assert_eq!(
        c.register(port, "1000", "cid-c", "sip:1000@127.0.0.1:7003", 600)
            .0,
        200
    );
    // After the restart: the two stored bindings and the new one.
    assert_eq!(count(&dir, "1000"), "3", "{}", reg(&dir));
}

/// The UDP sockets process `pid` has bound on 127.0.0.1, by port.
fn udp_ports_of(pid: u32) -> Vec<u16> {
    let mut inodes = std::collections::HashSet::new();
    for fd in std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .flatten()
    {
        if let Ok(link) = std::fs::read_link(fd.path()) {
            let link = link.to_string_lossy().into_owned();
            if let Some(inode) = link
                .strip_prefix("socket:[")
                .and_then(|s| s.strip_suffix(']'))
            {
                inodes.insert(inode.to_string());
            }
        }
    }
    let table = std::fs::read_to_string("/proc/net/udp").unwrap();
    let mut ports: Vec<u16> = table
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let (addr, port) = f.get(1)?.split_once(':')?;
            (addr == "0100007F" && inodes.contains(*f.get(9)?))
                .then(|| u16::from_str_radix(port, 16).ok())
                .flatten()
        })
        .collect();
    ports.sort_unstable();
    ports
}

/// The threads of process `pid` named like the registration store's writer
/// (`sofia-reg-db`).
fn store_writers(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .flatten()
        .filter(|t| {
            std::fs::read_to_string(t.path().join("comm")).is_ok_and(|c| c.trim() == "sofia-reg-db")
        })
        .count()
}

#[test]
fn stop_closes_the_udp_socket_and_concurrent_starts_leave_one_profile() {
    let dir = TempDir::new("twostarts");
    let conf = write_config(&dir, &[ALLOW_LOOPBACK]);
    let daemon = start(&dir, &conf, false);
    let up = Instant::now();
    let pid = daemon.child.id();
    let port = profile_port(&dir).unwrap();
    assert_eq!(udp_ports_of(pid), vec![port]);
    std::thread::sleep(
        Duration::from_secs(10).saturating_sub(up.elapsed()) + Duration::from_millis(500),
    );
    assert_eq!(store_writers(pid), 1, "one store writer thread per profile");
    let out = x(&dir, "sofia profile internal stop");
    assert!(out.status.success(), "{}", stdout(&out));
    let deadline = Instant::now() + WAIT;
    while !udp_ports_of(pid).is_empty() {
        assert!(
            Instant::now() < deadline,
            "the stopped profile's socket stays"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // The stopped profile is gone: its store's writer thread ended.
    let deadline = Instant::now() + WAIT;
    while store_writers(pid) != 0 {
        assert!(
            Instant::now() < deadline,
            "the stopped profile's store writer stays"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let starts: Vec<_> = (0..4)
        .map(|_| {
            let data = dir.data();
            std::thread::spawn(move || x_in(&data, "sofia profile internal start"))
        })
        .collect();
    let replies: Vec<String> = starts
        .into_iter()
        .map(|t| stdout(&t.join().unwrap()))
        .collect();
    let deadline = Instant::now() + WAIT;
    while profile_port(&dir).is_none() {
        assert!(Instant::now() < deadline, "the profile did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        replies
            .iter()
            .filter(|r| r.contains("internal started successfully"))
            .count(),
        1,
        "{replies:?}"
    );
    assert!(
        replies
            .iter()
            .filter(|r| !r.contains("started successfully"))
            .all(|r| r.contains("Failure starting internal")),
        "{replies:?}"
    );
    // Let every start that was let through finish binding.
    std::thread::sleep(Duration::from_millis(500));
    let port = profile_port(&dir).unwrap();
    assert_eq!(
        udp_ports_of(pid),
        vec![port],
        "one profile listens after concurrent starts; replies: {replies:?}"
    );
    assert_eq!(store_writers(pid), 1, "{replies:?}");
}

#[test]
fn flush_inbound_reg_reboot_sends_check_sync_to_the_phone() {
    let dir = TempDir::new("reboot");
    let conf = write_config(
        &dir,
        &[("multiple-registrations", "contact"), ALLOW_LOOPBACK],
    );
    let _daemon = start(&dir, &conf, false);
    let port = profile_port(&dir).unwrap();
    let mut phone = RawClient::new();
    let me = phone.sock.local_addr().unwrap();
    let contact = format!("sip:1000@{me}");
    assert_eq!(
        phone.register(port, "1000", "cid-reboot", &contact, 600).0,
        200
    );
    let out = x(
        &dir,
        "sofia profile internal flush_inbound_reg 1000@127.0.0.1 reboot",
    );
    assert!(out.status.success(), "{}", stdout(&out));
    assert_eq!(count(&dir, "1000"), "0");
    // The phone gets the NOTIFY at the address it registered from.
    let mut buf = [0u8; 4096];
    let (n, _) = phone.sock.recv_from(&mut buf).expect("a check-sync NOTIFY");
    let text = String::from_utf8_lossy(&buf[..n]);
    assert!(
        text.starts_with(&format!("NOTIFY {contact} SIP/2.0\r\n")),
        "{text}"
    );
    // The event FreeSWITCH's `sofia_reg_send_reboot` picks for a phone
    // whose User-Agent (`raw-test`) is none it knows.
    assert!(text.contains("\r\nEvent: check-sync\r\n"), "{text}");
}
