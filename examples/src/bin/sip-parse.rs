//! `sip-parse`: parses SIP messages from files with `sofia-msg`.
//!
//! ```text
//! cargo run -p sofia-examples --bin sip-parse -- [--check] [--print] [--bench N] FILE...
//! ```
//!
//! Each FILE holds one message (`-` reads standard input).
//!
//! - `--check` prints one line per file: `<file>: valid` when the message
//!   parses and passes [`Message::check`], otherwise `<file>: reject <code>
//!   <reason>` with the status a UAS would answer (from
//!   [`ParseError::status`] when the message does not parse at all, from the
//!   [`Rejection`](sofia_msg::Rejection) of `check()` otherwise). It is the
//!   default when no other mode is given.
//! - `--print` writes each message as re-serialized by
//!   [`Message::write_to`] to standard output.
//! - `--bench N` parses each file N times and ends with a line
//!   `<msgs_per_sec> msgs/s`.
//!
//! The exit status is 0 when the program ran, whatever the verdicts, and 2 on
//! a usage error or an I/O error (named on standard error).
#![forbid(unsafe_code)]

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::Parser;
use sofia_msg::{Message, ParseError};

/// Exit status for usage and I/O errors (clap uses the same for usage).
const EXIT_ERROR: u8 = 2;

/// Parses SIP messages with sofia-msg: checks, re-serializes, benchmarks.
#[derive(Debug, Parser)]
#[command(name = "sip-parse", version)]
struct Args {
    /// Print `<file>: valid` or `<file>: reject <code> <reason>` per file
    /// (the default when neither --print nor --bench is given).
    #[arg(long)]
    check: bool,

    /// Write each message, re-serialized, to standard output.
    #[arg(long)]
    print: bool,

    /// Parse each file N times and print `<msgs_per_sec> msgs/s`.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    bench: Option<u64>,

    /// Files holding one SIP message each; `-` reads standard input.
    #[arg(value_name = "FILE", required = true)]
    files: Vec<PathBuf>,
}

/// One input: its name as given on the command line and its bytes.
struct Input {
    name: String,
    data: Bytes,
}

fn read_input(path: &Path) -> Result<Input, String> {
    let name = path.display().to_string();
    let mut data = Vec::new();
    let read = if name == "-" {
        io::stdin().lock().read_to_end(&mut data)
    } else {
        std::fs::File::open(path).and_then(|mut f| f.read_to_end(&mut data))
    };
    match read {
        Ok(_) => Ok(Input {
            name,
            data: Bytes::from(data),
        }),
        Err(e) if name == "-" => Err(format!("cannot read standard input (-): {e}")),
        Err(e) => Err(format!("cannot read {name}: {e}")),
    }
}

/// The `--check` verdict: `valid` or `reject <code> <reason>`.
fn verdict(parsed: &Result<Message, ParseError>) -> String {
    let rejection = match parsed {
        Err(e) => Some(e.status()),
        Ok(msg) => msg.check().err().map(|r| (r.status, r.reason)),
    };
    match rejection {
        None => "valid".to_string(),
        Some((code, reason)) => format!("reject {code} {reason}"),
    }
}

/// Parses every input `n` times; returns the messages parsed and the time.
///
/// Each parse is handed its own `Bytes` over the input, as a transport hands
/// over a received buffer: a static one, so that the loop measures the parse
/// and not the reference counting of a shared buffer (the criterion benches do
/// the same).
fn bench(inputs: &[Input], n: u64) -> (u64, Duration) {
    let statics: Vec<&'static [u8]> = inputs
        .iter()
        .map(|i| &*Vec::leak(i.data.to_vec()))
        .collect();
    let start = Instant::now();
    let mut total = 0u64;
    for &data in &statics {
        for _ in 0..n {
            let parsed = Message::parse(std::hint::black_box(Bytes::from_static(data)));
            std::hint::black_box(&parsed);
            total += 1;
        }
    }
    (total, start.elapsed())
}

fn run(args: &Args) -> Result<(), String> {
    let inputs = args
        .files
        .iter()
        .map(|p| read_input(p))
        .collect::<Result<Vec<_>, _>>()?;
    let check = args.check || (!args.print && args.bench.is_none());
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let write_err = |e: io::Error| format!("cannot write to standard output: {e}");
    let mut buf = Vec::new();
    for input in &inputs {
        if !check && !args.print {
            break;
        }
        let parsed = Message::parse(input.data.clone());
        if check {
            writeln!(out, "{}: {}", input.name, verdict(&parsed)).map_err(write_err)?;
        }
        if args.print {
            match &parsed {
                Ok(msg) => {
                    buf.clear();
                    msg.write_to(&mut buf);
                    out.write_all(&buf).map_err(write_err)?;
                }
                Err(e) => {
                    out.flush().map_err(write_err)?;
                    eprintln!("sip-parse: {}: not printed: {e}", input.name);
                }
            }
        }
    }
    if let Some(n) = args.bench {
        out.flush().map_err(write_err)?;
        let (total, elapsed) = bench(&inputs, n);
        let secs = elapsed.as_secs_f64().max(1e-9);
        let rate = (total as f64 / secs) as u64;
        eprintln!(
            "sip-parse: parsed {total} messages ({} file(s) x {n}) in {secs:.6} s",
            inputs.len()
        );
        writeln!(out, "{rate} msgs/s").map_err(write_err)?;
    }
    out.flush().map_err(write_err)
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("sip-parse: {message}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}
