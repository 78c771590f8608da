//! `cargo xtask bench parse [--iterations N]`: parse throughput of sofia-rs
//! against sofia-sip's C parser on the same message.
//!
//! Builds `xtask/c/parse_bench.c` against the system's `libsofia-sip-ua`
//! (installing `libsofia-sip-ua-dev` and `pkg-config` when missing) into the
//! cargo target directory, builds `sip-parse` in release mode, then runs both
//! on `benches/data/invite.sip` for the same number of iterations, alternating
//! C and Rust seven times each, and prints the best throughput of each and
//! their ratio.
//!
//! `cargo xtask bench nta [--count N] [--concurrency C]`: the stateful
//! OPTIONS responder of sofia-rs (`sip-responder`) against sofia-sip C's nta
//! engine (`xtask/c/nta_responder.c`), both pinned to core 0 and driven from
//! core 1 by `sip-load` and SIPp in one run: transactions/s at saturation,
//! latency at 80 % of the C engine's saturation rate, and memory per pending
//! transaction. See [`nta`] for the procedure.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::{Result, cargo, peers, run as run_cmd, workspace_root};

/// Iterations per run unless `--iterations` says otherwise.
const DEFAULT_ITERATIONS: u64 = 300_000;
/// Runs of each implementation; the best one counts.
const ROUNDS: usize = 7;
/// The message both parsers read, relative to the workspace root.
const MESSAGE: &str = "benches/data/invite.sip";
/// The C program, relative to the workspace root.
const C_SOURCE: &str = "xtask/c/parse_bench.c";
/// The throughput goal, as a multiple of sofia-sip's.
const TARGET_RATIO: f64 = 10.0;

fn usage() -> String {
    format!(
        "usage: cargo xtask bench parse [--iterations N] | tport | nta [--count N] [--concurrency C]\n  \
         parse  sofia-rs vs sofia-sip C parse throughput on {MESSAGE} \
         (default N = {DEFAULT_ITERATIONS})\n  \
         tport  UDP receive+parse of sofia-tport vs a bare recv_from loop\n  \
         nta    stateful OPTIONS: sip-responder vs sofia-sip C nta, driven by sip-load \
         and SIPp (N transactions per saturation run, default {DEFAULT_SATURATION_COUNT}; \
         C in flight, default {DEFAULT_CONCURRENCY})\n  \
         calls  uas call capacity with uac --load, CPU per call against SIPp's uas, \
         SIPp uac rates, memory of 10,000 calls ([--count N])\n  \
         b2bua  calls bridged by the sofia daemon from SIPp uac to SIPp uas: rates up \
         to the first failure, then 1,000 calls/s for 60 s"
    )
}

/// Runs `cargo xtask bench <args>`.
pub(crate) fn run(args: &[String]) -> Result {
    match args.first().map(String::as_str) {
        Some("parse") => parse(parse_options(&args[1..])?),
        Some("tport") => tport(),
        Some("nta") => nta(nta_options(&args[1..])?),
        Some("calls") => crate::bench_calls::calls(&args[1..]),
        Some("b2bua") => crate::bench_b2bua::b2bua(&args[1..]),
        Some("-h" | "--help" | "help") => {
            println!("{}", usage());
            Ok(())
        }
        Some(other) => Err(format!("unknown benchmark {other:?}\n{}", usage())),
        None => Err(usage()),
    }
}

fn parse_options(args: &[String]) -> Result<u64> {
    let mut iterations = DEFAULT_ITERATIONS;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let value = match arg.split_once('=') {
            Some(("--iterations", v)) => v,
            _ if arg == "--iterations" => it
                .next()
                .ok_or_else(|| format!("--iterations needs a value\n{}", usage()))?,
            _ => return Err(format!("unknown option {arg:?}\n{}", usage())),
        };
        iterations = value
            .parse()
            .ok()
            .filter(|&n| n > 0)
            .ok_or_else(|| format!("--iterations must be a positive integer, not {value:?}"))?;
    }
    Ok(iterations)
}

/// The cargo target directory: `CARGO_TARGET_DIR` (relative to the workspace
/// root, where xtask runs cargo) or `target/`.
pub(crate) fn target_dir() -> PathBuf {
    let root = workspace_root();
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => root.join(dir),
        _ => root.join("target"),
    }
}

/// Runs a program and returns its standard output; fails with its standard
/// error when it fails.
fn output(cmd: &mut Command) -> Result<String> {
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{cmd:?} failed with {}:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim_end()
        ));
    }
    String::from_utf8(out.stdout).map_err(|e| format!("{cmd:?}: output is not UTF-8: {e}"))
}

/// Compiles a C program (`source`, relative to the workspace root) against
/// libsofia-sip-ua into `<target>/xtask-bench/<name>`; returns the binary.
fn build_c(target: &Path, source: &str, name: &str) -> Result<PathBuf> {
    let flags = output(Command::new("pkg-config").args(["--cflags", "--libs", "sofia-sip-ua"]))?;
    let dir = target.join("xtask-bench");
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let bin = dir.join(name);
    let mut cc = Command::new("cc");
    cc.args(["-O2", "-Wall", "-o"])
        .arg(&bin)
        .arg(workspace_root().join(source))
        .args(flags.split_whitespace());
    run_cmd(&mut cc)?;
    Ok(bin)
}

/// Builds `sip-parse` in release mode; returns the binary.
fn build_rust(target: &Path) -> Result<PathBuf> {
    build_example(target, "sip-parse")
}

/// Builds an example program in release mode; returns the binary.
pub(crate) fn build_example(target: &Path, name: &str) -> Result<PathBuf> {
    run_cmd(cargo().args(["build", "--release", "-p", "sofia-examples", "--bin", name]))?;
    Ok(target
        .join("release")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX)))
}

