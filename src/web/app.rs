//! `App`: routes, state and middleware, served on one core.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::rc::Rc;

use http::header::{HeaderValue, ALLOW};
use http::StatusCode;
use percore_http::{Request as HttpRequest, Service};

use super::handler::BoxFuture;
use super::router::{Match, MethodRouter, Router};
use super::{IntoResponse, Request, Response};

/// Typed values shared by the handlers of one core.
#[derive(Default)]
pub(crate) struct AppState {
    values: HashMap<TypeId, Box<dyn Any>>,
}

impl AppState {
    pub(crate) fn get<T: 'static>(&self) -> Option<&T> {
        self.values
            .get(&TypeId::of::<T>())
            .and_then(|v| v.downcast_ref::<T>())
    }
}

/// The rest of the chain, as seen by a middleware.
pub struct Next<'a> {
    app: &'a App,
    index: usize,
}

impl Next<'_> {
    /// Runs the remaining middleware and the handler.
    pub async fn run(self, req: Request) -> Response {
        self.app.dispatch(req, self.index).await
    }
}

type Middleware =
    Rc<dyn for<'a> Fn(Request, Next<'a>) -> Pin<Box<dyn Future<Output = Response> + 'a>>>;

/// A web application: routes, state and middleware. Build one per core
/// (the server calls your factory on each core).
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
    router: Router,
    state: Rc<AppState>,
    middleware: Vec<Middleware>,
    body_limit: usize,
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
            router: Router::default(),
            state: Rc::new(AppState::default()),
            middleware: Vec::new(),
            body_limit: 16 * 1024 * 1024,
        }
    }

    /// Adds a route: `pattern` is a path with optional `{name}` segments.
    pub fn route(mut self, pattern: &str, methods: MethodRouter) -> App {
        self.router.add(pattern, methods);
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
        Rc::get_mut(&mut self.state)
            .expect("state is added while building the app")
            .values
            .insert(TypeId::of::<T>(), Box::new(value));
        self
    }

    /// Largest body that `Request::bytes/text/json` will collect.
    pub fn body_limit(mut self, bytes: usize) -> App {
        self.body_limit = bytes;
        self
    }

    /// Adds a middleware, run in the order added: it gets the request and the
    /// rest of the chain, and returns the response.
    ///
    /// ```
    /// use percore::web::{App, Request, Response, get};
    /// use percore::web::Next;
    /// let app = App::new()
    ///     .middleware(|req: Request, next: Next<'_>| Box::pin(async move {
    ///         let mut resp: Response = next.run(req).await;
    ///         resp.headers_mut().insert("x-served-by", "percore".parse().unwrap());
    ///         resp
    ///     }))
    ///     .route("/", get(|_r: Request| async { "ok" }));
    /// # let _ = app;
    /// ```
    pub fn middleware<F>(mut self, f: F) -> App
    where
        F: for<'a> Fn(Request, Next<'a>) -> Pin<Box<dyn Future<Output = Response> + 'a>> + 'static,
    {
        self.middleware.push(Rc::new(f));
        self
    }

    #[inline]
    fn dispatch(&self, req: Request, index: usize) -> Pin<Box<dyn Future<Output = Response> + '_>> {
        if let Some(mw) = self.middleware.get(index) {
            return mw(
                req,
                Next {
                    app: self,
                    index: index + 1,
                },
            );
        }
        self.route_request(req)
    }

    #[inline]
    fn route_request(&self, mut req: Request) -> BoxFuture {
        match self.router.find(req.method(), req.path()) {
            Match::Found(handler, params) => {
                req.set_route(params, &self.state, self.body_limit);
                handler.call(req)
            }
            Match::MethodNotAllowed(allow) => {
                let mut resp = StatusCode::METHOD_NOT_ALLOWED.into_response();
                if let Ok(v) = HeaderValue::from_str(&allow) {
                    resp.headers_mut().insert(ALLOW, v);
                }
                Box::pin(async move { resp })
            }
            Match::NotFound => Box::pin(async { StatusCode::NOT_FOUND.into_response() }),
        }
    }

    /// Handles one request (what the server calls; also handy in tests).
    pub async fn handle(&self, req: HttpRequest) -> Response {
        Service::call(self, req).await
    }
}

impl Service for App {
    fn call(&self, req: HttpRequest) -> impl Future<Output = Response> {
        // Routing runs now, so the request moves straight into the handler's
        // boxed future: the future returned here is one pointer, which keeps
        // the connection's (and every HTTP/2 stream's) task small.
        let req = Request::with_route(req, Vec::new(), self.state.clone(), self.body_limit);
        // Middleware and handlers may panic before they return a future; the
        // panic is replayed when the future is polled, where the server turns
        // it into a 500 like any other handler panic.
        let dispatched = panic::catch_unwind(AssertUnwindSafe(|| self.dispatch(req, 0)));
        dispatched.unwrap_or_else(|payload| Box::pin(async move { panic::resume_unwind(payload) }))
    }
}
