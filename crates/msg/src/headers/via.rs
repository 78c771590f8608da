//! `Via` (RFC 3261 §20.42, RFC 3581 `rport`).

use super::{HeaderError, TypedHeader};
use crate::bnf::{is_token, is_token_str, trim_lws, trim_lws_start};
use crate::name::HeaderName;
use crate::params::{Params, check_header_params_each};

/// One `Via` value: `SIP/2.0/UDP host:port;branch=...`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Via<'a> {
    protocol: &'a str,
    version: &'a str,
    transport: &'a str,
    host: &'a str,
    port: Option<u16>,
    params: Params<'a>,
}

/// Splits a token at the start of `s` (after white space); returns it and the rest.
fn token(s: &str) -> (&str, &str) {
    let s = trim_lws_start(s);
    let end = s.bytes().position(|b| !is_token(b)).unwrap_or(s.len());
    (&s[..end], &s[end..])
}

fn slash(s: &str) -> Result<&str, HeaderError> {
    trim_lws_start(s)
        .strip_prefix('/')
        .ok_or(HeaderError("expected '/' in sent-protocol"))
}

impl<'a> Via<'a> {
    /// Parses one Via value.
    pub fn parse(value: &'a str) -> Result<Via<'a>, HeaderError> {
        Via::parse_with_params(value, |_, _| {})
    }

    /// [`Via::parse`], handing each parameter's name and value (as
    /// [`Params::iter`] reads them) to `each` during the parse's own pass
    /// over them, so that a caller that needs several of them (a
    /// transaction layer: `rport`, `received`, `maddr`) reads them without
    /// a second pass. When the parse fails, what `each` saw is to be
    /// discarded.
    pub fn parse_with_params(
        value: &'a str,
        mut each: impl FnMut(&'a str, Option<&'a str>),
    ) -> Result<Via<'a>, HeaderError> {
        let (protocol, rest) = token(value);
        let (version, rest) = token(slash(rest)?);
        let (transport, rest) = token(slash(rest)?);
        if protocol.is_empty() || version.is_empty() || transport.is_empty() {
            return Err(HeaderError("invalid sent-protocol"));
        }
        let rest = trim_lws_start(rest);
        let (sent_by, params) = match crate::bnf::find_unquoted(rest.as_bytes(), b';', false) {
            Ok(Some(i)) => (trim_lws(&rest[..i]), Some(&rest[i + 1..])),
            Ok(None) => (trim_lws(rest), None),
            Err(_) => return Err(HeaderError("unbalanced quotes")),
        };
        let (host, port) = if sent_by.starts_with('[') {
            let close = sent_by
                .find(']')
                .ok_or(HeaderError("invalid sent-by host"))?;
            (&sent_by[..=close], &sent_by[close + 1..])
        } else {
            match sent_by.find(':') {
                Some(c) => (&sent_by[..c], &sent_by[c..]),
                None => (sent_by, ""),
            }
        };
        let host = trim_lws(host);
        if !crate::uri::valid_host(host) {
            return Err(HeaderError("invalid sent-by host"));
        }
        let port = trim_lws(port);
        let port = if port.is_empty() {
            None
        } else {
            let p = trim_lws(&port[1..]);
            if p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) {
                return Err(HeaderError("invalid sent-by port"));
            }
            Some(
                p.parse::<u16>()
                    .map_err(|_| HeaderError("invalid sent-by port"))?,
            )
        };
        // The first branch and rport (what `Params::get` returns) are
        // checked in the same pass as the parameters' syntax; their errors
        // come after the syntax's, as from separate passes.
        let (mut branch, mut rport) = (None, None);
        let params = match params {
            Some(p) => {
                check_header_params_each(p, |name, value| {
                    each(name, value);
                    if branch.is_none() && name.eq_ignore_ascii_case("branch") {
                        branch = Some(value);
                    } else if rport.is_none() && name.eq_ignore_ascii_case("rport") {
                        rport = Some(value);
                    }
                })
                .map_err(HeaderError)?;
                p
            }
            None => "",
        };
        if params.bytes().any(|b| b == b',') && !params.contains('"') {
            return Err(HeaderError("unexpected ',' in Via parameters"));
        }
        let via = Via {
            protocol,
            version,
            transport,
            host,
            port,
            params: Params::header(params),
        };
        if let Some(b) = branch
            && !b.is_some_and(is_token_str)
        {
            return Err(HeaderError("invalid branch parameter"));
        }
        if let Some(Some(r)) = rport
            && r.parse::<u16>().is_err()
        {
            return Err(HeaderError("invalid rport parameter"));
        }
        Ok(via)
    }

    /// The protocol name (`SIP`).
    pub fn protocol(&self) -> &'a str {
        self.protocol
    }
    /// The protocol version (`2.0`).
    pub fn version(&self) -> &'a str {
        self.version
    }
    /// The transport (`UDP`, `TCP`, `TLS`, `SCTP`, `WS`, or any other token).
    pub fn transport(&self) -> &'a str {
        self.transport
    }
    /// The sent-by host (IPv6 references keep their brackets).
    pub fn host(&self) -> &'a str {
        self.host
    }
    /// The sent-by port, when given.
    pub fn port(&self) -> Option<u16> {
        self.port
    }
    /// All parameters.
    pub fn params(&self) -> Params<'a> {
        self.params
    }
    /// The `branch` parameter.
    pub fn branch(&self) -> Option<&'a str> {
        self.params.get("branch").flatten()
    }
    /// True when the branch starts with RFC 3261's magic cookie `z9hG4bK`.
    pub fn has_rfc3261_branch(&self) -> bool {
        self.branch()
            .is_some_and(|b| b.starts_with(crate::BRANCH_COOKIE))
    }
    /// The `received` parameter.
    pub fn received(&self) -> Option<&'a str> {
        self.params.get("received").flatten()
    }
    /// The `rport` parameter: `Some(None)` when present without a value
    /// (a request for symmetric response routing, RFC 3581).
    pub fn rport(&self) -> Option<Option<u16>> {
        self.params
            .get("rport")
            .map(|v| v.and_then(|p| p.parse().ok()))
    }
    /// The `maddr` parameter.
    pub fn maddr(&self) -> Option<&'a str> {
        self.params.get("maddr").flatten()
    }
    /// The `ttl` parameter.
    pub fn ttl(&self) -> Option<u8> {
        self.params
            .get("ttl")
            .flatten()
            .and_then(|t| t.parse().ok())
    }
}

