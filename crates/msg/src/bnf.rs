//! Character classes and small scanners of RFC 3261 §25's grammar.
//!
//! Everything here works on bytes and never allocates.

const fn token_table() -> [bool; 256] {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        t[i] = matches!(b,
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9'
            | b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~');
        i += 1;
    }
    t
}

/// Lookup table for [`is_token`]: one load per byte on the parse hot path.
static TOKEN: [bool; 256] = token_table();

/// `token` characters: alphanumerics and `-.!%*_+`'~`.
#[inline]
pub fn is_token(b: u8) -> bool {
    TOKEN[b as usize]
}

const fn word_table() -> [bool; 256] {
    let mut t = token_table();
    let extra = b"()<>:\\\"/[]?{}";
    let mut i = 0;
    while i < extra.len() {
        t[extra[i] as usize] = true;
        i += 1;
    }
    t
}

/// Lookup table for [`is_word`].
static WORD: [bool; 256] = word_table();

/// `word` characters (Call-ID): token characters plus `()<>:\"/[]?{}`.
#[inline]
pub fn is_word(b: u8) -> bool {
    WORD[b as usize]
}

/// Space or horizontal tab.
pub const fn is_ws(b: u8) -> bool {
    // The first test settles every printable byte.
    b <= b' ' && (b == b' ' || b == b'\t')
}

/// Linear white space inside a header value: SP, HT and the CR LF of a fold.
pub const fn is_lws(b: u8) -> bool {
    // The first test settles every printable byte.
    b <= b' ' && matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// True when every byte is a token character and there is at least one.
pub fn is_token_str(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_token)
}

/// Strips linear white space (including folds) from both ends.
pub fn trim_lws(s: &str) -> &str {
    // On bytes: the white space is ASCII, so the cuts fall on character
    // boundaries (a char pattern was a visible share of the responder's
    // profile).
    let b = s.as_bytes();
    let start = b.iter().position(|&c| !is_lws(c)).unwrap_or(b.len());
    let end = b.iter().rposition(|&c| !is_lws(c)).map_or(start, |e| e + 1);
    s.get(start..end).unwrap_or_default()
}

/// Strips linear white space from the start.
pub fn trim_lws_start(s: &str) -> &str {
    let start = s.bytes().position(|c| !is_lws(c)).unwrap_or(s.len());
    s.get(start..).unwrap_or_default()
}

/// Length of a quoted string at the start of `s` (which starts with `"`),
/// including both quotes, honouring `\` escapes. `None` when unterminated.
pub fn quoted_len(s: &[u8]) -> Option<usize> {
    debug_assert!(s.first() == Some(&b'"'));
    let mut i = 1;
    while i < s.len() {
        match s[i] {
            b'\\' => i += 2,
            b'"' => return Some(i + 1),
            b'\r' | b'\n' => {
                // A fold inside a quoted string is allowed; a bare line end is not.
                if i + 1 < s.len() && (s[i + 1] == b'\n' || is_ws(s[i + 1])) {
                    i += 1;
                } else {
                    return None;
                }
            }
            _ => i += 1,
        }
    }
    None
}

/// A quoted string, angle bracket or comment left open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unbalanced;

impl std::fmt::Display for Unbalanced {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("unbalanced quotes or brackets")
    }
}

impl std::error::Error for Unbalanced {}

/// Finds the first `sep` at nesting level zero: outside quoted strings, angle
/// brackets and (when `comments`) parenthesised comments. `None` when there is
/// none. `Err(Unbalanced)` when a quote, bracket or comment is left open.
pub fn find_unquoted(s: &[u8], sep: u8, comments: bool) -> Result<Option<usize>, Unbalanced> {
    if !comments && !matches!(sep, b'"' | b'<' | b'>') {
        // Without comments only `"`, `<` and `sep` matter: jump between them
        // (this runs for every list header split and parameter scan; a byte
        // loop here was the largest item of the responder's profile).
        let mut i = 0;
        // A byte loop for short texts (most parameters), where memchr3's
        // vector set-up costs more than it saves.
        let next = |rest: &[u8]| {
            if rest.len() < 32 {
                rest.iter()
                    .position(|&c| c == sep || c == b'"' || c == b'<')
            } else {
                memchr::memchr3(sep, b'"', b'<', rest)
            }
        };
        while let Some(p) = next(s.get(i..).unwrap_or_default()) {
            let j = i + p;
            match s[j] {
                b'"' => i = j + quoted_len(&s[j..]).ok_or(Unbalanced)?,
                b'<' => {
                    let close = memchr::memchr(b'>', &s[j + 1..]).ok_or(Unbalanced)?;
                    i = j + 1 + close + 1;
                }
                _ => return Ok(Some(j)),
            }
        }
        return Ok(None);
    }
    let mut i = 0;
    let mut angle = false;
    let mut depth = 0usize;
    while i < s.len() {
        let b = s[i];
        match b {
            b'"' if depth == 0 => {
                i += quoted_len(&s[i..]).ok_or(Unbalanced)?;
                continue;
            }
            b'<' if depth == 0 && !angle => angle = true,
            b'>' if depth == 0 && angle => angle = false,
            b'(' if comments && !angle => depth += 1,
            b')' if comments && !angle && depth > 0 => depth -= 1,
            b'\\' if depth > 0 => i += 1,
            _ if b == sep && !angle && depth == 0 => return Ok(Some(i)),
            _ => {}
        }
        i += 1;
    }
    if angle || depth > 0 {
        Err(Unbalanced)
    } else {
        Ok(None)
    }
}

