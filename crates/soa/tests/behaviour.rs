//! The state machine and the negotiation rules beyond the RFC examples:
//! late offers, hold and resume, glare and rollback, codec policies, payload
//! type mapping, stream removal, and the errors with their SIP statuses.

use sofia_soa::{
    Capabilities, Codec, CodecPreference, CodecSelection, Config, Direction, Error, MediaCap,
    Session, SessionDescription, State,
};

type R = sofia_soa::Result<()>;

fn caps(host: &str, media: Vec<MediaCap>) -> Capabilities {
    let mut c = Capabilities::new(host);
    c.media = media;
    c
}

fn phone(host: &str, port: u16) -> Session {
    Session::new(
        caps(
            host,
            vec![MediaCap::audio(
                port,
                vec![Codec::pcmu(), Codec::pcma(), Codec::telephone_event(101)],
            )],
        ),
        1000,
    )
}

fn offer_text(formats: &str, rtpmaps: &str, extra: &str) -> String {
    format!(
        "v=0\r\no=- 7 7 IN IP4 192.0.2.9\r\ns=-\r\nc=IN IP4 192.0.2.9\r\nt=0 0\r\n\
         m=audio 4000 RTP/AVP {formats}\r\n{rtpmaps}{extra}"
    )
}

/// Offer in the 200 OK, answer in the ACK (RFC 3261 §13.2.1).
#[test]
fn late_offer() -> R {
    let mut uac = phone("192.0.2.1", 5000);
    let mut uas = phone("192.0.2.2", 6000);
    assert_eq!(uac.state(), State::NoSession);
    // INVITE without a body; the UAS offers in its 200 OK.
    let offer = uas.generate_offer()?;
    assert_eq!(uas.state(), State::OfferSent);
    uac.receive_offer(&offer.to_string())?;
    assert_eq!(uac.state(), State::OfferReceived);
    let answer = uac.generate_answer()?;
    assert_eq!(uac.state(), State::Established);
    // The ACK carries the answer.
    uas.process_answer(&answer.to_string())?;
    assert_eq!(uas.state(), State::Established);
    assert_eq!(uas.negotiated()[0].remote_port, 5000);
    assert_eq!(uac.negotiated()[0].remote_port, 6000);
    assert_eq!(uac.negotiated()[0].codecs.len(), 2);
    assert!(uac.negotiated()[0].telephone_event.is_some());
    Ok(())
}

/// Hold and resume per RFC 3264 §8.4, with the version raised only when the
/// description changes.
#[test]
fn hold_and_resume() -> R {
    let mut a = phone("192.0.2.1", 5000);
    let mut b = phone("192.0.2.2", 6000);
    let o1 = a.generate_offer()?;
    b.process_answer_or_offer(&o1, &mut a)?;

    // An unchanged re-offer (a session refresh) keeps the version.
    let refresh = a.generate_offer()?;
    assert_eq!(refresh.origin.version, o1.origin.version);
    assert!(refresh.same_session(&o1));
    let ans = b.process_offer(&refresh.to_string())?;
    a.process_answer(&ans.to_string())?;

    a.hold();
    assert!(a.is_held());
    let held = a.generate_offer()?;
    assert_eq!(held.origin.version, o1.origin.version + 1);
    assert_eq!(held.media_direction(0), Direction::SendOnly);
    let ans = b.process_offer(&held.to_string())?;
    assert_eq!(ans.media_direction(0), Direction::RecvOnly);
    assert_eq!(b.negotiated()[0].direction, Direction::RecvOnly);
    a.process_answer(&ans.to_string())?;
    assert_eq!(a.negotiated()[0].direction, Direction::SendOnly);

    // While held, an answer to the peer's re-offer keeps the hold.
    let reoffer = b.generate_offer()?;
    assert_eq!(reoffer.media_direction(0), Direction::SendRecv);
    let ans = a.process_offer(&reoffer.to_string())?;
    assert_eq!(ans.media_direction(0), Direction::SendOnly);
    b.process_answer(&ans.to_string())?;
    assert_eq!(b.negotiated()[0].direction, Direction::RecvOnly);

    a.resume();
    let resumed = a.generate_offer()?;
    assert_eq!(resumed.media_direction(0), Direction::SendRecv);
    let ans = b.process_offer(&resumed.to_string())?;
    a.process_answer(&ans.to_string())?;
    assert_eq!(a.negotiated()[0].direction, Direction::SendRecv);
    assert_eq!(b.negotiated()[0].direction, Direction::SendRecv);
    Ok(())
}

