//! `uac`: places a call with sofia-nua, prints each event, and hangs up
//! after a while; or, with `--load`, places many calls and reports the
//! rate.
//!
//! ```text
//! cargo run -p sofia-examples --bin uac -- URI [--duration S] \
//!     [--user U --password P] [--bind URL] [--late-offer]
//! cargo run -p sofia-examples --bin uac -- URI --load --count N \
//!     [--rate N] [--concurrency N] [--duration S]
//! ```
//!
//! One call: INVITE with an SDP offer (sofia-soa: PCMU, PCMA,
//! telephone-event; `--late-offer` sends none and answers the 2xx's offer
//! in the ACK), each event printed as a line (`r_invite #1: 180 Ringing`,
//! `i_state #1: 200 OK (ready)`), BYE `--duration` seconds (default 5)
//! after the answer. Digest challenges are answered with `--user` and
//! `--password` (or `SIP_USER`, `SIP_PASSWORD`). SIGINT or SIGTERM hangs
//! up at once (CANCEL before the answer). Exit status 0 when the call was
//! answered and ended with BYE, 1 when it failed (the failing event is the
//! last line), 2 on usage errors.
//!
//! `--load`: `--count` calls (INVITE, 180, 200, ACK, BYE, 200), at most
//! `--concurrency` at once (default 100), started at most `--rate` per
//! second (default: as fast as the calls complete), each hung up
//! `--duration` seconds after its answer (default 0 here); prints
//! `calls: <n> completed, <n> failed, <rate> calls/s` and the setup time
//! (INVITE to 200) as `setup p50 <ms> p99 <ms> max <ms>`. Exit status 0
//! when every call completed, 1 otherwise.
#![forbid(unsafe_code)]

use std::collections::HashMap;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use sofia_nua::{CallState, Config, Credentials, Event, EventKind, Handle, HandleId, Nua};
use tokio::sync::mpsc::Receiver;

/// Command line.
#[derive(Parser, Debug)]
#[command(
    name = "uac",
    version,
    about = "Place a SIP call (or many, with --load) and hang up"
)]
struct Args {
    /// Whom to call, e.g. sip:1000@192.0.2.1.
    uri: String,
    /// Seconds between the answer and our BYE (default 5; 0 with --load).
    #[arg(long)]
    duration: Option<f64>,
    /// User name for digest authentication (default: $SIP_USER).
    #[arg(long)]
    user: Option<String>,
    /// Password for digest authentication (default: $SIP_PASSWORD).
    #[arg(long)]
    password: Option<String>,
    /// Local bind name (default: the address routed toward the callee, any
    /// port).
    #[arg(long)]
    bind: Option<String>,
    /// INVITE without SDP: the answer goes in the ACK.
    #[arg(long)]
    late_offer: bool,
    /// Place many calls and report the rate.
    #[arg(long)]
    load: bool,
    /// Calls to place with --load.
    #[arg(long, default_value_t = 1000)]
    count: u64,
    /// Calls started per second at most with --load (0: no limit).
    #[arg(long, default_value_t = 0)]
    rate: u64,
    /// Calls in progress at once at most with --load.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..))]
    concurrency: u64,
}

/// Why the program stops.
enum Failure {
    Usage(String),
    Call,
}

async fn setup(args: &Args) -> Result<(Nua, Receiver<Event>), Failure> {
    let (_, addr, _) = sofia_examples::first_target(&args.uri)
        .await
        .map_err(Failure::Usage)?;
    let bind = args
        .bind
        .clone()
        .unwrap_or_else(|| sofia_examples::bind_toward(addr));
    let credentials = sofia_examples::credentials(args.user.clone(), args.password.clone())
        .map(|(u, p)| vec![Credentials::new(u, p)])
        .unwrap_or_default();
    let config = Config {
        bind: vec![bind],
        credentials,
        event_queue: 65536,
        ..Config::default()
    };
    Nua::new(config)
        .await
        .map_err(|e| Failure::Usage(e.to_string()))
}

async fn one_call(args: Args) -> Result<(), Failure> {
    let (nua, mut events) = setup(&args).await?;
    let call = nua
        .handle(&args.uri)
        .map_err(|e| Failure::Usage(e.to_string()))?;
    let placed = if args.late_offer {
        call.invite_late_offer()
    } else {
        call.invite()
    };
    placed.map_err(|e| Failure::Usage(e.to_string()))?;
    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| Failure::Usage(e.to_string()))?;
    let duration = Duration::from_secs_f64(args.duration.unwrap_or(5.0).max(0.0));
    let mut answered = false;
    let mut hangup_at: Option<tokio::time::Instant> = None;
    let outcome = loop {
        let hangup = async {
            match hangup_at {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            ev = events.recv() => {
                let Some(ev) = ev else { break Err(Failure::Call) };
                sofia_examples::say!("{ev}");
                match (ev.kind, ev.state) {
                    (EventKind::IState, Some(CallState::Ready)) if !answered => {
                        answered = true;
                        hangup_at = Some(tokio::time::Instant::now() + duration);
                    }
                    (EventKind::IState, Some(CallState::Terminated)) => {
                        let ok = answered && (200..300).contains(&ev.status);
                        break if ok { Ok(()) } else { Err(Failure::Call) };
                    }
                    _ => {}
                }
            }
            _ = hangup => {
                hangup_at = None;
                let _ = call.bye();
            }
            _ = tokio::signal::ctrl_c() => { let _ = call.bye(); }
            _ = sigterm.recv() => { let _ = call.bye(); }
        }
    };
    nua.shutdown();
    outcome
}

