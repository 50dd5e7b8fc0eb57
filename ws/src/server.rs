//! Server side: accept a WebSocket upgrade in an HTTP handler.

use std::future::Future;
use std::rc::Rc;
use std::time::Duration;

use http::header::{HeaderValue, CONTENT_TYPE};
use http::{Extensions, HeaderMap, Method, StatusCode, Version};
use percore_http::upgrade::{OnUpgrade, Protocol, UpgradeError, Upgraded};
use percore_http::{Body, Response};
use percore_runtime::spawn_local;

use crate::handshake::{self, UpgradeRequest};
use crate::{Codec, Config, DeflateConfig, Role, WebSocket};

/// A validated WebSocket upgrade request, to be accepted with
/// [`on_upgrade`](Self::on_upgrade): an HTTP/1.1 upgrade (RFC 6455), or an
/// HTTP/2 extended CONNECT (RFC 8441), whose WebSocket runs on one stream
/// of the connection. Handlers see the same [`WebSocket`] either way.
///
/// ```no_run
/// use percore_http::{Request, Response};
/// use percore_ws::{Message, WebSocketUpgrade};
///
/// async fn ws_handler(mut req: Request) -> Response {
///     let (parts, _body) = req.into_parts();
///     let mut parts = parts;
///     match WebSocketUpgrade::from_parts(&parts.method, parts.version, &parts.headers, &mut parts.extensions) {
///         Ok(upgrade) => upgrade.deflate(true).on_upgrade(|mut ws| async move {
///             while let Some(Ok(msg)) = ws.recv().await {
///                 if matches!(msg, Message::Text(_) | Message::Binary(_)) {
///                     let _ = ws.send(msg).await;
///                 }
///             }
///         }),
///         Err(refusal) => refusal.into_response(),
///     }
/// }
/// ```
pub struct WebSocketUpgrade {
    request: UpgradeRequest,
    on_upgrade: OnUpgrade,
    protocols: Vec<String>,
    deflate: Option<DeflateConfig>,
    config: Config,
    heartbeat: Option<Duration>,
}

impl std::fmt::Debug for WebSocketUpgrade {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebSocketUpgrade")
            .field("request", &self.request)
            .finish_non_exhaustive()
    }
}

impl WebSocketUpgrade {
    /// Validates the upgrade request. On failure, the [`Refusal`] to send:
    /// 400 for a malformed upgrade, 426 (with `Sec-WebSocket-Version: 13`)
    /// for an unsupported version.
    pub fn from_parts(
        method: &Method,
        version: Version,
        headers: &HeaderMap,
        extensions: &mut Extensions,
    ) -> Result<WebSocketUpgrade, Refusal> {
        let request = if version == Version::HTTP_2 {
            let protocol = extensions.get::<Protocol>().map(Protocol::as_str);
            handshake::validate_h2_upgrade(method, protocol, headers)
        } else {
            handshake::validate_upgrade(method, version, headers)
        };
        let request = request.map_err(|e| Refusal {
            status: e.status(),
            reason: e.reason(),
            headers: e.response_headers(),
        })?;
        let Some(on_upgrade) = extensions.remove::<OnUpgrade>() else {
            // A request with a body, or one that did not come over HTTP/1.1
            // or as an HTTP/2 extended CONNECT.
            return Err(Refusal::plain(
                StatusCode::BAD_REQUEST,
                "this request cannot be upgraded",
            ));
        };
        Ok(WebSocketUpgrade {
            request,
            on_upgrade,
            protocols: Vec::new(),
            deflate: None,
            config: Config::default(),
            heartbeat: None,
        })
    }

    /// The `Origin` the browser sent, for an origin check.
    pub fn origin(&self) -> Option<&str> {
        self.request.origin.as_deref()
    }

    /// The subprotocols the client offered, in its order.
    pub fn offered_protocols(&self) -> &[String] {
        &self.request.protocols
    }

    /// The subprotocols this server speaks, in preference order; the first
    /// one the client offered is selected.
    pub fn protocols<S: Into<String>>(mut self, protocols: impl IntoIterator<Item = S>) -> Self {
        self.protocols = protocols.into_iter().map(Into::into).collect();
        self
    }

    /// Accepts permessage-deflate when the client offers it, with the
    /// default [`DeflateConfig`]: no context takeover, so an idle
    /// connection holds no compression state (messages are compressed by
    /// one compressor per core). For the best ratio on a route, use
    /// [`deflate_config`](Self::deflate_config)`(DeflateConfig::context_takeover())`.
    pub fn deflate(mut self, enable: bool) -> Self {
        self.deflate = enable.then(DeflateConfig::default);
        self
    }

    /// Accepts permessage-deflate with these preferences (windows,
    /// `memLevel`, context takeover, size threshold), for this route.
    pub fn deflate_config(mut self, prefs: DeflateConfig) -> Self {
        self.deflate = Some(prefs);
        self
    }

    /// Largest incoming message (after decompression) and frame; beyond
    /// them the connection is closed with 1009.
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

    /// Pings after `interval` without input; closes when the pong is late.
    pub fn heartbeat(mut self, interval: Duration) -> Self {
        self.heartbeat = Some(interval);
        self
    }

    /// Refuses with 403 unless `allowed(origin)` holds (`None`: no `Origin`
    /// header, as from non-browser clients).
    pub fn check_origin(self, allowed: impl FnOnce(Option<&str>) -> bool) -> Result<Self, Refusal> {
        if allowed(self.origin()) {
            Ok(self)
        } else {
            Err(Refusal::plain(StatusCode::FORBIDDEN, "origin not allowed"))
        }
    }

