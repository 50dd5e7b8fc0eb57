//! The client role: [`ClientConnection`] and its [`ClientEvent`]s. We
//! open the (odd) streams with a request head; the server answers each
//! with interim (1xx) heads, a final response head, DATA and trailers.
//! Push is refused (SETTINGS_ENABLE_PUSH = 0), so the server opens none.

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, Method, Request, Response};

use super::client_role::Client;
use super::request_encode::{head_target, request_target, PreparedRequest, RequestHead};
use super::stream::{State, Stream};
use super::{Connection, Phase, StreamGone};
use crate::h2::frame::{self, Settings};
use crate::h2::{ErrorCode, H2Error};
use crate::upgrade::Protocol;
use crate::Limits;

/// The largest stream id (2^31 - 1).
const MAX_STREAM_ID: u32 = 0x7fff_ffff;

/// What a [`ClientConnection`] tells its driver.
#[derive(Debug)]
pub enum ClientEvent {
    /// The final response head of a stream; its body follows as `Data`
    /// events unless `end_stream`.
    Response {
        /// The stream.
        stream_id: u32,
        /// Status and headers; version HTTP/2.
        response: Response<()>,
        /// No body follows.
        end_stream: bool,
    },
    /// An interim (1xx) response head, e.g. `100 Continue` or `103 Early
    /// Hints`; the final response follows.
    Informational {
        /// The stream.
        stream_id: u32,
        /// Status and headers.
        response: Response<()>,
    },
    /// Response body bytes. Give them back with
    /// [`ClientConnection::release`] once consumed (flow control).
    Data {
        /// The stream.
        stream_id: u32,
        /// The bytes.
        data: Bytes,
        /// The body is complete.
        end_stream: bool,
    },
    /// Response trailers; the body is complete.
    Trailers {
        /// The stream.
        stream_id: u32,
        /// The trailer fields.
        trailers: HeaderMap,
    },
    /// The stream was reset, by the server or by us for a stream error.
    /// [`ErrorCode::RefusedStream`] means the server did not process the
    /// request: it is safe to send it again (RFC 9113 §8.7).
    Reset {
        /// The stream.
        stream_id: u32,
        /// The error code.
        code: ErrorCode,
    },
    /// The server is closing the connection: no new streams. Streams up
    /// to `last_stream_id` still complete; each stream above it follows
    /// as `Reset` with [`ErrorCode::RefusedStream`] (not processed,
    /// safe to retry on another connection).
    GoAway {
        /// The last stream the server may process.
        last_stream_id: u32,
        /// Why (NO_ERROR for a graceful shutdown).
        code: ErrorCode,
        /// The server's diagnostic data.
        debug_data: Bytes,
    },
    /// The server answered our [`ClientConnection::send_ping`].
    PingAck {
        /// The payload we sent.
        payload: [u8; 8],
    },
}

/// Why [`ClientConnection::send_request`] could not open a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenError {
    /// The server's SETTINGS_MAX_CONCURRENT_STREAMS is reached: wait for
    /// a stream to finish (see [`ClientConnection::can_open_stream`]).
    ConcurrencyLimit,
    /// The connection is going away (a GOAWAY either way) or failed: use
    /// another connection.
    GoingAway,
    /// All stream ids are used: use another connection.
    StreamIdsExhausted,
    /// The request cannot be sent as HTTP/2 (the reason says why).
    InvalidRequest(&'static str),
}

impl std::fmt::Display for OpenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OpenError::ConcurrencyLimit => f.write_str("too many concurrent streams"),
            OpenError::GoingAway => f.write_str("connection is going away"),
            OpenError::StreamIdsExhausted => f.write_str("stream ids exhausted"),
            OpenError::InvalidRequest(why) => write!(f, "invalid request: {why}"),
        }
    }
}

impl std::error::Error for OpenError {}

