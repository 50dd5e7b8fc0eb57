//! The handler contract shared by HTTP/1.1 and HTTP/2.

use std::any::Any;
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

    /// [`call_head`](Service::call_head) with the connection's
    /// [`ConnState`]: what the service kept from the connection's earlier
    /// requests, which it may use and change (the web `App` keeps the
    /// place of the last route's future there, and restarts it in place
    /// for the next request of the same route: no allocation per
    /// request). The server calls this for every HTTP/1.1 request it
    /// hands over as a raw head; the default ignores `conn` and calls
    /// `call_head`.
    fn call_head_in<'a>(
        &'a self,
        conn: &'a mut ConnState,
        head: RawHead,
        body: RequestBody,
    ) -> impl Future<Output = Reply> + 'a {
        let _ = conn;
        self.call_head(head, body)
    }
}

/// What a [`Service`] keeps between the requests of one HTTP/1.1
/// connection ([`Service::call_head_in`]): empty at first, one value of
/// the service's choice once set. It lives while the connection is busy
/// (it is dropped with the connection's worker, when the connection ends
/// or goes idle), and it is never shared between connections.
#[derive(Default)]
pub struct ConnState(Option<Box<dyn Any>>);

impl std::fmt::Debug for ConnState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnState")
            .field("set", &self.0.is_some())
            .finish()
    }
}

impl ConnState {
    /// The value kept, if it is a `T`.
    #[inline]
    pub fn get_mut<T: 'static>(&mut self) -> Option<&mut T> {
        self.0.as_mut().and_then(|v| v.downcast_mut())
    }

    /// The value kept, made with `make` when there is none or it is not
    /// a `T` (the value replaced is dropped).
    #[inline]
    pub fn get_or_insert_with<T: 'static>(&mut self, make: impl FnOnce() -> T) -> &mut T {
        if !self.0.as_ref().is_some_and(|v| v.is::<T>()) {
            self.0 = Some(Box::new(make()));
        }
        match self.get_mut() {
            Some(v) => v,
            None => unreachable!("a T was put in just above"),
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
        self.project().inner.poll(cx).map(Reply::from)
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
    /// Runs a future; a panic while it is polled ends it with the answer
    /// `on_panic` gives for the panic's payload (the server's 500, say).
    /// A ready answer is returned as the inner future gave it (no
    /// `Result` to take it out of: one copy of it less). A panic while the
    /// inner future is being made (before `new`) is not caught here. Like
    /// any future, it is not to be polled again once ready.
    ///
    /// ```
    /// use percore_http::CatchUnwind;
    /// let fut = CatchUnwind::new(async { panic!("boom") }, |_payload| 500);
    /// let answer = percore_runtime::Runtime::new().unwrap().block_on(fut);
    /// assert_eq!(answer, 500);
    /// ```
    pub struct CatchUnwind<F, P> {
        #[pin]
        inner: F,
        on_panic: P,
    }
}

impl<F, P> CatchUnwind<F, P>
where
    F: Future,
    P: FnMut(Box<dyn Any + Send>) -> F::Output,
{
    /// Runs `inner`, answering a panic with `on_panic`.
    #[inline]
    pub fn new(inner: F, on_panic: P) -> CatchUnwind<F, P> {
        CatchUnwind { inner, on_panic }
    }
}

impl<F, P> std::fmt::Debug for CatchUnwind<F, P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CatchUnwind").finish_non_exhaustive()
    }
}

impl<F, P> Future for CatchUnwind<F, P>
where
    F: Future,
    P: FnMut(Box<dyn Any + Send>) -> F::Output,
{
    type Output = F::Output;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let inner = this.inner;
        match catch_unwind(AssertUnwindSafe(|| inner.poll(cx))) {
            Ok(poll) => poll,
            Err(payload) => Poll::Ready((this.on_panic)(payload)),
        }
    }
}

/// A panic's message, for the log.
#[cold]
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic payload".into())
}
