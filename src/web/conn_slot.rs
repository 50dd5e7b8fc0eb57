//! A connection's slot for its handler's future: an HTTP/1.1 connection
//! whose requests keep coming to one route builds each request's future
//! in the place of the last one, instead of boxing it (an allocation and
//! a free per request).
//!
//! The app keeps, in the connection's [`ConnState`](percore_http::ConnState), the [`ReplySlot`] of
//! the last route's handler: the handler (an `Rc` clone of the router's)
//! and an `Option` of its future, pinned in one box made when the
//! connection first comes to that route. A request for the same handler
//! restarts the future in place (`Pin::set`); one for another handler
//! replaces the slot. A handler that has no slot (a custom [`Handler`]
//! that does not make one, a route with its own middleware, a nested
//! app's route) and every request that goes through app middleware are
//! boxed as before.

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use http::Method;

use super::app::AppId;
use super::handler::{Handler, ReplyFuture};
use super::{IntoResponse, Reply, Request};

/// A handler's reusable place for the future of one request after
/// another ([`Handler::slot`]): it holds the handler and at most one
/// future, which a new request replaces in place.
pub trait ReplySlot {
    /// Which handler this is the slot of: the address of the handler
    /// value the router holds (the `Rc` it was made from).
    fn handler(&self) -> *const ();

    /// Starts `req` in the slot (a future still there is dropped first).
    fn start(self: Pin<&mut Self>, req: Request);

    /// Polls the started future; once it is ready, the slot holds none.
    /// (Polled with none: a panic.)
    fn poll_reply(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Reply>;

    /// Drops the future the slot holds, if any.
    fn clear(self: Pin<&mut Self>);
}

pin_project_lite::pin_project! {
    /// The slot of a closure or `async fn` handler.
    pub(super) struct FnSlot<F, Fut> {
        handler: Rc<F>,
        #[pin]
        fut: Option<Fut>,
    }
}

impl<F, Fut, R> FnSlot<F, Fut>
where
    F: Fn(Request) -> Fut + 'static,
    Fut: Future<Output = R> + 'static,
    R: IntoResponse,
{
    /// An empty slot for `handler`.
    pub(super) fn boxed(handler: Rc<F>) -> Pin<Box<dyn ReplySlot>> {
        Box::pin(FnSlot { handler, fut: None })
    }
}

impl<F, Fut, R> ReplySlot for FnSlot<F, Fut>
where
    F: Fn(Request) -> Fut + 'static,
    Fut: Future<Output = R> + 'static,
    R: IntoResponse,
{
    fn handler(&self) -> *const () {
        Rc::as_ptr(&self.handler).cast()
    }

    #[inline]
    fn start(self: Pin<&mut Self>, req: Request) {
        let mut this = self.project();
        let fut = (**this.handler)(req);
        this.fut.set(Some(fut));
    }

    #[inline]
    fn poll_reply(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Reply> {
        let mut slot = self.project().fut;
        let Some(fut) = slot.as_mut().as_pin_mut() else {
            panic!("a handler's slot polled with no request started");
        };
        let answer = std::task::ready!(fut.poll(cx));
        slot.set(None);
        Poll::Ready(answer.into_reply())
    }

    fn clear(self: Pin<&mut Self>) {
        self.project().fut.set(None);
    }
}

/// A request started in a connection's [`ReplySlot`], polled there. Its
/// drop before the answer drops the slot's future (the request is over;
/// the slot stays for the next one).
pub(super) struct SlotCall<'a> {
    slot: Pin<&'a mut dyn ReplySlot>,
    done: bool,
}

impl<'a> SlotCall<'a> {
    /// Starts `req` in `slot`.
    #[inline]
    fn start(mut slot: Pin<&'a mut dyn ReplySlot>, req: Request) -> SlotCall<'a> {
        slot.as_mut().start(req);
        SlotCall { slot, done: false }
    }
}

impl Future for SlotCall<'_> {
    type Output = Reply;

    #[inline]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Reply> {
        let answer = self.slot.as_mut().poll_reply(cx);
        self.done = answer.is_ready();
        answer
    }
}

