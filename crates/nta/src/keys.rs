//! Keys of the engine's transaction tables, in maps with a fast keyed
//! hasher. A message is looked up by a key borrowed from it (no string is
//! built per message); a transaction keeps a compact copy of its keys.

use sofia_msg::{Message, Method};

/// The hasher of every table of the engine.
///
/// Branches, Call-IDs and tags are chosen by the peer, so the tables need a
/// hasher an attacker cannot aim collisions at (HashDoS). foldhash is keyed
/// here with seeds from the operating system's random source (one shared
/// seed per process, one more per table), like std's SipHash, so colliding
/// keys cannot be computed offline; foldhash's own default seeds come from
/// address-space layout and the clock only, hence the explicit ones. It
/// hashes a 30-byte branch in a fraction of SipHash's time (SipHash would
/// be 6 % of a stateful responder's instructions under callgrind). The
/// tables are bounded by the timers besides.
#[derive(Debug, Clone)]
pub(crate) struct State(foldhash::quality::SeedableRandomState);

impl Default for State {
    fn default() -> State {
        static SHARED: std::sync::OnceLock<foldhash::SharedSeed> = std::sync::OnceLock::new();
        let shared = SHARED.get_or_init(|| foldhash::SharedSeed::from_u64(rand::random()));
        State(foldhash::quality::SeedableRandomState::with_seed(
            rand::random(),
            shared,
        ))
    }
}

impl std::hash::BuildHasher for State {
    type Hasher = foldhash::quality::FoldHasher<'static>;

    fn build_hasher(&self) -> Self::Hasher {
        self.0.build_hasher()
    }
}

/// A set with the engine's hasher.
pub(crate) type Set<K> = std::collections::HashSet<K, State>;

/// A hash index of transactions by key: each entry is the key's hash and
/// the transaction's slot in its slab, while the key itself stays in the
/// transaction. An entry is 16 bytes, so a new transaction writes 16 bytes
/// to a cold place of a large table instead of a whole key (a key holds
/// several strings), and growing the table moves 16-byte
/// entries. Whoever looks up compares the keys in the slots.
#[derive(Debug, Default)]
pub(crate) struct Index {
    table: hashbrown::HashTable<(u64, u32)>,
    state: State,
}

impl Index {
    /// The hash of `key` in this index.
    pub(crate) fn hash<K: std::hash::Hash>(&self, key: &K) -> u64 {
        std::hash::BuildHasher::hash_one(&self.state, key)
    }

    /// The slot whose key has `hash` and satisfies `eq`.
    pub(crate) fn find(&self, hash: u64, mut eq: impl FnMut(usize) -> bool) -> Option<usize> {
        self.table
            .find(hash, |&(h, slot)| h == hash && eq(slot as usize))
            .map(|&(_, slot)| slot as usize)
    }

    /// Adds `slot` under `hash`.
    pub(crate) fn insert(&mut self, hash: u64, slot: usize) {
        // Slots are below the slab's length, which the memory bounds far
        // below 2^32 transactions.
        let slot = u32::try_from(slot).unwrap_or(u32::MAX);
        self.table.insert_unique(hash, (hash, slot), |&(h, _)| h);
    }

    /// Removes the entry of `slot` under `hash`; false when there is none.
    pub(crate) fn remove(&mut self, hash: u64, slot: usize) -> bool {
        match self
            .table
            .find_entry(hash, |&(h, s)| h == hash && s as usize == slot)
        {
            Ok(entry) => {
                entry.remove();
                true
            }
            Err(_) => false,
        }
    }

    /// Makes room for `more` entries.
    pub(crate) fn reserve(&mut self, more: usize) {
        self.table.reserve(more, |&(h, _)| h);
    }
}

/// A method in a key: known methods by kind, others by name (methods are
/// case-sensitive, and [`Method::from_bytes`] matches exactly).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum MethodKey<'a> {
    Known(Method),
    Other(&'a [u8]),
}

