//! The server side of an HTTP/2 connection, sans-IO (RFC 9113 §3–§8).
//!
//! Bytes from the socket go into [`ServerConnection::recv`], which
//! validates every frame against the stream states, flow control and the
//! attack limits of [`Limits`], and queues [`Event`]s (requests, body
//! data, trailers, resets) for the driver. Responses go in with
//! [`send_response`](ServerConnection::send_response),
//! [`send_data`](ServerConnection::send_data) and
//! [`send_trailers`](ServerConnection::send_trailers); the connection
//! interleaves the streams' DATA frames round-robin within the flow-control
//! windows when the driver asks for output with
//! [`poll_output`](ServerConnection::poll_output).
//!
//! ```
//! use bytes::BytesMut;
//! use percore_http::h2::conn::{Event, ServerConnection};
//! use percore_http::h2::{frame, hpack};
//! use percore_http::Limits;
//!
//! let mut conn = ServerConnection::new(&Limits::default());
//! // A client: preface, SETTINGS, then a GET on stream 1.
//! let mut input = BytesMut::from(&frame::PREFACE[..]);
//! frame::encode_settings(&Default::default(), &mut input);
//! let mut block = BytesMut::new();
//! hpack::Encoder::new(4096).encode_request(&http::Method::GET, "http", Some("example.com"), "/", &http::HeaderMap::new(), &mut block);
//! frame::encode_headers(1, &block, true, 16_384, &mut input);
//! conn.recv(&mut input).unwrap();
//! let Some(Event::Request { stream_id: 1, request, end_stream: true }) = conn.poll_event() else { panic!() };
//! assert_eq!(request.uri().path(), "/");
//! conn.send_response(1, http::StatusCode::OK, &http::HeaderMap::new(), false).unwrap();
//! conn.send_data(1, bytes::Bytes::from_static(b"hi"), true).unwrap();
//! let mut out = BytesMut::new();
//! conn.poll_output(&mut out, usize::MAX);
//! assert!(!out.is_empty());
//! ```

mod request;
mod stream;

#[cfg(test)]
mod tests;

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use crate::h2::StreamIdHasher;

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, Request, StatusCode};

use super::frame::{self, Frame, FrameDecoder, Role, Settings, MAX_WINDOW_SIZE};
use super::hpack;
use super::{ErrorCode, H2Error};
use crate::Limits;
use stream::Stream;

/// The initial flow-control window of RFC 9113 §6.9.2.
const DEFAULT_WINDOW: i64 = 65_535;
/// Response bytes a stream may queue before its writer is held back.
pub const STREAM_HIGH_WATER: usize = 64 * 1024;
/// Streams we reset whose late frames are still ignored.
const RECENT_RESETS: usize = 128;

/// What the connection tells its driver.
#[derive(Debug)]
pub enum Event {
    /// A new request; its body follows as `Data` events unless `end_stream`.
    Request {
        /// The stream.
        stream_id: u32,
        /// Method, URI (with scheme and authority), headers; version HTTP/2.
        request: Request<()>,
        /// No body follows.
        end_stream: bool,
    },
    /// Request body bytes. Give them back with
    /// [`ServerConnection::release`] once consumed (flow control).
    Data {
        /// The stream.
        stream_id: u32,
        /// The bytes.
        data: Bytes,
        /// The body is complete.
        end_stream: bool,
    },
    /// Request trailers; the body is complete.
    Trailers {
        /// The stream.
        stream_id: u32,
        /// The trailer fields.
        trailers: HeaderMap,
    },
    /// The stream was reset (by the peer, or by us for a stream error):
    /// stop its handler; nothing more will be sent or received on it.
    Reset {
        /// The stream.
        stream_id: u32,
        /// The error code.
        code: ErrorCode,
    },
}

/// Why a send failed: the stream is gone (reset or finished).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamGone;

/// Connection-level phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for the client preface.
    Preface,
    /// Preface read; the first frame must be SETTINGS.
    FirstSettings,
    Open,
    /// A GOAWAY went out; no new streams beyond `last_stream_id`.
    GoingAway,
    /// A connection error: write the GOAWAY, then close.
    Failed,
}

/// A header block being assembled from HEADERS + CONTINUATION frames.
struct HeaderBlock {
    stream_id: u32,
    end_stream: bool,
    /// The HEADERS named its own stream as dependency: a stream error,
    /// raised after decoding so the HPACK state stays in step.
    self_dependent: bool,
    /// The block so far: the HEADERS payload itself (no copy) until a
    /// CONTINUATION makes it grow.
    fragments: Bytes,
}

