//! Middleware: plain `async fn(Request, Next) -> impl IntoResponse`, and
//! `Next`, the rest of the chain it calls.

use std::future::Future;
use std::rc::Rc;

use super::handler::{BoxFuture, Handler};
use super::{IntoResponse, Request};

/// A middleware as stored: called with the request and the rest of the chain.
pub(crate) type Middleware = Rc<dyn Fn(Request, Next) -> BoxFuture>;

/// What a middleware may be: any `Fn(Request, Next) -> impl Future` whose
/// output is a response (a plain `async fn` qualifies).
///
/// ```
/// use percore::web::{App, IntoResponse, Next, Request, Response, get};
///
/// async fn served_by(req: Request, next: Next) -> Response {
///     let mut resp = next.run(req).await;
///     resp.headers_mut().insert("x-served-by", "percore".parse().unwrap());
///     resp
/// }
/// let app = App::new().middleware(served_by).route("/", get(|_r: Request| async { "ok" }));
/// # let _ = app;
/// ```
pub trait IntoMiddleware: 'static {
    /// Boxes the middleware.
    #[doc(hidden)]
    fn into_middleware(self) -> Middleware;
}

impl<F, Fut, R> IntoMiddleware for F
where
    F: Fn(Request, Next) -> Fut + 'static,
    Fut: Future<Output = R> + 'static,
    R: IntoResponse,
{
    fn into_middleware(self) -> Middleware {
        let f = Rc::new(self);
        // The middleware's future is made inside the box, on first poll:
        // the request moves once instead of being copied with the future.
        Rc::new(move |req, next| {
            let f = f.clone();
            Box::pin(async move { f(req, next).await.into_response() })
        })
    }
}

/// A chain: middleware in order, then the thing they wrap.
pub(crate) trait Chain: 'static {
    fn layers(&self) -> &[Middleware];
    fn endpoint(&self, req: Request) -> BoxFuture;
}

/// The rest of the chain, as seen by a middleware: the middleware after it
/// and then the handler. Owned, so a middleware can be a plain `async fn`
/// and may keep it across awaits.
pub struct Next {
    chain: Rc<dyn Chain>,
    index: usize,
}

impl std::fmt::Debug for Next {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Next")
            .field("index", &self.index)
            .finish_non_exhaustive()
    }
}

impl Next {
    pub(crate) fn start(chain: Rc<dyn Chain>) -> Next {
        Next { chain, index: 0 }
    }

    /// Runs the remaining middleware and the handler.
    pub fn run(self, req: Request) -> BoxFuture {
        match self.chain.layers().get(self.index) {
            Some(mw) => {
                let mw = mw.clone();
                mw(
                    req,
                    Next {
                        chain: self.chain,
                        index: self.index + 1,
                    },
                )
            }
            None => self.chain.endpoint(req),
        }
    }
}

/// Middleware around one handler (a route's own middleware, or a nested
/// app's middleware around each of its routes).
pub(crate) struct Wrapped {
    pub(crate) layers: Vec<Middleware>,
    pub(crate) handler: Rc<dyn Handler>,
}

impl Chain for Wrapped {
    fn layers(&self) -> &[Middleware] {
        &self.layers
    }

    fn endpoint(&self, req: Request) -> BoxFuture {
        self.handler.call(req)
    }
}

/// A [`Wrapped`] chain used as a handler.
pub(crate) struct WrappedHandler(pub(crate) Rc<Wrapped>);

impl Handler for WrappedHandler {
    fn call(&self, req: Request) -> BoxFuture {
        Next::start(self.0.clone()).run(req)
    }
}

/// Wraps `handler` in `layers` (the first one outermost); no layers, no wrapper.
pub(crate) fn wrap(layers: &[Middleware], handler: Rc<dyn Handler>) -> Rc<dyn Handler> {
    if layers.is_empty() {
        return handler;
    }
    Rc::new(WrappedHandler(Rc::new(Wrapped {
        layers: layers.to_vec(),
        handler,
    })))
}
