//! `cargo xtask bench calls`: call capacity of sofia-nua's `uas`, the CPU
//! it spends per call against SIPp's `uas` in the same run, the highest
//! rate of SIPp's `uac` it answers without failures, and the memory of
//! 10,000 established calls.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::Result;
use crate::bench::{
    Guard, build_example, clock_ticks, free_udp_tcp_port, mb, proc_cpu_ticks, proc_rss,
    run_bounded, target_dir,
};
use crate::peers;

/// The core the answering side runs on; load generators run on the other.
const SERVER_CORE: &str = "0";
/// The core of the load generators.
const LOAD_CORE: &str = "1";
/// Calls per capacity run.
const DEFAULT_CALLS: u64 = 20_000;
/// Calls in progress at once in capacity runs.
const CONCURRENCY: u64 = 200;
/// Capacity runs; the best counts.
const ROUNDS: usize = 3;
/// The capacity target, calls/s.
const TARGET_CALLS_PER_SEC: f64 = 5000.0;
/// Calls held at once for the memory figure.
const MEMORY_CALLS: u64 = 10_000;
/// SIPp `uac` rates tried against `uas`, calls/s.
const SIPP_RATES: [u64; 5] = [500, 1000, 2000, 3000, 4000];
/// Seconds of SIPp load per rate.
const SIPP_SECONDS: u64 = 5;
/// Longest a load run may take.
const RUN_LIMIT: Duration = Duration::from_secs(120);

/// Options: `--count N`.
fn calls_option(args: &[String]) -> Result<u64> {
    match args {
        [] => Ok(DEFAULT_CALLS),
        [flag, n] if flag == "--count" => n
            .parse()
            .ok()
            .filter(|&n| n > 0)
            .ok_or_else(|| format!("--count needs a positive number, not {n:?}")),
        _ => Err("usage: cargo xtask bench calls [--count N]".to_string()),
    }
}

/// A process answering calls on [`SERVER_CORE`] and a free port.
struct Answerer {
    child: Guard,
    port: u16,
}

impl Answerer {
    /// `uas --bind sip:127.0.0.1:PORT`, once it printed `listening on`.
    fn uas(bin: &Path) -> Result<Answerer> {
        let port = free_udp_tcp_port()?;
        let mut cmd = Command::new("taskset");
        cmd.args(["-c", SERVER_CORE])
            .arg(bin)
            .args(["--bind", &format!("sip:127.0.0.1:{port}")]);
        let child = spawn_quiet(&mut cmd)?;
        let a = Answerer { child, port };
        a.wait_listening()?;
        Ok(a)
    }

    /// SIPp's built-in `uas` scenario.
    fn sipp_uas() -> Result<Answerer> {
        let port = free_udp_tcp_port()?;
        let mut cmd = Command::new("taskset");
        cmd.args(["-c", SERVER_CORE, "sipp", "-sn", "uas", "-nostdin"])
            .args(["-i", "127.0.0.1", "-p", &port.to_string()]);
        let child = spawn_quiet(&mut cmd)?;
        let a = Answerer { child, port };
        a.wait_listening()?;
        Ok(a)
    }

    /// Waits until something answers on the UDP port (at most 10 s).
    fn wait_listening(&self) -> Result {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) {
            if std::net::UdpSocket::bind(("127.0.0.1", self.port)).is_err() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(format!(
            "nothing listens on 127.0.0.1:{} after 10 s",
            self.port
        ))
    }

    fn pid(&self) -> u32 {
        self.child.0.id()
    }

    fn uri(&self) -> String {
        format!("sip:service@127.0.0.1:{}", self.port)
    }

    fn cpu_ticks(&self) -> Result<u64> {
        proc_cpu_ticks(self.pid())
    }

    fn rss(&self) -> Result<u64> {
        proc_rss(self.pid())
    }
}

fn spawn_quiet(cmd: &mut Command) -> Result<Guard> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map(Guard)
        .map_err(|e| format!("cannot start {cmd:?}: {e}"))
}

/// What one `uac --load` run printed.
struct LoadResult {
    completed: u64,
    failed: u64,
    rate: f64,
    setup: String,
}

