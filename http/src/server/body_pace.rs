//! The slow-body rule both drivers apply to request bodies: a client may not
//! keep a handler waiting for body data longer than `body_read_timeout` at a
//! time, and once the waits add up past it, must have sent `min_body_rate`
//! bytes of data per second of waiting. Only time the handler spent waiting
//! counts (its own work between reads does not), and only data counts
//! (chunked framing sent in its place does not).

use std::time::{Duration, Instant};

use crate::Limits;

/// How a request body has kept its handler waiting so far. The drivers
/// call [`wait`](Self::wait) when the handler has to wait for data and
/// [`stop_waiting`](Self::stop_waiting) when the wait ends.
#[derive(Debug, Default)]
pub(crate) struct BodyPace {
    /// Waits that ended.
    waited: Duration,
    /// When the wait now in progress began.
    wait_started: Option<Instant>,
    /// Data bytes received.
    received: u64,
}

impl BodyPace {
    /// Counts `n` data bytes.
    pub(crate) fn received(&mut self, n: usize) {
        self.received += n as u64;
    }

    /// Data bytes received so far.
    pub(crate) fn data_received(&self) -> u64 {
        self.received
    }

    /// The handler starts (or goes on) waiting for data at `now`; returns
    /// when the wait becomes too long, `None` if never. A deadline not after
    /// `now` means the client is too slow already.
    pub(crate) fn wait(&mut self, limits: &Limits, now: Instant) -> Option<Instant> {
        let started = *self.wait_started.get_or_insert(now);
        let allowed_in_all = match limits.min_body_rate {
            0 => Duration::MAX,
            rate => limits
                .body_read_timeout
                .max(Duration::from_secs_f64(self.received as f64 / rate as f64)),
        };
        let allowed_now = allowed_in_all
            .saturating_sub(self.waited)
            .min(limits.body_read_timeout);
        started.checked_add(allowed_now)
    }

    /// The wait ended (data came, or the body ended or failed).
    pub(crate) fn stop_waiting(&mut self) {
        if let Some(started) = self.wait_started.take() {
            self.waited += started.elapsed();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(timeout_ms: u64, rate: u64) -> Limits {
        Limits {
            body_read_timeout: Duration::from_millis(timeout_ms),
            min_body_rate: rate,
            ..Limits::default()
        }
    }

    #[test]
    fn one_wait_is_bounded_by_the_read_timeout() {
        let l = limits(500, 1000);
        let mut pace = BodyPace::default();
        let before = Instant::now();
        let deadline = pace.wait(&l, Instant::now()).unwrap();
        let after = Instant::now();
        assert!(deadline - before >= Duration::from_millis(500));
        assert!(deadline - after <= Duration::from_millis(500));
        // The same wait, asked again, keeps its deadline.
        assert_eq!(pace.wait(&l, Instant::now()), Some(deadline));
    }

    #[test]
    fn data_buys_waiting_time_at_the_minimum_rate() {
        let l = limits(500, 1000);
        let mut pace = BodyPace {
            waited: Duration::from_secs(2),
            ..BodyPace::default()
        };
        // 2 s waited and nothing received: over the budget, due at once.
        assert!(pace.wait(&l, Instant::now()).unwrap() <= Instant::now());
        pace.stop_waiting();
        // 2 500 bytes pay for 2.5 s of waiting in all: 0.5 s are left
        // (less the instant the first wait lasted).
        pace.received(2500);
        let before = Instant::now();
        let deadline = pace.wait(&l, Instant::now()).unwrap();
        let after = Instant::now();
        assert!(deadline - before >= Duration::from_millis(490));
        assert!(deadline - after <= Duration::from_millis(500));
    }

    #[test]
    fn no_minimum_rate_leaves_only_the_read_timeout() {
        let l = limits(500, 0);
        let mut pace = BodyPace {
            waited: Duration::from_secs(3600),
            ..BodyPace::default()
        };
        let before = Instant::now();
        let deadline = pace.wait(&l, Instant::now()).unwrap();
        assert!(deadline - before >= Duration::from_millis(500));
    }
}
