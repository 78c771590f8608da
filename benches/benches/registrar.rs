//! mod_sofia's registrar: `Registrar::handle_register` with MD5 digest
//! authentication (a refresh with right credentials, as a registrar sees
//! most REGISTERs; and the challenge of a REGISTER without credentials),
//! and `Registrar::contacts` among 100,000 bindings.

use std::hint::black_box;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use mod_sofia::registrar::{DefaultAcl, Registrar, RegistrarSettings};
use mod_sofia::store::Registration;
use sofia_iptsec::{AuthClient, MemoryStore};
use sofia_msg::{HeaderName, Message, Method, RequestBuilder};
use sofia_su::id::IdGenerator;
use sofia_tport::Transport;

fn register(user: &str, auth: &[(HeaderName, String)]) -> Message {
    let mut b = RequestBuilder::new(Method::Register, "sip:example.com")
        .header(
            HeaderName::Via,
            "SIP/2.0/UDP 192.0.2.7:5062;branch=z9hG4bKbench",
        )
        .header(HeaderName::MaxForwards, "70")
        .header(HeaderName::From, &format!("<sip:{user}@example.com>;tag=1"))
        .header(HeaderName::To, &format!("<sip:{user}@example.com>"))
        .header(HeaderName::CallId, &format!("{user}-bench@192.0.2.7"))
        .header(HeaderName::CSeq, "2 REGISTER")
        .header(HeaderName::Contact, &format!("<sip:{user}@192.0.2.7:5062>"))
        .header(HeaderName::Expires, "3600")
        .header(HeaderName::UserAgent, "bench/1.0");
    for (n, v) in auth {
        b = b.header(*n, v);
    }
    b.build().expect("valid REGISTER")
}

fn handle_register(c: &mut Criterion) {
    let mut group = c.benchmark_group("registrar");
    group.throughput(Throughput::Elements(1));
    let source: SocketAddr = "192.0.2.7:5062".parse().expect("address");
    let now = SystemTime::now();

    let mut dir = MemoryStore::new();
    dir.add_password("1000", None, "secret");
    let mut r = Registrar::new(RegistrarSettings::default(), dir, DefaultAcl);
    let first = register("1000", &[]);
    let challenge = r
        .handle_register(now, source, Transport::Udp, &first)
        .response
        .expect("a challenge");
    let mut client = AuthClient::with_ids(IdGenerator::with_seed(2));
    client.add_credentials(None, "1000", "secret");
    assert!(client.handle_response(&challenge).expect("answerable"));
    group.bench_function("register_md5_refresh", |b| {
        b.iter_batched(
            || {
                register(
                    "1000",
                    &client.authorize("REGISTER", "sip:example.com", b""),
                )
            },
            |req| {
                let out = r.handle_register(now, source, Transport::Udp, black_box(&req));
                assert_eq!(out.response.as_ref().and_then(|m| m.status()), Some(200));
                out
            },
            BatchSize::SmallInput,
        )
    });
    group.bench_function("register_challenge", |b| {
        b.iter_batched(
            || register("1000", &[]),
            |req| {
                let out = r.handle_register(now, source, Transport::Udp, black_box(&req));
                assert_eq!(out.response.as_ref().and_then(|m| m.status()), Some(401));
                out
            },
            BatchSize::SmallInput,
        )
    });

    // Lookups among 100,000 bindings.
    let mut r = Registrar::new(RegistrarSettings::default(), MemoryStore::new(), DefaultAcl);
    let base = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let rows: Vec<Registration> = (0..100_000)
        .map(|i| Registration {
            call_id: format!("c{i}"),
            sip_user: format!("u{i}"),
            sip_host: "example.com".into(),
            contact: format!(
                "\"\" <sip:u{i}@10.{}.{}.{}:5060>",
                i >> 16,
                (i >> 8) & 255,
                i & 255
            ),
            expires: base + 3600,
            profile_name: "internal".into(),
            ..Registration::default()
        })
        .collect();
    r.load(rows, SystemTime::now());
    let mut i = 0u32;
    group.bench_function("contacts_among_100k", |b| {
        b.iter(|| {
            i = (i + 7919) % 100_000;
            let user = format!("u{i}");
            let n = r.contacts(black_box(&user), "example.com").len();
            assert_eq!(n, 1);
            n
        })
    });
    let later = SystemTime::now() + Duration::from_secs(10);
    group.bench_function("sweep_nothing_due_100k", |b| {
        b.iter(|| r.sweep(black_box(later)).expired.len())
    });
    group.finish();
}

criterion_group!(benches, handle_register);
criterion_main!(benches);
