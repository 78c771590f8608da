//! The SIP message: one `Bytes` buffer plus an index of its parts.

use bytes::{BufMut, Bytes};

use crate::bnf::{CommaSplit, is_lws, is_token, is_ws, trim_lws};
use crate::error::{Defect, DefectKind, ParseError};
use crate::headers::{self, HeaderError, TypedHeader};
use crate::method::Method;
use crate::name::HeaderName;
use crate::scan;
use crate::uri::{Uri, UriError};

/// Limits applied while parsing. Every limit has a safe default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest message accepted, in bytes (default 64 KiB). Larger ones fail
    /// with [`ParseError::TooLarge`] (513 Message Too Large).
    pub max_size: usize,
    /// Most header lines accepted (default 256). More fail with
    /// [`ParseError::TooManyHeaders`].
    pub max_headers: usize,
}

impl Limits {
    /// The defaults: 64 KiB, 256 header lines.
    pub const DEFAULT: Limits = Limits {
        max_size: 65536,
        max_headers: 256,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Limits::DEFAULT
    }
}

/// A byte range of the message buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Span {
    pub start: u32,
    pub end: u32,
}

impl Span {
    pub(crate) fn new(start: usize, end: usize) -> Span {
        Span {
            start: start as u32,
            end: end as u32,
        }
    }
    fn range(self) -> std::ops::Range<usize> {
        self.start as usize..self.end as usize
    }
}

#[derive(Debug, Clone, Copy)]
enum Start {
    Request {
        method: Method,
        method_s: Span,
        uri: Span,
    },
    Response {
        status: u16,
        reason: Span,
    },
}

/// One header line in the index.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Entry {
    pub name: HeaderName,
    pub name_s: Span,
    pub value_s: Span,
}

/// The transaction-critical headers, parsed with the message.
#[derive(Debug, Clone, Copy, Default)]
struct Critical {
    via: Option<u32>,
    branch: Option<Span>,
    from: Option<u32>,
    from_tag: Option<Span>,
    to: Option<u32>,
    to_tag: Option<Span>,
    call_id: Option<Span>,
    cseq: Option<(u32, Method, Span)>,
    max_forwards: Option<u8>,
    content_length: Option<u32>,
    content_type: Option<u32>,
    /// The buffer is exactly what [`Message::write_to`] writes (one space
    /// after each colon, CRLF line ends, no folds, nothing after the body):
    /// [`Message::to_bytes`] then shares it instead of copying. Kept here,
    /// in this struct's padding, so that a message is no larger for it.
    verbatim: bool,
}

/// Capacity of a new header index.
const INDEX_CAPACITY: usize = 32;

/// An empty header index, from this thread's pool when it has one.
pub(crate) fn new_index() -> Vec<Entry> {
    index_pool::take(INDEX_CAPACITY)
}

/// Header indexes of dropped messages, kept per thread for the next parse.
///
/// Allocating and freeing the index was a twentieth of the parse of the
/// benchmark INVITE (callgrind); a message typically lives for one
/// transaction step on one thread, so the next parse on that thread reuses
/// its index. At most [`index_pool::KEEP`] indexes of the standard capacity
/// are kept per thread; larger ones are freed.
mod index_pool {
    use super::{Entry, INDEX_CAPACITY};
    use crate::pool;
    use std::cell::RefCell;

    /// Most indexes kept per thread.
    pub(super) const KEEP: usize = 64;

    thread_local! {
        static POOL: RefCell<Vec<Vec<Entry>>> = const { RefCell::new(Vec::new()) };
    }

    /// An empty index with room for at least `capacity` entries.
    pub(super) fn take(capacity: usize) -> Vec<Entry> {
        pool::take(&POOL, capacity)
    }

    /// Indexes in this thread's pool.
    #[cfg(test)]
    pub(super) fn pooled() -> usize {
        pool::pooled(&POOL)
    }

    /// Gives an index back (emptied); kept when it has the standard capacity
    /// and the pool is not full.
    pub(super) fn give(v: Vec<Entry>) {
        pool::give(&POOL, v, KEEP, |capacity| capacity == INDEX_CAPACITY);
    }
}

/// A parsed SIP request or response.
///
/// The message owns one [`Bytes`] buffer; header names and values, the
/// Request-URI and the body are slices of it. Parsing builds an index of the
/// header lines (the only allocation) and parses the headers a transaction
/// needs: the top `Via` (its branch), `From` and `To` (their tags), `Call-ID`,
/// `CSeq`, `Max-Forwards`, `Content-Length` and `Content-Type`. Every other
/// header is parsed on demand with [`Message::typed`].
///
/// Parsing is lenient where a UAS must still be able to answer: a malformed
/// header is kept raw and noted, and [`Message::check`] tells the status to
/// answer with. Only a message whose start line cannot be read, whose header
/// section does not end, or that exceeds a [`Limits`] value fails to parse.
#[derive(Debug, Clone)]
pub struct Message {
    buf: Bytes,
    start: Start,
    version: Span,
    headers: Vec<Entry>,
    body: Span,
    crit: Critical,
    defect: Option<Defect>,
}

/// A header line as it appears in the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderRef<'a> {
    /// The header's kind.
    pub kind: HeaderName,
    /// The name as written (`v`, `VIA`, `X-Custom`).
    pub name: &'a str,
    /// The value with surrounding white space removed; folds inside stay as
    /// written.
    pub value: &'a str,
}

/// Bytes of a message as text: `None` when they are not UTF-8.
#[allow(unsafe_code)]
fn text_of(bytes: &[u8]) -> Option<&str> {
    // Nearly every value is ASCII, which a word-at-a-time test confirms in
    // a fraction of `from_utf8`'s time: every accessor of a message comes
    // here, and `from_utf8` was 7.5 % of a stateful responder's
    // instructions (callgrind, `docs/performance.md`).
    if bytes.is_ascii() {
        // SAFETY: ASCII bytes are valid UTF-8.
        return Some(unsafe { std::str::from_utf8_unchecked(bytes) });
    }
    std::str::from_utf8(bytes).ok()
}

impl Message {
    /// Parses a message with the default [`Limits`]. The buffer is one UDP
    /// datagram or one message cut from a stream by the
    /// [`StreamFramer`](crate::StreamFramer): bytes after `Content-Length`
    /// octets of body are ignored (RFC 3261 §18.3), and without a
    /// `Content-Length` the body is the rest of the buffer.
    pub fn parse(buf: Bytes) -> Result<Message, ParseError> {
        Message::parse_with(buf, &Limits::DEFAULT)
    }

