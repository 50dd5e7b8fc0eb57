//! WebSocket over HTTP/2 (RFC 8441), the client's end: an extended
//! CONNECT opened on a pooled HTTP/2 connection (multiplexed with the
//! origin's other requests) and, once answered 2xx, its stream as a
//! [`Tunnel`] for a [`Conn::Tunnel`](percore_http::server::Conn): reads
//! take the server's DATA and give the window back as they go, writes
//! queue DATA while the stream has less than [`SEND_QUEUE`] waiting for
//! the server's window, `end` sends END_STREAM; dropping it resets the
//! stream (CANCEL) unless the server ended it.

use std::cell::Cell;
use std::fmt;
use std::io;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use http::HeaderMap;
use percore_http::h2::ErrorCode;
use percore_http::server::Tunnel;
use percore_runtime::net::TcpStream;

use super::{send_room, wait_head, Ctx, H2Pool, Head, StreamRef};
use crate::connect::Stream;
use crate::error::{Error, ErrorKind};
use crate::pool::Origin;

/// The answer to an extended CONNECT: its head, and the stream (a tunnel
/// once the status is 2xx).
pub(crate) struct Opened {
    pub head: http::Response<()>,
    stream: StreamRef,
}

impl Opened {
    /// The stream as a tunnel (to be made only for a 2xx answer).
    pub(crate) fn into_tunnel(self) -> Result<H2Tunnel, Error> {
        let socket = self.stream.shared.st.borrow().socket.clone();
        match socket {
            Some(socket) if !matches!(*socket, Stream::Unix(_)) => Ok(H2Tunnel {
                stream: self.stream,
                socket,
                ended: Cell::new(false),
            }),
            _ => Err(Error::new(
                ErrorKind::Connect,
                "a WebSocket over HTTP/2 needs a TCP connection",
            )),
        }
    }
}

/// Sends the extended CONNECT `request` (its `Protocol` extension set) on
/// a connection of `origin` and waits for the answer's head. A connection
/// whose server did not offer SETTINGS_ENABLE_CONNECT_PROTOCOL fails with
/// [`ErrorKind::Handshake`] (see [`H2Pool::open`]).
pub(crate) async fn open(
    pool: &H2Pool,
    ctx: &Ctx<'_>,
    origin: &Origin,
    request: &http::Request<()>,
    deadline: Option<Instant>,
) -> Result<Opened, Error> {
    let stream = pool
        .open(ctx, origin, super::Outgoing::Request(request), false)
        .await?;
    match wait_head(&stream, ctx.read_timeout, deadline).await? {
        Head::Ready(head) => Ok(Opened { head, stream }),
        Head::Refused => Err(Error::new(
            ErrorKind::Protocol,
            "the server refused the HTTP/2 stream (REFUSED_STREAM)",
        )),
        Head::Lost(e) => Err(e),
    }
}

/// One HTTP/2 stream of the client as a byte stream.
pub(crate) struct H2Tunnel {
    stream: StreamRef,
    /// The connection's socket (TCP or TLS over TCP, never Unix).
    socket: Rc<Stream>,
    /// END_STREAM is queued.
    ended: Cell<bool>,
}

impl fmt::Debug for H2Tunnel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("H2Tunnel")
            .field("stream", &self.stream.id)
            .field("ended", &self.ended.get())
            .finish()
    }
}

/// The error of a tunnel that cannot go on.
fn broken(kind: io::ErrorKind, why: impl fmt::Display) -> io::Error {
    io::Error::new(kind, why.to_string())
}

impl Tunnel for H2Tunnel {
    fn tcp(&self) -> &TcpStream {
        match &*self.socket {
            Stream::Tcp(tcp) => tcp,
            Stream::Tls(tls) => tls.get_ref(),
            Stream::Unix(_) => unreachable!("`into_tunnel` refuses Unix sockets"),
        }
    }

    fn tls(&self) -> Option<&percore_tls::TlsStream<TcpStream>> {
        match &*self.socket {
            Stream::Tls(tls) => Some(tls),
            _ => None,
        }
    }

    fn poll_read(
        &self,
        cx: &mut Context<'_>,
        take: &mut dyn FnMut(&[u8]) -> usize,
    ) -> Poll<io::Result<usize>> {
        let (shared, id) = (&self.stream.shared, self.stream.id);
        let mut st = shared.st.borrow_mut();
        let failure = st.error();
        let Some(slot) = st.slots.get_mut(&id) else {
            return Poll::Ready(Err(broken(io::ErrorKind::NotConnected, "stream lost")));
        };
        if let Some(data) = slot.data.front_mut() {
            let n = take(data);
            if n == data.len() {
                slot.data.pop_front();
            } else {
                *data = data.slice(n..);
            }
            if n > 0 {
                st.conn.release(id, n);
                st.kick();
            }
            return Poll::Ready(Ok(n));
        }
        if slot.end {
            return Poll::Ready(Ok(0));
        }
        if let Some(code) = slot.reset {
            return Poll::Ready(Err(broken(
                io::ErrorKind::ConnectionReset,
                format_args!("the server reset the HTTP/2 stream ({code:?})"),
            )));
        }
        if let Some(e) = failure {
            return Poll::Ready(Err(broken(io::ErrorKind::ConnectionAborted, e)));
        }
        st.wait_slot(id, cx.waker());
        Poll::Pending
    }

    fn poll_write_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.ended.get() {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        let (shared, id) = (&self.stream.shared, self.stream.id);
        if let Some(e) = shared.st.borrow().error() {
            return Poll::Ready(Err(broken(io::ErrorKind::ConnectionAborted, e)));
        }
        send_room(shared, id, cx).map(Ok)
    }

    fn write(&self, data: Bytes) -> io::Result<()> {
        if self.ended.get() {
            return Err(io::ErrorKind::BrokenPipe.into());
        }
        let mut st = self.stream.shared.st.borrow_mut();
        if st
            .slots
            .get(&self.stream.id)
            .is_none_or(|s| s.reset.is_some())
        {
            return Err(broken(io::ErrorKind::ConnectionReset, "stream reset"));
        }
        st.conn
            .send_data(self.stream.id, data, false)
            .map_err(|_| broken(io::ErrorKind::BrokenPipe, "the HTTP/2 stream is closed"))?;
        st.kick();
        Ok(())
    }

    fn end(&self) {
        if self.ended.replace(true) {
            return;
        }
        if let Ok(mut st) = self.stream.shared.st.try_borrow_mut() {
            let _ = st.conn.send_data(self.stream.id, Bytes::new(), true);
            st.kick();
        }
    }
}

impl Opened {
    /// The headers of the answer.
    pub(crate) fn headers(&self) -> &HeaderMap {
        self.head.headers()
    }

    /// Gives the stream up (a refused or wrong answer): RST_STREAM
    /// (CANCEL), also when the server already ended its side, so that no
    /// half of it stays open.
    pub(crate) fn abandon(self) {
        let mut st = self.stream.shared.st.borrow_mut();
        st.conn.reset(self.stream.id, ErrorCode::Cancel);
        st.kick();
    }
}

impl Drop for H2Tunnel {
    /// Ends our side (END_STREAM after the queued data) if the WebSocket
    /// did not; the stream is then reset unless the server ended too.
    fn drop(&mut self) {
        self.end();
    }
}
