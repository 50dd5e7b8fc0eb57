//! Positional write to a file.
//! io_uring: `IORING_OP_WRITE` at an offset. Elsewhere: `pwrite(2)` on the
//! blocking pool.

use std::io;

use io_uring::{opcode, squeue, types};

use super::{cvt, Operation, MAX_IO};
use crate::buf::IoBuf;
use crate::driver::epoll::Direction;
use crate::driver::fd::SharedFd;

pub(crate) struct WriteAt<B> {
    fd: SharedFd,
    pub(crate) buf: B,
    offset: u64,
}

impl<B: IoBuf> WriteAt<B> {
    pub(crate) fn new(fd: SharedFd, buf: B, offset: u64) -> WriteAt<B> {
        WriteAt { fd, buf, offset }
    }
}

// SAFETY: the entry points at `buf`'s bytes, stable memory (IoBuf's
// contract) owned by the operation.
unsafe impl<B: IoBuf> Operation for WriteAt<B> {
    const DIRECTION: Direction = Direction::Write;

    fn uring_entry(&mut self) -> squeue::Entry {
        let (ptr, len) = self.buf.write_source();
        opcode::Write::new(types::Fd(self.fd.raw()), ptr, len.min(MAX_IO) as u32)
            .offset(self.offset)
            .build()
    }

    fn call(&mut self) -> io::Result<u32> {
        let (ptr, len) = self.buf.write_source();
        // SAFETY: `ptr` is valid for `len` initialised bytes of `buf`.
        let n = unsafe {
            libc::pwrite(
                self.fd.raw(),
                ptr.cast(),
                len.min(MAX_IO),
                self.offset as i64,
            )
        };
        cvt(n)
    }
}
