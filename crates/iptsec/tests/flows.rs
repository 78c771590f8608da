//! The client against the server: every algorithm and qop, stale nonces,
//! replays, wrong passwords, realms and URIs, auth-int, the lock-out, both
//! challenges at once.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rand::SeedableRng;
use rand::rngs::StdRng;
use sofia_iptsec::{
    Algorithm, AuthClient, AuthModule, ChallengeKind, ClientError, Config, HashFamily, Lockout,
    MemoryStore, Qop, RealmPolicy, Refusal, Verdict, ha1,
};
use sofia_msg::{HeaderName, Message, Method, RequestBuilder};
use sofia_su::id::IdGenerator;

const SRC: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1));
const OTHER: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

fn t0() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_800_000_000)
}

fn config(algorithms: &[Algorithm], qop: &[Qop]) -> Config {
    Config {
        algorithms: algorithms.to_vec(),
        qop: qop.to_vec(),
        secret: Some([42; 32]),
        realm: RealmPolicy::Fixed("example.com".into()),
        ..Config::default()
    }
}

fn store() -> MemoryStore {
    let mut s = MemoryStore::new();
    s.add_password("alice", None, "secret");
    s
}

fn server(config: Config) -> AuthModule<MemoryStore> {
    AuthModule::with_rng(config, store(), StdRng::seed_from_u64(1))
}

fn client(password: &str) -> AuthClient {
    let mut c = AuthClient::with_ids(IdGenerator::with_seed(2));
    c.add_credentials(Some("example.com"), "alice", password);
    c
}

fn request(method: Method, uri: &str, auth: &[(HeaderName, String)], body: &str) -> Message {
    let mut b = RequestBuilder::new(method, uri)
        .header(HeaderName::Via, "SIP/2.0/UDP 127.0.0.1;branch=z9hG4bKx")
        .header(HeaderName::MaxForwards, "70")
        .header(HeaderName::From, "<sip:alice@atlanta.example.com>;tag=1")
        .header(HeaderName::To, "<sip:bob@biloxi.example.com>")
        .header(HeaderName::CallId, "c1")
        .header(HeaderName::CSeq, &format!("1 {}", method.as_str()));
    for (name, value) in auth {
        b = b.header(*name, value);
    }
    if !body.is_empty() {
        b = b.body("application/sdp", body.to_string());
    }
    b.build().unwrap()
}

fn register(auth: &[(HeaderName, String)]) -> Message {
    request(Method::Register, "sip:example.com", auth, "")
}

/// Sends `req` to the server, lets the client take the challenge, and
/// returns the retried request's verdict.
fn challenge_and_answer(
    server: &mut AuthModule<MemoryStore>,
    client: &mut AuthClient,
    now: SystemTime,
) -> Verdict {
    let first = register(&[]);
    let v = server.verify(now, SRC, &first);
    assert!(
        matches!(
            v,
            Verdict::Challenge {
                why: Refusal::NoCredentials,
                ..
            }
        ),
        "{v:?}"
    );
    let resp = v.response(&first, Some("t")).unwrap().unwrap();
    assert!(client.handle_response(&resp).unwrap());
    let second = register(&client.authorize("REGISTER", "sip:example.com", b""));
    server.verify(now, SRC, &second)
}

/// The server's answer to `req` at `t0()`, from `SRC` (a refusal).
fn reply(s: &mut AuthModule<MemoryStore>, req: &Message) -> Message {
    s.verify(t0(), SRC, req)
        .response(req, None)
        .unwrap()
        .unwrap()
}

fn challenges(v: &Verdict) -> &[String] {
    match v {
        Verdict::Challenge { challenges, .. } => challenges,
        other => panic!("not a challenge: {other:?}"),
    }
}

