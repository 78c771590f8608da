//! `;name=value` parameter lists of URIs and header values, iterated without
//! copying.

use crate::bnf::{find_unquoted, is_token, trim_lws};

/// A parameter list, kept as the text after the first `;` (without it).
///
/// Header parameters allow linear white space around `;` and `=` and quoted
/// values (`;tag = 98asjd8`, `;text="a;b"`); URI parameters allow neither.
/// Names compare ignoring case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Params<'a> {
    raw: &'a str,
    header: bool,
}

impl<'a> Params<'a> {
    /// Parameters of a URI.
    pub fn uri(raw: &'a str) -> Self {
        Params { raw, header: false }
    }

    /// Parameters of a header value.
    pub fn header(raw: &'a str) -> Self {
        Params { raw, header: true }
    }

    /// The raw text (without the leading `;`).
    pub fn as_str(&self) -> &'a str {
        self.raw
    }

    /// True when there are no parameters.
    pub fn is_empty(&self) -> bool {
        self.iter().next().is_none()
    }

    /// Iterates `(name, value)`; a bare `name` has value `None`. Quoted values
    /// are returned with their quotes.
    pub fn iter(&self) -> ParamIter<'a> {
        ParamIter {
            rest: self.raw,
            header: self.header,
        }
    }

    /// The value of the first parameter called `name` (ignoring case).
    pub fn get(&self, name: &str) -> Option<Option<&'a str>> {
        self.iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// True when a parameter called `name` is present.
    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// A parameter's value with surrounding quotes removed (escapes kept).
    pub fn get_unquoted(&self, name: &str) -> Option<&'a str> {
        self.get(name).flatten().map(strip_quotes)
    }
}

/// Removes one pair of surrounding double quotes, if present.
pub fn strip_quotes(v: &str) -> &str {
    if v.len() >= 2 && v.starts_with('"') && v.ends_with('"') {
        &v[1..v.len() - 1]
    } else {
        v
    }
}

/// Iterator over [`Params`].
#[derive(Debug, Clone)]
pub struct ParamIter<'a> {
    rest: &'a str,
    header: bool,
}

impl<'a> Iterator for ParamIter<'a> {
    type Item = (&'a str, Option<&'a str>);
    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.rest.is_empty() {
                return None;
            }
            let end = if self.header {
                find_unquoted(self.rest.as_bytes(), b';', false)
                    .ok()
                    .flatten()
                    .unwrap_or(self.rest.len())
            } else {
                self.rest.find(';').unwrap_or(self.rest.len())
            };
            let item = &self.rest[..end];
            self.rest = if end < self.rest.len() {
                &self.rest[end + 1..]
            } else {
                ""
            };
            let item = if self.header { trim_lws(item) } else { item };
            if item.is_empty() {
                continue;
            }
            return Some(match item.find('=') {
                Some(eq) if !item.starts_with('"') => {
                    let (n, v) = (&item[..eq], &item[eq + 1..]);
                    if self.header {
                        (trim_lws(n), Some(trim_lws(v)))
                    } else {
                        (n, Some(v))
                    }
                }
                _ => (item, None),
            });
        }
    }
}

/// Checks header parameters (`*( SEMI generic-param )`, the text after the first
/// `;`): each name a token, each value a token, a host or a quoted string.
pub(crate) fn check_header_params(raw: &str) -> Result<(), &'static str> {
    check_header_params_each(raw, |_, _| {})
}

/// [`check_header_params`], passing each parameter's name and value (as
/// [`Params::iter`] reads them) to `each` on the way, so that a caller that
/// looks at some of them needs no second pass.
pub(crate) fn check_header_params_each<'a>(
    raw: &'a str,
    mut each: impl FnMut(&'a str, Option<&'a str>),
) -> Result<(), &'static str> {
    // What almost every message has, `name[=value]` of token characters
    // separated by bare `;`, is read in one pass over the bytes. White
    // space, a quoted or bracketed value or a fault hand the parameters
    // from the one where they appear to the general loop below, which
    // gives the same results (it is the loop every parameter went
    // through, at several times the instructions: callgrind).
    let b = raw.as_bytes();
    let mut i = 0;
    let rest = loop {
        let start = i;
        while i < b.len() && is_token(b[i]) {
            i += 1;
        }
        let name = &raw[start..i];
        if name.is_empty() {
            break &raw[start..];
        }
        let mut value = None;
        if b.get(i) == Some(&b'=') {
            i += 1;
            let value_start = i;
            while i < b.len() && is_token(b[i]) {
                i += 1;
            }
            if i == value_start {
                break &raw[start..];
            }
            value = Some(&raw[value_start..i]);
        }
        match b.get(i) {
            None => {
                each(name, value);
                return Ok(());
            }
            Some(b';') => {
                each(name, value);
                i += 1;
            }
            Some(_) => break &raw[start..],
        }
    };
    check_header_params_general(rest, each)
}

