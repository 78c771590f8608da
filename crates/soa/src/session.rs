//! The offer/answer state machine (RFC 3264) and the negotiation rules.

use std::fmt;

use sofia_su::su_log;

use crate::caps::{Capabilities, MediaCap, MediaKind};
use crate::codec::Codec;
use crate::config::{CodecPreference, CodecSelection, Config};
use crate::error::{Error, Result};
use crate::sdp::{
    Attribute, Connection, Direction, MediaDescription, Origin, SessionDescription, Timing,
    addr_type_of,
};

/// Where a [`Session`] stands in the offer/answer model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// No offer or answer has been exchanged.
    NoSession,
    /// A local offer is out; an answer is awaited ([`Session::process_answer`]).
    OfferSent,
    /// A remote offer is in; an answer is to be made
    /// ([`Session::generate_answer`]).
    OfferReceived,
    /// The last exchange completed: the answer was sent or received and the
    /// media of [`Session::negotiated`] are in force.
    Established,
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            State::NoSession => "no session",
            State::OfferSent => "offer sent",
            State::OfferReceived => "offer received",
            State::Established => "established",
        })
    }
}

/// A codec both sides agreed on, with the payload type each direction uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NegotiatedCodec {
    /// The codec (name, clock, channels, and the local fmtp).
    pub codec: Codec,
    /// Payload type of packets this side sends (the number the peer listed).
    pub send_pt: u8,
    /// Payload type of packets this side receives (the number this side
    /// listed).
    pub recv_pt: u8,
}

/// One active media stream after an exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NegotiatedMedia {
    /// Index of the m-line.
    pub index: usize,
    /// Media type.
    pub kind: MediaKind,
    /// Transport protocol.
    pub proto: String,
    /// Local port.
    pub local_port: u16,
    /// The peer's address for this stream (its media or session `c=`).
    pub remote_address: String,
    /// The peer's port.
    pub remote_port: u16,
    /// The direction from this side's point of view (`sendonly`: this side
    /// sends, the peer holds the call or only receives).
    pub direction: Direction,
    /// The common codecs, in the order of the answer, without telephone
    /// events.
    pub codecs: Vec<NegotiatedCodec>,
    /// RFC 4733 telephone events, when both sides have them.
    pub telephone_event: Option<NegotiatedCodec>,
}

/// One m-line of the session as this side sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Slot {
    /// Local capability serving it, if any.
    cap: Option<usize>,
    /// False when this side writes port 0 for it.
    enabled: bool,
    /// Disabled by [`Session::remove_media`]: stays disabled.
    removed: bool,
    /// The m-line this side last wrote for it (kept for port-0 lines).
    last: MediaDescription,
}

/// A local offer that is out, with the m-line plan it stands for.
#[derive(Debug, Clone)]
struct PendingOffer {
    sdp: SessionDescription,
    slots: Vec<Slot>,
}

/// The session description state machine of one call: sofia-sip's soa.
///
/// Sans-IO: it takes and returns descriptions and never blocks; the session
/// id comes from the caller. See the [crate documentation](crate) for the
/// flows.
#[derive(Debug, Clone)]
pub struct Session {
    config: Config,
    caps: Capabilities,
    state: State,
    session_id: u64,
    /// Version of the first description, then the highest version written.
    sent_version: u64,
    written: bool,
    hold: bool,
    /// m-lines held one by one ([`Session::hold_media`]).
    held_media: Vec<usize>,
    slots: Vec<Slot>,
    /// Capabilities to add as new m-lines in the next offer.
    queued: Vec<usize>,
    local: Option<SessionDescription>,
    remote: Option<SessionDescription>,
    pending_offer: Option<PendingOffer>,
    remote_offer: Option<SessionDescription>,
    /// The state before the pending offer, for rollback.
    before_offer: State,
    negotiated: Vec<NegotiatedMedia>,
}

/// The largest first `o=` version RFC 3264 §5 allows: 2^62 - 2.
const MAX_FIRST_VERSION: u64 = (1 << 62) - 2;