#[test]
fn every_algorithm_and_qop() {
    for alg in Algorithm::ALL {
        for qop in [&[][..], &[Qop::Auth][..], &[Qop::AuthInt][..]] {
            let mut s = server(config(&[alg], qop));
            let mut c = client("secret");
            let body = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\n";
            let first = request(Method::Invite, "sip:bob@example.com", &[], body);
            let v = s.verify(t0(), SRC, &first);
            let resp = v.response(&first, None).unwrap().unwrap();
            assert_eq!(resp.status(), Some(401));
            let ch = resp.header(HeaderName::WwwAuthenticate).unwrap();
            assert!(ch.contains(&format!("algorithm={}", alg.name())), "{ch}");
            assert!(c.handle_response(&resp).unwrap());
            let auth = c.authorize("INVITE", "sip:bob@example.com", body.as_bytes());
            let (name, value) = &auth[0];
            assert_eq!(*name, HeaderName::Authorization);
            match qop.first() {
                Some(q) => assert!(value.contains(&format!("qop={}", q.name())), "{value}"),
                None => assert!(!value.contains("qop="), "{value}"),
            }
            let second = request(Method::Invite, "sip:bob@example.com", &auth, body);
            assert_eq!(
                s.verify(t0(), SRC, &second),
                Verdict::Authorized {
                    username: "alice".into(),
                    realm: "example.com".into(),
                    algorithm: alg
                },
                "{alg} {qop:?}"
            );
        }
    }
}

#[test]
fn one_challenge_per_algorithm_and_the_client_picks_the_strongest() {
    let mut s = server(config(&Algorithm::ALL, &[Qop::Auth, Qop::AuthInt]));
    let req = register(&[]);
    let v = s.verify(t0(), SRC, &req);
    assert_eq!(challenges(&v).len(), 6);
    assert!(challenges(&v)[0].contains("qop=\"auth,auth-int\""));
    let resp = v.response(&req, None).unwrap().unwrap();
    assert_eq!(resp.header_lines(HeaderName::WwwAuthenticate).count(), 6);

    let mut c = client("secret");
    assert!(c.handle_response(&resp).unwrap());
    let auth = c.authorize("REGISTER", "sip:example.com", b"");
    assert!(
        auth[0].1.contains("algorithm=SHA-512-256,"),
        "{}",
        auth[0].1
    );
    assert!(auth[0].1.contains("qop=auth,"), "{}", auth[0].1);
    assert!(matches!(
        s.verify(t0(), SRC, &register(&auth)),
        Verdict::Authorized {
            algorithm: Algorithm::Sha512_256,
            ..
        }
    ));

    // A client limited to MD5 (as sofia-sip's) answers the MD5 challenge.
    let v = s.verify(t0(), SRC, &req);
    let resp = v.response(&req, None).unwrap().unwrap();
    let mut md5 = client("secret");
    md5.set_algorithms(&[Algorithm::Md5]);
    assert!(md5.handle_response(&resp).unwrap());
    let auth = md5.authorize("REGISTER", "sip:example.com", b"");
    assert!(auth[0].1.contains("algorithm=MD5,"), "{}", auth[0].1);
    assert!(matches!(
        s.verify(t0(), SRC, &register(&auth)),
        Verdict::Authorized {
            algorithm: Algorithm::Md5,
            ..
        }
    ));

    // Nothing in common.
    let mut s = server(config(&[Algorithm::Sha256], &[Qop::Auth]));
    let v = s.verify(t0(), SRC, &req);
    let resp = v.response(&req, None).unwrap().unwrap();
    assert!(matches!(
        md5.handle_response(&resp),
        Err(ClientError::Unsupported { .. })
    ));
}

#[test]
fn later_requests_reuse_the_nonce_with_a_growing_count() {
    let mut s = server(config(&[Algorithm::Sha256], &[Qop::Auth]));
    let mut c = client("secret");
    assert!(challenge_and_answer(&mut s, &mut c, t0()).is_allowed());
    for n in 2..=5u32 {
        let auth = c.authorize("REGISTER", "sip:example.com", b"");
        assert!(auth[0].1.contains(&format!("nc={n:08x}")), "{}", auth[0].1);
        assert!(s.verify(t0(), SRC, &register(&auth)).is_allowed());
    }
    assert_eq!(s.tracked_nonces(), 1);
}

