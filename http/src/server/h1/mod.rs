//! The HTTP/1.1 server driver: reads request heads, runs the service,
//! writes responses (batched for pipelined requests), streams bodies with
//! back-pressure, enforces the limits and timeouts of [`crate::Limits`].
//!
//! The read side ([`input`]: heads, the request body, the drain and the
//! keep-alive verdict) and the write side ([`output`]: encoding and
//! batching responses) each have their module; this one is the dispatch:
//! one request after another, until the connection ends or switches
//! protocols.

mod head_cache;
mod input;
mod output;

use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use http::{Method, StatusCode, Version};
use percore_runtime::future::{race, Either};
use percore_runtime::time::coarse_now;

use input::ReadMore;
pub(super) use input::{RequestInput, READ_CHUNK};
use output::Output;

use super::exchange::{call_handler, call_handler_head, internal_error};
use super::start::h2c_upgrade_settings;
use super::{close_now, linger_close, ConnConfig, ConnProtocol};
use crate::h1::{self, BodyKind, ResponseBody};
use crate::service::{ConnState, Request, Response, Service};
use crate::upgrade;
use crate::Reply;

/// Largest answer written before the unread rest of its request body is
/// drained (small enough for any socket send buffer to take at once).
const EARLY_ANSWER_MAX: usize = 8 * 1024;

/// The answer to `Upgrade: h2c` (RFC 7540 §3.2).
const SWITCHING_TO_H2C: &[u8] =
    b"HTTP/1.1 101 Switching Protocols\r\nconnection: Upgrade\r\nupgrade: h2c\r\n\r\n";

/// How an HTTP/1.1 connection ended.
#[derive(Debug)]
pub(super) enum Handoff {
    /// It is closed, or handed to the handler of a protocol upgrade.
    Closed,
    /// The client asked for h2c and got `101`: HTTP/2 continues on the
    /// connection, answering `request` as stream 1.
    H2c {
        /// The request that asked for the upgrade.
        request: Box<Request>,
        /// Its decoded `HTTP2-Settings`.
        settings: Vec<u8>,
        /// The bytes read past the request.
        read_buf: BytesMut,
    },
}

/// Serves HTTP/1.1 (and 1.0) requests from `input` until the client
/// leaves, an error closes the connection, the server shuts down or the
/// connection switches protocols. `first_head_deadline`: bytes of the
/// first request head have already arrived, and the rest must by then.
///
/// The requests are answered by a worker future, boxed: it holds the
/// state of every step of an exchange (the handler's future, the response
/// being written) and is as large as the largest. Once the connection has
/// waited [`RELEASE_AFTER`] for its next request with nothing buffered and
/// nothing to send, the worker ends and is freed, and the rest of the
/// keep-alive wait happens here, in a small state: an idle connection
/// holds its input, no buffer and no worker. The worker is made anew when
/// the next request comes (one allocation per idle period, none per
/// request).
pub(super) async fn serve<S: Service>(
    input: Rc<RequestInput>,
    service: &Rc<S>,
    cfg: &ConnConfig,
    mut first_head_deadline: Option<Instant>,
) -> Handoff {
    loop {
        let idle_until = match Box::pin(work(&input, service, cfg, first_head_deadline)).await {
            Turn::Ended(handoff) => return handoff,
            Turn::Idle(deadline) => deadline,
        };
        if cfg.shutdown.is_triggered() {
            return Handoff::Closed;
        }
        match race(input.read_more(idle_until), cfg.shutdown.wait()).await {
            Either::Left(ReadMore::Data) => {
                first_head_deadline = Some(coarse_now() + cfg.limits.header_read_timeout);
            }
            // As in the worker's idle wait: nothing of a request came, so
            // the connection closes quietly.
            Either::Left(_) | Either::Right(()) => return Handoff::Closed,
        }
    }
}

/// How a worker ([`work`]) ended.
enum Turn {
    /// The connection is over (or continues in another protocol).
    Ended(Handoff),
    /// The connection has been idle for [`RELEASE_AFTER`]; it may stay
    /// idle until this instant (its keep-alive deadline).
    Idle(Instant),
}

