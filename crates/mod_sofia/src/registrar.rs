//! The registrar of a profile: FreeSWITCH's `sofia_reg_handle_register`,
//! sans-IO.
//!
//! [`Registrar::handle_register`] takes a REGISTER, its source address and
//! transport, and the wall-clock time, and returns the response, the
//! [`StoreOp`]s that make the change durable (for a
//! [`RegistrationStore`](crate::store::RegistrationStore)) and the
//! [`Event`]s FreeSWITCH would fire (`sofia::register`,
//! `sofia::pre_register`, `sofia::register_attempt`,
//! `sofia::register_failure`, `sofia::unregister`). [`Registrar::sweep`]
//! expires bindings (`sofia::expire`). The current bindings are indexed in
//! memory for `sofia_contact`, `sofia_count_reg` and `sofia status profile
//! X reg`.
//!
//! ```
//! use std::net::SocketAddr;
//! use std::time::SystemTime;
//!
//! use mod_sofia::registrar::{Registrar, RegistrarSettings, DefaultAcl};
//! use sofia_iptsec::MemoryStore;
//! use sofia_msg::{HeaderName, Method, RequestBuilder};
//! use sofia_tport::Transport;
//!
//! let mut directory = MemoryStore::new();
//! directory.add_password("1000", None, "secret");
//! let mut registrar = Registrar::new(RegistrarSettings::default(), directory, DefaultAcl);
//! let req = RequestBuilder::new(Method::Register, "sip:example.com")
//!     .header(HeaderName::Via, "SIP/2.0/UDP 192.0.2.7:5060;branch=z9hG4bK1")
//!     .header(HeaderName::From, "<sip:1000@example.com>;tag=1")
//!     .header(HeaderName::To, "<sip:1000@example.com>")
//!     .header(HeaderName::CallId, "c1")
//!     .header(HeaderName::CSeq, "1 REGISTER")
//!     .header(HeaderName::Contact, "<sip:1000@192.0.2.7:5060>")
//!     .build()
//!     .unwrap();
//! let source: SocketAddr = "192.0.2.7:5060".parse().unwrap();
//! let out = registrar.handle_register(SystemTime::now(), source, Transport::Udp, &req);
//! // No credentials yet: a digest challenge, and a `sofia::pre_register` event.
//! assert_eq!(out.response.unwrap().status(), Some(401));
//! assert_eq!(out.events[0].name, "sofia::pre_register");
//! ```

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sofia_iptsec::{
    Algorithm, AuthModule, Config as AuthConfig, CredentialStore, Refusal, Secret, Verdict,
};
use sofia_msg::headers::{Contact, Credentials, Expires, NameAddr};
use sofia_msg::{HeaderName, Message, Method, ResponseBuilder, Scheme};
use sofia_su::su_log;
use sofia_tport::Transport;

use crate::store::{Registration, StoreOp};

/// `sofia::register`: a binding was added or refreshed.
pub const EVENT_REGISTER: &str = "sofia::register";
/// `sofia::pre_register`: a REGISTER without credentials is challenged.
pub const EVENT_PRE_REGISTER: &str = "sofia::pre_register";
/// `sofia::register_attempt`: a REGISTER with credentials was checked.
pub const EVENT_REGISTER_ATTEMPT: &str = "sofia::register_attempt";
/// `sofia::register_failure`: a REGISTER was answered 403.
pub const EVENT_REGISTER_FAILURE: &str = "sofia::register_failure";
/// `sofia::unregister`: a binding was removed by its user.
pub const EVENT_UNREGISTER: &str = "sofia::unregister";
/// `sofia::expire`: a binding expired (or was flushed).
pub const EVENT_EXPIRE: &str = "sofia::expire";

/// An event for the daemon's bus: a FreeSWITCH `CUSTOM` event subclass and
/// its headers, in FreeSWITCH's order and with its names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The subclass (`sofia::register`, ...).
    pub name: &'static str,
    /// Header names and values.
    pub headers: Vec<(String, String)>,
}

impl Event {
    fn new(name: &'static str) -> Event {
        Event {
            name,
            headers: Vec::with_capacity(16),
        }
    }

