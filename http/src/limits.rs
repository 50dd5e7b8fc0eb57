//! Every limit and timeout of the HTTP layer, in one place, on by default.
//!
//! ```
//! use percore_http::Limits;
//! use std::time::Duration;
//! let limits = Limits::default()
//!     .max_body_size(1 << 20)
//!     .keep_alive_timeout(Duration::from_secs(5));
//! assert_eq!(limits.max_body_size, 1 << 20);
//! assert_eq!(limits.max_headers, 100);
//! ```

use std::time::Duration;

/// Limits and timeouts for HTTP/1.1 and HTTP/2 connections.
///
/// Defaults are safe for a server exposed to the internet; raise them only
/// where an application needs it. Start from `Limits::default()` and change
/// what you need with the setters of the same names (new limits may be
/// added in minor releases, so the struct cannot be built literally
/// outside this crate).
///
/// `max_body_size` is the one limit on request bodies: the connection
/// answers 413 beyond it, and the web layer's `Request::bytes`/`json`/`form`
/// collect up to it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Limits {
    /// Largest request head (request line + headers) in bytes. Over it: 431.
    pub max_head_size: usize,
    /// Most header fields in one request head. Over it: 431.
    pub max_headers: usize,
    /// Longest request target in bytes. Over it: 414.
    pub max_uri_len: usize,
    /// Largest request body in bytes (declared or streamed). Over it: 413.
    pub max_body_size: u64,
    /// Time allowed to receive a complete request head. Over it: 408 + close.
    pub header_read_timeout: Duration,
    /// Time allowed between two reads of a request body that is still arriving.
    pub body_read_timeout: Duration,
    /// Minimum body data rate in bytes per second, checked once the server
    /// has spent longer than `body_read_timeout` waiting for body bytes (time
    /// the handler spends between its reads does not count). Only data
    /// counts: chunked framing sent in its place does not.
    pub min_body_rate: u64,
    /// Idle time allowed between two requests on a keep-alive connection.
    pub keep_alive_timeout: Duration,
    /// Time a client may go without accepting a single byte while the
    /// server has output for it (HTTP/1.1 responses, HTTP/2 frames). Over
    /// it the connection is closed: a client that never reads cannot hold a
    /// connection, its task and its buffers forever. The wait restarts with
    /// every write that makes progress; as the kernel wakes a blocked writer
    /// only once a good part of the send buffer (up to a few MiB) is free,
    /// keep it well above the time a slow client takes to read that much.
    pub write_timeout: Duration,
    /// Most pipelined requests answered before their responses are written
    /// out (responses are also written at 64 KiB). A client that pipelines
    /// without reading then fills the socket and the server stops reading,
    /// so its memory stays bounded.
    pub max_pipelined_requests: usize,
    /// Bytes of an unread request body the server drains before reusing the
    /// connection; beyond it, the connection is closed instead.
    pub max_drain_size: u64,
    /// Largest single chunk-extension / trailer section in bytes.
    pub max_chunk_ext_size: usize,

    /// HTTP/2: most concurrent streams opened by the peer (REFUSED_STREAM beyond).
    pub h2_max_concurrent_streams: u32,
    /// HTTP/2: largest decoded header list (SETTINGS_MAX_HEADER_LIST_SIZE).
    pub h2_max_header_list_size: u32,
    /// HTTP/2: HPACK decoder dynamic table size (SETTINGS_HEADER_TABLE_SIZE).
    pub h2_header_table_size: u32,
    /// HTTP/2: largest HPACK encoder dynamic table this side keeps.
    pub h2_max_encoder_table_size: u32,
    /// HTTP/2: most CONTINUATION frames in one header block.
    pub h2_max_continuation_frames: u32,
    /// HTTP/2: stream resets caused by the peer before GOAWAY ENHANCE_YOUR_CALM.
    pub h2_max_pending_resets: u32,
    /// HTTP/2: locally caused error resets before the connection is closed.
    pub h2_max_local_error_resets: u32,
    /// HTTP/2: empty DATA frames tolerated on a connection.
    pub h2_max_empty_data_frames: u32,
    /// HTTP/2: SETTINGS or PING frames awaiting our ACK before the peer is cut off.
    pub h2_max_pending_acks: u32,
    /// HTTP/2: initial stream receive window we advertise.
    pub h2_initial_window_size: u32,
    /// HTTP/2: largest frame payload we accept (SETTINGS_MAX_FRAME_SIZE).
    pub h2_max_frame_size: u32,
    /// HTTP/2: how long a stream's response may wait for a peer that keeps
    /// its flow-control window shut (no DATA sent meanwhile) before the
    /// stream is reset with CANCEL; streamed bodies are also held back at
    /// 64 KiB queued, so the memory a stalled peer holds stays bounded.
    pub h2_send_window_timeout: Duration,
    /// Accept RFC 8441's extended CONNECT (WebSocket over HTTP/2): the
    /// server sends SETTINGS_ENABLE_CONNECT_PROTOCOL = 1. Off: the setting
    /// is not sent and a request with `:protocol` is malformed.
    pub h2_enable_connect_protocol: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_head_size: 64 * 1024,
            max_headers: 100,
            max_uri_len: 8 * 1024,
            max_body_size: 16 * 1024 * 1024,
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(30),
            min_body_rate: 1024,
            keep_alive_timeout: Duration::from_secs(30),
            write_timeout: Duration::from_secs(30),
            max_pipelined_requests: 128,
            max_drain_size: 256 * 1024,
            max_chunk_ext_size: 4 * 1024,
            h2_max_concurrent_streams: 200,
            h2_max_header_list_size: 16 * 1024,
            h2_header_table_size: 4096,
            h2_max_encoder_table_size: 4096,
            h2_max_continuation_frames: 5,
            h2_max_pending_resets: 20,
            h2_max_local_error_resets: 1024,
            h2_max_empty_data_frames: 100,
            h2_max_pending_acks: 16,
            h2_initial_window_size: 1024 * 1024,
            h2_max_frame_size: 16 * 1024,
            h2_send_window_timeout: Duration::from_secs(30),
            h2_enable_connect_protocol: true,
        }
    }
}

