//! Authentication headers (RFC 3261 §22 and §25, RFC 7616, RFC 8760):
//! `Authorization` and `Proxy-Authorization` ([`Credentials`]),
//! `WWW-Authenticate` and `Proxy-Authenticate` ([`Challenge`]) and
//! `Authentication-Info`.
//!
//! A value is `auth-scheme LWS auth-param *(COMMA auth-param)`, where each
//! `auth-param` is `token EQUAL ( token / quoted-string )`. Any scheme is
//! accepted (`Digest`, `Bearer`, `NoOneKnowsThisScheme`, ...); schemes other
//! than Digest may also carry a single `token68` (RFC 7235 §2.1) or nothing at
//! all. Parameters are kept in place and iterated without copying; unknown
//! ones are kept.
//!
//! ```
//! use sofia_msg::headers::{Authorization, TypedHeader};
//! let a = Authorization::parse(
//!     "Digest username=\"Alice\", realm=\"atlanta.com\",\r\n \
//!      nonce=\"84a4cc6f3082121f32b42a2187831a9e\",\r\n \
//!      response=\"7587245234b3434cc3412213e5f113a5432\"",
//! )
//! .unwrap();
//! assert!(a.is_digest());
//! assert_eq!(a.username(), Some("Alice"));
//! assert_eq!(a.realm(), Some("atlanta.com"));
//! ```

use std::borrow::Cow;

use super::{HeaderError, SeparatedValues, TypedHeader, newtype_header};
use crate::bnf::{is_lws, is_token, quoted_len, trim_lws, trim_lws_start, unquote};
use crate::name::HeaderName;
use crate::params::strip_quotes;

/// One `name=value` authentication parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthParam<'a> {
    /// The name (compare ignoring case).
    pub name: &'a str,
    /// The value as written: a token or a quoted string with its quotes.
    pub value: &'a str,
}

impl<'a> AuthParam<'a> {
    /// True when the value is a quoted string.
    pub fn is_quoted(&self) -> bool {
        self.value.starts_with('"')
    }

    /// The value without its quotes (escapes kept).
    pub fn inner(&self) -> &'a str {
        strip_quotes(self.value)
    }

    /// The value without its quotes and with escapes removed.
    pub fn unescaped(&self) -> Cow<'a, str> {
        if self.is_quoted() {
            unquote(self.inner())
        } else {
            Cow::Borrowed(self.value)
        }
    }
}

/// Splits the first auth-param off `s`, returning it and the text after its
/// separating comma. `Ok(None)` at the end.
fn next_param(s: &str) -> Result<Option<(AuthParam<'_>, &str)>, HeaderError> {
    let s = trim_lws_start(s);
    if s.is_empty() {
        return Ok(None);
    }
    let name_end = s.bytes().position(|b| !is_token(b)).unwrap_or(s.len());
    if name_end == 0 {
        return Err(HeaderError("invalid auth-param"));
    }
    let name = &s[..name_end];
    let rest = trim_lws_start(&s[name_end..])
        .strip_prefix('=')
        .ok_or(HeaderError("auth-param without '='"))?;
    let rest = trim_lws_start(rest);
    let len = if rest.starts_with('"') {
        quoted_len(rest.as_bytes()).ok_or(HeaderError("unterminated quoted string"))?
    } else {
        rest.bytes()
            .position(|b| !is_token(b))
            .unwrap_or(rest.len())
    };
    if len == 0 {
        return Err(HeaderError("invalid auth-param value"));
    }
    let value = &rest[..len];
    let rest = trim_lws_start(&rest[len..]);
    let rest = if rest.is_empty() {
        rest
    } else {
        let r = rest
            .strip_prefix(',')
            .ok_or(HeaderError("expected ',' between auth-params"))?;
        if trim_lws(r).is_empty() {
            return Err(HeaderError("trailing ',' after auth-params"));
        }
        r
    };
    Ok(Some((AuthParam { name, value }, rest)))
}

