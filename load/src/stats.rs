//! What a run measured: responses, errors by kind, latencies (an HDR
//! histogram per core, merged at the end), and the summary printed and
//! written as JSON.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hdrhistogram::Histogram;

use crate::clock::Tick;

/// Why a request failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The TCP connection (or the WebSocket handshake's socket) failed.
    Connect,
    /// No response within `--timeout`.
    Timeout,
    /// A malformed response, an HTTP/2 error or reset, a refused upgrade.
    Protocol,
    /// A read or write failed, or the server closed the connection.
    Io,
    /// A response whose status is not 2xx (also counted as a response).
    Non2xx,
}

impl ErrorKind {
    const ALL: [ErrorKind; 5] = [
        ErrorKind::Connect,
        ErrorKind::Timeout,
        ErrorKind::Protocol,
        ErrorKind::Io,
        ErrorKind::Non2xx,
    ];

    /// The name in the report and the JSON.
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::Connect => "connect",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Protocol => "protocol",
            ErrorKind::Io => "io",
            ErrorKind::Non2xx => "non2xx",
        }
    }
}

/// Latencies are recorded in microseconds, from 1 µs to an hour.
const MAX_LATENCY_US: u64 = 3_600_000_000;

/// Latencies under this many microseconds are counted in a flat array
/// (one increment; the histogram's record is ~60 instructions, a third of
/// percore-load's own work per keep-alive request).
const FLAT_US: usize = 4096;

/// Response latencies in microseconds: a count per microsecond below
/// [`FLAT_US`], an HDR histogram (3 significant digits) above, folded into
/// one histogram at the end. The result is the histogram that recording
/// every latency into it would have made: a value's bucket depends on the
/// value alone.
#[derive(Debug, Clone)]
pub struct Latencies {
    flat: Box<[u64]>,
    above: Histogram<u64>,
}

impl Default for Latencies {
    fn default() -> Latencies {
        Latencies {
            flat: vec![0; FLAT_US].into_boxed_slice(),
            above: empty_histogram(),
        }
    }
}

impl Latencies {
    /// Counts one latency of `us` microseconds (clamped to 1 µs..1 h).
    #[inline]
    pub fn record(&mut self, us: u64) {
        let us = us.clamp(1, MAX_LATENCY_US);
        match self.flat.get_mut(us as usize) {
            Some(count) => *count += 1,
            None => self.above.saturating_record(us),
        }
    }

    /// Adds `other`'s latencies to these.
    pub fn merge(&mut self, other: &Latencies) {
        for (a, b) in self.flat.iter_mut().zip(other.flat.iter()) {
            *a += b;
        }
        self.above
            .add(&other.above)
            .expect("histograms with the same bounds");
    }

    /// Every latency counted, as one histogram.
    pub fn histogram(&self) -> Histogram<u64> {
        let mut all = self.above.clone();
        for (us, &count) in self.flat.iter().enumerate() {
            if count > 0 {
                all.saturating_record_n(us as u64, count);
            }
        }
        all
    }
}

/// An empty latency histogram: 1 µs to an hour, 3 significant digits.
fn empty_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_LATENCY_US, 3).expect("valid histogram bounds")
}

/// One core's (or, merged, the whole run's) counts.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    /// Responses received, any status.
    pub responses: u64,
    /// Errors, by [`ErrorKind`] in `ErrorKind::ALL` order.
    pub errors: [u64; 5],
    /// Response latencies.
    pub latency: Latencies,
}

impl Stats {
    /// A response with `status` to a request sent at `started`, complete
    /// at `now`.
    pub fn response(&mut self, started: Tick, now: Tick, status: u16, live: &Live) {
        self.latency.record(now.micros_since(started));
        self.responses += 1;
        live.add_responses(1);
        if !(200..300).contains(&status) {
            self.error(ErrorKind::Non2xx, 1, live);
        }
    }

    /// `count` requests failed with `kind`.
    pub fn error(&mut self, kind: ErrorKind, count: u64, live: &Live) {
        if count == 0 {
            return;
        }
        self.errors[kind as usize] += count;
        live.add_errors(count);
    }

    /// Adds `other`'s counts to these.
    pub fn merge(&mut self, other: &Stats) {
        self.responses += other.responses;
        for (a, b) in self.errors.iter_mut().zip(other.errors) {
            *a += b;
        }
        self.latency.merge(&other.latency);
    }

    /// Errors of every kind.
    pub fn total_errors(&self) -> u64 {
        self.errors.iter().sum()
    }
}

/// Counters the progress line reads while the run goes on (one set per
/// core, so that cores do not share a cache line).
#[derive(Debug, Default)]
#[repr(align(128))]
pub struct Live {
    /// Responses so far.
    pub responses: AtomicU64,
    /// Errors so far.
    pub errors: AtomicU64,
}

impl Live {
    /// Counts `n` responses. Only the core's thread writes its counters:
    /// a load and a store, no locked read-modify-write per response.
    #[inline]
    pub fn add_responses(&self, n: u64) {
        bump(&self.responses, n);
    }

    /// Counts `n` errors (as [`add_responses`](Self::add_responses)).
    #[inline]
    pub fn add_errors(&self, n: u64) {
        bump(&self.errors, n);
    }
}

/// Adds `n` to a counter that one thread writes and others only read.
#[inline]
fn bump(counter: &AtomicU64, n: u64) {
    counter.store(counter.load(Ordering::Relaxed) + n, Ordering::Relaxed);
}

