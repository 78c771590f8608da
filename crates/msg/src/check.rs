//! What a UAS must answer to a message it received (RFC 3261 §8.2, RFC 4475).

use crate::bnf::CommaSplit;
use crate::error::Rejection;
use crate::headers::{self, TypedHeader};
use crate::message::Message;
use crate::method::Method;
use crate::name::HeaderName;
use crate::uri::Scheme;

/// What the receiving element supports, for the checks that depend on it.
#[derive(Debug, Clone, Copy, Default)]
pub struct CheckPolicy<'a> {
    /// Option tags the element supports; any other tag in `Require` gets 420
    /// Bad Extension (RFC 3261 §8.2.2.3).
    pub supported: &'a [&'a str],
    /// Check as a proxy: `Max-Forwards: 0` gets 483 Too Many Hops and
    /// `Proxy-Require` (not `Require`) is checked for 420 (RFC 3261 §16.3).
    pub proxy: bool,
}

const MANDATORY: [HeaderName; 5] = [
    HeaderName::Via,
    HeaderName::From,
    HeaderName::To,
    HeaderName::CallId,
    HeaderName::CSeq,
];

impl Message {
    /// Checks the message as a UAS receiving it would (RFC 3261 §8.2 and
    /// RFC 4475), with the default [`CheckPolicy`] (no extensions supported,
    /// acting as an endpoint). `Ok` means the message may be processed;
    /// otherwise the [`Rejection`] carries the status to answer with and a
    /// reason that names the header at fault:
    ///
    /// - 505 for a version other than SIP/2.0;
    /// - 400 for a malformed or duplicated Via, From, To, Call-ID, CSeq,
    ///   Max-Forwards, Content-Length or Content-Type, a missing mandatory
    ///   header, a CSeq method that differs from the request method, a
    ///   Content-Length larger than the body, a malformed Contact or Request-URI;
    /// - 501 for an unknown method whose CSeq disagrees with it (RFC 4475 §3.1.2.18);
    /// - 416 for a Request-URI scheme other than sip, sips and tel;
    /// - 420 for a `Require` option tag not supported (with the tags to list);
    /// - 483 for `Max-Forwards: 0` when checking as a proxy.
    ///
    /// Malformed headers that a UAS does not depend on (a `Date` with a bad time
    /// zone, say) do not fail the check; [`Message::malformed_headers`] lists them.
    pub fn check(&self) -> Result<(), Rejection> {
        self.check_with(&CheckPolicy::default())
    }

    /// [`Message::check`] with an explicit policy.
    pub fn check_with(&self, policy: &CheckPolicy<'_>) -> Result<(), Rejection> {
        self.check_inner(policy, false)
    }

    /// [`Message::check_with`] for a caller that has already parsed the top
    /// Via value ([`Message::top_via`] returned it): every other check is
    /// made, and the top Via is not parsed a second time. A transaction
    /// layer reads the top Via of every request before checking it, and a
    /// second parse would be a tenth of a stateful responder's
    /// instructions (callgrind).
    pub fn check_with_parsed_top_via(&self, policy: &CheckPolicy<'_>) -> Result<(), Rejection> {
        self.check_inner(policy, true)
    }

    fn check_inner(&self, policy: &CheckPolicy<'_>, top_via_parsed: bool) -> Result<(), Rejection> {
        if !self.is_sip2() {
            return Err(Rejection::new(505, "Version Not Supported"));
        }
        if let Some(d) = self.defect().copied().or_else(|| self.utf8_defect()) {
            return Err(Rejection::new(d.status, d.reason()));
        }
        for h in MANDATORY {
            if !self.has(h) {
                return Err(Rejection::new(400, format!("Missing {h} header")));
            }
        }
        self.check_critical_syntax()?;
        let skip = usize::from(top_via_parsed);
        for v in self
            .header_lines(HeaderName::Via)
            .flat_map(CommaSplit::new)
            .skip(skip)
        {
            let ok = v
                .map_err(|_| headers::HeaderError("unbalanced quotes"))
                .and_then(headers::Via::parse);
            if let Err(e) = ok {
                return Err(Rejection::new(400, format!("Invalid Via header ({e})")));
            }
        }
        if !self.is_request() {
            return Ok(());
        }
        let method = self.method();
        // Known methods compare by kind (they are read case-sensitively,
        // so equal kinds are equal names); others by name.
        let same_method = match self.cseq().map(|c| c.1) {
            Some(Method::Other) if method == Method::Other => {
                self.cseq_method_str() == Some(self.method_str())
            }
            Some(m) => m == method,
            None => false,
        };
        if !same_method {
            return Err(if method == Method::Other {
                Rejection::new(
                    501,
                    "Not Implemented (CSeq method does not match request method)",
                )
            } else {
                Rejection::new(
                    400,
                    "Invalid CSeq header (method does not match request method)",
                )
            });
        }
        match self.request_uri() {
            Some(Ok(uri)) => {
                if uri.scheme() == Scheme::Other {
                    return Err(Rejection::new(416, "Unsupported URI Scheme"));
                }
                if uri.headers().is_some() {
                    return Err(Rejection::new(
                        400,
                        "Invalid Request-URI (headers not allowed)",
                    ));
                }
            }
            Some(Err(e)) => return Err(Rejection::new(400, format!("Invalid Request-URI ({e})"))),
            None => {}
        }
        self.check_contacts(method)?;
        if method == Method::Register {
            let to_ok = self.to().is_some_and(|to| to.uri().is_sip());
            if !to_ok {
                return Err(Rejection::new(
                    400,
                    "Invalid To header (address-of-record must be a SIP or SIPS URI)",
                ));
            }
            if let Some(Err(e)) = self.typed::<headers::Expires>() {
                return Err(Rejection::new(400, format!("Invalid Expires header ({e})")));
            }
        }
        if policy.proxy && self.max_forwards() == Some(0) && method != Method::Options {
            return Err(Rejection::new(483, "Too Many Hops"));
        }
        if !matches!(method, Method::Ack | Method::Cancel) {
            let name = if policy.proxy {
                HeaderName::ProxyRequire
            } else {
                HeaderName::Require
            };
            let mut unsupported = Vec::new();
            for tag in self.header_values(name) {
                let tag = tag
                    .and_then(headers::Token::parse)
                    .map_err(|e| Rejection::new(400, format!("Invalid {name} header ({e})")))?;
                if !policy
                    .supported
                    .iter()
                    .any(|s| s.eq_ignore_ascii_case(tag.0))
                {
                    unsupported.push(tag.0.to_string());
                }
            }
            if !unsupported.is_empty() {
                let mut r = Rejection::new(420, "Bad Extension");
                r.unsupported = unsupported;
                return Err(r);
            }
        }
        Ok(())
    }

