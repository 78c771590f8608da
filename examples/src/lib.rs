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
