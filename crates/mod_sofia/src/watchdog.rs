//! The watchdog: FreeSWITCH's `watchdog-enabled`, `watchdog-step-timeout`
//! and `watchdog-event-timeout` profile parameters.
//!
//! The engine ticks a [`Heartbeat`] on every step of its loop
//! ([`Heartbeat::step`]) and on every SIP event it handles
//! ([`Heartbeat::event`]). [`Watchdog::check`] says whether the engine has
//! stalled: no step for longer than the step timeout, or no event for
//! longer than the event timeout (a timeout of zero is not checked). The
//! daemon checks periodically and exits with a non-zero status on a stall,
//! so that a supervisor restarts it, as FreeSWITCH aborts.
//!
//! The watchdog can be switched on and off at run time
//! (`sofia global watchdog on|off`); while off, or before any tick, nothing
//! is a stall. The check takes the time as an argument, so it is tested
//! without waiting.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use mod_sofia::watchdog::{Watchdog, WatchdogConfig};
//!
//! let start = Instant::now();
//! let dog = Watchdog::new(WatchdogConfig {
//!     enabled: true,
//!     step_timeout: Duration::from_secs(30),
//!     event_timeout: Duration::ZERO,
//! }, start);
//! dog.heartbeat().step_at(start);
//! assert!(dog.check(start + Duration::from_secs(10)).is_none());
//! assert!(dog.check(start + Duration::from_secs(31)).is_some());
//! ```

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The watchdog's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WatchdogConfig {
    /// `watchdog-enabled` (default off).
    pub enabled: bool,
    /// `watchdog-step-timeout`: the longest time between two steps of the
    /// engine (default 30 s; zero: not checked).
    pub step_timeout: Duration,
    /// `watchdog-event-timeout`: the longest time between two SIP events
    /// (default zero: not checked).
    pub event_timeout: Duration,
}

impl Default for WatchdogConfig {
    fn default() -> WatchdogConfig {
        WatchdogConfig {
            enabled: false,
            step_timeout: Duration::from_secs(30),
            event_timeout: Duration::ZERO,
        }
    }
}

/// What stalled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stall {
    /// No step for this long.
    Step(Duration),
    /// No event for this long.
    Event(Duration),
}

impl fmt::Display for Stall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stall::Step(d) => write!(f, "no engine step for {} ms", d.as_millis()),
            Stall::Event(d) => write!(f, "no SIP event for {} ms", d.as_millis()),
        }
    }
}

/// Milliseconds since the watchdog's origin, plus one (0: never ticked).
#[derive(Debug)]
struct Shared {
    origin: Instant,
    enabled: AtomicBool,
    last_step: AtomicU64,
    last_event: AtomicU64,
}

impl Shared {
    fn stamp(&self, now: Instant) -> u64 {
        u64::try_from(now.saturating_duration_since(self.origin).as_millis())
            .unwrap_or(u64::MAX - 1)
            .saturating_add(1)
    }
}

/// The engine's side: cheap to clone and to tick (one atomic store).
#[derive(Debug, Clone)]
pub struct Heartbeat {
    shared: Arc<Shared>,
}

impl Heartbeat {
    /// One step of the engine's loop, now.
    pub fn step(&self) {
        self.step_at(Instant::now());
    }

    /// One step of the engine's loop at `now`.
    pub fn step_at(&self, now: Instant) {
        self.shared
            .last_step
            .store(self.shared.stamp(now), Ordering::Relaxed);
    }

    /// One SIP event handled, now.
    pub fn event(&self) {
        self.event_at(Instant::now());
    }

    /// One SIP event handled at `now`.
    pub fn event_at(&self, now: Instant) {
        self.shared
            .last_event
            .store(self.shared.stamp(now), Ordering::Relaxed);
    }
}

/// The checking side.
#[derive(Debug, Clone)]
pub struct Watchdog {
    shared: Arc<Shared>,
    config: WatchdogConfig,
}

impl Watchdog {
    /// A watchdog whose clock starts at `origin`.
    pub fn new(config: WatchdogConfig, origin: Instant) -> Watchdog {
        Watchdog {
            shared: Arc::new(Shared {
                origin,
                enabled: AtomicBool::new(config.enabled),
                last_step: AtomicU64::new(0),
                last_event: AtomicU64::new(0),
            }),
            config,
        }
    }

