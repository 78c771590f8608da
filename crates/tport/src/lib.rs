//! `sofia-tport`: SIP transports — UDP, TCP and TLS — the layer under nta,
//! mirroring sofia-sip's tport.
//!
//! A [`Tport`] binds the sockets named by sofia-style bind names
//! (`sip:*:5060` serves UDP and TCP on one port, as FreeSWITCH profiles do),
//! delivers every received message as an [`Incoming`] (the parsed message, its
//! transport, remote and local address, and the connection it came on), and
//! sends messages to a [`Destination`]. Streams are framed by
//! [`sofia_msg::StreamFramer`]; connections are reused in both directions (a
//! response goes back on the connection its request came in on, RFC 3261
//! §18.2.2); CRLF keepalives are answered (RFC 5626 §3.5.1); every limit has a
//! safe default ([`Config`]).
//!
//! ```no_run
//! # async fn example() -> Result<(), sofia_tport::Error> {
//! use sofia_tport::{Config, Tport};
//! let (tport, mut incoming) = Tport::bind(Config::new(["sip:127.0.0.1:0"])).await?;
//! println!("listening on {:?}", tport.listeners());
//! while let Some(msg) = incoming.recv().await {
//!     println!("{} from {}/{}", msg.msg.method_str(), msg.transport, msg.remote);
//! }
//! # Ok(()) }
//! ```
//!
//! Logging: `TPORT_DEBUG` levels through `sofia-su` (5: one line per message
//! in and out; 3: connection errors), `TPORT_LOG` and `TPORT_DUMP` as in
//! sofia-sip ([`logging`]).
#![forbid(unsafe_code)]

mod config;
mod error;
pub mod logging;
mod name;
mod stats;
mod tls;
mod tport;

pub use config::{Config, TlsConfig, TlsRoots};
pub use error::Error;
pub use name::{BindSpec, parse_bind};
pub use stats::{Stats, TransportStats};
pub use tport::{ConnId, Destination, Incoming, Sent, Tport};

/// A SIP transport protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Transport {
    /// UDP datagrams.
    Udp,
    /// TCP streams.
    Tcp,
    /// TLS over TCP.
    Tls,
}

impl Transport {
    /// The lower-case name used in logs and `transport=` (`udp`, `tcp`, `tls`).
    pub const fn name(self) -> &'static str {
        match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
            Transport::Tls => "tls",
        }
    }

    /// The name as written in a Via header (`UDP`, `TCP`, `TLS`).
    pub const fn via_name(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
            Transport::Tls => "TLS",
        }
    }

    /// True for TCP and TLS.
    pub const fn is_stream(self) -> bool {
        !matches!(self, Transport::Udp)
    }

    /// Parses `udp`, `tcp` or `tls`, ignoring case.
    pub fn from_name(name: &str) -> Option<Transport> {
        match name.to_ascii_lowercase().as_str() {
            "udp" => Some(Transport::Udp),
            "tcp" => Some(Transport::Tcp),
            "tls" => Some(Transport::Tls),
            _ => None,
        }
    }
}

impl std::fmt::Display for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
