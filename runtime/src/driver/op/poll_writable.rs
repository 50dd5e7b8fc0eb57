//! Wait until a socket can take more bytes.
//! io_uring: `IORING_OP_POLL_ADD` for `POLLOUT` (one shot). Elsewhere:
//! `poll(2)` without waiting (epoll waits through the registration).

use std::io;

use io_uring::{opcode, squeue, types};

use super::Operation;
use crate::driver::epoll::Direction;
use crate::driver::fd::SharedFd;

pub(crate) struct PollWritable {
    fd: SharedFd,
}

impl PollWritable {
    pub(crate) fn new(fd: SharedFd) -> PollWritable {
        PollWritable { fd }
    }
}

// SAFETY: the entry carries no pointer, only the descriptor, which the
// operation keeps open (its `SharedFd`) until the completion.
unsafe impl Operation for PollWritable {
    const DIRECTION: Direction = Direction::Write;

    fn uring_entry(&mut self) -> squeue::Entry {
        opcode::PollAdd::new(types::Fd(self.fd.raw()), libc::POLLOUT as u32).build()
    }

    fn call(&mut self) -> io::Result<u32> {
        let mut pfd = libc::pollfd {
            fd: self.fd.raw(),
            events: libc::POLLOUT,
            revents: 0,
        };
        // SAFETY: one valid pollfd, zero timeout.
        let n = unsafe { libc::poll(&mut pfd, 1, 0) };
        match n {
            n if n < 0 => Err(io::Error::last_os_error()),
            0 => Err(io::ErrorKind::WouldBlock.into()),
            _ => Ok(pfd.revents as u32),
        }
    }
}
