//! Extension headers: events (RFC 6665), Reason (RFC 3326), Replaces
//! (RFC 3891), caller preferences (RFC 3841), session timers (RFC 4028),
//! publication (RFC 3903), Privacy (RFC 3323) and Identity (RFC 4474,
//! RFC 8224).

use super::basic::{check_delta_param, head_params};
use super::{CallId, HeaderError, InfoUri, SeparatedValues, Token, TypedHeader, newtype_header};
use crate::bnf::{find_unquoted, is_token_str, parse_u32_max, quoted_len, trim_lws, unquote};
use crate::name::HeaderName;
use crate::params::{Params, check_header_params, strip_quotes};
use crate::uri::Uri;

/// An event type (RFC 6665 §8.4): `event-package *( "." event-template )`,
/// each part a token without dots, as in `presence` or `presence.winfo`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventType<'a>(pub &'a str);

impl<'a> EventType<'a> {
    /// Parses an event type.
    pub fn parse(value: &'a str) -> Result<EventType<'a>, HeaderError> {
        let v = trim_lws(value);
        if !v.is_empty() && v.split('.').all(is_token_str) {
            Ok(EventType(v))
        } else {
            Err(HeaderError("invalid event type"))
        }
    }

    /// The event package (`presence` of `presence.winfo`).
    pub fn package(&self) -> &'a str {
        self.0.split_once('.').map_or(self.0, |(p, _)| p)
    }

    /// The event templates after the package (`winfo` of `presence.winfo`).
    pub fn templates(&self) -> std::iter::Skip<std::str::Split<'a, char>> {
        self.0.split('.').skip(1)
    }
}

/// `Event` (RFC 6665 §8.2.1, compact `o`): an event type and parameters, as
/// in `presence` or `foo; id=1234`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event<'a> {
    /// The event type.
    pub event_type: EventType<'a>,
    /// The parameters (`id`, ...).
    pub params: Params<'a>,
}

impl<'a> Event<'a> {
    /// Parses `event-type *( SEMI event-param )`.
    pub fn parse(value: &'a str) -> Result<Event<'a>, HeaderError> {
        let (head, params) = head_params(value)?;
        Ok(Event {
            event_type: EventType::parse(head)?,
            params,
        })
    }

    /// The event package.
    pub fn package(&self) -> &'a str {
        self.event_type.package()
    }

    /// The `id` parameter, which tells subscriptions in one dialog apart.
    pub fn id(&self) -> Option<&'a str> {
        self.params.get("id").flatten()
    }
}

impl<'a> TypedHeader<'a> for Event<'a> {
    const NAME: HeaderName = HeaderName::Event;
    fn parse(value: &'a str) -> Result<Self, HeaderError> {
        Event::parse(value)
    }
}

newtype_header!(
    /// One event type of `Allow-Events` (RFC 6665 §8.2.2, compact `u`).
    AllowEvents, EventType, AllowEvents);

/// The state of a subscription (RFC 6665 §8.2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubState<'a> {
    /// `active`
    Active,
    /// `pending`
    Pending,
    /// `terminated`
    Terminated,
    /// Any other (extension) state.
    Other(&'a str),
}

/// `Subscription-State` (RFC 6665 §8.2.3): a state and parameters, as in
/// `active;expires=3600` or `terminated;reason=timeout`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubscriptionState<'a> {
    /// The state as written.
    pub value: &'a str,
    /// The parameters (`expires`, `reason`, `retry-after`, ...).
    pub params: Params<'a>,
}

impl<'a> SubscriptionState<'a> {
    /// Parses `substate-value *( SEMI subexp-params )`; `expires` and
    /// `retry-after`, when present, must be delta-seconds.
    pub fn parse(value: &'a str) -> Result<SubscriptionState<'a>, HeaderError> {
        let (head, params) = head_params(value)?;
        if !is_token_str(head) {
            return Err(HeaderError("invalid subscription state"));
        }
        check_delta_param(&params, "expires")?;
        check_delta_param(&params, "retry-after")?;
        Ok(SubscriptionState {
            value: head,
            params,
        })
    }

    /// The state.
    pub fn state(&self) -> SubState<'a> {
        let v = self.value;
        if v.eq_ignore_ascii_case("active") {
            SubState::Active
        } else if v.eq_ignore_ascii_case("pending") {
            SubState::Pending
        } else if v.eq_ignore_ascii_case("terminated") {
            SubState::Terminated
        } else {
            SubState::Other(v)
        }
    }