trait Exchange {
    fn process_answer_or_offer(&mut self, offer: &SessionDescription, offerer: &mut Session) -> R;
}

impl Exchange for Session {
    /// Answers `offer` and hands the answer to `offerer`.
    fn process_answer_or_offer(&mut self, offer: &SessionDescription, offerer: &mut Session) -> R {
        let answer = self.process_offer(&offer.to_string())?;
        offerer.process_answer(&answer.to_string())
    }
}

/// A receive-only stream put on hold becomes inactive (§8.4).
#[test]
fn hold_of_recvonly_is_inactive() -> R {
    let mut a = Session::new(
        caps(
            "192.0.2.1",
            vec![MediaCap::audio(5000, vec![Codec::pcmu()]).with_direction(Direction::RecvOnly)],
        ),
        1,
    );
    a.hold();
    let offer = a.generate_offer()?;
    assert_eq!(offer.media_direction(0), Direction::Inactive);
    Ok(())
}

/// Direction answers per RFC 3264 §6.1.
#[test]
fn direction_negotiation() -> R {
    let cases = [
        (
            Direction::SendRecv,
            Direction::SendRecv,
            Direction::SendRecv,
        ),
        (
            Direction::SendOnly,
            Direction::SendRecv,
            Direction::RecvOnly,
        ),
        (
            Direction::RecvOnly,
            Direction::SendRecv,
            Direction::SendOnly,
        ),
        (
            Direction::Inactive,
            Direction::SendRecv,
            Direction::Inactive,
        ),
        (
            Direction::SendOnly,
            Direction::SendOnly,
            Direction::Inactive,
        ),
        (
            Direction::RecvOnly,
            Direction::RecvOnly,
            Direction::Inactive,
        ),
        (
            Direction::SendRecv,
            Direction::RecvOnly,
            Direction::RecvOnly,
        ),
        (
            Direction::SendRecv,
            Direction::Inactive,
            Direction::Inactive,
        ),
    ];
    for (offered, local, expected) in cases {
        let mut b = Session::new(
            caps(
                "192.0.2.2",
                vec![MediaCap::audio(6000, vec![Codec::pcmu()]).with_direction(local)],
            ),
            2,
        );
        let offer = offer_text("0", "", &format!("a={offered}\r\n"));
        let answer = b.process_offer(&offer)?;
        assert_eq!(
            answer.media_direction(0),
            expected,
            "offer {offered}, local {local}"
        );
    }
    // A session-level direction applies to media without their own.
    let mut b = phone("192.0.2.2", 6000);
    let offer = "v=0\r\no=- 7 7 IN IP4 h\r\ns=-\r\nc=IN IP4 h\r\nt=0 0\r\na=sendonly\r\n\
                 m=audio 4000 RTP/AVP 0\r\n";
    let answer = b.process_offer(offer)?;
    assert_eq!(answer.media_direction(0), Direction::RecvOnly);
    Ok(())
}

/// Glare: neither side may start an exchange while one is open; rollback
/// returns to the last completed one.
#[test]
fn glare_and_rollback() -> R {
    let mut a = phone("192.0.2.1", 5000);
    let mut b = phone("192.0.2.2", 6000);
    let o1 = a.generate_offer()?;
    b.process_answer_or_offer(&o1, &mut a)?;
    let before = a.negotiated().to_vec();

    let mine = a.generate_offer()?;
    assert_eq!(a.generate_offer(), Err(Error::OfferPending));
    let theirs = b.generate_offer()?;
    let err = a.process_offer(&theirs.to_string());
    assert_eq!(
        err.as_ref().map_err(Error::sip_status),
        Err((491, "Request Pending"))
    );
    assert_eq!(a.state(), State::OfferSent);
    assert_eq!(
        a.add_media(MediaCap::video(7000, vec![])),
        Err(Error::OfferPending)
    );

    a.rollback();
    b.rollback();
    assert_eq!(a.state(), State::Established);
    assert_eq!(a.negotiated(), before.as_slice());
    // The dropped offer's version is not used again for other content.
    a.hold();
    let next = a.generate_offer()?;
    assert!(next.origin.version > mine.origin.version);
    Ok(())
}

