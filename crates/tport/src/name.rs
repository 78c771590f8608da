//! Bind names in sofia-sip's style: `sip:*:5060`,
//! `sip:127.0.0.1:5060;transport=udp`, `sips:*:5061`,
//! `sip:[::1]:5060;transport=tcp`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::Transport;
use crate::error::Error;

/// One socket to open: a transport on an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BindSpec {
    /// The transport.
    pub transport: Transport,
    /// The local address (port 0 picks a free port).
    pub addr: SocketAddr,
}

/// Parses a bind name into the sockets it stands for.
///
/// - `sip:HOST:PORT` serves UDP and TCP on the same port, as FreeSWITCH
///   profiles do; `;transport=udp|tcp|tls` selects one (`tls` and `sips:`
///   serve TLS). `transport=udp,tcp` lists several.
/// - HOST is `*` (every IPv4 address, `0.0.0.0`), `[*]`/`[::]` (every IPv6
///   address), an IPv4 address, or a bracketed IPv6 address. Host names are
///   not resolved here.
/// - The port defaults to 5060 (5061 for `sips:` and TLS).
pub fn parse_bind(name: &str) -> Result<Vec<BindSpec>, Error> {
    let bad = |why: &str| Error::BadBindName {
        name: name.to_string(),
        why: why.to_string(),
    };
    let (secure, rest) = if let Some(r) = strip_prefix_ci(name, "sips:") {
        (true, r)
    } else if let Some(r) = strip_prefix_ci(name, "sip:") {
        (false, r)
    } else {
        return Err(bad("expected sip: or sips:"));
    };
    let (hostport, params) = match rest.find(';') {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, ""),
    };
    let (host, port) = if let Some(inner) = hostport.strip_prefix('[') {
        let close = inner.find(']').ok_or_else(|| bad("unclosed '['"))?;
        let after = &inner[close + 1..];
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p),
            None if after.is_empty() => None,
            None => return Err(bad("text after ']'")),
        };
        (&hostport[..close + 2], port)
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (hostport, None),
        }
    };
    let ip: IpAddr = match host {
        "*" | "" => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        "[*]" | "[::]" => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        h if h.starts_with('[') => h[1..h.len() - 1]
            .parse::<Ipv6Addr>()
            .map(IpAddr::V6)
            .map_err(|_| bad("invalid IPv6 address"))?,
        h => h
            .parse::<Ipv4Addr>()
            .map(IpAddr::V4)
            .map_err(|_| bad("host must be *, an IPv4 address or a [IPv6] address"))?,
    };
    let mut transports = Vec::new();
    for p in params.split(';').filter(|p| !p.is_empty()) {
        let (k, v) = p.split_once('=').unwrap_or((p, ""));
        if k.eq_ignore_ascii_case("transport") {
            for t in v.split(',') {
                transports.push(match t.to_ascii_lowercase().as_str() {
                    "udp" => Transport::Udp,
                    "tcp" => Transport::Tcp,
                    "tls" => Transport::Tls,
                    _ => return Err(bad("transport must be udp, tcp or tls")),
                });
            }
        } else {
            return Err(bad("unknown parameter (only transport is allowed)"));
        }
    }
    if transports.is_empty() {
        transports = if secure {
            vec![Transport::Tls]
        } else {
            vec![Transport::Udp, Transport::Tcp]
        };
    } else if secure && transports.iter().any(|t| *t != Transport::Tls) {
        return Err(bad("sips: only serves TLS"));
    }
    let default_port = if secure || transports == [Transport::Tls] {
        5061
    } else {
        5060
    };
    let port = match port {
        None => default_port,
        Some(p) => p.parse::<u16>().map_err(|_| bad("invalid port"))?,
    };
    transports.dedup();
    Ok(transports
        .into_iter()
        .map(|transport| BindSpec {
            transport,
            addr: SocketAddr::new(ip, port),
        })
        .collect())
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    if s.len() >= prefix.len() && s[..prefix.len()].eq_ignore_ascii_case(prefix) {
        Some(&s[prefix.len()..])
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn specs(name: &str) -> Vec<(Transport, String)> {
        parse_bind(name)
            .unwrap()
            .into_iter()
            .map(|b| (b.transport, b.addr.to_string()))
            .collect()
    }

    #[test]
    fn sofia_style_names() {
        assert_eq!(
            specs("sip:*:5060"),
            vec![
                (Transport::Udp, "0.0.0.0:5060".into()),
                (Transport::Tcp, "0.0.0.0:5060".into())
            ]
        );
        assert_eq!(
            specs("sip:127.0.0.1:5060;transport=udp"),
            vec![(Transport::Udp, "127.0.0.1:5060".into())]
        );
        assert_eq!(
            specs("sips:*:5061"),
            vec![(Transport::Tls, "0.0.0.0:5061".into())]
        );
        assert_eq!(
            specs("sip:[::1]:5060;transport=tcp"),
            vec![(Transport::Tcp, "[::1]:5060".into())]
        );
        assert_eq!(specs("sip:127.0.0.1"), specs("sip:127.0.0.1:5060"));
        assert_eq!(
            specs("sip:127.0.0.1;transport=tls"),
            vec![(Transport::Tls, "127.0.0.1:5061".into())]
        );
        assert_eq!(specs("SIP:[*]:0;transport=udp,tcp").len(), 2);
    }

    #[test]
    fn bad_names_say_why() {
        for name in [
            "http:*:80",
            "sip:host.example.com:5060",
            "sip:127.0.0.1:99999",
            "sip:[::1:5060",
            "sip:127.0.0.1;transport=sctp",
            "sips:*:5061;transport=udp",
            "sip:127.0.0.1;lr",
        ] {
            let e = parse_bind(name).unwrap_err();
            assert!(e.to_string().contains(name), "{e}");
        }
    }
}
