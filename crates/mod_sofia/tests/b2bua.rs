//! The signalling-only B2BUA ([`mod_sofia::b2bua::Bridge`]) driven sans-IO in
//! virtual time: the caller's INVITE and the legs' responses go in, and the
//! messages it would put on the wire are checked line by line (statuses, To
//! tags, CSeq, Via, bodies, headers), along with its timers (2xx
//! retransmission, ringing timeout), its failure mapping, digest retries,
//! CANCEL, BYE and in-dialog relaying, and a property test that random
//! event sequences never panic and leave nothing behind.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mod_sofia::b2bua::{
    Bridge, Hop, Incoming, LegPlan, Output, Plan, ProfileId, ProfileInfo, Report, TxId, cause_of,
    phrase, status_of,
};
use mod_sofia::dial::Vars;
use proptest::prelude::*;
use sofia_msg::{HeaderName, Message, Method, RequestBuilder, ResponseBuilder};
use sofia_nta::ServerId;
use sofia_tport::{Destination, Transport};

/// The profile callers reach (`internal`).
const PA: ProfileId = 1;
/// The profile legs go out on (`external`).
const PB: ProfileId = 2;

const T1: Duration = Duration::from_millis(500);
const T2: Duration = Duration::from_secs(4);

const CALLER: &str = "192.0.2.10:5060";
const CALLEE: &str = "192.0.2.20:5060";
const CALLER_CID: &str = "caller-call-1@192.0.2.10";
const CALLER_TAG: &str = "alice-tag";

const SDP_A: &str = "v=0\r\no=alice 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";
const SDP_A2: &str = "v=0\r\no=alice 1 2 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\na=sendonly\r\n";
const SDP_B: &str = "v=0\r\no=bob 7 7 IN IP4 192.0.2.20\r\ns=-\r\nc=IN IP4 192.0.2.20\r\nt=0 0\r\nm=audio 5000 RTP/AVP 0\r\n";
const SDP_B_EARLY: &str = "v=0\r\no=bob 7 6 IN IP4 192.0.2.20\r\ns=-\r\nc=IN IP4 192.0.2.20\r\nt=0 0\r\nm=audio 5002 RTP/AVP 0\r\n";
const SDP_B2: &str = "v=0\r\no=bob 7 8 IN IP4 192.0.2.20\r\ns=-\r\nc=IN IP4 192.0.2.20\r\nt=0 0\r\nm=audio 5000 RTP/AVP 0\r\na=recvonly\r\n";

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn caller_dest() -> Destination {
    Destination::new(Transport::Udp, sa(CALLER))
}

fn callee_dest() -> Destination {
    Destination::new(Transport::Udp, sa(CALLEE))
}

