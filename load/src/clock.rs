//! The clock of latencies and response waits: `CLOCK_MONOTONIC` (the
//! clock of `Instant`) read as nanoseconds in a `u64`, so that a latency
//! is a subtraction and a division by a constant (with `Instant`, the
//! difference and its microseconds cost ~45 instructions per response,
//! ~3 % of percore-load's own work per keep-alive request).

use std::time::Duration;

/// A point on `CLOCK_MONOTONIC`, in nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Tick(u64);

impl Tick {
    /// Now.
    #[inline]
    pub fn now() -> Tick {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: clock_gettime writes one timespec through the pointer,
        // which points to one; CLOCK_MONOTONIC always exists on Linux.
        unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
        Tick(ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64)
    }

    /// Whole microseconds from `earlier` to this tick (0 if `earlier` is
    /// later).
    #[inline]
    pub fn micros_since(self, earlier: Tick) -> u64 {
        self.0.saturating_sub(earlier.0) / 1_000
    }

    /// The time from `earlier` to this tick (zero if `earlier` is later).
    pub fn since(self, earlier: Tick) -> Duration {
        Duration::from_nanos(self.0.saturating_sub(earlier.0))
    }

    /// `d` after this tick.
    #[cfg(test)]
    pub fn after(self, d: Duration) -> Tick {
        Tick(self.0 + d.as_nanos() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn ticks_follow_the_monotonic_clock() {
        let (i0, t0) = (Instant::now(), Tick::now());
        std::thread::sleep(Duration::from_millis(20));
        let (t1, i1) = (Tick::now(), Instant::now());
        assert!(t1 > t0);
        // The same clock as Instant: the tick's span lies within the
        // instants' (read around it).
        assert!(t1.since(t0) <= i1 - i0, "{:?} {:?}", t1.since(t0), i1 - i0);
        assert!(t1.since(t0) >= Duration::from_millis(20));
        assert_eq!(t0.since(t1), Duration::ZERO);
        assert_eq!(t0.micros_since(t1), 0);
        let later = t0.after(Duration::from_micros(1_500));
        assert_eq!(later.micros_since(t0), 1_500);
        assert_eq!(later.since(t0), Duration::from_micros(1_500));
    }
}
