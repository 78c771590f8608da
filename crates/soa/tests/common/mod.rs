//! Helpers shared by the integration tests.
#![allow(dead_code)]

use sofia_soa::{Codec, SessionDescription};

/// An example as printed in RFC 3264: one line per text line, CRLF added.
pub fn rfc3264(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| format!("{l}\r\n"))
        .collect()
}

/// An example as printed in RFC 4317, whose `s=` line holds a single space
/// (RFC 4317 §1).
pub fn rfc4317(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| {
            if l == "s=" {
                "s= ".to_string()
            } else {
                l.to_string()
            }
        })
        .map(|l| format!("{l}\r\n"))
        .collect()
}

pub fn parse(text: &str) -> SessionDescription {
    match SessionDescription::parse(text) {
        Ok(s) => s,
        Err(e) => panic!("example does not parse: {e}\n{text}"),
    }
}

/// Asserts that a description made here says what the RFC's example says:
/// the same origin user and version, the same m-lines in order, the same
/// media and transport, port 0 in the same places, and for every enabled
/// stream the same port, formats, encodings, direction and connection
/// address. Lines of disabled streams after the port are not compared (the
/// RFCs differ among themselves there).
pub fn assert_equivalent(ours: &SessionDescription, expected: &str) {
    let exp = parse(expected);
    let ctx = format!("ours:\n{ours}\nexpected:\n{expected}");
    assert_eq!(ours.origin.username, exp.origin.username, "o= user\n{ctx}");
    assert_eq!(ours.origin.version, exp.origin.version, "o= version\n{ctx}");
    assert_eq!(ours.origin.address, exp.origin.address, "o= address\n{ctx}");
    assert_eq!(ours.media.len(), exp.media.len(), "m-line count\n{ctx}");
    for (i, (a, b)) in ours.media.iter().zip(&exp.media).enumerate() {
        assert_eq!(a.media, b.media, "m-line {i} media\n{ctx}");
        assert_eq!(a.proto, b.proto, "m-line {i} proto\n{ctx}");
        assert_eq!(a.port == 0, b.port == 0, "m-line {i} enabled\n{ctx}");
        if b.port == 0 {
            continue;
        }
        assert_eq!(a.port, b.port, "m-line {i} port\n{ctx}");
        assert_eq!(a.formats, b.formats, "m-line {i} formats\n{ctx}");
        for f in &a.formats {
            let ca = Codec::from_media(a, f);
            let cb = Codec::from_media(b, f);
            assert!(
                matches!((&ca, &cb), (Some(x), Some(y)) if x.same_encoding(y)),
                "m-line {i} format {f}: {ca:?} vs {cb:?}\n{ctx}"
            );
        }
        assert_eq!(
            ours.media_direction(i),
            exp.media_direction(i),
            "m-line {i} direction\n{ctx}"
        );
        assert_eq!(
            ours.media_connection(i).map(|c| &c.address),
            exp.media_connection(i).map(|c| &c.address),
            "m-line {i} address\n{ctx}"
        );
    }
}

/// Asserts the exact text.
pub fn assert_text(ours: &SessionDescription, expected: &str) {
    assert_eq!(
        ours.to_string(),
        expected,
        "\nours:\n{ours}\nexpected:\n{expected}"
    );
}
