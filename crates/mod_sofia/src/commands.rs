//! The `sofia ...` API commands with FreeSWITCH's reply formats.
//!
//! An API line (`sofia status`, `sofia_contact 1000@example.com`, ...) is
//! parsed into an [`ApiCommand`] ([`ApiCommand::parse`]), then run against
//! a [`SofiaState`] ([`run`]), which gives a [`Reply`]: the text FreeSWITCH
//! prints for the same command, byte for byte (the 97-`=` separator lines,
//! TAB-separated columns with their widths, the headings, the
//! `N profiles M aliases` totals, `-ERR ...` and `Invalid ...` replies), and
//! whether it is a success. `sofia_dig` resolves names and is async
//! ([`dig`]); [`execute`] does all of it for one line.
//!
//! The commands read and change the daemon only through [`SofiaState`]: the
//! profiles with their status ([`ProfileStatus`]), the registrations
//! ([`RegistrationRow`], with the columns of FreeSWITCH's `sip_registrations`
//! table), and the actions (start/stop/restart/rescan a profile, flush
//! registrations, SIP trace, watchdog). `sofia loglevel` works on
//! [`sofia_su::log::REGISTRY`] directly and `sofia tracelevel` on a
//! process-wide level ([`tracelevel`]).
//!
//! ```
//! use mod_sofia::commands::{execute_sync, NoProfiles};
//!
//! let reply = execute_sync("sofia status", &mut NoProfiles);
//! assert!(reply.ok);
//! assert!(reply.text.ends_with("0 profiles 0 aliases\n"));
//! let reply = execute_sync("sofia status profile nope", &mut NoProfiles);
//! assert_eq!(reply.text, "Invalid Profile!\n");
//! assert!(!reply.ok);
//! ```

use std::fmt::Write as _;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use sofia_nta::resolve::{Resolver, Target};
use sofia_su::log::REGISTRY;

/// The separator line of `sofia status` and its relatives: 97 `=`.
pub const SEPARATOR: &str = "=================================================================================================";

/// The separator line of `sofia_dig`: 80 `=`.
pub const DIG_SEPARATOR: &str =
    "================================================================================";

/// The `sofia help` text (also the reply to `sofia` alone and to bad
/// `sofia loglevel` arguments).
pub const USAGE: &str = "USAGE:\n\
--------------------------------------------------------------------------------\n\
sofia global siptrace <on|off>\n\
sofia        capture  <on|off>\n\
\x20            watchdog <on|off>\n\n\
sofia profile <name> [start | stop | restart | rescan] [wait]\n\
\x20                    flush_inbound_reg [<call_id> | <[user]@domain>] [reboot]\n\
\x20                    check_sync [<call_id> | <[user]@domain>]\n\
\x20                    [register | unregister] [<gateway name> | all]\n\
\x20                    killgw <gateway name>\n\
\x20                    [stun-auto-disable | stun-enabled] [true | false]]\n\
\x20                    siptrace <on|off>\n\
\x20                    capture  <on|off>\n\
\x20                    watchdog <on|off>\n\n\
sofia <status|xmlstatus> profile <name> [reg [<contact str>]] | [pres <pres str>] | [user <user@domain>]\n\
sofia <status|xmlstatus> gateway <name>\n\n\
sofia loglevel <all|default|tport|iptsec|nea|nta|nth_client|nth_server|nua|soa|sresolv|stun> [0-9]\n\
sofia tracelevel <console|alert|crit|err|warning|notice|info|debug>\n\n\
sofia help\n\
--------------------------------------------------------------------------------\n";

const XML_HEADER: &str = "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>";

/// Seconds a profile must have run before `stop`/`restart` (as FreeSWITCH).
pub const MIN_UPTIME_FOR_STOP: u64 = 10;

/// What a command prints, and whether it succeeded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The text, exactly as FreeSWITCH prints it (it may lack a final newline,
    /// as some of FreeSWITCH's replies do).
    pub text: String,
    /// False for `-ERR ...`, `Invalid ...`, `Unknown Command ...` and usage
    /// replies to bad arguments.
    pub ok: bool,
}

impl Reply {
    fn ok(text: impl Into<String>) -> Reply {
        Reply {
            text: text.into(),
            ok: true,
        }
    }

    fn err(text: impl Into<String>) -> Reply {
        Reply {
            text: text.into(),
            ok: false,
        }
    }
}

/// A gateway's registration state, FreeSWITCH's `sofia_state_names`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GatewayState {
    /// `UNREGED`
    #[default]
    Unreged,
    /// `TRYING`
    Trying,
    /// `REGISTER`
    Register,
    /// `REGED`
    Reged,
    /// `UNREGISTER`
    Unregister,
    /// `FAILED`
    Failed,
    /// `FAIL_WAIT`
    FailWait,
    /// `EXPIRED`
    Expired,
    /// `NOREG`
    Noreg,
    /// `DOWN`
    Down,
    /// `TIMEOUT`
    Timeout,
}

impl GatewayState {
    /// The name FreeSWITCH prints (`REGED`, `NOREG`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            GatewayState::Unreged => "UNREGED",
            GatewayState::Trying => "TRYING",
            GatewayState::Register => "REGISTER",
            GatewayState::Reged => "REGED",
            GatewayState::Unregister => "UNREGISTER",
            GatewayState::Failed => "FAILED",
            GatewayState::FailWait => "FAIL_WAIT",
            GatewayState::Expired => "EXPIRED",
            GatewayState::Noreg => "NOREG",
            GatewayState::Down => "DOWN",
            GatewayState::Timeout => "TIMEOUT",
        }
    }

    fn retrying(self) -> bool {
        matches!(self, GatewayState::Failed | GatewayState::Trying)
    }
}

/// One gateway of a profile, as the status commands print it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct GatewayStatus {
    /// The gateway's name.
    pub name: String,
    /// `register-transport`-style scheme (`Digest`).
    pub scheme: String,
    /// The realm.
    pub realm: String,
    /// The username.
    pub username: String,
    /// Whether a password is configured (printed as `yes`/`no`).
    pub password_set: bool,
    /// The From URI of its REGISTERs.
    pub from: String,
    /// Its Contact.
    pub contact: String,
    /// The `extension`.
    pub extension: String,
    /// The registrar URI (the `Data` column).
    pub register_to: String,
    /// The proxy.
    pub proxy: String,
    /// The dialplan context.
    pub context: String,
    /// The `expire-seconds` as configured.
    pub expires: String,
    /// The registration refresh frequency, seconds.
    pub freq: i32,
    /// When the next OPTIONS ping goes out, Unix seconds (0: no ping), as
    /// FreeSWITCH prints it.
    pub ping: i32,
    /// `ping`: the OPTIONS ping interval, seconds (0: off).
    pub ping_freq: i32,
    /// The last ping's round trip, milliseconds.
    pub ping_time: f64,
    /// `ping-min`.
    pub ping_min: i32,
    /// The current ping count.
    pub ping_count: i32,
    /// `ping-max`.
    pub ping_max: i32,
    /// Whether a ping is outstanding.
    pub pinging: bool,
    /// Registration state.
    pub state: GatewayState,
    /// Whether the gateway is up (pings answered).
    pub up: bool,
    /// Seconds since the gateway came up.
    pub uptime_secs: u64,
    /// Seconds until the next registration attempt when `TRYING`/`FAILED`;
    /// `None` prints `NEVER`.
    pub retry_secs: Option<i64>,
    /// Inbound calls.
    pub ib_calls: u32,
    /// Failed inbound calls.
    pub ib_failed_calls: u32,
    /// Outbound calls.
    pub ob_calls: u32,
    /// Failed outbound calls.
    pub ob_failed_calls: u32,
    /// `<variable>`s with `direction="inbound"` or none (`ivar`).
    pub inbound_variables: Vec<(String, String)>,
    /// `<variable>`s with `direction="outbound"` or none (`ovar`).
    pub outbound_variables: Vec<(String, String)>,
}

/// How a profile sends DTMF (`DTMF-MODE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DtmfMode {
    /// `rfc2833`
    #[default]
    Rfc2833,
    /// `info`
    Info,
    /// `none`
    None,
}

impl DtmfMode {
    fn as_str(self) -> &'static str {
        match self {
            DtmfMode::Rfc2833 => "rfc2833",
            DtmfMode::Info => "info",
            DtmfMode::None => "none",
        }
    }
}

/// A profile as `sofia status` and `sofia status profile <name>` print it.
/// Strings that are unset are empty (FreeSWITCH prints them empty); the
/// `Option`s are the fields FreeSWITCH prints as `N/A` (or leaves out) when
/// unset.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ProfileStatus {
    /// The profile's name (`internal`).
    pub name: String,
    /// Other names it answers to (`<aliases>` and domains with
    /// `alias="true"`): each is a `sofia status` row of type `alias`.
    pub aliases: Vec<String>,
    /// Whether it runs. `sofia status` lists only running profiles, as
    /// FreeSWITCH does.
    pub running: bool,
    /// Calls in progress (the number in `RUNNING (0)`).
    pub inuse: u32,
    /// Seconds since it started (`stop`/`restart` need at least 10).
    pub uptime_secs: u64,
    /// `Domain Name` (`N/A` when unset).
    pub domain_name: Option<String>,
    /// `Auto-NAT`.
    pub auto_nat: bool,
    /// `DBName`.
    pub dbname: String,
    /// `Pres Hosts`.
    pub pres_hosts: String,
    /// `Dialplan`.
    pub dialplan: String,
    /// `Context`.
    pub context: String,
    /// `Challenge Realm` (`auto_to` when unset).
    pub challenge_realm: Option<String>,
    /// `RTP-IP` lines, IPv4 then IPv6.
    pub rtp_ip: Vec<String>,
    /// `Ext-RTP-IP` (left out when unset).
    pub ext_rtp_ip: Option<String>,
    /// `SIP-IP`.
    pub sip_ip: String,
    /// `Ext-SIP-IP` (left out when unset).
    pub ext_sip_ip: Option<String>,
    /// `URL`: the profile's SIP URI (`sip:mod_sofia@127.0.0.1:5060`), the
    /// `Data` column of `sofia status`.
    pub url: String,
    /// `BIND-URL`.
    pub bind_url: String,
    /// `TLS-URL` and `TLS-BIND-URL` when TLS is on.
    pub tls: Option<(String, String)>,
    /// TLS only: no `URL`/`BIND-URL` lines and no plain `sofia status` row.
    pub tls_only: bool,
    /// `WS-BIND-URL` (left out when unset).
    pub ws_bind_url: Option<String>,
    /// `WSS-BIND-URL` (left out when unset).
    pub wss_bind_url: Option<String>,
    /// `HOLD-MUSIC` (`N/A` when unset).
    pub hold_music: Option<String>,
    /// `OUTBOUND-PROXY` (`N/A` when unset).
    pub outbound_proxy: Option<String>,
    /// `CODECS IN`.
    pub codecs_in: String,
    /// `CODECS OUT`.
    pub codecs_out: String,
    /// `TEL-EVENT`: the telephone-event payload type.
    pub tel_event: i32,
    /// `DTMF-MODE`.
    pub dtmf_mode: DtmfMode,
    /// `CNG`: the comfort-noise payload type.
    pub cng: i32,
    /// `SESSION-TO`: session timeout, seconds.
    pub session_timeout: i32,
    /// `MAX-DIALOG`: max proceeding dialogs.
    pub max_dialog: i32,
    /// `NOMEDIA`.
    pub nomedia: bool,
    /// `LATE-NEG`.
    pub late_neg: bool,
    /// `PROXY-MEDIA`.
    pub proxy_media: bool,
    /// `ZRTP-PASSTHRU`.
    pub zrtp_passthru: bool,
    /// `AGGRESSIVENAT`.
    pub aggressive_nat: bool,
    /// `USER-AGENT-FILTER` (left out when unset).
    pub user_agent_filter: Option<String>,
    /// `MAX-REG-PEREXT` (left out when 0).
    pub max_registrations_per_ext: i32,
    /// `CALLS-IN`.
    pub calls_in: u32,
    /// `FAILED-CALLS-IN`.
    pub failed_calls_in: u32,
    /// `CALLS-OUT`.
    pub calls_out: u32,
    /// `FAILED-CALLS-OUT`.
    pub failed_calls_out: u32,
    /// The profile's gateways.
    pub gateways: Vec<GatewayStatus>,
}