impl Limits {
    /// Sets [`max_head_size`](Limits::max_head_size).
    pub fn max_head_size(mut self, value: usize) -> Limits {
        self.max_head_size = value;
        self
    }

    /// Sets [`max_headers`](Limits::max_headers).
    pub fn max_headers(mut self, value: usize) -> Limits {
        self.max_headers = value;
        self
    }

    /// Sets [`max_uri_len`](Limits::max_uri_len).
    pub fn max_uri_len(mut self, value: usize) -> Limits {
        self.max_uri_len = value;
        self
    }

    /// Sets [`max_body_size`](Limits::max_body_size).
    pub fn max_body_size(mut self, value: u64) -> Limits {
        self.max_body_size = value;
        self
    }

    /// Sets [`header_read_timeout`](Limits::header_read_timeout).
    pub fn header_read_timeout(mut self, value: Duration) -> Limits {
        self.header_read_timeout = value;
        self
    }

    /// Sets [`body_read_timeout`](Limits::body_read_timeout).
    pub fn body_read_timeout(mut self, value: Duration) -> Limits {
        self.body_read_timeout = value;
        self
    }

    /// Sets [`min_body_rate`](Limits::min_body_rate).
    pub fn min_body_rate(mut self, value: u64) -> Limits {
        self.min_body_rate = value;
        self
    }

    /// Sets [`keep_alive_timeout`](Limits::keep_alive_timeout).
    pub fn keep_alive_timeout(mut self, value: Duration) -> Limits {
        self.keep_alive_timeout = value;
        self
    }

    /// Sets [`write_timeout`](Limits::write_timeout).
    pub fn write_timeout(mut self, value: Duration) -> Limits {
        self.write_timeout = value;
        self
    }

