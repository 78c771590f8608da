//! RFC 3261 headers with simple grammars: CSeq, Call-ID, numbers, media types,
//! token lists, text, Date, Warning, Retry-After, Content-Disposition, the
//! Accept-* and Content-* families, `<URI>` info headers, MIME-Version and
//! Timestamp.

use super::parse_qvalue;
use super::{HeaderError, TypedHeader};
use crate::bnf::{
    is_lws, is_token_str, is_word, parse_u32_max, quoted_len, trim_lws, trim_lws_start, unquote,
};
use crate::method::Method;
use crate::name::HeaderName;
use crate::params::{Params, check_header_params};
use crate::uri::Uri;

/// `CSeq` (RFC 3261 §20.16): a sequence number below 2^31 and a method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CSeq<'a> {
    /// The sequence number.
    pub seq: u32,
    /// The method.
    pub method: Method,
    /// The method as written.
    pub method_str: &'a str,
}

impl<'a> TypedHeader<'a> for CSeq<'a> {
    const NAME: HeaderName = HeaderName::CSeq;
    fn parse(value: &'a str) -> Result<Self, HeaderError> {
        let v = trim_lws(value);
        let split = v
            .bytes()
            .position(is_lws)
            .ok_or(HeaderError("missing method"))?;
        let seq = parse_u32_max(&v[..split], 0x7fff_ffff)
            .ok_or(HeaderError("invalid sequence number"))?;
        let method_str = trim_lws(&v[split..]);
        if !is_token_str(method_str) {
            return Err(HeaderError("invalid method"));
        }
        Ok(CSeq {
            seq,
            method: Method::from_bytes(method_str.as_bytes()),
            method_str,
        })
    }
}

/// `Call-ID` (RFC 3261 §20.8): `word [ "@" word ]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallId<'a>(pub &'a str);

impl<'a> TypedHeader<'a> for CallId<'a> {
    const NAME: HeaderName = HeaderName::CallId;
    fn parse(value: &'a str) -> Result<Self, HeaderError> {
        let v = trim_lws(value);
        let valid_word = |w: &str| !w.is_empty() && w.bytes().all(is_word);
        let ok = match v.split_once('@') {
            Some((a, b)) => valid_word(a) && valid_word(b),
            None => valid_word(v),
        };
        if ok {
            Ok(CallId(v))
        } else {
            Err(HeaderError("invalid Call-ID"))
        }
    }
}

macro_rules! number_header {
    ($(#[$doc:meta])* $name:ident, $hname:ident, $max:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct $name(pub u32);

        impl<'a> TypedHeader<'a> for $name {
            const NAME: HeaderName = HeaderName::$hname;
            fn parse(value: &'a str) -> Result<Self, HeaderError> {
                parse_u32_max(trim_lws(value), $max)
                    .map($name)
                    .ok_or(HeaderError(concat!("invalid ", stringify!($name), " value")))
            }
        }
    };
}

number_header!(
    /// `Max-Forwards` (RFC 3261 §20.22): 0 to 255.
    MaxForwards, MaxForwards, 255);
number_header!(
    /// `Content-Length` (RFC 3261 §20.14).
    ContentLength, ContentLength, u32::MAX);
number_header!(
    /// `Expires` (RFC 3261 §20.19): seconds; values past 2^32-1 are invalid.
    Expires, Expires, u32::MAX);
number_header!(
    /// `Min-Expires` (RFC 3261 §20.23).
    MinExpires, MinExpires, u32::MAX);
number_header!(
    /// `RSeq` (RFC 3262 §7.1): 1 to 2^31-1.
    RSeq, RSeq, 0x7fff_ffff);

/// `RAck` (RFC 3262 §7.2): response number, CSeq number and method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RAck<'a> {
    /// The RSeq of the response being acknowledged.
    pub rseq: u32,
    /// The CSeq number of the request.
    pub cseq: u32,
    /// The CSeq method.
    pub method: Method,
    /// The method as written.
    pub method_str: &'a str,
}

impl<'a> TypedHeader<'a> for RAck<'a> {
    const NAME: HeaderName = HeaderName::RAck;
    fn parse(value: &'a str) -> Result<Self, HeaderError> {
        let mut parts = trim_lws(value)
            .split(|c: char| is_lws(c as u8) && c.is_ascii())
            .filter(|s| !s.is_empty());
        let rseq = parts.next().and_then(|s| parse_u32_max(s, 0x7fff_ffff));
        let cseq = parts.next().and_then(|s| parse_u32_max(s, 0x7fff_ffff));
        let method_str = parts.next().filter(|m| is_token_str(m));
        match (rseq, cseq, method_str, parts.next()) {
            (Some(rseq), Some(cseq), Some(method_str), None) => Ok(RAck {
                rseq,
                cseq,
                method: Method::from_bytes(method_str.as_bytes()),
                method_str,
            }),
            _ => Err(HeaderError("invalid RAck")),
        }
    }
}

/// A media type with parameters: `Content-Type` (RFC 3261 §20.15) and the
/// elements of `Accept` (§20.1, where `*` is allowed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MediaType<'a> {
    /// The type (`application`).
    pub mtype: &'a str,
    /// The subtype (`sdp`).
    pub subtype: &'a str,
    /// The parameters (`charset`, `boundary`, `q`, ...).
    pub params: Params<'a>,
}

