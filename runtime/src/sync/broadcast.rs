//! A broadcast hub across cores: a message sent from any core (or any
//! thread) reaches every subscriber on every core.
//!
//! Each core that has subscribers holds one fan-out: a task that receives
//! from a cross-core [`mpsc`] channel and copies each message
//! into its local subscribers' queues. So a message crosses to each core
//! once, however many subscribers that core has. A subscriber that falls
//! more than its queue's capacity behind loses the oldest messages and is
//! told how many ([`Lagged`]), so one slow reader never grows memory.
//!
//! ```
//! use percore_runtime::{Runtime, sync::broadcast::Hub};
//! let hub = Hub::<String>::new();
//! let got = Runtime::new().unwrap().block_on(async move {
//!     let mut sub = hub.subscribe();
//!     hub.send("hello".to_string());
//!     sub.recv().await
//! });
//! assert_eq!(got, Some(Ok("hello".to_string())));
//! ```

use std::any::Any;
use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::future::poll_fn;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};

use slab::Slab;

use super::{lock, mpsc};
use crate::task::spawn_local;

/// Messages a subscriber may fall behind before the oldest are dropped.
pub const DEFAULT_CAPACITY: usize = 1024;

static NEXT_HUB: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// This core's fan-outs, by hub id.
    static FANOUTS: RefCell<HashMap<u64, Rc<dyn Any>>> = RefCell::new(HashMap::new());
}

/// The receiver fell behind and `0` messages were dropped for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lagged(pub u64);

impl fmt::Display for Lagged {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "subscriber lagged: {} messages dropped", self.0)
    }
}

impl std::error::Error for Lagged {}

struct HubInner<T> {
    id: u64,
    capacity: usize,
    /// One sender per core that has a fan-out.
    cores: Mutex<Vec<mpsc::Sender<T>>>,
}

/// A broadcast hub shared by every core (clone it into each worker).
pub struct Hub<T> {
    inner: Arc<HubInner<T>>,
}

impl<T> Clone for Hub<T> {
    fn clone(&self) -> Self {
        Hub {
            inner: self.inner.clone(),
        }
    }
}

impl<T: Clone + Send + 'static> Default for Hub<T> {
    fn default() -> Self {
        Hub::new()
    }
}

impl<T> fmt::Debug for Hub<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hub").field("id", &self.inner.id).finish()
    }
}

struct Subscription<T> {
    queue: VecDeque<T>,
    lagged: u64,
    waker: Option<Waker>,
}

/// A core's local subscribers of one hub.
struct Fanout<T> {
    capacity: usize,
    subscribers: RefCell<Slab<Subscription<T>>>,
}

impl<T: Clone> Fanout<T> {
    fn deliver(&self, msg: T) {
        let mut subs = self.subscribers.borrow_mut();
        for (_, sub) in subs.iter_mut() {
            if sub.queue.len() == self.capacity {
                sub.queue.pop_front();
                sub.lagged += 1;
            }
            sub.queue.push_back(msg.clone());
            if let Some(w) = sub.waker.take() {
                w.wake();
            }
        }
    }
}

impl<T: Clone + Send + 'static> Hub<T> {
    /// A hub whose subscribers may fall [`DEFAULT_CAPACITY`] messages behind.
    pub fn new() -> Hub<T> {
        Hub::with_capacity(DEFAULT_CAPACITY)
    }

    /// A hub whose subscribers may fall `capacity` messages behind.
    pub fn with_capacity(capacity: usize) -> Hub<T> {
        Hub {
            inner: Arc::new(HubInner {
                id: NEXT_HUB.fetch_add(1, Ordering::Relaxed),
                capacity: capacity.max(1),
                cores: Mutex::new(Vec::new()),
            }),
        }
    }

    /// Sends `msg` to every subscriber on every core. Never blocks; callable
    /// from any thread.
    pub fn send(&self, msg: T) {
        let mut cores = lock(&self.inner.cores);
        // A core whose runtime ended has dropped its receiver: forget it.
        cores.retain(|tx| tx.try_send(msg.clone()).is_ok());
    }

    /// Joins the hub on the current core (which must be running a percore
    /// runtime): the subscriber receives every message sent from now on.
    pub fn subscribe(&self) -> Subscriber<T> {
        let fanout = self.local_fanout();
        let key = fanout.subscribers.borrow_mut().insert(Subscription {
            queue: VecDeque::new(),
            lagged: 0,
            waker: None,
        });
        Subscriber { fanout, key }
    }

    /// This core's fan-out, started on first use.
    fn local_fanout(&self) -> Rc<Fanout<T>> {
        let id = self.inner.id;
        let existing = FANOUTS.with(|f| f.borrow().get(&id).cloned());
        if let Some(any) = existing {
            if let Ok(fanout) = any.downcast::<Fanout<T>>() {
                return fanout;
            }
        }
        let fanout = Rc::new(Fanout {
            capacity: self.inner.capacity,
            subscribers: RefCell::new(Slab::new()),
        });
        let (tx, mut rx) = mpsc::unbounded::<T>();
        lock(&self.inner.cores).push(tx);
        let pump = fanout.clone();
        // Detached (dropping the handle does not stop it); it ends with the runtime.
        drop(spawn_local(async move {
            let _registered = Registered(id);
            while let Some(msg) = rx.recv().await {
                pump.deliver(msg);
            }
        }));
        FANOUTS.with(|f| f.borrow_mut().insert(id, fanout.clone() as Rc<dyn Any>));
        fanout
    }
}

/// Held by a fan-out task: when the task goes (its runtime ends), the core
/// forgets the fan-out, so a later runtime on this thread starts a new one.
struct Registered(u64);

impl Drop for Registered {
    fn drop(&mut self) {
        let _ = FANOUTS.try_with(|f| f.borrow_mut().remove(&self.0));
    }
}

/// One subscriber of a [`Hub`], on the core where it subscribed.
pub struct Subscriber<T> {
    fanout: Rc<Fanout<T>>,
    key: usize,
}

impl<T> fmt::Debug for Subscriber<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscriber")
            .field("key", &self.key)
            .finish()
    }
}

impl<T: Clone> Subscriber<T> {
    /// The next message; `Err(Lagged(n))` once after `n` messages were
    /// dropped because this subscriber fell behind. Never ends (`None` is
    /// reserved for a hub that can no longer deliver).
    pub async fn recv(&mut self) -> Option<Result<T, Lagged>> {
        poll_fn(|cx| {
            let mut subs = self.fanout.subscribers.borrow_mut();
            let Some(sub) = subs.get_mut(self.key) else {
                return Poll::Ready(None);
            };
            if sub.lagged > 0 {
                return Poll::Ready(Some(Err(Lagged(std::mem::take(&mut sub.lagged)))));
            }
            if let Some(msg) = sub.queue.pop_front() {
                return Poll::Ready(Some(Ok(msg)));
            }
            sub.waker = Some(cx.waker().clone());
            Poll::Pending
        })
        .await
    }
}

impl<T> Drop for Subscriber<T> {
    fn drop(&mut self) {
        self.fanout.subscribers.borrow_mut().try_remove(self.key);
    }
}
