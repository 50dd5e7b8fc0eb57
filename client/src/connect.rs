//! Opening connections: names resolved with `getaddrinfo` on the runtime's
//! blocking pool (IP literals skip it), TCP with `TCP_NODELAY`, or a Unix
//! socket for local services; all within the connect timeout.

use std::io;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::Path;
use std::time::Duration;

use percore_runtime::buf::{IoBuf, IoBufMut};
use percore_runtime::io::{OwnedRead, OwnedWrite};
use percore_runtime::net::{TcpStream, UnixStream};
use percore_runtime::spawn_blocking;
use percore_runtime::time::timeout;

use crate::error::{Error, ErrorKind, TimeoutKind};
use crate::pool::Origin;

/// A connection's socket.
pub(crate) enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl OwnedRead for Stream {
    async fn read<B: IoBufMut>(&self, buf: B) -> (io::Result<usize>, B) {
        match self {
            Stream::Tcp(s) => s.read(buf).await,
            Stream::Unix(s) => s.read(buf).await,
        }
    }
}

impl OwnedWrite for Stream {
    async fn write<B: IoBuf>(&self, buf: B) -> (io::Result<usize>, B) {
        match self {
            Stream::Tcp(s) => s.write(buf).await,
            Stream::Unix(s) => s.write(buf).await,
        }
    }

    async fn writev<B: IoBuf>(&self, bufs: Vec<B>) -> (io::Result<usize>, Vec<B>) {
        match self {
            Stream::Tcp(s) => s.writev(bufs).await,
            Stream::Unix(s) => s.writev(bufs).await,
        }
    }
}

/// Opens a connection to `origin` (or to the Unix socket `unix`, when
/// set), failing with [`TimeoutKind::Connect`] after `within`.
pub(crate) async fn connect(
    origin: &Origin,
    unix: Option<&Path>,
    within: Option<Duration>,
) -> Result<Stream, Error> {
    let open = async {
        match unix {
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
