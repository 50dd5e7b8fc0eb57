//! The async WebSocket on the percore runtime: [`WebSocket`] drives a
//! [`Codec`] over a connection (TCP or TLS), answers pings, runs the close handshake and
//! an optional heartbeat; [`WebSocket::split`] gives a reader and a writer
//! for two tasks.

use std::cell::RefCell;
use std::fmt;
use std::future::poll_fn;
use std::io;
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use percore_http::server::{Conn, ConnGuard, ConnProtocol};
use percore_runtime::future::{race, Either};
use percore_runtime::io::ReadBuffer;
use percore_runtime::sync::Shutdown;

use crate::{CloseFrame, CloseState, Codec, EncodeError, Message, ProtocolError};

/// Read-buffer growth step.
const READ_CHUNK: usize = 16 * 1024;

/// Most room reserved ahead for a large frame whose header has arrived (its
/// payload is read into place without repeated growth; the frame-size limit
/// still bounds what can actually be buffered). See [`ReadBuffer::expect`].
const FRAME_PREALLOC_MAX: usize = 4 << 20;

/// How long the peer has to answer our Close 1001 when the server shuts down.
const GOING_AWAY_GRACE: Duration = Duration::from_secs(5);
/// How long a peer may accept no byte while a message waits, by default
/// (the HTTP server's `Limits::write_timeout` replaces it on upgrades).
const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a WebSocket operation failed.
#[derive(Debug)]
pub enum WsError {
    /// The peer broke the protocol; a Close with the matching code (1002,
    /// 1007, 1009) was sent and the connection closed.
    Protocol(ProtocolError),
    /// The heartbeat's ping got no pong in time; the connection was closed.
    HeartbeatTimeout,
    /// The socket is closing or closed: no more messages can be sent.
    Closed,
    /// A control frame that cannot be sent (payload over 125 bytes, invalid
    /// close code).
    Invalid(EncodeError),
    /// The connection failed.
    Io(io::Error),
}

impl fmt::Display for WsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WsError::Protocol(e) => e.fmt(f),
            WsError::HeartbeatTimeout => f.write_str("websocket heartbeat: no pong in time"),
            WsError::Closed => f.write_str("websocket is closed"),
            WsError::Invalid(e) => e.fmt(f),
            WsError::Io(e) => write!(f, "websocket i/o: {e}"),
        }
    }
}

impl std::error::Error for WsError {}

impl From<io::Error> for WsError {
    fn from(e: io::Error) -> Self {
        WsError::Io(e)
    }
}

/// State shared by the reader and the writer halves.
struct SocketState {
    stream: Rc<Conn>,
    codec: Codec,
    /// Received bytes not yet decoded, and the read that brings more (kept
    /// alive across cancelled `recv` calls).
    input: ReadBuffer<Conn>,
    /// Encoded bytes not yet handed to the kernel: `chunks` first (frame
    /// headers and large payloads sent uncopied), then `out`.
    chunks: Vec<Bytes>,
    out: BytesMut,
    /// Bytes ever encoded / ever written: a sender waits until `written`
    /// passes the end of its message.
    encoded: u64,
    written: u64,
    /// A task is writing `out`; the others wait for it.
    writing: bool,
    write_waiters: Vec<Waker>,
    write_error: Option<io::ErrorKind>,
    /// TCP closed by us.
    shut: bool,
    /// How long the peer may accept no byte while a message waits to be
    /// written; then the connection is closed.
    write_timeout: Option<Duration>,
    /// Keeps the connection counted as open by the server until dropped.
    _guard: Option<ConnGuard>,
    /// What few sockets use (heartbeat, subprotocol, shutdown goodbye):
    /// allocated on first use, so that a plain socket does not carry it.
    rare: Option<Box<Rare>>,
}

/// The rarely used part of [`SocketState`].
#[derive(Default)]
struct Rare {
    heartbeat: Option<Duration>,
    /// A heartbeat ping is unanswered since this instant.
    ping_sent: Option<Instant>,
    protocol: Option<String>,
    /// Our Close 1001 went out; the connection closes at this instant if the
    /// peer has not answered.
    going_away_until: Option<Instant>,
}

