//! The signalling-only back-to-back user agent that bridges calls: a
//! caller's INVITE (the A leg) is answered by us, and new INVITEs (the B
//! legs) go where the routing picked; responses, CANCEL, BYE and in-dialog
//! requests are carried from one side to the other. SDP is passed through
//! untouched: media flows between the phones, not through the daemon.
//!
//! [`Bridge`] is sans-IO (ARCHITECTURE.md rule 1): it takes received
//! messages, transaction outcomes and the time, and gives back
//! [`Output`]s: responses to send on server transactions, requests to send
//! in client transactions (with where they go), CANCELs, ACKs, and
//! [`Report`]s for the daemon's counters and events. The daemon's driver
//! (`switch.rs`) runs it over the profiles' transaction engines.
//!
//! What it keeps from RFC 3261 and FreeSWITCH:
//! - legs of a group ring at once; the first 2xx wins, the others are
//!   cancelled (or, for a late 2xx, acknowledged and ended with BYE); groups
//!   are tried in turn while legs fail;
//! - provisional responses are relayed (180 once, 183 with each new SDP);
//!   the A leg's 2xx is retransmitted until its ACK (§13.3.1.4); the B leg's
//!   2xx is acknowledged at once, or, when the caller made no offer (the
//!   offer is in the 2xx), with the answer from the caller's ACK;
//! - a CANCEL from the caller is answered 487 and cancels every leg (legs
//!   without a provisional response are cancelled when one comes);
//! - BYE from either side is answered 200 and sent to the other side;
//!   re-INVITE, UPDATE, INFO, MESSAGE, NOTIFY and REFER are relayed in the
//!   other leg's dialog with their bodies, and the final response is relayed
//!   back (a 2xx to a re-INVITE acknowledged on each side);
//! - a 401/407 from a leg with credentials (a gateway's, or
//!   `sip_auth_username`/`sip_auth_password`) is answered once;
//! - a failure is mapped to the caller as FreeSWITCH maps it: SIP status to
//!   hangup cause to SIP status ([`cause_of`], [`status_of`]);
//! - variables: `sip_h_*` headers on the leg's INVITE, X- headers of the
//!   caller copied (unless `sip_copy_custom_headers=false`), `sip_rh_*` on
//!   the caller's final responses, `sip_ph_*` on its provisional ones,
//!   `sip_bye_h_*` on BYEs sent to a leg, `call_timeout` (seconds of
//!   ringing before 480, default 60).

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use sofia_iptsec::AuthClient;
use sofia_msg::{HeaderName, Message, Method, RequestBuilder, ResponseBuilder};
use sofia_nta::ServerId;
use sofia_nta::dialog::Dialog;
use sofia_su::su_log;
use sofia_tport::{Destination, Transport};

use crate::dial::Vars;

/// A running profile, as the bridge knows it (the driver numbers them).
pub type ProfileId = u32;

/// One client transaction the bridge started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TxId(pub u64);

/// One call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallId(pub u64);

/// Where a request goes.
#[derive(Debug, Clone, PartialEq)]
pub enum Hop {
    /// This address (a registered contact's flow, or the caller's).
    Fixed(Destination),
    /// Resolve this URI (RFC 3263).
    Uri(String),
}

/// What a profile's addresses look like to the bridge.
#[derive(Debug, Clone, Default)]
pub struct ProfileInfo {
    /// The profile's name (for logs and reports).
    pub name: String,
    /// Its listening addresses.
    pub addrs: Vec<(Transport, SocketAddr)>,
    /// The host in Contacts (`ext-sip-ip` when set).
    pub contact_host: Option<String>,
    /// `user-agent-string`.
    pub user_agent: Option<String>,
}

impl ProfileInfo {
    fn addr(&self, transport: Transport) -> Option<SocketAddr> {
        self.addrs
            .iter()
            .find(|(t, _)| *t == transport)
            .or_else(|| self.addrs.first())
            .map(|(_, a)| *a)
    }

    fn contact(&self, transport: Transport, user: &str) -> String {
        let addr = self.addr(transport);
        let host = match (&self.contact_host, addr) {
            (Some(h), Some(a)) => format!("{h}:{}", a.port()),
            (_, Some(a)) => a.to_string(),
            (_, None) => "invalid".to_string(),
        };
        let user = if user.is_empty() {
            String::new()
        } else {
            format!("{user}@")
        };
        match transport {
            Transport::Udp => format!("<sip:{user}{host}>"),
            Transport::Tls => format!("<sips:{user}{host}>"),
            t => format!(
                "<sip:{user}{host};transport={}>",
                t.via_name().to_lowercase()
            ),
        }
    }
}

/// One leg to ring, resolved by the router.
#[derive(Debug, Clone)]
pub struct LegPlan {
    /// The profile that sends it.
    pub profile: ProfileId,
    /// The Request-URI.
    pub request_uri: String,
    /// The To URI.
    pub to: String,
    /// The From user and host (the caller's number, or a gateway's
    /// `from-user`), and the display name.
    pub from_user: String,
    /// The From host.
    pub from_host: String,
    /// The From display name (none: no display name).
    pub from_display: Option<String>,
    /// The transport of the INVITE.
    pub transport: Transport,
    /// Where it goes.
    pub hop: Hop,
    /// A Route to put first (`fs_path`, a gateway's `outbound-proxy`).
    pub route: Option<String>,
    /// Credentials for a 401/407 (a gateway's or the leg's variables).
    pub credentials: Option<(String, String)>,
    /// The gateway it goes through (for its counters).
    pub gateway: Option<String>,
    /// The leg's variables.
    pub vars: Vars,
}

/// What the router decided for a new call.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// Groups tried in turn; legs of a group rung at once.
    pub groups: Vec<Vec<LegPlan>>,
    /// Variables of the calling leg (`sip_rh_*`, ...).
    pub vars: Vars,
    /// The gateway the call came from.
    pub gateway: Option<String>,
    /// The hangup cause when there are no legs (default
    /// `NO_ROUTE_DESTINATION`, answered 404).
    pub refused: Option<&'static str>,
}

/// An incoming request.
#[derive(Debug)]
pub struct Incoming {
    /// The profile it came to.
    pub profile: ProfileId,
    /// Its server transaction.
    pub server: ServerId,
    /// The request.
    pub msg: Message,
    /// Where responses and in-dialog requests to the sender go.
    pub reply: Destination,
}

/// What the bridge tells the daemon about calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Report {
    /// A call came in on a profile (and gateway).
    CallIn {
        /// The profile.
        profile: ProfileId,
        /// The gateway it came from.
        gateway: Option<String>,
    },
    /// An inbound call ended without being answered (not cancelled by the
    /// caller).
    FailedIn {
        /// The profile.
        profile: ProfileId,
        /// The gateway it came from.
        gateway: Option<String>,
    },
    /// A leg went out.
    CallOut {
        /// The profile.
        profile: ProfileId,
        /// The gateway it went through.
        gateway: Option<String>,
    },
    /// A leg failed (final response 300 or more, or no answer).
    FailedOut {
        /// The profile.
        profile: ProfileId,
        /// The gateway.
        gateway: Option<String>,
        /// The status (408 for no answer).
        status: u16,
        /// The reason phrase.
        phrase: String,
        /// The leg's Call-ID.
        call_id: String,
    },
    /// A re-INVITE was relayed (`sofia::reinvite`).
    Reinvite {
        /// The profile it came to.
        profile: ProfileId,
        /// Its Call-ID.
        call_id: String,
    },
    /// A call was answered.
    Answered {
        /// The caller's profile.
        profile: ProfileId,
        /// The caller's Call-ID.
        call_id: String,
    },
    /// A call ended; `status` is what the caller got when it was not
    /// answered.
    Ended {
        /// The caller's profile.
        profile: ProfileId,
        /// The caller's Call-ID.
        call_id: String,
        /// The hangup cause (FreeSWITCH's name).
        cause: &'static str,
    },
}

