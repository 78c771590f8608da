//! Gateways: FreeSWITCH's outbound registrations and trunk monitors, as a
//! sans-IO state machine.
//!
//! A [`Gateway`] is one `<gateway>` of a profile. It registers (when
//! `register` is true) with FreeSWITCH's states and timers
//! (`sofia_reg_check_gateway` and `sofia_reg_handle_sip_r_register`):
//!
//! ```text
//! UNREGED -> TRYING -> REGISTER -> REGED -> (refresh) UNREGED -> TRYING ...
//!              |  \-> (no answer in timeout-seconds) TIMEOUT -> FAILED
//!              \----> (a final failure)                         FAILED -> FAIL_WAIT -> UNREGED
//! UNREGISTER -> NOREG                      (sofia profile <p> unregister, killgw)
//! NOREG                                    (register=false)
//! ```
//!
//! and pings it with OPTIONS every `ping` seconds, counting answers between
//! `ping-min` and `ping-max` to tell whether it is up. It takes input with an
//! explicit `now` ([`Gateway::handle_response`], [`Gateway::handle_failure`],
//! [`Gateway::handle_timeout`]) and gives the requests to send
//! ([`Gateway::poll_transmit`]), the events to publish
//! ([`Gateway::poll_event`]) and when it next needs to run
//! ([`Gateway::poll_timeout`]). [`GatewaySet`] holds the gateways of a
//! profile; the tokio driver that sends the requests with the profile's
//! transaction engine is [`driver::GatewayDriver`].
//!
//! ```
//! use std::time::Instant;
//! use mod_sofia::commands::GatewayState;
//! use mod_sofia::config::{self, MemoryFiles, LoadOptions};
//! use mod_sofia::gateway::{Gateway, GatewayEnv};
//!
//! let xml = r#"<configuration name="sofia.conf"><profiles><profile name="external">
//!   <settings><param name="sip-ip" value="127.0.0.1"/></settings>
//!   <gateways><gateway name="carrier">
//!     <param name="username" value="alice"/><param name="password" value="secret"/>
//!     <param name="proxy" value="192.0.2.10"/>
//!   </gateway></gateways></profile></profiles></configuration>"#;
//! let mut files = MemoryFiles::new();
//! files.insert("/conf/sofia.conf.xml", xml);
//! let loaded = config::load_from(&files, "/conf/sofia.conf.xml".as_ref(), &LoadOptions::default()).unwrap();
//! let (_, gw) = loaded.sofia.gateway("carrier").unwrap();
//! let env = GatewayEnv::new("external", "127.0.0.1", 5080);
//! let now = Instant::now();
//! let mut gateway = Gateway::with_seed(gw.clone(), env, now, 1);
//! // It registers at once.
//! let register = gateway.poll_transmit().unwrap();
//! assert_eq!(register.uri, "sip:192.0.2.10");
//! assert_eq!(gateway.state(), GatewayState::Trying);
//! ```

use std::collections::VecDeque;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sofia_iptsec::AuthClient;
use sofia_msg::headers::Contact;
use sofia_msg::{BuildError, HeaderName, Message, Method, RequestBuilder};
use sofia_su::id::IdGenerator;
use sofia_su::su_log;

use crate::commands::{GatewayState, GatewayStatus};
use crate::config::{GatewayConfig, Transport};
use crate::events::{self, Event};

pub mod driver;

/// `sofia::gateway_add`: a gateway was added to a profile.
pub const GATEWAY_ADD: &str = "sofia::gateway_add";
/// `sofia::gateway_delete`: a gateway was removed from its profile.
pub const GATEWAY_DELETE: &str = "sofia::gateway_delete";

/// The failure status FreeSWITCH gives a registration that got no answer
/// within `timeout-seconds`.
pub const TIMEOUT_STATUS: u16 = 908;

/// What a gateway needs to know of its profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayEnv {
    /// The profile's name.
    pub profile: String,
    /// `sip-ip`, without brackets.
    pub sip_ip: String,
    /// `ext-sip-ip` as an address, when set (without brackets).
    pub ext_sip_ip: Option<String>,
    /// The port of the Contact for UDP and TCP: `ext-sip-port`, else the
    /// port the profile listens on.
    pub port: u16,
    /// The TLS port, for `register-transport` `tls`.
    pub tls_port: Option<u16>,
    /// The profile's `user-agent-string` (`None`: no User-Agent).
    pub user_agent: Option<String>,
}

impl GatewayEnv {
    /// The environment of a running profile: its addresses from the
    /// configuration (`ext-sip-ip` when it is an address or `auto`), the
    /// UDP/TCP and TLS ports it listens on (`ext-sip-port` first) and its
    /// `user-agent-string`.
    pub fn of_profile(
        config: &crate::config::ProfileConfig,
        port: u16,
        tls_port: Option<u16>,
    ) -> GatewayEnv {
        use crate::config::ExtAddress;
        GatewayEnv {
            profile: config.name.clone(),
            sip_ip: config.sip_ip.to_string(),
            ext_sip_ip: match &config.ext_sip_ip {
                Some(ExtAddress::Ip(ip)) => Some(ip.to_string()),
                Some(ExtAddress::Auto) => Some(crate::config::guess_ip_v4().to_string()),
                _ => None,
            },
            port: config.ext_sip_port.unwrap_or(port),
            tls_port,
            user_agent: config.user_agent.clone(),
        }
    }

    /// A profile `profile` on `sip_ip`:`port` with no external address, no
    /// TLS and no User-Agent.
    pub fn new(profile: &str, sip_ip: &str, port: u16) -> GatewayEnv {
        GatewayEnv {
            profile: profile.to_string(),
            sip_ip: sip_ip.to_string(),
            ext_sip_ip: None,
            port,
            tls_port: None,
            user_agent: None,
        }
    }
}

