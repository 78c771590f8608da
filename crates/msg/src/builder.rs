//! Writing new requests and responses.
//!
//! Builders write the message as they go into one pooled per-thread
//! buffer, and copy it out once at its size ([`RequestBuilder::build_in`]
//! copies it into the caller's reusable `BytesMut`). Every value is checked
//! for line breaks (no header injection), every name for token characters,
//! and the index of the lines written goes through the parse's own
//! start-line, critical-header and limit checks, so a built message is
//! always one this crate accepts.

use bytes::{BufMut, Bytes, BytesMut};

use crate::bnf::{is_lws, is_token_str};
use crate::error::ParseError;
use crate::message::{Entry, Message, Scanned, Span};
use crate::method::Method;
use crate::name::HeaderName;
use crate::uri::Uri;

/// Why a message could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    /// A method that is not a token.
    #[error("invalid method {0:?}")]
    Method(String),
    /// A Request-URI that does not parse.
    #[error("invalid Request-URI {0:?}")]
    Uri(String),
    /// A status code outside 100..=699 or a reason with a line break.
    #[error("invalid status line: {0}")]
    Status(String),
    /// A header name that is not a token.
    #[error("invalid header name {0:?}")]
    HeaderName(String),
    /// A header value with a CR, LF or NUL.
    #[error("invalid value for header {0}")]
    HeaderValue(String),
    /// The built message does not parse back.
    #[error("built message does not parse: {0}")]
    Parse(#[from] ParseError),
}

/// Buffers the builders write into, kept per thread. A built message is
/// copied out at its exact size and the buffer goes back to the pool: a
/// buffer with room to spare, frozen into the message, cost an allocation
/// for its reference count besides its own, and glibc's allocator spent
/// 6 % of a stateful responder's cycles on those small allocations (perf).
mod out_pool {
    use crate::pool;
    use std::cell::RefCell;

    /// Most buffers kept per thread.
    const KEEP: usize = 16;
    /// Larger buffers (a message with a large body) are freed.
    const LARGEST: usize = 16 * 1024;

    thread_local! {
        static POOL: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
    }

    pub(super) fn take(capacity: usize) -> Vec<u8> {
        pool::take(&POOL, capacity)
    }

    pub(super) fn give(v: Vec<u8>) {
        pool::give(&POOL, v, KEEP, |capacity| capacity <= LARGEST);
    }
}

/// Header lines and body shared by both builders.
#[derive(Debug)]
struct Writer {
    out: Vec<u8>,
    error: Option<BuildError>,
    content_length_set: bool,
    body: Option<Bytes>,
    /// The index of the lines written, as the parse would build it.
    lines: Vec<Entry>,
    /// Every line so far is as [`Message::write_to`] writes it (a value
    /// with white space at either end is not).
    lines_verbatim: bool,
    /// What the parse of the message a line was copied from read in it, by
    /// line: the critical headers of a response to a request are not
    /// scanned again.
    known: [(usize, Scanned); 4],
    known_len: usize,
}

impl Writer {
    fn new(capacity: usize) -> Self {
        Writer {
            out: out_pool::take(capacity),
            error: None,
            content_length_set: false,
            body: None,
            lines: crate::message::new_index(),
            lines_verbatim: true,
            known: [(0, Scanned::Tag(None)); 4],
            known_len: 0,
        }
    }

    /// A line of a known kind whose value is copied from a parsed message,
    /// with what that message's parse read in the value (`scanned`, from
    /// [`Message::scanned`]), which the built message's index takes as it
    /// is.
    fn copied(&mut self, kind: HeaderName, value: &str, scanned: Option<Scanned>) {
        let before = self.lines.len();
        self.known(kind, &[value]);
        if let Some(k) = scanned
            && self.lines.len() > before
            && self.known_len < self.known.len()
        {
            self.known[self.known_len] = (before, k);
            self.known_len += 1;
        }
    }

    fn fail(&mut self, e: BuildError) {
        self.error.get_or_insert(e);
    }

    fn line(&mut self, name: &str, value: &str) {
        if !is_token_str(name) {
            self.fail(BuildError::HeaderName(name.to_string()));
            return;
        }
        let kind = HeaderName::from_bytes(name.as_bytes());
        self.put(kind, name, &[value]);
    }

