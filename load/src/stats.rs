//! What a run measured: responses, errors by kind, latencies (an HDR
//! histogram per core, merged at the end), and the summary printed and
//! written as JSON.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

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

/// One core's (or, merged, the whole run's) counts.
#[derive(Debug, Clone)]
pub struct Stats {
    /// Responses received, any status.
    pub responses: u64,
    /// Errors, by [`ErrorKind`] in `ErrorKind::ALL` order.
    pub errors: [u64; 5],
    /// Response latencies, microseconds.
    pub latency: Histogram<u64>,
}

impl Default for Stats {
    fn default() -> Stats {
        Stats {
            responses: 0,
            errors: [0; 5],
            latency: Histogram::new_with_bounds(1, MAX_LATENCY_US, 3)
                .expect("valid histogram bounds"),
        }
    }
}

impl Stats {
    /// A response with `status` to a request sent at `started`, complete
    /// at `now`.
    pub fn response(&mut self, started: Instant, now: Instant, status: u16, live: &Live) {
        let us = now
            .saturating_duration_since(started)
            .as_micros()
            .clamp(1, MAX_LATENCY_US as u128) as u64;
        self.latency.saturating_record(us);
        self.responses += 1;
        live.responses.fetch_add(1, Ordering::Relaxed);
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
        live.errors.fetch_add(count, Ordering::Relaxed);
    }

    /// Adds `other`'s counts to these.
    pub fn merge(&mut self, other: &Stats) {
        self.responses += other.responses;
        for (a, b) in self.errors.iter_mut().zip(other.errors) {
            *a += b;
        }
        self.latency
            .add(&other.latency)
            .expect("histograms with the same bounds");
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

/// The run's result, as printed and as written to `--json`.
#[derive(Debug)]
pub struct Summary {
    /// Every core's stats, merged.
    pub stats: Stats,
    /// Wall-clock time of the run.
    pub elapsed: Duration,
}

impl Summary {
    /// Responses per second.
    pub fn rps(&self) -> f64 {
        self.stats.responses as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    fn percentile_ms(&self, q: f64) -> f64 {
        if self.stats.latency.is_empty() {
            return 0.0;
        }
        self.stats.latency.value_at_quantile(q) as f64 / 1000.0
    }

    fn max_ms(&self) -> f64 {
        if self.stats.latency.is_empty() {
            return 0.0;
        }
        self.stats.latency.max() as f64 / 1000.0
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
        let t = Instant::now();
        a.response(t, t, 200, &live);
        b.response(t, t + Duration::from_millis(2), 404, &live);
        b.error(ErrorKind::Connect, 3, &live);
        a.merge(&b);
        assert_eq!(a.responses, 2);
        assert_eq!(a.total_errors(), 4);
        assert_eq!(live.responses.load(Ordering::Relaxed), 2);
        let summary = Summary {
            stats: a,
            elapsed: Duration::from_secs(2),
        };
        assert_eq!(summary.rps(), 1.0);
        let text = summary.text();
        assert!(text.contains("connect 3, non2xx 1"), "{text}");
        let json = summary.json();
        assert_eq!(json["requests"], 2);
        assert_eq!(json["errors_by_kind"]["connect"], 3);
        assert!(json["latency_ms"]["p999"].is_number());
    }
}
