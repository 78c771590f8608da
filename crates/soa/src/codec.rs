//! Codecs: `a=rtpmap`, the static payload types of RFC 3551, and matching an
//! offered format against a local codec.

use std::fmt;

/// An `a=rtpmap` value: `<payload type> <encoding name>/<clock rate>[/<channels>]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpMap {
    /// RTP payload type (0..=127).
    pub pt: u8,
    /// Encoding name as written (`PCMU`, `telephone-event`, ...).
    pub encoding: String,
    /// Clock rate in Hz.
    pub clock: u32,
    /// Channel count (audio), if given.
    pub channels: Option<u16>,
}

impl RtpMap {
    /// Parses the value of an `a=rtpmap` attribute; `None` when it is not
    /// one.
    pub fn parse(value: &str) -> Option<RtpMap> {
        let (pt, rest) = value.trim().split_once(' ')?;
        let pt: u8 = pt.parse().ok().filter(|&p| p <= 127)?;
        let mut parts = rest.trim().split('/');
        let encoding = parts.next().filter(|e| !e.is_empty())?;
        let clock: u32 = parts.next()?.trim().parse().ok()?;
        let channels = match parts.next() {
            Some(c) => Some(c.trim().parse().ok()?),
            None => None,
        };
        if parts.next().is_some() {
            return None;
        }
        Some(RtpMap {
            pt,
            encoding: encoding.into(),
            clock,
            channels,
        })
    }
}

impl fmt::Display for RtpMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}/{}", self.pt, self.encoding, self.clock)?;
        if let Some(c) = self.channels {
            write!(f, "/{c}")?;
        }
        Ok(())
    }
}

/// The static RTP payload types of RFC 3551 §6: number, name, clock rate,
/// channels.
const STATIC: &[(u8, &str, u32, u16)] = &[
    (0, "PCMU", 8000, 1),
    (1, "1016", 8000, 1),
    (2, "G721", 8000, 1),
    (3, "GSM", 8000, 1),
    (4, "G723", 8000, 1),
    (5, "DVI4", 8000, 1),
    (6, "DVI4", 16000, 1),
    (7, "LPC", 8000, 1),
    (8, "PCMA", 8000, 1),
    (9, "G722", 8000, 1),
    (10, "L16", 44100, 2),
    (11, "L16", 44100, 1),
    (12, "QCELP", 8000, 1),
    (13, "CN", 8000, 1),
    (14, "MPA", 90000, 1),
    (15, "G728", 8000, 1),
    (16, "DVI4", 11025, 1),
    (17, "DVI4", 22050, 1),
    (18, "G729", 8000, 1),
    (25, "CelB", 90000, 1),
    (26, "JPEG", 90000, 1),
    (28, "nv", 90000, 1),
    (31, "H261", 90000, 1),
    (32, "MPV", 90000, 1),
    (33, "MP2T", 90000, 1),
    (34, "H263", 90000, 1),
];

/// The codec of a static payload type (RFC 3551), without fmtp.
pub fn static_codec(pt: u8) -> Option<Codec> {
    STATIC
        .iter()
        .find(|s| s.0 == pt)
        .map(|&(pt, name, clock, channels)| Codec {
            pt,
            name: name.into(),
            clock,
            channels: (channels != 1).then_some(channels),
            fmtp: None,
        })
}

/// One codec: a payload type bound to an encoding, with its parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Codec {
    /// RTP payload type: the number offered, or the number used in an answer.
    pub pt: u8,
    /// Encoding name (`PCMU`, `opus`, `telephone-event`).
    pub name: String,
    /// Clock rate in Hz.
    pub clock: u32,
    /// Channels; `None` means one.
    pub channels: Option<u16>,
    /// The `a=fmtp` parameters, if any.
    pub fmtp: Option<String>,
}

impl Codec {
    /// A codec with no channel count and no fmtp.
    pub fn new(pt: u8, name: &str, clock: u32) -> Codec {
        Codec {
            pt,
            name: name.into(),
            clock,
            channels: None,
            fmtp: None,
        }
    }

    /// The same codec with a channel count.
    pub fn with_channels(mut self, channels: u16) -> Codec {
        self.channels = Some(channels);
        self
    }

    /// The same codec with `a=fmtp` parameters.
    pub fn with_fmtp(mut self, fmtp: &str) -> Codec {
        self.fmtp = Some(fmtp.into());
        self
    }

    /// G.711 µ-law, static payload type 0.
    pub fn pcmu() -> Codec {
        Codec::new(0, "PCMU", 8000)
    }