impl<'a> MediaType<'a> {
    /// Parses `type "/" subtype *( SEMI m-parameter )`.
    pub fn parse(value: &'a str) -> Result<MediaType<'a>, HeaderError> {
        let v = trim_lws(value);
        let (mt, params) = match v.find(';') {
            Some(i) => (trim_lws(&v[..i]), Some(&v[i + 1..])),
            None => (v, None),
        };
        let (mtype, subtype) = mt
            .split_once('/')
            .ok_or(HeaderError("invalid media type"))?;
        let (mtype, subtype) = (trim_lws(mtype), trim_lws(subtype));
        if !is_token_str(mtype) || !is_token_str(subtype) {
            return Err(HeaderError("invalid media type"));
        }
        let params = match params {
            Some(p) => {
                check_header_params(p).map_err(HeaderError)?;
                p
            }
            None => "",
        };
        Ok(MediaType {
            mtype,
            subtype,
            params: Params::header(params),
        })
    }

    /// True when type and subtype equal `mtype/subtype`, ignoring case.
    pub fn is(&self, mtype: &str, subtype: &str) -> bool {
        self.mtype.eq_ignore_ascii_case(mtype) && self.subtype.eq_ignore_ascii_case(subtype)
    }
}

super::newtype_header!(
    /// `Content-Type` (RFC 3261 §20.15, compact `c`).
    ContentType, MediaType, ContentType);
super::newtype_header!(
    /// One element of `Accept` (RFC 3261 §20.1).
    Accept, MediaType, Accept);

/// A token with header parameters: the shape of many headers (`Event`,
/// `Content-Disposition`, `Subscription-State`, `Accept-Encoding`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenParams<'a> {
    /// The token.
    pub value: &'a str,
    /// The parameters after it.
    pub params: Params<'a>,
}

impl<'a> TokenParams<'a> {
    /// Parses `token *( SEMI generic-param )`.
    pub fn parse(value: &'a str) -> Result<TokenParams<'a>, HeaderError> {
        let v = trim_lws(value);
        let (tok, params) = match v.find(';') {
            Some(i) => (trim_lws(&v[..i]), Some(&v[i + 1..])),
            None => (v, None),
        };
        if !is_token_str(tok) {
            return Err(HeaderError("invalid token"));
        }
        let params = match params {
            Some(p) => {
                check_header_params(p).map_err(HeaderError)?;
                p
            }
            None => "",
        };
        Ok(TokenParams {
            value: tok,
            params: Params::header(params),
        })
    }
}

/// One token of a token-list header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token<'a>(pub &'a str);

impl<'a> Token<'a> {
    /// Parses a single token.
    pub fn parse(value: &'a str) -> Result<Token<'a>, HeaderError> {
        let v = trim_lws(value);
        if is_token_str(v) {
            Ok(Token(v))
        } else {
            Err(HeaderError("invalid token"))
        }
    }
}

super::newtype_header!(
    /// One method of `Allow` (RFC 3261 §20.5).
    Allow, Token, Allow);
super::newtype_header!(
    /// One option tag of `Supported` (RFC 3261 §20.37, compact `k`).
    Supported, Token, Supported);
super::newtype_header!(
    /// One option tag of `Require` (RFC 3261 §20.32).
    Require, Token, Require);
super::newtype_header!(
    /// One option tag of `Proxy-Require` (RFC 3261 §20.29).
    ProxyRequire, Token, ProxyRequire);
super::newtype_header!(
    /// One option tag of `Unsupported` (RFC 3261 §20.40).
    Unsupported, Token, Unsupported);

/// Free text: the whole value with surrounding white space removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Text<'a>(pub &'a str);

impl<'a> Text<'a> {
    /// Takes the value as it is (after trimming). Control characters other than
    /// white space are invalid.
    pub fn parse(value: &'a str) -> Result<Text<'a>, HeaderError> {
        let v = trim_lws(value);
        if v.bytes().any(|b| (b < 0x20 && !is_lws(b)) || b == 0x7f) {
            Err(HeaderError("control character in text"))
        } else {
            Ok(Text(v))
        }
    }
}

super::newtype_header!(
    /// `Subject` (RFC 3261 §20.36, compact `s`).
    Subject, Text, Subject);
super::newtype_header!(
    /// `Organization` (RFC 3261 §20.25).
    Organization, Text, Organization);
super::newtype_header!(
    /// `User-Agent` (RFC 3261 §20.41).
    UserAgent, Text, UserAgent);
super::newtype_header!(
    /// `Server` (RFC 3261 §20.35).
    Server, Text, Server);

/// Splits `head *( SEMI generic-param )` at the first `;` and checks the
/// parameters; the head is returned with white space trimmed.
pub(super) fn head_params(value: &str) -> Result<(&str, Params<'_>), HeaderError> {
    let v = trim_lws(value);
    match v.find(';') {
        Some(i) => {
            let p = &v[i + 1..];
            check_header_params(p).map_err(HeaderError)?;
            Ok((trim_lws(&v[..i]), Params::header(p)))
        }
        None => Ok((v, Params::header(""))),
    }
}

/// Checks that a parameter, when present, has a delta-seconds value.
pub(super) fn check_delta_param(params: &Params<'_>, name: &str) -> Result<(), HeaderError> {
    match params.get(name) {
        None => Ok(()),
        Some(v) => v
            .and_then(|v| parse_u32_max(v, u32::MAX))
            .map(|_| ())
            .ok_or(HeaderError("invalid delta-seconds parameter")),
    }
}

/// Checks that a `q` parameter, when present, is a valid qvalue.
fn check_q(params: &Params<'_>) -> Result<(), HeaderError> {
    match params.get("q") {
        None => Ok(()),
        Some(q) => q
            .and_then(parse_qvalue)
            .map(|_| ())
            .ok_or(HeaderError("invalid q parameter")),
    }
}

const WKDAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

fn is_leap(year: u16) -> bool {
    year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400))
}

fn days_in_month(year: u16, month: u8) -> u8 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
/// `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `Date` (RFC 3261 §20.17): an RFC 1123 date in GMT,
/// `Sat, 13 Nov 2010 23:29:00 GMT`. Any other time zone is invalid
/// (RFC 4475 `baddate`). Names compare ignoring case; the day of the week is
/// not checked against the date (see [`Date::weekday_matches`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Date {
    /// The day of the week as written, 1 (Monday) to 7 (Sunday).
    pub weekday: u8,
    /// The day of the month, 1 to 31.
    pub day: u8,
    /// The month, 1 (January) to 12.
    pub month: u8,
    /// The year (four digits).
    pub year: u16,
    /// The hour, 0 to 23.
    pub hour: u8,
    /// The minute, 0 to 59.
    pub minute: u8,
    /// The second, 0 to 60 (a leap second).
    pub second: u8,
}

