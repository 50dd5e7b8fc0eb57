//! The WebSocket client: [`Client::ws`] opens a connection with the
//! HTTP/1.1 upgrade handshake (RFC 6455 §4.1), or a stream of the
//! client's pooled HTTP/2 connection with an extended CONNECT (RFC 8441),
//! and hands back the same [`WebSocket`] the server uses, in the client
//! role (frames masked).
//!
//! Over HTTP/1.1 each WebSocket gets a fresh connection of its own,
//! outside the pool: it never goes back to it. Bytes the server sent right
//! after its 101 are the WebSocket's first input. Over HTTP/2 it is one
//! stream among the origin's other requests (`crate::h2::tunnel`).

use std::rc::Rc;
use std::time::Duration;

use bytes::BytesMut;
use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::{Method, StatusCode, Version};
use percore_http::h1::{encode_request_head, parse_response_head, RequestFraming, ResponseHead};
use percore_http::server::Conn;
use percore_http::upgrade::Protocol;
use percore_runtime::io::{write_all, OwnedRead};
use percore_runtime::time::timeout;
use percore_ws::handshake::{self, HandshakeError, NegotiatedClient};
use percore_ws::{Codec, Config, DeflateConfig, Role, WebSocket};
use url::Url;

use crate::alpn::Proto;
use crate::client::{host_header, Client};
use crate::connect::{connect, Stream};
use crate::error::{Error, ErrorKind, TimeoutKind};
use crate::h2;
use crate::pool::Origin;
use crate::within::read_bounded;

/// Bytes the handshake's read buffer gains before a read when it has
/// less than half of this free.
const READ_RESERVE: usize = 16 * 1024;

/// A WebSocket connection being set up; [`connect`](Self::connect) opens
/// it. Errors in the parts (a bad URL or header) are reported by
/// `connect`.
///
/// The limits default to the server's: 16 MiB frames, 64 MiB messages;
/// the handshake runs within the client's connect, read and total
/// timeouts ([`timeout`](Self::timeout) replaces the total one).
///
/// ```no_run
/// use percore_client::Client;
/// use percore_client::Message;
/// percore_runtime::Runtime::new().unwrap().block_on(async {
///     let client = Client::new();
///     let mut ws = client
///         .ws("ws://127.0.0.1:8080/ws")
///         .protocols(["chat.v1"])
///         .deflate(true)
///         .header("authorization", "Bearer secret")
///         .connect()
///         .await
///         .unwrap();
///     ws.send(Message::text("hello")).await.unwrap();
///     let echo = ws.recv().await.unwrap().unwrap();
///     assert_eq!(echo, Message::text("hello"));
///     ws.close(1000, "done").await.unwrap();
///     while ws.recv().await.is_some() {} // the server's Close, then the end
/// });
/// ```
#[must_use = "a WebSocket opens only when `connect` is awaited"]
pub struct WsBuilder {
    client: Client,
    url: Result<Url, Error>,
    protocols: Vec<String>,
    deflate: Option<DeflateConfig>,
    headers: HeaderMap,
    config: Config,
    heartbeat: Option<Duration>,
    timeout: Option<Duration>,
    /// `Some(true)`: over HTTP/2 only; `Some(false)`: HTTP/1.1 only;
    /// `None`: HTTP/2 when the client already speaks it to the origin.
    http2: Option<bool>,
    error: Option<Error>,
}

/// How an attempt over HTTP/2 ended.
enum OverH2 {
    Open(WebSocket),
    /// The server does not offer extended CONNECT (the error says so).
    NotOffered(Error),
}

impl std::fmt::Debug for WsBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WsBuilder")
            .field("url", &self.url)
            .field("protocols", &self.protocols)
            .field("deflate", &self.deflate)
            .finish_non_exhaustive()
    }
}

impl WsBuilder {
    pub(crate) fn new(client: Client, url: Result<Url, Error>) -> WsBuilder {
        WsBuilder {
            client,
            url,
            protocols: Vec::new(),
            deflate: None,
            headers: HeaderMap::new(),
            config: Config::default(),
            heartbeat: None,
            timeout: None,
            http2: None,
            error: None,
        }
    }

