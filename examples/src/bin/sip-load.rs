//! `sip-load`: a load generator for non-INVITE transactions.
//!
//! ```text
//! cargo run --release -p sofia-examples --bin sip-load -- URI [--method OPTIONS]
//!     [--rate N] [--count N] [--concurrency N] [--bind URL] [--timeout SECONDS]
//! ```
//!
//! Starts `--count` transactions (default 1000) to URI at up to `--rate` per
//! second (default 0: as fast as the concurrency allows), with at most
//! `--concurrency` (default 100) in flight, and prints:
//!
//! ```text
//! transactions 1000, completed 1000, failures 0, timeouts 0
//! 1234 transactions/s
//! latency p50 0.41 ms, p99 1.20 ms, max 3.02 ms
//! ```
//!
//! A failure is a final response other than 2xx; a timeout is timer F (or
//! `--timeout`, default 32 s). Exit status 0 when every transaction got a 2xx,
//! 1 otherwise, 2 on usage or setup errors.
#![forbid(unsafe_code)]

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use sofia_msg::{HeaderName, Method, RequestBuilder};
use sofia_nta::{Agent, ClientEvent, Config};
use sofia_tport::{Destination, Tport, Transport};
use tokio::sync::Semaphore;

/// Command line.
#[derive(Parser, Debug)]
#[command(
    name = "sip-load",
    version,
    about = "Load generator for SIP non-INVITE transactions"
)]
struct Args {
    /// The target URI (`;transport=tcp` for TCP).
    uri: String,
    /// The method to send (not INVITE or ACK).
    #[arg(long, default_value = "OPTIONS")]
    method: String,
    /// Transactions started per second (0: as fast as the concurrency allows).
    #[arg(long, default_value_t = 0)]
    rate: u64,
    /// Transactions in all.
    #[arg(long, default_value_t = 1000)]
    count: u64,
    /// Transactions in flight at most.
    #[arg(long, default_value_t = 100)]
    concurrency: usize,
    /// Local bind name.
    #[arg(long, default_value = "sip:127.0.0.1:0")]
    bind: String,
    /// Seconds a transaction may take.
    #[arg(long, default_value_t = 32)]
    timeout: u64,
}

/// Outcome of one transaction.
enum Outcome {
    Ok(Duration),
    Failed,
    TimedOut,
}

async fn run(args: Args) -> Result<bool, String> {
    let method = Method::from_bytes(args.method.as_bytes());
    if matches!(method, Method::Invite | Method::Ack) {
        return Err("only non-INVITE methods".into());
    }
    let (transport, addr, _) = sofia_examples::first_target(&args.uri).await?;
    if transport == Transport::Tls {
        return Err("sip-load does not do TLS".into());
    }
    let (tport, incoming) = Tport::bind(sofia_tport::Config::new([args.bind.clone()]))
        .await
        .map_err(|e| e.to_string())?;
    let (agent, _requests, _others) = Agent::new(tport, incoming, Config::default());
    let local = agent
        .tport()
        .local_addr(Transport::Udp)
        .or_else(|| agent.tport().local_addr(Transport::Tcp))
        .ok_or("no local address")?;
    let from_tag = agent.tag();
    let slots = Arc::new(Semaphore::new(args.concurrency.max(1)));
    let timeout = Duration::from_secs(args.timeout);
    let interval = (args.rate > 0).then(|| Duration::from_secs_f64(1.0 / args.rate as f64));
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(args.count as usize);
    for i in 0..args.count {
        if let Some(iv) = interval {
            tokio::time::sleep_until(tokio::time::Instant::from_std(start + iv * i as u32)).await;
        }
        let permit = slots
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| e.to_string())?;
        let via = agent.via(transport).ok_or("no local address for the Via")?;
        let request = RequestBuilder::with_method(&args.method, &args.uri)
            .header(HeaderName::Via, &via)
            .header(HeaderName::MaxForwards, "70")
            .header(
                HeaderName::From,
                &format!("<sip:sip-load@{local}>;tag={from_tag}"),
            )
            .header(HeaderName::To, &format!("<{}>", args.uri))
            .header(
                HeaderName::CallId,
                &format!("load-{i}-{from_tag}@{}", local.ip()),
            )
            .header(HeaderName::CSeq, &format!("1 {}", args.method))
            .build()
            .map_err(|e| e.to_string())?;
        let sent = Instant::now();
        let mut rx = agent
            .request(request, Destination::new(transport, addr))
            .map_err(|e| e.to_string())?;
        tasks.push(tokio::spawn(async move {
            let _permit = permit;
            loop {
                match tokio::time::timeout(timeout, rx.recv()).await {
                    Ok(Some(ClientEvent::Response(msg))) => match msg.status() {
                        Some(s) if s < 200 => continue,
                        Some(s) if s < 300 => return Outcome::Ok(sent.elapsed()),
                        _ => return Outcome::Failed,
                    },
                    _ => return Outcome::TimedOut,
                }
            }
        }));
    }
    let mut latencies = Vec::with_capacity(tasks.len());
    let (mut failures, mut timeouts) = (0u64, 0u64);
    for t in tasks {
        match t.await {
            Ok(Outcome::Ok(d)) => latencies.push(d),
            Ok(Outcome::Failed) => failures += 1,
            Ok(Outcome::TimedOut) | Err(_) => timeouts += 1,
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    latencies.sort();
    let pct = |p: f64| -> f64 {
        if latencies.is_empty() {
            return 0.0;
        }
        let i = ((latencies.len() as f64 * p).ceil() as usize).clamp(1, latencies.len()) - 1;
        latencies[i].as_secs_f64() * 1000.0
    };
    println!(
        "transactions {}, completed {}, failures {failures}, timeouts {timeouts}",
        args.count,
        latencies.len()
    );
    println!("{:.0} transactions/s", latencies.len() as f64 / elapsed);
    println!(
        "latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        pct(0.50),
        pct(0.99),
        latencies.last().map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    );
    Ok(failures == 0 && timeouts == 0)
}

fn main() -> ExitCode {
    let args = Args::parse();
    sofia_su::log::init_tracing();
    let runtime = match sofia_examples::runtime("sip-load") {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run(args)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("sip-load: {e}");
            ExitCode::from(2)
        }
    }
}
