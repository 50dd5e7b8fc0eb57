//! Small future combinators.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// One of two outcomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Either<A, B> {
    /// The first future finished first.
    Left(A),
    /// The second future finished first.
    Right(B),
}

pin_project_lite::pin_project! {
    /// Future of [`race`].
    pub struct Race<A, B> {
        #[pin]
        a: A,
        #[pin]
        b: B,
    }
}

/// Runs two futures and returns the output of whichever finishes first
/// (the first one when both are ready); the other is dropped.
///
/// ```
/// use percore_runtime::{Runtime, future::{race, Either}, time::sleep};
/// use std::time::Duration;
/// let r = Runtime::new().unwrap().block_on(race(
///     async { 1 },
///     sleep(Duration::from_secs(5)),
/// ));
/// assert_eq!(r, Either::Left(1));
/// ```
pub fn race<A: Future, B: Future>(a: A, b: B) -> Race<A, B> {
    Race { a, b }
}

impl<A: Future, B: Future> Future for Race<A, B> {
    type Output = Either<A::Output, B::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Poll::Ready(v) = this.a.poll(cx) {
            return Poll::Ready(Either::Left(v));
        }
        if let Poll::Ready(v) = this.b.poll(cx) {
            return Poll::Ready(Either::Right(v));
        }
        Poll::Pending
    }
}
