//! Two sans-IO [`Call`]s wired to each other in virtual time: the timers of
//! RFC 4028 (session timers) and RFC 3262 (reliable provisional responses)
//! without waiting for them.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use sofia_iptsec::AuthClient;
use sofia_msg::{Message, Method};
use sofia_nta::{ServerId, Timers};
use sofia_nua::call::{CallOutput, CallParams, Purpose};
use sofia_nua::{Call, CallState, default_media};
use sofia_soa::Session;
use sofia_su::IdGenerator;
use sofia_tport::Transport;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Side {
    A,
    B,
}

impl Side {
    fn other(self) -> Side {
        match self {
            Side::A => Side::B,
            Side::B => Side::A,
        }
    }
}

fn params(side: Side) -> CallParams {
    let (user, port) = match side {
        Side::A => ("alice", 5060),
        Side::B => ("bob", 5070),
    };
    CallParams {
        local_uri: format!("sip:{user}@127.0.0.1:{port}"),
        remote_uri: "sip:bob@127.0.0.1:5070".to_string(),
        contact: format!("sip:{user}@127.0.0.1:{port}"),
        user_agent: "test".to_string(),
        listeners: vec![(Transport::Udp, format!("127.0.0.1:{port}").parse().unwrap())],
        timers: Timers::default(),
        reliable_provisionals: false,
        session_expires: None,
        min_se: 90,
    }
}

/// Decides which messages the network loses.
type Loss = Box<dyn FnMut(Side, &Message) -> bool>;

/// Two calls and the messages between them; `drop` decides which
/// messages are lost.
struct Net {
    now: Instant,
    a: Call,
    b: Option<Call>,
    b_params: CallParams,
    /// Server transaction -> (the requesting side, what the request is for).
    servers: HashMap<ServerId, (Side, Purpose)>,
    next_server: u64,
    /// What each side reported: `"A r_invite 180"`, `"B i_state ready"`.
    log: Vec<String>,
    /// Every message sent: `"A->B INVITE"`, `"B->A 180"`.
    wire: Vec<String>,
    drop: Loss,
}

impl Net {
    fn new(a: CallParams, b: CallParams) -> Net {
        let caps = default_media("127.0.0.1".parse().unwrap());
        let call = Call::outgoing(
            a,
            Session::new(caps, 1),
            AuthClient::new(),
            IdGenerator::with_seed(1),
            false,
        );
        let mut net = Net {
            now: Instant::now(),
            a: call,
            b: None,
            b_params: b,
            servers: HashMap::new(),
            next_server: 1,
            log: Vec::new(),
            wire: Vec::new(),
            drop: Box::new(|_, _| false),
        };
        net.pump();
        net
    }

    fn call(&mut self, side: Side) -> &mut Call {
        match side {
            Side::A => &mut self.a,
            Side::B => self.b.as_mut().expect("B has a call"),
        }
    }

    fn pump(&mut self) {
        loop {
            let mut moved = false;
            for side in [Side::A, Side::B] {
                if side == Side::B && self.b.is_none() {
                    continue;
                }
                while let Some(out) = self.call(side).poll_output() {
                    moved = true;
                    self.deliver(side, out);
                }
            }
            if !moved {
                return;
            }
        }
    }

    fn deliver(&mut self, from: Side, out: CallOutput) {
        let now = self.now;
        let to = from.other();
        match out {
            CallOutput::Request { purpose, msg, .. } => {
                self.wire
                    .push(format!("{from:?}->{to:?} {}", msg.method_str()));
                if (self.drop)(from, &msg) {
                    return;
                }
                let server = ServerId(self.next_server);
                self.next_server += 1;
                self.servers.insert(server, (from, purpose));
                // An INVITE without a To tag is a new call at B.
                if msg.method() == Method::Invite && msg.to_tag().is_none() {
                    let caps = default_media("127.0.0.1".parse().unwrap());
                    self.b = Some(Call::incoming(
                        self.b_params.clone(),
                        Session::new(caps, 2),
                        AuthClient::new(),
                        IdGenerator::with_seed(2),
                        server,
                        msg,
                        false,
                    ));
                } else {
                    self.call(to).handle_request(now, server, msg);
                }
            }
            CallOutput::Respond { server, msg } => {
                self.wire
                    .push(format!("{from:?}->{to:?} {}", msg.status().unwrap_or(0)));
                if (self.drop)(from, &msg) {
                    return;
                }
                let (requester, purpose) = self.servers[&server];
                self.call(requester).handle_response(now, purpose, msg);
            }
            CallOutput::Ack { msg, .. } => {
                self.wire.push(format!("{from:?}->{to:?} ACK"));
                if (self.drop)(from, &msg) {
                    return;
                }
                self.call(to).handle_ack(now, msg);
            }
            CallOutput::Cancel => {
                self.wire.push(format!("{from:?}->{to:?} CANCEL"));
            }
            CallOutput::Event(e) => {
                let line = match e.state {
                    Some(s) => format!("{from:?} {} {s}", e.kind),
                    None => format!("{from:?} {} {}", e.kind, e.status),
                };
                self.log.push(line);
            }
            CallOutput::DialogAdded(_) | CallOutput::DialogRemoved(_) => {}
        }
    }

