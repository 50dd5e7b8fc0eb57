//! Request bodies of HTTP/2 streams: DATA frames are queued per stream
//! ([`BodyQueue`]) and read by the stream's handler ([`H2BodyReader`]),
//! which gives the flow-control window back as it consumes them.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use bytes::Bytes;
use http::HeaderMap;
use percore_runtime::time::{sleep_until, Sleep};

use super::ConnRef;
use crate::body::{BodyError, BodySource};
use crate::server::body_pace::BodyPace;
use crate::Limits;

/// A request body arriving as DATA frames.
#[derive(Default)]
pub(super) struct BodyQueue {
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

impl fmt::Debug for BodyQueue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BodyQueue")
            .field("queued", &self.chunks.len())
            .field("end", &self.end)
            .field("error", &self.error)
            .field("abandoned", &self.abandoned)
            .finish()
    }
}

impl BodyQueue {
    /// Queues a DATA frame's payload for the reader. Returns the bytes to
    /// give back to the peer's window at once, when nobody will read them
    /// (the reader is gone, the body failed or grew past `limit`).
    pub(super) fn receive(&mut self, data: Bytes, end_stream: bool, limit: u64) -> Option<usize> {
        let mut unwanted = None;
        if self.abandoned || self.error.is_some() {
            unwanted = Some(data.len());
        } else {
            self.pace.received(data.len());
            if self.pace.data_received() > limit {
                self.error = Some(BodyError::TooLarge);
                unwanted = Some(data.len());
            } else if !data.is_empty() {
                self.chunks.push_back(data);
            }
        }
        self.end |= end_stream;
        self.wake();
        unwanted
    }

    /// Fails the body before any DATA: its declared length is over the
    /// limit, so the handler sees 413 at once, whatever the frames' timing.
    pub(super) fn refuse_too_large(&mut self) {
        self.error = Some(BodyError::TooLarge);
    }

    /// The body ended with trailing HEADERS.
    pub(super) fn end_with(&mut self, trailers: HeaderMap) {
        self.end = true;
        self.trailers = Some(trailers).filter(|t| !t.is_empty());
        self.wake();
    }

    fn wake(&mut self) {
        if let Some(w) = self.waker.take() {
            w.wake();
        }
    }

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

impl BodyQueue {
    /// For a tunnel ([`super::tunnel`]): the next bytes, no more than
    /// `take` of them (the rest stays queued); `Ok(None)` at the end of the
    /// peer's side; pending (with `cx` woken later) when nothing is queued.
    /// No pace rule: a tunnel may be idle as long as its protocol likes.
    pub(super) fn poll_tunnel(
        &mut self,
        cx: &mut Context<'_>,
        take: impl FnOnce(&[u8]) -> usize,
    ) -> Poll<Result<Option<usize>, BodyError>> {
        if let Some(chunk) = self.chunks.front_mut() {
            let n = take(chunk);
            if n >= chunk.len() {
                self.chunks.pop_front();
            } else {
                let _ = chunk.split_to(n);
            }
            return Poll::Ready(Ok(Some(n)));
        }
        if let Some(e) = &self.error {
            return Poll::Ready(Err(e.clone()));
        }
        if self.end {
            return Poll::Ready(Ok(None));
        }
        self.waker = Some(cx.waker().clone());
        Poll::Pending
    }

    /// The tunnel's reader is gone: what is queued is given back (its
    /// length returned) and what still arrives is released at once.
    pub(super) fn abandon(&mut self) -> usize {
        self.abandoned = true;
        self.chunks.drain(..).map(|c| c.len()).sum()
    }
}

pub(super) fn fail_body(body: &Rc<RefCell<BodyQueue>>, error: BodyError) {
    let mut b = body.borrow_mut();
    if !b.end {
        b.error = Some(error);
    }
    if let Some(w) = b.waker.take() {
        w.wake();
    }
}

/// The request body of one stream, read by its handler.
pub(super) struct H2BodyReader {
    shared: ConnRef,
    id: u32,
    queue: Rc<RefCell<BodyQueue>>,
}

impl H2BodyReader {
    /// The reader of stream `id`'s body, arriving in `queue`.
    pub(super) fn new(shared: ConnRef, id: u32, queue: Rc<RefCell<BodyQueue>>) -> H2BodyReader {
        H2BodyReader { shared, id, queue }
    }
}

impl fmt::Debug for H2BodyReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("H2BodyReader")
            .field("stream", &self.id)
            .finish()
    }
}

impl BodySource for H2BodyReader {
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

impl Drop for H2BodyReader {
    fn drop(&mut self) {
        // Whatever is queued or still arriving is given back unread.
        let unread = self.queue.borrow_mut().abandon();
        if let Ok(mut s) = self.shared.try_borrow_mut() {
            if unread > 0 {
                s.conn.release(self.id, unread);
                s.notify();
            }
        }
    }
}
