//! Message bodies: the request body a handler reads and the response body it
//! returns. The same types serve HTTP/1.1 and HTTP/2.
//!
//! ```
//! use percore_http::Body;
//! use bytes::Bytes;
//! let b = Body::from("hello");
//! assert_eq!(b.size_hint(), Some(5));
//! assert!(Body::empty().is_empty());
//! let _ = Bytes::new();
//! ```

use std::cell::RefCell;
use std::collections::VecDeque;
use std::fmt;
use std::future::{poll_fn, Future};
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use bytes::{Bytes, BytesMut};
use http::header::HeaderName;
use http::{HeaderMap, StatusCode};

/// Why a request body could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyError {
    /// The body exceeded the configured limit (413).
    TooLarge,
    /// The body was malformed (400): bad chunk framing, short body.
    Malformed(String),
    /// The client was too slow sending the body (408).
    Timeout,
    /// The connection failed or closed early.
    Io(String),
}

impl BodyError {
    /// The status to answer with when this error ends a request.
    pub fn status(&self) -> StatusCode {
        match self {
            BodyError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            BodyError::Malformed(_) => StatusCode::BAD_REQUEST,
            BodyError::Timeout => StatusCode::REQUEST_TIMEOUT,
            BodyError::Io(_) => StatusCode::BAD_REQUEST,
        }
    }
}

impl fmt::Display for BodyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BodyError::TooLarge => f.write_str("request body too large"),
            BodyError::Malformed(m) => write!(f, "malformed request body: {m}"),
            BodyError::Timeout => f.write_str("request body timed out"),
            BodyError::Io(e) => write!(f, "connection error while reading the body: {e}"),
        }
    }
}

impl std::error::Error for BodyError {}

impl From<BodyError> for io::Error {
    fn from(e: BodyError) -> io::Error {
        io::Error::other(e)
    }
}

/// Where a streamed request body comes from (a protocol connection).
pub(crate) trait BodySource {
    /// The next chunk, `None` at the end.
    fn poll_chunk(&self, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, BodyError>>>;
    /// Bytes still expected, if known.
    fn remaining_hint(&self) -> Option<u64>;
    /// The trailer fields that ended the body, once it has ended.
    fn trailers(&self) -> Option<HeaderMap> {
        None
    }
}

enum RequestInner {
    Empty,
    Full(Option<Bytes>),
    Source(Rc<dyn BodySource>),
}

/// The body of a request, read in chunks as the client sends it (with
/// back-pressure: nothing is read from the socket until the handler asks).
///
/// ```
/// use percore_http::RequestBody;
/// use percore_runtime::Runtime;
/// Runtime::new().unwrap().block_on(async {
///     let body = RequestBody::from_bytes("abc");
///     assert_eq!(body.bytes(1024).await.unwrap(), "abc");
/// });
/// ```
pub struct RequestBody {
    inner: RequestInner,
}

impl Default for RequestBody {
    fn default() -> Self {
        RequestBody::empty()
    }
}

impl fmt::Debug for RequestBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RequestBody")
    }
}

impl RequestBody {
    /// A body with no bytes.
    pub fn empty() -> RequestBody {
        RequestBody {
            inner: RequestInner::Empty,
        }
    }

    /// A body already in memory (tests, HTTP/2 small bodies).
    pub fn from_bytes(bytes: impl Into<Bytes>) -> RequestBody {
        RequestBody {
            inner: RequestInner::Full(Some(bytes.into())),
        }
    }

    pub(crate) fn from_source(source: Rc<dyn BodySource>) -> RequestBody {
        RequestBody {
            inner: RequestInner::Source(source),
        }
    }