    /// The subprotocols to offer (`Sec-WebSocket-Protocol`), in preference
    /// order; [`WebSocket::protocol`] tells which one the server chose.
    pub fn protocols<S: Into<String>>(mut self, protocols: impl IntoIterator<Item = S>) -> Self {
        self.protocols = protocols.into_iter().map(Into::into).collect();
        self
    }

    /// Offers permessage-deflate (default preferences) or not (the
    /// default).
    pub fn deflate(mut self, enable: bool) -> Self {
        self.deflate = enable.then(DeflateConfig::default);
        self
    }

    /// Offers permessage-deflate with these preferences.
    pub fn deflate_config(mut self, prefs: DeflateConfig) -> Self {
        self.deflate = Some(prefs);
        self
    }

    /// A header of the upgrade request (`Origin`, `Authorization`, ...).
    /// The handshake's own fields (`Upgrade`, `Sec-WebSocket-*`) cannot be
    /// replaced.
    pub fn header<K, V>(mut self, name: K, value: V) -> Self
    where
        K: TryInto<HeaderName>,
        V: TryInto<HeaderValue>,
    {
        match (name.try_into(), value.try_into()) {
            (Ok(n), Ok(v)) => {
                self.headers.append(n, v);
            }
            _ => self.error = Some(Error::new(ErrorKind::Builder, "invalid header")),
        }
        self
    }

    /// Largest incoming message (after decompression) and frame; beyond
    /// them the connection is closed with 1009 and `recv` fails.
    pub fn max_message_size(mut self, message: usize, frame: usize) -> Self {
        self.config.max_message_size = message;
        self.config.max_frame_size = frame;
        self
    }

    /// Splits outgoing messages into frames of at most `size` bytes.
    pub fn auto_fragment(mut self, size: Option<usize>) -> Self {
        self.config.auto_fragment_size = size;
        self
    }

    /// Pings after `interval` without input; closes when the pong is late
    /// (see [`WebSocket::set_heartbeat`]).
    pub fn heartbeat(mut self, interval: Duration) -> Self {
        self.heartbeat = Some(interval);
        self
    }

    /// Opens the WebSocket over HTTP/2 (`true`: an RFC 8441 extended
    /// CONNECT on the client's pooled HTTP/2 connection to the origin,
    /// multiplexed with its other requests; h2c with prior knowledge for
    /// `ws://`, ALPN `h2` for `wss://`) or over HTTP/1.1 (`false`: an
    /// upgrade on a connection of its own).
    ///
    /// By default HTTP/2 is used when the client already speaks it to the
    /// origin (built with `http2_prior_knowledge`, or a `wss://` origin
    /// whose server chose `h2` by ALPN for an earlier request), and the
    /// WebSocket falls back to HTTP/1.1 on a new connection when that
    /// server does not offer extended CONNECT. With `http2(true)` such a
    /// server is an [`ErrorKind::Handshake`] error instead.
    ///
    /// ```no_run
    /// use percore_client::{Client, Message};
    /// percore_runtime::Runtime::new().unwrap().block_on(async {
    ///     let client = Client::builder().http2_prior_knowledge().build().unwrap();
    ///     let mut ws = client.ws("ws://127.0.0.1:8080/ws").http2(true).connect().await.unwrap();
    ///     ws.send(Message::text("over h2")).await.unwrap();
    ///     // A GET to the same origin shares the HTTP/2 connection.
    ///     let page = client.get("http://127.0.0.1:8080/").send().await.unwrap();
    ///     assert_eq!(page.version(), http::Version::HTTP_2);
    /// });
    /// ```
    pub fn http2(mut self, on: bool) -> Self {
        self.http2 = Some(on);
        self
    }

    /// The whole handshake (connection included) must end within `d`,
    /// instead of the client's total timeout.
    pub fn timeout(mut self, d: Duration) -> Self {
        self.timeout = Some(d);
        self
    }

