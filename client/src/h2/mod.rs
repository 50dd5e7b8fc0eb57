//! HTTP/2 with prior knowledge (h2c): the client side of
//! [`percore_http::h2::conn::ClientConnection`] on the runtime.
//!
//! Per origin the client keeps HTTP/2 connections, each run by its own
//! tasks ([`conn`]). A request opens a stream on the first connection
//! with room under the server's SETTINGS_MAX_CONCURRENT_STREAMS; when
//! every one is full, a new connection opens (within the pool's limits,
//! each connection holding one of its permits); when the limits allow
//! none, the request waits (at most the pool-wait timeout) for a stream
//! to end or a connection to open. A stream the server refused —
//! RST_STREAM(REFUSED_STREAM), or above the last stream id of a GOAWAY —
//! was not processed and is sent again once, on a connection that takes
//! streams; an idempotent request with a replayable body whose
//! connection closed under it (no GOAWAY) is sent again once too. An idle
//! connection closes (GOAWAY) after the idle timeout.
//!
//! Timeouts are HTTP/1.1's: connect, total, read (the response head,
//! each body chunk, and a request body stalled on the server's window),
//! pool wait. Dropping a response before its end resets its stream
//! (CANCEL) and gives its unread bytes back to the connection window.
//!
//! Over TLS, ALPN decides: an `https` connection whose server chose `h2`
//! is adopted here ([`H2Pool::adopt`]) and its origin remembered, so the
//! origin's later requests come straight here and share it; a new
//! connection this pool opens to such an origin must negotiate `h2` too.

mod body;
mod conn;
mod head;
mod tunnel;

use std::cell::RefCell;
use std::future::poll_fn;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{self, HeaderMap};
use http::Version;
use percore_http::h2::conn::OpenError;
use percore_http::h2::ErrorCode;
use percore_http::{Body, Limits};
use percore_runtime::future::{race, Either};
use percore_runtime::time::timeout_at;

use crate::alpn::{AlpnMemo, Proto};
use crate::client::{idempotent, Prepared};
use crate::connect::{connect, Stream};
use crate::decode::{Coding, Decoder};
use crate::error::{Error, ErrorKind, TimeoutKind};
use crate::pool::{Acquired, Origin, OriginMap, Permit, Pool};
use crate::response::{Fields, Response};
use crate::within::read_bounded;
pub(crate) use body::{AnyBody, H2Body};
pub(crate) use conn::Room;
use conn::Shared;
use head::{fields, request_head, Outgoing};
pub(crate) use tunnel::open as open_tunnel;

/// Request body bytes queued on a stream before its sender waits for
/// the server's window.
const SEND_QUEUE: usize = 64 * 1024;

/// The HTTP/2 connections of one client, per origin.
#[derive(Clone, Default)]
pub(crate) struct H2Pool {
    origins: Rc<RefCell<OriginMap<Conns>>>,
    /// What the `https` origins chose by ALPN.
    pub alpn: AlpnMemo,
}

#[derive(Default)]
struct Conns {
    list: Vec<Rc<Shared>>,
    room: Rc<Room>,
}

/// What sending over HTTP/2 needs from the client.
pub(crate) struct Ctx<'a> {
    pub pool: &'a Pool,
    pub limits: &'a Limits,
    pub unix_socket: Option<&'a std::path::Path>,
    pub connect_timeout: Option<Duration>,
    pub read_timeout: Option<Duration>,
    pub pool_wait: Option<Duration>,
    pub idle_timeout: Duration,
    pub max_body: u64,
    /// Connects `https` origins (ALPN `h2` and `http/1.1`).
    pub tls: &'a percore_tls::TlsConnector,
    /// PING keep-alive, when on.
    pub keep_alive: Option<crate::client::KeepAlive>,
}

/// A stream of one request, reset (CANCEL) when dropped before the
/// response completed.
pub(crate) struct StreamRef {
    shared: Rc<Shared>,
    id: u32,
}