/// [`check_header_params_each`] for any parameter text.
fn check_header_params_general<'a>(
    raw: &'a str,
    mut each: impl FnMut(&'a str, Option<&'a str>),
) -> Result<(), &'static str> {
    let mut rest = raw;
    loop {
        let end = match find_unquoted(rest.as_bytes(), b';', false) {
            Ok(Some(i)) => i,
            Ok(None) => rest.len(),
            Err(_) => return Err("unbalanced quotes in parameter"),
        };
        let item = trim_lws(&rest[..end]);
        if item.is_empty() {
            return Err("empty parameter");
        }
        let (name, value) = match item.find('=') {
            Some(eq) => (trim_lws(&item[..eq]), Some(trim_lws(&item[eq + 1..]))),
            None => (item, None),
        };
        if !crate::bnf::is_token_str(name) {
            return Err("invalid parameter name");
        }
        if let Some(v) = value {
            let ok = if v.starts_with('"') {
                crate::bnf::quoted_len(v.as_bytes()) == Some(v.len())
            } else if v.starts_with('[') {
                crate::uri::valid_host(v)
            } else {
                crate::bnf::is_token_str(v)
            };
            if !ok {
                return Err("invalid parameter value");
            }
        }
        each(name, value);
        if end >= rest.len() {
            return Ok(());
        }
        rest = &rest[end + 1..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_params_with_lws() {
        let p = Params::header(" tag    = 1918181833n");
        assert_eq!(p.get("TAG"), Some(Some("1918181833n")));
        let p = Params::header("\r\n  tag = 98asjd8 ;x;text=\"a;b\"");
        let v: Vec<_> = p.iter().collect();
        assert_eq!(
            v,
            vec![
                ("tag", Some("98asjd8")),
                ("x", None),
                ("text", Some("\"a;b\""))
            ]
        );
        assert_eq!(p.get_unquoted("text"), Some("a;b"));
    }

    #[test]
    fn uri_params() {
        let p = Params::uri("lr;transport=tcp;;maddr=1.2.3.4");
        assert!(p.contains("LR"));
        assert_eq!(p.get("transport"), Some(Some("tcp")));
        assert_eq!(p.iter().count(), 3);
    }

    #[test]
    fn checks() {
        assert!(check_header_params("tag=1;lr;q=0.5;text=\"x y\";received=[::1]").is_ok());
        assert!(check_header_params("tag=1;;").is_err());
        assert!(check_header_params("ta g=1").is_err());
        assert!(check_header_params("tag=\"open").is_err());
        assert!(check_header_params("tag=a b").is_err());
    }

    fn param_text() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let pieces = prop::sample::select(vec![
            "tag",
            "=",
            ";",
            "1",
            "a.b",
            " ",
            "\t",
            "\r\n ",
            "\"x;y\"",
            "\"",
            "[::1]",
            "[",
            "<",
            ">",
            ",",
            "%",
            "é",
            "z9hG4bK-7",
        ]);
        prop::collection::vec(pieces, 0..10).prop_map(|v| v.concat())
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(20_000))]
        /// The one-pass reading gives the general loop's parameters and
        /// result for any text.
        #[test]
        fn fast_path_agrees_with_the_general_loop(text in param_text()        ) {
            let (mut fast, mut general) = (Vec::new(), Vec::new());
            let a = check_header_params_each(&text, |n, v| fast.push((n, v)));
            let b = check_header_params_general(&text, |n, v| general.push((n, v)));
            proptest::prop_assert_eq!(a, b);
            proptest::prop_assert_eq!(fast, general);
        }
    }
}
