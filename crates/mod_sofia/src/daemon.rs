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
//! presence), OPTIONS with 200, and hands INVITEs and in-dialog requests to
//! the daemon's [`Switch`], which bridges calls (signalling only) where the
//! profile's `<routes>` or the registrations send them. `apply-inbound-acl`
//! refuses INVITEs from addresses it does not allow (403); `auth-calls`
//! challenges the others (407). Registration events go on the daemon's
//! [`EventBus`].

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
use crate::b2bua::{Hop, LegPlan, ProfileId, ProfileInfo};
use crate::commands::{
    GatewayAction, ProfileAction, ProfileStatus, RegFilter, RegistrationRow, SofiaState,
};
use crate::config::{self, ChallengeRealm, LoadOptions, LoadedConfig, ProfileConfig};
use crate::dial::{DialString, Endpoint, LegSpec, Vars};
use crate::directory::Directory;
use crate::events::{Event as BusEvent, EventBus};
use crate::gateway::driver::GatewayDriver;
use crate::gateway::{GatewayEnv, GatewaySet};
use crate::registrar::DirectoryCredentials;
use crate::registrar::{
    AclCheck, MultipleRegistrations, Registrar, RegistrarAcl, RegistrarSettings,
};
use crate::store::{BackgroundStore, Registration, RegistrationStore, SqliteStore, StoreOp};
use crate::switch::{RoutedCall, RoutedLeg, Router, Switch};
use crate::watchdog::{Heartbeat, Watchdog, WatchdogConfig};
use sofia_iptsec::{AuthModule, ChallengeKind};

