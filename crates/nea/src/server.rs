//! The tokio driver: a [`Notifier`] bound to an nta [`Agent`], its timers
//! run on the real clock.
//!
//! The application keeps the agent's request stream and hands SUBSCRIBEs to
//! [`Server::handle`] (or gives the whole stream to [`Server::serve`]). The
//! driver answers them through the notifier, sends every NOTIFY the notifier
//! owes as a client transaction to the dialog's next hop (RFC 3263 for host
//! names), and feeds each outcome back: 481, 408, other failures and
//! timeouts end the subscription.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use sofia_msg::{HeaderName, Message, Method, ResponseBuilder, Scheme, Uri};
use sofia_nta::dialog::DialogId;
use sofia_nta::resolve::Resolver;
use sofia_nta::{Agent, ClientEvent, ServerRequest};
use sofia_su::su_log;
use sofia_tport::{Destination, Transport};
use tokio::sync::mpsc;

use crate::notifier::{Decision, Error, Notifier, Notify, SubId, SubscriptionInfo};

/// What the driver reports on [`Server::events`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerEvent {
    /// A new subscription was accepted (active or pending).
    Subscribed(SubscriptionInfo),
    /// A NOTIFY was answered: its `Subscription-State` and the final status
    /// (`None`: no answer in time, or it could not be sent).
    Notified {
        /// The subscription.
        sub: SubId,
        /// The NOTIFY's `Subscription-State` value.
        state: String,
        /// The final status.
        status: Option<u16>,
    },
    /// A subscription ended: its final NOTIFY went, or a NOTIFY failed.
    Ended {
        /// The subscription.
        sub: SubId,
    },
}

/// How many events wait on [`Server::events`] before further ones are
/// dropped.
pub const EVENT_QUEUE: usize = 1024;

type Authorize = Box<dyn FnMut(&SubscriptionInfo) -> Decision + Send>;

struct Inner {
    notifier: Notifier,
    authorize: Authorize,
    /// The dialog of each subscription, registered with the agent.
    dialogs: HashMap<SubId, DialogId>,
    /// NOTIFY transactions not yet finished.
    in_flight: usize,
    /// After [`Server::shutdown`]: new subscriptions get 503.
    closing: bool,
}

struct Shared {
    inner: Mutex<Inner>,
    agent: Agent,
    /// Wakes the driver task: new NOTIFYs may be owed.
    wake: tokio::sync::Notify,
    /// Wakes [`Server::shutdown`]: a NOTIFY transaction finished.
    idle: tokio::sync::Notify,
    events: mpsc::Sender<ServerEvent>,
    events_rx: Mutex<Option<mpsc::Receiver<ServerEvent>>>,
    resolver: OnceLock<Option<Resolver>>,
}

/// Stops the driver task when the last [`Server`] handle goes.
struct Task(tokio::task::AbortHandle);

impl Drop for Task {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The event server on an nta agent. Cheap to clone; the driver task stops
/// when the last clone is dropped.
///
/// ```no_run
/// # async fn example() -> Result<(), Box<dyn std::error::Error>> {
/// use sofia_nea::{Config, Notifier, Presence, Server};
/// use sofia_nta::Agent;
/// use sofia_tport::Tport;
///
/// let (tport, incoming) = Tport::bind(sofia_tport::Config::new(["sip:127.0.0.1:5060"])).await?;
/// let (agent, mut requests, _others) = Agent::new(tport, incoming, Default::default());
/// let mut notifier = Notifier::new(Config {
///     contact: "sip:presence@127.0.0.1:5060".into(),
///     ..Config::default()
/// });
/// notifier.add_package(Box::new(Presence));
/// let server = Server::new(agent, notifier);
/// while let Some(req) = requests.recv().await {
///     if let Err(other) = server.handle(req) {
///         // Not a SUBSCRIBE: the application answers it.
///         # let _ = other;
///     }
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Server {
    shared: Arc<Shared>,
    _task: Arc<Task>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("subscriptions", &self.len())
            .finish()
    }
}

fn lock(m: &Mutex<Inner>) -> MutexGuard<'_, Inner> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The transport a request to `uri` goes over: its `transport` parameter,
/// TLS for `sips:`, else UDP (RFC 3263 §4.1 for a numeric host or a port).
fn transport_of(uri: &Uri<'_>) -> Transport {
    let secure = uri.scheme() == Scheme::Sips;
    match uri.transport().and_then(Transport::from_name) {
        Some(Transport::Tcp) if secure => Transport::Tls,
        Some(t) => t,
        None if secure => Transport::Tls,
        None => Transport::Udp,
    }
}

