//! The offer/answer examples of RFC 4317, each played with this crate on the
//! side that makes a description: exact text where this crate writes what
//! the RFC prints, [`assert_equivalent`] where the RFC's text differs only in
//! lines this crate writes otherwise (a media `c=` equal to the session's,
//! `a=sendrecv`, the lines of a rejected stream). The RFC's own text is fed
//! to the other side.

mod common;

use common::{assert_equivalent, assert_text, parse, rfc4317};
use sofia_soa::{Capabilities, Codec, Direction, MediaCap, Session};

type R = sofia_soa::Result<()>;

const ALICE_ID: u64 = 2890844526;
const BOB_ID: u64 = 2808844564;

fn alice(media: Vec<MediaCap>) -> Session {
    let mut caps = Capabilities::new("host.atlanta.example.com")
        .with_username("alice")
        .with_session_name(" ");
    caps.media = media;
    Session::new(caps, ALICE_ID)
}

fn bob(media: Vec<MediaCap>) -> Session {
    let mut caps = Capabilities::new("host.biloxi.example.com")
        .with_username("bob")
        .with_session_name(" ");
    caps.media = media;
    Session::new(caps, BOB_ID)
}

fn pcmu() -> Codec {
    Codec::pcmu()
}
fn pcma() -> Codec {
    Codec::pcma()
}
fn ilbc(pt: u8) -> Codec {
    Codec::new(pt, "iLBC", 8000)
}
fn h261() -> Codec {
    Codec::new(31, "H261", 90000)
}
fn mpv() -> Codec {
    Codec::new(32, "MPV", 90000)
}
fn te(pt: u8) -> Codec {
    Codec::new(pt, "telephone-event", 8000)
}

/// Alice's offer of §2.1, §2.2, §2.3 and §2.8.
const AV_OFFER: &str = "
v=0
o=alice 2890844526 2890844526 IN IP4 host.atlanta.example.com
s=
c=IN IP4 host.atlanta.example.com
t=0 0
m=audio 49170 RTP/AVP 0 8 97
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:97 iLBC/8000
m=video 51372 RTP/AVP 31 32
a=rtpmap:31 H261/90000
a=rtpmap:32 MPV/90000
";

fn av_alice() -> Session {
    alice(vec![
        MediaCap::audio(49170, vec![pcmu(), pcma(), ilbc(97)]),
        MediaCap::video(51372, vec![h261(), mpv()]),
    ])
}

/// §2.1 Audio and Video 1: one codec per stream accepted.
#[test]
fn s2_1_audio_and_video_1() -> R {
    const ANSWER: &str = "
v=0
o=bob 2808844564 2808844564 IN IP4 host.biloxi.example.com
s=
c=IN IP4 host.biloxi.example.com
t=0 0
m=audio 49174 RTP/AVP 0
a=rtpmap:0 PCMU/8000
m=video 49170 RTP/AVP 32
a=rtpmap:32 MPV/90000
";
    let mut alice = av_alice();
    let mut bob = bob(vec![
        MediaCap::audio(49174, vec![pcmu()]),
        MediaCap::video(49170, vec![mpv()]),
    ]);
    assert_text(&alice.generate_offer()?, &rfc4317(AV_OFFER));
    assert_text(&bob.process_offer(&rfc4317(AV_OFFER))?, &rfc4317(ANSWER));
    alice.process_answer(&rfc4317(ANSWER))?;
    let m = alice.negotiated();
    assert_eq!(m.len(), 2);
    assert_eq!(m[0].codecs.len(), 1);
    assert_eq!(m[0].codecs[0].codec.name, "PCMU");
    assert_eq!(m[1].codecs[0].codec.name, "MPV");
    assert_eq!((m[1].remote_port, m[1].local_port), (49170, 51372));
    Ok(())
}

