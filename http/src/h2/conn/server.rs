//! The server role: [`ServerConnection`] and its [`Event`]s. The client
//! opens the (odd) streams; each starts with a request head, checked and
//! admitted here.

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, Request, StatusCode};

use super::request;
use super::role::Role;
use super::stream::{State, Stream};
use super::{Connection, HeaderBlock, Phase, StreamGone};
use crate::h2::frame::{self, GoAway, Settings};
use crate::h2::hpack::HeaderField;
use crate::h2::{ErrorCode, H2Error};
use crate::Limits;

/// What a [`ServerConnection`] tells its driver.
#[derive(Debug)]
pub enum Event {
    /// A new request; its body follows as `Data` events unless `end_stream`.
    /// An extended CONNECT (RFC 8441) carries its `:protocol` as a
    /// [`Protocol`](crate::upgrade::Protocol) extension: its stream takes
    /// no DATA before our 2xx head, then carries the tunnelled protocol
    /// both ways (`Data` events in, [`ServerConnection::send_data`] out).
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

/// The server role's state: none beyond the shared core.
#[derive(Debug)]
pub(super) struct Server;

impl Role for Server {
    const SIDE: frame::Role = frame::Role::Server;
    const COUNTS_PEER_RESETS: bool = true;
    const DRAIN_AFTER_LOCAL_END: bool = true;
    type Event = Event;

    fn data_event(stream_id: u32, data: Bytes, end_stream: bool) -> Event {
        Event::Data {
            stream_id,
            data,
            end_stream,
        }
    }

    fn trailers_event(stream_id: u32, trailers: HeaderMap) -> Event {
        Event::Trailers {
            stream_id,
            trailers,
        }
    }

    fn reset_event(stream_id: u32, code: ErrorCode) -> Event {
        Event::Reset { stream_id, code }
    }

    fn is_idle(conn: &Connection<Server>, stream_id: u32) -> bool {
        stream_id > conn.last_peer_stream
    }