/// The server end of one HTTP/2 connection.
pub struct ServerConnection {
    limits: Limits,
    phase: Phase,
    decoder: FrameDecoder,
    hpack_decoder: hpack::Decoder,
    hpack_encoder: hpack::Encoder,
    streams: HashMap<u32, Stream, StreamIdHasher>,
    /// Highest stream id the client opened (or tried to).
    last_peer_stream: u32,
    /// Streams above this id are refused (set by GOAWAY).
    accept_limit: u32,
    block: Option<HeaderBlock>,
    /// Peer settings in force.
    peer_initial_window: i64,
    peer_max_frame_size: usize,
    /// Our SETTINGS awaiting the peer's ACK.
    settings_unacked: bool,
    our_initial_window: i64,
    conn_send_window: i64,
    conn_recv_window: i64,
    conn_recv_unreleased: u32,
    conn_window_target: i64,
    events: VecDeque<Event>,
    /// Control frames and header blocks, written before DATA.
    out: BytesMut,
    /// Streams with data to send, in round-robin order.
    ready: VecDeque<u32>,
    /// Counters behind the attack limits.
    peer_resets_pending: u32,
    local_error_resets: u32,
    empty_data_frames: u32,
    acks_queued: u32,
    /// Recently closed streams, and whether we reset them (bounded).
    recently_closed: VecDeque<(u32, bool)>,
    /// Reused for encoding header blocks.
    scratch: BytesMut,
    /// The GOAWAY was written and all that remains is to flush it.
    goaway_sent: bool,
}

impl std::fmt::Debug for ServerConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerConnection")
            .field("phase", &self.phase)
            .field("streams", &self.streams.len())
            .field("last_peer_stream", &self.last_peer_stream)
            .finish_non_exhaustive()
    }
}

impl ServerConnection {
    /// A connection expecting the client preface; our SETTINGS (from
    /// `limits`) are queued as the first output.
    pub fn new(limits: &Limits) -> ServerConnection {
        let our_window = i64::from(limits.h2_initial_window_size.min(MAX_WINDOW_SIZE));
        let conn_target = our_window.max(DEFAULT_WINDOW) * 2;
        let conn_target = conn_target.min(i64::from(MAX_WINDOW_SIZE));
        let mut conn = ServerConnection {
            limits: limits.clone(),
            phase: Phase::Preface,
            decoder: FrameDecoder::with_limits(Role::Server, limits),
            hpack_decoder: hpack::Decoder::new(limits.h2_header_table_size as usize),
            hpack_encoder: hpack::Encoder::new(4096.min(limits.h2_max_encoder_table_size as usize)),
            streams: HashMap::default(),
            last_peer_stream: 0,
            accept_limit: u32::MAX,
            block: None,
            peer_initial_window: DEFAULT_WINDOW,
            peer_max_frame_size: frame::DEFAULT_MAX_FRAME_SIZE as usize,
            settings_unacked: true,
            our_initial_window: our_window,
            conn_send_window: DEFAULT_WINDOW,
            conn_recv_window: conn_target,
            conn_recv_unreleased: 0,
            conn_window_target: conn_target,
            events: VecDeque::new(),
            out: BytesMut::with_capacity(4096),
            ready: VecDeque::new(),
            peer_resets_pending: 0,
            local_error_resets: 0,
            empty_data_frames: 0,
            acks_queued: 0,
            recently_closed: VecDeque::new(),
            scratch: BytesMut::new(),
            goaway_sent: false,
        };
        let ours = Settings {
            header_table_size: (limits.h2_header_table_size != 4096)
                .then_some(limits.h2_header_table_size),
            enable_push: None,
            max_concurrent_streams: Some(limits.h2_max_concurrent_streams),
            initial_window_size: Some(our_window as u32),
            max_frame_size: Some(conn.decoder.max_frame_size()),
            max_header_list_size: Some(limits.h2_max_header_list_size),
        };
        frame::encode_settings(&ours, &mut conn.out);
        if conn_target > DEFAULT_WINDOW {
            frame::encode_window_update(0, (conn_target - DEFAULT_WINDOW) as u32, &mut conn.out);
        }
        conn
    }

    /// A connection upgraded from HTTP/1.1 (`Upgrade: h2c`): the client's
    /// `HTTP2-Settings` apply, and the upgrade request is stream 1,
    /// half-closed (remote). The client preface is still expected.
    pub fn new_upgraded(
        limits: &Limits,
        http2_settings: &[u8],
    ) -> Result<ServerConnection, H2Error> {
        let mut conn = ServerConnection::new(limits);
        let settings = Settings::parse(http2_settings)?;
        conn.apply_peer_settings(&settings)?;
        // The SETTINGS in the header were never sent as a frame: no ACK.
        let stream = Stream::new(conn.peer_initial_window, conn.our_initial_window, true);
        conn.streams.insert(1, stream);
        conn.last_peer_stream = 1;
        Ok(conn)
    }

