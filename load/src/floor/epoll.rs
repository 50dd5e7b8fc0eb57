//! The epoll floor: every socket registered once, edge-triggered, for
//! reading and writing; per readiness one `recv` (another only if it
//! filled the buffer) and, when a response completed, one `send` of the
//! next request(s). No `epoll_ctl` after the start.

use std::io;
use std::os::fd::AsRawFd;

use crate::proto::Error;
use crate::{Run, Slot};

/// Read buffer size.
const BUF: usize = 64 * 1024;

/// An epoll instance, closed on drop.
struct Epoll(i32);

impl Drop for Epoll {
    fn drop(&mut self) {
        // SAFETY: the descriptor was opened by `epoll_create1` and is
        // closed once.
        unsafe { libc::close(self.0) };
    }
}

/// Runs until the budget is spent or a connection fails.
pub fn run(run: &mut Run, slots: &mut [Slot], defer_sends: bool) -> Result<(), Error> {
    // SAFETY: no pointers; the result is checked.
    let ep = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    if ep < 0 {
        return Err(Error::Io(io::Error::last_os_error()));
    }
    let ep = Epoll(ep);
    for (i, slot) in slots.iter().enumerate() {
        let mut ev = libc::epoll_event {
            events: (libc::EPOLLIN | libc::EPOLLOUT | libc::EPOLLRDHUP | libc::EPOLLET) as u32,
            u64: i as u64,
        };
        // SAFETY: `ev` is a live epoll_event; the fd is the open socket.
        if unsafe { libc::epoll_ctl(ep.0, libc::EPOLL_CTL_ADD, slot.stream.as_raw_fd(), &mut ev) }
            < 0
        {
            return Err(Error::Io(io::Error::last_os_error()));
        }
    }
    for slot in slots.iter_mut() {
        flush(slot)?;
    }
    let mut buf = vec![0u8; BUF];
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; slots.len().max(1)];
    let mut deferred: Vec<usize> = Vec::with_capacity(slots.len());
    while !run.over() {
        // SAFETY: `events` has room for `len` entries.
        let n = unsafe { libc::epoll_wait(ep.0, events.as_mut_ptr(), events.len() as i32, 100) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(Error::Io(e));
        }
        for ev in &events[..n as usize] {
            let slot = &mut slots[ev.u64 as usize];
            if ev.events & libc::EPOLLOUT as u32 != 0 && slot.sent < slot.flight.len() {
                flush(slot)?;
            }
            if ev.events
                & (libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLHUP | libc::EPOLLERR) as u32
                != 0
            {
                loop {
                    // SAFETY: `buf` is writable for its length.
                    let got = unsafe {
                        libc::recv(slot.stream.as_raw_fd(), buf.as_mut_ptr().cast(), BUF, 0)
                    };
                    if got < 0 {
                        let e = io::Error::last_os_error();
                        if e.kind() == io::ErrorKind::WouldBlock {
                            break;
                        }
                        return Err(Error::Io(e));
                    }
                    run.received(slot, &buf[..got as usize])?;
                    if (got as usize) < BUF {
                        break;
                    }
                }
                if defer_sends {
                    deferred.push(ev.u64 as usize);
                } else {
                    flush(slot)?;
                }
            }
        }
        for i in deferred.drain(..) {
            flush(&mut slots[i])?;
        }
    }
    Ok(())
}

/// Sends what is queued: `flight` first, then `out`. Stops at EAGAIN (the
/// next EPOLLOUT edge resumes).
fn flush(slot: &mut Slot) -> Result<(), Error> {
    loop {
        let fd = slot.stream.as_raw_fd();
        let Some(rest) = slot.unsent() else {
            return Ok(());
        };
        // SAFETY: `rest` is readable for its length.
        let n = unsafe { libc::send(fd, rest.as_ptr().cast(), rest.len(), libc::MSG_NOSIGNAL) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::WouldBlock {
                return Ok(());
            }
            return Err(Error::Io(e));
        }
        slot.sent += n as usize;
    }
}
