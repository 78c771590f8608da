//! Header names: the known headers of RFC 3261 and its extensions, their
//! compact forms, and whether their values are comma-separated lists.
//!
//! Generated table; each entry is `(variant, canonical name, compact form, list)`.

/// A header name. Known headers have a variant of their own; any other name is
/// [`HeaderName::Other`] and keeps its text in the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum HeaderName {
    /// `Accept`
    Accept,
    /// `Accept-Contact` (compact `a`)
    AcceptContact,
    /// `Accept-Encoding`
    AcceptEncoding,
    /// `Accept-Language`
    AcceptLanguage,
    /// `Alert-Info`
    AlertInfo,
    /// `Allow`
    Allow,
    /// `Allow-Events` (compact `u`)
    AllowEvents,
    /// `Authentication-Info`
    AuthenticationInfo,
    /// `Authorization`
    Authorization,
    /// `Call-ID` (compact `i`)
    CallId,
    /// `Call-Info`
    CallInfo,
    /// `Contact` (compact `m`)
    Contact,
    /// `Content-Disposition`
    ContentDisposition,
    /// `Content-Encoding` (compact `e`)
    ContentEncoding,
    /// `Content-Language`
    ContentLanguage,
    /// `Content-Length` (compact `l`)
    ContentLength,
    /// `Content-Type` (compact `c`)
    ContentType,
    /// `CSeq`
    CSeq,
    /// `Date`
    Date,
    /// `Error-Info`
    ErrorInfo,
    /// `Event` (compact `o`)
    Event,
    /// `Expires`
    Expires,
    /// `From` (compact `f`)
    From,
    /// `Identity` (compact `y`)
    Identity,
    /// `Identity-Info` (compact `n`)
    IdentityInfo,
    /// `In-Reply-To`
    InReplyTo,
    /// `Max-Forwards`
    MaxForwards,
    /// `MIME-Version`
    MimeVersion,
    /// `Min-Expires`
    MinExpires,
    /// `Min-SE`
    MinSe,
    /// `Organization`
    Organization,
    /// `P-Asserted-Identity`
    PAssertedIdentity,
    /// `P-Preferred-Identity`
    PPreferredIdentity,
    /// `Path`
    Path,
    /// `Priority`
    Priority,
    /// `Privacy`
    Privacy,
    /// `Proxy-Authenticate`
    ProxyAuthenticate,
    /// `Proxy-Authorization`
    ProxyAuthorization,
    /// `Proxy-Require`
    ProxyRequire,
    /// `RAck`
    RAck,
    /// `Reason`
    Reason,
    /// `Record-Route`
    RecordRoute,
    /// `Refer-To` (compact `r`)
    ReferTo,
    /// `Referred-By` (compact `b`)
    ReferredBy,
    /// `Reject-Contact` (compact `j`)
    RejectContact,
    /// `Replaces`
    Replaces,
    /// `Reply-To`
    ReplyTo,
    /// `Request-Disposition` (compact `d`)
    RequestDisposition,
    /// `Require`
    Require,
    /// `Retry-After`
    RetryAfter,
    /// `Route`
    Route,
    /// `RSeq`
    RSeq,
    /// `Server`
    Server,
    /// `Service-Route`
    ServiceRoute,
    /// `Session-Expires` (compact `x`)
    SessionExpires,
    /// `SIP-ETag`
    SipETag,
    /// `SIP-If-Match`
    SipIfMatch,
    /// `Subject` (compact `s`)
    Subject,
    /// `Subscription-State`
    SubscriptionState,
    /// `Supported` (compact `k`)
    Supported,
    /// `Timestamp`
    Timestamp,
    /// `To` (compact `t`)
    To,
    /// `Unsupported`
    Unsupported,
    /// `User-Agent`
    UserAgent,
    /// `Via` (compact `v`)
    Via,
    /// `Warning`
    Warning,
    /// `WWW-Authenticate`
    WwwAuthenticate,
    /// Any other header: its name is kept as written.
    Other,
}

