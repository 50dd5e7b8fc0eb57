//! The request a handler receives.

use std::rc::Rc;

use bytes::Bytes;
use http::{HeaderMap, Method, Uri, Version};
use percore_http::{BodyError, RequestBody};
use serde::de::DeserializeOwned;

use super::app::AppState;

/// An HTTP request with the route's path parameters and the app's state.
///
/// ```
/// use percore::web::Request;
/// let req = Request::from_http(http::Request::builder().uri("/a?x=1").body(Default::default()).unwrap());
/// assert_eq!(req.path(), "/a");
/// assert_eq!(req.query_string(), Some("x=1"));
/// ```
pub struct Request {
    inner: http::Request<RequestBody>,
    params: Vec<(String, String)>,
    state: Option<Rc<AppState>>,
    body_limit: usize,
}

/// Default largest body `bytes()`/`text()`/`json()` collect (16 MiB).
const DEFAULT_BODY_LIMIT: usize = 16 * 1024 * 1024;

impl Request {
    /// Wraps an `http::Request` (for tests and custom services).
    pub fn from_http(inner: http::Request<RequestBody>) -> Request {
        Request {
            inner,
            params: Vec::new(),
            state: None,
            body_limit: DEFAULT_BODY_LIMIT,
        }
    }

    pub(crate) fn with_route(
        inner: http::Request<RequestBody>,
        params: Vec<(String, String)>,
        state: Rc<AppState>,
        body_limit: usize,
    ) -> Request {
        Request {
            inner,
            params,
            state: Some(state),
            body_limit,
        }
    }

    /// Gives the request what routing found: its path parameters, and the
    /// app's state and body limit (middleware may have built a fresh request).
    pub(crate) fn set_route(
        &mut self,
        params: Vec<(String, String)>,
        state: &Rc<AppState>,
        body_limit: usize,
    ) {
        self.params = params;
        if !self.state.as_ref().is_some_and(|s| Rc::ptr_eq(s, state)) {
            self.state = Some(state.clone());
        }
        self.body_limit = body_limit;
    }

    /// The method.
    pub fn method(&self) -> &Method {
        self.inner.method()
    }

    /// The request target.
    pub fn uri(&self) -> &Uri {
        self.inner.uri()
    }

    /// The path of the target.
    pub fn path(&self) -> &str {
        self.inner.uri().path()
    }

    /// The query string, without `?`.
    pub fn query_string(&self) -> Option<&str> {
        self.inner.uri().query()
    }

    /// The protocol version.
    pub fn version(&self) -> Version {
        self.inner.version()
    }

    /// The headers.
    pub fn headers(&self) -> &HeaderMap {
        self.inner.headers()
    }

    /// A header value as text, if present and visible ASCII.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.inner.headers().get(name).and_then(|v| v.to_str().ok())
    }

    /// A path parameter captured by `{name}` in the route.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The query string decoded into `T` (form-urlencoded).
    pub fn query<T: DeserializeOwned>(&self) -> Result<T, serde_urlencoded::de::Error> {
        serde_urlencoded::from_str(self.query_string().unwrap_or(""))
    }

    /// App state of type `T` registered with `App::state`.
    pub fn state<T: 'static>(&self) -> Option<&T> {
        self.state.as_ref().and_then(|s| s.get::<T>())
    }

    /// Request extensions (set by middleware).
    pub fn extensions(&self) -> &http::Extensions {
        self.inner.extensions()
    }

    /// Mutable request extensions.
    pub fn extensions_mut(&mut self) -> &mut http::Extensions {
        self.inner.extensions_mut()
    }

    /// The body, to read in chunks.
    pub fn body_mut(&mut self) -> &mut RequestBody {
        self.inner.body_mut()
    }

    /// Takes the body, leaving an empty one.
    pub fn take_body(&mut self) -> RequestBody {
        std::mem::take(self.inner.body_mut())
    }

    /// Reads the whole body (up to the app's body limit).
    pub async fn bytes(&mut self) -> Result<Bytes, BodyError> {
        let limit = self.body_limit;
        self.take_body().bytes(limit).await
    }

    /// Reads the body as UTF-8 text.
    pub async fn text(&mut self) -> Result<String, BodyError> {
        let bytes = self.bytes().await?;
        String::from_utf8(bytes.to_vec())
            .map_err(|_| BodyError::Malformed("body is not valid UTF-8".into()))
    }

    /// Reads the body as JSON.
    pub async fn json<T: DeserializeOwned>(&mut self) -> Result<T, BodyError> {
        let bytes = self.bytes().await?;
        serde_json::from_slice(&bytes)
            .map_err(|e| BodyError::Malformed(format!("invalid JSON: {e}")))
    }

    /// Validates a WebSocket upgrade; accept it with
    /// [`WebSocketUpgrade::on_upgrade`](percore_ws::WebSocketUpgrade::on_upgrade).
    /// On failure, the refusal to return (400, or 426 for a wrong version).
    ///
    /// ```no_run
    /// use percore::web::{Request, Response};
    /// use percore::ws::Message;
    ///
    /// async fn ws_echo(mut req: Request) -> Response {
    ///     match req.websocket() {
    ///         Ok(upgrade) => upgrade.deflate(true).on_upgrade(|mut ws| async move {
    ///             while let Some(Ok(msg)) = ws.recv().await {
    ///                 if matches!(msg, Message::Text(_) | Message::Binary(_)) {
    ///                     let _ = ws.send(msg).await;
    ///                 }
    ///             }
    ///         }),
    ///         Err(refusal) => refusal,
    ///     }
    /// }
    /// ```
    #[allow(clippy::result_large_err)] // the refusal is the response to return
    pub fn websocket(
        &mut self,
    ) -> Result<percore_ws::WebSocketUpgrade, http::Response<percore_http::Body>> {
        // Take the extensions out so the headers can be borrowed beside them.
        let mut extensions = std::mem::take(self.inner.extensions_mut());
        let result = percore_ws::WebSocketUpgrade::from_parts(
            self.inner.method(),
            self.inner.version(),
            self.inner.headers(),
            &mut extensions,
        );
        *self.inner.extensions_mut() = extensions;
        result
    }

    /// The underlying `http::Request`.
    pub fn into_http(mut self) -> http::Request<RequestBody> {
        std::mem::take(&mut self.inner)
    }
}

/// The header map goes back to this core's pool for the next request.
impl Drop for Request {
    fn drop(&mut self) {
        percore_http::header_pool::recycle(std::mem::take(self.inner.headers_mut()));
    }
}
