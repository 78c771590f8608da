//! RFC 3263 server location: from a `sip:`/`sips:` URI to an ordered list of
//! [`Target`]s (transport, address, port), sofia-sip's sresolv as used by nta.
//!
//! [`Resolver::resolve`] follows RFC 3263 §4:
//!
//! 1. **Host.** The `maddr` parameter, when present, replaces the host.
//! 2. **Transport.** The `transport` parameter when given (`sips:` with
//!    `transport=tcp` means TLS; `sips:` with UDP is refused). Otherwise, for a
//!    name without an explicit port, NAPTR records of the host with the
//!    services `SIP+D2U` (UDP), `SIP+D2T` (TCP) and `SIPS+D2T` (TLS; the only
//!    one kept for `sips:`) and the `S` flag, sorted by order then preference;
//!    each one's replacement is looked up as SRV. Without usable NAPTR
//!    records, the SRV names `_sip._udp`, `_sip._tcp`, `_sips._tcp` (in that
//!    preference; only `_sips._tcp` for `sips:`) are queried. When nothing is
//!    found: UDP for `sip:`, TLS for `sips:`.
//! 3. **Short cuts.** A numeric host (IPv4, or IPv6 with or without brackets)
//!    needs no query at all. A name with an explicit port skips NAPTR and SRV
//!    and uses the A and AAAA records of the name at that port.
//! 4. **SRV ordering.** SRV records are ordered by priority, and within a
//!    priority by RFC 2782's weighted random selection. The random source is
//!    the operating system's, or a seeded one ([`Resolver::with_seed`]) for
//!    reproducible orders. Each SRV target is expanded to its A addresses,
//!    then its AAAA addresses, in the order the server gave them. A target of
//!    `.` ("service not available here") is skipped.
//! 5. **No SRV.** The A and AAAA records of the host at port 5060 (5061 for
//!    TLS).
//!
//! The result is the whole ordered list, duplicates removed, so that a
//! client transaction that times out or gets 503 can go on with the next
//! target (RFC 3263 §4.3). Targets that come from SRV records carry their
//! priority and weight; the others have 0 for both.
//!
//! Caching: the lookups go through [hickory-resolver], whose cache keeps
//! every answer, positive or negative, for its TTL (negative answers for the
//! SOA's minimum); nothing else is cached here, so a changed zone is seen
//! once the old records' TTLs run out.
//!
//! Logging: every lookup and its result is logged on the `sresolv` module at
//! level 5 (`SRESOLV_DEBUG=5`).
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use sofia_msg::Uri;
//! use sofia_nta::resolve::Resolver;
//!
//! let resolver = Resolver::with_servers(&["127.0.0.1:5300".parse()?]);
//! let uri = Uri::parse("sip:alice@example.test")?;
//! for target in resolver.resolve(&uri).await? {
//!     // `10 60 udp 5060 192.0.2.1`
//!     println!("{target}");
//! }
//! # Ok(()) }
//! ```
//!
//! [hickory-resolver]: https://docs.rs/hickory-resolver

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{
    NameServerConfig, ResolveHosts, ResolverConfig, ServerOrderingStrategy,
};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::{DnsError, NetError};
use hickory_resolver::proto::rr::{Name, RData, RecordType};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use sofia_msg::{Scheme, Uri};
use sofia_su::su_log;
use sofia_tport::Transport;

/// The default SIP port for UDP and TCP.
pub const SIP_PORT: u16 = 5060;
/// The default SIP port for TLS.
pub const SIPS_PORT: u16 = 5061;

/// The default port of a transport: 5061 for TLS, 5060 otherwise.
pub const fn default_port(transport: Transport) -> u16 {
    match transport {
        Transport::Tls => SIPS_PORT,
        Transport::Udp | Transport::Tcp => SIP_PORT,
    }
}

/// One place to send a request to: a transport and a socket address.
///
/// Its [`Display`](fmt::Display) form is sip-dig's line:
/// `<priority> <weight> <transport> <port> <address>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Target {
    /// The transport to use.
    pub transport: Transport,
    /// The address and port.
    pub addr: SocketAddr,
    /// The name whose address records gave `addr` (the SRV target, or the
    /// URI's host or `maddr`), without a trailing dot; the address itself
    /// for a numeric host. Note that RFC 5922 checks a TLS server's
    /// certificate against the URI's domain, not this name.
    pub host: String,
    /// The SRV priority (lower first); 0 when no SRV record was involved.
    pub priority: u16,
    /// The SRV weight; 0 when no SRV record was involved.
    pub weight: u16,
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {} {} {}",
            self.priority,
            self.weight,
            self.transport,
            self.addr.port(),
            self.addr.ip()
        )
    }
}

