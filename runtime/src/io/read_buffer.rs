//! [`ReadBuffer`]: a connection's input buffer whose read survives
//! cancelled calls.

use std::fmt;
use std::future::{poll_fn, Future};
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::BytesMut;

use super::input::Input;
use super::OwnedRead;
use crate::time::{sleep_until, Sleep};

/// The input side of a connection: the bytes received and not yet consumed,
/// the read that fills them, how the buffer grows, and a deadline.
///
/// A read, once started, owns the buffer until it completes. When the call
/// that waits for it is cancelled (dropped by a `race`, a timeout, a
/// shutdown signal), the read stays here and the next call resumes it: no
/// byte is lost and none is reordered. A deadline ends a wait, never a read.
///
/// Growth: before a read, the buffer gets room for what the caller
/// [`expects`](ReadBuffer::expect) (the rest of a large frame, say), at most
/// `max_ahead` bytes, and at least `chunk` bytes when less than a quarter
/// chunk is free.
///
/// ```
/// use std::rc::Rc;
/// use bytes::BytesMut;
/// use percore_runtime::{Runtime, io::ReadBuffer, net::UnixStream};
/// Runtime::new().unwrap().block_on(async {
///     let (a, b) = UnixStream::pair().unwrap();
///     let mut input = ReadBuffer::new(Rc::new(b), BytesMut::new(), 16 * 1024);
///     a.write_all(&b"hello"[..]).await.0.unwrap();
///     while input.buffer().len() < 5 {
///         assert!(input.fill(None).await.unwrap() > 0);
///     }
///     assert_eq!(&input.buffer()[..], b"hello");
/// });
/// ```
pub struct ReadBuffer<S> {
    stream: Rc<S>,
    input: Input,
    /// The deadline's timer, kept between waits.
    timer: Option<Sleep>,
}

impl<S> fmt::Debug for ReadBuffer<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReadBuffer")
            .field("buffered", &self.input.buf.len())
            .field("reading", &self.input.is_reading())
            .field("chunk", &self.input.chunk)
            .finish()
    }
}

impl<S: OwnedRead + 'static> ReadBuffer<S> {
    /// Input of `stream`, starting with the bytes already read in `buf`,
    /// growing by `chunk` bytes.
    pub fn new(stream: Rc<S>, buf: BytesMut, chunk: usize) -> ReadBuffer<S> {
        ReadBuffer {
            stream,
            input: Input::new(buf, chunk.max(1)),
            timer: None,
        }
    }

    /// Lets a read reserve up to `max_ahead` bytes at once for input the
    /// caller [`expect`](Self::expect)s (default: one chunk).
    pub fn with_max_ahead(mut self, max_ahead: usize) -> ReadBuffer<S> {
        self.input.max_ahead = max_ahead.max(self.input.chunk);
        self
    }

    /// The stream read from.
    pub fn stream(&self) -> &Rc<S> {
        &self.stream
    }

    /// The bytes received and not yet consumed (empty while a read is in
    /// flight: the read owns them until it completes).
    pub fn buffer(&self) -> &BytesMut {
        &self.input.buf
    }

    /// The buffer, for a parser to consume what it decodes.
    pub fn buffer_mut(&mut self) -> &mut BytesMut {
        &mut self.input.buf
    }

    /// Whether a read is in flight (started and not yet completed).
    pub fn is_reading(&self) -> bool {
        self.input.is_reading()
    }

    /// Says that the input being received still needs `bytes` more (0
    /// between messages): the next read makes room for them at once, up
    /// to `max_ahead`.
    pub fn expect(&mut self, bytes: usize) {
        self.input.expected = bytes;
    }

    /// Takes the buffered bytes, for a protocol that continues on the
    /// same stream. A read in flight is cancelled (and what it would have
    /// read is lost): call it between reads.
    pub fn take_buffer(&mut self) -> BytesMut {
        debug_assert!(
            !self.input.is_reading(),
            "taking the buffer of a read in flight"
        );
        self.input.take_buffer()
    }

    /// Waits for more input: resumes the read in flight or starts one.
    /// `Ok(n)` appended `n` bytes (0: end of stream); an error of kind
    /// `TimedOut` means `deadline` passed first (the read stays in flight
    /// for the next call).
    pub async fn fill(&mut self, deadline: Option<Instant>) -> io::Result<usize> {
        poll_fn(|cx| self.poll_fill(cx, deadline)).await
    }

    /// The poll form of [`fill`](Self::fill), for `poll` methods.
    pub fn poll_fill(
        &mut self,
        cx: &mut Context<'_>,
        deadline: Option<Instant>,
    ) -> Poll<io::Result<usize>> {
        if let Poll::Ready(res) = self.input.poll_read(&self.stream, cx) {
            return Poll::Ready(res);
        }
        let Some(deadline) = deadline else {
            return Poll::Pending;
        };
        // The timer stays armed between waits. A later deadline leaves it
        // as it is: it wakes us early, and is moved on then (one timer
        // operation per deadline that passes, not two per wait).
        let timer = self.timer.get_or_insert_with(|| sleep_until(deadline));
        if timer.deadline() > deadline {
            timer.reset(deadline);
        }
        loop {
            match Pin::new(&mut *timer).poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(()) if timer.deadline() >= deadline => {
                    return Poll::Ready(Err(io::ErrorKind::TimedOut.into()))
                }
                Poll::Ready(()) => timer.reset(deadline),
            }
        }
    }
}

/// How much room to add to a buffer with `spare` free bytes before a read,
/// when the input being received still needs `expected` bytes: enough for
/// all of it, at most `max_ahead`, and at least `chunk`; `None` when less
/// than a quarter chunk is wanted and that much is free.
pub(super) fn room_to_reserve(
    spare: usize,
    expected: usize,
    chunk: usize,
    max_ahead: usize,
) -> Option<usize> {
    let wanted = expected.clamp(chunk / 4, max_ahead.max(chunk / 4));
    (spare < wanted).then(|| wanted.max(chunk))
}

#[cfg(test)]
mod tests {
    use super::room_to_reserve;

    const CHUNK: usize = 16 * 1024;
    const AHEAD: usize = 4 << 20;

    #[test]
    fn grows_by_a_chunk_when_little_room_is_left() {
        assert_eq!(room_to_reserve(CHUNK, 0, CHUNK, AHEAD), None);
        assert_eq!(room_to_reserve(CHUNK / 4, 0, CHUNK, AHEAD), None);
        assert_eq!(room_to_reserve(CHUNK / 4 - 1, 0, CHUNK, AHEAD), Some(CHUNK));
        assert_eq!(room_to_reserve(0, 0, CHUNK, CHUNK), Some(CHUNK));
    }

    #[test]
    fn makes_room_for_expected_input_within_bounds() {
        // A 1 MiB frame whose header arrived: room for all of it at once.
        assert_eq!(room_to_reserve(CHUNK, 1 << 20, CHUNK, AHEAD), Some(1 << 20));
        assert_eq!(room_to_reserve(1 << 20, 1 << 20, CHUNK, AHEAD), None);
        // A peer declaring 16 MiB gets at most `max_ahead` reserved ahead.
        assert_eq!(room_to_reserve(0, 16 << 20, CHUNK, AHEAD), Some(AHEAD));
        // Without a larger `max_ahead`, expectations grow by a chunk.
        assert_eq!(room_to_reserve(0, 1 << 20, CHUNK, CHUNK), Some(CHUNK));
        // A small expectation still reserves a whole chunk.
        assert_eq!(room_to_reserve(10, 100, CHUNK, AHEAD), Some(CHUNK));
    }
}