/// §2.2 Audio and Video 2: video refused, two audio codecs accepted, then
/// narrowed to PCMU by a second offer on a new port.
#[test]
fn s2_2_audio_and_video_2() -> R {
    const ANSWER: &str = "
v=0
o=bob 2808844564 2808844564 IN IP4 host.biloxi.example.com
s=
c=IN IP4 host.biloxi.example.com
t=0 0
m=audio 49172 RTP/AVP 0 8
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
m=video 0 RTP/AVP 31
a=rtpmap:31 H261/90000
";
    const OFFER2: &str = "
v=0
o=alice 2890844526 2890844527 IN IP4 host.atlanta.example.com
s=
c=IN IP4 host.atlanta.example.com
t=0 0
m=audio 51372 RTP/AVP 0
a=rtpmap:0 PCMU/8000
m=video 0 RTP/AVP 31
a=rtpmap:31 H261/90000
";
    const ANSWER2: &str = "
v=0
o=bob 2808844564 2808844565 IN IP4 host.biloxi.example.com
s=
c=IN IP4 host.biloxi.example.com
t=0 0
m=audio 49172 RTP/AVP 0
a=rtpmap:0 PCMU/8000
m=video 0 RTP/AVP 31
a=rtpmap:31 H261/90000
";
    let mut alice = av_alice();
    let mut bob = bob(vec![MediaCap::audio(49172, vec![pcmu(), pcma()])]);
    alice.generate_offer()?;
    assert_equivalent(&bob.process_offer(&rfc4317(AV_OFFER))?, &rfc4317(ANSWER));
    alice.process_answer(&rfc4317(ANSWER))?;
    assert_eq!(alice.negotiated().len(), 1);
    assert_eq!(alice.negotiated()[0].codecs.len(), 2);

    if let Some(cap) = alice.media_cap_mut(0) {
        cap.port = 51372;
        cap.codecs = vec![pcmu()];
    }
    let offer2 = alice.generate_offer()?;
    assert_equivalent(&offer2, &rfc4317(OFFER2));
    assert_eq!(offer2.media[1].port, 0);
    assert_text(&bob.process_offer(&rfc4317(OFFER2))?, &rfc4317(ANSWER2));
    alice.process_answer(&rfc4317(ANSWER2))?;
    assert_eq!(alice.negotiated()[0].codecs.len(), 1);
    Ok(())
}

/// §2.3 Audio and Video 3: the answer names iLBC with payload type 99 for
/// the offer's 97; this crate answers with the offer's number, and as the
/// offerer it sends 99 and receives 97.
#[test]
fn s2_3_audio_and_video_3() -> R {
    const ANSWER: &str = "
v=0
o=bob 2808844564 2808844564 IN IP4 host.biloxi.example.com
s=
c=IN IP4 host.biloxi.example.com
t=0 0
m=audio 49172 RTP/AVP 99
a=rtpmap:99 iLBC/8000
m=video 51374 RTP/AVP 31
a=rtpmap:31 H261/90000
";
    let mut alice = av_alice();
    let mut bob = bob(vec![
        MediaCap::audio(49172, vec![ilbc(99)]),
        MediaCap::video(51374, vec![h261()]),
    ]);
    alice.generate_offer()?;
    let ours = bob.process_offer(&rfc4317(AV_OFFER))?;
    assert_eq!(ours.media[0].formats, ["97"]);
    assert_eq!(
        ours.media[0].rtpmap("97").map(|m| m.encoding),
        Some("iLBC".into())
    );
    assert_eq!(ours.media[1].formats, ["31"]);
    let bob_view = &bob.negotiated()[0];
    assert_eq!(
        (bob_view.codecs[0].send_pt, bob_view.codecs[0].recv_pt),
        (97, 97)
    );

    alice.process_answer(&rfc4317(ANSWER))?;
    let a = &alice.negotiated()[0];
    assert_eq!(a.codecs[0].codec.name, "iLBC");
    assert_eq!((a.codecs[0].send_pt, a.codecs[0].recv_pt), (99, 97));
    assert_eq!(alice.negotiated()[1].codecs[0].codec.name, "H261");
    Ok(())
}

/// Alice's offer of §2.4 and §3.2.
const TWO_AUDIO_OFFER: &str = "
v=0
o=alice 2890844526 2890844526 IN IP4 host.atlanta.example.com
s=
c=IN IP4 host.atlanta.example.com
t=0 0
m=audio 49170 RTP/AVP 0 97
a=rtpmap:0 PCMU/8000
a=rtpmap:97 iLBC/8000
m=audio 49172 RTP/AVP 98
a=rtpmap:98 telephone-event/8000
a=sendonly
";

const TWO_AUDIO_ANSWER: &str = "
v=0
o=bob 2808844564 2808844564 IN IP4 host.biloxi.example.com
s=
c=IN IP4 host.biloxi.example.com
t=0 0
m=audio 49172 RTP/AVP 97
a=rtpmap:97 iLBC/8000
m=audio 49174 RTP/AVP 98
a=rtpmap:98 telephone-event/8000
a=recvonly
";

fn two_audio() -> (Session, Session) {
    let alice = alice(vec![
        MediaCap::audio(49170, vec![pcmu(), ilbc(97)]),
        MediaCap::audio(49172, vec![te(98)]).with_direction(Direction::SendOnly),
    ]);
    let bob = bob(vec![
        MediaCap::audio(49172, vec![ilbc(97)]),
        MediaCap::audio(49174, vec![te(98)]).with_direction(Direction::RecvOnly),
    ]);
    (alice, bob)
}

