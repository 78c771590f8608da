//! Cutting SIP messages out of a byte stream (TCP, TLS): RFC 3261 §18.3
//! framing by Content-Length and RFC 5626 §3.5.1 CRLF keepalives.

use bytes::{Bytes, BytesMut};
use memchr::memmem;

use crate::bnf::{is_ws, parse_u32_max, trim_lws};
use crate::message::Limits;
use crate::name::HeaderName;

/// What the framer found next in the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// One whole message (head and exactly Content-Length octets of body),
    /// ready for [`Message::parse`](crate::Message::parse).
    Message(Bytes),
    /// A CRLFCRLF keepalive "ping": answer it with [`StreamFramer::PONG`]
    /// (RFC 5626 §3.5.1).
    Ping,
    /// A single CRLF: a keepalive "pong" (or a stray line end between messages,
    /// which RFC 3261 §7.5 says to ignore).
    Pong,
}

/// A stream that cannot be framed any further; the connection should be closed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The header section or the whole message is larger than the limit.
    #[error("message of at least {size} bytes exceeds the limit of {limit}")]
    TooLarge {
        /// Bytes seen (or announced by Content-Length).
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// A message without Content-Length (mandatory on streams, RFC 3261 §18.3).
    #[error("message without Content-Length on a stream")]
    MissingContentLength,
    /// A Content-Length that is not a number, or several that disagree.
    #[error("invalid Content-Length on a stream: {0}")]
    BadContentLength(&'static str),
}

/// Incremental framer: feed it bytes as they arrive, take frames out.
///
/// ```
/// use sofia_msg::{Frame, StreamFramer, Limits};
/// let mut framer = StreamFramer::new(Limits::default());
/// framer.push(b"\r\n\r\nOPTIONS sip:a@b SIP/2.0\r\nContent-Length: 2\r\n\r\nhi");
/// assert_eq!(framer.next_frame().unwrap(), Some(Frame::Ping));
/// assert!(matches!(framer.next_frame().unwrap(), Some(Frame::Message(_))));
/// assert_eq!(framer.next_frame().unwrap(), None);
/// ```
#[derive(Debug)]
pub struct StreamFramer {
    buf: BytesMut,
    limits: Limits,
    /// Where to resume looking for the end of the header section.
    scanned: usize,
    /// Total length of the message being collected, once its head is known.
    pending: Option<usize>,
    failed: Option<FrameError>,
}

impl StreamFramer {
    /// The answer to a [`Frame::Ping`].
    pub const PONG: &'static [u8] = b"\r\n";

    /// A framer enforcing `limits.max_size` on each message.
    pub fn new(limits: Limits) -> Self {
        StreamFramer {
            buf: BytesMut::new(),
            limits,
            scanned: 0,
            pending: None,
            failed: None,
        }
    }

    /// Appends received bytes.
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// The receive buffer, to read into directly (append only).
    pub fn buffer_mut(&mut self) -> &mut BytesMut {
        &mut self.buf
    }

    /// Bytes received but not yet returned in a frame.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The next frame, `Ok(None)` when more bytes are needed. After an error
    /// the stream is out of step and every later call returns the same error.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, FrameError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let result = self.frame();
        if let Err(e) = &result {
            self.failed = Some(e.clone());
        }
        result
    }

    fn frame(&mut self) -> Result<Option<Frame>, FrameError> {
        if let Some(total) = self.pending {
            return Ok(self.take(total));
        }
        if self.buf.starts_with(b"\r\n") {
            if self.buf.starts_with(b"\r\n\r\n") {
                let _ = self.buf.split_to(4);
                return Ok(Some(Frame::Ping));
            }
            match self.buf.get(2) {
                None => return Ok(None),
                Some(b'\r') if self.buf.len() == 3 => return Ok(None),
                _ => {
                    let _ = self.buf.split_to(2);
                    return Ok(Some(Frame::Pong));
                }
            }
        }
        let from = self.scanned.saturating_sub(3);
        let Some(end) = memmem::find(&self.buf[from..], b"\r\n\r\n").map(|i| from + i) else {
            self.scanned = self.buf.len();
            if self.buf.len() > self.limits.max_size {
                return Err(FrameError::TooLarge {
                    size: self.buf.len(),
                    limit: self.limits.max_size,
                });
            }
            return Ok(None);
        };
        let head_len = end + 4;
        let cl = content_length(&self.buf[..end])?;
        let total = head_len + cl;
        if total > self.limits.max_size {
            return Err(FrameError::TooLarge {
                size: total,
                limit: self.limits.max_size,
            });
        }
        self.scanned = 0;
        self.pending = Some(total);
        Ok(self.take(total))
    }

    fn take(&mut self, total: usize) -> Option<Frame> {
        if self.buf.len() < total {
            return None;
        }
        self.pending = None;
        Some(Frame::Message(self.buf.split_to(total).freeze()))
    }
}