impl Drop for StreamRef {
    fn drop(&mut self) {
        self.shared.forget(self.id);
    }
}

/// What a scan of an origin's connections found.
enum Scan {
    /// A stream opened on a connection with room.
    Opened(StreamRef),
    /// No room: the connection still being opened, if any, to wait for.
    Wait(Option<Rc<Shared>>),
}

/// How waiting for a response head ended.
enum Head {
    Ready(http::Response<()>),
    /// The server refused the stream: it did not process the request.
    Refused,
    /// The connection failed before the head: the request may or may not
    /// have been processed.
    Lost(Error),
}

impl H2Pool {
    /// Takes a new TLS connection whose server chose `h2` by ALPN (opened
    /// for HTTP/1.1 under `permit`); from now on the origin's requests
    /// come here.
    pub(crate) fn adopt(&self, ctx: &Ctx<'_>, origin: &Origin, stream: Stream, permit: Permit) {
        self.alpn.set(origin, Proto::H2);
        let room = self.room(origin);
        self.start(ctx, origin, &room, permit, async move { Ok(stream) });
    }

    fn room(&self, origin: &Origin) -> Rc<Room> {
        self.origins
            .borrow_mut()
            .entry(origin.clone())
            .or_default()
            .room
            .clone()
    }

    /// Runs a new connection of `origin` (`connecting` opens it) under
    /// `permit`, listed among the origin's connections until it closes.
    fn start(
        &self,
        ctx: &Ctx<'_>,
        origin: &Origin,
        room: &Rc<Room>,
        permit: Permit,
        connecting: impl std::future::Future<Output = Result<Stream, Error>> + 'static,
    ) -> Rc<Shared> {
        let shared = Rc::new(Shared::new(ctx.limits, room.clone()));
        self.origins
            .borrow_mut()
            .entry(origin.clone())
            .or_default()
            .list
            .push(shared.clone());
        let (origins, key, me) = (self.origins.clone(), origin.clone(), shared.clone());
        let on_close = move || {
            if let Some(c) = origins.borrow_mut().get_mut(&key) {
                c.list.retain(|s| !Rc::ptr_eq(s, &me));
            }
            drop(permit);
        };
        percore_runtime::spawn_local(conn::run(
            shared.clone(),
            connecting,
            ctx.idle_timeout,
            ctx.keep_alive,
            on_close,
        ));
        shared
    }

    /// Opens a stream for `request` on a connection with room, opening a
    /// connection when none has. An extended CONNECT (a request with a
    /// `Protocol` extension) on a connection whose server did not offer it
    /// fails with [`ErrorKind::Handshake`] (the only error of that kind
    /// here).
    async fn open(
        &self,
        ctx: &Ctx<'_>,
        origin: &Origin,
        request: Outgoing<'_>,
        end_stream: bool,
    ) -> Result<StreamRef, Error> {
        let tunnel = request.is_tunnel();
        // The origin's room and the pool-wait deadline are only needed
        // when the request has to wait: taken then (most find room at once).
        let mut room = None;
        let mut wait_until = None;
        let mut waited_on: Option<Rc<Shared>> = None;
        loop {
            if let Some(w) = &waited_on {
                // The connection we waited for failed before the server's
                // SETTINGS (it could not connect, or does not speak h2c).
                let st = w.st.borrow();
                if !st.ready {
                    if let Some(e) = st.error() {
                        return Err(e);
                    }
                }
            }
            let connecting = match self.try_open(origin, request, end_stream, tunnel)? {
                Scan::Opened(stream) => return Ok(stream),
                Scan::Wait(connecting) => connecting,
            };
            let room: &Rc<Room> = room.get_or_insert_with(|| self.room(origin));
            let wait_until =
                *wait_until.get_or_insert_with(|| ctx.pool_wait.map(|d| crate::now() + d));
            if let Some(c) = connecting {
                waited_on = Some(c);
                bounded(wait_until, room.changed()).await?;
                continue;
            }
            // Every connection is full or closing: a new one, or room.
            match bounded(
                wait_until,
                race(ctx.pool.acquire(origin, true), room.changed()),
            )
            .await?
            {
                Either::Left(Acquired::Slot(permit)) => {
                    let (o, unix, within, tls) = (
                        origin.clone(),
                        ctx.unix_socket.map(std::path::PathBuf::from),
                        ctx.connect_timeout,
                        ctx.tls.clone(),
                    );
                    let alpn = self.alpn.clone();
                    let connecting = async move {
                        let stream = connect(&o, unix.as_deref(), within, &tls).await?;
                        if o.is_tls() && !stream.alpn_h2() {
                            // The server no longer chooses h2 (or never
                            // did, under prior knowledge).
                            alpn.forget(&o);
                            return Err(Error::new(
                                ErrorKind::Protocol,
                                "the server did not choose HTTP/2 (h2) by ALPN",
                            ));
                        }
                        if o.is_tls() {
                            // Opened for a request that asked for HTTP/2
                            // (a WebSocket): the origin's other requests
                            // come here too.
                            alpn.set(&o, Proto::H2);
                        }
                        Ok(stream)
                    };
                    waited_on = Some(self.start(ctx, origin, room, permit, connecting));
                }
                Either::Left(Acquired::Reused(h1)) => drop(h1),
                Either::Right(()) => {}
            }
        }
    }
}