    /// Polls for the next chunk.
    pub fn poll_chunk(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, BodyError>>> {
        match &mut self.inner {
            RequestInner::Empty => Poll::Ready(None),
            RequestInner::Full(b) => Poll::Ready(b.take().filter(|b| !b.is_empty()).map(Ok)),
            RequestInner::Source(s) => s.poll_chunk(cx),
        }
    }

    /// The next chunk of the body; `None` at its end.
    pub async fn chunk(&mut self) -> Option<Result<Bytes, BodyError>> {
        poll_fn(|cx| self.poll_chunk(cx)).await
    }

    /// Reads the whole body, failing with [`BodyError::TooLarge`] beyond `limit` bytes.
    pub async fn bytes(mut self, limit: usize) -> Result<Bytes, BodyError> {
        if let RequestInner::Full(b) = &mut self.inner {
            let b = b.take().unwrap_or_default();
            return if b.len() > limit {
                Err(BodyError::TooLarge)
            } else {
                Ok(b)
            };
        }
        let mut first: Option<Bytes> = None;
        let mut buf = BytesMut::new();
        while let Some(chunk) = self.chunk().await {
            let chunk = chunk?;
            let have = first.as_ref().map_or(0, Bytes::len) + buf.len();
            if have + chunk.len() > limit {
                return Err(BodyError::TooLarge);
            }
            match &first {
                None if buf.is_empty() => first = Some(chunk),
                _ => {
                    if let Some(f) = first.take() {
                        buf.extend_from_slice(&f);
                    }
                    buf.extend_from_slice(&chunk);
                }
            }
        }
        Ok(first.unwrap_or_else(|| buf.freeze()))
    }

    /// Bytes still expected, if known (Content-Length).
    pub fn size_hint(&self) -> Option<u64> {
        match &self.inner {
            RequestInner::Empty => Some(0),
            RequestInner::Full(b) => Some(b.as_ref().map_or(0, |b| b.len() as u64)),
            RequestInner::Source(s) => s.remaining_hint(),
        }
    }

    /// The trailer fields the client sent after the body (HTTP/1.1 chunked
    /// trailers, HTTP/2 trailing HEADERS), once [`chunk`](Self::chunk) has
    /// returned `None`; `None` before that or when there were none.
    /// Framing and routing fields never appear here: the protocol layers
    /// reject or drop them. [`bytes`](Self::bytes) consumes the body, and
    /// its trailers with it: read with `chunk` to keep them.
    ///
    /// ```
    /// use percore_http::RequestBody;
    /// let body = RequestBody::from_bytes("no trailers here");
    /// assert!(body.trailers().is_none());
    /// ```
    pub fn trailers(&self) -> Option<HeaderMap> {
        match &self.inner {
            RequestInner::Source(s) => s.trailers(),
            _ => None,
        }
    }
}

/// A stream of response body chunks.
pub trait BodyStream {
    /// The next chunk; `None` at the end.
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<io::Result<Bytes>>>;

    /// The total length, if known up front (sent as Content-Length).
    fn size_hint(&self) -> Option<u64> {
        None
    }

    /// The file range this body would read, while none of it has been:
    /// `(file, offset, len)`. [`FileBody`](crate::FileBody) answers it, so
    /// that HTTP/1.1 over plain TCP sends the range with `sendfile(2)`
    /// instead of polling the body (TLS, HTTP/2 and wrapping bodies such
    /// as compression read it chunk by chunk). A body answering `Some`
    /// must give exactly those bytes when polled.
    ///
    /// ```
    /// use percore_http::{BodyStream, FileBody};
    /// use percore_runtime::{Runtime, fs::File};
    /// let path = std::env::temp_dir().join(format!("percore-file-range-doc-{}", std::process::id()));
    /// std::fs::write(&path, b"0123456789").unwrap();
    /// Runtime::new().unwrap().block_on(async {
    ///     let body = FileBody::new(File::open(&path).await.unwrap(), 2, 5);
    ///     let (_file, offset, len) = body.file_range().unwrap();
    ///     assert_eq!((offset, len), (2, 5));
    /// });
    /// std::fs::remove_file(&path).unwrap();
    /// ```
    fn file_range(&self) -> Option<(&percore_runtime::fs::File, u64, u64)> {
        None
    }

    /// Trailer fields to send after the last chunk; asked once, after
    /// `poll_next` returned `None`. HTTP/2 sends them as a trailing HEADERS
    /// frame, HTTP/1.1 in the chunked encoding's trailer section (a body of
    /// known length has no room for them there, so they are dropped).
    fn take_trailers(self: Pin<&mut Self>) -> Option<HeaderMap> {
        None
    }
}

impl BodyStream for RequestBody {
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<io::Result<Bytes>>> {
        self.get_mut()
            .poll_chunk(cx)
            .map(|c| c.map(|r| r.map_err(io::Error::from)))
    }

    fn size_hint(&self) -> Option<u64> {
        RequestBody::size_hint(self)
    }

