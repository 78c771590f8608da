//! The notifier: subscriptions, their dialogs and timers, and the NOTIFYs
//! they are owed. Sans-IO: requests and responses come in with `now`,
//! responses to SUBSCRIBE come back at once, NOTIFYs wait in a queue
//! ([`Notifier::poll_notify`]) and timers are driven by
//! [`Notifier::handle_timeout`].

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::time::{Duration, Instant};

use sofia_msg::{HeaderName, Message, Method, ResponseBuilder};
use sofia_nta::dialog::{Dialog, DialogId};
use sofia_su::su_log;

use crate::package::Package;

/// Limits and timers. Defaults: expiry between 60 s and 3600 s (3600 when
/// the SUBSCRIBE names none), at most one NOTIFY a second per subscription,
/// 100 subscriptions per resource, 10,000 in all, `Retry-After: 30` past
/// them, resources named `user@host`.
#[derive(Debug, Clone)]
pub struct Config {
    /// Shortest subscription accepted (423 with `Min-Expires` below it).
    pub min_expires: u32,
    /// Longest subscription granted (longer requests are shortened).
    pub max_expires: u32,
    /// The duration when a SUBSCRIBE has no `Expires`.
    pub default_expires: u32,
    /// The shortest time between two NOTIFYs of one subscription; state
    /// changes in between are sent together, once it has passed.
    pub min_notify_interval: Duration,
    /// Most subscriptions to one resource (503 past it).
    pub max_per_resource: usize,
    /// Most subscriptions in all (503 past it).
    pub max_total: usize,
    /// The `Retry-After` of those 503s, in seconds.
    pub retry_after: u32,
    /// Our Contact URI, for responses and NOTIFYs (dialog remote targets).
    pub contact: String,
    /// Resources are the Request-URI's `user@host` (true, the default), or
    /// its user part alone (false: a server of one domain, reached under any
    /// of its names or addresses). Without a user part the resource is the
    /// host either way.
    pub resource_with_host: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            min_expires: 60,
            max_expires: 3600,
            default_expires: 3600,
            min_notify_interval: Duration::from_secs(1),
            max_per_resource: 100,
            max_total: 10_000,
            retry_after: 30,
            contact: "sip:nea@127.0.0.1".into(),
            resource_with_host: true,
        }
    }
}

/// What the authorization hook says of a new subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Serve it: 200 and an `active` NOTIFY.
    Accept,
    /// Hold it: 202 and a `pending` NOTIFY without state, until
    /// [`Notifier::approve`] or [`Notifier::reject`].
    Pending,
    /// Refuse it: 403.
    Reject,
}

/// A subscription's number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SubId(pub u64);

/// The state of a subscription (RFC 6665 `Subscription-State`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubState {
    /// Waiting for authorization.
    Pending,
    /// Served.
    Active,
}

/// What the authorization hook and [`Notifier::subscriptions`] see of a
/// subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionInfo {
    /// Its number.
    pub id: SubId,
    /// The event package.
    pub event: String,
    /// The resource: the Request-URI's `user@host` (or `user`, see
    /// [`Config::resource_with_host`]).
    pub resource: String,
    /// The resource as a URI: the Request-URI's scheme, user and host
    /// (`sip:alice@example.com`), the entity of its documents.
    pub entity: String,
    /// The subscriber: the From URI.
    pub subscriber: String,
    /// Pending or active.
    pub state: SubState,
}

/// Why a subscription ends: the `reason` of its final NOTIFY's
/// `Subscription-State: terminated` (RFC 6665).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    /// The subscriber unsubscribed (no reason given).
    Unsubscribed,
    /// Expired, or a fetch (`Expires: 0`) answered.
    Timeout,
    /// Refused after being pending.
    Rejected,
    /// The notifier stops serving it; the subscriber may subscribe again at
    /// once (sofia-sip's shutdown without retry time).
    Deactivated,
    /// The notifier stops serving it; the subscriber may subscribe again
    /// after this many seconds.
    Probation(u32),
}

