//! The server side: [`TlsConfig`] (certificates, SNI, ALPN, client
//! certificates) and [`TlsAcceptor`] (handshakes, reload).

use std::collections::HashMap;
use std::io;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use percore_runtime::io::{OwnedRead, OwnedWrite};
use percore_runtime::time::timeout;
use rustls::server::{ClientHello, ResolvesServerCert, StoresServerSessions, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{RootCertStore, ServerConfig, ServerConnection};

use crate::pem;
use crate::stream::{tls_error, TlsStream};

/// ALPN protocol ids the HTTP server offers by default, preferred first.
pub const DEFAULT_ALPN: [&[u8]; 2] = [b"h2", b"http/1.1"];

/// What a TLS server presents and accepts; [`TlsAcceptor::new`] builds the
/// rustls configuration from it. TLS 1.3 and 1.2 only, rustls's default
/// cipher suites, session tickets on, ALPN `h2` then `http/1.1`.
///
/// ```no_run
/// use percore_tls::TlsConfig;
/// let config = TlsConfig::from_pem_files("cert.pem", "key.pem")?
///     .with_sni_pem_files("api.example.com", "api-cert.pem", "api-key.pem")?
///     .client_ca_pem_file("clients-ca.pem")?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone)]
pub struct TlsConfig {
    default_cert: Arc<CertifiedKey>,
    by_name: HashMap<String, Arc<CertifiedKey>>,
    client_roots: Option<Arc<RootCertStore>>,
    client_cert_optional: bool,
    alpn: Vec<Vec<u8>>,
    session_tickets: bool,
}

impl TlsConfig {
    /// A configuration presenting the certificate chain in `cert` (PEM,
    /// end entity first) with the private key in `key` (PEM).
    pub fn from_pem_files(cert: impl AsRef<Path>, key: impl AsRef<Path>) -> io::Result<TlsConfig> {
        let default_cert =
            pem::certified_key_files(cert.as_ref(), key.as_ref(), &crate::provider())?;
        Ok(TlsConfig::with_default_cert(default_cert))
    }

    /// [`from_pem_files`](Self::from_pem_files) from PEM text in memory.
    pub fn from_pem(cert_pem: &[u8], key_pem: &[u8]) -> io::Result<TlsConfig> {
        let default_cert = pem::certified_key(cert_pem, key_pem, &crate::provider())?;
        Ok(TlsConfig::with_default_cert(default_cert))
    }

    fn with_default_cert(default_cert: Arc<CertifiedKey>) -> TlsConfig {
        TlsConfig {
            default_cert,
            by_name: HashMap::new(),
            client_roots: None,
            client_cert_optional: false,
            alpn: DEFAULT_ALPN.iter().map(|p| p.to_vec()).collect(),
            session_tickets: true,
        }
    }

    /// Presents this certificate to clients that ask for `host_name` (SNI,
    /// case-insensitive); the others get the default one.
    pub fn with_sni_pem_files(
        self,
        host_name: &str,
        cert: impl AsRef<Path>,
        key: impl AsRef<Path>,
    ) -> io::Result<TlsConfig> {
        let key = pem::certified_key_files(cert.as_ref(), key.as_ref(), &crate::provider())?;
        Ok(self.with_sni_key(host_name, key))
    }

    /// [`with_sni_pem_files`](Self::with_sni_pem_files) from PEM text.
    pub fn with_sni_pem(
        self,
        host_name: &str,
        cert_pem: &[u8],
        key_pem: &[u8],
    ) -> io::Result<TlsConfig> {
        let key = pem::certified_key(cert_pem, key_pem, &crate::provider())?;
        Ok(self.with_sni_key(host_name, key))
    }

    fn with_sni_key(mut self, host_name: &str, key: Arc<CertifiedKey>) -> TlsConfig {
        self.by_name.insert(host_name.to_ascii_lowercase(), key);
        self
    }

    /// Asks every client for a certificate issued by a CA in `ca` (PEM) and
    /// refuses the handshake without one (mTLS).
    pub fn client_ca_pem_file(self, ca: impl AsRef<Path>) -> io::Result<TlsConfig> {
        self.client_ca_pem(&pem::read_file(ca.as_ref())?)
    }

    /// [`client_ca_pem_file`](Self::client_ca_pem_file) from PEM text.
    pub fn client_ca_pem(mut self, ca_pem: &[u8]) -> io::Result<TlsConfig> {
        let mut roots = RootCertStore::empty();
        for cert in pem::certs(ca_pem)? {
            roots.add(cert).map_err(tls_error)?;
        }
        self.client_roots = Some(Arc::new(roots));
        Ok(self)
    }

    /// With a client CA set: lets clients without a certificate in too
    /// (a certificate that is offered must still be valid).
    pub fn client_cert_optional(mut self) -> TlsConfig {
        self.client_cert_optional = true;
        self
    }

    /// The ALPN protocol ids to offer, preferred first (default
    /// [`DEFAULT_ALPN`]); an empty list turns ALPN off.
    pub fn alpn(mut self, protocols: &[&[u8]]) -> TlsConfig {
        self.alpn = protocols.iter().map(|p| p.to_vec()).collect();
        self
    }

    /// Turns session tickets (resumption without a full handshake) on or
    /// off; on by default.
    pub fn session_tickets(mut self, on: bool) -> TlsConfig {
        self.session_tickets = on;
        self
    }

    /// The rustls configuration; `resumption` carries tickets and session
    /// ids across reloads.
    fn build(&self, resumption: &Resumption) -> io::Result<Arc<ServerConfig>> {
        let provider = Arc::new(crate::provider());
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(crate::VERSIONS)
            .map_err(tls_error)?;
        let builder = match &self.client_roots {
            None => builder.with_no_client_auth(),
            Some(roots) => {
                let verifier =
                    WebPkiClientVerifier::builder_with_provider(roots.clone(), provider.clone());
                let verifier = if self.client_cert_optional {
                    verifier.allow_unauthenticated()
                } else {
                    verifier
                };
                let verifier = verifier
                    .build()
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let mut config = builder.with_cert_resolver(Arc::new(SniResolver {
            default_cert: self.default_cert.clone(),
            by_name: self.by_name.clone(),
        }));
        config.alpn_protocols = self.alpn.clone();
        config.session_storage = resumption.sessions.clone();
        if self.session_tickets {
            config.ticketer = resumption.ticketer.clone();
        }
        Ok(Arc::new(config))
    }
}

impl std::fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names: Vec<&String> = self.by_name.keys().collect();
        names.sort();
        f.debug_struct("TlsConfig")
            .field("sni_names", &names)
            .field("client_auth", &self.client_roots.is_some())
            .field("alpn", &self.alpn)
            .field("session_tickets", &self.session_tickets)
            .finish_non_exhaustive()
    }
}

/// Picks the certificate by the name the client sent, else the default.
#[derive(Debug)]
struct SniResolver {
    default_cert: Arc<CertifiedKey>,
    by_name: HashMap<String, Arc<CertifiedKey>>,
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let named = hello
            .server_name()
            .and_then(|name| self.by_name.get(&name.to_ascii_lowercase()));
        Some(named.unwrap_or(&self.default_cert).clone())
    }
}

