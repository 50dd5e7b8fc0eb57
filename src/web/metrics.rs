//! Request metrics: per-core counters on the request path, summed across
//! cores when scraped, served as Prometheus text.
//!
//! Design: each core's app (the server builds one per core) registers one
//! [`CoreCounters`] block, an `Arc` of atomics in a process-wide list.
//! Only that core's middleware writes it (the app is `!Send`, so its
//! middleware never leaves its thread), with a relaxed load and store
//! (no locked read-modify-write, no contention); each block is aligned to
//! 128 bytes, so cores never share a cache line. A scrape locks the list
//! (touched only at app build time and by scrapes), reads every block with
//! relaxed loads and sums. A scrape may see a request counted in one
//! family and not yet in another: counters only grow, which is all
//! Prometheus needs.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use http::header::{HeaderValue, CONTENT_TYPE};
use http::Version;
use percore_http::server::{ConnProtocol, CoreConnections};
use percore_runtime::time::coarse_now;

use super::dispatch::Outcome;
use super::{get, App, Plugin, Request, Response};

/// Upper bounds of the latency histogram's buckets, in seconds (+Inf last).
const BUCKETS: [f64; 16] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];
/// The same bounds in nanoseconds.
const BUCKETS_NS: [u64; 16] = [
    100_000,
    250_000,
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    100_000_000,
    250_000_000,
    500_000_000,
    1_000_000_000,
    2_500_000_000,
    5_000_000_000,
    10_000_000_000,
];
const PROTOCOLS: [&str; 3] = ["HTTP/1.0", "HTTP/1.1", "HTTP/2"];
const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// One core's counters. Written only by its own core.
#[repr(align(128))]
#[derive(Default)]
struct CoreCounters {
    /// By protocol, then the status code's first digit (a `StatusCode` is
    /// 100 to 999: index 0 stays unused, 6 to 9 are summed into `5xx` when
    /// scraped; indexing by the digit spares the request path a clamp).
    requests: [[AtomicU64; 10]; 3],
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    /// Non-cumulative: index i counts latencies in (bound i-1, bound i];
    /// the last one counts those above every bound.
    latency: [AtomicU64; 17],
    latency_sum_ns: AtomicU64,
}

/// Adds `n` to a counter that only the calling core writes: a plain load
/// and store, not a locked add.
#[inline]
fn bump(counter: &AtomicU64, n: u64) {
    counter.store(counter.load(Relaxed).wrapping_add(n), Relaxed);
}

/// The histogram bucket of a latency of `ns` nanoseconds: the first whose
/// bound is at or above it (`BUCKETS.len()` for +Inf).
#[inline]
fn bucket(ns: u64) -> usize {
    BUCKETS_NS.partition_point(|&bound| bound < ns)
}

impl CoreCounters {
    /// Counts one answer. `latency`: `None` when it is zero on the loop's
    /// clock (ready at once, or in the turn it first waited in: the first
    /// bucket, nothing to add to the sum), else its nanoseconds.
    #[inline]
    fn record(&self, arrival: &Arrival, status: u16, bytes_out: u64, latency: Option<u64>) {
        let row = &self.requests[usize::from(arrival.protocol)];
        bump(&row[usize::from(status / 100).min(9)], 1);
        bump(&self.bytes_in, arrival.bytes_in);
        bump(&self.bytes_out, bytes_out);
        match latency {
            None => bump(&self.latency[0], 1),
            Some(ns) => {
                bump(&self.latency[bucket(ns)], 1);
                bump(&self.latency_sum_ns, ns);
            }
        }
    }
}

/// Sums across cores.
#[derive(Default)]
struct Totals {
    requests: [[u64; 5]; 3],
    bytes_in: u64,
    bytes_out: u64,
    latency: [u64; 17],
    latency_sum_ns: u64,
    /// Open connections by protocol, in [`ConnProtocol::ALL`]'s order.
    open: [usize; 4],
}

