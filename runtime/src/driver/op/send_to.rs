//! `sendto`: one datagram to an address.
//! io_uring: `IORING_OP_SENDMSG`. epoll: `sendmsg(2)` on write readiness.

use std::io;

use io_uring::{opcode, squeue, types};
use socket2::SockAddr;

use super::msg::MsgHeader;
use super::{cvt, Operation};
use crate::buf::IoBuf;
use crate::driver::epoll::Direction;
use crate::driver::fd::SharedFd;

pub(crate) struct SendTo<B> {
    fd: SharedFd,
    msg: MsgHeader,
    pub(crate) buf: B,
}

impl<B: IoBuf> SendTo<B> {
    pub(crate) fn new(fd: SharedFd, buf: B, addr: &SockAddr) -> SendTo<B> {
        let (ptr, len) = buf.write_source();
        let iov = libc::iovec {
            iov_base: ptr as *mut libc::c_void,
            iov_len: len,
        };
        SendTo {
            fd,
            msg: MsgHeader::new(iov, Some(addr)),
            buf,
        }
    }
}

// SAFETY: the msghdr (on the heap) points at its own iovec and address and at the
// bytes of `buf` (stable by IoBuf's contract), all owned by the operation.
unsafe impl<B: IoBuf> Operation for SendTo<B> {
    const DIRECTION: Direction = Direction::Write;

    fn uring_entry(&mut self) -> squeue::Entry {
        opcode::SendMsg::new(types::Fd(self.fd.raw()), self.msg.hdr()).build()
    }

    fn call(&mut self) -> io::Result<u32> {
        // SAFETY: the msghdr points to live memory.
        cvt(unsafe { super::sys_sendmsg(self.fd.raw(), self.msg.hdr(), libc::MSG_NOSIGNAL) })
    }
}
