//! The digest computations of RFC 2617 §3.2.2 and RFC 7616 §3.4: `H`, `HA1`,
//! the `-sess` session key, `HA2` for `qop=auth` and `auth-int`, and the
//! request digest, for MD5, SHA-256 and SHA-512/256.

use md5::Md5;
use sha2::{Digest, Sha256, Sha512_256};

/// A digest algorithm (RFC 7616 §3.3, RFC 8760).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// `MD5` (RFC 2617), the default when a challenge names none.
    Md5,
    /// `MD5-sess`.
    Md5Sess,
    /// `SHA-256` (RFC 7616).
    Sha256,
    /// `SHA-256-sess`.
    Sha256Sess,
    /// `SHA-512-256` (SHA-512/256, RFC 7616).
    Sha512_256,
    /// `SHA-512-256-sess`.
    Sha512_256Sess,
}

/// The hash function under an [`Algorithm`]; a precomputed `HA1` belongs to
/// one of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HashFamily {
    /// MD5: 32 hex digits.
    Md5,
    /// SHA-256: 64 hex digits.
    Sha256,
    /// SHA-512/256: 64 hex digits.
    Sha512_256,
}

impl HashFamily {
    /// The hex digest of the parts joined with `:`.
    pub fn hex(self, parts: &[&[u8]]) -> String {
        fn run<D: Digest>(parts: &[&[u8]]) -> String {
            let mut d = D::new();
            for (i, p) in parts.iter().enumerate() {
                if i > 0 {
                    d.update(b":");
                }
                d.update(p);
            }
            hex::encode(d.finalize())
        }
        match self {
            HashFamily::Md5 => run::<Md5>(parts),
            HashFamily::Sha256 => run::<Sha256>(parts),
            HashFamily::Sha512_256 => run::<Sha512_256>(parts),
        }
    }

    /// The length of a hex digest.
    pub fn hex_len(self) -> usize {
        match self {
            HashFamily::Md5 => 32,
            HashFamily::Sha256 | HashFamily::Sha512_256 => 64,
        }
    }
}

impl Algorithm {
    /// Every algorithm, strongest first.
    pub const ALL: [Algorithm; 6] = [
        Algorithm::Sha512_256,
        Algorithm::Sha512_256Sess,
        Algorithm::Sha256,
        Algorithm::Sha256Sess,
        Algorithm::Md5,
        Algorithm::Md5Sess,
    ];

    /// The name as written in `algorithm=`.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Md5Sess => "MD5-sess",
            Algorithm::Sha256 => "SHA-256",
            Algorithm::Sha256Sess => "SHA-256-sess",
            Algorithm::Sha512_256 => "SHA-512-256",
            Algorithm::Sha512_256Sess => "SHA-512-256-sess",
        }
    }

    /// Looks a name up, ignoring case; `None` for algorithms not supported.
    pub fn from_name(name: &str) -> Option<Algorithm> {
        Algorithm::ALL
            .into_iter()
            .find(|a| a.name().eq_ignore_ascii_case(name))
    }

    /// True for the `-sess` variants.
    pub fn is_sess(self) -> bool {
        matches!(
            self,
            Algorithm::Md5Sess | Algorithm::Sha256Sess | Algorithm::Sha512_256Sess
        )
    }

    /// The hash function.
    pub fn family(self) -> HashFamily {
        match self {
            Algorithm::Md5 | Algorithm::Md5Sess => HashFamily::Md5,
            Algorithm::Sha256 | Algorithm::Sha256Sess => HashFamily::Sha256,
            Algorithm::Sha512_256 | Algorithm::Sha512_256Sess => HashFamily::Sha512_256,
        }
    }

    /// Preference when several are offered: higher is stronger; a plain
    /// algorithm ranks just above its `-sess` variant.
    pub fn strength(self) -> u8 {
        let base = match self.family() {
            HashFamily::Md5 => 10,
            HashFamily::Sha256 => 20,
            HashFamily::Sha512_256 => 30,
        };
        if self.is_sess() { base } else { base + 1 }
    }
}

