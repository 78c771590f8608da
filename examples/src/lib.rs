//! Helpers shared by the example programs of sofia-rs.

use std::net::SocketAddr;

use sofia_msg::{Scheme, Uri};
use sofia_nta::resolve::Resolver;
use sofia_tport::{Incoming, Tport, Transport};

/// Where to send requests for a `sip:`/`sips:` URI: the first RFC 3263 target
/// through the system's name servers (numeric hosts and explicit ports go
/// straight to the address). Returns the transport, the address and the host
/// as written (the TLS server name).
pub async fn first_target(uri: &str) -> Result<(Transport, SocketAddr, String), String> {
    let u = Uri::parse(uri).map_err(|e| format!("{uri}: {e}"))?;
    if !matches!(u.scheme(), Scheme::Sip | Scheme::Sips) {
        return Err(format!("{uri}: not a sip: or sips: URI"));
    }
    let host = u
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let resolver = Resolver::system().map_err(|e| e.to_string())?;
    let targets = resolver.resolve(&u).await.map_err(|e| e.to_string())?;
    let first = targets.first().ok_or_else(|| format!("{uri}: no target"))?;
    Ok((first.transport, first.addr, host))
}

/// Prints a line on standard output, ignoring a closed pipe (a reader
/// such as `head` that stopped reading must not stop the program).
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

/// A single-threaded tokio runtime, or the error to print.
pub fn runtime(program: &str) -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("{program}: cannot start the runtime: {e}"))
}

/// Binds the sofia-style URL (`sip:127.0.0.1:5060` serves UDP and TCP) and
/// prints `listening on <transport>/<address>` for each socket, the line
/// scripts read the ports from.
pub async fn bind_and_announce(
    bind: &str,
) -> Result<(Tport, tokio::sync::mpsc::Receiver<Incoming>), String> {
    let (tport, incoming) = Tport::bind(sofia_tport::Config::new([bind.to_string()]))
        .await
        .map_err(|e| e.to_string())?;
    // A closed standard output (the parent read what it needed) must not stop
    // the program.
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    for (t, addr) in tport.listeners() {
        let _ = writeln!(out, "listening on {t}/{addr}");
    }
    let _ = out.flush();
    Ok((tport, incoming))
}

/// A bind name for talking to `remote`: the local address the system routes
/// to it from (found by connecting a UDP socket, which sends nothing), with
/// an ephemeral port; `sip:127.0.0.1:0` when there is no route.
pub fn bind_toward(remote: SocketAddr) -> String {
    let any: SocketAddr = match remote {
        SocketAddr::V4(_) => ([0, 0, 0, 0], 0).into(),
        SocketAddr::V6(_) => (std::net::Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let local = std::net::UdpSocket::bind(any)
        .and_then(|s| s.connect(remote).and_then(|()| s.local_addr()));
    match local {
        Ok(SocketAddr::V4(a)) => format!("sip:{}:0", a.ip()),
        Ok(SocketAddr::V6(a)) => format!("sip:[{}]:0", a.ip()),
        Err(_) => "sip:127.0.0.1:0".to_string(),
    }
}

/// Credentials from `--user`/`--password`, else the environment variables
/// `SIP_USER` and `SIP_PASSWORD`; `None` when either is missing.
pub fn credentials(user: Option<String>, password: Option<String>) -> Option<(String, String)> {
    let user = user.or_else(|| std::env::var("SIP_USER").ok())?;
    let password = password.or_else(|| std::env::var("SIP_PASSWORD").ok())?;
    Some((user, password))
}

/// Runs a server program's `run` future on [`runtime`] and maps the outcome
/// to its exit status: 0 when it ends (SIGINT, SIGTERM), 2 with the error on
/// standard error when it cannot start.
pub fn serve<F>(program: &str, run: F) -> std::process::ExitCode
where
    F: std::future::Future<Output = Result<(), String>>,
{
    let runtime = match runtime(program) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{e}");
            return std::process::ExitCode::from(2);
        }
    };
    match runtime.block_on(run) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{program}: {e}");
            std::process::ExitCode::from(2)
        }
    }
}

/// Sends a built response on its server transaction; failures to build or
/// send are printed with the program's name (the peer's retransmission
/// tries again).
pub fn respond(
    program: &str,
    agent: &sofia_nta::Agent,
    server: sofia_nta::ServerId,
    resp: Result<sofia_msg::Message, sofia_msg::BuildError>,
) {
    match resp {
        Ok(resp) => {
            if let Err(e) = agent.respond(server, resp) {
                eprintln!("{program}: {e}");
            }
        }
        Err(e) => eprintln!("{program}: {e}"),
    }
}
