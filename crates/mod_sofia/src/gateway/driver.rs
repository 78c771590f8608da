//! The tokio driver of a profile's gateways: sends their requests with the
//! profile's transaction engine, feeds the answers back, runs their timers
//! and publishes their events.
//!
//! A request's target (`register-proxy`, `outbound-proxy` or the `proxy`)
//! is used as it is when its host is an IP address and resolved with RFC
//! 3263 (NAPTR, SRV, A/AAAA) otherwise; the request goes to the first
//! target found. A target that cannot be resolved or reached counts as a
//! 503 for pings and as no answer for REGISTERs.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use sofia_msg::{Message, Uri};
use sofia_nta::resolve::{Resolver, numeric_target};
use sofia_nta::{Agent, ClientEvent};
use sofia_su::su_log;
use sofia_tport::{Destination, Transport};
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinHandle;

use super::{GatewaySet, OutgoingRequest};
use crate::commands::GatewayStatus;
use crate::events::EventBus;

/// How long a stopping profile waits for its gateways' unregistrations.
pub const UNREGISTER_GRACE: Duration = Duration::from_secs(2);

/// An answer for a gateway's request.
// Responses are the common case; boxing them would cost an allocation each.
#[allow(clippy::large_enum_variant)]
enum Answer {
    Response {
        gateway: String,
        id: u64,
        msg: Message,
    },
    Failure {
        gateway: String,
        id: u64,
        status: u16,
        phrase: &'static str,
    },
}

struct Shared {
    set: Mutex<GatewaySet>,
    wake: Notify,
    stopping: AtomicBool,
}

fn lock(m: &Mutex<GatewaySet>) -> MutexGuard<'_, GatewaySet> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The gateways of a running profile and the task that drives them.
pub struct GatewayDriver {
    shared: Arc<Shared>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for GatewayDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayDriver")
            .field("gateways", &lock(&self.shared.set).len())
            .finish_non_exhaustive()
    }
}

impl GatewayDriver {
    /// Starts driving `set` on `agent` (from within a tokio runtime); events
    /// go to `bus`.
    pub fn start(agent: Agent, set: GatewaySet, bus: EventBus) -> GatewayDriver {
        let shared = Arc::new(Shared {
            set: Mutex::new(set),
            wake: Notify::new(),
            stopping: AtomicBool::new(false),
        });
        let resolver = Arc::new(Resolver::system().ok());
        let task = tokio::spawn(run(Arc::clone(&shared), agent, bus, resolver));
        GatewayDriver {
            shared,
            task: Mutex::new(Some(task)),
        }
    }

    /// Runs `f` on the gateways at the current time, then lets the driver
    /// send what it queued.
    pub fn with<R>(&self, f: impl FnOnce(&mut GatewaySet, Instant) -> R) -> R {
        let r = f(&mut lock(&self.shared.set), Instant::now());
        self.shared.wake.notify_one();
        r
    }

    /// The gateways' statuses, newest first.
    pub fn statuses(&self) -> Vec<GatewayStatus> {
        lock(&self.shared.set).statuses(Instant::now(), SystemTime::now())
    }

    /// Stops the gateways. When some are registered, the driver sends their
    /// unregistrations, waits up to [`UNREGISTER_GRACE`] for the answers,
    /// shuts `agent` down and ends; the returned task completes then. With
    /// none registered the driver ends at once and `None` is returned: the
    /// caller shuts the agent down.
    pub fn stop(&self) -> Option<JoinHandle<()>> {
        let task = self.task.lock().unwrap_or_else(|e| e.into_inner()).take()?;
        let registered = lock(&self.shared.set)
            .iter()
            .any(|g| g.state() == crate::commands::GatewayState::Reged);
        if !registered {
            task.abort();
            return None;
        }
        self.shared.stopping.store(true, Ordering::Release);
        self.shared.wake.notify_one();
        Some(task)
    }
}

impl Drop for GatewayDriver {
    fn drop(&mut self) {
        if let Some(task) = self.task.lock().unwrap_or_else(|e| e.into_inner()).take() {
            task.abort();
        }
    }
}