/// `uac URI --load --count N --concurrency C` on [`LOAD_CORE`].
fn uac_load(uac: &Path, uri: &str, count: u64, out: &Path) -> Result<LoadResult> {
    let mut cmd = Command::new("taskset");
    cmd.args(["-c", LOAD_CORE])
        .arg(uac)
        .args([uri, "--load", "--bind", "sip:127.0.0.1:0"])
        .args(["--count", &count.to_string()])
        .args(["--concurrency", &CONCURRENCY.to_string()]);
    let (_, text, _) = run_bounded(&mut cmd, out, RUN_LIMIT)?;
    let calls = text
        .lines()
        .find(|l| l.starts_with("calls:"))
        .ok_or_else(|| format!("uac printed no `calls:` line:\n{text}"))?;
    let num = |key: &str| {
        calls
            .split(',')
            .find(|part| part.contains(key))
            .and_then(|part| part.split_whitespace().find_map(|w| w.parse::<f64>().ok()))
    };
    Ok(LoadResult {
        completed: num("completed").unwrap_or(0.0) as u64,
        failed: num("failed").unwrap_or(f64::MAX) as u64,
        rate: num("calls/s").unwrap_or(0.0),
        setup: text
            .lines()
            .find(|l| l.starts_with("setup"))
            .unwrap_or("")
            .to_string(),
    })
}

/// One capacity run against `answerer`: the load result and the
/// answerer's CPU milliseconds per call.
fn capacity(uac: &Path, answerer: &Answerer, count: u64, out: &Path) -> Result<(LoadResult, f64)> {
    let before = answerer.cpu_ticks()?;
    let r = uac_load(uac, &answerer.uri(), count, out)?;
    let ticks = answerer.cpu_ticks()?.saturating_sub(before);
    let ms_per_call = ticks as f64 / clock_ticks() * 1000.0 / r.completed.max(1) as f64;
    Ok((r, ms_per_call))
}

/// SIPp's `uac` scenario at `rate` calls/s for [`SIPP_SECONDS`] against
/// `uas`: (successful, failed) calls.
fn sipp_uac(answerer: &Answerer, rate: u64, out: &Path) -> Result<(u64, u64)> {
    let port = free_udp_tcp_port()?;
    let calls = rate * SIPP_SECONDS;
    let mut cmd = Command::new("taskset");
    cmd.args(["-c", LOAD_CORE, "sipp", "-sn", "uac", "-nostdin"])
        .args(["-r", &rate.to_string(), "-m", &calls.to_string()])
        .args(["-l", "2000", "-timeout", "60s"])
        .args(["-i", "127.0.0.1", "-p", &port.to_string()])
        .arg(format!("127.0.0.1:{}", answerer.port));
    let (_, text, _) = run_bounded(&mut cmd, out, RUN_LIMIT)?;
    let count = |what: &str| {
        text.lines()
            .find(|l| l.contains(what))
            .and_then(|l| l.split('|').nth(2))
            .and_then(|c| c.trim().parse::<u64>().ok())
    };
    match (count("Successful call"), count("Failed call")) {
        (Some(ok), Some(failed)) => Ok((ok, failed)),
        _ => Err(format!("sipp printed no statistics:\n{text}")),
    }
}

