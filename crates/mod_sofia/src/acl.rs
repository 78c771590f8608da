//! Access control lists as in FreeSWITCH's `acl.conf.xml`: named lists of
//! allow/deny CIDR nodes with a default policy, the built-in `*.auto`
//! lists, and the values of profile parameters such as
//! `apply-register-acl` (list names or inline CIDRs, comma-separated).
//!
//! A list decides as FreeSWITCH's `switch_network_list_validate_ip_token`:
//! among the nodes of the address's family that contain the address, the
//! one with the longest prefix wins; of equally long ones the later node
//! wins; when none contains it, the list's default applies. So
//! `deny 192.168.42.0/24` and `allow 192.168.42.42/32` allow .42 and deny
//! the rest of that /24, in either order. An IPv4-mapped IPv6 address
//! (`::ffff:a.b.c.d`) is checked as the IPv4 address.
//!
//! Built-in lists (names are case-insensitive):
//!
//! | name | default | nodes |
//! |---|---|---|
//! | `loopback.auto` | deny | allow 127.0.0.0/8, ::1/128 |
//! | `rfc1918.auto` | deny | allow 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, fe80::/10, fc00::/7 |
//! | `rfc6598.auto` | deny | allow 100.64.0.0/10 |
//! | `localnet.auto` | deny | allow each network of this host's interfaces (not loopback) |
//! | `nat.auto` | deny | allow 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, 100.64.0.0/10; deny this host's networks |
//! | `wan.auto` | allow | deny 0.0.0.0/8, 10.0.0.0/8, 127.0.0.0/8, 169.254.0.0/16, 172.16.0.0/12, 192.168.0.0/16, 100.64.0.0/10, ::1/128, fe80::/10, fc00::/7 |
//! | `wan_v4.auto` | allow | the IPv4 denies of `wan.auto`; deny ::/0 |
//! | `wan_v6.auto` | allow | deny 0.0.0.0/0, ::1/128, fe80::/10, fc00::/7 |
//! | `any_v4.auto` | allow | deny ::/0 |
//! | `any_v6.auto` | allow | deny 0.0.0.0/0 |
//!
//! This host's networks ([`LocalNetworks::detect`]) come from
//! `/proc/net/route` (IPv4 routes without a gateway) and
//! `/proc/net/if_inet6` (IPv6 addresses and prefix lengths) on Linux; where
//! those cannot be read the list is empty, so `localnet.auto` allows
//! nothing and `nat.auto` equals the private ranges.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use crate::config::xml;
use crate::config::{ConfigError, Expanded, Location, Warning};
use crate::directory::Directory;

/// An address block: an address and a prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr {
    net: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// The block of `addr` with `prefix` bits (host bits are cleared);
    /// `None` when the prefix is longer than the address.
    pub fn new(addr: IpAddr, prefix: u8) -> Option<Cidr> {
        let net = match addr {
            IpAddr::V4(a) if prefix <= 32 => {
                let mask = if prefix == 0 {
                    0
                } else {
                    u32::MAX << (32 - prefix)
                };
                IpAddr::V4(Ipv4Addr::from(u32::from(a) & mask))
            }
            IpAddr::V6(a) if prefix <= 128 => {
                let mask = if prefix == 0 {
                    0
                } else {
                    u128::MAX << (128 - prefix)
                };
                IpAddr::V6(Ipv6Addr::from(u128::from(a) & mask))
            }
            _ => return None,
        };
        Some(Cidr { net, prefix })
    }

    /// The network address.
    pub fn network(&self) -> IpAddr {
        self.net
    }

    /// The prefix length.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// True when `ip` is in the block (an IPv4-mapped IPv6 address counts
    /// as its IPv4 address).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.net, canonical(ip)) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = if self.prefix == 0 {
                    0
                } else {
                    u32::MAX << (32 - self.prefix)
                };
                u32::from(a) & mask == u32::from(n)
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = if self.prefix == 0 {
                    0
                } else {
                    u128::MAX << (128 - self.prefix)
                };
                u128::from(a) & mask == u128::from(n)
            }
            _ => false,
        }
    }

    fn same_family(&self, ip: IpAddr) -> bool {
        self.net.is_ipv4() == ip.is_ipv4()
    }
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => ip,
        },
        v4 => v4,
    }
}