/// What to do.
// Messages are the common case; boxing them would cost an allocation each.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Output {
    /// Answer a server transaction.
    Respond {
        /// The profile.
        profile: ProfileId,
        /// The transaction.
        server: ServerId,
        /// The response.
        msg: Message,
    },
    /// Send a request in a new client transaction; report its responses
    /// with [`Bridge::on_response`] and a failure with
    /// [`Bridge::on_timeout`].
    Send {
        /// The transaction.
        tx: TxId,
        /// The profile that sends it.
        profile: ProfileId,
        /// The request.
        msg: Message,
        /// Where it goes.
        hop: Hop,
    },
    /// Cancel an INVITE client transaction that has a provisional response.
    Cancel {
        /// The INVITE's transaction.
        tx: TxId,
    },
    /// Forget a client transaction (its responses no longer matter).
    Forget {
        /// The transaction.
        tx: TxId,
    },
    /// Send an ACK for a 2xx (outside any transaction).
    Ack {
        /// The profile.
        profile: ProfileId,
        /// The ACK.
        msg: Message,
        /// Where it goes.
        hop: Hop,
    },
    /// Something for the counters and events.
    Report(Report),
}

/// Most calls at once; more are answered 503.
pub const MAX_CALLS: usize = 100_000;

/// The retransmission timer of 2xx responses (RFC 3261's T1).
const T1: Duration = Duration::from_millis(500);
/// Its ceiling (T2).
const T2: Duration = Duration::from_secs(4);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LegState {
    /// INVITE sent, nothing but 100 back.
    Calling,
    /// A provisional response came.
    Early,
    /// It answered.
    Up,
    /// It failed, was cancelled, or ended.
    Done,
}

struct Leg {
    plan: LegPlan,
    tx: TxId,
    invite: Message,
    from_tag: String,
    state: LegState,
    cancel_wanted: bool,
    auth: Option<AuthClient>,
    dialog: Option<Dialog>,
    /// The leg's hop for in-dialog requests, when it is fixed.
    flow: Option<Destination>,
}

struct ALeg {
    profile: ProfileId,
    server: ServerId,
    invite: Message,
    tag: String,
    reply: Destination,
    vars: Vars,
    gateway: Option<String>,
    dialog: Option<Dialog>,
    /// Relayed 180 already.
    rang: bool,
    /// The last SDP relayed in a provisional response.
    early_sdp: Option<bytes::Bytes>,
    /// Our final 2xx until its ACK.
    unacked: Option<Unacked>,
    /// The caller made no offer: the B leg's 2xx waits for the caller's ACK.
    late_offer: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

struct Call {
    a: ALeg,
    legs: Vec<Leg>,
    /// Groups not yet tried.
    groups: VecDeque<Vec<LegPlan>>,
    winner: Option<usize>,
    /// The best failure so far (status, phrase).
    failure: Option<(u16, String)>,
    ended: bool,
    /// Our 2xx to a relayed re-INVITE over UDP until its ACK.
    reinvite_unacked: Option<Unacked>,
}

impl Call {
    /// Where the 2xx a retransmission timer of `kind` is for waits.
    fn unacked_mut(&mut self, kind: TimerKind) -> &mut Option<Unacked> {
        match kind {
            TimerKind::RetransmitRelayed => &mut self.reinvite_unacked,
            _ => &mut self.a.unacked,
        }
    }
}

/// One of our 2xx to an INVITE, retransmitted until its ACK (RFC 3261
/// §13.3.1.4): the side it went to, its server transaction, the response,
/// the current interval and when to give up.
struct Unacked {
    side: Side,
    profile: ProfileId,
    server: ServerId,
    msg: Message,
    interval: Duration,
    deadline: Instant,
}

/// A request relayed from one side to the other, waiting for its answer.
struct Relay {
    call: CallId,
    /// The side it came from.
    from: Side,
    /// Its server transaction there.
    profile: ProfileId,
    server: ServerId,
    request: Message,
    /// The 2xx of a relayed re-INVITE that carried no offer is acknowledged
    /// with the answer in the caller's ACK.
    ack_waits: bool,
}

enum TxRole {
    /// A leg's INVITE.
    Leg(CallId, usize),
    /// A relayed in-dialog request.
    Relay(Box<Relay>),
    /// A BYE (or other request) whose answer does not matter.
    Fire,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum TimerKind {
    /// Retransmit the A leg's 2xx.
    Retransmit,
    /// `call_timeout`.
    Ring,
    /// Retransmit our 2xx to a relayed re-INVITE.
    RetransmitRelayed,
}

/// A re-INVITE's 2xx from one side, waiting for the other side's ACK
/// (which carries the answer), and the dialog to ACK it in.
struct PendingAck {
    call: CallId,
    /// The side whose 2xx waits.
    side: Side,
    response: Message,
}

/// The B2BUA. See the [module documentation](self).
pub struct Bridge {
    profiles: HashMap<ProfileId, ProfileInfo>,
    calls: HashMap<CallId, Call>,
    /// (Call-ID, our tag) of each dialog, to its call and side.
    dialogs: HashMap<(String, String), (CallId, Side)>,
    /// The A leg's INVITE server transaction, to its call.
    invites: HashMap<(ProfileId, ServerId), CallId>,
    txs: HashMap<TxId, TxRole>,
    /// Relayed server transactions, to the client transaction relaying them
    /// (for CANCEL of a re-INVITE).
    relayed: HashMap<(ProfileId, ServerId), TxId>,
    pending_acks: HashMap<(String, String), PendingAck>,
    timers: BTreeSet<(Instant, CallId, TimerKind)>,
    out: VecDeque<Output>,
    next_call: u64,
    next_tx: u64,
    rng: u64,
}

impl Default for Bridge {
    fn default() -> Self {
        Bridge::new(rand_seed())
    }
}

fn rand_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64),
    );
    h.finish()
}

/// The reason phrase of a status the bridge sends.
pub fn phrase(status: u16) -> &'static str {
    match status {
        100 => "Trying",
        180 => "Ringing",
        183 => "Session Progress",
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        410 => "Gone",
        480 => "Temporarily Unavailable",
        481 => "Call/Transaction Does Not Exist",
        483 => "Too Many Hops",
        484 => "Address Incomplete",
        486 => "Busy Here",
        487 => "Request Terminated",
        488 => "Not Acceptable Here",
        491 => "Request Pending",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Server Time-out",
        603 => "Decline",
        _ => "Unknown",
    }
}

/// FreeSWITCH's hangup cause for a SIP status
/// (`sofia_glue_sip_cause_to_freeswitch`).
pub fn cause_of(status: u16) -> &'static str {
    match status {
        200 => "NORMAL_CLEARING",
        401 | 402 | 403 | 407 | 603 | 608 => "CALL_REJECTED",
        404 => "UNALLOCATED_NUMBER",
        485 | 604 => "NO_ROUTE_DESTINATION",
        408 | 504 => "RECOVERY_ON_TIMER_EXPIRE",
        410 => "NUMBER_CHANGED",
        413 | 414 | 416 | 420 | 421 | 423 | 505 | 513 => "INTERWORKING",
        480 => "NO_USER_RESPONSE",
        400 | 481 | 500 | 503 => "NORMAL_TEMPORARY_FAILURE",
        486 | 600 => "USER_BUSY",
        484 => "INVALID_NUMBER_FORMAT",
        488 | 606 => "INCOMPATIBLE_DESTINATION",
        502 => "NETWORK_OUT_OF_ORDER",
        405 => "SERVICE_UNAVAILABLE",
        406 | 415 | 501 => "SERVICE_NOT_IMPLEMENTED",
        482 | 483 => "EXCHANGE_ROUTING_ERROR",
        487 => "ORIGINATOR_CANCEL",
        _ => "NORMAL_UNSPECIFIED",
    }
}

/// The SIP status FreeSWITCH answers for a hangup cause
/// (`hangup_cause_to_sip`).
pub fn status_of(cause: &str) -> u16 {
    match cause {
        "UNALLOCATED_NUMBER" | "NO_ROUTE_TRANSIT_NET" | "NO_ROUTE_DESTINATION" => 404,
        "INVALID_NUMBER_FORMAT" => 484,
        "USER_BUSY" => 486,
        "NO_USER_RESPONSE" => 408,
        "NO_ANSWER" | "SUBSCRIBER_ABSENT" | "NORMAL_UNSPECIFIED" => 480,
        "CALL_REJECTED" => 603,
        "NUMBER_CHANGED" | "REDIRECTION_TO_NEW_DESTINATION" => 410,
        "NETWORK_OUT_OF_ORDER" | "FACILITY_REJECTED" => 502,
        "NORMAL_TEMPORARY_FAILURE"
        | "NORMAL_CIRCUIT_CONGESTION"
        | "SWITCH_CONGESTION"
        | "SERVICE_UNAVAILABLE"
        | "DESTINATION_OUT_OF_ORDER" => 503,
        "RECOVERY_ON_TIMER_EXPIRE" => 504,
        "INCOMPATIBLE_DESTINATION" => 488,
        "SERVICE_NOT_IMPLEMENTED" => 501,
        "EXCHANGE_ROUTING_ERROR" => 483,
        "ORIGINATOR_CANCEL" => 487,
        "INTERWORKING" => 500,
        _ => 480,
    }
}