    /// The `expires` parameter.
    pub fn expires(&self) -> Option<u32> {
        self.delta("expires")
    }

    /// The `reason` parameter (`deactivated`, `probation`, `rejected`,
    /// `timeout`, `giveup`, `noresource`, `invariant`, ...).
    pub fn reason(&self) -> Option<&'a str> {
        self.params.get("reason").flatten()
    }

    /// The `retry-after` parameter.
    pub fn retry_after(&self) -> Option<u32> {
        self.delta("retry-after")
    }

    fn delta(&self, name: &str) -> Option<u32> {
        self.params
            .get(name)
            .flatten()
            .and_then(|v| parse_u32_max(v, u32::MAX))
    }
}

impl<'a> TypedHeader<'a> for SubscriptionState<'a> {
    const NAME: HeaderName = HeaderName::SubscriptionState;
    fn parse(value: &'a str) -> Result<Self, HeaderError> {
        SubscriptionState::parse(value)
    }
}

/// One `Reason` value (RFC 3326): a protocol and parameters, as in
/// `SIP ;cause=200 ;text="Call completed elsewhere"` or `Q.850 ;cause=16`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reason<'a> {
    /// The protocol (`SIP`, `Q.850` or another token).
    pub protocol: &'a str,
    /// The parameters (`cause`, `text`, ...).
    pub params: Params<'a>,
}

impl<'a> Reason<'a> {
    /// Parses `protocol *( SEMI reason-params )`; `cause`, when present,
    /// must be a number.
    pub fn parse(value: &'a str) -> Result<Reason<'a>, HeaderError> {
        let (protocol, params) = head_params(value)?;
        if !is_token_str(protocol) {
            return Err(HeaderError("invalid Reason protocol"));
        }
        if let Some(c) = params.get("cause")
            && c.and_then(|c| parse_u32_max(c, u32::MAX)).is_none()
        {
            return Err(HeaderError("invalid Reason cause"));
        }
        Ok(Reason { protocol, params })
    }

    /// The `cause` parameter (a SIP status code or a Q.850 cause).
    pub fn cause(&self) -> Option<u32> {
        self.params
            .get("cause")
            .flatten()
            .and_then(|c| parse_u32_max(c, u32::MAX))
    }

    /// The `text` parameter without its quotes (escapes kept).
    pub fn text(&self) -> Option<&'a str> {
        self.params.get_unquoted("text")
    }

    /// The `text` parameter with quotes and escapes removed.
    pub fn text_unescaped(&self) -> Option<std::borrow::Cow<'a, str>> {
        self.text().map(unquote)
    }
}

impl<'a> TypedHeader<'a> for Reason<'a> {
    const NAME: HeaderName = HeaderName::Reason;
    fn parse(value: &'a str) -> Result<Self, HeaderError> {
        Reason::parse(value)
    }
}

/// `Replaces` (RFC 3891): the dialog to replace, as in
/// `425928@bobster.example.org;to-tag=7743;from-tag=6472`. Both tags are
/// required (RFC 3891 §6.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Replaces<'a> {
    /// The Call-ID of the dialog.
    pub call_id: &'a str,
    /// The parameters (`to-tag`, `from-tag`, `early-only`, ...).
    pub params: Params<'a>,
}

impl<'a> Replaces<'a> {
    /// Parses `callid *( SEMI replaces-param )`.
    pub fn parse(value: &'a str) -> Result<Replaces<'a>, HeaderError> {
        let (head, params) = head_params(value)?;
        let call_id = <CallId<'a> as TypedHeader<'a>>::parse(head)?.0;
        let r = Replaces { call_id, params };
        if r.to_tag().is_none() || r.from_tag().is_none() {
            return Err(HeaderError("Replaces without to-tag and from-tag"));
        }
        Ok(r)
    }

    /// The `to-tag` parameter.
    pub fn to_tag(&self) -> Option<&'a str> {
        self.params.get("to-tag").flatten()
    }

