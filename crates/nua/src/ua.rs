//! The user agent: [`Nua`], its [`Handle`]s, and the background task that
//! runs commands, transactions and refresh timers.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use bytes::Bytes;
use sofia_iptsec::AuthClient;
use sofia_msg::{HeaderName, Message, Method, RequestBuilder, ResponseBuilder, Scheme, Uri};
use sofia_nta::resolve::{Resolver, Target};
use sofia_nta::{Agent, ClientEvent, ServerRequest};
use sofia_su::{IdGenerator, su_log};
use sofia_tport::{Tport, Transport};
use tokio::sync::mpsc;

use crate::register::{Action, RegistrationParams, RegistrationState};
use crate::{Config, Error, Event, EventKind, HandleId};

/// Methods answered by the user agent, in its Allow header.
pub const ALLOW: &str = "MESSAGE, OPTIONS";
/// Body types accepted in MESSAGE, in the Accept header of OPTIONS answers.
pub const ACCEPT: &str = "text/plain, application/im-iscomposing+xml, */*";
/// Challenges answered in a row for one MESSAGE or OPTIONS.
const MAX_AUTH_ROUNDS: u32 = 3;

/// What a handle is asked to do.
#[derive(Debug)]
enum Command {
    NewHandle {
        id: HandleId,
        target: String,
    },
    Register {
        id: HandleId,
        expires: Option<u32>,
    },
    Unregister {
        id: HandleId,
        all: bool,
    },
    Message {
        id: HandleId,
        content_type: String,
        body: Bytes,
    },
    Options {
        id: HandleId,
    },
    Destroy {
        id: HandleId,
    },
    Shutdown,
}

/// A MESSAGE or OPTIONS of a handle, kept for answering challenges.
#[derive(Debug, Clone)]
enum Outgoing {
    Message { content_type: String, body: Bytes },
    Options,
}

impl Outgoing {
    fn method(&self) -> Method {
        match self {
            Outgoing::Message { .. } => Method::Message,
            Outgoing::Options => Method::Options,
        }
    }

    fn event(&self) -> EventKind {
        match self {
            Outgoing::Message { .. } => EventKind::RMessage,
            Outgoing::Options => EventKind::ROptions,
        }
    }
}

/// What a request being resolved or sent is for.
#[derive(Debug, Clone)]
enum Job {
    /// A REGISTER; its CSeq once built.
    Register {
        cseq: Option<u32>,
    },
    Request {
        outgoing: Outgoing,
        rounds: u32,
    },
}

/// What the helper tasks tell the main loop.
#[derive(Debug)]
enum Internal {
    Resolved {
        id: HandleId,
        job: Job,
        targets: Result<Vec<Target>, String>,
    },
    Client {
        id: HandleId,
        job: Job,
        ev: ClientEvent,
    },
}

/// A user agent: owns a transaction engine ([`Agent`]) on its transports
/// and a background task; commands go through [`Handle`]s, results come
/// back as [`Event`]s on the receiver [`Nua::new`] returns.
#[derive(Debug, Clone)]
pub struct Nua {
    commands: mpsc::UnboundedSender<Command>,
    next_id: Arc<AtomicU64>,
    listeners: Vec<(Transport, SocketAddr)>,
}

/// One peer or address of record to act on (sofia-sip's `nua_handle_t`).
/// Cheap to clone; every clone drives the same handle.
#[derive(Debug, Clone)]
pub struct Handle {
    id: HandleId,
    target: String,
    commands: mpsc::UnboundedSender<Command>,
}