impl HeaderName {
    /// Every known header, in alphabetical order.
    pub const ALL: &'static [HeaderName] = &[
        HeaderName::Accept,
        HeaderName::AcceptContact,
        HeaderName::AcceptEncoding,
        HeaderName::AcceptLanguage,
        HeaderName::AlertInfo,
        HeaderName::Allow,
        HeaderName::AllowEvents,
        HeaderName::AuthenticationInfo,
        HeaderName::Authorization,
        HeaderName::CallId,
        HeaderName::CallInfo,
        HeaderName::Contact,
        HeaderName::ContentDisposition,
        HeaderName::ContentEncoding,
        HeaderName::ContentLanguage,
        HeaderName::ContentLength,
        HeaderName::ContentType,
        HeaderName::CSeq,
        HeaderName::Date,
        HeaderName::ErrorInfo,
        HeaderName::Event,
        HeaderName::Expires,
        HeaderName::From,
        HeaderName::Identity,
        HeaderName::IdentityInfo,
        HeaderName::InReplyTo,
        HeaderName::MaxForwards,
        HeaderName::MimeVersion,
        HeaderName::MinExpires,
        HeaderName::MinSe,
        HeaderName::Organization,
        HeaderName::PAssertedIdentity,
        HeaderName::PPreferredIdentity,
        HeaderName::Path,
        HeaderName::Priority,
        HeaderName::Privacy,
        HeaderName::ProxyAuthenticate,
        HeaderName::ProxyAuthorization,
        HeaderName::ProxyRequire,
        HeaderName::RAck,
        HeaderName::Reason,
        HeaderName::RecordRoute,
        HeaderName::ReferTo,
        HeaderName::ReferredBy,
        HeaderName::RejectContact,
        HeaderName::Replaces,
        HeaderName::ReplyTo,
        HeaderName::RequestDisposition,
        HeaderName::Require,
        HeaderName::RetryAfter,
        HeaderName::Route,
        HeaderName::RSeq,
        HeaderName::Server,
        HeaderName::ServiceRoute,
        HeaderName::SessionExpires,
        HeaderName::SipETag,
        HeaderName::SipIfMatch,
        HeaderName::Subject,
        HeaderName::SubscriptionState,
        HeaderName::Supported,
        HeaderName::Timestamp,
        HeaderName::To,
        HeaderName::Unsupported,
        HeaderName::UserAgent,
        HeaderName::Via,
        HeaderName::Warning,
        HeaderName::WwwAuthenticate,
    ];

    /// The canonical spelling (`Call-ID`), empty for [`HeaderName::Other`].
    pub const fn as_str(self) -> &'static str {
        match self {
            HeaderName::Accept => "Accept",
            HeaderName::AcceptContact => "Accept-Contact",
            HeaderName::AcceptEncoding => "Accept-Encoding",
            HeaderName::AcceptLanguage => "Accept-Language",
            HeaderName::AlertInfo => "Alert-Info",
            HeaderName::Allow => "Allow",
            HeaderName::AllowEvents => "Allow-Events",
            HeaderName::AuthenticationInfo => "Authentication-Info",
            HeaderName::Authorization => "Authorization",
            HeaderName::CallId => "Call-ID",
            HeaderName::CallInfo => "Call-Info",
            HeaderName::Contact => "Contact",
            HeaderName::ContentDisposition => "Content-Disposition",
            HeaderName::ContentEncoding => "Content-Encoding",
            HeaderName::ContentLanguage => "Content-Language",
            HeaderName::ContentLength => "Content-Length",
            HeaderName::ContentType => "Content-Type",
            HeaderName::CSeq => "CSeq",
            HeaderName::Date => "Date",
            HeaderName::ErrorInfo => "Error-Info",
            HeaderName::Event => "Event",
            HeaderName::Expires => "Expires",
            HeaderName::From => "From",
            HeaderName::Identity => "Identity",
            HeaderName::IdentityInfo => "Identity-Info",
            HeaderName::InReplyTo => "In-Reply-To",
            HeaderName::MaxForwards => "Max-Forwards",
            HeaderName::MimeVersion => "MIME-Version",
            HeaderName::MinExpires => "Min-Expires",
            HeaderName::MinSe => "Min-SE",
            HeaderName::Organization => "Organization",
            HeaderName::PAssertedIdentity => "P-Asserted-Identity",
            HeaderName::PPreferredIdentity => "P-Preferred-Identity",
            HeaderName::Path => "Path",
            HeaderName::Priority => "Priority",
            HeaderName::Privacy => "Privacy",
            HeaderName::ProxyAuthenticate => "Proxy-Authenticate",
            HeaderName::ProxyAuthorization => "Proxy-Authorization",
            HeaderName::ProxyRequire => "Proxy-Require",
            HeaderName::RAck => "RAck",
            HeaderName::Reason => "Reason",
            HeaderName::RecordRoute => "Record-Route",
            HeaderName::ReferTo => "Refer-To",
            HeaderName::ReferredBy => "Referred-By",
            HeaderName::RejectContact => "Reject-Contact",
            HeaderName::Replaces => "Replaces",
            HeaderName::ReplyTo => "Reply-To",
            HeaderName::RequestDisposition => "Request-Disposition",
            HeaderName::Require => "Require",
            HeaderName::RetryAfter => "Retry-After",
            HeaderName::Route => "Route",
            HeaderName::RSeq => "RSeq",
            HeaderName::Server => "Server",
            HeaderName::ServiceRoute => "Service-Route",
            HeaderName::SessionExpires => "Session-Expires",
            HeaderName::SipETag => "SIP-ETag",
            HeaderName::SipIfMatch => "SIP-If-Match",
            HeaderName::Subject => "Subject",
            HeaderName::SubscriptionState => "Subscription-State",
            HeaderName::Supported => "Supported",
            HeaderName::Timestamp => "Timestamp",
            HeaderName::To => "To",
            HeaderName::Unsupported => "Unsupported",
            HeaderName::UserAgent => "User-Agent",
            HeaderName::Via => "Via",
            HeaderName::Warning => "Warning",
            HeaderName::WwwAuthenticate => "WWW-Authenticate",
            HeaderName::Other => "",
        }
    }

    /// The compact form (`i` for Call-ID), if the header has one.
    pub const fn compact(self) -> Option<u8> {
        match self {
            HeaderName::AcceptContact => Some(b'a'),
            HeaderName::AllowEvents => Some(b'u'),
            HeaderName::CallId => Some(b'i'),
            HeaderName::Contact => Some(b'm'),
            HeaderName::ContentEncoding => Some(b'e'),
            HeaderName::ContentLength => Some(b'l'),
            HeaderName::ContentType => Some(b'c'),
            HeaderName::Event => Some(b'o'),
            HeaderName::From => Some(b'f'),
            HeaderName::Identity => Some(b'y'),
            HeaderName::IdentityInfo => Some(b'n'),
            HeaderName::ReferTo => Some(b'r'),
            HeaderName::ReferredBy => Some(b'b'),
            HeaderName::RejectContact => Some(b'j'),
            HeaderName::RequestDisposition => Some(b'd'),
            HeaderName::SessionExpires => Some(b'x'),
            HeaderName::Subject => Some(b's'),
            HeaderName::Supported => Some(b'k'),
            HeaderName::To => Some(b't'),
            HeaderName::Via => Some(b'v'),
            _ => None,
        }
    }

    /// True when the header's value is a comma-separated list (RFC 3261 §7.3.1),
    /// so several header lines can be combined and one line can carry several
    /// values.
    pub const fn is_list(self) -> bool {
        matches!(
            self,
            HeaderName::Accept
                | HeaderName::AcceptContact
                | HeaderName::AcceptEncoding
                | HeaderName::AcceptLanguage
                | HeaderName::AlertInfo
                | HeaderName::Allow
                | HeaderName::AllowEvents
                | HeaderName::CallInfo
                | HeaderName::Contact
                | HeaderName::ContentEncoding
                | HeaderName::ContentLanguage
                | HeaderName::ErrorInfo
                | HeaderName::InReplyTo
                | HeaderName::PAssertedIdentity
                | HeaderName::PPreferredIdentity
                | HeaderName::Path
                | HeaderName::ProxyRequire
                | HeaderName::Reason
                | HeaderName::RecordRoute
                | HeaderName::RejectContact
                | HeaderName::RequestDisposition
                | HeaderName::Require
                | HeaderName::Route
                | HeaderName::ServiceRoute
                | HeaderName::Supported
                | HeaderName::Unsupported
                | HeaderName::Via
                | HeaderName::Warning
        )
    }

    /// Looks a name up, case-insensitively, compact forms included.
    pub fn from_bytes(name: &[u8]) -> HeaderName {
        if name.len() == 1 {
            return match name[0].to_ascii_lowercase() {
                b'a' => HeaderName::AcceptContact,
                b'u' => HeaderName::AllowEvents,
                b'i' => HeaderName::CallId,
                b'm' => HeaderName::Contact,
                b'e' => HeaderName::ContentEncoding,
                b'l' => HeaderName::ContentLength,
                b'c' => HeaderName::ContentType,
                b'o' => HeaderName::Event,
                b'f' => HeaderName::From,
                b'y' => HeaderName::Identity,
                b'n' => HeaderName::IdentityInfo,
                b'r' => HeaderName::ReferTo,
                b'b' => HeaderName::ReferredBy,
                b'j' => HeaderName::RejectContact,
                b'd' => HeaderName::RequestDisposition,
                b'x' => HeaderName::SessionExpires,
                b's' => HeaderName::Subject,
                b'k' => HeaderName::Supported,
                b't' => HeaderName::To,
                b'v' => HeaderName::Via,
                _ => HeaderName::Other,
            };
        }
        // Dispatch on length and first letter, then compare the whole name.
        let first = match name.first() {
            Some(b) => b.to_ascii_lowercase(),
            None => return HeaderName::Other,
        };
        let candidate = match (name.len(), first) {
            (2, b't') => HeaderName::To,
            (3, b'v') => HeaderName::Via,
            (4, b'c') => HeaderName::CSeq,
            (4, b'd') => HeaderName::Date,
            (4, b'f') => HeaderName::From,
            (4, b'p') => HeaderName::Path,
            (4, b'r') => {
                if name.eq_ignore_ascii_case(b"RAck") {
                    return HeaderName::RAck;
                }
                if name.eq_ignore_ascii_case(b"RSeq") {
                    return HeaderName::RSeq;
                }
                return HeaderName::Other;
            }
            (5, b'a') => HeaderName::Allow,
            (5, b'e') => HeaderName::Event,
            (5, b'r') => HeaderName::Route,
            (6, b'a') => HeaderName::Accept,
            (6, b'm') => HeaderName::MinSe,
            (6, b'r') => HeaderName::Reason,
            (6, b's') => HeaderName::Server,
            (7, b'c') => {
                if name.eq_ignore_ascii_case(b"Call-ID") {
                    return HeaderName::CallId;
                }
                if name.eq_ignore_ascii_case(b"Contact") {
                    return HeaderName::Contact;
                }
                return HeaderName::Other;
            }
            (7, b'e') => HeaderName::Expires,
            (7, b'p') => HeaderName::Privacy,
            (7, b'r') => HeaderName::Require,
            (7, b's') => HeaderName::Subject,
            (7, b'w') => HeaderName::Warning,
            (8, b'i') => HeaderName::Identity,
            (8, b'p') => HeaderName::Priority,
            (8, b'r') => {
                if name.eq_ignore_ascii_case(b"Refer-To") {
                    return HeaderName::ReferTo;
                }
                if name.eq_ignore_ascii_case(b"Replaces") {
                    return HeaderName::Replaces;
                }
                if name.eq_ignore_ascii_case(b"Reply-To") {
                    return HeaderName::ReplyTo;
                }
                return HeaderName::Other;
            }
            (8, b's') => HeaderName::SipETag,
            (9, b'c') => HeaderName::CallInfo,
            (9, b's') => HeaderName::Supported,
            (9, b't') => HeaderName::Timestamp,
            (10, b'a') => HeaderName::AlertInfo,
            (10, b'e') => HeaderName::ErrorInfo,
            (10, b'u') => HeaderName::UserAgent,
            (11, b'i') => HeaderName::InReplyTo,
            (11, b'm') => HeaderName::MinExpires,
            (11, b'r') => {
                if name.eq_ignore_ascii_case(b"Referred-By") {
                    return HeaderName::ReferredBy;
                }
                if name.eq_ignore_ascii_case(b"Retry-After") {
                    return HeaderName::RetryAfter;
                }
                return HeaderName::Other;
            }
            (11, b'u') => HeaderName::Unsupported,
            (12, b'a') => HeaderName::AllowEvents,
            (12, b'c') => HeaderName::ContentType,
            (12, b'm') => {
                if name.eq_ignore_ascii_case(b"Max-Forwards") {
                    return HeaderName::MaxForwards;
                }
                if name.eq_ignore_ascii_case(b"MIME-Version") {
                    return HeaderName::MimeVersion;
                }
                return HeaderName::Other;
            }
            (12, b'o') => HeaderName::Organization,
            (12, b'r') => HeaderName::RecordRoute,
            (12, b's') => HeaderName::SipIfMatch,
            (13, b'a') => HeaderName::Authorization,
            (13, b'i') => HeaderName::IdentityInfo,
            (13, b'p') => HeaderName::ProxyRequire,
            (13, b's') => HeaderName::ServiceRoute,
            (14, b'a') => HeaderName::AcceptContact,
            (14, b'c') => HeaderName::ContentLength,
            (14, b'r') => HeaderName::RejectContact,
            (15, b'a') => {
                if name.eq_ignore_ascii_case(b"Accept-Encoding") {
                    return HeaderName::AcceptEncoding;
                }
                if name.eq_ignore_ascii_case(b"Accept-Language") {
                    return HeaderName::AcceptLanguage;
                }
                return HeaderName::Other;
            }
            (15, b's') => HeaderName::SessionExpires,
            (16, b'c') => {
                if name.eq_ignore_ascii_case(b"Content-Encoding") {
                    return HeaderName::ContentEncoding;
                }
                if name.eq_ignore_ascii_case(b"Content-Language") {
                    return HeaderName::ContentLanguage;
                }
                return HeaderName::Other;
            }
            (16, b'w') => HeaderName::WwwAuthenticate,
            (18, b'p') => HeaderName::ProxyAuthenticate,
            (18, b's') => HeaderName::SubscriptionState,
            (19, b'a') => HeaderName::AuthenticationInfo,
            (19, b'c') => HeaderName::ContentDisposition,
            (19, b'p') => {
                if name.eq_ignore_ascii_case(b"P-Asserted-Identity") {
                    return HeaderName::PAssertedIdentity;
                }
                if name.eq_ignore_ascii_case(b"Proxy-Authorization") {
                    return HeaderName::ProxyAuthorization;
                }
                return HeaderName::Other;
            }
            (19, b'r') => HeaderName::RequestDisposition,
            (20, b'p') => HeaderName::PPreferredIdentity,
            _ => return HeaderName::Other,
        };
        if name.eq_ignore_ascii_case(candidate.as_str().as_bytes()) {
            candidate
        } else {
            HeaderName::Other
        }
    }
}