#[test]
fn stale_nonce_gets_stale_true_and_one_retry() {
    let cfg = Config {
        nonce_ttl: Duration::from_secs(30),
        ..config(&[Algorithm::Md5], &[Qop::Auth])
    };
    let mut s = server(cfg);
    let mut c = client("secret");
    assert!(challenge_and_answer(&mut s, &mut c, t0()).is_allowed());
    // A response that is not a challenge ends the retry count.
    let ok = sofia_msg::ResponseBuilder::reply_to(&register(&[]), 200, "OK", Some("t"))
        .build()
        .unwrap();
    assert!(!c.handle_response(&ok).unwrap());

    let later = t0() + Duration::from_secs(31);
    let req = register(&c.authorize("REGISTER", "sip:example.com", b""));
    let v = s.verify(later, SRC, &req);
    assert!(
        matches!(
            v,
            Verdict::Challenge {
                why: Refusal::StaleNonce,
                ..
            }
        ),
        "{v:?}"
    );
    assert!(challenges(&v)[0].contains("stale=true"));
    let resp = v.response(&req, None).unwrap().unwrap();
    assert!(c.handle_response(&resp).unwrap(), "retried once on stale");
    let req = register(&c.authorize("REGISTER", "sip:example.com", b""));
    assert!(s.verify(later, SRC, &req).is_allowed());

    // Stale twice in a row without a success between: give up.
    let much_later = later + Duration::from_secs(31);
    let req = register(&c.authorize("REGISTER", "sip:example.com", b""));
    let v = s.verify(much_later, SRC, &req);
    let resp = v.response(&req, None).unwrap().unwrap();
    assert_eq!(
        c.handle_response(&resp),
        Err(ClientError::StaleAgain {
            realm: "example.com".into()
        })
    );
    // A stale nonce with a wrong password is a failure, not stale.
    let mut wrong = client("guess");
    let first = register(&[]);
    let resp = reply(&mut s, &first);
    wrong.handle_response(&resp).unwrap();
    let req = register(&wrong.authorize("REGISTER", "sip:example.com", b""));
    assert!(matches!(
        s.verify(later, SRC, &req),
        Verdict::Challenge {
            why: Refusal::WrongResponse,
            ..
        }
    ));
}

#[test]
fn replayed_or_lower_nonce_counts_are_refused() {
    let mut s = server(config(&[Algorithm::Md5], &[Qop::Auth]));
    let mut c = client("secret");
    assert!(challenge_and_answer(&mut s, &mut c, t0()).is_allowed());
    let auth2 = c.authorize("REGISTER", "sip:example.com", b"");
    let auth3 = c.authorize("REGISTER", "sip:example.com", b"");
    assert!(s.verify(t0(), SRC, &register(&auth3)).is_allowed());
    // The same request again, and an older count.
    for replay in [&auth3, &auth2] {
        let v = s.verify(t0(), SRC, &register(replay));
        assert!(
            matches!(
                v,
                Verdict::Challenge {
                    why: Refusal::Replay,
                    ..
                }
            ),
            "{v:?}"
        );
    }
}

#[test]
fn wrong_password_is_rejected_and_the_client_stops() {
    let mut s = server(config(&[Algorithm::Sha256], &[Qop::Auth]));
    let mut c = client("wrong");
    let v = challenge_and_answer(&mut s, &mut c, t0());
    assert!(
        matches!(
            v,
            Verdict::Challenge {
                why: Refusal::WrongResponse,
                ..
            }
        ),
        "{v:?}"
    );
    let resp = v.response(&register(&[]), None).unwrap().unwrap();
    assert_eq!(
        c.handle_response(&resp),
        Err(ClientError::Rejected {
            realm: "example.com".into()
        })
    );
    // FreeSWITCH's answer instead: 403.
    let cfg = Config {
        forbid_wrong_credentials: true,
        ..config(&[Algorithm::Sha256], &[Qop::Auth])
    };
    let mut s = server(cfg);
    let v = challenge_and_answer(&mut s, &mut client("wrong"), t0());
    assert_eq!(
        v,
        Verdict::Forbidden {
            why: Refusal::WrongResponse
        }
    );
    assert_eq!(v.status(), Some((403, "Forbidden")));
    // Unknown user.
    let mut bob = AuthClient::with_ids(IdGenerator::with_seed(3));
    bob.add_credentials(None, "bob", "secret");
    let v = challenge_and_answer(&mut s, &mut bob, t0());
    assert_eq!(
        v,
        Verdict::Forbidden {
            why: Refusal::UnknownUser
        }
    );
}