/// The client end of one HTTP/2 connection, sans-IO: bytes in, events
/// and frames out, no I/O inside.
///
/// The connection preface and our SETTINGS are the first output. Each
/// request opens a stream ([`send_request`](Self::send_request)); its
/// body goes in with [`send_data`](Self::send_data) and
/// [`send_trailers`](Self::send_trailers) and leaves as the server's
/// windows and frame size allow. What the server sends comes out of
/// [`recv`](Self::recv) as [`ClientEvent`]s.
///
/// A driver runs this loop (one socket; retries are the caller's):
///
/// 1. [`poll_output`](Self::poll_output) into a buffer and write it all;
/// 2. read from the socket into a buffer and pass it to
///    [`recv`](Self::recv) (on `Err`, write the output once more — the
///    GOAWAY — and close);
/// 3. take every [`poll_event`](Self::poll_event) and hand it to the
///    stream it names; call [`release`](Self::release) as body bytes are
///    consumed, so the windows reopen;
/// 4. stop once [`is_done`](Self::is_done) and the output is flushed.
///
/// ```
/// use bytes::{Bytes, BytesMut};
/// use percore_http::h2::conn::{ClientConnection, ClientEvent, Event, ServerConnection};
/// use percore_http::Limits;
///
/// let limits = Limits::default();
/// let mut client = ClientConnection::new(&limits);
/// let mut server = ServerConnection::new(&limits);
/// let request = http::Request::post("http://example.com/echo").body(()).unwrap();
/// let id = client.send_request(&request, false).unwrap();
/// client.send_data(id, Bytes::from_static(b"ping"), true).unwrap();
///
/// // Pump bytes between the two ends (a socket would be here).
/// let mut wire = BytesMut::new();
/// client.poll_output(&mut wire, usize::MAX);
/// server.recv(&mut wire).unwrap();
/// while let Some(event) = server.poll_event() {
///     if let Event::Request { stream_id, .. } = event {
///         server.send_response(stream_id, http::StatusCode::OK, &http::HeaderMap::new(), false).unwrap();
///         server.send_data(stream_id, Bytes::from_static(b"pong"), true).unwrap();
///     }
/// }
/// server.poll_output(&mut wire, usize::MAX);
/// client.recv(&mut wire).unwrap();
///
/// let Some(ClientEvent::Response { stream_id, response, end_stream: false }) = client.poll_event() else { panic!() };
/// assert_eq!((stream_id, response.status()), (id, http::StatusCode::OK));
/// let Some(ClientEvent::Data { data, end_stream: true, .. }) = client.poll_event() else { panic!() };
/// assert_eq!(&data[..], b"pong");
/// client.release(id, data.len());
/// ```
#[derive(Debug)]
pub struct ClientConnection {
    core: Connection<Client>,
}

impl ClientConnection {
    /// A connection whose first output is the client preface and our
    /// SETTINGS (push disabled; windows, frame and header-list sizes
    /// from `limits`). Requests may be sent at once.
    pub fn new(limits: &Limits) -> ClientConnection {
        let ours = Settings {
            enable_push: Some(false),
            ..Settings::default()
        };
        let role = Client {
            next_stream_id: 1,
            keep_fields: true,
            block: BytesMut::new(),
        };
        ClientConnection {
            core: Connection::new(limits, role, ours),
        }
    }

    /// Opens a stream with `request`'s head (method, URI, headers; the
    /// body is not read) and returns its id. With `end_stream` the
    /// request has no body; otherwise send it with
    /// [`send_data`](Self::send_data) / [`send_trailers`](Self::send_trailers).
    ///
    /// `:scheme` is the URI's (`http` if it has none), `:authority` the
    /// URI's or else the Host field's, `:path` the URI's (`/` if none).
    /// Connection-specific fields and `te` other than `trailers` are left
    /// out (RFC 9113 §8.2.2). A CONNECT carrying a
    /// [`Protocol`](crate::upgrade::Protocol) extension is RFC 8441's
    /// extended CONNECT (`:protocol`, with `:scheme`, `:authority` and
    /// `:path`): allowed once the server offered it
    /// ([`extended_connect_allowed`](Self::extended_connect_allowed)),
    /// never with `end_stream`; after a 2xx its DATA carries the tunnelled
    /// protocol both ways.
    pub fn send_request<B>(
        &mut self,
        request: &Request<B>,
        end_stream: bool,
    ) -> Result<u32, OpenError> {
        let id = self.next_open_id()?;
        let target = request_target(request)?;
        let protocol = request.extensions().get::<Protocol>();
        if protocol.is_some() {
            if !self.core.peer.enable_connect_protocol {
                return Err(OpenError::InvalidRequest(
                    "the server did not offer SETTINGS_ENABLE_CONNECT_PROTOCOL",
                ));
            }
            if target.authority.is_none() || end_stream {
                return Err(OpenError::InvalidRequest(
                    "an extended CONNECT needs an authority and stays open",
                ));
            }
        }
        let core = self.open_stream(id, request.method() == Method::HEAD, protocol.is_some());
        core.encode_and_write(
            id,
            &target,
            request.method(),
            protocol,
            request.headers(),
            end_stream,
        );
        Ok(id)
    }

