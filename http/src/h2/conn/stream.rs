//! One stream's state (RFC 9113 §5.1) and its queued response data.

use std::collections::VecDeque;
use std::time::Instant;

use bytes::Bytes;
use http::HeaderMap;

/// The states a server stream passes through once the request HEADERS
/// arrived (idle and reserved states never reach the stream table).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    /// Both sides may send.
    Open,
    /// The client sent END_STREAM; we are still answering.
    HalfClosedRemote,
    /// We sent END_STREAM; the client is still sending its body.
    HalfClosedLocal,
}

/// Response data queued on one stream, in order. The first chunk is held
/// inline: most responses are one chunk, and a queue allocation per stream
/// was a measurable share of an HTTP/2 request's cost.
#[derive(Debug, Default)]
pub(crate) struct ChunkQueue {
    /// The oldest chunk; `None` only when `rest` is empty too.
    head: Option<Bytes>,
    rest: VecDeque<Bytes>,
}

impl ChunkQueue {
    pub fn push_back(&mut self, chunk: Bytes) {
        if self.head.is_none() {
            self.head = Some(chunk);
        } else {
            self.rest.push_back(chunk);
        }
    }

    pub fn front_mut(&mut self) -> Option<&mut Bytes> {
        self.head.as_mut()
    }

    pub fn pop_front(&mut self) -> Option<Bytes> {
        let oldest = self.head.take();
        self.head = self.rest.pop_front();
        oldest
    }
}

/// A stream in the table.
#[derive(Debug)]
pub(crate) struct Stream {
    pub state: State,
    /// What we may still send (the peer's window for this stream).
    pub send_window: i64,
    /// What the peer may still send before our next WINDOW_UPDATE.
    pub recv_window: i64,
    /// Bytes the application consumed that we have not yet given back.
    pub recv_unreleased: u32,
    pub content_length: Option<u64>,
    pub received: u64,
    /// Response data waiting for window or for the writer.
    pub pending: ChunkQueue,
    pub pending_len: usize,
    /// END_STREAM goes out with (or after) the last queued data.
    pub end_queued: bool,
    /// Trailers go out after the queued data.
    pub trailers: Option<HeaderMap>,
    pub response_started: bool,
    /// In the round-robin queue of streams with data to send.
    pub scheduled: bool,
    /// Since when queued data has waited for a window with no DATA sent
    /// (see `ServerConnection::expire_window_stalls`).
    pub window_wait_since: Option<Instant>,
}

impl Stream {
    pub fn new(send_window: i64, recv_window: i64, end_stream: bool) -> Stream {
        Stream {
            state: if end_stream {
                State::HalfClosedRemote
            } else {
                State::Open
            },
            send_window,
            recv_window,
            recv_unreleased: 0,
            content_length: None,
            received: 0,
            pending: ChunkQueue::default(),
            pending_len: 0,
            end_queued: false,
            trailers: None,
            response_started: false,
            scheduled: false,
            window_wait_since: None,
        }
    }

    /// The client may still send on this stream.
    pub fn remote_open(&self) -> bool {
        matches!(self.state, State::Open | State::HalfClosedLocal)
    }

    /// Marks the remote side finished; returns whether the stream is now
    /// fully closed.
    pub fn close_remote(&mut self) -> bool {
        match self.state {
            State::Open => {
                self.state = State::HalfClosedRemote;
                false
            }
            State::HalfClosedLocal | State::HalfClosedRemote => true,
        }
    }

    /// Marks the local side finished; returns whether the stream is now
    /// fully closed.
    pub fn close_local(&mut self) -> bool {
        match self.state {
            State::Open => {
                self.state = State::HalfClosedLocal;
                false
            }
            State::HalfClosedRemote | State::HalfClosedLocal => true,
        }
    }

    /// Whether anything is left to send (data, END_STREAM or trailers).
    pub fn has_output(&self) -> bool {
        self.pending_len > 0 || self.end_queued || self.trailers.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_queue_keeps_order_across_the_inline_slot() {
        let mut q = ChunkQueue::default();
        assert!(q.front_mut().is_none());
        q.push_back(Bytes::from_static(b"a"));
        q.push_back(Bytes::from_static(b"b"));
        q.push_back(Bytes::from_static(b"c"));
        assert_eq!(q.pop_front().as_deref(), Some(&b"a"[..]));
        q.push_back(Bytes::from_static(b"d"));
        let front = q.front_mut().map(|b| b.split_to(1));
        assert_eq!(front.as_deref(), Some(&b"b"[..]));
        let drained: Vec<Bytes> = std::iter::from_fn(|| q.pop_front()).collect();
        assert_eq!(drained, [&b""[..], b"c", b"d"]);
        assert!(q.front_mut().is_none());
        q.push_back(Bytes::from_static(b"e"));
        assert_eq!(q.pop_front().as_deref(), Some(&b"e"[..]));
        assert_eq!(q.pop_front(), None);
    }
}
