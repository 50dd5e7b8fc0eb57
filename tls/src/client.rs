//! The client side: [`TlsConnector`] and its builder.

use std::io;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use percore_runtime::io::{OwnedRead, OwnedWrite};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore, SignatureScheme,
};

use crate::pem;
use crate::server::handshake_within;
use crate::stream::{tls_error, TlsStream};

/// Opens TLS connections: the client side of the handshake. Verifies the
/// server's certificate and host name by default; clones share the
/// configuration and its session cache (resumption is on).
///
/// ```no_run
/// use std::time::Duration;
/// use percore_runtime::{Runtime, net::TcpStream};
/// use percore_tls::TlsConnector;
/// let connector = TlsConnector::builder()
///     .root_ca_pem_file("my-ca.pem")?
///     .alpn(&[b"h2", b"http/1.1"])
///     .build()?;
/// Runtime::new()?.block_on(async {
///     let tcp = TcpStream::connect("127.0.0.1:8443".parse().unwrap()).await?;
///     let tls = connector.connect("localhost", tcp, Duration::from_secs(10)).await?;
///     println!("ALPN: {:?}", tls.negotiated_alpn());
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone)]
pub struct TlsConnector {
    config: Arc<ClientConfig>,
}

impl TlsConnector {
    /// A connector trusting the Mozilla roots (webpki-roots), without ALPN.
    pub fn new() -> io::Result<TlsConnector> {
        TlsConnector::builder().build()
    }

    /// A builder for roots, client certificate, ALPN.
    pub fn builder() -> TlsConnectorBuilder {
        TlsConnectorBuilder {
            webpki_roots: true,
            extra_roots: RootCertStore::empty(),
            client_cert: None,
            alpn: Vec::new(),
            accept_invalid_certs: false,
        }
    }

    /// A connector for a rustls configuration built by hand.
    pub fn from_client_config(config: Arc<ClientConfig>) -> TlsConnector {
        TlsConnector { config }
    }

    /// The rustls configuration.
    pub fn client_config(&self) -> &Arc<ClientConfig> {
        &self.config
    }

    /// Runs the client side of the handshake on `io` for `server_name` (a
    /// DNS name, sent as SNI and checked against the certificate, or an IP
    /// address); `TimedOut` when it is not done within `handshake_timeout`.
    /// A certificate the roots do not vouch for is an `InvalidData` error.
    pub async fn connect<S: OwnedRead + OwnedWrite + 'static>(
        &self,
        server_name: &str,
        io: S,
        handshake_timeout: Duration,
    ) -> io::Result<TlsStream<S>> {
        let name = ServerName::try_from(server_name.to_owned())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let conn = ClientConnection::new(self.config.clone(), name).map_err(tls_error)?;
        let stream = TlsStream::new(io, conn.into());
        handshake_within(&stream, handshake_timeout).await?;
        Ok(stream)
    }
}

impl std::fmt::Debug for TlsConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsConnector")
            .field("alpn", &self.config.alpn_protocols)
            .finish_non_exhaustive()
    }
}

/// Builds a [`TlsConnector`]: which roots to trust, a client certificate,
/// ALPN.
pub struct TlsConnectorBuilder {
    webpki_roots: bool,
    extra_roots: RootCertStore,
    client_cert: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
    alpn: Vec<Vec<u8>>,
    accept_invalid_certs: bool,
}

impl std::fmt::Debug for TlsConnectorBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsConnectorBuilder")
            .field("webpki_roots", &self.webpki_roots)
            .field("extra_roots", &self.extra_roots.len())
            .field("client_cert", &self.client_cert.is_some())
            .field("alpn", &self.alpn)
            .field("accept_invalid_certs", &self.accept_invalid_certs)
            .finish()
    }
}

impl TlsConnectorBuilder {
    /// Trusts the CA certificates in `ca` (PEM) too.
    pub fn root_ca_pem_file(self, ca: impl AsRef<Path>) -> io::Result<TlsConnectorBuilder> {
        self.root_ca_pem(&pem::read_file(ca.as_ref())?)
    }