/// Answers requests from `input`, one after another, until the connection
/// ends or has waited idle for [`RELEASE_AFTER`].
async fn work<S: Service>(
    input: &Rc<RequestInput>,
    service: &Rc<S>,
    cfg: &ConnConfig,
    mut first_head_deadline: Option<Instant>,
) -> Turn {
    // Counted while it lives (zero bytes in the worker's layout).
    let _live = LiveWorker::enter();
    let limits = &cfg.limits;
    let stream = input.stream();
    let mut out = Output::new(stream.clone(), limits.write_timeout);
    // The last request head, for a client that sends the same again
    // (kept with the worker: an idle connection holds none).
    let mut memo = h1::HeadMemo::new();
    // What the service keeps between this connection's requests (the web
    // app: its last route's future, restarted in place).
    let mut conn_state = ConnState::default();
    // Set when a handler panicked (its answer is the 500).
    let panicked = std::cell::Cell::new(false);
    loop {
        // A request head is read, looked at and handed to the service with
        // no wait after it is parsed: a head kept across a wait would be
        // copied into the worker's state and out again (a head is large).
        let (version, is_head, client_closes, mut keep_alive);
        let started = {
            let mut head_deadline = first_head_deadline.take();
            let head = loop {
                let failed = match input.parse_head(&mut memo) {
                    Ok(Some(head)) => break head,
                    Ok(None) => None,
                    Err(e) => Some(e.status()),
                };
                if let Some(status) = failed {
                    reject(input, &mut out, status).await;
                    return Turn::Ended(Handoff::Closed);
                }
                match wait_for_head(input, &mut out, cfg, &mut head_deadline).await {
                    Waited::More => {}
                    Waited::Over => return Turn::Ended(Handoff::Closed),
                    Waited::Idle(until) => return Turn::Idle(until),
                }
            };
            version = head.version();
            is_head = *head.method() == Method::HEAD;
            keep_alive = head.keep_alive();
            // The client said this request is its last (`Connection:
            // close`, or HTTP/1.0 without keep-alive).
            client_closes = !head.keep_alive();
            // `Connection: upgrade` with an `Upgrade` field, as the parser
            // saw it: the only requests the header lookups below apply to.
            let may_upgrade = version == Version::HTTP_11
                && matches!(head.body_kind(), BodyKind::Empty)
                && head.wants_upgrade();
            let body = input.start_body(
                head.body_kind(),
                head.expect_continue() && version == Version::HTTP_11,
            );
            if may_upgrade {
                // Built into `http` types now: the switch needs its fields
                // and extensions. (Its body is empty: no `100 Continue`.)
                Started::Upgrade(Box::new(head.into_request(body)))
            } else {
                // Every other request reaches the service as its raw head.
                Started::Raw(call_handler_head(
                    service.as_ref(),
                    &mut conn_state,
                    head,
                    body,
                    &panicked,
                ))
            }
        };
        let mut pending_upgrade = None;
        // (The answer taken apart in each arm: kept across the arms' waits,
        // it would be copied once more.)
        let mut resp = match started {
            Started::Upgrade(mut req) => {
                // RFC 9113 §3.2: over TLS, HTTP/2 is chosen by ALPN, never by h2c.
                if cfg.http2 && !stream.is_tls() {
                    if let Some(settings) = h2c_upgrade_settings(req.headers()) {
                        out.extend_from_slice(SWITCHING_TO_H2C);
                        if out.flush().await.is_err() {
                            return Turn::Ended(Handoff::Closed);
                        }
                        return Turn::Ended(Handoff::H2c {
                            request: req,
                            settings,
                            read_buf: input.take_buffer(),
                        });
                    }
                }
                if upgrade::wants_upgrade(req.headers()) {
                    let (pending, on_upgrade) = upgrade::pending();
                    req.extensions_mut().insert(on_upgrade);
                    pending_upgrade = Some(pending);
                }
                Reply::from(call_handler(service.as_ref(), *req, &panicked).await)
            }
            Started::Raw(answer) => {
                // The handler's first read of this body sends `100
                // Continue` straight to the socket: answers to earlier
                // pipelined requests must be out before it (the handler is
                // not polled before then).
                if input.continue_pending() && !out.is_empty() && out.flush().await.is_err() {
                    return Turn::Ended(Handoff::Closed);
                }
                answer.await
            }
        };
        if panicked.get() {
            // A panic's 500: the connection closes after it.
            keep_alive = false;
        }
        if resp.status() == StatusCode::SWITCHING_PROTOCOLS {
            match pending_upgrade.take() {
                Some(pending) => {
                    let resp = resp.into_response();
                    switch_protocols(input, &mut out, resp, pending, cfg).await;
                    return Turn::Ended(Handoff::Closed);
                }
                None => {
                    tracing::error!("handler answered 101 to a request that cannot be upgraded");
                    keep_alive = false;
                    resp = Reply::from(internal_error());
                }
            }
        }
        // Any other answer keeps the connection on HTTP/1.1.
        drop(pending_upgrade);
        // (A `Plain` answer has no `Connection` field.)
        let closes = matches!(&resp, Reply::Response(r) if wants_close(r.headers()));
        if cfg.shutdown.is_triggered() || closes {
            keep_alive = false;
        }
        // An empty or in-memory body is encoded without awaiting; a
        // streamed one is written by a future of its own.
        if let Some(streamed) = out.write_response(input, version, resp, is_head, &mut keep_alive) {
            if out
                .write_streamed(input, streamed, &mut keep_alive)
                .await
                .is_err()
            {
                return Turn::Ended(Handoff::Closed);
            }
        }

        // The request body must be consumed before the next request; a
        // connection that ends after this answer is not drained (the
        // lingering close reads what the client still sends).
        if keep_alive {
            // A small answer given before its request body was read goes out
            // before the rest of the body is drained: a client uploading to a
            // handler that already answered (401, 413, a redirect) learns of
            // it now. A large one waits for the drain, so that a client
            // sending its whole body before reading cannot block our write.
            if input.body_unfinished()
                && !out.is_empty()
                && out.len() <= EARLY_ANSWER_MAX
                && out.flush().await.is_err()
            {
                return Turn::Ended(Handoff::Closed);
            }
            keep_alive = input.finish_body().await;
        }
        if !keep_alive {
            if out.flush().await.is_ok() {
                if client_closes && !input.body_unfinished() && input.is_empty() {
                    // RFC 9112 §9.6: a client that sent `close` sends no
                    // further request, and all of this one was read: no
                    // unread input can make the kernel reset the answer,
                    // so close now instead of waiting for the client's
                    // FIN (one wake-up less per connection).
                    close_now(&stream).await;
                } else {
                    linger_close(&stream).await;
                }
            }
            return Turn::Ended(Handoff::Closed);
        }
        out.responses += 1;
        if out.must_flush(limits) && out.flush().await.is_err() {
            return Turn::Ended(Handoff::Closed);
        }
    }
}