impl Server {
    /// Starts the driver of `notifier` on `agent` (in the current tokio
    /// runtime). Every new subscription is accepted until
    /// [`Server::set_authorizer`] says otherwise.
    pub fn new(agent: Agent, notifier: Notifier) -> Server {
        let (events, events_rx) = mpsc::channel(EVENT_QUEUE);
        let shared = Arc::new(Shared {
            inner: Mutex::new(Inner {
                notifier,
                authorize: Box::new(|_| Decision::Accept),
                dialogs: HashMap::new(),
                in_flight: 0,
                closing: false,
            }),
            agent,
            wake: tokio::sync::Notify::new(),
            idle: tokio::sync::Notify::new(),
            events,
            events_rx: Mutex::new(Some(events_rx)),
            resolver: OnceLock::new(),
        });
        let task = tokio::spawn(run(shared.clone()));
        Server {
            shared,
            _task: Arc::new(Task(task.abort_handle())),
        }
    }

    /// Sets the hook asked about each new subscription: accept, hold as
    /// pending ([`Server::approve`], [`Server::reject`] later), or refuse
    /// with 403. It runs with the server's lock held: it must not call this
    /// `Server` (record the id and approve later instead).
    pub fn set_authorizer(
        &self,
        authorize: impl FnMut(&SubscriptionInfo) -> Decision + Send + 'static,
    ) {
        lock(&self.shared.inner).authorize = Box::new(authorize);
    }

    /// The events of the subscriptions (once: later calls get `None`).
    /// At most [`EVENT_QUEUE`] wait; past that, new ones are dropped.
    pub fn events(&self) -> Option<mpsc::Receiver<ServerEvent>> {
        self.shared
            .events_rx
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
    }

    /// The agent.
    pub fn agent(&self) -> &Agent {
        &self.shared.agent
    }

    /// Takes a request from the agent: a SUBSCRIBE is answered through the
    /// notifier (its NOTIFYs follow); anything else is handed back.
    // The request is handed back as it came (boxing it would cost every
    // other request an allocation).
    #[allow(clippy::result_large_err)]
    pub fn handle(&self, req: ServerRequest) -> Result<(), ServerRequest> {
        if req.msg.method() != Method::Subscribe {
            return Err(req);
        }
        let shared = &self.shared;
        let tag = shared.agent.tag();
        let msg = &req.msg;
        let mut inner = lock(&shared.inner);
        let resp = if inner.closing && msg.to_tag().is_none() {
            ResponseBuilder::reply_to(msg, 503, "Service Unavailable", Some(&tag))
                .header(
                    HeaderName::RetryAfter,
                    &inner.notifier.config().retry_after.to_string(),
                )
                .build()
        } else {
            let Inner {
                notifier,
                authorize,
                ..
            } = &mut *inner;
            notifier.handle_subscribe(Instant::now(), msg, &tag, |i| authorize(i))
        };
        let resp = match resp {
            Ok(r) => r,
            Err(e) => {
                su_log!(NEA, 2, "nea: SUBSCRIBE not answered: {}", e);
                match ResponseBuilder::reply_to(msg, 500, "Server Internal Error", Some(&tag))
                    .build()
                {
                    Ok(r) => r,
                    Err(_) => return Ok(()),
                }
            }
        };
        if msg.to_tag().is_none() && matches!(resp.status(), Some(200 | 202)) {
            let id = DialogId {
                call_id: msg.call_id().unwrap_or("").to_string(),
                local_tag: tag,
                remote_tag: msg.from_tag().unwrap_or("").to_string(),
            };
            if let Some(sub) = inner.notifier.find(&id) {
                shared.agent.add_dialog(id.clone());
                inner.dialogs.insert(sub, id);
                if let Some(info) = inner.notifier.subscription(sub) {
                    let _ = shared
                        .events
                        .try_send(ServerEvent::Subscribed(info.clone()));
                }
            }
        }
        // Answered before the driver task, which needs the lock, can send
        // the NOTIFY this SUBSCRIBE owes: the response goes out first.
        if let Err(e) = shared.agent.respond(req.server, resp) {
            su_log!(NEA, 3, "nea: SUBSCRIBE response not sent: {}", e);
        }
        drop(inner);
        shared.wake.notify_one();
        Ok(())
    }