impl H2Pool {
    /// Opens a stream for `request` on one of `origin`'s connections with
    /// room, else names a connection still being opened to wait for.
    /// Synchronous: the origin list is borrowed, not copied.
    fn try_open(
        &self,
        origin: &Origin,
        request: Outgoing<'_>,
        end_stream: bool,
        tunnel: bool,
    ) -> Result<Scan, Error> {
        let mut connecting = None;
        let origins = self.origins.borrow();
        let conns = origins.get(origin).map_or(&[][..], |c| &c.list[..]);
        for shared in conns {
            let mut st = shared.st.borrow_mut();
            if st.has_room() {
                if tunnel && !st.conn.extended_connect_allowed() {
                    return Err(Error::new(
                        ErrorKind::Handshake,
                        "the server does not offer WebSocket over HTTP/2 \
                         (no SETTINGS_ENABLE_CONNECT_PROTOCOL, RFC 8441)",
                    ));
                }
                let sent = match request {
                    Outgoing::Request(r) => st.conn.send_request(r, end_stream),
                    Outgoing::Head(h) => st.conn.send_head(h, end_stream),
                };
                let id = match sent {
                    Ok(id) => id,
                    Err(OpenError::InvalidRequest(why)) => {
                        return Err(Error::new(ErrorKind::Builder, why))
                    }
                    Err(_) => continue,
                };
                st.slots.insert(id, conn::Slot::default());
                st.kick();
                return Ok(Scan::Opened(StreamRef {
                    shared: shared.clone(),
                    id,
                }));
            }
            if !st.ready && st.failure.is_none() {
                connecting = Some(shared.clone());
            }
        }
        Ok(Scan::Wait(connecting))
    }
}

/// `fut`, failing with the pool-wait timeout at `until`.
async fn bounded<F: std::future::Future>(
    until: Option<Instant>,
    fut: F,
) -> Result<F::Output, Error> {
    match until {
        Some(at) => timeout_at(at, fut)
            .await
            .map_err(|_| Error::timeout(TimeoutKind::PoolWait)),
        None => Ok(fut.await),
    }
}

