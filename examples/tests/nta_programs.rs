//! sip-options, sip-responder and sip-load against each other on 127.0.0.1.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

struct Responder {
    child: Child,
    port: u16,
}

impl Responder {
    fn start(status: u16) -> Responder {
        let mut child = Command::new(env!("CARGO_BIN_EXE_sip-responder"))
            .args(["--bind", "sip:127.0.0.1:0", "--status", &status.to_string()])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert!(line.starts_with("listening on udp/127.0.0.1:"), "{line}");
        let port = line.trim().rsplit(':').next().unwrap().parse().unwrap();
        Responder { child, port }
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn sip_options(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_sip-options"))
        .args(args)
        .stderr(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
    )
}

#[test]
fn sip_options_prints_the_final_status_and_exits_accordingly() {
    let ok = Responder::start(200);
    let uri = format!("sip:127.0.0.1:{}", ok.port);
    assert_eq!(sip_options(&[&uri]), (0, "SIP/2.0 200 OK\n".into()));
    let tcp = format!("{uri};transport=tcp");
    assert_eq!(sip_options(&[&tcp]), (0, "SIP/2.0 200 OK\n".into()));
    let busy = Responder::start(486);
    let uri = format!("sip:127.0.0.1:{}", busy.port);
    assert_eq!(sip_options(&[&uri]), (1, "SIP/2.0 486 Busy Here\n".into()));
}

#[test]
fn sip_options_times_out_and_rejects_bad_input() {
    // Nothing answers on this port.
    let port = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let uri = format!("sip:127.0.0.1:{port}");
    assert_eq!(
        sip_options(&["--timeout", "1", &uri]),
        (1, "SIP/2.0 408 Request Timeout\n".into())
    );
    assert_eq!(sip_options(&["http://example.com"]).0, 2);
    assert_eq!(sip_options(&[]).0, 2);
}

#[test]
fn sip_load_reports_rate_and_latency() {
    let ok = Responder::start(200);
    let out = Command::new(env!("CARGO_BIN_EXE_sip-load"))
        .args([
            &format!("sip:127.0.0.1:{}", ok.port),
            "--count",
            "300",
            "--concurrency",
            "20",
        ])
        .stderr(Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(out.status.success(), "{text}");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "transactions 300, completed 300, failures 0, timeouts 0"
    );
    assert!(lines[1].ends_with(" transactions/s"), "{text}");
    assert!(lines[2].starts_with("latency p50 "), "{text}");

    let busy = Responder::start(503);
    let out = Command::new(env!("CARGO_BIN_EXE_sip-load"))
        .args([&format!("sip:127.0.0.1:{}", busy.port), "--count", "10"])
        .stderr(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8(out.stdout)
            .unwrap()
            .starts_with("transactions 10, completed 0, failures 10")
    );
}
