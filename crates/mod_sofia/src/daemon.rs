//! The running daemon: the profiles of the configuration, each with its
//! transports (UDP and TCP on `sip-ip`:`sip-port`), transaction engine,
//! registrar, registration store and presence server, behind the commands'
//! [`SofiaState`].
//!
//! A profile answers REGISTER through its [`Registrar`] (digest against the
//! directory, bindings written to `<data-dir>/sofia_reg_<profile>.db` by a
//! background writer and read back at start), SUBSCRIBE for `presence` and
//! `message-summary` through sofia-nea's [`Server`], PUBLISH of `presence`
//! through [`crate::presence`] (which also turns registrations into
//! presence), OPTIONS with 200, and
//! other requests with 501 (calls are not bridged). `apply-inbound-acl`
//! refuses INVITEs from addresses it does not allow (403). Registration
//! events go on the daemon's [`EventBus`].

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use sofia_msg::{HeaderName, Method, ResponseBuilder};
use sofia_nea::{MessageSummary, Notifier, Server};
use sofia_nta::{Agent, ServerRequest};
use sofia_su::su_log;
use sofia_tport::Tport;

use crate::acl::AclSet;
use crate::commands::{ProfileAction, ProfileStatus, RegFilter, RegistrationRow, SofiaState};
use crate::config::{self, ChallengeRealm, LoadOptions, LoadedConfig, ProfileConfig};
use crate::directory::Directory;
use crate::events::{Event as BusEvent, EventBus};
use crate::registrar::{
    AclCheck, MultipleRegistrations, Registrar, RegistrarAcl, RegistrarSettings,
};
use crate::store::{BackgroundStore, Registration, RegistrationStore, SqliteStore, StoreOp};
use crate::watchdog::{Heartbeat, Watchdog, WatchdogConfig};

/// Methods a profile answers, in its Allow header.
pub const PROFILE_ALLOW: &str = "REGISTER, SUBSCRIBE, PUBLISH, OPTIONS";

/// Where the configuration comes from.
#[derive(Debug, Clone)]
pub enum ConfigSource {
    /// The configuration embedded in the program.
    Embedded,
    /// A `sofia.conf.xml` on disk (`-c FILE`).
    File(PathBuf),
}

impl ConfigSource {
    /// Loads and checks the configuration; the warnings go with it.
    pub fn load(&self) -> Result<LoadedConfig, String> {
        let options = LoadOptions::default();
        match self {
            ConfigSource::Embedded => config::load_default(&options),
            ConfigSource::File(path) => config::load(path, &options),
        }
        .map_err(|e| e.to_string())
    }
}

/// `apply-register-acl` of a profile over the configuration's ACL lists.
#[derive(Debug, Clone)]
struct ProfileAcl {
    acls: AclSet,
    config: ProfileConfig,
}

impl RegistrarAcl for ProfileAcl {
    fn register_acl(&self, source: IpAddr) -> AclCheck {
        let specs: Vec<_> = self
            .config
            .apply_register_acl
            .iter()
            .map(|a| &a.spec)
            .collect();
        match self.acls.check_any(specs.iter().copied(), source) {
            None => AclCheck::NotConfigured,
            Some(v) if v.allowed => AclCheck::Allowed {
                token: v.token.map(str::to_string),
            },
            Some(_) => AclCheck::Denied {
                acl: self
                    .config
                    .apply_register_acl
                    .iter()
                    .map(|a| a.spec.to_string())
                    .collect::<Vec<_>>()
                    .join(","),
            },
        }
    }
}