/// One row of the registration store, with the columns of FreeSWITCH's
/// `sip_registrations` table that the commands use.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RegistrationRow {
    /// `call_id`
    pub call_id: String,
    /// `sip_user`
    pub sip_user: String,
    /// `sip_host`
    pub sip_host: String,
    /// `presence_hosts`
    pub presence_hosts: String,
    /// `contact`: the Contact as stored (`"1000" <sip:1000@192.0.2.7:5060>`).
    pub contact: String,
    /// `status` (`Registered(UDP)`).
    pub status: String,
    /// `rpid` (`unknown`).
    pub rpid: String,
    /// `expires`: Unix time the binding expires, when known.
    pub expires: Option<i64>,
    /// `user_agent`
    pub user_agent: String,
    /// `profile_name`
    pub profile_name: String,
    /// `hostname`: the host that holds the binding.
    pub hostname: String,
    /// `network_ip`
    pub network_ip: String,
    /// `network_port`
    pub network_port: String,
    /// `sip_username`: the authentication user.
    pub sip_username: String,
    /// `sip_realm`
    pub sip_realm: String,
    /// `mwi_user`
    pub mwi_user: String,
    /// `mwi_host`
    pub mwi_host: String,
    /// `ping_status` (`Reachable`).
    pub ping_status: String,
    /// `ping_time`, microseconds (printed as milliseconds).
    pub ping_time: i64,
}

/// Which registrations of a profile a command wants. [`RegFilter::matches`]
/// is the reference: an implementation may translate it to SQL (`like` is
/// ASCII case-insensitive, `=` exact, as in SQLite).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegFilter {
    /// Every registration (`sofia status profile <p> reg`).
    All,
    /// `contact like '%s%'` (`... reg <contact substr>`).
    ContactLike(String),
    /// `presence_hosts like '%s%'` (`... pres <host>`).
    PresenceLike(String),
    /// `... user <user@host>`: `sip_host = host` when `user` is empty,
    /// `sip_user = user` when `host` is empty, both otherwise.
    User {
        /// The user part.
        user: String,
        /// The host part.
        host: String,
    },
    /// `sofia_contact`: `upper(sip_user) = upper(user) and (sip_host = domain
    /// or presence_hosts like '%domain%')`, and `user_agent like '%ua%'`
    /// when a user agent is given.
    Contact {
        /// The user.
        user: String,
        /// The domain.
        domain: String,
        /// The `~agent` part of the argument.
        user_agent: Option<String>,
    },
    /// `sofia_count_reg`: `(sip_host = domain or presence_hosts like
    /// '%domain%')`, and `sip_user = user` when a user is given.
    Count {
        /// The user, if any.
        user: Option<String>,
        /// The domain.
        domain: String,
    },
}

fn like(haystack: &str, needle: &str) -> bool {
    haystack
        .to_ascii_lowercase()
        .contains(&needle.to_ascii_lowercase())
}

impl RegFilter {
    /// Whether a row is selected.
    pub fn matches(&self, row: &RegistrationRow) -> bool {
        match self {
            RegFilter::All => true,
            RegFilter::ContactLike(s) => like(&row.contact, s),
            RegFilter::PresenceLike(s) => like(&row.presence_hosts, s),
            RegFilter::User { user, host } => {
                if user.is_empty() {
                    row.sip_host == *host
                } else if host.is_empty() {
                    row.sip_user == *user
                } else {
                    row.sip_user == *user && row.sip_host == *host
                }
            }
            RegFilter::Contact {
                user,
                domain,
                user_agent,
            } => {
                row.sip_user.eq_ignore_ascii_case(user)
                    && (row.sip_host == *domain || like(&row.presence_hosts, domain))
                    && user_agent
                        .as_ref()
                        .is_none_or(|ua| like(&row.user_agent, ua))
            }
            RegFilter::Count { user, domain } => {
                (row.sip_host == *domain || like(&row.presence_hosts, domain))
                    && user.as_ref().is_none_or(|u| row.sip_user == *u)
            }
        }
    }
}

/// What `sofia profile <name> start|stop|restart|rescan` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProfileAction {
    /// Load the profile from the configuration and start it.
    Start,
    /// Stop it (`wait`: until its transactions are done).
    Stop {
        /// `sofia profile <p> stop wait`.
        wait: bool,
    },
    /// Stop it and start it again with the current configuration.
    Restart,
    /// Apply configuration changes that need no restart (gateways, ...).
    Rescan,
}

/// What `sofia profile <name> killgw|startgw|register|unregister` asks of
/// a profile's gateways. `None` is every gateway of the profile (`_all_`
/// for `killgw`, `all` for the others).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GatewayAction {
    /// `killgw`: unregister and delete.
    Kill(Option<String>),
    /// `startgw`: add a gateway of the (reloaded) configuration.
    Start(String),
    /// `register`: register again now.
    Register(Option<String>),
    /// `unregister`: REGISTER with Expires 0, then NOREG.
    Unregister(Option<String>),
}

/// The daemon, as the commands see it. The daemon implements it over its
/// profiles and registration store; tests implement it over plain data.
pub trait SofiaState {
    /// Every configured profile, in the order `sofia status` lists them.
    fn profiles(&self) -> Vec<ProfileStatus>;

    /// The registrations of profile `profile` (its real name, never an
    /// alias) that `filter` selects, in store order.
    fn registrations(&self, profile: &str, filter: &RegFilter) -> Vec<RegistrationRow>;

    /// Expires registrations of a profile (`flush_inbound_reg`): those with
    /// this Call-ID or `[user]@host` when `target` is given, else all;
    /// `reboot` also asks the phones to reboot (a NOTIFY `check-sync`).
    fn flush_inbound_reg(&mut self, profile: &str, target: Option<&str>, reboot: bool);

    /// Turns the SIP trace (TPORT_LOG) of one profile, or of every profile
    /// when `profile` is `None`, on or off.
    fn set_siptrace(&mut self, profile: Option<&str>, on: bool);

    /// Turns the watchdog of one profile, or of every profile when `profile`
    /// is `None`, on or off.
    fn set_watchdog(&mut self, profile: Option<&str>, on: bool);

    /// Re-reads the configuration file (before `start`, `stop`, `restart`
    /// and `rescan`, as FreeSWITCH reloads its XML). `Err` holds the reason,
    /// printed as `Reload XML [reason]`.
    fn reload_xml(&mut self) -> Result<(), String>;

    /// Starts, stops, restarts or rescans a profile (`profile` is the name
    /// given, which for `start` may be a profile not yet running). `Err`
    /// makes the FreeSWITCH failure reply.
    fn profile_action(&mut self, profile: &str, action: ProfileAction) -> Result<(), String>;

    /// Restarts every profile (`sofia profile restart all`).
    fn restart_all(&mut self);

    /// Acts on gateways: `profile` is a running profile's real name; a named
    /// gateway is looked up in every profile, as FreeSWITCH does. `Err`
    /// when the gateway is not found (or, for `Start`, not configured or
    /// already running). Without gateway support every action fails.
    fn gateway_action(&mut self, profile: &str, action: &GatewayAction) -> Result<(), String> {
        let _ = (profile, action);
        Err("gateways are not supported".to_string())
    }

    /// The domain `sofia_contact` uses when its argument has none
    /// (FreeSWITCH's `domain` variable); `None` by default.
    fn default_domain(&self) -> Option<String> {
        None
    }

    /// The current time (registration expiry is printed relative to it).
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }

    /// `sofia_presence_data`: the registrations of `user` in `domain` (the
    /// realm they authenticated in) on profile `profile`, each with the
    /// user's published status and activity. None by default.
    fn presence_data(
        &self,
        _profile: &str,
        _user: &str,
        _domain: &str,
    ) -> Vec<crate::presence::PresenceRow> {
        Vec::new()
    }

    /// `sofia profile <p> check_sync [<call_id>|<[user]@host>]`: with a
    /// target, the phones of the registrations it names get the check-sync
    /// NOTIFY of their kind ([`crate::presence::reboot_event`]); without,
    /// every registration of the profile is expired, as FreeSWITCH's
    /// `sofia_reg_check_sync` does (by default through
    /// [`SofiaState::flush_inbound_reg`]).
    fn check_sync(&mut self, profile: &str, target: Option<&str>) {
        if target.is_none() {
            self.flush_inbound_reg(profile, None, false);
        }
    }
}

/// A [`SofiaState`] with no profiles and no registrations: every action
/// fails. For running the commands before any profile is wired in.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProfiles;

impl SofiaState for NoProfiles {
    fn profiles(&self) -> Vec<ProfileStatus> {
        Vec::new()
    }
    fn registrations(&self, _: &str, _: &RegFilter) -> Vec<RegistrationRow> {
        Vec::new()
    }
    fn flush_inbound_reg(&mut self, _: &str, _: Option<&str>, _: bool) {}
    fn set_siptrace(&mut self, _: Option<&str>, _: bool) {}
    fn set_watchdog(&mut self, _: Option<&str>, _: bool) {}
    fn reload_xml(&mut self) -> Result<(), String> {
        Ok(())
    }
    fn profile_action(&mut self, profile: &str, _: ProfileAction) -> Result<(), String> {
        Err(format!("no profile {profile} is configured"))
    }
    fn restart_all(&mut self) {}
}

// ---------------------------------------------------------------------------
// Parsed commands
// ---------------------------------------------------------------------------

