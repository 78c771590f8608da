//! URIs: `sip:`, `sips:` (RFC 3261 §19.1), `tel:` (RFC 3966), and any other
//! absolute URI kept opaque. Parsing borrows from the input; nothing is copied.

use crate::bnf::hex_val;
use crate::params::Params;

/// A URI scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// `sip:`
    Sip,
    /// `sips:`
    Sips,
    /// `tel:` (RFC 3966)
    Tel,
    /// Any other scheme; the URI is kept opaque.
    Other,
}

impl Scheme {
    /// The scheme of that name (ignoring case).
    fn of(name: &str) -> Scheme {
        if name.eq_ignore_ascii_case("sip") {
            Scheme::Sip
        } else if name.eq_ignore_ascii_case("sips") {
            Scheme::Sips
        } else if name.eq_ignore_ascii_case("tel") {
            Scheme::Tel
        } else {
            Scheme::Other
        }
    }
}

/// Why a URI does not parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum UriError {
    /// No `scheme:` prefix, or a scheme with characters outside RFC 3986's.
    #[error("missing or invalid scheme")]
    Scheme,
    /// The host is missing or not a valid name, IPv4 or IPv6 reference.
    #[error("invalid host")]
    Host,
    /// The port is not a number from 0 to 65535.
    #[error("invalid port")]
    Port,
    /// A character not allowed in that part of the URI (white space,
    /// an unescaped `<`, ...).
    #[error("invalid character in URI")]
    Char,
    /// A `%` not followed by two hex digits where an escape is required.
    #[error("invalid %-escape")]
    Escape,
    /// The user part is empty or invalid.
    #[error("invalid user part")]
    User,
}

/// A parsed URI, borrowing from the text it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Uri<'a> {
    raw: &'a str,
    scheme: Scheme,
    scheme_str: &'a str,
    user: Option<&'a str>,
    password: Option<&'a str>,
    host: &'a str,
    port: Option<u16>,
    params: &'a str,
    headers: Option<&'a str>,
}

/// Character classes of RFC 3261 §25's URI grammar, one bit each, looked
/// up in [`CLASS`]: one load per byte instead of a search through each
/// part's list of allowed punctuation. URIs are parsed several times per
/// request (Request-URI, From, To), and the per-byte searches were most of
/// a stateful responder's URI parsing (callgrind).
const UNRESERVED: u16 = 1;
const USER: u16 = 2;
const PASSWORD: u16 = 4;
const PARAM: u16 = 8;
const HEADER: u16 = 16;
/// Never allowed after the scheme: controls, space, `<`, `>`, `"`, DEL.
const BAD: u16 = 32;
/// Alphanumerics and `-`: host name labels.
const LABEL: u16 = 64;
/// Alphanumerics and `+-.`: the scheme after its first letter.
const SCHEME: u16 = 128;
/// `@ : ; ?`: where the parts of a SIP URI end.
const SEP: u16 = 256;

const fn class_table() -> [u16; 256] {
    let mut t = [0u16; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        let alnum = b.is_ascii_alphanumeric();
        let mut k = 0;
        if alnum
            || matches!(
                b,
                b'-' | b'_' | b'.' | b'!' | b'~' | b'*' | b'\'' | b'(' | b')'
            )
        {
            k |= UNRESERVED;
        }
        if matches!(b, b'&' | b'=' | b'+' | b'$' | b',' | b';' | b'?' | b'/') {
            k |= USER;
        }
        if matches!(b, b'&' | b'=' | b'+' | b'$' | b',') {
            k |= PASSWORD;
        }
        if matches!(
            b,
            b'[' | b']' | b'/' | b':' | b'&' | b'+' | b'$' | b';' | b'='
        ) {
            k |= PARAM;
        }
        if matches!(
            b,
            b'[' | b']' | b'/' | b'?' | b':' | b'+' | b'$' | b'&' | b'='
        ) {
            k |= HEADER;
        }
        // Non-ASCII bytes (UTF-8) are allowed wherever escapes are.
        if b >= 0x80 {
            k |= UNRESERVED;
        }
        if b <= b' ' || matches!(b, b'<' | b'>' | b'"' | 0x7f) {
            k |= BAD;
        }
        if alnum || b == b'-' {
            k |= LABEL;
        }
        if alnum || matches!(b, b'+' | b'-' | b'.') {
            k |= SCHEME;
        }
        if matches!(b, b'@' | b':' | b';' | b'?') {
            k |= SEP;
        }
        t[i] = k;
        i += 1;
    }
    t
}

static CLASS: [u16; 256] = class_table();

#[inline]
fn class(b: u8) -> u16 {
    CLASS[b as usize]
}

