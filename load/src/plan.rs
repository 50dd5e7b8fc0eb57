//! What every connection shares: the run's [`Plan`] (pre-encoded
//! requests, limits), its [`Budget`] (how many requests are left, until
//! when), and per core the [`Core`] that connections record into.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, Method};
use percore_http::h1::{encode_request_head, RequestFraming};
use percore_http::Limits;
use percore_runtime::sync::Shutdown;

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
        let h1_batch = Bytes::from(one.repeat(depth));
        let mut h2_request = http::Request::new(());
        *h2_request.method_mut() = method.clone();
        *h2_request.uri_mut() = format!("http://{}{}", target.authority, target.path)
            .parse()
            .unwrap_or_default();
        *h2_request.headers_mut() = headers;
        Plan {
            target,
            protocol,
            method,
            h1_batch,
            h1_len,
            h2_request,
            body,
            ws_payload,
            timeout,
            limits: Limits::default(),
            budget,
        }
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

    /// Claims up to `want` requests; returns how many may be sent (0: the
    /// run is over).
    pub fn claim(&self, want: u64) -> u64 {
        if want == 0 || self.is_over() {
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

    /// Whether the deadline passed or the run was stopped.
    pub fn is_over(&self) -> bool {
        self.stop.is_triggered() || self.deadline.is_some_and(|d| Instant::now() >= d)
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
}

impl Core {
    /// A response with `status` to a request sent at `started`.
    pub fn response(&self, started: Instant, status: u16) {
        self.stats
            .borrow_mut()
            .response(started, status, &self.live);
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
        let b = Budget::new(
            None,
            Some(Instant::now() + Duration::from_secs(60)),
            stop.clone(),
        );
        assert_eq!(b.claim(3), 3);
        stop.trigger();
        assert_eq!(b.claim(3), 0);
        let past = Budget::new(None, Some(Instant::now()), Shutdown::new());
        assert_eq!(past.claim(1), 0);
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
