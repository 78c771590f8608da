//! `sofia.conf.xml`: `<configuration name="sofia.conf">` with
//! `<global_settings>` and `<profiles><profile name="..">` (each with
//! `<aliases>`, `<gateways>`, `<domains>` and `<settings>`), parsed into
//! [`SofiaConfig`].

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;

use roxmltree::Node;

use super::error::{ConfigError, Location, Warning};
use super::params::{
    self, NOT_ACTED_GATEWAY_PARAMS, NOT_ACTED_GLOBAL_PARAMS, NOT_ACTED_PROFILE_PARAMS,
};
use super::preprocess::Expanded;
use super::xml;
use crate::acl::AclSpec;

/// The `User-Agent` a profile sends when `user-agent-string` is not set.
pub const DEFAULT_USER_AGENT: &str = concat!("sofia-rs-mod_sofia/", env!("CARGO_PKG_VERSION"));

/// A parameter as written: name, value, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    /// The `name` attribute.
    pub name: String,
    /// The `value` attribute (empty when missing).
    pub value: String,
    /// Where the `<param>` is.
    pub at: Location,
}

/// The whole `sofia.conf`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SofiaConfig {
    /// `<global_settings>`.
    pub global: GlobalSettings,
    /// The profiles, in the order defined.
    pub profiles: Vec<ProfileConfig>,
}

impl SofiaConfig {
    /// A profile by name or alias (case-insensitive).
    pub fn profile(&self, name: &str) -> Option<&ProfileConfig> {
        self.profiles
            .iter()
            .find(|p| p.name.eq_ignore_ascii_case(name))
            .or_else(|| {
                self.profiles
                    .iter()
                    .find(|p| p.aliases.iter().any(|a| a.eq_ignore_ascii_case(name)))
            })
    }

    /// A gateway by name, with its profile.
    pub fn gateway(&self, name: &str) -> Option<(&ProfileConfig, &GatewayConfig)> {
        self.profiles
            .iter()
            .find_map(|p| p.gateways.iter().find(|g| g.name == name).map(|g| (p, g)))
    }
}

/// `<global_settings>`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GlobalSettings {
    /// `log-level`: the sofia-sip debug level 0-9 for every module
    /// (default 0).
    pub log_level: u8,
    /// Every parameter as written.
    pub params: Vec<Param>,
    /// FreeSWITCH parameters accepted and not acted on.
    pub not_acted: Vec<Param>,
}

/// `multiple-registrations`: how many bindings an address of record keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MultipleRegistrations {
    /// `false` (default): one binding; a new registration replaces it.
    #[default]
    False,
    /// `call-id`: one binding per Call-ID.
    CallId,
    /// `contact` or `true`: one binding per Contact URI.
    Contact,
}

/// `challenge-realm`: the realm of digest challenges.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ChallengeRealm {
    /// `auto_to` (default): the To URI's host.
    #[default]
    AutoTo,
    /// `auto_from`: the From URI's host.
    AutoFrom,
    /// Any other value: that realm.
    Fixed(String),
}

/// `ext-sip-ip`: the address put in Contact and Via for the outside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExtAddress {
    /// An IP address.
    Ip(IpAddr),
    /// `auto`: the guessed local address.
    Auto,
    /// `auto-nat`: learned from NAT-PMP/UPnP (FreeSWITCH); not looked up.
    AutoNat,
    /// `stun:server`: learned from a STUN server; not looked up.
    Stun(String),
    /// `host:name`: the address of a DNS name.
    Host(String),
}

/// A gateway's `register-transport`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Transport {
    /// `udp` (default).
    #[default]
    Udp,
    /// `tcp`.
    Tcp,
    /// `tls` (the profile needs `tls`).
    Tls,
}

impl Transport {
    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
            Transport::Tls => "tls",
        }
    }
}

/// A `<domains><domain name=".." alias=".." parse=".."/>` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainBinding {
    /// The directory domain, or `all`.
    pub name: String,
    /// `alias`: the domain name becomes an alias of the profile.
    pub alias: bool,
    /// `parse`: the domain's user gateways belong to the profile.
    pub parse: bool,
    /// Where.
    pub at: Location,
}

/// One ACL parameter value with where it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclParam {
    /// The lists and blocks.
    pub spec: AclSpec,
    /// Where.
    pub at: Location,
}

/// TLS files of a profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The certificate chain (PEM).
    pub cert: PathBuf,
    /// The private key (PEM; the same file as `cert` for `agent.pem`).
    pub key: PathBuf,
    /// Trusted CAs, when given (`cafile.pem` in the directory).
    pub ca: Option<PathBuf>,
}

