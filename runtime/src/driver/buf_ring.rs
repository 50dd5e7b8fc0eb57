//! Provided buffers for io_uring receives (`IORING_REGISTER_PBUF_RING`,
//! Linux 5.19): a ring of buffers the kernel picks from when bytes arrive.
//! A receive submitted with `BUFFER_SELECT` owns no memory while it waits,
//! so a connection waiting for its next request holds no read buffer; its
//! completion names the buffer it filled, which the reader copies out and
//! gives back at once. A cancelled receive's buffer comes back through its
//! completion (see `Uring::reap`).

use std::io;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU16, Ordering};

use io_uring::types::BufRingEntry;
use io_uring::IoUring;

/// Buffer group id of the ring (one per io_uring).
pub(crate) const GROUP: u16 = 0;
/// Buffers in the ring (a power of two).
const COUNT: u16 = 64;
/// Size of one buffer: a read of an idle connection takes at most this.
pub(crate) const SIZE: usize = 16 * 1024;

/// Anonymous private memory, page-aligned, unmapped on drop.
struct Mapping {
    ptr: NonNull<u8>,
    len: usize,
}

impl Mapping {
    fn new(len: usize) -> io::Result<Mapping> {
        // SAFETY: an anonymous private mapping touches no existing memory;
        // the result is checked.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let ptr = NonNull::new(ptr.cast()).ok_or_else(|| io::Error::other("mmap returned null"))?;
        Ok(Mapping { ptr, len })
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: the mapping was made by `Mapping::new` with this length.
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}

/// The registered ring and its buffers. Dropped only with the ring
/// (the kernel may write into the buffers until the ring is gone).
pub(crate) struct BufRing {
    /// The entries shared with the kernel.
    entries: Mapping,
    /// `COUNT × SIZE` bytes of buffers.
    buffers: Mapping,
    /// Our copy of the ring's tail: entries published so far.
    tail: u16,
    /// Completions that took a buffer, buffers given back, and receives
    /// that found none free (for leak tests and the benchmark notes).
    pub(crate) stats: BufRingStats,
}

/// Counters of a [`BufRing`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct BufRingStats {
    /// Completions that filled a provided buffer.
    pub taken: u64,
    /// Buffers given back to the kernel.
    pub recycled: u64,
    /// Receives that found no buffer free (and used their own).
    pub exhausted: u64,
    /// Multishot receives the driver stopped because their socket's queue
    /// was full (re-armed by the next read).
    pub stopped: u64,
}

impl BufRing {
    /// Registers a ring of provided buffers with `ring`; an error on a
    /// kernel without `IORING_REGISTER_PBUF_RING` (the caller falls back
    /// to receives into the connection's own buffer).
    pub(crate) fn register(ring: &IoUring) -> io::Result<BufRing> {
        let entries = Mapping::new(COUNT as usize * std::mem::size_of::<BufRingEntry>())?;
        let buffers = Mapping::new(COUNT as usize * SIZE)?;
        // SAFETY: `entries` is page-aligned memory of COUNT entries that
        // lives as long as this value, which the driver drops only after
        // the ring is torn down.
        unsafe {
            ring.submitter().register_buf_ring_with_flags(
                entries.ptr.as_ptr() as u64,
                COUNT,
                GROUP,
                0,
            )?;
        }
        let mut ring = BufRing {
            entries,
            buffers,
            tail: 0,
            stats: BufRingStats::default(),
        };
        for bid in 0..COUNT {
            ring.push(bid);
        }
        ring.publish();
        Ok(ring)
    }

    /// Queues buffer `bid` for the kernel (published by [`Self::publish`]).
    fn push(&mut self, bid: u16) {
        let slot = (self.tail & (COUNT - 1)) as usize;
        // SAFETY: `slot < COUNT`, inside the entries mapping; the kernel
        // reads only entries between its head and the published tail, and
        // this one is past the tail until `publish`.
        let entry = unsafe { &mut *self.entries.ptr.as_ptr().cast::<BufRingEntry>().add(slot) };
        // SAFETY: `bid < COUNT`: the buffer lies inside the buffers mapping.
        let addr = unsafe { self.buffers.ptr.as_ptr().add(bid as usize * SIZE) };
        entry.set_addr(addr as u64);
        entry.set_len(SIZE as u32);
        entry.set_bid(bid);
        self.tail = self.tail.wrapping_add(1);
    }

    /// Makes the queued buffers visible to the kernel.
    fn publish(&self) {
        // SAFETY: the entries mapping starts with the ring's first entry,
        // whose reserved field is the shared tail (io_uring_buf_ring).
        let tail = unsafe { BufRingEntry::tail(self.entries.ptr.as_ptr().cast()) };
        // SAFETY: the tail is a naturally aligned u16 the kernel reads
        // atomically; we are its only writer.
        unsafe { (*(tail as *const AtomicU16)).store(self.tail, Ordering::Release) };
    }

    /// Gives buffer `bid` back to the kernel.
    pub(crate) fn recycle(&mut self, bid: u16) {
        if bid < COUNT {
            self.push(bid);
            self.publish();
            self.stats.recycled += 1;
        }
    }

    /// The first `len` bytes the kernel wrote into buffer `bid`.
    pub(crate) fn filled(&self, bid: u16, len: usize) -> &[u8] {
        assert!(bid < COUNT && len <= SIZE, "a provided buffer out of range");
        // SAFETY: inside the buffers mapping; the kernel wrote these bytes
        // and does not touch the buffer again until it is recycled.
        unsafe {
            std::slice::from_raw_parts(self.buffers.ptr.as_ptr().add(bid as usize * SIZE), len)
        }
    }
}
