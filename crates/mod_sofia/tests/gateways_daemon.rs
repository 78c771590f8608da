//! Gateways of the `sofia` daemon end to end on 127.0.0.1, checked with
//! `sofia -x`: a gateway registering with digest to a second profile of the
//! same daemon (its registrar), a wrong password in FAIL_WAIT, pings,
//! `unregister`, `register`, `killgw`, `startgw`, `gwlist`, the
//! `sofia::gateway_*` events on the console; and against a scripted UDP
//! peer: 403 then FAIL_WAIT and recovery through a 401 challenge, a pinged
//! gateway going DOWN and UP, and the unregistration when the profile
//! stops.

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sofia_msg::{HeaderName, Message, ResponseBuilder};

use common::{TempDir, free_port, out, start, wait_for, x};

const WAIT: Duration = Duration::from_secs(30);

/// Writes `sofia.conf.xml` with these `<profile>` elements and a directory
/// with users 1000 (password1000) and 1001 (password1001) in 127.0.0.1.
fn write_config(dir: &TempDir, profiles: &str) -> PathBuf {
    let conf = dir.0.join("conf/autoload_configs/sofia.conf.xml");
    std::fs::write(
        &conf,
        format!(
            r#"<configuration name="sofia.conf" description="sofia Endpoint">
  <global_settings><param name="log-level" value="0"/></global_settings>
  <profiles>
{profiles}
  </profiles>
</configuration>
"#
        ),
    )
    .unwrap();
    common::write_users(dir, &[("1000", "password1000"), ("1001", "password1001")]);
    conf
}

fn gateway_state(dir: &TempDir, gw: &str, state: &str) -> String {
    let want = format!("State   \t{state}\n");
    wait_for(dir, &format!("sofia status gateway {gw}"), WAIT, |r| {
        r.contains(&want)
    })
}

