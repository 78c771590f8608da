//! End-to-end REGISTER load (printed figures, not a criterion run): SIPp
//! registers `REG_USERS` AORs (`u0@example.com` ...) with digest
//! authentication (REGISTER, 401, REGISTER with `[authentication]`, 200) at
//! a fixed rate against
//! mod_sofia's `Registrar` on a sofia-nta agent over UDP on 127.0.0.1,
//! every change written to SQLite by a `BackgroundStore`.
//!
//! ```text
//! cargo bench -p sofia-benches --bench registrar_sipp
//! REG_RATE=2000 REG_SECONDS=30 REG_USERS=10000 cargo bench -p sofia-benches --bench registrar_sipp
//! ```
//!
//! SIPp 3.6 does not expand CSV fields inside `[authentication ...]`, so
//! every REGISTER authenticates as directory user `u0` (`-au`/`-ap`); as in
//! FreeSWITCH, a directory user may register any AOR unless
//! `inbound-reg-force-matching-username` is set. Each REGISTER still gets
//! its own nonce and a full digest check.
//!
//! Prints SIPp's successful and failed registrations, the registrar's
//! answers by status, the achieved rate, and the process RSS. Without a
//! `sipp` on the PATH it says so and exits.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use mod_sofia::registrar::{DefaultAcl, Registrar, RegistrarSettings};
use mod_sofia::store::{BackgroundStore, RegistrationStore, SqliteStore};
use sofia_iptsec::MemoryStore;
use sofia_msg::Method;