impl ProfileAcl {
    /// `apply-inbound-acl`: true when unset or when it allows `source`.
    fn inbound_allows(&self, source: IpAddr) -> bool {
        let specs: Vec<_> = self
            .config
            .apply_inbound_acl
            .iter()
            .map(|a| &a.spec)
            .collect();
        self.acls
            .check_any(specs.iter().copied(), source)
            .is_none_or(|v| v.allowed)
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The registrar settings of a profile.
fn registrar_settings(p: &ProfileConfig) -> RegistrarSettings {
    let defaults = RegistrarSettings::default();
    let mut auth = defaults.auth.clone();
    auth.realm = match &p.challenge_realm {
        ChallengeRealm::AutoTo => sofia_iptsec::RealmPolicy::AutoTo,
        ChallengeRealm::AutoFrom => sofia_iptsec::RealmPolicy::AutoFrom,
        ChallengeRealm::Fixed(r) => sofia_iptsec::RealmPolicy::Fixed(r.clone()),
    };
    auth.nonce_ttl = Duration::from_secs(u64::from(p.nonce_ttl.max(1)));
    RegistrarSettings {
        profile_name: p.name.clone(),
        hostname: hostname(),
        server_ip: p.sip_ip.to_string(),
        auth,
        force_register_domain: p.force_register_domain.clone(),
        force_register_db_domain: p.force_register_db_domain.clone(),
        accept_blind_reg: p.accept_blind_reg,
        multiple_registrations: match p.multiple_registrations {
            config::MultipleRegistrations::False => MultipleRegistrations::False,
            config::MultipleRegistrations::CallId => MultipleRegistrations::CallId,
            config::MultipleRegistrations::Contact => MultipleRegistrations::Contact,
        },
        min_expires: p.sip_force_expires_min.unwrap_or(defaults.min_expires),
        max_expires: p.sip_force_expires_max.unwrap_or(defaults.max_expires),
        force_expires: p.sip_force_expires.unwrap_or(defaults.force_expires),
        expires_late_margin: p.sip_expires_late_margin,
        max_registrations_per_extension: p.max_registrations_per_extension,
        presence_hosts: setting(p, "presence-hosts").filter(|h| !h.is_empty()),
        ..defaults
    }
}

/// The publication settings of a profile: `force-publish-expires`.
fn publish_config(p: &ProfileConfig) -> crate::presence::PublishConfig {
    crate::presence::PublishConfig {
        force_expires: setting(p, "force-publish-expires")
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0),
        ..crate::presence::PublishConfig::default()
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}

fn bus_event(e: crate::registrar::Event) -> BusEvent {
    e.headers
        .into_iter()
        .fold(BusEvent::custom(e.name), |ev, (k, v)| ev.with(k, v))
}

/// One running profile.
struct Profile {
    config: ProfileConfig,
    agent: Agent,
    registrar: Mutex<Registrar<Directory, ProfileAcl>>,
    store: Mutex<BackgroundStore>,
    started: Instant,
    /// `apply-inbound-acl` and the ACL lists (replaced by a rescan).
    acl: Mutex<ProfileAcl>,
    /// `<aliases>`, and the directory domains of `<domains>` with
    /// `alias="true"` (`all`: every domain of the directory).
    aliases: Vec<String>,
    /// The request and sweep tasks, ended with the profile.
    tasks: Mutex<Vec<tokio::task::AbortHandle>>,
    /// PUBLISH and the presence the subscribers are notified of.
    presence: crate::presence::PresenceService,
}

impl Profile {
    /// Binds the profile's transports and starts its engine, registrar
    /// (with the bindings stored before) and presence server.
    async fn start(
        config: ProfileConfig,
        loaded: &LoadedConfig,
        data_dir: &std::path::Path,
        bus: EventBus,
        siptrace: bool,
        heartbeat: Arc<Mutex<Option<Heartbeat>>>,
    ) -> Result<Arc<Profile>, String> {
        let name = config.name.clone();
        let ip = match config.sip_ip {
            IpAddr::V6(v6) => format!("[{v6}]"),
            IpAddr::V4(v4) => v4.to_string(),
        };
        // `sip-port` for UDP and TCP unless `tls-only`, `tls-sip-port` for
        // TLS with `tls`.
        let names: Vec<String> = config
            .bindings()
            .into_iter()
            .map(|(what, _, port)| match what {
                "tls-sip-port" => format!("sips:{ip}:{port}"),
                _ => format!("sip:{ip}:{port}"),
            })
            .collect();
        let bind = names.join(", ");
        let mut tconfig = sofia_tport::Config::new(names);
        if config.tls {
            let files = config.tls_files().ok_or_else(|| {
                format!("profile {name}: tls is on but neither tls-cert nor tls-cert-dir is set")
            })?;
            tconfig.tls = Some(sofia_tport::TlsConfig {
                cert_file: Some(files.cert),
                key_file: Some(files.key),
                roots: match files.ca {
                    Some(ca) if ca.exists() => sofia_tport::TlsRoots::PemFile(ca),
                    _ => sofia_tport::TlsRoots::System,
                },
                ..sofia_tport::TlsConfig::default()
            });
        }
        // Off unless asked: TPORT_LOG still turns it on.
        tconfig.log = (siptrace || config.sip_trace).then_some(true);
        let (tport, incoming) = Tport::bind(tconfig)
            .await
            .map_err(|e| format!("profile {name}: cannot bind {bind}: {e}"))?;
        let db = SqliteStore::default_path(data_dir, &name);
        let sqlite = SqliteStore::open(&db).map_err(|e| format!("{}: {e}", db.display()))?;
        let now_s = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let mut store = BackgroundStore::spawn(sqlite, 1024, 65536, &[name.as_str()], now_s)
            .map_err(|e| format!("{}: {e}", db.display()))?;
        let rows = store
            .load(&name, now_s)
            .map_err(|e| format!("{}: {e}", db.display()))?;
        let acl = ProfileAcl {
            acls: loaded.acls.clone(),
            config: config.clone(),
        };
        let mut registrar = Registrar::new(
            registrar_settings(&config),
            loaded.directory.clone(),
            acl.clone(),
        );
        let kept = registrar.load(rows, SystemTime::now());
        su_log!(
            SOFIA,
            3,
            "sofia: profile {name} on {bind}: {kept} stored registrations"
        );
        let nta_config = sofia_nta::Config {
            accept_unknown_methods: true,
            ..sofia_nta::Config::default()
        };
        let (agent, mut requests, _others) = Agent::new(tport, incoming, nta_config);
        // NOTIFYs carry `ext-sip-ip` (an address, or the guessed local one
        // for `auto`) when it is set, so that phones outside reach us.
        let contact_host = match &config.ext_sip_ip {
            Some(crate::config::ExtAddress::Ip(IpAddr::V6(v6))) => format!("[{v6}]"),
            Some(crate::config::ExtAddress::Ip(IpAddr::V4(v4))) => v4.to_string(),
            Some(crate::config::ExtAddress::Auto) => crate::config::guess_ip_v4().to_string(),
            _ => ip.clone(),
        };
        let contact_port = agent
            .tport()
            .local_addr(sofia_tport::Transport::Udp)
            .map_or(config.sip_port, |a| a.port());
        let mut notifier = Notifier::new(sofia_nea::Config {
            contact: format!(
                "sip:mod_sofia@{contact_host}:{}",
                config.ext_sip_port.unwrap_or(contact_port)
            ),
            ..sofia_nea::Config::default()
        });
        // Registered users are open without a document stored for each:
        // the package asks the profile's registrar (once the profile runs).
        let this: Arc<std::sync::OnceLock<std::sync::Weak<Profile>>> = Arc::default();
        let lookup = Arc::clone(&this);
        notifier.add_package(Box::new(crate::presence::FsPresence::with_registrations(
            Arc::new(move |user: &str, host: &str| {
                lookup
                    .get()
                    .and_then(std::sync::Weak::upgrade)
                    .is_some_and(|p| p.registered(user, host))
            }),
        )));
        notifier.add_package(Box::new(MessageSummary));
        let presence = Server::new(agent.clone(), notifier);
        let service = crate::presence::PresenceService::new(
            &config.name,
            presence.clone(),
            publish_config(&config),
            config.user_agent.clone(),
        );
        let profile_aliases = aliases(&config, &loaded.directory);
        let profile = Arc::new(Profile {
            config,
            agent: agent.clone(),
            registrar: Mutex::new(registrar),
            store: Mutex::new(store),
            started: Instant::now(),
            acl: Mutex::new(acl),
            aliases: profile_aliases,
            tasks: Mutex::new(Vec::new()),
            presence: service,
        });
        let _ = this.set(Arc::downgrade(&profile));
        let p = Arc::clone(&profile);
        let (b, pres) = (bus.clone(), presence);
        let requests_task = tokio::spawn(async move {
            while let Some(req) = requests.recv().await {
                if let Some(h) = lock(&heartbeat).as_ref() {
                    h.event();
                }
                p.request(req, &pres, &b);
            }
        });
        let p = Arc::clone(&profile);
        let sweep_task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                p.sweep(&bus);
            }
        });
        lock(&profile.tasks).extend([requests_task.abort_handle(), sweep_task.abort_handle()]);
        Ok(profile)
    }

    /// Applies what changes without rebinding (FreeSWITCH's `rescan`):
    /// the registrar's settings, the directory and the ACLs, keeping every
    /// binding. The transports, and so `sip-ip` and `sip-port`, stay as
    /// they were until a restart.
    fn rescan(&self, config: ProfileConfig, loaded: &LoadedConfig) {
        let acl = ProfileAcl {
            acls: loaded.acls.clone(),
            config: config.clone(),
        };
        let mut fresh = Registrar::new(
            registrar_settings(&config),
            loaded.directory.clone(),
            acl.clone(),
        );
        let mut registrar = lock(&self.registrar);
        let rows: Vec<Registration> = registrar.all().cloned().collect();
        let kept = fresh.load(rows, SystemTime::now());
        *registrar = fresh;
        *lock(&self.acl) = acl;
        self.presence.set_config(publish_config(&config));
        su_log!(
            SOFIA,
            3,
            "sofia: profile {} rescanned: {kept} registrations kept",
            self.config.name
        );
    }

    /// Asks the phone of a binding to reboot: a NOTIFY with `Event:
    /// check-sync;reboot=true` outside any dialog (FreeSWITCH's
    /// `flush_inbound_reg ... reboot`), sent to the address the REGISTER
    /// came from (so that it passes a NAT) over the binding's transport.
    /// The answer is not waited for.
    fn check_sync(&self, row: &Registration) {
        self.sync_notify(row, "check-sync;reboot=true", None, None);
    }

    /// Sends the phone of a binding a NOTIFY outside any dialog with this
    /// `Event`, and this body when given (type and text), to the address
    /// the REGISTER came from over the binding's transport; `call_id` is its
    /// Call-ID (a new one when `None`). The answer is not waited for.
    fn sync_notify(
        &self,
        row: &Registration,
        event: &str,
        body: Option<(&str, &str)>,
        call_id: Option<&str>,
    ) {
        let uri = crate::registrar::contact_uri(&row.contact).to_string();
        let Ok(ip) = row.network_ip.parse::<IpAddr>() else {
            return;
        };
        let Ok(port) = row.network_port.parse::<u16>() else {
            return;
        };
        let transport = if row.status.contains("TCP") {
            sofia_tport::Transport::Tcp
        } else if row.status.contains("TLS") {
            sofia_tport::Transport::Tls
        } else {
            sofia_tport::Transport::Udp
        };
        let Some(via) = self.agent.via(transport) else {
            return;
        };
        let local = self
            .agent
            .tport()
            .local_addr(transport)
            .map(|a| a.to_string())
            .unwrap_or_default();
        let notify = sofia_msg::RequestBuilder::new(Method::Notify, &uri)
            .header(HeaderName::Via, &via)
            .header(HeaderName::MaxForwards, "70")
            .header(
                HeaderName::From,
                &format!("<sip:{}@{local}>;tag={}", row.sip_user, self.agent.tag()),
            )
            .header(
                HeaderName::To,
                &format!("<sip:{}@{}>", row.sip_user, row.sip_host),
            )
            .header(
                HeaderName::CallId,
                &call_id.map_or_else(|| format!("{}@{local}", self.agent.tag()), str::to_string),
            )
            .header(HeaderName::CSeq, "1 NOTIFY")
            .header(HeaderName::Event, event)
            .header(HeaderName::SubscriptionState, "terminated");
        let notify = match body {
            Some((content_type, text)) => notify.body(content_type, text.to_string()),
            None => notify,
        }
        .build();
        let sent = notify.map_err(|e| e.to_string()).and_then(|msg| {
            self.agent
                .request(
                    msg,
                    sofia_tport::Destination::new(transport, SocketAddr::new(ip, port)),
                )
                .map(drop)
                .map_err(|e| e.to_string())
        });
        match sent {
            Ok(()) => su_log!(SOFIA, 5, "sofia: {}: {event} to {uri}", self.config.name),
            Err(e) => su_log!(
                SOFIA,
                3,
                "sofia: {}: no check-sync to {uri}: {e}",
                self.config.name
            ),
        }
    }

    /// Answers one request.
    fn request(&self, req: ServerRequest, presence: &Server, bus: &EventBus) {
        let method = req.msg.method();
        if method == Method::Ack {
            return;
        }
        if method == Method::Register {
            let out = lock(&self.registrar).handle_register(
                SystemTime::now(),
                req.source.remote,
                req.source.transport,
                &req.msg,
            );
            if let Some(resp) = out.response
                && let Err(e) = self.agent.respond(req.server, resp)
            {
                su_log!(
                    SOFIA,
                    3,
                    "sofia: {}: cannot answer REGISTER: {e}",
                    self.config.name
                );
            }
            self.store(out.store_ops);
            self.presence_after(&out.events);
            for e in out.events {
                bus.publish(bus_event(e));
            }
            return;
        }
        if method == Method::Publish {
            self.presence.publish(&req);
            return;
        }
        if method == Method::Invite && !lock(&self.acl).inbound_allows(req.source.remote.ip()) {
            su_log!(
                SOFIA,
                3,
                "sofia: {}: {} from {} refused by apply-inbound-acl",
                self.config.name,
                req.msg.method_str(),
                req.source.remote
            );
            self.reply(&req, 403, "Forbidden", &[]);
            return;
        }
        let req = match presence.handle(req) {
            Ok(()) => return,
            Err(req) => req,
        };
        match method {
            Method::Options => self.reply(
                &req,
                200,
                "OK",
                &[
                    (HeaderName::Allow, PROFILE_ALLOW),
                    (HeaderName::Accept, "application/sdp"),
                ],
            ),
            _ => self.reply(
                &req,
                501,
                "Not Implemented",
                &[(HeaderName::Allow, PROFILE_ALLOW)],
            ),
        }
    }

    fn reply(&self, req: &ServerRequest, status: u16, phrase: &str, extra: &[(HeaderName, &str)]) {
        let tag = self.agent.tag();
        let mut b = ResponseBuilder::reply_to(&req.msg, status, phrase, Some(&tag));
        if let Some(ua) = &self.config.user_agent {
            b = b.header(HeaderName::Server, ua);
        }
        for (name, value) in extra {
            b = b.header(*name, value);
        }
        match b.build() {
            Ok(resp) => {
                if let Err(e) = self.agent.respond(req.server, resp) {
                    su_log!(SOFIA, 3, "sofia: {}: cannot answer: {e}", self.config.name);
                }
            }
            Err(e) => su_log!(
                SOFIA,
                2,
                "sofia: {}: cannot build a {status}: {e}",
                self.config.name
            ),
        }
    }

    fn store(&self, ops: Vec<StoreOp>) {
        if ops.is_empty() {
            return;
        }
        if let Err(e) = lock(&self.store).apply(ops) {
            su_log!(
                SOFIA,
                1,
                "sofia: {}: registration store: {e}",
                self.config.name
            );
        }
    }

    /// Whether `user@host` has a registration.
    fn registered(&self, user: &str, host: &str) -> bool {
        lock(&self.registrar).count(Some(user), host) > 0
    }

    /// Gives presence the registration changes of registrar events: a user
    /// with a registration is open, one whose last registration went is
    /// not.
    fn presence_after(&self, events: &[crate::registrar::Event]) {
        for (user, host) in crate::presence::registration_changes(events) {
            self.presence.registration_changed(&user, &host);
        }
    }

    /// Removes expired bindings and publications.
    fn sweep(&self, bus: &EventBus) {
        let out = lock(&self.registrar).sweep(SystemTime::now());
        self.store(out.store_ops);
        self.presence_after(&out.events);
        self.presence.expire(Instant::now());
        for e in out.events {
            bus.publish(bus_event(e));
        }
    }

    fn stop(&self) {
        for t in lock(&self.tasks).drain(..) {
            t.abort();
        }
        // Ends the engine, which lets go of the transports' sockets.
        self.agent.shutdown();
        if let Err(e) = lock(&self.store).flush() {
            su_log!(
                SOFIA,
                1,
                "sofia: {}: registration store: {e}",
                self.config.name
            );
        }
    }

    fn status(&self) -> ProfileStatus {
        let c = &self.config;
        let ip = match c.sip_ip {
            IpAddr::V6(v6) => format!("[{v6}]"),
            IpAddr::V4(v4) => v4.to_string(),
        };
        // With `sip-port` auto, the port the system picked.
        let port = self
            .agent
            .tport()
            .listeners()
            .first()
            .map_or(c.sip_port, |l| l.1.port());
        let url = format!("sip:mod_sofia@{ip}:{port}");
        ProfileStatus {
            name: c.name.clone(),
            aliases: self.aliases.clone(),
            running: true,
            uptime_secs: self.started.elapsed().as_secs(),
            domain_name: c.domain.clone(),
            dbname: format!("sofia_reg_{}", c.name),
            challenge_realm: Some(match &c.challenge_realm {
                ChallengeRealm::AutoTo => "auto_to".to_string(),
                ChallengeRealm::AutoFrom => "auto_from".to_string(),
                ChallengeRealm::Fixed(r) => r.clone(),
            }),
            sip_ip: c.sip_ip.to_string(),
            ext_sip_ip: match &c.ext_sip_ip {
                Some(crate::config::ExtAddress::Ip(a)) => Some(a.to_string()),
                Some(crate::config::ExtAddress::Auto) => {
                    Some(crate::config::guess_ip_v4().to_string())
                }
                Some(crate::config::ExtAddress::Host(h)) => Some(h.clone()),
                _ => None,
            },
            bind_url: format!("{url};maddr={}", c.sip_ip),
            url,
            tls: self
                .agent
                .tport()
                .local_addr(sofia_tport::Transport::Tls)
                .map(|a| {
                    let tls_url = format!("sips:mod_sofia@{ip}:{}", a.port());
                    (
                        format!("{tls_url};transport=tls"),
                        format!("{tls_url};maddr={};transport=tls", c.sip_ip),
                    )
                }),
            tls_only: c.tls && c.tls_only,
            max_registrations_per_ext: c.max_registrations_per_extension as i32,
            // FreeSWITCH's media and dialplan settings, shown as configured
            // (they are not acted on).
            dialplan: setting(c, "dialplan").unwrap_or_default(),
            context: setting(c, "context").unwrap_or_default(),
            codecs_in: setting(c, "inbound-codec-prefs").unwrap_or_default(),
            codecs_out: setting(c, "outbound-codec-prefs").unwrap_or_default(),
            hold_music: setting(c, "hold-music"),
            rtp_ip: setting(c, "rtp-ip").into_iter().collect(),
            ext_rtp_ip: setting(c, "ext-rtp-ip"),
            pres_hosts: setting(c, "presence-hosts").unwrap_or_default(),
            ..ProfileStatus::default()
        }
    }

    fn rows(&self, filter: &RegFilter) -> Vec<RegistrationRow> {
        lock(&self.registrar)
            .all()
            .map(row)
            .filter(|r| filter.matches(r))
            .collect()
    }
}