impl SocketState {
    /// The rare part, allocated if needed.
    fn rare_mut(&mut self) -> &mut Rare {
        self.rare.get_or_insert_with(Box::default)
    }

    fn going_away_until(&self) -> Option<Instant> {
        self.rare.as_ref().and_then(|r| r.going_away_until)
    }
}

/// A WebSocket connection: `recv` messages, `send` messages.
///
/// Pings are answered automatically (and still returned by `recv`); a Close
/// from the peer is answered and the TCP connection closed, then `recv`
/// returns `None`. A protocol violation sends the matching Close code and
/// closes. With a heartbeat, a ping goes out after that long without input
/// and the connection is closed if no pong follows within the same time.
/// When the server that accepted it shuts down gracefully, a task waiting
/// in `recv` sends Close 1001 ("going away"), waits up to 5 s for the peer's
/// Close and then sees `None`; the server waits for the socket to be
/// dropped (up to its shutdown deadline).
///
/// ```no_run
/// use percore_ws::{Message, WebSocket};
/// async fn echo(mut ws: WebSocket) {
///     while let Some(Ok(msg)) = ws.recv().await {
///         if matches!(msg, Message::Text(_) | Message::Binary(_)) && ws.send(msg).await.is_err() {
///             break;
///         }
///     }
/// }
/// ```
#[derive(Debug)]
pub struct WebSocket {
    reader: WsReader,
    writer: WsWriter,
}

/// The receiving half of a [`WebSocket`].
pub struct WsReader {
    shared: Rc<RefCell<SocketState>>,
    /// The server's shutdown signal: when raised, a waiting `recv` sends
    /// Close 1001. Held here, by the only half that waits for input.
    server_shutdown: Option<Shutdown>,
}

/// The sending half of a [`WebSocket`]; clones send on the same connection.
#[derive(Clone)]
pub struct WsWriter {
    shared: Rc<RefCell<SocketState>>,
}

impl std::fmt::Debug for WsReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let close = self.shared.try_borrow().ok().map(|s| s.codec.close_state());
        f.debug_struct("WsReader")
            .field("close_state", &close)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for WsWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let close = self.shared.try_borrow().ok().map(|s| s.codec.close_state());
        f.debug_struct("WsWriter")
            .field("close_state", &close)
            .finish_non_exhaustive()
    }
}

impl WebSocket {
    /// A WebSocket speaking on `stream` with `codec`, starting with the
    /// bytes already read from it (`read_buf`).
    pub fn new(stream: Rc<Conn>, read_buf: BytesMut, codec: Codec) -> WebSocket {
        let shared = Rc::new(RefCell::new(SocketState {
            input: ReadBuffer::new(stream.clone(), read_buf, READ_CHUNK)
                .with_max_ahead(FRAME_PREALLOC_MAX),
            stream,
            codec,
            chunks: Vec::new(),
            out: BytesMut::new(),
            encoded: 0,
            written: 0,
            writing: false,
            write_waiters: Vec::new(),
            write_error: None,
            shut: false,
            write_timeout: Some(DEFAULT_WRITE_TIMEOUT),
            _guard: None,
            rare: None,
        }));
        WebSocket {
            reader: WsReader {
                shared: shared.clone(),
                server_shutdown: None,
            },
            writer: WsWriter { shared },
        }
    }

    /// Sends a ping after `interval` without input, and closes the
    /// connection if no pong arrives within another `interval`. The
    /// heartbeat runs while a task waits in `recv`.
    pub fn set_heartbeat(&mut self, interval: Option<Duration>) {
        let mut s = self.reader.shared.borrow_mut();
        if interval.is_some() || s.rare.is_some() {
            s.rare_mut().heartbeat = interval;
        }
    }

    /// Closes the connection when the peer accepts no byte for `timeout`
    /// while a message waits to be written (default 30 s; `None`: wait
    /// forever). A peer that stops reading cannot hold the connection and
    /// its queued messages forever.
    pub fn set_write_timeout(&mut self, timeout: Option<Duration>) {
        self.reader.shared.borrow_mut().write_timeout = timeout;
    }

