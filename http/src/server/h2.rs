//! The HTTP/2 server connection: runs [`ServerConnection`] on a socket and
//! each stream's request through the service as its own task on this core.
//!
//! One task owns the socket: it reads, feeds the connection, dispatches
//! events, and writes what the connection produces. Stream tasks queue
//! response heads and data into the connection and wake the socket task;
//! they wait while their stream has [`STREAM_HIGH_WATER`] bytes queued
//! (back-pressure from the peer's flow-control window).

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::future::{poll_fn, Future};
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use http::header::{CONNECTION, CONTENT_LENGTH, DATE, TRANSFER_ENCODING, UPGRADE};
use http::response::Parts;
use http::{HeaderMap, Method, StatusCode};
use percore_runtime::future::{race, Either};
use percore_runtime::net::TcpStream;
use percore_runtime::time::{sleep_until, timeout_at, Elapsed, Sleep};
use percore_runtime::{spawn_local, JoinHandle};

use super::body_pace::BodyPace;
use super::exchange::{call_handler, has_no_body, PeekedBody};
use super::header_cache::{date_value, length_value};
use super::{linger_close, ConnConfig};
use crate::body::{Body, BodyError, BodySource, BodyStream, RequestBody};
use crate::h2::conn::{Event, ServerConnection, STREAM_HIGH_WATER};
use crate::h2::{ErrorCode, StreamIdHasher};
use crate::service::{Request, Response, Service};
use crate::Limits;

/// Output written per socket write, at most (then input gets a turn).
const WRITE_BATCH: usize = 256 * 1024;
/// Read-buffer growth step.
const READ_CHUNK: usize = 32 * 1024;

type ReadFuture = Pin<Box<dyn Future<Output = (io::Result<usize>, BytesMut)>>>;

/// A request body arriving as DATA frames.
#[derive(Default)]
struct BodyQueue {
    chunks: VecDeque<Bytes>,
    end: bool,
    error: Option<BodyError>,
    waker: Option<Waker>,
    /// The handler dropped its reader: further data is released at once.
    abandoned: bool,
    /// The trailing HEADERS that ended the body.
    trailers: Option<HeaderMap>,
    /// How the body has kept its handler waiting (the slow-body rule).
    pace: BodyPace,
    /// Ends the current wait once the client has been too slow.
    wait_timer: Option<Sleep>,
}

impl BodyQueue {
    /// The handler got what it waited for.
    fn stop_waiting(&mut self) {
        self.pace.stop_waiting();
        self.wait_timer = None;
    }

    /// Whether the client has kept the handler waiting too long
    /// ([`BodyPace`]); otherwise arms a timer that wakes `cx` when it will.
    fn waited_too_long(&mut self, limits: &Limits, cx: &mut Context<'_>) -> bool {
        let now = Instant::now();
        let Some(deadline) = self.pace.wait(limits, now) else {
            return false;
        };
        if now >= deadline {
            return true;
        }
        let timer = self.wait_timer.get_or_insert_with(|| sleep_until(deadline));
        if timer.deadline() != deadline {
            timer.reset(deadline);
        }
        Pin::new(timer).poll(cx).is_ready()
    }
}

/// The driver's view of a stream.
#[derive(Default)]
struct StreamTask {
    body: Option<Rc<RefCell<BodyQueue>>>,
    task: Option<JoinHandle<()>>,
    /// The response writer waits for queue space.
    writer: Option<Waker>,
}

struct Shared {
    conn: ServerConnection,
    streams: HashMap<u32, StreamTask, StreamIdHasher>,
    io_waker: Option<Waker>,
    io_notified: bool,
    limits: Rc<Limits>,
}

impl Shared {
    /// Wakes the socket task: there is output, or a window to give back.
    fn notify(&mut self) {
        self.io_notified = true;
        if let Some(w) = self.io_waker.take() {
            w.wake();
        }
    }
}

type SharedRef = Rc<RefCell<Shared>>;

