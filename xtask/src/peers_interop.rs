//! Interop suites against full SIP peers on 127.0.0.1: baresip calls `uas`
//! and answers (or rejects) `uac`; Kamailio is the registrar for `register`,
//! with digest authentication against a db_text subscriber table, and an
//! authenticating, record-routing proxy for calls between `uac`, baresip
//! and `uas`.
//!
//! Every peer and program runs under `timeout`, with its standard output and
//! error collected and written to a log file in the suite's directory
//! (`<target>/interop/<suite>/`); a failure quotes the last lines of the
//! peer's output. Everything a suite starts is ended when the suite returns,
//! also on failure.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::Result;
use crate::interop::{build_examples, free_port, work_dir};

/// A fresh directory for one suite's files.
fn suite_dir(name: &str) -> Result<PathBuf> {
    let dir = work_dir()?.join(name);
    if dir.exists() {
        std::fs::remove_dir_all(&dir)
            .map_err(|e| format!("cannot clear {}: {e}", dir.display()))?;
    }
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    Ok(dir)
}

fn write_file(path: &Path, text: &str) -> Result {
    std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// The last `n` lines of `text`.
fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// A program run under `timeout LIMIT`, its standard output and error
/// collected line by line as they come. Dropping it ends the program
/// (SIGTERM, SIGKILL after 5 s) and writes what it printed to its log file.
struct Peer {
    name: String,
    child: Child,
    output: Arc<Mutex<String>>,
    /// Standard error alone (where `TPORT_LOG` traces go).
    errors: Arc<Mutex<String>>,
    log: PathBuf,
    status: Option<ExitStatus>,
}

impl Peer {
    /// Starts `timeout --kill-after=5 LIMIT PROGRAM ARGS` with the extra
    /// environment `envs`; its output goes to `log` when it is dropped.
    fn start<I, S>(
        name: &str,
        limit: Duration,
        program: impl AsRef<OsStr>,
        args: I,
        envs: &[(&str, &str)],
        log: PathBuf,
    ) -> Result<Peer>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = Command::new("timeout");
        cmd.arg("--kill-after=5")
            .arg(limit.as_secs().max(1).to_string())
            .arg(program.as_ref())
            .args(args)
            .envs(envs.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        eprintln!("xtask: starting {cmd:?}");
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("cannot start {name}: {e}"))?;
        let output = Arc::new(Mutex::new(String::new()));
        let errors = Arc::new(Mutex::new(String::new()));
        let stdout = child
            .stdout
            .take()
            .map(|s| (Box::new(s) as Box<dyn Read + Send>, None));
        let stderr = child.stderr.take().map(|s| {
            (
                Box::new(s) as Box<dyn Read + Send>,
                Some(Arc::clone(&errors)),
            )
        });
        for (stream, own) in [stdout, stderr].into_iter().flatten() {
            let output = Arc::clone(&output);
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(|l| l.ok()) {
                    for buf in std::iter::once(&output).chain(own.as_ref()) {
                        if let Ok(mut out) = buf.lock() {
                            out.push_str(&line);
                            out.push('\n');
                        }
                    }
                }
            });
        }
        Ok(Peer {
            name: name.to_string(),
            child,
            output,
            errors,
            log,
            status: None,
        })
    }

    /// Everything printed so far.
    fn text(&self) -> String {
        self.output.lock().map(|o| o.clone()).unwrap_or_default()
    }

    /// The SIP messages of a `TPORT_LOG=1` trace on standard error, in
    /// order: whether it was sent (else received), and the message.
    fn trace(&self) -> Vec<(bool, String)> {
        let errors = self.errors.lock().map(|o| o.clone()).unwrap_or_default();
        let mut messages: Vec<(bool, String)> = Vec::new();
        let mut current: Option<(bool, String)> = None;
        for line in errors.lines() {
            if let Some(stamp) = line.split("sofia::tport::log: ").nth(1) {
                messages.extend(current.take());
                current = Some((stamp.starts_with("send"), String::new()));
            } else if let Some((_, msg)) = current.as_mut()
                && (!line.starts_with("-----") || !msg.is_empty())
            {
                msg.push_str(line);
                msg.push('\n');
            }
        }
        messages.extend(current);
        messages
    }

    /// The last lines printed, for error messages.
    fn tail(&self) -> String {
        format!(
            "last lines of {} (all in {}):\n{}",
            self.name,
            self.log.display(),
            tail(&self.text(), 25)
        )
    }

    fn exited(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self.child.try_wait().ok().flatten();
        }
        self.status
    }

    /// Waits until the output contains `needle`.
    fn wait_for(&mut self, needle: &str, within: Duration) -> Result {
        self.wait_for_count(needle, 1, within)
    }

    /// Waits until the output contains `needle` `count` times.
    fn wait_for_count(&mut self, needle: &str, count: usize, within: Duration) -> Result {
        let deadline = Instant::now() + within;
        let seen = |peer: &Peer| peer.text().matches(needle).count() >= count;
        let what = if count == 1 {
            format!("{needle:?}")
        } else {
            format!("{needle:?} {count} times")
        };
        loop {
            if seen(self) {
                return Ok(());
            }
            if let Some(status) = self.exited() {
                // Let the readers take the last lines.
                std::thread::sleep(Duration::from_millis(200));
                if seen(self) {
                    return Ok(());
                }
                return Err(format!(
                    "{} exited with {status} before printing {what}\n{}",
                    self.name,
                    self.tail()
                ));
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "{} did not print {what} within {} s\n{}",
                    self.name,
                    within.as_secs_f32(),
                    self.tail()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends a signal (`INT`, `TERM`) to the program (through `timeout`,
    /// which passes it on).
    fn signal(&self, sig: &str) -> Result {
        let status = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.child.id().to_string())
            .status()
            .map_err(|e| format!("cannot run kill: {e}"))?;
        if status.success() {
            Ok(())
        } else {
            Err(format!(
                "kill -{sig} {} ({}) failed",
                self.child.id(),
                self.name
            ))
        }
    }

    /// Waits for the program to exit.
    fn wait_exit(&mut self, within: Duration) -> Result<ExitStatus> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.exited() {
                std::thread::sleep(Duration::from_millis(200));
                return Ok(status);
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "{} did not exit within {} s\n{}",
                    self.name,
                    within.as_secs_f32(),
                    self.tail()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        if self.exited().is_none() {
            let _ = self.signal("TERM");
            let deadline = Instant::now() + Duration::from_secs(5);
            while self.exited().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            if self.exited().is_none() {
                let _ = self.child.kill();
                let _ = self.child.wait();
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = std::fs::write(&self.log, self.text());
    }
}

/// The first directory of `candidates` (glob-free paths, or `/usr/lib/*/`
/// expanded by hand) holding `file`.
fn find_dir(candidates: &[&str], multiarch_tail: &str, file: &str) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = candidates.iter().map(PathBuf::from).collect();
    if let Ok(entries) = std::fs::read_dir("/usr/lib") {
        let mut arch: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path().join(multiarch_tail)))
            .collect();
        arch.sort();
        dirs.extend(arch);
    }
    dirs.into_iter().find(|d| d.join(file).is_file())
}

/// A port free for both UDP and TCP.
fn free_port_udp_tcp() -> Result<u16> {
    for _ in 0..50 {
        let port = free_port(true)?;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    Err("no port free for UDP and TCP".into())
}

/// The port in a line `listening on udp/127.0.0.1:PORT` of `text`.
fn listening_port(text: &str) -> Option<u16> {
    text.lines()
        .find_map(|l| l.strip_prefix("listening on udp/127.0.0.1:"))
        .and_then(|p| p.trim().parse().ok())
}

// ---------------------------------------------------------------- baresip

/// baresip's account when it talks to our programs directly: `bob` that
/// never registers, answers calls at once and has G.711 only.
const LOCAL_ACCOUNT: &str = "<sip:bob@127.0.0.1>;regint=0;answermode=auto;audio_codecs=pcmu,pcma";

/// A running baresip with a throwaway configuration: SIP on 127.0.0.1 only
/// (UDP and TCP on `sip_port`, TLS on the next port), one account, G.711
/// only, the `aubridge` loop as audio device (no sound card), and the
/// `ctrl_tcp` command socket on `ctrl_port`.
struct Baresip {
    peer: Peer,
    sip_port: u16,
    ctrl_port: u16,
}

/// A port free for UDP and TCP whose next port is free for TCP (baresip
/// listens for TLS there).
fn baresip_sip_port() -> Result<u16> {
    for _ in 0..50 {
        let port = free_port(true)?;
        let Some(next) = port.checked_add(1) else {
            continue;
        };
        let tcp = std::net::TcpListener::bind(("127.0.0.1", port));
        let tls = std::net::TcpListener::bind(("127.0.0.1", next));
        if tcp.is_ok() && tls.is_ok() {
            return Ok(port);
        }
    }
    Err("no free port pair for baresip".into())
}

fn baresip_version() -> String {
    Command::new("baresip")
        .arg("-h")
        .output()
        .ok()
        .and_then(|o| {
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            );
            text.lines()
                .next()
                .and_then(|l| l.split_whitespace().nth(1))
                .map(str::to_string)
        })
        .unwrap_or_else(|| "(unknown version)".into())
}

impl Baresip {
    /// Starts baresip with its files in `dir` and the one account line
    /// `account` (`None`: [`LOCAL_ACCOUNT`]).
    fn start(dir: &Path, account: Option<&str>) -> Result<Baresip> {
        let modules = find_dir(
            &["/usr/lib/baresip/modules", "/usr/local/lib/baresip/modules"],
            "baresip/modules",
            "g711.so",
        )
        .ok_or("baresip's modules (g711.so) not found under /usr/lib")?;
        for module in ["aubridge.so", "menu.so", "ctrl_tcp.so", "account.so"] {
            if !modules.join(module).is_file() {
                return Err(format!(
                    "baresip module {module} missing in {}",
                    modules.display()
                ));
            }
        }
        let sip_port = baresip_sip_port()?;
        let ctrl_port = free_port(false)?;
        let config = format!(
            "poll_method\tepoll\n\
             sip_listen\t127.0.0.1:{sip_port}\n\
             net_interface\t127.0.0.1\n\
             call_local_timeout\t30\n\
             call_max_calls\t4\n\
             audio_player\taubridge,sofia\n\
             audio_source\taubridge,sofia\n\
             audio_alert\taubridge,sofia\n\
             statmode_default\toff\n\
             module_path\t{modules}\n\
             module\tg711.so\n\
             module\taubridge.so\n\
             module_tmp\taccount.so\n\
             module_app\tmenu.so\n\
             module_app\tctrl_tcp.so\n\
             ctrl_tcp_listen\t127.0.0.1:{ctrl_port}\n",
            modules = modules.display()
        );
        write_file(&dir.join("config"), &config)?;
        write_file(
            &dir.join("accounts"),
            &format!("{}\n", account.unwrap_or(LOCAL_ACCOUNT)),
        )?;
        let mut peer = Peer::start(
            "baresip",
            Duration::from_secs(90),
            "baresip",
            [OsStr::new("-f"), dir.as_os_str()],
            &[],
            dir.join("baresip.log"),
        )?;
        peer.wait_for("baresip is ready.", Duration::from_secs(15))?;
        let text = peer.text();
        if text.contains("failed to listen") || !text.contains("aucodec: PCMU/8000/1") {
            return Err(format!(
                "baresip did not start as configured\n{}",
                peer.tail()
            ));
        }
        Ok(Baresip {
            peer,
            sip_port,
            ctrl_port,
        })
    }

    /// Runs one command through `ctrl_tcp` (JSON in netstrings) and
    /// returns its response; an answer with `"ok":false` is an error.
    fn command(&self, command: &str, params: &str) -> Result<String> {
        if params.contains(['"', '\\']) {
            return Err(format!(
                "baresip command parameter {params:?} needs escaping"
            ));
        }
        let what = format!("baresip command {command} {params}");
        let mut sock = TcpStream::connect(("127.0.0.1", self.ctrl_port))
            .map_err(|e| format!("{what}: cannot connect to ctrl_tcp: {e}"))?;
        sock.set_read_timeout(Some(Duration::from_secs(10)))
            .map_err(|e| format!("{what}: {e}"))?;
        let json = format!(r#"{{"command":"{command}","params":"{params}","token":"sofia-rs"}}"#);
        sock.write_all(format!("{}:{json},", json.len()).as_bytes())
            .map_err(|e| format!("{what}: {e}"))?;
        let mut reader = BufReader::new(sock);
        loop {
            let mut len = Vec::new();
            reader
                .read_until(b':', &mut len)
                .map_err(|e| format!("{what}: no response: {e}\n{}", self.peer.tail()))?;
            let len: usize = std::str::from_utf8(&len)
                .ok()
                .and_then(|l| l.trim_end_matches(':').trim().parse().ok())
                .ok_or_else(|| format!("{what}: bad netstring length {len:?}"))?;
            let mut body = vec![0; len + 1];
            reader
                .read_exact(&mut body)
                .map_err(|e| format!("{what}: short netstring: {e}"))?;
            body.pop();
            let body = String::from_utf8_lossy(&body).into_owned();
            if body.contains(r#""response":true"#) {
                if body.contains(r#""ok":true"#) {
                    return Ok(body);
                }
                return Err(format!(
                    "{what}: baresip answered {body}\n{}",
                    self.peer.tail()
                ));
            }
        }
    }

    /// Asks baresip to quit and waits for it to exit.
    fn quit(mut self) -> Result {
        self.command("quit", "")?;
        let status = self.peer.wait_exit(Duration::from_secs(10))?;
        if status.success() {
            Ok(())
        } else {
            Err(format!(
                "baresip exited with {status}\n{}",
                self.peer.tail()
            ))
        }
    }

    /// The audio codec baresip's encoder uses (`PCMU`, `PCMA`), from
    /// `audio: Set audio encoder: PCMU 8000Hz 1ch`.
    fn encoder(&self) -> Result<String> {
        self.peer
            .text()
            .lines()
            .find_map(|l| l.split("Set audio encoder: ").nth(1))
            .and_then(|rest| rest.split_whitespace().next())
            .map(str::to_string)
            .ok_or_else(|| format!("baresip set no audio encoder\n{}", self.peer.tail()))
    }
}

/// The `CSeq` number of a message.
fn cseq(msg: &str) -> Option<&str> {
    msg.lines()
        .find_map(|l| l.strip_prefix("CSeq:"))
        .and_then(|v| v.split_whitespace().next())
}

/// The direction attribute of the SDP in a message (`sendrecv` when none).
fn direction(msg: &str) -> &'static str {
    ["sendonly", "recvonly", "inactive", "sendrecv"]
        .into_iter()
        .find(|d| msg.lines().any(|l| l.trim() == format!("a={d}")))
        .unwrap_or("sendrecv")
}

/// The INVITEs `uas` received and the SDP directions of each offer and of
/// our 200 OK answering it, from its `TPORT_LOG` trace.
fn invites_and_answers(uas: &Peer) -> Result<Vec<(&'static str, &'static str)>> {
    let trace = uas.trace();
    let mut pairs = Vec::new();
    let mut seen = Vec::new();
    for (sent, msg) in &trace {
        if *sent || !msg.starts_with("INVITE ") {
            continue;
        }
        let Some(n) = cseq(msg) else { continue };
        if seen.contains(&n) {
            continue; // a retransmission
        }
        seen.push(n);
        let answer = trace
            .iter()
            .find(|(sent, m)| {
                *sent
                    && m.starts_with("SIP/2.0 200 ")
                    && cseq(m) == Some(n)
                    && m.lines()
                        .any(|l| l.starts_with("CSeq:") && l.ends_with("INVITE"))
            })
            .ok_or_else(|| {
                format!(
                    "no 200 OK to INVITE CSeq {n} in uas's trace\n{}",
                    uas.tail()
                )
            })?;
        if !answer.1.contains("\nm=audio ") {
            return Err(format!(
                "uas's 200 OK to INVITE CSeq {n} has no SDP:\n{}",
                answer.1
            ));
        }
        pairs.push((direction(msg), direction(&answer.1)));
    }
    Ok(pairs)
}

/// baresip dials `uas` (`ctrl_tcp` command `dial`), the INVITE over UDP
/// and over TCP;
/// each call is established with a G.711 codec both sides have, baresip
/// puts it on hold (re-INVITE `a=sendonly`, our answer `a=recvonly`) and
/// resumes it (`a=sendrecv` both ways), hangs up, and `uas` sees the BYE
/// and answers it. Then baresip hangs up a call `uas` lets ring: `uas`
/// answers the CANCEL 200 and the INVITE 487, which baresip acknowledges.
pub fn baresip_calls_uas() -> Result {
    let bin = build_examples()?;
    let version = baresip_version();
    for transport in ["udp", "tcp"] {
        let dir = suite_dir(&format!("baresip-calls-uas-{transport}"))?;
        let mut uas = Peer::start(
            "uas",
            Duration::from_secs(90),
            bin.join("uas"),
            ["--bind", "sip:127.0.0.1:0", "--verbose"],
            &[("TPORT_LOG", "1")],
            dir.join("uas.log"),
        )?;
        uas.wait_for("listening on udp/127.0.0.1:", Duration::from_secs(10))?;
        let port = listening_port(&uas.text())
            .ok_or_else(|| format!("no port in uas output\n{}", uas.tail()))?;
        let mut baresip = Baresip::start(&dir, None)?;
        let uri = match transport {
            "tcp" => format!("sip:test@127.0.0.1:{port};transport=tcp"),
            _ => format!("sip:test@127.0.0.1:{port}"),
        };
        baresip.command("dial", &uri)?;
        baresip
            .peer
            .wait_for("Call established", Duration::from_secs(15))
            .map_err(|e| format!("{e}\n{}", uas.tail()))?;
        for line in ["i_invite #1: 100", "i_ack #1: 200", "200 OK (ready)"] {
            uas.wait_for(line, Duration::from_secs(10))?;
        }
        let codec = baresip.encoder()?;
        if codec != "PCMU" && codec != "PCMA" {
            return Err(format!("baresip encodes {codec}, expected PCMU or PCMA"));
        }
        baresip.command("hold", "")?;
        uas.wait_for_count("i_ack #1: 200", 2, Duration::from_secs(10))
            .map_err(|e| format!("hold: {e}\n{}", baresip.peer.tail()))?;
        baresip.command("resume", "")?;
        uas.wait_for_count("i_ack #1: 200", 3, Duration::from_secs(10))
            .map_err(|e| format!("resume: {e}\n{}", baresip.peer.tail()))?;
        baresip.command("hangup", "")?;
        baresip
            .peer
            .wait_for("call: terminate call", Duration::from_secs(10))?;
        uas.wait_for("i_bye #1: 200", Duration::from_secs(10))?;
        uas.wait_for("(terminated)", Duration::from_secs(5))?;
        let offers = invites_and_answers(&uas)?;
        let expected = [
            ("sendrecv", "sendrecv"),
            ("sendonly", "recvonly"),
            ("sendrecv", "sendrecv"),
        ];
        if offers != expected {
            return Err(format!(
                "SDP directions (offer, our answer) of the INVITEs: {offers:?}, expected {expected:?}\n{}",
                uas.tail()
            ));
        }
        let stamp = format!("bytes from {transport}/[127.0.0.1]");
        if !uas.text().contains(&stamp) {
            return Err(format!(
                "uas received nothing over {transport}\n{}",
                uas.tail()
            ));
        }
        baresip.quit()?;
        println!(
            "interop: baresip {version} called uas (INVITE over {}): established ({codec}), \
             hold (sendonly, answered recvonly) and resume (sendrecv) re-INVITEs, \
             hung up, BYE answered 200",
            transport.to_uppercase()
        );
    }

    // baresip hangs up while uas lets it ring: CANCEL.
    let dir = suite_dir("baresip-cancels-uas")?;
    let mut uas = Peer::start(
        "uas",
        Duration::from_secs(90),
        bin.join("uas"),
        [
            "--bind",
            "sip:127.0.0.1:0",
            "--verbose",
            "--answer-after",
            "20000",
        ],
        &[("TPORT_LOG", "1")],
        dir.join("uas.log"),
    )?;
    uas.wait_for("listening on udp/127.0.0.1:", Duration::from_secs(10))?;
    let port = listening_port(&uas.text())
        .ok_or_else(|| format!("no port in uas output\n{}", uas.tail()))?;
    let baresip = Baresip::start(&dir, None)?;
    baresip.command("dial", &format!("sip:test@127.0.0.1:{port}"))?;
    uas.wait_for("180 Ringing (early)", Duration::from_secs(10))
        .map_err(|e| format!("{e}\n{}", baresip.peer.tail()))?;
    baresip.command("hangup", "")?;
    uas.wait_for("i_cancel #1: 200", Duration::from_secs(10))
        .map_err(|e| format!("{e}\n{}", baresip.peer.tail()))?;
    uas.wait_for(
        "487 Request Terminated (terminated)",
        Duration::from_secs(5),
    )?;
    // baresip's ACK of the 487, in uas's trace.
    uas.wait_for(
        &format!("ACK sip:test@127.0.0.1:{port} SIP/2.0"),
        Duration::from_secs(5),
    )?;
    let trace = uas.trace();
    let acked =
        traced(&trace, true, "SIP/2.0 487 ", " INVITE\n") && traced(&trace, false, "ACK ", "");
    if !acked {
        return Err(format!(
            "no 487 to the INVITE acknowledged in uas's trace\n{}",
            uas.tail()
        ));
    }
    baresip.quit()?;
    println!(
        "interop: baresip {version} cancelled its ringing call to uas: CANCEL 200, INVITE 487, ACK"
    );
    Ok(())
}

/// `uac` calls baresip over UDP and over TCP; baresip answers at once:
/// `uac` sees 200 to the INVITE, sends BYE after 1 s and gets 200; baresip
/// reports each call established with a G.711 codec and terminated. Then,
/// with baresip ringing (answer mode `manual`): `uac` interrupted cancels
/// the call (CANCEL 200, INVITE 487, exit 1); baresip hanging up rejects
/// it (486, exit 1).
pub fn uac_calls_baresip() -> Result {
    let bin = build_examples()?;
    let version = baresip_version();
    let dir = suite_dir("uac-calls-baresip")?;
    let mut baresip = Baresip::start(&dir, None)?;
    for (n, transport) in ["udp", "tcp"].into_iter().enumerate() {
        let uri = match transport {
            "tcp" => format!("sip:bob@127.0.0.1:{};transport=tcp", baresip.sip_port),
            _ => format!("sip:bob@127.0.0.1:{}", baresip.sip_port),
        };
        let mut uac = Peer::start(
            &format!("uac ({transport})"),
            Duration::from_secs(40),
            bin.join("uac"),
            [uri.as_str(), "--duration", "1", "--bind", "sip:127.0.0.1:0"],
            &[("TPORT_LOG", "1")],
            dir.join(format!("uac-{transport}.log")),
        )?;
        let status = uac.wait_exit(Duration::from_secs(30))?;
        let out = uac.text();
        if !status.success() {
            return Err(format!(
                "uac exited with {status}\n{}\n{}",
                uac.tail(),
                baresip.peer.tail()
            ));
        }
        for line in ["r_invite #1: 200", "(ready)", "r_bye #1: 200"] {
            if !out.contains(line) {
                return Err(format!("no {line:?} in uac's output\n{}", uac.tail()));
            }
        }
        let stamp = format!("bytes to {transport}/[127.0.0.1]:{}", baresip.sip_port);
        if !out.contains(&stamp) {
            return Err(format!("uac sent nothing over {transport}\n{}", uac.tail()));
        }
        baresip
            .peer
            .wait_for_count("Call established", n + 1, Duration::from_secs(5))?;
        baresip
            .peer
            .wait_for_count("terminated", n + 1, Duration::from_secs(5))?;
        let codec = baresip.encoder()?;
        if codec != "PCMU" && codec != "PCMA" {
            return Err(format!("baresip encodes {codec}, expected PCMU or PCMA"));
        }
        println!(
            "interop: uac called baresip {version} over {}: answered ({codec}), \
             BYE after 1 s answered 200",
            transport.to_uppercase()
        );
    }
    baresip.command("answermode", "manual")?;
    let uri = format!("sip:bob@127.0.0.1:{}", baresip.sip_port);
    for (name, status) in [("cancel", 487), ("reject", 486)] {
        let mut uac = Peer::start(
            &format!("uac ({name})"),
            Duration::from_secs(40),
            bin.join("uac"),
            [uri.as_str(), "--duration", "1", "--bind", "sip:127.0.0.1:0"],
            &[("TPORT_LOG", "1")],
            dir.join(format!("uac-{name}.log")),
        )?;
        uac.wait_for("r_invite #1: 180", Duration::from_secs(10))
            .map_err(|e| format!("{e}\n{}", baresip.peer.tail()))?;
        baresip.peer.wait_for_count(
            "Incoming call from",
            if status == 487 { 1 } else { 2 },
            Duration::from_secs(5),
        )?;
        if status == 487 {
            uac.signal("INT")?;
        } else {
            baresip.command("hangup", "")?;
        }
        let exit = uac.wait_exit(Duration::from_secs(15))?;
        let final_line = format!("r_invite #1: {status}");
        if !uac.text().contains(&final_line) || exit.code() != Some(1) {
            return Err(format!(
                "{name}: uac exited with {exit} (expected 1) and {final_line:?}\n{}\n{}",
                uac.tail(),
                baresip.peer.tail()
            ));
        }
        let trace = uac.trace();
        if status == 487 {
            let cancelled = traced(&trace, true, "CANCEL ", "")
                && trace.iter().any(|(sent, m)| {
                    !sent && m.starts_with("SIP/2.0 200 ") && m.contains(" CANCEL\n")
                });
            if !cancelled {
                return Err(format!("uac sent no CANCEL answered 200\n{}", uac.tail()));
            }
        }
        if !traced(&trace, true, "ACK ", "") {
            return Err(format!("uac did not ACK the {status}\n{}", uac.tail()));
        }
        println!(
            "interop: uac called baresip ringing, {}: {final_line:?}, ACK, exit 1",
            if status == 487 {
                "interrupted: CANCEL 200"
            } else {
                "baresip hung up"
            }
        );
    }
    baresip.quit()
}

// ---------------------------------------------------------------- Kamailio

/// The Kamailio configuration: a registrar and proxy on 127.0.0.1:PORT that
/// authenticates every REGISTER (401) and INVITE (407) against the db_text
/// `subscriber` table (digest with qop=auth and nonce-count checking, HA1
/// computed from the plain password), keeps bindings in memory (at least
/// 2 s), record-routes INVITEs and relays them to the callee's binding (or,
/// with `uas_port`, INVITEs for user `uas` to `sip:uas@127.0.0.1:UAS_PORT`),
/// and relays in-dialog requests by their Route (loose routing); `ctl` serves `kamcmd` on a socket in the directory.
fn kamailio_cfg(port: u16, modules: &Path, dir: &Path, uas_port: Option<u16>) -> String {
    let uas_route = uas_port
        .map(|p| {
            format!(
                "        if ($rU == \"uas\") {{\n            \
                 $ru = \"sip:uas@127.0.0.1:{p}\";\n            \
                 xlog(\"L_NOTICE\", \"INVITE from $si:$sp relayed to $ru\\n\");\n            \
                 t_relay();\n            exit;\n        }}\n"
            )
        })
        .unwrap_or_default();
    format!(
        r#"#!KAMAILIO
debug=2
log_stderror=yes
children=2
listen=udp:127.0.0.1:{port}
listen=tcp:127.0.0.1:{port}
auto_aliases=no
alias="127.0.0.1:{port}"
dns=no
rev_dns=no
mpath="{modules}/"

loadmodule "kex.so"
loadmodule "corex.so"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "xlog.so"
loadmodule "sanity.so"
loadmodule "ctl.so"
loadmodule "db_text.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "auth.so"
loadmodule "auth_db.so"

modparam("ctl", "binrpc", "unix:{dir}/kamailio_ctl")
modparam("usrloc", "db_mode", 0)
modparam("registrar", "min_expires", 2)
modparam("auth", "qop", "auth")
modparam("auth", "nonce_count", 1)
modparam("auth_db", "db_url", "text://{dir}/db")
modparam("auth_db", "calculate_ha1", yes)
modparam("auth_db", "password_column", "password")
modparam("auth_db", "load_credentials", "")

request_route {{
    if (!mf_process_maxfwd_header("10")) {{
        sl_send_reply("483", "Too Many Hops");
        exit;
    }}
    if (!sanity_check()) {{
        xlog("L_WARN", "sanity check failed for $rm from $si:$sp\n");
        exit;
    }}
    if (is_method("CANCEL")) {{
        if (t_check_trans()) {{
            t_relay();
        }}
        exit;
    }}
    if (has_totag()) {{
        if (loose_route()) {{
            xlog("L_NOTICE", "in-dialog $rm from $si:$sp routed to $ru\n");
            t_relay();
            exit;
        }}
        if (is_method("ACK")) {{
            if (t_check_trans()) {{
                t_relay();
            }}
            exit;
        }}
        xlog("L_WARN", "in-dialog $rm from $si:$sp without a Route\n");
        sl_send_reply("404", "Not Here");
        exit;
    }}
    if (is_method("REGISTER")) {{
        if (!auth_check("$fd", "subscriber", "1")) {{
            xlog("L_NOTICE", "REGISTER for $fu from $si:$sp: auth_check $rc, challenged\n");
            auth_challenge("$fd", "1");
            exit;
        }}
        if (!save("location")) {{
            xlog("L_ERR", "REGISTER for $fu from $si:$sp: save failed\n");
            sl_reply_error();
            exit;
        }}
        xlog("L_NOTICE", "REGISTER for $fu from $si:$sp: saved\n");
        exit;
    }}
    if (is_method("INVITE")) {{
        if (!auth_check("$fd", "subscriber", "1")) {{
            xlog("L_NOTICE", "INVITE to $ru from $si:$sp: auth_check $rc, challenged\n");
            auth_challenge("$fd", "1");
            exit;
        }}
        consume_credentials();
        record_route();
{uas_route}        if (!lookup("location")) {{
            xlog("L_NOTICE", "INVITE to $ru from $si:$sp: no binding\n");
            sl_send_reply("404", "Not Found");
            exit;
        }}
        xlog("L_NOTICE", "INVITE from $si:$sp relayed to $ru\n");
        t_relay();
        exit;
    }}
    sl_send_reply("405", "Method Not Allowed");
}}
"#,
        modules = modules.display(),
        dir = dir.display(),
    )
}

/// A running Kamailio, and `kamcmd` for its control socket.
struct Kamailio {
    peer: Peer,
    port: u16,
    socket: String,
    version: String,
}

impl Kamailio {
    /// Starts Kamailio with subscribers alice (password `secret`) and bob
    /// (`bobsecret`) in domain 127.0.0.1.
    fn start(dir: &Path, uas_port: Option<u16>) -> Result<Kamailio> {
        let modules = find_dir(
            &["/usr/lib/kamailio/modules"],
            "kamailio/modules",
            "db_text.so",
        )
        .ok_or("Kamailio's modules (db_text.so) not found under /usr/lib")?;
        // The table versions the installed Kamailio expects.
        let versions = Path::new("/usr/share/kamailio/dbtext/kamailio/version");
        let db = dir.join("db");
        std::fs::create_dir_all(&db).map_err(|e| format!("{}: {e}", db.display()))?;
        std::fs::copy(versions, db.join("version"))
            .map_err(|e| format!("cannot copy {}: {e}", versions.display()))?;
        write_file(
            &db.join("subscriber"),
            "id(int,auto) username(string) domain(string) password(string) \
             ha1(string,null) ha1b(string,null)\n\
             1:alice:127.0.0.1:secret::\n\
             2:bob:127.0.0.1:bobsecret::\n",
        )?;
        let port = free_port_udp_tcp()?;
        let cfg = dir.join("kamailio.cfg");
        write_file(&cfg, &kamailio_cfg(port, &modules, dir, uas_port))?;
        let peer = Peer::start(
            "kamailio",
            Duration::from_secs(120),
            "kamailio",
            [
                OsStr::new("-f"),
                cfg.as_os_str(),
                OsStr::new("-DD"),
                OsStr::new("-E"),
                OsStr::new("-L"),
                modules.as_os_str(),
                OsStr::new("-Y"),
                dir.as_os_str(),
                OsStr::new("-P"),
                dir.join("kamailio.pid").as_os_str(),
                OsStr::new("-w"),
                dir.as_os_str(),
            ],
            &[],
            dir.join("kamailio.log"),
        )?;
        let mut kamailio = Kamailio {
            socket: format!("unix:{}/kamailio_ctl", dir.display()),
            port,
            version: String::new(),
            peer,
        };
        // Ready once the control socket answers.
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            match kamailio.kamcmd(&["core.version"]) {
                Ok(v) => {
                    kamailio.version = v.trim().to_string();
                    break;
                }
                Err(e) => {
                    if let Some(status) = kamailio.peer.exited() {
                        return Err(format!(
                            "kamailio exited with {status}\n{}",
                            kamailio.peer.tail()
                        ));
                    }
                    if Instant::now() >= deadline {
                        return Err(format!(
                            "kamailio's control socket did not answer within 20 s: {e}\n{}",
                            kamailio.peer.tail()
                        ));
                    }
                    std::thread::sleep(Duration::from_millis(200));
                }
            }
        }
        Ok(kamailio)
    }

    /// `kamcmd ARGS` on this Kamailio's control socket.
    fn kamcmd(&self, args: &[&str]) -> Result<String> {
        let out = Command::new("timeout")
            .args(["10", "kamcmd", "-s", &self.socket])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run kamcmd: {e}"))?;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        if out.status.success() {
            Ok(text)
        } else {
            Err(format!(
                "kamcmd {} failed with {}: {text}",
                args.join(" "),
                out.status
            ))
        }
    }

    /// The location binding of `contact` in `kamcmd ul.dump`, as its lines.
    fn binding(&self, contact: &str) -> Result<Option<String>> {
        let dump = self.kamcmd(&["ul.dump"])?;
        let needle = format!("Address: {contact}");
        let Some(start) = dump.find(&needle) else {
            return Ok(None);
        };
        let rest = &dump[start..];
        let end = rest.find('}').unwrap_or(rest.len());
        Ok(Some(rest[..end].to_string()))
    }
}