/// The target of a URI whose host (or `maddr`) is an IP address, found
/// without any query (RFC 3263 §4.1, §4.2): the `transport` parameter (TLS
/// for `sips:`), else UDP (TLS for `sips:`), and the URI's port or the
/// transport's default. `None` for a host name or a URI that
/// [`Resolver::resolve`] refuses.
pub fn numeric_target(uri: &Uri<'_>) -> Option<Target> {
    let (host, _, fallback) = uri_parts(uri).ok()?;
    numeric(uri, host, fallback)
}

/// The host to look up (without IPv6 brackets), the transport the URI
/// forces, and the transport to use when nothing else says.
fn uri_parts<'u>(uri: &Uri<'u>) -> Result<(&'u str, Option<Transport>, Transport), ResolveError> {
    let secure = match uri.scheme() {
        Scheme::Sip => false,
        Scheme::Sips => true,
        _ => {
            return Err(ResolveError::Scheme {
                uri: uri.to_string(),
            });
        }
    };
    let forced = match uri.transport() {
        None => None,
        Some(name) => match (Transport::from_name(name), secure) {
            (Some(Transport::Tcp), true) => Some(Transport::Tls),
            (Some(Transport::Udp), true) | (None, _) => {
                return Err(ResolveError::Transport {
                    uri: uri.to_string(),
                    transport: name.to_string(),
                });
            }
            (Some(transport), _) => Some(transport),
        },
    };
    let fallback = forced.unwrap_or(if secure {
        Transport::Tls
    } else {
        Transport::Udp
    });
    let host = uri.maddr().unwrap_or_else(|| uri.host());
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if host.is_empty() {
        return Err(ResolveError::BadName {
            name: uri.to_string(),
            reason: "no host".into(),
        });
    }
    Ok((host, forced, fallback))
}

fn numeric(uri: &Uri<'_>, host: &str, transport: Transport) -> Option<Target> {
    let ip = host.parse::<IpAddr>().ok()?;
    let port = uri.port().unwrap_or(default_port(transport));
    su_log!(
        SRESOLV,
        5,
        "sres: {uri}: numeric host, {transport}/{}",
        SocketAddr::new(ip, port)
    );
    Some(Target {
        transport,
        addr: SocketAddr::new(ip, port),
        host: ip.to_string(),
        priority: 0,
        weight: 0,
    })
}

/// Why a URI could not be resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    /// The URI is not a `sip:` or `sips:` URI.
    #[error("{uri}: not a sip: or sips: URI")]
    Scheme {
        /// The URI.
        uri: String,
    },
    /// The `transport` parameter names a transport that is not supported
    /// (or UDP with `sips:`).
    #[error("{uri}: unsupported transport {transport:?}")]
    Transport {
        /// The URI.
        uri: String,
        /// The `transport` parameter's value.
        transport: String,
    },
    /// The host (or `maddr`) is not a valid domain name.
    #[error("{name}: invalid domain name: {reason}")]
    BadName {
        /// The name.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The domain does not exist (NXDOMAIN).
    #[error("{name}: no such domain")]
    NoSuchDomain {
        /// The domain name.
        name: String,
    },
    /// The domain exists but has no usable records: no A or AAAA record (and
    /// no SRV record where one was looked for), or SRV targets without
    /// addresses.
    #[error("{name}: no address (A/AAAA) records")]
    NoAddress {
        /// The domain name.
        name: String,
    },
    /// A lookup failed: time-out, no name server reachable, a server
    /// failure.
    #[error("{name}: {rtype} lookup failed: {reason}")]
    Lookup {
        /// The name looked up.
        name: String,
        /// The record type (`NAPTR`, `SRV`, `A`, `AAAA`).
        rtype: &'static str,
        /// The resolver's error.
        reason: String,
    },
    /// The resolver could not be set up (`/etc/resolv.conf` unreadable, ...).
    #[error("DNS resolver configuration: {0}")]
    Config(String),
}

