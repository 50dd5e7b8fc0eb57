//! A socket's multishot receive on io_uring (`IORING_OP_RECV` with
//! `IORING_RECV_MULTISHOT` into the provided buffers, Linux 6.0).
//!
//! Armed by the socket's first buffered read, it stays in the kernel: each
//! arrival of bytes takes a provided buffer and completes it once more, with
//! no submission per read. The completions queue in the driver; once
//! [`QUEUE_CAP`] wait for a socket the driver stops its operation, the
//! bytes wait in the kernel's socket buffer (TCP's window pushes back on
//! the peer), and the read that empties the queue re-arms it. The stop is a
//! cancel, so the kernel may have received more meanwhile (it retries a
//! receive up to 32 times per wake-up): the hard bound is the ring's
//! buffers, shared by every socket of the core, whose exhaustion ends the
//! operation too. A connection waiting for input holds
//! no buffer: the kernel takes one only when bytes arrive, and the reader
//! copies them out and gives it back at once.
//!
//! The queue belongs to the socket, not to the read that asked: a cancelled
//! or dropped read loses nothing, and a new reader of the same socket (the
//! buffer handed over on an upgrade) takes the bytes in order. Bytes a reader
//! had no room for wait in a stash for its next read. The kernel ends the
//! operation when the ring has no free buffer (`ENOBUFS`: that read receives
//! into the reader's own buffer, the next one re-arms), at end of stream,
//! and on an error. A kernel that refuses the flag (`EINVAL` before any
//! bytes) makes the socket fall back to one receive per read. Dropping the
//! socket cancels the operation; buffers of completions nobody takes go back
//! to the ring (see `uring::multishot`).

use std::cell::{Cell, RefCell};
use std::io;
use std::task::{Context, Poll};

use bytes::{Buf, BytesMut};
use io_uring::{cqueue, opcode};

use crate::driver::buf_ring::GROUP;
use crate::driver::fd::SharedFd;
use crate::driver::uring::{orphan, Release};
use crate::driver::Driver;
use crate::runtime::context;

/// Completions a socket's multishot receive queues before the driver stops
/// it (each holds one provided buffer of `buf_ring::SIZE` bytes; see the
/// module's note on what may arrive before the stop lands).
pub(crate) const QUEUE_CAP: usize = 4;

/// A socket's multishot receive: its operation (key and hold on the
/// descriptor) while armed, and the bytes received but not yet read.
#[derive(Default)]
pub(crate) struct MultiRecv {
    armed: Cell<Option<(usize, SharedFd)>>,
    /// Received bytes a reader had no room for, read first.
    stash: RefCell<BytesMut>,
    /// The kernel refused it: this socket receives once per read.
    refused: Cell<bool>,
    /// Bytes came through it, so a later EINVAL is a real error.
    worked: Cell<bool>,
}

impl std::fmt::Debug for MultiRecv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let armed = self.armed.take();
        let key = armed.as_ref().map(|(key, _)| *key);
        self.armed.set(armed);
        f.debug_struct("MultiRecv")
            .field("key", &key)
            .field("stashed", &self.stash.borrow().len())
            .field("refused", &self.refused.get())
            .finish()
    }
}

/// What a reader does with received bytes: takes some (returns how many)
/// and leaves the rest for its next read.
pub(crate) type Take<'a> = &'a mut dyn FnMut(&[u8]) -> usize;

impl MultiRecv {
    /// Whether the operation is armed or holds bytes: the socket's reads
    /// must come through it (any other receive would reorder the stream).
    pub(crate) fn in_use(&self) -> bool {
        let armed = self.armed.take();
        let in_use = armed.is_some();
        self.armed.set(armed);
        in_use || !self.stash.borrow().is_empty()
    }

    /// The next bytes of socket `fd`, handed to `take`: `Ready(Some(Ok(n)))`
    /// with the count `take` took (0: end of stream), `Ready(None)` when this
    /// read must be a receive of the caller's own (epoll, switched off,
    /// refused, no provided buffer free, or not armed and `arm` false).
    pub(crate) fn poll_next(
        &self,
        fd: &SharedFd,
        arm: bool,
        cx: &mut Context<'_>,
        take: Take<'_>,
    ) -> Poll<Option<io::Result<usize>>> {
        {
            let mut stash = self.stash.borrow_mut();
            if !stash.is_empty() {
                let n = take(&stash);
                stash.advance(n);
                if stash.is_empty() {
                    *stash = BytesMut::new();
                }
                return Poll::Ready(Some(Ok(n)));
            }
        }
        if self.refused.get() {
            return Poll::Ready(None);
        }
        context(|rt| {
            let Driver::Uring(ring) = &mut *rt.driver.borrow_mut() else {
                return Poll::Ready(None);
            };
            if !ring.multishot_recv() {
                return Poll::Ready(None);
            }
            loop {
                let (key, held) = match self.armed.take() {
                    Some(armed) => armed,
                    None if !arm => return Poll::Ready(None),
                    None => {
                        let entry = on_target!(fd, |t| opcode::RecvMulti::new(t, GROUP).build());
                        // SAFETY: the entry carries no pointer: the kernel
                        // picks buffers of the registered ring, which
                        // outlives every operation; `held` keeps the
                        // descriptor open until the last completion.
                        (
                            unsafe { ring.submit_multi(entry, QUEUE_CAP, false) },
                            fd.clone(),
                        )
                    }
                };
                let (result, flags, last) = match ring.poll_multi(key, cx) {
                    Poll::Pending => {
                        self.armed.set(Some((key, held)));
                        return Poll::Pending;
                    }
                    Poll::Ready(out) => out,
                };
                if !last {
                    self.armed.set(Some((key, held)));
                }
                if result >= 0 {
                    let Some(bid) = cqueue::buffer_select(flags) else {
                        // No buffer: end of stream.
                        return Poll::Ready(Some(Ok(0)));
                    };
                    self.worked.set(true);
                    let buf_ring = ring.buf_ring().expect("multishot receive without buffers");
                    let bytes = buf_ring.filled(bid, result as usize);
                    let n = take(bytes).min(bytes.len());
                    if n < bytes.len() {
                        self.stash.borrow_mut().extend_from_slice(&bytes[n..]);
                    }
                    buf_ring.recycle(bid);
                    return Poll::Ready(Some(Ok(n)));
                }
                let buf_ring = ring.buf_ring().expect("multishot receive without buffers");
                match -result {
                    // Stopped by the driver (queue full): re-arm.
                    libc::ECANCELED if last => buf_ring.stats.stopped += 1,
                    libc::ENOBUFS if last => {
                        buf_ring.stats.exhausted += 1;
                        return Poll::Ready(None);
                    }
                    libc::EINVAL if last && !self.worked.get() => {
                        tracing::debug!("multishot receive refused: one receive per read");
                        self.refused.set(true);
                        return Poll::Ready(None);
                    }
                    errno => return Poll::Ready(Some(Err(io::Error::from_raw_os_error(errno)))),
                }
            }
        })
    }
}

impl Drop for MultiRecv {
    fn drop(&mut self) {
        let Some((key, held)) = self.armed.take() else {
            return;
        };
        // The driver gives every buffer back; the release only keeps the
        // descriptor open until the last completion.
        let release: Release = Box::new(move |_| {
            let _hold = &held;
        });
        orphan(key, release);
    }
}