/// `cargo xtask bench tport`: UDP receive+parse of sofia-tport against a bare
/// `recv_from` loop (`tport-bench`), printed as it comes.
fn tport() -> Result {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"));
    let bin = build_example(&target, "tport-bench")?;
    run_cmd(
        Command::new(bin)
            .args(["--seconds", "2", "--rounds", "3"])
            .arg(workspace_root().join(MESSAGE)),
    )
}

/// Runs one benchmark program and reads its last line, `<N> msgs/s`.
fn measure(cmd: &mut Command) -> Result<u64> {
    let out = output(cmd)?;
    let last = out.lines().last().unwrap_or("");
    last.strip_suffix(" msgs/s")
        .and_then(|n| n.trim().parse().ok())
        .ok_or_else(|| format!("{cmd:?} printed no `<N> msgs/s` line:\n{out}"))
}

fn parse(iterations: u64) -> Result {
    peers::ensure(&peers::by_name(&[
        "libsofia-sip-ua-dev".to_string(),
        "pkg-config".to_string(),
    ])?)?;
    let target = target_dir();
    let c_bin = build_c(&target, C_SOURCE, "parse_bench")?;
    let rust_bin = build_rust(&target)?;
    let message = workspace_root().join(MESSAGE);
    let size = std::fs::metadata(&message)
        .map_err(|e| format!("cannot read {}: {e}", message.display()))?
        .len();

    // Both parsers must accept the message before their speed means anything.
    // The C program checks its parse itself before timing; sip-parse is asked.
    let verdict = output(Command::new(&rust_bin).arg("--check").arg(&message))?;
    if !verdict.trim_end().ends_with(": valid") {
        return Err(format!(
            "sofia-rs does not accept {MESSAGE}: {}",
            verdict.trim_end()
        ));
    }

    let n = iterations.to_string();
    let mut c_runs = Vec::new();
    let mut rust_runs = Vec::new();
    for round in 1..=ROUNDS {
        eprintln!("xtask: bench parse: round {round} of {ROUNDS}");
        c_runs.push(measure(Command::new(&c_bin).arg(&message).arg(&n))?);
        rust_runs.push(measure(
            Command::new(&rust_bin).arg("--bench").arg(&n).arg(&message),
        )?);
    }
    let c_best = c_runs.iter().copied().max().unwrap_or(0);
    let rust_best = rust_runs.iter().copied().max().unwrap_or(0);
    if c_best == 0 {
        return Err("the C benchmark measured 0 msgs/s".to_string());
    }
    let ratio = rust_best as f64 / c_best as f64;
    let list = |runs: &[u64]| {
        runs.iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!(
        "bench parse: {MESSAGE} ({size} bytes), {iterations} iterations per run, \
         best of {ROUNDS} alternating runs"
    );
    for (label, best, runs) in [
        ("sofia-sip C   msg_make()", c_best, &c_runs),
        ("sofia-rs      Message::parse()", rust_best, &rust_runs),
    ] {
        println!("  {label:<31} {best:>10} msgs/s  (runs: {})", list(runs));
    }
    println!("  rust/c = {ratio:.1}x");
    let met = if ratio >= TARGET_RATIO {
        "met"
    } else {
        "NOT met"
    };
    println!("  target rust/c >= {TARGET_RATIO:.0}x: {met}");
    Ok(())
}

/// The C nta responder, relative to the workspace root.
const NTA_C_SOURCE: &str = "xtask/c/nta_responder.c";
/// SIPp's OPTIONS client scenario, relative to the workspace root.
const SIPP_SCENARIO: &str = "xtask/sipp/options_uac.xml";
/// The core the responders run on (`taskset -c`).
const SERVER_CORE: &str = "0";
/// The core the load generators run on (`taskset -c`).
const LOAD_CORE: &str = "1";
/// Transactions per saturation run unless `--count` says otherwise.
const DEFAULT_SATURATION_COUNT: u64 = 100_000;
/// Transactions in flight in saturation runs unless `--concurrency` says
/// otherwise (sip-load's default).
const DEFAULT_CONCURRENCY: usize = 100;
/// Saturation runs of each engine, alternating; the best one counts.
const SATURATION_ROUNDS: usize = 3;
/// Latency runs of each engine, alternating; the lowest p99 counts.
const LATENCY_ROUNDS: usize = 2;
/// The latency runs' rate, as a share of the C engine's saturation rate.
const LATENCY_LOAD: f64 = 0.8;
/// Seconds each latency run lasts.
const LATENCY_SECONDS: f64 = 2.0;
/// Transactions in flight at most in latency runs: high enough that the
/// rate, not the window, sets the pace.
const LATENCY_CONCURRENCY: usize = 1000;
/// The burst that measures memory, in saturation runs' worth of
/// transactions: all of them are still pending (in timer J) when the resident
/// set is read, and the burst leaves each responder's allocator with memory
/// for every transaction of the saturation phase that follows (three
/// sip-load runs and SIPp's), so that no engine pays for page faults there.
const MEMORY_BURST_RUNS: u64 = 4;
/// Timer J of a non-INVITE server transaction over UDP (64 × T1 = 32 s), plus
/// time for the engines to release what expired.
const TIMER_J_WAIT: Duration = Duration::from_secs(35);
/// SIPp's target rate, as a multiple of the C engine's saturation rate:
/// more than either engine answers, so that `-l` (calls in flight) sets the
/// pace.
const SIPP_TARGET: f64 = 2.0;
/// How long any load generator may run before it is killed.
const LOAD_DEADLINE: Duration = Duration::from_secs(60);
/// The share of the responders' core that other processes may take during a
/// run before the run is marked as disturbed.
const DISTURBED: f64 = 0.10;
/// The throughput goal, as a multiple of the C engine's.
const NTA_TARGET_RATIO: f64 = 2.0;
/// The longest the whole bench waits for quiet cores before its runs.
const QUIET_BUDGET: Duration = Duration::from_secs(120);
/// How long the cores are watched for quiet before a run.
const QUIET_SAMPLE: Duration = Duration::from_millis(500);
/// The latency goal at 80 % of the C engine's saturation rate, in ms.
const NTA_TARGET_P99_MS: f64 = 10.0;

/// Options of `cargo xtask bench nta`.
struct NtaOptions {
    /// Transactions per saturation run.
    count: u64,
    /// Transactions in flight in saturation runs.
    concurrency: usize,
}

/// Reads `--count N` and `--concurrency C` (also `--count=N`).
fn nta_options(args: &[String]) -> Result<NtaOptions> {
    let mut opts = NtaOptions {
        count: DEFAULT_SATURATION_COUNT,
        concurrency: DEFAULT_CONCURRENCY,
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let (name, value) = match arg.split_once('=') {
            Some((n, v)) => (n, v.to_string()),
            None => (
                arg.as_str(),
                it.next()
                    .cloned()
                    .ok_or_else(|| format!("{arg} needs a value\n{}", usage()))?,
            ),
        };
        let n: u64 = value
            .parse()
            .ok()
            .filter(|&n| n > 0)
            .ok_or_else(|| format!("{name} must be a positive integer, not {value:?}"))?;
        match name {
            "--count" => opts.count = n,
            "--concurrency" => opts.concurrency = n as usize,
            _ => return Err(format!("unknown option {arg:?}\n{}", usage())),
        }
    }
    Ok(opts)
}

/// One of the two responders under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Engine {
    /// sofia-sip C's nta (`xtask/c/nta_responder.c`).
    C,
    /// sofia-rs's sofia-nta (`sip-responder`).
    Rust,
}

