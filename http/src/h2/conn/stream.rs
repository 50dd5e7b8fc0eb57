//! One stream's state (RFC 9113 §5.1), its windows and its queued
//! outgoing data; and the bounded memory of recently closed streams.

use std::collections::VecDeque;
use std::time::Instant;

use bytes::Bytes;
use http::HeaderMap;

use super::flow_control::{RecvWindow, SendWindow};

/// The states a stream in the table passes through (idle and reserved
/// states never reach the table: a stream enters it open or half-closed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum State {
    /// Both sides may send.
    Open,
    /// The peer sent END_STREAM; we are still sending.
    HalfClosedRemote,
    /// We sent END_STREAM; the peer is still sending.
    HalfClosedLocal,
}

/// Response data queued on one stream, in order. The first chunk is held
/// inline: most responses are one chunk, and a queue allocation per stream
/// was a measurable share of an HTTP/2 request's cost.
#[derive(Debug, Default)]
pub(super) struct ChunkQueue {
    /// The oldest chunk; `None` only when `rest` is empty too.
    head: Option<Bytes>,
    rest: VecDeque<Bytes>,
}

impl ChunkQueue {
    pub(super) fn push_back(&mut self, chunk: Bytes) {
        if self.head.is_none() {
            self.head = Some(chunk);
        } else {
            self.rest.push_back(chunk);
        }
    }

    pub(super) fn front_mut(&mut self) -> Option<&mut Bytes> {
        self.head.as_mut()
    }

    pub(super) fn pop_front(&mut self) -> Option<Bytes> {
        let oldest = self.head.take();
        self.head = self.rest.pop_front();
        oldest
    }
}

/// A stream in the table.
#[derive(Debug)]
pub(super) struct Stream {
    pub(super) state: State,
    /// What we may still send (the peer's window for this stream).
    pub(super) send_window: SendWindow,
    /// What the peer may still send, and what we owe it back.
    pub(super) recv_window: RecvWindow,
    /// The peer's declared content-length, checked against its DATA.
    pub(super) content_length: Option<u64>,
    /// DATA bytes received (padding excluded).
    pub(super) received: u64,
    /// The peer's head arrived: HEADERS from now on are trailers. A server
    /// stream starts with the request head; a client stream waits for the
    /// final response head.
    pub(super) head_received: bool,
    /// Our head went out: DATA and trailers may follow.
    pub(super) head_sent: bool,
    /// A client stream carrying a HEAD request: the response's
    /// content-length describes no body (RFC 9110 §9.3.2).
    pub(super) method_is_head: bool,
    /// An extended CONNECT (RFC 8441): no DATA before our head, no
    /// trailers; after a 2xx, DATA carries the tunnelled protocol.
    pub(super) tunnel: bool,
    /// Outgoing data waiting for window or for the writer.
    pub(super) pending: ChunkQueue,
    pub(super) pending_len: usize,
    /// END_STREAM goes out with (or after) the last queued data.
    pub(super) end_queued: bool,
    /// Trailers go out after the queued data.
    pub(super) trailers: Option<HeaderMap>,
    /// In the round-robin queue of streams with data to send.
    pub(super) scheduled: bool,
    /// Since when queued data has waited for a window with no DATA sent
    /// (see `ServerConnection::expire_window_stalls`).
    pub(super) window_wait_since: Option<Instant>,
    /// Bytes the peer sent (padding included) since our side ended on a
    /// stream being drained (see `Connection::is_draining`).
    pub(super) drained: u64,
    /// Since when the stream has been drained, once the driver looked at
    /// it (see `Connection::expire_drains`).
    pub(super) drain_since: Option<Instant>,
}

impl Stream {
    /// A stream entering the table in `state`, with the peer's initial
    /// window `send_window` and ours, `recv_window`.
    pub(super) fn new(send_window: i64, recv_window: i64, state: State) -> Stream {
        Stream {
            state,
            send_window: SendWindow::new(send_window),
            recv_window: RecvWindow::new(recv_window),
            content_length: None,
            received: 0,
            head_received: false,
            head_sent: false,
            method_is_head: false,
            tunnel: false,
            pending: ChunkQueue::default(),
            pending_len: 0,
            end_queued: false,
            trailers: None,
            scheduled: false,
            window_wait_since: None,
            drained: 0,
            drain_since: None,
        }
    }

    /// The peer may still send on this stream.
    pub(super) fn remote_open(&self) -> bool {
        matches!(self.state, State::Open | State::HalfClosedLocal)
    }