    /// [`root_ca_pem_file`](Self::root_ca_pem_file) from PEM text.
    pub fn root_ca_pem(mut self, ca_pem: &[u8]) -> io::Result<TlsConnectorBuilder> {
        for cert in pem::certs(ca_pem)? {
            self.extra_roots.add(cert).map_err(tls_error)?;
        }
        Ok(self)
    }

    /// Trusts only the CAs added with `root_ca_pem*`, not the Mozilla roots.
    pub fn without_webpki_roots(mut self) -> TlsConnectorBuilder {
        self.webpki_roots = false;
        self
    }

    /// Presents this certificate chain and key to servers that ask (mTLS).
    pub fn client_cert_pem_files(
        self,
        cert: impl AsRef<Path>,
        key: impl AsRef<Path>,
    ) -> io::Result<TlsConnectorBuilder> {
        let cert = pem::read_file(cert.as_ref())?;
        let key = pem::read_file(key.as_ref())?;
        self.client_cert_pem(&cert, &key)
    }

    /// [`client_cert_pem_files`](Self::client_cert_pem_files) from PEM
    /// text: the chain (end entity first) and its private key.
    ///
    /// ```
    /// let cert = rcgen::generate_simple_self_signed(vec!["client".into()]).unwrap();
    /// let connector = percore_tls::TlsConnector::builder()
    ///     .client_cert_pem(cert.cert.pem().as_bytes(), cert.key_pair.serialize_pem().as_bytes())?
    ///     .build()?;
    /// assert!(connector.client_config().client_auth_cert_resolver.has_certs());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn client_cert_pem(
        mut self,
        cert_pem: &[u8],
        key_pem: &[u8],
    ) -> io::Result<TlsConnectorBuilder> {
        let certs = pem::certs(cert_pem)?;
        let key = pem::private_key(key_pem)?;
        self.client_cert = Some((certs, key));
        Ok(self)
    }

    /// The ALPN protocol ids to offer, preferred first (none by default).
    pub fn alpn(mut self, protocols: &[&[u8]]) -> TlsConnectorBuilder {
        self.alpn = protocols.iter().map(|p| p.to_vec()).collect();
        self
    }

    /// **Turns certificate verification off**: any certificate for any name
    /// is accepted (handshake signatures are still checked). For tests
    /// against self-signed servers only; a man in the middle reads all.
    pub fn danger_accept_invalid_certs(mut self) -> TlsConnectorBuilder {
        self.accept_invalid_certs = true;
        self
    }

    /// The connector.
    pub fn build(self) -> io::Result<TlsConnector> {
        let provider = Arc::new(crate::provider());
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(crate::VERSIONS)
            .map_err(tls_error)?;
        let builder = if self.accept_invalid_certs {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate { provider }))
        } else {
            let mut roots = self.extra_roots;
            if self.webpki_roots {
                roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            }
            builder.with_root_certificates(roots)
        };
        let mut config = match self.client_cert {
            None => builder.with_no_client_auth(),
            Some((certs, key)) => builder
                .with_client_auth_cert(certs, key)
                .map_err(tls_error)?,
        };
        config.alpn_protocols = self.alpn;
        Ok(TlsConnector {
            config: Arc::new(config),
        })
    }
}

/// The verifier behind [`TlsConnectorBuilder::danger_accept_invalid_certs`].
#[derive(Debug)]
struct AcceptAnyCertificate {
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::NamedGroup;

    #[test]
    fn the_first_key_share_is_x25519_all_three_groups_stay() {
        let connector = TlsConnector::new().unwrap();
        let groups: Vec<NamedGroup> = connector
            .client_config()
            .crypto_provider()
            .kx_groups
            .iter()
            .map(|g| g.name())
            .collect();
        assert_eq!(
            groups,
            [
                NamedGroup::X25519,
                NamedGroup::secp256r1,
                NamedGroup::secp384r1
            ]
        );
    }
}
