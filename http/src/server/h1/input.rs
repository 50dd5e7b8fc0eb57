//! The read side of an HTTP/1.1 connection: request heads and bodies come
//! out of one [`ReadBuffer`]. The rules for one request body live here:
//! reading it for the handler (with `100 Continue` and the slow-body rule),
//! draining what the handler left, and whether the connection can carry
//! another request afterwards.

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Instant;

use crate::server::Conn;
use bytes::{Bytes, BytesMut};
use http::{HeaderMap, StatusCode};
use percore_runtime::io::ReadBuffer;

use crate::body::{BodyError, BodySource, RequestBody};
use crate::h1::{self, BodyDecoder, BodyEvent, BodyKind, RawHead};
use crate::server::body_pace::BodyPace;
use crate::Limits;

/// Read-buffer growth step.
pub(crate) const READ_CHUNK: usize = 16 * 1024;

/// How a wait for more request-head bytes ended.
#[derive(Debug)]
pub(super) enum ReadMore {
    Data,
    Eof,
    TimedOut,
    Failed,
}

/// The read side of one connection, shared by its loop and the reader of
/// the current request body.
pub(crate) struct RequestInput {
    state: RefCell<InputState>,
    limits: Rc<Limits>,
}

impl fmt::Debug for RequestInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.state.borrow();
        let body = st.body.as_deref();
        f.debug_struct("RequestInput")
            .field("input", &st.input)
            .field("body_id", &st.body_id)
            .field("body_unread", &body.is_some_and(|b| b.decoder.is_some()))
            .field("error", &body.and_then(|b| b.error.as_ref()))
            .finish()
    }
}

struct InputState {
    input: ReadBuffer<Conn>,
    /// Identifies the current request's body; stale readers get nothing.
    body_id: u64,
    /// The state of the current request's body: allocated only for a
    /// request that has one, and dropped once it is read, so that an idle
    /// connection (and one answering bodiless requests) holds none of it.
    body: Option<Box<BodyState>>,
}

/// The reading of one request body.
#[derive(Default)]
struct BodyState {
    /// Body of the current request, while unread bytes remain.
    decoder: Option<BodyDecoder>,
    /// The client waits for `100 Continue` before it sends the body.
    continue_pending: bool,
    /// `100 Continue` on its way out, ahead of the body's first read.
    continue_write: Option<Pin<Box<dyn Future<Output = io::Result<()>>>>>,
    /// The body waits for input until this deadline (`Some(None)`: no
    /// deadline); `None` while it does not wait.
    waiting: Option<Option<Instant>>,
    error: Option<BodyError>,
    /// How the current body has kept its handler waiting.
    pace: BodyPace,
    /// The trailer fields that ended the current body, once it ended.
    trailers: Option<HeaderMap>,
}

impl RequestInput {
    /// The read side of a connection whose input is `input`.
    pub(crate) fn new(input: ReadBuffer<Conn>, limits: Rc<Limits>) -> Rc<RequestInput> {
        Rc::new(RequestInput {
            state: RefCell::new(InputState {
                input,
                body_id: 0,
                body: None,
            }),
            limits,
        })
    }

    /// The connection's socket.
    pub(super) fn stream(&self) -> Rc<Conn> {
        self.state.borrow().input.stream().clone()
    }

    /// Parses a request head out of the buffered bytes (`Ok(None)`: not
    /// complete yet); a head equal to the last one `memo` kept comes from
    /// it.
    pub(super) fn parse_head(
        &self,
        memo: &mut h1::HeadMemo,
    ) -> Result<Option<RawHead>, h1::ParseError> {
        memo.parse(self.state.borrow_mut().input.buffer_mut(), &self.limits)
    }

    /// Whether no byte is buffered.
    pub(super) fn is_empty(&self) -> bool {
        self.state.borrow().input.buffer().is_empty()
    }

    /// Reads more of a request head, waiting until `deadline`.
    pub(super) async fn read_more(&self, deadline: Instant) -> ReadMore {
        let outcome =
            std::future::poll_fn(|cx| self.state.borrow_mut().input.poll_fill(cx, Some(deadline)))
                .await;
        match outcome {
            Ok(0) => ReadMore::Eof,
            Ok(_) => ReadMore::Data,
            Err(e) if e.kind() == io::ErrorKind::TimedOut => ReadMore::TimedOut,
            Err(_) => ReadMore::Failed,
        }
    }

    /// Takes the bytes read past the last request head, for the protocol
    /// the connection switches to.
    pub(super) fn take_buffer(&self) -> BytesMut {
        self.state.borrow_mut().input.take_buffer()
    }

    /// Starts the body of a new request; stale readers of the previous one
    /// get nothing more. `expect_continue`: the client waits for
    /// `100 Continue`, sent by the body's first read.
    #[inline]
    pub(super) fn start_body(
        self: &Rc<Self>,
        kind: BodyKind,
        expect_continue: bool,
    ) -> RequestBody {
        let mut st = self.state.borrow_mut();
        st.body_id += 1;
        match kind {
            BodyKind::Empty => {
                st.body = None;
                RequestBody::empty()
            }
            kind => {
                st.body = Some(Box::new(BodyState {
                    decoder: Some(BodyDecoder::new(kind, &self.limits)),
                    continue_pending: expect_continue,
                    ..BodyState::default()
                }));
                RequestBody::from_source(Rc::new(H1BodyReader {
                    input: self.clone(),
                    id: st.body_id,
                }))
            }
        }
    }