/// Checks a part made of unreserved characters, `%HH` escapes and the
/// characters of class `extra`.
fn check_chars(s: &str, extra: u16) -> Result<(), UriError> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        i += char_len(b, i, extra)?;
    }
    Ok(())
}

/// The length of the character or `%HH` escape at `b[i]`, in a part of
/// unreserved characters, escapes and the characters of class `extra`.
#[inline]
fn char_len(b: &[u8], i: usize, extra: u16) -> Result<usize, UriError> {
    if b[i] == b'%' {
        return if i + 2 < b.len() && hex_val(b[i + 1]).is_some() && hex_val(b[i + 2]).is_some() {
            Ok(3)
        } else {
            Err(UriError::Escape)
        };
    }
    if class(b[i]) & (UNRESERVED | extra) == 0 {
        return Err(UriError::Char);
    }
    Ok(1)
}

/// For a text of digits and dots, whether `str::parse::<Ipv4Addr>` would
/// accept it (four parts of one to three digits, each at most 255, without
/// leading zeros); `None` for a text with any other byte (a host name). One
/// pass, a tenth of the std parser's cost (callgrind): hosts are checked
/// several times per message (Via, Request-URI, From, To).
fn dotted_quad(b: &[u8]) -> Option<bool> {
    let part_ok = |len: u32, value: u32, first: u8| {
        (1..=3).contains(&len) && !(len > 1 && first == 0) && value <= 255
    };
    let (mut ok, mut dots, mut len, mut value, mut first) = (true, 0u32, 0u32, 0u32, 0u8);
    for &c in b {
        let d = c.wrapping_sub(b'0');
        if d < 10 {
            if len == 0 {
                first = d;
            }
            if len < 3 {
                value = value * 10 + u32::from(d);
            }
            len = len.saturating_add(1);
        } else if c == b'.' {
            ok &= part_ok(len, value, first);
            dots += 1;
            (len, value) = (0, 0);
        } else {
            return None;
        }
    }
    Some(ok && dots == 3 && part_ok(len, value, first))
}

/// `hostname / IPv4address / IPv6reference` (RFC 3261 §25.1).
pub(crate) fn valid_host(host: &str) -> bool {
    let b = host.as_bytes();
    match b.first() {
        None => return false,
        Some(b'[') => {
            return b.len() > 2
                && b[b.len() - 1] == b']'
                && host[1..host.len() - 1]
                    .parse::<std::net::Ipv6Addr>()
                    .is_ok();
        }
        // A text of digits and dots only is an IPv4 address.
        Some(c) if c.is_ascii_digit() => {
            if let Some(ok) = dotted_quad(b) {
                return ok;
            }
        }
        Some(_) => {}
    }
    // hostname = *( domainlabel "." ) toplabel [ "." ], labels of
    // alphanumerics and inner hyphens, in one pass.
    // The byte before; a dot before the first label.
    let mut prev = b'.';
    for &c in b {
        if c == b'.' {
            if prev == b'.' || prev == b'-' {
                return false;
            }
        } else if class(c) & LABEL == 0 || (c == b'-' && prev == b'.') {
            return false;
        }
        prev = c;
    }
    prev != b'-'
}

/// URI parameters (the text after the first `;`, without it): empty ones
/// are skipped, one starting with `=` has no name, and the rest are
/// unreserved characters, escapes and `[]/:&+$=`; in one pass.
fn check_params(params: &str) -> Result<(), UriError> {
    let b = params.as_bytes();
    let mut i = 0;
    let mut param_start = true;
    while i < b.len() {
        let c = b[i];
        if c == b';' {
            param_start = true;
            i += 1;
            continue;
        }
        if c == b'=' && param_start {
            return Err(UriError::Char);
        }
        param_start = false;
        i += char_len(b, i, PARAM)?;
    }
    Ok(())
}

/// Where the parts of a `sip:` or `sips:` URI end, as offsets in the text
/// after the scheme, found in one pass that also rejects the bytes no URI
/// has (controls, space, `<`, `>`, `"`, DEL). Finding each part with its
/// own search was most of the URI parse (callgrind).
#[derive(Debug, Default)]
struct SipMarks {
    /// The first `@`: the end of the userinfo.
    at: Option<usize>,
    /// The first `:` before that `@`: the end of the user.
    user_colon: Option<usize>,
    /// The last `:` of the host and port (after the `@`, before `;` and `?`).
    port_colon: Option<usize>,
    /// The first `;` after the `@` and before `?`: the parameters.
    semi: Option<usize>,
    /// The first `?` after the `@`: the headers.
    question: Option<usize>,
}

