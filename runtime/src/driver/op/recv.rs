//! `recv`: read into a buffer's read target.
//! io_uring: `IORING_OP_RECV`. epoll: `recv(2)` on read readiness.

use std::io;
use std::os::fd::RawFd;

use bytes::BytesMut;

use io_uring::{opcode, squeue};

use super::{cvt, sys_recv, Operation, MAX_IO};
use crate::buf::IoBufMut;
use crate::driver::epoll::Direction;
use crate::driver::fd::SharedFd;

pub(crate) struct Recv<B> {
    fd: SharedFd,
    pub(crate) buf: B,
    len: usize,
}

impl<B: IoBufMut> Recv<B> {
    pub(crate) fn new(fd: SharedFd, mut buf: B) -> Recv<B> {
        let len = buf.read_target().1.min(MAX_IO);
        Recv { fd, buf, len }
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

// SAFETY: the entry points at `buf`'s read target, heap memory (IoBufMut's
// contract) owned by the operation.
unsafe impl<B: IoBufMut> Operation for Recv<B> {
    const DIRECTION: Direction = Direction::Read;

    fn uring_entry(&mut self) -> squeue::Entry {
        let ptr = self.buf.read_target().0;
        on_target!(self.fd, |t| opcode::Recv::new(t, ptr, self.len as u32)
            .build())
    }

    fn call(&mut self) -> io::Result<u32> {
        let ptr = self.buf.read_target().0;
        // SAFETY: `ptr` is valid for `len` writable bytes of `buf`.
        cvt(unsafe { sys_recv(self.fd.raw(), ptr, self.len, 0) })
    }

    /// A short read emptied the receive buffer (0 is end of stream: the
    /// socket stays readable).
    fn drained(&self, n: u32) -> bool {
        n > 0 && (n as usize) < self.len
    }
}

/// `recv(2)` into the spare capacity of `buf`, appended to its bytes,
/// never waiting (`MSG_DONTWAIT`, also on a blocking socket of io_uring):
/// the direct read of a socket said to be readable. Returns the count and whether
/// the read emptied the socket buffer (as [`Operation::drained`]).
pub(crate) fn recv_spare(fd: RawFd, buf: &mut BytesMut) -> io::Result<(u32, bool)> {
    let spare = buf.spare_capacity_mut();
    let len = spare.len().min(MAX_IO);
    // SAFETY: `spare` is valid for `len` writable bytes owned by `buf`.
    let n = cvt(unsafe { sys_recv(fd, spare.as_mut_ptr().cast(), len, libc::MSG_DONTWAIT) })?;
    // SAFETY: the kernel initialised the `n` bytes after the buffer's end.
    unsafe { buf.set_len(buf.len() + n as usize) };
    Ok((n, n > 0 && (n as usize) < len))
}

/// A receive that takes a provided buffer when bytes arrive (io_uring
/// only; see `driver::buf_ring`): it owns no memory while it waits.
pub(crate) struct RecvSelect {
    fd: SharedFd,
}

impl RecvSelect {
    pub(crate) fn new(fd: SharedFd) -> RecvSelect {
        RecvSelect { fd }
    }
}

// SAFETY: the entry carries no pointer: the kernel picks a buffer of the
// registered ring, which outlives every operation on the ring.
unsafe impl Operation for RecvSelect {
    const DIRECTION: Direction = Direction::Read;

    fn uring_entry(&mut self) -> squeue::Entry {
        let len = crate::driver::buf_ring::SIZE as u32;
        on_target!(self.fd, |t| opcode::Recv::new(t, std::ptr::null_mut(), len)
            .buf_group(crate::driver::buf_ring::GROUP)
            .build()
            .flags(squeue::Flags::BUFFER_SELECT))
    }

    fn call(&mut self) -> io::Result<u32> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "provided-buffer receives run on io_uring only",
        ))
    }
}
