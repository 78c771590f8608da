//! Presence for a profile, as FreeSWITCH's `sofia_presence.c` serves it:
//! PUBLISH of the `presence` event (RFC 3903), registrations turned into
//! presence, the PIDF documents FreeSWITCH sends, `sofia_presence_data` and
//! the check-sync NOTIFY of `sofia profile <p> check_sync`.
//!
//! [`PublicationStore`] is the sans-IO event state compositor: it takes a
//! PUBLISH's parts with the time ([`PublicationStore::handle`]) and says
//! what to answer ([`PublishReply`]: 200 with a new `SIP-ETag` and the
//! granted `Expires`, 412 for an unknown entity tag, 489 for another
//! package, 400 for an initial PUBLISH without body, ...). It keeps the
//! published state of each presentity (`user@host` of the Request-URI),
//! one entry per entity tag, bounded in presentities and in entries per
//! presentity, and drops entries when they expire
//! ([`PublicationStore::expire`]). A presentity's state is its most
//! recently published entry.
//!
//! [`PresenceService`] drives it in the daemon: it answers PUBLISH on the
//! profile's engine and gives the sofia-nea notifier, whose subscribers get
//! the NOTIFYs, the state of each presentity that changed: the published
//! document; else nothing, and the package ([`FsPresence`]) gives open
//! (`Registered`, shown as `Available`) for a user with a registration and
//! closed (`Unregistered`) otherwise.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use mod_sofia::presence::{PublicationStore, PublishConfig, PublishInput};
//!
//! let mut store = PublicationStore::new(PublishConfig::default(), 7);
//! let now = Instant::now();
//! let pidf = br#"<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:1000@example.com">
//!   <tuple id="t1"><status><basic>open</basic></status><note>Lunch</note></tuple></presence>"#;
//! let first = store.handle(now, &PublishInput {
//!     resource: "1000@example.com",
//!     event: Some("presence"),
//!     expires: Some("600"),
//!     content_type: Some("application/pidf+xml"),
//!     body: pidf,
//!     ..PublishInput::default()
//! });
//! assert_eq!((first.status, first.expires), (200, Some(600)));
//! let etag = first.etag.unwrap();
//! assert_eq!(store.current("1000@example.com").unwrap().info.note, "Lunch");
//! // A refresh names the entity tag and gets a new one.
//! let refresh = store.handle(now, &PublishInput {
//!     resource: "1000@example.com",
//!     event: Some("presence"),
//!     if_match: Some(&etag),
//!     ..PublishInput::default()
//! });
//! assert_eq!(refresh.status, 200);
//! assert_ne!(refresh.etag.as_deref(), Some(etag.as_str()));
//! // The old tag is gone: 412.
//! let stale = store.handle(now, &PublishInput {
//!     resource: "1000@example.com",
//!     event: Some("presence"),
//!     if_match: Some(&etag),
//!     ..PublishInput::default()
//! });
//! assert_eq!(stale.status, 412);
//! // Unrefreshed, it expires.
//! assert_eq!(store.expire(now + Duration::from_secs(3601)), vec!["1000@example.com".to_string()]);
//! assert!(store.current("1000@example.com").is_none());
//! ```

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use sofia_msg::{HeaderName, ResponseBuilder};
use sofia_nea::{Package, Server};
use sofia_nta::ServerRequest;
use sofia_su::su_log;

use crate::commands::{ProfileStatus, Reply, SofiaState};
use crate::store::Registration;

/// The event package served by PUBLISH.
pub const EVENT: &str = "presence";
/// The body type of published and notified presence documents.
pub const PIDF: &str = "application/pidf+xml";
/// Longest presentity (`user@host`) accepted, in bytes (414 past it).
pub const MAX_RESOURCE: usize = 256;
/// Longest note, activity or user agent kept, in characters.
pub const MAX_TEXT: usize = 256;

/// Limits and timers of the publication store. Defaults: FreeSWITCH's
/// 3600 s when a PUBLISH names no expiry, no forced or minimum expiry,
/// 10,000 presentities with at most 8 entries each, 64 KiB documents,
/// `Retry-After: 30` past the presentity limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishConfig {
    /// The expiry of a PUBLISH without `Expires`.
    pub default_expires: u32,
    /// `force-publish-expires`: longer requested expiries are lowered to
    /// it (0: off), as FreeSWITCH does.
    pub force_expires: u32,
    /// Shortest expiry accepted (423 with `Min-Expires` below it; 0: off).
    pub min_expires: u32,
    /// Most presentities with published state (503 past it).
    pub max_presentities: usize,
    /// Most entries (entity tags) per presentity; a new one past it
    /// replaces the least recently published.
    pub max_per_presentity: usize,
    /// Largest document accepted, in bytes (413 past it).
    pub max_body: usize,
    /// The `Retry-After` of the 503, in seconds.
    pub retry_after: u32,
}

impl Default for PublishConfig {
    fn default() -> Self {
        PublishConfig {
            default_expires: 3600,
            force_expires: 0,
            min_expires: 0,
            max_presentities: 10_000,
            max_per_presentity: 8,
            max_body: 64 * 1024,
            retry_after: 30,
        }
    }
}

/// What FreeSWITCH reads from a published PIDF document (the columns of
/// its `sip_presence` table).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PidfInfo {
    /// `open` or `closed` (the first tuple's `<basic>`; `open` when absent).
    pub open_closed: String,
    /// The status text: the person's note, else the tuple's note;
    /// `Available` for a person without note; `Unregistered` when closed.
    pub note: String,
    /// The activity (`away`, `on-the-phone`, ...) of the person's
    /// `<rpid:activities>`, else the tuple's note; `Unregistered` when
    /// closed.
    pub rpid: String,
}

/// Why a document is not a PIDF FreeSWITCH can read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PidfError {
    /// Not well-formed XML (or not UTF-8, or with a DTD).
    #[error("not well-formed: {0}")]
    Xml(String),
    /// The root element is not `presence`.
    #[error("the root element is <{0}>, not <presence>")]
    NotPresence(String),
}

/// The first child element of `node` whose local name is `name`.
fn child<'a, 'input>(
    node: roxmltree::Node<'a, 'input>,
    name: &str,
) -> Option<roxmltree::Node<'a, 'input>> {
    node.children()
        .find(|c| c.is_element() && c.tag_name().name() == name)
}

fn truncate(s: &str) -> String {
    s.trim().chars().take(MAX_TEXT).collect()
}