/// One API line, parsed. Parsing never fails: what FreeSWITCH answers with
/// an error is a variant that runs to that error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiCommand {
    /// `sofia ...`
    Sofia(SofiaCommand),
    /// `sofia_contact <arg>`: the raw argument (`[profile/]user@domain[~ua]`).
    Contact(String),
    /// `sofia_count_reg <arg>`: the raw argument.
    CountReg(String),
    /// `sofia_gateway_data <gateway> ivar|ovar|var <name>`: the raw
    /// argument.
    GatewayData(String),
    /// `sofia_dig [xml] [options] <uri>...`
    Dig(DigArgs),
    /// `sofia_presence_data <arg>`: the raw argument
    /// (`[list|status|rpid|user_agent] [profile/]user@domain`).
    PresenceData(String),
    /// An empty line.
    Empty,
    /// Any other API name: `-ERR <name> Command not found!`.
    NotFound(String),
}

/// What `sofia status`/`sofia xmlstatus` shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatusQuery {
    /// No argument: every profile, alias and gateway.
    Summary,
    /// One argument (any): every gateway with its call counters.
    Gateways,
    /// `gateway <name>`
    Gateway(String),
    /// `profile <name> [...]`
    Profile {
        /// The name given (a profile or an alias); `None` never reaches
        /// here (one argument is [`StatusQuery::Gateways`]).
        name: String,
        /// Print the profile's information lines.
        info: bool,
        /// Print the registrations this filter selects.
        regs: Option<RegFilter>,
    },
    /// Any other first argument: `Invalid Syntax!`.
    InvalidSyntax,
}

/// The subcommand of `sofia profile <name> ...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProfileCommand {
    /// `start`, `stop [wait]`, `restart`, `rescan`.
    Action(ProfileAction),
    /// `flush_inbound_reg [<call_id>|<[user]@host>] [reboot]`
    FlushInboundReg {
        /// Call-ID or `[user]@host`.
        target: Option<String>,
        /// `reboot`
        reboot: bool,
    },
    /// `check_sync [<call_id>|<[user]@host>]`
    CheckSync {
        /// Call-ID or `[user]@host`.
        target: Option<String>,
    },
    /// `siptrace <on|off>`; `None` without a value (usage reply).
    Siptrace(Option<bool>),
    /// `watchdog <on|off>`; `None` without a value (usage reply).
    Watchdog(Option<bool>),
    /// `killgw <gateway|_all_>`, `startgw <gateway>`, `register
    /// <gateway|all>`, `unregister <gateway|all>`; `None` without a gateway
    /// name (its usage reply).
    Gateway(Option<GatewayAction>, GatewayVerb),
    /// `gwlist [up|down]`: the names of the gateways that are up (or down).
    GwList {
        /// `up` (the default) or `down`.
        up: bool,
    },
    /// Anything else: `-ERR Unknown command!`.
    Unknown(String),
}

/// Which gateway subcommand of `sofia profile <name>` was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GatewayVerb {
    /// `killgw`
    Kill,
    /// `startgw`
    Start,
    /// `register`
    Register,
    /// `unregister`
    Unregister,
}

/// `sofia ...` parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SofiaCommand {
    /// `sofia`, `sofia help`: the usage text.
    Help,
    /// `sofia status ...`
    Status(StatusQuery),
    /// `sofia xmlstatus ...`
    XmlStatus(StatusQuery),
    /// `sofia profile <name>` with no subcommand: `Invalid Args!`.
    ProfileArgs,
    /// `sofia profile restart all`
    RestartAll,
    /// `sofia profile <name> <subcommand> ...`
    Profile {
        /// The profile name as given.
        name: String,
        /// The subcommand.
        command: ProfileCommand,
    },
    /// `sofia global siptrace <on|off>`
    GlobalSiptrace(bool),
    /// `sofia global watchdog <on|off>`
    GlobalWatchdog(bool),
    /// `sofia global` with anything else: its `-ERR Usage: ...` reply.
    GlobalUsage,
    /// `sofia loglevel <module> <level>`
    LogLevelSet {
        /// The module (`all`, `default`, `nta`, ...).
        module: String,
        /// The level as given (checked when run).
        level: i64,
    },
    /// `sofia loglevel <module>`
    LogLevelGet(String),
    /// `sofia loglevel` alone: the usage text.
    LogLevelUsage,
    /// `sofia tracelevel [<level>]`
    TraceLevel(Option<String>),
    /// Any other first word: `Unknown Command [word]`.
    Unknown(String),
}

/// The arguments of `sofia_dig`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DigArgs {
    /// `xml`: the `<routes>` form.
    pub xml: bool,
    /// Only IPv4 (`-4`) / only IPv6 (`-6`); both when neither or both.
    pub ipv4: bool,
    /// See `ipv4`.
    pub ipv6: bool,
    /// Transports asked for (`--udp`, `-p tcp`, ...), lower case; all when empty.
    pub transports: Vec<String>,
    /// The URIs (or bare domains).
    pub uris: Vec<String>,
    /// Bad options or none at all: the usage line.
    pub usage: bool,
}

/// FreeSWITCH's `switch_true`.
pub fn switch_true(value: &str) -> bool {
    let v = value.to_ascii_lowercase();
    matches!(
        v.as_str(),
        "yes" | "on" | "true" | "t" | "enabled" | "enable" | "active" | "allow"
    ) || (is_number(value) && atoi(value) != 0)
}

/// FreeSWITCH's `switch_is_number`: optional sign, digits, at most one dot.
fn is_number(s: &str) -> bool {
    let body = s.strip_prefix(['-', '+']).unwrap_or(s);
    !body.is_empty()
        && body.chars().all(|c| c.is_ascii_digit() || c == '.')
        && body.chars().filter(|c| *c == '.').count() <= 1
        && body.chars().any(|c| c.is_ascii_digit())
}

/// C's `atoi`, saturating instead of overflowing.
fn atoi(s: &str) -> i64 {
    let s = s.trim_start();
    let (neg, digits) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let mut n: i64 = 0;
    for b in digits.bytes().take_while(u8::is_ascii_digit) {
        n = n.saturating_mul(10).saturating_add(i64::from(b - b'0'));
    }
    if neg { -n } else { n }
}

