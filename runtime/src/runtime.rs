//! The per-thread runtime: executor loop, thread-local context.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context as TaskContext, Poll, Waker};
use std::time::Instant;

use slab::Slab;

use crate::builder::Builder;
use crate::driver::{Driver, DriverInfo, Unparker};
use crate::task::{JoinError, JoinNotify, LocalFuture, Task, TaskWaker};
use crate::time::Timers;
use crate::wake_all;

/// Key the main future of `block_on` uses in run queues.
const MAIN_KEY: usize = usize::MAX;
/// Tasks polled per loop turn before the driver is polled for I/O again.
const BUDGET: usize = 128;

static NEXT_RUNTIME_ID: AtomicUsize = AtomicUsize::new(1);

thread_local! {
    static CONTEXT: RefCell<Option<Rc<Context>>> = const { RefCell::new(None) };
    /// The id of the runtime entered on this thread (0: none).
    pub(crate) static CURRENT_ID: Cell<usize> = const { Cell::new(0) };
}

/// The part of a runtime other threads may touch: its remote run queue and
/// the means to wake its parked loop.
pub(crate) struct Shared {
    pub(crate) id: usize,
    remote_queue: Mutex<Vec<usize>>,
    unpark_pending: AtomicBool,
    unparker: Unparker,
}

impl Shared {
    /// Queues task `key`; from a foreign thread this also wakes the loop.
    pub(crate) fn schedule(&self, key: usize) {
        if CURRENT_ID.with(Cell::get) == self.id {
            let queued = with_context(|cx| {
                if key == MAIN_KEY {
                    cx.main_woken.set(true);
                } else {
                    cx.run_queue.borrow_mut().push_back(key);
                }
            });
            if queued.is_some() {
                return;
            }
        }
        self.push_remote(key);
    }

    /// Queues `key` in the remote queue and wakes the loop.
    pub(crate) fn push_remote(&self, key: usize) {
        self.remote_queue
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(key);
        if !self.unpark_pending.swap(true, Ordering::AcqRel) {
            self.unparker.unpark();
        }
    }
}

/// Everything a runtime owns on its thread.
pub(crate) struct Context {
    pub(crate) shared: Arc<Shared>,
    pub(crate) run_queue: RefCell<VecDeque<usize>>,
    pub(crate) tasks: RefCell<Slab<Task>>,
    /// One waker per slab slot, made when the slot is first used and reused by
    /// every later task in it: a spawn allocates no waker. A waker that
    /// outlives its task can only cause a spurious poll of the slot's next
    /// task, as a key-based waker always could.
    /// (The `Waker` is made from it when the task is polled: a slot holds
    /// one pointer, not a pointer and a `Waker`.)
    wakers: RefCell<Vec<Arc<TaskWaker>>>,
    pub(crate) main_woken: Cell<bool>,
    pub(crate) driver: RefCell<Driver>,
    pub(crate) timers: RefCell<Timers>,
    pub(crate) info: DriverInfo,
}

/// Runs `f` with the current thread's runtime context, if there is one.
pub(crate) fn with_context<R>(f: impl FnOnce(&Context) -> R) -> Option<R> {
    CONTEXT
        .try_with(|c| c.borrow().as_ref().map(|cx| f(cx)))
        .ok()
        .flatten()
}

/// Like [`with_context`], for code that cannot work without a runtime.
pub(crate) fn context<R>(f: impl FnOnce(&Context) -> R) -> R {
    with_context(f).expect("percore: this must be called from inside a runtime (Runtime::block_on)")
}

impl Context {
    pub(crate) fn insert_task(
        &self,
        future: LocalFuture,
        notify: Option<Rc<dyn JoinNotify>>,
    ) -> usize {
        let mut tasks = self.tasks.borrow_mut();
        let entry = tasks.vacant_entry();
        let key = entry.key();
        let mut wakers = self.wakers.borrow_mut();
        // The slab's slots only grow, so a key is either reused or the next new one.
        while wakers.len() <= key {
            let state = Arc::new(TaskWaker {
                shared: self.shared.clone(),
                key: wakers.len(),
                scheduled: AtomicBool::new(true),
            });
            wakers.push(state);
        }
        wakers[key].scheduled.store(true, Ordering::Release);
        drop(wakers);
        entry.insert(Task {
            future: Some(future),
            notify,
            aborted: false,
        });
        self.run_queue.borrow_mut().push_back(key);
        key
    }