fn vars(pairs: &[(&str, &str)]) -> Vars {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A leg to `name` at the callee's address, over profile B.
fn leg(name: &str) -> LegPlan {
    LegPlan {
        profile: PB,
        request_uri: format!("sip:{name}@192.0.2.20:5060"),
        to: format!("sip:{name}@192.0.2.20"),
        from_user: "alice".into(),
        from_host: "10.0.0.1".into(),
        from_display: Some("Alice".into()),
        transport: Transport::Udp,
        hop: Hop::Fixed(callee_dest()),
        route: None,
        credentials: None,
        gateway: None,
        vars: Vars::new(),
    }
}

fn plan(groups: Vec<Vec<LegPlan>>) -> Plan {
    Plan {
        groups,
        vars: Vars::new(),
        gateway: None,
        refused: None,
    }
}

/// The caller's INVITE (CSeq 10) to 1000, with X- headers and an SDP
/// offer unless `body` is `None`.
fn caller_invite(body: Option<&str>) -> Message {
    caller_invite_mf(body, 70)
}

fn caller_invite_mf(body: Option<&str>, max_forwards: u8) -> Message {
    let mut b = RequestBuilder::new(Method::Invite, "sip:1000@10.0.0.1:5060")
        .header(
            HeaderName::Via,
            "SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-caller-1;rport",
        )
        .header(HeaderName::MaxForwards, &max_forwards.to_string())
        .header(
            HeaderName::From,
            &format!("\"Alice\" <sip:alice@192.0.2.10>;tag={CALLER_TAG}"),
        )
        .header(HeaderName::To, "<sip:1000@10.0.0.1>")
        .header(HeaderName::CallId, CALLER_CID)
        .header(HeaderName::CSeq, "10 INVITE")
        .header(HeaderName::Contact, "<sip:alice@192.0.2.10:5060>")
        .header_named("X-Account", "acme")
        .header_named("X-Overridden", "from-caller");
    if let Some(sdp) = body {
        b = b.body("application/sdp", sdp.to_string());
    }
    b.build().unwrap()
}

/// A response of the callee to `req` with To tag `tag` (a Contact on
/// 1xx/2xx) and an optional SDP body.
fn reply(req: &Message, status: u16, tag: &str, body: Option<&str>) -> Message {
    reply_with(req, status, tag, body, &[])
}

fn reply_with(
    req: &Message,
    status: u16,
    tag: &str,
    body: Option<&str>,
    extra: &[(&str, &str)],
) -> Message {
    let mut b = ResponseBuilder::reply_to(req, status, phrase(status), Some(tag));
    if (101..300).contains(&status) {
        b = b.header(HeaderName::Contact, "<sip:bob@192.0.2.20:5060>");
    }
    for (n, v) in extra {
        b = b.header_named(n, v);
    }
    if let Some(sdp) = body {
        b = b.body("application/sdp", sdp.to_string());
    }
    b.build().unwrap()
}

/// The caller's ACK for our 2xx `ok` to its INVITE.
fn caller_ack(ok: &Message, cseq: u32, body: Option<&str>) -> Message {
    let mut b = RequestBuilder::new(Method::Ack, "sip:1000@10.0.0.1:5060")
        .header(
            HeaderName::Via,
            &format!("SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-ack-{cseq}"),
        )
        .header(HeaderName::MaxForwards, "70")
        .header(HeaderName::From, ok.header(HeaderName::From).unwrap())
        .header(HeaderName::To, ok.header(HeaderName::To).unwrap())
        .header(HeaderName::CallId, ok.call_id().unwrap())
        .header(HeaderName::CSeq, &format!("{cseq} ACK"));
    if let Some(sdp) = body {
        b = b.body("application/sdp", sdp.to_string());
    }
    b.build().unwrap()
}

/// A request from the caller in its dialog with us (our tag `a_tag`).
fn caller_request(
    method: Method,
    a_tag: &str,
    cseq: u32,
    body: Option<(&str, &str)>,
    contact: Option<&str>,
) -> Message {
    let mut b = RequestBuilder::new(method, "sip:1000@10.0.0.1:5060")
        .header(
            HeaderName::Via,
            &format!(
                "SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-a-{}-{cseq}",
                method.as_str()
            ),
        )
        .header(HeaderName::MaxForwards, "70")
        .header(
            HeaderName::From,
            &format!("\"Alice\" <sip:alice@192.0.2.10>;tag={CALLER_TAG}"),
        )
        .header(HeaderName::To, &format!("<sip:1000@10.0.0.1>;tag={a_tag}"))
        .header(HeaderName::CallId, CALLER_CID)
        .header(HeaderName::CSeq, &format!("{cseq} {}", method.as_str()));
    if let Some(c) = contact {
        b = b.header(HeaderName::Contact, c);
    }
    if let Some((ct, body)) = body {
        b = b.body(ct, body.to_string());
    }
    b.build().unwrap()
}

/// A request from the callee in the dialog its 2xx (tag `b_tag`) made with
/// our leg INVITE `leg_invite`.
fn leg_request(
    method: Method,
    leg_invite: &Message,
    b_tag: &str,
    cseq: u32,
    body: Option<(&str, &str)>,
) -> Message {
    let to = leg_invite.header(HeaderName::From).unwrap();
    let from = format!("{};tag={b_tag}", leg_invite.header(HeaderName::To).unwrap());
    let uri = leg_invite
        .header(HeaderName::Contact)
        .unwrap()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .to_string();
    let mut b = RequestBuilder::new(method, &uri)
        .header(
            HeaderName::Via,
            &format!(
                "SIP/2.0/UDP 192.0.2.20:5060;branch=z9hG4bK-b-{}-{cseq}",
                method.as_str()
            ),
        )
        .header(HeaderName::MaxForwards, "70")
        .header(HeaderName::From, &from)
        .header(HeaderName::To, to)
        .header(HeaderName::CallId, leg_invite.call_id().unwrap())
        .header(HeaderName::CSeq, &format!("{cseq} {}", method.as_str()));
    if matches!(method, Method::Invite | Method::Update) {
        b = b.header(HeaderName::Contact, "<sip:bob@192.0.2.20:5060>");
    }
    if let Some((ct, body)) = body {
        b = b.body(ct, body.to_string());
    }
    b.build().unwrap()
}

/// What one step put out, by kind, in order.
#[derive(Debug, Default)]
struct Outs {
    responds: Vec<(ProfileId, ServerId, Message)>,
    sends: Vec<(TxId, ProfileId, Message, Hop)>,
    cancels: Vec<TxId>,
    forgets: Vec<TxId>,
    acks: Vec<(ProfileId, Message, Hop)>,
    reports: Vec<Report>,
}

impl Outs {
    fn is_empty(&self) -> bool {
        self.responds.is_empty()
            && self.sends.is_empty()
            && self.cancels.is_empty()
            && self.forgets.is_empty()
            && self.acks.is_empty()
            && self.reports.is_empty()
    }

    /// The only response; on server `server`.
    fn response(&self, server: ServerId) -> &Message {
        assert_eq!(self.responds.len(), 1, "responses: {:#?}", self.responds);
        assert_eq!(self.responds[0].1, server);
        &self.responds[0].2
    }

    /// The only request sent.
    fn send(&self) -> (TxId, &Message, &Hop) {
        assert_eq!(self.sends.len(), 1, "sends: {:#?}", self.sends);
        let (tx, _, m, h) = &self.sends[0];
        (*tx, m, h)
    }

    /// The only ACK.
    fn ack(&self) -> (&Message, &Hop) {
        assert_eq!(self.acks.len(), 1, "acks: {:#?}", self.acks);
        (&self.acks[0].1, &self.acks[0].2)
    }

    fn has_report(&self, r: &Report) -> bool {
        self.reports.contains(r)
    }
}

struct H {
    b: Bridge,
    start: Instant,
    now: Instant,
    next_server: u64,
}

impl H {
    fn new() -> H {
        let mut b = Bridge::new(7);
        b.set_profile(
            PA,
            ProfileInfo {
                name: "internal".into(),
                addrs: vec![
                    (Transport::Udp, sa("10.0.0.1:5060")),
                    (Transport::Tcp, sa("10.0.0.1:5060")),
                ],
                contact_host: None,
                user_agent: Some("sofia-rs-internal".into()),
            },
        );
        b.set_profile(
            PB,
            ProfileInfo {
                name: "external".into(),
                addrs: vec![(Transport::Udp, sa("10.0.0.1:5080"))],
                contact_host: Some("203.0.113.5".into()),
                user_agent: Some("sofia-rs-external".into()),
            },
        );
        let now = Instant::now();
        H {
            b,
            start: now,
            now,
            next_server: 100,
        }
    }

    fn server(&mut self) -> ServerId {
        self.next_server += 1;
        ServerId(self.next_server)
    }

    fn drain(&mut self) -> Outs {
        let mut o = Outs::default();
        while let Some(out) = self.b.poll_output() {
            match out {
                Output::Respond {
                    profile,
                    server,
                    msg,
                } => o.responds.push((profile, server, msg)),
                Output::Send {
                    tx,
                    profile,
                    msg,
                    hop,
                } => o.sends.push((tx, profile, msg, hop)),
                Output::Cancel { tx } => o.cancels.push(tx),
                Output::Forget { tx } => o.forgets.push(tx),
                Output::Ack { profile, msg, hop } => o.acks.push((profile, msg, hop)),
                Output::Report(r) => o.reports.push(r),
            }
        }
        o
    }

    /// A new call from the caller: its server transaction and what came out.
    fn invite(&mut self, msg: Message, plan: Plan) -> (ServerId, Outs) {
        self.invite_over(msg, plan, caller_dest())
    }

    fn invite_over(&mut self, msg: Message, plan: Plan, reply: Destination) -> (ServerId, Outs) {
        let server = self.server();
        self.b.on_invite(
            self.now,
            Incoming {
                profile: PA,
                server,
                msg,
                reply,
            },
            plan,
        );
        (server, self.drain())
    }

    fn respond(&mut self, tx: TxId, msg: Message) -> Outs {
        self.b.on_response(self.now, tx, msg);
        self.drain()
    }

    fn timeout(&mut self, tx: TxId) -> Outs {
        self.b.on_timeout(self.now, tx);
        self.drain()
    }

    fn ack(&mut self, msg: Message) -> Outs {
        self.b.on_ack(self.now, msg);
        self.drain()
    }

    fn cancelled(&mut self, server: ServerId) -> Outs {
        self.b.on_cancelled(self.now, PA, server);
        self.drain()
    }

    /// An in-dialog request from the caller (`PA`) or the callee (`PB`):
    /// its server transaction and what came out, or Err when the bridge
    /// knows no such dialog.
    fn request(
        &mut self,
        profile: ProfileId,
        msg: Message,
    ) -> Result<(ServerId, Outs), Box<Message>> {
        let server = self.server();
        let reply = if profile == PA {
            caller_dest()
        } else {
            callee_dest()
        };
        match self.b.on_request(
            self.now,
            Incoming {
                profile,
                server,
                msg,
                reply,
            },
        ) {
            Ok(()) => Ok((server, self.drain())),
            Err(inc) => Err(Box::new(inc.msg)),
        }
    }

    /// Moves the clock to `at` and runs the timers.
    fn advance_to(&mut self, at: Instant) -> Outs {
        self.now = at;
        self.b.handle_timeout(at);
        self.drain()
    }

    fn advance(&mut self, d: Duration) -> Outs {
        let at = self.now + d;
        self.advance_to(at)
    }

    fn elapsed(&self) -> Duration {
        self.now - self.start
    }
}

/// A call answered by one leg (`b1`, tag `btag`) and acknowledged by the
/// caller.
struct Up {
    h: H,
    server: ServerId,
    ok: Message,
    a_tag: String,
    leg_tx: TxId,
    leg_invite: Message,
}

fn up_call(leg_vars: &[(&str, &str)], call_vars: &[(&str, &str)]) -> Up {
    let mut h = H::new();
    let mut l = leg("b1");
    l.vars = vars(leg_vars);
    let mut p = plan(vec![vec![l]]);
    p.vars = vars(call_vars);
    let (server, o) = h.invite(caller_invite(Some(SDP_A)), p);
    let (leg_tx, leg_invite, _) = o.send();
    let leg_invite = leg_invite.clone();
    let o = h.respond(leg_tx, reply(&leg_invite, 200, "btag", Some(SDP_B)));
    let ok = o.response(server).clone();
    let a_tag = ok.to_tag().unwrap().to_string();
    let o = h.ack(caller_ack(&ok, 10, None));
    assert!(o.is_empty(), "{o:#?}");
    h.b.on_finished(leg_tx);
    Up {
        h,
        server,
        ok,
        a_tag,
        leg_tx,
        leg_invite,
    }
}

fn header<'m>(m: &'m Message, name: &'m str) -> Option<&'m str> {
    m.header_lines_named(name).next()
}

fn body(m: &Message) -> &str {
    std::str::from_utf8(m.body_bytes()).unwrap()
}

fn via_branch(m: &Message) -> String {
    m.branch().unwrap().to_string()
}

// ---------------------------------------------------------------------
// Basic call
// ---------------------------------------------------------------------

#[test]
fn basic_call_leg_invite_carries_caller_number_body_and_headers() {
    let mut h = H::new();
    let mut l = leg("1000");
    l.vars = vars(&[
        ("sip_h_X-Routed", "yes"),
        ("sip_h_X-Overridden", "by-route"),
        ("sip_contact_user", "gw-user"),
    ]);
    let invite = caller_invite(Some(SDP_A));
    let (_, o) = h.invite(invite.clone(), plan(vec![vec![l]]));
    assert_eq!(
        o.reports,
        vec![
            Report::CallIn {
                profile: PA,
                gateway: None
            },
            Report::CallOut {
                profile: PB,
                gateway: None
            }
        ]
    );
    assert!(o.responds.is_empty(), "nothing to the caller yet");
    let (_, m, hop) = o.send();
    assert_eq!(o.sends[0].1, PB);
    assert_eq!(*hop, Hop::Fixed(callee_dest()));
    assert_eq!(m.method(), Method::Invite);
    assert_eq!(m.request_uri_str(), Some("sip:1000@192.0.2.20:5060"));
    // A new dialog: its own Call-ID and From tag, the caller's number.
    let cid = m.call_id().unwrap();
    assert_ne!(cid, CALLER_CID);
    assert!(cid.ends_with("@sofia-rs"), "{cid}");
    let from = m.header(HeaderName::From).unwrap();
    assert!(
        from.starts_with("\"Alice\" <sip:alice@10.0.0.1>;tag="),
        "{from}"
    );
    assert_ne!(m.from_tag(), Some(CALLER_TAG));
    assert_eq!(m.header(HeaderName::To), Some("<sip:1000@192.0.2.20>"));
    assert_eq!(m.to_tag(), None);
    assert_eq!(m.cseq(), Some((1, Method::Invite)));
    assert_eq!(m.max_forwards(), Some(69));
    let via = m.header(HeaderName::Via).unwrap();
    assert!(
        via.starts_with("SIP/2.0/UDP 10.0.0.1:5080;rport;branch=z9hG4bK"),
        "{via}"
    );
    assert_eq!(m.header_lines(HeaderName::Via).count(), 1);
    assert_eq!(
        m.header(HeaderName::Contact),
        Some("<sip:gw-user@203.0.113.5:5080>")
    );
    assert_eq!(m.header(HeaderName::UserAgent), Some("sofia-rs-external"));
    assert!(m.header(HeaderName::Allow).unwrap().contains("UPDATE"));
    // X- headers copied, unless a sip_h_ variable sets the same header.
    assert_eq!(header(m, "X-Account"), Some("acme"));
    assert_eq!(header(m, "X-Routed"), Some("yes"));
    assert_eq!(
        m.header_lines_named("X-Overridden").collect::<Vec<_>>(),
        vec!["by-route"]
    );
    assert_eq!(m.header(HeaderName::ContentType), Some("application/sdp"));
    assert_eq!(body(m), SDP_A);
    assert_eq!(h.b.calls(), 1);
    assert_eq!(h.b.calls_on(PB), 1);
    assert_eq!(h.b.transactions(), 1);
}

#[test]
fn custom_headers_not_copied_when_disabled_and_low_max_forwards_kept_positive() {
    let mut h = H::new();
    let mut l = leg("1000");
    l.vars = vars(&[("sip_copy_custom_headers", "false")]);
    let (_, o) = h.invite(caller_invite_mf(Some(SDP_A), 1), plan(vec![vec![l]]));
    let (_, m, _) = o.send();
    assert_eq!(header(m, "X-Account"), None);
    assert_eq!(header(m, "X-Overridden"), None);
    assert_eq!(m.max_forwards(), Some(1));
    // Default Contact user.
    assert_eq!(
        m.header(HeaderName::Contact),
        Some("<sip:mod_sofia@203.0.113.5:5080>")
    );
}

#[test]
fn basic_call_relays_provisionals_and_answer() {
    let mut h = H::new();
    let mut p = plan(vec![vec![leg("1000")]]);
    p.vars = vars(&[
        ("sip_ph_X-Early", "ringing"),
        ("sip_rh_X-Answered", "by-1000"),
    ]);
    let invite = caller_invite(Some(SDP_A));
    let (server, o) = h.invite(invite.clone(), p);
    let (tx, leg_invite, _) = o.send();
    let leg_invite = leg_invite.clone();

    // 100 from the leg: nothing.
    let o = h.respond(
        tx,
        ResponseBuilder::reply_to(&leg_invite, 100, "Trying", None)
            .build()
            .unwrap(),
    );
    assert!(o.is_empty(), "{o:#?}");

    // 180: relayed once, with our tag and the sip_ph_ headers.
    let o = h.respond(tx, reply(&leg_invite, 180, "btag", None));
    let r = o.response(server);
    assert_eq!(r.status(), Some(180));
    assert_eq!(r.reason(), Some("Ringing"));
    assert_eq!(r.call_id(), Some(CALLER_CID));
    assert_eq!(r.cseq(), Some((10, Method::Invite)));
    assert_eq!(r.from_tag(), Some(CALLER_TAG));
    let a_tag = r.to_tag().unwrap().to_string();
    assert_ne!(a_tag, "btag", "the caller sees our tag, not the leg's");
    assert_eq!(
        r.header(HeaderName::Via),
        Some("SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-caller-1;rport")
    );
    assert_eq!(header(r, "X-Early"), Some("ringing"));
    assert_eq!(header(r, "X-Answered"), None);
    assert_eq!(
        r.header(HeaderName::Contact),
        Some("<sip:1000@10.0.0.1:5060>")
    );
    assert!(r.body_bytes().is_empty());
    assert_eq!(o.responds[0].0, PA);

    // A second 180 and a 183 without SDP: not relayed again.
    assert!(
        h.respond(tx, reply(&leg_invite, 180, "btag", None))
            .is_empty()
    );
    assert!(
        h.respond(tx, reply(&leg_invite, 183, "btag", None))
            .is_empty()
    );

    // 183 with SDP: relayed with the SDP, the same tag; again only when the
    // SDP changes.
    let o = h.respond(tx, reply(&leg_invite, 183, "btag", Some(SDP_B_EARLY)));
    let r = o.response(server);
    assert_eq!(r.status(), Some(183));
    assert_eq!(r.to_tag(), Some(a_tag.as_str()));
    assert_eq!(body(r), SDP_B_EARLY);
    assert_eq!(r.header(HeaderName::ContentType), Some("application/sdp"));
    assert_eq!(header(r, "X-Early"), Some("ringing"));
    assert!(
        h.respond(tx, reply(&leg_invite, 183, "btag", Some(SDP_B_EARLY)))
            .is_empty()
    );

    // 2xx: ACK to the leg, 200 to the caller with the leg's SDP.
    let o = h.respond(tx, reply(&leg_invite, 200, "btag", Some(SDP_B)));
    let (ack, hop) = o.ack();
    assert_eq!(o.acks[0].0, PB);
    assert_eq!(*hop, Hop::Fixed(callee_dest()));
    assert_eq!(ack.method(), Method::Ack);
    assert_eq!(ack.request_uri_str(), Some("sip:bob@192.0.2.20:5060"));
    assert_eq!(ack.cseq(), Some((1, Method::Ack)));
    assert_eq!(ack.call_id(), leg_invite.call_id());
    assert_eq!(ack.from_tag(), leg_invite.from_tag());
    assert_eq!(ack.to_tag(), Some("btag"));
    assert_ne!(
        via_branch(ack),
        via_branch(&leg_invite),
        "ACK for 2xx: new branch"
    );
    assert!(ack.body_bytes().is_empty());

    let ok = o.response(server);
    assert_eq!(ok.status(), Some(200));
    assert_eq!(ok.to_tag(), Some(a_tag.as_str()));
    assert_eq!(ok.cseq(), Some((10, Method::Invite)));
    assert_eq!(body(ok), SDP_B);
    assert_eq!(ok.header(HeaderName::ContentType), Some("application/sdp"));
    assert_eq!(header(ok, "X-Answered"), Some("by-1000"));
    assert_eq!(header(ok, "X-Early"), None);
    assert_eq!(
        ok.header(HeaderName::Contact),
        Some("<sip:1000@10.0.0.1:5060>")
    );
    assert_eq!(ok.header(HeaderName::Server), Some("sofia-rs-internal"));
    assert!(ok.header(HeaderName::Allow).unwrap().contains("INVITE"));
    assert!(o.has_report(&Report::Answered {
        profile: PA,
        call_id: CALLER_CID.into()
    }));

    // A retransmitted 2xx from the leg is acknowledged again, and nothing
    // else happens.
    let o = h.respond(tx, reply(&leg_invite, 200, "btag", Some(SDP_B)));
    assert_eq!(o.ack().0.cseq(), Some((1, Method::Ack)));
    assert!(o.responds.is_empty() && o.sends.is_empty() && o.reports.is_empty());

    // The caller's ACK: nothing to send; no more retransmissions.
    let o = h.ack(caller_ack(ok, 10, None));
    assert!(o.is_empty(), "{o:#?}");
    h.b.on_finished(tx);
    assert_eq!(h.b.transactions(), 0);
    assert_eq!(h.b.calls(), 1);
    let o = h.advance(Duration::from_secs(60));
    assert!(o.is_empty(), "{o:#?}");
    assert_eq!(h.b.calls(), 1);
}

#[test]
fn caller_2xx_retransmitted_with_backoff_until_ack() {
    let mut h = H::new();
    let (server, o) = h.invite(caller_invite(Some(SDP_A)), plan(vec![vec![leg("1000")]]));
    let (tx, leg_invite, _) = o.send();
    let leg_invite = leg_invite.clone();
    let o = h.respond(tx, reply(&leg_invite, 200, "btag", Some(SDP_B)));
    let ok = o.response(server).clone();
    let answered = h.now;
    // Retransmissions at T1, 3T1, 7T1, then every T2 (UDP).
    let mut at = Vec::new();
    loop {
        let due = h.b.poll_timeout().expect("a retransmission timer");
        if due - answered > Duration::from_secs(20) {
            break;
        }
        let o = h.advance_to(due);
        if !o.responds.is_empty() {
            let r = o.response(server);
            assert_eq!(r.as_bytes(), ok.as_bytes(), "the same 2xx");
            at.push(h.now - answered);
        }
    }
    let expect: Vec<Duration> = [1, 3, 7, 15, 23, 31, 39].iter().map(|n| T1 * *n).collect();
    assert_eq!(at, expect);
    // Intervals double up to T2.
    let gaps: Vec<Duration> = at.windows(2).map(|w| w[1] - w[0]).collect();
    assert_eq!(gaps, vec![T1 * 2, T1 * 4, T2, T2, T2, T2]);
    // The ACK stops them.
    assert!(h.ack(caller_ack(&ok, 10, None)).is_empty());
    let o = h.advance(Duration::from_secs(40));
    assert!(o.responds.is_empty() && o.sends.is_empty(), "{o:#?}");
    assert_eq!(h.b.calls(), 1);
}

#[test]
fn no_ack_for_64_t1_ends_call_with_bye_both_sides() {
    let mut h = H::new();
    let mut l = leg("1000");
    l.vars = vars(&[("sip_bye_h_X-Why", "no-ack")]);
    let (server, o) = h.invite(caller_invite(Some(SDP_A)), plan(vec![vec![l]]));
    let (tx, leg_invite, _) = o.send();
    let leg_invite = leg_invite.clone();
    let o = h.respond(tx, reply(&leg_invite, 200, "btag", Some(SDP_B)));
    let ok = o.response(server).clone();
    let a_tag = ok.to_tag().unwrap().to_string();
    h.b.on_finished(tx);
    let answered = h.now;
    let mut retrans = 0;
    let mut byes = None;
    while let Some(due) = h.b.poll_timeout() {
        let o = h.advance_to(due);
        retrans += o.responds.len();
        if !o.sends.is_empty() {
            byes = Some((h.now - answered, o));
            break;
        }
    }
    let (when, o) = byes.expect("BYEs");
    assert_eq!(when, T1 * 64);
    assert_eq!(retrans, 10, "T1,3,7,15,23,31,39,47,55,63 x T1");
    assert_eq!(o.sends.len(), 2);
    let to_a = o
        .sends
        .iter()
        .find(|s| s.1 == PA)
        .expect("BYE to the caller");
    let to_b = o.sends.iter().find(|s| s.1 == PB).expect("BYE to the leg");
    let (bye_a, hop_a) = (&to_a.2, &to_a.3);
    assert_eq!(bye_a.method(), Method::Bye);
    assert_eq!(bye_a.request_uri_str(), Some("sip:alice@192.0.2.10:5060"));
    assert_eq!(*hop_a, Hop::Fixed(caller_dest()));
    assert_eq!(bye_a.call_id(), Some(CALLER_CID));
    assert_eq!(bye_a.from_tag(), Some(a_tag.as_str()));
    assert_eq!(bye_a.to_tag(), Some(CALLER_TAG));
    assert_eq!(bye_a.cseq(), Some((1, Method::Bye)));
    let (bye_b, hop_b) = (&to_b.2, &to_b.3);
    assert_eq!(bye_b.request_uri_str(), Some("sip:bob@192.0.2.20:5060"));
    assert_eq!(*hop_b, Hop::Fixed(callee_dest()));
    assert_eq!(bye_b.call_id(), leg_invite.call_id());
    assert_eq!(bye_b.from_tag(), leg_invite.from_tag());
    assert_eq!(bye_b.to_tag(), Some("btag"));
    assert_eq!(bye_b.cseq(), Some((2, Method::Bye)));
    assert_eq!(header(bye_b, "X-Why"), Some("no-ack"));
    assert!(o.has_report(&Report::Ended {
        profile: PA,
        call_id: CALLER_CID.into(),
        cause: "RECOVERY_ON_TIMER_EXPIRE"
    }));
    assert_eq!(h.b.calls(), 0);
    assert_eq!(h.b.transactions(), 2);
    for (tx, ..) in &o.sends {
        let bye = &o.sends.iter().find(|s| s.0 == *tx).unwrap().2;
        h.respond(*tx, reply(bye, 200, "x", None));
    }
    assert_eq!(h.b.transactions(), 0);
    assert_eq!(h.b.poll_timeout(), None);
    // A late ACK is ignored.
    assert!(h.ack(caller_ack(&ok, 10, None)).is_empty());
}

#[test]
fn caller_2xx_over_tcp_not_retransmitted_but_still_times_out() {
    let mut h = H::new();
    let tcp = Destination::new(Transport::Tcp, sa(CALLER));
    let (server, o) = h.invite_over(
        caller_invite(Some(SDP_A)),
        plan(vec![vec![leg("1000")]]),
        tcp,
    );
    let (tx, leg_invite, _) = o.send();
    let leg_invite = leg_invite.clone();
    let o = h.respond(tx, reply(&leg_invite, 200, "btag", Some(SDP_B)));
    let ok = o.response(server);
    assert_eq!(
        ok.header(HeaderName::Contact),
        Some("<sip:1000@10.0.0.1:5060;transport=tcp>")
    );
    let o = h.advance(T1 * 64 - Duration::from_millis(1));
    assert!(o.is_empty(), "{o:#?}");
    let o = h.advance(Duration::from_millis(1));
    assert_eq!(o.sends.len(), 2, "BYE both sides");
    assert!(o.responds.is_empty());
}

// ---------------------------------------------------------------------
// Late offer
// ---------------------------------------------------------------------

#[test]
fn late_offer_leg_2xx_acked_with_callers_answer() {
    let mut h = H::new();
    let (server, o) = h.invite(caller_invite(None), plan(vec![vec![leg("1000")]]));
    let (tx, leg_invite, _) = o.send();
    let leg_invite = leg_invite.clone();
    assert!(leg_invite.body_bytes().is_empty());
    assert_eq!(leg_invite.header(HeaderName::ContentType), None);
    // The leg's 2xx carries the offer: relayed, but not acknowledged yet.
    let o = h.respond(tx, reply(&leg_invite, 200, "btag", Some(SDP_B)));
    assert!(o.acks.is_empty(), "{o:#?}");
    let ok = o.response(server).clone();
    assert_eq!(body(&ok), SDP_B);
    // The leg retransmits its 2xx: still no ACK.
    let o = h.respond(tx, reply(&leg_invite, 200, "btag", Some(SDP_B)));
    assert!(o.is_empty(), "{o:#?}");
    // The caller's ACK carries the answer: the leg's ACK carries it on.
    let o = h.ack(caller_ack(&ok, 10, Some(SDP_A)));
    let (ack, hop) = o.ack();
    assert_eq!(*hop, Hop::Fixed(callee_dest()));
    assert_eq!(ack.cseq(), Some((1, Method::Ack)));
    assert_eq!(ack.to_tag(), Some("btag"));
    assert_eq!(ack.from_tag(), leg_invite.from_tag());
    assert_eq!(ack.call_id(), leg_invite.call_id());
    assert_eq!(ack.request_uri_str(), Some("sip:bob@192.0.2.20:5060"));
    assert_eq!(body(ack), SDP_A);
    assert_eq!(ack.header(HeaderName::ContentType), Some("application/sdp"));
    assert_eq!(o.responds.len(), 0);
    // Once acknowledged, a retransmitted 2xx is acknowledged again.
    let o = h.respond(tx, reply(&leg_invite, 200, "btag", Some(SDP_B)));
    assert_eq!(o.acks.len(), 1);
    // And a second ACK from the caller sends nothing more.
    assert!(h.ack(caller_ack(&ok, 10, Some(SDP_A))).is_empty());
}

// ---------------------------------------------------------------------
// Parallel and sequential legs
// ---------------------------------------------------------------------

#[test]
fn parallel_legs_first_2xx_wins_others_cancelled() {
    let mut h = H::new();
    let (server, o) = h.invite(
        caller_invite(Some(SDP_A)),
        plan(vec![vec![leg("b1"), leg("b2"), leg("b3")]]),
    );
    assert_eq!(o.sends.len(), 3);
    let legs: Vec<(TxId, Message)> = o.sends.iter().map(|s| (s.0, s.2.clone())).collect();
    let cids: std::collections::BTreeSet<&str> =
        legs.iter().map(|l| l.1.call_id().unwrap()).collect();
    assert_eq!(cids.len(), 3, "each leg its own Call-ID");
    assert_eq!(
        o.reports
            .iter()
            .filter(|r| matches!(r, Report::CallOut { .. }))
            .count(),
        3
    );
    let (t1, i1) = (&legs[0].0, &legs[0].1);
    let (t2, i2) = (&legs[1].0, &legs[1].1);
    let (t3, i3) = (&legs[2].0, &legs[2].1);
    // b1 and b2 ring; b3 says nothing yet.
    assert_eq!(
        h.respond(*t1, reply(i1, 180, "t1", None))
            .response(server)
            .status(),
        Some(180)
    );
    let o = h.respond(*t2, reply(i2, 183, "t2", Some(SDP_B_EARLY)));
    assert_eq!(o.response(server).status(), Some(183));
    // b2 answers after b1 rang: b2 wins.
    let o = h.respond(*t2, reply(i2, 200, "t2", Some(SDP_B)));
    assert_eq!(
        o.cancels,
        vec![*t1],
        "only the ringing loser is cancelled now"
    );
    assert_eq!(o.ack().0.call_id(), i2.call_id());
    let ok = o.response(server).clone();
    assert_eq!(body(&ok), SDP_B);
    // b3's first provisional: cancelled then, once; not relayed.
    let o = h.respond(*t3, reply(i3, 180, "t3", None));
    assert_eq!(o.cancels, vec![*t3]);
    assert!(o.responds.is_empty());
    let o = h.respond(*t3, reply(i3, 183, "t3", Some(SDP_B_EARLY)));
    assert!(o.is_empty(), "no second CANCEL, nothing relayed: {o:#?}");
    // b1 answers across the CANCEL: acknowledged and ended with BYE.
    let o = h.respond(*t1, reply(i1, 200, "t1", Some(SDP_B2)));
    assert!(o.responds.is_empty(), "the caller has its answer");
    let (ack, _) = o.ack();
    assert_eq!(ack.call_id(), i1.call_id());
    assert_eq!(ack.to_tag(), Some("t1"));
    let (bye_tx, bye, hop) = o.send();
    assert_eq!(bye.method(), Method::Bye);
    assert_eq!(bye.call_id(), i1.call_id());
    assert_eq!(bye.from_tag(), i1.from_tag());
    assert_eq!(bye.to_tag(), Some("t1"));
    assert_eq!(bye.cseq(), Some((2, Method::Bye)));
    assert_eq!(bye.request_uri_str(), Some("sip:bob@192.0.2.20:5060"));
    assert_eq!(*hop, Hop::Fixed(callee_dest()));
    let bye = bye.clone();
    assert!(h.respond(bye_tx, reply(&bye, 200, "t1", None)).is_empty());
    // b3 is terminated by the CANCEL: not reported as a failure.
    let o = h.respond(*t3, reply(i3, 487, "t3", None));
    assert!(o.is_empty(), "{o:#?}");
    h.b.on_finished(*t1);
    h.b.on_finished(*t2);
    assert!(h.ack(caller_ack(&ok, 10, None)).is_empty());
    assert_eq!(h.b.transactions(), 0);
    // The caller hangs up: only b2 gets a BYE; the call is gone.
    let a_tag = ok.to_tag().unwrap().to_string();
    let (_, o) = h
        .request(PA, caller_request(Method::Bye, &a_tag, 11, None, None))
        .unwrap();
    assert_eq!(o.sends.len(), 1);
    assert_eq!(o.sends[0].2.call_id(), i2.call_id());
    assert!(o.cancels.is_empty(), "{o:#?}");
    assert_eq!(h.b.calls(), 0, "no husk left for the answered loser");
    let (tx, bye, _) = o.send();
    let bye = bye.clone();
    h.respond(tx, reply(&bye, 200, "t2", None));
    assert_eq!(h.b.transactions(), 0);
    assert_eq!(h.b.poll_timeout(), None);
}

#[test]
fn sequential_groups_tried_in_turn() {
    let mut h = H::new();
    let (server, o) = h.invite(
        caller_invite(Some(SDP_A)),
        plan(vec![vec![leg("g1")], vec![leg("g2")]]),
    );
    let (t1, i1, _) = o.send();
    let i1 = i1.clone();
    assert_eq!(i1.request_uri_str(), Some("sip:g1@192.0.2.20:5060"));
    // g1 rings, then is busy: g2 is tried; the caller hears nothing final.
    assert_eq!(
        h.respond(t1, reply(&i1, 180, "g1", None))
            .response(server)
            .status(),
        Some(180)
    );
    let o = h.respond(t1, reply(&i1, 486, "g1", None));
    assert!(o.responds.is_empty(), "{o:#?}");
    assert!(o.has_report(&Report::FailedOut {
        profile: PB,
        gateway: None,
        status: 486,
        phrase: "Busy Here".into(),
        call_id: i1.call_id().unwrap().into()
    }));
    let (t2, i2, _) = o.send();
    let i2 = i2.clone();
    assert_eq!(i2.request_uri_str(), Some("sip:g2@192.0.2.20:5060"));
    assert_ne!(i2.call_id(), i1.call_id());
    assert_eq!(body(&i2), SDP_A);
    // g2's 180 is not relayed again (the caller already rang).
    assert!(
        h.respond(t2, reply(&i2, 180, "g2", None))
            .responds
            .is_empty()
    );
    let o = h.respond(t2, reply(&i2, 200, "g2", Some(SDP_B)));
    let ok = o.response(server);
    assert_eq!(ok.status(), Some(200));
    assert_eq!(body(ok), SDP_B);
}

#[test]
fn six_hundred_stops_the_search() {
    let mut h = H::new();
    let (server, o) = h.invite(
        caller_invite(Some(SDP_A)),
        plan(vec![vec![leg("g1")], vec![leg("g2")]]),
    );
    let (t1, i1, _) = o.send();
    let i1 = i1.clone();
    let o = h.respond(t1, reply(&i1, 603, "g1", None));
    assert!(o.sends.is_empty(), "g2 is not tried: {o:#?}");
    let r = o.response(server);
    assert_eq!(r.status(), Some(603));
    assert_eq!(r.reason(), Some("Decline"));
    assert!(o.has_report(&Report::Ended {
        profile: PA,
        call_id: CALLER_CID.into(),
        cause: "CALL_REJECTED"
    }));
    assert_eq!(h.b.calls(), 0);
}

#[test]
fn six_hundred_from_one_parallel_leg_ends_the_call_at_once() {
    let mut h = H::new();
    let (server, o) = h.invite(
        caller_invite(Some(SDP_A)),
        plan(vec![vec![leg("x"), leg("y")], vec![leg("g2")]]),
    );
    let (tx, ix) = (o.sends[0].0, o.sends[0].2.clone());
    let (ty, iy) = (o.sends[1].0, o.sends[1].2.clone());
    // y rings; x declines everywhere: the caller gets it now, y is
    // cancelled and the next group is not tried (RFC 3261 §16.7 step 5).
    h.respond(ty, reply(&iy, 180, "y", None));
    let o = h.respond(tx, reply(&ix, 600, "x", None));
    assert!(o.sends.is_empty(), "the next group is not tried: {o:#?}");
    assert_eq!(o.cancels, vec![ty], "{o:#?}");
    let r = o.response(server);
    assert_eq!(
        r.status(),
        Some(486),
        "600 Busy Everywhere -> USER_BUSY -> 486"
    );
    // y's 487 ends what is left.
    let o = h.respond(ty, reply(&iy, 487, "y", None));
    assert!(o.responds.is_empty(), "{o:#?}");
    assert_eq!(h.b.calls(), 0);
    assert_eq!(h.b.transactions(), 0);
}

// ---------------------------------------------------------------------
// Failures
// ---------------------------------------------------------------------

/// One leg that fails with `status`: the caller's final status and the
/// Ended cause.
fn fail_one(status: u16) -> (u16, &'static str) {
    let mut h = H::new();
    let mut p = plan(vec![vec![leg("1000")]]);
    p.vars = vars(&[("sip_rh_X-Failed", "yes")]);
    p.gateway = Some("gw-in".into());
    let (server, o) = h.invite(caller_invite(Some(SDP_A)), p);
    let (tx, inv, _) = o.send();
    let inv = inv.clone();
    let o = h.respond(tx, reply(&inv, status, "x", None));
    let r = o.response(server);
    assert_eq!(r.cseq(), Some((10, Method::Invite)));
    assert!(r.to_tag().is_some());
    assert_eq!(header(r, "X-Failed"), Some("yes"));
    assert_eq!(r.header(HeaderName::Server), Some("sofia-rs-internal"));
    assert_eq!(r.reason(), Some(phrase(r.status().unwrap())));
    assert!(o.has_report(&Report::FailedIn {
        profile: PA,
        gateway: Some("gw-in".into())
    }));
    let cause = o
        .reports
        .iter()
        .find_map(|r| match r {
            Report::Ended { cause, .. } => Some(*cause),
            _ => None,
        })
        .expect("Ended");
    assert_eq!(h.b.calls(), 0);
    assert_eq!(h.b.transactions(), 0);
    assert_eq!(h.b.poll_timeout(), None);
    (r.status().unwrap(), cause)
}

#[test]
fn failure_statuses_mapped_as_freeswitch_does() {
    assert_eq!(fail_one(486), (486, "USER_BUSY"));
    assert_eq!(fail_one(480), (408, "NO_USER_RESPONSE"));
    assert_eq!(fail_one(404), (404, "UNALLOCATED_NUMBER"));
    assert_eq!(fail_one(403), (603, "CALL_REJECTED"));
    assert_eq!(fail_one(503), (503, "NORMAL_TEMPORARY_FAILURE"));
    assert_eq!(fail_one(603), (603, "CALL_REJECTED"));
    assert_eq!(fail_one(488), (488, "INCOMPATIBLE_DESTINATION"));
    assert_eq!(fail_one(502), (502, "NETWORK_OUT_OF_ORDER"));
    assert_eq!(fail_one(484), (484, "INVALID_NUMBER_FORMAT"));
    assert_eq!(fail_one(410), (410, "NUMBER_CHANGED"));
    assert_eq!(fail_one(401), (603, "CALL_REJECTED"), "no credentials");
    assert_eq!(fail_one(302), (480, "NORMAL_UNSPECIFIED"));
    // The two tables agree with each other where FreeSWITCH's do.
    for s in [404, 486, 484, 488, 502, 503, 603] {
        assert_eq!(status_of(cause_of(s)), s, "{s}");
    }
}

#[test]
fn leg_timeout_is_504() {
    let mut h = H::new();
    let (server, o) = h.invite(caller_invite(Some(SDP_A)), plan(vec![vec![leg("1000")]]));
    let (tx, inv, _) = o.send();
    let cid = inv.call_id().unwrap().to_string();
    let o = h.timeout(tx);
    let r = o.response(server);
    assert_eq!(r.status(), Some(504));
    assert_eq!(r.reason(), Some("Server Time-out"));
    assert!(o.has_report(&Report::FailedOut {
        profile: PB,
        gateway: None,
        status: 408,
        phrase: "Request Timeout".into(),
        call_id: cid
    }));
    assert_eq!(h.b.calls(), 0);
    assert_eq!(h.b.transactions(), 0);
}

/// Legs of one group fail with `statuses` in turn: the caller's status.
fn best_of(statuses: &[u16]) -> u16 {
    let mut h = H::new();
    let legs = (0..statuses.len()).map(|i| leg(&format!("l{i}"))).collect();
    let (server, o) = h.invite(caller_invite(Some(SDP_A)), plan(vec![legs]));
    let sent: Vec<(TxId, Message)> = o.sends.iter().map(|s| (s.0, s.2.clone())).collect();
    for (i, s) in statuses.iter().enumerate() {
        let o = h.respond(sent[i].0, reply(&sent[i].1, *s, "x", None));
        // A 6xx answers the caller at once; otherwise every leg is waited for.
        if i + 1 < statuses.len() && *s < 600 {
            assert!(o.responds.is_empty(), "waits for every leg");
        } else {
            return o.response(server).status().unwrap();
        }
    }
    unreachable!()
}

#[test]
fn best_failure_over_several_legs() {
    assert_eq!(best_of(&[503, 486]), 486);
    assert_eq!(best_of(&[486, 503]), 486);
    assert_eq!(best_of(&[503, 404, 486]), 404);
    assert_eq!(best_of(&[486, 603, 404]), 603, "6xx first");
    assert_eq!(best_of(&[502, 488]), 488);
    // Across groups too.
    let mut h = H::new();
    let (server, o) = h.invite(
        caller_invite(Some(SDP_A)),
        plan(vec![vec![leg("a")], vec![leg("b")]]),
    );
    let (t, i, _) = o.send();
    let i = i.clone();
    let o = h.respond(t, reply(&i, 404, "a", None));
    let (t, i, _) = o.send();
    let i = i.clone();
    let o = h.timeout(t);
    let _ = i;
    assert_eq!(o.response(server).status(), Some(404));
}

// ---------------------------------------------------------------------
// Digest authentication
// ---------------------------------------------------------------------

const CHALLENGE: &str =
    "Digest realm=\"sip.example.net\", nonce=\"abc123\", algorithm=MD5, qop=\"auth\"";

fn auth_leg() -> LegPlan {
    let mut l = leg("1000");
    l.credentials = Some(("gwuser".into(), "gwpass".into()));
    l.gateway = Some("gw1".into());
    l
}

#[test]
fn challenge_answered_once_with_credentials() {
    for (status, challenge, answer) in [
        (401, "WWW-Authenticate", HeaderName::Authorization),
        (407, "Proxy-Authenticate", HeaderName::ProxyAuthorization),
    ] {
        let mut h = H::new();
        let (server, o) = h.invite(caller_invite(Some(SDP_A)), plan(vec![vec![auth_leg()]]));
        let (t1, i1, _) = o.send();
        let i1 = i1.clone();
        let o = h.respond(
            t1,
            reply_with(&i1, status, "x", None, &[(challenge, CHALLENGE)]),
        );
        assert!(
            o.responds.is_empty(),
            "the caller does not see the challenge"
        );
        assert!(
            !o.reports
                .iter()
                .any(|r| matches!(r, Report::FailedOut { .. })),
            "{o:#?}"
        );
        let (t2, i2, hop) = o.send();
        let i2 = i2.clone();
        assert_ne!(t1, t2, "a new transaction");
        assert_eq!(*hop, Hop::Fixed(callee_dest()));
        assert_eq!(i2.method(), Method::Invite);
        assert_eq!(i2.request_uri_str(), i1.request_uri_str());
        assert_eq!(i2.cseq(), Some((2, Method::Invite)));
        assert_eq!(i2.call_id(), i1.call_id());
        assert_eq!(i2.from_tag(), i1.from_tag());
        assert_eq!(i2.header(HeaderName::From), i1.header(HeaderName::From));
        assert_eq!(i2.to_tag(), None);
        assert_ne!(via_branch(&i2), via_branch(&i1));
        assert_eq!(i2.header_lines(HeaderName::Via).count(), 1);
        assert_eq!(body(&i2), SDP_A);
        assert_eq!(i2.header_lines(HeaderName::ContentType).count(), 1);
        assert_eq!(i2.header_lines(HeaderName::ContentLength).count(), 1);
        let cred = i2.header(answer).expect("credentials");
        assert!(cred.starts_with("Digest "), "{cred}");
        assert!(cred.contains("username=\"gwuser\""), "{cred}");
        assert!(cred.contains("realm=\"sip.example.net\""), "{cred}");
        assert!(cred.contains("nonce=\"abc123\""), "{cred}");
        assert!(cred.contains("uri=\"sip:1000@192.0.2.20:5060\""), "{cred}");
        assert!(cred.contains("response=\""), "{cred}");
        // Answered: the ACK has the retried INVITE's CSeq.
        let o = h.respond(t2, reply(&i2, 200, "btag", Some(SDP_B)));
        assert_eq!(o.ack().0.cseq(), Some((2, Method::Ack)));
        assert_eq!(o.response(server).status(), Some(200));
    }
}

#[test]
fn second_challenge_fails_the_leg() {
    let mut h = H::new();
    let (server, o) = h.invite(caller_invite(Some(SDP_A)), plan(vec![vec![auth_leg()]]));
    let (t1, i1, _) = o.send();
    let i1 = i1.clone();
    let o = h.respond(
        t1,
        reply_with(&i1, 401, "x", None, &[("WWW-Authenticate", CHALLENGE)]),
    );
    let (t2, i2, _) = o.send();
    let i2 = i2.clone();
    let o = h.respond(
        t2,
        reply_with(&i2, 401, "y", None, &[("WWW-Authenticate", CHALLENGE)]),
    );
    assert!(o.sends.is_empty(), "no third INVITE");
    assert_eq!(o.response(server).status(), Some(603));
    assert!(o.has_report(&Report::FailedOut {
        profile: PB,
        gateway: Some("gw1".into()),
        status: 401,
        phrase: "Unauthorized".into(),
        call_id: i1.call_id().unwrap().into()
    }));
    assert_eq!(h.b.calls(), 0);
    assert_eq!(h.b.transactions(), 0);
}

// ---------------------------------------------------------------------
// CANCEL and timeouts
// ---------------------------------------------------------------------

#[test]
fn caller_cancel_terminates_and_cancels_legs() {
    let mut h = H::new();
    let (server, o) = h.invite(
        caller_invite(Some(SDP_A)),
        plan(vec![vec![leg("c1"), leg("c2")], vec![leg("never")]]),
    );
    let (t1, i1) = (o.sends[0].0, o.sends[0].2.clone());
    let (t2, i2) = (o.sends[1].0, o.sends[1].2.clone());
    let o = h.respond(t1, reply(&i1, 180, "c1", None));
    let a_tag = o.response(server).to_tag().unwrap().to_string();
    let o = h.cancelled(server);
    let r = o.response(server);
    assert_eq!(r.status(), Some(487));
    assert_eq!(r.reason(), Some("Request Terminated"));
    assert_eq!(r.to_tag(), Some(a_tag.as_str()), "the same tag as the 180");
    assert_eq!(r.cseq(), Some((10, Method::Invite)));
    assert_eq!(o.cancels, vec![t1], "c2 has no provisional yet");
    assert!(o.has_report(&Report::Ended {
        profile: PA,
        call_id: CALLER_CID.into(),
        cause: "ORIGINATOR_CANCEL"
    }));
    assert!(
        !o.reports
            .iter()
            .any(|r| matches!(r, Report::FailedIn { .. }))
    );
    assert!(o.sends.is_empty());
    // A second CANCEL: nothing.
    assert!(h.cancelled(server).is_empty());
    // c2 rings: cancelled then, nothing relayed.
    let o = h.respond(t2, reply(&i2, 180, "c2", None));
    assert_eq!(o.cancels, vec![t2]);
    assert!(o.responds.is_empty());
    // c1 ends with 487: no failure report, no next group.
    let o = h.respond(t1, reply(&i1, 487, "c1", None));
    assert!(
        o.sends.is_empty() && o.responds.is_empty() && o.reports.is_empty(),
        "{o:#?}"
    );
    assert_eq!(h.b.calls(), 1, "kept while c2 rings");
    // c2 answers across the CANCEL: ACK and BYE; the husk goes.
    let o = h.respond(t2, reply(&i2, 200, "c2", Some(SDP_B)));
    assert!(o.responds.is_empty());
    let (ack, _) = o.ack();
    assert_eq!(ack.to_tag(), Some("c2"));
    assert_eq!(ack.call_id(), i2.call_id());
    let (bye_tx, bye, _) = o.send();
    assert_eq!(bye.method(), Method::Bye);
    assert_eq!(bye.to_tag(), Some("c2"));
    assert_eq!(bye.call_id(), i2.call_id());
    let bye = bye.clone();
    let mut forgot = o.forgets.clone();
    forgot.sort();
    assert_eq!(forgot, vec![t1, t2]);
    assert_eq!(h.b.calls(), 0);
    assert_eq!(h.b.transactions(), 1, "the BYE");
    h.respond(bye_tx, reply(&bye, 200, "c2", None));
    assert_eq!(h.b.transactions(), 0);
    // A retransmitted 2xx of a forgotten leg: nothing.
    assert!(h.respond(t2, reply(&i2, 200, "c2", Some(SDP_B))).is_empty());
    assert_eq!(h.b.poll_timeout(), None);
}

#[test]
fn cancel_after_answer_is_ignored() {
    let mut up = up_call(&[], &[]);
    let server = up.server;
    assert!(up.h.cancelled(server).is_empty());
    assert_eq!(up.h.b.calls(), 1);
}

#[test]
fn ring_timeout_answers_480_and_cancels_legs() {
    let mut h = H::new();
    let mut p = plan(vec![vec![leg("r1"), leg("r2")]]);
    p.vars = vars(&[("call_timeout", "5")]);
    let (server, o) = h.invite(caller_invite(Some(SDP_A)), p);
    let (t1, i1) = (o.sends[0].0, o.sends[0].2.clone());
    let (t2, i2) = (o.sends[1].0, o.sends[1].2.clone());
    h.respond(t1, reply(&i1, 180, "r1", None));
    assert_eq!(h.b.poll_timeout(), Some(h.start + Duration::from_secs(5)));
    assert!(h.advance(Duration::from_millis(4999)).is_empty());
    let o = h.advance(Duration::from_millis(1));
    let r = o.response(server);
    assert_eq!(r.status(), Some(480));
    assert_eq!(r.reason(), Some("Temporarily Unavailable"));
    assert_eq!(o.cancels, vec![t1]);
    assert!(o.has_report(&Report::Ended {
        profile: PA,
        call_id: CALLER_CID.into(),
        cause: "NO_ANSWER"
    }));
    assert!(o.has_report(&Report::FailedIn {
        profile: PA,
        gateway: None
    }));
    assert_eq!(h.elapsed(), Duration::from_secs(5));
    // The legs end: r1 by its CANCEL, r2 by a timeout.
    h.respond(t1, reply(&i1, 487, "r1", None));
    let o = h.timeout(t2);
    assert!(o.responds.is_empty());
    let _ = i2;
    assert_eq!(h.b.calls(), 0);
    assert_eq!(h.b.transactions(), 0);
}

#[test]
fn ring_timeout_defaults_to_60_seconds() {
    let mut h = H::new();
    let (server, _) = h.invite(caller_invite(Some(SDP_A)), plan(vec![vec![leg("r1")]]));
    assert!(h.advance(Duration::from_millis(59_999)).is_empty());
    let o = h.advance(Duration::from_millis(1));
    assert_eq!(o.response(server).status(), Some(480));
}

#[test]
fn max_forwards_zero_is_483_and_empty_plan_404() {
    let mut h = H::new();
    let (server, o) = h.invite(
        caller_invite_mf(Some(SDP_A), 0),
        plan(vec![vec![leg("1000")]]),
    );
    let r = o.response(server);
    assert_eq!(r.status(), Some(483));
    assert_eq!(r.reason(), Some("Too Many Hops"));
    assert!(o.sends.is_empty() && o.reports.is_empty());
    assert_eq!(h.b.calls(), 0);

    let (server, o) = h.invite(caller_invite(Some(SDP_A)), plan(vec![]));
    let r = o.response(server);
    assert_eq!(r.status(), Some(404));
    assert!(r.to_tag().is_some());
    assert!(o.sends.is_empty());
    assert!(o.has_report(&Report::Ended {
        profile: PA,
        call_id: CALLER_CID.into(),
        cause: "NO_ROUTE_DESTINATION"
    }));
    assert_eq!(h.b.calls(), 0);
    assert_eq!(h.b.poll_timeout(), None);
}

// ---------------------------------------------------------------------
// In-dialog requests
// ---------------------------------------------------------------------

#[test]
fn bye_from_caller_relayed_to_leg_with_bye_headers() {
    let mut up = up_call(&[("sip_bye_h_X-Bye-Reason", "caller-hung-up")], &[]);
    let a_tag = up.a_tag.clone();
    let bye = caller_request(Method::Bye, &a_tag, 11, None, None);
    let (server, o) = up.h.request(PA, bye).unwrap();
    let r = o.response(server);
    assert_eq!(o.responds[0].0, PA);
    assert_eq!(r.status(), Some(200));
    assert_eq!(r.cseq(), Some((11, Method::Bye)));
    assert_eq!(r.to_tag(), Some(a_tag.as_str()));
    let (tx, b, hop) = o.send();
    assert_eq!(o.sends[0].1, PB);
    assert_eq!(*hop, Hop::Fixed(callee_dest()));
    assert_eq!(b.method(), Method::Bye);
    assert_eq!(b.request_uri_str(), Some("sip:bob@192.0.2.20:5060"));
    assert_eq!(b.call_id(), up.leg_invite.call_id());
    assert_eq!(b.from_tag(), up.leg_invite.from_tag());
    assert_eq!(b.to_tag(), Some("btag"));
    assert_eq!(b.cseq(), Some((2, Method::Bye)));
    assert_eq!(header(b, "X-Bye-Reason"), Some("caller-hung-up"));
    let v = b.header(HeaderName::Via).unwrap();
    assert!(
        v.starts_with("SIP/2.0/UDP 10.0.0.1:5080;rport;branch=z9hG4bK"),
        "{v}"
    );
    assert!(o.has_report(&Report::Ended {
        profile: PA,
        call_id: CALLER_CID.into(),
        cause: "NORMAL_CLEARING"
    }));
    assert_eq!(up.h.b.calls(), 0);
    let b = b.clone();
    up.h.respond(tx, reply(&b, 200, "btag", None));
    assert_eq!(up.h.b.transactions(), 0);
    assert_eq!(up.h.b.poll_timeout(), None);
    // The dialog is gone: a retransmitted BYE is not ours.
    let again = caller_request(Method::Bye, &a_tag, 11, None, None);
    assert!(up.h.request(PA, again).is_err());
    let _ = up.leg_tx;
}

#[test]
fn bye_from_leg_relayed_to_caller() {
    let mut up = up_call(&[("sip_bye_h_X-Leg", "b")], &[("sip_bye_h_X-Caller", "a")]);
    let bye = leg_request(Method::Bye, &up.leg_invite, "btag", 1, None);
    let (server, o) = up.h.request(PB, bye).unwrap();
    let r = o.response(server);
    assert_eq!(o.responds[0].0, PB);
    assert_eq!(r.status(), Some(200));
    assert_eq!(r.to_tag(), up.leg_invite.from_tag());
    let (_, b, hop) = o.send();
    assert_eq!(o.sends[0].1, PA);
    assert_eq!(*hop, Hop::Fixed(caller_dest()));
    assert_eq!(b.request_uri_str(), Some("sip:alice@192.0.2.10:5060"));
    assert_eq!(b.call_id(), Some(CALLER_CID));
    assert_eq!(b.from_tag(), Some(up.a_tag.as_str()));
    assert_eq!(b.to_tag(), Some(CALLER_TAG));
    assert_eq!(b.cseq(), Some((1, Method::Bye)));
    assert_eq!(header(b, "X-Caller"), Some("a"));
    assert_eq!(header(b, "X-Leg"), None);
    let v = b.header(HeaderName::Via).unwrap();
    assert!(
        v.starts_with("SIP/2.0/UDP 10.0.0.1:5060;rport;branch=z9hG4bK"),
        "{v}"
    );
    assert_eq!(up.h.b.calls(), 0);
    let _ = up.ok;
}

#[test]
fn reinvite_from_caller_relayed_with_body_and_answer_relayed_back() {
    let mut up = up_call(&[], &[]);
    let a_tag = up.a_tag.clone();
    let re = caller_request(
        Method::Invite,
        &a_tag,
        11,
        Some(("application/sdp", SDP_A2)),
        Some("<sip:alice@192.0.2.11:5070>"),
    );
    let (server, o) = up.h.request(PA, re).unwrap();
    assert_eq!(
        o.reports,
        vec![Report::Reinvite {
            profile: PA,
            call_id: CALLER_CID.into()
        }]
    );
    assert!(o.responds.is_empty());
    let (tx, m, hop) = o.send();
    assert_eq!(*hop, Hop::Fixed(callee_dest()));
    assert_eq!(m.method(), Method::Invite);
    assert_eq!(m.request_uri_str(), Some("sip:bob@192.0.2.20:5060"));
    assert_eq!(m.call_id(), up.leg_invite.call_id());
    assert_eq!(m.from_tag(), up.leg_invite.from_tag());
    assert_eq!(m.to_tag(), Some("btag"));
    assert_eq!(m.cseq(), Some((2, Method::Invite)));
    assert_eq!(m.max_forwards(), Some(69), "the received value less one");
    assert_eq!(
        m.header(HeaderName::Contact),
        Some("<sip:mod_sofia@203.0.113.5:5080>")
    );
    assert_eq!(m.header(HeaderName::UserAgent), Some("sofia-rs-external"));
    assert_eq!(body(m), SDP_A2);
    assert_eq!(m.header(HeaderName::ContentType), Some("application/sdp"));
    let m = m.clone();
    // A provisional from the leg: not relayed.
    assert!(up.h.respond(tx, reply(&m, 100, "btag", None)).is_empty());
    let o = up.h.respond(
        tx,
        reply_with(&m, 200, "btag", Some(SDP_B2), &[("X-Hold", "ok")]),
    );
    let (ack, _) = o.ack();
    assert_eq!(ack.cseq(), Some((2, Method::Ack)));
    assert_eq!(ack.to_tag(), Some("btag"));
    assert!(ack.body_bytes().is_empty());
    let r = o.response(server);
    assert_eq!(r.status(), Some(200));
    assert_eq!(r.cseq(), Some((11, Method::Invite)));
    assert_eq!(r.to_tag(), Some(a_tag.as_str()));
    assert_eq!(r.from_tag(), Some(CALLER_TAG));
    assert_eq!(
        r.header(HeaderName::Contact),
        Some("<sip:1000@10.0.0.1:5060>")
    );
    assert_eq!(header(r, "X-Hold"), Some("ok"));
    assert_eq!(body(r), SDP_B2);
    // The caller's ACK for it: nothing to relay (the leg was acknowledged).
    assert!(up.h.ack(caller_ack(r, 11, None)).is_empty());
    assert_eq!(up.h.b.transactions(), 0);
    // The caller's new Contact is its target now.
    let bye = leg_request(Method::Bye, &up.leg_invite, "btag", 1, None);
    let (_, o) = up.h.request(PB, bye).unwrap();
    assert_eq!(
        o.send().1.request_uri_str(),
        Some("sip:alice@192.0.2.11:5070")
    );
}

#[test]
fn relayed_request_without_hops_left_is_483() {
    let mut up = up_call(&[], &[]);
    let a_tag = up.a_tag.clone();
    let info = caller_request(
        Method::Info,
        &a_tag,
        11,
        Some(("application/dtmf-relay", "Signal=5\r\n")),
        None,
    );
    let text =
        String::from_utf8_lossy(info.as_bytes()).replace("Max-Forwards: 70", "Max-Forwards: 0");
    let info = Message::parse(bytes::Bytes::from(text)).unwrap();
    let (server, o) = up.h.request(PA, info).unwrap();
    assert!(o.sends.is_empty(), "not relayed: {o:#?}");
    assert_eq!(o.response(server).status(), Some(483));
    assert_eq!(up.h.b.calls(), 1, "the call goes on");
}

/// A call up, and the caller's re-INVITE with a new offer relayed to the
/// callee and answered 200 there: the call, the re-INVITE's server
/// transaction and what the callee's 2xx made the B2BUA do.
fn reinvite_answered() -> (Up, ServerId, Outs) {
    let mut up = up_call(&[], &[]);
    let a_tag = up.a_tag.clone();
    let re = caller_request(
        Method::Invite,
        &a_tag,
        11,
        Some(("application/sdp", SDP_A2)),
        None,
    );
    let (server, o) = up.h.request(PA, re).unwrap();
    let (tx, m, _) = o.send();
    let m = m.clone();
    let o = up.h.respond(tx, reply(&m, 200, "btag", Some(SDP_B2)));
    (up, server, o)
}

#[test]
fn reinvite_2xx_retransmitted_until_ack_then_none_left() {
    let (mut up, server, o) = reinvite_answered();
    let ok = o.response(server).clone();
    let answered = up.h.now;
    // Our 2xx to the caller's re-INVITE (UDP) is sent again at T1, 3T1...
    let mut at = Vec::new();
    while at.len() < 3 {
        let due = up.h.b.poll_timeout().expect("a retransmission timer");
        let o = up.h.advance_to(due);
        if !o.responds.is_empty() {
            assert_eq!(o.response(server).as_bytes(), ok.as_bytes());
            at.push(up.h.now - answered);
        }
    }
    assert_eq!(at, vec![T1, T1 * 3, T1 * 7]);
    // ...until the caller's ACK.
    assert!(up.h.ack(caller_ack(&ok, 11, None)).is_empty());
    let o = up.h.advance(Duration::from_secs(40));
    assert!(o.responds.is_empty() && o.sends.is_empty(), "{o:#?}");
    assert_eq!(up.h.b.calls(), 1, "the call goes on");
}

#[test]
fn reinvite_2xx_without_ack_ends_the_call() {
    let (mut up, _, _) = reinvite_answered();
    let o = up.h.advance(T1 * 65);
    let byes = o
        .sends
        .iter()
        .filter(|s| s.2.method() == Method::Bye)
        .count();
    assert_eq!(byes, 2, "BYE to both sides: {o:#?}");
    assert_eq!(up.h.b.calls(), 0);
}

#[test]
fn reinvite_without_offer_waits_for_the_callers_ack() {
    let mut up = up_call(&[], &[]);
    let a_tag = up.a_tag.clone();
    let re = caller_request(
        Method::Invite,
        &a_tag,
        11,
        None,
        Some("<sip:alice@192.0.2.10:5060>"),
    );
    let (server, o) = up.h.request(PA, re).unwrap();
    let (tx, m, _) = o.send();
    assert!(m.body_bytes().is_empty());
    let m = m.clone();
    let o = up.h.respond(tx, reply(&m, 200, "btag", Some(SDP_B2)));
    assert!(o.acks.is_empty(), "the answer is in the caller's ACK");
    let r = o.response(server).clone();
    assert_eq!(body(&r), SDP_B2);
    let o = up.h.ack(caller_ack(&r, 11, Some(SDP_A2)));
    let (ack, hop) = o.ack();
    assert_eq!(*hop, Hop::Fixed(callee_dest()));
    assert_eq!(ack.cseq(), Some((2, Method::Ack)));
    assert_eq!(ack.to_tag(), Some("btag"));
    assert_eq!(ack.call_id(), up.leg_invite.call_id());
    assert_eq!(body(ack), SDP_A2);
    assert_eq!(ack.header(HeaderName::ContentType), Some("application/sdp"));
}

#[test]
fn reinvite_from_leg_relayed_to_caller() {
    let mut up = up_call(&[], &[]);
    let re = leg_request(
        Method::Invite,
        &up.leg_invite,
        "btag",
        5,
        Some(("application/sdp", SDP_B2)),
    );
    let (server, o) = up.h.request(PB, re).unwrap();
    assert_eq!(
        o.reports,
        vec![Report::Reinvite {
            profile: PB,
            call_id: up.leg_invite.call_id().unwrap().into()
        }]
    );
    let (tx, m, hop) = o.send();
    assert_eq!(o.sends[0].1, PA);
    assert_eq!(*hop, Hop::Fixed(caller_dest()));
    assert_eq!(m.request_uri_str(), Some("sip:alice@192.0.2.10:5060"));
    assert_eq!(m.call_id(), Some(CALLER_CID));
    assert_eq!(m.from_tag(), Some(up.a_tag.as_str()));
    assert_eq!(m.to_tag(), Some(CALLER_TAG));
    assert_eq!(m.cseq(), Some((1, Method::Invite)));
    assert_eq!(
        m.header(HeaderName::Contact),
        Some("<sip:1000@10.0.0.1:5060>")
    );
    assert_eq!(body(m), SDP_B2);
    let m = m.clone();
    let ok = ResponseBuilder::reply_to(&m, 200, "OK", None)
        .header(HeaderName::Contact, "<sip:alice@192.0.2.10:5060>")
        .body("application/sdp", SDP_A2)
        .build()
        .unwrap();
    let o = up.h.respond(tx, ok.clone());
    let (ack, hop) = o.ack();
    assert_eq!(o.acks[0].0, PA);
    assert_eq!(*hop, Hop::Fixed(caller_dest()));
    assert_eq!(ack.cseq(), Some((1, Method::Ack)));
    assert_eq!(ack.to_tag(), Some(CALLER_TAG));
    let r = o.response(server);
    assert_eq!(o.responds[0].0, PB);
    assert_eq!(r.status(), Some(200));
    assert_eq!(r.cseq(), Some((5, Method::Invite)));
    assert_eq!(r.to_tag(), up.leg_invite.from_tag());
    assert_eq!(
        r.header(HeaderName::Contact),
        Some("<sip:mod_sofia@203.0.113.5:5080>")
    );
    assert_eq!(body(r), SDP_A2);
    // The next request to the caller counts on from there.
    let info = leg_request(Method::Info, &up.leg_invite, "btag", 6, None);
    let (_, o) = up.h.request(PB, info).unwrap();
    assert_eq!(o.send().1.cseq(), Some((2, Method::Info)));
}

#[test]
fn reinvite_from_leg_without_offer_waits_for_the_legs_ack() {
    let mut up = up_call(&[], &[]);
    let re = leg_request(Method::Invite, &up.leg_invite, "btag", 5, None);
    let (server, o) = up.h.request(PB, re).unwrap();
    let (tx, m, _) = o.send();
    let m = m.clone();
    let ok = ResponseBuilder::reply_to(&m, 200, "OK", None)
        .header(HeaderName::Contact, "<sip:alice@192.0.2.10:5060>")
        .body("application/sdp", SDP_A2)
        .build()
        .unwrap();
    let o = up.h.respond(tx, ok);
    assert!(o.acks.is_empty());
    let r = o.response(server).clone();
    assert_eq!(body(&r), SDP_A2);
    // The leg's ACK with its answer.
    let ack = RequestBuilder::new(Method::Ack, "sip:mod_sofia@203.0.113.5:5080")
        .header(
            HeaderName::Via,
            "SIP/2.0/UDP 192.0.2.20:5060;branch=z9hG4bK-b-ack5",
        )
        .header(HeaderName::MaxForwards, "70")
        .header(HeaderName::From, r.header(HeaderName::From).unwrap())
        .header(HeaderName::To, r.header(HeaderName::To).unwrap())
        .header(HeaderName::CallId, r.call_id().unwrap())
        .header(HeaderName::CSeq, "5 ACK")
        .body("application/sdp", SDP_B2)
        .build()
        .unwrap();
    let o = up.h.ack(ack);
    let (a, hop) = o.ack();
    assert_eq!(o.acks[0].0, PA);
    assert_eq!(*hop, Hop::Fixed(caller_dest()));
    assert_eq!(a.cseq(), Some((1, Method::Ack)));
    assert_eq!(a.call_id(), Some(CALLER_CID));
    assert_eq!(a.to_tag(), Some(CALLER_TAG));
    assert_eq!(body(a), SDP_B2);
}

#[test]
fn info_and_update_relayed_with_final_responses() {
    let mut up = up_call(&[], &[]);
    let a_tag = up.a_tag.clone();
    // INFO from the caller: relayed with its body and X- headers.
    let info = RequestBuilder::new(Method::Info, "sip:1000@10.0.0.1:5060")
        .header(
            HeaderName::Via,
            "SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-info",
        )
        .header(HeaderName::MaxForwards, "70")
        .header(
            HeaderName::From,
            &format!("<sip:alice@192.0.2.10>;tag={CALLER_TAG}"),
        )
        .header(HeaderName::To, &format!("<sip:1000@10.0.0.1>;tag={a_tag}"))
        .header(HeaderName::CallId, CALLER_CID)
        .header(HeaderName::CSeq, "12 INFO")
        .header_named("X-Dtmf", "1")
        .header_named("P-Private", "not-relayed")
        .body("application/dtmf-relay", "Signal=1\r\nDuration=160\r\n")
        .build()
        .unwrap();
    let (server, o) = up.h.request(PA, info).unwrap();
    assert!(o.reports.is_empty());
    let (tx, m, _) = o.send();
    assert_eq!(m.method(), Method::Info);
    assert_eq!(m.cseq(), Some((2, Method::Info)));
    assert_eq!(m.to_tag(), Some("btag"));
    assert_eq!(header(m, "X-Dtmf"), Some("1"));
    assert_eq!(header(m, "P-Private"), None);
    assert_eq!(m.header(HeaderName::Contact), None);
    assert_eq!(
        m.header(HeaderName::ContentType),
        Some("application/dtmf-relay")
    );
    assert_eq!(body(m), "Signal=1\r\nDuration=160\r\n");
    let m = m.clone();
    let o = up.h.respond(tx, reply(&m, 200, "btag", None));
    assert!(o.acks.is_empty());
    let r = o.response(server);
    assert_eq!(r.status(), Some(200));
    assert_eq!(r.cseq(), Some((12, Method::Info)));
    assert_eq!(r.to_tag(), Some(a_tag.as_str()));
    assert_eq!(r.header(HeaderName::Contact), None);
    // UPDATE from the leg: relayed to the caller with our Contact; a 488
    // comes back.
    let update = leg_request(
        Method::Update,
        &up.leg_invite,
        "btag",
        3,
        Some(("application/sdp", SDP_B2)),
    );
    let (server, o) = up.h.request(PB, update).unwrap();
    let (tx, m, _) = o.send();
    assert_eq!(m.method(), Method::Update);
    assert_eq!(m.cseq(), Some((1, Method::Update)));
    assert_eq!(
        m.header(HeaderName::Contact),
        Some("<sip:1000@10.0.0.1:5060>")
    );
    assert_eq!(body(m), SDP_B2);
    let m = m.clone();
    let nope = ResponseBuilder::reply_to(&m, 488, "Not Acceptable Here", None)
        .build()
        .unwrap();
    let o = up.h.respond(tx, nope);
    assert!(o.acks.is_empty());
    let r = o.response(server);
    assert_eq!(r.status(), Some(488));
    assert_eq!(r.reason(), Some("Not Acceptable Here"));
    assert_eq!(r.cseq(), Some((3, Method::Update)));
    assert_eq!(r.to_tag(), up.leg_invite.from_tag());
    // A relayed request that times out: 408 back.
    let info = leg_request(Method::Info, &up.leg_invite, "btag", 4, None);
    let (server, o) = up.h.request(PB, info).unwrap();
    let (tx, ..) = o.send();
    let o = up.h.timeout(tx);
    assert_eq!(o.response(server).status(), Some(408));
    assert_eq!(up.h.b.transactions(), 0);
}

#[test]
fn cancel_of_relayed_reinvite_cancels_its_relay() {
    let mut up = up_call(&[], &[]);
    let a_tag = up.a_tag.clone();
    let re = caller_request(
        Method::Invite,
        &a_tag,
        11,
        Some(("application/sdp", SDP_A2)),
        None,
    );
    let (server, o) = up.h.request(PA, re).unwrap();
    let (tx, m, _) = o.send();
    let m = m.clone();
    let o = up.h.cancelled(server);
    assert_eq!(o.cancels, vec![tx]);
    assert!(o.responds.is_empty());
    let o = up.h.respond(tx, reply(&m, 487, "btag", None));
    assert_eq!(o.response(server).status(), Some(487));
    assert_eq!(up.h.b.calls(), 1, "the call stays up");
}

#[test]
fn requests_outside_known_dialogs() {
    let mut h = H::new();
    let (server, o) = h.invite(caller_invite(Some(SDP_A)), plan(vec![vec![leg("1000")]]));
    let (tx, inv, _) = o.send();
    let inv = inv.clone();
    let o = h.respond(tx, reply(&inv, 180, "btag", None));
    let a_tag = o.response(server).to_tag().unwrap().to_string();
    // Unknown To tag: not ours (the driver answers 481).
    let stray = caller_request(Method::Info, "no-such-tag", 11, None, None);
    let back = h.request(PA, stray).unwrap_err();
    assert_eq!(back.to_tag(), Some("no-such-tag"));
    // A request in the early dialog: 481 with our tag.
    let early = caller_request(Method::Info, &a_tag, 11, None, None);
    let (srv, o) = h.request(PA, early).unwrap();
    let r = o.response(srv);
    assert_eq!(r.status(), Some(481));
    assert_eq!(r.to_tag(), Some(a_tag.as_str()));
    assert!(o.sends.is_empty());
    // Answered: a lower CSeq than the INVITE's is 500.
    let o = h.respond(tx, reply(&inv, 200, "btag", Some(SDP_B)));
    let ok = o.response(server).clone();
    h.ack(caller_ack(&ok, 10, None));
    let old = caller_request(Method::Info, &a_tag, 9, None, None);
    let (srv, o) = h.request(PA, old).unwrap();
    let r = o.response(srv);
    assert_eq!(r.status(), Some(500));
    assert_eq!(r.cseq(), Some((9, Method::Info)));
    assert!(o.sends.is_empty());
    // A request from the leg with a tag we never gave: not ours.
    let stray = leg_request(Method::Bye, &inv, "btag", 1, None);
    let stray =
        Message::parse(bytes_replace(&stray, inv.from_tag().unwrap(), "other-tag").into()).unwrap();
    assert!(h.request(PB, stray).is_err());
    assert_eq!(h.b.calls(), 1);
}

fn bytes_replace(m: &Message, from: &str, to: &str) -> Vec<u8> {
    String::from_utf8(m.as_bytes().to_vec())
        .unwrap()
        .replace(from, to)
        .into_bytes()
}

#[test]
fn relayed_request_answered_after_the_call_ended_still_answered() {
    let mut up = up_call(&[], &[]);
    let a_tag = up.a_tag.clone();
    let info = caller_request(Method::Info, &a_tag, 11, Some(("text/plain", "hi")), None);
    let (info_server, o) = up.h.request(PA, info).unwrap();
    let (tx, m, _) = o.send();
    let m = m.clone();
    // The leg hangs up before answering the INFO.
    let bye = leg_request(Method::Bye, &up.leg_invite, "btag", 1, None);
    up.h.request(PB, bye).unwrap();
    assert_eq!(up.h.b.calls(), 0);
    // Its 200 to the INFO still answers the caller's transaction.
    let o = up.h.respond(tx, reply(&m, 200, "btag", None));
    let r = o.response(info_server);
    assert_eq!(r.status(), Some(200));
    assert_eq!(r.cseq(), Some((11, Method::Info)));
    assert_eq!(r.to_tag(), Some(a_tag.as_str()));
    assert!(o.acks.is_empty() && o.sends.is_empty());
}

#[test]
fn two_hundred_without_contact_fails_the_leg() {
    let mut h = H::new();
    let (server, o) = h.invite(
        caller_invite(Some(SDP_A)),
        plan(vec![vec![leg("bad")], vec![leg("good")]]),
    );
    let (tx, inv, _) = o.send();
    let broken = ResponseBuilder::reply_to(inv, 200, "OK", Some("t"))
        .body("application/sdp", SDP_B)
        .build()
        .unwrap();
    let o = h.respond(tx, broken);
    assert!(o.responds.is_empty(), "{o:#?}");
    let (t2, i2, _) = o.send();
    assert_eq!(i2.request_uri_str(), Some("sip:good@192.0.2.20:5060"));
    let i2 = i2.clone();
    h.b.on_finished(tx);
    let o = h.respond(t2, reply(&i2, 200, "g", Some(SDP_B)));
    assert_eq!(o.response(server).status(), Some(200));
    assert_eq!(o.ack().0.to_tag(), Some("g"));
}

#[test]
fn fork_of_the_winner_is_acknowledged_and_ended() {
    let mut h = H::new();
    let (server, o) = h.invite(caller_invite(Some(SDP_A)), plan(vec![vec![leg("1000")]]));
    let (tx, inv, _) = o.send();
    let inv = inv.clone();
    let o = h.respond(tx, reply(&inv, 200, "first", Some(SDP_B)));
    let ok = o.response(server).clone();
    // A forking proxy lets a second phone answer the same INVITE.
    let o = h.respond(tx, reply(&inv, 200, "second", Some(SDP_B2)));
    assert!(o.responds.is_empty(), "the caller keeps its answer: {o:#?}");
    let (ack, _) = o.ack();
    assert_eq!(ack.to_tag(), Some("second"));
    let (bye_tx, bye, _) = o.send();
    assert_eq!(bye.method(), Method::Bye);
    assert_eq!(bye.to_tag(), Some("second"));
    assert_eq!(bye.call_id(), inv.call_id());
    let bye = bye.clone();
    h.respond(bye_tx, reply(&bye, 200, "second", None));
    h.b.on_finished(tx);
    h.ack(caller_ack(&ok, 10, None));
    // The first one is still the call: the caller's BYE goes to it.
    let a_tag = ok.to_tag().unwrap().to_string();
    let (_, o) = h
        .request(PA, caller_request(Method::Bye, &a_tag, 11, None, None))
        .unwrap();
    let (_, bye, _) = o.send();
    assert_eq!(bye.to_tag(), Some("first"));
    assert_eq!(h.b.calls(), 0);
}

#[test]
fn record_routes_and_outbound_proxy_steer_in_dialog_requests() {
    let mut h = H::new();
    let mut l = leg("1000");
    l.route = Some("sip:proxy.example.net:5060".into());
    l.hop = Hop::Uri("sip:proxy.example.net:5060".into());
    let invite = RequestBuilder::new(Method::Invite, "sip:1000@10.0.0.1:5060")
        .header(
            HeaderName::Via,
            "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-edge",
        )
        .header(
            HeaderName::Via,
            "SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-caller-1",
        )
        .header(HeaderName::RecordRoute, "<sip:edge.example.net;lr>")
        .header(HeaderName::MaxForwards, "69")
        .header(
            HeaderName::From,
            &format!("<sip:alice@192.0.2.10>;tag={CALLER_TAG}"),
        )
        .header(HeaderName::To, "<sip:1000@10.0.0.1>")
        .header(HeaderName::CallId, CALLER_CID)
        .header(HeaderName::CSeq, "10 INVITE")
        .header(HeaderName::Contact, "<sip:alice@192.0.2.10:5060>")
        .body("application/sdp", SDP_A)
        .build()
        .unwrap();
    let (server, o) = h.invite(invite, plan(vec![vec![l]]));
    let (tx, inv, hop) = o.send();
    assert_eq!(*hop, Hop::Uri("sip:proxy.example.net:5060".into()));
    assert_eq!(
        inv.header(HeaderName::Route),
        Some("<sip:proxy.example.net:5060;lr>")
    );
    assert_eq!(inv.max_forwards(), Some(68));
    let inv = inv.clone();
    let o = h.respond(tx, reply(&inv, 180, "btag", None));
    let r = o.response(server);
    assert_eq!(r.header_lines(HeaderName::Via).count(), 2, "every Via back");
    assert_eq!(
        r.header(HeaderName::RecordRoute),
        Some("<sip:edge.example.net;lr>")
    );
    // The leg's 2xx came through a record-routing proxy.
    let ok = reply_with(
        &inv,
        200,
        "btag",
        Some(SDP_B),
        &[("Record-Route", "<sip:rr.example.net;lr>")],
    );
    let o = h.respond(tx, ok);
    let (ack, hop) = o.ack();
    assert_eq!(*hop, Hop::Uri("sip:rr.example.net;lr".into()));
    assert_eq!(ack.request_uri_str(), Some("sip:bob@192.0.2.20:5060"));
    assert_eq!(
        ack.header(HeaderName::Route),
        Some("<sip:rr.example.net;lr>")
    );
    let ok = o.response(server).clone();
    assert_eq!(
        ok.header(HeaderName::RecordRoute),
        Some("<sip:edge.example.net;lr>")
    );
    h.ack(caller_ack(&ok, 10, None));
    // The leg hangs up: our BYE to the caller goes by its edge proxy.
    let (_, o) = h
        .request(PB, leg_request(Method::Bye, &inv, "btag", 1, None))
        .unwrap();
    let (_, bye, hop) = o.send();
    assert_eq!(*hop, Hop::Uri("sip:edge.example.net;lr".into()));
    assert_eq!(bye.request_uri_str(), Some("sip:alice@192.0.2.10:5060"));
    assert_eq!(
        bye.header(HeaderName::Route),
        Some("<sip:edge.example.net;lr>")
    );
}

#[test]
fn shutdown_ends_every_call() {
    let mut up = up_call(&[], &[]);
    let (ringing, _) = up.h.invite(
        RequestBuilder::new(Method::Invite, "sip:1001@10.0.0.1")
            .header(HeaderName::Via, "SIP/2.0/UDP 192.0.2.30;branch=z9hG4bK-c")
            .header(HeaderName::From, "<sip:carol@192.0.2.30>;tag=c")
            .header(HeaderName::To, "<sip:1001@10.0.0.1>")
            .header(HeaderName::CallId, "carol-1")
            .header(HeaderName::CSeq, "1 INVITE")
            .header(HeaderName::Contact, "<sip:carol@192.0.2.30>")
            .build()
            .unwrap(),
        plan(vec![vec![leg("1001")]]),
    );
    up.h.b.shutdown();
    let o = up.h.drain();
    assert_eq!(o.response(ringing).status(), Some(503));
    assert_eq!(
        o.sends
            .iter()
            .filter(|s| s.2.method() == Method::Bye)
            .count(),
        2
    );
    assert!(o.has_report(&Report::Ended {
        profile: PA,
        call_id: CALLER_CID.into(),
        cause: "SYSTEM_SHUTDOWN"
    }));
}

// ---------------------------------------------------------------------
// Random event sequences
// ---------------------------------------------------------------------

/// What a test step does; indices pick among what exists at that time.
#[derive(Debug, Clone)]
enum Act {
    /// A new call with `groups` groups of up to 3 legs.
    Call {
        groups: Vec<Vec<bool>>,
        offer: bool,
        timeout: u8,
    },
    /// A response to an open client transaction.
    Respond {
        pick: usize,
        status: u16,
        fork: bool,
    },
    /// An open client transaction times out (before any final response).
    Timeout { pick: usize },
    /// A transaction that had a 2xx ends.
    Finish { pick: usize },
    /// The caller ACKs our 2xx.
    CallerAck { pick: usize, body: bool },
    /// The caller CANCELs.
    CallerCancel { pick: usize },
    /// The caller sends BYE, re-INVITE or INFO in its dialog.
    CallerRequest { pick: usize, kind: u8, cseq: u32 },
    /// A leg that answered sends BYE or re-INVITE, or ACKs.
    LegRequest { pick: usize, kind: u8, cseq: u32 },
    /// Time passes.
    Advance { ms: u32 },
}

fn act() -> impl Strategy<Value = Act> {
    prop_oneof![
        1 => (
            prop::collection::vec(prop::collection::vec(any::<bool>(), 1..4), 0..4),
            any::<bool>(),
            0u8..90
        )
            .prop_map(|(groups, offer, timeout)| Act::Call { groups, offer, timeout }),
        8 => (
            any::<usize>(),
            prop::sample::select(vec![
                100u16, 180, 183, 183, 200, 200, 202, 302, 401, 407, 404, 408, 480, 486, 487,
                488, 500, 503, 600, 603
            ]),
            prop::bool::weighted(0.1)
        )
            .prop_map(|(pick, status, fork)| Act::Respond { pick, status, fork }),
        1 => any::<usize>().prop_map(|pick| Act::Timeout { pick }),
        2 => any::<usize>().prop_map(|pick| Act::Finish { pick }),
        2 => (any::<usize>(), any::<bool>()).prop_map(|(pick, body)| Act::CallerAck { pick, body }),
        1 => any::<usize>().prop_map(|pick| Act::CallerCancel { pick }),
        2 => (any::<usize>(), 0u8..4, 0u32..30)
            .prop_map(|(pick, kind, cseq)| Act::CallerRequest { pick, kind, cseq }),
        2 => (any::<usize>(), 0u8..4, 0u32..30)
            .prop_map(|(pick, kind, cseq)| Act::LegRequest { pick, kind, cseq }),
        2 => (0u32..70_000).prop_map(|ms| Act::Advance { ms }),
    ]
}

/// A client transaction as the simulated network sees it.
#[derive(Debug, Clone)]
struct SimTx {
    tx: TxId,
    req: Message,
    /// A final response came (a 2xx keeps it open until Finish).
    final_: Option<u16>,
    /// The To tag of its responses.
    tag: String,
}

/// A caller as the simulation sees it.
#[derive(Debug)]
struct SimCall {
    server: ServerId,
    invite: Message,
    /// Our tag (from any response with one) and the last 2xx.
    tag: Option<String>,
    ok: Option<Message>,
    finaled: bool,
}

struct Sim {
    h: H,
    txs: Vec<SimTx>,
    calls: Vec<SimCall>,
    /// Leg INVITEs answered 2xx by the simulation: (invite, tag).
    answered: Vec<(Message, String)>,
    n: u32,
}

impl Sim {
    fn new() -> Sim {
        Sim {
            h: H::new(),
            txs: Vec::new(),
            calls: Vec::new(),
            answered: Vec::new(),
            n: 0,
        }
    }

    fn absorb(&mut self, o: Outs) {
        for (tx, _, req, _) in o.sends {
            self.n += 1;
            self.txs.push(SimTx {
                tx,
                req,
                final_: None,
                tag: format!("s{}", self.n),
            });
        }
        for (_, server, msg) in o.responds {
            if let Some(c) = self.calls.iter_mut().find(|c| c.server == server) {
                if msg.cseq().map(|c| c.1) != Some(Method::Invite)
                    || msg.cseq().map(|c| c.0) != Some(10)
                {
                    continue;
                }
                if let Some(t) = msg.to_tag() {
                    c.tag = Some(t.to_string());
                }
                let s = msg.status().unwrap_or(0);
                if s >= 200 {
                    assert!(
                        !c.finaled || (200..300).contains(&s),
                        "a second final response to a caller: {msg:?}"
                    );
                    c.finaled = true;
                }
                if (200..300).contains(&s) {
                    c.ok = Some(msg);
                }
            }
        }
    }

    fn open(&self) -> Vec<usize> {
        (0..self.txs.len())
            .filter(|i| self.txs[*i].final_.is_none_or(|s| (200..300).contains(&s)))
            .collect()
    }

    fn step(&mut self, a: &Act) {
        let o = match a {
            Act::Call {
                groups,
                offer,
                timeout,
            } => {
                self.n += 1;
                let invite = RequestBuilder::new(Method::Invite, "sip:1000@10.0.0.1")
                    .header(
                        HeaderName::Via,
                        &format!("SIP/2.0/UDP 192.0.2.10;branch=z9hG4bK-p{}", self.n),
                    )
                    .header(
                        HeaderName::From,
                        &format!("<sip:a@192.0.2.10>;tag=a{}", self.n),
                    )
                    .header(HeaderName::To, "<sip:1000@10.0.0.1>")
                    .header(HeaderName::CallId, &format!("call-{}", self.n))
                    .header(HeaderName::CSeq, "10 INVITE")
                    .header(HeaderName::Contact, "<sip:a@192.0.2.10>")
                    .body("application/sdp", if *offer { SDP_A } else { "" })
                    .build()
                    .unwrap();
                let groups = groups
                    .iter()
                    .map(|g| {
                        g.iter()
                            .enumerate()
                            .map(|(i, creds)| {
                                let mut l = leg(&format!("l{i}"));
                                if *creds {
                                    l.credentials = Some(("u".into(), "p".into()));
                                }
                                l
                            })
                            .collect()
                    })
                    .collect();
                let mut p = plan(groups);
                p.vars = vars(&[("call_timeout", timeout.to_string().as_str())]);
                let (server, o) = self.h.invite(invite.clone(), p);
                self.calls.push(SimCall {
                    server,
                    invite,
                    tag: None,
                    ok: None,
                    finaled: false,
                });
                o
            }
            Act::Respond { pick, status, fork } => {
                let open = self.open();
                if open.is_empty() {
                    return;
                }
                let i = open[pick % open.len()];
                let t = self.txs[i].clone();
                let is_invite = t.req.method() == Method::Invite;
                let status = if is_invite {
                    *status
                } else if *status < 200 {
                    200
                } else {
                    *status
                };
                if t.final_.is_some() && !(200..300).contains(&status) {
                    return;
                }
                let tag = if *fork {
                    format!("{}-fork", t.tag)
                } else {
                    t.tag.clone()
                };
                let mut extra = Vec::new();
                if status == 401 {
                    extra.push(("WWW-Authenticate", CHALLENGE));
                } else if status == 407 {
                    extra.push(("Proxy-Authenticate", CHALLENGE));
                }
                let body = match status {
                    183 => Some(SDP_B_EARLY),
                    200..=299 if is_invite => Some(SDP_B),
                    _ => None,
                };
                let msg = reply_with(&t.req, status, &tag, body, &extra);
                if status >= 200 {
                    self.txs[i].final_ = Some(status);
                    if !is_invite {
                        self.txs[i].final_ = Some(999);
                    }
                }
                if is_invite && (200..300).contains(&status) && t.req.to_tag().is_none() {
                    self.answered.push((t.req.clone(), tag));
                }
                self.h.respond(t.tx, msg)
            }
            Act::Timeout { pick } => {
                let open: Vec<usize> = self
                    .open()
                    .into_iter()
                    .filter(|i| self.txs[*i].final_.is_none())
                    .collect();
                if open.is_empty() {
                    return;
                }
                let i = open[pick % open.len()];
                self.txs[i].final_ = Some(999);
                self.h.timeout(self.txs[i].tx)
            }
            Act::Finish { pick } => {
                let done: Vec<usize> = (0..self.txs.len())
                    .filter(|i| self.txs[*i].final_.is_some_and(|s| (200..300).contains(&s)))
                    .collect();
                if done.is_empty() {
                    return;
                }
                let i = done[pick % done.len()];
                self.txs[i].final_ = Some(999);
                self.h.b.on_finished(self.txs[i].tx);
                self.h.drain()
            }
            Act::CallerAck { pick, body } => {
                if self.calls.is_empty() {
                    return;
                }
                let c = &self.calls[pick % self.calls.len()];
                let Some(ok) = &c.ok else {
                    return;
                };
                let ack = caller_ack(ok, 10, body.then_some(SDP_A));
                self.h.ack(ack)
            }
            Act::CallerCancel { pick } => {
                if self.calls.is_empty() {
                    return;
                }
                let server = self.calls[pick % self.calls.len()].server;
                self.h.cancelled(server)
            }
            Act::CallerRequest { pick, kind, cseq } => {
                if self.calls.is_empty() {
                    return;
                }
                let c = &self.calls[pick % self.calls.len()];
                let Some(tag) = c.tag.clone() else {
                    return;
                };
                let (method, body) = match kind {
                    0 => (Method::Bye, None),
                    1 => (Method::Invite, Some(("application/sdp", SDP_A2))),
                    2 => (Method::Invite, None),
                    _ => (Method::Info, Some(("text/plain", "x"))),
                };
                let req = RequestBuilder::new(method, "sip:1000@10.0.0.1")
                    .header(
                        HeaderName::Via,
                        &format!("SIP/2.0/UDP 192.0.2.10;branch=z9hG4bK-r{}", self.n),
                    )
                    .header(HeaderName::From, c.invite.header(HeaderName::From).unwrap())
                    .header(HeaderName::To, &format!("<sip:1000@10.0.0.1>;tag={tag}"))
                    .header(HeaderName::CallId, c.invite.call_id().unwrap())
                    .header(
                        HeaderName::CSeq,
                        &format!("{} {}", 5 + cseq, method.as_str()),
                    )
                    .header(HeaderName::Contact, "<sip:a@192.0.2.10>");
                let req = match body {
                    Some((ct, b)) => req.body(ct, b),
                    None => req,
                }
                .build()
                .unwrap();
                self.n += 1;
                match self.h.request(PA, req) {
                    Ok((_, o)) => o,
                    Err(_) => return,
                }
            }
            Act::LegRequest { pick, kind, cseq } => {
                if self.answered.is_empty() {
                    return;
                }
                let (inv, tag) = self.answered[pick % self.answered.len()].clone();
                let req = match kind {
                    0 => leg_request(Method::Bye, &inv, &tag, *cseq, None),
                    1 => leg_request(
                        Method::Invite,
                        &inv,
                        &tag,
                        *cseq,
                        Some(("application/sdp", SDP_B2)),
                    ),
                    2 => leg_request(Method::Invite, &inv, &tag, *cseq, None),
                    _ => {
                        let ack = leg_request(Method::Ack, &inv, &tag, *cseq, None);
                        self.h.b.on_ack(self.h.now, ack);
                        let o = self.h.drain();
                        self.absorb(o);
                        return;
                    }
                };
                match self.h.request(PB, req) {
                    Ok((_, o)) => o,
                    Err(_) => return,
                }
            }
            Act::Advance { ms } => {
                let at = self.h.now + Duration::from_millis(u64::from(*ms));
                let mut outs = Vec::new();
                while let Some(due) = self.h.b.poll_timeout() {
                    if due > at {
                        break;
                    }
                    outs.push(self.h.advance_to(due.max(self.h.now)));
                }
                self.h.now = at;
                for o in outs {
                    self.absorb(o);
                }
                return;
            }
        };
        self.absorb(o);
    }

    /// Lets everything finish: every open transaction gets a final
    /// response (CANCELled INVITEs 487, others 408 or 200), answered calls
    /// are hung up, and time runs until no timer is left.
    fn settle(&mut self) {
        for round in 0..50 {
            // Answer what is open.
            for i in self.open() {
                let t = self.txs[i].clone();
                match t.final_ {
                    Some(_) => {
                        self.txs[i].final_ = Some(999);
                        self.h.b.on_finished(t.tx);
                        let o = self.h.drain();
                        self.absorb(o);
                    }
                    None => {
                        let status = if t.req.method() == Method::Invite {
                            if round % 2 == 0 { 487 } else { 480 }
                        } else {
                            200
                        };
                        self.txs[i].final_ = Some(999);
                        let msg = reply(&t.req, status, &t.tag, None);
                        let o = self.h.respond(t.tx, msg);
                        self.absorb(o);
                    }
                }
            }
            // Hang up from the caller side.
            for c in 0..self.calls.len() {
                let Some(tag) = self.calls[c].tag.clone() else {
                    continue;
                };
                let inv = self.calls[c].invite.clone();
                let bye = RequestBuilder::new(Method::Bye, "sip:1000@10.0.0.1")
                    .header(HeaderName::Via, "SIP/2.0/UDP 192.0.2.10;branch=z9hG4bK-end")
                    .header(HeaderName::From, inv.header(HeaderName::From).unwrap())
                    .header(HeaderName::To, &format!("<sip:1000@10.0.0.1>;tag={tag}"))
                    .header(HeaderName::CallId, inv.call_id().unwrap())
                    .header(HeaderName::CSeq, "1000 BYE")
                    .build()
                    .unwrap();
                if let Ok((_, o)) = self.h.request(PA, bye) {
                    self.absorb(o);
                }
            }
            // Run the clock.
            while let Some(due) = self.h.b.poll_timeout() {
                let o = self.h.advance_to(due.max(self.h.now));
                self.absorb(o);
            }
            if self.open().is_empty() && self.h.b.calls() == 0 {
                return;
            }
        }
    }
}

proptest! {
    /// Random but plausible sequences (responses only to open
    /// transactions, timeouts only before a final response) never panic,
    /// never give a caller two different final answers, and once every
    /// transaction has ended and the answered calls are hung up, nothing
    /// is left: no call, no transaction, no timer.
    #[test]
    fn random_sequences_leave_nothing_behind(acts in prop::collection::vec(act(), 1..80)) {
        let mut sim = Sim::new();
        sim.step(&Act::Call { groups: vec![vec![false, true], vec![false]], offer: true, timeout: 30 });
        for a in &acts {
            sim.step(a);
        }
        sim.settle();
        prop_assert_eq!(sim.h.b.calls(), 0);
        prop_assert_eq!(sim.h.b.transactions(), 0);
        prop_assert_eq!(sim.h.b.poll_timeout(), None);
        for c in &sim.calls {
            prop_assert!(c.finaled, "the caller of {:?} got no final response", c.invite.call_id());
        }
    }

    /// Arbitrary inputs, plausible or not (responses to unknown or
    /// finished transactions, timeouts after answers, stray ACKs), never
    /// panic.
    #[test]
    fn arbitrary_inputs_never_panic(
        ops in prop::collection::vec((0u8..8, 0u64..12, 100u16..700, any::<bool>()), 1..120)
    ) {
        let mut h = H::new();
        let mut sent: Vec<(TxId, Message)> = Vec::new();
        let mut servers = Vec::new();
        for (op, n, status, flag) in ops {
            match op {
                0 => {
                    let legs = (0..=n % 3).map(|i| leg(&format!("x{i}"))).collect();
                    let (s, _) = h.invite(
                        caller_invite(flag.then_some(SDP_A)),
                        plan(vec![legs, vec![leg("y")]]),
                    );
                    servers.push(s);
                }
                1 => {
                    let (tx, req) = sent
                        .get(n as usize % sent.len().max(1))
                        .cloned()
                        .unwrap_or((TxId(n), caller_invite(None)));
                    let tag = if flag { "t" } else { "u" };
                    let r = reply(&req, status, tag, Some(SDP_B));
                    h.b.on_response(h.now, tx, r);
                }
                2 => h.b.on_timeout(h.now, TxId(n)),
                3 => h.b.on_finished(TxId(n)),
                4 => {
                    let s = servers.get(n as usize % servers.len().max(1)).copied().unwrap_or(ServerId(n));
                    h.b.on_cancelled(h.now, PA, s);
                }
                5 => {
                    let ok = reply(&caller_invite(None), 200, "whatever", None);
                    h.b.on_ack(h.now, caller_ack(&ok, 10, flag.then_some(SDP_A)));
                }
                6 => {
                    let _ = h.request(PA, caller_request(Method::Bye, "x", n as u32, None, None));
                }
                _ => {
                    let _ = h.advance(Duration::from_millis(n * 7000));
                }
            }
            let o = h.drain();
            for (tx, _, m, _) in o.sends {
                sent.push((tx, m));
            }
        }
        h.b.shutdown();
        let _ = h.drain();
    }
}
