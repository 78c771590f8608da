//! Project automation, run as `cargo xtask <command>`:
//!
//! - `ci`: format check, clippy with `-D warnings`, docs with `-D warnings`,
//!   the workspace tests, then the interop suite. This is the README's test
//!   command and what `.ci/run` calls.
//! - `interop [FILTER]`: the suites against real peers on 127.0.0.1,
//!   installing the Debian packages they need when missing; with FILTER,
//!   only the suites whose name contains it (`cargo xtask interop presence`).
//! - `peers [PACKAGE...]`: shows which real peers are installed; with names,
//!   installs those (`cargo xtask peers sip-tester tshark`).
//! - `bench parse [--iterations N]`: sofia-rs vs sofia-sip C parse
//!   throughput on the same INVITE (`xtask/src/bench.rs`); `bench tport`:
//!   UDP receive+parse of sofia-tport vs a bare `recv_from` loop; `bench nta
//!   [--count N] [--concurrency C]`: stateful OPTIONS, `sip-responder` vs
//!   sofia-sip C's nta, driven by `sip-load` and SIPp.
//! - `fuzz [SECONDS]`: runs every cargo-fuzz target in `fuzz/` for SECONDS
//!   each (default 30), installing cargo-fuzz when missing.
#![forbid(unsafe_code)]

mod bench;
mod bench_b2bua;
mod bench_calls;
mod calls;
mod fuzz;
mod interop;
mod pcap;
mod peers;
mod peers_interop;

use std::process::{Command, ExitCode};

/// The error every step returns: a message for the operator.
type Result<T = ()> = std::result::Result<T, String>;

fn usage() -> String {
    "usage: cargo xtask <command>\n\
     commands:\n  \
       ci        fmt check, clippy -D warnings, doc -D warnings, tests, interop\n  \
       interop [FILTER]  suites against real peers (installs Debian packages when\n  \
                 root); with FILTER, only the suites whose name contains it\n  \
       peers [PACKAGE...]  show installed peers; install the named ones\n  \
       bench parse [--iterations N]  sofia-rs vs sofia-sip C parse throughput\n  \
       bench tport  UDP receive+parse of sofia-tport vs bare recv_from\n  \
       bench nta [--count N] [--concurrency C]  stateful OPTIONS vs sofia-sip C nta\n  \
       bench calls [--count N]  uas call capacity, CPU per call vs SIPp, memory\n  \
       fuzz [SECONDS]  run every fuzz target SECONDS each (default 30)\n"
        .to_string()
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("ci") => ci(),
        Some("interop") => interop(args.get(1).map(String::as_str)),
        Some("peers") => peers_cmd(&args[1..]),
        Some("bench") => bench::run(&args[1..]),
        Some("fuzz") => fuzz::run(&args[1..]),
        Some("-h" | "--help" | "help") => {
            print!("{}", usage());
            Ok(())
        }
        Some(other) => Err(format!("unknown command {other:?}\n{}", usage())),
        None => Err(usage()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Runs a command in the workspace root, echoing it; fails if it fails.
pub(crate) fn run(cmd: &mut Command) -> Result {
    eprintln!("xtask: running {cmd:?}");
    let status = cmd
        .current_dir(workspace_root())
        .status()
        .map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{cmd:?} failed with {status}"))
    }
}

pub(crate) fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string()))
}

pub(crate) fn workspace_root() -> std::path::PathBuf {
    let manifest = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest
        .parent()
        .map(std::path::Path::to_path_buf)
        .unwrap_or(manifest)
}

fn ci() -> Result {
    run(cargo().args(["fmt", "--all", "--", "--check"]))?;
    run(cargo().args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))?;
    run(cargo()
        .args(["doc", "--workspace", "--no-deps"])
        .env("RUSTDOCFLAGS", "-Dwarnings"))?;
    run(cargo().args(["test", "--workspace"]))?;
    interop(None)
}

fn peers_cmd(names: &[String]) -> Result {
    if names.is_empty() {
        for (package, installed) in peers::status(peers::PEERS) {
            let state = if installed { "installed" } else { "missing" };
            println!("{:<22} {state}", package.name);
        }
        return Ok(());
    }
    peers::ensure(&peers::by_name(names)?)
}

/// One interop suite: the Debian packages it needs and what it runs.
struct Suite {
    name: &'static str,
    needs: &'static [peers::Package],
    run: fn() -> Result,
}