/// Why a CIDR or ACL value cannot be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadCidr(pub String);

impl fmt::Display for BadCidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BadCidr {}

impl FromStr for Cidr {
    type Err = BadCidr;

    /// `a.b.c.d/n`, `x::y/n`, or a bare address (a /32 or /128 block).
    fn from_str(s: &str) -> Result<Cidr, BadCidr> {
        let s = s.trim();
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr = addr.trim_start_matches('[').trim_end_matches(']');
        let ip: IpAddr = addr
            .parse()
            .map_err(|_| BadCidr(format!("'{s}' is not an IP address or CIDR")))?;
        let max = if ip.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| BadCidr(format!("'{s}' has a bad prefix length (0-{max})")))?,
        };
        Cidr::new(ip, prefix).ok_or_else(|| BadCidr(format!("'{s}' has a bad prefix length")))
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.net, self.prefix)
    }
}

/// One node of a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclNode {
    /// Allow (true) or deny.
    pub allow: bool,
    /// The block.
    pub cidr: Cidr,
    /// What the node stands for, e.g. `1000@example.com` for a node made
    /// from a directory user's `cidr` attribute.
    pub token: Option<String>,
}

/// The answer of a list for an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AclVerdict<'a> {
    /// Allowed.
    pub allowed: bool,
    /// The deciding node's token, when a node with one decided.
    pub token: Option<&'a str>,
}

/// A named list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acl {
    name: String,
    default_allow: bool,
    nodes: Vec<AclNode>,
}

impl Acl {
    /// An empty list with a default policy.
    pub fn new(name: &str, default_allow: bool) -> Acl {
        Acl {
            name: name.to_string(),
            default_allow,
            nodes: Vec::new(),
        }
    }

    /// The name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The default policy (true: allow).
    pub fn default_allow(&self) -> bool {
        self.default_allow
    }

    /// The nodes in order.
    pub fn nodes(&self) -> &[AclNode] {
        &self.nodes
    }

    /// Appends an allow node.
    pub fn allow(&mut self, cidr: Cidr) -> &mut Acl {
        self.push(AclNode {
            allow: true,
            cidr,
            token: None,
        })
    }

    /// Appends a deny node.
    pub fn deny(&mut self, cidr: Cidr) -> &mut Acl {
        self.push(AclNode {
            allow: false,
            cidr,
            token: None,
        })
    }

    /// Appends a node.
    pub fn push(&mut self, node: AclNode) -> &mut Acl {
        self.nodes.push(node);
        self
    }

    /// The decision for `ip`: the longest matching prefix wins, the later
    /// node on a tie, the default when nothing matches.
    pub fn check(&self, ip: IpAddr) -> AclVerdict<'_> {
        let ip = canonical(ip);
        let mut verdict = AclVerdict {
            allowed: self.default_allow,
            token: None,
        };
        let mut best: Option<u8> = None;
        for node in &self.nodes {
            if !node.cidr.same_family(ip) || !node.cidr.contains(ip) {
                continue;
            }
            if best.is_none_or(|b| node.cidr.prefix >= b) {
                best = Some(node.cidr.prefix);
                verdict = AclVerdict {
                    allowed: node.allow,
                    token: node.token.as_deref(),
                };
            }
        }
        verdict
    }

    /// True when the list allows `ip`.
    pub fn allows(&self, ip: IpAddr) -> bool {
        self.check(ip).allowed
    }
}

/// One item of an ACL parameter value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AclEntry {
    /// A list, by name.
    List(String),
    /// An inline block: allows the addresses in it.
    Cidr(Cidr),
}

