//! Interop suites against real peers on 127.0.0.1.

use std::path::{Path, PathBuf};
use std::process::Command;

use bytes::Bytes;
use sofia_msg::{HeaderName, Message, Method, RequestBuilder, ResponseBuilder};

use crate::{Result, pcap, workspace_root};

/// Where suites keep their files.
pub(crate) fn work_dir() -> Result<PathBuf> {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"));
    let dir = target.join("interop");
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    Ok(dir)
}

/// A message sofia-msg wrote, with the bytes it was parsed from (none for
/// builder output).
struct Written {
    name: String,
    msg: Message,
    original: Option<Vec<u8>>,
}

/// Messages written by sofia-msg: every RFC 4475 message that passes
/// `check()`, re-serialized, and messages made by the builders.
fn written_messages() -> Result<Vec<Written>> {
    let dir = workspace_root().join("crates/msg/tests/data/rfc4475");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for path in files {
        let data = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let Ok(msg) = Message::parse(Bytes::from(data.clone())) else {
            continue;
        };
        if msg.check().is_err() {
            continue;
        }
        let written = Message::parse(msg.to_bytes()).map_err(|e| {
            format!(
                "{}: re-serialized message does not parse: {e}",
                path.display()
            )
        })?;
        out.push(Written {
            name: file_name(&path),
            msg: written,
            original: Some(data),
        });
    }
    let sdp = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
               m=audio 4000 RTP/AVP 0 8 101\r\na=rtpmap:101 telephone-event/8000\r\n";
    let invite = RequestBuilder::new(Method::Invite, "sip:bob@127.0.0.1")
        .header(
            HeaderName::Via,
            "SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKinterop1;rport",
        )
        .header(HeaderName::MaxForwards, "70")
        .header(HeaderName::From, "\"Alice\" <sip:alice@127.0.0.1>;tag=a1")
        .header(HeaderName::To, "<sip:bob@127.0.0.1>")
        .header(HeaderName::CallId, "interop-invite@127.0.0.1")
        .header(HeaderName::CSeq, "1 INVITE")
        .header(HeaderName::Contact, "<sip:alice@127.0.0.1:5060>")
        .body("application/sdp", sdp)
        .build()
        .map_err(|e| format!("builder INVITE: {e}"))?;
    let ok = ResponseBuilder::reply_to(&invite, 200, "OK", Some("b2"))
        .header(HeaderName::Contact, "<sip:bob@127.0.0.1:5060>")
        .body("application/sdp", sdp)
        .build()
        .map_err(|e| format!("builder 200: {e}"))?;
    let register = RequestBuilder::new(Method::Register, "sip:127.0.0.1")
        .header(
            HeaderName::Via,
            "SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKinterop2",
        )
        .header(HeaderName::MaxForwards, "70")
        .header(HeaderName::From, "<sip:1000@127.0.0.1>;tag=r1")
        .header(HeaderName::To, "<sip:1000@127.0.0.1>")
        .header(HeaderName::CallId, "interop-register@127.0.0.1")
        .header(HeaderName::CSeq, "1 REGISTER")
        .header(
            HeaderName::Contact,
            "<sip:1000@127.0.0.1:5060>;expires=3600",
        )
        .build()
        .map_err(|e| format!("builder REGISTER: {e}"))?;
    for (name, msg) in [
        ("builder-invite", invite),
        ("builder-200", ok),
        ("builder-register", register),
    ] {
        out.push(Written {
            name: name.into(),
            msg,
            original: None,
        });
    }
    Ok(out)
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// What tshark made of one frame.
struct Dissected {
    method: String,
    status: String,
    call_id: String,
    malformed: bool,
    /// Highest expert-info severity (Wireshark's PI_* value; 0 for none).
    severity: u64,
}

/// Wireshark's PI_WARN expert severity.
const PI_WARN: u64 = 0x0060_0000;

/// Writes the payloads to a pcap file and dissects it with tshark.
fn dissect(file: &str, payloads: &[Vec<u8>]) -> Result<Vec<Dissected>> {
    let pcap_path = work_dir()?.join(file);
    let mut out =
        std::fs::File::create(&pcap_path).map_err(|e| format!("{}: {e}", pcap_path.display()))?;
    pcap::write_udp(&mut out, 5060, payloads).map_err(|e| format!("pcap: {e}"))?;
    drop(out);
    let output = Command::new("tshark")
        .arg("-n")
        .arg("-r")
        .arg(&pcap_path)
        .args(["-T", "fields", "-E", "separator=|", "-E", "occurrence=a"])
        .args(["-E", "aggregator=,"])
        .args([
            "-e",
            "sip.Method",
            "-e",
            "sip.Status-Code",
            "-e",
            "sip.Call-ID",
        ])
        .args(["-e", "_ws.malformed", "-e", "_ws.expert.severity"])
        .output()
        .map_err(|e| format!("cannot run tshark: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "tshark failed on {}: {}",
            pcap_path.display(),
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let rows: Vec<Dissected> = text
        .lines()
        .map(|line| {
            let f: Vec<&str> = line.split('|').collect();
            let field = |i: usize| f.get(i).copied().unwrap_or("");
            let first = |i: usize| field(i).split(',').next().unwrap_or("").to_string();
            Dissected {
                method: first(0),
                status: first(1),
                call_id: first(2),
                malformed: !field(3).is_empty(),
                severity: field(4)
                    .split(',')
                    .filter_map(|v| v.trim().parse::<u64>().ok())
                    .max()
                    .unwrap_or(0),
            }
        })
        .collect();
    if rows.len() != payloads.len() {
        return Err(format!(
            "tshark saw {} frames in {}, {} were written",
            rows.len(),
            pcap_path.display(),
            payloads.len()
        ));
    }
    Ok(rows)
}

/// tshark dissects everything sofia-msg writes as SIP: the method or status
/// and the Call-ID we wrote, no malformed frame, and no expert finding worse
/// than tshark has for the message we parsed (for builder output: nothing at
/// warning level or above).
pub fn tshark_dissects_written_messages() -> Result {
    let messages = written_messages()?;
    let ours: Vec<Vec<u8>> = messages.iter().map(|w| w.msg.to_bytes().to_vec()).collect();
    let originals: Vec<Vec<u8>> = messages
        .iter()
        .map(|w| w.original.clone().unwrap_or_default())
        .collect();
    let seen = dissect("sofia-msg-written.pcap", &ours)?;
    let before = dissect("sofia-msg-originals.pcap", &originals)?;
    let mut problems = Vec::new();
    for ((w, row), orig) in messages.iter().zip(&seen).zip(&before) {
        let name = &w.name;
        let (seen_start, expected_start) = if w.msg.is_request() {
            (row.method.clone(), w.msg.method_str().to_string())
        } else {
            (
                row.status.clone(),
                w.msg.status().map(|s| s.to_string()).unwrap_or_default(),
            )
        };
        if seen_start != expected_start {
            problems.push(format!(
                "{name}: tshark read {seen_start:?}, we wrote {expected_start:?}"
            ));
        }
        if row.call_id != w.msg.call_id().unwrap_or("") {
            problems.push(format!(
                "{name}: tshark read Call-ID {:?}, we wrote {:?}",
                row.call_id,
                w.msg.call_id()
            ));
        }
        if row.malformed {
            problems.push(format!("{name}: tshark reports a malformed frame"));
        }
        let allowed = if w.original.is_some() {
            orig.severity
        } else {
            PI_WARN - 1
        };
        if row.severity > allowed {
            problems.push(format!(
                "{name}: tshark expert severity {:#x}, more than {allowed:#x}",
                row.severity
            ));
        }
    }
    println!(
        "interop: tshark dissected {} messages written by sofia-msg",
        messages.len()
    );
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n  "))
    }
}

/// A free local port (bound and released; good enough on a quiet loopback).
pub(crate) fn free_port(udp: bool) -> Result<u16> {
    let port = if udp {
        std::net::UdpSocket::bind("127.0.0.1:0").and_then(|s| s.local_addr())
    } else {
        std::net::TcpListener::bind("127.0.0.1:0").and_then(|s| s.local_addr())
    };
    port.map(|a| a.port())
        .map_err(|e| format!("no free port: {e}"))
}

/// Builds the example programs the suites run; returns the directory of the
/// binaries.
pub(crate) fn build_examples() -> Result<PathBuf> {
    crate::run(crate::cargo().args([
        "build",
        "-q",
        "-p",
        "sofia-examples",
        "--bin",
        "sip-responder",
        "--bin",
        "sip-options",
        "--bin",
        "sip-registrar",
        "--bin",
        "uac",
        "--bin",
        "uas",
        "--bin",
        "register",
        "--bin",
        "presence-server",
    ]))?;
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"));
    Ok(target.join("debug"))
}

/// A running `sip-responder` (or another server program of the examples),
/// killed when dropped.
pub(crate) struct Responder {
    child: std::process::Child,
    pub(crate) port: u16,
    /// Its standard output, line by line (read by a thread).
    out: std::sync::mpsc::Receiver<String>,
}

impl Responder {
    fn start(bin: &Path, status: u16) -> Result<Responder> {
        Responder::program(bin, "sip-responder", &["--status", &status.to_string()])
    }

    /// Starts `program --bind sip:127.0.0.1:0 ARGS` (its standard input a
    /// pipe) and reads its port from its first line, `listening on
    /// udp/127.0.0.1:PORT`.
    pub(crate) fn program(bin: &Path, program: &str, args: &[&str]) -> Result<Responder> {
        use std::io::BufRead;
        let mut child = Command::new(bin.join(program))
            .args(["--bind", "sip:127.0.0.1:0"])
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start {program}: {e}"))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let (tx, out) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let first = out
            .recv_timeout(std::time::Duration::from_secs(20))
            .map_err(|_| format!("{program} printed nothing"))?;
        let port = first
            .rsplit(':')
            .next()
            .and_then(|p| p.trim().parse::<u16>().ok())
            .ok_or_else(|| format!("unexpected {program} output {first:?}"))?;
        Ok(Responder { child, port, out })
    }

    /// Writes a line to its standard input.
    fn say(&mut self, line: &str) -> Result {
        use std::io::Write;
        let stdin = self.child.stdin.as_mut().ok_or("no stdin")?;
        writeln!(stdin, "{line}")
            .and_then(|()| stdin.flush())
            .map_err(|e| format!("cannot write to the program: {e}"))
    }

    /// Reads its standard output up to a line that starts with `prefix`,
    /// for at most 20 s.
    fn wait_for(&mut self, prefix: &str) -> Result<String> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.out.recv_timeout(left) {
                Ok(line) if line.starts_with(prefix) => return Ok(line),
                Ok(_) => {}
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                    return Err(format!("the program did not print {prefix:?} in 20 s"));
                }
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                    return Err(format!("the program ended before printing {prefix:?}"));
                }
            }
        }
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn run_checked(cmd: &mut Command, what: &str) -> Result<String> {
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run {what}: {e}"))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() {
        Ok(text)
    } else {
        Err(format!("{what} failed with {}:\n{text}", out.status))
    }
}

