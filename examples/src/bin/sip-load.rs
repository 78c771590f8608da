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
//! cpu 0.052 s
//! ```
//!
//! The last line is sip-load's own CPU time (from `/proc/self/schedstat`;
//! absent where that cannot be read), which tells whether the generator or
//! the target set the rate.
//!
//! A failure is a final response other than 2xx; a timeout is timer F (or
//! `--timeout`, default 32 s). Exit status 0 when every transaction got a 2xx,
//! 1 otherwise, 2 on usage or setup errors or when the results cannot be
//! written.
//!
//! Over UDP, sip-load drives sofia-nta's sans-IO [`Endpoint`] itself on one
//! socket (2 MiB buffers, as sofia-tport's default), with no task, channel
//! or timer per transaction: it writes each request from a template,
//! receives every datagram that is waiting before it sends more, and with
//! `--rate` sends each request at its own time (start + i / rate, to the
//! runtime's millisecond), so that the load is paced rather than bursty.
//! The engine retransmits and times out as in any sofia-nta client. Over
//! TCP it uses the [`Agent`].
#![forbid(unsafe_code)]

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::Parser;
use sofia_msg::{HeaderName, Message, Method, RequestBuilder};
use sofia_nta::{Agent, ClientEvent, ClientId, Config, Endpoint, Event};
use sofia_tport::{Destination, Incoming, Tport, Transport};
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
    if transport == Transport::Udp {
        let report = run_udp(&args, addr).await?;
        return report.print(args.count);
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
    let report = Report {
        latencies,
        failures,
        timeouts,
        elapsed: start.elapsed(),
    };
    report.print(args.count)
}

/// What a run measured.
struct Report {
    /// Latency of each transaction that got a 2xx.
    latencies: Vec<Duration>,
    /// Final responses other than 2xx.
    failures: u64,
    /// Transactions without a final response in time.
    timeouts: u64,
    /// From the first request to the last outcome.
    elapsed: Duration,
}

impl Report {
    /// Prints the result lines; true when every transaction got a 2xx. A
    /// closed standard output (the reader has what it wanted) is not an
    /// error; any other failure to write is.
    fn print(mut self, count: u64) -> Result<bool, String> {
        let (failures, timeouts) = (self.failures, self.timeouts);
        let latencies = &mut self.latencies;
        let elapsed = self.elapsed.as_secs_f64();
        latencies.sort();
        let pct = |p: f64| -> f64 {
            if latencies.is_empty() {
                return 0.0;
            }
            let i = ((latencies.len() as f64 * p).ceil() as usize).clamp(1, latencies.len()) - 1;
            latencies[i].as_secs_f64() * 1000.0
        };
        let mut text = format!(
            "transactions {count}, completed {}, failures {failures}, timeouts {timeouts}\n\
             {:.0} transactions/s\n\
             latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms\n",
            latencies.len(),
            latencies.len() as f64 / elapsed,
            pct(0.50),
            pct(0.99),
            latencies.last().map_or(0.0, |d| d.as_secs_f64() * 1000.0)
        );
        if let Some(cpu) = own_cpu() {
            text.push_str(&format!("cpu {:.3} s\n", cpu.as_secs_f64()));
        }
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
            Err(e) => return Err(format!("cannot write the results: {e}")),
        }
        Ok(failures == 0 && timeouts == 0)
    }
}

/// This process's CPU time so far: the first field of
/// `/proc/self/schedstat`, in nanoseconds (all threads of the process are
/// in `/proc/self/task`, but sip-load runs on one).
fn own_cpu() -> Option<Duration> {
    let text = std::fs::read_to_string("/proc/self/schedstat").ok()?;
    let ns = text.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}

/// Socket buffers of the UDP socket: sofia-tport's default.
const UDP_BUFFER: usize = sofia_tport::Config::DEFAULT_UDP_BUFFER;

