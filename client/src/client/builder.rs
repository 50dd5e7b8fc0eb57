//! `ClientBuilder` and the settings it collects (timeouts, pool, limits).

use super::{Client, Inner};
use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::Duration;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use percore_http::Limits;

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
            },
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

    /// The client.
    pub fn build(self) -> Result<Client, Error> {
        if let Some(e) = self.error {
            return Err(e);
        }
        Ok(Client {
            inner: Rc::new(Inner {
                pool: Pool::new(self.cfg.pool.clone()),
                jar: RefCell::new(Jar::default()),
                h2: H2Pool::default(),
                cfg: self.cfg,
            }),
        })
    }
}
