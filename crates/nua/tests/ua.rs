//! Two user agents and a small registrar on 127.0.0.1, over real UDP.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use sofia_iptsec::{AuthModule, Config as AuthConfig, MemoryStore};
use sofia_msg::headers::Contact;
use sofia_msg::{HeaderName, Message, Method, RequestBuilder, ResponseBuilder};
use sofia_nta::{Agent, ClientEvent, Config as NtaConfig};
use sofia_nua::{Config, Credentials, Event, EventKind, Nua};
use sofia_tport::{Destination, Tport, Transport};
use tokio::sync::mpsc;

/// What the test registrar saw.
#[derive(Debug, Default)]
struct Seen {
    /// Contacts bound, by URI.
    bindings: HashMap<String, u32>,
    /// Accepted REGISTERs that bound something.
    registrations: u32,
    /// 423 answers given.
    too_brief: u32,
    /// MESSAGE bodies accepted.
    messages: Vec<String>,
}

/// A registrar that challenges every request with digest (user alice,
/// password secret), answers REGISTER below 2 s with 423 and grants at most
/// 2 s, and answers an authenticated MESSAGE 200.
async fn registrar() -> (SocketAddr, Arc<Mutex<Seen>>, Agent) {
    registrar_seeing(None).await
}

/// The registrar; with `received`, its answers to REGISTER say it saw the
/// request come from that address (a NAT in between).
async fn registrar_seeing(received: Option<&'static str>) -> (SocketAddr, Arc<Mutex<Seen>>, Agent) {
    let (tport, incoming) = Tport::bind(sofia_tport::Config::new(["sip:127.0.0.1:0"]))
        .await
        .unwrap();
    let addr = tport.local_addr(Transport::Udp).unwrap();
    let (agent, mut requests, _others) = Agent::new(tport, incoming, NtaConfig::default());
    let seen = Arc::new(Mutex::new(Seen::default()));
    let mut store = MemoryStore::new();
    store.add_password("alice", None, "secret");
    let mut auth = AuthModule::new(AuthConfig::default(), store);
    let (a, s) = (agent.clone(), seen.clone());
    tokio::spawn(async move {
        while let Some(req) = requests.recv().await {
            let msg = &req.msg;
            if msg.method() == Method::Ack {
                continue;
            }
            let verdict = auth.verify(SystemTime::now(), req.source.remote.ip(), msg);
            let resp = match verdict.response(msg, Some("reg")) {
                Some(r) => r.unwrap(),
                None => answer(msg, &mut s.lock().unwrap()),
            };
            let resp = match received {
                Some(addr) if msg.method() == Method::Register => behind_nat(&resp, addr),
                _ => resp,
            };
            a.respond(req.server, resp).unwrap();
        }
    });
    (addr, seen, agent)
}

/// The response with its top Via's `received` set to `addr`.
fn behind_nat(resp: &Message, addr: &str) -> Message {
    let text = String::from_utf8(resp.as_bytes().to_vec()).unwrap();
    let mut lines: Vec<String> = text.split("\r\n").map(str::to_string).collect();
    let via = lines.iter_mut().find(|l| l.starts_with("Via:")).unwrap();
    *via = match via.find(";received=") {
        Some(at) => {
            let rest = &via[at + 1..];
            let end = rest.find(';').map_or(via.len(), |e| at + 1 + e);
            format!("{};received={addr}{}", &via[..at], &via[end..])
        }
        None => format!("{via};received={addr}"),
    };
    Message::parse(bytes::Bytes::from(lines.join("\r\n"))).unwrap()
}

fn answer(msg: &Message, seen: &mut Seen) -> Message {
    if msg.method() == Method::Message {
        seen.messages
            .push(String::from_utf8_lossy(msg.body_bytes()).into_owned());
        return ResponseBuilder::reply_to(msg, 200, "OK", Some("reg"))
            .build()
            .unwrap();
    }
    let default = msg
        .header(HeaderName::Expires)
        .and_then(|e| e.trim().parse().ok())
        .unwrap_or(3600);
    let mut bound = false;
    for c in msg.typed_all::<Contact>() {
        match c.unwrap() {
            Contact::Star => seen.bindings.clear(),
            Contact::Addr(a) => {
                let expires = a.expires().unwrap_or(default);
                if expires == 0 {
                    seen.bindings.remove(a.uri().as_str());
                } else if expires < 2 {
                    seen.too_brief += 1;
                    return ResponseBuilder::reply_to(msg, 423, "Interval Too Brief", Some("reg"))
                        .header(HeaderName::MinExpires, "2")
                        .build()
                        .unwrap();
                } else {
                    seen.bindings.insert(a.uri().as_str().to_string(), 2);
                    bound = true;
                }
            }
        }
    }
    if bound {
        seen.registrations += 1;
    }
    let listed: Vec<String> = seen
        .bindings
        .iter()
        .map(|(uri, e)| format!("<{uri}>;expires={e}"))
        .collect();
    let b = ResponseBuilder::reply_to(msg, 200, "OK", Some("reg"));
    if listed.is_empty() {
        b
    } else {
        b.header(HeaderName::Contact, &listed.join(", "))
    }
    .build()
    .unwrap()
}

