//! `App`: routes, state and middleware, served on one core.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::future::Future;
use std::num::NonZeroU64;
use std::panic::{self, AssertUnwindSafe};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use http::header::ALLOW;
use http::Method;
use percore_http::h1::RawHead;
use percore_http::{CatchUnwind, ConnState, Reply, Request as HttpRequest, RequestBody, Service};

use super::access_log::{self, LogFormat};
use super::conn_slot::{self, Answer, LastRoute};
use super::dispatch::{Dispatch, Dispatched};
use super::handler::{BoxFuture, Handler, ReplyFuture};
use super::lifecycle::{AppStateRef, Hooks, Started};
use super::metrics::Recorder;
use super::middleware::{wrap, Chain, IntoMiddleware, Middleware, Next};
use super::router::{Match, MethodRouter, Router};
use super::{HttpError, IntoResponse, Request, Response};

/// Typed values and route names shared by the handlers of one app on one core.
#[derive(Default)]
pub(crate) struct AppState {
    values: HashMap<TypeId, Box<dyn Any>>,
    /// Route name -> pattern (nested apps' routes with their prefix).
    names: HashMap<String, String>,
}

impl AppState {
    pub(crate) fn get<T: 'static>(&self) -> Option<&T> {
        self.values
            .get(&TypeId::of::<T>())
            .and_then(|v| v.downcast_ref::<T>())
    }

    pub(crate) fn route_pattern(&self, name: &str) -> Option<&str> {
        self.names.get(name).map(String::as_str)
    }
}

/// An app's own number: no other app of this process has it, while it
/// lives or after (a connection's kept route names its app by it; an
/// address could be a freed app's, taken again by a new one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) struct AppId(NonZeroU64);

impl AppId {
    /// The next number (from 1; 2^64 apps do not get made).
    fn next() -> AppId {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let id = NEXT.fetch_add(1, Ordering::Relaxed);
        AppId(NonZeroU64::new(id).expect("fewer than 2^64 apps"))
    }
}

/// What one core serves: the app's middleware around its router.
struct Core {
    /// Which app this is ([`AppId`]).
    id: AppId,
    router: Router,
    state: Rc<AppState>,
    middleware: Vec<Middleware>,
    hooks: Hooks,
    /// Counts every request when the metrics plugin is installed.
    recorder: Option<Rc<Recorder>>,
    /// Logs every answer when the access-log plugin is installed.
    access_log: Option<LogFormat>,
}

impl Chain for Core {
    fn layers(&self) -> &[Middleware] {
        &self.middleware
    }

    #[inline]
    fn endpoint(&self, req: Request) -> BoxFuture {
        match self.route(req) {
            Ok((handler, req)) => handler.call(req),
            Err(answer) => answer,
        }
    }
}

impl Core {
    /// Routes `req`: its handler, with the request's route parameters
    /// and state set, or the answer to a request no route takes.
    #[inline]
    fn route(&self, mut req: Request) -> Result<(&Rc<dyn Handler>, Request), BoxFuture> {
        match self.router.find(routing_method(&req), req.path_bytes()) {
            Match::Found(handler, params) => {
                req.set_route(params, &self.state);
                Ok((handler, req))
            }
            Match::MethodNotAllowed(allow) => {
                let err = HttpError::method_not_allowed("method not allowed")
                    .typed_header(ALLOW, allow.clone());
                Err(Box::pin(async move { err.into_response() }))
            }
            Match::NotFound => Err(Box::pin(async {
                HttpError::not_found("not found").into_response()
            })),
        }
    }
}

/// The method a request is routed by: its own, except that a WebSocket
/// over HTTP/2 (RFC 8441's CONNECT with `:protocol websocket`) finds the
/// GET route that an HTTP/1.1 WebSocket upgrade finds, so one
/// `get(handler)` with `req.websocket()` serves both.
#[inline]
fn routing_method(req: &Request) -> &Method {
    // An HTTP/1.1 head is never HTTP/2's extended CONNECT.
    if let Some(method) = req.raw_method() {
        return method;
    }
    let h2_websocket = req.method() == Method::CONNECT
        && req
            .extensions()
            .get::<percore_http::upgrade::Protocol>()
            .is_some_and(|p| p.is("websocket"));
    if h2_websocket {
        &Method::GET
    } else {
        req.method()
    }
}

