//! Per-module debug levels and logging with sofia-sip's semantics.
//!
//! Every module of the stack owns a [`LogModule`] with a level from 0 to 9:
//!
//! | level | meaning |
//! |---|---|
//! | 0 | fatal errors |
//! | 1 | critical errors |
//! | 2 | non-critical errors |
//! | 3 | warnings and progress messages (the default) |
//! | 5 | signalling protocol actions (incoming packets, ...) |
//! | 7 | media protocol actions |
//! | 9 | entering and exiting functions |
//!
//! A module's own level applies only once it has been set explicitly, by its
//! environment variable (`NTA_DEBUG=9`) or at run time ([`Registry::set_level`]).
//! Until then it follows the *default* level, which comes from `SOFIA_DEBUG`
//! (3 when unset) and can itself be changed at run time
//! ([`Registry::set_default`]); modules that follow it see the change at once.
//! A bad value (`NTA_DEBUG=abc`, `NTA_DEBUG=12`) gets a one-line warning on
//! standard error and is ignored. `SHOW_DEBUG_LEVELS=1` prints every module's
//! level and where it came from when the levels are first read.
//!
//! Checking a level is one relaxed atomic load, so [`su_log!`](crate::su_log)
//! costs next to nothing when a line is off. Lines that pass are `tracing`
//! events with the module's [target](LogModule::target) (`sofia::nta`) and a
//! `sofia_level` field; the tracing level is derived from the sofia level
//! ([`tracing_level`]). [`init_tracing`] installs a plain subscriber for
//! programs that have none of their own.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Mutex, Once};

/// The level every module follows when nothing else is set.
pub const DEFAULT_LEVEL: u8 = 3;
/// The highest level.
pub const MAX_LEVEL: u8 = 9;

/// State byte of a module that has not read its environment yet.
const UNINIT: u8 = 0xFF;
/// Low bits of the state byte: the effective level.
const LEVEL_MASK: u8 = 0x0F;
/// Set when the level came from the module's environment variable.
const FROM_ENV: u8 = 0x10;
/// Set when the level was set at run time.
const FROM_CALL: u8 = 0x20;

/// Where a module's level comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LevelSource {
    /// The module's own environment variable.
    Env,
    /// A run-time call ([`Registry::set_level`], [`Registry::set_all`], ...).
    RunTime,
    /// Nothing set for this module: it follows the default level.
    Default,
    /// Only for the default module: nothing set, the built-in level 3.
    BuiltIn,
}

/// One module's debug level.
#[derive(Debug)]
pub struct LogModule {
    name: &'static str,
    env: &'static str,
    target: &'static str,
    state: AtomicU8,
}

impl LogModule {
    const fn new(name: &'static str, env: &'static str, target: &'static str) -> Self {
        LogModule {
            name,
            env,
            target,
            state: AtomicU8::new(UNINIT),
        }
    }

    /// The module's name (`nta`), as `sofia loglevel` takes it.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The environment variable that sets this module's level (`NTA_DEBUG`).
    pub fn env_var(&self) -> &'static str {
        self.env
    }

    /// The `tracing` target of this module's events (`sofia::nta`).
    pub fn target(&self) -> &'static str {
        self.target
    }

    /// True when a line at `level` is to be logged. One atomic load once the
    /// levels have been read from the environment.
    #[inline]
    pub fn enabled(&self, level: u8) -> bool {
        let mut state = self.state.load(Ordering::Relaxed);
        if state == UNINIT {
            state = self.init_slow();
        }
        level <= state & LEVEL_MASK
    }

    /// The module's effective level.
    pub fn level(&self) -> u8 {
        let mut state = self.state.load(Ordering::Relaxed);
        if state == UNINIT {
            state = self.init_slow();
        }
        state & LEVEL_MASK
    }

    #[cold]
    fn init_slow(&self) -> u8 {
        // Modules only come from registries; the global one is the only
        // registry that starts uninitialised.
        REGISTRY.ensure_init();
        let state = self.state.load(Ordering::Relaxed);
        if state == UNINIT {
            DEFAULT_LEVEL
        } else {
            state
        }
    }

    fn source(&self, is_default: bool) -> LevelSource {
        let state = self.state.load(Ordering::Relaxed);
        if state != UNINIT && state & FROM_ENV != 0 {
            LevelSource::Env
        } else if state != UNINIT && state & FROM_CALL != 0 {
            LevelSource::RunTime
        } else if is_default {
            LevelSource::BuiltIn
        } else {
            LevelSource::Default
        }
    }

    fn explicit(&self) -> bool {
        let state = self.state.load(Ordering::Relaxed);
        state != UNINIT && state & (FROM_ENV | FROM_CALL) != 0
    }
}

/// Error from a run-time level change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LevelError {
    /// No module has that name.
    UnknownModule(String),
    /// The level is not in 0..=9.
    BadLevel(String),
}

