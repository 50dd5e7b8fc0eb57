//! percore-runtime: a thread-per-core async runtime for Linux.
//!
//! One runtime per thread, each with its own executor and I/O driver —
//! io_uring by default, epoll (through mio) as the fallback — and nothing
//! shared between cores but explicit channels. Tasks are `!Send`
//! ([`spawn_local`]); I/O takes owned buffers and gives them back
//! (`read(buf) -> (io::Result<usize>, buf)`), so a dropped future never lets
//! the kernel write into freed memory.
//!
//! ```
//! use percore_runtime::{Runtime, spawn_local, time::sleep};
//! use std::time::Duration;
//!
//! let rt = Runtime::new().unwrap();
//! let answer = rt.block_on(async {
//!     let task = spawn_local(async {
//!         sleep(Duration::from_millis(1)).await;
//!         21 * 2
//!     });
//!     task.await.unwrap()
//! });
//! assert_eq!(answer, 42);
//! ```
//!
//! # The owned-buffer contract
//! An operation in flight owns its buffer. If its future is dropped before
//! the kernel completes the operation, the io_uring driver keeps the buffer
//! until the completion arrives (and asks the kernel to cancel); a file
//! descriptor that a cancelled accept still produced is closed, not leaked.
//! The epoll driver performs each syscall synchronously inside `poll`, so it
//! never lends memory to the kernel at all. See [`buf`].

#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks)]

mod beneath;
pub mod blocking;
pub mod buf;
pub mod buf_pool;
mod builder;
mod driver;
pub mod fs;
pub mod future;
pub mod io;
pub mod local_pool;
pub mod net;
mod runtime;
pub mod signal;
pub mod sync;
mod task;
pub mod time;
mod wake_all;
mod workers;

pub use blocking::spawn_blocking;
pub use builder::Builder;
pub use driver::{DriverChoice, DriverInfo, DriverKind};
pub use runtime::{current_driver, in_runtime, Runtime};
pub use task::{spawn_detached, spawn_local, yield_now, JoinError, JoinHandle};

/// Operations the io_uring driver of this thread still tracks (in flight or
/// orphaned): 0 once every buffer is back. For leak tests.
#[doc(hidden)]
pub fn debug_tracked_ops() -> usize {
    runtime::with_context(|cx| match &*cx.driver.borrow() {
        driver::Driver::Uring(u) => u.tracked_ops(),
        driver::Driver::Epoll(e) => e.tracked_sources(),
    })
    .unwrap_or(0)
}
#[doc(hidden)]
pub use driver::buf_ring::BufRingStats;

/// The counters of this thread's io_uring provided buffers (`None`:
/// epoll, or io_uring without them). For leak tests: at rest every buffer
/// taken was recycled.
#[doc(hidden)]
pub fn debug_provided_buffers() -> Option<driver::buf_ring::BufRingStats> {
    runtime::with_context(|cx| match &mut *cx.driver.borrow_mut() {
        driver::Driver::Uring(u) => u.buf_ring().map(|b| b.stats),
        driver::Driver::Epoll(_) => None,
    })
    .flatten()
}
/// Whether this thread's reads of plain sockets go through the multishot
/// receive (io_uring with it switched on and available). For tests whose
/// expectations depend on the read path.
#[doc(hidden)]
pub fn debug_multishot_recv() -> bool {
    runtime::with_context(|cx| match &*cx.driver.borrow() {
        driver::Driver::Uring(u) => u.multishot_recv(),
        driver::Driver::Epoll(_) => false,
    })
    .unwrap_or(false)
}
/// Fixed-file slots this thread's io_uring driver has in use (held by
/// sockets, or closing); `None` without a table (epoll, switched off, or
/// not probed). For tests of registered descriptors.
#[doc(hidden)]
pub fn debug_registered_fds() -> Option<usize> {
    runtime::with_context(|cx| match &*cx.driver.borrow() {
        driver::Driver::Uring(u) => u.registered_fds(),
        driver::Driver::Epoll(_) => None,
    })
    .flatten()
}
/// Zero-copy send notifications this thread's io_uring driver has seen
/// (0 on epoll). For tests that a write went zero-copy.
#[doc(hidden)]
pub fn debug_zerocopy_notifications() -> u64 {
    runtime::with_context(|cx| match &*cx.driver.borrow() {
        driver::Driver::Uring(u) => u.zerocopy_notifications(),
        driver::Driver::Epoll(_) => 0,
    })
    .unwrap_or(0)
}
/// This thread's timers: (live timers, heap slots including cancelled ones
/// not yet compacted). For tests of the timer structure's bounds.
#[doc(hidden)]
pub fn debug_timers() -> (usize, usize) {
    runtime::with_context(|cx| {
        let timers = cx.timers.borrow();
        (timers.len(), timers.heap_len())
    })
    .unwrap_or((0, 0))
}
pub use workers::{
    allowed_cpus, available_cores, current_core, pin_current_thread, WorkerContext, Workers,
};