async fn run(shared: Arc<Shared>, agent: Agent, bus: EventBus, resolver: Arc<Option<Resolver>>) {
    let (tx, mut rx) = mpsc::unbounded_channel::<Answer>();
    let mut deadline: Option<Instant> = None;
    loop {
        let now = Instant::now();
        let (sends, events, next, done) = {
            let mut set = lock(&shared.set);
            if deadline.is_none() && shared.stopping.load(Ordering::Acquire) {
                set.shutdown(now);
                deadline = Some(now + UNREGISTER_GRACE);
            }
            set.handle_timeout(now);
            let mut sends = Vec::new();
            while let Some(t) = set.poll_transmit() {
                sends.push(t);
            }
            let mut events = Vec::new();
            while let Some(e) = set.poll_event() {
                events.push(e);
            }
            let done =
                deadline.is_some_and(|d| now >= d || (!set.unregistering() && sends.is_empty()));
            (sends, events, set.poll_timeout(), done)
        };
        for e in events {
            bus.publish(e);
        }
        for req in sends {
            tokio::spawn(send(req, agent.clone(), tx.clone(), Arc::clone(&resolver)));
        }
        if done {
            agent.shutdown();
            return;
        }
        let wake_at = match (next, deadline) {
            (Some(a), Some(b)) => a.min(b),
            (Some(a), None) | (None, Some(a)) => a,
            (None, None) => now + Duration::from_secs(3600),
        };
        tokio::select! {
            _ = tokio::time::sleep_until(wake_at.into()) => {}
            _ = shared.wake.notified() => {}
            Some(answer) = rx.recv() => {
                let now = Instant::now();
                let mut set = lock(&shared.set);
                match answer {
                    Answer::Response { gateway, id, msg } => set.handle_response(now, &gateway, id, &msg),
                    Answer::Failure { gateway, id, status, phrase } => {
                        set.handle_failure(now, &gateway, id, status, phrase)
                    }
                }
            }
        }
    }
}

/// Resolves a request's target, sends it and forwards its answers.
async fn send(
    req: OutgoingRequest,
    agent: Agent,
    tx: mpsc::UnboundedSender<Answer>,
    resolver: Arc<Option<Resolver>>,
) {
    let fail = |status: u16, phrase: &'static str| {
        let _ = tx.send(Answer::Failure {
            gateway: req.gateway.clone(),
            id: req.id,
            status,
            phrase,
        });
    };
    let target = match Uri::parse(&req.target) {
        Ok(uri) => match numeric_target(&uri) {
            Some(t) => Ok(t),
            None => match resolver.as_ref() {
                Some(r) => r
                    .resolve(&uri)
                    .await
                    .map_err(|e| e.to_string())
                    .and_then(|ts| ts.into_iter().next().ok_or_else(|| "no target".to_string())),
                None => Err("no DNS resolver".to_string()),
            },
        },
        Err(e) => Err(e.to_string()),
    };
    let target = match target {
        Ok(t) => t,
        Err(e) => {
            su_log!(
                SOFIA,
                3,
                "sofia: gateway {}: cannot resolve {}: {e}",
                req.gateway,
                req.target
            );
            fail(503, "Service Unavailable");
            return;
        }
    };
    let Some(via) = agent.via(target.transport) else {
        su_log!(
            SOFIA,
            3,
            "sofia: gateway {}: no {} transport for {}",
            req.gateway,
            target.transport,
            req.target
        );
        fail(503, "Service Unavailable");
        return;
    };
    let msg = match req.build(&via) {
        Ok(m) => m,
        Err(e) => {
            su_log!(
                SOFIA,
                2,
                "sofia: gateway {}: cannot build {}: {e}",
                req.gateway,
                req.method
            );
            fail(503, "Service Unavailable");
            return;
        }
    };
    let mut dest = Destination::new(target.transport, target.addr);
    if target.transport == Transport::Tls {
        dest = dest.with_server_name(target.host.clone());
    }
    let mut rx = match agent.request(msg, dest) {
        Ok(rx) => rx,
        Err(e) => {
            su_log!(
                SOFIA,
                3,
                "sofia: gateway {}: cannot send to {}: {e}",
                req.gateway,
                target.addr
            );
            fail(503, "Service Unavailable");
            return;
        }
    };
    while let Some(ev) = rx.recv().await {
        match ev {
            ClientEvent::Response(msg) => {
                let fin = msg.status().is_none_or(|s| s >= 200);
                let _ = tx.send(Answer::Response {
                    gateway: req.gateway.clone(),
                    id: req.id,
                    msg,
                });
                if fin {
                    return;
                }
            }
            ClientEvent::Timeout => break,
        }
    }
    fail(408, "Request Timeout");
}
