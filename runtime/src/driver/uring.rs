//! io_uring driver: submission, completion routing, orphaned operations.
//!
//! Each operation occupies a slab slot whose key is the SQE's `user_data`.
//! When an operation's future is dropped before its completion arrives, the
//! future hands its buffers to the slot (`Orphaned`) and an `AsyncCancel` is
//! queued; the buffers are freed, and a file descriptor the operation still
//! produced is closed, only when the completion arrives.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use io_uring::{cqueue, opcode, squeue, types, IoUring, Probe};
use slab::Slab;

use super::buf_ring::BufRing;
use super::Unparker;

mod fixed;
mod multishot;
mod setup;
mod zerocopy;
pub(crate) use fixed::FixedSlot;
pub(crate) use multishot::{close_descriptor, orphan, Release, ACCEPT_QUEUE_CAP};
use setup::build_best;
pub(crate) use setup::Setup;

/// `user_data` of the eventfd read that wakes a parked ring.
const EVENTFD_KEY: u64 = u64::MAX;
/// `user_data` of fire-and-forget operations (cancel, close).
const IGNORE_KEY: u64 = u64::MAX - 1;

/// Work to run when an orphaned operation completes: frees its buffers and
/// releases what it produced.
pub(crate) type Orphan = Box<dyn FnOnce(i32)>;

enum OpState {
    Pending(Option<Waker>),
    Done {
        result: i32,
        flags: u32,
    },
    Orphaned(Orphan),
    /// A zero-copy send's result, waiting for its notification (`zerocopy`).
    Sent {
        result: i32,
        waker: Option<Waker>,
    },
    /// An orphaned zero-copy send's clean-up and result, the same.
    SentOrphaned(Orphan, i32),
    /// A multishot operation (see `multishot`).
    Multi(multishot::Multi),
    /// A multishot operation whose owner is gone.
    MultiOrphaned(Release),
}

/// The optional io_uring features a runtime asks for; each is probed at
/// start-up and left out where the kernel lacks it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Features {
    /// Receives of idle connections take provided buffers (`buf_ring`).
    pub(crate) provided_buffers: bool,
    /// Listeners accept with one multishot `IORING_OP_ACCEPT`.
    pub(crate) multishot_accept: bool,
    /// Connections receive with one multishot `IORING_OP_RECV` into the
    /// provided buffers (needs `provided_buffers`).
    pub(crate) multishot_recv: bool,
    /// Writes of at least this many bytes are zero-copy sends (`None`: off).
    pub(crate) zerocopy_send_min: Option<usize>,
    /// Accepted sockets are also registered in a fixed-file table of this
    /// many slots (`None`: off).
    pub(crate) registered_fds: Option<u32>,
    /// The best ring setup to try (weaker ones follow if refused).
    pub(crate) setup: Setup,
}

/// Operations the runtime submits, by name for the error message.
const REQUIRED_OPS: [(u8, &str); 10] = [
    (opcode::Read::CODE, "READ"),
    (opcode::Write::CODE, "WRITE"),
    (opcode::Recv::CODE, "RECV"),
    (opcode::Send::CODE, "SEND"),
    (opcode::RecvMsg::CODE, "RECVMSG"),
    (opcode::SendMsg::CODE, "SENDMSG"),
    (opcode::Accept::CODE, "ACCEPT"),
    (opcode::Connect::CODE, "CONNECT"),
    (opcode::Close::CODE, "CLOSE"),
    (opcode::AsyncCancel::CODE, "ASYNC_CANCEL"),
];

/// What a ring lacks that the runtime needs, if anything: timed waits
/// (`IORING_FEAT_EXT_ARG`, Linux 5.11) and every opcode it submits. A kernel
/// that sets up a ring but lacks these gets epoll instead of a failure later.
fn missing_capability(ext_arg: bool, supported: impl Fn(u8) -> bool) -> Option<String> {
    if !ext_arg {
        return Some("the kernel lacks IORING_FEAT_EXT_ARG (timed waits, Linux 5.11+)".into());
    }
    let missing: Vec<&str> = REQUIRED_OPS
        .iter()
        .filter(|(code, _)| !supported(*code))
        .map(|(_, name)| *name)
        .collect();
    (!missing.is_empty()).then(|| format!("the kernel lacks io_uring {}", missing.join(", ")))
}