const SCENARIO: &str = r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="register with digest">
  <send retrans="500">
    <![CDATA[
      REGISTER sip:[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:[field0]@example.com>;tag=[pid]SIPpTag[call_number]
      To: <sip:[field0]@example.com>
      Call-ID: [call_id]
      CSeq: 1 REGISTER
      Contact: <sip:[field0]@[local_ip]:[local_port]>
      Expires: 300
      Max-Forwards: 70
      User-Agent: SIPp
      Content-Length: 0

    ]]>
  </send>
  <recv response="401" auth="true" />
  <send retrans="500">
    <![CDATA[
      REGISTER sip:[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:[field0]@example.com>;tag=[pid]SIPpTag[call_number]
      To: <sip:[field0]@example.com>
      Call-ID: [call_id]
      CSeq: 2 REGISTER
      Contact: <sip:[field0]@[local_ip]:[local_port]>
      [authentication]
      Expires: 300
      Max-Forwards: 70
      User-Agent: SIPp
      Content-Length: 0

    ]]>
  </send>
  <recv response="200" />
</scenario>
"#;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

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

/// The last number on SIPp's screen line starting with `label`.
fn sipp_count(out: &str, label: &str) -> Option<u64> {
    out.lines()
        .rev()
        .find(|l| l.trim_start().starts_with(label))
        .and_then(|l| l.split('|').next_back())
        .and_then(|v| v.trim().parse().ok())
}

struct ServerReport {
    answers: BTreeMap<u16, u64>,
    bindings: usize,
    applied: u64,
    failed_writes: u64,
    overflows: u64,
    rss_kib: u64,
}

fn main() {
    let rate = env("REG_RATE", 2000);
    let seconds = env("REG_SECONDS", 30);
    let users = env("REG_USERS", 10_000) as usize;
    if Command::new("sipp").arg("-v").output().is_err() {
        println!("registrar_sipp: no sipp on the PATH; nothing measured");
        return;
    }
    let dir = std::env::temp_dir().join(format!("sofia_registrar_sipp_{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let scenario = dir.join("register.xml");
    std::fs::write(&scenario, SCENARIO).expect("scenario");
    let mut csv = String::from("SEQUENTIAL\n");
    for i in 0..users {
        csv.push_str(&format!("u{i};secret{i}\n"));
    }
    let csv_path = dir.join("users.csv");
    std::fs::write(&csv_path, csv).expect("users");
    let db = dir.join("sofia_reg_internal.db");

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (tport, incoming) = runtime
        .block_on(sofia_tport::Tport::bind(sofia_tport::Config::new([
            "sip:127.0.0.1:0".to_string(),
        ])))
        .expect("bind");
    let addr = tport
        .listeners()
        .into_iter()
        .find(|(t, _)| *t == sofia_tport::Transport::Udp)
        .map(|(_, a)| a)
        .expect("a UDP listener");
    let (stop_tx, mut stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = std::thread::spawn(move || {
        runtime.block_on(async move {
            let (agent, mut requests, mut others) =
                sofia_nta::Agent::new(tport, incoming, sofia_nta::Config::default());
            let mut directory = MemoryStore::new();
            for i in 0..users {
                directory.add_password(&format!("u{i}"), None, &format!("secret{i}"));
            }
            let settings = RegistrarSettings {
                to_tag: Some(agent.tag()),
                ..RegistrarSettings::default()
            };
            let mut registrar = Registrar::new(settings, directory, DefaultAcl);
            let store = SqliteStore::open(&db).expect("database");
            let now_unix = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0);
            let mut store = BackgroundStore::spawn(store, 4096, 200_000, &["internal"], now_unix)
                .expect("writer");
            let rows = store.load("internal", now_unix).expect("load");
            registrar.load(rows, SystemTime::now());
            let mut answers: BTreeMap<u16, u64> = BTreeMap::new();
            let mut sweep = tokio::time::interval(Duration::from_secs(1));
            loop {
                tokio::select! {
                    req = requests.recv() => {
                        let Some(req) = req else { break };
                        if req.msg.method() != Method::Register {
                            continue;
                        }
                        let out = registrar.handle_register(
                            SystemTime::now(),
                            req.source.remote,
                            req.source.transport,
                            &req.msg,
                        );
                        if let Some(resp) = out.response {
                            *answers.entry(resp.status().unwrap_or(0)).or_default() += 1;
                            let _ = agent.respond(req.server, resp);
                        }
                        if let Err(e) = store.apply(out.store_ops) {
                            eprintln!("registrar_sipp: store: {e}");
                        }
                    }
                    ev = others.recv() => if ev.is_none() { break },
                    _ = sweep.tick() => {
                        let out = registrar.sweep(SystemTime::now());
                        let _ = store.apply(out.store_ops);
                    }
                    _ = &mut stop_rx => break,
                }
            }
            store.flush().expect("flush");
            let s = store.stats();
            ServerReport {
                answers,
                bindings: registrar.len(),
                applied: s.applied.load(std::sync::atomic::Ordering::Relaxed),
                failed_writes: s.failed.load(std::sync::atomic::Ordering::Relaxed),
                overflows: s.overflows.load(std::sync::atomic::Ordering::Relaxed),
                rss_kib: rss_kib(),
            }
        })
    });

    let sipp_port = std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .expect("a free port");
    let calls = rate * seconds;
    let start = Instant::now();
    let out = Command::new("timeout")
        .arg((seconds * 3 + 60).to_string())
        .arg("sipp")
        .arg("-sf")
        .arg(&scenario)
        .arg("-inf")
        .arg(&csv_path)
        .args(["-t", "u1", "-nostdin", "-i", "127.0.0.1", "-p"])
        .arg(sipp_port.to_string())
        .args(["-au", "u0", "-ap", "secret0"])
        .args(["-r", &rate.to_string(), "-m", &calls.to_string()])
        .args(["-l", &(rate * 4).to_string(), "-timeout", "300s"])
        .arg(addr.to_string())
        .output()
        .expect("run sipp");
    let elapsed = start.elapsed();
    let text = String::from_utf8_lossy(&out.stdout);
    let ok = sipp_count(&text, "Successful call").unwrap_or(0);
    let failed = sipp_count(&text, "Failed call").unwrap_or(0);
    let _ = stop_tx.send(());
    let report = server.join().expect("server thread");
    println!(
        "registrar_sipp: SIPp -r {rate} -m {calls}: {ok} successful and {failed} failed registrations \
         (REGISTER, 401, REGISTER with MD5 digest, 200) in {:.1} s = {:.0} registrations/s; \
         registrar answers {:?}; {} bindings; {} store operations written, {} failed, {} queue overflows; \
         RSS {:.1} MiB",
        elapsed.as_secs_f64(),
        ok as f64 / elapsed.as_secs_f64(),
        report.answers,
        report.bindings,
        report.applied,
        report.failed_writes,
        report.overflows,
        report.rss_kib as f64 / 1024.0,
    );
    if ok == 0 {
        eprintln!("{text}");
        eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    }
    let _ = std::fs::remove_dir_all(&dir);
}
