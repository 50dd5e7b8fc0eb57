//! epoll driver (through mio): readiness tracking for non-blocking sockets.
//!
//! Sockets are registered edge-triggered for both directions. Each keeps a
//! readiness bit per direction: an operation tries its syscall while the bit
//! is set, clears it on `EWOULDBLOCK` and parks its waker until the next event.

use std::io;
use std::os::fd::RawFd;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll as MioPoll, Token};
use slab::Slab;

use super::Unparker;
use crate::driver::Driver;
use crate::runtime::{context, with_context};

const WAKER_TOKEN: Token = Token(usize::MAX);

/// Direction of interest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    Read,
    Write,
}

#[derive(Default)]
struct IoState {
    readable: bool,
    writable: bool,
    /// The peer closed a direction or the socket has an error: both stay
    /// ready for good (edge-triggered epoll reports that state once only).
    closed: bool,
    read_waker: Option<Waker>,
    write_waker: Option<Waker>,
}

pub(crate) struct Epoll {
    poll: MioPoll,
    events: Events,
    sources: Slab<IoState>,
    waker: Arc<mio::Waker>,
    /// Zero-timeout polls skipped since the last real one.
    skipped_polls: u32,
}

/// While tasks are runnable, epoll is asked for events only every this many
/// loop turns: a busy core should not pay one epoll_wait per turn.
const BUSY_POLL_INTERVAL: u32 = 61;

impl Epoll {
    pub(crate) fn new() -> io::Result<Epoll> {
        let poll = MioPoll::new()?;
        let waker = Arc::new(mio::Waker::new(poll.registry(), WAKER_TOKEN)?);
        Ok(Epoll {
            poll,
            events: Events::with_capacity(1024),
            sources: Slab::with_capacity(1024),
            waker,
            skipped_polls: 0,
        })
    }

    pub(crate) fn unparker(&self) -> Unparker {
        Unparker::Mio(self.waker.clone())
    }

    pub(crate) fn park(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        if timeout == Some(Duration::ZERO) && self.skipped_polls < BUSY_POLL_INTERVAL {
            self.skipped_polls += 1;
            return Ok(());
        }
        self.skipped_polls = 0;
        match self.poll.poll(&mut self.events, timeout) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(()),
            Err(e) => return Err(e),
        }
        for event in self.events.iter() {
            let token = event.token();
            if token == WAKER_TOKEN {
                continue;
            }
            let Some(state) = self.sources.get_mut(token.0) else {
                continue;
            };
            let closed = event.is_error() || event.is_read_closed() || event.is_write_closed();
            state.closed |= closed;
            if event.is_readable() || closed {
                state.readable = true;
                if let Some(w) = state.read_waker.take() {
                    w.wake();
                }
            }
            if event.is_writable() || closed {
                state.writable = true;
                if let Some(w) = state.write_waker.take() {
                    w.wake();
                }
            }
        }
        Ok(())
    }

    pub(crate) fn tracked_sources(&self) -> usize {
        self.sources.len()
    }

    fn register(&mut self, fd: RawFd) -> io::Result<usize> {
        let entry = self.sources.vacant_entry();
        let key = entry.key();
        self.poll.registry().register(
            &mut SourceFd(&fd),
            Token(key),
            Interest::READABLE | Interest::WRITABLE,
        )?;
        entry.insert(IoState {
            readable: true,
            writable: true,
            ..IoState::default()
        });
        Ok(key)
    }

    fn deregister(&mut self, key: usize, fd: RawFd) {
        let _ = self.poll.registry().deregister(&mut SourceFd(&fd));
        self.sources.try_remove(key);
    }
}

/// A file descriptor registered with the current thread's epoll driver.
/// Deregisters on drop; the owner closes the descriptor afterwards.
#[derive(Debug)]
pub(crate) struct Registration {
    key: usize,
    fd: RawFd,
}

impl Registration {
    /// Registers `fd` (which must be non-blocking) with the current runtime.
    pub(crate) fn new(fd: RawFd) -> io::Result<Registration> {
        let key = context(|cx| match &mut *cx.driver.borrow_mut() {
            Driver::Epoll(ep) => ep.register(fd),
            Driver::Uring(_) => Err(io::Error::other(
                "epoll registration on an io_uring runtime",
            )),
        })?;
        Ok(Registration { key, fd })
    }

    /// Runs the non-blocking syscall `op` until it does not return
    /// `WouldBlock`, parking the task on readiness in between. `op` returns
    /// its result and whether it emptied the socket buffer (a short read or
    /// write): then the readiness bit is cleared at once, since edge-triggered
    /// epoll reports the next arrival, and the next operation skips a syscall
    /// bound to fail with `EAGAIN`.
    pub(crate) fn poll_io<R>(
        &self,
        dir: Direction,
        cx: &mut Context<'_>,
        mut op: impl FnMut() -> io::Result<(R, bool)>,
    ) -> Poll<io::Result<R>> {
        loop {
            let ready = context(|rt| match &mut *rt.driver.borrow_mut() {
                Driver::Epoll(ep) => {
                    let Some(state) = ep.sources.get_mut(self.key) else {
                        return Err(io::Error::other("socket deregistered"));
                    };
                    let (ready, waker) = match dir {
                        Direction::Read => (state.readable, &mut state.read_waker),
                        Direction::Write => (state.writable, &mut state.write_waker),
                    };
                    if !ready {
                        match waker {
                            Some(w) if w.will_wake(cx.waker()) => {}
                            _ => *waker = Some(cx.waker().clone()),
                        }
                    }
                    Ok(ready)
                }
                Driver::Uring(_) => Err(io::Error::other("epoll socket on an io_uring runtime")),
            });
            match ready {
                Err(e) => return Poll::Ready(Err(e)),
                Ok(false) => return Poll::Pending,
                Ok(true) => {}
            }
            match op() {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.clear(dir, false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Ok((r, drained)) => {
                    if drained {
                        self.clear(dir, true);
                    }
                    return Poll::Ready(Ok(r));
                }
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }

    fn clear(&self, dir: Direction, drained_only: bool) {
        context(|rt| {
            if let Driver::Epoll(ep) = &mut *rt.driver.borrow_mut() {
                if let Some(state) = ep.sources.get_mut(self.key) {
                    if drained_only && state.closed {
                        // After a hang-up or error no further edge will come:
                        // only a `WouldBlock` may clear readiness then.
                        return;
                    }
                    match dir {
                        Direction::Read => state.readable = false,
                        Direction::Write => state.writable = false,
                    }
                }
            }
        });
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        with_context(|cx| {
            if let Ok(mut driver) = cx.driver.try_borrow_mut() {
                if let Driver::Epoll(ep) = &mut *driver {
                    ep.deregister(self.key, self.fd);
                }
            }
        });
    }
}
