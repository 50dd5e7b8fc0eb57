//! Multishot operations: one submission, many completions (multishot
//! accept, multishot receive). Their completions queue in the operation's
//! slot, at most `cap` of them, until the owner takes them; the last one
//! (without `IORING_CQE_F_MORE`) frees the slot. An owner that goes away
//! hands the driver a release function, which runs on every completion
//! still queued or yet to come (closing accepted descriptors nobody will
//! see), and the operation is cancelled; a provided buffer such a
//! completion names goes back to the ring.

use std::collections::VecDeque;
use std::task::{Context, Poll};

use io_uring::{cqueue, opcode, squeue};

use super::{OpState, Uring, IGNORE_KEY};

/// Completions a multishot accept queues before the driver stops it
/// (its owner re-arms it when it has taken them): a listener nobody
/// accepts on holds at most this many descriptors, and the kernel's
/// backlog does the rest.
pub(crate) const ACCEPT_QUEUE_CAP: usize = 128;

/// What runs on each completion of a multishot operation whose owner is gone.
pub(crate) type Release = Box<dyn FnMut(i32)>;

/// Hands the multishot operation `key`, whose owner is being dropped, to
/// the ring with `release` for its late completions. Without a ring to take
/// it (the runtime is going away), `release` and what it holds are leaked
/// on purpose: the kernel may still complete on the descriptor it keeps open.
pub(crate) fn orphan(key: usize, release: Release) {
    let mut release = Some(release);
    crate::runtime::with_context(|cx| {
        if let Ok(mut driver) = cx.driver.try_borrow_mut() {
            if let (crate::driver::Driver::Uring(ring), Some(r)) = (&mut *driver, release.take()) {
                ring.orphan_multi(key, r);
            }
        }
    });
    if let Some(r) = release {
        std::mem::forget(r);
    }
}

/// The release of a multishot accept's late completions: closes each
/// descriptor the kernel accepted for an owner that is gone.
pub(crate) fn close_descriptor(result: i32) {
    if result >= 0 {
        // SAFETY: the kernel created this descriptor for us and no one else
        // has seen it.
        unsafe { libc::close(result) };
    }
}

/// The queue of a multishot operation whose owner still lives.
pub(crate) struct Multi {
    /// Each completion's result and flags (which name a provided buffer).
    results: VecDeque<(i32, u32)>,
    /// Completions queued before the driver stops the operation.
    cap: usize,
    /// A successful result is a descriptor (closed if nobody takes it).
    pub(super) fds: bool,
    waker: Option<std::task::Waker>,
    /// The kernel will post more completions.
    more: bool,
    /// A cancel was queued (the queue reached `cap`).
    stopping: bool,
}

impl Uring {
    /// Queues a multishot operation whose completions queue up to `cap`
    /// (`fds`: its results are descriptors) and returns its key.
    ///
    /// # Safety
    /// As [`Uring::submit`]: every pointer in `entry` stays valid until the
    /// last completion.
    pub(crate) unsafe fn submit_multi(
        &mut self,
        entry: squeue::Entry,
        cap: usize,
        fds: bool,
    ) -> usize {
        let key = self.ops.insert(OpState::Multi(Multi {
            results: VecDeque::new(),
            cap: cap.max(1),
            fds,
            waker: None,
            more: true,
            stopping: false,
        }));
        // SAFETY: forwarded from the caller.
        unsafe { self.push(&entry.user_data(key as u64)) };
        key
    }

    /// The next completion of multishot `key` (result, flags) and whether
    /// it is the last (the key is free then); registers the waker if none
    /// is queued.
    pub(crate) fn poll_multi(
        &mut self,
        key: usize,
        cx: &mut Context<'_>,
    ) -> Poll<(i32, u32, bool)> {
        let Some(OpState::Multi(multi)) = self.ops.get_mut(key) else {
            return Poll::Ready((-libc::ECANCELED, 0, true));
        };
        if let Some((result, flags)) = multi.results.pop_front() {
            let last = multi.results.is_empty() && !multi.more;
            if last {
                self.ops.remove(key);
            }
            return Poll::Ready((result, flags, last));
        }
        if !multi.more {
            // Unreachable: the last completion is always queued.
            self.ops.remove(key);
            return Poll::Ready((-libc::ECANCELED, 0, true));
        }
        match &multi.waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => multi.waker = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    /// The owner of multishot `key` is gone: `release` every completion
    /// queued and every one still to come, and cancel the operation.
    pub(crate) fn orphan_multi(&mut self, key: usize, mut release: Release) {
        let Some(OpState::Multi(multi)) = self.ops.get_mut(key) else {
            return;
        };
        for (result, flags) in multi.results.drain(..) {
            Uring::recycle_unread(&mut self.buf_ring, flags);
            release(result);
        }
        if !multi.more {
            self.ops.remove(key);
            return;
        }
        self.ops[key] = OpState::MultiOrphaned(release);
        self.cancel(key);
    }

    /// Queues a cancel of operation `key`.
    pub(super) fn cancel(&mut self, key: usize) {
        let cancel = opcode::AsyncCancel::new(key as u64)
            .build()
            .user_data(IGNORE_KEY);
        // SAFETY: a cancel request carries no pointers.
        unsafe { self.push(&cancel) };
    }
}

/// Routes one completion of a multishot operation; returns whether its slot
/// is done with (to remove) and whether the operation should be stopped
/// (its queue is full).
pub(super) fn complete(state: &mut OpState, cqe: &cqueue::Entry) -> (bool, bool) {
    let more = cqueue::more(cqe.flags());
    match state {
        OpState::Multi(multi) => {
            multi.results.push_back((cqe.result(), cqe.flags()));
            multi.more = more;
            if let Some(w) = multi.waker.take() {
                w.wake();
            }
            let stop = more && !multi.stopping && multi.results.len() >= multi.cap;
            if stop {
                multi.stopping = true;
            }
            (false, stop)
        }
        OpState::MultiOrphaned(release) => {
            release(cqe.result());
            (!more, false)
        }
        _ => (false, false),
    }
}