/// §2.4 Two Audio Streams: a send-only stream of telephone events is
/// answered receive-only.
#[test]
fn s2_4_two_audio_streams() -> R {
    let (mut alice, mut bob) = two_audio();
    assert_text(&alice.generate_offer()?, &rfc4317(TWO_AUDIO_OFFER));
    assert_text(
        &bob.process_offer(&rfc4317(TWO_AUDIO_OFFER))?,
        &rfc4317(TWO_AUDIO_ANSWER),
    );
    alice.process_answer(&rfc4317(TWO_AUDIO_ANSWER))?;
    let m = alice.negotiated();
    assert_eq!(m[1].direction, Direction::SendOnly);
    assert!(m[1].codecs.is_empty());
    assert_eq!(m[1].telephone_event.as_ref().map(|t| t.send_pt), Some(98));
    assert_eq!(bob.negotiated()[1].direction, Direction::RecvOnly);
    Ok(())
}

/// §2.5 Audio and Video 4: Bob moves his media; Alice answers with her
/// unchanged description and keeps its version.
#[test]
fn s2_5_audio_and_video_4() -> R {
    const OFFER: &str = "
v=0
o=alice 2890844526 2890844526 IN IP4 host.atlanta.example.com
s=
c=IN IP4 host.atlanta.example.com
t=0 0
m=audio 49170 RTP/AVP 97
a=rtpmap:97 iLBC/8000
m=video 51372 RTP/AVP 31
a=rtpmap:31 H261/90000
";
    const ANSWER: &str = "
v=0
o=bob 2808844564 2808844564 IN IP4 host.biloxi.example.com
s=
c=IN IP4 host.biloxi.example.com
t=0 0
m=audio 49174 RTP/AVP 97
a=rtpmap:97 iLBC/8000
m=video 49170 RTP/AVP 31
a=rtpmap:31 H261/90000
";
    const OFFER2: &str = "
v=0
o=bob 2808844564 2808844565 IN IP4 host.biloxi.example.com
s=
c=IN IP4 newhost.biloxi.example.com
t=0 0
m=audio 49178 RTP/AVP 97
a=rtpmap:97 iLBC/8000
m=video 49188 RTP/AVP 31
a=rtpmap:31 H261/90000
";
    let mut alice = alice(vec![
        MediaCap::audio(49170, vec![ilbc(97)]),
        MediaCap::video(51372, vec![h261()]),
    ]);
    let mut bob = bob(vec![
        MediaCap::audio(49174, vec![ilbc(97)]),
        MediaCap::video(49170, vec![h261()]),
    ]);
    assert_text(&alice.generate_offer()?, &rfc4317(OFFER));
    assert_text(&bob.process_offer(&rfc4317(OFFER))?, &rfc4317(ANSWER));
    alice.process_answer(&rfc4317(ANSWER))?;

    for (i, port) in [(0, 49178), (1, 49188)] {
        if let Some(cap) = bob.media_cap_mut(i) {
            cap.port = port;
            cap.address = Some("newhost.biloxi.example.com".into());
        }
    }
    assert_equivalent(&bob.generate_offer()?, &rfc4317(OFFER2));
    // The second answer is the first offer again, version and all.
    assert_text(&alice.process_offer(&rfc4317(OFFER2))?, &rfc4317(OFFER));
    assert_eq!(
        alice.negotiated()[1].remote_address,
        "newhost.biloxi.example.com"
    );
    bob.process_answer(&rfc4317(OFFER))?;
    assert_eq!(bob.negotiated().len(), 2);
    Ok(())
}

/// §2.6 Audio Only 1: of two audio streams Bob declines the PCMU one and
/// takes the iLBC one with telephone events.
#[test]
fn s2_6_audio_only_1() -> R {
    const OFFER: &str = "
v=0
o=alice 2890844526 2890844526 IN IP4 host.atlanta.example.com
s=
c=IN IP4 host.atlanta.example.com
t=0 0
m=audio 49170 RTP/AVP 0
a=rtpmap:0 PCMU/8000
m=audio 51372 RTP/AVP 97 101
a=rtpmap:97 iLBC/8000
a=rtpmap:101 telephone-event/8000
";
    const ANSWER: &str = "
v=0
o=bob 2808844564 2808844564 IN IP4 host.biloxi.example.com
s=
c=IN IP4 host.biloxi.example.com
t=0 0
m=audio 0 RTP/AVP 0
a=rtpmap:0 PCMU/8000
m=audio 49170 RTP/AVP 97 101
a=rtpmap:97 iLBC/8000
a=rtpmap:101 telephone-event/8000
";
    let mut alice = alice(vec![
        MediaCap::audio(49170, vec![pcmu()]),
        MediaCap::audio(51372, vec![ilbc(97), te(101)]),
    ]);
    let mut bob = bob(vec![MediaCap::audio(49170, vec![ilbc(97), te(101)])]);
    assert_text(&alice.generate_offer()?, &rfc4317(OFFER));
    assert_text(&bob.process_offer(&rfc4317(OFFER))?, &rfc4317(ANSWER));
    alice.process_answer(&rfc4317(ANSWER))?;
    let m = alice.negotiated();
    assert_eq!(m.len(), 1);
    assert_eq!(m[0].index, 1);
    assert_eq!(m[0].telephone_event.as_ref().map(|t| t.send_pt), Some(101));
    Ok(())
}

