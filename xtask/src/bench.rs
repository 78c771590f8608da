//! `cargo xtask bench parse [--iterations N]`: parse throughput of sofia-rs
//! against sofia-sip's C parser on the same message.
//!
//! Builds `xtask/c/parse_bench.c` against the system's `libsofia-sip-ua`
//! (installing `libsofia-sip-ua-dev` and `pkg-config` when missing) into the
//! cargo target directory, builds `sip-parse` in release mode, then runs both
//! on `benches/data/invite.sip` for the same number of iterations, alternating
//! C and Rust seven times each, and prints the best throughput of each and
//! their ratio.

use std::path::{Path, PathBuf};
use std::process::Command;

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
        "usage: cargo xtask bench parse [--iterations N] | tport\n  \
         parse  sofia-rs vs sofia-sip C parse throughput on {MESSAGE} \
         (default N = {DEFAULT_ITERATIONS})\n  \
         tport  UDP receive+parse of sofia-tport vs a bare recv_from loop"
    )
}

/// Runs `cargo xtask bench <args>`.
pub(crate) fn run(args: &[String]) -> Result {
    match args.first().map(String::as_str) {
        Some("parse") => parse(parse_options(&args[1..])?),
        Some("tport") => tport(),
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
fn target_dir() -> PathBuf {
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

/// Compiles the C benchmark against libsofia-sip-ua; returns the binary.
fn build_c(target: &Path) -> Result<PathBuf> {
    let flags = output(Command::new("pkg-config").args(["--cflags", "--libs", "sofia-sip-ua"]))?;
    let dir = target.join("xtask-bench");
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let bin = dir.join("parse_bench");
    let mut cc = Command::new("cc");
    cc.args(["-O2", "-Wall", "-o"])
        .arg(&bin)
        .arg(workspace_root().join(C_SOURCE))
        .args(flags.split_whitespace());
    run_cmd(&mut cc)?;
    Ok(bin)
}

/// Builds `sip-parse` in release mode; returns the binary.
fn build_rust(target: &Path) -> Result<PathBuf> {
    build_example(target, "sip-parse")
}

/// Builds an example program in release mode; returns the binary.
fn build_example(target: &Path, name: &str) -> Result<PathBuf> {
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
    let c_bin = build_c(&target)?;
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
