//! The app's answer to one request on its way ([`Dispatch`]): the
//! started handler's future, counted by the metrics and logged by the
//! access log when it is ready.

use std::any::Any;
use std::future::Future;
use std::panic;
use std::pin::Pin;
use std::task::{Context, Poll};

use percore_http::Reply;

use super::access_log;
use super::conn_slot::Answer;
use super::handler::{BoxFuture, ReplyFuture};
use super::metrics::{Arrival, Recorder};
use super::Response;

/// A started handler's future: a response's ([`BoxFuture`]) or a reply's
/// ([`ReplyFuture`]).
pub(super) trait Dispatched: Future + Unpin + Sized {
    /// A future that replays `payload`, a panic of routing or of a
    /// handler's start, when it is polled.
    fn replaying(payload: Box<dyn Any + Send>) -> Self;

    /// `answer` as the metrics and the access log read it.
    fn as_response(answer: Self::Output) -> Response;

    /// A response as this future's answer.
    fn from_response(resp: Response) -> Self::Output;
}

impl Dispatched for BoxFuture {
    fn replaying(payload: Box<dyn Any + Send>) -> BoxFuture {
        Box::pin(async move { panic::resume_unwind(payload) })
    }

    fn as_response(answer: Response) -> Response {
        answer
    }

    fn from_response(resp: Response) -> Response {
        resp
    }
}

impl Dispatched for Answer<'_> {
    fn replaying(payload: Box<dyn Any + Send>) -> Self {
        Answer::Boxed(ReplyFuture::replaying(payload))
    }

    fn as_response(answer: Reply) -> Response {
        answer.into_response()
    }

    fn from_response(resp: Response) -> Reply {
        Reply::from(resp)
    }
}

impl Dispatched for ReplyFuture {
    fn replaying(payload: Box<dyn Any + Send>) -> ReplyFuture {
        ReplyFuture::Response(BoxFuture::replaying(payload))
    }

    fn as_response(answer: Reply) -> Response {
        answer.into_response()
    }

    fn from_response(resp: Response) -> Reply {
        Reply::from(resp)
    }
}

/// The app's answer to one request, counted on completion when a
/// [`Recorder`] is installed.
pub(super) struct Dispatch<'a, F> {
    pub(super) inner: F,
    pub(super) recording: Option<(&'a Recorder, Arrival)>,
    pub(super) logging: Option<Box<access_log::Seen>>,
}

impl<F: Dispatched> Dispatch<'_, F> {
    /// [`poll`](Future::poll) when the metrics or the access log look at
    /// the answer: counts a wait, and counts and logs a finished answer
    /// (as a response: what the metrics and the access log read).
    #[inline(never)]
    fn poll_observed(&mut self, cx: &mut Context<'_>) -> Poll<F::Output> {
        let Poll::Ready(answer) = Pin::new(&mut self.inner).poll(cx) else {
            if let Some((_, arrival)) = self.recording.as_mut() {
                arrival.waits();
            }
            return Poll::Pending;
        };
        let resp = F::as_response(answer);
        if let Some((recorder, started)) = self.recording.take() {
            recorder.finish(started, &resp);
        }
        if let Some(seen) = self.logging.take() {
            access_log::departure(*seen, &resp);
        }
        Poll::Ready(F::from_response(resp))
    }
}

impl<F: Dispatched> Future for Dispatch<'_, F> {
    type Output = F::Output;

    #[inline]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        if self.recording.is_none() && self.logging.is_none() {
            // Nothing looks at the answer: the inner poll's result is
            // returned as it is, written once into the caller's slot.
            return Pin::new(&mut self.inner).poll(cx);
        }
        self.poll_observed(cx)
    }
}