    /// Serves a whole request stream: SUBSCRIBEs through [`Server::handle`],
    /// other requests answered 405 with `Allow: SUBSCRIBE`. Returns when the
    /// stream ends.
    pub async fn serve(&self, mut requests: mpsc::UnboundedReceiver<ServerRequest>) {
        while let Some(req) = requests.recv().await {
            if let Err(req) = self.handle(req) {
                let tag = self.shared.agent.tag();
                let resp =
                    ResponseBuilder::reply_to(&req.msg, 405, "Method Not Allowed", Some(&tag))
                        .header(HeaderName::Allow, "SUBSCRIBE")
                        .build();
                if let Ok(resp) = resp {
                    let _ = self.shared.agent.respond(req.server, resp);
                }
            }
        }
    }

    /// Sets a resource's state and NOTIFYs its active subscribers (see
    /// [`Notifier::set_state`]); returns how many.
    pub fn set_state(&self, event: &str, resource: &str, body: String) -> Result<usize, Error> {
        let n = lock(&self.shared.inner)
            .notifier
            .set_state(event, resource, body)?;
        self.shared.wake.notify_one();
        Ok(n)
    }

    /// Forgets a resource's state and NOTIFYs its active subscribers the
    /// package's initial body (see [`Notifier::clear_state`]); returns how
    /// many.
    pub fn clear_state(&self, event: &str, resource: &str) -> Result<usize, Error> {
        let n = lock(&self.shared.inner)
            .notifier
            .clear_state(event, resource)?;
        self.shared.wake.notify_one();
        Ok(n)
    }

    /// Authorizes a pending subscription (see [`Notifier::approve`]).
    pub fn approve(&self, sub: SubId) -> Result<(), Error> {
        lock(&self.shared.inner).notifier.approve(sub)?;
        self.shared.wake.notify_one();
        Ok(())
    }

    /// Refuses a subscription (see [`Notifier::reject`]).
    pub fn reject(&self, sub: SubId) -> Result<(), Error> {
        lock(&self.shared.inner).notifier.reject(sub)?;
        self.shared.wake.notify_one();
        Ok(())
    }

    /// Every subscription.
    pub fn subscriptions(&self) -> Vec<SubscriptionInfo> {
        lock(&self.shared.inner)
            .notifier
            .subscriptions()
            .cloned()
            .collect()
    }

    /// The number of subscriptions.
    pub fn len(&self) -> usize {
        lock(&self.shared.inner).notifier.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Runs `f` on the notifier (anything this handle does not offer), then
    /// sends what it owes.
    pub fn with_notifier<R>(&self, f: impl FnOnce(&mut Notifier) -> R) -> R {
        let r = f(&mut lock(&self.shared.inner).notifier);
        self.shared.wake.notify_one();
        r
    }

    /// Ends every subscription with a final NOTIFY (see
    /// [`Notifier::shutdown`]), answers new SUBSCRIBEs 503 from now on, and
    /// waits until every NOTIFY is answered or `wait` has passed. Returns
    /// how many subscriptions it ended.
    pub async fn shutdown(&self, retry_after: Option<u32>, wait: Duration) -> usize {
        let n = {
            let mut inner = lock(&self.shared.inner);
            inner.closing = true;
            inner.notifier.shutdown(retry_after)
        };
        self.shared.wake.notify_one();
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let idle = self.shared.idle.notified();
            tokio::pin!(idle);
            idle.as_mut().enable();
            {
                let inner = lock(&self.shared.inner);
                if inner.notifier.is_empty() && inner.in_flight == 0 {
                    break;
                }
            }
            tokio::select! {
                _ = &mut idle => {}
                _ = tokio::time::sleep_until(deadline) => break,
            }
        }
        n
    }
}