    /// [`send_request`](Self::send_request) of a head given as borrowed
    /// parts (no extended CONNECT): the same pseudo-headers and the same
    /// fields left out, without an `http::Request` to build.
    ///
    /// ```
    /// use http::{HeaderMap, Method};
    /// use percore_http::h2::conn::{ClientConnection, RequestHead};
    /// let mut conn = ClientConnection::new(&percore_http::Limits::default());
    /// let head = RequestHead {
    ///     method: &Method::GET,
    ///     scheme: "http",
    ///     authority: Some("example.com"),
    ///     path: "/",
    ///     headers: &HeaderMap::new(),
    /// };
    /// assert_eq!(conn.send_head(&head, true), Ok(1));
    /// assert_eq!(conn.send_head(&head, true), Ok(3));
    /// ```
    pub fn send_head(
        &mut self,
        head: &RequestHead<'_>,
        end_stream: bool,
    ) -> Result<u32, OpenError> {
        let id = self.next_open_id()?;
        let target = head_target(head)?;
        let core = self.open_stream(id, *head.method == Method::HEAD, false);
        core.encode_and_write(id, &target, head.method, None, head.headers, end_stream);
        Ok(id)
    }

    /// [`send_request`](Self::send_request) with a head encoded once by
    /// [`PreparedRequest::new`]: no encoding per request.
    pub fn send_prepared(
        &mut self,
        request: &PreparedRequest,
        end_stream: bool,
    ) -> Result<u32, OpenError> {
        let id = self.next_open_id()?;
        let core = self.open_stream(id, request.method_is_head, false);
        if core.hpack_encoder.owes_size_update() {
            // The block must start with the size updates our encoder owes.
            let mut block = BytesMut::new();
            core.hpack_encoder.begin_block(&mut block);
            block.extend_from_slice(&request.block);
            core.write_head(id, &block, end_stream);
        } else {
            core.write_head(id, &request.block, end_stream);
        }
        Ok(id)
    }

    /// Puts stream `id` (from `next_open_id`) in the table.
    fn open_stream(
        &mut self,
        id: u32,
        method_is_head: bool,
        tunnel: bool,
    ) -> &mut Connection<Client> {
        let core = &mut self.core;
        core.role.next_stream_id = id + 2;
        let mut stream = Stream::new(
            core.peer.initial_window,
            core.our_initial_window,
            State::Open,
        );
        stream.head_sent = true;
        stream.method_is_head = method_is_head;
        stream.tunnel = tunnel;
        core.streams.insert(id, stream);
        core
    }

    /// Whether response heads keep their regular fields (the default).
    /// Without, every field is still checked by the same rules, and the
    /// status and content-length still count, but
    /// [`ClientEvent::Response`] carries an empty header map: for callers
    /// that only count responses (a load generator), it saves building a
    /// map per response.
    pub fn keep_response_fields(&mut self, keep: bool) {
        self.core.role.keep_fields = keep;
    }

    /// Whether the server offered RFC 8441's extended CONNECT
    /// (SETTINGS_ENABLE_CONNECT_PROTOCOL = 1): a request carrying a
    /// [`Protocol`](crate::upgrade::Protocol) extension (a WebSocket over
    /// HTTP/2) may then be sent.
    ///
    /// ```
    /// use percore_http::h2::conn::ClientConnection;
    /// let conn = ClientConnection::new(&percore_http::Limits::default());
    /// assert!(!conn.extended_connect_allowed()); // until the server's SETTINGS say so
    /// ```
    pub fn extended_connect_allowed(&self) -> bool {
        self.core.peer.enable_connect_protocol
    }

    /// Whether [`send_request`](Self::send_request) may open a stream now:
    /// the connection is not going away, stream ids remain, and fewer
    /// streams are open than the server's SETTINGS_MAX_CONCURRENT_STREAMS.
    pub fn can_open_stream(&self) -> bool {
        self.next_open_id().is_ok()
    }

    /// The id the next stream would get, or why no stream may open now.
    fn next_open_id(&self) -> Result<u32, OpenError> {
        let core = &self.core;
        if matches!(core.phase, Phase::GoingAway | Phase::Failed) {
            return Err(OpenError::GoingAway);
        }
        let id = core.role.next_stream_id;
        if id > MAX_STREAM_ID {
            return Err(OpenError::StreamIdsExhausted);
        }
        if core.streams.len() >= core.peer.max_concurrent_streams as usize {
            return Err(OpenError::ConcurrencyLimit);
        }
        Ok(id)
    }

