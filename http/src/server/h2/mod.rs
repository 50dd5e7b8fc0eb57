//! The HTTP/2 server driver: runs [`ServerConnection`] on a socket and
//! each stream's request through the service as its own task on this core.
//!
//! One task owns the socket: it reads, feeds the connection, dispatches
//! events, and writes what the connection produces (this module). Stream
//! tasks ([`respond`]) queue response heads and data into the connection
//! and wake the socket task; they wait while their stream has
//! [`STREAM_HIGH_WATER`] bytes queued (back-pressure from the peer's
//! flow-control window). Request bodies arrive through [`body`]. An
//! extended CONNECT answered with a 2xx becomes a [`tunnel`]: the stream
//! is handed to the handler's upgrade as an [`H2Stream`].

mod body;
mod respond;
mod tunnel;

pub use tunnel::H2Stream;

use std::cell::RefCell;
use std::collections::HashMap;
use std::future::{poll_fn, Future};
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use super::Conn;
use bytes::{Bytes, BytesMut};
use percore_runtime::future::{race, Either};
use percore_runtime::io::ReadBuffer;
use percore_runtime::time::{timeout_at, Elapsed};
use percore_runtime::JoinHandle;

use super::{linger_close, ConnConfig};
use crate::body::{BodyError, RequestBody};
use crate::h2::conn::{Event, ServerConnection, STREAM_HIGH_WATER};
use crate::h2::StreamIdHasher;
use crate::service::{Request, Service};
use crate::upgrade::{self, Protocol};
use crate::Limits;
use body::{fail_body, BodyQueue, H2BodyReader};
use respond::start_stream;

/// Output written per socket write, at most (then input gets a turn).
const WRITE_BATCH: usize = 256 * 1024;
/// Read-buffer growth step.
const READ_CHUNK: usize = 32 * 1024;

/// The driver's view of a stream: its request body, the task answering
/// it, and that task's wait for queue space.
#[derive(Default)]
struct StreamEntry {
    body: Option<Rc<RefCell<BodyQueue>>>,
    task: Option<JoinHandle<()>>,
    /// The response writer waits for queue space.
    writer: Option<Waker>,
    /// An RFC 8441 tunnel: its DATA is not a request body (no size limit).
    tunnel: bool,
}

/// One HTTP/2 connection's state, shared by the socket task and the
/// stream tasks.
struct ConnState {
    conn: ServerConnection,
    streams: HashMap<u32, StreamEntry, StreamIdHasher>,
    io_waker: Option<Waker>,
    io_notified: bool,
    limits: Rc<Limits>,
    /// What a tunnel's [`Upgraded`](crate::upgrade::Upgraded) carries: the
    /// socket, the shutdown signal, the open-connection count.
    socket: Rc<Conn>,
    cfg: ConnConfig,
}

impl ConnState {
    /// Wakes the socket task: there is output, or a window to give back.
    fn notify(&mut self) {
        self.io_notified = true;
        if let Some(w) = self.io_waker.take() {
            w.wake();
        }
    }
}

impl std::fmt::Debug for ConnState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnState")
            .field("streams", &self.streams.len())
            .field("io_notified", &self.io_notified)
            .finish()
    }
}

impl std::fmt::Debug for StreamEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamEntry")
            .field("has_body", &self.body.is_some())
            .field("running", &self.task.is_some())
            .field("writer_waits", &self.writer.is_some())
            .finish()
    }
}

/// The connection state, as the socket task and the stream tasks hold it.
type ConnRef = Rc<RefCell<ConnState>>;

