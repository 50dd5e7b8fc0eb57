//! One socket type behind every stream, listener and datagram socket: the
//! driver-specific parts of read, write, accept, connect and datagrams.

use std::future::poll_fn;
use std::io;
use std::mem::MaybeUninit;
use std::net::Shutdown;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use io_uring::{opcode, types};
use socket2::{SockAddr, Socket as RawSocket};

use crate::buf::{IoBuf, IoBufMut};
use crate::driver::epoll::{Direction, Registration};
use crate::driver::op::Op;
use crate::driver::{Driver, DriverKind};
use crate::runtime::{context, with_context};

/// Largest single transfer handed to the kernel.
const MAX_IO: usize = i32::MAX as usize;
/// Most buffers in one vectored write.
const MAX_IOVECS: usize = 1024;

pub(crate) struct Socket {
    /// Present on the epoll driver; dropped (deregistered) before the fd closes.
    reg: Option<Registration>,
    fd: Option<OwnedFd>,
}

impl std::fmt::Debug for Socket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Socket")
            .field("fd", &self.raw())
            .field("epoll", &self.reg.is_some())
            .finish()
    }
}

fn current_kind() -> DriverKind {
    context(|cx| cx.driver.borrow().kind())
}

fn cvt(res: isize) -> io::Result<usize> {
    if res < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(res as usize)
    }
}

impl Socket {
    /// Adopts `socket` for the current runtime's driver: blocking mode for
    /// io_uring (the ring waits for readiness), non-blocking and registered
    /// for epoll.
    pub(crate) fn new(socket: RawSocket) -> io::Result<Socket> {
        match current_kind() {
            DriverKind::Uring => {
                socket.set_nonblocking(false)?;
                Ok(Socket {
                    reg: None,
                    fd: Some(socket.into()),
                })
            }
            DriverKind::Epoll => {
                socket.set_nonblocking(true)?;
                let reg = Registration::new(socket.as_raw_fd())?;
                Ok(Socket {
                    reg: Some(reg),
                    fd: Some(socket.into()),
                })
            }
        }
    }

    pub(crate) fn raw(&self) -> RawFd {
        self.fd.as_ref().map_or(-1, |fd| fd.as_raw_fd())
    }

    /// A borrowed socket2 view for option calls.
    pub(crate) fn with_raw<R>(&self, f: impl FnOnce(&RawSocket) -> R) -> R {
        let sock = socket2::SockRef::from(self.fd.as_ref().expect("socket is open"));
        f(&sock)
    }

    /// Reads into `buf`'s read target (appending for `Vec`/`BytesMut`).
    pub(crate) async fn read<B: IoBufMut>(&self, mut buf: B) -> (io::Result<usize>, B) {
        let (ptr, len) = buf.read_target();
        let len = len.min(MAX_IO);
        match &self.reg {
            None => {
                let entry = opcode::Recv::new(types::Fd(self.raw()), ptr, len as u32).build();
                // SAFETY: `ptr` points into `buf`'s heap storage, which the Op owns.
                let done = unsafe { Op::submit(entry, buf) }.await;
                let mut buf = done.data;
                let result = done.result.map(|n| n as usize);
                if let Ok(n) = result {
                    // SAFETY: the kernel wrote `n` bytes at the read target.
                    unsafe { buf.advance_written(n) };
                }
                (result, buf)
            }
            Some(reg) => {
                let fd = self.raw();
                let result = poll_fn(|cx| {
                    reg.poll_io_drained(
                        Direction::Read,
                        cx,
                        || {
                            // SAFETY: `ptr` is valid for `len` writable bytes of `buf`.
                            cvt(unsafe { libc::recv(fd, ptr.cast(), len, 0) })
                        },
                        // A short read emptied the receive buffer (0 is EOF: keep it readable).
                        |&n| n > 0 && n < len,
                    )
                })
                .await;
                if let Ok(n) = result {
                    // SAFETY: recv wrote `n` bytes at the read target.
                    unsafe { buf.advance_written(n) };
                }
                (result, buf)
            }
        }
    }