/// sofia-sip C's `sip-options` (UDP and TCP) gets a 200 from `sip-responder`.
pub fn sofia_sip_options_against_responder() -> Result {
    let bin = build_examples()?;
    let responder = Responder::start(&bin, 200)?;
    for uri in [
        format!("sip:127.0.0.1:{}", responder.port),
        format!("sip:127.0.0.1:{};transport=tcp", responder.port),
    ] {
        let out = run_checked(
            Command::new("timeout").args(["20", "sip-options", &uri]),
            &format!("sip-options {uri}"),
        )?;
        if !out.starts_with("SIP/2.0 200 OK") {
            return Err(format!("sip-options {uri}: unexpected output {out:?}"));
        }
        println!("interop: sofia-sip sip-options {uri}: 200 OK");
    }
    Ok(())
}

/// SIPp's OPTIONS scenario (UDP and TCP) and built-in INVITE `uac` scenario
/// against `sip-responder`: every call successful.
pub fn sipp_against_responder() -> Result {
    let bin = build_examples()?;
    let responder = Responder::start(&bin, 200)?;
    let target = format!("127.0.0.1:{}", responder.port);
    let options = workspace_root().join("xtask/sipp/options_uac.xml");
    let runs: [(&str, Vec<String>); 3] = [
        (
            "OPTIONS over UDP",
            vec![
                "-sf".into(),
                options.display().to_string(),
                "-m".into(),
                "50".into(),
            ],
        ),
        (
            "OPTIONS over TCP",
            vec![
                "-sf".into(),
                options.display().to_string(),
                "-t".into(),
                "t1".into(),
                "-m".into(),
                "50".into(),
            ],
        ),
        (
            "INVITE uac",
            vec!["-sn".into(), "uac".into(), "-m".into(), "20".into()],
        ),
    ];
    for (name, args) in runs {
        let port = free_port(!args.contains(&"t1".to_string()))?;
        let mut cmd = Command::new("timeout");
        cmd.args(["60", "sipp"])
            .args(&args)
            .args([
                "-r",
                "50",
                "-timeout",
                "30s",
                "-nostdin",
                "-i",
                "127.0.0.1",
                "-p",
            ])
            .arg(port.to_string())
            .arg(&target);
        let out = run_checked(&mut cmd, &format!("sipp {name}"))?;
        let ok = out
            .lines()
            .find(|l| l.contains("Successful call"))
            .unwrap_or("")
            .to_string();
        println!("interop: sipp {name} against sip-responder: {}", ok.trim());
    }
    Ok(())
}

