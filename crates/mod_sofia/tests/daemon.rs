//! The `sofia` binary end to end: the daemon, its control socket, the `-x`
//! client, the console on standard input, signals and the watchdog.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{BIN, TempDir, stdout, x_in};

const WAIT: Duration = Duration::from_secs(20);

/// These tests use the temporary directory itself (not its `data`) as the
/// data directory; the control socket is in it.
impl TempDir {
    fn socket(&self) -> PathBuf {
        self.0.join("sofia.sock")
    }
}

/// The daemon process, killed on drop if still running. Unlike
/// [`common::Daemon`], it runs no profile and its pipes are the test's.
struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Daemon {
    /// Starts the daemon on a configuration without profiles (these tests
    /// are about the control plane; `tests/profiles.rs` runs profiles).
    fn start(dir: &Path, extra: &[&str], stdin: Stdio) -> Daemon {
        let conf = dir.join("no-profiles.xml");
        std::fs::write(
            &conf,
            "<configuration name=\"sofia.conf\"><global_settings/><profiles/></configuration>\n",
        )
        .expect("write the configuration");
        let child = Command::new(BIN)
            .arg("--data-dir")
            .arg(dir)
            .arg("-c")
            .arg(&conf)
            .args(extra)
            .stdin(stdin)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start sofia");
        Daemon(child)
    }

    fn wait_exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(status) = self.0.try_wait().expect("try_wait") {
                return status;
            }
            assert!(Instant::now() < deadline, "the daemon did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn signal(&self, sig: &str) {
        let status = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.0.id().to_string())
            .status()
            .expect("run kill");
        assert!(status.success());
    }
}

fn wait_for_socket(dir: &TempDir) {
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        if std::os::unix::net::UnixStream::connect(dir.socket()).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("the daemon did not open {}", dir.socket().display());
}

fn client(dir: &TempDir, line: &str) -> Output {
    x_in(&dir.0, line)
}

const SEPARATOR: &str = "=================================================================================================";

fn empty_status() -> String {
    format!(
        "{}Name\t   Type\t  {}Data\tState\n{SEPARATOR}\n{SEPARATOR}\n0 profiles 0 aliases\n",
        " ".repeat(21),
        " ".repeat(36)
    )
}

#[test]
fn x_against_running_daemon_then_sigterm() {
    let dir = TempDir::new("x");
    let mut daemon = Daemon::start(&dir.0, &["--no-console"], Stdio::null());
    wait_for_socket(&dir);

    let mode = std::fs::metadata(dir.socket())
        .expect("socket")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);

    let out = client(&dir, "sofia status");
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(stdout(&out), empty_status());

    let out = client(&dir, "sofia frob");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stdout(&out), "Unknown Command [frob]\n");

    let out = client(&dir, "frob the knob");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stdout(&out), "-ERR frob Command not found!\n");

    let out = client(&dir, "sofia status profile internal");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stdout(&out), "Invalid Profile!\n");

    let out = client(&dir, "sofia global siptrace on");
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(stdout(&out), "+OK Global siptrace on\n");

    let out = client(&dir, "sofia_dig 127.0.0.1");
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).ends_with(&format!(
        "{}1\t     1.000\t       udp\t      5060\t 127.0.0.1\n{}2\t     1.000\t       tcp\t      5060\t 127.0.0.1\n",
        " ".repeat(9),
        " ".repeat(9)
    )));

    // A second daemon on the same data dir refuses to start.
    let second = Command::new(BIN)
        .arg("--data-dir")
        .arg(&dir.0)
        .arg("--no-console")
        .stdin(Stdio::null())
        .output()
        .expect("run a second daemon");
    assert_eq!(second.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&second.stderr).contains("another sofia daemon is running"));
    assert!(dir.socket().exists());

    daemon.signal("TERM");
    let status = daemon.wait_exit();
    assert!(status.success(), "{status:?}");
    assert!(!dir.socket().exists(), "the socket is removed at exit");
}

#[test]
fn x_without_daemon_exits_2() {
    let dir = TempDir::new("nodaemon");
    let out = client(&dir, "sofia status");
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no sofia daemon answers on"), "{err}");
    assert!(err.contains("sofia.sock"), "{err}");
}

#[test]
fn stale_socket_is_replaced_and_sigint_stops() {
    let dir = TempDir::new("stale");
    // A socket file nobody listens on, as a killed daemon leaves behind.
    drop(std::os::unix::net::UnixListener::bind(dir.socket()).expect("bind"));
    assert!(dir.socket().exists());
    let mut daemon = Daemon::start(&dir.0, &["--no-console"], Stdio::null());
    wait_for_socket(&dir);
    assert_eq!(client(&dir, "sofia status").status.code(), Some(0));
    daemon.signal("INT");
    assert!(daemon.wait_exit().success());
    assert!(!dir.socket().exists());
}