/// Reads a PIDF document as FreeSWITCH does: `<basic>` of the first tuple,
/// the tuple's `<note>`, and the `<dm:person>`'s note and first
/// `<rpid:activities>` child (elements are matched by local name, whatever
/// their prefix).
pub fn parse_pidf(body: &[u8]) -> Result<PidfInfo, PidfError> {
    let text = std::str::from_utf8(body).map_err(|e| PidfError::Xml(e.to_string()))?;
    let doc = roxmltree::Document::parse(text).map_err(|e| PidfError::Xml(e.to_string()))?;
    let root = doc.root_element();
    if root.tag_name().name() != "presence" {
        return Err(PidfError::NotPresence(root.tag_name().name().to_string()));
    }
    let text_of = |node: roxmltree::Node<'_, '_>| truncate(node.text().unwrap_or(""));
    let mut open_closed = String::new();
    let mut note = String::new();
    let mut rpid = String::new();
    if let Some(tuple) = child(root, "tuple")
        && let Some(basic) = child(tuple, "status").and_then(|s| child(s, "basic"))
    {
        open_closed = text_of(basic).to_ascii_lowercase();
        if let Some(n) = child(tuple, "note") {
            note = text_of(n);
            rpid = note.clone();
        }
    }
    if let Some(person) = child(root, "person") {
        if let Some(n) = child(person, "note") {
            note = text_of(n);
        }
        if let Some(activity) =
            child(person, "activities").and_then(|a| a.children().find(roxmltree::Node::is_element))
        {
            rpid = truncate(activity.tag_name().name());
        }
        if note.is_empty() {
            note = "Available".to_string();
        }
    }
    if open_closed == "closed" {
        note = "Unregistered".to_string();
        rpid = "Unregistered".to_string();
    } else {
        open_closed = "open".to_string();
    }
    Ok(PidfInfo {
        open_closed,
        note,
        rpid,
    })
}

/// FreeSWITCH's `sofia_presence_translate_rpid`: no activity for a value
/// containing `null`, `busy` for `dnd` and `idle`.
pub fn translate_rpid(rpid: &str) -> Option<&str> {
    if rpid.is_empty() || rpid.to_ascii_lowercase().contains("null") {
        return None;
    }
    if rpid.eq_ignore_ascii_case("dnd") || rpid.eq_ignore_ascii_case("idle") {
        return Some("busy");
    }
    Some(rpid)
}

/// An activity usable as an element name (`rpid:<activity>/`).
fn is_xml_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// The PIDF document FreeSWITCH sends subscribers (`gen_pidf`) for
/// `entity` with the basic status `open_closed`, the status text `status`
/// and the activity `rpid`: `Registered...` shows as `Available`;
/// `Available` and `Unregistered` carry no activity; closed is
/// `Unregistered`. Text is XML-escaped.
pub fn fs_pidf(entity: &str, open_closed: &str, status: &str, rpid: &str) -> String {
    let mut open = if open_closed.eq_ignore_ascii_case("closed") {
        "closed"
    } else {
        "open"
    };
    let mut status = status;
    let mut prpid = translate_rpid(rpid);
    if open == "closed" {
        status = "Unregistered";
        prpid = None;
    }
    if status.len() >= 10 && status[..10].eq_ignore_ascii_case("Registered") {
        status = "Available";
    }
    if status.eq_ignore_ascii_case("Available") {
        prpid = None;
    }
    if status.eq_ignore_ascii_case("Unregistered") {
        prpid = None;
        open = "closed";
    }
    if status.is_empty() && prpid.is_some() {
        status = "Available";
        prpid = None;
    }
    let activities = match prpid.filter(|p| is_xml_name(p)) {
        Some(p) => format!("  <rpid:activities>\r\n   <rpid:{p}/>\n  </rpid:activities>\n"),
        None => String::new(),
    };
    format!(
        "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?> \n\
         <presence xmlns='urn:ietf:params:xml:ns:pidf' \n\
         xmlns:dm='urn:ietf:params:xml:ns:pidf:data-model' \n\
         xmlns:rpid='urn:ietf:params:xml:ns:pidf:rpid' \n\
         xmlns:c='urn:ietf:params:xml:ns:pidf:cipid' entity='{}'>\n \
         <tuple id='t6a5ed77e'>\n  \
         <status>\r\n   \
         <basic>{open}</basic>\n  \
         </status>\n \
         </tuple>\n \
         <dm:person id='p06360c4a'>\n\
         {activities}  \
         <dm:note>{}</dm:note>\n \
         </dm:person>\n\
         </presence>",
        sofia_nea::package::xml_escape(entity),
        sofia_nea::package::xml_escape(status)
    )
}

/// Whether `user@host` has a registration.
pub type RegisteredFn = Arc<dyn Fn(&str, &str) -> bool + Send + Sync>;

/// The `presence` package with FreeSWITCH's documents. A presentity
/// without published state (the notifier keeps none for it) is open,
/// `Registered`, while the user has a registration, as the registration
/// lookup given to [`FsPresence::with_registrations`] says, and closed,
/// `Unregistered`, otherwise; nothing is stored per registered user.
#[derive(Clone, Default)]
pub struct FsPresence {
    registered: Option<RegisteredFn>,
}

impl std::fmt::Debug for FsPresence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FsPresence")
            .field("registrations", &self.registered.is_some())
            .finish()
    }
}

impl FsPresence {
    /// The package with a registration lookup. The notifier calls it with
    /// its lock held: it must not call the notifier's server.
    pub fn with_registrations(registered: RegisteredFn) -> FsPresence {
        FsPresence {
            registered: Some(registered),
        }
    }
}

impl Package for FsPresence {
    fn event(&self) -> &str {
        EVENT
    }
    fn content_type(&self) -> &str {
        PIDF
    }
    fn initial_body(&self, entity: &str) -> String {
        let aor = entity.split_once(':').map_or(entity, |(_, rest)| rest);
        let registered = match (&self.registered, aor.split_once('@')) {
            (Some(f), Some((user, host))) => f(user, host),
            _ => false,
        };
        if registered {
            fs_pidf(entity, "open", "Registered", "unknown")
        } else {
            fs_pidf(entity, "closed", "Unregistered", "")
        }
    }
}

/// One published entry of a presentity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publication {
    /// Its current entity tag (`SIP-ETag`).
    pub etag: String,
    /// What its document says.
    pub info: PidfInfo,
    /// When it expires unless refreshed.
    pub expires_at: Instant,
    /// The publisher's `User-Agent`.
    pub user_agent: String,
    /// Where the PUBLISH came from.
    pub source: SocketAddr,
    /// Unique in the store; the key of its expiry.
    id: u64,
    /// Order of the last modification (a higher number is more recent).
    modified: u64,
}

