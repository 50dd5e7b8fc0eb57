//! Waking every task of every runtime: what lets a wait for a rare,
//! process-wide event (a [`Shutdown`](crate::sync::Shutdown)) skip
//! registering its waker.
//!
//! A task polled by its runtime is woken by the runtime itself when the
//! event comes ([`wake_all_runtimes`]: each runtime queues every one of its
//! tasks, and its `block_on` future, as if each task's waker had been
//! called). So a wait polled with the waker of the task being polled
//! ([`polled_by_task`]) only has to check the event's flag: no lock, no
//! waker clone, nothing to remove when the wait is dropped. A spurious
//! poll of the other tasks, once per event, is the price; every future
//! must allow it anyway.

use std::cell::Cell;
use std::ptr;
use std::sync::{Arc, Mutex, Weak};
use std::task::{RawWakerVTable, Waker};

use crate::runtime::Shared;
use crate::sync::lock;

/// Key that asks a runtime, through its remote queue, to wake every task.
pub(crate) const WAKE_ALL_KEY: usize = usize::MAX - 1;

/// Every runtime alive in the process.
static RUNTIMES: Mutex<Vec<Weak<Shared>>> = Mutex::new(Vec::new());

thread_local! {
    /// The raw parts of the waker this thread's runtime last polled a task
    /// (or its `block_on` future) with. It may be left over from a task
    /// that finished or a runtime that ended: a waker with these parts is
    /// still a task waker (the vtable says so), whose wake a wake-all of
    /// its runtime covers (a runtime that ended has nothing to wake).
    static POLLED: Cell<(*const (), *const RawWakerVTable)> =
        const { Cell::new((ptr::null(), ptr::null())) };
}

/// Adds a new runtime to the ones [`wake_all_runtimes`] reaches.
pub(crate) fn register(shared: &Arc<Shared>) {
    let mut all = lock(&RUNTIMES);
    all.retain(|w| w.strong_count() > 0);
    all.push(Arc::downgrade(shared));
}

/// Removes a runtime that is being dropped.
pub(crate) fn unregister(shared: &Arc<Shared>) {
    let me = Arc::downgrade(shared);
    lock(&RUNTIMES).retain(|w| !w.ptr_eq(&me) && w.strong_count() > 0);
}

/// Asks every runtime to poll each of its tasks once more (from any
/// thread; a runtime does it in its next loop turn).
pub(crate) fn wake_all_runtimes() {
    let all: Vec<Arc<Shared>> = lock(&RUNTIMES).iter().filter_map(Weak::upgrade).collect();
    for shared in all {
        shared.push_remote(WAKE_ALL_KEY);
    }
}

/// Notes the waker the runtime is about to poll a task with.
#[inline]
pub(crate) fn set_polled(waker: &Waker) {
    POLLED.set((waker.data(), waker.vtable()));
}

/// Whether `waker` is the waker of a task (or `block_on` future) of a
/// runtime on this thread: then [`wake_all_runtimes`] wakes it.
#[inline]
pub(crate) fn polled_by_task(waker: &Waker) -> bool {
    let (data, vtable) = POLLED.get();
    ptr::eq(waker.data(), data) && ptr::eq(waker.vtable(), vtable)
}
