//! Channels that cross cores. A send wakes the receiving task's core even
//! when it is parked in the kernel.
//!
//! ```
//! use percore_runtime::{Runtime, sync::mpsc};
//! let (tx, mut rx) = mpsc::unbounded::<u32>();
//! let other = std::thread::spawn(move || {
//!     Runtime::new().unwrap().block_on(async move { tx.send(7).await.unwrap() })
//! });
//! let got = Runtime::new().unwrap().block_on(async move { rx.recv().await });
//! other.join().unwrap();
//! assert_eq!(got, Some(7));
//! ```

pub mod broadcast;
pub mod mpsc;
pub mod oneshot;
mod shutdown;

pub use shutdown::{Shutdown, Wait};

use std::sync::{Mutex, MutexGuard};

/// Locks `m`, ignoring poisoning (the data stays consistent: no panics
/// happen while a channel lock is held).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
