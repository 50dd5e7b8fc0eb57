//! The request a handler receives.

use std::rc::Rc;

use bytes::Bytes;
use cookie::{Cookie, CookieJar, Key};
use http::{HeaderMap, Method, Uri, Version};
use percore_http::h1::RawHead;
use percore_http::RequestBody;
use serde::de::DeserializeOwned;

use super::app::AppState;
use super::multipart::{self, Multipart, MultipartLimits};
use super::request_parts::{more_mut, Head, More, Parts, PartsBox};
use super::{cookies, extract, url, HttpError, Session};

/// An HTTP request with the route's path parameters and the app's state.
///
/// ```
/// use percore::web::Request;
/// let req = Request::from_http(http::Request::builder().uri("/a?x=1").body(Default::default()).unwrap());
/// assert_eq!(req.path(), "/a");
/// assert_eq!(req.query_string(), Some("x=1"));
/// ```
pub struct Request(PartsBox);

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Request")
            .field("method", self.method())
            .field("uri", self.uri())
            .field("version", &self.version())
            .field("params", &self.0.params)
            .finish_non_exhaustive()
    }
}

impl Request {
    /// Wraps an `http::Request` (for tests and custom services).
    pub fn from_http(inner: http::Request<RequestBody>) -> Request {
        let (head, body) = inner.into_parts();
        Request::new(Head::Http(Box::new(head)), body)
    }

    fn new(head: Head, body: RequestBody) -> Request {
        Request(PartsBox::new(head, body, None))
    }

    pub(crate) fn with_state(inner: http::Request<RequestBody>, state: Rc<AppState>) -> Request {
        let mut req = Request::from_http(inner);
        req.0.state = Some(state);
        req
    }

    /// A request read as a raw HTTP/1.1 head, for the app `state`.
    #[inline(always)]
    pub(crate) fn from_head(head: RawHead, body: RequestBody, state: Rc<AppState>) -> Request {
        Request(PartsBox::new(Head::Raw(head), body, Some(state)))
    }

    /// The body, for a look at its size.
    pub(crate) fn body_ref(&self) -> &RequestBody {
        &self.0.body
    }

    /// Gives the request what routing found: its path parameters, and the
    /// app's state (middleware may have built a fresh request).
    #[inline]
    pub(crate) fn set_route(&mut self, params: Vec<(String, String)>, state: &Rc<AppState>) {
        // An exact route has none, and a fresh request holds none: the
        // empty vector is left as it is (no drop of the one replaced).
        if !params.is_empty() || !self.0.params.is_empty() {
            self.0.params = params;
        }
        if !self.has_state(state) {
            self.0.state = Some(state.clone());
        }
    }

    /// Whether routing found path parameters (a pattern route took it).
    #[inline]
    pub(crate) fn has_params(&self) -> bool {
        !self.0.params.is_empty()
    }

    /// Whether `state` is the request's app state.
    pub(crate) fn has_state(&self, state: &Rc<AppState>) -> bool {
        self.0.state.as_ref().is_some_and(|s| Rc::ptr_eq(s, state))
    }

    /// Enters a nested app: its state is looked up first from now on.
    pub(crate) fn push_state(&mut self, state: Rc<AppState>) {
        more_mut(&mut self.0.more).nested.push(state);
    }

    /// The states to search, innermost app first.
    fn states(&self) -> impl Iterator<Item = &AppState> {
        self.nested()
            .iter()
            .rev()
            .chain(self.0.state.iter())
            .map(|s| &**s)
    }

    /// Nested apps' states, innermost last.
    fn nested(&self) -> &[Rc<AppState>] {
        self.0.more.get().map_or(&[], |m| m.nested.as_slice())
    }

    /// The rarely used parts, made on first use.
    fn more(&self) -> &More {
        self.0.more.get_or_init(Box::default)
    }

    /// The method.
    pub fn method(&self) -> &Method {
        match &self.0.head {
            Head::Http(h) => &h.method,
            Head::Raw(r) => r.method(),
            Head::Vacant => vacant(),
        }
    }

    /// The request target.
    pub fn uri(&self) -> &Uri {
        match &self.0.head {
            Head::Http(h) => &h.uri,
            Head::Raw(r) => self.more().uri.get_or_init(|| r.uri()),
            Head::Vacant => vacant(),
        }
    }

    /// The path of the target.
    pub fn path(&self) -> &str {
        match &self.0.head {
            Head::Http(h) => h.uri.path(),
            Head::Raw(r) => r.path(),
            Head::Vacant => vacant(),
        }
    }

