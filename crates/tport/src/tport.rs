//! The transport runtime: sockets, connections, the receive tasks and the
//! send path, on tokio.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use socket2::{Domain, Protocol, Socket, Type};
use sofia_msg::{Frame, Limits, Message, ParseError, StreamFramer};
use sofia_su::su_log;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{mpsc, watch};
use tokio_rustls::{TlsAcceptor, TlsConnector};

use crate::Transport;
use crate::config::Config;
use crate::error::Error;
use crate::logging::{Direction, Logging};
use crate::name::{BindSpec, parse_bind};
use crate::stats::{AllCounters, Stats};

/// Identity of a TCP or TLS connection, unique within a [`Tport`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

impl std::fmt::Display for ConnId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// A received message and where it came from.
#[derive(Debug)]
pub struct Incoming {
    /// The message (parsed; [`Message::check`] not yet applied).
    pub msg: Message,
    /// The transport it came over.
    pub transport: Transport,
    /// The sender's address.
    pub remote: SocketAddr,
    /// Our address it arrived at.
    pub local: SocketAddr,
    /// The connection, for TCP and TLS.
    pub conn: Option<ConnId>,
    /// Set when the message exceeded a limit (size or header count): it was
    /// parsed again without the limit so that the transaction layer can
    /// answer the request 513 (RFC 3261 §21.5.14), and must not be
    /// processed otherwise.
    pub oversized: Option<ParseError>,
}

/// Parses a message that failed with `error` again, without the size and
/// header-count limits, when the failure was one of those limits: the text is
/// at most one datagram or one framed message, so memory stays bounded. Only
/// requests other than ACK come back (they are the ones answered 513).
fn reparse_oversized(error: &ParseError, bytes: impl FnOnce() -> Bytes) -> Option<Message> {
    if !matches!(
        error,
        ParseError::TooLarge { .. } | ParseError::TooManyHeaders { .. }
    ) {
        return None;
    }
    let bytes = bytes();
    let relaxed = Limits {
        max_size: bytes.len(),
        max_headers: bytes.len(),
    };
    let msg = Message::parse_with(bytes, &relaxed).ok()?;
    (msg.is_request() && msg.method() != sofia_msg::Method::Ack).then_some(msg)
}

/// Where to send a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    /// The transport.
    pub transport: Transport,
    /// The remote address.
    pub addr: SocketAddr,
    /// A connection to use when it is still open (a response goes back on its
    /// request's connection, RFC 3261 §18.2.2).
    pub conn: Option<ConnId>,
    /// For TLS: the name to verify the server's certificate against (the
    /// address itself when absent).
    pub server_name: Option<String>,
}

impl Destination {
    /// A transport and address.
    pub fn new(transport: Transport, addr: SocketAddr) -> Destination {
        Destination {
            transport,
            addr,
            conn: None,
            server_name: None,
        }
    }

    /// Back to where a message came from, on its connection.
    pub fn reply_to(incoming: &Incoming) -> Destination {
        Destination {
            transport: incoming.transport,
            addr: incoming.remote,
            conn: incoming.conn,
            server_name: None,
        }
    }

    /// Sets the TLS server name.
    pub fn with_server_name(mut self, name: impl Into<String>) -> Destination {
        self.server_name = Some(name.into());
        self
    }
}

/// How a message went out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sent {
    /// The transport used (TCP when a large UDP request was switched).
    pub transport: Transport,
    /// Our address.
    pub local: SocketAddr,
    /// The remote address.
    pub remote: SocketAddr,
    /// The connection, for TCP and TLS.
    pub conn: Option<ConnId>,
    /// Bytes queued or sent.
    pub bytes: usize,
}

/// An open connection as the send path sees it.
#[derive(Debug)]
struct Conn {
    transport: Transport,
    remote: SocketAddr,
    local: SocketAddr,
    tx: mpsc::Sender<Bytes>,
}

#[derive(Debug, Default)]
struct ConnTable {
    by_id: HashMap<ConnId, Conn>,
    by_peer: HashMap<(Transport, SocketAddr), ConnId>,
    per_ip: HashMap<IpAddr, usize>,
}

