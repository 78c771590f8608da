//! Figures for mod_sofia's registrar at scale (printed, not a criterion
//! run): `cargo bench -p sofia-benches --bench registrar_scale`.
//!
//! 1. Sustained REGISTERs with digest authentication: 20,000 users each
//!    challenged then registered (MD5, `qop=auth`), every change written to
//!    SQLite through the background writer; prints the rate and the
//!    number of answers other than 401/200.
//! 2. 100,000 stored registrations: the time to write them to SQLite, to
//!    read them back at start and to index them; the RSS they add; and the
//!    latency of `contacts(user, domain)` lookups.

use std::net::SocketAddr;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use mod_sofia::registrar::{DefaultAcl, Registrar, RegistrarSettings};
use mod_sofia::store::{BackgroundStore, Registration, RegistrationStore, SqliteStore, StoreOp};
use sofia_iptsec::{AuthClient, MemoryStore};
use sofia_msg::{HeaderName, Message, Method, RequestBuilder};
use sofia_tport::Transport;

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn register(user: &str, auth: &[(HeaderName, String)]) -> Message {
    let mut b = RequestBuilder::new(Method::Register, "sip:example.com")
        .header(
            HeaderName::Via,
            "SIP/2.0/UDP 192.0.2.7:5062;branch=z9hG4bKscale",
        )
        .header(HeaderName::From, &format!("<sip:{user}@example.com>;tag=1"))
        .header(HeaderName::To, &format!("<sip:{user}@example.com>"))
        .header(HeaderName::CallId, &format!("{user}@192.0.2.7"))
        .header(HeaderName::CSeq, "1 REGISTER")
        .header(HeaderName::Contact, &format!("<sip:{user}@192.0.2.7:5062>"))
        .header(HeaderName::Expires, "3600");
    for (n, v) in auth {
        b = b.header(*n, v);
    }
    b.build().expect("valid REGISTER")
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is read.
    let dir = std::env::temp_dir().join(format!("sofia_registrar_scale_{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let source: SocketAddr = "192.0.2.7:5062".parse().expect("address");

    // 1. Sustained REGISTERs with digest auth, written to SQLite.
    const USERS: usize = 20_000;
    let mut directory = MemoryStore::new();
    for i in 0..USERS {
        directory.add_password(&format!("u{i}"), None, "secret");
    }
    let mut clients: Vec<AuthClient> = (0..USERS)
        .map(|i| {
            let mut c = AuthClient::new();
            c.add_credentials(None, &format!("u{i}"), "secret");
            c
        })
        .collect();
    let store = SqliteStore::open(&dir.join("sustained.db")).expect("open");
    let mut bg = BackgroundStore::spawn(store, 1024, 100_000, &[], 0).expect("writer");
    let mut r = Registrar::new(RegistrarSettings::default(), directory, DefaultAcl);
    let mut failures = 0usize;
    let mut ok = 0usize;
    let start = Instant::now();
    for (i, client) in clients.iter_mut().enumerate() {
        let user = format!("u{i}");
        let now = SystemTime::now();
        let out = r.handle_register(now, source, Transport::Udp, &register(&user, &[]));
        let Some(challenge) = out.response.filter(|m| m.status() == Some(401)) else {
            failures += 1;
            continue;
        };
        if client.handle_response(&challenge).ok() != Some(true) {
            failures += 1;
            continue;
        }
        let auth = client.authorize("REGISTER", "sip:example.com", b"");
        let out = r.handle_register(now, source, Transport::Udp, &register(&user, &auth));
        if out.response.as_ref().and_then(|m| m.status()) == Some(200) {
            ok += 1;
        } else {
            failures += 1;
        }
        bg.apply(out.store_ops).expect("queue");
    }
    let signalling = start.elapsed();
    bg.flush().expect("flush");
    let with_disk = start.elapsed();
    println!(
        "sustained: {ok} REGISTERs with digest auth (challenge + 200 each) in {:.3} s of signalling \
         = {:.0} registrations/s ({:.0} requests/s); all written to SQLite after {:.3} s; failures: {failures}; \
         writer overflows: {}",
        signalling.as_secs_f64(),
        ok as f64 / signalling.as_secs_f64(),
        2.0 * ok as f64 / signalling.as_secs_f64(),
        with_disk.as_secs_f64(),
        bg.stats()
            .overflows
            .load(std::sync::atomic::Ordering::Relaxed),
    );
    drop(bg);
    drop(r);
    drop(clients);

    // 2. 100,000 stored registrations.
    const N: usize = 100_000;
    let base = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let rows: Vec<Registration> = (0..N)
        .map(|i| Registration {
            call_id: format!("{:016x}-{i}@10.0.0.1", i * 7919),
            sip_user: format!("u{i}"),
            sip_host: "example.com".into(),
            presence_hosts: String::new(),
            contact: format!(
                "\"\" <sip:u{i}@10.{}.{}.{}:5060;fs_nat=yes;fs_path=sip%3Au{i}%40203.0.113.{}%3A{}>",
                i >> 16,
                (i >> 8) & 255,
                i & 255,
                i % 250,
                10_000 + i % 50_000
            ),
            status: "Registered(UDP-NAT)".into(),
            ping_status: "Reachable".into(),
            rpid: "unknown".into(),
            expires: base + 3600,
            user_agent: "Yealink SIP-T46S 66.86.0.15".into(),
            server_user: format!("u{i}"),
            server_host: "192.0.2.1".into(),
            profile_name: "internal".into(),
            hostname: "sofia-host".into(),
            network_ip: format!("203.0.113.{}", i % 250),
            network_port: (10_000 + i % 50_000).to_string(),
            sip_username: format!("u{i}"),
            sip_realm: "example.com".into(),
            mwi_user: format!("u{i}"),
            mwi_host: "example.com".into(),
            orig_server_host: "192.0.2.1".into(),
            orig_hostname: "sofia-host".into(),
            sub_host: "example.com".into(),
            ..Registration::default()
        })
        .collect();
    let path = dir.join("100k.db");
    let mut store = SqliteStore::open(&path).expect("open");
    let t = Instant::now();
    store
        .apply(
            rows.into_iter()
                .map(|r| StoreOp::Insert(Box::new(r)))
                .collect(),
        )
        .expect("write");
    let write = t.elapsed();
    drop(store);
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);

    let rss0 = rss_kib();
    let t = Instant::now();
    let mut store = SqliteStore::open(&path).expect("open");
    let rows = store.load("internal", base).expect("load");
    let read = t.elapsed();
    let t = Instant::now();
    let mut r = Registrar::new(RegistrarSettings::default(), MemoryStore::new(), DefaultAcl);
    let kept = r.load(rows, SystemTime::now());
    let index = t.elapsed();
    let rss1 = rss_kib();
    assert_eq!(kept, N);

    let mut lat: Vec<u64> = Vec::with_capacity(N);
    let users: Vec<String> = (0..N).map(|i| format!("u{}", (i * 7919) % N)).collect();
    let t = Instant::now();
    let mut found = 0;
    for u in &users {
        let s = Instant::now();
        found += r.contacts(u, "example.com").len();
        lat.push(s.elapsed().as_nanos() as u64);
    }
    let all = t.elapsed();
    assert_eq!(found, N);
    lat.sort_unstable();
    println!(
        "100k: write {N} rows to SQLite in {:.3} s (file {:.1} MiB); read at start {:.3} s; index {:.3} s; \
         RSS +{:.1} MiB ({} KiB -> {} KiB); contacts() lookups: mean {:.0} ns, p50 {} ns, p99 {} ns, max {} ns",
        write.as_secs_f64(),
        size as f64 / 1_048_576.0,
        read.as_secs_f64(),
        index.as_secs_f64(),
        (rss1.saturating_sub(rss0)) as f64 / 1024.0,
        rss0,
        rss1,
        all.as_nanos() as f64 / N as f64,
        percentile(&lat, 0.5),
        percentile(&lat, 0.99),
        lat.last().copied().unwrap_or(0),
    );
    let t = Instant::now();
    let c = r.count(None, "example.com");
    println!(
        "100k: count(None, domain) = {c} in {:.3} ms; sweep with nothing due in {} ns",
        t.elapsed().as_secs_f64() * 1e3,
        {
            let t = Instant::now();
            let n = r.sweep(SystemTime::now()).expired.len();
            assert_eq!(n, 0);
            t.elapsed().as_nanos()
        }
    );
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
}