/// A web application: routes, state and middleware. Build one per core
/// (the server calls your factory on each core).
///
/// Middleware order: the app's middleware, in the order added (the first
/// is outermost, and sees every request, unrouted ones included); then,
/// once a route matched, the middleware of the nested apps it belongs to
/// (outer app first); then the route's own
/// ([`MethodRouter::middleware`]); then the handler.
///
/// ```
/// use percore::web::{App, Request, get};
/// async fn hi(req: Request) -> String {
///     format!("hi from core state {}", req.state::<u32>().unwrap())
/// }
/// let app = App::new().state(7u32).route("/", get(hi));
/// # let _ = app;
/// ```
pub struct App {
    core: Rc<Core>,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App").finish_non_exhaustive()
    }
}

impl Default for App {
    fn default() -> Self {
        App::new()
    }
}

impl App {
    /// An empty app.
    pub fn new() -> App {
        App {
            core: Rc::new(Core {
                id: AppId::next(),
                router: Router::default(),
                state: Rc::new(AppState::default()),
                middleware: Vec::new(),
                hooks: Hooks::default(),
                recorder: None,
                access_log: None,
            }),
        }
    }

    /// This app's [`AppId`].
    #[cfg(test)]
    pub(super) fn id(&self) -> AppId {
        self.core.id
    }

    /// Where this app's core is (for tests of what is compared instead).
    #[cfg(test)]
    pub(super) fn core_address(&self) -> *const () {
        Rc::as_ptr(&self.core).cast()
    }

    fn building(&mut self) -> &mut Core {
        Rc::get_mut(&mut self.core).expect("the app is being built, not served")
    }

    fn state_mut(&mut self) -> &mut AppState {
        Rc::get_mut(&mut self.building().state).expect("the app is being built, not served")
    }

    /// Adds a route: `pattern` is a path with optional `{name}` segments.
    pub fn route(mut self, pattern: &str, methods: MethodRouter) -> App {
        if let Some(name) = self.building().router.add(pattern, methods) {
            self.state_mut().names.insert(name, pattern.to_string());
        }
        self
    }

    /// Serves the files below `dir` (a path, or a configured
    /// [`StaticDir`](super::StaticDir)) at `prefix`, for GET and HEAD.
    ///
    /// ```
    /// use percore::web::App;
    /// let app = App::new().static_dir("/static", "./public");
    /// # let _ = app;
    /// ```
    pub fn static_dir(self, prefix: &str, dir: impl Into<super::StaticDir>) -> App {
        let prefix = prefix.trim_end_matches('/');
        let dir = dir.into().mount_at(prefix);
        self.route(&format!("{prefix}/{{*path}}"), super::get(dir))
    }

    /// Serves the file `file` at `path`, for GET and HEAD.
    ///
    /// ```
    /// use percore::web::App;
    /// let app = App::new().static_file("/favicon.ico", "./public/favicon.ico");
    /// # let _ = app;
    /// ```
    pub fn static_file(self, path: &str, file: impl AsRef<std::path::Path>) -> App {
        self.route(path, super::get(super::StaticFile::new(file)))
    }