/// `sip-options` gets a 200 from SIPp acting as an OPTIONS server.
pub fn sip_options_against_sipp() -> Result {
    let bin = build_examples()?;
    let port = free_port(true)?;
    let scenario = workspace_root().join("xtask/sipp/options_uas.xml");
    let mut sipp = Command::new("timeout")
        .args(["30", "sipp", "-sf"])
        .arg(&scenario)
        .args([
            "-m",
            "1",
            "-timeout",
            "20s",
            "-nostdin",
            "-i",
            "127.0.0.1",
            "-p",
        ])
        .arg(port.to_string())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start sipp: {e}"))?;
    std::thread::sleep(std::time::Duration::from_millis(500));
    let ours = run_checked(
        Command::new(bin.join("sip-options")).args([
            "--timeout",
            "10",
            &format!("sip:127.0.0.1:{port}"),
        ]),
        "sip-options against sipp",
    );
    let status = sipp.wait().map_err(|e| format!("sipp: {e}"))?;
    let ours = ours?;
    if !ours.starts_with("SIP/2.0 200 OK") {
        return Err(format!("sip-options: unexpected output {ours:?}"));
    }
    if !status.success() {
        return Err(format!("sipp uas failed with {status}"));
    }
    println!("interop: sip-options against sipp uas: 200 OK");
    Ok(())
}