#[test]
fn wrong_realm() {
    // The client has credentials for another realm only.
    let mut s = server(config(&[Algorithm::Md5], &[Qop::Auth]));
    let mut c = AuthClient::new();
    c.add_credentials(Some("elsewhere.org"), "alice", "secret");
    let req = register(&[]);
    let resp = reply(&mut s, &req);
    assert_eq!(
        c.handle_response(&resp),
        Err(ClientError::NoCredentials {
            realm: "example.com".into()
        })
    );
    // Credentials computed for another realm are not looked at: challenge.
    let mut other = server(Config {
        realm: RealmPolicy::Fixed("elsewhere.org".into()),
        ..config(&[Algorithm::Md5], &[Qop::Auth])
    });
    let mut c = client("secret");
    c.add_credentials(Some("elsewhere.org"), "alice", "secret");
    let resp = reply(&mut other, &req);
    assert!(c.handle_response(&resp).unwrap());
    let auth = c.authorize("REGISTER", "sip:example.com", b"");
    assert!(matches!(
        s.verify(t0(), SRC, &register(&auth)),
        Verdict::Challenge {
            why: Refusal::NoCredentials,
            ..
        }
    ));
}

#[test]
fn wrong_uri_is_400() {
    let mut s = server(config(&[Algorithm::Md5], &[Qop::Auth]));
    let mut c = client("secret");
    let first = register(&[]);
    let resp = reply(&mut s, &first);
    c.handle_response(&resp).unwrap();
    let auth = c.authorize("REGISTER", "sip:elsewhere.org", b"");
    match s.verify(t0(), SRC, &register(&auth)) {
        Verdict::BadRequest { reason } => {
            assert_eq!(
                reason,
                "Bad Authorization header: uri does not match the Request-URI"
            )
        }
        v => panic!("{v:?}"),
    }
    // An equivalent URI (RFC 3261 §19.1.4) is the same URI.
    let auth = c.authorize("REGISTER", "sip:EXAMPLE.com", b"");
    assert!(s.verify(t0(), SRC, &register(&auth)).is_allowed());
}

#[test]
fn auth_int_protects_the_body() {
    let mut s = server(config(&[Algorithm::Sha256], &[Qop::AuthInt]));
    let mut c = client("secret");
    let body = "v=0\r\ns=-\r\n";
    let first = request(Method::Invite, "sip:bob@example.com", &[], body);
    let resp = reply(&mut s, &first);
    c.handle_response(&resp).unwrap();
    let auth = c.authorize("INVITE", "sip:bob@example.com", body.as_bytes());
    assert!(auth[0].1.contains("qop=auth-int"));
    let tampered = request(
        Method::Invite,
        "sip:bob@example.com",
        &auth,
        "v=0\r\ns=x\r\n",
    );
    assert!(matches!(
        s.verify(t0(), SRC, &tampered),
        Verdict::Challenge {
            why: Refusal::WrongResponse,
            ..
        }
    ));
    let auth = c.authorize("INVITE", "sip:bob@example.com", body.as_bytes());
    let good = request(Method::Invite, "sip:bob@example.com", &auth, body);
    assert!(s.verify(t0(), SRC, &good).is_allowed());
}

