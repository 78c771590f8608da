//! Transport configuration, with sofia-sip-like safe defaults.

use std::path::PathBuf;
use std::time::Duration;

/// Where a TLS client finds the roots it trusts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum TlsRoots {
    /// The operating system's store (rustls-native-certs).
    #[default]
    System,
    /// PEM certificates from a file.
    PemFile(PathBuf),
    /// DER certificates (tests, embedding).
    Der(Vec<Vec<u8>>),
}

/// TLS settings.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TlsConfig {
    /// Server certificate chain, PEM file (needed to serve TLS).
    pub cert_file: Option<PathBuf>,
    /// Server private key, PEM file.
    pub key_file: Option<PathBuf>,
    /// Server certificate chain and key as DER (instead of the files).
    pub cert_der: Option<(Vec<Vec<u8>>, Vec<u8>)>,
    /// Roots for verifying servers we connect to.
    pub roots: TlsRoots,
}

/// Settings of a [`Tport`](crate::Tport). Every limit has a safe default.
#[derive(Debug, Clone)]
pub struct Config {
    /// Bind names (`sip:*:5060`, `sips:*:5061`, ...); see [`parse_bind`](crate::parse_bind).
    pub bind: Vec<String>,
    /// Largest message accepted or sent, in bytes (default 64 KiB). A larger
    /// datagram request is handed up marked `oversized` (nta answers 513);
    /// a stream that announces or accumulates more is closed, since it
    /// cannot be framed further.
    pub max_message_size: usize,
    /// Most open TCP/TLS connections (default 1024).
    pub max_connections: usize,
    /// Most open connections from or to one remote IP address (default 64).
    pub max_connections_per_ip: usize,
    /// How long an outbound connect may take (default 5 s).
    pub connect_timeout: Duration,
    /// How long a write may stall before the connection is closed (default 10 s).
    pub write_timeout: Duration,
    /// A connection with no traffic for this long is closed (default 5 min).
    pub idle_timeout: Duration,
    /// Interval of CRLFCRLF keepalives on connections we opened (RFC 5626
    /// §3.5.1); off by default.
    pub keepalive_interval: Option<Duration>,
    /// A request over UDP larger than this goes over TCP instead (RFC 3261
    /// §18.1.1); default 1300, `None` turns the switch off.
    pub udp_max_request: Option<usize>,
    /// Messages waiting to be written on one connection (default 256); past
    /// it a send fails rather than wait for a slow peer.
    pub write_queue: usize,
    /// Received messages waiting for the layer above (default 4096).
    pub incoming_queue: usize,
    /// Socket receive and send buffer size of each UDP socket (`SO_RCVBUF`
    /// and `SO_SNDBUF`), like sofia-sip's `TPTAG_UDP_RMEM` and
    /// `TPTAG_UDP_WMEM`; `None` leaves the system's default.
    ///
    /// Default: [`Config::DEFAULT_UDP_BUFFER`] (2 MiB). sofia-sip leaves the
    /// system's default unless the tags are given, which on Linux is
    /// 212,992 bytes (`net.core.rmem_default`): a few hundred requests, so
    /// a burst of load overflows it even when the engine keeps up on
    /// average, and each request the kernel drops waits for its sender's
    /// retransmission (T1, 500 ms). Linux caps the size at
    /// `net.core.rmem_max` / `net.core.wmem_max`; sofia-sip tries
    /// `SO_RCVBUFFORCE` first (which needs `CAP_NET_ADMIN`), sofia-tport
    /// only the plain option. As in sofia-sip, a size the system refuses is
    /// logged (level 3) and the socket keeps its default.
    pub udp_buffer: Option<usize>,
    /// TLS settings (needed for `sips:` and `transport=tls`).
    pub tls: Option<TlsConfig>,
    /// TPORT_LOG at start: `None` reads the environment variable.
    pub log: Option<bool>,
    /// TPORT_DUMP file (`-` for standard output): `None` reads the
    /// environment variable. Setting either `log` or `dump` here makes the
    /// configuration, not the environment, decide both.
    pub dump: Option<String>,
}

impl Config {
    /// The default size of UDP sockets' receive and send buffers
    /// ([`Config::udp_buffer`]): 2 MiB.
    pub const DEFAULT_UDP_BUFFER: usize = 2 * 1024 * 1024;

    /// Defaults with the given bind names.
    pub fn new<I, S>(bind: I) -> Config
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Config {
            bind: bind.into_iter().map(Into::into).collect(),
            ..Config::default()
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            bind: Vec::new(),
            max_message_size: 65536,
            max_connections: 1024,
            max_connections_per_ip: 64,
            connect_timeout: Duration::from_secs(5),
            write_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(300),
            keepalive_interval: None,
            udp_max_request: Some(1300),
            write_queue: 256,
            incoming_queue: 4096,
            udp_buffer: Some(Config::DEFAULT_UDP_BUFFER),
            tls: None,
            log: None,
            dump: None,
        }
    }
}
