//! `sofia`: the mod_sofia daemon, and its `-x` client.
//!
//! ```text
//! sofia [-c sofia.conf.xml] [--data-dir DIR]      run the daemon in the foreground
//! sofia [--data-dir DIR] -x "sofia status"        ask the running daemon, like fs_cli -x
//! ```
//!
//! With `-x`, the exit status is 0 for a reply, 1 for an error reply
//! (`-ERR ...`, `Invalid ...`), 2 when no daemon answers.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use mod_sofia::commands::{ProfileAction, ProfileStatus, RegFilter, RegistrationRow, SofiaState};
use mod_sofia::control::{self, DaemonOptions};
use mod_sofia::watchdog::{Watchdog, WatchdogConfig};

/// FreeSWITCH's mod_sofia as a standalone daemon.
#[derive(Debug, Parser)]
#[command(name = "sofia", version, about)]
struct Cli {
    /// The FreeSWITCH-style sofia.conf.xml to load.
    #[arg(short = 'c', long = "config", value_name = "FILE")]
    config: Option<PathBuf>,
    /// The directory of the registration database and of the control socket
    /// (sofia.sock); created with mode 0700 when missing.
    #[arg(long = "data-dir", value_name = "DIR", default_value = "./sofia-data")]
    data_dir: PathBuf,
    /// Send one API line to the running daemon, print the reply and exit.
    #[arg(short = 'x', value_name = "LINE")]
    execute: Option<String>,
    /// Do not read API lines from standard input.
    #[arg(long = "no-console")]
    no_console: bool,
    /// Turn the watchdog on (`watchdog-enabled`).
    #[arg(long = "watchdog")]
    watchdog: bool,
    /// The watchdog's step timeout, milliseconds (`watchdog-step-timeout`).
    #[arg(
        long = "watchdog-step-timeout",
        value_name = "MS",
        default_value_t = 30_000
    )]
    watchdog_step_timeout: u64,
    /// The watchdog's event timeout, milliseconds; 0: not checked
    /// (`watchdog-event-timeout`).
    #[arg(
        long = "watchdog-event-timeout",
        value_name = "MS",
        default_value_t = 0
    )]
    watchdog_event_timeout: u64,
}

/// The state of a daemon with no profile running: the commands work, and
/// report no profiles and no registrations. `reload_xml` checks that the
/// configuration file is still readable, well-formed XML.
struct StandaloneState {
    config: Option<PathBuf>,
    watchdog: Watchdog,
}

impl SofiaState for StandaloneState {
    fn profiles(&self) -> Vec<ProfileStatus> {
        Vec::new()
    }

    fn registrations(&self, _: &str, _: &RegFilter) -> Vec<RegistrationRow> {
        Vec::new()
    }

    fn flush_inbound_reg(&mut self, _: &str, _: Option<&str>, _: bool) {}

    fn set_siptrace(&mut self, _: Option<&str>, _: bool) {}

    fn set_watchdog(&mut self, profile: Option<&str>, on: bool) {
        if profile.is_none() {
            self.watchdog.set_enabled(on, Instant::now());
        }
    }

    fn reload_xml(&mut self) -> Result<(), String> {
        match &self.config {
            None => Ok(()),
            Some(path) => check_config(path),
        }
    }

    fn profile_action(&mut self, profile: &str, _: ProfileAction) -> Result<(), String> {
        Err(format!("profile {profile} is not configured"))
    }

    fn restart_all(&mut self) {}
}

fn check_config(path: &std::path::Path) -> Result<(), String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    roxmltree::Document::parse(&text)
        .map(|_| ())
        .map_err(|e| format!("{}: {e}", path.display()))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(line) = &cli.execute {
        let socket = cli.data_dir.join(control::SOCKET_NAME);
        return match control::request(&socket, line) {
            Ok(reply) => {
                print!("{}", reply.text);
                if !reply.text.ends_with('\n') {
                    println!();
                }
                if reply.ok {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::from(1)
                }
            }
            Err(e) => {
                eprintln!("sofia: {e}");
                ExitCode::from(2)
            }
        };
    }

    if let Some(path) = &cli.config
        && let Err(e) = check_config(path)
    {
        eprintln!("sofia: cannot load configuration: {e}");
        return ExitCode::from(1);
    }
    sofia_su::log::init_tracing();
    let watchdog = Watchdog::new(
        WatchdogConfig {
            enabled: cli.watchdog,
            step_timeout: Duration::from_millis(cli.watchdog_step_timeout),
            event_timeout: Duration::from_millis(cli.watchdog_event_timeout),
        },
        Instant::now(),
    );
    let mut options = DaemonOptions::new(cli.data_dir.clone());
    options.console = !cli.no_console;
    options.watchdog = watchdog.clone();
    let state = StandaloneState {
        config: cli.config.clone(),
        watchdog,
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("sofia: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(control::run_daemon(state, options));
    // The console thread may still be blocked reading standard input.
    runtime.shutdown_timeout(Duration::from_millis(100));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sofia: {e}");
            ExitCode::from(1)
        }
    }
}
