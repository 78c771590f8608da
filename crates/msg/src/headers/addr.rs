//! Address headers: `name-addr` / `addr-spec` with parameters (RFC 3261 §25.1):
//! From, To, Contact, Route, Record-Route, Reply-To, Path (RFC 3327),
//! Service-Route (RFC 3608), Refer-To (RFC 3515), Referred-By (RFC 3892),
//! P-Asserted-Identity and P-Preferred-Identity (RFC 3325).

use super::{HeaderError, newtype_header};
use crate::bnf::{is_lws, is_token, quoted_len, trim_lws, trim_lws_start, unquote};
use crate::params::{Params, check_header_params};
use crate::uri::Uri;

/// An address: optional display name, a URI, and header parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NameAddr<'a> {
    display: Option<&'a str>,
    uri: Uri<'a>,
    angle: bool,
    params: Params<'a>,
}

impl<'a> NameAddr<'a> {
    /// Parses `[display-name] <uri> *(;param)` or `addr-spec *(;param)`. In the
    /// addr-spec form the URI ends at the first `;` (its parameters are header
    /// parameters) and may not contain `,` or `?` (RFC 3261 §20.10).
    pub fn parse(value: &'a str) -> Result<NameAddr<'a>, HeaderError> {
        let v = trim_lws(value);
        let b = v.as_bytes();
        let (display, after_display) = if b.first() == Some(&b'"') {
            let len = quoted_len(b).ok_or(HeaderError("unterminated quoted display name"))?;
            let rest = trim_lws_start(&v[len..]);
            if !rest.starts_with('<') {
                return Err(HeaderError("display name without <URI>"));
            }
            (Some(&v[..len]), rest)
        } else {
            // *(token LWS) before '<', or an addr-spec.
            match v.find('<') {
                Some(lt) => {
                    let name = trim_lws(&v[..lt]);
                    if !name.bytes().all(|c| is_token(c) || is_lws(c)) {
                        return Err(HeaderError("invalid characters in unquoted display name"));
                    }
                    let display = if name.is_empty() { None } else { Some(name) };
                    (display, &v[lt..])
                }
                None => {
                    // addr-spec form.
                    let end = v
                        .bytes()
                        .position(|c| c == b';' || is_lws(c))
                        .unwrap_or(v.len());
                    let uri_text = &v[..end];
                    if uri_text.contains(['?', ',']) {
                        return Err(HeaderError("URI with '?' or ',' must be in <>"));
                    }
                    let uri = Uri::parse(uri_text).map_err(|_| HeaderError("invalid URI"))?;
                    let rest = trim_lws_start(&v[end..]);
                    let params = parse_trailing_params(rest)?;
                    return Ok(NameAddr {
                        display: None,
                        uri,
                        angle: false,
                        params,
                    });
                }
            }
        };
        let inner = &after_display[1..];
        let gt = inner.find('>').ok_or(HeaderError("missing '>'"))?;
        let uri = Uri::parse(&inner[..gt]).map_err(|_| HeaderError("invalid URI"))?;
        let rest = trim_lws_start(&inner[gt + 1..]);
        let params = parse_trailing_params(rest)?;
        Ok(NameAddr {
            display,
            uri,
            angle: true,
            params,
        })
    }

    /// The display name as written (quoted ones keep their quotes).
    pub fn display_raw(&self) -> Option<&'a str> {
        self.display
    }
    /// The display name with quotes and escapes removed.
    pub fn display_name(&self) -> Option<std::borrow::Cow<'a, str>> {
        self.display.map(|d| {
            if d.starts_with('"') {
                unquote(&d[1..d.len() - 1])
            } else {
                std::borrow::Cow::Borrowed(d)
            }
        })
    }
    /// The URI.
    pub fn uri(&self) -> &Uri<'a> {
        &self.uri
    }
    /// True when the URI was written in angle brackets.
    pub fn is_name_addr(&self) -> bool {
        self.angle
    }
    /// The header parameters after the address.
    pub fn params(&self) -> Params<'a> {
        self.params
    }
    /// The `tag` parameter (From and To).
    pub fn tag(&self) -> Option<&'a str> {
        self.params.get("tag").flatten()
    }
    /// The `expires` parameter (Contact), when a valid number.
    pub fn expires(&self) -> Option<u32> {
        self.params
            .get("expires")
            .flatten()
            .and_then(|e| crate::bnf::parse_u32_max(e, u32::MAX))
    }
    /// The `q` parameter (Contact), in thousandths (`q=0.5` is 500).
    pub fn q(&self) -> Option<u16> {
        self.params.get("q").flatten().and_then(parse_qvalue)
    }
}

