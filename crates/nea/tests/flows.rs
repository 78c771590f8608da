//! Subscription flows in virtual time: subscribe, notify, state changes to
//! every subscriber, throttling, refresh, unsubscribe, expiry, pending then
//! approved or rejected, refusals and limits.

use std::time::{Duration, Instant};

use sofia_msg::{HeaderName, Message, Method, RequestBuilder};
use sofia_nea::{Config, Decision, MessageSummary, Notifier, Presence, SubState};

fn notifier(config: Config) -> Notifier {
    let mut n = Notifier::new(config);
    n.add_package(Box::new(Presence));
    n.add_package(Box::new(MessageSummary));
    n
}

fn subscribe(
    call: &str,
    event: &str,
    expires: Option<u32>,
    to_tag: Option<&str>,
    cseq: u32,
) -> Message {
    let to = match to_tag {
        Some(t) => format!("<sip:alice@example.com>;tag={t}"),
        None => "<sip:alice@example.com>".into(),
    };
    let mut b = RequestBuilder::new(Method::Subscribe, "sip:alice@example.com")
        .header(HeaderName::Via, "SIP/2.0/UDP 192.0.2.9;branch=z9hG4bKs")
        .header(
            HeaderName::From,
            &format!("<sip:{call}@example.com>;tag=f-{call}"),
        )
        .header(HeaderName::To, &to)
        .header(HeaderName::CallId, call)
        .header(HeaderName::CSeq, &format!("{cseq} SUBSCRIBE"))
        .header(HeaderName::Contact, &format!("<sip:{call}@192.0.2.9>"))
        .header(HeaderName::Event, event);
    if let Some(e) = expires {
        b = b.header(HeaderName::Expires, &e.to_string());
    }
    b.build().unwrap()
}

fn via() -> String {
    "SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKn".into()
}

/// Every NOTIFY that may go at `now`, each answered 200: (subscriber
/// Call-ID, state, body).
fn notifies(n: &mut Notifier, now: Instant) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    while let Some(nt) = n.poll_notify(now, via) {
        assert!(!n.handle_notify_result(nt.sub, Some(200)));
        let r = &nt.request;
        assert_eq!(r.method(), Method::Notify);
        out.push((
            r.call_id().unwrap().to_string(),
            r.header(HeaderName::SubscriptionState).unwrap().to_string(),
            String::from_utf8_lossy(r.body_bytes()).into_owned(),
        ));
    }
    out
}

#[test]
fn subscribe_notify_state_changes_refresh_unsubscribe() {
    let t0 = Instant::now();
    let mut n = notifier(Config::default());
    let r = n
        .handle_subscribe(
            t0,
            &subscribe("bob", "presence", Some(600), None, 1),
            "n1",
            |_| Decision::Accept,
        )
        .unwrap();
    assert_eq!(r.status(), Some(200));
    assert_eq!(r.header(HeaderName::Expires), Some("600"));
    assert_eq!(r.to_tag(), Some("n1"));
    let first = notifies(&mut n, t0);
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].1, "active;expires=600");
    assert!(first[0].2.contains("<basic>closed</basic>"));

    // A state change goes to the subscriber, once the throttle allows.
    let t1 = t0 + Duration::from_millis(300);
    assert_eq!(
        n.set_state(
            "presence",
            "alice@example.com",
            Presence::pidf("sip:alice@example.com", true, Some("here"))
        ),
        Ok(1)
    );
    assert!(notifies(&mut n, t1).is_empty(), "throttled");
    assert_eq!(n.poll_timeout(), Some(t0 + Duration::from_secs(1)));
    // Two changes inside the interval are sent as one NOTIFY with the last.
    n.set_state(
        "presence",
        "alice@example.com",
        Presence::pidf("sip:alice@example.com", true, Some("busy")),
    )
    .unwrap();
    let t2 = t0 + Duration::from_secs(1);
    let got = notifies(&mut n, t2);
    assert_eq!(got.len(), 1);
    assert!(got[0].2.contains("<note>busy</note>"), "{}", got[0].2);
    assert_eq!(got[0].1, "active;expires=599");

    // Refresh in the dialog: 200 and a NOTIFY.
    let t3 = t0 + Duration::from_secs(300);
    let r = n
        .handle_subscribe(
            t3,
            &subscribe("bob", "presence", Some(600), Some("n1"), 2),
            "x",
            |_| Decision::Reject,
        )
        .unwrap();
    assert_eq!(r.status(), Some(200));
    assert_eq!(notifies(&mut n, t3)[0].1, "active;expires=600");

    // Unsubscribe: 200, a final NOTIFY, gone.
    let t4 = t3 + Duration::from_secs(10);
    let r = n
        .handle_subscribe(
            t4,
            &subscribe("bob", "presence", Some(0), Some("n1"), 3),
            "x",
            |_| Decision::Accept,
        )
        .unwrap();
    assert_eq!(r.status(), Some(200));
    let last = notifies(&mut n, t4);
    assert_eq!(last[0].1, "terminated");
    assert!(n.is_empty());
    // A refresh of it now: 481.
    let r = n
        .handle_subscribe(
            t4,
            &subscribe("bob", "presence", Some(600), Some("n1"), 4),
            "x",
            |_| Decision::Accept,
        )
        .unwrap();
    assert_eq!(r.status(), Some(481));
}

