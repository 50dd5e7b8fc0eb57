//! What both drivers do for every exchange: call the handler (a panic
//! becomes a 500), peek at a streamed response body before its head is
//! sent (a body that fails at once gets an honest status), and the rules
//! about responses that carry no body.

use std::any::Any;
use std::cell::Cell;
use std::future::Future;
use std::io;
use std::pin::Pin;

use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use percore_runtime::future::{race, Either};

use crate::body::{next_chunk, BodyError, BodyStream, RequestBody};
use crate::h1::RawHead;
use crate::reply::Reply;
use crate::service::{panic_message, CatchUnwind, ConnState, Request, Response, Service};

/// Calls `service` with `req`; a panic while its future is polled is
/// answered with the 500 of [`answer_panic`] and sets `panicked` (a panic
/// in `call` itself, before the future exists, is the service's to catch,
/// as the web `App` does) (an HTTP/1.1 connection then
/// closes; HTTP/2 answers the stream and goes on).
#[inline]
pub(crate) fn call_handler<'a, S: Service>(
    service: &'a S,
    req: Request,
    panicked: &'a Cell<bool>,
) -> CatchUnwind<impl Future<Output = Response> + 'a, impl FnMut(Panic) -> Response + 'a> {
    CatchUnwind::new(service.call(req), move |payload| {
        answer_panic(panicked, payload)
    })
}

/// Calls `service` with an HTTP/1.1 request still kept as its raw head,
/// with its connection's [`ConnState`]; a panic while its future is
/// polled is answered with the 500 of [`answer_panic`] and sets
/// `panicked` (the connection then closes).
#[inline]
pub(crate) fn call_handler_head<'a, S: Service>(
    service: &'a S,
    conn: &'a mut ConnState,
    head: RawHead,
    body: RequestBody,
    panicked: &'a Cell<bool>,
) -> CatchUnwind<impl Future<Output = Reply> + 'a, impl FnMut(Panic) -> Reply + 'a> {
    CatchUnwind::new(service.call_head_in(conn, head, body), move |payload| {
        answer_panic(panicked, payload).into()
    })
}

/// A panic's payload.
type Panic = Box<dyn Any + Send>;

/// Logs a handler's panic, sets `panicked` and gives the 500 that
/// answers it.
#[cold]
fn answer_panic(panicked: &Cell<bool>, payload: Panic) -> Response {
    panicked.set(true);
    tracing::error!("handler panicked: {}", panic_message(&*payload));
    internal_error()
}

/// The answer to a request whose handler panicked or misbehaved (both
/// protocols).
pub(crate) fn internal_error() -> Response {
    let mut resp = Response::new(crate::Body::from("500 Internal Server Error\n"));
    *resp.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

/// Whether a response carries no body whatever its framing says: the answer
/// to HEAD, and 1xx, 204 and 304 (RFC 9110 §6.4.1). Both protocols ask.
pub(crate) fn has_no_body(status: StatusCode, is_head: bool) -> bool {
    is_head
        || status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
}

/// A streamed response body whose first chunk was asked for once, without
/// waiting, before the response head went out.
pub(crate) struct PeekedBody<'a> {
    stream: &'a mut Pin<Box<dyn BodyStream>>,
    /// What that first poll gave, until [`PeekedBody::next`] hands it on.
    first: Option<Option<io::Result<Bytes>>>,
}

impl std::fmt::Debug for PeekedBody<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeekedBody")
            .field("first_ready", &self.first.is_some())
            .finish()
    }
}

impl<'a> PeekedBody<'a> {
    /// Polls `stream` once. A body that fails before its first byte (a
    /// malformed request body being echoed, say) gives the status to
    /// answer with instead (`Err`).
    pub(crate) async fn peek(
        stream: &'a mut Pin<Box<dyn BodyStream>>,
    ) -> Result<PeekedBody<'a>, StatusCode> {
        let first = match race(next_chunk(stream), std::future::ready(())).await {
            Either::Left(Some(Err(e))) => return Err(failure_status(&e)),
            Either::Left(polled) => Some(polled),
            Either::Right(()) => None,
        };
        Ok(PeekedBody { stream, first })
    }

    /// The body's length, when known.
    pub(crate) fn size_hint(&self) -> Option<u64> {
        self.stream.size_hint()
    }

    /// The next chunk; `None` at the end.
    pub(crate) async fn next(&mut self) -> Option<io::Result<Bytes>> {
        match self.first.take() {
            Some(polled) => polled,
            None => next_chunk(self.stream).await,
        }
    }

    /// The trailer fields, once the body has ended.
    pub(crate) fn take_trailers(&mut self) -> Option<HeaderMap> {
        self.stream.as_mut().take_trailers()
    }
}

/// The status for a response body that failed before its first byte: the
/// request body's own status when that is what failed, else 500.
fn failure_status(e: &io::Error) -> StatusCode {
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<BodyError>())
        .map_or(StatusCode::INTERNAL_SERVER_ERROR, BodyError::status)
}
