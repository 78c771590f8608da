//! The in-process event bus: `sofia::register`, `sofia::unregister`,
//! `sofia::expire`, ... as FreeSWITCH fires them, for the console
//! (`events on`) and for any Rust code that subscribes.
//!
//! The bus is bounded ([`EventBus::new`] takes the capacity): a subscriber
//! that falls behind loses the oldest events it has not read, and its
//! [`Subscriber::lost`] counter says how many. Publishing never blocks and
//! never fails, with or without subscribers.
//!
//! [`Event::to_plain`] prints an event in FreeSWITCH's plain event format,
//! as `fs_cli`'s `/event plain ...` shows it: one `Name: value` line per
//! header, values URL-encoded (`sofia::register` is `sofia%3A%3Aregister`),
//! then an empty line.
//!
//! ```
//! use mod_sofia::events::{Event, EventBus};
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let bus = EventBus::new(16);
//! let mut sub = bus.subscribe();
//! bus.publish(Event::custom("sofia::register").with("profile-name", "internal"));
//! let event = sub.recv().await.unwrap();
//! assert_eq!(event.subclass(), Some("sofia::register"));
//! assert!(event.to_plain().starts_with("Event-Subclass: sofia%3A%3Aregister\nEvent-Name: CUSTOM\n"));
//! # });
//! ```

use std::time::{SystemTime, UNIX_EPOCH};

use tokio::sync::broadcast;

use crate::commands::{civil_time, format_time, url_encode};

/// `sofia::register`: a registration was accepted.
pub const REGISTER: &str = "sofia::register";
/// `sofia::unregister`: a binding was removed by its user agent.
pub const UNREGISTER: &str = "sofia::unregister";
/// `sofia::expire`: a binding expired (or was flushed).
pub const EXPIRE: &str = "sofia::expire";
/// `sofia::register_attempt`: a REGISTER arrived.
pub const REGISTER_ATTEMPT: &str = "sofia::register_attempt";
/// `sofia::register_failure`: a REGISTER was refused.
pub const REGISTER_FAILURE: &str = "sofia::register_failure";
/// `sofia::pre_register`: a REGISTER is about to be authenticated.
pub const PRE_REGISTER: &str = "sofia::pre_register";
/// `sofia::profile_start`: a profile started.
pub const PROFILE_START: &str = "sofia::profile_start";
/// `sofia::gateway_state`: a gateway's registration state changed.
pub const GATEWAY_STATE: &str = "sofia::gateway_state";

/// One event: FreeSWITCH's event name (`CUSTOM` for `sofia::...` events)
/// and its headers in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The event name (`CUSTOM`, `HEARTBEAT`, ...).
    pub name: String,
    /// The headers, in the order they print. A `CUSTOM` event carries its
    /// subclass as the `Event-Subclass` header.
    pub headers: Vec<(String, String)>,
}

impl Event {
    /// An event with this name and no headers.
    pub fn new(name: impl Into<String>) -> Event {
        Event {
            name: name.into(),
            headers: Vec::new(),
        }
    }

    /// A `CUSTOM` event of a subclass (`sofia::register`), stamped with
    /// `Event-Date-Local` (in UTC), `Event-Date-GMT` and
    /// `Event-Date-Timestamp` (microseconds) of now.
    pub fn custom(subclass: impl Into<String>) -> Event {
        Event::custom_at(subclass, SystemTime::now())
    }

    /// As [`Event::custom`], stamped with `at`.
    pub fn custom_at(subclass: impl Into<String>, at: SystemTime) -> Event {
        let micros = at
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX));
        let secs = micros.div_euclid(1_000_000);
        Event::new("CUSTOM")
            .with("Event-Subclass", subclass)
            .with("Event-Date-Local", format_time(secs))
            .with("Event-Date-GMT", http_date(secs))
            .with("Event-Date-Timestamp", micros.to_string())
    }

    /// Adds a header at the end.
    pub fn with(mut self, name: impl Into<String>, value: impl Into<String>) -> Event {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// The first header of this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The `Event-Subclass` header.
    pub fn subclass(&self) -> Option<&str> {
        self.header("Event-Subclass")
    }

    /// FreeSWITCH's plain event format: `Event-Subclass` (when present),
    /// `Event-Name`, then the other headers, one `Name: value` line each
    /// with the value URL-encoded, and an empty line at the end.
    pub fn to_plain(&self) -> String {
        let mut out = String::new();
        let mut line = |name: &str, value: &str| {
            out.push_str(name);
            out.push_str(": ");
            out.push_str(&url_encode(value));
            out.push('\n');
        };
        if let Some(sub) = self.subclass() {
            line("Event-Subclass", sub);
        }
        line("Event-Name", &self.name);
        for (name, value) in &self.headers {
            if !name.eq_ignore_ascii_case("Event-Subclass") {
                line(name, value);
            }
        }
        out.push('\n');
        out
    }
}