impl Engine {
    /// Both engines, in the order they run.
    const BOTH: [Engine; 2] = [Engine::C, Engine::Rust];

    /// The name in the report.
    fn label(self) -> &'static str {
        match self {
            Engine::C => "sofia-sip C nta",
            Engine::Rust => "sofia-rs sip-responder",
        }
    }

    /// Index into per-engine arrays.
    fn index(self) -> usize {
        match self {
            Engine::C => 0,
            Engine::Rust => 1,
        }
    }
}

/// A child process, killed (and reaped) when dropped.
pub(crate) struct Guard(pub(crate) Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A responder running on [`SERVER_CORE`], killed when dropped.
struct Server {
    /// The responder process (`taskset` execs it, so this is its pid too).
    child: Guard,
    /// The UDP (and TCP) port it listens on, on 127.0.0.1.
    port: u16,
}

impl Server {
    /// Starts the responder of `engine` from `bin` on a free port and waits
    /// for its `listening on` line.
    fn start(engine: Engine, bin: &Path) -> Result<Server> {
        use std::io::BufRead;
        let port = free_udp_tcp_port()?;
        let mut cmd = Command::new("taskset");
        cmd.args(["-c", SERVER_CORE]).arg(bin);
        match engine {
            Engine::C => cmd.arg(port.to_string()),
            Engine::Rust => cmd.args(["--bind", &format!("sip:127.0.0.1:{port}")]),
        };
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start {cmd:?}: {e}"))?;
        let stdout = child.stdout.take();
        let server = Server {
            child: Guard(child),
            port,
        };
        let stdout = stdout.ok_or_else(|| format!("{} has no stdout", engine.label()))?;
        // Read the first line with a time limit, then keep draining the pipe
        // so that the responder never writes into a closed one.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = std::io::BufReader::new(stdout).lines();
            let _ = tx.send(lines.next().and_then(|l| l.ok()));
            for _ in lines {}
        });
        match rx.recv_timeout(Duration::from_secs(10)) {
            Ok(Some(line)) if line.starts_with("listening on") => Ok(server),
            Ok(Some(line)) => Err(format!(
                "{} printed {line:?} instead of `listening on ...`",
                engine.label()
            )),
            Ok(None) => Err(format!("{} exited without listening", engine.label())),
            Err(_) => Err(format!(
                "{} did not print `listening on` in 10 s",
                engine.label()
            )),
        }
    }

    /// The process id.
    fn pid(&self) -> u32 {
        self.child.0.id()
    }

    /// The target URI.
    fn uri(&self) -> String {
        format!("sip:127.0.0.1:{}", self.port)
    }

    /// Resident set size in bytes (`VmRSS` of `/proc/PID/status`).
    fn rss(&self) -> Result<u64> {
        proc_rss(self.pid())
    }

    /// CPU time used so far (user + system, all threads), in clock ticks.
    fn cpu_ticks(&self) -> Result<u64> {
        proc_cpu_ticks(self.pid())
    }

    /// Datagrams the kernel dropped so far at the responder's UDP socket
    /// because its receive buffer was full (the `drops` column of
    /// `/proc/net/udp`).
    fn udp_drops(&self) -> u64 {
        let port = format!(":{:04X}", self.port);
        std::fs::read_to_string("/proc/net/udp")
            .unwrap_or_default()
            .lines()
            .skip(1)
            .filter_map(|l| {
                let fields: Vec<&str> = l.split_whitespace().collect();
                let local = fields.get(1)?;
                if !local.ends_with(&port) {
                    return None;
                }
                fields.last()?.parse::<u64>().ok()
            })
            .sum()
    }

    /// Context switches so far, voluntary and not, summed over all threads.
    fn context_switches(&self) -> u64 {
        let dir = format!("/proc/{}/task", self.pid());
        let Ok(tasks) = std::fs::read_dir(&dir) else {
            return 0;
        };
        tasks
            .filter_map(|t| t.ok())
            .filter_map(|t| std::fs::read_to_string(t.path().join("status")).ok())
            .flat_map(|status| {
                status
                    .lines()
                    .filter(|l| l.contains("ctxt_switches:"))
                    .filter_map(|l| l.split(':').nth(1)?.trim().parse::<u64>().ok())
                    .collect::<Vec<_>>()
            })
            .sum()
    }
}

