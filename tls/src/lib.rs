//! percore-tls: TLS 1.3 and 1.2 on percore's runtime, server and client,
//! with rustls and the *ring* crypto provider.
//!
//! [`TlsStream`] drives rustls's sans-IO connection over any owned-buffer
//! stream ([`TcpStream`](percore_runtime::net::TcpStream) by default) on
//! io_uring and epoll alike, and implements the runtime's
//! [`OwnedRead`](percore_runtime::io::OwnedRead) and
//! [`OwnedWrite`](percore_runtime::io::OwnedWrite), so code written for a
//! socket runs over TLS unchanged. [`TlsAcceptor`] does the server side
//! (several certificates by SNI, ALPN, optional client certificates,
//! session tickets, reload without a restart); [`TlsConnector`] the client
//! side (Mozilla or custom roots, client certificate, ALPN, SNI).
//!
//! *ring* rather than rustls's default aws-lc-rs: it builds without cmake
//! or a C toolchain beyond cc. The price: no post-quantum hybrid key
//! exchange (X25519MLKEM768), which only aws-lc-rs offers.
//!
//! ```
//! use std::time::Duration;
//! use percore_runtime::{Runtime, spawn_local, net::UnixStream};
//! use percore_tls::{TlsAcceptor, TlsConfig, TlsConnector};
//!
//! // A self-signed certificate for "localhost" (made with rcgen).
//! let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
//! let (cert_pem, key_pem) = (cert.cert.pem(), cert.key_pair.serialize_pem());
//!
//! let acceptor = TlsAcceptor::new(TlsConfig::from_pem(cert_pem.as_bytes(), key_pem.as_bytes())?)?;
//! let connector = TlsConnector::builder()
//!     .without_webpki_roots()
//!     .root_ca_pem(cert_pem.as_bytes())?
//!     .alpn(&[b"h2"])
//!     .build()?;
//!
//! Runtime::new()?.block_on(async {
//!     let (server_io, client_io) = UnixStream::pair()?;
//!     let limit = Duration::from_secs(5);
//!     let server = spawn_local(async move {
//!         let tls = acceptor.accept(server_io, limit).await?;
//!         assert_eq!(tls.negotiated_alpn().as_deref(), Some(&b"h2"[..]));
//!         let (n, buf) = tls.read(Vec::with_capacity(64)).await;
//!         let (res, _) = tls.write_all(buf[..n?].to_vec()).await; // echo
//!         res?;
//!         tls.shutdown().await
//!     });
//!     let tls = connector.connect("localhost", client_io, limit).await?;
//!     tls.write_all(b"hello".to_vec()).await.0?;
//!     let (n, echoed) = tls.read(Vec::with_capacity(64)).await;
//!     assert_eq!(&echoed[..n?], b"hello");
//!     let (n, _) = tls.read(Vec::with_capacity(64)).await;
//!     assert_eq!(n?, 0, "close_notify reads as end of stream");
//!     server.await.unwrap()
//! })?;
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! # Wiring into a server
//! Accept TCP as usual, then `acceptor.accept(tcp, header_read_timeout)`
//! on the connection's own task (a handshake is CPU work and round trips:
//! never in the accept loop), choose the HTTP driver by
//! [`TlsStream::negotiated_alpn`], and hand it the stream.

#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

mod client;
mod pem;
mod server;
mod stream;
mod waker;

pub use client::{TlsConnector, TlsConnectorBuilder};
pub use rustls;
pub use server::{TlsAcceptor, TlsConfig, DEFAULT_ALPN};
pub use stream::TlsStream;

/// The TLS versions percore speaks: 1.3 and 1.2, nothing older.
const VERSIONS: &[&rustls::SupportedProtocolVersion] =
    &[&rustls::version::TLS13, &rustls::version::TLS12];

/// The crypto provider every configuration here uses (*ring*, rustls's
/// default cipher suites and key exchange groups). rustls 0.23.48 marks it
/// deprecated because *ring* has no post-quantum key exchange; aws-lc-rs,
/// which has, needs cmake to build (see the crate docs).
#[allow(deprecated)]
fn provider() -> rustls::crypto::CryptoProvider {
    rustls::crypto::ring::default_provider()
}