    /// Writes some of `buf`'s bytes.
    pub(crate) async fn write<B: IoBuf>(&self, buf: B) -> (io::Result<usize>, B) {
        let (ptr, len) = buf.write_source();
        let len = len.min(MAX_IO);
        match &self.reg {
            None => {
                let entry = opcode::Send::new(types::Fd(self.raw()), ptr, len as u32)
                    .flags(libc::MSG_NOSIGNAL)
                    .build();
                // SAFETY: `ptr` points into `buf`'s stable storage, owned by the Op.
                let done = unsafe { Op::submit(entry, buf) }.await;
                (done.result.map(|n| n as usize), done.data)
            }
            Some(reg) => {
                let fd = self.raw();
                let result = poll_fn(|cx| {
                    reg.poll_io_drained(
                        Direction::Write,
                        cx,
                        || {
                            // SAFETY: `ptr` is valid for `len` initialised bytes of `buf`.
                            cvt(unsafe { libc::send(fd, ptr.cast(), len, libc::MSG_NOSIGNAL) })
                        },
                        // A short write filled the send buffer.
                        |&n| n < len,
                    )
                })
                .await;
                (result, buf)
            }
        }
    }

    /// Writes some of the bytes of `bufs`, in order, with one syscall.
    pub(crate) async fn writev<B: IoBuf>(&self, bufs: Vec<B>) -> (io::Result<usize>, Vec<B>) {
        let iovecs: Vec<libc::iovec> = bufs
            .iter()
            .take(MAX_IOVECS)
            .map(|b| {
                let (ptr, len) = b.write_source();
                libc::iovec {
                    iov_base: ptr as *mut libc::c_void,
                    iov_len: len,
                }
            })
            .collect();
        let mut msg = Box::new(MsgHeader::new());
        msg.hdr.msg_iov = iovecs.as_ptr() as *mut libc::iovec;
        msg.hdr.msg_iovlen = iovecs.len();
        match &self.reg {
            None => {
                let entry = opcode::SendMsg::new(types::Fd(self.raw()), &msg.hdr)
                    .flags(libc::MSG_NOSIGNAL as u32)
                    .build();
                // SAFETY: the msghdr, the iovec array and the buffers it points
                // to are heap memory owned by the Op's data.
                let done = unsafe { Op::submit(entry, (msg, iovecs, bufs)) }.await;
                (done.result.map(|n| n as usize), done.data.2)
            }
            Some(reg) => {
                let fd = self.raw();
                let result = poll_fn(|cx| {
                    reg.poll_io(Direction::Write, cx, || {
                        // SAFETY: the msghdr points to live iovecs over live buffers.
                        cvt(unsafe { libc::sendmsg(fd, &msg.hdr, libc::MSG_NOSIGNAL) })
                    })
                })
                .await;
                drop(iovecs);
                (result, bufs)
            }
        }
    }