/// Suites against real peers.
const SUITES: &[Suite] = &[
    Suite {
        name: "tshark dissects what sofia-msg writes",
        needs: &[peers::Package {
            name: "tshark",
            probe: peers::Probe::Program("tshark"),
        }],
        run: interop::tshark_dissects_written_messages,
    },
    Suite {
        name: "tshark decodes what sip-options and sip-responder send",
        needs: &[peers::Package {
            name: "tshark",
            probe: peers::Probe::Program("tshark"),
        }],
        run: interop::tshark_decodes_nta_traffic,
    },
    Suite {
        name: "sofia-sip sip-options against sip-responder",
        needs: &[peers::Package {
            name: "sofia-sip-bin",
            probe: peers::Probe::Program("sip-options"),
        }],
        run: interop::sofia_sip_options_against_responder,
    },
    Suite {
        name: "SIPp OPTIONS and INVITE scenarios against sip-responder",
        needs: &[peers::Package {
            name: "sip-tester",
            probe: peers::Probe::Program("sipp"),
        }],
        run: interop::sipp_against_responder,
    },
    Suite {
        name: "sip-options against SIPp",
        needs: &[peers::Package {
            name: "sip-tester",
            probe: peers::Probe::Program("sipp"),
        }],
        run: interop::sip_options_against_sipp,
    },
    Suite {
        name: "SIPp REGISTER with digest auth against sip-registrar",
        needs: &[peers::Package {
            name: "sip-tester",
            probe: peers::Probe::Program("sipp"),
        }],
        run: interop::sipp_register_auth_against_registrar,
    },
    Suite {
        name: "SIPp uac calls against uas",
        needs: &[peers::Package {
            name: "sip-tester",
            probe: peers::Probe::Program("sipp"),
        }],
        run: calls::sipp_uac_against_uas,
    },
    Suite {
        name: "uac against SIPp uas",
        needs: &[peers::Package {
            name: "sip-tester",
            probe: peers::Probe::Program("sipp"),
        }],
        run: calls::uac_against_sipp_uas,
    },
    Suite {
        name: "SIPp SUBSCRIBE/NOTIFY against presence-server",
        needs: &[
            peers::Package {
                name: "sip-tester",
                probe: peers::Probe::Program("sipp"),
            },
            peers::Package {
                name: "tshark",
                probe: peers::Probe::Program("tshark"),
            },
        ],
        run: interop::sipp_subscribe_against_presence_server,
    },
    Suite {
        name: "baresip calls uas",
        needs: &[BARESIP],
        run: peers_interop::baresip_calls_uas,
    },
    Suite {
        name: "uac calls baresip",
        needs: &[BARESIP],
        run: peers_interop::uac_calls_baresip,
    },
    Suite {
        name: "register against kamailio",
        needs: &[KAMAILIO],
        run: peers_interop::register_against_kamailio,
    },
    Suite {
        name: "calls through kamailio (uac to baresip, baresip to uas)",
        needs: &[KAMAILIO, BARESIP],
        run: peers_interop::calls_through_kamailio,
    },
    Suite {
        name: "SIPp REGISTER with digest auth against the sofia daemon",
        needs: &[peers::Package {
            name: "sip-tester",
            probe: peers::Probe::Program("sipp"),
        }],
        run: peers_interop::sipp_register_auth_against_sofia_daemon,
    },
    Suite {
        name: "SIPp registrar for a sofia daemon gateway",
        needs: &[peers::Package {
            name: "sip-tester",
            probe: peers::Probe::Program("sipp"),
        }],
        run: peers_interop::sipp_registrar_for_sofia_gateway,
    },
    Suite {
        name: "baresip registers at the sofia daemon",
        needs: &[BARESIP],
        run: peers_interop::baresip_registers_at_sofia_daemon,
    },
    Suite {
        name: "baresip calls SIPp through the sofia daemon (B2BUA)",
        needs: &[
            BARESIP,
            peers::Package {
                name: "sip-tester",
                probe: peers::Probe::Program("sipp"),
            },
        ],
        run: peers_interop::baresip_calls_sipp_through_sofia_daemon,
    },
    Suite {
        name: "SIPp phones and carrier through the sofia daemon",
        needs: &[peers::Package {
            name: "sip-tester",
            probe: peers::Probe::Program("sipp"),
        }],
        run: peers_interop::sipp_phones_and_carrier_through_sofia_daemon,
    },
    Suite {
        name: "a sofia daemon gateway registers at kamailio",
        needs: &[KAMAILIO],
        run: peers_interop::sofia_gateway_registers_at_kamailio,
    },
    Suite {
        name: "sofia daemon gateways against SIPp: FAIL_WAIT and recovery, ping DOWN and UP",
        needs: &[peers::Package {
            name: "sip-tester",
            probe: peers::Probe::Program("sipp"),
        }],
        run: peers_interop::sipp_gateway_fail_wait_and_ping,
    },
    Suite {
        name: "SIPp presence (SUBSCRIBE and PUBLISH) against the sofia daemon",
        needs: &[peers::Package {
            name: "sip-tester",
            probe: peers::Probe::Program("sipp"),
        }],
        run: peers_interop::sipp_presence_against_sofia_daemon,
    },
];

const BARESIP: peers::Package = peers::Package {
    name: "baresip",
    probe: peers::Probe::Program("baresip"),
};

const KAMAILIO: peers::Package = peers::Package {
    name: "kamailio",
    probe: peers::Probe::Program("kamailio"),
};

fn interop(filter: Option<&str>) -> Result {
    let suites: Vec<&Suite> = SUITES
        .iter()
        .filter(|s| filter.is_none_or(|f| s.name.contains(f)))
        .collect();
    if suites.is_empty() {
        let names: Vec<&str> = SUITES.iter().map(|s| s.name).collect();
        return Err(format!(
            "no interop suite matches {:?}; suites:\n  {}",
            filter.unwrap_or(""),
            names.join("\n  ")
        ));
    }
    let needs: Vec<peers::Package> = suites
        .iter()
        .flat_map(|s| s.needs.iter().copied())
        .collect();
    peers::ensure(&needs)?;
    let mut failed = Vec::new();
    for suite in &suites {
        println!("interop: {} ...", suite.name);
        match (suite.run)() {
            Ok(()) => println!("interop: {} ok", suite.name),
            Err(e) => {
                println!("interop: {} FAILED: {e}", suite.name);
                failed.push(suite.name);
            }
        }
    }
    let passed = suites.len() - failed.len();
    println!("interop: {passed} passed, {} failed", failed.len());
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!("interop suites failed: {}", failed.join(", ")))
    }
}