    /// Advances the clock to `at`, running each side's timers as they
    /// fall due.
    fn run_until(&mut self, at: Instant) {
        loop {
            let next = [
                self.a.poll_timeout(),
                self.b.as_ref().and_then(Call::poll_timeout),
            ]
            .into_iter()
            .flatten()
            .min();
            match next {
                Some(t) if t <= at => {
                    self.now = self.now.max(t);
                    let now = self.now;
                    self.a.handle_timeout(now);
                    if let Some(b) = self.b.as_mut() {
                        b.handle_timeout(now);
                    }
                    self.pump();
                }
                _ => break,
            }
        }
        self.now = at;
    }

    fn answer(&mut self, status: u16, phrase: &str) {
        let now = self.now;
        self.call(Side::B).respond(now, status, phrase).unwrap();
        self.pump();
    }

    fn count(&self, line: &str) -> usize {
        self.wire.iter().filter(|l| *l == line).count()
    }
}

#[test]
fn the_caller_refreshes_the_session_by_update_at_half_the_interval() {
    let a = CallParams {
        session_expires: Some(120),
        ..params(Side::A)
    };
    let mut net = Net::new(a, params(Side::B));
    net.answer(200, "OK");
    assert_eq!(net.a.state(), CallState::Ready);
    let start = net.now;
    // Refresh at 60 s (half of 120), again at 120 s, ...: the call lives on.
    net.run_until(start + Duration::from_secs(59));
    assert_eq!(net.count("A->B UPDATE"), 0);
    net.run_until(start + Duration::from_secs(61));
    assert_eq!(net.count("A->B UPDATE"), 1);
    net.run_until(start + Duration::from_secs(600));
    assert_eq!(net.count("A->B UPDATE"), 10);
    assert_eq!(net.a.state(), CallState::Ready);
    assert_eq!(net.call(Side::B).state(), CallState::Ready);
    assert_eq!(net.count("A->B BYE") + net.count("B->A BYE"), 0);
}

#[test]
fn a_session_not_refreshed_is_ended_with_bye() {
    let a = CallParams {
        session_expires: Some(120),
        ..params(Side::A)
    };
    let mut net = Net::new(a, params(Side::B));
    net.answer(200, "OK");
    // The caller's refreshes are lost: the callee sends BYE 32 s before the
    // interval ends (RFC 4028 §10), at 88 s.
    net.drop = Box::new(|from, msg| from == Side::A && msg.method() == Method::Update);
    let start = net.now;
    net.run_until(start + Duration::from_secs(87));
    assert_eq!(net.count("B->A BYE"), 0);
    net.run_until(start + Duration::from_secs(89));
    assert_eq!(net.count("B->A BYE"), 1);
    assert!(
        net.log.iter().any(|l| l == "B i_error 408"),
        "{:?}",
        net.log
    );
    assert_eq!(net.a.state(), CallState::Terminated);
}