fn eq(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

impl ApiCommand {
    /// Parses one API line (`sofia status`, `sofia_contact 1000@host`, ...).
    /// Words are separated by blanks; surrounding blanks are ignored.
    pub fn parse(line: &str) -> ApiCommand {
        let line = line.trim();
        let (name, rest) = match line.split_once(char::is_whitespace) {
            Some((name, rest)) => (name, rest.trim()),
            None => (line, ""),
        };
        if name.is_empty() {
            return ApiCommand::Empty;
        }
        match name {
            "sofia" => ApiCommand::Sofia(parse_sofia(rest)),
            "sofia_contact" => ApiCommand::Contact(rest.to_string()),
            "sofia_count_reg" => ApiCommand::CountReg(rest.to_string()),
            "sofia_gateway_data" => ApiCommand::GatewayData(rest.to_string()),
            "sofia_dig" => ApiCommand::Dig(parse_dig(rest)),
            "sofia_presence_data" => ApiCommand::PresenceData(rest.to_string()),
            other => ApiCommand::NotFound(other.to_string()),
        }
    }
}

fn parse_sofia(rest: &str) -> SofiaCommand {
    let argv: Vec<&str> = rest.split_whitespace().collect();
    let Some(first) = argv.first() else {
        return SofiaCommand::Help;
    };
    let args = &argv[1..];
    if eq(first, "profile") {
        parse_profile(args)
    } else if eq(first, "status") {
        SofiaCommand::Status(parse_status(args))
    } else if eq(first, "xmlstatus") {
        SofiaCommand::XmlStatus(parse_status(args))
    } else if eq(first, "tracelevel") {
        SofiaCommand::TraceLevel(args.first().map(|s| s.to_string()))
    } else if eq(first, "loglevel") {
        match args {
            [module, level, ..] if is_number(level) => SofiaCommand::LogLevelSet {
                module: module.to_string(),
                level: atoi(level),
            },
            [module, ..] => SofiaCommand::LogLevelGet(module.to_string()),
            [] => SofiaCommand::LogLevelUsage,
        }
    } else if eq(first, "help") {
        SofiaCommand::Help
    } else if eq(first, "global") {
        match args {
            [what, value, ..] if eq(what, "siptrace") => {
                SofiaCommand::GlobalSiptrace(switch_true(value))
            }
            [what, value, ..] if eq(what, "watchdog") => {
                SofiaCommand::GlobalWatchdog(switch_true(value))
            }
            _ => SofiaCommand::GlobalUsage,
        }
    } else {
        SofiaCommand::Unknown(first.to_string())
    }
}

fn parse_status(args: &[&str]) -> StatusQuery {
    match args {
        [] => StatusQuery::Summary,
        [_] => StatusQuery::Gateways,
        [kind, name, ..] if eq(kind, "gateway") => StatusQuery::Gateway(name.to_string()),
        [kind, name, rest @ ..] if eq(kind, "profile") => {
            let view = rest.first().copied();
            let arg = rest.get(1).map(|s| s.to_string());
            let info = view.is_none_or(|v| !eq(v, "reg") && !eq(v, "user"));
            let regs = match (view, arg) {
                (Some(v), Some(arg)) if eq(v, "pres") => Some(RegFilter::PresenceLike(arg)),
                (Some(v), Some(arg)) if eq(v, "reg") => Some(RegFilter::ContactLike(arg)),
                (Some(v), None) if eq(v, "reg") => Some(RegFilter::All),
                (Some(v), Some(arg)) if eq(v, "user") => {
                    let (user, host) = match arg.split_once('@') {
                        Some((u, h)) => (u.to_string(), h.to_string()),
                        None => (String::new(), arg),
                    };
                    Some(RegFilter::User { user, host })
                }
                _ => None,
            };
            StatusQuery::Profile {
                name: name.to_string(),
                info,
                regs,
            }
        }
        _ => StatusQuery::InvalidSyntax,
    }
}

fn parse_profile(args: &[&str]) -> SofiaCommand {
    let [name, sub, rest @ ..] = args else {
        return SofiaCommand::ProfileArgs;
    };
    if eq(name, "restart") && eq(sub, "all") {
        return SofiaCommand::RestartAll;
    }
    let command = if eq(sub, "start") {
        ProfileCommand::Action(ProfileAction::Start)
    } else if eq(sub, "stop") {
        ProfileCommand::Action(ProfileAction::Stop {
            wait: rest.first().is_some_and(|w| eq(w, "wait")),
        })
    } else if eq(sub, "restart") {
        ProfileCommand::Action(ProfileAction::Restart)
    } else if eq(sub, "rescan") {
        ProfileCommand::Action(ProfileAction::Rescan)
    } else if eq(sub, "flush_inbound_reg") {
        match rest {
            [] => ProfileCommand::FlushInboundReg {
                target: None,
                reboot: false,
            },
            [first, ..] if eq(first, "reboot") => ProfileCommand::FlushInboundReg {
                target: None,
                reboot: true,
            },
            [target, more @ ..] => ProfileCommand::FlushInboundReg {
                target: Some(target.to_string()),
                reboot: more.first().is_some_and(|r| eq(r, "reboot")),
            },
        }
    } else if eq(sub, "check_sync") {
        ProfileCommand::CheckSync {
            target: rest.first().map(|t| t.to_string()),
        }
    } else if eq(sub, "siptrace") {
        ProfileCommand::Siptrace(rest.first().map(|v| switch_true(v)))
    } else if eq(sub, "watchdog") {
        ProfileCommand::Watchdog(rest.first().map(|v| switch_true(v)))
    } else if eq(sub, "killgw") {
        let action = rest
            .first()
            .map(|g| GatewayAction::Kill((!eq(g, "_all_")).then(|| g.to_string())));
        ProfileCommand::Gateway(action, GatewayVerb::Kill)
    } else if eq(sub, "startgw") {
        let action = rest.first().map(|g| GatewayAction::Start(g.to_string()));
        ProfileCommand::Gateway(action, GatewayVerb::Start)
    } else if eq(sub, "register") || eq(sub, "unregister") {
        let register = eq(sub, "register");
        let action = rest.first().map(|g| {
            let g = (!eq(g, "all")).then(|| g.to_string());
            if register {
                GatewayAction::Register(g)
            } else {
                GatewayAction::Unregister(g)
            }
        });
        let verb = if register {
            GatewayVerb::Register
        } else {
            GatewayVerb::Unregister
        };
        ProfileCommand::Gateway(action, verb)
    } else if eq(sub, "gwlist") {
        ProfileCommand::GwList {
            up: !rest.first().is_some_and(|w| eq(w, "down")),
        }
    } else {
        ProfileCommand::Unknown(sub.to_string())
    };
    SofiaCommand::Profile {
        name: name.to_string(),
        command,
    }
}

fn parse_dig(rest: &str) -> DigArgs {
    let mut args = DigArgs::default();
    let argv: Vec<&str> = rest.split_whitespace().collect();
    if argv.is_empty() {
        args.usage = true;
        return args;
    }
    let mut i = 0;
    if eq(argv[0], "xml") {
        args.xml = true;
        i += 1;
    }
    while let Some(arg) = argv.get(i) {
        if !arg.starts_with('-') {
            break;
        }
        match *arg {
            "-v" | "--no-sctp" => {}
            "-4" => args.ipv4 = true,
            "-6" => args.ipv6 = true,
            "--udp" | "--tcp" | "--tls" | "--sctp" | "--tls-sctp" | "--tls-udp" => {
                args.transports.push(arg[2..].to_string())
            }
            "-" => {
                i += 1;
                break;
            }
            p if p.starts_with("-p") => {
                let proto = if let Some(v) = p.strip_prefix("-p=") {
                    Some(v.to_string())
                } else if p.len() > 2 {
                    Some(p[2..].to_string())
                } else {
                    i += 1;
                    argv.get(i).map(|s| s.to_string())
                };
                match proto {
                    Some(proto) if !proto.is_empty() => {
                        args.transports.push(proto.to_ascii_lowercase())
                    }
                    _ => {
                        args.usage = true;
                        return args;
                    }
                }
            }
            _ => {
                args.usage = true;
                return args;
            }
        }
        i += 1;
    }
    args.uris = argv[i.min(argv.len())..]
        .iter()
        .map(|s| s.to_string())
        .collect();
    args
}

// ---------------------------------------------------------------------------
// Running
// ---------------------------------------------------------------------------

/// Parses and runs one line; `sofia_dig` resolves with `resolver`.
pub async fn execute<S: SofiaState + ?Sized>(
    line: &str,
    state: &mut S,
    resolver: &Resolver,
) -> Reply {
    match ApiCommand::parse(line) {
        ApiCommand::Dig(args) => dig(&args, resolver).await,
        command => run(&command, state),
    }
}

/// Parses and runs one line without a resolver: `sofia_dig` answers only
/// for numeric hosts (names get `-ERR: <uri>: not found`).
pub fn execute_sync<S: SofiaState + ?Sized>(line: &str, state: &mut S) -> Reply {
    match ApiCommand::parse(line) {
        ApiCommand::Dig(args) => dig_with(&args, |_| None),
        command => run(&command, state),
    }
}

/// Runs a parsed command. [`ApiCommand::Dig`] is answered as by
/// [`execute_sync`]; use [`dig`] to resolve names.
pub fn run<S: SofiaState + ?Sized>(command: &ApiCommand, state: &mut S) -> Reply {
    match command {
        ApiCommand::Sofia(cmd) => run_sofia(cmd, state),
        ApiCommand::Contact(arg) => sofia_contact(arg, state),
        ApiCommand::CountReg(arg) => sofia_count_reg(arg, state),
        ApiCommand::GatewayData(arg) => gateway_data(arg, state),
        ApiCommand::Dig(args) => dig_with(args, |_| None),
        ApiCommand::PresenceData(arg) => crate::presence::sofia_presence_data(arg, state),
        ApiCommand::Empty => Reply::err("-ERR no command\n"),
        ApiCommand::NotFound(name) => Reply::err(format!("-ERR {name} Command not found!\n")),
    }
}

/// Finds a running profile by name or alias.
fn find_profile<S: SofiaState + ?Sized>(state: &S, name: &str) -> Option<ProfileStatus> {
    state
        .profiles()
        .into_iter()
        .find(|p| p.running && (p.name == name || p.aliases.iter().any(|a| a == name)))
}

fn run_sofia<S: SofiaState + ?Sized>(cmd: &SofiaCommand, state: &mut S) -> Reply {
    match cmd {
        SofiaCommand::Help => Reply::ok(USAGE),
        SofiaCommand::Status(q) => status(q, state),
        SofiaCommand::XmlStatus(q) => xml_status(q, state),
        SofiaCommand::ProfileArgs => Reply::err("Invalid Args!\n"),
        SofiaCommand::RestartAll => {
            state.restart_all();
            Reply::ok("")
        }
        SofiaCommand::Profile { name, command } => profile_command(name, command, state),
        SofiaCommand::GlobalSiptrace(on) => {
            state.set_siptrace(None, *on);
            Reply::ok(format!("+OK Global siptrace {}", on_off(*on)))
        }
        SofiaCommand::GlobalWatchdog(on) => {
            state.set_watchdog(None, *on);
            Reply::ok(format!("+OK Global watchdog {}", on_off(*on)))
        }
        SofiaCommand::GlobalUsage => Reply::err(
            "-ERR Usage: siptrace <on|off>|capture <on|off>|watchdog <on|off>|debug <sla|presence|none",
        ),
        SofiaCommand::LogLevelSet { module, level } => match set_loglevel(module, *level) {
            Ok(()) => Reply::ok(format!(
                "Sofia log level for component [{module}] has been set to [{level}]"
            )),
            Err(()) => Reply::err(USAGE),
        },
        SofiaCommand::LogLevelGet(module) => match get_loglevel(module) {
            Some(level) => Reply::ok(format!("Sofia-sip loglevel for [{module}] is [{level}]")),
            None => Reply::err(USAGE),
        },
        SofiaCommand::LogLevelUsage => Reply::err(USAGE),
        SofiaCommand::TraceLevel(level) => {
            if let Some(level) = level {
                TRACELEVEL.store(str2level(level), Ordering::Relaxed);
            }
            Reply::ok(format!("+OK tracelevel is {}", level2str(tracelevel())))
        }
        SofiaCommand::Unknown(word) => Reply::err(format!("Unknown Command [{word}]\n")),
    }
}

fn on_off(on: bool) -> &'static str {
    if on { "on" } else { "off" }
}

/// The modules `sofia loglevel` knows, besides `all` and `default`.
const LOG_MODULES: [&str; 8] = [
    "tport", "iptsec", "nea", "nta", "nua", "soa", "sresolv", "su",
];

fn set_loglevel(module: &str, level: i64) -> Result<(), ()> {
    let level = u8::try_from(level).map_err(|_| ())?;
    if level > sofia_su::log::MAX_LEVEL {
        return Err(());
    }
    let module = module.to_ascii_lowercase();
    let result = if module == "all" {
        REGISTRY.set_all(level)
    } else if module == "default" {
        REGISTRY.set_default(level)
    } else if LOG_MODULES.contains(&module.as_str()) {
        REGISTRY.set_level(&module, level)
    } else {
        return Err(());
    };
    result.map_err(|_| ())
}

fn get_loglevel(module: &str) -> Option<u8> {
    let module = module.to_ascii_lowercase();
    if module == "default" {
        Some(REGISTRY.default_level())
    } else if LOG_MODULES.contains(&module.as_str()) {
        REGISTRY.level(&module).ok().map(|(level, _)| level)
    } else {
        None
    }
}

/// FreeSWITCH's log level names, from `DISABLE` (-1) to `DEBUG` (7).
const LEVEL_NAMES: [&str; 9] = [
    "DISABLE", "CONSOLE", "ALERT", "CRIT", "ERR", "WARNING", "NOTICE", "INFO", "DEBUG",
];
/// FreeSWITCH's `SWITCH_LOG_INVALID`.
const LOG_INVALID: i32 = 64;

static TRACELEVEL: AtomicI32 = AtomicI32::new(0);

/// The FreeSWITCH log level (0 `CONSOLE` .. 7 `DEBUG`, -1 `DISABLE`) at
/// which SIP trace lines are logged; `sofia tracelevel` changes it.
pub fn tracelevel() -> i32 {
    TRACELEVEL.load(Ordering::Relaxed)
}

/// `switch_log_str2level`: a number (clamped to 0..63), or a level name
/// (any case); anything else is `SWITCH_LOG_INVALID` (64).
fn str2level(s: &str) -> i32 {
    if is_number(s) {
        let x = atoi(s);
        return if x > i64::from(LOG_INVALID) {
            LOG_INVALID - 1
        } else if x < 0 {
            0
        } else {
            // In 0..=64 here.
            i32::try_from(x).unwrap_or(LOG_INVALID - 1)
        };
    }
    LEVEL_NAMES
        .iter()
        .position(|n| n.eq_ignore_ascii_case(s))
        .and_then(|i| i32::try_from(i).ok())
        .map_or(LOG_INVALID, |i| i - 1)
}

/// `switch_log_level2str`: levels above `DEBUG` print as `DEBUG`.
fn level2str(level: i32) -> &'static str {
    let index = usize::try_from(level.clamp(-1, 7) + 1).unwrap_or(8);
    LEVEL_NAMES[index]
}