/// A tshark capture on the loopback interface of the UDP traffic of one
/// port, for a number of seconds.
struct Capture {
    child: std::process::Child,
    drain: std::thread::JoinHandle<()>,
    pcap: PathBuf,
}

impl Capture {
    /// Starts capturing into `file` (in the work directory) and returns once
    /// tshark listens.
    fn start(file: &str, port: u16, seconds: u32) -> Result<Capture> {
        let pcap = work_dir()?.join(file);
        let _ = std::fs::remove_file(&pcap);
        let mut child = Command::new("tshark")
            .args(["-n", "-q", "-i", "lo", "-f"])
            .arg(format!("udp port {port}"))
            .args(["-a", &format!("duration:{seconds}"), "-w"])
            .arg(&pcap)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start tshark: {e}"))?;
        // tshark says "Capture started" once dumpcap listens ("Capturing on"
        // comes earlier); its standard error is read to the end (a closed
        // pipe would end the capture early).
        let stderr = child.stderr.take().ok_or("tshark has no stderr")?;
        let (started_tx, started_rx) = std::sync::mpsc::channel();
        let drain = std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(|l| l.ok())
            {
                if line.contains("Capturing on") || line.contains("Capture started") {
                    let _ = started_tx.send(line.contains("Capture started"));
                }
            }
        });
        if started_rx
            .recv_timeout(std::time::Duration::from_secs(5))
            .is_err()
        {
            let _ = child.kill();
            return Err("tshark did not start capturing on lo".into());
        }
        // Wait for "Capture started" where tshark prints it, at most 1.5 s.
        let _ = started_rx.recv_timeout(std::time::Duration::from_millis(1500));
        std::thread::sleep(std::time::Duration::from_millis(300));
        Ok(Capture { child, drain, pcap })
    }

    /// Waits for the end of the capture and dissects it: per frame, the
    /// SIP method, status code, malformed flag and highest expert severity.
    fn finish(mut self) -> Result<Vec<Vec<String>>> {
        let status = self.child.wait().map_err(|e| format!("tshark: {e}"))?;
        let _ = self.drain.join();
        if !status.success() {
            return Err(format!("tshark capture failed with {status}"));
        }
        let out = Command::new("tshark")
            .arg("-n")
            .arg("-r")
            .arg(&self.pcap)
            .args(["-T", "fields", "-E", "separator=|", "-E", "occurrence=f"])
            .args(["-e", "sip.Method", "-e", "sip.Status-Code"])
            .args(["-e", "_ws.malformed", "-e", "_ws.expert.severity"])
            .output()
            .map_err(|e| format!("cannot run tshark: {e}"))?;
        let text = String::from_utf8_lossy(&out.stdout);
        Ok(text
            .lines()
            .map(|l| l.split('|').map(str::to_string).collect())
            .collect())
    }
}

