//! [`Conn`]: the byte stream a server connection runs on, plain TCP or (with
//! the `tls` feature) TLS over TCP. A concrete enum rather than a generic
//! parameter: the upgrade hand-over ([`Upgraded`](crate::upgrade::Upgraded))
//! and the WebSocket keep one stream type, and the plain-TCP path costs one
//! well-predicted branch per I/O call.

use std::fmt;
use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};

use percore_runtime::buf::{fill_from, IoBuf, IoBufMut};
use percore_runtime::io::{write_all, DirectSocket, OwnedRead, OwnedWrite};
use percore_runtime::net::TcpStream;

/// An accepted server connection: plain TCP, or TLS over TCP.
///
/// ```
/// use percore_http::server::Conn;
/// use percore_runtime::{Runtime, net::{TcpListener, TcpStream}};
/// Runtime::new().unwrap().block_on(async {
///     let listener = TcpListener::bind("127.0.0.1:0").unwrap();
///     let client = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
///     let (tcp, _) = listener.accept().await.unwrap();
///     let conn = Conn::from(tcp);
///     assert!(!conn.is_tls());
///     conn.write_all(b"hi".to_vec()).await.0.unwrap();
///     let (n, buf) = client.read(Vec::with_capacity(8)).await;
///     assert_eq!(&buf[..n.unwrap()], b"hi");
/// });
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum Conn {
    /// Plain TCP.
    Plain(TcpStream),
    /// TLS over TCP (handshake done); boxed, so that a plain connection
    /// stays small.
    #[cfg(feature = "tls")]
    Tls(Box<percore_tls::TlsStream<TcpStream>>),
    /// One stream of an HTTP/2 connection (TCP or TLS) carrying another
    /// protocol: an RFC 8441 extended CONNECT, WebSocket over HTTP/2.
    /// Closing it ends the stream, not the connection.
    H2Stream(Box<super::H2Stream>),
    /// A byte stream carried inside another connection and provided from
    /// outside this crate, e.g. the client's end of an RFC 8441 WebSocket
    /// over HTTP/2 (percore-client). Closing it ends the tunnel only.
    Tunnel(Box<dyn Tunnel>),
}

/// Most bytes one write queues on a [`Tunnel`] (like a stream's queue).
const TUNNEL_WRITE_MAX: usize = 64 * 1024;

/// A byte stream carried inside another connection — one HTTP/2 stream
/// used as a tunnel (RFC 8441) — as a [`Conn::Tunnel`] reads and writes
/// it: the transport of a WebSocket that is not a socket of its own.
///
/// Poll-based, so that it can be a trait object: reads hand the next
/// received bytes to `take` (which copies what fits and says how many;
/// the rest stays for the next read) and give the flow-control window back
/// as they go; a write waits for room, then queues; `end` closes our side
/// (END_STREAM). A reset tunnel fails reads and writes.
///
/// ```
/// use std::cell::RefCell;
/// use std::collections::VecDeque;
/// use std::task::{Context, Poll};
/// use bytes::Bytes;
/// use percore_http::server::{Conn, Tunnel};
/// use percore_runtime::net::TcpStream;
///
/// /// A loopback tunnel: what is written is read back.
/// #[derive(Debug)]
/// struct Echo { tcp: TcpStream, queued: RefCell<VecDeque<u8>> }
/// impl Tunnel for Echo {
///     fn tcp(&self) -> &TcpStream { &self.tcp }
///     fn poll_read(&self, _: &mut Context<'_>, take: &mut dyn FnMut(&[u8]) -> usize)
///         -> Poll<std::io::Result<usize>> {
///         let mut q = self.queued.borrow_mut();
///         let n = take(q.make_contiguous());
///         q.drain(..n);
///         Poll::Ready(Ok(n))
///     }
///     fn poll_write_ready(&self, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
///         Poll::Ready(Ok(()))
///     }
///     fn write(&self, data: Bytes) -> std::io::Result<()> {
///         self.queued.borrow_mut().extend(&data[..]);
///         Ok(())
///     }
///     fn end(&self) {}
/// }
/// percore_runtime::Runtime::new().unwrap().block_on(async {
///     let listener = percore_runtime::net::TcpListener::bind("127.0.0.1:0").unwrap();
///     let tcp = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
///     let conn = Conn::Tunnel(Box::new(Echo { tcp, queued: RefCell::default() }));
///     conn.write_all(b"ping".to_vec()).await.0.unwrap();
///     let (n, buf) = conn.read(Vec::with_capacity(8)).await;
///     assert_eq!(&buf[..n.unwrap()], b"ping");
/// });
/// ```
pub trait Tunnel: fmt::Debug {
    /// The TCP connection the tunnel runs in.
    fn tcp(&self) -> &TcpStream;

    /// The TLS stream the tunnel runs in, if the connection is encrypted
    /// (none by default).
    #[cfg(feature = "tls")]
    fn tls(&self) -> Option<&percore_tls::TlsStream<TcpStream>> {
        None
    }