    /// Registers a state value, available to handlers as `req.state::<T>()`.
    pub fn state<T: 'static>(mut self, value: T) -> App {
        self.state_mut()
            .values
            .insert(TypeId::of::<T>(), Box::new(value));
        self
    }

    /// The key of signed and private cookies (and of the cookie session
    /// store). Every core must use the same key: make it once, outside
    /// the server's factory (`Key::generate()`, or `Key::derive_from`
    /// a secret of at least 32 bytes so cookies outlive a restart).
    pub fn cookie_key(self, key: cookie::Key) -> App {
        self.state(key)
    }

    /// Has `recorder` count every request around the whole dispatch
    /// (the metrics plugin).
    pub(crate) fn recorder(mut self, recorder: Recorder) -> App {
        self.building().recorder = Some(Rc::new(recorder));
        self
    }

    /// Logs every answer around the whole dispatch (the access-log plugin).
    pub(crate) fn access_log(mut self, format: LogFormat) -> App {
        self.building().access_log = Some(format);
        self
    }

    /// Adds a middleware, run in the order added: a plain
    /// `async fn(Request, Next) -> impl IntoResponse` that gets the request
    /// and the rest of the chain.
    ///
    /// ```
    /// use percore::web::{App, Next, Request, Response, get};
    ///
    /// async fn served_by(req: Request, next: Next) -> Response {
    ///     let mut resp = next.run(req).await;
    ///     resp.headers_mut().insert("x-served-by", "percore".parse().unwrap());
    ///     resp
    /// }
    ///
    /// let app = App::new()
    ///     .middleware(served_by)
    ///     .route("/", get(|_r: Request| async { "ok" }));
    /// # let _ = app;
    /// ```
    pub fn middleware(mut self, middleware: impl IntoMiddleware) -> App {
        self.building()
            .middleware
            .push(middleware.into_middleware());
        self
    }

    /// Runs `hook` on each core before it accepts connections (in the
    /// order added, after the cores' listeners are bound). An error stops
    /// the server before it serves: `Server::run` returns it.
    ///
    /// ```
    /// use std::cell::Cell;
    /// use percore::web::{App, AppStateRef};
    /// let app = App::new().state(Cell::new(0u32)).on_startup(|state: AppStateRef| async move {
    ///     state.get::<Cell<u32>>().unwrap().set(1); // e.g. open this core's database pool
    ///     Ok(())
    /// });
    /// # let _ = app;
    /// ```
    pub fn on_startup<F, Fut>(mut self, hook: F) -> App
    where
        F: Fn(AppStateRef) -> Fut + 'static,
        Fut: Future<Output = std::io::Result<()>> + 'static,
    {
        self.building().hooks.on_startup(hook);
        self
    }

    /// Runs `hook` on each core once it has stopped accepting and its
    /// in-flight requests have finished (or the shutdown timeout passed):
    /// on `SIGTERM`/`SIGINT` or the server's shutdown signal. Errors are logged.
    pub fn on_shutdown<F, Fut>(mut self, hook: F) -> App
    where
        F: Fn(AppStateRef) -> Fut + 'static,
        Fut: Future<Output = std::io::Result<()>> + 'static,
    {
        self.building().hooks.on_shutdown(hook);
        self
    }

    /// A cleanup context (aiohttp's `cleanup_ctx`): `setup` runs at
    /// startup, after the startup hooks, and returns the cleanup to run
    /// after the shutdown hooks; cleanups run in reverse order, and only
    /// for contexts whose setup succeeded.
    ///
    /// ```
    /// use percore::web::{App, AppStateRef};
    /// let app = App::new().cleanup_ctx(|_state: AppStateRef| async {
    ///     let pool = vec!["connection"]; // set up
    ///     Ok(move || async move { drop(pool) }) // torn down at the end
    /// });
    /// # let _ = app;
    /// ```
    pub fn cleanup_ctx<F, Fut, C, CFut>(mut self, setup: F) -> App
    where
        F: Fn(AppStateRef) -> Fut + 'static,
        Fut: Future<Output = std::io::Result<C>> + 'static,
        C: FnOnce() -> CFut + 'static,
        CFut: Future<Output = ()> + 'static,
    {
        self.building().hooks.cleanup_ctx(setup);
        self
    }

    /// Runs the startup hooks (the server calls it on each core).
    pub(crate) async fn start(&self) -> Result<Started, (std::io::Error, Started)> {
        self.core.hooks.start(&self.core.state).await
    }

    /// Runs the shutdown hooks, then `started`'s cleanups.
    pub(crate) async fn stop(&self, started: Started) {
        self.core.hooks.shut_down(&self.core.state).await;
        started.clean_up().await;
    }

    /// Installs a [`Plugin`](super::Plugin): its routes, middleware, state and hooks.
    pub fn plugin(self, plugin: impl super::Plugin) -> App {
        plugin.install(self)
    }

    /// Mounts `sub`'s routes under `prefix` (`"/api"` + `"/users"` =
    /// `"/api/users"`). `sub` keeps its own middleware, run only for its
    /// routes, after this app's; and its own state, which its handlers see
    /// before this app's (`req.state` looks in the innermost app first).
    /// Its named routes are named here too, with the prefix.
    ///
    /// ```
    /// use percore::web::{App, Request, get};
    /// async fn who(req: Request) -> String {
    ///     format!("{} at {}", req.state::<&str>().unwrap(), req.url_for("api.users", []).unwrap())
    /// }
    /// let api = App::new().state("api").route("/users", get(who).name("api.users"));
    /// let app = App::new().state("root").nest("/api", api);
    /// # let _ = app;
    /// ```
    pub fn nest(mut self, prefix: &str, mut sub: App) -> App {
        assert!(
            prefix.starts_with('/') && !prefix.ends_with('/'),
            "nest prefix {prefix:?} must start with '/' and not end with it"
        );
        let names = std::mem::take(&mut sub.state_mut().names);
        let prefixed = names
            .into_iter()
            .map(|(name, pattern)| (name, format!("{prefix}{pattern}")));
        self.state_mut().names.extend(prefixed);
        let Ok(sub) = Rc::try_unwrap(sub.core) else {
            unreachable!("the sub-app is being built, not served");
        };
        let sub_state = sub.state;
        self.building().hooks.append(sub.hooks, sub_state.clone());
        // Metrics and the access log installed on a nested app count and
        // log the whole app's requests.
        if self.core.recorder.is_none() {
            self.building().recorder = sub.recorder;
        }
        if self.core.access_log.is_none() {
            self.building().access_log = sub.access_log;
        }
        let layers = sub.middleware;
        for (pattern, mut methods) in sub.router.into_routes() {
            methods.map_handlers(|h| {
                Rc::new(WithState {
                    state: sub_state.clone(),
                    handler: wrap(&layers, h),
                })
            });
            self.building()
                .router
                .add(&format!("{prefix}{pattern}"), methods);
        }
        self
    }

    /// Answers one request in memory, without a socket, as the server
    /// would (a panicking handler gets a 500): for unit tests of handlers
    /// and middleware. Run it on a runtime.
    ///
    /// ```
    /// use percore::web::{App, Request, get};
    /// let app = App::new().route("/", get(|_r: Request| async { "hi" }));
    /// percore::rt::Runtime::new().unwrap().block_on(async {
    ///     let resp = app.oneshot(http::Request::get("/").body("").unwrap()).await;
    ///     assert_eq!(resp.status(), 200);
    ///     assert_eq!(resp.into_body().collect().await.unwrap(), "hi");
    /// });
    /// ```
    pub async fn oneshot<B: Into<Bytes>>(&self, req: http::Request<B>) -> Response {
        let req = req.map(|b| RequestBody::from_bytes(b.into()));
        let on_panic = |_| HttpError::internal("the handler panicked").into_response();
        CatchUnwind::new(Service::call(self, req), on_panic).await
    }

    /// Handles one request (what the server calls). A panic propagates;
    /// [`oneshot`](Self::oneshot) turns it into a 500 like the server does.
    pub async fn handle(&self, req: HttpRequest) -> Response {
        Service::call(self, req).await
    }
}