impl Date {
    /// Parses `wkday "," SP date1 SP time SP "GMT"`, with
    /// `date1 = 2DIGIT SP month SP 4DIGIT` and `time = 2DIGIT ":" 2DIGIT ":" 2DIGIT`
    /// (any linear white space between the parts; a one-digit day is accepted).
    pub fn parse(value: &str) -> Result<Date, HeaderError> {
        const BAD: HeaderError = HeaderError("invalid date");
        let v = trim_lws(value);
        let (wk, rest) = v.split_once(',').ok_or(BAD)?;
        let wk = trim_lws(wk);
        let weekday = WKDAYS
            .iter()
            .position(|d| d.eq_ignore_ascii_case(wk))
            .ok_or(HeaderError("invalid day of the week"))?;
        let mut parts = rest
            .split([' ', '\t', '\r', '\n'])
            .filter(|s| !s.is_empty());
        let (Some(day), Some(month), Some(year), Some(time), Some(zone), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(BAD);
        };
        if !zone.eq_ignore_ascii_case("GMT") {
            return Err(HeaderError("time zone other than GMT"));
        }
        let month = MONTHS
            .iter()
            .position(|m| m.eq_ignore_ascii_case(month))
            .ok_or(HeaderError("invalid month"))?;
        let month = month as u8 + 1;
        if year.len() != 4 {
            return Err(HeaderError("invalid year"));
        }
        let year = parse_u32_max(year, 9999).ok_or(HeaderError("invalid year"))? as u16;
        let day = if day.len() <= 2 {
            parse_u32_max(day, 31)
        } else {
            None
        };
        let day = day
            .map(|d| d as u8)
            .filter(|&d| d >= 1 && d <= days_in_month(year, month))
            .ok_or(HeaderError("invalid day of the month"))?;
        let tb = time.as_bytes();
        if tb.len() != 8 || tb.get(2) != Some(&b':') || tb.get(5) != Some(&b':') {
            return Err(HeaderError("invalid time"));
        }
        let two = |r: std::ops::Range<usize>, max: u32| {
            time.get(r)
                .and_then(|s| parse_u32_max(s, max))
                .map(|n| n as u8)
                .ok_or(HeaderError("invalid time"))
        };
        let hour = two(0..2, 23)?;
        let minute = two(3..5, 59)?;
        let second = two(6..8, 60)?;
        Ok(Date {
            weekday: weekday as u8 + 1,
            day,
            month,
            year,
            hour,
            minute,
            second,
        })
    }

    /// Seconds since 1970-01-01 00:00:00 UTC (negative before it).
    pub fn unix_time(&self) -> i64 {
        let days = days_from_civil(
            i64::from(self.year),
            i64::from(self.month),
            i64::from(self.day),
        );
        days * 86_400
            + i64::from(self.hour) * 3600
            + i64::from(self.minute) * 60
            + i64::from(self.second)
    }

    /// The date as a [`std::time::SystemTime`], when the platform can
    /// represent it.
    pub fn to_system_time(&self) -> Option<std::time::SystemTime> {
        let t = self.unix_time();
        let d = std::time::Duration::from_secs(t.unsigned_abs());
        if t >= 0 {
            std::time::UNIX_EPOCH.checked_add(d)
        } else {
            std::time::UNIX_EPOCH.checked_sub(d)
        }
    }

    /// True when the day of the week as written is the one of the date.
    pub fn weekday_matches(&self) -> bool {
        let days = days_from_civil(
            i64::from(self.year),
            i64::from(self.month),
            i64::from(self.day),
        );
        // 1970-01-01 was a Thursday (ISO day 4).
        (days + 3).rem_euclid(7) + 1 == i64::from(self.weekday)
    }
}

impl<'a> TypedHeader<'a> for Date {
    const NAME: HeaderName = HeaderName::Date;
    fn parse(value: &'a str) -> Result<Self, HeaderError> {
        Date::parse(value)
    }
}

