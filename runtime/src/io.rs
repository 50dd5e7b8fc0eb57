//! Stream traits for owned-buffer I/O and a buffered layer with the familiar
//! borrowed-slice form.
//!
//! ```
//! use percore_runtime::{Runtime, spawn_local, io::BufStream, net::UnixStream};
//! Runtime::new().unwrap().block_on(async {
//!     let (a, b) = UnixStream::pair().unwrap();
//!     spawn_local(async move {
//!         let mut a = BufStream::new(a);
//!         a.write_all(b"first line\nsecond").await.unwrap();
//!         a.flush().await.unwrap();
//!     });
//!     let mut b = BufStream::new(b);
//!     let mut line = String::new();
//!     b.read_line(&mut line).await.unwrap();
//!     assert_eq!(line, "first line\n");
//!     let mut rest = [0u8; 6];
//!     b.read_exact(&mut rest).await.unwrap();
//!     assert_eq!(&rest, b"second");
//! });
//! ```

use std::future::Future;
use std::io;
use std::time::Duration;

use bytes::{Buf, Bytes};

use crate::buf::{IoBuf, IoBufMut, Slice};
use crate::time::{timeout_from_wait, Elapsed};

mod input;
mod read_buffer;
pub use read_buffer::ReadBuffer;

/// A stream that reads into owned buffers.
pub trait OwnedRead {
    /// Reads into `buf`'s read target; `Ok(0)` is end of stream.
    fn read<B: IoBufMut>(&self, buf: B) -> impl Future<Output = (io::Result<usize>, B)>;

    /// The socket underneath, when its bytes arrive unchanged (plain TCP
    /// and Unix streams; `None` for a stream that transforms them, such as
    /// TLS). [`ReadBuffer`] then reads the socket itself: without a task of
    /// its own, and on epoll into a per-core scratch buffer, so that an
    /// idle connection holds no buffer.
    ///
    /// ```
    /// use percore_runtime::{Runtime, io::OwnedRead, net::UnixStream};
    /// Runtime::new().unwrap().block_on(async {
    ///     let (a, _b) = UnixStream::pair().unwrap();
    ///     assert!(a.direct().is_some());
    /// });
    /// ```
    fn direct(&self) -> Option<DirectSocket<'_>> {
        None
    }
}

/// A stream's socket, for [`ReadBuffer`]'s direct reads (see
/// [`OwnedRead::direct`]). Only the runtime can make one.
///
/// ```
/// use percore_runtime::{Runtime, io::OwnedRead, net::UnixStream};
/// Runtime::new().unwrap().block_on(async {
///     let (a, _b) = UnixStream::pair().unwrap();
///     let direct = a.direct().unwrap();
///     assert!(format!("{direct:?}").contains("DirectSocket"));
/// });
/// ```
#[derive(Debug, Clone, Copy)]
pub struct DirectSocket<'a>(pub(crate) &'a crate::net::socket::Socket);

/// A stream that writes owned buffers.
pub trait OwnedWrite {
    /// Writes some of `buf`; returns how many bytes.
    fn write<B: IoBuf>(&self, buf: B) -> impl Future<Output = (io::Result<usize>, B)>;

    /// Writes some of the bytes of `bufs`, in order, in one call.
    fn writev<B: IoBuf>(&self, bufs: Vec<B>) -> impl Future<Output = (io::Result<usize>, Vec<B>)>;

    /// Writes some of `buf` at once, with no future and no waker, when the
    /// stream knows the write will not wait (epoll, a socket known to be
    /// writable); `None` when it must go through [`write`](Self::write)
    /// (the default: io_uring, TLS, a socket whose buffer was full).
    /// [`write_all`] and [`write_all_timeout`] try it first (the vectored
    /// helpers do not yet).
    #[inline]
    fn try_write<B: IoBuf>(&self, buf: &B) -> Option<io::Result<usize>> {
        let _ = buf;
        None
    }
}

/// Writes every byte of `buf` to `stream`.
pub async fn write_all<S: OwnedWrite + ?Sized, B: IoBuf>(
    stream: &S,
    buf: B,
) -> (io::Result<()>, B) {
    let (res, back) = write_all_within(stream, buf, None).await;
    (res, back.expect("no timeout takes the buffer"))
}