impl Ending {
    fn state(self) -> String {
        match self {
            Ending::Unsubscribed => "terminated".into(),
            Ending::Timeout => "terminated;reason=timeout".into(),
            Ending::Rejected => "terminated;reason=rejected".into(),
            Ending::Deactivated => "terminated;reason=deactivated".into(),
            Ending::Probation(s) => format!("terminated;reason=probation;retry-after={s}"),
        }
    }
}

struct Subscription {
    info: SubscriptionInfo,
    /// The `id` parameter of the SUBSCRIBE's `Event`, echoed in its
    /// NOTIFYs (RFC 6665).
    event_id: Option<String>,
    dialog: Dialog,
    /// Call-ID, From tag and CSeq of the SUBSCRIBE that made it: the same
    /// request again without a To tag is merged (482), not a new
    /// subscription.
    origin: (String, String, u32),
    expires_at: Instant,
    /// A NOTIFY is owed (sent when `notify_after` has passed).
    dirty: bool,
    /// The next NOTIFY may not go before this.
    notify_after: Instant,
    /// A final NOTIFY with this ending is owed.
    terminate: Option<Ending>,
    /// A NOTIFY awaits its outcome: the next one waits for it, so that
    /// NOTIFYs arrive in CSeq order (sofia-sip's one outstanding NOTIFY).
    notifying: bool,
}

/// A NOTIFY to send.
#[derive(Debug)]
pub struct Notify {
    /// The subscription.
    pub sub: SubId,
    /// The request, complete with the Via it was given.
    pub request: Message,
    /// Where it goes first: its first Route's URI with a loose router, else
    /// its Request-URI (RFC 3261 §8.1.2); resolve it per RFC 3263.
    pub next_hop: String,
    /// True for the final NOTIFY: the subscription is gone.
    pub last: bool,
}

/// Why [`Notifier::approve`], [`Notifier::reject`] or
/// [`Notifier::set_state`] did nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// No such subscription (expired, ended, or never made).
    #[error("no subscription {0:?}")]
    NoSubscription(SubId),
    /// The package is not served.
    #[error("unknown event package {0:?}")]
    UnknownEvent(String),
}

/// The event server.
pub struct Notifier {
    config: Config,
    packages: Vec<Box<dyn Package>>,
    subs: HashMap<SubId, Subscription>,
    by_dialog: HashMap<DialogId, SubId>,
    by_origin: HashMap<(String, String, u32), SubId>,
    by_resource: HashMap<(String, String), Vec<SubId>>,
    states: HashMap<(String, String), String>,
    next_id: u64,
    owed: VecDeque<SubId>,
    /// Expiry instants, earliest first; an entry whose subscription is gone,
    /// ending, or refreshed to another instant is dropped when it surfaces
    /// (and the heap rebuilt when such entries outnumber the live ones).
    expiries: BinaryHeap<Reverse<(Instant, SubId)>>,
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifier")
            .field("config", &self.config)
            .field("subscriptions", &self.subs.len())
            .finish()
    }
}

/// The resource a request addresses (`user@host` of its Request-URI, or
/// `user` alone without `with_host`; the host when there is no user) and its
/// entity URI (`sip:user@host`).
fn resource_of(req: &Message, with_host: bool) -> Option<(String, String)> {
    let uri = req.request_uri()?.ok()?;
    let host = uri.host().to_ascii_lowercase();
    let entity = match uri.user() {
        Some(u) => format!("{}:{u}@{host}", uri.scheme_str()),
        None => format!("{}:{host}", uri.scheme_str()),
    };
    let resource = match uri.user() {
        Some(u) if with_host => format!("{u}@{host}"),
        Some(u) => u.to_string(),
        None => host,
    };
    Some((resource, entity))
}

/// The package name of an `Event` value and its `id` parameter.
fn event_of(req: &Message) -> Option<(String, Option<String>)> {
    let v = req.header(HeaderName::Event)?;
    let mut parts = v.split(';');
    let name = parts.next()?.trim();
    if name.is_empty() {
        return None;
    }
    let id = parts.find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("id")
            .then(|| v.trim().to_string())
    });
    Some((name.to_ascii_lowercase(), id))
}