#[test]
fn lockout_after_too_many_failures() {
    let cfg = Config {
        lockout: Some(Lockout {
            max_failures: 3,
            window: Duration::from_secs(60),
            cooldown: Duration::from_secs(120),
            max_sources: 16,
        }),
        ..config(&[Algorithm::Md5], &[Qop::Auth])
    };
    let mut s = server(cfg);
    let now = t0();
    for i in 0..3 {
        let v = challenge_and_answer(&mut s, &mut client("guess"), now);
        assert!(
            matches!(
                v,
                Verdict::Challenge {
                    why: Refusal::WrongResponse,
                    ..
                }
            ),
            "try {i}"
        );
    }
    let v = challenge_and_answer(&mut s, &mut client("guess"), now);
    assert_eq!(
        v,
        Verdict::Forbidden {
            why: Refusal::LockedOut
        }
    );
    assert!(s.is_locked_out(now, SRC));
    // While locked out even the right password gets 403 ...
    let req = register(&[]);
    assert_eq!(
        s.verify(now + Duration::from_secs(119), SRC, &req),
        Verdict::Forbidden {
            why: Refusal::LockedOut
        }
    );
    // ... other sources are not affected ...
    assert!(matches!(
        s.verify(now, OTHER, &req),
        Verdict::Challenge { .. }
    ));
    // ... and after the cooling period the source is served again.
    let later = now + Duration::from_secs(121);
    assert!(!s.is_locked_out(later, SRC));
    assert!(challenge_and_answer(&mut s, &mut client("secret"), later).is_allowed());
    // Failures spread wider than the window never lock out.
    let mut t = later;
    for _ in 0..10 {
        t += Duration::from_secs(61);
        let v = challenge_and_answer(&mut s, &mut client("guess"), t);
        assert!(matches!(v, Verdict::Challenge { .. }), "{v:?}");
    }
}

#[test]
fn lockout_memory_is_bounded() {
    let cfg = Config {
        lockout: Some(Lockout {
            max_sources: 8,
            ..Lockout::default()
        }),
        ..config(&[Algorithm::Md5], &[Qop::Auth])
    };
    let mut s = server(cfg);
    let mut c = client("guess");
    let first = register(&[]);
    let resp = reply(&mut s, &first);
    c.handle_response(&resp).unwrap();
    for i in 0..100u8 {
        let auth = c.authorize("REGISTER", "sip:example.com", b"");
        let src = IpAddr::V4(Ipv4Addr::new(10, 0, 0, i));
        s.verify(t0(), src, &register(&auth));
    }
    assert!(s.tracked_sources() <= 8);
}

#[test]
fn ack_and_cancel_are_never_challenged() {
    let mut s = server(config(&[Algorithm::Md5], &[Qop::Auth]));
    for m in [Method::Ack, Method::Cancel] {
        assert_eq!(
            s.verify(t0(), SRC, &request(m, "sip:bob@example.com", &[], "")),
            Verdict::Exempt
        );
    }
}

