//! The sans-IO gateway in virtual time: every registration state
//! transition (challenge then REGED, 403 and FAIL_WAIT with FreeSWITCH's
//! back-off, no answer and TIMEOUT, refresh, EXPIRED, unregister, NOREG),
//! OPTIONS pings counted between ping-min and ping-max, the requests as
//! FreeSWITCH builds them, the events and the status the commands print.

use std::time::{Duration, Instant, SystemTime};

use mod_sofia::commands::GatewayState;
use mod_sofia::config::{self, GatewayConfig, LoadOptions, MemoryFiles};
use mod_sofia::events::Event;
use mod_sofia::gateway::{Gateway, GatewayEnv, GatewaySet, OutgoingRequest, RequestKind, VarKind};
use sofia_msg::{HeaderName, Message, ResponseBuilder};

/// Gateway `gw1` of profile `external` with these parameters (after
/// username alice, password secret, proxy 192.0.2.10).
fn gateway_config(params: &[(&str, &str)]) -> GatewayConfig {
    let mut extra = String::new();
    for (n, v) in params {
        extra.push_str(&format!("<param name=\"{n}\" value=\"{v}\"/>\n"));
    }
    let xml = format!(
        r#"<configuration name="sofia.conf"><profiles><profile name="external">
  <settings><param name="sip-ip" value="127.0.0.1"/><param name="tls" value="true"/></settings>
  <gateways><gateway name="gw1">
    <param name="username" value="alice"/>
    <param name="password" value="secret"/>
    <param name="proxy" value="192.0.2.10"/>
    {extra}
    <variables>
      <variable name="in_only" value="i" direction="inbound"/>
      <variable name="out_only" value="o" direction="outbound"/>
      <variable name="both" value="b"/>
    </variables>
  </gateway></gateways></profile></profiles></configuration>"#
    );
    let mut files = MemoryFiles::new();
    files.insert("/conf/sofia.conf.xml", xml);
    let loaded = config::load_from(
        &files,
        "/conf/sofia.conf.xml".as_ref(),
        &LoadOptions::default(),
    )
    .unwrap();
    loaded.sofia.gateway("gw1").unwrap().1.clone()
}

fn env() -> GatewayEnv {
    let mut env = GatewayEnv::new("external", "127.0.0.1", 5080);
    env.user_agent = Some("sofia-test".to_string());
    env.tls_port = Some(5081);
    env
}