/// The parts of a PUBLISH the store looks at.
#[derive(Debug, Clone, Copy)]
pub struct PublishInput<'a> {
    /// The presentity: `user@host` of the Request-URI (host in lower case).
    pub resource: &'a str,
    /// The `Event` header.
    pub event: Option<&'a str>,
    /// `SIP-If-Match`.
    pub if_match: Option<&'a str>,
    /// `Expires`, as written.
    pub expires: Option<&'a str>,
    /// `Content-Type`.
    pub content_type: Option<&'a str>,
    /// The body (empty: none).
    pub body: &'a [u8],
    /// `User-Agent` (empty: none).
    pub user_agent: &'a str,
    /// Where it came from.
    pub source: SocketAddr,
}

impl Default for PublishInput<'_> {
    fn default() -> Self {
        PublishInput {
            resource: "",
            event: None,
            if_match: None,
            expires: None,
            content_type: None,
            body: &[],
            user_agent: "",
            source: SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0),
        }
    }
}

/// What to answer a PUBLISH.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishReply {
    /// The status: 200, 400, 412, 413, 415, 423, 489, 503.
    pub status: u16,
    /// Its reason phrase.
    pub reason: &'static str,
    /// `SIP-ETag` (200 to a publication that lives on).
    pub etag: Option<String>,
    /// `Expires` (200).
    pub expires: Option<u32>,
    /// `Min-Expires` (423).
    pub min_expires: Option<u32>,
    /// `Retry-After` (503).
    pub retry_after: Option<u32>,
    /// `Allow-Events: presence` (489).
    pub allow_events: bool,
    /// `Accept: application/pidf+xml` (415).
    pub accept: bool,
    /// The presentity's state may have changed: its subscribers are owed a
    /// NOTIFY.
    pub changed: bool,
}

impl PublishReply {
    fn status(status: u16, reason: &'static str) -> PublishReply {
        PublishReply {
            status,
            reason,
            etag: None,
            expires: None,
            min_expires: None,
            retry_after: None,
            allow_events: false,
            accept: false,
            changed: false,
        }
    }

    fn ok(etag: Option<String>, expires: u32, changed: bool) -> PublishReply {
        PublishReply {
            etag,
            expires: Some(expires),
            changed,
            ..PublishReply::status(200, "OK")
        }
    }
}

/// The event state compositor of one profile (see the module docs).
#[derive(Debug)]
pub struct PublicationStore {
    config: PublishConfig,
    presentities: HashMap<String, Vec<Publication>>,
    /// Expiry instant and publication id, to the presentity.
    expiries: BTreeMap<(Instant, u64), String>,
    /// Entity tags come from this generator (seeded: reproducible).
    rng: u64,
    counter: u64,
    entries: usize,
}

impl PublicationStore {
    /// An empty store; entity tags are drawn from a generator seeded with
    /// `seed`.
    pub fn new(config: PublishConfig, seed: u64) -> PublicationStore {
        PublicationStore {
            config,
            presentities: HashMap::new(),
            expiries: BTreeMap::new(),
            rng: seed,
            counter: 0,
            entries: 0,
        }
    }

    /// The settings.
    pub fn config(&self) -> &PublishConfig {
        &self.config
    }

    /// Replaces the settings (entries keep their expiry).
    pub fn set_config(&mut self, config: PublishConfig) {
        self.config = config;
    }

    /// The number of entries (entity tags) held.
    pub fn len(&self) -> usize {
        self.entries
    }

    /// True when nothing is published.
    pub fn is_empty(&self) -> bool {
        self.entries == 0
    }

    /// The number of presentities with published state.
    pub fn presentities(&self) -> usize {
        self.presentities.len()
    }

    /// A presentity's state: its most recently published entry.
    pub fn current(&self, resource: &str) -> Option<&Publication> {
        self.presentities
            .get(resource)?
            .iter()
            .max_by_key(|p| p.modified)
    }

    /// A presentity's entries.
    pub fn entries(&self, resource: &str) -> &[Publication] {
        self.presentities.get(resource).map_or(&[], Vec::as_slice)
    }

    /// When the next entry expires.
    pub fn next_expiry(&self) -> Option<Instant> {
        self.expiries.keys().next().map(|(at, _)| *at)
    }

