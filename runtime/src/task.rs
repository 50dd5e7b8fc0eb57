//! Tasks: `spawn_local`, `JoinHandle`, and the wakers that reach a core from
//! any thread.

use std::any::Any;
use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use crate::runtime::{with_context, Shared};

/// A spawned future, boxed, as the executor stores it.
pub(crate) type LocalFuture = Pin<Box<dyn Future<Output = ()>>>;

/// Slab slot of a task.
pub(crate) struct Task {
    /// `None` while the executor is polling the future (it is taken out so the
    /// future may spawn or abort tasks) or once it finished.
    pub(crate) future: Option<LocalFuture>,
    /// Reports a panic or an abort to the `JoinHandle` (`None` for a task
    /// spawned detached: nobody awaits it).
    pub(crate) notify: Option<Rc<dyn JoinNotify>>,
    /// Set by `abort()` while the task is being polled: drop it afterwards.
    pub(crate) aborted: bool,
}

/// Waker state shared with other threads.
pub(crate) struct TaskWaker {
    pub(crate) shared: Arc<Shared>,
    pub(crate) key: usize,
    /// Set while the task sits in a run queue, so a burst of wakes queues it once.
    pub(crate) scheduled: AtomicBool,
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if !self.scheduled.swap(true, Ordering::AcqRel) {
            self.shared.schedule(self.key);
        }
    }
}

/// Why a task produced no output.
#[derive(Debug)]
pub enum JoinError {
    /// The task was aborted with [`JoinHandle::abort`] or its runtime shut down.
    Cancelled,
    /// The task panicked; the payload is the panic's.
    Panicked(Box<dyn Any + Send>),
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JoinError::Cancelled => f.write_str("task was cancelled"),
            JoinError::Panicked(p) => {
                let msg = p
                    .downcast_ref::<&str>()
                    .copied()
                    .or_else(|| p.downcast_ref::<String>().map(String::as_str))
                    .unwrap_or("(non-string payload)");
                write!(f, "task panicked: {msg}")
            }
        }
    }
}

impl std::error::Error for JoinError {}

impl JoinError {
    /// Whether the task panicked.
    pub fn is_panic(&self) -> bool {
        matches!(self, JoinError::Panicked(_))
    }
}

/// Lets the executor complete a `JoinHandle` without knowing its type.
pub(crate) trait JoinNotify {
    fn fail(&self, err: JoinError);
}

/// (`Cell`s, not `RefCell`s: no borrow flags, a smaller allocation per
/// task.)
struct JoinState<T> {
    result: Cell<Option<Result<T, JoinError>>>,
    waiter: Cell<Option<Waker>>,
    finished: Cell<bool>,
}

impl<T> JoinState<T> {
    fn complete(&self, result: Result<T, JoinError>) {
        if self.finished.replace(true) {
            return;
        }
        self.result.set(Some(result));
        if let Some(w) = self.waiter.take() {
            w.wake();
        }
    }
}

impl<T> JoinNotify for JoinState<T> {
    fn fail(&self, err: JoinError) {
        self.complete(Err(err));
    }
}

/// An owned permission to await a spawned task's output.
///
/// Dropping the handle detaches the task: it keeps running.
///
/// ```
/// use percore_runtime::{Runtime, spawn_local};
/// let rt = Runtime::new().unwrap();
/// let out = rt.block_on(async { spawn_local(async { 40 + 2 }).await.unwrap() });
/// assert_eq!(out, 42);
/// ```
pub struct JoinHandle<T> {
    state: Rc<JoinState<T>>,
    key: usize,
    shared_id: usize,
}

impl<T> JoinHandle<T> {
    /// Cancels the task: its future is dropped at once (or right after its
    /// current poll, when it aborts itself) and awaiting the handle gives
    /// [`JoinError::Cancelled`]. No effect on a finished task.
    pub fn abort(&self) {
        if self.state.finished.get() {
            return;
        }
        self.state.complete(Err(JoinError::Cancelled));
        let _ = with_context(|cx| {
            if cx.shared.id == self.shared_id {
                cx.abort_task(self.key);
            }
        });
    }