#[test]
fn state_errors() {
    let mut a = phone("192.0.2.1", 5000);
    let answer = offer_text("0", "", "");
    assert_eq!(a.process_answer(&answer), Err(Error::NoOfferPending));
    assert_eq!(a.generate_answer(), Err(Error::NoRemoteOffer));
    assert_eq!(Error::NoOfferPending.status(), 500);
    assert_eq!(a.remove_media(3), Err(Error::NoSuchStream(3)));
}

/// Answers that do not fit the offer are refused and leave the offer open.
#[test]
fn answer_mismatch() -> R {
    let mut a = Session::new(
        caps(
            "192.0.2.1",
            vec![
                MediaCap::audio(5000, vec![Codec::pcmu(), Codec::new(97, "iLBC", 8000)]),
                MediaCap::video(5002, vec![Codec::new(31, "H261", 90000)]),
            ],
        ),
        1,
    );
    a.generate_offer()?;
    let head = "v=0\r\no=- 7 7 IN IP4 h\r\ns=-\r\nc=IN IP4 h\r\nt=0 0\r\n";
    let bad = [
        format!("{head}m=audio 4000 RTP/AVP 0\r\n"),
        format!("{head}m=audio 4000 RTP/AVP 0\r\nm=audio 4002 RTP/AVP 0\r\n"),
        format!("{head}m=audio 4000 RTP/SAVP 0\r\nm=video 0 RTP/AVP 31\r\n"),
        format!("{head}m=audio 4000 RTP/AVP 8\r\nm=video 0 RTP/AVP 31\r\n"),
        format!(
            "{head}m=audio 4000 RTP/AVP 96\r\na=rtpmap:96 iLBC/16000\r\nm=video 0 RTP/AVP 31\r\n"
        ),
        format!("{head}m=audio 4000 RTP/AVP 0\r\nm=video 0 RTP/AVP 31\r\nm=audio 4 RTP/AVP 0\r\n"),
    ];
    for text in &bad {
        let err = a.process_answer(text);
        assert!(
            matches!(err, Err(Error::AnswerMismatch(_))),
            "{err:?} for\n{text}"
        );
        if let Err(e) = err {
            assert_eq!(e.sip_status(), (488, "Answer Does Not Match Offer"));
        }
        assert_eq!(a.state(), State::OfferSent);
    }
    let no_c = "v=0\r\no=- 7 7 IN IP4 h\r\ns=-\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\nm=video 0 RTP/AVP 31\r\n";
    assert!(matches!(
        a.process_answer(no_c),
        Err(Error::Malformed { .. })
    ));
    assert!(matches!(
        a.process_answer("garbage"),
        Err(Error::Malformed { .. })
    ));

    // iLBC answered on another dynamic number is fine.
    let good = format!(
        "{head}m=audio 4000 RTP/AVP 99\r\na=rtpmap:99 ILBC/8000\r\nm=video 0 RTP/AVP 31\r\n"
    );
    a.process_answer(&good)?;
    let m = &a.negotiated()[0];
    assert_eq!((m.codecs[0].send_pt, m.codecs[0].recv_pt), (99, 97));
    assert_eq!(a.negotiated().len(), 1);
    Ok(())
}

/// No common codec: the offer is refused with 488 and the session stays as
/// it was.
#[test]
fn no_common_codec() -> R {
    let mut b = phone("192.0.2.2", 6000);
    let offer = offer_text("18 96", "a=rtpmap:96 opus/48000/2\r\n", "");
    let err = b.process_offer(&offer);
    assert_eq!(err, Err(Error::NoCommonCodec));
    assert_eq!(
        Error::NoCommonCodec.sip_status(),
        (488, "Not Acceptable Here")
    );
    assert_eq!(b.state(), State::NoSession);

    // An unknown media type or transport is no better.
    let video = offer_text("0", "", "").replace("m=audio", "m=video");
    assert_eq!(b.process_offer(&video), Err(Error::NoCommonCodec));
    let savp = offer_text("0", "", "").replace("RTP/AVP", "RTP/SAVP");
    assert_eq!(b.process_offer(&savp), Err(Error::NoCommonCodec));

    // Then a good offer goes through.
    let answer = b.process_offer(&offer_text("0", "", ""))?;
    assert_eq!(answer.media[0].formats, ["0"]);
    assert_eq!(b.state(), State::Established);

    // A failed re-offer keeps the established session.
    assert_eq!(b.process_offer(&offer), Err(Error::NoCommonCodec));
    assert_eq!(b.state(), State::Established);
    assert_eq!(b.negotiated().len(), 1);
    Ok(())
}

