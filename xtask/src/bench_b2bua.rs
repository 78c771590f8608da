//! `cargo xtask bench b2bua`: calls bridged by the `sofia` daemon (release
//! build, on core 0) from SIPp's built-in `uac` scenario to SIPp's built-in
//! `uas` scenario (both on core 1): each call is two legs, INVITE/180/200/
//! ACK/BYE/200 relayed both ways. Rates go up until SIPp counts failures;
//! then the target rate runs for a longer stretch. The daemon's CPU per
//! bridged call and its resident memory are printed with each run.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::Result;
use crate::bench::{
    Guard, clock_ticks, free_udp_tcp_port, mb, proc_cpu_ticks, proc_rss, run_bounded, target_dir,
};
use crate::peers;

/// The daemon's core.
const SERVER_CORE: &str = "0";
/// The SIPp instances' core.
const LOAD_CORE: &str = "1";
/// Rates tried, calls/s, for [`STEP_SECONDS`] each.
const RATES: [u64; 5] = [500, 1000, 1500, 2000, 3000];
/// Seconds per step.
const STEP_SECONDS: u64 = 10;
/// The target, bridged calls/s with 0 failures.
const TARGET: u64 = 1000;
/// Seconds the target rate is sustained.
const SUSTAIN_SECONDS: u64 = 60;

fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

/// The daemon's configuration: profile `bench` on 127.0.0.1:`port` whose
/// route sends every number to SIPp's uas on `uas_port`.
fn write_config(dir: &Path, port: u16, uas_port: u16) -> Result<PathBuf> {
    let conf = dir.join("conf/autoload_configs");
    std::fs::create_dir_all(&conf).map_err(|e| format!("{}: {e}", conf.display()))?;
    std::fs::create_dir_all(dir.join("conf/directory"))
        .map_err(|e| format!("{}: {e}", dir.display()))?;
    let file = conf.join("sofia.conf.xml");
    std::fs::write(
        &file,
        format!(
            r#"<configuration name="sofia.conf" description="sofia Endpoint">
  <profiles>
    <profile name="bench">
      <settings>
        <param name="sip-ip" value="127.0.0.1"/>
        <param name="sip-port" value="{port}"/>
      </settings>
      <routes>
        <route expression="^(.+)$" dial-string="sofia/bench/$1@127.0.0.1:{uas_port}"/>
      </routes>
    </profile>
  </profiles>
</configuration>
"#
        ),
    )
    .map_err(|e| format!("{}: {e}", file.display()))?;
    std::fs::write(
        dir.join("conf/directory/default.xml"),
        "<include><domain name=\"127.0.0.1\"><users/></domain></include>\n",
    )
    .map_err(|e| format!("{}: {e}", dir.display()))?;
    Ok(file)
}

fn spawn_quiet(cmd: &mut Command) -> Result<Guard> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map(Guard)
        .map_err(|e| format!("cannot start {cmd:?}: {e}"))
}

