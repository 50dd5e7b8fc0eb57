//! The handler contract shared by HTTP/1.1 and HTTP/2.

use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::body::{Body, RequestBody};
use crate::h1::RawHead;
use crate::reply::Reply;

/// A request as handlers see it.
pub type Request = http::Request<RequestBody>;
/// A response as handlers return it.
pub type Response = http::Response<Body>;

/// Turns requests into responses. One instance per core: implementations
/// may hold `Rc`/`RefCell` state and their futures need not be `Send`.
///
/// ```
/// use percore_http::{Service, Request, Response, Body};
/// struct Hello;
/// impl Service for Hello {
///     async fn call(&self, _req: Request) -> Response {
///         Response::new(Body::from("hello"))
///     }
/// }
/// ```
pub trait Service: 'static {
    /// Handles one request.
    fn call(&self, req: Request) -> impl Future<Output = Response>;

    /// Handles one HTTP/1.1 request whose head is still the bytes it came
    /// in plus offsets ([`RawHead`]). A service that can answer from those
    /// (route on the method and path, look up a few fields) overrides this
    /// and builds the `http` types only when a handler asks for them; the
    /// default builds the [`Request`] and calls [`call`](Service::call).
    /// (Requests that may switch protocols always come through `call`.)
    ///
    /// The answer is a [`Reply`]: a [`Response`], or a
    /// [`Plain`](crate::Plain) in-memory answer whose head the server
    /// writes from its parts, without a `HeaderMap`.
    fn call_head(&self, head: RawHead, body: RequestBody) -> impl Future<Output = Reply> {
        AsReply {
            inner: self.call(head.into_request(body)),
        }
    }
}

pin_project_lite::pin_project! {
    /// A response future's answer as a [`Reply`] (`call_head`'s default).
    struct AsReply<F> {
        #[pin]
        inner: F,
    }
}

impl<F: Future<Output = Response>> Future for AsReply<F> {
    type Output = Reply;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Reply> {
        self.project().inner.poll(cx).map(Reply::Response)
    }
}

/// Any `Fn(Request) -> Future<Output = Response>` is a service.
pub struct FnService<F>(pub F);

impl<F> std::fmt::Debug for FnService<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FnService").finish_non_exhaustive()
    }
}

impl<F, Fut> Service for FnService<F>
where
    F: Fn(Request) -> Fut + 'static,
    Fut: Future<Output = Response>,
{
    fn call(&self, req: Request) -> impl Future<Output = Response> {
        (self.0)(req)
    }
}

pin_project_lite::pin_project! {
    /// Runs a future and turns a panic into `Err(())`.
    pub(crate) struct CatchUnwind<F> {
        #[pin]
        inner: F,
    }
}

pub(crate) fn catch_unwind_future<F: Future>(inner: F) -> CatchUnwind<F> {
    CatchUnwind { inner }
}

impl<F: Future> Future for CatchUnwind<F> {
    type Output = Result<F::Output, String>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = self.project().inner;
        match catch_unwind(AssertUnwindSafe(|| inner.poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
            Err(payload) => {
                let msg = payload
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "non-string panic payload".into());
                Poll::Ready(Err(msg))
            }
        }
    }
}
