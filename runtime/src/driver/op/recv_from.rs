//! `recvfrom`: one datagram and its sender's address.
//! io_uring: `IORING_OP_RECVMSG`. epoll: `recvmsg(2)` on read readiness.

use std::io;

use io_uring::{opcode, squeue, types};
use socket2::SockAddr;

use super::msg::MsgHeader;
use super::{cvt, Operation, MAX_IO};
use crate::buf::IoBufMut;
use crate::driver::epoll::Direction;
use crate::driver::fd::SharedFd;

pub(crate) struct RecvFrom<B> {
    fd: SharedFd,
    msg: MsgHeader,
    buf: B,
}

impl<B: IoBufMut> RecvFrom<B> {
    pub(crate) fn new(fd: SharedFd, mut buf: B) -> RecvFrom<B> {
        let (ptr, len) = buf.read_target();
        let iov = libc::iovec {
            iov_base: ptr.cast(),
            iov_len: len.min(MAX_IO),
        };
        RecvFrom {
            fd,
            msg: MsgHeader::new(iov, None),
            buf,
        }
    }

    /// The buffer (with the bytes a successful receive wrote marked
    /// initialised) and the sender's address.
    pub(crate) fn finish(self, result: io::Result<u32>) -> (io::Result<(usize, SockAddr)>, B) {
        let RecvFrom { msg, mut buf, .. } = self;
        match result {
            Ok(n) => {
                // SAFETY: the kernel wrote `n` bytes at the read target.
                unsafe { buf.advance_written(n as usize) };
                (Ok((n as usize, msg.name())), buf)
            }
            Err(e) => (Err(e), buf),
        }
    }
}

// SAFETY: the msghdr (on the heap) points at its own iovec and address buffer and at
// `buf`'s read target (heap, by IoBufMut's contract), all owned by the
// operation.
unsafe impl<B: IoBufMut> Operation for RecvFrom<B> {
    const DIRECTION: Direction = Direction::Read;

    fn uring_entry(&mut self) -> squeue::Entry {
        opcode::RecvMsg::new(types::Fd(self.fd.raw()), self.msg.hdr_mut()).build()
    }

    fn call(&mut self) -> io::Result<u32> {
        self.msg.reset_name_len();
        // SAFETY: the msghdr points to live, writable memory.
        cvt(unsafe { libc::recvmsg(self.fd.raw(), self.msg.hdr_mut(), 0) })
    }
}