    fn next_u64(&mut self) -> u64 {
        // splitmix64
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn new_etag(&mut self, resource: &str) -> String {
        loop {
            let tag = format!("{:016x}", self.next_u64());
            if !self.entries(resource).iter().any(|p| p.etag == tag) {
                return tag;
            }
        }
    }

    fn tick(&mut self) -> u64 {
        self.counter += 1;
        self.counter
    }

    /// Removes one entry; true when it was there.
    fn remove(&mut self, resource: &str, id: u64) -> bool {
        let Some(list) = self.presentities.get_mut(resource) else {
            return false;
        };
        let Some(i) = list.iter().position(|p| p.id == id) else {
            return false;
        };
        let p = list.swap_remove(i);
        self.expiries.remove(&(p.expires_at, p.id));
        self.entries -= 1;
        if list.is_empty() {
            self.presentities.remove(resource);
        }
        true
    }

    /// Answers one PUBLISH (RFC 3903 §6) at `now`.
    pub fn handle(&mut self, now: Instant, input: &PublishInput<'_>) -> PublishReply {
        let event = input
            .event
            .and_then(|e| e.split(';').next())
            .map(str::trim)
            .unwrap_or("");
        if !event.eq_ignore_ascii_case(EVENT) {
            return PublishReply {
                allow_events: true,
                ..PublishReply::status(489, "Bad Event")
            };
        }
        let mut expires = match input.expires.map(str::trim) {
            None => self.config.default_expires,
            Some(v) => match v.parse::<u64>() {
                Ok(e) => u32::try_from(e).unwrap_or(u32::MAX),
                Err(_) => return PublishReply::status(400, "Bad Expires Header"),
            },
        };
        if self.config.force_expires > 0 && self.config.force_expires < expires {
            expires = self.config.force_expires;
        }
        if expires != 0 && expires < self.config.min_expires {
            return PublishReply {
                min_expires: Some(self.config.min_expires),
                ..PublishReply::status(423, "Interval Too Brief")
            };
        }
        let resource = input.resource;
        let expires_at = now + Duration::from_secs(u64::from(expires));

        if let Some(tag) = input.if_match.map(str::trim) {
            let found = self
                .entries(resource)
                .iter()
                .find(|p| p.etag == tag && p.expires_at > now);
            let Some(found) = found else {
                su_log!(
                    SOFIA,
                    5,
                    "sofia: PUBLISH for {resource}: unknown entity tag {tag}"
                );
                return PublishReply::status(412, "Conditional Request Failed");
            };
            let (id, was_current) = (
                found.id,
                self.current(resource).map(|c| c.id) == Some(found.id),
            );
            if expires == 0 {
                self.remove(resource, id);
                su_log!(SOFIA, 5, "sofia: PUBLISH for {resource}: {tag} removed");
                return PublishReply::ok(None, 0, was_current);
            }
            let info = if input.body.is_empty() {
                None
            } else {
                match self.document(input) {
                    Ok(info) => Some(info),
                    Err(reply) => return reply,
                }
            };
            let etag = self.new_etag(resource);
            let modified = info.is_some().then(|| self.tick());
            let Some(p) = self
                .presentities
                .get_mut(resource)
                .and_then(|l| l.iter_mut().find(|p| p.id == id))
            else {
                return PublishReply::status(412, "Conditional Request Failed");
            };
            self.expiries.remove(&(p.expires_at, p.id));
            p.expires_at = expires_at;
            p.etag = etag.clone();
            let changed = info.is_some();
            if let (Some(info), Some(m)) = (info, modified) {
                p.info = info;
                p.modified = m;
                p.user_agent = truncate(input.user_agent);
                p.source = input.source;
            }
            self.expiries.insert((expires_at, id), resource.to_string());
            su_log!(
                SOFIA,
                5,
                "sofia: PUBLISH for {resource}: {tag} {} as {etag} for {expires} s",
                if changed { "modified" } else { "refreshed" }
            );
            return PublishReply::ok(Some(etag), expires, changed);
        }

        if input.body.is_empty() {
            return PublishReply::status(400, "Missing Body");
        }
        let info = match self.document(input) {
            Ok(info) => info,
            Err(reply) => return reply,
        };
        if expires == 0 {
            // Published and expired at once: nothing to keep.
            return PublishReply::ok(None, 0, false);
        }
        if !self.presentities.contains_key(resource)
            && self.presentities.len() >= self.config.max_presentities
        {
            su_log!(
                SOFIA,
                3,
                "sofia: PUBLISH for {resource}: {} presentities already",
                self.presentities.len()
            );
            return PublishReply {
                retry_after: Some(self.config.retry_after),
                ..PublishReply::status(503, "Service Unavailable")
            };
        }
        let max = self.config.max_per_presentity.max(1);
        while self.entries(resource).len() >= max {
            let Some(oldest) = self
                .entries(resource)
                .iter()
                .min_by_key(|p| p.modified)
                .map(|p| p.id)
            else {
                break;
            };
            self.remove(resource, oldest);
        }
        let etag = self.new_etag(resource);
        let modified = self.tick();
        let id = modified;
        self.presentities
            .entry(resource.to_string())
            .or_default()
            .push(Publication {
                etag: etag.clone(),
                info,
                expires_at,
                user_agent: truncate(input.user_agent),
                source: input.source,
                id,
                modified,
            });
        self.entries += 1;
        self.expiries.insert((expires_at, id), resource.to_string());
        su_log!(
            SOFIA,
            5,
            "sofia: PUBLISH for {resource}: published as {etag} for {expires} s"
        );
        PublishReply::ok(Some(etag), expires, true)
    }

    /// Checks and reads the document of a PUBLISH.
    fn document(&self, input: &PublishInput<'_>) -> Result<PidfInfo, PublishReply> {
        if let Some(ct) = input.content_type {
            let base = ct.split(';').next().unwrap_or("").trim();
            if !base.eq_ignore_ascii_case(PIDF) {
                return Err(PublishReply {
                    accept: true,
                    ..PublishReply::status(415, "Unsupported Media Type")
                });
            }
        }
        if input.body.len() > self.config.max_body {
            return Err(PublishReply::status(413, "Request Entity Too Large"));
        }
        parse_pidf(input.body).map_err(|e| {
            su_log!(
                SOFIA,
                5,
                "sofia: PUBLISH for {}: bad PIDF: {e}",
                input.resource
            );
            PublishReply::status(400, "Bad PIDF Document")
        })
    }

    /// Drops the entries expired at `now`; returns the presentities whose
    /// state changed (their current entry went), each once.
    pub fn expire(&mut self, now: Instant) -> Vec<String> {
        let mut changed: Vec<String> = Vec::new();
        while let Some((&(at, id), _)) = self.expiries.iter().next() {
            if at > now {
                break;
            }
            let Some(resource) = self.expiries.remove(&(at, id)) else {
                break;
            };
            let was_current = self.current(&resource).map(|c| c.id) == Some(id);
            if self.remove(&resource, id) {
                su_log!(SOFIA, 5, "sofia: published presence of {resource} expired");
            }
            if was_current && !changed.contains(&resource) {
                changed.push(resource);
            }
        }
        changed
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The presentity `user@host` of a registration (host in lower case, as
/// the notifier names resources).
pub fn resource_of(user: &str, host: &str) -> String {
    format!("{user}@{}", host.to_ascii_lowercase())
}

/// The presentities whose registration state registrar events change:
/// `sofia::register` and `sofia::unregister` name them with `from-user` and
/// `from-host`, `sofia::expire` with `user` and `host`. Each `(user, host)`
/// once, in order.
pub fn registration_changes(events: &[crate::registrar::Event]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for e in events {
        let (u, h) = match e.name {
            crate::registrar::EVENT_REGISTER | crate::registrar::EVENT_UNREGISTER => {
                ("from-user", "from-host")
            }
            crate::registrar::EVENT_EXPIRE => ("user", "host"),
            _ => continue,
        };
        if let (Some(user), Some(host)) = (e.header(u), e.header(h)) {
            let pair = (user.to_string(), host.to_string());
            if !user.is_empty() && !out.contains(&pair) {
                out.push(pair);
            }
        }
    }
    out
}

/// A profile's presence: the publication store and the notifier its
/// subscribers are served by (see the module docs).
pub struct PresenceService {
    profile: String,
    server: Server,
    store: Mutex<PublicationStore>,
    user_agent: Option<String>,
}

impl std::fmt::Debug for PresenceService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PresenceService")
            .field("profile", &self.profile)
            .field("publications", &lock(&self.store).len())
            .finish()
    }
}

impl PresenceService {
    /// The presence of profile `profile` on `server` (whose notifier serves
    /// [`FsPresence`]); `user_agent` is the `Server` header of answers.
    pub fn new(
        profile: &str,
        server: Server,
        config: PublishConfig,
        user_agent: Option<String>,
    ) -> PresenceService {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
            ^ u64::from(std::process::id()).rotate_left(32);
        PresenceService {
            profile: profile.to_string(),
            server,
            store: Mutex::new(PublicationStore::new(config, seed)),
            user_agent,
        }
    }

    /// Gives the notifier the state of `resource` (see the module docs): the
    /// published document, else none (the package's initial document then
    /// says open for a registered user, closed otherwise); its subscribers
    /// are notified either way. Called with the store locked, so that
    /// changes reach the notifier in the order they happened.
    fn push(&self, store: &PublicationStore, resource: &str) {
        let entity = format!("sip:{resource}");
        let result = match store.current(resource) {
            Some(p) => self.server.set_state(
                EVENT,
                resource,
                fs_pidf(&entity, &p.info.open_closed, &p.info.note, &p.info.rpid),
            ),
            None => self.server.clear_state(EVENT, resource),
        };
        match result {
            Ok(n) => su_log!(
                SOFIA,
                5,
                "sofia: {}: presence of {resource} to {n} subscribers",
                self.profile
            ),
            Err(e) => su_log!(
                SOFIA,
                2,
                "sofia: {}: presence of {resource}: {e}",
                self.profile
            ),
        }
    }

    /// A registration of `user@host` started or ended: its subscribers
    /// are told, unless published state decides its presence.
    pub fn registration_changed(&self, user: &str, host: &str) {
        let resource = resource_of(user, host);
        let store = lock(&self.store);
        if store.current(&resource).is_none() {
            self.push(&store, &resource);
        }
    }

    /// Drops the publications expired at `now` and updates their
    /// presentities.
    pub fn expire(&self, now: Instant) {
        let mut store = lock(&self.store);
        if store.next_expiry().is_none_or(|at| at > now) {
            return;
        }
        for resource in store.expire(now) {
            self.push(&store, &resource);
        }
    }

    /// The published status and activity of `user@host`, when it has
    /// published state (`sofia_presence_data`'s `status` and `rpid`).
    pub fn published(&self, user: &str, host: &str) -> Option<(String, String)> {
        lock(&self.store)
            .current(&resource_of(user, host))
            .map(|p| (p.info.note.clone(), p.info.rpid.clone()))
    }

    /// The number of publication entries held.
    pub fn len(&self) -> usize {
        lock(&self.store).len()
    }

    /// True when nothing is published.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Replaces the store's settings (`rescan`).
    pub fn set_config(&self, config: PublishConfig) {
        lock(&self.store).set_config(config);
    }

    /// Answers a PUBLISH on the server's engine and updates the
    /// presentity.
    pub fn publish(&self, req: &ServerRequest) {
        let msg = &req.msg;
        let agent = self.server.agent();
        let tag = agent.tag();
        let target = msg.request_uri().and_then(Result::ok).and_then(|u| {
            u.user()
                .map(|user| (user.to_string(), u.host().to_string()))
        });
        let reply = match &target {
            None => PublishReply::status(404, "Not Found"),
            Some((user, host)) if user.len() + host.len() + 1 > MAX_RESOURCE => {
                PublishReply::status(414, "Request-URI Too Long")
            }
            Some((user, host)) => {
                let resource = resource_of(user, host);
                let body = msg.body_bytes();
                let content_type = msg.header(HeaderName::ContentType);
                let input = PublishInput {
                    resource: &resource,
                    event: msg.header(HeaderName::Event),
                    if_match: msg.header(HeaderName::SipIfMatch),
                    expires: msg.header(HeaderName::Expires),
                    content_type,
                    body,
                    user_agent: msg.header(HeaderName::UserAgent).unwrap_or(""),
                    source: req.source.remote,
                };
                let mut store = lock(&self.store);
                let reply = store.handle(std::time::Instant::now(), &input);
                if reply.changed {
                    self.push(&store, &resource);
                }
                reply
            }
        };
        let mut b = ResponseBuilder::reply_to(msg, reply.status, reply.reason, Some(&tag));
        if let Some(ua) = &self.user_agent {
            b = b.header(HeaderName::Server, ua);
        }
        if let Some(etag) = &reply.etag {
            b = b.header(HeaderName::SipETag, etag);
        }
        if let Some(e) = reply.expires {
            b = b.header(HeaderName::Expires, &e.to_string());
        }
        if let Some(m) = reply.min_expires {
            b = b.header(HeaderName::MinExpires, &m.to_string());
        }
        if let Some(r) = reply.retry_after {
            b = b.header(HeaderName::RetryAfter, &r.to_string());
        }
        if reply.allow_events {
            b = b.header(HeaderName::AllowEvents, EVENT);
        }
        if reply.accept {
            b = b.header(HeaderName::Accept, PIDF);
        }
        match b.build() {
            Ok(resp) => {
                if let Err(e) = agent.respond(req.server, resp) {
                    su_log!(
                        SOFIA,
                        3,
                        "sofia: {}: cannot answer PUBLISH: {e}",
                        self.profile
                    );
                }
            }
            Err(e) => su_log!(
                SOFIA,
                2,
                "sofia: {}: cannot build a {}: {e}",
                self.profile,
                reply.status
            ),
        }
    }
}

/// One row of `sofia_presence_data`: a registration of the user, with the
/// user's published status and activity when it has published state
/// (FreeSWITCH's `sip_registrations` left-joined to `sip_presence`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PresenceRow {
    /// The published status text (`sip_presence.status`).
    pub status: Option<String>,
    /// The published activity (`sip_presence.rpid`).
    pub rpid: Option<String>,
    /// The registration's `user_agent`.
    pub user_agent: String,
    /// The registration's `network_ip`.
    pub network_ip: String,
    /// The registration's `network_port`.
    pub network_port: String,
}

/// The rows of `sofia_presence_data` for `user` in `domain` among a
/// profile's registrations (`sip_realm = domain and sip_user = user`), with
/// `published(user, host)` giving a presentity's status and activity.
pub fn presence_rows<'a>(
    registrations: impl Iterator<Item = &'a Registration>,
    user: &str,
    domain: &str,
    published: impl Fn(&str, &str) -> Option<(String, String)>,
) -> Vec<PresenceRow> {
    registrations
        .filter(|r| r.sip_realm == domain && r.sip_user == user)
        .map(|r| {
            let p = published(&r.sip_user, &r.sip_host);
            PresenceRow {
                status: p.as_ref().map(|p| p.0.clone()),
                rpid: p.map(|p| p.1),
                user_agent: r.user_agent.clone(),
                network_ip: r.network_ip.clone(),
                network_port: r.network_port.clone(),
            }
        })
        .collect()
}