    /// Processes every complete frame in `buf` (consumed as it goes).
    /// `Err` is a connection error: its GOAWAY is queued; flush the output
    /// and close.
    pub fn recv(&mut self, buf: &mut BytesMut) -> Result<(), H2Error> {
        loop {
            match self.phase {
                Phase::Failed => {
                    return Err(H2Error::connection(
                        ErrorCode::ProtocolError,
                        "connection failed",
                    ))
                }
                Phase::Preface => match frame::decode_preface(buf) {
                    Ok(true) => self.phase = Phase::FirstSettings,
                    Ok(false) => return Ok(()),
                    Err(e) => return Err(self.fail(e)),
                },
                _ => {}
            }
            let frame = match self.decoder.decode(buf) {
                Ok(Some(f)) => f,
                Ok(None) => return Ok(()),
                Err(e) => {
                    self.handle_error(e)?;
                    continue;
                }
            };
            if self.phase == Phase::FirstSettings {
                if !matches!(&frame, Frame::Settings(s) if !s.ack) {
                    return Err(self.fail(H2Error::connection(
                        ErrorCode::ProtocolError,
                        "first frame is not SETTINGS",
                    )));
                }
                self.phase = Phase::Open;
            }
            if let Err(e) = self.on_frame(frame) {
                self.handle_error(e)?;
            }
        }
    }

    /// Queues the response head of `stream_id`. With `end_stream` the
    /// response has no body.
    pub fn send_response(
        &mut self,
        stream_id: u32,
        status: StatusCode,
        headers: &HeaderMap,
        end_stream: bool,
    ) -> Result<(), StreamGone> {
        let Some(stream) = self.streams.get_mut(&stream_id) else {
            return Err(StreamGone);
        };
        if stream.response_started {
            return Err(StreamGone);
        }
        stream.response_started = true;
        let mut block = BytesMut::new();
        self.hpack_encoder
            .encode_response(status, headers, &mut block);
        frame::encode_headers(
            stream_id,
            &block,
            end_stream,
            self.peer_max_frame_size as u32,
            &mut self.out,
        );
        self.scratch = block;
        if end_stream {
            self.close_local(stream_id);
        }
        Ok(())
    }

    /// Queues body bytes for `stream_id` (sent as the windows allow);
    /// `end_stream` ends the response.
    pub fn send_data(
        &mut self,
        stream_id: u32,
        data: Bytes,
        end_stream: bool,
    ) -> Result<(), StreamGone> {
        let Some(stream) = self.streams.get_mut(&stream_id) else {
            return Err(StreamGone);
        };
        if stream.end_queued || stream.trailers.is_some() || !stream.response_started {
            return Err(StreamGone);
        }
        if !data.is_empty() {
            stream.pending_len += data.len();
            stream.pending.push_back(data);
        }
        stream.end_queued = end_stream;
        self.schedule(stream_id);
        Ok(())
    }

    /// Ends the response of `stream_id` with trailers (after queued data).
    pub fn send_trailers(&mut self, stream_id: u32, trailers: HeaderMap) -> Result<(), StreamGone> {
        let Some(stream) = self.streams.get_mut(&stream_id) else {
            return Err(StreamGone);
        };
        if stream.end_queued || stream.trailers.is_some() || !stream.response_started {
            return Err(StreamGone);
        }
        stream.trailers = Some(trailers);
        self.schedule(stream_id);
        Ok(())
    }

    /// Response bytes of `stream_id` not yet written (for back-pressure);
    /// `None` when the stream is gone.
    pub fn queued(&self, stream_id: u32) -> Option<usize> {
        self.streams.get(&stream_id).map(|s| s.pending_len)
    }

    /// Whether `stream_id` has queued data but no send window to carry it.
    pub fn is_blocked_on_window(&self, stream_id: u32) -> bool {
        self.streams.get(&stream_id).is_some_and(|s| {
            s.pending_len > 0 && (s.send_window <= 0 || self.conn_send_window <= 0)
        })
    }

    /// Resets with CANCEL every stream whose queued response data has waited
    /// `timeout` or longer for the peer to open its flow-control window:
    /// a peer that never opens it must not hold the stream, and the data
    /// queued on it, forever. Sending any DATA on a stream restarts its
    /// clock. Returns when the next stream still waiting would expire.
    ///
    /// The caller passes the time, so the connection stays sans-IO; call
    /// this whenever the connection is about to wait for input.
    pub fn expire_window_stalls(&mut self, now: Instant, timeout: Duration) -> Option<Instant> {
        let conn_shut = self.conn_send_window <= 0;
        let mut expired = Vec::new();
        let mut next: Option<Instant> = None;
        for (&id, stream) in self.streams.iter_mut() {
            let blocked = stream.pending_len > 0 && (stream.send_window <= 0 || conn_shut);
            if !blocked {
                stream.window_wait_since = None;
                continue;
            }
            let deadline = *stream.window_wait_since.get_or_insert(now) + timeout;
            if deadline <= now {
                expired.push(id);
            } else {
                next = Some(next.map_or(deadline, |n| n.min(deadline)));
            }
        }
        for id in expired {
            self.reset(id, ErrorCode::Cancel);
        }
        next
    }

