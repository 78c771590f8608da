//! `sip-registrar`: a small registrar with digest authentication.
//!
//! ```text
//! cargo run -p sofia-examples --bin sip-registrar -- --bind URL \
//!     --user 1000:secret [--user U:P ...] [--realm R] [--algorithm MD5 ...]
//! ```
//!
//! Challenges every REGISTER with sofia-iptsec (401, one challenge per
//! `--algorithm`, `qop="auth"`), keeps the bindings of authenticated users in
//! memory (RFC 3261 §10.3: `expires` parameters and `Expires`, `*` with
//! `Expires: 0`, 423 with `Min-Expires` below `--min-expires`, expiry) and
//! answers 200 with every current binding. OPTIONS gets 200; other methods
//! 405. Prints `listening on <transport>/<address>` per socket, runs until
//! SIGINT or SIGTERM. `IPTSEC_DEBUG=5` logs challenges and verdicts. Exit
//! status 2 on usage or bind errors.
#![forbid(unsafe_code)]

use std::collections::HashMap;
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime};

use clap::Parser;
use sofia_iptsec::{Algorithm, AuthModule, Config as AuthConfig, MemoryStore, RealmPolicy};
use sofia_msg::headers::Contact;
use sofia_msg::{HeaderName, Message, Method, ResponseBuilder};
use sofia_nta::{Agent, Config};

/// Command line.
#[derive(Parser, Debug)]
#[command(
    name = "sip-registrar",
    version,
    about = "A registrar that authenticates REGISTER with digest"
)]
struct Args {
    /// Bind name, e.g. sip:127.0.0.1:5060.
    #[arg(long)]
    bind: String,
    /// A user as NAME:PASSWORD (repeat for more).
    #[arg(long = "user", required = true, value_parser = parse_user)]
    users: Vec<(String, String)>,
    /// The realm; by default the host of the To URI (FreeSWITCH's auto_to).
    #[arg(long)]
    realm: Option<String>,
    /// A digest algorithm to challenge with (repeat for more, most preferred
    /// first): MD5, MD5-sess, SHA-256, SHA-256-sess, SHA-512-256,
    /// SHA-512-256-sess.
    #[arg(long = "algorithm", value_parser = parse_algorithm)]
    algorithms: Vec<Algorithm>,
    /// Shortest registration accepted, in seconds (423 below it).
    #[arg(long, default_value_t = 60)]
    min_expires: u32,
    /// Longest registration granted, in seconds.
    #[arg(long, default_value_t = 3600)]
    max_expires: u32,
}

fn parse_user(s: &str) -> Result<(String, String), String> {
    match s.split_once(':') {
        Some((u, p)) if !u.is_empty() => Ok((u.to_string(), p.to_string())),
        _ => Err(format!("{s:?}: expected NAME:PASSWORD")),
    }
}

fn parse_algorithm(s: &str) -> Result<Algorithm, String> {
    Algorithm::from_name(s).ok_or_else(|| format!("{s:?}: unknown digest algorithm"))
}

/// The bindings of one address of record.
type Bindings = Vec<(String, Instant)>;