impl SipMarks {
    fn scan(rest: &[u8]) -> Result<SipMarks, UriError> {
        let mut m = SipMarks::default();
        for (i, &c) in rest.iter().enumerate() {
            let k = class(c);
            if k & (BAD | SEP) == 0 {
                continue;
            }
            if k & BAD != 0 {
                return Err(UriError::Char);
            }
            match c {
                b'@' if m.at.is_none() => {
                    // What came before was the userinfo.
                    m.at = Some(i);
                    (m.port_colon, m.semi, m.question) = (None, None, None);
                }
                b':' => {
                    if m.at.is_none() && m.user_colon.is_none() {
                        m.user_colon = Some(i);
                    }
                    if m.semi.is_none() && m.question.is_none() {
                        m.port_colon = Some(i);
                    }
                }
                b';' if m.semi.is_none() && m.question.is_none() => m.semi = Some(i),
                b'?' if m.question.is_none() => m.question = Some(i),
                _ => {}
            }
        }
        if m.at.is_none() {
            m.user_colon = None;
        }
        Ok(m)
    }
}

/// Position of the first `c` in a short text: a byte loop, without the
/// vector set-up of `str::find`, which costs more than it saves on the
/// tens of bytes of a URI.
#[inline]
fn pos(s: &str, c: u8) -> Option<usize> {
    s.bytes().position(|b| b == c)
}

