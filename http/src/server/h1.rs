//! The HTTP/1.1 server connection: reads request heads, runs the service,
//! writes responses (batched for pipelined requests), streams bodies with
//! back-pressure, enforces the limits and timeouts of [`crate::Limits`].

use std::cell::RefCell;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use http::header::{HeaderValue, CONTENT_TYPE};
use http::{HeaderMap, Method, StatusCode, Version};
use percore_runtime::future::{race, Either};
use percore_runtime::net::TcpStream;
use percore_runtime::time::{timeout_at, Elapsed};

use super::body_pace::BodyPace;
use super::date::with_date;
use super::h2::serve_h2;
use super::linger_close;
use super::{has_no_body, internal_error, ConnConfig, ConnGuard};
use crate::body::{next_chunk, Body, BodyError, BodySource, RequestBody};
use crate::h1::{self, BodyDecoder, BodyEvent, BodyKind, ResponseBody};
use crate::h2::conn::ServerConnection;
use crate::h2::frame::PREFACE;
use crate::service::{catch_unwind_future, Request, Response, Service};
use crate::upgrade;
use crate::Limits;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

/// Full bodies up to this size are copied next to the head (one write);
/// larger ones are sent as their own iovec.
const COPY_BODY_MAX: usize = 8 * 1024;
/// Buffered response bytes that force a flush even when more pipelined
/// requests are waiting.
const FLUSH_AT: usize = 64 * 1024;
/// Largest answer written before the unread rest of its request body is
/// drained (small enough for any socket send buffer to take at once).
const EARLY_ANSWER_MAX: usize = 8 * 1024;
/// Read-buffer growth step.
const READ_CHUNK: usize = 16 * 1024;

type ReadOutcome = Result<(io::Result<usize>, BytesMut), Elapsed>;

/// Read side of a connection, shared with the request body reader.
struct ReadState {
    buf: BytesMut,
    /// Body of the current request, while unread bytes remain.
    decoder: Option<BodyDecoder>,
    /// Identifies the current request's body; stale readers get nothing.
    body_id: u64,
    continue_pending: bool,
    in_flight: Option<Pin<Box<dyn Future<Output = ReadOutcome>>>>,
    error: Option<BodyError>,
    /// How the current body has kept its handler waiting.
    pace: BodyPace,
    /// The trailer fields that ended the current body, once it ended.
    trailers: Option<HeaderMap>,
}

struct Conn {
    stream: Rc<TcpStream>,
    read: RefCell<ReadState>,
    limits: Rc<Limits>,
}

fn reserve_for_read(buf: &mut BytesMut) {
    if buf.capacity() - buf.len() < READ_CHUNK / 4 {
        buf.reserve(READ_CHUNK);
    }
}

/// Reads a request body out of the connection's buffer and socket.
struct H1Body {
    conn: Rc<Conn>,
    id: u64,
}

impl BodySource for H1Body {
    fn poll_chunk(&self, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, BodyError>>> {
        let mut guard = self.conn.read.borrow_mut();
        let st = &mut *guard;
        if st.body_id != self.id {
            return Poll::Ready(None);
        }
        loop {
            if let Some(fut) = st.in_flight.as_mut() {
                let outcome = match fut.as_mut().poll(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(o) => o,
                };
                st.in_flight = None;
                st.pace.stop_waiting();
                match outcome {
                    Err(Elapsed) => st.error = Some(BodyError::Timeout),
                    Ok((Err(e), _)) => st.error = Some(BodyError::Io(e.to_string())),
                    Ok((Ok(0), buf)) => {
                        st.buf = buf;
                        st.error = Some(BodyError::Io("connection closed mid-body".into()));
                    }
                    Ok((Ok(_), buf)) => st.buf = buf,
                }
            }
            if let Some(e) = &st.error {
                return Poll::Ready(Some(Err(e.clone())));
            }
            let Some(decoder) = st.decoder.as_mut() else {
                return Poll::Ready(None);
            };
            match decoder.decode(&mut st.buf) {
                Ok(BodyEvent::Data(data)) => {
                    st.pace.received(data.len());
                    return Poll::Ready(Some(Ok(data)));
                }
                Ok(BodyEvent::End { trailers }) => {
                    st.decoder = None;
                    st.trailers = trailers;
                    return Poll::Ready(None);
                }
                Ok(BodyEvent::NeedMore) => {
                    // Everything buffered is decoded: the client has until
                    // this deadline to send more data.
                    let now = Instant::now();
                    let deadline = st.pace.wait(&self.conn.limits, now);
                    if deadline.is_some_and(|d| d <= now) {
                        st.pace.stop_waiting();
                        st.error = Some(BodyError::Timeout);
                        continue;
                    }
                    let mut buf = std::mem::take(&mut st.buf);
                    reserve_for_read(&mut buf);
                    let stream = self.conn.stream.clone();
                    let send_continue = std::mem::take(&mut st.continue_pending);
                    let write_timeout = self.conn.limits.write_timeout;
                    st.in_flight = Some(Box::pin(async move {
                        if send_continue {
                            let continue_100 = vec![Bytes::from_static(h1::CONTINUE_100)];
                            let (res, _) = stream
                                .write_all_vectored_timeout(continue_100, write_timeout)
                                .await;
                            if let Err(e) = res {
                                return Ok((Err(e), buf));
                            }
                        }
                        match deadline {
                            Some(deadline) => timeout_at(deadline, stream.read(buf)).await,
                            None => Ok(stream.read(buf).await),
                        }
                    }));
                }
                Err(e) => {
                    st.error = Some(if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                        BodyError::TooLarge
                    } else {
                        BodyError::Malformed(e.to_string())
                    });
                }
            }
        }
    }