/// Which request of a gateway an [`OutgoingRequest`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestKind {
    /// A REGISTER with `expire-seconds`.
    Register,
    /// A REGISTER with `Expires: 0`.
    Unregister,
    /// An OPTIONS ping.
    Ping,
}

/// A request a gateway wants sent. The driver resolves `target`, adds a Via
/// for the transport it sends on ([`OutgoingRequest::build`]) and feeds the
/// answer back with the same `id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingRequest {
    /// The gateway's name.
    pub gateway: String,
    /// Identifies the transaction in [`Gateway::handle_response`].
    pub id: u64,
    /// What it is.
    pub kind: RequestKind,
    /// REGISTER or OPTIONS.
    pub method: Method,
    /// The Request-URI.
    pub uri: String,
    /// The headers after Via, in order.
    pub headers: Vec<(HeaderName, String)>,
    /// Where to send it: `register-proxy`, else `outbound-proxy`, else
    /// `sip:` and the `proxy`, with `;transport=` of `register-transport`
    /// when the URI names none and it is not UDP.
    pub target: String,
}

impl OutgoingRequest {
    /// The request with `via` as its top Via.
    pub fn build(&self, via: &str) -> Result<Message, BuildError> {
        let mut b = RequestBuilder::new(self.method, &self.uri).header(HeaderName::Via, via);
        for (name, value) in &self.headers {
            b = b.header(*name, value);
        }
        b.build()
    }

    /// The value of the first header of this name.
    pub fn header(&self, name: HeaderName) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Which variables `sofia_gateway_data` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VarKind {
    /// `ivar`: the inbound variables.
    Inbound,
    /// `ovar`: the outbound variables.
    Outbound,
    /// `var`: inbound, then outbound.
    Any,
}

/// The REGISTER in progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Pending {
    id: u64,
    kind: RequestKind,
}

/// One gateway: its configuration, registration state and ping state.
#[derive(Debug)]
pub struct Gateway {
    config: GatewayConfig,
    profile: String,
    user_agent: Option<String>,
    /// `register_url`: the Request-URI, `sip:` and `from-domain` or `proxy`.
    register_url: String,
    /// `register_proxy`: `sip:` and the proxy (the `Proxy` line).
    register_proxy: String,
    /// `register_from`: `<sip:from-user@from-domain-or-proxy>`.
    register_from: String,
    /// `register_to`: `sip:username@proxy` (the `To` line and `Data` column).
    register_to: String,
    /// `register_contact`.
    register_contact: String,
    /// `<sip:from-domain-or-proxy>`, To and From of pings.
    options_uri: String,
    target: String,
    call_id: String,
    from_tag: String,
    cseq: u32,
    ids: IdGenerator,
    auth: AuthClient,
    next_id: u64,

    state: GatewayState,
    up: bool,
    up_since: Option<Instant>,
    /// `retry`: when a FAIL_WAIT ends (and, as FreeSWITCH shows it, the
    /// retry time of a TRYING).
    retry_at: Option<Instant>,
    /// `reg_timeout`: when a TRYING becomes TIMEOUT.
    reg_timeout_at: Option<Instant>,
    /// `expires`: when a REGED refreshes.
    refresh_at: Option<Instant>,
    /// When the registrar lets the current binding lapse.
    granted_until: Option<Instant>,
    /// The expiry the registrar granted last, seconds.
    granted: Option<u32>,
    failures: u32,
    failure_status: u16,
    /// A REGISTER was sent and not given up (FreeSWITCH's handle).
    handle: bool,
    pending: Option<Pending>,
    unregistering: Option<u64>,
    /// The registrar's Min-Expires after a 423 (RFC 3261 §10.2.8): the
    /// expiry asked for from then on when above `expire-seconds`.
    min_expires: Option<u32>,
    deleted: bool,
    removed: bool,

    ping_at: Option<Instant>,
    pinging: Option<(u64, Instant)>,
    ping_count: i32,
    ping_time_ms: f64,

    ib_calls: u32,
    ib_failed_calls: u32,
    ob_calls: u32,
    ob_failed_calls: u32,

    transmits: VecDeque<OutgoingRequest>,
    events: VecDeque<Event>,
}

fn bracket(host: &str) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_string()
    }
}

fn uuid(ids: &mut IdGenerator) -> String {
    let (a, b) = (ids.u64(), ids.u64());
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0x0fff,
        ((b >> 48) & 0x3fff) | 0x8000,
        b & 0xffff_ffff_ffff
    )
}

/// `secs` after `now`, saturating far in the future.
fn after(now: Instant, secs: u64) -> Instant {
    now.checked_add(Duration::from_secs(secs))
        .unwrap_or_else(|| now + Duration::from_secs(86_400 * 365))
}

/// The refresh delay FreeSWITCH uses after a registration of `freq`
/// seconds: 15 s early above 30 s, half of it below.
fn refresh_delay(freq: u32) -> u64 {
    let d = if freq > 30 { freq - 15 } else { freq / 2 };
    u64::from(d.max(1))
}

impl Gateway {
    /// A gateway in its initial state at `now`: UNREGED when it registers
    /// (and then TRYING at once, its REGISTER ready to send), NOREG (and up)
    /// when it does not; a `sofia::gateway_add` event is ready. Tags,
    /// Call-ID and cnonces come from the operating system's generator.
    pub fn new(config: GatewayConfig, env: GatewayEnv, now: Instant) -> Gateway {
        Gateway::with_ids(config, env, now, IdGenerator::from_os())
    }