    /// Full syntax of the critical headers the parse only scanned.
    fn check_critical_syntax(&self) -> Result<(), Rejection> {
        fn one<'a, T: TypedHeader<'a>>(m: &'a Message) -> Result<(), Rejection> {
            match m.header(T::NAME).map(T::parse) {
                Some(Err(e)) => Err(Rejection::new(
                    400,
                    format!("Invalid {} header ({e})", T::NAME),
                )),
                _ => Ok(()),
            }
        }
        // From and To are parsed once each, for their syntax here and for
        // an empty tag below (the checks keep their order).
        fn addr(m: &Message, name: HeaderName) -> Result<Option<headers::NameAddr<'_>>, Rejection> {
            match m.header(name).map(headers::NameAddr::parse) {
                Some(Err(e)) => Err(Rejection::new(400, format!("Invalid {name} header ({e})"))),
                Some(Ok(a)) => Ok(Some(a)),
                None => Ok(None),
            }
        }
        let from = addr(self, HeaderName::From)?;
        let to = addr(self, HeaderName::To)?;
        one::<headers::CallId>(self)?;
        one::<headers::ContentType>(self)?;
        for (tag, name, parsed) in [
            (self.from_tag(), HeaderName::From, from),
            (self.to_tag(), HeaderName::To, to),
        ] {
            if tag.is_none() && parsed.is_some_and(|a| a.params().contains("tag")) {
                return Err(Rejection::new(
                    400,
                    format!("Invalid {name} header (empty tag)"),
                ));
            }
        }
        Ok(())
    }

    fn check_contacts(&self, method: Method) -> Result<(), Rejection> {
        let mut count = 0;
        let mut star = false;
        for c in self.typed_all::<headers::Contact<'_>>() {
            count += 1;
            match c {
                Ok(headers::Contact::Star) => star = true,
                Ok(headers::Contact::Addr(_)) => {}
                Err(e) => return Err(Rejection::new(400, format!("Invalid Contact header ({e})"))),
            }
        }
        if star {
            let expires_zero = matches!(
                self.typed::<headers::Expires>(),
                Some(Ok(headers::Expires(0)))
            );
            if method != Method::Register || count != 1 || !expires_zero {
                return Err(Rejection::new(
                    400,
                    "Invalid Contact header (* only alone in a REGISTER with Expires: 0)",
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[test]
    fn parsed_top_via_skips_only_the_top_via() {
        let base = "OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\
                    From: <sip:x@y>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\n";
        let cases = [
            format!("{base}\r\n"),
            // A bad second Via (on the next line, and in the same line).
            format!("{base}Via: SIP/2.0/UDP h:99999;branch=z9hG4bK0\r\n\r\n"),
            base.replace("branch=z9hG4bK1", "branch=z9hG4bK1, SIP/2.0 broken") + "\r\n",
            // Other faults.
            format!("{base}Contact: <bad\r\n\r\n"),
            base.replace("CSeq: 1 OPTIONS", "CSeq: 1 INVITE") + "\r\n",
        ];
        for text in cases {
            let m = Message::parse(Bytes::from(text.clone())).unwrap();
            assert!(m.top_via().is_some(), "{text}");
            let policy = CheckPolicy::default();
            assert_eq!(
                m.check_with(&policy),
                m.check_with_parsed_top_via(&policy),
                "{text}"
            );
        }
    }
}