/// Starts `register AOR --user alice --password PASSWORD --expires EXPIRES`
/// bound to a free port of 127.0.0.1; returns it and its contact.
fn start_register(
    bin: &Path,
    dir: &Path,
    aor: &str,
    password: &str,
    expires: u32,
    log: &str,
) -> Result<(Peer, String)> {
    let port = free_port(true)?;
    let peer = Peer::start(
        &format!("register ({log})"),
        Duration::from_secs(60),
        bin.join("register"),
        [
            aor,
            "--user",
            "alice",
            "--password",
            password,
            "--expires",
            &expires.to_string(),
            "--bind",
            &format!("sip:127.0.0.1:{port}"),
        ],
        &[("TPORT_LOG", "1")],
        dir.join(format!("{log}.log")),
    )?;
    Ok((peer, format!("127.0.0.1:{port}")))
}

/// Interrupts `register` and checks that it unregistered (200) and exited 0,
/// and that Kamailio no longer has the binding.
fn unregister(reg: &mut Peer, kamailio: &Kamailio, contact: &str) -> Result {
    reg.signal("INT")?;
    let status = reg.wait_exit(Duration::from_secs(15))?;
    if !status.success() {
        return Err(format!(
            "{} exited with {status} after SIGINT\n{}",
            reg.name,
            reg.tail()
        ));
    }
    if !reg.text().contains("r_unregister #1: 200") {
        return Err(format!(
            "no \"r_unregister #1: 200\" from {}\n{}",
            reg.name,
            reg.tail()
        ));
    }
    if let Some(left) = kamailio.binding(contact)? {
        return Err(format!(
            "the binding is still in Kamailio after unregistering:\n{left}"
        ));
    }
    Ok(())
}

