//! Socket addresses and message headers the kernel reads or fills in, kept
//! on the heap so the pointers between them survive moves.

use std::mem::MaybeUninit;
use std::ptr::NonNull;

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
///
/// The allocation is held as a raw pointer, not a `Box`: moving a `Box`
/// asserts unique access to its contents, which would invalidate the
/// pointers the header keeps into itself (Miri's aliasing model reports
/// exactly that). Every access goes through the one raw pointer.
pub(crate) struct MsgHeader {
    parts: NonNull<Parts>,
}

struct Parts {
    hdr: libc::msghdr,
    iov: libc::iovec,
    addr: AddrBuf,
}

// SAFETY: the raw pointers in a MsgHeader point only into its own allocation
// and into buffers owned by the same operation; they move between threads
// together (the blocking pool), never shared.
unsafe impl Send for MsgHeader {}

impl MsgHeader {
    /// A header over the one buffer `iov`, with `addr` as its address (or
    /// an empty address buffer for the kernel to fill in).
    pub(crate) fn new(iov: libc::iovec, addr: Option<&SockAddr>) -> MsgHeader {
        let msg = MsgHeader::alloc(iov, addr.map_or_else(AddrBuf::new, AddrBuf::from_sockaddr));
        let p = msg.parts.as_ptr();
        // SAFETY: `p` is the live allocation made above; the fields are
        // addressed through it without creating references.
        unsafe {
            (*p).hdr.msg_iov = std::ptr::addr_of_mut!((*p).iov);
            (*p).hdr.msg_iovlen = 1;
            (*p).hdr.msg_name = std::ptr::addr_of_mut!((*p).addr.storage).cast();
            (*p).hdr.msg_namelen = (*p).addr.len;
        }
        msg
    }

    /// A header without an address over the iovec array of `iovecs`, which
    /// must outlive it (the operation owns both).
    pub(crate) fn vectored(iovecs: &IoVecs) -> MsgHeader {
        let empty = libc::iovec {
            iov_base: std::ptr::null_mut(),
            iov_len: 0,
        };
        let msg = MsgHeader::alloc(empty, AddrBuf::new());
        let p = msg.parts.as_ptr();
        // SAFETY: as in `new`.
        unsafe {
            (*p).hdr.msg_iov = iovecs.0.as_ptr().cast_mut();
            (*p).hdr.msg_iovlen = iovecs.0.len();
        }
        msg
    }

    fn alloc(iov: libc::iovec, addr: AddrBuf) -> MsgHeader {
        // SAFETY: msghdr is plain data; all-zero is a valid empty header.
        let hdr: libc::msghdr = unsafe { std::mem::zeroed() };
        let parts = Box::into_raw(Box::new(Parts { hdr, iov, addr }));
        MsgHeader {
            // SAFETY: Box::into_raw never returns null.
            parts: unsafe { NonNull::new_unchecked(parts) },
        }
    }

    /// The header, for the kernel.
    pub(crate) fn hdr(&self) -> *const libc::msghdr {
        // SAFETY: the allocation lives as long as `self`; no reference is made.
        unsafe { std::ptr::addr_of!((*self.parts.as_ptr()).hdr) }
    }

    /// The header, for a kernel that fills in its address.
    pub(crate) fn hdr_mut(&mut self) -> *mut libc::msghdr {
        // SAFETY: as in `hdr`.
        unsafe { std::ptr::addr_of_mut!((*self.parts.as_ptr()).hdr) }
    }

    /// Offers the whole address buffer again (before each `recvmsg`).
    pub(crate) fn reset_name_len(&mut self) {
        let p = self.parts.as_ptr();
        // SAFETY: no operation is in flight while the caller holds `&mut self`
        // outside the kernel's use; the fields are plain data.
        unsafe { (*p).hdr.msg_namelen = (*p).addr.len };
    }

    /// The address the kernel filled in (once the operation is done).
    pub(crate) fn name(&self) -> SockAddr {
        let p = self.parts.as_ptr();
        // SAFETY: the operation completed: nothing else accesses the
        // allocation; AddrBuf is Copy.
        let mut addr = unsafe { (*p).addr };
        // SAFETY: as above.
        addr.len = unsafe { (*p).hdr.msg_namelen };
        addr.into_sockaddr()
    }
}

impl Drop for MsgHeader {
    fn drop(&mut self) {
        // SAFETY: the allocation came from Box::into_raw in `alloc` and is
        // freed once, here; the kernel is done with it (an operation in
        // flight keeps its MsgHeader alive).
        drop(unsafe { Box::from_raw(self.parts.as_ptr()) });
    }
}

/// The iovecs of a vectored write, pointing into the buffers owned by the
/// same operation.
pub(crate) struct IoVecs(pub(crate) Vec<libc::iovec>);

// SAFETY: as for MsgHeader: the pointers target buffers owned by the same
// operation and move with it.
unsafe impl Send for IoVecs {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;

    #[test]
    fn an_address_survives_the_round_trip_through_the_buffer() {
        for addr in ["127.0.0.1:8080", "[::1]:443"] {
            let addr: SocketAddr = addr.parse().unwrap();
            let buf = AddrBuf::from_sockaddr(&addr.into());
            assert_eq!(buf.into_sockaddr().as_socket(), Some(addr));
        }
    }

    #[test]
    fn a_header_points_into_itself_after_moves() {
        let mut data = vec![1u8, 2, 3];
        let iov = libc::iovec {
            iov_base: data.as_mut_ptr().cast(),
            iov_len: data.len(),
        };
        let addr: SocketAddr = "10.0.0.1:9".parse().unwrap();
        let msg = MsgHeader::new(iov, Some(&addr.into()));
        let moved = [msg];
        let msg = &moved[0];
        // SAFETY: the header points at its own iovec, whose target is `data`,
        // and at its own address, all alive here; reading them is what the
        // kernel does.
        let (bytes, name, namelen) = unsafe {
            let hdr = &*msg.hdr();
            let iov = &*hdr.msg_iov;
            let bytes = std::slice::from_raw_parts(iov.iov_base as *const u8, iov.iov_len);
            let name = *hdr.msg_name.cast::<libc::sockaddr_in>();
            (bytes, name, hdr.msg_namelen)
        };
        assert_eq!(bytes, &[1, 2, 3]);
        assert_eq!(namelen as usize, std::mem::size_of::<libc::sockaddr_in>());
        assert_eq!(u16::from_be(name.sin_port), 9);
        assert_eq!(msg.name().as_socket(), Some(addr));
    }

    #[test]
    fn a_vectored_header_points_at_the_iovecs() {
        let bufs = [b"ab".to_vec(), b"cde".to_vec()];
        let iovecs = IoVecs(
            bufs.iter()
                .map(|b| libc::iovec {
                    iov_base: b.as_ptr() as *mut libc::c_void,
                    iov_len: b.len(),
                })
                .collect(),
        );
        let msg = MsgHeader::vectored(&iovecs);
        let moved = (msg, iovecs);
        // SAFETY: the header points at the iovec array, which points at
        // `bufs`, all alive here.
        let joined: Vec<u8> = unsafe {
            let hdr = &*moved.0.hdr();
            assert!(hdr.msg_name.is_null());
            std::slice::from_raw_parts(hdr.msg_iov, hdr.msg_iovlen)
                .iter()
                .flat_map(|v| std::slice::from_raw_parts(v.iov_base as *const u8, v.iov_len))
                .copied()
                .collect()
        };
        assert_eq!(joined, b"abcde");
    }
}
