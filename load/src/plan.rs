//! What every connection shares: the run's [`Plan`] (pre-encoded
//! requests, limits), its [`Budget`] (how many requests are left, until
//! when), and per core the [`Core`] that connections record into.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, Method};
use percore_http::h1::{encode_request_head, RequestFraming};
use percore_http::h2::conn::PreparedRequest;
use percore_http::Limits;
use percore_runtime::sync::Shutdown;
use percore_tls::TlsConnector;

use crate::clock::Tick;
use crate::io::Watch;
use crate::stats::{ErrorKind, Live, Stats};
use crate::target::Target;

/// Which protocol the connections speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// HTTP/1.1, `depth` requests written at once (1: no pipelining).
    H1 { depth: usize },
    /// HTTP/2 with prior knowledge, `streams` open per connection.
    H2 { streams: usize },
    /// WebSocket echo round trips.
    Ws,
}

/// The request every HTTP connection sends.
#[derive(Debug, Clone)]
pub struct RequestSpec {
    /// `-X`.
    pub method: Method,
    /// `-H`, in order.
    pub headers: HeaderMap,
    /// `-b`.
    pub body: Option<Bytes>,
}

/// The run, fixed before it starts and shared by every core.
#[derive(Debug)]
pub struct Plan {
    /// Where to connect.
    pub target: Target,
    /// HTTP/1.1, HTTP/2 or WebSocket.
    pub protocol: Protocol,
    /// The request method (HEAD responses have no body).
    pub method: Method,
    /// HTTP/1.1: the encoded request (head and body) `depth` times over.
    pub h1_batch: Bytes,
    /// HTTP/1.1: the length of one encoded request in `h1_batch`.
    pub h1_len: usize,
    /// HTTP/2: the request head (sent with `body`, if any).
    pub h2_request: http::Request<()>,
    /// HTTP/2: that head encoded once (`None` if it cannot be: it is then
    /// sent with `send_request`, which reports why).
    pub h2_prepared: Option<PreparedRequest>,
    /// The request body.
    pub body: Option<Bytes>,
    /// WebSocket: the payload of each message.
    pub ws_payload: Bytes,
    /// How long to wait for a connection or a response.
    pub timeout: Duration,
    /// Parser limits for responses.
    pub limits: Limits,
    /// Requests left and the deadline.
    pub budget: Budget,
    /// For a TLS target: the connector (see [`Plan::with_tls`]).
    pub tls: Option<TlsConnector>,
}

impl Plan {
    /// Encodes the requests once, for every connection of the run.
    pub fn new(
        target: Target,
        protocol: Protocol,
        request: RequestSpec,
        ws_payload: Bytes,
        timeout: Duration,
        budget: Budget,
    ) -> Plan {
        let RequestSpec {
            method,
            headers,
            body,
        } = request;
        let framing = match &body {
            Some(b) => RequestFraming::Length(b.len() as u64),
            None => RequestFraming::Empty,
        };
        let mut one = BytesMut::new();
        encode_request_head(
            &mut one,
            &method,
            &target.path,
            &target.authority,
            &headers,
            framing,
        );
        if let Some(b) = &body {
            one.extend_from_slice(b);
        }
        let depth = match protocol {
            Protocol::H1 { depth } => depth,
            _ => 1,
        };
        let h1_len = one.len();
        // Leaked: a plan lives as long as the run (one per process), and a
        // `Bytes` of static memory is cloned and dropped with no reference
        // count (two atomic operations per request otherwise).
        let h1_batch = Bytes::from_static(Box::leak(one.repeat(depth).into_boxed_slice()));
        let mut h2_request = http::Request::new(());
        *h2_request.method_mut() = method.clone();
        let scheme = if target.tls { "https" } else { "http" };
        *h2_request.uri_mut() = format!("{scheme}://{}{}", target.authority, target.path)
            .parse()
            .unwrap_or_default();
        *h2_request.headers_mut() = headers;
        let h2_prepared = PreparedRequest::new(&h2_request).ok();
        Plan {
            target,
            protocol,
            method,
            h1_batch,
            h1_len,
            h2_request,
            h2_prepared,
            body,
            ws_payload,
            timeout,
            limits: Limits::default(),
            budget,
            tls: None,
        }
    }

    /// Connects with TLS through `connector` (for a TLS target).
    pub fn with_tls(mut self, connector: TlsConnector) -> Plan {
        self.tls = Some(connector);
        self
    }
}

/// How many requests may still start, and until when.
#[derive(Debug)]
pub struct Budget {
    limit: Option<u64>,
    claimed: AtomicU64,
    deadline: Option<Instant>,
    stop: Shutdown,
}