/// tshark, capturing on the loopback interface, decodes what `sip-options`
/// and `sip-responder` send (requests, 200s and 100 Trying) as SIP without a
/// malformed frame or an expert warning.
pub fn tshark_decodes_nta_traffic() -> Result {
    let bin = build_examples()?;
    let responder = Responder::start(&bin, 200)?;
    let capture = Capture::start("sofia-nta-live.pcap", responder.port, 6)?;
    let uri = format!("sip:127.0.0.1:{}", responder.port);
    for _ in 0..3 {
        run_checked(
            Command::new(bin.join("sip-options")).arg(&uri),
            "sip-options",
        )?;
    }
    let rows = capture.finish()?;
    let mut requests = 0;
    let mut responses = 0;
    for row in &rows {
        let field = |i: usize| row.get(i).map(String::as_str).unwrap_or("");
        if !field(2).is_empty() {
            return Err(format!("tshark reports a malformed frame: {row:?}"));
        }
        if field(3).parse::<u64>().is_ok_and(|s| s >= PI_WARN) {
            return Err(format!("tshark expert warning: {row:?}"));
        }
        match (field(0), field(1)) {
            ("OPTIONS", _) => requests += 1,
            (_, "200") => responses += 1,
            _ => return Err(format!("tshark did not decode a frame as SIP: {row:?}")),
        }
    }
    if requests < 3 || responses < 3 {
        return Err(format!(
            "tshark saw {requests} requests and {responses} responses, expected 3 each"
        ));
    }
    println!("interop: tshark decoded {requests} OPTIONS and {responses} 200 OK on lo");
    Ok(())
}