/// §2.7 Audio and Video 5: a second video codec added by a second offer.
#[test]
fn s2_7_audio_and_video_5() -> R {
    const OFFER: &str = "
v=0
o=alice 2890844526 2890844526 IN IP4 host.atlanta.example.com
s=
c=IN IP4 host.atlanta.example.com
t=0 0
m=audio 49170 RTP/AVP 99
a=rtpmap:99 iLBC/8000
m=video 51372 RTP/AVP 31
a=rtpmap:31 H261/90000
";
    const ANSWER: &str = "
v=0
o=bob 2808844564 2808844564 IN IP4 host.biloxi.example.com
s=
c=IN IP4 host.biloxi.example.com
t=0 0
m=audio 49172 RTP/AVP 99
a=rtpmap:99 iLBC/8000
m=video 51374 RTP/AVP 31
a=rtpmap:31 H261/90000
";
    const OFFER2: &str = "
v=0
o=alice 2890844526 2890844527 IN IP4 host.atlanta.example.com
s=
c=IN IP4 host.atlanta.example.com
t=0 0
m=audio 49170 RTP/AVP 99
a=rtpmap:99 iLBC/8000
m=video 51372 RTP/AVP 31 32
a=rtpmap:31 H261/90000
a=rtpmap:32 MPV/90000
";
    const ANSWER2: &str = "
v=0
o=bob 2808844564 2808844565 IN IP4 host.biloxi.example.com
s=
c=IN IP4 host.biloxi.example.com
t=0 0
m=audio 49172 RTP/AVP 99
a=rtpmap:99 iLBC/8000
m=video 51374 RTP/AVP 31 32
a=rtpmap:31 H261/90000
a=rtpmap:32 MPV/90000
";
    let mut alice = alice(vec![
        MediaCap::audio(49170, vec![ilbc(99)]),
        MediaCap::video(51372, vec![h261()]),
    ]);
    let mut bob = bob(vec![
        MediaCap::audio(49172, vec![ilbc(99)]),
        MediaCap::video(51374, vec![h261(), mpv()]),
    ]);
    assert_text(&alice.generate_offer()?, &rfc4317(OFFER));
    assert_text(&bob.process_offer(&rfc4317(OFFER))?, &rfc4317(ANSWER));
    alice.process_answer(&rfc4317(ANSWER))?;
    if let Some(cap) = alice.media_cap_mut(1) {
        cap.codecs.push(mpv());
    }
    assert_text(&alice.generate_offer()?, &rfc4317(OFFER2));
    assert_text(&bob.process_offer(&rfc4317(OFFER2))?, &rfc4317(ANSWER2));
    alice.process_answer(&rfc4317(ANSWER2))?;
    assert_eq!(alice.negotiated()[1].codecs.len(), 2);
    Ok(())
}

/// §2.8 Audio and Video 6: the answer puts video on another host with a
/// media-level `c=` line.
#[test]
fn s2_8_audio_and_video_6() -> R {
    const ANSWER: &str = "
v=0
o=bob 2808844564 2808844564 IN IP4 host.biloxi.example.com
s=
c=IN IP4 host.biloxi.example.com
t=0 0
m=audio 49174 RTP/AVP 0
a=rtpmap:0 PCMU/8000
m=video 49172 RTP/AVP 32
c=IN IP4 otherhost.biloxi.example.com
a=rtpmap:32 MPV/90000
";
    let mut alice = av_alice();
    let mut bob = bob(vec![
        MediaCap::audio(49174, vec![pcmu()]),
        MediaCap::video(49172, vec![mpv()]).with_address("otherhost.biloxi.example.com"),
    ]);
    alice.generate_offer()?;
    assert_text(&bob.process_offer(&rfc4317(AV_OFFER))?, &rfc4317(ANSWER));
    alice.process_answer(&rfc4317(ANSWER))?;
    let m = alice.negotiated();
    assert_eq!(m[0].remote_address, "host.biloxi.example.com");
    assert_eq!(m[1].remote_address, "otherhost.biloxi.example.com");
    Ok(())
}

