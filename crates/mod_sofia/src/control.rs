//! The daemon's control surfaces: the console on standard input, the Unix
//! control socket, and the client that `sofia -x "<api line>"` uses.
//!
//! [`run_daemon`] (or [`Daemon::run`]) serves API lines against a
//! [`SofiaState`] until SIGINT or SIGTERM (or [`ShutdownHandle::shutdown`]):
//!
//! * **Console.** Lines read from standard input are API lines
//!   (`sofia status`, `sofia_contact 1000@example.com`, ...); each reply is
//!   printed on standard output. `events on` / `events off` start and stop
//!   printing the [event bus](crate::events) in FreeSWITCH's plain format;
//!   `shutdown` stops the daemon. At the end of standard input (or when it
//!   is not readable, as under a supervisor with `/dev/null`), the console
//!   stops reading and the daemon keeps running.
//! * **Socket.** `<data-dir>/sofia.sock`, mode 0600, created at start (a
//!   stale one left by a daemon that died is replaced; one a live daemon
//!   answers on is an error), removed at exit. A client connects, sends one
//!   line (at most [`MAX_LINE`] bytes, within [`IO_TIMEOUT`]), and gets the
//!   reply: a status line `+OK` or `-ERR`, then the reply text; then the
//!   daemon closes the connection. At most [`DaemonOptions::max_connections`]
//!   are served at once; one more gets `-ERR too many connections`.
//! * **Client.** [`request`] sends one line and returns the [`Reply`].
//!
//! The [watchdog](crate::watchdog) runs on its own thread: when it sees a
//! stall, it removes the socket and ends the process with
//! [`EXIT_WATCHDOG`].

use std::io::{BufRead, Read, Write};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{Semaphore, mpsc, watch};

use crate::commands::{self, ApiCommand, Reply, SofiaState};
use crate::events::EventBus;
use crate::watchdog::Watchdog;
use sofia_nta::resolve::Resolver;

/// The control socket's file name in the data directory.
pub const SOCKET_NAME: &str = "sofia.sock";
/// The longest request line accepted on the socket, in bytes.
pub const MAX_LINE: usize = 4096;
/// How long a socket client has to send its line, and to read the reply.
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);
/// The exit status of a process the watchdog ends.
pub const EXIT_WATCHDOG: i32 = 3;

/// An error of the control surfaces.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// The data directory could not be created.
    #[error("cannot create data directory {path}: {source}")]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A daemon already answers on the socket.
    #[error("another sofia daemon is running (it answers on {0})")]
    AlreadyRunning(PathBuf),
    /// The socket could not be created.
    #[error("cannot listen on {path}: {source}")]
    Listen {
        /// The socket path.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The signal handlers could not be installed.
    #[error("cannot install signal handlers: {0}")]
    Signals(std::io::Error),
}