    /// Parses a message with the given limits.
    pub fn parse_with(buf: Bytes, limits: &Limits) -> Result<Message, ParseError> {
        check_size(buf.len(), limits)?;
        let b: &[u8] = &buf;
        let mut pos = 0;
        // RFC 3261 §7.5: CRLFs before the start line are ignored.
        while pos < b.len() && (b[pos] == b'\r' || b[pos] == b'\n') {
            pos += 1;
        }
        if pos == b.len() {
            return Err(ParseError::Empty);
        }
        let head_start = pos;
        let lf = scan::find(b'\n', &b[pos..])
            .map(|i| pos + i)
            .ok_or(ParseError::Truncated)?;
        let line_end = if lf > pos && b[lf - 1] == b'\r' {
            lf - 1
        } else {
            lf
        };
        let (start, version) = parse_start_line(b, pos, line_end)?;
        // Whether write_to would give back this very buffer (see `verbatim`).
        let mut verbatim = pos == 0
            && line_end + 1 == lf
            && match start {
                Start::Request { .. } => true,
                Start::Response { reason, .. } => reason.start == version.end + 5,
            };
        pos = lf + 1;

        // Most messages have fewer than 32 header lines: one allocation, or
        // none when a dropped message left its index in the pool. For more,
        // the rest is counted once and reserved in one step.
        let mut headers = index_pool::take(limits.max_headers.min(INDEX_CAPACITY));
        let mut defect: Option<Defect> = None;
        let mut crit = Critical::default();
        let mut seen = 0u8;
        loop {
            match b.get(pos) {
                None => return Err(ParseError::Truncated),
                Some(b'\n') => {
                    pos += 1;
                    verbatim = false;
                    break;
                }
                Some(b'\r') if b.get(pos + 1) == Some(&b'\n') => {
                    pos += 2;
                    break;
                }
                _ => {}
            }
            let line_start = pos;
            // The name ends at the first non-token byte (a line end included).
            let (kind, name_len) = HeaderName::scan(&b[pos..]);
            let name_end = pos + name_len;
            let mut i = name_end;
            while i < b.len() && is_ws(b[i]) {
                i += 1;
            }
            let good = name_len > 0 && b.get(i) == Some(&b':');
            // The line ends at a LF not followed by white space (a fold).
            let mut lf = scan::find_lf(&b[i..])
                .map(|p| i + p)
                .ok_or(ParseError::Truncated)?;
            while b.get(lf + 1).is_some_and(|&c| is_ws(c)) {
                lf = scan::find_lf(&b[lf + 1..])
                    .map(|p| lf + 1 + p)
                    .ok_or(ParseError::Truncated)?;
            }
            pos = lf + 1;
            if !good {
                verbatim = false;
                // Only the first defect is kept: count its line once.
                if defect.is_none() {
                    // Physical line number, counting the start line as 1.
                    let line_no = scan::count_lf(&b[head_start..line_start]) + 1;
                    defect = Some(Defect {
                        status: 400,
                        kind: DefectKind::BadLine(line_no as u32),
                        header: HeaderName::Other,
                        detail: "header line without a name and ':'",
                    });
                }
                continue;
            }
            let mut vs = i + 1;
            let mut ve = lf;
            // Usually one space before the value and a CR after it.
            if ve > vs && b[ve - 1] == b'\r' {
                ve -= 1;
            }
            if vs < ve && b[vs] == b' ' {
                vs += 1;
            }
            while vs < ve && is_lws(b[vs]) {
                vs += 1;
            }
            while ve > vs && is_lws(b[ve - 1]) {
                ve -= 1;
            }
            verbatim &= i == name_end
                && vs == name_end + 2
                && b[i + 1] == b' '
                && ve + 1 == lf
                && b[ve] == b'\r';
            if headers.len() == headers.capacity() {
                if headers.len() >= limits.max_headers {
                    return Err(ParseError::TooManyHeaders {
                        limit: limits.max_headers,
                    });
                }
                let more = scan::count_lf(&b[pos..]) + 1;
                headers.reserve_exact(more.min(limits.max_headers - headers.len()));
            }
            if kind < HeaderName::Other && CRITICAL[kind as usize] {
                scan_critical(
                    b,
                    headers.len(),
                    kind,
                    (vs, ve),
                    &mut crit,
                    &mut seen,
                    &mut defect,
                );
            }
            headers.push(Entry {
                name: kind,
                name_s: Span::new(line_start, name_end),
                value_s: Span::new(vs, ve),
            });
        }
        Ok(Message::assemble(
            buf,
            (start, version),
            headers,
            pos,
            Critical { verbatim, ..crit },
            defect,
        ))
    }

    /// A message from a buffer the builders wrote, with the index of its
    /// header lines they recorded while writing them (`lines_verbatim`:
    /// every line as [`Message::write_to`] writes it): what
    /// [`Message::parse`] returns for the buffer, without finding the lines
    /// and their names again. The builders' lines are well formed by
    /// construction (token names, values without line breaks), which is
    /// what makes the parse's line scan redundant; the start line, the
    /// critical headers and the limits go through the parse's own code.
    /// Parsing the 200 a stateful responder had just built was a tenth of
    /// its instructions (callgrind).
    pub(crate) fn from_written(
        buf: Bytes,
        headers: Vec<Entry>,
        known: &[(usize, Scanned)],
        lines_verbatim: bool,
        body_start: usize,
    ) -> Result<Message, ParseError> {
        let limits = &Limits::DEFAULT;
        check_size(buf.len(), limits)?;
        if headers.len() > limits.max_headers {
            return Err(ParseError::TooManyHeaders {
                limit: limits.max_headers,
            });
        }
        let b: &[u8] = &buf;
        // The builders end the start line with CRLF and write nothing
        // before it.
        let lf = scan::find_lf(b).ok_or(ParseError::Truncated)?;
        let line_end = lf.checked_sub(1).ok_or(ParseError::Truncated)?;
        let (start, version) = parse_start_line(b, 0, line_end)?;
        let verbatim = lines_verbatim
            && match start {
                Start::Request { .. } => true,
                Start::Response { reason, .. } => reason.start == version.end + 5,
            };
        let mut defect: Option<Defect> = None;
        let mut crit = Critical::default();
        let mut seen = 0u8;
        for (idx, e) in headers.iter().enumerate() {
            if e.name < HeaderName::Other && CRITICAL[e.name as usize] {
                let k = known.iter().find(|(i, _)| *i == idx).map(|&(_, k)| k);
                read_critical(
                    b,
                    idx,
                    e.name,
                    (e.value_s.start as usize, e.value_s.end as usize),
                    k,
                    &mut crit,
                    &mut seen,
                    &mut defect,
                );
            }
        }
        Ok(Message::assemble(
            buf,
            (start, version),
            headers,
            body_start,
            Critical { verbatim, ..crit },
            defect,
        ))
    }