/// SIPp's `[authentication]` answers `sip-registrar`'s digest challenges:
/// REGISTER over UDP and TCP with the right password gets 401 then 200; with
/// a wrong password 401 twice.
pub fn sipp_register_auth_against_registrar() -> Result {
    let bin = build_examples()?;
    let registrar = Responder::program(
        &bin,
        "sip-registrar",
        &["--user", "1000:1234", "--algorithm", "MD5"],
    )?;
    let target = format!("127.0.0.1:{}", registrar.port);
    let runs = [
        (
            "right password over UDP",
            "register_auth_ok.xml",
            "u1",
            "20",
        ),
        (
            "right password over TCP",
            "register_auth_ok.xml",
            "t1",
            "20",
        ),
        (
            "wrong password over UDP",
            "register_auth_wrong.xml",
            "u1",
            "3",
        ),
    ];
    for (name, file, transport, calls) in runs {
        let scenario = workspace_root().join("xtask/sipp").join(file);
        let port = free_port(transport == "u1")?;
        let mut cmd = Command::new("timeout");
        cmd.args(["60", "sipp", "-sf"])
            .arg(&scenario)
            .args(["-t", transport, "-m", calls, "-r", "50", "-timeout", "30s"])
            .args(["-nostdin", "-i", "127.0.0.1", "-p"])
            .arg(port.to_string())
            .arg(&target);
        let out = run_checked(&mut cmd, &format!("sipp REGISTER {name}"))?;
        let ok = out
            .lines()
            .find(|l| l.contains("Successful call"))
            .unwrap_or("")
            .to_string();
        println!(
            "interop: sipp REGISTER with digest, {name}, against sip-registrar: {}",
            ok.trim()
        );
    }
    Ok(())
}

