//! Dialogs ("legs" in sofia-sip): RFC 3261 §12 state, in-dialog request
//! construction with loose and strict routing, matching and target refresh.
//! Plain data, no I/O.

use sofia_msg::headers::{Contact, RecordRoute};
use sofia_msg::{HeaderName, Message, Method, RequestBuilder, Uri};

/// What identifies a dialog: Call-ID and the two tags (RFC 3261 §12).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DialogId {
    /// The Call-ID.
    pub call_id: String,
    /// Our tag.
    pub local_tag: String,
    /// The peer's tag.
    pub remote_tag: String,
}

/// Whether the dialog has been confirmed by a 2xx.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DialogState {
    /// Created by a provisional response with a To tag.
    Early,
    /// Created or confirmed by a 2xx (or by the request, for a UAS).
    Confirmed,
}

/// Why a dialog could not be created or a request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DialogError {
    /// A header a dialog needs is missing or invalid.
    #[error("cannot create a dialog: {0}")]
    Missing(&'static str),
    /// A request whose CSeq is lower than the last one (answer 500,
    /// RFC 3261 §12.2.2).
    #[error("CSeq {got} lower than the last ({last})")]
    OldCSeq {
        /// The request's CSeq.
        got: u32,
        /// The highest CSeq seen.
        last: u32,
    },
}

/// The state of one dialog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dialog {
    /// Call-ID and tags.
    pub id: DialogId,
    /// Early or confirmed.
    pub state: DialogState,
    /// Our address as in our From (UAC) or To (UAS), without parameters.
    pub local_uri: String,
    /// The peer's address.
    pub remote_uri: String,
    /// Our last CSeq number.
    pub local_seq: u32,
    /// The peer's last CSeq number, once a request came.
    pub remote_seq: Option<u32>,
    /// Where in-dialog requests go: the peer's Contact URI.
    pub remote_target: String,
    /// The route set, in the order requests carry it.
    pub route_set: Vec<String>,
    /// A `sips:` dialog (requests must use TLS).
    pub secure: bool,
}

fn addr_uri(value: &str) -> Result<String, DialogError> {
    let a =
        sofia_msg::headers::NameAddr::parse(value).map_err(|_| DialogError::Missing("From/To"))?;
    Ok(a.uri().as_str().to_string())
}

fn contact_uri(msg: &Message) -> Result<String, DialogError> {
    match msg.typed::<Contact>() {
        Some(Ok(Contact::Addr(a))) => Ok(a.uri().as_str().to_string()),
        _ => Err(DialogError::Missing("Contact")),
    }
}

fn record_routes(msg: &Message) -> Result<Vec<String>, DialogError> {
    msg.typed_all::<RecordRoute>()
        .map(|r| {
            r.map(|r| format!("<{}>", r.uri().as_str()))
                .map_err(|_| DialogError::Missing("Record-Route"))
        })
        .collect()
}

fn lr(route: &str) -> bool {
    let inner = route.trim_start_matches('<').trim_end_matches('>');
    Uri::parse(inner).is_ok_and(|u| u.lr())
}

impl Dialog {
    /// The dialog a UAC creates from its request and a 2xx or a provisional
    /// response with a To tag (RFC 3261 §12.1.2): route set from the
    /// response's Record-Route in reverse order, remote target from its
    /// Contact.
    pub fn from_uac(request: &Message, response: &Message) -> Result<Dialog, DialogError> {
        let status = response.status().ok_or(DialogError::Missing("status"))?;
        let remote_tag = response.to_tag().ok_or(DialogError::Missing("To tag"))?;
        let local_tag = request.from_tag().ok_or(DialogError::Missing("From tag"))?;
        let mut route_set = record_routes(response)?;
        route_set.reverse();
        let secure = request
            .request_uri()
            .and_then(Result::ok)
            .is_some_and(|u| u.scheme() == sofia_msg::Scheme::Sips);
        Ok(Dialog {
            id: DialogId {
                call_id: request
                    .call_id()
                    .ok_or(DialogError::Missing("Call-ID"))?
                    .into(),
                local_tag: local_tag.into(),
                remote_tag: remote_tag.into(),
            },
            state: if (200..300).contains(&status) {
                DialogState::Confirmed
            } else {
                DialogState::Early
            },
            local_uri: addr_uri(request.header(HeaderName::From).unwrap_or(""))?,
            remote_uri: addr_uri(request.header(HeaderName::To).unwrap_or(""))?,
            local_seq: request.cseq().ok_or(DialogError::Missing("CSeq"))?.0,
            remote_seq: None,
            remote_target: contact_uri(response)?,
            route_set,
            secure,
        })
    }

    /// The dialog a UAS creates from a request it answers with `local_tag`
    /// in its To (RFC 3261 §12.1.1): route set from the request's
    /// Record-Route in order, remote target from its Contact. `secure` when
    /// the request came over TLS to a `sips:` URI.
    pub fn from_uas(
        request: &Message,
        local_tag: &str,
        secure: bool,
    ) -> Result<Dialog, DialogError> {
        Ok(Dialog {
            id: DialogId {
                call_id: request
                    .call_id()
                    .ok_or(DialogError::Missing("Call-ID"))?
                    .into(),
                local_tag: local_tag.into(),
                remote_tag: request
                    .from_tag()
                    .ok_or(DialogError::Missing("From tag"))?
                    .into(),
            },
            state: DialogState::Confirmed,
            local_uri: addr_uri(request.header(HeaderName::To).unwrap_or(""))?,
            remote_uri: addr_uri(request.header(HeaderName::From).unwrap_or(""))?,
            local_seq: 0,
            remote_seq: Some(request.cseq().ok_or(DialogError::Missing("CSeq"))?.0),
            remote_target: contact_uri(request)?,
            route_set: record_routes(request)?,
            secure,
        })
    }

