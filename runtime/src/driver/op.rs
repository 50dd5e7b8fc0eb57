//! The future of one io_uring operation, owning the memory the kernel uses.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use io_uring::squeue;

use crate::driver::Driver;
use crate::runtime::{context, with_context};

/// An in-flight io_uring operation that owns `data` (buffers, addresses)
/// until the kernel is done with it.
///
/// Dropping an unfinished `Op` hands `data` to the driver, which frees it
/// only when the completion arrives, and cancels the operation. If the
/// operation produced a file descriptor nobody will see (a cancelled accept
/// or connect that succeeded anyway), `close_result_fd` makes the driver
/// close it.
pub(crate) struct Op<T: 'static> {
    key: usize,
    data: Option<T>,
    close_result_fd: bool,
}

/// What an operation completed with.
pub(crate) struct Completion<T> {
    pub(crate) result: io::Result<u32>,
    #[allow(dead_code)]
    pub(crate) flags: u32,
    pub(crate) data: T,
}

impl<T: 'static> Op<T> {
    /// Submits `entry` to the current runtime's ring.
    ///
    /// # Safety
    /// Every pointer in `entry` must point into heap memory owned by `data`
    /// (or memory that outlives the operation), valid for the access the
    /// operation makes. Moving `data` must not move that memory.
    pub(crate) unsafe fn submit(entry: squeue::Entry, data: T) -> Op<T> {
        let key = context(|cx| match &mut *cx.driver.borrow_mut() {
            // SAFETY: forwarded from the caller; `data` is kept in the Op or
            // handed to the driver until the completion arrives.
            Driver::Uring(ring) => unsafe { ring.submit(entry) },
            Driver::Epoll(_) => unreachable!("io_uring operation on an epoll runtime"),
        });
        Op {
            key,
            data: Some(data),
            close_result_fd: false,
        }
    }

    /// Marks the result as a file descriptor to close if the Op is dropped.
    pub(crate) fn closes_result_fd(mut self) -> Op<T> {
        self.close_result_fd = true;
        self
    }
}

// The data is never pinned: the kernel sees only heap memory it owns.
impl<T> Unpin for Op<T> {}

impl<T: 'static> Future for Op<T> {
    type Output = Completion<T>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Completion<T>> {
        let key = self.key;
        let polled = context(|rt| match &mut *rt.driver.borrow_mut() {
            Driver::Uring(ring) => ring.poll_op(key, cx),
            Driver::Epoll(_) => unreachable!("io_uring operation on an epoll runtime"),
        });
        match polled {
            Poll::Pending => Poll::Pending,
            Poll::Ready((res, flags)) => {
                let data = self
                    .data
                    .take()
                    .expect("percore: io_uring operation polled after completion");
                let result = if res < 0 {
                    Err(io::Error::from_raw_os_error(-res))
                } else {
                    Ok(res as u32)
                };
                Poll::Ready(Completion {
                    result,
                    flags,
                    data,
                })
            }
        }
    }
}

impl<T: 'static> Drop for Op<T> {
    fn drop(&mut self) {
        let Some(data) = self.data.take() else {
            return;
        };
        let close_fd = self.close_result_fd;
        let key = self.key;
        let orphan = Box::new(move |res: i32| {
            drop(data);
            if close_fd && res >= 0 {
                // SAFETY: the kernel created this descriptor for us and no one
                // else has seen it.
                unsafe { libc::close(res) };
            }
        });
        let mut orphan: Option<Box<dyn FnOnce(i32)>> = Some(orphan);
        with_context(|cx| {
            if let Ok(mut driver) = cx.driver.try_borrow_mut() {
                if let (Driver::Uring(ring), Some(o)) = (&mut *driver, orphan.take()) {
                    ring.orphan(key, o);
                }
            }
        });
        if let Some(o) = orphan {
            // No ring to hand the memory to: never free what the kernel may
            // still write into.
            std::mem::forget(o);
        }
    }
}
