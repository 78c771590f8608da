//! The tokio driver of the [`Bridge`]: one task for the whole daemon that
//! takes the profiles' INVITEs, in-dialog requests, ACKs and CANCELs,
//! routes new calls with a [`Router`], runs the bridge's outputs over the
//! profiles' transaction engines (resolving next hops by RFC 3263), and
//! keeps the call counters `sofia status` prints.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use sofia_msg::{Message, Uri};
use sofia_nta::resolve::{Resolver, numeric_target};
use sofia_nta::{Agent, ClientEvent, ClientId, ServerId, ServerRequest};
use sofia_su::su_log;
use sofia_tport::{Destination, Transport};
use tokio::sync::mpsc;

use crate::b2bua::{
    Bridge, Hop, Incoming, LegPlan, Output, Plan, ProfileId, ProfileInfo, Report, TxId,
};
use crate::events::{Event as BusEvent, EventBus};

/// Decides where a new call goes.
pub trait Router: Send + Sync + 'static {
    /// The plan for an INVITE that arrived on profile `profile`; legs name
    /// their profile in [`RoutedLeg::profile`].
    fn route(&self, profile: &str, invite: &Message) -> RoutedCall;
}

/// A leg as the router gives it: a [`LegPlan`] and the name of the profile
/// that sends it.
#[derive(Debug, Clone)]
pub struct RoutedLeg {
    /// The profile's name.
    pub profile: String,
    /// The leg (its `profile` field is filled in by the switch).
    pub plan: LegPlan,
}

/// The router's answer.
#[derive(Debug, Clone, Default)]
pub struct RoutedCall {
    /// Groups tried in turn; legs of a group rung at once.
    pub groups: Vec<Vec<RoutedLeg>>,
    /// Variables of the calling leg.
    pub vars: crate::dial::Vars,
    /// The gateway the call came from.
    pub gateway: Option<String>,
    /// The hangup cause when no leg can be tried (a gateway that is down:
    /// `NETWORK_OUT_OF_ORDER`); `NO_ROUTE_DESTINATION` when unset.
    pub refused: Option<&'static str>,
}

/// Call counters of a profile or gateway, as `sofia status` prints them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Inbound calls.
    pub calls_in: u32,
    /// Inbound calls that failed.
    pub failed_calls_in: u32,
    /// Outbound calls (legs).
    pub calls_out: u32,
    /// Outbound legs that failed.
    pub failed_calls_out: u32,
}

#[derive(Default)]
struct Stats {
    profiles: HashMap<String, Counters>,
    gateways: HashMap<String, Counters>,
    /// Calls in progress per profile name.
    active: HashMap<String, usize>,
}

impl Stats {
    /// Adds one to the counter `field` picks, of the profile and of the
    /// gateway when there is one.
    fn count(
        &mut self,
        profile: String,
        gateway: Option<String>,
        field: fn(&mut Counters) -> &mut u32,
    ) {
        let c = field(self.profiles.entry(profile).or_default());
        *c = c.wrapping_add(1);
        if let Some(g) = gateway {
            let c = field(self.gateways.entry(g).or_default());
            *c = c.wrapping_add(1);
        }
    }
}

/// What reaches the switch task.
// Requests are the common case; boxing them would cost an allocation each.
#[allow(clippy::large_enum_variant)]
enum Input {
    AddProfile {
        id: ProfileId,
        name: String,
        agent: Agent,
        info: ProfileInfo,
    },
    RemoveProfile(ProfileId),
    Invite(ProfileId, ServerRequest),
    InDialog(ProfileId, ServerRequest),
    Ack(Message),
    Cancelled(ProfileId, ServerId),
    Started(TxId, ProfileId, ClientId),
    Client(TxId, ClientEvent),
    Closed(TxId),
    Unreachable(TxId, String),
    Shutdown,
}

/// The handle profiles and commands use. Cheap to clone.
#[derive(Clone)]
pub struct Switch {
    tx: mpsc::UnboundedSender<Input>,
    stats: Arc<Mutex<Stats>>,
    next_id: Arc<std::sync::atomic::AtomicU32>,
}

