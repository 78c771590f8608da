//! `sofia-su`: the utility layer under every other sofia-rs crate.
//!
//! It mirrors sofia-sip's `su` library where the other layers need it:
//!
//! - [`log`]: per-module debug levels (0..9) read from environment variables such
//!   as `NTA_DEBUG`, falling back to `SOFIA_DEBUG`, changeable at run time, and
//!   emitted as [`tracing`] events whose target names the module (`sofia::nta`).
//! - [`time`]: an injectable [`Clock`] (monotonic and wall time) so
//!   that protocol state machines can be driven by a virtual clock in tests.
//! - [`id`]: generators for tags, Call-IDs and RFC 3261 branches over an
//!   injectable random source.
//!
//! ```
//! use sofia_su::{su_log, log};
//!
//! // Level 3 (warnings and progress) is on by default; level 9 is not.
//! assert!(log::NTA.enabled(3) || std::env::var_os("NTA_DEBUG").is_some()
//!     || std::env::var_os("SOFIA_DEBUG").is_some());
//! su_log!(NTA, 5, "sending {} to {}", "INVITE", "127.0.0.1:5060");
//!
//! let mut ids = sofia_su::id::IdGenerator::with_seed(7);
//! let branch = ids.branch();
//! assert!(branch.starts_with("z9hG4bK"));
//! ```
#![forbid(unsafe_code)]

pub mod id;
pub mod log;
pub mod time;

pub use id::IdGenerator;
pub use log::{LogModule, Registry};
pub use time::{Clock, ManualClock, SystemClock};

#[doc(hidden)]
pub use tracing;
