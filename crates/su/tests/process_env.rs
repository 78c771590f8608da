//! The process-wide registry reads the real environment: checked in a child
//! process of this test binary so the variables are set before first use.

use std::process::Command;

const CHILD: &str = "SOFIA_SU_TEST_CHILD";

/// In the child: prints the global levels. In the parent: nothing to do (the
/// other tests spawn it).
#[test]
fn child_print_levels() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    for m in sofia_su::log::REGISTRY.modules() {
        println!("LEVEL {} {}", m.name(), m.level());
    }
}

fn run_child(vars: &[(&str, &str)]) -> (String, String) {
    let exe = std::env::current_exe().unwrap();
    let mut cmd = Command::new(exe);
    cmd.args([
        "--exact",
        "child_print_levels",
        "--nocapture",
        "--test-threads=1",
    ]);
    for var in [
        "SOFIA_DEBUG",
        "SU_DEBUG",
        "TPORT_DEBUG",
        "NTA_DEBUG",
        "NUA_DEBUG",
        "SOA_DEBUG",
        "NEA_DEBUG",
        "IPTSEC_DEBUG",
        "SRESOLV_DEBUG",
        "SHOW_DEBUG_LEVELS",
    ] {
        cmd.env_remove(var);
    }
    cmd.env(CHILD, "1");
    for (k, v) in vars {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success());
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn env_is_read_by_global_registry() {
    let (stdout, stderr) = run_child(&[("SOFIA_DEBUG", "4"), ("NTA_DEBUG", "9")]);
    assert!(stdout.contains("LEVEL nta 9"), "{stdout}");
    assert!(stdout.contains("LEVEL tport 4"), "{stdout}");
    assert!(stdout.contains("LEVEL sofia 4"), "{stdout}");
    assert!(!stderr.contains("su_log:"), "{stderr}");
}

#[test]
fn bad_env_warns_once_and_does_not_panic() {
    let (stdout, stderr) = run_child(&[("NTA_DEBUG", "abc")]);
    assert!(stdout.contains("LEVEL nta 3"), "{stdout}");
    let warnings: Vec<_> = stderr.lines().filter(|l| l.contains("NTA_DEBUG")).collect();
    assert_eq!(warnings.len(), 1, "{stderr}");
}

#[test]
fn show_debug_levels_prints_sources() {
    let (_, stderr) = run_child(&[("SHOW_DEBUG_LEVELS", "1"), ("TPORT_DEBUG", "7")]);
    assert!(
        stderr.contains("su_log: tport: level 7 (TPORT_DEBUG=7)"),
        "{stderr}"
    );
    assert!(
        stderr.contains("su_log: nua: level 3 (default, SOFIA_DEBUG)"),
        "{stderr}"
    );
}