impl std::fmt::Display for HeaderName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_and_compact_form_round_trips() {
        for &h in HeaderName::ALL {
            assert_eq!(HeaderName::from_bytes(h.as_str().as_bytes()), h);
            assert_eq!(
                HeaderName::from_bytes(h.as_str().to_lowercase().as_bytes()),
                h
            );
            assert_eq!(
                HeaderName::from_bytes(h.as_str().to_uppercase().as_bytes()),
                h
            );
            if let Some(c) = h.compact() {
                assert_eq!(HeaderName::from_bytes(&[c]), h);
                assert_eq!(HeaderName::from_bytes(&[c.to_ascii_uppercase()]), h);
            }
        }
        let compact: String = HeaderName::ALL
            .iter()
            .filter_map(|h| h.compact())
            .map(char::from)
            .collect();
        for c in "imelcfsktvourbxyajdn".chars() {
            assert!(compact.contains(c), "{c}");
        }
        assert_eq!(
            HeaderName::from_bytes(b"MaX-fOrWaRdS"),
            HeaderName::MaxForwards
        );
        assert_eq!(HeaderName::from_bytes(b"C%6Fntact"), HeaderName::Other);
        assert_eq!(HeaderName::from_bytes(b"Contacts"), HeaderName::Other);
        assert_eq!(HeaderName::from_bytes(b""), HeaderName::Other);
        assert_eq!(HeaderName::from_bytes(b"z"), HeaderName::Other);
    }
}
