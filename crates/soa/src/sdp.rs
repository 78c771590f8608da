//! The session description (RFC 4566) as data, and its serializer.
//!
//! [`SessionDescription::parse`] reads one (see the parser in `parse.rs`);
//! [`Display`](std::fmt::Display) writes it back with CRLF line ends and the
//! lines in the order RFC 4566 §5 prescribes. Parsing what the serializer
//! writes gives back an equal value.

use std::fmt::{self, Write as _};

use crate::codec::RtpMap;
use crate::config::Config;
use crate::error::Result;

/// The media direction attributes of RFC 3264 §5.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Direction {
    /// `a=sendrecv`: media flows both ways (the default).
    #[default]
    SendRecv,
    /// `a=sendonly`: this side only sends.
    SendOnly,
    /// `a=recvonly`: this side only receives.
    RecvOnly,
    /// `a=inactive`: no media flows.
    Inactive,
}

impl Direction {
    /// The direction with the given send and receive flags.
    pub fn from_flags(send: bool, recv: bool) -> Direction {
        match (send, recv) {
            (true, true) => Direction::SendRecv,
            (true, false) => Direction::SendOnly,
            (false, true) => Direction::RecvOnly,
            (false, false) => Direction::Inactive,
        }
    }

    /// True when this side sends media.
    pub fn sends(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::SendOnly)
    }

    /// True when this side receives media.
    pub fn receives(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::RecvOnly)
    }

    /// The same stream seen from the other side (`sendonly` becomes
    /// `recvonly`).
    pub fn reverse(self) -> Direction {
        Direction::from_flags(self.receives(), self.sends())
    }

    /// The attribute name (`sendrecv`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }

    /// The direction named by an attribute, if it is one.
    pub fn from_attribute(name: &str) -> Option<Direction> {
        match name {
            "sendrecv" => Some(Direction::SendRecv),
            "sendonly" => Some(Direction::SendOnly),
            "recvonly" => Some(Direction::RecvOnly),
            "inactive" => Some(Direction::Inactive),
            _ => None,
        }
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The `o=` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// User name, `-` when there is none.
    pub username: String,
    /// Session id (a string of digits; kept as sent).
    pub session_id: String,
    /// Session version, incremented when the description changes.
    pub version: u64,
    /// Network type, `IN`.
    pub net_type: String,
    /// Address type, `IP4` or `IP6`.
    pub addr_type: String,
    /// Address or host name of the originator.
    pub address: String,
}

/// A `c=` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    /// Network type, `IN`.
    pub net_type: String,
    /// Address type, `IP4` or `IP6`.
    pub addr_type: String,
    /// Address or host name, without the multicast suffix.
    pub address: String,
    /// Multicast TTL and/or address count after the address (`127/3`), as
    /// sent.
    pub multicast: Option<String>,
}

impl Connection {
    /// An `IN` connection for an address, `IP6` when it contains a colon.
    pub fn new(address: &str) -> Connection {
        Connection {
            net_type: "IN".into(),
            addr_type: addr_type_of(address).into(),
            address: address.into(),
            multicast: None,
        }
    }
}

/// `IP6` for an address with a colon, else `IP4`.
pub(crate) fn addr_type_of(address: &str) -> &'static str {
    if address.contains(':') { "IP6" } else { "IP4" }
}

/// A `b=` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bandwidth {
    /// Modifier (`AS`, `CT`, `TIAS`, ...).
    pub kind: String,
    /// Bandwidth in the unit of the modifier (kbit/s for `AS`).
    pub value: u64,
}

/// A `t=` line with the `r=` lines that follow it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timing {
    /// Start time (NTP seconds), 0 for unbounded.
    pub start: u64,
    /// Stop time (NTP seconds), 0 for unbounded.
    pub stop: u64,
    /// The `r=` lines, as sent.
    pub repeats: Vec<String>,
}

/// An `a=` line: a name with an optional value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    /// Attribute name (`rtpmap`, `sendonly`, ...).
    pub name: String,
    /// The text after the colon, if there is one.
    pub value: Option<String>,
}

impl Attribute {
    /// A property attribute (`a=name`).
    pub fn flag(name: &str) -> Attribute {
        Attribute {
            name: name.into(),
            value: None,
        }
    }

    /// A value attribute (`a=name:value`).
    pub fn new(name: &str, value: impl Into<String>) -> Attribute {
        Attribute {
            name: name.into(),
            value: Some(value.into()),
        }
    }
}