/// An RFC 3263 resolver over hickory-resolver, with its cache.
///
/// It must be used from within a tokio runtime; one resolver is meant to be
/// shared (behind an `Arc`) by everything of an endpoint, so that the cache
/// is shared too.
pub struct Resolver {
    dns: Result<TokioResolver, String>,
    rng: Mutex<StdRng>,
}

impl fmt::Debug for Resolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Resolver")
            .field("ready", &self.dns.is_ok())
            .finish_non_exhaustive()
    }
}

/// What one query found.
enum Answer {
    /// The records of the asked type (CNAMEs on the way left out).
    Records(Vec<RData>),
    /// None: `nx` when the name does not exist at all.
    Empty { nx: bool },
}

/// A supported NAPTR record: its transport and the SRV name to look up.
struct NaptrChoice {
    order: u16,
    preference: u16,
    transport: Transport,
    replacement: Name,
}

/// An SRV record, as used for ordering.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Srv {
    priority: u16,
    weight: u16,
    port: u16,
    target: Name,
}

impl Resolver {
    /// A resolver with the system's configuration (`/etc/resolv.conf` and
    /// `/etc/hosts` on Unix).
    pub fn system() -> Result<Resolver, ResolveError> {
        let builder =
            TokioResolver::builder_tokio().map_err(|e| ResolveError::Config(e.to_string()))?;
        let dns = builder
            .build()
            .map_err(|e| ResolveError::Config(e.to_string()))?;
        Ok(Resolver {
            dns: Ok(dns),
            rng: Mutex::new(rand::make_rng::<StdRng>()),
        })
    }

    /// A resolver that asks exactly these name servers, over UDP and TCP, in
    /// the given order (no `/etc/resolv.conf`, no `/etc/hosts`, no search
    /// list). Tests use it with a DNS server on 127.0.0.1. A query that gets
    /// no answer fails after hickory-resolver's defaults: 5 s, 2 attempts.
    pub fn with_servers(servers: &[SocketAddr]) -> Resolver {
        let name_servers = servers
            .iter()
            .map(|server| {
                let mut config = NameServerConfig::udp_and_tcp(server.ip());
                for connection in &mut config.connections {
                    connection.port = server.port();
                }
                config
            })
            .collect();
        let mut builder = TokioResolver::builder_with_config(
            ResolverConfig::from_name_servers(name_servers),
            TokioRuntimeProvider::default(),
        );
        let options = builder.options_mut();
        options.use_hosts_file = ResolveHosts::Never;
        options.server_ordering_strategy = ServerOrderingStrategy::UserProvidedOrder;
        Resolver {
            dns: builder.build().map_err(|e| e.to_string()),
            rng: Mutex::new(rand::make_rng::<StdRng>()),
        }
    }

    /// Makes the weighted random ordering of SRV records reproducible: the
    /// same seed and the same records give the same order.
    pub fn with_seed(self, seed: u64) -> Resolver {
        Resolver {
            dns: self.dns,
            rng: Mutex::new(StdRng::seed_from_u64(seed)),
        }
    }

