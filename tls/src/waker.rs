//! One waker that wakes every task that polled a shared in-flight operation.
//!
//! A [`TlsStream`](crate::TlsStream) keeps its socket read and its socket
//! write inside the stream, and more than one task may drive them (a reader
//! flushes a protocol answer that a writer then waits on). The inner future
//! remembers only the last waker it was polled with, so it is polled with
//! this set's waker instead, and every task that waited is woken.

use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Wake, Waker};

/// The tasks waiting. Nearly always one (the connection's reader or its
/// writer), kept in `first` without an allocation: a `Vec` taken out at
/// every wake would be freed and allocated again for every socket read and
/// write.
#[derive(Default)]
struct Waiting {
    first: Option<Waker>,
    rest: Vec<Waker>,
}

#[derive(Default)]
struct Waiters(Mutex<Waiting>);

impl Wake for Waiters {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        // Taken out before waking: a waker may register again at once.
        let (first, rest) = {
            let mut waiting = self.0.lock().unwrap_or_else(PoisonError::into_inner);
            (waiting.first.take(), std::mem::take(&mut waiting.rest))
        };
        if let Some(waker) = first {
            waker.wake();
        }
        for waker in rest {
            waker.wake();
        }
    }
}

/// The waiters of one in-flight operation and the waker that wakes them all.
pub(crate) struct SharedWaker {
    waiters: Arc<Waiters>,
    waker: Waker,
}

impl SharedWaker {
    pub(crate) fn new() -> SharedWaker {
        let waiters = Arc::new(Waiters::default());
        SharedWaker {
            waker: Waker::from(waiters.clone()),
            waiters,
        }
    }

    /// Adds `waker` to the tasks woken when the operation makes progress.
    pub(crate) fn register(&self, waker: &Waker) {
        let mut waiting = self
            .waiters
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let Waiting { first, rest } = &mut *waiting;
        match first {
            None => *first = Some(waker.clone()),
            Some(w) if w.will_wake(waker) => {}
            Some(_) => {
                if !rest.iter().any(|w| w.will_wake(waker)) {
                    rest.push(waker.clone());
                }
            }
        }
    }

    /// The waker to poll the shared operation with.
    pub(crate) fn waker(&self) -> &Waker {
        &self.waker
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn wakes_every_registered_task_once() {
        let shared = SharedWaker::new();
        let a = Arc::new(Count(AtomicUsize::new(0)));
        let b = Arc::new(Count(AtomicUsize::new(0)));
        let (wa, wb) = (Waker::from(a.clone()), Waker::from(b.clone()));
        shared.register(&wa);
        shared.register(&wa);
        shared.register(&wb);
        shared.register(&wb);
        shared.waker().wake_by_ref();
        shared.waker().wake_by_ref();
        assert_eq!(a.0.load(Ordering::SeqCst), 1);
        assert_eq!(b.0.load(Ordering::SeqCst), 1);
        // Registered again after a wake: woken again, in either slot.
        let c = Arc::new(Count(AtomicUsize::new(0)));
        let wc = Waker::from(c.clone());
        shared.register(&wb);
        shared.register(&wc);
        shared.register(&wc);
        shared.waker().wake_by_ref();
        assert_eq!(b.0.load(Ordering::SeqCst), 2);
        assert_eq!(c.0.load(Ordering::SeqCst), 1);
    }
}
