//! Property tests: no input panics the parser or the state machine, and
//! whatever parses survives a write and a second parse unchanged.

use proptest::prelude::*;
use sofia_soa::{Capabilities, Codec, Config, MediaCap, Session, SessionDescription};

fn session() -> Session {
    Session::new(
        Capabilities::new("192.0.2.1")
            .with_media(MediaCap::audio(
                5000,
                vec![
                    Codec::pcmu(),
                    Codec::new(97, "iLBC", 8000),
                    Codec::telephone_event(101),
                ],
            ))
            .with_media(MediaCap::video(5002, vec![Codec::new(31, "H261", 90000)])),
        1,
    )
}

/// Lines that look like SDP: a known or unknown type letter and a value
/// built from SDP-ish tokens.
fn sdp_line() -> impl Strategy<Value = String> {
    let kind = prop::sample::select(vec![
        "v", "o", "s", "i", "u", "e", "p", "c", "b", "t", "r", "z", "k", "a", "m", "x",
    ]);
    let token = prop::sample::select(vec![
        "0",
        "1",
        "97",
        "101",
        "65535",
        "65536",
        "IN",
        "IP4",
        "IP6",
        "host.example.com",
        "192.0.2.1",
        "::1",
        "224.2.1.1/127/3",
        "audio",
        "video",
        "RTP/AVP",
        "rtpmap:97",
        "iLBC/8000",
        "fmtp:101",
        "0-15",
        "sendonly",
        "recvonly",
        "inactive",
        "AS:64",
        "-",
        "",
        "/",
        ":",
        "telephone-event/8000/1",
        "\u{e9}",
        "\t",
    ]);
    (kind, prop::collection::vec(token, 0..7)).prop_map(|(k, v)| format!("{k}={}", v.join(" ")))
}

fn sdp_text() -> impl Strategy<Value = String> {
    let head = prop::sample::select(vec![
        "v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nc=IN IP4 h\r\nt=0 0\r\n",
        "v=0\no=- 1 1 IN IP4 h\ns= \nt=0 0\n",
        "",
    ]);
    let eol = prop::sample::select(vec!["\r\n", "\n", "\r", ""]);
    (head, prop::collection::vec((sdp_line(), eol), 0..24)).prop_map(|(h, lines)| {
        let mut s = h.to_string();
        for (l, e) in lines {
            s.push_str(&l);
            s.push_str(e);
        }
        s
    })
}

fn check_round_trip(sdp: &SessionDescription) {
    let text = sdp.to_string();
    let config = Config {
        max_size: usize::MAX,
        ..Config::DEFAULT
    };
    match SessionDescription::parse_with(&text, &config) {
        Ok(again) => assert_eq!(&again, sdp, "re-parse differs for\n{text}"),
        Err(e) => panic!("written description does not parse: {e}\n{text}"),
    }
}

fn drive(text: &str) {
    if let Ok(sdp) = SessionDescription::parse(text) {
        check_round_trip(&sdp);
        for (i, m) in sdp.media.iter().enumerate() {
            let _ = (sdp.media_direction(i), sdp.media_connection(i));
            for f in &m.formats {
                let _ = (m.rtpmap(f), m.fmtp_params(f), Codec::from_media(m, f));
            }
        }
    }
    // As an offer, then as an answer to our offer.
    let mut s = session();
    if let Ok(answer) = s.process_offer(text) {
        check_round_trip(&answer);
        let _ = s.negotiated();
    }
    let mut s = session();
    if s.generate_offer().is_ok() {
        let _ = s.process_answer(text);
        let _ = s.negotiated();
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,300}") {
        drive(&text);
    }

    #[test]
    fn sdp_like_text_never_panics(text in sdp_text()) {
        drive(&text);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let _ = SessionDescription::parse_bytes(&bytes, &Config::DEFAULT);
    }
}

/// The generator above reaches descriptions that parse, so the round-trip
/// check is exercised and not vacuous.
#[test]
fn generator_reaches_valid_descriptions() {
    let text = "v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nc=IN IP4 h\r\nt=0 0\r\n\
                m=audio 97 RTP/AVP 97 101\r\na=rtpmap:97 iLBC/8000\r\na=sendonly\r\n";
    let parsed = SessionDescription::parse(text);
    assert!(parsed.is_ok());
    if let Ok(sdp) = parsed {
        check_round_trip(&sdp);
    }
    drive(text);
}