    /// The `from-tag` parameter.
    pub fn from_tag(&self) -> Option<&'a str> {
        self.params.get("from-tag").flatten()
    }

    /// True when the `early-only` flag is present.
    pub fn early_only(&self) -> bool {
        self.params.contains("early-only")
    }
}

impl<'a> TypedHeader<'a> for Replaces<'a> {
    const NAME: HeaderName = HeaderName::Replaces;
    fn parse(value: &'a str) -> Result<Self, HeaderError> {
        Replaces::parse(value)
    }
}

/// A caller-preferences pattern (RFC 3841): `"*" *( SEMI feature-param )`,
/// the elements of `Accept-Contact` and `Reject-Contact`, as in
/// `*;audio;require` or `*;actor="msg-taker";video`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallerPrefs<'a> {
    /// The feature parameters and the `require` and `explicit` flags.
    pub params: Params<'a>,
}

impl<'a> CallerPrefs<'a> {
    /// Parses `"*" *( SEMI params )`.
    pub fn parse(value: &'a str) -> Result<CallerPrefs<'a>, HeaderError> {
        let (head, params) = head_params(value)?;
        if head != "*" {
            return Err(HeaderError("expected '*'"));
        }
        Ok(CallerPrefs { params })
    }

    /// True when the `require` flag is present (Accept-Contact).
    pub fn require(&self) -> bool {
        self.params.contains("require")
    }

    /// True when the `explicit` flag is present (Accept-Contact).
    pub fn explicit(&self) -> bool {
        self.params.contains("explicit")
    }

    /// A feature parameter (`audio`, `+sip.message`, ...): `Some(None)` when
    /// present without a value; quoted values keep their quotes.
    pub fn feature(&self, name: &str) -> Option<Option<&'a str>> {
        self.params.get(name)
    }
}

newtype_header!(
    /// One element of `Accept-Contact` (RFC 3841 §10, compact `a`).
    AcceptContact, CallerPrefs, AcceptContact);
newtype_header!(
    /// One element of `Reject-Contact` (RFC 3841 §10, compact `j`).
    RejectContact, CallerPrefs, RejectContact);
newtype_header!(
    /// One directive of `Request-Disposition` (RFC 3841 §10, compact `d`):
    /// `proxy`, `redirect`, `cancel`, `no-cancel`, `fork`, `no-fork`,
    /// `recurse`, `no-recurse`, `parallel`, `sequential`, `queue`, `no-queue`.
    RequestDisposition, Token, RequestDisposition);

/// Parses a delta-seconds head followed by header parameters.
fn delta_params(value: &str) -> Result<(u32, Params<'_>), HeaderError> {
    let (head, params) = head_params(value)?;
    let delta = parse_u32_max(head, u32::MAX).ok_or(HeaderError("invalid delta-seconds"))?;
    Ok((delta, params))
}

/// Which side refreshes the session (RFC 4028 `refresher`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refresher {
    /// `uac`
    Uac,
    /// `uas`
    Uas,
}

/// `Session-Expires` (RFC 4028 §4, compact `x`): the session interval and
/// parameters, as in `4000;refresher=uac`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionExpires<'a> {
    /// The session interval in seconds.
    pub delta: u32,
    /// The parameters (`refresher`, ...).
    pub params: Params<'a>,
}

impl<'a> SessionExpires<'a> {
    /// Parses `delta-seconds *( SEMI se-params )`; a `refresher` parameter
    /// must be `uac` or `uas`.
    pub fn parse(value: &'a str) -> Result<SessionExpires<'a>, HeaderError> {
        let (delta, params) = delta_params(value)?;
        let se = SessionExpires { delta, params };
        if params.contains("refresher") && se.refresher().is_none() {
            return Err(HeaderError("invalid refresher parameter"));
        }
        Ok(se)
    }

    /// The `refresher` parameter.
    pub fn refresher(&self) -> Option<Refresher> {
        let r = self.params.get("refresher").flatten()?;
        if r.eq_ignore_ascii_case("uac") {
            Some(Refresher::Uac)
        } else if r.eq_ignore_ascii_case("uas") {
            Some(Refresher::Uas)
        } else {
            None
        }
    }
}

impl<'a> TypedHeader<'a> for SessionExpires<'a> {
    const NAME: HeaderName = HeaderName::SessionExpires;
    fn parse(value: &'a str) -> Result<Self, HeaderError> {
        SessionExpires::parse(value)
    }
}

