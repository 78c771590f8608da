//! Parses arbitrary bytes as an SDP body; a description that parses must
//! survive a write and a second parse unchanged. The same input is then
//! handed to an offer/answer session as a remote offer and as an answer.
#![no_main]

use libfuzzer_sys::fuzz_target;
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

fn assert_round_trip(sdp: &SessionDescription) {
    let text = sdp.to_string();
    let config = Config {
        max_size: usize::MAX,
        ..Config::DEFAULT
    };
    match SessionDescription::parse_with(&text, &config) {
        Ok(again) => assert!(again == *sdp, "re-parse differs\nwritten: {text:?}"),
        Err(e) => panic!("re-parse of written description failed: {e}\nwritten: {text:?}"),
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(sdp) = SessionDescription::parse_bytes(data, &Config::DEFAULT) {
        assert_round_trip(&sdp);
        for (i, m) in sdp.media.iter().enumerate() {
            let _ = (sdp.media_direction(i), sdp.media_connection(i));
            for f in &m.formats {
                let _ = (m.rtpmap(f), m.fmtp_params(f), Codec::from_media(m, f));
            }
        }
    }
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut s = session();
    if let Ok(answer) = s.process_offer(text) {
        assert_round_trip(&answer);
    }
    let mut s = session();
    if s.generate_offer().is_ok() {
        let _ = s.process_answer(text);
    }
});
