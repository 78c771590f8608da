//! Digest verification per second (sofia-iptsec's `AuthModule::verify`) for
//! MD5 and SHA-256 with `qop=auth`: a REGISTER with right credentials and a
//! fresh nonce count each time, as a registrar sees refreshes.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::time::SystemTime;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use rand::SeedableRng;
use rand::rngs::StdRng;
use sofia_iptsec::{Algorithm, AuthClient, AuthModule, Config, MemoryStore, Qop, RealmPolicy};
use sofia_msg::{HeaderName, Message, Method, RequestBuilder};
use sofia_su::id::IdGenerator;

fn register(auth: &[(HeaderName, String)]) -> Message {
    let mut b = RequestBuilder::new(Method::Register, "sip:example.com")
        .header(
            HeaderName::Via,
            "SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bKbench",
        )
        .header(HeaderName::MaxForwards, "70")
        .header(HeaderName::From, "<sip:alice@example.com>;tag=1")
        .header(HeaderName::To, "<sip:alice@example.com>")
        .header(HeaderName::CallId, "bench@127.0.0.1")
        .header(HeaderName::CSeq, "2 REGISTER")
        .header(HeaderName::Contact, "<sip:alice@127.0.0.1:5062>");
    for (n, v) in auth {
        b = b.header(*n, v);
    }
    b.build().expect("valid REGISTER")
}

fn verify(c: &mut Criterion) {
    let mut group = c.benchmark_group("verify");
    group.throughput(Throughput::Elements(1));
    let source = IpAddr::V4(Ipv4Addr::LOCALHOST);
    for alg in [Algorithm::Md5, Algorithm::Sha256] {
        let mut store = MemoryStore::new();
        store.add_password("alice", None, "secret");
        let config = Config {
            algorithms: vec![alg],
            qop: vec![Qop::Auth],
            realm: RealmPolicy::Fixed("example.com".into()),
            ..Config::default()
        };
        let mut server = AuthModule::with_rng(config, store, StdRng::seed_from_u64(1));
        let mut client = AuthClient::with_ids(IdGenerator::with_seed(2));
        client.add_credentials(None, "alice", "secret");
        let now = SystemTime::now();
        let first = register(&[]);
        let challenge = server
            .verify(now, source, &first)
            .response(&first, None)
            .expect("a challenge")
            .expect("valid 401");
        assert!(client.handle_response(&challenge).expect("answerable"));
        group.bench_function(alg.name(), |b| {
            b.iter_batched(
                || register(&client.authorize("REGISTER", "sip:example.com", b"")),
                |req| {
                    let v = server.verify(now, source, black_box(&req));
                    assert!(v.is_allowed());
                    v
                },
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, verify);
criterion_main!(benches);