fn find_profile<S: SofiaState + ?Sized>(state: &S, name: &str) -> Option<ProfileStatus> {
    state
        .profiles()
        .into_iter()
        .find(|p| p.running && (p.name == name || p.aliases.iter().any(|a| a == name)))
}

fn or_unknown(v: &str) -> &str {
    if v.is_empty() { "unknown" } else { v }
}

/// FreeSWITCH's `get_presence_data`: for `status`, `rpid` or `user_agent`
/// the value of each row, `unknown` when empty, with nothing between them;
/// for anything else a header line and one `|`-separated line per row.
fn presence_text(out: &mut String, search: &str, rows: &[PresenceRow]) {
    let single = ["status", "rpid", "user_agent"]
        .iter()
        .find(|s| s.eq_ignore_ascii_case(search));
    for (i, r) in rows.iter().enumerate() {
        let status = r.status.as_deref().unwrap_or("");
        let rpid = r.rpid.as_deref().unwrap_or("");
        match single {
            Some(&"status") => out.push_str(or_unknown(status)),
            Some(&"rpid") => out.push_str(or_unknown(rpid)),
            Some(_) => out.push_str(or_unknown(&r.user_agent)),
            None => {
                if i == 0 {
                    out.push_str("status|rpid|user_agent|network_ip|network_port\n");
                }
                let _ = writeln!(
                    out,
                    "{}|{}|{}|{}|{}",
                    or_unknown(status),
                    or_unknown(rpid),
                    or_unknown(&r.user_agent),
                    or_unknown(&r.network_ip),
                    or_unknown(&r.network_port)
                );
            }
        }
    }
}