    /// Resets `stream_id` from our side (handler failure, abandoned body).
    pub fn reset(&mut self, stream_id: u32, code: ErrorCode) {
        if self.streams.remove(&stream_id).is_some() {
            frame::encode_rst_stream(stream_id, code, &mut self.out);
            self.remember_reset(stream_id);
        }
    }

    /// Frames the peer sent before it saw our RST_STREAM are ignored
    /// (RFC 9113 §5.4.2); a bounded memory of our recent resets.
    fn remember_reset(&mut self, stream_id: u32) {
        self.remember_closed(stream_id, true);
    }

    fn remember_closed(&mut self, stream_id: u32, reset_by_us: bool) {
        if self.recently_closed.len() == RECENT_RESETS {
            self.recently_closed.pop_front();
        }
        self.recently_closed.push_back((stream_id, reset_by_us));
    }

    /// `Some(reset_by_us)` if `id` closed recently.
    fn closed_recently(&self, id: u32) -> Option<bool> {
        self.recently_closed
            .iter()
            .rev()
            .find(|(s, _)| *s == id)
            .map(|(_, by_us)| *by_us)
    }

    /// The application consumed `len` body bytes of `stream_id`: give the
    /// window back (WINDOW_UPDATE once half a window is due).
    pub fn release(&mut self, stream_id: u32, len: usize) {
        let len = len as u32;
        self.release_connection(len);
        let Some(stream) = self.streams.get_mut(&stream_id) else {
            return;
        };
        if !stream.remote_open() {
            return;
        }
        stream.recv_unreleased += len;
        if i64::from(stream.recv_unreleased) >= self.our_initial_window / 2 {
            let inc = stream.recv_unreleased;
            stream.recv_window += i64::from(inc);
            stream.recv_unreleased = 0;
            frame::encode_window_update(stream_id, inc, &mut self.out);
        }
    }

    fn release_connection(&mut self, len: u32) {
        self.conn_recv_unreleased += len;
        if i64::from(self.conn_recv_unreleased) >= self.conn_window_target / 2 {
            let inc = self.conn_recv_unreleased;
            self.conn_recv_window += i64::from(inc);
            self.conn_recv_unreleased = 0;
            frame::encode_window_update(0, inc, &mut self.out);
        }
    }

    /// Starts a graceful shutdown: GOAWAY with the last stream we will
    /// serve; open streams finish, new ones are refused.
    pub fn go_away(&mut self) {
        if matches!(self.phase, Phase::GoingAway | Phase::Failed) {
            return;
        }
        self.phase = Phase::GoingAway;
        self.accept_limit = self.last_peer_stream;
        frame::encode_goaway(
            self.last_peer_stream,
            ErrorCode::NoError,
            b"",
            &mut self.out,
        );
    }

    /// The next event for the driver.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Moves pending output into `dst`: control frames and headers first,
    /// then DATA frames of the streams in turn, one frame per stream per
    /// round, while the windows allow and `dst` holds less than `max` bytes.
    pub fn poll_output(&mut self, dst: &mut BytesMut, max: usize) {
        if !self.out.is_empty() {
            if dst.is_empty() {
                std::mem::swap(dst, &mut self.out);
            } else {
                dst.extend_from_slice(&self.out);
                self.out.clear();
            }
        }
        self.acks_queued = 0;
        let mut rounds_without_progress = 0;
        while dst.len() < max
            && !self.ready.is_empty()
            && rounds_without_progress < self.ready.len()
        {
            let Some(id) = self.ready.pop_front() else {
                break;
            };
            let progressed = self.write_stream_frame(id, dst);
            let keep = self.streams.get(&id).is_some_and(|s| s.has_output());
            if keep {
                self.ready.push_back(id);
            } else if let Some(s) = self.streams.get_mut(&id) {
                s.scheduled = false;
            }
            if progressed {
                rounds_without_progress = 0;
            } else {
                rounds_without_progress += 1;
            }
        }
        if !self.out.is_empty() {
            // Trailers written while sending data.
            dst.extend_from_slice(&self.out);
            self.out.clear();
        }
    }

    /// Whether output is waiting (frames, or data the windows allow).
    pub fn has_output(&self) -> bool {
        !self.out.is_empty()
            || self.ready.iter().any(|id| {
                self.streams.get(id).is_some_and(|s| {
                    (s.pending_len == 0 && (s.end_queued || s.trailers.is_some()))
                        || (s.send_window > 0 && self.conn_send_window > 0)
                })
            })
    }

    /// Streams in the table (open or half-closed).
    pub fn active_streams(&self) -> usize {
        self.streams.len()
    }