struct Shared {
    config: Config,
    limits: Limits,
    /// The UDP sockets, emptied by [`Tport::shutdown`] so that they close
    /// as soon as their receive tasks end.
    udp: Mutex<Vec<(SocketAddr, Arc<UdpSocket>)>>,
    listeners: Mutex<Vec<(Transport, SocketAddr)>>,
    conns: Mutex<ConnTable>,
    incoming: mpsc::Sender<Incoming>,
    counters: AllCounters,
    logging: Logging,
    next_id: AtomicU64,
    shutdown: watch::Sender<bool>,
    acceptor: Option<TlsAcceptor>,
    connector: OnceLock<Result<TlsConnector, String>>,
}

/// A set of bound transports. Cheap to clone; every clone drives the same
/// sockets. Dropping the receiver of [`Incoming`] messages, or calling
/// [`Tport::shutdown`], stops the receive tasks.
#[derive(Clone)]
pub struct Tport {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Tport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tport")
            .field("listeners", &self.listeners())
            .field("connections", &self.connections().len())
            .finish()
    }
}

/// Completes once [`Tport::shutdown`] was called, also when it was called
/// before the task subscribed (a receiver created after the change would
/// otherwise wait for the next one).
async fn stopped(rx: &mut watch::Receiver<bool>) {
    while !*rx.borrow_and_update() {
        if rx.changed().await.is_err() {
            return;
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn socket_for(spec: &BindSpec, config: &Config) -> std::io::Result<Socket> {
    let domain = Domain::for_address(spec.addr);
    let socket = match spec.transport {
        Transport::Udp => Socket::new(domain, Type::DGRAM, Some(Protocol::UDP))?,
        Transport::Tcp | Transport::Tls => Socket::new(domain, Type::STREAM, Some(Protocol::TCP))?,
    };
    socket.set_reuse_address(true)?;
    if spec.addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    if spec.transport == Transport::Udp
        && let Some(size) = config.udp_buffer
    {
        // As sofia-sip's tport_udp_init_primary: a refusal is logged, and
        // the socket keeps the system's size.
        for (what, set) in [
            (
                "SO_RCVBUF",
                Socket::set_recv_buffer_size as fn(&Socket, usize) -> _,
            ),
            ("SO_SNDBUF", Socket::set_send_buffer_size),
        ] {
            if let Err(e) = set(&socket, size) {
                su_log!(TPORT, 3, "tport: setsockopt({}, {}): {}", what, size, e);
            }
        }
    }
    socket.set_nonblocking(true)?;
    socket.bind(&spec.addr.into())?;
    if spec.transport.is_stream() {
        socket.listen(1024)?;
    }
    Ok(socket)
}

/// Times a group of sockets sharing a port picked by the system is bound
/// before its error is returned.
const BIND_ATTEMPTS: usize = 8;

/// A socket bound for a transport on an address.
type BoundSocket = (Transport, SocketAddr, Socket);

/// Binds the sockets of one bind name on one port: the first socket's
/// port (picked by the system for port 0) for all of them. The error says
/// whether a socket after the first failed (the port is taken for that
/// transport only, so another port may do).
fn bind_group(
    group: &[BindSpec],
    config: &Config,
    have_tls: bool,
) -> Result<Vec<BoundSocket>, (Error, bool)> {
    let mut port = None;
    let mut out = Vec::new();
    for (i, spec) in group.iter().enumerate() {
        let mut spec = *spec;
        if let Some(p) = port {
            spec.addr.set_port(p);
        }
        if spec.transport == Transport::Tls && !have_tls {
            return Err((
                Error::Tls(format!(
                    "serving TLS on {} needs a certificate and key",
                    spec.addr
                )),
                false,
            ));
        }
        let socket = socket_for(&spec, config).map_err(|source| {
            let later = i > 0 && source.kind() == std::io::ErrorKind::AddrInUse;
            (
                Error::Bind {
                    transport: spec.transport,
                    addr: spec.addr,
                    source,
                },
                later,
            )
        })?;
        let local = socket
            .local_addr()
            .ok()
            .and_then(|a| a.as_socket())
            .unwrap_or(spec.addr);
        port.get_or_insert(local.port());
        out.push((spec.transport, local, socket));
    }
    Ok(out)
}

impl Tport {
    /// Binds every socket the configuration names and starts receiving.
    /// Returns the transport and the stream of received messages.
    ///
    /// The sockets of one bind name share a port: with port 0, the first
    /// socket picks a free port and the others bind the same one; when
    /// another program holds that port for one of the other transports, the
    /// group is bound again on a new port (up to 8 times).
    pub async fn bind(config: Config) -> Result<(Tport, mpsc::Receiver<Incoming>), Error> {
        let mut specs = Vec::new();
        for name in &config.bind {
            specs.push(parse_bind(name)?);
        }
        let acceptor = match &config.tls {
            Some(tls) => crate::tls::acceptor(tls)?,
            None => None,
        };
        let mut udp = Vec::new();
        let mut tcp = Vec::new();
        let mut listeners = Vec::new();
        for group in specs {
            // With port 0 the first socket picks the port and the others
            // take the same one, which another program may hold for their
            // transport: then the group is bound again on a new port.
            let picks_port = group.first().is_some_and(|s| s.addr.port() == 0);
            let attempts = if picks_port { BIND_ATTEMPTS } else { 1 };
            let mut bound = Vec::new();
            for attempt in 1..=attempts {
                match bind_group(&group, &config, acceptor.is_some()) {
                    Ok(sockets) => {
                        bound = sockets;
                        break;
                    }
                    Err((e, later)) if later && attempt < attempts => {
                        su_log!(TPORT, 5, "tport: {e}; binding the group on another port");
                    }
                    Err((e, _)) => return Err(e),
                }
            }
            for (transport, local, socket) in bound {
                let bind_err = |source| Error::Bind {
                    transport,
                    addr: local,
                    source,
                };
                match transport {
                    Transport::Udp => {
                        let s = UdpSocket::from_std(socket.into()).map_err(bind_err)?;
                        udp.push((local, Arc::new(s)));
                    }
                    Transport::Tcp | Transport::Tls => {
                        let l = TcpListener::from_std(socket.into()).map_err(bind_err)?;
                        tcp.push((transport, local, l));
                    }
                }
                listeners.push((transport, local));
                su_log!(TPORT, 5, "tport: listening on {}/{}", transport, local);
            }
        }
        let logging = if config.log.is_none() && config.dump.is_none() {
            Logging::from_env()
        } else {
            let dump = match &config.dump {
                Some(path) => Some(
                    crate::logging::Dump::open(path, std::time::SystemTime::now()).map_err(
                        |source| Error::Dump {
                            path: path.clone(),
                            source,
                        },
                    )?,
                ),
                None => None,
            };
            Logging::new(config.log.unwrap_or(false), dump)
        };
        let (tx, rx) = mpsc::channel(config.incoming_queue.max(1));
        let (shutdown, _) = watch::channel(false);
        let limits = Limits {
            max_size: config.max_message_size,
            ..Limits::default()
        };
        let udp_loops: Vec<_> = udp.iter().map(|(l, s)| (*l, s.clone())).collect();
        let shared = Arc::new(Shared {
            limits,
            udp: Mutex::new(udp),
            listeners: Mutex::new(listeners),
            conns: Mutex::new(ConnTable::default()),
            incoming: tx,
            counters: AllCounters::default(),
            logging,
            next_id: AtomicU64::new(1),
            shutdown,
            acceptor,
            connector: OnceLock::new(),
            config,
        });
        for (local, socket) in udp_loops {
            tokio::spawn(udp_loop(shared.clone(), socket, local));
        }
        for (transport, local, listener) in tcp {
            tokio::spawn(accept_loop(shared.clone(), listener, transport, local));
        }
        Ok((Tport { shared }, rx))
    }

    /// Every bound socket: transport and local address (with the port picked
    /// for port 0).
    pub fn listeners(&self) -> Vec<(Transport, SocketAddr)> {
        self.shared
            .listeners
            .lock()
            .map(|l| l.clone())
            .unwrap_or_default()
    }

    /// The first bound address of a transport.
    pub fn local_addr(&self, transport: Transport) -> Option<SocketAddr> {
        self.listeners()
            .into_iter()
            .find(|(t, _)| *t == transport)
            .map(|(_, a)| a)
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> Stats {
        self.shared.counters.snapshot()
    }

    /// The TPORT_LOG / TPORT_DUMP switches (`siptrace on` turns the log on).
    pub fn logging(&self) -> &Logging {
        &self.shared.logging
    }

    /// Open connections: id, transport, remote and local address.
    pub fn connections(&self) -> Vec<(ConnId, Transport, SocketAddr, SocketAddr)> {
        let table = lock(&self.shared.conns);
        let mut v: Vec<_> = table
            .by_id
            .iter()
            .map(|(id, c)| (*id, c.transport, c.remote, c.local))
            .collect();
        v.sort();
        v
    }

    /// Stops every receive task and closes every connection.
    pub fn shutdown(&self) {
        // `send_replace` stores the value also when no task has subscribed yet.
        self.shared.shutdown.send_replace(true);
        lock(&self.shared.udp).clear();
        let mut table = lock(&self.shared.conns);
        table.by_id.clear();
        table.by_peer.clear();
        table.per_ip.clear();
    }

    /// The transport a message of `len` bytes to `dest` goes over: a request
    /// larger than [`Config::udp_max_request`] switches from UDP to TCP (RFC
    /// 3261 §18.1.1). The layer above asks before writing its Via.
    pub fn transport_for(&self, dest: &Destination, len: usize, is_request: bool) -> Transport {
        match (dest.transport, self.shared.config.udp_max_request) {
            (Transport::Udp, Some(max)) if is_request && len > max => Transport::Tcp,
            (t, _) => t,
        }
    }

    /// Sends a message. See [`Tport::send_bytes`].
    pub async fn send(&self, dest: &Destination, msg: &Message) -> Result<Sent, Error> {
        self.send_bytes(dest, msg.to_bytes(), msg.is_request())
            .await
    }

    /// Sends bytes that hold one serialized message (`is_request` tells the
    /// UDP-to-TCP switch what it is). Over TCP and TLS the bytes are queued on
    /// the connection (opened when there is none, reusing one in either
    /// direction) and written in order; a full queue fails at once rather than
    /// wait for a slow peer.
    pub async fn send_bytes(
        &self,
        dest: &Destination,
        bytes: Bytes,
        is_request: bool,
    ) -> Result<Sent, Error> {
        let shared = &self.shared;
        if bytes.len() > shared.config.max_message_size {
            return Err(Error::TooLarge {
                size: bytes.len(),
                limit: shared.config.max_message_size,
            });
        }
        let transport = self.transport_for(dest, bytes.len(), is_request);
        if transport == Transport::Udp {
            return send_udp(shared, dest.addr, bytes).await;
        }
        let mut dest = dest.clone();
        if transport != dest.transport {
            su_log!(
                TPORT,
                5,
                "tport: request of {} bytes to {} goes over TCP (RFC 3261 18.1.1)",
                bytes.len(),
                dest.addr
            );
            dest.transport = transport;
            dest.conn = None;
        }
        let mut reconnected = false;
        loop {
            let (id, tx, local) = match find_conn(shared, &dest) {
                Some(found) => found,
                None => connect(shared, &dest).await?,
            };
            let len = bytes.len();
            match tx.try_send(bytes.clone()) {
                Ok(()) => {
                    return Ok(Sent {
                        transport,
                        local,
                        remote: dest.addr,
                        conn: Some(id),
                        bytes: len,
                    });
                }
                Err(mpsc::error::TrySendError::Full(_)) => {
                    shared.counters.of(transport).error();
                    return Err(Error::Send {
                        transport,
                        addr: dest.addr,
                        why: "write queue full (peer not reading)".into(),
                    });
                }
                Err(mpsc::error::TrySendError::Closed(_)) => {
                    // The connection closed under us: forget it and, once,
                    // open a new one.
                    close_conn(shared, id);
                    if reconnected {
                        shared.counters.of(transport).error();
                        return Err(Error::Send {
                            transport,
                            addr: dest.addr,
                            why: "connection closed".into(),
                        });
                    }
                    reconnected = true;
                    dest.conn = None;
                }
            }
        }
    }
}

async fn send_udp(shared: &Shared, addr: SocketAddr, bytes: Bytes) -> Result<Sent, Error> {
    // A datagram goes out at once when the socket has room, as it nearly
    // always has; only a full socket buffer makes the send wait, on a
    // handle to the socket taken out of the table.
    let attempt = lock(&shared.udp)
        .iter()
        .find(|(local, _)| local.is_ipv4() == addr.is_ipv4())
        .map(|(local, socket)| match socket.try_send_to(&bytes, addr) {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => (*local, Err(socket.clone())),
            sent => (*local, Ok(sent)),
        });
    let Some((local, attempt)) = attempt else {
        return Err(Error::NoTransport {
            transport: Transport::Udp,
            addr,
        });
    };
    let counters = shared.counters.of(Transport::Udp);
    let sent = match attempt {
        Ok(sent) => sent,
        Err(socket) => socket.send_to(&bytes, addr).await,
    };
    match sent {
        Ok(n) => {
            counters.sent(n);
            shared.logging.message(Direction::Send, "udp", addr, &bytes);
            su_log!(TPORT, 5, "tport: send {} bytes to udp/{}", n, addr);
            Ok(Sent {
                transport: Transport::Udp,
                local,
                remote: addr,
                conn: None,
                bytes: n,
            })
        }
        Err(e) => {
            counters.error();
            Err(Error::Send {
                transport: Transport::Udp,
                addr,
                why: e.to_string(),
            })
        }
    }
}

fn find_conn(
    shared: &Shared,
    dest: &Destination,
) -> Option<(ConnId, mpsc::Sender<Bytes>, SocketAddr)> {
    let table = lock(&shared.conns);
    let id = dest
        .conn
        .filter(|id| table.by_id.contains_key(id))
        .or_else(|| table.by_peer.get(&(dest.transport, dest.addr)).copied())?;
    let conn = table.by_id.get(&id)?;
    (conn.transport == dest.transport).then(|| (id, conn.tx.clone(), conn.local))
}

/// Checks the connection limits for one more connection with `ip`, and
/// counts it when there is room.
fn admit(shared: &Shared, ip: IpAddr) -> Result<(), Error> {
    let mut table = lock(&shared.conns);
    if table.by_id.len() >= shared.config.max_connections {
        return Err(Error::Limit(format!(
            "{} connections open (max-connections)",
            table.by_id.len()
        )));
    }
    let n = table.per_ip.entry(ip).or_insert(0);
    if *n >= shared.config.max_connections_per_ip {
        return Err(Error::Limit(format!(
            "{n} connections with {ip} (max-connections-per-ip)"
        )));
    }
    *n += 1;
    Ok(())
}

fn release_ip(table: &mut ConnTable, ip: IpAddr) {
    if let Some(n) = table.per_ip.get_mut(&ip) {
        *n = n.saturating_sub(1);
        if *n == 0 {
            table.per_ip.remove(&ip);
        }
    }
}

async fn connect(
    shared: &Arc<Shared>,
    dest: &Destination,
) -> Result<(ConnId, mpsc::Sender<Bytes>, SocketAddr), Error> {
    let transport = dest.transport;
    let fail = |why: String| Error::Connect {
        transport,
        addr: dest.addr,
        why,
    };
    admit(shared, dest.addr.ip())?;
    let timeout = shared.config.connect_timeout;
    let result: Result<(ConnId, mpsc::Sender<Bytes>, SocketAddr), Error> = async {
        let tcp = tokio::time::timeout(timeout, TcpStream::connect(dest.addr))
            .await
            .map_err(|_| fail(format!("timed out after {timeout:?}")))?
            .map_err(|e| fail(e.to_string()))?;
        let _ = tcp.set_nodelay(true);
        let local = tcp.local_addr().map_err(|e| fail(e.to_string()))?;
        if transport == Transport::Tls {
            let connector = shared
                .connector
                .get_or_init(|| {
                    crate::tls::connector(&shared.config.tls.clone().unwrap_or_default())
                        .map_err(|e| e.to_string())
                })
                .clone()
                .map_err(Error::Tls)?;
            let name = dest
                .server_name
                .clone()
                .unwrap_or_else(|| dest.addr.ip().to_string());
            let server_name = rustls::pki_types::ServerName::try_from(name.clone())
                .map_err(|e| fail(format!("server name {name:?}: {e}")))?;
            let tls = tokio::time::timeout(timeout, connector.connect(server_name, tcp))
                .await
                .map_err(|_| fail(format!("TLS handshake timed out after {timeout:?}")))?
                .map_err(|e| fail(format!("TLS handshake: {e}")))?;
            Ok(start_conn(shared, tls, transport, dest.addr, local, true))
        } else {
            Ok(start_conn(shared, tcp, transport, dest.addr, local, true))
        }
    }
    .await;
    if result.is_err() {
        release_ip(&mut lock(&shared.conns), dest.addr.ip());
        shared.counters.of(transport).error();
    }
    if let Err(e) = &result {
        su_log!(TPORT, 3, "tport: {}", e);
    }
    result
}

/// Registers a connection (its IP already admitted) and starts its reader and
/// writer tasks.
fn start_conn<S>(
    shared: &Arc<Shared>,
    stream: S,
    transport: Transport,
    remote: SocketAddr,
    local: SocketAddr,
    outbound: bool,
) -> (ConnId, mpsc::Sender<Bytes>, SocketAddr)
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let id = ConnId(shared.next_id.fetch_add(1, Ordering::Relaxed));
    let (tx, rx) = mpsc::channel(shared.config.write_queue.max(1));
    {
        let mut table = lock(&shared.conns);
        table.by_id.insert(
            id,
            Conn {
                transport,
                remote,
                local,
                tx: tx.clone(),
            },
        );
        table.by_peer.insert((transport, remote), id);
    }
    shared
        .counters
        .of(transport)
        .open_connections
        .fetch_add(1, Ordering::Relaxed);
    su_log!(
        TPORT,
        5,
        "tport: {} connection {} with {}/{}",
        if outbound { "opened" } else { "accepted" },
        id,
        transport,
        remote
    );
    let (rd, wr) = tokio::io::split(stream);
    let activity = Arc::new(Activity::new());
    let keepalive = if outbound {
        shared.config.keepalive_interval
    } else {
        None
    };
    tokio::spawn(writer(
        shared.clone(),
        wr,
        rx,
        id,
        transport,
        remote,
        keepalive,
        activity.clone(),
    ));
    tokio::spawn(reader(
        shared.clone(),
        rd,
        tx.clone(),
        id,
        transport,
        remote,
        local,
        activity,
    ));
    (id, tx, local)
}

/// When a connection last carried traffic.
#[derive(Debug)]
struct Activity {
    start: Instant,
    last_ms: AtomicU64,
}

impl Activity {
    fn new() -> Activity {
        Activity {
            start: Instant::now(),
            last_ms: AtomicU64::new(0),
        }
    }
    fn touch(&self) {
        self.last_ms
            .store(self.start.elapsed().as_millis() as u64, Ordering::Relaxed);
    }
    fn idle(&self) -> Duration {
        let last = Duration::from_millis(self.last_ms.load(Ordering::Relaxed));
        self.start.elapsed().saturating_sub(last)
    }
}

fn close_conn(shared: &Shared, id: ConnId) {
    let mut table = lock(&shared.conns);
    if let Some(conn) = table.by_id.remove(&id) {
        if table.by_peer.get(&(conn.transport, conn.remote)) == Some(&id) {
            table.by_peer.remove(&(conn.transport, conn.remote));
        }
        release_ip(&mut table, conn.remote.ip());
        shared
            .counters
            .of(conn.transport)
            .open_connections
            .fetch_sub(1, Ordering::Relaxed);
        su_log!(
            TPORT,
            5,
            "tport: closed connection {} with {}/{}",
            id,
            conn.transport,
            conn.remote
        );
    }
}

#[allow(clippy::too_many_arguments)]
async fn writer<W: AsyncWrite>(
    shared: Arc<Shared>,
    wr: W,
    mut rx: mpsc::Receiver<Bytes>,
    id: ConnId,
    transport: Transport,
    remote: SocketAddr,
    keepalive: Option<Duration>,
    activity: Arc<Activity>,
) {
    let mut wr = std::pin::pin!(wr);
    let mut shutdown = shared.shutdown.subscribe();
    let mut ka = keepalive
        .map(|period| tokio::time::interval_at(tokio::time::Instant::now() + period, period));
    let timeout = shared.config.write_timeout;
    let counters = shared.counters.of(transport);
    loop {
        let next = tokio::select! {
            m = rx.recv() => match m {
                Some(m) => m,
                None => break,
            },
            _ = async {
                match ka.as_mut() {
                    Some(t) => { t.tick().await; }
                    None => std::future::pending::<()>().await,
                }
            } => Bytes::from_static(b"\r\n\r\n"),
            _ = stopped(&mut shutdown) => break,
        };
        match tokio::time::timeout(timeout, wr.write_all(&next)).await {
            Ok(Ok(())) => {
                activity.touch();
                shared
                    .logging
                    .message(Direction::Send, transport.name(), remote, &next);
                if next.iter().any(|&b| b != b'\r' && b != b'\n') {
                    counters.sent(next.len());
                    su_log!(
                        TPORT,
                        5,
                        "tport: send {} bytes to {}/{}",
                        next.len(),
                        transport,
                        remote
                    );
                }
            }
            Ok(Err(e)) => {
                counters.error();
                su_log!(
                    TPORT,
                    3,
                    "tport: closing {}/{}: write failed: {}",
                    transport,
                    remote,
                    e
                );
                break;
            }
            Err(_) => {
                counters.error();
                su_log!(
                    TPORT,
                    3,
                    "tport: closing {}/{}: write stalled for {:?}",
                    transport,
                    remote,
                    timeout
                );
                break;
            }
        }
    }
    let _ = wr.shutdown().await;
    close_conn(&shared, id);
}

#[allow(clippy::too_many_arguments)]
async fn reader<R: AsyncRead>(
    shared: Arc<Shared>,
    rd: R,
    tx: mpsc::Sender<Bytes>,
    id: ConnId,
    transport: Transport,
    remote: SocketAddr,
    local: SocketAddr,
    activity: Arc<Activity>,
) {
    let mut rd = std::pin::pin!(rd);
    let mut framer = StreamFramer::new(shared.limits);
    let mut shutdown = shared.shutdown.subscribe();
    let idle = shared.config.idle_timeout;
    let counters = shared.counters.of(transport);
    activity.touch();
    'conn: loop {
        framer.buffer_mut().reserve(16 * 1024);
        let read = tokio::select! {
            r = tokio::time::timeout(idle, rd.read_buf(framer.buffer_mut())) => r,
            _ = stopped(&mut shutdown) => break,
        };
        match read {
            Err(_) => {
                if activity.idle() >= idle {
                    su_log!(
                        TPORT,
                        5,
                        "tport: closing idle connection {} with {}/{}",
                        id,
                        transport,
                        remote
                    );
                    break;
                }
                continue;
            }
            Ok(Err(e)) => {
                su_log!(
                    TPORT,
                    3,
                    "tport: closing {}/{}: read failed: {}",
                    transport,
                    remote,
                    e
                );
                break;
            }
            Ok(Ok(0)) => break,
            Ok(Ok(_)) => activity.touch(),
        }
        loop {
            match framer.next_frame() {
                Ok(None) => break,
                Ok(Some(Frame::Ping)) => {
                    shared
                        .logging
                        .message(Direction::Recv, transport.name(), remote, b"\r\n\r\n");
                    let _ = tx.try_send(Bytes::from_static(StreamFramer::PONG));
                }
                Ok(Some(Frame::Pong)) => {
                    shared
                        .logging
                        .message(Direction::Recv, transport.name(), remote, b"\r\n");
                }
                Ok(Some(Frame::Message(bytes))) => {
                    shared
                        .logging
                        .message(Direction::Recv, transport.name(), remote, &bytes);
                    counters.received(bytes.len());
                    let len = bytes.len();
                    let parsed = match Message::parse_with(bytes.clone(), &shared.limits) {
                        Ok(msg) => Some((msg, None)),
                        Err(e) => {
                            counters.error();
                            su_log!(
                                TPORT,
                                5,
                                "tport: {} {} bytes from {}/{}: {}",
                                if matches!(e, ParseError::TooManyHeaders { .. }) {
                                    "oversized"
                                } else {
                                    "dropped"
                                },
                                len,
                                transport,
                                remote,
                                e
                            );
                            reparse_oversized(&e, || bytes).map(|m| (m, Some(e)))
                        }
                    };
                    if let Some((msg, oversized)) = parsed {
                        if oversized.is_none() {
                            su_log!(
                                TPORT,
                                5,
                                "tport: recv {} bytes from {}/{}",
                                len,
                                transport,
                                remote
                            );
                        }
                        let incoming = Incoming {
                            msg,
                            transport,
                            remote,
                            local,
                            conn: Some(id),
                            oversized,
                        };
                        if shared.incoming.send(incoming).await.is_err() {
                            break 'conn;
                        }
                    }
                }
                Err(e) => {
                    counters.error();
                    su_log!(TPORT, 3, "tport: closing {}/{}: {}", transport, remote, e);
                    break 'conn;
                }
            }
        }
    }
    close_conn(&shared, id);
}

async fn udp_loop(shared: Arc<Shared>, socket: Arc<UdpSocket>, local: SocketAddr) {
    let mut buf = vec![0u8; 65536];
    let mut shutdown = shared.shutdown.subscribe();
    let counters = shared.counters.of(Transport::Udp);
    loop {
        // What is waiting is read without a turn through the runtime; the
        // task waits (for a datagram or the shutdown) only when the socket
        // is empty. Setting up that wait for every datagram was a tenth of
        // the receive path's instructions (callgrind).
        let (n, peer) = match socket.try_recv_from(&mut buf) {
            Ok(r) => r,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                tokio::select! {
                    biased;
                    _ = stopped(&mut shutdown) => break,
                    r = socket.readable() => {
                        if let Err(e) = r {
                            su_log!(TPORT, 3, "tport: udp/{}: cannot wait: {}", local, e);
                            break;
                        }
                        continue;
                    }
                }
            }
            Err(e) => {
                // ICMP errors of earlier sends surface here on some
                // systems; the socket itself is still good.
                su_log!(TPORT, 5, "tport: udp/{}: receive error: {}", local, e);
                continue;
            }
        };
        // A shutdown while datagrams keep coming: one version check.
        match shutdown.has_changed() {
            Ok(false) => {}
            Ok(true) if !*shutdown.borrow_and_update() => {}
            _ => break,
        }
        let data = &buf[..n];
        shared.logging.message(Direction::Recv, "udp", peer, data);
        if data.iter().all(|&b| b == b'\r' || b == b'\n') {
            // A keepalive (or empty) datagram.
            continue;
        }
        counters.received(n);
        // The datagram stays in `buf`: only an oversized one is copied again
        // (cloning a freshly copied `Bytes` would allocate on every receive).
        let parsed = match Message::parse_with(Bytes::copy_from_slice(data), &shared.limits) {
            Ok(msg) => {
                su_log!(TPORT, 5, "tport: recv {} bytes from udp/{}", n, peer);
                Some((msg, None))
            }
            Err(e) => {
                counters.error();
                su_log!(
                    TPORT,
                    5,
                    "tport: {} {} bytes from udp/{}: {}",
                    if matches!(
                        e,
                        ParseError::TooLarge { .. } | ParseError::TooManyHeaders { .. }
                    ) {
                        "oversized"
                    } else {
                        "dropped"
                    },
                    n,
                    peer,
                    e
                );
                reparse_oversized(&e, || Bytes::copy_from_slice(data)).map(|m| (m, Some(e)))
            }
        };
        if let Some((msg, oversized)) = parsed {
            let incoming = Incoming {
                msg,
                transport: Transport::Udp,
                remote: peer,
                local,
                conn: None,
                oversized,
            };
            if shared.incoming.send(incoming).await.is_err() {
                break;
            }
        }
    }
}

async fn accept_loop(
    shared: Arc<Shared>,
    listener: TcpListener,
    transport: Transport,
    local: SocketAddr,
) {
    let mut shutdown = shared.shutdown.subscribe();
    loop {
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(r) => r,
                Err(e) => {
                    su_log!(TPORT, 3, "tport: {}/{}: accept failed: {}", transport, local, e);
                    // Out of file descriptors and the like: back off briefly.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stopped(&mut shutdown) => break,
        };
        if let Err(e) = admit(&shared, peer.ip()) {
            shared.counters.of(transport).error();
            su_log!(TPORT, 3, "tport: refused {}/{}: {}", transport, peer, e);
            drop(stream);
            continue;
        }
        let _ = stream.set_nodelay(true);
        let local = stream.local_addr().unwrap_or(local);
        match (transport, &shared.acceptor) {
            (Transport::Tls, Some(acceptor)) => {
                let shared = shared.clone();
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let timeout = shared.config.connect_timeout;
                    match tokio::time::timeout(timeout, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            start_conn(&shared, tls, transport, peer, local, false);
                        }
                        Ok(Err(e)) => {
                            release_ip(&mut lock(&shared.conns), peer.ip());
                            shared.counters.of(transport).error();
                            su_log!(TPORT, 3, "tport: TLS handshake with {} failed: {}", peer, e);
                        }
                        Err(_) => {
                            release_ip(&mut lock(&shared.conns), peer.ip());
                            shared.counters.of(transport).error();
                            su_log!(TPORT, 3, "tport: TLS handshake with {} timed out", peer);
                        }
                    }
                });
            }
            _ => {
                start_conn(&shared, stream, transport, peer, local, false);
            }
        }
    }
}
