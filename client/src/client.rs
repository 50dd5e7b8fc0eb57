//! `Client` and its builder: the settings, the pool, and the send path
//! (redirects, the one retry of a stale keep-alive connection).

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, Instant};

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, StatusCode};
use percore_http::h1::ResponseDecoder;
use percore_http::{Body, Limits};
use percore_runtime::time::timeout;
use url::Url;

use crate::connect::connect;
use crate::cookies::Jar;
use crate::decode::{Coding, Decoder, ACCEPT_ENCODING};
use crate::error::{Error, ErrorKind, TimeoutKind};
use crate::h1::{exchange, BodyReader, Failure, Outgoing};
use crate::h2::{self, H2Pool};
use crate::pool::{Acquired, Conn, Origin, Pool, PoolConfig, PoolStats};
use crate::request::{IntoUrl, RequestBuilder};
use crate::response::Response;
use crate::ws::WsBuilder;

/// The client's timeouts, like aiohttp's `ClientTimeout`; `None` turns one
/// off. Each one that expires is its own [`TimeoutKind`].
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

    /// The default body limit of [`Response::bytes`] and friends
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
    /// all (see [`RequestBuilder::http2_prior_knowledge`] for one request).
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

struct Inner {
    cfg: Config,
    pool: Pool,
    jar: RefCell<Jar>,
    h2: H2Pool,
}

/// An HTTP client for one core: a connection pool and its settings.
/// Cheap to clone (clones share the pool); `!Send`, like everything of a
/// core, so make one per core. Use it in a handler or under
/// `Runtime::block_on`.
///
/// ```no_run
/// use percore_client::Client;
/// percore_runtime::Runtime::new().unwrap().block_on(async {
///     let client = Client::new();
///     let resp = client.get("http://127.0.0.1:8080/").send().await.unwrap();
///     println!("{} {}", resp.status(), resp.text().await.unwrap());
/// });
/// ```
#[derive(Clone)]
pub struct Client {
    inner: Rc<Inner>,
}

impl Default for Client {
    fn default() -> Client {
        Client::new()
    }
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("pool", &self.inner.pool.stats())
            .finish_non_exhaustive()
    }
}

/// Methods whose repetition has the effect of one (RFC 9110 §9.2.2).
pub(crate) fn idempotent(m: &Method) -> bool {
    matches!(
        *m,
        Method::GET | Method::HEAD | Method::PUT | Method::DELETE | Method::OPTIONS | Method::TRACE
    )
}

/// A request on its way: what [`RequestBuilder::send`] hands over.
pub(crate) struct Prepared {
    pub method: Method,
    pub url: Url,
    pub headers: HeaderMap,
    pub body: Body,
    /// The body is a stream: it can be sent only once.
    pub streamed: bool,
    pub timeout: Option<Duration>,
    /// Sent over HTTP/2 with prior knowledge.
    pub http2: bool,
}

impl Client {
    /// A client with the default settings.
    pub fn new() -> Client {
        ClientBuilder::default()
            .build()
            .unwrap_or_else(|_| unreachable!("the default builder has no error"))
    }

    /// A builder of a client.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// A request of `method` to `url`.
    pub fn request(&self, method: Method, url: impl IntoUrl) -> RequestBuilder {
        RequestBuilder::new(self.clone(), method, url.into_url())
    }

    /// A GET request.
    pub fn get(&self, url: impl IntoUrl) -> RequestBuilder {
        self.request(Method::GET, url)
    }

    /// A POST request.
    pub fn post(&self, url: impl IntoUrl) -> RequestBuilder {
        self.request(Method::POST, url)
    }

    /// A PUT request.
    pub fn put(&self, url: impl IntoUrl) -> RequestBuilder {
        self.request(Method::PUT, url)
    }

    /// A DELETE request.
    pub fn delete(&self, url: impl IntoUrl) -> RequestBuilder {
        self.request(Method::DELETE, url)
    }

