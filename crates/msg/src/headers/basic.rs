//! RFC 3261 headers with simple grammars: CSeq, Call-ID, numbers, media types,
//! token lists and text.

use super::{HeaderError, TypedHeader};
use crate::bnf::{is_lws, is_token_str, is_word, parse_u32_max, trim_lws};
use crate::method::Method;
use crate::name::HeaderName;
use crate::params::{Params, check_header_params};

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
}
