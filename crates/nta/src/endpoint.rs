//! The sans-IO transaction engine: RFC 3261 §17 client and server
//! transactions with RFC 6026's Accepted states, driven by explicit time.

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use bytes::Bytes;
use sofia_msg::{CheckPolicy, HeaderName, Message, Method, ResponseBuilder};
use sofia_su::IdGenerator;
use sofia_su::su_log;
use sofia_tport::{Destination, Incoming, Transport};

use crate::dialog::DialogId;
use crate::due::DueQueue;
use crate::keys::{ClientKey, ClientKeys, Index, MergeKey, SentBy, ServerKey, ServerKeys, Set};
use crate::timers::Timers;

/// Identity of a client transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientId(pub u64);

/// Identity of a server transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServerId(pub u64);

/// Bytes to send and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// The destination (transport, address, connection).
    pub dest: Destination,
    /// One serialized message.
    pub bytes: Bytes,
}

/// Where a request came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// The transport.
    pub transport: Transport,
    /// The sender's address.
    pub remote: SocketAddr,
    /// Our address it arrived at.
    pub local: SocketAddr,
    /// Where responses go (RFC 3261 §18.2.2).
    pub reply: Destination,
}

/// What the engine tells its user.
#[derive(Debug)]
pub enum Event {
    /// A new request; answer it with [`Endpoint::respond`].
    Request {
        /// Its server transaction.
        server: ServerId,
        /// The request.
        msg: Message,
        /// Where it came from.
        source: Source,
    },
    /// An ACK for a 2xx (no transaction of its own, RFC 3261 §17.1.1.3), or
    /// one that reached a server transaction in the Accepted state.
    Ack {
        /// The INVITE's server transaction, while it lives.
        server: Option<ServerId>,
        /// The ACK.
        msg: Message,
        /// Where it came from.
        source: Source,
    },
    /// A CANCEL matched an INVITE server transaction; the CANCEL has been
    /// answered 200. The user answers the INVITE (487 Request Terminated).
    Cancelled {
        /// The INVITE's server transaction.
        invite: ServerId,
        /// The CANCEL.
        msg: Message,
    },
    /// A response to a client transaction (every provisional, the final one,
    /// and each further 2xx of a forked INVITE).
    Response {
        /// The client transaction.
        client: ClientId,
        /// The response.
        msg: Message,
    },
    /// A client transaction timed out (timer B, F or C): treat as 408.
    Timeout {
        /// The client transaction.
        client: ClientId,
    },
    /// A server INVITE transaction sent a non-2xx final response and no ACK
    /// came (timer H).
    NoAck {
        /// The server transaction.
        server: ServerId,
    },
    /// A transaction ended and was removed.
    Terminated {
        /// Client or server transaction.
        id: TransactionId,
    },
}

/// A client or server transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TransactionId {
    /// Client.
    Client(ClientId),
    /// Server.
    Server(ServerId),
}