/// SIPp subscribes to `presence-server`'s presence of alice, set `open` on
/// its standard input first (`xtask/sipp/subscribe_presence.xml`): 200, the
/// immediate NOTIFY (Event, `Subscription-State: active;expires=N`, PIDF
/// saying open) answered 200, unsubscribe with `Expires: 0`, 200 and the
/// final `terminated` NOTIFY answered 200; over UDP and TCP, every call
/// successful. Then one more subscription (`subscribe_presence_shutdown.xml`)
/// gets the NOTIFY of a state change written to the server's standard input,
/// and on SIGTERM the final `terminated;reason=deactivated` NOTIFY; the
/// server exits 0.
pub fn sipp_subscribe_against_presence_server() -> Result {
    let bin = build_examples()?;
    let mut server = Responder::program(&bin, "presence-server", &[])?;
    server.wait_for("listening on tcp/")?;
    server.say("alice open back soon")?;
    let line = server.wait_for("alice: ")?;
    if line != "alice: open, 0 notified" {
        return Err(format!("presence-server: unexpected output {line:?}"));
    }
    let target = format!("127.0.0.1:{}", server.port);
    let scenario = workspace_root().join("xtask/sipp/subscribe_presence.xml");
    // tshark captures the UDP run: what the server sends must dissect.
    let mut capture = Some(Capture::start("sofia-nea-live.pcap", server.port, 6)?);
    for (name, transport) in [("UDP", "u1"), ("TCP", "t1")] {
        let port = free_port(transport == "u1")?;
        let mut cmd = Command::new("timeout");
        cmd.args(["60", "sipp", "-sf"])
            .arg(&scenario)
            .args(["-t", transport, "-m", "20", "-r", "20", "-timeout", "30s"])
            .args(["-nostdin", "-i", "127.0.0.1", "-p"])
            .arg(port.to_string())
            .arg(&target);
        let out = run_checked(&mut cmd, &format!("sipp SUBSCRIBE over {name}"))?;
        let ok = out
            .lines()
            .find(|l| l.contains("Successful call"))
            .unwrap_or("")
            .to_string();
        println!(
            "interop: sipp SUBSCRIBE/NOTIFY over {name} against presence-server: {}",
            ok.trim()
        );
        if let Some(capture) = capture.take() {
            let (mut subscribes, mut notifies, mut oks) = (0, 0, 0);
            for row in capture.finish()? {
                let field = |i: usize| row.get(i).map(String::as_str).unwrap_or("");
                if !field(2).is_empty() {
                    return Err(format!("tshark reports a malformed frame: {row:?}"));
                }
                if field(3).parse::<u64>().is_ok_and(|s| s >= PI_WARN) {
                    return Err(format!("tshark expert warning: {row:?}"));
                }
                match (field(0), field(1)) {
                    ("SUBSCRIBE", _) => subscribes += 1,
                    ("NOTIFY", _) => notifies += 1,
                    (_, "200") => oks += 1,
                    _ => return Err(format!("tshark did not decode a frame as SIP: {row:?}")),
                }
            }
            // 20 calls: 2 SUBSCRIBEs, 2 NOTIFYs and 4 200s each (more with
            // retransmissions).
            if subscribes < 40 || notifies < 40 || oks < 80 {
                return Err(format!(
                    "tshark saw {subscribes} SUBSCRIBE, {notifies} NOTIFY, {oks} 200; \
                     expected at least 40, 40, 80"
                ));
            }
            println!(
                "interop: tshark decoded {subscribes} SUBSCRIBE, {notifies} NOTIFY and {oks} 200 OK \
                 on lo, none malformed"
            );
        }
    }
    // One more subscription, kept: a state change reaches it, then SIGTERM
    // ends it with a final NOTIFY (`subscribe_presence_shutdown.xml`).
    let scenario = workspace_root().join("xtask/sipp/subscribe_presence_shutdown.xml");
    let port = free_port(true)?;
    let sipp = Command::new("timeout")
        .args(["60", "sipp", "-sf"])
        .arg(&scenario)
        .args([
            "-m",
            "1",
            "-timeout",
            "30s",
            "-nostdin",
            "-i",
            "127.0.0.1",
            "-p",
        ])
        .arg(port.to_string())
        .arg(&target)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start sipp: {e}"))?;
    // Its output is collected as it comes (a full pipe would stop it).
    let sipp = std::thread::spawn(move || sipp.wait_with_output());
    let steps = (|| -> Result<String> {
        // The 40 earlier calls came and went; this is the 41st.
        server.wait_for("subscribed #41 ")?;
        server.say("alice closed gone home")?;
        let line = server.wait_for("alice: ")?;
        if line != "alice: closed, 1 notified" {
            return Err(format!("presence-server: unexpected output {line:?}"));
        }
        // The change NOTIFY goes once the throttle allows (1 s after the
        // first) and is answered before SIGTERM's final NOTIFY.
        std::thread::sleep(std::time::Duration::from_millis(1500));
        let kill = Command::new("kill")
            .args(["-TERM", &server.child.id().to_string()])
            .status()
            .map_err(|e| format!("cannot run kill: {e}"))?;
        if !kill.success() {
            return Err("kill -TERM presence-server failed".into());
        }
        server.wait_for("stopped")
    })();
    let out = sipp
        .join()
        .map_err(|_| "sipp's reader failed".to_string())?
        .map_err(|e| format!("sipp: {e}"))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let stopped = steps?;
    if !out.status.success() {
        return Err(format!(
            "sipp SUBSCRIBE until shutdown failed with {}:\n{text}",
            out.status
        ));
    }
    if stopped != "stopped, 1 subscriptions terminated" {
        return Err(format!("presence-server: unexpected output {stopped:?}"));
    }
    let status = server
        .child
        .wait()
        .map_err(|e| format!("presence-server: {e}"))?;
    if !status.success() {
        return Err(format!("presence-server ended with {status}"));
    }
    let ok = text
        .lines()
        .find(|l| l.contains("Successful call"))
        .unwrap_or("")
        .to_string();
    println!(
        "interop: sipp SUBSCRIBE, state change, SIGTERM's final NOTIFY: {}; presence-server: {stopped}",
        ok.trim()
    );
    Ok(())
}
