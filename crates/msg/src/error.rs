//! Errors and verdicts.

use crate::name::HeaderName;

/// Why a buffer could not be parsed as a SIP message at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Nothing but line ends.
    #[error("empty message")]
    Empty,
    /// The start line or the header section does not end.
    #[error("truncated message: header section does not end")]
    Truncated,
    /// The start line is not a Request-Line or Status-Line.
    #[error("bad start line: {0}")]
    BadStartLine(&'static str),
    /// The message is larger than the configured limit.
    #[error("message of {size} bytes exceeds the limit of {limit}")]
    TooLarge {
        /// Size seen (for a stream, at least this much).
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// More header lines than the configured limit.
    #[error("more than {limit} header lines")]
    TooManyHeaders {
        /// The limit.
        limit: usize,
    },
}

impl ParseError {
    /// The status a UAS would answer with, when it could answer at all, and the
    /// reason phrase.
    pub fn status(&self) -> (u16, String) {
        match self {
            ParseError::TooLarge { .. } => (513, "Message Too Large".into()),
            ParseError::TooManyHeaders { .. } => (513, "Too Many Headers".into()),
            ParseError::BadStartLine(why) => (400, format!("Bad Start Line ({why})")),
            ParseError::Empty => (400, "Empty Message".into()),
            ParseError::Truncated => (400, "Truncated Message".into()),
        }
    }
}

/// What kind of problem a [`Defect`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefectKind {
    /// The header's value does not parse.
    Invalid,
    /// A header that may appear once appears more than once.
    Duplicate,
    /// A line of the header section (numbered from the start line as 1) is
    /// not `name: value`.
    BadLine(u32),
    /// The start line has a problem the parse does not stop at (invalid UTF-8
    /// in the reason phrase or Request-URI).
    StartLine,
}

/// A problem found while parsing that leaves the message readable but calls
/// for a 400.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Defect {
    /// The status to answer with.
    pub status: u16,
    /// What is wrong.
    pub kind: DefectKind,
    /// Which header ([`HeaderName::Other`] for a bad line).
    pub header: HeaderName,
    /// A short description.
    pub detail: &'static str,
}

impl Defect {
    /// The reason phrase: names the header (`Invalid CSeq header`).
    pub fn reason(&self) -> String {
        match self.kind {
            DefectKind::Invalid => format!("Invalid {} header ({})", self.header, self.detail),
            DefectKind::Duplicate => format!("Duplicate {} header", self.header),
            DefectKind::BadLine(n) => format!("Malformed header line {n}"),
            DefectKind::StartLine => format!("Bad Start Line ({})", self.detail),
        }
    }
}

/// The answer [`Message::check`](crate::Message::check) requires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// The status code (400, 416, 420, 483, 501, 505, ...).
    pub status: u16,
    /// The reason phrase, naming the header at fault where there is one.
    pub reason: String,
    /// For 420: the option tags to list in `Unsupported`.
    pub unsupported: Vec<String>,
}

impl Rejection {
    pub(crate) fn new(status: u16, reason: impl Into<String>) -> Rejection {
        Rejection {
            status,
            reason: reason.into(),
            unsupported: Vec::new(),
        }
    }
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status, self.reason)
    }
}

impl std::error::Error for Rejection {}
