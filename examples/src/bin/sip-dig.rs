//! `sip-dig`: prints the RFC 3263 target list of SIP URIs, like
//! sofia-sip-bin's `sip-dig` and FreeSWITCH's `sofia_dig`.
//!
//! ```text
//! cargo run -p sofia-examples --bin sip-dig -- [--server IP[:PORT]]... URI...
//! ```
//!
//! For each URI, a line `<URI>:` and then one line per target, most
//! preferred first:
//!
//! ```text
//! sip:example.test:
//! 10 60 udp 5060 192.0.2.1
//! 20 0 tcp 5060 2001:db8::1
//! ```
//!
//! The columns are the SRV priority and weight (0 and 0 when no SRV record
//! was involved), the transport, the port and the address. An argument that
//! is not a URI (`example.test`) is taken as `sip:<argument>`. The name
//! servers are the system's (`/etc/resolv.conf`) unless `--server` names
//! others (port 53 when none is given). `SRESOLV_DEBUG=5` logs every lookup
//! on standard error.
//!
//! Exit status: 0 when every URI resolved to at least one target, 1 when some
//! did not (each named on standard error), 2 on usage or setup errors.
#![forbid(unsafe_code)]

use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;

use clap::Parser;
use sofia_msg::Uri;
use sofia_nta::resolve::Resolver;

/// Command line.
#[derive(Parser, Debug)]
#[command(
    name = "sip-dig",
    version,
    about = "Print the RFC 3263 targets (priority, weight, transport, port, address) of SIP URIs",
    after_help = "Output: a line `<URI>:` per URI, then one line per target:\n  \
        <priority> <weight> <transport> <port> <address>\n\
        Exit status: 0 when every URI resolved, 1 when some did not, 2 on usage errors."
)]
struct Args {
    /// Name server to ask instead of the system's, as IP or IP:PORT (port 53
    /// by default; IPv6 as `[addr]:port`). May be repeated.
    #[arg(long, value_name = "IP:PORT", value_parser = parse_server)]
    server: Vec<SocketAddr>,
    /// The `sip:` or `sips:` URIs (or bare host names) to resolve.
    #[arg(required = true, value_name = "URI")]
    uris: Vec<String>,
}

fn parse_server(text: &str) -> Result<SocketAddr, String> {
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok(addr);
    }
    let bare = text
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .unwrap_or(text);
    bare.parse::<IpAddr>()
        .map(|ip| SocketAddr::new(ip, 53))
        .map_err(|_| format!("{text:?} is not IP or IP:PORT"))
}

/// Resolves one argument; the lines to print, or the error message.
async fn dig(resolver: &Resolver, arg: &str) -> Result<Vec<String>, String> {
    let prefixed;
    let uri = match Uri::parse(arg) {
        Ok(uri) if uri.is_sip() => uri,
        parsed => {
            prefixed = format!("sip:{arg}");
            match Uri::parse(&prefixed) {
                Ok(uri) => uri,
                Err(e) => {
                    return Err(match parsed {
                        Ok(_) => "not a sip: or sips: URI".to_string(),
                        Err(_) => format!("invalid URI: {e}"),
                    });
                }
            }
        }
    };
    let targets = resolver.resolve(&uri).await.map_err(|e| e.to_string())?;
    Ok(targets.iter().map(|t| t.to_string()).collect())
}

async fn run(args: Args) -> Result<bool, String> {
    let resolver = if args.server.is_empty() {
        Resolver::system().map_err(|e| e.to_string())?
    } else {
        Resolver::with_servers(&args.server)
    };
    let mut all_ok = true;
    for arg in &args.uris {
        match dig(&resolver, arg).await {
            Ok(lines) => {
                println!("{arg}:");
                for line in lines {
                    println!("{line}");
                }
            }
            Err(e) => {
                eprintln!("sip-dig: {arg}: {e}");
                all_ok = false;
            }
        }
    }
    Ok(all_ok)
}

/// Logs sofia's own events (`SRESOLV_DEBUG=5` ...) on standard error, and
/// nothing of hickory's: `sofia_su::log::init_tracing` would show every
/// event of every crate.
fn init_logging() {
    use tracing_subscriber::filter::{LevelFilter, Targets};
    use tracing_subscriber::layer::SubscriberExt;
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(LevelFilter::TRACE)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_target(true)
        .finish()
        .with(Targets::new().with_target("sofia", LevelFilter::TRACE));
    let _ = sofia_su::tracing::subscriber::set_global_default(subscriber);
}

fn main() -> ExitCode {
    let args = Args::parse();
    init_logging();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("sip-dig: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run(args)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("sip-dig: {e}");
            ExitCode::from(2)
        }
    }
}