    /// As [`Gateway::new`], with identifiers from a seeded generator.
    pub fn with_seed(config: GatewayConfig, env: GatewayEnv, now: Instant, seed: u64) -> Gateway {
        Gateway::with_ids(config, env, now, IdGenerator::with_seed(seed))
    }

    /// As [`Gateway::new`], with identifiers from `ids`.
    pub fn with_ids(
        config: GatewayConfig,
        env: GatewayEnv,
        now: Instant,
        mut ids: IdGenerator,
    ) -> Gateway {
        let c = &config;
        let host_part = c.from_domain.clone().unwrap_or_else(|| c.proxy.clone());
        let register_url = format!("sip:{host_part}");
        let (register_proxy, register_to) = match strip_sip(&c.proxy) {
            Some(rest) => (c.proxy.clone(), format!("sip:{}@{rest}", c.username)),
            None => (
                format!("sip:{}", c.proxy),
                format!("sip:{}@{}", c.username, c.proxy),
            ),
        };
        let register_from = format!("<sip:{}@{host_part}>", c.from_user);
        let transport = c.register_transport.as_str();
        let params = match c.contact_params.as_deref() {
            Some(p) if p.starts_with(';') => format!("{p};transport={transport};gw={}", c.name),
            Some(p) => format!(";{p};transport={transport};gw={}", c.name),
            None => format!(";transport={transport};gw={}", c.name),
        };
        let contact_host = match c.contact_host.as_deref() {
            Some("sip-ip") => env.sip_ip.clone(),
            Some(h) => h.to_string(),
            None => env.ext_sip_ip.clone().unwrap_or_else(|| env.sip_ip.clone()),
        };
        let port = match c.register_transport {
            Transport::Tls => env.tls_port.unwrap_or(env.port),
            _ => env.port,
        };
        let user = if c.extension_in_contact {
            c.extension.clone()
        } else {
            format!("gw+{}", c.name)
        };
        let register_contact = format!("<sip:{user}@{}:{port}{params}>", bracket(&contact_host));
        let mut target = c
            .register_proxy
            .clone()
            .or_else(|| c.outbound_proxy.clone())
            .unwrap_or_else(|| register_proxy.clone());
        if c.register_transport != Transport::Udp && !target.contains("transport=") {
            target = format!("{target};transport={transport}");
        }
        let mut auth = AuthClient::with_ids(IdGenerator::with_seed(ids.u64()));
        auth.add_credentials(None, &c.auth_username, &c.password);
        let call_id = uuid(&mut ids);
        let from_tag = ids.tag();
        let cseq = u32::try_from(ids.u64() % 10_000).unwrap_or(0) + 1;
        let ping_at = c.ping.map(|p| after(now, u64::from(p)));
        let (state, up, up_since) = if c.register {
            (GatewayState::Unreged, false, None)
        } else {
            (GatewayState::Noreg, true, Some(now))
        };
        let mut gw = Gateway {
            profile: env.profile.clone(),
            user_agent: env.user_agent.clone(),
            register_url,
            register_proxy,
            register_from,
            register_to,
            register_contact,
            options_uri: format!("<sip:{host_part}>"),
            target,
            call_id,
            from_tag,
            cseq,
            ids,
            auth,
            next_id: 1,
            state,
            up,
            up_since,
            retry_at: None,
            reg_timeout_at: None,
            refresh_at: None,
            granted_until: None,
            granted: None,
            failures: 0,
            failure_status: 0,
            handle: false,
            pending: None,
            unregistering: None,
            min_expires: None,
            deleted: false,
            removed: false,
            ping_at,
            pinging: None,
            ping_count: 0,
            ping_time_ms: 0.0,
            ib_calls: 0,
            ib_failed_calls: 0,
            ob_calls: 0,
            ob_failed_calls: 0,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            config,
        };
        gw.events.push_back(
            Event::custom(GATEWAY_ADD)
                .with("Gateway", gw.config.name.clone())
                .with("profile-name", gw.profile.clone()),
        );
        su_log!(
            SOFIA,
            3,
            "sofia: added gateway {} to profile {}",
            gw.config.name,
            gw.profile
        );
        gw.step(now);
        gw
    }

    /// The gateway's name.
    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// The gateway's configuration.
    pub fn config(&self) -> &GatewayConfig {
        &self.config
    }

    /// The registration state.
    pub fn state(&self) -> GatewayState {
        self.state
    }

    /// Whether the gateway is up (FreeSWITCH's `SOFIA_GATEWAY_UP`).
    pub fn is_up(&self) -> bool {
        self.up
    }

    /// Whether calls may use the gateway: it is up and not being deleted.
    /// FreeSWITCH refuses calls to a gateway that is down ("Gateway is
    /// down!", `NETWORK_OUT_OF_ORDER`).
    pub fn usable_for_calls(&self) -> bool {
        self.up && !self.deleted
    }

    /// Counts a call through the gateway: `inbound` from it or outbound to
    /// it, and whether it failed (a failed call counts in both totals).
    pub fn count_call(&mut self, inbound: bool, failed: bool) {
        let (calls, failures) = if inbound {
            (&mut self.ib_calls, &mut self.ib_failed_calls)
        } else {
            (&mut self.ob_calls, &mut self.ob_failed_calls)
        };
        *calls = calls.wrapping_add(1);
        if failed {
            *failures = failures.wrapping_add(1);
        }
    }