/// One media description: an `m=` line and the lines after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaDescription {
    /// Media type (`audio`, `video`, ...).
    pub media: String,
    /// Transport port; 0 marks a disabled or rejected stream.
    pub port: u16,
    /// Number of ports after a slash, if given.
    pub port_count: Option<u16>,
    /// Transport protocol (`RTP/AVP`, ...).
    pub proto: String,
    /// Formats: RTP payload type numbers for RTP, as sent.
    pub formats: Vec<String>,
    /// The `i=` line.
    pub info: Option<String>,
    /// The `c=` lines of this media.
    pub connections: Vec<Connection>,
    /// The `b=` lines.
    pub bandwidths: Vec<Bandwidth>,
    /// The `k=` line.
    pub key: Option<String>,
    /// The `a=` lines, in order.
    pub attributes: Vec<Attribute>,
}

impl MediaDescription {
    /// A media description with no lines after the `m=` line.
    pub fn new(media: &str, port: u16, proto: &str, formats: Vec<String>) -> MediaDescription {
        MediaDescription {
            media: media.into(),
            port,
            port_count: None,
            proto: proto.into(),
            formats,
            info: None,
            connections: Vec::new(),
            bandwidths: Vec::new(),
            key: None,
            attributes: Vec::new(),
        }
    }

    /// The value of the first attribute with this name (`None` for a missing
    /// attribute and for one without a value).
    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|a| a.name == name)
            .and_then(|a| a.value.as_deref())
    }

    /// True when an attribute with this name is present.
    pub fn has_attribute(&self, name: &str) -> bool {
        self.attributes.iter().any(|a| a.name == name)
    }

    /// The direction attribute of this media, if it has one (the last one
    /// wins).
    pub fn direction_attribute(&self) -> Option<Direction> {
        direction_of(&self.attributes)
    }

    /// The `a=rtpmap` of a format, if there is a valid one.
    pub fn rtpmap(&self, format: &str) -> Option<RtpMap> {
        self.attributes
            .iter()
            .filter(|a| a.name == "rtpmap")
            .filter_map(|a| a.value.as_deref())
            .filter_map(RtpMap::parse)
            .find(|m| m.pt.to_string() == format)
    }

    /// The parameters of a format's `a=fmtp` line (the text after the format
    /// and a space), if there is one.
    pub fn fmtp(&self, format: &str) -> Option<&str> {
        self.attributes
            .iter()
            .filter(|a| a.name == "fmtp")
            .filter_map(|a| a.value.as_deref())
            .find_map(|v| {
                let (fmt, params) = v.split_once(' ').unwrap_or((v, ""));
                (fmt == format).then(|| params.trim_start())
            })
    }

    /// The `a=fmtp` parameters of a format split at `;` into name and
    /// optional value (`0-15` gives `("0-15", None)`, `mode=30` gives
    /// `("mode", Some("30"))`).
    pub fn fmtp_params(&self, format: &str) -> Vec<(&str, Option<&str>)> {
        self.fmtp(format).map(fmtp_params).unwrap_or_default()
    }
}

/// Splits `a=fmtp` parameters at `;` into name and optional value, trimming
/// white space and dropping empty items.
pub fn fmtp_params(params: &str) -> Vec<(&str, Option<&str>)> {
    params
        .split(';')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((n, v)) => (n.trim(), Some(v.trim())),
            None => (p, None),
        })
        .collect()
}

pub(crate) fn direction_of(attributes: &[Attribute]) -> Option<Direction> {
    attributes
        .iter()
        .rev()
        .find_map(|a| Direction::from_attribute(&a.name))
}

/// A whole session description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionDescription {
    /// The `o=` line.
    pub origin: Origin,
    /// The `s=` line (may be empty or a single space, as in RFC 3264's and
    /// RFC 4317's examples).
    pub session_name: String,
    /// The `i=` line.
    pub info: Option<String>,
    /// The `u=` line.
    pub uri: Option<String>,
    /// The `e=` lines.
    pub emails: Vec<String>,
    /// The `p=` lines.
    pub phones: Vec<String>,
    /// The session-level `c=` line.
    pub connection: Option<Connection>,
    /// The session-level `b=` lines.
    pub bandwidths: Vec<Bandwidth>,
    /// The `t=` lines (at least one) with their `r=` lines.
    pub timing: Vec<Timing>,
    /// The `z=` line.
    pub zone: Option<String>,
    /// The session-level `k=` line.
    pub key: Option<String>,
    /// The session-level `a=` lines.
    pub attributes: Vec<Attribute>,
    /// The media descriptions, in order.
    pub media: Vec<MediaDescription>,
}

impl SessionDescription {
    /// Parses a description with the default limits ([`Config::DEFAULT`]).
    ///
    /// ```
    /// let sdp = sofia_soa::SessionDescription::parse(
    ///     "v=0\r\no=- 1 1 IN IP4 host.example.com\r\ns=-\r\n\
    ///      c=IN IP4 host.example.com\r\nt=0 0\r\nm=audio 49170 RTP/AVP 0\r\n",
    /// )?;
    /// assert_eq!(sdp.media[0].port, 49170);
    /// assert_eq!(sdp.connection.unwrap().address, "host.example.com");
    /// # Ok::<(), sofia_soa::Error>(())
    /// ```
    pub fn parse(text: &str) -> Result<SessionDescription> {
        crate::parse::parse(text, &Config::DEFAULT)
    }

