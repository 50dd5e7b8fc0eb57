//! Vectored write: some bytes of several buffers, in order, in one call.
//! io_uring: `IORING_OP_SENDMSG`, or `IORING_OP_SENDMSG_ZC` for a zero-copy
//! send (see `zerocopy`). epoll: `sendmsg(2)` on write readiness.

use std::io;
use std::os::fd::RawFd;

use io_uring::{opcode, squeue};

use super::msg::{IoVecs, MsgHeader};
use super::{cvt, sys_sendmsg, Operation};
use crate::buf::IoBuf;
use crate::driver::epoll::Direction;
use crate::driver::fd::SharedFd;

/// Most buffers in one vectored write.
const MAX_IOVECS: usize = 1024;

/// Most buffers a syscall's iovec array holds on the stack; a write of more
/// builds it on the heap.
const STACK_IOVECS: usize = 16;

pub(crate) struct Writev<B> {
    fd: SharedFd,
    /// The header and iovec array io_uring reads, built by `uring_entry`
    /// only: a syscall builds both on its stack, without allocating.
    uring: Option<(MsgHeader, IoVecs)>,
    pub(crate) bufs: Vec<B>,
    zerocopy: bool,
}

impl<B: IoBuf> Writev<B> {
    /// Writes from the first (at most 1024) buffers of `bufs`.
    pub(crate) fn new(fd: SharedFd, bufs: Vec<B>) -> Writev<B> {
        Writev {
            fd,
            uring: None,
            bufs,
            zerocopy: false,
        }
    }

    /// As a zero-copy send on io_uring (the buffers are held until the
    /// kernel's notification that it no longer uses the pages).
    pub(crate) fn zerocopy(mut self, on: bool) -> Writev<B> {
        self.zerocopy = on;
        self
    }

    /// Bytes the write would send (of the buffers it takes).
    pub(crate) fn len(&self) -> usize {
        self.iovecs().map(|v| v.iov_len).sum()
    }

    fn iovecs(&self) -> impl Iterator<Item = libc::iovec> + '_ {
        iovecs(&self.bufs)
    }
}

/// `sendmsg(2)` over `iovecs` on `fd`.
fn sendmsg(fd: RawFd, iovecs: &[libc::iovec]) -> io::Result<u32> {
    // SAFETY: msghdr is plain data; all-zero is a valid empty header.
    let mut hdr: libc::msghdr = unsafe { std::mem::zeroed() };
    hdr.msg_iov = iovecs.as_ptr().cast_mut();
    hdr.msg_iovlen = iovecs.len();
    // SAFETY: the header points at `iovecs`, whose entries the caller made
    // point at live bytes; the kernel only reads them during the call.
    cvt(unsafe { sys_sendmsg(fd, &hdr, libc::MSG_NOSIGNAL) })
}

/// The iovecs of the first (at most [`MAX_IOVECS`]) buffers of `bufs`.
fn iovecs<B: IoBuf>(bufs: &[B]) -> impl Iterator<Item = libc::iovec> + '_ {
    bufs.iter().take(MAX_IOVECS).map(|b| {
        let (ptr, len) = b.write_source();
        libc::iovec {
            iov_base: ptr as *mut libc::c_void,
            iov_len: len,
        }
    })
}

/// One `sendmsg(2)` of the bytes of `bufs` (the first 1024) on `fd`, the
/// iovec array on the stack for up to 16 buffers: the count and whether it
/// was short (the send buffer is full). The epoll path of a socket's
/// vectored write, which needs no operation value around it.
pub(crate) fn writev_now<B: IoBuf>(fd: RawFd, bufs: &[B]) -> io::Result<(usize, bool)> {
    let total: usize = iovecs(bufs).map(|v| v.iov_len).sum();
    let n = if bufs.len() > STACK_IOVECS {
        let vecs: Vec<libc::iovec> = iovecs(bufs).collect();
        sendmsg(fd, &vecs)?
    } else {
        let mut vecs = [libc::iovec {
            iov_base: std::ptr::null_mut(),
            iov_len: 0,
        }; STACK_IOVECS];
        let mut n = 0;
        for (slot, iovec) in vecs.iter_mut().zip(iovecs(bufs)) {
            *slot = iovec;
            n += 1;
        }
        sendmsg(fd, &vecs[..n])?
    } as usize;
    Ok((n, n < total))
}

// SAFETY: the msghdr is on the heap; it points at the iovec array (heap, owned
// here), whose entries point at the bytes of `bufs` (stable by IoBuf's
// contract), all owned by the operation (for a zero-copy send, until its
// notification: the driver completes the operation only then).
unsafe impl<B: IoBuf> Operation for Writev<B> {
    const DIRECTION: Direction = Direction::Write;

    fn uring_entry(&mut self) -> squeue::Entry {
        let iovecs = IoVecs(self.iovecs().collect());
        let msg = MsgHeader::vectored(&iovecs);
        let (msg, _) = self.uring.insert((msg, iovecs));
        let hdr = msg.hdr();
        let flags = libc::MSG_NOSIGNAL as u32;
        if self.zerocopy {
            return on_target!(self.fd, |t| opcode::SendMsgZc::new(t, hdr)
                .flags(flags)
                .build());
        }
        on_target!(self.fd, |t| opcode::SendMsg::new(t, hdr)
            .flags(flags)
            .build())
    }

    fn call(&mut self) -> io::Result<u32> {
        writev_now(self.fd.raw(), &self.bufs).map(|(n, _)| n as u32)
    }
}