#[test]
fn proxy_and_uas_challenges_together() {
    let mut proxy = server(Config {
        kind: ChallengeKind::Proxy,
        realm: RealmPolicy::Fixed("proxy.example.net".into()),
        ..config(&[Algorithm::Sha256], &[Qop::Auth])
    });
    let mut uas = server(config(&[Algorithm::Md5], &[Qop::Auth]));
    let mut c = client("secret");
    c.add_credentials(Some("proxy.example.net"), "alice-p", "proxy-secret");
    proxy
        .store_mut()
        .add_password("alice-p", Some("proxy.example.net"), "proxy-secret");

    let req = request(Method::Invite, "sip:bob@example.com", &[], "");
    let p = proxy.verify(t0(), SRC, &req);
    let u = uas.verify(t0(), SRC, &req);
    // One 407 carrying both kinds of challenge, as a forking proxy
    // aggregates them (RFC 3261 §16.7).
    let mut b =
        sofia_msg::ResponseBuilder::reply_to(&req, 407, "Proxy Authentication Required", None);
    for ch in challenges(&p) {
        b = b.header(HeaderName::ProxyAuthenticate, ch);
    }
    for ch in challenges(&u) {
        b = b.header(HeaderName::WwwAuthenticate, ch);
    }
    let both = b.build().unwrap();
    assert!(c.handle_response(&both).unwrap());
    let auth = c.authorize("INVITE", "sip:bob@example.com", b"");
    assert_eq!(auth.len(), 2);
    assert!(
        auth.iter()
            .any(|(n, v)| *n == HeaderName::ProxyAuthorization
                && v.contains("realm=\"proxy.example.net\"")
                && v.contains("SHA-256"))
    );
    assert!(auth.iter().any(|(n, v)| *n == HeaderName::Authorization
        && v.contains("realm=\"example.com\"")
        && v.contains("MD5")));
    let req = request(Method::Invite, "sip:bob@example.com", &auth, "");
    assert!(proxy.verify(t0(), SRC, &req).is_allowed());
    assert!(uas.verify(t0(), SRC, &req).is_allowed());
}

#[test]
fn malformed_credentials_are_400_naming_the_header() {
    let mut s = server(config(&[Algorithm::Md5], &[Qop::Auth]));
    let cases = [
        (
            "Digest realm=\"example.com\", username=\"alice\"",
            "Bad Authorization header: no nonce",
        ),
        (
            "Digest realm=\"example.com\", nonce=\"x\", uri=\"sip:example.com\", response=\"0\"",
            "Bad Authorization header: no username",
        ),
        (
            "Digest realm=\"example.com\", username=\"alice\", nonce=\"x\", uri=\"sip:example.com\", response=\"0\", qop=auth",
            "Bad Authorization header: no cnonce",
        ),
        (
            "Digest realm=\"example.com\", username=\"alice\", nonce=\"x\", uri=\"sip:example.com\", response=\"0\", qop=auth, cnonce=\"c\", nc=zz",
            "Bad Authorization header: no valid nc",
        ),
        (
            "Digest realm=\"example.com\", username=\"alice\", nonce=\"x\", uri=\"sip:example.com\", response=\"0\", qop=auth-conf, cnonce=\"c\", nc=1",
            "Bad Authorization header: qop not offered",
        ),
    ];
    for (value, reason) in cases {
        let req = register(&[(HeaderName::Authorization, value.to_string())]);
        assert_eq!(
            s.verify(t0(), SRC, &req),
            Verdict::BadRequest {
                reason: reason.into()
            },
            "{value}"
        );
    }
    let req = register(&[(
        HeaderName::Authorization,
        "Digest realm=\"unterminated".into(),
    )]);
    match s.verify(t0(), SRC, &req) {
        Verdict::BadRequest { reason } => {
            assert!(reason.starts_with("Bad Authorization header: "), "{reason}")
        }
        v => panic!("{v:?}"),
    }
    // A forged nonce with a well-formed header: challenged, counted.
    let req = register(&[(
        HeaderName::Authorization,
        "Digest realm=\"example.com\", username=\"alice\", nonce=\"00\", uri=\"sip:example.com\", response=\"00\"".into(),
    )]);
    assert!(matches!(
        s.verify(t0(), SRC, &req),
        Verdict::Challenge {
            why: Refusal::InvalidNonce,
            ..
        }
    ));
}

#[test]
fn precomputed_ha1_serves_its_family_only() {
    let mut store = MemoryStore::new();
    store.add_ha1(
        "alice",
        "example.com",
        HashFamily::Md5,
        &ha1(HashFamily::Md5, "alice", "example.com", "secret"),
    );
    for (alg, ok) in [
        (Algorithm::Md5, true),
        (Algorithm::Md5Sess, true),
        (Algorithm::Sha256, false),
    ] {
        let mut s = AuthModule::with_rng(
            config(&[alg], &[Qop::Auth]),
            store.clone(),
            StdRng::seed_from_u64(5),
        );
        let v = challenge_and_answer(&mut s, &mut client("secret"), t0());
        assert_eq!(v.is_allowed(), ok, "{alg}: {v:?}");
    }
}

