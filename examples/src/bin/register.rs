//! `register`: registers at a registrar with sofia-nua and keeps the
//! registration refreshed until interrupted.
//!
//! ```text
//! cargo run -p sofia-examples --bin register -- URI --user U --password P \
//!     [--expires S] [--bind URL]
//! ```
//!
//! URI is the address of record (`sip:1000@192.0.2.1`); REGISTER goes to its
//! host (RFC 3263). The user name and password come from `--user` and
//! `--password`, else from `SIP_USER` and `SIP_PASSWORD`. Each event is
//! printed as a line (`r_register #1: 200 OK`). On SIGINT or SIGTERM the
//! contact is unregistered (`r_unregister ...`) before exiting. Exit status:
//! 0 when interrupted after registering, 1 when a REGISTER failed (the
//! failing event is the last line), 2 on usage or setup errors.
//! `NUA_DEBUG=5` logs commands, events and state changes.
#![forbid(unsafe_code)]

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use sofia_nua::{Config, Credentials, EventKind, Nua};

/// Command line.
#[derive(Parser, Debug)]
#[command(
    name = "register",
    version,
    about = "Register at a SIP registrar and keep the registration refreshed"
)]
struct Args {
    /// The address of record, e.g. sip:1000@192.0.2.1.
    uri: String,
    /// User name for digest authentication (default: $SIP_USER).
    #[arg(long)]
    user: Option<String>,
    /// Password for digest authentication (default: $SIP_PASSWORD).
    #[arg(long)]
    password: Option<String>,
    /// Registration expiry to ask for, in seconds.
    #[arg(long, default_value_t = 3600)]
    expires: u32,
    /// Local bind name (default: the address routed toward the registrar,
    /// any port).
    #[arg(long)]
    bind: Option<String>,
}

/// Why the program stops.
enum Failure {
    Usage(String),
    Register,
}

async fn run(args: Args) -> Result<(), Failure> {
    let (user, password) =
        sofia_examples::credentials(args.user, args.password).ok_or_else(|| {
            Failure::Usage(
                "credentials needed: --user and --password, or SIP_USER and SIP_PASSWORD".into(),
            )
        })?;
    let (_, addr, _) = sofia_examples::first_target(&args.uri)
        .await
        .map_err(Failure::Usage)?;
    let bind = args
        .bind
        .unwrap_or_else(|| sofia_examples::bind_toward(addr));
    let config = Config {
        bind: vec![bind],
        credentials: vec![Credentials::new(user, password)],
        ..Config::default()
    };
    let (nua, mut events) = Nua::new(config)
        .await
        .map_err(|e| Failure::Usage(e.to_string()))?;
    let handle = nua
        .handle(&args.uri)
        .map_err(|e| Failure::Usage(e.to_string()))?;
    handle
        .register(Some(args.expires))
        .map_err(|e| Failure::Usage(e.to_string()))?;
    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| Failure::Usage(e.to_string()))?;
    loop {
        tokio::select! {
            ev = events.recv() => {
                let Some(ev) = ev else { return Err(Failure::Register) };
                println!("{ev}");
                if ev.kind == EventKind::RRegister && !(200..300).contains(&ev.status) {
                    return Err(Failure::Register);
                }
            }
            _ = tokio::signal::ctrl_c() => break,
            _ = sigterm.recv() => break,
        }
    }
    if handle.unregister().is_ok() {
        let wait = tokio::time::timeout(Duration::from_secs(10), async {
            while let Some(ev) = events.recv().await {
                println!("{ev}");
                if ev.kind == EventKind::RUnregister {
                    break;
                }
            }
        });
        let _ = wait.await;
    }
    nua.shutdown();
    Ok(())
}

fn main() -> ExitCode {
    let args = Args::parse();
    sofia_su::log::init_tracing();
    let runtime = match sofia_examples::runtime("register") {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Register) => ExitCode::from(1),
        Err(Failure::Usage(e)) => {
            eprintln!("register: {e}");
            ExitCode::from(2)
        }
    }
}