/// Waits until something holds UDP `port` (at most 20 s).
fn wait_port(port: u16, what: &str) -> Result {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(20) {
        if std::net::UdpSocket::bind(("127.0.0.1", port)).is_err() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(format!(
        "{what} does not listen on 127.0.0.1:{port} after 20 s"
    ))
}

/// SIPp's uac at `rate` for `seconds` through the daemon: (successful,
/// failed) calls.
fn sipp_uac(daemon_port: u16, rate: u64, seconds: u64, out: &Path) -> Result<(u64, u64)> {
    let port = free_udp_tcp_port()?;
    let calls = rate * seconds;
    let mut cmd = Command::new("taskset");
    cmd.args([
        "-c", LOAD_CORE, "sipp", "-sn", "uac", "-nostdin", "-s", "5000",
    ])
    .args(["-r", &rate.to_string(), "-m", &calls.to_string()])
    .args(["-l", "5000", "-timeout", &format!("{}s", seconds + 60)])
    .args(["-i", "127.0.0.1", "-p", &port.to_string()])
    .arg(format!("127.0.0.1:{daemon_port}"));
    let (_, text, _) = run_bounded(&mut cmd, out, Duration::from_secs(seconds + 90))?;
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

/// `cargo xtask bench b2bua`.
pub(crate) fn b2bua(args: &[String]) -> Result {
    if !args.is_empty() {
        return Err("usage: cargo xtask bench b2bua".to_string());
    }
    peers::ensure(&peers::by_name(&["sip-tester".to_string()])?)?;
    let status = cargo()
        .args(["build", "--release", "-p", "mod_sofia", "--bin", "sofia"])
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !status.success() {
        return Err("cannot build the sofia daemon".to_string());
    }
    let target = target_dir();
    let bin = target.join("release/sofia");
    let dir = target.join("xtask-bench/b2bua");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let uas_port = free_udp_tcp_port()?;
    let mut uas_cmd = Command::new("taskset");
    uas_cmd
        .args(["-c", LOAD_CORE, "sipp", "-sn", "uas", "-nostdin"])
        .args(["-i", "127.0.0.1", "-p", &uas_port.to_string()]);
    let _uas = spawn_quiet(&mut uas_cmd)?;
    wait_port(uas_port, "SIPp's uas")?;
    let port = free_udp_tcp_port()?;
    let conf = write_config(&dir, port, uas_port)?;
    let mut daemon_cmd = Command::new("taskset");
    daemon_cmd
        .args(["-c", SERVER_CORE])
        .arg(&bin)
        .arg("-c")
        .arg(&conf)
        .arg("--data-dir")
        .arg(dir.join("data"))
        .arg("--no-console");
    let daemon = spawn_quiet(&mut daemon_cmd)?;
    wait_port(port, "the sofia daemon")?;
    let pid = daemon.0.id();
    let out = dir.join("sipp-uac.txt");
    println!(
        "bench b2bua: SIPp uac -> sofia daemon (core {SERVER_CORE}) -> SIPp uas (both SIPp on core {LOAD_CORE}), UDP on 127.0.0.1; {STEP_SECONDS} s per rate"
    );
    let mut highest = None;
    for rate in RATES {
        let before = proc_cpu_ticks(pid)?;
        let (ok, failed) = sipp_uac(port, rate, STEP_SECONDS, &out)?;
        let ticks = proc_cpu_ticks(pid)?.saturating_sub(before);
        let cpu_ms = ticks as f64 / clock_ticks() * 1000.0 / ok.max(1) as f64;
        println!(
            "{rate} calls/s: {ok} successful, {failed} failed; daemon {cpu_ms:.3} ms CPU per bridged call, RSS {:.1} MB",
            mb(proc_rss(pid)?)
        );
        if failed > 0 {
            break;
        }
        highest = Some(rate);
    }
    match highest {
        Some(r) => println!("highest rate with 0 failed calls: {r} bridged calls/s"),
        None => println!("failures at every rate"),
    }
    let before = proc_cpu_ticks(pid)?;
    let (ok, failed) = sipp_uac(port, TARGET, SUSTAIN_SECONDS, &out)?;
    let ticks = proc_cpu_ticks(pid)?.saturating_sub(before);
    let cpu = ticks as f64 / clock_ticks();
    println!(
        "sustained: {TARGET} calls/s for {SUSTAIN_SECONDS} s: {ok} successful, {failed} failed; daemon CPU {cpu:.2} s ({:.0} % of its core), RSS {:.1} MB (target {TARGET}/s with 0 failures: {})",
        cpu * 100.0 / SUSTAIN_SECONDS as f64,
        mb(proc_rss(pid)?),
        if failed == 0 && ok == TARGET * SUSTAIN_SECONDS {
            "met"
        } else {
            "NOT met"
        }
    );
    if failed == 0 && ok == TARGET * SUSTAIN_SECONDS {
        Ok(())
    } else {
        Err("the bridged call target is not met".to_string())
    }
}