/// Serves HTTP/2 on `stream`. `read_buf` holds bytes already read (the
/// preface, or what followed an h2c upgrade request); `upgraded` is the
/// HTTP/1.1 request that asked for h2c, answered as stream 1.
pub(crate) async fn serve_h2<S: Service>(
    stream: Rc<TcpStream>,
    mut read_buf: BytesMut,
    service: Rc<S>,
    cfg: ConnConfig,
    mut conn: ServerConnection,
    upgraded: Option<Request>,
) {
    let limits = cfg.limits.clone();
    let mut out = BytesMut::new();
    conn.poll_output(&mut out, usize::MAX);
    let shared: SharedRef = Rc::new(RefCell::new(Shared {
        conn,
        streams: HashMap::default(),
        io_waker: None,
        io_notified: false,
        limits: limits.clone(),
    }));
    if let Some(req) = upgraded {
        start_stream(&shared, &service, 1, req, None);
    }
    let mut read: Option<ReadFuture> = None;
    // The vector that carries `out` to the socket, kept for reuse.
    let mut batch: Vec<Bytes> = Vec::with_capacity(1);
    let mut shutting_down = false;
    let mut input_closed = false;
    // Since when the connection has had no stream.
    let mut idle_since: Option<Instant> = None;
    loop {
        // Input already buffered, then events.
        let failed = shared.borrow_mut().conn.recv(&mut read_buf).is_err();
        dispatch(&shared, &service);
        // Streams whose peer kept the window shut too long are reset now;
        // the others are checked again by this deadline.
        let stall_deadline = shared
            .borrow_mut()
            .conn
            .expire_window_stalls(Instant::now(), limits.h2_send_window_timeout);
        // Output.
        loop {
            shared.borrow_mut().conn.poll_output(&mut out, WRITE_BATCH);
            if out.is_empty() {
                break;
            }
            batch.push(out.split().freeze());
            let (res, back) = stream
                .write_all_vectored_timeout(std::mem::take(&mut batch), limits.write_timeout)
                .await;
            // Dropping the written bytes lets `out` take its memory back
            // when it next grows.
            batch = back;
            batch.clear();
            if res.is_err() {
                abort_all(&shared);
                return;
            }
            wake_writers(&shared);
            // Writing may have taken a while: new events may be queued.
            dispatch(&shared, &service);
        }
        let active = shared.borrow().conn.active_streams();
        if failed || shared.borrow().conn.is_done() || (input_closed && active == 0) {
            if !input_closed {
                // Our GOAWAY is out: let the client read it before the close.
                linger_close(&stream).await;
            }
            break;
        }
        if cfg.shutdown.is_triggered() && !shutting_down {
            shutting_down = true;
            shared.borrow_mut().conn.go_away();
            continue;
        }
        // The idle clock runs from the moment no stream is left: frames
        // that open no stream (PING, WINDOW_UPDATE, a header block trickled
        // forever) do not restart it.
        if active == 0 {
            idle_since.get_or_insert_with(Instant::now);
        } else {
            idle_since = None;
        }
        // Wait for input (until the client's side is closed), a stream's
        // output, or the shutdown signal (until it has been seen).
        if !input_closed && read.is_none() {
            let mut buf = std::mem::take(&mut read_buf);
            if buf.capacity() - buf.len() < READ_CHUNK / 4 {
                buf.reserve(READ_CHUNK);
            }
            let stream = stream.clone();
            read = Some(Box::pin(async move { stream.read(buf).await }));
        }
        let reading = async {
            match read.as_mut() {
                Some(fut) => fut.as_mut().await,
                None => std::future::pending().await,
            }
        };
        let stop = async {
            if shutting_down {
                std::future::pending().await
            } else {
                cfg.shutdown.wait().await
            }
        };
        let wait = race(reading, race(notified(&shared), stop));
        let outcome = if let Some(since) = idle_since {
            match timeout_at(since + limits.keep_alive_timeout, wait).await {
                Ok(o) => o,
                Err(Elapsed) => {
                    // Idle too long: say goodbye politely.
                    shared.borrow_mut().conn.go_away();
                    continue;
                }
            }
        } else if let Some(stall_deadline) = stall_deadline {
            match timeout_at(stall_deadline, wait).await {
                Ok(o) => o,
                Err(Elapsed) => continue, // expire the stalled streams
            }
        } else {
            wait.await
        };
        match outcome {
            Either::Left((res, buf)) => {
                read = None;
                read_buf = buf;
                match res {
                    Ok(n) if n > 0 => {}
                    _ => {
                        // The client sent all it will: requests still
                        // running are answered, bodies still arriving fail.
                        input_closed = true;
                        fail_unfinished_bodies(&shared);
                    }
                }
            }
            Either::Right(_) => {}
        }
    }
    abort_all(&shared);
}

