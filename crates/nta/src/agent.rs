//! The tokio driver: an [`Endpoint`] bound to a [`Tport`], with its timers
//! run on the real clock.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use sofia_msg::Message;
use sofia_su::su_log;
use sofia_tport::{Destination, Incoming, Tport, Transport};
use tokio::sync::{Notify, mpsc};

use crate::dialog::DialogId;
use crate::endpoint::{ClientId, Config, Endpoint, Error, Event, ServerId, Source, Transmit};

/// What a client transaction reports to the caller of [`Agent::request`].
// Responses are the common case; boxing them would cost an allocation each.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum ClientEvent {
    /// A response (provisional, final, or a further 2xx of a fork).
    Response(Message),
    /// No final response in time (timer B, F or C): treat as 408.
    Timeout,
}

/// A request received by the agent.
#[derive(Debug)]
pub struct ServerRequest {
    /// Its server transaction (answer with [`Agent::respond`]).
    pub server: ServerId,
    /// The request.
    pub msg: Message,
    /// Where it came from.
    pub source: Source,
}

/// What [`Agent::new_ordered`] delivers, in the order the engine produced
/// it: a new request, or another event (an ACK of a 2xx, a CANCEL, timer
/// H, a terminated transaction).
// Requests are the common case; boxing them would cost an allocation each.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum AgentEvent {
    /// A new request.
    Request(ServerRequest),
    /// Anything else.
    Event(Event),
}

/// A request handler run inside the agent's loop (see
/// [`Agent::with_handler`]): the response it returns answers the request;
/// `None` passes the request on to the receiver of requests.
pub type Handler = Box<dyn FnMut(&ServerRequest) -> Option<Message> + Send>;

/// Where the agent delivers what it receives.
enum Sink {
    /// Requests and other events on two channels.
    Split {
        requests: mpsc::UnboundedSender<ServerRequest>,
        others: mpsc::UnboundedSender<Event>,
    },
    /// Both on one channel, in order.
    Ordered(mpsc::UnboundedSender<AgentEvent>),
}

impl Sink {
    fn request(&self, r: ServerRequest) {
        let _ = match self {
            Sink::Split { requests, .. } => requests.send(r).map_err(drop),
            Sink::Ordered(tx) => tx.send(AgentEvent::Request(r)).map_err(drop),
        };
    }

    fn other(&self, e: Event) {
        let _ = match self {
            Sink::Split { others, .. } => others.send(e).map_err(drop),
            Sink::Ordered(tx) => tx.send(AgentEvent::Event(e)).map_err(drop),
        };
    }
}

struct State {
    endpoint: Endpoint,
    clients: HashMap<ClientId, mpsc::UnboundedSender<ClientEvent>>,
}

struct Shared {
    state: Mutex<State>,
    tport: Tport,
    wake: Notify,
    sink: Sink,
    /// Set by [`Agent::shutdown`]: the loop ends at its next turn.
    closed: std::sync::atomic::AtomicBool,
}

/// The transaction engine on a transport: requests go out with
/// [`Agent::request`], incoming requests arrive on the receiver returned by
/// [`Agent::new`] and are answered with [`Agent::respond`]. Cheap to clone.
#[derive(Clone)]
pub struct Agent {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Agent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Agent")
            .field("tport", &self.shared.tport)
            .finish()
    }
}