pub(crate) struct Uring {
    ring: IoUring,
    /// Provided buffers for receives, when the kernel has them (declared
    /// after `ring`: unmapped only once the ring is gone).
    buf_ring: Option<BufRing>,
    ops: Slab<OpState>,
    eventfd: Arc<OwnedFd>,
    /// Target of the eventfd read; heap-stable while the read is in flight.
    eventfd_buf: Box<[u8; 8]>,
    eventfd_armed: bool,
    /// Listeners accept with a multishot accept (asked for and probed).
    multishot_accept: bool,
    /// Connections receive with a multishot receive (asked for, probed,
    /// and the provided buffers registered).
    multishot_recv: bool,
    /// Writes of at least this many bytes are zero-copy sends (`usize::MAX`:
    /// off, or not probed).
    zerocopy_min: usize,
    /// Zero-copy notifications seen (for tests).
    zerocopy_notifications: u64,
    /// Registered descriptors of accepted and connected stream sockets
    /// (asked for and probed).
    fixed: Option<fixed::FixedTable>,
}

impl Uring {
    /// A ring of `entries` submissions with the `features` the kernel has:
    /// with provided buffers, receives of idle connections take a buffer
    /// only when bytes arrive (receives into the connection's own buffer
    /// otherwise); with multishot accept, one accept serves a listener's
    /// connections (one accept per connection otherwise).
    pub(crate) fn new(entries: u32, features: Features) -> io::Result<Uring> {
        let (ring, setup) = build_best(features.setup, |setup| setup.build(entries))?;
        tracing::debug!("io_uring ring set up with {setup:?}");
        let mut probe = Probe::new();
        ring.submitter().register_probe(&mut probe)?;
        if let Some(missing) = missing_capability(ring.params().is_feature_ext_arg(), |op| {
            probe.is_supported(op)
        }) {
            return Err(io::Error::new(io::ErrorKind::Unsupported, missing));
        }
        // Multishot accept came with Linux 5.19, as did IORING_OP_SOCKET
        // (the probe names opcodes, not their flags); a kernel that still
        // refuses it fails the first one with EINVAL and the listener falls
        // back to single accepts (`MultiAccept`).
        let multishot_accept =
            features.multishot_accept && probe.is_supported(opcode::Socket::CODE);
        // SAFETY: eventfd has no memory-safety preconditions; we check the result.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a freshly created descriptor that nothing else owns.
        let eventfd = Arc::new(unsafe { OwnedFd::from_raw_fd(fd) });
        let buf_ring = match features.provided_buffers {
            false => None,
            true => match BufRing::register(&ring) {
                Ok(buf_ring) => Some(buf_ring),
                Err(e) => {
                    tracing::debug!("io_uring provided buffers unavailable ({e}): receives use their own buffers");
                    None
                }
            },
        };
        // Multishot receive came with Linux 6.0, as did IORING_OP_SEND_ZC;
        // a kernel that still refuses it fails the first one with EINVAL
        // and the socket falls back to single receives (`MultiRecv`).
        let multishot_recv = features.multishot_recv
            && buf_ring.is_some()
            && probe.is_supported(opcode::SendZc::CODE);
        let zerocopy_min = match features.zerocopy_send_min {
            Some(min) if zerocopy::probed(&probe) => min,
            _ => usize::MAX,
        };
        // Probed by registering the sparse table itself (Linux 5.19).
        let fixed = features.registered_fds.and_then(|size| {
            match fixed::FixedTable::register(&ring, size) {
                Ok(table) => Some(table),
                Err(e) => {
                    tracing::debug!("io_uring registered descriptors unavailable ({e})");
                    None
                }
            }
        });
        Ok(Uring {
            fixed,
            zerocopy_min,
            zerocopy_notifications: 0,
            ring,
            buf_ring,
            multishot_recv,
            ops: Slab::with_capacity(1024),
            eventfd,
            eventfd_buf: Box::new([0; 8]),
            eventfd_armed: false,
            multishot_accept,
        })
    }

