//! `sofia-nua`: the SIP user agent, sofia-sip's nua, in its idiom: a
//! [`Nua`] owns the transports and the transaction engine, [`Handle`]s take
//! commands, and everything that happens comes back on one stream of
//! [`Event`]s named as sofia-sip names them (`r_register`, `i_message`, ...).
//!
//! What it does now:
//!
//! - REGISTER (RFC 3261 §10.2) with [`Handle::register`],
//!   [`Handle::unregister`] and [`Handle::unregister_all`]: digest
//!   authentication through `sofia-iptsec`'s `AuthClient`, 423 retried with
//!   `Min-Expires`, refresh before expiry ([`refresh_delay`]), the contact
//!   rewritten when the registrar sees us behind a NAT (`received`/`rport`).
//!   The logic is the sans-IO [`RegistrationState`].
//! - MESSAGE (RFC 3428) and OPTIONS with [`Handle::message`] and
//!   [`Handle::options`], challenges answered.
//! - Incoming MESSAGE and OPTIONS outside a dialog are answered 200 OK and
//!   reported (`i_message`, `i_options`); a request with a To tag gets 481,
//!   ACK nothing, any other method 405 with `Allow: MESSAGE, OPTIONS`
//!   (methods the transaction engine does not know get its 501).
//!
//! Calls (INVITE), PRACK, session timers, REFER, SUBSCRIBE and PUBLISH are
//! not part of it yet; [`EventKind`] is `#[non_exhaustive]` for them.
//!
//! `NUA_DEBUG=5` logs every command, event and registration state change.
//!
//! ```no_run
//! use sofia_nua::{Config, Credentials, EventKind, Nua};
//!
//! # async fn demo() -> Result<(), sofia_nua::Error> {
//! let config = Config {
//!     bind: vec!["sip:192.0.2.10:5060".into()],
//!     credentials: vec![Credentials::new("alice", "secret")],
//!     ..Config::default()
//! };
//! let (nua, mut events) = Nua::new(config).await?;
//! let alice = nua.handle("sip:alice@example.com")?;
//! alice.register(Some(600))?;
//! while let Some(event) = events.recv().await {
//!     println!("{event}"); // r_register #1: 200 OK
//!     if event.kind == EventKind::RRegister && (200..300).contains(&event.status) {
//!         nua.handle("sip:bob@example.com")?.message("text/plain", "hello")?;
//!     }
//!     if event.kind == EventKind::RMessage {
//!         break;
//!     }
//! }
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]

mod config;
mod error;
mod event;
pub mod register;
mod ua;

pub use config::{Config, Credentials};
pub use error::Error;
pub use event::{Event, EventKind, HandleId};
pub use register::{RegistrationState, refresh_delay};
pub use ua::{ACCEPT, ALLOW, Handle, Nua};