    fn remaining_hint(&self) -> Option<u64> {
        let st = self.conn.read.borrow();
        if st.body_id != self.id {
            return Some(0);
        }
        st.decoder.as_ref().and_then(BodyDecoder::remaining)
    }

    fn trailers(&self) -> Option<HeaderMap> {
        let st = self.conn.read.borrow();
        st.trailers.clone().filter(|_| st.body_id == self.id)
    }
}

/// Whether the request body already decides that the connection ends after
/// this response, so its head can say `Connection: close`: the body failed
/// (malformed, too large, too slow); or the response is complete in memory
/// (nothing will read the body any more) while the client still waits for a
/// `100 Continue` nobody asked for, or more of the body is left than
/// `max_drain_size` allows to drain — what [`finish_body`] would find later.
/// A streamed response may still read the body (an echo does), so only a
/// failed body counts then.
fn unread_body_ends_connection(st: &ReadState, limits: &Limits, streamed: bool) -> bool {
    st.error.is_some()
        || (!streamed
            && st.decoder.as_ref().is_some_and(|d| {
                st.continue_pending || d.remaining().is_some_and(|n| n > limits.max_drain_size)
            }))
}

/// Response bytes waiting to be written.
struct Output {
    buf: BytesMut,
    chunks: Vec<Bytes>,
    /// Responses completed in `buf`/`chunks` since the last flush.
    responses: usize,
    /// How long the client may accept nothing while output waits.
    write_timeout: Duration,
}

impl Output {
    fn new(write_timeout: Duration) -> Output {
        Output {
            buf: BytesMut::with_capacity(8 * 1024),
            chunks: Vec::new(),
            responses: 0,
            write_timeout,
        }
    }

    fn len(&self) -> usize {
        self.buf.len() + self.chunks.iter().map(Bytes::len).sum::<usize>()
    }

    fn is_empty(&self) -> bool {
        self.buf.is_empty() && self.chunks.is_empty()
    }

    fn push_body(&mut self, body: Bytes) {
        if body.len() <= COPY_BODY_MAX {
            self.buf.extend_from_slice(&body);
        } else {
            if !self.buf.is_empty() {
                self.chunks.push(self.buf.split().freeze());
            }
            self.chunks.push(body);
        }
    }

    async fn flush(&mut self, stream: &TcpStream) -> io::Result<()> {
        self.responses = 0;
        if !self.buf.is_empty() {
            self.chunks.push(self.buf.split().freeze());
        }
        if self.chunks.is_empty() {
            return Ok(());
        }
        let chunks = std::mem::take(&mut self.chunks);
        let (res, mut back) = stream
            .write_all_vectored_timeout(chunks, self.write_timeout)
            .await;
        back.clear();
        self.chunks = back;
        if self.buf.capacity() < 4096 {
            self.buf.reserve(8 * 1024);
        }
        res
    }

    /// Whether the batched responses go to the socket now, before the next
    /// pipelined request is read: at [`FLUSH_AT`] bytes or after
    /// `max_pipelined_requests` responses. A client that pipelines without
    /// reading then fills the socket, the flush waits, and the server reads
    /// no more: its memory stays bounded.
    fn must_flush(&self, limits: &Limits) -> bool {
        self.len() >= FLUSH_AT || self.responses >= limits.max_pipelined_requests.max(1)
    }