    /// Whether listeners use multishot accept.
    pub(crate) fn multishot_accept(&self) -> bool {
        self.multishot_accept
    }

    /// Whether connections receive with a multishot receive.
    pub(crate) fn multishot_recv(&self) -> bool {
        self.multishot_recv
    }

    /// The smallest write sent with a zero-copy send (`usize::MAX`: none).
    pub(crate) fn zerocopy_min(&self) -> usize {
        self.zerocopy_min
    }

    /// Registers an accepted or connecting stream socket's `fd` in the
    /// fixed-file table, when the ring has one with a free slot.
    pub(crate) fn register_fixed(&mut self, fd: std::os::fd::RawFd) -> Option<FixedSlot> {
        let Uring { ring, fixed, .. } = self;
        fixed.as_mut()?.take(ring, fd)
    }

    /// Fixed-file slots in use (held by sockets, or closing); `None`
    /// without the table.
    pub(crate) fn registered_fds(&self) -> Option<usize> {
        self.fixed.as_ref().map(|f| f.in_use())
    }

    /// Queues the closes of the fixed slots sockets released.
    fn close_released_slots(&mut self) {
        let Some(fixed) = self.fixed.as_mut() else {
            return;
        };
        for entry in fixed.closes() {
            // SAFETY: a close request carries no pointers.
            unsafe { self.push(&entry) };
        }
    }

    /// Zero-copy notifications seen so far.
    pub(crate) fn zerocopy_notifications(&self) -> u64 {
        self.zerocopy_notifications
    }

    pub(crate) fn unparker(&self) -> Unparker {
        Unparker::Eventfd(self.eventfd.clone())
    }

    /// Pushes an SQE, flushing the queue to the kernel if it is full.
    ///
    /// # Safety
    /// Every pointer in `entry` must stay valid until its completion arrives.
    unsafe fn push(&mut self, entry: &squeue::Entry) {
        loop {
            // SAFETY: forwarded from the caller.
            if unsafe { self.ring.submission().push(entry) }.is_ok() {
                return;
            }
            if let Err(e) = self.ring.submit() {
                if e.raw_os_error() == Some(libc::EBUSY) {
                    self.reap();
                } else {
                    tracing::error!("io_uring submit failed: {e}");
                }
            }
        }
    }

    /// Queues an operation and returns its key.
    ///
    /// # Safety
    /// Every pointer in `entry` must stay valid until the operation completes:
    /// the caller keeps the memory in its `Op` and, if the `Op` is dropped
    /// early, hands it to [`Uring::orphan`].
    pub(crate) unsafe fn submit(&mut self, entry: squeue::Entry) -> usize {
        let key = self.ops.insert(OpState::Pending(None));
        let entry = entry.user_data(key as u64);
        // SAFETY: forwarded from the caller.
        unsafe { self.push(&entry) };
        key
    }

    /// Checks whether operation `key` completed; registers the waker if not.
    pub(crate) fn poll_op(&mut self, key: usize, cx: &mut Context<'_>) -> Poll<(i32, u32)> {
        match self.ops.get_mut(key) {
            Some(OpState::Done { result, flags }) => {
                let out = (*result, *flags);
                self.ops.remove(key);
                Poll::Ready(out)
            }
            Some(OpState::Pending(waker)) | Some(OpState::Sent { waker, .. }) => {
                match waker {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    _ => *waker = Some(cx.waker().clone()),
                }
                Poll::Pending
            }
            _ => Poll::Ready((-libc::ECANCELED, 0)),
        }
    }

    /// The provided buffers, when the ring has them.
    pub(crate) fn buf_ring(&mut self) -> Option<&mut BufRing> {
        self.buf_ring.as_mut()
    }

    /// Gives back the provided buffer a completion with `flags` consumed,
    /// if any: its reader is gone.
    pub(super) fn recycle_unread(buf_ring: &mut Option<BufRing>, flags: u32) {
        if let (Some(buf_ring), Some(bid)) = (buf_ring.as_mut(), cqueue::buffer_select(flags)) {
            buf_ring.recycle(bid);
        }
    }

