//! Opening connections: names resolved with `getaddrinfo` on the runtime's
//! blocking pool (IP literals skip it), TCP with `TCP_NODELAY`, or a Unix
//! socket for local services; for `https` the TLS handshake on top (SNI
//! and certificate check against the URL's host, ALPN offered by the
//! connector); all within the connect timeout.

use std::io;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::Path;
use std::time::Duration;

use percore_runtime::buf::{IoBuf, IoBufMut};
use percore_runtime::io::{DirectSocket, OwnedRead, OwnedWrite};
use percore_runtime::net::{TcpStream, UnixStream};
use percore_runtime::spawn_blocking;
use percore_runtime::time::timeout;
use percore_tls::{TlsConnector, TlsStream};

use crate::error::{Error, ErrorKind, TimeoutKind};
use crate::pool::Origin;

/// A connection's socket.
pub(crate) enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
    /// TLS over TCP (handshake done); boxed: a plain stream stays small.
    Tls(Box<TlsStream<TcpStream>>),
}

impl Stream {
    /// Whether ALPN chose HTTP/2 (TLS only).
    pub(crate) fn alpn_h2(&self) -> bool {
        match self {
            Stream::Tls(tls) => tls.negotiated_alpn().as_deref() == Some(b"h2"),
            _ => false,
        }
    }
}

impl OwnedRead for Stream {
    async fn read<B: IoBufMut>(&self, buf: B) -> (io::Result<usize>, B) {
        match self {
            Stream::Tcp(s) => s.read(buf).await,
            Stream::Unix(s) => s.read(buf).await,
            Stream::Tls(s) => s.read(buf).await,
        }
    }

    /// The socket of a plain stream (a `ReadBuffer` reads it itself: a
    /// multishot receive on io_uring); none under TLS.
    fn direct(&self) -> Option<DirectSocket<'_>> {
        match self {
            Stream::Tcp(s) => s.direct(),
            Stream::Unix(s) => s.direct(),
            Stream::Tls(_) => None,
        }
    }
}

impl OwnedWrite for Stream {
    async fn write<B: IoBuf>(&self, buf: B) -> (io::Result<usize>, B) {
        match self {
            Stream::Tcp(s) => s.write(buf).await,
            Stream::Unix(s) => s.write(buf).await,
            Stream::Tls(s) => s.write(buf).await,
        }
    }

    async fn writev<B: IoBuf>(&self, bufs: Vec<B>) -> (io::Result<usize>, Vec<B>) {
        match self {
            Stream::Tcp(s) => s.writev(bufs).await,
            Stream::Unix(s) => s.writev(bufs).await,
            Stream::Tls(s) => s.writev(bufs).await,
        }
    }

    /// In place on epoll for a plain socket (so `write_all` on the
    /// stream sends at once); never under TLS.
    #[inline]
    fn try_write<B: IoBuf>(&self, buf: &B) -> Option<io::Result<usize>> {
        match self {
            Stream::Tcp(s) => OwnedWrite::try_write(s, buf),
            Stream::Unix(s) => OwnedWrite::try_write(s, buf),
            Stream::Tls(_) => None,
        }
    }
}

/// Opens a connection to `origin` (or to the Unix socket `unix`, when
/// set), failing with [`TimeoutKind::Connect`] after `within`; an `https`
/// origin gets TLS through `tls` within the same time.
pub(crate) async fn connect(
    origin: &Origin,
    unix: Option<&Path>,
    within: Option<Duration>,
    tls: &TlsConnector,
) -> Result<Stream, Error> {
    let open = async {
        match unix {
            Some(_) if origin.is_tls() => Err(Error::new(
                ErrorKind::Builder,
                "https over the client's Unix socket is not supported",
            )),
            Some(path) => UnixStream::connect(path)
                .await
                .map(Stream::Unix)
                .map_err(|e| {
                    Error::with_source(
                        ErrorKind::Connect,
                        format!("cannot connect to {}", path.display()),
                        e,
                    )
                }),
            None if origin.is_tls() => {
                let tcp = connect_tcp(&origin.host, origin.port).await?;
                // The outer timeout bounds the handshake; this one only
                // has to be longer.
                let limit = within.unwrap_or(Duration::from_secs(365 * 86_400));
                let host = origin.host.trim_start_matches('[').trim_end_matches(']');
                tls.connect(host, tcp, limit)
                    .await
                    .map(|tls| Stream::Tls(Box::new(tls)))
                    .map_err(|e| Error::handshake(host, e))
            }
            None => connect_tcp(&origin.host, origin.port)
                .await
                .map(Stream::Tcp),
        }
    };
    match within {
        Some(d) => timeout(d, open)
            .await
            .unwrap_or_else(|_| Err(Error::timeout(TimeoutKind::Connect))),
        None => open.await,
    }
}

/// Resolves `host` and tries its addresses in order.
async fn connect_tcp(host: &str, port: u16) -> Result<TcpStream, Error> {
    let addrs = resolve(host, port).await?;
    let mut last = None;
    for addr in addrs {
        match TcpStream::connect(addr).await {
            Ok(stream) => {
                let _ = stream.set_nodelay(true);
                return Ok(stream);
            }
            Err(e) => last = Some((addr, e)),
        }
    }
    Err(match last {
        Some((addr, e)) => {
            Error::with_source(ErrorKind::Connect, format!("cannot connect to {addr}"), e)
        }
        None => Error::new(ErrorKind::Connect, format!("{host} has no address")),
    })
}

/// The addresses of `host`: an IP literal as is (brackets of an IPv6
/// literal removed), a name through `getaddrinfo` on the blocking pool.
async fn resolve(host: &str, port: u16) -> Result<Vec<SocketAddr>, Error> {
    let literal = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = literal.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let name = host.to_string();
    let lookup = spawn_blocking(move || (name.as_str(), port).to_socket_addrs());
    match lookup.await {
        Ok(Ok(addrs)) => Ok(addrs.collect()),
        Ok(Err(e)) => Err(Error::with_source(
            ErrorKind::Connect,
            format!("cannot resolve {host}"),
            e,
        )),
        Err(_) => Err(Error::new(
            ErrorKind::Connect,
            format!("name lookup of {host} failed"),
        )),
    }
}