/// An error of [`request`].
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Nothing answers on the socket (no daemon, or not this data dir).
    #[error("no sofia daemon answers on {path}: {source}")]
    NoDaemon {
        /// The socket path.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The daemon did not answer properly.
    #[error("bad answer from the daemon on {path}: {reason}")]
    BadAnswer {
        /// The socket path.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
}

/// How the daemon runs.
#[derive(Debug, Clone)]
pub struct DaemonOptions {
    /// The directory of the control socket (and of the database). Created
    /// with mode 0700 when missing.
    pub data_dir: PathBuf,
    /// Whether to read API lines from standard input.
    pub console: bool,
    /// How many socket clients are served at once.
    pub max_connections: usize,
    /// The watchdog (its configuration says whether it is on).
    pub watchdog: Watchdog,
    /// How often the watchdog checks, and how often the daemon's own loop
    /// ticks the step heartbeat.
    pub watchdog_interval: Duration,
}

impl DaemonOptions {
    /// Options with a console, 16 connections and a watchdog that is off.
    pub fn new(data_dir: impl Into<PathBuf>) -> DaemonOptions {
        DaemonOptions {
            data_dir: data_dir.into(),
            console: true,
            max_connections: 16,
            watchdog: Watchdog::new(Default::default(), Instant::now()),
            watchdog_interval: Duration::from_millis(500),
        }
    }

    /// `<data_dir>/sofia.sock`.
    pub fn socket_path(&self) -> PathBuf {
        self.data_dir.join(SOCKET_NAME)
    }
}

/// Asks a running daemon to stop.
#[derive(Debug, Clone)]
pub struct ShutdownHandle {
    tx: Arc<watch::Sender<bool>>,
}

impl ShutdownHandle {
    /// Stops the daemon (its [`Daemon::run`] returns).
    pub fn shutdown(&self) {
        self.tx.send_replace(true);
    }
}

/// A daemon serving API lines against a state. Build it, take what the
/// engine needs ([`Daemon::events`], [`Daemon::shutdown_handle`], the
/// watchdog's heartbeat from the options), then [`Daemon::run`] it.
pub struct Daemon<S> {
    state: Arc<Mutex<S>>,
    options: DaemonOptions,
    events: EventBus,
    shutdown_tx: Arc<watch::Sender<bool>>,
}

impl<S: SofiaState + Send + 'static> Daemon<S> {
    /// A daemon over `state`.
    pub fn new(state: S, options: DaemonOptions) -> Daemon<S> {
        Daemon::with_events(state, options, EventBus::default())
    }

    /// A daemon over `state` whose console prints `events` (the bus the
    /// state publishes on).
    pub fn with_events(state: S, options: DaemonOptions, events: EventBus) -> Daemon<S> {
        let (tx, _) = watch::channel(false);
        Daemon {
            state: Arc::new(Mutex::new(state)),
            options,
            events,
            shutdown_tx: Arc::new(tx),
        }
    }

    /// The event bus the console prints from; the engine publishes on it.
    pub fn events(&self) -> EventBus {
        self.events.clone()
    }

    /// The state, shared with the command handlers.
    pub fn state(&self) -> Arc<Mutex<S>> {
        Arc::clone(&self.state)
    }

    /// A handle that stops the daemon.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle {
            tx: Arc::clone(&self.shutdown_tx),
        }
    }

    /// Serves until SIGINT, SIGTERM or [`ShutdownHandle::shutdown`], then
    /// removes the socket.
    pub async fn run(self) -> Result<(), ControlError> {
        let socket_path = self.options.socket_path();
        prepare_data_dir(&self.options.data_dir)?;
        let listener = bind_socket(&socket_path).await?;
        let _guard = SocketGuard(socket_path.clone());

        let resolver = Resolver::system().ok().map(Arc::new);
        let server = Server {
            state: Arc::clone(&self.state),
            resolver,
        };
        let mut shutdown_rx = self.shutdown_tx.subscribe();

        // Everything started here stops when `run` returns.
        let mut running = Running::default();
        spawn_watchdog(
            &self.options,
            socket_path.clone(),
            Arc::clone(&running.stop),
        );
        let heartbeat = self.options.watchdog.heartbeat();
        let interval = self.options.watchdog_interval;
        running.tasks.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            loop {
                tick.tick().await;
                heartbeat.step();
            }
        }));

        if self.options.console
            && let Some(task) =
                spawn_console(server.clone(), self.events.clone(), self.shutdown_handle())
        {
            running.tasks.push(task);
        }

        let limit = Arc::new(Semaphore::new(self.options.max_connections.max(1)));
        let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .map_err(ControlError::Signals)?;
        let mut sigint = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
            .map_err(ControlError::Signals)?;
        loop {
            tokio::select! {
                _ = sigterm.recv() => break,
                _ = sigint.recv() => break,
                changed = shutdown_rx.changed() => {
                    if changed.is_err() || *shutdown_rx.borrow() {
                        break;
                    }
                }
                accepted = listener.accept() => {
                    let Ok((stream, _)) = accepted else { continue };
                    match Arc::clone(&limit).try_acquire_owned() {
                        Ok(permit) => {
                            let server = server.clone();
                            tokio::spawn(async move {
                                server.serve(stream).await;
                                drop(permit);
                            });
                        }
                        Err(_) => {
                            tokio::spawn(refuse(stream));
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

/// Runs a daemon over `state` with `options` (see [`Daemon`]).
pub async fn run_daemon<S: SofiaState + Send + 'static>(
    state: S,
    options: DaemonOptions,
) -> Result<(), ControlError> {
    Daemon::new(state, options).run().await
}

/// The helpers of a running daemon: stopped when dropped.
#[derive(Default)]
struct Running {
    stop: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Removes the socket file when dropped.
struct SocketGuard(PathBuf);

impl Drop for SocketGuard {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn prepare_data_dir(dir: &Path) -> Result<(), ControlError> {
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|source| ControlError::DataDir {
            path: dir.to_path_buf(),
            source,
        })
}

async fn bind_socket(path: &Path) -> Result<UnixListener, ControlError> {
    if path.exists() {
        if UnixStream::connect(path).await.is_ok() {
            return Err(ControlError::AlreadyRunning(path.to_path_buf()));
        }
        let _ = std::fs::remove_file(path);
    }
    let listen_err = |source| ControlError::Listen {
        path: path.to_path_buf(),
        source,
    };
    let listener = UnixListener::bind(path).map_err(listen_err)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(listen_err)?;
    Ok(listener)
}

fn spawn_watchdog(options: &DaemonOptions, socket_path: PathBuf, stop: Arc<AtomicBool>) {
    let dog = options.watchdog.clone();
    let interval = options.watchdog_interval;
    let spawned = std::thread::Builder::new()
        .name("sofia-watchdog".into())
        .spawn(move || {
            loop {
                std::thread::sleep(interval);
                if stop.load(Ordering::Relaxed) {
                    return;
                }
                if let Some(stall) = dog.check(Instant::now()) {
                    let _ = writeln!(
                        std::io::stderr(),
                        "sofia: watchdog: {stall}; exiting with status {EXIT_WATCHDOG}"
                    );
                    let _ = std::fs::remove_file(&socket_path);
                    std::process::exit(EXIT_WATCHDOG);
                }
            }
        });
    if let Err(e) = spawned {
        let _ = writeln!(std::io::stderr(), "sofia: cannot start the watchdog: {e}");
    }
}

async fn refuse(mut stream: UnixStream) {
    let _ = tokio::time::timeout(
        IO_TIMEOUT,
        stream.write_all(b"-ERR\n-ERR too many connections\n"),
    )
    .await;
}

/// What the console and the socket share: the state and the resolver.
struct Server<S> {
    state: Arc<Mutex<S>>,
    resolver: Option<Arc<Resolver>>,
}

impl<S> Clone for Server<S> {
    fn clone(&self) -> Self {
        Server {
            state: Arc::clone(&self.state),
            resolver: self.resolver.clone(),
        }
    }
}

impl<S: SofiaState + Send + 'static> Server<S> {
    /// Runs one API line. The state is locked only for commands that need
    /// it; `sofia_dig` resolves without holding it.
    async fn execute(&self, line: &str) -> Reply {
        let command = ApiCommand::parse(line);
        if let ApiCommand::Dig(args) = &command
            && let Some(resolver) = &self.resolver
        {
            return commands::dig(args, resolver).await;
        }
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        commands::run(&command, &mut *state)
    }

    async fn serve(&self, mut stream: UnixStream) {
        let line = match tokio::time::timeout(IO_TIMEOUT, read_line(&mut stream)).await {
            Ok(Ok(line)) => line,
            Ok(Err(reason)) => {
                let _ = stream
                    .write_all(format!("-ERR\n-ERR {reason}\n").as_bytes())
                    .await;
                let _ = stream.shutdown().await;
                // Read what the client still sends (a bounded amount, for a
                // bounded time) so that closing does not reset the
                // connection before the client has read the reply.
                let _ = tokio::time::timeout(Duration::from_secs(1), async {
                    let mut sink = [0u8; 4096];
                    let mut left = 64 * 1024usize;
                    while left > 0 {
                        match stream.read(&mut sink).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => left = left.saturating_sub(n),
                        }
                    }
                })
                .await;
                return;
            }
            Err(_) => return,
        };
        let reply = self.execute(&line).await;
        let mut out = Vec::with_capacity(reply.text.len() + 6);
        out.extend_from_slice(if reply.ok { b"+OK\n" } else { b"-ERR\n" });
        out.extend_from_slice(reply.text.as_bytes());
        let _ = tokio::time::timeout(IO_TIMEOUT, async {
            let _ = stream.write_all(&out).await;
            let _ = stream.shutdown().await;
        })
        .await;
    }
}

/// Reads up to a newline or the end of the stream, at most [`MAX_LINE`]
/// bytes, as UTF-8.
async fn read_line(stream: &mut UnixStream) -> Result<String, &'static str> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 512];
    loop {
        let n = stream.read(&mut chunk).await.map_err(|_| "read error")?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(pos) = buf.iter().position(|b| *b == b'\n') {
            buf.truncate(pos);
            break;
        }
        if buf.len() > MAX_LINE {
            return Err("line too long");
        }
    }
    if buf.len() > MAX_LINE {
        return Err("line too long");
    }
    String::from_utf8(buf).map_err(|_| "line is not UTF-8")
}

/// Where the console prints: standard output, or any writer.
type ConsoleOut = Arc<Mutex<dyn Write + Send>>;

fn print_out(out: &ConsoleOut, text: &str) {
    let mut out = out.lock().unwrap_or_else(|e| e.into_inner());
    let _ = out.write_all(text.as_bytes());
    if !text.ends_with('\n') {
        let _ = out.write_all(b"\n");
    }
    let _ = out.flush();
}

/// Reads console lines from `input` until its end (or an error) and sends
/// them, trimmed; a line longer than [`MAX_LINE`] is skipped without being
/// kept in memory and sent as `None`.
fn read_console_lines(mut input: impl BufRead, tx: mpsc::Sender<Option<String>>) {
    let mut line: Vec<u8> = Vec::new();
    let mut too_long = false;
    loop {
        let chunk = match input.fill_buf() {
            Ok([]) | Err(_) => break,
            Ok(chunk) => chunk,
        };
        let (part, end) = match chunk.iter().position(|b| *b == b'\n') {
            Some(pos) => (&chunk[..pos], Some(pos + 1)),
            None => (chunk, None),
        };
        if !too_long {
            if line.len() + part.len() > MAX_LINE {
                too_long = true;
                line.clear();
            } else {
                line.extend_from_slice(part);
            }
        }
        let used = end.unwrap_or(chunk.len());
        input.consume(used);
        if end.is_some() {
            let item = if too_long {
                None
            } else {
                Some(String::from_utf8_lossy(&line).trim().to_string())
            };
            if tx.blocking_send(item).is_err() {
                return;
            }
            line.clear();
            too_long = false;
        }
    }
    if !line.is_empty() && !too_long {
        let _ = tx.blocking_send(Some(String::from_utf8_lossy(&line).trim().to_string()));
    }
}

fn spawn_console<S: SofiaState + Send + 'static>(
    server: Server<S>,
    events: EventBus,
    shutdown: ShutdownHandle,
) -> Option<tokio::task::JoinHandle<()>> {
    let (tx, rx) = mpsc::channel::<Option<String>>(16);
    let reader = std::thread::Builder::new()
        .name("sofia-console".into())
        .spawn(move || read_console_lines(std::io::stdin().lock(), tx));
    if let Err(e) = reader {
        let _ = writeln!(std::io::stderr(), "sofia: cannot start the console: {e}");
        return None;
    }
    let out: ConsoleOut = Arc::new(Mutex::new(std::io::stdout()));
    Some(tokio::spawn(console_task(
        server, events, shutdown, rx, out,
    )))
}

/// Runs the console's lines: API lines, `events on|off`, `shutdown`.
async fn console_task<S: SofiaState + Send + 'static>(
    server: Server<S>,
    events: EventBus,
    shutdown: ShutdownHandle,
    mut rx: mpsc::Receiver<Option<String>>,
    out: ConsoleOut,
) {
    let mut printer: Option<tokio::task::JoinHandle<()>> = None;
    while let Some(line) = rx.recv().await {
        let Some(line) = line else {
            print_out(&out, "-ERR line too long\n");
            continue;
        };
        if line.is_empty() {
            continue;
        }
        match line.as_str() {
            "events on" => {
                if printer.is_none() {
                    let mut sub = events.subscribe();
                    let out = Arc::clone(&out);
                    printer = Some(tokio::spawn(async move {
                        let mut reported = 0;
                        while let Some(event) = sub.recv().await {
                            if sub.lost() > reported {
                                print_out(
                                    &out,
                                    &format!("-ERR {} events lost\n", sub.lost() - reported),
                                );
                                reported = sub.lost();
                            }
                            print_out(&out, &event.to_plain());
                        }
                    }));
                }
                print_out(&out, "+OK events on\n");
            }
            "events off" => {
                if let Some(task) = printer.take() {
                    task.abort();
                }
                print_out(&out, "+OK events off\n");
            }
            "shutdown" => {
                print_out(&out, "+OK shutting down\n");
                shutdown.shutdown();
                break;
            }
            _ => {
                let reply = server.execute(&line).await;
                print_out(&out, &reply.text);
            }
        }
    }
    if let Some(task) = printer.take() {
        task.abort();
    }
}