#[test]
fn gateway_registers_to_a_profile_of_the_daemon() {
    let dir = TempDir::new("loop");
    let registrar = free_port();
    let conf = write_config(
        &dir,
        &format!(
            r#"    <profile name="internal">
      <domains><domain name="all" alias="true" parse="false"/></domains>
      <settings>
        <param name="sip-ip" value="127.0.0.1"/>
        <param name="sip-port" value="{registrar}"/>
        <param name="challenge-realm" value="auto_from"/>
      </settings>
    </profile>
    <profile name="external">
      <settings>
        <param name="sip-ip" value="127.0.0.1"/>
        <param name="sip-port" value="auto"/>
        <param name="user-agent-string" value="gw-test"/>
      </settings>
      <gateways>
        <gateway name="gw1">
          <param name="username" value="1000"/>
          <param name="password" value="password1000"/>
          <param name="proxy" value="127.0.0.1:{registrar}"/>
          <param name="expire-seconds" value="60"/>
          <param name="ping" value="5"/>
          <variables><variable name="carrier" value="loop" direction="outbound"/></variables>
        </gateway>
        <gateway name="gwbad">
          <param name="username" value="1001"/>
          <param name="password" value="wrong"/>
          <param name="proxy" value="127.0.0.1:{registrar}"/>
          <param name="retry-seconds" value="30"/>
        </gateway>
      </gateways>
    </profile>"#
        ),
    );
    let mut daemon = start(&dir, &conf, true);

    let detail = gateway_state(&dir, "gw1", "REGED");
    assert!(detail.contains("Status  \tUP"), "{detail}");
    assert!(detail.contains("Profile \texternal\n"), "{detail}");
    assert!(
        detail.contains(&format!("To      \tsip:1000@127.0.0.1:{registrar}\n")),
        "{detail}"
    );
    assert!(
        detail.contains("Contact \t<sip:gw+gw1@127.0.0.1:"),
        "{detail}"
    );
    let reg = wait_for(&dir, "sofia status profile internal reg", WAIT, |r| {
        r.contains("gw+gw1@127.0.0.1")
    });
    assert!(reg.contains("Agent:      \tgw-test\n"), "{reg}");
    assert!(reg.contains("Auth-User:  \t1000\n"), "{reg}");

    // The wrong password is refused: FAIL_WAIT, down.
    let bad = gateway_state(&dir, "gwbad", "FAIL_WAIT");
    assert!(bad.contains("Status  \tDOWN"), "{bad}");

    let status = out(&dir, "sofia status");
    let row = status
        .lines()
        .find(|l| l.contains("external::gw1"))
        .unwrap_or_else(|| panic!("{status}"));
    assert!(row.contains("\tgateway\t"), "{row}");
    assert!(
        row.ends_with(&format!("sip:1000@127.0.0.1:{registrar}\tREGED")),
        "{row}"
    );
    let xml = out(&dir, "sofia xmlstatus");
    assert!(
        xml.contains("<gateway>\n<name>gw1</name>\n<type>gateway</type>\n"),
        "{xml}"
    );
    let xml = out(&dir, "sofia xmlstatus gateway gwbad");
    assert!(xml.contains("    <state>FAIL_WAIT</state>\n"), "{xml}");
    assert_eq!(out(&dir, "sofia profile external gwlist up").trim(), "gw1");
    assert_eq!(
        out(&dir, "sofia profile external gwlist down").trim(),
        "gwbad"
    );
    assert_eq!(
        out(&dir, "sofia_gateway_data gw1 ovar carrier").trim(),
        "loop"
    );
    assert_eq!(out(&dir, "sofia_gateway_data gw1 ivar carrier").trim(), "");

    // The registrar profile answers the pings.
    wait_for(&dir, "sofia status gateway gw1", WAIT, |r| {
        r.contains("PingState\t1/1/1\n")
    });

    daemon.say("events on");
    daemon.read_until("+OK events on", WAIT);

    // unregister: NOREG and the binding is gone; register: back.
    assert_eq!(out(&dir, "sofia profile external unregister gw1"), "+OK\n");
    gateway_state(&dir, "gw1", "NOREG");
    wait_for(&dir, "sofia_count_reg 1000@127.0.0.1", WAIT, |r| {
        r.trim() == "0"
    });
    assert_eq!(out(&dir, "sofia profile external register gw1"), "+OK\n");
    gateway_state(&dir, "gw1", "REGED");
    wait_for(&dir, "sofia_count_reg 1000@127.0.0.1", WAIT, |r| {
        r.trim() == "1"
    });

    // killgw: unregistered and deleted; startgw: back from the configuration.
    assert_eq!(
        out(&dir, "sofia profile external killgw gw1"),
        "+OK gateway marked for deletion.\n"
    );
    wait_for(&dir, "sofia status gateway gw1", WAIT, |r| {
        r == "Invalid Gateway!\n"
    });
    wait_for(&dir, "sofia_count_reg 1000@127.0.0.1", WAIT, |r| {
        r.trim() == "0"
    });
    let lines = daemon.read_until("Event-Subclass: sofia%3A%3Agateway_delete", WAIT);
    assert!(lines.iter().any(|l| l == "State: NOREG"), "{lines:?}");
    let lines = daemon.read_until("Gateway: gw1", WAIT);
    assert!(
        lines.iter().any(|l| l == "profile-name: external"),
        "{lines:?}"
    );
    assert_eq!(
        out(&dir, "sofia profile external startgw gw1"),
        "Reload XML [Success]\n+OK started gateway gw1\n"
    );
    daemon.read_until("Event-Subclass: sofia%3A%3Agateway_add", WAIT);
    gateway_state(&dir, "gw1", "REGED");
    let lines = daemon.read_until("State: REGED", WAIT);
    assert!(
        lines
            .iter()
            .any(|l| l == "Event-Subclass: sofia%3A%3Agateway_state"),
        "{lines:?}"
    );
    let next = daemon.read_until("Ping-Status: UP", WAIT);
    assert_eq!(next.len(), 1, "{next:?}");
    let again = x(&dir, "sofia profile external startgw gw1");
    assert_eq!(
        String::from_utf8_lossy(&again.stdout),
        "Reload XML [Success]\n-ERR cannot start gateway gw1\n"
    );
    assert_eq!(again.status.code(), Some(1));
}

/// What the scripted peer saw.
#[derive(Default)]
struct Seen {
    lines: Vec<String>,
}