#[test]
fn expiry_sends_terminated_timeout() {
    let t0 = Instant::now();
    let mut n = notifier(Config::default());
    n.handle_subscribe(
        t0,
        &subscribe("bob", "message-summary", Some(60), None, 1),
        "n1",
        |_| Decision::Accept,
    )
    .unwrap();
    let first = notifies(&mut n, t0);
    assert!(first[0].2.starts_with("Messages-Waiting: no"));
    assert_eq!(n.poll_timeout(), Some(t0 + Duration::from_secs(60)));
    n.handle_timeout(t0 + Duration::from_secs(60));
    let last = notifies(&mut n, t0 + Duration::from_secs(60));
    assert_eq!(last[0].1, "terminated;reason=timeout");
    assert!(n.is_empty());
    assert_eq!(n.poll_timeout(), None);
}

#[test]
fn fan_out_to_every_subscriber() {
    let t0 = Instant::now();
    let mut n = notifier(Config::default());
    for (i, who) in ["bob", "carol", "dave"].iter().enumerate() {
        n.handle_subscribe(
            t0,
            &subscribe(who, "message-summary", None, None, 1),
            &format!("n{i}"),
            |_| Decision::Accept,
        )
        .unwrap();
    }
    assert_eq!(notifies(&mut n, t0).len(), 3);
    let later = t0 + Duration::from_secs(5);
    assert_eq!(
        n.set_state(
            "message-summary",
            "alice@example.com",
            MessageSummary::body("sip:alice@example.com", 2, 0)
        ),
        Ok(3)
    );
    let got = notifies(&mut n, later);
    assert_eq!(got.len(), 3);
    assert!(
        got.iter()
            .all(|(_, s, b)| s == "active;expires=3595" && b.contains("Voice-Message: 2/0"))
    );
    // Another resource's change reaches nobody.
    assert_eq!(
        n.set_state("message-summary", "zed@example.com", String::new()),
        Ok(0)
    );
}

#[test]
fn pending_then_approved_or_rejected() {
    let t0 = Instant::now();
    let mut n = notifier(Config::default());
    let r = n
        .handle_subscribe(
            t0,
            &subscribe("bob", "presence", Some(600), None, 1),
            "n1",
            |i| {
                assert_eq!(i.subscriber, "sip:bob@example.com");
                assert_eq!(i.resource, "alice@example.com");
                Decision::Pending
            },
        )
        .unwrap();
    assert_eq!(r.status(), Some(202));
    let got = notifies(&mut n, t0);
    assert_eq!(got[0].1, "pending;expires=600");
    assert_eq!(got[0].2, "", "no state while pending");
    // State changes do not reach a pending subscriber.
    assert_eq!(
        n.set_state("presence", "alice@example.com", "x".into()),
        Ok(0)
    );
    let id = n.subscriptions().next().unwrap().id;
    assert_eq!(n.subscriptions().next().unwrap().state, SubState::Pending);
    n.approve(id).unwrap();
    let got = notifies(&mut n, t0 + Duration::from_secs(2));
    assert_eq!(got[0].1, "active;expires=598");
    assert_eq!(got[0].2, "x");

    n.handle_subscribe(
        t0,
        &subscribe("carol", "presence", Some(600), None, 1),
        "n2",
        |_| Decision::Pending,
    )
    .unwrap();
    let carol = n
        .subscriptions()
        .find(|s| s.subscriber.contains("carol"))
        .unwrap()
        .id;
    notifies(&mut n, t0);
    n.reject(carol).unwrap();
    let got = notifies(&mut n, t0 + Duration::from_secs(3));
    assert_eq!(got[0].1, "terminated;reason=rejected");
    assert_eq!(n.len(), 1);
    assert!(n.approve(carol).is_err());
}