    /// Accepts a connection: the new socket (close-on-exec) and its peer address.
    pub(crate) async fn accept(&self) -> io::Result<(RawSocket, SockAddr)> {
        match &self.reg {
            None => {
                let mut addr = Box::new(AddrBuf::new());
                let entry = opcode::Accept::new(
                    types::Fd(self.raw()),
                    addr.storage.as_mut_ptr().cast(),
                    &mut addr.len,
                )
                .flags(libc::SOCK_CLOEXEC)
                .build();
                // SAFETY: the address buffer is boxed and owned by the Op.
                let done = unsafe { Op::submit(entry, addr) }.closes_result_fd().await;
                let fd = done.result? as RawFd;
                // SAFETY: the kernel returned a fresh descriptor owned by us.
                let socket = unsafe { <RawSocket as std::os::fd::FromRawFd>::from_raw_fd(fd) };
                Ok((socket, done.data.into_sockaddr()))
            }
            Some(reg) => {
                let fd = self.raw();
                poll_fn(|cx| {
                    reg.poll_io(Direction::Read, cx, || {
                        let mut addr = AddrBuf::new();
                        // SAFETY: `addr` provides a sockaddr_storage and its length.
                        let res = unsafe {
                            libc::accept4(
                                fd,
                                addr.storage.as_mut_ptr().cast(),
                                &mut addr.len,
                                libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
                            )
                        };
                        let new_fd = cvt(res as isize)? as RawFd;
                        // SAFETY: accept4 returned a fresh descriptor owned by us.
                        let socket =
                            unsafe { <RawSocket as std::os::fd::FromRawFd>::from_raw_fd(new_fd) };
                        Ok((socket, addr.into_sockaddr()))
                    })
                })
                .await
            }
        }
    }

    /// Connects to `addr`.
    pub(crate) async fn connect(&self, addr: &SockAddr) -> io::Result<()> {
        match &self.reg {
            None => {
                let addr = Box::new(addr.clone());
                let entry =
                    opcode::Connect::new(types::Fd(self.raw()), addr.as_ptr(), addr.len()).build();
                // SAFETY: the address is boxed and owned by the Op.
                unsafe { Op::submit(entry, addr) }.await.result.map(drop)
            }
            Some(reg) => {
                match self.with_raw(|s| s.connect(addr)) {
                    Ok(()) => return Ok(()),
                    Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
                    Err(e) => return Err(e),
                }
                reg.ready(Direction::Write).await?;
                match self.with_raw(|s| s.take_error())? {
                    Some(e) => Err(e),
                    None => Ok(()),
                }
            }
        }
    }

    /// Sends one datagram to `addr`.
    pub(crate) async fn send_to<B: IoBuf>(
        &self,
        buf: B,
        addr: &SockAddr,
    ) -> (io::Result<usize>, B) {
        let (ptr, len) = buf.write_source();
        let mut msg = Box::new(MsgHeader::new());
        msg.iov = libc::iovec {
            iov_base: ptr as *mut libc::c_void,
            iov_len: len,
        };
        msg.addr = AddrBuf::from_sockaddr(addr);
        msg.point_at_self();
        match &self.reg {
            None => {
                let entry = opcode::SendMsg::new(types::Fd(self.raw()), &msg.hdr).build();
                // SAFETY: the msghdr (with its iovec and address) is boxed and
                // owned by the Op, as is the buffer it points to.
                let done = unsafe { Op::submit(entry, (msg, buf)) }.await;
                (done.result.map(|n| n as usize), done.data.1)
            }
            Some(reg) => {
                let fd = self.raw();
                let result = poll_fn(|cx| {
                    reg.poll_io(Direction::Write, cx, || {
                        // SAFETY: the msghdr points to live memory.
                        cvt(unsafe { libc::sendmsg(fd, &msg.hdr, libc::MSG_NOSIGNAL) })
                    })
                })
                .await;
                (result, buf)
            }
        }
    }