    /// Connects and runs the opening handshake.
    ///
    /// Fails with [`ErrorKind::InvalidUrl`] for a scheme other than `ws`,
    /// `wss`, `http` or `https`, [`ErrorKind::Tls`] when the server's
    /// certificate is not trusted (as for `https`),
    /// [`ErrorKind::Handshake`] when the server refuses the upgrade or
    /// answers it wrongly (a status other than 101, or other than 2xx over
    /// HTTP/2, a server that does not offer WebSocket over HTTP/2 when
    /// [`http2(true)`](Self::http2) asked for it, a wrong
    /// `Sec-WebSocket-Accept`, a subprotocol or extension not offered),
    /// [`ErrorKind::Protocol`] for a malformed answer, and a
    /// [`ErrorKind::Timeout`] when the server does not answer in time.
    ///
    /// ```
    /// use percore_client::{Client, ErrorKind};
    /// percore_runtime::Runtime::new().unwrap().block_on(async {
    ///     let opened = Client::new().ws("ftp://example.com/").connect().await;
    ///     let err = opened.map(|_| ()).unwrap_err();
    ///     assert_eq!(err.kind(), ErrorKind::InvalidUrl);
    /// });
    /// ```
    pub async fn connect(mut self) -> Result<WebSocket, Error> {
        let taken = Err(Error::new(ErrorKind::InvalidUrl, ""));
        let url = std::mem::replace(&mut self.url, taken)?;
        if let Some(e) = self.error.take() {
            return Err(e.at(&url));
        }
        let total = self.timeout.or(self.client.config().timeouts.total);
        let open = self.open(&url);
        let opened = match total {
            Some(d) => timeout(d, open)
                .await
                .unwrap_or_else(|_| Err(Error::timeout(TimeoutKind::Total))),
            None => open.await,
        };
        opened.map_err(|e| e.at(&url))
    }

    /// Connection, upgrade request, 101, and the socket.
    async fn open(&self, url: &Url) -> Result<WebSocket, Error> {
        let origin = ws_origin(url)?;
        let cfg = self.client.config();
        if cfg.unix_socket.is_some() {
            return Err(Error::new(
                ErrorKind::Builder,
                "WebSocket over the client's Unix socket is not supported",
            ));
        }
        let h2 = self.http2.unwrap_or_else(|| {
            if origin.is_tls() {
                self.client.tls().offers_h2
                    && self.client.h2_pool().alpn.known(&origin) == Some(Proto::H2)
            } else {
                cfg.http2_prior_knowledge
            }
        });
        if h2 {
            match self.open_h2(url, &origin).await? {
                OverH2::Open(ws) => return Ok(ws),
                OverH2::NotOffered(e) if self.http2 == Some(true) => return Err(e),
                OverH2::NotOffered(e) => {
                    tracing::debug!("{e}; opening the WebSocket over HTTP/1.1");
                }
            }
        }
        let stream = connect(&origin, None, cfg.timeouts.connect, &self.client.tls().h1).await?;
        let offered = self.offered();
        let host = host_header(url);
        let (key, upgrade) =
            handshake::client_request_headers(&host, &offered, self.deflate.as_ref())
                .map_err(|e| Error::new(ErrorKind::Builder, e.reason()))?;
        let mut headers = self.request_headers(url);
        for (name, value) in &upgrade {
            headers.insert(name.clone(), value.clone());
        }
        let target = target(url);
        let mut head = BytesMut::new();
        encode_request_head(
            &mut head,
            &Method::GET,
            &target,
            &host,
            &headers,
            RequestFraming::Empty,
        );
        write_all(&stream, head.freeze())
            .await
            .0
            .map_err(|e| Error::io("cannot send the upgrade request", e))?;
        let (answer, rest) = self.read_answer(&stream).await?;
        self.client.store_cookies(&jar_url(url), &answer.headers);
        let negotiated = handshake::verify_response(
            answer.status,
            &answer.headers,
            &key,
            &offered,
            self.deflate.as_ref(),
        )
        .map_err(|e| refused(e, "101 Switching Protocols"))?;
        let conn = match stream {
            Stream::Tcp(tcp) => tcp.into(),
            Stream::Tls(tls) => (*tls).into(),
            Stream::Unix(_) => {
                return Err(Error::new(
                    ErrorKind::Connect,
                    "a WebSocket needs a TCP connection",
                ))
            }
        };
        Ok(self.socket(conn, rest, negotiated))
    }