    /// Whether the task has finished (completed, panicked or been aborted).
    pub fn is_finished(&self) -> bool {
        self.state.finished.get()
    }
}

impl<T> Future for JoinHandle<T> {
    type Output = Result<T, JoinError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if let Some(result) = self.state.result.take() {
            return Poll::Ready(result);
        }
        if self.state.finished.get() {
            // The result was taken by an earlier poll.
            return Poll::Ready(Err(JoinError::Cancelled));
        }
        self.state.waiter.set(Some(cx.waker().clone()));
        Poll::Pending
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle")
            .field("finished", &self.is_finished())
            .finish()
    }
}

pin_project_lite::pin_project! {
    /// A spawned future as its task holds it: the future, and where its
    /// output goes. (An `async` block awaiting the future it captured
    /// would hold it twice, the capture and the awaited copy: a
    /// connection's task would be twice its size.)
    struct Spawned<F: Future> {
        #[pin]
        future: F,
        state: Rc<JoinState<F::Output>>,
    }
}

impl<F: Future> Future for Spawned<F> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.project();
        let out = std::task::ready!(this.future.poll(cx));
        this.state.complete(Ok(out));
        Poll::Ready(())
    }
}

/// Spawns a `!Send` future on the current thread's runtime.
///
/// # Panics
/// When called outside a runtime.
///
/// ```
/// use percore_runtime::{Runtime, spawn_local};
/// use std::rc::Rc;
/// Runtime::new().unwrap().block_on(async {
///     let shared = Rc::new(5); // Rc is fine: tasks never leave their core
///     let s = shared.clone();
///     assert_eq!(spawn_local(async move { *s * 2 }).await.unwrap(), 10);
/// });
/// ```
pub fn spawn_local<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    with_context(|cx| {
        let state = Rc::new(JoinState {
            result: Cell::new(None),
            waiter: Cell::new(None),
            finished: Cell::new(false),
        });
        let wrapped: LocalFuture = Box::pin(Spawned {
            future,
            state: state.clone(),
        });
        let key = cx.insert_task(wrapped, Some(state.clone()));
        JoinHandle {
            state,
            key,
            shared_id: cx.shared.id,
        }
    })
    .expect("spawn_local called outside of a percore runtime")
}

/// Spawns a `!Send` future on the current thread's runtime without a
/// [`JoinHandle`]: for tasks nobody awaits or aborts (a server's
/// connections). The task is one allocation, its future, where
/// [`spawn_local`] adds a join state shared with the handle (64 bytes and
/// an allocation per task, kept although a dropped handle never reads it).
/// A panic is logged, as for every task, and ends only this task.
///
/// # Panics
/// When called outside a runtime.
///
/// ```
/// use percore_runtime::{Runtime, spawn_detached, time::sleep};
/// use std::{cell::Cell, rc::Rc, time::Duration};
/// Runtime::new().unwrap().block_on(async {
///     let done = Rc::new(Cell::new(false));
///     let d = done.clone();
///     spawn_detached(async move { d.set(true) });
///     sleep(Duration::from_millis(1)).await;
///     assert!(done.get());
/// });
/// ```
pub fn spawn_detached<F>(future: F)
where
    F: Future<Output = ()> + 'static,
{
    with_context(|cx| {
        cx.insert_task(Box::pin(future), None);
    })
    .expect("spawn_detached called outside of a percore runtime")
}

/// Yields once to the scheduler, letting other tasks and I/O run.
///
/// ```
/// use percore_runtime::{Runtime, yield_now};
/// Runtime::new().unwrap().block_on(async { yield_now().await });
/// ```
pub async fn yield_now() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if yielded {
            Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    })
    .await
}