/// A nested app's route: its state is seen first, then its middleware runs.
struct WithState {
    state: Rc<AppState>,
    handler: Rc<dyn Handler>,
}

impl Handler for WithState {
    fn call(&self, mut req: Request) -> BoxFuture {
        req.push_state(self.state.clone());
        self.handler.call(req)
    }

    fn call_reply(&self, mut req: Request) -> ReplyFuture {
        req.push_state(self.state.clone());
        self.handler.call_reply(req)
    }
}

impl Core {
    /// Starts `req` down the app's middleware to its handler, answering a
    /// response ([`Service::call`]).
    #[inline]
    fn start(self: &Rc<Core>, req: Request) -> BoxFuture {
        if self.middleware.is_empty() {
            // No app middleware: route at once (no chain to share).
            self.endpoint(req)
        } else {
            let chain: Rc<dyn Chain> = self.clone();
            Next::start(chain).run(req)
        }
    }

    /// [`Core::start`] answering a [`Reply`] ([`Service::call_head`]): a
    /// handler whose answer goes straight to the server (no app
    /// middleware) answers as it is (an in-memory answer stays `Plain`).
    #[inline(always)]
    fn start_reply(self: &Rc<Core>, req: Request) -> ReplyFuture {
        if self.middleware.is_empty() {
            match self.route(req) {
                Ok((handler, req)) => handler.call_reply(req),
                Err(answer) => ReplyFuture::Response(answer),
            }
        } else {
            let chain: Rc<dyn Chain> = self.clone();
            ReplyFuture::Response(Next::start(chain).run(req))
        }
    }