    /// Resolves a `sip:` or `sips:` URI to its targets, most preferred first
    /// (RFC 3263 §4). Never returns an empty list: when nothing usable is
    /// found the error says what was missing and for which name.
    pub async fn resolve(&self, uri: &Uri<'_>) -> Result<Vec<Target>, ResolveError> {
        let (host, forced, fallback) = uri_parts(uri)?;
        let secure = uri.scheme() == Scheme::Sips;
        // Numeric hosts: no query (RFC 3263 §4.1, §4.2).
        if let Some(target) = numeric(uri, host, fallback) {
            return Ok(vec![target]);
        }

        let dns = self
            .dns
            .as_ref()
            .map_err(|e| ResolveError::Config(e.clone()))?;
        let name = domain_name(host)?;

        // An explicit port: A/AAAA only.
        if let Some(port) = uri.port() {
            su_log!(SRESOLV, 5, "sres: {uri}: explicit port, no NAPTR/SRV");
            let targets = address_targets(dns, &name, fallback, port, 0, 0).await?;
            return Ok(finish(uri, targets));
        }

        let mut targets = Vec::new();
        let mut srv_found = false;
        let mut nx = false;
        let mut srv_error = None;

        // NAPTR, unless the transport is given.
        if forced.is_none() {
            match query(dns, &name, RecordType::NAPTR).await? {
                Answer::Records(records) => {
                    for choice in naptr_choices(records, secure) {
                        let srvs = self.srv_records(dns, &choice.replacement).await?;
                        srv_found |= !srvs.is_empty();
                        self.expand_srv(dns, srvs, choice.transport, &mut targets, &mut srv_error)
                            .await;
                    }
                }
                Answer::Empty { nx: true } => nx = true,
                Answer::Empty { nx: false } => {}
            }
        }

        // SRV without NAPTR (RFC 3263 §4.1: the client's preference order).
        if !srv_found && !nx {
            let services: &[(Transport, &str)] = match forced {
                Some(transport) => match transport {
                    Transport::Udp => &[(Transport::Udp, "_sip._udp")],
                    Transport::Tcp => &[(Transport::Tcp, "_sip._tcp")],
                    Transport::Tls => &[(Transport::Tls, "_sips._tcp")],
                },
                None if secure => &[(Transport::Tls, "_sips._tcp")],
                None => &[
                    (Transport::Udp, "_sip._udp"),
                    (Transport::Tcp, "_sip._tcp"),
                    (Transport::Tls, "_sips._tcp"),
                ],
            };
            for (transport, prefix) in services {
                let srv_name = service_name(prefix, &name)?;
                let srvs = self.srv_records(dns, &srv_name).await?;
                srv_found |= !srvs.is_empty();
                self.expand_srv(dns, srvs, *transport, &mut targets, &mut srv_error)
                    .await;
            }
        }

        // No SRV at all: the host's addresses at the default port (§4.2).
        if !srv_found {
            su_log!(
                SRESOLV,
                5,
                "sres: {uri}: no SRV records, A/AAAA at {}",
                default_port(fallback)
            );
            targets = address_targets(dns, &name, fallback, default_port(fallback), 0, 0).await?;
        }
        if targets.is_empty() {
            return Err(srv_error.unwrap_or_else(|| ResolveError::NoAddress {
                name: display_name(&name),
            }));
        }
        Ok(finish(uri, targets))
    }

    /// The SRV records at `name`, in RFC 2782 order. Empty when there are
    /// none (also for NXDOMAIN).
    async fn srv_records(
        &self,
        dns: &TokioResolver,
        name: &Name,
    ) -> Result<Vec<Srv>, ResolveError> {
        let records = match query(dns, name, RecordType::SRV).await? {
            Answer::Records(records) => records,
            Answer::Empty { .. } => return Ok(Vec::new()),
        };
        let srvs: Vec<Srv> = records
            .into_iter()
            .filter_map(|data| match data {
                RData::SRV(srv) => Some(Srv {
                    priority: srv.priority,
                    weight: srv.weight,
                    port: srv.port,
                    target: srv.target,
                }),
                _ => None,
            })
            .collect();
        Ok(self.order(srvs))
    }

    /// RFC 2782 ordering with this resolver's random source.
    fn order(&self, srvs: Vec<Srv>) -> Vec<Srv> {
        let mut rng = self.rng.lock().unwrap_or_else(|e| e.into_inner());
        order_srv(srvs, &mut rng)
    }

    /// Appends the addresses of each SRV target, in order. A target without
    /// addresses is skipped (and remembered in `error`).
    async fn expand_srv(
        &self,
        dns: &TokioResolver,
        srvs: Vec<Srv>,
        transport: Transport,
        targets: &mut Vec<Target>,
        error: &mut Option<ResolveError>,
    ) {
        for srv in srvs {
            if srv.target.is_root() {
                su_log!(SRESOLV, 5, "sres: SRV target \".\": service not offered");
                continue;
            }
            match address_targets(
                dns,
                &srv.target,
                transport,
                srv.port,
                srv.priority,
                srv.weight,
            )
            .await
            {
                Ok(found) => targets.extend(found),
                Err(e) => {
                    su_log!(SRESOLV, 5, "sres: skipping SRV target: {e}");
                    *error = Some(e);
                }
            }
        }
    }
}