/// The connection's input ended: no request body still arriving ever will.
fn fail_unfinished_bodies(shared: &SharedRef) {
    let bodies: Vec<Rc<RefCell<BodyQueue>>> = shared
        .borrow()
        .streams
        .values()
        .filter_map(|t| t.body.clone())
        .collect();
    for body in bodies {
        fail_body(&body, BodyError::Io("connection closed mid-body".into()));
    }
}

/// Resolves when a stream task asked the socket task to write.
fn notified(shared: &SharedRef) -> impl Future<Output = ()> + '_ {
    poll_fn(move |cx| {
        let mut s = shared.borrow_mut();
        if std::mem::take(&mut s.io_notified) {
            return Poll::Ready(());
        }
        s.io_waker = Some(cx.waker().clone());
        Poll::Pending
    })
}

fn abort_all(shared: &SharedRef) {
    let tasks: Vec<StreamTask> = shared
        .borrow_mut()
        .streams
        .drain()
        .map(|(_, t)| t)
        .collect();
    for t in tasks {
        if let Some(task) = t.task {
            task.abort();
        }
        if let Some(body) = t.body {
            fail_body(&body, BodyError::Io("connection closed".into()));
        }
    }
}

fn fail_body(body: &Rc<RefCell<BodyQueue>>, error: BodyError) {
    let mut b = body.borrow_mut();
    if !b.end {
        b.error = Some(error);
    }
    if let Some(w) = b.waker.take() {
        w.wake();
    }
}

fn wake_writers(shared: &SharedRef) {
    let wakers: Vec<Waker> = shared
        .borrow_mut()
        .streams
        .values_mut()
        .filter_map(|t| t.writer.take())
        .collect();
    for w in wakers {
        w.wake();
    }
}

/// Hands the connection's events to the stream tasks.
fn dispatch<S: Service>(shared: &SharedRef, service: &Rc<S>) {
    loop {
        let event = shared.borrow_mut().conn.poll_event();
        let Some(event) = event else { return };
        match event {
            Event::Request {
                stream_id,
                request,
                end_stream,
            } => {
                let (parts, ()) = request.into_parts();
                let body = if end_stream {
                    None
                } else {
                    Some(Rc::new(RefCell::new(BodyQueue::default())))
                };
                let req_body = match &body {
                    None => RequestBody::empty(),
                    Some(queue) => RequestBody::from_source(Rc::new(H2Body {
                        shared: shared.clone(),
                        id: stream_id,
                        queue: queue.clone(),
                    })),
                };
                let req = Request::from_parts(parts, req_body);
                start_stream(shared, service, stream_id, req, body);
            }
            Event::Data {
                stream_id,
                data,
                end_stream,
            } => {
                let mut s = shared.borrow_mut();
                let limit = s.limits.max_body_size;
                let queue = s.streams.get(&stream_id).and_then(|t| t.body.clone());
                let Some(queue) = queue else {
                    s.conn.release(stream_id, data.len());
                    continue;
                };
                let mut q = queue.borrow_mut();
                if q.abandoned || q.error.is_some() {
                    s.conn.release(stream_id, data.len());
                } else {
                    q.pace.received(data.len());
                    if q.pace.data_received() > limit {
                        q.error = Some(BodyError::TooLarge);
                        s.conn.release(stream_id, data.len());
                    } else if !data.is_empty() {
                        q.chunks.push_back(data);
                    }
                }
                q.end |= end_stream;
                if let Some(w) = q.waker.take() {
                    w.wake();
                }
            }
            Event::Trailers {
                stream_id,
                trailers,
            } => {
                let s = shared.borrow();
                if let Some(queue) = s.streams.get(&stream_id).and_then(|t| t.body.clone()) {
                    let mut q = queue.borrow_mut();
                    q.end = true;
                    q.trailers = Some(trailers).filter(|t| !t.is_empty());
                    if let Some(w) = q.waker.take() {
                        w.wake();
                    }
                }
            }
            Event::Reset { stream_id, .. } => {
                let task = shared.borrow_mut().streams.remove(&stream_id);
                if let Some(t) = task {
                    if let Some(body) = &t.body {
                        fail_body(body, BodyError::Io("stream reset".into()));
                    }
                    if let Some(task) = t.task {
                        task.abort();
                    }
                }
            }
        }
    }
}