impl Notifier {
    /// A notifier serving no package yet.
    pub fn new(config: Config) -> Notifier {
        Notifier {
            config,
            packages: Vec::new(),
            subs: HashMap::new(),
            by_dialog: HashMap::new(),
            by_origin: HashMap::new(),
            by_resource: HashMap::new(),
            states: HashMap::new(),
            next_id: 1,
            owed: VecDeque::new(),
            expiries: BinaryHeap::new(),
        }
    }

    /// Serves a package (replacing one of the same event).
    pub fn add_package(&mut self, package: Box<dyn Package>) {
        self.packages.retain(|p| p.event() != package.event());
        self.packages.push(package);
    }

    /// The settings.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The events served, for `Allow-Events`.
    pub fn allow_events(&self) -> String {
        self.packages
            .iter()
            .map(|p| p.event())
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn package(&self, event: &str) -> Option<&dyn Package> {
        self.packages
            .iter()
            .find(|p| p.event().eq_ignore_ascii_case(event))
            .map(|p| p.as_ref())
    }

    /// The number of subscriptions.
    pub fn len(&self) -> usize {
        self.subs.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.subs.is_empty()
    }

    /// Every subscription.
    pub fn subscriptions(&self) -> impl Iterator<Item = &SubscriptionInfo> {
        self.subs.values().map(|s| &s.info)
    }

    /// One subscription.
    pub fn subscription(&self, sub: SubId) -> Option<&SubscriptionInfo> {
        self.subs.get(&sub).map(|s| &s.info)
    }

    /// The dialog of a subscription, to match in-dialog requests.
    pub fn dialog_id(&self, sub: SubId) -> Option<&DialogId> {
        self.subs.get(&sub).map(|s| &s.dialog.id)
    }

    /// The subscription of a dialog.
    pub fn find(&self, dialog: &DialogId) -> Option<SubId> {
        self.by_dialog.get(dialog).copied()
    }

    fn reply(&self, req: &Message, status: u16, reason: &str, tag: &str) -> ResponseBuilder {
        ResponseBuilder::reply_to(req, status, reason, Some(tag))
    }

    /// Takes a SUBSCRIBE (new, refresh, or unsubscribe) and returns the
    /// response to send; NOTIFYs it causes wait in [`poll_notify`]. `tag` is
    /// the To tag for a new dialog; `authorize` is asked about new
    /// subscriptions.
    ///
    /// A SUBSCRIBE without a To tag whose Call-ID, From tag and CSeq are
    /// those of the request that made a live subscription (a fork of it that
    /// came by another path, or a retransmission after its transaction
    /// ended) is answered 482 Loop Detected (RFC 3261 §8.2.2.2) and makes no
    /// second subscription.
    ///
    /// [`poll_notify`]: Notifier::poll_notify
    pub fn handle_subscribe(
        &mut self,
        now: Instant,
        req: &Message,
        tag: &str,
        authorize: impl FnOnce(&SubscriptionInfo) -> Decision,
    ) -> Result<Message, sofia_msg::BuildError> {
        let to_tag = req.to_tag().unwrap_or(tag).to_string();
        let Some((event, event_id)) = event_of(req) else {
            return self
                .reply(req, 400, "Missing Event header", &to_tag)
                .build();
        };
        if self.package(&event).is_none() {
            su_log!(NEA, 5, "nea: 489 for event {:?}", event);
            return self
                .reply(req, 489, "Bad Event", &to_tag)
                .header(HeaderName::AllowEvents, &self.allow_events())
                .build();
        }
        let expires = match req.header(HeaderName::Expires) {
            None => self.config.default_expires,
            Some(v) => match v.trim().parse::<u64>() {
                Ok(e) => e.min(u64::from(u32::MAX)) as u32,
                Err(_) => return self.reply(req, 400, "Bad Expires header", &to_tag).build(),
            },
        };
        if expires != 0 && expires < self.config.min_expires {
            return self
                .reply(req, 423, "Interval Too Brief", &to_tag)
                .header(HeaderName::MinExpires, &self.config.min_expires.to_string())
                .build();
        }
        let expires = expires.min(self.config.max_expires);
        let expires_header = expires.to_string();

        // A refresh or unsubscribe in an existing dialog.
        if req.to_tag().is_some() {
            let id = DialogId {
                call_id: req.call_id().unwrap_or("").to_string(),
                local_tag: to_tag.clone(),
                remote_tag: req.from_tag().unwrap_or("").to_string(),
            };
            let sub = self
                .by_dialog
                .get(&id)
                .copied()
                .and_then(|sub_id| Some((sub_id, self.subs.get_mut(&sub_id)?)));
            // Unknown dialog, another package or `id` than the dialog's
            // subscription, or one already ending: none to refresh.
            let Some((sub_id, sub)) = sub.filter(|(_, s)| {
                s.info.event == event && s.event_id == event_id && s.terminate.is_none()
            }) else {
                return self
                    .reply(req, 481, "Subscription Does Not Exist", &to_tag)
                    .build();
            };
            if sub.dialog.on_request(req).is_err() {
                return self.reply(req, 500, "CSeq Out of Order", &to_tag).build();
            }
            let mut refreshed = None;
            if expires == 0 {
                sub.terminate = Some(Ending::Unsubscribed);
                su_log!(NEA, 5, "nea: {:?} unsubscribed", sub_id);
            } else {
                sub.expires_at = now + Duration::from_secs(u64::from(expires));
                refreshed = Some(sub.expires_at);
                su_log!(NEA, 5, "nea: {:?} refreshed for {} s", sub_id, expires);
            }
            // Every refresh gets a NOTIFY with the current state (RFC 6665
            // §4.2.1.2).
            sub.dirty = true;
            if let Some(at) = refreshed {
                self.schedule_expiry(at, sub_id);
            }
            self.owe(sub_id);
            return self
                .reply(req, 200, "OK", &to_tag)
                .header(HeaderName::Expires, &expires_header)
                .header(HeaderName::Contact, &format!("<{}>", self.config.contact))
                .build();
        }

        let origin = (
            req.call_id().unwrap_or("").to_string(),
            req.from_tag().unwrap_or("").to_string(),
            req.cseq().map_or(0, |c| c.0),
        );
        if let Some(existing) = self.by_origin.get(&origin) {
            su_log!(
                NEA,
                5,
                "nea: SUBSCRIBE merged with the one of {:?}: 482",
                existing
            );
            return self.reply(req, 482, "Loop Detected", &to_tag).build();
        }
        let Some((resource, entity)) = resource_of(req, self.config.resource_with_host) else {
            return self
                .reply(req, 416, "Unsupported URI Scheme", &to_tag)
                .build();
        };
        let key = (event.clone(), resource.clone());
        let per_resource = self.by_resource.get(&key).map_or(0, Vec::len);
        if self.subs.len() >= self.config.max_total || per_resource >= self.config.max_per_resource
        {
            su_log!(
                NEA,
                3,
                "nea: subscription limit reached for {} ({})",
                resource,
                event
            );
            return self
                .reply(req, 503, "Service Unavailable", &to_tag)
                .header(HeaderName::RetryAfter, &self.config.retry_after.to_string())
                .build();
        }
        let dialog = match Dialog::from_uas(req, &to_tag, false) {
            Ok(d) => d,
            Err(e) => {
                return self
                    .reply(req, 400, &format!("Bad Request ({e})"), &to_tag)
                    .build();
            }
        };
        let id = SubId(self.next_id);
        let mut info = SubscriptionInfo {
            id,
            event: event.clone(),
            resource: resource.clone(),
            entity,
            subscriber: req
                .from()
                .map(|f| f.uri().as_str().to_string())
                .unwrap_or_default(),
            state: SubState::Active,
        };
        let decision = authorize(&info);
        if decision == Decision::Reject {
            su_log!(
                NEA,
                5,
                "nea: {} refused {} of {}",
                info.subscriber,
                event,
                resource
            );
            return self.reply(req, 403, "Forbidden", &to_tag).build();
        }
        self.next_id += 1;
        if decision == Decision::Pending {
            info.state = SubState::Pending;
        }
        let (status, reason) = match decision {
            Decision::Pending => (202, "Accepted"),
            _ => (200, "OK"),
        };
        su_log!(
            NEA,
            5,
            "nea: {:?} {} subscribes to {} of {} for {} s ({})",
            id,
            info.subscriber,
            event,
            resource,
            expires,
            if info.state == SubState::Pending {
                "pending"
            } else {
                "active"
            }
        );
        self.by_dialog.insert(dialog.id.clone(), id);
        self.by_origin.insert(origin.clone(), id);
        self.by_resource.entry(key).or_default().push(id);
        let expires_at = now + Duration::from_secs(u64::from(expires));
        if expires != 0 {
            self.schedule_expiry(expires_at, id);
        }
        self.subs.insert(
            id,
            Subscription {
                info,
                event_id,
                dialog,
                origin,
                expires_at,
                dirty: true,
                notify_after: now,
                // A fetch (Expires: 0) gets one NOTIFY and ends.
                terminate: (expires == 0).then_some(Ending::Timeout),
                notifying: false,
            },
        );
        self.owe(id);
        self.reply(req, status, reason, &to_tag)
            .header(HeaderName::Expires, &expires_header)
            .header(HeaderName::Contact, &format!("<{}>", self.config.contact))
            .build()
    }

    /// Schedules an expiry; rebuilds the heap from the live subscriptions
    /// when stale entries (from refreshes) outnumber them.
    fn schedule_expiry(&mut self, at: Instant, id: SubId) {
        self.expiries.push(Reverse((at, id)));
        if self.expiries.len() > 2 * self.subs.len() + 64 {
            self.expiries = self
                .subs
                .iter()
                .filter(|(_, s)| s.terminate.is_none())
                .map(|(id, s)| Reverse((s.expires_at, *id)))
                .collect();
            if !self.subs.contains_key(&id) {
                // Not yet inserted (a new subscription): keep its entry.
                self.expiries.push(Reverse((at, id)));
            }
        }
    }

    fn owe(&mut self, id: SubId) {
        if !self.owed.contains(&id) {
            self.owed.push_back(id);
        }
    }

    /// Sets a resource's state (the body of its NOTIFYs) and owes a NOTIFY to
    /// every active subscriber of it; returns how many.
    pub fn set_state(&mut self, event: &str, resource: &str, body: String) -> Result<usize, Error> {
        let event = event.to_ascii_lowercase();
        if self.package(&event).is_none() {
            return Err(Error::UnknownEvent(event));
        }
        let key = (event, resource.to_string());
        self.states.insert(key.clone(), body);
        Ok(self.mark_changed(&key))
    }

    /// Forgets a resource's state: the notifier keeps nothing for it, and
    /// its active subscribers are owed a NOTIFY with the package's initial
    /// body (which a package may compute from elsewhere, so this also
    /// tells subscribers of a resource without state that it changed).
    /// Returns how many.
    pub fn clear_state(&mut self, event: &str, resource: &str) -> Result<usize, Error> {
        let event = event.to_ascii_lowercase();
        if self.package(&event).is_none() {
            return Err(Error::UnknownEvent(event));
        }
        let key = (event, resource.to_string());
        self.states.remove(&key);
        Ok(self.mark_changed(&key))
    }

    /// Owes a NOTIFY to every active subscriber of `key` (event, resource)
    /// that is not ending; returns how many.
    fn mark_changed(&mut self, key: &(String, String)) -> usize {
        let ids = self.by_resource.get(key).cloned().unwrap_or_default();
        let mut n = 0;
        for id in ids {
            if let Some(s) = self.subs.get_mut(&id)
                && s.info.state == SubState::Active
                && s.terminate.is_none()
            {
                s.dirty = true;
                n += 1;
                self.owe(id);
            }
        }
        n
    }

    /// How many resources have a state set.
    pub fn state_count(&self) -> usize {
        self.states.len()
    }

    /// The state last set for a resource.
    pub fn state(&self, event: &str, resource: &str) -> Option<&str> {
        self.states
            .get(&(event.to_ascii_lowercase(), resource.to_string()))
            .map(String::as_str)
    }

    /// Authorizes a pending subscription: it becomes active and gets a
    /// NOTIFY with the state.
    pub fn approve(&mut self, sub: SubId) -> Result<(), Error> {
        let s = self
            .subs
            .get_mut(&sub)
            .filter(|s| s.terminate.is_none())
            .ok_or(Error::NoSubscription(sub))?;
        s.info.state = SubState::Active;
        s.dirty = true;
        su_log!(NEA, 5, "nea: {:?} approved", sub);
        self.owe(sub);
        Ok(())
    }

    /// Refuses a subscription: a final NOTIFY `terminated;reason=rejected`.
    pub fn reject(&mut self, sub: SubId) -> Result<(), Error> {
        let s = self
            .subs
            .get_mut(&sub)
            .filter(|s| s.terminate.is_none())
            .ok_or(Error::NoSubscription(sub))?;
        s.terminate = Some(Ending::Rejected);
        s.dirty = true;
        su_log!(NEA, 5, "nea: {:?} rejected", sub);
        self.owe(sub);
        Ok(())
    }

    /// Ends every subscription, as sofia-sip's `nea_server_shutdown()`: each
    /// owes a final NOTIFY `terminated;reason=deactivated` (subscribe again
    /// at once) or, with `retry_after`,
    /// `terminated;reason=probation;retry-after=N`. Returns how many.
    pub fn shutdown(&mut self, retry_after: Option<u32>) -> usize {
        let ending = match retry_after {
            Some(s) => Ending::Probation(s),
            None => Ending::Deactivated,
        };
        let ids: Vec<SubId> = self
            .subs
            .iter()
            .filter(|(_, s)| s.terminate.is_none())
            .map(|(id, _)| *id)
            .collect();
        for id in &ids {
            if let Some(s) = self.subs.get_mut(id) {
                s.terminate = Some(ending);
                s.dirty = true;
            }
            self.owe(*id);
        }
        su_log!(NEA, 5, "nea: shutdown ends {} subscriptions", ids.len());
        ids.len()
    }

    /// The next NOTIFY that may go now, built with the Via `via()` gives; the
    /// caller sends it in a client transaction and passes its outcome to
    /// [`handle_notify_result`](Notifier::handle_notify_result). A
    /// subscription has one NOTIFY outstanding at a time: the next waits for
    /// that outcome, and goes with the state of then.
    pub fn poll_notify(&mut self, now: Instant, mut via: impl FnMut() -> String) -> Option<Notify> {
        self.poll_notify_with(now, |_| via())
    }

    /// [`poll_notify`](Notifier::poll_notify) with a Via made for the
    /// NOTIFY's next hop: `via` gets the URI it goes to first (see
    /// [`Notify::next_hop`]), from which a driver picks the transport.
    pub fn poll_notify_with(
        &mut self,
        now: Instant,
        mut via: impl FnMut(&str) -> String,
    ) -> Option<Notify> {
        let n = self.owed.len();
        for _ in 0..n {
            let id = self.owed.pop_front()?;
            let Some(s) = self.subs.get(&id) else {
                continue;
            };
            if !s.dirty || s.notifying {
                // Nothing owed, or owed once the outstanding NOTIFY's
                // outcome comes.
                continue;
            }
            if s.terminate.is_none() && now < s.notify_after {
                // Throttled: kept for later.
                self.owed.push_back(id);
                continue;
            }
            if let Some(n) = self.build_notify(now, id, &mut via) {
                return Some(n);
            }
        }
        None
    }

    fn build_notify(
        &mut self,
        now: Instant,
        id: SubId,
        via: &mut impl FnMut(&str) -> String,
    ) -> Option<Notify> {
        let interval = self.config.min_notify_interval;
        let contact = format!("<{}>", self.config.contact);
        let s = self.subs.get(&id)?;
        let package = self.package(&s.info.event)?;
        let content_type = package.content_type().to_string();
        let key = (s.info.event.clone(), s.info.resource.clone());
        let body = match self.states.get(&key) {
            Some(b) => b.clone(),
            None => package.initial_body(&s.info.entity),
        };
        let s = self.subs.get_mut(&id)?;
        // Seconds left, rounded up: a NOTIFY built a moment after the
        // SUBSCRIBE still says the whole duration granted.
        let left = s.expires_at.saturating_duration_since(now);
        let left = left.as_secs() + u64::from(left.subsec_nanos() > 0);
        let (state, last) = match s.terminate {
            Some(ending) => (ending.state(), true),
            None => match s.info.state {
                SubState::Active => (format!("active;expires={left}"), false),
                SubState::Pending => (format!("pending;expires={left}"), false),
            },
        };
        // Pending and rejected subscriptions get no state.
        let with_body = s.info.state == SubState::Active && s.terminate != Some(Ending::Rejected);
        let event = match &s.event_id {
            Some(i) => format!("{};id={i}", s.info.event),
            None => s.info.event.clone(),
        };
        let (target, routes) = s.dialog.request_target();
        let next_hop = match routes.first() {
            Some(r) if target == s.dialog.remote_target => {
                r.trim_start_matches('<').trim_end_matches('>').to_string()
            }
            _ => target,
        };
        let via = via(&next_hop);
        let mut b = s
            .dialog
            .request(Method::Notify, &via, None)
            .header(HeaderName::Event, &event)
            .header(HeaderName::SubscriptionState, &state)
            .header(HeaderName::Contact, &contact);
        if with_body {
            b = b.body(&content_type, body);
        }
        s.dirty = false;
        s.notifying = true;
        s.notify_after = now + interval;
        su_log!(NEA, 5, "nea: {:?} NOTIFY {}", id, state);
        let built = b.build();
        if last {
            self.remove(id);
        }
        match built {
            Ok(request) => Some(Notify {
                sub: id,
                request,
                next_hop,
                last,
            }),
            Err(e) => {
                su_log!(NEA, 2, "nea: {:?} NOTIFY not built: {}", id, e);
                if !last {
                    self.remove(id);
                }
                None
            }
        }
    }

    /// The outcome of a NOTIFY: a final status, or `None` for a timeout.
    /// 481, 408, a timeout and other failures end the subscription
    /// (RFC 6665 §4.2.2); returns true when it ended one. After a 2xx the
    /// subscription's next NOTIFY may go.
    pub fn handle_notify_result(&mut self, sub: SubId, status: Option<u16>) -> bool {
        match status {
            Some(100..=199) => false,
            Some(200..=299) => {
                if let Some(s) = self.subs.get_mut(&sub) {
                    s.notifying = false;
                    if s.dirty {
                        self.owe(sub);
                    }
                }
                false
            }
            _ => {
                let ended = self.remove(sub);
                if ended {
                    su_log!(NEA, 5, "nea: {:?} ended by NOTIFY result {:?}", sub, status);
                }
                ended
            }
        }
    }

    fn remove(&mut self, id: SubId) -> bool {
        let Some(s) = self.subs.remove(&id) else {
            return false;
        };
        if self.subs.is_empty() {
            self.expiries.clear();
        }
        self.by_dialog.remove(&s.dialog.id);
        self.by_origin.remove(&s.origin);
        let key = (s.info.event, s.info.resource);
        if let Some(list) = self.by_resource.get_mut(&key) {
            list.retain(|x| *x != id);
            if list.is_empty() {
                self.by_resource.remove(&key);
            }
        }
        true
    }

    /// When [`handle_timeout`](Notifier::handle_timeout) or
    /// [`poll_notify`](Notifier::poll_notify) next has work: never later,
    /// sometimes earlier (after a refresh or an end, until the old expiry
    /// has been dropped). Found without a scan of the subscriptions.
    pub fn poll_timeout(&self) -> Option<Instant> {
        // Final NOTIFYs are never throttled: `poll_notify` gives them at
        // once, so only throttled ones wait for a time.
        let owed = self
            .owed
            .iter()
            .filter_map(|id| self.subs.get(id))
            .filter(|s| s.dirty && !s.notifying && s.terminate.is_none())
            .map(|s| s.notify_after);
        // The earliest entry may be stale: a wake-up too early, never too
        // late (handle_timeout drops it).
        let expiry = self.expiries.peek().map(|Reverse((at, _))| *at);
        owed.chain(expiry).min()
    }

    /// Expires subscriptions whose time has come: each owes a final NOTIFY
    /// `terminated;reason=timeout`.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(&Reverse((at, id))) = self.expiries.peek() {
            if at > now {
                break;
            }
            self.expiries.pop();
            if let Some(s) = self.subs.get_mut(&id)
                && s.terminate.is_none()
                && s.expires_at == at
            {
                s.terminate = Some(Ending::Timeout);
                s.dirty = true;
                su_log!(NEA, 5, "nea: {:?} expired", id);
                self.owe(id);
            }
        }
    }
}
