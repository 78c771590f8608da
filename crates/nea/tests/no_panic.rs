//! Whatever a subscriber writes in a SUBSCRIBE, and in whatever order its
//! requests and the NOTIFY outcomes come, the notifier neither panics nor
//! keeps more subscriptions than its limits.

use std::time::{Duration, Instant};

use bytes::Bytes;
use proptest::prelude::*;
use sofia_msg::Message;
use sofia_nea::{Config, Decision, MessageSummary, Notifier, Presence};

fn header_value() -> impl Strategy<Value = String> {
    prop_oneof![
        "[ -~]{0,40}".prop_map(|v| v.trim().to_string()),
        Just("presence".to_string()),
        Just("presence;id=1".to_string()),
        Just("message-summary".to_string()),
        Just("0".to_string()),
        Just("60".to_string()),
        Just("4294967296".to_string()),
        Just("-1".to_string()),
        Just("<sip:a@192.0.2.1>".to_string()),
        Just("<sip:a@[::1]:5060;transport=tcp>".to_string()),
        Just("*".to_string()),
    ]
}

/// One SUBSCRIBE's variable parts: Request-URI, Event, Expires, Contact,
/// From tag, To tag, Call-ID, CSeq, Record-Route.
type Parts = (
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    u8,
    u32,
    Option<String>,
);

fn subscribe() -> impl Strategy<Value = Parts> {
    (
        prop_oneof![
            Just("sip:alice@example.com".to_string()),
            Just("sip:example.com".to_string()),
            Just("tel:+123".to_string()),
            "sip:[a-z]{1,3}@[a-z]{1,3}\\.com",
        ],
        proptest::option::of(header_value()),
        proptest::option::of(header_value()),
        proptest::option::of(header_value()),
        proptest::option::of("[a-c]{1}"),
        proptest::option::of("[a-c]{1}"),
        0u8..3,
        0u32..4,
        proptest::option::of(header_value()),
    )
}

fn build(
    (uri, event, expires, contact, from_tag, to_tag, call, cseq, rr): Parts,
) -> Option<Message> {
    let mut text = format!(
        "SUBSCRIBE {uri} SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.9;branch=z9hG4bKp\r\n\
         Call-ID: c{call}\r\nCSeq: {cseq} SUBSCRIBE\r\nMax-Forwards: 70\r\n"
    );
    match from_tag {
        Some(t) => text.push_str(&format!("From: <sip:b@example.com>;tag={t}\r\n")),
        None => text.push_str("From: <sip:b@example.com>\r\n"),
    }
    match to_tag {
        Some(t) => text.push_str(&format!("To: <{uri}>;tag={t}\r\n")),
        None => text.push_str(&format!("To: <{uri}>\r\n")),
    }
    for (name, v) in [
        ("Event", event),
        ("Expires", expires),
        ("Contact", contact),
        ("Record-Route", rr),
    ] {
        if let Some(v) = v {
            text.push_str(&format!("{name}: {v}\r\n"));
        }
    }
    text.push_str("Content-Length: 0\r\n\r\n");
    Message::parse(Bytes::from(text)).ok()
}

proptest! {
    #[test]
    fn any_sequence_of_subscribes_and_outcomes(
        steps in proptest::collection::vec((subscribe(), 0u8..6, 0u64..5000), 1..40)
    ) {
        let mut n = Notifier::new(Config {
            max_total: 5,
            max_per_resource: 3,
            min_expires: 0,
            ..Config::default()
        });
        n.add_package(Box::new(Presence));
        n.add_package(Box::new(MessageSummary));
        let t0 = Instant::now();
        let mut outstanding = Vec::new();
        for (i, (sub, decision, ms)) in steps.into_iter().enumerate() {
            let now = t0 + Duration::from_millis(ms * (i as u64 + 1));
            if let Some(req) = build(sub) {
                let decision = match decision {
                    0 => Decision::Pending,
                    1 => Decision::Reject,
                    _ => Decision::Accept,
                };
                let r = n.handle_subscribe(now, &req, &format!("t{i}"), |_| decision);
                if let Ok(r) = r {
                    prop_assert!(r.status().is_some());
                }
            }
            prop_assert!(n.len() <= 5);
            n.handle_timeout(now);
            while let Some(nt) = n.poll_notify(now, || "SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKn".into()) {
                outstanding.push(nt.sub);
            }
            let _ = n.set_state("presence", "alice@example.com", "x".into());
            let first = n.subscriptions().next().map(|s| s.id);
            if let Some(id) = first {
                let _ = n.approve(id);
            }
            // Outcomes in varying order: 200, 481 or none.
            if let Some(sub) = outstanding.pop() {
                let status = match i % 3 { 0 => Some(200), 1 => Some(481), _ => None };
                n.handle_notify_result(sub, status);
            }
            let _ = n.poll_timeout();
        }
        n.shutdown(Some(5));
        let end = t0 + Duration::from_secs(10_000);
        while let Some(nt) = n.poll_notify(end, || "SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKn".into()) {
            n.handle_notify_result(nt.sub, Some(200));
        }
        for sub in outstanding {
            n.handle_notify_result(sub, Some(200));
        }
        while let Some(nt) = n.poll_notify(end, || "SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKn".into()) {
            n.handle_notify_result(nt.sub, Some(200));
        }
        prop_assert!(n.is_empty());
    }
}
