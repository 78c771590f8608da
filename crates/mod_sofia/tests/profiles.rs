//! The `sofia` daemon with a profile, end to end: a sofia-nua user agent
//! registers with digest authentication, `sofia -x` shows the binding in
//! FreeSWITCH's formats, the binding survives a restart of the daemon,
//! `flush_inbound_reg` removes it, wrong passwords get 403, and a bad
//! configuration is refused naming its file and line.

mod common;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use sofia_nua::{Config, Credentials, EventKind, Nua};

use common::{BIN, TempDir, profile_port, start, stdout, x};

const WAIT: Duration = Duration::from_secs(20);

/// A configuration tree: profile `internal` on 127.0.0.1 (UDP and TCP on a
/// port the system picks), users 1000 and 1001 in domain 127.0.0.1.
fn write_config(dir: &TempDir, multiple: &str) -> PathBuf {
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
      <aliases><alias name="default"/></aliases>
      <domains><domain name="all" alias="true" parse="false"/></domains>
      <settings>
        <param name="sip-ip" value="127.0.0.1"/>
        <param name="sip-port" value="auto"/>
        <param name="challenge-realm" value="auto_from"/>
        <param name="multiple-registrations" value="{multiple}"/>
        <param name="context" value="public"/>
        <param name="ext-sip-ip" value="192.0.2.7"/>
      </settings>
    </profile>
  </profiles>
</configuration>
"#
        ),
    )
    .unwrap();
    common::write_users(dir, &[("1000", "secret1000"), ("1001", "secret1001")]);
    conf
}