/// Sends one API line to the daemon listening on `socket` and returns its
/// reply. Blocking; needs no async runtime.
pub fn request(socket: &Path, line: &str) -> Result<Reply, ClientError> {
    let no_daemon = |source| ClientError::NoDaemon {
        path: socket.to_path_buf(),
        source,
    };
    let bad = |reason: String| ClientError::BadAnswer {
        path: socket.to_path_buf(),
        reason,
    };
    let mut stream = std::os::unix::net::UnixStream::connect(socket).map_err(no_daemon)?;
    stream
        .set_read_timeout(Some(IO_TIMEOUT * 3))
        .map_err(|e| bad(e.to_string()))?;
    stream
        .set_write_timeout(Some(IO_TIMEOUT))
        .map_err(|e| bad(e.to_string()))?;
    let mut line = line.replace(['\r', '\n'], " ");
    line.push('\n');
    stream
        .write_all(line.as_bytes())
        .map_err(|e| bad(e.to_string()))?;
    let mut answer = Vec::new();
    stream
        .read_to_end(&mut answer)
        .map_err(|e| bad(e.to_string()))?;
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let (status, text) = answer
        .split_once('\n')
        .ok_or_else(|| bad("no status line".into()))?;
    let ok = match status {
        "+OK" => true,
        "-ERR" => false,
        other => return Err(bad(format!("unknown status {other:?}"))),
    };
    Ok(Reply {
        text: text.to_string(),
        ok,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::NoProfiles;
    use crate::events::Event;

    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Vec<u8>>>);

    impl Write for Capture {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Capture {
        fn text(&self) -> String {
            String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
        }

        async fn wait_for(&self, needle: &str) -> String {
            for _ in 0..500 {
                let text = self.text();
                if text.contains(needle) {
                    return text;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            panic!("{needle:?} never printed; got {:?}", self.text());
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn embedded_daemon_serves_and_stops_its_helpers() {
        let dir = std::env::temp_dir().join(format!("sofia-control-{}", std::process::id()));
        let mut options = DaemonOptions::new(&dir);
        options.console = false;
        options.watchdog_interval = Duration::from_millis(20);
        options.watchdog = Watchdog::new(
            crate::watchdog::WatchdogConfig {
                enabled: true,
                step_timeout: Duration::from_millis(200),
                event_timeout: Duration::ZERO,
            },
            Instant::now(),
        );
        let socket = options.socket_path();
        let daemon = Daemon::new(NoProfiles, options);
        let stop = daemon.shutdown_handle();
        let run = tokio::spawn(daemon.run());
        let reply = tokio::task::spawn_blocking(move || {
            for _ in 0..500 {
                if let Ok(reply) = request(&socket, "sofia status profile internal") {
                    return Some(reply);
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            None
        })
        .await
        .expect("client thread");
        assert_eq!(
            reply,
            Some(Reply {
                text: "Invalid Profile!\n".into(),
                ok: false
            })
        );
        stop.shutdown();
        run.await.expect("run task").expect("run");
        assert!(!dir.join(SOCKET_NAME).exists());
        // The heartbeat has stopped with the daemon; so has the watchdog,
        // which would otherwise end this process.
        tokio::time::sleep(Duration::from_millis(600)).await;
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn console_lines_are_bounded_and_trimmed() {
        let mut input = Vec::new();
        input.extend_from_slice(b"  sofia status  \n");
        input.extend(std::iter::repeat_n(b'x', MAX_LINE + 10));
        input.extend_from_slice(b"\nlast line");
        let (tx, mut rx) = mpsc::channel(16);
        read_console_lines(std::io::BufReader::with_capacity(64, &input[..]), tx);
        assert_eq!(rx.try_recv().ok(), Some(Some("sofia status".to_string())));
        assert_eq!(rx.try_recv().ok(), Some(None));
        assert_eq!(rx.try_recv().ok(), Some(Some("last line".to_string())));
        assert!(rx.try_recv().is_err());
    }

    #[tokio::test]
    async fn console_prints_replies_and_events() {
        let server = Server {
            state: Arc::new(Mutex::new(NoProfiles)),
            resolver: None,
        };
        let events = EventBus::new(8);
        let (shutdown_tx, mut shutdown_rx) = watch::channel(false);
        let shutdown = ShutdownHandle {
            tx: Arc::new(shutdown_tx),
        };
        let (tx, rx) = mpsc::channel(16);
        let capture = Capture::default();
        let out: ConsoleOut = Arc::new(Mutex::new(capture.clone()));
        let task = tokio::spawn(console_task(server, events.clone(), shutdown, rx, out));

        let send = |line: &str| tx.try_send(Some(line.to_string())).expect("send");
        send("sofia profile internal siptrace on");
        capture.wait_for("Invalid Profile [internal]\n").await;
        send("events on");
        capture.wait_for("+OK events on\n").await;
        events.publish(
            Event::new("CUSTOM")
                .with("Event-Subclass", "sofia::register")
                .with("from-user", "1000"),
        );
        capture
            .wait_for(
                "Event-Subclass: sofia%3A%3Aregister\nEvent-Name: CUSTOM\nfrom-user: 1000\n\n",
            )
            .await;
        send("events off");
        capture.wait_for("+OK events off\n").await;
        events.publish(Event::new("CUSTOM").with("from-user", "1001"));
        send("sofia_count_reg 1000");
        let text = capture.wait_for("-1\n").await;
        assert!(!text.contains("1001"));
        tx.try_send(None).expect("send");
        capture.wait_for("-ERR line too long\n").await;
        send("shutdown");
        capture.wait_for("+OK shutting down\n").await;
        shutdown_rx.changed().await.expect("shutdown signalled");
        assert!(*shutdown_rx.borrow());
        task.await.expect("console task ends");
    }
}
