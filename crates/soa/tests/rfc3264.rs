//! The offer/answer examples of RFC 3264 §10, each played with this crate on
//! the side that makes a description and checked against the RFC's text,
//! which is then fed to the other side.

mod common;

use common::{assert_equivalent, assert_text, rfc3264};
use sofia_soa::{Capabilities, Codec, Direction, MediaCap, MediaKind, Session, State};

const EX1_OFFER: &str = "
v=0
o=alice 2890844526 2890844526 IN IP4 host.anywhere.com
s=
c=IN IP4 host.anywhere.com
t=0 0
m=audio 49170 RTP/AVP 0
a=rtpmap:0 PCMU/8000
m=video 51372 RTP/AVP 31
a=rtpmap:31 H261/90000
m=video 53000 RTP/AVP 32
a=rtpmap:32 MPV/90000
";

const EX1_ANSWER: &str = "
v=0
o=bob 2890844730 2890844730 IN IP4 host.example.com
s=
c=IN IP4 host.example.com
t=0 0
m=audio 49920 RTP/AVP 0
a=rtpmap:0 PCMU/8000
m=video 0 RTP/AVP 31
m=video 53000 RTP/AVP 32
a=rtpmap:32 MPV/90000
";

const EX1_OFFER2: &str = "
v=0
o=bob 2890844730 2890844731 IN IP4 host.example.com
s=
c=IN IP4 host.example.com
t=0 0
m=audio 65422 RTP/AVP 0
a=rtpmap:0 PCMU/8000
m=video 0 RTP/AVP 31
m=video 53000 RTP/AVP 32
a=rtpmap:32 MPV/90000
m=audio 51434 RTP/AVP 110
a=rtpmap:110 telephone-events/8000
a=recvonly
";

const EX1_ANSWER2: &str = "
v=0
o=alice 2890844526 2890844527 IN IP4 host.anywhere.com
s=
c=IN IP4 host.anywhere.com
t=0 0
m=audio 49170 RTP/AVP 0
a=rtpmap:0 PCMU/8000
m=video 0 RTP/AVP 31
a=rtpmap:31 H261/90000
m=video 53000 RTP/AVP 32
a=rtpmap:32 MPV/90000
m=audio 53122 RTP/AVP 110
a=rtpmap:110 telephone-events/8000
a=sendonly
";

fn caps(user: &str, host: &str) -> Capabilities {
    Capabilities::new(host)
        .with_username(user)
        .with_session_name("")
}

/// §10.1: Bob rejects the first video stream; later he moves his audio port
/// and adds a receive-only telephone-events stream, which Alice accepts as
/// send-only.
#[test]
fn basic_exchange() -> sofia_soa::Result<()> {
    let alice_caps = caps("alice", "host.anywhere.com")
        .with_media(MediaCap::audio(49170, vec![Codec::pcmu()]))
        .with_media(MediaCap::video(51372, vec![Codec::new(31, "H261", 90000)]))
        .with_media(MediaCap::video(53000, vec![Codec::new(32, "MPV", 90000)]));
    let bob_caps = caps("bob", "host.example.com")
        .with_media(MediaCap::audio(49920, vec![Codec::pcmu()]))
        .with_media(MediaCap::video(53000, vec![Codec::new(32, "MPV", 90000)]));
    let mut alice = Session::new(alice_caps, 2890844526);
    let mut bob = Session::new(bob_caps, 2890844730);

    let offer = alice.generate_offer()?;
    assert_text(&offer, &rfc3264(EX1_OFFER));

    let answer = bob.process_offer(&rfc3264(EX1_OFFER))?;
    assert_equivalent(&answer, &rfc3264(EX1_ANSWER));
    assert_eq!(bob.state(), State::Established);

    alice.process_answer(&rfc3264(EX1_ANSWER))?;
    let media = alice.negotiated();
    assert_eq!(media.len(), 2);
    assert_eq!((media[0].index, media[0].remote_port), (0, 49920));
    assert_eq!(media[0].remote_address, "host.example.com");
    assert_eq!(media[0].codecs[0].codec.name, "PCMU");
    assert_eq!(
        (media[1].index, media[1].kind.clone()),
        (2, MediaKind::Video)
    );
    assert_eq!(media[1].codecs[0].codec.name, "MPV");

    // Bob's re-offer: new audio port, a receive-only events stream.
    if let Some(cap) = bob.media_cap_mut(0) {
        cap.port = 65422;
    }
    let added = bob.add_media(
        MediaCap::audio(51434, vec![Codec::new(110, "telephone-events", 8000)])
            .with_direction(Direction::RecvOnly),
    )?;
    assert_eq!(added, 3);
    let offer2 = bob.generate_offer()?;
    assert_equivalent(&offer2, &rfc3264(EX1_OFFER2));

    // Alice answers with a send-only events stream on 53122.
    alice.add_media(MediaCap::audio(53122, vec![Codec::telephone_event(110)]))?;
    let answer2 = alice.process_offer(&rfc3264(EX1_OFFER2))?;
    assert_equivalent(&answer2, &rfc3264(EX1_ANSWER2));
    let events = &alice.negotiated()[2];
    assert_eq!(events.index, 3);
    assert_eq!(events.direction, Direction::SendOnly);
    assert_eq!(
        events.telephone_event.as_ref().map(|t| t.send_pt),
        Some(110)
    );
    assert_eq!((events.remote_port, events.local_port), (51434, 53122));

    bob.process_answer(&rfc3264(EX1_ANSWER2))?;
    let events = &bob.negotiated()[2];
    assert_eq!(events.direction, Direction::RecvOnly);
    assert_eq!(events.remote_port, 53122);
    Ok(())
}

