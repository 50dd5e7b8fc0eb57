//! HTTP/1.1 server rules checked from raw sockets, on both drivers: draining
//! a body the handler did not read, `Expect: 100-continue` to a handler that
//! ignores the body, the keep-alive timeout, `Connection: close` from a
//! handler, connections whose idle worker was freed answering their next
//! request, graceful shutdown, the head and body limits at server level,
//! bodiless 204 and 304 answers, and the demo binary itself.

mod common;
use common::*;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use http::StatusCode;
use percore::http::Body;
use percore::web::{get, App, IntoResponse, Request, Response};
use percore::{DriverChoice, Limits};

/// How soon the server must close a connection it has decided to close.
const CLOSE_WITHIN: Duration = Duration::from_secs(2);

/// One response as it came off the wire.
#[derive(Debug)]
struct Resp {
    status: u16,
    /// Status line and fields, as sent.
    head: String,
    /// Field names lower-cased.
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn count(&self, name: &str) -> usize {
        self.headers.iter().filter(|(n, _)| n == name).count()
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A raw HTTP/1.1 client on one connection: it writes bytes and reads the
/// responses one by one, framed as RFC 9112 says (no body for 1xx, 204 and
/// 304, else Content-Length or chunked).
struct Client {
    s: TcpStream,
    buf: Vec<u8>,
}

impl Client {
    fn connect(addr: SocketAddr) -> Client {
        let s = TcpStream::connect(addr).unwrap();
        s.set_nodelay(true).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        Client { s, buf: Vec::new() }
    }

    fn send(&mut self, bytes: &[u8]) {
        self.s.write_all(bytes).unwrap();
    }

    fn request(&mut self, bytes: &[u8]) -> Resp {
        self.send(bytes);
        self.response()
    }

    /// Reads more bytes into the buffer; the connection must stay open.
    fn fill(&mut self) {
        let mut chunk = [0u8; 16 * 1024];
        match self.s.read(&mut chunk) {
            Ok(0) => panic!("closed mid-response; got {:?}", self.got()),
            Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
            Err(e) => panic!("{e} mid-response; got {:?}", self.got()),
        }
    }

    fn got(&self) -> String {
        String::from_utf8_lossy(&self.buf).into_owned()
    }

    fn take(&mut self, n: usize) -> Vec<u8> {
        while self.buf.len() < n {
            self.fill();
        }
        self.buf.drain(..n).collect()
    }

    /// Takes bytes up to and including the next `delim`.
    fn take_through(&mut self, delim: &[u8]) -> Vec<u8> {
        loop {
            if let Some(at) = self.buf.windows(delim.len()).position(|w| w == delim) {
                return self.take(at + delim.len());
            }
            self.fill();
        }
    }

    fn response(&mut self) -> Resp {
        let raw = self.take_through(b"\r\n\r\n");
        let head = String::from_utf8(raw).expect("response head is not UTF-8");
        assert!(
            head.starts_with("HTTP/1.1 "),
            "not a response head (bytes of a body before it?): {head:?}"
        );
        let mut lines = head.trim_end().split("\r\n");
        let status: u16 = lines.next().unwrap()[9..12].parse().unwrap();
        let headers: Vec<(String, String)> = lines
            .map(|l| {
                let (n, v) = l.split_once(':').expect(&head);
                (n.to_ascii_lowercase(), v.trim().to_string())
            })
            .collect();
        let mut resp = Resp {
            status,
            head,
            headers,
            body: Vec::new(),
        };
        if (100..200).contains(&status) || status == 204 || status == 304 {
            return resp;
        }
        if resp.header("transfer-encoding") == Some("chunked") {
            loop {
                let line = String::from_utf8(self.take_through(b"\r\n")).unwrap();
                let size = line.trim_end().split(';').next().unwrap();
                let size = usize::from_str_radix(size, 16).expect(&line);
                if size == 0 {
                    // Trailer fields, up to the empty line.
                    while self.take_through(b"\r\n") != b"\r\n" {}
                    return resp;
                }
                resp.body.extend(self.take(size));
                assert_eq!(self.take(2), b"\r\n", "chunk not ended by CRLF");
            }
        }
        let len = resp
            .header("content-length")
            .unwrap_or_else(|| panic!("neither chunked nor sized: {resp:?}"));
        resp.body = self.take(len.parse().unwrap());
        resp
    }

    /// The server closes within `within`, sending nothing more.
    fn expect_close(&mut self, within: Duration) {
        let mut rest = std::mem::take(&mut self.buf);
        rest.extend(read_to_eof(&mut self.s, within));
        assert!(
            rest.is_empty(),
            "bytes after the last response: {:?}",
            String::from_utf8_lossy(&rest)
        );
    }

    /// Nothing arrives and the connection stays open for `quiet`.
    fn expect_open(&mut self, quiet: Duration) {
        self.s.set_read_timeout(Some(quiet)).unwrap();
        let mut byte = [0u8; 1];
        match self.s.read(&mut byte) {
            Ok(0) => panic!("closed within {quiet:?}"),
            Ok(_) => panic!("unexpected bytes within {quiet:?}"),
            Err(e) => assert!(
                matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
                "{e} within {quiet:?}"
            ),
        }
        self.s
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
    }
}

/// `GET /plaintext` (a handler that never reads the body) carrying a body of
/// `len` bytes, with Content-Length or in 1 KiB chunks.
fn plaintext_with_body(len: usize, chunked: bool) -> Vec<u8> {
    let mut req = b"GET /plaintext HTTP/1.1\r\nHost: x\r\n".to_vec();
    if chunked {
        req.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n");
        let mut left = len;
        while left > 0 {
            let n = left.min(1024);
            req.extend_from_slice(format!("{n:x}\r\n").as_bytes());
            req.resize(req.len() + n, b'b');
            req.extend_from_slice(b"\r\n");
            left -= n;
        }
        req.extend_from_slice(b"0\r\n\r\n");
    } else {
        req.extend_from_slice(format!("Content-Length: {len}\r\n\r\n").as_bytes());
        req.resize(req.len() + len, b'b');
    }
    req
}

const GET_JSON: &[u8] = b"GET /json HTTP/1.1\r\nHost: x\r\n\r\n";

fn assert_hello(resp: &Resp) {
    assert_eq!(resp.status, 200, "{resp:?}");
    assert_eq!(resp.text(), "Hello, World!", "{resp:?}");
}

fn assert_json(resp: &Resp) {
    assert_eq!(resp.status, 200, "{resp:?}");
    assert_eq!(resp.text(), r#"{"message":"Hello, World!"}"#, "{resp:?}");
}

const DRAIN: u64 = 4096;

fn drain_limits() -> Limits {
    Limits::default().max_drain_size(DRAIN)
}

both_drivers!(
    unread_body_up_to_max_drain_size_is_drained_and_the_connection_reused,
    |d: DriverChoice| {
        let srv = TestServer::with_limits(d, drain_limits());
        let mut c = Client::connect(srv.addr);
        // Exactly max_drain_size bytes, sized then chunked: each is skipped,
        // so the next request on the connection is read at the right place.
        let sized = c.request(&plaintext_with_body(DRAIN as usize, false));
        assert_hello(&sized);
        assert_eq!(sized.header("connection"), None, "{sized:?}");
        assert_hello(&c.request(&plaintext_with_body(DRAIN as usize, true)));
        assert_json(&c.request(GET_JSON));
        c.expect_open(Duration::from_millis(100));
    }
);

both_drivers!(
    unread_body_over_max_drain_size_closes_after_the_response,
    |d: DriverChoice| {
        let srv = TestServer::with_limits(d, drain_limits());
        for chunked in [false, true] {
            let mut c = Client::connect(srv.addr);
            // One byte over the limit, with a request pipelined behind it
            // that must not be answered.
            let mut req = plaintext_with_body(DRAIN as usize + 1, chunked);
            req.extend_from_slice(GET_JSON);
            let resp = c.request(&req);
            assert_hello(&resp);
            if !chunked {
                // A declared length over the limit is known before the
                // answer: the answer says the connection ends.
                assert_eq!(resp.header("connection"), Some("close"), "{resp:?}");
            }
            c.expect_close(CLOSE_WITHIN);
        }
    }
);

both_drivers!(
    a_large_body_the_handler_streams_back_keeps_the_connection,
    |d: DriverChoice| {
        // /echo reads its body while its response streams: however far the
        // body is beyond max_drain_size when the head is written, nothing is
        // left to drain, so the connection stays for the next request.
        let srv = TestServer::with_limits(d, drain_limits());
        let mut c = Client::connect(srv.addr);
        // Far beyond max_drain_size, small enough for the socket buffers
        // while the echo streams back unread.
        let len = 64 * 1024;
        let mut req = format!(
            "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-test\r\nContent-Length: {len}\r\n\r\n"
        )
        .into_bytes();
        req.resize(req.len() + len, b'e');
        let resp = c.request(&req);
        assert_eq!(resp.status, 200, "{resp:?}");
        assert_eq!(resp.body.len(), len);
        assert_eq!(resp.header("connection"), None, "{resp:?}");
        assert_json(&c.request(GET_JSON));
    }
);

both_drivers!(
    an_answer_given_before_the_body_is_read_is_sent_at_once,
    |d: DriverChoice| {
        // The handler answers without reading the body; the client holds the
        // body back until it sees the answer. The answer must not wait for
        // the body to be drained.
        let srv = TestServer::with_limits(d, drain_limits());
        let mut c = Client::connect(srv.addr);
        let started = Instant::now();
        let resp = c.request(b"GET /plaintext HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n");
        assert_hello(&resp);
        let took = started.elapsed();
        assert!(
            took < Duration::from_secs(2),
            "the answer waited {took:?} for the body"
        );
        // The body follows; it is drained and the connection serves on.
        c.send(&[b'b'; 1000]);
        assert_json(&c.request(GET_JSON));
    }
);

both_drivers!(
    expect_continue_to_a_handler_that_ignores_the_body_gets_no_100_and_a_close,
    |d: DriverChoice| {
        let srv = TestServer::start(d);
        let mut c = Client::connect(srv.addr);
        // The body is never sent: the client waits for a 100 that must not come.
        let resp = c.request(
            b"GET /plaintext HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n",
        );
        assert_hello(&resp);
        // The body is still owed, so the connection cannot carry another
        // request, and the answer says so.
        assert_eq!(resp.header("connection"), Some("close"), "{resp:?}");
        c.expect_close(CLOSE_WITHIN);
    }
);

both_drivers!(
    expect_continue_to_a_handler_that_reads_gets_100_then_the_answer,
    |d: DriverChoice| {
        // The control for the test above: the same server does send 100
        // when the handler wants the body, and keeps the connection.
        let srv = TestServer::start(d);
        let mut c = Client::connect(srv.addr);
        let interim = c.request(
            b"POST /count HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n",
        );
        assert_eq!(interim.status, 100, "{interim:?}");
        let resp = c.request(b"hello");
        assert_eq!((resp.status, resp.text().as_str()), (200, "5"), "{resp:?}");
        assert_json(&c.request(GET_JSON));
    }
);

both_drivers!(
    a_100_continue_never_overtakes_earlier_pipelined_answers,
    |d: DriverChoice| {
        let srv = TestServer::start(d);
        let mut c = Client::connect(srv.addr);
        // One write: a GET, then a POST that waits for its 100.
        c.send(
            b"GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n\
              POST /count HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n",
        );
        let first = c.response();
        assert_eq!(
            (first.status, first.text().as_str()),
            (200, "Hello, World!"),
            "{first:?}"
        );
        let interim = c.response();
        assert_eq!(interim.status, 100, "{interim:?}");
        let resp = c.request(b"hello");
        assert_eq!((resp.status, resp.text().as_str()), (200, "5"), "{resp:?}");
    }
);

both_drivers!(
    http10_gets_a_stream_of_unknown_length_as_it_comes,
    |d: DriverChoice| {
        // HTTP/1.0 has no chunked coding: the body is sent as it is made,
        // with no framing field, and the close ends it. A body that never
        // ends must not be gathered in memory first.
        let srv = rules_server(d, Duration::from_secs(1));
        let got = raw_exchange(srv.addr, b"GET /abc HTTP/1.0\r\n\r\n", CLOSE_WITHIN);
        let text = String::from_utf8_lossy(&got);
        assert!(text.starts_with("HTTP/1.0 200 OK\r\n"), "{text}");
        assert!(text.ends_with("\r\n\r\nabc"), "{text}");
        assert!(text.contains("\r\nconnection: close\r\n"), "{text}");
        for framing in ["content-length", "transfer-encoding"] {
            assert!(!text.contains(framing), "{text}");
        }

        let mut c = Client::connect(srv.addr);
        c.send(b"GET /endless HTTP/1.0\r\n\r\n");
        let head = c.take_through(b"\r\n\r\n");
        assert!(head.starts_with(b"HTTP/1.0 200 OK\r\n"));
        assert_eq!(c.take(1 << 20), vec![b'x'; 1 << 20]);
    }
);

both_drivers!(
    idle_keep_alive_connection_closes_at_keep_alive_timeout,
    |d: DriverChoice| {
        let idle = Duration::from_millis(800);
        let limits = Limits::default().keep_alive_timeout(idle);
        let srv = TestServer::with_limits(d, limits);
        let mut c = Client::connect(srv.addr);
        assert_hello(&c.request(b"GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n"));
        // Idle for half the timeout: still open, and still served.
        c.expect_open(idle / 2);
        assert_json(&c.request(GET_JSON));
        // Then idle for good: closed, without a word, once the timeout passed.
        let t0 = Instant::now();
        c.expect_close(idle + CLOSE_WITHIN);
        let took = t0.elapsed();
        assert!(took >= idle * 3 / 4, "closed after {took:?} of {idle:?}");

        // A connection that never sends a byte gets the same timeout.
        let mut silent = Client::connect(srv.addr);
        let t0 = Instant::now();
        silent.expect_close(idle + CLOSE_WITHIN);
        let took = t0.elapsed();
        assert!(took >= idle * 3 / 4, "closed after {took:?} of {idle:?}");
    }
);

both_drivers!(
    connections_released_while_idle_all_answer_their_next_request,
    |d: DriverChoice| {
        // More connections than io_uring's provided buffers (64), so their
        // next requests, sent at once, also take the fallback receive into
        // a buffer of their own; each idles past the 100 ms after which its
        // worker is freed and the wait goes on outside it.
        let srv = TestServer::with_limits(d, Limits::default());
        let mut conns: Vec<Client> = (0..300).map(|_| Client::connect(srv.addr)).collect();
        for c in &mut conns {
            c.send(GET_JSON);
        }
        for c in &mut conns {
            assert_json(&c.response());
        }
        for _ in 0..2 {
            std::thread::sleep(Duration::from_millis(300));
            for c in &mut conns {
                c.send(b"GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n");
            }
            for c in &mut conns {
                assert_hello(&c.response());
            }
        }
    }
);

/// Routes whose answers the server must police, and handlers that take
/// their time.
fn rules_app() -> App {
    App::new()
        .route("/hello", get(|_r: Request| async { "Hello, World!" }))
        .route("/endless", get(endless))
        .route(
            "/abc",
            get(|_r: Request| async { streamed(&["a", "b", "c"]) }),
        )
        .route(
            "/no-content",
            get(|_r: Request| async { (StatusCode::NO_CONTENT, "a 204 has no body") }),
        )
        .route("/not-modified", get(not_modified_streamed))
        .route("/close", get(close_after_this))
        .route(
            "/slow/{id}",
            get(|r: Request| {
                started(&r);
                async {
                    percore::rt::time::sleep(Duration::from_millis(300)).await;
                    "slow done"
                }
            }),
        )
        .route(
            "/hang/{id}",
            get(|r: Request| {
                started(&r);
                std::future::pending::<&'static str>()
            }),
        )
}

/// The `{id}`s of the `/slow` and `/hang` requests whose handlers have begun.
static STARTED: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

fn started(r: &Request) {
    let id = r.param("id").unwrap_or_default().to_string();
    STARTED.lock().unwrap().push(id);
}

/// Waits until the handler of the request with `id` has begun (the server
/// read and routed it), so a test's next step cannot overtake it.
fn wait_started(id: &str) {
    let t0 = Instant::now();
    while !STARTED.lock().unwrap().iter().any(|s| s == id) {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "request {id} never started"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A body of unknown length that never ends.
async fn endless(_r: Request) -> Response {
    let (tx, body) = Body::channel(1);
    percore::rt::spawn_local(async move { while tx.send(vec![b'x'; 16 * 1024]).await.is_ok() {} });
    Response::new(body)
}

/// `parts`, streamed one by one (length unknown).
fn streamed(parts: &[&'static str]) -> Response {
    let (tx, body) = Body::channel(1);
    let parts = parts.to_vec();
    percore::rt::spawn_local(async move {
        for part in parts {
            if tx.send(part).await.is_err() {
                return;
            }
        }
    });
    Response::new(body)
}

/// A 304 whose handler streams a body of unknown length anyway.
async fn not_modified_streamed(_r: Request) -> Response {
    let (tx, body) = Body::channel(1);
    percore::rt::spawn_local(async move {
        let _ = tx.send("a 304 has no body").await;
    });
    let mut resp = Response::new(body);
    *resp.status_mut() = StatusCode::NOT_MODIFIED;
    resp
}

/// An answer whose handler asks for the connection to close.
async fn close_after_this(_r: Request) -> Response {
    let mut resp = "closing".into_response();
    resp.headers_mut().insert(
        http::header::CONNECTION,
        http::HeaderValue::from_static("close"),
    );
    resp
}

/// A server of [`rules_app`] on one core with `grace` as its shutdown
/// deadline.
fn rules_server(driver: DriverChoice, grace: Duration) -> TestServer {
    TestServer::serve(driver, 1, Limits::default(), grace, || rules_app)
}

both_drivers!(
    handler_connection_close_ends_the_connection,
    |d: DriverChoice| {
        let srv = rules_server(d, Duration::from_secs(1));
        let mut c = Client::connect(srv.addr);
        assert_hello(&c.request(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"));
        // A request pipelined behind the closing answer is never served.
        let resp = c.request(
            b"GET /close HTTP/1.1\r\nHost: x\r\n\r\nGET /hello HTTP/1.1\r\nHost: x\r\n\r\n",
        );
        assert_eq!((resp.status, resp.text().as_str()), (200, "closing"));
        assert_eq!(resp.header("connection"), Some("close"), "{}", resp.head);
        assert_eq!(resp.count("connection"), 1, "{}", resp.head);
        c.expect_close(CLOSE_WITHIN);
    }
);

both_drivers!(
    no_content_and_not_modified_answers_carry_no_body,
    |d: DriverChoice| {
        let srv = rules_server(d, Duration::from_secs(1));
        let mut c = Client::connect(srv.addr);
        // Pipelined: any byte of a body would be read as the next status line.
        c.send(
            b"GET /no-content HTTP/1.1\r\nHost: x\r\n\r\n\
              GET /not-modified HTTP/1.1\r\nHost: x\r\n\r\n\
              GET /hello HTTP/1.1\r\nHost: x\r\n\r\n",
        );
        for status in [204, 304] {
            let resp = c.response();
            assert_eq!(resp.status, status, "{}", resp.head);
            for framing in ["content-length", "transfer-encoding"] {
                assert_eq!(resp.header(framing), None, "{}", resp.head);
            }
        }
        assert_hello(&c.response());
        // Nothing else follows, and the connection is still usable.
        c.expect_open(Duration::from_millis(200));
        assert_hello(&c.request(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"));
    }
);

/// Connects until the port refuses, failing the test unless it does within
/// `within`; a connection the kernel still completes meanwhile must never
/// be served.
fn expect_refused(addr: SocketAddr, within: Duration) {
    let t0 = Instant::now();
    loop {
        match TcpStream::connect(addr) {
            Err(e) if e.kind() == ErrorKind::ConnectionRefused => return,
            Err(e) => panic!("connect failed with {e}, not refused"),
            Ok(mut s) => {
                s.set_read_timeout(Some(CLOSE_WITHIN)).unwrap();
                let _ = s.write_all(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
                let mut got = Vec::new();
                let _ = s.read_to_end(&mut got);
                assert!(
                    got.is_empty(),
                    "served after shutdown: {:?}",
                    String::from_utf8_lossy(&got)
                );
            }
        }
        assert!(t0.elapsed() < within, "still accepting after {within:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

both_drivers!(
    shutdown_closes_idle_connections_and_refuses_new_ones,
    |d: DriverChoice| {
        let grace = Duration::from_secs(4);
        let srv = rules_server(d, grace);
        let mut idle = Client::connect(srv.addr);
        assert_hello(&idle.request(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"));
        // A request in flight keeps the server in its grace period.
        let mut busy = Client::connect(srv.addr);
        let id = format!("busy-{d:?}");
        busy.send(format!("GET /hang/{id} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes());
        wait_started(&id);

        let t0 = Instant::now();
        srv.trigger_shutdown();
        idle.expect_close(CLOSE_WITHIN);
        expect_refused(srv.addr, Duration::from_secs(1));
        let took = t0.elapsed();
        assert!(took < grace * 3 / 4, "took {took:?} of the {grace:?} grace");
        // The grace period is still running: the busy connection is open.
        busy.expect_open(Duration::from_millis(100));
    }
);

both_drivers!(
    shutdown_deadline_cuts_a_request_that_never_finishes,
    |d: DriverChoice| {
        let grace = Duration::from_secs(1);
        let mut srv = rules_server(d, grace);
        let mut hung = Client::connect(srv.addr);
        let (hung_id, slow_id) = (format!("hung-{d:?}"), format!("slow-{d:?}"));
        hung.send(format!("GET /hang/{hung_id} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes());
        let mut slow = Client::connect(srv.addr);
        slow.send(format!("GET /slow/{slow_id} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes());
        wait_started(&hung_id);
        wait_started(&slow_id);

        let t0 = Instant::now();
        srv.trigger_shutdown();
        // A request that finishes within the grace period is answered, and
        // its connection closed.
        let resp = slow.response();
        assert_eq!((resp.status, resp.text().as_str()), (200, "slow done"));
        assert_eq!(resp.header("connection"), Some("close"), "{}", resp.head);
        slow.expect_close(CLOSE_WITHIN);
        // The one that never finishes is cut at the deadline, not before.
        hung.expect_close(grace + CLOSE_WITHIN);
        let took = t0.elapsed();
        assert!(took >= grace * 9 / 10, "cut after {took:?} of {grace:?}");
        srv.join(CLOSE_WITHIN);
    }
);

both_drivers!(shutdown_lets_http2_streams_finish, |d: DriverChoice| {
    // The same rules over HTTP/2 (curl, prior knowledge): the stream in
    // flight is answered, then the server stops well before its grace
    // deadline.
    let grace = Duration::from_secs(4);
    let mut srv = rules_server(d, grace);
    let id = format!("h2-slow-{d:?}");
    let curl = Command::new("curl")
        .args(["-s", "--http2-prior-knowledge", "--max-time", "10"])
        .arg(srv.url(&format!("/slow/{id}")))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    wait_started(&id);
    let t0 = Instant::now();
    srv.trigger_shutdown();
    let out = curl.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "slow done");
    srv.join(CLOSE_WITHIN);
    let took = t0.elapsed();
    assert!(took < grace / 2, "took {took:?} of the {grace:?} grace");
});

/// Limits small enough to hit with a few KiB.
fn small_limits() -> Limits {
    Limits::default()
        .max_head_size(2048)
        .max_headers(16)
        .max_uri_len(512)
        .max_body_size(1024)
}

/// The status a raw request gets, after checking the server closes.
fn status_then_close(addr: SocketAddr, request: &[u8]) -> String {
    let got = raw_exchange(addr, request, CLOSE_WITHIN);
    String::from_utf8_lossy(&got).into_owned()
}

both_drivers!(
    oversized_heads_and_targets_get_431_or_414_and_a_close,
    |d: DriverChoice| {
        let srv = TestServer::with_limits(d, small_limits());
        // Just inside every limit: served.
        let fields: String = (0..14).map(|i| format!("X-F{i}: v\r\n")).collect();
        let within = format!(
            "GET /plaintext?{} HTTP/1.1\r\nHost: x\r\n{fields}\r\n",
            "q".repeat(512 - "/plaintext?".len())
        );
        assert_hello(&Client::connect(srv.addr).request(within.as_bytes()));

        let big_field = format!(
            "GET /plaintext HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
            "v".repeat(4000)
        );
        let many_fields = format!(
            "GET /plaintext HTTP/1.1\r\nHost: x\r\n{}\r\n",
            (0..20)
                .map(|i| format!("X-F{i}: v\r\n"))
                .collect::<String>()
        );
        let long_target = format!(
            "GET /plaintext?{} HTTP/1.1\r\nHost: x\r\n\r\n",
            "q".repeat(600)
        );
        for (request, status) in [
            (big_field, "431 Request Header Fields Too Large"),
            (many_fields, "431 Request Header Fields Too Large"),
            (long_target, "414 URI Too Long"),
        ] {
            let got = status_then_close(srv.addr, request.as_bytes());
            assert!(got.starts_with(&format!("HTTP/1.1 {status}\r\n")), "{got}");
            assert!(got.contains("\r\nconnection: close\r\n"), "{got}");
            assert_eq!(got.matches("HTTP/1.1 ").count(), 1, "{got}");
        }
    }
);

/// A chunked `POST` of `chunks` chunks of 512 bytes.
fn chunked_post(path: &str, chunks: usize) -> Vec<u8> {
    let mut req = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    .into_bytes();
    for _ in 0..chunks {
        req.extend_from_slice(b"200\r\n");
        req.resize(req.len() + 512, b'c');
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"0\r\n\r\n");
    req
}

both_drivers!(
    streamed_body_over_max_body_size_gets_413_and_a_close,
    |d: DriverChoice| {
        let srv = TestServer::with_limits(d, small_limits());
        // max_body_size exactly, streamed: counted and kept alive.
        let mut c = Client::connect(srv.addr);
        let resp = c.request(&chunked_post("/count", 2));
        assert_eq!(
            (resp.status, resp.text().as_str()),
            (200, "1024"),
            "{resp:?}"
        );
        assert_json(&c.request(GET_JSON));

        // One chunk more: the handler's read fails with 413, which says the
        // connection closes, and it does (the rest of the body is not read).
        let mut c = Client::connect(srv.addr);
        let resp = c.request(&chunked_post("/count", 3));
        assert_eq!(resp.status, 413, "{resp:?}");
        assert_eq!(resp.header("connection"), Some("close"), "{}", resp.head);
        c.expect_close(CLOSE_WITHIN);

        // /echo streams the body back: a first chunk already over the
        // limit is a 413 before any byte of the echo.
        let mut big =
            b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n801\r\n".to_vec();
        big.resize(big.len() + 0x801, b'c');
        big.extend_from_slice(b"\r\n0\r\n\r\n");
        let mut c = Client::connect(srv.addr);
        let resp = c.request(&big);
        assert_eq!(resp.status, 413, "{resp:?}");
        assert_eq!(resp.header("connection"), Some("close"), "{}", resp.head);
        c.expect_close(CLOSE_WITHIN);
    }
);

/// Starts the demo on a free port and returns it with its `listening on` line.
fn start_demo(driver: &str) -> (Running, String) {
    start_listening(Command::new(example_binary("demo")).args([
        "--listen",
        "127.0.0.1:0",
        "--cores",
        "1",
        "--driver",
        driver,
    ]))
}

fn demo_serves_its_routes(driver: &str, driver_name: &str) {
    let (_demo, line) = start_demo(driver);
    let addr = listening_addr(&line);
    assert_eq!(addr.ip().to_string(), "127.0.0.1", "{line}");
    assert_ne!(addr.port(), 0, "the line names the real port: {line}");
    assert!(line.contains("cores: 1"), "{line}");
    assert!(line.contains(&format!("driver: {driver_name} ")), "{line}");

    let mut c = Client::connect(addr);
    let plain = c.request(b"GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_hello(&plain);
    let ct = plain.header("content-type").unwrap_or_default();
    assert!(ct.starts_with("text/plain"), "{}", plain.head);

    let json = c.request(GET_JSON);
    assert_json(&json);
    assert_eq!(
        json.header("content-type"),
        Some("application/json"),
        "{}",
        json.head
    );

    let echo = c.request(
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-demo-test\r\nContent-Length: 9\r\n\r\nping pong",
    );
    assert_eq!((echo.status, echo.text().as_str()), (200, "ping pong"));
    assert_eq!(
        echo.header("content-type"),
        Some("application/x-demo-test"),
        "{}",
        echo.head
    );
}

#[test]
fn demo_binary_on_io_uring() {
    demo_serves_its_routes("uring", "io_uring");
}

#[test]
fn demo_binary_on_epoll() {
    demo_serves_its_routes("epoll", "epoll");
}
