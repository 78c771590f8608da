//! Calls bridged by the `sofia` daemon between sofia-nua phones registered
//! to it: ring, answer, BYE from either side, CANCEL, hold by re-INVITE,
//! header variables from `<routes>`, `auth-calls` (407), unknown users, and
//! the call counters in `sofia status profile`.

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use sofia_msg::HeaderName;
use sofia_nua::{CallState, Config, Credentials, Event, EventKind, Handle, Nua};
use tokio::sync::mpsc::Receiver;

use common::{TempDir, free_port, named_profile_port, start, stdout, x};

const WAIT: Duration = Duration::from_secs(15);

/// Profile `internal` on 127.0.0.1 (port picked by the system) with
/// `auth-calls`, users 1000-1002, and routes: `2NNN` rings user 1NNN with
/// an X- header and response headers; `7NNN` rings 1NNN over the profile
/// by address (`sofia/internal/1NNN@host`) which has no registration there.
fn write_config(dir: &TempDir) -> PathBuf {
    let conf = dir.0.join("conf/autoload_configs/sofia.conf.xml");
    std::fs::write(
        &conf,
        r#"<configuration name="sofia.conf" description="sofia Endpoint">
  <profiles>
    <profile name="internal">
      <settings>
        <param name="sip-ip" value="127.0.0.1"/>
        <param name="sip-port" value="auto"/>
        <param name="challenge-realm" value="auto_from"/>
        <param name="auth-calls" value="true"/>
      </settings>
      <routes>
        <route expression="^2(\d{3})$" dial-string="{sip_h_X-Routed=yes,sip_bye_h_X-Bye=callee}sofia/internal/1$1%${domain}">
          <variable name="sip_rh_X-Answered" value="by-1$1"/>
          <variable name="sip_ph_X-Early" value="ringing"/>
        </route>
        <route expression="^9(\d+)$" dial-string="sofia/internal/$1@192.0.2.1:9"/>
      </routes>
    </profile>
  </profiles>
</configuration>
"#,
    )
    .unwrap();
    common::write_users(
        dir,
        &[("1000", "s1000"), ("1001", "s1001"), ("1002", "s1002")],
    );
    conf
}

/// A phone registered as `user`.
struct Phone {
    nua: Nua,
    events: Receiver<Event>,
    server: String,
}

impl Phone {
    async fn register(port: u16, user: &str) -> Phone {
        let (nua, mut events) = Nua::new(Config {
            credentials: vec![Credentials::new(user, format!("s{user}"))],
            ..Config::default()
        })
        .await
        .unwrap();
        let h = nua.handle(&format!("sip:{user}@127.0.0.1:{port}")).unwrap();
        h.register(Some(600)).unwrap();
        loop {
            let ev = next(&mut events).await;
            if ev.kind == EventKind::RRegister && ev.status >= 200 {
                assert_eq!(ev.status, 200, "{user} registers");
                break;
            }
        }
        Phone {
            nua,
            events,
            server: format!("127.0.0.1:{port}"),
        }
    }

    fn call(&self, number: &str) -> Handle {
        let h = self
            .nua
            .handle(&format!("sip:{number}@{}", self.server))
            .unwrap();
        h.invite().unwrap();
        h
    }

    /// Waits for an event of `kind` (and `state`); returns it.
    async fn until(&mut self, kind: EventKind, state: Option<CallState>) -> Event {
        loop {
            let ev = next(&mut self.events).await;
            if ev.kind == kind && (state.is_none() || ev.state == state) {
                return ev;
            }
        }
    }

    /// The next response to our INVITE, past 100 and the daemon's 407
    /// challenge (answered by the phone).
    async fn response(&mut self) -> Event {
        loop {
            let ev = self.until(EventKind::RInvite, None).await;
            if !matches!(ev.status, 100 | 401 | 407) {
                return ev;
            }
        }
    }

    /// The incoming call's handle and INVITE.
    async fn incoming(&mut self) -> (Handle, sofia_msg::Message) {
        let ev = self.until(EventKind::IInvite, None).await;
        (
            self.nua.handle_of(ev.handle),
            ev.message.expect("the INVITE"),
        )
    }
}

async fn next(events: &mut Receiver<Event>) -> Event {
    tokio::time::timeout(WAIT, events.recv())
        .await
        .expect("an event in time")
        .expect("the user agent runs")
}