    /// The parse's last step: the body as Content-Length delimits it.
    fn assemble(
        buf: Bytes,
        (start, version): (Start, Span),
        headers: Vec<Entry>,
        body_start: usize,
        crit: Critical,
        defect: Option<Defect>,
    ) -> Message {
        let len = buf.len();
        let mut msg = Message {
            buf,
            start,
            version,
            headers,
            body: Span::new(body_start, len),
            crit,
            defect,
        };
        let avail = len - body_start;
        match msg.crit.content_length {
            Some(cl) if cl as usize <= avail => {
                msg.body = Span::new(body_start, body_start + cl as usize);
                msg.crit.verbatim &= cl as usize == avail;
            }
            Some(_) => msg.note(Defect {
                status: 400,
                kind: DefectKind::Invalid,
                header: HeaderName::ContentLength,
                detail: "Content-Length larger than the body",
            }),
            None => {}
        }
        msg
    }

    /// The header section must be UTF-8 (RFC 3261 §7.3.1: TEXT-UTF8). Checked
    /// by [`Message::check`] rather than the parse: accessors of a header whose
    /// value is not UTF-8 read it as empty, so nothing depends on it earlier.
    pub(crate) fn utf8_defect(&self) -> Option<Defect> {
        let b: &[u8] = &self.buf;
        let start = match self.start {
            Start::Request { method_s, .. } => method_s.start as usize,
            Start::Response { .. } => self.version.start as usize,
        };
        let end = self.body.start as usize;
        let head = b.get(start..end)?;
        if head.is_ascii() {
            return None;
        }
        let e = std::str::from_utf8(head).err()?;
        let at = start + e.valid_up_to();
        let header = self
            .headers
            .iter()
            .find(|h| (h.name_s.start as usize..h.value_s.end as usize + 1).contains(&at));
        Some(Defect {
            status: 400,
            kind: if header.is_some() {
                DefectKind::Invalid
            } else {
                DefectKind::StartLine
            },
            header: header.map_or(HeaderName::Other, |h| h.name),
            detail: "invalid UTF-8",
        })
    }

    fn note(&mut self, d: Defect) {
        self.defect.get_or_insert(d);
    }

    /// A span as text. Values are cut at ASCII delimiters of a buffer whose
    /// header section [`Message::check`] checks as UTF-8, so this fails only
    /// for a header already flagged as invalid UTF-8; such a header reads
    /// as empty.
    fn s(&self, span: Span) -> &str {
        text_of(&self.buf[span.range()]).unwrap_or("")
    }

    /// The bytes at `range` of the buffer as text: `None` outside the
    /// buffer or when they are not UTF-8. For offsets kept from an earlier
    /// read of a value.
    pub fn text(&self, range: std::ops::Range<usize>) -> Option<&str> {
        text_of(self.buf.get(range)?)
    }

    /// The buffer the message was parsed from.
    pub fn as_bytes(&self) -> &Bytes {
        &self.buf
    }

    /// True for a request.
    pub fn is_request(&self) -> bool {
        matches!(self.start, Start::Request { .. })
    }

    /// The request method ([`Method::Other`] for an unknown one, and for a
    /// response the CSeq method).
    pub fn method(&self) -> Method {
        match self.start {
            Start::Request { method, .. } => method,
            Start::Response { .. } => self.crit.cseq.map_or(Method::Other, |c| c.1),
        }
    }

    /// The request method as written; for a response, the CSeq method.
    pub fn method_str(&self) -> &str {
        match self.start {
            Start::Request { method_s, .. } => self.s(method_s),
            Start::Response { .. } => self.crit.cseq.map_or("", |c| self.s(c.2)),
        }
    }

    /// The Request-URI as written (requests only).
    pub fn request_uri_str(&self) -> Option<&str> {
        match self.start {
            Start::Request { uri, .. } => Some(self.s(uri)),
            Start::Response { .. } => None,
        }
    }