    /// Receives one datagram into `buf`'s read target.
    pub(crate) async fn recv_from<B: IoBufMut>(
        &self,
        mut buf: B,
    ) -> (io::Result<(usize, SockAddr)>, B) {
        let (ptr, len) = buf.read_target();
        let mut msg = Box::new(MsgHeader::new());
        msg.iov = libc::iovec {
            iov_base: ptr.cast(),
            iov_len: len,
        };
        msg.point_at_self();
        let (result, msg, mut buf) = match &self.reg {
            None => {
                let entry = opcode::RecvMsg::new(types::Fd(self.raw()), &mut msg.hdr).build();
                // SAFETY: the msghdr, its iovec, address buffer and the target
                // buffer are heap memory owned by the Op.
                let done = unsafe { Op::submit(entry, (msg, buf)) }.await;
                let (msg, buf) = done.data;
                (done.result.map(|n| n as usize), msg, buf)
            }
            Some(reg) => {
                let fd = self.raw();
                let result = poll_fn(|cx| {
                    reg.poll_io(Direction::Read, cx, || {
                        // SAFETY: the msghdr points to live, writable memory.
                        cvt(unsafe { libc::recvmsg(fd, &mut msg.hdr, 0) })
                    })
                })
                .await;
                (result, msg, buf)
            }
        };
        match result {
            Ok(n) => {
                // SAFETY: the kernel wrote `n` bytes at the read target.
                unsafe { buf.advance_written(n) };
                let mut addr = msg.addr;
                addr.len = msg.hdr.msg_namelen;
                (Ok((n, addr.into_sockaddr())), buf)
            }
            Err(e) => (Err(e), buf),
        }
    }

    pub(crate) fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.with_raw(|s| s.shutdown(how))
    }
}

impl Drop for Socket {
    fn drop(&mut self) {
        drop(self.reg.take());
        let Some(fd) = self.fd.take() else { return };
        // On io_uring, close through the ring so that operations queued before
        // (and not yet submitted) can never act on a reused descriptor number.
        let leftover = with_context(|cx| match cx.driver.try_borrow_mut() {
            Ok(mut d) => match &mut *d {
                Driver::Uring(ring) => {
                    ring.close(fd);
                    None
                }
                Driver::Epoll(_) => Some(fd),
            },
            Err(_) => Some(fd),
        });
        drop(leftover);
    }
}

/// A sockaddr buffer the kernel fills in.
#[derive(Clone, Copy)]
pub(crate) struct AddrBuf {
    storage: MaybeUninit<libc::sockaddr_storage>,
    len: libc::socklen_t,
}

impl AddrBuf {
    fn new() -> AddrBuf {
        AddrBuf {
            storage: MaybeUninit::zeroed(),
            len: std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t,
        }
    }

    fn from_sockaddr(addr: &SockAddr) -> AddrBuf {
        let mut buf = AddrBuf::new();
        let len = (addr.len() as usize).min(std::mem::size_of::<libc::sockaddr_storage>());
        // SAFETY: copies `len` bytes of a valid sockaddr into storage of at least that size.
        unsafe {
            std::ptr::copy_nonoverlapping(
                addr.as_ptr().cast::<u8>(),
                buf.storage.as_mut_ptr().cast::<u8>(),
                len,
            );
        }
        buf.len = len as libc::socklen_t;
        buf
    }

    fn into_sockaddr(self) -> SockAddr {
        // SAFETY: storage was zeroed and then (possibly) filled by the kernel
        // with `len` bytes of a sockaddr; both are valid sockaddr_storage.
        unsafe { SockAddr::new(self.storage.assume_init(), self.len) }
    }
}

/// A msghdr with its own iovec and address, kept together on the heap so the
/// pointers between them stay valid while the kernel uses them.
pub(crate) struct MsgHeader {
    hdr: libc::msghdr,
    iov: libc::iovec,
    addr: AddrBuf,
}

impl MsgHeader {
    fn new() -> MsgHeader {
        // SAFETY: msghdr is plain data; all-zero is a valid empty header.
        let hdr: libc::msghdr = unsafe { std::mem::zeroed() };
        MsgHeader {
            hdr,
            iov: libc::iovec {
                iov_base: std::ptr::null_mut(),
                iov_len: 0,
            },
            addr: AddrBuf::new(),
        }
    }

    /// Points the header at its own iovec and address buffer (call once boxed).
    fn point_at_self(&mut self) {
        self.hdr.msg_iov = &mut self.iov;
        self.hdr.msg_iovlen = 1;
        self.hdr.msg_name = self.addr.storage.as_mut_ptr().cast();
        self.hdr.msg_namelen = self.addr.len;
    }
}