/// `sofia_presence_data [list|status|rpid|user_agent]
/// [<profile>/]<user>@<domain>`, as FreeSWITCH's
/// `sofia_presence_data_function`: the profile is `<profile>`, else the
/// one named (or aliased) like the domain, else every profile; the domain
/// defaults to the `domain` variable, and is the profile's `Domain Name`
/// when the profile is named. `list` ends with `+OK`.
pub fn sofia_presence_data<S: SofiaState + ?Sized>(arg: &str, state: &S) -> Reply {
    let argv: Vec<&str> = arg.split_whitespace().take(6).collect();
    if argv.len() < 2 {
        return Reply {
            text: String::new(),
            ok: true,
        };
    }
    let search = argv[0];
    let (profile_name, user_part) = match argv[1].split_once('/') {
        Some((p, u)) => (Some(p), u),
        None => (None, argv[1]),
    };
    let (user, mut domain) = match user_part.split_once('@') {
        Some((u, d)) => (u, d.split_once('/').map_or(d, |(d, _)| d).to_string()),
        None => (
            user_part.split_once('/').map_or(user_part, |(u, _)| u),
            String::new(),
        ),
    };
    if domain.is_empty() {
        domain = state.default_domain().unwrap_or_default();
    }
    let profile_name = profile_name.filter(|p| !p.is_empty());
    let mut profile = None;
    if profile_name != Some("*") || domain.is_empty() {
        if let Some(p) = profile_name {
            profile = find_profile(state, p);
        }
        if profile.is_none() && !domain.is_empty() {
            profile = find_profile(state, &domain);
        }
    }
    let mut out = String::new();
    if let Some(p) = profile {
        if domain.is_empty() {
            domain = p.name.clone();
        }
        if let (Some(dn), Some(given)) = (&p.domain_name, profile_name)
            && !dn.is_empty()
            && given == p.name
        {
            domain = dn.clone();
        }
        presence_text(
            &mut out,
            search,
            &state.presence_data(&p.name, user, &domain),
        );
    } else if !domain.is_empty() {
        for p in state.profiles().iter().filter(|p| p.running) {
            presence_text(
                &mut out,
                search,
                &state.presence_data(&p.name, user, &domain),
            );
        }
    }
    if search.eq_ignore_ascii_case("list") {
        out.push_str("+OK\n");
    }
    Reply {
        text: out,
        ok: true,
    }
}

/// The NOTIFY FreeSWITCH's `sofia_reg_send_reboot` sends a phone, chosen
/// by its user agent: `Event` value, `Content-Type` and body. `check-sync`
/// by default, `check-sync;reboot=true` for Snom and Yealink, `reboot_now`
/// for Linksys, `reboot` for other SPAs, and Cisco's `service-control`
/// restart (naming the registration's Call-ID) for Cisco phones other than
/// the 7940/7960.
pub fn reboot_event(user_agent: &str, call_id: &str) -> (&'static str, &'static str, String) {
    let ua = user_agent.to_ascii_lowercase();
    let has = |s: &str| ua.contains(&s.to_ascii_lowercase());
    const MWI: &str = "application/simple-message-summary";
    if has("snom") || has("yealink") {
        ("check-sync;reboot=true", MWI, String::new())
    } else if has("Linksys/SPA8000") {
        ("check-sync", MWI, String::new())
    } else if has("linksys") {
        ("reboot_now", MWI, String::new())
    } else if has("spa") {
        ("reboot", MWI, String::new())
    } else if has("Cisco-CP7960G") || has("Cisco-CP7940G") {
        ("check-sync", MWI, String::new())
    } else if has("cisco") {
        (
            "service-control",
            "text/plain",
            format!(
                "action=restart\nRegisterCallId={{{call_id}}}\nConfigVersionStamp={{0000000000000000}}\n\
                 DialplanVersionStamp={{0000000000000000}}\nSoftkeyVersionStamp={{0000000000000000}}"
            ),
        )
    } else {
        ("check-sync", MWI, String::new())
    }
}