#[test]
fn console_on_stdin_then_eof_keeps_running() {
    let dir = TempDir::new("console");
    let mut daemon = Daemon::start(&dir.0, &[], Stdio::piped());
    wait_for_socket(&dir);
    let mut stdin = daemon.0.stdin.take().expect("stdin");
    let out = daemon.0.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let next_line = || rx.recv_timeout(WAIT).expect("a line from the console");

    writeln!(stdin, "sofia status").expect("write");
    let mut lines = Vec::new();
    loop {
        let line = next_line();
        let done = line == "0 profiles 0 aliases";
        lines.push(line);
        if done {
            break;
        }
    }
    assert_eq!(lines.join("\n") + "\n", empty_status());

    writeln!(stdin, "sofia_contact 1000@example.com").expect("write");
    assert_eq!(next_line(), "error/user_not_registered");
    writeln!(stdin, "events on").expect("write");
    assert_eq!(next_line(), "+OK events on");
    writeln!(stdin, "events off").expect("write");
    assert_eq!(next_line(), "+OK events off");
    writeln!(stdin, "sofia loglevel nta 9").expect("write");
    assert_eq!(
        next_line(),
        "Sofia log level for component [nta] has been set to [9]"
    );
    writeln!(stdin, "sofia loglevel nta").expect("write");
    assert_eq!(next_line(), "Sofia-sip loglevel for [nta] is [9]");

    // End of input: the daemon goes on serving the socket.
    drop(stdin);
    std::thread::sleep(Duration::from_millis(200));
    assert!(daemon.0.try_wait().expect("try_wait").is_none());
    let out = client(&dir, "sofia status");
    assert_eq!(out.status.code(), Some(0));

    daemon.signal("TERM");
    assert!(daemon.wait_exit().success());
    assert!(!dir.socket().exists());
}

#[test]
fn console_shutdown_command() {
    let dir = TempDir::new("shutdown");
    let mut daemon = Daemon::start(&dir.0, &[], Stdio::piped());
    wait_for_socket(&dir);
    let mut stdin = daemon.0.stdin.take().expect("stdin");
    writeln!(stdin, "shutdown").expect("write");
    assert!(daemon.wait_exit().success());
    assert!(!dir.socket().exists());
}

#[test]
fn stalled_watchdog_exits_non_zero() {
    let dir = TempDir::new("watchdog");
    // The daemon ticks its step heartbeat twice a second: a 1 ms step
    // timeout is a stall.
    let mut daemon = Daemon::start(
        &dir.0,
        &["--no-console", "--watchdog", "--watchdog-step-timeout", "1"],
        Stdio::null(),
    );
    let status = daemon.wait_exit();
    assert_eq!(status.code(), Some(3));
    let mut err = String::new();
    if let Some(mut e) = daemon.0.stderr.take() {
        use std::io::Read;
        let _ = e.read_to_string(&mut err);
    }
    assert!(err.contains("watchdog: no engine step for"), "{err}");
    assert!(!dir.socket().exists());
}

#[test]
fn watchdog_off_by_command_survives() {
    let dir = TempDir::new("watchdog-off");
    let mut daemon = Daemon::start(
        &dir.0,
        &["--no-console", "--watchdog-step-timeout", "1"],
        Stdio::null(),
    );
    wait_for_socket(&dir);
    // Off by default: no exit.
    std::thread::sleep(Duration::from_millis(1200));
    assert!(daemon.0.try_wait().expect("try_wait").is_none());
    let out = client(&dir, "sofia global watchdog on");
    assert_eq!(stdout(&out), "+OK Global watchdog on\n");
    assert_eq!(daemon.wait_exit().code(), Some(3));
}

#[test]
fn bad_config_file_is_refused() {
    let dir = TempDir::new("badconf");
    let conf = dir.0.join("sofia.conf.xml");
    std::fs::write(&conf, "<configuration name=\"sofia.conf\"><profiles>").expect("write");
    let out = Command::new(BIN)
        .arg("-c")
        .arg(&conf)
        .arg("--data-dir")
        .arg(dir.0.join("data"))
        .stdin(Stdio::null())
        .output()
        .expect("run sofia");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot load configuration"));
}

#[test]
fn socket_limits_line_length_and_connections() {
    use std::io::Read;
    use std::os::unix::net::UnixStream;

    let dir = TempDir::new("limits");
    let mut daemon = Daemon::start(&dir.0, &["--no-console"], Stdio::null());
    wait_for_socket(&dir);

    let mut long = UnixStream::connect(dir.socket()).expect("connect");
    let mut line = vec![b'a'; 5000];
    line.push(b'\n');
    long.write_all(&line).expect("write");
    let mut answer = String::new();
    long.read_to_string(&mut answer).expect("read");
    assert_eq!(answer, "-ERR\n-ERR line too long\n");

    // Sixteen clients that say nothing hold every slot; the next is refused.
    let idle: Vec<UnixStream> = (0..16)
        .map(|_| UnixStream::connect(dir.socket()).expect("connect"))
        .collect();
    let mut extra = UnixStream::connect(dir.socket()).expect("connect");
    extra.set_read_timeout(Some(WAIT)).expect("timeout");
    let mut answer = String::new();
    extra.read_to_string(&mut answer).expect("read");
    assert_eq!(answer, "-ERR\n-ERR too many connections\n");
    drop(idle);

    // Slots free again once the idle clients go.
    let deadline = Instant::now() + WAIT;
    loop {
        let out = client(&dir, "sofia status");
        if out.status.code() == Some(0) {
            break;
        }
        assert!(Instant::now() < deadline, "no slot came free");
        std::thread::sleep(Duration::from_millis(50));
    }
    daemon.signal("TERM");
    assert!(daemon.wait_exit().success());
}
