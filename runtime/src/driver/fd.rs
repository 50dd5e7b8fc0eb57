//! The one rule for descriptor lifetime, for sockets and files alike.
//!
//! A descriptor is shared by its owner (a socket, a file) and every
//! operation in flight on it: each operation holds a clone of the
//! [`SharedFd`], so an operation whose future was dropped keeps the
//! descriptor open until its completion arrives, and a number the kernel
//! still acts on is never reused. The descriptor closes when the last
//! holder drops: through the ring on an io_uring thread (batched with the
//! next submission), with `close(2)` anywhere else (an epoll thread, the
//! blocking pool, a thread without a runtime).

use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::sync::Arc;

use crate::driver::uring::FixedSlot;
use crate::driver::Driver;
use crate::runtime::with_context;

/// An open descriptor, shared by its owner and the operations on it.
#[derive(Clone, Debug)]
pub(crate) struct SharedFd(Arc<Closer>);

/// The descriptor and, for an accepted socket on io_uring, its slot in the
/// ring's fixed-file table (released after the descriptor's close is
/// queued: both go when the last holder drops).
#[derive(Debug)]
struct Closer(Option<OwnedFd>, Option<FixedSlot>);

impl SharedFd {
    pub(crate) fn new(fd: OwnedFd) -> SharedFd {
        SharedFd(Arc::new(Closer(Some(fd), None)))
    }

    /// A descriptor also registered in the ring's fixed-file `slot`: io_uring
    /// operations name the slot (see `driver::uring::fixed`).
    pub(crate) fn with_slot(fd: OwnedFd, slot: Option<FixedSlot>) -> SharedFd {
        SharedFd(Arc::new(Closer(Some(fd), slot)))
    }

    pub(crate) fn raw(&self) -> RawFd {
        self.0 .0.as_ref().map_or(-1, |fd| fd.as_raw_fd())
    }

    /// The fixed-file slot io_uring operations name instead of the
    /// descriptor, if the socket has one.
    pub(crate) fn fixed(&self) -> Option<u32> {
        self.0 .1.as_ref().map(FixedSlot::index)
    }

    /// The descriptor, borrowed (for socket options and metadata).
    pub(crate) fn borrowed(&self) -> std::os::fd::BorrowedFd<'_> {
        self.0 .0.as_ref().expect("open until dropped").as_fd()
    }
}

impl Drop for Closer {
    fn drop(&mut self) {
        let Some(fd) = self.0.take() else { return };
        // The driver is borrowed while it runs an orphaned operation's
        // clean-up: then (and off a runtime) close directly.
        let leftover = with_context(|cx| match cx.driver.try_borrow_mut() {
            Ok(mut driver) => match &mut *driver {
                Driver::Uring(ring) => {
                    ring.close(fd);
                    None
                }
                Driver::Epoll(_) => Some(fd),
            },
            Err(_) => Some(fd),
        })
        .unwrap_or(None);
        drop(leftover);
    }
}
