//! How a [`ReadBuffer`](super::ReadBuffer) reads, by stream and driver.
//!
//! - A plain socket under epoll ([`OwnedRead::direct`]): the read is a
//!   `recv(2)` when readiness says bytes are there, polled in place (no
//!   operation kept between calls). With nothing buffered, it reads into
//!   this core's scratch buffer and keeps only the piece it received; a
//!   wait that finds nothing gives the buffer up. An idle connection holds
//!   no buffer.
//! - A plain socket under io_uring: with multishot receive on, the
//!   socket's multishot receive (`driver::op::MultiRecv`): bytes arrive
//!   in provided buffers and are copied out (into a piece of the scratch
//!   buffer when nothing is buffered), nothing is held while waiting.
//!   Otherwise, and for a read the multishot receive cannot serve (no
//!   provided buffer free), one receive in flight, kept between calls:
//!   into a provided buffer when nothing is buffered (when every provided
//!   buffer is taken, a buffer-less wait for readability and a `recv(2)`
//!   into the scratch buffer), else owning the connection's buffer.
//! - Any other stream (TLS): a reader task that runs the stream's `read`
//!   for as long as the buffer lives, fed buffers one at a time.

use std::cell::{Cell, RefCell};
use std::future::{poll_fn, Future};
use std::io;
use std::os::fd::RawFd;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{ready, Context, Poll};

use bytes::BytesMut;

use super::read_buffer::room_to_reserve;
use super::{DirectSocket, OwnedRead};
use crate::driver::epoll::{Direction, Registration};
use crate::driver::op::{recv_spare, Driven, Op, PollReadable, Recv, RecvSelect};
use crate::driver::Driver;
use crate::net::socket::Socket;
use crate::runtime::context;

/// Size of a core's scratch buffer (epoll's reads of idle connections).
const SCRATCH_SIZE: usize = 32 * 1024;
/// A scratch buffer with less room left than this is replaced (or
/// reclaimed, once no connection holds a piece of it).
const SCRATCH_MIN_ROOM: usize = 8 * 1024;

thread_local! {
    /// This core's scratch buffer: connections with nothing buffered read
    /// into its spare room and keep the piece they received.
    static SCRATCH: RefCell<BytesMut> = RefCell::new(BytesMut::new());
}

/// `recv(2)`, not waiting, into this core's scratch buffer: the bytes
/// received (a piece of it), their count, and whether the socket buffer
/// was emptied.
fn recv_scratch(fd: RawFd) -> io::Result<(BytesMut, u32, bool)> {
    SCRATCH.with(|scratch| {
        let mut scratch = scratch.borrow_mut();
        if scratch.capacity() < SCRATCH_MIN_ROOM {
            scratch.reserve(SCRATCH_SIZE);
        }
        let (n, drained) = recv_spare(fd, &mut scratch)?;
        Ok((scratch.split(), n, drained))
    })
}

/// Counts a provided-buffer receive that found every buffer taken.
fn count_exhausted() {
    context(|rt| {
        if let Driver::Uring(ring) = &mut *rt.driver.borrow_mut() {
            if let Some(b) = ring.buf_ring() {
                b.stats.exhausted += 1;
            }
        }
    });
}

/// Appends `bytes` received into a provided buffer to `buf`: into a piece
/// of this core's scratch buffer when nothing is buffered (`in_scratch`
/// set), so that a connection keeps only what it received.
fn append_received(buf: &mut BytesMut, in_scratch: &mut bool, bytes: &[u8]) {
    if !buf.is_empty() || buf.capacity() >= bytes.len() {
        buf.extend_from_slice(bytes);
        return;
    }
    let n = bytes.len();
    SCRATCH.with(|scratch| {
        let mut scratch = scratch.borrow_mut();
        if scratch.capacity() < n.max(SCRATCH_MIN_ROOM) {
            scratch.reserve(n.max(SCRATCH_SIZE));
        }
        scratch.extend_from_slice(bytes);
        *buf = scratch.split();
        *in_scratch = true;
    });
}

/// A finished read: its result and the buffer it filled.
type ReadDone = (io::Result<usize>, BytesMut);

/// Where the input hands buffers to its reader task and takes them back.
#[derive(Default)]
struct Handover {
    /// A buffer to read into, waiting for the reader.
    request: Cell<Option<BytesMut>>,
    /// The reader's last read, done.
    done: Cell<Option<ReadDone>>,
}