    /// Parses a description within the limits of `config`.
    pub fn parse_with(text: &str, config: &Config) -> Result<SessionDescription> {
        crate::parse::parse(text, config)
    }

    /// Parses a body of bytes, which must be UTF-8.
    pub fn parse_bytes(body: &[u8], config: &Config) -> Result<SessionDescription> {
        if body.len() > config.max_size {
            return Err(crate::Error::TooLarge {
                size: body.len(),
                limit: config.max_size,
            });
        }
        let text = std::str::from_utf8(body).map_err(|e| {
            crate::Error::malformed(
                1 + body[..e.valid_up_to()]
                    .iter()
                    .filter(|&&b| b == b'\n')
                    .count(),
                "not UTF-8",
            )
        })?;
        crate::parse::parse(text, config)
    }

    /// The session-level direction attribute, if there is one.
    pub fn direction_attribute(&self) -> Option<Direction> {
        direction_of(&self.attributes)
    }

    /// The direction of media `index`: its own attribute, else the session's,
    /// else `sendrecv` (RFC 3264 §5.1).
    pub fn media_direction(&self, index: usize) -> Direction {
        self.media
            .get(index)
            .and_then(MediaDescription::direction_attribute)
            .or_else(|| self.direction_attribute())
            .unwrap_or_default()
    }

    /// The connection that applies to media `index`: its own first `c=`
    /// line, else the session's.
    pub fn media_connection(&self, index: usize) -> Option<&Connection> {
        self.media
            .get(index)
            .and_then(|m| m.connections.first())
            .or(self.connection.as_ref())
    }

    /// True when the two descriptions are equal apart from the origin's
    /// version: the test of RFC 3264 §8 for "the session changed".
    pub fn same_session(&self, other: &SessionDescription) -> bool {
        let mut a = self.clone();
        a.origin.version = other.origin.version;
        a == *other
    }
}

fn write_connection(out: &mut fmt::Formatter<'_>, c: &Connection) -> fmt::Result {
    write!(out, "c={} {} {}", c.net_type, c.addr_type, c.address)?;
    if let Some(m) = &c.multicast {
        write!(out, "/{m}")?;
    }
    out.write_str("\r\n")
}

fn write_attribute(out: &mut fmt::Formatter<'_>, a: &Attribute) -> fmt::Result {
    match &a.value {
        Some(v) => write!(out, "a={}:{}\r\n", a.name, v),
        None => write!(out, "a={}\r\n", a.name),
    }
}

impl fmt::Display for SessionDescription {
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        let o = &self.origin;
        out.write_str("v=0\r\n")?;
        write!(
            out,
            "o={} {} {} {} {} {}\r\n",
            o.username, o.session_id, o.version, o.net_type, o.addr_type, o.address
        )?;
        write!(out, "s={}\r\n", self.session_name)?;
        if let Some(i) = &self.info {
            write!(out, "i={i}\r\n")?;
        }
        if let Some(u) = &self.uri {
            write!(out, "u={u}\r\n")?;
        }
        for e in &self.emails {
            write!(out, "e={e}\r\n")?;
        }
        for p in &self.phones {
            write!(out, "p={p}\r\n")?;
        }
        if let Some(c) = &self.connection {
            write_connection(out, c)?;
        }
        for b in &self.bandwidths {
            write!(out, "b={}:{}\r\n", b.kind, b.value)?;
        }
        for t in &self.timing {
            write!(out, "t={} {}\r\n", t.start, t.stop)?;
            for r in &t.repeats {
                write!(out, "r={r}\r\n")?;
            }
        }
        if let Some(z) = &self.zone {
            write!(out, "z={z}\r\n")?;
        }
        if let Some(k) = &self.key {
            write!(out, "k={k}\r\n")?;
        }
        for a in &self.attributes {
            write_attribute(out, a)?;
        }
        for m in &self.media {
            write!(out, "m={} {}", m.media, m.port)?;
            if let Some(n) = m.port_count {
                write!(out, "/{n}")?;
            }
            write!(out, " {}", m.proto)?;
            for f in &m.formats {
                out.write_char(' ')?;
                out.write_str(f)?;
            }
            out.write_str("\r\n")?;
            if let Some(i) = &m.info {
                write!(out, "i={i}\r\n")?;
            }
            for c in &m.connections {
                write_connection(out, c)?;
            }
            for b in &m.bandwidths {
                write!(out, "b={}:{}\r\n", b.kind, b.value)?;
            }
            if let Some(k) = &m.key {
                write!(out, "k={k}\r\n")?;
            }
            for a in &m.attributes {
                write_attribute(out, a)?;
            }
        }
        Ok(())
    }
}