    /// Ties the socket to the server: on its shutdown signal the peer gets
    /// a Close 1001 ("going away"), and the server counts the connection as
    /// open until the socket is dropped.
    pub(crate) fn attach_to_server(&mut self, shutdown: Shutdown, mut guard: ConnGuard) {
        guard.set_protocol(ConnProtocol::WebSocket);
        self.reader.server_shutdown = Some(shutdown);
        self.reader.shared.borrow_mut()._guard = Some(guard);
    }

    /// Records the subprotocol chosen in the handshake (for sockets made
    /// with [`WebSocket::new`], e.g. by a client).
    pub fn set_protocol(&mut self, protocol: Option<String>) {
        let mut s = self.reader.shared.borrow_mut();
        if protocol.is_some() || s.rare.is_some() {
            s.rare_mut().protocol = protocol;
        }
    }

    /// The subprotocol chosen in the handshake.
    pub fn protocol(&self) -> Option<String> {
        let s = self.reader.shared.borrow();
        s.rare.as_ref().and_then(|r| r.protocol.clone())
    }

    /// The next message; `None` once the connection is closed.
    pub async fn recv(&mut self) -> Option<Result<Message, WsError>> {
        self.reader.recv().await
    }

    /// Sends `msg` and waits until it is written to the socket (the
    /// back-pressure: a slow reader slows the sender down).
    pub async fn send(&mut self, msg: Message) -> Result<(), WsError> {
        self.writer.send(msg).await
    }

    /// Starts the close handshake with `code` and `reason`; keep calling
    /// `recv` until `None` to finish it.
    pub async fn close(&mut self, code: u16, reason: &str) -> Result<(), WsError> {
        self.writer.close(code, reason).await
    }

    /// The close handshake's progress.
    pub fn close_state(&self) -> CloseState {
        self.reader.shared.borrow().codec.close_state()
    }

    /// Splits into a reader and a writer, for two tasks.
    pub fn split(self) -> (WsReader, WsWriter) {
        (self.reader, self.writer)
    }
}

impl WsReader {
    /// The next message; `None` once the connection is closed. Cancel-safe:
    /// a dropped `recv` loses no data.
    pub async fn recv(&mut self) -> Option<Result<Message, WsError>> {
        loop {
            let decoded = {
                let mut guard = self.shared.borrow_mut();
                let s = &mut *guard;
                if s.shut && s.input.buffer().is_empty() {
                    return None;
                }
                s.codec.decode(s.input.buffer_mut())
            };
            match decoded {
                Ok(Some(msg)) => return Some(self.handle(msg).await),
                Ok(None) => {}
                Err(e) => {
                    let close = e.close_message();
                    // Boxed, as every rare write here: inline, its state
                    // would size every `recv` (and the task waiting in it).
                    let _ = Box::pin(enqueue_and_flush(&self.shared, &close)).await;
                    shut(&self.shared);
                    return Some(Err(WsError::Protocol(e)));
                }
            }
            if self.shared.borrow().shut {
                return None;
            }
            match self.read_more().await {
                Ok(true) => {}
                Ok(false) => {
                    // EOF without a closing handshake (code 1006).
                    shut(&self.shared);
                    return None;
                }
                Err(e) => {
                    shut(&self.shared);
                    return Some(Err(e));
                }
            }
        }
    }

    /// Reacts to a decoded message: pong for ping, close reply for close.
    async fn handle(&mut self, msg: Message) -> Result<Message, WsError> {
        match &msg {
            Message::Ping(_) => {
                if let Some(pong) = msg.pong_reply() {
                    // A ping during our own close gets no pong: that is fine.
                    match Box::pin(enqueue_and_flush(&self.shared, &pong)).await {
                        Ok(()) | Err(WsError::Closed) => {}
                        Err(e) => return Err(e),
                    }
                }
            }
            Message::Pong(_) => {
                if let Some(rare) = self.shared.borrow_mut().rare.as_mut() {
                    rare.ping_sent = None;
                }
            }
            Message::Close(_) => {
                let reply = self.shared.borrow().codec.close_reply();
                if let Some(reply) = reply {
                    let _ = Box::pin(enqueue_and_flush(&self.shared, &reply)).await;
                }
                // Both Close frames exchanged (or the peer answered ours).
                shut(&self.shared);
            }
            _ => {}
        }
        Ok(msg)
    }

