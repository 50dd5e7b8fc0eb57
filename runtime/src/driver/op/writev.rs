//! Vectored write: some bytes of several buffers, in order, in one call.
//! io_uring: `IORING_OP_SENDMSG`. epoll: `sendmsg(2)` on write readiness.

use std::io;

use io_uring::{opcode, squeue, types};

use super::msg::{IoVecs, MsgHeader};
use super::{cvt, Operation};
use crate::buf::IoBuf;
use crate::driver::epoll::Direction;
use crate::driver::fd::SharedFd;

/// Most buffers in one vectored write.
const MAX_IOVECS: usize = 1024;

pub(crate) struct Writev<B> {
    fd: SharedFd,
    msg: MsgHeader,
    _iovecs: IoVecs,
    pub(crate) bufs: Vec<B>,
}

impl<B: IoBuf> Writev<B> {
    /// Writes from the first (at most 1024) buffers of `bufs`.
    pub(crate) fn new(fd: SharedFd, bufs: Vec<B>) -> Writev<B> {
        let iovecs = IoVecs(
            bufs.iter()
                .take(MAX_IOVECS)
                .map(|b| {
                    let (ptr, len) = b.write_source();
                    libc::iovec {
                        iov_base: ptr as *mut libc::c_void,
                        iov_len: len,
                    }
                })
                .collect(),
        );
        let msg = MsgHeader::vectored(&iovecs);
        Writev {
            fd,
            msg,
            _iovecs: iovecs,
            bufs,
        }
    }
}

// SAFETY: the msghdr is on the heap; it points at the iovec array (heap, owned
// here), whose entries point at the bytes of `bufs` (stable by IoBuf's
// contract), all owned by the operation.
unsafe impl<B: IoBuf> Operation for Writev<B> {
    const DIRECTION: Direction = Direction::Write;

    fn uring_entry(&mut self) -> squeue::Entry {
        opcode::SendMsg::new(types::Fd(self.fd.raw()), self.msg.hdr())
            .flags(libc::MSG_NOSIGNAL as u32)
            .build()
    }

    fn call(&mut self) -> io::Result<u32> {
        // SAFETY: the msghdr points to live iovecs over live buffers.
        cvt(unsafe { libc::sendmsg(self.fd.raw(), self.msg.hdr(), libc::MSG_NOSIGNAL) })
    }
}
