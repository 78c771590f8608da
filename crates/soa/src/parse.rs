//! The SDP parser (RFC 4566 §5, RFC 8866 §5).
//!
//! Line structure is handled here by hand (a description is a list of
//! `<type>=<value>` lines); the value grammars of `o=`, `c=`, `m=`, `t=` and
//! `b=` are nom parsers. Every repeatable line counts against the limits of
//! [`Config`], so one description takes bounded memory.
//!
//! It accepts what RFC 3264 and RFC 4317 show: host names in `o=` and `c=`,
//! an empty or blank `s=`, LF as well as CRLF line ends. It rejects unknown
//! line types (RFC 4566 §5: a description with a type letter a parser does
//! not understand is to be ignored whole), a missing `v=`, `o=`, `s=` or
//! `t=`, a `v=` other than 0, control characters inside a line, and media
//! lines without a format.

use nom::bytes::complete::{tag, take_while1};
use nom::character::complete::{char, digit1, space1};
use nom::combinator::{all_consuming, map_res, opt, recognize};
use nom::multi::many0;
use nom::sequence::preceded;
use nom::{IResult, Parser};

use crate::config::Config;
use crate::error::{Error, Result};
use crate::sdp::{
    Attribute, Bandwidth, Connection, MediaDescription, Origin, SessionDescription, Timing,
};

type Res<'a, T> = IResult<&'a str, T>;

/// A run of characters other than space (the fields of `o=`, `c=`, `m=`).
fn field(i: &str) -> Res<'_, &str> {
    take_while1(|c: char| c != ' ').parse(i)
}

fn number<T: std::str::FromStr>(i: &str) -> Res<'_, T> {
    map_res(digit1, str::parse::<T>).parse(i)
}

/// `o=<username> <sess-id> <sess-version> <nettype> <addrtype> <address>`
fn origin(i: &str) -> Res<'_, Origin> {
    let (i, (username, _, session_id, _, version, _, net_type, _, addr_type, _, address)) = (
        field,
        space1,
        digit1,
        space1,
        number::<u64>,
        space1,
        field,
        space1,
        field,
        space1,
        field,
    )
        .parse(i)?;
    Ok((
        i,
        Origin {
            username: username.into(),
            session_id: session_id.into(),
            version,
            net_type: net_type.into(),
            addr_type: addr_type.into(),
            address: address.into(),
        },
    ))
}

/// `c=<nettype> <addrtype> <address>[/<ttl>][/<count>]`
fn connection(i: &str) -> Res<'_, Connection> {
    let (i, (net_type, _, addr_type, _, address, multicast)) = (
        field,
        space1,
        field,
        space1,
        take_while1(|c: char| c != ' ' && c != '/'),
        opt(preceded(
            char('/'),
            recognize((digit1, opt((char('/'), digit1)))),
        )),
    )
        .parse(i)?;
    Ok((
        i,
        Connection {
            net_type: net_type.into(),
            addr_type: addr_type.into(),
            address: address.into(),
            multicast: multicast.map(str::to_owned),
        },
    ))
}

/// `m=<media> <port>[/<count>] <proto> <fmt> ...`: the formats are returned
/// as a slice of the input so that their number can be checked before they
/// are copied.
fn media(i: &str) -> Res<'_, (&str, u16, Option<u16>, &str, &str)> {
    let (i, (media, _, port, count, _, proto, formats)) = (
        field,
        space1,
        number::<u16>,
        opt(preceded(char('/'), number::<u16>)),
        space1,
        field,
        recognize(many0((space1, field))),
    )
        .parse(i)?;
    Ok((i, (media, port, count, proto, formats)))
}

/// `t=<start> <stop>`
fn timing(i: &str) -> Res<'_, (u64, u64)> {
    let (i, (start, _, stop)) = (number::<u64>, space1, number::<u64>).parse(i)?;
    Ok((i, (start, stop)))
}

/// `b=<bwtype>:<bandwidth>`
fn bandwidth(i: &str) -> Res<'_, Bandwidth> {
    let (i, (kind, _, value)) = (
        take_while1(|c: char| c != ':' && c != ' '),
        tag(":"),
        number::<u64>,
    )
        .parse(i)?;
    Ok((
        i,
        Bandwidth {
            kind: kind.into(),
            value,
        },
    ))
}

/// `v=0`
fn version(i: &str) -> Res<'_, &str> {
    tag("0").parse(i)
}

/// Runs a value parser over a whole line value (trailing spaces allowed).
fn whole<'a, T>(
    line: usize,
    what: &str,
    value: &'a str,
    p: impl Parser<&'a str, Output = T, Error = nom::error::Error<&'a str>>,
) -> Result<T> {
    all_consuming(p)
        .parse(value.trim_end_matches(' '))
        .map(|(_, v)| v)
        .map_err(|_| Error::malformed(line, format!("bad {what} line")))
}