/// How good a failure is to report, as a proxy picks (RFC 3261 §16.7):
/// 6xx first, then the lowest class; lower is better.
fn failure_rank(status: u16) -> u16 {
    if status >= 600 { 0 } else { status }
}

/// The Allow of our requests and 2xx responses.
const ALLOW: &str = "INVITE, ACK, BYE, CANCEL, OPTIONS, UPDATE, INFO, MESSAGE, NOTIFY, REFER";

/// Headers of `var_prefix` variables (`sip_h_X-Foo=bar` -> `X-Foo: bar`).
fn var_headers<'v>(vars: &'v Vars, prefix: &'v str) -> impl Iterator<Item = (&'v str, &'v str)> {
    vars.iter().filter_map(move |(k, v)| {
        k.strip_prefix(prefix)
            .filter(|n| !n.is_empty())
            .map(|n| (n, v.as_str()))
    })
}

fn add_headers<B>(mut b: B, headers: &[(&str, &str)], add: impl Fn(B, &str, &str) -> B) -> B {
    for (n, v) in headers {
        b = add(b, n, v);
    }
    b
}

impl Bridge {
    /// A bridge; `seed` makes its tags, branches and Call-IDs.
    pub fn new(seed: u64) -> Bridge {
        Bridge {
            profiles: HashMap::new(),
            calls: HashMap::new(),
            dialogs: HashMap::new(),
            invites: HashMap::new(),
            txs: HashMap::new(),
            relayed: HashMap::new(),
            pending_acks: HashMap::new(),
            timers: BTreeSet::new(),
            out: VecDeque::new(),
            next_call: 1,
            next_tx: 1,
            rng: seed | 1,
        }
    }

    /// Adds or replaces a profile.
    pub fn set_profile(&mut self, id: ProfileId, info: ProfileInfo) {
        self.profiles.insert(id, info);
    }

    /// Calls in progress.
    pub fn calls(&self) -> usize {
        self.calls.len()
    }

    /// Calls in progress on `profile` (either side).
    pub fn calls_on(&self, profile: ProfileId) -> usize {
        self.calls
            .values()
            .filter(|c| c.a.profile == profile || c.legs.iter().any(|l| l.plan.profile == profile))
            .count()
    }

    /// Client transactions waiting for an answer.
    pub fn transactions(&self) -> usize {
        self.txs.len()
    }

