//! TCP listener and stream.

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};

use socket2::{Domain, Protocol, SockAddr, Socket as RawSocket, Type};

use super::socket::Socket;
use super::stream_io;
use crate::driver::op::MultiAccept;

/// Options for [`TcpListener::bind_with`].
///
/// ```
/// use percore_runtime::net::ListenOptions;
/// let opts = ListenOptions { reuse_port: true, ..ListenOptions::default() };
/// assert_eq!(opts.backlog, 1024);
/// ```
#[derive(Debug, Clone, Copy)]
pub struct ListenOptions {
    /// Set SO_REUSEPORT, so that one listener per core can share the port.
    pub reuse_port: bool,
    /// Set SO_REUSEADDR (default true).
    pub reuse_addr: bool,
    /// Listen backlog.
    pub backlog: i32,
}

impl Default for ListenOptions {
    fn default() -> Self {
        ListenOptions {
            reuse_port: false,
            reuse_addr: true,
            backlog: 1024,
        }
    }
}

/// A TCP listening socket.
///
/// ```
/// use percore_runtime::{Runtime, spawn_local, net::{TcpListener, TcpStream}};
/// Runtime::new().unwrap().block_on(async {
///     let listener = TcpListener::bind("127.0.0.1:0").unwrap();
///     let addr = listener.local_addr().unwrap();
///     spawn_local(async move {
///         let (stream, _) = listener.accept().await.unwrap();
///         let (n, buf) = stream.read(Vec::with_capacity(16)).await;
///         stream.write_all(buf).await.0.unwrap();
///         assert_eq!(n.unwrap(), 4);
///     });
///     let client = TcpStream::connect(addr).await.unwrap();
///     client.write_all(b"ping".to_vec()).await.0.unwrap();
///     let (_, echoed) = client.read(Vec::with_capacity(16)).await;
///     assert_eq!(echoed, b"ping");
/// });
/// ```
#[derive(Debug)]
pub struct TcpListener {
    inner: Socket,
    /// The multishot accept on io_uring, armed by the first accept.
    multi: MultiAccept,
}

fn resolve(addr: impl ToSocketAddrs) -> io::Result<SocketAddr> {
    addr.to_socket_addrs()?
        .next()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no address to bind"))
}

impl TcpListener {
    /// Binds with default options (SO_REUSEADDR, backlog 1024).
    pub fn bind(addr: impl ToSocketAddrs) -> io::Result<TcpListener> {
        TcpListener::bind_with(addr, ListenOptions::default())
    }

    /// Binds with explicit options.
    pub fn bind_with(addr: impl ToSocketAddrs, opts: ListenOptions) -> io::Result<TcpListener> {
        TcpListener::from_std(TcpListener::bind_std(resolve(addr)?, opts)?)
    }

    /// Adopts a listening socket created elsewhere (for example on the main
    /// thread, so that bind errors surface before the workers start).
    pub fn from_std(listener: std::net::TcpListener) -> io::Result<TcpListener> {
        Ok(TcpListener {
            inner: Socket::new(RawSocket::from(listener))?,
            multi: MultiAccept::default(),
        })
    }

    /// Creates a bound, listening std socket without a runtime, with `opts`.
    pub fn bind_std(addr: SocketAddr, opts: ListenOptions) -> io::Result<std::net::TcpListener> {
        let socket = RawSocket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
        if opts.reuse_addr {
            socket.set_reuse_address(true)?;
        }
        if opts.reuse_port {
            socket.set_reuse_port(true)?;
        }
        if addr.is_ipv6() {
            socket.set_only_v6(false).ok();
        }
        socket.bind(&addr.into())?;
        socket.listen(opts.backlog)?;
        Ok(socket.into())
    }

    /// Waits for a connection. The accepted stream has TCP_NODELAY unset;
    /// servers usually call [`TcpStream::set_nodelay`].
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let (inner, addr) = self.inner.accept(&self.multi).await?;
        let addr = match addr {
            Some(addr) => addr,
            None => inner.with_raw(|s| s.peer_addr())?,
        };
        let peer = addr.as_socket().unwrap_or_else(|| ([0, 0, 0, 0], 0).into());
        Ok((TcpStream { inner }, peer))
    }

    /// Waits for a connection, without its peer's address (which a
    /// multishot accept on io_uring does not give: [`accept`](Self::accept)
    /// then asks `getpeername(2)`; [`TcpStream::peer_addr`] does later).
    pub async fn accept_stream(&self) -> io::Result<TcpStream> {
        let (inner, _) = self.inner.accept(&self.multi).await?;
        Ok(TcpStream { inner })
    }

    /// The bound address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        sock_to_std(self.inner.with_raw(|s| s.local_addr())?)
    }
}

impl std::os::fd::AsRawFd for TcpListener {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.inner.raw()
    }
}

fn sock_to_std(addr: SockAddr) -> io::Result<SocketAddr> {
    addr.as_socket()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "not an IP address"))
}

/// A TCP connection. See [`TcpListener`] for an example.
#[derive(Debug)]
pub struct TcpStream {
    inner: Socket,
}

stream_io!(TcpStream);

impl TcpStream {
    /// Connects to `addr` (an IP address and port; resolve names with
    /// [`crate::spawn_blocking`] first, as resolution blocks).
    pub async fn connect(addr: SocketAddr) -> io::Result<TcpStream> {
        let socket = RawSocket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
        let stream = TcpStream {
            inner: Socket::connecting(socket)?,
        };
        stream.inner.connect(&addr.into()).await?;
        Ok(stream)
    }