    /// A line of a known kind, under its canonical name (no name checks).
    /// Building a response to a request without the token check and the
    /// name lookup of each line, and with the To tag written in parts
    /// rather than through `format!`, is most of what made a stateful
    /// responder's 200 cheaper (callgrind, `docs/performance.md`).
    fn known(&mut self, kind: HeaderName, parts: &[&str]) {
        self.put(kind, kind.as_str(), parts);
    }

    /// Writes `name: ` and the value made of `parts`, each checked for line
    /// breaks and NULs (no header injection).
    fn put(&mut self, kind: HeaderName, name: &str, parts: &[&str]) {
        if parts
            .iter()
            .any(|p| memchr::memchr3(b'\r', b'\n', 0, p.as_bytes()).is_some())
        {
            self.fail(BuildError::HeaderValue(name.to_string()));
            return;
        }
        if kind == HeaderName::ContentLength {
            self.content_length_set = true;
        }
        let len: usize = parts.iter().map(|p| p.len()).sum();
        self.out.reserve(name.len() + len + 4);
        let line_start = self.out.len();
        self.out.put_slice(name.as_bytes());
        self.out.put_slice(b": ");
        let value_start = self.out.len();
        for p in parts {
            self.out.put_slice(p.as_bytes());
        }
        let value_end = self.out.len();
        self.out.put_slice(b"\r\n");
        // The value's span as the parse reads it: without white space at
        // either end.
        let value = &self.out[value_start..value_end];
        let lead = value.iter().take_while(|&&c| is_lws(c)).count();
        let trail = value[lead..]
            .iter()
            .rev()
            .take_while(|&&c| is_lws(c))
            .count();
        self.lines_verbatim &= lead == 0 && trail == 0;
        self.lines.push(Entry {
            name: kind,
            name_s: Span::new(line_start, line_start + name.len()),
            value_s: Span::new(value_start + lead, value_end - trail),
        });
    }

    fn body(&mut self, content_type: &str, body: Bytes) {
        self.line("Content-Type", content_type);
        self.body = Some(body);
    }

    fn finish(mut self, into: Option<&mut BytesMut>) -> Result<Message, BuildError> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        let body = self.body.take().unwrap_or_default();
        if !self.content_length_set {
            let mut digits = itoa::Buffer::new();
            self.known(HeaderName::ContentLength, &[digits.format(body.len())]);
        }
        self.out.put_slice(b"\r\n");
        let body_start = self.out.len();
        self.out.put_slice(&body);
        let bytes = match into {
            Some(buf) => {
                // The index's offsets hold in `buf` only when it was empty.
                if !buf.is_empty() {
                    buf.put_slice(&self.out);
                    return Ok(Message::parse(buf.split().freeze())?);
                }
                buf.put_slice(&self.out);
                buf.split().freeze()
            }
            None => Bytes::copy_from_slice(&self.out),
        };
        let lines = std::mem::take(&mut self.lines);
        #[cfg(debug_assertions)]
        let written = bytes.clone();
        let msg = Message::from_written(
            bytes,
            lines,
            &self.known[..self.known_len],
            self.lines_verbatim,
            body_start,
        );
        // Every message built in a debug build (every test's) is checked
        // against a parse of its bytes, index and critical headers included.
        #[cfg(debug_assertions)]
        {
            let deep = |m: &Result<Message, ParseError>| match m {
                Ok(m) => format!("{m:?}"),
                Err(e) => format!("error {e:?}"),
            };
            debug_assert_eq!(deep(&msg), deep(&Message::parse(written)));
        }
        Ok(msg?)
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        out_pool::give(std::mem::take(&mut self.out));
    }
}

/// The header, body and build methods both builders share.
macro_rules! builder_methods {
    () => {
        /// Adds a header line of a known kind (canonical name).
        pub fn header(mut self, name: HeaderName, value: &str) -> Self {
            if name == HeaderName::Other {
                self.w.line(name.as_str(), value);
            } else {
                self.w.known(name, &[value]);
            }
            self
        }

        /// Adds a header line with any name.
        pub fn header_named(mut self, name: &str, value: &str) -> Self {
            self.w.line(name, value);
            self
        }

        /// Sets the body and its Content-Type; Content-Length is added when built.
        pub fn body(mut self, content_type: &str, body: impl Into<Bytes>) -> Self {
            self.w.body(content_type, body.into());
            self
        }

        /// Writes the message.
        pub fn build(self) -> Result<Message, BuildError> {
            self.w.finish(None)
        }

        /// Writes the message into `buf` (reusing its allocation).
        pub fn build_in(self, buf: &mut BytesMut) -> Result<Message, BuildError> {
            self.w.finish(Some(buf))
        }
    };
}