    /// A HEAD request.
    pub fn head(&self, url: impl IntoUrl) -> RequestBuilder {
        self.request(Method::HEAD, url)
    }

    /// A PATCH request.
    pub fn patch(&self, url: impl IntoUrl) -> RequestBuilder {
        self.request(Method::PATCH, url)
    }

    /// A WebSocket connection to `url` (`ws://`), on a connection of its
    /// own; see [`WsBuilder`].
    ///
    /// ```no_run
    /// percore_runtime::Runtime::new().unwrap().block_on(async {
    ///     let client = percore_client::Client::new();
    ///     let mut ws = client.ws("ws://127.0.0.1:8080/ws").connect().await.unwrap();
    ///     ws.send(percore_client::Message::text("hi")).await.unwrap();
    /// });
    /// ```
    pub fn ws(&self, url: impl IntoUrl) -> WsBuilder {
        WsBuilder::new(self.clone(), url.into_url())
    }

    pub(crate) fn config(&self) -> &Config {
        &self.inner.cfg
    }

    /// The `Cookie` value for `url`, when the client keeps cookies.
    pub(crate) fn cookies_for(&self, url: &Url) -> Option<HeaderValue> {
        let cfg = &self.inner.cfg;
        cfg.cookies
            .then(|| self.inner.jar.borrow().header_for(url))
            .flatten()
    }

    /// Keeps the cookies a response to `url` set, when the client does.
    pub(crate) fn store_cookies(&self, url: &Url, headers: &HeaderMap) {
        if self.inner.cfg.cookies {
            self.inner.jar.borrow_mut().store(url, headers);
        }
    }

    /// The pool's counts.
    pub fn pool_stats(&self) -> PoolStats {
        self.inner.pool.stats()
    }

    /// Sends a request, following redirects, within the total timeout.
    pub(crate) async fn execute(&self, req: Prepared) -> Result<Response, Error> {
        let url = req.url.clone();
        let total = req.timeout.or(self.inner.cfg.timeouts.total);
        let deadline = total.map(|d| Instant::now() + d);
        let run = self.follow(req, deadline);
        let result = match total {
            Some(d) => timeout(d, run)
                .await
                .unwrap_or_else(|_| Err(Error::timeout(TimeoutKind::Total))),
            None => run.await,
        };
        result.map_err(|e| e.at(&url))
    }

    /// The redirect loop.
    async fn follow(
        &self,
        mut req: Prepared,
        deadline: Option<Instant>,
    ) -> Result<Response, Error> {
        let mut chain = Vec::new();
        loop {
            let mut resp = self.send_once(&mut req, deadline).await?;
            let Some(next) = self.redirect(&mut req, &resp)? else {
                resp.set_redirects(chain);
                return Ok(resp);
            };
            if chain.len() >= self.inner.cfg.max_redirects {
                return Err(Error::new(
                    ErrorKind::RedirectLoop,
                    format!("more than {} redirects", self.inner.cfg.max_redirects),
                ));
            }
            resp.discard().await;
            chain.push(std::mem::replace(&mut req.url, next));
        }
    }