/// §3.1 Hold and Unhold 1: Bob answers on hold (send-only, placeholder
/// address), then takes Alice off hold; Alice moves her port.
#[test]
fn s3_1_hold_and_unhold_1() -> R {
    const OFFER: &str = "
v=0
o=alice 2890844526 2890844526 IN IP4 host.atlanta.example.com
s=
c=IN IP4 host.atlanta.example.com
t=0 0
m=audio 49170 RTP/AVP 0 97
a=rtpmap:0 PCMU/8000
a=rtpmap:97 iLBC/8000
";
    const ANSWER: &str = "
v=0
o=bob 2808844564 2808844564 IN IP4 host.biloxi.example.com
s=
c=IN IP4 placeholder.biloxi.example.com
t=0 0
m=audio 49172 RTP/AVP 97
a=rtpmap:97 iLBC/8000
a=sendonly
";
    const OFFER2: &str = "
v=0
o=bob 2808844564 2808844565 IN IP4 host.biloxi.example.com
s=
c=IN IP4 host.biloxi.example.com
t=0 0
m=audio 49170 RTP/AVP 97
a=rtpmap:97 iLBC/8000
";
    const ANSWER2: &str = "
v=0
o=alice 2890844526 2890844527 IN IP4 host.atlanta.example.com
s=
c=IN IP4 host.atlanta.example.com
t=0 0
m=audio 49178 RTP/AVP 97
a=rtpmap:97 iLBC/8000
";
    let mut alice = alice(vec![MediaCap::audio(49170, vec![pcmu(), ilbc(97)])]);
    let mut bob = bob(vec![
        MediaCap::audio(49172, vec![ilbc(97)]).with_address("placeholder.biloxi.example.com"),
    ]);
    assert_text(&alice.generate_offer()?, &rfc4317(OFFER));
    bob.hold();
    assert_equivalent(&bob.process_offer(&rfc4317(OFFER))?, &rfc4317(ANSWER));
    alice.process_answer(&rfc4317(ANSWER))?;
    assert_eq!(alice.negotiated()[0].direction, Direction::RecvOnly);

    bob.resume();
    if let Some(cap) = bob.media_cap_mut(0) {
        cap.port = 49170;
        cap.address = None;
    }
    assert_text(&bob.generate_offer()?, &rfc4317(OFFER2));
    if let Some(cap) = alice.media_cap_mut(0) {
        cap.port = 49178;
    }
    assert_text(&alice.process_offer(&rfc4317(OFFER2))?, &rfc4317(ANSWER2));
    assert_eq!(alice.negotiated()[0].direction, Direction::SendRecv);
    bob.process_answer(&rfc4317(ANSWER2))?;
    assert_eq!(bob.negotiated()[0].direction, Direction::SendRecv);
    assert_eq!(bob.negotiated()[0].remote_port, 49178);
    Ok(())
}

/// §3.2 Hold with Two Streams: Bob holds the audio stream but not the
/// events stream.
///
/// The RFC prints Alice's second answer as her first offer again, which
/// leaves the held stream `sendrecv`; RFC 3264 §6.1 requires `recvonly` for
/// a `sendonly` offer, so this crate answers `recvonly` with the codec of
/// the re-offer, and accepts the RFC's text as an answer all the same.
#[test]
fn s3_2_hold_with_two_streams() -> R {
    const OFFER2: &str = "
v=0
o=bob 2808844564 2808844565 IN IP4 host.biloxi.example.com
s=
c=IN IP4 host.biloxi.example.com
t=0 0
m=audio 49172 RTP/AVP 97
a=rtpmap:97 iLBC/8000
a=sendonly
m=audio 49174 RTP/AVP 98
a=rtpmap:98 telephone-event/8000
a=recvonly
";
    const ANSWER2: &str = "
v=0
o=alice 2890844526 2890844527 IN IP4 host.atlanta.example.com
s=
c=IN IP4 host.atlanta.example.com
t=0 0
m=audio 49170 RTP/AVP 0 97
a=rtpmap:0 PCMU/8000
a=rtpmap:97 iLBC/8000
m=audio 49172 RTP/AVP 98
a=rtpmap:98 telephone-event/8000
a=sendonly
";
    let (mut alice, mut bob) = two_audio();
    alice.generate_offer()?;
    bob.process_offer(&rfc4317(TWO_AUDIO_OFFER))?;
    alice.process_answer(&rfc4317(TWO_AUDIO_ANSWER))?;

    bob.hold_media(0);
    assert_text(&bob.generate_offer()?, &rfc4317(OFFER2));

    let answer = alice.process_offer(&rfc4317(OFFER2))?;
    assert_eq!(answer.origin.version, ALICE_ID + 1);
    assert_eq!(answer.media[0].formats, ["97"]);
    assert_eq!(answer.media_direction(0), Direction::RecvOnly);
    assert_eq!(answer.media_direction(1), Direction::SendOnly);
    assert_eq!(alice.negotiated()[0].direction, Direction::RecvOnly);

    bob.process_answer(&rfc4317(ANSWER2))?;
    assert_eq!(bob.negotiated()[0].direction, Direction::SendOnly);
    assert_eq!(bob.negotiated()[1].direction, Direction::RecvOnly);
    Ok(())
}