/// Applies a REGISTER to the bindings; the response status and reason on
/// errors.
fn register(
    args: &Args,
    bindings: &mut HashMap<String, Bindings>,
    req: &Message,
    now: Instant,
) -> Result<String, (u16, &'static str)> {
    let to = req.to().ok_or((400, "Missing To"))?;
    let aor = format!(
        "{}@{}",
        to.uri().user().unwrap_or(""),
        to.uri().host().to_ascii_lowercase()
    );
    let default_expires = match req.header(HeaderName::Expires) {
        Some(v) => v
            .trim()
            .parse::<u32>()
            .map_err(|_| (400, "Bad Expires header"))?,
        None => 3600,
    };
    let mut contacts = Vec::new();
    let mut star = false;
    for c in req.typed_all::<Contact>() {
        match c.map_err(|_| (400, "Bad Contact header"))? {
            Contact::Star => star = true,
            Contact::Addr(a) => contacts.push((
                a.uri().as_str().to_string(),
                a.expires().unwrap_or(default_expires),
            )),
        }
    }
    let list = bindings.entry(aor.clone()).or_default();
    list.retain(|(_, until)| *until > now);
    if star {
        // RFC 3261 §10.3 step 6: `*` only alone and with Expires: 0.
        if !contacts.is_empty() || default_expires != 0 {
            return Err((400, "Bad Contact header: * needs Expires: 0"));
        }
        list.clear();
    }
    for (uri, expires) in contacts {
        if expires != 0 && expires < args.min_expires {
            return Err((423, "Interval Too Brief"));
        }
        list.retain(|(u, _)| *u != uri);
        if expires > 0 {
            let secs = expires.min(args.max_expires);
            list.push((uri, now + Duration::from_secs(u64::from(secs))));
        }
    }
    let listed = list
        .iter()
        .map(|(uri, until)| {
            format!(
                "<{uri}>;expires={}",
                until.saturating_duration_since(now).as_secs()
            )
        })
        .collect::<Vec<_>>()
        .join(", ");
    if list.is_empty() {
        bindings.remove(&aor);
    }
    Ok(listed)
}

async fn run(args: Args) -> Result<(), String> {
    let (tport, incoming) = sofia_examples::bind_and_announce(&args.bind).await?;
    let mut store = MemoryStore::new();
    for (user, password) in &args.users {
        store.add_password(user, None, password);
    }
    let mut auth_config = AuthConfig::default();
    if let Some(r) = &args.realm {
        auth_config.realm = RealmPolicy::Fixed(r.clone());
    }
    if !args.algorithms.is_empty() {
        auth_config.algorithms = args.algorithms.clone();
    }
    let mut auth = AuthModule::new(auth_config, store);
    let (agent, mut requests, mut others) = Agent::new(tport, incoming, Config::default());
    let tag = agent.tag();
    let mut bindings: HashMap<String, Bindings> = HashMap::new();
    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| e.to_string())?;
    loop {
        tokio::select! {
            req = requests.recv() => {
                let Some(req) = req else { break };
                let msg = &req.msg;
                let resp = match msg.method() {
                    Method::Register => {
                        let verdict = auth.verify(SystemTime::now(), req.source.remote.ip(), msg);
                        match verdict.response(msg, Some(&tag)) {
                            Some(r) => r,
                            None => match register(&args, &mut bindings, msg, Instant::now()) {
                                Ok(contacts) => {
                                    let b = ResponseBuilder::reply_to(msg, 200, "OK", Some(&tag));
                                    if contacts.is_empty() { b } else { b.header(HeaderName::Contact, &contacts) }
                                        .build()
                                }
                                Err((423, reason)) => ResponseBuilder::reply_to(msg, 423, reason, Some(&tag))
                                    .header(HeaderName::MinExpires, &args.min_expires.to_string())
                                    .build(),
                                Err((status, reason)) => {
                                    ResponseBuilder::reply_to(msg, status, reason, Some(&tag)).build()
                                }
                            },
                        }
                    }
                    Method::Options => ResponseBuilder::reply_to(msg, 200, "OK", Some(&tag))
                        .header(HeaderName::Allow, "REGISTER, OPTIONS")
                        .build(),
                    _ => ResponseBuilder::reply_to(msg, 405, "Method Not Allowed", Some(&tag))
                        .header(HeaderName::Allow, "REGISTER, OPTIONS")
                        .build(),
                };
                sofia_examples::respond("sip-registrar", &agent, req.server, resp);
            }
            ev = others.recv() => if ev.is_none() { break },
            _ = tokio::signal::ctrl_c() => break,
            _ = sigterm.recv() => break,
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    let args = Args::parse();
    sofia_su::log::init_tracing();
    sofia_examples::serve("sip-registrar", run(args))
}
