//! The crate's error type.

/// What went wrong in a call of this crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A URI given by the user does not parse or is not `sip:`/`sips:`.
    #[error("invalid URI {uri:?}: {reason}")]
    Uri {
        /// The URI as given.
        uri: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The transport could not be bound.
    #[error("cannot bind: {0}")]
    Bind(#[from] sofia_tport::Error),
    /// The transport has no local address to put in Via and Contact.
    #[error("no local address to use in Via and Contact")]
    NoLocalAddress,
    /// A request or response could not be built (a header value with a
    /// line break, ...).
    #[error("cannot build the message: {0}")]
    Build(#[from] sofia_msg::BuildError),
    /// The user agent has shut down; the command was not taken.
    #[error("the user agent has shut down")]
    Closed,
}