    /// A `<variable>` of the gateway (`sofia_gateway_data`).
    pub fn variable(&self, kind: VarKind, name: &str) -> Option<&str> {
        fn find<'v>(vars: &'v [(String, String)], name: &str) -> Option<&'v str> {
            vars.iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        }
        let find = |vars| find(vars, name);
        match kind {
            VarKind::Inbound => find(&self.config.inbound_variables),
            VarKind::Outbound => find(&self.config.outbound_variables),
            VarKind::Any => find(&self.config.inbound_variables)
                .or_else(|| find(&self.config.outbound_variables)),
        }
    }

    /// The Contact of its REGISTERs.
    pub fn contact(&self) -> &str {
        &self.register_contact
    }

    /// The Call-ID of its REGISTERs (one per gateway).
    pub fn call_id(&self) -> &str {
        &self.call_id
    }

    /// Whether `killgw` marked it for deletion.
    pub fn is_deleted(&self) -> bool {
        self.deleted
    }

    /// Whether it is deleted and done: its owner drops it (the
    /// `sofia::gateway_delete` event has been queued).
    pub fn is_removed(&self) -> bool {
        self.removed
    }

    /// Whether an unregistration is waiting for its answer.
    pub fn is_unregistering(&self) -> bool {
        self.unregistering.is_some()
    }

    /// The next request to send.
    pub fn poll_transmit(&mut self) -> Option<OutgoingRequest> {
        self.transmits.pop_front()
    }

    /// The next event to publish.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`Gateway::handle_timeout`] is next due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.removed {
            return None;
        }
        let mut next: Option<Instant> = None;
        let mut consider = |t: Option<Instant>| {
            if let Some(t) = t {
                next = Some(next.map_or(t, |n| n.min(t)));
            }
        };
        match self.state {
            GatewayState::Trying => {
                consider(self.reg_timeout_at);
                consider(self.granted_until);
            }
            GatewayState::Expired => consider(self.reg_timeout_at),
            GatewayState::FailWait => consider(self.retry_at),
            GatewayState::Reged => consider(self.refresh_at),
            _ => {}
        }
        if self.may_ping() {
            consider(self.ping_at);
        }
        next
    }

    /// Runs what is due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.step(now);
    }

    /// `sofia profile <p> register <gw>`: registers again now.
    pub fn register_now(&mut self, now: Instant) {
        if self.deleted {
            return;
        }
        self.retry_at = None;
        self.set_state(GatewayState::Unreged, 0, None);
        self.step(now);
    }

    /// `sofia profile <p> unregister <gw>`: REGISTER with Expires 0 (when a
    /// registration was started) and NOREG until `register`.
    pub fn unregister_now(&mut self, now: Instant) {
        if self.deleted {
            return;
        }
        self.retry_at = None;
        self.set_state(GatewayState::Unregister, 0, None);
        self.step(now);
    }

    /// `killgw`: unregisters (unless NOREG) and marks the gateway for
    /// deletion; once NOREG it is removed (`sofia::gateway_delete`).
    pub fn delete(&mut self, now: Instant) {
        if self.deleted {
            return;
        }
        if self.state != GatewayState::Noreg {
            self.retry_at = None;
            self.set_state(GatewayState::Unregister, 0, None);
        }
        self.deleted = true;
        self.step(now);
    }

    /// The profile stops (FreeSWITCH's `sofia_reg_unregister`): a REGED
    /// gateway sends REGISTER with Expires 0; nothing else is sent again.
    pub fn shutdown(&mut self, now: Instant) {
        if self.state == GatewayState::Reged {
            self.kill_reg(now);
        }
        self.pending = None;
        self.pinging = None;
        self.ping_at = None;
        self.retry_at = None;
        self.refresh_at = None;
        self.reg_timeout_at = None;
        self.granted_until = None;
        self.state = if self.config.register {
            GatewayState::Unreged
        } else {
            GatewayState::Noreg
        };
        self.removed = true;
    }

    fn may_ping(&self) -> bool {
        self.config.ping.is_some()
            && self.pinging.is_none()
            && !self.deleted
            && matches!(
                self.state,
                GatewayState::Noreg | GatewayState::Reged | GatewayState::Down
            )
    }

    fn next_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    fn base_headers(&self, expires: &str) -> Vec<(HeaderName, String)> {
        let to = if self.config.distinct_to {
            self.register_to.clone()
        } else {
            self.register_from.clone()
        };
        let mut h = vec![
            (HeaderName::MaxForwards, "70".to_string()),
            (
                HeaderName::From,
                format!("{};tag={}", self.register_from, self.from_tag),
            ),
            (HeaderName::To, to),
            (HeaderName::CallId, self.call_id.clone()),
            (HeaderName::CSeq, format!("{} REGISTER", self.cseq)),
            (HeaderName::Contact, self.register_contact.clone()),
            (HeaderName::Expires, expires.to_string()),
        ];
        if let Some(ua) = &self.user_agent {
            h.push((HeaderName::UserAgent, ua.clone()));
        }
        h
    }

    /// Queues a REGISTER (`Expires` is `expire-seconds`, or 0) with the
    /// credentials learned so far.
    fn send_register(&mut self, kind: RequestKind) -> u64 {
        self.cseq = self.cseq.wrapping_add(1);
        let expires = if kind == RequestKind::Unregister {
            "0".to_string()
        } else {
            self.config
                .expire_seconds
                .max(self.min_expires.unwrap_or(0))
                .to_string()
        };
        let mut headers = self.base_headers(&expires);
        for (name, value) in self.auth.authorize("REGISTER", &self.register_url, b"") {
            headers.push((name, value));
        }
        let id = self.next_id();
        su_log!(
            SOFIA,
            5,
            "sofia: gateway {}: REGISTER {} (Expires {expires}) via {}",
            self.config.name,
            self.register_url,
            self.target
        );
        self.transmits.push_back(OutgoingRequest {
            gateway: self.config.name.clone(),
            id,
            kind,
            method: Method::Register,
            uri: self.register_url.clone(),
            headers,
            target: self.target.clone(),
        });
        self.handle = true;
        id
    }

    fn send_ping(&mut self, now: Instant) {
        let id = self.next_id();
        let mut headers = vec![
            (HeaderName::MaxForwards, "70".to_string()),
            (
                HeaderName::From,
                format!("{};tag={}", self.options_uri, self.ids.tag()),
            ),
            (HeaderName::To, self.options_uri.clone()),
            (HeaderName::CallId, uuid(&mut self.ids)),
            (HeaderName::CSeq, "1 OPTIONS".to_string()),
        ];
        if self.config.contact_in_ping {
            headers.push((HeaderName::Contact, self.register_contact.clone()));
        }
        if let Some(ua) = self
            .config
            .ping_user_agent
            .clone()
            .or_else(|| self.user_agent.clone())
        {
            headers.push((HeaderName::UserAgent, ua));
        }
        self.transmits.push_back(OutgoingRequest {
            gateway: self.config.name.clone(),
            id,
            kind: RequestKind::Ping,
            method: Method::Options,
            uri: self.register_url.clone(),
            headers,
            target: self.target.clone(),
        });
        self.pinging = Some((id, now));
    }

    /// `sofia_reg_kill_reg`: an unregistration when a registration was
    /// started and the gateway is REGED or UNREGISTER; the REGISTER in
    /// progress is given up either way.
    fn kill_reg(&mut self, _now: Instant) {
        if !self.handle {
            return;
        }
        if matches!(self.state, GatewayState::Reged | GatewayState::Unregister) {
            su_log!(SOFIA, 3, "sofia: un-registering {}", self.config.name);
            let id = self.send_register(RequestKind::Unregister);
            self.unregistering = Some(id);
        }
        self.handle = false;
        self.pending = None;
    }

    fn set_up(&mut self, now: Instant) {
        if !self.up {
            self.up = true;
            self.up_since = Some(now);
        }
    }

    fn set_state(&mut self, state: GatewayState, status: u16, phrase: Option<&str>) {
        if self.state != state {
            self.state = state;
            self.fire_state(status, phrase);
        }
    }

    /// `sofia::gateway_state` with the current state.
    fn fire_state(&mut self, status: u16, phrase: Option<&str>) {
        let mut e = Event::custom(events::GATEWAY_STATE)
            .with("Gateway", self.config.name.clone())
            .with("State", self.state.as_str())
            .with("Ping-Status", if self.up { "UP" } else { "DOWN" });
        if let Some(p) = phrase.filter(|p| !p.is_empty()) {
            e = e.with("Phrase", p);
        }
        if status != 0 {
            e = e.with("Status", status.to_string());
        }
        self.events.push_back(e);
    }

    /// Runs `sofia_reg_check_gateway` for this gateway until nothing
    /// changes.
    fn step(&mut self, now: Instant) {
        for _ in 0..16 {
            let before = self.state;
            self.check(now);
            if self.state == before {
                break;
            }
        }
        if self.deleted && self.state == GatewayState::Noreg && !self.removed {
            self.removed = true;
            self.pinging = None;
            su_log!(SOFIA, 3, "sofia: deleted gateway {}", self.config.name);
            self.events.push_back(
                Event::custom(GATEWAY_DELETE)
                    .with("profile-name", self.profile.clone())
                    .with("Gateway", self.config.name.clone()),
            );
        }
    }

    fn check(&mut self, now: Instant) {
        if self.removed {
            return;
        }
        let ostate = self.state;
        if self.may_ping() && self.ping_at.is_some_and(|t| now >= t) {
            self.send_ping(now);
        }
        match ostate {
            GatewayState::Noreg => {
                if self.config.ping.is_none() && self.pinging.is_none() {
                    self.set_up(now);
                }
            }
            GatewayState::Down => {}
            GatewayState::Register => {
                self.failures = 0;
                let freq = self.config.expire_seconds;
                let mut delay = refresh_delay(freq);
                // A shorter expiry granted by the registrar refreshes
                // before it lapses.
                if let Some(granted) = self.granted.filter(|g| *g > 0 && *g != freq) {
                    let early = if granted > 60 {
                        granted - 15
                    } else {
                        granted.saturating_sub(2)
                    };
                    delay = delay.min(u64::from(early.max(1)));
                }
                self.refresh_at = Some(after(now, delay));
                self.state = GatewayState::Reged;
                self.set_up(now);
            }
            GatewayState::Unregister => {
                self.kill_reg(now);
                self.state = GatewayState::Noreg;
                self.up = false;
                self.granted_until = None;
            }
            GatewayState::Unreged => {
                self.retry_at = None;
                su_log!(SOFIA, 3, "sofia: registering {}", self.config.name);
                let id = self.send_register(RequestKind::Register);
                self.pending = Some(Pending {
                    id,
                    kind: RequestKind::Register,
                });
                self.retry_at = Some(after(now, u64::from(self.config.retry_seconds)));
                self.reg_timeout_at = Some(after(now, u64::from(self.config.timeout_seconds)));
                self.state = GatewayState::Trying;
            }
            GatewayState::Timeout => {
                su_log!(SOFIA, 3, "sofia: timeout registering {}", self.config.name);
                self.handle = false;
                self.pending = None;
                self.state = GatewayState::Failed;
                self.failures = self.failures.saturating_add(1);
                self.failure_status = TIMEOUT_STATUS;
            }
            GatewayState::Failed => {
                let secs = match self.config.fail_908_retry_seconds {
                    Some(s) if s > 0 && self.failure_status == TIMEOUT_STATUS => s,
                    _ if self.failure_status == 503
                        || self.failure_status == TIMEOUT_STATUS
                        || self.failures < 1 =>
                    {
                        self.config.retry_seconds
                    }
                    _ => self.config.retry_seconds.saturating_mul(self.failures),
                };
                su_log!(
                    SOFIA,
                    3,
                    "sofia: {} failed registration [{}], setting retry to {secs} seconds",
                    self.config.name,
                    self.failure_status
                );
                self.retry_at = Some(after(now, u64::from(secs)));
                self.up = false;
                self.state = GatewayState::FailWait;
                self.failure_status = 0;
                self.granted_until = None;
            }
            GatewayState::FailWait => {
                if self.retry_at.is_none_or(|t| now >= t) {
                    self.state = GatewayState::Unreged;
                }
            }
            GatewayState::Trying => {
                if self.reg_timeout_at.is_some_and(|t| now >= t) {
                    self.state = GatewayState::Timeout;
                } else if self.granted_until.is_some_and(|t| now >= t) {
                    // The refresh is still unanswered and the binding it
                    // renews has lapsed.
                    self.granted_until = None;
                    self.up = false;
                    self.state = GatewayState::Expired;
                }
            }
            GatewayState::Expired => {
                if self.reg_timeout_at.is_some_and(|t| now >= t) {
                    self.state = GatewayState::Timeout;
                }
            }
            GatewayState::Reged => {
                if self.refresh_at.is_some_and(|t| now >= t) {
                    self.state = GatewayState::Unreged;
                }
            }
        }
        if ostate != self.state {
            self.fire_state(0, None);
        }
    }

    /// A response to request `id`.
    pub fn handle_response(&mut self, now: Instant, id: u64, response: &Message) {
        let Some(status) = response.status() else {
            return;
        };
        let phrase = response.reason().unwrap_or("").to_string();
        if self.pinging.is_some_and(|(p, _)| p == id) {
            if status >= 200 {
                self.ping_result(now, status, &phrase);
            }
            return;
        }
        if self.unregistering == Some(id) {
            self.unregister_result(status, response);
            return;
        }
        let Some(pending) = self.pending.filter(|p| p.id == id) else {
            return;
        };
        if status < 200 {
            return;
        }
        if status == 401 || status == 407 {
            match self.auth.handle_response(response) {
                Ok(true) => {
                    let id = self.send_register(pending.kind);
                    self.pending = Some(Pending { id, ..pending });
                    return;
                }
                Ok(false) => {}
                Err(e) => su_log!(
                    SOFIA,
                    3,
                    "sofia: gateway {}: {status} {phrase}: {e}",
                    self.config.name
                ),
            }
            self.registration_failed(now, status, &phrase);
            return;
        }
        // 423 Interval Too Brief: once, again with the registrar's
        // Min-Expires (as sofia-sip's nua does for FreeSWITCH).
        if status == 423 {
            let min = response
                .header(HeaderName::MinExpires)
                .and_then(|v| v.trim().parse::<u32>().ok())
                .filter(|m| *m > 0 && *m <= 86_400);
            let asked = self
                .config
                .expire_seconds
                .max(self.min_expires.unwrap_or(0));
            if let Some(min) = min.filter(|m| *m > asked) {
                su_log!(
                    SOFIA,
                    5,
                    "sofia: gateway {}: 423, registering again for {min} s",
                    self.config.name
                );
                self.min_expires = Some(min);
                let id = self.send_register(pending.kind);
                self.pending = Some(Pending { id, ..pending });
                return;
            }
        }
        if (200..300).contains(&status) {
            let _ = self.auth.handle_response(response);
            self.pending = None;
            self.registered(now, response);
            self.set_state(GatewayState::Register, status, Some(&phrase));
            self.step(now);
            return;
        }
        self.registration_failed(now, status, &phrase);
    }

    /// No answer to request `id` (the transaction timed out or could not
    /// be sent): `status` and `phrase` say why (408 for a timeout, 503 when
    /// the target cannot be resolved or reached). A REGISTER stays TRYING
    /// until `timeout-seconds` (then TIMEOUT); a ping counts as failed.
    pub fn handle_failure(&mut self, now: Instant, id: u64, status: u16, phrase: &str) {
        if self.pinging.is_some_and(|(p, _)| p == id) {
            self.ping_result(now, status, phrase);
            return;
        }
        if self.unregistering == Some(id) {
            self.unregistering = None;
            return;
        }
        if self.pending.is_some_and(|p| p.id == id) {
            su_log!(
                SOFIA,
                3,
                "sofia: gateway {}: no answer to REGISTER ({status} {phrase})",
                self.config.name
            );
            self.pending = None;
            self.step(now);
        }
    }

    fn unregister_result(&mut self, status: u16, response: &Message) {
        if status < 200 {
            return;
        }
        if (status == 401 || status == 407)
            && matches!(self.auth.handle_response(response), Ok(true))
        {
            let id = self.send_register(RequestKind::Unregister);
            self.unregistering = Some(id);
            self.handle = false;
            return;
        }
        su_log!(
            SOFIA,
            5,
            "sofia: gateway {}: unregistration answered {status}",
            self.config.name
        );
        self.unregistering = None;
    }

    /// Takes the expiry the registrar granted: the `expires` of our Contact
    /// (FreeSWITCH matches it by its text), else of the only Contact, else
    /// the Expires header.
    fn registered(&mut self, now: Instant, response: &Message) {
        let ours = self.register_contact.to_ascii_lowercase();
        let contacts: Vec<&str> = response
            .header_values(HeaderName::Contact)
            .map_while(Result::ok)
            .collect();
        let chosen = contacts
            .iter()
            .find(|c| c.to_ascii_lowercase().contains(&ours))
            .or_else(|| contacts.first());
        let from_contact =
            chosen.and_then(
                |c| match <Contact as sofia_msg::headers::TypedHeader>::parse(c) {
                    Ok(Contact::Addr(a)) => a.expires(),
                    _ => None,
                },
            );
        let granted = from_contact.or_else(|| {
            response
                .header(HeaderName::Expires)
                .and_then(|e| e.trim().parse::<u32>().ok())
        });
        self.granted = granted;
        let lasts = granted.unwrap_or(
            self.config
                .expire_seconds
                .max(self.min_expires.unwrap_or(0)),
        );
        self.granted_until = Some(after(now, u64::from(lasts)));
    }

    fn registration_failed(&mut self, now: Instant, status: u16, phrase: &str) {
        self.pending = None;
        self.failures = self.failures.saturating_add(1);
        self.failure_status = status;
        su_log!(
            SOFIA,
            2,
            "sofia: {} failed registration with status {phrase} [{status}]. failure #{}",
            self.config.name,
            self.failures
        );
        self.set_state(GatewayState::Failed, status, Some(phrase));
        self.step(now);
    }

    /// `sofia_handle_sip_r_options` for the gateway's ping.
    fn ping_result(&mut self, now: Instant, status: u16, phrase: &str) {
        let sent = self.pinging.take().map(|(_, at)| at);
        let mut fire = false;
        let (min, max) = (
            i32::try_from(self.config.ping_min).unwrap_or(i32::MAX),
            i32::try_from(self.config.ping_max).unwrap_or(i32::MAX),
        );
        if (200..600).contains(&status) && status != 408 && status != 503 {
            if self.state == GatewayState::Failed {
                self.state = GatewayState::Unreged;
            }
            if self.ping_count < 0 {
                self.ping_count = 0;
            }
            if self.ping_count < max {
                self.ping_count += 1;
                if self.ping_count >= min && !self.up {
                    self.up = true;
                    self.up_since = Some(now);
                    fire = true;
                    if self.state == GatewayState::Down {
                        self.state = GatewayState::Noreg;
                    }
                }
            }
            if let Some(sent) = sent {
                self.ping_time_ms = now.saturating_duration_since(sent).as_secs_f64() * 1000.0;
            }
            su_log!(
                SOFIA,
                5,
                "sofia: ping succeeded {} with code {status} - count {min}/{}/{max}, state {}",
                self.config.name,
                self.ping_count,
                if self.up { "UP" } else { "DOWN" }
            );
        } else {
            if self.state == GatewayState::Reged {
                su_log!(SOFIA, 3, "sofia: unregister {}", self.config.name);
                self.state = GatewayState::Failed;
                self.ping_time_ms = 0.0;
            }
            if self.ping_count > 0 {
                self.ping_count -= 1;
            }
            if self.ping_count < min && self.up {
                self.up = false;
                fire = true;
                self.ping_time_ms = 0.0;
                if self.state == GatewayState::Noreg {
                    self.state = GatewayState::Down;
                }
            }
            su_log!(
                SOFIA,
                3,
                "sofia: ping failed {} with code {status} - count {min}/{}/{max}, state {}",
                self.config.name,
                self.ping_count,
                if self.up { "UP" } else { "DOWN" }
            );
        }
        if self.config.ping_monitoring || fire {
            self.fire_state(status, Some(phrase));
        }
        self.ping_at = self.config.ping.map(|p| after(now, u64::from(p)));
        self.step(now);
    }

    /// The gateway as `sofia status gateway` shows it at `now` (`wall` is
    /// the same instant on the system clock, for the next ping's time).
    pub fn status(&self, now: Instant, wall: SystemTime) -> GatewayStatus {
        let c = &self.config;
        let ping_epoch = self.ping_at.map_or(0, |t| {
            let at = wall + t.saturating_duration_since(now);
            at.duration_since(UNIX_EPOCH)
                .map_or(0, |d| i32::try_from(d.as_secs()).unwrap_or(i32::MAX))
        });
        GatewayStatus {
            name: c.name.clone(),
            scheme: c.scheme.clone(),
            realm: c.realm.clone(),
            username: c.username.clone(),
            password_set: !c.password.is_empty(),
            from: self.register_from.clone(),
            contact: self.register_contact.clone(),
            extension: c.extension.clone(),
            register_to: self.register_to.clone(),
            proxy: self.register_proxy.clone(),
            context: c.context.clone(),
            expires: c.expire_seconds.to_string(),
            freq: i32::try_from(c.expire_seconds).unwrap_or(i32::MAX),
            ping: ping_epoch,
            ping_freq: c.ping.map_or(0, |p| i32::try_from(p).unwrap_or(i32::MAX)),
            ping_time: self.ping_time_ms,
            ping_min: if c.ping.is_some() {
                i32::try_from(c.ping_min).unwrap_or(i32::MAX)
            } else {
                0
            },
            ping_count: self.ping_count,
            ping_max: if c.ping.is_some() {
                i32::try_from(c.ping_max).unwrap_or(i32::MAX)
            } else {
                0
            },
            pinging: self.pinging.is_some(),
            state: self.state,
            up: self.up,
            uptime_secs: self
                .up_since
                .filter(|_| self.up)
                .map_or(0, |t| now.saturating_duration_since(t).as_secs()),
            retry_secs: self.retry_at.map(|t| {
                i64::try_from(t.saturating_duration_since(now).as_secs()).unwrap_or(i64::MAX)
            }),
            ib_calls: self.ib_calls,
            ib_failed_calls: self.ib_failed_calls,
            ob_calls: self.ob_calls,
            ob_failed_calls: self.ob_failed_calls,
            inbound_variables: c.inbound_variables.clone(),
            outbound_variables: c.outbound_variables.clone(),
        }
    }
}