    fn add(&mut self, name: &str, value: impl Into<String>) -> &mut Event {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    /// The value of the first header called `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// FreeSWITCH's `multiple-registrations`: which bindings a new one replaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MultipleRegistrations {
    /// `false` (the default): a registration replaces every other binding
    /// of the user.
    #[default]
    False,
    /// `call-id`: a registration replaces the bindings made with the same
    /// Call-ID.
    CallId,
    /// `contact` (and `true`): a registration replaces the user's binding
    /// with the same contact.
    Contact,
}

impl MultipleRegistrations {
    /// Reads the setting as FreeSWITCH does: `call-id`; `contact` or any
    /// true value (`true`, `yes`, `on`, `1`, ...) is `contact`; anything
    /// else is false.
    pub fn from_setting(value: &str) -> MultipleRegistrations {
        let v = value.trim();
        if v.eq_ignore_ascii_case("call-id") {
            MultipleRegistrations::CallId
        } else if v.eq_ignore_ascii_case("contact") || is_true(v) {
            MultipleRegistrations::Contact
        } else {
            MultipleRegistrations::False
        }
    }
}

/// FreeSWITCH's `switch_true`.
fn is_true(v: &str) -> bool {
    ["yes", "on", "true", "t", "enabled", "active", "allow"]
        .iter()
        .any(|t| v.eq_ignore_ascii_case(t))
        || v.parse::<i64>().is_ok_and(|n| n != 0)
}

/// The settings of a profile's registrar, with FreeSWITCH's defaults.
#[derive(Debug, Clone)]
pub struct RegistrarSettings {
    /// The profile (`profile_name` column, `profile-name` event header).
    pub profile_name: String,
    /// This host's name (`hostname` and `orig_hostname` columns).
    pub hostname: String,
    /// The address written to `server_host` and `orig_server_host`
    /// (FreeSWITCH's guessed local IPv4 address).
    pub server_ip: String,
    /// The To tag of every response.
    pub to_tag: Option<String>,
    /// Digest authentication: `challenge-realm` is `auth.realm`,
    /// `nonce-ttl` is `auth.nonce_ttl`. Defaults: MD5 only, `qop="auth"`,
    /// 60 s nonces, 403 for a wrong password or an unknown user
    /// (FreeSWITCH's answers).
    pub auth: AuthConfig,
    /// `force-register-domain`: the directory domain users are looked up
    /// in, whatever realm the credentials name.
    pub force_register_domain: Option<String>,
    /// `force-register-db-domain`: the domain bindings are stored under
    /// (`sip_host`), instead of the To host.
    pub force_register_db_domain: Option<String>,
    /// `force-subscription-domain`: the `sub_host` column.
    pub force_subscription_domain: Option<String>,
    /// `accept-blind-reg`: register without authentication.
    pub accept_blind_reg: bool,
    /// `inbound-reg-force-matching-username`: the digest username must be
    /// the user being registered (ignoring case), else 403. Off by default,
    /// as in FreeSWITCH: any directory user may register any AOR.
    pub force_matching_username: bool,
    /// `multiple-registrations`.
    pub multiple_registrations: MultipleRegistrations,
    /// The expiry of a contact when neither its `expires` parameter nor an
    /// `Expires` header gives one: 300 s (30 s for a contact behind NAT),
    /// as FreeSWITCH.
    pub default_expires: u32,
    /// The shortest registration accepted; shorter ones get 423 with
    /// `Min-Expires`. 0 (FreeSWITCH's behaviour) accepts any.
    pub min_expires: u32,
    /// The longest registration granted; longer ones are shortened.
    /// 0 (FreeSWITCH's behaviour) grants what is asked.
    pub max_expires: u32,
    /// `sip-force-expires`: when non-zero, every registration gets this
    /// expiry.
    pub force_expires: u32,
    /// `sip-expires-late-margin`: seconds a binding is kept after its
    /// expiry (the `expires` column includes them): 60.
    pub expires_late_margin: u32,
    /// `aggressive-nat-detection`: a Via with `received`, or whose host or
    /// port differs from the source address, means NAT.
    pub aggressive_nat_detection: bool,
    /// NAT when the first Contact's address (an IP address and port, 5060
    /// or 5061 for `sips` by default) is not the address the REGISTER came
    /// from (what the Via's `received`/`rport` record). Not a FreeSWITCH
    /// setting; off by default, as FreeSWITCH only looks at the Contact's
    /// host through `apply-nat-acl`.
    pub nat_on_contact_mismatch: bool,
    /// `NDLB-received-in-nat-reg-contact`: add `;received=ip:port` to the
    /// stored contact of a NATed client.
    pub received_in_nat_reg_contact: bool,
    /// `tcp-always-nat`.
    pub tcp_always_nat: bool,
    /// `tls-always-nat`.
    pub tls_always_nat: bool,
    /// `presence-hosts`: extra domains whose lookups find this profile's
    /// bindings (`presence_hosts` column).
    pub presence_hosts: Option<String>,
    /// `max-registrations-per-extension`: 0 (the default) sets no limit of
    /// its own. Past it: 403 and `sofia::register_failure`.
    pub max_registrations_per_extension: u32,
    /// The most bindings one user may hold (a memory bound whatever the
    /// configuration): 64. Past it: 403, as above.
    pub max_bindings_per_user: usize,
    /// The most bindings of the profile: 1,000,000. Past it: 503 with
    /// `Retry-After`.
    pub max_bindings: usize,
    /// The `Retry-After` of that 503, in seconds: 30.
    pub retry_after: u32,
}

impl Default for RegistrarSettings {
    fn default() -> Self {
        RegistrarSettings {
            profile_name: "internal".into(),
            hostname: "localhost".into(),
            server_ip: "127.0.0.1".into(),
            to_tag: None,
            auth: AuthConfig {
                algorithms: vec![Algorithm::Md5],
                forbid_wrong_credentials: true,
                ..AuthConfig::default()
            },
            force_register_domain: None,
            force_register_db_domain: None,
            force_subscription_domain: None,
            accept_blind_reg: false,
            force_matching_username: false,
            multiple_registrations: MultipleRegistrations::False,
            default_expires: 300,
            min_expires: 0,
            max_expires: 0,
            force_expires: 0,
            expires_late_margin: 60,
            aggressive_nat_detection: false,
            nat_on_contact_mismatch: false,
            received_in_nat_reg_contact: false,
            tcp_always_nat: false,
            tls_always_nat: false,
            presence_hosts: None,
            max_registrations_per_extension: 0,
            max_bindings_per_user: 64,
            max_bindings: 1_000_000,
            retry_after: 30,
        }
    }
}

/// The outcome of `apply-register-acl` for a source address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AclCheck {
    /// No register ACL is configured.
    NotConfigured,
    /// Every ACL allows the address: the client registers without
    /// authentication (FreeSWITCH's `REG_AUTO_REGISTER`) unless
    /// `accept-blind-reg` is set; a token (`user@domain`, from the ACL
    /// entry's `token`) names the user it registers as.
    Allowed {
        /// The ACL token, when the matching entry has one.
        token: Option<String>,
    },
    /// An ACL refuses the address: 403.
    Denied {
        /// The name of the ACL.
        acl: String,
    },
}

/// The network lists the registrar consults: `apply-register-acl`,
/// `apply-nat-acl` and `local-network-acl`. The configuration module maps
/// its ACLs into an implementation.
pub trait RegistrarAcl {
    /// `apply-register-acl` for the source address.
    fn register_acl(&self, source: IpAddr) -> AclCheck {
        let _ = source;
        AclCheck::NotConfigured
    }

    /// `apply-nat-acl`: true when a Contact host in the list means the
    /// client is behind NAT. By default: the RFC 1918 ranges and IPv6
    /// unique local addresses (FreeSWITCH's `nat.auto`).
    fn nat_acl(&self, contact_host: IpAddr) -> bool {
        is_private(contact_host)
    }

    /// `local-network-acl`: a source on the local network is never NATed.
    /// By default: private (RFC 1918, IPv6 unique local) and loopback
    /// sources, so a private Contact means NAT only when the REGISTER came
    /// from a public address (FreeSWITCH's `nat.auto` and `localnet.auto`
    /// on a server with a private address).
    fn is_local_network(&self, source: IpAddr) -> bool {
        is_private(source) || source.is_loopback()
    }
}

/// The default lists: no register ACL, `nat.auto`, private and loopback
/// sources local.
#[derive(Debug, Clone, Copy, Default)]
pub struct DefaultAcl;

impl RegistrarAcl for DefaultAcl {}

/// True for RFC 1918 addresses and IPv6 unique local addresses.
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_private(),
        IpAddr::V6(v6) => (v6.segments()[0] & 0xfe00) == 0xfc00,
    }
}

/// The directory as the registrar's digest check sees it: the inner
/// store's secrets, looked up in `force-register-domain` when it is set,
/// else in the realm of the credentials.
#[derive(Debug, Clone)]
pub struct DirectoryCredentials<S> {
    inner: S,
    domain: Option<String>,
}

impl<S> DirectoryCredentials<S> {
    /// `inner`'s credentials; with `domain` (`force-register-domain`) every
    /// realm is looked up in that domain.
    pub fn new(inner: S, domain: Option<String>) -> DirectoryCredentials<S> {
        DirectoryCredentials { inner, domain }
    }

    /// The wrapped store.
    pub fn inner(&self) -> &S {
        &self.inner
    }
}

impl<S: CredentialStore> CredentialStore for DirectoryCredentials<S> {
    fn lookup(&self, username: &str, realm: &str) -> Option<Secret> {
        self.inner
            .lookup(username, self.domain.as_deref().unwrap_or(realm))
    }
}

