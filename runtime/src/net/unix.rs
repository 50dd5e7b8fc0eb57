//! Unix-domain stream sockets.

use std::io;
use std::path::Path;

use socket2::{Domain, SockAddr, Socket as RawSocket, Type};

use super::socket::Socket;
use super::stream_io;
use crate::driver::op::MultiAccept;

/// A Unix-domain listening socket.
///
/// ```
/// use percore_runtime::{Runtime, spawn_local, net::{UnixListener, UnixStream}};
/// let dir = std::env::temp_dir().join(format!("percore-doc-{}", std::process::id()));
/// let _ = std::fs::remove_file(&dir);
/// Runtime::new().unwrap().block_on(async {
///     let listener = UnixListener::bind(&dir).unwrap();
///     spawn_local(async move {
///         let (s, _) = listener.accept().await.unwrap();
///         s.write_all(b"hi".to_vec()).await.0.unwrap();
///     });
///     let c = UnixStream::connect(&dir).await.unwrap();
///     let (_, buf) = c.read(Vec::with_capacity(8)).await;
///     assert_eq!(buf, b"hi");
/// });
/// let _ = std::fs::remove_file(&dir);
/// ```
#[derive(Debug)]
pub struct UnixListener {
    inner: Socket,
    /// The multishot accept on io_uring, armed by the first accept.
    multi: MultiAccept,
}

impl UnixListener {
    /// Binds to a filesystem path (which must not exist).
    pub fn bind(path: impl AsRef<Path>) -> io::Result<UnixListener> {
        let socket = RawSocket::new(Domain::UNIX, Type::STREAM, None)?;
        socket.bind(&SockAddr::unix(path)?)?;
        socket.listen(1024)?;
        Ok(UnixListener {
            inner: Socket::new(socket)?,
            multi: MultiAccept::default(),
        })
    }

    /// Waits for a connection; returns the stream and the peer's address.
    pub async fn accept(&self) -> io::Result<(UnixStream, SockAddr)> {
        let (inner, addr) = self.inner.accept(&self.multi).await?;
        let addr = match addr {
            Some(addr) => addr,
            None => inner.with_raw(|s| s.peer_addr())?,
        };
        Ok((UnixStream { inner }, addr))
    }
}

/// A Unix-domain stream connection.
#[derive(Debug)]
pub struct UnixStream {
    inner: Socket,
}

stream_io!(UnixStream);

impl UnixStream {
    /// Connects to the socket at `path`.
    pub async fn connect(path: impl AsRef<Path>) -> io::Result<UnixStream> {
        let socket = RawSocket::new(Domain::UNIX, Type::STREAM, None)?;
        let stream = UnixStream {
            inner: Socket::connecting(socket)?,
        };
        stream.inner.connect(&SockAddr::unix(path)?).await?;
        Ok(stream)
    }

    /// A connected pair of streams.
    pub fn pair() -> io::Result<(UnixStream, UnixStream)> {
        let (a, b) = RawSocket::pair(Domain::UNIX, Type::STREAM, None)?;
        Ok((
            UnixStream {
                inner: Socket::new(a)?,
            },
            UnixStream {
                inner: Socket::new(b)?,
            },
        ))
    }
}