/// The value of a profile setting as written (the last one wins), also
/// for the settings that are accepted without being acted on.
fn setting(c: &ProfileConfig, name: &str) -> Option<String> {
    c.params
        .iter()
        .chain(c.not_acted.iter())
        .filter(|p| p.name.eq_ignore_ascii_case(name))
        .map(|p| p.value.clone())
        .next_back()
}

/// A profile's other names: its `<aliases>`, and the directory domains its
/// `<domains>` make aliases (`all`: every domain), as FreeSWITCH does.
fn aliases(c: &ProfileConfig, directory: &Directory) -> Vec<String> {
    let mut out: Vec<String> = c.aliases.clone();
    for d in c.domains.iter().filter(|d| d.alias) {
        if d.name == "all" {
            out.extend(directory.domains().iter().map(|d| d.name.clone()));
        } else {
            out.push(d.name.clone());
        }
    }
    out.retain(|a| a != &c.name);
    out.dedup();
    out
}

fn row(r: &Registration) -> RegistrationRow {
    RegistrationRow {
        call_id: r.call_id.clone(),
        sip_user: r.sip_user.clone(),
        sip_host: r.sip_host.clone(),
        presence_hosts: r.presence_hosts.clone(),
        contact: r.contact.clone(),
        status: r.status.clone(),
        rpid: r.rpid.clone(),
        expires: (r.expires > 0).then_some(r.expires),
        user_agent: r.user_agent.clone(),
        profile_name: r.profile_name.clone(),
        hostname: r.hostname.clone(),
        network_ip: r.network_ip.clone(),
        network_port: r.network_port.clone(),
        sip_username: r.sip_username.clone(),
        sip_realm: r.sip_realm.clone(),
        mwi_user: r.mwi_user.clone(),
        mwi_host: r.mwi_host.clone(),
        ping_status: r.ping_status.clone(),
        ping_time: r.ping_time,
    }
}