/// Ticket keys and the session-id cache, kept across reloads so clients
/// resume after a certificate change too.
struct Resumption {
    ticketer: Arc<dyn rustls::server::ProducesTickets>,
    sessions: Arc<dyn StoresServerSessions>,
}

impl Resumption {
    fn new() -> io::Result<Resumption> {
        Ok(Resumption {
            ticketer: rustls::crypto::ring::Ticketer::new().map_err(tls_error)?,
            sessions: rustls::server::ServerSessionMemoryCache::new(1024),
        })
    }
}

struct Current {
    config: Arc<ServerConfig>,
    /// What `config` was built from, if it came from a [`TlsConfig`].
    source: Option<TlsConfig>,
}

struct Shared {
    current: Mutex<Current>,
    resumption: Resumption,
}

/// Accepts TLS connections: the server side of the handshake, with a
/// configuration that can be replaced while the server runs.
///
/// Clones share the configuration, so one reload reaches every core: each
/// accept reads the current configuration once (a mutex held for an `Arc`
/// clone), new connections get the new one, established ones keep theirs.
/// The acceptor is `Send + Sync`: reload it from any thread (a SIGHUP
/// watcher, an admin endpoint).
///
/// ```no_run
/// use std::time::Duration;
/// use percore_runtime::{Runtime, net::TcpListener};
/// use percore_tls::{TlsAcceptor, TlsConfig};
/// let acceptor = TlsAcceptor::new(TlsConfig::from_pem_files("cert.pem", "key.pem")?)?;
/// Runtime::new()?.block_on(async {
///     let listener = TcpListener::bind("127.0.0.1:8443")?;
///     let (tcp, _) = listener.accept().await?;
///     let tls = acceptor.accept(tcp, Duration::from_secs(10)).await?;
///     println!("ALPN: {:?}", tls.negotiated_alpn());
///     // On SIGHUP: acceptor.reload_from_pem_files("cert.pem", "key.pem")?
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone)]
pub struct TlsAcceptor {
    shared: Arc<Shared>,
}