#[test]
fn malformed_offer_is_488() {
    let mut b = phone("192.0.2.2", 6000);
    for text in [
        "",
        "v=0\r\n",
        "hello",
        "v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nt=x\r\n",
    ] {
        let err = b.process_offer(text);
        assert!(
            matches!(err, Err(Error::Malformed { .. })),
            "{text:?}: {err:?}"
        );
        if let Err(e) = err {
            assert_eq!(e.sip_status(), (488, "Bad Session Description"));
        }
        assert_eq!(b.state(), State::NoSession);
    }
    let no_c = "v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";
    assert!(matches!(
        b.process_offer(no_c),
        Err(Error::Malformed { .. })
    ));
    let big = "a".repeat(70_000);
    assert!(matches!(b.process_offer(&big), Err(Error::TooLarge { .. })));
}

fn prefs(preference: CodecPreference, selection: CodecSelection) -> Session {
    Session::with_config(
        caps(
            "192.0.2.2",
            vec![MediaCap::audio(
                6000,
                vec![
                    Codec::new(96, "opus", 48000).with_channels(2),
                    Codec::pcma(),
                    Codec::pcmu(),
                    Codec::telephone_event(100),
                ],
            )],
        ),
        2,
        Config {
            codec_preference: preference,
            codec_selection: selection,
            ..Config::default()
        },
    )
}

/// The answer's codec order follows the offer or the local list; with
/// `CodecSelection::First` only the best one is kept, with telephone events.
#[test]
fn codec_order_policies() -> R {
    let offer = offer_text(
        "0 8 111 101",
        "a=rtpmap:111 OPUS/48000/2\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\n",
        "",
    );
    let ans = prefs(CodecPreference::Offerer, CodecSelection::All).process_offer(&offer)?;
    assert_eq!(ans.media[0].formats, ["0", "8", "111", "101"]);
    assert_eq!(ans.media[0].fmtp("101"), Some("0-15"));
    assert_eq!(
        ans.media[0].rtpmap("111").map(|m| m.to_string()),
        Some("111 OPUS/48000/2".to_string())
    );

    let mut local = prefs(CodecPreference::Local, CodecSelection::All);
    let ans = local.process_offer(&offer)?;
    assert_eq!(ans.media[0].formats, ["111", "8", "0", "101"]);
    let m = &local.negotiated()[0];
    assert_eq!(m.codecs[0].codec.name, "opus");
    assert_eq!(m.codecs[0].send_pt, 111);
    assert_eq!(m.telephone_event.as_ref().map(|t| t.send_pt), Some(101));

    let ans = prefs(CodecPreference::Local, CodecSelection::First).process_offer(&offer)?;
    assert_eq!(ans.media[0].formats, ["111", "101"]);
    let ans = prefs(CodecPreference::Offerer, CodecSelection::First).process_offer(&offer)?;
    assert_eq!(ans.media[0].formats, ["0", "101"]);
    Ok(())
}

/// Static payload types match by number without rtpmap; channel counts must
/// agree.
#[test]
fn payload_type_mapping() -> R {
    let mut b = prefs(CodecPreference::Offerer, CodecSelection::All);
    let ans = b.process_offer(&offer_text("8 0", "", ""))?;
    assert_eq!(ans.media[0].formats, ["8", "0"]);
    assert_eq!(
        ans.media[0].rtpmap("8").map(|m| m.encoding),
        Some("PCMA".into())
    );

    let mut b = prefs(CodecPreference::Offerer, CodecSelection::All);
    let mono = offer_text("111", "a=rtpmap:111 opus/48000\r\n", "");
    assert_eq!(b.process_offer(&mono), Err(Error::NoCommonCodec));
    // A static number rebound by rtpmap follows the rtpmap.
    let rebound = offer_text("0", "a=rtpmap:0 opus/48000/2\r\n", "");
    let ans = b.process_offer(&rebound)?;
    assert_eq!(ans.media[0].formats, ["0"]);
    assert_eq!(b.negotiated()[0].codecs[0].codec.name, "opus");
    Ok(())
}

