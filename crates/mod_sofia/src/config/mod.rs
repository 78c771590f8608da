//! Configuration: FreeSWITCH-style XML files, preprocessed and parsed into
//! typed structs.

mod error;
pub mod preprocess;
pub mod source;
pub(crate) mod xml;

pub use error::{ConfigError, Location, Warning};
pub use preprocess::{Expanded, Preprocessor, SourceMap, Vars};
pub use source::{ConfigSource, FileSystem, MemoryFiles};
