//! epoll driver (through mio): readiness tracking for non-blocking sockets.
//!
//! Sockets are registered edge-triggered for both directions. Each keeps a
//! readiness bit per direction: an operation tries its syscall while the bit
//! is set, clears it on `EWOULDBLOCK` and parks its waker until the next event.
//!
//! The bits and wakers of a socket live in an [`IoState`] that its
//! [`Registration`] and the driver share (`Rc`, `Cell`s): an operation reads
//! and clears them without borrowing the driver, and the driver's event loop
//! sets them. A parked waker stays in place after its wake-up, so a task
//! that waits on the same socket again does not clone it anew.

use std::cell::Cell;
use std::io;
use std::os::fd::RawFd;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll as MioPoll, Token};
use slab::Slab;

use super::Unparker;
use crate::driver::Driver;
use crate::runtime::{context, with_context, CURRENT_ID};

const WAKER_TOKEN: Token = Token(usize::MAX);

/// Direction of interest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    Read,
    Write,
}

/// One direction's waiter: the waker of the last task that parked on it,
/// and whether it waits now.
#[derive(Default)]
struct Waiter {
    waker: Cell<Option<Waker>>,
    waiting: Cell<bool>,
}

impl Waiter {
    /// Parks `waker`: kept as it is when it would wake the same task.
    fn park(&self, waker: &Waker) {
        let kept = match self.waker.take() {
            Some(w) if w.will_wake(waker) => w,
            _ => waker.clone(),
        };
        self.waker.set(Some(kept));
        self.waiting.set(true);
    }

    /// Wakes the parked task, if one waits; its waker stays for its next wait.
    fn wake(&self) {
        if !self.waiting.replace(false) {
            return;
        }
        let Some(w) = self.waker.take() else { return };
        w.wake_by_ref();
        // A waker parked by the wake-up itself (a reentrant poll) wins.
        match self.waker.take() {
            Some(newer) => self.waker.set(Some(newer)),
            None => self.waker.set(Some(w)),
        }
    }
}

/// Readiness and waiters of one registered descriptor, shared by its
/// [`Registration`] and the driver.
#[derive(Default)]
struct IoState {
    readable: Cell<bool>,
    writable: Cell<bool>,
    /// The peer closed a direction or the socket has an error: both stay
    /// ready for good (edge-triggered epoll reports that state once only).
    closed: Cell<bool>,
    read: Waiter,
    write: Waiter,
}

pub(crate) struct Epoll {
    poll: MioPoll,
    events: Events,
    sources: Slab<Rc<IoState>>,
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
            let Some(state) = self.sources.get(token.0) else {
                continue;
            };
            let closed = event.is_error() || event.is_read_closed() || event.is_write_closed();
            if closed {
                state.closed.set(true);
            }
            if event.is_readable() || closed {
                state.readable.set(true);
                state.read.wake();
            }
            if event.is_writable() || closed {
                state.writable.set(true);
                state.write.wake();
            }
        }
        Ok(())
    }

    pub(crate) fn tracked_sources(&self) -> usize {
        self.sources.len()
    }

    fn register(&mut self, fd: RawFd, state: &Rc<IoState>) -> io::Result<usize> {
        let entry = self.sources.vacant_entry();
        let key = entry.key();
        self.poll.registry().register(
            &mut SourceFd(&fd),
            Token(key),
            Interest::READABLE | Interest::WRITABLE,
        )?;
        entry.insert(state.clone());
        Ok(key)
    }

    /// Deregisters `fd` if slot `key` still holds `state` (a socket that
    /// outlived its runtime must not remove another socket's slot).
    fn deregister(&mut self, key: usize, fd: RawFd, state: &Rc<IoState>) {
        if self.sources.get(key).is_some_and(|s| Rc::ptr_eq(s, state)) {
            let _ = self.poll.registry().deregister(&mut SourceFd(&fd));
            self.sources.remove(key);
        }
    }
}

/// A file descriptor registered with the current thread's epoll driver.
/// Deregisters on drop; the owner closes the descriptor afterwards.
pub(crate) struct Registration {
    state: Rc<IoState>,
    key: usize,
    fd: RawFd,
    /// The runtime whose driver it is registered with: elsewhere (a
    /// runtime made later on the same thread) its operations fail.
    runtime: usize,
}

impl std::fmt::Debug for Registration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registration")
            .field("key", &self.key)
            .field("fd", &self.fd)
            .field("readable", &self.state.readable.get())
            .field("writable", &self.state.writable.get())
            .finish()
    }
}

