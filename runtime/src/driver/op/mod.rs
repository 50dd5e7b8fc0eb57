//! Every I/O operation, one file each, saying how it runs on each driver.
//!
//! An operation is a value that owns everything the kernel touches: a clone
//! of its descriptor ([`SharedFd`](super::fd::SharedFd)), its buffers, its
//! addresses. It says how it runs on io_uring ([`Operation::uring_entry`])
//! and how elsewhere
//! ([`Operation::call`]: the syscall, non-blocking when epoll reported
//! readiness, blocking on the blocking pool for files). [`run`] is the one
//! place that tells the drivers apart; its caller says how the descriptor is
//! driven ([`Driven`]).
//!
//! On io_uring an operation lives in an [`Op`] future. Dropping an unfinished
//! `Op` hands the operation to the driver, which frees it only when the
//! completion arrives, and cancels it. If the operation produced a file
//! descriptor nobody will see (a cancelled accept that succeeded anyway),
//! [`Operation::RESULT_IS_FD`] makes the driver close it.

/// Builds an io_uring entry on a socket's fixed-file slot when it has one
/// (`types::Fixed`), on its descriptor otherwise (`types::Fd`): `$t` names
/// the target in `$build`.
macro_rules! on_target {
    ($fd:expr, |$t:ident| $build:expr) => {
        match $fd.fixed() {
            Some(slot) => {
                let $t = io_uring::types::Fixed(slot);
                $build
            }
            None => {
                let $t = io_uring::types::Fd($fd.raw());
                $build
            }
        }
    };
}

mod accept;
mod connect;
mod msg;
mod poll_ready;
mod read_at;
mod recv;
mod recv_from;
mod recv_multi;
mod send;
mod send_to;
mod write_at;
mod writev;
mod zerocopy;

pub(crate) use accept::{Accept, MultiAccept};
pub(crate) use connect::Connect;
pub(crate) use poll_ready::{PollReadable, PollWritable};
pub(crate) use read_at::ReadAt;
pub(crate) use recv::{recv_spare, Recv, RecvSelect};
pub(crate) use recv_from::RecvFrom;
pub(crate) use recv_multi::MultiRecv;
pub(crate) use send::{send_now, Send};
pub(crate) use send_to::SendTo;
pub(crate) use write_at::WriteAt;
pub(crate) use writev::{writev_now, Writev};
pub(crate) use zerocopy::ZeroCopy;

use std::future::Future;
use std::io;
use std::os::fd::RawFd;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use io_uring::squeue;

use super::epoll::{Direction, Registration};
use super::Driver;
use crate::blocking::{spawn_blocking, BlockingHandle};
use crate::runtime::{context, with_context};

/// Largest single transfer handed to the kernel.
pub(crate) const MAX_IO: usize = i32::MAX as usize;

/// A syscall's `ssize_t` result as an operation's result.
fn cvt(res: isize) -> io::Result<u32> {
    if res < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(res as u32)
    }
}

// glibc's `recv`, `send` and `sendmsg` are cancellation points: in a
// multi-threaded process each call switches the thread's asynchronous
// cancellation on and off around the syscall (two atomic operations, about
// 45 instructions per call). percore never cancels threads, so the hot
// socket calls go through `syscall(2)` instead; every argument is passed
// as a `c_long`, as the kernel's syscall ABI takes them.

/// `recvfrom(2)` or `sendto(2)` (`nr`) of `len` bytes at `ptr` on a
/// connected socket, without an address, through `syscall(2)`.
///
/// # Safety
/// `ptr` must be valid for `len` bytes, writable for `recvfrom`.
unsafe fn sys_transfer(
    nr: libc::c_long,
    fd: RawFd,
    ptr: usize,
    len: usize,
    flags: libc::c_int,
) -> isize {
    // SAFETY: the caller's contract; a null address (and address length)
    // neither asks for nor names a peer address.
    unsafe {
        libc::syscall(
            nr,
            fd as libc::c_long,
            ptr as libc::c_long,
            len as libc::c_long,
            flags as libc::c_long,
            0 as libc::c_long,
            0 as libc::c_long,
        ) as isize
    }
}

/// `recv(2)` through `syscall(2)`.
///
/// # Safety
/// `ptr` must be valid for `len` writable bytes.
pub(crate) unsafe fn sys_recv(fd: RawFd, ptr: *mut u8, len: usize, flags: libc::c_int) -> isize {
    // SAFETY: the caller's contract.
    unsafe { sys_transfer(libc::SYS_recvfrom, fd, ptr as usize, len, flags) }
}

