//! SIP event server (RFC 6665 SUBSCRIBE/NOTIFY): sofia-sip's nea, the
//! notifier mod_sofia serves presence and message-waiting indication with.
//!
//! [`Notifier`] is sans-IO: it takes SUBSCRIBE requests with the time and
//! answers them (200, 202 for a pending subscription, 489 with
//! `Allow-Events` for an unknown package, 423 with `Min-Expires`, 403 from
//! the authorization hook, 481 for a refresh of an unknown subscription, 503
//! with `Retry-After` past the limits), keeps each subscription's dialog,
//! and queues the NOTIFYs it owes: the immediate one with the current state
//! and `Subscription-State: active;expires=N` (or `pending`), one on every
//! refresh, one per state change to every subscriber of the resource
//! ([`Notifier::set_state`]) at most once per `min_notify_interval`, and the
//! final `terminated` ones on unsubscribe, expiry (`reason=timeout`) and
//! rejection (`reason=rejected`). A NOTIFY answered 481, 408 or not at all
//! ends its subscription.
//!
//! One NOTIFY per subscription is outstanding at a time, so they arrive in
//! CSeq order. A SUBSCRIBE merged with the one that made a live
//! subscription (same Call-ID, From tag and CSeq, no To tag) gets 482 and
//! makes no second subscription.
//!
//! [`Server`] is the tokio driver: the notifier on a `sofia-nta` [`Agent`].
//! The application hands it the SUBSCRIBEs it receives
//! ([`Server::handle`] gives other requests back) or the whole request
//! stream ([`Server::serve`]); the driver answers them, sends each NOTIFY as a
//! client transaction in the subscription's dialog to its RFC 3263 next hop,
//! feeds the outcomes back and runs the timers on the real clock.
//!
//! Packages: [`Presence`] (`application/pidf+xml`, RFC 3863) and
//! [`MessageSummary`] (RFC 3842); others implement [`Package`].
//!
//! [`Agent`]: sofia_nta::Agent
//!
//! `NEA_DEBUG=5` logs every subscription's life: created, refreshed,
//! approved, rejected, expired, ended, and each NOTIFY. See `docs/nea.md`.
//!
//! ```
//! use std::time::Instant;
//! use sofia_msg::{HeaderName, Method, RequestBuilder};
//! use sofia_nea::{Config, Decision, Notifier, Presence};
//!
//! let mut nea = Notifier::new(Config::default());
//! nea.add_package(Box::new(Presence));
//! let subscribe = RequestBuilder::new(Method::Subscribe, "sip:alice@example.com")
//!     .header(HeaderName::Via, "SIP/2.0/UDP 192.0.2.9;branch=z9hG4bK1")
//!     .header(HeaderName::From, "<sip:bob@example.com>;tag=b1")
//!     .header(HeaderName::To, "<sip:alice@example.com>")
//!     .header(HeaderName::CallId, "sub1")
//!     .header(HeaderName::CSeq, "1 SUBSCRIBE")
//!     .header(HeaderName::Contact, "<sip:bob@192.0.2.9>")
//!     .header(HeaderName::Event, "presence")
//!     .header(HeaderName::Expires, "600")
//!     .build()
//!     .unwrap();
//! let now = Instant::now();
//! let ok = nea.handle_subscribe(now, &subscribe, "n1", |_| Decision::Accept).unwrap();
//! assert_eq!(ok.status(), Some(200));
//! let notify = nea.poll_notify(now, || "SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK2".into()).unwrap();
//! assert_eq!(
//!     notify.request.header(HeaderName::SubscriptionState),
//!     Some("active;expires=600")
//! );
//! ```
#![forbid(unsafe_code)]

mod notifier;
pub mod package;
mod server;

pub use notifier::{Config, Decision, Error, Notifier, Notify, SubId, SubState, SubscriptionInfo};
pub use package::{MessageSummary, Package, Presence};
pub use server::{EVENT_QUEUE, Server, ServerEvent};
