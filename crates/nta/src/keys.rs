//! Keys of the engine's transaction tables: slices of the messages' own
//! buffers (no string is built per message), in maps with a fast keyed
//! hasher.

use bytes::Bytes;
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
/// several `Bytes`: over 100 bytes), and growing the table moves 16-byte
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

/// `s` as a slice of `buf` sharing its memory when `s` lies inside it (as
/// every accessor of a message returns), a copy otherwise.
pub(crate) fn share(buf: &Bytes, s: &str) -> Bytes {
    if s.is_empty() {
        return Bytes::new();
    }
    let start = (s.as_ptr() as usize).wrapping_sub(buf.as_ptr() as usize);
    if start <= buf.len() && s.len() <= buf.len() - start {
        buf.slice(start..start + s.len())
    } else {
        Bytes::copy_from_slice(s.as_bytes())
    }
}

/// A method in a key: known methods by kind, others by name (methods are
/// case-sensitive, and [`Method::from_bytes`] matches exactly).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum MethodKey {
    Known(Method),
    Other(Bytes),
}

impl MethodKey {
    /// `method`, by kind when it is known; `name` (called only for an
    /// unknown method) gives its name.
    fn new(method: Method, name: impl FnOnce() -> Bytes) -> MethodKey {
        match method {
            Method::Other => MethodKey::Other(name()),
            m => MethodKey::Known(m),
        }
    }

    /// The request's method, ACK counting as INVITE (an ACK for a non-2xx
    /// belongs to the INVITE's server transaction).
    fn of_request(msg: &Message) -> MethodKey {
        match msg.method() {
            Method::Ack => MethodKey::Known(Method::Invite),
            m => MethodKey::new(m, || share(msg.as_bytes(), msg.method_str())),
        }
    }

    /// The CSeq method of a message (a CSeq has a method name whenever
    /// it has a method).
    fn of_cseq(msg: &Message) -> Option<MethodKey> {
        let (_, method) = msg.cseq()?;
        Some(MethodKey::new(method, || {
            share(msg.as_bytes(), msg.cseq_method_str().unwrap_or_default())
        }))
    }
}

/// The top Via's sent-by: the host in lower case and the port (5060 when
/// absent). A request without a Via has an empty host and port 0.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct SentBy {
    host: Bytes,
    port: u16,
}

impl SentBy {
    /// `host` (a slice of `buf`) and `port`; the host is copied only when
    /// it has upper-case letters.
    pub(crate) fn new(buf: &Bytes, host: &str, port: Option<u16>) -> SentBy {
        let host = if host.bytes().any(|b| b.is_ascii_uppercase()) {
            Bytes::from(host.to_ascii_lowercase())
        } else {
            share(buf, host)
        };
        SentBy {
            host,
            port: port.unwrap_or(5060),
        }
    }

    /// For a request without a Via.
    pub(crate) fn none() -> SentBy {
        SentBy {
            host: Bytes::new(),
            port: 0,
        }
    }
}

/// A server transaction's key (RFC 3261 §17.2.3): the branch, sent-by and
/// method for RFC 3261 branches, RFC 2543's fields otherwise.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum ServerKey {
    Rfc3261 {
        branch: Bytes,
        sent_by: SentBy,
        method: MethodKey,
    },
    Rfc2543 {
        call_id: Bytes,
        cseq: u32,
        from_tag: Bytes,
        sent_by: SentBy,
        method: MethodKey,
    },
}

impl ServerKey {
    /// The key of a request whose top Via has `sent_by`.
    pub(crate) fn new(msg: &Message, sent_by: SentBy) -> ServerKey {
        let buf = msg.as_bytes();
        let method = MethodKey::of_request(msg);
        match msg.branch() {
            Some(b) if b.starts_with(sofia_msg::BRANCH_COOKIE) && b.len() > 7 => {
                ServerKey::Rfc3261 {
                    branch: share(buf, b),
                    sent_by,
                    method,
                }
            }
            _ => ServerKey::Rfc2543 {
                call_id: share(buf, msg.call_id().unwrap_or("")),
                cseq: msg.cseq().map_or(0, |c| c.0),
                from_tag: share(buf, msg.from_tag().unwrap_or("")),
                sent_by,
                method,
            },
        }
    }