impl<'a> Uri<'a> {
    /// Parses a URI. `sip:`/`sips:` and `tel:` are parsed into parts; any other
    /// scheme is checked only for a valid scheme and the absence of white space
    /// and angle brackets, and kept opaque.
    pub fn parse(s: &'a str) -> Result<Uri<'a>, UriError> {
        let colon = pos(s, b':').ok_or(UriError::Scheme)?;
        let scheme_str = &s[..colon];
        let sb = scheme_str.as_bytes();
        if sb.is_empty()
            || !sb[0].is_ascii_alphabetic()
            || !sb.iter().all(|&c| class(c) & SCHEME != 0)
        {
            return Err(UriError::Scheme);
        }
        let scheme = Scheme::of(scheme_str);
        let rest = &s[colon + 1..];
        // A SIP URI is checked for bytes no URI has in the pass that finds
        // its parts.
        if !matches!(scheme, Scheme::Sip | Scheme::Sips)
            && rest.bytes().any(|c| class(c) & BAD != 0)
        {
            return Err(UriError::Char);
        }
        let mut uri = Uri {
            raw: s,
            scheme,
            scheme_str,
            user: None,
            password: None,
            host: "",
            port: None,
            params: "",
            headers: None,
        };
        match scheme {
            Scheme::Sip | Scheme::Sips => uri.parse_sip(rest)?,
            Scheme::Tel => uri.parse_tel(rest)?,
            Scheme::Other => {
                if rest.is_empty() {
                    return Err(UriError::Char);
                }
            }
        }
        Ok(uri)
    }

    fn parse_sip(&mut self, rest: &'a str) -> Result<(), UriError> {
        let m = SipMarks::scan(rest.as_bytes())?;
        // userinfo ends at the first '@' (it cannot contain an unescaped one).
        let hostpart_start = match m.at {
            Some(at) => {
                let (user, password) = match m.user_colon {
                    Some(c) => (&rest[..c], Some(&rest[c + 1..at])),
                    None => (&rest[..at], None),
                };
                if user.is_empty() {
                    return Err(UriError::User);
                }
                check_chars(user, USER)?;
                if let Some(p) = password {
                    check_chars(p, PASSWORD)?;
                }
                self.user = Some(user);
                self.password = password;
                at + 1
            }
            None => 0,
        };
        let (hostpart, headers) = match m.question {
            Some(q) => (&rest[hostpart_start..q], Some(&rest[q + 1..])),
            None => (&rest[hostpart_start..], None),
        };
        let (hostport, params) = match m.semi {
            Some(p) => (
                &rest[hostpart_start..p],
                &hostpart[p - hostpart_start + 1..],
            ),
            None => (hostpart, ""),
        };
        let (host, port) = if hostport.starts_with('[') {
            let close = pos(hostport, b']').ok_or(UriError::Host)?;
            let after = &hostport[close + 1..];
            let port = match after.strip_prefix(':') {
                Some(p) => Some(p),
                None if after.is_empty() => None,
                None => return Err(UriError::Host),
            };
            (&hostport[..close + 1], port)
        } else {
            match m.port_colon {
                Some(c) => (
                    &rest[hostpart_start..c],
                    Some(&rest[c + 1..hostpart_start + hostport.len()]),
                ),
                None => (hostport, None),
            }
        };
        if !valid_host(host) {
            return Err(UriError::Host);
        }
        self.host = host;
        if let Some(port) = port {
            if port.is_empty() || port.len() > 5 || !port.bytes().all(|b| b.is_ascii_digit()) {
                return Err(UriError::Port);
            }
            let n = port.bytes().fold(0u32, |n, d| n * 10 + u32::from(d - b'0'));
            self.port = Some(u16::try_from(n).map_err(|_| UriError::Port)?);
        }
        check_params(params)?;
        self.params = params;
        if let Some(h) = headers {
            check_chars(h, HEADER)?;
            self.headers = Some(h);
        }
        Ok(())
    }

    fn parse_tel(&mut self, rest: &'a str) -> Result<(), UriError> {
        let (number, params) = match rest.find(';') {
            Some(p) => (&rest[..p], &rest[p + 1..]),
            None => (rest, ""),
        };
        let digits = number.strip_prefix('+').unwrap_or(number);
        let ok_char = |c: u8| c.is_ascii_hexdigit() || b"*#-.()pPwW".contains(&c);
        if digits.is_empty() || !digits.bytes().all(ok_char) {
            return Err(UriError::User);
        }
        check_params(params)?;
        self.user = Some(number);
        self.params = params;
        Ok(())
    }

    /// The URI as written.
    pub fn as_str(&self) -> &'a str {
        self.raw
    }
    /// The scheme.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }
    /// The scheme as written (`sip`, `SIP`, `mailto`).
    pub fn scheme_str(&self) -> &'a str {
        self.scheme_str
    }
    /// True for `sip:` and `sips:`.
    pub fn is_sip(&self) -> bool {
        matches!(self.scheme, Scheme::Sip | Scheme::Sips)
    }
    /// The user part, still %-escaped (for `tel:`, the number).
    pub fn user(&self) -> Option<&'a str> {
        self.user
    }
    /// The password, still %-escaped.
    pub fn password(&self) -> Option<&'a str> {
        self.password
    }
    /// The host: a name, an IPv4 address or a bracketed IPv6 reference. Empty for
    /// `tel:` and opaque URIs.
    pub fn host(&self) -> &'a str {
        self.host
    }
    /// The port, when one is given.
    pub fn port(&self) -> Option<u16> {
        self.port
    }
    /// The URI parameters (`;transport=tcp;lr`).
    pub fn params(&self) -> Params<'a> {
        Params::uri(self.params)
    }
    /// A URI parameter's value: `Some(Some(v))` for `name=v`, `Some(None)` for a
    /// bare `name`, `None` when absent.
    pub fn param(&self, name: &str) -> Option<Option<&'a str>> {
        self.params().get(name)
    }
    /// The `transport` parameter.
    pub fn transport(&self) -> Option<&'a str> {
        self.param("transport").flatten()
    }
    /// The `user` parameter (`phone`, `ip`).
    pub fn user_param(&self) -> Option<&'a str> {
        self.param("user").flatten()
    }
    /// The `method` parameter.
    pub fn method_param(&self) -> Option<&'a str> {
        self.param("method").flatten()
    }
    /// The `ttl` parameter, when a valid number 0..=255.
    pub fn ttl(&self) -> Option<u8> {
        self.param("ttl").flatten().and_then(|t| t.parse().ok())
    }
    /// The `maddr` parameter.
    pub fn maddr(&self) -> Option<&'a str> {
        self.param("maddr").flatten()
    }
    /// True when the `lr` parameter is present (a loose router, RFC 3261 §19.1.1).
    pub fn lr(&self) -> bool {
        self.param("lr").is_some()
    }
    /// The headers part after `?`, still escaped.
    pub fn headers(&self) -> Option<&'a str> {
        self.headers
    }
    /// The URI headers as `(name, escaped value)` pairs.
    pub fn header_pairs(&self) -> impl Iterator<Item = (&'a str, &'a str)> {
        self.headers
            .unwrap_or("")
            .split('&')
            .filter(|h| !h.is_empty())
            .map(|h| match h.find('=') {
                Some(e) => (&h[..e], &h[e + 1..]),
                None => (h, ""),
            })
    }

    /// RFC 3261 §19.1.4 comparison: schemes equal; user and password equal
    /// (case-sensitive, after unescaping); host equal ignoring case; ports equal
    /// (an absent port does not match an explicit default port); `user`, `ttl`,
    /// `method`, `maddr` and `transport` parameters equal when either URI has
    /// them; other parameters equal when both have them; headers equal. Other
    /// schemes compare byte for byte after the scheme (ignoring scheme case);
    /// `tel:` numbers compare ignoring visual separators.
    pub fn equivalent(&self, other: &Uri<'_>) -> bool {
        if self.scheme != other.scheme {
            return false;
        }
        match self.scheme {
            Scheme::Other => {
                return self.scheme_str.eq_ignore_ascii_case(other.scheme_str)
                    && self.raw[self.scheme_str.len()..] == other.raw[other.scheme_str.len()..];
            }
            Scheme::Tel => {
                let digits = |s: &str| -> Vec<u8> {
                    s.bytes()
                        .filter(|c| !b"-.()".contains(c))
                        .map(|c| c.to_ascii_lowercase())
                        .collect()
                };
                return digits(self.user.unwrap_or("")) == digits(other.user.unwrap_or(""))
                    && params_match(self.params(), other.params(), &[]);
            }
            Scheme::Sip | Scheme::Sips => {}
        }
        let opt_eq = |a: Option<&str>, b: Option<&str>| match (a, b) {
            (None, None) => true,
            (Some(a), Some(b)) => unescaped_eq(a, b, false),
            _ => false,
        };
        if !opt_eq(self.user, other.user) || !opt_eq(self.password, other.password) {
            return false;
        }
        if !self.host.eq_ignore_ascii_case(other.host) || self.port != other.port {
            return false;
        }
        if !params_match(
            self.params(),
            other.params(),
            &["user", "ttl", "method", "maddr", "transport"],
        ) {
            return false;
        }
        // Headers: every header in either must be in the other with an equal value.
        let contains = |a: &Uri<'_>, b: &Uri<'_>| {
            a.header_pairs().all(|(n, v)| {
                b.header_pairs()
                    .any(|(n2, v2)| unescaped_eq(n, n2, true) && unescaped_eq(v, v2, false))
            })
        };
        contains(self, other) && contains(other, self)
    }
}

