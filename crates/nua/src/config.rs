//! Settings of a [`Nua`](crate::Nua).

use std::net::IpAddr;

use sofia_nta::Timers;
use sofia_soa::{Capabilities, Codec, MediaCap};

/// RTP port of the default media description.
pub const DEFAULT_RTP_PORT: u16 = 40000;

/// The media offered and accepted when [`Config::media`] is `None`: one
/// audio stream at `address`, port [`DEFAULT_RTP_PORT`], with PCMU, PCMA
/// and telephone events (payload type 101).
pub fn default_media(address: IpAddr) -> Capabilities {
    Capabilities::new(&address.to_string()).with_media(MediaCap::audio(
        DEFAULT_RTP_PORT,
        vec![Codec::pcmu(), Codec::pcma(), Codec::telephone_event(101)],
    ))
}

/// A user name and password for digest authentication.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The user name.
    pub user: String,
    /// The password.
    pub password: String,
    /// The realm they are for; `None` for any realm.
    pub realm: Option<String>,
}

impl Credentials {
    /// Credentials for any realm.
    pub fn new(user: impl Into<String>, password: impl Into<String>) -> Credentials {
        Credentials {
            user: user.into(),
            password: password.into(),
            realm: None,
        }
    }
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("user", &self.user)
            .field("realm", &self.realm)
            .finish_non_exhaustive()
    }
}

/// Settings of a user agent. The defaults are sofia-sip's where it has one.
#[derive(Debug, Clone)]
pub struct Config {
    /// Bind names of the transports (`sip:192.0.2.1:5060`,
    /// `sip:127.0.0.1:0;transport=udp`, ...; see `sofia_tport::parse_bind`).
    /// Default: `sip:127.0.0.1:0`. The first UDP (else TCP) address goes
    /// into the default From; the Contact of a call or registration names
    /// the listener of the transport it uses (`;transport=tcp` over TCP).
    /// Bind an address peers can reach rather than a wildcard.
    pub bind: Vec<String>,
    /// The Contact URI of registrations (sofia-sip's `NUTAG_M_USERNAME` and
    /// friends rolled into one) and calls. Default:
    /// `sip:<user>@<local address>` of the transport in use,
    /// rewritten when a registrar sees us from another address. A contact
    /// set here is never rewritten.
    pub contact: Option<String>,
    /// Our address in the From of MESSAGE and OPTIONS. Default:
    /// `sip:<credentials user, or "nua">@<local address>`.
    pub from: Option<String>,
    /// The User-Agent header of requests and Server-less answers.
    /// Default: `sofia-rs/<version>`.
    pub user_agent: String,
    /// Credentials for digest challenges (401 and 407).
    pub credentials: Vec<Credentials>,
    /// Expiry asked by [`Handle::register`](crate::Handle::register) when it
    /// is given none, in seconds (sofia-sip: 3600).
    pub register_expires: u32,
    /// Transaction timers (T1, T2, T4, ...).
    pub timers: Timers,
    /// Events waiting to be read before the user agent waits for the
    /// reader (default 1024).
    pub event_queue: usize,
    /// Seed for tags, Call-IDs and branches, for reproducible runs; `None`
    /// (the default) draws them from the operating system.
    pub seed: Option<u64>,
    /// The media of calls: what offers carry and answers accept
    /// (`sofia-soa` capabilities). The user agent does signalling only: the
    /// application sends and receives the RTP at the address and ports
    /// given here. Default ([`default_media`]): audio at the local address,
    /// port 40000, PCMU, PCMA, telephone-event.
    pub media: Option<Capabilities>,
    /// Reliable provisional responses (RFC 3262, sofia-sip's
    /// `NUTAG_EARLY_MEDIA`): `100rel` in our Supported, PRACK for reliable
    /// 1xx, and our 1xx sent reliably to INVITEs that support it. Off by
    /// default; an INVITE that requires 100rel then gets 420.
    pub reliable_provisionals: bool,
    /// The session interval our INVITEs ask for, in seconds (RFC 4028,
    /// sofia-sip's `NUTAG_SESSION_TIMER`); `None` (the default) asks for
    /// none. A peer's Session-Expires is honoured either way.
    pub session_expires: Option<u32>,
    /// The smallest session interval accepted (`NUTAG_MIN_SE`), default
    /// 90 s, RFC 4028's minimum; a shorter one is answered 422.
    pub min_se: u32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            bind: vec!["sip:127.0.0.1:0".to_string()],
            contact: None,
            from: None,
            user_agent: concat!("sofia-rs/", env!("CARGO_PKG_VERSION")).to_string(),
            credentials: Vec::new(),
            register_expires: 3600,
            timers: Timers::default(),
            event_queue: 1024,
            seed: None,
            media: None,
            reliable_provisionals: false,
            session_expires: None,
            min_se: 90,
        }
    }
}