fn profile_command<S: SofiaState + ?Sized>(
    name: &str,
    command: &ProfileCommand,
    state: &mut S,
) -> Reply {
    if let ProfileCommand::Action(ProfileAction::Start) = command {
        let mut text = reload_line(state);
        match state.profile_action(name, ProfileAction::Start) {
            Ok(()) => {
                let _ = writeln!(text, "{name} started successfully");
                return Reply::ok(text);
            }
            Err(_) => {
                let _ = writeln!(text, "Failure starting {name}");
                return Reply::err(text);
            }
        }
    }
    let Some(profile) = find_profile(state, name) else {
        return Reply::err(format!("Invalid Profile [{name}]"));
    };
    let pname = profile.name.as_str();
    match command {
        ProfileCommand::Action(ProfileAction::Rescan) => {
            let mut text = reload_line(state);
            match state.profile_action(pname, ProfileAction::Rescan) {
                Ok(()) => {
                    text.push_str("+OK scan complete\n");
                    Reply::ok(text)
                }
                Err(_) => {
                    let _ = writeln!(text, "-ERR cannot find config for profile {pname}");
                    Reply::err(text)
                }
            }
        }
        ProfileCommand::Action(action) => {
            if profile.uptime_secs < MIN_UPTIME_FOR_STOP {
                let remain = MIN_UPTIME_FOR_STOP - profile.uptime_secs;
                return Reply::err(format!(
                    "Profile {pname} must be up for at least {MIN_UPTIME_FOR_STOP} seconds to stop/restart.\nPlease wait {remain} second{}\n",
                    if remain == 1 { "" } else { "s" }
                ));
            }
            let mut text = reload_line(state);
            let verb = if matches!(action, ProfileAction::Restart) {
                "restarting"
            } else {
                "stopping"
            };
            match state.profile_action(pname, *action) {
                Ok(()) => {
                    let _ = write!(text, "{verb}: {pname}");
                    Reply::ok(text)
                }
                Err(e) => {
                    let _ = write!(text, "-ERR {verb} {pname}: {e}");
                    Reply::err(text)
                }
            }
        }
        ProfileCommand::FlushInboundReg { target, reboot } => {
            state.flush_inbound_reg(pname, target.as_deref(), *reboot);
            let verb = if *reboot { "rebooting" } else { "flushing" };
            Reply::ok(if target.is_some() {
                format!("+OK {verb} all registrations matching specified call_id\n")
            } else {
                format!("+OK {verb} all registrations\n")
            })
        }
        ProfileCommand::CheckSync { target } => {
            state.check_sync(pname, target.as_deref());
            Reply::ok(if target.is_some() {
                "+OK syncing all registrations matching specified call_id\n"
            } else {
                "+OK syncing all registrations\n"
            })
        }
        ProfileCommand::Siptrace(None) => {
            Reply::err("Usage: sofia profile <name> siptrace <on/off>\n")
        }
        ProfileCommand::Siptrace(Some(on)) => {
            state.set_siptrace(Some(pname), *on);
            Reply::ok(format!("{} sip debugging on {pname}", enabled(*on)))
        }
        ProfileCommand::Watchdog(None) => {
            Reply::err("Usage: sofia profile <name> watchdog <on/off>\n")
        }
        ProfileCommand::Watchdog(Some(on)) => {
            state.set_watchdog(Some(pname), *on);
            // FreeSWITCH words the watchdog reply like the siptrace one.
            Reply::ok(format!("{} sip debugging on {pname}", enabled(*on)))
        }
        ProfileCommand::Gateway(action, verb) => {
            gateway_command(pname, action.as_ref(), *verb, state)
        }
        ProfileCommand::GwList { up } => {
            let names: Vec<String> = profile
                .gateways
                .iter()
                .filter(|g| g.up == *up)
                .map(|g| g.name.clone())
                .collect();
            Reply::ok(names.join(" "))
        }
        ProfileCommand::Unknown(_) => Reply::err("-ERR Unknown command!\n"),
    }
}

fn gateway_command<S: SofiaState + ?Sized>(
    pname: &str,
    action: Option<&GatewayAction>,
    verb: GatewayVerb,
    state: &mut S,
) -> Reply {
    let Some(action) = action else {
        return Reply::err(match verb {
            GatewayVerb::Kill | GatewayVerb::Start => "-ERR missing gw name\n",
            GatewayVerb::Register | GatewayVerb::Unregister => "No gateway name provided!\n",
        });
    };
    match action {
        GatewayAction::Kill(None) => {
            let _ = state.gateway_action(pname, action);
            Reply::ok("+OK every gateway marked for deletion.\n")
        }
        GatewayAction::Kill(Some(_)) => match state.gateway_action(pname, action) {
            Ok(()) => Reply::ok("+OK gateway marked for deletion.\n"),
            Err(_) => Reply::err("-ERR no such gateway.\n"),
        },
        GatewayAction::Start(name) => {
            let mut text = reload_line(state);
            match state.gateway_action(pname, action) {
                Ok(()) => {
                    let _ = writeln!(text, "+OK started gateway {name}");
                    Reply::ok(text)
                }
                Err(_) => {
                    let _ = writeln!(text, "-ERR cannot start gateway {name}");
                    Reply::err(text)
                }
            }
        }
        GatewayAction::Register(_) | GatewayAction::Unregister(_) => {
            match state.gateway_action(pname, action) {
                Ok(()) => Reply::ok("+OK\n"),
                Err(_) => Reply::err("Invalid gateway!\n"),
            }
        }
    }
}

/// `sofia_gateway_data <gateway> ivar|ovar|var <name>`: the variable's
/// value, or nothing.
fn gateway_data<S: SofiaState + ?Sized>(arg: &str, state: &S) -> Reply {
    let argv: Vec<&str> = arg.split_whitespace().collect();
    if argv.is_empty() {
        return Reply::err("-ERR Parameter missing\n");
    }
    let [gateway, kind, name, ..] = argv[..] else {
        return Reply::ok("");
    };
    let Some((_, gw)) = find_gateway(state, gateway) else {
        return Reply::ok("");
    };
    let find =
        |vars: &[(String, String)]| vars.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone());
    let value = if eq(kind, "ivar") {
        find(&gw.inbound_variables)
    } else if eq(kind, "ovar") {
        find(&gw.outbound_variables)
    } else if eq(kind, "var") {
        find(&gw.inbound_variables).or_else(|| find(&gw.outbound_variables))
    } else {
        None
    };
    Reply::ok(value.unwrap_or_default())
}

fn enabled(on: bool) -> &'static str {
    if on { "Enabled" } else { "Disabled" }
}

fn reload_line<S: SofiaState + ?Sized>(state: &mut S) -> String {
    match state.reload_xml() {
        Ok(()) => "Reload XML [Success]\n".to_string(),
        Err(e) => format!("Reload XML [{e}]\n"),
    }
}

// ---------------------------------------------------------------------------
// sofia status
// ---------------------------------------------------------------------------

fn retry_text(gw: &GatewayStatus) -> String {
    if !gw.state.retrying() {
        return String::new();
    }
    match gw.retry_secs {
        Some(secs) if secs > 0 => format!(" (retry: {secs}s)"),
        _ => " (retry: NEVER)".to_string(),
    }
}

fn status<S: SofiaState + ?Sized>(q: &StatusQuery, state: &S) -> Reply {
    let mut out = String::new();
    match q {
        StatusQuery::Summary => {
            let _ = writeln!(out, "{:>25}\t   Type\t  {:>40}\tState", "Name", "Data");
            let _ = writeln!(out, "{SEPARATOR}");
            let (mut c, mut ac) = (0usize, 0usize);
            for p in state.profiles().iter().filter(|p| p.running) {
                if !p.tls_only || p.tls.is_none() {
                    let _ = writeln!(
                        out,
                        "{:>25}\tprofile\t  {:>40}\tRUNNING ({})",
                        p.name, p.url, p.inuse
                    );
                }
                if let Some((tls_url, _)) = &p.tls {
                    let _ = writeln!(
                        out,
                        "{:>25}\tprofile\t  {:>40}\tRUNNING ({}) (TLS)",
                        p.name, tls_url, p.inuse
                    );
                }
                c += 1;
                for gw in &p.gateways {
                    let key = format!("{}::{}", p.name, gw.name);
                    let _ = writeln!(
                        out,
                        "{:>25}\tgateway\t  {:>40}\t{}{}",
                        key,
                        gw.register_to,
                        gw.state.as_str(),
                        retry_text(gw)
                    );
                }
                for alias in &p.aliases {
                    ac += 1;
                    let _ = writeln!(out, "{:>25}\t  alias\t  {:>40}\tALIASED", alias, p.name);
                }
            }
            let _ = writeln!(out, "{SEPARATOR}");
            let _ = writeln!(
                out,
                "{c} profile{} {ac} alias{}",
                if c == 1 { "" } else { "s" },
                if ac == 1 { "" } else { "es" }
            );
            Reply::ok(out)
        }
        StatusQuery::Gateways => {
            let _ = writeln!(
                out,
                "{:>25}\t{:>32}\tState\t{:>9}\tIB Calls(F/T)\tOB Calls(F/T)",
                "Profile::Gateway-Name", "    Data    ", "Ping Time"
            );
            let _ = writeln!(out, "{SEPARATOR}");
            let (mut c, mut ibf, mut ib, mut obf, mut ob) = (0usize, 0u32, 0u32, 0u32, 0u32);
            for p in state.profiles().iter().filter(|p| p.running) {
                for gw in &p.gateways {
                    c += 1;
                    ibf = ibf.wrapping_add(gw.ib_failed_calls);
                    ib = ib.wrapping_add(gw.ib_calls);
                    obf = obf.wrapping_add(gw.ob_failed_calls);
                    ob = ob.wrapping_add(gw.ob_calls);
                    let key = format!("{}::{}", p.name, gw.name);
                    let _ = writeln!(
                        out,
                        "{:>25}\t{:>32}\t{}\t{:>6.2}\t{}/{}\t{}/{}{}",
                        key,
                        gw.register_to,
                        gw.state.as_str(),
                        gw.ping_time,
                        gw.ib_failed_calls,
                        gw.ib_calls,
                        gw.ob_failed_calls,
                        gw.ob_calls,
                        retry_text(gw)
                    );
                }
            }
            let _ = writeln!(out, "{SEPARATOR}");
            let _ = writeln!(
                out,
                "{c} gateway{}: Inbound(Failed/Total): {ibf}/{ib},Outbound(Failed/Total):{obf}/{ob}",
                if c == 1 { "" } else { "s" }
            );
            Reply::ok(out)
        }
        StatusQuery::Gateway(name) => {
            let Some((profile, gw)) = find_gateway(state, name) else {
                return Reply::err("Invalid Gateway!\n");
            };
            let _ = writeln!(out, "{SEPARATOR}");
            let lines: [(&str, String); 25] = [
                ("Name    ", gw.name.clone()),
                ("Profile ", profile),
                ("Scheme  ", gw.scheme.clone()),
                ("Realm   ", gw.realm.clone()),
                ("Username", gw.username.clone()),
                ("Password", yes_no(gw.password_set).to_string()),
                ("From    ", gw.from.clone()),
                ("Contact ", gw.contact.clone()),
                ("Exten   ", gw.extension.clone()),
                ("To      ", gw.register_to.clone()),
                ("Proxy   ", gw.proxy.clone()),
                ("Context ", gw.context.clone()),
                ("Expires ", gw.expires.clone()),
                ("Freq    ", gw.freq.to_string()),
                ("Ping    ", gw.ping.to_string()),
                ("PingFreq", gw.ping_freq.to_string()),
                ("PingTime", format!("{:.2}", gw.ping_time)),
                (
                    "PingState",
                    format!("{}/{}/{}", gw.ping_min, gw.ping_count, gw.ping_max),
                ),
                ("State   ", gw.state.as_str().to_string()),
                (
                    "Status  ",
                    format!(
                        "{}{}",
                        if gw.up { "UP" } else { "DOWN" },
                        if gw.pinging { " (ping)" } else { "" }
                    ),
                ),
                (
                    "Uptime  ",
                    format!("{}s", if gw.up { gw.uptime_secs } else { 0 }),
                ),
                ("CallsIN ", gw.ib_calls.to_string()),
                ("CallsOUT", gw.ob_calls.to_string()),
                ("FailedCallsIN", gw.ib_failed_calls.to_string()),
                ("FailedCallsOUT", gw.ob_failed_calls.to_string()),
            ];
            for (label, value) in lines {
                let _ = writeln!(out, "{label}\t{value}");
            }
            let _ = writeln!(out, "{SEPARATOR}");
            Reply::ok(out)
        }
        StatusQuery::Profile { name, info, regs } => {
            let Some(p) = find_profile(state, name) else {
                return Reply::err("Invalid Profile!\n");
            };
            if *info {
                let _ = writeln!(out, "{SEPARATOR}");
                profile_info_text(&mut out, name, &p, state);
            }
            if let Some(filter) = regs {
                let rows = state.registrations(&p.name, filter);
                let _ = write!(out, "\nRegistrations:\n{SEPARATOR}\n");
                let now = unix_now(state.now());
                for row in &rows {
                    reg_text(&mut out, row, now);
                }
                let _ = writeln!(out, "Total items returned: {}", rows.len());
                let _ = writeln!(out, "{SEPARATOR}");
            }
            Reply::ok(out)
        }
        StatusQuery::InvalidSyntax => Reply::err("Invalid Syntax!\n"),
    }
}

fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

fn true_false(b: bool) -> &'static str {
    if b { "true" } else { "false" }
}

fn find_gateway<S: SofiaState + ?Sized>(state: &S, name: &str) -> Option<(String, GatewayStatus)> {
    state.profiles().into_iter().find_map(|p| {
        let pname = p.name.clone();
        p.gateways
            .into_iter()
            .find(|g| g.name == name)
            .map(|g| (pname, g))
    })
}

fn profile_info_text<S: SofiaState + ?Sized>(
    out: &mut String,
    given: &str,
    p: &ProfileStatus,
    state: &S,
) {
    let mut line = |label: &str, value: &str| {
        let _ = writeln!(out, "{label:<17}\t{value}");
    };
    line("Name", given);
    line("Domain Name", p.domain_name.as_deref().unwrap_or("N/A"));
    if !given.eq_ignore_ascii_case(&p.name) {
        line("Alias Of", &p.name);
    }
    line("Auto-NAT", true_false(p.auto_nat));
    line("DBName", &p.dbname);
    line("Pres Hosts", &p.pres_hosts);
    line("Dialplan", &p.dialplan);
    line("Context", &p.context);
    line(
        "Challenge Realm",
        p.challenge_realm
            .as_deref()
            .filter(|r| !r.is_empty())
            .unwrap_or("auto_to"),
    );
    for ip in &p.rtp_ip {
        line("RTP-IP", ip);
    }
    if let Some(ip) = &p.ext_rtp_ip {
        line("Ext-RTP-IP", ip);
    }
    line("SIP-IP", &p.sip_ip);
    if let Some(ip) = &p.ext_sip_ip {
        line("Ext-SIP-IP", ip);
    }
    if p.tls.is_none() || !p.tls_only {
        line("URL", &p.url);
        line("BIND-URL", &p.bind_url);
    }
    if let Some((url, bind)) = &p.tls {
        line("TLS-URL", url);
        line("TLS-BIND-URL", bind);
    }
    if let Some(ws) = &p.ws_bind_url {
        // FreeSWITCH pads this label one space short.
        let _ = writeln!(out, "WS-BIND-URL     \t{ws}");
    }
    let mut line = |label: &str, value: &str| {
        let _ = writeln!(out, "{label:<17}\t{value}");
    };
    if let Some(wss) = &p.wss_bind_url {
        line("WSS-BIND-URL", wss);
    }
    line("HOLD-MUSIC", na(&p.hold_music));
    line("OUTBOUND-PROXY", na(&p.outbound_proxy));
    line("CODECS IN", &p.codecs_in);
    line("CODECS OUT", &p.codecs_out);
    line("TEL-EVENT", &p.tel_event.to_string());
    line("DTMF-MODE", p.dtmf_mode.as_str());
    line("CNG", &p.cng.to_string());
    line("SESSION-TO", &p.session_timeout.to_string());
    line("MAX-DIALOG", &p.max_dialog.to_string());
    line("NOMEDIA", true_false(p.nomedia));
    line("LATE-NEG", true_false(p.late_neg));
    line("PROXY-MEDIA", true_false(p.proxy_media));
    line("ZRTP-PASSTHRU", true_false(p.zrtp_passthru));
    line("AGGRESSIVENAT", true_false(p.aggressive_nat));
    if let Some(filter) = &p.user_agent_filter {
        line("USER-AGENT-FILTER", filter);
    }
    if p.max_registrations_per_ext > 0 {
        line("MAX-REG-PEREXT", &p.max_registrations_per_ext.to_string());
    }
    line("CALLS-IN", &p.calls_in.to_string());
    line("FAILED-CALLS-IN", &p.failed_calls_in.to_string());
    line("CALLS-OUT", &p.calls_out.to_string());
    line("FAILED-CALLS-OUT", &p.failed_calls_out.to_string());
    let count = state.registrations(&p.name, &RegFilter::All).len();
    line("REGISTRATIONS", &count.to_string());
}

fn na(v: &Option<String>) -> &str {
    v.as_deref().filter(|s| !s.is_empty()).unwrap_or("N/A")
}

fn unix_now(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
    }
}

/// A Unix time as UTC calendar fields: year, month (1-12), day (1-31),
/// hour, minute, second, and the weekday (0 Sunday .. 6 Saturday).
pub fn civil_time(secs: i64) -> (i64, i64, i64, i64, i64, i64, i64) {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Howard Hinnant's civil-from-days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    // 1970-01-01 was a Thursday.
    let weekday = (days + 4).rem_euclid(7);
    (y, m, d, rem / 3600, rem % 3600 / 60, rem % 60, weekday)
}

/// `YYYY-MM-DD HH:MM:SS` of a Unix time, in UTC.
pub fn format_time(secs: i64) -> String {
    let (y, m, d, hh, mm, ss, _) = civil_time(secs);
    format!("{y:04}-{m:02}-{d:02} {hh:02}:{mm:02}:{ss:02}")
}

fn expiry(row: &RegistrationRow, now: i64) -> (String, i64) {
    match row.expires {
        Some(e) => (format_time(e), e.saturating_sub(now)),
        None => (String::new(), 0),
    }
}

fn ping_ms(row: &RegistrationRow) -> String {
    // Microseconds as milliseconds with two decimals, as `%0.2f` of a float.
    format!("{:.2}", row.ping_time as f32 / 1000.0)
}

fn reg_text(out: &mut String, row: &RegistrationRow, now: i64) {
    let (exp, secs) = expiry(row, now);
    let _ = write!(
        out,
        "Call-ID:    \t{}\nUser:       \t{}@{}\nContact:    \t{}\nAgent:      \t{}\n\
         Status:     \t{}({}) EXP({}) EXPSECS({})\nPing-Status:\t{}\nPing-Time:\t{}\n\
         Host:       \t{}\nIP:         \t{}\nPort:       \t{}\nAuth-User:  \t{}\n\
         Auth-Realm: \t{}\nMWI-Account:\t{}@{}\n\n",
        row.call_id,
        row.sip_user,
        row.sip_host,
        row.contact,
        row.user_agent,
        row.status,
        row.rpid,
        exp,
        secs,
        row.ping_status,
        ping_ms(row),
        row.hostname,
        row.network_ip,
        row.network_port,
        row.sip_username,
        row.sip_realm,
        row.mwi_user,
        row.mwi_host
    );
}

// ---------------------------------------------------------------------------
// sofia xmlstatus
// ---------------------------------------------------------------------------

/// FreeSWITCH's `switch_amp_encode`.
pub fn amp_encode(s: &str) -> String {
    sofia_nea::package::xml_escape(s)
}

/// The characters FreeSWITCH's `switch_url_encode` escapes besides
/// controls and non-ASCII bytes (`SWITCH_URL_UNSAFE`).
const URL_UNSAFE: &[u8] = b"\r\n #%&+:;<=>?@[\\]^`{|}\"";

/// FreeSWITCH's `switch_url_encode` (no double encoding of an existing
/// `%XX`): `%` and two upper-case hex digits for every unsafe byte.
pub fn url_encode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let is_hex =
        |b: Option<&u8>| b.is_some_and(|b| b.is_ascii_hexdigit() && !b.is_ascii_lowercase());
    for (i, &b) in bytes.iter().enumerate() {
        let escaped_already = b == b'%' && is_hex(bytes.get(i + 1)) && is_hex(bytes.get(i + 2));
        if !escaped_already && (!(b' '..=b'~').contains(&b) || URL_UNSAFE.contains(&b)) {
            let _ = write!(out, "%{b:02X}");
        } else {
            out.push(char::from(b));
        }
    }
    out
}