/// `Min-SE` (RFC 4028 §5): the minimum session interval, as in `3600`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MinSe<'a> {
    /// The minimum session interval in seconds.
    pub delta: u32,
    /// The parameters.
    pub params: Params<'a>,
}

impl<'a> TypedHeader<'a> for MinSe<'a> {
    const NAME: HeaderName = HeaderName::MinSe;
    fn parse(value: &'a str) -> Result<Self, HeaderError> {
        let (delta, params) = delta_params(value)?;
        Ok(MinSe { delta, params })
    }
}

newtype_header!(
    /// `SIP-ETag` (RFC 3903 §11.3.1): the entity tag of a publication.
    SipETag, Token, SipETag);
newtype_header!(
    /// `SIP-If-Match` (RFC 3903 §11.3.2): the entity tag to refresh, modify or
    /// remove.
    SipIfMatch, Token, SipIfMatch);

/// `Privacy` (RFC 3323 §4.2, RFC 3325): privacy values separated by `;`, as
/// in `id` or `header;user`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Privacy<'a> {
    raw: &'a str,
}

impl<'a> Privacy<'a> {
    /// Parses `priv-value *( ";" priv-value )`, each value a token (`header`,
    /// `session`, `user`, `none`, `critical`, `id`, ...).
    pub fn parse(value: &'a str) -> Result<Privacy<'a>, HeaderError> {
        let v = trim_lws(value);
        if v.split(';').map(trim_lws).all(is_token_str) {
            Ok(Privacy { raw: v })
        } else {
            Err(HeaderError("invalid privacy value"))
        }
    }

    /// The value as written.
    pub fn as_str(&self) -> &'a str {
        self.raw
    }

    /// Iterates the privacy values.
    pub fn iter(&self) -> PrivacyValues<'a> {
        PrivacyValues::new(self.raw, ';')
    }

    /// True when `value` is among the privacy values (ignoring case).
    pub fn contains(&self, value: &str) -> bool {
        self.iter().any(|v| v.eq_ignore_ascii_case(value))
    }
}

impl<'a> IntoIterator for Privacy<'a> {
    type Item = &'a str;
    type IntoIter = PrivacyValues<'a>;
    fn into_iter(self) -> PrivacyValues<'a> {
        self.iter()
    }
}

/// Iterator over the values of a [`Privacy`] header.
pub type PrivacyValues<'a> = SeparatedValues<'a>;

impl<'a> TypedHeader<'a> for Privacy<'a> {
    const NAME: HeaderName = HeaderName::Privacy;
    fn parse(value: &'a str) -> Result<Self, HeaderError> {
        Privacy::parse(value)
    }
}

/// Base64 and base64url characters, with padding.
fn is_b64(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b'-' | b'_')
}

/// Checks Identity parameters: generic parameters, or `name=<absoluteURI>`.
fn check_identity_params(raw: &str) -> Result<(), HeaderError> {
    let mut rest = raw;
    loop {
        let end = match find_unquoted(rest.as_bytes(), b';', false) {
            Ok(Some(i)) => i,
            Ok(None) => rest.len(),
            Err(_) => return Err(HeaderError("unbalanced quotes or brackets in parameter")),
        };
        let item = trim_lws(&rest[..end]);
        match item.split_once('=') {
            Some((name, v)) if trim_lws_start_is(v, '<') => {
                let v = trim_lws(v);
                let uri = v
                    .strip_prefix('<')
                    .and_then(|v| v.strip_suffix('>'))
                    .ok_or(HeaderError("invalid URI parameter"))?;
                if !is_token_str(trim_lws(name)) || Uri::parse(uri).is_err() {
                    return Err(HeaderError("invalid URI parameter"));
                }
            }
            _ => check_header_params(item).map_err(HeaderError)?,
        }
        if end >= rest.len() {
            return Ok(());
        }
        rest = &rest[end + 1..];
    }
}