/// Streams: removed ones stay at port 0, re-offers may not drop m-lines,
/// an added stream this side cannot take is rejected alone.
#[test]
fn stream_add_and_remove() -> R {
    let mut a = Session::new(
        caps(
            "192.0.2.1",
            vec![
                MediaCap::audio(5000, vec![Codec::pcmu()]),
                MediaCap::video(5002, vec![Codec::new(31, "H261", 90000)]),
            ],
        ),
        1,
    );
    let mut b = Session::new(
        caps(
            "192.0.2.2",
            vec![
                MediaCap::audio(6000, vec![Codec::pcmu()]),
                MediaCap::video(6002, vec![Codec::new(31, "H261", 90000)]),
            ],
        ),
        2,
    );
    let o = a.generate_offer()?;
    b.process_answer_or_offer(&o, &mut a)?;
    assert_eq!(a.negotiated().len(), 2);

    // b removes the video; a's later re-offer of it is rejected by b.
    b.remove_media(1)?;
    let o = b.generate_offer()?;
    assert_eq!(o.media[1].port, 0);
    a.process_answer_or_offer(&o, &mut b)?;
    assert_eq!(a.negotiated().len(), 1);
    assert_eq!(b.negotiated().len(), 1);

    let o = a.generate_offer()?;
    assert_eq!(o.media.len(), 2);
    assert_eq!(o.media[1].port, 0, "a keeps the rejected stream disabled");
    let forced = o.to_string().replace("m=video 0 ", "m=video 5002 ");
    let ans = b.process_offer(&forced)?;
    assert_eq!(ans.media[1].port, 0);
    a.rollback();

    // A re-offer with fewer m-lines is refused.
    let short = offer_text("0", "", "");
    assert_eq!(
        b.process_offer(&short),
        Err(Error::MediaLinesRemoved {
            offered: 1,
            previous: 2
        })
    );
    assert_eq!(b.state(), State::Established);

    // a adds a text stream b has no capability for: only it is rejected.
    a.add_media(MediaCap::new(
        sofia_soa::MediaKind::Text,
        5004,
        vec![Codec::new(98, "t140", 1000)],
    ))?;
    let o = a.generate_offer()?;
    assert_eq!(o.media.len(), 3);
    let ans = b.process_offer(&o.to_string())?;
    assert_eq!(
        ans.media.iter().map(|m| m.port).collect::<Vec<_>>(),
        [6000, 0, 0]
    );
    a.process_answer(&ans.to_string())?;
    assert_eq!(a.negotiated().len(), 1);
    Ok(())
}

/// An all-disabled re-offer is answered (no media), not refused.
#[test]
fn all_streams_disabled() -> R {
    let mut a = phone("192.0.2.1", 5000);
    let mut b = phone("192.0.2.2", 6000);
    let o = a.generate_offer()?;
    b.process_answer_or_offer(&o, &mut a)?;
    a.remove_media(0)?;
    let o = a.generate_offer()?;
    let ans = b.process_offer(&o.to_string())?;
    assert_eq!(ans.media[0].port, 0);
    assert!(b.negotiated().is_empty());
    a.process_answer(&ans.to_string())?;
    assert!(a.negotiated().is_empty());
    Ok(())
}

/// IPv6 addresses get `IP6` in `o=` and `c=`.
#[test]
fn ipv6() -> R {
    let mut a = phone("2001:db8::1", 5000);
    let o = a.generate_offer()?;
    assert_eq!(o.origin.addr_type, "IP6");
    assert!(o.to_string().contains("c=IN IP6 2001:db8::1\r\n"));
    Ok(())
}

/// A capability without codecs is not offered: an m-line needs a format.
#[test]
fn capability_without_codecs_is_not_offered() -> R {
    let mut a = phone("192.0.2.1", 5000);
    a.add_media(MediaCap::video(5002, vec![]))?;
    let o = a.generate_offer()?;
    assert_eq!(o.media.len(), 1);
    assert_eq!(SessionDescription::parse(&o.to_string()), Ok(o));
    Ok(())
}

#[test]
fn origin_numbers_stay_in_rfc3264_range() {
    // RFC 3264 §5: signed 64-bit numbers, a first version below 2^62 - 1.
    let caps =
        Capabilities::new("192.0.2.1").with_media(MediaCap::audio(5000, vec![Codec::pcmu()]));
    let mut s = Session::new(caps, u64::MAX);
    let offer = s.generate_offer().unwrap().to_string();
    let o = offer.lines().find(|l| l.starts_with("o=")).unwrap();
    let fields: Vec<&str> = o.split(' ').collect();
    let id: u64 = fields[1].parse().unwrap();
    let version: u64 = fields[2].parse().unwrap();
    assert!(id < (1 << 62) - 1, "{o}");
    assert!(version < (1 << 62) - 1, "{o}");
}