fn strip_sip(s: &str) -> Option<&str> {
    let lower = s.get(..4)?.to_ascii_lowercase();
    (lower == "sip:").then(|| &s[4..])
}

/// The gateways of one profile, newest first (FreeSWITCH's list order).
#[derive(Debug, Default)]
pub struct GatewaySet {
    gateways: Vec<Gateway>,
    events: VecDeque<Event>,
}

impl GatewaySet {
    /// No gateways.
    pub fn new() -> GatewaySet {
        GatewaySet::default()
    }

    /// Adds the gateways of `configs` that are not here yet (`rescan`
    /// leaves the others alone); returns how many were added.
    pub fn add_configured(
        &mut self,
        configs: &[GatewayConfig],
        env: &GatewayEnv,
        now: Instant,
    ) -> usize {
        let mut added = 0;
        for c in configs {
            if self.get(&c.name).is_none() {
                self.add(Gateway::new(c.clone(), env.clone(), now));
                added += 1;
            }
        }
        added
    }

    /// Adds a gateway unless one of that name is there (then `false`).
    pub fn add(&mut self, gateway: Gateway) -> bool {
        if self.get(gateway.name()).is_some() {
            return false;
        }
        self.gateways.insert(0, gateway);
        true
    }

    /// The gateway of this name.
    pub fn get(&self, name: &str) -> Option<&Gateway> {
        self.gateways.iter().find(|g| g.name() == name)
    }