const EX2_OFFER: &str = "
v=0
o=alice 2890844526 2890844526 IN IP4 host.anywhere.com
s=
c=IN IP4 host.anywhere.com
t=0 0
m=audio 62986 RTP/AVP 0 4 18
a=rtpmap:0 PCMU/8000
a=rtpmap:4 G723/8000
a=rtpmap:18 G729/8000
a=inactive
";

const EX2_ANSWER: &str = "
v=0
o=bob 2890844730 2890844731 IN IP4 host.example.com
s=
c=IN IP4 host.example.com
t=0 0
m=audio 54344 RTP/AVP 0 4
a=rtpmap:0 PCMU/8000
a=rtpmap:4 G723/8000
a=inactive
";

const EX2_OFFER2: &str = "
v=0
o=alice 2890844526 2890844527 IN IP4 host.anywhere.com
s=
c=IN IP4 host.anywhere.com
t=0 0
m=audio 62986 RTP/AVP 4
a=rtpmap:4 G723/8000
a=sendrecv
";

const EX2_ANSWER2: &str = "
v=0
o=bob 2890844730 2890844732 IN IP4 host.example.com
s=
c=IN IP4 host.example.com
t=0 0
m=audio 54344 RTP/AVP 4
a=rtpmap:4 G723/8000
a=sendrecv
";

/// §10.2: an inactive offer of three codecs, answered with two; Alice then
/// locks the stream to G.723 and activates it.
#[test]
fn one_of_n_codec_selection() -> sofia_soa::Result<()> {
    let alice_caps = caps("alice", "host.anywhere.com").with_media(
        MediaCap::audio(
            62986,
            vec![Codec::pcmu(), Codec::new(4, "G723", 8000), Codec::g729()],
        )
        .with_direction(Direction::Inactive),
    );
    let bob_caps = caps("bob", "host.example.com").with_media(MediaCap::audio(
        54344,
        vec![Codec::pcmu(), Codec::new(4, "G723", 8000)],
    ));
    let mut alice = Session::new(alice_caps, 2890844526);
    let mut bob = Session::new(bob_caps, 2890844730);
    bob.set_initial_version(2890844731);

    assert_text(&alice.generate_offer()?, &rfc3264(EX2_OFFER));
    let answer = bob.process_offer(&rfc3264(EX2_OFFER))?;
    assert_text(&answer, &rfc3264(EX2_ANSWER));
    alice.process_answer(&rfc3264(EX2_ANSWER))?;
    let m = &alice.negotiated()[0];
    assert_eq!(m.direction, Direction::Inactive);
    let names: Vec<_> = m.codecs.iter().map(|c| c.codec.name.as_str()).collect();
    assert_eq!(names, ["PCMU", "G723"]);

    if let Some(cap) = alice.media_cap_mut(0) {
        cap.codecs = vec![Codec::new(4, "G723", 8000)];
        cap.direction = Direction::SendRecv;
    }
    let offer2 = alice.generate_offer()?;
    assert_equivalent(&offer2, &rfc3264(EX2_OFFER2));
    let answer2 = bob.process_offer(&rfc3264(EX2_OFFER2))?;
    assert_equivalent(&answer2, &rfc3264(EX2_ANSWER2));
    alice.process_answer(&rfc3264(EX2_ANSWER2))?;
    let m = &alice.negotiated()[0];
    assert_eq!(m.direction, Direction::SendRecv);
    assert_eq!(m.codecs.len(), 1);
    assert_eq!(m.codecs[0].send_pt, 4);
    Ok(())
}