impl Drop for SlotCall<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.slot.as_mut().clear();
        }
    }
}

/// What the app keeps per HTTP/1.1 connection (in its [`ConnState`](percore_http::ConnState)):
/// the slot of the last route's handler, and the method and path of the
/// last request an exact route (no path parameters) took to it, with the
/// app whose router did (a service may hand one connection's requests to
/// several apps).
#[derive(Default)]
pub(super) struct LastRoute {
    slot: Option<Pin<Box<dyn ReplySlot>>>,
    /// The app that routed them (`None`: none yet).
    owner: Option<AppId>,
    /// The method and path the slot's handler was last routed from
    /// (method `None`: none kept).
    method: Option<Method>,
    path: Vec<u8>,
}

/// Longest path kept for [`LastRoute::routed`] (longer ones are routed
/// every time).
const KEPT_PATH_MAX: usize = 256;

impl LastRoute {
    /// The slot kept, if any (for tests: which one, where).
    #[cfg(test)]
    pub(super) fn slot(&self) -> Option<&dyn ReplySlot> {
        self.slot.as_deref()
    }

    /// Whether the last request routed here had this method and path,
    /// and went by an exact route of `owner`'s router: that router would
    /// take this one to the same handler (an app's routes do not change
    /// while it serves).
    #[inline]
    pub(super) fn routed(&self, owner: AppId, method: &Method, path: &[u8]) -> bool {
        self.method.as_ref() == Some(method) && self.owner == Some(owner) && self.path == path
    }

    /// Starts `req`, which [`routed`](Self::routed) said goes where the
    /// last one went, in the slot.
    #[inline]
    pub(super) fn start_again(&mut self, req: Request) -> Answer<'_> {
        match self.slot.as_mut() {
            Some(slot) => Answer::Slot(SlotCall::start(slot.as_mut(), req)),
            None => unreachable!("a path is kept only with its slot"),
        }
    }

    /// Keeps `req`'s method and path (an exact route of `owner`'s took it
    /// to the slot's handler), or forgets the last ones.
    fn keep_route(&mut self, owner: AppId, req: &Request, exact: bool) {
        let path = req.path_bytes();
        match req.raw_method() {
            Some(method) if exact && path.len() <= KEPT_PATH_MAX => {
                self.owner = Some(owner);
                if self.method.as_ref() != Some(method) {
                    self.method = Some(method.clone());
                }
                if self.path != path {
                    self.path.clear();
                    self.path.extend_from_slice(path);
                }
            }
            _ => self.method = None,
        }
    }
}

/// A request's answer on its way, from [`start`].
pub(super) enum Answer<'c> {
    /// In the connection's slot.
    Slot(SlotCall<'c>),
    /// Boxed.
    Boxed(ReplyFuture),
}

impl Future for Answer<'_> {
    type Output = Reply;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Reply> {
        match self.get_mut() {
            Answer::Slot(call) => Pin::new(call).poll(cx),
            Answer::Boxed(fut) => Pin::new(fut).poll(cx),
        }
    }
}

/// Starts routed `req` for `handler`, whose answer goes straight to the
/// server: in the connection's slot when the handler has one (the slot
/// kept if it is this handler's, else a new one in its place), else
/// boxed ([`Handler::call_reply`]). `exact`: an exact route of `owner`
/// (the routing app) took it there (kept for [`LastRoute::routed`]).
#[inline(always)]
pub(super) fn start<'c>(
    last: &'c mut LastRoute,
    owner: AppId,
    handler: &Rc<dyn Handler>,
    req: Request,
    exact: bool,
) -> Answer<'c> {
    let same = last
        .slot
        .as_ref()
        .is_some_and(|slot| slot.handler() == Rc::as_ptr(handler).cast::<()>());
    if !same {
        match handler.clone().slot() {
            Some(slot) => last.slot = Some(slot),
            None => return Answer::Boxed(handler.call_reply(req)),
        }
    }
    last.keep_route(owner, &req, exact);
    last.start_again(req)
}

#[cfg(test)]
#[path = "conn_slot_tests.rs"]
mod tests;
