//! Building a request: URL, headers, query, body, timeout.

use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE};
use http::Method;
use percore_http::Body;
use serde::Serialize;
use url::Url;

use crate::client::{Client, Prepared};
use crate::error::{Error, ErrorKind};
use crate::response::Response;

/// What a URL can be given as: `&str`, `String`, [`Url`], [`http::Uri`].
pub trait IntoUrl {
    /// The parsed URL.
    fn into_url(self) -> Result<Url, Error>;
}

impl IntoUrl for Url {
    fn into_url(self) -> Result<Url, Error> {
        Ok(self)
    }
}

impl IntoUrl for &str {
    fn into_url(self) -> Result<Url, Error> {
        Url::parse(self).map_err(|e| Error::with_source(ErrorKind::InvalidUrl, self, e))
    }
}

impl IntoUrl for &String {
    fn into_url(self) -> Result<Url, Error> {
        self.as_str().into_url()
    }
}

impl IntoUrl for String {
    fn into_url(self) -> Result<Url, Error> {
        self.as_str().into_url()
    }
}

impl IntoUrl for &http::Uri {
    fn into_url(self) -> Result<Url, Error> {
        self.to_string().into_url()
    }
}

impl IntoUrl for http::Uri {
    fn into_url(self) -> Result<Url, Error> {
        (&self).into_url()
    }
}

/// A request being built; [`RequestBuilder::send`] sends it. Errors in the
/// parts (a bad URL or header, a body that does not serialize) are
/// reported by `send`.
///
/// ```no_run
/// # async fn demo() -> Result<(), percore_client::Error> {
/// use std::time::Duration;
/// let client = percore_client::Client::new();
/// let resp = client
///     .post("http://127.0.0.1:8080/echo")
///     .header("x-trace", "1")
///     .query(&[("page", "2")])
///     .json(&serde_json::json!({"name": "percore"}))
///     .timeout(Duration::from_secs(5))
///     .send()
///     .await?;
/// let body: serde_json::Value = resp.json().await?;
/// # Ok(()) }
/// ```
#[must_use = "a request does nothing until it is sent"]
pub struct RequestBuilder {
    client: Client,
    method: Method,
    url: Result<Url, Error>,
    headers: HeaderMap,
    body: Body,
    timeout: Option<Duration>,
    error: Option<Error>,
    http2: bool,
}

impl std::fmt::Debug for RequestBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestBuilder")
            .field("method", &self.method)
            .field("url", &self.url.as_ref().map(Url::as_str).ok())
            .field("headers", &self.headers)
            .finish_non_exhaustive()
    }
}

impl RequestBuilder {
    pub(crate) fn new(client: Client, method: Method, url: Result<Url, Error>) -> RequestBuilder {
        RequestBuilder {
            client,
            method,
            url,
            headers: HeaderMap::new(),
            body: Body::Empty,
            timeout: None,
            error: None,
            http2: false,
        }
    }

    fn fail(&mut self, e: Error) {
        if self.error.is_none() {
            self.error = Some(e);
        }
    }

    /// Adds a header field (appended: a name may repeat).
    pub fn header<K, V>(mut self, name: K, value: V) -> Self
    where
        K: TryInto<HeaderName>,
        V: TryInto<HeaderValue>,
    {
        match (name.try_into(), value.try_into()) {
            (Ok(n), Ok(v)) => {
                self.headers.append(n, v);
            }
            _ => self.fail(Error::new(ErrorKind::Builder, "invalid header")),
        }
        self
    }

    /// Adds all of `headers`.
    pub fn headers(mut self, headers: HeaderMap) -> Self {
        for (name, value) in &headers {
            self.headers.append(name.clone(), value.clone());
        }
        self
    }

    /// Appends `query` (anything `serde_urlencoded` serializes: a struct,
    /// a map, a slice of pairs) to the URL's query.
    pub fn query<T: Serialize + ?Sized>(mut self, query: &T) -> Self {
        match serde_urlencoded::to_string(query) {
            Ok(q) if q.is_empty() => {}
            Ok(q) => {
                if let Ok(url) = &mut self.url {
                    let joined = match url.query() {
                        Some(old) if !old.is_empty() => format!("{old}&{q}"),
                        _ => q,
                    };
                    url.set_query(Some(&joined));
                }
            }
            Err(e) => self.fail(Error::with_source(ErrorKind::Builder, "query", e)),
        }
        self
    }

    /// A JSON body (`content-type: application/json`).
    pub fn json<T: Serialize + ?Sized>(mut self, value: &T) -> Self {
        match serde_json::to_vec(value) {
            Ok(v) => {
                self.set_type("application/json");
                self.body = Body::Full(Bytes::from(v));
            }
            Err(e) => self.fail(Error::with_source(ErrorKind::Builder, "JSON body", e)),
        }
        self
    }

    /// A form body (`content-type: application/x-www-form-urlencoded`).
    pub fn form<T: Serialize + ?Sized>(mut self, value: &T) -> Self {
        match serde_urlencoded::to_string(value) {
            Ok(v) => {
                self.set_type("application/x-www-form-urlencoded");
                self.body = Body::Full(Bytes::from(v));
            }
            Err(e) => self.fail(Error::with_source(ErrorKind::Builder, "form body", e)),
        }
        self
    }

    fn set_type(&mut self, ct: &'static str) {
        if !self.headers.contains_key(CONTENT_TYPE) {
            self.headers
                .insert(CONTENT_TYPE, HeaderValue::from_static(ct));
        }
    }

    /// The body: bytes in memory (`Bytes`, `Vec<u8>`, `String`, `&'static
    /// str`) are sent with their length and can be sent again (a retry, a
    /// 307/308 redirect); a stream ([`Body::stream`], a
    /// [`FileBody`](percore_http::FileBody), [`Body::channel`]) is sent
    /// with its size hint as `content-length`, or chunked with its
    /// trailers, and only once.
    pub fn body(mut self, body: impl Into<Body>) -> Self {
        self.body = body.into();
        self
    }

    /// The total timeout of this request (its body included), instead of
    /// the client's.
    pub fn timeout(mut self, d: Duration) -> Self {
        self.timeout = Some(d);
        self
    }

    /// Sends this request over HTTP/2 without negotiation (h2c prior
    /// knowledge), multiplexed with the client's other HTTP/2 requests
    /// to the same origin.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), percore_client::Error> {
    /// let client = percore_client::Client::new();
    /// let resp = client.get("http://127.0.0.1:8080/").http2_prior_knowledge().send().await?;
    /// assert_eq!(resp.version(), http::Version::HTTP_2);
    /// # Ok(()) }
    /// ```
    pub fn http2_prior_knowledge(mut self) -> Self {
        self.http2 = true;
        self
    }

    /// Sends the request; the response's head has arrived when this
    /// returns, its body is read from the [`Response`].
    ///
    /// (The returned future is the client's send path itself, not an
    /// `async fn` around it: each layer would move it, and the response.)
    pub fn send(self) -> impl std::future::Future<Output = Result<Response, Error>> {
        let req = self.url.and_then(|url| match self.error {
            Some(e) => Err(e.at(&url)),
            None => Ok(Prepared {
                method: self.method,
                url,
                headers: self.headers,
                streamed: matches!(self.body, Body::Stream(_)),
                body: self.body,
                timeout: self.timeout,
                http2: self.http2,
            }),
        });
        Client::execute(self.client, req)
    }
}