/// What every core registered: its request counters, and the block in
/// which the server's connection guards count that core's open
/// connections (once per core, however many apps it builds).
#[derive(Default)]
struct Registry {
    counters: Vec<Arc<CoreCounters>>,
    connections: Vec<Arc<CoreConnections>>,
}

/// Request metrics for every core, served at `/metrics` in the Prometheus
/// text format. Make it once, outside the server's factory, and install a
/// clone on each core's app; every core then counts in its own block and
/// a scrape on any core sums them all.
///
/// Families: `percore_requests_total{protocol,status}` (status class
/// `1xx`..`5xx`; protocol `HTTP/1.0`, `HTTP/1.1`, `HTTP/2`),
/// `percore_request_body_bytes_total` and `percore_response_body_bytes_total`
/// (bodies of known length: a `Content-Length`, a body in memory or a file;
/// streams of unknown length are not counted), `percore_handler_duration_seconds`
/// (histogram, on the event loop's clock: from the start of the loop turn
/// in which the app's answer first had to wait — the turn the request
/// arrived in, as the servers poll the answer at once — to the start of
/// the turn in which the answer's head was ready, both as [`coarse_now`]
/// reads them; so its precision is a turn: an answer ready in the turn
/// its request came in counts as zero, in the first bucket, and one that
/// waited for a timer or I/O counts from turn to turn, the wait behind
/// other work of the first turn included), `percore_open_connections{protocol}` (a gauge: `HTTP/1.1`
/// — HTTP/1.0 connections and those not yet past protocol detection
/// included —, `HTTP/2`, `WebSocket`, `other`; the same spelling as the
/// requests' label; counted by the server's connection guards on every
/// core whose app installs the plugin, at no cost per request) and
/// `percore_metrics_cores` (cores reporting).
///
/// It counts around the app's whole dispatch, every middleware included,
/// wherever it is installed (on an app [`nest`](App::nest)ed in another,
/// it counts every request of the outer app), at no middleware's cost: no
/// clock read (both ends are loop turns' own readings) and a few
/// additions per request.
///
/// ```
/// use percore::web::{App, Metrics, Request, get};
/// let metrics = Metrics::new();
/// let factory = move || App::new()
///     .plugin(metrics.clone())
///     .route("/", get(|_r: Request| async { "hi" }));
/// percore::rt::Runtime::new().unwrap().block_on(async {
///     let app = factory();
///     app.oneshot(http::Request::get("/").body("").unwrap()).await;
///     let scrape = app.oneshot(http::Request::get("/metrics").body("").unwrap()).await;
///     let text = scrape.into_body().collect().await.unwrap();
///     let text = std::str::from_utf8(&text).unwrap();
///     assert!(text.contains("percore_requests_total{protocol=\"HTTP/1.1\",status=\"2xx\"} 1"));
/// });
/// ```
#[derive(Clone)]
pub struct Metrics {
    cores: Arc<Mutex<Registry>>,
    path: &'static str,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// Metrics served at `/metrics`.
    pub fn new() -> Metrics {
        Metrics {
            cores: Arc::default(),
            path: "/metrics",
        }
    }

    /// Serves them at `path` instead.
    pub fn path(mut self, path: &'static str) -> Metrics {
        self.path = path;
        self
    }

    /// The Prometheus text of every core's counters, summed.
    pub fn render(&self) -> String {
        let (totals, cores) = self.gather();
        render(&totals, cores)
    }

