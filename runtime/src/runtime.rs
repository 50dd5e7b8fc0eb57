//! The per-thread runtime: executor loop, thread-local context, builder.

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

use crate::driver::{Driver, DriverChoice, DriverInfo, Unparker};
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

/// Multishot accept's default (see [`Builder::multishot_accept`]).
const MULTISHOT_ACCEPT_DEFAULT: bool = true;

/// Multishot receive's default (see [`Builder::multishot_recv`]).
const MULTISHOT_RECV_DEFAULT: bool = true;

/// Registered descriptors' default (see [`Builder::registered_fds`]).
const REGISTERED_FDS_DEFAULT: bool = false;

/// Fixed-file slots per ring by default (see [`Builder::registered_fds_slots`]).
const REGISTERED_FDS_SLOTS_DEFAULT: u32 = 4096;

/// Zero-copy send's default (see [`Builder::zerocopy_send`]).
const ZEROCOPY_SEND_DEFAULT: bool = false;

/// The smallest write sent zero-copy by default (see
/// [`Builder::zerocopy_send_min`]).
const ZEROCOPY_SEND_MIN_DEFAULT: usize = 16 * 1024;

/// Configures a [`Runtime`].
///
/// ```
/// use percore_runtime::{Builder, DriverChoice};
/// let rt = Builder::new().driver(DriverChoice::Epoll).build().unwrap();
/// assert_eq!(rt.driver().kind, percore_runtime::DriverKind::Epoll);
/// ```
#[derive(Debug, Clone)]
pub struct Builder {
    driver: DriverChoice,
    ring_entries: u32,
    provided_buffers: bool,
    multishot_accept: bool,
    multishot_recv: bool,
    zerocopy_send: bool,
    zerocopy_send_min: usize,
    registered_fds: bool,
    registered_fds_slots: u32,
    /// The best io_uring setup to try (`PERCORE_URING_SETUP`, for A/B).
    uring_setup: crate::driver::uring::Setup,
}

/// Whether `PERCORE_{name}` switches a default-on feature off (`0`, `off`,
/// `false`), or a default-off one on (`1`, `on`, `true`).
fn env_switch(name: &str, default: bool) -> bool {
    match std::env::var(name).as_deref() {
        Ok("0" | "off" | "false") => false,
        Ok("1" | "on" | "true") => true,
        _ => default,
    }
}

impl Default for Builder {
    fn default() -> Self {
        Builder::new()
    }
}

impl Builder {
    /// A builder with the automatic driver choice and default ring size.
    pub fn new() -> Builder {
        Builder {
            driver: DriverChoice::Auto,
            ring_entries: 1024,
            provided_buffers: env_switch("PERCORE_PROVIDED_BUFFERS", true),
            multishot_accept: env_switch("PERCORE_MULTISHOT_ACCEPT", MULTISHOT_ACCEPT_DEFAULT),
            multishot_recv: env_switch("PERCORE_MULTISHOT_RECV", MULTISHOT_RECV_DEFAULT),
            zerocopy_send: env_switch("PERCORE_ZEROCOPY_SEND", ZEROCOPY_SEND_DEFAULT),
            zerocopy_send_min: std::env::var("PERCORE_ZEROCOPY_SEND_MIN")
                .ok()
                .and_then(|s| s.trim().parse().ok())
                .unwrap_or(ZEROCOPY_SEND_MIN_DEFAULT),
            registered_fds: env_switch("PERCORE_REGISTERED_FDS", REGISTERED_FDS_DEFAULT),
            registered_fds_slots: REGISTERED_FDS_SLOTS_DEFAULT,
            uring_setup: std::env::var("PERCORE_URING_SETUP")
                .ok()
                .and_then(|s| crate::driver::uring::Setup::parse(&s))
                .unwrap_or(crate::driver::uring::Setup::DeferTaskrun),
        }
    }

    /// Selects the I/O driver. `Auto` (the default) honours `PERCORE_DRIVER`
    /// and falls back from io_uring to epoll when io_uring is unavailable.
    pub fn driver(mut self, choice: DriverChoice) -> Builder {
        self.driver = choice;
        self
    }

    /// Submission-queue size of the io_uring driver.
    pub fn ring_entries(mut self, entries: u32) -> Builder {
        self.ring_entries = entries.max(8);
        self
    }

    /// Whether io_uring receives of idle connections use a ring of
    /// provided buffers (`IORING_REGISTER_PBUF_RING`, probed at start-up;
    /// default on): a connection waiting for input then holds no read
    /// buffer. Off, each receive reads into its connection's own buffer.
    /// `PERCORE_PROVIDED_BUFFERS=0` sets the default to off (for A/B
    /// measurements); this method overrides it.
    ///
    /// ```
    /// use percore_runtime::Builder;
    /// let rt = Builder::new().provided_buffers(false).build().unwrap();
    /// rt.block_on(async {});
    /// ```
    pub fn provided_buffers(mut self, on: bool) -> Builder {
        self.provided_buffers = on;
        self
    }