fn gateway(params: &[(&str, &str)], now: Instant) -> Gateway {
    Gateway::with_seed(gateway_config(params), env(), now, 7)
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn message(req: &OutgoingRequest) -> Message {
    req.build("SIP/2.0/UDP 127.0.0.1:5080;rport;branch=z9hG4bKtest1")
        .unwrap()
}

fn answer(
    req: &OutgoingRequest,
    status: u16,
    reason: &str,
    extra: &[(HeaderName, &str)],
) -> Message {
    let msg = message(req);
    let mut b = ResponseBuilder::reply_to(&msg, status, reason, Some("srvtag"));
    for (n, v) in extra {
        b = b.header(*n, v);
    }
    b.build().unwrap()
}

const CHALLENGE: &str =
    "Digest realm=\"192.0.2.10\", nonce=\"n0nce1\", qop=\"auth\", algorithm=MD5";

fn events(gw: &mut Gateway) -> Vec<Event> {
    std::iter::from_fn(|| gw.poll_event()).collect()
}

/// The `State` (and `Status`) of the `sofia::gateway_state` events.
fn states(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .filter(|e| e.subclass() == Some("sofia::gateway_state"))
        .map(|e| match e.header("Status") {
            Some(s) => format!("{} {s}", e.header("State").unwrap()),
            None => e.header("State").unwrap().to_string(),
        })
        .collect()
}

/// Registers with a 401 first; returns the time the 200 came.
fn register_with_challenge(gw: &mut Gateway, now: Instant) -> Instant {
    let first = gw.poll_transmit().expect("a REGISTER");
    gw.handle_response(
        now,
        first.id,
        &answer(
            &first,
            401,
            "Unauthorized",
            &[(HeaderName::WwwAuthenticate, CHALLENGE)],
        ),
    );
    let second = gw.poll_transmit().expect("the REGISTER with credentials");
    assert_eq!(gw.state(), GatewayState::Trying);
    let contact = format!("{};expires=3600", gw.contact());
    gw.handle_response(
        now,
        second.id,
        &answer(&second, 200, "OK", &[(HeaderName::Contact, &contact)]),
    );
    now
}

#[test]
fn register_request_is_built_as_freeswitch_does() {
    let now = Instant::now();
    let mut gw = gateway(&[], now);
    assert_eq!(gw.state(), GatewayState::Trying);
    let req = gw.poll_transmit().unwrap();
    assert_eq!(req.kind, RequestKind::Register);
    assert_eq!(req.uri, "sip:192.0.2.10");
    assert_eq!(req.target, "sip:192.0.2.10");
    let from = req.header(HeaderName::From).unwrap();
    assert!(from.starts_with("<sip:alice@192.0.2.10>;tag="), "{from}");
    assert_eq!(req.header(HeaderName::To), Some("<sip:alice@192.0.2.10>"));
    assert_eq!(
        req.header(HeaderName::Contact),
        Some("<sip:gw+gw1@127.0.0.1:5080;transport=udp;gw=gw1>")
    );
    assert_eq!(req.header(HeaderName::Expires), Some("3600"));
    assert_eq!(req.header(HeaderName::UserAgent), Some("sofia-test"));
    assert_eq!(req.header(HeaderName::Authorization), None);
    let call_id = req.header(HeaderName::CallId).unwrap();
    assert_eq!(call_id.len(), 36, "a UUID: {call_id}");
    assert_eq!(call_id, gw.call_id());
    let msg = message(&req);
    assert_eq!(msg.cseq().unwrap().1, sofia_msg::Method::Register);
    let evs = events(&mut gw);
    assert_eq!(evs[0].subclass(), Some("sofia::gateway_add"));
    assert_eq!(evs[0].header("Gateway"), Some("gw1"));
    assert_eq!(evs[0].header("profile-name"), Some("external"));
    assert_eq!(states(&evs), ["TRYING"]);
    let trying = &evs[1];
    assert_eq!(trying.header("Ping-Status"), Some("DOWN"));
    assert!(!gw.usable_for_calls());
}

#[test]
fn contact_and_routing_parameters() {
    let now = Instant::now();
    let mut gw = gateway(
        &[
            ("extension", "5551000"),
            ("extension-in-contact", "true"),
            ("contact-params", "tgrp=7"),
            ("from-domain", "example.com"),
            ("from-user", "bob"),
            ("register-proxy", "192.0.2.20:5070"),
            ("register-transport", "tcp"),
            ("distinct-to", "true"),
            ("expire-seconds", "600"),
        ],
        now,
    );
    let req = gw.poll_transmit().unwrap();
    assert_eq!(req.uri, "sip:example.com");
    assert_eq!(req.target, "sip:192.0.2.20:5070;transport=tcp");
    assert_eq!(
        req.header(HeaderName::Contact),
        Some("<sip:5551000@127.0.0.1:5080;tgrp=7;transport=tcp;gw=gw1>")
    );
    assert!(
        req.header(HeaderName::From)
            .unwrap()
            .starts_with("<sip:bob@example.com>;tag=")
    );
    assert_eq!(req.header(HeaderName::To), Some("sip:alice@192.0.2.10"));
    assert_eq!(req.header(HeaderName::Expires), Some("600"));

    let mut gw = gateway(
        &[
            ("outbound-proxy", "192.0.2.30"),
            ("register-transport", "tls"),
            ("contact-host", "203.0.113.5"),
        ],
        now,
    );
    let req = gw.poll_transmit().unwrap();
    assert_eq!(req.target, "sip:192.0.2.30;transport=tls");
    assert_eq!(
        req.header(HeaderName::Contact),
        Some("<sip:gw+gw1@203.0.113.5:5081;transport=tls;gw=gw1>")
    );
}

#[test]
fn digest_challenge_then_reged_and_refresh() {
    let t0 = Instant::now();
    let mut gw = gateway(&[], t0);
    let first = gw.poll_transmit().unwrap();
    let first_cseq = message(&first).cseq().unwrap().0;
    gw.handle_response(
        t0,
        first.id,
        &answer(
            &first,
            401,
            "Unauthorized",
            &[(HeaderName::WwwAuthenticate, CHALLENGE)],
        ),
    );
    let second = gw.poll_transmit().unwrap();
    let auth = second.header(HeaderName::Authorization).unwrap();
    assert!(auth.starts_with("Digest "), "{auth}");
    assert!(auth.contains("username=\"alice\""), "{auth}");
    assert!(auth.contains("realm=\"192.0.2.10\""), "{auth}");
    assert!(auth.contains("uri=\"sip:192.0.2.10\""), "{auth}");
    assert_eq!(message(&second).cseq().unwrap().0, first_cseq + 1);
    assert_eq!(
        second.header(HeaderName::CallId),
        first.header(HeaderName::CallId)
    );
    // The 401 is no state change.
    assert_eq!(states(&events(&mut gw)), ["TRYING"]);

    let t1 = t0 + secs(1);
    let contact = format!("{};expires=3600", gw.contact());
    gw.handle_response(
        t1,
        second.id,
        &answer(&second, 200, "OK", &[(HeaderName::Contact, &contact)]),
    );
    assert_eq!(gw.state(), GatewayState::Reged);
    assert!(gw.is_up() && gw.usable_for_calls());
    let evs = events(&mut gw);
    assert_eq!(states(&evs), ["REGISTER 200", "REGED"]);
    assert_eq!(evs[0].header("Phrase"), Some("OK"));
    assert_eq!(evs[1].header("Ping-Status"), Some("UP"));

    // Refreshed 15 s before the expiry.
    assert_eq!(gw.poll_timeout(), Some(t1 + secs(3585)));
    gw.handle_timeout(t1 + secs(3584));
    assert!(gw.poll_transmit().is_none());
    gw.handle_timeout(t1 + secs(3585));
    assert_eq!(gw.state(), GatewayState::Trying);
    let refresh = gw.poll_transmit().unwrap();
    // The nonce learned is used again.
    let auth = refresh.header(HeaderName::Authorization).unwrap();
    assert!(auth.contains("nc=00000002"), "{auth}");
    let status = gw.status(t1 + secs(3586), SystemTime::now());
    assert_eq!(status.state, GatewayState::Trying);
    assert_eq!(status.retry_secs, Some(29));
    assert!(status.up, "still registered while refreshing");
    gw.handle_response(
        t1 + secs(3586),
        refresh.id,
        &answer(&refresh, 200, "OK", &[(HeaderName::Contact, &contact)]),
    );
    assert_eq!(gw.state(), GatewayState::Reged);
}

#[test]
fn shorter_granted_expiry_refreshes_earlier() {
    let t0 = Instant::now();
    let mut gw = gateway(&[], t0);
    let req = gw.poll_transmit().unwrap();
    let contact = format!("{};expires=120", gw.contact());
    gw.handle_response(
        t0,
        req.id,
        &answer(&req, 200, "OK", &[(HeaderName::Contact, &contact)]),
    );
    assert_eq!(gw.state(), GatewayState::Reged);
    assert_eq!(gw.poll_timeout(), Some(t0 + secs(105)));
}

#[test]
fn interval_too_brief_is_retried_once_with_min_expires() {
    let t0 = Instant::now();
    let mut gw = gateway(&[("expire-seconds", "60")], t0);
    let first = gw.poll_transmit().unwrap();
    assert_eq!(message(&first).header(HeaderName::Expires), Some("60"));
    gw.handle_response(
        t0,
        first.id,
        &answer(
            &first,
            423,
            "Interval Too Brief",
            &[(HeaderName::MinExpires, "600")],
        ),
    );
    let again = gw.poll_transmit().expect("the REGISTER again");
    let msg = message(&again);
    assert_eq!(msg.header(HeaderName::Expires), Some("600"));
    assert_eq!(msg.cseq().unwrap().0, message(&first).cseq().unwrap().0 + 1);
    assert_eq!(gw.state(), GatewayState::Trying);
    // A second 423 asking for no more than that fails as any refusal.
    gw.handle_response(
        t0,
        again.id,
        &answer(
            &again,
            423,
            "Interval Too Brief",
            &[(HeaderName::MinExpires, "600")],
        ),
    );
    assert!(gw.poll_transmit().is_none());
    assert_eq!(gw.state(), GatewayState::FailWait);
}

#[test]
fn second_challenge_fails_and_backs_off() {
    let t0 = Instant::now();
    let mut gw = gateway(&[], t0);
    let first = gw.poll_transmit().unwrap();
    gw.handle_response(
        t0,
        first.id,
        &answer(
            &first,
            401,
            "Unauthorized",
            &[(HeaderName::WwwAuthenticate, CHALLENGE)],
        ),
    );
    let second = gw.poll_transmit().unwrap();
    gw.handle_response(
        t0,
        second.id,
        &answer(
            &second,
            401,
            "Unauthorized",
            &[(HeaderName::WwwAuthenticate, CHALLENGE)],
        ),
    );
    assert!(
        gw.poll_transmit().is_none(),
        "no third try with the same credentials"
    );
    assert_eq!(gw.state(), GatewayState::FailWait);
    let evs = events(&mut gw);
    assert_eq!(states(&evs), ["TRYING", "FAILED 401", "FAIL_WAIT"]);
    let failed = evs
        .iter()
        .find(|e| e.header("State") == Some("FAILED"))
        .unwrap();
    assert_eq!(failed.header("Phrase"), Some("Unauthorized"));
    // First failure: retry-seconds.
    assert_eq!(gw.poll_timeout(), Some(t0 + secs(30)));
    let st = gw.status(t0 + secs(10), SystemTime::now());
    assert_eq!(st.state, GatewayState::FailWait);
    assert_eq!(st.retry_secs, Some(20));
    assert!(!st.up);

    // Again at 30 s; a 403 is the second failure: 2 x retry-seconds.
    gw.handle_timeout(t0 + secs(30));
    assert_eq!(gw.state(), GatewayState::Trying);
    let again = gw.poll_transmit().unwrap();
    let t1 = t0 + secs(31);
    gw.handle_response(t1, again.id, &answer(&again, 403, "Forbidden", &[]));
    assert_eq!(gw.state(), GatewayState::FailWait);
    assert_eq!(gw.poll_timeout(), Some(t1 + secs(60)));
    assert_eq!(
        states(&events(&mut gw)),
        ["UNREGED", "TRYING", "FAILED 403", "FAIL_WAIT"]
    );

    // A 503 waits retry-seconds whatever the count.
    gw.handle_timeout(t1 + secs(60));
    let third = gw.poll_transmit().unwrap();
    let t2 = t1 + secs(61);
    gw.handle_response(
        t2,
        third.id,
        &answer(&third, 503, "Service Unavailable", &[]),
    );
    assert_eq!(gw.poll_timeout(), Some(t2 + secs(30)));

    // Success resets the count.
    gw.handle_timeout(t2 + secs(30));
    let fourth = gw.poll_transmit().unwrap();
    let t3 = t2 + secs(31);
    gw.handle_response(t3, fourth.id, &answer(&fourth, 200, "OK", &[]));
    assert_eq!(gw.state(), GatewayState::Reged);
    gw.handle_timeout(t3 + secs(3585));
    let fifth = gw.poll_transmit().unwrap();
    let t4 = t3 + secs(3586);
    gw.handle_response(t4, fifth.id, &answer(&fifth, 403, "Forbidden", &[]));
    assert_eq!(gw.poll_timeout(), Some(t4 + secs(30)));
}

#[test]
fn forbidden_then_recovery() {
    let t0 = Instant::now();
    let mut gw = gateway(&[("retry-seconds", "10")], t0);
    let req = gw.poll_transmit().unwrap();
    gw.handle_response(t0, req.id, &answer(&req, 403, "Forbidden", &[]));
    assert_eq!(gw.state(), GatewayState::FailWait);
    gw.handle_timeout(t0 + secs(9));
    assert!(gw.poll_transmit().is_none());
    gw.handle_timeout(t0 + secs(10));
    let _ = register_with_challenge(&mut gw, t0 + secs(10));
    assert_eq!(gw.state(), GatewayState::Reged);
}

#[test]
fn no_answer_is_timeout_then_fail_wait() {
    let t0 = Instant::now();
    let mut gw = gateway(&[("timeout-seconds", "20"), ("908-retry-seconds", "7")], t0);
    let req = gw.poll_transmit().unwrap();
    // The transaction gives up; the gateway waits for timeout-seconds.
    gw.handle_failure(t0 + secs(16), req.id, 408, "Request Timeout");
    assert_eq!(gw.state(), GatewayState::Trying);
    assert_eq!(gw.poll_timeout(), Some(t0 + secs(20)));
    gw.handle_timeout(t0 + secs(20));
    assert_eq!(gw.state(), GatewayState::FailWait);
    assert_eq!(
        states(&events(&mut gw)),
        ["TRYING", "TIMEOUT", "FAILED", "FAIL_WAIT"]
    );
    // 908-retry-seconds after a timeout.
    assert_eq!(gw.poll_timeout(), Some(t0 + secs(27)));
    // A late answer to the abandoned REGISTER changes nothing.
    gw.handle_response(t0 + secs(21), req.id, &answer(&req, 200, "OK", &[]));
    assert_eq!(gw.state(), GatewayState::FailWait);
}

#[test]
fn unanswered_refresh_expires_then_times_out() {
    let t0 = Instant::now();
    let mut gw = gateway(&[], t0);
    let req = gw.poll_transmit().unwrap();
    gw.handle_response(t0, req.id, &answer(&req, 200, "OK", &[]));
    let _ = events(&mut gw);
    gw.handle_timeout(t0 + secs(3585));
    assert!(gw.poll_transmit().is_some());
    gw.handle_timeout(t0 + secs(3600));
    assert_eq!(gw.state(), GatewayState::Expired);
    assert!(!gw.is_up());
    gw.handle_timeout(t0 + secs(3585 + 60));
    assert_eq!(gw.state(), GatewayState::FailWait);
    assert_eq!(
        states(&events(&mut gw)),
        [
            "UNREGED",
            "TRYING",
            "EXPIRED",
            "TIMEOUT",
            "FAILED",
            "FAIL_WAIT"
        ]
    );
}

#[test]
fn unregister_and_register_commands() {
    let t0 = Instant::now();
    let mut gw = gateway(&[], t0);
    let reg = gw.poll_transmit().unwrap();
    gw.handle_response(t0, reg.id, &answer(&reg, 200, "OK", &[]));
    let _ = events(&mut gw);
    gw.unregister_now(t0 + secs(5));
    let unreg = gw.poll_transmit().unwrap();
    assert_eq!(unreg.kind, RequestKind::Unregister);
    assert_eq!(unreg.header(HeaderName::Expires), Some("0"));
    assert_eq!(
        unreg.header(HeaderName::CallId),
        reg.header(HeaderName::CallId)
    );
    assert_eq!(
        unreg.header(HeaderName::Contact),
        reg.header(HeaderName::Contact)
    );
    assert_eq!(gw.state(), GatewayState::Noreg);
    assert_eq!(states(&events(&mut gw)), ["UNREGISTER", "NOREG"]);
    assert!(gw.poll_timeout().is_none(), "NOREG waits for a command");
    gw.handle_response(t0 + secs(5), unreg.id, &answer(&unreg, 200, "OK", &[]));
    gw.register_now(t0 + secs(6));
    assert_eq!(gw.state(), GatewayState::Trying);
    assert_eq!(gw.poll_transmit().unwrap().kind, RequestKind::Register);
}

#[test]
fn noreg_gateway_is_up_without_requests() {
    let t0 = Instant::now();
    let mut gw = gateway(&[("register", "false")], t0);
    assert_eq!(gw.state(), GatewayState::Noreg);
    assert!(gw.is_up() && gw.usable_for_calls());
    assert!(gw.poll_transmit().is_none());
    assert!(gw.poll_timeout().is_none());
    let st = gw.status(t0 + secs(42), SystemTime::now());
    assert_eq!(st.uptime_secs, 42);
    assert_eq!(st.state, GatewayState::Noreg);
    assert_eq!(st.ping, 0);
    assert_eq!(st.register_to, "sip:alice@192.0.2.10");
    assert_eq!(st.proxy, "sip:192.0.2.10");
}

#[test]
fn pings_count_between_min_and_max() {
    let t0 = Instant::now();
    let mut gw = gateway(
        &[
            ("register", "false"),
            ("ping", "5"),
            ("ping-min", "2"),
            ("ping-max", "3"),
            ("ping-user-agent", "pinger"),
        ],
        t0,
    );
    let _ = events(&mut gw);
    assert_eq!(gw.poll_timeout(), Some(t0 + secs(5)));
    let mut now = t0;
    let mut ping = |gw: &mut Gateway, status: Option<u16>| {
        now = gw.poll_timeout().expect("a ping is due");
        gw.handle_timeout(now);
        let req = gw.poll_transmit().expect("an OPTIONS");
        assert_eq!(req.kind, RequestKind::Ping);
        assert_eq!(req.uri, "sip:192.0.2.10");
        assert_eq!(req.header(HeaderName::To), Some("<sip:192.0.2.10>"));
        assert_eq!(req.header(HeaderName::UserAgent), Some("pinger"));
        assert_eq!(req.header(HeaderName::Contact), None);
        assert!(gw.status(now, SystemTime::now()).pinging);
        let at = now + Duration::from_millis(20);
        match status {
            Some(s) => gw.handle_response(at, req.id, &answer(&req, s, "Whatever", &[])),
            None => gw.handle_failure(at, req.id, 408, "Request Timeout"),
        }
        (
            gw.is_up(),
            gw.status(at, SystemTime::now()).ping_count,
            gw.state(),
        )
    };
    // A NOREG gateway starts up; a failed ping below ping-min takes it down.
    assert_eq!(ping(&mut gw, None), (false, 0, GatewayState::Down));
    assert_eq!(ping(&mut gw, Some(200)), (false, 1, GatewayState::Down));
    // Any answer but 408 and 503 (and 6xx) counts as success.
    assert_eq!(ping(&mut gw, Some(404)), (true, 2, GatewayState::Noreg));
    assert_eq!(ping(&mut gw, Some(200)), (true, 3, GatewayState::Noreg));
    assert_eq!(ping(&mut gw, Some(200)), (true, 3, GatewayState::Noreg));
    assert_eq!(ping(&mut gw, Some(503)), (true, 2, GatewayState::Noreg));
    assert_eq!(ping(&mut gw, Some(603)), (false, 1, GatewayState::Down));
    let evs = events(&mut gw);
    let ping_states: Vec<(String, String)> = evs
        .iter()
        .map(|e| {
            (
                e.header("Ping-Status").unwrap().to_string(),
                e.header("Status").unwrap_or("").to_string(),
            )
        })
        .collect();
    // Without ping-monitoring, only changes of the ping status are events.
    assert_eq!(
        ping_states,
        [
            ("DOWN".into(), "408".into()),
            ("UP".into(), "404".into()),
            ("DOWN".into(), "603".into())
        ]
    );
    let st = gw.status(now, SystemTime::now());
    assert_eq!((st.ping_min, st.ping_count, st.ping_max), (2, 1, 3));
    assert_eq!(st.ping_freq, 5);
    assert!(st.ping > 0, "the next ping's time");
    assert!(!gw.usable_for_calls());
}

#[test]
fn ping_monitoring_fires_every_result_and_round_trip_is_measured() {
    let t0 = Instant::now();
    let mut gw = gateway(
        &[
            ("register", "false"),
            ("ping", "10"),
            ("ping-monitoring", "true"),
            ("contact-in-ping", "true"),
        ],
        t0,
    );
    let _ = events(&mut gw);
    for i in 1..=3u64 {
        let now = t0 + secs(10 * i) + Duration::from_millis(25 * (i - 1));
        gw.handle_timeout(now);
        let req = gw.poll_transmit().unwrap();
        assert!(req.header(HeaderName::Contact).is_some());
        gw.handle_response(
            now + Duration::from_millis(25),
            req.id,
            &answer(&req, 200, "OK", &[]),
        );
    }
    let evs = events(&mut gw);
    assert_eq!(evs.len(), 3);
    assert!(evs.iter().all(|e| e.header("Status") == Some("200")));
    let st = gw.status(t0 + secs(40), SystemTime::now());
    assert!((st.ping_time - 25.0).abs() < 0.01, "{}", st.ping_time);
}

#[test]
fn failed_ping_of_registered_gateway_reregisters() {
    let t0 = Instant::now();
    let mut gw = gateway(&[("ping", "30")], t0);
    let reg = gw.poll_transmit().unwrap();
    gw.handle_response(t0, reg.id, &answer(&reg, 200, "OK", &[]));
    gw.handle_timeout(t0 + secs(30));
    let ping = gw.poll_transmit().unwrap();
    assert_eq!(ping.kind, RequestKind::Ping);
    gw.handle_failure(t0 + secs(62), ping.id, 408, "Request Timeout");
    assert_eq!(gw.state(), GatewayState::FailWait);
    assert!(!gw.is_up());
    assert_eq!(gw.poll_timeout(), Some(t0 + secs(92)));
}

#[test]
fn killgw_unregisters_then_deletes() {
    let t0 = Instant::now();
    let mut set = GatewaySet::new();
    assert!(set.add(gateway(&[], t0)));
    assert!(!set.add(gateway(&[], t0)), "one gateway per name");
    let reg = set.poll_transmit().unwrap();
    set.handle_response(t0, "gw1", reg.id, &answer(&reg, 200, "OK", &[]));
    assert_eq!(set.get("gw1").unwrap().state(), GatewayState::Reged);
    while set.poll_event().is_some() {}
    assert!(!set.delete(t0, Some("nope")));
    assert!(set.delete(t0 + secs(1), Some("gw1")));
    let unreg = set.poll_transmit().unwrap();
    assert_eq!(unreg.kind, RequestKind::Unregister);
    assert!(set.get("gw1").unwrap().is_deleted());
    assert!(!set.get("gw1").unwrap().usable_for_calls());
    set.handle_response(
        t0 + secs(1),
        "gw1",
        unreg.id,
        &answer(&unreg, 200, "OK", &[]),
    );
    let evs: Vec<Event> = std::iter::from_fn(|| set.poll_event()).collect();
    assert!(set.get("gw1").is_none());
    let last = evs.last().unwrap();
    assert_eq!(last.subclass(), Some("sofia::gateway_delete"));
    assert_eq!(last.header("profile-name"), Some("external"));
    assert_eq!(last.header("Gateway"), Some("gw1"));
    assert!(set.is_empty());
}

#[test]
fn shutdown_unregisters_registered_gateways_only() {
    let t0 = Instant::now();
    let mut set = GatewaySet::new();
    set.add(gateway(&[], t0));
    let reg = set.poll_transmit().unwrap();
    set.handle_response(t0, "gw1", reg.id, &answer(&reg, 200, "OK", &[]));
    set.shutdown(t0 + secs(1));
    let unreg = set.poll_transmit().unwrap();
    assert_eq!(unreg.header(HeaderName::Expires), Some("0"));
    assert!(set.unregistering());
    assert!(set.poll_timeout().is_none());
    set.handle_response(
        t0 + secs(1),
        "gw1",
        unreg.id,
        &answer(&unreg, 200, "OK", &[]),
    );
    assert!(!set.unregistering());

    let mut set = GatewaySet::new();
    set.add(gateway(&[], t0));
    let _ = set.poll_transmit();
    set.shutdown(t0);
    assert!(
        set.poll_transmit().is_none(),
        "TRYING: nothing to unregister"
    );
}

#[test]
fn counters_and_variables() {
    let t0 = Instant::now();
    let mut gw = gateway(&[("register", "false")], t0);
    gw.count_call(true, false);
    gw.count_call(true, true);
    gw.count_call(false, true);
    let st = gw.status(t0, SystemTime::now());
    assert_eq!(
        (
            st.ib_calls,
            st.ib_failed_calls,
            st.ob_calls,
            st.ob_failed_calls
        ),
        (2, 1, 1, 1)
    );
    assert_eq!(gw.variable(VarKind::Inbound, "in_only"), Some("i"));
    assert_eq!(gw.variable(VarKind::Inbound, "out_only"), None);
    assert_eq!(gw.variable(VarKind::Outbound, "out_only"), Some("o"));
    assert_eq!(gw.variable(VarKind::Any, "out_only"), Some("o"));
    assert_eq!(gw.variable(VarKind::Any, "both"), Some("b"));
    assert_eq!(gw.config().name, "gw1");
}

#[test]
fn odd_responses_do_not_break_the_machine() {
    let t0 = Instant::now();
    let mut gw = gateway(&[], t0);
    let req = gw.poll_transmit().unwrap();
    // A 401 without a challenge fails the registration.
    gw.handle_response(t0, req.id, &answer(&req, 401, "Unauthorized", &[]));
    assert_eq!(gw.state(), GatewayState::FailWait);
    gw.handle_timeout(t0 + secs(30));
    let req = gw.poll_transmit().unwrap();
    // Unknown ids and provisional answers are ignored.
    gw.handle_response(t0 + secs(30), 9999, &answer(&req, 200, "OK", &[]));
    gw.handle_response(t0 + secs(30), req.id, &answer(&req, 100, "Trying", &[]));
    assert_eq!(gw.state(), GatewayState::Trying);
    // A 200 with a Contact that does not parse keeps the configured expiry.
    gw.handle_response(
        t0 + secs(31),
        req.id,
        &answer(
            &req,
            200,
            "OK",
            &[(HeaderName::Contact, "<sip:x@y;expires=abc")],
        ),
    );
    assert_eq!(gw.state(), GatewayState::Reged);
    assert_eq!(gw.poll_timeout(), Some(t0 + secs(31 + 3585)));
}