    /// The method of a request read as a raw HTTP/1.1 head (`None` for
    /// one built from `http` types).
    #[inline]
    pub(crate) fn raw_method(&self) -> Option<&Method> {
        match &self.0.head {
            Head::Raw(r) => Some(r.method()),
            _ => None,
        }
    }

    /// The path of the target as bytes (for routing: no UTF-8 check on
    /// the borrowed head, whose path the parser limited to ASCII).
    #[inline]
    pub(crate) fn path_bytes(&self) -> &[u8] {
        match &self.0.head {
            Head::Http(h) => h.uri.path().as_bytes(),
            Head::Raw(r) => r.path_bytes(),
            Head::Vacant => vacant(),
        }
    }

    /// The query string, without `?`.
    pub fn query_string(&self) -> Option<&str> {
        match &self.0.head {
            Head::Http(h) => h.uri.query(),
            Head::Raw(r) => r.query(),
            Head::Vacant => vacant(),
        }
    }

    /// The protocol version.
    pub fn version(&self) -> Version {
        match &self.0.head {
            Head::Http(h) => h.version,
            Head::Raw(r) => r.version(),
            Head::Vacant => vacant(),
        }
    }

    /// The headers (for a request read as a raw HTTP/1.1 head, the map is
    /// built on the first call).
    pub fn headers(&self) -> &HeaderMap {
        match &self.0.head {
            Head::Http(h) => &h.headers,
            Head::Raw(r) => self.more().headers.get_or_init(|| r.headers()),
            Head::Vacant => vacant(),
        }
    }

    /// A header value as text, if present and visible ASCII (looked up in
    /// the raw head, without building the map, when there is one).
    pub fn header(&self, name: &str) -> Option<&str> {
        match &self.0.head {
            Head::Http(h) => h.headers.get(name).and_then(|v| v.to_str().ok()),
            Head::Raw(r) => r.header(name),
            Head::Vacant => vacant(),
        }
    }

    /// The request's cookies (parsed once, on first use; malformed pairs
    /// and values over 4 KiB are left out).
    pub fn cookies(&self) -> &CookieJar {
        self.more()
            .cookies
            .get_or_init(|| cookies::parse(self.headers()))
    }