    /// The server's SETTINGS_MAX_CONCURRENT_STREAMS (`u32::MAX` until it
    /// says otherwise).
    pub fn max_concurrent_streams(&self) -> u32 {
        self.core.peer.max_concurrent_streams
    }

    /// Queues request body bytes for `stream_id` (sent as the server's
    /// windows and frame size allow); `end_stream` ends the request.
    pub fn send_data(
        &mut self,
        stream_id: u32,
        data: Bytes,
        end_stream: bool,
    ) -> Result<(), StreamGone> {
        self.core.send_data(stream_id, data, end_stream)
    }

    /// Ends the request of `stream_id` with trailers (after queued data).
    pub fn send_trailers(&mut self, stream_id: u32, trailers: HeaderMap) -> Result<(), StreamGone> {
        self.core.send_trailers(stream_id, trailers)
    }

    /// Queues a PING; the server's answer comes as
    /// [`ClientEvent::PingAck`] with the same payload.
    pub fn send_ping(&mut self, payload: [u8; 8]) {
        frame::encode_ping(payload, &mut self.core.out);
    }

    /// Processes every complete frame in `buf` (consumed as it goes).
    /// `Err` is a connection error: its GOAWAY is queued and every stream
    /// is reset (CANCEL); flush the output and close.
    pub fn recv(&mut self, buf: &mut BytesMut) -> Result<(), H2Error> {
        self.core.recv(buf)
    }

    /// The next event for the driver.
    pub fn poll_event(&mut self) -> Option<ClientEvent> {
        self.core.events.pop_front()
    }

    /// The application consumed `len` response body bytes of `stream_id`:
    /// give the window back (WINDOW_UPDATE once half a window is due).
    pub fn release(&mut self, stream_id: u32, len: usize) {
        self.core.release(stream_id, len);
    }

    /// Cancels `stream_id` (RST_STREAM with `code`, e.g. CANCEL).
    pub fn reset(&mut self, stream_id: u32, code: ErrorCode) {
        self.core.reset(stream_id, code);
    }

    /// Request bytes of `stream_id` not yet written (for back-pressure);
    /// `None` when the stream is gone.
    pub fn queued(&self, stream_id: u32) -> Option<usize> {
        self.core.queued(stream_id)
    }

    /// Whether `stream_id` has queued data but no send window to carry it.
    pub fn is_blocked_on_window(&self, stream_id: u32) -> bool {
        self.core.is_blocked_on_window(stream_id)
    }

    /// Resets with CANCEL every stream whose queued request data has
    /// waited `timeout` or longer for the server to open its window;
    /// returns when the next stream still waiting would expire.
    pub fn expire_window_stalls(&mut self, now: Instant, timeout: Duration) -> Option<Instant> {
        self.core.expire_window_stalls(now, timeout)
    }

    /// Moves pending output into `dst`: control frames and headers first,
    /// then DATA frames of the streams in turn, while the windows allow
    /// and `dst` holds less than `max` bytes.
    pub fn poll_output(&mut self, dst: &mut BytesMut, max: usize) {
        self.core.poll_output(dst, max);
    }

    /// Whether output is waiting (frames, or data the windows allow).
    pub fn has_output(&self) -> bool {
        self.core.has_output()
    }

    /// Streams open (or half-closed) on this connection.
    pub fn active_streams(&self) -> usize {
        self.core.streams.len()
    }

    /// Starts closing: GOAWAY; open streams finish, no new ones open.
    pub fn go_away(&mut self) {
        self.core.go_away();
    }

    /// Whether the connection is finished: failed, or going away with no
    /// stream left. Flush the output, then close.
    pub fn is_done(&self) -> bool {
        self.core.is_done()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_stream_id_is_usable_then_ids_are_exhausted() {
        let mut conn = ClientConnection::new(&Limits::default());
        conn.core.role.next_stream_id = MAX_STREAM_ID - 2;
        let get = Request::get("http://x/").body(()).unwrap();
        assert_eq!(conn.send_request(&get, true), Ok(MAX_STREAM_ID - 2));
        assert!(conn.can_open_stream());
        assert_eq!(conn.send_request(&get, true), Ok(MAX_STREAM_ID));
        assert!(!conn.can_open_stream());
        assert_eq!(
            conn.send_request(&get, true),
            Err(OpenError::StreamIdsExhausted)
        );
    }
}
