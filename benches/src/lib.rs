//! Criterion benchmarks of sofia-rs (`cargo bench -p sofia-benches`) and the
//! sample messages they parse.
//!
//! The messages live as files in `benches/data/` so that
//! `cargo xtask bench parse` feeds the very same bytes to sofia-sip's C
//! parser. See `docs/performance.md` for the figures.
#![forbid(unsafe_code)]

/// A typical INVITE with an SDP offer (899 bytes, 313 of them SDP):
/// `benches/data/invite.sip`.
pub const INVITE: &[u8] = include_bytes!("../data/invite.sip");

/// A REGISTER with one Contact: `benches/data/register.sip`.
pub const REGISTER: &[u8] = include_bytes!("../data/register.sip");

/// A 200 OK to an INVITE that went through two proxies (three Vias):
/// `benches/data/ok200.sip`.
pub const OK_200: &[u8] = include_bytes!("../data/ok200.sip");

/// A Request-URI with a user, port and parameters, for URI parsing.
pub const URI: &str = "sip:alice@atlanta.example.com:5060;transport=tcp;lr;maddr=239.255.255.1";