    /// [`Core::start_reply`] on a connection that keeps `conn`
    /// ([`Service::call_head_in`]): a handler with a [`ReplySlot`] runs
    /// its future in the connection's slot, made once and restarted in
    /// place while the connection's requests keep coming to it.
    #[inline(always)]
    fn start_in<'c>(self: &Rc<Core>, conn: &'c mut ConnState, req: Request) -> Answer<'c> {
        if !self.middleware.is_empty() {
            return Answer::Boxed(self.start_reply(req));
        }
        let last = conn.get_or_insert_with(LastRoute::default);
        let owner = self.id;
        // The same method and path as the last request an exact route of
        // this app took to the slot's handler: the same route, not looked
        // up again.
        if req
            .raw_method()
            .is_some_and(|method| last.routed(owner, method, req.path_bytes()))
        {
            // (No parameters to set, and the request already has the app's
            // state: `App::call_head_in` made it so.)
            debug_assert!(!req.has_params() && req.has_state(&self.state));
            return last.start_again(req);
        }
        match self.route(req) {
            Ok((handler, req)) => {
                let exact = !req.has_params();
                conn_slot::start(last, owner, handler, req, exact)
            }
            Err(answer) => Answer::Boxed(ReplyFuture::Response(answer)),
        }
    }
}

impl App {
    /// Starts `req` with `start` (what both `Service` methods do once the
    /// request is a [`Request`]).
    fn dispatch<F: Dispatched>(
        &self,
        req: Request,
        start: impl FnOnce(&Rc<Core>, Request) -> F,
    ) -> Dispatch<'_, F> {
        // Routing runs now, so the request moves straight into the handler's
        // boxed future: the future returned here is small, which keeps
        // the connection's (and every HTTP/2 stream's) task small.
        let recording = self.core.recorder.as_deref().map(|r| (r, r.start(&req)));
        let logging = self
            .core
            .access_log
            .and_then(|f| access_log::arrival(f, &req));
        // Middleware and handlers may panic before they return a future; the
        // panic is replayed when the future is polled, where the server turns
        // it into a 500 like any other handler panic.
        let inner = panic::catch_unwind(AssertUnwindSafe(|| start(&self.core, req)))
            .unwrap_or_else(F::replaying);
        Dispatch {
            inner,
            recording,
            logging,
        }
    }
}

impl Service for App {
    #[inline]
    fn call(&self, req: HttpRequest) -> impl Future<Output = Response> {
        let req = Request::with_state(req, self.core.state.clone());
        self.dispatch(req, Core::start)
    }

    /// An HTTP/1.1 request is routed on its raw head: its `Uri` and
    /// `HeaderMap` are built only if a middleware or handler asks; an
    /// in-memory answer that no middleware saw goes to the server as a
    /// [`Plain`](percore_http::Plain) reply.
    #[inline]
    fn call_head(&self, head: RawHead, body: RequestBody) -> impl Future<Output = Reply> {
        let req = Request::from_head(head, body, self.core.state.clone());
        self.dispatch(req, Core::start_reply)
    }

    /// [`call_head`](Service::call_head), with the connection's slot for
    /// the handler's future (see [`Handler::slot`]).
    #[inline]
    fn call_head_in<'a>(
        &'a self,
        conn: &'a mut ConnState,
        head: RawHead,
        body: RequestBody,
    ) -> impl Future<Output = Reply> + 'a {
        let req = Request::from_head(head, body, self.core.state.clone());
        self.dispatch(req, |core, req| core.start_in(conn, req))
    }
}