    /// The parsed Request-URI (requests only).
    pub fn request_uri(&self) -> Option<Result<Uri<'_>, UriError>> {
        self.request_uri_str().map(Uri::parse)
    }

    /// The status code (responses only).
    pub fn status(&self) -> Option<u16> {
        match self.start {
            Start::Response { status, .. } => Some(status),
            Start::Request { .. } => None,
        }
    }

    /// The reason phrase (responses only; may be empty).
    pub fn reason(&self) -> Option<&str> {
        match self.start {
            Start::Response { reason, .. } => Some(self.s(reason)),
            Start::Request { .. } => None,
        }
    }

    /// The SIP version as written (`SIP/2.0`).
    pub fn version(&self) -> &str {
        self.s(self.version)
    }

    /// Every header line, in order.
    pub fn headers(&self) -> impl ExactSizeIterator<Item = HeaderRef<'_>> + '_ {
        self.headers.iter().map(|e| self.header_ref(e))
    }

    fn header_ref(&self, e: &Entry) -> HeaderRef<'_> {
        HeaderRef {
            kind: e.name,
            name: self.s(e.name_s),
            value: self.s(e.value_s),
        }
    }

    /// Number of header lines.
    pub fn header_count(&self) -> usize {
        self.headers.len()
    }

    /// The value of the first header line of that kind.
    pub fn header(&self, name: HeaderName) -> Option<&str> {
        self.headers
            .iter()
            .find(|e| e.name == name)
            .map(|e| self.s(e.value_s))
    }

    /// The lines of one known header, in order.
    pub fn header_lines(&self, name: HeaderName) -> impl Iterator<Item = &str> + '_ {
        self.headers
            .iter()
            .filter(move |e| e.name == name)
            .map(|e| self.s(e.value_s))
    }

    /// The lines of a header looked up by name (case-insensitive, compact
    /// forms and unknown headers included).
    pub fn header_lines_named<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'s str> + 's {
        let kind = HeaderName::from_bytes(name.as_bytes());
        self.headers
            .iter()
            .filter(move |e| {
                if kind == HeaderName::Other {
                    e.name == HeaderName::Other && self.s(e.name_s).eq_ignore_ascii_case(name)
                } else {
                    e.name == kind
                }
            })
            .map(|e| self.s(e.value_s))
    }

    /// The values of one known header: for list headers every comma-separated
    /// element of every line, otherwise every line. An element with an
    /// unbalanced quote or bracket ends the iteration with `Err`.
    pub fn header_values(
        &self,
        name: HeaderName,
    ) -> impl Iterator<Item = Result<&str, HeaderError>> + '_ {
        let list = name.is_list();
        self.header_lines(name).flat_map(move |line| {
            let mut split = CommaSplit::new(line);
            let mut single = Some(line);
            std::iter::from_fn(move || {
                if list {
                    split
                        .next()
                        .map(|r| r.map_err(|_| HeaderError("unbalanced quotes or brackets")))
                } else {
                    single.take().map(Ok)
                }
            })
        })
    }

    /// The first value of a typed header, parsed.
    pub fn typed<'a, T: TypedHeader<'a>>(&'a self) -> Option<Result<T, HeaderError>> {
        self.typed_all::<T>().next()
    }

    /// Every value of a typed header, parsed.
    pub fn typed_all<'a, T: TypedHeader<'a>>(
        &'a self,
    ) -> impl Iterator<Item = Result<T, HeaderError>> + 'a {
        self.header_values(T::NAME)
            .map(|v| v.and_then(|v| T::parse(v)))
    }

    /// The body.
    pub fn body(&self) -> Bytes {
        self.buf.slice(self.body.range())
    }

    /// The body as a slice.
    pub fn body_bytes(&self) -> &[u8] {
        &self.buf[self.body.range()]
    }

    /// The top Via value, parsed.
    pub fn top_via(&self) -> Option<headers::Via<'_>> {
        let e = &self.headers[self.crit.via? as usize];
        let top = CommaSplit::new(self.s(e.value_s)).next()?.ok()?;
        headers::Via::parse(top).ok()
    }

    /// The branch of the top Via.
    pub fn branch(&self) -> Option<&str> {
        self.crit.branch.map(|s| self.s(s))
    }

    /// The From header, parsed.
    pub fn from(&self) -> Option<headers::NameAddr<'_>> {
        let e = &self.headers[self.crit.from? as usize];
        headers::NameAddr::parse(self.s(e.value_s)).ok()
    }

    /// The From tag.
    pub fn from_tag(&self) -> Option<&str> {
        self.crit.from_tag.map(|s| self.s(s))
    }

    /// The To header, parsed.
    pub fn to(&self) -> Option<headers::NameAddr<'_>> {
        let e = &self.headers[self.crit.to? as usize];
        headers::NameAddr::parse(self.s(e.value_s)).ok()
    }

    /// The To tag.
    pub fn to_tag(&self) -> Option<&str> {
        self.crit.to_tag.map(|s| self.s(s))
    }

    /// The Call-ID.
    pub fn call_id(&self) -> Option<&str> {
        self.crit.call_id.map(|s| self.s(s))
    }

    /// The CSeq number and method.
    pub fn cseq(&self) -> Option<(u32, Method)> {
        self.crit.cseq.map(|(n, m, _)| (n, m))
    }

    /// The CSeq method as written.
    pub fn cseq_method_str(&self) -> Option<&str> {
        self.crit.cseq.map(|c| self.s(c.2))
    }

    /// Max-Forwards, when present and valid.
    pub fn max_forwards(&self) -> Option<u8> {
        self.crit.max_forwards
    }

    /// Content-Length, when present and valid.
    pub fn content_length(&self) -> Option<u32> {
        self.crit.content_length
    }

    /// Content-Type, when present and valid.
    pub fn content_type(&self) -> Option<headers::MediaType<'_>> {
        let e = &self.headers[self.crit.content_type? as usize];
        headers::MediaType::parse(self.s(e.value_s)).ok()
    }

    /// The first problem noted while parsing (a malformed or duplicated critical
    /// header, a bad header line, a Content-Length past the end).
    pub fn defect(&self) -> Option<&Defect> {
        self.defect.as_ref()
    }

    /// Headers of known kinds whose values do not parse, as
    /// `(index, name as written, error)`. Such headers are kept raw.
    pub fn malformed_headers(&self) -> Vec<(usize, &str, HeaderError)> {
        self.headers
            .iter()
            .enumerate()
            .filter_map(|(i, e)| {
                let r = self.header_ref(e);
                let err = if e.name.is_list() {
                    CommaSplit::new(r.value)
                        .map(|v| {
                            v.map_err(|_| HeaderError("unbalanced quotes or brackets"))
                                .and_then(|v| headers::validate(e.name, v))
                        })
                        .find_map(Result::err)
                } else {
                    headers::validate(e.name, r.value).err()
                };
                err.map(|err| (i, r.name, err))
            })
            .collect()
    }

    /// Writes the message: start line, header lines as parsed (names as
    /// written, values with folds kept), an empty line and the body.
    pub fn write_to<B: BufMut>(&self, out: &mut B) {
        let b: &[u8] = &self.buf;
        match self.start {
            Start::Request { method_s, uri, .. } => {
                out.put_slice(&b[method_s.range()]);
                out.put_u8(b' ');
                out.put_slice(&b[uri.range()]);
                out.put_u8(b' ');
                out.put_slice(&b[self.version.range()]);
            }
            Start::Response { reason, .. } => {
                out.put_slice(&b[self.version.range()]);
                out.put_u8(b' ');
                let status = self.status().unwrap_or(0);
                out.put_slice(&[
                    b'0' + (status / 100) as u8,
                    b'0' + (status / 10 % 10) as u8,
                    b'0' + (status % 10) as u8,
                    b' ',
                ]);
                out.put_slice(&b[reason.range()]);
            }
        }
        out.put_slice(b"\r\n");
        for e in &self.headers {
            out.put_slice(&b[e.name_s.range()]);
            out.put_slice(b": ");
            out.put_slice(&b[e.value_s.range()]);
            out.put_slice(b"\r\n");
        }
        out.put_slice(b"\r\n");
        out.put_slice(&b[self.body.range()]);
    }

    /// The message with the bytes in `range` of its buffer replaced by
    /// `with`: what [`Message::parse`] returns for the edited buffer, or
    /// `None` when `range` is not within the buffer or the edited buffer
    /// does not parse.
    ///
    /// An edit inside one header value that adds no line break and leaves
    /// the value's ends free of white space (a parameter added to a Via, say)
    /// shifts the existing index instead of parsing the whole message again,
    /// and scans that header again when it is one the parse reads; the
    /// result is the same as a parse's. Other edits parse the edited buffer.
    pub fn splice(&self, range: std::ops::Range<usize>, with: &[u8]) -> Option<Message> {
        self.splice_parts(range, &[with])
    }

    /// [`Message::splice`] with the replacement given in parts, written
    /// one after the other (a parameter's name, its value, ...), so that
    /// the caller need not join them first.
    pub fn splice_parts(&self, range: std::ops::Range<usize>, with: &[&[u8]]) -> Option<Message> {
        let b: &[u8] = &self.buf;
        if range.start > range.end || range.end > b.len() {
            return None;
        }
        let with_len: usize = with.iter().map(|p| p.len()).sum();
        let mut out = Vec::with_capacity(b.len() - range.len() + with_len);
        out.extend_from_slice(&b[..range.start]);
        for p in with {
            out.extend_from_slice(p);
        }
        out.extend_from_slice(&b[range.end..]);
        let line_break = with
            .iter()
            .any(|p| p.iter().any(|&c| c == b'\r' || c == b'\n'));
        match self.splice_index(&range, with_len, line_break, Bytes::from(out)) {
            Ok(msg) => Some(msg),
            Err(buf) => Message::parse(buf).ok(),
        }
    }

    /// The fast path of [`Message::splice`]: the index of this message with
    /// the spans after the edit shifted, for an edit inside one header value
    /// that cannot change how the message parses outside that value.
    /// `buf` comes back when the fast path does not apply.
    fn splice_index(
        &self,
        range: &std::ops::Range<usize>,
        with_len: usize,
        line_break: bool,
        buf: Bytes,
    ) -> Result<Message, Bytes> {
        if self.defect.is_some() || buf.len() > Limits::DEFAULT.max_size || line_break {
            return Err(buf);
        }
        let Some((idx, entry)) = self.headers.iter().enumerate().find(|(_, e)| {
            (e.value_s.start as usize) <= range.start && range.end <= e.value_s.end as usize
        }) else {
            return Err(buf);
        };
        if entry.name == HeaderName::ContentLength {
            return Err(buf);
        }
        let grow = with_len as i64 - range.len() as i64;
        let end = (entry.value_s.end as i64 + grow) as usize;
        match buf.get(entry.value_s.start as usize..end) {
            Some([first, .., last]) if !is_lws(*first) && !is_lws(*last) => {}
            Some([only]) if !is_lws(*only) => {}
            _ => return Err(buf),
        }
        let cut = range.end as u32;
        let shift = |s: Span| -> Span {
            if s.start >= cut {
                Span {
                    start: (s.start as i64 + grow) as u32,
                    end: (s.end as i64 + grow) as u32,
                }
            } else {
                s
            }
        };
        let mut headers = index_pool::take(self.headers.len().max(INDEX_CAPACITY));
        for (i, e) in self.headers.iter().enumerate() {
            headers.push(if i == idx {
                Entry {
                    name: e.name,
                    name_s: e.name_s,
                    value_s: Span::new(e.value_s.start as usize, end),
                }
            } else {
                Entry {
                    name: e.name,
                    name_s: shift(e.name_s),
                    value_s: shift(e.value_s),
                }
            });
        }
        let mut crit = self.crit;
        let inside = |s: &Span| s.start >= entry.value_s.start && s.end <= entry.value_s.end;
        for span in [
            &mut crit.branch,
            &mut crit.from_tag,
            &mut crit.to_tag,
            &mut crit.call_id,
        ]
        .into_iter()
        .flatten()
        {
            if !inside(span) {
                *span = shift(*span);
            }
        }
        if let Some((_, _, span)) = &mut crit.cseq
            && !inside(span)
        {
            *span = shift(*span);
        }
        let mut defect = None;
        let first_of_kind = match entry.name {
            HeaderName::Via => crit.via,
            HeaderName::From => crit.from,
            HeaderName::To => crit.to,
            HeaderName::ContentType => crit.content_type,
            HeaderName::CallId | HeaderName::CSeq | HeaderName::MaxForwards => {
                self.first_index(entry.name).map(|i| i as u32)
            }
            _ => None,
        };
        if first_of_kind == Some(idx as u32) {
            // The parse read this header: read it again from the edited value.
            match entry.name {
                HeaderName::Via => crit.branch = None,
                HeaderName::From => crit.from_tag = None,
                HeaderName::To => crit.to_tag = None,
                HeaderName::CallId => crit.call_id = None,
                HeaderName::CSeq => crit.cseq = None,
                HeaderName::MaxForwards => crit.max_forwards = None,
                _ => {}
            }
            let mut seen = 0u8;
            scan_critical(
                &buf,
                idx,
                entry.name,
                (entry.value_s.start as usize, end),
                &mut crit,
                &mut seen,
                &mut defect,
            );
        }
        Ok(Message {
            start: self.start,
            version: self.version,
            headers,
            body: shift(self.body),
            crit,
            defect,
            buf,
        })
    }

    /// The message written to a new buffer, or its own buffer (shared, not
    /// copied) when that is exactly what [`Message::write_to`] writes, as
    /// for every built message.
    pub fn to_bytes(&self) -> Bytes {
        if self.crit.verbatim {
            return self.buf.clone();
        }
        let mut out = Vec::with_capacity(self.buf.len() + 32);
        self.write_to(&mut out);
        Bytes::from(out)
    }

    /// [`Message::to_bytes`] of a message that is no longer needed: its own
    /// buffer is handed over rather than shared (sharing a buffer the first
    /// time allocates its reference count).
    pub fn into_bytes(mut self) -> Bytes {
        if self.crit.verbatim {
            return std::mem::take(&mut self.buf);
        }
        self.to_bytes()
    }
}

