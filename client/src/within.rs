//! An optional deadline around a future, in one value: no copy of the
//! future kept beside its timeout (see [`within`]).
//!
//! One timer per request: a request's total deadline ([`within`]) and
//! its reads' deadlines ([`Bounded`], each the earlier of the read
//! timeout and the total deadline, failing with the kind of the one it
//! is) would be two runtime timers whenever the request waits on a read.
//! A [`Bounded`] waiting with a deadline notes it for the poll it is in
//! ([`COVER`]); a [`within`] around it that finds a deadline at or before
//! its own noted there arms no timer of its own: the read's timer ends
//! the wait in time, with a `Total` timeout when the total deadline is
//! the one that passed.
//!
//! A connection's waits (an HTTP/1.1 request's write and reads) use a
//! timer the connection keeps ([`LazyTimer`]): armed once and moved only
//! when it fires before the current deadline, or when a wait needs it
//! earlier, instead of a timer armed and cancelled per wait (each a
//! runtime heap insertion and removal).

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use percore_runtime::time::{coarse_now, sleep_until, Elapsed, Sleep};

use crate::error::{Error, TimeoutKind};

thread_local! {
    /// The earliest deadline of a [`Bounded`] that returned `Pending` in
    /// the current poll of a covering [`Within`] (reset by it before it
    /// polls its future; one runtime per thread, one poll at a time).
    static COVER: Cell<Option<Instant>> = const { Cell::new(None) };
}

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
///
/// While `future` waits on a [`Bounded`] whose deadline is at or before
/// `deadline`, no timer of its own is armed: that one wakes the task in
/// time, and `future` then fails on its own.
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
        COVER.set(None);
        if let Poll::Ready(out) = this.future.poll(cx) {
            return Poll::Ready(Ok(out));
        }
        let Some(sleep) = this.sleep else {
            return Poll::Pending;
        };
        if COVER.get().is_some_and(|at| at <= sleep.deadline()) {
            // A waiting read's (or write's) timer ends this wait by the
            // deadline.
            return Poll::Pending;
        }
        Pin::new(sleep).poll(cx).map(|()| Err(Elapsed))
    }
}

/// A timer kept across waits (by a connection, for all its requests):
/// armed at most at the deadline of the wait that armed it, it wakes its
/// task no later than any deadline at or after that. A wait for a later
/// deadline leaves it as it is; when it fires before the deadline of the
/// wait in progress, it is armed again for that one. So a connection
/// whose deadlines move forward by seconds with each request arms its
/// timer about once per timeout, not once per wait. (While nothing waits
/// on it, it may wake the task that last did: a harmless extra poll.)
#[derive(Debug, Default)]
pub(crate) struct LazyTimer {
    sleep: Option<Sleep>,
}

impl LazyTimer {
    /// `Ready` once the turn's clock reaches `due`; the task is woken by
    /// then.
    fn poll_due(&mut self, due: Instant, cx: &mut Context<'_>) -> Poll<()> {
        let sleep = self.sleep.get_or_insert_with(|| sleep_until(due));
        if sleep.deadline() > due {
            sleep.reset(due); // needed earlier than it is armed
        }
        loop {
            match Pin::new(&mut *sleep).poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(()) if coarse_now() >= due => return Poll::Ready(()),
                // Fired at an earlier wait's deadline: arm it for this one.
                Poll::Ready(()) => sleep.reset(due),
            }
        }
    }
}

/// The timer of a [`Bounded`] wait: its own, or one kept across waits.
#[derive(Debug)]
pub(crate) enum Clock<'t> {
    /// A timer of its own, armed when the wait first waits and cancelled
    /// with it.
    Own(LazyTimer),
    /// A connection's timer (see [`LazyTimer`]).
    Kept(&'t mut LazyTimer),
}

impl Clock<'_> {
    /// A timer of the wait's own.
    pub(crate) fn own() -> Clock<'static> {
        Clock::Own(LazyTimer::default())
    }

    fn timer(&mut self) -> &mut LazyTimer {
        match self {
            Clock::Own(t) => t,
            Clock::Kept(t) => t,
        }
    }
}

pin_project_lite::pin_project! {
    /// `future` until a deadline (forever when `None`), then an [`Error`]
    /// of the given kind.
    pub(crate) struct Bounded<'t, F> {
        #[pin]
        future: F,
        due: Option<Instant>,
        clock: Clock<'t>,
        which: TimeoutKind,
        // Whether its deadline is noted in `COVER` (it waits).
        noted: bool,
    }

    impl<'t, F> PinnedDrop for Bounded<'t, F> {
        fn drop(this: Pin<&mut Self>) {
            // Dropped while waiting (a race lost in the same poll): its
            // timer goes with it, so a `within` around must arm its own.
            if this.noted {
                COVER.set(None);
            }
        }
    }
}