impl Session {
    /// A session with these capabilities, the default [`Config`], and a
    /// session id (use a random one, such as
    /// `sofia_su::IdGenerator::u64()`). RFC 3264 §5 wants both numbers to
    /// fit a signed 64-bit integer and the first version below 2^62 - 1: the
    /// id is kept to its low 62 bits, and the first version equals it, as in
    /// RFC 3264's examples.
    pub fn new(caps: Capabilities, session_id: u64) -> Session {
        Session::with_config(caps, session_id, Config::DEFAULT)
    }

    /// A session with its own configuration.
    pub fn with_config(caps: Capabilities, session_id: u64, config: Config) -> Session {
        let session_id = (session_id & ((1 << 62) - 1)).min(MAX_FIRST_VERSION);
        let queued = (0..caps.media.len()).collect();
        Session {
            config,
            caps,
            state: State::NoSession,
            session_id,
            sent_version: session_id,
            written: false,
            hold: false,
            held_media: Vec::new(),
            slots: Vec::new(),
            queued,
            local: None,
            remote: None,
            pending_offer: None,
            remote_offer: None,
            before_offer: State::NoSession,
            negotiated: Vec::new(),
        }
    }

    /// Sets the version of the first description (default: the session id).
    /// It has no effect once a description has been written.
    pub fn set_initial_version(&mut self, version: u64) {
        if !self.written {
            self.sent_version = version.min(MAX_FIRST_VERSION);
        }
    }

