//! `sip-responder`: answers every out-of-dialog request statefully with one
//! status code.
//!
//! ```text
//! cargo run -p sofia-examples --bin sip-responder -- --bind URL [--status N]
//! ```
//!
//! Binds the sofia-style URL (`sip:127.0.0.1:5060` serves UDP and TCP),
//! prints `listening on <transport>/<address>` for each socket, and answers
//! each request (except ACK) with N (default 200), a To tag and a Contact
//! at once, from an `Agent::with_handler` callback in the engine's loop;
//! retransmissions, ACKs and CANCELs are handled by the transaction
//! layer. It runs until SIGINT or SIGTERM. Exit status 2 on usage or bind
//! errors.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;
use sofia_msg::{HeaderName, ResponseBuilder};
use sofia_nta::{Agent, Config};

/// Command line.
#[derive(Parser, Debug)]
#[command(
    name = "sip-responder",
    version,
    about = "Answer every SIP request statefully with one status code"
)]
struct Args {
    /// Bind name, e.g. sip:127.0.0.1:5060.
    #[arg(long)]
    bind: String,
    /// The status code to answer with.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u16).range(200..=699))]
    status: u16,
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        202 => "Accepted",
        403 => "Forbidden",
        404 => "Not Found",
        480 => "Temporarily Unavailable",
        486 => "Busy Here",
        500 => "Server Internal Error",
        503 => "Service Unavailable",
        603 => "Decline",
        _ => "Response",
    }
}

async fn run(args: Args) -> Result<(), String> {
    let (tport, incoming) = sofia_examples::bind_and_announce(&args.bind).await?;
    let config = Config {
        // Every request gets the chosen status, also unknown methods.
        accept_unknown_methods: true,
        ..Config::default()
    };
    let contact_addr = tport
        .listeners()
        .first()
        .map(|(_, a)| *a)
        .ok_or("nothing bound")?;
    let contact = format!("<sip:responder@{contact_addr}>");
    // One To tag for every answer, as sofia-sip's default leg has.
    let tag = sofia_su::IdGenerator::from_os().tag();
    let status = args.status;
    // Every request is answered inside the engine's loop, as nta's leg
    // callback answers it in sofia-sip.
    let handler: sofia_nta::Handler = Box::new(move |req| {
        match ResponseBuilder::reply_to(&req.msg, status, reason(status), Some(&tag))
            .header(HeaderName::Contact, &contact)
            .build()
        {
            Ok(resp) => Some(resp),
            Err(e) => {
                eprintln!("sip-responder: {e}");
                None
            }
        }
    });
    let (_agent, mut requests, mut others) = Agent::with_handler(tport, incoming, config, handler);
    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| e.to_string())?;
    loop {
        tokio::select! {
            // Requests the handler could not answer (it printed why): the
            // peer's retransmission tries again.
            req = requests.recv() => if req.is_none() { break },
            // ACKs, CANCELs of answered INVITEs, terminations: nothing to do.
            ev = others.recv() => if ev.is_none() { break },
            _ = tokio::signal::ctrl_c() => break,
            _ = sigterm.recv() => break,
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    let args = Args::parse();
    sofia_su::log::init_tracing();
    // One thread: the transport, the engine and this loop hand requests to
    // each other without crossing threads (measured with perf: a worker
    // thread beside the main one cost a context switch per transaction).
    sofia_examples::serve("sip-responder", run(args))
}