    /// Where a redirect response sends the request next, adjusting the
    /// request (method, body, credentials) for it; `None` when `resp` is
    /// the answer.
    fn redirect(&self, req: &mut Prepared, resp: &Response) -> Result<Option<Url>, Error> {
        let status = resp.status();
        let keeps_method = match status {
            StatusCode::MOVED_PERMANENTLY | StatusCode::FOUND | StatusCode::SEE_OTHER => false,
            StatusCode::TEMPORARY_REDIRECT | StatusCode::PERMANENT_REDIRECT => true,
            _ => return Ok(None),
        };
        if self.inner.cfg.max_redirects == 0 {
            return Ok(None);
        }
        let Some(location) = resp.headers().get(header::LOCATION) else {
            return Ok(None);
        };
        let location = std::str::from_utf8(location.as_bytes())
            .map_err(|_| Error::new(ErrorKind::Protocol, "Location is not UTF-8"))?;
        let next = req
            .url
            .join(location)
            .map_err(|e| Error::with_source(ErrorKind::Protocol, "invalid Location", e))?;
        let to_get = !keeps_method
            && req.method != Method::HEAD
            && (status == StatusCode::SEE_OTHER || req.method == Method::POST);
        if !to_get && req.streamed {
            return Ok(None); // a streamed body cannot be sent again
        }
        if to_get {
            req.method = Method::GET;
            req.body = Body::Empty;
            req.streamed = false;
            for name in [
                header::CONTENT_TYPE,
                header::CONTENT_LENGTH,
                header::CONTENT_ENCODING,
                header::TRANSFER_ENCODING,
            ] {
                req.headers.remove(name);
            }
        }
        if Origin::of(&next).ok() != Origin::of(&req.url).ok() {
            for name in [
                header::AUTHORIZATION,
                header::COOKIE,
                header::PROXY_AUTHORIZATION,
            ] {
                req.headers.remove(name);
            }
        }
        Ok(Some(next))
    }

    /// One request and its response head, retried once on a fresh
    /// connection when a reused one turns out closed and a retry is safe.
    async fn send_once(
        &self,
        req: &mut Prepared,
        deadline: Option<Instant>,
    ) -> Result<Response, Error> {
        let cfg = &self.inner.cfg;
        let origin = Origin::of(&req.url)?;
        let mut headers = cfg.default_headers.clone();
        for name in req.headers.keys() {
            headers.remove(name);
        }
        for (name, value) in &req.headers {
            headers.append(name.clone(), value.clone());
        }
        let decode = cfg.decompress && !req.headers.contains_key(header::ACCEPT_ENCODING);
        if decode {
            headers.insert(
                header::ACCEPT_ENCODING,
                HeaderValue::from_static(ACCEPT_ENCODING),
            );
        }
        if cfg.cookies {
            if let Some(cookie) = self.inner.jar.borrow().header_for(&req.url) {
                headers.insert(header::COOKIE, cookie);
            }
        }
        if req.http2 || cfg.http2_prior_knowledge {
            return self.send_h2(req, &headers, decode, deadline).await;
        }
        let expect_continue = headers
            .get(header::EXPECT)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
        let host = host_header(&req.url);
        let target = match req.url.query() {
            Some(q) => format!("{}?{q}", req.url.path()),
            None => req.url.path().to_string(),
        };
        let out = Outgoing {
            method: &req.method,
            target: &target,
            host: &host,
            headers: &headers,
            expect_continue,
            limits: &cfg.limits,
            read_timeout: cfg.timeouts.read,
            continue_timeout: cfg.continue_timeout,
        };
        let replayable = !req.streamed;
        let close_asked = headers
            .get_all(header::CONNECTION)
            .iter()
            .any(|v| v.as_bytes().eq_ignore_ascii_case(b"close"));
        let mut fresh_only = false;
        loop {
            let mut conn = self.connection(&origin, fresh_only).await?;
            let reused = conn.reused;
            let mut body = match &req.body {
                Body::Full(b) => Body::Full(b.clone()),
                Body::Empty => Body::Empty,
                Body::Stream(_) => std::mem::take(&mut req.body),
            };
            match exchange(&mut conn, &out, &mut body).await {
                Ok(mut answer) => {
                    answer.must_close |= close_asked;
                    if cfg.cookies {
                        self.inner
                            .jar
                            .borrow_mut()
                            .store(&req.url, &answer.head.headers);
                    }
                    return Ok(self.response(conn, answer, req, decode, deadline));
                }
                Err(Failure::Stale { sent, err })
                    if reused
                        && !fresh_only
                        && (!sent || (idempotent(&req.method) && replayable)) =>
                {
                    tracing::debug!("stale pooled connection ({err}); retrying on a new one");
                    if let Body::Stream(_) = body {
                        req.body = body; // never polled: send it on the new connection
                    }
                    fresh_only = true;
                }
                Err(Failure::Stale { err, .. } | Failure::Fatal(err)) => return Err(err),
            }
        }
    }