    /// True when `msg` belongs to this dialog: same Call-ID, and for a
    /// request our tag in its To and the peer's in its From; for a response,
    /// our tag in its From and the peer's in its To.
    pub fn matches(&self, msg: &Message) -> bool {
        if msg.call_id() != Some(self.id.call_id.as_str()) {
            return false;
        }
        let (ours, theirs) = if msg.is_request() {
            (msg.to_tag(), msg.from_tag())
        } else {
            (msg.from_tag(), msg.to_tag())
        };
        ours == Some(self.id.local_tag.as_str()) && theirs == Some(self.id.remote_tag.as_str())
    }

    /// The Request-URI and Route headers of the next in-dialog request
    /// (RFC 3261 §12.2.1.1): with an empty route set or a loose router first,
    /// the remote target and the route set; with a strict router first, its
    /// URI, and the rest of the route set followed by the remote target.
    pub fn request_target(&self) -> (String, Vec<String>) {
        match self.route_set.first() {
            None => (self.remote_target.clone(), Vec::new()),
            Some(first) if lr(first) => (self.remote_target.clone(), self.route_set.clone()),
            Some(first) => {
                let uri = first.trim_start_matches('<').trim_end_matches('>');
                let uri = uri.split('?').next().unwrap_or(uri).to_string();
                let mut routes: Vec<String> = self.route_set[1..].to_vec();
                routes.push(format!("<{}>", self.remote_target));
                (uri, routes)
            }
        }
    }

    /// Starts the next in-dialog request: Request-URI and Route per
    /// [`Dialog::request_target`], our Via, From and To with the dialog's
    /// tags, Call-ID, and the next CSeq (ACK and CANCEL take `invite_seq`,
    /// the INVITE's number, without counting up). The caller adds Contact,
    /// body and the rest, and builds it.
    pub fn request(
        &mut self,
        method: Method,
        via: &str,
        invite_seq: Option<u32>,
    ) -> RequestBuilder {
        self.request_with_max_forwards(method, via, invite_seq, 70)
    }

    /// [`Dialog::request`] with this `Max-Forwards` (a B2BUA relaying a
    /// request passes the received value less one).
    pub fn request_with_max_forwards(
        &mut self,
        method: Method,
        via: &str,
        invite_seq: Option<u32>,
        max_forwards: u8,
    ) -> RequestBuilder {
        let seq = match (method, invite_seq) {
            (Method::Ack | Method::Cancel, Some(n)) => n,
            _ => {
                self.local_seq += 1;
                self.local_seq
            }
        };
        let (uri, routes) = self.request_target();
        let mut b = RequestBuilder::new(method, &uri).header(HeaderName::Via, via);
        for r in &routes {
            b = b.header(HeaderName::Route, r);
        }
        b.header(HeaderName::MaxForwards, &max_forwards.to_string())
            .header(
                HeaderName::From,
                &format!("<{}>;tag={}", self.local_uri, self.id.local_tag),
            )
            .header(
                HeaderName::To,
                &format!("<{}>;tag={}", self.remote_uri, self.id.remote_tag),
            )
            .header(HeaderName::CallId, &self.id.call_id)
            .header(HeaderName::CSeq, &format!("{seq} {}", method.as_str()))
    }

    /// Takes an in-dialog request (RFC 3261 §12.2.2): a CSeq lower than the
    /// last one is refused (answer 500); a re-INVITE or UPDATE with a Contact
    /// refreshes the remote target.
    pub fn on_request(&mut self, request: &Message) -> Result<(), DialogError> {
        let seq = request.cseq().ok_or(DialogError::Missing("CSeq"))?.0;
        if let Some(last) = self.remote_seq
            && seq < last
            && !matches!(request.method(), Method::Ack | Method::Cancel)
        {
            return Err(DialogError::OldCSeq { got: seq, last });
        }
        if !matches!(request.method(), Method::Ack | Method::Cancel) {
            self.remote_seq = Some(seq);
        }
        if matches!(request.method(), Method::Invite | Method::Update)
            && let Ok(target) = contact_uri(request)
        {
            self.remote_target = target;
        }
        Ok(())
    }

    /// Takes a response to an in-dialog request or to the dialog-creating
    /// INVITE: a 2xx confirms an early dialog, and a 2xx to INVITE or UPDATE
    /// with a Contact refreshes the remote target (RFC 3261 §12.2.1.2).
    pub fn on_response(&mut self, response: &Message) {
        let status = response.status().unwrap_or(0);
        if (200..300).contains(&status) {
            self.state = DialogState::Confirmed;
            let method = response.cseq().map(|c| c.1);
            if matches!(method, Some(Method::Invite | Method::Update))
                && let Ok(target) = contact_uri(response)
            {
                self.remote_target = target;
            }
        }
    }
}