/// Largest datagram read.
const MAX_DATAGRAM: usize = 65536;

/// The UDP load: `Endpoint` and one socket, driven by one loop.
async fn run_udp(args: &Args, target: std::net::SocketAddr) -> Result<Report, String> {
    let bind: std::net::SocketAddr = {
        let spec = args
            .bind
            .strip_prefix("sip:")
            .ok_or_else(|| format!("{}: not a sip: bind name", args.bind))?;
        spec.parse()
            .or_else(|_| format!("{spec}:0").parse())
            .map_err(|e| format!("{}: not an address and port: {e}", args.bind))?
    };
    let socket = {
        use socket2::{Domain, Protocol, Socket, Type};
        let s = Socket::new(Domain::for_address(bind), Type::DGRAM, Some(Protocol::UDP))
            .map_err(|e| e.to_string())?;
        // A refused size leaves the system's, as in sofia-tport.
        let _ = s.set_recv_buffer_size(UDP_BUFFER);
        let _ = s.set_send_buffer_size(UDP_BUFFER);
        s.set_nonblocking(true).map_err(|e| e.to_string())?;
        s.bind(&bind.into()).map_err(|e| format!("{bind}: {e}"))?;
        tokio::net::UdpSocket::from_std(s.into()).map_err(|e| e.to_string())?
    };
    let local = socket.local_addr().map_err(|e| e.to_string())?;
    let mut endpoint = Endpoint::new(Config::default());
    // Every transaction lives on in the engine for timer K (5 s) after its
    // response: room for all of them, so that no table grows (and stalls the
    // loop while it rehashes) in the middle of the run. Bounded: at most a
    // million entries are reserved up front.
    endpoint.reserve_clients(
        usize::try_from(args.count)
            .unwrap_or(usize::MAX)
            .min(1 << 20),
    );
    let from_tag = endpoint.new_tag();
    // The request, cut where the branch and the call number go.
    let head = format!(
        "{method} {uri} SIP/2.0\r\nVia: SIP/2.0/UDP {local};rport;branch=",
        method = args.method,
        uri = args.uri
    );
    let middle = format!(
        "\r\nMax-Forwards: 70\r\nFrom: <sip:sip-load@{local}>;tag={from_tag}\r\n\
         To: <{uri}>\r\nCall-ID: load-",
        uri = args.uri
    );
    let tail = format!(
        "-{from_tag}@{ip}\r\nCSeq: 1 {method}\r\nContent-Length: 0\r\n\r\n",
        ip = local.ip(),
        method = args.method
    );
    // The template must make a request this crate accepts.
    let probe = format!("{head}z9hG4bKprobe{middle}0{tail}");
    Message::parse(Bytes::from(probe))
        .ok()
        .filter(|m| m.is_request() && m.check().is_ok())
        .ok_or_else(|| format!("{}: cannot build a valid request", args.uri))?;

    let dest = Destination::new(Transport::Udp, target);
    let timeout = Duration::from_secs(args.timeout);
    let interval = (args.rate > 0).then(|| Duration::from_secs_f64(1.0 / args.rate as f64));
    let window = args.concurrency.max(1);
    // Transactions waiting for their final response: when each was sent.
    let mut pending: std::collections::HashMap<ClientId, Instant> =
        std::collections::HashMap::with_capacity(window * 2);
    // Sent transactions in order, for --timeout.
    let mut order: std::collections::VecDeque<(ClientId, Instant)> =
        std::collections::VecDeque::with_capacity(window * 2);
    let mut report = Report {
        latencies: Vec::with_capacity(args.count as usize),
        failures: 0,
        timeouts: 0,
        elapsed: Duration::ZERO,
    };
    let mut buf = vec![0u8; MAX_DATAGRAM];
    let mut text: Vec<u8> = Vec::with_capacity(head.len() + middle.len() + tail.len() + 64);
    let mut started = 0u64;
    let start = Instant::now();
    loop {
        let now = Instant::now();
        // Start what the window and the pace allow.
        while started < args.count && pending.len() < window {
            let due = interval.map(|iv| start + iv.mul_f64(started as f64));
            if due.is_some_and(|d| d > now) {
                break;
            }
            let branch = endpoint.new_branch();
            text.clear();
            text.extend_from_slice(head.as_bytes());
            text.extend_from_slice(branch.as_bytes());
            text.extend_from_slice(middle.as_bytes());
            text.extend_from_slice(started.to_string().as_bytes());
            text.extend_from_slice(tail.as_bytes());
            let request =
                Message::parse(Bytes::copy_from_slice(&text)).map_err(|e| e.to_string())?;
            let sent = Instant::now();
            let id = endpoint
                .send_request(sent, request, dest.clone())
                .map_err(|e| e.to_string())?;
            pending.insert(id, sent);
            order.push_back((id, sent));
            started += 1;
        }
        while let Some(t) = endpoint.poll_transmit() {
            // An error loses the datagram as the network would: the engine
            // retransmits it.
            let _ = socket.send_to(&t.bytes, t.dest.addr).await;
        }
        // Everything that is waiting, before sending more.
        loop {
            match socket.try_recv_from(&mut buf) {
                Ok((n, peer)) => {
                    let Ok(msg) = Message::parse(Bytes::copy_from_slice(&buf[..n])) else {
                        continue;
                    };
                    endpoint.handle(
                        Instant::now(),
                        Incoming {
                            msg,
                            transport: Transport::Udp,
                            remote: peer,
                            local,
                            conn: None,
                            oversized: None,
                        },
                    );
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                // ICMP errors of earlier sends; the socket is still good.
                Err(_) => continue,
            }
        }
        let now = Instant::now();
        endpoint.handle_timeout(now);
        while let Some(ev) = endpoint.poll_event() {
            let (client, outcome) = match ev {
                Event::Response { client, msg } => match msg.status() {
                    Some(s) if s < 200 => continue,
                    Some(s) if s < 300 => (client, true),
                    _ => (client, false),
                },
                Event::Timeout { client } => {
                    if pending.remove(&client).is_some() {
                        report.timeouts += 1;
                    }
                    continue;
                }
                _ => continue,
            };
            if let Some(sent) = pending.remove(&client) {
                if outcome {
                    report.latencies.push(now.saturating_duration_since(sent));
                } else {
                    report.failures += 1;
                }
            }
        }
        while let Some(&(id, sent)) = order.front() {
            if !pending.contains_key(&id) {
                order.pop_front();
            } else if now.saturating_duration_since(sent) >= timeout {
                order.pop_front();
                pending.remove(&id);
                report.timeouts += 1;
            } else {
                break;
            }
        }
        if started >= args.count && pending.is_empty() {
            break;
        }
        // Nothing more to do now: wait for a datagram, the engine's next
        // timer, the next request's time, or the oldest one's deadline.
        let mut wake = order.front().map(|&(_, sent)| sent + timeout);
        let mut earliest = |at: Option<Instant>| {
            if let Some(at) = at {
                wake = Some(wake.map_or(at, |w| w.min(at)));
            }
        };
        earliest(endpoint.poll_timeout());
        if started < args.count && pending.len() < window {
            match interval {
                Some(iv) => earliest(Some(start + iv.mul_f64(started as f64))),
                // Responses freed room in the window: start more at once.
                None => continue,
            }
        }
        match wake {
            Some(at) if at <= Instant::now() => {}
            Some(at) => {
                tokio::select! {
                    r = socket.readable() => r.map_err(|e| e.to_string())?,
                    _ = tokio::time::sleep_until(tokio::time::Instant::from_std(at)) => {}
                }
            }
            None => socket.readable().await.map_err(|e| e.to_string())?,
        }
    }
    report.elapsed = start.elapsed();
    Ok(report)
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