/// A directory user's registration parameters (the `<params>` and
/// `<variables>` of a user in FreeSWITCH's directory), applied after the
/// user authenticated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserRegParams {
    /// `sip-forbid-register`: 403.
    pub forbid_register: bool,
    /// `sip-allow-multiple-registrations`: `Some(false)` turns
    /// `multiple-registrations` off for this user.
    pub allow_multiple_registrations: Option<bool>,
    /// `sip-force-expires`: the expiry of every binding of the user.
    pub force_expires: Option<u32>,
    /// `sip-force-user`: the user the bindings are stored under.
    pub force_user: Option<String>,
    /// `max-registrations-per-extension` of the user (overrides the
    /// profile's).
    pub max_registrations: Option<u32>,
    /// `mwi-account` (`user@host`): the `mwi_user` and `mwi_host` columns.
    pub mwi_account: Option<String>,
}

/// Looks up a user's [`UserRegParams`]: `(username, domain)`, the domain
/// being `force-register-domain` or the realm of the credentials. `None`
/// when the directory has nothing for the user.
pub type UserParamsLookup = Box<dyn Fn(&str, &str) -> Option<UserRegParams> + Send + Sync>;

/// What [`Registrar::handle_register`] decided.
#[derive(Debug, Default)]
pub struct RegisterOutcome {
    /// The response to send. `None` only when it cannot be written (never
    /// expected; logged at level 2).
    pub response: Option<Message>,
    /// The changes for the registration store, in order.
    pub store_ops: Vec<StoreOp>,
    /// Events for the bus, in FreeSWITCH's order.
    pub events: Vec<Event>,
}

/// What [`Registrar::sweep`] or [`Registrar::flush`] removed.
#[derive(Debug, Default)]
pub struct SweepOutcome {
    /// The removed bindings.
    pub expired: Vec<Registration>,
    /// The changes for the registration store.
    pub store_ops: Vec<StoreOp>,
    /// One `sofia::expire` per binding.
    pub events: Vec<Event>,
}

struct Binding {
    row: Registration,
    user_key: String,
}

/// The in-memory index of a profile's bindings.
#[derive(Default)]
struct Index {
    next_id: u64,
    by_id: HashMap<u64, Binding>,
    by_user: HashMap<String, Vec<u64>>,
    by_call_id: HashMap<String, Vec<u64>>,
    by_host: HashMap<String, usize>,
    expiry: BTreeSet<(i64, u64)>,
}

fn remove_id(v: &mut Vec<u64>, id: u64) -> bool {
    if let Some(i) = v.iter().position(|x| *x == id) {
        v.swap_remove(i);
    }
    v.is_empty()
}

impl Index {
    fn insert(&mut self, row: Registration) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        let user_key = row.sip_user.clone();
        self.by_user.entry(user_key.clone()).or_default().push(id);
        self.by_call_id
            .entry(row.call_id.clone())
            .or_default()
            .push(id);
        *self.by_host.entry(row.sip_host.clone()).or_default() += 1;
        if row.expires > 0 {
            self.expiry.insert((row.expires, id));
        }
        self.by_id.insert(id, Binding { row, user_key });
        id
    }

    fn remove(&mut self, id: u64) -> Option<Registration> {
        let b = self.by_id.remove(&id)?;
        if let Some(v) = self.by_user.get_mut(&b.user_key)
            && remove_id(v, id)
        {
            self.by_user.remove(&b.user_key);
        }
        if let Some(v) = self.by_call_id.get_mut(&b.row.call_id)
            && remove_id(v, id)
        {
            self.by_call_id.remove(&b.row.call_id);
        }
        if let Some(n) = self.by_host.get_mut(&b.row.sip_host) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.by_host.remove(&b.row.sip_host);
            }
        }
        self.expiry.remove(&(b.row.expires, id));
        Some(b.row)
    }

    fn user_ids<'a>(&'a self, user: &str, host: &'a str) -> impl Iterator<Item = u64> + 'a {
        self.by_user
            .get(user)
            .into_iter()
            .flatten()
            .copied()
            .filter(move |id| self.by_id.get(id).is_some_and(|b| b.row.sip_host == host))
    }
}

/// One Contact of a REGISTER, as FreeSWITCH stores it.
struct ContactInfo {
    /// `contact` column: `"display" <sip:user@host:port;params;fs_nat=yes;fs_path=...>`.
    contact_str: String,
    status: &'static str,
    exptime: u32,
    /// The expiry asked for was under `min_expires`.
    too_brief: bool,
}

/// A profile's registrar. See the [module documentation](self).
pub struct Registrar<S, A = DefaultAcl> {
    settings: RegistrarSettings,
    auth: AuthModule<DirectoryCredentials<S>>,
    acl: A,
    index: Index,
    user_params: Option<UserParamsLookup>,
}

fn unix(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(_) => 0,
    }
}

/// Where the phone of a binding is reached: the address its REGISTER came
/// from, over the transport it used (the `status` says which).
pub fn flow(row: &Registration) -> Option<sofia_tport::Destination> {
    let ip: IpAddr = row.network_ip.parse().ok()?;
    let port: u16 = row.network_port.parse().ok()?;
    let transport = if row.status.contains("TLS") {
        sofia_tport::Transport::Tls
    } else if row.status.contains("TCP") {
        sofia_tport::Transport::Tcp
    } else {
        sofia_tport::Transport::Udp
    };
    Some(sofia_tport::Destination::new(
        transport,
        SocketAddr::new(ip, port),
    ))
}

/// The contact URI of a stored `contact` value: the text inside `<...>`
/// (or all of it), without FreeSWITCH's `;fs_` parameters. This is the
/// address `sofia_contact` dials and 200 responses list.
pub fn contact_uri(contact: &str) -> &str {
    let inner = match (contact.find('<'), contact.rfind('>')) {
        (Some(a), Some(b)) if a < b => &contact[a + 1..b],
        _ => contact.trim(),
    };
    match inner.find(";fs_") {
        Some(i) => &inner[..i],
        None => inner,
    }
}

/// FreeSWITCH's `switch_url_encode`: every byte but letters, digits and
/// `-_.!~*'()` as `%XX`.
fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&b) {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(char::from(b"0123456789ABCDEF"[usize::from(b >> 4)]));
            out.push(char::from(b"0123456789ABCDEF"[usize::from(b & 15)]));
        }
    }
    out
}