fn trim_lws_start_is(s: &str, c: char) -> bool {
    crate::bnf::trim_lws_start(s).starts_with(c)
}

/// `Identity` (RFC 4474 §9, RFC 8224 §9, compact `y`): a signature, either
/// quoted (RFC 4474) or a bare base64 / JWT string with parameters such as
/// `info=<URI>;alg=ES256` (RFC 8224).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Identity<'a> {
    /// The signature without quotes (a quoted one may hold folds).
    pub digest: &'a str,
    /// The parameters (`info`, `alg`, `ppt`, ...).
    pub params: Params<'a>,
}

impl<'a> Identity<'a> {
    /// Parses an Identity value.
    pub fn parse(value: &'a str) -> Result<Identity<'a>, HeaderError> {
        let v = trim_lws(value);
        let (digest, rest) = if v.starts_with('"') {
            let len = quoted_len(v.as_bytes()).ok_or(HeaderError("unterminated quoted string"))?;
            let digest = &v[1..len - 1];
            if !digest.bytes().all(|b| is_b64(b) || crate::bnf::is_lws(b)) {
                return Err(HeaderError("invalid Identity signature"));
            }
            (digest, &v[len..])
        } else {
            let end = v
                .bytes()
                .position(|b| !(is_b64(b) || b == b'.'))
                .unwrap_or(v.len());
            (&v[..end], &v[end..])
        };
        if trim_lws(digest).is_empty() {
            return Err(HeaderError("empty Identity signature"));
        }
        let rest = crate::bnf::trim_lws_start(rest);
        let params = if rest.is_empty() {
            ""
        } else {
            let p = rest
                .strip_prefix(';')
                .ok_or(HeaderError("unexpected text after Identity signature"))?;
            check_identity_params(p)?;
            p
        };
        Ok(Identity {
            digest,
            params: Params::header(params),
        })
    }

    /// The `info` parameter's URI (RFC 8224).
    pub fn info(&self) -> Option<Uri<'a>> {
        let v = self.params.get("info").flatten()?;
        let uri = v.strip_prefix('<')?.strip_suffix('>')?;
        Uri::parse(uri).ok()
    }

    /// The `alg` parameter (RFC 8224).
    pub fn alg(&self) -> Option<&'a str> {
        self.params.get("alg").flatten().map(strip_quotes)
    }

    /// The `ppt` parameter (RFC 8224).
    pub fn ppt(&self) -> Option<&'a str> {
        self.params.get("ppt").flatten().map(strip_quotes)
    }
}

impl<'a> TypedHeader<'a> for Identity<'a> {
    const NAME: HeaderName = HeaderName::Identity;
    fn parse(value: &'a str) -> Result<Self, HeaderError> {
        Identity::parse(value)
    }
}

newtype_header!(
    /// `Identity-Info` (RFC 4474 §9, compact `n`), as in
    /// `<https://atlanta.example.com/atlanta.cer>;alg=rsa-sha1`.
    IdentityInfo, InfoUri, IdentityInfo);

impl<'a> IdentityInfo<'a> {
    /// The `alg` parameter (`rsa-sha1`, ...).
    pub fn alg(&self) -> Option<&'a str> {
        self.0.params.get("alg").flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::uri::Scheme;

    #[test]
    fn events() {
        let e = Event::parse("presence").unwrap();
        assert_eq!(e.package(), "presence");
        assert_eq!(e.id(), None);
        let e = Event::parse("foo; id=1234").unwrap();
        assert_eq!(e.id(), Some("1234"));
        let e = Event::parse("presence.winfo;id=7").unwrap();
        assert_eq!(e.package(), "presence");
        assert_eq!(e.event_type.templates().collect::<Vec<_>>(), ["winfo"]);
        assert!(Event::parse("presence..winfo").is_err());
        assert!(Event::parse(".winfo").is_err());
        assert!(Event::parse("presence.").is_err());
        assert!(Event::parse("").is_err());
        assert!(Event::parse("pres ence").is_err());
        assert!(Event::parse("presence;").is_err());
        assert_eq!(AllowEvents::parse("dialog").unwrap().package(), "dialog");
        assert!(AllowEvents::parse("a/b").is_err());
    }