/// A request handed to the service ([`work`]).
enum Started<F> {
    /// As its raw head: the service's answer, not polled yet.
    Raw(F),
    /// A request that may switch protocols, built into `http` types
    /// (boxed: rare, and as large as a head).
    Upgrade(Box<Request>),
}

/// How a wait for more of a request head ended.
enum Waited {
    /// Bytes came.
    More,
    /// The connection is over (the client left or was too slow, or the
    /// server shuts down).
    Over,
    /// Idle for [`RELEASE_AFTER`] (at once on a core holding more than
    /// [`KEPT_WORKERS`] workers) with nothing buffered: the wait goes on
    /// outside the worker, until this keep-alive deadline.
    Idle(Instant),
}

/// How long an idle connection keeps its worker (see [`serve`]): long
/// enough that a busy keep-alive connection keeps it between requests
/// (its read deadline wakes it at most once per this period), short enough
/// that connections opened in a burst and then left idle do not all hold
/// theirs at once (freed heap memory stays resident).
const RELEASE_AFTER: Duration = Duration::from_millis(100);

/// How many workers a core keeps through their quiet spell: past this
/// many, a connection that goes idle frees its worker at once instead of
/// after [`RELEASE_AFTER`]. A burst of new connections (thousands a
/// second, each with one request) otherwise holds a worker for each
/// connection answered in the last 100 ms, and the heap they leave when
/// freed stays resident, scattered between the connections' long-lived
/// allocations. Busy keep-alive connections up to this count keep theirs
/// between requests; past it, a request costs one worker allocation.
const KEPT_WORKERS: usize = 256;