    /// Sets [`max_pipelined_requests`](Limits::max_pipelined_requests).
    pub fn max_pipelined_requests(mut self, value: usize) -> Limits {
        self.max_pipelined_requests = value;
        self
    }

    /// Sets [`max_drain_size`](Limits::max_drain_size).
    pub fn max_drain_size(mut self, value: u64) -> Limits {
        self.max_drain_size = value;
        self
    }

    /// Sets [`max_chunk_ext_size`](Limits::max_chunk_ext_size).
    pub fn max_chunk_ext_size(mut self, value: usize) -> Limits {
        self.max_chunk_ext_size = value;
        self
    }

    /// Sets [`h2_max_concurrent_streams`](Limits::h2_max_concurrent_streams).
    pub fn h2_max_concurrent_streams(mut self, value: u32) -> Limits {
        self.h2_max_concurrent_streams = value;
        self
    }

    /// Sets [`h2_max_header_list_size`](Limits::h2_max_header_list_size).
    pub fn h2_max_header_list_size(mut self, value: u32) -> Limits {
        self.h2_max_header_list_size = value;
        self
    }

    /// Sets [`h2_header_table_size`](Limits::h2_header_table_size).
    pub fn h2_header_table_size(mut self, value: u32) -> Limits {
        self.h2_header_table_size = value;
        self
    }

    /// Sets [`h2_max_encoder_table_size`](Limits::h2_max_encoder_table_size).
    pub fn h2_max_encoder_table_size(mut self, value: u32) -> Limits {
        self.h2_max_encoder_table_size = value;
        self
    }

    /// Sets [`h2_max_continuation_frames`](Limits::h2_max_continuation_frames).
    pub fn h2_max_continuation_frames(mut self, value: u32) -> Limits {
        self.h2_max_continuation_frames = value;
        self
    }

    /// Sets [`h2_max_pending_resets`](Limits::h2_max_pending_resets).
    pub fn h2_max_pending_resets(mut self, value: u32) -> Limits {
        self.h2_max_pending_resets = value;
        self
    }

    /// Sets [`h2_max_local_error_resets`](Limits::h2_max_local_error_resets).
    pub fn h2_max_local_error_resets(mut self, value: u32) -> Limits {
        self.h2_max_local_error_resets = value;
        self
    }

    /// Sets [`h2_max_empty_data_frames`](Limits::h2_max_empty_data_frames).
    pub fn h2_max_empty_data_frames(mut self, value: u32) -> Limits {
        self.h2_max_empty_data_frames = value;
        self
    }

    /// Sets [`h2_max_pending_acks`](Limits::h2_max_pending_acks).
    pub fn h2_max_pending_acks(mut self, value: u32) -> Limits {
        self.h2_max_pending_acks = value;
        self
    }

    /// Sets [`h2_initial_window_size`](Limits::h2_initial_window_size).
    pub fn h2_initial_window_size(mut self, value: u32) -> Limits {
        self.h2_initial_window_size = value;
        self
    }

    /// Sets [`h2_max_frame_size`](Limits::h2_max_frame_size).
    pub fn h2_max_frame_size(mut self, value: u32) -> Limits {
        self.h2_max_frame_size = value;
        self
    }

    /// Sets [`h2_send_window_timeout`](Limits::h2_send_window_timeout).
    pub fn h2_send_window_timeout(mut self, value: Duration) -> Limits {
        self.h2_send_window_timeout = value;
        self
    }

    /// Sets [`h2_enable_connect_protocol`](Limits::h2_enable_connect_protocol).
    ///
    /// ```
    /// let limits = percore_http::Limits::default().h2_enable_connect_protocol(false);
    /// assert!(!limits.h2_enable_connect_protocol);
    /// ```
    pub fn h2_enable_connect_protocol(mut self, value: bool) -> Limits {
        self.h2_enable_connect_protocol = value;
        self
    }
}