/// Builds a request.
///
/// ```
/// use sofia_msg::{RequestBuilder, Method, HeaderName};
/// let req = RequestBuilder::new(Method::Message, "sip:bob@example.com")
///     .header(HeaderName::Via, "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1")
///     .header(HeaderName::MaxForwards, "70")
///     .header(HeaderName::From, "<sip:alice@example.com>;tag=1")
///     .header(HeaderName::To, "<sip:bob@example.com>")
///     .header(HeaderName::CallId, "1@192.0.2.1")
///     .header(HeaderName::CSeq, "1 MESSAGE")
///     .body("text/plain", "hello")
///     .build()
///     .unwrap();
/// assert_eq!(req.body_bytes(), b"hello");
/// assert_eq!(req.content_length(), Some(5));
/// ```
#[derive(Debug)]
pub struct RequestBuilder {
    w: Writer,
}

impl RequestBuilder {
    /// Starts a request with a known method.
    pub fn new(method: Method, uri: &str) -> Self {
        Self::with_method(method.as_str(), uri)
    }

    /// Starts a request with any method name (extension methods).
    pub fn with_method(method: &str, uri: &str) -> Self {
        let mut w = Writer::new(512);
        if !is_token_str(method) {
            w.fail(BuildError::Method(method.to_string()));
        }
        if Uri::parse(uri).is_err() {
            w.fail(BuildError::Uri(uri.to_string()));
        }
        w.out.put_slice(method.as_bytes());
        w.out.put_u8(b' ');
        w.out.put_slice(uri.as_bytes());
        w.out.put_slice(b" SIP/2.0\r\n");
        RequestBuilder { w }
    }

    builder_methods!();
}

/// Builds a response.
#[derive(Debug)]
pub struct ResponseBuilder {
    w: Writer,
}