/// The run's result, as printed and as written to `--json`.
#[derive(Debug)]
pub struct Summary {
    /// Every core's stats, merged.
    pub stats: Stats,
    /// Every latency, as one histogram.
    latency: Histogram<u64>,
    /// Wall-clock time of the run.
    pub elapsed: Duration,
}

impl Summary {
    /// The summary of `stats`, merged over the cores, for a run of `elapsed`.
    pub fn new(stats: Stats, elapsed: Duration) -> Summary {
        Summary {
            latency: stats.latency.histogram(),
            stats,
            elapsed,
        }
    }

    /// Responses per second.
    pub fn rps(&self) -> f64 {
        self.stats.responses as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    fn percentile_ms(&self, q: f64) -> f64 {
        if self.latency.is_empty() {
            return 0.0;
        }
        self.latency.value_at_quantile(q) as f64 / 1000.0
    }

    fn max_ms(&self) -> f64 {
        if self.latency.is_empty() {
            return 0.0;
        }
        self.latency.max() as f64 / 1000.0
    }

    /// The human-readable report.
    pub fn text(&self) -> String {
        let s = &self.stats;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{} requests in {:.2}s, {} errors",
            s.responses,
            self.elapsed.as_secs_f64(),
            s.total_errors()
        );
        if s.total_errors() > 0 {
            let kinds: Vec<String> = ErrorKind::ALL
                .iter()
                .filter(|k| s.errors[**k as usize] > 0)
                .map(|k| format!("{} {}", k.name(), s.errors[*k as usize]))
                .collect();
            let _ = writeln!(out, "errors: {}", kinds.join(", "));
        }
        let _ = writeln!(out, "requests/s: {:.2}", self.rps());
        let _ = writeln!(
            out,
            "latency ms: p50 {:.3}  p90 {:.3}  p99 {:.3}  p99.9 {:.3}  max {:.3}",
            self.percentile_ms(0.5),
            self.percentile_ms(0.9),
            self.percentile_ms(0.99),
            self.percentile_ms(0.999),
            self.max_ms()
        );
        out
    }

    /// The `--json` document: requests, errors (total and by kind),
    /// duration_s, rps, latency_ms {p50, p90, p99, p999, max}.
    pub fn json(&self) -> serde_json::Value {
        let s = &self.stats;
        let mut kinds = serde_json::Map::new();
        for k in ErrorKind::ALL {
            kinds.insert(k.name().into(), s.errors[k as usize].into());
        }
        serde_json::json!({
            "requests": s.responses,
            "errors": s.total_errors(),
            "errors_by_kind": kinds,
            "duration_s": self.elapsed.as_secs_f64(),
            "rps": self.rps(),
            "latency_ms": {
                "p50": self.percentile_ms(0.5),
                "p90": self.percentile_ms(0.9),
                "p99": self.percentile_ms(0.99),
                "p999": self.percentile_ms(0.999),
                "max": self.max_ms(),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_merge_and_report() {
        let live = Live::default();
        let mut a = Stats::default();
        let mut b = Stats::default();
        let t = Tick::now();
        a.response(t, t, 200, &live);
        b.response(t, t.after(Duration::from_millis(2)), 404, &live);
        b.error(ErrorKind::Connect, 3, &live);
        a.merge(&b);
        assert_eq!(a.responses, 2);
        assert_eq!(a.total_errors(), 4);
        assert_eq!(live.responses.load(Ordering::Relaxed), 2);
        let summary = Summary::new(a, Duration::from_secs(2));
        assert_eq!(summary.rps(), 1.0);
        let text = summary.text();
        assert!(text.contains("connect 3, non2xx 1"), "{text}");
        let json = summary.json();
        assert_eq!(json["requests"], 2);
        assert_eq!(json["errors_by_kind"]["connect"], 3);
        assert!(json["latency_ms"]["p999"].is_number());
    }

    #[test]
    fn flat_counts_fold_into_the_histogram_recording_would_make() {
        // Values under, at and over the flat array's end, repeated, and
        // the clamped ends: the folded histogram equals direct recording.
        let values = [
            1,
            2,
            999,
            2047,
            2048,
            2049,
            FLAT_US as u64 - 1,
            FLAT_US as u64,
            FLAT_US as u64 + 1,
            12_345,
            1_000_000,
            MAX_LATENCY_US,
        ];
        let mut direct = empty_histogram();
        let mut a = Latencies::default();
        let mut b = Latencies::default();
        for (i, &v) in values.iter().cycle().take(values.len() * 3).enumerate() {
            direct.saturating_record(v);
            if i % 2 == 0 {
                a.record(v)
            } else {
                b.record(v)
            }
        }
        a.merge(&b);
        let folded = a.histogram();
        assert_eq!(folded, direct);
        assert_eq!(folded.len(), values.len() as u64 * 3);
        assert_eq!(folded.max(), direct.max());
        assert_eq!(folded.min(), 1);
        // 0 and values past an hour are clamped, as before.
        let mut c = Latencies::default();
        c.record(0);
        c.record(u64::MAX);
        let h = c.histogram();
        assert_eq!(h.min(), 1);
        assert!(h.equivalent(h.max(), MAX_LATENCY_US));
    }

    #[test]
    fn live_counters_add_up() {
        let live = Live::default();
        live.add_responses(3);
        live.add_responses(2);
        live.add_errors(4);
        assert_eq!(live.responses.load(Ordering::Relaxed), 5);
        assert_eq!(live.errors.load(Ordering::Relaxed), 4);
    }
}