    /// The handle the engine ticks.
    pub fn heartbeat(&self) -> Heartbeat {
        Heartbeat {
            shared: Arc::clone(&self.shared),
        }
    }

    /// Switches checking on or off; on again, the timeouts count from now
    /// (`sofia global watchdog on` does not fire at once on an idle engine).
    pub fn set_enabled(&self, on: bool, now: Instant) {
        if on && !self.enabled() {
            let hb = self.heartbeat();
            if self.shared.last_step.load(Ordering::Relaxed) != 0 {
                hb.step_at(now);
            }
            if self.shared.last_event.load(Ordering::Relaxed) != 0 {
                hb.event_at(now);
            }
        }
        self.shared.enabled.store(on, Ordering::Relaxed);
    }

    /// Whether checking is on.
    pub fn enabled(&self) -> bool {
        self.shared.enabled.load(Ordering::Relaxed)
    }

    /// The settings.
    pub fn config(&self) -> WatchdogConfig {
        self.config
    }

    /// A stall at `now`, if any.
    pub fn check(&self, now: Instant) -> Option<Stall> {
        if !self.enabled() {
            return None;
        }
        let now_ms = self.shared.stamp(now);
        let late = |last: &AtomicU64, timeout: Duration| {
            let last = last.load(Ordering::Relaxed);
            if timeout.is_zero() || last == 0 {
                return None;
            }
            let idle = Duration::from_millis(now_ms.saturating_sub(last));
            (idle > timeout).then_some(idle)
        };
        if let Some(idle) = late(&self.shared.last_step, self.config.step_timeout) {
            return Some(Stall::Step(idle));
        }
        late(&self.shared.last_event, self.config.event_timeout).map(Stall::Event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(step: u64, event: u64) -> WatchdogConfig {
        WatchdogConfig {
            enabled: true,
            step_timeout: Duration::from_millis(step),
            event_timeout: Duration::from_millis(event),
        }
    }

    #[test]
    fn no_tick_no_stall() {
        let t0 = Instant::now();
        let dog = Watchdog::new(cfg(100, 100), t0);
        assert_eq!(dog.check(t0 + Duration::from_secs(100)), None);
    }

    #[test]
    fn step_stall_and_recovery() {
        let t0 = Instant::now();
        let dog = Watchdog::new(cfg(100, 0), t0);
        let hb = dog.heartbeat();
        hb.step_at(t0);
        assert_eq!(dog.check(t0 + Duration::from_millis(100)), None);
        assert_eq!(
            dog.check(t0 + Duration::from_millis(150)),
            Some(Stall::Step(Duration::from_millis(150)))
        );
        hb.step_at(t0 + Duration::from_millis(140));
        assert_eq!(dog.check(t0 + Duration::from_millis(150)), None);
    }

    #[test]
    fn event_stall_only_when_configured() {
        let t0 = Instant::now();
        let dog = Watchdog::new(cfg(0, 50), t0);
        let hb = dog.heartbeat();
        hb.event_at(t0);
        hb.step_at(t0);
        assert_eq!(
            dog.check(t0 + Duration::from_millis(60)),
            Some(Stall::Event(Duration::from_millis(60)))
        );
        let dog = Watchdog::new(cfg(0, 0), t0);
        dog.heartbeat().event_at(t0);
        assert_eq!(dog.check(t0 + Duration::from_secs(60)), None);
    }

    #[test]
    fn disabled_and_reenabled() {
        let t0 = Instant::now();
        let dog = Watchdog::new(cfg(100, 0), t0);
        dog.heartbeat().step_at(t0);
        dog.set_enabled(false, t0);
        assert_eq!(dog.check(t0 + Duration::from_secs(5)), None);
        dog.set_enabled(true, t0 + Duration::from_secs(5));
        assert_eq!(dog.check(t0 + Duration::from_millis(5050)), None);
        assert!(dog.check(t0 + Duration::from_millis(5200)).is_some());
    }
}
