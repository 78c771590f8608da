//! Dial strings and the profile's routing table: what FreeSWITCH's dialplan
//! and `bridge` application do for a signalling-only B2BUA.
//!
//! A profile's `<routes>` lists ordered rules; the first whose `expression`
//! (a regular expression) matches the called number gives the dial string,
//! with `$1`..`$9` replaced by the captures and `${name}` by the call's
//! variables (`destination_number`, `domain`, `caller_id_number`,
//! `caller_id_name`, `profile_name`, and the rule's own `<variable>`s):
//!
//! ```xml
//! <routes>
//!   <route expression="^(10[0-9][0-9])$" dial-string="sofia/internal/$1%${domain}"/>
//!   <route expression="^9(\d+)$" dial-string="{sip_h_X-Account=42}sofia/gateway/carrier/$1">
//!     <variable name="sip_rh_X-Routed" value="carrier"/>
//!   </route>
//! </routes>
//! ```
//!
//! A dial string is FreeSWITCH's: `{var=value,...}` for every leg, then
//! legs separated by `,` (rung at once, first answer wins) within groups
//! separated by `|` (tried in turn until one answers), each leg
//! `[var=value,...]` followed by an endpoint:
//!
//! - `sofia/<profile>/<user>@<host>[:port]` (or a `sip:`/`sips:` URI):
//!   a call to that address through the profile;
//! - `sofia/<profile>/<user>%<host>`: every contact registered for
//!   `user@host` on the profile;
//! - `sofia/gateway/<gateway>/<number>`: a call to `number` through a
//!   gateway (its proxy, credentials and From);
//!
//! and after the address, `^<uri>` overriding the To, and `;fs_path=<uri>`
//! (the first hop) or `;transport=udp|tcp|tls` parameters.

use std::collections::BTreeMap;

use sofia_tport::Transport;

/// Longest dial string accepted.
pub const MAX_DIAL_STRING: usize = 4096;
/// Most legs one dial string may ring.
pub const MAX_LEGS: usize = 32;

/// Variables of a call or a leg (`sip_h_X-Foo`, `sip_auth_username`, ...).
pub type Vars = BTreeMap<String, String>;

/// Where one leg goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// `sofia/<profile>/<address>`: a request URI (`sip:` added when the
    /// address has no scheme).
    Uri {
        /// The profile that sends it.
        profile: String,
        /// The Request-URI.
        uri: String,
    },
    /// `sofia/<profile>/<user>%<host>`: the contacts registered for
    /// `user@host` on the profile.
    Registered {
        /// The profile.
        profile: String,
        /// The user.
        user: String,
        /// The domain.
        host: String,
    },
    /// `sofia/gateway/<gateway>/<number>`.
    Gateway {
        /// The gateway's name.
        gateway: String,
        /// The number called.
        number: String,
    },
}

/// One leg of a dial string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegSpec {
    /// Where it goes.
    pub endpoint: Endpoint,
    /// Its variables: the dial string's `{}` ones, then its `[]` ones.
    pub vars: Vars,
    /// `^<uri>`: the To of the INVITE, instead of the Request-URI.
    pub to: Option<String>,
    /// `;fs_path=<uri>`: the first hop (a Route) before the Request-URI.
    pub fs_path: Option<String>,
    /// `;transport=`: the transport of the Request-URI.
    pub transport: Option<Transport>,
}

/// A parsed dial string: groups tried in turn, legs of a group rung at once.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DialString {
    /// The groups (`|`-separated), each with its legs (`,`-separated).
    pub groups: Vec<Vec<LegSpec>>,
}

/// Why a dial string cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DialError {
    /// Longer than [`MAX_DIAL_STRING`] or more than [`MAX_LEGS`] legs.
    #[error("dial string too long")]
    TooLong,
    /// An unterminated `{` or `[`.
    #[error("unterminated '{0}' in dial string")]
    Unterminated(char),
    /// An endpoint other than `sofia/...`.
    #[error("unsupported endpoint '{0}' (only sofia/<profile>/... and sofia/gateway/...)")]
    Endpoint(String),
    /// `sofia/<profile>/` with nothing after it.
    #[error("no destination in '{0}'")]
    NoDestination(String),
    /// An unknown `transport=`.
    #[error("unknown transport '{0}'")]
    Transport(String),
}