fn start_stream<S: Service>(
    shared: &SharedRef,
    service: &Rc<S>,
    id: u32,
    req: Request,
    body: Option<Rc<RefCell<BodyQueue>>>,
) {
    let is_head = req.method() == Method::HEAD;
    let service = service.clone();
    let task_shared = shared.clone();
    let task = spawn_local(async move {
        let resp = call_handler(service.as_ref(), req).await.response;
        if let Some((parts, stream)) = respond_in_memory(&task_shared, id, resp, is_head) {
            // Streaming needs a large future; boxing it keeps every other
            // stream's task small (a small allocation stays on malloc's fast path).
            Box::pin(respond_streamed(&task_shared, id, parts, stream, is_head)).await;
        }
        let finished = {
            let mut s = task_shared.borrow_mut();
            s.notify();
            s.streams.remove(&id)
        };
        // The exchange is over (the connection resets a request still
        // arriving once the response ends): a reader left behind, in a task
        // the handler spawned, must not wait for the rest.
        if let Some(body) = finished.and_then(|t| t.body) {
            fail_body(
                &body,
                BodyError::Io("the response ended before the request body".into()),
            );
        }
    });
    shared.borrow_mut().streams.insert(
        id,
        StreamTask {
            body,
            task: Some(task),
            writer: None,
        },
    );
}

/// Prepares HTTP/1.1-minded response headers for HTTP/2: a date, the
/// content-length when known, and no connection-specific fields.
fn h2_headers(headers: &mut HeaderMap, length: Option<u64>) {
    for name in [CONNECTION, TRANSFER_ENCODING, UPGRADE] {
        headers.remove(name);
    }
    headers.remove("keep-alive");
    headers.remove("proxy-connection");
    if !headers.contains_key(DATE) {
        headers.insert(DATE, date_value());
    }
    if let Some(n) = length {
        headers.insert(CONTENT_LENGTH, length_value(n));
    }
}

/// Sends a response whose body is already in memory, without waiting;
/// hands a streamed body back, with its head, for [`respond_streamed`].
fn respond_in_memory(
    shared: &SharedRef,
    id: u32,
    resp: Response,
    is_head: bool,
) -> Option<(Parts, Pin<Box<dyn BodyStream>>)> {
    let (mut parts, body) = resp.into_parts();
    let data = match body {
        Body::Full(b) => b,
        Body::Empty => Bytes::new(),
        Body::Stream(stream) => return Some((parts, stream)),
    };
    let status = parts.status;
    let length = (status != StatusCode::NOT_MODIFIED).then_some(data.len() as u64);
    h2_headers(&mut parts.headers, length);
    let empty = has_no_body(status, is_head) || data.is_empty();
    let mut s = shared.borrow_mut();
    if s.conn
        .send_response(id, status, &parts.headers, empty)
        .is_ok()
        && !empty
    {
        let _ = s.conn.send_data(id, data, true);
    }
    s.notify();
    None
}