impl<'a> MethodKey<'a> {
    /// `method`, by kind when it is known, by `name` otherwise.
    fn new(method: Method, name: &'a [u8]) -> MethodKey<'a> {
        match method {
            Method::Other => MethodKey::Other(name),
            m => MethodKey::Known(m),
        }
    }

    /// The request's method, ACK counting as INVITE (an ACK for a non-2xx
    /// belongs to the INVITE's server transaction).
    fn of_request(msg: &'a Message) -> MethodKey<'a> {
        match msg.method() {
            Method::Ack => MethodKey::Known(Method::Invite),
            m => MethodKey::new(m, msg.method_str().as_bytes()),
        }
    }

    /// The CSeq method of a message (a CSeq has a method name whenever
    /// it has a method).
    fn of_cseq(msg: &'a Message) -> Option<MethodKey<'a>> {
        let (_, method) = msg.cseq()?;
        let name = msg.cseq_method_str().unwrap_or_default();
        Some(MethodKey::new(method, name.as_bytes()))
    }

    /// The kind and the name to store (empty for a known method).
    fn parts(self) -> (Method, &'a [u8]) {
        match self {
            MethodKey::Known(m) => (m, b""),
            MethodKey::Other(name) => (Method::Other, name),
        }
    }
}

/// The top Via's sent-by: the host in lower case and the port (5060 when
/// absent). A request without a Via has an empty host and port 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct SentBy<'a> {
    host: &'a [u8],
    port: u16,
}

impl<'a> SentBy<'a> {
    /// `host` and `port`; a host with upper-case letters is written in
    /// lower case into `lower` and borrowed from there.
    pub(crate) fn new(host: &'a str, port: Option<u16>, lower: &'a mut String) -> SentBy<'a> {
        let host = if host.bytes().any(|b| b.is_ascii_uppercase()) {
            lower.clear();
            lower.push_str(host);
            lower.make_ascii_lowercase();
            lower.as_bytes()
        } else {
            host.as_bytes()
        };
        SentBy {
            host,
            port: port.unwrap_or(5060),
        }
    }

    /// For a request without a Via.
    pub(crate) fn none() -> SentBy<'static> {
        SentBy { host: b"", port: 0 }
    }
}

/// A server transaction's key (RFC 3261 §17.2.3): the branch, sent-by and
/// method for RFC 3261 branches, RFC 2543's fields otherwise. A key is
/// read from a request without copying; a transaction keeps a copy
/// ([`ServerKeys`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum ServerKey<'a> {
    Rfc3261 {
        branch: &'a [u8],
        sent_by: SentBy<'a>,
        method: MethodKey<'a>,
    },
    Rfc2543 {
        call_id: &'a [u8],
        cseq: u32,
        from_tag: &'a [u8],
        sent_by: SentBy<'a>,
        method: MethodKey<'a>,
    },
}

impl<'a> ServerKey<'a> {
    /// The key of a request whose top Via has `sent_by`.
    pub(crate) fn new(msg: &'a Message, sent_by: SentBy<'a>) -> ServerKey<'a> {
        let method = MethodKey::of_request(msg);
        match msg.branch() {
            Some(b) if b.starts_with(sofia_msg::BRANCH_COOKIE) && b.len() > 7 => {
                ServerKey::Rfc3261 {
                    branch: b.as_bytes(),
                    sent_by,
                    method,
                }
            }
            _ => ServerKey::Rfc2543 {
                call_id: msg.call_id().unwrap_or_default().as_bytes(),
                cseq: msg.cseq().map_or(0, |c| c.0),
                from_tag: msg.from_tag().unwrap_or_default().as_bytes(),
                sent_by,
                method,
            },
        }
    }

    /// The same key with method INVITE (the INVITE a CANCEL is for).
    pub(crate) fn with_invite(self) -> ServerKey<'a> {
        let invite = MethodKey::Known(Method::Invite);
        match self {
            ServerKey::Rfc3261 {
                branch, sent_by, ..
            } => ServerKey::Rfc3261 {
                branch,
                sent_by,
                method: invite,
            },
            ServerKey::Rfc2543 {
                call_id,
                cseq,
                from_tag,
                sent_by,
                ..
            } => ServerKey::Rfc2543 {
                call_id,
                cseq,
                from_tag,
                sent_by,
                method: invite,
            },
        }
    }
}