/// Serves HTTP/2 on `stream`. `read_buf` holds bytes already read (the
/// preface, or what followed an h2c upgrade request); `upgraded` is the
/// HTTP/1.1 request that asked for h2c, answered as stream 1.
pub(crate) async fn serve_h2<S: Service>(
    stream: Rc<Conn>,
    read_buf: BytesMut,
    service: Rc<S>,
    cfg: ConnConfig,
    mut conn: ServerConnection,
    upgraded: Option<Request>,
) {
    let limits = cfg.limits.clone();
    let mut out = BytesMut::new();
    conn.poll_output(&mut out, usize::MAX);
    let shared: ConnRef = Rc::new(RefCell::new(ConnState {
        conn,
        streams: HashMap::default(),
        io_waker: None,
        io_notified: false,
        limits: limits.clone(),
        socket: stream.clone(),
        cfg: cfg.clone(),
    }));
    if let Some(req) = upgraded {
        start_stream(&shared, &service, 1, req, None, None);
    }
    let mut input = ReadBuffer::new(stream.clone(), read_buf, READ_CHUNK);
    // The vector that carries `out` to the socket, kept for reuse.
    let mut batch: Vec<Bytes> = Vec::with_capacity(1);
    let mut shutting_down = false;
    let mut input_closed = false;
    // Since when the connection has had no stream.
    let mut idle_since: Option<Instant> = None;
    loop {
        // Input already buffered, then events.
        let failed = shared.borrow_mut().conn.recv(input.buffer_mut()).is_err();
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
        // Streams answered before their request ended are drained for
        // `body_read_timeout` at most, then reset (a deadline of now: one
        // just was, its RST_STREAM goes out first).
        let drain_deadline = shared
            .borrow_mut()
            .conn
            .expire_drains(Instant::now(), limits.body_read_timeout);
        let deadline = stall_deadline.into_iter().chain(drain_deadline).min();
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
        // A read left in flight by an earlier wait is resumed, not lost.
        let reading = async {
            if input_closed {
                std::future::pending().await
            } else {
                input.fill(None).await
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
        } else if let Some(deadline) = deadline {
            match timeout_at(deadline, wait).await {
                Ok(o) => o,
                Err(Elapsed) => continue, // expire stalled or drained streams
            }
        } else {
            wait.await
        };
        match outcome {
            Either::Left(Ok(n)) if n > 0 => {}
            Either::Left(_) => {
                // The client sent all it will: requests still running are
                // answered, bodies still arriving fail.
                input_closed = true;
                fail_unfinished_bodies(&shared);
                // Nor does the rest of a request already answered.
                shared
                    .borrow_mut()
                    .conn
                    .expire_drains(Instant::now(), Duration::ZERO);
            }
            Either::Right(_) => {}
        }
    }
    abort_all(&shared);
}

/// The connection's input ended: no request body still arriving ever will.
fn fail_unfinished_bodies(shared: &ConnRef) {
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
fn notified(shared: &ConnRef) -> impl Future<Output = ()> + '_ {
    poll_fn(move |cx| {
        let mut s = shared.borrow_mut();
        if std::mem::take(&mut s.io_notified) {
            return Poll::Ready(());
        }
        s.io_waker = Some(cx.waker().clone());
        Poll::Pending
    })
}

fn abort_all(shared: &ConnRef) {
    let tasks: Vec<StreamEntry> = shared
        .borrow_mut()
        .streams
        .drain()
        .map(|(_, t)| t)
        .collect();
    for t in tasks {
        if let Some(task) = t.task {
            task.abort();
        }
        // A tunnel's writer sees its stream gone.
        if let Some(w) = t.writer {
            w.wake();
        }
        if let Some(body) = t.body {
            fail_body(&body, BodyError::Io("connection closed".into()));
        }
    }
}

fn wake_writers(shared: &ConnRef) {
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
fn dispatch<S: Service>(shared: &ConnRef, service: &Rc<S>) {
    loop {
        let event = shared.borrow_mut().conn.poll_event();
        let Some(event) = event else { return };
        match event {
            Event::Request {
                stream_id,
                request,
                end_stream,
            } => {
                let (mut parts, ()) = request.into_parts();
                let tunnel = parts.extensions.get::<Protocol>().is_some();
                let mut pending_upgrade = None;
                if tunnel {
                    // RFC 8441: the stream is the handler's once it answers 2xx.
                    let (pending, on_upgrade) = upgrade::pending();
                    parts.extensions.insert(on_upgrade);
                    pending_upgrade = Some(pending);
                }
                let body = if end_stream {
                    None
                } else {
                    let mut queue = BodyQueue::default();
                    let declared = parts
                        .headers
                        .get(http::header::CONTENT_LENGTH)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.parse::<u64>().ok());
                    if !tunnel && declared > Some(shared.borrow().limits.max_body_size) {
                        queue.refuse_too_large();
                    }
                    Some(Rc::new(RefCell::new(queue)))
                };
                let req_body =
                    match &body {
                        // A tunnel's DATA is read through the upgrade, not as a body.
                        Some(queue) if !tunnel => RequestBody::from_source(Rc::new(
                            H2BodyReader::new(shared.clone(), stream_id, queue.clone()),
                        )),
                        _ => RequestBody::empty(),
                    };
                let req = Request::from_parts(parts, req_body);
                start_stream(shared, service, stream_id, req, body, pending_upgrade);
            }
            Event::Data {
                stream_id,
                data,
                end_stream,
            } => {
                let mut s = shared.borrow_mut();
                let entry = s.streams.get(&stream_id);
                let limit = match entry {
                    Some(t) if t.tunnel => u64::MAX,
                    _ => s.limits.max_body_size,
                };
                let queue = entry.and_then(|t| t.body.clone());
                let Some(queue) = queue else {
                    s.conn.release(stream_id, data.len());
                    continue;
                };
                let unwanted = queue.borrow_mut().receive(data, end_stream, limit);
                if let Some(unwanted) = unwanted {
                    s.conn.release(stream_id, unwanted);
                }
            }
            Event::Trailers {
                stream_id,
                trailers,
            } => {
                let s = shared.borrow();
                if let Some(queue) = s.streams.get(&stream_id).and_then(|t| t.body.clone()) {
                    queue.borrow_mut().end_with(trailers);
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
                    if let Some(w) = t.writer {
                        w.wake();
                    }
                }
            }
        }
    }
}
