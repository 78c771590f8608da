//! Message-level behaviour: limits, defects, builders, serialization.

use bytes::{Bytes, BytesMut};
use sofia_msg::headers::{Contact, Via};
use sofia_msg::{
    BuildError, DefectKind, HeaderName, Limits, Message, Method, ParseError, RequestBuilder,
    ResponseBuilder,
};

const OPTIONS: &str = "OPTIONS sip:bob@example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK74bf9;rport\r\n\
Via: SIP/2.0/TCP proxy.example.com;branch=z9hG4bK1, SIP/2.0/UDP [2001:db8::1]:5062;branch=z9hG4bK2\r\n\
Max-Forwards: 70\r\n\
From: Alice <sip:alice@example.com>;tag=9fxced76sl\r\n\
To: <sip:bob@example.com>\r\n\
Call-ID: 3848276298220188511@example.com\r\n\
CSeq: 63104 OPTIONS\r\n\
Timestamp: 54\r\n\
X-Custom: keep me\r\n\
Content-Length: 0\r\n\r\n";

fn parse(s: &str) -> Message {
    Message::parse(Bytes::copy_from_slice(s.as_bytes())).unwrap()
}

#[test]
fn header_values_split_lists_across_lines() {
    let m = parse(OPTIONS);
    let vias: Vec<Via> = m.typed_all::<Via>().map(Result::unwrap).collect();
    assert_eq!(vias.len(), 3);
    assert_eq!(vias[0].rport(), Some(None));
    assert_eq!(vias[2].host(), "[2001:db8::1]");
    assert_eq!(m.top_via().unwrap().port(), Some(5060));
    assert_eq!(m.header_lines(HeaderName::Via).count(), 2);
    assert_eq!(
        m.header_lines_named("x-custom").collect::<Vec<_>>(),
        vec!["keep me"]
    );
    let names: Vec<&str> = m.headers().map(|h| h.name).collect();
    assert_eq!(names[0], "Via");
    assert_eq!(names[8], "X-Custom");
}

#[test]
fn value_slices_share_the_buffer() {
    let m = parse(OPTIONS);
    let buf = m.as_bytes().as_ptr() as usize;
    let cid = m.call_id().unwrap().as_ptr() as usize;
    assert!(cid > buf && cid < buf + m.as_bytes().len());
}

#[test]
fn leading_crlf_and_bare_lf() {
    let m = parse(&format!("\r\n\r\n{}", OPTIONS.replace("\r\n", "\n")));
    assert_eq!(m.method(), Method::Options);
    assert!(m.check().is_ok());
}

#[test]
fn limits() {
    let big = Bytes::from(vec![b'a'; 70_000]);
    assert!(matches!(
        Message::parse(big),
        Err(ParseError::TooLarge { .. })
    ));
    let limits = Limits {
        max_size: 65536,
        max_headers: 5,
    };
    let r = Message::parse_with(Bytes::from_static(OPTIONS.as_bytes()), &limits);
    assert_eq!(r.unwrap_err(), ParseError::TooManyHeaders { limit: 5 });
    assert_eq!(ParseError::TooManyHeaders { limit: 5 }.status().0, 513);
}

#[test]
fn structural_errors() {
    for (input, status) in [
        ("", 400),
        ("\r\n\r\n", 400),
        ("OPTIONS sip:a@b SIP/2.0\r\nTo: x\r\n", 400),
        ("OPTIONS sip:a@b\r\n\r\n", 400),
        ("OPTIONS sip:a@b HTTP/1.1\r\n\r\n", 400),
        ("SIP/2.0 99 Low\r\n\r\n", 400),
        ("SIP/2.0 2000 OK\r\n\r\n", 400),
        ("SIP/2.0 700 High\r\n\r\n", 400),
    ] {
        let e = Message::parse(Bytes::copy_from_slice(input.as_bytes())).unwrap_err();
        assert_eq!(e.status().0, status, "{input:?}: {e}");
    }
}

