//! `presence-server`: a SIP presence server whose state comes from standard
//! input.
//!
//! ```text
//! cargo run -p sofia-examples --bin presence-server -- --bind URL \
//!     [--min-expires S] [--max-expires S]
//! ```
//!
//! Serves the `presence` (PIDF) and `message-summary` event packages for
//! any user with sofia-nea: SUBSCRIBE gets 200 and a NOTIFY with the user's
//! state (`closed` and no messages until set), refreshes and unsubscribes are
//! honoured, subscriptions expire. Each line of standard input sets a user's
//! state and NOTIFYs every subscriber of it:
//!
//! ```text
//! alice open
//! alice closed gone home
//! alice open at lunch, back at 2
//! 1000 messages 2 1
//! ```
//!
//! `<user> open|closed [note]` sets the presence (with the note, if any);
//! `<user> messages NEW [OLD]` sets the voice-message counts. A user is
//! the user part of the subscribed URI, whatever its host. A bad line gets an
//! error on standard error and is skipped; the end of standard input changes
//! nothing. Prints `listening on <transport>/<address>` per socket, then one
//! line per event (`subscribed #1 sip:bob@host to presence of alice
//! (active)`, `alice: open, 2 notified`, `ended #1`). SIGINT or SIGTERM
//! ends every subscription with a final NOTIFY
//! (`terminated;reason=deactivated`) and stops it, exit status 0.
//! `NEA_DEBUG=5` logs each subscription's life. Exit status 2 on usage or
//! bind errors.
#![forbid(unsafe_code)]

use std::io::{BufRead, Write};
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use sofia_nea::{Config, MessageSummary, Notifier, Presence, Server, ServerEvent, SubState};
use sofia_nta::Agent;

/// Command line.
#[derive(Parser, Debug)]
#[command(
    name = "presence-server",
    version,
    about = "A SIP presence (and message-summary) server fed from standard input",
    after_help = "Standard input, one line each:\n  \
                  <user> open|closed [note]   sets the user's presence\n  \
                  <user> messages NEW [OLD]   sets the user's voice-message counts\n\
                  Every subscriber of the user gets a NOTIFY."
)]
struct Args {
    /// Bind name, e.g. sip:127.0.0.1:5060.
    #[arg(long)]
    bind: String,
    /// Shortest subscription accepted, in seconds (423 below it).
    #[arg(long, default_value_t = 60)]
    min_expires: u32,
    /// Longest subscription granted, in seconds.
    #[arg(long, default_value_t = 3600)]
    max_expires: u32,
}

/// One line of standard input: the event, the user and the new body.
#[derive(Debug, PartialEq, Eq)]
enum Update {
    Presence {
        user: String,
        open: bool,
        note: Option<String>,
    },
    Messages {
        user: String,
        new: u32,
        old: u32,
    },
}

fn parse_line(line: &str) -> Result<Option<Update>, String> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return Ok(None);
    }
    let (user, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
    if user.contains(['@', ':', '<', '>', ';']) {
        return Err(format!("{user:?} is not a user name"));
    }
    let rest = rest.trim_start();
    let (word, arg) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    let arg = arg.trim();
    let user = user.to_string();
    match word.to_ascii_lowercase().as_str() {
        "open" | "closed" => Ok(Some(Update::Presence {
            user,
            open: word.eq_ignore_ascii_case("open"),
            note: (!arg.is_empty()).then(|| arg.to_string()),
        })),
        "messages" => {
            let mut n = arg.split_whitespace().map(str::parse::<u32>);
            let new = match n.next() {
                Some(Ok(v)) => v,
                _ => return Err("expected `<user> messages NEW [OLD]`".into()),
            };
            let old = match n.next() {
                None => 0,
                Some(Ok(v)) => v,
                Some(Err(_)) => return Err("expected `<user> messages NEW [OLD]`".into()),
            };
            if n.next().is_some() {
                return Err("expected `<user> messages NEW [OLD]`".into());
            }
            Ok(Some(Update::Messages { user, new, old }))
        }
        "" => Err(format!(
            "expected `{user} open|closed [note]` or `{user} messages NEW [OLD]`"
        )),
        other => Err(format!(
            "{other:?}: expected open, closed or messages after the user"
        )),
    }
}

fn say(line: std::fmt::Arguments<'_>) {
    // A closed standard output must not stop the server.
    let mut out = std::io::stdout().lock();
    let _ = out.write_fmt(line);
    let _ = out.write_all(b"\n");
    let _ = out.flush();
}