/// A comma-separated list of auth-params, checked when parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AuthParams<'a> {
    raw: &'a str,
}

impl<'a> AuthParams<'a> {
    /// Checks `auth-param *(COMMA auth-param)` (or nothing).
    pub fn parse(raw: &'a str) -> Result<AuthParams<'a>, HeaderError> {
        let raw = trim_lws(raw);
        let mut rest = raw;
        while let Some((_, r)) = next_param(rest)? {
            rest = r;
        }
        Ok(AuthParams { raw })
    }

    /// The raw text.
    pub fn as_str(&self) -> &'a str {
        self.raw
    }

    /// True when there are no parameters.
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    /// Iterates the parameters in order.
    pub fn iter(&self) -> AuthParamIter<'a> {
        AuthParamIter { rest: self.raw }
    }

    /// The first parameter called `name` (ignoring case).
    pub fn get(&self, name: &str) -> Option<AuthParam<'a>> {
        self.iter().find(|p| p.name.eq_ignore_ascii_case(name))
    }

    /// The value of the first parameter called `name`, without quotes
    /// (escapes kept).
    pub fn value(&self, name: &str) -> Option<&'a str> {
        self.get(name).map(|p| p.inner())
    }

    /// The value of the first parameter called `name`, without quotes and
    /// with escapes removed.
    pub fn unescaped(&self, name: &str) -> Option<Cow<'a, str>> {
        self.get(name).map(|p| p.unescaped())
    }

    /// True when a parameter's value is `true` (ignoring case and quotes).
    fn flag(&self, name: &str) -> bool {
        self.value(name)
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    }
}

impl<'a> IntoIterator for AuthParams<'a> {
    type Item = AuthParam<'a>;
    type IntoIter = AuthParamIter<'a>;
    fn into_iter(self) -> AuthParamIter<'a> {
        self.iter()
    }
}

/// Iterator over [`AuthParams`].
#[derive(Debug, Clone)]
pub struct AuthParamIter<'a> {
    rest: &'a str,
}

impl<'a> Iterator for AuthParamIter<'a> {
    type Item = AuthParam<'a>;
    fn next(&mut self) -> Option<AuthParam<'a>> {
        match next_param(self.rest) {
            Ok(Some((p, rest))) => {
                self.rest = rest;
                Some(p)
            }
            _ => {
                self.rest = "";
                None
            }
        }
    }
}

/// A Digest algorithm (RFC 7616 §6.1, RFC 8760).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DigestAlgorithm {
    /// `MD5` (the default when absent).
    Md5,
    /// `MD5-sess`
    Md5Sess,
    /// `SHA-256`
    Sha256,
    /// `SHA-256-sess`
    Sha256Sess,
    /// `SHA-512-256`
    Sha512_256,
    /// `SHA-512-256-sess`
    Sha512_256Sess,
    /// Any other algorithm.
    Other,
}

impl DigestAlgorithm {
    /// Looks an algorithm name up, ignoring case.
    pub fn from_name(name: &str) -> DigestAlgorithm {
        const NAMES: [(&str, DigestAlgorithm); 6] = [
            ("MD5", DigestAlgorithm::Md5),
            ("MD5-sess", DigestAlgorithm::Md5Sess),
            ("SHA-256", DigestAlgorithm::Sha256),
            ("SHA-256-sess", DigestAlgorithm::Sha256Sess),
            ("SHA-512-256", DigestAlgorithm::Sha512_256),
            ("SHA-512-256-sess", DigestAlgorithm::Sha512_256Sess),
        ];
        NAMES
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map_or(DigestAlgorithm::Other, |(_, a)| *a)
    }

    /// True for the `-sess` variants.
    pub fn is_sess(self) -> bool {
        matches!(
            self,
            DigestAlgorithm::Md5Sess
                | DigestAlgorithm::Sha256Sess
                | DigestAlgorithm::Sha512_256Sess
        )
    }
}