/// Checks a `warn-agent`: `hostport` or a pseudonym token.
fn valid_warn_agent(a: &str) -> bool {
    if is_token_str(a) {
        return true;
    }
    let (host, port) = if a.starts_with('[') {
        match a.find(']') {
            Some(c) => (&a[..=c], &a[c + 1..]),
            None => return false,
        }
    } else {
        match a.rfind(':') {
            Some(c) => (&a[..c], &a[c..]),
            None => (a, ""),
        }
    };
    let port_ok = port.is_empty()
        || port
            .strip_prefix(':')
            .is_some_and(|p| p.len() <= 5 && parse_u32_max(p, 65535).is_some());
    port_ok && crate::uri::valid_host(host)
}

/// One `Warning` value (RFC 3261 §20.43):
/// `warn-code SP warn-agent SP warn-text`, as in
/// `307 isi.edu "Session parameter 'foo' not understood"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Warning<'a> {
    /// The three-digit warning code.
    pub code: u16,
    /// The agent: `host[:port]` or a pseudonym.
    pub agent: &'a str,
    /// The text without its quotes (escapes kept; see [`Warning::text_unescaped`]).
    pub text: &'a str,
}

impl<'a> Warning<'a> {
    /// Parses one warning value.
    pub fn parse(value: &'a str) -> Result<Warning<'a>, HeaderError> {
        let v = trim_lws(value);
        let b = v.as_bytes();
        let code = match b {
            [a, b, c, sep, ..]
                if a.is_ascii_digit()
                    && b.is_ascii_digit()
                    && c.is_ascii_digit()
                    && is_lws(*sep) =>
            {
                u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0')
            }
            _ => return Err(HeaderError("invalid warn-code")),
        };
        let rest = trim_lws_start(&v[3..]);
        let end = rest
            .bytes()
            .position(is_lws)
            .ok_or(HeaderError("missing warn-text"))?;
        let agent = &rest[..end];
        if !valid_warn_agent(agent) {
            return Err(HeaderError("invalid warn-agent"));
        }
        let text = trim_lws_start(&rest[end..]);
        if !text.starts_with('"') || quoted_len(text.as_bytes()) != Some(text.len()) {
            return Err(HeaderError("invalid warn-text"));
        }
        Ok(Warning {
            code,
            agent,
            text: &text[1..text.len() - 1],
        })
    }

    /// The text with escapes removed.
    pub fn text_unescaped(&self) -> std::borrow::Cow<'a, str> {
        unquote(self.text)
    }
}

impl<'a> TypedHeader<'a> for Warning<'a> {
    const NAME: HeaderName = HeaderName::Warning;
    fn parse(value: &'a str) -> Result<Self, HeaderError> {
        Warning::parse(value)
    }
}

/// Length of a (possibly nested) comment at the start of `b` (which starts
/// with `(`), including the parentheses. `None` when unterminated or when it
/// holds a control character.
fn comment_len(b: &[u8]) -> Option<usize> {
    let mut depth = 0usize;
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        match c {
            b'(' => depth += 1,
            b')' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            b'\\' => i += 1,
            _ if (c < 0x20 && !is_lws(c)) || c == 0x7f => return None,
            _ => {}
        }
        i += 1;
    }
    None
}

/// `Retry-After` (RFC 3261 §20.33):
/// `delta-seconds [ comment ] *( SEMI retry-param )`, as in
/// `120 (I'm in a meeting)` or `18000;duration=3600`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryAfter<'a> {
    /// Seconds to wait; values past 2^32-1 are invalid (RFC 4475 `scalarlg`).
    pub seconds: u32,
    /// The comment without its outer parentheses.
    pub comment: Option<&'a str>,
    /// The parameters (`duration`, ...).
    pub params: Params<'a>,
}

impl<'a> RetryAfter<'a> {
    /// Parses a Retry-After value.
    pub fn parse(value: &'a str) -> Result<RetryAfter<'a>, HeaderError> {
        let v = trim_lws(value);
        let end = v
            .bytes()
            .position(|b| !b.is_ascii_digit())
            .unwrap_or(v.len());
        let seconds =
            parse_u32_max(&v[..end], u32::MAX).ok_or(HeaderError("invalid delta-seconds"))?;
        let mut rest = trim_lws_start(&v[end..]);
        let mut comment = None;
        if rest.starts_with('(') {
            let len = comment_len(rest.as_bytes()).ok_or(HeaderError("invalid comment"))?;
            comment = Some(&rest[1..len - 1]);
            rest = trim_lws_start(&rest[len..]);
        }
        let params = if rest.is_empty() {
            Params::header("")
        } else {
            let p = rest
                .strip_prefix(';')
                .ok_or(HeaderError("unexpected text after delta-seconds"))?;
            check_header_params(p).map_err(HeaderError)?;
            Params::header(p)
        };
        check_delta_param(&params, "duration")?;
        Ok(RetryAfter {
            seconds,
            comment,
            params,
        })
    }

    /// The `duration` parameter: how long the callee will be reachable.
    pub fn duration(&self) -> Option<u32> {
        self.params
            .get("duration")
            .flatten()
            .and_then(|d| parse_u32_max(d, u32::MAX))
    }
}

impl<'a> TypedHeader<'a> for RetryAfter<'a> {
    const NAME: HeaderName = HeaderName::RetryAfter;
    fn parse(value: &'a str) -> Result<Self, HeaderError> {
        RetryAfter::parse(value)
    }
}

super::newtype_header!(
    /// `Priority` (RFC 3261 §20.26): `emergency`, `urgent`, `normal`,
    /// `non-urgent` or another token.
    Priority, Token, Priority);

super::newtype_header!(
    /// `Content-Disposition` (RFC 3261 §20.11): a disposition type (`session`,
    /// `render`, `icon`, `alert`, ...) and parameters such as `handling`.
    ContentDisposition, TokenParams, ContentDisposition);

