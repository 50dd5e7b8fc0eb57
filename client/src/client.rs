//! `Client`: the handle on a core's pool and settings, and the entry of
//! the send path (`execute`, in `client/redirect.rs`: the redirect loop,
//! each hop within the total timeout).

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use http::header::{HeaderMap, HeaderValue};
use http::Method;
use percore_http::h1::EncodedFields;
use percore_http::Body;
use url::Url;

use crate::cookies::Jar;
use crate::h2::H2Pool;
use crate::pool::{Origin, Pool, PoolStats};
use crate::request::{IntoUrl, RequestBuilder};
use crate::ws::WsBuilder;

mod builder;
mod redirect;
mod send;

pub use builder::{ClientBuilder, Timeouts};
pub(crate) use builder::{Config, Connectors, KeepAlive};
pub(crate) use send::{authority, host_header, request_target};

struct Inner {
    cfg: Config,
    /// The default headers as a request that adds none carries them.
    defaults: Defaults,
    /// The same with `Accept-Encoding` added, for a request whose
    /// response is decoded (the default): the common request takes the
    /// encoded-once path with decompression on as well as off.
    decoding: Defaults,
    /// The origin of the last HTTP/1.1 or HTTP/2 request, and the text
    /// of its URL up to the port it was found in (see `Client::origin_of`).
    last_origin: RefCell<Option<(Box<str>, Origin)>>,
    tls: Connectors,
    pool: Pool,
    jar: RefCell<Jar>,
    h2: H2Pool,
}

/// The client's default header fields as an HTTP/1.1 request carries
/// them when it adds none: encoded once, and what they ask for.
pub(crate) struct Defaults {
    pub headers: HeaderMap,
    pub fields: EncodedFields,
    pub expect_continue: bool,
    pub close: bool,
}

impl Defaults {
    fn of(headers: HeaderMap) -> Defaults {
        Defaults {
            fields: EncodedFields::new(&headers),
            expect_continue: send::expects_continue(&headers),
            close: send::asks_close(&headers),
            headers,
        }
    }

    /// `headers` with the `Accept-Encoding` a decoding client sends.
    fn decoding(headers: &HeaderMap) -> Defaults {
        let mut headers = headers.clone();
        headers.insert(
            http::header::ACCEPT_ENCODING,
            HeaderValue::from_static(crate::decode::ACCEPT_ENCODING),
        );
        Defaults::of(headers)
    }
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

    /// A WebSocket connection to `url` (`ws://`, or `wss://` over TLS),
    /// on a connection of its own (HTTP/1.1), or as one stream of the
    /// origin's HTTP/2 connection (RFC 8441, see [`WsBuilder::http2`]);
    /// see [`WsBuilder`].
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

    pub(crate) fn tls(&self) -> &Connectors {
        &self.inner.tls
    }

    pub(crate) fn h2_pool(&self) -> &H2Pool {
        &self.inner.h2
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::response::Response;

    /// The send future is moved (copied) a few times per request: it stays
    /// small when the rare, large parts (a connect, a TLS handshake) are
    /// boxed instead of inline.
    #[test]
    fn the_send_future_stays_small() {
        let client = Client::new();
        let send = client.get("http://127.0.0.1:9/").send();
        let size = std::mem::size_of_val(&send);
        let response = std::mem::size_of::<Response>();
        eprintln!("send future: {size} bytes, response: {response} bytes");
        assert!(size <= 2560, "send future: {size} bytes");
        assert!(response <= 512, "response: {response} bytes");
    }

    /// `origin_of` answers from the last URL's text up to its port when it
    /// is the same, and takes other URLs apart: always `Origin::of`'s
    /// answer, the last one's host shared when it is the same origin.
    #[test]
    fn origin_of_a_url_is_its_origin() {
        let client = Client::new();
        let urls = [
            "http://a.example/x",
            "http://a.example:80/y?q",
            "http://a.example:8080/",
            "https://a.example/",
            "http://user:pw@a.example/",
            "http://A.EXAMPLE/z",
            "http://b.example/",
            "http://[::1]:9/",
            "ftp://a.example/",
        ];
        let mut last: Option<Origin> = None;
        for text in urls {
            let url: Url = text.parse().unwrap();
            let got = client.origin_of(&url);
            match Origin::of(&url) {
                Ok(want) => {
                    let got = got.unwrap();
                    assert_eq!(got, want, "{text}");
                    assert_eq!((got.scheme, got.port), (want.scheme, want.port), "{text}");
                    if let Some(prev) = last.as_ref().filter(|prev| **prev == got) {
                        assert!(Rc::ptr_eq(&prev.host, &got.host), "{text}: host copied");
                    }
                    last = Some(got);
                }
                Err(_) => assert!(got.is_err(), "{text}"),
            }
        }
    }
}