/// The value of an ACL parameter (`apply-register-acl`,
/// `apply-inbound-acl` ...): list names and inline CIDRs separated by
/// commas. It allows an address when any item does.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AclSpec {
    /// The items.
    pub entries: Vec<AclEntry>,
}

impl FromStr for AclSpec {
    type Err = BadCidr;

    fn from_str(s: &str) -> Result<AclSpec, BadCidr> {
        let mut entries = Vec::new();
        for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let looks_ip = item.contains('/') || item.parse::<IpAddr>().is_ok();
            if looks_ip {
                entries.push(AclEntry::Cidr(item.parse()?));
            } else {
                entries.push(AclEntry::List(item.to_string()));
            }
        }
        if entries.is_empty() {
            return Err(BadCidr("empty ACL".to_string()));
        }
        Ok(AclSpec { entries })
    }
}

impl fmt::Display for AclSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.entries.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            match e {
                AclEntry::List(n) => f.write_str(n)?,
                AclEntry::Cidr(c) => write!(f, "{c}")?,
            }
        }
        Ok(())
    }
}

/// This host's networks, for `localnet.auto` and `nat.auto`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LocalNetworks {
    /// The networks (loopback excluded).
    pub networks: Vec<Cidr>,
}

impl LocalNetworks {
    /// Reads them from `/proc/net/route` and `/proc/net/if_inet6`; empty
    /// where those cannot be read.
    pub fn detect() -> LocalNetworks {
        let v4 = std::fs::read_to_string("/proc/net/route").unwrap_or_default();
        let v6 = std::fs::read_to_string("/proc/net/if_inet6").unwrap_or_default();
        LocalNetworks::from_proc(&v4, &v6)
    }

    /// Parses the text of `/proc/net/route` and `/proc/net/if_inet6`.
    pub fn from_proc(route: &str, if_inet6: &str) -> LocalNetworks {
        let mut networks = Vec::new();
        for line in route.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 8 || f[0] == "lo" {
                continue;
            }
            let (Ok(dest), Ok(gw), Ok(mask)) = (
                u32::from_str_radix(f[1], 16),
                u32::from_str_radix(f[2], 16),
                u32::from_str_radix(f[7], 16),
            ) else {
                continue;
            };
            if gw != 0 || mask == 0 {
                continue;
            }
            // The kernel prints the addresses in host (little-endian) order.
            let dest = Ipv4Addr::from(dest.swap_bytes());
            let mask = mask.swap_bytes();
            if mask.leading_ones() + mask.trailing_zeros() != 32 || dest.is_loopback() {
                continue;
            }
            if let Some(c) = Cidr::new(IpAddr::V4(dest), mask.leading_ones() as u8)
                && !networks.contains(&c)
            {
                networks.push(c);
            }
        }
        for line in if_inet6.lines() {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 6 || f[5] == "lo" || f[0].len() != 32 {
                continue;
            }
            let (Ok(addr), Ok(plen)) =
                (u128::from_str_radix(f[0], 16), u8::from_str_radix(f[2], 16))
            else {
                continue;
            };
            let addr = Ipv6Addr::from(addr);
            if addr.is_loopback() {
                continue;
            }
            if let Some(c) = Cidr::new(IpAddr::V6(addr), plen)
                && !networks.contains(&c)
            {
                networks.push(c);
            }
        }
        LocalNetworks { networks }
    }
}

fn cidr(s: &str) -> Cidr {
    // Only called with the constant blocks below.
    s.parse().unwrap_or(Cidr {
        net: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        prefix: 32,
    })
}

const PRIVATE_V4: [&str; 3] = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"];
const WAN_DENY_V4: [&str; 7] = [
    "0.0.0.0/8",
    "10.0.0.0/8",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "100.64.0.0/10",
];
const WAN_DENY_V6: [&str; 3] = ["::1/128", "fe80::/10", "fc00::/7"];