#[test]
fn refusals() {
    let t0 = Instant::now();
    let mut n = notifier(Config {
        max_per_resource: 1,
        ..Config::default()
    });
    let r = n
        .handle_subscribe(t0, &subscribe("bob", "dialog", None, None, 1), "n", |_| {
            Decision::Accept
        })
        .unwrap();
    assert_eq!(r.status(), Some(489));
    assert_eq!(
        r.header(HeaderName::AllowEvents),
        Some("presence, message-summary")
    );
    let r = n
        .handle_subscribe(
            t0,
            &subscribe("bob", "presence", Some(10), None, 1),
            "n",
            |_| Decision::Accept,
        )
        .unwrap();
    assert_eq!(r.status(), Some(423));
    assert_eq!(r.header(HeaderName::MinExpires), Some("60"));
    let r = n
        .handle_subscribe(
            t0,
            &subscribe("bob", "presence", None, None, 1),
            "n",
            |_| Decision::Reject,
        )
        .unwrap();
    assert_eq!(r.status(), Some(403));
    assert!(n.is_empty());
    // Longer than the maximum: shortened.
    let r = n
        .handle_subscribe(
            t0,
            &subscribe("bob", "presence", Some(99999), None, 1),
            "n",
            |_| Decision::Accept,
        )
        .unwrap();
    assert_eq!(r.header(HeaderName::Expires), Some("3600"));
    // Past the per-resource limit: 503 with Retry-After.
    let r = n
        .handle_subscribe(
            t0,
            &subscribe("carol", "presence", None, None, 1),
            "m",
            |_| Decision::Accept,
        )
        .unwrap();
    assert_eq!(r.status(), Some(503));
    assert_eq!(r.header(HeaderName::RetryAfter), Some("30"));
}

#[test]
fn failed_notify_ends_the_subscription_and_fetch_ends_at_once() {
    let t0 = Instant::now();
    let mut n = notifier(Config::default());
    n.handle_subscribe(
        t0,
        &subscribe("bob", "presence", None, None, 1),
        "n1",
        |_| Decision::Accept,
    )
    .unwrap();
    let nt = n.poll_notify(t0, via).unwrap();
    n.handle_notify_result(nt.sub, Some(481));
    assert!(n.is_empty());
    // Expires: 0 on a new subscription is a fetch: one NOTIFY, terminated.
    let r = n
        .handle_subscribe(
            t0,
            &subscribe("carol", "presence", Some(0), None, 1),
            "n2",
            |_| Decision::Accept,
        )
        .unwrap();
    assert_eq!(r.status(), Some(200));
    let got = notifies(&mut n, t0);
    assert_eq!(got[0].1, "terminated;reason=timeout");
    assert!(got[0].2.contains("<basic>closed</basic>"));
    assert!(n.is_empty());
}

#[test]
fn merged_or_retransmitted_subscribe_makes_no_second_subscription() {
    let t0 = Instant::now();
    let mut n = notifier(Config::default());
    let req = subscribe("bob", "presence", Some(600), None, 1);
    let r = n
        .handle_subscribe(t0, &req, "n1", |_| Decision::Accept)
        .unwrap();
    assert_eq!(r.status(), Some(200));
    // The same request again (a fork that came by another path, or a
    // retransmission after its transaction ended): 482, no new dialog.
    let again = n
        .handle_subscribe(t0, &req, "n2", |_| Decision::Accept)
        .unwrap();
    assert_eq!(again.status(), Some(482));
    assert_eq!(n.len(), 1);
    assert_eq!(notifies(&mut n, t0).len(), 1);
    // A new request of the same subscriber (higher CSeq) is a new one.
    let r = n
        .handle_subscribe(
            t0,
            &subscribe("bob", "presence", Some(600), None, 2),
            "n3",
            |_| Decision::Accept,
        )
        .unwrap();
    assert_eq!(r.status(), Some(200));
    assert_eq!(n.len(), 2);
    // Once the first has ended, its request is no longer merged.
    let sub = n.find(&sofia_nta::dialog::DialogId {
        call_id: "bob".into(),
        local_tag: "n1".into(),
        remote_tag: "f-bob".into(),
    });
    assert!(sub.is_some());
    assert!(n.handle_notify_result(sub.unwrap(), Some(481)));
    let r = n
        .handle_subscribe(t0, &req, "n4", |_| Decision::Accept)
        .unwrap();
    assert_eq!(r.status(), Some(200));
}

