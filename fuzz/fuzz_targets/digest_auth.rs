//! Digest authentication headers from a peer: arbitrary text as the
//! `Authorization` of a REGISTER that sofia-iptsec's server verifies, and as
//! the `WWW-Authenticate` of a 401 that its client answers. Neither side may
//! panic, and the server never accepts made-up credentials.
#![no_main]

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, UNIX_EPOCH};

use libfuzzer_sys::fuzz_target;
use sofia_iptsec::{AuthClient, AuthModule, Config, MemoryStore};
use sofia_msg::{HeaderName, Method, RequestBuilder, ResponseBuilder};

fuzz_target!(|data: &[u8]| {
    let Ok(value) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(req) = RequestBuilder::new(Method::Register, "sip:example.com")
        .header(HeaderName::Via, "SIP/2.0/UDP 127.0.0.1;branch=z9hG4bKf")
        .header(HeaderName::From, "<sip:alice@example.com>;tag=1")
        .header(HeaderName::To, "<sip:alice@example.com>")
        .header(HeaderName::CallId, "fuzz")
        .header(HeaderName::CSeq, "1 REGISTER")
        .header(HeaderName::Authorization, value)
        .build()
    else {
        return;
    };
    let mut store = MemoryStore::new();
    store.add_password("alice", None, "secret");
    let config = Config {
        secret: Some([1; 32]),
        ..Config::default()
    };
    let mut server = AuthModule::new(config, store);
    let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let verdict = server.verify(now, IpAddr::V4(Ipv4Addr::LOCALHOST), &req);
    assert!(!verdict.is_allowed());

    if let Ok(resp) = ResponseBuilder::reply_to(&req, 401, "Unauthorized", None)
        .header(HeaderName::WwwAuthenticate, value)
        .build()
    {
        let mut client = AuthClient::new();
        client.add_credentials(None, "alice", "secret");
        if client.handle_response(&resp).is_ok() {
            let _ = client.authorize("REGISTER", "sip:example.com", b"");
        }
    }
});
