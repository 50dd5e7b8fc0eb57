//! The app's answer to one request on its way ([`Dispatch`]): the
//! started handler's future, counted by the metrics and logged by the
//! access log when it is ready (from its [`Outcome`]).

use std::any::Any;
use std::future::Future;
use std::panic;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::{HeaderMap, StatusCode};
use percore_http::Reply;

use super::access_log;
use super::conn_slot::Answer;
use super::handler::{BoxFuture, ReplyFuture};
use super::metrics::{Arrival, Recorder};
use super::request_id::X_REQUEST_ID;
use super::Response;

/// A started handler's future: a response's ([`BoxFuture`]) or a reply's
/// ([`ReplyFuture`]).
pub(super) trait Dispatched: Future + Unpin + Sized {
    /// A future that replays `payload`, a panic of routing or of a
    /// handler's start, when it is polled.
    fn replaying(payload: Box<dyn Any + Send>) -> Self;

    /// `answer` as the metrics and the access log read it.
    fn outcome(answer: &Self::Output) -> Outcome<'_>;
}

impl Dispatched for BoxFuture {
    fn replaying(payload: Box<dyn Any + Send>) -> BoxFuture {
        Box::pin(async move { panic::resume_unwind(payload) })
    }

    fn outcome(answer: &Response) -> Outcome<'_> {
        Outcome::of_response(answer)
    }
}

impl Dispatched for Answer<'_> {
    fn replaying(payload: Box<dyn Any + Send>) -> Self {
        Answer::Boxed(ReplyFuture::replaying(payload))
    }

    fn outcome(answer: &Reply) -> Outcome<'_> {
        Outcome::of_reply(answer)
    }
}

impl Dispatched for ReplyFuture {
    fn replaying(payload: Box<dyn Any + Send>) -> ReplyFuture {
        ReplyFuture::Response(BoxFuture::replaying(payload))
    }

    fn outcome(answer: &Reply) -> Outcome<'_> {
        Outcome::of_reply(answer)
    }
}

/// What the metrics and the access log read of an answer: its status,
/// its body's length when known, and its `x-request-id` field. Read from
/// a [`Plain`](percore_http::Plain) reply's parts as they are: no response is built for them.
#[derive(Clone, Copy)]
pub(crate) struct Outcome<'a> {
    /// The status.
    pub(crate) status: StatusCode,
    /// The body's length, when known.
    pub(crate) body_len: Option<u64>,
    /// The answer's fields (a `Plain` reply's only one is `content-type`).
    headers: Option<&'a HeaderMap>,
}

impl<'a> Outcome<'a> {
    /// A response's.
    pub(crate) fn of_response(resp: &'a Response) -> Outcome<'a> {
        Outcome {
            status: resp.status(),
            body_len: resp.body().size_hint(),
            headers: Some(resp.headers()),
        }
    }

    /// A reply's (a [`Plain`](percore_http::Plain) one's as the response it stands for).
    pub(crate) fn of_reply(reply: &'a Reply) -> Outcome<'a> {
        match reply {
            Reply::Response(resp) => Outcome::of_response(resp),
            Reply::Plain(plain) => Outcome {
                status: plain.status,
                body_len: Some(plain.body.len() as u64),
                headers: None,
            },
        }
    }

    /// The answer's `x-request-id`, if it has a valid one.
    pub(crate) fn request_id(&self) -> Option<&'a str> {
        self.headers?.get(X_REQUEST_ID)?.to_str().ok()
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
    /// (its [`Outcome`]).
    #[inline(never)]
    fn poll_observed(&mut self, cx: &mut Context<'_>) -> Poll<F::Output> {
        let Poll::Ready(answer) = Pin::new(&mut self.inner).poll(cx) else {
            if let Some((_, arrival)) = self.recording.as_mut() {
                arrival.waits();
            }
            return Poll::Pending;
        };
        let outcome = F::outcome(&answer);
        if let Some((recorder, started)) = self.recording.take() {
            recorder.finish(started, outcome);
        }
        if let Some(seen) = self.logging.take() {
            access_log::departure(*seen, outcome);
        }
        Poll::Ready(answer)
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
