//! SIP digest authentication (RFC 3261 §22, RFC 2617, RFC 7616, RFC 8760):
//! sofia-sip's iptsec, server and client.
//!
//! - [`AuthModule`] (sofia-sip's `auth_module`): challenges a request with
//!   401/`WWW-Authenticate` or 407/`Proxy-Authenticate`, one challenge per
//!   configured algorithm (SHA-512-256, SHA-256, MD5 and their `-sess`
//!   variants) with `qop` `auth`/`auth-int` and `opaque`; verifies
//!   credentials against a [`CredentialStore`] (passwords or precomputed
//!   `HA1`s) with constant-time comparison; nonces carry their issue time and
//!   an HMAC ([`NonceKey`]), so they need no server state, and an expired one
//!   with otherwise right credentials is challenged again with `stale=true`;
//!   nonce counts are remembered in a bounded table, so a replayed `nc` is
//!   refused; failures are counted per source address and a source over the
//!   limit is answered 403 for a cooling period ([`Lockout`]). ACK and CANCEL
//!   are never challenged. The realm follows FreeSWITCH's `challenge-realm`
//!   ([`RealmPolicy`]).
//! - [`AuthClient`] (sofia-sip's `auth_client`): answers one or more
//!   challenges (401 and 407 together) with the strongest algorithm both
//!   sides speak, with a fresh cnonce and an incrementing nonce count, keeps
//!   each realm's nonce for later requests, retries once on `stale=true`, and
//!   says when no credentials fit a realm or when they were rejected.
//!
//! Both are sans-IO: the server is given the wall-clock time and the
//! request's source address, and returns a [`Verdict`].
//!
//! `IPTSEC_DEBUG=5` logs challenges and verdicts (never a password or an
//! `HA1`); lock-outs are logged at level 3.
//!
//! ```
//! use std::net::{IpAddr, Ipv4Addr};
//! use std::time::SystemTime;
//!
//! use bytes::Bytes;
//! use sofia_iptsec::{AuthClient, AuthModule, Config, MemoryStore, Verdict};
//! use sofia_msg::{Message, RequestBuilder, Method, HeaderName};
//!
//! let register = |auth: &[(HeaderName, String)]| {
//!     let mut b = RequestBuilder::new(Method::Register, "sip:example.com")
//!         .header(HeaderName::Via, "SIP/2.0/UDP 127.0.0.1;branch=z9hG4bK1")
//!         .header(HeaderName::From, "<sip:alice@example.com>;tag=1")
//!         .header(HeaderName::To, "<sip:alice@example.com>")
//!         .header(HeaderName::CallId, "c1")
//!         .header(HeaderName::CSeq, "1 REGISTER");
//!     for (name, value) in auth {
//!         b = b.header(*name, value);
//!     }
//!     b.build().unwrap()
//! };
//! let mut store = MemoryStore::new();
//! store.add_password("alice", None, "secret");
//! let mut server = AuthModule::new(Config::default(), store);
//! let mut client = AuthClient::new();
//! client.add_credentials(None, "alice", "secret");
//! let (now, source) = (SystemTime::now(), IpAddr::V4(Ipv4Addr::LOCALHOST));
//!
//! // No credentials: 401 with a challenge per algorithm.
//! let req = register(&[]);
//! let verdict = server.verify(now, source, &req);
//! let challenge = verdict.response(&req, Some("t1")).unwrap().unwrap();
//! assert_eq!(challenge.status(), Some(401));
//!
//! // The client answers it; the server accepts.
//! assert!(client.handle_response(&challenge).unwrap());
//! let req = register(&client.authorize("REGISTER", "sip:example.com", b""));
//! assert!(matches!(server.verify(now, source, &req), Verdict::Authorized { .. }));
//! ```
#![forbid(unsafe_code)]

mod client;
pub mod digest;
mod nonce;
mod server;
mod store;

pub use client::{AuthClient, ClientError};
pub use digest::{Algorithm, HashFamily, Qop, ha1};
pub use nonce::{NONCE_LEN, NonceCheck, NonceKey};
pub use server::{AuthModule, ChallengeKind, Config, Lockout, RealmPolicy, Refusal, Verdict};
pub use store::{CredentialStore, MemoryStore, Secret};
