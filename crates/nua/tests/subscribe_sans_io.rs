//! The sans-IO subscriber ([`SubscriptionState`]) against sofia-nea's
//! sans-IO notifier in virtual time: messages passed by hand, the clock
//! moved by hand, hours of refreshes in microseconds.

use std::time::{Duration, Instant};

use sofia_iptsec::AuthClient;
use sofia_msg::{HeaderName, Message};
use sofia_nea::{Config as NeaConfig, Decision, Notifier, Presence};
use sofia_nta::Timers;
use sofia_nua::subscribe::{Report, SubscriptionOutput, SubscriptionParams};
use sofia_nua::{EventKind, SubState, SubscriptionState};

const VIA_UA: &str = "SIP/2.0/UDP 192.0.2.1:5060;rport;branch=z9hG4bKua";

struct World {
    now: Instant,
    sub: SubscriptionState,
    auth: AuthClient,
    notifier: Notifier,
    reports: Vec<Report>,
    branch: u32,
}

impl World {
    fn new(min_expires: u32) -> World {
        let mut notifier = Notifier::new(NeaConfig {
            min_expires,
            contact: "sip:nea@198.51.100.1".into(),
            ..NeaConfig::default()
        });
        notifier.add_package(Box::new(Presence));
        World {
            now: Instant::now(),
            sub: SubscriptionState::new(SubscriptionParams {
                event: "presence".into(),
                accept: Some("application/pidf+xml".into()),
                local_uri: "sip:alice@192.0.2.1".into(),
                remote_uri: "sip:bob@198.51.100.1".into(),
                contact: "sip:alice@192.0.2.1:5060".into(),
                call_id: "sim-1@192.0.2.1".into(),
                from_tag: "a1".into(),
                user_agent: None,
                timers: Timers::default(),
            }),
            auth: AuthClient::new(),
            notifier,
            reports: Vec::new(),
            branch: 0,
        }
    }

    /// Runs both sides until neither has anything to do now; returns the
    /// SUBSCRIBE requests sent.
    fn settle(&mut self) -> Vec<Message> {
        let mut sent = Vec::new();
        loop {
            let mut busy = false;
            while let Some(out) = self.sub.poll_output() {
                busy = true;
                match out {
                    SubscriptionOutput::Send => {
                        let req = self.sub.build_request(VIA_UA, &mut self.auth).unwrap();
                        let resp = self
                            .notifier
                            .handle_subscribe(self.now, &req, "n1", |_| Decision::Accept)
                            .unwrap();
                        sent.push(req);
                        self.sub.handle_response(self.now, &resp, &mut self.auth);
                    }
                    SubscriptionOutput::Report(r) => self.reports.push(r),
                    SubscriptionOutput::DialogAdded(_) | SubscriptionOutput::DialogRemoved(_) => {}
                }
            }
            let now = self.now;
            let branch = &mut self.branch;
            while let Some(n) = self.notifier.poll_notify(now, || {
                *branch += 1;
                format!("SIP/2.0/UDP 198.51.100.1:5060;branch=z9hG4bKn{branch}")
            }) {
                busy = true;
                let answer = self.sub.handle_notify(now, &n.request);
                self.notifier
                    .handle_notify_result(n.sub, Some(answer.status));
            }
            if !busy {
                return sent;
            }
        }
    }

    /// Moves the clock to the next timer of either side and runs it.
    fn advance(&mut self) -> Vec<Message> {
        let next = [self.sub.poll_timeout(), self.notifier.poll_timeout()]
            .into_iter()
            .flatten()
            .min()
            .expect("a timer");
        self.now = self.now.max(next);
        if self.sub.poll_timeout().is_some_and(|t| t <= self.now) {
            self.sub.handle_timeout(self.now);
        }
        if self.notifier.poll_timeout().is_some_and(|t| t <= self.now) {
            self.notifier.handle_timeout(self.now);
        }
        self.settle()
    }

    fn kinds(&mut self) -> Vec<(EventKind, u16, SubState)> {
        self.reports
            .drain(..)
            .map(|r| (r.kind, r.status, r.substate))
            .collect()
    }
}