impl Drop for Message {
    fn drop(&mut self) {
        index_pool::give(std::mem::take(&mut self.headers));
    }
}

/// Two messages are equal when their start lines, header lines (names as
/// written and values) and bodies are equal.
impl PartialEq for Message {
    fn eq(&self, other: &Message) -> bool {
        self.is_request() == other.is_request()
            && self.method_str() == other.method_str()
            && self.request_uri_str() == other.request_uri_str()
            && self.status() == other.status()
            && self.reason() == other.reason()
            && self.version() == other.version()
            && self.headers().eq(other.headers())
            && self.body_bytes() == other.body_bytes()
    }
}

/// The kinds [`scan_critical`] handles, indexed by `HeaderName as usize`:
/// one load decides whether a header line needs it.
static CRITICAL: [bool; HeaderName::Other as usize] = {
    let mut t = [false; HeaderName::Other as usize];
    t[HeaderName::Via as usize] = true;
    t[HeaderName::From as usize] = true;
    t[HeaderName::To as usize] = true;
    t[HeaderName::CallId as usize] = true;
    t[HeaderName::CSeq as usize] = true;
    t[HeaderName::MaxForwards as usize] = true;
    t[HeaderName::ContentLength as usize] = true;
    t[HeaderName::ContentType as usize] = true;
    t
};