/// The daemon's state: the configuration and its running profiles.
pub struct Sofia {
    source: ConfigSource,
    data_dir: PathBuf,
    loaded: LoadedConfig,
    bus: EventBus,
    siptrace: bool,
    profiles: Arc<Mutex<BTreeMap<String, Arc<Profile>>>>,
    /// Profiles being started in the background: a name is here or in
    /// `profiles` (or both) from the start command until the start fails.
    starting: Arc<Mutex<BTreeSet<String>>>,
    watchdog: Option<Watchdog>,
    /// The watchdog's event heartbeat, shared with the profiles.
    heartbeat: Arc<Mutex<Option<Heartbeat>>>,
}

impl std::fmt::Debug for Sofia {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sofia")
            .field("source", &self.source)
            .field("data_dir", &self.data_dir)
            .finish_non_exhaustive()
    }
}

impl Sofia {
    /// Loads the configuration (its warnings are logged at level 3) and
    /// starts every profile; fails naming the file, line and parameter of a
    /// configuration error, or the profile whose transports cannot bind.
    pub async fn start(
        source: ConfigSource,
        data_dir: PathBuf,
        bus: EventBus,
    ) -> Result<Sofia, String> {
        let loaded = source
            .load()
            .map_err(|e| format!("cannot load configuration: {e}"))?;
        std::fs::create_dir_all(&data_dir).map_err(|e| format!("{}: {e}", data_dir.display()))?;
        let sofia = Sofia {
            source,
            data_dir,
            loaded,
            bus,
            siptrace: false,
            profiles: Arc::new(Mutex::new(BTreeMap::new())),
            starting: Arc::new(Mutex::new(BTreeSet::new())),
            watchdog: None,
            heartbeat: Arc::new(Mutex::new(None)),
        };
        for p in sofia.loaded.sofia.profiles.clone() {
            let name = p.name.clone();
            let profile = Profile::start(
                p,
                &sofia.loaded,
                &sofia.data_dir,
                sofia.bus.clone(),
                false,
                Arc::clone(&sofia.heartbeat),
            )
            .await?;
            lock(&sofia.profiles).insert(name, profile);
        }
        Ok(sofia)
    }