    /// One request over HTTP/2 (see [`crate::h2`]).
    async fn send_h2(
        &self,
        req: &mut Prepared,
        headers: &HeaderMap,
        decode: bool,
        deadline: Option<Instant>,
    ) -> Result<Response, Error> {
        let cfg = &self.inner.cfg;
        let ctx = h2::Ctx {
            pool: &self.inner.pool,
            limits: &cfg.limits,
            unix_socket: cfg.unix_socket.as_deref(),
            connect_timeout: cfg.timeouts.connect,
            read_timeout: cfg.timeouts.read,
            pool_wait: cfg.timeouts.pool_wait,
            idle_timeout: cfg.pool.idle_timeout,
            max_body: cfg.max_body,
        };
        let resp = h2::send(&self.inner.h2, &ctx, req, headers, decode, deadline).await?;
        if cfg.cookies {
            self.inner.jar.borrow_mut().store(&req.url, resp.headers());
        }
        Ok(resp)
    }

    /// A pooled connection, or a new one.
    async fn connection(&self, origin: &Origin, fresh_only: bool) -> Result<Conn, Error> {
        let cfg = &self.inner.cfg;
        let acquire = self.inner.pool.acquire(origin, fresh_only);
        let acquired = match cfg.timeouts.pool_wait {
            Some(d) => timeout(d, acquire)
                .await
                .map_err(|_| Error::timeout(TimeoutKind::PoolWait))?,
            None => acquire.await,
        };
        match acquired {
            Acquired::Reused(conn) => Ok(conn),
            Acquired::Slot(permit) => {
                let stream =
                    connect(origin, cfg.unix_socket.as_deref(), cfg.timeouts.connect).await?;
                Ok(Conn::new(stream, permit))
            }
        }
    }

    /// The response to hand out, its body reader owning the connection.
    fn response(
        &self,
        conn: Conn,
        answer: crate::h1::Answer,
        req: &Prepared,
        decode: bool,
        deadline: Option<Instant>,
    ) -> Response {
        let cfg = &self.inner.cfg;
        let head = answer.head;
        let mut headers = head.headers;
        let decoder = headers
            .get(header::CONTENT_ENCODING)
            .filter(|_| decode && head.body != percore_http::h1::ResponseFraming::Empty)
            .and_then(|v| Coding::from_header(v.as_bytes()))
            .map(Decoder::new);
        if decoder.is_some() {
            headers.remove(header::CONTENT_ENCODING);
            headers.remove(header::CONTENT_LENGTH);
        }
        let limits = cfg.limits.clone().max_body_size(u64::MAX);
        let body = BodyReader::new(
            conn,
            ResponseDecoder::new(head.body, &limits),
            head.keep_alive && !answer.must_close,
            self.inner.pool.clone(),
            cfg.timeouts.read,
            deadline,
        );
        Response::new(
            head.status,
            head.version,
            headers,
            req.url.clone(),
            Some(body.into()),
            decoder,
            cfg.max_body,
        )
    }
}

/// The `Host` value for `url`: its host, and its port unless the default.
pub(crate) fn host_header(url: &Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    }
}

impl Origin {
    /// The origin of an `http` URL.
    pub(crate) fn of(url: &Url) -> Result<Origin, Error> {
        if url.scheme() != "http" {
            return Err(Error::new(
                ErrorKind::InvalidUrl,
                format!("scheme {:?} is not supported (http only)", url.scheme()),
            ));
        }
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| Error::new(ErrorKind::InvalidUrl, "no host"))?;
        Ok(Origin {
            scheme: url.scheme().to_string(),
            host: host.to_string(),
            port: url.port_or_known_default().unwrap_or(80),
        })
    }
}