/// The reader task of a stream without a direct socket.
struct ReaderTask {
    future: Pin<Box<dyn Future<Output = ()>>>,
    handover: Rc<Handover>,
    /// A read is in flight, owning the buffer.
    reading: bool,
}

impl ReaderTask {
    /// Reads into each buffer handed over, one after another, for as long
    /// as the input lives: one allocation per connection, not per read.
    /// It is polled only with a buffer handed over or a read in flight.
    fn new<S: OwnedRead + 'static>(stream: Rc<S>) -> ReaderTask {
        let handover = Rc::new(Handover::default());
        let theirs = handover.clone();
        ReaderTask {
            future: Box::pin(async move {
                loop {
                    let buf = poll_fn(|_| match theirs.request.take() {
                        Some(buf) => Poll::Ready(buf),
                        None => Poll::Pending,
                    })
                    .await;
                    let done = stream.read(buf).await;
                    theirs.done.set(Some(done));
                }
            }),
            handover,
            reading: false,
        }
    }
}

/// A receive in flight on io_uring.
enum RingRead {
    /// Into the connection's own buffer, which it owns meanwhile.
    Own(Op<Recv<BytesMut>>),
    /// Into a provided buffer the kernel picks when bytes arrive: nothing
    /// is held while it waits.
    Provided(Op<RecvSelect>),
    /// A wait for bytes without a buffer, after a provided-buffer receive
    /// found every buffer taken.
    Readable(Op<PollReadable>),
}

/// The bytes, the read that fills them and the growth policy of a
/// [`ReadBuffer`](super::ReadBuffer).
pub(super) struct Input {
    /// Received bytes not yet consumed; empty while a read owns them.
    pub(super) buf: BytesMut,
    /// `buf` is a piece of a scratch buffer: kept only while it holds
    /// bytes, and copied out before a wait.
    in_scratch: bool,
    /// Growth step.
    pub(super) chunk: usize,
    /// Most room reserved ahead for an expected large piece of input.
    pub(super) max_ahead: usize,
    /// Bytes the next read should have room for (0: no particular need).
    pub(super) expected: usize,
    /// A receive in flight on io_uring.
    ring: Option<RingRead>,
    /// The reader of a stream without a direct socket; made by its first read.
    task: Option<Box<ReaderTask>>,
}

impl Input {
    pub(super) fn new(buf: BytesMut, chunk: usize) -> Input {
        Input {
            // Bytes handed over may be a piece of a scratch buffer.
            in_scratch: !buf.is_empty(),
            buf,
            chunk,
            max_ahead: chunk,
            expected: 0,
            ring: None,
            task: None,
        }
    }

    pub(super) fn is_reading(&self) -> bool {
        self.ring.is_some() || self.task.as_ref().is_some_and(|t| t.reading)
    }

    /// The buffered bytes; a read in flight is cancelled (what it would
    /// have read is lost).
    pub(super) fn take_buffer(&mut self) -> BytesMut {
        self.ring = None;
        if self.task.as_ref().is_some_and(|t| t.reading) {
            self.task = None;
        }
        // The taker reads on into it: it gets a buffer of its own, with
        // room (not a piece of the scratch buffer, which has none).
        let spare = self.buf.capacity() - self.buf.len();
        if self.in_scratch || spare < self.chunk / 4 {
            let mut own = BytesMut::with_capacity(self.buf.len() + self.chunk);
            own.extend_from_slice(&self.buf);
            self.buf = own;
        }
        self.in_scratch = false;
        std::mem::take(&mut self.buf)
    }

    /// Room to add before a read into `buf`, by the growth policy.
    fn room(&self) -> Option<usize> {
        let spare = self.buf.capacity() - self.buf.len();
        room_to_reserve(spare, self.expected, self.chunk, self.max_ahead)
    }

    /// Resumes the read in flight or starts one: `Ready` with the bytes
    /// appended (0: end of stream) or the error.
    pub(super) fn poll_read<S: OwnedRead + 'static>(
        &mut self,
        stream: &Rc<S>,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<usize>> {
        match stream.direct() {
            Some(DirectSocket(socket)) => match socket.driven() {
                Driven::Readiness(reg) => self.poll_ready(socket.raw(), reg, cx),
                _ => self.poll_ring(socket, cx),
            },
            None => self.poll_task(stream, cx),
        }
    }

