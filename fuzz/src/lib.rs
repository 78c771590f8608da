//! Helpers shared by the fuzz targets: drive every read-only entry point of a
//! parsed [`Message`] and check that it round-trips through its serializer.

use bytes::BytesMut;
use sofia_msg::headers::{self, NameAddr};
use sofia_msg::{CheckPolicy, HeaderName, Limits, Message, Params, Uri};

/// Walks every parameter of a list.
fn walk_params(p: Params<'_>) {
    for (name, value) in p.iter() {
        let _ = p.get(name);
        let _ = p.get_unquoted(name);
        let _ = value.map(sofia_msg::params::strip_quotes);
    }
}

/// Reads every part of a URI; a URI is always equivalent to itself.
pub fn exercise_uri(uri: &Uri<'_>) {
    let _ = (uri.as_str(), uri.scheme(), uri.scheme_str(), uri.is_sip());
    let _ = (uri.user(), uri.password(), uri.host(), uri.port());
    let _ = (uri.transport(), uri.user_param(), uri.method_param());
    let _ = (uri.ttl(), uri.maddr(), uri.lr(), uri.headers());
    walk_params(uri.params());
    for pair in uri.header_pairs() {
        let _ = pair;
    }
    assert!(
        uri.equivalent(uri),
        "URI not equivalent to itself: {:?}",
        uri.as_str()
    );
}

fn exercise_addr(a: &NameAddr<'_>) {
    let _ = (a.display_raw(), a.display_name(), a.is_name_addr());
    let _ = (a.tag(), a.expires(), a.q());
    walk_params(a.params());
    exercise_uri(a.uri());
}

/// Parses every value of a typed header, handing each parsed value to `f`.
fn each<'a, T: headers::TypedHeader<'a>>(msg: &'a Message, mut f: impl FnMut(&T)) {
    for v in msg.typed_all::<T>().flatten() {
        f(&v);
    }
}

/// Runs the checks, the typed header parsers and the accessors on a parsed
/// message, then writes it out and parses it again: the second parse must
/// succeed and equal the first.
pub fn exercise_message(msg: &Message) {
    let _ = msg.check();
    let _ = msg.check_with(&CheckPolicy {
        supported: &["100rel", "timer", "path"],
        proxy: true,
    });
    for (i, name, err) in msg.malformed_headers() {
        assert!(i < msg.header_count());
        let _ = (name, err.to_string());
    }
    if let Some(d) = msg.defect() {
        let _ = d.reason();
    }

    let _ = (
        msg.is_request(),
        msg.method(),
        msg.method_str(),
        msg.status(),
    );
    let _ = (msg.reason(), msg.version(), msg.is_sip2(), msg.body_bytes());
    if let Some(Ok(uri)) = msg.request_uri() {
        exercise_uri(&uri);
    }
    for h in msg.headers() {
        let _ = msg.header_lines_named(h.name).count();
        let _ = sofia_msg::unfold(h.value);
        if h.kind != HeaderName::Other {
            let _ = msg.header_unfolded(h.kind);
            let _ = msg.has(h.kind);
            for v in msg.header_values(h.kind) {
                let _ = v;
            }
        }
    }
    if let Some(via) = msg.top_via() {
        let _ = (via.protocol(), via.version(), via.transport(), via.host());
        let _ = (via.port(), via.branch(), via.has_rfc3261_branch());
        let _ = (via.received(), via.rport(), via.maddr(), via.ttl());
        walk_params(via.params());
    }
    let _ = (msg.branch(), msg.from_tag(), msg.to_tag(), msg.call_id());
    let _ = (msg.cseq(), msg.cseq_method_str(), msg.max_forwards());
    let _ = (msg.content_length(), msg.content_type(), msg.body());
    if let Some(a) = msg.from() {
        exercise_addr(&a);
    }
    if let Some(a) = msg.to() {
        exercise_addr(&a);
    }

    each::<headers::Via>(msg, |v| {
        let _ = (v.host(), v.port(), v.branch(), v.rport());
    });
    each::<headers::From>(msg, |a| exercise_addr(a));
    each::<headers::To>(msg, |a| exercise_addr(a));
    each::<headers::Contact>(msg, |c| {
        if let Some(a) = c.addr() {
            exercise_addr(a);
        }
    });
    each::<headers::Route>(msg, |a| exercise_addr(a));
    each::<headers::RecordRoute>(msg, |a| exercise_addr(a));
    each::<headers::ReplyTo>(msg, |a| exercise_addr(a));
    each::<headers::Path>(msg, |a| exercise_addr(a));
    each::<headers::ServiceRoute>(msg, |a| exercise_addr(a));
    each::<headers::ReferTo>(msg, |a| exercise_addr(a));
    each::<headers::ReferredBy>(msg, |a| exercise_addr(a));
    each::<headers::PAssertedIdentity>(msg, |a| exercise_addr(a));
    each::<headers::PPreferredIdentity>(msg, |a| exercise_addr(a));
    each::<headers::CallId>(msg, |_| {});
    each::<headers::CSeq>(msg, |_| {});
    each::<headers::MaxForwards>(msg, |_| {});
    each::<headers::ContentLength>(msg, |_| {});
    each::<headers::ContentType>(msg, |m| {
        let _ = m.is("application", "sdp");
        walk_params(m.params);
    });
    each::<headers::Accept>(msg, |m| walk_params(m.params));
    each::<headers::Expires>(msg, |_| {});
    each::<headers::MinExpires>(msg, |_| {});
    each::<headers::RSeq>(msg, |_| {});
    each::<headers::RAck>(msg, |_| {});
    each::<headers::Allow>(msg, |_| {});
    each::<headers::Supported>(msg, |_| {});
    each::<headers::Require>(msg, |_| {});
    each::<headers::ProxyRequire>(msg, |_| {});
    each::<headers::Unsupported>(msg, |_| {});
    each::<headers::Subject>(msg, |_| {});
    each::<headers::Organization>(msg, |_| {});
    each::<headers::UserAgent>(msg, |_| {});
    each::<headers::Server>(msg, |_| {});

    assert_round_trip(msg);
}

/// Writes the message and parses the output again (with a size limit large
/// enough for the output, which can be longer than the input): the result
/// must equal the original.
pub fn assert_round_trip(msg: &Message) {
    let mut out = BytesMut::new();
    msg.write_to(&mut out);
    let out = out.freeze();
    assert_eq!(out, msg.to_bytes(), "write_to and to_bytes disagree");
    let limits = Limits {
        max_size: out.len().max(Limits::DEFAULT.max_size),
        ..Limits::DEFAULT
    };
    let again = match Message::parse_with(out.clone(), &limits) {
        Ok(m) => m,
        Err(e) => panic!("re-parse of written message failed: {e}\nwritten: {out:?}"),
    };
    assert!(
        *msg == again,
        "re-parse differs\nfirst:   {msg:?}\nwritten: {out:?}\nsecond:  {again:?}"
    );
}
