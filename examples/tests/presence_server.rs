//! `presence-server` on 127.0.0.1: subscribers (nta agents) get the states
//! written to its standard input, and a final NOTIFY when it is stopped.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc as std_mpsc;
use std::time::Duration;

use sofia_msg::{HeaderName, Message, Method, RequestBuilder, ResponseBuilder};
use sofia_nta::{Agent, ClientEvent, ServerRequest};
use sofia_tport::{Destination, Tport, Transport};
use tokio::sync::mpsc;
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(5);

/// The program, its standard output line by line, killed when dropped.
struct Program {
    child: Child,
    port: u16,
    lines: std_mpsc::Receiver<String>,
}

impl Program {
    fn start() -> Program {
        let mut child = Command::new(env!("CARGO_BIN_EXE_presence-server"))
            .args(["--bind", "sip:127.0.0.1:0", "--min-expires", "1"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let out = BufReader::new(child.stdout.take().unwrap());
        let (tx, lines) = std_mpsc::channel();
        std::thread::spawn(move || {
            for line in out.lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let first = lines.recv_timeout(WAIT).unwrap();
        assert!(first.starts_with("listening on udp/127.0.0.1:"), "{first}");
        let port = first.rsplit(':').next().unwrap().parse().unwrap();
        assert!(
            lines
                .recv_timeout(WAIT)
                .unwrap()
                .starts_with("listening on tcp/")
        );
        Program { child, port, lines }
    }

    fn say(&mut self, line: &str) {
        let stdin = self.child.stdin.as_mut().unwrap();
        writeln!(stdin, "{line}").unwrap();
        stdin.flush().unwrap();
    }

    fn line(&self) -> String {
        self.lines.recv_timeout(WAIT).expect("a line of output")
    }

    fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }
}

impl Drop for Program {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One subscription's subscriber.
struct Subscriber {
    agent: Agent,
    requests: mpsc::UnboundedReceiver<ServerRequest>,
    local: SocketAddr,
    server: SocketAddr,
    call_id: String,
    from_tag: String,
    to_tag: Option<String>,
    cseq: u32,
}

impl Subscriber {
    async fn new(server: SocketAddr) -> Subscriber {
        let (tport, incoming) =
            Tport::bind(sofia_tport::Config::new(["sip:127.0.0.1:0;transport=udp"]))
                .await
                .unwrap();
        let local = tport.local_addr(Transport::Udp).unwrap();
        let (agent, requests, _) = Agent::new(tport, incoming, sofia_nta::Config::default());
        Subscriber {
            call_id: agent.tag(),
            from_tag: agent.tag(),
            agent,
            requests,
            local,
            server,
            to_tag: None,
            cseq: 0,
        }
    }

    /// SUBSCRIBE (in the dialog once made); the final status.
    async fn subscribe(&mut self, user: &str, event: &str, expires: u32) -> u16 {
        self.cseq += 1;
        let to = match &self.to_tag {
            Some(t) => format!("<sip:{user}@127.0.0.1>;tag={t}"),
            None => format!("<sip:{user}@127.0.0.1>"),
        };
        let req = RequestBuilder::new(Method::Subscribe, &format!("sip:{user}@{}", self.server))
            .header(HeaderName::Via, &self.agent.via(Transport::Udp).unwrap())
            .header(HeaderName::MaxForwards, "70")
            .header(
                HeaderName::From,
                &format!("<sip:bob@127.0.0.1>;tag={}", self.from_tag),
            )
            .header(HeaderName::To, &to)
            .header(HeaderName::CallId, &self.call_id)
            .header(HeaderName::CSeq, &format!("{} SUBSCRIBE", self.cseq))
            .header(HeaderName::Contact, &format!("<sip:bob@{}>", self.local))
            .header(HeaderName::Event, event)
            .header(HeaderName::Expires, &expires.to_string())
            .build()
            .unwrap();
        let mut rx = self
            .agent
            .request(req, Destination::new(Transport::Udp, self.server))
            .unwrap();
        loop {
            match timeout(WAIT, rx.recv()).await.unwrap() {
                Some(ClientEvent::Response(r)) if r.status().unwrap() >= 200 => {
                    if self.to_tag.is_none() && r.status() == Some(200) {
                        self.to_tag = r.to_tag().map(str::to_string);
                    }
                    return r.status().unwrap();
                }
                Some(ClientEvent::Response(_)) => {}
                other => panic!("no final response: {other:?}"),
            }
        }
    }

    /// The next NOTIFY, answered 200: (Subscription-State, body).
    async fn notify(&mut self) -> (String, String) {
        let req = timeout(WAIT, self.requests.recv())
            .await
            .expect("a NOTIFY in time")
            .unwrap();
        let msg: &Message = &req.msg;
        assert_eq!(msg.method(), Method::Notify);
        assert_eq!(msg.call_id(), Some(self.call_id.as_str()));
        assert_eq!(msg.from_tag(), self.to_tag.as_deref());
        let ok = ResponseBuilder::reply_to(msg, 200, "OK", None)
            .build()
            .unwrap();
        self.agent.respond(req.server, ok).unwrap();
        (
            msg.header(HeaderName::SubscriptionState)
                .unwrap()
                .to_string(),
            String::from_utf8_lossy(msg.body_bytes()).into_owned(),
        )
    }
}

#[tokio::test]
async fn stdin_states_reach_subscribers_and_sigterm_ends_them() {
    let mut p = Program::start();
    let mut bob = Subscriber::new(p.addr()).await;
    assert_eq!(bob.subscribe("alice", "presence", 600).await, 200);
    let (state, body) = bob.notify().await;
    assert_eq!(state, "active;expires=600");
    assert!(body.contains("<basic>closed</basic>"), "{body}");
    assert!(body.contains("entity=\"sip:alice@127.0.0.1\""), "{body}");
    assert_eq!(
        p.line(),
        "subscribed #1 sip:bob@127.0.0.1 to presence of alice (active)"
    );

    p.say("alice open at lunch & back at 2");
    let (_, body) = bob.notify().await;
    assert!(
        body.contains("<basic>open</basic></status><note>at lunch &amp; back at 2</note>"),
        "{body}"
    );
    assert_eq!(p.line(), "alice: open, 1 notified");

    // Bad lines are skipped with an error on stderr.
    p.say("alice maybe");
    p.say("alice@example.com open");
    p.say("alice closed");
    assert_eq!(p.line(), "alice: closed, 1 notified");
    let (_, body) = bob.notify().await;
    assert!(body.contains("<basic>closed</basic>"), "{body}");

    // message-summary, and an unsubscribe.
    let mut mwi = Subscriber::new(p.addr()).await;
    assert_eq!(mwi.subscribe("1000", "message-summary", 600).await, 200);
    assert!(mwi.notify().await.1.starts_with("Messages-Waiting: no"));
    p.line();
    p.say("1000 messages 2 1");
    let (_, body) = mwi.notify().await;
    assert!(body.contains("Voice-Message: 2/1"), "{body}");
    assert_eq!(mwi.subscribe("1000", "message-summary", 0).await, 200);
    assert_eq!(mwi.notify().await.0, "terminated");

    // The end of standard input changes nothing.
    drop(p.child.stdin.take());
    let mut carol = Subscriber::new(p.addr()).await;
    assert_eq!(carol.subscribe("alice", "presence", 600).await, 200);
    assert!(carol.notify().await.1.contains("<basic>closed</basic>"));

    // SIGTERM: final NOTIFYs, then exit 0.
    let killed = Command::new("kill")
        .args(["-TERM", &p.child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    assert_eq!(bob.notify().await.0, "terminated;reason=deactivated");
    assert_eq!(carol.notify().await.0, "terminated;reason=deactivated");
    // Waited for without blocking the runtime, which still has to send the
    // subscribers' answers to the final NOTIFYs.
    let status = timeout(WAIT, async {
        loop {
            if let Some(status) = p.child.try_wait().unwrap() {
                return status;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("presence-server exits");
    assert!(status.success(), "{status}");
    let mut rest = Vec::new();
    while let Ok(line) = p.lines.recv_timeout(WAIT) {
        rest.push(line);
    }
    assert_eq!(
        rest.last().map(String::as_str),
        Some("stopped, 2 subscriptions terminated"),
        "{rest:?}"
    );
    let mut err = String::new();
    p.child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(
        err.contains("presence-server: stdin line 2: \"maybe\": expected open, closed or messages"),
        "{err}"
    );
    assert!(
        err.contains("presence-server: stdin line 3: \"alice@example.com\" is not a user name"),
        "{err}"
    );
}

#[test]
fn usage_and_bind_errors() {
    let out = Command::new(env!("CARGO_BIN_EXE_presence-server"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("<user> open|closed [note]"));
    let out = Command::new(env!("CARGO_BIN_EXE_presence-server"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = Command::new(env!("CARGO_BIN_EXE_presence-server"))
        .args(["--bind", "sip:256.0.0.1:5060"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("presence-server: bad bind name"), "{err}");
}

/// The next events of the two kinds, in whichever order they come (a
/// NOTIFY may overtake the response to its SUBSCRIBE, as RFC 6665 allows);
/// others are skipped.
async fn both(
    events: &mut mpsc::Receiver<sofia_nua::Event>,
    first: sofia_nua::EventKind,
    second: sofia_nua::EventKind,
) -> (sofia_nua::Event, sofia_nua::Event) {
    let (mut a, mut b) = (None, None);
    while a.is_none() || b.is_none() {
        let ev = timeout(WAIT, events.recv())
            .await
            .expect("an event in time")
            .expect("the user agent runs");
        if ev.kind == first && a.is_none() {
            a = Some(ev);
        } else if ev.kind == second && b.is_none() {
            b = Some(ev);
        }
    }
    (a.unwrap(), b.unwrap())
}

fn body(ev: &sofia_nua::Event) -> String {
    String::from_utf8_lossy(ev.message.as_ref().unwrap().body_bytes()).into_owned()
}

#[tokio::test]
async fn a_sofia_nua_subscriber_follows_the_state() {
    use sofia_nua::{EventKind, Nua, SubState};
    let mut p = Program::start();
    let (nua, mut events) = Nua::new(sofia_nua::Config::default()).await.unwrap();
    let bob = nua
        .handle(&format!("sip:alice@127.0.0.1:{}", p.port))
        .unwrap();
    bob.subscribe("presence", Some("application/pidf+xml"), Some(600))
        .unwrap();
    let (r, n) = both(&mut events, EventKind::RSubscribe, EventKind::INotify).await;
    assert_eq!(r.status, 200);
    assert_eq!(n.substate, Some(SubState::Active));
    assert!(body(&n).contains("<basic>closed</basic>"), "{}", body(&n));
    assert!(p.line().starts_with("subscribed #1 "));

    p.say("alice open on the phone");
    let n = timeout(WAIT, events.recv()).await.unwrap().unwrap();
    assert_eq!(n.kind, EventKind::INotify);
    assert_eq!(n.substate, Some(SubState::Active));
    assert!(
        body(&n).contains("<note>on the phone</note>"),
        "{}",
        body(&n)
    );

    bob.unsubscribe().unwrap();
    let (r, n) = both(&mut events, EventKind::RUnsubscribe, EventKind::INotify).await;
    assert_eq!(r.status, 200);
    assert_eq!(n.substate, Some(SubState::Terminated));
    assert_eq!(
        n.message
            .as_ref()
            .unwrap()
            .header(HeaderName::SubscriptionState),
        Some("terminated")
    );
}