/// Kamailio (registrar, auth_db over db_text, qop=auth with nonce-count
/// checking) and `register`:
/// - the right password registers (401, then 200 with `qop=auth`,
///   `nc=00000001`), Kamailio's location table holds our contact with the
///   granted expiry and our User-Agent, SIGINT unregisters (200) and the
///   binding is gone;
/// - with a 4 s expiry the registration is refreshed (a second 200) and
///   Kamailio keeps the binding;
/// - over TCP the binding is our contact, not the port our connection
///   comes from (Kamailio's `rport`), and there is one;
/// - a wrong password is refused (401 after the retry; Kamailio's
///   `auth_check` says -2, invalid password), `register` exits 1 and
///   nothing is stored.
pub fn register_against_kamailio() -> Result {
    let bin = build_examples()?;
    let dir = suite_dir("kamailio-registrar")?;
    let mut kamailio = Kamailio::start(&dir, None)?;
    let aor = format!("sip:alice@127.0.0.1:{}", kamailio.port);

    // The right password.
    let (mut reg, from) = start_register(&bin, &dir, &aor, "secret", 60, "register")?;
    let contact = format!("sip:alice@{from}");
    reg.wait_for("r_register #1: 200", Duration::from_secs(15))
        .map_err(|e| format!("{e}\n{}", kamailio.peer.tail()))?;
    let trace = reg.text();
    for what in ["SIP/2.0 401 Unauthorized", "qop=auth", "nc=00000001"] {
        if !trace.contains(what) {
            return Err(format!("no {what:?} in register's trace\n{}", reg.tail()));
        }
    }
    kamailio.peer.wait_for(
        &format!("from {from}: auth_check -5"),
        Duration::from_secs(5),
    )?;
    kamailio
        .peer
        .wait_for(&format!("from {from}: saved"), Duration::from_secs(5))?;
    let binding = kamailio.binding(&contact)?.ok_or_else(|| {
        format!(
            "kamcmd ul.dump has no binding for {contact}\n{}",
            kamailio.peer.tail()
        )
    })?;
    let field = |name: &str| {
        binding
            .lines()
            .find_map(|l| l.trim().strip_prefix(name))
            .map(|v| v.trim().to_string())
            .unwrap_or_default()
    };
    let expires: u32 = field("Expires:").parse().unwrap_or(0);
    let agent = field("User-Agent:");
    if !(1..=60).contains(&expires) || !agent.starts_with("sofia-rs") {
        return Err(format!("unexpected binding in Kamailio:\n{binding}"));
    }
    unregister(&mut reg, &kamailio, &contact)?;
    println!(
        "interop: register against {}: 401, 200 OK (qop=auth), binding {contact} \
         (expires {expires} s, User-Agent {agent}) in ul.dump, unregistered 200 OK, binding gone",
        kamailio.version,
    );

    // Refreshing.
    let (mut reg, from) = start_register(&bin, &dir, &aor, "secret", 4, "register-refresh")?;
    let contact = format!("sip:alice@{from}");
    reg.wait_for_count("r_register #1: 200", 2, Duration::from_secs(10))
        .map_err(|e| format!("{e}\n{}", kamailio.peer.tail()))?;
    kamailio
        .peer
        .wait_for_count(&format!("from {from}: saved"), 2, Duration::from_secs(5))?;
    if kamailio.binding(&contact)?.is_none() {
        return Err(format!(
            "no binding for {contact} in Kamailio after the refresh\n{}",
            kamailio.peer.tail()
        ));
    }
    unregister(&mut reg, &kamailio, &contact)?;
    println!(
        "interop: register --expires 4 against Kamailio: refreshed (200 OK twice), binding kept, unregistered"
    );

    // Over TCP: Kamailio's `rport` is our connection's source port, and
    // the binding stays our contact.
    let (mut reg, from) = start_register(
        &bin,
        &dir,
        &format!("{aor};transport=tcp"),
        "secret",
        60,
        "register-tcp",
    )?;
    let contact = format!("sip:alice@{from}");
    reg.wait_for("r_register #1: 200", Duration::from_secs(15))
        .map_err(|e| format!("{e}\n{}", kamailio.peer.tail()))?;
    std::thread::sleep(Duration::from_millis(500));
    let binding = kamailio.binding(&contact)?.ok_or_else(|| {
        format!(
            "kamcmd ul.dump has no binding for {contact}\n{}",
            kamailio.peer.tail()
        )
    })?;
    let socket = format!("Socket: tcp:127.0.0.1:{}", kamailio.port);
    let dump = kamailio.kamcmd(&["ul.dump"])?;
    let bindings = dump.matches("Address: sip:alice@").count();
    let trace = reg.text();
    if !binding.contains(&socket)
        || bindings != 1
        || !trace.contains("bytes to tcp/")
        || !trace.contains("SIP/2.0 401 Unauthorized")
    {
        return Err(format!(
            "over TCP: expected one binding {contact} on {socket}, Kamailio has {bindings}:\n{dump}\n{}",
            reg.tail()
        ));
    }
    unregister(&mut reg, &kamailio, &contact)?;
    println!(
        "interop: register over TCP against Kamailio: 401, 200 OK, one binding {contact} on \
         {}, unregistered",
        socket.trim_start_matches("Socket: ")
    );

    // A wrong password.
    let (mut wrong, from) =
        start_register(&bin, &dir, &aor, "wrong", 60, "register-wrong-password")?;
    let status = wrong.wait_exit(Duration::from_secs(20))?;
    if status.code() != Some(1) {
        return Err(format!(
            "register with a wrong password exited with {status}, expected 1\n{}",
            wrong.tail()
        ));
    }
    let refused = wrong
        .text()
        .lines()
        .find(|l| l.starts_with("r_register #1: 401") || l.starts_with("r_register #1: 403"))
        .ok_or_else(|| format!("no 401/403 r_register from register\n{}", wrong.tail()))?
        .to_string();
    kamailio.peer.wait_for(
        &format!("from {from}: auth_check -2"),
        Duration::from_secs(5),
    )?;
    if let Some(stored) = kamailio.binding(&format!("sip:alice@{from}"))? {
        return Err(format!(
            "Kamailio stored a binding for a wrong password:\n{stored}"
        ));
    }
    println!(
        "interop: register with a wrong password against Kamailio: {refused:?} \
         (auth_check -2), exit 1, nothing stored"
    );
    Ok(())
}

