//! `ClientBuilder` and the settings it collects (timeouts, pool, limits).

use super::{Client, Defaults, Inner};
use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::Duration;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use percore_http::Limits;
use percore_tls::TlsConnector;

use crate::cookies::Jar;
use crate::error::{Error, ErrorKind};
use crate::h2::H2Pool;
use crate::pool::{Pool, PoolConfig};

/// The client's timeouts, like aiohttp's `ClientTimeout`; `None` turns one
/// off. Each one that expires is its own [`TimeoutKind`](crate::TimeoutKind).
///
/// ```
/// use std::time::Duration;
/// use percore_client::Timeouts;
/// let t = Timeouts { read: Some(Duration::from_secs(5)), ..Timeouts::default() };
/// assert_eq!(t.total, Some(Duration::from_secs(300)));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Resolving and connecting (default 30 s).
    pub connect: Option<Duration>,
    /// The whole request, its body read included (default 300 s).
    pub total: Option<Duration>,
    /// Between two reads of the response, head or body (default 30 s).
    pub read: Option<Duration>,
    /// Waiting for a connection while the pool's limits are reached
    /// (default 30 s).
    pub pool_wait: Option<Duration>,
}

impl Default for Timeouts {
    fn default() -> Timeouts {
        Timeouts {
            connect: Some(Duration::from_secs(30)),
            total: Some(Duration::from_secs(300)),
            read: Some(Duration::from_secs(30)),
            pool_wait: Some(Duration::from_secs(30)),
        }
    }
}

/// Everything a client was built with.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub timeouts: Timeouts,
    pub pool: PoolConfig,
    pub max_redirects: usize,
    pub decompress: bool,
    pub max_body: u64,
    pub limits: Limits,
    pub default_headers: HeaderMap,
    pub unix_socket: Option<PathBuf>,
    pub continue_timeout: Duration,
    pub cookies: bool,
    pub http2_prior_knowledge: bool,
    /// HTTP/2 PING keep-alive: the interval and how long an answer may
    /// take.
    pub h2_keep_alive: Option<KeepAlive>,
}

/// HTTP/2 PING keep-alive settings.
#[derive(Debug, Clone, Copy)]
pub(crate) struct KeepAlive {
    pub interval: Duration,
    pub timeout: Duration,
}

/// The TLS connectors of a client; they share one session cache.
#[derive(Debug, Clone)]
pub(crate) struct Connectors {
    /// For `https`: offers `h2` and `http/1.1` by ALPN (only `http/1.1`
    /// with [`ClientBuilder::http1_only`]).
    pub https: TlsConnector,
    /// For `wss`: offers `http/1.1` only (the upgrade is HTTP/1.1's).
    pub h1: TlsConnector,
    /// Whether `https` offers `h2`.
    pub offers_h2: bool,
}

/// The TLS settings a builder collects; the connectors are made by
/// [`ClientBuilder::build`].
#[derive(Debug, Default)]
struct TlsSettings {
    /// PEM text of the CAs added with `add_root_certificate`.
    roots: Vec<Vec<u8>>,
    no_builtin_roots: bool,
    identity: Option<(Vec<u8>, Vec<u8>)>,
    accept_invalid_certs: bool,
    http1_only: bool,
}

impl TlsSettings {
    /// The connectors.
    fn connectors(&self) -> std::io::Result<Connectors> {
        let mut b = TlsConnector::builder();
        for pem in &self.roots {
            b = b.root_ca_pem(pem)?;
        }
        if self.no_builtin_roots {
            b = b.without_webpki_roots();
        }
        if let Some((cert, key)) = &self.identity {
            b = b.client_cert_pem(cert, key)?;
        }
        if self.accept_invalid_certs {
            b = b.danger_accept_invalid_certs();
        }
        let h1 = b.alpn(&[b"http/1.1"]).build()?;
        let mut any = (**h1.client_config()).clone();
        if !self.http1_only {
            any.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        }
        Ok(Connectors {
            https: TlsConnector::from_client_config(any.into()),
            h1,
            offers_h2: !self.http1_only,
        })
    }
}

/// Builds a [`Client`].
///
/// ```
/// use std::time::Duration;
/// let client = percore_client::Client::builder()
///     .limit(50)
///     .limit_per_host(8)
///     .idle_timeout(Duration::from_secs(10))
///     .max_redirects(3)
///     .max_body(1 << 20)
///     .build()
///     .unwrap();
/// # drop(client);
/// ```
#[derive(Debug)]
pub struct ClientBuilder {
    cfg: Config,
    tls: TlsSettings,
    error: Option<Error>,
}