    /// The watchdog `sofia global watchdog on|off` and `sofia profile <p>
    /// watchdog on|off` turn on and off (there is one for the daemon);
    /// every SIP request a profile handles ticks its event heartbeat.
    pub fn with_watchdog(mut self, watchdog: Watchdog) -> Sofia {
        *lock(&self.heartbeat) = Some(watchdog.heartbeat());
        self.watchdog = Some(watchdog);
        self
    }

    /// The watchdog settings of the first profile with `watchdog-enabled`:
    /// `watchdog-step-timeout` and `watchdog-event-timeout` (milliseconds).
    pub fn watchdog_config(&self) -> Option<WatchdogConfig> {
        self.loaded
            .sofia
            .profiles
            .iter()
            .find(|p| p.watchdog_enabled)
            .map(|p| WatchdogConfig {
                enabled: true,
                step_timeout: Duration::from_millis(u64::from(p.watchdog_step_timeout)),
                event_timeout: Duration::from_millis(u64::from(p.watchdog_event_timeout)),
            })
    }

    /// The warnings of the configuration.
    pub fn warnings(&self) -> Vec<String> {
        self.loaded.warnings.iter().map(|w| w.to_string()).collect()
    }

    /// The running profiles' bound addresses.
    pub fn listeners(&self, profile: &str) -> Vec<(sofia_tport::Transport, SocketAddr)> {
        lock(&self.profiles)
            .get(profile)
            .map(|p| p.agent.tport().listeners())
            .unwrap_or_default()
    }

