//! The user agent: [`Nua`], its [`Handle`]s, and the background task that
//! runs commands, transactions and refresh timers.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use bytes::Bytes;
use sofia_iptsec::AuthClient;
use sofia_msg::{HeaderName, Message, Method, RequestBuilder, ResponseBuilder, Scheme, Uri};
use sofia_nta::dialog::DialogId;
use sofia_nta::resolve::{Resolver, Target};
use sofia_nta::{Agent, AgentEvent, ClientEvent, ClientId, ServerId, ServerRequest};
use sofia_su::{IdGenerator, su_log};
use sofia_tport::{Tport, Transport};
use tokio::sync::mpsc;

use crate::call::{CALL_ALLOW, Call, CallEvent, CallOutput, CallParams, CallState, Purpose};
use crate::register::{Action, RegistrationParams, RegistrationState};
use crate::{Config, Error, Event, EventKind, HandleId};

mod usage;

/// Methods answered by the user agent, in its Allow header.
pub const ALLOW: &str = CALL_ALLOW;
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
    Invite {
        id: HandleId,
        late_offer: bool,
    },
    Respond {
        id: HandleId,
        status: u16,
        phrase: String,
    },
    Bye {
        id: HandleId,
    },
    Cancel {
        id: HandleId,
    },
    Hold {
        id: HandleId,
        hold: bool,
    },
    Reinvite {
        id: HandleId,
    },
    Update {
        id: HandleId,
    },
    Info {
        id: HandleId,
        content_type: String,
        body: Bytes,
    },
    Subscribe {
        id: HandleId,
        event: String,
        accept: Option<String>,
        expires: Option<u32>,
    },
    Unsubscribe {
        id: HandleId,
    },
    Publish {
        id: HandleId,
        event: String,
        content_type: String,
        body: Bytes,
        expires: Option<u32>,
    },
    Unpublish {
        id: HandleId,
    },
    Refer {
        id: HandleId,
        target: String,
    },
    ReferNotify {
        id: HandleId,
        status: u16,
        phrase: String,
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
    /// A response to (or the failure of) a request of a call.
    Call {
        id: HandleId,
        purpose: Purpose,
        ev: ClientEvent,
    },
    /// The next hop of a call's request or ACK, located.
    CallResolved {
        id: HandleId,
        output: CallOutput,
        targets: Result<Vec<Target>, String>,
    },
    /// A subscription's or publication's request located or answered.
    Usage(usage::UsageInternal),
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
            // The task answers requests of dialogs it does not know 481
            // itself (`Task::incoming`): a NOTIFY may come before the 2xx
            // of its SUBSCRIBE, with a tag no registered dialog has yet
            // (RFC 6665 §4.1.2.4), and must reach the subscription.
            ua: false,
            supported: ["timer", "replaces"]
                .into_iter()
                .chain(config.reliable_provisionals.then_some("100rel"))
                .map(str::to_string)
                .collect(),
            ..sofia_nta::Config::default()
        };
        let (agent, engine) = Agent::new_ordered(tport, incoming, nta_config);
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
            dialogs: HashMap::new(),
            invites: HashMap::new(),
            timer_heap: BinaryHeap::new(),
            usages: usage::Usages::default(),
        };
        tokio::spawn(task.run(commands_rx, engine, internal_rx));
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

    /// A handle for the handle id of an event, such as the new handle of an
    /// incoming call (`i_invite`), to answer it with [`Handle::respond`].
    /// Commands on an id the user agent does not know are ignored.
    pub fn handle_of(&self, id: HandleId) -> Handle {
        Handle {
            id,
            target: String::new(),
            commands: self.commands.clone(),
        }
    }

    /// Stops the user agent's task, its transaction engine and its
    /// transports (the sockets close). Registrations are not removed
    /// first: unregister and wait for `r_unregister` before shutting down.
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

    /// Calls the handle's URI: an INVITE with an SDP offer made from
    /// [`Config::media`]. Responses give `r_invite` events and the call's
    /// states `i_state` events (`calling`, `proceeding`, `ready`,
    /// `terminated`, ...).
    pub fn invite(&self) -> Result<(), Error> {
        self.send(Command::Invite {
            id: self.id,
            late_offer: false,
        })
    }

    /// Calls the handle's URI with an INVITE without SDP: the 2xx carries
    /// the offer and our ACK the answer (RFC 3264 §2's late offer).
    pub fn invite_late_offer(&self) -> Result<(), Error> {
        self.send(Command::Invite {
            id: self.id,
            late_offer: true,
        })
    }

    /// Answers the incoming call of this handle (sofia-sip's
    /// `nua_respond`): a provisional response (183 carries the SDP answer
    /// as early media), a 2xx (with the answer; retransmitted until the
    /// ACK), or a rejection such as 486 Busy Here, 480 or 603 Decline.
    pub fn respond(&self, status: u16, phrase: &str) -> Result<(), Error> {
        self.send(Command::Respond {
            id: self.id,
            status,
            phrase: phrase.to_string(),
        })
    }

    /// Hangs up: BYE in an established call, CANCEL while our INVITE is
    /// unanswered, 480 to an incoming call not answered yet.
    pub fn bye(&self) -> Result<(), Error> {
        self.send(Command::Bye { id: self.id })
    }

    /// Cancels our unanswered INVITE (the result is its `r_invite` 487).
    pub fn cancel(&self) -> Result<(), Error> {
        self.send(Command::Cancel { id: self.id })
    }

    /// Puts the call on hold (a re-INVITE with a `sendonly` offer, RFC 3264
    /// §8.4) or, with `false`, resumes it.
    pub fn hold(&self, hold: bool) -> Result<(), Error> {
        self.send(Command::Hold { id: self.id, hold })
    }

    /// Sends a re-INVITE with a new offer.
    pub fn reinvite(&self) -> Result<(), Error> {
        self.send(Command::Reinvite { id: self.id })
    }

    /// Sends an UPDATE (RFC 3311) with a new offer.
    pub fn update(&self) -> Result<(), Error> {
        self.send(Command::Update { id: self.id })
    }

    /// Sends an INFO in the call with this body; the final response gives
    /// an `r_info` event.
    pub fn info(&self, content_type: &str, body: impl Into<Bytes>) -> Result<(), Error> {
        self.send(Command::Info {
            id: self.id,
            content_type: content_type.to_string(),
            body: body.into(),
        })
    }

    /// Transfers the call: a REFER asking the peer to call `target`
    /// (RFC 3515). The 202 gives `r_refer`; the peer's NOTIFYs about the
    /// new call give `i_notify` events with a `message/sipfrag` body
    /// (`SIP/2.0 200 OK` when the transfer succeeded).
    pub fn refer(&self, target: &str) -> Result<(), Error> {
        self.send(Command::Refer {
            id: self.id,
            target: target.to_string(),
        })
    }

    /// After an `i_refer`: reports how the call to the Refer-To target is
    /// going (a NOTIFY with `SIP/2.0 <status> <phrase>`); a final status
    /// ends the transfer's subscription.
    pub fn refer_notify(&self, status: u16, phrase: &str) -> Result<(), Error> {
        self.send(Command::ReferNotify {
            id: self.id,
            status,
            phrase: phrase.to_string(),
        })
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
    call: Option<Call>,
    /// When the call ended; it is forgotten 64·T1 later (and the handle
    /// too, when an incoming call made it).
    call_ended: Option<Instant>,
    /// Made for an incoming call.
    incoming: bool,
    /// The call this one replaces (RFC 3891): hung up once this one is
    /// established.
    replaces: Option<HandleId>,
    /// The client transaction of the call's INVITE, for CANCEL.
    invite_client: Option<ClientId>,
    /// The wake-up in the timer heap that counts for this handle.
    scheduled: Option<Instant>,
}

