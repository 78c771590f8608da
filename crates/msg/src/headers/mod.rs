//! Typed views of header values.
//!
//! Each type borrows from the message and is parsed on demand with
//! [`Message::typed`](crate::Message::typed) (the first value) or
//! [`Message::typed_all`](crate::Message::typed_all) (every value of every
//! header line of that name, list headers split at commas):
//!
//! ```
//! use sofia_msg::{Message, headers::{Via, Contact}};
//! let msg = Message::parse(bytes::Bytes::from_static(
//!     b"REGISTER sip:example.com SIP/2.0\r\n\
//!       Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776\r\n\
//!       To: <sip:bob@example.com>\r\nFrom: <sip:bob@example.com>;tag=456\r\n\
//!       Call-ID: 843817637684230@998sdasdh09\r\nCSeq: 1826 REGISTER\r\n\
//!       Contact: <sip:bob@192.0.2.4>;expires=3600, <sip:bob@192.0.2.5>\r\n\
//!       Content-Length: 0\r\n\r\n")).unwrap();
//! let via: Via = msg.typed().unwrap().unwrap();
//! assert_eq!(via.branch(), Some("z9hG4bK776"));
//! assert_eq!(msg.typed_all::<Contact>().count(), 2);
//! ```
//!
//! Every type implements [`TypedHeader`]; its `parse` takes one value (one
//! element of a list header) with surrounding white space removed.
//!
//! The types, by source:
//!
//! - RFC 3261 addresses ([`NameAddr`]): [`From`], [`To`], [`Contact`],
//!   [`Route`], [`RecordRoute`], [`ReplyTo`]; and [`Path`] (RFC 3327),
//!   [`ServiceRoute`] (RFC 3608), [`ReferTo`] (RFC 3515), [`ReferredBy`]
//!   (RFC 3892), [`PAssertedIdentity`] and [`PPreferredIdentity`] (RFC 3325);
//! - [`Via`];
//! - other RFC 3261 headers: [`CSeq`], [`CallId`], [`MaxForwards`],
//!   [`ContentLength`], [`Expires`], [`MinExpires`], [`ContentType`] and
//!   [`Accept`] ([`MediaType`]), [`AcceptEncoding`], [`AcceptLanguage`],
//!   [`ContentEncoding`], [`ContentLanguage`], [`ContentDisposition`],
//!   [`Allow`], [`Supported`], [`Require`], [`ProxyRequire`],
//!   [`Unsupported`], [`Priority`], [`Subject`], [`Organization`],
//!   [`UserAgent`], [`Server`], [`Date`], [`Warning`], [`RetryAfter`],
//!   [`AlertInfo`], [`CallInfo`], [`ErrorInfo`] ([`InfoUri`]), [`InReplyTo`],
//!   [`MimeVersion`], [`Timestamp`]; [`RSeq`] and [`RAck`] (RFC 3262);
//! - authentication: [`Authorization`] and [`ProxyAuthorization`]
//!   ([`Credentials`]), [`WwwAuthenticate`] and [`ProxyAuthenticate`]
//!   ([`Challenge`]), [`AuthenticationInfo`];
//! - extensions: [`Event`], [`AllowEvents`], [`SubscriptionState`]
//!   (RFC 6665), [`Reason`] (RFC 3326), [`Replaces`] (RFC 3891),
//!   [`AcceptContact`], [`RejectContact`] ([`CallerPrefs`]) and
//!   [`RequestDisposition`] (RFC 3841), [`SessionExpires`] and [`MinSe`]
//!   (RFC 4028), [`SipETag`] and [`SipIfMatch`] (RFC 3903), [`Privacy`]
//!   (RFC 3323), [`Identity`] and [`IdentityInfo`] (RFC 4474, RFC 8224).

mod addr;
mod auth;
mod basic;
mod ext;
mod via;

pub use addr::*;
pub use auth::*;
pub use basic::*;
pub use ext::*;
pub use via::*;

use crate::bnf::trim_lws;
use crate::name::HeaderName;

/// Iterator over the non-empty items of a value split at one separator,
/// with linear white space trimmed (a `Privacy` header's `;`-separated
/// values, a challenge's `qop` options).
#[derive(Debug, Clone)]
pub struct SeparatedValues<'a>(std::str::Split<'a, char>);

impl<'a> SeparatedValues<'a> {
    pub(crate) fn new(value: &'a str, separator: char) -> Self {
        SeparatedValues(value.split(separator))
    }
}

impl<'a> Iterator for SeparatedValues<'a> {
    type Item = &'a str;
    fn next(&mut self) -> Option<&'a str> {
        loop {
            let v = trim_lws(self.0.next()?);
            if !v.is_empty() {
                return Some(v);
            }
        }
    }
}

/// Why a header value does not parse; the message layer adds the header name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct HeaderError(pub &'static str);

