//! Socket addresses and message headers the kernel reads or fills in, kept
//! on the heap so the pointers between them survive moves.

use std::mem::MaybeUninit;

use socket2::SockAddr;

/// A sockaddr buffer the kernel fills in (or reads).
#[derive(Clone, Copy)]
pub(crate) struct AddrBuf {
    pub(crate) storage: MaybeUninit<libc::sockaddr_storage>,
    pub(crate) len: libc::socklen_t,
}

impl AddrBuf {
    pub(crate) fn new() -> AddrBuf {
        AddrBuf {
            storage: MaybeUninit::zeroed(),
            len: std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t,
        }
    }

    pub(crate) fn from_sockaddr(addr: &SockAddr) -> AddrBuf {
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

    pub(crate) fn into_sockaddr(self) -> SockAddr {
        // SAFETY: storage was zeroed and then (possibly) filled by the kernel
        // with `len` bytes of a sockaddr; both are valid sockaddr_storage.
        unsafe { SockAddr::new(self.storage.assume_init(), self.len) }
    }
}

/// A msghdr with its own iovec and address, kept together on the heap so the
/// pointers between them stay valid while the kernel uses them.
pub(crate) struct MsgHeader {
    pub(crate) hdr: libc::msghdr,
    iov: libc::iovec,
    pub(crate) addr: AddrBuf,
}

// SAFETY: the raw pointers in a MsgHeader point only into the header itself
// and into buffers owned by the same operation; they move between threads
// together (the blocking pool), never shared.
unsafe impl Send for MsgHeader {}

impl MsgHeader {
    /// A boxed header over `iov`, with `addr` as its address (or an empty
    /// address buffer to fill in).
    pub(crate) fn boxed(iov: libc::iovec, addr: Option<&SockAddr>) -> Box<MsgHeader> {
        // SAFETY: msghdr is plain data; all-zero is a valid empty header.
        let hdr: libc::msghdr = unsafe { std::mem::zeroed() };
        let mut msg = Box::new(MsgHeader {
            hdr,
            iov,
            addr: addr.map_or_else(AddrBuf::new, AddrBuf::from_sockaddr),
        });
        msg.hdr.msg_iov = &mut msg.iov;
        msg.hdr.msg_iovlen = 1;
        msg.hdr.msg_name = msg.addr.storage.as_mut_ptr().cast();
        msg.hdr.msg_namelen = msg.addr.len;
        msg
    }
}

/// The iovecs of a vectored write, pointing into the buffers owned by the
/// same operation.
pub(crate) struct IoVecs(pub(crate) Vec<libc::iovec>);

// SAFETY: as for MsgHeader: the pointers target buffers owned by the same
// operation and move with it.
unsafe impl Send for IoVecs {}