/// Removes duplicates (keeping the first) and logs the result.
fn finish(uri: &Uri<'_>, targets: Vec<Target>) -> Vec<Target> {
    let mut out: Vec<Target> = Vec::with_capacity(targets.len());
    for target in targets {
        if !out
            .iter()
            .any(|t| t.transport == target.transport && t.addr == target.addr)
        {
            out.push(target);
        }
    }
    for target in &out {
        su_log!(SRESOLV, 5, "sres: {uri}: target {target}");
    }
    out
}

/// Parses a host name; names with a dot are made absolute (no search list).
fn domain_name(host: &str) -> Result<Name, ResolveError> {
    let mut name = Name::from_utf8(host).map_err(|e| ResolveError::BadName {
        name: host.to_string(),
        reason: e.to_string(),
    })?;
    if host.trim_end_matches('.').contains('.') {
        name.set_fqdn(true);
    }
    Ok(name)
}

/// `_sip._udp` + `example.test.`.
fn service_name(prefix: &str, name: &Name) -> Result<Name, ResolveError> {
    let text = format!("{prefix}.{}", name.to_ascii().trim_end_matches('.'));
    let mut srv_name = Name::from_ascii(&text).map_err(|e| ResolveError::BadName {
        name: text.clone(),
        reason: e.to_string(),
    })?;
    srv_name.set_fqdn(name.is_fqdn());
    Ok(srv_name)
}

/// A name as people write it: no trailing dot.
fn display_name(name: &Name) -> String {
    let text = name.to_utf8();
    match text.strip_suffix('.') {
        Some(stripped) if !stripped.is_empty() => stripped.to_string(),
        _ => text,
    }
}

fn rtype_name(rtype: RecordType) -> &'static str {
    match rtype {
        RecordType::NAPTR => "NAPTR",
        RecordType::SRV => "SRV",
        RecordType::A => "A",
        RecordType::AAAA => "AAAA",
        _ => "DNS",
    }
}

/// One query, logged, with "no records" and NXDOMAIN as answers and the
/// other failures as errors.
async fn query(
    dns: &TokioResolver,
    name: &Name,
    rtype: RecordType,
) -> Result<Answer, ResolveError> {
    su_log!(SRESOLV, 5, "sres: query {} {name}", rtype_name(rtype));
    match dns.lookup(name.clone(), rtype).await {
        Ok(lookup) => {
            let records: Vec<RData> = lookup
                .answers()
                .iter()
                .filter(|r| r.record_type() == rtype)
                .map(|r| r.data.clone())
                .collect();
            su_log!(
                SRESOLV,
                5,
                "sres: answer {} {name}: {} record(s){}",
                rtype_name(rtype),
                records.len(),
                records.iter().fold(String::new(), |mut out, r| {
                    out.push_str(if out.is_empty() { ": " } else { ", " });
                    out.push_str(&r.to_string());
                    out
                })
            );
            if records.is_empty() {
                Ok(Answer::Empty { nx: false })
            } else {
                Ok(Answer::Records(records))
            }
        }
        Err(e) if e.is_no_records_found() => {
            let nx = e.is_nx_domain();
            su_log!(
                SRESOLV,
                5,
                "sres: answer {} {name}: {}",
                rtype_name(rtype),
                if nx { "no such domain" } else { "no records" }
            );
            Ok(Answer::Empty { nx })
        }
        // A server that answers NAPTR or SRV queries with an error code
        // (SERVFAIL, REFUSED, NOTIMP: seen with old or broken servers) is
        // taken as having none: the A/AAAA fallback still works.
        Err(NetError::Dns(DnsError::ResponseCode(code)))
            if matches!(rtype, RecordType::NAPTR | RecordType::SRV) =>
        {
            su_log!(
                SRESOLV,
                3,
                "sres: answer {} {name}: {code}; taken as no records",
                rtype_name(rtype)
            );
            Ok(Answer::Empty { nx: false })
        }
        Err(e) => {
            su_log!(
                SRESOLV,
                5,
                "sres: answer {} {name}: error: {e}",
                rtype_name(rtype)
            );
            Err(lookup_error(name, rtype, &e))
        }
    }
}

fn lookup_error(name: &Name, rtype: RecordType, e: &NetError) -> ResolveError {
    ResolveError::Lookup {
        name: display_name(name),
        rtype: rtype_name(rtype),
        reason: e.to_string(),
    }
}