/// Splits `s` at `sep` outside `<...>`, `{...}` and `[...]`.
fn split_top(s: &str, sep: char) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0i32, 0usize);
    for (i, c) in s.char_indices() {
        match c {
            '<' | '{' | '[' => depth += 1,
            '>' | '}' | ']' => depth -= 1,
            c if c == sep && depth <= 0 => {
                out.push(&s[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

/// Reads a leading `{...}` or `[...]` variable block: the variables and
/// the rest of the text.
fn var_block(s: &str, open: char, close: char) -> Result<(Vars, &str), DialError> {
    let mut vars = Vars::new();
    let s = s.trim_start();
    let Some(body) = s.strip_prefix(open) else {
        return Ok((vars, s));
    };
    let end = body.find(close).ok_or(DialError::Unterminated(open))?;
    for pair in body[..end].split(',') {
        let pair = pair.trim();
        if pair.is_empty() {
            continue;
        }
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        vars.insert(k.trim().to_string(), v.trim().to_string());
    }
    Ok((vars, &body[end + 1..]))
}

impl DialString {
    /// Parses a dial string (after substitution).
    pub fn parse(s: &str) -> Result<DialString, DialError> {
        if s.len() > MAX_DIAL_STRING {
            return Err(DialError::TooLong);
        }
        let (global, rest) = var_block(s, '{', '}')?;
        let mut groups = Vec::new();
        let mut count = 0usize;
        for group in split_top(rest, '|') {
            let mut legs = Vec::new();
            for leg in split_top(group, ',') {
                if leg.trim().is_empty() {
                    continue;
                }
                count += 1;
                if count > MAX_LEGS {
                    return Err(DialError::TooLong);
                }
                let (own, body) = var_block(leg, '[', ']')?;
                let mut vars = global.clone();
                vars.extend(own);
                legs.push(parse_leg(body.trim(), vars)?);
            }
            if !legs.is_empty() {
                groups.push(legs);
            }
        }
        Ok(DialString { groups })
    }
}

fn parse_leg(s: &str, vars: Vars) -> Result<LegSpec, DialError> {
    let rest = s
        .strip_prefix("sofia/")
        .ok_or_else(|| DialError::Endpoint(s.to_string()))?;
    let (profile, dest) = rest
        .split_once('/')
        .ok_or_else(|| DialError::NoDestination(s.to_string()))?;
    // `^to` comes after the address and its parameters.
    let (dest, to) = match dest.split_once('^') {
        Some((d, t)) => (d, Some(t.trim().to_string()).filter(|t| !t.is_empty())),
        None => (dest, None),
    };
    let mut parts = split_top(dest, ';').into_iter();
    let address = parts.next().unwrap_or("").trim();
    let mut fs_path = None;
    let mut transport = None;
    let mut uri_params = Vec::new();
    for p in parts {
        let (k, v) = p.split_once('=').unwrap_or((p, ""));
        match k.trim().to_ascii_lowercase().as_str() {
            "fs_path" => {
                let v = v.trim().trim_start_matches('<').trim_end_matches('>');
                fs_path = Some(with_scheme(v));
            }
            "transport" => {
                transport = Some(
                    Transport::from_name(v.trim())
                        .ok_or_else(|| DialError::Transport(v.trim().to_string()))?,
                );
                uri_params.push(format!("transport={}", v.trim().to_ascii_lowercase()));
            }
            _ => uri_params.push(p.trim().to_string()),
        }
    }
    if address.is_empty() {
        return Err(DialError::NoDestination(s.to_string()));
    }
    let endpoint = if profile == "gateway" {
        let (gateway, number) = address
            .split_once('/')
            .ok_or_else(|| DialError::NoDestination(s.to_string()))?;
        if gateway.is_empty() || number.is_empty() {
            return Err(DialError::NoDestination(s.to_string()));
        }
        Endpoint::Gateway {
            gateway: gateway.to_string(),
            number: number.to_string(),
        }
    } else if let Some((user, host)) = address.split_once('%') {
        Endpoint::Registered {
            profile: profile.to_string(),
            user: user.to_string(),
            host: host.to_string(),
        }
    } else {
        let mut uri = with_scheme(address);
        for p in &uri_params {
            uri.push(';');
            uri.push_str(p);
        }
        Endpoint::Uri {
            profile: profile.to_string(),
            uri,
        }
    };
    Ok(LegSpec {
        endpoint,
        vars,
        to: to.map(|t| with_scheme(t.trim_start_matches('<').trim_end_matches('>'))),
        fs_path,
        transport,
    })
}

fn with_scheme(s: &str) -> String {
    let lower = s.get(..5).map(str::to_ascii_lowercase).unwrap_or_default();
    if lower.starts_with("sip:") || lower.starts_with("sips:") {
        s.to_string()
    } else {
        format!("sip:{s}")
    }
}

/// One rule of a profile's `<routes>`.
#[derive(Debug, Clone)]
pub struct Route {
    /// The `expression` as written.
    pub expression: String,
    /// It, compiled.
    pub regex: regex::Regex,
    /// The `dial-string` template.
    pub dial_string: String,
    /// `<variable>`s set on the calling leg when the rule matches
    /// (`sip_rh_*`, `sip_ph_*`, `sip_bye_h_*`).
    pub vars: Vars,
}

impl PartialEq for Route {
    fn eq(&self, other: &Route) -> bool {
        self.expression == other.expression
            && self.dial_string == other.dial_string
            && self.vars == other.vars
    }
}

impl Eq for Route {}

/// What a routing table picks for a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Routed {
    /// The dial string with captures and variables substituted.
    pub dial_string: String,
    /// The rule's variables, for the calling leg.
    pub vars: Vars,
}

/// The first rule whose expression matches `destination`, its dial string
/// and variables expanded: `$N` by capture N, `${name}` by `vars[name]`
/// (empty when unset; the dial string also sees the rule's variables).
pub fn route(routes: &[Route], destination: &str, vars: &Vars) -> Option<Routed> {
    routes.iter().find_map(|r| {
        let caps = r.regex.captures(destination)?;
        let own: Vars = r
            .vars
            .iter()
            .map(|(k, v)| (k.clone(), expand(v, &caps, vars)))
            .collect();
        let mut all = vars.clone();
        all.extend(own.clone());
        Some(Routed {
            dial_string: expand(&r.dial_string, &caps, &all),
            vars: own,
        })
    })
}

/// Appends a substituted value without the characters that would make it
/// more than one value of a dial string (`,` `|` `{` `}` `[` `]` `^` `<`
/// `>` and white space): what a caller puts in the number it dials or its
/// caller ID cannot add legs, variables or a To.
fn push_clean(out: &mut String, value: &str) {
    out.extend(value.chars().filter(|c| {
        !matches!(c, ',' | '|' | '{' | '}' | '[' | ']' | '^' | '<' | '>') && !c.is_whitespace()
    }));
}

fn expand(template: &str, caps: &regex::Captures<'_>, vars: &Vars) -> String {
    let mut out = String::with_capacity(template.len() + 16);
    let mut rest = template;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(name_end) = after.strip_prefix('{').and_then(|a| a.find('}')) {
            let name = &after[1..=name_end];
            push_clean(&mut out, vars.get(name).map_or("", String::as_str));
            rest = &after[name_end + 2..];
        } else if let Some(d) = after.chars().next().filter(char::is_ascii_digit) {
            let n = d.to_digit(10).unwrap_or(0) as usize;
            push_clean(&mut out, caps.get(n).map_or("", |m| m.as_str()));
            rest = &after[1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(expr: &str, dial: &str) -> Route {
        Route {
            expression: expr.into(),
            regex: regex::Regex::new(expr).unwrap(),
            dial_string: dial.into(),
            vars: Vars::new(),
        }
    }

    #[test]
    fn parses_every_endpoint_form() {
        let d = DialString::parse(
            "{sip_h_X-A=1}[sip_h_X-B=2]sofia/internal/1000@127.0.0.1:5070;transport=tcp^sip:other@x,\
             sofia/internal/1001%example.com|sofia/gateway/carrier/15551234;fs_path=<sip:10.0.0.1:5060>",
        )
        .unwrap();
        assert_eq!(d.groups.len(), 2);
        assert_eq!(d.groups[0].len(), 2);
        let a = &d.groups[0][0];
        assert_eq!(
            a.endpoint,
            Endpoint::Uri {
                profile: "internal".into(),
                uri: "sip:1000@127.0.0.1:5070;transport=tcp".into()
            }
        );
        assert_eq!(a.transport, Some(Transport::Tcp));
        assert_eq!(a.to.as_deref(), Some("sip:other@x"));
        assert_eq!(a.vars["sip_h_X-A"], "1");
        assert_eq!(a.vars["sip_h_X-B"], "2");
        let b = &d.groups[0][1];
        assert_eq!(
            b.endpoint,
            Endpoint::Registered {
                profile: "internal".into(),
                user: "1001".into(),
                host: "example.com".into()
            }
        );
        assert!(!b.vars.contains_key("sip_h_X-B"));
        let g = &d.groups[1][0];
        assert_eq!(
            g.endpoint,
            Endpoint::Gateway {
                gateway: "carrier".into(),
                number: "15551234".into()
            }
        );
        assert_eq!(g.fs_path.as_deref(), Some("sip:10.0.0.1:5060"));
    }

    #[test]
    fn refuses_what_it_cannot_dial() {
        assert_eq!(
            DialString::parse("user/1000"),
            Err(DialError::Endpoint("user/1000".into()))
        );
        assert!(matches!(
            DialString::parse("sofia/internal/"),
            Err(DialError::NoDestination(_))
        ));
        assert!(matches!(
            DialString::parse("sofia/gateway/gw"),
            Err(DialError::NoDestination(_))
        ));
        assert_eq!(DialString::parse("{a=b"), Err(DialError::Unterminated('{')));
        assert!(matches!(
            DialString::parse("sofia/internal/1@h;transport=carrier-pigeon"),
            Err(DialError::Transport(_))
        ));
        let many = vec!["sofia/internal/1@h"; MAX_LEGS + 1].join(",");
        assert_eq!(DialString::parse(&many), Err(DialError::TooLong));
        assert_eq!(
            DialString::parse(&"x".repeat(MAX_DIAL_STRING + 1)),
            Err(DialError::TooLong)
        );
    }

    #[test]
    fn routes_substitute_captures_and_variables() {
        let routes = [
            rule("^9(\\d+)$", "sofia/gateway/gw/$1"),
            rule("^(\\d{4})$", "sofia/internal/$1%${domain}"),
        ];
        let mut vars = Vars::new();
        vars.insert("domain".into(), "example.com".into());
        assert_eq!(
            route(&routes, "95551234", &vars).unwrap().dial_string,
            "sofia/gateway/gw/5551234"
        );
        assert_eq!(
            route(&routes, "1000", &vars).unwrap().dial_string,
            "sofia/internal/1000%example.com"
        );
        assert!(route(&routes, "abc", &vars).is_none());
        // What the caller dialed cannot add legs or variables.
        let any = [rule("^(.+)$", "sofia/internal/$1@127.0.0.1")];
        let routed = route(&any, "1000@x,sofia/gateway/gw/900|{a=b}", &vars).unwrap();
        assert_eq!(
            routed.dial_string,
            "sofia/internal/1000@xsofia/gateway/gw/900a=b@127.0.0.1"
        );
        assert_eq!(
            DialString::parse(&routed.dial_string).unwrap().groups.len(),
            1
        );
        assert_eq!(
            DialString::parse(&routed.dial_string).unwrap().groups[0].len(),
            1
        );
        // `$` not followed by a digit or `{` stays.
        let r = [rule("^(x)$", "a$b$$1${unset}")];
        assert_eq!(route(&r, "x", &vars).unwrap().dial_string, "a$b$x");
    }
}