fn xml_status<S: SofiaState + ?Sized>(q: &StatusQuery, state: &S) -> Reply {
    let mut out = String::new();
    match q {
        StatusQuery::Summary => {
            let _ = writeln!(out, "{XML_HEADER}");
            out.push_str("<profiles>\n");
            for p in state.profiles().iter().filter(|p| p.running) {
                let mut item = |url: &str, suffix: &str| {
                    let _ = write!(
                        out,
                        "<profile>\n<name>{}</name>\n<type>profile</type>\n<data>{}</data>\n<state>RUNNING ({}){}</state>\n</profile>\n",
                        p.name, url, p.inuse, suffix
                    );
                };
                if p.tls.is_none() || !p.tls_only {
                    item(&p.url, "");
                }
                if let Some((tls_url, _)) = &p.tls {
                    item(tls_url, " (TLS)");
                }
                if let Some(ws) = &p.ws_bind_url {
                    item(ws, " (WS)");
                }
                if let Some(wss) = &p.wss_bind_url {
                    item(wss, " (WSS)");
                }
                for gw in &p.gateways {
                    let _ = write!(
                        out,
                        "<gateway>\n<name>{}</name>\n<type>gateway</type>\n<data>{}</data>\n<state>{}</state>\n</gateway>\n{}\n",
                        gw.name,
                        gw.register_to,
                        gw.state.as_str(),
                        retry_text(gw)
                    );
                }
                for alias in &p.aliases {
                    let _ = write!(
                        out,
                        "<alias>\n<name>{}</name>\n<type>alias</type>\n<data>{}</data>\n<state>ALIASED</state>\n</alias>\n",
                        alias, p.name
                    );
                }
            }
            out.push_str("</profiles>\n");
            Reply::ok(out)
        }
        StatusQuery::Gateways => {
            let _ = writeln!(out, "{XML_HEADER}");
            out.push_str("<gateways>\n");
            for p in state.profiles().iter().filter(|p| p.running) {
                for gw in &p.gateways {
                    xml_gateway(&mut out, &p.name, gw);
                }
            }
            out.push_str("</gateways>\n");
            Reply::ok(out)
        }
        StatusQuery::Gateway(name) => match find_gateway(state, name) {
            Some((profile, gw)) => {
                let _ = writeln!(out, "{XML_HEADER}");
                xml_gateway(&mut out, &profile, &gw);
                Reply::ok(out)
            }
            None => Reply::err("Invalid Gateway!\n"),
        },
        StatusQuery::Profile { name, info, regs } => {
            let Some(p) = find_profile(state, name) else {
                return Reply::err("Invalid Profile!\n");
            };
            let _ = writeln!(out, "{XML_HEADER}");
            out.push_str("<profile>\n");
            if *info {
                xml_profile_info(&mut out, name, &p, state);
            }
            if let Some(filter) = regs {
                out.push_str("  <registrations>\n");
                let now = unix_now(state.now());
                for row in state.registrations(&p.name, filter) {
                    xml_reg(&mut out, &row, now);
                }
                out.push_str("  </registrations>\n");
            }
            out.push_str("</profile>\n");
            Reply::ok(out)
        }
        StatusQuery::InvalidSyntax => Reply::err("Invalid Syntax!\n"),
    }
}

fn xml_gateway(out: &mut String, profile: &str, gw: &GatewayStatus) {
    let fields: [(&str, String); 27] = [
        ("name", gw.name.clone()),
        ("profile", profile.to_string()),
        ("scheme", gw.scheme.clone()),
        ("realm", gw.realm.clone()),
        ("username", gw.username.clone()),
        ("password", yes_no(gw.password_set).to_string()),
        ("from", amp_encode(&gw.from)),
        ("contact", amp_encode(&gw.contact)),
        ("exten", amp_encode(&gw.extension)),
        ("to", gw.register_to.clone()),
        ("proxy", gw.proxy.clone()),
        ("context", gw.context.clone()),
        ("expires", gw.expires.clone()),
        ("freq", gw.freq.to_string()),
        ("ping", gw.ping.to_string()),
        ("pingfreq", gw.ping_freq.to_string()),
        ("pingmin", gw.ping_min.to_string()),
        ("pingcount", gw.ping_count.to_string()),
        ("pingmax", gw.ping_max.to_string()),
        ("pingtime", format!("{:.2}", gw.ping_time)),
        ("pinging", u8::from(gw.pinging).to_string()),
        ("state", gw.state.as_str().to_string()),
        ("status", if gw.up { "UP" } else { "DOWN" }.to_string()),
        (
            "uptime-usec",
            (if gw.up {
                gw.uptime_secs.saturating_mul(1_000_000)
            } else {
                0
            })
            .to_string(),
        ),
        ("calls-in", gw.ib_calls.to_string()),
        ("calls-out", gw.ob_calls.to_string()),
        ("failed-calls-in", gw.ib_failed_calls.to_string()),
    ];
    out.push_str("  <gateway>\n");
    for (tag, value) in fields {
        let _ = writeln!(out, "    <{tag}>{value}</{tag}>");
    }
    let _ = writeln!(
        out,
        "    <failed-calls-out>{}</failed-calls-out>",
        gw.ob_failed_calls
    );
    if gw.state.retrying() {
        match gw.retry_secs {
            Some(secs) if secs > 0 => {
                let _ = writeln!(out, "    <retry>{secs}s</retry>");
            }
            _ => out.push_str("    <retry>NEVER</retry>\n"),
        }
    }
    out.push_str("  </gateway>\n");
}

fn xml_profile_info<S: SofiaState + ?Sized>(
    out: &mut String,
    given: &str,
    p: &ProfileStatus,
    state: &S,
) {
    out.push_str("  <profile-info>\n");
    let mut tag = |t: &str, v: &str| {
        let _ = writeln!(out, "    <{t}>{v}</{t}>");
    };
    tag("name", given);
    tag("domain-name", p.domain_name.as_deref().unwrap_or("N/A"));
    if !given.eq_ignore_ascii_case(&p.name) {
        tag("alias-of", &p.name);
    }
    tag("auto-nat", true_false(p.auto_nat));
    tag("db-name", &p.dbname);
    tag("pres-hosts", &p.pres_hosts);
    tag("dialplan", &p.dialplan);
    tag("context", &p.context);
    tag(
        "challenge-realm",
        p.challenge_realm
            .as_deref()
            .filter(|r| !r.is_empty())
            .unwrap_or("auto_to"),
    );
    for ip in &p.rtp_ip {
        tag("rtp-ip", ip);
    }
    if let Some(ip) = &p.ext_rtp_ip {
        tag("ext-rtp-ip", ip);
    }
    tag("sip-ip", &p.sip_ip);
    if let Some(ip) = &p.ext_sip_ip {
        tag("ext-sip-ip", ip);
    }
    if p.tls.is_none() || !p.tls_only {
        tag("url", &p.url);
        tag("bind-url", &p.bind_url);
    }
    if let Some((url, bind)) = &p.tls {
        tag("tls-url", url);
        tag("tls-bind-url", bind);
    }
    if let Some(ws) = &p.ws_bind_url {
        tag("ws-bind-url", ws);
    }
    if let Some(wss) = &p.wss_bind_url {
        tag("wss-bind-url", wss);
    }
    tag("hold-music", na(&p.hold_music));
    tag("outbound-proxy", na(&p.outbound_proxy));
    tag("inbound-codecs", &p.codecs_in);
    tag("outbound-codecs", &p.codecs_out);
    tag("tel-event", &p.tel_event.to_string());
    tag("dtmf-mode", p.dtmf_mode.as_str());
    tag("cng", &p.cng.to_string());
    tag("session-to", &p.session_timeout.to_string());
    tag("max-dialog", &p.max_dialog.to_string());
    tag("nomedia", true_false(p.nomedia));
    tag("late-neg", true_false(p.late_neg));
    tag("proxy-media", true_false(p.proxy_media));
    tag("zrtp-passthru", true_false(p.zrtp_passthru));
    tag("aggressive-nat", true_false(p.aggressive_nat));
    if let Some(filter) = &p.user_agent_filter {
        tag("user-agent-filter", filter);
    }
    if p.max_registrations_per_ext > 0 {
        tag(
            "max-registrations-per-extension",
            &p.max_registrations_per_ext.to_string(),
        );
    }
    tag("calls-in", &p.calls_in.to_string());
    tag("calls-out", &p.calls_out.to_string());
    tag("failed-calls-in", &p.failed_calls_in.to_string());
    tag("failed-calls-out", &p.failed_calls_out.to_string());
    let count = state.registrations(&p.name, &RegFilter::All).len();
    tag("registrations", &count.to_string());
    out.push_str("  </profile-info>\n");
}

fn xml_reg(out: &mut String, row: &RegistrationRow, now: i64) {
    let (exp, secs) = expiry(row, now);
    let _ = write!(
        out,
        "    <registration>\n        <call-id>{}</call-id>\n        <user>{}@{}</user>\n\
         \x20       <contact>{}</contact>\n        <agent>{}</agent>\n\
         \x20       <status>{}({}) exp({}) expsecs({})</status>\n\
         \x20       <ping-status>{}</ping-status>\n        <ping-time>{}</ping-time>\n\
         \x20       <host>{}</host>\n        <network-ip>{}</network-ip>\n\
         \x20       <network-port>{}</network-port>\n        <sip-auth-user>{}</sip-auth-user>\n\
         \x20       <sip-auth-realm>{}</sip-auth-realm>\n        <mwi-account>{}@{}</mwi-account>\n\
         \x20   </registration>\n",
        row.call_id,
        row.sip_user,
        row.sip_host,
        amp_encode(&row.contact),
        amp_encode(&row.user_agent),
        row.status,
        row.rpid,
        exp,
        secs,
        row.ping_status,
        ping_ms(row),
        row.hostname,
        row.network_ip,
        row.network_port,
        url_encode(&row.sip_username),
        row.sip_realm,
        row.mwi_user,
        row.mwi_host
    );
}

// ---------------------------------------------------------------------------
// sofia_contact, sofia_count_reg
// ---------------------------------------------------------------------------

/// The URI inside a stored Contact (`"1000" <sip:1000@h>;expires=60` gives
/// `sip:1000@h`), as FreeSWITCH's `sofia_glue_get_url_from_contact`.
pub fn url_from_contact(contact: &str) -> &str {
    let mut buf = contact.trim_start_matches(' ');
    if let Some(rest) = buf.strip_prefix('"') {
        if let Some(end) = rest.find('"') {
            buf = &rest[end + 1..];
        } else {
            buf = rest;
        }
    }
    buf = buf.trim_start_matches(' ');
    if let Some(start) = buf.find('<')
        && let Some(len) = buf[start + 1..].find('>')
    {
        return &buf[start + 1..start + 1 + len];
    }
    buf
}

fn strip_proto(uri: &str) -> &str {
    uri.split_once(':').map_or(uri, |(_, rest)| rest)
}