/// A typed header view.
pub trait TypedHeader<'a>: Sized {
    /// The header this type parses.
    const NAME: HeaderName;
    /// Parses one value (one list element for list headers).
    fn parse(value: &'a str) -> Result<Self, HeaderError>;
}

/// Implements [`TypedHeader`] for a newtype over a shared parser.
macro_rules! newtype_header {
    ($(#[$doc:meta])* $name:ident, $inner:ident, $hname:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct $name<'a>(pub $inner<'a>);

        impl<'a> std::ops::Deref for $name<'a> {
            type Target = $inner<'a>;
            fn deref(&self) -> &$inner<'a> {
                &self.0
            }
        }

        impl<'a> $crate::headers::TypedHeader<'a> for $name<'a> {
            const NAME: $crate::HeaderName = $crate::HeaderName::$hname;
            fn parse(value: &'a str) -> Result<Self, $crate::headers::HeaderError> {
                $inner::parse(value).map($name)
            }
        }
    };
}
pub(crate) use newtype_header;

/// Validates one value (one list element for list headers) of a header kind
/// with its typed parser. Kinds without a typed parser, and unknown headers,
/// always pass.
pub fn validate(name: HeaderName, value: &str) -> Result<(), HeaderError> {
    fn v<'a, T: TypedHeader<'a>>(value: &'a str) -> Result<(), HeaderError> {
        T::parse(value).map(|_| ())
    }
    match name {
        HeaderName::Via => v::<Via>(value),
        HeaderName::From => v::<From>(value),
        HeaderName::To => v::<To>(value),
        HeaderName::Contact => v::<Contact>(value),
        HeaderName::Route => v::<Route>(value),
        HeaderName::RecordRoute => v::<RecordRoute>(value),
        HeaderName::ReplyTo => v::<ReplyTo>(value),
        HeaderName::Path => v::<Path>(value),
        HeaderName::ServiceRoute => v::<ServiceRoute>(value),
        HeaderName::ReferTo => v::<ReferTo>(value),
        HeaderName::ReferredBy => v::<ReferredBy>(value),
        HeaderName::PAssertedIdentity => v::<PAssertedIdentity>(value),
        HeaderName::PPreferredIdentity => v::<PPreferredIdentity>(value),
        HeaderName::CallId => v::<CallId>(value),
        HeaderName::CSeq => v::<CSeq>(value),
        HeaderName::MaxForwards => v::<MaxForwards>(value),
        HeaderName::ContentLength => v::<ContentLength>(value),
        HeaderName::ContentType => v::<ContentType>(value),
        HeaderName::Accept => v::<Accept>(value),
        HeaderName::Expires => v::<Expires>(value),
        HeaderName::MinExpires => v::<MinExpires>(value),
        HeaderName::RSeq => v::<RSeq>(value),
        HeaderName::RAck => v::<RAck>(value),
        HeaderName::Allow => v::<Allow>(value),
        HeaderName::Supported => v::<Supported>(value),
        HeaderName::Require => v::<Require>(value),
        HeaderName::ProxyRequire => v::<ProxyRequire>(value),
        HeaderName::Unsupported => v::<Unsupported>(value),
        HeaderName::Subject => v::<Subject>(value),
        HeaderName::Organization => v::<Organization>(value),
        HeaderName::UserAgent => v::<UserAgent>(value),
        HeaderName::Server => v::<Server>(value),
        HeaderName::Date => v::<Date>(value),
        HeaderName::Warning => v::<Warning>(value),
        HeaderName::RetryAfter => v::<RetryAfter>(value),
        HeaderName::Priority => v::<Priority>(value),
        HeaderName::ContentDisposition => v::<ContentDisposition>(value),
        HeaderName::ContentEncoding => v::<ContentEncoding>(value),
        HeaderName::ContentLanguage => v::<ContentLanguage>(value),
        HeaderName::AcceptEncoding => v::<AcceptEncoding>(value),
        HeaderName::AcceptLanguage => v::<AcceptLanguage>(value),
        HeaderName::AlertInfo => v::<AlertInfo>(value),
        HeaderName::CallInfo => v::<CallInfo>(value),
        HeaderName::ErrorInfo => v::<ErrorInfo>(value),
        HeaderName::InReplyTo => v::<InReplyTo>(value),
        HeaderName::MimeVersion => v::<MimeVersion>(value),
        HeaderName::Timestamp => v::<Timestamp>(value),
        HeaderName::Authorization => v::<Authorization>(value),
        HeaderName::ProxyAuthorization => v::<ProxyAuthorization>(value),
        HeaderName::WwwAuthenticate => v::<WwwAuthenticate>(value),
        HeaderName::ProxyAuthenticate => v::<ProxyAuthenticate>(value),
        HeaderName::AuthenticationInfo => v::<AuthenticationInfo>(value),
        HeaderName::Event => v::<Event>(value),
        HeaderName::AllowEvents => v::<AllowEvents>(value),
        HeaderName::SubscriptionState => v::<SubscriptionState>(value),
        HeaderName::Reason => v::<Reason>(value),
        HeaderName::Replaces => v::<Replaces>(value),
        HeaderName::AcceptContact => v::<AcceptContact>(value),
        HeaderName::RejectContact => v::<RejectContact>(value),
        HeaderName::RequestDisposition => v::<RequestDisposition>(value),
        HeaderName::SessionExpires => v::<SessionExpires>(value),
        HeaderName::MinSe => v::<MinSe>(value),
        HeaderName::SipETag => v::<SipETag>(value),
        HeaderName::SipIfMatch => v::<SipIfMatch>(value),
        HeaderName::Privacy => v::<Privacy>(value),
        HeaderName::Identity => v::<Identity>(value),
        HeaderName::IdentityInfo => v::<IdentityInfo>(value),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bnf::CommaSplit;

    /// Validates every header value of a message's header section, returning
    /// the names of the headers that fail.
    fn failures(msg: &[u8]) -> Vec<String> {
        let end = msg
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap_or(msg.len());
        let head = std::str::from_utf8(&msg[..end]).unwrap();
        // Unfold into logical lines, keeping the folds inside values.
        let mut lines: Vec<String> = Vec::new();
        for l in head.split("\r\n").skip(1) {
            match lines.last_mut() {
                Some(last) if l.starts_with([' ', '\t']) => {
                    last.push_str("\r\n");
                    last.push_str(l);
                }
                _ => lines.push(l.to_owned()),
            }
        }
        let mut bad = Vec::new();
        for line in &lines {
            let (name, value) = line.split_once(':').unwrap();
            let hn = crate::HeaderName::from_bytes(name.trim_end().as_bytes());
            let ok = if hn.is_list() {
                CommaSplit::new(value).all(|v| v.is_ok_and(|v| validate(hn, v).is_ok()))
            } else {
                validate(hn, value).is_ok()
            };
            if !ok {
                bad.push(name.trim_end().to_owned());
            }
        }
        bad
    }

    macro_rules! data {
        ($name:literal) => {
            include_bytes!(concat!("../../tests/data/rfc4475/", $name, ".dat")).as_slice()
        };
    }

    #[test]
    fn rfc4475_valid_messages_validate() {
        for (name, msg) in [
            ("wsinv", data!("wsinv")),
            ("intmeth", data!("intmeth")),
            ("esc01", data!("esc01")),
            ("esc02", data!("esc02")),
            ("escnull", data!("escnull")),
            ("lwsdisp", data!("lwsdisp")),
            ("longreq", data!("longreq")),
            ("dblreq", data!("dblreq")),
            ("semiuri", data!("semiuri")),
            ("transports", data!("transports")),
            ("mpart01", data!("mpart01")),
            ("unreason", data!("unreason")),
            ("noreason", data!("noreason")),
            ("regaut01", data!("regaut01")),
        ] {
            assert_eq!(failures(msg), Vec::<String>::new(), "{name}");
        }
    }

    #[test]
    fn rfc4475_bad_values_are_found() {
        assert_eq!(failures(data!("baddate")), ["Date"]);
        let scalarlg = failures(data!("scalarlg"));
        assert!(scalarlg.iter().any(|n| n == "Retry-After"), "{scalarlg:?}");
        assert!(scalarlg.iter().any(|n| n == "Warning"), "{scalarlg:?}");
    }

    #[test]
    fn never_panics_on_truncations() {
        let samples = [
            "Digest username=\"a\\\"é\", realm=\"x,y\", nc=00000001, qop=\"auth, auth-int\"",
            "Bearer QWxh=, Basic x",
            "Sat, 13 Nov 2010 23:29:00 GMT",
            "Fré, 13 Növ 2010 23é29é00 GMT",
            "307 [2001:db8::1]:5061 \"text \\\\ \\\"é\"",
            "120 (a (b\\) é) c) ;duration=10",
            "<http://example.com/é;a=b>;purpose=icon",
            "presence.winfo;id=\"x;y\"",
            "terminated;reason=timeout;retry-after=30;expires=1",
            "SIP ;cause=200 ;text=\"Call \\\"completed\\\"\"",
            "425928@bobster.example.org;to-tag=7743;from-tag=6472;early-only",
            "*;+sip.methods=\"INVITE,BYE\";require;explicit",
            "4000;refresher=uac",
            "id;header;user",
            "\"ZYNB+/=\";info=<https://x/y;z>;alg=ES256",
            "da, en-gb;q=0.8, *;q=0",
            "54.3 \r\n 0.25",
            "1.0",
            "\\\"(\"<\\",
            "\r\n \t",
        ];
        for s in samples {
            let cuts = (0..=s.len()).filter(|&i| s.is_char_boundary(i));
            for i in cuts {
                for v in [&s[..i], &s[i..]] {
                    for &name in crate::HeaderName::ALL {
                        let _ = validate(name, v);
                    }
                }
            }
        }
    }
}