    /// Stops every profile (the stores write what they hold).
    pub fn stop_all(&self) {
        for p in lock(&self.profiles).values() {
            p.stop();
        }
        lock(&self.profiles).clear();
    }

    /// The running profile named `name` or aliased so.
    fn find(&self, name: &str) -> Option<Arc<Profile>> {
        let profiles = lock(&self.profiles);
        profiles.get(name).cloned().or_else(|| {
            profiles
                .values()
                .find(|p| p.aliases.iter().any(|a| a == name))
                .cloned()
        })
    }

    /// Starts profile `name` of the configuration in the background.
    fn spawn_start(&self, name: &str) -> Result<(), String> {
        let config = self
            .loaded
            .sofia
            .profiles
            .iter()
            .find(|p| p.name == name)
            .cloned()
            .ok_or_else(|| format!("profile {name} is not in the configuration"))?;
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| "no runtime to start the profile on".to_string())?;
        {
            // One start at a time: a second one would run a profile that
            // nothing stops.
            let mut starting = lock(&self.starting);
            if starting.contains(name) || lock(&self.profiles).contains_key(name) {
                return Err(format!("profile {name} is already running or starting"));
            }
            starting.insert(name.to_string());
        }
        let starting = Arc::clone(&self.starting);
        let (profiles, data_dir, bus, siptrace) = (
            Arc::clone(&self.profiles),
            self.data_dir.clone(),
            self.bus.clone(),
            self.siptrace,
        );
        let loaded = self.loaded.clone();
        let heartbeat = Arc::clone(&self.heartbeat);
        let name = name.to_string();
        runtime.spawn(async move {
            // A stopped profile's sockets close as its tasks end.
            let mut in_use = true;
            for _ in 0..50 {
                let started = Profile::start(
                    config.clone(),
                    &loaded,
                    &data_dir,
                    bus.clone(),
                    siptrace,
                    Arc::clone(&heartbeat),
                )
                .await;
                match started {
                    Ok(p) => {
                        lock(&profiles).insert(name.clone(), p);
                        in_use = false;
                        break;
                    }
                    Err(e) if e.contains("in use") => {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    Err(e) => {
                        su_log!(SOFIA, 1, "sofia: {e}");
                        in_use = false;
                        break;
                    }
                }
            }
            if in_use {
                su_log!(SOFIA, 1, "sofia: profile {name}: its address stays in use");
            }
            lock(&starting).remove(&name);
        });
        Ok(())
    }
}