/// True for RFC 7235's `token68`: `1*( ALPHA / DIGIT / "-" / "." / "_" /
/// "~" / "+" / "/" ) *"="`.
fn is_token68(s: &str) -> bool {
    let body = s.trim_end_matches('=');
    !body.is_empty()
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b))
}

/// Splits `auth-scheme [ LWS ( token68 / auth-params ) ]`.
fn parse_scheme(value: &str) -> Result<(&str, Option<&str>, AuthParams<'_>), HeaderError> {
    let v = trim_lws(value);
    let end = v.bytes().position(|b| !is_token(b)).unwrap_or(v.len());
    let scheme = &v[..end];
    if scheme.is_empty() {
        return Err(HeaderError("missing auth-scheme"));
    }
    let digest = scheme.eq_ignore_ascii_case("Digest");
    let after = &v[end..];
    if after.is_empty() {
        if digest {
            return Err(HeaderError("Digest without parameters"));
        }
        return Ok((scheme, None, AuthParams::default()));
    }
    if !after.bytes().next().is_some_and(is_lws) {
        return Err(HeaderError("expected white space after auth-scheme"));
    }
    let rest = trim_lws_start(after);
    if !digest && is_token68(rest) {
        return Ok((scheme, Some(rest), AuthParams::default()));
    }
    Ok((scheme, None, AuthParams::parse(rest)?))
}

/// Validates an `nc` value (`8LHEX`) into a number.
fn parse_nc(v: &str) -> Option<u32> {
    if v.is_empty() || v.len() > 8 || !v.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u32::from_str_radix(v, 16).ok()
}

/// Iterator over the options of a challenge's `qop="auth,auth-int"`.
pub type QopOptions<'a> = SeparatedValues<'a>;

/// Defines a scheme-and-parameters type (credentials or a challenge) with its
/// parser and the accessors both kinds share.
macro_rules! auth_value {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct $name<'a> {
            /// The scheme (`Digest`, ...).
            pub scheme: &'a str,
            /// The token68 of a scheme that uses one (`Bearer mF_9.B5f-4.1JqM`).
            pub token68: Option<&'a str>,
            /// The parameters.
            pub params: AuthParams<'a>,
        }

        impl<'a> $name<'a> {
            /// Parses `auth-scheme LWS auth-param *(COMMA auth-param)`.
            pub fn parse(value: &'a str) -> Result<$name<'a>, HeaderError> {
                let (scheme, token68, params) = parse_scheme(value)?;
                Ok($name {
                    scheme,
                    token68,
                    params,
                })
            }

            /// True when the scheme is `Digest`.
            pub fn is_digest(&self) -> bool {
                self.scheme.eq_ignore_ascii_case("Digest")
            }

            /// A parameter's value without quotes (escapes kept); for any
            /// parameter, known or not.
            pub fn param(&self, name: &str) -> Option<&'a str> {
                self.params.value(name)
            }
        }
    };
}

auth_value!(
    /// Credentials (RFC 3261 §22.2, §25): the value of `Authorization` and
    /// `Proxy-Authorization`.
    Credentials
);