/// Finds the Content-Length of a header section (folded values included).
fn content_length(head: &[u8]) -> Result<usize, FrameError> {
    let mut found: Option<u32> = None;
    let mut lines = head.split(|&b| b == b'\n').peekable();
    lines.next(); // start line
    while let Some(line) = lines.next() {
        let colon = match line.iter().position(|&b| b == b':') {
            Some(c) => c,
            None => continue,
        };
        let name = trim_ascii(&line[..colon]);
        if HeaderName::from_bytes(name) != HeaderName::ContentLength {
            continue;
        }
        let mut value = String::from_utf8_lossy(&line[colon + 1..]).into_owned();
        while let Some(next) = lines.peek() {
            if next.first().copied().is_some_and(is_ws) {
                value.push_str(&String::from_utf8_lossy(next));
                lines.next();
            } else {
                break;
            }
        }
        let v = parse_u32_max(trim_lws(&value), u32::MAX)
            .ok_or(FrameError::BadContentLength("not a number"))?;
        if found.is_some_and(|f| f != v) {
            return Err(FrameError::BadContentLength("several values disagree"));
        }
        found = Some(v);
    }
    found
        .map(|v| v as usize)
        .ok_or(FrameError::MissingContentLength)
}

fn trim_ascii(b: &[u8]) -> &[u8] {
    let start = b
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(b.len());
    let end = b
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    &b[start..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSG: &[u8] = b"MESSAGE sip:a@b SIP/2.0\r\nl: 5\r\n\r\nhello";

    #[test]
    fn byte_by_byte_and_pipelined() {
        let mut f = StreamFramer::new(Limits::default());
        let mut stream = Vec::new();
        stream.extend_from_slice(MSG);
        stream.extend_from_slice(b"\r\n\r\n");
        stream.extend_from_slice(MSG);
        let mut frames = Vec::new();
        for b in &stream {
            f.push(std::slice::from_ref(b));
            while let Some(fr) = f.next_frame().unwrap() {
                frames.push(fr);
            }
        }
        assert_eq!(
            frames,
            vec![
                Frame::Message(Bytes::from_static(MSG)),
                Frame::Ping,
                Frame::Message(Bytes::from_static(MSG))
            ]
        );
        let mut f = StreamFramer::new(Limits::default());
        f.push(&stream);
        assert!(matches!(f.next_frame(), Ok(Some(Frame::Message(_)))));
        assert_eq!(f.next_frame(), Ok(Some(Frame::Ping)));
        assert!(matches!(f.next_frame(), Ok(Some(Frame::Message(_)))));
        assert_eq!(f.next_frame(), Ok(None));
        assert_eq!(f.buffered(), 0);
    }

    #[test]
    fn pong_and_partial_crlf() {
        let mut f = StreamFramer::new(Limits::default());
        f.push(b"\r\n");
        assert_eq!(f.next_frame(), Ok(None));
        f.push(b"\r");
        assert_eq!(f.next_frame(), Ok(None));
        f.push(b"\n");
        assert_eq!(f.next_frame(), Ok(Some(Frame::Ping)));
        f.push(b"\r\nO");
        assert_eq!(f.next_frame(), Ok(Some(Frame::Pong)));
    }

    #[test]
    fn errors() {
        let mut f = StreamFramer::new(Limits::default());
        f.push(b"OPTIONS sip:a@b SIP/2.0\r\nTo: x\r\n\r\n");
        assert_eq!(f.next_frame(), Err(FrameError::MissingContentLength));
        assert_eq!(f.next_frame(), Err(FrameError::MissingContentLength));

        let mut f = StreamFramer::new(Limits::default());
        f.push(b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: -999\r\n\r\n");
        assert!(matches!(
            f.next_frame(),
            Err(FrameError::BadContentLength(_))
        ));

        let mut f = StreamFramer::new(Limits::default());
        f.push(b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 13\r\nl: 5\r\n\r\n");
        assert!(matches!(
            f.next_frame(),
            Err(FrameError::BadContentLength(_))
        ));

        let limits = Limits {
            max_size: 100,
            ..Limits::default()
        };
        let mut f = StreamFramer::new(limits);
        f.push(b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 1000\r\n\r\n");
        assert!(matches!(f.next_frame(), Err(FrameError::TooLarge { .. })));

        let mut f = StreamFramer::new(limits);
        f.push(&[b'A'; 101]);
        assert!(matches!(f.next_frame(), Err(FrameError::TooLarge { .. })));
    }

    #[test]
    fn folded_content_length() {
        let mut f = StreamFramer::new(Limits::default());
        f.push(b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length:\r\n 2\r\n\r\nhi");
        assert!(matches!(f.next_frame(), Ok(Some(Frame::Message(m))) if m.ends_with(b"hi")));
    }
}