fn push_limited<T>(v: &mut Vec<T>, item: T, limit: usize, what: &'static str) -> Result<()> {
    if v.len() >= limit {
        return Err(Error::TooMany { what, limit });
    }
    v.push(item);
    Ok(())
}

fn set_once<T>(slot: &mut Option<T>, item: T, line: usize, kind: char) -> Result<()> {
    if slot.is_some() {
        return Err(Error::malformed(line, format!("second {kind}= line")));
    }
    *slot = Some(item);
    Ok(())
}

/// The session part while it is read: `o=` and `s=` are optional until the
/// end, where their absence is an error.
struct SessionPart {
    origin: Option<Origin>,
    name: Option<String>,
    sdp: SessionDescription,
}

pub(crate) fn parse(text: &str, config: &Config) -> Result<SessionDescription> {
    if text.len() > config.max_size {
        return Err(Error::TooLarge {
            size: text.len(),
            limit: config.max_size,
        });
    }
    let limit = config.max_attributes;
    let mut part = SessionPart {
        origin: None,
        name: None,
        sdp: SessionDescription {
            origin: Origin {
                username: String::new(),
                session_id: String::new(),
                version: 0,
                net_type: String::new(),
                addr_type: String::new(),
                address: String::new(),
            },
            session_name: String::new(),
            info: None,
            uri: None,
            emails: Vec::new(),
            phones: Vec::new(),
            connection: None,
            bandwidths: Vec::new(),
            timing: Vec::new(),
            zone: None,
            key: None,
            attributes: Vec::new(),
            media: Vec::new(),
        },
    };
    let mut seen_version = false;

    for (n, raw) in text.split('\n').enumerate() {
        let line_no = n + 1;
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if line.is_empty() {
            continue;
        }
        if line.chars().any(|c| c.is_control() && c != '\t') {
            return Err(Error::malformed(line_no, "control character in line"));
        }
        let mut chars = line.chars();
        let kind = chars.next().unwrap_or(' ');
        if chars.next() != Some('=') || !kind.is_ascii_lowercase() {
            return Err(Error::malformed(line_no, "not a <type>=<value> line"));
        }
        let value = &line[2..];

        if !seen_version {
            if kind != 'v' {
                return Err(Error::malformed(line_no, "first line is not v="));
            }
            whole(line_no, "v=", value, version)?;
            seen_version = true;
            continue;
        }

        let sdp = &mut part.sdp;
        if let Some(m) = sdp.media.last_mut() {
            // Inside a media description.
            match kind {
                'm' => {}
                'i' => {
                    set_once(&mut m.info, value.to_owned(), line_no, kind)?;
                    continue;
                }
                'c' => {
                    let c = whole(line_no, "c=", value, connection)?;
                    push_limited(&mut m.connections, c, limit, "c= lines in one media")?;
                    continue;
                }
                'b' => {
                    let b = whole(line_no, "b=", value, bandwidth)?;
                    push_limited(&mut m.bandwidths, b, limit, "b= lines in one media")?;
                    continue;
                }
                'k' => {
                    set_once(&mut m.key, value.to_owned(), line_no, kind)?;
                    continue;
                }
                'a' => {
                    let a = attribute(line_no, value)?;
                    push_limited(&mut m.attributes, a, limit, "attributes in one media")?;
                    continue;
                }
                _ => {
                    return Err(Error::malformed(
                        line_no,
                        format!("{kind}= line inside a media description"),
                    ));
                }
            }
        }
        match kind {
            'v' => return Err(Error::malformed(line_no, "second v= line")),
            'o' => {
                let o = whole(line_no, "o=", value, origin)?;
                set_once(&mut part.origin, o, line_no, kind)?;
            }
            's' => set_once(&mut part.name, value.to_owned(), line_no, kind)?,
            'i' => set_once(&mut sdp.info, value.to_owned(), line_no, kind)?,
            'u' => set_once(&mut sdp.uri, value.to_owned(), line_no, kind)?,
            'e' => push_limited(&mut sdp.emails, value.to_owned(), limit, "e= lines")?,
            'p' => push_limited(&mut sdp.phones, value.to_owned(), limit, "p= lines")?,
            'c' => {
                let c = whole(line_no, "c=", value, connection)?;
                set_once(&mut sdp.connection, c, line_no, kind)?;
            }
            'b' => {
                let b = whole(line_no, "b=", value, bandwidth)?;
                push_limited(&mut sdp.bandwidths, b, limit, "b= lines")?;
            }
            't' => {
                let (start, stop) = whole(line_no, "t=", value, timing)?;
                let t = Timing {
                    start,
                    stop,
                    repeats: Vec::new(),
                };
                push_limited(&mut sdp.timing, t, limit, "t= lines")?;
            }
            'r' => {
                let Some(t) = sdp.timing.last_mut() else {
                    return Err(Error::malformed(line_no, "r= line before any t= line"));
                };
                if value.trim().is_empty() {
                    return Err(Error::malformed(line_no, "empty r= line"));
                }
                push_limited(&mut t.repeats, value.to_owned(), limit, "r= lines")?;
            }
            'z' => set_once(&mut sdp.zone, value.to_owned(), line_no, kind)?,
            'k' => set_once(&mut sdp.key, value.to_owned(), line_no, kind)?,
            'a' => {
                let a = attribute(line_no, value)?;
                push_limited(&mut sdp.attributes, a, limit, "session attributes")?;
            }
            'm' => {
                if sdp.media.len() >= config.max_media {
                    return Err(Error::TooMany {
                        what: "m-lines",
                        limit: config.max_media,
                    });
                }
                let (media_kind, port, port_count, proto, formats) =
                    whole(line_no, "m=", value, media)?;
                let mut list = Vec::new();
                for f in formats.split(' ').filter(|f| !f.is_empty()) {
                    push_limited(&mut list, f.to_owned(), config.max_formats, "formats")?;
                }
                if list.is_empty() {
                    return Err(Error::malformed(line_no, "m= line without a format"));
                }
                let mut m = MediaDescription::new(media_kind, port, proto, list);
                m.port_count = port_count;
                sdp.media.push(m);
            }
            _ => {
                return Err(Error::malformed(
                    line_no,
                    format!("unknown line type {kind}="),
                ));
            }
        }
    }

    if !seen_version {
        return Err(Error::malformed(0, "empty description"));
    }
    let Some(origin) = part.origin else {
        return Err(Error::malformed(0, "no o= line"));
    };
    let Some(name) = part.name else {
        return Err(Error::malformed(0, "no s= line"));
    };
    let mut sdp = part.sdp;
    if sdp.timing.is_empty() {
        return Err(Error::malformed(0, "no t= line"));
    }
    sdp.origin = origin;
    sdp.session_name = name;
    Ok(sdp)
}