    /// The future of operation `key` was dropped: keep `orphan` (which owns
    /// the buffers) until the completion arrives, and ask the kernel to cancel.
    pub(crate) fn orphan(&mut self, key: usize, orphan: Orphan) {
        match self.ops.get_mut(key) {
            Some(OpState::Done { result, flags }) => {
                let (result, flags) = (*result, *flags);
                self.ops.remove(key);
                Uring::recycle_unread(&mut self.buf_ring, flags);
                orphan(result);
            }
            Some(state @ OpState::Pending(_)) => {
                *state = OpState::Orphaned(orphan);
                self.cancel(key);
            }
            Some(state @ OpState::Sent { .. }) => {
                // Sent: only the notification is still to come.
                if let OpState::Sent { result, .. } = state {
                    *state = OpState::SentOrphaned(orphan, *result);
                }
            }
            _ => {}
        }
    }

    /// Closes `fd` through the ring, after every operation queued before it
    /// has been issued, so no queued operation can hit a reused fd number.
    pub(crate) fn close(&mut self, fd: OwnedFd) {
        let raw = fd.into_raw_fd();
        let entry = opcode::Close::new(types::Fd(raw))
            .build()
            .user_data(IGNORE_KEY);
        // SAFETY: a close request carries no pointers.
        unsafe { self.push(&entry) };
    }

    fn arm_eventfd(&mut self) {
        if self.eventfd_armed {
            return;
        }
        let entry = opcode::Read::new(
            types::Fd(self.eventfd.as_raw_fd()),
            self.eventfd_buf.as_mut_ptr(),
            8,
        )
        .build()
        .user_data(EVENTFD_KEY);
        // SAFETY: `eventfd_buf` is boxed and owned by the driver, which waits
        // for this read to complete (or be cancelled) before dropping it.
        unsafe { self.push(&entry) };
        self.eventfd_armed = true;
    }

    pub(crate) fn park(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        self.arm_eventfd();
        self.close_released_slots();
        let result = match timeout {
            Some(d) if d.is_zero() => {
                let sq_empty = self.ring.submission().is_empty();
                let taskrun = self.ring.submission().taskrun();
                if sq_empty && !taskrun {
                    Ok(0)
                } else {
                    self.ring.submit()
                }
            }
            Some(d) => {
                let ts = types::Timespec::new()
                    .sec(d.as_secs())
                    .nsec(d.subsec_nanos());
                let args = types::SubmitArgs::new().timespec(&ts);
                self.ring.submitter().submit_with_args(1, &args)
            }
            None => self.ring.submit_and_wait(1),
        };
        match result {
            Ok(_) => {}
            Err(e) => match e.raw_os_error() {
                Some(libc::ETIME) | Some(libc::EINTR) | Some(libc::EBUSY) => {}
                _ => return Err(e),
            },
        }
        self.reap();
        Ok(())
    }