/// Why an operation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A request without a top Via carrying an RFC 3261 branch.
    #[error("request has no Via with an RFC 3261 branch")]
    NoBranch,
    /// Not a request (or not a response) where one was expected.
    #[error("{0}")]
    Kind(&'static str),
    /// No such transaction (it may have ended).
    #[error("no such transaction")]
    NoTransaction,
    /// The transaction has already sent its final response.
    #[error("the transaction has already sent its final response")]
    AlreadyFinal,
    /// A response that does not belong to the transaction's request.
    #[error("response does not match the request: {0}")]
    Mismatch(&'static str),
    /// CANCEL is only for an INVITE that got a provisional response
    /// (RFC 3261 §9.1).
    #[error("CANCEL needs an INVITE client transaction that has received a provisional response")]
    CannotCancel,
}

/// Engine settings.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// The timers.
    pub timers: Timers,
    /// Option tags the user supports (a `Require` of anything else gets 420).
    pub supported: Vec<String>,
    /// Seed for branches (a random one when `None`).
    pub seed: Option<u64>,
    /// Pass requests with methods sofia-msg does not know to the user
    /// instead of answering them 501 Not Implemented (with an Allow header).
    pub accept_unknown_methods: bool,
    /// Act as a user agent (sofia-sip's `NTATAG_UA(1)`): a request with a To
    /// tag that belongs to no dialog registered with
    /// [`Endpoint::add_dialog`] is answered 481 Call/Transaction Does Not
    /// Exist (RFC 3261 §12.2.2) instead of being passed up. Off by default,
    /// as in sofia-sip: a proxy passes in-dialog requests on.
    pub ua: bool,
    /// Check requests as a proxy: `Max-Forwards: 0` on anything but OPTIONS
    /// gets 483 Too Many Hops (RFC 3261 §16.3) and `Proxy-Require` is
    /// checked instead of `Require`.
    pub proxy: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ClientState {
    /// Calling (INVITE) or Trying (non-INVITE).
    Calling,
    Proceeding,
    Completed,
    /// RFC 6026: an INVITE that got a 2xx.
    Accepted,
}

#[derive(Debug)]
struct ClientTx {
    id: ClientId,
    /// The hash of `key` in the engine's `client_keys`.
    key_hash: u64,
    invite: bool,
    state: ClientState,
    /// The request and its bytes, until a final response completes the
    /// transaction (they are not sent again): a completed transaction
    /// waits out timer K or D with its key only (a load generator keeps a
    /// million of them).
    request: Option<Message>,
    bytes: Bytes,
    dest: Destination,
    reliable: bool,
    key: ClientKeys,
    retransmit_at: Option<Instant>,
    interval: Duration,
    deadline: Option<Instant>,
    ack: Option<Bytes>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ServerState {
    /// Trying (non-INVITE) / Proceeding before any response.
    Trying,
    Proceeding,
    Completed,
    /// INVITE: the ACK came for a non-2xx.
    Confirmed,
    /// RFC 6026: the user sent a 2xx to an INVITE.
    Accepted,
}

#[derive(Debug)]
struct ServerTx {
    id: ServerId,
    /// The hash of `key` in the engine's `server_keys`.
    key_hash: u64,
    /// For a request without a To tag, the hash of its merged-request key
    /// in the engine's `merge_keys`.
    merge_hash: Option<u64>,
    /// An INVITE, for the 100 Trying sent when the user is slow. No other
    /// request is kept: the user has it, and copying its index for every
    /// transaction was a visible part of a responder's work (callgrind).
    invite: Option<Box<Message>>,
    state: ServerState,
    /// Where responses go (the rest of the request's [`Source`] went up
    /// with it).
    reply: Destination,
    /// The server key, the merged-request key, and the Call-ID and CSeq
    /// number the responses must repeat.
    keys: ServerKeys,
    last_response: Option<Bytes>,
    retransmit_at: Option<Instant>,
    interval: Duration,
    deadline: Option<Instant>,
    trying_at: Option<Instant>,
}

/// The transaction engine. Feed it received messages ([`Endpoint::handle`]),
/// the user's requests and responses, and the time; take what to send
/// ([`Endpoint::poll_transmit`]), what happened ([`Endpoint::poll_event`]) and
/// when to wake it next ([`Endpoint::poll_timeout`]). It does no I/O and reads
/// no clock.
#[derive(Debug)]
pub struct Endpoint {
    config: Config,
    ids: IdGenerator,
    next_id: u64,
    /// Transactions live in slabs: a new one takes the slot of one that
    /// ended (or the next one at the end), and an id is its slot with a
    /// serial number in the upper 32 bits, so that an id outliving its
    /// transaction finds nothing rather than the slot's next tenant.
    clients: slab::Slab<ClientTx>,
    client_keys: Index,
    servers: slab::Slab<ServerTx>,
    server_keys: Index,
    /// From tag, Call-ID and CSeq of server transactions of requests without
    /// a To tag, for merged-request detection (RFC 3261 §8.2.2.2).
    merge_keys: Index,
    /// Dialogs the user has registered, for the 481 of [`Config::ua`].
    dialogs: Set<DialogId>,
    transmits: VecDeque<Transmit>,
    events: VecDeque<Event>,
    /// When each transaction next needs the clock. An entry can be stale
    /// (the transaction moved on or ended): it then wakes the engine for
    /// nothing, which is harmless.
    timers: DueQueue<TransactionId>,
}

fn client_due(tx: &ClientTx) -> Option<Instant> {
    [tx.retransmit_at, tx.deadline].into_iter().flatten().min()
}

fn server_due(tx: &ServerTx) -> Option<Instant> {
    [tx.retransmit_at, tx.deadline, tx.trying_at]
        .into_iter()
        .flatten()
        .min()
}

/// The live client transaction `id` (a free function, so that the
/// engine's other fields stay free to borrow).
fn client_mut(clients: &mut slab::Slab<ClientTx>, id: ClientId) -> Option<&mut ClientTx> {
    let slot = usize::try_from(id.0 & 0xffff_ffff).ok()?;
    clients.get_mut(slot).filter(|tx| tx.id == id)
}

/// The live server transaction `id`.
fn server_mut(servers: &mut slab::Slab<ServerTx>, id: ServerId) -> Option<&mut ServerTx> {
    let slot = usize::try_from(id.0 & 0xffff_ffff).ok()?;
    servers.get_mut(slot).filter(|tx| tx.id == id)
}

/// What the engine reads from a request's top Via, from one parse of it.
#[derive(Debug, Clone, Default)]
struct TopVia {
    /// The top Via value (the first element of the first Via line), as
    /// offsets in the buffer.
    value: (usize, usize),
    /// The sent-by host, as offsets in the buffer (brackets of an IPv6
    /// reference kept).
    host: (usize, usize),
    port: Option<u16>,
    rport: Option<Option<u16>>,
    /// Where the name of the first rport ends, as an offset in the buffer.
    rport_name_end: usize,
    received: bool,
    maddr: Option<IpAddr>,
}

/// Offsets of `part` in `buf`, when it lies inside.
fn offsets(buf: &[u8], part: &str) -> Option<(usize, usize)> {
    let start = (part.as_ptr() as usize).wrapping_sub(buf.as_ptr() as usize);
    (start <= buf.len() && part.len() <= buf.len() - start).then_some((start, start + part.len()))
}

impl TopVia {
    /// Parses the top Via of `msg` once; `None` without a (valid) one.
    fn of(msg: &Message) -> Option<TopVia> {
        let buf: &[u8] = msg.as_bytes();
        let top = msg
            .header_lines(HeaderName::Via)
            .next()
            .and_then(|line| sofia_msg::bnf::CommaSplit::new(line).next())
            .and_then(Result::ok)?;
        let mut info = TopVia::default();
        // The first rport, received and maddr (as Via's accessors read
        // them), during the parse's pass over the parameters.
        let (mut rport, mut received, mut maddr) = (false, false, false);
        let via = sofia_msg::headers::Via::parse_with_params(top, |name, value| {
            if !rport && name.eq_ignore_ascii_case("rport") {
                rport = true;
                info.rport = Some(value.and_then(|p| p.parse().ok()));
                info.rport_name_end = offsets(buf, name).map_or(0, |(_, end)| end);
            } else if !received && name.eq_ignore_ascii_case("received") {
                received = true;
                info.received = value.is_some();
            } else if !maddr && name.eq_ignore_ascii_case("maddr") {
                maddr = true;
                info.maddr = value.and_then(|m| m.parse().ok());
            }
        })
        .ok()?;
        info.value = offsets(buf, top)?;
        info.host = offsets(buf, via.host())?;
        info.port = via.port();
        Some(info)
    }

    /// The sent-by host as written in `msg`.
    fn host<'a>(&self, msg: &'a Message) -> &'a str {
        msg.text(self.host.0..self.host.1).unwrap_or("")
    }

    /// The transaction key's sent-by, read from `msg` (the host's offsets
    /// are unchanged by [`mark_via`], which edits only the parameters); a
    /// host with upper-case letters is written in lower case into `lower`.
    fn sent_by<'a>(&self, msg: &'a Message, lower: &'a mut String) -> SentBy<'a> {
        SentBy::new(self.host(msg), self.port, lower)
    }
}

