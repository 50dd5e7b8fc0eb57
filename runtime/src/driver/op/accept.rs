//! `accept`: a new connection (close-on-exec) and its peer's address.
//! io_uring: `IORING_OP_ACCEPT`, whose descriptor the driver closes if the
//! future was dropped. epoll: `accept4(2)` (non-blocking) on read readiness.

use std::io;

use io_uring::{opcode, squeue, types};

use super::msg::AddrBuf;
use super::{cvt, Operation};
use crate::driver::epoll::Direction;
use crate::driver::fd::SharedFd;

pub(crate) struct Accept {
    fd: SharedFd,
    pub(crate) addr: Box<AddrBuf>,
}

impl Accept {
    pub(crate) fn new(fd: SharedFd) -> Accept {
        Accept {
            fd,
            addr: Box::new(AddrBuf::new()),
        }
    }
}

// SAFETY: the entry points at the boxed address buffer the operation owns.
unsafe impl Operation for Accept {
    const DIRECTION: Direction = Direction::Read;
    const RESULT_IS_FD: bool = true;

    fn uring_entry(&mut self) -> squeue::Entry {
        opcode::Accept::new(
            types::Fd(self.fd.raw()),
            self.addr.storage.as_mut_ptr().cast(),
            &mut self.addr.len,
        )
        .flags(libc::SOCK_CLOEXEC)
        .build()
    }

    fn call(&mut self) -> io::Result<u32> {
        *self.addr = AddrBuf::new();
        // SAFETY: `addr` provides a sockaddr_storage and its length.
        let res = unsafe {
            libc::accept4(
                self.fd.raw(),
                self.addr.storage.as_mut_ptr().cast(),
                &mut self.addr.len,
                libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
            )
        };
        cvt(res as isize)
    }
}