/// `Tue, 14 Nov 2023 22:13:20 GMT`: the form of FreeSWITCH's `Event-Date-GMT`.
pub fn http_date(secs: i64) -> String {
    const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (y, m, d, hh, mm, ss, wd) = civil_time(secs);
    let day = usize::try_from(wd).map_or("Sun", |i| DAYS[i % 7]);
    let month = usize::try_from(m - 1).map_or("Jan", |i| MONTHS[i % 12]);
    format!("{day}, {d:02} {month} {y:04} {hh:02}:{mm:02}:{ss:02} GMT")
}

/// A bounded broadcast bus of [`Event`]s. Cloning gives another handle on
/// the same bus.
#[derive(Debug, Clone)]
pub struct EventBus {
    tx: broadcast::Sender<Event>,
}

impl EventBus {
    /// A bus where each subscriber can be up to `capacity` events behind
    /// (at least 1).
    pub fn new(capacity: usize) -> EventBus {
        let (tx, _) = broadcast::channel(capacity.max(1));
        EventBus { tx }
    }

    /// Sends an event to every current subscriber; returns how many there are.
    pub fn publish(&self, event: Event) -> usize {
        self.tx.send(event).unwrap_or(0)
    }

    /// A new subscriber, which sees the events published from now on.
    pub fn subscribe(&self) -> Subscriber {
        Subscriber {
            rx: self.tx.subscribe(),
            lost: 0,
        }
    }

    /// How many subscribers there are.
    pub fn subscribers(&self) -> usize {
        self.tx.receiver_count()
    }
}

impl Default for EventBus {
    /// A bus of capacity 1024.
    fn default() -> EventBus {
        EventBus::new(1024)
    }
}

/// One subscription to an [`EventBus`].
#[derive(Debug)]
pub struct Subscriber {
    rx: broadcast::Receiver<Event>,
    lost: u64,
}

impl Subscriber {
    /// The next event; `None` once every handle on the bus is gone. Events
    /// lost by falling behind are skipped and counted in [`Subscriber::lost`].
    pub async fn recv(&mut self) -> Option<Event> {
        loop {
            match self.rx.recv().await {
                Ok(event) => return Some(event),
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    self.lost = self.lost.saturating_add(n);
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }

    /// The next event if one is waiting, without waiting.
    pub fn try_recv(&mut self) -> Option<Event> {
        loop {
            match self.rx.try_recv() {
                Ok(event) => return Some(event),
                Err(broadcast::error::TryRecvError::Lagged(n)) => {
                    self.lost = self.lost.saturating_add(n);
                }
                Err(_) => return None,
            }
        }
    }

    /// How many events this subscriber has lost by falling behind.
    pub fn lost(&self) -> u64 {
        self.lost
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn plain_format_encodes_values() {
        let at = UNIX_EPOCH + Duration::from_micros(1_700_000_000_123_456);
        let ev = Event::custom_at(REGISTER, at)
            .with("profile-name", "internal")
            .with("contact", "\"1000\" <sip:1000@192.0.2.7:5060>")
            .with("user-agent", "Zoiper 5.0");
        assert_eq!(
            ev.to_plain(),
            "Event-Subclass: sofia%3A%3Aregister\n\
             Event-Name: CUSTOM\n\
             Event-Date-Local: 2023-11-14%2022%3A13%3A20\n\
             Event-Date-GMT: Tue,%2014%20Nov%202023%2022%3A13%3A20%20GMT\n\
             Event-Date-Timestamp: 1700000000123456\n\
             profile-name: internal\n\
             contact: %221000%22%20%3Csip%3A1000%40192.0.2.7%3A5060%3E\n\
             user-agent: Zoiper%205.0\n\n"
        );
    }

    #[test]
    fn http_dates() {
        assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(http_date(951_782_400), "Tue, 29 Feb 2000 00:00:00 GMT");
        assert_eq!(http_date(-1), "Wed, 31 Dec 1969 23:59:59 GMT");
    }

    #[test]
    fn plain_event_without_subclass() {
        let ev = Event::new("HEARTBEAT").with("Up-Time", "0 years");
        assert_eq!(
            ev.to_plain(),
            "Event-Name: HEARTBEAT\nUp-Time: 0%20years\n\n"
        );
    }

    #[tokio::test]
    async fn slow_subscriber_loses_oldest_and_counts() {
        let bus = EventBus::new(4);
        let mut sub = bus.subscribe();
        for i in 0..10 {
            assert_eq!(
                bus.publish(Event::new("CUSTOM").with("n", i.to_string())),
                1
            );
        }
        let first = sub.recv().await.expect("an event");
        assert_eq!(first.header("n"), Some("6"));
        assert_eq!(sub.lost(), 6);
        let mut rest = Vec::new();
        while let Some(ev) = sub.try_recv() {
            rest.push(ev.header("n").map(str::to_string));
        }
        assert_eq!(
            rest,
            vec![Some("7".into()), Some("8".into()), Some("9".into())]
        );
    }

    #[tokio::test]
    async fn publish_without_subscribers_and_closed_bus() {
        let bus = EventBus::new(2);
        assert_eq!(bus.publish(Event::new("CUSTOM")), 0);
        let mut sub = bus.subscribe();
        assert_eq!(bus.subscribers(), 1);
        drop(bus);
        assert_eq!(sub.recv().await, None);
    }
}