impl<'a> ContentDisposition<'a> {
    /// The disposition type.
    pub fn disposition_type(&self) -> &'a str {
        self.0.value
    }

    /// The `handling` parameter (`optional`, `required` or another token).
    pub fn handling(&self) -> Option<&'a str> {
        self.0.params.get("handling").flatten()
    }

    /// True unless `handling=optional`: RFC 3261 makes `required` the default.
    pub fn is_required(&self) -> bool {
        !self
            .handling()
            .is_some_and(|h| h.eq_ignore_ascii_case("optional"))
    }
}

super::newtype_header!(
    /// One content coding of `Content-Encoding` (RFC 3261 §20.12, compact `e`).
    ContentEncoding, Token, ContentEncoding);

/// A language tag (RFC 3261 §20.13): `1*8ALPHA *( "-" 1*8alphanum )`, as in
/// `en-gb` (digits are allowed in subtags as in RFC 5646, `es-419`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LanguageTag<'a>(pub &'a str);

fn valid_language(s: &str) -> bool {
    let mut parts = s.split('-');
    let primary_ok = parts
        .next()
        .is_some_and(|p| (1..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphabetic()));
    primary_ok
        && parts.all(|p| (1..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric()))
}

impl<'a> LanguageTag<'a> {
    /// Parses a language tag.
    pub fn parse(value: &'a str) -> Result<LanguageTag<'a>, HeaderError> {
        let v = trim_lws(value);
        if valid_language(v) {
            Ok(LanguageTag(v))
        } else {
            Err(HeaderError("invalid language tag"))
        }
    }

    /// The primary tag (`en` of `en-gb`).
    pub fn primary(&self) -> &'a str {
        self.0.split_once('-').map_or(self.0, |(p, _)| p)
    }
}

super::newtype_header!(
    /// One language of `Content-Language` (RFC 3261 §20.13).
    ContentLanguage, LanguageTag, ContentLanguage);

/// One element of `Accept-Encoding` (RFC 3261 §20.2):
/// `( content-coding / "*" ) *( SEMI accept-param )`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AcceptEncoding<'a> {
    /// The content coding (`gzip`, `identity`) or `*`.
    pub coding: &'a str,
    /// The parameters (`q`, ...).
    pub params: Params<'a>,
}

impl<'a> AcceptEncoding<'a> {
    /// Parses one element; a `q` parameter must be a valid qvalue.
    pub fn parse(value: &'a str) -> Result<AcceptEncoding<'a>, HeaderError> {
        let (coding, params) = head_params(value)?;
        if !is_token_str(coding) {
            return Err(HeaderError("invalid content coding"));
        }
        check_q(&params)?;
        Ok(AcceptEncoding { coding, params })
    }

    /// The `q` parameter in thousandths (`q=0.5` is 500).
    pub fn q(&self) -> Option<u16> {
        self.params.get("q").flatten().and_then(parse_qvalue)
    }
}

impl<'a> TypedHeader<'a> for AcceptEncoding<'a> {
    const NAME: HeaderName = HeaderName::AcceptEncoding;
    fn parse(value: &'a str) -> Result<Self, HeaderError> {
        AcceptEncoding::parse(value)
    }
}

/// One element of `Accept-Language` (RFC 3261 §20.3):
/// `( language-tag / "*" ) *( SEMI accept-param )`, as in `en-gb;q=0.8`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AcceptLanguage<'a> {
    /// The language range (`da`, `en-gb`) or `*`.
    pub range: &'a str,
    /// The parameters (`q`, ...).
    pub params: Params<'a>,
}

impl<'a> AcceptLanguage<'a> {
    /// Parses one element; a `q` parameter must be a valid qvalue.
    pub fn parse(value: &'a str) -> Result<AcceptLanguage<'a>, HeaderError> {
        let (range, params) = head_params(value)?;
        if range != "*" && !valid_language(range) {
            return Err(HeaderError("invalid language range"));
        }
        check_q(&params)?;
        Ok(AcceptLanguage { range, params })
    }

    /// The `q` parameter in thousandths (`q=0.8` is 800).
    pub fn q(&self) -> Option<u16> {
        self.params.get("q").flatten().and_then(parse_qvalue)
    }
}

impl<'a> TypedHeader<'a> for AcceptLanguage<'a> {
    const NAME: HeaderName = HeaderName::AcceptLanguage;
    fn parse(value: &'a str) -> Result<Self, HeaderError> {
        AcceptLanguage::parse(value)
    }
}

/// `<absoluteURI> *( SEMI generic-param )`: the elements of `Alert-Info`,
/// `Call-Info`, `Error-Info` (RFC 3261 §20.4, §20.9, §20.18) and
/// `Identity-Info` (RFC 4474).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InfoUri<'a> {
    /// The URI (any scheme; `http:` and others are kept opaque).
    pub uri: Uri<'a>,
    /// The parameters after `>`.
    pub params: Params<'a>,
}

