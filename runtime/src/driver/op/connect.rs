//! `connect`: connects a socket to an address.
//! io_uring: `IORING_OP_CONNECT`. epoll: `connect(2)`, then, if it is in
//! progress, the pending error (`SO_ERROR`) once the socket is writable.

use std::io;

use io_uring::{opcode, squeue, types};
use socket2::SockAddr;

use super::{cvt, Operation};
use crate::driver::epoll::Direction;
use crate::driver::fd::SharedFd;

pub(crate) struct Connect {
    fd: SharedFd,
    addr: Box<SockAddr>,
    /// `connect(2)` was issued and is in progress (epoll).
    in_progress: bool,
}

impl Connect {
    pub(crate) fn new(fd: SharedFd, addr: &SockAddr) -> Connect {
        Connect {
            fd,
            addr: Box::new(addr.clone()),
            in_progress: false,
        }
    }
}

// SAFETY: the entry points at the boxed address the operation owns.
unsafe impl Operation for Connect {
    const DIRECTION: Direction = Direction::Write;

    fn uring_entry(&mut self) -> squeue::Entry {
        opcode::Connect::new(
            types::Fd(self.fd.raw()),
            self.addr.as_ptr(),
            self.addr.len(),
        )
        .build()
    }

    fn call(&mut self) -> io::Result<u32> {
        if self.in_progress {
            let fd = self.fd.borrowed();
            return match socket2::SockRef::from(&fd).take_error()? {
                Some(e) => Err(e),
                None => Ok(0),
            };
        }
        // SAFETY: the address is a valid sockaddr of `len` bytes.
        let res = unsafe { libc::connect(self.fd.raw(), self.addr.as_ptr(), self.addr.len()) };
        match cvt(res as isize) {
            // An interrupted connect goes on asynchronously, as one in progress.
            Err(e) if matches!(e.raw_os_error(), Some(libc::EINPROGRESS | libc::EINTR)) => {
                self.in_progress = true;
                Err(io::ErrorKind::WouldBlock.into())
            }
            other => other,
        }
    }
}
