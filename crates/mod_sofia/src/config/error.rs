//! Configuration errors and warnings, each naming the file and line.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A place in a configuration file: the file as named when it was read
/// (an included file by its resolved path) and a 1-based line.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Location {
    /// The file.
    pub file: Arc<Path>,
    /// The line, from 1.
    pub line: u32,
}

impl Location {
    /// A location.
    pub fn new(file: impl AsRef<Path>, line: u32) -> Location {
        Location {
            file: Arc::from(file.as_ref()),
            line,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file.display(), self.line)
    }
}

/// Why a configuration cannot be used. Every variant that concerns a file's
/// content names the file and line; those about a parameter name it too.
/// The text is `FILE:LINE: WHAT`; for a bad value
/// `FILE:LINE: parameter 'NAME' = 'VALUE': WHAT`.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A file could not be read.
    #[error("{}: cannot read: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// An `X-PRE-PROCESS` include names a file that cannot be read, or a bad pattern.
    #[error("{at}: include '{data}': {reason}")]
    Include {
        /// Where the include is.
        at: Location,
        /// The `data` attribute.
        data: String,
        /// What is wrong.
        reason: String,
    },
    /// A file includes itself, directly or through others.
    #[error("{at}: include cycle: {} is already being read", path.display())]
    IncludeCycle {
        /// Where the include is.
        at: Location,
        /// The file included again.
        path: PathBuf,
    },
    /// Includes nest deeper than the limit.
    #[error("{at}: includes nest deeper than {limit} levels")]
    IncludeDepth {
        /// Where the include is.
        at: Location,
        /// The limit.
        limit: usize,
    },
    /// The preprocessed text grows past the size limit.
    #[error("{at}: the configuration grows past {limit} bytes after includes")]
    TooLarge {
        /// Where the limit was passed.
        at: Location,
        /// The limit in bytes.
        limit: usize,
    },
    /// `$${name}` names a variable that is not set.
    #[error("{at}: unknown variable '$${{{name}}}'")]
    UnknownVariable {
        /// Where it is used.
        at: Location,
        /// The variable.
        name: String,
    },
    /// A malformed or unsupported `X-PRE-PROCESS` instruction or `$${`.
    #[error("{at}: {what}")]
    PreProcess {
        /// Where it is.
        at: Location,
        /// What is wrong.
        what: String,
    },
    /// The text is not well-formed XML.
    #[error("{at}: XML: {message}")]
    Xml {
        /// Where the parser stopped.
        at: Location,
        /// The parser's message.
        message: String,
    },
    /// A parameter has a value that cannot be used.
    #[error("{at}: parameter '{param}' = '{value}': {what}")]
    BadValue {
        /// Where the parameter is.
        at: Location,
        /// The parameter's name.
        param: String,
        /// The value given.
        value: String,
        /// What is wrong, e.g. `bad port (expected 1-65535)`.
        what: String,
    },
    /// A required element or attribute is missing or empty.
    #[error("{at}: {what}")]
    Missing {
        /// Where it should be.
        at: Location,
        /// What is missing.
        what: String,
    },
    /// Two items share a name that must be unique (profile, alias, gateway, ACL list).
    #[error("{at}: duplicate {kind} '{name}' (first at {first})")]
    Duplicate {
        /// The second definition.
        at: Location,
        /// `profile`, `gateway`, ...
        kind: &'static str,
        /// The name.
        name: String,
        /// The first definition.
        first: Location,
    },
    /// Two profiles listen on the same address and port.
    #[error(
        "{at}: parameter '{param}': profile '{profile}' binds {addr}, which profile '{other}' binds too"
    )]
    AddressInUse {
        /// Where the second profile sets the port.
        at: Location,
        /// `sip-port` or `tls-sip-port`.
        param: &'static str,
        /// The second profile.
        profile: String,
        /// The address and port.
        addr: String,
        /// The first profile.
        other: String,
    },
    /// An ACL parameter names a list that does not exist.
    #[error("{at}: parameter '{param}': unknown ACL list '{name}'")]
    UnknownAcl {
        /// Where the parameter is.
        at: Location,
        /// The parameter.
        param: String,
        /// The list name.
        name: String,
    },
    /// The document does not have the expected shape.
    #[error("{at}: {what}")]
    Structure {
        /// Where.
        at: Location,
        /// What is wrong.
        what: String,
    },
}

impl ConfigError {
    /// The file and line the error points at, when it concerns a file's content.
    pub fn location(&self) -> Option<&Location> {
        match self {
            ConfigError::Io { .. } => None,
            ConfigError::Include { at, .. }
            | ConfigError::IncludeCycle { at, .. }
            | ConfigError::IncludeDepth { at, .. }
            | ConfigError::TooLarge { at, .. }
            | ConfigError::UnknownVariable { at, .. }
            | ConfigError::PreProcess { at, .. }
            | ConfigError::Xml { at, .. }
            | ConfigError::BadValue { at, .. }
            | ConfigError::Missing { at, .. }
            | ConfigError::Duplicate { at, .. }
            | ConfigError::AddressInUse { at, .. }
            | ConfigError::UnknownAcl { at, .. }
            | ConfigError::Structure { at, .. } => Some(at),
        }
    }
}

/// Something accepted with a warning: an unknown parameter, a value
/// FreeSWITCH corrects (a gateway's `retry-seconds` below 5 ...), a weak
/// setting. The text is `FILE:LINE: warning: MESSAGE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// Where.
    pub at: Location,
    /// The parameter concerned, when there is one.
    pub param: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl Warning {
    pub(crate) fn new(at: Location, param: Option<&str>, message: impl Into<String>) -> Warning {
        Warning {
            at,
            param: param.map(str::to_string),
            message: message.into(),
        }
    }
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.param {
            Some(p) => write!(
                f,
                "{}: warning: parameter '{}': {}",
                self.at, p, self.message
            ),
            None => write!(f, "{}: warning: {}", self.at, self.message),
        }
    }
}