    /// Whether io_uring listeners accept with one multishot
    /// `IORING_OP_ACCEPT` (Linux 5.19, probed at start-up) instead of one
    /// accept per connection. `PERCORE_MULTISHOT_ACCEPT=1`/`0` sets the
    /// default (for A/B measurements); this method overrides it.
    ///
    /// ```
    /// use percore_runtime::Builder;
    /// let rt = Builder::new().multishot_accept(true).build().unwrap();
    /// rt.block_on(async {});
    /// ```
    pub fn multishot_accept(mut self, on: bool) -> Builder {
        self.multishot_accept = on;
        self
    }

    /// Whether io_uring connections receive with one multishot
    /// `IORING_OP_RECV` into the provided buffers (Linux 6.0, probed at
    /// start-up; needs [`provided_buffers`](Self::provided_buffers))
    /// instead of one receive per read: armed by a connection's first
    /// read, it stays in the kernel, and what it receives queues per
    /// connection (a few buffers; past that the kernel's socket buffer and
    /// TCP's window push back) until read. `PERCORE_MULTISHOT_RECV=1`/`0`
    /// sets the default (for A/B measurements); this method overrides it.
    ///
    /// ```
    /// use percore_runtime::Builder;
    /// let rt = Builder::new().multishot_recv(true).build().unwrap();
    /// rt.block_on(async {});
    /// ```
    pub fn multishot_recv(mut self, on: bool) -> Builder {
        self.multishot_recv = on;
        self
    }

    /// Whether io_uring writes of at least
    /// [`zerocopy_send_min`](Self::zerocopy_send_min) bytes are zero-copy
    /// sends (`IORING_OP_SEND_ZC` / `SENDMSG_ZC`, Linux 6.0/6.1, probed at
    /// start-up): the kernel sends from the buffer's pages instead of
    /// copying them, and the write completes when the kernel lets go of
    /// them (for TCP: when the peer acknowledged the bytes, which a peer
    /// may delay by up to 40 ms when it has nothing to send). A socket that
    /// refuses it (a Unix socket) writes with plain sends. Off by default:
    /// on loopback it cost more CPU than it saved (BENCHMARKS.md, issue 19).
    /// `PERCORE_ZEROCOPY_SEND=1`/`0` sets the default (for A/B
    /// measurements); this method overrides it.
    ///
    /// ```
    /// use percore_runtime::Builder;
    /// let rt = Builder::new().zerocopy_send(true).build().unwrap();
    /// rt.block_on(async {});
    /// ```
    pub fn zerocopy_send(mut self, on: bool) -> Builder {
        self.zerocopy_send = on;
        self
    }

    /// The smallest write sent zero-copy when
    /// [`zerocopy_send`](Self::zerocopy_send) is on (default 16 KiB;
    /// `PERCORE_ZEROCOPY_SEND_MIN` sets the default).
    pub fn zerocopy_send_min(mut self, bytes: usize) -> Builder {
        self.zerocopy_send_min = bytes.max(1);
        self
    }

    /// Registers accepted sockets in the io_uring ring's fixed-file table
    /// as well (`PERCORE_REGISTERED_FDS=1|0`; off by default: see
    /// BENCHMARKS.md, issue 19): their receives and sends name the slot,
    /// sparing the kernel a descriptor lookup each, at the cost of a
    /// registration syscall per connection. Probed at start-up; a kernel
    /// without sparse tables (before Linux 5.19), or a full table, leaves
    /// sockets unregistered. No effect on epoll.
    ///
    /// ```
    /// use percore_runtime::Builder;
    /// let rt = Builder::new().registered_fds(true).build().unwrap();
    /// ```
    pub fn registered_fds(mut self, on: bool) -> Builder {
        self.registered_fds = on;
        self
    }

    /// Slots of the fixed-file table when [`registered_fds`](Self::registered_fds)
    /// is on (default 4096, at most the descriptor limit): connections
    /// beyond it go unregistered.
    pub fn registered_fds_slots(mut self, slots: u32) -> Builder {
        self.registered_fds_slots = slots.max(1);
        self
    }

    /// Creates the runtime on the current thread.
    pub fn build(&self) -> io::Result<Runtime> {
        let features = crate::driver::uring::Features {
            provided_buffers: self.provided_buffers,
            multishot_accept: self.multishot_accept,
            multishot_recv: self.multishot_recv,
            zerocopy_send_min: self.zerocopy_send.then_some(self.zerocopy_send_min),
            registered_fds: self.registered_fds.then_some(self.registered_fds_slots),
            setup: self.uring_setup,
        };
        let (driver, info) = Driver::new(self.driver, self.ring_entries, features)?;
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
        Ok(Runtime { cx })
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
