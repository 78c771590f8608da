//! `uas`: answers every call with SDP (sofia-nua) and hangs up when the
//! peer does.
//!
//! ```text
//! cargo run -p sofia-examples --bin uas -- --bind URL [--answer-after MS] \
//!     [--reject CODE] [--no-ring] [--verbose]
//! ```
//!
//! Binds the sofia-style URL (`sip:127.0.0.1:5060` serves UDP and TCP) and
//! prints `listening on <transport>/<address>` for each socket. Each
//! incoming INVITE is answered 180 Ringing (unless `--no-ring`), then, after
//! `--answer-after` milliseconds (default 0), 200 OK with the SDP answer
//! from sofia-soa (PCMU, PCMA, telephone-event at port 40000; no RTP is
//! sent). `--reject CODE` answers every call with that final status
//! instead (486, 603, ...). Re-INVITEs, UPDATE, INFO and BYE are answered
//! by the user agent. `--verbose` prints each event (`i_invite #2: 100
//! Trying`); otherwise nothing is printed per call. On SIGINT or SIGTERM it
//! prints `calls: <n> answered, <n> rejected, <n> completed` and exits 0;
//! exit status 2 on usage or bind errors. `NUA_DEBUG=5` logs every command,
//! event and state change.
#![forbid(unsafe_code)]

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use sofia_nua::{CallState, Config, EventKind, Nua};

/// Command line.
#[derive(Parser, Debug)]
#[command(
    name = "uas",
    version,
    about = "Answer every SIP call with SDP and hang up when the peer does"
)]
struct Args {
    /// Bind name, e.g. sip:127.0.0.1:5060.
    #[arg(long)]
    bind: String,
    /// Milliseconds between 180 Ringing and 200 OK.
    #[arg(long, default_value_t = 0)]
    answer_after: u64,
    /// Reject every call with this final status (300-699) instead of
    /// answering.
    #[arg(long, value_parser = clap::value_parser!(u16).range(300..=699))]
    reject: Option<u16>,
    /// Do not send 180 Ringing first.
    #[arg(long)]
    no_ring: bool,
    /// Print every event.
    #[arg(long)]
    verbose: bool,
}

fn reason(status: u16) -> &'static str {
    match status {
        403 => "Forbidden",
        404 => "Not Found",
        480 => "Temporarily Unavailable",
        486 => "Busy Here",
        488 => "Not Acceptable Here",
        503 => "Service Unavailable",
        600 => "Busy Everywhere",
        603 => "Decline",
        _ => "Rejected",
    }
}

async fn run(args: Args) -> Result<(), String> {
    let config = Config {
        bind: vec![args.bind.clone()],
        // A burst of calls must not make the user agent wait for us.
        event_queue: 65536,
        ..Config::default()
    };
    let (nua, mut events) = Nua::new(config).await.map_err(|e| e.to_string())?;
    {
        let mut out = std::io::stdout().lock();
        for (t, addr) in nua.listeners() {
            let _ = writeln!(out, "listening on {t}/{addr}");
        }
        let _ = out.flush();
    }
    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| e.to_string())?;
    let (mut answered, mut rejected, mut completed) = (0u64, 0u64, 0u64);
    loop {
        tokio::select! {
            ev = events.recv() => {
                let Some(ev) = ev else { break };
                if args.verbose {
                    sofia_examples::say!("{ev}");
                }
                match ev.kind {
                    EventKind::IInvite if ev.status == 100 => {
                        let call = nua.handle_of(ev.handle);
                        if let Some(code) = args.reject {
                            rejected += 1;
                            let _ = call.respond(code, reason(code));
                            continue;
                        }
                        if !args.no_ring {
                            let _ = call.respond(180, "Ringing");
                        }
                        answered += 1;
                        if args.answer_after == 0 {
                            let _ = call.respond(200, "OK");
                        } else {
                            let wait = Duration::from_millis(args.answer_after);
                            tokio::spawn(async move {
                                tokio::time::sleep(wait).await;
                                let _ = call.respond(200, "OK");
                            });
                        }
                    }
                    EventKind::IState if ev.state == Some(CallState::Terminated) && ev.status == 200 => {
                        completed += 1;
                    }
                    _ => {}
                }
            }
            _ = tokio::signal::ctrl_c() => break,
            _ = sigterm.recv() => break,
        }
    }
    sofia_examples::say!("calls: {answered} answered, {rejected} rejected, {completed} completed");
    nua.shutdown();
    Ok(())
}

fn main() -> ExitCode {
    let args = Args::parse();
    sofia_su::log::init_tracing();
    sofia_examples::serve("uas", run(args))
}