impl<'a> TypedHeader<'a> for Via<'a> {
    const NAME: HeaderName = HeaderName::Via;
    fn parse(value: &'a str) -> Result<Self, HeaderError> {
        Via::parse(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_and_tortuous() {
        let v = Via::parse("SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bK776asdhds").unwrap();
        assert_eq!(v.transport(), "UDP");
        assert_eq!(v.host(), "pc33.atlanta.com");
        assert_eq!(v.port(), None);
        assert!(v.has_rfc3261_branch());
        let v = Via::parse("SIP  /   2.0\r\n /UDP\r\n    192.0.2.2;branch=390skdjuw").unwrap();
        assert_eq!(v.version(), "2.0");
        assert_eq!(v.host(), "192.0.2.2");
        assert_eq!(v.branch(), Some("390skdjuw"));
        assert!(!v.has_rfc3261_branch());
        let v = Via::parse(
            "SIP  / 2.0  / TCP     spindle.example.com   ;\r\n  branch  =   z9hG4bK9ikj8",
        )
        .unwrap();
        assert_eq!(v.transport(), "TCP");
        assert_eq!(v.branch(), Some("z9hG4bK9ikj8"));
        let v = Via::parse("SIP/2.0/TCP [2001:db8::9:1]:5061;rport;received=[2001:db8::9:255]")
            .unwrap();
        assert_eq!(v.host(), "[2001:db8::9:1]");
        assert_eq!(v.port(), Some(5061));
        assert_eq!(v.rport(), Some(None));
        assert_eq!(v.received(), Some("[2001:db8::9:255]"));
    }

    #[test]
    fn rejects() {
        assert!(Via::parse("SIP/2.0 host").is_err());
        assert!(Via::parse("SIP/2.0/UDP").is_err());
        assert!(Via::parse("SIP/2.0/UDP host:99999").is_err());
        assert!(Via::parse("SIP/2.0/UDP 192.0.2.15;;,;,,").is_err());
        assert!(Via::parse("SIP/2.0/UDP host;branch").is_err());
        assert!(Via::parse("SIP/2.0/UDP host;rport=x").is_err());
    }
}