/// A `<profile>`. Fields carry FreeSWITCH's parameter names; defaults are
/// FreeSWITCH's unless noted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileConfig {
    /// The `name` attribute.
    pub name: String,
    /// Where the `<profile>` starts.
    pub at: Location,
    /// The `domain` attribute.
    pub domain: Option<String>,
    /// `<aliases><alias name=..>`: other names of the profile.
    pub aliases: Vec<String>,
    /// `<routes><route expression=.. dial-string=..>`: where calls go,
    /// first match wins (see [`crate::dial`]).
    pub routes: Vec<crate::dial::Route>,
    /// `<domains>`.
    pub domains: Vec<DomainBinding>,
    /// `<gateways>`.
    pub gateways: Vec<GatewayConfig>,
    /// `sip-ip`: the address to listen on (default: the guessed local
    /// address, `$${local_ip_v4}`; `auto` is that too).
    pub sip_ip: IpAddr,
    /// `sip-port` (default 5060); 0 for `auto` (the system picks).
    pub sip_port: u16,
    /// `ext-sip-ip` (default none).
    pub ext_sip_ip: Option<ExtAddress>,
    /// `ext-sip-port` (default: `sip-port`).
    pub ext_sip_port: Option<u16>,
    /// `tls` (default false).
    pub tls: bool,
    /// `tls-only`: no UDP/TCP listener (default false).
    pub tls_only: bool,
    /// `tls-sip-port` (default 5061); 0 for `auto`.
    pub tls_sip_port: u16,
    /// `tls-cert-dir`: holds `agent.pem` (certificate and key) and
    /// `cafile.pem`, or `tls.pem` (default none).
    pub tls_cert_dir: Option<PathBuf>,
    /// `tls-cert` (sofia-rs): a certificate file, used with `tls-key`
    /// instead of `tls-cert-dir`.
    pub tls_cert: Option<PathBuf>,
    /// `tls-key` (sofia-rs): the key for `tls-cert`.
    pub tls_key: Option<PathBuf>,
    /// `auth-calls`: challenge INVITEs (default false).
    pub auth_calls: bool,
    /// `challenge-realm` (default `auto_to`).
    pub challenge_realm: ChallengeRealm,
    /// `nonce-ttl` in seconds (default and minimum 60).
    pub nonce_ttl: u32,
    /// `force-register-domain`: the directory domain every REGISTER is
    /// looked up in (default none: the request's domain).
    pub force_register_domain: Option<String>,
    /// `force-register-db-domain`: the domain registrations are stored
    /// under (default none: the lookup domain).
    pub force_register_db_domain: Option<String>,
    /// `accept-blind-reg`: accept REGISTER without authentication (default false).
    pub accept_blind_reg: bool,
    /// `disable-register`: answer REGISTER with 405 (default false).
    pub disable_register: bool,
    /// `inbound-reg-force-matching-username`: the digest username must be
    /// the To user (default false).
    pub inbound_reg_force_matching_username: bool,
    /// `max-registrations-per-extension` (default 0: no limit).
    pub max_registrations_per_extension: u32,
    /// `multiple-registrations` (default `false`).
    pub multiple_registrations: MultipleRegistrations,
    /// `sip-force-expires`: the expiry granted to every registration, in
    /// seconds (default none: the requested one).
    pub sip_force_expires: Option<u32>,
    /// `sip-force-expires-min`: requested expiries below this are raised
    /// to it (default none).
    pub sip_force_expires_min: Option<u32>,
    /// `sip-force-expires-max`: requested expiries above this are lowered
    /// to it (default none).
    pub sip_force_expires_max: Option<u32>,
    /// `sip-expires-max-deviation`: a random -N..+N seconds added to the
    /// granted expiry (default 0).
    pub sip_expires_max_deviation: u32,
    /// `sip-expires-late-margin`: seconds a binding is kept past its
    /// expiry before it is removed (default 60).
    pub sip_expires_late_margin: u32,
    /// `apply-register-acl`: REGISTERs from addresses these allow need no
    /// authentication (FreeSWITCH: the ACL passes the registration).
    /// `none` clears earlier entries.
    pub apply_register_acl: Vec<AclParam>,
    /// `apply-inbound-acl`: INVITEs from addresses these allow need no
    /// authentication; with `auth-calls` off, others are refused.
    /// A `:pass-context:fail-context` suffix is accepted and not acted on.
    pub apply_inbound_acl: Vec<AclParam>,
    /// `watchdog-enabled` (default false).
    pub watchdog_enabled: bool,
    /// `watchdog-step-timeout` in milliseconds (default 0: not checked).
    pub watchdog_step_timeout: u32,
    /// `watchdog-event-timeout` in milliseconds (default 0: not checked).
    pub watchdog_event_timeout: u32,
    /// `sip-trace`: log every message sent and received (default false).
    pub sip_trace: bool,
    /// `log-auth-failures`: a warning per failed authentication (default false).
    pub log_auth_failures: bool,
    /// `user-agent-string` (default [`DEFAULT_USER_AGENT`]); `None` for
    /// `_undef_`, which sends no User-Agent.
    pub user_agent: Option<String>,
    /// Every `<settings>` parameter as written.
    pub params: Vec<Param>,
    /// FreeSWITCH parameters accepted and not acted on.
    pub not_acted: Vec<Param>,
}

impl ProfileConfig {
    fn new(name: &str, at: Location, guess_ip: IpAddr) -> ProfileConfig {
        ProfileConfig {
            name: name.to_string(),
            at,
            domain: None,
            aliases: Vec::new(),
            routes: Vec::new(),
            domains: Vec::new(),
            gateways: Vec::new(),
            sip_ip: guess_ip,
            sip_port: 5060,
            ext_sip_ip: None,
            ext_sip_port: None,
            tls: false,
            tls_only: false,
            tls_sip_port: 5061,
            tls_cert_dir: None,
            tls_cert: None,
            tls_key: None,
            auth_calls: false,
            challenge_realm: ChallengeRealm::AutoTo,
            nonce_ttl: 60,
            force_register_domain: None,
            force_register_db_domain: None,
            accept_blind_reg: false,
            disable_register: false,
            inbound_reg_force_matching_username: false,
            max_registrations_per_extension: 0,
            multiple_registrations: MultipleRegistrations::False,
            sip_force_expires: None,
            sip_force_expires_min: None,
            sip_force_expires_max: None,
            sip_expires_max_deviation: 0,
            sip_expires_late_margin: 60,
            apply_register_acl: Vec::new(),
            apply_inbound_acl: Vec::new(),
            watchdog_enabled: false,
            watchdog_step_timeout: 0,
            watchdog_event_timeout: 0,
            sip_trace: false,
            log_auth_failures: false,
            user_agent: Some(DEFAULT_USER_AGENT.to_string()),
            params: Vec::new(),
            not_acted: Vec::new(),
        }
    }