impl Default for ClientBuilder {
    fn default() -> ClientBuilder {
        let mut default_headers = HeaderMap::new();
        default_headers.insert(
            header::USER_AGENT,
            HeaderValue::from_static(concat!("percore/", env!("CARGO_PKG_VERSION"))),
        );
        default_headers.insert(header::ACCEPT, HeaderValue::from_static("*/*"));
        ClientBuilder {
            cfg: Config {
                timeouts: Timeouts::default(),
                pool: PoolConfig {
                    limit: 100,
                    limit_per_host: usize::MAX,
                    idle_timeout: Duration::from_secs(15),
                    max_idle_per_host: 32,
                },
                max_redirects: 10,
                decompress: true,
                max_body: 16 * 1024 * 1024,
                limits: Limits::default(),
                default_headers,
                unix_socket: None,
                continue_timeout: Duration::from_secs(1),
                cookies: false,
                http2_prior_knowledge: false,
                h2_keep_alive: None,
            },
            tls: TlsSettings::default(),
            error: None,
        }
    }
}

impl ClientBuilder {
    /// All the timeouts at once.
    pub fn timeouts(mut self, t: Timeouts) -> Self {
        self.cfg.timeouts = t;
        self
    }

    /// The total timeout of each request (its body included).
    pub fn timeout(mut self, d: Duration) -> Self {
        self.cfg.timeouts.total = Some(d);
        self
    }