#[test]
fn refreshes_for_hours_gets_state_changes_and_unsubscribes() {
    let mut w = World::new(60);
    let start = w.now;
    w.sub.subscribe(w.now, 600);
    let sent = w.settle();
    assert_eq!(sent.len(), 1);
    assert_eq!(
        w.kinds(),
        vec![
            (EventKind::RSubscribe, 200, SubState::Embryonic),
            (EventKind::INotify, 200, SubState::Active),
        ]
    );
    // Ten hours: the 600 s granted are refreshed every 300 s, each refresh
    // answered 200 and followed by a NOTIFY; the notifier never expires it.
    let mut refreshes = 0;
    while w.now < start + Duration::from_secs(36_000) {
        let sent = w.advance();
        for req in &sent {
            assert_eq!(req.to_tag(), Some("n1"));
            assert_eq!(req.header(HeaderName::Expires), Some("600"));
        }
        refreshes += sent.len();
    }
    assert_eq!(refreshes, 120);
    assert_eq!(w.notifier.len(), 1);
    let reports = w.kinds();
    assert!(
        reports
            .iter()
            .all(|r| r.1 == 200 && r.2 == SubState::Active)
    );
    assert_eq!(reports.len(), 240);

    // A state change: a NOTIFY with the new document.
    let pidf = Presence::pidf("sip:bob@198.51.100.1", true, Some("at work"));
    assert_eq!(
        w.notifier
            .set_state("presence", "bob@198.51.100.1", pidf.clone()),
        Ok(1)
    );
    w.now += Duration::from_secs(1);
    w.settle();
    let notify = w.reports.pop().unwrap();
    assert_eq!(notify.kind, EventKind::INotify);
    assert_eq!(notify.message.unwrap().body_bytes(), pidf.as_bytes());

    // Unsubscribed: 200, the final NOTIFY, nothing left on either side.
    w.sub.unsubscribe(w.now);
    w.settle();
    assert_eq!(
        w.kinds(),
        vec![
            (EventKind::RUnsubscribe, 200, SubState::Active),
            (EventKind::INotify, 200, SubState::Terminated),
        ]
    );
    assert!(w.notifier.is_empty());
    assert_eq!(w.sub.poll_timeout(), None);
    assert!(!w.sub.is_live());
}

#[test]
fn too_brief_an_expiry_is_raised_to_the_notifiers_minimum() {
    let mut w = World::new(120);
    w.sub.subscribe(w.now, 30);
    let sent = w.settle();
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[1].header(HeaderName::Expires), Some("120"));
    assert_eq!(w.sub.granted(), Some(120));
    assert_eq!(
        w.kinds()[0],
        (EventKind::RSubscribe, 200, SubState::Embryonic)
    );
    // 120 s: refreshed after 75 s.
    let t = w.now;
    let sent = w.advance();
    assert_eq!(sent.len(), 1);
    assert_eq!(w.now, t + Duration::from_secs(75));
}

#[test]
fn a_notifier_that_gets_no_refresh_ends_it_and_the_subscriber_comes_back() {
    let mut w = World::new(60);
    w.sub.subscribe(w.now, 600);
    w.settle();
    w.kinds();
    // The notifier's subscription expires (its clock 601 s on, the
    // subscriber's refresh lost): a final NOTIFY with reason=timeout, and
    // the subscriber subscribes again at once (RFC 6665 §4.1.3).
    w.now += Duration::from_secs(601);
    w.notifier.handle_timeout(w.now);
    assert!(w.settle().is_empty());
    assert_eq!(
        w.kinds(),
        vec![(EventKind::INotify, 200, SubState::Terminated)]
    );
    assert_eq!(w.notifier.len(), 0);
    assert_eq!(w.sub.poll_timeout(), Some(w.now));
    let sent = w.advance();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].to_tag(), None);
    assert_eq!(
        w.kinds(),
        vec![
            (EventKind::RSubscribe, 200, SubState::Embryonic),
            (EventKind::INotify, 200, SubState::Active),
        ]
    );
    assert_eq!(w.notifier.len(), 1);
}