    /// The next thing to do.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// When [`Bridge::handle_timeout`] is due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.first().map(|t| t.0)
    }

    fn random(&mut self) -> u64 {
        // xorshift64*: ids need to be unique, not secret.
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn token(&mut self) -> String {
        format!("{:016x}", self.random())
    }

    fn via(&mut self, profile: ProfileId, transport: Transport) -> String {
        let addr = self
            .profiles
            .get(&profile)
            .and_then(|p| p.addr(transport))
            .map_or_else(|| "invalid".to_string(), |a| a.to_string());
        let branch = self.token();
        format!(
            "SIP/2.0/{} {addr};rport;branch=z9hG4bK{branch}",
            transport.via_name()
        )
    }

    fn contact(&self, profile: ProfileId, transport: Transport, user: &str) -> String {
        self.profiles.get(&profile).map_or_else(
            || "<sip:invalid>".to_string(),
            |p| p.contact(transport, user),
        )
    }

    fn user_agent(&self, profile: ProfileId) -> Option<String> {
        self.profiles
            .get(&profile)
            .and_then(|p| p.user_agent.clone())
    }

    fn new_tx(&mut self, role: TxRole) -> TxId {
        let id = TxId(self.next_tx);
        self.next_tx += 1;
        self.txs.insert(id, role);
        id
    }

    // The fields of one response; a struct for them would be built at
    // every call site only to be taken apart here.
    #[allow(clippy::too_many_arguments)]
    fn respond(
        &mut self,
        profile: ProfileId,
        server: ServerId,
        request: &Message,
        status: u16,
        reason: &str,
        tag: Option<&str>,
        extra: &[(&str, &str)],
    ) {
        let mut b = ResponseBuilder::reply_to(request, status, reason, tag);
        if let Some(ua) = self.user_agent(profile) {
            b = b.header(HeaderName::Server, &ua);
        }
        b = add_headers(b, extra, |b, n, v| b.header_named(n, v));
        match b.build() {
            Ok(msg) => self.out.push_back(Output::Respond {
                profile,
                server,
                msg,
            }),
            Err(e) => su_log!(SOFIA, 2, "sofia: cannot build a {status}: {e}"),
        }
    }

    // -----------------------------------------------------------------
    // New calls
    // -----------------------------------------------------------------

    /// A new INVITE (no To tag) and where the router sends it. An empty
    /// plan is answered 404; `Max-Forwards: 0` 483.
    pub fn on_invite(&mut self, now: Instant, a: Incoming, plan: Plan) {
        let Incoming {
            profile,
            server,
            msg,
            reply,
        } = a;
        if msg.max_forwards() == Some(0) {
            self.respond(profile, server, &msg, 483, "Too Many Hops", None, &[]);
            return;
        }
        if self.calls.len() >= MAX_CALLS {
            self.respond(
                profile,
                server,
                &msg,
                503,
                "Service Unavailable",
                None,
                &[("Retry-After", "5")],
            );
            return;
        }
        self.out.push_back(Output::Report(Report::CallIn {
            profile,
            gateway: plan.gateway.clone(),
        }));
        let tag = self.token();
        let id = CallId(self.next_call);
        self.next_call += 1;
        let timeout = plan
            .vars
            .get("call_timeout")
            .and_then(|v| v.parse::<u64>().ok())
            .filter(|s| *s > 0)
            .unwrap_or(60);
        let late_offer = msg.body_bytes().is_empty();
        let refused = plan.refused.unwrap_or("NO_ROUTE_DESTINATION");
        let call = Call {
            a: ALeg {
                profile,
                server,
                tag: tag.clone(),
                reply,
                vars: plan.vars,
                gateway: plan.gateway,
                dialog: None,
                rang: false,
                early_sdp: None,
                unacked: None,
                late_offer,
                invite: msg,
            },
            legs: Vec::new(),
            groups: plan.groups.into_iter().collect(),
            winner: None,
            failure: None,
            ended: false,
            reinvite_unacked: None,
        };
        let call_id = call.a.invite.call_id().unwrap_or("").to_string();
        self.dialogs.insert((call_id, tag), (id, Side::A));
        self.invites.insert((profile, server), id);
        self.timers
            .insert((now + Duration::from_secs(timeout), id, TimerKind::Ring));
        self.calls.insert(id, call);
        if !self.next_group(id) {
            self.fail_call(id, refused);
        }
    }

    /// Starts the next group of legs; false when none is left.
    fn next_group(&mut self, id: CallId) -> bool {
        loop {
            let Some(group) = self.calls.get_mut(&id).and_then(|c| c.groups.pop_front()) else {
                return false;
            };
            let mut started = false;
            for plan in group {
                started |= self.start_leg(id, plan);
            }
            if started {
                return true;
            }
        }
    }

    /// Builds and sends one leg's INVITE.
    fn start_leg(&mut self, id: CallId, plan: LegPlan) -> bool {
        let from_tag = self.token();
        let call_id = format!("{}@sofia-rs", self.token());
        let via = self.via(plan.profile, plan.transport);
        let Some(call) = self.calls.get(&id) else {
            return false;
        };
        let a = &call.a.invite;
        let contact_user = plan
            .vars
            .get("sip_contact_user")
            .cloned()
            .unwrap_or_else(|| "mod_sofia".to_string());
        let contact = self.contact(plan.profile, plan.transport, &contact_user);
        let from = match &plan.from_display {
            Some(d) if !d.is_empty() => format!(
                "\"{}\" <sip:{}@{}>;tag={from_tag}",
                d.replace('"', ""),
                plan.from_user,
                plan.from_host
            ),
            _ => format!("<sip:{}@{}>;tag={from_tag}", plan.from_user, plan.from_host),
        };
        let mf = a.max_forwards().unwrap_or(70).saturating_sub(1).max(1);
        let mut b = RequestBuilder::new(Method::Invite, &plan.request_uri)
            .header(HeaderName::Via, &via)
            .header(HeaderName::MaxForwards, &mf.to_string());
        if let Some(route) = &plan.route {
            b = b.header(HeaderName::Route, &format!("<{route};lr>"));
        }
        b = b
            .header(HeaderName::From, &from)
            .header(HeaderName::To, &format!("<{}>", plan.to))
            .header(HeaderName::CallId, &call_id)
            .header(HeaderName::CSeq, "1 INVITE")
            .header(HeaderName::Contact, &contact)
            .header(HeaderName::Allow, ALLOW);
        if let Some(ua) = self.user_agent(plan.profile) {
            b = b.header(HeaderName::UserAgent, &ua);
        }
        let copy_x = plan
            .vars
            .get("sip_copy_custom_headers")
            .is_none_or(|v| crate::commands::switch_true(v));
        if copy_x {
            for h in a.headers() {
                if is_custom_header(h.name) {
                    let name = format!("sip_h_{}", h.name);
                    if !plan.vars.contains_key(&name) {
                        b = b.header_named(h.name, h.value);
                    }
                }
            }
        }
        for (n, v) in var_headers(&plan.vars, "sip_h_") {
            b = b.header_named(n, v);
        }
        if let Some((ct, body)) = body_of(a) {
            b = b.body(ct, body);
        }
        let invite = match b.build() {
            Ok(m) => m,
            Err(e) => {
                su_log!(
                    SOFIA,
                    3,
                    "sofia: cannot build an INVITE to {}: {e}",
                    plan.request_uri
                );
                return false;
            }
        };
        let index = self.calls.get(&id).map_or(0, |c| c.legs.len());
        let tx = self.new_tx(TxRole::Leg(id, index));
        su_log!(
            SOFIA,
            5,
            "sofia: call {} leg {index} -> {}",
            id.0,
            plan.request_uri
        );
        self.out.push_back(Output::Report(Report::CallOut {
            profile: plan.profile,
            gateway: plan.gateway.clone(),
        }));
        self.out.push_back(Output::Send {
            tx,
            profile: plan.profile,
            msg: invite.clone(),
            hop: plan.hop.clone(),
        });
        let flow = match &plan.hop {
            Hop::Fixed(d) if plan.route.is_none() => Some(d.clone()),
            _ => None,
        };
        let auth = plan.credentials.as_ref().map(|(u, p)| {
            let mut c = AuthClient::new();
            c.add_credentials(None, u, p);
            c
        });
        if let Some(call) = self.calls.get_mut(&id) {
            call.legs.push(Leg {
                plan,
                tx,
                invite,
                from_tag,
                state: LegState::Calling,
                cancel_wanted: false,
                auth,
                dialog: None,
                flow,
            });
        }
        true
    }

    // -----------------------------------------------------------------
    // Responses to our requests
    // -----------------------------------------------------------------

    /// A response to a client transaction.
    pub fn on_response(&mut self, now: Instant, tx: TxId, msg: Message) {
        let final_ = msg.status().is_some_and(|s| s >= 200);
        let role = if final_ && !msg.status().is_some_and(|s| (200..300).contains(&s)) {
            self.txs.remove(&tx)
        } else {
            match self.txs.get(&tx) {
                Some(TxRole::Leg(c, i)) => Some(TxRole::Leg(*c, *i)),
                Some(TxRole::Relay(_) | TxRole::Fire) if final_ => self.txs.remove(&tx),
                _ => None,
            }
        };
        match role {
            Some(TxRole::Leg(call, index)) => self.leg_response(now, call, index, msg),
            Some(TxRole::Relay(r)) => self.relay_response(now, r, msg),
            Some(TxRole::Fire) | None => {}
        }
    }

    /// A client transaction ended without a final response (timeout or a
    /// destination that cannot be reached): a 408.
    pub fn on_timeout(&mut self, _now: Instant, tx: TxId) {
        match self.txs.remove(&tx) {
            Some(TxRole::Leg(call, index)) => {
                self.leg_failed(call, index, 408, "Request Timeout");
                self.husks_pending(call);
            }
            Some(TxRole::Relay(r)) => {
                self.relayed.remove(&(r.profile, r.server));
                let tag = self.local_tag(r.call, r.from);
                self.respond(
                    r.profile,
                    r.server,
                    &r.request,
                    408,
                    "Request Timeout",
                    tag.as_deref(),
                    &[],
                );
            }
            Some(TxRole::Fire) | None => {}
        }
    }

    /// A client transaction's last 2xx has come (the INVITE transaction
    /// ended): forget it.
    pub fn on_finished(&mut self, tx: TxId) {
        self.txs.remove(&tx);
    }

    fn local_tag(&self, call: CallId, side: Side) -> Option<String> {
        let c = self.calls.get(&call)?;
        match side {
            Side::A => Some(c.a.tag.clone()),
            Side::B => c.winner.map(|w| c.legs[w].from_tag.clone()),
        }
    }

    fn leg_response(&mut self, now: Instant, id: CallId, index: usize, msg: Message) {
        self.leg_response_inner(now, id, index, msg);
        self.husks_pending(id);
    }

    fn leg_response_inner(&mut self, now: Instant, id: CallId, index: usize, msg: Message) {
        let status = msg.status().unwrap_or(0);
        let Some(call) = self.calls.get_mut(&id) else {
            // The call is gone: a late 2xx is acknowledged and ended.
            return;
        };
        let Some(leg) = call.legs.get_mut(index) else {
            return;
        };
        if status < 200 {
            if status == 100 || leg.state != LegState::Calling && leg.state != LegState::Early {
                return;
            }
            let first = leg.state == LegState::Calling;
            leg.state = LegState::Early;
            if leg.cancel_wanted {
                // Legs already early were cancelled when the CANCEL was
                // wanted; later provisionals must not send another one.
                if first {
                    let tx = leg.tx;
                    self.out.push_back(Output::Cancel { tx });
                }
                return;
            }
            if call.winner.is_some() || call.ended {
                return;
            }
            self.relay_provisional(id, &msg);
            return;
        }
        if status >= 300 {
            if matches!(status, 401 | 407)
                && leg.state != LegState::Done
                && !leg.cancel_wanted
                && !call.ended
                && let Some(auth) = leg.auth.as_mut()
                && matches!(auth.handle_response(&msg), Ok(true))
            {
                self.retry_with_auth(id, index);
                return;
            }
            let reason = msg.reason().unwrap_or("").to_string();
            self.leg_failed(id, index, status, &reason);
            return;
        }
        self.leg_answered(now, id, index, msg);
    }

    /// Sends the leg's INVITE again with credentials.
    fn retry_with_auth(&mut self, id: CallId, index: usize) {
        let Some(leg) = self.calls.get(&id).and_then(|c| c.legs.get(index)) else {
            return;
        };
        let (profile, transport) = (leg.plan.profile, leg.plan.transport);
        let old = leg.invite.clone();
        let via = self.via(profile, transport);
        let Some(leg) = self.calls.get_mut(&id).and_then(|c| c.legs.get_mut(index)) else {
            return;
        };
        let seq = old.cseq().map_or(1, |c| c.0) + 1;
        let uri = old.request_uri_str().unwrap_or("").to_string();
        let creds = leg
            .auth
            .as_mut()
            .map(|a| a.authorize("INVITE", &uri, old.body_bytes()))
            .unwrap_or_default();
        let mut b = RequestBuilder::new(Method::Invite, &uri).header(HeaderName::Via, &via);
        for h in old.headers() {
            match h.kind {
                HeaderName::Via
                | HeaderName::CSeq
                | HeaderName::Authorization
                | HeaderName::ProxyAuthorization
                | HeaderName::ContentLength
                | HeaderName::ContentType => {}
                _ => b = b.header_named(h.name, h.value),
            }
        }
        b = b.header(HeaderName::CSeq, &format!("{seq} INVITE"));
        for (name, value) in &creds {
            b = b.header(*name, value);
        }
        if let Some((ct, body)) = body_of(&old) {
            b = b.body(ct, body);
        }
        let Ok(invite) = b.build() else {
            return;
        };
        // One answer to a challenge: a second one fails the leg.
        leg.auth = None;
        leg.invite = invite.clone();
        leg.state = LegState::Calling;
        let hop = leg.plan.hop.clone();
        let tx = self.new_tx(TxRole::Leg(id, index));
        if let Some(leg) = self.calls.get_mut(&id).and_then(|c| c.legs.get_mut(index)) {
            leg.tx = tx;
        }
        self.out.push_back(Output::Send {
            tx,
            profile,
            msg: invite,
            hop,
        });
    }

    fn relay_provisional(&mut self, id: CallId, msg: &Message) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let status = msg.status().unwrap_or(180);
        let body = msg.body();
        let a = &mut call.a;
        let (status, with_sdp) = if !body.is_empty() {
            if a.early_sdp.as_ref() == Some(&body) {
                return;
            }
            a.early_sdp = Some(body.clone());
            (183, true)
        } else if a.rang || status == 183 {
            return;
        } else {
            a.rang = true;
            (180, false)
        };
        let (profile, server, tag) = (a.profile, a.server, a.tag.clone());
        let request = a.invite.clone();
        let mut extra: Vec<(String, String)> = var_headers(&a.vars, "sip_ph_")
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        let transport = a.reply.transport;
        let contact = self.contact(profile, transport, &destination_user(&request));
        extra.push(("Contact".into(), contact));
        let mut b = ResponseBuilder::reply_to(&request, status, phrase(status), Some(&tag));
        for rr in request.header_lines(HeaderName::RecordRoute) {
            b = b.header(HeaderName::RecordRoute, rr);
        }
        for (n, v) in &extra {
            b = b.header_named(n, v);
        }
        if with_sdp && let Some((ct, body)) = body_of(msg) {
            b = b.body(ct, body);
        }
        if let Ok(resp) = b.build() {
            self.out.push_back(Output::Respond {
                profile,
                server,
                msg: resp,
            });
        }
    }

    fn leg_failed(&mut self, id: CallId, index: usize, status: u16, reason: &str) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let Some(leg) = call.legs.get_mut(index) else {
            return;
        };
        if leg.state == LegState::Done {
            return;
        }
        let was_cancelled = leg.cancel_wanted;
        leg.state = LegState::Done;
        let report = Report::FailedOut {
            profile: leg.plan.profile,
            gateway: leg.plan.gateway.clone(),
            status,
            phrase: reason.to_string(),
            call_id: leg.invite.call_id().unwrap_or("").to_string(),
        };
        if !was_cancelled {
            self.out.push_back(Output::Report(report));
            let better = call
                .failure
                .as_ref()
                .is_none_or(|(s, _)| failure_rank(status) < failure_rank(*s));
            if better {
                call.failure = Some((status, reason.to_string()));
            }
        }
        if call.winner.is_some() || call.ended {
            return;
        }
        // A 6xx ends the search at once: the caller gets it and the other
        // ringing legs are cancelled (RFC 3261 §16.7 step 5).
        if status >= 600 && !was_cancelled {
            self.fail_call(id, cause_of(status));
            return;
        }
        if call
            .legs
            .iter()
            .any(|l| matches!(l.state, LegState::Calling | LegState::Early))
        {
            return;
        }
        // A 6xx from any leg ends the search (RFC 3261 §16.7 step 5), not
        // only from the last one to fail; else the next group.
        let declined = status >= 600 || call.failure.as_ref().is_some_and(|(s, _)| *s >= 600);
        if !declined && self.next_group(id) {
            return;
        }
        let cause = self
            .calls
            .get(&id)
            .and_then(|c| c.failure.as_ref())
            .map_or("NORMAL_UNSPECIFIED", |(s, _)| cause_of(*s));
        self.fail_call(id, cause);
    }

    /// Answers the caller with the status of hangup `cause` and forgets
    /// the call.
    fn fail_call(&mut self, id: CallId, cause: &'static str) {
        let Some(call) = self.calls.get(&id) else {
            return;
        };
        let status = status_of(cause);
        let a = &call.a;
        let (profile, server, tag) = (a.profile, a.server, a.tag.clone());
        let request = a.invite.clone();
        let gateway = a.gateway.clone();
        let extra: Vec<(String, String)> = var_headers(&a.vars, "sip_rh_")
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        let extra: Vec<(&str, &str)> = extra
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        self.respond(
            profile,
            server,
            &request,
            status,
            phrase(status),
            Some(&tag),
            &extra,
        );
        self.out
            .push_back(Output::Report(Report::FailedIn { profile, gateway }));
        self.end_call(id, cause);
    }

    fn leg_answered(&mut self, now: Instant, id: CallId, index: usize, msg: Message) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let Some(leg) = call.legs.get_mut(index) else {
            return;
        };
        let dialog = match Dialog::from_uac(&leg.invite, &msg) {
            Ok(d) => d,
            Err(e) => {
                // It can be neither acknowledged nor ended: the leg failed
                // (else it would stay ringing, and its call never end).
                su_log!(SOFIA, 3, "sofia: call {}: bad 2xx from a leg: {e}", id.0);
                self.leg_failed(id, index, 502, "Bad Gateway");
                return;
            }
        };
        if let Some(w) = call.winner {
            // A retransmission of the winner's 2xx: ACK again. A 2xx from
            // another leg or fork: ACK and BYE.
            let same = call.legs[w]
                .dialog
                .as_ref()
                .is_some_and(|d| d.id == dialog.id);
            let key = (
                msg.call_id().unwrap_or("").to_string(),
                call.legs[w].from_tag.clone(),
            );
            if same && !self.pending_acks.contains_key(&key) {
                self.ack_leg(id, index, &msg, None);
            } else if !same {
                // A losing leg answered across its CANCEL: it is over (left
                // ringing, its call would be kept for it forever). A fork
                // of the winner leaves the winner up.
                if index != w {
                    call.legs[index].state = LegState::Done;
                }
                self.ack_and_bye(id, index, dialog, &msg);
            }
            return;
        }
        if call.ended || leg.cancel_wanted || leg.state == LegState::Done {
            leg.state = LegState::Done;
            self.ack_and_bye(id, index, dialog, &msg);
            return;
        }
        leg.state = LegState::Up;
        leg.dialog = Some(dialog);
        call.winner = Some(index);
        let b_key = (
            msg.call_id().unwrap_or("").to_string(),
            leg.from_tag.clone(),
        );
        self.dialogs.insert(b_key.clone(), (id, Side::B));
        // The other legs are cancelled.
        let others: Vec<(TxId, LegState)> = call
            .legs
            .iter_mut()
            .enumerate()
            .filter(|(i, _)| *i != index)
            .filter_map(|(_, l)| match l.state {
                LegState::Calling | LegState::Early => {
                    l.cancel_wanted = true;
                    Some((l.tx, l.state))
                }
                _ => None,
            })
            .collect();
        for (tx, state) in others {
            if state == LegState::Early {
                self.out.push_back(Output::Cancel { tx });
            }
        }
        call.groups.clear();
        let late_offer = call.a.late_offer;
        if !late_offer {
            self.ack_leg(id, index, &msg, None);
        } else {
            // The offer is in this 2xx; the answer comes in the caller's ACK.
            self.pending_acks.insert(
                b_key,
                PendingAck {
                    call: id,
                    side: Side::B,
                    response: msg.clone(),
                },
            );
        }
        self.answer_caller(now, id, &msg);
    }

    /// The caller's 2xx, with the leg's SDP; retransmitted until the ACK.
    fn answer_caller(&mut self, now: Instant, id: CallId, leg_ok: &Message) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let a = &mut call.a;
        let request = a.invite.clone();
        let contact = self.profiles.get(&a.profile).map_or_else(String::new, |p| {
            p.contact(a.reply.transport, &destination_user(&request))
        });
        let mut b = ResponseBuilder::reply_to(&request, 200, "OK", Some(&a.tag));
        for rr in request.header_lines(HeaderName::RecordRoute) {
            b = b.header(HeaderName::RecordRoute, rr);
        }
        b = b
            .header(HeaderName::Contact, &contact)
            .header(HeaderName::Allow, ALLOW);
        if let Some(ua) = self
            .profiles
            .get(&a.profile)
            .and_then(|p| p.user_agent.as_ref())
        {
            b = b.header(HeaderName::Server, ua);
        }
        for (n, v) in var_headers(&a.vars, "sip_rh_") {
            b = b.header_named(n, v);
        }
        if let Some((ct, body)) = body_of(leg_ok) {
            b = b.body(ct, body);
        }
        let Ok(ok) = b.build() else {
            return;
        };
        match Dialog::from_uas(&request, &a.tag, false) {
            Ok(d) => a.dialog = Some(d),
            Err(e) => su_log!(SOFIA, 3, "sofia: call {}: caller's dialog: {e}", id.0),
        }
        let (profile, server) = (a.profile, a.server);
        let call_id = request.call_id().unwrap_or("").to_string();
        // Over a stream nothing is sent again, but the ACK is still awaited.
        let first = if a.reply.transport.is_stream() {
            T1 * 64
        } else {
            T1
        };
        a.unacked = Some(Unacked {
            side: Side::A,
            profile,
            server,
            msg: ok.clone(),
            interval: T1,
            deadline: now + T1 * 64,
        });
        self.timers.insert((now + first, id, TimerKind::Retransmit));
        self.out.push_back(Output::Respond {
            profile,
            server,
            msg: ok,
        });
        self.out
            .push_back(Output::Report(Report::Answered { profile, call_id }));
    }

    /// ACKs a leg's 2xx (with `body` when the answer came from the caller).
    fn ack_leg(&mut self, id: CallId, index: usize, ok: &Message, body: Option<&Message>) {
        let Some(leg) = self.calls.get(&id).and_then(|c| c.legs.get(index)) else {
            return;
        };
        let Ok(mut dialog) = Dialog::from_uac(&leg.invite, ok) else {
            return;
        };
        let (profile, transport) = (leg.plan.profile, leg.plan.transport);
        let flow = leg.flow.clone();
        let seq = ok.cseq().map_or(1, |c| c.0);
        let via = self.via(profile, transport);
        let msg = with_body(dialog.request(Method::Ack, &via, Some(seq)), body).build();
        let hop = hop_of(&dialog, flow);
        if let Ok(msg) = msg {
            self.out.push_back(Output::Ack { profile, msg, hop });
        }
    }

    /// ACKs a 2xx nobody wants and ends that dialog with BYE.
    fn ack_and_bye(&mut self, id: CallId, index: usize, mut dialog: Dialog, ok: &Message) {
        self.ack_leg(id, index, ok, None);
        let Some(leg) = self.calls.get(&id).and_then(|c| c.legs.get(index)) else {
            return;
        };
        let (profile, transport, flow) = (leg.plan.profile, leg.plan.transport, leg.flow.clone());
        let via = self.via(profile, transport);
        if let Ok(bye) = dialog.request(Method::Bye, &via, None).build() {
            let tx = self.new_tx(TxRole::Fire);
            let hop = hop_of(&dialog, flow);
            self.out.push_back(Output::Send {
                tx,
                profile,
                msg: bye,
                hop,
            });
        }
    }

    // -----------------------------------------------------------------
    // Requests from either side
    // -----------------------------------------------------------------

    /// The caller cancelled its INVITE (nta answered the CANCEL).
    pub fn on_cancelled(&mut self, _now: Instant, profile: ProfileId, server: ServerId) {
        if let Some(tx) = self.relayed.get(&(profile, server)).copied() {
            // A relayed re-INVITE.
            self.out.push_back(Output::Cancel { tx });
            return;
        }
        let Some(id) = self.invites.get(&(profile, server)).copied() else {
            return;
        };
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        if call.winner.is_some() || call.ended {
            return;
        }
        let request = call.a.invite.clone();
        let tag = call.a.tag.clone();
        self.respond(
            profile,
            server,
            &request,
            487,
            "Request Terminated",
            Some(&tag),
            &[],
        );
        self.end_call(id, "ORIGINATOR_CANCEL");
    }

    /// An ACK for a 2xx (of the caller's INVITE or of a relayed re-INVITE).
    pub fn on_ack(&mut self, _now: Instant, msg: Message) {
        let key = (
            msg.call_id().unwrap_or("").to_string(),
            msg.to_tag().unwrap_or("").to_string(),
        );
        let Some((id, side)) = self.dialogs.get(&key).copied() else {
            return;
        };
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        for kind in [TimerKind::Retransmit, TimerKind::RetransmitRelayed] {
            let slot = call.unacked_mut(kind);
            if slot.as_ref().is_some_and(|u| u.side == side) {
                *slot = None;
            }
        }
        if let Some(p) = self
            .dialog_key(id, side.other())
            .and_then(|other| self.pending_acks.remove(&other))
        {
            self.ack_pending(p, &msg);
        }
    }

    /// ACKs a 2xx that waited for the other side's ACK, with its body.
    fn ack_pending(&mut self, p: PendingAck, ack: &Message) {
        let Some(call) = self.calls.get_mut(&p.call) else {
            return;
        };
        let body = (!ack.body_bytes().is_empty()).then_some(ack);
        match p.side {
            Side::B => {
                let Some(w) = call.winner else {
                    return;
                };
                let initial =
                    p.response.cseq().map(|c| c.0) == call.legs[w].invite.cseq().map(|c| c.0);
                if initial {
                    self.ack_leg(p.call, w, &p.response, body);
                } else {
                    self.ack_in_dialog(p.call, Side::B, &p.response, body);
                }
            }
            Side::A => self.ack_in_dialog(p.call, Side::A, &p.response, body),
        }
    }

    /// ACKs a 2xx to a re-INVITE we sent on `side`.
    fn ack_in_dialog(&mut self, id: CallId, side: Side, ok: &Message, body: Option<&Message>) {
        let seq = ok.cseq().map_or(1, |c| c.0);
        let Some((profile, transport, flow, dialog)) = self.side_dialog(id, side) else {
            return;
        };
        let mut d = dialog.clone();
        let via = self.via(profile, transport);
        let hop = hop_of(&d, flow);
        if let Ok(msg) = with_body(d.request(Method::Ack, &via, Some(seq)), body).build() {
            self.out.push_back(Output::Ack { profile, msg, hop });
        }
    }

    /// The profile, transport, fixed hop and dialog of one side.
    fn side_dialog(
        &self,
        id: CallId,
        side: Side,
    ) -> Option<(ProfileId, Transport, Option<Destination>, &Dialog)> {
        let call = self.calls.get(&id)?;
        match side {
            Side::A => {
                let d = call.a.dialog.as_ref()?;
                let flow = d.route_set.is_empty().then(|| call.a.reply.clone());
                Some((call.a.profile, call.a.reply.transport, flow, d))
            }
            Side::B => {
                let l = &call.legs[call.winner?];
                Some((
                    l.plan.profile,
                    l.plan.transport,
                    l.flow.clone(),
                    l.dialog.as_ref()?,
                ))
            }
        }
    }

    fn side_dialog_mut(&mut self, id: CallId, side: Side) -> Option<&mut Dialog> {
        let call = self.calls.get_mut(&id)?;
        match side {
            Side::A => call.a.dialog.as_mut(),
            Side::B => {
                let w = call.winner?;
                call.legs[w].dialog.as_mut()
            }
        }
    }

    /// A request with a To tag (BYE, re-INVITE, UPDATE, INFO, ...). Returns
    /// the request when it belongs to no bridged call.
    pub fn on_request(&mut self, _now: Instant, req: Incoming) -> Result<(), Box<Incoming>> {
        let key = (
            req.msg.call_id().unwrap_or("").to_string(),
            req.msg.to_tag().unwrap_or("").to_string(),
        );
        let Some((id, side)) = self.dialogs.get(&key).copied() else {
            return Err(Box::new(req));
        };
        let method = req.msg.method();
        let tag = key.1.clone();
        // The dialog must be up (a request in an early dialog from the
        // caller is refused until the answer).
        let checked = match self.side_dialog_mut(id, side) {
            Some(d) => d.on_request(&req.msg).map_err(|e| e.to_string()),
            None => Err("dialog not established".into()),
        };
        if let Err(why) = checked {
            let (status, reason) = if why.contains("lower") {
                (500, "Internal Server Error")
            } else {
                (481, "Call/Transaction Does Not Exist")
            };
            su_log!(
                SOFIA,
                5,
                "sofia: call {}: {} refused: {why}",
                id.0,
                req.msg.method_str()
            );
            self.respond(
                req.profile,
                req.server,
                &req.msg,
                status,
                reason,
                Some(&tag),
                &[],
            );
            return Ok(());
        }
        if method == Method::Bye {
            self.respond(
                req.profile,
                req.server,
                &req.msg,
                200,
                "OK",
                Some(&tag),
                &[],
            );
            self.hangup(id, side, "NORMAL_CLEARING");
            return Ok(());
        }
        if req.msg.max_forwards() == Some(0) {
            self.respond(
                req.profile,
                req.server,
                &req.msg,
                483,
                "Too Many Hops",
                Some(&tag),
                &[],
            );
            return Ok(());
        }
        if method == Method::Invite {
            self.out.push_back(Output::Report(Report::Reinvite {
                profile: req.profile,
                call_id: key.0.clone(),
            }));
        }
        self.relay(id, side, req);
        Ok(())
    }

    /// Relays an in-dialog request to the other side.
    fn relay(&mut self, id: CallId, from: Side, req: Incoming) {
        let to = from.other();
        let method = req.msg.method();
        let Some((profile, transport, flow, _)) = self.side_dialog(id, to) else {
            let tag = self.local_tag(id, from);
            self.respond(
                req.profile,
                req.server,
                &req.msg,
                481,
                "Call/Transaction Does Not Exist",
                tag.as_deref(),
                &[],
            );
            return;
        };
        let via = self.via(profile, transport);
        let contact_user = match to {
            Side::A => self
                .calls
                .get(&id)
                .map(|c| destination_user(&c.a.invite))
                .unwrap_or_default(),
            Side::B => "mod_sofia".to_string(),
        };
        let contact = self.contact(profile, transport, &contact_user);
        let Some(dialog) = self.side_dialog_mut(id, to) else {
            return;
        };
        let max_forwards = req.msg.max_forwards().unwrap_or(70).saturating_sub(1);
        let mut b = dialog.request_with_max_forwards(method, &via, None, max_forwards);
        let hop = hop_of(dialog, flow);
        if matches!(
            method,
            Method::Invite | Method::Update | Method::Subscribe | Method::Refer | Method::Notify
        ) {
            b = b.header(HeaderName::Contact, &contact);
        }
        for h in req.msg.headers() {
            let pass = matches!(
                h.kind,
                HeaderName::Event
                    | HeaderName::SubscriptionState
                    | HeaderName::ReferTo
                    | HeaderName::ReferredBy
                    | HeaderName::ContentDisposition
                    | HeaderName::Supported
                    | HeaderName::SessionExpires
                    | HeaderName::MinSe
                    | HeaderName::Allow
            ) || (is_custom_header(h.name));
            if pass {
                b = b.header_named(h.name, h.value);
            }
        }
        if let Some(ua) = self.user_agent(profile) {
            b = b.header(HeaderName::UserAgent, &ua);
        }
        if !req.msg.body_bytes().is_empty() {
            let ct = req
                .msg
                .header(HeaderName::ContentType)
                .unwrap_or("application/octet-stream");
            b = b.body(ct, req.msg.body());
        }
        let msg = match b.build() {
            Ok(m) => m,
            Err(e) => {
                su_log!(
                    SOFIA,
                    3,
                    "sofia: call {}: cannot relay {}: {e}",
                    id.0,
                    method.as_str()
                );
                let tag = self.local_tag(id, from);
                self.respond(
                    req.profile,
                    req.server,
                    &req.msg,
                    500,
                    "Internal Server Error",
                    tag.as_deref(),
                    &[],
                );
                return;
            }
        };
        let ack_waits = method == Method::Invite && req.msg.body_bytes().is_empty();
        let key = (req.profile, req.server);
        let tx = self.new_tx(TxRole::Relay(Box::new(Relay {
            call: id,
            from,
            profile: req.profile,
            server: req.server,
            request: req.msg,
            ack_waits,
        })));
        self.relayed.insert(key, tx);
        self.out.push_back(Output::Send {
            tx,
            profile,
            msg,
            hop,
        });
    }

    /// The final response to a relayed request: relayed back.
    fn relay_response(&mut self, now: Instant, r: Box<Relay>, msg: Message) {
        let status = msg.status().unwrap_or(500);
        self.relayed.remove(&(r.profile, r.server));
        let to = r.from.other();
        if let Some(d) = self.side_dialog_mut(r.call, to) {
            d.on_response(&msg);
        }
        let is_invite = r.request.method() == Method::Invite;
        if is_invite && (200..300).contains(&status) {
            if r.ack_waits {
                let key = self.dialog_key(r.call, to);
                if let Some(key) = key {
                    self.pending_acks.insert(
                        key,
                        PendingAck {
                            call: r.call,
                            side: to,
                            response: msg.clone(),
                        },
                    );
                }
            } else {
                self.ack_in_dialog(r.call, to, &msg, None);
            }
        }
        // The request came in a dialog, so its To has our tag even when the
        // call has ended meanwhile: its transaction is answered all the same.
        let tag = self.local_tag(r.call, r.from);
        let contact_user = match r.from {
            Side::A => self
                .calls
                .get(&r.call)
                .map(|c| destination_user(&c.a.invite))
                .unwrap_or_default(),
            Side::B => "mod_sofia".into(),
        };
        let transport = self
            .side_dialog(r.call, r.from)
            .map_or(Transport::Udp, |s| s.1);
        let contact = self.contact(r.profile, transport, &contact_user);
        let mut b = ResponseBuilder::reply_to(
            &r.request,
            status,
            msg.reason().unwrap_or(""),
            tag.as_deref(),
        );
        if (200..300).contains(&status)
            && matches!(r.request.method(), Method::Invite | Method::Update)
        {
            b = b.header(HeaderName::Contact, &contact);
        }
        for h in msg.headers() {
            if matches!(
                h.kind,
                HeaderName::WwwAuthenticate
                    | HeaderName::ProxyAuthenticate
                    | HeaderName::RetryAfter
                    | HeaderName::Allow
                    | HeaderName::Supported
                    | HeaderName::Require
                    | HeaderName::SessionExpires
                    | HeaderName::MinSe
                    | HeaderName::Unsupported
            ) || (is_custom_header(h.name))
            {
                b = b.header_named(h.name, h.value);
            }
        }
        if !msg.body_bytes().is_empty() {
            let ct = msg
                .header(HeaderName::ContentType)
                .unwrap_or("application/octet-stream");
            b = b.body(ct, msg.body());
        }
        let Ok(resp) = b.build() else {
            return;
        };
        if is_invite && (200..300).contains(&status) && !transport.is_stream() {
            // The UAS core retransmits its 2xx until the ACK (§13.3.1.4).
            if let Some(call) = self.calls.get_mut(&r.call) {
                call.reinvite_unacked = Some(Unacked {
                    side: r.from,
                    profile: r.profile,
                    server: r.server,
                    msg: resp.clone(),
                    interval: T1,
                    deadline: now + T1 * 64,
                });
                self.timers
                    .insert((now + T1, r.call, TimerKind::RetransmitRelayed));
            }
        }
        self.out.push_back(Output::Respond {
            profile: r.profile,
            server: r.server,
            msg: resp,
        });
    }

    fn dialog_key(&self, id: CallId, side: Side) -> Option<(String, String)> {
        let call = self.calls.get(&id)?;
        match side {
            Side::A => Some((
                call.a.invite.call_id().unwrap_or("").to_string(),
                call.a.tag.clone(),
            )),
            Side::B => {
                let l = &call.legs[call.winner?];
                Some((
                    l.invite.call_id().unwrap_or("").to_string(),
                    l.from_tag.clone(),
                ))
            }
        }
    }

    /// Ends an answered call from `side`: BYE to the other side.
    fn hangup(&mut self, id: CallId, from: Side, cause: &'static str) {
        let to = from.other();
        self.send_bye(id, to);
        self.end_call(id, cause);
    }

    fn send_bye(&mut self, id: CallId, side: Side) {
        let Some((profile, transport, flow, _)) = self.side_dialog(id, side) else {
            return;
        };
        let vars = match side {
            Side::A => self.calls.get(&id).map(|c| c.a.vars.clone()),
            Side::B => self
                .calls
                .get(&id)
                .and_then(|c| c.winner.map(|w| c.legs[w].plan.vars.clone())),
        }
        .unwrap_or_default();
        let via = self.via(profile, transport);
        let Some(dialog) = self.side_dialog_mut(id, side) else {
            return;
        };
        let mut b = dialog.request(Method::Bye, &via, None);
        let hop = hop_of(dialog, flow);
        for (n, v) in var_headers(&vars, "sip_bye_h_") {
            b = b.header_named(n, v);
        }
        if let Ok(bye) = b.build() {
            let tx = self.new_tx(TxRole::Fire);
            self.out.push_back(Output::Send {
                tx,
                profile,
                msg: bye,
                hop,
            });
        }
    }

    /// Ends a call: its dialogs are forgotten; legs still ringing are kept
    /// (cancelled, or acknowledged and ended with BYE should they answer)
    /// until they end.
    fn end_call(&mut self, id: CallId, cause: &'static str) {
        let Some(mut call) = self.calls.remove(&id) else {
            return;
        };
        call.ended = true;
        let a_key = (
            call.a.invite.call_id().unwrap_or("").to_string(),
            call.a.tag.clone(),
        );
        self.dialogs.remove(&a_key);
        self.pending_acks.remove(&a_key);
        self.invites.remove(&(call.a.profile, call.a.server));
        // Legs still ringing: their transactions stay so that a late 2xx is
        // acknowledged and ended; they are marked for CANCEL.
        let mut orphans = Vec::new();
        for (i, l) in call.legs.iter().enumerate() {
            let key = (
                l.invite.call_id().unwrap_or("").to_string(),
                l.from_tag.clone(),
            );
            self.dialogs.remove(&key);
            self.pending_acks.remove(&key);
            if matches!(l.state, LegState::Calling | LegState::Early) {
                orphans.push((i, l.tx, l.state));
            }
        }
        self.timers.retain(|t| t.1 != id);
        su_log!(SOFIA, 5, "sofia: call {} ended: {cause}", id.0);
        self.out.push_back(Output::Report(Report::Ended {
            profile: call.a.profile,
            call_id: a_key.0,
            cause,
        }));
        if !orphans.is_empty() {
            // Keep the ringing legs in a husk so that their answers are
            // handled: CANCEL after a provisional, ACK+BYE after a 2xx.
            for (_, tx, state) in &orphans {
                if *state == LegState::Early {
                    self.out.push_back(Output::Cancel { tx: *tx });
                }
            }
            for l in &mut call.legs {
                if matches!(l.state, LegState::Calling | LegState::Early) {
                    l.cancel_wanted = true;
                }
            }
            call.winner = None;
            call.groups.clear();
            self.calls.insert(id, call);
            self.husks_pending(id);
        } else {
            for l in &call.legs {
                self.txs.remove(&l.tx);
                self.out.push_back(Output::Forget { tx: l.tx });
            }
        }
    }

    /// A call kept only for its ringing legs: removed once they all end.
    fn husks_pending(&mut self, id: CallId) {
        let done = self.calls.get(&id).is_some_and(|c| {
            c.ended
                && c.legs
                    .iter()
                    .all(|l| !matches!(l.state, LegState::Calling | LegState::Early))
        });
        if done && let Some(c) = self.calls.remove(&id) {
            for l in &c.legs {
                self.txs.remove(&l.tx);
                self.out.push_back(Output::Forget { tx: l.tx });
            }
        }
    }

    // -----------------------------------------------------------------
    // Time
    // -----------------------------------------------------------------

    /// Runs what is due: 2xx retransmissions (and their give-up: BYE both
    /// sides), and ringing timeouts (480 to the caller).
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(&(at, id, kind)) = self.timers.first() {
            if at > now {
                break;
            }
            self.timers.pop_first();
            match kind {
                TimerKind::Retransmit | TimerKind::RetransmitRelayed => {
                    self.retransmit(now, id, kind)
                }
                TimerKind::Ring => {
                    let ringing = self
                        .calls
                        .get(&id)
                        .is_some_and(|c| c.winner.is_none() && !c.ended);
                    if ringing {
                        su_log!(SOFIA, 5, "sofia: call {}: no answer", id.0);
                        self.fail_call(id, "NO_ANSWER");
                    }
                }
            }
        }
    }

    /// Sends a 2xx of ours again (T1 doubling up to T2), or, 64·T1 after
    /// it without an ACK, ends the call with BYE to both sides.
    fn retransmit(&mut self, now: Instant, id: CallId, kind: TimerKind) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let slot = call.unacked_mut(kind);
        let Some(u) = slot.take() else {
            return;
        };
        if now >= u.deadline {
            su_log!(
                SOFIA,
                3,
                "sofia: call {}: no ACK for our 2xx: ending it",
                id.0
            );
            self.send_bye(id, Side::A);
            self.send_bye(id, Side::B);
            self.end_call(id, "RECOVERY_ON_TIMER_EXPIRE");
            return;
        }
        let interval = (u.interval * 2).min(T2);
        let next = (now + interval).min(u.deadline);
        let (profile, server, msg) = (u.profile, u.server, u.msg.clone());
        *slot = Some(Unacked { interval, ..u });
        self.timers.insert((next, id, kind));
        self.out.push_back(Output::Respond {
            profile,
            server,
            msg,
        });
    }

    /// Ends every call (BYE to answered ones, 503 to ringing callers).
    pub fn shutdown(&mut self) {
        let ids: Vec<CallId> = self.calls.keys().copied().collect();
        for id in ids {
            let answered = self.calls.get(&id).is_some_and(|c| c.winner.is_some());
            if answered {
                self.send_bye(id, Side::A);
                self.send_bye(id, Side::B);
                self.end_call(id, "SYSTEM_SHUTDOWN");
            } else if self.calls.get(&id).is_some_and(|c| !c.ended) {
                self.fail_call(id, "NORMAL_TEMPORARY_FAILURE");
            }
        }
    }
}

