//! An optional deadline around a future, in one value: no copy of the
//! future kept beside its timeout (see [`within`]).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use percore_runtime::time::{sleep_until, Elapsed, Sleep};

use crate::error::{Error, TimeoutKind};

pin_project_lite::pin_project! {
    /// `future`, failing with [`Elapsed`] at the deadline when there is
    /// one. Made by [`within`].
    pub(crate) struct Within<F> {
        #[pin]
        future: F,
        sleep: Option<Sleep>,
    }
}

/// Runs `future` until `deadline` (forever when `None`).
///
/// One type for both cases: `match deadline { Some(at) =>
/// timeout_at(at, f).await, None => f.await }` keeps `f` and the timeout
/// around it in separate slots of the calling future, twice the size of
/// `f`, and the request's future is moved a few times per request.
pub(crate) fn within<F: Future>(deadline: Option<Instant>, future: F) -> Within<F> {
    Within {
        future,
        sleep: deadline.map(sleep_until),
    }
}

impl<F: Future> Future for Within<F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Poll::Ready(out) = this.future.poll(cx) {
            return Poll::Ready(Ok(out));
        }
        match this.sleep {
            Some(sleep) => Pin::new(sleep).poll(cx).map(|()| Err(Elapsed)),
            None => Poll::Pending,
        }
    }
}

pin_project_lite::pin_project! {
    /// [`within`] whose timeout is an [`Error`] of the given kind.
    pub(crate) struct Bounded<F> {
        #[pin]
        inner: Within<F>,
        which: TimeoutKind,
    }
}

impl<F: Future> Bounded<F> {
    /// `future` until `deadline` (forever when `None`), then a
    /// `which` timeout.
    pub(crate) fn new(deadline: Option<Instant>, which: TimeoutKind, future: F) -> Bounded<F> {
        Bounded {
            inner: within(deadline, future),
            which,
        }
    }
}

impl<F: Future> Future for Bounded<F> {
    type Output = Result<F::Output, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let which = *this.which;
        this.inner
            .poll(cx)
            .map(|r| r.map_err(|_| Error::timeout(which)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn no_deadline_waits_for_the_future() {
        let rt = percore_runtime::Runtime::new().expect("runtime");
        let out = rt.block_on(within(None, async {
            percore_runtime::time::sleep(Duration::from_millis(20)).await;
            7
        }));
        assert_eq!(out, Ok(7));
    }

    #[test]
    fn a_deadline_that_passes_first_is_elapsed() {
        let rt = percore_runtime::Runtime::new().expect("runtime");
        let at = Instant::now() + Duration::from_millis(10);
        let out = rt.block_on(within(Some(at), async {
            percore_runtime::time::sleep(Duration::from_secs(5)).await;
        }));
        assert_eq!(out, Err(Elapsed));
    }

    #[test]
    fn one_value_no_bigger_than_the_future_and_its_timer() {
        let f = async { [0u8; 1024] };
        let size = std::mem::size_of_val(&f);
        let w = within(None, f);
        assert!(std::mem::size_of_val(&w) <= size + 64);
    }
}
