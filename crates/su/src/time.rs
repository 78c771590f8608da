//! Injectable time: protocol state machines take `now` from a [`Clock`] so
//! that tests can drive every timer with a [`ManualClock`].

use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

/// A source of monotonic and wall-clock time.
pub trait Clock: Send + Sync {
    /// Monotonic time, for timers.
    fn now(&self) -> Instant;
    /// Wall-clock time, for `Date` headers, nonces and records.
    fn wall(&self) -> SystemTime;
}

/// The operating system's clocks.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
    fn wall(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// A clock that moves only when told to: both its monotonic and its wall time
/// advance by exactly what [`advance`](ManualClock::advance) is given.
#[derive(Debug)]
pub struct ManualClock {
    start: Instant,
    wall_start: SystemTime,
    elapsed: Mutex<Duration>,
}

impl ManualClock {
    /// A clock starting now, with the given wall time.
    pub fn new(wall_start: SystemTime) -> Self {
        ManualClock {
            start: Instant::now(),
            wall_start,
            elapsed: Mutex::new(Duration::ZERO),
        }
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        let mut elapsed = self.elapsed.lock().unwrap_or_else(|e| e.into_inner());
        *elapsed += by;
    }

    /// Time advanced since the clock was made.
    pub fn elapsed(&self) -> Duration {
        *self.elapsed.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        ManualClock::new(SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000))
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        self.start + self.elapsed()
    }
    fn wall(&self) -> SystemTime {
        self.wall_start + self.elapsed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_advanced() {
        let clock = ManualClock::default();
        let t0 = clock.now();
        let w0 = clock.wall();
        assert_eq!(clock.now(), t0);
        clock.advance(Duration::from_millis(500));
        assert_eq!(clock.now() - t0, Duration::from_millis(500));
        assert_eq!(
            clock.wall().duration_since(w0).unwrap(),
            Duration::from_millis(500)
        );
    }

    #[test]
    fn system_clock_is_monotonic() {
        let clock = SystemClock;
        let a = clock.now();
        let b = clock.now();
        assert!(b >= a);
    }
}