fn lock(m: &Mutex<State>) -> MutexGuard<'_, State> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Agent {
    /// Starts the agent on a bound transport and its incoming messages.
    /// Returns the agent, the incoming requests, and the other events (ACKs
    /// of 2xx, CANCELs, timer H, terminations).
    pub fn new(
        tport: Tport,
        incoming: mpsc::Receiver<Incoming>,
        config: Config,
    ) -> (
        Agent,
        mpsc::UnboundedReceiver<ServerRequest>,
        mpsc::UnboundedReceiver<Event>,
    ) {
        Agent::with_optional_handler(tport, incoming, config, None)
    }

    /// Like [`Agent::new`], with `handler` called for every new request
    /// inside the engine's loop, as sofia-sip's leg callbacks are: the
    /// response it returns is sent at once, with no channel, task switch or
    /// lock between the request and its answer. Requests it returns `None`
    /// for arrive on the receiver of requests, to be answered with
    /// [`Agent::respond`]. The handler must not wait: the engine waits for
    /// it.
    ///
    /// ```no_run
    /// # async fn example() -> Result<(), Box<dyn std::error::Error>> {
    /// use sofia_msg::{HeaderName, ResponseBuilder};
    /// use sofia_nta::{Agent, Config};
    /// use sofia_tport::Tport;
    ///
    /// let (tport, incoming) =
    ///     Tport::bind(sofia_tport::Config::new(["sip:127.0.0.1:5060".to_string()])).await?;
    /// let handler = Box::new(|req: &sofia_nta::ServerRequest| {
    ///     ResponseBuilder::reply_to(&req.msg, 200, "OK", Some("a6c85cf"))
    ///         .header(HeaderName::Contact, "<sip:responder@127.0.0.1:5060>")
    ///         .build()
    ///         .ok()
    /// });
    /// let (_agent, _unanswered, _others) =
    ///     Agent::with_handler(tport, incoming, Config::default(), handler);
    /// # Ok(()) }
    /// ```
    pub fn with_handler(
        tport: Tport,
        incoming: mpsc::Receiver<Incoming>,
        config: Config,
        handler: Handler,
    ) -> (
        Agent,
        mpsc::UnboundedReceiver<ServerRequest>,
        mpsc::UnboundedReceiver<Event>,
    ) {
        Agent::with_optional_handler(tport, incoming, config, Some(handler))
    }

    fn with_optional_handler(
        tport: Tport,
        incoming: mpsc::Receiver<Incoming>,
        config: Config,
        handler: Option<Handler>,
    ) -> (
        Agent,
        mpsc::UnboundedReceiver<ServerRequest>,
        mpsc::UnboundedReceiver<Event>,
    ) {
        let (requests, requests_rx) = mpsc::unbounded_channel();
        let (others, others_rx) = mpsc::unbounded_channel();
        let agent = Agent::with_sink(
            tport,
            incoming,
            config,
            Sink::Split { requests, others },
            handler,
        );
        (agent, requests_rx, others_rx)
    }

    /// Like [`Agent::new`], with requests and the other events on one
    /// channel, in the order the engine produced them: an ACK is seen
    /// before a BYE that followed it, an INVITE before its CANCEL.
    pub fn new_ordered(
        tport: Tport,
        incoming: mpsc::Receiver<Incoming>,
        config: Config,
    ) -> (Agent, mpsc::UnboundedReceiver<AgentEvent>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (
            Agent::with_sink(tport, incoming, config, Sink::Ordered(tx), None),
            rx,
        )
    }

    fn with_sink(
        tport: Tport,
        incoming: mpsc::Receiver<Incoming>,
        config: Config,
        sink: Sink,
        handler: Option<Handler>,
    ) -> Agent {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                endpoint: Endpoint::new(config),
                clients: HashMap::new(),
            }),
            tport,
            wake: Notify::new(),
            sink,
            closed: std::sync::atomic::AtomicBool::new(false),
        });
        tokio::spawn(run(shared.clone(), incoming, handler));
        Agent { shared }
    }

    /// Stops the engine and its transport: the receive tasks and
    /// connections end, the loop ends (transactions in progress are
    /// dropped), and once the last clone of the agent is gone the sockets
    /// close and the receivers of requests and events end. Requests sent
    /// afterwards go nowhere.
    pub fn shutdown(&self) {
        self.shared
            .closed
            .store(true, std::sync::atomic::Ordering::Release);
        self.shared.tport.shutdown();
        self.shared.wake.notify_one();
    }

    /// The transport.
    pub fn tport(&self) -> &Tport {
        &self.shared.tport
    }

    /// A Via value for a new request over `transport`: our listening address
    /// as sent-by, a fresh branch, and `rport` (RFC 3581).
    pub fn via(&self, transport: Transport) -> Option<String> {
        let local = self
            .shared
            .tport
            .local_addr(transport)
            .or_else(|| self.shared.tport.local_addr(Transport::Udp))?;
        let branch = lock(&self.shared.state).endpoint.new_branch();
        Some(format!(
            "SIP/2.0/{} {};rport;branch={}",
            transport.via_name(),
            local,
            branch
        ))
    }

    /// A fresh tag.
    pub fn tag(&self) -> String {
        lock(&self.shared.state).endpoint.new_tag()
    }

    /// Sends a request in a client transaction; its responses (or a timeout)
    /// arrive on the returned receiver.
    pub fn request(
        &self,
        msg: Message,
        dest: Destination,
    ) -> Result<mpsc::UnboundedReceiver<ClientEvent>, Error> {
        self.start(msg, dest).map(|(_, rx)| rx)
    }

    /// Like [`Agent::request`], also returning the client transaction (to
    /// [`cancel`](Agent::cancel) an INVITE). The receiver of an INVITE
    /// transaction stays open after the first 2xx: further 2xx responses
    /// (retransmissions and forks, RFC 6026) arrive on it until the
    /// transaction ends.
    pub fn start(
        &self,
        msg: Message,
        dest: Destination,
    ) -> Result<(ClientId, mpsc::UnboundedReceiver<ClientEvent>), Error> {
        let (tx, rx) = mpsc::unbounded_channel();
        let id = {
            let mut state = lock(&self.shared.state);
            let id = state.endpoint.send_request(Instant::now(), msg, dest)?;
            state.clients.insert(id, tx);
            id
        };
        self.shared.wake.notify_one();
        Ok((id, rx))
    }

    /// Sends a CANCEL for an INVITE client transaction that has received a
    /// provisional response (see [`Endpoint::cancel`]). The INVITE's final
    /// response (487 Request Terminated, or a 2xx that crossed the CANCEL)
    /// arrives on the INVITE's receiver; the CANCEL's own response is not
    /// reported.
    pub fn cancel(&self, invite: ClientId) -> Result<(), Error> {
        lock(&self.shared.state)
            .endpoint
            .cancel(Instant::now(), invite)?;
        self.shared.wake.notify_one();
        Ok(())
    }

    /// Sends a request to the first of `targets` (an RFC 3263 list from
    /// [`Resolver::resolve`](crate::resolve::Resolver::resolve)) and, when the
    /// transaction times out or gets 503 Service Unavailable, to the next one
    /// with a fresh branch (RFC 3263 §4.3). Provisional and final responses
    /// arrive on the returned receiver; a 503 or timeout is passed on only
    /// from the last target.
    pub fn request_with_failover(
        &self,
        msg: Message,
        targets: Vec<crate::resolve::Target>,
    ) -> Result<mpsc::UnboundedReceiver<ClientEvent>, Error> {
        let mut targets = targets.into_iter();
        let first = targets.next().ok_or(Error::Kind("no target"))?;
        let mut rx = self.request(msg.clone(), Destination::new(first.transport, first.addr))?;
        let (tx, out) = mpsc::unbounded_channel();
        let agent = self.clone();
        tokio::spawn(async move {
            let mut current = msg;
            let mut remaining: Vec<_> = targets.collect();
            remaining.reverse();
            while let Some(ev) = rx.recv().await {
                let failed = match &ev {
                    ClientEvent::Timeout => true,
                    ClientEvent::Response(r) => r.status() == Some(503),
                };
                if failed && let Some(next) = remaining.pop() {
                    su_log!(
                        NTA,
                        5,
                        "nta: failing over to {}/{}",
                        next.transport,
                        next.addr
                    );
                    let Some(again) = with_new_branch(&current, &agent) else {
                        break;
                    };
                    current = again.clone();
                    match agent.request(again, Destination::new(next.transport, next.addr)) {
                        Ok(r) => rx = r,
                        Err(_) => break,
                    }
                    continue;
                }
                if tx.send(ev).is_err() {
                    break;
                }
            }
        });
        Ok(out)
    }

    /// Answers a received request.
    pub fn respond(&self, server: ServerId, msg: Message) -> Result<(), Error> {
        lock(&self.shared.state)
            .endpoint
            .respond(Instant::now(), server, msg)?;
        self.shared.wake.notify_one();
        Ok(())
    }

    /// Registers a dialog with the engine (see [`Endpoint::add_dialog`] and
    /// [`Config::ua`]).
    pub fn add_dialog(&self, id: DialogId) -> bool {
        lock(&self.shared.state).endpoint.add_dialog(id)
    }

    /// Forgets a registered dialog (see [`Endpoint::remove_dialog`]).
    pub fn remove_dialog(&self, id: &DialogId) -> bool {
        lock(&self.shared.state).endpoint.remove_dialog(id)
    }

    /// Sends a message outside any transaction (an ACK for a 2xx).
    pub fn send_stateless(&self, msg: &Message, dest: Destination) {
        lock(&self.shared.state).endpoint.send_stateless(msg, dest);
        self.shared.wake.notify_one();
    }
}

