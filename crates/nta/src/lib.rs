//! `sofia-nta`: the SIP transaction layer, sofia-sip's nta, as a sans-IO
//! engine.
//!
//! [`Endpoint`] implements RFC 3261 §17's client and server transactions
//! (INVITE and non-INVITE) with RFC 6026's Accepted states: retransmissions
//! over UDP (timers A, E, G doubling from T1, capped at T2 where the RFC
//! says), timeouts (B, F, H, and timer C), the wait states (D, I, J, K, L,
//! M), absorption of retransmitted requests with the last response sent
//! again, ACK for non-2xx final responses built by the client transaction,
//! CANCEL matched to its INVITE (481 when there is none), 100 Trying when the
//! user has not answered an INVITE within 200 ms, matching per §17.1.3 and
//! §17.2.3 with the RFC 2543 fallback, response routing per §18.2.2 and RFC
//! 3581, and stateless answers from `sofia-msg`'s check (400 naming the bad
//! header, 505, 416, 420 with Unsupported), 501 with Allow for unknown
//! methods (configurable), and 513 for requests over tport's size or
//! header-count limit (`Incoming::oversized`).
//!
//! [`dialog::Dialog`] keeps a dialog's state (RFC 3261 §12: route set, remote
//! target, CSeq numbers) and builds in-dialog requests with loose and strict
//! routing.
//!
//! [`resolve::Resolver`] turns a SIP URI into the RFC 3263 list of targets
//! (NAPTR, SRV, A/AAAA with hickory-resolver).
//!
//! [`Agent::request_with_failover`] walks that list, moving to the next
//! target when a transaction times out or gets 503 (RFC 3263 §4.3).
//!
//! Merged requests (RFC 3261 §8.2.2.2) are answered 482. With
//! [`Config::ua`] (sofia-sip's `NTATAG_UA`), a request with a To tag whose
//! dialog the user has not registered ([`Endpoint::add_dialog`] with a
//! [`dialog::DialogId`]) is answered 481 (RFC 3261 §12.2.2); with
//! [`Config::proxy`], `Max-Forwards: 0` gets 483 (RFC 3261 §16.3).
//!
//! It performs no I/O and reads no clock: every call takes `now`, and the
//! user takes [`Transmit`]s to send, [`Event`]s, and the next wake-up time.
//! Every timer is therefore testable in virtual time. [`Agent`] is the tokio
//! driver that binds an endpoint to a `sofia-tport` transport and the real
//! clock.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use sofia_msg::{HeaderName, Method, RequestBuilder};
//! use sofia_nta::{Config, Endpoint};
//! use sofia_tport::{Destination, Transport};
//!
//! let mut ep = Endpoint::new(Config { seed: Some(1), ..Config::default() });
//! let now = Instant::now();
//! let branch = ep.new_branch();
//! let req = RequestBuilder::new(Method::Options, "sip:bob@127.0.0.1")
//!     .header(HeaderName::Via, &format!("SIP/2.0/UDP 127.0.0.1:5060;branch={branch}"))
//!     .header(HeaderName::From, "<sip:alice@127.0.0.1>;tag=1")
//!     .header(HeaderName::To, "<sip:bob@127.0.0.1>")
//!     .header(HeaderName::CallId, "c1")
//!     .header(HeaderName::CSeq, "1 OPTIONS")
//!     .build()
//!     .unwrap();
//! let dest = Destination::new(Transport::Udp, "127.0.0.1:5062".parse().unwrap());
//! ep.send_request(now, req, dest).unwrap();
//! assert!(ep.poll_transmit().is_some());
//! // Over UDP the request is sent again after T1.
//! assert_eq!(ep.poll_timeout(), Some(now + Duration::from_millis(500)));
//! ```
#![forbid(unsafe_code)]

mod agent;
pub mod dialog;
mod due;
mod endpoint;
mod keys;
pub mod resolve;
mod timers;

pub use agent::{Agent, AgentEvent, ClientEvent, Handler, ServerRequest};
pub use endpoint::{
    ClientId, Config, Endpoint, Error, Event, ServerId, Source, TransactionId, Transmit,
};
pub use timers::Timers;