/// A UDP peer answering a gateway's requests: the first REGISTER with 403,
/// later ones without credentials with 401, with credentials with 200
/// (Expires 0 included); the first OPTIONS with 503, later ones with 200.
fn scripted_peer(stop: Arc<AtomicBool>, seen: Arc<Mutex<Seen>>) -> SocketAddr {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let addr = sock.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 65536];
        let (mut registers, mut options) = (0, 0);
        while !stop.load(Ordering::Relaxed) {
            let Ok((n, from)) = sock.recv_from(&mut buf) else {
                continue;
            };
            let Ok(req) = Message::parse(bytes::Bytes::copy_from_slice(&buf[..n])) else {
                continue;
            };
            if !req.is_request() {
                continue;
            }
            let method = req.method_str().to_string();
            let expires = req.header(HeaderName::Expires).unwrap_or("").to_string();
            let auth = req.header(HeaderName::Authorization).is_some();
            let (status, reason, extra): (u16, &str, Vec<(HeaderName, String)>) = match method
                .as_str()
            {
                "REGISTER" => {
                    registers += 1;
                    if registers == 1 {
                        (403, "Forbidden", vec![])
                    } else if !auth {
                        (
                            401,
                            "Unauthorized",
                            vec![(
                                HeaderName::WwwAuthenticate,
                                "Digest realm=\"peer\", nonce=\"abc\", qop=\"auth\"".to_string(),
                            )],
                        )
                    } else {
                        let contact = req.header(HeaderName::Contact).unwrap_or("").to_string();
                        (
                            200,
                            "OK",
                            vec![(HeaderName::Contact, format!("{contact};expires={expires}"))],
                        )
                    }
                }
                "OPTIONS" => {
                    options += 1;
                    if options == 1 {
                        (503, "Service Unavailable", vec![])
                    } else {
                        (200, "OK", vec![])
                    }
                }
                _ => (501, "Not Implemented", vec![]),
            };
            seen.lock().unwrap().lines.push(format!(
                "{method} expires={expires} auth={auth} -> {status}"
            ));
            let mut b = ResponseBuilder::reply_to(&req, status, reason, Some("peer"));
            for (name, value) in &extra {
                b = b.header(*name, value);
            }
            if let Ok(resp) = b.build() {
                let _ = sock.send_to(&resp.to_bytes(), from);
            }
        }
    });
    addr
}

#[test]
fn fail_wait_recovery_ping_down_up_and_unregister_on_stop() {
    let stop = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(Mutex::new(Seen::default()));
    let peer = scripted_peer(Arc::clone(&stop), Arc::clone(&seen));
    let dir = TempDir::new("peer");
    let conf = write_config(
        &dir,
        &format!(
            r#"    <profile name="external">
      <settings>
        <param name="sip-ip" value="127.0.0.1"/>
        <param name="sip-port" value="auto"/>
      </settings>
      <gateways>
        <gateway name="gw2">
          <param name="username" value="alice"/>
          <param name="password" value="secret"/>
          <param name="proxy" value="{peer}"/>
          <param name="retry-seconds" value="5"/>
        </gateway>
        <gateway name="gw3">
          <param name="register" value="false"/>
          <param name="proxy" value="{peer}"/>
          <param name="ping" value="5"/>
        </gateway>
      </gateways>
    </profile>"#
        ),
    );
    let started = Instant::now();
    let _daemon = start(&dir, &conf, true);

    // 403: FAIL_WAIT, then after retry-seconds a 401 challenge and REGED.
    let failed = gateway_state(&dir, "gw2", "FAIL_WAIT");
    assert!(failed.contains("Status  \tDOWN"), "{failed}");
    let reged = gateway_state(&dir, "gw2", "REGED");
    assert!(reged.contains("Status  \tUP"), "{reged}");
    assert!(started.elapsed() >= Duration::from_secs(5));

    // gw3 is NOREG and up; its first ping gets 503: DOWN; the next: UP.
    let down = gateway_state(&dir, "gw3", "DOWN");
    assert!(down.contains("Status  \tDOWN"), "{down}");
    assert_eq!(
        out(&dir, "sofia profile external gwlist down").trim(),
        "gw3"
    );
    let up = gateway_state(&dir, "gw3", "NOREG");
    assert!(up.contains("Status  \tUP"), "{up}");
    assert!(up.contains("PingState\t1/1/1\n"), "{up}");

    // Stopping the profile unregisters gw2.
    while started.elapsed() < Duration::from_secs(11) {
        std::thread::sleep(Duration::from_millis(200));
    }
    let reply = out(&dir, "sofia profile external stop");
    assert!(reply.trim_end().ends_with("stopping: external"), "{reply}");
    let deadline = Instant::now() + WAIT;
    loop {
        let lines = seen.lock().unwrap().lines.clone();
        if lines
            .iter()
            .any(|l| l.starts_with("REGISTER expires=0 auth=true -> 200"))
        {
            let first: Vec<&str> = lines
                .iter()
                .filter(|l| l.starts_with("REGISTER"))
                .map(String::as_str)
                .collect();
            assert_eq!(
                first[..2],
                [
                    "REGISTER expires=3600 auth=false -> 403",
                    "REGISTER expires=3600 auth=false -> 401"
                ],
                "{lines:?}"
            );
            break;
        }
        assert!(Instant::now() < deadline, "no unregistration: {lines:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
    stop.store(true, Ordering::Relaxed);
}