/// §4.1 Second Audio Stream Added: Bob's media server adds a receive-only
/// events stream on its own address.
#[test]
fn s4_1_second_audio_stream_added() -> R {
    const OFFER: &str = "
v=0
o=alice 2890844526 2890844526 IN IP4 host.atlanta.example.com
s=
c=IN IP4 host.atlanta.example.com
t=0 0
m=audio 49170 RTP/AVP 0 97
a=rtpmap:0 PCMU/8000
a=rtpmap:97 iLBC/8000
";
    const ANSWER: &str = "
v=0
o=bob 2808844564 2808844564 IN IP4 host.biloxi.example.com
s=
c=IN IP4 host.biloxi.example.com
t=0 0
m=audio 49170 RTP/AVP 97
a=rtpmap:97 iLBC/8000
";
    const OFFER2: &str = "
v=0
o=bob 2808844564 2808844565 IN IP4 host.biloxi.example.com
s=
c=IN IP4 host.biloxi.example.com
t=0 0
m=audio 49170 RTP/AVP 97
a=rtpmap:97 iLBC/8000
m=audio 48282 RTP/AVP 98
c=IN IP4 mediaserver.biloxi.example.com
a=rtpmap:98 telephone-event/8000
a=recvonly
";
    const ANSWER2: &str = "
v=0
o=alice 2890844526 2890844527 IN IP4 host.atlanta.example.com
s=
c=IN IP4 host.atlanta.example.com
t=0 0
m=audio 49170 RTP/AVP 97
a=rtpmap:97 iLBC/8000
m=audio 49172 RTP/AVP 98
c=IN IP4 host.atlanta.example.com
a=rtpmap:98 telephone-event/8000
a=sendonly
";
    let mut alice = alice(vec![MediaCap::audio(49170, vec![pcmu(), ilbc(97)])]);
    let mut bob = bob(vec![MediaCap::audio(49170, vec![ilbc(97)])]);
    assert_text(&alice.generate_offer()?, &rfc4317(OFFER));
    assert_text(&bob.process_offer(&rfc4317(OFFER))?, &rfc4317(ANSWER));
    alice.process_answer(&rfc4317(ANSWER))?;

    let index = bob.add_media(
        MediaCap::audio(48282, vec![te(98)])
            .with_direction(Direction::RecvOnly)
            .with_address("mediaserver.biloxi.example.com"),
    )?;
    assert_eq!(index, 1);
    assert_text(&bob.generate_offer()?, &rfc4317(OFFER2));
    alice.add_media(MediaCap::audio(49172, vec![te(98)]))?;
    assert_equivalent(&alice.process_offer(&rfc4317(OFFER2))?, &rfc4317(ANSWER2));
    let events = &alice.negotiated()[1];
    assert_eq!(events.remote_address, "mediaserver.biloxi.example.com");
    assert_eq!(events.direction, Direction::SendOnly);
    bob.process_answer(&rfc4317(ANSWER2))?;
    assert_eq!(bob.negotiated().len(), 2);
    Ok(())
}

/// §4.2 Audio, then Video Added.
#[test]
fn s4_2_audio_then_video_added() -> R {
    const OFFER: &str = "
v=0
o=alice 2890844526 2890844526 IN IP4 host.atlanta.example.com
s=
c=IN IP4 host.atlanta.example.com
t=0 0
m=audio 49170 RTP/AVP 0
a=rtpmap:0 PCMU/8000
";
    const ANSWER: &str = "
v=0
o=bob 2808844564 2808844564 IN IP4 host.biloxi.example.com
s=
c=IN IP4 host.biloxi.example.com
t=0 0
m=audio 49172 RTP/AVP 0
a=rtpmap:0 PCMU/8000
";
    const OFFER2: &str = "
v=0
o=alice 2890844526 2890844527 IN IP4 host.atlanta.example.com
s=
c=IN IP4 host.atlanta.example.com
t=0 0
m=audio 49170 RTP/AVP 0
a=rtpmap:0 PCMU/8000
m=video 49172 RTP/AVP 31
a=rtpmap:31 H261/90000
";
    const ANSWER2: &str = "
v=0
o=bob 2808844564 2808844565 IN IP4 host.biloxi.example.com
s=
c=IN IP4 host.biloxi.example.com
t=0 0
m=audio 49172 RTP/AVP 0
a=rtpmap:0 PCMU/8000
m=video 49168 RTP/AVP 31
a=rtpmap:31 H261/90000
";
    let mut alice = alice(vec![MediaCap::audio(49170, vec![pcmu()])]);
    let mut bob = bob(vec![
        MediaCap::audio(49172, vec![pcmu()]),
        MediaCap::video(49168, vec![h261()]),
    ]);
    assert_text(&alice.generate_offer()?, &rfc4317(OFFER));
    assert_text(&bob.process_offer(&rfc4317(OFFER))?, &rfc4317(ANSWER));
    alice.process_answer(&rfc4317(ANSWER))?;
    alice.add_media(MediaCap::video(49172, vec![h261()]))?;
    assert_text(&alice.generate_offer()?, &rfc4317(OFFER2));
    assert_text(&bob.process_offer(&rfc4317(OFFER2))?, &rfc4317(ANSWER2));
    alice.process_answer(&rfc4317(ANSWER2))?;
    assert_eq!(alice.negotiated().len(), 2);
    assert_eq!(alice.negotiated()[1].remote_port, 49168);
    Ok(())
}