/// Sends `req` over HTTP/2 and returns its response once the head came;
/// a refused stream is sent once more.
pub(crate) async fn send(
    pool: &H2Pool,
    ctx: Ctx<'_>,
    origin: &Origin,
    req: &mut Prepared,
    headers: &HeaderMap,
    decode: bool,
    deadline: Option<Instant>,
) -> Result<Response, Error> {
    let mut retried = false;
    loop {
        let mut body = match &req.body {
            Body::Full(b) => Body::Full(b.clone()),
            Body::Empty => Body::Empty,
            Body::Stream(_) => std::mem::take(&mut req.body),
        };
        let fields = fields(headers, &body);
        let empty = match &body {
            Body::Empty => true,
            Body::Full(b) => b.is_empty(),
            Body::Stream(s) => s.size_hint() == Some(0),
        };
        let head = request_head(req, &fields);
        let stream = pool
            .open(&ctx, origin, Outgoing::Head(&head), empty)
            .await?;
        drop(fields);
        let polled = match send_body(&stream, &mut body, empty, &ctx, deadline).await {
            Ok(polled) => polled,
            Err(e) => return Err(e),
        };
        match wait_head(&stream, ctx.read_timeout, deadline).await? {
            Head::Ready(head) => {
                return Ok(response(stream, head, decode, &ctx, deadline));
            }
            Head::Refused if !retried && (!req.streamed || !polled) => {
                tracing::debug!("HTTP/2 stream refused; sending the request again");
                if let Body::Stream(_) = body {
                    req.body = body;
                }
                retried = true;
            }
            // Like a stale HTTP/1.1 connection: a server that closed the
            // connection (without GOAWAY) under a new stream. Not a peer
            // found dead by keep-alive: the request waited long enough.
            Head::Lost(e)
                if !retried
                    && idempotent(&req.method)
                    && !req.streamed
                    && e.kind() != ErrorKind::Timeout(TimeoutKind::KeepAlive) =>
            {
                tracing::debug!("HTTP/2 connection lost before the answer ({e}); retrying");
                retried = true;
            }
            Head::Lost(e) => return Err(e),
            Head::Refused => {
                return Err(Error::new(
                    ErrorKind::Protocol,
                    "the server refused the HTTP/2 stream (REFUSED_STREAM)",
                ))
            }
        }
    }
}

/// Queues the request body on its stream, waiting for the server's
/// window whenever more than [`SEND_QUEUE`] bytes wait; returns whether a
/// stream body was polled (then it cannot be sent again).
async fn send_body(
    stream: &StreamRef,
    body: &mut Body,
    empty: bool,
    ctx: &Ctx<'_>,
    deadline: Option<Instant>,
) -> Result<bool, Error> {
    let shared = &stream.shared;
    let id = stream.id;
    let gone = || {
        Error::new(
            ErrorKind::Protocol,
            "the HTTP/2 stream ended before its request body",
        )
    };
    if empty {
        return Ok(false);
    }
    let mut s = match std::mem::take(body) {
        Body::Empty => return Ok(false),
        Body::Full(b) => {
            // A refusal may still come: the body stays for a retry.
            *body = Body::Full(b.clone());
            let mut st = shared.st.borrow_mut();
            st.conn.send_data(id, b, true).map_err(|_| gone())?;
            st.kick();
            return Ok(false);
        }
        Body::Stream(s) => s,
    };
    loop {
        let next = read_bounded(
            ctx.read_timeout,
            deadline,
            poll_fn(|cx| s.as_mut().poll_next(cx)),
        )
        .await?;
        if queue(shared, id, next, &mut s)? {
            return Ok(true);
        }
        // Back-pressure: wait for the writer while the server's window
        // keeps too much queued; a server that stops reading ends in the
        // read timeout.
        read_bounded(
            ctx.read_timeout,
            deadline,
            poll_fn(|cx| send_room(shared, id, cx)),
        )
        .await?;
    }
}

/// Ready once stream `id` has at most [`SEND_QUEUE`] bytes waiting for the
/// server's window (or the connection failed).
fn send_room(shared: &Shared, id: u32, cx: &mut Context<'_>) -> Poll<()> {
    let mut st = shared.st.borrow_mut();
    let queued = st.conn.queued(id).unwrap_or(0);
    if queued <= SEND_QUEUE || st.failure.is_some() {
        return Poll::Ready(());
    }
    st.wait_send(cx.waker());
    Poll::Pending
}