/// Parameters match per §19.1.4: those named in `must` must appear in both or
/// neither; any parameter present in both must have equal values (ignoring case).
fn params_match(a: Params<'_>, b: Params<'_>, must: &[&str]) -> bool {
    for name in must {
        if a.get(name).is_some() != b.get(name).is_some() {
            return false;
        }
    }
    // The first occurrence of a name is its value (on both sides, so that the
    // comparison is symmetric and reflexive with repeated names).
    a.iter().all(|(n, _)| match (a.get(n), b.get(n)) {
        (_, None) | (None, _) => true,
        (Some(v), Some(v2)) => match (v, v2) {
            (None, None) => true,
            (Some(x), Some(y)) => unescaped_eq(x, y, true),
            _ => false,
        },
    })
}

/// Iterates the bytes of `s` with `%HH` escapes decoded.
fn unescaped(s: &str) -> impl Iterator<Item = u8> + '_ {
    let b = s.as_bytes();
    let mut i = 0;
    std::iter::from_fn(move || {
        let c = *b.get(i)?;
        if c == b'%'
            && let (Some(h), Some(l)) = (
                b.get(i + 1).copied().and_then(hex_val),
                b.get(i + 2).copied().and_then(hex_val),
            )
        {
            i += 3;
            return Some(h << 4 | l);
        }
        i += 1;
        Some(c)
    })
}

/// Compares two escaped strings after unescaping, optionally ignoring ASCII case.
pub(crate) fn unescaped_eq(a: &str, b: &str, ignore_case: bool) -> bool {
    let norm = |c: u8| {
        if ignore_case {
            c.to_ascii_lowercase()
        } else {
            c
        }
    };
    unescaped(a).map(norm).eq(unescaped(b).map(norm))
}

impl std::fmt::Display for Uri<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.raw)
    }
}

/// The straightforward parser this module's table-driven one replaced,
/// kept as the oracle of a differential test: both must give the same
/// parts and the same errors for every input.
#[cfg(test)]
mod reference {
    use super::{Scheme, Uri, UriError, hex_val};