    /// Whether the client waits for a `100 Continue` not sent yet.
    pub(super) fn continue_pending(&self) -> bool {
        let st = self.state.borrow();
        st.body.as_ref().is_some_and(|b| b.continue_pending)
    }

    /// Whether some of the current request body is still to be read.
    pub(super) fn body_unfinished(&self) -> bool {
        let st = self.state.borrow();
        st.body.as_ref().is_some_and(|b| b.decoder.is_some()) || st.input.is_reading()
    }

    /// Whether the request body already decides that the connection ends
    /// after this response, so its head can say `Connection: close`: the
    /// body failed (malformed, too large, too slow); or the response is
    /// complete in memory (nothing will read the body any more) while the
    /// client still waits for a `100 Continue` nobody asked for, or more of
    /// the body is left than `max_drain_size` allows to drain — what
    /// [`RequestInput::finish_body`] would find later. A streamed response
    /// may still read the body (an echo does), so only a failed body counts
    /// then.
    pub(super) fn body_ends_connection(&self, streamed: bool) -> bool {
        let st = self.state.borrow();
        let Some(b) = st.body.as_deref() else {
            return false;
        };
        b.error.is_some()
            || (!streamed
                && b.decoder.as_ref().is_some_and(|d| {
                    b.continue_pending
                        || d.remaining()
                            .is_some_and(|n| n > self.limits.max_drain_size)
                }))
    }

    /// Reads and discards what the handler left of the request body, up to
    /// `max_drain_size`. Returns whether the connection can carry another
    /// request.
    pub(super) async fn finish_body(self: &Rc<Self>) -> bool {
        let id = self.state.borrow().body_id;
        if !self.body_unfinished() {
            return self.body_done();
        }
        // Never send 100 Continue just to drain a body nobody wanted.
        if self.continue_pending() {
            return false;
        }
        // A fresh reader for the same body (the handler's may be gone).
        let mut body = RequestBody::from_source(Rc::new(H1BodyReader {
            input: self.clone(),
            id,
        }));
        let mut drained = 0u64;
        let limit = self.limits.max_drain_size;
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
        !self.body_unfinished() && self.body_done()
    }

    /// Whether the current body ended without an error; if so, its state
    /// is dropped (the exchange is over, the connection waits for the next
    /// request).
    fn body_done(&self) -> bool {
        let mut st = self.state.borrow_mut();
        let ok = st.body.as_ref().is_none_or(|b| b.error.is_none());
        if ok {
            st.body = None;
        }
        ok
    }

    /// The next chunk of body `id` for its reader.
    fn poll_body(&self, id: u64, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, BodyError>>> {
        let mut guard = self.state.borrow_mut();
        let InputState {
            input,
            body_id,
            body,
        } = &mut *guard;
        if *body_id != id {
            return Poll::Ready(None);
        }
        let Some(st) = body.as_deref_mut() else {
            return Poll::Ready(None);
        };
        loop {
            if let Some(write) = st.continue_write.as_mut() {
                let res = std::task::ready!(write.as_mut().poll(cx));
                st.continue_write = None;
                if let Err(e) = res {
                    st.waiting = None;
                    st.pace.stop_waiting();
                    st.error = Some(BodyError::Io(e.to_string()));
                }
            }
            if let Some(deadline) = st.waiting {
                let outcome = std::task::ready!(input.poll_fill(cx, deadline));
                st.waiting = None;
                st.pace.stop_waiting();
                match outcome {
                    Ok(0) => st.error = Some(BodyError::Io("connection closed mid-body".into())),
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                        st.error = Some(BodyError::Timeout)
                    }
                    Err(e) => st.error = Some(BodyError::Io(e.to_string())),
                }
            }
            if let Some(e) = &st.error {
                return Poll::Ready(Some(Err(e.clone())));
            }
            let Some(decoder) = st.decoder.as_mut() else {
                return Poll::Ready(None);
            };
            match decoder.decode(input.buffer_mut()) {
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
                    let deadline = st.pace.wait(&self.limits, now);
                    if deadline.is_some_and(|d| d <= now) {
                        st.pace.stop_waiting();
                        st.error = Some(BodyError::Timeout);
                        continue;
                    }
                    if std::mem::take(&mut st.continue_pending) {
                        let stream = input.stream().clone();
                        let write_timeout = self.limits.write_timeout;
                        st.continue_write = Some(Box::pin(async move {
                            let continue_100 = vec![Bytes::from_static(h1::CONTINUE_100)];
                            stream
                                .write_all_vectored_timeout(continue_100, write_timeout)
                                .await
                                .0
                        }));
                    }
                    st.waiting = Some(deadline);
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
}

/// Reads one request body out of the connection's input.
struct H1BodyReader {
    input: Rc<RequestInput>,
    id: u64,
}

impl fmt::Debug for H1BodyReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("H1BodyReader")
            .field("body", &self.id)
            .finish()
    }
}

impl BodySource for H1BodyReader {
    fn poll_chunk(&self, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, BodyError>>> {
        self.input.poll_body(self.id, cx)
    }

    fn remaining_hint(&self) -> Option<u64> {
        let st = self.input.state.borrow();
        if st.body_id != self.id {
            return Some(0);
        }
        let decoder = st.body.as_ref().and_then(|b| b.decoder.as_ref());
        decoder.and_then(BodyDecoder::remaining)
    }

    fn trailers(&self) -> Option<HeaderMap> {
        let st = self.input.state.borrow();
        let trailers = st.body.as_ref().and_then(|b| b.trailers.clone());
        trailers.filter(|_| st.body_id == self.id)
    }
}