#[test]
fn a_session_interval_below_min_se_gets_422_and_the_invite_is_sent_again() {
    let a = CallParams {
        session_expires: Some(100),
        ..params(Side::A)
    };
    let b = CallParams {
        min_se: 1800,
        ..params(Side::B)
    };
    let mut net = Net::new(a, b);
    // The first INVITE made B's call; it answered 422 and ended. A second
    // INVITE asks for 1800 s.
    assert_eq!(net.count("B->A 422"), 1);
    assert_eq!(net.count("A->B INVITE"), 2);
    assert!(
        net.log.iter().any(|l| l == "A r_invite 422"),
        "{:?}",
        net.log
    );
    assert_eq!(net.a.state(), CallState::Calling);
    assert_eq!(net.call(Side::B).state(), CallState::Received);
    net.answer(200, "OK");
    assert_eq!(net.a.state(), CallState::Ready);
}

#[test]
fn reliable_provisional_responses_are_pracked() {
    let a = CallParams {
        reliable_provisionals: true,
        ..params(Side::A)
    };
    let b = CallParams {
        reliable_provisionals: true,
        ..params(Side::B)
    };
    let mut net = Net::new(a, b);
    net.answer(180, "Ringing");
    net.answer(183, "Session Progress");
    assert_eq!(net.count("A->B PRACK"), 2);
    assert_eq!(net.count("B->A 200"), 2, "{:?}", net.wire);
    assert_eq!(
        net.log
            .iter()
            .filter(|l| l.as_str() == "B i_prack 200")
            .count(),
        2
    );
    assert_eq!(
        net.log
            .iter()
            .filter(|l| l.as_str() == "A r_prack 200")
            .count(),
        2
    );
    net.answer(200, "OK");
    assert_eq!(net.a.state(), CallState::Ready);
    // Nothing is retransmitted once acknowledged.
    let start = net.now;
    net.run_until(start + Duration::from_secs(40));
    assert_eq!(net.count("B->A 180"), 1);
}

#[test]
fn a_reliable_provisional_without_prack_is_retransmitted_then_504() {
    let a = CallParams {
        reliable_provisionals: true,
        ..params(Side::A)
    };
    let b = CallParams {
        reliable_provisionals: true,
        ..params(Side::B)
    };
    let mut net = Net::new(a, b);
    net.drop = Box::new(|from, msg| from == Side::A && msg.method() == Method::Prack);
    net.answer(180, "Ringing");
    let start = net.now;
    net.run_until(start + Duration::from_millis(3600));
    // T1 doubling: at 0.5, 1.5, 3.5 s (the first at 0).
    assert_eq!(net.count("B->A 180"), 4, "{:?}", net.wire);
    net.run_until(start + Duration::from_secs(33));
    assert_eq!(net.count("B->A 504"), 1);
    assert_eq!(net.call(Side::B).state(), CallState::Terminated);
    assert!(
        net.log.iter().any(|l| l == "A r_invite 504"),
        "{:?}",
        net.log
    );
}

#[test]
fn without_100rel_provisional_responses_are_unreliable() {
    let a = CallParams {
        reliable_provisionals: true,
        ..params(Side::A)
    };
    // B does not do 100rel: no RSeq, no PRACK.
    let mut net = Net::new(a, params(Side::B));
    net.answer(180, "Ringing");
    assert_eq!(net.count("A->B PRACK"), 0);
    net.answer(200, "OK");
    assert_eq!(net.a.state(), CallState::Ready);
    assert!(
        net.log.iter().any(|l| l == "A r_invite 180"),
        "{:?}",
        net.log
    );
}

#[test]
fn the_uas_retransmits_its_2xx_until_the_ack() {
    let mut net = Net::new(params(Side::A), params(Side::B));
    net.drop = Box::new(|from, msg| from == Side::A && msg.method() == Method::Ack);
    net.answer(200, "OK");
    let start = net.now;
    // 0.5, 1.5, 3.5, 7.5, 11.5, 15.5 ... (T1 doubling, capped at T2 = 4 s),
    // each ACKed by A again (and lost).
    net.run_until(start + Duration::from_millis(7600));
    assert_eq!(net.count("B->A 200"), 5, "{:?}", net.wire);
    assert_eq!(net.count("A->B ACK"), 5);
    // Let the ACKs through: the next retransmission's ACK stops them.
    net.drop = Box::new(|_, _| false);
    net.run_until(start + Duration::from_secs(12));
    assert_eq!(net.call(Side::B).state(), CallState::Ready);
    let before = net.count("B->A 200");
    net.run_until(start + Duration::from_secs(40));
    assert_eq!(net.count("B->A 200"), before);
    assert_eq!(net.count("B->A BYE"), 0);
}