impl<'a> Credentials<'a> {
    /// `username`.
    pub fn username(&self) -> Option<&'a str> {
        self.param("username")
    }

    /// `username*` (RFC 7616 §3.4.4): the RFC 5987 encoded user name, as
    /// written (`UTF-8''J%C3%A4s%C3%B8n%20Doe`).
    pub fn username_star(&self) -> Option<&'a str> {
        self.param("username*")
    }

    /// `userhash=true` (RFC 7616 §3.4.4): the username is hashed.
    pub fn userhash(&self) -> bool {
        self.params.flag("userhash")
    }

    /// `realm`.
    pub fn realm(&self) -> Option<&'a str> {
        self.param("realm")
    }

    /// `nonce`.
    pub fn nonce(&self) -> Option<&'a str> {
        self.param("nonce")
    }

    /// `uri` (the digest-uri).
    pub fn uri(&self) -> Option<&'a str> {
        self.param("uri")
    }

    /// `response` (the request digest, hex).
    pub fn response(&self) -> Option<&'a str> {
        self.param("response")
    }

    /// `algorithm` as written.
    pub fn algorithm(&self) -> Option<&'a str> {
        self.param("algorithm")
    }

    /// `algorithm`, `MD5` when absent.
    pub fn digest_algorithm(&self) -> DigestAlgorithm {
        self.algorithm()
            .map_or(DigestAlgorithm::Md5, DigestAlgorithm::from_name)
    }

    /// `cnonce`.
    pub fn cnonce(&self) -> Option<&'a str> {
        self.param("cnonce")
    }

    /// `opaque`.
    pub fn opaque(&self) -> Option<&'a str> {
        self.param("opaque")
    }

    /// `qop` (the one chosen: `auth` or `auth-int`).
    pub fn qop(&self) -> Option<&'a str> {
        self.param("qop")
    }

    /// `nc` as written (eight hex digits).
    pub fn nc_str(&self) -> Option<&'a str> {
        self.param("nc")
    }

    /// `nc`, when a valid hex number of at most eight digits.
    pub fn nc(&self) -> Option<u32> {
        self.nc_str().and_then(parse_nc)
    }
}

newtype_header!(
    /// `Authorization` (RFC 3261 §20.7).
    Authorization, Credentials, Authorization);
newtype_header!(
    /// `Proxy-Authorization` (RFC 3261 §20.28).
    ProxyAuthorization, Credentials, ProxyAuthorization);

auth_value!(
    /// A challenge (RFC 3261 §22.1, §25): the value of `WWW-Authenticate` and
    /// `Proxy-Authenticate`.
    Challenge
);

impl<'a> Challenge<'a> {
    /// `realm`.
    pub fn realm(&self) -> Option<&'a str> {
        self.param("realm")
    }

    /// `domain`: space-separated URIs.
    pub fn domain(&self) -> Option<&'a str> {
        self.param("domain")
    }

    /// The URIs of `domain`.
    pub fn domain_uris(&self) -> std::str::SplitAsciiWhitespace<'a> {
        self.domain().unwrap_or("").split_ascii_whitespace()
    }

    /// `nonce`.
    pub fn nonce(&self) -> Option<&'a str> {
        self.param("nonce")
    }

    /// `opaque`.
    pub fn opaque(&self) -> Option<&'a str> {
        self.param("opaque")
    }

    /// `stale=true`: the credentials were good but the nonce was stale.
    pub fn stale(&self) -> bool {
        self.params.flag("stale")
    }

    /// `algorithm` as written.
    pub fn algorithm(&self) -> Option<&'a str> {
        self.param("algorithm")
    }

    /// `algorithm`, `MD5` when absent.
    pub fn digest_algorithm(&self) -> DigestAlgorithm {
        self.algorithm()
            .map_or(DigestAlgorithm::Md5, DigestAlgorithm::from_name)
    }

    /// `qop` as written, without quotes (`auth,auth-int`).
    pub fn qop(&self) -> Option<&'a str> {
        self.param("qop")
    }

    /// The options of `qop` (`auth`, `auth-int`); empty when absent.
    pub fn qop_options(&self) -> QopOptions<'a> {
        QopOptions::new(self.qop().unwrap_or(""), ',')
    }

    /// True when `qop` offers `option` (ignoring case).
    pub fn offers_qop(&self, option: &str) -> bool {
        self.qop_options().any(|q| q.eq_ignore_ascii_case(option))
    }

    /// `charset` (RFC 7616 §3.3; only `UTF-8` is defined).
    pub fn charset(&self) -> Option<&'a str> {
        self.param("charset")
    }

    /// `userhash=true` (RFC 7616 §3.3): the server supports hashed user names.
    pub fn userhash(&self) -> bool {
        self.params.flag("userhash")
    }
}