/// The A then AAAA addresses of `name` as targets. An error when there are
/// none: NXDOMAIN, no records, or the lookup failure.
async fn address_targets(
    dns: &TokioResolver,
    name: &Name,
    transport: Transport,
    port: u16,
    priority: u16,
    weight: u16,
) -> Result<Vec<Target>, ResolveError> {
    let (v4, v6) = tokio::join!(
        query(dns, name, RecordType::A),
        query(dns, name, RecordType::AAAA)
    );
    let mut ips = Vec::new();
    let mut nx = true;
    let mut failure = None;
    for answer in [v4, v6] {
        match answer {
            Ok(Answer::Records(records)) => {
                nx = false;
                ips.extend(records.into_iter().filter_map(|data| match data {
                    RData::A(a) => Some(IpAddr::V4(a.0)),
                    RData::AAAA(aaaa) => Some(IpAddr::V6(aaaa.0)),
                    _ => None,
                }));
            }
            Ok(Answer::Empty { nx: this_nx }) => nx &= this_nx,
            Err(e) => {
                nx = false;
                failure = Some(e);
            }
        }
    }
    if ips.is_empty() {
        return Err(match failure {
            Some(e) => e,
            None if nx => ResolveError::NoSuchDomain {
                name: display_name(name),
            },
            None => ResolveError::NoAddress {
                name: display_name(name),
            },
        });
    }
    let host = display_name(name);
    Ok(ips
        .into_iter()
        .map(|ip| Target {
            transport,
            addr: SocketAddr::new(ip, port),
            host: host.clone(),
            priority,
            weight,
        })
        .collect())
}

/// The NAPTR records RFC 3263 uses (flag `S`, a SIP service this stack
/// supports; only `SIPS+D2T` for `sips:`), sorted by order then preference.
fn naptr_choices(records: Vec<RData>, secure: bool) -> Vec<NaptrChoice> {
    let mut choices: Vec<NaptrChoice> = records
        .into_iter()
        .filter_map(|data| {
            let RData::NAPTR(naptr) = data else {
                return None;
            };
            if !naptr.flags.eq_ignore_ascii_case(b"s") {
                return None;
            }
            let transport = match naptr.services.to_ascii_uppercase().as_slice() {
                b"SIP+D2U" if !secure => Transport::Udp,
                b"SIP+D2T" if !secure => Transport::Tcp,
                b"SIPS+D2T" => Transport::Tls,
                _ => return None,
            };
            Some(NaptrChoice {
                order: naptr.order,
                preference: naptr.preference,
                transport,
                replacement: naptr.replacement,
            })
        })
        .collect();
    // Stable: records equal in order and preference keep the server's order.
    choices.sort_by_key(|c| (c.order, c.preference));
    for choice in &choices {
        su_log!(
            SRESOLV,
            5,
            "sres: NAPTR {} {} {} -> {}",
            choice.order,
            choice.preference,
            choice.transport,
            choice.replacement
        );
    }
    choices
}