impl TlsAcceptor {
    /// An acceptor for `config`.
    pub fn new(config: TlsConfig) -> io::Result<TlsAcceptor> {
        let resumption = Resumption::new()?;
        let server_config = config.build(&resumption)?;
        Ok(TlsAcceptor::with_current(
            Current {
                config: server_config,
                source: Some(config),
            },
            resumption,
        ))
    }

    /// An acceptor for a rustls configuration built by hand (its versions,
    /// ALPN list and resumption settings are used as they are).
    pub fn from_server_config(config: Arc<ServerConfig>) -> io::Result<TlsAcceptor> {
        Ok(TlsAcceptor::with_current(
            Current {
                config,
                source: None,
            },
            Resumption::new()?,
        ))
    }

    fn with_current(current: Current, resumption: Resumption) -> TlsAcceptor {
        TlsAcceptor {
            shared: Arc::new(Shared {
                current: Mutex::new(current),
                resumption,
            }),
        }
    }

    fn current(&self) -> std::sync::MutexGuard<'_, Current> {
        self.shared
            .current
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The rustls configuration new connections get now.
    pub fn server_config(&self) -> Arc<ServerConfig> {
        self.current().config.clone()
    }

    /// Replaces the configuration for new connections; established ones
    /// keep theirs. Session tickets issued before stay valid.
    pub fn reload(&self, config: TlsConfig) -> io::Result<()> {
        let server_config = config.build(&self.shared.resumption)?;
        *self.current() = Current {
            config: server_config,
            source: Some(config),
        };
        Ok(())
    }

    /// Replaces the rustls configuration for new connections.
    pub fn reload_server_config(&self, config: Arc<ServerConfig>) {
        *self.current() = Current {
            config,
            source: None,
        };
    }

    /// Reads the default certificate and key again (after a renewal) and
    /// keeps every other setting (SNI certificates, client CA, ALPN). On an
    /// error (a half-written file, a key that does not match) the running
    /// configuration stays.
    pub fn reload_from_pem_files(
        &self,
        cert: impl AsRef<Path>,
        key: impl AsRef<Path>,
    ) -> io::Result<()> {
        let default_cert =
            pem::certified_key_files(cert.as_ref(), key.as_ref(), &crate::provider())?;
        let Some(mut config) = self.current().source.clone() else {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "this acceptor was made from a rustls ServerConfig: reload it with reload_server_config",
            ));
        };
        config.default_cert = default_cert;
        self.reload(config)
    }

    /// Runs the server side of the handshake on `io`. Fails at once on
    /// bytes that are no TLS handshake (after sending an alert), and with
    /// `TimedOut` when the handshake is not done within `handshake_timeout`
    /// (a client that stalls); dropping the returned error's stream closes
    /// the connection.
    pub async fn accept<S: OwnedRead + OwnedWrite + 'static>(
        &self,
        io: S,
        handshake_timeout: Duration,
    ) -> io::Result<TlsStream<S>> {
        let config = self.server_config();
        let conn = ServerConnection::new(config).map_err(tls_error)?;
        let stream = TlsStream::new(io, conn.into());
        handshake_within(&stream, handshake_timeout).await?;
        Ok(stream)
    }
}

/// Runs `stream`'s handshake, failing with `TimedOut` after `limit`.
pub(crate) async fn handshake_within<S: OwnedRead + OwnedWrite + 'static>(
    stream: &TlsStream<S>,
    limit: Duration,
) -> io::Result<()> {
    match timeout(limit, stream.handshake()).await {
        Ok(done) => done,
        Err(_) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("TLS handshake not done within {limit:?}"),
        )),
    }
}

impl std::fmt::Debug for TlsAcceptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsAcceptor")
            .field("config", &self.current().source)
            .finish_non_exhaustive()
    }
}
