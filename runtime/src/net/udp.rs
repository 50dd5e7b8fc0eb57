//! UDP sockets.

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};

use socket2::{Domain, Protocol, Socket as RawSocket, Type};

use super::socket::Socket;
use crate::buf::{IoBuf, IoBufMut};

/// A UDP socket.
///
/// ```
/// use percore_runtime::{Runtime, net::UdpSocket};
/// Runtime::new().unwrap().block_on(async {
///     let a = UdpSocket::bind("127.0.0.1:0").unwrap();
///     let b = UdpSocket::bind("127.0.0.1:0").unwrap();
///     let (sent, _) = a.send_to(b"hey".to_vec(), b.local_addr().unwrap()).await;
///     assert_eq!(sent.unwrap(), 3);
///     let (got, buf) = b.recv_from(Vec::with_capacity(64)).await;
///     assert_eq!(got.unwrap().1, a.local_addr().unwrap());
///     assert_eq!(buf, b"hey");
/// });
/// ```
#[derive(Debug)]
pub struct UdpSocket {
    inner: Socket,
}

impl UdpSocket {
    /// Binds to `addr`.
    pub fn bind(addr: impl ToSocketAddrs) -> io::Result<UdpSocket> {
        let addr = addr
            .to_socket_addrs()?
            .next()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no address to bind"))?;
        let socket = RawSocket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
        socket.bind(&addr.into())?;
        Ok(UdpSocket {
            inner: Socket::new(socket)?,
        })
    }

    /// Sends `buf` as one datagram to `addr`.
    pub async fn send_to<B: IoBuf>(&self, buf: B, addr: SocketAddr) -> (io::Result<usize>, B) {
        self.inner.send_to(buf, &addr.into()).await
    }

    /// Receives one datagram into `buf`; returns its size and sender.
    pub async fn recv_from<B: IoBufMut>(&self, buf: B) -> (io::Result<(usize, SocketAddr)>, B) {
        let (res, buf) = self.inner.recv_from(buf).await;
        let res = res.and_then(|(n, addr)| {
            addr.as_socket()
                .map(|a| (n, a))
                .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "not an IP address"))
        });
        (res, buf)
    }

    /// The bound address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner
            .with_raw(|s| s.local_addr())?
            .as_socket()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "not an IP address"))
    }
}