/// Sends a streamed response of stream `id`, chunk by chunk, with
/// back-pressure from the stream's queue.
async fn respond_streamed(
    shared: &SharedRef,
    id: u32,
    mut parts: Parts,
    mut stream: Pin<Box<dyn BodyStream>>,
    is_head: bool,
) {
    let status = parts.status;
    let mut stream = match PeekedBody::peek(&mut stream).await {
        Ok(peeked) => peeked,
        Err(status) => {
            let mut h = HeaderMap::new();
            h2_headers(&mut h, Some(0));
            let mut s = shared.borrow_mut();
            let _ = s.conn.send_response(id, status, &h, true);
            s.notify();
            return;
        }
    };
    let length = if status == StatusCode::NOT_MODIFIED {
        None
    } else {
        stream.size_hint()
    };
    h2_headers(&mut parts.headers, length);
    let empty = has_no_body(status, is_head);
    {
        let mut s = shared.borrow_mut();
        if s.conn
            .send_response(id, status, &parts.headers, empty)
            .is_err()
        {
            return;
        }
        s.notify();
    }
    if empty {
        return;
    }
    loop {
        let (data, end) = match stream.next().await {
            None => {
                // The encoder drops fields a trailer may not carry.
                let trailers = stream.take_trailers();
                if let Some(trailers) = trailers.filter(|t| !t.is_empty()) {
                    let mut s = shared.borrow_mut();
                    let _ = s.conn.send_trailers(id, trailers);
                    s.notify();
                    return;
                }
                (Bytes::new(), true)
            }
            Some(Ok(c)) if c.is_empty() => continue,
            Some(Ok(c)) => (c, false),
            Some(Err(e)) => {
                tracing::debug!("response body failed mid-stream: {e}");
                let mut s = shared.borrow_mut();
                s.conn.reset(id, ErrorCode::InternalError);
                s.notify();
                return;
            }
        };
        if !wait_for_room(shared, id).await {
            return;
        }
        let mut s = shared.borrow_mut();
        if s.conn.send_data(id, data, end).is_err() {
            return;
        }
        s.notify();
        if end {
            return;
        }
    }
}

/// Waits until stream `id` has room in its queue. False if the stream is
/// gone, or the peer kept its window shut past `h2_send_window_timeout`
/// (then the stream is reset).
async fn wait_for_room(shared: &SharedRef, id: u32) -> bool {
    let timeout = shared.borrow().limits.h2_send_window_timeout;
    let deadline = Instant::now() + timeout;
    let room = poll_fn(|cx| {
        let mut s = shared.borrow_mut();
        match s.conn.queued(id) {
            None => Poll::Ready(false),
            Some(n) if n < STREAM_HIGH_WATER => Poll::Ready(true),
            Some(_) => {
                if let Some(t) = s.streams.get_mut(&id) {
                    t.writer = Some(cx.waker().clone());
                }
                Poll::Pending
            }
        }
    });
    match timeout_at(deadline, room).await {
        Ok(ok) => ok,
        Err(Elapsed) => {
            let mut s = shared.borrow_mut();
            s.conn.reset(id, ErrorCode::Cancel);
            s.notify();
            false
        }
    }
}

/// The request body of one stream, read by its handler.
struct H2Body {
    shared: SharedRef,
    id: u32,
    queue: Rc<RefCell<BodyQueue>>,
}

impl BodySource for H2Body {
    fn poll_chunk(&self, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, BodyError>>> {
        let mut q = self.queue.borrow_mut();
        if let Some(chunk) = q.chunks.pop_front() {
            q.stop_waiting();
            drop(q);
            // Consumed: give the window back.
            let mut s = self.shared.borrow_mut();
            s.conn.release(self.id, chunk.len());
            s.notify();
            return Poll::Ready(Some(Ok(chunk)));
        }
        if let Some(e) = &q.error {
            return Poll::Ready(Some(Err(e.clone())));
        }
        if q.end {
            q.stop_waiting();
            return Poll::Ready(None);
        }
        // Nothing queued: the client keeps the handler waiting.
        let limits = self.shared.borrow().limits.clone();
        if q.waited_too_long(&limits, cx) {
            q.stop_waiting();
            q.error = Some(BodyError::Timeout);
            return Poll::Ready(Some(Err(BodyError::Timeout)));
        }
        q.waker = Some(cx.waker().clone());
        Poll::Pending
    }

    fn remaining_hint(&self) -> Option<u64> {
        None
    }

    fn trailers(&self) -> Option<HeaderMap> {
        let q = self.queue.borrow();
        q.trailers.clone().filter(|_| q.end && q.chunks.is_empty())
    }
}

impl Drop for H2Body {
    fn drop(&mut self) {
        // Whatever is queued or still arriving is given back unread.
        let mut q = self.queue.borrow_mut();
        q.abandoned = true;
        let unread: usize = q.chunks.drain(..).map(|c| c.len()).sum();
        drop(q);
        if let Ok(mut s) = self.shared.try_borrow_mut() {
            if unread > 0 {
                s.conn.release(self.id, unread);
                s.notify();
            }
        }
    }
}