    /// Whether the connection is finished: failed, or going away with no
    /// stream left. Flush the output, then close.
    pub fn is_done(&self) -> bool {
        self.phase == Phase::Failed || (self.phase == Phase::GoingAway && self.streams.is_empty())
    }

    /// Whether a GOAWAY for an error is queued (the driver should flush
    /// and close).
    pub fn has_failed(&self) -> bool {
        self.phase == Phase::Failed
    }

    // ---- input ----

    fn handle_error(&mut self, e: H2Error) -> Result<(), H2Error> {
        match e {
            H2Error::Connection { .. } => Err(self.fail(e)),
            H2Error::Stream {
                stream_id, code, ..
            } => {
                self.local_error_resets += 1;
                if self.local_error_resets > self.limits.h2_max_local_error_resets {
                    return Err(self.fail(H2Error::connection(
                        ErrorCode::EnhanceYourCalm,
                        "too many stream errors",
                    )));
                }
                if self.streams.remove(&stream_id).is_some() {
                    self.events.push_back(Event::Reset { stream_id, code });
                }
                frame::encode_rst_stream(stream_id, code, &mut self.out);
                self.remember_reset(stream_id);
                Ok(())
            }
        }
    }

    /// Queues the GOAWAY of a connection error.
    fn fail(&mut self, e: H2Error) -> H2Error {
        if self.phase != Phase::Failed {
            if let H2Error::Connection { code, reason } = &e {
                frame::encode_goaway(
                    self.last_peer_stream,
                    *code,
                    reason.as_bytes(),
                    &mut self.out,
                );
            }
            self.phase = Phase::Failed;
            self.goaway_sent = true;
            self.ready.clear();
            for (id, _) in self.streams.drain() {
                self.events.push_back(Event::Reset {
                    stream_id: id,
                    code: ErrorCode::Cancel,
                });
            }
        }
        e
    }

    fn on_frame(&mut self, frame: Frame) -> Result<(), H2Error> {
        match frame {
            Frame::Settings(s) => self.on_settings(s),
            Frame::Ping(p) => {
                if !p.ack {
                    self.count_ack()?;
                    frame::encode_ping_ack(p.payload, &mut self.out);
                }
                Ok(())
            }
            Frame::GoAway(_) => {
                // The client stops opening streams; ours finish.
                if self.phase == Phase::Open {
                    self.phase = Phase::GoingAway;
                    self.accept_limit = self.last_peer_stream;
                }
                Ok(())
            }
            Frame::WindowUpdate(w) => self.on_window_update(w.stream_id, w.increment),
            Frame::Headers(h) => {
                self.check_new_or_trailers(h.stream_id, h.end_stream)?;
                let block = HeaderBlock {
                    stream_id: h.stream_id,
                    end_stream: h.end_stream,
                    self_dependent: h.priority.is_some_and(|p| p.dependency == h.stream_id),
                    fragments: h.fragment,
                };
                if h.end_headers {
                    self.on_header_block(block)
                } else {
                    self.block = Some(block);
                    self.check_block_size()
                }
            }
            Frame::Continuation(c) => {
                let Some(block) = self.block.as_mut() else {
                    return Err(H2Error::connection(
                        ErrorCode::ProtocolError,
                        "CONTINUATION without HEADERS",
                    ));
                };
                let mut joined = BytesMut::with_capacity(block.fragments.len() + c.fragment.len());
                joined.extend_from_slice(&block.fragments);
                joined.extend_from_slice(&c.fragment);
                block.fragments = joined.freeze();
                self.check_block_size()?;
                if c.end_headers {
                    let block = self.block.take().expect("checked above");
                    self.on_header_block(block)?;
                }
                Ok(())
            }
            Frame::Data(d) => self.on_data(d),
            Frame::RstStream(r) => self.on_rst_stream(r.stream_id, r.code),
            Frame::Priority(p) => {
                if p.spec.dependency == p.stream_id {
                    return Err(H2Error::stream(
                        p.stream_id,
                        ErrorCode::ProtocolError,
                        "stream depends on itself",
                    ));
                }
                Ok(())
            }
            Frame::PushPromise(_) => Err(H2Error::connection(
                ErrorCode::ProtocolError,
                "PUSH_PROMISE from a client",
            )),
            Frame::Unknown(_) => Ok(()),
        }
    }

    /// A SETTINGS ACK or PING ACK is owed: refuse a flood of them.
    fn count_ack(&mut self) -> Result<(), H2Error> {
        self.acks_queued += 1;
        if self.acks_queued > self.limits.h2_max_pending_acks {
            return Err(H2Error::connection(
                ErrorCode::EnhanceYourCalm,
                "too many unanswered SETTINGS/PING",
            ));
        }
        Ok(())
    }

