//! [`Conn`]: the byte stream a server connection runs on, plain TCP or (with
//! the `tls` feature) TLS over TCP. A concrete enum rather than a generic
//! parameter: the upgrade hand-over ([`Upgraded`](crate::upgrade::Upgraded))
//! and the WebSocket keep one stream type, and the plain-TCP path costs one
//! well-predicted branch per I/O call.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;

use percore_runtime::buf::{IoBuf, IoBufMut};
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
        }
    }

    /// Whether the connection is encrypted.
    pub fn is_tls(&self) -> bool {
        match self {
            Conn::Plain(_) => false,
            #[cfg(feature = "tls")]
            Conn::Tls(_) => true,
            Conn::H2Stream(stream) => stream.connection().is_tls(),
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

    /// Ends our side of the conversation: TLS sends close_notify first
    /// (bounded by `limit`), then the TCP write side is shut. Reading
    /// stays possible. An HTTP/2 stream sends END_STREAM.
    pub async fn close_write(&self, limit: Duration) {
        if let Conn::H2Stream(stream) = self {
            stream.end();
            return;
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
        if let Conn::H2Stream(stream) = self {
            stream.end();
            return;
        }
        let _ = self.tcp().shutdown(std::net::Shutdown::Both);
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
            Conn::H2Stream(_) => None,
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
}