/// Whether any message of `trace` that `sent` and starts with `start`
/// contains `needle`.
fn traced(trace: &[(bool, String)], sent: bool, start: &str, needle: &str) -> bool {
    trace
        .iter()
        .any(|(s, m)| *s == sent && m.starts_with(start) && m.contains(needle))
}

/// Calls through Kamailio as an authenticating, record-routing proxy, with
/// baresip registered at it (digest) as bob:
/// - `uac --user alice` calls bob: Kamailio answers the INVITE 407, `uac`
///   retries with Proxy-Authorization, Kamailio relays to baresip, which
///   answers; `uac` sends ACK and BYE with `Route: <sip:127.0.0.1:KPORT;lr>`
///   and Kamailio relays both by loose routing;
/// - baresip calls `sip:uas@KAMAILIO`, Kamailio relays to `uas`, whose
///   200 OK carries the Record-Route, so baresip's ACK and BYE pass through
///   Kamailio too.
pub fn calls_through_kamailio() -> Result {
    let bin = build_examples()?;
    let dir = suite_dir("kamailio-proxy")?;
    let mut uas = Peer::start(
        "uas",
        Duration::from_secs(120),
        bin.join("uas"),
        ["--bind", "sip:127.0.0.1:0", "--verbose"],
        &[("TPORT_LOG", "1")],
        dir.join("uas.log"),
    )?;
    uas.wait_for("listening on udp/127.0.0.1:", Duration::from_secs(10))?;
    let uas_port = listening_port(&uas.text())
        .ok_or_else(|| format!("no port in uas output\n{}", uas.tail()))?;
    let mut kamailio = Kamailio::start(&dir, Some(uas_port))?;
    let kport = kamailio.port;
    let baresip_dir = dir.join("baresip");
    std::fs::create_dir_all(&baresip_dir).map_err(|e| format!("{}: {e}", baresip_dir.display()))?;
    let account = format!(
        "<sip:bob@127.0.0.1:{kport}>;auth_pass=bobsecret;regint=60;answermode=auto;\
         audio_codecs=pcmu,pcma"
    );
    let mut baresip = Baresip::start(&baresip_dir, Some(&account))?;
    let registered = format!("from 127.0.0.1:{}: saved", baresip.sip_port);
    kamailio
        .peer
        .wait_for(&registered, Duration::from_secs(15))
        .map_err(|e| format!("baresip did not register: {e}\n{}", baresip.peer.tail()))?;
    if !kamailio.kamcmd(&["ul.dump"])?.contains("AoR: bob") {
        return Err(format!(
            "Kamailio has no binding for bob\n{}",
            kamailio.peer.tail()
        ));
    }

    // uac -> Kamailio -> baresip, over UDP and over TCP to Kamailio.
    for (n, transport) in ["udp", "tcp"].into_iter().enumerate() {
        let target = match transport {
            "tcp" => format!("sip:bob@127.0.0.1:{kport};transport=tcp"),
            _ => format!("sip:bob@127.0.0.1:{kport}"),
        };
        let mut uac = Peer::start(
            &format!("uac ({transport})"),
            Duration::from_secs(40),
            bin.join("uac"),
            [
                target.as_str(),
                "--duration",
                "1",
                "--user",
                "alice",
                "--password",
                "secret",
                "--bind",
                "sip:127.0.0.1:0",
            ],
            &[("TPORT_LOG", "1")],
            dir.join(format!("uac-{transport}.log")),
        )?;
        let status = uac.wait_exit(Duration::from_secs(30))?;
        if !status.success() {
            return Err(format!(
                "uac over {transport} exited with {status}\n{}\n{}\n{}",
                uac.tail(),
                kamailio.peer.tail(),
                baresip.peer.tail()
            ));
        }
        let out = uac.text();
        for line in ["r_invite #1: 200", "(ready)", "r_bye #1: 200"] {
            if !out.contains(line) {
                return Err(format!("no {line:?} in uac's output\n{}", uac.tail()));
            }
        }
        if !out.contains(&format!("bytes to {transport}/[127.0.0.1]:{kport}")) {
            return Err(format!(
                "uac sent nothing to Kamailio over {transport}\n{}",
                uac.tail()
            ));
        }
        let trace = uac.trace();
        let route = format!("Route: <sip:127.0.0.1:{kport};");
        let checks = [
            (false, "SIP/2.0 407 ", "Proxy-Authenticate: Digest"),
            (true, "INVITE ", "Proxy-Authorization: Digest"),
            (true, "ACK ", route.as_str()),
            (true, "BYE ", route.as_str()),
        ];
        for (sent, start, needle) in checks {
            if !traced(&trace, sent, start, needle) {
                let how = if sent { "sent" } else { "received" };
                return Err(format!(
                    "uac over {transport} {how} no {start}with {needle:?}\n{}",
                    uac.tail()
                ));
            }
        }
        for method in ["ACK", "BYE"] {
            kamailio.peer.wait_for_count(
                &format!("in-dialog {method} from 127.0.0.1:"),
                n + 1,
                Duration::from_secs(5),
            )?;
        }
        baresip
            .peer
            .wait_for_count("Call established", n + 1, Duration::from_secs(5))?;
        baresip
            .peer
            .wait_for_count("terminated", n + 1, Duration::from_secs(5))?;
        println!(
            "interop: uac called baresip through {} over {}: 407 answered with \
             Proxy-Authorization, answered, ACK and BYE loose-routed through Kamailio, BYE 200",
            kamailio.version,
            transport.to_uppercase()
        );
    }

    // baresip -> Kamailio -> uas.
    baresip.command("dial", &format!("sip:uas@127.0.0.1:{kport}"))?;
    baresip
        .peer
        .wait_for_count("Call established", 3, Duration::from_secs(15))
        .map_err(|e| format!("{e}\n{}\n{}", kamailio.peer.tail(), uas.tail()))?;
    uas.wait_for("200 OK (ready)", Duration::from_secs(10))?;
    baresip.command("hangup", "")?;
    uas.wait_for("i_bye #1: 200", Duration::from_secs(10))?;
    let record_route = format!("Record-Route: <sip:127.0.0.1:{kport};lr");
    if !traced(&uas.trace(), true, "SIP/2.0 200 ", &record_route) {
        return Err(format!(
            "uas's 200 OK has no {record_route:?}\n{}",
            uas.tail()
        ));
    }
    for method in ["ACK", "BYE"] {
        kamailio.peer.wait_for(
            &format!(
                "in-dialog {method} from 127.0.0.1:{} routed",
                baresip.sip_port
            ),
            Duration::from_secs(5),
        )?;
    }
    baresip.quit()?;
    println!(
        "interop: baresip called uas through Kamailio: uas's 200 OK kept the Record-Route, \
         baresip's ACK and BYE loose-routed through Kamailio, BYE 200"
    );
    Ok(())
}