    /// Writes some of `buf`'s bytes now if that needs no wait: on epoll,
    /// while the socket is known writable, one `send(2)` in place (no
    /// future, no waker); `None` when the write would have to wait for
    /// the socket, and always on io_uring (use [`write`](Self::write)).
    /// For a caller that most often writes into an idle socket.
    ///
    /// ```
    /// use percore_runtime::{Runtime, net::{TcpListener, TcpStream}};
    /// Runtime::new().unwrap().block_on(async {
    ///     let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    ///     let client = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
    ///     let (server, _) = listener.accept().await.unwrap();
    ///     let buf = b"now".to_vec();
    ///     let sent = match server.try_write(&buf) {
    ///         Some(n) => n.unwrap(),
    ///         None => server.write_all(buf).await.0.map(|()| 3).unwrap(),
    ///     };
    ///     assert_eq!(sent, 3);
    ///     let (n, got) = client.read(Vec::with_capacity(8)).await;
    ///     assert_eq!(&got[..n.unwrap()], b"now");
    /// });
    /// ```
    #[inline]
    pub fn try_write<B: crate::buf::IoBuf>(&self, buf: &B) -> Option<io::Result<usize>> {
        self.inner.try_write(buf)
    }

    /// Writes some of `buf`'s bytes with `MSG_MORE`: the kernel holds them
    /// (even with `TCP_NODELAY`) until the next write, so that a response
    /// head and the [`sendfile`](Self::sendfile) after it leave together.
    ///
    /// ```
    /// use percore_runtime::{Runtime, net::{TcpListener, TcpStream}};
    /// Runtime::new().unwrap().block_on(async {
    ///     let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    ///     let client = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
    ///     let (server, _) = listener.accept().await.unwrap();
    ///     assert_eq!(server.write_more(b"head ".to_vec()).await.0.unwrap(), 5);
    ///     server.write_all(b"body".to_vec()).await.0.unwrap();
    ///     let mut got = Vec::new();
    ///     while got.len() < 9 {
    ///         let (n, buf) = client.read(Vec::with_capacity(16)).await;
    ///         got.extend_from_slice(&buf[..n.unwrap()]);
    ///     }
    ///     assert_eq!(got, b"head body");
    /// });
    /// ```
    pub async fn write_more<B: crate::buf::IoBuf>(&self, buf: B) -> (io::Result<usize>, B) {
        self.inner.write_more(buf).await
    }

    /// Sends up to `len` bytes of `file` starting at `offset` with
    /// `sendfile(2)` (no copy through user space), waiting until the
    /// socket can take bytes; returns how many were sent, `0` when the
    /// file ends at `offset`. A page-cache miss reads the file inside the
    /// call (the thread waits for the disk, as nginx's `sendfile on`).
    ///
    /// ```
    /// use percore_runtime::{Runtime, fs::File, net::{TcpListener, TcpStream}};
    /// let path = std::env::temp_dir().join(format!("percore-sendfile-doc-{}", std::process::id()));
    /// std::fs::write(&path, b"hello sendfile").unwrap();
    /// Runtime::new().unwrap().block_on(async {
    ///     let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    ///     let client = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
    ///     let (server, _) = listener.accept().await.unwrap();
    ///     let file = File::open(&path).await.unwrap();
    ///     assert_eq!(server.sendfile(&file, 6, 100).await.unwrap(), 8);
    ///     let (n, buf) = client.read(Vec::with_capacity(16)).await;
    ///     assert_eq!(&buf[..n.unwrap()], b"sendfile");
    ///     assert_eq!(server.sendfile(&file, 14, 100).await.unwrap(), 0);
    /// });
    /// std::fs::remove_file(&path).unwrap();
    /// ```
    pub async fn sendfile(
        &self,
        file: &crate::fs::File,
        offset: u64,
        len: usize,
    ) -> io::Result<usize> {
        self.inner.sendfile(file.shared_fd(), offset, len).await
    }

    /// Enables or disables Nagle's algorithm (TCP_NODELAY).
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.inner.with_raw(|s| s.set_nodelay(nodelay))
    }

    /// Whether TCP_NODELAY is set.
    pub fn nodelay(&self) -> io::Result<bool> {
        self.inner.with_raw(|s| s.nodelay())
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        sock_to_std(self.inner.with_raw(|s| s.local_addr())?)
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        sock_to_std(self.inner.with_raw(|s| s.peer_addr())?)
    }
}

/// Holds a port bound with SO_REUSEPORT (but not listening, so it receives
/// no connections) until every core has bound its own listener to it.
#[derive(Debug)]
pub struct PortReservation {
    _socket: RawSocket,
}

/// Resolves `addr` to one concrete address that N per-core listeners can
/// share: port 0 becomes a free port, reserved until the guard drops.
///
/// ```
/// use percore_runtime::net::reserve_port;
/// let (addr, _guard) = reserve_port("127.0.0.1:0".parse().unwrap()).unwrap();
/// assert_ne!(addr.port(), 0);
/// ```
pub fn reserve_port(addr: SocketAddr) -> io::Result<(SocketAddr, PortReservation)> {
    let socket = RawSocket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    if addr.is_ipv6() {
        socket.set_only_v6(false).ok();
    }
    socket.bind(&addr.into())?;
    let bound = sock_to_std(socket.local_addr()?)?;
    Ok((bound, PortReservation { _socket: socket }))
}