    fn gather(&self) -> (Totals, usize) {
        let registry = self.cores.lock().unwrap_or_else(|e| e.into_inner());
        let mut t = Totals::default();
        for core in &registry.connections {
            for (i, p) in ConnProtocol::ALL.iter().enumerate() {
                t.open[i] += core.open(*p);
            }
        }
        let cores = &registry.counters;
        for c in cores.iter() {
            for (p, row) in c.requests.iter().enumerate() {
                for (digit, n) in row.iter().enumerate().skip(1) {
                    t.requests[p][digit.min(5) - 1] += n.load(Relaxed);
                }
            }
            t.bytes_in += c.bytes_in.load(Relaxed);
            t.bytes_out += c.bytes_out.load(Relaxed);
            for (i, n) in c.latency.iter().enumerate() {
                t.latency[i] += n.load(Relaxed);
            }
            t.latency_sum_ns += c.latency_sum_ns.load(Relaxed);
        }
        (t, cores.len())
    }

    /// A new block for the core building an app now; that core's
    /// connection counts join the sums (once).
    fn register(&self) -> Arc<CoreCounters> {
        let block = Arc::new(CoreCounters::default());
        let connections = CoreConnections::this_core();
        let mut registry = self.cores.lock().unwrap_or_else(|e| e.into_inner());
        registry.counters.push(block.clone());
        if !registry
            .connections
            .iter()
            .any(|c| Arc::ptr_eq(c, &connections))
        {
            registry.connections.push(connections);
        }
        block
    }
}

impl Plugin for Metrics {
    fn install(self, app: App) -> App {
        let recorder = Recorder {
            counters: self.register(),
        };
        let path = self.path;
        app.recorder(recorder).route(
            path,
            get(move |_req: Request| {
                let text = self.render();
                async move {
                    let mut resp = Response::new(text.into());
                    resp.headers_mut().insert(
                        CONTENT_TYPE,
                        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
                    );
                    resp
                }
            }),
        )
    }
}

/// Counts every request of one core's app: [`App`] calls it around the
/// whole dispatch (every middleware included) without a middleware's
/// boxed future, and without a clock read: the latency is measured on the
/// event loop's own clock readings, one per turn ([`coarse_now`]).
pub(crate) struct Recorder {
    counters: Arc<CoreCounters>,
}

/// What [`Recorder::start`] noted about a request.
pub(crate) struct Arrival {
    /// The loop turn's reading when the app's answer first had to wait;
    /// `None` while it has not (see [`Arrival::waits`]).
    waited_since: Option<Instant>,
    bytes_in: u64,
    /// Row of [`PROTOCOLS`].
    protocol: u8,
}

impl Arrival {
    /// Notes that the app's answer has to wait (its future returned
    /// `Pending`): its latency starts at this turn's reading, the turn
    /// the request arrived in when the server polls the answer at once,
    /// as both servers do. An answer ready at its first poll never reads
    /// the turn's clock at all: it counts as zero.
    #[inline]
    pub(crate) fn waits(&mut self) {
        if self.waited_since.is_none() {
            self.waited_since = Some(coarse_now());
        }
    }
}

impl Recorder {
    /// Notes the request's arrival.
    #[inline]
    pub(crate) fn start(&self, req: &super::Request) -> Arrival {
        let bytes_in = match req.body_ref().size_hint() {
            Some(n) => n,
            None => req
                .header("content-length")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0),
        };
        let protocol = match req.version() {
            Version::HTTP_2 => 2,
            Version::HTTP_10 | Version::HTTP_09 => 0,
            _ => 1,
        };
        Arrival {
            waited_since: None,
            bytes_in,
            protocol,
        }
    }

    /// Counts the answer. The latency is the turn's reading now minus the
    /// turn's reading when the answer first waited: zero (the first
    /// bucket) for an answer ready at once or in the turn it first waited
    /// in, with no clock arithmetic; otherwise the difference, in
    /// nanoseconds (precision: a turn at either end).
    #[inline]
    pub(crate) fn finish(&self, started: Arrival, answer: Outcome<'_>) {
        let latency = started.waited_since.and_then(|at| {
            let now = coarse_now();
            (now != at).then(|| {
                let took = now.saturating_duration_since(at);
                // u64 nanoseconds last 584 years: saturating if it ever did not.
                took.as_secs()
                    .saturating_mul(1_000_000_000)
                    .saturating_add(u64::from(took.subsec_nanos()))
            })
        });
        self.counters.record(
            &started,
            answer.status.as_u16(),
            answer.body_len.unwrap_or(0),
            latency,
        );
    }
}