// ------------------------------------------------------- the sofia daemon

/// The password of user 1001, the account baresip registers with.
const BARESIP_PASSWORD: &str = "baresip-1001";

/// A running `sofia` daemon (the mod_sofia program) with a throwaway
/// configuration tree in `dir/conf`: profile `internal` on 127.0.0.1 (UDP
/// and TCP on a port the system picks, `multiple-registrations` contact,
/// the realm from the From host), users 1000 (password 1234, SIPp's) and
/// 1001 in domain 127.0.0.1.
struct SofiaDaemon {
    peer: Peer,
    bin: PathBuf,
    data: PathBuf,
    port: u16,
}

impl SofiaDaemon {
    fn start(dir: &Path) -> Result<SofiaDaemon> {
        SofiaDaemon::start_with(dir, "", "")
    }

    /// As [`SofiaDaemon::start`], with `extra` (e.g. `<routes>`) in profile
    /// `internal`, and an `external` profile (127.0.0.1, any port) for
    /// `gateways` (the `<gateway>` elements) when there are any.
    fn start_with(dir: &Path, extra: &str, gateways: &str) -> Result<SofiaDaemon> {
        let more_profiles = if gateways.is_empty() {
            String::new()
        } else {
            format!(
                r#"    <profile name="external">
      <settings>
        <param name="sip-ip" value="127.0.0.1"/>
        <param name="sip-port" value="auto"/>
      </settings>
      <gateways>
{gateways}
      </gateways>
    </profile>"#
            )
        };
        crate::run(crate::cargo().args(["build", "-q", "-p", "mod_sofia", "--bin", "sofia"]))?;
        let bin = build_target_dir().join("debug/sofia");
        let conf = dir.join("conf");
        for sub in ["autoload_configs", "directory"] {
            std::fs::create_dir_all(conf.join(sub))
                .map_err(|e| format!("cannot create {}: {e}", conf.join(sub).display()))?;
        }
        let sofia_conf = conf.join("autoload_configs/sofia.conf.xml");
        write_file(
            &sofia_conf,
            &format!(
                r#"<configuration name="sofia.conf" description="sofia Endpoint">
  <global_settings>
    <param name="log-level" value="0"/>
  </global_settings>
  <profiles>
    <profile name="internal">
      <domains><domain name="all" alias="true" parse="false"/></domains>
      <settings>
        <param name="sip-ip" value="127.0.0.1"/>
        <param name="sip-port" value="auto"/>
        <param name="challenge-realm" value="auto_from"/>
        <param name="multiple-registrations" value="contact"/>
        <param name="context" value="public"/>
      </settings>
      {extra}
    </profile>
{more_profiles}
  </profiles>
</configuration>
"#
            ),
        )?;
        write_file(
            &conf.join("directory/default.xml"),
            &format!(
                r#"<include>
  <domain name="127.0.0.1">
    <users>
      <user id="1000"><params><param name="password" value="1234"/></params></user>
      <user id="1001"><params><param name="password" value="{BARESIP_PASSWORD}"/></params></user>
    </users>
  </domain>
</include>
"#
            ),
        )?;
        let data = dir.join("data");
        let mut peer = Peer::start(
            "sofia",
            Duration::from_secs(180),
            &bin,
            [
                OsStr::new("-c"),
                sofia_conf.as_os_str(),
                OsStr::new("--data-dir"),
                data.as_os_str(),
                OsStr::new("--no-console"),
            ],
            &[],
            dir.join("sofia.log"),
        )?;
        let deadline = Instant::now() + Duration::from_secs(20);
        let port = loop {
            if let Some(status) = peer.exited() {
                return Err(format!(
                    "the sofia daemon exited with {status}\n{}",
                    peer.tail()
                ));
            }
            let status = sofia_x(&bin, &data, "sofia status").unwrap_or_default();
            // Profile `internal`'s row (other profiles may come first).
            if let Some(port) = status
                .lines()
                .find(|l| l.trim_start().starts_with("internal") && l.contains("\tprofile\t"))
                .and_then(|l| l.split("sip:mod_sofia@127.0.0.1:").nth(1))
                .and_then(|rest| {
                    rest.chars()
                        .take_while(char::is_ascii_digit)
                        .collect::<String>()
                        .parse()
                        .ok()
                })
            {
                break port;
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "the sofia daemon did not start its profile within 20 s\n{}",
                    peer.tail()
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        println!("interop: sofia daemon, profile internal on 127.0.0.1:{port} (UDP and TCP)");
        Ok(SofiaDaemon {
            peer,
            bin,
            data,
            port,
        })
    }

    /// `sofia -x LINE`'s output.
    fn x(&self, line: &str) -> Result<String> {
        sofia_x(&self.bin, &self.data, line).map_err(|e| format!("{e}\n{}", self.peer.tail()))
    }

    /// `sofia status profile internal reg`.
    fn reg(&self) -> Result<String> {
        self.x("sofia status profile internal reg")
    }

    /// Waits until `sofia status profile internal reg` satisfies `ok`.
    fn wait_reg(&self, what: &str, within: Duration, ok: impl Fn(&str) -> bool) -> Result<String> {
        let deadline = Instant::now() + within;
        loop {
            let reg = self.reg()?;
            if ok(&reg) {
                return Ok(reg);
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "{what}: not seen within {} s in `sofia status profile internal reg`:\n{reg}\n{}",
                    within.as_secs(),
                    self.peer.tail()
                ));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Stops the daemon with SIGTERM; it must exit with status 0.
    fn stop(mut self) -> Result {
        self.peer.signal("TERM")?;
        let status = self.peer.wait_exit(Duration::from_secs(10))?;
        if status.success() {
            Ok(())
        } else {
            Err(format!(
                "the sofia daemon exited with {status} on SIGTERM\n{}",
                self.peer.tail()
            ))
        }
    }
}

/// The target directory cargo builds into.
fn build_target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate::workspace_root().join("target"))
}

/// Runs `sofia --data-dir DATA -x LINE` (at most 20 s) and returns what it
/// printed; an error when it fails.
fn sofia_x(bin: &Path, data: &Path, line: &str) -> Result<String> {
    let out = Command::new("timeout")
        .arg("20")
        .arg(bin)
        .arg("--data-dir")
        .arg(data)
        .arg("-x")
        .arg(line)
        .output()
        .map_err(|e| format!("cannot run sofia -x: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if out.status.success() {
        Ok(text)
    } else {
        Err(format!(
            "sofia -x {line:?} failed with {}: {text}{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// The registration blocks (`Call-ID:` to `MWI-Account:`) of a `sofia
/// status profile <p> reg` reply.
fn reg_blocks(reg: &str) -> Vec<&str> {
    reg.split("Call-ID:")
        .skip(1)
        .map(|b| b.split("\n\n").next().unwrap_or(b))
        .collect()
}

/// SIPp's `[authentication]` REGISTER against the `sofia` daemon: the right
/// password over UDP and over TCP (401, then 200 for every call), a wrong
/// one over UDP (401, then 403, as FreeSWITCH answers); then `sofia status
/// profile internal reg` shows user 1000 with SIPp's UDP and TCP contacts.
pub fn sipp_register_auth_against_sofia_daemon() -> Result {
    let dir = suite_dir("sofia-daemon-sipp")?;
    let daemon = SofiaDaemon::start(&dir)?;
    let target = format!("127.0.0.1:{}", daemon.port);
    let mut contacts = Vec::new();
    for (name, file, transport, calls) in [
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
            "register_auth_403.xml",
            "u1",
            "3",
        ),
    ] {
        let scenario = crate::workspace_root().join("xtask/sipp").join(file);
        let port = free_port(transport == "u1")?;
        let log = dir.join(format!("sipp-{}.log", name.replace(' ', "-")));
        let mut sipp = Peer::start(
            &format!("sipp ({name})"),
            Duration::from_secs(60),
            "sipp",
            [
                OsStr::new("-sf"),
                scenario.as_os_str(),
                OsStr::new("-t"),
                OsStr::new(transport),
                OsStr::new("-m"),
                OsStr::new(calls),
                OsStr::new("-r"),
                OsStr::new("50"),
                OsStr::new("-timeout"),
                OsStr::new("30s"),
                OsStr::new("-nostdin"),
                OsStr::new("-i"),
                OsStr::new("127.0.0.1"),
                OsStr::new("-p"),
                OsStr::new(&port.to_string()),
                OsStr::new(&target),
            ],
            &[],
            log,
        )?;
        let status = sipp.wait_exit(Duration::from_secs(70))?;
        let (ok, failed) = sipp_counts(&sipp.text());
        let expected = format!("{calls} ");
        let all_ok = failed.ends_with(" 0") && ok.ends_with(&format!(" {calls}"));
        if !status.success() || !all_ok {
            return Err(format!(
                "sipp REGISTER {name} against the sofia daemon: exit {status}, {ok:?}, {failed:?} \
                 (expected {expected}successful)\n{}\n{}",
                sipp.tail(),
                daemon.peer.tail()
            ));
        }
        if file == "register_auth_ok.xml" {
            let tp = if transport == "u1" { "UDP" } else { "TCP" };
            contacts.push((format!("sip:1000@127.0.0.1:{port};transport={tp}"), tp));
        }
        println!("interop: sipp REGISTER with digest, {name}, against the sofia daemon: {ok}");
    }
    let reg = daemon.wait_reg("SIPp's bindings", Duration::from_secs(5), |r| {
        r.contains("Total items returned: 2")
    })?;
    for (contact, tp) in &contacts {
        let block = reg_blocks(&reg)
            .into_iter()
            .find(|b| b.contains(contact.as_str()))
            .ok_or_else(|| format!("no binding with contact {contact}:\n{reg}"))?;
        if !block.contains("User:       \t1000@127.0.0.1\n")
            || !block.contains(&format!("Status:     \tRegistered({tp})"))
            || !block.contains("Auth-User:  \t1000\n")
        {
            return Err(format!("unexpected binding for {contact}:\n{block}"));
        }
    }
    let count = daemon.x("sofia_count_reg 1000@127.0.0.1")?;
    if count.trim() != "2" {
        return Err(format!(
            "sofia_count_reg 1000@127.0.0.1 is {count:?}, not 2"
        ));
    }
    println!(
        "interop: sofia status profile internal reg: user 1000 with SIPp's contacts {}",
        contacts
            .iter()
            .map(|(c, _)| c.as_str())
            .collect::<Vec<_>>()
            .join(" and ")
    );
    daemon.stop()
}

/// baresip registers at the `sofia` daemon as 1001 with digest
/// authentication: the binding appears in `sofia status profile internal
/// reg` with baresip's contact and User-Agent, and goes when baresip quits
/// (it unregisters).
pub fn baresip_registers_at_sofia_daemon() -> Result {
    let dir = suite_dir("sofia-daemon-baresip")?;
    let daemon = SofiaDaemon::start(&dir)?;
    let baresip_dir = dir.join("baresip");
    std::fs::create_dir_all(&baresip_dir).map_err(|e| format!("{}: {e}", baresip_dir.display()))?;
    let account = format!(
        "<sip:1001@127.0.0.1:{}>;auth_user=1001;auth_pass={BARESIP_PASSWORD};regint=60;\
         answermode=manual;audio_codecs=pcmu,pcma",
        daemon.port
    );
    let baresip = Baresip::start(&baresip_dir, Some(&account))?;
    // baresip's contact user is the account's user with a suffix.
    let contact = format!("@127.0.0.1:{}>", baresip.sip_port);
    let reg = daemon
        .wait_reg("baresip's binding", Duration::from_secs(15), |r| {
            r.contains("User:       \t1001@127.0.0.1\n")
        })
        .map_err(|e| format!("{e}\n{}", baresip.peer.tail()))?;
    let block = reg_blocks(&reg)
        .into_iter()
        .find(|b| b.contains("1001@127.0.0.1"))
        .unwrap_or_default()
        .to_string();
    let agent = block
        .lines()
        .find_map(|l| l.strip_prefix("Agent:      \t"))
        .unwrap_or("")
        .to_string();
    if !agent.starts_with("baresip") {
        return Err(format!(
            "the binding's agent is {agent:?}, not baresip's:\n{reg}"
        ));
    }
    let contact = block
        .lines()
        .find_map(|l| l.strip_prefix("Contact:    \t"))
        .filter(|c| c.contains("<sip:1001") && c.ends_with(&contact))
        .ok_or_else(|| format!("the binding's contact is not baresip's ({contact}):\n{reg}"))?;
    if !block.contains("Auth-User:  \t1001\n") || !block.contains("Status:     \tRegistered(UDP)") {
        return Err(format!("unexpected binding:\n{reg}"));
    }
    let count = daemon.x("sofia_count_reg 1001@127.0.0.1")?;
    if count.trim() != "1" {
        return Err(format!(
            "sofia_count_reg 1001@127.0.0.1 is {count:?}, not 1"
        ));
    }
    println!(
        "interop: baresip {} registered at the sofia daemon as 1001 (digest): contact {contact}, agent {agent:?}",
        baresip_version()
    );
    baresip.quit()?;
    daemon.wait_reg("baresip's unregistration", Duration::from_secs(10), |r| {
        !r.contains("1001@127.0.0.1") && r.contains("Total items returned: 0")
    })?;
    println!("interop: baresip quit and unregistered: the binding is gone");
    daemon.stop()
}

/// A call through the `sofia` daemon as a B2BUA: baresip, registered to
/// the daemon as 1001, dials 5000; the profile's route sends it to a SIPp
/// UAS (SIPp's built-in `uas` scenario: 180, 200, ACK, BYE). SIPp counts
/// one successful call (INVITE, ACK and BYE all came through the daemon),
/// baresip reports the call established and terminated, and `sofia status
/// profile internal` counts it in and out.
pub fn baresip_calls_sipp_through_sofia_daemon() -> Result {
    let dir = suite_dir("sofia-daemon-b2bua")?;
    let sipp_port = free_port(true)?;
    let routes = format!(
        r#"<routes><route expression="^(5\d{{3}})$" dial-string="sofia/internal/$1@127.0.0.1:{sipp_port}"/></routes>"#
    );
    let daemon = SofiaDaemon::start_with(&dir, &routes, "")?;
    let sipp = sipp(&dir, "uas", &["-sn", "uas", "-m", "1"], sipp_port, None)?;
    let baresip_dir = dir.join("baresip");
    std::fs::create_dir_all(&baresip_dir).map_err(|e| format!("{}: {e}", baresip_dir.display()))?;
    let account = format!(
        "<sip:1001@127.0.0.1:{}>;auth_user=1001;auth_pass={BARESIP_PASSWORD};regint=60;\
         answermode=manual;audio_codecs=pcmu,pcma",
        daemon.port
    );
    let mut baresip = Baresip::start(&baresip_dir, Some(&account))?;
    daemon
        .wait_reg("baresip's binding", Duration::from_secs(15), |r| {
            r.contains("User:       \t1001@127.0.0.1\n")
        })
        .map_err(|e| format!("{e}\n{}", baresip.peer.tail()))?;
    baresip.command("dial", &format!("sip:5000@127.0.0.1:{}", daemon.port))?;
    baresip
        .peer
        .wait_for("Call established", Duration::from_secs(15))
        .map_err(|e| format!("{e}\n{}\n{}", sipp.tail(), daemon.peer.tail()))?;
    let status = daemon.x("sofia status")?;
    if !status.contains("RUNNING (1)") {
        return Err(format!("the call is not counted as running:\n{status}"));
    }
    std::thread::sleep(Duration::from_millis(500));
    baresip.command("hangup", "")?;
    baresip
        .peer
        .wait_for("call: terminate call", Duration::from_secs(10))?;
    sipp_done(sipp, "uas", 1, &daemon)?;
    let info = daemon.x("sofia status profile internal")?;
    let value = |name: &str| {
        info.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split('\t').next_back())
            .unwrap_or("")
            .trim()
            .to_string()
    };
    if value("CALLS-IN") != "1" || value("CALLS-OUT") != "1" || value("FAILED-CALLS-IN") != "0" {
        return Err(format!("unexpected call counters:\n{info}"));
    }
    println!(
        "interop: baresip {} (registered as 1001) called 5000 through the sofia daemon to SIPp's uas: \
         established, hung up; SIPp counted 1 successful call (INVITE/180/200/ACK/BYE relayed); \
         CALLS-IN 1, CALLS-OUT 1",
        baresip_version()
    );
    baresip.quit()?;
    daemon.stop()
}

/// SIPp as the registrar of a `sofia` daemon's gateway: SIPp's UAS scenario
/// `xtask/sipp/register_uas_gateway.xml` challenges the gateway's REGISTER
/// with a 401, checks the digest of the next one and answers 200; `sofia
/// status gateway gwsipp` then says REGED and UP.
pub fn sipp_registrar_for_sofia_gateway() -> Result {
    let dir = suite_dir("sofia-daemon-gateway-sipp")?;
    let port = free_port(true)?;
    let sipp = sipp(
        &dir,
        "registrar",
        &["-sf", &scenario("register_uas_gateway.xml"), "-m", "1"],
        port,
        None,
    )?;
    let daemon = SofiaDaemon::start_with(
        &dir,
        "",
        &format!(
            r#"        <gateway name="gwsipp">
          <param name="username" value="gwuser"/>
          <param name="password" value="gwpass"/>
          <param name="proxy" value="127.0.0.1:{port}"/>
        </gateway>
"#
        ),
    )?;
    let status = wait_gateway(
        &daemon,
        "gwsipp",
        "State   \tREGED\n",
        Duration::from_secs(30),
    )
    .map_err(|e| format!("{e}\n{}", sipp.tail()))?;
    if !status.contains("Status  \tUP") {
        return Err(format!("gateway gwsipp REGED but not UP:\n{status}"));
    }
    sipp_done(sipp, "registrar", 1, &daemon)?;
    println!(
        "interop: a sofia gateway registers with digest at SIPp's registrar (401, 200): REGED, UP"
    );
    daemon.stop()
}

/// Starts SIPp with `args` on 127.0.0.1:`port` (UDP) towards `target`
/// (none for a UAS), for at most 90 s.
fn sipp(dir: &Path, name: &str, args: &[&str], port: u16, target: Option<String>) -> Result<Peer> {
    let mut all: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    for a in ["-nostdin", "-timeout", "60s", "-i", "127.0.0.1", "-p"] {
        all.push(a.to_string());
    }
    all.push(port.to_string());
    all.extend(target);
    Peer::start(
        &format!("sipp ({name})"),
        Duration::from_secs(90),
        "sipp",
        all,
        &[],
        dir.join(format!("sipp-{}.log", name.replace(' ', "-"))),
    )
}

/// Waits for SIPp to end and checks it counted `calls` successful calls
/// and no failed one.
fn sipp_done(mut peer: Peer, name: &str, calls: u32, daemon: &SofiaDaemon) -> Result {
    let status = peer.wait_exit(Duration::from_secs(80))?;
    let (ok, failed) = sipp_counts(&peer.text());
    if !status.success() || !ok.ends_with(&format!(" {calls}")) || !failed.ends_with(" 0") {
        return Err(format!(
            "SIPp {name}: exit {status}, {ok:?}, {failed:?} (expected {calls} successful)\n{}\n{}",
            peer.tail(),
            daemon.peer.tail()
        ));
    }
    Ok(())
}

/// The last "Successful call" and "Failed call" lines of SIPp's statistics
/// screen, white space collapsed (`Successful call | 0 | 1`).
fn sipp_counts(text: &str) -> (String, String) {
    let line = |label: &str| {
        text.lines()
            .rfind(|l| l.contains(label))
            .unwrap_or("")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    (line("Successful call"), line("Failed call"))
}

fn scenario(file: &str) -> String {
    crate::workspace_root()
        .join("xtask/sipp")
        .join(file)
        .display()
        .to_string()
}

/// SIPp as phones and as a carrier around the `sofia` daemon:
/// - the gateway `carrier` of profile `external` registers with digest at
///   a SIPp registrar (`register-proxy`) and reaches REGED;
/// - a SIPp phone registers as 1000 (digest) for another SIPp listening
///   as the phone; SIPp's `uac` calls 1000 through the daemon: the
///   registered phone answers, BYE ends both legs;
/// - a SIPp phone calls `9<number>`: the route sends it through the gateway
///   to the SIPp carrier (`xtask/sipp/carrier_uas.xml`), which challenges
///   the INVITE (401, answered with the gateway's credentials), checks the
///   route's `sip_h_X-Account` header, answers; the phone holds the call
///   with a re-INVITE (sendonly relayed, recvonly back) and hangs up;
/// - a SIPp phone calls `8<number>` and cancels while it rings: the CANCEL
///   reaches the ringing SIPp, 487 comes back to the caller.
pub fn sipp_phones_and_carrier_through_sofia_daemon() -> Result {
    let dir = suite_dir("sofia-daemon-sipp-calls")?;
    let (p_reg, p_carrier, p_phone, p_ring) = (
        free_port(true)?,
        free_port(true)?,
        free_port(true)?,
        free_port(true)?,
    );
    let registrar = sipp(
        &dir,
        "gateway registrar",
        &["-sf", &scenario("register_uas_gateway.xml"), "-m", "1"],
        p_reg,
        None,
    )?;
    let carrier = sipp(
        &dir,
        "carrier",
        &["-sf", &scenario("carrier_uas.xml"), "-m", "1"],
        p_carrier,
        None,
    )?;
    let routes = format!(
        r#"<routes>
        <route expression="^9(\d+)$" dial-string="{{sip_h_X-Account=42}}sofia/gateway/carrier/$1"/>
        <route expression="^8(\d+)$" dial-string="sofia/internal/$1@127.0.0.1:{p_ring}"/>
      </routes>"#
    );
    let gateways = format!(
        r#"        <gateway name="carrier">
          <param name="username" value="gwuser"/>
          <param name="password" value="gwpass"/>
          <param name="register-proxy" value="127.0.0.1:{p_reg}"/>
          <param name="proxy" value="127.0.0.1:{p_carrier}"/>
        </gateway>
"#
    );
    let daemon = SofiaDaemon::start_with(&dir, &routes, &gateways)?;
    let target = format!("127.0.0.1:{}", daemon.port);
    wait_gateway(
        &daemon,
        "carrier",
        "State   \tREGED\n",
        Duration::from_secs(30),
    )?;
    sipp_done(registrar, "gateway registrar", 1, &daemon)?;
    println!("interop: gateway carrier registered at the SIPp registrar (401, 200): REGED");

    // A call between a caller and a registered phone.
    let phone = sipp(
        &dir,
        "phone 1000",
        &["-sn", "uas", "-m", "1"],
        p_phone,
        None,
    )?;
    let reg = sipp(
        &dir,
        "register 1000",
        &[
            "-sf",
            &scenario("register_phone.xml"),
            "-key",
            "phone_port",
            &p_phone.to_string(),
            "-m",
            "1",
        ],
        free_port(true)?,
        Some(target.clone()),
    )?;
    sipp_done(reg, "register 1000", 1, &daemon)?;
    let caller = sipp(
        &dir,
        "caller to 1000",
        &["-sn", "uac", "-s", "1000", "-m", "1"],
        free_port(true)?,
        Some(target.clone()),
    )?;
    sipp_done(caller, "caller to 1000", 1, &daemon)?;
    sipp_done(phone, "phone 1000", 1, &daemon)?;
    println!(
        "interop: SIPp uac called the registered SIPp phone 1000 through the daemon: answered, BYE relayed"
    );

    // Out through the gateway, with hold.
    let caller = sipp(
        &dir,
        "caller through the gateway",
        &[
            "-sf",
            &scenario("phone_uac_hold.xml"),
            "-s",
            "95551234",
            "-m",
            "1",
        ],
        free_port(true)?,
        Some(target.clone()),
    )?;
    sipp_done(caller, "caller through the gateway", 1, &daemon)?;
    sipp_done(carrier, "carrier", 1, &daemon)?;
    let gw = daemon.x("sofia status gateway carrier")?;
    if !gw.contains("CallsOUT\t1\n") || !gw.contains("FailedCallsOUT\t0\n") {
        return Err(format!("gateway carrier's counters:\n{gw}"));
    }
    println!(
        "interop: SIPp phone called out through gateway carrier to the SIPp carrier: 401 answered \
         with the gateway's credentials, X-Account from the route, hold re-INVITE relayed \
         (sendonly/recvonly), BYE relayed; CallsOUT 1"
    );

    // CANCEL while ringing.
    let ringing = sipp(
        &dir,
        "ringing phone",
        &["-sf", &scenario("phone_uas_ring.xml"), "-m", "1"],
        p_ring,
        None,
    )?;
    let caller = sipp(
        &dir,
        "caller who cancels",
        &[
            "-sf",
            &scenario("phone_uac_cancel.xml"),
            "-s",
            "81001",
            "-m",
            "1",
        ],
        free_port(true)?,
        Some(target.clone()),
    )?;
    sipp_done(caller, "caller who cancels", 1, &daemon)?;
    sipp_done(ringing, "ringing phone", 1, &daemon)?;
    println!("interop: a SIPp phone cancelled while the other rang: CANCEL relayed, 487 back");
    daemon.stop()
}

/// A `sofia` daemon's gateway registers at Kamailio (db_text digest with
/// qop=auth, subscriber alice): `sofia status gateway kam` says REGED, and
/// Kamailio's location table holds the gateway's Contact (`gw+kam`).
pub fn sofia_gateway_registers_at_kamailio() -> Result {
    let dir = suite_dir("sofia-daemon-gateway-kamailio")?;
    let kamailio = Kamailio::start(&dir, None)?;
    let gateways = format!(
        r#"        <gateway name="kam">
          <param name="username" value="alice"/>
          <param name="password" value="secret"/>
          <param name="realm" value="127.0.0.1"/>
          <param name="from-domain" value="127.0.0.1"/>
          <param name="proxy" value="127.0.0.1:{}"/>
          <param name="expire-seconds" value="120"/>
        </gateway>
"#,
        kamailio.port
    );
    let daemon = SofiaDaemon::start_with(&dir, "", &gateways)?;
    let status = wait_gateway(&daemon, "kam", "State   \tREGED\n", Duration::from_secs(30))
        .map_err(|e| format!("{e}\n{}", kamailio.peer.tail()))?;
    let dump = kamailio.kamcmd(&["ul.dump"])?;
    let contact = dump
        .lines()
        .find(|l| l.contains("Address: sip:gw+kam@"))
        .map(|l| l.trim().to_string())
        .ok_or_else(|| format!("Kamailio has no binding of the gateway:\n{dump}\n{status}"))?;
    println!(
        "interop: gateway kam of the sofia daemon registered at Kamailio {} as alice (digest, qop=auth): REGED; Kamailio's location: {contact}",
        kamailio.version
    );
    daemon.stop()
}

/// Runs one SIPp scenario of `xtask/sipp` once over UDP against the sofia
/// daemon (at most `limit`), logging to `dir/sipp-<name>.log`.
fn sofia_sipp(
    dir: &Path,
    daemon: &SofiaDaemon,
    name: &str,
    file: &str,
    limit: Duration,
) -> Result<Peer> {
    let scenario = crate::workspace_root().join("xtask/sipp").join(file);
    let port = free_port(true)?;
    let target = format!("127.0.0.1:{}", daemon.port);
    Peer::start(
        &format!("sipp ({name})"),
        limit,
        "sipp",
        [
            OsStr::new("-sf"),
            scenario.as_os_str(),
            OsStr::new("-t"),
            OsStr::new("u1"),
            OsStr::new("-m"),
            OsStr::new("1"),
            OsStr::new("-timeout"),
            OsStr::new(&format!("{}s", limit.as_secs().saturating_sub(5).max(5))),
            OsStr::new("-nostdin"),
            OsStr::new("-i"),
            OsStr::new("127.0.0.1"),
            OsStr::new("-p"),
            OsStr::new(&port.to_string()),
            OsStr::new(&target),
        ],
        &[],
        dir.join(format!("sipp-{name}.log")),
    )
}

/// Waits for a SIPp run of one call to end; an error unless it exited 0
/// with the call successful.
fn sofia_sipp_done(sipp: &mut Peer, what: &str, daemon: &SofiaDaemon, within: Duration) -> Result {
    let status = sipp.wait_exit(within)?;
    let (ok, _) = sipp_counts(&sipp.text());
    if !status.success() || !ok.ends_with(" 1") {
        return Err(format!(
            "sipp {what} against the sofia daemon: exit {status}, {ok:?}\n{}\n{}",
            sipp.tail(),
            daemon.peer.tail()
        ));
    }
    println!("interop: sipp {what} against the sofia daemon: {ok}");
    Ok(())
}

/// Presence at the `sofia` daemon between two SIPp phones: one SUBSCRIBEs
/// to user 1001 (`xtask/sipp/sofia_presence_watch.xml`) and checks each
/// NOTIFY's PIDF (closed and Unregistered at first, then the published open
/// state with its activity and note, then the published closed state);
/// the other PUBLISHes for 1001 (`xtask/sipp/sofia_presence_publish.xml`):
/// 200 with SIP-ETag and Expires, a modification with SIP-If-Match, 412 for
/// the replaced tag, 489 for another package, and the removal.
pub fn sipp_presence_against_sofia_daemon() -> Result {
    let dir = suite_dir("sofia-daemon-presence")?;
    let daemon = SofiaDaemon::start(&dir)?;
    let mut watcher = sofia_sipp(
        &dir,
        &daemon,
        "watcher",
        "sofia_presence_watch.xml",
        Duration::from_secs(60),
    )?;
    // The watcher's first NOTIFY goes before anything is published.
    std::thread::sleep(Duration::from_millis(1500));
    let mut publisher = sofia_sipp(
        &dir,
        &daemon,
        "publisher",
        "sofia_presence_publish.xml",
        Duration::from_secs(60),
    )?;
    sofia_sipp_done(
        &mut watcher,
        "SUBSCRIBE to 1001's presence",
        &daemon,
        Duration::from_secs(65),
    )?;
    sofia_sipp_done(
        &mut publisher,
        "PUBLISH of 1001's presence",
        &daemon,
        Duration::from_secs(65),
    )?;
    // The publication is gone: 1001 has no presence data left.
    let list = daemon.x("sofia_presence_data list internal/1001@127.0.0.1")?;
    if list != "+OK\n" {
        return Err(format!("sofia_presence_data after the removal: {list:?}"));
    }
    daemon.stop()
}

/// Polls `sofia status gateway NAME` until it contains `needle`.
fn wait_gateway(
    daemon: &SofiaDaemon,
    name: &str,
    needle: &str,
    within: Duration,
) -> Result<String> {
    let deadline = Instant::now() + within;
    loop {
        let status = daemon.x(&format!("sofia status gateway {name}"))?;
        if status.contains(needle) {
            return Ok(status);
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "gateway {name}: {needle:?} not seen within {} s:\n{status}\n{}",
                within.as_secs(),
                daemon.peer.tail()
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Gateways against SIPp when things go wrong:
/// - gateway `gwfail` registers at a SIPp registrar that refuses the first
///   REGISTER (403): the gateway shows FAIL_WAIT, retries after
///   `retry-seconds` (5), is challenged (401) and reaches REGED;
/// - gateway `gwping` (`register` false, `ping` 5) pings a SIPp OPTIONS
///   server: 200 makes it UP, 503 DOWN, 200 UP again.
pub fn sipp_gateway_fail_wait_and_ping() -> Result {
    let dir = suite_dir("sofia-daemon-gateway-failures")?;
    let (p_reg, p_ping) = (free_port(true)?, free_port(true)?);
    let registrar = sipp(
        &dir,
        "refusing registrar",
        &["-sf", &scenario("register_uas_fail_then_ok.xml"), "-m", "1"],
        p_reg,
        None,
    )?;
    let ping_ok = sipp(
        &dir,
        "ping 200",
        &["-sf", &scenario("options_uas.xml"), "-m", "1"],
        p_ping,
        None,
    )?;
    let gateways = format!(
        r#"        <gateway name="gwfail">
          <param name="username" value="gwuser"/>
          <param name="password" value="gwpass"/>
          <param name="proxy" value="127.0.0.1:{p_reg}"/>
          <param name="retry-seconds" value="5"/>
        </gateway>
        <gateway name="gwping">
          <param name="register" value="false"/>
          <param name="proxy" value="127.0.0.1:{p_ping}"/>
          <param name="ping" value="5"/>
        </gateway>
"#
    );
    let daemon = SofiaDaemon::start_with(&dir, "", &gateways)?;
    wait_gateway(
        &daemon,
        "gwfail",
        "State   \tFAIL_WAIT\n",
        Duration::from_secs(10),
    )?;
    println!("interop: gateway gwfail refused (403) by the SIPp registrar: FAIL_WAIT");
    wait_gateway(
        &daemon,
        "gwfail",
        "State   \tREGED\n",
        Duration::from_secs(30),
    )?;
    sipp_done(registrar, "refusing registrar", 1, &daemon)?;
    println!("interop: gateway gwfail retried after retry-seconds, answered the 401: REGED");

    wait_gateway(&daemon, "gwping", "Status  \tUP", Duration::from_secs(15))?;
    sipp_done(ping_ok, "ping 200", 1, &daemon)?;
    let ping_503 = sipp(
        &dir,
        "ping 503",
        &["-sf", &scenario("options_uas_503.xml"), "-m", "1"],
        p_ping,
        None,
    )?;
    wait_gateway(&daemon, "gwping", "Status  \tDOWN", Duration::from_secs(15))?;
    sipp_done(ping_503, "ping 503", 1, &daemon)?;
    let ping_again = sipp(
        &dir,
        "ping 200 again",
        &["-sf", &scenario("options_uas.xml"), "-m", "1"],
        p_ping,
        None,
    )?;
    wait_gateway(&daemon, "gwping", "Status  \tUP", Duration::from_secs(15))?;
    sipp_done(ping_again, "ping 200 again", 1, &daemon)?;
    println!("interop: gateway gwping pinging SIPp: 200 UP, 503 DOWN, 200 UP again");
    daemon.stop()
}