async fn ua(password: Option<&str>) -> (Nua, mpsc::Receiver<Event>, SocketAddr) {
    let config = Config {
        credentials: password
            .map(|p| vec![Credentials::new("alice", p)])
            .unwrap_or_default(),
        ..Config::default()
    };
    let (nua, events) = Nua::new(config).await.unwrap();
    let addr = nua
        .listeners()
        .iter()
        .find(|(t, _)| *t == Transport::Udp)
        .unwrap()
        .1;
    (nua, events, addr)
}

/// The next event, which must be of `kind`.
async fn expect(events: &mut mpsc::Receiver<Event>, kind: EventKind) -> Event {
    let ev = tokio::time::timeout(Duration::from_secs(5), events.recv())
        .await
        .expect("no event within 5 s")
        .expect("event stream ended");
    assert_eq!(ev.kind, kind, "unexpected event {ev}");
    ev
}

#[tokio::test]
async fn register_with_digest_refresh_and_unregister() {
    let (registrar, seen, _agent) = registrar().await;
    let (nua, mut events, local) = ua(Some("secret")).await;
    let h = nua.handle(&format!("sip:alice@{registrar}")).unwrap();
    // 1 s is too brief: the registrar's 423 makes it 2 s.
    h.register(Some(1)).unwrap();
    let ev = expect(&mut events, EventKind::RRegister).await;
    assert_eq!((ev.status, ev.phrase.as_str()), (200, "OK"));
    assert_eq!(ev.handle, h.id());
    let contact = format!("sip:alice@{local}");
    let resp = ev.message.unwrap();
    assert!(resp.header(HeaderName::Contact).unwrap().contains(&contact));
    {
        let s = seen.lock().unwrap();
        assert_eq!(s.too_brief, 1);
        assert_eq!(s.registrations, 1);
        assert_eq!(s.bindings.get(&contact), Some(&2));
    }
    // Granted 2 s: refreshed after 1 s, without another command.
    let ev = expect(&mut events, EventKind::RRegister).await;
    assert_eq!(ev.status, 200);
    assert_eq!(seen.lock().unwrap().registrations, 2);
    h.unregister().unwrap();
    let ev = expect(&mut events, EventKind::RUnregister).await;
    assert_eq!(ev.status, 200);
    assert!(seen.lock().unwrap().bindings.is_empty());
    nua.shutdown();
}

#[tokio::test]
async fn contact_follows_the_address_the_registrar_sees() {
    let (registrar, seen, _agent) = registrar_seeing(Some("192.0.2.77")).await;
    let (nua, mut events, local) = ua(Some("secret")).await;
    let h = nua.handle(&format!("sip:alice@{registrar}")).unwrap();
    h.register(Some(60)).unwrap();
    // The first 2xx, for the contact with our own address...
    assert_eq!(expect(&mut events, EventKind::RRegister).await.status, 200);
    // ...then the one for the contact as the registrar sees us.
    let ev = expect(&mut events, EventKind::RRegister).await;
    assert_eq!(ev.status, 200);
    let natted = format!("sip:alice@192.0.2.77:{}", local.port());
    let bound: Vec<String> = seen.lock().unwrap().bindings.keys().cloned().collect();
    assert_eq!(bound, vec![natted]);
    // Nothing further is sent: the contact now matches what it sees.
    let more = tokio::time::timeout(Duration::from_millis(300), events.recv()).await;
    assert!(more.is_err(), "unexpected event {more:?}");
    assert_eq!(seen.lock().unwrap().registrations, 2);
}

#[tokio::test]
async fn wrong_password_is_reported() {
    let (registrar, seen, _agent) = registrar().await;
    let (_nua, mut events, _) = ua(Some("wrong")).await;
    let h = _nua.handle(&format!("sip:alice@{registrar}")).unwrap();
    h.register(Some(60)).unwrap();
    let ev = expect(&mut events, EventKind::RRegister).await;
    assert!(matches!(ev.status, 401 | 403), "{ev}");
    assert!(seen.lock().unwrap().bindings.is_empty());
}

#[tokio::test]
async fn missing_credentials_are_reported() {
    let (registrar, _seen, _agent) = registrar().await;
    let (nua, mut events, _) = ua(None).await;
    nua.handle(&format!("sip:alice@{registrar}"))
        .unwrap()
        .register(None)
        .unwrap();
    let ev = expect(&mut events, EventKind::RRegister).await;
    assert_eq!(ev.status, 401);
}