impl std::fmt::Debug for Switch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Switch").finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Switch {
    /// Starts the switch task with `router`; events go on `bus`.
    pub fn start(router: Arc<dyn Router>, bus: EventBus) -> Switch {
        let (tx, rx) = mpsc::unbounded_channel();
        let stats = Arc::new(Mutex::new(Stats::default()));
        let task = Task {
            bridge: Bridge::default(),
            router,
            bus,
            stats: Arc::clone(&stats),
            profiles: HashMap::new(),
            clients: HashMap::new(),
            resolver: None,
            input: tx.clone(),
        };
        tokio::spawn(task.run(rx));
        Switch {
            tx,
            stats,
            next_id: Arc::new(std::sync::atomic::AtomicU32::new(1)),
        }
    }

    /// Adds a running profile; returns its id.
    pub fn add_profile(&self, name: &str, agent: Agent, info: ProfileInfo) -> ProfileId {
        let id = self
            .next_id
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let _ = self.tx.send(Input::AddProfile {
            id,
            name: name.to_string(),
            agent,
            info,
        });
        id
    }

    /// Removes a stopped profile.
    pub fn remove_profile(&self, id: ProfileId) {
        let _ = self.tx.send(Input::RemoveProfile(id));
    }

    /// A new INVITE (no To tag) on a profile.
    pub fn invite(&self, profile: ProfileId, req: ServerRequest) {
        let _ = self.tx.send(Input::Invite(profile, req));
    }

    /// A request with a To tag (answered 481 when no call has its dialog).
    pub fn in_dialog(&self, profile: ProfileId, req: ServerRequest) {
        let _ = self.tx.send(Input::InDialog(profile, req));
    }

    /// An ACK of a 2xx.
    pub fn ack(&self, msg: Message) {
        let _ = self.tx.send(Input::Ack(msg));
    }

    /// A CANCEL matched an INVITE server transaction.
    pub fn cancelled(&self, profile: ProfileId, invite: ServerId) {
        let _ = self.tx.send(Input::Cancelled(profile, invite));
    }

    /// Ends every call (daemon shutdown).
    pub fn shutdown(&self) {
        let _ = self.tx.send(Input::Shutdown);
    }

    /// A profile's call counters.
    pub fn profile_counters(&self, profile: &str) -> Counters {
        lock(&self.stats)
            .profiles
            .get(profile)
            .copied()
            .unwrap_or_default()
    }

    /// A gateway's call counters.
    pub fn gateway_counters(&self, gateway: &str) -> Counters {
        lock(&self.stats)
            .gateways
            .get(gateway)
            .copied()
            .unwrap_or_default()
    }

    /// Calls in progress that involve profile `profile`.
    pub fn active_calls(&self, profile: &str) -> usize {
        lock(&self.stats).active.get(profile).copied().unwrap_or(0)
    }
}

struct ProfileEntry {
    name: String,
    agent: Agent,
}

struct Task {
    bridge: Bridge,
    router: Arc<dyn Router>,
    bus: EventBus,
    stats: Arc<Mutex<Stats>>,
    profiles: HashMap<ProfileId, ProfileEntry>,
    /// Client transactions started: their profile and engine id.
    clients: HashMap<TxId, (ProfileId, ClientId)>,
    resolver: Option<Option<Arc<Resolver>>>,
    input: mpsc::UnboundedSender<Input>,
}

