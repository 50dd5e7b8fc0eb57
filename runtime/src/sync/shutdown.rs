//! A graceful-shutdown signal shared by every core.

use std::future::poll_fn;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};

use super::lock;

struct Inner {
    triggered: AtomicBool,
    wakers: Mutex<Vec<Waker>>,
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
                wakers: Mutex::new(Vec::new()),
            }),
        }
    }

    /// Raises the flag and wakes every waiting task.
    pub fn trigger(&self) {
        self.inner.triggered.store(true, Ordering::Release);
        let wakers = std::mem::take(&mut *lock(&self.inner.wakers));
        for w in wakers {
            w.wake();
        }
    }

    /// Whether the flag is raised.
    pub fn is_triggered(&self) -> bool {
        self.inner.triggered.load(Ordering::Acquire)
    }

    /// Waits until the flag is raised.
    pub async fn wait(&self) {
        poll_fn(|cx| {
            if self.is_triggered() {
                return Poll::Ready(());
            }
            let mut wakers = lock(&self.inner.wakers);
            if self.is_triggered() {
                return Poll::Ready(());
            }
            if !wakers.iter().any(|w| w.will_wake(cx.waker())) {
                wakers.push(cx.waker().clone());
            }
            Poll::Pending
        })
        .await
    }
}