/// The request with a fresh branch in its top Via (a new transaction to the
/// next target).
fn with_new_branch(msg: &Message, agent: &Agent) -> Option<Message> {
    let old = msg.branch()?;
    let new = lock(&agent.shared.state).endpoint.new_branch();
    let text = std::str::from_utf8(msg.as_bytes()).ok()?;
    let replaced = text.replacen(&format!("branch={old}"), &format!("branch={new}"), 1);
    Message::parse(bytes::Bytes::from(replaced)).ok()
}

/// Moves everything the endpoint produced: transmits to the transport,
/// events to their receivers. `transmits` and `events` are the caller's
/// buffers, reused from one flush to the next.
async fn flush(
    shared: &Shared,
    transmits: &mut VecDeque<Transmit>,
    events: &mut VecDeque<Event>,
    handler: &mut Option<Handler>,
) {
    // The handler's answers, given to the engine under one lock.
    let mut answers: Vec<(ServerId, Message)> = Vec::new();
    loop {
        {
            let mut state = lock(&shared.state);
            if !answers.is_empty() {
                let now = Instant::now();
                for (server, resp) in answers.drain(..) {
                    if let Err(e) = state.endpoint.respond(now, server, resp) {
                        su_log!(NTA, 3, "nta: handler's response refused: {}", e);
                    }
                }
            }
            state.endpoint.take_transmits(transmits);
            state.endpoint.take_events(events);
        }
        if transmits.is_empty() && events.is_empty() {
            return;
        }
        for t in transmits.drain(..) {
            // A response starts with its version, a request with its method.
            let is_request = !t.bytes.starts_with(b"SIP/");
            if let Err(e) = shared.tport.send_bytes(&t.dest, t.bytes, is_request).await {
                su_log!(NTA, 3, "nta: send failed: {}", e);
            }
        }
        for e in events.drain(..) {
            match e {
                Event::Request {
                    server,
                    msg,
                    source,
                } => {
                    let request = ServerRequest {
                        server,
                        msg,
                        source,
                    };
                    match handler.as_mut().and_then(|h| h(&request)) {
                        Some(resp) => answers.push((server, resp)),
                        None => shared.sink.request(request),
                    }
                }
                Event::Response { client, msg } => {
                    if let Some(tx) = lock(&shared.state).clients.get(&client) {
                        let _ = tx.send(ClientEvent::Response(msg));
                    }
                }
                Event::Timeout { client } => {
                    if let Some(tx) = lock(&shared.state).clients.get(&client) {
                        let _ = tx.send(ClientEvent::Timeout);
                    }
                }
                Event::Terminated {
                    id: crate::endpoint::TransactionId::Client(client),
                } => {
                    lock(&shared.state).clients.remove(&client);
                    shared.sink.other(Event::Terminated {
                        id: crate::endpoint::TransactionId::Client(client),
                    });
                }
                other => shared.sink.other(other),
            }
        }
    }
}