/// Named lists, looked up case-insensitively.
#[derive(Debug, Clone, Default)]
pub struct AclSet {
    lists: BTreeMap<String, Acl>,
}

impl AclSet {
    /// No lists.
    pub fn new() -> AclSet {
        AclSet::default()
    }

    /// The built-in `*.auto` lists for a host with `local` networks.
    pub fn with_builtins(local: &LocalNetworks) -> AclSet {
        let mut set = AclSet::new();
        let mut l = Acl::new("loopback.auto", false);
        l.allow(cidr("127.0.0.0/8")).allow(cidr("::1/128"));
        set.insert(l);

        let mut l = Acl::new("rfc1918.auto", false);
        for c in PRIVATE_V4.iter().chain(&["fe80::/10", "fc00::/7"]) {
            l.allow(cidr(c));
        }
        set.insert(l);

        let mut l = Acl::new("rfc6598.auto", false);
        l.allow(cidr("100.64.0.0/10"));
        set.insert(l);

        let mut l = Acl::new("localnet.auto", false);
        for c in &local.networks {
            l.allow(*c);
        }
        set.insert(l);

        let mut l = Acl::new("nat.auto", false);
        for c in PRIVATE_V4.iter().chain(&["100.64.0.0/10"]) {
            l.allow(cidr(c));
        }
        for c in &local.networks {
            l.deny(*c);
        }
        set.insert(l);

        let mut l = Acl::new("wan.auto", true);
        for c in WAN_DENY_V4.iter().chain(&WAN_DENY_V6) {
            l.deny(cidr(c));
        }
        set.insert(l);

        let mut l = Acl::new("wan_v4.auto", true);
        for c in WAN_DENY_V4.iter().chain(&["::/0"]) {
            l.deny(cidr(c));
        }
        set.insert(l);

        let mut l = Acl::new("wan_v6.auto", true);
        for c in ["0.0.0.0/0"].iter().chain(&WAN_DENY_V6) {
            l.deny(cidr(c));
        }
        set.insert(l);

        let mut l = Acl::new("any_v4.auto", true);
        l.deny(cidr("::/0"));
        set.insert(l);

        let mut l = Acl::new("any_v6.auto", true);
        l.deny(cidr("0.0.0.0/0"));
        set.insert(l);
        set
    }

    /// Adds (or replaces) a list; returns the one replaced.
    pub fn insert(&mut self, acl: Acl) -> Option<Acl> {
        self.lists.insert(acl.name.to_ascii_lowercase(), acl)
    }

    /// A list by name.
    pub fn get(&self, name: &str) -> Option<&Acl> {
        self.lists.get(&name.to_ascii_lowercase())
    }

    /// Every list, by lowercase name.
    pub fn iter(&self) -> impl Iterator<Item = &Acl> {
        self.lists.values()
    }

    /// True when every list `spec` names exists.
    pub fn knows(&self, spec: &AclSpec) -> Result<(), String> {
        for e in &spec.entries {
            if let AclEntry::List(n) = e
                && self.get(n).is_none()
            {
                return Err(n.clone());
            }
        }
        Ok(())
    }

