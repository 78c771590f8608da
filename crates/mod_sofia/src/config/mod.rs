//! Configuration: FreeSWITCH-style XML files, preprocessed and parsed into
//! typed structs.
//!
//! - [`preprocess`]: `X-PRE-PROCESS` includes and variables, `$${name}`,
//!   with every line mapped back to its file and line.
//! - [`sofia`]: `sofia.conf.xml` into [`SofiaConfig`] (profiles, gateways).
//! - [`crate::directory`] and [`crate::acl`]: the user directory and ACL lists.
//! - [`load`](mod@load): all of it together, from files ([`load()`]) or the
//!   embedded default configuration ([`load_default`]).
//!
//! Every error is a [`ConfigError`] naming the file, line and parameter;
//! unknown parameters and corrected values are [`Warning`]s.
//!
//! ```
//! use mod_sofia::config::{load_default, LoadOptions};
//!
//! let config = load_default(&LoadOptions::default()).expect("the embedded configuration loads");
//! let internal = config.sofia.profile("internal").expect("an internal profile");
//! assert_eq!(internal.sip_port, 5060);
//! assert_eq!(config.sofia.profile("external").map(|p| p.sip_port), Some(5080));
//! assert!(config.directory.user("1000", "127.0.0.1").is_some_and(|u| u.is_default_password()));
//! for w in &config.warnings {
//!     eprintln!("{w}");
//! }
//! ```

mod error;
pub mod load;
pub mod params;
pub mod preprocess;
pub mod sofia;
pub mod source;
pub(crate) mod xml;

pub use error::{ConfigError, Location, Warning};
pub use load::{
    EMBEDDED_FILES, EMBEDDED_ROOT, EMBEDDED_SOFIA_CONF, LoadOptions, LoadedConfig, builtin_vars,
    conf_dir_of, default_password_warnings, embedded_files, guess_ip_v4, guess_ip_v6, load,
    load_default, load_from,
};
pub use preprocess::{Expanded, Preprocessor, SourceMap, Vars};
pub use sofia::{
    AclParam, ChallengeRealm, DEFAULT_USER_AGENT, DomainBinding, ExtAddress, GatewayConfig,
    GlobalSettings, MultipleRegistrations, Param, ParseOptions, ProfileConfig, SofiaConfig,
    TlsFiles, Transport,
};
pub use source::{ConfigSource, FileSystem, MemoryFiles};
