//! Runs the built `sip-parse` binary on the RFC 4475 torture messages.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use bytes::Bytes;
use sofia_msg::Message;

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../crates/msg/tests/data/rfc4475")
        .join(name)
}

fn sip_parse(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sip-parse"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run sip-parse")
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).expect("UTF-8 output")
}

fn check_line(name: &str) -> String {
    let path = data(name);
    let path = path.to_str().expect("UTF-8 path");
    let out = sip_parse(&["--check", path]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let text = stdout(&out);
    let line = text.trim_end_matches('\n');
    assert_eq!(line.lines().count(), 1, "{text:?}");
    line.strip_prefix(&format!("{path}: "))
        .unwrap_or_else(|| panic!("line does not start with the file name: {line:?}"))
        .to_string()
}

#[test]
fn check_valid_message() {
    assert_eq!(check_line("wsinv.dat"), "valid");
}

#[test]
fn check_bad_version_gets_505() {
    let verdict = check_line("badvers.dat");
    assert!(verdict.starts_with("reject 505 "), "{verdict:?}");
}

#[test]
fn check_missing_headers_gets_400() {
    let verdict = check_line("insuf.dat");
    assert!(verdict.starts_with("reject 400 Missing "), "{verdict:?}");
}

#[test]
fn check_several_files_one_line_each() {
    let files = ["wsinv.dat", "badvers.dat", "insuf.dat"].map(data);
    let args: Vec<&str> = std::iter::once("--check")
        .chain(files.iter().map(|p| p.to_str().expect("UTF-8 path")))
        .collect();
    let out = sip_parse(&args);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text:?}");
    for (line, file) in lines.iter().zip(&files) {
        assert!(
            line.starts_with(&format!("{}: ", file.display())),
            "{line:?}"
        );
    }
    assert!(lines[0].ends_with(": valid"));
    assert!(lines[1].contains(": reject 505 "));
    assert!(lines[2].contains(": reject 400 Missing "));
}

#[test]
fn unparsable_message_uses_parse_error_status() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sip-parse"))
        .args(["--check", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run sip-parse");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"\r\n\r\n")
        .expect("write stdin");
    let out = child.wait_with_output().expect("wait");
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(stdout(&out), "-: reject 400 Empty Message\n");
}

#[test]
fn reads_standard_input() {
    let message = std::fs::read(data("wsinv.dat")).expect("read wsinv.dat");
    let mut child = Command::new(env!("CARGO_BIN_EXE_sip-parse"))
        .args(["--check", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run sip-parse");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(&message)
        .expect("write stdin");
    let out = child.wait_with_output().expect("wait");
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(stdout(&out), "-: valid\n");
}

#[test]
fn print_output_parses_back_to_the_same_message() {
    for name in ["wsinv.dat", "esc01.dat", "sdp01.dat"] {
        let path = data(name);
        let out = sip_parse(&["--print", path.to_str().expect("UTF-8 path")]);
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        let original =
            Message::parse(Bytes::from(std::fs::read(&path).expect("read"))).expect("parse");
        let printed = Message::parse(Bytes::from(out.stdout)).expect("printed message parses");
        assert_eq!(printed, original, "{name}");
        assert_eq!(printed.check(), original.check(), "{name}");
    }
}

#[test]
fn bench_prints_messages_per_second() {
    let path = data("wsinv.dat");
    let out = sip_parse(&["--bench", "10", path.to_str().expect("UTF-8 path")]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let text = stdout(&out);
    let last = text.lines().last().expect("a line");
    let rate = last
        .strip_suffix(" msgs/s")
        .unwrap_or_else(|| panic!("no msgs/s line: {text:?}"));
    assert!(rate.parse::<u64>().is_ok_and(|r| r > 0), "{last:?}");
}

#[test]
fn missing_file_exits_2_naming_it() {
    let out = sip_parse(&["--check", "/nonexistent/missing.sip"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("/nonexistent/missing.sip"), "{stderr}");
    assert!(out.stdout.is_empty());
}

#[test]
fn bad_usage_exits_2() {
    let path = data("wsinv.dat");
    let path = path.to_str().expect("UTF-8 path");
    for args in [
        &["--check"][..],
        &["--bench", "many", path],
        &["--bench", "0", path],
        &["--frobnicate", path],
    ] {
        let out = sip_parse(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
        assert!(!out.stderr.is_empty(), "{args:?}");
    }
}