impl<'t, F: Future> Bounded<'t, F> {
    /// `future` until `deadline` (forever when `None`), timed by `clock`,
    /// then a `which` timeout.
    pub(crate) fn new(
        deadline: Option<Instant>,
        which: TimeoutKind,
        clock: Clock<'t>,
        future: F,
    ) -> Bounded<'t, F> {
        Bounded {
            future,
            due: deadline,
            clock,
            which,
            noted: false,
        }
    }
}

impl<F: Future> Future for Bounded<'_, F> {
    type Output = Result<F::Output, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        *this.noted = false;
        if let Poll::Ready(out) = this.future.poll(cx) {
            return Poll::Ready(Ok(out));
        }
        let Some(due) = *this.due else {
            return Poll::Pending;
        };
        if this.clock.timer().poll_due(due, cx).is_ready() {
            return Poll::Ready(Err(Error::timeout(*this.which)));
        }
        // Note this wait's deadline for a `within` around it.
        COVER.set(Some(COVER.get().map_or(due, |c| c.min(due))));
        *this.noted = true;
        Poll::Pending
    }
}

/// `fut`, failing with the read timeout after `read` or the total one at
/// `total`, whichever comes first (on a timer of its own).
pub(crate) fn read_bounded<F: Future>(
    read: Option<Duration>,
    total: Option<Instant>,
    fut: F,
) -> Bounded<'static, F> {
    bounded(Clock::own(), read, total, fut)
}

/// [`read_bounded`] on `clock`.
pub(crate) fn bounded<F: Future>(
    clock: Clock<'_>,
    read: Option<Duration>,
    total: Option<Instant>,
    fut: F,
) -> Bounded<'_, F> {
    let read_at = read.map(|d| crate::now() + d);
    let (at, which) = match (read_at, total) {
        (Some(r), Some(t)) if t < r => (Some(t), TimeoutKind::Total),
        (Some(r), _) => (Some(r), TimeoutKind::Read),
        (None, Some(t)) => (Some(t), TimeoutKind::Total),
        (None, None) => (None, TimeoutKind::Read),
    };
    Bounded::new(at, which, clock, fut)
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
    fn a_read_dropped_while_waiting_leaves_the_deadline_armed() {
        let rt = percore_runtime::Runtime::new().expect("runtime");
        let start = Instant::now();
        let out = rt.block_on(within(
            Some(start + Duration::from_millis(30)),
            async move {
                // The read waits (its deadline noted), then loses the
                // race in the same poll and is dropped.
                let read = Bounded::new(
                    Some(start + Duration::from_millis(10)),
                    TimeoutKind::Read,
                    Clock::own(),
                    std::future::pending::<()>(),
                );
                let _ = percore_runtime::future::race(read, std::future::ready(())).await;
                percore_runtime::time::sleep(Duration::from_secs(5)).await;
            },
        ));
        assert_eq!(out, Err(Elapsed));
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "{:?}",
            start.elapsed()
        );
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
    fn a_later_read_deadline_does_not_stand_for_the_total_one() {
        let rt = percore_runtime::Runtime::new().expect("runtime");
        let now = Instant::now();
        let read = Bounded::new(
            Some(now + Duration::from_secs(5)),
            TimeoutKind::Read,
            Clock::own(),
            percore_runtime::time::sleep(Duration::from_secs(10)),
        );
        let t0 = Instant::now();
        let out = rt.block_on(within(Some(now + Duration::from_millis(20)), read));
        assert_eq!(out.map(|r| r.is_ok()), Err(Elapsed));
        assert!(t0.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn an_earlier_read_deadline_ends_the_wait_with_its_own_kind() {
        let rt = percore_runtime::Runtime::new().expect("runtime");
        let now = Instant::now();
        let read = Bounded::new(
            Some(now + Duration::from_millis(20)),
            TimeoutKind::Total,
            Clock::own(),
            percore_runtime::time::sleep(Duration::from_secs(10)),
        );
        let t0 = Instant::now();
        let out = rt.block_on(within(Some(now + Duration::from_millis(20)), read));
        let kind = out.expect("the read's own timeout").map_err(|e| e.kind());
        assert_eq!(kind, Err(crate::ErrorKind::Timeout(TimeoutKind::Total)));
        assert!(t0.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn one_value_no_bigger_than_the_future_and_its_timer() {
        let f = async { [0u8; 1024] };
        let size = std::mem::size_of_val(&f);
        let w = within(None, f);
        assert!(std::mem::size_of_val(&w) <= size + 64);
    }
}
