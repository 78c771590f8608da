//! The crate's error type.

use std::net::SocketAddr;

use crate::Transport;

/// What went wrong in a transport operation.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A bind name that does not parse.
    #[error("bad bind name {name:?}: {why}")]
    BadBindName {
        /// The name as given.
        name: String,
        /// What is wrong with it.
        why: String,
    },
    /// A socket could not be opened.
    #[error("cannot bind {transport} on {addr}: {source}")]
    Bind {
        /// The transport.
        transport: Transport,
        /// The address.
        addr: SocketAddr,
        /// The system error.
        source: std::io::Error,
    },
    /// No socket of that transport (and address family) is bound.
    #[error("no {transport} transport bound for {addr}")]
    NoTransport {
        /// The transport.
        transport: Transport,
        /// The destination.
        addr: SocketAddr,
    },
    /// Connecting timed out or failed.
    #[error("cannot connect over {transport} to {addr}: {why}")]
    Connect {
        /// The transport.
        transport: Transport,
        /// The destination.
        addr: SocketAddr,
        /// Why.
        why: String,
    },
    /// A send failed (socket error, connection closed, or its queue full).
    #[error("cannot send over {transport} to {addr}: {why}")]
    Send {
        /// The transport.
        transport: Transport,
        /// The destination.
        addr: SocketAddr,
        /// Why.
        why: String,
    },
    /// A message too large for the configured limit.
    #[error("message of {size} bytes exceeds the limit of {limit}")]
    TooLarge {
        /// The message size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// A connection limit was reached.
    #[error("connection limit reached: {0}")]
    Limit(String),
    /// TLS configuration problem (certificate, key, roots).
    #[error("TLS: {0}")]
    Tls(String),
    /// The TPORT_DUMP file cannot be opened.
    #[error("cannot open dump file {path}: {source}")]
    Dump {
        /// The path.
        path: String,
        /// The system error.
        source: std::io::Error,
    },
    /// The transport has been shut down.
    #[error("transport shut down")]
    Shutdown,
}