/// `a=<name>[:<value>]`: the name is a non-empty token.
fn attribute(line: usize, value: &str) -> Result<Attribute> {
    let (name, val) = match value.split_once(':') {
        Some((n, v)) => (n, Some(v.to_owned())),
        None => (value, None),
    };
    let token = |c: char| c.is_ascii_graphic() && c != ':';
    if name.is_empty() || !name.chars().all(token) {
        return Err(Error::malformed(line, "bad attribute name"));
    }
    Ok(Attribute {
        name: name.into(),
        value: val,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<SessionDescription> {
        parse(s, &Config::DEFAULT)
    }

    const BASIC: &str = "v=0\r\no=alice 2890844526 2890844526 IN IP4 host.anywhere.com\r\n\
        s=\r\nc=IN IP4 host.anywhere.com\r\nt=0 0\r\nm=audio 49170 RTP/AVP 0\r\n\
        a=rtpmap:0 PCMU/8000\r\nm=video 51372 RTP/AVP 31\r\na=rtpmap:31 H261/90000\r\n";

    #[test]
    fn host_names_in_o_and_c() -> Result<()> {
        let sdp = p(BASIC)?;
        assert_eq!(sdp.origin.address, "host.anywhere.com");
        assert_eq!(sdp.origin.version, 2890844526);
        assert_eq!(sdp.session_name, "");
        assert_eq!(sdp.media.len(), 2);
        assert_eq!(sdp.media[1].formats, ["31"]);
        assert_eq!(sdp.to_string(), BASIC);
        Ok(())
    }

    #[test]
    fn lf_line_ends_and_no_final_newline() -> Result<()> {
        let lf = BASIC.replace("\r\n", "\n");
        let lf = lf.trim_end();
        assert_eq!(p(lf)?, p(BASIC)?);
        Ok(())
    }

    #[test]
    fn fmtp_is_typed() -> Result<()> {
        let sdp = p(
            "v=0\r\no=- 1 2 IN IP6 ::1\r\ns=-\r\nc=IN IP6 ::1\r\nt=0 0\r\n\
             m=audio 5004 RTP/AVP 101\r\na=rtpmap:101 telephone-event/8000\r\n\
             a=fmtp:101 0-15\r\nm=audio 5006 RTP/AVP 98\r\na=fmtp:98 mode=20; x\r\n",
        )?;
        assert_eq!(sdp.media[0].fmtp("101"), Some("0-15"));
        assert_eq!(sdp.media[0].fmtp_params("101"), [("0-15", None)]);
        assert_eq!(
            sdp.media[1].fmtp_params("98"),
            [("mode", Some("20")), ("x", None)]
        );
        let te = sdp.media[0].rtpmap("101");
        assert_eq!(te.map(|m| m.clock), Some(8000));
        Ok(())
    }

    #[test]
    fn multicast_connection() -> Result<()> {
        let sdp = p("v=0\no=- 1 1 IN IP4 a\ns=x\nc=IN IP4 224.2.17.12/127/3\nt=0 0\n")?;
        let c = sdp.connection.as_ref();
        assert_eq!(c.map(|c| c.address.as_str()), Some("224.2.17.12"));
        assert_eq!(c.and_then(|c| c.multicast.as_deref()), Some("127/3"));
        assert_eq!(p(&sdp.to_string())?, sdp);
        Ok(())
    }

    #[test]
    fn rejects() {
        let cases: &[(&str, &str)] = &[
            ("", "empty"),
            ("o=- 1 1 IN IP4 a\r\n", "no v="),
            ("v=1\r\no=- 1 1 IN IP4 a\r\ns=-\r\nt=0 0\r\n", "v=1"),
            ("v=0\r\ns=-\r\nt=0 0\r\n", "no o="),
            ("v=0\r\no=- 1 1 IN IP4 a\r\nt=0 0\r\n", "no s="),
            ("v=0\r\no=- 1 1 IN IP4 a\r\ns=-\r\n", "no t="),
            ("v=0\r\no=- x 1 IN IP4 a\r\ns=-\r\nt=0 0\r\n", "bad id"),
            ("v=0\r\no=- 1 1 IN IP4\r\ns=-\r\nt=0 0\r\n", "short o="),
            (
                "v=0\r\no=- 1 1 IN IP4 a\r\ns=-\r\nt=0 0\r\nm=audio 1 RTP/AVP\r\n",
                "no fmt",
            ),
            (
                "v=0\r\no=- 1 1 IN IP4 a\r\ns=-\r\nt=0 0\r\nm=audio 70000 RTP/AVP 0\r\n",
                "port",
            ),
            (
                "v=0\r\no=- 1 1 IN IP4 a\r\ns=-\r\nt=0 0\r\nx=1\r\n",
                "unknown type",
            ),
            (
                "v=0\r\no=- 1 1 IN IP4 a\r\ns=-\r\nt=0 0\r\nm=audio 1 RTP/AVP 0\r\nt=0 0\r\n",
                "t= in media",
            ),
            (
                "v=0\r\no=- 1 1 IN IP4 a\r\ns=-\r\ns=-\r\nt=0 0\r\n",
                "two s=",
            ),
            ("v=0\r\no=- 1 1 IN IP4 a\r\ns=\0\r\nt=0 0\r\n", "NUL"),
            (
                "v=0\r\no=- 1 1 IN IP4 a\r\ns=-\r\nt=0 0\r\na=:x\r\n",
                "empty attribute",
            ),
            (
                "v=0\r\no=- 1 1 IN IP4 a\r\ns=-\r\nr=1\r\nt=0 0\r\n",
                "r= before t=",
            ),
        ];
        for (text, why) in cases {
            let r = p(text);
            assert!(r.is_err(), "{why}: accepted {text:?}");
            if let Err(e) = r {
                assert_eq!(e.status(), 488, "{why}");
            }
        }
    }

    #[test]
    fn limits() {
        let config = Config {
            max_media: 1,
            max_formats: 2,
            max_attributes: 1,
            max_size: 200,
            ..Config::DEFAULT
        };
        let head = "v=0\r\no=- 1 1 IN IP4 a\r\ns=-\r\nt=0 0\r\n";
        let two_m = format!("{head}m=audio 1 RTP/AVP 0\r\nm=audio 2 RTP/AVP 0\r\n");
        assert_eq!(
            parse(&two_m, &config),
            Err(Error::TooMany {
                what: "m-lines",
                limit: 1
            })
        );
        let fmts = format!("{head}m=audio 1 RTP/AVP 0 8 9\r\n");
        assert!(matches!(
            parse(&fmts, &config),
            Err(Error::TooMany {
                what: "formats",
                ..
            })
        ));
        let attrs = format!("{head}a=x\r\na=y\r\n");
        assert!(matches!(parse(&attrs, &config), Err(Error::TooMany { .. })));
        let big = format!("{head}{}", "a=x\r\n".repeat(100));
        assert!(matches!(parse(&big, &config), Err(Error::TooLarge { .. })));
    }
}