/// [`write_all`] for a peer that may stop reading: fails with
/// [`io::ErrorKind::TimedOut`] when the peer accepts no byte for `stall`
/// (each write that makes progress starts the wait anew). The buffer comes
/// back unless a timeout cancelled the write that owned it.
///
/// ```
/// use std::time::Duration;
/// use percore_runtime::{Runtime, io::write_all_timeout, net::UnixStream};
/// Runtime::new().unwrap().block_on(async {
///     let (a, b) = UnixStream::pair().unwrap();
///     let (res, back) = write_all_timeout(&a, b"ping".to_vec(), Duration::from_secs(1)).await;
///     res.unwrap();
///     assert_eq!(back.unwrap(), b"ping");
///     // `b` never reads: 64 MiB cannot all fit in the socket buffers.
///     let (res, back) = write_all_timeout(&a, vec![0u8; 64 << 20], Duration::from_millis(50)).await;
///     assert_eq!(res.unwrap_err().kind(), std::io::ErrorKind::TimedOut);
///     assert!(back.is_none());
///     drop(b);
/// });
/// ```
pub async fn write_all_timeout<S: OwnedWrite + ?Sized, B: IoBuf>(
    stream: &S,
    buf: B,
    stall: Duration,
) -> (io::Result<()>, Option<B>) {
    write_all_within(stream, buf, Some(stall)).await
}

/// Sends what `stream` takes of `buf` at once, with no future
/// ([`OwnedWrite::try_write`]): how many bytes went, `0` when nothing
/// could be sent now (the write must wait, io_uring, TLS, an interrupted
/// call). A send that took no byte of a non-empty buffer is
/// [`io::ErrorKind::WriteZero`], as in [`write_all`]. The one in-place
/// step of every whole-buffer write: [`write_all`] and
/// [`write_all_timeout`] take it first, and so does a caller that would
/// rather not make their future when the bytes go at once.
///
/// ```
/// use percore_runtime::{io::write_now, net::UnixStream, Builder, DriverChoice};
/// let rt = Builder::new().driver(DriverChoice::Epoll).build().unwrap();
/// rt.block_on(async {
///     let (a, _b) = UnixStream::pair().unwrap();
///     // An idle socket on epoll takes a small buffer whole.
///     assert_eq!(write_now(&a, &b"ping".to_vec()).unwrap(), 4);
/// });
/// ```
#[inline(always)]
pub fn write_now<S: OwnedWrite + ?Sized, B: IoBuf>(stream: &S, buf: &B) -> io::Result<usize> {
    match stream.try_write(buf) {
        Some(Ok(n)) if n > 0 => Ok(n),
        Some(Ok(_)) if !buf.as_bytes().is_empty() => Err(io::ErrorKind::WriteZero.into()),
        Some(Ok(_)) => Ok(0),
        Some(Err(e)) if e.kind() != io::ErrorKind::Interrupted => Err(e),
        Some(Err(_)) | None => Ok(0),
    }
}