impl Budget {
    /// At most `limit` requests (if set), none after `deadline` (if set),
    /// none once `stop` is triggered (Ctrl-C).
    pub fn new(limit: Option<u64>, deadline: Option<Instant>, stop: Shutdown) -> Budget {
        Budget {
            limit,
            claimed: AtomicU64::new(0),
            deadline,
            stop,
        }
    }

    /// Claims up to `want` requests; returns how many may be sent (0: no
    /// more, or the run was stopped). The deadline is the watchdog's to
    /// watch (see [`Core::claim`]), so a claim reads no clock.
    pub fn claim(&self, want: u64) -> u64 {
        if want == 0 || self.stop.is_triggered() {
            return 0;
        }
        match self.limit {
            None => want,
            Some(limit) => {
                let before = self.claimed.fetch_add(want, Ordering::Relaxed);
                want.min(limit.saturating_sub(before))
            }
        }
    }

    /// Whether, at `now`, the deadline passed or the run was stopped.
    pub fn is_over_at(&self, now: Instant) -> bool {
        self.stop.is_triggered() || self.deadline.is_some_and(|d| now >= d)
    }

    /// The run's deadline, if it has one.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }
}

/// One core's share of the run: the plan, and what its connections
/// measured.
#[derive(Debug)]
pub struct Core {
    /// The run's plan.
    pub plan: Arc<Plan>,
    /// This core's counts (connections borrow it between awaits only).
    pub stats: RefCell<Stats>,
    /// This core's counters for the progress line.
    pub live: Arc<Live>,
    /// Set by the watchdog once the run is over.
    pub over: Cell<bool>,
    /// Every connection's watch, for the watchdog.
    pub watches: RefCell<Vec<Rc<Watch>>>,
}

impl Core {
    /// A core's share of `plan`, reporting to `live`.
    pub fn new(plan: Arc<Plan>, live: Arc<Live>) -> Core {
        Core {
            plan,
            stats: Default::default(),
            live,
            over: Cell::new(false),
            watches: RefCell::default(),
        }
    }

    /// A new connection's watch, registered with the watchdog.
    pub fn watch(&self) -> Rc<Watch> {
        let watch = Rc::new(Watch::default());
        self.watches.borrow_mut().push(watch.clone());
        watch
    }

    /// Claims up to `want` requests from the run's budget (0 once the run
    /// is over).
    pub fn claim(&self, want: u64) -> u64 {
        if self.over.get() {
            return 0;
        }
        self.plan.budget.claim(want)
    }

    /// Whether the run is over for this core.
    pub fn is_over(&self) -> bool {
        self.over.get() || self.plan.budget.stop.is_triggered()
    }

    /// A response with `status` to a request sent at `started`, complete
    /// at `now`.
    pub fn response(&self, started: Tick, now: Tick, status: u16) {
        self.stats
            .borrow_mut()
            .response(started, now, status, &self.live);
    }

    /// `count` requests failed with `kind`.
    pub fn error(&self, kind: ErrorKind, count: u64) {
        self.stats.borrow_mut().error(kind, count, &self.live);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_grants_exactly_the_limit() {
        let b = Budget::new(Some(10), None, Shutdown::new());
        assert_eq!(b.claim(4), 4);
        assert_eq!(b.claim(4), 4);
        assert_eq!(b.claim(4), 2);
        assert_eq!(b.claim(1), 0);
    }

    #[test]
    fn budget_stops_at_deadline_and_on_stop() {
        let stop = Shutdown::new();
        let now = Instant::now();
        let b = Budget::new(None, Some(now + Duration::from_secs(60)), stop.clone());
        assert_eq!(b.claim(3), 3);
        assert!(!b.is_over_at(now));
        assert!(b.is_over_at(now + Duration::from_secs(60)));
        stop.trigger();
        assert_eq!(b.claim(3), 0);
        assert!(b.is_over_at(now));
    }

    #[test]
    fn h1_batch_repeats_the_request() {
        let target = Target::parse("http://127.0.0.1:1/p", false).unwrap();
        let plan = Plan::new(
            target,
            Protocol::H1 { depth: 3 },
            RequestSpec {
                method: Method::POST,
                headers: HeaderMap::new(),
                body: Some(Bytes::from_static(b"xy")),
            },
            Bytes::new(),
            Duration::from_secs(1),
            Budget::new(None, None, Shutdown::new()),
        );
        let one = &plan.h1_batch[..plan.h1_len];
        assert!(one.starts_with(b"POST /p HTTP/1.1\r\nhost: 127.0.0.1:1\r\n"));
        assert!(one.ends_with(b"content-length: 2\r\n\r\nxy"));
        assert_eq!(plan.h1_batch.len(), 3 * plan.h1_len);
        assert_eq!(plan.h2_request.uri(), "http://127.0.0.1:1/p");
    }
}
