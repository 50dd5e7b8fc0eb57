//! The io_uring floor: one ring, every connection's send and receive of a
//! loop turn submitted in one `io_uring_enter`, which also waits for the
//! next completion (or for `--wait` completions, at most `--wait-us`).
//! Receives go either into each connection's own buffer, armed again after
//! each completion, or (`--multishot`) through one multishot receive per
//! connection into a ring of provided buffers, armed once. `--fixed`
//! registers the sockets (`IORING_REGISTER_FILES`): entries name them by
//! index, no descriptor lookup per operation.

use std::io;
use std::os::fd::AsRawFd;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU16, Ordering};

use io_uring::types::{BufRingEntry, SubmitArgs, Timespec};
use io_uring::{cqueue, opcode, squeue, types, IoUring};

use crate::proto::Error;
use crate::{Opts, Run, Slot};

/// The io_uring knobs.
pub struct Options {
    multishot: bool,
    fixed: bool,
    wait: u32,
    wait_us: u64,
    setup: String,
}

impl From<&Opts> for Options {
    fn from(o: &Opts) -> Options {
        Options {
            multishot: o.multishot,
            fixed: o.fixed,
            wait: o.wait,
            wait_us: o.wait_us,
            setup: o.setup.clone(),
        }
    }
}

/// Size of a receive buffer (own or provided).
const BUF: usize = 16 * 1024;
/// The provided-buffer group.
const GROUP: u16 = 0;

const SEND: u64 = 0;
const RECV: u64 = 1;

fn io_err(e: io::Error) -> Error {
    Error::Io(e)
}

fn build(setup: &str, entries: u32) -> io::Result<IoUring> {
    let mut b = IoUring::builder();
    match setup {
        "defer" => b
            .setup_single_issuer()
            .setup_defer_taskrun()
            .setup_taskrun_flag(),
        "coop" => b
            .setup_single_issuer()
            .setup_coop_taskrun()
            .setup_taskrun_flag(),
        "plain" => &mut b,
        _ => return Err(io::Error::other("--setup is plain, coop or defer")),
    };
    b.build(entries)
}

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

/// A registered ring of provided buffers; dropped after the ring (it is
/// declared before the ring in `run`, so dropped after it).
struct BufRing {
    entries: Mapping,
    buffers: Mapping,
    count: u16,
    tail: u16,
}

impl BufRing {
    fn register(ring: &IoUring, count: u16) -> io::Result<BufRing> {
        let entries = Mapping::new(count as usize * std::mem::size_of::<BufRingEntry>())?;
        let buffers = Mapping::new(count as usize * BUF)?;
        // SAFETY: page-aligned memory for `count` entries that outlives the
        // ring (see the struct's note).
        unsafe {
            ring.submitter().register_buf_ring_with_flags(
                entries.ptr.as_ptr() as u64,
                count,
                GROUP,
                0,
            )?
        };
        let mut br = BufRing {
            entries,
            buffers,
            count,
            tail: 0,
        };
        for bid in 0..count {
            br.recycle(bid);
        }
        Ok(br)
    }

    /// Gives buffer `bid` (back) to the kernel.
    fn recycle(&mut self, bid: u16) {
        let slot = (self.tail & (self.count - 1)) as usize;
        // SAFETY: `slot < count`, inside the entries mapping; the kernel
        // reads only entries up to the published tail.
        let entry = unsafe { &mut *self.entries.ptr.as_ptr().cast::<BufRingEntry>().add(slot) };
        // SAFETY: `bid < count`: inside the buffers mapping.
        let addr = unsafe { self.buffers.ptr.as_ptr().add(bid as usize * BUF) };
        entry.set_addr(addr as u64);
        entry.set_len(BUF as u32);
        entry.set_bid(bid);
        self.tail = self.tail.wrapping_add(1);
        // SAFETY: the first entry's reserved field is the shared tail, a
        // naturally aligned u16 the kernel reads atomically.
        let tail = unsafe { BufRingEntry::tail(self.entries.ptr.as_ptr().cast()) };
        // SAFETY: as above; we are its only writer.
        unsafe { (*(tail as *const AtomicU16)).store(self.tail, Ordering::Release) };
    }

    /// The first `len` bytes of buffer `bid`.
    fn filled(&self, bid: u16, len: usize) -> &[u8] {
        assert!(
            bid < self.count && len <= BUF,
            "a provided buffer out of range"
        );
        // SAFETY: inside the buffers mapping; the kernel does not write the
        // buffer again until it is recycled.
        unsafe {
            std::slice::from_raw_parts(self.buffers.ptr.as_ptr().add(bid as usize * BUF), len)
        }
    }
}

/// Queues `entry`, submitting first if the queue is full.
///
/// # Safety
/// The buffers `entry` points to must stay valid until its completion.
unsafe fn push(ring: &mut IoUring, entry: &squeue::Entry) -> Result<(), Error> {
    // SAFETY: the caller's promise.
    while unsafe { ring.submission().push(entry) }.is_err() {
        ring.submit().map_err(io_err)?;
    }
    Ok(())
}

/// Per connection: a send in flight, and the own receive buffer.
struct Side {
    sending: bool,
    buf: Vec<u8>,
}