async fn write_all_within<S: OwnedWrite + ?Sized, B: IoBuf>(
    stream: &S,
    buf: B,
    stall: Option<Duration>,
) -> (io::Result<()>, Option<B>) {
    let total = buf.as_bytes().len();
    // An idle socket on epoll takes the bytes at once: one `send(2)`, with
    // no write future, timer or waker (the common case of an answer).
    let mut written = match write_now(stream, &buf) {
        Ok(n) if n == total => return (Ok(()), Some(buf)),
        Ok(n) => n,
        Err(e) => return (Err(e), Some(buf)),
    };
    let mut slice = Slice::new(buf, written);
    while written < total {
        let (res, s) = match stall {
            None => stream.write(slice).await,
            Some(stall) => match timeout_from_wait(stall, stream.write(slice)).await {
                Ok(done) => done,
                Err(Elapsed) => return (Err(io::ErrorKind::TimedOut.into()), None),
            },
        };
        match res {
            Ok(0) => return (Err(io::ErrorKind::WriteZero.into()), Some(s.into_inner())),
            Ok(n) => {
                written += n;
                slice = Slice::new(s.into_inner(), written);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => slice = s,
            Err(e) => return (Err(e), Some(s.into_inner())),
        }
    }
    (Ok(()), Some(slice.into_inner()))
}

/// Writes every byte of `chunks`, in order, with vectored writes (one
/// syscall per call when the kernel takes it all); returns the emptied
/// vector so its allocation can be reused.
///
/// ```
/// use bytes::Bytes;
/// use percore_runtime::{Runtime, io::write_all_vectored, net::UnixStream};
/// Runtime::new().unwrap().block_on(async {
///     let (a, b) = UnixStream::pair().unwrap();
///     let chunks = vec![Bytes::from_static(b"head "), Bytes::from_static(b"body")];
///     let (res, left) = write_all_vectored(&a, chunks).await;
///     res.unwrap();
///     assert!(left.is_empty());
///     let (n, buf) = b.read(Vec::with_capacity(16)).await;
///     assert_eq!(&buf[..n.unwrap()], b"head body");
/// });
/// ```
pub async fn write_all_vectored<S: OwnedWrite + ?Sized>(
    stream: &S,
    chunks: Vec<Bytes>,
) -> (io::Result<()>, Vec<Bytes>) {
    write_all_vectored_within(stream, chunks, None).await
}

/// [`write_all_vectored`] for a peer that may stop reading: fails with
/// [`io::ErrorKind::TimedOut`] when the peer accepts no byte for `stall`.
/// Each write that makes progress starts the wait anew; the kernel wakes a
/// blocked writer only once a good part of the send buffer is free, so
/// `stall` must exceed the time a slow peer takes to read that much. On a
/// timeout the unwritten chunks are gone with the cancelled write, and the
/// stream's output is incomplete: close it.
///
/// ```
/// use std::time::Duration;
/// use bytes::Bytes;
/// use percore_runtime::{Runtime, io::write_all_vectored_timeout, net::UnixStream};
/// Runtime::new().unwrap().block_on(async {
///     let (a, _b) = UnixStream::pair().unwrap();
///     // `_b` never reads: 64 MiB cannot all fit in the socket buffers.
///     let chunks = vec![Bytes::from(vec![0u8; 64 << 20])];
///     let (res, _) = write_all_vectored_timeout(&a, chunks, Duration::from_millis(50)).await;
///     assert_eq!(res.unwrap_err().kind(), std::io::ErrorKind::TimedOut);
/// });
/// ```
pub async fn write_all_vectored_timeout<S: OwnedWrite + ?Sized>(
    stream: &S,
    chunks: Vec<Bytes>,
    stall: Duration,
) -> (io::Result<()>, Vec<Bytes>) {
    write_all_vectored_within(stream, chunks, Some(stall)).await
}

async fn write_all_vectored_within<S: OwnedWrite + ?Sized>(
    stream: &S,
    mut chunks: Vec<Bytes>,
    stall: Option<Duration>,
) -> (io::Result<()>, Vec<Bytes>) {
    chunks.retain(|c| !c.is_empty());
    while !chunks.is_empty() {
        let write = async {
            if chunks.len() == 1 {
                let only = chunks.pop().unwrap_or_default();
                let (res, b) = stream.write(only).await;
                chunks.push(b);
                (res, chunks)
            } else {
                stream.writev(chunks).await
            }
        };
        let (res, back) = match stall {
            None => write.await,
            Some(stall) => match timeout_from_wait(stall, write).await {
                Ok(done) => done,
                Err(Elapsed) => return (Err(io::ErrorKind::TimedOut.into()), Vec::new()),
            },
        };
        chunks = back;
        let mut n = match res {
            Ok(0) => return (Err(io::ErrorKind::WriteZero.into()), chunks),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return (Err(e), chunks),
        };
        // Drop what was written, keep the rest in order.
        let mut done = 0;
        for c in chunks.iter_mut() {
            if n == 0 {
                break;
            }
            let take = n.min(c.len());
            c.advance(take);
            n -= take;
            if c.is_empty() {
                done += 1;
            }
        }
        chunks.drain(..done);
    }
    (Ok(()), chunks)
}

/// Buffers reads and writes over an owned-buffer stream, for code that
/// prefers `read_exact(&mut [u8])`, `read_line` and `write_all(&[u8])`.
pub struct BufStream<S> {
    inner: S,
    rbuf: Vec<u8>,
    rpos: usize,
    wbuf: Vec<u8>,
    capacity: usize,
}

impl<S> std::fmt::Debug for BufStream<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BufStream")
            .field("buffered_read", &(self.rbuf.len() - self.rpos))
            .field("buffered_write", &self.wbuf.len())
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

impl<S: OwnedRead + OwnedWrite> BufStream<S> {
    /// Wraps `inner` with 8 KiB buffers.
    pub fn new(inner: S) -> BufStream<S> {
        BufStream::with_capacity(8 * 1024, inner)
    }

    /// Wraps `inner` with buffers of `capacity` bytes.
    pub fn with_capacity(capacity: usize, inner: S) -> BufStream<S> {
        let capacity = capacity.max(64);
        BufStream {
            inner,
            rbuf: Vec::with_capacity(capacity),
            rpos: 0,
            wbuf: Vec::with_capacity(capacity),
            capacity,
        }
    }

    /// The wrapped stream.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// Unwraps the stream; buffered data is lost (flush first).
    pub fn into_inner(self) -> S {
        self.inner
    }

    /// Reads more bytes into the read buffer; returns how many (0 at EOF).
    async fn fill(&mut self) -> io::Result<usize> {
        if self.rpos == self.rbuf.len() {
            self.rbuf.clear();
            self.rpos = 0;
        } else if self.rpos > 0 {
            self.rbuf.drain(..self.rpos);
            self.rpos = 0;
        }
        if self.rbuf.capacity() - self.rbuf.len() < self.capacity / 2 {
            self.rbuf.reserve(self.capacity);
        }
        let buf = std::mem::take(&mut self.rbuf);
        let (res, buf) = self.inner.read(buf).await;
        self.rbuf = buf;
        res
    }

    fn buffered(&self) -> &[u8] {
        &self.rbuf[self.rpos..]
    }

    /// Reads exactly `out.len()` bytes; `UnexpectedEof` if the stream ends first.
    pub async fn read_exact(&mut self, out: &mut [u8]) -> io::Result<()> {
        let mut filled = 0;
        while filled < out.len() {
            if self.buffered().is_empty() && self.fill().await? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            let n = self.buffered().len().min(out.len() - filled);
            out[filled..filled + n].copy_from_slice(&self.rbuf[self.rpos..self.rpos + n]);
            self.rpos += n;
            filled += n;
        }
        Ok(())
    }

    /// Reads into `out` until `delim` (included) or EOF; returns the count.
    pub async fn read_until(&mut self, delim: u8, out: &mut Vec<u8>) -> io::Result<usize> {
        let mut total = 0;
        loop {
            if self.buffered().is_empty() && self.fill().await? == 0 {
                return Ok(total);
            }
            let avail = self.buffered();
            match avail.iter().position(|&b| b == delim) {
                Some(i) => {
                    out.extend_from_slice(&avail[..=i]);
                    self.rpos += i + 1;
                    return Ok(total + i + 1);
                }
                None => {
                    let n = avail.len();
                    out.extend_from_slice(avail);
                    self.rpos += n;
                    total += n;
                }
            }
        }
    }

    /// Reads a line (up to and including `\n`) and appends it to `line`.
    /// Returns 0 at EOF; `InvalidData` if the line is not UTF-8.
    pub async fn read_line(&mut self, line: &mut String) -> io::Result<usize> {
        let mut bytes = Vec::new();
        let n = self.read_until(b'\n', &mut bytes).await?;
        let text =
            String::from_utf8(bytes).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        line.push_str(&text);
        Ok(n)
    }

    /// Reads whatever is available into `out`; 0 at EOF.
    pub async fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.buffered().is_empty() && self.fill().await? == 0 {
            return Ok(0);
        }
        let n = self.buffered().len().min(out.len());
        out[..n].copy_from_slice(&self.rbuf[self.rpos..self.rpos + n]);
        self.rpos += n;
        Ok(n)
    }

    /// Buffers `data`, writing the buffer out whenever it fills.
    pub async fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
        if self.wbuf.len() + data.len() > self.capacity {
            self.flush().await?;
        }
        if data.len() >= self.capacity {
            let (res, _) = write_all(&self.inner, data.to_vec()).await;
            return res;
        }
        self.wbuf.extend_from_slice(data);
        Ok(())
    }

    /// Writes out everything buffered.
    pub async fn flush(&mut self) -> io::Result<()> {
        if self.wbuf.is_empty() {
            return Ok(());
        }
        let buf = std::mem::take(&mut self.wbuf);
        let (res, mut buf) = write_all(&self.inner, buf).await;
        buf.clear();
        self.wbuf = buf;
        res
    }
}