#[test]
fn bad_header_line_is_a_defect_not_a_failure() {
    let m = parse(&OPTIONS.replace("X-Custom: keep me", "this line has no colon"));
    assert_eq!(m.defect().unwrap().kind, DefectKind::BadLine(10));
    let r = m.check().unwrap_err();
    assert_eq!(r.status, 400);
    assert_eq!(r.reason, "Malformed header line 10");
    // Enough is left to answer it.
    assert!(
        ResponseBuilder::reply_to(&m, 400, &r.reason, Some("x"))
            .build()
            .is_ok()
    );
}

#[test]
fn invalid_utf8_names_the_header() {
    let mut raw = OPTIONS.as_bytes().to_vec();
    let pos = raw.windows(7).position(|w| w == b"keep me").unwrap();
    raw[pos] = 0xff;
    let m = Message::parse(Bytes::from(raw)).unwrap();
    let r = m.check().unwrap_err();
    assert_eq!(r.status, 400);
    assert!(r.reason.contains("UTF-8"), "{}", r.reason);
}

#[test]
fn invalid_utf8_in_start_line() {
    let mut raw = OPTIONS.as_bytes().to_vec();
    raw[10] = 0xc3; // inside the Request-URI user part
    let m = Message::parse(Bytes::from(raw)).unwrap();
    let r = m.check().unwrap_err();
    assert_eq!(
        (r.status, r.reason.as_str()),
        (400, "Bad Start Line (invalid UTF-8)")
    );
}

#[test]
fn critical_header_errors_name_the_header() {
    for (from, to, needle) in [
        (
            "CSeq: 63104 OPTIONS",
            "CSeq: x OPTIONS",
            "Invalid CSeq header",
        ),
        (
            "Max-Forwards: 70",
            "Max-Forwards: 256",
            "Invalid Max-Forwards header",
        ),
        (
            "Call-ID: 3848276298220188511@example.com",
            "Call-ID: a b",
            "Invalid Call-ID header",
        ),
        (
            "To: <sip:bob@example.com>",
            "To: <sip:bob@example.com",
            "Invalid To header",
        ),
        (
            "From: Alice <sip:alice@example.com>;tag=9fxced76sl",
            "From: <sip:a@b>;tag=",
            "Invalid From header",
        ),
        (
            "Content-Length: 0",
            "Content-Length: 0\r\nl: 0",
            "Duplicate Content-Length header",
        ),
        (
            "Content-Length: 0",
            "Content-Length: 10",
            "Invalid Content-Length header",
        ),
        (
            "Content-Length: 0",
            "Content-Type: nonsense\r\nContent-Length: 0",
            "Invalid Content-Type header",
        ),
        ("To: <sip:bob@example.com>\r\n", "", "Missing To header"),
        (
            "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK74bf9;rport",
            "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK74bf9;rport, SIP/2.0 bad",
            "Invalid Via header",
        ),
        (
            "Max-Forwards: 70",
            "Max-Forwards: 70\r\nContact: *",
            "Invalid Contact header",
        ),
        (
            "sip:bob@example.com SIP",
            "sip:bob@example.com?subject=x SIP",
            "Invalid Request-URI",
        ),
    ] {
        let m = parse(&OPTIONS.replacen(from, to, 1));
        let r = m.check().unwrap_err();
        assert_eq!(r.status, 400, "{to}");
        assert!(r.reason.starts_with(needle), "{to}: {}", r.reason);
    }
}