impl std::fmt::Display for LevelError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LevelError::UnknownModule(m) => write!(
                f,
                "unknown module {m:?} (known: {})",
                MODULE_NAMES.join(", ")
            ),
            LevelError::BadLevel(l) => write!(f, "bad level {l:?}: expected 0..9"),
        }
    }
}

impl std::error::Error for LevelError {}

/// Index of the default module in every registry.
const DEFAULT_INDEX: usize = 0;
/// Number of modules.
pub const MODULE_COUNT: usize = 9;

/// The names of the modules, default module first, as `sofia loglevel` takes them.
pub const MODULE_NAMES: [&str; MODULE_COUNT] = [
    "sofia", "su", "tport", "nta", "sresolv", "iptsec", "soa", "nea", "nua",
];

macro_rules! modules {
    ($( $idx:literal $ident:ident $name:literal $env:literal $target:literal ;)*) => {
        /// The `tracing` target of each module, as constants (tracing needs
        /// targets known at compile time).
        pub mod targets {
            $(
                #[doc = concat!("Target of the `", $name, "` module.")]
                pub const $ident: &str = $target;
            )*
        }

        const fn new_modules() -> [LogModule; MODULE_COUNT] {
            [$( LogModule::new($name, $env, $target), )*]
        }

        $(
            #[doc = concat!("The `", $name, "` module, set by `", $env, "`.")]
            pub static $ident: &LogModule = &REGISTRY.modules[$idx];
        )*
    };
}

modules! {
    0 SOFIA "sofia" "SOFIA_DEBUG" "sofia";
    1 SU "su" "SU_DEBUG" "sofia::su";
    2 TPORT "tport" "TPORT_DEBUG" "sofia::tport";
    3 NTA "nta" "NTA_DEBUG" "sofia::nta";
    4 SRESOLV "sresolv" "SRESOLV_DEBUG" "sofia::sresolv";
    5 IPTSEC "iptsec" "IPTSEC_DEBUG" "sofia::iptsec";
    6 SOA "soa" "SOA_DEBUG" "sofia::soa";
    7 NEA "nea" "NEA_DEBUG" "sofia::nea";
    8 NUA "nua" "NUA_DEBUG" "sofia::nua";
}

/// The process-wide registry that the statics ([`NTA`], [`TPORT`], ...) and
/// [`su_log!`](crate::su_log) use. It reads the environment on first use.
pub static REGISTRY: Registry = Registry::new_uninit();

/// A set of module levels: the process-wide [`REGISTRY`], or a private one built
/// with [`Registry::from_env_fn`] (for tests and embedding).
#[derive(Debug)]
pub struct Registry {
    modules: [LogModule; MODULE_COUNT],
    init: Once,
    write: Mutex<()>,
}

/// What reading the environment found: the lines to print.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct InitReport {
    /// One line per bad value (`NTA_DEBUG="abc" is not a debug level 0..9; ignored`).
    pub warnings: Vec<String>,
    /// The `SHOW_DEBUG_LEVELS` lines, when that variable is set to a non-zero value.
    pub shown: Vec<String>,
}

fn parse_level(text: &str) -> Option<u8> {
    let text = text.trim();
    if text.is_empty() || text.len() > 2 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse::<u8>().ok().filter(|l| *l <= MAX_LEVEL)
}

impl Registry {
    const fn new_uninit() -> Self {
        Registry {
            modules: new_modules(),
            init: Once::new(),
            write: Mutex::new(()),
        }
    }

    /// A private registry whose variables are looked up with `env` instead of the
    /// process environment. Returns it with what the process registry would print.
    pub fn from_env_fn(env: impl Fn(&str) -> Option<String>) -> (Registry, InitReport) {
        let registry = Registry::new_uninit();
        let mut report = InitReport::default();
        registry.init.call_once(|| report = registry.load(&env));
        (registry, report)
    }

    fn ensure_init(&self) {
        self.init.call_once(|| {
            let report = self.load(&|name: &str| std::env::var(name).ok());
            for line in report.warnings.iter().chain(report.shown.iter()) {
                eprintln!("{line}");
            }
        });
    }