/// §4.3 Audio and Video, Then Video Deleted: Bob disables the video stream
/// with port 0; the m-line stays.
#[test]
fn s4_3_video_deleted() -> R {
    const OFFER: &str = "
v=0
o=alice 2890844526 2890844526 IN IP4 host.atlanta.example.com
s=
c=IN IP4 host.atlanta.example.com
t=0 0
m=audio 49170 RTP/AVP 97
a=rtpmap:97 iLBC/8000
m=video 51372 RTP/AVP 31
a=rtpmap:31 H261/90000
";
    const ANSWER: &str = "
v=0
o=bob 2808844564 2808844564 IN IP4 host.biloxi.example.com
s=
c=IN IP4 host.biloxi.example.com
t=0 0
m=audio 49174 RTP/AVP 97
a=rtpmap:97 iLBC/8000
m=video 49170 RTP/AVP 31
a=rtpmap:31 H261/90000
";
    const OFFER2: &str = "
v=0
o=bob 2808844564 2808844565 IN IP4 host.biloxi.example.com
s=
c=IN IP4 host.biloxi.example.com
t=0 0
m=audio 49174 RTP/AVP 97
a=rtpmap:97 iLBC/8000
m=video 0 RTP/AVP 31
a=rtpmap:31 H261/90000
";
    const ANSWER2: &str = "
v=0
o=alice 2890844526 2890844527 IN IP4 host.atlanta.example.com
s=
c=IN IP4 host.atlanta.example.com
t=0 0
m=audio 49170 RTP/AVP 97
a=rtpmap:97 iLBC/8000
m=video 0 RTP/AVP 31
a=rtpmap:31 H261/90000
";
    let mut alice = alice(vec![
        MediaCap::audio(49170, vec![ilbc(97)]),
        MediaCap::video(51372, vec![h261()]),
    ]);
    let mut bob = bob(vec![
        MediaCap::audio(49174, vec![ilbc(97)]),
        MediaCap::video(49170, vec![h261()]),
    ]);
    assert_text(&alice.generate_offer()?, &rfc4317(OFFER));
    assert_text(&bob.process_offer(&rfc4317(OFFER))?, &rfc4317(ANSWER));
    alice.process_answer(&rfc4317(ANSWER))?;
    bob.remove_media(1)?;
    assert_text(&bob.generate_offer()?, &rfc4317(OFFER2));
    assert_text(&alice.process_offer(&rfc4317(OFFER2))?, &rfc4317(ANSWER2));
    assert_eq!(alice.negotiated().len(), 1);
    bob.process_answer(&rfc4317(ANSWER2))?;
    assert_eq!(bob.negotiated().len(), 1);
    Ok(())
}

/// §5.1 No Media, Then Audio Added (3pcc).
#[test]
fn s5_1_no_media_then_audio() -> R {
    const OFFER: &str = "
v=0
o=alice 2890844526 2890844526 IN IP4 host.atlanta.example.com
s=
c=IN IP4 host.atlanta.example.com
t=0 0
";
    const ANSWER: &str = "
v=0
o=bob 2808844564 2808844564 IN IP4 host.biloxi.example.com
s=
c=IN IP4 host.biloxi.example.com
t=0 0
";
    const OFFER2: &str = "
v=0
o=alice 2890844526 2890844527 IN IP4 host.atlanta.example.com
s=
c=IN IP4 host.atlanta.example.com
t=0 0
m=audio 49170 RTP/AVP 97
a=rtpmap:97 iLBC/8000
";
    const ANSWER2: &str = "
v=0
o=bob 2808844564 2808844565 IN IP4 host.biloxi.example.com
s=
c=IN IP4 host.biloxi.example.com
t=0 0
m=audio 49172 RTP/AVP 97
a=rtpmap:97 iLBC/8000
";
    let mut alice = alice(vec![]);
    let mut bob = bob(vec![MediaCap::audio(49172, vec![ilbc(97)])]);
    assert_text(&alice.generate_offer()?, &rfc4317(OFFER));
    assert_text(&bob.process_offer(&rfc4317(OFFER))?, &rfc4317(ANSWER));
    alice.process_answer(&rfc4317(ANSWER))?;
    assert!(alice.negotiated().is_empty());
    alice.add_media(MediaCap::audio(49170, vec![ilbc(97)]))?;
    assert_text(&alice.generate_offer()?, &rfc4317(OFFER2));
    assert_text(&bob.process_offer(&rfc4317(OFFER2))?, &rfc4317(ANSWER2));
    alice.process_answer(&rfc4317(ANSWER2))?;
    assert_eq!(alice.negotiated().len(), 1);
    Ok(())
}