    /// The same key with method INVITE (the INVITE a CANCEL is for).
    pub(crate) fn with_invite(&self) -> ServerKey {
        let invite = MethodKey::Known(Method::Invite);
        match self {
            ServerKey::Rfc3261 {
                branch, sent_by, ..
            } => ServerKey::Rfc3261 {
                branch: branch.clone(),
                sent_by: sent_by.clone(),
                method: invite,
            },
            ServerKey::Rfc2543 {
                call_id,
                cseq,
                from_tag,
                sent_by,
                ..
            } => ServerKey::Rfc2543 {
                call_id: call_id.clone(),
                cseq: *cseq,
                from_tag: from_tag.clone(),
                sent_by: sent_by.clone(),
                method: invite,
            },
        }
    }
}

/// The merged-request key of a request (RFC 3261 §8.2.2.2): From tag,
/// Call-ID, CSeq number and method.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct MergeKey {
    from_tag: Bytes,
    call_id: Bytes,
    cseq: u32,
    method: MethodKey,
}

impl MergeKey {
    /// The Call-ID, a slice of the request.
    pub(crate) fn call_id(&self) -> &Bytes {
        &self.call_id
    }

    pub(crate) fn new(msg: &Message) -> Option<MergeKey> {
        let buf = msg.as_bytes();
        let (seq, _) = msg.cseq()?;
        Some(MergeKey {
            from_tag: share(buf, msg.from_tag()?),
            call_id: share(buf, msg.call_id()?),
            cseq: seq,
            method: MethodKey::of_cseq(msg)?,
        })
    }
}

/// A client transaction's key (RFC 3261 §17.1.3): the branch and the CSeq
/// method.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct ClientKey {
    branch: Bytes,
    method: MethodKey,
}

impl ClientKey {
    /// The key of our request (`branch` is its top Via's) or of a response.
    pub(crate) fn new(msg: &Message, branch: &str) -> ClientKey {
        let buf = msg.as_bytes();
        let method = MethodKey::of_cseq(msg).unwrap_or(MethodKey::Other(Bytes::new()));
        ClientKey {
            branch: share(buf, branch),
            method,
        }
    }

    /// The key of our request: the request's method. The key is a copy,
    /// not a slice of the request: a completed transaction lets go of its
    /// request and waits out timer K with this key only (a slice would
    /// keep the whole request's buffer alive; a load generator keeps
    /// hundreds of thousands of completed transactions, and the memory
    /// they held was a tenth of its time in page faults: perf).
    pub(crate) fn of_request(msg: &Message, branch: &str) -> ClientKey {
        ClientKey {
            branch: Bytes::copy_from_slice(branch.as_bytes()),
            method: MethodKey::new(msg.method(), || {
                Bytes::copy_from_slice(msg.method_str().as_bytes())
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn share_slices_or_copies() {
        let buf = Bytes::from_static(b"hello world");
        let s = std::str::from_utf8(&buf[6..]).unwrap();
        let shared = share(&buf, s);
        assert_eq!(&shared[..], b"world");
        assert_eq!(shared.as_ptr(), buf[6..].as_ptr());
        let other = String::from("world");
        let copied = share(&buf, &other);
        assert_eq!(&copied[..], b"world");
        assert_ne!(copied.as_ptr(), buf[6..].as_ptr());
        assert!(share(&buf, "").is_empty());
    }

    #[test]
    fn tables_are_keyed_apart() {
        use std::hash::BuildHasher;
        let key = Bytes::from_static(b"z9hG4bK776asdhds");
        let (a, b) = (State::default(), State::default());
        // Equal within a table, different across tables (per-table seeds
        // from the system's random source; equal with probability 2^-64).
        assert_eq!(a.hash_one(&key), a.hash_one(&key));
        assert_ne!(a.hash_one(&key), b.hash_one(&key));
    }

    #[test]
    fn sent_by_ignores_host_case() {
        let a = Bytes::from_static(b"Example.COM");
        let b = Bytes::from_static(b"example.com");
        let sa = SentBy::new(&a, std::str::from_utf8(&a).unwrap(), None);
        let sb = SentBy::new(&b, std::str::from_utf8(&b).unwrap(), Some(5060));
        assert_eq!(sa, sb);
        assert_ne!(sa, SentBy::new(&b, "example.com", Some(5062)));
    }
}
