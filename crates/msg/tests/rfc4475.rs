//! RFC 4475's torture messages: what the parser and `check()` make of each,
//! against what the RFC's section 3 asks of a parser and a UAS.
//!
//! Where the RFC allows either rejecting or accepting (quotbal, ltgtruri,
//! lwsruri, lwsstart, trws, escruri, regbadct, badaspec, baddn), this parser
//! rejects with 400; it accepts baddate (the Date is not needed by a UAS) and
//! badbranch (RFC 2543 matching applies). Answers that depend on what the UAS
//! implements (501 for an unknown method, 415, 406, 405) belong to the layers
//! above and are not part of `check()`.

use bytes::Bytes;
use sofia_msg::{CheckPolicy, HeaderName, Message, Method};

fn load(name: &str) -> Bytes {
    let path = format!(
        "{}/tests/data/rfc4475/{name}.dat",
        env!("CARGO_MANIFEST_DIR")
    );
    Bytes::from(std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}")))
}

/// `Ok(())` or `Err((status, reason))` for a file.
fn verdict(name: &str) -> Result<(), (u16, String)> {
    match Message::parse(load(name)) {
        Err(e) => Err(e.status()),
        Ok(m) => m.check().map_err(|r| (r.status, r.reason)),
    }
}

const VALID: &[&str] = &[
    "wsinv",
    "intmeth",
    "esc01",
    "escnull",
    "esc02",
    "lwsdisp",
    "longreq",
    "dblreq",
    "semiuri",
    "transports",
    "mpart01",
    "unreason",
    "noreason",
    "badbranch",
    "zeromf",
    "cparam01",
    "cparam02",
    "regescrt",
    "sdp01",
    "invut",
    "regaut01",
    "bcast",
    "baddate",
    "inv2543",
];

/// (file, status, text the reason must contain)
const REJECTED: &[(&str, u16, &str)] = &[
    ("badinv01", 400, "Via"),
    ("clerr", 400, "Content-Length"),
    ("ncl", 400, "Content-Length"),
    ("scalar02", 400, "CSeq"),
    ("scalarlg", 400, "CSeq"),
    ("quotbal", 400, "To"),
    ("ltgtruri", 400, "Request-URI"),
    ("lwsruri", 400, "Request-URI"),
    ("lwsstart", 400, "Request-URI"),
    ("trws", 400, "Start Line"),
    ("escruri", 400, "Request-URI"),
    ("regbadct", 400, "Contact"),
    ("badaspec", 400, "To"),
    ("baddn", 400, "From"),
    ("badvers", 505, "Version Not Supported"),
    ("mismatch01", 400, "CSeq"),
    ("mismatch02", 501, "CSeq"),
    ("bigcode", 400, "status code"),
    ("insuf", 400, "Missing"),
    ("unkscm", 416, "Unsupported URI Scheme"),
    ("novelsc", 416, "Unsupported URI Scheme"),
    ("unksm2", 400, "To"),
    ("bext01", 420, "Bad Extension"),
    ("multi01", 400, "Duplicate"),
    ("mcl01", 400, "Content-Length"),
];

#[test]
fn every_file_is_covered_once() {
    let dir = format!("{}/tests/data/rfc4475", env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            e.unwrap()
                .file_name()
                .to_string_lossy()
                .trim_end_matches(".dat")
                .to_string()
        })
        .collect();
    files.sort();
    let mut covered: Vec<String> = VALID
        .iter()
        .map(|s| s.to_string())
        .chain(REJECTED.iter().map(|r| r.0.to_string()))
        .collect();
    covered.sort();
    assert_eq!(files.len(), 49);
    assert_eq!(files, covered);
}

#[test]
fn valid_messages_are_accepted() {
    for name in VALID {
        assert_eq!(verdict(name), Ok(()), "{name}");
    }
}

#[test]
fn invalid_messages_get_the_rfc_answer() {
    for (name, status, reason) in REJECTED {
        match verdict(name) {
            Ok(()) => panic!("{name}: accepted, expected {status}"),
            Err((s, r)) => {
                assert_eq!(s, *status, "{name}: {s} {r}");
                assert!(r.contains(reason), "{name}: reason {r:?} lacks {reason:?}");
                assert!(!r.contains(['\r', '\n']), "{name}: {r:?}");
            }
        }
    }
}

#[test]
fn every_parsed_message_round_trips() {
    for name in VALID.iter().chain(REJECTED.iter().map(|r| &r.0)) {
        let Ok(m) = Message::parse(load(name)) else {
            continue;
        };
        let again = Message::parse(m.to_bytes()).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(again, m, "{name}");
        assert_eq!(again.header_count(), m.header_count(), "{name}");
    }
}