/// The merged-request key of a request (RFC 3261 §8.2.2.2): From tag,
/// Call-ID, CSeq number and method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct MergeKey<'a> {
    from_tag: &'a [u8],
    call_id: &'a [u8],
    cseq: u32,
    method: MethodKey<'a>,
}

impl<'a> MergeKey<'a> {
    pub(crate) fn new(msg: &'a Message) -> Option<MergeKey<'a>> {
        let (seq, _) = msg.cseq()?;
        Some(MergeKey {
            from_tag: msg.from_tag()?.as_bytes(),
            call_id: msg.call_id()?.as_bytes(),
            cseq: seq,
            method: MethodKey::of_cseq(msg)?,
        })
    }
}

/// Byte strings packed into one allocation, with where each ends.
#[derive(Debug)]
struct Packed<const N: usize> {
    text: Box<[u8]>,
    ends: [u32; N],
}

impl<const N: usize> Packed<N> {
    fn new(fields: [&[u8]; N]) -> Packed<N> {
        let mut text = Vec::with_capacity(fields.iter().map(|f| f.len()).sum());
        let mut ends = [0; N];
        for (end, field) in ends.iter_mut().zip(fields) {
            text.extend_from_slice(field);
            // Fields come from one message, whose size the transports
            // bound far below 4 GiB.
            *end = u32::try_from(text.len()).unwrap_or(u32::MAX);
        }
        Packed {
            text: text.into_boxed_slice(),
            ends,
        }
    }

    fn get(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        self.text
            .get(start..self.ends[i] as usize)
            .unwrap_or_default()
    }
}

/// What a server transaction keeps of its request's keys and of the
/// fields its responses must repeat: copies of the branch, Call-ID, From
/// tag, sent-by host and unknown method names in one allocation, so that
/// the request's buffer is freed as soon as the user is done with the
/// request (a slice would keep the whole buffer alive until timer J:
/// a stateful responder's memory, and the page faults of its growth, were
/// a seventh of its time: perf).
#[derive(Debug)]
pub(crate) struct ServerKeys {
    /// Branch (RFC 3261 keys only), Call-ID, From tag, sent-by host,
    /// request method name and CSeq method name (the names of unknown
    /// methods only).
    text: Packed<6>,
    rfc3261: bool,
    port: u16,
    cseq: u32,
    method: Method,
    /// The CSeq method of the merged-request key, when there is one.
    merge_method: Option<Method>,
}

impl ServerKeys {
    /// The keys of `msg`: its server key `key` and its merged-request key
    /// `merge` (both read from `msg`).
    pub(crate) fn new(
        msg: &Message,
        key: &ServerKey<'_>,
        merge: Option<&MergeKey<'_>>,
    ) -> ServerKeys {
        let call_id = msg.call_id().unwrap_or_default().as_bytes();
        let from_tag = msg.from_tag().unwrap_or_default().as_bytes();
        let cseq = msg.cseq().map_or(0, |c| c.0);
        let (branch, sent_by, method) = match *key {
            ServerKey::Rfc3261 {
                branch,
                sent_by,
                method,
            } => (branch, sent_by, method),
            ServerKey::Rfc2543 {
                sent_by, method, ..
            } => (&b""[..], sent_by, method),
        };
        let (method, name) = method.parts();
        let (merge_method, merge_name) = match merge {
            Some(m) => {
                let (kind, name) = m.method.parts();
                (Some(kind), name)
            }
            None => (None, &b""[..]),
        };
        let keys = ServerKeys {
            text: Packed::new([branch, call_id, from_tag, sent_by.host, name, merge_name]),
            rfc3261: matches!(key, ServerKey::Rfc3261 { .. }),
            port: sent_by.port,
            cseq,
            method,
            merge_method,
        };
        debug_assert_eq!(keys.key(), *key);
        debug_assert_eq!(keys.merge(), merge.copied());
        keys
    }