    /// A short plain-text response for protocol errors; always closes.
    fn error_response(&mut self, status: StatusCode) {
        let reason = status.canonical_reason().unwrap_or("Error");
        let body = Bytes::from(format!("{} {}\n", status.as_u16(), reason));
        let mut headers = http::HeaderMap::new();
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        with_date(|date| {
            h1::encode_response_head(
                &mut self.buf,
                Version::HTTP_11,
                status,
                &headers,
                ResponseBody::Length(body.len() as u64),
                date,
                true,
            )
        });
        self.push_body(body);
    }
}

enum ReadMore {
    Data,
    Eof,
    TimedOut,
    Failed,
}

async fn read_more(conn: &Conn, deadline: Instant) -> ReadMore {
    let mut buf = std::mem::take(&mut conn.read.borrow_mut().buf);
    reserve_for_read(&mut buf);
    match timeout_at(deadline, conn.stream.read(buf)).await {
        Err(Elapsed) => ReadMore::TimedOut,
        Ok((res, buf)) => {
            conn.read.borrow_mut().buf = buf;
            match res {
                Ok(0) => ReadMore::Eof,
                Ok(_) => ReadMore::Data,
                Err(_) => ReadMore::Failed,
            }
        }
    }
}

enum Preface {
    Complete,
    Partial,
    No,
}

/// Whether `buf` starts with (a prefix of) the HTTP/2 client preface.
fn h2_preface(buf: &[u8]) -> Preface {
    let n = buf.len().min(PREFACE.len());
    if n == 0 || buf[..n] != PREFACE[..n] {
        Preface::No
    } else if n == PREFACE.len() {
        Preface::Complete
    } else {
        Preface::Partial
    }
}

/// The decoded `HTTP2-Settings` of an `Upgrade: h2c` request (RFC 7540
/// §3.2), if the request asks for h2c properly.
fn h2c_upgrade_settings(headers: &http::HeaderMap) -> Option<Vec<u8>> {
    let upgrade = headers.get(http::header::UPGRADE)?.to_str().ok()?;
    if !upgrade
        .split(',')
        .any(|t| t.trim().eq_ignore_ascii_case("h2c"))
    {
        return None;
    }
    if !upgrade::connection_has(headers, "upgrade")
        || !upgrade::connection_has(headers, "http2-settings")
    {
        return None;
    }
    let mut values = headers.get_all("http2-settings").iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return None;
    };
    URL_SAFE_NO_PAD
        .decode(
            value
                .as_bytes()
                .trim_ascii_end()
                .strip_suffix(b"=")
                .unwrap_or(value.as_bytes()),
        )
        .ok()
}

fn wants_close(headers: &http::HeaderMap) -> bool {
    upgrade::connection_has(headers, "close")
}

/// Writes a 101 response and hands the connection, with the bytes read past
/// the request head, to the handler's [`upgrade::OnUpgrade`].
async fn switch_protocols(
    conn: &Conn,
    out: &mut Output,
    resp: Response,
    pending: upgrade::PendingUpgrade,
    cfg: &ConnConfig,
    guard: ConnGuard,
) {
    with_date(|date| {
        h1::encode_response_head(
            &mut out.buf,
            Version::HTTP_11,
            StatusCode::SWITCHING_PROTOCOLS,
            resp.headers(),
            ResponseBody::Empty,
            date,
            false,
        )
    });
    if out.flush(&conn.stream).await.is_ok() {
        let read_buf = std::mem::take(&mut conn.read.borrow_mut().buf);
        pending.fulfil(upgrade::Upgraded::new(
            conn.stream.clone(),
            read_buf,
            cfg.shutdown.clone(),
            guard,
            cfg.limits.write_timeout,
        ));
    }
}