    fn on_settings(&mut self, s: frame::SettingsFrame) -> Result<(), H2Error> {
        if s.ack {
            if self.settings_unacked {
                self.settings_unacked = false;
            }
            return Ok(());
        }
        self.count_ack()?;
        self.apply_peer_settings(&s.settings)?;
        frame::encode_settings_ack(&mut self.out);
        Ok(())
    }

    fn apply_peer_settings(&mut self, s: &Settings) -> Result<(), H2Error> {
        if let Some(size) = s.header_table_size {
            let size = size.min(self.limits.h2_max_encoder_table_size) as usize;
            self.hpack_encoder.set_max_table_size(size);
        }
        if let Some(size) = s.max_frame_size {
            self.peer_max_frame_size = size as usize;
        }
        if let Some(window) = s.initial_window_size {
            let delta = i64::from(window) - self.peer_initial_window;
            self.peer_initial_window = i64::from(window);
            let mut reopened = Vec::new();
            for (id, stream) in &mut self.streams {
                let was_closed = stream.send_window <= 0;
                stream.send_window += delta;
                if stream.send_window > i64::from(MAX_WINDOW_SIZE) {
                    return Err(H2Error::connection(
                        ErrorCode::FlowControlError,
                        "window overflow from SETTINGS",
                    ));
                }
                if was_closed && stream.send_window > 0 && stream.pending_len > 0 {
                    reopened.push(*id);
                }
            }
            for id in reopened {
                self.schedule(id);
            }
        }
        Ok(())
    }

    fn on_window_update(&mut self, stream_id: u32, increment: u32) -> Result<(), H2Error> {
        if stream_id == 0 {
            self.conn_send_window += i64::from(increment);
            if self.conn_send_window > i64::from(MAX_WINDOW_SIZE) {
                return Err(H2Error::connection(
                    ErrorCode::FlowControlError,
                    "connection window overflow",
                ));
            }
            return Ok(());
        }
        if stream_id > self.last_peer_stream {
            return Err(H2Error::connection(
                ErrorCode::ProtocolError,
                "WINDOW_UPDATE on an idle stream",
            ));
        }
        let Some(stream) = self.streams.get_mut(&stream_id) else {
            // Closed: ignore (RFC 9113 §5.1).
            return Ok(());
        };
        stream.send_window += i64::from(increment);
        if stream.send_window > i64::from(MAX_WINDOW_SIZE) {
            return Err(H2Error::stream(
                stream_id,
                ErrorCode::FlowControlError,
                "stream window overflow",
            ));
        }
        if stream.pending_len > 0 {
            self.schedule(stream_id);
        }
        Ok(())
    }

    fn on_rst_stream(&mut self, stream_id: u32, code: ErrorCode) -> Result<(), H2Error> {
        if stream_id > self.last_peer_stream {
            return Err(H2Error::connection(
                ErrorCode::ProtocolError,
                "RST_STREAM on an idle stream",
            ));
        }
        if let Some(stream) = self.streams.remove(&stream_id) {
            // A stream reset before we finished answering it (CVE-2023-44487).
            if !stream.end_queued || stream.pending_len > 0 {
                self.peer_resets_pending += 1;
                if self.peer_resets_pending > self.limits.h2_max_pending_resets {
                    return Err(H2Error::connection(
                        ErrorCode::EnhanceYourCalm,
                        "too many streams reset",
                    ));
                }
            }
            self.events.push_back(Event::Reset { stream_id, code });
            self.remember_closed(stream_id, false);
        }
        Ok(())
    }

    /// HEADERS on `stream_id`: a new stream, or trailers of an open one.
    fn check_new_or_trailers(&mut self, stream_id: u32, end_stream: bool) -> Result<(), H2Error> {
        if let Some(stream) = self.streams.get(&stream_id) {
            if !stream.remote_open() {
                return Err(H2Error::connection(
                    ErrorCode::StreamClosed,
                    "HEADERS after END_STREAM",
                ));
            }
            if !end_stream {
                return Err(H2Error::connection(
                    ErrorCode::ProtocolError,
                    "trailers without END_STREAM",
                ));
            }
            return Ok(());
        }
        if stream_id.is_multiple_of(2) {
            return Err(H2Error::connection(
                ErrorCode::ProtocolError,
                "client stream id is even",
            ));
        }
        if stream_id <= self.last_peer_stream {
            return match self.closed_recently(stream_id) {
                // Late frames after our RST_STREAM are ignored.
                Some(true) => Ok(()),
                Some(false) => Err(H2Error::connection(
                    ErrorCode::StreamClosed,
                    "HEADERS on a closed stream",
                )),
                None => Err(H2Error::connection(
                    ErrorCode::ProtocolError,
                    "stream id lower than a previous one",
                )),
            };
        }
        Ok(())
    }