#[test]
fn event_id_is_echoed_and_must_match_on_refresh() {
    let t0 = Instant::now();
    let mut n = notifier(Config::default());
    n.handle_subscribe(
        t0,
        &subscribe("bob", "presence;id=7", Some(600), None, 1),
        "n1",
        |_| Decision::Accept,
    )
    .unwrap();
    let nt = n.poll_notify(t0, via).unwrap();
    assert_eq!(nt.request.header(HeaderName::Event), Some("presence;id=7"));
    assert_eq!(nt.next_hop, "sip:bob@192.0.2.9");
    // Another id in the same dialog is not this subscription.
    let r = n
        .handle_subscribe(
            t0,
            &subscribe("bob", "presence;id=8", Some(600), Some("n1"), 2),
            "x",
            |_| Decision::Accept,
        )
        .unwrap();
    assert_eq!(r.status(), Some(481));
    let r = n
        .handle_subscribe(
            t0,
            &subscribe("bob", "presence;id=7", Some(600), Some("n1"), 3),
            "x",
            |_| Decision::Accept,
        )
        .unwrap();
    assert_eq!(r.status(), Some(200));
}

#[test]
fn shutdown_and_refresh_of_an_ending_subscription() {
    let t0 = Instant::now();
    let mut n = notifier(Config::default());
    for who in ["bob", "carol"] {
        n.handle_subscribe(
            t0,
            &subscribe(who, "presence", Some(600), None, 1),
            who,
            |_| Decision::Accept,
        )
        .unwrap();
    }
    notifies(&mut n, t0);
    // Unsubscribed, final NOTIFY not yet sent: a refresh finds nothing.
    n.handle_subscribe(
        t0,
        &subscribe("bob", "presence", Some(0), Some("bob"), 2),
        "x",
        |_| Decision::Accept,
    )
    .unwrap();
    let r = n
        .handle_subscribe(
            t0,
            &subscribe("bob", "presence", Some(600), Some("bob"), 3),
            "x",
            |_| Decision::Accept,
        )
        .unwrap();
    assert_eq!(r.status(), Some(481));
    assert_eq!(n.shutdown(Some(120)), 1);
    let mut got = notifies(&mut n, t0 + Duration::from_millis(10));
    got.sort();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].1, "terminated");
    assert_eq!(got[1].1, "terminated;reason=probation;retry-after=120");
    assert!(n.is_empty());
    assert_eq!(n.poll_timeout(), None);
}

#[test]
fn resources_without_host_and_entity_uris() {
    let t0 = Instant::now();
    let mut n = notifier(Config {
        resource_with_host: false,
        ..Config::default()
    });
    n.handle_subscribe(
        t0,
        &subscribe("bob", "message-summary", None, None, 1),
        "n1",
        |i| {
            assert_eq!(i.resource, "alice");
            assert_eq!(i.entity, "sip:alice@example.com");
            Decision::Accept
        },
    )
    .unwrap();
    let got = notifies(&mut n, t0);
    assert!(got[0].2.contains("Message-Account: sip:alice@example.com"));
    assert_eq!(
        n.set_state(
            "message-summary",
            "alice",
            MessageSummary::body("sip:alice@example.com", 1, 0)
        ),
        Ok(1)
    );
    assert_eq!(
        n.state("message-summary", "alice"),
        Some(MessageSummary::body("sip:alice@example.com", 1, 0).as_str())
    );
}

