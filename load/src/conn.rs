//! One connection to the target: plain TCP, or TLS over it for `https://`
//! and `wss://` URLs (percore-tls, ALPN chosen by the protocol).

use std::io;

use percore_runtime::buf::{IoBuf, IoBufMut};
use percore_runtime::io::{DirectSocket, OwnedRead};
use percore_runtime::net::TcpStream;
use percore_tls::{TlsConnector, TlsStream};

use crate::plan::{Plan, Protocol};

/// A connected stream, with or without TLS.
#[derive(Debug)]
pub enum Conn {
    /// Cleartext (`http://`, `ws://`).
    Plain(TcpStream),
    /// TLS, the handshake done (`https://`, `wss://`); boxed, so that a
    /// cleartext connection stays small.
    Tls(Box<TlsStream<TcpStream>>),
}

impl Conn {
    /// Connects to the plan's target and, for a TLS target, runs the
    /// handshake (bounded by the plan's timeout, as the connect is).
    pub async fn open(plan: &Plan) -> io::Result<Conn> {
        let stream = TcpStream::connect(plan.target.addr).await?;
        let _ = stream.set_nodelay(true);
        match &plan.tls {
            None => Ok(Conn::Plain(stream)),
            Some(connector) => {
                let tls = connector
                    .connect(&plan.target.host, stream, plan.timeout)
                    .await?;
                Ok(Conn::Tls(Box::new(tls)))
            }
        }
    }

    /// Reads into `buf`'s spare room (decrypting, over TLS).
    pub async fn read<B: IoBufMut>(&self, buf: B) -> (io::Result<usize>, B) {
        match self {
            Conn::Plain(s) => s.read(buf).await,
            Conn::Tls(s) => s.read(buf).await,
        }
    }

    /// Writes some of `buf`; how many bytes (over TLS: all of them).
    pub async fn write<B: IoBuf>(&self, buf: B) -> (io::Result<usize>, B) {
        match self {
            Conn::Plain(s) => s.write(buf).await,
            Conn::Tls(s) => {
                let len = buf.as_bytes().len();
                let (res, buf) = s.write_all(buf).await;
                (res.map(|()| len), buf)
            }
        }
    }

    /// Writes some of `buf` at once, without a future: on epoll a
    /// `send(2)` when the socket is known writable; `None` when that is
    /// not possible (it would wait, io_uring, TLS), then [`write`](Self::write).
    #[inline]
    pub fn try_write<B: IoBuf>(&self, buf: &B) -> Option<io::Result<usize>> {
        match self {
            Conn::Plain(s) => s.try_write(buf),
            Conn::Tls(_) => None,
        }
    }

    /// Writes all of `buf` (encrypting, over TLS).
    pub async fn write_all<B: IoBuf>(&self, buf: B) -> (io::Result<()>, B) {
        match self {
            Conn::Plain(s) => s.write_all(buf).await,
            Conn::Tls(s) => s.write_all(buf).await,
        }
    }
}

impl OwnedRead for Conn {
    async fn read<B: IoBufMut>(&self, buf: B) -> (io::Result<usize>, B) {
        Conn::read(self, buf).await
    }

    /// Cleartext: the socket, so that a `ReadBuffer` reads it itself (a
    /// multishot receive on io_uring, readiness and `recv(2)` on epoll).
    fn direct(&self) -> Option<DirectSocket<'_>> {
        match self {
            Conn::Plain(s) => s.direct(),
            Conn::Tls(_) => None,
        }
    }
}

/// The TLS connector for `protocol`: ALPN `h2` for HTTP/2, `http/1.1`
/// otherwise (a WebSocket upgrade is HTTP/1.1); the Mozilla roots plus
/// `ca_pem` if given, or no verification at all with `insecure`.
pub fn connector(
    protocol: Protocol,
    ca_pem: Option<&[u8]>,
    insecure: bool,
) -> io::Result<TlsConnector> {
    let alpn: &[&[u8]] = match protocol {
        Protocol::H2 { .. } => &[b"h2"],
        Protocol::H1 { .. } | Protocol::Ws => &[b"http/1.1"],
    };
    let mut builder = TlsConnector::builder().alpn(alpn);
    if let Some(ca) = ca_pem {
        builder = builder.root_ca_pem(ca)?;
    }
    if insecure {
        builder = builder.danger_accept_invalid_certs();
    }
    builder.build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alpn_follows_the_protocol() {
        let h2 = connector(Protocol::H2 { streams: 1 }, None, false).unwrap();
        assert_eq!(h2.client_config().alpn_protocols, [b"h2".to_vec()]);
        let h1 = connector(Protocol::H1 { depth: 1 }, None, true).unwrap();
        assert_eq!(h1.client_config().alpn_protocols, [b"http/1.1".to_vec()]);
        let ws = connector(Protocol::Ws, None, false).unwrap();
        assert_eq!(ws.client_config().alpn_protocols, [b"http/1.1".to_vec()]);
    }

    #[test]
    fn a_bad_ca_file_is_an_error() {
        assert!(connector(Protocol::Ws, Some(b"not a certificate"), false).is_err());
    }
}
