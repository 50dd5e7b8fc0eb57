//! Handlers: `async fn(Request) -> impl IntoResponse`.

use std::future::Future;
use std::pin::Pin;

use super::{IntoResponse, Request, Response};

/// A boxed response future.
pub type BoxFuture = Pin<Box<dyn Future<Output = Response>>>;

/// A request handler. Implemented for every `Fn(Request) -> impl Future`
/// whose output implements [`IntoResponse`]; handlers run on one core and
/// need not be `Send`.
pub trait Handler: 'static {
    /// Handles a request.
    fn call(&self, req: Request) -> BoxFuture;
}

impl<F, Fut, R> Handler for F
where
    F: Fn(Request) -> Fut + 'static,
    Fut: Future<Output = R> + 'static,
    R: IntoResponse,
{
    fn call(&self, req: Request) -> BoxFuture {
        let fut = self(req);
        Box::pin(async move { fut.await.into_response() })
    }
}