/// Locates one transaction-critical value with byte scanners: the top
/// Via's branch, the From and To tags, the Call-ID, and the numbers of CSeq,
/// Max-Forwards and Content-Length. Full syntax checks of Via, From, To,
/// Call-ID and Content-Type are left to [`Message::check`], which runs the
/// typed parsers: this keeps the parse of every message cheap (a proxy or a
/// transaction layer reads these values for each message it sees).
#[inline]
fn scan_critical(
    b: &[u8],
    idx: usize,
    kind: HeaderName,
    (vs, ve): (usize, usize),
    crit: &mut Critical,
    seen: &mut u8,
    defect: &mut Option<Defect>,
) {
    read_critical(b, idx, kind, (vs, ve), None, crit, seen, defect);
}

/// What [`scan_critical`] finds in a value, relative to the value's start:
/// a builder that copies the value from a parsed message copies this with
/// it, and the value need not be scanned again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scanned {
    /// A Via line's branch.
    Via(Option<(u32, u32)>),
    /// A From or To tag.
    Tag(Option<(u32, u32)>),
    /// A valid CSeq: number, method and the method's place.
    CSeq(u32, Method, (u32, u32)),
}

/// [`scan_critical`], taking what `known` says instead of scanning for it.
#[allow(clippy::too_many_arguments)]
#[inline]
fn read_critical(
    b: &[u8],
    idx: usize,
    kind: HeaderName,
    (vs, ve): (usize, usize),
    known: Option<Scanned>,
    crit: &mut Critical,
    seen: &mut u8,
    defect: &mut Option<Defect>,
) {
    let at = |r: Option<(u32, u32)>| r.map(|(s, e)| Span::new(vs + s as usize, vs + e as usize));
    let slot = match kind {
        HeaderName::Via => 0,
        HeaderName::From => 1,
        HeaderName::To => 2,
        HeaderName::CallId => 3,
        HeaderName::CSeq => 4,
        HeaderName::MaxForwards => 5,
        HeaderName::ContentLength => 6,
        HeaderName::ContentType => 7,
        _ => return,
    };
    let mut fail = |detail: &'static str, kind_: DefectKind| {
        defect.get_or_insert(Defect {
            status: 400,
            kind: kind_,
            header: kind,
            detail,
        });
    };
    if *seen & (1 << slot) != 0 {
        if slot != 0 {
            fail("header appears more than once", DefectKind::Duplicate);
        }
        return;
    }
    *seen |= 1 << slot;
    let idx32 = idx as u32;
    let v = &b[vs..ve];
    match kind {
        HeaderName::Via => {
            crit.via = Some(idx32);
            crit.branch = match known {
                Some(Scanned::Via(branch)) => at(branch),
                _ => scan::via_branch(v).map(|(s, e)| Span::new(vs + s, vs + e)),
            };
        }
        HeaderName::From | HeaderName::To => {
            let tag = match known {
                Some(Scanned::Tag(tag)) => at(tag),
                _ => scan::addr_tag(v).map(|(s, e)| Span::new(vs + s, vs + e)),
            };
            if kind == HeaderName::From {
                crit.from = Some(idx32);
                crit.from_tag = tag;
            } else {
                crit.to = Some(idx32);
                crit.to_tag = tag;
            }
        }
        HeaderName::CallId => crit.call_id = Some(Span::new(vs, ve)),
        HeaderName::CSeq => match known {
            Some(Scanned::CSeq(seq, method, (ms, me))) => {
                crit.cseq = Some((seq, method, Span::new(vs + ms as usize, vs + me as usize)));
            }
            _ => match scan::cseq(v) {
                Some((seq, ms, me)) => {
                    let method = Method::from_bytes(&v[ms..me]);
                    crit.cseq = Some((seq, method, Span::new(vs + ms, vs + me)));
                }
                None => fail("invalid sequence number or method", DefectKind::Invalid),
            },
        },
        HeaderName::MaxForwards => match scan::number(v, 255) {
            Some(n) => crit.max_forwards = Some(n as u8),
            None => fail("not a number from 0 to 255", DefectKind::Invalid),
        },
        HeaderName::ContentLength => match scan::number(v, u32::MAX) {
            Some(n) => crit.content_length = Some(n),
            None => fail("not a number", DefectKind::Invalid),
        },
        _ => crit.content_type = Some(idx32),
    }
}

/// A buffer over the size limit, or over what the index's offsets can
/// address, does not parse.
fn check_size(len: usize, limits: &Limits) -> Result<(), ParseError> {
    if len > limits.max_size {
        return Err(ParseError::TooLarge {
            size: len,
            limit: limits.max_size,
        });
    }
    if len > u32::MAX as usize {
        return Err(ParseError::TooLarge {
            size: len,
            limit: u32::MAX as usize,
        });
    }
    Ok(())
}

fn parse_start_line(b: &[u8], start: usize, end: usize) -> Result<(Start, Span), ParseError> {
    let line = &b[start..end];
    if line.starts_with(b"SIP/") || line.starts_with(b"sip/") {
        // Status-Line = SIP-Version SP Status-Code SP Reason-Phrase
        let sp = scan::find(b' ', line).ok_or(ParseError::BadStartLine("no status code"))?;
        let version = Span::new(start, start + sp);
        check_version(&line[..sp])?;
        let rest = &line[sp + 1..];
        if rest.len() < 3 || !rest[..3].iter().all(u8::is_ascii_digit) {
            return Err(ParseError::BadStartLine("status code is not three digits"));
        }
        let status = u16::from(rest[0] - b'0') * 100
            + u16::from(rest[1] - b'0') * 10
            + u16::from(rest[2] - b'0');
        if !(100..=699).contains(&status) {
            return Err(ParseError::BadStartLine("status code out of range"));
        }
        let reason_start = match rest.get(3) {
            None => start + sp + 4,
            Some(b' ') => start + sp + 5,
            Some(_) => return Err(ParseError::BadStartLine("status code is not three digits")),
        };
        let reason = Span::new(reason_start.min(end), end);
        if b[reason.range()].iter().any(|&c| c < 0x20 && c != b'\t') {
            return Err(ParseError::BadStartLine(
                "control character in reason phrase",
            ));
        }
        return Ok((Start::Response { status, reason }, version));
    }
    // Request-Line = Method SP Request-URI SP SIP-Version
    let sp1 = scan::find(b' ', line).ok_or(ParseError::BadStartLine("no Request-URI"))?;
    let sp2 = if line.ends_with(b" SIP/2.0") {
        line.len() - 8
    } else {
        memchr::memrchr(b' ', line).ok_or(ParseError::BadStartLine("no version"))?
    };
    if sp1 == 0 || sp2 <= sp1 + 1 || sp2 + 1 >= line.len() {
        return Err(ParseError::BadStartLine("malformed Request-Line"));
    }
    let method = &line[..sp1];
    if !method.iter().all(|&c| is_token(c)) {
        return Err(ParseError::BadStartLine("invalid method"));
    }
    let uri = &line[sp1 + 1..sp2];
    // Branch-free test first (it vectorises); find the culprit only on error.
    let bad = uri
        .iter()
        .fold(false, |acc, &c| acc | (c <= b' ') | (c == 0x7f));
    if bad && let Some(&c) = uri.iter().find(|&&c| c <= b' ' || c == 0x7f) {
        return Err(ParseError::BadStartLine(if c == b' ' || c == b'\t' {
            "white space in Request-URI"
        } else {
            "control character in Request-URI"
        }));
    }
    let version = &line[sp2 + 1..];
    check_version(version)?;
    Ok((
        Start::Request {
            method: Method::from_bytes(method),
            method_s: Span::new(start, start + sp1),
            uri: Span::new(start + sp1 + 1, start + sp2),
        },
        Span::new(start + sp2 + 1, end),
    ))
}