impl SofiaState for Sofia {
    fn profiles(&self) -> Vec<ProfileStatus> {
        lock(&self.profiles).values().map(|p| p.status()).collect()
    }

    fn registrations(&self, profile: &str, filter: &RegFilter) -> Vec<RegistrationRow> {
        self.find(profile)
            .map(|p| p.rows(filter))
            .unwrap_or_default()
    }

    fn flush_inbound_reg(&mut self, profile: &str, target: Option<&str>, reboot: bool) {
        if let Some(p) = self.find(profile) {
            let out = lock(&p.registrar).flush(target);
            p.store(out.store_ops);
            p.presence_after(&out.events);
            if reboot {
                for row in &out.expired {
                    p.check_sync(row);
                }
            }
            for e in out.events {
                self.bus.publish(bus_event(e));
            }
        }
    }

    fn set_siptrace(&mut self, profile: Option<&str>, on: bool) {
        let profiles = lock(&self.profiles);
        for p in profiles.values() {
            if profile.is_none_or(|name| name == p.config.name) {
                p.agent.tport().logging().set_log(on);
            }
        }
        if profile.is_none() {
            self.siptrace = on;
        }
    }

    fn set_watchdog(&mut self, _profile: Option<&str>, on: bool) {
        if let Some(w) = &self.watchdog {
            w.set_enabled(on, Instant::now());
        }
    }