#[test]
fn contact_star_only_for_register_with_expires_zero() {
    let reg = OPTIONS
        .replace("OPTIONS sip:bob@example.com", "REGISTER sip:example.com")
        .replace("63104 OPTIONS", "63104 REGISTER");
    let ok = parse(&reg.replace(
        "Max-Forwards: 70",
        "Max-Forwards: 70\r\nContact: *\r\nExpires: 0",
    ));
    assert!(ok.check().is_ok());
    assert_eq!(ok.typed::<Contact>().unwrap().unwrap(), Contact::Star);
    let bad = parse(&reg.replace(
        "Max-Forwards: 70",
        "Max-Forwards: 70\r\nContact: *\r\nExpires: 10",
    ));
    assert_eq!(bad.check().unwrap_err().status, 400);
}

#[test]
fn response_per_rfc3261_8_2_6() {
    let req = parse(OPTIONS);
    let resp = ResponseBuilder::reply_to(&req, 200, "OK", Some("abc"))
        .build()
        .unwrap();
    assert_eq!(resp.status(), Some(200));
    assert_eq!(resp.reason(), Some("OK"));
    assert_eq!(
        resp.header_lines(HeaderName::Via).collect::<Vec<_>>(),
        req.header_lines(HeaderName::Via).collect::<Vec<_>>()
    );
    assert_eq!(resp.from_tag(), req.from_tag());
    assert_eq!(resp.to_tag(), Some("abc"));
    assert_eq!(resp.call_id(), req.call_id());
    assert_eq!(resp.cseq(), Some((63104, Method::Options)));
    assert_eq!(resp.header(HeaderName::Timestamp), None);
    assert!(resp.check().is_ok());
    let trying = ResponseBuilder::reply_to(&req, 100, "Trying", Some("abc"))
        .build()
        .unwrap();
    assert_eq!(trying.to_tag(), None);
    assert_eq!(trying.header(HeaderName::Timestamp), Some("54"));
}

#[test]
fn builder_rejects_injection_and_reuses_buffer() {
    let err = RequestBuilder::new(Method::Options, "sip:a@b")
        .header_named("X-Evil", "a\r\nVia: injected")
        .build()
        .unwrap_err();
    assert_eq!(err, BuildError::HeaderValue("X-Evil".into()));
    assert!(matches!(
        RequestBuilder::new(Method::Options, "not a uri").build(),
        Err(BuildError::Uri(_))
    ));
    assert!(matches!(
        RequestBuilder::with_method("BAD METHOD", "sip:a@b").build(),
        Err(BuildError::Method(_))
    ));
    assert!(matches!(
        RequestBuilder::new(Method::Options, "sip:a@b")
            .header_named("Bad Name", "x")
            .build(),
        Err(BuildError::HeaderName(_))
    ));
    assert!(matches!(
        ResponseBuilder::new(99, "x").build(),
        Err(BuildError::Status(_))
    ));

    let mut buf = BytesMut::with_capacity(4096);
    let m = RequestBuilder::with_method("NEWMETHOD", "sip:a@b")
        .header(HeaderName::CSeq, "1 NEWMETHOD")
        .body("text/plain", Bytes::from_static(b"xyz"))
        .build_in(&mut buf)
        .unwrap();
    assert_eq!(m.method_str(), "NEWMETHOD");
    assert_eq!(m.content_length(), Some(3));
    assert_eq!(m.content_type().unwrap().subtype, "plain");
    assert!(buf.capacity() > 0);
}

#[test]
fn write_to_keeps_order_names_and_unknown_headers() {
    let m = parse(OPTIONS);
    let mut out = Vec::new();
    m.write_to(&mut out);
    assert_eq!(String::from_utf8(out).unwrap(), OPTIONS);
    let resp = parse("SIP/2.0 180 \r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nl: 0\r\n\r\n");
    assert_eq!(resp.reason(), Some(""));
    assert_eq!(Message::parse(resp.to_bytes()).unwrap(), resp);
}

#[test]
fn unfold_values() {
    assert_eq!(sofia_msg::unfold("a\r\n  b\r\n\tc"), "a b c");
    assert_eq!(sofia_msg::unfold("plain"), "plain");
    assert_eq!(sofia_msg::unfold("\r\n a \r\n"), "a");
}