/// RFC 2782 ordering: by priority, then within a priority by weighted random
/// selection (records of weight 0 first in the running sum, so they are
/// chosen first only rarely). The records are sorted into a canonical order
/// first, so that a seeded `rng` gives the same order whatever order the
/// server sent them in.
fn order_srv(mut srvs: Vec<Srv>, rng: &mut StdRng) -> Vec<Srv> {
    srvs.sort_by(|a, b| {
        (a.priority, a.weight != 0, a.port)
            .cmp(&(b.priority, b.weight != 0, b.port))
            .then_with(|| a.target.cmp_case(&b.target))
    });
    let mut out = Vec::with_capacity(srvs.len());
    let mut rest = srvs.into_iter().peekable();
    while let Some(first) = rest.next() {
        let mut group = vec![first];
        while let Some(next) = rest.next_if(|s| s.priority == group[0].priority) {
            group.push(next);
        }
        while !group.is_empty() {
            let total: u32 = group.iter().map(|s| u32::from(s.weight)).sum();
            let pick = if total == 0 {
                0
            } else {
                rng.random_range(0..=total)
            };
            let mut running = 0u32;
            let mut chosen = group.len() - 1;
            for (i, srv) in group.iter().enumerate() {
                running += u32::from(srv.weight);
                if running >= pick {
                    chosen = i;
                    break;
                }
            }
            out.push(group.remove(chosen));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn srv(priority: u16, weight: u16, target: &str) -> Srv {
        Srv {
            priority,
            weight,
            port: 5060,
            target: Name::from_ascii(target).unwrap(),
        }
    }

    fn names(srvs: &[Srv]) -> Vec<String> {
        srvs.iter().map(|s| display_name(&s.target)).collect()
    }

    #[test]
    fn priorities_first() {
        let mut rng = StdRng::seed_from_u64(1);
        let ordered = order_srv(
            vec![
                srv(20, 5, "c.test."),
                srv(10, 0, "a.test."),
                srv(30, 1, "d.test."),
            ],
            &mut rng,
        );
        assert_eq!(names(&ordered), ["a.test", "c.test", "d.test"]);
    }

    #[test]
    fn same_seed_same_order_whatever_the_input_order() {
        let records = vec![
            srv(10, 10, "a.test."),
            srv(10, 20, "b.test."),
            srv(10, 30, "c.test."),
            srv(10, 40, "d.test."),
        ];
        let mut reversed = records.clone();
        reversed.reverse();
        for seed in 0..50 {
            let one = order_srv(records.clone(), &mut StdRng::seed_from_u64(seed));
            let two = order_srv(reversed.clone(), &mut StdRng::seed_from_u64(seed));
            assert_eq!(one, two);
            assert_eq!(one.len(), 4);
        }
    }

    #[test]
    fn weights_bias_the_choice() {
        let mut rng = StdRng::seed_from_u64(7);
        let mut heavy_first = 0;
        for _ in 0..1000 {
            let ordered = order_srv(vec![srv(1, 90, "heavy."), srv(1, 10, "light.")], &mut rng);
            if display_name(&ordered[0].target) == "heavy" {
                heavy_first += 1;
            }
        }
        // Expected about 900 of 1000 (RFC 2782 picks from 0..=100).
        assert!((830..=960).contains(&heavy_first), "{heavy_first}");
    }

    #[test]
    fn zero_weights_are_all_kept() {
        let mut rng = StdRng::seed_from_u64(3);
        let ordered = order_srv(
            vec![srv(1, 0, "a."), srv(1, 0, "b."), srv(1, 5, "c.")],
            &mut rng,
        );
        assert_eq!(ordered.len(), 3);
    }

    #[test]
    fn naptr_filtering_and_sorting() {
        use hickory_resolver::proto::rr::rdata::NAPTR;
        let naptr = |order, pref, flags: &str, service: &str, repl: &str| {
            RData::NAPTR(NAPTR::new(
                order,
                pref,
                flags.as_bytes().into(),
                service.as_bytes().into(),
                b"".as_slice().into(),
                Name::from_ascii(repl).unwrap(),
            ))
        };
        let records = vec![
            naptr(20, 10, "s", "SIP+D2U", "_sip._udp.x."),
            naptr(10, 20, "S", "SIP+D2T", "_sip._tcp.x."),
            naptr(10, 10, "S", "SIPS+D2T", "_sips._tcp.x."),
            naptr(5, 10, "S", "SIP+D2S", "_sip._sctp.x."),
            naptr(5, 10, "U", "E2U+sip", "."),
        ];
        let chosen: Vec<Transport> = naptr_choices(records.clone(), false)
            .iter()
            .map(|c| c.transport)
            .collect();
        assert_eq!(chosen, [Transport::Tls, Transport::Tcp, Transport::Udp]);
        let secure: Vec<Transport> = naptr_choices(records, true)
            .iter()
            .map(|c| c.transport)
            .collect();
        assert_eq!(secure, [Transport::Tls]);
    }

    #[test]
    fn target_display() {
        let target = Target {
            transport: Transport::Udp,
            addr: "192.0.2.1:5060".parse().unwrap(),
            host: "a.example.test".into(),
            priority: 10,
            weight: 60,
        };
        assert_eq!(target.to_string(), "10 60 udp 5060 192.0.2.1");
        let v6 = Target {
            addr: "[2001:db8::1]:5061".parse().unwrap(),
            transport: Transport::Tls,
            ..target
        };
        assert_eq!(v6.to_string(), "10 60 tls 5061 2001:db8::1");
    }
}