/// Memory of [`MEMORY_CALLS`] calls held at once: `uas` and `uac` resident
/// set growth per call.
fn memory(uac: &Path, answerer: &Answerer, out: &Path) -> Result<(f64, f64)> {
    let idle = answerer.rss()?;
    let file = std::fs::File::create(out).map_err(|e| format!("{}: {e}", out.display()))?;
    let mut cmd = Command::new("taskset");
    cmd.args(["-c", LOAD_CORE])
        .arg(uac)
        .args([&answerer.uri(), "--load", "--bind", "sip:127.0.0.1:0"])
        .args(["--count", &MEMORY_CALLS.to_string()])
        .args(["--concurrency", &MEMORY_CALLS.to_string()])
        .args(["--rate", "2000", "--duration", "25"]);
    let child = Guard(
        cmd.stdin(Stdio::null())
            .stdout(file)
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start {cmd:?}: {e}"))?,
    );
    std::thread::sleep(Duration::from_millis(300));
    let uac_idle = proc_rss(child.0.id())?;
    // 10,000 calls at 2,000/s are all up after 5 s; they last 25 s.
    std::thread::sleep(Duration::from_secs(12));
    let held = answerer.rss()?;
    let uac_held = proc_rss(child.0.id())?;
    let mut child = child;
    let start = Instant::now();
    while child.0.try_wait().ok().flatten().is_none() {
        if start.elapsed() > RUN_LIMIT {
            return Err("uac --load (memory) still running; killed".to_string());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let text = std::fs::read_to_string(out).unwrap_or_default();
    if !text.contains(&format!("calls: {MEMORY_CALLS} completed, 0 failed")) {
        return Err(format!("memory run: not every call completed:\n{text}"));
    }
    let per = |held: u64, idle: u64| held.saturating_sub(idle) as f64 / MEMORY_CALLS as f64;
    println!(
        "memory: {MEMORY_CALLS} established calls: uas {:.1} -> {:.1} MB, uac {:.1} -> {:.1} MB",
        mb(idle),
        mb(held),
        mb(uac_idle),
        mb(uac_held)
    );
    Ok((per(held, idle), per(uac_held, uac_idle)))
}

/// `cargo xtask bench calls [--count N]`.
pub(crate) fn calls(args: &[String]) -> Result {
    let count = calls_option(args)?;
    peers::ensure(&peers::by_name(&["sip-tester".to_string()])?)?;
    let target = target_dir();
    let uas_bin = build_example(&target, "uas")?;
    let uac_bin = build_example(&target, "uac")?;
    let dir = target.join("xtask-bench");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let out = dir.join("calls-load.txt");

    println!(
        "bench calls: INVITE/180/200/ACK/BYE/200 over UDP on 127.0.0.1; answering side on core {SERVER_CORE}, uac --load on core {LOAD_CORE}"
    );
    let uas = Answerer::uas(&uas_bin)?;
    let sipp = Answerer::sipp_uas()?;
    let mut best: Option<(LoadResult, f64)> = None;
    let mut sipp_cpu: Vec<f64> = Vec::new();
    let mut ours_cpu: Vec<f64> = Vec::new();
    for round in 1..=ROUNDS {
        let (r, ms) = capacity(&uac_bin, &uas, count, &out)?;
        println!(
            "round {round}: uas       {} completed, {} failed, {:.0} calls/s, {:.3} ms CPU per call; {}",
            r.completed, r.failed, r.rate, ms, r.setup
        );
        ours_cpu.push(ms);
        let (s, sms) = capacity(&uac_bin, &sipp, count, &out)?;
        println!(
            "round {round}: SIPp uas  {} completed, {} failed, {:.0} calls/s, {:.3} ms CPU per call; {}",
            s.completed, s.failed, s.rate, sms, s.setup
        );
        sipp_cpu.push(sms);
        if r.failed == 0 && best.as_ref().is_none_or(|(b, _)| r.rate > b.rate) {
            best = Some((r, ms));
        }
    }
    drop(sipp);
    let min = |v: &[f64]| v.iter().copied().fold(f64::INFINITY, f64::min);
    let (ours, sipps) = (min(&ours_cpu), min(&sipp_cpu));
    println!(
        "CPU per call: uas {ours:.3} ms, SIPp uas {sipps:.3} ms (uas/SIPp = {:.2}, lowest of {ROUNDS})",
        ours / sipps.max(1e-9)
    );
    match &best {
        Some((b, _)) => println!(
            "capacity: {:.0} calls/s with 0 failures (target >= {TARGET_CALLS_PER_SEC:.0}: {})",
            b.rate,
            if b.rate >= TARGET_CALLS_PER_SEC {
                "met"
            } else {
                "NOT met"
            }
        ),
        None => println!("capacity: no run without failures"),
    }

    let mut highest = None;
    for rate in SIPP_RATES {
        let (ok, failed) = sipp_uac(&uas, rate, &out)?;
        println!(
            "SIPp uac at {rate} calls/s for {SIPP_SECONDS} s against uas: {ok} successful, {failed} failed"
        );
        if failed > 0 {
            break;
        }
        highest = Some(rate);
    }
    match highest {
        Some(r) => println!("SIPp uac: highest rate with 0 failed calls: {r} calls/s"),
        None => println!("SIPp uac: failures at every rate"),
    }

    // A fresh `uas` for the memory figure: one that ran the load above
    // keeps what its allocator was given.
    drop(uas);
    let fresh = Answerer::uas(&uas_bin)?;
    let (uas_per_call, uac_per_call) = memory(&uac_bin, &fresh, &out)?;
    println!(
        "memory per established call: uas {:.0} bytes, uac {:.0} bytes",
        uas_per_call, uac_per_call
    );
    match best {
        Some((b, _)) if b.rate >= TARGET_CALLS_PER_SEC => Ok(()),
        _ => Err("the capacity target is not met".to_string()),
    }
}