impl Registration {
    /// Registers `fd` (which must be non-blocking) with the current runtime.
    pub(crate) fn new(fd: RawFd) -> io::Result<Registration> {
        let state = Rc::new(IoState {
            readable: Cell::new(true),
            writable: Cell::new(true),
            ..IoState::default()
        });
        let (key, runtime) = context(|cx| match &mut *cx.driver.borrow_mut() {
            Driver::Epoll(ep) => Ok((ep.register(fd, &state)?, cx.shared.id)),
            Driver::Uring(_) => Err(io::Error::other(
                "epoll registration on an io_uring runtime",
            )),
        })?;
        Ok(Registration {
            state,
            key,
            fd,
            runtime,
        })
    }

    /// Runs the non-blocking syscall `op` until it does not return
    /// `WouldBlock`, parking the task on readiness in between. `op` returns
    /// its result and whether it emptied the socket buffer (a short read or
    /// write): then the readiness bit is cleared at once, since edge-triggered
    /// epoll reports the next arrival, and the next operation skips a syscall
    /// bound to fail with `EAGAIN` (after a hang-up or error no further edge
    /// comes: only a `WouldBlock` clears readiness then).
    pub(crate) fn poll_io<R>(
        &self,
        dir: Direction,
        cx: &mut Context<'_>,
        op: impl FnMut() -> io::Result<(R, bool)>,
    ) -> Poll<io::Result<R>> {
        if CURRENT_ID.with(Cell::get) != self.runtime {
            return Poll::Ready(Err(io::Error::other(
                "epoll socket used outside the runtime that registered it",
            )));
        }
        let state = &*self.state;
        let (ready, waiter) = match dir {
            Direction::Read => (&state.readable, &state.read),
            Direction::Write => (&state.writable, &state.write),
        };
        match self.run_while_ready(ready, op) {
            Some(r) => Poll::Ready(r),
            None => {
                waiter.park(cx.waker());
                Poll::Pending
            }
        }
    }

    /// [`poll_io`](Self::poll_io) without a task to park: runs `op` while
    /// the direction is ready, and gives `None` when it is not (or stops
    /// being so, `WouldBlock`), or when the socket belongs to another
    /// runtime (the waiting path reports that). No waker is touched.
    #[inline]
    pub(crate) fn try_io<R>(
        &self,
        dir: Direction,
        op: impl FnMut() -> io::Result<(R, bool)>,
    ) -> Option<io::Result<R>> {
        if CURRENT_ID.with(Cell::get) != self.runtime {
            return None;
        }
        let ready = match dir {
            Direction::Read => &self.state.readable,
            Direction::Write => &self.state.writable,
        };
        self.run_while_ready(ready, op)
    }

    /// Runs `op` while `ready` (a direction's readiness bit) holds; `None`
    /// once it does not. `WouldBlock` clears the bit; so does a result that
    /// emptied the socket buffer, unless the socket has hung up.
    #[inline]
    fn run_while_ready<R>(
        &self,
        ready: &Cell<bool>,
        mut op: impl FnMut() -> io::Result<(R, bool)>,
    ) -> Option<io::Result<R>> {
        while ready.get() {
            match op() {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => ready.set(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Ok((r, drained)) => {
                    if drained && !self.state.closed.get() {
                        ready.set(false);
                    }
                    return Some(Ok(r));
                }
                Err(e) => return Some(Err(e)),
            }
        }
        None
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        with_context(|cx| {
            if let Ok(mut driver) = cx.driver.try_borrow_mut() {
                if let Driver::Epoll(ep) = &mut *driver {
                    ep.deregister(self.key, self.fd, &self.state);
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::Waiter;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::task::{Wake, Waker};

    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn counter() -> (Arc<Count>, Waker) {
        let count = Arc::new(Count(AtomicUsize::new(0)));
        (count.clone(), Waker::from(count))
    }

    #[test]
    fn a_waiter_wakes_only_a_parked_task_and_keeps_its_waker() {
        let waiter = Waiter::default();
        let (a, wa) = counter();
        // Nobody waits: an event wakes no one.
        waiter.wake();
        waiter.park(&wa);
        waiter.wake();
        assert_eq!(a.0.load(Ordering::SeqCst), 1);
        // Woken once per wait, not per event.
        waiter.wake();
        assert_eq!(a.0.load(Ordering::SeqCst), 1);
        // Parking the same task again reuses the kept waker (no clone).
        let before = Arc::strong_count(&a);
        waiter.park(&wa);
        assert_eq!(Arc::strong_count(&a), before);
        waiter.wake();
        assert_eq!(a.0.load(Ordering::SeqCst), 2);
        // Another task replaces it; only that one is woken.
        let (b, wb) = counter();
        waiter.park(&wb);
        assert_eq!(
            Arc::strong_count(&a),
            before - 1,
            "the old waker is dropped"
        );
        waiter.wake();
        assert_eq!(a.0.load(Ordering::SeqCst), 2);
        assert_eq!(b.0.load(Ordering::SeqCst), 1);
    }
}