/// The descriptor of connection `i` in an entry: its socket, or (with
/// `--fixed`) its index among the registered files.
fn target(fixed: bool, i: usize, slot: &Slot) -> Target {
    if fixed {
        Target::Fixed(types::Fixed(i as u32))
    } else {
        Target::Fd(types::Fd(slot.stream.as_raw_fd()))
    }
}

/// A descriptor as an io_uring entry names it.
enum Target {
    Fd(types::Fd),
    Fixed(types::Fixed),
}

/// Builds `$op::new(target, args...)` for either kind of [`Target`].
macro_rules! op {
    ($target:expr, $op:ident ( $($arg:expr),* )) => {
        match $target {
            Target::Fd(fd) => opcode::$op::new(fd, $($arg),*),
            Target::Fixed(fd) => opcode::$op::new(fd, $($arg),*),
        }
    };
}

/// Submits a send of what `slot` has queued, unless one is in flight.
fn flush(
    ring: &mut IoUring,
    i: usize,
    slot: &mut Slot,
    side: &mut Side,
    fixed: bool,
) -> Result<(), Error> {
    if side.sending {
        return Ok(());
    }
    let fd = target(fixed, i, slot);
    let Some(rest) = slot.unsent() else {
        return Ok(());
    };
    let e = op!(fd, Send(rest.as_ptr(), rest.len() as u32))
        .flags(libc::MSG_NOSIGNAL)
        .build()
        .user_data((i as u64) << 1 | SEND);
    side.sending = true;
    // SAFETY: `flight` is neither changed nor dropped while `sending`.
    unsafe { push(ring, &e) }
}

/// Arms a receive on connection `i`.
fn arm(
    ring: &mut IoUring,
    i: usize,
    slot: &Slot,
    side: &mut Side,
    o: &Options,
) -> Result<(), Error> {
    let fd = target(o.fixed, i, slot);
    let e = if o.multishot {
        op!(fd, RecvMulti(GROUP)).build()
    } else {
        op!(fd, Recv(side.buf.as_mut_ptr(), BUF as u32)).build()
    };
    // SAFETY: the own buffer lives in `sides` until the ring is dropped;
    // provided buffers live in the BufRing, dropped after the ring.
    unsafe { push(ring, &e.user_data((i as u64) << 1 | RECV)) }
}

/// Runs until the budget is spent or a connection fails.
pub fn run(run: &mut Run, slots: &mut [Slot], o: &Options) -> Result<(), Error> {
    // Declared before the ring: dropped after it.
    let mut bufs: Option<BufRing> = None;
    let mut sides: Vec<Side> = slots
        .iter()
        .map(|_| Side {
            sending: false,
            buf: if o.multishot {
                Vec::new()
            } else {
                vec![0; BUF]
            },
        })
        .collect();
    let entries = (slots.len() as u32 * 4).next_power_of_two().max(64);
    let mut ring = build(&o.setup, entries).map_err(io_err)?;
    if o.multishot {
        let count = (slots.len() * 2).next_power_of_two().clamp(64, 1 << 15) as u16;
        bufs = Some(BufRing::register(&ring, count).map_err(io_err)?);
    }
    if o.fixed {
        let fds: Vec<i32> = slots.iter().map(|s| s.stream.as_raw_fd()).collect();
        ring.submitter().register_files(&fds).map_err(io_err)?;
    }
    for i in 0..slots.len() {
        flush(&mut ring, i, &mut slots[i], &mut sides[i], o.fixed)?;
        arm(&mut ring, i, &slots[i], &mut sides[i], o)?;
    }
    let wait_us = o.wait_us.max(1);
    let ts = Timespec::new()
        .sec(wait_us / 1_000_000)
        .nsec((wait_us % 1_000_000) as u32 * 1000);
    let args = SubmitArgs::new().timespec(&ts);
    let mut cqes: Vec<(u64, i32, u32)> = Vec::with_capacity(entries as usize * 2);
    while !run.over() {
        let r = if o.wait > 1 || o.wait_us > 0 {
            ring.submitter().submit_with_args(o.wait as usize, &args)
        } else {
            ring.submit_and_wait(1)
        };
        if let Err(e) = r {
            if !matches!(
                e.raw_os_error(),
                Some(libc::ETIME | libc::EINTR | libc::EBUSY)
            ) {
                return Err(io_err(e));
            }
        }
        cqes.extend(
            ring.completion()
                .map(|c| (c.user_data(), c.result(), c.flags())),
        );
        for &(data, res, flags) in &cqes {
            let i = (data >> 1) as usize;
            let (slot, side) = (&mut slots[i], &mut sides[i]);
            if res < 0 && !(data & 1 == RECV && res == -libc::ENOBUFS) {
                return Err(io_err(io::Error::from_raw_os_error(-res)));
            }
            if data & 1 == SEND {
                slot.sent += res as usize;
                side.sending = false;
            } else if let Some(br) = bufs.as_mut() {
                if res == 0 {
                    return Err(Error::Closed);
                }
                if let Some(bid) = cqueue::buffer_select(flags) {
                    let got = run.received(slot, br.filled(bid, res as usize));
                    br.recycle(bid);
                    got?;
                }
                if !cqueue::more(flags) {
                    arm(&mut ring, i, slot, side, o)?;
                }
            } else {
                run.received(slot, &side.buf[..res as usize])?;
                arm(&mut ring, i, slot, side, o)?;
            }
            flush(&mut ring, i, slot, side, o.fixed)?;
        }
        cqes.clear();
    }
    Ok(())
}