    /// The server key.
    pub(crate) fn key(&self) -> ServerKey<'_> {
        let sent_by = SentBy {
            host: self.text.get(3),
            port: self.port,
        };
        let method = MethodKey::new(self.method, self.text.get(4));
        if self.rfc3261 {
            ServerKey::Rfc3261 {
                branch: self.text.get(0),
                sent_by,
                method,
            }
        } else {
            ServerKey::Rfc2543 {
                call_id: self.call_id(),
                cseq: self.cseq,
                from_tag: self.text.get(2),
                sent_by,
                method,
            }
        }
    }

    /// The merged-request key, for a request that had one.
    pub(crate) fn merge(&self) -> Option<MergeKey<'_>> {
        Some(MergeKey {
            from_tag: self.text.get(2),
            call_id: self.call_id(),
            cseq: self.cseq,
            method: MethodKey::new(self.merge_method?, self.text.get(5)),
        })
    }

    /// The request's Call-ID, which the responses must repeat.
    pub(crate) fn call_id(&self) -> &[u8] {
        self.text.get(1)
    }

    /// The request's CSeq number, which the responses must repeat.
    pub(crate) fn cseq(&self) -> u32 {
        self.cseq
    }
}

/// A client transaction's key (RFC 3261 §17.1.3): the branch and the CSeq
/// method, read from a response without copying.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct ClientKey<'a> {
    branch: &'a [u8],
    method: MethodKey<'a>,
}

impl<'a> ClientKey<'a> {
    /// The key of a response (`branch` is its top Via's).
    pub(crate) fn new(msg: &'a Message, branch: &'a str) -> ClientKey<'a> {
        ClientKey {
            branch: branch.as_bytes(),
            method: MethodKey::of_cseq(msg).unwrap_or(MethodKey::Other(b"")),
        }
    }

    /// The key of our request: its branch and method.
    pub(crate) fn of_request(msg: &'a Message, branch: &'a str) -> ClientKey<'a> {
        ClientKey {
            branch: branch.as_bytes(),
            method: MethodKey::new(msg.method(), msg.method_str().as_bytes()),
        }
    }
}

/// A client transaction's copy of its key. A completed transaction lets
/// go of its request and waits out timer K with this copy only (a load
/// generator keeps hundreds of thousands of completed transactions, and
/// the memory they held was a tenth of its time in page faults: perf).
#[derive(Debug)]
pub(crate) struct ClientKeys {
    /// Branch and the name of an unknown method.
    text: Packed<2>,
    method: Method,
}

impl ClientKeys {
    pub(crate) fn new(key: &ClientKey<'_>) -> ClientKeys {
        let (method, name) = key.method.parts();
        let keys = ClientKeys {
            text: Packed::new([key.branch, name]),
            method,
        };
        debug_assert_eq!(keys.key(), *key);
        keys
    }

