//! Positional read from a file.
//! io_uring: `IORING_OP_READ` at an offset. Elsewhere: `pread(2)` on the
//! blocking pool.

use std::io;

use io_uring::{opcode, squeue, types};

use super::{cvt, Operation, MAX_IO};
use crate::buf::IoBufMut;
use crate::driver::epoll::Direction;
use crate::driver::fd::SharedFd;

pub(crate) struct ReadAt<B> {
    fd: SharedFd,
    buf: B,
    offset: u64,
}

impl<B: IoBufMut> ReadAt<B> {
    pub(crate) fn new(fd: SharedFd, buf: B, offset: u64) -> ReadAt<B> {
        ReadAt { fd, buf, offset }
    }

    /// The buffer, with the `n` bytes a successful read wrote marked initialised.
    pub(crate) fn into_buf(self, result: &io::Result<u32>) -> B {
        let mut buf = self.buf;
        if let Ok(n) = *result {
            // SAFETY: the kernel wrote `n` bytes at the read target.
            unsafe { buf.advance_written(n as usize) };
        }
        buf
    }
}

impl<B: IoBufMut> ReadAt<B> {
    /// `preadv2(RWF_NOWAIT)`: the read done on the calling thread if the
    /// page cache holds the data (a short read when it holds only part);
    /// `WouldBlock` when it would wait for the disk, and `Unsupported`
    /// where the kernel or file system lacks RWF_NOWAIT.
    pub(crate) fn call_nowait(&mut self) -> io::Result<u32> {
        let (ptr, len) = self.buf.read_target();
        let iov = libc::iovec {
            iov_base: ptr.cast(),
            iov_len: len.min(MAX_IO),
        };
        // SAFETY: `iov` points at `len` writable bytes of `buf`, which the
        // operation owns for the call.
        let n =
            unsafe { libc::preadv2(self.fd.raw(), &iov, 1, self.offset as i64, libc::RWF_NOWAIT) };
        match cvt(n) {
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::EOPNOTSUPP | libc::ENOSYS | libc::EINVAL)
                ) =>
            {
                Err(io::ErrorKind::Unsupported.into())
            }
            other => other,
        }
    }
}

// SAFETY: the entry points at `buf`'s read target, heap memory (IoBufMut's
// contract) owned by the operation.
unsafe impl<B: IoBufMut> Operation for ReadAt<B> {
    const DIRECTION: Direction = Direction::Read;

    fn uring_entry(&mut self) -> squeue::Entry {
        let (ptr, len) = self.buf.read_target();
        opcode::Read::new(types::Fd(self.fd.raw()), ptr, len.min(MAX_IO) as u32)
            .offset(self.offset)
            .build()
    }

    fn call(&mut self) -> io::Result<u32> {
        let (ptr, len) = self.buf.read_target();
        // SAFETY: `ptr` is valid for `len` writable bytes of `buf`.
        let n = unsafe {
            libc::pread(
                self.fd.raw(),
                ptr.cast(),
                len.min(MAX_IO),
                self.offset as i64,
            )
        };
        cvt(n)
    }
}
