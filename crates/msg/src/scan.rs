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
    let end = if find(b'"', v).is_none() && find(b'<', v).is_none() {
        find(b',', v).unwrap_or(v.len())
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
    match find(b'<', &v[i..]) {
        Some(lt) => {
            let gt = find(b'>', &v[i + lt..])?;
            Some(i + lt + gt + 1)
        }
        // addr-spec: parameters start at the first ';'.
        None => Some(find(b';', &v[i..]).map_or(v.len(), |p| i + p)),
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
        let semi = i + find(b';', &v[i..end])?;
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

/// Position of the first `needle` in `hay`. On x86-64 this calls memchr's
/// SSE2 searcher directly: the values scanned here are tens of bytes, where
/// `memchr::memchr` spends more on choosing an implementation at run time and
/// setting up 32-byte vectors than on the search (measured with callgrind on
/// the benchmark INVITE: a third fewer instructions per parse). Elsewhere it
/// is `memchr::memchr`.
#[inline]
pub(crate) fn find(needle: u8, hay: &[u8]) -> Option<usize> {
    #[cfg(target_arch = "x86_64")]
    if let Some(one) = memchr::arch::x86_64::sse2::memchr::One::new(needle) {
        return one.find(hay);
    }
    memchr::memchr(needle, hay)
}

/// Position of the first `\n` in `hay`, sixteen bytes at a time with one
/// vector compare and a move-mask (the `wide` crate's safe SIMD). Header
/// lines are tens of bytes: measured with callgrind on the benchmark INVITE,
/// this takes fewer instructions per line than [`find`], whose set-up is
/// made for long haystacks.
#[inline]
pub(crate) fn find_lf(hay: &[u8]) -> Option<usize> {
    use wide::u8x16;
    let lf = u8x16::splat(b'\n');
    let mut i = 0;
    while let Some(chunk) = hay.get(i..).and_then(|r| r.first_chunk::<16>()) {
        let mask = u8x16::new(*chunk).simd_eq(lf).to_bitmask();
        if mask != 0 {
            return Some(i + mask.trailing_zeros() as usize);
        }
        i += 16;
    }
    hay.get(i..)?
        .iter()
        .position(|&c| c == b'\n')
        .map(|p| i + p)
}

/// Position of the last `needle` in `hay`, like [`find`].
#[inline]
pub(crate) fn rfind(needle: u8, hay: &[u8]) -> Option<usize> {
    #[cfg(target_arch = "x86_64")]
    if let Some(one) = memchr::arch::x86_64::sse2::memchr::One::new(needle) {
        return one.rfind(hay);
    }
    memchr::memrchr(needle, hay)
}

/// Position of the first `n1` or `n2` in `hay`, like [`find`].
#[inline]
pub(crate) fn find2(n1: u8, n2: u8, hay: &[u8]) -> Option<usize> {
    #[cfg(target_arch = "x86_64")]
    if let Some(two) = memchr::arch::x86_64::sse2::memchr::Two::new(n1, n2) {
        return two.find(hay);
    }
    memchr::memchr2(n1, n2, hay)
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

/// A parameter key for [`fast_param`]: `;name=` as a little-endian word,
/// with the mask that folds the letters of `name` to lower case.
#[derive(Clone, Copy)]
pub(crate) struct Key {
    len: usize,
    word: u64,
    fold: u64,
}

impl Key {
    /// `key` is `;`, a lower-case name of letters, and `=`: at most 8 bytes.
    const fn new(key: &[u8]) -> Key {
        let mut word = 0u64;
        let mut fold = 0u64;
        let mut i = 0;
        while i < key.len() {
            word |= (key[i] as u64) << (8 * i);
            if key[i].is_ascii_lowercase() {
                fold |= 0x20 << (8 * i);
            }
            i += 1;
        }
        Key {
            len: key.len(),
            word,
            fold,
        }
    }
}

/// `;branch=`
pub(crate) const BRANCH: Key = Key::new(b";branch=");
/// `;tag=`
pub(crate) const TAG: Key = Key::new(b";tag=");

/// What the fast parameter scan found.
enum Fast {
    /// The value's range.
    Found(usize, usize),
    /// There is no parameter at all after the start: the key is absent.
    Absent,
    /// Parameters are there but the key is not written the simple way.
    Unsure,
}

/// Fast path for a parameter written `;name=token` without white space, in
/// a value without quotes: finds it at any `;` from `from`, ignoring the case
/// of the name (one word compare: `| 0x20` folds exactly the letters, the
/// `;` and `=` compare exactly). [`Fast::Unsure`] sends the caller to
/// [`param`], which handles every form; this path only has to be right when
/// it answers.
#[inline(always)]
fn fast_param(v: &[u8], from: usize, key: Key) -> Fast {
    let mask = if key.len == 8 {
        u64::MAX
    } else {
        (1u64 << (8 * key.len)) - 1
    };
    let mut i = from;
    let mut any = false;
    loop {
        let Some(semi) = v.get(i..).and_then(|r| find(b';', r)).map(|p| i + p) else {
            return if any { Fast::Unsure } else { Fast::Absent };
        };
        any = true;
        let matched = match v.get(semi..semi + 8).and_then(|c| c.first_chunk::<8>()) {
            Some(chunk) => (u64::from_le_bytes(*chunk) | key.fold) & mask == key.word,
            None => match v.get(semi..semi + key.len) {
                Some(cand) => cand.iter().enumerate().all(|(k, &c)| {
                    (u64::from(c) | (key.fold >> (8 * k) & 0xff)) == (key.word >> (8 * k) & 0xff)
                }),
                None => return Fast::Unsure,
            },
        };
        if matched {
            let start = semi + key.len;
            let len = v[start..]
                .iter()
                .position(|&c| !is_token(c))
                .unwrap_or(v.len() - start);
            return if len > 0 {
                Fast::Found(start, start + len)
            } else {
                Fast::Unsure
            };
        }
        i = semi + 1;
    }
}

/// The branch of the first value of a Via header: the fast path for the
/// common `;branch=token`, accepted when no quote and no comma (a second
/// value) comes before it; else [`param`] over the first value.
pub(crate) fn via_branch(v: &[u8]) -> Option<(usize, usize)> {
    if let Fast::Found(s, e) = fast_param(v, 0, BRANCH)
        && find2(b',', b'"', &v[..s]).is_none()
    {
        return Some((s, e));
    }
    param(v, value_end(v, true), b"branch")
}

/// The tag of a From or To value: the fast path for `;tag=token` after the
/// address, accepted when the value does not start with a quoted display name
/// and no quote comes between the address and the tag (or, with no
/// parameter at all after the address, no tag); else [`addr_params_start`]
/// and [`param`].
pub(crate) fn addr_tag(v: &[u8]) -> Option<(usize, usize)> {
    if v.first() != Some(&b'"') {
        // Parameters follow the last '>' (a '>' inside a quoted parameter
        // value is caught by the quote test below), or, in the addr-spec
        // form, start at the first ';'.
        let after = rfind(b'>', v).map_or(0, |gt| gt + 1);
        match fast_param(v, after, TAG) {
            // The span before the tag is short: a plain loop.
            Fast::Found(s, e) if !v[after..s].contains(&b'"') => return Some((s, e)),
            Fast::Absent => return None,
            _ => {}
        }
    }
    let p = addr_params_start(v)?;
    param(v, p..v.len(), b"tag")
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
    let mut n: u64 = 0;
    let mut p = 0;
    while let Some(&c) = v.get(p) {
        if !c.is_ascii_digit() {
            break;
        }
        n = n * 10 + u64::from(c - b'0');
        if n > 0x7fff_ffff {
            // Leading zeros keep n small; anything else this large is invalid.
            return None;
        }
        p += 1;
    }
    if p == 0 || !v.get(p).copied().is_some_and(is_lws) {
        return None;
    }
    while v.get(p).copied().is_some_and(is_lws) {
        p += 1;
    }
    let ms = p;
    while v.get(p).copied().is_some_and(is_token) {
        p += 1;
    }
    (p == v.len() && p > ms).then_some((n as u32, ms, p))
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
    fn fast_paths_agree_with_general() {
        let vias: [&[u8]; 7] = [
            b"SIP/2.0/UDP h:5060;branch=z9hG4bK1;rport",
            b"SIP/2.0/UDP h;rport;BRANCH=z9hG4bK2",
            b"SIP/2.0/UDP h ; branch = z9hG4bK3",
            b"SIP/2.0/UDP h, SIP/2.0/UDP g;branch=z9hG4bK4",
            b"SIP/2.0/UDP h;x=\";branch=no\";branch=z9hG4bK5",
            b"SIP/2.0/UDP h;branch=",
            b"SIP/2.0/UDP h",
        ];
        let expect: [Option<&[u8]>; 7] = [
            Some(b"z9hG4bK1"),
            Some(b"z9hG4bK2"),
            Some(b"z9hG4bK3"),
            None,
            Some(b"z9hG4bK5"),
            None,
            None,
        ];
        for (v, e) in vias.iter().zip(expect) {
            assert_eq!(
                via_branch(v).map(|(s, e)| &v[s..e]),
                e,
                "{:?}",
                String::from_utf8_lossy(v)
            );
        }
        let addrs: [&[u8]; 6] = [
            b"Alice <sip:alice@a.com>;tag=1928",
            b"<sip:a@b;tag=uri-param>;TAG=real",
            b"sip:a@b;tag=x1",
            b"\"q;tag=no\" <sip:a@b>;tag=x2",
            b"<sip:a@b> ; tag = x3",
            b"<sip:a@b>",
        ];
        let expect: [Option<&[u8]>; 6] = [
            Some(b"1928"),
            Some(b"real"),
            Some(b"x1"),
            Some(b"x2"),
            Some(b"x3"),
            None,
        ];
        for (v, e) in addrs.iter().zip(expect) {
            assert_eq!(
                addr_tag(v).map(|(s, e)| &v[s..e]),
                e,
                "{:?}",
                String::from_utf8_lossy(v)
            );
        }
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
    fn lf_find() {
        let data: Vec<u8> = (0..=255u8)
            .chain(b"ab\ncd\n".iter().copied())
            .cycle()
            .take(700)
            .collect();
        for from in 0..data.len() + 1 {
            for to in [
                from,
                (from + 5).min(data.len()),
                (from + 40).min(data.len()),
                data.len(),
            ] {
                let hay = &data[from..to];
                assert_eq!(find_lf(hay), hay.iter().position(|&c| c == b'\n'));
            }
        }
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
        assert_eq!(cseq(b"00000000000000000000000001 ACK"), Some((1, 27, 30)));
        assert_eq!(cseq(b"2147483647 ACK"), Some((2147483647, 11, 14)));
        assert_eq!(cseq(b" 1 ACK"), None);
        assert_eq!(cseq(b"1 INV ITE"), None);
    }
}
