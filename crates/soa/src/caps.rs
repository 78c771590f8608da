//! Local capabilities: what this side can send and receive.

use std::fmt;

use crate::codec::Codec;
use crate::sdp::{Attribute, Direction};

/// A media type (the first field of an `m=` line).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MediaKind {
    /// `audio`
    Audio,
    /// `video`
    Video,
    /// `text`
    Text,
    /// `application`
    Application,
    /// `message`
    Message,
    /// `image`
    Image,
    /// Any other media type, as written.
    Other(String),
}

impl MediaKind {
    /// The media type as written on an `m=` line.
    pub fn as_str(&self) -> &str {
        match self {
            MediaKind::Audio => "audio",
            MediaKind::Video => "video",
            MediaKind::Text => "text",
            MediaKind::Application => "application",
            MediaKind::Message => "message",
            MediaKind::Image => "image",
            MediaKind::Other(s) => s,
        }
    }

    /// The kind named by an `m=` line's media field (compared ignoring case).
    pub fn parse(s: &str) -> MediaKind {
        const KNOWN: [MediaKind; 6] = [
            MediaKind::Audio,
            MediaKind::Video,
            MediaKind::Text,
            MediaKind::Application,
            MediaKind::Message,
            MediaKind::Image,
        ];
        KNOWN
            .into_iter()
            .find(|k| k.as_str().eq_ignore_ascii_case(s))
            .unwrap_or_else(|| MediaKind::Other(s.to_owned()))
    }

    /// True when an `m=` line's media field names this kind.
    pub fn matches(&self, media: &str) -> bool {
        self.as_str().eq_ignore_ascii_case(media)
    }
}

impl fmt::Display for MediaKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One local media stream: its type, port, transport, codecs in preference
/// order, and the direction this side wants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaCap {
    /// Media type.
    pub kind: MediaKind,
    /// Local RTP port. A capability with port 0 is never used.
    pub port: u16,
    /// Transport protocol. Default `RTP/AVP`.
    pub proto: String,
    /// Codecs in local preference order, with the payload types this side
    /// offers. Telephone events (RFC 4733) are a codec named
    /// `telephone-event` ([`Codec::telephone_event`]).
    pub codecs: Vec<Codec>,
    /// The direction this side wants. Default `sendrecv`.
    pub direction: Direction,
    /// Media address when it differs from the session's
    /// ([`Capabilities::address`]): written as a media-level `c=` line.
    pub address: Option<String>,
    /// Further attributes written after the codecs (`ptime`, ...).
    pub attributes: Vec<Attribute>,
}

impl MediaCap {
    /// A `sendrecv` RTP/AVP stream.
    pub fn new(kind: MediaKind, port: u16, codecs: Vec<Codec>) -> MediaCap {
        MediaCap {
            kind,
            port,
            proto: "RTP/AVP".into(),
            codecs,
            direction: Direction::SendRecv,
            address: None,
            attributes: Vec::new(),
        }
    }

    /// A `sendrecv` RTP/AVP audio stream.
    pub fn audio(port: u16, codecs: Vec<Codec>) -> MediaCap {
        MediaCap::new(MediaKind::Audio, port, codecs)
    }

    /// A `sendrecv` RTP/AVP video stream.
    pub fn video(port: u16, codecs: Vec<Codec>) -> MediaCap {
        MediaCap::new(MediaKind::Video, port, codecs)
    }

    /// The same stream with another direction.
    pub fn with_direction(mut self, direction: Direction) -> MediaCap {
        self.direction = direction;
        self
    }

    /// The same stream on its own address (a media-level `c=` line).
    pub fn with_address(mut self, address: &str) -> MediaCap {
        self.address = Some(address.into());
        self
    }

    /// The same stream over another transport protocol (`RTP/SAVP`, ...).
    pub fn with_proto(mut self, proto: &str) -> MediaCap {
        self.proto = proto.into();
        self
    }

    /// The same stream with one more attribute.
    pub fn with_attribute(mut self, attribute: Attribute) -> MediaCap {
        self.attributes.push(attribute);
        self
    }
}

/// Everything the local side can do: its address, the fields of its `o=` and
/// `s=` lines, and its media streams.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capabilities {
    /// User name of the `o=` line. Default `-`.
    pub username: String,
    /// The session name (`s=`). Default `-`.
    pub session_name: String,
    /// Address of the `o=` line and of the session-level `c=` line: an IPv4
    /// or IPv6 address or a host name.
    pub address: String,
    /// Media streams, in the order of the first offer.
    pub media: Vec<MediaCap>,
}

impl Capabilities {
    /// Capabilities on an address with no media yet.
    pub fn new(address: &str) -> Capabilities {
        Capabilities {
            username: "-".into(),
            session_name: "-".into(),
            address: address.into(),
            media: Vec::new(),
        }
    }

    /// The same with a user name for the `o=` line.
    pub fn with_username(mut self, username: &str) -> Capabilities {
        self.username = username.into();
        self
    }

    /// The same with a session name for the `s=` line.
    pub fn with_session_name(mut self, name: &str) -> Capabilities {
        self.session_name = name.into();
        self
    }

    /// The same with one more media stream.
    pub fn with_media(mut self, media: MediaCap) -> Capabilities {
        self.media.push(media);
        self
    }
}