    /// Polls for the peer's next bytes: calls `take` with them (it returns
    /// how many it took; the rest stays) and returns that count; `Ok(0)`
    /// once the peer ended its side.
    fn poll_read(
        &self,
        cx: &mut Context<'_>,
        take: &mut dyn FnMut(&[u8]) -> usize,
    ) -> Poll<io::Result<usize>>;

    /// Ready once [`write`](Self::write) may queue more (the tunnel's
    /// queue is short enough); an error once the tunnel cannot be written.
    fn poll_write_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;

    /// Queues `data` to send.
    fn write(&self, data: Bytes) -> io::Result<()>;

    /// Ends our side, after the queued data (once; later calls do nothing).
    fn end(&self);
}

/// Writes up to [`TUNNEL_WRITE_MAX`] bytes of `bufs` on `tunnel` once it
/// has room.
async fn tunnel_writev<B: IoBuf>(tunnel: &dyn Tunnel, bufs: Vec<B>) -> (io::Result<usize>, Vec<B>) {
    if let Err(e) = poll_fn(|cx| tunnel.poll_write_ready(cx)).await {
        return (Err(e), bufs);
    }
    let total: usize = bufs.iter().map(|b| b.as_bytes().len()).sum();
    let mut data = BytesMut::with_capacity(total.min(TUNNEL_WRITE_MAX));
    for b in &bufs {
        let bytes = b.as_bytes();
        let room = TUNNEL_WRITE_MAX - data.len();
        data.extend_from_slice(&bytes[..bytes.len().min(room)]);
        if data.len() == TUNNEL_WRITE_MAX {
            break;
        }
    }
    let n = data.len();
    match tunnel.write(data.freeze()) {
        Ok(()) => (Ok(n), bufs),
        Err(e) => (Err(e), bufs),
    }
}

impl From<TcpStream> for Conn {
    fn from(tcp: TcpStream) -> Conn {
        Conn::Plain(tcp)
    }
}

#[cfg(feature = "tls")]
impl From<percore_tls::TlsStream<TcpStream>> for Conn {
    fn from(tls: percore_tls::TlsStream<TcpStream>) -> Conn {
        Conn::Tls(Box::new(tls))
    }
}

impl Conn {
    /// The TCP connection underneath.
    pub fn tcp(&self) -> &TcpStream {
        match self {
            Conn::Plain(tcp) => tcp,
            #[cfg(feature = "tls")]
            Conn::Tls(tls) => tls.get_ref(),
            Conn::H2Stream(stream) => stream.connection().tcp(),
            Conn::Tunnel(t) => t.tcp(),
        }
    }

    /// Whether the connection is encrypted.
    pub fn is_tls(&self) -> bool {
        match self {
            Conn::Plain(_) => false,
            #[cfg(feature = "tls")]
            Conn::Tls(_) => true,
            Conn::H2Stream(stream) => stream.connection().is_tls(),
            #[cfg(feature = "tls")]
            Conn::Tunnel(t) => t.tls().is_some(),
            #[cfg(not(feature = "tls"))]
            Conn::Tunnel(_) => false,
        }
    }

    /// The HTTP/2 stream, when this is one stream of an HTTP/2 connection
    /// (WebSocket over HTTP/2; see [`H2Stream`](super::H2Stream) for an example).
    pub fn h2_stream(&self) -> Option<&super::H2Stream> {
        match self {
            Conn::H2Stream(stream) => Some(stream),
            _ => None,
        }
    }

    /// The TLS stream, if the connection is encrypted (for its ALPN
    /// protocol, SNI name, client certificates).
    #[cfg(feature = "tls")]
    pub fn tls(&self) -> Option<&percore_tls::TlsStream<TcpStream>> {
        match self {
            Conn::Tls(tls) => Some(tls),
            Conn::Plain(_) => None,
            Conn::H2Stream(stream) => stream.connection().tls(),
            Conn::Tunnel(t) => t.tls(),
        }
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.tcp().peer_addr()
    }

    /// Sets `TCP_NODELAY`.
    pub fn set_nodelay(&self, on: bool) -> io::Result<()> {
        self.tcp().set_nodelay(on)
    }

    /// Reads into `buf`'s read target; `Ok(0)` is end of stream.
    #[inline]
    pub async fn read<B: IoBufMut>(&self, buf: B) -> (io::Result<usize>, B) {
        match self {
            Conn::Plain(tcp) => tcp.read(buf).await,
            #[cfg(feature = "tls")]
            Conn::Tls(tls) => tls.read(buf).await,
            Conn::H2Stream(stream) => stream.read(buf).await,
            Conn::Tunnel(t) => {
                let mut buf = buf;
                let res =
                    poll_fn(|cx| t.poll_read(cx, &mut |chunk| fill_from(&mut buf, chunk))).await;
                (res, buf)
            }
        }
    }