    /// Bounds a header block still waiting for CONTINUATION frames (the
    /// 2024 CONTINUATION flood): twice the header-list limit at most.
    fn check_block_size(&self) -> Result<(), H2Error> {
        let buffered = self.block.as_ref().map_or(0, |b| b.fragments.len());
        if buffered > 2 * self.limits.h2_max_header_list_size as usize + 1024 {
            return Err(H2Error::connection(
                ErrorCode::EnhanceYourCalm,
                "header block too large",
            ));
        }
        Ok(())
    }

    fn on_header_block(&mut self, block: HeaderBlock) -> Result<(), H2Error> {
        let id = block.stream_id;
        let fields = match self.hpack_decoder.decode(
            &block.fragments,
            self.limits.h2_max_header_list_size as usize,
        ) {
            Ok(fields) => Ok(fields),
            Err(e) if e.is_stream_error() => Err(e),
            Err(e) => return Err(e.into_h2_error(id)),
        };
        if block.self_dependent {
            return Err(H2Error::stream(
                id,
                ErrorCode::ProtocolError,
                "stream depends on itself",
            ));
        }
        if let Some(stream) = self.streams.get_mut(&id) {
            // Trailers.
            let trailers = fields
                .map_err(|_| H2Error::stream(id, ErrorCode::ProtocolError, "trailers too large"))
                .and_then(|f| {
                    request::trailers_from_fields(f)
                        .map_err(|m| H2Error::stream(id, ErrorCode::ProtocolError, m))
                })?;
            if stream.content_length.is_some_and(|n| n != stream.received) {
                return Err(H2Error::stream(
                    id,
                    ErrorCode::ProtocolError,
                    "body shorter than content-length",
                ));
            }
            let closed = stream.close_remote();
            self.events.push_back(Event::Trailers {
                stream_id: id,
                trailers,
            });
            if closed {
                self.finish_stream(id);
            }
            return Ok(());
        }
        if id <= self.last_peer_stream {
            // Late trailers of a stream we reset: decoded (the HPACK state
            // must follow) and dropped.
            return Ok(());
        }
        // A new stream.
        self.last_peer_stream = id;
        if id > self.accept_limit || self.phase != Phase::Open {
            return Err(H2Error::stream(
                id,
                ErrorCode::RefusedStream,
                "connection is going away",
            ));
        }
        if self.streams.len() >= self.limits.h2_max_concurrent_streams as usize {
            return Err(H2Error::stream(
                id,
                ErrorCode::RefusedStream,
                "too many concurrent streams",
            ));
        }
        let fields = match fields {
            Ok(f) => f,
            Err(_) => {
                // Header list too large: answer 431 on the stream.
                let stream = Stream::new(
                    self.peer_initial_window,
                    self.our_initial_window,
                    block.end_stream,
                );
                self.streams.insert(id, stream);
                // A body would not be read: the response's END_STREAM
                // resets a request still arriving (`close_local`).
                let _ = self.send_response(
                    id,
                    StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                    &HeaderMap::new(),
                    true,
                );
                return Ok(());
            }
        };
        let head = request::request_from_fields(fields)
            .map_err(|m| H2Error::stream(id, ErrorCode::ProtocolError, m))?;
        if block.end_stream && head.content_length.is_some_and(|n| n > 0) {
            return Err(H2Error::stream(
                id,
                ErrorCode::ProtocolError,
                "content-length without a body",
            ));
        }
        let mut stream = Stream::new(
            self.peer_initial_window,
            self.our_initial_window,
            block.end_stream,
        );
        stream.content_length = head.content_length;
        self.streams.insert(id, stream);
        self.events.push_back(Event::Request {
            stream_id: id,
            request: head.request,
            end_stream: block.end_stream,
        });
        Ok(())
    }