impl<'a> InfoUri<'a> {
    /// Parses `<absoluteURI> *( SEMI generic-param )`.
    pub fn parse(value: &'a str) -> Result<InfoUri<'a>, HeaderError> {
        let v = trim_lws(value);
        let inner = v.strip_prefix('<').ok_or(HeaderError("expected '<'"))?;
        let gt = inner.find('>').ok_or(HeaderError("missing '>'"))?;
        let uri = Uri::parse(&inner[..gt]).map_err(|_| HeaderError("invalid URI"))?;
        let rest = trim_lws_start(&inner[gt + 1..]);
        let params = if rest.is_empty() {
            Params::header("")
        } else {
            let p = rest
                .strip_prefix(';')
                .ok_or(HeaderError("unexpected text after URI"))?;
            check_header_params(p).map_err(HeaderError)?;
            Params::header(p)
        };
        Ok(InfoUri { uri, params })
    }
}

super::newtype_header!(
    /// One element of `Alert-Info` (RFC 3261 §20.4), as in
    /// `<http://www.example.com/sounds/moo.wav>`.
    AlertInfo, InfoUri, AlertInfo);
super::newtype_header!(
    /// One element of `Call-Info` (RFC 3261 §20.9), as in
    /// `<http://wwww.example.com/alice/photo.jpg> ;purpose=icon`.
    CallInfo, InfoUri, CallInfo);

impl<'a> CallInfo<'a> {
    /// The `purpose` parameter (`icon`, `info`, `card` or another token).
    pub fn purpose(&self) -> Option<&'a str> {
        self.0.params.get("purpose").flatten()
    }
}

super::newtype_header!(
    /// One element of `Error-Info` (RFC 3261 §20.18), as in
    /// `<sip:not-in-service-recording@atlanta.com>`.
    ErrorInfo, InfoUri, ErrorInfo);
super::newtype_header!(
    /// One Call-ID of `In-Reply-To` (RFC 3261 §20.21).
    InReplyTo, CallId, InReplyTo);

/// `MIME-Version` (RFC 3261 §20.24): `1*DIGIT "." 1*DIGIT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MimeVersion {
    /// The major version.
    pub major: u32,
    /// The minor version.
    pub minor: u32,
}

impl<'a> TypedHeader<'a> for MimeVersion {
    const NAME: HeaderName = HeaderName::MimeVersion;
    fn parse(value: &'a str) -> Result<Self, HeaderError> {
        let (major, minor) = trim_lws(value)
            .split_once('.')
            .ok_or(HeaderError("invalid MIME-Version"))?;
        match (
            parse_u32_max(major, u32::MAX),
            parse_u32_max(minor, u32::MAX),
        ) {
            (Some(major), Some(minor)) => Ok(MimeVersion { major, minor }),
            _ => Err(HeaderError("invalid MIME-Version")),
        }
    }
}

/// True for `*DIGIT [ "." *DIGIT ]` (with at least one integer digit when
/// `int_digit`).
fn is_decimal(s: &str, int_digit: bool) -> bool {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    (!int_digit || !int.is_empty())
        && int.bytes().all(|b| b.is_ascii_digit())
        && frac.bytes().all(|b| b.is_ascii_digit())
}

/// `Timestamp` (RFC 3261 §20.38):
/// `1*DIGIT [ "." *DIGIT ] [ LWS delay ]`, `delay = *DIGIT [ "." *DIGIT ]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timestamp<'a> {
    /// The timestamp as written (`54`, `1234.567`).
    pub time: &'a str,
    /// The delay as written, when present.
    pub delay: Option<&'a str>,
}

impl<'a> Timestamp<'a> {
    /// The timestamp as a number (0 when not a number).
    pub fn time_f64(&self) -> f64 {
        self.time.parse().unwrap_or(0.0)
    }

    /// The delay as a number (a lone `.` counts as 0).
    pub fn delay_f64(&self) -> Option<f64> {
        self.delay.map(|d| d.parse().unwrap_or(0.0))
    }
}

