//! Two engines over a simulated UDP network that loses 10 % of the packets
//! and reorders them (random delays): every transaction still completes, by
//! retransmission alone, in virtual time.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use sofia_msg::{HeaderName, Message, Method, RequestBuilder, ResponseBuilder};
use sofia_nta::{ClientId, Config, Endpoint, Event, ServerId};
use sofia_su::IdGenerator;
use sofia_tport::{Destination, Incoming, Transport};

const A: &str = "127.0.0.1:5060";
const B: &str = "127.0.0.1:5062";

struct Packet {
    at: Instant,
    to_b: bool,
    bytes: bytes::Bytes,
}

#[test]
fn every_transaction_completes_through_loss_and_reordering() {
    let a_addr: SocketAddr = A.parse().unwrap();
    let b_addr: SocketAddr = B.parse().unwrap();
    let mut a = Endpoint::new(Config {
        seed: Some(11),
        ..Config::default()
    });
    let mut b = Endpoint::new(Config {
        seed: Some(12),
        ..Config::default()
    });
    let mut rng = IdGenerator::with_seed(99);
    let t0 = Instant::now();
    let mut now = t0;
    let mut net: Vec<Packet> = Vec::new();
    let mut pending_answers: Vec<(Instant, ServerId, Message)> = Vec::new();
    let mut finals: HashMap<ClientId, u16> = HashMap::new();
    let mut timeouts: HashSet<ClientId> = HashSet::new();
    let (mut lost, mut delivered) = (0u32, 0u32);
    let mut no_ack = 0u32;

    // 100 OPTIONS and 50 INVITEs (answered 486, so the ACK is the
    // transaction's), started 20 ms apart.
    let mut starts: Vec<(Instant, Method, usize)> = (0..150)
        .map(|i| {
            let m = if i % 3 == 2 {
                Method::Invite
            } else {
                Method::Options
            };
            (t0 + Duration::from_millis(20 * i as u64), m, i)
        })
        .collect();
    starts.reverse();
    let mut clients = Vec::new();

    let deadline = t0 + Duration::from_secs(120);
    while now < deadline {
        // Start due transactions.
        while starts.last().is_some_and(|s| s.0 <= now) {
            let (_, method, i) = starts.pop().unwrap();
            let branch = a.new_branch();
            let req = RequestBuilder::new(method, "sip:bob@127.0.0.1:5062")
                .header(HeaderName::Via, &format!("SIP/2.0/UDP {A};branch={branch}"))
                .header(HeaderName::MaxForwards, "70")
                .header(HeaderName::From, &format!("<sip:alice@127.0.0.1>;tag=f{i}"))
                .header(HeaderName::To, "<sip:bob@127.0.0.1>")
                .header(HeaderName::CallId, &format!("lossy-{i}"))
                .header(HeaderName::CSeq, &format!("1 {}", method.as_str()))
                .build()
                .unwrap();
            let id = a
                .send_request(now, req, Destination::new(Transport::Udp, b_addr))
                .unwrap();
            clients.push(id);
        }
        // The server's user answers 50 ms after a request.
        let (due, later): (Vec<_>, Vec<_>) = pending_answers.drain(..).partition(|p| p.0 <= now);
        pending_answers = later;
        for (_, server, req) in due {
            let status = if req.method() == Method::Invite {
                486
            } else {
                200
            };
            let resp = ResponseBuilder::reply_to(&req, status, "Answer", Some("srv"))
                .build()
                .unwrap();
            b.respond(now, server, resp).unwrap();
        }
        // Timers.
        a.handle_timeout(now);
        b.handle_timeout(now);
        // Into the network: 10 % lost, the rest delayed 1..100 ms.
        for (ep, to_b) in [(&mut a, true), (&mut b, false)] {
            while let Some(t) = ep.poll_transmit() {
                if rng.u64().is_multiple_of(10) {
                    lost += 1;
                    continue;
                }
                let delay = Duration::from_millis(1 + rng.u64() % 100);
                net.push(Packet {
                    at: now + delay,
                    to_b,
                    bytes: t.bytes,
                });
            }
        }
        // Out of the network, in delivery-time order (so reordered).
        net.sort_by_key(|p| p.at);
        while net.first().is_some_and(|p| p.at <= now) {
            let p = net.remove(0);
            delivered += 1;
            let msg = Message::parse(p.bytes).unwrap();
            let (ep, remote, local) = if p.to_b {
                (&mut b, a_addr, b_addr)
            } else {
                (&mut a, b_addr, a_addr)
            };
            ep.handle(
                now,
                Incoming {
                    msg,
                    transport: Transport::Udp,
                    remote,
                    local,
                    conn: None,
                    oversized: None,
                },
            );
        }
        // Events.
        while let Some(e) = b.poll_event() {
            match e {
                Event::Request { server, msg, .. } => {
                    pending_answers.push((now + Duration::from_millis(50), server, msg));
                }
                Event::NoAck { .. } => no_ack += 1,
                _ => {}
            }
        }
        while let Some(e) = a.poll_event() {
            match e {
                Event::Response { client, msg } if msg.status().unwrap_or(0) >= 200 => {
                    finals.insert(client, msg.status().unwrap_or(0));
                }
                Event::Timeout { client } => {
                    timeouts.insert(client);
                }
                _ => {}
            }
        }
        if starts.is_empty()
            && finals.len() == clients.len()
            && net.is_empty()
            && a.transactions() == (0, 0)
            && b.transactions() == (0, 0)
        {
            break;
        }
        // Advance the virtual clock to the next thing that happens.
        let next = [
            a.poll_timeout(),
            b.poll_timeout(),
            net.iter().map(|p| p.at).min(),
            pending_answers.iter().map(|p| p.0).min(),
            starts.last().map(|s| s.0),
        ]
        .into_iter()
        .flatten()
        .min();
        match next {
            Some(t) => now = t.max(now),
            None => break,
        }
    }
    assert!(lost > 0 && delivered > 0);
    assert!(timeouts.is_empty(), "timed out: {timeouts:?}");
    assert_eq!(finals.len(), 150, "completed {} of 150", finals.len());
    assert_eq!(finals.values().filter(|s| **s == 486).count(), 50);
    assert_eq!(finals.values().filter(|s| **s == 200).count(), 100);
    // Every INVITE server transaction got its ACK (none reported timer H).
    assert_eq!(no_ack, 0);
}
