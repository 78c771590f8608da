//! `sip-options`: sends an OPTIONS request and prints the final status line,
//! like sofia-sip-bin's `sip-options`.
//!
//! ```text
//! cargo run -p sofia-examples --bin sip-options -- [--bind URL] [--timeout SECONDS] URI
//! ```
//!
//! URI is a `sip:` or `sips:` URI; `;transport=udp|tcp|tls` picks the
//! transport (`sips:` means TLS); a host name is located per RFC 3263
//! (NAPTR, SRV, A/AAAA through the system's name servers) and the first
//! target is used. The final status line (`SIP/2.0 200 OK`) goes
//! to standard output. Exit status: 0 for a 2xx, 1 for any other final
//! response or a timeout (printed as `SIP/2.0 408 Request Timeout`), 2 on
//! usage or setup errors.
#![forbid(unsafe_code)]

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use sofia_msg::{HeaderName, Method, RequestBuilder};
use sofia_nta::{Agent, ClientEvent, Config};
use sofia_tport::{Destination, Tport, Transport};

/// Command line.
#[derive(Parser, Debug)]
#[command(
    name = "sip-options",
    version,
    about = "Send a SIP OPTIONS request and print the final status line"
)]
struct Args {
    /// Local bind name (default: `sip:127.0.0.1:0` or `sip:[::1]:0` for loopback
    /// targets, `sip:*:0` otherwise).
    #[arg(long)]
    bind: Option<String>,
    /// Seconds to wait for the final response.
    #[arg(long, default_value_t = 32)]
    timeout: u64,
    /// The target URI.
    uri: String,
}

async fn run(args: Args) -> Result<bool, String> {
    let (transport, addr, host) = sofia_examples::first_target(&args.uri).await?;
    let bind = args.bind.clone().unwrap_or_else(|| match addr {
        SocketAddr::V4(a) if a.ip().is_loopback() => "sip:127.0.0.1:0".into(),
        SocketAddr::V6(a) if a.ip().is_loopback() => "sip:[::1]:0".into(),
        SocketAddr::V4(_) => "sip:*:0".into(),
        SocketAddr::V6(_) => "sip:[::]:0".into(),
    });
    let mut config = sofia_tport::Config::new([bind]);
    if transport == Transport::Tls {
        config.tls = Some(sofia_tport::TlsConfig::default());
    }
    let (tport, incoming) = Tport::bind(config).await.map_err(|e| e.to_string())?;
    let (agent, _requests, _others) = Agent::new(tport, incoming, Config::default());
    let via = agent.via(transport).ok_or("no local address for the Via")?;
    let local = agent
        .tport()
        .local_addr(Transport::Udp)
        .or_else(|| agent.tport().local_addr(Transport::Tcp))
        .ok_or("no local address")?;
    let tag = agent.tag();
    let call_id = format!("{}@{}", agent.tag(), local.ip());
    let request = RequestBuilder::new(Method::Options, &args.uri)
        .header(HeaderName::Via, &via)
        .header(HeaderName::MaxForwards, "70")
        .header(
            HeaderName::From,
            &format!("<sip:sip-options@{local}>;tag={tag}"),
        )
        .header(HeaderName::To, &format!("<{}>", args.uri))
        .header(HeaderName::CallId, &call_id)
        .header(HeaderName::CSeq, "1 OPTIONS")
        .header(HeaderName::Contact, &format!("<sip:sip-options@{local}>"))
        .header(HeaderName::Accept, "application/sdp")
        .header(
            HeaderName::UserAgent,
            concat!("sofia-rs/", env!("CARGO_PKG_VERSION")),
        )
        .build()
        .map_err(|e| e.to_string())?;
    let mut dest = Destination::new(transport, addr);
    if transport == Transport::Tls {
        dest = dest.with_server_name(host);
    }
    let mut responses = agent.request(request, dest).map_err(|e| e.to_string())?;
    let wait = Duration::from_secs(args.timeout);
    loop {
        match tokio::time::timeout(wait, responses.recv()).await {
            Ok(Some(ClientEvent::Response(msg))) => {
                let status = msg.status().unwrap_or(0);
                if status >= 200 {
                    println!("SIP/2.0 {status} {}", msg.reason().unwrap_or(""));
                    return Ok((200..300).contains(&status));
                }
            }
            Ok(Some(ClientEvent::Timeout)) | Err(_) | Ok(None) => {
                println!("SIP/2.0 408 Request Timeout");
                return Ok(false);
            }
        }
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    sofia_su::log::init_tracing();
    let runtime = match sofia_examples::runtime("sip-options") {
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
            eprintln!("sip-options: {e}");
            ExitCode::from(2)
        }
    }
}
