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

    /// Scans a header name at the start of `line` (token characters) and
    /// looks it up. Returns the kind and the name's length.
    ///
    /// Known names are found eight bytes at a time: the name ends at the first
    /// byte below 0x21 or `:` (found with a zero-byte test on the word), and
    /// the name's words, with `| 0x20` folding letters to lower case, are
    /// compared with the known names' words (`lookup_words`). The fold is exact
    /// for names of letters and `-` because the only other byte it maps to one
    /// of those, CR (to `-`), ends the name. Measured with callgrind on the
    /// benchmark INVITE, this takes half the instructions of a byte loop.
    /// Other names go through [`HeaderName::scan_bytes`].
    #[inline]
    pub(crate) fn scan(line: &[u8]) -> (HeaderName, usize) {
        const ONES: u64 = 0x0101_0101_0101_0101;
        const HIGH: u64 = 0x8080_8080_8080_8080;
        const COLONS: u64 = 0x3a3a_3a3a_3a3a_3a3a;
        const FOLD: u64 = 0x2020_2020_2020_2020;
        let mut w = [FOLD; 3];
        for k in 0..3 {
            let Some(chunk) = line.get(8 * k..).and_then(|r| r.first_chunk::<8>()) else {
                break;
            };
            let x = u64::from_le_bytes(*chunk);
            let c = x ^ COLONS;
            // High bit of each byte below 0x21 or equal to ':'; the lowest one
            // is exact (borrows only run upwards from a flagged byte).
            let t = ((x.wrapping_sub(ONES * 0x21) & !x) | (c.wrapping_sub(ONES) & !c)) & HIGH;
            if t == 0 {
                w[k] = x | FOLD;
                continue;
            }
            let in_word = (t.trailing_zeros() / 8) as usize;
            let keep = (1u64 << (8 * in_word)) - 1;
            w[k] = (x & keep) | FOLD;
            let len = 8 * k + in_word;
            if len > 0 {
                let kind = lookup_words(len, &w);
                if kind != HeaderName::Other {
                    return (kind, len);
                }
            }
            break;
        }
        HeaderName::scan_bytes(line)
    }

    /// [`HeaderName::scan`] a byte at a time: for names that are not known, or
    /// too close to the end of the buffer for word loads.
    fn scan_bytes(line: &[u8]) -> (HeaderName, usize) {
        let mut buf = [b' '; 32];
        let mut n = 0;
        for &byte in line {
            let c = LOWER_TOKEN[byte as usize];
            if c == 0 {
                break;
            }
            // Names longer than 24 bytes are unknown; only their length counts.
            buf[n & 31] = c;
            n += 1;
        }
        if n > 24 {
            return (HeaderName::Other, n);
        }
        let mut w = [0u64; 3];
        for (word, chunk) in w.iter_mut().zip(buf.chunks_exact(8)) {
            let mut bytes = [0u8; 8];
            bytes.copy_from_slice(chunk);
            *word = u64::from_le_bytes(bytes);
        }
        (lookup_words(n, &w), n)
    }

    /// Looks a name up, case-insensitively, compact forms included.
    pub fn from_bytes(name: &[u8]) -> HeaderName {
        match HeaderName::scan(name) {
            (kind, n) if n == name.len() => kind,
            _ => HeaderName::Other,
        }
    }
}