/// §5.2 Hold and Unhold 2: Alice offers the black-hole address 0.0.0.0,
/// then her real one; Bob's unchanged answer keeps its version.
#[test]
fn s5_2_hold_and_unhold_2() -> R {
    const OFFER: &str = "
v=0
o=alice 2890844526 2890844526 IN IP4 host.atlanta.example.com
s=
c=IN IP4 0.0.0.0
t=0 0
m=audio 23442 RTP/AVP 97
a=rtpmap:97 iLBC/8000
";
    const ANSWER: &str = "
v=0
o=bob 2808844564 2808844564 IN IP4 host.biloxi.example.com
s=
c=IN IP4 host.biloxi.example.com
t=0 0
m=audio 49170 RTP/AVP 97
a=rtpmap:97 iLBC/8000
";
    const OFFER2: &str = "
v=0
o=alice 2890844526 2890844527 IN IP4 host.atlanta.example.com
s=
c=IN IP4 host.atlanta.example.com
t=0 0
m=audio 49170 RTP/AVP 97
a=rtpmap:97 iLBC/8000
";
    let mut alice = alice(vec![
        MediaCap::audio(23442, vec![ilbc(97)]).with_address("0.0.0.0"),
    ]);
    let mut bob = bob(vec![MediaCap::audio(49170, vec![ilbc(97)])]);
    assert_equivalent(&alice.generate_offer()?, &rfc4317(OFFER));
    assert_text(&bob.process_offer(&rfc4317(OFFER))?, &rfc4317(ANSWER));
    assert_eq!(bob.negotiated()[0].remote_address, "0.0.0.0");
    alice.process_answer(&rfc4317(ANSWER))?;
    if let Some(cap) = alice.media_cap_mut(0) {
        cap.port = 49170;
        cap.address = None;
    }
    assert_text(&alice.generate_offer()?, &rfc4317(OFFER2));
    // The RFC's second answer is the first one, version unchanged.
    assert_text(&bob.process_offer(&rfc4317(OFFER2))?, &rfc4317(ANSWER));
    assert_eq!(
        bob.negotiated()[0].remote_address,
        "host.atlanta.example.com"
    );
    Ok(())
}

/// §5.3 Hold and Unhold 3: Bob answers with 0.0.0.0, then offers his real
/// address; Alice's unchanged answer keeps its version.
#[test]
fn s5_3_hold_and_unhold_3() -> R {
    const OFFER: &str = "
v=0
o=alice 2890844526 2890844526 IN IP4 host.atlanta.example.com
s=
c=IN IP4 host.atlanta.example.com
t=0 0
m=audio 49170 RTP/AVP 97
a=rtpmap:97 iLBC/8000
";
    const ANSWER: &str = "
v=0
o=bob 2808844564 2808844564 IN IP4 host.biloxi.example.com
s=
c=IN IP4 0.0.0.0
t=0 0
m=audio 9322 RTP/AVP 97
a=rtpmap:97 iLBC/8000
";
    const OFFER2: &str = "
v=0
o=bob 2808844564 2808844565 IN IP4 host.biloxi.example.com
s=
c=IN IP4 host.biloxi.example.com
t=0 0
m=audio 49172 RTP/AVP 97
a=rtpmap:97 iLBC/8000
";
    let mut alice = alice(vec![MediaCap::audio(49170, vec![ilbc(97)])]);
    let mut bob = bob(vec![
        MediaCap::audio(9322, vec![ilbc(97)]).with_address("0.0.0.0"),
    ]);
    assert_text(&alice.generate_offer()?, &rfc4317(OFFER));
    assert_equivalent(&bob.process_offer(&rfc4317(OFFER))?, &rfc4317(ANSWER));
    alice.process_answer(&rfc4317(ANSWER))?;
    assert_eq!(alice.negotiated()[0].remote_address, "0.0.0.0");
    if let Some(cap) = bob.media_cap_mut(0) {
        cap.port = 49172;
        cap.address = None;
    }
    assert_text(&bob.generate_offer()?, &rfc4317(OFFER2));
    assert_text(&alice.process_offer(&rfc4317(OFFER2))?, &rfc4317(OFFER));
    bob.process_answer(&rfc4317(OFFER))?;
    assert_eq!(bob.negotiated()[0].remote_port, 49170);
    Ok(())
}

/// Every description printed in RFC 4317 parses and survives a write and a
/// second parse.
#[test]
fn every_example_round_trips() {
    for text in [AV_OFFER, TWO_AUDIO_OFFER, TWO_AUDIO_ANSWER] {
        let sdp = parse(&rfc4317(text));
        assert_eq!(sdp.to_string(), rfc4317(text));
        assert_eq!(parse(&sdp.to_string()), sdp);
    }
}
