//! Test support: catching a handler's panic in memory.

use std::future::Future;

use percore_http::CatchUnwind;

/// Runs `fut`; a panic while it is polled becomes `Err` with its payload.
pub(crate) fn catch_unwind<F: Future>(
    fut: F,
) -> impl Future<Output = std::thread::Result<F::Output>> {
    CatchUnwind::new(async { Ok(fut.await) }, Err)
}