thread_local! {
    /// Workers alive on this core (see [`LiveWorker`]).
    static LIVE_WORKERS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Counts a worker in [`LIVE_WORKERS`] from its start to its drop.
struct LiveWorker;

impl LiveWorker {
    fn enter() -> LiveWorker {
        LIVE_WORKERS.with(|n| n.set(n.get() + 1));
        LiveWorker
    }

    /// Whether this core holds more workers than [`KEPT_WORKERS`].
    fn crowded() -> bool {
        LIVE_WORKERS.with(|n| n.get() > KEPT_WORKERS)
    }
}

impl Drop for LiveWorker {
    fn drop(&mut self) {
        LIVE_WORKERS.with(|n| n.set(n.get() - 1));
    }
}

/// Waits for more of a request head, after sending the answers batched so
/// far.
async fn wait_for_head(
    input: &RequestInput,
    out: &mut Output,
    cfg: &ConnConfig,
    head_deadline: &mut Option<Instant>,
) -> Waited {
    let limits = &cfg.limits;
    // Nothing complete is buffered: send pending responses first.
    if !out.is_empty() && out.flush().await.is_err() {
        return Waited::Over;
    }
    // Part of a request head is buffered.
    let head_started = !input.is_empty();
    // Bytes of this request arrived (perhaps only empty lines the
    // parser discarded): the header-read deadline runs, not the idle one.
    let partial = head_started || head_deadline.is_some();
    let outcome = if partial {
        let deadline =
            *head_deadline.get_or_insert_with(|| coarse_now() + limits.header_read_timeout);
        input.read_more(deadline).await
    } else {
        if cfg.shutdown.is_triggered() {
            return Waited::Over;
        }
        let now = coarse_now();
        let release = limits.keep_alive_timeout > RELEASE_AFTER;
        if release && LiveWorker::crowded() {
            return Waited::Idle(now + limits.keep_alive_timeout);
        }
        let wait = if release {
            RELEASE_AFTER
        } else {
            limits.keep_alive_timeout
        };
        match race(input.read_more(now + wait), cfg.shutdown.wait()).await {
            Either::Left(ReadMore::TimedOut) if release => {
                return Waited::Idle(now + limits.keep_alive_timeout)
            }
            Either::Left(outcome) => outcome,
            Either::Right(()) => return Waited::Over,
        }
    };
    match outcome {
        ReadMore::Data => {
            head_deadline.get_or_insert_with(|| coarse_now() + limits.header_read_timeout);
            Waited::More
        }
        // Only empty lines came (some clients send a stray CRLF after
        // a body): close quietly, as when idle, rather than answer a
        // request that never started.
        ReadMore::TimedOut if head_started => {
            reject(input, out, StatusCode::REQUEST_TIMEOUT).await;
            Waited::Over
        }
        ReadMore::TimedOut | ReadMore::Eof | ReadMore::Failed => Waited::Over,
    }
}

/// Answers a request that cannot be served (a bad head, one too slow to
/// arrive) with `status`, and closes.
async fn reject(input: &RequestInput, out: &mut Output, status: StatusCode) {
    out.error_response(status);
    let _ = out.flush().await;
    linger_close(&input.stream()).await;
}

/// Whether the handler's answer says `Connection: close`. A response
/// usually has a few fields: looking at each is cheaper than hashing the
/// name for a map lookup (about 100 instructions per request). Inlined
/// into the connection loop (a call cost ~20 instructions per request);
/// the values are looked at out of line, when a `Connection` field came.
#[inline(always)]
fn wants_close(headers: &http::HeaderMap) -> bool {
    if headers.len() > 8 {
        return upgrade::connection_has(headers, "close");
    }
    // The names only (no walk over repeated values) until one matches.
    headers.keys().any(|name| name == http::header::CONNECTION) && connection_says_close(headers)
}

/// Whether a `Connection` value of `headers` lists `close`.
#[cold]
#[inline(never)]
fn connection_says_close(headers: &http::HeaderMap) -> bool {
    headers
        .get_all(http::header::CONNECTION)
        .iter()
        .any(|value| {
            value.to_str().is_ok() && crate::field_list::contains(value.as_bytes(), "close")
        })
}

/// Writes a 101 response and hands the connection, with the bytes read past
/// the request head, to the handler's [`upgrade::OnUpgrade`].
async fn switch_protocols(
    input: &RequestInput,
    out: &mut Output,
    resp: Response,
    pending: upgrade::PendingUpgrade,
    cfg: &ConnConfig,
) {
    out.head(
        Version::HTTP_11,
        StatusCode::SWITCHING_PROTOCOLS,
        resp.headers(),
        ResponseBody::Empty,
        false,
    );
    if out.flush().await.is_ok() {
        let mut read_buf = input.take_buffer();
        if read_buf.is_empty() {
            // Nothing came past the request head: the new protocol starts
            // without a buffer (it reads into the per-core ones, as the
            // server does) rather than keep the room made for it here.
            read_buf = BytesMut::new();
        }
        pending.fulfil(upgrade::Upgraded::new(
            input.stream(),
            read_buf,
            cfg.shutdown.clone(),
            cfg.connections.enter_as(ConnProtocol::Other),
            cfg.limits.write_timeout,
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::wants_close;
    use http::HeaderMap;

    #[test]
    fn connection_close_is_seen_in_small_and_large_maps() {
        let mut small = HeaderMap::new();
        small.insert("content-type", "text/plain".parse().unwrap());
        assert!(!wants_close(&small));
        small.insert("connection", "keep-alive, Close".parse().unwrap());
        assert!(wants_close(&small));
        let mut large = HeaderMap::new();
        for i in 0..12 {
            large.insert(
                http::HeaderName::from_bytes(format!("x-field-{i}").as_bytes()).unwrap(),
                "v".parse().unwrap(),
            );
        }
        assert!(!wants_close(&large));
        large.insert("connection", "close".parse().unwrap());
        assert!(wants_close(&large));
        large.insert("connection", "keep-alive".parse().unwrap());
        assert!(!wants_close(&large));
    }
}

#[cfg(test)]
mod idle_size {
    use super::*;
    use crate::server::{Conn, ConnConfig, OpenConnections};
    use percore_runtime::sync::Shutdown;

    /// What an idle HTTP/1.1 connection's task holds is the state of its
    /// idle wait, not of a whole exchange: the worker and the HTTP/2
    /// driver are boxed. (Sizes of a debug build; a regression that puts
    /// either back inline makes the task several KiB.)
    #[test]
    fn the_idle_connection_task_is_small() {
        percore_runtime::Runtime::new().unwrap().block_on(async {
            use percore_runtime::net::{TcpListener, TcpStream};
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let cfg = ConnConfig {
                limits: Rc::new(crate::Limits::default()),
                shutdown: Shutdown::new(),
                http2: true,
                connections: OpenConnections::default(),
            };
            let service = Rc::new(crate::service::FnService(|_req: Request| async {
                Response::new(crate::Body::from("x"))
            }));
            let conn = Rc::new(Conn::from(TcpStream::connect(addr).await.unwrap()));
            let read = percore_runtime::io::ReadBuffer::new(conn, BytesMut::new(), READ_CHUNK);
            let input = RequestInput::new(read, cfg.limits.clone());
            let serve_h1 = std::mem::size_of_val(&serve(input.clone(), &service, &cfg, None));
            let worker = std::mem::size_of_val(&work(&input, &service, &cfg, None));
            let tcp = TcpStream::connect(addr).await.unwrap();
            let task = std::mem::size_of_val(&crate::server::serve(tcp, service.clone(), cfg));
            // The read side lives as long as the connection: it holds the
            // input buffer's state, not a request body's (boxed, made for
            // a request that has one).
            let input_size = std::mem::size_of::<RequestInput>();
            assert!(input_size <= 216, "the read side is {input_size} bytes");
            assert!(serve_h1 <= 256, "h1::serve is {serve_h1} bytes");
            assert!(
                worker > 4 * serve_h1,
                "the worker ({worker} bytes) is the large part"
            );
            // 1 000 before the first read moved into a future of its own and
            // `service` and `cfg` went by reference (an async fn holds its
            // arguments twice).
            assert!(task <= 720, "a connection's task is {task} bytes");
        });
    }
}

#[cfg(test)]
mod worker_budget {
    use super::*;
    use crate::server::{Conn, ConnConfig, OpenConnections};
    use percore_runtime::net::TcpListener;
    use percore_runtime::spawn_local;
    use percore_runtime::sync::Shutdown;
    use percore_runtime::time::sleep;
    use std::io::{Read, Write};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    /// Connections answered in a burst do not each keep a worker for
    /// their quiet spell: past [`KEPT_WORKERS`], an idle connection frees
    /// its worker at once (the burst's heap would stay resident).
    #[test]
    fn a_burst_of_idle_connections_keeps_few_workers() {
        for driver in [
            percore_runtime::DriverChoice::Uring,
            percore_runtime::DriverChoice::Epoll,
        ] {
            let rt = percore_runtime::Builder::new()
                .driver(driver)
                .build()
                .unwrap();
            rt.block_on(async {
                let listener = TcpListener::bind("127.0.0.1:0").unwrap();
                let addr = listener.local_addr().unwrap();
                let cfg = ConnConfig {
                    limits: Rc::new(crate::Limits::default()),
                    shutdown: Shutdown::new(),
                    http2: false,
                    connections: OpenConnections::default(),
                };
                let service = Rc::new(crate::service::FnService(|_req: Request| async {
                    Response::new(crate::Body::from("x"))
                }));
                let conns = 3 * KEPT_WORKERS;
                let done = Arc::new(AtomicBool::new(false));
                let client_done = done.clone();
                let client = std::thread::spawn(move || {
                    let mut socks: Vec<_> = (0..conns)
                        .map(|_| std::net::TcpStream::connect(addr).unwrap())
                        .collect();
                    for s in &mut socks {
                        s.write_all(b"GET / HTTP/1.1\r\nhost: t\r\n\r\n").unwrap();
                    }
                    for s in &mut socks {
                        let mut got = Vec::new();
                        let mut chunk = [0u8; 512];
                        while !got.ends_with(b"\r\n\r\nx") {
                            let n = s.read(&mut chunk).unwrap();
                            assert!(n > 0, "closed before the answer");
                            got.extend_from_slice(&chunk[..n]);
                        }
                    }
                    client_done.store(true, Ordering::Release);
                    socks // held open: the connections stay idle
                });
                let accepting = {
                    let (service, cfg) = (service.clone(), cfg.clone());
                    spawn_local(async move {
                        loop {
                            let stream = listener.accept_stream().await.unwrap();
                            spawn_local(crate::server::serve(
                                Conn::from(stream),
                                service.clone(),
                                cfg.clone(),
                            ));
                        }
                    })
                };
                while !done.load(Ordering::Acquire) {
                    sleep(std::time::Duration::from_millis(1)).await;
                }
                // The last answers' workers see their writes complete and
                // go idle (well within their 100 ms quiet spell).
                sleep(std::time::Duration::from_millis(10)).await;
                let live = LIVE_WORKERS.with(std::cell::Cell::get);
                assert!(
                    live <= KEPT_WORKERS,
                    "{live} workers live after {conns} connections went idle"
                );
                accepting.abort();
                cfg.shutdown.trigger();
                drop(client.join().unwrap());
            });
        }
    }
}
