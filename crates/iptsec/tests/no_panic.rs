//! Whatever a peer writes in credentials or challenges, neither side panics.

use std::net::{IpAddr, Ipv4Addr};
use std::time::SystemTime;

use proptest::prelude::*;
use sofia_iptsec::{AuthClient, AuthModule, Config, MemoryStore, RealmPolicy};
use sofia_msg::{HeaderName, Method, RequestBuilder, ResponseBuilder};

fn params() -> impl Strategy<Value = String> {
    let name = prop_oneof![
        Just("username".to_string()),
        Just("realm".to_string()),
        Just("nonce".to_string()),
        Just("uri".to_string()),
        Just("response".to_string()),
        Just("algorithm".to_string()),
        Just("qop".to_string()),
        Just("nc".to_string()),
        Just("cnonce".to_string()),
        Just("opaque".to_string()),
        Just("stale".to_string()),
        "[a-z]{1,8}",
    ];
    let value = prop_oneof![
        "[ -~]{0,70}".prop_map(|v| format!("\"{}\"", v.replace(['"', '\\'], ""))),
        "[A-Za-z0-9-]{1,70}",
        Just("\"example.com\"".to_string()),
        Just("MD5".to_string()),
        Just("SHA-512-256-sess".to_string()),
        Just("auth-int".to_string()),
        Just("ffffffff".to_string()),
    ];
    proptest::collection::vec((name, value), 0..12).prop_map(|ps| {
        let list: Vec<String> = ps.into_iter().map(|(n, v)| format!("{n}={v}")).collect();
        format!("Digest {}", list.join(", "))
    })
}

proptest! {
    #[test]
    fn server_never_panics(value in prop_oneof![params(), "[ -~]{0,200}"]) {
        let mut store = MemoryStore::new();
        store.add_password("alice", None, "secret");
        let mut s = AuthModule::new(
            Config { realm: RealmPolicy::Fixed("example.com".into()), ..Config::default() },
            store,
        );
        let req = RequestBuilder::new(Method::Register, "sip:example.com")
            .header(HeaderName::Via, "SIP/2.0/UDP 127.0.0.1;branch=z9hG4bKx")
            .header(HeaderName::From, "<sip:alice@example.com>;tag=1")
            .header(HeaderName::To, "<sip:alice@example.com>")
            .header(HeaderName::CallId, "c1")
            .header(HeaderName::CSeq, "1 REGISTER")
            .header(HeaderName::Authorization, &value)
            .build();
        if let Ok(req) = req {
            let v = s.verify(SystemTime::now(), IpAddr::V4(Ipv4Addr::LOCALHOST), &req);
            prop_assert!(!v.is_allowed());
        }
    }

    #[test]
    fn client_never_panics(values in proptest::collection::vec(prop_oneof![params(), "[ -~]{0,200}"], 1..4)) {
        let req = RequestBuilder::new(Method::Register, "sip:example.com")
            .header(HeaderName::Via, "SIP/2.0/UDP 127.0.0.1;branch=z9hG4bKx")
            .header(HeaderName::From, "<sip:alice@example.com>;tag=1")
            .header(HeaderName::To, "<sip:alice@example.com>")
            .header(HeaderName::CallId, "c1")
            .header(HeaderName::CSeq, "1 REGISTER")
            .build()
            .unwrap();
        let mut b = ResponseBuilder::reply_to(&req, 401, "Unauthorized", None);
        for v in &values {
            b = b.header(HeaderName::WwwAuthenticate, v);
        }
        if let Ok(resp) = b.build() {
            let mut c = AuthClient::new();
            c.add_credentials(None, "alice", "secret");
            if c.handle_response(&resp).is_ok() {
                let _ = c.authorize("REGISTER", "sip:example.com", b"");
            }
        }
    }
}
