//! What the user agent reports: one stream of [`Event`]s.

use std::fmt;

use sofia_msg::Message;

use crate::call::CallState;
use crate::subscribe::SubState;

/// Identifies a handle: one for each [`Nua::handle`](crate::Nua::handle),
/// and a new one for each incoming request outside a dialog.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HandleId(pub u64);

impl fmt::Display for HandleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// The kind of an event, named as in sofia-sip's nua (`nua_r_register` is
/// [`EventKind::RRegister`], shown as `r_register`): `r_` events answer a
/// command of ours, `i_` events tell of a request received.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EventKind {
    /// The final result of a REGISTER (a registration or its refresh).
    RRegister,
    /// The final result of an unregistering REGISTER.
    RUnregister,
    /// The final result of a MESSAGE.
    RMessage,
    /// The final result of an OPTIONS.
    ROptions,
    /// A MESSAGE was received (and answered 200 OK).
    IMessage,
    /// An OPTIONS was received (and answered 200 OK).
    IOptions,
    /// An INVITE arrived: a new call (status 100, answer with
    /// [`Handle::respond`](crate::Handle::respond)) or a re-INVITE of one
    /// (answered 200 with the offer/answer's answer).
    IInvite,
    /// A response to our INVITE or re-INVITE (provisional ones too).
    RInvite,
    /// The ACK of our 2xx came.
    IAck,
    /// The caller cancelled the INVITE (answered 487).
    ICancel,
    /// The peer hung up (BYE, answered 200 OK).
    IBye,
    /// The final response to our BYE.
    RBye,
    /// The call state changed ([`Event::state`]).
    IState,
    /// An UPDATE arrived in a call (answered 200 OK with the answer).
    IUpdate,
    /// The final response to our UPDATE.
    RUpdate,
    /// A PRACK of our reliable provisional response arrived (answered 200
    /// OK).
    IPrack,
    /// The final response to our PRACK.
    RPrack,
    /// A REFER arrived in a call (answered 202 Accepted; a NOTIFY with
    /// `100 Trying` went out).
    IRefer,
    /// The final response to our REFER.
    RRefer,
    /// A NOTIFY arrived, answered 200 OK: for a call, the progress of our
    /// REFER (`message/sipfrag`); for a subscription
    /// ([`Handle::subscribe`](crate::Handle::subscribe)), the event state
    /// with [`Event::substate`]. A subscription that gets no NOTIFY within
    /// 64·T1 of its 2xx ends with an `i_notify` 408 (`terminated`) and no
    /// request.
    INotify,
    /// The final response to a NOTIFY of ours.
    RNotify,
    /// An INFO arrived in a call (answered 200 OK).
    IInfo,
    /// The final response to our INFO.
    RInfo,
    /// The final response to our SUBSCRIBE (a subscription or its
    /// refresh); [`Event::substate`] tells the subscription's state.
    RSubscribe,
    /// The final response to our unsubscribing SUBSCRIBE (`Expires: 0`).
    RUnsubscribe,
    /// The final response to our PUBLISH (a publication, its refresh or
    /// modification).
    RPublish,
    /// The final response to our removing PUBLISH (`Expires: 0`).
    RUnpublish,
    /// Something went wrong outside any transaction (a request could not be
    /// built or answered); the phrase says what.
    IError,
}

impl EventKind {
    /// The sofia-sip name without its `nua_` prefix (`r_register`).
    pub fn name(self) -> &'static str {
        match self {
            EventKind::RRegister => "r_register",
            EventKind::RUnregister => "r_unregister",
            EventKind::RMessage => "r_message",
            EventKind::ROptions => "r_options",
            EventKind::IMessage => "i_message",
            EventKind::IOptions => "i_options",
            EventKind::IInvite => "i_invite",
            EventKind::RInvite => "r_invite",
            EventKind::IAck => "i_ack",
            EventKind::ICancel => "i_cancel",
            EventKind::IBye => "i_bye",
            EventKind::RBye => "r_bye",
            EventKind::IState => "i_state",
            EventKind::IUpdate => "i_update",
            EventKind::RUpdate => "r_update",
            EventKind::IPrack => "i_prack",
            EventKind::RPrack => "r_prack",
            EventKind::IRefer => "i_refer",
            EventKind::RRefer => "r_refer",
            EventKind::INotify => "i_notify",
            EventKind::RNotify => "r_notify",
            EventKind::IInfo => "i_info",
            EventKind::RInfo => "r_info",
            EventKind::RSubscribe => "r_subscribe",
            EventKind::RUnsubscribe => "r_unsubscribe",
            EventKind::RPublish => "r_publish",
            EventKind::RUnpublish => "r_unpublish",
            EventKind::IError => "i_error",
        }
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One event of the user agent.
#[derive(Debug, Clone)]
pub struct Event {
    /// The handle it concerns.
    pub handle: HandleId,
    /// What happened.
    pub kind: EventKind,
    /// The status code: of the final response for `r_` events (408 on a
    /// timeout, 503 when the destination could not be resolved or reached),
    /// of our answer for `i_` events, 500 for `i_error`.
    pub status: u16,
    /// The reason phrase.
    pub phrase: String,
    /// The response (`r_` events) or request (`i_` events), when there is one.
    pub message: Option<Message>,
    /// The call state (sofia-sip's `nua_callstate_t`), for `i_state`.
    pub state: Option<CallState>,
    /// The subscription state (sofia-sip's `nua_substate_t`), for
    /// `r_subscribe`, `r_unsubscribe` and `i_notify`.
    pub substate: Option<SubState>,
}

impl fmt::Display for Event {
    /// `r_register #1: 200 OK`; `i_state #2: 180 Ringing (proceeding)`;
    /// `i_notify #3: 200 OK (active)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}: {} {}",
            self.kind, self.handle, self.status, self.phrase
        )?;
        match (self.state, self.substate) {
            (Some(state), _) => write!(f, " ({state})"),
            (None, Some(substate)) => write!(f, " ({substate})"),
            (None, None) => Ok(()),
        }
    }
}