newtype_header!(
    /// `WWW-Authenticate` (RFC 3261 §20.44).
    WwwAuthenticate, Challenge, WwwAuthenticate);
newtype_header!(
    /// `Proxy-Authenticate` (RFC 3261 §20.27).
    ProxyAuthenticate, Challenge, ProxyAuthenticate);

/// `Authentication-Info` (RFC 3261 §20.6, RFC 7616 §3.5): auth-params
/// without a scheme, as in `nextnonce="47364c23432d2e131a5fb210812c"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthenticationInfo<'a> {
    /// The parameters.
    pub params: AuthParams<'a>,
}

impl<'a> AuthenticationInfo<'a> {
    /// Parses `ainfo *(COMMA ainfo)`; at least one parameter.
    pub fn parse(value: &'a str) -> Result<AuthenticationInfo<'a>, HeaderError> {
        let params = AuthParams::parse(value)?;
        if params.is_empty() {
            return Err(HeaderError("empty Authentication-Info"));
        }
        Ok(AuthenticationInfo { params })
    }

    /// A parameter's value without quotes (escapes kept).
    pub fn param(&self, name: &str) -> Option<&'a str> {
        self.params.value(name)
    }

    /// `nextnonce`.
    pub fn nextnonce(&self) -> Option<&'a str> {
        self.param("nextnonce")
    }

    /// `qop`.
    pub fn qop(&self) -> Option<&'a str> {
        self.param("qop")
    }

    /// `rspauth` (the response digest, hex).
    pub fn rspauth(&self) -> Option<&'a str> {
        self.param("rspauth")
    }

    /// `cnonce`.
    pub fn cnonce(&self) -> Option<&'a str> {
        self.param("cnonce")
    }

    /// `nc`, when a valid hex number of at most eight digits.
    pub fn nc(&self) -> Option<u32> {
        self.param("nc").and_then(parse_nc)
    }
}

