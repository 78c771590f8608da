//! Byte scanners for the parse hot path. They locate values without full
//! validation (which [`Message::check`](crate::Message::check) does with the
//! typed parsers) and never allocate. Written by hand rather than with the
//! typed parsers because the parse of every message runs them: measured, the
//! typed parsers made the whole parse several times slower.

use crate::bnf::{is_lws, is_token, quoted_len};
use std::ops::Range;

/// End of the first element of a list value: the first `,` outside quotes and
/// angle brackets (the whole value when there is none). With `first_only`
/// false this is the value's end.
pub(crate) fn value_end(v: &[u8], first_only: bool) -> Range<usize> {
    if !first_only {
        return 0..v.len();
    }
    let end = if memchr::memchr2(b'"', b'<', v).is_none() {
        memchr::memchr(b',', v).unwrap_or(v.len())
    } else {
        crate::bnf::find_unquoted(v, b',', false)
            .ok()
            .flatten()
            .unwrap_or(v.len())
    };
    0..end
}

/// Where the header parameters of a name-addr or addr-spec value start (at a
/// `;`, or the value's end), skipping a quoted display name and the URI in
/// angle brackets. `None` when a quote or bracket is left open.
pub(crate) fn addr_params_start(v: &[u8]) -> Option<usize> {
    let mut i = 0;
    if v.first() == Some(&b'"') {
        i = quoted_len(v)?;
    }
    match memchr::memchr(b'<', &v[i..]) {
        Some(lt) => {
            let gt = memchr::memchr(b'>', &v[i + lt..])?;
            Some(i + lt + gt + 1)
        }
        // addr-spec: parameters start at the first ';'.
        None => Some(memchr::memchr(b';', &v[i..]).map_or(v.len(), |p| i + p)),
    }
}

/// Finds parameter `name` (ASCII case-insensitive) among the `;`-separated
/// parameters inside `range` of `v`, tolerating linear white space around
/// `;` and `=`. Returns the byte range of its token value; `None` when absent,
/// valueless or empty.
pub(crate) fn param(v: &[u8], range: Range<usize>, name: &[u8]) -> Option<(usize, usize)> {
    let end = range.end.min(v.len());
    let mut i = range.start;
    while i < end {
        let semi = i + memchr::memchr(b';', &v[i..end])?;
        let mut p = semi + 1;
        while p < end && is_lws(v[p]) {
            p += 1;
        }
        let name_start = p;
        while p < end && is_token(v[p]) {
            p += 1;
        }
        if v[name_start..p].eq_ignore_ascii_case(name) {
            while p < end && is_lws(v[p]) {
                p += 1;
            }
            if p >= end || v[p] != b'=' {
                return None;
            }
            p += 1;
            while p < end && is_lws(v[p]) {
                p += 1;
            }
            let value_start = p;
            while p < end && is_token(v[p]) {
                p += 1;
            }
            return (p > value_start).then_some((value_start, p));
        }
        // Skip a quoted value so a ';' inside it is not taken for a separator.
        while p < end && v[p] != b';' {
            if v[p] == b'"' {
                p += quoted_len(&v[p..end])?;
            } else {
                p += 1;
            }
        }
        i = p;
    }
    None
}

/// Finds line feeds. On x86-64 this calls memchr's SSE2 searcher directly:
/// header lines are tens of bytes, where the generic `memchr::memchr` spends
/// more on choosing an implementation at run time and setting up 32-byte
/// vectors than on the search (measured with callgrind on the benchmark
/// INVITE). Elsewhere it is `memchr::memchr`.
#[derive(Clone, Copy)]
pub(crate) struct LineFinder {
    #[cfg(target_arch = "x86_64")]
    sse2: Option<memchr::arch::x86_64::sse2::memchr::One>,
}

impl LineFinder {
    #[inline]
    pub(crate) fn new() -> Self {
        LineFinder {
            #[cfg(target_arch = "x86_64")]
            sse2: memchr::arch::x86_64::sse2::memchr::One::new(b'\n'),
        }
    }

    /// Position of the first `\n` in `hay`.
    #[inline]
    pub(crate) fn find(&self, hay: &[u8]) -> Option<usize> {
        #[cfg(target_arch = "x86_64")]
        if let Some(one) = &self.sse2 {
            return one.find(hay);
        }
        memchr::memchr(b'\n', hay)
    }
}

