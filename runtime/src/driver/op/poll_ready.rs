//! Wait until a socket has bytes to read or can take more bytes, without
//! a buffer. io_uring: `IORING_OP_POLL_ADD` for `POLLIN` or `POLLOUT` (one
//! shot). Elsewhere: `poll(2)` without waiting (epoll waits through the
//! registration).

use std::io;

use io_uring::{opcode, squeue};

use super::Operation;
use crate::driver::epoll::Direction;
use crate::driver::fd::SharedFd;

/// Readiness of one direction (`WRITE`: writable, else readable).
pub(crate) struct PollReady<const WRITE: bool> {
    fd: SharedFd,
}

/// Waits until the socket can take more bytes.
pub(crate) type PollWritable = PollReady<true>;
/// Waits until the socket has bytes (or its end) to read.
pub(crate) type PollReadable = PollReady<false>;

impl<const WRITE: bool> PollReady<WRITE> {
    pub(crate) fn new(fd: SharedFd) -> PollReady<WRITE> {
        PollReady { fd }
    }

    const EVENTS: libc::c_short = if WRITE { libc::POLLOUT } else { libc::POLLIN };
}

// SAFETY: the entry carries no pointer, only the descriptor, which the
// operation keeps open (its `SharedFd`) until the completion.
unsafe impl<const WRITE: bool> Operation for PollReady<WRITE> {
    const DIRECTION: Direction = if WRITE {
        Direction::Write
    } else {
        Direction::Read
    };

    fn uring_entry(&mut self) -> squeue::Entry {
        on_target!(self.fd, |t| opcode::PollAdd::new(t, Self::EVENTS as u32)
            .build())
    }

    fn call(&mut self) -> io::Result<u32> {
        let mut pfd = libc::pollfd {
            fd: self.fd.raw(),
            events: Self::EVENTS,
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