    /// Where parameter `name` was last written, or the profile's start.
    pub fn param_location(&self, name: &str) -> Location {
        self.params
            .iter()
            .rev()
            .find(|p| p.name.eq_ignore_ascii_case(name))
            .map_or_else(|| self.at.clone(), |p| p.at.clone())
    }

    /// The value of parameter `name` as written (the last one).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .rev()
            .find(|p| p.name.eq_ignore_ascii_case(name))
            .map(|p| p.value.as_str())
    }

    /// The TLS files: `tls-cert`/`tls-key` when set, else from
    /// `tls-cert-dir` (`agent.pem` with `cafile.pem`). `None` without either.
    pub fn tls_files(&self) -> Option<TlsFiles> {
        if let Some(cert) = &self.tls_cert {
            return Some(TlsFiles {
                cert: cert.clone(),
                key: self.tls_key.clone().unwrap_or_else(|| cert.clone()),
                ca: None,
            });
        }
        let dir = self.tls_cert_dir.as_ref()?;
        Some(TlsFiles {
            cert: dir.join("agent.pem"),
            key: dir.join("agent.pem"),
            ca: Some(dir.join("cafile.pem")),
        })
    }

    /// The address and port pairs the profile listens on: `sip-port` for
    /// UDP and TCP unless `tls-only`, and `tls-sip-port` with `tls`.
    pub fn bindings(&self) -> Vec<(&'static str, IpAddr, u16)> {
        let mut out = Vec::new();
        if !(self.tls && self.tls_only) {
            out.push(("sip-port", self.sip_ip, self.sip_port));
        }
        if self.tls {
            out.push(("tls-sip-port", self.sip_ip, self.tls_sip_port));
        }
        out
    }
}

/// A `<gateway>`: an outbound registration and call route. Defaults as
/// FreeSWITCH's `parse_gateways`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayConfig {
    /// The `name` attribute (letters, digits, `_`, `.`, `-`).
    pub name: String,
    /// Where the `<gateway>` starts.
    pub at: Location,
    /// `username` (required when registering; default `FreeSWITCH`).
    pub username: String,
    /// `password` (required when registering; default empty).
    pub password: String,
    /// `auth-username` (default `username`).
    pub auth_username: String,
    /// `realm` (default `proxy`, else the gateway name).
    pub realm: String,
    /// `from-user` (default `username`).
    pub from_user: String,
    /// `from-domain` (default none: `proxy`).
    pub from_domain: Option<String>,
    /// `proxy` (default `realm`).
    pub proxy: String,
    /// `register-proxy` with `sip:` added when missing (default none).
    pub register_proxy: Option<String>,
    /// `outbound-proxy` with `sip:` added when missing (default none).
    pub outbound_proxy: Option<String>,
    /// `register` (default true).
    pub register: bool,
    /// `register-transport` (default udp).
    pub register_transport: Transport,
    /// `expire-seconds` (default 3600; below 5 becomes 3600 with a warning).
    pub expire_seconds: u32,
    /// `retry-seconds` (default 30; below 5 becomes 30 with a warning).
    pub retry_seconds: u32,
    /// `908-retry-seconds`: retry after a 908 (default none: `retry-seconds`).
    pub fail_908_retry_seconds: Option<u32>,
    /// `timeout-seconds`: registration timeout (default 60; below 5 becomes 60).
    pub timeout_seconds: u32,
    /// `caller-id-in-from` (default false).
    pub caller_id_in_from: bool,
    /// `extension`: the destination of inbound calls (default `username`).
    pub extension: String,
    /// `extension-in-contact`: the Contact user is `extension` rather
    /// than `gw+NAME` (default false).
    pub extension_in_contact: bool,
    /// `contact-params`: extra Contact URI parameters (default none).
    pub contact_params: Option<String>,
    /// `contact-host` (default none: `ext-sip-ip`, else `sip-ip`).
    pub contact_host: Option<String>,
    /// `ping`: OPTIONS interval in seconds, at least 5 (default none).
    pub ping: Option<u32>,
    /// `ping-min`: successful pings before the gateway is up (default 1).
    pub ping_min: u32,
    /// `ping-max`: the success count ceiling (default 1).
    pub ping_max: u32,
    /// `ping-user-agent` (default none).
    pub ping_user_agent: Option<String>,
    /// `ping-monitoring`: an event per ping result (default false).
    pub ping_monitoring: bool,
    /// `contact-in-ping` (default false).
    pub contact_in_ping: bool,
    /// `distinct-to` (default false).
    pub distinct_to: bool,
    /// `scheme` (default `Digest`).
    pub scheme: String,
    /// `context` (default: the profile's `context`, else `default`).
    pub context: String,
    /// `destination-prefix` (default none).
    pub destination_prefix: Option<String>,
    /// `<variables>` with `direction="inbound"` or no direction.
    pub inbound_variables: Vec<(String, String)>,
    /// `<variables>` with `direction="outbound"` or no direction.
    pub outbound_variables: Vec<(String, String)>,
    /// Every parameter as written.
    pub params: Vec<Param>,
    /// FreeSWITCH parameters accepted and not acted on.
    pub not_acted: Vec<Param>,
}