fn render(t: &Totals, cores: usize) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(4096);
    out.push_str(
        "# HELP percore_requests_total Requests answered, by protocol and status class.\n\
         # TYPE percore_requests_total counter\n",
    );
    for (p, protocol) in PROTOCOLS.iter().enumerate() {
        for (s, class) in CLASSES.iter().enumerate() {
            let _ = writeln!(
                out,
                "percore_requests_total{{protocol=\"{protocol}\",status=\"{class}\"}} {}",
                t.requests[p][s]
            );
        }
    }
    let _ = write!(
        out,
        "# HELP percore_request_body_bytes_total Request body bytes of known length.\n\
         # TYPE percore_request_body_bytes_total counter\n\
         percore_request_body_bytes_total {}\n\
         # HELP percore_response_body_bytes_total Response body bytes of known length.\n\
         # TYPE percore_response_body_bytes_total counter\n\
         percore_response_body_bytes_total {}\n",
        t.bytes_in, t.bytes_out
    );
    out.push_str(
        "# HELP percore_handler_duration_seconds Time until the answer's head was ready.\n\
         # TYPE percore_handler_duration_seconds histogram\n",
    );
    let mut cumulative = 0;
    for (i, bound) in BUCKETS.iter().enumerate() {
        cumulative += t.latency[i];
        let _ = writeln!(
            out,
            "percore_handler_duration_seconds_bucket{{le=\"{bound}\"}} {cumulative}"
        );
    }
    cumulative += t.latency[BUCKETS.len()];
    let _ = write!(
        out,
        "percore_handler_duration_seconds_bucket{{le=\"+Inf\"}} {cumulative}\n\
         percore_handler_duration_seconds_sum {}\n\
         percore_handler_duration_seconds_count {cumulative}\n\
         # HELP percore_open_connections Connections open now, by protocol.\n\
         # TYPE percore_open_connections gauge\n",
        t.latency_sum_ns as f64 / 1e9
    );
    for (i, protocol) in ConnProtocol::ALL.iter().enumerate() {
        let _ = writeln!(
            out,
            "percore_open_connections{{protocol=\"{}\"}} {}",
            protocol.label(),
            t.open[i]
        );
    }
    let _ = write!(
        out,
        "# HELP percore_metrics_cores Cores reporting metrics.\n\
         # TYPE percore_metrics_cores gauge\n\
         percore_metrics_cores {cores}\n"
    );
    out
}

#[cfg(test)]
mod tests {
    use super::{bucket, BUCKETS, BUCKETS_NS};

    #[test]
    fn bucket_bounds_are_inclusive_above() {
        assert_eq!(bucket(0), 0);
        assert_eq!(bucket(100_000), 0);
        assert_eq!(bucket(100_001), 1);
        // 50 ms is the 0.05 bucket; a handler sleeping 50 ms takes a bit more.
        assert_eq!(BUCKETS[bucket(50_000_000)], 0.05);
        assert_eq!(BUCKETS[bucket(50_000_001)], 0.1);
        assert_eq!(BUCKETS[bucket(99_999_999)], 0.1);
        assert_eq!(bucket(10_000_000_000), BUCKETS.len() - 1);
        assert_eq!(bucket(10_000_000_001), BUCKETS.len());
        assert_eq!(bucket(u64::MAX), BUCKETS.len());
        for (i, (&s, &ns)) in BUCKETS.iter().zip(&BUCKETS_NS).enumerate() {
            assert_eq!((s * 1e9).round() as u64, ns, "bound {i}");
            assert_eq!(bucket(ns), i);
            assert_eq!(bucket(ns + 1), i + 1);
        }
    }
}