    fn check_unknown_stream(conn: &Connection<Server>, stream_id: u32) -> Result<(), H2Error> {
        if stream_id.is_multiple_of(2) {
            return Err(H2Error::connection(
                ErrorCode::ProtocolError,
                "client stream id is even",
            ));
        }
        if stream_id <= conn.last_peer_stream {
            return match conn.recently_closed.get(stream_id) {
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

    fn on_head(
        conn: &mut Connection<Server>,
        block: HeaderBlock,
        fields: Result<Vec<HeaderField>, H2Error>,
    ) -> Result<(), H2Error> {
        let id = block.stream_id;
        if id <= conn.last_peer_stream {
            // Late headers of a stream we reset: decoded (the HPACK state
            // must follow) and dropped.
            return Ok(());
        }
        // A new stream.
        conn.last_peer_stream = id;
        if id > conn.accept_limit || conn.phase != Phase::Open {
            return Err(H2Error::stream(
                id,
                ErrorCode::RefusedStream,
                "connection is going away",
            ));
        }
        if conn.streams.len() >= conn.limits.h2_max_concurrent_streams as usize {
            return Err(H2Error::stream(
                id,
                ErrorCode::RefusedStream,
                "too many concurrent streams",
            ));
        }
        let Ok(fields) = fields else {
            // Header list too large: answer 431 on the stream. A body
            // would not be read: after the response's END_STREAM a request
            // still arriving is drained, then reset (`close_local`).
            conn.streams
                .insert(id, request_stream(conn, block.end_stream));
            let _ = send_response(
                conn,
                id,
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                &HeaderMap::new(),
                true,
            );
            return Ok(());
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
        if head.extended_connect {
            if !conn.limits.h2_enable_connect_protocol {
                return Err(H2Error::stream(
                    id,
                    ErrorCode::ProtocolError,
                    ":protocol without SETTINGS_ENABLE_CONNECT_PROTOCOL",
                ));
            }
            if block.end_stream {
                return Err(H2Error::stream(
                    id,
                    ErrorCode::ProtocolError,
                    "extended CONNECT with END_STREAM",
                ));
            }
        }
        let mut stream = request_stream(conn, block.end_stream);
        stream.content_length = head.content_length;
        stream.tunnel = head.extended_connect;
        conn.streams.insert(id, stream);
        conn.events.push_back(Event::Request {
            stream_id: id,
            request: head.request,
            end_stream: block.end_stream,
        });
        Ok(())
    }

    fn on_goaway(conn: &mut Connection<Server>, _goaway: GoAway) {
        // The client stops opening streams; ours finish.
        if conn.phase == Phase::Open {
            conn.phase = Phase::GoingAway;
            conn.accept_limit = conn.last_peer_stream;
        }
    }

    fn on_ping_ack(_conn: &mut Connection<Server>, _payload: [u8; 8]) {}
}

/// A stream whose request head arrived (with `end_stream`: the whole
/// request).
fn request_stream(conn: &Connection<Server>, end_stream: bool) -> Stream {
    let state = if end_stream {
        State::HalfClosedRemote
    } else {
        State::Open
    };
    let mut stream = Stream::new(conn.peer.initial_window, conn.our_initial_window, state);
    stream.head_received = true;
    stream
}

fn send_response(
    conn: &mut Connection<Server>,
    stream_id: u32,
    status: StatusCode,
    headers: &HeaderMap,
    end_stream: bool,
) -> Result<(), StreamGone> {
    let Some(stream) = conn.streams.get_mut(&stream_id) else {
        return Err(StreamGone);
    };
    if stream.head_sent {
        return Err(StreamGone);
    }
    stream.head_sent = true;
    let mut block = BytesMut::new();
    conn.hpack_encoder
        .encode_response(status, headers, &mut block);
    conn.write_head(stream_id, &block, end_stream);
    Ok(())
}

/// The server end of one HTTP/2 connection, sans-IO.
///
/// Bytes from the socket go into [`recv`](Self::recv), which validates
/// every frame against the stream states, flow control and the attack
/// limits of [`Limits`], and queues [`Event`]s (requests, body data,
/// trailers, resets) for the driver. Responses go in with
/// [`send_response`](Self::send_response), [`send_data`](Self::send_data)
/// and [`send_trailers`](Self::send_trailers); the connection interleaves
/// the streams' DATA frames round-robin within the flow-control windows
/// when the driver asks for output with [`poll_output`](Self::poll_output).
/// See the [module docs](super) for an example.
#[derive(Debug)]
pub struct ServerConnection {
    core: Connection<Server>,
}

impl ServerConnection {
    /// A connection expecting the client preface; our SETTINGS (from
    /// `limits`) are queued as the first output.
    pub fn new(limits: &Limits) -> ServerConnection {
        let ours = Settings {
            max_concurrent_streams: Some(limits.h2_max_concurrent_streams),
            enable_connect_protocol: limits.h2_enable_connect_protocol.then_some(true),
            ..Settings::default()
        };
        ServerConnection {
            core: Connection::new(limits, Server, ours),
        }
    }

    /// A connection upgraded from HTTP/1.1 (`Upgrade: h2c`): the client's
    /// `HTTP2-Settings` apply, and the upgrade request is stream 1,
    /// half-closed (remote). The client preface is still expected.
    pub fn new_upgraded(
        limits: &Limits,
        http2_settings: &[u8],
    ) -> Result<ServerConnection, H2Error> {
        let mut conn = ServerConnection::new(limits);
        let core = &mut conn.core;
        let settings = Settings::parse(http2_settings)?;
        core.apply_peer_settings(&settings)?;
        // The SETTINGS in the header were never sent as a frame: no ACK.
        let stream = request_stream(core, true);
        core.streams.insert(1, stream);
        core.last_peer_stream = 1;
        Ok(conn)
    }

    /// Processes every complete frame in `buf` (consumed as it goes).
    /// `Err` is a connection error: its GOAWAY is queued; flush the output
    /// and close.
    pub fn recv(&mut self, buf: &mut BytesMut) -> Result<(), H2Error> {
        self.core.recv(buf)
    }

    /// The next event for the driver.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.core.events.pop_front()
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
        send_response(&mut self.core, stream_id, status, headers, end_stream)
    }

    /// Queues body bytes for `stream_id` (sent as the windows allow);
    /// `end_stream` ends the response.
    pub fn send_data(
        &mut self,
        stream_id: u32,
        data: Bytes,
        end_stream: bool,
    ) -> Result<(), StreamGone> {
        self.core.send_data(stream_id, data, end_stream)
    }

    /// Ends the response of `stream_id` with trailers (after queued data).
    pub fn send_trailers(&mut self, stream_id: u32, trailers: HeaderMap) -> Result<(), StreamGone> {
        self.core.send_trailers(stream_id, trailers)
    }

    /// Response bytes of `stream_id` not yet written (for back-pressure);
    /// `None` when the stream is gone.
    pub fn queued(&self, stream_id: u32) -> Option<usize> {
        self.core.queued(stream_id)
    }

    /// Whether `stream_id` has queued data but no send window to carry it.
    pub fn is_blocked_on_window(&self, stream_id: u32) -> bool {
        self.core.is_blocked_on_window(stream_id)
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
        self.core.expire_window_stalls(now, timeout)
    }

    /// Resets with NO_ERROR every stream answered `timeout` or longer ago
    /// whose request is still arriving. Such a stream is drained (RFC 9113
    /// §8.1): its frames are still checked, so a protocol error in them
    /// gets its error whatever the timing, its DATA is discarded and its
    /// window given back; it ends when the request does, after
    /// `Limits::max_drain_size` bytes, or here, so a client never keeps it
    /// half-closed forever. Returns when the next drain would expire, or
    /// `now` when one did (its RST_STREAM waits in the output).
    ///
    /// The caller passes the time, so the connection stays sans-IO; call
    /// this whenever the connection is about to wait for input (a drain's
    /// clock starts at the first call that sees it), and with a zero
    /// `timeout` once the input has ended.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use percore_http::h2::conn::ServerConnection;
    /// use percore_http::Limits;
    ///
    /// let mut conn = ServerConnection::new(&Limits::default());
    /// // No stream is being drained: nothing to wait for.
    /// assert_eq!(conn.expire_drains(Instant::now(), Duration::from_secs(1)), None);
    /// ```
    pub fn expire_drains(&mut self, now: Instant, timeout: Duration) -> Option<Instant> {
        self.core.expire_drains(now, timeout)
    }

    /// The tunnel on `stream_id` (an extended CONNECT answered 2xx) has no
    /// reader any more: from now on it is an answered stream like any
    /// other, its peer's data drained once our side has ended (see
    /// [`expire_drains`](Self::expire_drains)), so it cannot stay
    /// half-closed forever.
    ///
    /// ```
    /// use percore_http::h2::conn::ServerConnection;
    /// let mut conn = ServerConnection::new(&percore_http::Limits::default());
    /// conn.end_tunnel(1); // no such stream: nothing happens
    /// assert_eq!(conn.active_streams(), 0);
    /// ```
    pub fn end_tunnel(&mut self, stream_id: u32) {
        if let Some(stream) = self.core.streams.get_mut(&stream_id) {
            stream.tunnel = false;
        }
    }

    /// Resets `stream_id` from our side (handler failure, abandoned body).
    pub fn reset(&mut self, stream_id: u32, code: ErrorCode) {
        self.core.reset(stream_id, code);
    }

    /// The application consumed `len` body bytes of `stream_id`: give the
    /// window back (WINDOW_UPDATE once half a window is due).
    pub fn release(&mut self, stream_id: u32, len: usize) {
        self.core.release(stream_id, len);
    }

    /// Starts a graceful shutdown: GOAWAY with the last stream we will
    /// serve; open streams finish, new ones are refused.
    pub fn go_away(&mut self) {
        self.core.go_away();
    }

    /// Moves pending output into `dst`: control frames and headers first,
    /// then DATA frames of the streams in turn, one frame per stream per
    /// round, while the windows allow and `dst` holds less than `max` bytes.
    pub fn poll_output(&mut self, dst: &mut BytesMut, max: usize) {
        self.core.poll_output(dst, max);
    }

    /// Whether output is waiting (frames, or data the windows allow).
    pub fn has_output(&self) -> bool {
        self.core.has_output()
    }

    /// Streams in the table (open or half-closed).
    pub fn active_streams(&self) -> usize {
        self.core.streams.len()
    }

    /// Whether the connection is finished: failed, or going away with no
    /// stream left. Flush the output, then close.
    pub fn is_done(&self) -> bool {
        self.core.is_done()
    }
}