    /// Reads more input; `Ok(false)` at EOF. Runs the heartbeat. A read
    /// cut short (by the heartbeat, the shutdown signal or a cancelled
    /// `recv`) stays in flight for the next call.
    async fn read_more(&mut self) -> Result<bool, WsError> {
        loop {
            {
                let mut guard = self.shared.borrow_mut();
                let s = &mut *guard;
                // Room for the rest of a large frame whose header arrived.
                let wanted = s.codec.frame_bytes_wanted(s.input.buffer().len());
                s.input.expect(wanted);
            }
            let deadline = self.wake_deadline();
            let shared = &self.shared;
            let read = poll_fn(|cx| shared.borrow_mut().input.poll_fill(cx, deadline));
            let outcome = match self.unanswered_shutdown() {
                None => read.await,
                Some(shutdown) => match race(read, shutdown.wait()).await {
                    Either::Left(outcome) => outcome,
                    Either::Right(()) => {
                        Box::pin(self.go_away()).await;
                        continue;
                    }
                },
            };
            match outcome {
                Ok(0) => return Ok(false),
                Ok(_) => return Ok(true),
                Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                    let gone = self.shared.borrow().going_away_until();
                    if gone.is_some_and(|until| Instant::now() >= until) {
                        // The peer never answered our Close 1001.
                        shut(&self.shared);
                        return Ok(false);
                    }
                    Box::pin(self.heartbeat_tick()).await?;
                }
                Err(e) => return Err(WsError::Io(e)),
            }
        }
    }

    /// When `read_more` must wake up without input: the heartbeat, or the
    /// end of the wait for the answer to our Close 1001.
    fn wake_deadline(&self) -> Option<Instant> {
        let s = self.shared.borrow();
        let rare = s.rare.as_ref()?;
        let heartbeat = rare
            .heartbeat
            .map(|interval| rare.ping_sent.unwrap_or_else(Instant::now) + interval);
        match (heartbeat, rare.going_away_until) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The server's shutdown signal, while we have not said goodbye yet.
    fn unanswered_shutdown(&self) -> Option<&Shutdown> {
        let s = self.shared.borrow();
        let open = s.codec.close_state() == CloseState::Open && !s.shut;
        if open && s.going_away_until().is_none() {
            self.server_shutdown.as_ref()
        } else {
            None
        }
    }

    /// The server is shutting down: send Close 1001 and give the peer a
    /// moment to answer it (its Close ends the connection as usual).
    async fn go_away(&self) {
        self.shared.borrow_mut().rare_mut().going_away_until =
            Some(Instant::now() + GOING_AWAY_GRACE);
        let bye = Message::Close(Some(CloseFrame::new(1001, "server shutting down")));
        if enqueue_and_flush(&self.shared, &bye).await.is_err() {
            shut(&self.shared);
        }
    }

    /// The heartbeat deadline passed: ping, or give up if a ping is unanswered.
    async fn heartbeat_tick(&mut self) -> Result<(), WsError> {
        let unanswered = {
            let s = self.shared.borrow();
            s.rare.as_ref().is_some_and(|r| r.ping_sent.is_some())
        };
        if unanswered {
            shut(&self.shared);
            return Err(WsError::HeartbeatTimeout);
        }
        self.shared.borrow_mut().rare_mut().ping_sent = Some(Instant::now());
        enqueue_and_flush(&self.shared, &Message::Ping(Bytes::new())).await
    }
}

impl WsWriter {
    /// Sends `msg` and waits until it is written to the socket.
    pub async fn send(&self, msg: Message) -> Result<(), WsError> {
        enqueue_and_flush(&self.shared, &msg).await
    }

    /// Sends a Close with `code` and `reason` (the reader then finishes the
    /// handshake).
    pub async fn close(&self, code: u16, reason: &str) -> Result<(), WsError> {
        let msg = Message::Close(Some(CloseFrame::new(code, reason)));
        enqueue_and_flush(&self.shared, &msg).await
    }
}