    fn load(&self, env: &dyn Fn(&str) -> Option<String>) -> InitReport {
        let _guard = self.write.lock().unwrap_or_else(|e| e.into_inner());
        let mut report = InitReport::default();
        let mut read = |module: &LogModule| -> Option<u8> {
            let value = env(module.env)?;
            match parse_level(&value) {
                Some(level) => Some(level),
                None => {
                    report.warnings.push(format!(
                        "su_log: {}={value:?} is not a debug level 0..9; ignored",
                        module.env
                    ));
                    None
                }
            }
        };
        let default = &self.modules[DEFAULT_INDEX];
        let default_level = match read(default) {
            Some(level) => {
                default.state.store(level | FROM_ENV, Ordering::Relaxed);
                level
            }
            None => {
                default.state.store(DEFAULT_LEVEL, Ordering::Relaxed);
                DEFAULT_LEVEL
            }
        };
        for module in &self.modules[DEFAULT_INDEX + 1..] {
            let state = match read(module) {
                Some(level) => level | FROM_ENV,
                None => default_level,
            };
            module.state.store(state, Ordering::Relaxed);
        }
        let show = env("SHOW_DEBUG_LEVELS")
            .map(|v| {
                let v = v.trim();
                !v.is_empty() && v != "0"
            })
            .unwrap_or(false);
        if show {
            report.shown = self.describe_locked(env);
        }
        report
    }

    fn describe_locked(&self, env: &dyn Fn(&str) -> Option<String>) -> Vec<String> {
        self.modules
            .iter()
            .enumerate()
            .map(|(i, m)| {
                let level = m.state.load(Ordering::Relaxed) & LEVEL_MASK;
                let from = match m.source(i == DEFAULT_INDEX) {
                    LevelSource::Env => {
                        format!("{}={}", m.env, env(m.env).unwrap_or_default().trim())
                    }
                    LevelSource::RunTime => "set at run time".to_string(),
                    LevelSource::Default => "default, SOFIA_DEBUG".to_string(),
                    LevelSource::BuiltIn => "built-in default".to_string(),
                };
                format!("su_log: {}: level {level} ({from})", m.name)
            })
            .collect()
    }

    /// The module called `name` (`"nta"`, `"sofia"` for the default).
    pub fn module(&self, name: &str) -> Option<&LogModule> {
        self.ensure_init();
        self.modules
            .iter()
            .find(|m| m.name.eq_ignore_ascii_case(name))
    }

    /// Every module, the default module first.
    pub fn modules(&self) -> &[LogModule] {
        self.ensure_init();
        &self.modules
    }

    /// A module's level and where it came from.
    pub fn level(&self, name: &str) -> Result<(u8, LevelSource), LevelError> {
        let module = self
            .module(name)
            .ok_or_else(|| LevelError::UnknownModule(name.to_string()))?;
        let is_default = std::ptr::eq(module, &self.modules[DEFAULT_INDEX]);
        Ok((module.level(), module.source(is_default)))
    }

    /// The default level that modules without their own level follow.
    pub fn default_level(&self) -> u8 {
        self.modules[DEFAULT_INDEX].level()
    }

    fn check_level(level: u8) -> Result<u8, LevelError> {
        if level > MAX_LEVEL {
            Err(LevelError::BadLevel(level.to_string()))
        } else {
            Ok(level)
        }
    }

    /// Sets one module's own level; from now on it no longer follows the
    /// default. Naming `sofia` (or `default`) sets the default instead.
    pub fn set_level(&self, name: &str, level: u8) -> Result<(), LevelError> {
        let level = Self::check_level(level)?;
        if name.eq_ignore_ascii_case("default") || name.eq_ignore_ascii_case("sofia") {
            return self.set_default(level);
        }
        let module = self
            .module(name)
            .ok_or_else(|| LevelError::UnknownModule(name.to_string()))?;
        let _guard = self.write.lock().unwrap_or_else(|e| e.into_inner());
        module.state.store(level | FROM_CALL, Ordering::Relaxed);
        Ok(())
    }

    /// Sets the default level; every module without a level of its own follows.
    pub fn set_default(&self, level: u8) -> Result<(), LevelError> {
        let level = Self::check_level(level)?;
        self.ensure_init();
        let _guard = self.write.lock().unwrap_or_else(|e| e.into_inner());
        self.modules[DEFAULT_INDEX]
            .state
            .store(level | FROM_CALL, Ordering::Relaxed);
        for module in &self.modules[DEFAULT_INDEX + 1..] {
            if !module.explicit() {
                module.state.store(level, Ordering::Relaxed);
            }
        }
        Ok(())
    }