/// Resident set size of a process in bytes (`VmRSS` of
/// `/proc/PID/status`).
pub(crate) fn proc_rss(pid: u32) -> Result<u64> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().strip_suffix("kB"))
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .ok_or_else(|| format!("{path} has no VmRSS line"))
}

/// CPU time a process used so far (user + system, all threads), in clock
/// ticks.
pub(crate) fn proc_cpu_ticks(pid: u32) -> Result<u64> {
    let path = format!("/proc/{pid}/stat");
    let stat = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
    // The fields after the command name, which is in parentheses:
    // state is field 3, utime field 14 and stime field 15.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| fields.get(n - 3).and_then(|v| v.parse::<u64>().ok());
    match (field(14), field(15)) {
        (Some(u), Some(s)) => Ok(u + s),
        _ => Err(format!("cannot read utime and stime from {path}")),
    }
}

/// Clock ticks core [`SERVER_CORE`] has been busy so far (everything but
/// idle and I/O wait in `/proc/stat`, steal included): with the responder's
/// own CPU time, it tells whether something else ran on its core.
fn server_core_busy() -> u64 {
    core_busy(SERVER_CORE)
}

/// Busy clock ticks of one core so far (`/proc/stat`), whoever used it.
fn core_busy(core: &str) -> u64 {
    let name = format!("cpu{core} ");
    std::fs::read_to_string("/proc/stat")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(&name))
        .map(|l| {
            // user nice system idle iowait irq softirq steal (guest times are
            // already in user and nice).
            let f: Vec<u64> = l
                .split_whitespace()
                .skip(1)
                .take(8)
                .map(|v| v.parse().unwrap_or(0))
                .collect();
            f.iter().sum::<u64>() - f.get(3).copied().unwrap_or(0) - f.get(4).copied().unwrap_or(0)
        })
        .unwrap_or(0)
}