#[tokio::test]
async fn unregister_all_sends_star() {
    let (registrar, seen, _agent) = registrar().await;
    let (nua, mut events, _) = ua(Some("secret")).await;
    let h = nua.handle(&format!("sip:alice@{registrar}")).unwrap();
    h.register(Some(60)).unwrap();
    assert_eq!(expect(&mut events, EventKind::RRegister).await.status, 200);
    seen.lock()
        .unwrap()
        .bindings
        .insert("sip:other@192.0.2.9".into(), 2);
    h.unregister_all().unwrap();
    assert_eq!(
        expect(&mut events, EventKind::RUnregister).await.status,
        200
    );
    assert!(seen.lock().unwrap().bindings.is_empty());
}

#[tokio::test]
async fn message_between_two_user_agents() {
    let (a, mut a_events, _) = ua(None).await;
    let (_b, mut b_events, b_addr) = ua(None).await;
    a.handle(&format!("sip:bob@{b_addr}"))
        .unwrap()
        .message("text/plain", "hello bob")
        .unwrap();
    let ev = expect(&mut b_events, EventKind::IMessage).await;
    assert_eq!(ev.status, 200);
    let req = ev.message.unwrap();
    assert_eq!(req.body_bytes(), b"hello bob");
    assert_eq!(req.header(HeaderName::ContentType), Some("text/plain"));
    let ev = expect(&mut a_events, EventKind::RMessage).await;
    assert_eq!((ev.status, ev.phrase.as_str()), (200, "OK"));
}

#[tokio::test]
async fn message_answers_a_challenge() {
    let (server, seen, _agent) = registrar().await;
    let (a, mut events, _) = ua(Some("secret")).await;
    a.handle(&format!("sip:alice@{server}"))
        .unwrap()
        .message("text/plain", "hi")
        .unwrap();
    let ev = expect(&mut events, EventKind::RMessage).await;
    assert_eq!(ev.status, 200);
    assert_eq!(seen.lock().unwrap().messages, vec!["hi".to_string()]);
}

#[tokio::test]
async fn options_between_two_user_agents() {
    let (a, mut a_events, _) = ua(None).await;
    let (_b, mut b_events, b_addr) = ua(None).await;
    a.handle(&format!("sip:bob@{b_addr}"))
        .unwrap()
        .options()
        .unwrap();
    let ev = expect(&mut b_events, EventKind::IOptions).await;
    assert_eq!(ev.status, 200);
    let ev = expect(&mut a_events, EventKind::ROptions).await;
    assert_eq!(ev.status, 200);
    let resp = ev.message.unwrap();
    assert_eq!(resp.header(HeaderName::Allow), Some(sofia_nua::ALLOW));
    assert!(resp.has(HeaderName::Accept));
    assert!(resp.has(HeaderName::Supported));
}

#[tokio::test]
async fn other_methods_get_405_with_allow() {
    let (_b, _b_events, b_addr) = ua(None).await;
    let (_, _, agent) = registrar().await;
    let via = agent.via(Transport::Udp).unwrap();
    let req = RequestBuilder::new(Method::Subscribe, &format!("sip:bob@{b_addr}"))
        .header(HeaderName::Via, &via)
        .header(HeaderName::MaxForwards, "70")
        .header(HeaderName::From, "<sip:tester@127.0.0.1>;tag=x1")
        .header(HeaderName::To, &format!("<sip:bob@{b_addr}>"))
        .header(HeaderName::CallId, "sub-1")
        .header(HeaderName::CSeq, "1 SUBSCRIBE")
        .header(HeaderName::Event, "presence")
        .build()
        .unwrap();
    let mut rx = agent
        .request(req, Destination::new(Transport::Udp, b_addr))
        .unwrap();
    let resp = loop {
        match tokio::time::timeout(Duration::from_secs(5), rx.recv()).await {
            Ok(Some(ClientEvent::Response(m))) if m.status() >= Some(200) => break m,
            Ok(Some(ClientEvent::Response(_))) => continue,
            other => panic!("no final response: {other:?}"),
        }
    };
    assert_eq!(resp.status(), Some(405));
    assert_eq!(resp.header(HeaderName::Allow), Some(sofia_nua::ALLOW));
}

#[tokio::test]
async fn unreachable_peer_times_out_as_408() {
    let config = Config {
        timers: sofia_nta::Timers {
            t1: Duration::from_millis(10),
            t2: Duration::from_millis(40),
            ..sofia_nta::Timers::default()
        },
        ..Config::default()
    };
    let (nua, mut events) = Nua::new(config).await.unwrap();
    // A bound socket that never answers.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = silent.local_addr().unwrap();
    nua.handle(&format!("sip:nobody@{addr}"))
        .unwrap()
        .options()
        .unwrap();
    let ev = expect(&mut events, EventKind::ROptions).await;
    assert_eq!(ev.status, 408);
}