    /// Sets every module's own level and the default (`sofia loglevel all N`).
    pub fn set_all(&self, level: u8) -> Result<(), LevelError> {
        let level = Self::check_level(level)?;
        self.ensure_init();
        let _guard = self.write.lock().unwrap_or_else(|e| e.into_inner());
        for module in &self.modules {
            module.state.store(level | FROM_CALL, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Makes a module follow the default level again.
    pub fn reset(&self, name: &str) -> Result<(), LevelError> {
        let module = self
            .module(name)
            .ok_or_else(|| LevelError::UnknownModule(name.to_string()))?;
        let _guard = self.write.lock().unwrap_or_else(|e| e.into_inner());
        let default = self.modules[DEFAULT_INDEX].state.load(Ordering::Relaxed) & LEVEL_MASK;
        if !std::ptr::eq(module, &self.modules[DEFAULT_INDEX]) {
            module.state.store(default, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Lines as `SHOW_DEBUG_LEVELS` prints them, for the current levels.
    pub fn describe(&self) -> Vec<String> {
        self.ensure_init();
        let _guard = self.write.lock().unwrap_or_else(|e| e.into_inner());
        self.describe_locked(&|name: &str| std::env::var(name).ok())
    }
}

/// Parses a level as `sofia loglevel` and the environment variables take it.
pub fn parse_level_arg(text: &str) -> Result<u8, LevelError> {
    parse_level(text).ok_or_else(|| LevelError::BadLevel(text.to_string()))
}

/// The `tracing` level of a sofia level: 0-1 ERROR, 2 WARN, 3-4 INFO,
/// 5-6 DEBUG, 7-9 TRACE.
pub const fn tracing_level(level: u8) -> tracing::Level {
    match level {
        0..=1 => tracing::Level::ERROR,
        2 => tracing::Level::WARN,
        3..=4 => tracing::Level::INFO,
        5..=6 => tracing::Level::DEBUG,
        _ => tracing::Level::TRACE,
    }
}

/// Installs a `tracing-subscriber` fmt subscriber on standard error that shows
/// every event of the sofia-rs modules (targets starting with `sofia`;
/// filtering by level is done by the module levels) and nothing from other
/// crates. Does nothing when the program already has a global subscriber.
pub fn init_tracing() {
    use tracing_subscriber::prelude::*;
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_target(true)
        .with_filter(tracing_subscriber::filter::filter_fn(|meta| {
            meta.target().starts_with("sofia")
        }));
    let _ = tracing::subscriber::set_global_default(tracing_subscriber::registry().with(layer));
}

/// Runs `f` with a subscriber that records every event emitted on this
/// thread meanwhile (all levels, no colours), and returns the text: for
/// tests that check what a module logs, and what it never logs.
///
/// ```
/// sofia_su::log::REGISTRY.set_level("nua", 5).unwrap();
/// let out = sofia_su::log::captured(|| sofia_su::su_log!(NUA, 5, "nua: hello"));
/// assert!(out.contains("nua: hello"));
/// ```
pub fn captured(f: impl FnOnce()) -> String {
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Capture {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    let capture = Capture::default();
    let writer = capture.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    tracing::subscriber::with_default(subscriber, f);
    let bytes = capture.0.lock().unwrap_or_else(|e| e.into_inner()).clone();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Logs a line on a module if the module's level is at least `level`.
///
/// ```
/// sofia_su::su_log!(TPORT, 3, "listening on {}", "udp/127.0.0.1:5060");
/// ```
///
/// The module is one of the names in [`targets`] (`SU`, `TPORT`, `NTA`,
/// `SRESOLV`, `IPTSEC`, `SOA`, `NEA`, `NUA`, `SOFIA`).
#[macro_export]
macro_rules! su_log {
    ($module:ident, $level:expr, $($arg:tt)+) => {{
        let level: u8 = $level;
        if $crate::log::$module.enabled(level) {
            match level {
                0..=1 => $crate::tracing::event!(target: $crate::log::targets::$module,
                    $crate::tracing::Level::ERROR, sofia_level = level, $($arg)+),
                2 => $crate::tracing::event!(target: $crate::log::targets::$module,
                    $crate::tracing::Level::WARN, sofia_level = level, $($arg)+),
                3..=4 => $crate::tracing::event!(target: $crate::log::targets::$module,
                    $crate::tracing::Level::INFO, sofia_level = level, $($arg)+),
                5..=6 => $crate::tracing::event!(target: $crate::log::targets::$module,
                    $crate::tracing::Level::DEBUG, sofia_level = level, $($arg)+),
                _ => $crate::tracing::event!(target: $crate::log::targets::$module,
                    $crate::tracing::Level::TRACE, sofia_level = level, $($arg)+),
            }
        }
    }};
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_levels() {
        assert_eq!(parse_level("0"), Some(0));
        assert_eq!(parse_level(" 9 "), Some(9));
        assert_eq!(parse_level("10"), None);
        assert_eq!(parse_level("12"), None);
        assert_eq!(parse_level("abc"), None);
        assert_eq!(parse_level("-1"), None);
        assert_eq!(parse_level(""), None);
        assert_eq!(parse_level("99999999999999999999"), None);
    }

    #[test]
    fn tracing_levels() {
        assert_eq!(tracing_level(0), tracing::Level::ERROR);
        assert_eq!(tracing_level(2), tracing::Level::WARN);
        assert_eq!(tracing_level(3), tracing::Level::INFO);
        assert_eq!(tracing_level(5), tracing::Level::DEBUG);
        assert_eq!(tracing_level(9), tracing::Level::TRACE);
    }
}