/// A port free on 127.0.0.1 for both UDP and TCP (bound and released; good
/// enough on a quiet loopback).
pub(crate) fn free_udp_tcp_port() -> Result<u16> {
    for _ in 0..20 {
        let udp = std::net::UdpSocket::bind("127.0.0.1:0")
            .map_err(|e| format!("cannot bind a UDP socket: {e}"))?;
        let port = udp
            .local_addr()
            .map_err(|e| format!("no local address: {e}"))?
            .port();
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    Err("no port free for both UDP and TCP on 127.0.0.1".to_string())
}

/// Runs a program with its standard output in `out` and its standard error
/// discarded, for at most `limit` (then kills it); returns its exit status,
/// its standard output and how long it ran.
pub(crate) fn run_bounded(
    cmd: &mut Command,
    out: &Path,
    limit: Duration,
) -> Result<(ExitStatus, String, f64)> {
    let file = std::fs::File::create(out).map_err(|e| format!("{}: {e}", out.display()))?;
    let start = Instant::now();
    let mut child = Guard(
        cmd.stdin(Stdio::null())
            .stdout(file)
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot run {cmd:?}: {e}"))?,
    );
    let status = loop {
        match child.0.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if start.elapsed() > limit => {
                return Err(format!("{cmd:?} still running after {limit:?}; killed"));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => return Err(format!("{cmd:?}: {e}")),
        }
    };
    let wall = start.elapsed().as_secs_f64();
    drop(child);
    let text = std::fs::read_to_string(out).map_err(|e| format!("{}: {e}", out.display()))?;
    Ok((status, text, wall))
}

/// The first number after `key` in `line` (`latency p50 0.41 ms, ...`).
fn number_after(line: &str, key: &str) -> Option<f64> {
    let (_, rest) = line.split_once(key)?;
    rest.split_whitespace()
        .next()?
        .trim_end_matches(',')
        .parse()
        .ok()
}

/// What one `sip-load` run measured, with the responder's side of it.
#[derive(Debug, Clone, Copy)]
struct LoadRun {
    /// Transactions with a 2xx.
    completed: u64,
    /// Transactions with another final response.
    failures: u64,
    /// Transactions without a final response.
    timeouts: u64,
    /// Completed transactions per second, as sip-load measured.
    rate: f64,
    /// Latency percentiles and maximum, in ms.
    p50: f64,
    /// 99th percentile latency, in ms.
    p99: f64,
    /// Highest latency, in ms.
    max: f64,
    /// CPU seconds the responder used during the run.
    server_cpu: f64,
    /// Context switches of the responder's threads during the run.
    server_switches: u64,
    /// Requests dropped at the responder's socket during the run.
    server_drops: u64,
    /// CPU seconds core [`SERVER_CORE`] was busy during the run, whoever
    /// used it.
    core_busy: f64,
    /// CPU seconds sip-load itself used (its `cpu` line; -1 when absent).
    load_cpu: f64,
}

impl LoadRun {
    /// The responder's CPU use over the run's duration (1.0: one core busy).
    fn utilisation(&self) -> f64 {
        let seconds = if self.rate > 0.0 {
            self.completed as f64 / self.rate
        } else {
            0.0
        };
        if seconds > 0.0 {
            self.server_cpu / seconds
        } else {
            0.0
        }
    }

    /// sip-load's CPU use over the run's duration (1.0: its core busy), or
    /// a negative number when it did not say.
    fn load_utilisation(&self) -> f64 {
        let seconds = if self.rate > 0.0 {
            self.completed as f64 / self.rate
        } else {
            0.0
        };
        if seconds > 0.0 && self.load_cpu >= 0.0 {
            self.load_cpu / seconds
        } else {
            -1.0
        }
    }

    /// Completed transactions per second of the responder's CPU time.
    fn per_cpu_second(&self) -> f64 {
        if self.server_cpu > 0.0 {
            self.completed as f64 / self.server_cpu
        } else {
            0.0
        }
    }

    /// The share of core [`SERVER_CORE`]'s time that went to other
    /// processes (and the kernel's work for them) during the run.
    fn others_on_core(&self) -> f64 {
        let seconds = if self.rate > 0.0 {
            self.completed as f64 / self.rate
        } else {
            0.0
        };
        if seconds > 0.0 {
            ((self.core_busy - self.server_cpu) / seconds).max(0.0)
        } else {
            0.0
        }
    }

    /// The requests dropped at the responder's socket, the share of its core
    /// other processes used, and failures and timeouts when there were any.
    fn problems(&self) -> String {
        let mut out = format!(
            "; {} requests dropped at its socket; others used {:.0}% of core {SERVER_CORE}",
            self.server_drops,
            self.others_on_core() * 100.0
        );
        if self.failures + self.timeouts > 0 {
            out.push_str(&format!(
                "; {} failures, {} timeouts",
                self.failures, self.timeouts
            ));
        }
        out
    }
}

/// What SIPp's run reported.
#[derive(Debug, Clone, Copy)]
struct SippRun {
    /// Calls with the expected 200.
    successful: u64,
    /// Failed calls.
    failed: u64,
    /// OPTIONS retransmissions SIPp sent.
    retransmissions: u64,
    /// Seconds the run took.
    wall: f64,
    /// Requests dropped at the responder's socket during the run.
    server_drops: u64,
    /// CPU seconds the responder used during the run.
    server_cpu: f64,
}

/// The programs and settings of one `bench nta` run.
struct NtaBench {
    /// `sip-load`.
    load: PathBuf,
    /// Where the load generators' outputs go.
    work: PathBuf,
    /// Clock ticks per second (`getconf CLK_TCK`).
    ticks: f64,
    /// What is left of [`QUIET_BUDGET`] for waiting for quiet cores.
    quiet_left: std::cell::Cell<Duration>,
}

impl NtaBench {
    /// Runs `sip-load` on [`LOAD_CORE`] against `server`: `count`
    /// transactions at `rate` per second (0: unlimited), `concurrency` in
    /// flight.
    fn load(&self, server: &Server, count: u64, rate: u64, concurrency: usize) -> Result<LoadRun> {
        match self.load_once(server, count, rate, concurrency) {
            Ok(run) => Ok(run),
            Err(e) => {
                // Once more, for a failure of the machine rather than the
                // engines (a full disk for sip-load's output, say).
                eprintln!("xtask: bench nta: {e}\nxtask: bench nta: running it once more");
                self.load_once(server, count, rate, concurrency)
            }
        }
    }

    /// One run of [`NtaBench::load`].
    fn load_once(
        &self,
        server: &Server,
        count: u64,
        rate: u64,
        concurrency: usize,
    ) -> Result<LoadRun> {
        self.wait_for_quiet_cores();
        let mut cmd = Command::new("taskset");
        cmd.args(["-c", LOAD_CORE])
            .arg(&self.load)
            .arg(server.uri())
            .args(["--count", &count.to_string()])
            .args(["--concurrency", &concurrency.to_string()])
            .args(["--rate", &rate.to_string()])
            .args(["--timeout", "10"]);
        let (ticks0, switches0, drops0, busy0) = (
            server.cpu_ticks()?,
            server.context_switches(),
            server.udp_drops(),
            server_core_busy(),
        );
        let (status, out, _) =
            run_bounded(&mut cmd, &self.work.join("sip-load.out"), LOAD_DEADLINE)?;
        let (ticks1, switches1, drops1, busy1) = (
            server.cpu_ticks()?,
            server.context_switches(),
            server.udp_drops(),
            server_core_busy(),
        );
        // Exit status 1 means some transaction failed; the counts say which.
        if !matches!(status.code(), Some(0 | 1)) {
            return Err(format!("{cmd:?} failed with {status}:\n{out}"));
        }
        let mut run = LoadRun {
            completed: 0,
            failures: 0,
            timeouts: 0,
            rate: -1.0,
            p50: -1.0,
            p99: -1.0,
            max: -1.0,
            server_cpu: ticks1.saturating_sub(ticks0) as f64 / self.ticks,
            server_switches: switches1.saturating_sub(switches0),
            server_drops: drops1.saturating_sub(drops0),
            core_busy: busy1.saturating_sub(busy0) as f64 / self.ticks,
            load_cpu: -1.0,
        };
        for line in out.lines() {
            if line.starts_with("transactions ") {
                let get = |k| number_after(line, k).unwrap_or(-1.0) as u64;
                run.completed = get("completed");
                run.failures = get("failures");
                run.timeouts = get("timeouts");
            } else if let Some(n) = line.strip_suffix(" transactions/s") {
                run.rate = n.trim().parse().unwrap_or(-1.0);
            } else if let Some(cpu) = line.strip_prefix("cpu ").and_then(|v| v.strip_suffix(" s")) {
                run.load_cpu = cpu.trim().parse().unwrap_or(-1.0);
            } else if line.starts_with("latency ") {
                run.p50 = number_after(line, "p50").unwrap_or(-1.0);
                run.p99 = number_after(line, "p99").unwrap_or(-1.0);
                run.max = number_after(line, "max").unwrap_or(-1.0);
            }
        }
        if run.rate < 0.0 || run.p99 < 0.0 {
            return Err(format!("{cmd:?} printed no rate or latency:\n{out}"));
        }
        Ok(run)
    }

    /// Runs SIPp's OPTIONS client on [`LOAD_CORE`] against `server`:
    /// `count` calls at up to `rate` per second with at most `limit` in
    /// flight.
    fn sipp(&self, server: &Server, rate: u64, limit: usize, count: u64) -> Result<SippRun> {
        self.wait_for_quiet_cores();
        let local = free_udp_tcp_port()?;
        let mut cmd = Command::new("taskset");
        cmd.args(["-c", LOAD_CORE, "sipp", "-sf"])
            .arg(workspace_root().join(SIPP_SCENARIO))
            .args(["-r", &rate.to_string(), "-rp", "1000"])
            .args(["-l", &limit.to_string()])
            .args(["-m", &count.to_string()])
            .args(["-timeout", "30s", "-nostdin", "-i", "127.0.0.1", "-p"])
            .arg(local.to_string())
            .arg(format!("127.0.0.1:{}", server.port));
        let (drops0, ticks0) = (server.udp_drops(), server.cpu_ticks()?);
        let (status, out, wall) =
            run_bounded(&mut cmd, &self.work.join("sipp.out"), LOAD_DEADLINE)?;
        let server_drops = server.udp_drops().saturating_sub(drops0);
        let server_cpu = server.cpu_ticks()?.saturating_sub(ticks0) as f64 / self.ticks;
        // SIPp's statistics screen: `  Successful call | periodic | cumulative`.
        let cumulative = |name: &str| {
            out.lines()
                .rev()
                .find(|l| l.trim_start().starts_with(name))
                .and_then(|l| l.split('|').nth(2))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse::<f64>().ok())
        };
        // The scenario screen: `OPTIONS ---------->  messages  retrans  timeout`.
        let retransmissions = out
            .lines()
            .rev()
            .find(|l| l.trim_start().starts_with("OPTIONS -"))
            .and_then(|l| l.split_whitespace().nth(3))
            .and_then(|v| v.parse::<u64>().ok());
        match (cumulative("Successful call"), cumulative("Failed call")) {
            (Some(successful), Some(failed)) => Ok(SippRun {
                successful: successful as u64,
                failed: failed as u64,
                retransmissions: retransmissions.unwrap_or(0),
                wall,
                server_drops,
                server_cpu,
            }),
            _ => Err(format!(
                "{cmd:?} exited with {status} without its statistics:\n{out}"
            )),
        }
    }
}