#[test]
fn realm_policies() {
    let req = register(&[]);
    for (policy, realm) in [
        (
            RealmPolicy::from_setting("auto_from"),
            "atlanta.example.com",
        ),
        (RealmPolicy::from_setting("auto_to"), "biloxi.example.com"),
        (
            RealmPolicy::from_setting("sip.example.org"),
            "sip.example.org",
        ),
    ] {
        let mut s = server(Config {
            realm: policy,
            ..config(&[Algorithm::Md5], &[Qop::Auth])
        });
        let v = s.verify(t0(), SRC, &req);
        assert!(
            challenges(&v)[0].starts_with(&format!("Digest realm=\"{realm}\"")),
            "{v:?}"
        );
    }
}

#[test]
fn nonce_table_is_bounded_and_forgotten_nonces_are_stale() {
    let mut s = server(Config {
        max_nonces: 2,
        ..config(&[Algorithm::Md5], &[Qop::Auth])
    });
    let mut first = client("secret");
    assert!(challenge_and_answer(&mut s, &mut first, t0()).is_allowed());
    for seed in 10..13 {
        let mut c = AuthClient::with_ids(IdGenerator::with_seed(seed));
        c.add_credentials(None, "alice", "secret");
        assert!(challenge_and_answer(&mut s, &mut c, t0()).is_allowed());
        assert!(s.tracked_nonces() <= 2);
    }
    // The first client's nonce was forgotten: stale, so it gets a new one.
    let auth = first.authorize("REGISTER", "sip:example.com", b"");
    let v = s.verify(t0(), SRC, &register(&auth));
    assert!(
        matches!(
            v,
            Verdict::Challenge {
                why: Refusal::StaleNonce,
                ..
            }
        ),
        "{v:?}"
    );
}

#[test]
fn opaque_is_echoed_and_checked() {
    let mut s = server(Config {
        opaque: Some("5ccc069c403ebaf9f0171e9517f40e41".into()),
        ..config(&[Algorithm::Md5], &[Qop::Auth])
    });
    let mut c = client("secret");
    let first = register(&[]);
    let resp = reply(&mut s, &first);
    c.handle_response(&resp).unwrap();
    let auth = c.authorize("REGISTER", "sip:example.com", b"");
    assert!(
        auth[0]
            .1
            .contains("opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"")
    );
    assert!(s.verify(t0(), SRC, &register(&auth)).is_allowed());
    let auth = c.authorize("REGISTER", "sip:example.com", b"");
    let forged = auth[0].1.replace("5ccc069c", "00000000");
    assert!(matches!(
        s.verify(t0(), SRC, &register(&[(HeaderName::Authorization, forged)])),
        Verdict::Challenge {
            why: Refusal::WrongOpaque,
            ..
        }
    ));
}

#[test]
fn next_nonce_from_authentication_info() {
    let mut s = server(config(&[Algorithm::Md5], &[Qop::Auth]));
    let mut c = client("secret");
    assert!(challenge_and_answer(&mut s, &mut c, t0()).is_allowed());
    let next = s.challenge(t0(), &register(&[]));
    let nonce = challenges(&next)[0]
        .split("nonce=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap()
        .to_string();
    let ok = sofia_msg::ResponseBuilder::reply_to(&register(&[]), 200, "OK", Some("t"))
        .header(
            HeaderName::AuthenticationInfo,
            &format!("nextnonce=\"{nonce}\""),
        )
        .build()
        .unwrap();
    assert!(!c.handle_response(&ok).unwrap());
    let auth = c.authorize("REGISTER", "sip:example.com", b"");
    assert!(auth[0].1.contains(&nonce));
    assert!(auth[0].1.contains("nc=00000001"));
    assert!(s.verify(t0(), SRC, &register(&auth)).is_allowed());
}