/// The driver task: expires subscriptions, sends the NOTIFYs owed, sleeps
/// until the notifier's next timer or a wake-up. Aborted when the last
/// [`Server`] goes.
async fn run(s: Arc<Shared>) {
    loop {
        let next = {
            let mut inner = lock(&s.inner);
            let now = Instant::now();
            inner.notifier.handle_timeout(now);
            let mut owed = Vec::new();
            while let Some(n) = inner
                .notifier
                .poll_notify_with(now, |hop| via_for(&s.agent, hop))
            {
                owed.push(n);
            }
            inner.in_flight += owed.len();
            for n in owed {
                if n.last {
                    forget_dialog(&s, &mut inner, n.sub);
                }
                tokio::spawn(send_notify(s.clone(), n));
            }
            // A subscription whose NOTIFY could not be built is gone without
            // a NOTIFY: forget its dialog too.
            if inner.dialogs.len() > inner.notifier.len() {
                let Inner {
                    notifier, dialogs, ..
                } = &mut *inner;
                dialogs.retain(|sub, id| {
                    let live = notifier.subscription(*sub).is_some();
                    if !live {
                        s.agent.remove_dialog(id);
                    }
                    live
                });
            }
            inner.notifier.poll_timeout()
        };
        let sleep = async {
            match next {
                Some(at) => tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await,
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = sleep => {}
            _ = s.wake.notified() => {}
        }
    }
}

/// Forgets an ended subscription's dialog.
fn forget_dialog(shared: &Shared, inner: &mut Inner, sub: SubId) {
    if let Some(id) = inner.dialogs.remove(&sub) {
        shared.agent.remove_dialog(&id);
    }
}

/// A Via for a NOTIFY to `hop`: our address for its transport.
fn via_for(agent: &Agent, hop: &str) -> String {
    let transport = Uri::parse(hop)
        .map(|u| transport_of(&u))
        .unwrap_or(Transport::Udp);
    agent.via(transport).unwrap_or_default()
}

/// Where a NOTIFY to `hop` goes: a numeric host directly, a host name by
/// RFC 3263 (the first target of the URI's transport).
async fn destination(shared: &Shared, hop: &str) -> Result<Destination, String> {
    let uri = Uri::parse(hop).map_err(|e| format!("{hop}: {e}"))?;
    let transport = transport_of(&uri);
    let host = uri.host().trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = host.parse::<IpAddr>() {
        let port = uri.port().unwrap_or(match transport {
            Transport::Tls => 5061,
            _ => 5060,
        });
        return Ok(Destination::new(transport, SocketAddr::new(ip, port)));
    }
    let resolver = shared
        .resolver
        .get_or_init(|| match Resolver::system() {
            Ok(r) => Some(r),
            Err(e) => {
                su_log!(NEA, 2, "nea: no resolver for NOTIFY targets: {}", e);
                None
            }
        })
        .as_ref()
        .ok_or_else(|| format!("{hop}: no resolver"))?;
    let targets = resolver.resolve(&uri).await.map_err(|e| e.to_string())?;
    let t = targets
        .iter()
        .find(|t| t.transport == transport)
        .ok_or_else(|| format!("{hop}: no {transport} target"))?;
    let dest = Destination::new(t.transport, t.addr);
    Ok(if transport == Transport::Tls {
        dest.with_server_name(host)
    } else {
        dest
    })
}

/// Sends one NOTIFY and feeds its outcome back to the notifier.
async fn send_notify(shared: Arc<Shared>, n: Notify) {
    let state = n
        .request
        .header(HeaderName::SubscriptionState)
        .unwrap_or("")
        .to_string();
    let status = transact(&shared, n.request, &n.next_hop).await;
    let mut inner = lock(&shared.inner);
    inner.in_flight = inner.in_flight.saturating_sub(1);
    let _ = shared.events.try_send(ServerEvent::Notified {
        sub: n.sub,
        state,
        status,
    });
    if n.last || inner.notifier.handle_notify_result(n.sub, status) {
        forget_dialog(&shared, &mut inner, n.sub);
        let _ = shared.events.try_send(ServerEvent::Ended { sub: n.sub });
    }
    drop(inner);
    shared.idle.notify_waiters();
    shared.wake.notify_one();
}

/// The final status of a request (`None` on a timeout or a failure to send).
async fn transact(shared: &Shared, request: Message, hop: &str) -> Option<u16> {
    let dest = match destination(shared, hop).await {
        Ok(d) => d,
        Err(e) => {
            su_log!(NEA, 3, "nea: NOTIFY not sent: {}", e);
            return None;
        }
    };
    let mut rx = match shared.agent.request(request, dest) {
        Ok(rx) => rx,
        Err(e) => {
            su_log!(NEA, 3, "nea: NOTIFY not sent: {}", e);
            return None;
        }
    };
    while let Some(ev) = rx.recv().await {
        match ev {
            ClientEvent::Response(r) => match r.status() {
                Some(s) if s >= 200 => return Some(s),
                _ => {}
            },
            ClientEvent::Timeout => return None,
        }
    }
    None
}
