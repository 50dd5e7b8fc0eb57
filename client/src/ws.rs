//! The WebSocket client: [`Client::ws`] opens a connection with the
//! HTTP/1.1 upgrade handshake (RFC 6455 §4.1) and hands back the same
//! [`WebSocket`] the server uses, in the client role (frames masked).
//!
//! Each WebSocket gets a fresh connection of its own, outside the pool:
//! it never goes back to it. Bytes the server sent right after its 101
//! are the WebSocket's first input.

use std::rc::Rc;
use std::time::Duration;

use bytes::BytesMut;
use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::{Method, StatusCode};
use percore_http::h1::{encode_request_head, parse_response_head, RequestFraming, ResponseHead};
use percore_runtime::io::write_all;
use percore_runtime::time::timeout;
use percore_ws::handshake::{self, HandshakeError, NegotiatedClient};
use percore_ws::{Codec, Config, DeflateConfig, Role, WebSocket};
use url::Url;

use crate::client::{host_header, Client};
use crate::connect::{connect, Stream};
use crate::error::{Error, ErrorKind, TimeoutKind};
use crate::h1::read_with;
use crate::pool::Origin;

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
    error: Option<Error>,
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
    /// answers it wrongly (a status other than 101, a wrong
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
        let stream = connect(&origin, None, cfg.timeouts.connect, &self.client.tls().h1).await?;
        let offered: Vec<&str> = self.protocols.iter().map(String::as_str).collect();
        let host = host_header(url);
        let (key, upgrade) =
            handshake::client_request_headers(&host, &offered, self.deflate.as_ref())
                .map_err(|e| Error::new(ErrorKind::Builder, e.reason()))?;
        let mut headers = cfg.default_headers.clone();
        for name in self.headers.keys() {
            headers.remove(name);
        }
        for (name, value) in &self.headers {
            headers.append(name.clone(), value.clone());
        }
        if let Some(cookie) = self.client.cookies_for(&jar_url(url)) {
            headers.insert(http::header::COOKIE, cookie);
        }
        for (name, value) in &upgrade {
            headers.insert(name.clone(), value.clone());
        }
        let target = match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_string(),
        };
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
        .map_err(refused)?;
        self.socket(stream, rest, negotiated)
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
            let (read, back) = read_with(stream, buf, cfg.timeouts.read, None).await?;
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

    /// The WebSocket on the upgraded connection.
    fn socket(
        &self,
        stream: Stream,
        rest: BytesMut,
        negotiated: NegotiatedClient,
    ) -> Result<WebSocket, Error> {
        let conn: percore_http::server::Conn = match stream {
            Stream::Tcp(tcp) => tcp.into(),
            Stream::Tls(tls) => (*tls).into(),
            Stream::Unix(_) => {
                return Err(Error::new(
                    ErrorKind::Connect,
                    "a WebSocket needs a TCP connection",
                ))
            }
        };
        let config = Config {
            deflate: negotiated.deflate,
            ..self.config.clone()
        };
        let mut ws = WebSocket::new(Rc::new(conn), rest, Codec::new(Role::Client, config));
        ws.set_protocol(negotiated.protocol);
        ws.set_heartbeat(self.heartbeat);
        Ok(ws)
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
        scheme: scheme.to_string(),
        host: host.to_string(),
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

/// The error for a refused or wrong handshake answer.
fn refused(e: HandshakeError) -> Error {
    let detail = if e.status() == StatusCode::SWITCHING_PROTOCOLS {
        e.reason().to_string()
    } else {
        format!(
            "server answered {} instead of 101 Switching Protocols",
            e.status()
        )
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
        assert_eq!((o.host.as_str(), o.port), ("example.com", 80));
        assert!(!o.is_tls());
        assert_eq!(origin("http://h:81/").unwrap().port, 81);
        let wss = origin("wss://example.com/").unwrap();
        assert_eq!((wss.scheme.as_str(), wss.port), ("https", 443));
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
        );
        assert!(e.to_string().contains("Upgrade"), "{e}");
    }

    #[test]
    fn cookies_of_ws_urls_are_http_ones() {
        let u = jar_url(&Url::parse("ws://h:1/a?b").unwrap());
        assert_eq!(u.as_str(), "http://h:1/a?b");
        let u = jar_url(&Url::parse("wss://h:1/a?b").unwrap());
        assert_eq!(u.as_str(), "https://h:1/a?b");
    }
}