    /// The extended CONNECT on the origin's HTTP/2 connection, its 2xx,
    /// and the socket on the stream.
    async fn open_h2(&self, url: &Url, origin: &Origin) -> Result<OverH2, Error> {
        let offered = self.offered();
        let mut headers = self.request_headers(url);
        let ws_fields = handshake::client_h2_request_headers(&offered, self.deflate.as_ref())
            .map_err(|e| Error::new(ErrorKind::Builder, e.reason()))?;
        for (name, value) in &ws_fields {
            headers.insert(name.clone(), value.clone());
        }
        let scheme = if origin.is_tls() { "https" } else { "http" };
        let uri = format!("{scheme}://{}{}", host_header(url), target(url));
        let mut request = http::Request::builder()
            .method(Method::CONNECT)
            .uri(uri)
            .version(Version::HTTP_2)
            .body(())
            .map_err(|e| Error::with_source(ErrorKind::InvalidUrl, "", e))?;
        *request.headers_mut() = headers;
        request.extensions_mut().insert(Protocol::new("websocket"));
        let ctx = self.client.h2_ctx();
        let opened =
            match h2::open_tunnel(self.client.h2_pool(), &ctx, origin, &request, None).await {
                Ok(opened) => opened,
                // The only handshake error of the pool: no extended CONNECT.
                Err(e) if e.kind() == ErrorKind::Handshake => return Ok(OverH2::NotOffered(e)),
                Err(e) => return Err(e),
            };
        self.client.store_cookies(&jar_url(url), opened.headers());
        let verified = handshake::verify_h2_response(
            opened.head.status(),
            opened.headers(),
            &offered,
            self.deflate.as_ref(),
        );
        let negotiated = match verified {
            Ok(negotiated) => negotiated,
            Err(e) => {
                opened.abandon();
                return Err(refused(e, "2xx over HTTP/2"));
            }
        };
        let tunnel = opened.into_tunnel()?;
        let conn = Conn::Tunnel(Box::new(tunnel));
        Ok(OverH2::Open(self.socket(conn, BytesMut::new(), negotiated)))
    }

    /// The subprotocols offered.
    fn offered(&self) -> Vec<&str> {
        self.protocols.iter().map(String::as_str).collect()
    }

    /// The request's own fields: the client's defaults replaced by the
    /// builder's, and the cookies for `url`.
    fn request_headers(&self, url: &Url) -> HeaderMap {
        let mut headers = self.client.config().default_headers.clone();
        for name in self.headers.keys() {
            headers.remove(name);
        }
        for (name, value) in &self.headers {
            headers.append(name.clone(), value.clone());
        }
        if let Some(cookie) = self.client.cookies_for(&jar_url(url)) {
            headers.insert(http::header::COOKIE, cookie);
        }
        headers
    }

    /// The response head to the upgrade, and the bytes after it.
    async fn read_answer(&self, stream: &Stream) -> Result<(ResponseHead, BytesMut), Error> {
        let cfg = self.client.config();
        let mut buf = BytesMut::new();
        loop {
            match parse_response_head(&mut buf, &Method::GET, &cfg.limits) {
                Ok(Some(head)) => return Ok((head, buf)),
                Ok(None) => {}
                Err(e) => {
                    return Err(Error::with_source(
                        ErrorKind::Protocol,
                        "invalid answer to the upgrade",
                        e,
                    ))
                }
            }
            if buf.capacity() - buf.len() < READ_RESERVE / 2 {
                buf.reserve(READ_RESERVE);
            }
            let (read, back) = read_bounded(cfg.timeouts.read, None, stream.read(buf)).await?;
            buf = back;
            match read {
                Ok(0) => {
                    return Err(Error::new(
                        ErrorKind::Handshake,
                        "server closed the connection before answering the upgrade",
                    ))
                }
                Ok(_) => {}
                Err(e) => return Err(Error::io("cannot read the upgrade answer", e)),
            }
        }
    }

