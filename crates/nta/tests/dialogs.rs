//! Dialog state (RFC 3261 §12): creation on both sides, routing of
//! in-dialog requests, matching, CSeq rules and target refresh.

use bytes::Bytes;
use sofia_msg::{HeaderName, Message, Method, RequestBuilder, ResponseBuilder};
use sofia_nta::dialog::{Dialog, DialogError, DialogState};

fn invite() -> Message {
    RequestBuilder::new(Method::Invite, "sip:bob@biloxi.example.com")
        .header(HeaderName::Via, "SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKd1")
        .header(HeaderName::RecordRoute, "<sip:p2.example.com;lr>")
        .header(HeaderName::RecordRoute, "<sip:p1.example.com;lr>")
        .header(
            HeaderName::From,
            "Alice <sip:alice@atlanta.example.com>;tag=a1",
        )
        .header(HeaderName::To, "Bob <sip:bob@biloxi.example.com>")
        .header(HeaderName::CallId, "dlg-1")
        .header(HeaderName::CSeq, "10 INVITE")
        .header(HeaderName::Contact, "<sip:alice@192.0.2.1>")
        .build()
        .unwrap()
}

fn ok(req: &Message, status: u16) -> Message {
    let mut b = ResponseBuilder::reply_to(req, status, "OK", Some("b1"))
        .header(HeaderName::Contact, "<sip:bob@192.0.2.4>");
    for rr in req.header_lines(HeaderName::RecordRoute) {
        b = b.header(HeaderName::RecordRoute, rr);
    }
    b.build().unwrap()
}

#[test]
fn uac_dialog_routes_through_the_reversed_record_route() {
    let req = invite();
    let mut d = Dialog::from_uac(&req, &ok(&req, 200)).unwrap();
    assert_eq!(d.state, DialogState::Confirmed);
    assert_eq!(d.id.local_tag, "a1");
    assert_eq!(d.id.remote_tag, "b1");
    assert_eq!(d.remote_target, "sip:bob@192.0.2.4");
    assert_eq!(
        d.route_set,
        vec!["<sip:p1.example.com;lr>", "<sip:p2.example.com;lr>"]
    );
    let bye = d
        .request(Method::Bye, "SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKd2", None)
        .build()
        .unwrap();
    assert_eq!(bye.request_uri_str(), Some("sip:bob@192.0.2.4"));
    assert_eq!(
        bye.header_lines(HeaderName::Route).collect::<Vec<_>>(),
        vec!["<sip:p1.example.com;lr>", "<sip:p2.example.com;lr>"]
    );
    assert_eq!(bye.cseq(), Some((11, Method::Bye)));
    assert_eq!((bye.from_tag(), bye.to_tag()), (Some("a1"), Some("b1")));
    assert!(bye.check().is_ok());
    // ACK takes the INVITE's number.
    let ack = d
        .request(
            Method::Ack,
            "SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKd3",
            Some(10),
        )
        .build()
        .unwrap();
    assert_eq!(ack.cseq(), Some((10, Method::Ack)));
}

#[test]
fn strict_router_goes_first_with_the_target_last() {
    let req = String::from_utf8(invite().to_bytes().to_vec())
        .unwrap()
        .replace("<sip:p1.example.com;lr>", "<sip:p1.example.com>");
    let req = Message::parse(Bytes::from(req)).unwrap();
    let mut d = Dialog::from_uac(&req, &ok(&req, 200)).unwrap();
    let (uri, routes) = d.request_target();
    assert_eq!(uri, "sip:p1.example.com");
    assert_eq!(
        routes,
        vec!["<sip:p2.example.com;lr>", "<sip:bob@192.0.2.4>"]
    );
    let bye = d
        .request(Method::Bye, "SIP/2.0/UDP h;branch=z9hG4bKs", None)
        .build()
        .unwrap();
    assert_eq!(bye.request_uri_str(), Some("sip:p1.example.com"));
}

#[test]
fn early_dialog_is_confirmed_by_2xx_and_target_refreshed() {
    let req = invite();
    let ringing = ok(&req, 180);
    let mut d = Dialog::from_uac(&req, &ringing).unwrap();
    assert_eq!(d.state, DialogState::Early);
    let refreshed = String::from_utf8(ok(&req, 200).to_bytes().to_vec())
        .unwrap()
        .replace("sip:bob@192.0.2.4", "sip:bob@192.0.2.99");
    d.on_response(&Message::parse(Bytes::from(refreshed)).unwrap());
    assert_eq!(d.state, DialogState::Confirmed);
    assert_eq!(d.remote_target, "sip:bob@192.0.2.99");
    // A response without a To tag cannot make a dialog.
    let no_tag = ResponseBuilder::reply_to(&req, 100, "Trying", None)
        .build()
        .unwrap();
    assert_eq!(
        Dialog::from_uac(&req, &no_tag).unwrap_err(),
        DialogError::Missing("To tag")
    );
}

#[test]
fn uas_dialog_matches_requests_and_enforces_cseq() {
    let req = invite();
    let mut d = Dialog::from_uas(&req, "b1", false).unwrap();
    assert_eq!(d.remote_seq, Some(10));
    assert_eq!(
        d.route_set,
        vec!["<sip:p2.example.com;lr>", "<sip:p1.example.com;lr>"]
    );
    assert_eq!(d.remote_target, "sip:alice@192.0.2.1");
    // The peer's BYE: From tag a1, To tag b1.
    let bye = RequestBuilder::new(Method::Bye, "sip:bob@192.0.2.4")
        .header(HeaderName::Via, "SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKb")
        .header(HeaderName::From, "<sip:alice@atlanta.example.com>;tag=a1")
        .header(HeaderName::To, "<sip:bob@biloxi.example.com>;tag=b1")
        .header(HeaderName::CallId, "dlg-1")
        .header(HeaderName::CSeq, "11 BYE")
        .build()
        .unwrap();
    assert!(d.matches(&bye));
    d.on_request(&bye).unwrap();
    assert_eq!(d.remote_seq, Some(11));
    let old = String::from_utf8(bye.to_bytes().to_vec())
        .unwrap()
        .replace("11 BYE", "5 BYE");
    let old = Message::parse(Bytes::from(old)).unwrap();
    assert_eq!(
        d.on_request(&old),
        Err(DialogError::OldCSeq { got: 5, last: 11 })
    );
    let other = String::from_utf8(bye.to_bytes().to_vec())
        .unwrap()
        .replace("tag=b1", "tag=zz");
    assert!(!d.matches(&Message::parse(Bytes::from(other)).unwrap()));
    // Our own request from this side uses our tag in From.
    let info = d
        .request(Method::Info, "SIP/2.0/UDP 192.0.2.4;branch=z9hG4bKi", None)
        .build()
        .unwrap();
    assert_eq!((info.from_tag(), info.to_tag()), (Some("b1"), Some("a1")));
    assert_eq!(info.request_uri_str(), Some("sip:alice@192.0.2.1"));
}