impl HandleState {
    /// When the handle's next timer is due: its registration's refresh,
    /// its call's timers, and forgetting an ended call 64·T1 after it
    /// ended (`linger`).
    fn deadline(&self, linger: std::time::Duration) -> Option<Instant> {
        [
            self.registration
                .as_ref()
                .and_then(RegistrationState::poll_timeout),
            self.call.as_ref().and_then(Call::poll_timeout),
            self.call_ended.map(|t| t + linger),
        ]
        .into_iter()
        .flatten()
        .min()
    }
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
    /// The calls' dialogs, for in-dialog requests and ACKs.
    dialogs: HashMap<DialogId, HandleId>,
    /// Incoming INVITEs' server transactions, for CANCEL.
    invites: HashMap<ServerId, HandleId>,
    /// When each handle wants its timers run (see [`Task::schedule`]).
    timer_heap: BinaryHeap<Reverse<(Instant, HandleId)>>,
    /// Subscriptions and publications.
    usages: usage::Usages,
}

/// Our Contact URI for `user` at a listener: `;transport=tcp` for TCP,
/// `sips:` for TLS, so that requests to it come over that transport.
fn contact_uri(user: &str, listener: (Transport, SocketAddr)) -> String {
    let addr = host_port(listener.1);
    match listener.0 {
        Transport::Udp => format!("sip:{user}@{addr}"),
        Transport::Tcp => format!("sip:{user}@{addr};transport=tcp"),
        Transport::Tls => format!("sips:{user}@{addr}"),
    }
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
        mut engine: mpsc::UnboundedReceiver<AgentEvent>,
        mut internal: mpsc::UnboundedReceiver<Internal>,
    ) {
        loop {
            let next = self.timer_heap.peek().map(|Reverse((at, _))| *at);
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
                // Requests, ACKs and CANCELs in the order they came.
                ev = engine.recv() => match ev {
                    Some(AgentEvent::Request(req)) => self.incoming(req).await,
                    Some(AgentEvent::Event(ev)) => self.engine_event(ev).await,
                    None => break,
                },
                Some(msg) = internal.recv() => self.internal(msg).await,
                _ = sleep => self.timers().await,
            }
        }
        // The transaction engine and the transports end with the task.
        self.agent.shutdown();
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
            state: None,
            substate: None,
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
                    call: None,
                    call_ended: None,
                    incoming: false,
                    replaces: None,
                    scheduled: None,
                    invite_client: None,
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
                self.usage_destroy(id);
                if let Some(h) = self.handles.remove(&id)
                    && let Some(call) = h.call
                {
                    if let Some(d) = call.dialog() {
                        self.agent.remove_dialog(&d.id);
                        self.dialogs.remove(&d.id);
                    }
                    if let Some(s) = call.invite_server() {
                        self.invites.remove(&s);
                    }
                }
            }
            Command::Invite { id, late_offer } => {
                let busy = match self.handles.get(&id) {
                    None => return,
                    Some(h) => h
                        .call
                        .as_ref()
                        .is_some_and(|c| c.state() != CallState::Terminated),
                };
                if busy {
                    self.emit(id, EventKind::RInvite, 400, "Call In Progress", None)
                        .await;
                    return;
                }
                let Some(target) = self.handles.get(&id).map(|h| h.target.clone()) else {
                    return;
                };
                let transport = crate::call::transport_of(&target);
                let params = self.call_params(target, transport);
                let soa = sofia_soa::Session::new(self.media(), self.ids.u64());
                let auth = self.new_auth();
                let ids = IdGenerator::with_seed(self.ids.u64());
                let call = Call::outgoing(params, soa, auth, ids, late_offer);
                if let Some(h) = self.handles.get_mut(&id) {
                    h.call = Some(call);
                    h.call_ended = None;
                    h.invite_client = None;
                }
                self.drive(id).await;
            }
            Command::Respond { id, status, phrase } => {
                let r = self.with_call(id, |c| c.respond(now, status, &phrase));
                self.after_call_command(id, EventKind::IInvite, r).await;
            }
            Command::Bye { id } => {
                let r = self.with_call(id, |c| {
                    c.bye(now);
                    Ok(())
                });
                self.after_call_command(id, EventKind::RBye, r).await;
            }
            Command::Cancel { id } => {
                let r = self.with_call(id, |c| {
                    c.cancel();
                    Ok(())
                });
                self.after_call_command(id, EventKind::RInvite, r).await;
            }
            Command::Hold { id, hold } => {
                let r = self.with_call(id, |c| c.hold(now, hold));
                self.after_call_command(id, EventKind::RInvite, r).await;
            }
            Command::Reinvite { id } => {
                let r = self.with_call(id, |c| c.reinvite(now));
                self.after_call_command(id, EventKind::RInvite, r).await;
            }
            Command::Update { id } => {
                let r = self.with_call(id, |c| c.update(now));
                self.after_call_command(id, EventKind::RUpdate, r).await;
            }
            Command::Info {
                id,
                content_type,
                body,
            } => {
                let r = self.with_call(id, |c| c.info(&content_type, body));
                self.after_call_command(id, EventKind::RInfo, r).await;
            }
            cmd @ (Command::Subscribe { .. }
            | Command::Unsubscribe { .. }
            | Command::Publish { .. }
            | Command::Unpublish { .. }) => self.usage_command(now, cmd).await,
            Command::Refer { id, target } => {
                let r = self.with_call(id, |c| c.refer(&target));
                self.after_call_command(id, EventKind::RRefer, r).await;
            }
            Command::ReferNotify { id, status, phrase } => {
                let r = self.with_call(id, |c| c.refer_notify(status, &phrase));
                self.after_call_command(id, EventKind::RNotify, r).await;
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
        let listeners = self.agent.tport().listeners();
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
            let transport = crate::call::transport_of(&registrar);
            let listener = listeners
                .iter()
                .find(|l| l.0 == transport)
                .copied()
                .unwrap_or(local);
            let params = RegistrationParams {
                aor: h.target.clone(),
                registrar,
                contact: contact_override
                    .clone()
                    .unwrap_or_else(|| contact_uri(&contact_user, listener)),
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
        self.schedule(id);
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
            Internal::Call { id, purpose, ev } => self.call_event(id, purpose, ev).await,
            Internal::Usage(u) => self.usage_internal(u).await,
            Internal::CallResolved {
                id,
                output,
                targets,
            } => match targets.as_deref().map(<[Target]>::first) {
                Ok(Some(target)) => {
                    let target = target.clone();
                    self.call_send(id, output, target);
                    self.drive(id).await;
                }
                other => {
                    let reason = match other {
                        Err(e) => e.clone(),
                        _ => "no target".to_string(),
                    };
                    su_log!(NUA, 3, "nua: {id}: cannot resolve the next hop: {reason}");
                    if let CallOutput::Request { purpose, .. } = output
                        && let Some(call) = self.handles.get_mut(&id).and_then(|h| h.call.as_mut())
                    {
                        call.request_failed(
                            Instant::now(),
                            purpose,
                            503,
                            "Service Unavailable (DNS)",
                        );
                    }
                    self.drive(id).await;
                }
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
                self.schedule(id);
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

    /// Runs the registrations' refresh timers and the calls' timers that
    /// are due.
    async fn timers(&mut self) {
        let now = Instant::now();
        let mut due = Vec::new();
        while let Some(&Reverse((at, id))) = self.timer_heap.peek() {
            if at > now {
                break;
            }
            self.timer_heap.pop();
            // Entries superseded by an earlier wake-up are stale.
            if let Some(h) = self.handles.get_mut(&id)
                && h.scheduled == Some(at)
            {
                h.scheduled = None;
                due.push(id);
            }
        }
        for id in due {
            let reg_due = self
                .handles
                .get(&id)
                .and_then(|h| h.registration.as_ref())
                .and_then(RegistrationState::poll_timeout)
                .is_some_and(|at| at <= now);
            if reg_due
                && let Some(reg) = self
                    .handles
                    .get_mut(&id)
                    .and_then(|h| h.registration.as_mut())
            {
                let action = reg.handle_timeout(now);
                self.apply(id, action).await;
            }
            self.usage_timers(id, now).await;
            self.call_timers(id, now).await;
            self.schedule(id);
        }
    }

    /// Puts the handle's next wake-up in the timer heap: one entry per
    /// handle counts (`scheduled`); an earlier deadline supersedes it, a
    /// later one is pushed when the current one fires. The heap is rebuilt
    /// when stale entries outnumber the handles, so it stays bounded.
    fn schedule(&mut self, id: HandleId) {
        let linger = self.config.timers.t1x64();
        let usage_at = self.usages.deadline(id);
        let Some(h) = self.handles.get_mut(&id) else {
            return;
        };
        let Some(at) = h.deadline(linger).into_iter().chain(usage_at).min() else {
            return;
        };
        if h.scheduled.is_some_and(|s| s <= at) {
            return;
        }
        h.scheduled = Some(at);
        self.timer_heap.push(Reverse((at, id)));
        if self.timer_heap.len() > 4 * self.handles.len() + 1024 {
            self.timer_heap = self
                .handles
                .iter()
                .filter_map(|(id, h)| h.scheduled.map(|at| Reverse((at, *id))))
                .collect();
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
        let req = match self.usage_request(req).await {
            Ok(()) => return,
            Err(req) => req,
        };
        let msg = &req.msg;
        let req = if msg.to_tag().is_some() {
            match self.in_dialog(req).await {
                Ok(()) => return,
                Err(req) => req,
            }
        } else if msg.method() == Method::Invite {
            self.incoming_call(req).await;
            return;
        } else {
            req
        };
        let msg = &req.msg;
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

/// Calls: the driver side of [`Call`].
impl Task {
    /// The identities and settings of a new call with `remote` over
    /// `transport`: our Contact names that transport's listener
    /// (`;transport=tcp` for TCP, `sips:` for TLS), so that the peer's
    /// in-dialog requests come over it.
    fn call_params(&self, remote: String, transport: Transport) -> CallParams {
        let listener = self
            .agent
            .tport()
            .local_addr(transport)
            .map(|a| (transport, a))
            .unwrap_or(self.local);
        let contact = self
            .config
            .contact
            .clone()
            .unwrap_or_else(|| contact_uri(&self.user(), listener));
        CallParams {
            local_uri: self.local_identity(),
            remote_uri: remote,
            contact,
            user_agent: self.config.user_agent.clone(),
            listeners: self.agent.tport().listeners(),
            timers: self.config.timers,
            reliable_provisionals: self.config.reliable_provisionals,
            session_expires: self.config.session_expires,
            min_se: self.config.min_se.max(90),
        }
    }

    /// The local media of a new call.
    fn media(&self) -> sofia_soa::Capabilities {
        self.config
            .media
            .clone()
            .unwrap_or_else(|| crate::config::default_media(self.local.1.ip()))
    }

    /// Runs a command on the handle's call; `Err` when there is none or it
    /// refuses.
    fn with_call(
        &mut self,
        id: HandleId,
        f: impl FnOnce(&mut Call) -> Result<(), &'static str>,
    ) -> Result<(), &'static str> {
        match self.handles.get_mut(&id).and_then(|h| h.call.as_mut()) {
            Some(call) => f(call),
            None => Err("no call"),
        }
    }

    /// Reports a refused call command, then does what the call asks.
    async fn after_call_command(
        &mut self,
        id: HandleId,
        kind: EventKind,
        result: Result<(), &'static str>,
    ) {
        if let Err(reason) = result {
            su_log!(NUA, 3, "nua: {id}: {kind} refused: {reason}");
            self.emit(id, kind, 400, reason, None).await;
        }
        self.drive(id).await;
    }

    /// Does everything the handle's call asks for (and, once a call that
    /// replaces another is established, hangs up the other).
    async fn drive(&mut self, id: HandleId) {
        let mut work = vec![id];
        while let Some(id) = work.pop() {
            while let Some(out) = self
                .handles
                .get_mut(&id)
                .and_then(|h| h.call.as_mut())
                .and_then(Call::poll_output)
            {
                self.call_output(id, out).await;
            }
            let Some(h) = self.handles.get_mut(&id) else {
                continue;
            };
            let state = h.call.as_ref().map(Call::state);
            if h.call_ended.is_none() && state == Some(CallState::Terminated) {
                h.call_ended = Some(Instant::now());
            }
            self.schedule(id);
            let Some(h) = self.handles.get_mut(&id) else {
                continue;
            };
            if state == Some(CallState::Ready)
                && let Some(old) = h.replaces.take()
                && let Some(call) = self.handles.get_mut(&old).and_then(|h| h.call.as_mut())
            {
                su_log!(NUA, 5, "nua: {id} replaces {old}: hanging up {old}");
                call.bye(Instant::now());
                work.push(old);
            }
        }
    }

    async fn call_output(&mut self, id: HandleId, out: CallOutput) {
        match out {
            CallOutput::Event(e) => self.emit_call(id, e).await,
            CallOutput::DialogAdded(d) => {
                self.agent.add_dialog(d.clone());
                self.dialogs.insert(d, id);
            }
            CallOutput::DialogRemoved(d) => {
                self.agent.remove_dialog(&d);
                self.dialogs.remove(&d);
            }
            CallOutput::Respond { server, msg } => {
                if let Err(e) = self.agent.respond(server, msg) {
                    su_log!(NUA, 3, "nua: {id}: cannot answer: {e}");
                }
            }
            CallOutput::Cancel => {
                let client = self.handles.get(&id).and_then(|h| h.invite_client);
                if let Some(client) = client
                    && let Err(e) = self.agent.cancel(client)
                {
                    su_log!(NUA, 3, "nua: {id}: cannot CANCEL: {e}");
                }
            }
            CallOutput::Request { ref next_hop, .. } | CallOutput::Ack { ref next_hop, .. } => {
                let numeric = Uri::parse(next_hop)
                    .ok()
                    .and_then(|u| sofia_nta::resolve::numeric_target(&u));
                match numeric {
                    Some(target) => self.call_send(id, out, target),
                    None => {
                        let hop = next_hop.clone();
                        let resolver = self.resolver.clone();
                        let internal = self.internal.clone();
                        tokio::spawn(async move {
                            let targets = match Uri::parse(&hop) {
                                Ok(u) => resolver.resolve(&u).await.map_err(|e| e.to_string()),
                                Err(e) => Err(e.to_string()),
                            };
                            let _ = internal.send(Internal::CallResolved {
                                id,
                                output: out,
                                targets,
                            });
                        });
                    }
                }
            }
        }
    }

    /// Sends a call's request or ACK to its located next hop.
    fn call_send(&mut self, id: HandleId, out: CallOutput, target: Target) {
        let dest = sofia_tport::Destination::new(target.transport, target.addr);
        let (purpose, msg) = match out {
            CallOutput::Ack { msg, .. } => {
                su_log!(NUA, 5, "nua: {id}: sending ACK to {dest:?}");
                self.agent.send_stateless(&msg, dest);
                return;
            }
            CallOutput::Request { purpose, msg, .. } => (purpose, msg),
            _ => return,
        };
        su_log!(
            NUA,
            5,
            "nua: {id}: sending {} to {}/{}",
            msg.method_str(),
            target.transport,
            target.addr
        );
        match self.agent.start(msg, dest) {
            Ok((client, mut rx)) => {
                if purpose == Purpose::Invite
                    && let Some(h) = self.handles.get_mut(&id)
                {
                    h.invite_client = Some(client);
                }
                let internal = self.internal.clone();
                // An INVITE's receiver stays open for further 2xx responses
                // (retransmissions, forks) until its transaction ends.
                let invite = matches!(purpose, Purpose::Invite | Purpose::ReInvite);
                tokio::spawn(async move {
                    while let Some(ev) = rx.recv().await {
                        let last = match &ev {
                            ClientEvent::Timeout => true,
                            ClientEvent::Response(m) => !invite && m.status().unwrap_or(0) >= 200,
                        };
                        if internal.send(Internal::Call { id, purpose, ev }).is_err() || last {
                            break;
                        }
                    }
                });
            }
            Err(e) => {
                su_log!(NUA, 3, "nua: {id}: cannot send: {e}");
                if let Some(call) = self.handles.get_mut(&id).and_then(|h| h.call.as_mut()) {
                    call.request_failed(Instant::now(), purpose, 503, "Service Unavailable");
                }
            }
        }
    }

    async fn emit_call(&self, handle: HandleId, e: CallEvent) {
        su_log!(
            NUA,
            5,
            "nua: event {} {handle}: {} {}{}",
            e.kind,
            e.status,
            e.phrase,
            e.state.map(|s| format!(" ({s})")).unwrap_or_default()
        );
        let _ = self
            .events
            .send(Event {
                handle,
                kind: e.kind,
                status: e.status,
                phrase: e.phrase,
                message: e.message,
                state: e.state,
                substate: None,
            })
            .await;
    }

    /// What the transaction engine reports besides requests: ACKs of 2xx
    /// responses, CANCELs of INVITEs, ended transactions.
    async fn engine_event(&mut self, ev: sofia_nta::Event) {
        let now = Instant::now();
        match ev {
            sofia_nta::Event::Ack { msg, .. } => {
                let Some(id) = self.dialog_of(&msg) else {
                    su_log!(NUA, 5, "nua: ACK of no call dropped");
                    return;
                };
                if let Some(call) = self.handles.get_mut(&id).and_then(|h| h.call.as_mut()) {
                    call.handle_ack(now, msg);
                }
                self.drive(id).await;
            }
            sofia_nta::Event::Cancelled { invite, msg } => {
                let Some(&id) = self.invites.get(&invite) else {
                    return;
                };
                if let Some(call) = self.handles.get_mut(&id).and_then(|h| h.call.as_mut()) {
                    call.handle_cancel(now, msg);
                }
                self.drive(id).await;
            }
            sofia_nta::Event::Terminated {
                id: sofia_nta::TransactionId::Server(server),
            } => {
                self.invites.remove(&server);
            }
            _ => {}
        }
    }

    /// The handle whose call's dialog a request belongs to.
    fn dialog_of(&self, msg: &Message) -> Option<HandleId> {
        let id = DialogId {
            call_id: msg.call_id()?.to_string(),
            local_tag: msg.to_tag()?.to_string(),
            remote_tag: msg.from_tag().unwrap_or_default().to_string(),
        };
        self.dialogs.get(&id).copied()
    }

    /// A request inside a call's dialog; `false` when no call has it.
    async fn in_dialog(&mut self, req: ServerRequest) -> Result<(), ServerRequest> {
        let Some(id) = self.dialog_of(&req.msg) else {
            return Err(req);
        };
        let Some(call) = self.handles.get_mut(&id).and_then(|h| h.call.as_mut()) else {
            return Err(req);
        };
        call.handle_request(Instant::now(), req.server, req.msg);
        self.drive(id).await;
        Ok(())
    }

    /// The call an INVITE's `Replaces` names (RFC 3891 §3): its Call-ID,
    /// `to-tag` our tag and `from-tag` the peer's; `Err` with the answer
    /// when it cannot be replaced.
    fn replaced_call(&self, msg: &Message) -> Result<Option<HandleId>, (u16, &'static str)> {
        let Some(value) = msg.typed::<sofia_msg::headers::Replaces>() else {
            return Ok(None);
        };
        let r = value.map_err(|_| (400, "Bad Replaces Header"))?;
        let id = DialogId {
            call_id: r.call_id.to_string(),
            local_tag: r.to_tag().unwrap_or_default().to_string(),
            remote_tag: r.from_tag().unwrap_or_default().to_string(),
        };
        let no_dialog = (481, "Call/Transaction Does Not Exist");
        let handle = *self.dialogs.get(&id).ok_or(no_dialog)?;
        let call = self
            .handles
            .get(&handle)
            .and_then(|h| h.call.as_ref())
            .ok_or(no_dialog)?;
        match call.state() {
            CallState::Ready | CallState::Completed | CallState::Completing => {
                if r.early_only() {
                    Err((486, "Busy Here"))
                } else {
                    Ok(Some(handle))
                }
            }
            // An early dialog we placed can be replaced (call pickup);
            // one we received cannot (§3).
            CallState::Calling | CallState::Proceeding => Ok(Some(handle)),
            _ => Err(no_dialog),
        }
    }

    /// A new incoming call: a handle of its own and an `i_invite`.
    async fn incoming_call(&mut self, req: ServerRequest) {
        let replaces = match self.replaced_call(&req.msg) {
            Ok(r) => r,
            Err((status, phrase)) => {
                su_log!(NUA, 5, "nua: INVITE with Replaces answered {status}");
                let tag = self.agent.tag();
                let resp = ResponseBuilder::reply_to(&req.msg, status, phrase, Some(&tag))
                    .header(HeaderName::Server, &self.config.user_agent)
                    .build();
                if let Ok(resp) = resp
                    && let Err(e) = self.agent.respond(req.server, resp)
                {
                    su_log!(NUA, 3, "nua: cannot answer: {e}");
                }
                return;
            }
        };
        let id = HandleId(self.next_id.fetch_add(1, Ordering::Relaxed));
        let remote = req
            .msg
            .from()
            .map(|f| f.uri().as_str().to_string())
            .unwrap_or_default();
        let secure = req.source.transport == Transport::Tls
            && req
                .msg
                .request_uri()
                .and_then(Result::ok)
                .is_some_and(|u| u.scheme() == Scheme::Sips);
        let params = self.call_params(remote.clone(), req.source.transport);
        let soa = sofia_soa::Session::new(self.media(), self.ids.u64());
        let auth = self.new_auth();
        let ids = IdGenerator::with_seed(self.ids.u64());
        let call = Call::incoming(params, soa, auth, ids, req.server, req.msg, secure);
        self.invites.insert(req.server, id);
        let host = self.local.1.ip().to_string();
        let state = HandleState {
            target: remote,
            call_id: self.ids.call_id(Some(&host)),
            from_tag: self.ids.tag(),
            cseq: 0,
            auth: self.new_auth(),
            registration: None,
            call: Some(call),
            call_ended: None,
            incoming: true,
            replaces,
            scheduled: None,
            invite_client: None,
        };
        self.handles.insert(id, state);
        self.drive(id).await;
    }

    /// A response to a call's request, or its failure.
    async fn call_event(&mut self, id: HandleId, purpose: Purpose, ev: ClientEvent) {
        let now = Instant::now();
        let Some(call) = self.handles.get_mut(&id).and_then(|h| h.call.as_mut()) else {
            return;
        };
        match ev {
            ClientEvent::Response(msg) => call.handle_response(now, purpose, msg),
            ClientEvent::Timeout => call.request_failed(now, purpose, 408, "Request Timeout"),
        }
        self.drive(id).await;
    }

    /// Runs the handle's call timers that are due and forgets its call
    /// 64·T1 after it ended (and the handle, when an incoming call made
    /// it).
    async fn call_timers(&mut self, id: HandleId, now: Instant) {
        let linger = self.config.timers.t1x64();
        let Some(h) = self.handles.get_mut(&id) else {
            return;
        };
        if let Some(call) = h.call.as_mut()
            && call.poll_timeout().is_some_and(|at| at <= now)
        {
            call.handle_timeout(now);
            self.drive(id).await;
        }
        let Some(h) = self.handles.get_mut(&id) else {
            return;
        };
        if h.call_ended.is_some_and(|t| t + linger <= now) {
            if h.incoming {
                self.handles.remove(&id);
                self.usage_destroy(id);
            } else {
                h.call = None;
                h.call_ended = None;
                h.invite_client = None;
            }
        }
    }
}
