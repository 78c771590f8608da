//! `sofia-soa`: SDP offer/answer, sofia-sip's soa and sdp modules.
//!
//! - [`SessionDescription`]: an SDP body (RFC 4566) as data, with a parser
//!   that takes host names in `o=` and `c=`, typed `a=rtpmap` and `a=fmtp`
//!   ([`MediaDescription::rtpmap`], [`MediaDescription::fmtp_params`]), every
//!   repeatable item bounded by [`Config`], and a serializer that writes CRLF
//!   lines in RFC 4566 order.
//! - [`Session`]: the offer/answer state machine of RFC 3264 for one call,
//!   driven by the user agent: [`generate_offer`](Session::generate_offer),
//!   [`process_offer`](Session::process_offer) (returning the answer),
//!   [`process_answer`](Session::process_answer), hold and resume (§8.4),
//!   streams added and removed (§8.2), late offers (an offer in a 2xx, the
//!   answer in the ACK) and re-offers, with the `o=` version raised only
//!   when the description changes.
//! - [`Capabilities`]: the local media, each a [`MediaCap`] with its
//!   [`Codec`]s (payload type, rtpmap, fmtp; telephone events of RFC 4733 are
//!   the codec `telephone-event`), port, address and [`Direction`].
//! - [`Error`]: what went wrong, with [`Error::sip_status`] giving the
//!   response (488, 491, ...).
//!
//! It does no I/O and reads no clock; the session id is passed in. State
//! changes are logged at level 5 of the `soa` module (`SOA_DEBUG=5`).
//!
//! ```
//! use sofia_soa::{Capabilities, Codec, Direction, MediaCap, Session, State};
//!
//! let alice_caps = Capabilities::new("192.0.2.1").with_media(MediaCap::audio(
//!     49170,
//!     vec![Codec::pcmu(), Codec::new(97, "iLBC", 8000), Codec::telephone_event(101)],
//! ));
//! let bob_caps = Capabilities::new("192.0.2.2").with_media(MediaCap::audio(
//!     5004,
//!     vec![Codec::new(96, "iLBC", 8000), Codec::telephone_event(100)],
//! ));
//! let mut alice = Session::new(alice_caps, 2890844526);
//! let mut bob = Session::new(bob_caps, 2808844564);
//!
//! // INVITE with an offer, 200 OK with the answer.
//! let offer = alice.generate_offer()?;
//! assert_eq!(alice.state(), State::OfferSent);
//! let answer = bob.process_offer(&offer.to_string())?;
//! alice.process_answer(&answer.to_string())?;
//! assert_eq!(alice.state(), State::Established);
//!
//! // Both use iLBC with Alice's payload type 97, and telephone events.
//! let media = &alice.negotiated()[0];
//! assert_eq!(media.codecs[0].codec.name, "iLBC");
//! assert_eq!(media.codecs[0].send_pt, 97);
//! assert!(media.telephone_event.is_some());
//! assert_eq!((media.remote_address.as_str(), media.remote_port), ("192.0.2.2", 5004));
//!
//! // Alice holds the call: her re-offer is sendonly, Bob answers recvonly.
//! alice.hold();
//! let reoffer = alice.generate_offer()?;
//! assert_eq!(reoffer.origin.version, offer.origin.version + 1);
//! let answer = bob.process_offer(&reoffer.to_string())?;
//! assert_eq!(answer.media_direction(0), Direction::RecvOnly);
//! alice.process_answer(&answer.to_string())?;
//! assert_eq!(alice.negotiated()[0].direction, Direction::SendOnly);
//!
//! // A malformed offer is answered 488.
//! let err = bob.process_offer("v=0\r\nbogus\r\n").unwrap_err();
//! assert_eq!(err.sip_status().0, 488);
//! # Ok::<(), sofia_soa::Error>(())
//! ```
#![forbid(unsafe_code)]

pub mod caps;
pub mod codec;
pub mod config;
pub mod error;
mod parse;
pub mod sdp;
pub mod session;

pub use caps::{Capabilities, MediaCap, MediaKind};
pub use codec::{Codec, RtpMap, static_codec};
pub use config::{CodecPreference, CodecSelection, Config};
pub use error::{Error, Result};
pub use sdp::{
    Attribute, Bandwidth, Connection, Direction, MediaDescription, Origin, SessionDescription,
    Timing, fmtp_params,
};
pub use session::{NegotiatedCodec, NegotiatedMedia, Session, State};