/// Where responses to a request go (RFC 3261 §18.2.2, with RFC 3581 rport):
/// back on the connection for streams; for UDP to `maddr` when given, else
/// to the source address, at the `rport` port when asked for, else at the
/// sent-by port (5060 by default).
fn reply_destination(incoming: &Incoming, via: Option<&TopVia>) -> Destination {
    let mut dest = Destination::new(incoming.transport, incoming.remote);
    dest.conn = incoming.conn;
    if incoming.transport == Transport::Udp
        && let Some(via) = via
    {
        if let Some(maddr) = via.maddr {
            dest.addr = SocketAddr::new(maddr, via.port.unwrap_or(5060));
        } else if via.rport.is_none() {
            dest.addr.set_port(via.port.unwrap_or(5060));
        }
    }
    dest
}

/// RFC 3261 §18.2.1 and RFC 3581 §4: adds `received` to the top Via of a
/// received request when its sent-by host is not the source address, and
/// fills in an empty `rport` with the source port (adding `received` too).
/// The top Via is written again with the new parameters at its end (an
/// empty rport is removed and added with its value), and the message's
/// index is shifted rather than rebuilt ([`Message::splice`]); the user's
/// responses copy the parameters (RFC 3261 §8.2.6).
fn mark_via(msg: Message, via: &TopVia, source: SocketAddr) -> Message {
    let buf = msg.as_bytes();
    let host = via.host(&msg).trim_start_matches('[').trim_end_matches(']');
    let rport_empty = matches!(via.rport, Some(None));
    let ip = IpText::of(source.ip());
    let needs_received = !via.received && (rport_empty || host.as_bytes() != ip.as_bytes());
    if !needs_received && !rport_empty {
        return msg;
    }
    let top_end = via.value.1;
    let mut port = itoa::Buffer::new();
    let port = port.format(source.port()).as_bytes();
    let received: [&[u8]; 2] = if needs_received {
        [b";received=", ip.as_bytes()]
    } else {
        [b"", b""]
    };
    // An empty rport gets its value where it stands, as sofia-sip's nta
    // writes it; received goes at the end of the value. One edit from the
    // end of the rport name to the end of the value.
    let rport_at = Some(via.rport_name_end).filter(|&at| rport_empty && at > via.value.0);
    let edited = match rport_at.and_then(|at| Some((at, buf.get(at..top_end)?))) {
        Some((at, between)) => msg.splice_parts(
            at..top_end,
            &[b"=", port, between, received[0], received[1]],
        ),
        None => msg.splice_parts(top_end..top_end, &received),
    };
    edited.unwrap_or(msg)
}

/// An address as text, on the stack; IPv4 without the formatting
/// machinery, which cost as much as the rest of [`mark_via`] (callgrind).
struct IpText {
    buf: [u8; 48],
    len: usize,
}

impl IpText {
    fn of(ip: IpAddr) -> IpText {
        let mut t = IpText {
            buf: [0; 48],
            len: 0,
        };
        match ip {
            IpAddr::V4(v4) => {
                for (i, octet) in v4.octets().into_iter().enumerate() {
                    if i > 0 {
                        t.push(b'.');
                    }
                    if octet >= 100 {
                        t.push(b'0' + octet / 100);
                    }
                    if octet >= 10 {
                        t.push(b'0' + octet / 10 % 10);
                    }
                    t.push(b'0' + octet % 10);
                }
            }
            IpAddr::V6(v6) => {
                use std::io::Write;
                let mut w: &mut [u8] = &mut t.buf;
                // The longest IPv6 text is 45 bytes: it fits.
                if write!(w, "{v6}").is_ok() {
                    t.len = 48 - w.len();
                }
            }
        }
        t
    }

    fn push(&mut self, c: u8) {
        self.buf[self.len] = c;
        self.len += 1;
    }

    fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

/// Moves everything in `queue` to the end of `out`; an empty `out` is
/// swapped with it, so that both keep their allocations.
fn take_queue<T>(queue: &mut VecDeque<T>, out: &mut VecDeque<T>) {
    if out.is_empty() {
        std::mem::swap(queue, out);
    } else {
        out.append(queue);
    }
}

impl Endpoint {
    /// A new engine.
    pub fn new(config: Config) -> Endpoint {
        let ids = match config.seed {
            Some(seed) => IdGenerator::with_seed(seed),
            None => IdGenerator::from_os(),
        };
        Endpoint {
            config,
            ids,
            next_id: 1,
            clients: slab::Slab::new(),
            client_keys: Index::default(),
            servers: slab::Slab::new(),
            server_keys: Index::default(),
            merge_keys: Index::default(),
            dialogs: Set::default(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            timers: DueQueue::new(),
        }
    }

    /// Records when a transaction next needs the clock.
    fn schedule(&mut self, id: TransactionId) {
        let due = match id {
            TransactionId::Client(c) => self.client(c).and_then(client_due),
            TransactionId::Server(s) => self.server(s).and_then(server_due),
        };
        if let Some(at) = due {
            self.timers.push(at, id);
        }
    }

    /// The timers in use.
    pub fn timers(&self) -> &Timers {
        &self.config.timers
    }

    /// A fresh RFC 3261 branch for the Via of a new request.
    pub fn new_branch(&mut self) -> String {
        self.ids.branch()
    }

    /// Registers a dialog, so that with [`Config::ua`] its in-dialog
    /// requests are passed up rather than answered 481. Returns false when it
    /// was already registered.
    pub fn add_dialog(&mut self, id: DialogId) -> bool {
        self.dialogs.insert(id)
    }

    /// Forgets a dialog registered with [`Endpoint::add_dialog`] (after a BYE,
    /// for instance). Returns false when it was not registered.
    pub fn remove_dialog(&mut self, id: &DialogId) -> bool {
        self.dialogs.remove(id)
    }

    /// How many dialogs are registered.
    pub fn dialog_count(&self) -> usize {
        self.dialogs.len()
    }

    /// A fresh tag for a From or To header.
    pub fn new_tag(&mut self) -> String {
        self.ids.tag()
    }

    /// An id for a transaction in `slot`: the slot, and a serial number
    /// (wrapping at 2^32) above it.
    fn id(&mut self, slot: usize) -> u64 {
        let serial = self.next_id & 0xffff_ffff;
        self.next_id += 1;
        (serial << 32) | (slot as u64 & 0xffff_ffff)
    }

    fn client(&self, id: ClientId) -> Option<&ClientTx> {
        let slot = usize::try_from(id.0 & 0xffff_ffff).ok()?;
        self.clients.get(slot).filter(|tx| tx.id == id)
    }

    fn server(&self, id: ServerId) -> Option<&ServerTx> {
        let slot = usize::try_from(id.0 & 0xffff_ffff).ok()?;
        self.servers.get(slot).filter(|tx| tx.id == id)
    }

    /// The slot of the live server transaction whose request has the
    /// merged-request key `key` (hashed `hash`); the key is read from the
    /// request again only for entries of the same hash.
    fn find_merged(&self, hash: u64, key: &MergeKey<'_>) -> Option<usize> {
        let servers = &self.servers;
        self.merge_keys.find(hash, |s| {
            servers
                .get(s)
                .is_some_and(|tx| tx.keys.merge().as_ref() == Some(key))
        })
    }

    /// The live server transaction with `key` (hashed `hash`).
    fn find_server(&self, hash: u64, key: &ServerKey<'_>) -> Option<ServerId> {
        let servers = &self.servers;
        self.server_keys
            .find(hash, |slot| {
                servers.get(slot).is_some_and(|tx| tx.keys.key() == *key)
            })
            .map(|slot| servers[slot].id)
    }

    fn transmit(&mut self, dest: &Destination, bytes: Bytes) {
        self.transmits.push_back(Transmit {
            dest: dest.clone(),
            bytes,
        });
    }

    /// Makes room for `transactions` more client transactions without
    /// growing the tables on the way: a load generator that knows how many
    /// transactions it starts avoids the rehash of a large table (which
    /// stalls the engine for milliseconds) in the middle of its run.
    pub fn reserve_clients(&mut self, transactions: usize) {
        self.clients.reserve(transactions);
        self.client_keys.reserve(transactions);
        self.timers.reserve(transactions);
    }

    /// Number of live client and server transactions.
    pub fn transactions(&self) -> (usize, usize) {
        (self.clients.len(), self.servers.len())
    }

    /// Starts a client transaction: sends `request` (whose top Via carries
    /// our RFC 3261 branch) to `dest`, retransmitting over UDP.
    pub fn send_request(
        &mut self,
        now: Instant,
        request: Message,
        dest: Destination,
    ) -> Result<ClientId, Error> {
        if !request.is_request() {
            return Err(Error::Kind("send_request needs a request"));
        }
        let key = match request.branch() {
            Some(b) if b.starts_with(sofia_msg::BRANCH_COOKIE) && b.len() > 7 => {
                ClientKey::of_request(&request, b)
            }
            _ => return Err(Error::NoBranch),
        };
        if request.method() == Method::Ack {
            return Err(Error::Kind("an ACK is sent with send_stateless"));
        }
        let invite = request.method() == Method::Invite;
        let reliable = dest.transport.is_stream();
        let t = self.config.timers;
        let bytes = request.to_bytes();
        let slot = self.clients.vacant_key();
        let id = ClientId(self.id(slot));
        self.transmit(&dest, bytes.clone());
        su_log!(
            NTA,
            5,
            "nta: sent {} (client {})",
            request.method_str(),
            id.0
        );
        let key_hash = self.client_keys.hash(&key);
        // A branch used again takes the key over from the transaction that
        // had it (which lives on, unreachable by responses).
        let clients = &self.clients;
        if let Some(old) = self.client_keys.find(key_hash, |s| {
            clients.get(s).is_some_and(|tx| tx.key.key() == key)
        }) {
            self.client_keys.remove(key_hash, old);
        }
        let key = ClientKeys::new(&key);
        let tx = ClientTx {
            id,
            key_hash,
            invite,
            state: ClientState::Calling,
            request: Some(request),
            bytes,
            dest,
            reliable,
            key,
            retransmit_at: (!reliable).then(|| now + t.t1),
            interval: t.t1,
            deadline: Some(now + t.t1x64()),
            ack: None,
        };
        let due = client_due(&tx);
        let slot = self.clients.insert(tx);
        self.client_keys.insert(key_hash, slot);
        if let Some(at) = due {
            self.timers.push(at, TransactionId::Client(id));
        }
        Ok(id)
    }

    /// Sends a message outside any transaction (an ACK for a 2xx, a
    /// stateless response).
    pub fn send_stateless(&mut self, msg: &Message, dest: Destination) {
        self.transmit(&dest, msg.to_bytes());
    }

    /// Sends a CANCEL for an INVITE client transaction that has received a
    /// provisional response (RFC 3261 §9.1); returns the CANCEL's own client
    /// transaction.
    pub fn cancel(&mut self, now: Instant, invite: ClientId) -> Result<ClientId, Error> {
        let tx = self.client(invite).ok_or(Error::NoTransaction)?;
        if !tx.invite || tx.state != ClientState::Proceeding {
            return Err(Error::CannotCancel);
        }
        let req = tx.request.as_ref().ok_or(Error::CannotCancel)?;
        let mut b = sofia_msg::RequestBuilder::new(
            Method::Cancel,
            req.request_uri_str().unwrap_or("sip:invalid"),
        );
        if let Some(via) = req.header_lines(HeaderName::Via).next() {
            b = b.header(HeaderName::Via, via);
        }
        for name in [HeaderName::Route] {
            for v in req.header_lines(name) {
                b = b.header(name, v);
            }
        }
        b = b.header(HeaderName::MaxForwards, "70");
        for name in [HeaderName::From, HeaderName::To, HeaderName::CallId] {
            if let Some(v) = req.header(name) {
                b = b.header(name, v);
            }
        }
        let seq = req.cseq().map_or(1, |c| c.0);
        b = b.header(HeaderName::CSeq, &format!("{seq} CANCEL"));
        let cancel = b.build().map_err(|_| Error::Kind("cannot build CANCEL"))?;
        let dest = tx.dest.clone();
        self.send_request(now, cancel, dest)
    }

    /// Answers a server transaction. Provisional responses may come before
    /// the final one; a 2xx to an INVITE moves it to Accepted (RFC 6026),
    /// where the user retransmits the 2xx until the ACK comes.
    pub fn respond(
        &mut self,
        now: Instant,
        server: ServerId,
        response: Message,
    ) -> Result<(), Error> {
        let t = self.config.timers;
        let tx = server_mut(&mut self.servers, server).ok_or(Error::NoTransaction)?;
        let status = response
            .status()
            .ok_or(Error::Kind("respond needs a response"))?;
        if response.cseq().map(|c| c.0) != Some(tx.keys.cseq())
            || response.call_id().map(str::as_bytes) != Some(tx.keys.call_id())
        {
            return Err(Error::Mismatch("Call-ID or CSeq differ"));
        }
        let bytes = response.into_bytes();
        let dest = tx.reply.clone();
        match tx.state {
            ServerState::Trying | ServerState::Proceeding => {}
            ServerState::Accepted if status / 100 == 2 => {
                // The user retransmits its 2xx (RFC 6026 §7.1).
                self.transmits.push_back(Transmit { dest, bytes });
                return Ok(());
            }
            _ => return Err(Error::AlreadyFinal),
        }
        tx.trying_at = None;
        // The copy kept for retransmissions is exactly as large as the
        // response: a builder's buffer has room to spare (512 bytes for a
        // 300-byte 200), and sharing it also allocates its reference
        // count. A pending transaction's memory is most of a responder's
        // page faults (perf).
        tx.last_response = Some(Bytes::copy_from_slice(&bytes));
        let unreliable = !tx.reply.transport.is_stream();
        if status < 200 {
            tx.state = ServerState::Proceeding;
        } else if tx.invite.is_some() && status < 300 {
            tx.state = ServerState::Accepted;
            tx.retransmit_at = None;
            tx.deadline = Some(now + t.t1x64());
        } else if tx.invite.is_some() {
            tx.state = ServerState::Completed;
            tx.interval = t.t1;
            tx.retransmit_at = unreliable.then(|| now + t.t1);
            tx.deadline = Some(now + t.t1x64());
        } else {
            tx.state = ServerState::Completed;
            tx.retransmit_at = None;
            tx.deadline = Some(if unreliable { now + t.t1x64() } else { now });
        }
        su_log!(NTA, 5, "nta: server {} sent {}", server.0, status);
        self.transmits.push_back(Transmit { dest, bytes });
        self.schedule(TransactionId::Server(server));
        if !unreliable && status >= 200 {
            // J is 0 over streams: the transaction ends now.
            self.handle_timeout(now);
        }
        Ok(())
    }

    /// Takes a message received by the transport layer.
    pub fn handle(&mut self, now: Instant, incoming: Incoming) {
        if incoming.msg.is_request() {
            self.handle_request(now, incoming);
        } else {
            self.handle_response(now, incoming.msg);
        }
    }

    fn handle_response(&mut self, now: Instant, msg: Message) {
        let t = self.config.timers;
        let key = ClientKey::new(&msg, msg.branch().unwrap_or(""));
        let hash = self.client_keys.hash(&key);
        let clients = &self.clients;
        let Some(slot) = self.client_keys.find(hash, |s| {
            clients.get(s).is_some_and(|tx| tx.key.key() == key)
        }) else {
            su_log!(
                NTA,
                5,
                "nta: stray response {} dropped",
                msg.status().unwrap_or(0)
            );
            return;
        };
        let tx = &mut self.clients[slot];
        let id = tx.id;
        let status = msg.status().unwrap_or(0);
        match (tx.state, status) {
            (ClientState::Calling | ClientState::Proceeding, 100..=199) => {
                tx.state = ClientState::Proceeding;
                if tx.invite {
                    tx.retransmit_at = None;
                    tx.deadline = t.timer_c.map(|c| now + c);
                } else if tx.retransmit_at.is_some() {
                    tx.interval = t.t2;
                }
                self.events.push_back(Event::Response { client: id, msg });
            }
            (ClientState::Calling | ClientState::Proceeding, 200..=299) if tx.invite => {
                tx.state = ClientState::Accepted;
                tx.retransmit_at = None;
                tx.deadline = Some(now + t.t1x64());
                self.events.push_back(Event::Response { client: id, msg });
            }
            (ClientState::Accepted, 200..=299) => {
                // RFC 6026: every 2xx (forks, retransmissions) goes up.
                self.events.push_back(Event::Response { client: id, msg });
            }
            (ClientState::Calling | ClientState::Proceeding, 200..=699) => {
                tx.state = ClientState::Completed;
                tx.retransmit_at = None;
                let request = tx.request.take();
                tx.bytes = Bytes::new();
                if tx.invite {
                    let ack = request.and_then(|r| build_ack(&r, &msg));
                    if let Some(ack) = &ack {
                        self.transmits.push_back(Transmit {
                            dest: tx.dest.clone(),
                            bytes: ack.clone(),
                        });
                    }
                    tx.ack = ack;
                    tx.deadline = Some(if tx.reliable { now } else { now + t.timer_d() });
                } else {
                    tx.deadline = Some(if tx.reliable { now } else { now + t.t4 });
                }
                self.events.push_back(Event::Response { client: id, msg });
            }
            (ClientState::Completed, 300..=699) if tx.invite => {
                // A retransmitted final response: ACK again.
                if let Some(ack) = &tx.ack {
                    self.transmits.push_back(Transmit {
                        dest: tx.dest.clone(),
                        bytes: ack.clone(),
                    });
                }
            }
            _ => {}
        }
        self.schedule(TransactionId::Client(id));
        // Deadlines of now (reliable transports) end the transaction at once.
        self.handle_timeout(now);
    }

    fn handle_request(&mut self, now: Instant, incoming: Incoming) {
        // The top Via is parsed once here; its reply address, the marks of
        // mark_via and the transaction key all come from this parse.
        let via = TopVia::of(&incoming.msg);
        let source = Source {
            transport: incoming.transport,
            remote: incoming.remote,
            local: incoming.local,
            reply: reply_destination(&incoming, via.as_ref()),
        };
        if let Some(e) = &incoming.oversized {
            // Over a size or header-count limit: answered 513 without a
            // transaction, never processed (RFC 3261 §21.5.14).
            let (status, reason) = e.status();
            su_log!(
                NTA,
                5,
                "nta: {} answered statelessly {} {} ({})",
                incoming.msg.method_str(),
                status,
                reason,
                e
            );
            if let Ok(resp) =
                ResponseBuilder::reply_to(&incoming.msg, status, &reason, Some(&self.ids.tag()))
                    .build()
            {
                self.transmit(&source.reply, resp.into_bytes());
            }
            return;
        }
        let msg = match &via {
            Some(via) => mark_via(incoming.msg, via, incoming.remote),
            None => incoming.msg,
        };
        let mut lower = String::new();
        let sent_by = match &via {
            Some(via) => via.sent_by(&msg, &mut lower),
            None => SentBy::none(),
        };
        let key = ServerKey::new(&msg, sent_by);
        let key_hash = self.server_keys.hash(&key);
        let method = msg.method();
        if let Some(id) = self.find_server(key_hash, &key) {
            let Some(tx) = server_mut(&mut self.servers, id) else {
                return;
            };
            if method == Method::Ack {
                match tx.state {
                    ServerState::Completed => {
                        tx.state = ServerState::Confirmed;
                        tx.retransmit_at = None;
                        let unreliable = !tx.reply.transport.is_stream();
                        tx.deadline = Some(if unreliable {
                            now + self.config.timers.t4
                        } else {
                            now
                        });
                        self.schedule(TransactionId::Server(id));
                        self.handle_timeout(now);
                    }
                    ServerState::Accepted => self.events.push_back(Event::Ack {
                        server: Some(id),
                        msg,
                        source,
                    }),
                    _ => {}
                }
                return;
            }
            // A retransmission: re-send the last response, if any.
            if let Some(last) = &tx.last_response
                && tx.state != ServerState::Accepted
            {
                self.transmits.push_back(Transmit {
                    dest: tx.reply.clone(),
                    bytes: last.clone(),
                });
            }
            return;
        }
        if method == Method::Ack {
            // The ACK of a 2xx: it belongs to the dialog, not a transaction.
            self.events.push_back(Event::Ack {
                server: None,
                msg,
                source,
            });
            return;
        }
        let supported: Vec<&str> = self.config.supported.iter().map(String::as_str).collect();
        let policy = CheckPolicy {
            supported: &supported,
            proxy: self.config.proxy,
        };
        // The top Via was parsed (successfully) above, and the parameters
        // mark_via added for an IPv4 source (`received`, `rport`) are
        // valid: not again. An IPv6 `received` gets the full check.
        let checked = if via.is_some() && source.remote.is_ipv4() {
            msg.check_with_parsed_top_via(&policy)
        } else {
            msg.check_with(&policy)
        };
        if let Err(r) = checked {
            su_log!(
                NTA,
                5,
                "nta: {} answered statelessly {} {}",
                msg.method_str(),
                r.status,
                r.reason
            );
            let mut b = ResponseBuilder::reply_to(&msg, r.status, &r.reason, Some(&self.ids.tag()));
            if !r.unsupported.is_empty() {
                b = b.header(HeaderName::Unsupported, &r.unsupported.join(", "));
            }
            if let Ok(resp) = b.build() {
                self.transmit(&source.reply, resp.into_bytes());
            }
            return;
        }
        if method == Method::Other && !self.config.accept_unknown_methods {
            let allow = Method::KNOWN.map(Method::as_str).join(", ");
            if let Ok(resp) =
                ResponseBuilder::reply_to(&msg, 501, "Not Implemented", Some(&self.ids.tag()))
                    .header(HeaderName::Allow, &allow)
                    .build()
            {
                self.transmit(&source.reply, resp.into_bytes());
            }
            return;
        }
        if method == Method::Cancel {
            let invite_key = key.with_invite();
            let tag = self.ids.tag();
            let invite = self.find_server(self.server_keys.hash(&invite_key), &invite_key);
            let (status, reason) = match invite {
                Some(_) => (200, "OK"),
                None => (481, "Call/Transaction Does Not Exist"),
            };
            let merge = MergeKey::new(&msg)
                .filter(|_| msg.to_tag().is_none())
                .map(|m| (self.merge_keys.hash(&m), m));
            let cancel_id =
                self.new_server(now, &msg, source.reply.clone(), (key_hash, &key), merge);
            if let Ok(resp) = ResponseBuilder::reply_to(&msg, status, reason, Some(&tag)).build() {
                let _ = self.respond(now, cancel_id, resp);
            }
            if let Some(invite) = invite {
                let pending = self.server(invite).is_some_and(|t| {
                    matches!(t.state, ServerState::Trying | ServerState::Proceeding)
                });
                if pending {
                    self.events.push_back(Event::Cancelled { invite, msg });
                }
            }
            return;
        }
        // RFC 3261 §12.2.2: a UAS answers a request for a dialog it does not
        // know 481, through a server transaction so that retransmissions
        // get the same answer.
        if self.config.ua
            && let Some(local_tag) = msg.to_tag()
        {
            let id = DialogId {
                call_id: msg.call_id().unwrap_or_default().to_owned(),
                local_tag: local_tag.to_owned(),
                remote_tag: msg.from_tag().unwrap_or_default().to_owned(),
            };
            if !self.dialogs.contains(&id) {
                su_log!(
                    NTA,
                    5,
                    "nta: {} for no known dialog answered 481",
                    msg.method_str()
                );
                let tx = self.new_server(now, &msg, source.reply, (key_hash, &key), None);
                if let Ok(resp) =
                    ResponseBuilder::reply_to(&msg, 481, "Call/Transaction Does Not Exist", None)
                        .build()
                {
                    let _ = self.respond(now, tx, resp);
                }
                return;
            }
        }
        // RFC 3261 §8.2.2.2: a request without a To tag whose From tag,
        // Call-ID and CSeq match a transaction in progress, but which is not
        // a retransmission of it, arrived by another path: 482.
        let merge = if msg.to_tag().is_none() {
            MergeKey::new(&msg)
        } else {
            None
        };
        let merge = merge.map(|m| (self.merge_keys.hash(&m), m));
        if let Some((hash, merge)) = &merge
            && self.find_merged(*hash, merge).is_some()
        {
            su_log!(NTA, 5, "nta: merged {} answered 482", msg.method_str());
            if let Ok(resp) =
                ResponseBuilder::reply_to(&msg, 482, "Loop Detected", Some(&self.ids.tag())).build()
            {
                self.transmit(&source.reply, resp.into_bytes());
            }
            return;
        }
        let id = self.new_server(now, &msg, source.reply.clone(), (key_hash, &key), merge);
        su_log!(
            NTA,
            5,
            "nta: received {} (server {})",
            msg.method_str(),
            id.0
        );
        self.events.push_back(Event::Request {
            server: id,
            msg,
            source,
        });
    }

    fn new_server(
        &mut self,
        now: Instant,
        request: &Message,
        reply: Destination,
        (key_hash, key): (u64, &ServerKey<'_>),
        merge: Option<(u64, MergeKey<'_>)>,
    ) -> ServerId {
        let slot = self.servers.vacant_key();
        let id = ServerId(self.id(slot));
        let invite = (request.method() == Method::Invite).then(|| Box::new(request.clone()));
        if let Some((hash, m)) = &merge {
            // A request of the same From tag, Call-ID and CSeq takes the key
            // over (the 482 check above lets none through while the earlier
            // transaction lives; a CANCEL's key is its own).
            if let Some(old) = self.find_merged(*hash, m) {
                self.merge_keys.remove(*hash, old);
            }
            self.merge_keys.insert(*hash, slot);
        }
        let trying_at = invite
            .is_some()
            .then(|| now + self.config.timers.trying_after);
        let tx = ServerTx {
            id,
            key_hash,
            merge_hash: merge.map(|(hash, _)| hash),
            keys: ServerKeys::new(request, key, merge.as_ref().map(|(_, m)| m)),
            invite,
            state: ServerState::Trying,
            reply,
            last_response: None,
            retransmit_at: None,
            interval: self.config.timers.t1,
            deadline: None,
            trying_at,
        };
        let due = server_due(&tx);
        self.servers.insert(tx);
        self.server_keys.insert(key_hash, slot);
        if let Some(at) = due {
            self.timers.push(at, TransactionId::Server(id));
        }
        id
    }

    /// The next message to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next event for the user.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Every message to send, in order, into `out` (which should be
    /// empty; the two queues are swapped, so that each keeps its
    /// allocation): what [`Endpoint::poll_transmit`] would return one by
    /// one, without moving each out on its own.
    pub fn take_transmits(&mut self, out: &mut VecDeque<Transmit>) {
        take_queue(&mut self.transmits, out);
    }

    /// Every event, in order, into `out`, as [`Endpoint::take_transmits`]
    /// does with the messages. An event is as large as a message and its
    /// source (hundreds of bytes): moving each one out and into the
    /// caller's queue was a visible part of a responder's copying (perf).
    pub fn take_events(&mut self, out: &mut VecDeque<Event>) {
        take_queue(&mut self.events, out);
    }

    /// When [`Endpoint::handle_timeout`] must run next.
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        // Drop stale entries: every change of a transaction's times pushed a
        // fresh entry, so an entry that no longer matches is obsolete.
        while let Some((at, id)) = self.timers.peek() {
            let due = match id {
                TransactionId::Client(c) => self.client(c).and_then(client_due),
                TransactionId::Server(s) => self.server(s).and_then(server_due),
            };
            if due == Some(at) {
                return Some(at);
            }
            self.timers.pop();
        }
        None
    }

    /// Runs every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        let mut due = Vec::new();
        while let Some((at, id)) = self.timers.peek() {
            if at > now {
                break;
            }
            self.timers.pop();
            due.push(id);
        }
        due.sort_unstable();
        due.dedup();
        for id in due {
            let ended = match id {
                TransactionId::Client(c) => self.client_timers(c, now),
                TransactionId::Server(s) => self.server_timers(s, now),
            };
            if ended {
                self.remove(id);
            } else {
                self.schedule(id);
            }
        }
    }

    /// Runs a client transaction's due timers; true when it ends.
    fn client_timers(&mut self, id: ClientId, now: Instant) -> bool {
        let t = self.config.timers;
        let Some(tx) = client_mut(&mut self.clients, id) else {
            return false;
        };
        if let Some(at) = tx.retransmit_at
            && at <= now
        {
            // Timer A (doubling) or E (doubling up to T2; T2 in Proceeding).
            self.transmits.push_back(Transmit {
                dest: tx.dest.clone(),
                bytes: tx.bytes.clone(),
            });
            tx.interval = if tx.invite {
                tx.interval * 2
            } else if tx.state == ClientState::Proceeding {
                t.t2
            } else {
                (tx.interval * 2).min(t.t2)
            };
            tx.retransmit_at = Some(now + tx.interval);
        }
        if let Some(at) = tx.deadline
            && at <= now
        {
            if matches!(tx.state, ClientState::Calling | ClientState::Proceeding) {
                // Timer B, F or C.
                su_log!(NTA, 5, "nta: client {} timed out", id.0);
                self.events.push_back(Event::Timeout { client: id });
            }
            return true;
        }
        false
    }

    /// Runs a server transaction's due timers; true when it ends.
    fn server_timers(&mut self, id: ServerId, now: Instant) -> bool {
        let t = self.config.timers;
        let Some(tx) = server_mut(&mut self.servers, id) else {
            return false;
        };
        if let Some(at) = tx.trying_at
            && at <= now
        {
            tx.trying_at = None;
            if tx.state == ServerState::Trying
                && let Some(Ok(trying)) = tx
                    .invite
                    .as_ref()
                    .map(|req| ResponseBuilder::reply_to(req, 100, "Trying", None).build())
            {
                let bytes = trying.into_bytes();
                tx.state = ServerState::Proceeding;
                tx.last_response = Some(bytes.clone());
                self.transmits.push_back(Transmit {
                    dest: tx.reply.clone(),
                    bytes,
                });
            }
        }
        if let Some(at) = tx.retransmit_at
            && at <= now
        {
            // Timer G: the final response again, doubling up to T2.
            if let Some(last) = &tx.last_response {
                self.transmits.push_back(Transmit {
                    dest: tx.reply.clone(),
                    bytes: last.clone(),
                });
            }
            tx.interval = (tx.interval * 2).min(t.t2);
            tx.retransmit_at = Some(now + tx.interval);
        }
        if let Some(at) = tx.deadline
            && at <= now
        {
            if tx.invite.is_some() && tx.state == ServerState::Completed {
                // Timer H: no ACK came.
                self.events.push_back(Event::NoAck { server: id });
            }
            return true;
        }
        false
    }

    fn remove(&mut self, id: TransactionId) {
        match id {
            TransactionId::Client(c) => {
                if self.client(c).is_some() {
                    let slot = (c.0 & 0xffff_ffff) as usize;
                    let tx = self.clients.remove(slot);
                    // Absent when a newer transaction took the key over.
                    self.client_keys.remove(tx.key_hash, slot);
                    self.events.push_back(Event::Terminated { id });
                }
            }
            TransactionId::Server(s) => {
                if self.server(s).is_some() {
                    let slot = (s.0 & 0xffff_ffff) as usize;
                    let tx = self.servers.remove(slot);
                    self.server_keys.remove(tx.key_hash, slot);
                    if let Some(hash) = tx.merge_hash {
                        self.merge_keys.remove(hash, slot);
                    }
                    self.events.push_back(Event::Terminated { id });
                }
            }
        }
    }
}

/// The ACK for a non-2xx final response (RFC 3261 §17.1.1.3): Request-URI,
/// top Via, From, Call-ID, Route of the request, To of the response, CSeq
/// with the same number and ACK.
fn build_ack(request: &Message, response: &Message) -> Option<Bytes> {
    let mut b = sofia_msg::RequestBuilder::new(Method::Ack, request.request_uri_str()?);
    b = b.header(
        HeaderName::Via,
        request.header_lines(HeaderName::Via).next()?,
    );
    for route in request.header_lines(HeaderName::Route) {
        b = b.header(HeaderName::Route, route);
    }
    b = b
        .header(HeaderName::MaxForwards, "70")
        .header(HeaderName::From, request.header(HeaderName::From)?)
        .header(HeaderName::To, response.header(HeaderName::To)?)
        .header(HeaderName::CallId, request.call_id()?)
        .header(HeaderName::CSeq, &format!("{} ACK", request.cseq()?.0));
    b.build().ok().map(Message::into_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_text_matches_display() {
        for ip in [
            "0.0.0.0",
            "127.0.0.1",
            "10.20.100.255",
            "192.0.2.9",
            "::1",
            "2001:db8::7",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            assert_eq!(IpText::of(ip).as_bytes(), ip.to_string().as_bytes());
        }
        let longest: IpAddr = "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255"
            .parse()
            .unwrap();
        assert_eq!(
            IpText::of(longest).as_bytes(),
            longest.to_string().as_bytes()
        );
    }
}