/// `send(2)` through `syscall(2)`.
///
/// # Safety
/// `ptr` must be valid for `len` readable bytes.
pub(crate) unsafe fn sys_send(fd: RawFd, ptr: *const u8, len: usize, flags: libc::c_int) -> isize {
    // SAFETY: the caller's contract.
    unsafe { sys_transfer(libc::SYS_sendto, fd, ptr as usize, len, flags) }
}

/// `sendmsg(2)` through `syscall(2)`.
///
/// # Safety
/// `hdr` must point at a valid header whose buffers are readable.
pub(crate) unsafe fn sys_sendmsg(fd: RawFd, hdr: *const libc::msghdr, flags: libc::c_int) -> isize {
    // SAFETY: the caller's contract.
    unsafe {
        libc::syscall(
            libc::SYS_sendmsg,
            fd as libc::c_long,
            hdr as libc::c_long,
            flags as libc::c_long,
        ) as isize
    }
}

/// One I/O operation, described for both drivers.
///
/// # Safety
/// Every pointer in the entry [`uring_entry`](Operation::uring_entry)
/// returns must point into memory the operation owns (or that outlives it),
/// valid for the access the kernel makes, and must stay valid when the
/// operation value is moved: heap memory, never the value's own fields.
pub(crate) unsafe trait Operation: std::marker::Send + 'static {
    /// The readiness `call` waits for under epoll.
    const DIRECTION: Direction;
    /// A successful result is a new descriptor, to close if nobody takes it.
    const RESULT_IS_FD: bool = false;

    /// The io_uring submission entry.
    fn uring_entry(&mut self) -> squeue::Entry;

    /// The syscall: non-blocking on a descriptor epoll reported ready, or
    /// blocking on the blocking pool. `WouldBlock` waits for the next
    /// readiness.
    fn call(&mut self) -> io::Result<u32>;

    /// Whether a successful `call` emptied the socket buffer (a short read
    /// or write): epoll then skips the next syscall, bound to fail with
    /// `EAGAIN`, until the next readiness event.
    fn drained(&self, _result: u32) -> bool {
        false
    }
}

/// How a descriptor's operations run on the current thread.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Driven<'a> {
    /// Submitted to this thread's io_uring.
    Ring,
    /// Non-blocking syscalls whenever epoll reports the descriptor ready.
    Readiness(&'a Registration),
    /// Blocking syscalls on the blocking pool: files under epoll, which
    /// cannot wait for regular files.
    BlockingPool,
}

impl Driven<'_> {
    /// How a file's operations run: on the ring when this thread has one.
    pub(crate) fn file() -> Driven<'static> {
        context(|cx| match &*cx.driver.borrow() {
            Driver::Uring(_) => Driven::Ring,
            Driver::Epoll(_) => Driven::BlockingPool,
        })
    }
}

/// Runs `op` as `driven` says; resolves to the result (a count, or a new
/// descriptor) and the operation with its buffers.
pub(crate) fn run<T: Operation>(op: T, driven: Driven<'_>) -> Run<'_, T> {
    match driven {
        Driven::Ring => match Op::submit(op) {
            Ok(op) => Run::Ring(op),
            Err(refused) => Run::Refused(Some(refused)),
        },
        Driven::Readiness(reg) => Run::Readiness { reg, op: Some(op) },
        Driven::BlockingPool => Run::BlockingPool(spawn_blocking(move || {
            let mut op = op;
            let result = loop {
                match op.call() {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    other => break other,
                }
            };
            (result, op)
        })),
    }
}

/// The future of [`run`]: a plain enum, so that the socket and file methods
/// awaiting it carry (and move) no more than the operation itself.
pub(crate) enum Run<'a, T: Operation> {
    Ring(Op<T>),
    Readiness {
        reg: &'a Registration,
        op: Option<T>,
    },
    BlockingPool(BlockingHandle<(io::Result<u32>, T)>),
    Refused(Option<(io::Result<u32>, T)>),
}

// Nothing in a `Run` is pinned: the kernel sees only memory the operation owns.
impl<T: Operation> Unpin for Run<'_, T> {}