    /// epoll: `recv(2)` while readiness says bytes are there.
    fn poll_ready(
        &mut self,
        fd: RawFd,
        reg: &Registration,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<usize>> {
        let polled = if self.buf.is_empty() && self.expected == 0 {
            let (buf, in_scratch) = (&mut self.buf, &mut self.in_scratch);
            reg.poll_io(Direction::Read, cx, || {
                let (piece, n, drained) = recv_scratch(fd)?;
                *buf = piece;
                *in_scratch = true;
                Ok((n as usize, drained))
            })
        } else {
            // Room is made only once readiness says bytes are there: a
            // connection waiting with a partial message keeps just its bytes.
            let room = self.room();
            let (buf, in_scratch) = (&mut self.buf, &mut self.in_scratch);
            reg.poll_io(Direction::Read, cx, || {
                if let Some(room) = room {
                    if buf.capacity() - buf.len() < room {
                        buf.reserve(room);
                        *in_scratch = false;
                    }
                }
                recv_spare(fd, buf).map(|(n, drained)| (n as usize, drained))
            })
        };
        if polled.is_pending() {
            self.release();
        }
        polled
    }

    /// Before a wait under epoll: an empty buffer is given up, and bytes
    /// in a piece of the scratch buffer get their own allocation of their
    /// size (so an idle connection never keeps a scratch buffer alive).
    fn release(&mut self) {
        if self.buf.is_empty() {
            if self.in_scratch || self.buf.capacity() != 0 {
                self.buf = BytesMut::new();
            }
        } else if self.in_scratch {
            self.buf = BytesMut::from(&self.buf[..]);
        }
        self.in_scratch = false;
    }

    /// io_uring: one receive in flight. With nothing buffered (and the
    /// ring's provided buffers available) it takes a provided buffer only
    /// when bytes arrive; otherwise it owns the connection's buffer.
    fn poll_ring(&mut self, socket: &Socket, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        if self.ring.is_none() {
            // Room by the growth policy when input is expected or partly
            // buffered (a large body grows at once, not by each piece).
            let room = match self.buf.is_empty() && self.expected == 0 {
                true => None,
                false => self.room(),
            };
            let (buf, in_scratch) = (&mut self.buf, &mut self.in_scratch);
            let polled = socket
                .multi_recv()
                .poll_next(socket.fd(), true, cx, &mut |bytes| {
                    if let Some(room) = room {
                        if buf.capacity() - buf.len() < room.max(bytes.len()) {
                            buf.reserve(room.max(bytes.len()));
                            *in_scratch = false;
                        }
                    }
                    append_received(buf, in_scratch, bytes);
                    bytes.len()
                });
            match polled {
                Poll::Pending => {
                    // Waiting holds no buffer (and no piece of the scratch one).
                    self.release();
                    return Poll::Pending;
                }
                Poll::Ready(Some(result)) => return Poll::Ready(result),
                // This read is a receive of its own.
                Poll::Ready(None) => {}
            }
        }
        loop {
            if self.ring.is_none() {
                self.start_ring(socket)?;
            }
            match self.ring.as_mut().expect("a receive in flight") {
                RingRead::Own(op) => {
                    let (res, op) = ready!(Pin::new(op).poll(cx));
                    self.ring = None;
                    self.buf = op.into_buf(&res);
                    return Poll::Ready(res.map(|n| n as usize));
                }
                RingRead::Provided(op) => {
                    let (res, flags) = ready!(op.poll_raw(cx));
                    self.ring = None;
                    if res == -libc::ENOBUFS {
                        // Every provided buffer is taken. The kernel
                        // picks one when the receive is issued, bytes or
                        // not, so this says nothing about bytes: wait for
                        // them holding no buffer (a receive into a buffer
                        // of the connection's own would keep it for as
                        // long as the connection idles).
                        count_exhausted();
                        self.start_readable(socket)?;
                        continue;
                    }
                    if res < 0 {
                        return Poll::Ready(Err(io::Error::from_raw_os_error(-res)));
                    }
                    self.take_provided(res as usize, flags);
                    return Poll::Ready(Ok(res as usize));
                }
                RingRead::Readable(op) => {
                    let (res, _) = ready!(op.poll_raw(cx));
                    self.ring = None;
                    if res < 0 {
                        return Poll::Ready(Err(io::Error::from_raw_os_error(-res)));
                    }
                    // Bytes (or the end) are there: take them at once into
                    // the scratch buffer, as epoll does.
                    match recv_scratch(socket.raw()) {
                        Ok((piece, n, _)) => {
                            self.buf = piece;
                            self.in_scratch = true;
                            return Poll::Ready(Ok(n as usize));
                        }
                        Err(e)
                            if matches!(
                                e.kind(),
                                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                            ) => {}
                        Err(e) => return Poll::Ready(Err(e)),
                    }
                }
            }
        }
    }

    /// Submits the next receive: into a provided buffer when nothing is
    /// buffered or expected and the ring has them, else into `buf`.
    fn start_ring(&mut self, socket: &Socket) -> io::Result<()> {
        let provided = self.buf.is_empty()
            && self.expected == 0
            && context(|rt| match &mut *rt.driver.borrow_mut() {
                Driver::Uring(ring) => ring.buf_ring().is_some(),
                Driver::Epoll(_) => false,
            });
        if !provided {
            return self.start_own(socket);
        }
        // Waiting with nothing buffered: hold no memory (an empty piece of
        // the scratch buffer would keep it alive).
        self.buf = BytesMut::new();
        self.in_scratch = false;
        match Op::submit(RecvSelect::new(socket.fd().clone())) {
            Ok(op) => {
                self.ring = Some(RingRead::Provided(op));
                Ok(())
            }
            Err((res, _)) => Err(res
                .err()
                .unwrap_or_else(|| io::Error::other("not submitted"))),
        }
    }

    /// Submits a wait for bytes that holds no buffer.
    fn start_readable(&mut self, socket: &Socket) -> io::Result<()> {
        match Op::submit(PollReadable::new(socket.fd().clone())) {
            Ok(op) => {
                self.ring = Some(RingRead::Readable(op));
                Ok(())
            }
            Err((res, _)) => Err(res
                .err()
                .unwrap_or_else(|| io::Error::other("not submitted"))),
        }
    }

    /// Submits a receive into the connection's own buffer.
    fn start_own(&mut self, socket: &Socket) -> io::Result<()> {
        if let Some(room) = self.room() {
            self.buf.reserve(room);
        }
        self.in_scratch = false;
        let buf = std::mem::take(&mut self.buf);
        match Op::submit(Recv::new(socket.fd().clone(), buf)) {
            Ok(op) => {
                self.ring = Some(RingRead::Own(op));
                Ok(())
            }
            Err((res, op)) => {
                self.buf = op.buf;
                Err(res
                    .err()
                    .unwrap_or_else(|| io::Error::other("not submitted")))
            }
        }
    }

    /// Copies the `n` bytes of the provided buffer a completion with
    /// `flags` names into the input and gives the buffer back to the kernel.
    fn take_provided(&mut self, n: usize, flags: u32) {
        let Some(bid) = io_uring::cqueue::buffer_select(flags) else {
            return;
        };
        context(|rt| {
            if let Driver::Uring(ring) = &mut *rt.driver.borrow_mut() {
                if let Some(buf_ring) = ring.buf_ring() {
                    append_received(&mut self.buf, &mut self.in_scratch, buf_ring.filled(bid, n));
                    buf_ring.recycle(bid);
                }
            }
        });
    }

    /// Any other stream: the reader task reads into the buffer handed over.
    fn poll_task<S: OwnedRead + 'static>(
        &mut self,
        stream: &Rc<S>,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<usize>> {
        let room = self.room();
        let task = self
            .task
            .get_or_insert_with(|| Box::new(ReaderTask::new(stream.clone())));
        if !task.reading {
            let mut buf = std::mem::take(&mut self.buf);
            if let Some(room) = room {
                buf.reserve(room);
            }
            self.in_scratch = false;
            task.handover.request.set(Some(buf));
            task.reading = true;
        }
        // The reader never finishes: it waits for the next buffer.
        let _ = task.future.as_mut().poll(cx);
        match task.handover.done.take() {
            Some((res, buf)) => {
                task.reading = false;
                self.buf = buf;
                Poll::Ready(res)
            }
            None => Poll::Pending,
        }
    }
}