impl NtaBench {
    /// Waits until other processes leave both cores nearly idle (less than
    /// [`DISTURBED`] of each over half a second; the responders are idle
    /// between runs), for at most what is left of [`QUIET_BUDGET`]: on a
    /// shared machine, a run started while others compile measures them.
    fn wait_for_quiet_cores(&self) {
        let started = Instant::now();
        loop {
            let before = [core_busy(SERVER_CORE), core_busy(LOAD_CORE)];
            std::thread::sleep(QUIET_SAMPLE);
            let after = [core_busy(SERVER_CORE), core_busy(LOAD_CORE)];
            let limit = DISTURBED * QUIET_SAMPLE.as_secs_f64() * self.ticks;
            let quiet = (0..2).all(|i| (after[i].saturating_sub(before[i]) as f64) < limit);
            let waited = started.elapsed();
            if quiet || waited >= self.quiet_left.get() {
                self.quiet_left
                    .set(self.quiet_left.get().saturating_sub(waited));
                if !quiet {
                    eprintln!(
                        "xtask: bench nta: the cores are busy with other work; running anyway"
                    );
                }
                return;
            }
        }
    }
}

/// Clock ticks per second of `/proc/PID/stat`'s CPU times.
pub(crate) fn clock_ticks() -> f64 {
    output(Command::new("getconf").arg("CLK_TCK"))
        .ok()
        .and_then(|t| t.trim().parse::<f64>().ok())
        .filter(|&t| t > 0.0)
        .unwrap_or(100.0)
}

/// Sleeps for [`TIMER_J_WAIT`], until the transactions of the runs before
/// have expired in both responders.
fn wait_for_timer_j() {
    eprintln!(
        "xtask: bench nta: waiting {} s for timer J of the transactions so far",
        TIMER_J_WAIT.as_secs()
    );
    std::thread::sleep(TIMER_J_WAIT);
}

/// Megabytes, for the report.
pub(crate) fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1_048_576.0
}

