//! `sofia-nua`: the SIP user agent, sofia-sip's nua, in its idiom: a
//! [`Nua`] owns the transports and the transaction engine, [`Handle`]s take
//! commands, and everything that happens comes back on one stream of
//! [`Event`]s named as sofia-sip names them (`r_register`, `i_message`, ...).
//!
//! What it does:
//!
//! - Calls (RFC 3261 INVITE sessions) with [`Handle::invite`] and, for an
//!   incoming `i_invite`, [`Nua::handle_of`] and [`Handle::respond`]: SDP
//!   offer/answer through `sofia-soa` (offer in the INVITE or a late offer
//!   in the 2xx), provisional responses and early media, CANCEL, BYE,
//!   re-INVITE ([`Handle::hold`], [`Handle::reinvite`]), UPDATE (RFC 3311),
//!   INFO, reliable provisional responses and PRACK (RFC 3262), session
//!   timers (RFC 4028), glare (491 and the RFC's retry interval), the UAS
//!   core retransmitting its 2xx until the ACK and the UAC ACKing every
//!   2xx, forked 2xx responses ACKed and ended with BYE, REFER (RFC 3515,
//!   [`Handle::refer`], [`Handle::refer_notify`]) and `Replaces` (RFC 3891)
//!   on incoming INVITEs, digest challenges answered. The logic is the
//!   sans-IO [`Call`]; call states are sofia-sip's ([`CallState`], reported
//!   as `i_state` events).
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
//!   reported (`i_message`, `i_options`); a request for a dialog we do not
//!   have gets 481 (from the user agent's task: a NOTIFY may come before
//!   the 2xx of its SUBSCRIBE, in a dialog not known yet), as does a NOTIFY
//!   outside a dialog that matches no subscription; ACK gets nothing, any
//!   other method 405 with Allow (methods the transaction engine does not
//!   know get its 501).
//!
//! `NUA_DEBUG=5` logs every command, event and state change.
//!
//! A complete UAS and UAC on 127.0.0.1: Bob answers every call and hangs
//! up when the caller does; Alice calls, waits for the answer, hangs up.
//!
//! ```
//! use sofia_nua::{CallState, Config, EventKind, Nua};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
//! rt.block_on(async {
//!     // UAS: ring, then answer with the SDP answer soa made.
//!     let (bob, mut bob_events) = Nua::new(Config::default()).await?;
//!     let bob_uri = format!("sip:bob@{}", bob.listeners()[0].1);
//!     tokio::spawn(async move {
//!         while let Some(ev) = bob_events.recv().await {
//!             if ev.kind == EventKind::IInvite && ev.status == 100 {
//!                 let call = bob.handle_of(ev.handle);
//!                 call.respond(180, "Ringing").ok();
//!                 call.respond(200, "OK").ok();
//!             }
//!         }
//!     });
//!
//!     // UAC: call, hang up once established, stop when it is over.
//!     let (alice, mut events) = Nua::new(Config::default()).await?;
//!     let call = alice.handle(&bob_uri)?;
//!     call.invite()?;
//!     let mut seen = Vec::new();
//!     while let Some(ev) = events.recv().await {
//!         seen.push(ev.to_string());
//!         match ev.state {
//!             Some(CallState::Ready) => call.bye()?,
//!             Some(CallState::Terminated) => break,
//!             _ => {}
//!         }
//!     }
//!     assert!(seen.contains(&format!("r_invite {}: 180 Ringing", call.id())));
//!     assert!(seen.contains(&format!("r_bye {}: 200 OK", call.id())));
//!     Ok::<_, Box<dyn std::error::Error>>(())
//! })
//! # }
//! ```
//!
//! A MESSAGE: `alice.handle(uri)?.message("text/plain", "hello")?` gives an
//! `r_message` event; the receiver gets `i_message` and answers 200 OK. A
//! registration: `alice.handle("sip:alice@example.com")?.register(Some(600))?`
//! with [`Config::credentials`] set, then `r_register` events. A
//! subscription: `alice.handle("sip:bob@example.com")?.subscribe("presence",
//! Some("application/pidf+xml"), Some(600))?`, then `r_subscribe` and an
//! `i_notify` (with [`Event::substate`]) for each NOTIFY; a publication:
//! `publish("presence", "application/pidf+xml", pidf, Some(600))`, then
//! `r_publish`.
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
