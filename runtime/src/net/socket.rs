//! One socket type behind every stream, listener and datagram socket.
//!
//! A socket is a shared descriptor (see `driver::fd` for when it closes)
//! and, on the epoll driver, its registration. Each method builds one
//! operation of `driver::op` and runs it as the socket is driven; no method
//! tells the drivers apart.

use std::io;
use std::net::Shutdown;
use std::os::fd::{AsRawFd, FromRawFd, RawFd};

use socket2::{SockAddr, Socket as RawSocket};

use crate::buf::{IoBuf, IoBufMut};
use crate::driver::epoll::{Direction, Registration};
use crate::driver::fd::SharedFd;
use crate::driver::op::{self, Driven};
use crate::driver::Driver;
use crate::runtime::context;

#[derive(Debug)]
pub(crate) struct Socket {
    /// Present on the epoll driver. Declared first: it deregisters before
    /// the socket's own handle on the descriptor drops.
    reg: Option<Registration>,
    fd: SharedFd,
    /// The multishot receive (io_uring), once a buffered read armed it.
    multi_recv: op::MultiRecv,
    /// Whether large writes go zero-copy (io_uring).
    zerocopy: op::ZeroCopy,
}

impl Socket {
    /// Adopts `socket` for the current runtime's driver: blocking mode for
    /// io_uring (the ring waits for readiness), non-blocking and registered
    /// for epoll.
    pub(crate) fn new(socket: RawSocket) -> io::Result<Socket> {
        Socket::for_driver(socket, false)
    }

    /// Adopts a stream socket about to connect, as [`new`](Self::new), and
    /// on io_uring also in the ring's fixed-file table when it has one
    /// (`Builder::registered_fds`), like an accepted socket.
    pub(crate) fn connecting(socket: RawSocket) -> io::Result<Socket> {
        Socket::for_driver(socket, true)
    }

    /// Adopts `socket` for the current runtime's driver, leaving its mode
    /// (blocking or not) as it is.
    pub(crate) fn as_is(socket: RawSocket) -> io::Result<Socket> {
        Socket::adopt(socket, false)
    }

    /// Waits until the socket has bytes to read (or its end), reading none.
    pub(crate) async fn readable(&self) -> io::Result<()> {
        op::run(op::PollReadable::new(self.fd.clone()), self.driven())
            .await
            .0
            .map(drop)
    }

    /// Puts `socket` in the driver's mode, then [`adopt`](Self::adopt)s it.
    fn for_driver(socket: RawSocket, fixed: bool) -> io::Result<Socket> {
        let uring = context(|cx| matches!(&*cx.driver.borrow(), Driver::Uring(_)));
        socket.set_nonblocking(!uring)?;
        Socket::adopt(socket, fixed)
    }