    fn reload_xml(&mut self) -> Result<(), String> {
        let loaded = self.source.load()?;
        for w in &loaded.warnings {
            su_log!(SOFIA, 3, "sofia: {w}");
        }
        self.loaded = loaded;
        Ok(())
    }

    fn profile_action(&mut self, profile: &str, action: ProfileAction) -> Result<(), String> {
        match action {
            ProfileAction::Start => {
                if self.find(profile).is_some() {
                    return Err(format!("profile {profile} is already running"));
                }
                self.spawn_start(profile)
            }
            ProfileAction::Stop { .. } => {
                let p = self
                    .find(profile)
                    .ok_or_else(|| format!("no such profile {profile}"))?;
                p.stop();
                lock(&self.profiles).remove(&p.config.name);
                Ok(())
            }
            ProfileAction::Restart => {
                let p = self
                    .find(profile)
                    .ok_or_else(|| format!("no such profile {profile}"))?;
                let name = p.config.name.clone();
                p.stop();
                lock(&self.profiles).remove(&name);
                self.spawn_start(&name)
            }
            ProfileAction::Rescan => {
                let p = self
                    .find(profile)
                    .ok_or_else(|| format!("no such profile {profile}"))?;
                let config = self
                    .loaded
                    .sofia
                    .profiles
                    .iter()
                    .find(|c| c.name == p.config.name)
                    .cloned()
                    .ok_or_else(|| format!("profile {profile} is no longer configured"))?;
                p.rescan(config, &self.loaded);
                Ok(())
            }
        }
    }

    fn restart_all(&mut self) {
        let names: Vec<String> = lock(&self.profiles).keys().cloned().collect();
        for name in names {
            let _ = self.profile_action(&name, ProfileAction::Restart);
        }
    }

    fn default_domain(&self) -> Option<String> {
        self.loaded.vars.get("domain").cloned()
    }

    fn presence_data(
        &self,
        profile: &str,
        user: &str,
        domain: &str,
    ) -> Vec<crate::presence::PresenceRow> {
        let Some(p) = self.find(profile) else {
            return Vec::new();
        };
        let registrations: Vec<Registration> = lock(&p.registrar)
            .all()
            .filter(|r| r.sip_user == user)
            .cloned()
            .collect();
        crate::presence::presence_rows(registrations.iter(), user, domain, |u, h| {
            p.presence.published(u, h)
        })
    }

    fn check_sync(&mut self, profile: &str, target: Option<&str>) {
        let Some(target) = target else {
            // FreeSWITCH's `sofia_reg_check_sync`: every registration goes.
            self.flush_inbound_reg(profile, None, false);
            return;
        };
        let Some(p) = self.find(profile) else {
            return;
        };
        let rows: Vec<Registration> = lock(&p.registrar)
            .all()
            .filter(|r| crate::presence::sync_target_matches(r, target))
            .cloned()
            .collect();
        for row in &rows {
            let (event, content_type, body) =
                crate::presence::reboot_event(&row.user_agent, &row.call_id);
            p.sync_notify(row, event, Some((content_type, &body)), Some(&row.call_id));
        }
    }
}