/// An RFC 1123 date (`Date` header) for `t`.
fn http_date(t: SystemTime) -> String {
    let secs = unix(t);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    const WD: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MO: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let wd = WD[usize::try_from(days.rem_euclid(7)).unwrap_or(0)];
    let mo = MO[usize::try_from(month - 1).unwrap_or(0).min(11)];
    format!(
        "{wd}, {day:02} {mo} {year} {:02}:{:02}:{:02} GMT",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

fn strip_brackets(h: &str) -> &str {
    h.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(h)
}

/// The username and realm named by the first credentials of a request.
fn credential_names(req: &Message, header: HeaderName) -> (Option<String>, Option<String>) {
    for line in req.header_lines(header) {
        if let Ok(c) = Credentials::parse(line) {
            return (
                c.username()
                    .map(|u| sofia_msg::bnf::unquote(u).into_owned()),
                c.realm().map(|r| sofia_msg::bnf::unquote(r).into_owned()),
            );
        }
    }
    (None, None)
}

impl<S: CredentialStore, A: RegistrarAcl> Registrar<S, A> {
    /// A registrar with `settings`, checking credentials in `directory`
    /// and source addresses with `acl`.
    pub fn new(settings: RegistrarSettings, directory: S, acl: A) -> Registrar<S, A> {
        let creds = DirectoryCredentials {
            inner: directory,
            domain: settings.force_register_domain.clone(),
        };
        let auth = AuthModule::new(settings.auth.clone(), creds);
        Registrar {
            settings,
            auth,
            acl,
            index: Index::default(),
            user_params: None,
        }
    }

    /// Sets the lookup of per-user registration parameters.
    pub fn set_user_params(&mut self, lookup: UserParamsLookup) {
        self.user_params = Some(lookup);
    }

    /// The settings.
    pub fn settings(&self) -> &RegistrarSettings {
        &self.settings
    }

    /// The digest module (nonce and lock-out counters).
    pub fn auth(&self) -> &AuthModule<DirectoryCredentials<S>> {
        &self.auth
    }

    /// Fills the index with rows read from the store at start: rows of
    /// other profiles and rows expired at `now` are skipped, and so are rows
    /// past `max_bindings` (logged at level 2). Returns the rows kept.
    pub fn load(&mut self, rows: Vec<Registration>, now: SystemTime) -> usize {
        let now = unix(now);
        let mut kept = 0;
        let mut dropped = 0;
        for row in rows {
            if row.profile_name != self.settings.profile_name
                || (row.expires > 0 && row.expires <= now)
            {
                continue;
            }
            if self.index.by_id.len() >= self.settings.max_bindings {
                dropped += 1;
                continue;
            }
            self.index.insert(row);
            kept += 1;
        }
        if dropped > 0 {
            su_log!(
                SOFIA,
                2,
                "sofia: profile {}: {} stored registrations past max {} not loaded",
                self.settings.profile_name,
                dropped,
                self.settings.max_bindings
            );
        }
        kept
    }

    /// The number of bindings.
    pub fn len(&self) -> usize {
        self.index.by_id.len()
    }

    /// True when there are no bindings.
    pub fn is_empty(&self) -> bool {
        self.index.by_id.is_empty()
    }

    fn presence_match(&self, domain: &str) -> bool {
        self.settings
            .presence_hosts
            .as_deref()
            .is_some_and(|p| !domain.is_empty() && p.contains(domain))
    }

    /// The bindings of `user` in `domain` (`sip_host`, or a domain of
    /// `presence-hosts`), as `sofia_contact` finds them.
    pub fn contacts(&self, user: &str, domain: &str) -> Vec<&Registration> {
        let any_host = self.presence_match(domain);
        self.rows_of(user)
            .filter(|r| any_host || r.sip_host == domain)
            .collect()
    }

    /// The bindings of `user` in any domain.
    pub fn user_contacts(&self, user: &str) -> Vec<&Registration> {
        self.rows_of(user).collect()
    }

    /// The rows of `user`'s bindings, from the per-user index.
    fn rows_of<'a>(&'a self, user: &str) -> impl Iterator<Item = &'a Registration> + 'a {
        self.index
            .by_user
            .get(user)
            .into_iter()
            .flatten()
            .filter_map(|id| self.index.by_id.get(id))
            .map(|b| &b.row)
    }

    /// The number of bindings of `user` in `domain` (`sofia_count_reg`), or
    /// of every user of `domain` when `user` is `None`.
    pub fn count(&self, user: Option<&str>, domain: &str) -> usize {
        match user {
            Some(u) => self.contacts(u, domain).len(),
            None if self.presence_match(domain) => self.index.by_id.len(),
            None => self.index.by_host.get(domain).copied().unwrap_or(0),
        }
    }

    /// Every binding (`sofia status profile X reg`), in no particular
    /// order.
    pub fn all(&self) -> impl Iterator<Item = &Registration> + '_ {
        self.index.by_id.values().map(|b| &b.row)
    }

    /// When the next binding expires: the time to call [`sweep`](Self::sweep).
    pub fn next_expiry(&self) -> Option<SystemTime> {
        self.index
            .expiry
            .first()
            .map(|(e, _)| UNIX_EPOCH + Duration::from_secs(u64::try_from(*e).unwrap_or(0)))
    }

    fn expire_event(&self, row: &Registration) -> Event {
        let mut e = Event::new(EVENT_EXPIRE);
        e.add("profile-name", &row.profile_name)
            .add("call-id", &row.call_id)
            .add("user", &row.sip_user)
            .add("host", &row.sip_host)
            .add("contact", &row.contact)
            .add("expires", row.expires.to_string())
            .add("user-agent", &row.user_agent)
            .add("realm", &row.sip_realm);
        e
    }

    /// Removes the bindings expired at `now` (FreeSWITCH's
    /// `sofia_reg_check_expire`): each gets a `sofia::expire` event, and the
    /// store one `DeleteExpired`.
    pub fn sweep(&mut self, now: SystemTime) -> SweepOutcome {
        let now = unix(now);
        let mut out = SweepOutcome::default();
        while let Some(&(exp, id)) = self.index.expiry.first() {
            if exp > now {
                break;
            }
            if let Some(row) = self.index.remove(id) {
                out.events.push(self.expire_event(&row));
                out.expired.push(row);
            } else {
                self.index.expiry.remove(&(exp, id));
            }
        }
        if !out.expired.is_empty() {
            su_log!(
                SOFIA,
                5,
                "sofia: profile {}: {} registrations expired",
                self.settings.profile_name,
                out.expired.len()
            );
            out.store_ops.push(StoreOp::DeleteExpired {
                profile_name: self.settings.profile_name.clone(),
                now,
            });
        }
        out
    }

    /// `sofia profile X flush_inbound_reg [target]` (FreeSWITCH's
    /// `sofia_reg_expire_call_id` and `sofia_reg_check_expire(now=0)`):
    /// removes every binding, or those whose Call-ID is `target`, or those
    /// of `user@host` (`host` alone: every user of the host).
    pub fn flush(&mut self, target: Option<&str>) -> SweepOutcome {
        let mut ids: Vec<u64> = match target {
            None => self.index.by_id.keys().copied().collect(),
            Some(t) => {
                let (user, host) = match t.split_once('@') {
                    Some((u, h)) => (Some(u), h),
                    None => (None, t),
                };
                self.index
                    .by_id
                    .iter()
                    .filter(|(_, b)| {
                        b.row.call_id == t
                            || (b.row.sip_host == host && user.is_none_or(|u| b.row.sip_user == u))
                    })
                    .map(|(id, _)| *id)
                    .collect()
            }
        };
        ids.sort_unstable();
        let mut out = SweepOutcome::default();
        for id in ids {
            if let Some(row) = self.index.remove(id) {
                out.events.push(self.expire_event(&row));
                out.store_ops.push(StoreOp::DeleteContact {
                    profile_name: row.profile_name.clone(),
                    sip_user: row.sip_user.clone(),
                    sip_host: row.sip_host.clone(),
                    contact: row.contact.clone(),
                });
                out.expired.push(row);
            }
        }
        out
    }

    fn respond(
        &self,
        req: &Message,
        status: u16,
        reason: &str,
        headers: &[(HeaderName, Cow<'_, str>)],
    ) -> Option<Message> {
        let mut b = ResponseBuilder::reply_to(req, status, reason, self.settings.to_tag.as_deref());
        for (n, v) in headers {
            b = b.header(*n, v);
        }
        match b.build() {
            Ok(m) => Some(m),
            Err(e) => {
                su_log!(SOFIA, 2, "sofia: cannot write a {} response: {}", status, e);
                ResponseBuilder::reply_to(req, 500, "Server Internal Error", None)
                    .build()
                    .ok()
            }
        }
    }

    /// Handles a REGISTER received from `source` over `transport` at
    /// wall-clock time `now`. See the [module documentation](self).
    pub fn handle_register(
        &mut self,
        now: SystemTime,
        source: SocketAddr,
        transport: Transport,
        req: &Message,
    ) -> RegisterOutcome {
        let mut out = RegisterOutcome::default();
        if req.method() != Method::Register {
            out.response = self.respond(
                req,
                405,
                "Method Not Allowed",
                &[(HeaderName::Allow, "REGISTER".into())],
            );
            return out;
        }
        let now_s = unix(now);
        let network_ip = source.ip();
        let network_ip_s = network_ip.to_string();
        let network_port = source.port();
        let network_port_s = network_port.to_string();
        let url_ip = match network_ip {
            IpAddr::V6(_) => format!("[{network_ip_s}]"),
            IpAddr::V4(_) => network_ip_s.clone(),
        };
        let agent = req
            .header_unfolded(HeaderName::UserAgent)
            .map(|a| a.into_owned())
            .unwrap_or_else(|| "unknown".to_string());
        let call_id = req.call_id().unwrap_or("").to_string();

        // From and To (To's user and host fall back on From's).
        let from = req.from();
        let to = req.to();
        let from_user = from
            .as_ref()
            .and_then(|a| a.uri().user())
            .unwrap_or("")
            .to_string();
        let from_host = from
            .as_ref()
            .map(|a| a.uri().host())
            .unwrap_or("")
            .to_string();
        let mut to_user = to
            .as_ref()
            .and_then(|a| a.uri().user())
            .filter(|u| !u.is_empty())
            .map(str::to_string)
            .unwrap_or_else(|| from_user.clone());
        let to_host = to
            .as_ref()
            .map(|a| a.uri().host())
            .filter(|h| !h.is_empty())
            .map(str::to_string)
            .unwrap_or_else(|| from_host.clone());
        if to_user.is_empty() || to_host.is_empty() {
            su_log!(
                SOFIA,
                3,
                "sofia: REGISTER from {}:{} without a user in To or From",
                network_ip_s,
                network_port
            );
            out.response = self.respond(req, 400, "Bad To header: no user", &[]);
            return out;
        }
        let mut reg_host = self
            .settings
            .force_register_db_domain
            .clone()
            .unwrap_or_else(|| to_host.clone());
        let sub_host = self
            .settings
            .force_subscription_domain
            .clone()
            .unwrap_or_else(|| to_host.clone());

        // Contacts and Expires.
        let mut star = false;
        let mut addrs: Vec<NameAddr<'_>> = Vec::new();
        for c in req.typed_all::<Contact>() {
            match c {
                Ok(Contact::Star) => star = true,
                Ok(Contact::Addr(a)) => addrs.push(a),
                Err(_) => {
                    out.response = self.respond(req, 400, "Bad Contact header", &[]);
                    return out;
                }
            }
        }
        let expires_hdr = match req.typed::<Expires>() {
            None => None,
            Some(Ok(Expires(e))) => Some(e),
            Some(Err(_)) => {
                out.response = self.respond(req, 400, "Bad Expires header", &[]);
                return out;
            }
        };

        // NAT detection (sofia_reg_handle_sip_i_register).
        let via = req.top_via();
        let mut is_nat: Option<&'static str> = None;
        if self.settings.aggressive_nat_detection
            && let Some(v) = &via
        {
            if v.received().is_some() {
                is_nat = Some("via received");
            } else if strip_brackets(v.host()) != network_ip_s {
                is_nat = Some("via host");
            } else if v.port().is_some_and(|p| p != network_port) {
                is_nat = Some("via port");
            }
        }
        if is_nat.is_none()
            && let Some(a) = addrs.first()
            && let Ok(ip) = strip_brackets(a.uri().host()).parse::<IpAddr>()
            && self.acl.nat_acl(ip)
        {
            is_nat = Some("nat acl");
        }
        if is_nat.is_none()
            && self.settings.nat_on_contact_mismatch
            && let Some(a) = addrs.first()
            && let Ok(ip) = strip_brackets(a.uri().host()).parse::<IpAddr>()
        {
            let default_port = if a.uri().scheme() == Scheme::Sips {
                5061
            } else {
                5060
            };
            if ip != network_ip || a.uri().port().unwrap_or(default_port) != network_port {
                is_nat = Some("contact mismatch");
            }
        }
        let mut auto_register = false;
        match self.acl.register_acl(network_ip) {
            AclCheck::NotConfigured => {}
            AclCheck::Allowed { token } => {
                if !self.settings.accept_blind_reg {
                    auto_register = true;
                    if let Some((u, h)) = token.as_deref().and_then(|t| t.split_once('@')) {
                        to_user = u.to_string();
                        reg_host = h.to_string();
                    }
                }
            }
            AclCheck::Denied { acl } => {
                su_log!(
                    SOFIA,
                    3,
                    "sofia: IP {} rejected by register acl \"{}\"",
                    network_ip_s,
                    acl
                );
                out.response = self.respond(req, 403, "Forbidden", &[]);
                return out;
            }
        }
        if is_nat.is_some() && self.acl.is_local_network(network_ip) {
            is_nat = None;
        }
        let via_proto = via.as_ref().map(|v| v.transport()).unwrap_or("");
        let (mut is_ws, mut is_wss) = (false, false);
        if via_proto.eq_ignore_ascii_case("ws") {
            is_ws = true;
            is_nat = Some("ws");
        } else if via_proto.eq_ignore_ascii_case("wss") {
            is_wss = true;
            is_nat = Some("wss");
        }

        // The stored form of each contact.
        let path_uri = req
            .typed::<sofia_msg::headers::Path>()
            .and_then(|p| p.ok())
            .map(|p| p.0.uri().as_str().to_string());
        let mut infos: Vec<ContactInfo> = Vec::with_capacity(addrs.len());
        for a in &addrs {
            let uri = a.uri();
            let uparams = uri.params().as_str();
            let lower = uparams.to_ascii_lowercase();
            let has = |needle: &str| lower.contains(needle);
            let mut nat = is_nat.is_some();
            let mut is_tls = false;
            let mut is_tcp = false;
            let mut ws = is_ws;
            if has("transport=tls") || uri.scheme() == Scheme::Sips {
                is_tls = true;
                nat |= self.settings.tls_always_nat;
            }
            if !is_wss && !is_ws && has("transport=ws") {
                nat = true;
                ws = true;
            }
            if has("transport=tcp") {
                is_tcp = true;
                nat |= self.settings.tcp_always_nat;
            }
            if !has("transport=") && uri.scheme() != Scheme::Sips {
                // No transport in the contact: the one the REGISTER came on.
                match transport {
                    Transport::Tcp => {
                        is_tcp = true;
                        nat |= self.settings.tcp_always_nat;
                    }
                    Transport::Tls => {
                        is_tls = true;
                        nat |= self.settings.tls_always_nat;
                    }
                    Transport::Udp => {}
                }
            }
            let status = match (nat, is_tls, is_tcp, ws, is_wss) {
                (true, true, ..) => "Registered(TLS-NAT)",
                (true, false, true, ..) => "Registered(TCP-NAT)",
                (true, false, false, true, _) => "Registered(WS-NAT)",
                (true, false, false, false, true) => "Registered(WSS-NAT)",
                (true, ..) => "Registered(UDP-NAT)",
                (false, true, ..) => "Registered(TLS)",
                (false, false, true, ..) => "Registered(TCP)",
                _ => "Registered(UDP)",
            };
            let proto = if uri.scheme() == Scheme::Sips {
                "sips"
            } else {
                "sip"
            };
            let mut display = a
                .display_raw()
                .filter(|d| !d.is_empty())
                .or_else(|| to.as_ref().and_then(|t| t.display_raw()))
                .filter(|d| !d.is_empty())
                .unwrap_or("\"\"")
                .to_string();
            if !display.contains('"') {
                display = format!("\"{display}\"");
            }
            let user_at = uri.user().map(|u| format!("{u}@")).unwrap_or_default();
            let semi_params = if uparams.is_empty() {
                String::new()
            } else {
                format!(";{uparams}")
            };
            let mut default_exp = self.settings.default_expires;
            let path_encoded = if let Some(p) = &path_uri {
                Some(url_encode(p))
            } else if nat {
                default_exp = 30;
                Some(url_encode(&format!(
                    "{proto}:{user_at}{url_ip}:{network_port}{semi_params}"
                )))
            } else {
                None
            };
            let received = if nat && self.settings.received_in_nat_reg_contact {
                format!(";received={url_ip}:{network_port}")
            } else {
                String::new()
            };
            let port = uri.port().map(|p| format!(":{p}")).unwrap_or_default();
            let contact_str = if uri.is_sip() {
                format!(
                    "{display} <{proto}:{user_at}{host}{port}{semi_params}{received}{nat}{path}>",
                    host = uri.host(),
                    nat = if nat { ";fs_nat=yes" } else { "" },
                    path = path_encoded
                        .map(|p| format!(";fs_path={p}"))
                        .unwrap_or_default(),
                )
            } else {
                format!("{display} <{}>", uri.as_str())
            };
            let mut exptime = a.expires().or(expires_hdr).unwrap_or(default_exp);
            let mut too_brief = false;
            if exptime > 0 {
                if self.settings.force_expires > 0 {
                    exptime = self.settings.force_expires;
                }
                if self.settings.min_expires > 0 && exptime < self.settings.min_expires {
                    too_brief = true;
                }
                if self.settings.max_expires > 0 && exptime > self.settings.max_expires {
                    exptime = self.settings.max_expires;
                }
            }
            infos.push(ContactInfo {
                contact_str,
                status,
                exptime,
                too_brief,
            });
        }
        let first_contact = infos.first().map(|c| c.contact_str.clone());
        let first_status = infos.first().map_or("Registered", |c| c.status);
        let first_exptime = infos
            .first()
            .map_or(expires_hdr.unwrap_or(self.settings.default_expires), |c| {
                c.exptime
            });

        // Authentication.
        let mut username = "unknown".to_string();
        let mut realm = reg_host.clone();
        let mut params = UserRegParams::default();
        let blind = auto_register || self.settings.accept_blind_reg;
        if !blind {
            let verdict = self.auth.verify(now, network_ip, req);
            let cred_header = self.settings.auth.kind.credentials_header();
            let (cred_user, cred_realm) = credential_names(req, cred_header);
            // The headers `sofia::register_attempt` and `sofia::pre_register`
            // share, in FreeSWITCH's order.
            let common = |name: &'static str, this: &Self| {
                let mut e = Event::new(name);
                e.add("profile-name", &this.settings.profile_name)
                    .add("from-user", &to_user)
                    .add("from-host", &reg_host);
                if let Some(c) = &first_contact {
                    e.add("contact", c);
                }
                e.add("call-id", &call_id)
                    .add("rpid", "unknown")
                    .add("status", first_status);
                if first_contact.is_some() {
                    e.add("expires", first_exptime.to_string());
                }
                e.add("to-user", &from_user)
                    .add("to-host", &from_host)
                    .add("network-ip", &network_ip_s)
                    .add("network-port", &network_port_s);
                e
            };
            let attempt = |result: &str, out: &mut RegisterOutcome, this: &Self| {
                let mut e = common(EVENT_REGISTER_ATTEMPT, this);
                e.add("username", cred_user.as_deref().unwrap_or("unknown"))
                    .add("realm", cred_realm.as_deref().unwrap_or(&reg_host))
                    .add("user-agent", &agent)
                    .add("auth-result", result);
                out.events.push(e);
            };
            let pre_register = |out: &mut RegisterOutcome, this: &Self| {
                let mut e = common(EVENT_PRE_REGISTER, this);
                e.add("user-agent", &agent);
                out.events.push(e);
            };
            match verdict {
                Verdict::Authorized { username: u, .. }
                    if self.settings.force_matching_username
                        && !u.eq_ignore_ascii_case(&to_user) =>
                {
                    attempt("FORBIDDEN", &mut out, self);
                    su_log!(
                        SOFIA,
                        3,
                        "sofia: SIP username {} does not match auth username {} from {}",
                        to_user,
                        u,
                        network_ip_s
                    );
                    out.events.push(self.failure_event(
                        &to_user,
                        &to_host,
                        &network_ip_s,
                        &network_port_s,
                        &agent,
                    ));
                    out.response = self.respond(req, 403, "Forbidden", &[]);
                    return out;
                }
                Verdict::Authorized {
                    username: u,
                    realm: r,
                    ..
                } => {
                    attempt("SUCCESS", &mut out, self);
                    if let Some(lookup) = &self.user_params {
                        let domain = self.settings.force_register_domain.as_deref().unwrap_or(&r);
                        params = lookup(&u, domain).unwrap_or_default();
                    }
                    if params.forbid_register {
                        su_log!(
                            SOFIA,
                            3,
                            "sofia: user {}@{} may not register (sip-forbid-register)",
                            u,
                            r
                        );
                        out.events.push(self.failure_event(
                            &to_user,
                            &to_host,
                            &network_ip_s,
                            &network_port_s,
                            &agent,
                        ));
                        out.response = self.respond(req, 403, "Forbidden", &[]);
                        return out;
                    }
                    username = u;
                    realm = r;
                }
                Verdict::Exempt => {}
                Verdict::Challenge { why, .. } => {
                    match why {
                        Refusal::NoCredentials => {}
                        Refusal::StaleNonce | Refusal::InvalidNonce => {
                            attempt("STALE", &mut out, self)
                        }
                        _ => attempt("FORBIDDEN", &mut out, self),
                    }
                    pre_register(&mut out, self);
                    su_log!(
                        SOFIA,
                        5,
                        "sofia: send challenge for [{}@{}] from {} ({})",
                        to_user,
                        to_host,
                        network_ip_s,
                        why.as_str()
                    );
                    out.response = verdict
                        .response(req, self.settings.to_tag.as_deref())
                        .and_then(|r| match r {
                            Ok(m) => Some(m),
                            Err(e) => {
                                su_log!(SOFIA, 2, "sofia: cannot write a challenge: {}", e);
                                None
                            }
                        });
                    return out;
                }
                Verdict::Forbidden { why } => {
                    attempt("FORBIDDEN", &mut out, self);
                    su_log!(
                        SOFIA,
                        3,
                        "sofia: SIP auth failure (REGISTER) on sofia profile '{}' for [{}@{}] from ip {} ({})",
                        self.settings.profile_name,
                        to_user,
                        to_host,
                        network_ip_s,
                        why.as_str()
                    );
                    out.events.push(self.failure_event(
                        &to_user,
                        &to_host,
                        &network_ip_s,
                        &network_port_s,
                        &agent,
                    ));
                    out.response = self.respond(req, 403, "Forbidden", &[]);
                    return out;
                }
                Verdict::BadRequest { reason } => {
                    out.response = self.respond(req, 400, &reason, &[]);
                    return out;
                }
            }
        }

        // The user's own parameters.
        if let Some(u) = params.force_user.as_ref().filter(|u| !u.is_empty()) {
            to_user = u.clone();
        }
        if let Some(e) = params.force_expires.filter(|e| *e > 0) {
            for c in infos.iter_mut().filter(|c| c.exptime > 0) {
                c.exptime = e;
                c.too_brief = self.settings.min_expires > 0 && e < self.settings.min_expires;
                if self.settings.max_expires > 0 {
                    c.exptime = c.exptime.min(self.settings.max_expires);
                }
            }
        }
        let (mwi_user, mwi_host) = match params
            .mwi_account
            .as_deref()
            .and_then(|m| m.split_once('@'))
        {
            Some((u, h)) => (u.to_string(), h.to_string()),
            None => (to_user.clone(), reg_host.clone()),
        };

        // RFC 3261 §10.3 steps 6 and 7.
        if star && (!addrs.is_empty() || expires_hdr != Some(0)) {
            out.response = self.respond(
                req,
                400,
                "Bad Contact header: * needs Expires: 0 and no other contact",
                &[],
            );
            return out;
        }
        if infos.iter().any(|c| c.too_brief) {
            out.response = self.respond(
                req,
                423,
                "Interval Too Brief",
                &[(
                    HeaderName::MinExpires,
                    self.settings.min_expires.to_string().into(),
                )],
            );
            return out;
        }

        // The bindings this request removes and adds, before touching
        // anything: the bounds are checked on the result.
        let mode = if params.allow_multiple_registrations == Some(false) {
            MultipleRegistrations::False
        } else {
            self.settings.multiple_registrations
        };
        let profile = self.settings.profile_name.clone();
        let mut remove: Vec<u64> = Vec::new();
        let mut ops: Vec<StoreOp> = Vec::new();
        let mut inserts: Vec<&ContactInfo> = Vec::new();
        let mut unregisters: Vec<&ContactInfo> = Vec::new();
        let mut user_deleted = false;
        let mut call_id_deleted = false;
        let delete_user = |remove: &mut Vec<u64>, ops: &mut Vec<StoreOp>, this: &Self| {
            remove.extend(this.index.user_ids(&to_user, &reg_host));
            ops.push(StoreOp::DeleteUser {
                profile_name: profile.clone(),
                sip_user: to_user.clone(),
                sip_host: reg_host.clone(),
            });
        };
        if star {
            delete_user(&mut remove, &mut ops, self);
            user_deleted = true;
        }
        // A contact listed twice counts once.
        let mut counted: HashSet<&str> = HashSet::new();
        for c in &infos {
            if !counted.insert(c.contact_str.as_str()) {
                continue;
            }
            match mode {
                MultipleRegistrations::False => {
                    if !user_deleted {
                        delete_user(&mut remove, &mut ops, self);
                        user_deleted = true;
                    }
                }
                MultipleRegistrations::CallId => {
                    if !call_id_deleted {
                        remove.extend(
                            self.index
                                .by_call_id
                                .get(&call_id)
                                .into_iter()
                                .flatten()
                                .copied(),
                        );
                        ops.push(StoreOp::DeleteCallId {
                            profile_name: profile.clone(),
                            call_id: call_id.clone(),
                        });
                        call_id_deleted = true;
                    }
                }
                MultipleRegistrations::Contact => {
                    remove.extend(self.index.user_ids(&to_user, &reg_host).filter(|id| {
                        self.index
                            .by_id
                            .get(id)
                            .is_some_and(|b| b.row.contact == c.contact_str)
                    }));
                    ops.push(StoreOp::DeleteContact {
                        profile_name: profile.clone(),
                        sip_user: to_user.clone(),
                        sip_host: reg_host.clone(),
                        contact: c.contact_str.clone(),
                    });
                }
            }
            if c.exptime > 0 {
                inserts.push(c);
            } else {
                unregisters.push(c);
            }
        }
        remove.sort_unstable();
        remove.dedup();

        if !inserts.is_empty() {
            let user_now = self.index.user_ids(&to_user, &reg_host).count();
            let removed_of_user = remove
                .iter()
                .filter(|id| {
                    self.index
                        .by_id
                        .get(id)
                        .is_some_and(|b| b.row.sip_user == to_user && b.row.sip_host == reg_host)
                })
                .count();
            let user_after = user_now - removed_of_user.min(user_now) + inserts.len();
            let mut limit = self.settings.max_bindings_per_user;
            let per_extension = params
                .max_registrations
                .unwrap_or(self.settings.max_registrations_per_extension);
            if per_extension > 0 {
                limit = limit.min(per_extension as usize);
            }
            if user_after > limit {
                su_log!(
                    SOFIA,
                    3,
                    "sofia: SIP auth failure (REGISTER) due to reaching max allowed registrations for [{}@{}]: {}",
                    to_user,
                    reg_host,
                    limit
                );
                out.events.push(self.failure_event(
                    &to_user,
                    &to_host,
                    &network_ip_s,
                    &network_port_s,
                    &agent,
                ));
                out.response = self.respond(req, 403, "Forbidden", &[]);
                return out;
            }
            let total_after = self.index.by_id.len().saturating_sub(remove.len()) + inserts.len();
            if total_after > self.settings.max_bindings {
                su_log!(
                    SOFIA,
                    3,
                    "sofia: profile {}: {} registrations, the maximum: 503 for [{}@{}]",
                    profile,
                    self.settings.max_bindings,
                    to_user,
                    reg_host
                );
                out.response = self.respond(
                    req,
                    503,
                    "Service Unavailable",
                    &[(
                        HeaderName::RetryAfter,
                        self.settings.retry_after.to_string().into(),
                    )],
                );
                return out;
            }
        }

        // Apply.
        for id in &remove {
            self.index.remove(*id);
        }
        out.store_ops = ops;
        let presence_hosts = self.settings.presence_hosts.clone().unwrap_or_default();
        for c in &inserts {
            let row = Registration {
                call_id: call_id.clone(),
                sip_user: to_user.clone(),
                sip_host: reg_host.clone(),
                presence_hosts: presence_hosts.clone(),
                contact: c.contact_str.clone(),
                status: c.status.to_string(),
                ping_status: "Reachable".into(),
                ping_count: 0,
                ping_time: 0,
                force_ping: 0,
                rpid: "unknown".into(),
                expires: now_s
                    .saturating_add(i64::from(c.exptime))
                    .saturating_add(i64::from(self.settings.expires_late_margin)),
                ping_expires: 0,
                user_agent: agent.clone(),
                server_user: from_user.clone(),
                server_host: self.settings.server_ip.clone(),
                profile_name: profile.clone(),
                hostname: self.settings.hostname.clone(),
                network_ip: network_ip_s.clone(),
                network_port: network_port_s.clone(),
                sip_username: username.clone(),
                sip_realm: realm.clone(),
                mwi_user: mwi_user.clone(),
                mwi_host: mwi_host.clone(),
                orig_server_host: self.settings.server_ip.clone(),
                orig_hostname: self.settings.hostname.clone(),
                sub_host: sub_host.clone(),
            };
            out.store_ops.push(StoreOp::Insert(Box::new(row.clone())));
            self.index.insert(row);
            let mut e = Event::new(EVENT_REGISTER);
            e.add("profile-name", &profile)
                .add("from-user", &to_user)
                .add("from-host", &reg_host)
                .add(
                    "presence-hosts",
                    self.settings.presence_hosts.as_deref().unwrap_or("n/a"),
                )
                .add("contact", &c.contact_str)
                .add("call-id", &call_id)
                .add("rpid", "unknown")
                .add("status", c.status)
                .add("expires", c.exptime.to_string())
                .add("to-user", &from_user)
                .add("to-host", &from_host)
                .add("network-ip", &network_ip_s)
                .add("network-port", &network_port_s)
                .add("username", &username)
                .add("realm", &realm)
                .add("user-agent", &agent);
            out.events.push(e);
            su_log!(
                SOFIA,
                5,
                "sofia: register [{}@{}] contact [{}] expires {} ({})",
                to_user,
                reg_host,
                c.contact_str,
                c.exptime,
                c.status
            );
        }
        let unreg_realm = if blind { "unknown" } else { realm.as_str() };
        let unreg_user = if blind { "unknown" } else { username.as_str() };
        let mut unregistered: Vec<&str> =
            unregisters.iter().map(|c| c.contact_str.as_str()).collect();
        if star {
            unregistered.insert(0, "*");
        }
        for contact in unregistered {
            let mut e = Event::new(EVENT_UNREGISTER);
            e.add("profile-name", &profile)
                .add("username", unreg_user)
                .add("from-user", &to_user)
                .add("from-host", &reg_host)
                .add("contact", contact)
                .add("call-id", &call_id)
                .add("rpid", "unknown")
                .add("realm", unreg_realm)
                .add("expires", "0");
            out.events.push(e);
            su_log!(
                SOFIA,
                5,
                "sofia: unregister [{}@{}] contact [{}]",
                to_user,
                reg_host,
                contact
            );
        }

        // 200 with the current bindings.
        let margin = i64::from(self.settings.expires_late_margin);
        let mut headers: Vec<(HeaderName, Cow<'_, str>)> = Vec::new();
        let mut listed: Vec<(u64, String)> = Vec::new();
        for id in self.index.user_ids(&to_user, &reg_host) {
            let Some(b) = self.index.by_id.get(&id) else {
                continue;
            };
            let exp = match inserts.iter().find(|c| c.contact_str == b.row.contact) {
                Some(c) if b.row.call_id == call_id => i64::from(c.exptime),
                _ => b.row.expires - margin - now_s,
            };
            if exp > 0 {
                listed.push((
                    id,
                    format!("<{}>;expires={exp}", contact_uri(&b.row.contact)),
                ));
            }
        }
        listed.sort_unstable_by_key(|(id, _)| *id);
        for (_, c) in listed {
            headers.push((HeaderName::Contact, c.into()));
        }
        for p in req.header_lines(HeaderName::Path) {
            headers.push((HeaderName::Path, sofia_msg::unfold(p)));
        }
        headers.push((HeaderName::Date, http_date(now).into()));
        out.response = self.respond(req, 200, "OK", &headers);
        out
    }

    fn failure_event(
        &self,
        to_user: &str,
        to_host: &str,
        network_ip: &str,
        network_port: &str,
        agent: &str,
    ) -> Event {
        let mut e = Event::new(EVENT_REGISTER_FAILURE);
        e.add("profile-name", &self.settings.profile_name)
            .add("to-user", to_user)
            .add("to-host", to_host)
            .add("network-ip", network_ip)
            .add("user-agent", agent)
            .add("network-port", network_port)
            .add("registration-type", "REGISTER");
        e
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(http_date(UNIX_EPOCH), "Thu, 01 Jan 1970 00:00:00 GMT");
        let t = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(http_date(t), "Tue, 14 Nov 2023 22:13:20 GMT");
        let t = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(http_date(t), "Tue, 29 Feb 2000 00:00:00 GMT");
    }

    #[test]
    fn settings() {
        use MultipleRegistrations as M;
        assert_eq!(M::from_setting("call-id"), M::CallId);
        assert_eq!(M::from_setting("contact"), M::Contact);
        assert_eq!(M::from_setting("true"), M::Contact);
        assert_eq!(M::from_setting("1"), M::Contact);
        assert_eq!(M::from_setting("false"), M::False);
        assert_eq!(M::from_setting("nonsense"), M::False);
    }

    #[test]
    fn contact_uris_and_encoding() {
        assert_eq!(
            contact_uri("\"\" <sip:1000@10.0.0.5:5060;transport=udp;fs_nat=yes;fs_path=x>"),
            "sip:1000@10.0.0.5:5060;transport=udp"
        );
        assert_eq!(contact_uri("sip:a@b"), "sip:a@b");
        assert_eq!(
            url_encode("sip:a@1.2.3.4:5;x=y"),
            "sip%3Aa%401.2.3.4%3A5%3Bx%3Dy"
        );
        assert!(is_private("10.1.2.3".parse().unwrap()));
        assert!(is_private("fd00::1".parse().unwrap()));
        assert!(!is_private("192.0.2.1".parse().unwrap()));
    }
}