    fn on_data(&mut self, d: frame::Data) -> Result<(), H2Error> {
        let id = d.stream_id;
        let flow = i64::from(d.flow_len);
        // Connection window first: every DATA counts, whatever its stream.
        self.conn_recv_window -= flow;
        if self.conn_recv_window < 0 {
            return Err(H2Error::connection(
                ErrorCode::FlowControlError,
                "connection window exceeded",
            ));
        }
        if d.data.is_empty() && !d.end_stream {
            self.empty_data_frames += 1;
            if self.empty_data_frames > self.limits.h2_max_empty_data_frames {
                return Err(H2Error::connection(
                    ErrorCode::EnhanceYourCalm,
                    "too many empty DATA frames",
                ));
            }
        }
        if id > self.last_peer_stream {
            return Err(H2Error::connection(
                ErrorCode::ProtocolError,
                "DATA on an idle stream",
            ));
        }
        let Some(stream) = self.streams.get_mut(&id) else {
            // Closed or reset: give the connection window back at once.
            self.release_connection(d.flow_len);
            if self.closed_recently(id) == Some(true) {
                return Ok(());
            }
            return Err(H2Error::stream(
                id,
                ErrorCode::StreamClosed,
                "DATA on a closed stream",
            ));
        };
        if !stream.remote_open() {
            self.release_connection(d.flow_len);
            return Err(H2Error::stream(
                id,
                ErrorCode::StreamClosed,
                "DATA after END_STREAM",
            ));
        }
        // Before the peer acknowledged our SETTINGS it may use the default window.
        let allowance = if self.settings_unacked {
            (self.our_initial_window - DEFAULT_WINDOW).max(0)
        } else {
            0
        };
        stream.recv_window -= flow;
        if stream.recv_window + allowance < 0 {
            return Err(H2Error::stream(
                id,
                ErrorCode::FlowControlError,
                "stream window exceeded",
            ));
        }
        stream.received += d.data.len() as u64;
        if stream.content_length.is_some_and(|n| stream.received > n)
            || (d.end_stream && stream.content_length.is_some_and(|n| stream.received != n))
        {
            return Err(H2Error::stream(
                id,
                ErrorCode::ProtocolError,
                "body length differs from content-length",
            ));
        }
        // Padding is flow-controlled but never reaches the application.
        let padding = d.flow_len as usize - d.data.len();
        if padding > 0 {
            self.release(id, 0);
            self.release_connection(padding as u32);
            if let Some(s) = self.streams.get_mut(&id) {
                s.recv_unreleased += padding as u32;
            }
        }
        let stream = self.streams.get_mut(&id).expect("present above");
        let closed = d.end_stream && stream.close_remote();
        self.events.push_back(Event::Data {
            stream_id: id,
            data: d.data,
            end_stream: d.end_stream,
        });
        if closed {
            self.finish_stream(id);
        }
        Ok(())
    }

    // ---- output ----

    fn schedule(&mut self, id: u32) {
        if let Some(s) = self.streams.get_mut(&id) {
            if !s.scheduled {
                s.scheduled = true;
                self.ready.push_back(id);
            }
        }
    }

    /// Writes at most one DATA frame (or the END_STREAM / trailers) of
    /// stream `id` into `dst`. Returns whether anything was written.
    fn write_stream_frame(&mut self, id: u32, dst: &mut BytesMut) -> bool {
        let max_frame = self.peer_max_frame_size;
        let conn_window = self.conn_send_window;
        let Some(stream) = self.streams.get_mut(&id) else {
            return false;
        };
        if stream.pending_len > 0 {
            let allowed = stream.send_window.min(conn_window).min(max_frame as i64);
            if allowed <= 0 {
                return false;
            }
            let mut take = (allowed as usize).min(stream.pending_len);
            let mut payload = BytesMut::with_capacity(0);
            let mut single: Option<Bytes> = None;
            while take > 0 {
                let front = stream.pending.front_mut().expect("pending_len > 0");
                let n = take.min(front.len());
                let piece = front.split_to(n);
                if front.is_empty() {
                    stream.pending.pop_front();
                }
                if single.is_none() && payload.is_empty() && n == take {
                    single = Some(piece);
                } else {
                    if let Some(s) = single.take() {
                        payload.extend_from_slice(&s);
                    }
                    payload.extend_from_slice(&piece);
                }
                take -= n;
            }
            let data = single.unwrap_or_else(|| payload.freeze());
            let n = data.len();
            stream.pending_len -= n;
            stream.send_window -= n as i64;
            self.conn_send_window -= n as i64;
            stream.window_wait_since = None;
            let end = stream.pending_len == 0 && stream.end_queued;
            frame::encode_data(id, &data, end, dst);
            if end {
                stream.end_queued = false;
                self.close_local(id);
            }
            return true;
        }
        if stream.end_queued {
            stream.end_queued = false;
            frame::encode_data(id, &[], true, dst);
            self.close_local(id);
            return true;
        }
        if let Some(trailers) = stream.trailers.take() {
            let mut block = BytesMut::new();
            self.hpack_encoder.encode_trailers(&trailers, &mut block);
            frame::encode_headers(id, &block, true, max_frame as u32, dst);
            self.close_local(id);
            return true;
        }
        false
    }

    /// We sent END_STREAM on `id`. A response is complete then: a request
    /// still arriving is not wanted any more, so the client is asked to stop
    /// sending it with RST_STREAM(NO_ERROR) (RFC 9113 §8.1), queued after
    /// the END_STREAM. Otherwise a client that never ends its request would
    /// keep the stream, and the connection, busy forever.
    fn close_local(&mut self, id: u32) {
        let Some(stream) = self.streams.get_mut(&id) else {
            return;
        };
        if stream.close_local() {
            self.finish_stream(id);
        } else {
            self.reset(id, ErrorCode::NoError);
        }
    }

    /// Both sides are done with `id`.
    fn finish_stream(&mut self, id: u32) {
        self.streams.remove(&id);
        self.remember_closed(id, false);
        // A completed stream earns back one rapid-reset credit.
        self.peer_resets_pending = self.peer_resets_pending.saturating_sub(1);
    }
}