impl Task {
    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Input>) {
        loop {
            let deadline = self.bridge.poll_timeout();
            let input = match deadline {
                Some(at) => {
                    tokio::select! {
                        i = rx.recv() => i,
                        () = tokio::time::sleep_until(at.into()) => {
                            self.bridge.handle_timeout(Instant::now());
                            self.drain();
                            continue;
                        }
                    }
                }
                None => rx.recv().await,
            };
            let Some(input) = input else {
                break;
            };
            self.input(input);
            // Take what else is queued before running the outputs.
            while let Ok(more) = rx.try_recv() {
                self.input(more);
            }
            self.drain();
        }
    }

    fn input(&mut self, input: Input) {
        let now = Instant::now();
        match input {
            Input::AddProfile {
                id,
                name,
                agent,
                info,
            } => {
                self.bridge.set_profile(id, info);
                self.profiles.insert(id, ProfileEntry { name, agent });
            }
            Input::RemoveProfile(id) => {
                self.profiles.remove(&id);
            }
            Input::Invite(profile, req) => {
                let Some(entry) = self.profiles.get(&profile) else {
                    return;
                };
                let routed = self.router.route(&entry.name, &req.msg);
                let plan = self.plan(routed);
                self.bridge.on_invite(
                    now,
                    Incoming {
                        profile,
                        server: req.server,
                        msg: req.msg,
                        reply: req.source.reply,
                    },
                    plan,
                );
            }
            Input::InDialog(profile, req) => {
                let incoming = Incoming {
                    profile,
                    server: req.server,
                    msg: req.msg,
                    reply: req.source.reply,
                };
                if let Err(req) = self.bridge.on_request(now, incoming) {
                    self.no_dialog(req);
                }
            }
            Input::Ack(msg) => self.bridge.on_ack(now, msg),
            Input::Cancelled(profile, server) => self.bridge.on_cancelled(now, profile, server),
            Input::Started(tx, profile, client) => {
                self.clients.insert(tx, (profile, client));
            }
            Input::Client(tx, ClientEvent::Response(msg)) => self.bridge.on_response(now, tx, msg),
            Input::Client(tx, ClientEvent::Timeout) => self.bridge.on_timeout(now, tx),
            Input::Closed(tx) => {
                self.clients.remove(&tx);
                self.bridge.on_finished(tx);
            }
            Input::Unreachable(tx, why) => {
                su_log!(SOFIA, 3, "sofia: cannot send a request: {why}");
                self.bridge.on_timeout(now, tx);
            }
            Input::Shutdown => self.bridge.shutdown(),
        }
    }

    /// Profile names to ids.
    fn plan(&self, routed: RoutedCall) -> Plan {
        let ids: HashMap<&str, ProfileId> = self
            .profiles
            .iter()
            .map(|(id, e)| (e.name.as_str(), *id))
            .collect();
        Plan {
            groups: routed
                .groups
                .into_iter()
                .map(|g| {
                    g.into_iter()
                        .filter_map(|l| {
                            let id = ids.get(l.profile.as_str()).copied();
                            if id.is_none() {
                                su_log!(SOFIA, 3, "sofia: no running profile {}", l.profile);
                            }
                            id.map(|id| LegPlan {
                                profile: id,
                                ..l.plan
                            })
                        })
                        .collect::<Vec<_>>()
                })
                .filter(|g| !g.is_empty())
                .collect(),
            vars: routed.vars,
            gateway: routed.gateway,
            refused: routed.refused,
        }
    }

    /// 481 for an in-dialog request of no call.
    fn no_dialog(&self, req: Box<Incoming>) {
        let Some(entry) = self.profiles.get(&req.profile) else {
            return;
        };
        if req.msg.method() == sofia_msg::Method::Ack {
            return;
        }
        let resp = sofia_msg::ResponseBuilder::reply_to(
            &req.msg,
            481,
            "Call/Transaction Does Not Exist",
            None,
        )
        .build();
        if let Ok(resp) = resp {
            let _ = entry.agent.respond(req.server, resp);
        }
    }

    fn drain(&mut self) {
        while let Some(out) = self.bridge.poll_output() {
            match out {
                Output::Respond {
                    profile,
                    server,
                    msg,
                } => {
                    if let Some(e) = self.profiles.get(&profile)
                        && let Err(err) = e.agent.respond(server, msg)
                    {
                        su_log!(SOFIA, 5, "sofia: {}: response not sent: {err}", e.name);
                    }
                }
                Output::Send {
                    tx,
                    profile,
                    msg,
                    hop,
                } => self.send(tx, profile, msg, hop),
                Output::Cancel { tx } => {
                    if let Some((profile, client)) = self.clients.get(&tx)
                        && let Some(e) = self.profiles.get(profile)
                        && let Err(err) = e.agent.cancel(*client)
                    {
                        su_log!(SOFIA, 5, "sofia: {}: no CANCEL: {err}", e.name);
                    }
                }
                Output::Forget { tx } => {
                    self.clients.remove(&tx);
                }
                Output::Ack { profile, msg, hop } => self.ack(profile, msg, hop),
                Output::Report(r) => self.report(r),
            }
        }
    }

    fn resolver(&mut self) -> Option<Arc<Resolver>> {
        self.resolver
            .get_or_insert_with(|| match Resolver::system() {
                Ok(r) => Some(Arc::new(r)),
                Err(e) => {
                    su_log!(SOFIA, 2, "sofia: no DNS resolver for call targets: {e}");
                    None
                }
            })
            .clone()
    }

    fn send(&mut self, tx: TxId, profile: ProfileId, msg: Message, hop: Hop) {
        let Some(agent) = self.profiles.get(&profile).map(|e| e.agent.clone()) else {
            let _ = self
                .input
                .send(Input::Unreachable(tx, "profile stopped".into()));
            return;
        };
        let input = self.input.clone();
        match numeric(&hop) {
            Ok(dest) => start(&agent, tx, profile, msg, dest, &input),
            Err(uri) => {
                let resolver = self.resolver();
                tokio::spawn(async move {
                    match resolve(resolver, &uri).await {
                        Ok(dest) => start(&agent, tx, profile, msg, dest, &input),
                        Err(why) => {
                            let _ = input.send(Input::Unreachable(tx, why));
                        }
                    }
                });
            }
        }
    }

    fn ack(&mut self, profile: ProfileId, msg: Message, hop: Hop) {
        let Some(agent) = self.profiles.get(&profile).map(|e| e.agent.clone()) else {
            return;
        };
        match numeric(&hop) {
            Ok(dest) => agent.send_stateless(&msg, dest),
            Err(uri) => {
                let resolver = self.resolver();
                tokio::spawn(async move {
                    if let Ok(dest) = resolve(resolver, &uri).await {
                        agent.send_stateless(&msg, dest);
                    }
                });
            }
        }
    }

    fn report(&mut self, r: Report) {
        let name = |s: &Task, id: ProfileId| {
            s.profiles
                .get(&id)
                .map(|e| e.name.clone())
                .unwrap_or_default()
        };
        match r {
            Report::CallIn { profile, gateway } => {
                let n = name(self, profile);
                let mut st = lock(&self.stats);
                *st.active.entry(n.clone()).or_default() += 1;
                st.count(n, gateway, |c| &mut c.calls_in);
            }
            Report::FailedIn { profile, gateway } => {
                let n = name(self, profile);
                lock(&self.stats).count(n, gateway, |c| &mut c.failed_calls_in);
            }
            Report::CallOut { profile, gateway } => {
                let n = name(self, profile);
                lock(&self.stats).count(n, gateway, |c| &mut c.calls_out);
            }
            Report::FailedOut {
                profile,
                gateway,
                status,
                phrase,
                call_id,
            } => {
                let n = name(self, profile);
                lock(&self.stats).count(n.clone(), gateway.clone(), |c| &mut c.failed_calls_out);
                let mut ev = BusEvent::custom("sofia::error")
                    .with("Profile-Name", n)
                    .with("Error-Type", "request error")
                    .with("Error-Status", status.to_string())
                    .with("Error-Phrase", phrase)
                    .with("Call-ID", call_id);
                if let Some(g) = gateway {
                    ev = ev.with("Gateway", g);
                }
                self.bus.publish(ev);
            }
            Report::Reinvite { profile, call_id } => {
                let n = name(self, profile);
                self.bus.publish(
                    BusEvent::custom("sofia::reinvite")
                        .with("Profile-Name", n)
                        .with("Call-ID", call_id),
                );
            }
            Report::Answered { .. } => {}
            Report::Ended { profile, .. } => {
                let n = name(self, profile);
                let mut st = lock(&self.stats);
                if let Some(a) = st.active.get_mut(&n) {
                    *a = a.saturating_sub(1);
                }
            }
        }
    }
}

