//! When a socket's write is a zero-copy send (io_uring, `Builder::zerocopy_send`):
//! on a ring whose kernel has the opcodes and the feature switched on, a
//! write of at least the ring's threshold, on a socket that has not refused
//! one. A socket type without zero-copy support (a Unix socket) or a kernel
//! that refuses it fails the first one with `EOPNOTSUPP` or `EINVAL`
//! before sending anything; the socket then writes with plain sends.

use std::cell::Cell;
use std::io;

use super::Driven;
use crate::driver::Driver;
use crate::runtime::context;

/// A socket's zero-copy state: whether it refused a zero-copy send.
#[derive(Debug, Default)]
pub(crate) struct ZeroCopy {
    refused: Cell<bool>,
}

impl ZeroCopy {
    /// Whether a write of `len()` bytes, run as `driven`, goes zero-copy.
    pub(crate) fn wants(&self, driven: Driven<'_>, len: impl FnOnce() -> usize) -> bool {
        if !matches!(driven, Driven::Ring) || self.refused.get() {
            return false;
        }
        context(|cx| match &*cx.driver.borrow() {
            Driver::Uring(ring) => {
                ring.zerocopy_min() != usize::MAX && len() >= ring.zerocopy_min()
            }
            Driver::Epoll(_) => false,
        })
    }

    /// Whether `result` of a zero-copy send is its refusal (nothing was
    /// sent): then this socket sends plainly from now on, and the caller
    /// repeats the write as a plain send.
    pub(crate) fn refused(&self, result: &io::Result<u32>) -> bool {
        let refused = matches!(
            result.as_ref().map_err(io::Error::raw_os_error),
            Err(Some(libc::EOPNOTSUPP | libc::EINVAL))
        );
        if refused {
            tracing::debug!("zero-copy send refused: plain sends on this socket");
            self.refused.set(true);
        }
        refused
    }
}