    pub(crate) fn abort_task(&self, key: usize) {
        let removed = {
            let mut tasks = self.tasks.borrow_mut();
            match tasks.get_mut(key) {
                Some(task) if task.future.is_none() => {
                    // Being polled right now: drop it when the poll returns.
                    task.aborted = true;
                    None
                }
                Some(_) => Some(tasks.remove(key)),
                None => None,
            }
        };
        // The future's destructor may touch the runtime: no borrow held here.
        drop(removed);
    }

    /// Polls one task. Returns false if the key named no runnable task.
    fn run_task(&self, key: usize) {
        let (mut future, waker) = {
            let mut tasks = self.tasks.borrow_mut();
            let Some(task) = tasks.get_mut(key) else {
                return;
            };
            let Some(future) = task.future.take() else {
                return;
            };
            let state = self.wakers.borrow()[key].clone();
            state.scheduled.store(false, Ordering::Release);
            (future, Waker::from(state))
        };
        wake_all::set_polled(&waker);
        let mut cx = TaskContext::from_waker(&waker);
        let outcome = catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(&mut cx)));
        let mut tasks = self.tasks.borrow_mut();
        match outcome {
            Ok(Poll::Pending) => {
                let aborted = tasks.get(key).is_none_or(|t| t.aborted);
                if aborted {
                    if tasks.contains(key) {
                        tasks.remove(key);
                    }
                    drop(tasks);
                    drop(future);
                } else if let Some(task) = tasks.get_mut(key) {
                    task.future = Some(future);
                }
            }
            Ok(Poll::Ready(())) => {
                let task = tasks.try_remove(key);
                drop(tasks);
                drop(future);
                drop(task);
            }
            Err(panic) => {
                let task = tasks.try_remove(key);
                drop(tasks);
                drop(future);
                tracing::error!("percore: a task panicked; the runtime keeps running");
                if let Some(notify) = task.and_then(|t| t.notify) {
                    notify.fail(JoinError::Panicked(panic));
                }
            }
        }
    }

    fn drain_remote_queue(&self) {
        self.shared.unpark_pending.store(false, Ordering::Release);
        let keys = std::mem::take(
            &mut *self
                .shared
                .remote_queue
                .lock()
                .unwrap_or_else(|e| e.into_inner()),
        );
        if keys.is_empty() {
            return;
        }
        let mut queue = self.run_queue.borrow_mut();
        for key in keys {
            if key == MAIN_KEY {
                self.main_woken.set(true);
            } else if key == wake_all::WAKE_ALL_KEY {
                self.main_woken.set(true);
                let wakers = self.wakers.borrow();
                for (key, _) in self.tasks.borrow().iter() {
                    if !wakers[key].scheduled.swap(true, Ordering::AcqRel) {
                        queue.push_back(key);
                    }
                }
            } else {
                queue.push_back(key);
            }
        }
    }

    /// Runs up to `BUDGET` queued tasks.
    fn run_ready_tasks(&self) {
        for _ in 0..BUDGET {
            let next = self.run_queue.borrow_mut().pop_front();
            match next {
                Some(key) => self.run_task(key),
                None => break,
            }
        }
    }

    /// Waits for I/O or the next timer, unless work is already queued.
    fn park(&self) -> io::Result<()> {
        let busy = self.main_woken.get() || !self.run_queue.borrow().is_empty();
        let timeout = if busy {
            Some(std::time::Duration::ZERO)
        } else {
            self.timers
                .borrow()
                .next_deadline()
                .map(|d| d.saturating_duration_since(Instant::now()))
        };
        self.driver.borrow_mut().park(timeout)?;
        self.drain_remote_queue();
        let now = Instant::now();
        crate::time::set_turn_started(Some(now));
        self.timers.borrow_mut().fire_expired(now);
        Ok(())
    }
}

/// A single-threaded runtime: one executor and one I/O driver.
///
/// ```
/// use percore_runtime::{Runtime, time::sleep};
/// use std::time::Duration;
/// let rt = Runtime::new().unwrap();
/// rt.block_on(async { sleep(Duration::from_millis(1)).await });
/// println!("driver: {}", rt.driver());
/// ```
pub struct Runtime {
    cx: Rc<Context>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("driver", self.driver())
            .finish_non_exhaustive()
    }
}

