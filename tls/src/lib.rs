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
/// default cipher suites; its key exchange groups with X25519 first).
/// rustls 0.23.48 marks it deprecated because *ring* has no post-quantum
/// key exchange; aws-lc-rs, which has, needs cmake to build (see the crate
/// docs).
///
/// *ring*'s own order lists secp384r1 first, and its P-384 is generic
/// Montgomery code: measured here, a handshake cost ~1.1 ms of CPU with a
/// P-384 key share (two thirds of it in P-384 point multiplication)
/// against ~0.2 ms with X25519. The order is the first key share our
/// client sends. A rustls 0.23 server picks the group in the *client's*
/// order among those both support (and asks for another share only when
/// the client sent none for it), so on the server side the order decides
/// nothing today; it is kept the same for both roles.
#[allow(deprecated)]
fn provider() -> rustls::crypto::CryptoProvider {
    use rustls::crypto::ring::kx_group::{SECP256R1, SECP384R1, X25519};
    rustls::crypto::CryptoProvider {
        kx_groups: vec![X25519, SECP256R1, SECP384R1],
        ..rustls::crypto::ring::default_provider()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::crypto::ring::kx_group::{SECP256R1, SECP384R1, X25519};
    use rustls::crypto::SupportedKxGroup;
    use rustls::pki_types::CertificateDer;
    use rustls::{ClientConfig, ClientConnection, NamedGroup, RootCertStore, ServerConnection};
    use std::sync::Arc;

    /// An in-memory handshake between the acceptor's server configuration
    /// and a rustls client preferring `client_groups` (in that order; its
    /// first one gets the key share); the group they agree on.
    fn negotiated(client_groups: &[&'static dyn SupportedKxGroup]) -> NamedGroup {
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let (cert_pem, key_pem) = (cert.cert.pem(), cert.key_pair.serialize_pem());
        let acceptor =
            TlsAcceptor::new(TlsConfig::from_pem(cert_pem.as_bytes(), key_pem.as_bytes()).unwrap())
                .unwrap();
        let mut roots = RootCertStore::empty();
        roots
            .add(CertificateDer::from(cert.cert.der().to_vec()))
            .unwrap();
        #[allow(deprecated)]
        let provider = rustls::crypto::CryptoProvider {
            kx_groups: client_groups.to_vec(),
            ..rustls::crypto::ring::default_provider()
        };
        let client_config = ClientConfig::builder_with_provider(Arc::new(provider))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let mut client =
            ClientConnection::new(Arc::new(client_config), "localhost".try_into().unwrap())
                .unwrap();
        let mut server = ServerConnection::new(acceptor.server_config()).unwrap();
        for _ in 0..10 {
            let mut wire = Vec::new();
            while client.wants_write() {
                client.write_tls(&mut wire).unwrap();
            }
            server.read_tls(&mut wire.as_slice()).unwrap();
            server.process_new_packets().unwrap();
            let mut wire = Vec::new();
            while server.wants_write() {
                server.write_tls(&mut wire).unwrap();
            }
            client.read_tls(&mut wire.as_slice()).unwrap();
            client.process_new_packets().unwrap();
            if !client.is_handshaking() && !server.is_handshaking() {
                break;
            }
        }
        assert!(!server.is_handshaking(), "the handshake did not finish");
        let group = server.negotiated_key_exchange_group().unwrap().name();
        assert_eq!(
            client.negotiated_key_exchange_group().unwrap().name(),
            group
        );
        group
    }

    #[test]
    fn server_lists_x25519_first() {
        let names: Vec<NamedGroup> = provider().kx_groups.iter().map(|g| g.name()).collect();
        assert_eq!(
            names,
            [
                NamedGroup::X25519,
                NamedGroup::secp256r1,
                NamedGroup::secp384r1
            ]
        );
    }

    #[test]
    fn key_exchange_follows_the_clients_order() {
        // percore's own client (X25519 first).
        assert_eq!(
            negotiated(&[X25519, SECP256R1, SECP384R1]),
            NamedGroup::X25519
        );
        assert_eq!(negotiated(&[X25519, SECP256R1]), NamedGroup::X25519);
        assert_eq!(negotiated(&[SECP256R1, X25519]), NamedGroup::secp256r1);
        // rustls's *ring* default order (P-384 first): a rustls server
        // takes the client's first supported group, whatever its own order.
        #[allow(deprecated)]
        let ring_default = rustls::crypto::ring::default_provider().kx_groups;
        assert_eq!(ring_default[0].name(), NamedGroup::secp384r1);
        assert_eq!(negotiated(&ring_default), NamedGroup::secp384r1);
    }
}
