//! Stream tasks: each request's handler runs as its own task, and its
//! response goes into the connection, at once when it is in memory, chunk
//! by chunk with back-pressure when it streams.

use std::cell::{Cell, RefCell};
use std::future::poll_fn;
use std::pin::Pin;
use std::rc::Rc;
use std::task::Poll;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use http::header::{CONTENT_LENGTH, DATE};
use http::response::Parts;
use http::{HeaderMap, Method, StatusCode};
use percore_runtime::spawn_local;
use percore_runtime::time::{timeout_at, Elapsed};

use super::body::{fail_body, BodyQueue};
use super::tunnel::H2Stream;
use super::{ConnRef, StreamEntry, STREAM_HIGH_WATER};
use crate::body::{Body, BodyError, BodyStream};
use crate::h2::ErrorCode;
use crate::server::exchange::{call_handler, has_no_body, PeekedBody};
use crate::server::header_cache::{date_value, length_value};
use crate::server::Conn;
use crate::service::{Request, Response, Service};
use crate::upgrade::{PendingUpgrade, Upgraded};

/// Runs the handler of stream `id` as its own task, and answers with
/// what it returns.
pub(super) fn start_stream<S: Service>(
    shared: &ConnRef,
    service: &Rc<S>,
    id: u32,
    req: Request,
    body: Option<Rc<RefCell<BodyQueue>>>,
    upgrade: Option<PendingUpgrade>,
) {
    let is_head = req.method() == Method::HEAD;
    let service = service.clone();
    let task_shared = shared.clone();
    let task = spawn_local(async move {
        // (A panic's 500 answers this stream only: the connection goes on.)
        let resp = call_handler(service.as_ref(), req, &Cell::new(false)).await;
        let resp = match upgrade {
            Some(pending) if resp.status().is_success() => {
                match open_tunnel(&task_shared, id, resp, pending) {
                    // The stream belongs to the upgraded protocol now.
                    None => return,
                    Some(resp) => resp,
                }
            }
            _ => resp,
        };
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
        // The exchange is over (the connection drains, then resets, a
        // request still arriving once the response ends): a reader left
        // behind, in a task the handler spawned, must not wait for the rest.
        if let Some(body) = finished.and_then(|t| t.body) {
            fail_body(
                &body,
                BodyError::Io("the response ended before the request body".into()),
            );
        }
    });
    shared.borrow_mut().streams.insert(
        id,
        StreamEntry {
            body,
            task: Some(task),
            writer: None,
            tunnel: false,
        },
    );
}

/// Answers an extended CONNECT with the handler's 2xx head (no
/// END_STREAM) and hands the stream to its [`OnUpgrade`] as an
/// [`H2Stream`]. `None` once handed over; the response back when the
/// stream is gone (it is then finished as any other).
///
/// [`OnUpgrade`]: crate::upgrade::OnUpgrade
fn open_tunnel(
    shared: &ConnRef,
    id: u32,
    resp: Response,
    pending: PendingUpgrade,
) -> Option<Response> {
    let (mut parts, _body) = resp.into_parts();
    h2_headers(&mut parts.headers, None);
    let mut s = shared.borrow_mut();
    let queue = s.streams.get(&id).and_then(|t| t.body.clone());
    let Some(queue) = queue else {
        return Some(Response::from_parts(parts, Body::empty()));
    };
    if s.conn
        .send_response(id, parts.status, &parts.headers, false)
        .is_err()
    {
        return Some(Response::from_parts(parts, Body::empty()));
    }
    s.notify();
    if let Some(entry) = s.streams.get_mut(&id) {
        entry.tunnel = true;
        entry.task = None;
    }
    let tunnel = H2Stream::new(shared.clone(), id, queue, s.socket.clone());
    let upgraded = Upgraded::new(
        Rc::new(Conn::H2Stream(Box::new(tunnel))),
        BytesMut::new(),
        s.cfg.shutdown.clone(),
        s.cfg.connections.enter(),
        s.limits.write_timeout,
    );
    drop(s);
    pending.fulfil(upgraded);
    None
}

/// Prepares HTTP/1.1-minded response headers for HTTP/2: a date and the
/// content-length when known. Connection-specific fields are left to the
/// HPACK encoder, which never sends them (`is_connection_specific`).
fn h2_headers(headers: &mut HeaderMap, length: Option<u64>) {
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
    shared: &ConnRef,
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
    drop(s);
    // Encoded: the map's memory serves the core's next request or response.
    crate::header_pool::recycle(parts.headers);
    None
}

/// Sends a streamed response of stream `id`, chunk by chunk, with
/// back-pressure from the stream's queue.
async fn respond_streamed(
    shared: &ConnRef,
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
pub(super) async fn wait_for_room(shared: &ConnRef, id: u32) -> bool {
    let timeout = shared.borrow().limits.h2_send_window_timeout;
    let deadline = Instant::now() + timeout;
    let room = poll_fn(|cx| {
        let mut s = shared.borrow_mut();
        if !s.streams.contains_key(&id) {
            // Reset, or the connection ended.
            return Poll::Ready(false);
        }
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