impl Runtime {
    /// A runtime on `driver` (the [`Builder`] made it).
    pub(crate) fn on_driver(driver: Driver, info: DriverInfo) -> Runtime {
        let shared = Arc::new(Shared {
            id: NEXT_RUNTIME_ID.fetch_add(1, Ordering::Relaxed),
            remote_queue: Mutex::new(Vec::new()),
            unpark_pending: AtomicBool::new(false),
            unparker: driver.unparker(),
        });
        wake_all::register(&shared);
        let cx = Rc::new(Context {
            shared,
            run_queue: RefCell::new(VecDeque::with_capacity(256)),
            tasks: RefCell::new(Slab::with_capacity(256)),
            wakers: RefCell::new(Vec::with_capacity(256)),
            main_woken: Cell::new(true),
            driver: RefCell::new(driver),
            timers: RefCell::new(Timers::new()),
            info,
        });
        Runtime { cx }
    }
}

/// Restores the previous thread-local context when `block_on` returns or unwinds.
struct EnterGuard {
    prev_id: usize,
}

impl Drop for EnterGuard {
    fn drop(&mut self) {
        CONTEXT.with(|c| c.borrow_mut().take());
        CURRENT_ID.with(|c| c.set(self.prev_id));
        crate::time::set_turn_started(None);
    }
}

fn enter(cx: &Rc<Context>) -> EnterGuard {
    CONTEXT.with(|c| {
        let mut slot = c.borrow_mut();
        assert!(
            slot.is_none(),
            "percore: cannot start a runtime from within a runtime"
        );
        *slot = Some(cx.clone());
    });
    let prev_id = CURRENT_ID.with(|c| c.replace(cx.shared.id));
    crate::time::set_turn_started(Some(Instant::now()));
    EnterGuard { prev_id }
}

impl Runtime {
    /// A runtime with the default (automatic) driver choice.
    pub fn new() -> io::Result<Runtime> {
        Builder::new().build()
    }

    /// A builder to configure a runtime.
    pub fn builder() -> Builder {
        Builder::new()
    }

    /// Which driver this runtime got, and why.
    pub fn driver(&self) -> &DriverInfo {
        &self.cx.info
    }

    /// Runs `future` to completion on this thread, along with every task it
    /// spawns, and returns its output. Spawned tasks that are still pending
    /// stay in the runtime for the next `block_on` (or are dropped with it).
    ///
    /// # Panics
    /// When called from inside another runtime on the same thread, or when
    /// the driver fails irrecoverably.
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        let _guard = enter(&self.cx);
        let cx = &*self.cx;
        let mut future = pin!(future);
        let main_state = Arc::new(TaskWaker {
            shared: cx.shared.clone(),
            key: MAIN_KEY,
            scheduled: AtomicBool::new(false),
        });
        let main_waker = Waker::from(main_state.clone());
        cx.main_woken.set(true);
        loop {
            if cx.main_woken.replace(false) {
                main_state.scheduled.store(false, Ordering::Release);
                wake_all::set_polled(&main_waker);
                let mut task_cx = TaskContext::from_waker(&main_waker);
                if let Poll::Ready(out) = future.as_mut().poll(&mut task_cx) {
                    return out;
                }
            }
            cx.run_ready_tasks();
            if let Err(e) = cx.park() {
                panic!("percore: I/O driver failed: {e}");
            }
        }
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        // Drop the tasks inside the context, so that in-flight operations can
        // hand their buffers to the driver, then let the driver wait for the
        // kernel to release every buffer. A runtime kept in a thread-local
        // may be dropped at thread exit after `CONTEXT` itself: then the
        // tasks are dropped outside it (nothing may touch a destroyed
        // thread-local, and a panic here would abort the process).
        let _guard = CONTEXT
            .try_with(|c| c.borrow().is_none())
            .unwrap_or(false)
            .then(|| enter(&self.cx));
        let tasks: Vec<Task> = self.cx.tasks.borrow_mut().drain().collect();
        for task in tasks {
            if let Some(notify) = &task.notify {
                notify.fail(JoinError::Cancelled);
            }
            drop(task);
        }
        self.cx.driver.borrow_mut().shutdown();
        wake_all::unregister(&self.cx.shared);
    }
}

/// Whether the calling thread is inside a runtime.
pub fn in_runtime() -> bool {
    with_context(|_| ()).is_some()
}

/// Information about the driver of the runtime this thread is running.
pub fn current_driver() -> Option<DriverInfo> {
    with_context(|cx| cx.info.clone())
}