impl Nua {
    /// Binds the transports, starts the transaction engine and the user
    /// agent's task (on the current tokio runtime), and returns the user
    /// agent and its events.
    pub async fn new(config: Config) -> Result<(Nua, mpsc::Receiver<Event>), Error> {
        let (tport, incoming) = Tport::bind(sofia_tport::Config::new(config.bind.clone())).await?;
        let listeners = tport.listeners();
        let local = tport
            .local_addr(Transport::Udp)
            .map(|a| (Transport::Udp, a))
            .or_else(|| {
                tport
                    .local_addr(Transport::Tcp)
                    .map(|a| (Transport::Tcp, a))
            })
            .ok_or(Error::NoLocalAddress)?;
        let nta_config = sofia_nta::Config {
            timers: config.timers,
            seed: config.seed,
            ..sofia_nta::Config::default()
        };
        let (agent, requests, others) = Agent::new(tport, incoming, nta_config);
        let (commands, commands_rx) = mpsc::unbounded_channel();
        let (events_tx, events_rx) = mpsc::channel(config.event_queue.max(1));
        let (internal_tx, internal_rx) = mpsc::unbounded_channel();
        let resolver = Arc::new(Resolver::system().unwrap_or_else(|e| {
            su_log!(NUA, 3, "nua: no system resolver ({e}); numeric hosts only");
            Resolver::with_servers(&[])
        }));
        let next_id = Arc::new(AtomicU64::new(1));
        let ids = match config.seed {
            Some(seed) => IdGenerator::with_seed(seed),
            None => IdGenerator::from_os(),
        };
        let task = Task {
            config,
            agent,
            local,
            resolver,
            events: events_tx,
            internal: internal_tx,
            handles: HashMap::new(),
            ids,
            next_id: next_id.clone(),
        };
        tokio::spawn(task.run(commands_rx, requests, others, internal_rx));
        Ok((
            Nua {
                commands,
                next_id,
                listeners,
            },
            events_rx,
        ))
    }

    /// The transports' bound addresses.
    pub fn listeners(&self) -> &[(Transport, SocketAddr)] {
        &self.listeners
    }

    /// A handle for the peer or address of record `to` (a `sip:` or `sips:`
    /// URI): the To of its requests, the address of record of its
    /// registrations.
    pub fn handle(&self, to: &str) -> Result<Handle, Error> {
        let uri = Uri::parse(to).map_err(|e| Error::Uri {
            uri: to.to_string(),
            reason: e.to_string(),
        })?;
        if !matches!(uri.scheme(), Scheme::Sip | Scheme::Sips) {
            return Err(Error::Uri {
                uri: to.to_string(),
                reason: "not a sip: or sips: URI".into(),
            });
        }
        let id = HandleId(self.next_id.fetch_add(1, Ordering::Relaxed));
        self.commands
            .send(Command::NewHandle {
                id,
                target: to.to_string(),
            })
            .map_err(|_| Error::Closed)?;
        Ok(Handle {
            id,
            target: to.to_string(),
            commands: self.commands.clone(),
        })
    }

    /// Stops the user agent's task. Registrations are not removed first:
    /// unregister and wait for `r_unregister` before shutting down.
    pub fn shutdown(&self) {
        let _ = self.commands.send(Command::Shutdown);
    }
}

impl Handle {
    /// The handle's identity, as in its events.
    pub fn id(&self) -> HandleId {
        self.id
    }

    /// The URI the handle was made for.
    pub fn target(&self) -> &str {
        &self.target
    }

    fn send(&self, command: Command) -> Result<(), Error> {
        self.commands.send(command).map_err(|_| Error::Closed)
    }

    /// Registers our contact at the handle's address of record for
    /// `expires` seconds (`None`: [`Config::register_expires`]) and keeps
    /// refreshing it (see [`refresh_delay`](crate::refresh_delay)). Each
    /// final response gives an `r_register` event.
    pub fn register(&self, expires: Option<u32>) -> Result<(), Error> {
        self.send(Command::Register {
            id: self.id,
            expires,
        })
    }

    /// Removes our contact (`Contact: <ours>;expires=0`, `Expires: 0`) and
    /// stops refreshing; the final response gives an `r_unregister` event.
    pub fn unregister(&self) -> Result<(), Error> {
        self.send(Command::Unregister {
            id: self.id,
            all: false,
        })
    }

    /// Removes every contact of the address of record (`Contact: *`,
    /// `Expires: 0`); the final response gives an `r_unregister` event.
    pub fn unregister_all(&self) -> Result<(), Error> {
        self.send(Command::Unregister {
            id: self.id,
            all: true,
        })
    }

    /// Sends a MESSAGE (RFC 3428) with this body; the final response gives
    /// an `r_message` event.
    pub fn message(&self, content_type: &str, body: impl Into<Bytes>) -> Result<(), Error> {
        self.send(Command::Message {
            id: self.id,
            content_type: content_type.to_string(),
            body: body.into(),
        })
    }