#[test]
fn one_notify_outstanding_per_subscription() {
    let t0 = Instant::now();
    let mut n = notifier(Config::default());
    n.handle_subscribe(
        t0,
        &subscribe("bob", "presence", Some(600), None, 1),
        "n1",
        |_| Decision::Accept,
    )
    .unwrap();
    let first = n.poll_notify(t0, via).unwrap();
    // A change while the first NOTIFY awaits its answer: nothing goes, and
    // no timer fires for it (only the expiry remains).
    n.set_state("presence", "alice@example.com", "one".into())
        .unwrap();
    n.set_state("presence", "alice@example.com", "two".into())
        .unwrap();
    let t1 = t0 + Duration::from_secs(5);
    assert!(n.poll_notify(t1, via).is_none());
    assert_eq!(n.poll_timeout(), Some(t0 + Duration::from_secs(600)));
    // A provisional answer changes nothing; the 200 lets the next one go,
    // with the latest state and the next CSeq.
    assert!(!n.handle_notify_result(first.sub, Some(100)));
    assert!(n.poll_notify(t1, via).is_none());
    assert!(!n.handle_notify_result(first.sub, Some(200)));
    let next = n.poll_notify(t1, via).unwrap();
    assert_eq!(next.request.body_bytes(), b"two");
    let seq = |m: &Message| m.cseq().unwrap().0;
    assert_eq!(seq(&next.request), seq(&first.request) + 1);
    assert!(n.poll_notify(t1, via).is_none());
    // An unsubscribe while it is outstanding: the final NOTIFY waits too.
    n.handle_subscribe(
        t1,
        &subscribe("bob", "presence", Some(0), Some("n1"), 2),
        "x",
        |_| Decision::Accept,
    )
    .unwrap();
    assert!(n.poll_notify(t1, via).is_none());
    n.handle_notify_result(next.sub, Some(200));
    let last = n.poll_notify(t1, via).unwrap();
    assert!(last.last);
    assert_eq!(
        last.request.header(HeaderName::SubscriptionState),
        Some("terminated")
    );
    assert!(n.is_empty());
}

#[test]
fn refresh_moves_the_expiry_and_many_refreshes_stay_correct() {
    let t0 = Instant::now();
    let mut n = notifier(Config::default());
    n.handle_subscribe(
        t0,
        &subscribe("bob", "presence", Some(60), None, 1),
        "n1",
        |_| Decision::Accept,
    )
    .unwrap();
    notifies(&mut n, t0);
    // A thousand refreshes, 30 s apart, each for 60 s (the expiry heap is
    // rebuilt along the way).
    let mut t = t0;
    for cseq in 2..1002 {
        t += Duration::from_secs(30);
        n.handle_timeout(t);
        let r = n
            .handle_subscribe(
                t,
                &subscribe("bob", "presence", Some(60), Some("n1"), cseq),
                "x",
                |_| Decision::Accept,
            )
            .unwrap();
        assert_eq!(r.status(), Some(200), "refresh {cseq}");
        let got = notifies(&mut n, t);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].1, "active;expires=60");
        // Never later than the real expiry.
        assert!(n.poll_timeout().unwrap() <= t + Duration::from_secs(60));
    }
    // The old expiries pass without effect; the last one ends it.
    n.handle_timeout(t + Duration::from_secs(59));
    assert!(notifies(&mut n, t + Duration::from_secs(59)).is_empty());
    n.handle_timeout(t + Duration::from_secs(60));
    let got = notifies(&mut n, t + Duration::from_secs(60));
    assert_eq!(got[0].1, "terminated;reason=timeout");
    assert!(n.is_empty());
    assert_eq!(n.poll_timeout(), None);
}

#[test]
fn clear_state_notifies_the_initial_body_and_forgets_the_resource() {
    let t0 = Instant::now();
    let mut n = notifier(Config::default());
    n.handle_subscribe(
        t0,
        &subscribe("bob", "presence", Some(600), None, 1),
        "n1",
        |_| Decision::Accept,
    )
    .unwrap();
    assert_eq!(notifies(&mut n, t0).len(), 1);
    n.set_state(
        "presence",
        "alice@example.com",
        Presence::pidf("sip:alice@example.com", true, None),
    )
    .unwrap();
    assert_eq!(n.state_count(), 1);
    let t1 = t0 + Duration::from_secs(1);
    assert!(notifies(&mut n, t1)[0].2.contains("<basic>open</basic>"));
    // Clearing owes the subscriber the package's initial body.
    assert_eq!(n.clear_state("presence", "alice@example.com"), Ok(1));
    assert_eq!(n.state_count(), 0);
    assert_eq!(n.state("presence", "alice@example.com"), None);
    let t2 = t0 + Duration::from_secs(2);
    let got = notifies(&mut n, t2);
    assert_eq!(got.len(), 1);
    assert!(got[0].2.contains("<basic>closed</basic>"), "{}", got[0].2);
    // Without state, the subscribers are still told (a package may compute
    // its initial body); a resource nobody watches notifies none; an
    // unknown package fails.
    assert_eq!(n.clear_state("presence", "alice@example.com"), Ok(1));
    assert_eq!(n.state_count(), 0);
    assert_eq!(n.clear_state("presence", "nobody@example.com"), Ok(0));
    assert!(n.clear_state("dialog", "alice@example.com").is_err());
}
