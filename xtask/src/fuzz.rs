//! `cargo xtask fuzz [SECONDS]`: a short smoke run of every cargo-fuzz target
//! in `fuzz/`.
//!
//! Installs `cargo-fuzz` when it is missing, then runs each target for
//! SECONDS (default 30) on the toolchain that runs xtask (stable), with
//! `RUSTC_BOOTSTRAP=1` so that the nightly-only flags cargo-fuzz passes to
//! rustc (sanitizers, coverage instrumentation) are accepted. New corpus
//! entries go to `fuzz/corpus/<target>/` (ignored by git); a crash leaves its
//! input in `fuzz/artifacts/<target>/` and fails the command.

use crate::{Result, cargo, run as run_cmd, workspace_root};

/// Every target in `fuzz/fuzz_targets/`.
const TARGETS: &[&str] = &[
    "parse_message",
    "parse_uri",
    "stream_framer",
    "parse_sdp",
    "digest_auth",
];

/// Seconds per target when none are given.
const DEFAULT_SECONDS: u64 = 30;

/// Runs `cargo xtask fuzz [SECONDS]`.
pub(crate) fn run(args: &[String]) -> Result {
    let seconds = match args {
        [] => DEFAULT_SECONDS,
        [s] => s
            .parse::<u64>()
            .ok()
            .filter(|&s| s > 0)
            .ok_or_else(|| format!("fuzz: SECONDS must be a positive number, not {s:?}"))?,
        _ => return Err("usage: cargo xtask fuzz [SECONDS]".to_string()),
    };
    ensure_cargo_fuzz()?;
    let mut failed = Vec::new();
    for target in TARGETS {
        println!("fuzz: {target} for {seconds} s ...");
        let result = run_cmd(
            cargo()
                .args(["fuzz", "run", target, "--"])
                .arg(format!("-max_total_time={seconds}"))
                .args(["-rss_limit_mb=2048", "-max_len=65536"])
                .env("RUSTC_BOOTSTRAP", "1"),
        );
        match result {
            Ok(()) => println!("fuzz: {target} ok"),
            Err(e) => {
                println!("fuzz: {target} FAILED: {e}");
                failed.push(*target);
            }
        }
    }
    if failed.is_empty() {
        println!(
            "fuzz: {} targets ran {seconds} s each without a crash",
            TARGETS.len()
        );
        Ok(())
    } else {
        let artifacts = workspace_root().join("fuzz").join("artifacts");
        Err(format!(
            "fuzz targets found crashes: {} (inputs in {})",
            failed.join(", "),
            artifacts.display()
        ))
    }
}

/// Installs cargo-fuzz unless `cargo fuzz --version` already works.
fn ensure_cargo_fuzz() -> Result {
    let installed = cargo()
        .args(["fuzz", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if installed {
        return Ok(());
    }
    println!("fuzz: cargo-fuzz is missing, installing it");
    run_cmd(cargo().args(["install", "cargo-fuzz", "--locked"]))
}