async fn run(args: Args) -> Result<(), String> {
    if args.min_expires > args.max_expires {
        return Err("--min-expires is above --max-expires".into());
    }
    let (tport, incoming) = sofia_examples::bind_and_announce(&args.bind).await?;
    let local = tport
        .listeners()
        .first()
        .map(|(_, a)| *a)
        .ok_or("nothing bound")?;
    let host = match local {
        std::net::SocketAddr::V4(a) => a.ip().to_string(),
        std::net::SocketAddr::V6(a) => format!("[{}]", a.ip()),
    };
    let (agent, requests, mut others) = Agent::new(tport, incoming, sofia_nta::Config::default());
    let mut notifier = Notifier::new(Config {
        min_expires: args.min_expires,
        max_expires: args.max_expires,
        default_expires: args.max_expires,
        contact: format!("sip:presence@{local}"),
        resource_with_host: false,
        ..Config::default()
    });
    notifier.add_package(Box::new(Presence));
    notifier.add_package(Box::new(MessageSummary));
    let server = Server::new(agent, notifier);
    let mut events = server.events().ok_or("no event stream")?;

    // Standard input is read by a thread of its own (blocking reads), one
    // line at a time; the end of it leaves the server running.
    let (lines_tx, mut lines) = tokio::sync::mpsc::channel::<std::io::Result<String>>(16);
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let failed = line.is_err();
            if lines_tx.blocking_send(line).is_err() || failed {
                break;
            }
        }
    });
    let serving = server.clone();
    tokio::spawn(async move { serving.serve(requests).await });

    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| e.to_string())?;
    let mut number = 0u64;
    let mut stdin_open = true;
    loop {
        tokio::select! {
            line = lines.recv(), if stdin_open => match line {
                Some(Ok(line)) => {
                    number += 1;
                    match parse_line(&line) {
                        Ok(Some(update)) => apply(&server, &host, update),
                        Ok(None) => {}
                        Err(e) => eprintln!("presence-server: stdin line {number}: {e}"),
                    }
                }
                Some(Err(e)) => {
                    eprintln!("presence-server: stdin: {e}");
                    stdin_open = false;
                }
                None => stdin_open = false,
            },
            ev = events.recv() => match ev {
                Some(ServerEvent::Subscribed(info)) => say(format_args!(
                    "subscribed #{} {} to {} of {} ({})",
                    info.id.0,
                    info.subscriber,
                    info.event,
                    info.resource,
                    if info.state == SubState::Active { "active" } else { "pending" }
                )),
                Some(ServerEvent::Ended { sub }) => say(format_args!("ended #{}", sub.0)),
                Some(ServerEvent::Notified { .. }) => {}
                None => break,
            },
            // ACKs, terminations: nothing to do.
            ev = others.recv() => if ev.is_none() { break },
            _ = tokio::signal::ctrl_c() => break,
            _ = sigterm.recv() => break,
        }
    }
    let n = server.shutdown(None, Duration::from_secs(2)).await;
    say(format_args!("stopped, {n} subscriptions terminated"));
    Ok(())
}

/// Sets a user's state; reports how many subscribers were notified.
fn apply(server: &Server, host: &str, update: Update) {
    let (event, user, body, what) = match update {
        Update::Presence { user, open, note } => {
            let entity = format!("sip:{user}@{host}");
            let body = Presence::pidf(&entity, open, note.as_deref());
            let what = if open { "open" } else { "closed" };
            ("presence", user, body, what.to_string())
        }
        Update::Messages { user, new, old } => {
            let account = format!("sip:{user}@{host}");
            let body = MessageSummary::body(&account, new, old);
            (
                "message-summary",
                user,
                body,
                format!("{new}/{old} messages"),
            )
        }
    };
    match server.set_state(event, &user, body) {
        Ok(n) => say(format_args!("{user}: {what}, {n} notified")),
        Err(e) => eprintln!("presence-server: {e}"),
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    sofia_su::log::init_tracing();
    sofia_examples::serve("presence-server", run(args))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines() {
        assert_eq!(
            parse_line("alice open at lunch, back at 2"),
            Ok(Some(Update::Presence {
                user: "alice".into(),
                open: true,
                note: Some("at lunch, back at 2".into())
            }))
        );
        assert_eq!(
            parse_line("  bob CLOSED "),
            Ok(Some(Update::Presence {
                user: "bob".into(),
                open: false,
                note: None
            }))
        );
        assert_eq!(
            parse_line("1000 messages 2"),
            Ok(Some(Update::Messages {
                user: "1000".into(),
                new: 2,
                old: 0
            }))
        );
        assert_eq!(parse_line(""), Ok(None));
        assert_eq!(parse_line("# comment"), Ok(None));
        assert!(parse_line("alice").is_err());
        assert!(parse_line("alice maybe").is_err());
        assert!(parse_line("alice@example.com open").is_err());
        assert!(parse_line("1000 messages x").is_err());
        assert!(parse_line("1000 messages 1 2 3").is_err());
    }
}
