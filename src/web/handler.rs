//! Handlers: `async fn(Request) -> impl IntoResponse`.

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use super::conn_slot::{FnSlot, ReplySlot};
use super::{IntoResponse, Reply, Request, Response};

/// A boxed response future.
pub type BoxFuture = Pin<Box<dyn Future<Output = Response>>>;

/// A request handler. Implemented for every `Fn(Request) -> impl Future`
/// whose output implements [`IntoResponse`]; handlers run on one core and
/// need not be `Send`.
pub trait Handler: 'static {
    /// Handles a request.
    fn call(&self, req: Request) -> BoxFuture;

    /// Handles a request whose answer goes straight to the server (no
    /// middleware between): the answer as a [`Reply`], so an in-memory
    /// one is written without a `HeaderMap` (see
    /// [`IntoResponse::into_reply`]). The default is [`call`](Self::call)'s
    /// response.
    #[inline]
    fn call_reply(&self, req: Request) -> ReplyFuture {
        ReplyFuture::Response(self.call(req))
    }

    /// A place for this handler's futures that one HTTP/1.1 connection
    /// reuses while its requests keep coming to this handler (its answers
    /// going straight to the server, as with
    /// [`call_reply`](Self::call_reply)): each request's future is built
    /// in it, in place of the last one, so the request costs no
    /// allocation. `None` (the default): each request's future is boxed.
    fn slot(self: Rc<Self>) -> Option<Pin<Box<dyn ReplySlot>>> {
        None
    }
}

/// A handler's answer on its way ([`Handler::call_reply`]).
pub enum ReplyFuture {
    /// A response future, as [`Handler::call`] returns.
    Response(BoxFuture),
    /// A future of the answer as the server writes it.
    Reply(Pin<Box<dyn Future<Output = Reply>>>),
}

impl std::fmt::Debug for ReplyFuture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ReplyFuture::Response(_) => "ReplyFuture::Response",
            ReplyFuture::Reply(_) => "ReplyFuture::Reply",
        })
    }
}

impl Future for ReplyFuture {
    type Output = Reply;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Reply> {
        match self.get_mut() {
            ReplyFuture::Response(f) => f.as_mut().poll(cx).map(Reply::from),
            ReplyFuture::Reply(f) => f.as_mut().poll(cx),
        }
    }
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

    #[inline]
    fn call_reply(&self, req: Request) -> ReplyFuture {
        let fut = self(req);
        ReplyFuture::Reply(Box::pin(async move { fut.await.into_reply() }))
    }

    fn slot(self: Rc<Self>) -> Option<Pin<Box<dyn ReplySlot>>> {
        Some(FnSlot::boxed(self))
    }
}