fn sofia_contact<S: SofiaState + ?Sized>(arg: &str, state: &S) -> Reply {
    if arg.is_empty() {
        return Reply::ok("");
    }
    let mut data = arg;
    let mut profile_name: Option<&str> = None;
    let mut user_agent: Option<String> = None;
    if let Some((head, ua)) = data.split_once('~') {
        user_agent = Some(ua.to_string());
        data = head;
        profile_name = Some(head);
    }
    let user_part;
    if let Some((p, u)) = data.split_once('/') {
        profile_name = Some(p);
        user_part = u;
    } else {
        user_part = data;
    }
    let (user, mut domain, concat) = match user_part.split_once('@') {
        Some((u, d)) => match d.split_once('/') {
            Some((d, c)) => (u, d.to_string(), c),
            None => (u, d.to_string(), ""),
        },
        None => match user_part.split_once('/') {
            Some((u, c)) => (u, String::new(), c),
            None => (user_part, String::new(), ""),
        },
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
    let push = |out: &mut String, row: &RegistrationRow, pname: &str, dedup: bool| {
        let url = url_from_contact(&row.contact);
        let stored = if row.profile_name.is_empty() {
            pname
        } else {
            &row.profile_name
        };
        let item = format!("{concat}sofia/{stored}/sip:{}", strip_proto(url));
        if !dedup || !out.contains(&item) {
            out.push_str(&item);
            out.push(',');
        }
    };
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
        let filter = RegFilter::Contact {
            user: user.to_string(),
            domain,
            user_agent,
        };
        for row in state.registrations(&p.name, &filter) {
            if !row.contact.is_empty() {
                push(&mut out, &row, &p.name, false);
            }
        }
    } else if !domain.is_empty() {
        let filter = RegFilter::Contact {
            user: user.to_string(),
            domain,
            user_agent,
        };
        for p in state.profiles().iter().filter(|p| p.running) {
            for row in state.registrations(&p.name, &filter) {
                if !row.contact.is_empty() {
                    push(&mut out, &row, &p.name, true);
                }
            }
        }
    }
    if out.is_empty() {
        return Reply::ok("error/user_not_registered");
    }
    out.pop();
    Reply::ok(out)
}

fn sofia_count_reg<S: SofiaState + ?Sized>(arg: &str, state: &S) -> Reply {
    if arg.is_empty() {
        return Reply::ok("");
    }
    let (mut profile_name, user_part) = match arg.split_once('/') {
        Some((p, u)) => (Some(p.to_string()), u),
        None => (None, arg),
    };
    let (user, mut domain) = match user_part.split_once('@') {
        Some((u, d)) => (u, Some(d.split_once('/').map_or(d, |(d, _)| d).to_string())),
        None => (
            user_part.split_once('/').map_or(user_part, |(u, _)| u),
            None,
        ),
    };
    if profile_name.is_none() {
        profile_name = domain.clone();
    }
    let Some(name) = profile_name else {
        return Reply::ok("-1");
    };
    let mut profile = find_profile(state, &name);
    if profile.is_none() {
        let fallback = domain.take();
        profile = fallback.as_deref().and_then(|d| find_profile(state, d));
    }
    let Some(p) = profile else {
        return Reply::ok("-1");
    };
    let domain = match domain {
        Some(d) if d.contains('.') => d,
        _ => p.name.clone(),
    };
    let filter = RegFilter::Count {
        user: (!user.is_empty()).then(|| user.to_string()),
        domain,
    };
    Reply::ok(state.registrations(&p.name, &filter).len().to_string())
}

// ---------------------------------------------------------------------------
// sofia_dig
// ---------------------------------------------------------------------------

/// One line of the `sofia_dig` table.
#[derive(Debug, Clone, PartialEq)]
pub struct DigRow {
    /// Preference: 1 for the first group, one more for each later group.
    pub preference: u32,
    /// The share of traffic this target gets (`Weight`).
    pub weight: f64,
    /// `udp`, `tcp`, `tls`.
    pub transport: String,
    /// The port.
    pub port: u16,
    /// The address.
    pub address: String,
}

/// Runs `sofia_dig`, resolving names with `resolver` (RFC 3263: NAPTR, SRV,
/// A/AAAA).
pub async fn dig(args: &DigArgs, resolver: &Resolver) -> Reply {
    let mut resolved = Vec::new();
    if !args.usage {
        for text in &args.uris {
            let uri_text = uri_text(text);
            let targets = match sofia_msg::Uri::parse(&uri_text) {
                Ok(uri) if !is_numeric_host(uri.host()) => resolver.resolve(&uri).await.ok(),
                _ => None,
            };
            resolved.push(targets);
        }
    }
    let mut answers = resolved.into_iter();
    dig_with(args, |_| answers.next().flatten())
}

fn uri_text(s: &str) -> String {
    let lower = s.to_ascii_lowercase();
    if lower.starts_with("sip:") || lower.starts_with("sips:") {
        s.to_string()
    } else {
        format!("sip:{s}")
    }
}

fn is_numeric_host(host: &str) -> bool {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    h.parse::<std::net::IpAddr>().is_ok()
}

/// The table for `args`, with `lookup` giving the resolved targets of each
/// name URI in turn (`None`: nothing found).
fn dig_with(args: &DigArgs, mut lookup: impl FnMut(&str) -> Option<Vec<Target>>) -> Reply {
    const USAGE_LINE: &str = "usage: sofia_dig [OPTIONS] [@dnsserver] uri\n";
    let mut out = String::new();
    if args.usage {
        return Reply::err(USAGE_LINE);
    }
    if args.xml {
        out.push_str("<routes>\n");
    } else {
        let _ = writeln!(
            out,
            "{:>10}\t{:>10}\t{:>10}\t{:>10}\t{:>10}",
            "Preference", "Weight", "Transport", "Port", "Address"
        );
        let _ = writeln!(out, "{DIG_SEPARATOR}");
    }
    if args.uris.is_empty() {
        out.push_str(USAGE_LINE);
        return Reply::err(out);
    }
    let multiple = args.uris.len() > 1;
    let mut ok = true;
    for text in &args.uris {
        if multiple {
            out.push_str(text);
        }
        let uri_text = uri_text(text);
        let Ok(uri) = sofia_msg::Uri::parse(&uri_text) else {
            let _ = writeln!(out, "-ERR: {text}: invalid uri");
            ok = false;
            continue;
        };
        let sips = matches!(uri.scheme(), sofia_msg::Scheme::Sips);
        let transport = uri
            .param("transport")
            .flatten()
            .map(|t| t.to_ascii_lowercase());
        let rows = if is_numeric_host(uri.host()) {
            let host = uri.host();
            let port = uri.port();
            let mut rows = Vec::new();
            let mut add = |t: &str, pref: u32| {
                rows.push(DigRow {
                    preference: pref,
                    weight: 1.0,
                    transport: t.to_string(),
                    port: port.unwrap_or(if t.starts_with("tls") { 5061 } else { 5060 }),
                    address: host.to_string(),
                })
            };
            match (&transport, sips) {
                (Some(t), _) => add(t, 1),
                (None, true) => add("tls", 1),
                (None, false) => {
                    add("udp", 1);
                    add("tcp", 2);
                }
            }
            rows
        } else {
            match lookup(text) {
                Some(targets) => dig_rows(&targets, transport.is_none() && !sips, args),
                None => Vec::new(),
            }
        };
        if rows.is_empty() {
            let _ = writeln!(out, "-ERR: {text}: not found");
            ok = false;
            continue;
        }
        for row in rows {
            if args.xml {
                let _ = write!(
                    out,
                    " <route>\n  <preference>{}</preference>\n  <weight>{:.3}</weight>\n  <transport>{}</transport>\n  <port>{}</port>\n  <address>{}</address>\n </route>\n",
                    row.preference, row.weight, row.transport, row.port, row.address
                );
            } else {
                let _ = writeln!(
                    out,
                    "{:>10}\t{:>10.3}\t{:>10}\t{:>10}\t{:>10}",
                    row.preference, row.weight, row.transport, row.port, row.address
                );
            }
        }
    }
    if args.xml {
        out.push_str("</routes>\n");
    }
    Reply { text: out, ok }
}

/// Turns the resolver's ordered targets into sip-dig's rows: a preference
/// per (transport, SRV priority) group in order; the weight is the SRV
/// weight's share of its group, split over the transports found and over a
/// host's addresses. Without SRV records (all priorities and weights 0) and
/// without an explicit transport, every address is listed for UDP and TCP
/// at preference 1, each with an equal share.
pub fn dig_rows(targets: &[Target], udp_and_tcp: bool, args: &DigArgs) -> Vec<DigRow> {
    let family_ok = |t: &Target| {
        if args.ipv4 == args.ipv6 {
            true
        } else if args.ipv4 {
            t.addr.is_ipv4()
        } else {
            t.addr.is_ipv6()
        }
    };
    let transport_ok =
        |name: &str| args.transports.is_empty() || args.transports.iter().any(|t| t == name);
    let targets: Vec<&Target> = targets.iter().filter(|t| family_ok(t)).collect();
    let mut rows = Vec::new();
    let no_srv = targets.iter().all(|t| t.priority == 0 && t.weight == 0);
    if no_srv {
        let names: Vec<String> = if udp_and_tcp {
            vec!["udp".into(), "tcp".into()]
        } else {
            let mut names: Vec<String> = Vec::new();
            for t in &targets {
                let n = t.transport.to_string().to_ascii_lowercase();
                if !names.contains(&n) {
                    names.push(n);
                }
            }
            names
        };
        let names: Vec<String> = names.into_iter().filter(|n| transport_ok(n)).collect();
        let mut addrs: Vec<&Target> = Vec::new();
        for t in &targets {
            if !addrs.iter().any(|a| a.addr == t.addr) {
                addrs.push(t);
            }
        }
        if addrs.is_empty() || names.is_empty() {
            return rows;
        }
        let w = 1.0 / addrs.len() as f64 / names.len() as f64;
        for a in addrs {
            for n in &names {
                rows.push(DigRow {
                    preference: 1,
                    weight: w,
                    transport: n.clone(),
                    port: a.addr.port(),
                    address: a.addr.ip().to_string(),
                });
            }
        }
        return rows;
    }
    let targets: Vec<&Target> = targets
        .into_iter()
        .filter(|t| transport_ok(&t.transport.to_string().to_ascii_lowercase()))
        .collect();
    let mut transports: Vec<String> = Vec::new();
    for t in &targets {
        let n = t.transport.to_string().to_ascii_lowercase();
        if !transports.contains(&n) {
            transports.push(n);
        }
    }
    let n_transports = transports.len().max(1) as f64;
    let mut preference = 0u32;
    let mut i = 0;
    while i < targets.len() {
        let key = (targets[i].transport, targets[i].priority);
        let end = targets[i..]
            .iter()
            .position(|t| (t.transport, t.priority) != key)
            .map_or(targets.len(), |n| i + n);
        let group = &targets[i..end];
        preference += 1;
        // Sum of the weights of the group's distinct SRV targets.
        let mut seen: Vec<(&str, u16, u16)> = Vec::new();
        for t in group {
            let k = (t.host.as_str(), t.addr.port(), t.weight);
            if !seen.contains(&k) {
                seen.push(k);
            }
        }
        let pweight: u32 = seen.iter().map(|k| u32::from(k.2)).sum();
        let pweight = if pweight == 0 {
            1.0
        } else {
            f64::from(pweight)
        };
        for t in group {
            let addrs = group
                .iter()
                .filter(|o| o.host == t.host && o.addr.port() == t.addr.port())
                .count()
                .max(1) as f64;
            rows.push(DigRow {
                preference,
                weight: f64::from(t.weight) / pweight / n_transports / addrs,
                transport: t.transport.to_string().to_ascii_lowercase(),
                port: t.addr.port(),
                address: t.addr.ip().to_string(),
            });
        }
        i = end;
    }
    rows
}
