//! The harness shared by the tests that run the `sofia` binary: a
//! temporary configuration tree, the daemon (with or without its console on
//! pipes), `sofia -x` against it, and the running profiles' ports. Each
//! test binary declares `mod common;` and uses the part it needs.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Writes conf/directory/default.xml: domain 127.0.0.1 with group
/// `default` of `users` (id, password).
pub fn write_users(dir: &TempDir, users: &[(&str, &str)]) {
    let users: String = users
        .iter()
        .map(|(id, pw)| {
            format!(
                "      <user id=\"{id}\"><params><param name=\"password\" value=\"{pw}\"/></params></user>\n"
            )
        })
        .collect();
    std::fs::write(
        dir.0.join("conf/directory/default.xml"),
        format!(
            r#"<include>
  <domain name="127.0.0.1">
    <groups><group name="default"><users>
{users}    </users></group></groups>
  </domain>
</include>
"#
        ),
    )
    .unwrap();
}

/// The `sofia` binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_sofia");

/// How long [`start`] waits for a running profile.
pub const START_WAIT: Duration = Duration::from_secs(30);

/// A fresh directory under the system's temp dir with `conf/autoload_configs`
/// and `conf/directory` in it; removed on drop. The daemon's data directory
/// is its `data`.
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// `sofia-<test binary>-<tag>-<pid>-<nanos>`.
    pub fn new(tag: &str) -> TempDir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let dir = std::env::temp_dir().join(format!(
            "sofia-{}-{tag}-{}-{nanos}",
            env!("CARGO_CRATE_NAME"),
            std::process::id()
        ));
        std::fs::create_dir_all(dir.join("conf/autoload_configs")).unwrap();
        std::fs::create_dir_all(dir.join("conf/directory")).unwrap();
        TempDir(dir)
    }

    /// The data directory the daemons of [`start`] and [`x`] use.
    pub fn data(&self) -> PathBuf {
        self.0.join("data")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A running daemon, killed when dropped. Its standard error is collected
/// (and printed if the test is failing); with a console, its standard
/// input and output are pipes.
pub struct Daemon {
    pub child: Child,
    stdin: Option<ChildStdin>,
    stdout: Option<Receiver<String>>,
    stderr: Arc<Mutex<String>>,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("daemon's standard error:\n{}", self.stderr());
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Daemon {
    /// Standard error so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Writes one console line.
    pub fn say(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("a console");
        writeln!(stdin, "{line}").unwrap();
        stdin.flush().unwrap();
    }

    /// The next console line, or why there is none within `within`.
    fn next_line(&self, within: Duration) -> Result<String, String> {
        let rx = self.stdout.as_ref().expect("a console");
        rx.recv_timeout(within)
            .map_err(|_| format!("stderr:\n{}", self.stderr()))
    }

    /// Reads console output up to a line equal to `line`; returns the lines
    /// read.
    pub fn read_until(&mut self, line: &str, within: Duration) -> Vec<String> {
        let deadline = Instant::now() + within;
        let mut seen = Vec::new();
        loop {
            match self.next_line(deadline.saturating_duration_since(Instant::now())) {
                Ok(l) if l == line => {
                    seen.push(l);
                    return seen;
                }
                Ok(l) => seen.push(l),
                Err(e) => panic!(
                    "no console line {line:?} within {within:?}; read:\n{}\n{e}",
                    seen.join("\n")
                ),
            }
        }
    }

    /// Reads console output up to a line equal to `line`, then the lines up
    /// to the next empty one (an event's headers); returns those.
    pub fn event(&mut self, line: &str, within: Duration) -> String {
        let deadline = Instant::now() + within;
        let mut found = false;
        let mut text = String::new();
        loop {
            match self.next_line(deadline.saturating_duration_since(Instant::now())) {
                Ok(l) if l == line => found = true,
                Ok(l) if found && l.is_empty() => return text,
                Ok(l) if found => {
                    text.push_str(&l);
                    text.push('\n');
                }
                Ok(_) => {}
                Err(e) => panic!("no console line {line:?} within {within:?}; {e}"),
            }
        }
    }

    /// Waits for the daemon to exit; returns its status.
    pub fn wait_exit(&mut self, within: Duration) -> ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the daemon did not exit within {within:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Starts `sofia -c CONF --data-dir DIR/data` and waits until `sofia
/// status` shows a running profile. With `console`, standard input and
/// output are pipes for the console ([`Daemon::say`],
/// [`Daemon::read_until`], [`Daemon::event`]); without, `--no-console`.
pub fn start(dir: &TempDir, conf: &Path, console: bool) -> Daemon {
    let mut cmd = Command::new(BIN);
    cmd.arg("-c")
        .arg(conf)
        .arg("--data-dir")
        .arg(dir.data())
        .stderr(Stdio::piped());
    if console {
        cmd.stdin(Stdio::piped()).stdout(Stdio::piped());
    } else {
        cmd.arg("--no-console")
            .stdin(Stdio::null())
            .stdout(Stdio::null());
    }
    let mut child = cmd.spawn().expect("start sofia");
    // Keep draining standard error so the daemon never blocks on it.
    let stderr = Arc::new(Mutex::new(String::new()));
    let err = child.stderr.take().unwrap();
    let sink = Arc::clone(&stderr);
    std::thread::spawn(move || {
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            let mut s = sink.lock().unwrap();
            s.push_str(&line);
            s.push('\n');
        }
    });
    let stdout = child.stdout.take().map(|out| {
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        rx
    });
    let stdin = child.stdin.take();
    let mut daemon = Daemon {
        child,
        stdin,
        stdout,
        stderr,
    };
    let deadline = Instant::now() + START_WAIT;
    while Instant::now() < deadline {
        if let Ok(Some(status)) = daemon.child.try_wait() {
            panic!("the daemon exited with {status}:\n{}", daemon.stderr());
        }
        if profile_rows(dir).is_some_and(|rows| !rows.is_empty()) {
            return daemon;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("the daemon did not start its profile:\n{}", daemon.stderr());
}

/// Runs `sofia --data-dir DATA -x LINE`.
pub fn x_in(data: &Path, line: &str) -> Output {
    Command::new(BIN)
        .arg("--data-dir")
        .arg(data)
        .arg("-x")
        .arg(line)
        .output()
        .expect("run sofia -x")
}

/// Runs `sofia -x LINE` against the daemon of [`start`].
pub fn x(dir: &TempDir, line: &str) -> Output {
    x_in(&dir.data(), line)
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The reply to `sofia -x LINE`.
pub fn out(dir: &TempDir, line: &str) -> String {
    stdout(&x(dir, line))
}

/// Waits until the reply to `line` satisfies `ok`; returns it.
pub fn wait_for(dir: &TempDir, line: &str, within: Duration, ok: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + within;
    loop {
        let r = out(dir, line);
        if ok(&r) {
            return r;
        }
        assert!(Instant::now() < deadline, "{line} after {within:?}:\n{r}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The `sofia status` rows of running profiles (`NAME\tprofile\tURL\tRUNNING
/// (N)`); `None` while the daemon does not answer.
fn profile_rows(dir: &TempDir) -> Option<Vec<String>> {
    let o = x(dir, "sofia status");
    if !o.status.success() {
        return None;
    }
    Some(
        stdout(&o)
            .lines()
            .filter(|row| {
                let cols: Vec<&str> = row.split('\t').collect();
                cols.len() == 4 && cols[1] == "profile" && cols[3].starts_with("RUNNING")
            })
            .map(str::to_string)
            .collect(),
    )
}

/// The port in a row's `sip:mod_sofia@127.0.0.1:PORT`.
fn row_port(row: &str) -> Option<u16> {
    let at = row.find("sip:mod_sofia@127.0.0.1:")? + 24;
    row[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .ok()
}

/// The first running profile's port, from `sofia status`'s
/// `sip:mod_sofia@127.0.0.1:PORT`; `None` while none runs.
pub fn profile_port(dir: &TempDir) -> Option<u16> {
    profile_rows(dir)?.iter().find_map(|row| row_port(row))
}

/// The port of the running profile `name`, from its `sofia status` row.
pub fn named_profile_port(dir: &TempDir, name: &str) -> Option<u16> {
    profile_rows(dir)?
        .iter()
        .filter(|row| row.split('\t').next().map(str::trim) == Some(name))
        .find_map(|row| row_port(row))
}

/// A port free for both UDP and TCP on 127.0.0.1 now (bound and released).
pub fn free_port() -> u16 {
    for _ in 0..50 {
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = udp.local_addr().unwrap().port();
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no port free for UDP and TCP");
}
