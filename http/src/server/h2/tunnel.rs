//! Streams that carry another protocol: an extended CONNECT (RFC 8441,
//! WebSocket over HTTP/2) answered with a 2xx becomes an [`H2Stream`], a
//! byte stream over the stream's DATA frames, handed to the handler's
//! [`OnUpgrade`](crate::upgrade::OnUpgrade) as a [`Conn`] like an HTTP/1.1
//! upgrade's socket. Reads take the DATA the client sent and give its
//! window back as they go; writes queue DATA with the same back-pressure as
//! a streamed response (the stream's queue, the peer's windows, the
//! round-robin scheduler), so a tunnel never starves the other streams.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::future::poll_fn;
use std::io;
use std::rc::Rc;

use bytes::{Bytes, BytesMut};
use percore_runtime::buf::{fill_from, IoBuf, IoBufMut};

use super::body::BodyQueue;
use super::respond::wait_for_room;
use super::{ConnRef, STREAM_HIGH_WATER};
use crate::body::BodyError;
use crate::server::Conn;

/// One HTTP/2 stream used as a byte stream (an RFC 8441 tunnel), as a
/// [`Conn::H2Stream`] gives it to an upgraded protocol.
///
/// Reading returns the peer's DATA (`Ok(0)` once it sent END_STREAM; an
/// error once it reset the stream); writing queues DATA, waiting while the
/// stream has 64 KiB queued. [`Conn::close_write`] and [`Conn::abort`] end
/// our side with END_STREAM (after the queued data); so does dropping the
/// stream. A tunnel whose peer never ends its side is reset after
/// `Limits::body_read_timeout`, one whose peer keeps the window shut after
/// `Limits::h2_send_window_timeout`.
///
/// ```no_run
/// use percore_http::{upgrade, Request};
/// // In a task the handler of an extended CONNECT spawned before answering 200:
/// async fn tunnel(mut req: Request) {
///     let Some(on_upgrade) = upgrade::on_upgrade(&mut req) else { return };
///     let Ok(upgraded) = on_upgrade.await else { return };
///     let (conn, _) = upgraded.into_parts();
///     if let Some(stream) = conn.h2_stream() {
///         println!("tunnel on stream {}", stream.stream_id());
///     }
///     let (echo, buf) = conn.read(Vec::with_capacity(1024)).await;
///     let _ = conn.write_all(buf).await; // echo what came, as DATA
///     let _ = echo;
/// }
/// ```
pub struct H2Stream {
    shared: ConnRef,
    id: u32,
    queue: Rc<RefCell<BodyQueue>>,
    /// The connection the stream belongs to (its TCP or TLS socket).
    socket: Rc<Conn>,
    /// END_STREAM is queued: no more writes.
    ended: Cell<bool>,
}

impl fmt::Debug for H2Stream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("H2Stream")
            .field("stream", &self.id)
            .field("ended", &self.ended.get())
            .finish()
    }
}

impl H2Stream {
    pub(super) fn new(
        shared: ConnRef,
        id: u32,
        queue: Rc<RefCell<BodyQueue>>,
        socket: Rc<Conn>,
    ) -> H2Stream {
        H2Stream {
            shared,
            id,
            queue,
            socket,
            ended: Cell::new(false),
        }
    }

    /// The HTTP/2 stream id.
    pub fn stream_id(&self) -> u32 {
        self.id
    }

    /// The connection this stream belongs to.
    pub fn connection(&self) -> &Conn {
        &self.socket
    }

    /// Reads the peer's next bytes into `buf`; `Ok(0)` at its END_STREAM.
    pub(crate) async fn read<B: IoBufMut>(&self, mut buf: B) -> (io::Result<usize>, B) {
        let res = poll_fn(|cx| {
            let polled = self
                .queue
                .borrow_mut()
                .poll_tunnel(cx, |chunk| fill_from(&mut buf, chunk));
            polled.map(|r| match r {
                Ok(Some(n)) => {
                    // Consumed: give the window back.
                    let mut s = self.shared.borrow_mut();
                    s.conn.release(self.id, n);
                    s.notify();
                    Ok(n)
                }
                Ok(None) => Ok(0),
                Err(e) => Err(stream_error(&e)),
            })
        })
        .await;
        (res, buf)
    }

    /// Queues up to 64 KiB of `bufs` as DATA once the stream has room.
    pub(crate) async fn writev<B: IoBuf>(&self, bufs: Vec<B>) -> (io::Result<usize>, Vec<B>) {
        if self.ended.get() || !wait_for_room(&self.shared, self.id).await {
            return (Err(io::ErrorKind::BrokenPipe.into()), bufs);
        }
        let total: usize = bufs.iter().map(|b| b.as_bytes().len()).sum();
        let mut data = BytesMut::with_capacity(total.min(STREAM_HIGH_WATER));
        for b in &bufs {
            let room = STREAM_HIGH_WATER - data.len();
            let bytes = b.as_bytes();
            data.extend_from_slice(&bytes[..bytes.len().min(room)]);
            if data.len() == STREAM_HIGH_WATER {
                break;
            }
        }
        let n = data.len();
        let mut s = self.shared.borrow_mut();
        let sent = s.conn.send_data(self.id, data.freeze(), false);
        s.notify();
        match sent {
            Ok(()) => (Ok(n), bufs),
            Err(_) => (Err(io::ErrorKind::BrokenPipe.into()), bufs),
        }
    }

    /// Ends our side: END_STREAM after the queued data (once).
    pub(crate) fn end(&self) {
        if self.ended.replace(true) {
            return;
        }
        if let Ok(mut s) = self.shared.try_borrow_mut() {
            let _ = s.conn.send_data(self.id, Bytes::new(), true);
            s.notify();
        }
    }
}

impl Drop for H2Stream {
    fn drop(&mut self) {
        self.end();
        let unread = self.queue.borrow_mut().abandon();
        if let Ok(mut s) = self.shared.try_borrow_mut() {
            // The driver forgets the stream; DATA still arriving is given
            // back, then drained by the connection.
            s.streams.remove(&self.id);
            s.conn.end_tunnel(self.id);
            if unread > 0 {
                s.conn.release(self.id, unread);
            }
            s.notify();
        }
    }
}

/// The I/O error a failed tunnel reads with.
fn stream_error(e: &BodyError) -> io::Error {
    io::Error::new(io::ErrorKind::ConnectionReset, e.to_string())
}