/// Looks up a name of `len` bytes (at most 24) given as three little-endian
/// words, lower-cased and padded with spaces. Generated from the table of
/// names; each arm compares whole words.
fn lookup_words(len: usize, w: &[u64; 3]) -> HeaderName {
    // Within a length, the most frequent names come first.
    match len {
        1 if w[0] == 0x2020202020202076 => HeaderName::Via, // v
        1 if w[0] == 0x2020202020202066 => HeaderName::From, // f
        1 if w[0] == 0x2020202020202074 => HeaderName::To,  // t
        1 if w[0] == 0x2020202020202069 => HeaderName::CallId, // i
        1 if w[0] == 0x202020202020206d => HeaderName::Contact, // m
        1 if w[0] == 0x2020202020202063 => HeaderName::ContentType, // c
        1 if w[0] == 0x202020202020206c => HeaderName::ContentLength, // l
        1 if w[0] == 0x202020202020206b => HeaderName::Supported, // k
        1 if w[0] == 0x202020202020206f => HeaderName::Event, // o
        1 if w[0] == 0x2020202020202078 => HeaderName::SessionExpires, // x
        1 if w[0] == 0x2020202020202061 => HeaderName::AcceptContact, // a
        1 if w[0] == 0x2020202020202062 => HeaderName::ReferredBy, // b
        1 if w[0] == 0x2020202020202064 => HeaderName::RequestDisposition, // d
        1 if w[0] == 0x2020202020202065 => HeaderName::ContentEncoding, // e
        1 if w[0] == 0x202020202020206a => HeaderName::RejectContact, // j
        1 if w[0] == 0x202020202020206e => HeaderName::IdentityInfo, // n
        1 if w[0] == 0x2020202020202072 => HeaderName::ReferTo, // r
        1 if w[0] == 0x2020202020202073 => HeaderName::Subject, // s
        1 if w[0] == 0x2020202020202075 => HeaderName::AllowEvents, // u
        1 if w[0] == 0x2020202020202079 => HeaderName::Identity, // y
        2 if w[0] == 0x2020202020206f74 => HeaderName::To,  // to
        3 if w[0] == 0x2020202020616976 => HeaderName::Via, // via
        4 if w[0] == 0x202020206d6f7266 => HeaderName::From, // from
        4 if w[0] == 0x2020202071657363 => HeaderName::CSeq, // cseq
        4 if w[0] == 0x2020202065746164 => HeaderName::Date, // date
        4 if w[0] == 0x2020202071657372 => HeaderName::RSeq, // rseq
        4 if w[0] == 0x202020206b636172 => HeaderName::RAck, // rack
        4 if w[0] == 0x2020202068746170 => HeaderName::Path, // path
        5 if w[0] == 0x202020776f6c6c61 => HeaderName::Allow, // allow
        5 if w[0] == 0x2020206574756f72 => HeaderName::Route, // route
        5 if w[0] == 0x202020746e657665 => HeaderName::Event, // event
        6 if w[0] == 0x2020726576726573 => HeaderName::Server, // server
        6 if w[0] == 0x2020747065636361 => HeaderName::Accept, // accept
        6 if w[0] == 0x202065732d6e696d => HeaderName::MinSe, // min-se
        6 if w[0] == 0x20206e6f73616572 => HeaderName::Reason, // reason
        7 if w[0] == 0x2064692d6c6c6163 => HeaderName::CallId, // call-id
        7 if w[0] == 0x20746361746e6f63 => HeaderName::Contact, // contact
        7 if w[0] == 0x2073657269707865 => HeaderName::Expires, // expires
        7 if w[0] == 0x2065726975716572 => HeaderName::Require, // require
        7 if w[0] == 0x2079636176697270 => HeaderName::Privacy, // privacy
        7 if w[0] == 0x207463656a627573 => HeaderName::Subject, // subject
        7 if w[0] == 0x20676e696e726177 => HeaderName::Warning, // warning
        8 if w[0] == 0x797469746e656469 => HeaderName::Identity, // identity
        8 if w[0] == 0x797469726f697270 => HeaderName::Priority, // priority
        8 if w[0] == 0x6f742d7265666572 => HeaderName::ReferTo, // refer-to
        8 if w[0] == 0x736563616c706572 => HeaderName::Replaces, // replaces
        8 if w[0] == 0x6f742d796c706572 => HeaderName::ReplyTo, // reply-to
        8 if w[0] == 0x676174652d706973 => HeaderName::SipETag, // sip-etag
        9 if w[0] == 0x6574726f70707573 && w[1] == 0x2020202020202064 => HeaderName::Supported, // supported
        9 if w[0] == 0x666e692d6c6c6163 && w[1] == 0x202020202020206f => HeaderName::CallInfo, // call-info
        9 if w[0] == 0x6d617473656d6974 && w[1] == 0x2020202020202070 => HeaderName::Timestamp, // timestamp
        10 if w[0] == 0x6567612d72657375 && w[1] == 0x202020202020746e => HeaderName::UserAgent, // user-agent
        10 if w[0] == 0x6e692d7472656c61 && w[1] == 0x2020202020206f66 => HeaderName::AlertInfo, // alert-info
        10 if w[0] == 0x6e692d726f727265 && w[1] == 0x2020202020206f66 => HeaderName::ErrorInfo, // error-info
        11 if w[0] == 0x796c7065722d6e69 && w[1] == 0x20202020206f742d => HeaderName::InReplyTo, // in-reply-to
        11 if w[0] == 0x697078652d6e696d && w[1] == 0x2020202020736572 => HeaderName::MinExpires, // min-expires
        11 if w[0] == 0x6465727265666572 && w[1] == 0x202020202079622d => HeaderName::ReferredBy, // referred-by
        11 if w[0] == 0x66612d7972746572 && w[1] == 0x2020202020726574 => HeaderName::RetryAfter, // retry-after
        11 if w[0] == 0x726f707075736e75 && w[1] == 0x2020202020646574 => HeaderName::Unsupported, // unsupported
        12 if w[0] == 0x77726f662d78616d && w[1] == 0x2020202073647261 => HeaderName::MaxForwards, // max-forwards
        12 if w[0] == 0x2d746e65746e6f63 && w[1] == 0x2020202065707974 => HeaderName::ContentType, // content-type
        12 if w[0] == 0x722d64726f636572 && w[1] == 0x202020206574756f => HeaderName::RecordRoute, // record-route
        12 if w[0] == 0x76652d776f6c6c61 && w[1] == 0x2020202073746e65 => HeaderName::AllowEvents, // allow-events
        12 if w[0] == 0x7265762d656d696d && w[1] == 0x202020206e6f6973 => HeaderName::MimeVersion, // mime-version
        12 if w[0] == 0x617a696e6167726f && w[1] == 0x202020206e6f6974 => HeaderName::Organization, // organization
        12 if w[0] == 0x6d2d66692d706973 && w[1] == 0x2020202068637461 => HeaderName::SipIfMatch, // sip-if-match
        13 if w[0] == 0x7a69726f68747561 && w[1] == 0x2020206e6f697461 => HeaderName::Authorization, // authorization
        13 if w[0] == 0x797469746e656469 && w[1] == 0x2020206f666e692d => HeaderName::IdentityInfo, // identity-info
        13 if w[0] == 0x65722d79786f7270 && w[1] == 0x2020206572697571 => HeaderName::ProxyRequire, // proxy-require
        13 if w[0] == 0x2d65636976726573 && w[1] == 0x2020206574756f72 => HeaderName::ServiceRoute, // service-route
        14 if w[0] == 0x2d746e65746e6f63 && w[1] == 0x20206874676e656c => HeaderName::ContentLength, // content-length
        14 if w[0] == 0x632d747065636361 && w[1] == 0x2020746361746e6f => HeaderName::AcceptContact, // accept-contact
        14 if w[0] == 0x632d7463656a6572 && w[1] == 0x2020746361746e6f => HeaderName::RejectContact, // reject-contact
        15 if w[0] == 0x2d6e6f6973736573 && w[1] == 0x2073657269707865 => {
            HeaderName::SessionExpires
        } // session-expires
        15 if w[0] == 0x652d747065636361 && w[1] == 0x20676e69646f636e => {
            HeaderName::AcceptEncoding
        } // accept-encoding
        15 if w[0] == 0x6c2d747065636361 && w[1] == 0x2065676175676e61 => {
            HeaderName::AcceptLanguage
        } // accept-language
        16 if w[0] == 0x687475612d777777 && w[1] == 0x6574616369746e65 => {
            HeaderName::WwwAuthenticate
        } // www-authenticate
        16 if w[0] == 0x2d746e65746e6f63 && w[1] == 0x676e69646f636e65 => {
            HeaderName::ContentEncoding
        } // content-encoding
        16 if w[0] == 0x2d746e65746e6f63 && w[1] == 0x65676175676e616c => {
            HeaderName::ContentLanguage
        } // content-language
        18 if w[0] == 0x7069726373627573
            && w[1] == 0x6174732d6e6f6974
            && w[2] == 0x2020202020206574 =>
        {
            HeaderName::SubscriptionState
        } // subscription-state
        18 if w[0] == 0x75612d79786f7270
            && w[1] == 0x616369746e656874
            && w[2] == 0x2020202020206574 =>
        {
            HeaderName::ProxyAuthenticate
        } // proxy-authenticate
        19 if w[0] == 0x75612d79786f7270
            && w[1] == 0x74617a69726f6874
            && w[2] == 0x20202020206e6f69 =>
        {
            HeaderName::ProxyAuthorization
        } // proxy-authorization
        19 if w[0] == 0x7472657373612d70
            && w[1] == 0x746e6564692d6465
            && w[2] == 0x2020202020797469 =>
        {
            HeaderName::PAssertedIdentity
        } // p-asserted-identity
        19 if w[0] == 0x69746e6568747561
            && w[1] == 0x692d6e6f69746163
            && w[2] == 0x20202020206f666e =>
        {
            HeaderName::AuthenticationInfo
        } // authentication-info
        19 if w[0] == 0x2d746e65746e6f63
            && w[1] == 0x7469736f70736964
            && w[2] == 0x20202020206e6f69 =>
        {
            HeaderName::ContentDisposition
        } // content-disposition
        19 if w[0] == 0x2d74736575716572
            && w[1] == 0x7469736f70736964
            && w[2] == 0x20202020206e6f69 =>
        {
            HeaderName::RequestDisposition
        } // request-disposition
        20 if w[0] == 0x7265666572702d70
            && w[1] == 0x6e6564692d646572
            && w[2] == 0x2020202079746974 =>
        {
            HeaderName::PPreferredIdentity
        } // p-preferred-identity
        _ => HeaderName::Other,
    }
}