/// An X- header (FreeSWITCH's custom headers), by name.
pub fn is_custom_header(name: &str) -> bool {
    name.len() > 2
        && name
            .as_bytes()
            .get(..2)
            .is_some_and(|p| p.eq_ignore_ascii_case(b"x-"))
}

/// The user part of the caller's Request-URI (the number it called).
pub fn destination_user(invite: &Message) -> String {
    invite
        .request_uri()
        .and_then(Result::ok)
        .and_then(|u| u.user().map(str::to_string))
        .unwrap_or_default()
}

/// A message's body with its Content-Type (SDP when it names none), to
/// relay; `None` without a body.
fn body_of(m: &Message) -> Option<(&str, bytes::Bytes)> {
    (!m.body_bytes().is_empty()).then(|| {
        let ct = m
            .header(HeaderName::ContentType)
            .unwrap_or("application/sdp");
        (ct, m.body())
    })
}

fn with_body(b: RequestBuilder, body: Option<&Message>) -> RequestBuilder {
    match body.and_then(body_of) {
        Some((ct, body)) => b.body(ct, body),
        None => b,
    }
}

/// Where an in-dialog request goes: the fixed flow when there is one and
/// no route set, else the first loose route or the remote target.
fn hop_of(dialog: &Dialog, flow: Option<Destination>) -> Hop {
    if let Some(f) = flow
        && dialog.route_set.is_empty()
    {
        return Hop::Fixed(f);
    }
    let (uri, routes) = dialog.request_target();
    match routes.first() {
        Some(r) if dialog.route_set.first().is_some_and(|f| f == r) => {
            let inner = r.trim_start_matches('<').trim_end_matches('>');
            Hop::Uri(inner.to_string())
        }
        _ => Hop::Uri(uri),
    }
}