/// Counts line feeds, eight bytes at a time (an exact zero-byte test on
/// `x ^ 0x0a0a..`), to size the header index with one allocation.
pub(crate) fn count_lf(b: &[u8]) -> usize {
    const LF: u64 = 0x0a0a_0a0a_0a0a_0a0a;
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    let mut chunks = b.chunks_exact(8);
    let mut n = 0usize;
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        let x = u64::from_le_bytes(w) ^ LF;
        let y = (x & LOW7).wrapping_add(LOW7);
        n += (!(y | x | LOW7)).count_ones() as usize;
    }
    n + chunks.remainder().iter().filter(|&&c| c == b'\n').count()
}

/// A decimal number of at most `max`, the whole (trimmed) value.
pub(crate) fn number(v: &[u8], max: u32) -> Option<u32> {
    if v.is_empty() || v.len() > 10 {
        // Leading zeros beyond ten digits are rare enough to take the slow path.
        return std::str::from_utf8(v)
            .ok()
            .and_then(|s| crate::bnf::parse_u32_max(s, max));
    }
    let mut n: u64 = 0;
    for &c in v {
        if !c.is_ascii_digit() {
            return None;
        }
        n = n * 10 + u64::from(c - b'0');
    }
    (n <= u64::from(max)).then_some(n as u32)
}

/// CSeq: `1*DIGIT LWS Method`; the number below 2^31. Returns the number and
/// the method's byte range.
pub(crate) fn cseq(v: &[u8]) -> Option<(u32, usize, usize)> {
    let digits = v.iter().position(|c| !c.is_ascii_digit())?;
    let seq = number(&v[..digits], 0x7fff_ffff)?;
    let mut p = digits;
    if p >= v.len() || !is_lws(v[p]) {
        return None;
    }
    while p < v.len() && is_lws(v[p]) {
        p += 1;
    }
    let ms = p;
    while p < v.len() && is_token(v[p]) {
        p += 1;
    }
    (p == v.len() && p > ms).then_some((seq, ms, p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params() {
        let v = b"SIP/2.0/UDP h;rport; BRANCH = z9hG4bK1 ;x";
        let (s, e) = param(v, 0..v.len(), b"branch").unwrap();
        assert_eq!(&v[s..e], b"z9hG4bK1");
        assert_eq!(param(v, 0..v.len(), b"rport"), None);
        assert_eq!(param(v, 0..v.len(), b"nope"), None);
        let v = b"h;text=\"a;tag=no\";tag=yes";
        let (s, e) = param(v, 0..v.len(), b"tag").unwrap();
        assert_eq!(&v[s..e], b"yes");
        assert_eq!(param(b"h;tag=\"open", 0..11, b"x"), None);
    }

    #[test]
    fn addr() {
        let v = b"\"a;tag=1 <x>\" <sip:b;tag=2>;tag=3";
        let p = addr_params_start(v).unwrap();
        let (s, e) = param(v, p..v.len(), b"tag").unwrap();
        assert_eq!(&v[s..e], b"3");
        let v = b"sip:a@b;tag=4";
        let p = addr_params_start(v).unwrap();
        assert_eq!(
            param(v, p..v.len(), b"tag").map(|(s, e)| &v[s..e]),
            Some(&b"4"[..])
        );
        assert_eq!(addr_params_start(b"\"open <sip:a@b>"), None);
        assert_eq!(addr_params_start(b"<sip:a@b"), None);
    }

    #[test]
    fn lf_count() {
        for s in [
            &b""[..],
            b"\n",
            b"a\nb\n\n\x8a\x0a\x0b\x09\n",
            &[b'\n'; 33],
            &[0x8a; 17],
        ] {
            assert_eq!(count_lf(s), s.iter().filter(|&&c| c == b'\n').count());
        }
        let all: Vec<u8> = (0..=255).cycle().take(4096).collect();
        assert_eq!(count_lf(&all), 16);
    }

    #[test]
    fn numbers() {
        assert_eq!(number(b"0068", 255), Some(68));
        assert_eq!(number(b"256", 255), None);
        assert_eq!(number(b"00000000000000000001", 255), Some(1));
        assert_eq!(number(b"99999999999", u32::MAX), None);
        assert_eq!(number(b"", 5), None);
        assert_eq!(cseq(b"0009\r\n  INVITE"), Some((9, 8, 14)));
        assert_eq!(cseq(b"2147483648 INVITE"), None);
        assert_eq!(cseq(b"1INVITE"), None);
        assert_eq!(cseq(b"1 INV ITE"), None);
    }
}
