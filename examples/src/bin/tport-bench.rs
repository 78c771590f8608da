//! `tport-bench`: receive+parse throughput of a `sofia-tport` UDP socket
//! against a bare `recv_from` loop on the same socket setup, on 127.0.0.1.
//!
//! ```text
//! cargo run --release -p sofia-examples --bin tport-bench -- [--seconds S] [--rounds N] FILE
//! ```
//!
//! A sender thread sends FILE (one SIP message) as fast as it can to the
//! receiver for S seconds (default 2); the receiver, on a single-threaded
//! tokio runtime, counts what it gets: first a bare tokio
//! `UdpSocket::recv_from` loop that only counts datagrams (the physical limit
//! of the socket here), then a `Tport` that reads, parses and delivers each
//! message as an `Incoming`. Each measurement reports the messages received
//! per second of wall time (bounded by the sender on a two-core machine) and
//! per second of the receiving thread's CPU time (from
//! `/proc/thread-self/stat`): the second is the receiver's capacity, and
//! their ratio is the cost of sofia-tport over the bare socket. Both run N
//! rounds (default 3), alternating, and the best of each is printed:
//!
//! ```text
//! bare recv_from     196363 msgs/s received, 261861 msgs per CPU-second
//! tport recv+parse   225134 msgs/s received, 243390 msgs per CPU-second
//! tport/bare = 92.9% (per CPU-second)
//! ```
//!
//! Exit status 2 on usage or I/O errors.
#![forbid(unsafe_code)]

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use sofia_tport::{Config, Tport, Transport};

/// Command line.
#[derive(Parser, Debug)]
#[command(
    name = "tport-bench",
    version,
    about = "UDP receive+parse throughput of sofia-tport against a bare recv_from loop"
)]
struct Args {
    /// Seconds each measurement runs.
    #[arg(long, default_value_t = 2.0)]
    seconds: f64,
    /// Rounds of each measurement (the best is kept).
    #[arg(long, default_value_t = 3)]
    rounds: u32,
    /// A file holding one SIP message to send.
    file: std::path::PathBuf,
}

/// Sends `data` to `to` from another thread until `stop` is set.
fn spawn_sender(
    to: SocketAddr,
    data: Vec<u8>,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        let Ok(sock) = std::net::UdpSocket::bind("127.0.0.1:0") else {
            return 0;
        };
        let mut sent = 0u64;
        while !stop.load(Ordering::Relaxed) {
            if sock.send_to(&data, to).is_ok() {
                sent += 1;
            }
        }
        sent
    })
}

/// What one measurement saw.
#[derive(Debug, Clone, Copy, Default)]
struct Measure {
    /// Messages per second of wall time (bounded by the sender).
    rate: f64,
    /// Messages per second of the receiving thread's CPU time: what the
    /// receiver could take if it were the bottleneck.
    capacity: f64,
}

impl Measure {
    fn new(count: u64, elapsed: f64, cpu: f64) -> Measure {
        Measure {
            rate: count as f64 / elapsed,
            capacity: count as f64 / cpu.max(0.01),
        }
    }
}

/// CPU time (user + system) of the calling thread, from
/// `/proc/thread-self/stat` in clock ticks of 1/100 s (Linux's `CLK_TCK`).
fn cpu_seconds() -> Result<f64, String> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat")
        .map_err(|e| format!("/proc/thread-self/stat: {e}"))?;
    let after = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .ok_or("unexpected /proc/thread-self/stat")?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let tick = |i: usize| -> Result<f64, String> {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .ok_or_else(|| "unexpected /proc/thread-self/stat".to_string())
    };
    // Fields 14 and 15 of the file (utime, stime); `after` starts at field 3.
    Ok((tick(11)? + tick(12)?) / 100.0)
}

/// Messages counted by the bare loop.
async fn bare(data: &[u8], seconds: f64) -> Result<Measure, String> {
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0")
        .await
        .map_err(|e| format!("bind: {e}"))?;
    let addr = sock.local_addr().map_err(|e| e.to_string())?;
    let stop = Arc::new(AtomicBool::new(false));
    let sender = spawn_sender(addr, data.to_vec(), stop.clone());
    let mut buf = vec![0u8; 65536];
    // Let the sender start, then count for the window.
    let _ = tokio::time::timeout(Duration::from_secs(1), sock.recv_from(&mut buf)).await;
    let cpu0 = cpu_seconds()?;
    let start = Instant::now();
    let deadline = tokio::time::sleep(Duration::from_secs_f64(seconds));
    tokio::pin!(deadline);
    let mut count = 0u64;
    loop {
        tokio::select! {
            _ = &mut deadline => break,
            r = sock.recv_from(&mut buf) => if r.is_ok() { count += 1 },
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let _ = sender.join();
    Ok(Measure::new(count, elapsed, cpu_seconds()? - cpu0))
}

/// Messages received, parsed and delivered by a Tport.
async fn tport(data: &[u8], seconds: f64) -> Result<Measure, String> {
    let mut config = Config::new(["sip:127.0.0.1:0;transport=udp"]);
    config.log = Some(false);
    let (tport, mut rx) = Tport::bind(config).await.map_err(|e| e.to_string())?;
    let addr = tport
        .local_addr(Transport::Udp)
        .ok_or("no UDP socket bound")?;
    let stop = Arc::new(AtomicBool::new(false));
    let sender = spawn_sender(addr, data.to_vec(), stop.clone());
    let _ = tokio::time::timeout(Duration::from_secs(1), rx.recv()).await;
    let cpu0 = cpu_seconds()?;
    let start = Instant::now();
    let deadline = tokio::time::sleep(Duration::from_secs_f64(seconds));
    tokio::pin!(deadline);
    let mut count = 0u64;
    loop {
        tokio::select! {
            _ = &mut deadline => break,
            m = rx.recv() => match m {
                Some(_) => count += 1,
                None => break,
            },
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let _ = sender.join();
    tport.shutdown();
    Ok(Measure::new(count, elapsed, cpu_seconds()? - cpu0))
}

fn main() -> ExitCode {
    let args = Args::parse();
    let data = match std::fs::read(&args.file) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("tport-bench: {}: {e}", args.file.display());
            return ExitCode::from(2);
        }
    };
    if sofia_msg::Message::parse(bytes::Bytes::from(data.clone())).is_err() {
        eprintln!("tport-bench: {}: not a SIP message", args.file.display());
        return ExitCode::from(2);
    }
    let runtime = match sofia_examples::runtime("tport-bench") {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let result: Result<(Measure, Measure), String> = runtime.block_on(async {
        let (mut b, mut t) = (Measure::default(), Measure::default());
        for _ in 0..args.rounds.max(1) {
            let m = bare(&data, args.seconds).await?;
            b.rate = b.rate.max(m.rate);
            b.capacity = b.capacity.max(m.capacity);
            let m = tport(&data, args.seconds).await?;
            t.rate = t.rate.max(m.rate);
            t.capacity = t.capacity.max(m.capacity);
        }
        Ok((b, t))
    });
    match result {
        Ok((b, t)) => {
            println!(
                "bare recv_from     {:.0} msgs/s received, {:.0} msgs per CPU-second",
                b.rate, b.capacity
            );
            println!(
                "tport recv+parse   {:.0} msgs/s received, {:.0} msgs per CPU-second",
                t.rate, t.capacity
            );
            println!(
                "tport/bare = {:.1}% (per CPU-second)",
                100.0 * t.capacity / b.capacity.max(1.0)
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("tport-bench: {e}");
            ExitCode::from(2)
        }
    }
}