impl std::fmt::Display for Algorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Quality of protection (RFC 2617 §3.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Qop {
    /// `auth`: the request line is protected.
    Auth,
    /// `auth-int`: the body is protected too.
    AuthInt,
}

impl Qop {
    /// The token.
    pub fn name(self) -> &'static str {
        match self {
            Qop::Auth => "auth",
            Qop::AuthInt => "auth-int",
        }
    }

    /// Looks a token up, ignoring case.
    pub fn from_name(name: &str) -> Option<Qop> {
        if name.eq_ignore_ascii_case("auth") {
            Some(Qop::Auth)
        } else if name.eq_ignore_ascii_case("auth-int") {
            Some(Qop::AuthInt)
        } else {
            None
        }
    }
}

/// `HA1 = H(username ":" realm ":" password)`, the value a credential store
/// may keep instead of the password.
pub fn ha1(family: HashFamily, username: &str, realm: &str, password: &str) -> String {
    family.hex(&[username.as_bytes(), realm.as_bytes(), password.as_bytes()])
}

/// Everything a request digest is computed from, besides `HA1`.
#[derive(Debug, Clone, Copy)]
pub struct DigestParams<'a> {
    /// The algorithm.
    pub algorithm: Algorithm,
    /// The server's nonce.
    pub nonce: &'a str,
    /// The client's nonce (with a qop or a `-sess` algorithm).
    pub cnonce: &'a str,
    /// The nonce count as written: eight hex digits (with a qop).
    pub nc: &'a str,
    /// The quality of protection; `None` for RFC 2069 digests.
    pub qop: Option<Qop>,
    /// The request method.
    pub method: &'a str,
    /// The digest-uri.
    pub uri: &'a str,
    /// The body (used by `auth-int`).
    pub body: &'a [u8],
}

/// The request digest (`response=`) from the user's base `HA1`
/// (`H(username:realm:password)`, hex): the `-sess` session key, `HA2` and
/// `KD` per RFC 2617 §3.2.2.
pub fn response(base_ha1: &str, p: &DigestParams<'_>) -> String {
    let family = p.algorithm.family();
    let sess;
    let ha1 = if p.algorithm.is_sess() {
        sess = family.hex(&[base_ha1.as_bytes(), p.nonce.as_bytes(), p.cnonce.as_bytes()]);
        sess.as_str()
    } else {
        base_ha1
    };
    let ha2 = match p.qop {
        Some(Qop::AuthInt) => {
            let body = family.hex(&[p.body]);
            family.hex(&[p.method.as_bytes(), p.uri.as_bytes(), body.as_bytes()])
        }
        _ => family.hex(&[p.method.as_bytes(), p.uri.as_bytes()]),
    };
    match p.qop {
        Some(q) => family.hex(&[
            ha1.as_bytes(),
            p.nonce.as_bytes(),
            p.nc.as_bytes(),
            p.cnonce.as_bytes(),
            q.name().as_bytes(),
            ha2.as_bytes(),
        ]),
        None => family.hex(&[ha1.as_bytes(), p.nonce.as_bytes(), ha2.as_bytes()]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for a in Algorithm::ALL {
            assert_eq!(Algorithm::from_name(a.name()), Some(a));
            assert_eq!(
                Algorithm::from_name(&a.name().to_ascii_lowercase()),
                Some(a)
            );
        }
        assert_eq!(Algorithm::from_name("SHA-1"), None);
        assert_eq!(Qop::from_name("AUTH-INT"), Some(Qop::AuthInt));
        assert_eq!(Qop::from_name("auth-conf"), None);
    }

    #[test]
    fn strength_orders_families_and_sess() {
        assert!(Algorithm::Sha512_256.strength() > Algorithm::Sha256.strength());
        assert!(Algorithm::Sha256Sess.strength() > Algorithm::Md5.strength());
        assert!(Algorithm::Md5.strength() > Algorithm::Md5Sess.strength());
    }

    #[test]
    fn digest_lengths() {
        for f in [HashFamily::Md5, HashFamily::Sha256, HashFamily::Sha512_256] {
            assert_eq!(f.hex(&[b"x"]).len(), f.hex_len());
        }
        // SHA-512/256 is not a truncated SHA-512 (its own initial values).
        assert_eq!(
            HashFamily::Sha512_256.hex(&[b"abc"]),
            "53048e2681941ef99b2e29b76b4c7dabe4c2d0c634fc6d46e0e2f13107e7af23"
        );
    }
}