/// One call of the load run.
struct Pending {
    handle: Handle,
    started: Instant,
    answered: bool,
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)].as_secs_f64() * 1000.0
}

async fn load(args: Args) -> Result<(), Failure> {
    let (nua, mut events) = setup(&args).await?;
    let hold = Duration::from_secs_f64(args.duration.unwrap_or(0.0).max(0.0));
    let interval = (args.rate > 0).then(|| Duration::from_secs_f64(1.0 / args.rate as f64));
    let mut calls: HashMap<HandleId, Pending> = HashMap::new();
    let (mut started, mut completed, mut failed) = (0u64, 0u64, 0u64);
    let mut setup_times = Vec::with_capacity(args.count as usize);
    let (hangups_tx, mut hangups) = tokio::sync::mpsc::unbounded_channel::<HandleId>();
    let begin = Instant::now();
    let mut next_start = tokio::time::Instant::now();
    while completed + failed < args.count {
        let may_start = started < args.count && (calls.len() as u64) < args.concurrency;
        let start_wait = async {
            if !may_start {
                return std::future::pending().await;
            }
            if interval.is_some() {
                tokio::time::sleep_until(next_start).await;
            }
        };
        tokio::select! {
            () = start_wait => {
                let handle = nua.handle(&args.uri).map_err(|e| Failure::Usage(e.to_string()))?;
                let placed = if args.late_offer { handle.invite_late_offer() } else { handle.invite() };
                placed.map_err(|e| Failure::Usage(e.to_string()))?;
                calls.insert(handle.id(), Pending { handle, started: Instant::now(), answered: false });
                started += 1;
                if let Some(i) = interval {
                    next_start += i;
                }
            }
            Some(id) = hangups.recv() => {
                if let Some(p) = calls.get(&id) {
                    let _ = p.handle.bye();
                }
            }
            ev = events.recv() => {
                let Some(ev) = ev else { return Err(Failure::Call) };
                if ev.kind != EventKind::IState {
                    continue;
                }
                match ev.state {
                    Some(CallState::Ready) => {
                        let Some(p) = calls.get_mut(&ev.handle) else { continue };
                        if p.answered {
                            continue;
                        }
                        p.answered = true;
                        setup_times.push(p.started.elapsed());
                        if hold.is_zero() {
                            let _ = p.handle.bye();
                        } else {
                            let (tx, id) = (hangups_tx.clone(), ev.handle);
                            tokio::spawn(async move {
                                tokio::time::sleep(hold).await;
                                let _ = tx.send(id);
                            });
                        }
                    }
                    Some(CallState::Terminated) => {
                        let Some(p) = calls.remove(&ev.handle) else { continue };
                        if p.answered && (200..300).contains(&ev.status) {
                            completed += 1;
                        } else {
                            failed += 1;
                            eprintln!("uac: call {} failed: {} {}", ev.handle, ev.status, ev.phrase);
                        }
                        let _ = p.handle.destroy();
                    }
                    _ => {}
                }
            }
        }
    }
    let elapsed = begin.elapsed().as_secs_f64();
    setup_times.sort();
    sofia_examples::say!(
        "calls: {completed} completed, {failed} failed, {:.0} calls/s",
        (completed + failed) as f64 / elapsed.max(1e-9)
    );
    sofia_examples::say!(
        "setup p50 {:.2} ms p99 {:.2} ms max {:.2} ms",
        percentile(&setup_times, 0.5),
        percentile(&setup_times, 0.99),
        setup_times.last().map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    );
    nua.shutdown();
    if failed == 0 {
        Ok(())
    } else {
        Err(Failure::Call)
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    sofia_su::log::init_tracing();
    let runtime = match sofia_examples::runtime("uac") {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let run = if args.load {
        runtime.block_on(load(args))
    } else {
        runtime.block_on(one_call(args))
    };
    match run {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Call) => ExitCode::from(1),
        Err(Failure::Usage(e)) => {
            eprintln!("uac: {e}");
            ExitCode::from(2)
        }
    }
}
