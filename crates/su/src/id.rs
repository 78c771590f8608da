//! Identifiers every layer needs: tags, Call-IDs and RFC 3261 branches.
//!
//! All of them come from an injected random source, so a test seeds it and gets
//! the same identifiers every run. Characters are drawn from a 32-letter
//! alphabet of lower-case letters and digits (5 bits each), which is a valid
//! SIP `token` and reads clearly in traces.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// The RFC 3261 §8.1.1.7 magic cookie that starts every branch.
pub const BRANCH_COOKIE: &str = "z9hG4bK";

const ALPHABET: &[u8; 32] = b"0123456789abcdefghijklmnopqrstuv";

/// Random identifier generator over any [`rand::Rng`].
#[derive(Debug)]
pub struct IdGenerator<R: Rng = StdRng> {
    rng: R,
}

impl IdGenerator<StdRng> {
    /// A generator seeded from the operating system.
    pub fn from_os() -> Self {
        IdGenerator {
            rng: rand::make_rng::<StdRng>(),
        }
    }

    /// A reproducible generator for tests and simulations.
    pub fn with_seed(seed: u64) -> Self {
        IdGenerator {
            rng: StdRng::seed_from_u64(seed),
        }
    }
}

impl<R: Rng> IdGenerator<R> {
    /// A generator over the given random source.
    pub fn new(rng: R) -> Self {
        IdGenerator { rng }
    }

    /// Appends `chars` random characters (5 bits each) to `out`.
    pub fn push_random(&mut self, out: &mut String, chars: usize) {
        let mut bits = 0u64;
        let mut left = 0;
        for _ in 0..chars {
            if left < 5 {
                bits = self.rng.next_u64();
                left = 64;
            }
            out.push(ALPHABET[(bits & 31) as usize] as char);
            bits >>= 5;
            left -= 5;
        }
    }

    /// A From/To tag: 16 characters, 80 random bits (RFC 3261 §19.3 asks for at
    /// least 32).
    pub fn tag(&mut self) -> String {
        let mut out = String::with_capacity(16);
        self.push_random(&mut out, 16);
        out
    }

    /// A Call-ID: 24 random characters (120 bits), `@host` appended when a host
    /// is given.
    pub fn call_id(&mut self, host: Option<&str>) -> String {
        let mut out = String::with_capacity(24 + host.map_or(0, |h| h.len() + 1));
        self.push_random(&mut out, 24);
        if let Some(host) = host {
            out.push('@');
            out.push_str(host);
        }
        out
    }

    /// A Via branch: the magic cookie `z9hG4bK` and 16 random characters
    /// (80 random bits, RFC 3261 asks for uniqueness; 64 bits at least here).
    pub fn branch(&mut self) -> String {
        let mut out = String::with_capacity(BRANCH_COOKIE.len() + 16);
        out.push_str(BRANCH_COOKIE);
        self.push_random(&mut out, 16);
        out
    }

    /// A random 64-bit number (CSeq starts, nonces' salt, ...).
    pub fn u64(&mut self) -> u64 {
        self.rng.next_u64()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn is_token(s: &str) -> bool {
        s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b))
    }

    #[test]
    fn formats() {
        let mut ids = IdGenerator::with_seed(1);
        let tag = ids.tag();
        assert_eq!(tag.len(), 16);
        assert!(is_token(&tag));
        let branch = ids.branch();
        assert!(branch.starts_with("z9hG4bK"));
        assert_eq!(branch.len(), 7 + 16);
        assert!(is_token(&branch));
        let cid = ids.call_id(Some("host.example.com"));
        assert!(cid.ends_with("@host.example.com"));
        assert_eq!(cid.len(), 24 + 17);
        assert!(is_token(&cid[..24]));
        assert_eq!(ids.call_id(None).len(), 24);
    }

    #[test]
    fn seeded_is_reproducible() {
        let mut a = IdGenerator::with_seed(42);
        let mut b = IdGenerator::with_seed(42);
        assert_eq!(a.branch(), b.branch());
        assert_eq!(a.tag(), b.tag());
        let mut c = IdGenerator::with_seed(43);
        assert_ne!(a.branch(), c.branch());
    }

    #[test]
    fn unique_over_many() {
        let mut ids = IdGenerator::from_os();
        let mut seen = HashSet::new();
        for _ in 0..100_000 {
            assert!(seen.insert(ids.branch()));
        }
        let mut tags = HashSet::new();
        for _ in 0..100_000 {
            assert!(tags.insert(ids.tag()));
        }
    }

    #[test]
    fn uses_whole_alphabet() {
        let mut ids = IdGenerator::with_seed(9);
        let mut seen = HashSet::new();
        for _ in 0..200 {
            seen.extend(ids.tag().bytes());
        }
        assert_eq!(seen.len(), 32);
    }
}