/// Registers `user` with `password` at the profile and returns the status
/// of the final response.
async fn register(port: u16, user: &str, password: &str) -> (Nua, u16) {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_show_restart_flush_and_refuse() {
    let dir = TempDir::new("reg");
    let conf = write_config(&dir, "contact");
    let daemon = start(&dir, &conf, false);
    let port = profile_port(&dir).expect("a running profile");

    let (_ua, status) = register(port, "1000", "secret1000").await;
    assert_eq!(status, 200);
    let (_ua2, status) = register(port, "1001", "wrong").await;
    assert_eq!(
        status, 403,
        "a wrong password is refused as FreeSWITCH does"
    );

    let reg = stdout(&x(&dir, "sofia status profile internal reg"));
    assert!(reg.contains("User:       \t1000@127.0.0.1\n"), "{reg}");
    assert!(reg.contains("Status:     \tRegistered(UDP)"), "{reg}");
    assert!(reg.contains("Total items returned: 1"), "{reg}");
    let contact = stdout(&x(&dir, "sofia_contact 1000@127.0.0.1"));
    assert!(
        contact.starts_with("sofia/internal/sip:1000@127.0.0.1:"),
        "{contact}"
    );
    assert_eq!(
        stdout(&x(&dir, "sofia_count_reg 1000@127.0.0.1")).trim(),
        "1"
    );
    // A dialplan setting is accepted, not acted on, and shown; so is the
    // external address.
    let info = stdout(&x(&dir, "sofia status profile internal"));
    assert!(
        info.lines()
            .any(|l| l.starts_with("Ext-SIP-IP") && l.ends_with("\t192.0.2.7")),
        "{info}"
    );
    assert!(
        info.lines()
            .any(|l| l.starts_with("Context") && l.ends_with("\tpublic")),
        "{info}"
    );
    let alias = stdout(&x(&dir, "sofia status profile default reg"));
    assert!(
        alias.contains("Total items returned: 1"),
        "the alias names the profile: {alias}"
    );

    // The binding is in the SQLite store: a new daemon finds it.
    drop(daemon);
    let daemon = start(&dir, &conf, false);
    // `auto`: the new daemon's port.
    let port = profile_port(&dir).expect("a running profile");
    let reg = stdout(&x(&dir, "sofia status profile internal reg"));
    assert!(reg.contains("1000@127.0.0.1"), "after a restart: {reg}");

    let out = x(&dir, "sofia profile internal flush_inbound_reg");
    assert!(out.status.success(), "{}", stdout(&out));
    let reg = stdout(&x(&dir, "sofia status profile internal reg"));
    assert!(reg.contains("Total items returned: 0"), "{reg}");
    assert_eq!(
        stdout(&x(&dir, "sofia_contact 1000@127.0.0.1")).trim(),
        "error/user_not_registered"
    );

    let bad = x(&dir, "sofia status profile nosuch");
    assert!(!bad.status.success());

    // A user added to the directory registers after a rescan, without a
    // restart, and the bindings made before stay.
    let (_ua, status) = register(port, "1000", "secret1000").await;
    assert_eq!(status, 200);
    let (_ua3, status) = register(port, "1002", "secret1002").await;
    assert_eq!(status, 403, "1002 is not in the directory yet");
    let directory = dir.0.join("conf/directory/default.xml");
    let text = std::fs::read_to_string(&directory).unwrap().replace(
        "</users>",
        r#"<user id="1002"><params><param name="password" value="secret1002"/></params></user></users>"#,
    );
    std::fs::write(&directory, text).unwrap();
    let out = x(&dir, "sofia profile internal rescan");
    assert_eq!(stdout(&out), "Reload XML [Success]\n+OK scan complete\n");
    let (_ua3, status) = register(port, "1002", "secret1002").await;
    assert_eq!(status, 200);
    assert_eq!(
        stdout(&x(&dir, "sofia_count_reg 1000@127.0.0.1")).trim(),
        "1"
    );
    assert_eq!(
        stdout(&x(&dir, "sofia_count_reg 1002@127.0.0.1")).trim(),
        "1"
    );
    drop(daemon);
}

#[test]
fn a_bad_parameter_is_refused_naming_file_and_line() {
    let dir = TempDir::new("bad");
    let conf = write_config(&dir, "sometimes");
    let out = Command::new(BIN)
        .arg("-c")
        .arg(&conf)
        .arg("--data-dir")
        .arg(dir.0.join("data"))
        .arg("--no-console")
        .stdin(Stdio::null())
        .output()
        .expect("run sofia");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("sofia.conf.xml:13: parameter 'multiple-registrations'"),
        "{err}"
    );
    assert!(err.contains("multiple-registrations"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_profile_answers_over_tls() {
    use sofia_msg::{HeaderName, Method, RequestBuilder};
    use sofia_tport::{Destination, TlsConfig, TlsRoots, Tport, Transport};

    let dir = TempDir::new("tls");
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let (cert_file, key_file) = (dir.0.join("cert.pem"), dir.0.join("key.pem"));
    std::fs::write(&cert_file, cert.cert.pem()).unwrap();
    std::fs::write(&key_file, cert.signing_key.serialize_pem()).unwrap();
    let tls_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let conf = write_config(&dir, "contact");
    let text = std::fs::read_to_string(&conf).unwrap().replace(
        r#"<param name="context" value="public"/>"#,
        &format!(
            r#"<param name="tls" value="true"/>
        <param name="tls-sip-port" value="{tls_port}"/>
        <param name="tls-cert" value="{}"/>
        <param name="tls-key" value="{}"/>"#,
            cert_file.display(),
            key_file.display()
        ),
    );
    std::fs::write(&conf, text).unwrap();
    let daemon = start(&dir, &conf, false);
    let info = stdout(&x(&dir, "sofia status profile internal"));
    assert!(
        info.contains(&format!(
            "sips:mod_sofia@127.0.0.1:{tls_port};transport=tls"
        )),
        "{info}"
    );

    // OPTIONS over TLS, trusting the profile's certificate: 200.
    let mut client = sofia_tport::Config::new(["sip:127.0.0.1:0;transport=tcp"]);
    client.tls = Some(TlsConfig {
        roots: TlsRoots::Der(vec![cert.cert.der().to_vec()]),
        ..TlsConfig::default()
    });
    let (tport, incoming) = Tport::bind(client).await.unwrap();
    let (agent, _r, _o) = sofia_nta::Agent::new(tport, incoming, sofia_nta::Config::default());
    let uri = format!("sips:127.0.0.1:{tls_port}");
    let options = RequestBuilder::new(Method::Options, &uri)
        .header(
            HeaderName::Via,
            // The client listens on TCP only; its Via names TLS.
            &agent
                .via(Transport::Tcp)
                .unwrap()
                .replacen("SIP/2.0/TCP", "SIP/2.0/TLS", 1),
        )
        .header(HeaderName::MaxForwards, "70")
        .header(HeaderName::From, "<sips:probe@127.0.0.1>;tag=p")
        .header(HeaderName::To, &format!("<{uri}>"))
        .header(HeaderName::CallId, "tls-options@127.0.0.1")
        .header(HeaderName::CSeq, "1 OPTIONS")
        .build()
        .unwrap();
    let dest = Destination::new(Transport::Tls, ([127, 0, 0, 1], tls_port).into())
        .with_server_name("localhost");
    let mut rx = agent.request(options, dest).unwrap();
    match tokio::time::timeout(WAIT, rx.recv())
        .await
        .unwrap()
        .unwrap()
    {
        sofia_nta::ClientEvent::Response(r) => assert_eq!(r.status(), Some(200)),
        sofia_nta::ClientEvent::Timeout => panic!("no answer over TLS"),
    }
    drop(daemon);
}

#[test]
fn a_profile_watchdog_without_sip_events_stops_the_daemon() {
    let dir = TempDir::new("watchdog");
    let conf = write_config(&dir, "contact");
    let text = std::fs::read_to_string(&conf).unwrap().replace(
        r#"<param name="context" value="public"/>"#,
        r#"<param name="watchdog-enabled" value="true"/>
        <param name="watchdog-step-timeout" value="30000"/>
        <param name="watchdog-event-timeout" value="1500"/>"#,
    );
    std::fs::write(&conf, text).unwrap();
    let mut daemon = start(&dir, &conf, false);
    // One OPTIONS (the event timeout counts from the first SIP event), then
    // nothing for 1.5 s: the daemon exits with status 3 for its supervisor.
    let port = profile_port(&dir).expect("a running profile");
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let me = udp.local_addr().unwrap();
    let options = format!(
        "OPTIONS sip:127.0.0.1:{port} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bKwatchdog1\r\n\
         Max-Forwards: 70\r\nFrom: <sip:probe@127.0.0.1>;tag=w\r\nTo: <sip:127.0.0.1>\r\n\
         Call-ID: watchdog@127.0.0.1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    );
    udp.send_to(options.as_bytes(), ("127.0.0.1", port))
        .unwrap();
    udp.set_read_timeout(Some(WAIT)).unwrap();
    let mut buf = [0u8; 2048];
    let (n, _) = udp.recv_from(&mut buf).expect("an answer to OPTIONS");
    assert!(
        buf[..n].starts_with(b"SIP/2.0 200"),
        "{}",
        String::from_utf8_lossy(&buf[..n])
    );
    let status = daemon.wait_exit(WAIT);
    assert_eq!(status.code(), Some(3));
}