fn bad(p: &Param, what: impl Into<String>) -> ConfigError {
    ConfigError::BadValue {
        at: p.at.clone(),
        param: p.name.clone(),
        value: p.value.clone(),
        what: what.into(),
    }
}

fn boolean(p: &Param) -> Result<bool, ConfigError> {
    params::boolean(&p.value)
        .ok_or_else(|| bad(p, "bad boolean (expected true/false, yes/no, on/off)"))
}

fn number(p: &Param) -> Result<u32, ConfigError> {
    p.value
        .trim()
        .parse::<u32>()
        .map_err(|_| bad(p, "bad number (expected 0-4294967295)"))
}

fn port(p: &Param) -> Result<u16, ConfigError> {
    if p.value.trim().eq_ignore_ascii_case("auto") {
        return Ok(0);
    }
    p.value
        .trim()
        .parse::<u16>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| bad(p, "bad port (expected 1-65535 or auto)"))
}

fn nonempty(v: &str) -> Option<String> {
    let v = v.trim();
    (!v.is_empty()).then(|| v.to_string())
}

fn sip_prefixed(v: &str) -> String {
    let lower = v.to_ascii_lowercase();
    if lower.starts_with("sip:") || lower.starts_with("sips:") {
        v.to_string()
    } else {
        format!("sip:{v}")
    }
}

fn acl_value(p: &Param, inbound: bool) -> Result<AclSpec, ConfigError> {
    let mut v = p.value.trim();
    // apply-inbound-acl accepts list:pass-context:fail-context.
    if inbound
        && !v.contains('/')
        && let Some((list, _contexts)) = v.split_once(':')
        && list.parse::<IpAddr>().is_err()
        && v.parse::<IpAddr>().is_err()
    {
        v = list;
    }
    v.parse::<AclSpec>()
        .map_err(|e| bad(p, format!("bad ACL ({e})")))
}

/// The parser's inputs besides the text.
#[derive(Debug, Clone, Copy)]
pub struct ParseOptions {
    /// The address `sip-ip` defaults to and `auto` means (FreeSWITCH's
    /// guessed local address).
    pub guess_ip: IpAddr,
}

impl Default for ParseOptions {
    fn default() -> ParseOptions {
        ParseOptions {
            guess_ip: IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
        }
    }
}