/// Whether a registration is one `check_sync <target>` names, as
/// FreeSWITCH's `sofia_reg_check_call_id` selects them: its Call-ID is
/// `target`, or `target` is `user@host` and it is that user's, or `target`
/// is a host (or `@host`) and it is of that host.
pub fn sync_target_matches(row: &Registration, target: &str) -> bool {
    if row.call_id == target {
        return true;
    }
    match target.split_once('@') {
        Some((user, host)) if !user.is_empty() => row.sip_user == user && row.sip_host == host,
        Some((_, host)) => row.sip_host == host,
        None => row.sip_host == target,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPEN: &[u8] = br#"<?xml version="1.0" encoding="UTF-8"?>
<presence xmlns="urn:ietf:params:xml:ns:pidf" xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model"
 xmlns:rpid="urn:ietf:params:xml:ns:pidf:rpid" entity="sip:1000@example.com">
 <tuple id="t1"><status><basic>open</basic></status></tuple>
 <dm:person id="p1"><rpid:activities><rpid:on-the-phone/></rpid:activities><dm:note>On the phone</dm:note></dm:person>
</presence>"#;
    const CLOSED: &[u8] = br#"<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:1000@example.com"><tuple id="t1"><status><basic>closed</basic></status></tuple></presence>"#;

    fn input<'a>(
        if_match: Option<&'a str>,
        expires: Option<&'a str>,
        body: &'a [u8],
    ) -> PublishInput<'a> {
        PublishInput {
            resource: "1000@example.com",
            event: Some("presence"),
            if_match,
            expires,
            content_type: (!body.is_empty()).then_some(PIDF),
            body,
            user_agent: "phone/1",
            ..PublishInput::default()
        }
    }

    #[test]
    fn pidf_is_read_as_freeswitch_reads_it() {
        let info = parse_pidf(OPEN).unwrap();
        assert_eq!(info.open_closed, "open");
        assert_eq!(info.note, "On the phone");
        assert_eq!(info.rpid, "on-the-phone");
        let info = parse_pidf(CLOSED).unwrap();
        assert_eq!(
            (
                info.open_closed.as_str(),
                info.note.as_str(),
                info.rpid.as_str()
            ),
            ("closed", "Unregistered", "Unregistered")
        );
        // A tuple note is both status and activity; a person without note
        // is Available.
        let info = parse_pidf(
            b"<presence><tuple><status><basic>open</basic></status><note>Lunch</note></tuple></presence>",
        )
        .unwrap();
        assert_eq!((info.note.as_str(), info.rpid.as_str()), ("Lunch", "Lunch"));
        let info = parse_pidf(
            b"<presence><tuple><status><basic>open</basic></status></tuple><person/></presence>",
        )
        .unwrap();
        assert_eq!(info.note, "Available");
        assert!(matches!(parse_pidf(b"<presence>"), Err(PidfError::Xml(_))));
        assert!(matches!(
            parse_pidf(b"<other/>"),
            Err(PidfError::NotPresence(_))
        ));
        assert!(parse_pidf(b"<!DOCTYPE x [<!ENTITY a \"b\">]><presence/>").is_err());
        assert!(parse_pidf(&[0xff, 0xfe]).is_err());
    }

    #[test]
    fn documents_follow_gen_pidf() {
        let d = fs_pidf("sip:1000@h", "open", "Registered", "unknown");
        assert!(d.contains("<basic>open</basic>"));
        assert!(d.contains("<dm:note>Available</dm:note>"));
        assert!(!d.contains("rpid:activities>\r"));
        let d = fs_pidf("sip:1000@h", "open", "On the phone", "on-the-phone");
        assert!(
            d.contains("  <rpid:activities>\r\n   <rpid:on-the-phone/>\n  </rpid:activities>\n")
        );
        assert!(d.contains("<dm:note>On the phone</dm:note>"));
        let d = fs_pidf("sip:1000@h", "closed", "Away", "away");
        assert!(
            d.contains("<basic>closed</basic>") && d.contains("<dm:note>Unregistered</dm:note>")
        );
        let d = fs_pidf("sip:1000@h", "open", "Unregistered", "x");
        assert!(d.contains("<basic>closed</basic>"));
        assert!(fs_pidf("sip:a@h", "open", "x", "dnd").contains("<rpid:busy/>"));
        assert!(fs_pidf("sip:a@h", "open", "", "away").contains("<dm:note>Available</dm:note>"));
        // Text is escaped and activities that are no element names dropped.
        let d = fs_pidf("sip:a@h", "open", "a<b>&", "x y");
        assert!(d.contains("<dm:note>a&lt;b&gt;&amp;</dm:note>") && !d.contains("<rpid:x"));
        assert!(roxmltree::Document::parse(&d).is_ok());
        assert!(d.starts_with("<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?> \n<presence xmlns='urn:ietf:params:xml:ns:pidf' \n"));
        assert!(d.ends_with(" </dm:person>\n</presence>"));
        assert!(
            FsPresence::default()
                .initial_body("sip:a@h")
                .contains("<basic>closed</basic>")
        );
        let registered = FsPresence::with_registrations(Arc::new(|u, h| (u, h) == ("a", "h")));
        assert!(
            registered
                .initial_body("sip:a@h")
                .contains("<dm:note>Available</dm:note>")
        );
        assert!(
            registered
                .initial_body("sip:b@h")
                .contains("<basic>closed</basic>")
        );
    }

    #[test]
    fn etag_lifecycle_publish_refresh_modify_remove() {
        let t0 = Instant::now();
        let mut s = PublicationStore::new(PublishConfig::default(), 1);
        let r = s.handle(t0, &input(None, None, OPEN));
        assert_eq!((r.status, r.expires, r.changed), (200, Some(3600), true));
        let e1 = r.etag.unwrap();
        assert_eq!(
            s.current("1000@example.com").unwrap().info.rpid,
            "on-the-phone"
        );
        assert_eq!(s.current("1000@example.com").unwrap().user_agent, "phone/1");

        // Refresh: new tag, same state, not a change.
        let r = s.handle(t0, &input(Some(&e1), Some("120"), b""));
        assert_eq!((r.status, r.expires, r.changed), (200, Some(120), false));
        let e2 = r.etag.unwrap();
        assert_ne!(e1, e2);
        assert_eq!(s.next_expiry(), Some(t0 + Duration::from_secs(120)));
        assert_eq!(s.handle(t0, &input(Some(&e1), None, b"")).status, 412);

        // Modify: the new document.
        let r = s.handle(t0, &input(Some(&e2), Some("300"), CLOSED));
        assert_eq!((r.status, r.changed), (200, true));
        let e3 = r.etag.unwrap();
        assert_eq!(
            s.current("1000@example.com").unwrap().info.open_closed,
            "closed"
        );

        // Remove.
        let r = s.handle(t0, &input(Some(&e3), Some("0"), b""));
        assert_eq!(
            (r.status, r.expires, r.etag, r.changed),
            (200, Some(0), None, true)
        );
        assert!(s.is_empty() && s.presentities() == 0 && s.next_expiry().is_none());
        assert_eq!(s.handle(t0, &input(Some(&e3), Some("0"), b"")).status, 412);
    }

    #[test]
    fn refusals() {
        let t0 = Instant::now();
        let mut s = PublicationStore::new(
            PublishConfig {
                min_expires: 60,
                ..PublishConfig::default()
            },
            2,
        );
        let mut i = input(None, None, OPEN);
        i.event = Some("dialog");
        let r = s.handle(t0, &i);
        assert_eq!((r.status, r.allow_events), (489, true));
        i.event = None;
        assert_eq!(s.handle(t0, &i).status, 489);
        i.event = Some("Presence;id=4");
        assert_eq!(s.handle(t0, &i).status, 200);
        // No body on an initial publication.
        assert_eq!(s.handle(t0, &input(None, None, b"")).status, 400);
        assert_eq!(s.handle(t0, &input(None, Some("soon"), OPEN)).status, 400);
        let r = s.handle(t0, &input(None, Some("10"), OPEN));
        assert_eq!((r.status, r.min_expires), (423, Some(60)));
        let mut i = input(None, None, OPEN);
        i.content_type = Some("text/plain");
        let r = s.handle(t0, &i);
        assert_eq!((r.status, r.accept), (415, true));
        assert_eq!(s.handle(t0, &input(None, None, b"<presence")).status, 400);
        let big = vec![b' '; 70_000];
        assert_eq!(s.handle(t0, &input(None, None, &big)).status, 413);
        assert_eq!(s.handle(t0, &input(Some("nope"), None, b"")).status, 412);
        // An initial publication for no time keeps nothing.
        let before = s.len();
        let r = s.handle(t0, &input(None, Some("0"), OPEN));
        assert_eq!((r.status, r.etag), (200, None));
        assert_eq!(s.len(), before);
    }

    #[test]
    fn expiry_is_forced_down_as_freeswitch_does() {
        let mut s = PublicationStore::new(
            PublishConfig {
                force_expires: 600,
                ..PublishConfig::default()
            },
            3,
        );
        let t0 = Instant::now();
        assert_eq!(s.handle(t0, &input(None, None, OPEN)).expires, Some(600));
        assert_eq!(
            s.handle(t0, &input(None, Some("30"), OPEN)).expires,
            Some(30)
        );
        assert_eq!(
            s.handle(t0, &input(None, Some("99999999999"), OPEN))
                .expires,
            Some(600)
        );
    }

    #[test]
    fn entries_expire_on_time_and_fall_back_to_the_older_one() {
        let t0 = Instant::now();
        let mut s = PublicationStore::new(PublishConfig::default(), 4);
        s.handle(t0, &input(None, Some("100"), OPEN));
        s.handle(
            t0 + Duration::from_secs(1),
            &input(None, Some("10"), CLOSED),
        );
        assert_eq!(
            s.current("1000@example.com").unwrap().info.open_closed,
            "closed"
        );
        assert!(s.expire(t0 + Duration::from_secs(10)).is_empty());
        assert_eq!(
            s.expire(t0 + Duration::from_secs(11)),
            vec!["1000@example.com".to_string()]
        );
        assert_eq!(
            s.current("1000@example.com").unwrap().info.open_closed,
            "open"
        );
        // A tag past its expiry is unknown even before the sweep.
        let e = s.current("1000@example.com").unwrap().etag.clone();
        assert_eq!(
            s.handle(t0 + Duration::from_secs(101), &input(Some(&e), None, b""))
                .status,
            412
        );
        assert_eq!(s.expire(t0 + Duration::from_secs(101)).len(), 1);
        assert!(s.is_empty());
        // An older entry expiring does not change the state.
        s.handle(t0, &input(None, Some("5"), OPEN));
        s.handle(t0, &input(None, Some("50"), CLOSED));
        assert!(s.expire(t0 + Duration::from_secs(6)).is_empty());
        assert_eq!(s.len(), 1);
    }

    #[test]
    fn bounds_hold() {
        let t0 = Instant::now();
        let mut s = PublicationStore::new(
            PublishConfig {
                max_presentities: 3,
                max_per_presentity: 2,
                ..PublishConfig::default()
            },
            5,
        );
        // Entries per presentity: the least recently published goes.
        let e1 = s.handle(t0, &input(None, None, OPEN)).etag.unwrap();
        let e2 = s.handle(t0, &input(None, None, OPEN)).etag.unwrap();
        s.handle(t0, &input(None, None, CLOSED));
        assert_eq!(s.entries("1000@example.com").len(), 2);
        assert_eq!(s.handle(t0, &input(Some(&e1), None, b"")).status, 412);
        assert_eq!(s.handle(t0, &input(Some(&e2), None, b"")).status, 200);
        // Presentities: 503 with Retry-After past the limit.
        for user in ["a", "b"] {
            let res = format!("{user}@example.com");
            let mut i = input(None, None, OPEN);
            i.resource = &res;
            assert_eq!(s.handle(t0, &i).status, 200);
        }
        let mut i = input(None, None, OPEN);
        i.resource = "c@example.com";
        let r = s.handle(t0, &i);
        assert_eq!((r.status, r.retry_after), (503, Some(30)));
        assert_eq!(s.presentities(), 3);
        assert_eq!(s.len(), 4);
        // Many publications stay within the bounds.
        for _ in 0..1000 {
            s.handle(t0, &input(None, None, OPEN));
        }
        assert_eq!(s.len(), 4);
    }

    #[test]
    fn etags_are_reproducible_from_the_seed() {
        let t0 = Instant::now();
        let mut a = PublicationStore::new(PublishConfig::default(), 9);
        let mut b = PublicationStore::new(PublishConfig::default(), 9);
        assert_eq!(
            a.handle(t0, &input(None, None, OPEN)).etag,
            b.handle(t0, &input(None, None, OPEN)).etag
        );
    }

    #[test]
    fn registrar_events_name_the_presentities() {
        let ev = |name: &'static str, h: &[(&str, &str)]| crate::registrar::Event {
            name,
            headers: h
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        };
        let events = [
            ev(
                crate::registrar::EVENT_REGISTER,
                &[("from-user", "1000"), ("from-host", "h")],
            ),
            ev(
                crate::registrar::EVENT_REGISTER,
                &[("from-user", "1000"), ("from-host", "h")],
            ),
            ev(
                crate::registrar::EVENT_EXPIRE,
                &[("user", "1001"), ("host", "h")],
            ),
            ev(
                crate::registrar::EVENT_PRE_REGISTER,
                &[("from-user", "1002"), ("from-host", "h")],
            ),
        ];
        assert_eq!(
            registration_changes(&events),
            vec![("1000".into(), "h".into()), ("1001".into(), "h".into())]
        );
    }

    #[test]
    fn reboot_events_by_user_agent() {
        assert_eq!(reboot_event("baresip 1.0", "c").0, "check-sync");
        assert_eq!(reboot_event("snom360/8.7", "c").0, "check-sync;reboot=true");
        assert_eq!(
            reboot_event("Yealink SIP-T46", "c").0,
            "check-sync;reboot=true"
        );
        assert_eq!(reboot_event("Linksys/SPA8000-6.1", "c").0, "check-sync");
        assert_eq!(reboot_event("Linksys/SPA942", "c").0, "reboot_now");
        assert_eq!(reboot_event("Cisco/SPA504G", "c").0, "reboot");
        assert_eq!(reboot_event("Cisco-CP7960G/8.0", "c").0, "check-sync");
        let (e, ct, body) = reboot_event("Cisco-CP8945", "abc");
        assert_eq!((e, ct), ("service-control", "text/plain"));
        assert!(body.contains("RegisterCallId={abc}"));
    }

    #[test]
    fn sync_targets() {
        let row = Registration {
            call_id: "cid".into(),
            sip_user: "1000".into(),
            sip_host: "h".into(),
            ..Registration::default()
        };
        assert!(sync_target_matches(&row, "cid"));
        assert!(sync_target_matches(&row, "1000@h"));
        assert!(sync_target_matches(&row, "@h"));
        assert!(sync_target_matches(&row, "h"));
        assert!(!sync_target_matches(&row, "1001@h"));
        assert!(!sync_target_matches(&row, "other"));
    }
}