impl<T: Operation> Future for Run<'_, T> {
    type Output = (io::Result<u32>, T);

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut *self {
            Run::Ring(op) => Pin::new(op).poll(cx),
            Run::Readiness { reg, op } => {
                let operation = op
                    .as_mut()
                    .expect("percore: operation polled after completion");
                let result = ready!(reg.poll_io(T::DIRECTION, cx, || {
                    operation.call().map(|n| (n, operation.drained(n)))
                }));
                Poll::Ready((result, op.take().expect("present until done")))
            }
            Run::BlockingPool(job) => match ready!(Pin::new(job).poll(cx)) {
                Ok(out) => Poll::Ready(out),
                Err(e) => panic!("percore: a blocking operation lost its buffers: {e}"),
            },
            Run::Refused(out) => Poll::Ready(
                out.take()
                    .expect("percore: operation polled after completion"),
            ),
        }
    }
}

/// An operation in flight on io_uring; owns it until the kernel is done.
pub(crate) struct Op<T: Operation> {
    key: usize,
    op: Option<T>,
}

impl<T: Operation> Op<T> {
    /// Submits `op` to the current thread's ring; gives it back with an
    /// error on a thread whose driver is epoll.
    pub(crate) fn submit(mut op: T) -> Result<Op<T>, (io::Result<u32>, T)> {
        let key = context(|cx| match &mut *cx.driver.borrow_mut() {
            Driver::Uring(ring) => {
                let entry = op.uring_entry();
                // SAFETY: `Operation`'s contract: the entry points only into
                // memory `op` owns, which stays in this Op or, if it is
                // dropped early, with the driver until the completion.
                Some(unsafe { ring.submit(entry) })
            }
            Driver::Epoll(_) => None,
        });
        match key {
            Some(key) => Ok(Op { key, op: Some(op) }),
            None => Err((
                Err(io::Error::other("io_uring operation on an epoll runtime")),
                op,
            )),
        }
    }
}

impl<T: Operation> Op<T> {
    /// Polls for the raw completion: the result and the CQE flags (which
    /// name a provided buffer). Ready once; the operation is gone then.
    pub(crate) fn poll_raw(&mut self, cx: &mut Context<'_>) -> Poll<(i32, u32)> {
        let key = self.key;
        let polled = context(|rt| match &mut *rt.driver.borrow_mut() {
            Driver::Uring(ring) => ring.poll_op(key, cx),
            Driver::Epoll(_) => Poll::Ready((-libc::EBADFD, 0)),
        });
        if polled.is_ready() {
            self.op = None;
        }
        polled
    }
}

// The operation is never pinned: the kernel sees only memory it owns.
impl<T: Operation> Unpin for Op<T> {}

impl<T: Operation> Future for Op<T> {
    type Output = (io::Result<u32>, T);

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let key = self.key;
        let polled = context(|rt| match &mut *rt.driver.borrow_mut() {
            Driver::Uring(ring) => ring.poll_op(key, cx),
            Driver::Epoll(_) => Poll::Ready((-libc::EBADFD, 0)),
        });
        match polled {
            Poll::Pending => Poll::Pending,
            Poll::Ready((res, _flags)) => {
                let op = self
                    .op
                    .take()
                    .expect("percore: io_uring operation polled after completion");
                let result = if res < 0 {
                    Err(io::Error::from_raw_os_error(-res))
                } else {
                    Ok(res as u32)
                };
                Poll::Ready((result, op))
            }
        }
    }
}

impl<T: Operation> Drop for Op<T> {
    fn drop(&mut self) {
        let Some(op) = self.op.take() else {
            return;
        };
        let key = self.key;
        let orphan = Box::new(move |res: i32| {
            drop(op);
            if T::RESULT_IS_FD && res >= 0 {
                // SAFETY: the kernel created this descriptor for us and no one
                // else has seen it.
                unsafe { libc::close(res) };
            }
        });
        let mut orphan: Option<Box<dyn FnOnce(i32)>> = Some(orphan);
        with_context(|cx| {
            if let Ok(mut driver) = cx.driver.try_borrow_mut() {
                if let (Driver::Uring(ring), Some(o)) = (&mut *driver, orphan.take()) {
                    ring.orphan(key, o);
                }
            }
        });
        if let Some(o) = orphan {
            // No ring to hand the memory to: never free what the kernel may
            // still write into.
            std::mem::forget(o);
        }
    }
}
