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
//! - SUBSCRIBE/NOTIFY (RFC 6665) with [`Handle::subscribe`] and
//!   [`Handle::unsubscribe`]: the dialog made by the 2xx or by a NOTIFY
//!   that overtakes it, NOTIFYs of other forks answered 481, refresh before
//!   expiry, 423 and digest retries, `terminated` reasons honoured, timer N
//!   (`r_subscribe`, `r_unsubscribe`, `i_notify` with [`Event::substate`]).
//!   The logic is the sans-IO [`SubscriptionState`].
//! - PUBLISH (RFC 3903) with [`Handle::publish`] and [`Handle::unpublish`]:
//!   refresh and modification with `SIP-If-Match`, 412 answered by
//!   publishing again, 423 and digest retries (`r_publish`,
//!   `r_unpublish`). The logic is the sans-IO [`PublicationState`].
//! - Incoming MESSAGE and OPTIONS outside a dialog are answered 200 OK and
//!   reported (`i_message`, `i_options`); a request with a To tag gets 481,
//!   ACK nothing, any other method 405 with `Allow: MESSAGE, OPTIONS`
//!   (methods the transaction engine does not know get its 501).
//!
//! Calls (INVITE), PRACK, session timers and REFER are not part of it
//! yet; [`EventKind`] is `#[non_exhaustive]` for them.
//!
//! `NUA_DEBUG=5` logs every command, event and registration, subscription
//! and publication state change.
//!
//! Two user agents on 127.0.0.1: one sends a MESSAGE, the other reports
//! it and answers 200 OK.
//!
//! ```
//! use sofia_nua::{Config, EventKind, Nua};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
//! rt.block_on(async {
//!     let (alice, mut alice_events) = Nua::new(Config::default()).await?;
//!     let (bob, mut bob_events) = Nua::new(Config::default()).await?;
//!     let bob_addr = bob.listeners()[0].1;
//!
//!     let to_bob = alice.handle(&format!("sip:bob@{bob_addr}"))?;
//!     to_bob.message("text/plain", "hello")?;
//!
//!     let received = bob_events.recv().await.ok_or("bob stopped")?;
//!     assert_eq!(received.kind, EventKind::IMessage);
//!     assert_eq!(received.message.as_ref().map(|m| m.body_bytes()), Some(&b"hello"[..]));
//!
//!     let answered = alice_events.recv().await.ok_or("alice stopped")?;
//!     assert_eq!(answered.kind, EventKind::RMessage);
//!     assert_eq!(answered.to_string(), format!("r_message {}: 200 OK", to_bob.id()));
//!
//!     // A registration: `alice.handle("sip:alice@example.com")?.register(Some(600))?`
//!     // with `Config::credentials` set, then `r_register` events.
//!     // A subscription: `alice.handle("sip:bob@example.com")?.subscribe("presence",
//!     // Some("application/pidf+xml"), Some(600))?`, then `r_subscribe` and an
//!     // `i_notify` (with `Event::substate`) for each NOTIFY.
//!     Ok::<_, Box<dyn std::error::Error>>(())
//! })
//! # }
//! ```
#![forbid(unsafe_code)]

pub mod call;
mod config;
mod error;
mod event;
pub mod publish;
pub mod register;
pub mod subscribe;
mod ua;

pub use call::{Call, CallState};
pub use config::{Config, Credentials, DEFAULT_RTP_PORT, default_media};
pub use error::Error;
pub use event::{Event, EventKind, HandleId};
pub use publish::PublicationState;
pub use register::{RegistrationState, refresh_delay};
pub use subscribe::{SubState, SubscriptionState};
pub use ua::{ACCEPT, ALLOW, Handle, Nua};