    /// G.711 A-law, static payload type 8.
    pub fn pcma() -> Codec {
        Codec::new(8, "PCMA", 8000)
    }

    /// G.722, static payload type 9 (clock 8000 by RFC 3551's erratum).
    pub fn g722() -> Codec {
        Codec::new(9, "G722", 8000)
    }

    /// G.729, static payload type 18.
    pub fn g729() -> Codec {
        Codec::new(18, "G729", 8000)
    }

    /// RFC 4733 telephone events at 8000 Hz on a dynamic payload type, with
    /// the DTMF events `0-15`.
    pub fn telephone_event(pt: u8) -> Codec {
        Codec::new(pt, "telephone-event", 8000).with_fmtp("0-15")
    }

    /// True for RFC 4733 telephone events (also RFC 3264's spelling
    /// `telephone-events`).
    pub fn is_telephone_event(&self) -> bool {
        is_telephone_event(&self.name)
    }

    /// True for comfort noise (`CN`, RFC 3389).
    pub fn is_comfort_noise(&self) -> bool {
        self.name.eq_ignore_ascii_case("CN")
    }

    /// The channel count, one when unset.
    pub fn channel_count(&self) -> u16 {
        self.channels.unwrap_or(1)
    }

    /// True when both name the same encoding: the names equal ignoring case,
    /// the same clock rate and channel count. Payload types and fmtp are not
    /// compared (RFC 3264 §6.1: dynamic numbers may differ between offer and
    /// answer).
    pub fn same_encoding(&self, other: &Codec) -> bool {
        let names = self.name.eq_ignore_ascii_case(&other.name)
            || (self.is_telephone_event() && other.is_telephone_event());
        names && self.clock == other.clock && self.channel_count() == other.channel_count()
    }

    /// The `a=rtpmap` value of this codec.
    pub fn rtpmap(&self) -> RtpMap {
        RtpMap {
            pt: self.pt,
            encoding: self.name.clone(),
            clock: self.clock,
            channels: self.channels,
        }
    }

    /// The codec a media description gives a format: its `a=rtpmap` (and
    /// `a=fmtp`), else the static payload type's. `None` for a format that is
    /// not a payload type number or that names no known encoding.
    pub fn from_media(m: &crate::sdp::MediaDescription, format: &str) -> Option<Codec> {
        let pt: u8 = format.parse().ok().filter(|&p| p <= 127)?;
        let mut codec = match m.rtpmap(format) {
            Some(map) => Codec {
                pt,
                name: map.encoding,
                clock: map.clock,
                channels: map.channels.filter(|&c| c != 1),
                fmtp: None,
            },
            None => static_codec(pt)?,
        };
        codec.fmtp = m.fmtp(format).map(str::to_owned);
        Some(codec)
    }
}

fn is_telephone_event(name: &str) -> bool {
    name.eq_ignore_ascii_case("telephone-event") || name.eq_ignore_ascii_case("telephone-events")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rtpmap_parse() {
        assert_eq!(
            RtpMap::parse("97 iLBC/8000"),
            Some(RtpMap {
                pt: 97,
                encoding: "iLBC".into(),
                clock: 8000,
                channels: None
            })
        );
        assert_eq!(
            RtpMap::parse("111 opus/48000/2").and_then(|m| m.channels),
            Some(2)
        );
        assert_eq!(RtpMap::parse("128 x/8000"), None);
        assert_eq!(RtpMap::parse("97 iLBC"), None);
        assert_eq!(RtpMap::parse("97 a/1/2/3"), None);
        assert_eq!(RtpMap::parse("97 /8000"), None);
    }

    #[test]
    fn matching() {
        let te = Codec::telephone_event(101);
        assert!(te.same_encoding(&Codec::new(110, "telephone-events", 8000)));
        assert!(!te.same_encoding(&Codec::new(110, "telephone-event", 16000)));
        assert!(Codec::pcmu().same_encoding(&Codec::new(0, "pcmu", 8000)));
        assert!(Codec::pcmu().same_encoding(&Codec::new(0, "PCMU", 8000).with_channels(1)));
        assert!(
            !Codec::new(111, "opus", 48000)
                .same_encoding(&Codec::new(111, "opus", 48000).with_channels(2))
        );
        assert_eq!(static_codec(18).map(|c| c.name), Some("G729".to_string()));
        assert_eq!(static_codec(10).and_then(|c| c.channels), Some(2));
        assert_eq!(static_codec(96), None);
    }
}