impl<'a> TypedHeader<'a> for AuthenticationInfo<'a> {
    const NAME: HeaderName = HeaderName::AuthenticationInfo;
    fn parse(value: &'a str) -> Result<Self, HeaderError> {
        AuthenticationInfo::parse(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3261_digest() {
        let a = Authorization::parse(
            "Digest username=\"Alice\", realm=\"atlanta.com\",\r\n nonce=\"84a4cc6f3082121f32b42a2187831a9e\",\r\n response=\"7587245234b3434cc3412213e5f113a5432\"",
        )
        .unwrap();
        assert!(a.is_digest());
        assert_eq!(a.username(), Some("Alice"));
        assert_eq!(a.realm(), Some("atlanta.com"));
        assert_eq!(a.nonce(), Some("84a4cc6f3082121f32b42a2187831a9e"));
        assert_eq!(a.response(), Some("7587245234b3434cc3412213e5f113a5432"));
        assert_eq!(a.digest_algorithm(), DigestAlgorithm::Md5);
        assert_eq!(a.params.iter().count(), 4);

        let c = WwwAuthenticate::parse(
            "Digest realm=\"atlanta.com\",\r\n domain=\"sip:boxesbybob.com\", qop=\"auth\",\r\n nonce=\"f84f1cec41e6cbe5aea9c8e88d359\",\r\n opaque=\"\", stale=FALSE, algorithm=MD5",
        )
        .unwrap();
        assert_eq!(c.realm(), Some("atlanta.com"));
        assert_eq!(c.domain_uris().collect::<Vec<_>>(), ["sip:boxesbybob.com"]);
        assert_eq!(c.qop_options().collect::<Vec<_>>(), ["auth"]);
        assert_eq!(c.opaque(), Some(""));
        assert!(!c.stale());
        assert_eq!(c.algorithm(), Some("MD5"));

        let c = ProxyAuthenticate::parse(
            "Digest realm=\"atlanta.com\", domain=\"sip:ss1.carrier.com sip:ss2.carrier.com\", qop=\"auth\", nonce=\"f84f1cec41e6cbe5aea9c8e88d359\", opaque=\"\", stale=TRUE, algorithm=MD5",
        )
        .unwrap();
        assert_eq!(c.domain_uris().count(), 2);
        assert!(c.stale());

        let p = ProxyAuthorization::parse(
            "Digest username=\"Alice\", realm=\"atlanta.com\", nonce=\"c60f3082ee1212b402a21831ae\", response=\"245f23415f11432b3434341c022\"",
        )
        .unwrap();
        assert_eq!(p.nonce(), Some("c60f3082ee1212b402a21831ae"));

        let i = AuthenticationInfo::parse("nextnonce=\"47364c23432d2e131a5fb210812c\"").unwrap();
        assert_eq!(i.nextnonce(), Some("47364c23432d2e131a5fb210812c"));
        let i = AuthenticationInfo::parse(
            "qop=auth, rspauth=\"6629fae49393a05397450978507c4ef1\", cnonce=\"0a4f113b\", nc=00000001",
        )
        .unwrap();
        assert_eq!(i.qop(), Some("auth"));
        assert_eq!(i.rspauth(), Some("6629fae49393a05397450978507c4ef1"));
        assert_eq!(i.cnonce(), Some("0a4f113b"));
        assert_eq!(i.nc(), Some(1));
        assert!(AuthenticationInfo::parse("").is_err());
    }

    #[test]
    fn rfc7616_digest() {
        let c = WwwAuthenticate::parse(
            "Digest\r\n    realm=\"http-auth@example.org\",\r\n    qop=\"auth, auth-int\",\r\n    algorithm=SHA-256,\r\n    nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\",\r\n    opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\"",
        )
        .unwrap();
        assert_eq!(c.qop_options().collect::<Vec<_>>(), ["auth", "auth-int"]);
        assert!(c.offers_qop("AUTH-INT"));
        assert!(!c.offers_qop("foo"));
        assert_eq!(c.digest_algorithm(), DigestAlgorithm::Sha256);
        assert_eq!(
            c.nonce(),
            Some("7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v")
        );

        let a = Authorization::parse(
            "Digest username=\"Mufasa\",\r\n    realm=\"http-auth@example.org\",\r\n    uri=\"/dir/index.html\",\r\n    algorithm=SHA-256,\r\n    nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\",\r\n    nc=00000001,\r\n    cnonce=\"f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ\",\r\n    qop=auth,\r\n    response=\"753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1\",\r\n    opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\"",
        )
        .unwrap();
        assert_eq!(a.uri(), Some("/dir/index.html"));
        assert_eq!(a.nc(), Some(1));
        assert_eq!(a.nc_str(), Some("00000001"));
        assert_eq!(a.qop(), Some("auth"));
        assert_eq!(
            a.cnonce(),
            Some("f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ")
        );
        assert_eq!(
            a.opaque(),
            Some("FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS")
        );
        assert_eq!(a.params.iter().count(), 10);

        let a = Authorization::parse(
            "Digest username*=UTF-8''J%C3%A4s%C3%B8n%20Doe, realm=\"api@example.org\", userhash=false, algorithm=SHA-512-256-sess",
        )
        .unwrap();
        assert_eq!(a.username(), None);
        assert_eq!(a.username_star(), Some("UTF-8''J%C3%A4s%C3%B8n%20Doe"));
        assert!(!a.userhash());
        assert_eq!(a.digest_algorithm(), DigestAlgorithm::Sha512_256Sess);
        assert!(a.digest_algorithm().is_sess());
        let a = Authorization::parse("Digest username=\"488869477bf257147b804c45308cd62ac4e25eb717b12b298c79e62dcea254ec\", userhash=true").unwrap();
        assert!(a.userhash());
        let c = WwwAuthenticate::parse("Digest realm=\"r\", charset=UTF-8, userhash=true").unwrap();
        assert_eq!(c.charset(), Some("UTF-8"));
        assert!(c.userhash());
    }

    #[test]
    fn quoting_and_unknown_params() {
        let a = Authorization::parse(
            r#"Digest username="a \"b\", c", realm="x,y",foo=bar ,  baz = "q\\""#,
        )
        .unwrap();
        assert_eq!(a.username(), Some(r#"a \"b\", c"#));
        assert_eq!(a.params.unescaped("username").unwrap(), r#"a "b", c"#);
        assert_eq!(a.realm(), Some("x,y"));
        assert_eq!(a.param("FOO"), Some("bar"));
        assert_eq!(a.params.unescaped("baz").unwrap(), "q\\");
        let names: Vec<_> = a.params.iter().map(|p| p.name).collect();
        assert_eq!(names, ["username", "realm", "foo", "baz"]);
        assert!(a.params.get("realm").unwrap().is_quoted());
        assert!(!a.params.get("foo").unwrap().is_quoted());
    }

    #[test]
    fn other_schemes() {
        // RFC 4475 regaut01.
        let a = Authorization::parse("NoOneKnowsThisScheme opaque-data=here").unwrap();
        assert!(!a.is_digest());
        assert_eq!(a.scheme, "NoOneKnowsThisScheme");
        assert_eq!(a.param("opaque-data"), Some("here"));
        let a = Authorization::parse("Bearer mF_9.B5f-4.1JqM").unwrap();
        assert_eq!(a.token68, Some("mF_9.B5f-4.1JqM"));
        assert!(a.params.is_empty());
        let a = Authorization::parse("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==").unwrap();
        assert_eq!(a.token68, Some("QWxhZGRpbjpvcGVuIHNlc2FtZQ=="));
        let c = WwwAuthenticate::parse(
            "Bearer realm=\"atlanta.com\", scope=\"sip:example.com\", authz_server=\"https://as.example.com/token\"",
        )
        .unwrap();
        assert_eq!(c.realm(), Some("atlanta.com"));
        assert_eq!(
            c.param("authz_server"),
            Some("https://as.example.com/token")
        );
        assert!(WwwAuthenticate::parse("Negotiate").is_ok());
    }

    #[test]
    fn rejects() {
        for bad in [
            "",
            "Digest",
            "Digest ",
            "Digest foo",
            "Digest realm=\"open",
            "Digest realm=\"a\" nonce=\"b\"",
            "Digest realm=\"a\",",
            "Digest realm=\"a\",,nonce=\"b\"",
            "Digest ,realm=\"a\"",
            "Digest realm=",
            "Digest realm=,nonce=x",
            "Digest =x",
            "Digest uri=sip:a@b",
            "Digest realm=\"a\"x",
            "Digest\"realm=a",
            "\"Digest\" realm=a",
            "Foo a=b c=d",
            "Foo a b",
            "Digest realm=\"a\"\r\nx",
        ] {
            assert!(Authorization::parse(bad).is_err(), "{bad:?} accepted");
            assert!(WwwAuthenticate::parse(bad).is_err(), "{bad:?} accepted");
        }
        assert!(AuthenticationInfo::parse("nextnonce=\"a\",").is_err());
        assert!(AuthenticationInfo::parse("Digest nextnonce=\"a\"").is_err());
    }

    #[test]
    fn nc_values() {
        assert_eq!(parse_nc("0000000a"), Some(10));
        assert_eq!(parse_nc("ffffffff"), Some(u32::MAX));
        assert_eq!(parse_nc("+0000001"), None);
        assert_eq!(parse_nc("100000000"), None);
        assert_eq!(parse_nc(""), None);
    }
}
