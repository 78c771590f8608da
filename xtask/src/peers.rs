//! Real peers come from Debian packages. A missing one is installed with
//! `apt-get` when running as root, and otherwise named in a loud failure.

use std::path::Path;
use std::process::Command;

/// How to tell that a package is installed.
#[derive(Debug, Clone, Copy)]
pub enum Probe {
    /// A program on the PATH.
    Program(&'static str),
    /// A file the package installs; any of several where its path changes
    /// between Debian releases.
    AnyFile(&'static [&'static str]),
}

/// A Debian package a suite needs.
#[derive(Debug, Clone, Copy)]
pub struct Package {
    /// The package name for `apt-get install`.
    pub name: &'static str,
    /// What shows it is installed.
    pub probe: Probe,
}

/// Every real peer the project tests against, by Debian package.
pub const PEERS: &[Package] = &[
    Package {
        name: "sip-tester",
        probe: Probe::Program("sipp"),
    },
    Package {
        name: "tshark",
        probe: Probe::Program("tshark"),
    },
    Package {
        name: "sofia-sip-bin",
        probe: Probe::Program("sip-options"),
    },
    Package {
        name: "libsofia-sip-ua-dev",
        // bookworm ships the 1.12 headers, trixie the 1.13 ones.
        probe: Probe::AnyFile(&[
            "/usr/include/sofia-sip-1.13/sofia-sip/msg.h",
            "/usr/include/sofia-sip-1.12/sofia-sip/msg.h",
        ]),
    },
    Package {
        name: "pkg-config",
        probe: Probe::Program("pkg-config"),
    },
    Package {
        name: "baresip",
        probe: Probe::Program("baresip"),
    },
    Package {
        name: "kamailio",
        probe: Probe::Program("kamailio"),
    },
];

/// The peer packages with these names; an unknown name is an error.
pub fn by_name(names: &[String]) -> crate::Result<Vec<Package>> {
    names
        .iter()
        .map(|n| {
            PEERS.iter().copied().find(|p| p.name == n).ok_or_else(|| {
                let known: Vec<&str> = PEERS.iter().map(|p| p.name).collect();
                format!("unknown peer package {n:?} (known: {})", known.join(", "))
            })
        })
        .collect()
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

fn present(package: &Package) -> bool {
    match package.probe {
        Probe::Program(p) => on_path(p),
        Probe::AnyFile(files) => files.iter().any(|f| Path::new(f).exists()),
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// Tells, for each package, whether it is installed.
pub fn status(packages: &[Package]) -> Vec<(Package, bool)> {
    packages.iter().map(|p| (*p, present(p))).collect()
}

/// Makes sure every package is installed; installs the missing ones as root.
pub fn ensure(packages: &[Package]) -> crate::Result {
    let mut missing: Vec<&str> = packages
        .iter()
        .filter(|p| !present(p))
        .map(|p| p.name)
        .collect();
    missing.sort_unstable();
    missing.dedup();
    if missing.is_empty() {
        return Ok(());
    }
    let list = missing.join(" ");
    if !is_root() || !on_path("apt-get") {
        return Err(format!(
            "missing Debian packages: {list}\n  install them with: apt-get install -y {list}"
        ));
    }
    eprintln!("xtask: installing Debian packages: {list}");
    let apt = |args: &[&str]| {
        let mut cmd = Command::new("apt-get");
        cmd.args(args).env("DEBIAN_FRONTEND", "noninteractive");
        crate::run(&mut cmd)
    };
    apt(&["update"]).map_err(|e| format!("apt-get update failed ({e}); needed for: {list}"))?;
    let mut args = vec!["install", "-y", "--no-install-recommends"];
    args.extend(missing.iter().copied());
    apt(&args).map_err(|e| format!("cannot install Debian packages {list}: {e}"))?;
    let still: Vec<&str> = packages
        .iter()
        .filter(|p| !present(p))
        .map(|p| p.name)
        .collect();
    if still.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "Debian packages installed but still not usable: {}",
            still.join(" ")
        ))
    }
}
