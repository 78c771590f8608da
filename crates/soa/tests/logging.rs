//! State changes are logged at level 5 of the `soa` module (`SOA_DEBUG`).

use sofia_soa::{Capabilities, Codec, MediaCap, Session};
use sofia_su::log::{REGISTRY, captured};

fn exchange() {
    let caps =
        |host: &str| Capabilities::new(host).with_media(MediaCap::audio(5000, vec![Codec::pcmu()]));
    let mut a = Session::new(caps("192.0.2.1"), 1);
    let mut b = Session::new(caps("192.0.2.2"), 2);
    let offer = a
        .generate_offer()
        .map(|o| o.to_string())
        .unwrap_or_default();
    let answer = b
        .process_offer(&offer)
        .map(|o| o.to_string())
        .unwrap_or_default();
    assert!(a.process_answer(&answer).is_ok());
}

// One test function: the global registry is shared by every test in a binary.
#[test]
fn state_changes_at_level_5() {
    assert!(REGISTRY.set_level("soa", 5).is_ok());
    let out = captured(exchange);
    assert!(out.contains("sofia::soa"), "{out}");
    assert!(out.contains("soa: state no session -> offer sent"), "{out}");
    assert!(
        out.contains("soa: state offer received -> established"),
        "{out}"
    );
    assert!(
        out.contains("soa: state offer sent -> established"),
        "{out}"
    );
    assert!(out.contains("sofia_level=5"), "{out}");

    assert!(REGISTRY.set_level("soa", 3).is_ok());
    let out = captured(exchange);
    assert!(!out.contains("soa: state"), "{out}");
}
