//! Registered (direct) descriptors for accepted and connected stream
//! sockets: a sparse fixed-file table registered at ring set-up
//! (`IORING_REGISTER_FILES2` with `IORING_RSRC_REGISTER_SPARSE`, Linux
//! 5.19), one slot per such socket from a per-ring allocator, filled
//! with `io_uring_register(FILES_UPDATE)`. The socket keeps its regular descriptor as well
//! (`setsockopt`, `shutdown`, `sendfile` need one); its receives and sends
//! name the slot (`types::Fixed`), which spares the kernel a descriptor
//! lookup per operation. A full table leaves the socket unregistered.
//!
//! A slot is released when its socket's last holder drops ([`FixedSlot`]):
//! the driver then closes it through the ring (`IORING_OP_CLOSE` on the
//! fixed slot) and gives the slot out again only once that close
//! completed, so an operation of a new socket never finds the old one's
//! file. Operations hold the socket's descriptor until they complete, so no
//! operation of the old socket is submitted after its slot was released.

use std::io;
use std::os::fd::RawFd;
use std::sync::{Arc, Mutex};

use io_uring::{opcode, squeue, types, IoUring};

/// `user_data` tag of a fixed slot's close (the slot in the low bits);
/// operation keys stay far below it.
pub(super) const SLOT_TAG: u64 = 1 << 62;

/// Slots released by their sockets, to close through the ring. Shared with
/// the sockets, which may drop while the driver is borrowed or on another
/// thread.
#[derive(Debug, Default)]
pub(crate) struct Released(Mutex<Vec<u32>>);

/// A socket's slot in its ring's table; released on drop.
#[derive(Debug)]
pub(crate) struct FixedSlot {
    slot: u32,
    released: Arc<Released>,
}

impl FixedSlot {
    /// The slot's index in the table.
    pub(crate) fn index(&self) -> u32 {
        self.slot
    }
}

impl Drop for FixedSlot {
    fn drop(&mut self) {
        if let Ok(mut released) = self.released.0.lock() {
            released.push(self.slot);
        }
    }
}

/// A ring's table of registered descriptors and its slot allocator.
pub(super) struct FixedTable {
    size: u32,
    /// Slots never given out start here.
    next: u32,
    /// Slots whose close completed.
    free: Vec<u32>,
    released: Arc<Released>,
}

impl FixedTable {
    /// Registers a sparse table of `size` slots (at most the descriptor
    /// limit) on `ring`; an error means the kernel lacks it.
    pub(super) fn register(ring: &IoUring, size: u32) -> io::Result<FixedTable> {
        let size = size.min(nofile_limit()).max(1);
        ring.submitter().register_files_sparse(size)?;
        Ok(FixedTable {
            size,
            next: 0,
            free: Vec::new(),
            released: Arc::default(),
        })
    }

    /// Registers `fd` in a free slot; `None` when the table is full or the
    /// kernel refused (the socket then goes unregistered).
    pub(super) fn take(&mut self, ring: &IoUring, fd: RawFd) -> Option<FixedSlot> {
        let slot = match self.free.pop() {
            Some(slot) => slot,
            None if self.next < self.size => {
                self.next += 1;
                self.next - 1
            }
            None => return None,
        };
        match ring.submitter().register_files_update(slot, &[fd]) {
            Ok(_) => Some(FixedSlot {
                slot,
                released: self.released.clone(),
            }),
            Err(e) => {
                tracing::debug!("io_uring registering a descriptor failed ({e})");
                self.free.push(slot);
                None
            }
        }
    }

    /// The close entries of the slots released since the last call.
    pub(super) fn closes(&mut self) -> Vec<squeue::Entry> {
        let slots = match self.released.0.lock() {
            Ok(mut released) if !released.is_empty() => std::mem::take(&mut *released),
            _ => return Vec::new(),
        };
        slots
            .into_iter()
            .map(|slot| {
                opcode::Close::new(types::Fixed(slot))
                    .build()
                    .user_data(SLOT_TAG | u64::from(slot))
            })
            .collect()
    }

    /// The close of the slot in `user_data` completed: it can be given out.
    pub(super) fn closed(&mut self, user_data: u64) {
        self.free.push((user_data & !SLOT_TAG) as u32);
    }

    /// Slots held by sockets or closing.
    pub(super) fn in_use(&self) -> usize {
        (self.next as usize) - self.free.len()
    }
}

/// The soft `RLIMIT_NOFILE`: more slots than descriptors are never used.
fn nofile_limit() -> u32 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes the struct we pass; we check the result.
    match unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } {
        0 => limit.rlim_cur.min(u64::from(u32::MAX)) as u32,
        _ => u32::MAX,
    }
}
