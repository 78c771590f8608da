//! IPTSEC_DEBUG=5 logs challenges and verdicts, never a password or an HA1;
//! lock-outs are logged at level 3.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, SystemTime};

use sofia_iptsec::{
    Algorithm, AuthClient, AuthModule, Config, HashFamily, Lockout, MemoryStore, Qop, RealmPolicy,
    ha1,
};
use sofia_msg::{HeaderName, Message, Method, RequestBuilder};
use sofia_su::log::{REGISTRY, captured};

fn register(auth: &[(HeaderName, String)]) -> Message {
    let mut b = RequestBuilder::new(Method::Register, "sip:example.com")
        .header(HeaderName::Via, "SIP/2.0/UDP 127.0.0.1;branch=z9hG4bKx")
        .header(HeaderName::From, "<sip:alice@example.com>;tag=1")
        .header(HeaderName::To, "<sip:alice@example.com>")
        .header(HeaderName::CallId, "c1")
        .header(HeaderName::CSeq, "1 REGISTER");
    for (n, v) in auth {
        b = b.header(*n, v);
    }
    b.build().unwrap()
}

/// One flow: challenge, success, a wrong password until lock-out.
fn flow() {
    let mut store = MemoryStore::new();
    store.add_password("alice", None, "pw-Sesame-Street");
    let mut s = AuthModule::new(
        Config {
            algorithms: vec![Algorithm::Md5],
            qop: vec![Qop::Auth],
            realm: RealmPolicy::Fixed("example.com".into()),
            lockout: Some(Lockout {
                max_failures: 1,
                ..Lockout::default()
            }),
            ..Config::default()
        },
        store,
    );
    let src = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let now = SystemTime::now();
    for password in ["pw-Sesame-Street", "pw-wrong-guess", "pw-wrong-guess"] {
        let mut c = AuthClient::new();
        c.add_credentials(None, "alice", password);
        let req = register(&[]);
        let resp = s
            .verify(now, src, &req)
            .response(&req, None)
            .unwrap()
            .unwrap();
        let _ = c.handle_response(&resp);
        let req = register(&c.authorize("REGISTER", "sip:example.com", b""));
        let v = s.verify(now + Duration::from_secs(1), src, &req);
        if let Some(r) = v.response(&req, None) {
            let _ = c.handle_response(&r.unwrap());
        }
    }
}

// One test function: the global registry is shared by every test in a binary.
#[test]
fn levels_and_secrets() {
    REGISTRY.set_level("iptsec", 5).unwrap();
    let out = captured(flow);
    assert!(
        out.contains("iptsec: challenge 401 realm=\"example.com\""),
        "{out}"
    );
    assert!(out.contains("iptsec: authorized \"alice\""), "{out}");
    assert!(out.contains("wrong response"), "{out}");
    assert!(out.contains("locked out for 300 s"), "{out}");
    for secret in [
        "pw-Sesame-Street".to_string(),
        "pw-wrong-guess".to_string(),
        ha1(HashFamily::Md5, "alice", "example.com", "pw-Sesame-Street"),
    ] {
        assert!(!out.contains(&secret), "{secret} logged:\n{out}");
    }

    // At level 3 only the lock-out is logged.
    REGISTRY.set_level("iptsec", 3).unwrap();
    let out = captured(flow);
    assert!(!out.contains("challenge 401"), "{out}");
    assert!(out.contains("locked out"), "{out}");
}