impl<'a> TypedHeader<'a> for Timestamp<'a> {
    const NAME: HeaderName = HeaderName::Timestamp;
    fn parse(value: &'a str) -> Result<Self, HeaderError> {
        let v = trim_lws(value);
        let (time, delay) = match v.bytes().position(is_lws) {
            Some(i) => (&v[..i], Some(trim_lws_start(&v[i..]))),
            None => (v, None),
        };
        if !is_decimal(time, true) || delay.is_some_and(|d| !is_decimal(d, false)) {
            return Err(HeaderError("invalid Timestamp"));
        }
        Ok(Timestamp { time, delay })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cseq() {
        let c = CSeq::parse("0009\r\n  INVITE").unwrap();
        assert_eq!(c.seq, 9);
        assert_eq!(c.method, Method::Invite);
        assert!(CSeq::parse("36893488147419103232 INVITE").is_err());
        assert!(CSeq::parse("2147483648 INVITE").is_err());
        assert!(CSeq::parse("1 INV/ITE").is_err());
        assert!(CSeq::parse("INVITE").is_err());
        assert_eq!(
            CSeq::parse("29344 RE%47IST%45R").unwrap().method,
            Method::Other
        );
    }

    #[test]
    fn numbers_and_ids() {
        assert_eq!(MaxForwards::parse("0068").unwrap().0, 68);
        assert!(MaxForwards::parse("300").is_err());
        assert!(ContentLength::parse("-999").is_err());
        assert!(Expires::parse("10000000000000").is_err());
        assert!(CallId::parse("a84b4c76e66710@pc33.atlanta.com").is_ok());
        assert!(CallId::parse("a b").is_err());
        assert!(CallId::parse("a@b@c").is_err());
        let r = RAck::parse("776656 1 INVITE").unwrap();
        assert_eq!((r.rseq, r.cseq, r.method), (776656, 1, Method::Invite));
        assert!(RAck::parse("1 INVITE").is_err());
    }

    #[test]
    fn media_types() {
        let m = MediaType::parse("multipart/mixed;boundary=unique-boundary-1").unwrap();
        assert!(m.is("Multipart", "MIXED"));
        assert_eq!(m.params.get("boundary"), Some(Some("unique-boundary-1")));
        assert!(MediaType::parse("application").is_err());
        assert!(MediaType::parse("application/sdp;").is_err());
        assert!(TokenParams::parse("session;handling=required").is_ok());
        assert!(Token::parse("100rel").is_ok());
        assert!(Token::parse("a b").is_err());
        assert!(Text::parse("hello\u{1}").is_err());
    }
    #[test]
    fn dates() {
        let d = Date::parse("Sat, 13 Nov 2010 23:29:00 GMT").unwrap();
        assert_eq!(
            (
                d.weekday, d.day, d.month, d.year, d.hour, d.minute, d.second
            ),
            (6, 13, 11, 2010, 23, 29, 0)
        );
        assert_eq!(d.unix_time(), 1_289_690_940);
        assert!(d.weekday_matches());
        let t = d.to_system_time().unwrap();
        assert_eq!(
            t.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs(),
            1_289_690_940
        );
        // RFC 4475 mpart01, folded.
        let d = Date::parse("Sat,\r\n 15 Oct 2005 04:44:56 gmt").unwrap();
        assert_eq!(d.unix_time(), 1_129_351_496);
        assert!(d.weekday_matches());
        let d = Date::parse("Thu, 01 Jan 1970 00:00:00 GMT").unwrap();
        assert_eq!(d.unix_time(), 0);
        assert!(d.weekday_matches());
        let d = Date::parse("Mon, 29 Feb 2000 12:00:00 GMT").unwrap();
        assert!(!d.weekday_matches());
        assert_eq!(d.unix_time(), 951_825_600);
        let d = Date::parse("Wed, 31 Dec 1969 23:59:59 GMT").unwrap();
        assert_eq!(d.unix_time(), -1);
        assert!(d.to_system_time().is_some());
        // RFC 4475 baddate.
        assert!(Date::parse("Fri, 01 Jan 2010 16:00:00 EST").is_err());
        for bad in [
            "",
            "Sat 13 Nov 2010 23:29:00 GMT",
            "Sat, 13 Nov 2010 23:29:00",
            "Sat, 13 Nov 2010 23:29:00 GMT x",
            "Sat, 13 Nov 10 23:29:00 GMT",
            "Sat, 31 Nov 2010 23:29:00 GMT",
            "Sat, 29 Feb 1900 23:29:00 GMT",
            "Sat, 00 Nov 2010 23:29:00 GMT",
            "Sat, 13 Nox 2010 23:29:00 GMT",
            "Sam, 13 Nov 2010 23:29:00 GMT",
            "Sat, 13 Nov 2010 24:29:00 GMT",
            "Sat, 13 Nov 2010 23:60:00 GMT",
            "Sat, 13 Nov 2010 23:29:61 GMT",
            "Sat, 13 Nov 2010 23:29 GMT",
            "Sat, 13 Nov 2010 2:29:00: GMT",
            "Sat, 13 Nov 2010 23é29:0 GMT",
            "Sat, 13 Nov 2010 23:29:00 UTC",
        ] {
            assert!(Date::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn warnings() {
        let w = Warning::parse("307 isi.edu \"Session parameter 'foo' not understood\"").unwrap();
        assert_eq!(w.code, 307);
        assert_eq!(w.agent, "isi.edu");
        assert_eq!(w.text, "Session parameter 'foo' not understood");
        let w = Warning::parse("301 192.0.2.1:5060 \"Incompatible network address type 'E.164'\"")
            .unwrap();
        assert_eq!(w.agent, "192.0.2.1:5060");
        let w = Warning::parse("399 [2001:db8::1]:5061 \"a \\\"b\\\"\"").unwrap();
        assert_eq!(w.agent, "[2001:db8::1]:5061");
        assert_eq!(w.text_unescaped(), "a \"b\"");
        assert!(Warning::parse("399 my-pseudonym \"\"").is_ok());
        // RFC 4475 scalarlg.
        assert!(Warning::parse("1812 overture \"In Progress\"").is_err());
        assert!(Warning::parse("30 isi.edu \"x\"").is_err());
        assert!(Warning::parse("307 isi.edu").is_err());
        assert!(Warning::parse("307 isi.edu x").is_err());
        assert!(Warning::parse("307 isi.edu \"x").is_err());
        assert!(Warning::parse("307 isi.edu \"x\" y").is_err());
        assert!(Warning::parse("307 host:99999 \"x\"").is_err());
        assert!(Warning::parse("307 <a> \"x\"").is_err());
        assert!(Warning::parse("307").is_err());
    }

    #[test]
    fn retry_after() {
        let r = RetryAfter::parse("18000;duration=3600").unwrap();
        assert_eq!(r.seconds, 18000);
        assert_eq!(r.duration(), Some(3600));
        assert_eq!(r.comment, None);
        let r = RetryAfter::parse("120 (I'm in a meeting)").unwrap();
        assert_eq!(r.seconds, 120);
        assert_eq!(r.comment, Some("I'm in a meeting"));
        let r = RetryAfter::parse("5 (a (nested; \\) one)) ; duration = 10;x").unwrap();
        assert_eq!(r.comment, Some("a (nested; \\) one)"));
        assert_eq!(r.duration(), Some(10));
        assert!(r.params.contains("x"));
        // RFC 4475 scalarlg.
        assert!(RetryAfter::parse("949302838503028349304023988").is_err());
        assert!(RetryAfter::parse("").is_err());
        assert!(RetryAfter::parse("12x").is_err());
        assert!(RetryAfter::parse("12 (open").is_err());
        assert!(RetryAfter::parse("12 (a))").is_err());
        assert!(RetryAfter::parse("12;duration=x").is_err());
        assert!(RetryAfter::parse("12;;").is_err());
    }

    #[test]
    fn simple_extensions() {
        assert_eq!(Priority::parse("emergency").unwrap().0.0, "emergency");
        assert!(Priority::parse("very urgent").is_err());
        let d = ContentDisposition::parse("session").unwrap();
        assert_eq!(d.disposition_type(), "session");
        assert!(d.is_required());
        let d = ContentDisposition::parse("icon;handling=optional").unwrap();
        assert_eq!(d.handling(), Some("optional"));
        assert!(!d.is_required());
        assert!(ContentDisposition::parse("render;").is_err());
        assert_eq!(ContentEncoding::parse("gzip").unwrap().0.0, "gzip");
        assert!(ContentEncoding::parse("g zip").is_err());
        assert_eq!(ContentLanguage::parse("fr").unwrap().primary(), "fr");
        assert_eq!(ContentLanguage::parse("en-gb").unwrap().primary(), "en");
        assert!(ContentLanguage::parse("es-419").is_ok());
        assert!(ContentLanguage::parse("toolonglang").is_err());
        assert!(ContentLanguage::parse("en-").is_err());
        assert!(ContentLanguage::parse("1en").is_err());
        let e = AcceptEncoding::parse("gzip;q=0.5").unwrap();
        assert_eq!((e.coding, e.q()), ("gzip", Some(500)));
        assert_eq!(AcceptEncoding::parse("*").unwrap().coding, "*");
        assert!(AcceptEncoding::parse("gzip;q=2").is_err());
        let langs: Vec<_> = crate::bnf::CommaSplit::new("da, en-gb;q=0.8, en;q=0.7")
            .map(|v| AcceptLanguage::parse(v.unwrap()).unwrap())
            .map(|l| (l.range, l.q()))
            .collect();
        assert_eq!(
            langs,
            [("da", None), ("en-gb", Some(800)), ("en", Some(700))]
        );
        assert!(AcceptLanguage::parse("*;q=0").is_ok());
        assert!(AcceptLanguage::parse("en;q=x").is_err());
        assert!(AcceptLanguage::parse("e_n").is_err());
    }

    #[test]
    fn info_uris() {
        let a = AlertInfo::parse("<http://www.example.com/sounds/moo.wav>").unwrap();
        assert_eq!(a.uri.as_str(), "http://www.example.com/sounds/moo.wav");
        assert!(a.params.is_empty());
        let infos: Vec<_> = crate::bnf::CommaSplit::new(
            "<http://wwww.example.com/alice/photo.jpg> ;purpose=icon,\r\n <http://www.example.com/alice/> ;purpose=info",
        )
        .map(|v| CallInfo::parse(v.unwrap()).unwrap())
        .collect();
        assert_eq!(infos[0].purpose(), Some("icon"));
        assert_eq!(infos[1].purpose(), Some("info"));
        assert_eq!(infos[1].uri.as_str(), "http://www.example.com/alice/");
        let e = ErrorInfo::parse("<sip:not-in-service-recording@atlanta.com>").unwrap();
        assert!(e.uri.is_sip());
        assert!(ErrorInfo::parse("sip:a@b").is_err());
        assert!(ErrorInfo::parse("<sip:a@b").is_err());
        assert!(ErrorInfo::parse("<nope>").is_err());
        assert!(ErrorInfo::parse("<sip:a@b> x").is_err());
        assert!(ErrorInfo::parse("<sip:a@b>;").is_err());
    }

    #[test]
    fn misc_values() {
        let r = InReplyTo::parse("70710@saturn.bell-tel.com").unwrap();
        assert_eq!(r.0.0, "70710@saturn.bell-tel.com");
        assert!(InReplyTo::parse("a b").is_err());
        assert_eq!(
            MimeVersion::parse("1.0").unwrap(),
            MimeVersion { major: 1, minor: 0 }
        );
        assert!(MimeVersion::parse("1").is_err());
        assert!(MimeVersion::parse("1.").is_err());
        assert!(MimeVersion::parse(".0").is_err());
        assert!(MimeVersion::parse("1.0.1").is_err());
        let t = Timestamp::parse("54").unwrap();
        assert_eq!((t.time, t.delay), ("54", None));
        assert_eq!(t.time_f64(), 54.0);
        let t = Timestamp::parse("54.3  \r\n 0.25").unwrap();
        assert_eq!((t.time, t.delay), ("54.3", Some("0.25")));
        assert_eq!(t.delay_f64(), Some(0.25));
        let t = Timestamp::parse("1. .5").unwrap();
        assert_eq!((t.time_f64(), t.delay_f64()), (1.0, Some(0.5)));
        assert_eq!(Timestamp::parse("1 .").unwrap().delay_f64(), Some(0.0));
        assert!(Timestamp::parse(".5").is_err());
        assert!(Timestamp::parse("").is_err());
        assert!(Timestamp::parse("1e5").is_err());
        assert!(Timestamp::parse("1 2 3").is_err());
        assert!(Timestamp::parse("1.2.3").is_err());
    }
}