    /// The gateway of this name, to change.
    pub fn get_mut(&mut self, name: &str) -> Option<&mut Gateway> {
        self.gateways.iter_mut().find(|g| g.name() == name)
    }

    /// Every gateway, newest first.
    pub fn iter(&self) -> impl Iterator<Item = &Gateway> {
        self.gateways.iter()
    }

    /// Every gateway, to change.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut Gateway> {
        self.gateways.iter_mut()
    }

    /// How many gateways there are.
    pub fn len(&self) -> usize {
        self.gateways.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.gateways.is_empty()
    }

    /// Their statuses, newest first.
    pub fn statuses(&self, now: Instant, wall: SystemTime) -> Vec<GatewayStatus> {
        self.gateways.iter().map(|g| g.status(now, wall)).collect()
    }

    /// The next request of any gateway.
    pub fn poll_transmit(&mut self) -> Option<OutgoingRequest> {
        self.gateways.iter_mut().find_map(Gateway::poll_transmit)
    }

    /// The next event of any gateway (removed gateways' last events
    /// included).
    pub fn poll_event(&mut self) -> Option<Event> {
        if let Some(e) = self.events.pop_front() {
            return Some(e);
        }
        let e = self.gateways.iter_mut().find_map(Gateway::poll_event);
        self.reap();
        e
    }

    /// The earliest timeout of any gateway.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.gateways.iter().filter_map(Gateway::poll_timeout).min()
    }

    /// Runs what is due at `now` in every gateway.
    pub fn handle_timeout(&mut self, now: Instant) {
        for g in &mut self.gateways {
            if g.poll_timeout().is_some_and(|t| t <= now) {
                g.handle_timeout(now);
            }
        }
        self.reap();
    }

    /// A response for a gateway's request.
    pub fn handle_response(&mut self, now: Instant, gateway: &str, id: u64, response: &Message) {
        if let Some(g) = self.get_mut(gateway) {
            g.handle_response(now, id, response);
        }
        self.reap();
    }

    /// No answer for a gateway's request (see [`Gateway::handle_failure`]).
    pub fn handle_failure(
        &mut self,
        now: Instant,
        gateway: &str,
        id: u64,
        status: u16,
        phrase: &str,
    ) {
        if let Some(g) = self.get_mut(gateway) {
            g.handle_failure(now, id, status, phrase);
        }
        self.reap();
    }

    /// `killgw`: deletes one gateway (`Some(name)`) or all; false when the
    /// named one is not here.
    pub fn delete(&mut self, now: Instant, name: Option<&str>) -> bool {
        let mut found = false;
        for g in &mut self.gateways {
            if name.is_none_or(|n| g.name() == n) {
                g.delete(now);
                found = true;
            }
        }
        self.reap();
        found || name.is_none()
    }

    /// The profile stops: REGED gateways unregister; the gateways are done.
    pub fn shutdown(&mut self, now: Instant) {
        for g in &mut self.gateways {
            g.shutdown(now);
        }
    }

    /// Whether some unregistration still waits for its answer.
    pub fn unregistering(&self) -> bool {
        self.gateways.iter().any(Gateway::is_unregistering)
    }

    /// Drops removed gateways once their unregistration is answered,
    /// keeping their last events.
    fn reap(&mut self) {
        let mut i = 0;
        while i < self.gateways.len() {
            if self.gateways[i].is_removed() && !self.gateways[i].is_unregistering() {
                let mut g = self.gateways.remove(i);
                while let Some(e) = g.poll_event() {
                    self.events.push_back(e);
                }
            } else {
                i += 1;
            }
        }
    }
}