/// Serves HTTP/1.1 (and 1.0) on `stream` until the client leaves, an error
/// closes the connection, or the server shuts down.
pub async fn serve_h1<S: Service>(stream: TcpStream, service: Rc<S>, cfg: ConnConfig) {
    let guard = cfg.connections.enter();
    let _ = stream.set_nodelay(true);
    let conn = Rc::new(Conn {
        stream: Rc::new(stream),
        read: RefCell::new(ReadState {
            buf: BytesMut::with_capacity(READ_CHUNK),
            decoder: None,
            body_id: 0,
            continue_pending: false,
            in_flight: None,
            error: None,
            pace: BodyPace::default(),
            trailers: None,
        }),
        limits: cfg.limits.clone(),
    });
    let limits = cfg.limits.clone();
    let mut out = Output::new(limits.write_timeout);
    let mut first_request = true;
    loop {
        // Read one request head.
        let mut head_deadline: Option<Instant> = None;
        let head = loop {
            if first_request && cfg.http2 {
                let preface = h2_preface(&conn.read.borrow().buf);
                match preface {
                    Preface::Complete => {
                        let read_buf = std::mem::take(&mut conn.read.borrow_mut().buf);
                        let h2 = ServerConnection::new(&limits);
                        serve_h2(conn.stream.clone(), read_buf, service, cfg, h2, None).await;
                        return;
                    }
                    Preface::Partial => {
                        // Wait for the rest of the preface (the parser would call it HTTP/2.0).
                        let deadline = *head_deadline
                            .get_or_insert_with(|| Instant::now() + limits.header_read_timeout);
                        match read_more(&conn, deadline).await {
                            ReadMore::Data => continue,
                            _ => return,
                        }
                    }
                    Preface::No => {}
                }
            }
            let parsed = h1::parse_request_head(&mut conn.read.borrow_mut().buf, &limits);
            match parsed {
                Ok(Some(head)) => break head,
                Ok(None) => {}
                Err(e) => {
                    out.error_response(e.status());
                    let _ = out.flush(&conn.stream).await;
                    linger_close(&conn.stream).await;
                    return;
                }
            }
            // Nothing complete is buffered: send pending responses first.
            if !out.is_empty() && out.flush(&conn.stream).await.is_err() {
                return;
            }
            // Part of a request head is buffered.
            let head_started = !conn.read.borrow().buf.is_empty();
            // Bytes of this request arrived (perhaps only empty lines the
            // parser discarded): the header-read deadline runs, not the idle one.
            let partial = head_started || head_deadline.is_some();
            let outcome = if partial {
                let deadline = *head_deadline
                    .get_or_insert_with(|| Instant::now() + limits.header_read_timeout);
                read_more(&conn, deadline).await
            } else {
                if cfg.shutdown.is_triggered() {
                    return;
                }
                let deadline = Instant::now() + limits.keep_alive_timeout;
                match race(read_more(&conn, deadline), cfg.shutdown.wait()).await {
                    Either::Left(outcome) => outcome,
                    Either::Right(()) => return,
                }
            };
            match outcome {
                ReadMore::Data => {
                    head_deadline
                        .get_or_insert_with(|| Instant::now() + limits.header_read_timeout);
                }
                // Only empty lines came (some clients send a stray CRLF after
                // a body): close quietly, as when idle, rather than answer a
                // request that never started.
                ReadMore::TimedOut if head_started => {
                    out.error_response(StatusCode::REQUEST_TIMEOUT);
                    let _ = out.flush(&conn.stream).await;
                    linger_close(&conn.stream).await;
                    return;
                }
                ReadMore::TimedOut | ReadMore::Eof | ReadMore::Failed => return,
            }
        };

        // Build the request, with a body reader when a body follows.
        let body = {
            let mut st = conn.read.borrow_mut();
            st.body_id += 1;
            st.error = None;
            st.trailers = None;
            st.continue_pending = false;
            match head.body {
                BodyKind::Empty => {
                    st.decoder = None;
                    RequestBody::empty()
                }
                kind => {
                    st.decoder = Some(BodyDecoder::new(kind, &limits));
                    st.continue_pending = head.expect_continue && head.version == Version::HTTP_11;
                    st.pace = BodyPace::default();
                    RequestBody::from_source(Rc::new(H1Body {
                        conn: conn.clone(),
                        id: st.body_id,
                    }))
                }
            }
        };
        // The handler's first read of this body sends `100 Continue`
        // straight to the socket: answers to earlier pipelined requests
        // must be out before it.
        if conn.read.borrow().continue_pending
            && !out.is_empty()
            && out.flush(&conn.stream).await.is_err()
        {
            return;
        }
        let version = head.version;
        let is_head = head.method == Method::HEAD;
        // `Connection: upgrade` with an `Upgrade` field, as the parser saw it:
        // the only requests the header lookups below can apply to.
        let may_upgrade = version == Version::HTTP_11
            && matches!(head.body, BodyKind::Empty)
            && head.upgrade.is_some();
        let mut keep_alive = head.keep_alive;
        let mut req = Request::new(body);
        *req.method_mut() = head.method;
        *req.uri_mut() = head.uri;
        *req.version_mut() = head.version;
        *req.headers_mut() = head.headers;
        first_request = false;
        if cfg.http2 && may_upgrade {
            if let Some(settings) = h2c_upgrade_settings(req.headers()) {
                // RFC 7540 §3.2: 101, then HTTP/2 with this request as stream 1.
                out.buf.extend_from_slice(
                    b"HTTP/1.1 101 Switching Protocols\r\nconnection: Upgrade\r\nupgrade: h2c\r\n\r\n",
                );
                if out.flush(&conn.stream).await.is_err() {
                    return;
                }
                let Ok(h2) = ServerConnection::new_upgraded(&limits, &settings) else {
                    return;
                };
                *req.version_mut() = Version::HTTP_2;
                let read_buf = std::mem::take(&mut conn.read.borrow_mut().buf);
                serve_h2(conn.stream.clone(), read_buf, service, cfg, h2, Some(req)).await;
                return;
            }
        }
        let mut pending_upgrade = None;
        if may_upgrade && upgrade::wants_upgrade(req.headers()) {
            let (pending, on_upgrade) = upgrade::pending();
            req.extensions_mut().insert(on_upgrade);
            pending_upgrade = Some(pending);
        }

        let mut resp = match catch_unwind_future(service.call(req)).await {
            Ok(resp) => resp,
            Err(panic) => {
                tracing::error!("handler panicked: {panic}");
                keep_alive = false;
                internal_error()
            }
        };
        if resp.status() == StatusCode::SWITCHING_PROTOCOLS {
            match pending_upgrade.take() {
                Some(pending) => {
                    switch_protocols(&conn, &mut out, resp, pending, &cfg, guard).await;
                    return;
                }
                None => {
                    tracing::error!("handler answered 101 to a request that cannot be upgraded");
                    keep_alive = false;
                    resp = internal_error();
                }
            }
        }
        // Any other answer keeps the connection on HTTP/1.1.
        drop(pending_upgrade);
        if cfg.shutdown.is_triggered() || wants_close(resp.headers()) {
            keep_alive = false;
        }
        if write_response(&conn, &mut out, version, resp, is_head, &mut keep_alive)
            .await
            .is_err()
        {
            return;
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
            if body_unfinished(&conn)
                && !out.is_empty()
                && out.len() <= EARLY_ANSWER_MAX
                && out.flush(&conn.stream).await.is_err()
            {
                return;
            }
            keep_alive = finish_body(&conn).await;
        }
        if !keep_alive {
            if out.flush(&conn.stream).await.is_ok() {
                linger_close(&conn.stream).await;
            }
            return;
        }
        out.responses += 1;
        if out.must_flush(&limits) && out.flush(&conn.stream).await.is_err() {
            return;
        }
    }
}