    /// The WebSocket on the upgraded connection (or HTTP/2 stream).
    fn socket(&self, conn: Conn, rest: BytesMut, negotiated: NegotiatedClient) -> WebSocket {
        let config = Config {
            deflate: negotiated.deflate,
            ..self.config.clone()
        };
        let mut ws = WebSocket::new(Rc::new(conn), rest, Codec::new(Role::Client, config));
        ws.set_protocol(negotiated.protocol);
        ws.set_heartbeat(self.heartbeat);
        ws
    }
}

/// The request target of `url`: its path and query.
fn target(url: &Url) -> String {
    match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_string(),
    }
}

/// The origin to connect to for a WebSocket URL: `ws` (or `http`), or
/// `wss` (or `https`) over TLS.
fn ws_origin(url: &Url) -> Result<Origin, Error> {
    let scheme = match url.scheme() {
        "ws" | "http" => "http",
        "wss" | "https" => "https",
        other => {
            return Err(Error::new(
                ErrorKind::InvalidUrl,
                format!("scheme {other:?} is not a WebSocket scheme (ws or wss)"),
            ))
        }
    };
    let host = url
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| Error::new(ErrorKind::InvalidUrl, "no host"))?;
    Ok(Origin {
        scheme,
        host: host.into(),
        port: url.port_or_known_default().unwrap_or(80),
    })
}

/// `url` as the cookie jar sees it: a `ws` URL is an `http` one, a `wss`
/// URL an `https` one.
fn jar_url(url: &Url) -> Url {
    let mut as_http = url.clone();
    match url.scheme() {
        "ws" => drop(as_http.set_scheme("http")),
        "wss" => drop(as_http.set_scheme("https")),
        _ => {}
    }
    as_http
}

/// The error for a refused or wrong handshake answer; `expected` is the
/// status that would have accepted it.
fn refused(e: HandshakeError, expected: &str) -> Error {
    let accepted = if expected.starts_with("101") {
        e.status() == StatusCode::SWITCHING_PROTOCOLS
    } else {
        e.status().is_success()
    };
    let detail = if accepted {
        e.reason().to_string()
    } else {
        format!("server answered {} instead of {expected}", e.status())
    };
    Error::new(ErrorKind::Handshake, detail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemes() {
        let origin = |u: &str| ws_origin(&Url::parse(u).unwrap());
        let o = origin("ws://example.com/chat").unwrap();
        assert_eq!((&*o.host, o.port), ("example.com", 80));
        assert!(!o.is_tls());
        assert_eq!(origin("http://h:81/").unwrap().port, 81);
        let wss = origin("wss://example.com/").unwrap();
        assert_eq!((wss.scheme, wss.port), ("https", 443));
        assert!(wss.is_tls());
        assert_eq!(origin("wss://h:8443/").unwrap().port, 8443);
        assert_eq!(
            origin("ftp://h/").unwrap_err().kind(),
            ErrorKind::InvalidUrl
        );
    }

    #[test]
    fn refusals_say_what_the_server_did() {
        let e = refused(
            handshake::verify_response(StatusCode::OK, &HeaderMap::new(), "k", &[], None)
                .unwrap_err(),
            "101 Switching Protocols",
        );
        assert_eq!(e.kind(), ErrorKind::Handshake);
        assert!(e.to_string().contains("200 OK instead of 101"), "{e}");
        let e = refused(
            handshake::verify_response(
                StatusCode::SWITCHING_PROTOCOLS,
                &HeaderMap::new(),
                "k",
                &[],
                None,
            )
            .unwrap_err(),
            "101 Switching Protocols",
        );
        assert!(e.to_string().contains("Upgrade"), "{e}");
        let e = refused(
            handshake::verify_h2_response(StatusCode::NOT_FOUND, &HeaderMap::new(), &[], None)
                .unwrap_err(),
            "2xx over HTTP/2",
        );
        assert!(
            e.to_string().contains("404 Not Found instead of 2xx"),
            "{e}"
        );
    }

    #[test]
    fn cookies_of_ws_urls_are_http_ones() {
        let u = jar_url(&Url::parse("ws://h:1/a?b").unwrap());
        assert_eq!(u.as_str(), "http://h:1/a?b");
        let u = jar_url(&Url::parse("wss://h:1/a?b").unwrap());
        assert_eq!(u.as_str(), "https://h:1/a?b");
    }
}