    /// A request body streamed back as a response forwards its trailers.
    fn take_trailers(self: Pin<&mut Self>) -> Option<HeaderMap> {
        self.trailers()
    }
}

/// The body of a response.
#[derive(Default)]
pub enum Body {
    /// No body.
    #[default]
    Empty,
    /// Bytes in memory (sent with Content-Length).
    Full(Bytes),
    /// A stream of chunks (Content-Length if its size is known, else chunked).
    Stream(Pin<Box<dyn BodyStream>>),
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Body::Empty => f.write_str("Body::Empty"),
            Body::Full(b) => write!(f, "Body::Full({} bytes)", b.len()),
            Body::Stream(_) => f.write_str("Body::Stream"),
        }
    }
}

impl Body {
    /// No body.
    pub fn empty() -> Body {
        Body::Empty
    }

    /// A streamed body.
    pub fn stream(s: impl BodyStream + 'static) -> Body {
        Body::Stream(Box::pin(s))
    }

    /// A body fed through a bounded channel by another task: the sender's
    /// `send` waits while `capacity` chunks are queued.
    pub fn channel(capacity: usize) -> (BodySender, Body) {
        let shared = Rc::new(RefCell::new(ChannelState {
            queue: VecDeque::new(),
            capacity: capacity.max(1),
            closed: false,
            sender_alive: true,
            trailers: None,
            rx_waker: None,
            tx_waker: None,
        }));
        (
            BodySender {
                shared: shared.clone(),
            },
            Body::stream(ChannelBody { shared }),
        )
    }

    /// The length, if known.
    pub fn size_hint(&self) -> Option<u64> {
        match self {
            Body::Empty => Some(0),
            Body::Full(b) => Some(b.len() as u64),
            Body::Stream(s) => s.size_hint(),
        }
    }

    /// Whether the body is known to be empty.
    pub fn is_empty(&self) -> bool {
        self.size_hint() == Some(0)
    }

    /// Collects the body into memory (for tests and small bodies).
    pub async fn collect(self) -> io::Result<Bytes> {
        match self {
            Body::Empty => Ok(Bytes::new()),
            Body::Full(b) => Ok(b),
            Body::Stream(mut s) => {
                let mut buf = BytesMut::new();
                while let Some(chunk) = poll_fn(|cx| s.as_mut().poll_next(cx)).await {
                    buf.extend_from_slice(&chunk?);
                }
                Ok(buf.freeze())
            }
        }
    }
}

impl From<Bytes> for Body {
    fn from(b: Bytes) -> Body {
        Body::Full(b)
    }
}
impl From<Vec<u8>> for Body {
    fn from(b: Vec<u8>) -> Body {
        Body::Full(b.into())
    }
}
impl From<String> for Body {
    fn from(s: String) -> Body {
        Body::Full(s.into())
    }
}
impl From<&'static str> for Body {
    fn from(s: &'static str) -> Body {
        Body::Full(Bytes::from_static(s.as_bytes()))
    }
}
impl From<&'static [u8]> for Body {
    fn from(s: &'static [u8]) -> Body {
        Body::Full(Bytes::from_static(s))
    }
}
impl From<RequestBody> for Body {
    fn from(b: RequestBody) -> Body {
        Body::stream(b)
    }
}

struct ChannelState {
    queue: VecDeque<Bytes>,
    capacity: usize,
    closed: bool,
    sender_alive: bool,
    trailers: Option<HeaderMap>,
    rx_waker: Option<Waker>,
    tx_waker: Option<Waker>,
}

/// Sends chunks of a [`Body::channel`] body.
pub struct BodySender {
    shared: Rc<RefCell<ChannelState>>,
}

impl std::fmt::Debug for BodySender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BodySender").finish_non_exhaustive()
    }
}

impl BodySender {
    /// Queues a chunk, waiting while the channel is full. Fails if the
    /// response was abandoned (client gone).
    pub async fn send(&self, chunk: impl Into<Bytes>) -> io::Result<()> {
        let mut chunk = Some(chunk.into());
        poll_fn(|cx| {
            let mut st = self.shared.borrow_mut();
            if st.closed {
                return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
            }
            if st.queue.len() >= st.capacity {
                st.tx_waker = Some(cx.waker().clone());
                return Poll::Pending;
            }
            if let Some(c) = chunk.take() {
                st.queue.push_back(c);
            }
            if let Some(w) = st.rx_waker.take() {
                w.wake();
            }
            Poll::Ready(Ok(()))
        })
        .await
    }