    /// Sends an OPTIONS; the final response gives an `r_options` event.
    pub fn options(&self) -> Result<(), Error> {
        self.send(Command::Options { id: self.id })
    }

    /// Forgets the handle (its registration stops refreshing, without
    /// unregistering).
    pub fn destroy(self) -> Result<(), Error> {
        self.send(Command::Destroy { id: self.id })
    }
}

/// What the task keeps of one handle.
#[derive(Debug)]
struct HandleState {
    target: String,
    call_id: String,
    from_tag: String,
    cseq: u32,
    auth: AuthClient,
    registration: Option<RegistrationState>,
}

/// The background task.
struct Task {
    config: Config,
    agent: Agent,
    local: (Transport, SocketAddr),
    resolver: Arc<Resolver>,
    events: mpsc::Sender<Event>,
    internal: mpsc::UnboundedSender<Internal>,
    handles: HashMap<HandleId, HandleState>,
    ids: IdGenerator,
    next_id: Arc<AtomicU64>,
}

fn host_port(addr: SocketAddr) -> String {
    match addr {
        SocketAddr::V4(a) => a.to_string(),
        SocketAddr::V6(a) => format!("[{}]:{}", a.ip(), a.port()),
    }
}

impl Task {
    async fn run(
        mut self,
        mut commands: mpsc::UnboundedReceiver<Command>,
        mut requests: mpsc::UnboundedReceiver<ServerRequest>,
        mut others: mpsc::UnboundedReceiver<sofia_nta::Event>,
        mut internal: mpsc::UnboundedReceiver<Internal>,
    ) {
        loop {
            let next = self
                .handles
                .values()
                .filter_map(|h| h.registration.as_ref()?.poll_timeout())
                .min();
            let sleep = async {
                match next {
                    Some(at) => tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await,
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                cmd = commands.recv() => match cmd {
                    Some(Command::Shutdown) | None => break,
                    Some(cmd) => self.command(cmd).await,
                },
                req = requests.recv() => match req {
                    Some(req) => self.incoming(req).await,
                    None => break,
                },
                ev = others.recv() => if ev.is_none() { break },
                Some(msg) = internal.recv() => self.internal(msg).await,
                _ = sleep => self.timers().await,
            }
        }
        su_log!(NUA, 5, "nua: shut down");
    }

    async fn emit(
        &self,
        handle: HandleId,
        kind: EventKind,
        status: u16,
        phrase: &str,
        message: Option<Message>,
    ) {
        su_log!(NUA, 5, "nua: event {kind} {handle}: {status} {phrase}");
        let event = Event {
            handle,
            kind,
            status,
            phrase: phrase.to_string(),
            message,
        };
        // Nobody listening is not an error: the commands still run.
        let _ = self.events.send(event).await;
    }

    fn user(&self) -> String {
        self.config
            .credentials
            .first()
            .map(|c| c.user.clone())
            .unwrap_or_else(|| "nua".to_string())
    }

    fn local_identity(&self) -> String {
        self.config
            .from
            .clone()
            .unwrap_or_else(|| format!("sip:{}@{}", self.user(), host_port(self.local.1)))
    }

    fn new_auth(&mut self) -> AuthClient {
        let mut auth = match self.config.seed {
            Some(_) => AuthClient::with_ids(IdGenerator::with_seed(self.ids.u64())),
            None => AuthClient::new(),
        };
        for c in &self.config.credentials {
            auth.add_credentials(c.realm.as_deref(), &c.user, &c.password);
        }
        auth
    }

    async fn command(&mut self, cmd: Command) {
        su_log!(NUA, 5, "nua: command {cmd:?}");
        let now = Instant::now();
        match cmd {
            Command::NewHandle { id, target } => {
                let host = self.local.1.ip().to_string();
                let state = HandleState {
                    target,
                    call_id: self.ids.call_id(Some(&host)),
                    from_tag: self.ids.tag(),
                    cseq: 0,
                    auth: self.new_auth(),
                    registration: None,
                };
                self.handles.insert(id, state);
            }
            Command::Register { id, expires } => {
                let expires = expires.unwrap_or(self.config.register_expires);
                if !self.handles.contains_key(&id) {
                    return;
                }
                let Some(reg) = self.registration(id) else {
                    self.emit(
                        id,
                        EventKind::RRegister,
                        400,
                        "Invalid address of record",
                        None,
                    )
                    .await;
                    return;
                };
                let action = reg.register(now, expires);
                self.apply(id, action).await;
            }
            Command::Unregister { id, all } => {
                if !self.handles.contains_key(&id) {
                    return;
                }
                let Some(reg) = self.registration(id) else {
                    self.emit(
                        id,
                        EventKind::RUnregister,
                        400,
                        "Invalid address of record",
                        None,
                    )
                    .await;
                    return;
                };
                let action = reg.unregister(now, all);
                self.apply(id, action).await;
            }
            Command::Message {
                id,
                content_type,
                body,
            } => {
                self.resolve(
                    id,
                    Job::Request {
                        outgoing: Outgoing::Message { content_type, body },
                        rounds: 0,
                    },
                );
            }
            Command::Options { id } => {
                self.resolve(
                    id,
                    Job::Request {
                        outgoing: Outgoing::Options,
                        rounds: 0,
                    },
                );
            }
            Command::Destroy { id } => {
                self.handles.remove(&id);
            }
            Command::Shutdown => {}
        }
    }

    /// The handle's registration, created on first use.
    fn registration(&mut self, id: HandleId) -> Option<&mut RegistrationState> {
        let user = self.user();
        let local = self.local;
        let contact_override = self.config.contact.clone();
        let user_agent = self.config.user_agent.clone();
        let auth = self.new_auth();
        let tag = self.ids.tag();
        let call_id = self.ids.call_id(Some(&local.1.ip().to_string()));
        let h = self.handles.get_mut(&id)?;
        if h.registration.is_none() {
            let aor = Uri::parse(&h.target).ok()?;
            let registrar = match aor.port() {
                Some(p) => format!("{}:{}:{p}", aor.scheme_str(), aor.host()),
                None => format!("{}:{}", aor.scheme_str(), aor.host()),
            };
            let registrar = match aor.transport() {
                Some(t) => format!("{registrar};transport={t}"),
                None => registrar,
            };
            let contact_user = aor.user().unwrap_or(&user).to_string();
            let transport = match local.0 {
                Transport::Udp => "",
                _ => ";transport=tcp",
            };
            let params = RegistrationParams {
                aor: h.target.clone(),
                registrar,
                contact: contact_override.clone().unwrap_or_else(|| {
                    format!("sip:{contact_user}@{}{transport}", host_port(local.1))
                }),
                contact_fixed: contact_override.is_some(),
                call_id,
                from_tag: tag,
                user_agent: Some(user_agent),
            };
            h.registration = Some(RegistrationState::new(params, auth));
        }
        h.registration.as_mut()
    }

    /// Reports and sends what a registration asks for.
    async fn apply(&mut self, id: HandleId, action: Action) {
        if let Some(r) = action.report {
            let kind = if r.unregister {
                EventKind::RUnregister
            } else {
                EventKind::RRegister
            };
            self.emit(id, kind, r.status, &r.phrase, None).await;
        }
        if action.send {
            self.resolve(id, Job::Register { cseq: None });
        }
    }

    /// Locates the request's destination (RFC 3263) in a helper task; the
    /// request is built and sent when the answer is back.
    fn resolve(&mut self, id: HandleId, job: Job) {
        let Some(h) = self.handles.get(&id) else {
            return;
        };
        let uri = match (&job, &h.registration) {
            (Job::Register { .. }, Some(r)) => r.registrar().to_string(),
            _ => h.target.clone(),
        };
        let resolver = self.resolver.clone();
        let internal = self.internal.clone();
        tokio::spawn(async move {
            let targets = match Uri::parse(&uri) {
                Ok(u) => resolver.resolve(&u).await.map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            let _ = internal.send(Internal::Resolved { id, job, targets });
        });
    }

    async fn internal(&mut self, msg: Internal) {
        match msg {
            Internal::Resolved { id, job, targets } => match targets {
                Ok(targets) => self.send(id, job, targets).await,
                Err(e) => {
                    su_log!(NUA, 3, "nua: {id}: cannot resolve the destination: {e}");
                    self.failed(id, job, 503, "Service Unavailable (DNS)").await;
                }
            },
            Internal::Client { id, job, ev } => match ev {
                ClientEvent::Timeout => self.failed(id, job, 408, "Request Timeout").await,
                ClientEvent::Response(msg) => self.response(id, job, msg).await,
            },
        }
    }

    /// A request that got no response.
    async fn failed(&mut self, id: HandleId, job: Job, status: u16, phrase: &str) {
        match job {
            Job::Register { cseq } => {
                let now = Instant::now();
                let Some(reg) = self
                    .handles
                    .get_mut(&id)
                    .and_then(|h| h.registration.as_mut())
                else {
                    return;
                };
                let action = reg.transaction_failed(now, cseq, status, phrase);
                self.apply(id, action).await;
            }
            Job::Request { outgoing, .. } => {
                self.emit(id, outgoing.event(), status, phrase, None).await;
            }
        }
    }

    /// Builds the request of `job` and sends it to `targets`.
    async fn send(&mut self, id: HandleId, job: Job, targets: Vec<Target>) {
        let Some(first) = targets.first() else {
            self.failed(id, job, 503, "Service Unavailable (no target)")
                .await;
            return;
        };
        let Some(via) = self.agent.via(first.transport) else {
            self.failed(id, job, 503, "Service Unavailable (no local address)")
                .await;
            return;
        };
        let from = self.local_identity();
        let user_agent = self.config.user_agent.clone();
        let Some(h) = self.handles.get_mut(&id) else {
            return;
        };
        let built = match &job {
            Job::Register { .. } => match h.registration.as_mut() {
                Some(reg) => reg.build_request(&via),
                None => return,
            },
            Job::Request { outgoing, .. } => {
                h.cseq += 1;
                let method = outgoing.method();
                let uri = h.target.clone();
                let mut b = RequestBuilder::new(method, &uri)
                    .header(HeaderName::Via, &via)
                    .header(HeaderName::MaxForwards, "70")
                    .header(HeaderName::From, &format!("<{from}>;tag={}", h.from_tag))
                    .header(HeaderName::To, &format!("<{uri}>"))
                    .header(HeaderName::CallId, &h.call_id)
                    .header(HeaderName::CSeq, &format!("{} {}", h.cseq, method.as_str()))
                    .header(HeaderName::UserAgent, &user_agent);
                let body: &[u8] = match outgoing {
                    Outgoing::Message { body, .. } => body,
                    Outgoing::Options => b"",
                };
                for (name, value) in h.auth.authorize(method.as_str(), &uri, body) {
                    b = b.header(name, &value);
                }
                match outgoing {
                    Outgoing::Message { content_type, body } => {
                        b.body(content_type, body.clone()).build()
                    }
                    Outgoing::Options => b
                        .header(HeaderName::Accept, ACCEPT)
                        .header(HeaderName::Allow, ALLOW)
                        .build(),
                }
                .map_err(Error::from)
            }
        };
        let msg = match built {
            Ok(msg) => msg,
            Err(e) => {
                su_log!(NUA, 3, "nua: {id}: cannot build the request: {e}");
                self.emit(id, EventKind::IError, 500, &e.to_string(), None)
                    .await;
                self.failed(id, job, 500, "Request Not Built").await;
                return;
            }
        };
        let job = match job {
            Job::Register { .. } => Job::Register {
                cseq: msg.cseq().map(|c| c.0),
            },
            other => other,
        };
        su_log!(
            NUA,
            5,
            "nua: {id}: sending {} {} to {}/{}",
            msg.method_str(),
            msg.request_uri_str().unwrap_or(""),
            first.transport,
            first.addr
        );
        let mut rx = match self.agent.request_with_failover(msg, targets) {
            Ok(rx) => rx,
            Err(e) => {
                su_log!(NUA, 3, "nua: {id}: cannot send: {e}");
                self.failed(id, job, 503, "Service Unavailable").await;
                return;
            }
        };
        let internal = self.internal.clone();
        tokio::spawn(async move {
            while let Some(ev) = rx.recv().await {
                let last = match &ev {
                    ClientEvent::Timeout => true,
                    ClientEvent::Response(m) => m.status().unwrap_or(0) >= 200,
                };
                let job = job.clone();
                if internal.send(Internal::Client { id, job, ev }).is_err() || last {
                    break;
                }
            }
        });
    }

    async fn response(&mut self, id: HandleId, job: Job, msg: Message) {
        let status = msg.status().unwrap_or(0);
        su_log!(
            NUA,
            5,
            "nua: {id}: {status} {} to {}",
            msg.reason().unwrap_or(""),
            msg.cseq_method_str().unwrap_or("")
        );
        match job {
            Job::Register { .. } => {
                let now = Instant::now();
                let Some(reg) = self
                    .handles
                    .get_mut(&id)
                    .and_then(|h| h.registration.as_mut())
                else {
                    return;
                };
                let action = reg.handle_response(now, &msg);
                // Reported here rather than in `apply`: the response goes
                // with the event.
                if let Some(r) = action.report {
                    let kind = if r.unregister {
                        EventKind::RUnregister
                    } else {
                        EventKind::RRegister
                    };
                    self.emit(id, kind, r.status, &r.phrase, Some(msg)).await;
                }
                if action.send {
                    self.resolve(id, Job::Register { cseq: None });
                }
            }
            Job::Request { outgoing, rounds } => {
                if status < 200 {
                    return;
                }
                let Some(h) = self.handles.get_mut(&id) else {
                    return;
                };
                if status == 401 || status == 407 {
                    match h.auth.handle_response(&msg) {
                        Ok(true) if rounds < MAX_AUTH_ROUNDS => {
                            self.resolve(
                                id,
                                Job::Request {
                                    outgoing,
                                    rounds: rounds + 1,
                                },
                            );
                            return;
                        }
                        Ok(_) => {}
                        Err(e) => su_log!(NUA, 3, "nua: {id}: not authenticated: {e}"),
                    }
                } else {
                    let _ = h.auth.handle_response(&msg);
                }
                let phrase = msg.reason().unwrap_or("").to_string();
                self.emit(id, outgoing.event(), status, &phrase, Some(msg))
                    .await;
            }
        }
    }

    /// Runs the registrations' refresh timers that are due.
    async fn timers(&mut self) {
        let now = Instant::now();
        let due: Vec<HandleId> = self
            .handles
            .iter()
            .filter(|(_, h)| {
                h.registration
                    .as_ref()
                    .and_then(|r| r.poll_timeout())
                    .is_some_and(|at| at <= now)
            })
            .map(|(id, _)| *id)
            .collect();
        for id in due {
            if let Some(reg) = self
                .handles
                .get_mut(&id)
                .and_then(|h| h.registration.as_mut())
            {
                let action = reg.handle_timeout(now);
                self.apply(id, action).await;
            }
        }
    }

    /// Answers a request from outside: MESSAGE and OPTIONS get 200 and an
    /// event; ACK gets nothing; a request inside a dialog gets 481; any
    /// other method 405 with Allow.
    async fn incoming(&mut self, req: ServerRequest) {
        let msg = &req.msg;
        su_log!(
            NUA,
            5,
            "nua: received {} from {}",
            msg.method_str(),
            req.source.remote
        );
        if msg.method() == Method::Ack {
            return;
        }
        let tag = self.agent.tag();
        let id = HandleId(self.next_id.fetch_add(1, Ordering::Relaxed));
        let (status, phrase, kind) = if msg.to_tag().is_some() {
            (481, "Call/Transaction Does Not Exist", None)
        } else {
            match msg.method() {
                Method::Message => (200, "OK", Some(EventKind::IMessage)),
                Method::Options => (200, "OK", Some(EventKind::IOptions)),
                _ => (405, "Method Not Allowed", None),
            }
        };
        let mut b = ResponseBuilder::reply_to(msg, status, phrase, Some(&tag))
            .header(HeaderName::Server, &self.config.user_agent);
        if status == 405 || msg.method() == Method::Options {
            b = b.header(HeaderName::Allow, ALLOW);
        }
        if msg.method() == Method::Options && status == 200 {
            b = b
                .header(HeaderName::Accept, ACCEPT)
                .header(HeaderName::Supported, "");
        }
        let sent = match b.build() {
            Ok(resp) => self
                .agent
                .respond(req.server, resp)
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        if let Err(e) = sent {
            su_log!(NUA, 2, "nua: cannot answer {}: {e}", msg.method_str());
            self.emit(id, EventKind::IError, 500, &e, Some(req.msg))
                .await;
            return;
        }
        if let Some(kind) = kind {
            self.emit(id, kind, status, phrase, Some(req.msg)).await;
        }
    }
}