/// Whether some of the current request body is still to be read.
fn body_unfinished(conn: &Conn) -> bool {
    let st = conn.read.borrow();
    st.decoder.is_some() || st.in_flight.is_some()
}

/// Reads and discards what the handler left of the request body, up to
/// `max_drain_size`. Returns whether the connection can be reused.
async fn finish_body(conn: &Rc<Conn>) -> bool {
    let id = conn.read.borrow().body_id;
    if !body_unfinished(conn) {
        return conn.read.borrow().error.is_none();
    }
    // A fresh reader for the same body (the handler's may be gone).
    let mut body = RequestBody::from_source(Rc::new(H1Body {
        conn: conn.clone(),
        id,
    }));
    // Never send 100 Continue just to drain a body nobody wanted.
    if conn.read.borrow().continue_pending {
        return false;
    }
    let mut drained = 0u64;
    let limit = conn.limits.max_drain_size;
    while let Some(chunk) = body.chunk().await {
        match chunk {
            Ok(c) => {
                drained += c.len() as u64;
                if drained > limit {
                    return false;
                }
            }
            Err(_) => return false,
        }
    }
    let st = conn.read.borrow();
    st.error.is_none() && st.decoder.is_none()
}

/// Encodes the response head and body into `out`, flushing as a streamed
/// body produces chunks.
async fn write_response(
    conn: &Conn,
    out: &mut Output,
    req_version: Version,
    resp: Response,
    is_head: bool,
    keep_alive: &mut bool,
) -> io::Result<()> {
    let (parts, mut body) = resp.into_parts();
    let status = parts.status;
    let no_body = has_no_body(status, is_head);
    let version = if req_version == Version::HTTP_10 {
        Version::HTTP_10
    } else {
        Version::HTTP_11
    };
    let framing = match &body {
        Body::Empty => ResponseBody::Length(0),
        Body::Full(b) => ResponseBody::Length(b.len() as u64),
        Body::Stream(s) => match s.size_hint() {
            Some(n) => ResponseBody::Length(n),
            // HTTP/1.0 has no chunked coding: the close ends the body.
            None if version == Version::HTTP_10 => {
                *keep_alive = false;
                ResponseBody::CloseDelimited
            }
            None => ResponseBody::Chunked,
        },
    };
    // A streamed body that fails before its first byte (a malformed request
    // body being echoed, say) still gets an honest status.
    let mut first_poll: Option<Option<io::Result<Bytes>>> = None;
    if let Body::Stream(s) = &mut body {
        match race(next_chunk(s), std::future::ready(())).await {
            Either::Left(Some(Err(e))) => {
                *keep_alive = false;
                let status = e
                    .get_ref()
                    .and_then(|inner| inner.downcast_ref::<BodyError>())
                    .map_or(StatusCode::INTERNAL_SERVER_ERROR, BodyError::status);
                out.error_response(status);
                return Ok(());
            }
            Either::Left(polled) => first_poll = Some(polled),
            Either::Right(()) => {}
        }
    }
    let streamed = matches!(body, Body::Stream(_));
    if unread_body_ends_connection(&conn.read.borrow(), &conn.limits, streamed) {
        *keep_alive = false;
    }
    let close = !*keep_alive;
    with_date(|date| {
        h1::encode_response_head(
            &mut out.buf,
            version,
            status,
            &parts.headers,
            framing,
            date,
            close,
        )
    });
    crate::header_pool::recycle(parts.headers);
    if no_body {
        return Ok(());
    }
    match &mut body {
        Body::Empty => Ok(()),
        Body::Full(b) => {
            out.push_body(std::mem::take(b));
            Ok(())
        }
        Body::Stream(s) => {
            let declared = match framing {
                ResponseBody::Length(n) => Some(n),
                _ => None,
            };
            let mut sent = 0u64;
            loop {
                let chunk = match first_poll.take() {
                    Some(polled) => polled,
                    None => next_chunk(s).await,
                };
                let Some(chunk) = chunk else { break };
                let chunk = match chunk {
                    Ok(c) => c,
                    Err(e) => {
                        // Mid-body failure: the only honest signal left is to close.
                        *keep_alive = false;
                        let _ = out.flush(&conn.stream).await;
                        return Err(e);
                    }
                };
                if chunk.is_empty() {
                    continue;
                }
                sent += chunk.len() as u64;
                if declared.is_some_and(|n| sent > n) {
                    *keep_alive = false;
                    return Err(io::Error::other("response body longer than its length"));
                }
                if framing == ResponseBody::Chunked {
                    h1::encode_chunk_header(&mut out.buf, chunk.len());
                    out.push_body(chunk);
                    out.buf.extend_from_slice(b"\r\n");
                } else {
                    out.push_body(chunk);
                }
                out.flush(&conn.stream).await?;
            }
            match declared {
                None if framing == ResponseBody::Chunked => {
                    let trailers = s.as_mut().take_trailers();
                    h1::encode_last_chunk(&mut out.buf, trailers.as_ref());
                }
                None => {} // close-delimited: the close ends it
                Some(n) if sent < n => {
                    *keep_alive = false;
                    let _ = out.flush(&conn.stream).await;
                    return Err(io::Error::other("response body shorter than its length"));
                }
                Some(_) => {}
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batched_responses_are_flushed_by_count_and_by_size() {
        let limits = Limits {
            max_pipelined_requests: 4,
            ..Limits::default()
        };
        let mut out = Output::new(limits.write_timeout);
        out.buf.extend_from_slice(b"HTTP/1.1 200 OK\r\n\r\n");
        out.responses = 3;
        assert!(!out.must_flush(&limits));
        out.responses = 4;
        assert!(out.must_flush(&limits));
        out.responses = 1;
        out.push_body(Bytes::from(vec![b'x'; FLUSH_AT]));
        assert!(out.must_flush(&limits), "64 KiB waiting is flushed");
        let zero = Limits {
            max_pipelined_requests: 0,
            ..Limits::default()
        };
        let mut one = Output::new(zero.write_timeout);
        one.responses = 1;
        assert!(one.must_flush(&zero), "0 means every response");
    }
}