/// The destination of a hop without DNS, or the URI to resolve.
fn numeric(hop: &Hop) -> Result<Destination, String> {
    match hop {
        Hop::Fixed(d) => Ok(d.clone()),
        Hop::Uri(u) => {
            let target = Uri::parse(u).ok().and_then(|uri| numeric_target(&uri));
            match target {
                Some(t) => Ok(Destination::new(t.transport, t.addr)),
                None => Err(u.clone()),
            }
        }
    }
}

async fn resolve(resolver: Option<Arc<Resolver>>, uri: &str) -> Result<Destination, String> {
    let parsed = Uri::parse(uri).map_err(|e| format!("{uri}: {e}"))?;
    let resolver = resolver.ok_or_else(|| format!("{uri}: no resolver"))?;
    let targets = resolver
        .resolve(&parsed)
        .await
        .map_err(|e| format!("{uri}: {e}"))?;
    let t = targets
        .first()
        .ok_or_else(|| format!("{uri}: no targets"))?;
    let dest = Destination::new(t.transport, t.addr);
    Ok(if t.transport == Transport::Tls {
        let host = parsed.host().trim_start_matches('[').trim_end_matches(']');
        dest.with_server_name(host)
    } else {
        dest
    })
}

/// Starts a client transaction and forwards its events to the switch.
fn start(
    agent: &Agent,
    tx: TxId,
    profile: ProfileId,
    msg: Message,
    dest: Destination,
    input: &mpsc::UnboundedSender<Input>,
) {
    match agent.start(msg, dest) {
        Ok((client, mut rx)) => {
            let _ = input.send(Input::Started(tx, profile, client));
            let input = input.clone();
            tokio::spawn(async move {
                while let Some(ev) = rx.recv().await {
                    if input.send(Input::Client(tx, ev)).is_err() {
                        return;
                    }
                }
                let _ = input.send(Input::Closed(tx));
            });
        }
        Err(e) => {
            let _ = input.send(Input::Unreachable(tx, e.to_string()));
        }
    }
}
