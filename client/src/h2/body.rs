//! A response body read from an HTTP/2 stream, and [`AnyBody`]: the body
//! of a [`Response`](crate::Response) over either protocol.

use std::future::poll_fn;
use std::task::Poll;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::HeaderMap;

use super::{read_bounded, StreamRef};
use crate::error::{Error, ErrorKind};
use crate::h1::BodyReader;

/// A response body over HTTP/1.1 or HTTP/2.
pub(crate) enum AnyBody {
    H1(Box<BodyReader>),
    H2(H2Body),
    /// An HTTP/1.1 body that arrived whole with its head (its connection
    /// already given back): no reader, no box. `None` once taken.
    Ready(Option<Bytes>),
}

impl From<BodyReader> for AnyBody {
    fn from(b: BodyReader) -> AnyBody {
        AnyBody::H1(Box::new(b))
    }
}

impl AnyBody {
    /// The next piece of body, `None` at its end.
    pub(crate) async fn next(&mut self) -> Result<Option<Bytes>, Error> {
        match self {
            AnyBody::H1(b) => b.next().await,
            AnyBody::H2(b) => b.next().await,
            AnyBody::Ready(b) => Ok(b.take().filter(|b| !b.is_empty())),
        }
    }

    /// The trailer fields, once the body has been read to its end.
    pub(crate) fn trailers(&self) -> Option<&HeaderMap> {
        match self {
            AnyBody::H1(b) => b.trailers(),
            AnyBody::H2(b) => b.trailers.as_deref(),
            AnyBody::Ready(_) => None,
        }
    }

    /// Whether the body has been read to its end (or failed).
    pub(crate) fn is_finished(&self) -> bool {
        match self {
            AnyBody::H1(b) => b.is_finished(),
            AnyBody::H2(b) => b.stream.is_none(),
            AnyBody::Ready(b) => b.is_none(),
        }
    }
}

/// The body of one HTTP/2 response; dropping it before its end resets
/// the stream (CANCEL) and gives back the window of unread data.
pub(crate) struct H2Body {
    stream: Option<StreamRef>,
    read_timeout: Option<Duration>,
    total: Option<Instant>,
    /// Boxed: rare, and `Response` (which holds this) is moved on its
    /// way out of the send path.
    trailers: Option<Box<HeaderMap>>,
}

impl H2Body {
    pub(super) fn new(
        stream: StreamRef,
        read_timeout: Option<Duration>,
        total: Option<Instant>,
    ) -> H2Body {
        H2Body {
            stream: Some(stream),
            read_timeout,
            total,
            trailers: None,
        }
    }

    async fn next(&mut self) -> Result<Option<Bytes>, Error> {
        let Some(stream) = self.stream.as_ref() else {
            return Ok(None);
        };
        let (shared, id) = (&stream.shared, stream.id);
        let got = read_bounded(
            self.read_timeout,
            self.total,
            poll_fn(|cx| {
                let mut st = shared.st.borrow_mut();
                let Some(slot) = st.slots.get_mut(&id) else {
                    return Poll::Ready(Err(Error::new(ErrorKind::Protocol, "HTTP/2 stream lost")));
                };
                if let Some(data) = slot.data.pop_front() {
                    st.conn.release(id, data.len());
                    st.kick();
                    return Poll::Ready(Ok(Some(data)));
                }
                if slot.end {
                    return Poll::Ready(Ok(None));
                }
                if let Some(code) = slot.reset {
                    return Poll::Ready(Err(Error::new(
                        ErrorKind::Protocol,
                        format!("the server reset the HTTP/2 stream inside the body ({code:?})"),
                    )));
                }
                if let Some(e) = st.error() {
                    return Poll::Ready(Err(e));
                }
                st.wait_slot(id, cx.waker());
                Poll::Pending
            }),
        )
        .await;
        match got {
            Ok(Ok(Some(data))) => Ok(Some(data)),
            Ok(Ok(None)) => {
                if let Some(stream) = self.stream.take() {
                    let mut st = stream.shared.st.borrow_mut();
                    self.trailers = st
                        .slots
                        .get_mut(&stream.id)
                        .and_then(|s| s.trailers.take())
                        .map(Box::new);
                }
                Ok(None)
            }
            Ok(Err(e)) | Err(e) => {
                self.stream = None; // resets the stream
                Err(e)
            }
        }
    }
}