    /// Writes some of `buf`; returns how many bytes.
    #[inline]
    pub async fn write<B: IoBuf>(&self, buf: B) -> (io::Result<usize>, B) {
        match self {
            Conn::Plain(tcp) => tcp.write(buf).await,
            #[cfg(feature = "tls")]
            Conn::Tls(tls) => tls.write(buf).await,
            Conn::H2Stream(stream) => {
                let (res, mut bufs) = stream.writev(vec![buf]).await;
                (res, bufs.pop().expect("writev gives its buffers back"))
            }
            Conn::Tunnel(t) => {
                let (res, mut bufs) = tunnel_writev(&**t, vec![buf]).await;
                (res, bufs.pop().expect("writev gives its buffers back"))
            }
        }
    }

    /// Writes every byte of `buf`.
    pub async fn write_all<B: IoBuf>(&self, buf: B) -> (io::Result<()>, B) {
        write_all(self, buf).await
    }

    /// Writes some of the bytes of `bufs`, in order, in one call.
    #[inline]
    pub async fn writev<B: IoBuf>(&self, bufs: Vec<B>) -> (io::Result<usize>, Vec<B>) {
        match self {
            Conn::Plain(tcp) => tcp.writev(bufs).await,
            #[cfg(feature = "tls")]
            Conn::Tls(tls) => tls.writev(bufs).await,
            Conn::H2Stream(stream) => stream.writev(bufs).await,
            Conn::Tunnel(t) => tunnel_writev(&**t, bufs).await,
        }
    }

    /// Writes every byte of `chunks` with vectored writes.
    pub async fn write_all_vectored(&self, chunks: Vec<Bytes>) -> (io::Result<()>, Vec<Bytes>) {
        percore_runtime::io::write_all_vectored(self, chunks).await
    }

    /// [`write_all_vectored`](Self::write_all_vectored), failing with
    /// `TimedOut` when the peer accepts no byte for `stall`.
    pub async fn write_all_vectored_timeout(
        &self,
        chunks: Vec<Bytes>,
        stall: Duration,
    ) -> (io::Result<()>, Vec<Bytes>) {
        percore_runtime::io::write_all_vectored_timeout(self, chunks, stall).await
    }

    /// [`write_all`](Self::write_all), failing with `TimedOut` when the
    /// peer accepts no byte for `stall`; the buffer comes back unless the
    /// timeout cancelled the write that owned it.
    pub async fn write_all_timeout<B: IoBuf>(
        &self,
        buf: B,
        stall: Duration,
    ) -> (io::Result<()>, Option<B>) {
        percore_runtime::io::write_all_timeout(self, buf, stall).await
    }

    /// Ends our side of the conversation: TLS sends close_notify first
    /// (bounded by `limit`), then the TCP write side is shut. Reading
    /// stays possible. An HTTP/2 stream sends END_STREAM.
    pub async fn close_write(&self, limit: Duration) {
        match self {
            Conn::H2Stream(stream) => return stream.end(),
            Conn::Tunnel(t) => return t.end(),
            _ => {}
        }
        #[cfg(feature = "tls")]
        if let Conn::Tls(tls) = self {
            let _ = percore_runtime::time::timeout(limit, tls.shutdown()).await;
        }
        let _ = limit;
        let _ = self.tcp().shutdown(std::net::Shutdown::Write);
    }

    /// Ends the TCP connection both ways at once (no close_notify: for a
    /// peer that stopped reading). An HTTP/2 stream ends instead (END_STREAM
    /// after its queued data; the other streams go on): a peer that does not
    /// read it is reset by `Limits::h2_send_window_timeout`.
    pub fn abort(&self) {
        match self {
            Conn::H2Stream(stream) => stream.end(),
            Conn::Tunnel(t) => t.end(),
            _ => drop(self.tcp().shutdown(std::net::Shutdown::Both)),
        }
    }
}

impl OwnedRead for Conn {
    #[inline]
    async fn read<B: IoBufMut>(&self, buf: B) -> (io::Result<usize>, B) {
        Conn::read(self, buf).await
    }

    #[inline]
    fn direct(&self) -> Option<DirectSocket<'_>> {
        match self {
            Conn::Plain(tcp) => tcp.direct(),
            #[cfg(feature = "tls")]
            Conn::Tls(_) => None,
            Conn::H2Stream(_) | Conn::Tunnel(_) => None,
        }
    }
}

impl OwnedWrite for Conn {
    #[inline]
    async fn write<B: IoBuf>(&self, buf: B) -> (io::Result<usize>, B) {
        Conn::write(self, buf).await
    }

    #[inline]
    async fn writev<B: IoBuf>(&self, bufs: Vec<B>) -> (io::Result<usize>, Vec<B>) {
        Conn::writev(self, bufs).await
    }

    #[inline]
    fn try_write<B: IoBuf>(&self, buf: &B) -> Option<io::Result<usize>> {
        match self {
            Conn::Plain(tcp) => tcp.try_write(buf),
            _ => None,
        }
    }
}
