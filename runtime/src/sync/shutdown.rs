//! A graceful-shutdown signal shared by every core.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use slab::Slab;

use super::lock;
use crate::wake_all;

struct Inner {
    triggered: AtomicBool,
    /// A wait polled by a runtime's own task has relied on the trigger
    /// waking every runtime's tasks (`wake_all`) instead of registering.
    relayed: AtomicBool,
    /// The other wakers waiting now: one entry per pending [`Wait`], removed when
    /// it is dropped, so connections that wait on every read cost O(1) and
    /// leave nothing behind.
    wakers: Mutex<Slab<Waker>>,
}

/// A one-way flag that any thread can raise and any task on any core can
/// await. Clones share the flag.
///
/// ```
/// use percore_runtime::{Runtime, sync::Shutdown};
/// let shutdown = Shutdown::new();
/// let s = shutdown.clone();
/// std::thread::spawn(move || s.trigger());
/// Runtime::new().unwrap().block_on(shutdown.wait());
/// assert!(shutdown.is_triggered());
/// ```
#[derive(Clone)]
pub struct Shutdown {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Shutdown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shutdown")
            .field("triggered", &self.is_triggered())
            .finish_non_exhaustive()
    }
}

impl Default for Shutdown {
    fn default() -> Self {
        Shutdown::new()
    }
}

impl Shutdown {
    /// A flag that is not raised.
    pub fn new() -> Shutdown {
        Shutdown {
            inner: Arc::new(Inner {
                triggered: AtomicBool::new(false),
                relayed: AtomicBool::new(false),
                wakers: Mutex::new(Slab::new()),
            }),
        }
    }

    /// Raises the flag and wakes every waiting task.
    pub fn trigger(&self) {
        self.inner.triggered.store(true, Ordering::SeqCst);
        let wakers = std::mem::take(&mut *lock(&self.inner.wakers));
        for (_, w) in wakers {
            w.wake();
        }
        // SeqCst with the store above and `Wait::poll`'s store then load:
        // either the wait sees the flag or this sees `relayed`.
        if self.inner.relayed.load(Ordering::SeqCst) {
            wake_all::wake_all_runtimes();
        }
    }

    /// Whether the flag is raised.
    pub fn is_triggered(&self) -> bool {
        self.inner.triggered.load(Ordering::Acquire)
    }

    /// Whether `other` is a clone of this flag.
    pub(crate) fn same(&self, other: &Shutdown) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// Waits until the flag is raised.
    pub fn wait(&self) -> Wait<'_> {
        Wait {
            shutdown: self,
            key: None,
        }
    }
}

/// Future of [`Shutdown::wait`].
#[derive(Debug)]
pub struct Wait<'a> {
    shutdown: &'a Shutdown,
    /// This waiter's entry among the registered wakers.
    key: Option<usize>,
}

impl Wait<'_> {
    /// Registers (or updates) this wait's waker: a wait not polled by its
    /// runtime's own task.
    #[inline(never)]
    fn register(&mut self, waker: &Waker) -> Poll<()> {
        let mut wakers = lock(&self.shutdown.inner.wakers);
        if self.shutdown.is_triggered() {
            return Poll::Ready(());
        }
        match self.key.and_then(|k| wakers.get_mut(k)) {
            Some(w) => {
                if !w.will_wake(waker) {
                    *w = waker.clone();
                }
            }
            None => self.key = Some(wakers.insert(waker.clone())),
        }
        Poll::Pending
    }

    /// Removes this wait's registered waker.
    #[inline(never)]
    fn unregister(&mut self, key: usize) {
        // After a trigger the slab was emptied (and nothing registers
        // again), so the key may be gone.
        lock(&self.shutdown.inner.wakers).try_remove(key);
    }
}

impl Future for Wait<'_> {
    type Output = ();

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let inner = &*this.shutdown.inner;
        if inner.triggered.load(Ordering::Acquire) {
            return Poll::Ready(());
        }
        if this.key.is_some() || !wake_all::polled_by_task(cx.waker()) {
            return this.register(cx.waker());
        }
        // The trigger will wake this task with every other: nothing to
        // register (a connection's every keep-alive wait comes here).
        if !inner.relayed.load(Ordering::SeqCst) {
            inner.relayed.store(true, Ordering::SeqCst);
        }
        if inner.triggered.load(Ordering::SeqCst) {
            return Poll::Ready(());
        }
        Poll::Pending
    }
}

impl Drop for Wait<'_> {
    #[inline]
    fn drop(&mut self) {
        if let Some(key) = self.key {
            self.unregister(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::task::Wake;

    struct Count(std::sync::atomic::AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn registered(s: &Shutdown) -> usize {
        lock(&s.inner.wakers).len()
    }

    #[test]
    fn dropped_waits_leave_no_waker_behind() {
        let shutdown = Shutdown::new();
        let count = Arc::new(Count(Default::default()));
        let waker = Waker::from(count.clone());
        let mut cx = Context::from_waker(&waker);
        for _ in 0..1000 {
            let mut w = std::pin::pin!(shutdown.wait());
            assert!(w.as_mut().poll(&mut cx).is_pending());
            assert!(w.as_mut().poll(&mut cx).is_pending());
            assert_eq!(registered(&shutdown), 1, "one entry per waiter");
        }
        assert_eq!(registered(&shutdown), 0);
    }

    #[test]
    fn trigger_wakes_every_pending_waiter_once() {
        let shutdown = Shutdown::new();
        let count = Arc::new(Count(Default::default()));
        let waker = Waker::from(count.clone());
        let mut cx = Context::from_waker(&waker);
        let mut a = Box::pin(shutdown.wait());
        let mut b = Box::pin(shutdown.wait());
        assert!(a.as_mut().poll(&mut cx).is_pending());
        assert!(b.as_mut().poll(&mut cx).is_pending());
        shutdown.trigger();
        assert_eq!(count.0.load(Ordering::SeqCst), 2);
        assert!(a.as_mut().poll(&mut cx).is_ready());
        drop(b); // its key is gone with the emptied slab: no panic
        let mut late = std::pin::pin!(shutdown.wait());
        assert!(late.as_mut().poll(&mut cx).is_ready());
        assert_eq!(registered(&shutdown), 0);
    }
}