    /// The decision of `spec` for `ip`: allowed when any item allows it
    /// (an unknown list allows nothing). The token is that of the first
    /// allowing list node with one.
    pub fn check(&self, spec: &AclSpec, ip: IpAddr) -> AclVerdict<'_> {
        for e in &spec.entries {
            match e {
                AclEntry::Cidr(c) => {
                    if c.contains(ip) {
                        return AclVerdict {
                            allowed: true,
                            token: None,
                        };
                    }
                }
                AclEntry::List(n) => {
                    if let Some(acl) = self.get(n) {
                        let v = acl.check(ip);
                        if v.allowed {
                            return v;
                        }
                    }
                }
            }
        }
        AclVerdict {
            allowed: false,
            token: None,
        }
    }

    /// True when `spec` allows `ip`.
    pub fn allows(&self, spec: &AclSpec, ip: IpAddr) -> bool {
        self.check(spec, ip).allowed
    }

    /// The decision of several parameter values (a profile's repeated
    /// `apply-register-acl` or `apply-inbound-acl`): the first that allows
    /// `ip` decides; `None` when there are none (no ACL applies).
    pub fn check_any<'a>(
        &self,
        specs: impl IntoIterator<Item = &'a AclSpec>,
        ip: IpAddr,
    ) -> Option<AclVerdict<'_>> {
        let mut any = false;
        for spec in specs {
            any = true;
            let v = self.check(spec, ip);
            if v.allowed {
                return Some(v);
            }
        }
        any.then_some(AclVerdict {
            allowed: false,
            token: None,
        })
    }

    /// Adds the lists of a preprocessed `acl.conf.xml`
    /// (`<configuration name="acl.conf"><network-lists><list name=".." default="allow|deny">`
    /// with `<node type="allow|deny" cidr=".."/>`, `<node ... host=".." mask=".."/>`
    /// or `<node type="allow" domain=".."/>`). A `domain` node adds a node
    /// for every `cidr` of every user of that directory domain, with the
    /// token `user@domain`. A list named like a built-in one replaces it.
    /// Returns warnings (a domain not in the directory, unknown attributes).
    pub fn load_xml(
        &mut self,
        expanded: &Expanded,
        directory: &Directory,
    ) -> Result<Vec<Warning>, ConfigError> {
        let doc = xml::parse(expanded)?;
        let mut warnings = Vec::new();
        let root = doc.root_element();
        let cfg = root
            .descendants()
            .find(|n| {
                n.is_element()
                    && n.tag_name().name() == "configuration"
                    && n.attribute("name") == Some("acl.conf")
            })
            .ok_or_else(|| ConfigError::Structure {
                at: xml::loc(expanded, root),
                what: "no <configuration name=\"acl.conf\"> element".to_string(),
            })?;
        let mut seen: BTreeMap<String, Location> = BTreeMap::new();
        for lists in xml::children(cfg, "network-lists") {
            for list in xml::children(lists, "list") {
                let at = xml::loc(expanded, list);
                let name = list.attribute("name").map(str::trim).unwrap_or("");
                if name.is_empty() {
                    return Err(ConfigError::Missing {
                        at,
                        what: "<list> without a name".to_string(),
                    });
                }
                if let Some(first) = seen.get(&name.to_ascii_lowercase()) {
                    return Err(ConfigError::Duplicate {
                        at,
                        kind: "ACL list",
                        name: name.to_string(),
                        first: first.clone(),
                    });
                }
                seen.insert(name.to_ascii_lowercase(), at.clone());
                let default = list.attribute("default").unwrap_or("deny");
                let default_allow = policy(default).ok_or_else(|| ConfigError::BadValue {
                    at: at.clone(),
                    param: "default".to_string(),
                    value: default.to_string(),
                    what: "bad ACL policy (expected allow or deny)".to_string(),
                })?;
                let mut acl = Acl::new(name, default_allow);
                for node in xml::children(list, "node") {
                    let at = xml::loc(expanded, node);
                    let ty = node.attribute("type").unwrap_or("");
                    let allow = policy(ty).ok_or_else(|| ConfigError::BadValue {
                        at: at.clone(),
                        param: "type".to_string(),
                        value: ty.to_string(),
                        what: "bad ACL node type (expected allow or deny)".to_string(),
                    })?;
                    if let Some(c) = node.attribute("cidr") {
                        for part in c.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                            let cidr = part.parse::<Cidr>().map_err(|e| ConfigError::BadValue {
                                at: at.clone(),
                                param: "cidr".to_string(),
                                value: part.to_string(),
                                what: format!("bad CIDR ({e})"),
                            })?;
                            acl.push(AclNode {
                                allow,
                                cidr,
                                token: None,
                            });
                        }
                    } else if let Some(host) = node.attribute("host") {
                        let mask = node.attribute("mask").unwrap_or("255.255.255.255");
                        let cidr = host_mask(host, mask).ok_or_else(|| ConfigError::BadValue {
                            at: at.clone(),
                            param: "host".to_string(),
                            value: format!("{host}/{mask}"),
                            what: "bad host and mask".to_string(),
                        })?;
                        acl.push(AclNode {
                            allow,
                            cidr,
                            token: None,
                        });
                    } else if let Some(domain) = node.attribute("domain") {
                        match directory.domain(domain) {
                            Some(d) => {
                                for user in d.users() {
                                    for c in &user.cidrs {
                                        acl.push(AclNode {
                                            allow,
                                            cidr: *c,
                                            token: Some(format!("{}@{}", user.id, d.name)),
                                        });
                                    }
                                }
                            }
                            None => warnings.push(Warning::new(
                                at,
                                Some("domain"),
                                format!("domain '{domain}' is not in the directory; the node adds nothing"),
                            )),
                        }
                    } else {
                        return Err(ConfigError::Missing {
                            at,
                            what: "<node> without cidr, host or domain".to_string(),
                        });
                    }
                }
                self.insert(acl);
            }
        }
        Ok(warnings)
    }
}