    fn is_unreserved(b: u8) -> bool {
        b.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&b)
    }

    fn check_chars(s: &str, extra: &[u8]) -> Result<(), UriError> {
        let b = s.as_bytes();
        let mut i = 0;
        while i < b.len() {
            let c = b[i];
            if c == b'%' {
                if i + 2 < b.len() && hex_val(b[i + 1]).is_some() && hex_val(b[i + 2]).is_some() {
                    i += 3;
                    continue;
                }
                return Err(UriError::Escape);
            }
            if !(is_unreserved(c) || extra.contains(&c) || c >= 0x80) {
                return Err(UriError::Char);
            }
            i += 1;
        }
        Ok(())
    }

    pub(super) fn valid_host(host: &str) -> bool {
        let b = host.as_bytes();
        if b.is_empty() {
            return false;
        }
        if b[0] == b'[' {
            return b.len() > 2
                && b[b.len() - 1] == b']'
                && host[1..host.len() - 1]
                    .parse::<std::net::Ipv6Addr>()
                    .is_ok();
        }
        if b.iter().all(|c| c.is_ascii_digit() || *c == b'.') {
            return host.parse::<std::net::Ipv4Addr>().is_ok();
        }
        let name = host.strip_suffix('.').unwrap_or(host);
        !name.is_empty()
            && name.split('.').all(|label| {
                let l = label.as_bytes();
                !l.is_empty()
                    && l[0].is_ascii_alphanumeric()
                    && l[l.len() - 1].is_ascii_alphanumeric()
                    && l.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
            })
    }

    pub(super) fn parse(s: &str) -> Result<Uri<'_>, UriError> {
        let colon = s.find(':').ok_or(UriError::Scheme)?;
        let scheme_str = &s[..colon];
        let sb = scheme_str.as_bytes();
        if sb.is_empty()
            || !sb[0].is_ascii_alphabetic()
            || !sb
                .iter()
                .all(|c| c.is_ascii_alphanumeric() || b"+-.".contains(c))
        {
            return Err(UriError::Scheme);
        }
        let scheme = Scheme::of(scheme_str);
        let rest = &s[colon + 1..];
        if rest
            .bytes()
            .any(|c| c <= b' ' || c == b'<' || c == b'>' || c == b'"' || c == 0x7f)
        {
            return Err(UriError::Char);
        }
        let mut uri = Uri {
            raw: s,
            scheme,
            scheme_str,
            user: None,
            password: None,
            host: "",
            port: None,
            params: "",
            headers: None,
        };
        let params_ok = |params: &str| -> Result<(), UriError> {
            for p in params.split(';') {
                if p.starts_with('=') {
                    return Err(UriError::Char);
                }
                if !p.is_empty() {
                    check_chars(p, b"[]/:&+$;=")?;
                }
            }
            Ok(())
        };
        match scheme {
            Scheme::Sip | Scheme::Sips => {
                let (userinfo, hostpart) = match rest.find('@') {
                    Some(at) => (Some(&rest[..at]), &rest[at + 1..]),
                    None => (None, rest),
                };
                if let Some(userinfo) = userinfo {
                    let (user, password) = match userinfo.find(':') {
                        Some(c) => (&userinfo[..c], Some(&userinfo[c + 1..])),
                        None => (userinfo, None),
                    };
                    if user.is_empty() {
                        return Err(UriError::User);
                    }
                    check_chars(user, b"&=+$,;?/")?;
                    if let Some(p) = password {
                        check_chars(p, b"&=+$,")?;
                    }
                    uri.user = Some(user);
                    uri.password = password;
                }
                let (hostpart, headers) = match hostpart.find('?') {
                    Some(q) => (&hostpart[..q], Some(&hostpart[q + 1..])),
                    None => (hostpart, None),
                };
                let (hostport, params) = match hostpart.find(';') {
                    Some(p) => (&hostpart[..p], &hostpart[p + 1..]),
                    None => (hostpart, ""),
                };
                let (host, port) = if hostport.starts_with('[') {
                    let close = hostport.find(']').ok_or(UriError::Host)?;
                    let after = &hostport[close + 1..];
                    let port = match after.strip_prefix(':') {
                        Some(p) => Some(p),
                        None if after.is_empty() => None,
                        None => return Err(UriError::Host),
                    };
                    (&hostport[..close + 1], port)
                } else {
                    match hostport.rfind(':') {
                        Some(c) => (&hostport[..c], Some(&hostport[c + 1..])),
                        None => (hostport, None),
                    }
                };
                if !valid_host(host) {
                    return Err(UriError::Host);
                }
                uri.host = host;
                if let Some(port) = port {
                    if port.is_empty()
                        || port.len() > 5
                        || !port.bytes().all(|b| b.is_ascii_digit())
                    {
                        return Err(UriError::Port);
                    }
                    uri.port = Some(port.parse().map_err(|_| UriError::Port)?);
                }
                params_ok(params)?;
                uri.params = params;
                if let Some(h) = headers {
                    check_chars(h, b"[]/?:+$&=")?;
                    uri.headers = Some(h);
                }
            }
            Scheme::Tel => {
                let (number, params) = match rest.find(';') {
                    Some(p) => (&rest[..p], &rest[p + 1..]),
                    None => (rest, ""),
                };
                let digits = number.strip_prefix('+').unwrap_or(number);
                let ok_char = |c: u8| c.is_ascii_hexdigit() || b"*#-.()pPwW".contains(&c);
                if digits.is_empty() || !digits.bytes().all(ok_char) {
                    return Err(UriError::User);
                }
                params_ok(params)?;
                uri.user = Some(number);
                uri.params = params;
            }
            Scheme::Other => {
                if rest.is_empty() {
                    return Err(UriError::Char);
                }
            }
        }
        Ok(uri)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn dotted_quad_agrees_with_std() {
        for text in [
            "127.0.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "256.0.0.1",
            "1.2.3",
            "1.2.3.4.5",
            "01.2.3.4",
            "1.2.3.04",
            "1..3.4",
            ".1.2.3",
            "1.2.3.",
            "1000.1.1.1",
            "10.0.0.100",
            "",
            ".",
            "1.2.3.4.",
            "999.999.999.999",
            "00.0.0.0",
            "0.0.0.00",
            "1.2.3.99999999999999",
            "4294967296.1.1.1",
        ] {
            assert_eq!(
                dotted_quad(text.as_bytes()),
                Some(text.parse::<std::net::Ipv4Addr>().is_ok()),
                "{text:?}"
            );
        }
        // Other bytes: not an IPv4 address, a host name to check as one.
        for text in ["1and1.com", "127.0.0.1a", "1-2.example"] {
            assert_eq!(dotted_quad(text.as_bytes()), None, "{text:?}");
        }
    }

    use super::*;

    #[test]
    fn sip_parts() {
        let u = Uri::parse("sip:alice:secret@atlanta.com:5061;transport=tcp;lr?subject=project%20x&priority=urgent").unwrap();
        assert_eq!(u.scheme(), Scheme::Sip);
        assert_eq!(u.user(), Some("alice"));
        assert_eq!(u.password(), Some("secret"));
        assert_eq!(u.host(), "atlanta.com");
        assert_eq!(u.port(), Some(5061));
        assert_eq!(u.transport(), Some("tcp"));
        assert!(u.lr());
        assert_eq!(u.headers(), Some("subject=project%20x&priority=urgent"));
        assert_eq!(u.header_pairs().count(), 2);
    }

    #[test]
    fn hosts() {
        let u = Uri::parse("sips:[2001:db8::10]:5061").unwrap();
        assert_eq!(u.host(), "[2001:db8::10]");
        assert_eq!(u.port(), Some(5061));
        assert_eq!(Uri::parse("sip:[::1]").unwrap().host(), "[::1]");
        assert!(Uri::parse("sip:[2001:db8::10").is_err());
        assert!(Uri::parse("sip:[zz::1]").is_err());
        assert_eq!(Uri::parse("sip:192.0.2.1").unwrap().host(), "192.0.2.1");
        assert!(Uri::parse("sip:192.0.2.300").is_err());
        assert!(Uri::parse("sip:host:99999").is_err());
        assert!(Uri::parse("sip:host:").is_err());
        assert!(Uri::parse("sip:-bad-.com").is_err());
        assert!(Uri::parse("sip:user@").is_err());
        assert!(Uri::parse("sip:@host").is_err());
        assert!(Uri::parse("sip:user@host name").is_err());
        assert!(Uri::parse("sip:user@host.com.").is_ok());
    }

    #[test]
    fn semicolon_in_user_and_escapes() {
        let u = Uri::parse("sip:user;par=u%40example.net@example.com").unwrap();
        assert_eq!(u.user(), Some("user;par=u%40example.net"));
        assert_eq!(u.host(), "example.com");
        assert!(Uri::parse("sip:us%zzer@example.com").is_err());
        let u = Uri::parse("sip:%61lice@atlanta.com;transport=TCP").unwrap();
        assert!(u.equivalent(&Uri::parse("sip:alice@AtLanTa.CoM;Transport=tcp").unwrap()));
    }

    #[test]
    fn repeated_and_empty_params() {
        let u = Uri::parse("sip:a@b;x=1;x=2").unwrap();
        assert!(u.equivalent(&u));
        assert!(u.equivalent(&Uri::parse("sip:a@b;x=1").unwrap()));
        assert!(!u.equivalent(&Uri::parse("sip:a@b;x=2").unwrap()));
        assert!(Uri::parse("sip:b;=G").is_err());
        assert!(
            Uri::parse("sip:esp:user@host;param=%22ip:user)host;param=%22qxxxxx2")
                .is_ok_and(|u| u.equivalent(&u))
        );
        assert!(Uri::parse("tel:123;=x").is_err());
    }

    #[test]
    fn tel_and_opaque() {
        let u = Uri::parse("tel:+1-201-555-0123;phone-context=example.com").unwrap();
        assert_eq!(u.scheme(), Scheme::Tel);
        assert_eq!(u.user(), Some("+1-201-555-0123"));
        assert_eq!(u.param("phone-context"), Some(Some("example.com")));
        assert!(
            u.equivalent(&Uri::parse("tel:+1.201.555.0123;phone-context=example.com").unwrap())
        );
        let u = Uri::parse("mailto:alice@example.com").unwrap();
        assert_eq!(u.scheme(), Scheme::Other);
        assert_eq!(u.scheme_str(), "mailto");
        assert!(Uri::parse("soap.beep://192.0.2.103:3002").is_ok());
        assert!(Uri::parse("nocolon").is_err());
        assert!(Uri::parse("1x:foo").is_err());
        assert!(Uri::parse("tel:xyz;x").is_err());
    }

    /// RFC 3261 §19.1.4's examples.
    #[test]
    fn rfc3261_comparison_examples() {
        let eq = [
            (
                "sip:%61lice@atlanta.com;transport=TCP",
                "sip:alice@AtLanTa.CoM;Transport=tcp",
            ),
            ("sip:carol@chicago.com", "sip:carol@chicago.com;newparam=5"),
            ("sip:carol@chicago.com", "sip:carol@chicago.com;security=on"),
            (
                "sip:carol@chicago.com;newparam=5",
                "sip:carol@chicago.com;security=on",
            ),
            (
                "sip:biloxi.com;transport=tcp;method=REGISTER?to=sip:bob%40biloxi.com",
                "sip:biloxi.com;method=REGISTER;transport=tcp?to=sip:bob%40biloxi.com",
            ),
            (
                "sip:alice@atlanta.com?subject=project%20x&priority=urgent",
                "sip:alice@atlanta.com?priority=urgent&subject=project%20x",
            ),
        ];
        for (a, b) in eq {
            let (ua, ub) = (Uri::parse(a).unwrap(), Uri::parse(b).unwrap());
            assert!(ua.equivalent(&ub), "{a} == {b}");
            assert!(ub.equivalent(&ua), "{b} == {a}");
        }
        let ne = [
            (
                "SIP:ALICE@AtLanTa.CoM;Transport=udp",
                "sip:alice@AtLanTa.CoM;Transport=UDP",
            ),
            ("sip:bob@biloxi.com", "sip:bob@biloxi.com:5060"),
            ("sip:bob@biloxi.com", "sip:bob@biloxi.com;transport=udp"),
            (
                "sip:bob@biloxi.com",
                "sip:bob@biloxi.com:6000;transport=tcp",
            ),
            (
                "sip:carol@chicago.com",
                "sip:carol@chicago.com?Subject=next%20meeting",
            ),
            ("sip:bob@phone21.boxesbybob.com", "sip:bob@192.0.2.4"),
            (
                "sip:carol@chicago.com;security=on",
                "sip:carol@chicago.com;security=off",
            ),
        ];
        for (a, b) in ne {
            let (ua, ub) = (Uri::parse(a).unwrap(), Uri::parse(b).unwrap());
            assert!(!ua.equivalent(&ub), "{a} != {b}");
            assert!(!ub.equivalent(&ua), "{b} != {a}");
        }
    }

    /// Pieces URIs are made of, valid and not: the table-driven parser
    /// must agree with [`reference`] on every combination.
    fn uri_text() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let pieces = prop::sample::select(vec![
            "sip:",
            "SIPS:",
            "tel:",
            "mailto:",
            "x+y.z-1:",
            "1a:",
            ":",
            "alice",
            "a%41",
            "%4",
            "%zz",
            "%",
            "@",
            ":",
            ";",
            "=",
            "?",
            "&",
            "[",
            "]",
            "::1",
            "[::1]",
            "[fe80::1%25]",
            "127.0.0.1",
            "255.255.255.255",
            "256.1.1.1",
            "01.2.3.4",
            "1.2.3",
            "1.2.3.4.",
            "1..2",
            "example.com",
            "a-b.c",
            "-a.b",
            "a-.b",
            "a.b.",
            "a..b",
            "5060",
            "65535",
            "65536",
            "123456",
            "transport=tcp",
            "lr",
            "maddr=1.2.3.4",
            "x=[y]/:&+$",
            " ",
            "\t",
            "<",
            ">",
            "\"",
            "\u{7f}",
            "\u{e9}",
            "+1-(555).12*#",
            "pw",
            "~!*'()",
            "-_.",
            "$,/",
            "{",
            "|",
            "^",
            "`",
        ]);
        prop::collection::vec(pieces, 0..9).prop_map(|v| v.concat())
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(20_000))]
        #[test]
        fn table_driven_parse_agrees_with_the_reference(text in uri_text()) {
            proptest::prop_assert_eq!(Uri::parse(&text), reference::parse(&text));
            let host = text.strip_prefix("sip:").unwrap_or(&text);
            proptest::prop_assert_eq!(valid_host(host), reference::valid_host(host), "{}", host);
        }
    }
}
