//! Configuration: FreeSWITCH-style XML files, preprocessed and parsed into
//! typed structs.

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