impl SofiaConfig {
    /// Parses a preprocessed document holding `<configuration name="sofia.conf">`
    /// (as the root, or anywhere inside, e.g. in a whole `freeswitch.xml`).
    /// Returns the configuration and the warnings (unknown parameters,
    /// corrected gateway timers).
    pub fn parse(
        expanded: &Expanded,
        options: ParseOptions,
    ) -> Result<(SofiaConfig, Vec<Warning>), ConfigError> {
        let doc = xml::parse(expanded)?;
        let root = doc.root_element();
        let cfg = root
            .descendants()
            .find(|n| {
                n.is_element()
                    && n.tag_name().name() == "configuration"
                    && n.attribute("name")
                        .is_some_and(|v| v == "sofia.conf" || v == "sofia.conf.xml")
            })
            .ok_or_else(|| ConfigError::Structure {
                at: xml::loc(expanded, root),
                what: "no <configuration name=\"sofia.conf\"> element".to_string(),
            })?;
        let mut warnings = Vec::new();
        let mut global = GlobalSettings::default();
        for settings in xml::children(cfg, "global_settings") {
            for (name, value, at) in xml::name_values(expanded, settings, "param")? {
                let p = Param { name, value, at };
                match p.name.to_ascii_lowercase().as_str() {
                    "log-level" => {
                        global.log_level = p
                            .value
                            .trim()
                            .parse::<u8>()
                            .ok()
                            .filter(|l| *l <= 9)
                            .ok_or_else(|| bad(&p, "bad log level (expected 0-9)"))?;
                    }
                    n if params::known(NOT_ACTED_GLOBAL_PARAMS, n) => {
                        global.not_acted.push(p.clone())
                    }
                    _ => warnings.push(Warning::new(
                        p.at.clone(),
                        Some(&p.name),
                        "unknown global parameter, ignored",
                    )),
                }
                global.params.push(p);
            }
        }
        let mut profiles: Vec<ProfileConfig> = Vec::new();
        let mut names: BTreeMap<String, (Location, &'static str)> = BTreeMap::new();
        let mut gateway_names: BTreeMap<String, Location> = BTreeMap::new();
        for list in xml::children(cfg, "profiles") {
            for node in xml::children(list, "profile") {
                let profile =
                    parse_profile(expanded, node, options, &mut warnings, &mut gateway_names)?;
                for (n, kind) in std::iter::once((&profile.name, "profile"))
                    .chain(profile.aliases.iter().map(|a| (a, "profile alias")))
                {
                    let key = n.to_ascii_lowercase();
                    if let Some((first, _)) = names.get(&key) {
                        return Err(ConfigError::Duplicate {
                            at: profile.at.clone(),
                            kind,
                            name: n.clone(),
                            first: first.clone(),
                        });
                    }
                    names.insert(key, (profile.at.clone(), kind));
                }
                check_bindings(&profiles, &profile)?;
                profiles.push(profile);
            }
        }
        Ok((SofiaConfig { global, profiles }, warnings))
    }
}

fn overlaps(a: IpAddr, b: IpAddr) -> bool {
    a == b || (a.is_ipv4() == b.is_ipv4() && (a.is_unspecified() || b.is_unspecified()))
}

fn check_bindings(earlier: &[ProfileConfig], p: &ProfileConfig) -> Result<(), ConfigError> {
    let mine = p.bindings();
    // Within one profile: sip-port and tls-sip-port must differ.
    if let [(_, ip, a), (param, _, b)] = mine.as_slice()
        && a == b
        && *a != 0
    {
        return Err(ConfigError::AddressInUse {
            at: p.param_location(param),
            param,
            profile: p.name.clone(),
            addr: sockaddr(*ip, *a),
            other: p.name.clone(),
        });
    }
    for other in earlier {
        for (param, ip, port) in &mine {
            if *port == 0 {
                continue;
            }
            for (_, oip, oport) in other.bindings() {
                if oport == *port && overlaps(*ip, oip) {
                    return Err(ConfigError::AddressInUse {
                        at: p.param_location(param),
                        param,
                        profile: p.name.clone(),
                        addr: sockaddr(*ip, *port),
                        other: other.name.clone(),
                    });
                }
            }
        }
    }
    Ok(())
}

fn sockaddr(ip: IpAddr, port: u16) -> String {
    std::net::SocketAddr::new(ip, port).to_string()
}

fn parse_profile(
    expanded: &Expanded,
    node: Node<'_, '_>,
    options: ParseOptions,
    warnings: &mut Vec<Warning>,
    gateway_names: &mut BTreeMap<String, Location>,
) -> Result<ProfileConfig, ConfigError> {
    let at = xml::loc(expanded, node);
    let name = node.attribute("name").map(str::trim).unwrap_or("");
    if name.is_empty() {
        return Err(ConfigError::Missing {
            at,
            what: "<profile> without a name".to_string(),
        });
    }
    if xml::child(node, "settings").is_none() {
        return Err(ConfigError::Missing {
            at,
            what: format!("profile '{name}' has no <settings>"),
        });
    }
    let mut p = ProfileConfig::new(name, at, options.guess_ip);
    p.domain = node.attribute("domain").and_then(nonempty);
    for settings in xml::children(node, "settings") {
        for (pname, value, pat) in xml::name_values(expanded, settings, "param")? {
            let param = Param {
                name: pname,
                value,
                at: pat,
            };
            apply_setting(&mut p, &param, options, warnings)?;
            p.params.push(param);
        }
    }
    if p.tls_cert.is_none() && p.tls_key.is_some() {
        let at = p.param_location("tls-key");
        return Err(ConfigError::Missing {
            at,
            what: "parameter 'tls-key' needs 'tls-cert'".to_string(),
        });
    }
    for aliases in xml::children(node, "aliases") {
        for a in xml::children(aliases, "alias") {
            if let Some(n) = a.attribute("name").and_then(nonempty) {
                p.aliases.push(n);
            }
        }
    }
    for routes in xml::children(node, "routes") {
        for r in xml::children(routes, "route") {
            p.routes.push(parse_route(expanded, r)?);
        }
    }
    for domains in xml::children(node, "domains") {
        for d in xml::children(domains, "domain") {
            let dat = xml::loc(expanded, d);
            let Some(dname) = d.attribute("name").and_then(nonempty) else {
                return Err(ConfigError::Missing {
                    at: dat,
                    what: "<domain> without a name".to_string(),
                });
            };
            let flag = |attr: &str| -> Result<bool, ConfigError> {
                match d.attribute(attr) {
                    None => Ok(false),
                    Some(v) => params::boolean(v).ok_or_else(|| ConfigError::BadValue {
                        at: dat.clone(),
                        param: attr.to_string(),
                        value: v.to_string(),
                        what: "bad boolean (expected true/false)".to_string(),
                    }),
                }
            };
            let alias = flag("alias")?;
            let parse = flag("parse")?;
            p.domains.push(DomainBinding {
                name: dname,
                alias,
                parse,
                at: dat,
            });
        }
    }
    for gws in xml::children(node, "gateways") {
        for g in xml::children(gws, "gateway") {
            let gw = parse_gateway(expanded, g, &p, warnings)?;
            if let Some(first) = gateway_names.get(&gw.name) {
                return Err(ConfigError::Duplicate {
                    at: gw.at,
                    kind: "gateway",
                    name: gw.name,
                    first: first.clone(),
                });
            }
            gateway_names.insert(gw.name.clone(), gw.at.clone());
            p.gateways.push(gw);
        }
    }
    Ok(p)
}

/// A `<route expression=".." dial-string="..">` with its `<variable>`s.
fn parse_route(expanded: &Expanded, r: Node<'_, '_>) -> Result<crate::dial::Route, ConfigError> {
    let at = xml::loc(expanded, r);
    let attr = |name: &str| -> Result<String, ConfigError> {
        r.attribute(name)
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
            .ok_or_else(|| ConfigError::Missing {
                at: at.clone(),
                what: format!("<route> without {name}"),
            })
    };
    let expression = attr("expression")?;
    let dial_string = attr("dial-string")?;
    let regex = regex::RegexBuilder::new(&expression)
        .size_limit(1 << 20)
        .build()
        .map_err(|e| ConfigError::BadValue {
            at: at.clone(),
            param: "expression".to_string(),
            value: expression.clone(),
            what: format!("bad regular expression: {e}"),
        })?;
    let vars = xml::name_values(expanded, r, "variable")?
        .into_iter()
        .map(|(k, v, _)| (k, v))
        .collect();
    Ok(crate::dial::Route {
        expression,
        regex,
        dial_string,
        vars,
    })
}

fn ip_param(p: &Param, guess: IpAddr, warnings: &mut Vec<Warning>) -> Result<IpAddr, ConfigError> {
    let v = p.value.trim();
    if v.eq_ignore_ascii_case("auto") {
        return Ok(guess);
    }
    if v.get(..10)
        .is_some_and(|h| h.eq_ignore_ascii_case("interface:"))
    {
        return Err(bad(
            p,
            "interface names are not supported (give the address)",
        ));
    }
    let ip: IpAddr = v
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .map_err(|_| bad(p, "not an IP address"))?;
    if ip.is_unspecified() && ip.is_ipv4() {
        warnings.push(Warning::new(
            p.at.clone(),
            Some(&p.name),
            format!("invalid IP 0.0.0.0 replaced with {guess}, as FreeSWITCH does"),
        ));
        return Ok(guess);
    }
    Ok(ip)
}

fn apply_setting(
    pr: &mut ProfileConfig,
    p: &Param,
    options: ParseOptions,
    warnings: &mut Vec<Warning>,
) -> Result<(), ConfigError> {
    let name = p.name.to_ascii_lowercase();
    match name.as_str() {
        "sip-ip" => pr.sip_ip = ip_param(p, options.guess_ip, warnings)?,
        "sip-port" => pr.sip_port = port(p)?,
        "ext-sip-ip" => {
            let v = p.value.trim();
            let lower = v.to_ascii_lowercase();
            pr.ext_sip_ip = Some(if v.is_empty() {
                return Err(bad(p, "empty address"));
            } else if lower == "auto" {
                ExtAddress::Auto
            } else if lower == "auto-nat" {
                ExtAddress::AutoNat
            } else if let Some(s) = lower.strip_prefix("stun:").map(|_| &v[5..]) {
                ExtAddress::Stun(s.to_string())
            } else if let Some(h) = lower.strip_prefix("host:").map(|_| &v[5..]) {
                ExtAddress::Host(h.to_string())
            } else {
                ExtAddress::Ip(v.parse().map_err(|_| {
                    bad(
                        p,
                        "not an IP address, auto, auto-nat, stun:HOST or host:NAME",
                    )
                })?)
            });
        }
        "ext-sip-port" => pr.ext_sip_port = Some(port(p)?).filter(|x| *x != 0),
        "tls" => pr.tls = boolean(p)?,
        "tls-only" => pr.tls_only = boolean(p)?,
        "tls-sip-port" => pr.tls_sip_port = port(p)?,
        "tls-cert-dir" => pr.tls_cert_dir = nonempty(&p.value).map(PathBuf::from),
        "tls-cert" => pr.tls_cert = nonempty(&p.value).map(PathBuf::from),
        "tls-key" => pr.tls_key = nonempty(&p.value).map(PathBuf::from),
        "auth-calls" => pr.auth_calls = boolean(p)?,
        "challenge-realm" => {
            pr.challenge_realm = match p.value.trim() {
                v if v.eq_ignore_ascii_case("auto_to") => ChallengeRealm::AutoTo,
                v if v.eq_ignore_ascii_case("auto_from") => ChallengeRealm::AutoFrom,
                "" => {
                    return Err(bad(
                        p,
                        "empty realm (expected auto_to, auto_from or a realm)",
                    ));
                }
                v => ChallengeRealm::Fixed(v.to_string()),
            }
        }
        "nonce-ttl" => {
            let n = number(p)?;
            if n < 60 {
                warnings.push(Warning::new(
                    p.at.clone(),
                    Some(&p.name),
                    "below 60 seconds; 60 is used, as FreeSWITCH does",
                ));
            }
            pr.nonce_ttl = n.max(60);
        }
        "force-register-domain" => pr.force_register_domain = nonempty(&p.value),
        "force-register-db-domain" => pr.force_register_db_domain = nonempty(&p.value),
        "accept-blind-reg" => pr.accept_blind_reg = boolean(p)?,
        "disable-register" => pr.disable_register = boolean(p)?,
        "inbound-reg-force-matching-username" => {
            pr.inbound_reg_force_matching_username = boolean(p)?
        }
        "max-registrations-per-extension" => pr.max_registrations_per_extension = number(p)?,
        "multiple-registrations" => {
            let v = p.value.trim().to_ascii_lowercase();
            pr.multiple_registrations = match v.as_str() {
                "call-id" => MultipleRegistrations::CallId,
                "contact" => MultipleRegistrations::Contact,
                _ => match params::boolean(&v) {
                    Some(true) => MultipleRegistrations::Contact,
                    Some(false) => MultipleRegistrations::False,
                    None => {
                        return Err(bad(
                            p,
                            "unknown multiple-registrations value (expected false, call-id, contact or true)",
                        ));
                    }
                },
            }
        }
        "sip-force-expires" => pr.sip_force_expires = Some(number(p)?).filter(|n| *n > 0),
        "sip-force-expires-min" => pr.sip_force_expires_min = Some(number(p)?).filter(|n| *n > 0),
        "sip-force-expires-max" => pr.sip_force_expires_max = Some(number(p)?).filter(|n| *n > 0),
        "sip-expires-max-deviation" => pr.sip_expires_max_deviation = number(p)?,
        "sip-expires-late-margin" => pr.sip_expires_late_margin = number(p)?,
        "apply-register-acl" | "apply-inbound-acl" => {
            let list = if name == "apply-register-acl" {
                &mut pr.apply_register_acl
            } else {
                &mut pr.apply_inbound_acl
            };
            if p.value.trim().eq_ignore_ascii_case("none") {
                list.clear();
            } else {
                let spec = acl_value(p, name == "apply-inbound-acl")?;
                list.push(AclParam {
                    spec,
                    at: p.at.clone(),
                });
            }
        }
        "watchdog-enabled" => pr.watchdog_enabled = boolean(p)?,
        "watchdog-step-timeout" => pr.watchdog_step_timeout = number(p)?,
        "watchdog-event-timeout" => pr.watchdog_event_timeout = number(p)?,
        "sip-trace" => pr.sip_trace = boolean(p)?,
        "log-auth-failures" => pr.log_auth_failures = boolean(p)?,
        "user-agent-string" => {
            pr.user_agent = match p.value.trim() {
                "_undef_" => None,
                "" => Some(DEFAULT_USER_AGENT.to_string()),
                v => Some(v.to_string()),
            }
        }
        n if params::known(NOT_ACTED_PROFILE_PARAMS, n) => pr.not_acted.push(p.clone()),
        _ => warnings.push(Warning::new(
            p.at.clone(),
            Some(&p.name),
            format!("unknown parameter in profile '{}', ignored", pr.name),
        )),
    }
    if let (Some(min), Some(max)) = (pr.sip_force_expires_min, pr.sip_force_expires_max)
        && min > max
        && (name == "sip-force-expires-min" || name == "sip-force-expires-max")
    {
        return Err(bad(
            p,
            format!("sip-force-expires-min ({min}) is above sip-force-expires-max ({max})"),
        ));
    }
    Ok(())
}

fn gateway_name_ok(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

fn parse_gateway(
    expanded: &Expanded,
    g: Node<'_, '_>,
    profile: &ProfileConfig,
    warnings: &mut Vec<Warning>,
) -> Result<GatewayConfig, ConfigError> {
    let at = xml::loc(expanded, g);
    let name = g.attribute("name").map(str::trim).unwrap_or("");
    if !gateway_name_ok(name) {
        return Err(if name.is_empty() {
            ConfigError::Missing {
                at,
                what: "<gateway> without a name".to_string(),
            }
        } else {
            ConfigError::BadValue {
                at,
                param: "name".to_string(),
                value: name.to_string(),
                what: "bad gateway name (letters, digits, '_', '.', '-')".to_string(),
            }
        });
    }
    let mut inbound_variables = Vec::new();
    let mut outbound_variables = Vec::new();
    let var_nodes: Vec<Node<'_, '_>> = match xml::child(g, "variables") {
        Some(v) => xml::children(v, "variable").collect(),
        None => xml::children(g, "variable").collect(),
    };
    for v in var_nodes {
        let vat = xml::loc(expanded, v);
        let (Some(n), Some(val)) = (v.attribute("name"), v.attribute("value")) else {
            return Err(ConfigError::Missing {
                at: vat,
                what: "<variable> needs name and value".to_string(),
            });
        };
        match v
            .attribute("direction")
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None => {
                inbound_variables.push((n.to_string(), val.to_string()));
                outbound_variables.push((n.to_string(), val.to_string()));
            }
            Some("inbound") => inbound_variables.push((n.to_string(), val.to_string())),
            Some("outbound") => outbound_variables.push((n.to_string(), val.to_string())),
            Some(other) => {
                return Err(ConfigError::BadValue {
                    at: vat,
                    param: "direction".to_string(),
                    value: other.to_string(),
                    what: "bad variable direction (expected inbound or outbound)".to_string(),
                });
            }
        }
    }
    let params: Vec<Param> = match xml::child(g, "params") {
        Some(ps) => xml::name_values(expanded, ps, "param")?,
        None => xml::name_values(expanded, g, "param")?,
    }
    .into_iter()
    .map(|(name, value, at)| Param { name, value, at })
    .collect();
    if let Some(s) = xml::child(g, "subscriptions") {
        warnings.push(Warning::new(
            xml::loc(expanded, s),
            None,
            format!("gateway '{name}': <subscriptions> are not supported, ignored"),
        ));
    }

    let mut register = true;
    let mut username = None;
    let mut password = None;
    let mut auth_username = None;
    let mut realm = None;
    let mut from_user = None;
    let mut from_domain = None;
    let mut proxy = None;
    let mut register_proxy = None;
    let mut outbound_proxy = None;
    let mut register_transport = Transport::Udp;
    let mut expire_seconds = 3600;
    let mut retry_seconds = 30;
    let mut fail_908_retry_seconds = None;
    let mut timeout_seconds = 60;
    let mut caller_id_in_from = false;
    let mut extension = None;
    let mut extension_in_contact = false;
    let mut contact_params = None;
    let mut contact_host = None;
    let mut ping = None;
    let mut ping_min = 1;
    let mut ping_max = 1;
    let mut ping_user_agent = None;
    let mut ping_monitoring = false;
    let mut contact_in_ping = false;
    let mut distinct_to = false;
    let mut scheme = "Digest".to_string();
    let mut context = profile
        .param("context")
        .and_then(nonempty)
        .unwrap_or_else(|| "default".to_string());
    let mut destination_prefix = None;
    let mut not_acted = Vec::new();
    for p in &params {
        // FreeSWITCH compares gateway parameter names case-sensitively.
        match p.name.as_str() {
            "register" => register = boolean(p)?,
            "scheme" => scheme = nonempty(&p.value).unwrap_or_else(|| "Digest".to_string()),
            "realm" => realm = nonempty(&p.value),
            "username" => username = nonempty(&p.value),
            "auth-username" => auth_username = nonempty(&p.value),
            "password" => password = Some(p.value.clone()).filter(|v| !v.is_empty()),
            "from-user" => from_user = nonempty(&p.value),
            "from-domain" => from_domain = nonempty(&p.value),
            "proxy" => proxy = nonempty(&p.value),
            "register-proxy" => register_proxy = nonempty(&p.value).map(|v| sip_prefixed(&v)),
            "outbound-proxy" => outbound_proxy = nonempty(&p.value).map(|v| sip_prefixed(&v)),
            "register-transport" => {
                register_transport = match p.value.trim().to_ascii_lowercase().as_str() {
                    "udp" => Transport::Udp,
                    "tcp" => Transport::Tcp,
                    "tls" => Transport::Tls,
                    _ => return Err(bad(p, "unsupported transport (expected udp, tcp or tls)")),
                };
                if register_transport == Transport::Tls && !profile.tls {
                    return Err(bad(
                        p,
                        format!("transport tls needs 'tls' on profile '{}'", profile.name),
                    ));
                }
            }
            "expire-seconds" => {
                let n = number(p)?;
                expire_seconds = if n < 5 {
                    warnings.push(Warning::new(
                        p.at.clone(),
                        Some(&p.name),
                        format!("gateway '{name}': below 5; 3600 is used, as FreeSWITCH does"),
                    ));
                    3600
                } else {
                    n
                };
            }
            "retry-seconds" | "retry_seconds" => {
                let n = number(p)?;
                retry_seconds = if n < 5 {
                    warnings.push(Warning::new(
                        p.at.clone(),
                        Some(&p.name),
                        format!("gateway '{name}': below 5; 30 is used, as FreeSWITCH does"),
                    ));
                    30
                } else {
                    n
                };
            }
            "908-retry-seconds" => fail_908_retry_seconds = Some(number(p)?),
            "timeout-seconds" => {
                let n = number(p)?;
                timeout_seconds = if n < 5 {
                    warnings.push(Warning::new(
                        p.at.clone(),
                        Some(&p.name),
                        format!("gateway '{name}': below 5; 60 is used, as FreeSWITCH does"),
                    ));
                    60
                } else {
                    n
                };
            }
            "caller-id-in-from" => caller_id_in_from = boolean(p)?,
            "extension" => extension = nonempty(&p.value),
            "extension-in-contact" => extension_in_contact = boolean(p)?,
            "contact-params" => contact_params = nonempty(&p.value),
            "contact-host" => contact_host = nonempty(&p.value),
            "ping" => {
                let n = number(p)?;
                ping = match n {
                    0 => None,
                    1..=4 => {
                        return Err(bad(
                            p,
                            "bad ping interval (expected 0 or at least 5 seconds)",
                        ));
                    }
                    n => Some(n),
                };
            }
            "ping-min" => ping_min = number(p)?,
            "ping-max" => ping_max = number(p)?,
            "ping-user-agent" => ping_user_agent = nonempty(&p.value),
            "ping-monitoring" => ping_monitoring = boolean(p)?,
            "contact-in-ping" => contact_in_ping = boolean(p)?,
            "distinct-to" => distinct_to = boolean(p)?,
            "context" => context = nonempty(&p.value).unwrap_or(context),
            "destination-prefix" => destination_prefix = nonempty(&p.value),
            n if NOT_ACTED_GATEWAY_PARAMS.contains(&n) => not_acted.push(p.clone()),
            _ => warnings.push(Warning::new(
                p.at.clone(),
                Some(&p.name),
                format!("unknown parameter in gateway '{name}', ignored"),
            )),
        }
    }
    if ping.is_some() && (ping_min == 0 || ping_max < ping_min) {
        let p = params
            .iter()
            .rev()
            .find(|p| p.name == "ping-max" || p.name == "ping-min");
        return Err(match p {
            Some(p) => bad(
                p,
                format!(
                    "gateway '{name}': needs 1 <= ping-min ({ping_min}) <= ping-max ({ping_max})"
                ),
            ),
            None => ConfigError::Structure {
                at,
                what: format!("gateway '{name}': needs 1 <= ping-min <= ping-max"),
            },
        });
    }
    let (username, password) = if register {
        let Some(u) = username else {
            return Err(ConfigError::Missing {
                at,
                what: format!(
                    "gateway '{name}': parameter 'username' is required when 'register' is true"
                ),
            });
        };
        let Some(pw) = password else {
            return Err(ConfigError::Missing {
                at,
                what: format!(
                    "gateway '{name}': parameter 'password' is required when 'register' is true"
                ),
            });
        };
        (u, pw)
    } else {
        (
            username.unwrap_or_else(|| "FreeSWITCH".to_string()),
            password.unwrap_or_default(),
        )
    };
    let realm = realm
        .or_else(|| proxy.clone())
        .unwrap_or_else(|| name.to_string());
    let proxy = proxy.unwrap_or_else(|| realm.clone());
    Ok(GatewayConfig {
        name: name.to_string(),
        at,
        auth_username: auth_username.unwrap_or_else(|| username.clone()),
        from_user: from_user.unwrap_or_else(|| username.clone()),
        extension: extension.unwrap_or_else(|| username.clone()),
        username,
        password,
        realm,
        from_domain,
        proxy,
        register_proxy,
        outbound_proxy,
        register,
        register_transport,
        expire_seconds,
        retry_seconds,
        fail_908_retry_seconds,
        timeout_seconds,
        caller_id_in_from,
        extension_in_contact,
        contact_params,
        contact_host,
        ping,
        ping_min,
        ping_max,
        ping_user_agent,
        ping_monitoring,
        contact_in_ping,
        distinct_to,
        scheme,
        context,
        destination_prefix,
        inbound_variables,
        outbound_variables,
        params,
        not_acted,
    })
}