/// Parses a qvalue (`0`, `0.5`, `1.000`) into thousandths.
pub fn parse_qvalue(q: &str) -> Option<u16> {
    let (int, frac) = match q.find('.') {
        Some(d) => (&q[..d], &q[d + 1..]),
        None => (q, ""),
    };
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut thousandths: u16 = 0;
    for (i, b) in frac.bytes().enumerate() {
        thousandths += u16::from(b - b'0') * [100, 10, 1][i];
    }
    match int {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

fn parse_trailing_params(rest: &str) -> Result<Params<'_>, HeaderError> {
    if rest.is_empty() {
        return Ok(Params::header(""));
    }
    let p = rest
        .strip_prefix(';')
        .ok_or(HeaderError("unexpected text after address"))?;
    check_header_params(p).map_err(HeaderError)?;
    Ok(Params::header(p))
}

newtype_header!(
    /// `From` (RFC 3261 §20.20).
    From, NameAddr, From);
newtype_header!(
    /// `To` (RFC 3261 §20.39).
    To, NameAddr, To);
newtype_header!(
    /// `Route` (RFC 3261 §20.34), one element of the list.
    Route, NameAddr, Route);
newtype_header!(
    /// `Record-Route` (RFC 3261 §20.30), one element of the list.
    RecordRoute, NameAddr, RecordRoute);
newtype_header!(
    /// `Reply-To` (RFC 3261 §20.31).
    ReplyTo, NameAddr, ReplyTo);
newtype_header!(
    /// `Path` (RFC 3327), one element of the list.
    Path, NameAddr, Path);
newtype_header!(
    /// `Service-Route` (RFC 3608), one element of the list.
    ServiceRoute, NameAddr, ServiceRoute);
newtype_header!(
    /// `Refer-To` (RFC 3515).
    ReferTo, NameAddr, ReferTo);
newtype_header!(
    /// `Referred-By` (RFC 3892).
    ReferredBy, NameAddr, ReferredBy);
newtype_header!(
    /// `P-Asserted-Identity` (RFC 3325), one element of the list.
    PAssertedIdentity, NameAddr, PAssertedIdentity);
newtype_header!(
    /// `P-Preferred-Identity` (RFC 3325), one element of the list.
    PPreferredIdentity, NameAddr, PPreferredIdentity);

/// One `Contact` value (RFC 3261 §20.10): an address, or `*` (only valid in a
/// REGISTER with `Expires: 0`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Contact<'a> {
    /// `Contact: *`
    Star,
    /// An address with its parameters (`expires`, `q`, ...).
    Addr(NameAddr<'a>),
}

impl<'a> Contact<'a> {
    /// The address, unless this is `*`.
    pub fn addr(&self) -> Option<&NameAddr<'a>> {
        match self {
            Contact::Star => None,
            Contact::Addr(a) => Some(a),
        }
    }
}

impl<'a> super::TypedHeader<'a> for Contact<'a> {
    const NAME: crate::HeaderName = crate::HeaderName::Contact;
    fn parse(value: &'a str) -> Result<Self, HeaderError> {
        if trim_lws(value) == "*" {
            Ok(Contact::Star)
        } else {
            NameAddr::parse(value).map(Contact::Addr)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let a = NameAddr::parse(
            "\"J Rosenberg \\\\\\\"\"       <sip:jdrosen@example.com>\r\n  ;\r\n  tag = 98asjd8",
        )
        .unwrap();
        assert_eq!(a.display_name().unwrap(), "J Rosenberg \\\"");
        assert_eq!(a.tag(), Some("98asjd8"));
        assert_eq!(a.uri().host(), "example.com");
        let a =
            NameAddr::parse("sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n").unwrap();
        assert!(!a.is_name_addr());
        assert_eq!(a.tag(), Some("1918181833n"));
        let a = NameAddr::parse("caller<sip:caller@example.com>;tag=323").unwrap();
        assert_eq!(a.display_raw(), Some("caller"));
        let a = NameAddr::parse("Bob Smith <sip:bob@biloxi.com>;q=0.7;expires=3600").unwrap();
        assert_eq!(a.q(), Some(700));
        assert_eq!(a.expires(), Some(3600));
        let a = NameAddr::parse("sip:+19725552222@gw1.example.net;unknownparam").unwrap();
        assert!(a.params().contains("unknownparam"));
        assert_eq!(a.uri().user(), Some("+19725552222"));
    }

    #[test]
    fn rejects() {
        assert!(NameAddr::parse("\"Mr. J. User <sip:j.user@example.com>").is_err());
        assert!(NameAddr::parse("Bell, Alexander <sip:a.g.bell@bell-tel.com>;tag=43").is_err());
        assert!(NameAddr::parse("sip:user@example.com?Route=%3Csip:sip.example.com%3E").is_err());
        assert!(NameAddr::parse("sip:user@example.com junk").is_err());
        assert!(NameAddr::parse("<sip:user@example.com").is_err());
        assert!(NameAddr::parse("<sip:user@example.com> junk").is_err());
        assert!(NameAddr::parse("<sip:user@example.com>;;").is_err());
        assert!(NameAddr::parse("\"Joe\" <sip:joe@example.org>;;;;").is_err());
        assert!(NameAddr::parse("").is_err());
    }

    #[test]
    fn qvalues() {
        assert_eq!(parse_qvalue("0.33"), Some(330));
        assert_eq!(parse_qvalue("1"), Some(1000));
        assert_eq!(parse_qvalue("1.0"), Some(1000));
        assert_eq!(parse_qvalue("1.5"), None);
        assert_eq!(parse_qvalue("0.1234"), None);
    }
}