    /// Marks the remote side finished; returns whether the stream is now
    /// fully closed.
    pub(super) fn close_remote(&mut self) -> bool {
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
    pub(super) fn close_local(&mut self) -> bool {
        match self.state {
            State::Open => {
                self.state = State::HalfClosedLocal;
                false
            }
            State::HalfClosedRemote | State::HalfClosedLocal => true,
        }
    }

    /// Whether anything is left to send (data, END_STREAM or trailers).
    pub(super) fn has_output(&self) -> bool {
        self.pending_len > 0 || self.end_queued || self.trailers.is_some()
    }

    /// Whether the stream still takes DATA or trailers from us.
    pub(super) fn accepts_output(&self) -> bool {
        self.head_sent && !self.end_queued && self.trailers.is_none()
    }

    /// Whether queued data waits for a window (the stream's, or the
    /// connection's when `conn_window_open` is false).
    pub(super) fn blocked_on_window(&self, conn_window_open: bool) -> bool {
        self.pending_len > 0 && (!self.send_window.is_open() || !conn_window_open)
    }
}

/// Streams we reset whose late frames are still ignored.
const RECENTLY_CLOSED: usize = 128;

/// The last streams that closed, and whether we reset them: frames the
/// peer sent before it saw our RST_STREAM are ignored (RFC 9113 §5.4.2).
/// Bounded, so a peer cannot grow it.
#[derive(Debug, Default)]
pub(super) struct RecentlyClosed(VecDeque<(u32, bool)>);

impl RecentlyClosed {
    pub(super) fn remember(&mut self, stream_id: u32, reset_by_us: bool) {
        if self.0.len() == RECENTLY_CLOSED {
            self.0.pop_front();
        }
        self.0.push_back((stream_id, reset_by_us));
    }

    /// `Some(reset_by_us)` if `stream_id` closed recently.
    pub(super) fn get(&self, stream_id: u32) -> Option<bool> {
        self.0
            .iter()
            .rev()
            .find(|(s, _)| *s == stream_id)
            .map(|(_, by_us)| *by_us)
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

    #[test]
    fn recently_closed_remembers_the_last_128() {
        let mut r = RecentlyClosed::default();
        assert_eq!(r.get(1), None);
        for id in 1..=128 {
            r.remember(id, id % 2 == 0);
        }
        assert_eq!(r.get(1), Some(false));
        assert_eq!(r.get(2), Some(true));
        assert_eq!(r.get(128), Some(true));
        r.remember(129, true);
        assert_eq!(r.get(1), None, "the oldest is forgotten");
        assert_eq!(r.get(3), Some(false));
        assert_eq!(r.get(129), Some(true));
        // The latest entry for a stream wins.
        r.remember(3, true);
        assert_eq!(r.get(3), Some(true));
    }

    #[test]
    fn states_and_what_a_stream_may_still_do() {
        let mut s = Stream::new(10, 10, State::Open);
        assert!(s.remote_open());
        assert!(!s.has_output());
        assert!(!s.accepts_output(), "no head sent yet");
        s.head_sent = true;
        assert!(s.accepts_output());
        s.pending_len = 5;
        assert!(s.has_output());
        assert!(!s.blocked_on_window(true));
        assert!(s.blocked_on_window(false), "the connection window is shut");
        s.send_window.consume(10);
        assert!(s.blocked_on_window(true), "the stream window is shut");
        s.pending_len = 0;
        assert!(!s.blocked_on_window(false), "nothing queued");
        s.end_queued = true;
        assert!(s.has_output());
        assert!(!s.accepts_output());
        s.end_queued = false;
        s.trailers = Some(HeaderMap::new());
        assert!(s.has_output());
        assert!(!s.accepts_output());

        assert!(!s.close_local());
        assert_eq!(s.state, State::HalfClosedLocal);
        assert!(s.remote_open());
        assert!(s.close_remote());
        let mut s = Stream::new(10, 10, State::Open);
        assert!(!s.close_remote());
        assert_eq!(s.state, State::HalfClosedRemote);
        assert!(!s.remote_open());
        assert!(s.close_local());
        let mut s = Stream::new(10, 10, State::HalfClosedRemote);
        assert!(s.close_remote(), "closing a closed side again");
        let mut s = Stream::new(10, 10, State::HalfClosedLocal);
        assert!(s.close_local());
    }
}
