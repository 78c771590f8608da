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
use mod_sofia::control::{self, Daemon, DaemonOptions};
use mod_sofia::daemon::{ConfigSource, Sofia};
use mod_sofia::events::EventBus;
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

    let source = match &cli.config {
        Some(path) => ConfigSource::File(path.clone()),
        None => ConfigSource::Embedded,
    };
    sofia_su::log::init_tracing();
    let cli_watchdog = WatchdogConfig {
        enabled: cli.watchdog,
        step_timeout: Duration::from_millis(cli.watchdog_step_timeout),
        event_timeout: Duration::from_millis(cli.watchdog_event_timeout),
    };
    let mut options = DaemonOptions::new(cli.data_dir.clone());
    options.console = !cli.no_console;
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
    let data_dir = cli.data_dir.clone();
    let result = runtime.block_on(async move {
        let bus = EventBus::default();
        let sofia = Sofia::start(source, data_dir, bus.clone()).await?;
        // `--watchdog` wins; else a profile's `watchdog-enabled` turns it on
        // with that profile's timeouts.
        let config = match sofia.watchdog_config() {
            Some(profile) if !cli_watchdog.enabled => profile,
            _ => cli_watchdog,
        };
        options.watchdog = Watchdog::new(config, Instant::now());
        let sofia = sofia.with_watchdog(options.watchdog.clone());
        for w in sofia.warnings() {
            eprintln!("sofia: {w}");
        }
        let daemon = Daemon::with_events(sofia, options, bus);
        let state = daemon.state();
        let result = daemon.run().await.map_err(|e| e.to_string());
        let stopped = {
            let sofia = state.lock().unwrap_or_else(|e| e.into_inner());
            sofia.stop_all();
            sofia.stopped()
        };
        // Registered gateways unregister before the engines end.
        stopped.await;
        result
    });
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