    /// The value of the cookie `name`, as the client sent it.
    ///
    /// ```
    /// use percore::web::Request;
    /// let req = Request::from_http(http::Request::get("/").header("cookie", "theme=dark; lang=en")
    ///     .body(Default::default()).unwrap());
    /// assert_eq!(req.cookie("lang"), Some("en"));
    /// assert_eq!(req.cookie("nope"), None);
    /// ```
    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.cookies().get(name).map(|c| c.value())
    }

    /// The session, loaded by the [`Sessions`](crate::web::Sessions)
    /// middleware (a 500 without it: install it with `App::plugin`).
    pub fn session(&self) -> Result<&Session, HttpError> {
        let session = self
            .0
            .more
            .get()
            .and_then(|m| m.session.as_ref())
            .ok_or_else(|| HttpError::internal("req.session() needs the Sessions middleware"))?;
        session.resolve(|| self.cookies());
        Ok(session)
    }

    pub(crate) fn set_session(&mut self, session: Session) {
        more_mut(&mut self.0.more).session = Some(session);
    }

    /// The app's cookie key ([`App::cookie_key`](crate::web::App::cookie_key)).
    pub fn cookie_key(&self) -> Option<&Key> {
        self.state::<Key>()
    }

    /// The value of the signed cookie `name`, if its signature holds under
    /// the app's key (`None` when tampered with, or without a key).
    pub fn signed_cookie(&self, name: &str) -> Option<String> {
        let key = self.cookie_key()?;
        self.cookies()
            .signed(key)
            .get(name)
            .map(|c| c.value().to_string())
    }

    /// The value of the private (encrypted) cookie `name`, if it decrypts
    /// and authenticates under the app's key.
    pub fn private_cookie(&self, name: &str) -> Option<String> {
        let key = self.cookie_key()?;
        self.cookies()
            .private(key)
            .get(name)
            .map(|c| c.value().to_string())
    }

    /// `cookie` signed with the app's key, to set on a response (`None`
    /// without a key).
    pub fn seal_signed(&self, cookie: Cookie<'static>) -> Option<Cookie<'static>> {
        Some(cookies::sign(self.cookie_key()?, cookie))
    }

    /// `cookie` encrypted with the app's key, to set on a response (`None`
    /// without a key).
    pub fn seal_private(&self, cookie: Cookie<'static>) -> Option<Cookie<'static>> {
        Some(cookies::encrypt(self.cookie_key()?, cookie))
    }

    /// A path parameter captured by `{name}` in the route.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.0
            .params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The query string decoded into `T` (form-urlencoded); a query that
    /// does not fit `T` is a 400 saying why.
    ///
    /// ```
    /// use percore::web::Request;
    /// #[derive(serde::Deserialize)]
    /// struct Page { page: u32 }
    /// let req = Request::from_http(http::Request::get("/?page=2").body(Default::default()).unwrap());
    /// assert_eq!(req.query::<Page>().unwrap().page, 2);
    /// let bad = Request::from_http(http::Request::get("/?page=two").body(Default::default()).unwrap());
    /// assert_eq!(bad.query::<Page>().err().unwrap().status(), 400);
    /// ```
    pub fn query<T: DeserializeOwned>(&self) -> Result<T, HttpError> {
        extract::query(self.query_string().unwrap_or(""))
    }

    /// App state of type `T` registered with `App::state` (in a nested
    /// app, its own state first, then the enclosing apps').
    pub fn state<T: 'static>(&self) -> Option<&T> {
        self.states().find_map(|s| s.get::<T>())
    }

    /// The path of the route named `name` (see
    /// [`MethodRouter::name`](crate::web::MethodRouter::name)), its
    /// `{param}` segments filled from `params` and percent-encoded; a
    /// nested app's routes include their prefix. An unknown name or a
    /// missing parameter is a 500 (a bug in the caller).
    ///
    /// ```
    /// use percore::web::{get, App, Request};
    /// async fn link(req: Request) -> String {
    ///     req.url_for("file", [("name", "a b.txt")]).unwrap() // "/files/a%20b.txt"
    /// }
    /// let app = App::new().route("/files/{name}", get(link).name("file"));
    /// # let _ = app;
    /// ```
    pub fn url_for<'a>(
        &self,
        name: &str,
        params: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<String, HttpError> {
        // The outermost app knows every route with its full prefix.
        let pattern = self
            .0
            .state
            .iter()
            .chain(self.nested())
            .find_map(|s| s.route_pattern(name))
            .ok_or_else(|| HttpError::internal(format!("url_for: no route named {name:?}")))?;
        url::fill(pattern, params)
    }

    /// Request extensions (set by middleware).
    pub fn extensions(&self) -> &http::Extensions {
        match &self.0.head {
            Head::Http(h) => &h.extensions,
            Head::Raw(_) => &self.more().extensions,
            Head::Vacant => vacant(),
        }
    }

    /// Mutable request extensions.
    pub fn extensions_mut(&mut self) -> &mut http::Extensions {
        let Parts { head, more, .. } = &mut *self.0;
        match head {
            Head::Http(h) => &mut h.extensions,
            Head::Raw(_) => &mut more_mut(more).extensions,
            Head::Vacant => vacant(),
        }
    }

    /// The body, to read in chunks.
    pub fn body_mut(&mut self) -> &mut RequestBody {
        &mut self.0.body
    }

    /// Takes the body, leaving an empty one; after it, [`bytes`](Self::bytes)
    /// and the methods that read the whole body fail.
    pub fn take_body(&mut self) -> RequestBody {
        self.0.body_read = true;
        std::mem::take(&mut self.0.body)
    }

    /// Reads the whole body, up to the server's `Limits::max_body_size`
    /// (413 beyond it). The body can be read once: a second call is an
    /// error (500), not a silently empty body.
    pub async fn bytes(&mut self) -> Result<Bytes, HttpError> {
        if self.0.body_read {
            return Err(HttpError::internal("the request body was already read"));
        }
        // The connection enforces `max_body_size` as the body arrives.
        Ok(self.take_body().bytes(usize::MAX).await?)
    }

    /// Reads the body as UTF-8 text (400 if it is not).
    pub async fn text(&mut self) -> Result<String, HttpError> {
        let bytes = self.bytes().await?;
        String::from_utf8(bytes.to_vec())
            .map_err(|_| HttpError::bad_request("the request body is not valid UTF-8"))
    }

    /// Reads a JSON body into `T`: 415 unless `Content-Type` is
    /// `application/json` (or `application/*+json`), 413 when too large,
    /// 400 naming what did not parse.
    ///
    /// ```
    /// use percore::web::{HttpError, Json, Request};
    /// #[derive(serde::Deserialize, serde::Serialize)]
    /// struct User { name: String }
    /// async fn create(mut req: Request) -> Result<Json<User>, HttpError> {
    ///     let user: User = req.json().await?;
    ///     Ok(Json(user))
    /// }
    /// ```
    pub async fn json<T: DeserializeOwned>(&mut self) -> Result<T, HttpError> {
        extract::expect_json(self.headers())?;
        extract::json(&self.bytes().await?)
    }

    /// Reads an `application/x-www-form-urlencoded` body into `T`: 415 for
    /// another `Content-Type`, 413 when too large, 400 naming what did not fit.
    ///
    /// ```
    /// use percore::web::{HttpError, Request};
    /// #[derive(serde::Deserialize)]
    /// struct Login { user: String, password: String }
    /// async fn login(mut req: Request) -> Result<String, HttpError> {
    ///     let form: Login = req.form().await?;
    ///     Ok(format!("hello {}", form.user))
    /// }
    /// ```
    pub async fn form<T: DeserializeOwned>(&mut self) -> Result<T, HttpError> {
        extract::expect_form(self.headers())?;
        extract::form(&self.bytes().await?)
    }

    /// The body as `multipart/form-data`, read part by part as it arrives
    /// (default [`MultipartLimits`](crate::web::multipart::MultipartLimits));
    /// 415 for another `Content-Type`, 400 without a valid boundary. See
    /// [`multipart`](crate::web::multipart) for an example.
    pub fn multipart(&mut self) -> Result<Multipart, HttpError> {
        self.multipart_with(MultipartLimits::default())
    }

    /// [`multipart`](Self::multipart) with these limits.
    pub fn multipart_with(&mut self, limits: MultipartLimits) -> Result<Multipart, HttpError> {
        let boundary = multipart::boundary(self.headers())?;
        if self.0.body_read {
            return Err(HttpError::internal("the request body was already read"));
        }
        Ok(Multipart::new(self.take_body(), &boundary, limits))
    }

    /// Validates a WebSocket upgrade; accept it with
    /// [`WebSocketUpgrade::on_upgrade`](percore_ws::WebSocketUpgrade::on_upgrade).
    /// On failure, the [`Refusal`](percore_ws::Refusal) to return (400, or
    /// 426 for a wrong version), which is a response itself.
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
    ///         Err(refusal) => refusal.into_response(),
    ///     }
    /// }
    /// ```
    pub fn websocket(&mut self) -> Result<percore_ws::WebSocketUpgrade, percore_ws::Refusal> {
        // Take the extensions out so the headers can be borrowed beside them.
        let mut extensions = std::mem::take(self.extensions_mut());
        let result = percore_ws::WebSocketUpgrade::from_parts(
            self.method(),
            self.version(),
            self.headers(),
            &mut extensions,
        );
        *self.extensions_mut() = extensions;
        result
    }

    /// The underlying `http::Request`.
    pub fn into_http(mut self) -> http::Request<RequestBody> {
        let body = std::mem::take(&mut self.0.body);
        // `Drop` still runs: leave it a head that owns nothing.
        let parts = match std::mem::replace(&mut self.0.head, Head::Vacant) {
            Head::Http(h) => *h,
            Head::Vacant => vacant(),
            Head::Raw(head) => {
                let (mut parts, ()) = http::Request::new(()).into_parts();
                let (uri, headers) = match self.0.more.get_mut() {
                    Some(m) => {
                        parts.extensions = std::mem::take(&mut m.extensions);
                        (m.uri.take(), m.headers.take())
                    }
                    None => (None, None),
                };
                parts.uri = uri.unwrap_or_else(|| head.uri());
                parts.headers = headers.unwrap_or_else(|| head.headers());
                parts.version = head.version();
                parts.method = head.method().clone();
                parts
            }
        };
        http::Request::from_parts(parts, body)
    }
}

/// The header maps go back to this core's pool for the next request.
impl Drop for Request {
    fn drop(&mut self) {
        let parts = &mut *self.0;
        let map = match &mut parts.head {
            Head::Http(h) => std::mem::take(&mut h.headers),
            Head::Vacant => return,
            Head::Raw(_) => match parts.more.get_mut().and_then(|m| m.headers.take()) {
                Some(map) => map,
                None => return,
            },
        };
        percore_http::header_pool::recycle(map);
    }
}

/// What a request's accessors do with a pooled box's head, which no live
/// request has.
#[cold]
fn vacant() -> ! {
    unreachable!("a live request's head is never vacant")
}

#[cfg(test)]
#[path = "request_tests.rs"]
mod tests;
