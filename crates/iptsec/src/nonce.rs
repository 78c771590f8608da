//! Nonces that need no server state: the issue time, a serial number and an
//! HMAC-SHA-256 over both and the realm, keyed with a server secret.
//!
//! A nonce is 64 hex digits: 16 for the issue time (seconds since the Unix
//! epoch), 16 for the serial number, 32 for the first 128 bits of the MAC.
//! Serial numbers grow by one per nonce from a random start, so nonces are
//! unique and the replay table can tell which nonces it may have forgotten. The server
//! checks it with the secret alone; only the nonce-count table of
//! [`AuthModule`](crate::AuthModule) remembers anything.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// The length of a nonce.
pub const NONCE_LEN: usize = 64;
const MAC_HEX: usize = 32;

/// What a nonce turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonceCheck {
    /// Made by this server for this realm, within its lifetime; `issued` is
    /// its issue time in seconds since the epoch.
    Fresh {
        /// Issue time (seconds since the Unix epoch).
        issued: u64,
        /// Serial number.
        serial: u64,
    },
    /// Made by this server for this realm, but older than its lifetime.
    Stale {
        /// Issue time (seconds since the Unix epoch).
        issued: u64,
        /// Serial number.
        serial: u64,
    },
    /// Not a nonce of this server and realm (bad form, bad MAC, or an issue
    /// time in the future).
    Invalid,
}

/// Makes and checks nonces with one secret.
#[derive(Clone)]
pub struct NonceKey {
    key: [u8; 32],
}

impl std::fmt::Debug for NonceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The secret never reaches a log.
        f.write_str("NonceKey(..)")
    }
}

impl NonceKey {
    /// A key from a secret.
    pub fn new(key: [u8; 32]) -> NonceKey {
        NonceKey { key }
    }

    fn mac(&self, issued: u64, serial: u64, realm: &str) -> String {
        // HMAC takes keys of any length: this cannot fail.
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
        mac.update(&issued.to_be_bytes());
        mac.update(&serial.to_be_bytes());
        mac.update(realm.as_bytes());
        let tag = mac.finalize().into_bytes();
        hex::encode(&tag[..MAC_HEX / 2])
    }

    /// A nonce for `realm`, issued at `issued` (seconds since the epoch).
    pub fn issue(&self, issued: u64, serial: u64, realm: &str) -> String {
        let mut s = format!("{issued:016x}{serial:016x}");
        s.push_str(&self.mac(issued, serial, realm));
        s
    }

    /// Checks a nonce against this key, `realm` and the time `now` (seconds
    /// since the epoch); `ttl` is the lifetime in seconds. Issue times more
    /// than `skew` seconds in the future are invalid.
    pub fn check(&self, nonce: &str, realm: &str, now: u64, ttl: u64, skew: u64) -> NonceCheck {
        if nonce.len() != NONCE_LEN || !nonce.bytes().all(|b| b.is_ascii_hexdigit()) {
            return NonceCheck::Invalid;
        }
        let (Ok(issued), Ok(serial)) = (
            u64::from_str_radix(&nonce[..16], 16),
            u64::from_str_radix(&nonce[16..32], 16),
        ) else {
            return NonceCheck::Invalid;
        };
        let expected = self.mac(issued, serial, realm);
        let given = nonce[32..].to_ascii_lowercase();
        if !bool::from(expected.as_bytes().ct_eq(given.as_bytes())) {
            return NonceCheck::Invalid;
        }
        if issued > now.saturating_add(skew) {
            return NonceCheck::Invalid;
        }
        if now.saturating_sub(issued) > ttl {
            NonceCheck::Stale { issued, serial }
        } else {
            NonceCheck::Fresh { issued, serial }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue_and_check() {
        let k = NonceKey::new([7; 32]);
        let n = k.issue(1000, 42, "example.com");
        assert_eq!(n.len(), NONCE_LEN);
        assert_eq!(
            k.check(&n, "example.com", 1030, 60, 5),
            NonceCheck::Fresh {
                issued: 1000,
                serial: 42
            }
        );
        assert_eq!(
            k.check(&n, "example.com", 1061, 60, 5),
            NonceCheck::Stale {
                issued: 1000,
                serial: 42
            }
        );
        // Another realm, another key, a changed digit, the future.
        assert_eq!(k.check(&n, "other.com", 1030, 60, 5), NonceCheck::Invalid);
        let k2 = NonceKey::new([8; 32]);
        assert_eq!(
            k2.check(&n, "example.com", 1030, 60, 5),
            NonceCheck::Invalid
        );
        let mut bad = n.clone().into_bytes();
        bad[3] = if bad[3] == b'0' { b'1' } else { b'0' };
        let bad = String::from_utf8(bad).unwrap();
        assert_eq!(
            k.check(&bad, "example.com", 1030, 60, 5),
            NonceCheck::Invalid
        );
        assert_eq!(k.check(&n, "example.com", 990, 60, 5), NonceCheck::Invalid);
        assert_eq!(
            k.check(&n, "example.com", 996, 60, 5),
            NonceCheck::Fresh {
                issued: 1000,
                serial: 42
            }
        );
        assert_eq!(
            k.check("abc", "example.com", 1000, 60, 5),
            NonceCheck::Invalid
        );
        assert_eq!(
            k.check(&"g".repeat(64), "example.com", 1000, 60, 5),
            NonceCheck::Invalid
        );
    }

    #[test]
    fn serials_make_distinct_nonces() {
        let k = NonceKey::new([1; 32]);
        assert_ne!(k.issue(5, 1, "r"), k.issue(5, 2, "r"));
    }

    #[test]
    fn debug_hides_the_key() {
        assert_eq!(format!("{:?}", NonceKey::new([9; 32])), "NonceKey(..)");
    }
}