/// `SIP-Version = "SIP" "/" 1*DIGIT "." 1*DIGIT`; other versions parse and get
/// 505 from [`Message::check`].
fn check_version(v: &[u8]) -> Result<(), ParseError> {
    if v == b"SIP/2.0" {
        return Ok(());
    }
    let bad = ParseError::BadStartLine("invalid SIP version");
    if v.len() < 7 || !v[..4].eq_ignore_ascii_case(b"SIP/") {
        return Err(bad);
    }
    let rest = &v[4..];
    let dot = scan::find(b'.', rest).ok_or(bad.clone())?;
    let (major, minor) = (&rest[..dot], &rest[dot + 1..]);
    if major.is_empty()
        || minor.is_empty()
        || !major.iter().all(u8::is_ascii_digit)
        || !minor.iter().all(u8::is_ascii_digit)
    {
        return Err(bad);
    }
    Ok(())
}

impl Message {
    /// True when the version is SIP/2.0 (the name case-insensitively).
    pub fn is_sip2(&self) -> bool {
        let v = self.version().as_bytes();
        v.len() == 7 && v[..4].eq_ignore_ascii_case(b"SIP/") && &v[4..] == b"2.0"
    }

    /// Index of the first header of a kind.
    pub(crate) fn first_index(&self, name: HeaderName) -> Option<usize> {
        self.headers.iter().position(|e| e.name == name)
    }

    /// What the parse read from the first header of `kind` (a Via line,
    /// From, To or CSeq), relative to the value's start, when `value` is
    /// that header's value itself (a slice of this message's buffer), for
    /// a builder that copies it unchanged; `None` for other kinds, other
    /// text or a CSeq the parse found invalid.
    pub(crate) fn scanned(&self, kind: HeaderName, value: &str) -> Option<Scanned> {
        let line = |i: Option<u32>| {
            let e = self.headers.get(i? as usize)?;
            let here = self.buf.get(e.value_s.range())?;
            (std::ptr::eq(here.as_ptr(), value.as_ptr()) && here.len() == value.len()).then_some(e)
        };
        let rel = |e: &Entry, s: Option<Span>| {
            s.map(|s| (s.start - e.value_s.start, s.end - e.value_s.start))
        };
        match kind {
            HeaderName::Via => line(self.crit.via).map(|e| Scanned::Via(rel(e, self.crit.branch))),
            HeaderName::From => {
                line(self.crit.from).map(|e| Scanned::Tag(rel(e, self.crit.from_tag)))
            }
            HeaderName::To => line(self.crit.to).map(|e| Scanned::Tag(rel(e, self.crit.to_tag))),
            HeaderName::CSeq => {
                let (seq, method, span) = self.crit.cseq?;
                let e = line(self.first_index(HeaderName::CSeq).map(|i| i as u32))?;
                rel(e, Some(span)).map(|r| Scanned::CSeq(seq, method, r))
            }
            _ => None,
        }
    }

    /// Whether the message has a header of that kind.
    pub fn has(&self, name: HeaderName) -> bool {
        self.first_index(name).is_some()
    }

    /// The trimmed value of a header as one string with folds replaced by one
    /// space each.
    pub fn header_unfolded(&self, name: HeaderName) -> Option<std::borrow::Cow<'_, str>> {
        self.header(name).map(unfold)
    }
}