/// Encodes `msg` behind what is queued and waits until it is written.
async fn enqueue_and_flush(
    shared: &Rc<RefCell<SocketState>>,
    msg: &Message,
) -> Result<(), WsError> {
    let end = {
        let mut guard = shared.borrow_mut();
        let s = &mut *guard;
        if s.shut {
            return Err(WsError::Closed);
        }
        let before = s.out.len();
        let payload = s
            .codec
            .encode_vectored(msg, &mut s.out)
            .map_err(|e| match e {
                EncodeError::Closed => WsError::Closed,
                other => WsError::Invalid(other),
            })?;
        s.encoded += (s.out.len() - before) as u64;
        if let Some(payload) = payload {
            let head = s.out.split().freeze();
            s.chunks.push(head);
            s.encoded += payload.len() as u64;
            s.chunks.push(payload);
        }
        s.encoded
    };
    flush_to(shared, end).await
}

/// Resets `writing` if the task writing is dropped mid-write: the peer then
/// sees a broken frame, so the connection is failed for everyone.
struct WritingGuard<'a> {
    shared: &'a Rc<RefCell<SocketState>>,
    done: bool,
}

impl Drop for WritingGuard<'_> {
    fn drop(&mut self) {
        let mut s = self.shared.borrow_mut();
        s.writing = false;
        if !self.done && s.write_error.is_none() {
            s.write_error = Some(io::ErrorKind::Interrupted);
        }
        // Taken, not drained: an idle socket keeps no waiter list.
        for w in std::mem::take(&mut s.write_waiters) {
            w.wake();
        }
    }
}

/// Waits until every byte up to `end` is written, writing them itself when
/// no other task is.
async fn flush_to(shared: &Rc<RefCell<SocketState>>, end: u64) -> Result<(), WsError> {
    loop {
        let batch = std::future::poll_fn(|cx| {
            let mut s = shared.borrow_mut();
            if let Some(kind) = s.write_error {
                return Poll::Ready(Err(WsError::Io(io::Error::from(kind))));
            }
            if s.written >= end {
                return Poll::Ready(Ok(None));
            }
            if s.writing {
                s.write_waiters.push(cx.waker().clone());
                return Poll::Pending;
            }
            s.writing = true;
            let mut batch = std::mem::take(&mut s.chunks);
            // Taken whole: the buffer goes with the write and is freed
            // after it, so an idle socket holds no write buffer (`split`
            // would keep its spare room in `out`).
            batch.push(std::mem::take(&mut s.out).freeze());
            Poll::Ready(Ok(Some((batch, s.stream.clone(), s.write_timeout))))
        })
        .await?;
        let Some((bytes, stream, write_timeout)) = batch else {
            return Ok(());
        };
        let mut guard = WritingGuard {
            shared,
            done: false,
        };
        let len: u64 = bytes.iter().map(|b| b.len() as u64).sum();
        // Boxed: the write of every kind of connection, with its timer, is
        // large, and only a task that is writing needs it; inline, it would
        // size every `send` (and so every task that may send).
        let write = async move {
            match write_timeout {
                Some(stall) => stream.write_all_vectored_timeout(bytes, stall).await,
                None => stream.write_all_vectored(bytes).await,
            }
        };
        let (res, _) = Box::pin(write).await;
        guard.done = true;
        let stalled = matches!(&res, Err(e) if e.kind() == io::ErrorKind::TimedOut);
        {
            let mut s = shared.borrow_mut();
            match res {
                Ok(()) => s.written += len,
                Err(e) => s.write_error = Some(e.kind()),
            }
        }
        drop(guard);
        if stalled {
            // The peer stopped reading: end the connection, reads included.
            shut(shared);
        }
    }
}

/// Closes the TCP connection (once).
fn shut(shared: &Rc<RefCell<SocketState>>) {
    let mut s = shared.borrow_mut();
    if !s.shut {
        s.shut = true;
        s.input.buffer_mut().clear();
        s.stream.abort();
    }
}

#[cfg(test)]
mod idle_size;