#[test]
fn wsinv_details() {
    let m = Message::parse(load("wsinv")).unwrap();
    assert_eq!(m.method(), Method::Invite);
    assert_eq!(m.to_tag(), Some("1918181833n"));
    assert_eq!(m.from_tag(), Some("98asjd8"));
    assert_eq!(m.max_forwards(), Some(68));
    assert_eq!(m.cseq(), Some((9, Method::Invite)));
    assert_eq!(m.branch(), Some("390skdjuw"));
    assert_eq!(m.content_length(), Some(150));
    assert_eq!(m.body_bytes().len(), 150);
    let vias: Vec<_> = m
        .typed_all::<sofia_msg::headers::Via>()
        .map(Result::unwrap)
        .collect();
    assert_eq!(vias.len(), 3);
    assert_eq!(vias[1].transport(), "TCP");
    assert_eq!(vias[2].host(), "192.168.255.111");
    assert_eq!(vias[2].branch(), Some("z9hG4bK30239"));
    let contact = m.typed::<sofia_msg::headers::Contact>().unwrap().unwrap();
    let addr = contact.addr().unwrap();
    assert_eq!(addr.display_name().unwrap(), "Quoted string \"\"");
    assert_eq!(addr.q(), Some(330));
    assert_eq!(addr.params().get("newparam"), Some(Some("newvalue")));
    assert_eq!(
        m.header_lines_named("NewFangledHeader").next(),
        Some("newfangled value\r\n continued newfangled value")
    );
    assert_eq!(m.header_unfolded(HeaderName::Subject).as_deref(), Some(""));
    assert_eq!(
        m.header_lines_named("UnknownHeaderWithUnusualValue").next(),
        Some(";;,,;;,;")
    );
}

#[test]
fn esc02_unknown_method_and_header() {
    let m = Message::parse(load("esc02")).unwrap();
    assert_eq!(m.method(), Method::Other);
    assert_eq!(m.method_str(), "RE%47IST%45R");
    assert_eq!(m.typed_all::<sofia_msg::headers::Contact>().count(), 2);
    assert_eq!(m.header_lines_named("c%6fntact").count(), 1);
}

#[test]
fn dblreq_trailing_octets_are_ignored() {
    let m = Message::parse(load("dblreq")).unwrap();
    assert_eq!(m.method(), Method::Register);
    assert!(m.body_bytes().is_empty());
    assert!(!m.to_bytes().windows(6).any(|w| w == b"INVITE"));
}

#[test]
fn inv2543_body_is_rest_of_datagram() {
    let m = Message::parse(load("inv2543")).unwrap();
    assert_eq!(m.content_length(), None);
    assert_eq!(m.body_bytes().len(), 105);
    assert_eq!(m.from_tag(), None);
    assert!(!m.top_via().unwrap().has_rfc3261_branch());
}

#[test]
fn baddate_is_accepted_but_reported() {
    let m = Message::parse(load("baddate")).unwrap();
    assert!(m.check().is_ok());
    // Date's typed view rejects the EST time zone.
    let bad = m.malformed_headers();
    assert!(bad.iter().any(|(_, name, _)| *name == "Date"), "{bad:?}");
}

#[test]
fn bext01_lists_unsupported_tags_and_policy() {
    let m = Message::parse(load("bext01")).unwrap();
    let r = m.check().unwrap_err();
    assert_eq!(
        r.unsupported,
        vec!["nothingSupportsThis", "nothingSupportsThisEither"]
    );
    let supported = ["nothingSupportsThis", "nothingSupportsThisEither"];
    let policy = CheckPolicy {
        supported: &supported,
        proxy: false,
    };
    assert!(m.check_with(&policy).is_ok());
    let proxy = CheckPolicy {
        supported: &[],
        proxy: true,
    };
    let r = m.check_with(&proxy).unwrap_err();
    assert_eq!(r.status, 420);
    assert_eq!(
        r.unsupported,
        vec!["noProxiesSupportThis", "norDoAnyProxiesSupportThis"]
    );
}

#[test]
fn zeromf_is_483_only_for_a_proxy() {
    let m = Message::parse(load("zeromf")).unwrap();
    assert_eq!(m.max_forwards(), Some(0));
    assert!(m.check().is_ok());
    // OPTIONS with Max-Forwards 0 may be answered by the proxy itself.
    let proxy = CheckPolicy {
        supported: &[],
        proxy: true,
    };
    assert!(m.check_with(&proxy).is_ok());
    let invite = String::from_utf8(load("zeromf").to_vec())
        .unwrap()
        .replace("OPTIONS", "INVITE");
    let m = Message::parse(Bytes::from(invite)).unwrap();
    assert_eq!(m.check_with(&proxy).unwrap_err().status, 483);
}