    /// Routes every available completion to its operation.
    fn reap(&mut self) {
        let mut finished_orphans: Vec<(Orphan, i32)> = Vec::new();
        let mut finished_multi: Vec<OpState> = Vec::new();
        let mut to_stop: Vec<usize> = Vec::new();
        let Uring {
            ring,
            ops,
            eventfd_armed,
            buf_ring,
            zerocopy_notifications,
            fixed,
            ..
        } = self;
        for cqe in ring.completion() {
            if let (Some(b), Some(_)) = (buf_ring.as_mut(), cqueue::buffer_select(cqe.flags())) {
                b.stats.taken += 1;
            }
            match cqe.user_data() {
                EVENTFD_KEY => *eventfd_armed = false,
                IGNORE_KEY => {}
                key if key & fixed::SLOT_TAG != 0 => {
                    if let Some(fixed) = fixed.as_mut() {
                        fixed.closed(key);
                    }
                }
                key => {
                    let key = key as usize;
                    let Some(state) = ops.get_mut(key) else {
                        continue;
                    };
                    match state {
                        OpState::Pending(_)
                        | OpState::Sent { .. }
                        | OpState::Orphaned(_)
                        | OpState::SentOrphaned(..) => {
                            match zerocopy::complete(state, &cqe, zerocopy_notifications) {
                                zerocopy::Step::Done(Some(w)) => w.wake(),
                                zerocopy::Step::Done(None) | zerocopy::Step::Wait => {}
                                zerocopy::Step::Orphan(orphan, result) => {
                                    Uring::recycle_unread(buf_ring, cqe.flags());
                                    ops.remove(key);
                                    finished_orphans.push((orphan, result));
                                }
                            }
                        }
                        OpState::Done { .. } => {}
                        OpState::Multi(_) | OpState::MultiOrphaned(_) => {
                            if matches!(state, OpState::MultiOrphaned(_)) {
                                Uring::recycle_unread(buf_ring, cqe.flags());
                            }
                            let (finished, stop) = multishot::complete(state, &cqe);
                            if finished {
                                finished_multi.push(ops.remove(key));
                            }
                            if stop {
                                to_stop.push(key);
                            }
                        }
                    }
                }
            }
        }
        for (orphan, result) in finished_orphans {
            orphan(result);
        }
        drop(finished_multi);
        for key in to_stop {
            self.cancel(key);
        }
    }

    /// Cancels everything in flight and waits (bounded) until the kernel has
    /// released every buffer. Buffers of operations that still did not
    /// complete are leaked rather than freed under the kernel's feet.
    pub(crate) fn shutdown(&mut self) {
        let keys: Vec<usize> = self.ops.iter().map(|(k, _)| k).collect();
        for key in keys {
            match self.ops.get(key) {
                Some(OpState::Pending(_)) => self.ops[key] = OpState::Orphaned(Box::new(|_| {})),
                Some(OpState::Sent { result, .. }) => {
                    // Only the notification is still to come: nothing to cancel.
                    self.ops[key] = OpState::SentOrphaned(Box::new(|_| {}), *result);
                    continue;
                }
                Some(OpState::Orphaned(_))
                | Some(OpState::MultiOrphaned(_))
                | Some(OpState::SentOrphaned(..)) => {}
                Some(OpState::Multi(multi)) => {
                    // Descriptors accepted for a listener nobody will poll;
                    // a receive's buffers go back to the ring.
                    let release: Release = match multi.fds {
                        true => Box::new(close_descriptor),
                        false => Box::new(|_| {}),
                    };
                    self.orphan_multi(key, release);
                    continue;
                }
                _ => continue,
            }
            self.cancel(key);
        }
        if self.eventfd_armed {
            let cancel = opcode::AsyncCancel::new(EVENTFD_KEY)
                .build()
                .user_data(IGNORE_KEY);
            // SAFETY: a cancel request carries no pointers.
            unsafe { self.push(&cancel) };
        }
        let deadline = Instant::now() + Duration::from_secs(2);
        while (self.has_pending() || self.eventfd_armed) && Instant::now() < deadline {
            let ts = types::Timespec::new().nsec(10_000_000);
            let args = types::SubmitArgs::new().timespec(&ts);
            let _ = self.ring.submitter().submit_with_args(1, &args);
            self.reap();
        }
        if self.eventfd_armed {
            // The kernel may still write here: never free it.
            std::mem::forget(std::mem::replace(&mut self.eventfd_buf, Box::new([0; 8])));
        }
        if self.has_pending() {
            // A receive still in flight may yet fill a provided buffer:
            // never unmap them under the kernel.
            std::mem::forget(self.buf_ring.take());
        }
        for state in self.ops.drain() {
            std::mem::forget(state);
        }
        // Queued closes must reach the kernel before the ring goes away.
        let _ = self.ring.submit();
    }

    pub(crate) fn tracked_ops(&self) -> usize {
        self.ops.len()
    }

    fn has_pending(&self) -> bool {
        self.ops
            .iter()
            .any(|(_, s)| !matches!(s, OpState::Done { .. }))
    }
}
