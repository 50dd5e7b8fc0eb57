//! One stream's state (RFC 9113 §5.1) and its queued response data.

use std::collections::VecDeque;

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
    pub pending: VecDeque<Bytes>,
    pub pending_len: usize,
    /// END_STREAM goes out with (or after) the last queued data.
    pub end_queued: bool,
    /// Trailers go out after the queued data.
    pub trailers: Option<HeaderMap>,
    pub response_started: bool,
    /// In the round-robin queue of streams with data to send.
    pub scheduled: bool,
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
            pending: VecDeque::new(),
            pending_len: 0,
            end_queued: false,
            trailers: None,
            response_started: false,
            scheduled: false,
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
