//! RFC 3261 timer values, with sofia-sip's defaults.

use std::time::Duration;

/// Transaction timers. The defaults are sofia-sip's (and RFC 3261's): T1
/// 500 ms, T2 4 s, T4 5 s, timer C 185 s, 100 Trying after 200 ms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timers {
    /// Round-trip estimate: first retransmission interval (timers A, E, G).
    pub t1: Duration,
    /// Largest retransmission interval of non-INVITE requests and INVITE
    /// responses (timers E, G).
    pub t2: Duration,
    /// Time a message may stay in the network (timers I, K).
    pub t4: Duration,
    /// How long a client INVITE may stay in Proceeding before it times out
    /// (timer C, RFC 3261 §16.6; `None` waits for the final response).
    pub timer_c: Option<Duration>,
    /// A server INVITE transaction sends 100 Trying when the user has not
    /// answered within this time (RFC 3261 §17.2.1).
    pub trying_after: Duration,
}

impl Default for Timers {
    fn default() -> Self {
        Timers {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
            timer_c: Some(Duration::from_secs(185)),
            trying_after: Duration::from_millis(200),
        }
    }
}

impl Timers {
    /// 64*T1: timers B, F, H, J, L and M.
    pub fn t1x64(&self) -> Duration {
        self.t1 * 64
    }
    /// Timer D: at least 32 s on unreliable transports.
    pub fn timer_d(&self) -> Duration {
        Duration::from_secs(32).max(self.t1x64())
    }
}