    /// How this socket's operations run.
    pub(crate) fn driven(&self) -> Driven<'_> {
        match &self.reg {
            None => Driven::Ring,
            Some(reg) => Driven::Readiness(reg),
        }
    }

    /// The shared descriptor, for an operation to hold.
    pub(crate) fn fd(&self) -> &SharedFd {
        &self.fd
    }

    pub(crate) fn raw(&self) -> RawFd {
        self.fd.raw()
    }

    /// A borrowed socket2 view for option calls.
    pub(crate) fn with_raw<R>(&self, f: impl FnOnce(&RawSocket) -> R) -> R {
        let fd = self.fd.borrowed();
        f(&socket2::SockRef::from(&fd))
    }

    /// The multishot receive, which a buffered read arms (io_uring).
    pub(crate) fn multi_recv(&self) -> &op::MultiRecv {
        &self.multi_recv
    }

    /// Reads into `buf`'s read target (appending for `Vec`/`BytesMut`):
    /// through the multishot receive when a buffered read armed it (the
    /// stream's bytes queue there), else one receive.
    pub(crate) async fn read<B: IoBufMut>(&self, mut buf: B) -> (io::Result<usize>, B) {
        if self.multi_recv.in_use() {
            let multi = std::future::poll_fn(|cx| {
                self.multi_recv
                    .poll_next(&self.fd, false, cx, &mut |bytes| {
                        let (ptr, room) = buf.read_target();
                        let n = bytes.len().min(room);
                        // SAFETY: the read target is valid for `room` writable
                        // bytes, `n <= room`, and `bytes` (a provided buffer or
                        // the stash) does not overlap the caller's buffer.
                        unsafe {
                            std::ptr::copy_nonoverlapping(bytes.as_ptr(), ptr, n);
                            buf.advance_written(n);
                        }
                        n
                    })
            })
            .await;
            if let Some(result) = multi {
                return (result, buf);
            }
        }
        let (result, op) = op::run(op::Recv::new(self.fd.clone(), buf), self.driven()).await;
        let buf = op.into_buf(&result);
        (result.map(|n| n as usize), buf)
    }

    /// Writes some of `buf`'s bytes.
    /// Large writes on io_uring are zero-copy sends (see `op::ZeroCopy`).
    /// On epoll the `send(2)` runs in place while the socket is writable
    /// (no operation value, no descriptor clone).
    pub(crate) async fn write<B: IoBuf>(&self, buf: B) -> (io::Result<usize>, B) {
        if let Some(reg) = &self.reg {
            return self.send_ready(reg, buf, libc::MSG_NOSIGNAL).await;
        }
        let send = op::Send::new(self.fd.clone(), buf);
        let zerocopy = self.zerocopy.wants(self.driven(), || send.len());
        let (mut result, mut op) = op::run(send.zerocopy(zerocopy), self.driven()).await;
        if zerocopy && self.zerocopy.refused(&result) {
            (result, op) = op::run(op.zerocopy(false), self.driven()).await;
        }
        (result.map(|n| n as usize), op.buf)
    }

    /// epoll: `send(2)` at once when the socket is known writable, with no
    /// future and no waker; `None` when it would have to wait (or on
    /// io_uring, where a send is an operation of the ring).
    #[inline]
    pub(crate) fn try_write<B: IoBuf>(&self, buf: &B) -> Option<io::Result<usize>> {
        let reg = self.reg.as_ref()?;
        let fd = self.raw();
        reg.try_io(Direction::Write, || {
            op::send_now(fd, buf, libc::MSG_NOSIGNAL)
        })
    }

    /// Writes some of `buf`'s bytes with `MSG_MORE` (more follows at once).
    pub(crate) async fn write_more<B: IoBuf>(&self, buf: B) -> (io::Result<usize>, B) {
        if let Some(reg) = &self.reg {
            return self
                .send_ready(reg, buf, libc::MSG_NOSIGNAL | libc::MSG_MORE)
                .await;
        }
        let send = op::Send::new(self.fd.clone(), buf).more();
        let (result, op) = op::run(send, self.driven()).await;
        (result.map(|n| n as usize), op.buf)
    }

    /// epoll: `send(2)` with `flags` once the socket is writable.
    async fn send_ready<B: IoBuf>(
        &self,
        reg: &Registration,
        buf: B,
        flags: libc::c_int,
    ) -> (io::Result<usize>, B) {
        let fd = self.raw();
        let result = std::future::poll_fn(|cx| {
            reg.poll_io(Direction::Write, cx, || op::send_now(fd, &buf, flags))
        })
        .await;
        (result, buf)
    }

    /// Writes some of the bytes of `bufs`, in order, with one syscall.
    /// Large writes on io_uring are zero-copy sends (see `op::ZeroCopy`).
    pub(crate) async fn writev<B: IoBuf>(&self, bufs: Vec<B>) -> (io::Result<usize>, Vec<B>) {
        if let Some(reg) = &self.reg {
            let fd = self.raw();
            let result = std::future::poll_fn(|cx| {
                reg.poll_io(Direction::Write, cx, || op::writev_now(fd, &bufs))
            })
            .await;
            return (result, bufs);
        }
        let send = op::Writev::new(self.fd.clone(), bufs);
        let zerocopy = self.zerocopy.wants(self.driven(), || send.len());
        let (mut result, mut op) = op::run(send.zerocopy(zerocopy), self.driven()).await;
        if zerocopy && self.zerocopy.refused(&result) {
            (result, op) = op::run(op.zerocopy(false), self.driven()).await;
        }
        (result.map(|n| n as usize), op.bufs)
    }

    /// Sends up to `len` bytes of `file` from `offset` with `sendfile(2)`:
    /// the kernel moves page-cache pages to the socket, no copy through
    /// user space. Waits for write readiness when the send buffer is full
    /// (epoll: the registration; io_uring: a `POLL_ADD` for `POLLOUT`, the
    /// socket being non-blocking only for the syscall itself, since the
    /// ring's own writes expect a blocking socket). `Ok(0)`: the file ends
    /// at `offset`. A page-cache miss makes the call read the file
    /// synchronously, as nginx's `sendfile on` does.
    pub(crate) async fn sendfile(
        &self,
        file: &SharedFd,
        offset: u64,
        len: usize,
    ) -> io::Result<usize> {
        let len = len.min(op::MAX_IO);
        let send = || {
            let mut off = offset as libc::off64_t;
            // SAFETY: both descriptors are open (held by `self` and `file`),
            // `off` is a valid off64_t the call updates.
            let n = unsafe { libc::sendfile64(self.fd.raw(), file.raw(), &mut off, len) };
            if n < 0 {
                Err(io::Error::last_os_error())
            } else {
                Ok(n as usize)
            }
        };
        match &self.reg {
            Some(reg) => {
                // A short count is no sign of a full socket here: the file
                // may end first (0 at its end). Readiness is cleared only by
                // `WouldBlock`; clearing it after a short count would wait
                // for an edge that never comes while the socket has room.
                std::future::poll_fn(|cx| {
                    reg.poll_io(Direction::Write, cx, || send().map(|n| (n, false)))
                })
                .await
            }
            None => loop {
                self.set_fionbio(true)?;
                let result = send();
                self.set_fionbio(false)?;
                match result {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        let poll = op::PollWritable::new(self.fd.clone());
                        op::run(poll, Driven::Ring).await.0?;
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    result => return result,
                }
            },
        }
    }

    /// Sets or clears `O_NONBLOCK` with one `ioctl(FIONBIO)`.
    fn set_fionbio(&self, on: bool) -> io::Result<()> {
        let mut on = libc::c_int::from(on);
        // SAFETY: FIONBIO reads one c_int from the valid pointer.
        if unsafe { libc::ioctl(self.fd.raw(), libc::FIONBIO, &mut on) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Accepts a connection, adopted for this runtime's driver: the new
    /// socket (close-on-exec) and its peer address, which a multishot
    /// accept (`multi`, on io_uring) does not give.
    pub(crate) async fn accept(
        &self,
        multi: &op::MultiAccept,
    ) -> io::Result<(Socket, Option<SockAddr>)> {
        if self.reg.is_none() {
            if let Some(result) = std::future::poll_fn(|cx| multi.poll_next(&self.fd, cx)).await {
                // SAFETY: the kernel returned a fresh descriptor owned by us.
                let socket = unsafe { RawSocket::from_raw_fd(result?) };
                return Ok((Socket::accepted(socket)?, None));
            }
        }
        let (result, op) = op::run(op::Accept::new(self.fd.clone()), self.driven()).await;
        let fd = result? as RawFd;
        // SAFETY: the kernel returned a fresh descriptor owned by us.
        let socket = unsafe { RawSocket::from_raw_fd(fd) };
        Ok((Socket::accepted(socket)?, Some(op.addr.into_sockaddr())))
    }

    /// Adopts a socket this thread's driver accepted, already in the mode
    /// the driver wants (io_uring accepts leave it blocking, `accept4` on
    /// epoll makes it non-blocking): no `fcntl(2)` per connection.
    fn accepted(socket: RawSocket) -> io::Result<Socket> {
        Socket::adopt(socket, true)
    }

    /// Adopts `socket`, already in the driver's mode; on io_uring with
    /// `fixed`, also in the ring's fixed-file table when it has one
    /// (`Builder::registered_fds`: accepted and connecting stream sockets).
    fn adopt(socket: RawSocket, fixed: bool) -> io::Result<Socket> {
        let slot = context(|cx| match &mut *cx.driver.borrow_mut() {
            Driver::Uring(ring) if fixed => Ok(ring.register_fixed(socket.as_raw_fd())),
            Driver::Uring(_) => Ok(None),
            Driver::Epoll(_) => Err(()),
        });
        let (reg, slot) = match slot {
            Ok(slot) => (None, slot),
            Err(()) => (Some(Registration::new(socket.as_raw_fd())?), None),
        };
        Ok(Socket {
            reg,
            fd: SharedFd::with_slot(socket.into(), slot),
            multi_recv: op::MultiRecv::default(),
            zerocopy: op::ZeroCopy::default(),
        })
    }

    /// Connects to `addr`.
    pub(crate) async fn connect(&self, addr: &SockAddr) -> io::Result<()> {
        let connect = op::Connect::new(self.fd.clone(), addr);
        op::run(connect, self.driven()).await.0.map(drop)
    }

    /// Sends one datagram to `addr`.
    pub(crate) async fn send_to<B: IoBuf>(
        &self,
        buf: B,
        addr: &SockAddr,
    ) -> (io::Result<usize>, B) {
        let send = op::SendTo::new(self.fd.clone(), buf, addr);
        let (result, op) = op::run(send, self.driven()).await;
        (result.map(|n| n as usize), op.buf)
    }

    /// Receives one datagram into `buf`'s read target.
    pub(crate) async fn recv_from<B: IoBufMut>(
        &self,
        buf: B,
    ) -> (io::Result<(usize, SockAddr)>, B) {
        let (result, op) = op::run(op::RecvFrom::new(self.fd.clone(), buf), self.driven()).await;
        op.finish(result)
    }

    pub(crate) fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.with_raw(|s| s.shutdown(how))
    }
}