    #[test]
    fn subscription_state() {
        let s = SubscriptionState::parse("active;expires=3600").unwrap();
        assert_eq!(s.state(), SubState::Active);
        assert_eq!(s.expires(), Some(3600));
        let s = SubscriptionState::parse("terminated;reason=probation;retry-after=30").unwrap();
        assert_eq!(s.state(), SubState::Terminated);
        assert_eq!(s.reason(), Some("probation"));
        assert_eq!(s.retry_after(), Some(30));
        assert_eq!(
            SubscriptionState::parse("Pending").unwrap().state(),
            SubState::Pending
        );
        assert_eq!(
            SubscriptionState::parse("waiting").unwrap().state(),
            SubState::Other("waiting")
        );
        assert!(SubscriptionState::parse("active;expires=soon").is_err());
        assert!(SubscriptionState::parse("active;expires").is_err());
        assert!(SubscriptionState::parse("active;retry-after=99999999999").is_err());
        assert!(SubscriptionState::parse("").is_err());
    }

    #[test]
    fn reasons() {
        let r = Reason::parse("SIP ;cause=200 ;text=\"Call completed elsewhere\"").unwrap();
        assert_eq!(r.protocol, "SIP");
        assert_eq!(r.cause(), Some(200));
        assert_eq!(r.text(), Some("Call completed elsewhere"));
        let r = Reason::parse("Q.850 ;cause=16 ;text=\"Terminated\"").unwrap();
        assert_eq!(r.protocol, "Q.850");
        assert_eq!(r.cause(), Some(16));
        let r = Reason::parse(r#"SIP;text="a \"b\"""#).unwrap();
        assert_eq!(r.text_unescaped().unwrap(), "a \"b\"");
        assert!(Reason::parse("SIP;cause=abc").is_err());
        assert!(Reason::parse("SIP;text=\"open").is_err());
        assert!(Reason::parse("S P;cause=1").is_err());
    }

    #[test]
    fn replaces() {
        let r = Replaces::parse("425928@bobster.example.org;to-tag=7743;from-tag=6472").unwrap();
        assert_eq!(r.call_id, "425928@bobster.example.org");
        assert_eq!(r.to_tag(), Some("7743"));
        assert_eq!(r.from_tag(), Some("6472"));
        assert!(!r.early_only());
        let r = Replaces::parse(
            "98732@sip.example.com\r\n ;from-tag=r33th4x0r\r\n ;to-tag=ff87ff;early-only",
        )
        .unwrap();
        assert!(r.early_only());
        assert_eq!(r.from_tag(), Some("r33th4x0r"));
        assert!(Replaces::parse("98732@sip.example.com;from-tag=a").is_err());
        assert!(Replaces::parse("a b;from-tag=a;to-tag=b").is_err());
        assert!(Replaces::parse(";from-tag=a;to-tag=b").is_err());
    }

    #[test]
    fn caller_prefs() {
        let a = AcceptContact::parse("*;audio;require").unwrap();
        assert!(a.require());
        assert!(!a.explicit());
        assert_eq!(a.feature("audio"), Some(None));
        let a = AcceptContact::parse("*;video;explicit").unwrap();
        assert!(a.explicit());
        let r = RejectContact::parse("*;actor=\"msg-taker\";video").unwrap();
        assert_eq!(r.feature("actor"), Some(Some("\"msg-taker\"")));
        let a = AcceptContact::parse("*;+sip.methods=\"INVITE,BYE\";language=\"en,fr\"").unwrap();
        assert_eq!(a.feature("+sip.methods"), Some(Some("\"INVITE,BYE\"")));
        assert!(AcceptContact::parse("*").is_ok());
        assert!(AcceptContact::parse("<sip:a@b>;audio").is_err());
        assert!(AcceptContact::parse("*;;audio").is_err());
        assert!(RequestDisposition::parse("proxy").is_ok());
        assert!(RequestDisposition::parse("no fork").is_err());
    }

    #[test]
    fn session_timers() {
        let s = SessionExpires::parse("4000;refresher=uac").unwrap();
        assert_eq!(s.delta, 4000);
        assert_eq!(s.refresher(), Some(Refresher::Uac));
        let s = SessionExpires::parse("1800 ; refresher = UAS").unwrap();
        assert_eq!(s.refresher(), Some(Refresher::Uas));
        assert_eq!(SessionExpires::parse("90").unwrap().refresher(), None);
        assert!(SessionExpires::parse("90;refresher=me").is_err());
        assert!(SessionExpires::parse("-90").is_err());
        assert!(SessionExpires::parse("4294967296").is_err());
        let m = <MinSe as TypedHeader>::parse("3600").unwrap();
        assert_eq!(m.delta, 3600);
        assert!(<MinSe as TypedHeader>::parse("3600;x=1").is_ok());
        assert!(<MinSe as TypedHeader>::parse("abc").is_err());
    }

    #[test]
    fn publication_and_privacy() {
        assert_eq!(SipETag::parse("dx200xyz").unwrap().0.0, "dx200xyz");
        assert!(SipIfMatch::parse("dx200xyz").is_ok());
        assert!(SipIfMatch::parse("").is_err());
        let p = Privacy::parse("id").unwrap();
        assert!(p.contains("ID"));
        let p = Privacy::parse("header ; user;critical").unwrap();
        assert_eq!(p.iter().collect::<Vec<_>>(), ["header", "user", "critical"]);
        assert!(!p.contains("id"));
        assert!(Privacy::parse("none").is_ok());
        assert!(Privacy::parse("id;;header").is_err());
        assert!(Privacy::parse("id, header").is_err());
        assert!(Privacy::parse("").is_err());
        assert!(Privacy::parse("\"id\"").is_err());
    }

    #[test]
    fn identity() {
        let i = Identity::parse(
            "\"ZYNBbHC00VMZr2kZt6VmCvPonWJMGvQTBDqghoWeLxJfzB2a1pxAr3VgrB0SsSAaifsRdiOPoQZYOy2wrVghuhcsMbHWUSFxI6p6q5TOQXHMmz6uEo3svJsSH49thyGnFVcnyaZ++yRlBYYQTLqWzJ+KVhPKbfU/pryhVn9Yc6U=\"",
        )
        .unwrap();
        assert!(i.digest.starts_with("ZYNB"));
        assert!(i.params.is_empty());
        // RFC 4475 mpart01 writes it unquoted.
        assert!(Identity::parse("r5mwreLuyDRYBi/0TiPwEsY3rEVsk/G2WxhgTV1PF7hHuLIK0YWVKZhKv9Mj8UeXqkMVbnVq37CD+813gvYjcBUaZngQmXc9WNZSDNGCzA+fWl9MEUHWIZo1CeJebdY/XlgKeTa0Olvq0rt70Q5jiSfbqMJmQFteeivUhkMWYUA=").is_ok());
        let i = Identity::parse(
            "eyJhbGciOiJFUzI1NiJ9.eyJhdHRlc3QiOiJBIn0.sig-_x;info=<https://biloxi.example.org/biloxi.cert;a=b>;alg=ES256;ppt=\"shaken\"",
        )
        .unwrap();
        assert_eq!(i.info().unwrap().scheme(), Scheme::Other);
        assert_eq!(
            i.info().unwrap().as_str(),
            "https://biloxi.example.org/biloxi.cert;a=b"
        );
        assert_eq!(i.alg(), Some("ES256"));
        assert_eq!(i.ppt(), Some("shaken"));
        assert!(Identity::parse("\"abc").is_err());
        assert!(Identity::parse("\"a!c\"").is_err());
        assert!(Identity::parse("abc def").is_err());
        assert!(Identity::parse("abc;info=<nope>").is_err());
        assert!(Identity::parse("abc;info=<https://x").is_err());
        assert!(Identity::parse("").is_err());
        assert!(Identity::parse("\"\"").is_err());
        let ii =
            IdentityInfo::parse("<https://atlanta.example.com/atlanta.cer>;alg=rsa-sha1").unwrap();
        assert_eq!(ii.alg(), Some("rsa-sha1"));
        assert_eq!(ii.uri.as_str(), "https://atlanta.example.com/atlanta.cer");
        assert!(IdentityInfo::parse("https://atlanta.example.com/atlanta.cer").is_err());
    }
}