    /// Answers 101 (over HTTP/2: 200) and runs `handler` with the
    /// WebSocket, as a task on this core, once the answer is written.
    pub fn on_upgrade<F, Fut>(self, handler: F) -> Response
    where
        F: FnOnce(WebSocket) -> Fut + 'static,
        Fut: Future<Output = ()> + 'static,
    {
        let supported: Vec<&str> = self.protocols.iter().map(String::as_str).collect();
        let accepted = handshake::accept(&self.request, &supported, self.deflate.as_ref());
        let mut config = self.config;
        config.deflate = accepted.deflate;
        let setup = Box::new(Setup {
            config,
            protocol: accepted.protocol,
            heartbeat: self.heartbeat,
        });
        // Boxed: `spawn_local` wraps the future in one that awaits it, and
        // an async block keeps what it captured beside what it awaits, so a
        // future spawned inline would be counted twice in every task of an
        // idle WebSocket; boxed, the wrapper holds a pointer.
        spawn_local(Box::pin(serve_upgraded(self.on_upgrade, setup, handler)));
        let mut resp = Response::new(Body::empty());
        // An HTTP/2 extended CONNECT has no key; its tunnel opens with a 200.
        *resp.status_mut() = if self.request.key.is_empty() {
            StatusCode::OK
        } else {
            StatusCode::SWITCHING_PROTOCOLS
        };
        *resp.headers_mut() = accepted.headers;
        resp
    }
}

/// What the upgraded connection's task needs once the 101 is written:
/// boxed, so that the task of an idle WebSocket keeps one pointer of it.
struct Setup {
    config: Config,
    protocol: Option<String>,
    heartbeat: Option<Duration>,
}

/// The task of an accepted upgrade: waits for the connection, then runs
/// `handler` with the WebSocket.
async fn serve_upgraded<U, F, Fut>(on_upgrade: U, setup: Box<Setup>, handler: F)
where
    U: Future<Output = Result<Upgraded, UpgradeError>>,
    F: FnOnce(WebSocket) -> Fut,
    Fut: Future<Output = ()>,
{
    let Ok(upgraded) = on_upgrade.await else {
        return;
    };
    let ws = {
        let Setup {
            config,
            protocol,
            heartbeat,
        } = *setup;
        let shutdown = upgraded.shutdown_signal();
        let write_timeout = upgraded.write_timeout();
        let (stream, read_buf, guard): (Rc<_>, _, _) = upgraded.into_guarded_parts();
        let mut ws = WebSocket::new(stream, read_buf, Codec::new(Role::Server, config));
        ws.attach_to_server(shutdown, guard);
        ws.set_protocol(protocol);
        ws.set_heartbeat(heartbeat);
        ws.set_write_timeout(Some(write_timeout));
        ws
    };
    handler(ws).await;
}

/// Why an upgrade was refused, and the answer to send: its status (400,
/// 403 or 426), a short text body and the headers the refusal needs
/// (`Sec-WebSocket-Version: 13` with 426). The web layer's handlers return
/// it as is (it implements `percore::web::IntoResponse`).
///
/// ```
/// use percore_ws::WebSocketUpgrade;
/// let (mut parts, _) = http::Request::new(()).into_parts();
/// let refusal = WebSocketUpgrade::from_parts(
///     &parts.method, parts.version, &parts.headers, &mut parts.extensions,
/// ).unwrap_err();
/// assert_eq!(refusal.status(), http::StatusCode::BAD_REQUEST);
/// assert_eq!(refusal.into_response().status(), 400);
/// ```
#[derive(Debug, Clone)]
pub struct Refusal {
    status: StatusCode,
    reason: &'static str,
    headers: HeaderMap,
}

impl Refusal {
    fn plain(status: StatusCode, reason: &'static str) -> Refusal {
        Refusal {
            status,
            reason,
            headers: HeaderMap::new(),
        }
    }

    /// The status of the answer.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// Why the upgrade was refused.
    pub fn reason(&self) -> &'static str {
        self.reason
    }

    /// The answer: the status, the reason as text, the refusal's headers.
    pub fn into_response(self) -> Response {
        let mut resp = Response::new(Body::from(format!("{}\n", self.reason)));
        *resp.status_mut() = self.status;
        *resp.headers_mut() = self.headers;
        resp.headers_mut().insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        resp
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "WebSocket upgrade refused ({}): {}",
            self.status.as_u16(),
            self.reason
        )
    }
}

impl std::error::Error for Refusal {}

#[cfg(test)]
mod idle_size {
    use super::*;

    /// The task of an upgraded connection whose handler echoes (awaits
    /// `recv` and `send`): the future spawned is a pointer, the boxed one
    /// holds the handler's future and a pointer to the setup. (Debug build.)
    #[test]
    fn the_task_of_an_echo_handler_is_small() {
        let echo = |mut ws: WebSocket| async move {
            while let Some(Ok(msg)) = ws.recv().await {
                if ws.send(msg).await.is_err() {
                    break;
                }
            }
        };
        let setup = Box::new(Setup {
            config: Config::default(),
            protocol: None,
            heartbeat: None,
        });
        // An `OnUpgrade` is an id: the future that never resolves stands
        // in for it, 8 bytes smaller.
        let on_upgrade = std::future::pending::<Result<Upgraded, UpgradeError>>();
        let task = serve_upgraded(on_upgrade, setup, echo);
        let size = std::mem::size_of_val(&task);
        assert!(size <= 576, "the task's future is {size} bytes");
    }
}