/// Messages handled under one lock of the engine before the flush: what
/// the transport queued meanwhile goes through in one step, and its
/// responses go out together.
const BATCH: usize = 32;

async fn run(
    shared: Arc<Shared>,
    mut incoming: mpsc::Receiver<Incoming>,
    mut handler: Option<Handler>,
) {
    let (mut transmits, mut events) = (VecDeque::new(), VecDeque::new());
    // One timer, moved when the engine's next deadline changes, rather than
    // a new one registered with the runtime on every turn of the loop.
    let sleep = tokio::time::sleep_until(tokio::time::Instant::now());
    tokio::pin!(sleep);
    let mut armed: Option<Instant> = None;
    loop {
        if shared.closed.load(std::sync::atomic::Ordering::Acquire) {
            su_log!(NTA, 5, "nta: shut down");
            break;
        }
        flush(&shared, &mut transmits, &mut events, &mut handler).await;
        let next = lock(&shared.state).endpoint.poll_timeout();
        if next != armed {
            if let Some(at) = next {
                sleep.as_mut().reset(tokio::time::Instant::from_std(at));
            }
            armed = next;
        }
        tokio::select! {
            msg = incoming.recv() => match msg {
                Some(msg) => {
                    let mut state = lock(&shared.state);
                    let now = Instant::now();
                    state.endpoint.handle(now, msg);
                    for _ in 1..BATCH {
                        match incoming.try_recv() {
                            Ok(msg) => state.endpoint.handle(now, msg),
                            Err(_) => break,
                        }
                    }
                }
                None => break,
            },
            _ = &mut sleep, if armed.is_some() => {
                armed = None;
                lock(&shared.state).endpoint.handle_timeout(Instant::now());
            }
            _ = shared.wake.notified() => {}
        }
    }
}
