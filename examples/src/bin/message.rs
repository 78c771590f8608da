//! `message`: sends a SIP MESSAGE (RFC 3428) with sofia-nua and prints the
//! final status line.
//!
//! ```text
//! cargo run -p sofia-examples --bin message -- URI TEXT [--user U --password P] \
//!     [--content-type T] [--from URI] [--bind URL]
//! ```
//!
//! The MESSAGE goes to URI (located per RFC 3263) with TEXT as its body;
//! a digest challenge is answered with `--user`/`--password`, else
//! `SIP_USER`/`SIP_PASSWORD` when set. The final status line
//! (`SIP/2.0 200 OK`) goes to standard output; a timeout is printed as
//! `SIP/2.0 408 Request Timeout`. Exit status: 0 for a 2xx, 1 for any other
//! final response, 2 on usage or setup errors.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;
use sofia_nua::{Config, Credentials, EventKind, Nua};

/// Command line.
#[derive(Parser, Debug)]
#[command(
    name = "message",
    version,
    about = "Send a SIP MESSAGE and print the final status line"
)]
struct Args {
    /// The recipient, e.g. sip:bob@192.0.2.1.
    uri: String,
    /// The text to send.
    text: String,
    /// User name for digest authentication (default: $SIP_USER).
    #[arg(long)]
    user: Option<String>,
    /// Password for digest authentication (default: $SIP_PASSWORD).
    #[arg(long)]
    password: Option<String>,
    /// The body's Content-Type.
    #[arg(long, default_value = "text/plain")]
    content_type: String,
    /// Our address in From (default: sip:USER@LOCAL-ADDRESS).
    #[arg(long)]
    from: Option<String>,
    /// Local bind name (default: the address routed toward the recipient,
    /// any port).
    #[arg(long)]
    bind: Option<String>,
}

async fn run(args: Args) -> Result<bool, String> {
    let (_, addr, _) = sofia_examples::first_target(&args.uri).await?;
    let bind = args
        .bind
        .unwrap_or_else(|| sofia_examples::bind_toward(addr));
    let credentials = sofia_examples::credentials(args.user, args.password)
        .map(|(u, p)| vec![Credentials::new(u, p)])
        .unwrap_or_default();
    let config = Config {
        bind: vec![bind],
        credentials,
        from: args.from,
        ..Config::default()
    };
    let (nua, mut events) = Nua::new(config).await.map_err(|e| e.to_string())?;
    nua.handle(&args.uri)
        .and_then(|h| h.message(&args.content_type, args.text.into_bytes()))
        .map_err(|e| e.to_string())?;
    while let Some(ev) = events.recv().await {
        if ev.kind == EventKind::RMessage {
            println!("SIP/2.0 {} {}", ev.status, ev.phrase);
            nua.shutdown();
            return Ok((200..300).contains(&ev.status));
        }
    }
    Err("the user agent stopped".into())
}

fn main() -> ExitCode {
    let args = Args::parse();
    sofia_su::log::init_tracing();
    let runtime = match sofia_examples::runtime("message") {
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
            eprintln!("message: {e}");
            ExitCode::from(2)
        }
    }
}
