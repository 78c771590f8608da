//! `sofia-msg`: a zero-copy SIP message, header and URI parser and serializer,
//! the counterpart of sofia-sip's `msg`, `sip`, `url` and `bnf` modules.
//!
//! A [`Message`] is one [`bytes::Bytes`] buffer plus an index of its header
//! lines; names, values, the Request-URI and the body are slices of the
//! buffer. The headers a transaction needs (top Via, From/To tags, Call-ID,
//! CSeq, Max-Forwards, Content-Length, Content-Type) are parsed with the
//! message; every other header is parsed on demand into a typed view
//! ([`headers`]). [`Message::check`] says what a UAS must answer (400 naming
//! the bad header, 505, 416, 420, ...). [`StreamFramer`] cuts messages out of
//! a TCP or TLS byte stream. [`RequestBuilder`] and [`ResponseBuilder`] write
//! new messages.
//!
//! The crate needs no async runtime and never panics on input.
//!
//! ```
//! use bytes::Bytes;
//! use sofia_msg::{Message, Method, HeaderName};
//!
//! let msg = Message::parse(Bytes::from_static(
//!     b"OPTIONS sip:bob@example.com SIP/2.0\r\n\
//!       Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK74bf9\r\n\
//!       Max-Forwards: 70\r\n\
//!       From: Alice <sip:alice@example.com>;tag=9fxced76sl\r\n\
//!       To: <sip:bob@example.com>\r\n\
//!       Call-ID: 3848276298220188511@example.com\r\n\
//!       CSeq: 63104 OPTIONS\r\n\
//!       Content-Length: 0\r\n\r\n",
//! )).unwrap();
//! assert_eq!(msg.method(), Method::Options);
//! assert_eq!(msg.branch(), Some("z9hG4bK74bf9"));
//! assert_eq!(msg.from_tag(), Some("9fxced76sl"));
//! assert!(msg.check().is_ok());
//!
//! // A response per RFC 3261 §8.2.6, written into a buffer.
//! let resp = sofia_msg::ResponseBuilder::reply_to(&msg, 200, "OK", Some("314159"))
//!     .header(HeaderName::Allow, "INVITE, ACK, CANCEL, OPTIONS, BYE")
//!     .build()
//!     .unwrap();
//! assert_eq!(resp.status(), Some(200));
//! assert_eq!(resp.to_tag(), Some("314159"));
//! ```
#![deny(unsafe_code)]

pub mod bnf;
mod builder;
mod check;
mod error;
mod framer;
pub mod headers;
mod message;
mod method;
mod name;
pub mod params;
mod pool;
mod scan;
pub mod uri;

pub use builder::{BuildError, RequestBuilder, ResponseBuilder};
pub use check::CheckPolicy;
pub use error::{Defect, DefectKind, ParseError, Rejection};
pub use framer::{Frame, FrameError, StreamFramer};
pub use message::{HeaderRef, Limits, Message, unfold};
pub use method::Method;
pub use name::HeaderName;
pub use params::Params;
pub use uri::{Scheme, Uri, UriError};

/// RFC 3261's magic cookie at the start of every branch it generates.
pub const BRANCH_COOKIE: &str = "z9hG4bK";
