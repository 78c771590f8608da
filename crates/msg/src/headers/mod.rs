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

mod addr;
// mod auth;
mod basic;
// mod ext;
mod via;

pub use addr::*;
// pub use auth::*;
pub use basic::*;
// pub use ext::*;
pub use via::*;

use crate::name::HeaderName;

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
        _ => Ok(()),
    }
}