/// Methods a profile answers, in its Allow header.
pub const PROFILE_ALLOW: &str = "INVITE, ACK, BYE, CANCEL, OPTIONS, UPDATE, INFO, MESSAGE, NOTIFY, REFER, REGISTER, SUBSCRIBE, PUBLISH";

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
    /// Its number in the switch.
    id: ProfileId,
    /// The daemon's call switch.
    switch: Switch,
    /// `auth-calls`: digest for INVITEs (407), against the directory.
    call_auth: Mutex<Option<AuthModule<DirectoryCredentials<Directory>>>>,
    /// The host of its Contacts and From headers (`ext-sip-ip` or `sip-ip`).
    contact_host: String,
    /// The profile's `<gateways>`, registering and pinging through `agent`.
    gateways: GatewayDriver,
    /// What a gateway needs to know of the profile.
    gateway_env: GatewayEnv,
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
        switch: Switch,
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
        let (agent, mut requests) = Agent::new_ordered(tport, incoming, nta_config);
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
        let info = ProfileInfo {
            name: name.clone(),
            addrs: agent.tport().listeners(),
            contact_host: config.ext_sip_ip.is_some().then(|| contact_host.clone()),
            user_agent: config.user_agent.clone(),
        };
        let id = switch.add_profile(&name, agent.clone(), info);
        let call_auth = config.auth_calls.then(|| call_auth(&config, loaded));
        let gateway_env = GatewayEnv::of_profile(
            &config,
            contact_port,
            agent
                .tport()
                .local_addr(sofia_tport::Transport::Tls)
                .map(|a| a.port()),
        );
        let mut gateway_set = GatewaySet::new();
        gateway_set.add_configured(&config.gateways, &gateway_env, Instant::now());
        let gateways = GatewayDriver::start(agent.clone(), gateway_set, bus.clone());
        let profile = Arc::new(Profile {
            config,
            agent: agent.clone(),
            registrar: Mutex::new(registrar),
            store: Mutex::new(store),
            started: Instant::now(),
            acl: Mutex::new(acl),
            aliases: profile_aliases,
            tasks: Mutex::new(Vec::new()),
            id,
            switch,
            call_auth: Mutex::new(call_auth),
            contact_host,
            gateways,
            gateway_env,
            presence: service,
        });
        let _ = this.set(Arc::downgrade(&profile));
        let p = Arc::clone(&profile);
        let (b, pres) = (bus.clone(), presence);
        let requests_task = tokio::spawn(async move {
            while let Some(ev) = requests.recv().await {
                if let Some(h) = lock(&heartbeat).as_ref() {
                    h.event();
                }
                match ev {
                    sofia_nta::AgentEvent::Request(req) => p.request(req, &pres, &b),
                    sofia_nta::AgentEvent::Event(sofia_nta::Event::Ack { msg, .. }) => {
                        p.switch.ack(msg)
                    }
                    sofia_nta::AgentEvent::Event(sofia_nta::Event::Cancelled {
                        invite, ..
                    }) => p.switch.cancelled(p.id, invite),
                    sofia_nta::AgentEvent::Event(_) => {}
                }
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
        *lock(&self.call_auth) = config.auth_calls.then(|| call_auth(&config, loaded));
        let added = self
            .gateways
            .with(|set, now| set.add_configured(&config.gateways, &self.gateway_env, now));
        if added > 0 {
            su_log!(
                SOFIA,
                3,
                "sofia: profile {}: {added} new gateways",
                self.config.name
            );
        }
        self.presence.set_config(publish_config(&config));
        su_log!(
            SOFIA,
            3,
            "sofia: profile {} rescanned: {kept} registrations kept",
            self.config.name
        );
    }

    /// Asks the phone of a binding to reboot (FreeSWITCH's
    /// `flush_inbound_reg ... reboot`, `sofia_reg_send_reboot`): a NOTIFY
    /// outside any dialog with the event the phone's User-Agent calls for
    /// ([`crate::presence::reboot_event`]), sent to the address the
    /// REGISTER came from (so that it passes a NAT) over the binding's
    /// transport. The answer is not waited for.
    fn check_sync(&self, row: &Registration) {
        let (event, content_type, body) =
            crate::presence::reboot_event(&row.user_agent, &row.call_id);
        self.sync_notify(row, event, Some((content_type, &body)), Some(&row.call_id));
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
        let Some(dest) = crate::registrar::flow(row) else {
            return;
        };
        let transport = dest.transport;
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
                .request(msg, dest)
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
        // `apply-inbound-acl` without `auth-calls` refuses other sources;
        // with it, they are challenged instead (`authorize_call`). Requests
        // inside a call are not checked again.
        if method == Method::Invite
            && req.msg.to_tag().is_none()
            && !self.config.auth_calls
            && !lock(&self.acl).inbound_allows(req.source.remote.ip())
        {
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
        if method == Method::Invite && req.msg.to_tag().is_none() {
            if !self.authorize_call(&req) {
                return;
            }
            self.switch.invite(self.id, req);
            return;
        }
        let req = match presence.handle(req) {
            Ok(()) => return,
            Err(req) => req,
        };
        if req.msg.to_tag().is_some() {
            self.switch.in_dialog(self.id, req);
            return;
        }
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

    /// `auth-calls`: INVITEs from addresses `apply-inbound-acl` does not
    /// list, and not from a gateway of the profile, need credentials of a
    /// directory user (407 Proxy Authentication Required). True when the
    /// call may go on; otherwise the INVITE has been answered.
    fn authorize_call(&self, req: &ServerRequest) -> bool {
        let mut auth = lock(&self.call_auth);
        let Some(module) = auth.as_mut() else {
            return true;
        };
        let acl = lock(&self.acl);
        let listed =
            !acl.config.apply_inbound_acl.is_empty() && acl.inbound_allows(req.source.remote.ip());
        drop(acl);
        if listed || self.gateway_of(&req.msg).is_some() {
            return true;
        }
        let verdict = module.verify(SystemTime::now(), req.source.remote.ip(), &req.msg);
        if verdict.is_allowed() {
            return true;
        }
        let tag = self.agent.tag();
        match verdict.response(&req.msg, Some(&tag)) {
            Some(Ok(resp)) => {
                if let Err(e) = self.agent.respond(req.server, resp) {
                    su_log!(
                        SOFIA,
                        3,
                        "sofia: {}: cannot challenge: {e}",
                        self.config.name
                    );
                }
            }
            _ => self.reply(req, 403, "Forbidden", &[]),
        }
        false
    }

    /// The gateway of this profile a request is addressed to
    /// (`gw+<name>` in the Request-URI, as gateways register).
    fn gateway_of(&self, msg: &sofia_msg::Message) -> Option<&crate::config::GatewayConfig> {
        let user = crate::b2bua::destination_user(msg);
        let name = user.strip_prefix("gw+")?;
        self.config.gateways.iter().find(|g| g.name == name)
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

    /// Stops the profile. Registered gateways unregister first (FreeSWITCH
    /// sends Expires 0 at shutdown): the returned task ends the engine once
    /// they are answered (at most `UNREGISTER_GRACE`).
    fn stop(&self) -> Option<tokio::task::JoinHandle<()>> {
        for t in lock(&self.tasks).drain(..) {
            t.abort();
        }
        self.switch.remove_profile(self.id);
        let unregistering = self.gateways.stop();
        if unregistering.is_none() {
            // Ends the engine, which lets go of the transports' sockets.
            self.agent.shutdown();
        }
        if let Err(e) = lock(&self.store).flush() {
            su_log!(
                SOFIA,
                1,
                "sofia: {}: registration store: {e}",
                self.config.name
            );
        }
        unregistering
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
        let counters = self.switch.profile_counters(&c.name);
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
            inuse: self.switch.active_calls(&c.name) as u32,
            calls_in: counters.calls_in,
            failed_calls_in: counters.failed_calls_in,
            calls_out: counters.calls_out,
            failed_calls_out: counters.failed_calls_out,
            gateways: self
                .gateways
                .statuses()
                .into_iter()
                .map(|mut g| {
                    let n = self.switch.gateway_counters(&g.name);
                    g.ib_calls = n.calls_in;
                    g.ib_failed_calls = n.failed_calls_in;
                    g.ob_calls = n.calls_out;
                    g.ob_failed_calls = n.failed_calls_out;
                    g
                })
                .collect(),
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
    /// The call switch of every profile.
    switch: Switch,
    /// Stopped profiles still unregistering their gateways.
    stopping: Mutex<Vec<tokio::task::JoinHandle<()>>>,
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
        let profiles = Arc::new(Mutex::new(BTreeMap::new()));
        let switch = Switch::start(
            Arc::new(DaemonRouter {
                profiles: Arc::clone(&profiles),
            }),
            bus.clone(),
        );
        let sofia = Sofia {
            source,
            data_dir,
            loaded,
            bus,
            siptrace: false,
            profiles,
            switch,
            starting: Arc::new(Mutex::new(BTreeSet::new())),
            watchdog: None,
            heartbeat: Arc::new(Mutex::new(None)),
            stopping: Mutex::new(Vec::new()),
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
                sofia.switch.clone(),
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

    /// Stops every profile (the stores write what they hold; calls in
    /// progress are ended first; registered gateways unregister:
    /// [`Sofia::stopped`] waits for that).
    pub fn stop_all(&self) {
        self.switch.shutdown();
        for p in lock(&self.profiles).values() {
            if let Some(task) = p.stop() {
                self.keep_stopping(task);
            }
        }
        lock(&self.profiles).clear();
    }

    fn keep_stopping(&self, task: tokio::task::JoinHandle<()>) {
        let mut stopping = lock(&self.stopping);
        stopping.retain(|t| !t.is_finished());
        stopping.push(task);
    }

    /// Completes when the stopped profiles' gateways have unregistered (or
    /// given up) and their engines have ended.
    pub fn stopped(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let tasks: Vec<_> = lock(&self.stopping).drain(..).collect();
        async move {
            for t in tasks {
                let _ = t.await;
            }
        }
    }

    /// The running profile that has the gateway `name`.
    fn gateway_profile(&self, name: &str) -> Option<Arc<Profile>> {
        lock(&self.profiles)
            .values()
            .find(|p| p.gateways.with(|set, _| set.get(name).is_some()))
            .cloned()
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

    /// Profile `name` of the loaded configuration.
    fn configured(&self, name: &str) -> Option<&ProfileConfig> {
        self.loaded.sofia.profiles.iter().find(|p| p.name == name)
    }

    /// Starts profile `name` of the configuration in the background.
    fn spawn_start(&self, name: &str) -> Result<(), String> {
        let config = self
            .configured(name)
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
        let switch = self.switch.clone();
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
                    switch.clone(),
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
                if let Some(task) = p.stop() {
                    self.keep_stopping(task);
                }
                lock(&self.profiles).remove(&p.config.name);
                Ok(())
            }
            ProfileAction::Restart => {
                let p = self
                    .find(profile)
                    .ok_or_else(|| format!("no such profile {profile}"))?;
                let name = p.config.name.clone();
                if let Some(task) = p.stop() {
                    self.keep_stopping(task);
                }
                lock(&self.profiles).remove(&name);
                self.spawn_start(&name)
            }
            ProfileAction::Rescan => {
                let p = self
                    .find(profile)
                    .ok_or_else(|| format!("no such profile {profile}"))?;
                let config = self
                    .configured(&p.config.name)
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

    fn gateway_action(&mut self, profile: &str, action: &GatewayAction) -> Result<(), String> {
        let p = self
            .find(profile)
            .ok_or_else(|| format!("no such profile {profile}"))?;
        // A named gateway is found in any profile, as FreeSWITCH does.
        let owner = |name: &str| {
            self.gateway_profile(name)
                .ok_or_else(|| format!("no such gateway {name}"))
        };
        match action {
            GatewayAction::Kill(None) => {
                p.gateways.with(|set, now| set.delete(now, None));
                Ok(())
            }
            GatewayAction::Kill(Some(name)) => {
                owner(name)?
                    .gateways
                    .with(|set, now| set.delete(now, Some(name)));
                Ok(())
            }
            GatewayAction::Register(None) | GatewayAction::Unregister(None) => {
                let register = matches!(action, GatewayAction::Register(_));
                p.gateways.with(|set, now| {
                    for g in set.iter_mut() {
                        if register {
                            g.register_now(now);
                        } else {
                            g.unregister_now(now);
                        }
                    }
                });
                Ok(())
            }
            GatewayAction::Register(Some(name)) | GatewayAction::Unregister(Some(name)) => {
                let register = matches!(action, GatewayAction::Register(_));
                owner(name)?.gateways.with(|set, now| {
                    if let Some(g) = set.get_mut(name) {
                        if register {
                            g.register_now(now);
                        } else {
                            g.unregister_now(now);
                        }
                    }
                });
                Ok(())
            }
            GatewayAction::Start(name) => {
                if self.gateway_profile(name).is_some() {
                    return Err(format!("gateway {name} is already running"));
                }
                let config = self
                    .configured(&p.config.name)
                    .and_then(|c| c.gateways.iter().find(|g| g.name == *name))
                    .cloned()
                    .ok_or_else(|| format!("gateway {name} is not configured in {profile}"))?;
                let added = p.gateways.with(|set, now| {
                    set.add_configured(std::slice::from_ref(&config), &p.gateway_env, now)
                });
                if added == 1 {
                    Ok(())
                } else {
                    Err(format!("gateway {name} is already running"))
                }
            }
        }
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
            .user_contacts(user)
            .into_iter()
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

/// The `auth-calls` digest module of a profile: 407 challenges in the
/// realm the registrar uses, credentials from the directory.
fn call_auth(
    config: &ProfileConfig,
    loaded: &LoadedConfig,
) -> AuthModule<DirectoryCredentials<Directory>> {
    let settings = registrar_settings(config);
    let mut auth = settings.auth.clone();
    auth.kind = ChallengeKind::Proxy;
    AuthModule::new(
        auth,
        DirectoryCredentials::new(
            loaded.directory.clone(),
            settings.force_register_domain.clone(),
        ),
    )
}

/// Where calls go: a profile's `<routes>`, else the registrations of the
/// called user on the profile (all contacts at once).
struct DaemonRouter {
    profiles: Arc<Mutex<BTreeMap<String, Arc<Profile>>>>,
}

/// The caller's number and display name (From).
fn caller(invite: &sofia_msg::Message) -> (String, Option<String>) {
    match invite.from() {
        Some(a) => (
            a.uri().user().unwrap_or("").to_string(),
            a.display_name()
                .map(|d| d.trim().to_string())
                .filter(|d| !d.is_empty()),
        ),
        None => (String::new(), None),
    }
}

impl Router for DaemonRouter {
    fn route(&self, profile: &str, invite: &sofia_msg::Message) -> RoutedCall {
        let profiles: BTreeMap<String, Arc<Profile>> = lock(&self.profiles).clone();
        let Some(p) = profiles.get(profile) else {
            return RoutedCall::default();
        };
        let host = invite
            .request_uri()
            .and_then(Result::ok)
            .map(|u| u.host().to_string())
            .unwrap_or_default();
        let mut dest = crate::b2bua::destination_user(invite);
        let (number, name) = caller(invite);
        let mut out = RoutedCall::default();
        if let Some(gw) = p.gateway_of(invite) {
            out.gateway = Some(gw.name.clone());
            dest = if gw.extension == "auto_to_user" {
                invite
                    .to()
                    .and_then(|t| t.uri().user().map(str::to_string))
                    .unwrap_or_default()
            } else {
                gw.extension.clone()
            };
            out.vars.extend(gw.inbound_variables.iter().cloned());
        }
        let domain = p.config.domain.clone().unwrap_or_else(|| host.clone());
        let vars = &mut out.vars;
        vars.insert("destination_number".into(), dest.clone());
        vars.insert("domain".into(), domain.clone());
        vars.insert("caller_id_number".into(), number.clone());
        vars.insert("caller_id_name".into(), name.clone().unwrap_or_default());
        vars.insert("profile_name".into(), p.config.name.clone());
        for h in invite.headers() {
            if crate::b2bua::is_custom_header(h.name) {
                vars.insert(format!("sip_h_{}", h.name), h.value.to_string());
            }
        }
        let caller = Caller {
            number: &number,
            name: name.as_deref(),
        };
        match crate::dial::route(&p.config.routes, &dest, &out.vars) {
            Some(routed) => {
                out.vars.extend(routed.vars);
                match DialString::parse(&routed.dial_string) {
                    Ok(d) => {
                        for group in d.groups {
                            let legs: Vec<RoutedLeg> = group
                                .iter()
                                .flat_map(|leg| legs_for(&profiles, leg, &caller, &mut out.refused))
                                .collect();
                            if !legs.is_empty() {
                                out.groups.push(legs);
                            }
                        }
                    }
                    Err(e) => su_log!(
                        SOFIA,
                        3,
                        "sofia: {profile}: dial string '{}': {e}",
                        routed.dial_string
                    ),
                }
            }
            None => {
                let spec = LegSpec {
                    endpoint: Endpoint::Registered {
                        profile: profile.to_string(),
                        user: dest.clone(),
                        host: host.clone(),
                    },
                    vars: Vars::new(),
                    to: None,
                    fs_path: None,
                    transport: None,
                };
                let legs = legs_for(&profiles, &spec, &caller, &mut out.refused);
                if !legs.is_empty() {
                    out.groups.push(legs);
                }
            }
        }
        su_log!(
            SOFIA,
            5,
            "sofia: {profile}: call from {number} to {dest}: {} group(s)",
            out.groups.len()
        );
        out
    }
}

struct Caller<'a> {
    number: &'a str,
    name: Option<&'a str>,
}

fn find_profile<'a>(
    profiles: &'a BTreeMap<String, Arc<Profile>>,
    name: &str,
) -> Option<&'a Arc<Profile>> {
    profiles.get(name).or_else(|| {
        profiles
            .values()
            .find(|p| p.aliases.iter().any(|a| a == name))
    })
}

/// The legs of one dial-string endpoint (several for a user with several
/// registrations).
fn legs_for(
    profiles: &BTreeMap<String, Arc<Profile>>,
    spec: &LegSpec,
    caller: &Caller<'_>,
    refused: &mut Option<&'static str>,
) -> Vec<RoutedLeg> {
    let credentials = match (
        spec.vars.get("sip_auth_username"),
        spec.vars.get("sip_auth_password"),
    ) {
        (Some(u), Some(p)) => Some((u.clone(), p.clone())),
        _ => None,
    };
    let base =
        |p: &Profile, request_uri: String, transport: sofia_tport::Transport, hop: Hop| LegPlan {
            profile: 0,
            to: spec.to.clone().unwrap_or_else(|| request_uri.clone()),
            request_uri,
            from_user: caller.number.to_string(),
            from_host: p.contact_host.clone(),
            from_display: caller.name.map(str::to_string),
            transport: spec.transport.unwrap_or(transport),
            hop: match &spec.fs_path {
                Some(path) => Hop::Uri(path.clone()),
                None => hop,
            },
            route: spec.fs_path.clone(),
            credentials: credentials.clone(),
            gateway: None,
            vars: spec.vars.clone(),
        };
    match &spec.endpoint {
        Endpoint::Uri { profile, uri } => {
            let Some(p) = find_profile(profiles, profile) else {
                su_log!(SOFIA, 3, "sofia: dial string: no profile {profile}");
                return Vec::new();
            };
            let transport =
                sofia_msg::Uri::parse(uri)
                    .ok()
                    .map_or(sofia_tport::Transport::Udp, |u| {
                        sofia_nta::resolve::numeric_target(&u).map_or_else(
                            || {
                                u.transport()
                                    .and_then(sofia_tport::Transport::from_name)
                                    .unwrap_or(sofia_tport::Transport::Udp)
                            },
                            |t| t.transport,
                        )
                    });
            vec![RoutedLeg {
                profile: p.config.name.clone(),
                plan: base(p, uri.clone(), transport, Hop::Uri(uri.clone())),
            }]
        }
        Endpoint::Registered {
            profile,
            user,
            host,
        } => {
            let Some(p) = find_profile(profiles, profile) else {
                su_log!(SOFIA, 3, "sofia: dial string: no profile {profile}");
                return Vec::new();
            };
            let exclude = spec.vars.get("sip_exclude_contact");
            let rows: Vec<Registration> = {
                let registrar = lock(&p.registrar);
                let mut rows: Vec<Registration> = registrar
                    .contacts(user, host)
                    .into_iter()
                    .cloned()
                    .collect();
                if rows.is_empty() {
                    rows = registrar.user_contacts(user).into_iter().cloned().collect();
                }
                rows
            };
            rows.into_iter()
                .filter(|r| exclude.is_none_or(|x| !r.contact.contains(x.as_str())))
                .filter_map(|r| {
                    let dest = crate::registrar::flow(&r)?;
                    let uri = crate::registrar::contact_uri(&r.contact).to_string();
                    // As FreeSWITCH: a phone behind NAT is reached where its
                    // REGISTER came from, over the same transport; the
                    // others at their Contact (resolved as any URI).
                    let hop = if r.status.contains("NAT") || dest.transport.is_stream() {
                        Hop::Fixed(dest.clone())
                    } else {
                        Hop::Uri(uri.clone())
                    };
                    let mut plan = base(p, uri, dest.transport, hop);
                    if spec.to.is_none() {
                        plan.to = format!("sip:{user}@{host}");
                    }
                    Some(RoutedLeg {
                        profile: p.config.name.clone(),
                        plan,
                    })
                })
                .collect()
        }
        Endpoint::Gateway { gateway, number } => {
            let Some((p, gw)) = profiles.values().find_map(|p| {
                // FreeSWITCH refuses calls to a gateway that is down.
                p.config
                    .gateways
                    .iter()
                    .find(|g| g.name == *gateway)
                    .map(|g| (p, g))
            }) else {
                su_log!(SOFIA, 3, "sofia: dial string: no gateway {gateway}");
                return Vec::new();
            };
            let usable = p
                .gateways
                .with(|set, _| set.get(gateway).map(|g| g.usable_for_calls()));
            if usable != Some(true) {
                su_log!(
                    SOFIA,
                    3,
                    "sofia: gateway {gateway} is down: no call through it"
                );
                *refused = Some("NETWORK_OUT_OF_ORDER");
                return Vec::new();
            }
            let proxy = gw
                .proxy
                .trim_start_matches("sips:")
                .trim_start_matches("sip:")
                .to_string();
            let proxy_host = proxy.split([':', ';']).next().unwrap_or(&proxy).to_string();
            let transport = match gw.register_transport {
                crate::config::Transport::Udp => sofia_tport::Transport::Udp,
                crate::config::Transport::Tcp => sofia_tport::Transport::Tcp,
                crate::config::Transport::Tls => sofia_tport::Transport::Tls,
            };
            let mut uri = format!("sip:{number}@{proxy}");
            if transport != sofia_tport::Transport::Udp && !uri.contains("transport=") {
                uri.push_str(&format!(";transport={}", gw.register_transport.as_str()));
            }
            let hop = match &gw.outbound_proxy {
                Some(op) => Hop::Uri(op.clone()),
                None => Hop::Uri(uri.clone()),
            };
            let mut plan = base(p, uri, transport, hop);
            plan.gateway = Some(gw.name.clone());
            if !gw.caller_id_in_from {
                plan.from_user = gw.from_user.clone();
            }
            plan.from_host = gw.from_domain.clone().unwrap_or(proxy_host);
            if plan.credentials.is_none() && !gw.password.is_empty() {
                plan.credentials = Some((gw.auth_username.clone(), gw.password.clone()));
            }
            let mut vars: Vars = gw.outbound_variables.iter().cloned().collect();
            vars.extend(plan.vars);
            vars.entry("sip_contact_user".into())
                .or_insert_with(|| format!("gw+{}", gw.name));
            plan.vars = vars;
            vec![RoutedLeg {
                profile: p.config.name.clone(),
                plan,
            }]
        }
    }
}
