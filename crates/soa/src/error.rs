//! The crate's error type and its mapping to SIP responses.

/// What went wrong in parsing an SDP body or in an offer/answer exchange.
///
/// Every variant maps to the SIP response a user agent sends for it
/// ([`Error::sip_status`]); the [`Display`](std::fmt::Display) text says what
/// and where, and suits a `Warning: 399` header.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The body is not a well-formed session description.
    #[error("malformed SDP at line {line}: {reason}")]
    Malformed {
        /// One-based line number (0 when the body as a whole is at fault).
        line: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// The body is larger than [`Config::max_size`](crate::Config::max_size).
    #[error("SDP of {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// Size of the body in bytes.
        size: usize,
        /// The configured limit.
        limit: usize,
    },
    /// The body has more items of one kind than the configuration allows.
    #[error("SDP has more than {limit} {what}")]
    TooMany {
        /// What there are too many of (`m-lines`, `formats`, ...).
        what: &'static str,
        /// The configured limit.
        limit: usize,
    },
    /// No offered stream could be accepted: no common codec, media type or
    /// transport.
    #[error("no common codec: every offered stream is rejected")]
    NoCommonCodec,
    /// A remote offer has fewer m-lines than the session already has
    /// (RFC 3264 §8: streams are disabled, never removed).
    #[error("offer has {offered} m-lines, fewer than the {previous} of the session")]
    MediaLinesRemoved {
        /// m-lines in the offer.
        offered: usize,
        /// m-lines the session has.
        previous: usize,
    },
    /// The answer does not fit the offer it answers (RFC 3264 §6).
    #[error("answer does not match the offer: {0}")]
    AnswerMismatch(String),
    /// An offer is outstanding: a new offer, local or remote, has to wait
    /// (RFC 3261 §14.1, glare).
    #[error("an offer is already pending")]
    OfferPending,
    /// An answer arrived while no local offer is outstanding.
    #[error("no local offer is pending")]
    NoOfferPending,
    /// An answer was asked for while no remote offer is waiting for one.
    #[error("no remote offer is waiting for an answer")]
    NoRemoteOffer,
    /// No media stream has that index.
    #[error("no media stream at index {0}")]
    NoSuchStream(usize),
}

impl Error {
    /// The SIP status code and reason phrase of the response that reports
    /// this error: 488 for descriptions that cannot be used, 491 for glare,
    /// 500 for calls made in the wrong state.
    ///
    /// ```
    /// use sofia_soa::Error;
    /// assert_eq!(Error::NoCommonCodec.sip_status(), (488, "Not Acceptable Here"));
    /// assert_eq!(Error::OfferPending.sip_status(), (491, "Request Pending"));
    /// ```
    pub fn sip_status(&self) -> (u16, &'static str) {
        match self {
            Error::Malformed { .. }
            | Error::TooLarge { .. }
            | Error::TooMany { .. }
            | Error::MediaLinesRemoved { .. } => (488, "Bad Session Description"),
            Error::NoCommonCodec => (488, "Not Acceptable Here"),
            Error::AnswerMismatch(_) => (488, "Answer Does Not Match Offer"),
            Error::OfferPending => (491, "Request Pending"),
            Error::NoOfferPending | Error::NoRemoteOffer | Error::NoSuchStream(_) => {
                (500, "Server Internal Error")
            }
        }
    }

    /// The status code alone (`sip_status().0`).
    pub fn status(&self) -> u16 {
        self.sip_status().0
    }

    pub(crate) fn malformed(line: usize, reason: impl Into<String>) -> Self {
        Error::Malformed {
            line,
            reason: reason.into(),
        }
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
