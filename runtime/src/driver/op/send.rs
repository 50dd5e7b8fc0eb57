//! `send`: write some of a buffer's bytes.
//! io_uring: `IORING_OP_SEND`, or `IORING_OP_SEND_ZC` for a zero-copy send
//! (see `zerocopy`). epoll: `send(2)` on write readiness.

use std::io;
use std::os::fd::RawFd;

use io_uring::{opcode, squeue};

use super::{cvt, sys_send, Operation, MAX_IO};
use crate::buf::IoBuf;
use crate::driver::epoll::Direction;
use crate::driver::fd::SharedFd;

pub(crate) struct Send<B> {
    fd: SharedFd,
    pub(crate) buf: B,
    len: usize,
    flags: libc::c_int,
    zerocopy: bool,
}

impl<B: IoBuf> Send<B> {
    pub(crate) fn new(fd: SharedFd, buf: B) -> Send<B> {
        let len = buf.write_source().1.min(MAX_IO);
        Send {
            fd,
            buf,
            len,
            flags: libc::MSG_NOSIGNAL,
            zerocopy: false,
        }
    }

    /// Bytes the send would write.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// As a zero-copy send on io_uring (the buffer is held until the
    /// kernel's notification that it no longer uses the pages).
    pub(crate) fn zerocopy(mut self, on: bool) -> Send<B> {
        self.zerocopy = on;
        self
    }

    /// With `MSG_MORE`: the kernel holds the bytes for what follows (a
    /// `sendfile` after a response head), to send them in one segment.
    pub(crate) fn more(mut self) -> Send<B> {
        self.flags |= libc::MSG_MORE;
        self
    }
}

// SAFETY: the entry points at `buf`'s bytes, stable memory (IoBuf's
// contract) owned by the operation (for a zero-copy send, until its
// notification: the driver completes the operation only then).
unsafe impl<B: IoBuf> Operation for Send<B> {
    const DIRECTION: Direction = Direction::Write;

    fn uring_entry(&mut self) -> squeue::Entry {
        let ptr = self.buf.write_source().0;
        let (len, flags) = (self.len as u32, self.flags);
        if self.zerocopy {
            return on_target!(self.fd, |t| opcode::SendZc::new(t, ptr, len)
                .flags(flags)
                .build());
        }
        on_target!(self.fd, |t| opcode::Send::new(t, ptr, len)
            .flags(flags)
            .build())
    }

    fn call(&mut self) -> io::Result<u32> {
        send_now(self.fd.raw(), &self.buf, self.flags).map(|(n, _)| n as u32)
    }

    /// A short write filled the send buffer.
    fn drained(&self, n: u32) -> bool {
        (n as usize) < self.len
    }
}

/// `send(2)` of `buf`'s bytes (at most [`MAX_IO`]) on `fd` with `flags`,
/// as the call itself: the count and whether it was short (the send buffer
/// is full, as [`Operation::drained`] says). The epoll path of a socket's
/// write, which needs no operation value (no descriptor clone) around it.
pub(crate) fn send_now<B: IoBuf>(
    fd: RawFd,
    buf: &B,
    flags: libc::c_int,
) -> io::Result<(usize, bool)> {
    let (ptr, len) = buf.write_source();
    let len = len.min(MAX_IO);
    // SAFETY: `ptr` is valid for `len` initialised bytes of `buf`, borrowed
    // for the call.
    let n = cvt(unsafe { sys_send(fd, ptr, len, flags) })? as usize;
    Ok((n, n < len))
}