    /// The connect timeout.
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.cfg.timeouts.connect = Some(d);
        self
    }

    /// The read timeout (between two reads of a response).
    pub fn read_timeout(mut self, d: Duration) -> Self {
        self.cfg.timeouts.read = Some(d);
        self
    }

    /// How long a request waits for a connection of the pool.
    pub fn pool_wait_timeout(mut self, d: Duration) -> Self {
        self.cfg.timeouts.pool_wait = Some(d);
        self
    }

    /// Most connections open at once, all origins together (default 100).
    pub fn limit(mut self, n: usize) -> Self {
        self.cfg.pool.limit = n.max(1);
        self
    }

    /// Most connections open at once to one origin (default: only the
    /// total limit applies).
    pub fn limit_per_host(mut self, n: usize) -> Self {
        self.cfg.pool.limit_per_host = n.max(1);
        self
    }

    /// How long an idle connection is kept for reuse (default 15 s).
    pub fn idle_timeout(mut self, d: Duration) -> Self {
        self.cfg.pool.idle_timeout = d;
        self
    }

    /// Most idle connections kept per origin (default 32); 0 disables reuse.
    pub fn max_idle_per_host(mut self, n: usize) -> Self {
        self.cfg.pool.max_idle_per_host = n;
        self
    }

    /// Most redirects followed (default 10); 0 returns redirects as they are.
    pub fn max_redirects(mut self, n: usize) -> Self {
        self.cfg.max_redirects = n;
        self
    }

    /// Whether to send `Accept-Encoding` and decode gzip, deflate and br
    /// bodies (default on).
    pub fn decompress(mut self, on: bool) -> Self {
        self.cfg.decompress = on;
        self
    }

    /// The default body limit of [`Response::bytes`](crate::Response::bytes) and friends
    /// (default 16 MiB).
    pub fn max_body(mut self, bytes: u64) -> Self {
        self.cfg.max_body = bytes;
        self
    }

    /// Largest response head and most header fields accepted (defaults:
    /// 64 KiB, 100).
    pub fn max_head(mut self, bytes: usize, fields: usize) -> Self {
        self.cfg.limits.max_head_size = bytes;
        self.cfg.limits.max_headers = fields;
        self
    }

    /// A header sent with every request (a request's own value wins).
    pub fn default_header<K, V>(mut self, name: K, value: V) -> Self
    where
        K: TryInto<HeaderName>,
        V: TryInto<HeaderValue>,
    {
        match (name.try_into(), value.try_into()) {
            (Ok(n), Ok(v)) => {
                self.cfg.default_headers.insert(n, v);
            }
            _ => self.error = Some(Error::new(ErrorKind::Builder, "invalid default header")),
        }
        self
    }

    /// Sends every request over this Unix socket (the URL still gives the
    /// `Host` and the path): for local services.
    pub fn unix_socket(mut self, path: impl AsRef<Path>) -> Self {
        self.cfg.unix_socket = Some(path.as_ref().to_path_buf());
        self
    }

    /// How long a request with `Expect: 100-continue` waits for the `100`
    /// before it sends its body anyway (default 1 s).
    pub fn continue_timeout(mut self, d: Duration) -> Self {
        self.cfg.continue_timeout = d;
        self
    }

    /// Keeps cookies the servers set and sends them back (RFC 6265 rules;
    /// default off).
    pub fn cookie_store(mut self, on: bool) -> Self {
        self.cfg.cookies = on;
        self
    }

    /// Speaks HTTP/2 without negotiation (h2c prior knowledge) to every
    /// origin: requests multiplex over few connections, a new one opening
    /// when the server's SETTINGS_MAX_CONCURRENT_STREAMS is reached on
    /// all (see [`RequestBuilder::http2_prior_knowledge`](crate::RequestBuilder::http2_prior_knowledge) for one request).
    /// Not needed for `https`, where ALPN decides; with it, an `https`
    /// server that does not choose `h2` is a [`ErrorKind::Protocol`] error.
    ///
    /// ```no_run
    /// percore_runtime::Runtime::new().unwrap().block_on(async {
    ///     let client = percore_client::Client::builder().http2_prior_knowledge().build().unwrap();
    ///     let resp = client.get("http://127.0.0.1:8080/").send().await.unwrap();
    ///     assert_eq!(resp.version(), http::Version::HTTP_2);
    /// });
    /// ```
    pub fn http2_prior_knowledge(mut self) -> Self {
        self.cfg.http2_prior_knowledge = true;
        self
    }

    /// Sends a PING on each HTTP/2 connection every `interval` (off by
    /// default); a connection whose PING is not answered within `timeout`
    /// is closed, and its requests and response bodies fail with
    /// [`TimeoutKind::KeepAlive`](crate::TimeoutKind::KeepAlive). Finds
    /// dead peers (a vanished host, a stuck middlebox) long before the
    /// read timeout, and keeps NAT and load-balancer state alive.
    ///
    /// ```
    /// use std::time::Duration;
    /// let client = percore_client::Client::builder()
    ///     .http2_keep_alive(Duration::from_secs(30), Duration::from_secs(10))
    ///     .build()
    ///     .unwrap();
    /// # drop(client);
    /// ```
    pub fn http2_keep_alive(mut self, interval: Duration, timeout: Duration) -> Self {
        self.cfg.h2_keep_alive = Some(KeepAlive { interval, timeout });
        self
    }

    /// Trusts the CA certificates in `pem` (PEM text, one or more) for
    /// `https` and `wss`, besides the built-in roots. A bad PEM fails
    /// [`build`](Self::build) with [`ErrorKind::Builder`].
    ///
    /// ```no_run
    /// let ca = std::fs::read("my-ca.pem").unwrap();
    /// let client = percore_client::Client::builder().add_root_certificate(&ca).build().unwrap();
    /// # drop(client);
    /// ```
    pub fn add_root_certificate(mut self, pem: &[u8]) -> Self {
        self.tls.roots.push(pem.to_vec());
        self
    }

    /// Whether to trust the built-in roots (Mozilla's, from
    /// `webpki-roots`; default on). Off: only the CAs of
    /// [`add_root_certificate`](Self::add_root_certificate).
    ///
    /// ```
    /// let client = percore_client::Client::builder().tls_built_in_root_certs(false).build().unwrap();
    /// # drop(client);
    /// ```
    pub fn tls_built_in_root_certs(mut self, on: bool) -> Self {
        self.tls.no_builtin_roots = !on;
        self
    }

    /// Presents this client certificate (PEM chain, end entity first) and
    /// its private key (PEM: PKCS#8, PKCS#1 or SEC1) to servers that ask
    /// for one (mutual TLS). A bad PEM, or a key that does not fit, fails
    /// [`build`](Self::build) with [`ErrorKind::Builder`].
    ///
    /// ```no_run
    /// let cert = std::fs::read("client.pem").unwrap();
    /// let key = std::fs::read("client-key.pem").unwrap();
    /// let client = percore_client::Client::builder().identity(&cert, &key).build().unwrap();
    /// # drop(client);
    /// ```
    pub fn identity(mut self, cert_pem: &[u8], key_pem: &[u8]) -> Self {
        self.tls.identity = Some((cert_pem.to_vec(), key_pem.to_vec()));
        self
    }

    /// **Turns TLS certificate verification off** (`true`): any
    /// certificate, for any host name, signed by anyone, is accepted, so a
    /// man in the middle can read and change everything. For tests against
    /// throwaway self-signed servers only; default off.
    ///
    /// ```
    /// let client = percore_client::Client::builder()
    ///     .danger_accept_invalid_certs(true)
    ///     .build()
    ///     .unwrap();
    /// # drop(client);
    /// ```
    pub fn danger_accept_invalid_certs(mut self, accept: bool) -> Self {
        self.tls.accept_invalid_certs = accept;
        self
    }

    /// Offers only `http/1.1` by ALPN on `https` connections, so servers
    /// answer over HTTP/1.1 even if they speak HTTP/2 (default: `h2` and
    /// `http/1.1` are offered and the server picks, per origin).
    ///
    /// ```
    /// let client = percore_client::Client::builder().http1_only().build().unwrap();
    /// # drop(client);
    /// ```
    pub fn http1_only(mut self) -> Self {
        self.tls.http1_only = true;
        self
    }

    /// The client.
    pub fn build(self) -> Result<Client, Error> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let tls = self
            .tls
            .connectors()
            .map_err(|e| Error::with_source(ErrorKind::Builder, "TLS settings", e))?;
        Ok(Client {
            inner: Rc::new(Inner {
                tls,
                pool: Pool::new(self.cfg.pool.clone()),
                jar: RefCell::new(Jar::default()),
                h2: H2Pool::default(),
                defaults: Defaults::of(self.cfg.default_headers.clone()),
                decoding: Defaults::decoding(&self.cfg.default_headers),
                last_origin: RefCell::new(None),
                cfg: self.cfg,
            }),
        })
    }
}
