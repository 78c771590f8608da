//! Interop suites of calls (sofia-nua's `uac` and `uas`) against real
//! peers on 127.0.0.1.

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::Result;
use crate::interop::{Responder, build_examples, free_port, run_checked};

/// The line of SIPp's final statistics that counts `what` calls (the
/// cumulative column).
fn sipp_count(out: &str, what: &str) -> Option<u64> {
    out.lines()
        .find(|l| l.contains(what))
        .and_then(|l| l.split('|').nth(2))
        .and_then(|c| c.trim().parse().ok())
}

/// SIPp's built-in `uac` scenario (INVITE, 100/180/200, ACK, BYE, 200)
/// places 1000 calls to `uas` over UDP and 200 over TCP: none may fail.
pub fn sipp_uac_against_uas() -> Result {
    let bin = build_examples()?;
    let uas = Responder::program(&bin, "uas", &[])?;
    let target = format!("127.0.0.1:{}", uas.port);
    for (name, calls, tcp) in [("UDP", "1000", false), ("TCP", "200", true)] {
        let port = free_port(!tcp)?;
        let mut cmd = Command::new("timeout");
        cmd.args([
            "120", "sipp", "-sn", "uac", "-m", calls, "-r", "200", "-l", "100",
        ])
        .args(["-timeout", "90s", "-nostdin", "-i", "127.0.0.1", "-p"])
        .arg(port.to_string());
        if tcp {
            cmd.args(["-t", "t1"]);
        }
        cmd.arg(&target);
        let out = run_checked(&mut cmd, &format!("sipp uac over {name}"))?;
        let ok = sipp_count(&out, "Successful call").unwrap_or(0);
        let failed = sipp_count(&out, "Failed call").unwrap_or(u64::MAX);
        if ok.to_string() != calls || failed != 0 {
            return Err(format!(
                "sipp uac over {name} against uas: {ok} successful, {failed} failed\n{out}"
            ));
        }
        println!("interop: sipp uac over {name} against uas: {ok} successful calls, 0 failed");
    }
    Ok(())
}

/// `uac` calls SIPp's built-in `uas` scenario (180, 200 with SDP, ACK, our
/// BYE, 200): answered and ended cleanly, also with a late offer.
pub fn uac_against_sipp_uas() -> Result {
    let bin = build_examples()?;
    for late in [false, true] {
        let port = free_port(true)?;
        let mut sipp = Command::new("timeout")
            .args(["40", "sipp", "-sn", "uas", "-m", "1", "-timeout", "30s"])
            .args(["-nostdin", "-i", "127.0.0.1", "-p"])
            .arg(port.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start sipp: {e}"))?;
        std::thread::sleep(Duration::from_millis(500));
        let mut uac = Command::new(bin.join("uac"));
        uac.args([
            &format!("sip:service@127.0.0.1:{port}"),
            "--duration",
            "0.5",
            "--bind",
            "sip:127.0.0.1:0",
        ]);
        if late {
            uac.arg("--late-offer");
        }
        let ours = run_checked(&mut uac, "uac against sipp uas");
        let status = sipp.wait().map_err(|e| format!("sipp: {e}"))?;
        let ours = ours?;
        for line in ["r_invite #1: 200", "(ready)", "r_bye #1: 200"] {
            if !ours.contains(line) {
                return Err(format!("uac against sipp uas: no {line:?} in\n{ours}"));
            }
        }
        if !status.success() {
            return Err(format!(
                "sipp uas failed with {status}; uac printed\n{ours}"
            ));
        }
        let how = if late { " (late offer)" } else { "" };
        println!("interop: uac against sipp uas{how}: answered, BYE 200 OK");
    }
    Ok(())
}