    pub(crate) fn key(&self) -> ClientKey<'_> {
        ClientKey {
            branch: self.text.get(0),
            method: MethodKey::new(self.method, self.text.get(1)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_keyed_apart() {
        use std::hash::BuildHasher;
        let key: &[u8] = b"z9hG4bK776asdhds";
        let (a, b) = (State::default(), State::default());
        // Equal within a table, different across tables (per-table seeds
        // from the system's random source; equal with probability 2^-64).
        assert_eq!(a.hash_one(key), a.hash_one(key));
        assert_ne!(a.hash_one(key), b.hash_one(key));
    }

    #[test]
    fn sent_by_ignores_host_case() {
        let (mut la, mut lb, mut lc) = (String::new(), String::new(), String::new());
        let sa = SentBy::new("Example.COM", None, &mut la);
        let sb = SentBy::new("example.com", Some(5060), &mut lb);
        assert_eq!(sa, sb);
        assert_ne!(sa, SentBy::new("example.com", Some(5062), &mut lc));
    }

    fn request(text: &str) -> Message {
        Message::parse(bytes::Bytes::from(text.replace('\n', "\r\n"))).unwrap()
    }

    #[test]
    fn stored_keys_equal_the_keys_read_from_the_request() {
        let requests = [
            // RFC 3261 branch, known method, upper-case host.
            "OPTIONS sip:b@example.com SIP/2.0\nVia: SIP/2.0/UDP Host.Example.COM:5070;branch=z9hG4bK77\n\
             From: <sip:a@example.com>;tag=f1\nTo: <sip:b@example.com>\nCall-ID: c1@x\n\
             CSeq: 7 OPTIONS\nMax-Forwards: 70\nContent-Length: 0\n\n",
            // RFC 2543 (no cookie), unknown method.
            "FOO sip:b@example.com SIP/2.0\nVia: SIP/2.0/UDP h.example.com;branch=1234\n\
             From: <sip:a@example.com>;tag=f2\nTo: <sip:b@example.com>\nCall-ID: c2@x\n\
             CSeq: 9 FOO\nMax-Forwards: 70\nContent-Length: 0\n\n",
            // An ACK keys as its INVITE; no From tag, so no merge key.
            "ACK sip:b@example.com SIP/2.0\nVia: SIP/2.0/UDP h.example.com;branch=z9hG4bKa\n\
             From: <sip:a@example.com>\nTo: <sip:b@example.com>;tag=t\nCall-ID: c3@x\n\
             CSeq: 1 ACK\nMax-Forwards: 70\nContent-Length: 0\n\n",
        ];
        for text in requests {
            let msg = request(text);
            let via = msg.top_via().unwrap();
            let mut lower = String::new();
            let sent_by = SentBy::new(via.host(), via.port(), &mut lower);
            let key = ServerKey::new(&msg, sent_by);
            let merge = MergeKey::new(&msg);
            let keys = ServerKeys::new(&msg, &key, merge.as_ref());
            assert_eq!(keys.key(), key);
            assert_eq!(keys.merge(), merge);
            assert_eq!(keys.call_id(), msg.call_id().unwrap().as_bytes());
            assert_eq!(Some(keys.cseq()), msg.cseq().map(|c| c.0));
            // Only the ACK's key is its INVITE's.
            assert_eq!(keys.key() == key.with_invite(), msg.method() == Method::Ack);
        }
        let msg = request(requests[0]);
        let mut lower = String::new();
        let via = msg.top_via().unwrap();
        let ServerKey::Rfc3261 { sent_by, .. } =
            ServerKey::new(&msg, SentBy::new(via.host(), via.port(), &mut lower))
        else {
            panic!("an RFC 3261 branch")
        };
        assert_eq!(sent_by.host, b"host.example.com");
        assert_eq!(sent_by.port, 5070);
        assert!(MergeKey::new(&request(requests[2])).is_none());
    }

    #[test]
    fn stored_client_keys_equal_the_keys_read() {
        let msg = request(
            "FOO sip:b@example.com SIP/2.0\nVia: SIP/2.0/UDP h;branch=z9hG4bKc\n\
             From: <sip:a@example.com>;tag=f\nTo: <sip:b@example.com>\nCall-ID: c@x\n\
             CSeq: 2 FOO\nMax-Forwards: 70\nContent-Length: 0\n\n",
        );
        let key = ClientKey::of_request(&msg, msg.branch().unwrap());
        let keys = ClientKeys::new(&key);
        assert_eq!(keys.key(), key);
        assert_eq!(keys.key(), ClientKey::new(&msg, "z9hG4bKc"));
        assert_ne!(keys.key(), ClientKey::new(&msg, "z9hG4bKd"));
    }
}