fn profile_line(dir: &TempDir, name: &str) -> String {
    let status = stdout(&x(dir, "sofia status profile internal"));
    status
        .lines()
        .find(|l| l.starts_with(name))
        .unwrap_or_default()
        .split('\t')
        .next_back()
        .unwrap_or_default()
        .trim()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_between_registered_users() {
    let dir = TempDir::new("users");
    let conf = write_config(&dir);
    let mut daemon = start(&dir, &conf, true);
    let port = named_profile_port(&dir, "internal").unwrap();
    daemon.say("events on");
    let mut alice = Phone::register(port, "1000").await;
    let mut bob = Phone::register(port, "1001").await;

    // 1000 calls 1001 (the default route: the registered user).
    let call = alice.call("1001");
    let (bob_call, invite) = bob.incoming().await;
    assert!(
        invite.header(HeaderName::From).unwrap().contains("1000@"),
        "the caller's number in From: {:?}",
        invite.header(HeaderName::From)
    );
    assert!(!invite.body_bytes().is_empty(), "the offer passes through");
    bob_call.respond(180, "Ringing").unwrap();
    let ringing = alice.response().await;
    assert_eq!(ringing.status, 180);
    bob_call.respond(200, "OK").unwrap();
    let ok = alice.response().await;
    assert_eq!(ok.status, 200);
    let answer = ok.message.unwrap();
    assert!(
        std::str::from_utf8(answer.body_bytes())
            .unwrap()
            .contains("m=audio"),
        "the answer passes through"
    );
    alice.until(EventKind::IState, Some(CallState::Ready)).await;
    bob.until(EventKind::IState, Some(CallState::Ready)).await;
    assert_eq!(profile_line(&dir, "CALLS-IN"), "1");
    assert_eq!(profile_line(&dir, "CALLS-OUT"), "1");
    assert!(
        stdout(&x(&dir, "sofia status")).contains("RUNNING (1)"),
        "one call up"
    );

    // Hold: the re-INVITE reaches the other side, and back.
    call.hold(true).unwrap();
    let reinvite = bob.until(EventKind::IInvite, None).await;
    let sdp = String::from_utf8_lossy(reinvite.message.unwrap().body_bytes()).into_owned();
    assert!(sdp.contains("a=sendonly"), "{sdp}");
    let held = alice.response().await;
    assert_eq!(held.status, 200);
    let sdp = String::from_utf8_lossy(held.message.unwrap().body_bytes()).into_owned();
    assert!(sdp.contains("a=recvonly"), "{sdp}");
    let ev = daemon.event("Event-Subclass: sofia%3A%3Areinvite", WAIT);
    assert!(ev.contains("Profile-Name: internal"), "{ev}");

    // BYE from the callee ends both legs.
    bob_call.bye().unwrap();
    bob.until(EventKind::RBye, None).await;
    let bye = alice.until(EventKind::IBye, None).await;
    assert_eq!(bye.status, 200);
    alice
        .until(EventKind::IState, Some(CallState::Terminated))
        .await;
    let deadline = Instant::now() + WAIT;
    while !stdout(&x(&dir, "sofia status")).contains("RUNNING (0)") {
        assert!(Instant::now() < deadline, "the call ends");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // A second call, through the route `2NNN`: header variables.
    let call = alice.call("2001");
    let (bob_call, invite) = bob.incoming().await;
    assert_eq!(invite.header_lines_named("X-Routed").next(), Some("yes"));
    bob_call.respond(180, "Ringing").unwrap();
    let ringing = alice.response().await;
    assert_eq!(
        ringing
            .message
            .unwrap()
            .header_lines_named("X-Early")
            .next(),
        Some("ringing")
    );
    bob_call.respond(200, "OK").unwrap();
    let ok = alice.response().await;
    assert_eq!(ok.status, 200);
    assert_eq!(
        ok.message.unwrap().header_lines_named("X-Answered").next(),
        Some("by-1001")
    );
    bob.until(EventKind::IState, Some(CallState::Ready)).await;
    // BYE from the caller: the callee's BYE carries `sip_bye_h_X-Bye`.
    call.bye().unwrap();
    let bye = bob.until(EventKind::IBye, None).await;
    assert_eq!(
        bye.message.unwrap().header_lines_named("X-Bye").next(),
        Some("callee")
    );
    alice.until(EventKind::RBye, None).await;

    // CANCEL while ringing: the callee's INVITE is cancelled, the caller
    // gets 487.
    let call = alice.call("1001");
    let (bob_call, _) = bob.incoming().await;
    bob_call.respond(180, "Ringing").unwrap();
    alice.response().await;
    call.cancel().unwrap();
    bob.until(EventKind::ICancel, None).await;
    let done = alice.response().await;
    assert_eq!(done.status, 487);

    // The callee refuses: 486 reaches the caller.
    let _call = alice.call("1001");
    let (bob_call, _) = bob.incoming().await;
    bob_call.respond(486, "Busy Here").unwrap();
    let busy = alice.response().await;
    assert_eq!(busy.status, 486);
    let ev = daemon.event("Event-Subclass: sofia%3A%3Aerror", WAIT);
    assert!(ev.contains("Error-Status: 486"), "{ev}");
    assert!(ev.contains("Error-Type: request%20error"), "{ev}");

    // Nobody registered as 1002; 1099 is nobody at all: 404.
    let _call = alice.call("1002");
    let nf = alice.response().await;
    assert_eq!(nf.status, 404);
    assert_eq!(profile_line(&dir, "CALLS-IN"), "5");
    assert_eq!(profile_line(&dir, "FAILED-CALLS-IN"), "2");
    assert_eq!(profile_line(&dir, "FAILED-CALLS-OUT"), "1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_calls_challenges_callers_without_credentials() {
    let dir = TempDir::new("auth");
    let conf = write_config(&dir);
    let _daemon = start(&dir, &conf, true);
    let port = named_profile_port(&dir, "internal").unwrap();
    let _bob = Phone::register(port, "1001").await;
    // A user agent with no credentials gets the 407 challenge.
    let (nua, mut events) = Nua::new(Config::default()).await.unwrap();
    let h = nua.handle(&format!("sip:1001@127.0.0.1:{port}")).unwrap();
    h.invite().unwrap();
    loop {
        let ev = next(&mut events).await;
        if ev.kind == EventKind::RInvite && ev.status >= 200 {
            assert_eq!(ev.status, 407);
            let msg = ev.message.unwrap();
            assert!(msg.header(HeaderName::ProxyAuthenticate).is_some());
            break;
        }
    }
}

/// Two profiles: `internal` (the phones, `auth-calls`) on a known port,
/// and `external` whose gateway `gw` registers to `internal` as user 1002.
/// A call from 1000 to `9<number>` leaves through the gateway, is
/// challenged by `internal` (407, answered with the gateway's
/// credentials), and reaches the registered user `<number>`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_out_through_a_gateway() {
    let dir = TempDir::new("gateway");
    let conf = write_config(&dir);
    let internal = free_port();
    let text = std::fs::read_to_string(&conf)
        .unwrap()
        .replace(
            r#"<param name="sip-port" value="auto"/>"#,
            &format!(r#"<param name="sip-port" value="{internal}"/>"#),
        )
        .replace(
            r#"<route expression="^9(\d+)$" dial-string="sofia/internal/$1@192.0.2.1:9"/>"#,
            r#"<route expression="^9(\d+)$" dial-string="sofia/gateway/gw/$1"/>"#,
        )
        .replace(
            "  </profiles>",
            &format!(
                r#"    <profile name="external">
      <settings>
        <param name="sip-ip" value="127.0.0.1"/>
        <param name="sip-port" value="auto"/>
      </settings>
      <gateways>
        <gateway name="gw">
          <param name="username" value="1002"/>
          <param name="password" value="s1002"/>
          <param name="realm" value="127.0.0.1"/>
          <param name="proxy" value="127.0.0.1:{internal}"/>
          <param name="expire-seconds" value="600"/>
          <param name="extension" value="1001"/>
        </gateway>
      </gateways>
      <routes>
        <route expression="^(\d+)$" dial-string="sofia/internal/$1%127.0.0.1"/>
      </routes>
    </profile>
  </profiles>"#
            ),
        );
    std::fs::write(&conf, text).unwrap();
    let _daemon = start(&dir, &conf, true);
    let port = internal;
    let deadline = Instant::now() + WAIT;
    loop {
        let gw = stdout(&x(&dir, "sofia status gateway gw"));
        if gw.contains("State   \tREGED") {
            break;
        }
        assert!(Instant::now() < deadline, "the gateway registers:\n{gw}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut alice = Phone::register(port, "1000").await;
    let mut bob = Phone::register(port, "1001").await;
    let call = alice.call("91001");
    let (bob_call, invite) = bob.incoming().await;
    // Through the gateway: From is the gateway's from-user.
    assert!(
        invite
            .header(HeaderName::From)
            .unwrap()
            .contains("sip:1002@"),
        "{:?}",
        invite.header(HeaderName::From)
    );
    bob_call.respond(200, "OK").unwrap();
    let ok = alice.response().await;
    assert_eq!(ok.status, 200);
    bob.until(EventKind::IState, Some(CallState::Ready)).await;
    call.bye().unwrap();
    bob.until(EventKind::IBye, None).await;
    alice.until(EventKind::RBye, None).await;
    let gw = stdout(&x(&dir, "sofia status gateway gw"));
    assert!(gw.contains("CallsOUT\t1\n"), "{gw}");
    assert!(gw.contains("FailedCallsOUT\t0\n"), "{gw}");

    // Inbound through the gateway: 1002 is the gateway's registration, so
    // a call to 1002 reaches profile `external` addressed to `gw+gw`; the
    // gateway's `extension` (1001) is routed back to the phone 1001.
    let call = alice.call("1002");
    let (bob_call, _) = bob.incoming().await;
    bob_call.respond(200, "OK").unwrap();
    let ok = alice.response().await;
    assert_eq!(ok.status, 200);
    bob.until(EventKind::IState, Some(CallState::Ready)).await;
    call.bye().unwrap();
    bob.until(EventKind::IBye, None).await;
    alice.until(EventKind::RBye, None).await;
    let gw = stdout(&x(&dir, "sofia status gateway gw"));
    assert!(gw.contains("CallsIN \t1\n"), "{gw}");
    assert!(gw.contains("FailedCallsIN\t0\n"), "{gw}");
}
