//! `accept`: a new connection (close-on-exec) and its peer's address.
//! io_uring: `IORING_OP_ACCEPT`, whose descriptor the driver closes if the
//! future was dropped, or one multishot accept per listener
//! ([`MultiAccept`]). epoll: `accept4(2)` (non-blocking) on read readiness.

use std::cell::Cell;
use std::io;
use std::os::fd::RawFd;
use std::task::{Context, Poll};

use io_uring::{opcode, squeue, types};

use super::msg::AddrBuf;
use super::{cvt, Operation};
use crate::driver::epoll::Direction;
use crate::driver::fd::SharedFd;
use crate::driver::uring::{close_descriptor, orphan, Release, ACCEPT_QUEUE_CAP};
use crate::driver::Driver;
use crate::runtime::context;

pub(crate) struct Accept {
    fd: SharedFd,
    pub(crate) addr: Box<AddrBuf>,
}

impl Accept {
    pub(crate) fn new(fd: SharedFd) -> Accept {
        Accept {
            fd,
            addr: Box::new(AddrBuf::new()),
        }
    }
}

// SAFETY: the entry points at the boxed address buffer the operation owns.
unsafe impl Operation for Accept {
    const DIRECTION: Direction = Direction::Read;
    const RESULT_IS_FD: bool = true;

    fn uring_entry(&mut self) -> squeue::Entry {
        opcode::Accept::new(
            types::Fd(self.fd.raw()),
            self.addr.storage.as_mut_ptr().cast(),
            &mut self.addr.len,
        )
        .flags(libc::SOCK_CLOEXEC)
        .build()
    }

    fn call(&mut self) -> io::Result<u32> {
        *self.addr = AddrBuf::new();
        // SAFETY: `addr` provides a sockaddr_storage and its length.
        let res = unsafe {
            libc::accept4(
                self.fd.raw(),
                self.addr.storage.as_mut_ptr().cast(),
                &mut self.addr.len,
                libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
            )
        };
        cvt(res as isize)
    }
}

/// A listener's multishot accept on io_uring (`IORING_OP_ACCEPT` with
/// `IORING_ACCEPT_MULTISHOT`): armed by the first `accept`, it stays in
/// the kernel and each connection completes it once more, queued in the
/// driver until taken; no submission per connection. Taking a queued
/// connection does not depend on the future that asked for it: a
/// cancelled `accept` loses nothing. The kernel gives no peer address
/// (the caller asks `getpeername(2)` if it wants one). Dropping the
/// listener cancels it; connections queued or accepted late are closed.
#[derive(Default)]
pub(crate) struct MultiAccept {
    /// The operation's key and its hold on the listening descriptor.
    armed: Cell<Option<(usize, SharedFd)>>,
    /// The kernel refused it (an EINVAL before any connection): this
    /// listener accepts one connection per operation.
    refused: Cell<bool>,
    /// A connection came through it, so a later EINVAL is a real error.
    worked: Cell<bool>,
}

impl std::fmt::Debug for MultiAccept {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let armed = self.armed.take();
        let key = armed.as_ref().map(|(key, _)| *key);
        self.armed.set(armed);
        f.debug_struct("MultiAccept")
            .field("key", &key)
            .field("refused", &self.refused.get())
            .finish()
    }
}

impl MultiAccept {
    /// The next accepted descriptor, or `None` when this listener does
    /// not use multishot accept (epoll, switched off, refused).
    pub(crate) fn poll_next(
        &self,
        fd: &SharedFd,
        cx: &mut Context<'_>,
    ) -> Poll<Option<io::Result<RawFd>>> {
        if self.refused.get() {
            return Poll::Ready(None);
        }
        context(|rt| {
            let Driver::Uring(ring) = &mut *rt.driver.borrow_mut() else {
                return Poll::Ready(None);
            };
            if !ring.multishot_accept() {
                return Poll::Ready(None);
            }
            loop {
                let (key, held) = match self.armed.take() {
                    Some(armed) => armed,
                    None => {
                        let entry = opcode::AcceptMulti::new(types::Fd(fd.raw()))
                            .flags(libc::SOCK_CLOEXEC)
                            .build();
                        // SAFETY: the entry carries no pointer (no address
                        // buffer); `held` keeps the descriptor open until
                        // the last completion.
                        (
                            unsafe { ring.submit_multi(entry, ACCEPT_QUEUE_CAP, true) },
                            fd.clone(),
                        )
                    }
                };
                let (result, _, last) = match ring.poll_multi(key, cx) {
                    Poll::Pending => {
                        self.armed.set(Some((key, held)));
                        return Poll::Pending;
                    }
                    Poll::Ready(out) => out,
                };
                if !last {
                    self.armed.set(Some((key, held)));
                }
                if result >= 0 {
                    self.worked.set(true);
                    return Poll::Ready(Some(Ok(result)));
                }
                match -result {
                    // Stopped by the driver (queue full) or cancelled: re-arm.
                    libc::ECANCELED if last => {}
                    libc::EINVAL if last && !self.worked.get() => {
                        tracing::debug!("multishot accept refused: one accept per connection");
                        self.refused.set(true);
                        return Poll::Ready(None);
                    }
                    errno => return Poll::Ready(Some(Err(io::Error::from_raw_os_error(errno)))),
                }
            }
        })
    }
}

impl Drop for MultiAccept {
    fn drop(&mut self) {
        let Some((key, held)) = self.armed.take() else {
            return;
        };
        let release: Release = Box::new(move |result| {
            let _hold = &held;
            close_descriptor(result);
        });
        orphan(key, release);
    }
}