fn policy(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "allow" => Some(true),
        "deny" => Some(false),
        _ => None,
    }
}

fn host_mask(host: &str, mask: &str) -> Option<Cidr> {
    let ip: IpAddr = host.trim().parse().ok()?;
    let m: Ipv4Addr = mask.trim().parse().ok()?;
    let m = u32::from(m);
    if m.leading_ones() + m.trailing_zeros() != 32 || !ip.is_ipv4() {
        return None;
    }
    Cidr::new(ip, m.leading_ones() as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
    }

    #[test]
    fn cidr_parsing() {
        assert_eq!(
            "10.1.2.3/8".parse::<Cidr>().map(|c| c.to_string()),
            Ok("10.0.0.0/8".to_string())
        );
        assert_eq!(
            "2001:db8::1/32".parse::<Cidr>().map(|c| c.to_string()),
            Ok("2001:db8::/32".to_string())
        );
        assert_eq!("1.2.3.4".parse::<Cidr>().map(|c| c.prefix()), Ok(32));
        assert!("1.2.3.4/33".parse::<Cidr>().is_err());
        assert!("::/129".parse::<Cidr>().is_err());
        assert!("nope/8".parse::<Cidr>().is_err());
        assert!(
            "0.0.0.0/0"
                .parse::<Cidr>()
                .is_ok_and(|c| c.contains(ip("8.8.8.8")))
        );
    }

    #[test]
    fn most_specific_wins_in_any_order() {
        for order in [true, false] {
            let mut l = Acl::new("lan", true);
            if order {
                l.deny(cidr("192.168.42.0/24"))
                    .allow(cidr("192.168.42.42/32"));
            } else {
                l.allow(cidr("192.168.42.42/32"))
                    .deny(cidr("192.168.42.0/24"));
            }
            assert!(l.allows(ip("192.168.42.42")));
            assert!(!l.allows(ip("192.168.42.41")));
            assert!(l.allows(ip("10.0.0.1")));
        }
        // Equal prefixes: the later node wins.
        let mut l = Acl::new("x", false);
        l.allow(cidr("10.0.0.0/8")).deny(cidr("10.0.0.0/8"));
        assert!(!l.allows(ip("10.1.1.1")));
    }

    #[test]
    fn v6_and_mapped() {
        let mut l = Acl::new("x", false);
        l.allow(cidr("2001:db8::/32")).allow(cidr("127.0.0.0/8"));
        assert!(l.allows(ip("2001:db8::5")));
        assert!(!l.allows(ip("2001:db9::5")));
        assert!(l.allows(ip("::ffff:127.0.0.1")));
        // An IPv4 node never matches an IPv6 address.
        let mut l = Acl::new("y", false);
        l.allow(cidr("0.0.0.0/0"));
        assert!(!l.allows(ip("::1")));
    }

    #[test]
    fn builtins() {
        let local = LocalNetworks {
            networks: vec![cidr("192.168.1.0/24")],
        };
        let set = AclSet::with_builtins(&local);
        let spec = |s: &str| s.parse::<AclSpec>().unwrap_or_default();
        assert!(set.allows(&spec("loopback.auto"), ip("127.0.0.1")));
        assert!(set.allows(&spec("LOOPBACK.AUTO"), ip("::1")));
        assert!(!set.allows(&spec("loopback.auto"), ip("10.0.0.1")));
        assert!(set.allows(&spec("localnet.auto"), ip("192.168.1.9")));
        assert!(!set.allows(&spec("localnet.auto"), ip("192.168.2.9")));
        assert!(set.allows(&spec("nat.auto"), ip("192.168.2.9")));
        assert!(!set.allows(&spec("nat.auto"), ip("192.168.1.9")));
        assert!(set.allows(&spec("wan.auto"), ip("8.8.8.8")));
        assert!(!set.allows(&spec("wan.auto"), ip("10.1.1.1")));
        assert!(!set.allows(&spec("wan_v4.auto"), ip("2001:db8::1")));
        assert!(set.allows(&spec("wan_v6.auto"), ip("2001:db8::1")));
        assert!(!set.allows(&spec("any_v6.auto"), ip("1.1.1.1")));
        assert!(set.allows(&spec("any_v4.auto"), ip("1.1.1.1")));
        assert!(set.allows(&spec("rfc1918.auto"), ip("172.20.0.1")));
        assert!(set.allows(&spec("rfc6598.auto"), ip("100.64.0.1")));
        assert!(set.allows(&spec("nope, 10.0.0.0/8"), ip("10.9.9.9")));
        assert!(!set.allows(&spec("nope"), ip("10.9.9.9")));
        assert_eq!(
            set.knows(&spec("loopback.auto,nope")),
            Err("nope".to_string())
        );
    }

    proptest::proptest! {
        /// The decision is the last of the longest matching nodes, else the default.
        #[test]
        fn decision_matches_a_reference(
            default_allow: bool,
            nodes in proptest::collection::vec((proptest::bool::ANY, 0u32..256, 0u8..=32), 0..12),
            probe in 0u32..256,
        ) {
            // Addresses 10.0.0.X and blocks around them, so nodes overlap often.
            let mut acl = Acl::new("p", default_allow);
            for (allow, host, prefix) in &nodes {
                let c = Cidr::new(IpAddr::V4(Ipv4Addr::from(0x0a00_0000 | host)), 24 + prefix % 9)
                    .unwrap_or_else(|| cidr("10.0.0.0/24"));
                acl.push(AclNode { allow: *allow, cidr: c, token: None });
            }
            let ip = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 | probe));
            let matching: Vec<&AclNode> = acl.nodes().iter().filter(|n| n.cidr.contains(ip)).collect();
            let want = match matching.iter().map(|n| n.cidr.prefix()).max() {
                Some(best) => matching.iter().rev().find(|n| n.cidr.prefix() == best).is_some_and(|n| n.allow),
                None => default_allow,
            };
            proptest::prop_assert_eq!(acl.allows(ip), want);
        }
    }

    #[test]
    fn proc_parsing() {
        let route = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
                     eth0\t00000000\t0101A8C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n\
                     eth0\t0001A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n\
                     lo\t0000007F\t00000000\t0001\t0\t0\t0\t000000FF\t0\t0\t0\n";
        let inet6 = "00000000000000000000000000000001 01 80 10 80       lo\n\
                     20010db8000000000000000000000001 02 40 00 80     eth0\n";
        let l = LocalNetworks::from_proc(route, inet6);
        assert_eq!(
            l.networks,
            vec![cidr("192.168.1.0/24"), cidr("2001:db8::/64")]
        );
    }
}