impl ResponseBuilder {
    /// Starts a response with no headers.
    pub fn new(status: u16, reason: &str) -> Self {
        let mut w = Writer::new(512);
        if !(100..=699).contains(&status) {
            w.fail(BuildError::Status(format!("status {status}")));
        }
        if reason.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
            w.fail(BuildError::Status("line break in reason phrase".into()));
        }
        w.out.put_slice(b"SIP/2.0 ");
        w.out
            .put_slice(itoa::Buffer::new().format(status).as_bytes());
        w.out.put_u8(b' ');
        w.out.put_slice(reason.as_bytes());
        w.out.put_slice(b"\r\n");
        ResponseBuilder { w }
    }

    /// Starts a response to `request` per RFC 3261 §8.2.6: every Via line in
    /// order, From, To (with `to_tag` added unless the To already has a tag or
    /// the status is 100), Call-ID and CSeq copied; a 100 also copies Timestamp
    /// (§8.2.6.1).
    pub fn reply_to(request: &Message, status: u16, reason: &str, to_tag: Option<&str>) -> Self {
        let mut b = ResponseBuilder::new(status, reason);
        use crate::message::unfold;
        // A value copied as it is brings what the request's parse read in
        // it (its branch, tag, CSeq), which the response's index then
        // takes instead of scanning the copy.
        let copy = |w: &mut Writer, kind: HeaderName, value: &str| {
            let value = unfold(value);
            let scanned = request.scanned(kind, &value);
            w.copied(kind, &value, scanned);
        };
        for via in request.header_lines(HeaderName::Via) {
            copy(&mut b.w, HeaderName::Via, via);
        }
        if let Some(from) = request.header(HeaderName::From) {
            copy(&mut b.w, HeaderName::From, from);
        }
        if let Some(to) = request.header(HeaderName::To) {
            match to_tag {
                Some(tag) if status != 100 && request.to_tag().is_none() => {
                    b.w.known(HeaderName::To, &[&unfold(to), ";tag=", tag]);
                }
                _ => copy(&mut b.w, HeaderName::To, to),
            }
        }
        if let Some(cid) = request.call_id() {
            b.w.known(HeaderName::CallId, &[cid]);
        }
        if let Some(cseq) = request.header(HeaderName::CSeq) {
            copy(&mut b.w, HeaderName::CSeq, cseq);
        }
        if status == 100
            && let Some(ts) = request.header(HeaderName::Timestamp)
        {
            b.w.known(HeaderName::Timestamp, &[&unfold(ts)]);
        }
        b
    }

    builder_methods!();
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Index, critical headers, defects and body as deep as `Debug` shows
    /// them, or the error.
    fn deep(m: &Result<Message, BuildError>) -> String {
        match m {
            Ok(m) => format!("{m:?}"),
            Err(e) => format!("error {e}"),
        }
    }

    /// A built message is what a parse of its bytes gives, for lines the
    /// parse reads in every way it can: white space around values, empty
    /// values, compact and unknown names, duplicated and malformed critical
    /// headers, a Content-Length that disagrees with the body, too many
    /// lines.
    #[test]
    fn a_built_message_is_its_parse() {
        let via = "SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1";
        let base = || {
            RequestBuilder::new(Method::Invite, "sip:bob@example.com")
                .header(HeaderName::Via, via)
                .header(HeaderName::From, "<sip:a@example.com>;tag=1")
                .header(HeaderName::To, "<sip:bob@example.com>")
                .header(HeaderName::CallId, "c1")
                .header(HeaderName::CSeq, "1 INVITE")
        };
        let many = (0..300).fold(base(), |b, i| b.header_named("X-N", &i.to_string()));
        let folded = Message::parse(bytes::Bytes::from_static(
            b"INVITE sip:b@example.com SIP/2.0\r\nVia: SIP/2.0/UDP h\r\n ;branch=z9hG4bK2\r\n\
              From: <sip:a@example.com>\r\n  ;tag=9\r\nTo: <sip:b@example.com>;tag=x\r\n\
              Call-ID: c2\r\nCSeq: 7\r\n INVITE\r\n\r\n",
        ))
        .unwrap();
        let cases: Vec<(&str, Result<Message, BuildError>)> = vec![
            ("plain", base().build()),
            ("body", base().body("text/plain", "hi").build()),
            (
                "white space",
                base().header_named("Subject", " \tx\t ").build(),
            ),
            ("blank", base().header_named("Subject", "   ").build()),
            ("empty", base().header_named("Subject", "").build()),
            (
                "compact",
                base().header_named("v", via).header_named("l", "0").build(),
            ),
            ("unknown", base().header_named("X-Thing", "1").build()),
            (
                "second CSeq",
                base().header(HeaderName::CSeq, "2 INVITE").build(),
            ),
            (
                "bad CSeq",
                base().header(HeaderName::MaxForwards, "many").build(),
            ),
            (
                "long Content-Length",
                base().header(HeaderName::ContentLength, "10").build(),
            ),
            (
                "short Content-Length",
                base()
                    .header(HeaderName::ContentLength, "1")
                    .body("text/plain", "hello")
                    .build(),
            ),
            ("too many lines", many.build()),
            ("response", ResponseBuilder::new(180, "Ringing").build()),
            ("empty reason", ResponseBuilder::new(200, "").build()),
            (
                "reply",
                ResponseBuilder::reply_to(&base().build().unwrap(), 200, "OK", Some("t")).build(),
            ),
            (
                "reply copying the To",
                ResponseBuilder::reply_to(&base().build().unwrap(), 100, "Trying", Some("t"))
                    .build(),
            ),
            (
                "reply to a folded request",
                ResponseBuilder::reply_to(&folded, 180, "Ringing", Some("t")).build(),
            ),
        ];
        for (what, built) in &cases {
            let reparsed = built
                .as_ref()
                .map(|m| Message::parse(m.as_bytes().clone()).map_err(BuildError::from));
            match reparsed {
                Ok(p) => assert_eq!(deep(built), deep(&p), "{what}"),
                Err(e) => assert!(matches!(e, BuildError::Parse(_)), "{what}: {e}"),
            }
        }
        assert!(
            matches!(
                &cases[11].1,
                Err(BuildError::Parse(ParseError::TooManyHeaders { .. }))
            ),
            "{}",
            deep(&cases[11].1)
        );
        assert!(cases[8].1.as_ref().unwrap().defect().is_some());
        assert!(cases[9].1.as_ref().unwrap().defect().is_some());
        assert_eq!(cases[10].1.as_ref().unwrap().body_bytes(), b"h");
    }
}