/// Iterates the comma-separated elements of a list header value, splitting
/// only at commas outside quotes and angle brackets. Empty elements (`a,,b`)
/// are skipped, as RFC 7230's list rule allows. Yields `Err(Unbalanced)` once, and then
/// stops, when a quote or bracket is left open.
#[derive(Debug, Clone)]
pub struct CommaSplit<'a> {
    rest: Option<&'a str>,
}

impl<'a> CommaSplit<'a> {
    /// Splits `value`.
    pub fn new(value: &'a str) -> Self {
        CommaSplit { rest: Some(value) }
    }
}

impl<'a> Iterator for CommaSplit<'a> {
    type Item = Result<&'a str, Unbalanced>;
    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let rest = self.rest?;
            let (item, next) = match find_unquoted(rest.as_bytes(), b',', false) {
                Ok(Some(i)) => (&rest[..i], Some(&rest[i + 1..])),
                Ok(None) => (rest, None),
                Err(Unbalanced) => {
                    self.rest = None;
                    return Some(Err(Unbalanced));
                }
            };
            self.rest = next;
            let item = trim_lws(item);
            if !item.is_empty() {
                return Some(Ok(item));
            }
        }
    }
}

/// Parses a decimal number of at most `max` value; leading zeros are allowed
/// (RFC 4475 `0068`), overflow is an error.
pub fn parse_u32_max(s: &str, max: u32) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut v: u64 = 0;
    for b in s.bytes() {
        v = v * 10 + u64::from(b - b'0');
        if v > u64::from(max) {
            return None;
        }
    }
    Some(v as u32)
}

/// Decodes a hex digit.
pub const fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Unescapes a quoted string's content (without its quotes): `\x` becomes `x`.
pub fn unquote(inner: &str) -> std::borrow::Cow<'_, str> {
    if !inner.contains('\\') {
        return std::borrow::Cow::Borrowed(inner);
    }
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn word_is_token_and_the_separators_of_rfc3261() {
        for b in 0..=255u8 {
            let expected = b.is_ascii_alphanumeric() || b"-.!%*_+`'~()<>:\\\"/[]?{}".contains(&b);
            assert_eq!(is_word(b), expected, "{b:#x}");
        }
    }

    #[test]
    fn comma_split_respects_quotes_and_brackets() {
        let v = r#""a, b" <sip:x@y;p=1,2>;q=1, <sip:z>,, "c\"," <sip:w>"#;
        let items: Vec<_> = CommaSplit::new(v).collect::<Result<_, _>>().unwrap();
        assert_eq!(
            items,
            vec![
                r#""a, b" <sip:x@y;p=1,2>;q=1"#,
                "<sip:z>",
                r#""c\"," <sip:w>"#
            ]
        );
        assert!(CommaSplit::new(r#""open, <sip:a>"#).any(|r| r.is_err()));
        assert_eq!(CommaSplit::new(";;,,;;,;").count(), 3);
    }

    #[test]
    fn find_unquoted_fast_and_slow_agree() {
        let cases: [&[u8]; 9] = [
            b"a,b",
            b"\"x,y\" <sip:a,b>;p=1, c",
            b"<sip:a;b>;x=\"q;\";y",
            b"\"open, x",
            b"<open, x",
            b"plain",
            b"a > b, c",
            b"\"a\\\",b\",c",
            b"",
        ];
        for s in cases {
            for sep in [b',', b';'] {
                let fast = find_unquoted(s, sep, false);
                // The general loop, with comments off, is the reference.
                let mut reference = None;
                let mut i = 0;
                let mut angle = false;
                let mut err = false;
                while i < s.len() {
                    match s[i] {
                        b'"' if !angle => match quoted_len(&s[i..]) {
                            Some(n) => {
                                i += n;
                                continue;
                            }
                            None => {
                                err = true;
                                break;
                            }
                        },
                        b'<' if !angle => angle = true,
                        b'>' if angle => angle = false,
                        c if c == sep && !angle => {
                            reference = Some(i);
                            break;
                        }
                        _ => {}
                    }
                    i += 1;
                }
                let expected = if err || (angle && reference.is_none()) {
                    Err(Unbalanced)
                } else {
                    Ok(reference)
                };
                assert_eq!(
                    fast,
                    expected,
                    "{:?} {}",
                    String::from_utf8_lossy(s),
                    sep as char
                );
            }
        }
    }

    #[test]
    fn numbers() {
        assert_eq!(parse_u32_max("0068", 255), Some(68));
        assert_eq!(parse_u32_max("300", 255), None);
        assert_eq!(parse_u32_max("36893488147419103232", u32::MAX), None);
        assert_eq!(parse_u32_max("", 9), None);
        assert_eq!(parse_u32_max("-1", 9), None);
    }

    #[test]
    fn quoted() {
        assert_eq!(quoted_len(br#""ab\"c" x"#), Some(7));
        assert_eq!(quoted_len(br#""ab"#), None);
        assert_eq!(quoted_len(b"\"a\r\n b\""), Some(7));
        assert_eq!(unquote(r#"J Rosenberg \\\""#), r#"J Rosenberg \""#);
    }
}