    /// The current state.
    pub fn state(&self) -> State {
        self.state
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The local capabilities.
    pub fn capabilities(&self) -> &Capabilities {
        &self.caps
    }

    /// The local capability serving m-line `index`, to change its port,
    /// codecs or direction for the next offer or answer (RFC 4317 §2.2: a
    /// second offer narrowed to one codec).
    pub fn media_cap_mut(&mut self, index: usize) -> Option<&mut MediaCap> {
        let cap = match self.slots.get(index) {
            Some(slot) => slot.cap?,
            None => *self.queued.get(index - self.slots.len())?,
        };
        self.caps.media.get_mut(cap)
    }

    /// The last description this side sent (offer or answer) in a completed
    /// exchange.
    pub fn local_sdp(&self) -> Option<&SessionDescription> {
        self.local.as_ref()
    }

    /// The last description the peer sent in a completed exchange.
    pub fn remote_sdp(&self) -> Option<&SessionDescription> {
        self.remote.as_ref()
    }

    /// The active media streams of the last completed exchange: those with a
    /// non-zero port on both sides.
    pub fn negotiated(&self) -> &[NegotiatedMedia] {
        &self.negotiated
    }

    /// True while this side holds the whole call ([`Session::hold`]).
    pub fn is_held(&self) -> bool {
        self.hold
    }

    /// True while this side holds m-line `index`, alone or with the call.
    pub fn is_media_held(&self, index: usize) -> bool {
        self.hold || self.held_media.contains(&index)
    }

    /// Holds m-line `index` alone for the next offer (and answers), as
    /// [`Session::hold`] does for every stream (RFC 4317 §3.2).
    pub fn hold_media(&mut self, index: usize) {
        if !self.held_media.contains(&index) {
            self.held_media.push(index);
        }
        su_log!(SOA, 5, "soa: hold media {index}");
    }

    /// Takes m-line `index` off hold (a call-wide [`Session::hold`] stays).
    pub fn resume_media(&mut self, index: usize) {
        self.held_media.retain(|&i| i != index);
        su_log!(SOA, 5, "soa: resume media {index}");
    }

    /// Puts the call on hold for the next offer (and answers): RFC 3264
    /// §8.4, a `sendrecv` stream becomes `sendonly` and a `recvonly` one
    /// `inactive`.
    pub fn hold(&mut self) {
        self.hold = true;
        su_log!(SOA, 5, "soa: hold");
    }

    /// Takes the call off hold for the next offer (and answers): the streams
    /// get their capabilities' directions again.
    pub fn resume(&mut self) {
        self.hold = false;
        self.held_media.clear();
        su_log!(SOA, 5, "soa: resume");
    }

    /// Adds a media stream to the next offer (RFC 3264 §8.2) and returns the
    /// index its m-line will have. Fails while an exchange is in progress.
    pub fn add_media(&mut self, cap: MediaCap) -> Result<usize> {
        self.check_idle()?;
        self.caps.media.push(cap);
        self.queued.push(self.caps.media.len() - 1);
        let index = self.slots.len() + self.queued.len() - 1;
        su_log!(SOA, 5, "soa: media {index} added");
        Ok(index)
    }

    /// Disables m-line `index` from the next offer on: it is written with
    /// port 0 (RFC 3264 §8.2) and rejected when the peer offers it again.
    pub fn remove_media(&mut self, index: usize) -> Result<()> {
        self.check_idle()?;
        if let Some(slot) = self.slots.get_mut(index) {
            slot.removed = true;
            slot.enabled = false;
        } else if index - self.slots.len() < self.queued.len() {
            self.queued.remove(index - self.slots.len());
        } else {
            return Err(Error::NoSuchStream(index));
        }
        su_log!(SOA, 5, "soa: media {index} removed");
        Ok(())
    }

    fn check_idle(&self) -> Result<()> {
        match self.state {
            State::OfferSent | State::OfferReceived => Err(Error::OfferPending),
            State::NoSession | State::Established => Ok(()),
        }
    }

    fn set_state(&mut self, state: State) {
        if self.state != state {
            su_log!(SOA, 5, "soa: state {} -> {}", self.state, state);
        }
        self.state = state;
    }

    /// The direction this side wants for m-line `index` served by a
    /// capability, after hold.
    fn local_direction(&self, index: usize, cap: &MediaCap) -> Direction {
        if self.is_media_held(index) {
            Direction::from_flags(cap.direction.sends(), false)
        } else {
            cap.direction
        }
    }

    /// Makes an offer: the m-lines of the session in order (disabled ones
    /// with port 0), then the streams added since, then, in the first offer,
    /// every capability. State: [`State::OfferSent`].
    ///
    /// Errors: [`Error::OfferPending`] while an offer, local or remote, is
    /// unanswered.
    pub fn generate_offer(&mut self) -> Result<SessionDescription> {
        self.check_idle()?;
        let mut slots = self.slots.clone();
        for &cap in &self.queued {
            if self.caps.media.get(cap).is_none_or(|c| c.codecs.is_empty()) {
                su_log!(
                    SOA,
                    3,
                    "soa: media capability {cap} has no codec, not offered"
                );
                continue;
            }
            slots.push(Slot {
                cap: Some(cap),
                enabled: true,
                removed: false,
                last: MediaDescription::new("", 0, "", Vec::new()),
            });
        }
        let mut media = Vec::with_capacity(slots.len());
        for (i, slot) in slots.iter_mut().enumerate() {
            let cap = slot.cap.and_then(|c| self.caps.media.get(c));
            let m = match cap {
                Some(cap) if slot.enabled && cap.port != 0 && !cap.codecs.is_empty() => {
                    let dir = self.local_direction(i, cap);
                    self.media_line(cap, &cap.codecs, dir)
                }
                Some(cap) if slot.last.media.is_empty() => {
                    let mut m = self.media_line(cap, &cap.codecs, Direction::SendRecv);
                    disable(&mut m);
                    m
                }
                _ => {
                    let mut m = slot.last.clone();
                    disable(&mut m);
                    m
                }
            };
            slot.enabled = m.port != 0;
            slot.last = m.clone();
            media.push(m);
        }
        let sdp = self.stamp(media);
        self.before_offer = self.state;
        self.pending_offer = Some(PendingOffer {
            sdp: sdp.clone(),
            slots,
        });
        self.set_state(State::OfferSent);
        Ok(sdp)
    }

    /// Takes the peer's answer to the pending offer (RFC 3264 §7): it must
    /// have the offer's m-lines in order, with the same media types and
    /// transports, port 0 where the offer had it, and for each accepted
    /// stream at least one offered codec (dynamic payload types matched by
    /// encoding). State: [`State::Established`].
    ///
    /// On error the state and the pending offer stay as they were.
    pub fn process_answer(&mut self, answer: &str) -> Result<()> {
        if self.state != State::OfferSent {
            return Err(Error::NoOfferPending);
        }
        let Some(pending) = self.pending_offer.as_ref() else {
            return Err(Error::NoOfferPending);
        };
        let answer = SessionDescription::parse_with(answer, &self.config)?;
        let offer = &pending.sdp;
        if answer.media.len() != offer.media.len() {
            return Err(Error::AnswerMismatch(format!(
                "{} m-lines for {} offered",
                answer.media.len(),
                offer.media.len()
            )));
        }
        let mut negotiated = Vec::new();
        for (i, (om, am)) in offer.media.iter().zip(&answer.media).enumerate() {
            if !om.media.eq_ignore_ascii_case(&am.media)
                || !om.proto.eq_ignore_ascii_case(&am.proto)
            {
                return Err(Error::AnswerMismatch(format!(
                    "m-line {i} is {} {} for {} {} offered",
                    am.media, am.proto, om.media, om.proto
                )));
            }
            if am.port == 0 {
                continue;
            }
            if om.port == 0 {
                return Err(Error::AnswerMismatch(format!(
                    "m-line {i} accepted although offered with port 0"
                )));
            }
            let Some(conn) = answer.media_connection(i) else {
                return Err(Error::malformed(0, format!("no c= line for m-line {i}")));
            };
            let mut codecs = Vec::new();
            for f in &am.formats {
                let Some(theirs) = Codec::from_media(am, f) else {
                    continue;
                };
                let ours = om
                    .formats
                    .iter()
                    .filter_map(|of| Codec::from_media(om, of))
                    .find(|c| c.same_encoding(&theirs));
                if let Some(ours) = ours {
                    codecs.push(NegotiatedCodec {
                        send_pt: theirs.pt,
                        recv_pt: ours.pt,
                        codec: ours,
                    });
                }
            }
            if codecs.is_empty() && is_rtp(&om.proto) {
                return Err(Error::AnswerMismatch(format!(
                    "m-line {i} has no codec of the offer"
                )));
            }
            let ours = offer.media_direction(i);
            let theirs = answer.media_direction(i);
            let direction = Direction::from_flags(
                ours.sends() && theirs.receives(),
                ours.receives() && theirs.sends(),
            );
            negotiated.push(negotiated_media(i, om, conn, am.port, direction, codecs));
        }
        let Some(pending) = self.pending_offer.take() else {
            return Err(Error::NoOfferPending);
        };
        let mut slots = pending.slots;
        for (slot, am) in slots.iter_mut().zip(&answer.media) {
            if am.port == 0 {
                slot.enabled = false;
            }
        }
        self.slots = slots;
        self.queued.clear();
        self.local = Some(pending.sdp);
        self.remote = Some(answer);
        self.negotiated = negotiated;
        su_log!(
            SOA,
            5,
            "soa: answer received, {} active media",
            self.negotiated.len()
        );
        self.set_state(State::Established);
        Ok(())
    }

    /// Takes a remote offer (initial, late in a 2xx, or a re-offer) and
    /// keeps it for [`generate_answer`](Session::generate_answer). State:
    /// [`State::OfferReceived`].
    ///
    /// Errors: malformed SDP; [`Error::MediaLinesRemoved`] for a re-offer
    /// with fewer m-lines than the session; [`Error::OfferPending`] while
    /// an offer is unanswered (glare: answer 491).
    pub fn receive_offer(&mut self, offer: &str) -> Result<()> {
        self.check_idle()?;
        let offer = SessionDescription::parse_with(offer, &self.config)?;
        if offer.media.len() < self.slots.len() {
            return Err(Error::MediaLinesRemoved {
                offered: offer.media.len(),
                previous: self.slots.len(),
            });
        }
        for (i, m) in offer.media.iter().enumerate() {
            if m.port != 0 && offer.media_connection(i).is_none() {
                return Err(Error::malformed(0, format!("no c= line for m-line {i}")));
            }
        }
        self.before_offer = self.state;
        self.remote_offer = Some(offer);
        self.set_state(State::OfferReceived);
        Ok(())
    }

    /// Answers the offer taken by [`receive_offer`](Session::receive_offer)
    /// (RFC 3264 §6): one m-line per offered one, in order; port 0 for
    /// streams offered with port 0, of unknown type or transport, without a
    /// common codec, or removed locally; the common codecs with the
    /// offerer's payload types, in the order of
    /// [`Config::codec_preference`]; directions per §6.1. State:
    /// [`State::Established`].
    ///
    /// Errors: [`Error::NoRemoteOffer`]; [`Error::NoCommonCodec`] when every
    /// offered stream has to be rejected, after which the offer is dropped
    /// and the state is as before it.
    pub fn generate_answer(&mut self) -> Result<SessionDescription> {
        if self.state != State::OfferReceived {
            return Err(Error::NoRemoteOffer);
        }
        let Some(offer) = self.remote_offer.take() else {
            return Err(Error::NoRemoteOffer);
        };
        let (slots, media, negotiated) = match self.answer_for(&offer) {
            Ok(parts) => parts,
            Err(e) => {
                su_log!(SOA, 3, "soa: offer refused: {e}");
                let before = self.before_offer;
                self.set_state(before);
                return Err(e);
            }
        };
        let answer = self.stamp(media);
        self.slots = slots;
        self.queued.clear();
        self.local = Some(answer.clone());
        self.remote = Some(offer);
        self.negotiated = negotiated;
        su_log!(
            SOA,
            5,
            "soa: answer sent, {} active media",
            self.negotiated.len()
        );
        self.set_state(State::Established);
        Ok(answer)
    }

    /// The answer's m-lines to an offer, with the slot plan and the
    /// negotiated media they stand for.
    #[allow(clippy::type_complexity)]
    fn answer_for(
        &self,
        offer: &SessionDescription,
    ) -> Result<(Vec<Slot>, Vec<MediaDescription>, Vec<NegotiatedMedia>)> {
        let mut slots: Vec<Slot> = Vec::with_capacity(offer.media.len());
        let mut media = Vec::with_capacity(offer.media.len());
        let mut negotiated = Vec::new();
        let mut offered_active = 0;
        for (i, om) in offer.media.iter().enumerate() {
            let old = self.slots.get(i);
            let removed = old.is_some_and(|s| s.removed);
            if om.port != 0 {
                offered_active += 1;
            }
            let choice = if om.port == 0 || removed {
                None
            } else {
                self.choose_cap(i, om, &slots)
            };
            let slot_cap = choice.as_ref().map(|c| c.0).or(old.and_then(|s| s.cap));
            let Some((cap_index, codecs)) = choice else {
                if om.port != 0 {
                    su_log!(
                        SOA,
                        5,
                        "soa: rejecting m-line {i} ({} {})",
                        om.media,
                        om.proto
                    );
                }
                let mut m = om.clone();
                disable(&mut m);
                slots.push(Slot {
                    cap: slot_cap,
                    enabled: false,
                    removed,
                    last: m.clone(),
                });
                media.push(m);
                continue;
            };
            let Some(cap) = self.caps.media.get(cap_index) else {
                return Err(Error::NoSuchStream(i));
            };
            let wanted = self.local_direction(i, cap);
            let offered = offer.media_direction(i);
            let direction = Direction::from_flags(
                offered.receives() && wanted.sends(),
                offered.sends() && wanted.receives(),
            );
            let chosen: Vec<Codec> = codecs.iter().map(|(_, answer)| answer.clone()).collect();
            let mut m = self.media_line(cap, &chosen, direction);
            m.proto = om.proto.clone();
            m.media = om.media.clone();
            let conn = offer
                .media_connection(i)
                .ok_or_else(|| Error::malformed(0, format!("no c= line for m-line {i}")))?;
            let agreed = codecs
                .iter()
                .map(|(local, answer)| NegotiatedCodec {
                    codec: Codec {
                        pt: answer.pt,
                        ..local.clone()
                    },
                    send_pt: answer.pt,
                    recv_pt: answer.pt,
                })
                .collect();
            negotiated.push(negotiated_media(i, &m, conn, om.port, direction, agreed));
            slots.push(Slot {
                cap: Some(cap_index),
                enabled: true,
                removed: false,
                last: m.clone(),
            });
            media.push(m);
        }
        if offered_active > 0 && negotiated.is_empty() {
            return Err(Error::NoCommonCodec);
        }
        Ok((slots, media, negotiated))
    }

    /// [`receive_offer`](Session::receive_offer) then
    /// [`generate_answer`](Session::generate_answer): takes an offer and
    /// returns the answer. On error the offer is dropped and the state is as
    /// before it.
    pub fn process_offer(&mut self, offer: &str) -> Result<SessionDescription> {
        self.receive_offer(offer)?;
        self.generate_answer()
    }

    /// Drops the pending offer, local or remote (a re-INVITE that failed or
    /// was answered 491), and returns to the state before it. The session
    /// keeps the media of the last completed exchange.
    pub fn rollback(&mut self) {
        if matches!(self.state, State::OfferSent | State::OfferReceived) {
            self.pending_offer = None;
            self.remote_offer = None;
            let before = self.before_offer;
            su_log!(SOA, 5, "soa: offer dropped");
            self.set_state(before);
        }
    }

    /// Picks the local capability for offered m-line `i` and the common
    /// codecs as (local codec, codec as written in the answer) pairs.
    fn choose_cap(
        &self,
        i: usize,
        om: &MediaDescription,
        taken: &[Slot],
    ) -> Option<(usize, Vec<(Codec, Codec)>)> {
        let usable = |c: usize| -> Option<(usize, Vec<(Codec, Codec)>)> {
            let cap = self.caps.media.get(c)?;
            if cap.port == 0
                || !cap.kind.matches(&om.media)
                || !cap.proto.eq_ignore_ascii_case(&om.proto)
            {
                return None;
            }
            let codecs = self.common_codecs(cap, om);
            (!codecs.is_empty()).then_some((c, codecs))
        };
        if let Some(found) = self.slots.get(i).and_then(|s| s.cap).and_then(&usable) {
            return Some(found);
        }
        let busy = |c: usize| {
            taken.iter().any(|s| s.enabled && s.cap == Some(c))
                || self
                    .slots
                    .iter()
                    .skip(i + 1)
                    .any(|s| s.enabled && s.cap == Some(c))
        };
        (0..self.caps.media.len())
            .filter(|&c| !busy(c))
            .find_map(&usable)
    }

    /// The codecs of an offered m-line that the capability has, as (local,
    /// answer) pairs in the configured order. The answer codec carries the
    /// offer's payload type and encoding name and the local fmtp.
    fn common_codecs(&self, cap: &MediaCap, om: &MediaDescription) -> Vec<(Codec, Codec)> {
        let offered: Vec<Codec> = om
            .formats
            .iter()
            .filter_map(|f| Codec::from_media(om, f))
            .collect();
        let pair = |local: &Codec, theirs: &Codec| {
            (
                local.clone(),
                Codec {
                    pt: theirs.pt,
                    name: theirs.name.clone(),
                    clock: theirs.clock,
                    channels: theirs.channels,
                    fmtp: local.fmtp.clone(),
                },
            )
        };
        let mut out: Vec<(Codec, Codec)> = Vec::new();
        match self.config.codec_preference {
            CodecPreference::Offerer => {
                for theirs in &offered {
                    if let Some(local) = cap.codecs.iter().find(|l| l.same_encoding(theirs))
                        && !out.iter().any(|(_, a)| a.pt == theirs.pt)
                    {
                        out.push(pair(local, theirs));
                    }
                }
            }
            CodecPreference::Local => {
                for local in &cap.codecs {
                    if let Some(theirs) = offered
                        .iter()
                        .find(|t| t.same_encoding(local) && !out.iter().any(|(_, a)| a.pt == t.pt))
                    {
                        out.push(pair(local, theirs));
                    }
                }
            }
        }
        if self.config.codec_selection == CodecSelection::First {
            let mut first = false;
            out.retain(|(l, _)| {
                if l.is_telephone_event() || l.is_comfort_noise() {
                    true
                } else if first {
                    false
                } else {
                    first = true;
                    true
                }
            });
        }
        out
    }

    /// An m-line for a capability with these codecs and direction.
    fn media_line(&self, cap: &MediaCap, codecs: &[Codec], dir: Direction) -> MediaDescription {
        let formats = codecs.iter().map(|c| c.pt.to_string()).collect();
        let mut m = MediaDescription::new(cap.kind.as_str(), cap.port, &cap.proto, formats);
        if let Some(addr) = &cap.address
            && *addr != self.caps.address
        {
            m.connections.push(Connection::new(addr));
        }
        for c in codecs {
            m.attributes
                .push(Attribute::new("rtpmap", c.rtpmap().to_string()));
            if let Some(f) = &c.fmtp {
                m.attributes
                    .push(Attribute::new("fmtp", format!("{} {f}", c.pt)));
            }
        }
        m.attributes.extend(cap.attributes.iter().cloned());
        if dir != Direction::SendRecv {
            m.attributes.push(Attribute::flag(dir.as_str()));
        }
        m
    }

    /// A whole description around these m-lines, with the version of RFC
    /// 3264 §8: the last one's when nothing changed, else one more than any
    /// written so far.
    fn stamp(&mut self, media: Vec<MediaDescription>) -> SessionDescription {
        let mut sdp = SessionDescription {
            origin: Origin {
                username: self.caps.username.clone(),
                session_id: self.session_id.to_string(),
                version: self.sent_version,
                net_type: "IN".into(),
                addr_type: addr_type_of(&self.caps.address).into(),
                address: self.caps.address.clone(),
            },
            session_name: self.caps.session_name.clone(),
            info: None,
            uri: None,
            emails: Vec::new(),
            phones: Vec::new(),
            connection: Some(Connection::new(&self.caps.address)),
            bandwidths: Vec::new(),
            timing: vec![Timing {
                start: 0,
                stop: 0,
                repeats: Vec::new(),
            }],
            zone: None,
            key: None,
            attributes: Vec::new(),
            media,
        };
        match &self.local {
            Some(last) if sdp.same_session(last) => sdp.origin.version = last.origin.version,
            _ if self.written => {
                self.sent_version = (self.sent_version + 1).min(i64::MAX as u64);
                sdp.origin.version = self.sent_version;
            }
            _ => {}
        }
        self.written = true;
        sdp
    }
}

/// Makes an m-line a disabled one: port 0, no connection, only the rtpmap
/// and fmtp lines kept.
fn disable(m: &mut MediaDescription) {
    m.port = 0;
    m.port_count = None;
    m.info = None;
    m.key = None;
    m.connections.clear();
    m.bandwidths.clear();
    m.attributes
        .retain(|a| a.name == "rtpmap" || a.name == "fmtp");
}

fn is_rtp(proto: &str) -> bool {
    proto.to_ascii_uppercase().starts_with("RTP/")
}

fn negotiated_media(
    index: usize,
    local: &MediaDescription,
    remote_conn: &Connection,
    remote_port: u16,
    direction: Direction,
    codecs: Vec<NegotiatedCodec>,
) -> NegotiatedMedia {
    let (te, codecs): (Vec<_>, Vec<_>) = codecs
        .into_iter()
        .partition(|c| c.codec.is_telephone_event());
    NegotiatedMedia {
        index,
        kind: MediaKind::parse(&local.media),
        proto: local.proto.clone(),
        local_port: local.port,
        remote_address: remote_conn.address.clone(),
        remote_port,
        direction,
        codecs,
        telephone_event: te.into_iter().next(),
    }
}
