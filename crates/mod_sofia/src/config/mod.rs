//! Configuration: FreeSWITCH-style XML files, preprocessed and parsed into
//! typed structs.

mod error;
pub mod params;
pub mod preprocess;
pub mod sofia;
pub mod source;
pub(crate) mod xml;

pub use error::{ConfigError, Location, Warning};
pub use preprocess::{Expanded, Preprocessor, SourceMap, Vars};
pub use sofia::{
    AclParam, ChallengeRealm, DEFAULT_USER_AGENT, DomainBinding, ExtAddress, GatewayConfig,
    GlobalSettings, MultipleRegistrations, Param, ParseOptions, ProfileConfig, SofiaConfig,
    TlsFiles, Transport,
};
pub use source::{ConfigSource, FileSystem, MemoryFiles};