/// `cargo xtask bench nta`: stateful OPTIONS over UDP on 127.0.0.1,
/// `sip-responder` against sofia-sip C's nta, in one run.
///
/// Both responders start on core 0 and stay up for the whole run; the load
/// generators run on core 1, one at a time, C's run first, then Rust's:
///
/// 1. memory: with each responder idle, its `VmRSS`; then a burst of
///    [`MEMORY_BURST_RUNS`] × N transactions from `sip-load`, and `VmRSS`
///    again while every one of them is still in timer J. The difference over
///    the burst is the memory per pending transaction. The burst also warms
///    the responders: their allocators keep that memory for the timed runs.
/// 2. a pause of [`TIMER_J_WAIT`] so that the burst's transactions expire
///    and each engine starts the timed runs with no expiry work pending;
/// 3. saturation: `sip-load --count N --concurrency C` without a rate
///    limit, [`SATURATION_ROUNDS`] times; the best rate counts. The
///    responder's CPU time over the run gives its utilisation (whether it, not
///    the load generator, was the bottleneck) and transactions per
///    CPU-second. Then SIPp's `options_uac.xml` with N calls at twice the C
///    engine's rate, at most C in flight (`-l`): calls per second,
///    retransmissions, failures;
/// 4. another pause of [`TIMER_J_WAIT`], then latency: `sip-load --rate R`
///    at [`LATENCY_LOAD`] of the C engine's best saturation rate for
///    [`LATENCY_SECONDS`], [`LATENCY_ROUNDS`] times; the lowest p99 counts.
///
/// Every run also counts the requests the kernel dropped at the responder's
/// socket (receive buffer full), which sip-load and SIPp then retransmit
/// after 500 ms. Before each run the bench waits (at most [`QUIET_BUDGET`]
/// over the whole bench) until other processes leave both cores nearly
/// idle.
fn nta(opts: NtaOptions) -> Result {
    peers::ensure(&peers::by_name(&[
        "libsofia-sip-ua-dev".to_string(),
        "pkg-config".to_string(),
        "sip-tester".to_string(),
    ])?)?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if cores < 2 {
        return Err(format!(
            "bench nta pins the responder and the load generator to cores \
             {SERVER_CORE} and {LOAD_CORE}; this machine has {cores}"
        ));
    }
    let target = target_dir();
    let c_bin = build_c(&target, NTA_C_SOURCE, "nta_responder")?;
    let rust_bin = build_example(&target, "sip-responder")?;
    let load = build_example(&target, "sip-load")?;
    let bench = NtaBench {
        load,
        work: target.join("xtask-bench"),
        ticks: clock_ticks(),
        quiet_left: std::cell::Cell::new(QUIET_BUDGET),
    };
    let started = Instant::now();

    let servers = [
        Server::start(Engine::C, &c_bin)?,
        Server::start(Engine::Rust, &rust_bin)?,
    ];

    // 1. Memory per pending transaction, from one burst into idle responders.
    let mut idle = [0u64; 2];
    for engine in Engine::BOTH {
        idle[engine.index()] = servers[engine.index()].rss()?;
    }
    let memory_burst = opts.count * MEMORY_BURST_RUNS;
    let mut memory = Vec::new();
    for engine in Engine::BOTH {
        eprintln!(
            "xtask: bench nta: memory: {memory_burst} transactions into {}",
            engine.label()
        );
        let s = &servers[engine.index()];
        let run = bench.load(s, memory_burst, 0, opts.concurrency)?;
        memory.push((engine, run, s.rss()?));
    }

    // 2. Let the burst's transactions expire.
    wait_for_timer_j();
    let mut expired = [0u64; 2];
    for engine in Engine::BOTH {
        expired[engine.index()] = servers[engine.index()].rss()?;
    }
    let timed_start = Instant::now();

    // 3. Saturation: sip-load, then SIPp.
    let mut saturation: [Vec<LoadRun>; 2] = [Vec::new(), Vec::new()];
    for round in 1..=SATURATION_ROUNDS {
        for engine in Engine::BOTH {
            eprintln!(
                "xtask: bench nta: saturation round {round} of {SATURATION_ROUNDS}: {}",
                engine.label()
            );
            let run = bench.load(&servers[engine.index()], opts.count, 0, opts.concurrency)?;
            saturation[engine.index()].push(run);
        }
    }
    let best = |runs: &[LoadRun]| {
        runs.iter()
            .copied()
            .max_by(|a, b| a.rate.total_cmp(&b.rate))
    };
    let c_best = best(&saturation[0]).ok_or("no saturation run")?;
    let rust_best = best(&saturation[1]).ok_or("no saturation run")?;
    if c_best.rate <= 0.0 {
        return Err("the C engine completed no transaction".to_string());
    }
    let sipp_rate = (c_best.rate * SIPP_TARGET).round() as u64;
    let mut sipp = Vec::new();
    for engine in Engine::BOTH {
        eprintln!(
            "xtask: bench nta: SIPp at -r {sipp_rate}: {}",
            engine.label()
        );
        let run = bench.sipp(
            &servers[engine.index()],
            sipp_rate,
            opts.concurrency,
            opts.count,
        )?;
        sipp.push((engine, run));
    }
    let saturation_time = timed_start.elapsed();

    // 4. Latency at 80 % of the C engine's saturation rate, once the
    // transactions of the saturation runs have expired.
    wait_for_timer_j();
    let latency_start = Instant::now();
    let latency_rate = (c_best.rate * LATENCY_LOAD).round().max(1.0) as u64;
    let latency_count = (latency_rate as f64 * LATENCY_SECONDS).round() as u64;
    let mut latency: [Vec<LoadRun>; 2] = [Vec::new(), Vec::new()];
    for round in 1..=LATENCY_ROUNDS {
        for engine in Engine::BOTH {
            eprintln!(
                "xtask: bench nta: latency round {round} of {LATENCY_ROUNDS} at \
                 {latency_rate}/s: {}",
                engine.label()
            );
            let run = bench.load(
                &servers[engine.index()],
                latency_count,
                latency_rate,
                LATENCY_CONCURRENCY,
            )?;
            latency[engine.index()].push(run);
        }
    }
    let lowest_p99 = |runs: &[LoadRun]| runs.iter().copied().min_by(|a, b| a.p99.total_cmp(&b.p99));
    let latency_time = latency_start.elapsed();
    drop(servers);
    let total = started.elapsed();

    // The report.
    // A run during which other processes took a noticeable share of the
    // responders' core is marked with `*`.
    let mark = |r: &LoadRun| {
        if r.others_on_core() > DISTURBED {
            "*"
        } else {
            ""
        }
    };
    let rates = |runs: &[LoadRun]| {
        runs.iter()
            .map(|r| format!("{:.0}{}", r.rate, mark(r)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let p99s = |runs: &[LoadRun]| {
        runs.iter()
            .map(|r| format!("{:.2} ms{} with {} dropped", r.p99, mark(r), r.server_drops))
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!(
        "bench nta: OPTIONS over UDP on 127.0.0.1, responders on core {SERVER_CORE}, \
         load generators on core {LOAD_CORE}"
    );
    println!(
        "  saturation: sip-load --count {} --concurrency {}, best of {SATURATION_ROUNDS} \
         alternating runs",
        opts.count, opts.concurrency
    );
    for (engine, best) in [(Engine::C, c_best), (Engine::Rust, rust_best)] {
        let runs = &saturation[engine.index()];
        println!(
            "    {:<24} {:>7.0} transactions/s  (runs: {})",
            engine.label(),
            best.rate,
            rates(runs)
        );
        println!(
            "    {:<24} responder CPU {:.0}% of a core (sip-load {:.0}%), {:.0} transactions \
             per CPU-second, {:.2} context switches per transaction, p99 {:.2} ms{}",
            "",
            best.utilisation() * 100.0,
            best.load_utilisation() * 100.0,
            best.per_cpu_second(),
            best.server_switches as f64 / best.completed.max(1) as f64,
            best.p99,
            best.problems()
        );
    }
    let ratio = rust_best.rate / c_best.rate;
    let cpu_ratio = if c_best.per_cpu_second() > 0.0 {
        rust_best.per_cpu_second() / c_best.per_cpu_second()
    } else {
        0.0
    };
    let verdict = |ok: bool| if ok { "met" } else { "NOT met" };
    let disturbed = saturation
        .iter()
        .chain(&latency)
        .flatten()
        .filter(|r| r.others_on_core() > DISTURBED)
        .count();
    println!(
        "    rust/c = {ratio:.2}x (per CPU-second of the responder: {cpu_ratio:.2}x); \
         target >= {NTA_TARGET_RATIO:.0}x: {}",
        verdict(ratio >= NTA_TARGET_RATIO)
    );

    println!(
        "  SIPp {SIPP_SCENARIO} -r {sipp_rate} -rp 1000 -l {} -m {}",
        opts.concurrency, opts.count
    );
    for (engine, run) in &sipp {
        println!(
            "    {:<24} {:>7.0} successful calls/s  ({} successful, {} failed, {} retransmissions \
             in {:.2} s; responder CPU {:.0}% of a core; {} requests dropped at its socket)",
            engine.label(),
            run.successful as f64 / run.wall,
            run.successful,
            run.failed,
            run.retransmissions,
            run.wall,
            run.server_cpu / run.wall * 100.0,
            run.server_drops
        );
    }

    println!(
        "  latency at {latency_rate} transactions/s ({:.0}% of the C engine's saturation \
         rate): sip-load --rate {latency_rate} --count {latency_count} --concurrency \
         {LATENCY_CONCURRENCY}, lowest p99 of {LATENCY_ROUNDS} alternating runs",
        LATENCY_LOAD * 100.0
    );
    let mut rust_p99 = f64::INFINITY;
    for engine in Engine::BOTH {
        let runs = &latency[engine.index()];
        let Some(low) = lowest_p99(runs) else {
            continue;
        };
        if engine == Engine::Rust {
            rust_p99 = low.p99;
        }
        println!(
            "    {:<24} p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms, {:.0} transactions/s  \
             (p99 of runs: {}){}",
            engine.label(),
            low.p50,
            low.p99,
            low.max,
            low.rate,
            p99s(runs),
            low.problems()
        );
    }
    println!(
        "    target rust p99 < {NTA_TARGET_P99_MS:.0} ms: {}",
        verdict(rust_p99 < NTA_TARGET_P99_MS)
    );

    println!(
        "  memory: VmRSS idle, then with {memory_burst} transactions pending (timer J) after \
         one sip-load burst"
    );
    for (engine, run, loaded) in &memory {
        let before = idle[engine.index()];
        let per = loaded.saturating_sub(before) as f64 / run.completed.max(1) as f64;
        println!(
            "    {:<24} idle {:.1} MB, pending {:.1} MB: {:.0} bytes per pending transaction \
             (after expiry {:.1} MB; burst {:.0} transactions/s{})",
            engine.label(),
            mb(before),
            mb(*loaded),
            per,
            mb(expired[engine.index()]),
            run.rate,
            run.problems()
        );
    }
    if disturbed > 0 {
        println!(
            "  * {disturbed} runs shared core {SERVER_CORE} with other processes (more than \
             {:.0}% of it): their figures are the machine's, not the engine's",
            DISTURBED * 100.0
        );
    }
    println!(
        "  the saturation runs took {:.1} s, the latency runs {:.1} s (transactions expire \
         after 32 s); whole bench {:.0} s, of which {:.0} s waiting for quiet cores",
        saturation_time.as_secs_f64(),
        latency_time.as_secs_f64(),
        total.as_secs_f64(),
        QUIET_BUDGET
            .saturating_sub(bench.quiet_left.get())
            .as_secs_f64()
    );
    Ok(())
}