/// Token characters mapped to their lower case; 0 for every other byte.
static LOWER_TOKEN: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        t[i] = match b {
            b'A'..=b'Z' => b + 32,
            b'a'..=b'z' | b'0'..=b'9' => b,
            b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~' => b,
            _ => 0,
        };
        i += 1;
    }
    t
};

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
        assert_eq!(HeaderName::from_bytes(b"Call\rID"), HeaderName::Other);
        assert_eq!(HeaderName::from_bytes(b"Call_ID"), HeaderName::Other);
        assert_eq!(HeaderName::from_bytes(&[b'a'; 40]), HeaderName::Other);
        assert_eq!(
            HeaderName::scan(b"MaX-fOrWaRdS : 1"),
            (HeaderName::MaxForwards, 12)
        );
        assert_eq!(HeaderName::scan(b"v:"), (HeaderName::Via, 1));
        assert_eq!(HeaderName::scan(&[b'a'; 30]), (HeaderName::Other, 30));
        assert_eq!(HeaderName::scan(b": x"), (HeaderName::Other, 0));
        // Word-at-a-time and byte-at-a-time agree, whatever follows the name.
        for &h in HeaderName::ALL {
            for name in [
                h.as_str().to_string(),
                h.as_str().to_uppercase(),
                h.as_str().to_lowercase(),
            ] {
                for tail in [
                    ": value\r\n",
                    " : v\r\n",
                    "\t:v\r\n\r\n",
                    ":",
                    "\r\nx: y\r\n",
                ] {
                    let line = format!("{name}{tail}padding-to-be-long");
                    assert_eq!(
                        HeaderName::scan(line.as_bytes()),
                        (h, name.len()),
                        "{line:?}"
                    );
                    assert_eq!(
                        HeaderName::scan_bytes(line.as_bytes()),
                        (h, name.len()),
                        "{line:?}"
                    );
                }
            }
        }
        assert_eq!(
            HeaderName::scan(b"Call\rID: x-padding-to-be-long").0,
            HeaderName::Other
        );
        assert_eq!(
            HeaderName::scan(b"Via\x00: x-padding-to-be-long"),
            (HeaderName::Via, 3)
        );
        assert_eq!(
            HeaderName::scan(b"V\xc9a: x-padding-to-be-long"),
            (HeaderName::Via, 1)
        );
        assert_eq!(
            HeaderName::scan(b"X-Custom-Header: y-padding"),
            (HeaderName::Other, 15)
        );
        assert_eq!(
            HeaderName::scan(b"Fro\"m: y-padding-to-be-long"),
            (HeaderName::Other, 3)
        );
        for &h in HeaderName::ALL {
            assert_eq!(HeaderName::scan(h.as_str().as_bytes()).0, h);
        }
    }
}