    /// Ends the body with trailer fields (see [`BodyStream::take_trailers`]).
    ///
    /// ```
    /// use http::{HeaderMap, HeaderValue};
    /// use percore_http::Body;
    /// use percore_runtime::Runtime;
    /// Runtime::new().unwrap().block_on(async {
    ///     let (tx, body) = Body::channel(4);
    ///     tx.send("data").await.unwrap();
    ///     let mut trailers = HeaderMap::new();
    ///     trailers.insert("x-checksum", HeaderValue::from_static("abc"));
    ///     tx.finish_with_trailers(trailers);
    ///     assert_eq!(body.collect().await.unwrap(), "data");
    /// });
    /// ```
    pub fn finish_with_trailers(self, trailers: HeaderMap) {
        self.shared.borrow_mut().trailers = Some(trailers);
    }
}

impl Drop for BodySender {
    fn drop(&mut self) {
        let mut st = self.shared.borrow_mut();
        st.sender_alive = false;
        if let Some(w) = st.rx_waker.take() {
            w.wake();
        }
    }
}

struct ChannelBody {
    shared: Rc<RefCell<ChannelState>>,
}

impl BodyStream for ChannelBody {
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<io::Result<Bytes>>> {
        let mut st = self.shared.borrow_mut();
        if let Some(c) = st.queue.pop_front() {
            if let Some(w) = st.tx_waker.take() {
                w.wake();
            }
            return Poll::Ready(Some(Ok(c)));
        }
        if !st.sender_alive {
            return Poll::Ready(None);
        }
        st.rx_waker = Some(cx.waker().clone());
        Poll::Pending
    }

    fn take_trailers(self: Pin<&mut Self>) -> Option<HeaderMap> {
        self.shared.borrow_mut().trailers.take()
    }
}

impl Drop for ChannelBody {
    fn drop(&mut self) {
        let mut st = self.shared.borrow_mut();
        st.closed = true;
        if let Some(w) = st.tx_waker.take() {
            w.wake();
        }
    }
}

/// Whether a field may travel in a trailer section (RFC 9110 §6.5.1): not
/// framing, routing, connection management, authentication, nor anything
/// that decides how the content is processed.
pub(crate) fn allowed_in_trailers(name: &HeaderName) -> bool {
    !matches!(
        name.as_str(),
        "content-length"
            | "transfer-encoding"
            | "trailer"
            | "host"
            | "te"
            | "connection"
            | "keep-alive"
            | "proxy-connection"
            | "upgrade"
            | "content-encoding"
            | "content-type"
            | "content-range"
            | "authorization"
            | "proxy-authorization"
            | "cookie"
            | "set-cookie"
            | "cache-control"
            | "expect"
            | "max-forwards"
            | "range"
    )
}

/// `trailers` without the fields [`allowed_in_trailers`] refuses; `None`
/// when nothing is left.
pub(crate) fn allowed_trailers(trailers: HeaderMap) -> Option<HeaderMap> {
    let mut kept = HeaderMap::new();
    let mut last: Option<HeaderName> = None;
    for (name, value) in trailers {
        // `HeaderMap`'s owning iterator names only the first of repeated values.
        if let Some(name) = name {
            last = Some(name);
        }
        if let Some(name) = last.as_ref().filter(|n| allowed_in_trailers(n)) {
            kept.append(name.clone(), value);
        }
    }
    (!kept.is_empty()).then_some(kept)
}

/// Polls a boxed response stream once (helper for connection drivers).
pub(crate) fn next_chunk(
    s: &mut Pin<Box<dyn BodyStream>>,
) -> impl Future<Output = Option<io::Result<Bytes>>> + '_ {
    poll_fn(move |cx| s.as_mut().poll_next(cx))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn trailers_keep_only_what_a_trailer_section_may_carry() {
        let mut t = HeaderMap::new();
        t.append("x-checksum", HeaderValue::from_static("a"));
        t.append("x-checksum", HeaderValue::from_static("b"));
        t.append("content-length", HeaderValue::from_static("5"));
        t.append("host", HeaderValue::from_static("evil"));
        t.append("server-timing", HeaderValue::from_static("db;dur=53"));
        t.append("transfer-encoding", HeaderValue::from_static("chunked"));
        let kept = allowed_trailers(t).expect("two fields survive");
        let checksums: Vec<_> = kept.get_all("x-checksum").iter().collect();
        assert_eq!(checksums, ["a", "b"]);
        assert_eq!(kept["server-timing"], "db;dur=53");
        assert_eq!(kept.len(), 3);
        let mut only_framing = HeaderMap::new();
        only_framing.insert("content-length", HeaderValue::from_static("1"));
        assert!(allowed_trailers(only_framing).is_none());
    }
}