/// Replaces each fold (CR LF and the white space around it) with a single space.
pub fn unfold(value: &str) -> std::borrow::Cow<'_, str> {
    // One vectorised scan: almost no value is folded.
    if memchr::memchr2(b'\r', b'\n', value.as_bytes()).is_none() {
        return std::borrow::Cow::Borrowed(value);
    }
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(i) = rest.find(['\r', '\n']) {
        out.push_str(rest[..i].trim_end_matches([' ', '\t']));
        rest = rest[i..].trim_start_matches(['\r', '\n', ' ', '\t']);
        out.push(' ');
    }
    out.push_str(rest);
    std::borrow::Cow::Owned(trim_lws(&out).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every accessor the parse fills in, for comparing two messages.
    fn summary(m: &Message) -> String {
        format!(
            "{:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?}",
            m.headers().collect::<Vec<_>>(),
            m.branch(),
            m.from_tag(),
            m.to_tag(),
            m.call_id(),
            m.cseq(),
            m.cseq_method_str(),
            m.max_forwards(),
            m.content_length(),
            m.content_type(),
            m.defect(),
            m.body_bytes(),
            m.top_via().map(|v| v.params().as_str().to_string()),
        )
    }

    #[test]
    fn values_read_as_text_when_utf8_and_empty_otherwise() {
        let raw = b"MESSAGE sip:b@example.com SIP/2.0\r\n\
            From: \"Bj\xc3\xb6rk\" <sip:a@example.com>;tag=1\r\n\
            To: <sip:b@example.com>\r\nCall-ID: c\r\nCSeq: 1 MESSAGE\r\n\
            Subject: caf\xff\r\nContent-Length: 0\r\n\r\n"
            .to_vec();
        let m = Message::parse(Bytes::from(raw.clone())).unwrap();
        assert_eq!(
            m.header(HeaderName::From),
            Some("\"Bj\u{f6}rk\" <sip:a@example.com>;tag=1")
        );
        assert_eq!(m.header(HeaderName::Subject), Some(""));
        assert_eq!(m.check().unwrap_err().status, 400);
        assert_eq!(m.text(0..7), Some("MESSAGE"));
        let from = raw.windows(3).position(|w| w == b"Bj\xc3").unwrap();
        // Cut inside the two bytes of the o with umlaut: not text.
        assert_eq!(m.text(from..from + 3), None);
        assert_eq!(m.text(from..from + 4), Some("Bj\u{f6}"));
        assert_eq!(m.text(raw.len() - 2..raw.len() + 1), None);
    }

    #[test]
    fn splice_equals_a_parse_of_the_edited_buffer() {
        let text = "OPTIONS sip:a@b SIP/2.0\r\n\
            Via: SIP/2.0/UDP h:5060;rport;branch=z9hG4bK1 , SIP/2.0/UDP g;branch=z9hG4bK0\r\n\
            From: <sip:x@y>;tag=f1\r\nTo: <sip:a@b>\r\nCall-ID: c1\r\n\
            CSeq: 7 OPTIONS\r\nMax-Forwards: 70\r\nContent-Type: text/plain\r\n\
            Content-Length: 4\r\n\r\nbody";
        let msg = Message::parse(Bytes::from(text)).unwrap();
        let at = |needle: &str| text.find(needle).unwrap();
        let edits: Vec<(std::ops::Range<usize>, &str)> = vec![
            // Parameters at the end of the top Via, the bare rport removed.
            (
                at("SIP/2.0/UDP h")..at(" , SIP"),
                "SIP/2.0/UDP h:5060;branch=z9hG4bK1;received=1.2.3.4;rport=9",
            ),
            // A new branch.
            (at("z9hG4bK1")..at("z9hG4bK1") + 8, "z9hG4bKnew"),
            // Tags, Call-ID, CSeq, Max-Forwards edited in place.
            (at("tag=f1")..at("tag=f1") + 6, "tag=other"),
            (at("<sip:a@b>")..at("<sip:a@b>") + 9, "<sip:a@b>;tag=t9"),
            (at("c1")..at("c1") + 2, "call-2"),
            (at("7 OPTIONS")..at("7 OPTIONS") + 1, "x"),
            (at("70")..at("70") + 2, "300"),
            // Edits the fast path leaves to a full parse.
            (at("c1")..at("c1") + 2, "c1\r\nX-New: 1"),
            (at("c1")..at("c1") + 2, ""),
            (at("c1")..at("c1") + 2, "c1 "),
            (
                at("Content-Length: 4") + 16..at("Content-Length: 4") + 17,
                "3",
            ),
            (0..7, "MESSAGE"),
            (at("body")..text.len(), "more body"),
        ];
        let mut fast = Vec::new();
        for (range, with) in edits {
            let mut edited = text.as_bytes().to_vec();
            edited.splice(range.clone(), with.bytes());
            let line_break = with.contains(['\r', '\n']);
            fast.push(
                msg.splice_index(&range, with.len(), line_break, Bytes::from(edited.clone()))
                    .is_ok(),
            );
            let spliced = msg.splice(range.clone(), with.as_bytes());
            let parsed = Message::parse(Bytes::from(edited)).ok();
            assert_eq!(spliced.is_some(), parsed.is_some(), "{range:?} {with:?}");
            if let (Some(s), Some(p)) = (spliced, parsed) {
                assert_eq!(s, p, "{range:?} {with:?}");
                assert_eq!(summary(&s), summary(&p), "{range:?} {with:?}");
                assert_eq!(s.as_bytes(), p.as_bytes());
                assert_eq!(s.crit.verbatim, p.crit.verbatim, "{range:?} {with:?}");
            }
        }
        // The first seven edits take the fast path, the others a full parse.
        assert_eq!(fast, [[true; 7].as_slice(), &[false; 6]].concat());
        let (from, to) = (5, 3);
        assert!(msg.splice(from..to, b"").is_none());
        assert!(msg.splice(0..text.len() + 1, b"").is_none());
    }

    #[test]
    fn to_bytes_shares_a_verbatim_buffer() {
        let cases: [(&str, bool); 11] = [
            (
                "OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nContent-Length: 0\r\n\r\n",
                true,
            ),
            ("SIP/2.0 200 OK\r\nCSeq: 1 OPTIONS\r\n\r\n", true),
            ("SIP/2.0 200 OK\r\nContent-Length: 2\r\n\r\nab", true),
            ("SIP/2.0 200\r\nCSeq: 1 OPTIONS\r\n\r\n", false),
            ("\r\nSIP/2.0 200 OK\r\nCSeq: 1 OPTIONS\r\n\r\n", false),
            ("SIP/2.0 200 OK\r\nCSeq:1 OPTIONS\r\n\r\n", false),
            ("SIP/2.0 200 OK\r\nCSeq :  1 OPTIONS \r\n\r\n", false),
            ("SIP/2.0 200 OK\r\nSubject: a\r\n b\r\n\r\n", true),
            ("SIP/2.0 200 OK\nCSeq: 1 OPTIONS\n\n", false),
            ("SIP/2.0 200 OK\r\nContent-Length: 1\r\n\r\nab", false),
            ("SIP/2.0 200 OK\r\nCSeq: 1 OPTIONS\t\n\r\n", false),
        ];
        for (text, verbatim) in cases {
            let m = Message::parse(Bytes::from(text)).unwrap();
            assert_eq!(m.crit.verbatim, verbatim, "{text:?}");
            let mut written = Vec::new();
            m.write_to(&mut written);
            assert_eq!(&m.to_bytes()[..], &written[..], "{text:?}");
            assert_eq!(written == text.as_bytes(), verbatim, "{text:?}");
        }
    }

    #[test]
    fn index_pool_is_bounded_and_reused() {
        for _ in 0..3 * index_pool::KEEP {
            index_pool::give(Vec::with_capacity(INDEX_CAPACITY));
        }
        assert_eq!(index_pool::pooled(), index_pool::KEEP);
        // Other capacities (clones, grown indexes) are not kept.
        index_pool::give(Vec::with_capacity(INDEX_CAPACITY + 1));
        assert_eq!(index_pool::pooled(), index_pool::KEEP);
        let v = index_pool::take(INDEX_CAPACITY);
        assert!(v.is_empty() && v.capacity() == INDEX_CAPACITY);
        assert_eq!(index_pool::pooled(), index_pool::KEEP - 1);
        // A message gives its index back when dropped.
        let m = Message::parse(Bytes::from_static(
            b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\r\n",
        ))
        .unwrap();
        assert_eq!(index_pool::pooled(), index_pool::KEEP - 2);
        drop(m);
        assert_eq!(index_pool::pooled(), index_pool::KEEP - 1);
    }
}