/// Queues one piece of a streamed request body (`None`: its end, with
/// its trailers); true once the body is over (ended, or the stream reset).
fn queue(
    shared: &Shared,
    id: u32,
    next: Option<Result<Bytes, std::io::Error>>,
    s: &mut std::pin::Pin<Box<dyn percore_http::BodyStream>>,
) -> Result<bool, Error> {
    let gone = || {
        Error::new(
            ErrorKind::Protocol,
            "the HTTP/2 stream ended before its request body",
        )
    };
    let mut st = shared.st.borrow_mut();
    if st.slots.get(&id).is_some_and(|s| s.reset.is_some()) {
        return Ok(true); // the head wait reports it
    }
    match next {
        Some(Ok(chunk)) if chunk.is_empty() => Ok(false),
        Some(Ok(chunk)) => {
            st.conn.send_data(id, chunk, false).map_err(|_| gone())?;
            st.kick();
            Ok(false)
        }
        Some(Err(e)) => Err(Error::with_source(
            ErrorKind::Io,
            "the request body stream failed",
            e,
        )),
        None => {
            match s.as_mut().take_trailers() {
                Some(t) => st.conn.send_trailers(id, t),
                None => st.conn.send_data(id, Bytes::new(), true),
            }
            .map_err(|_| gone())?;
            st.kick();
            Ok(true)
        }
    }
}

/// Waits for the final response head of `stream`.
async fn wait_head(
    stream: &StreamRef,
    read: Option<Duration>,
    total: Option<Instant>,
) -> Result<Head, Error> {
    let shared = &stream.shared;
    let id = stream.id;
    read_bounded(
        read,
        total,
        poll_fn(|cx| {
            let mut st = shared.st.borrow_mut();
            let Some(slot) = st.slots.get_mut(&id) else {
                return Poll::Ready(Err(Error::new(ErrorKind::Protocol, "HTTP/2 stream lost")));
            };
            if let Some(head) = slot.head.take() {
                return Poll::Ready(Ok(Head::Ready(head)));
            }
            match slot.reset {
                Some(ErrorCode::RefusedStream) => return Poll::Ready(Ok(Head::Refused)),
                Some(code) => {
                    return Poll::Ready(Err(Error::new(
                        ErrorKind::Protocol,
                        format!("the server reset the HTTP/2 stream ({code:?})"),
                    )))
                }
                None => {}
            }
            if let Some(e) = st.error() {
                return Poll::Ready(Ok(Head::Lost(e)));
            }
            st.wait_slot(id, cx.waker());
            Poll::Pending
        }),
    )
    .await?
}

/// The response to hand out, its body read from the stream.
fn response(
    stream: StreamRef,
    head: http::Response<()>,
    decode: bool,
    ctx: &Ctx<'_>,
    deadline: Option<Instant>,
) -> Response {
    let (parts, ()) = head.into_parts();
    let mut headers = parts.headers;
    let no_body = stream
        .shared
        .st
        .borrow()
        .slots
        .get(&stream.id)
        .is_some_and(|s| s.end && s.data.is_empty());
    let decoder = headers
        .get(header::CONTENT_ENCODING)
        .filter(|_| decode && !no_body)
        .and_then(|v| Coding::from_header(v.as_bytes()))
        .map(Decoder::new);
    if decoder.is_some() {
        headers.remove(header::CONTENT_ENCODING);
        headers.remove(header::CONTENT_LENGTH);
    }
    let body = H2Body::new(stream, ctx.read_timeout, deadline);
    Response::new(
        parts.status,
        Version::HTTP_2,
        Fields::Map(headers),
        Some(AnyBody::H2(body)),
        decoder,
        ctx.max_body,
    )
}
