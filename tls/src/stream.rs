//! [`TlsStream`]: rustls's sans-IO connection driven over an owned-buffer
//! stream.
//!
//! All progress lives in the stream, not in the futures of its methods: the
//! socket read in flight (with its buffer), the ciphertext being written,
//! the ciphertext read but not yet handed to rustls. A dropped `read` future
//! therefore loses no byte and desyncs nothing; the next call picks the same
//! socket read up. A dropped `write` future may have had its plaintext
//! encrypted already: that ciphertext is still written by the next call, in
//! order (as with a cancelled socket write, the caller cannot know how much
//! of the dropped write went out).

use std::cell::{Cell, RefCell};
use std::future::{poll_fn, Future};
use std::io::{self, BufRead, Write};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{ready, Context, Poll};

use bytes::{Buf, BytesMut};
use percore_runtime::buf::{IoBuf, IoBufMut};
use percore_runtime::io::{write_all, OwnedRead, OwnedWrite, ReadBuffer};
use percore_runtime::net::TcpStream;
use rustls::pki_types::CertificateDer;
use rustls::{Connection, ProtocolVersion};

use crate::waker::SharedWaker;

/// Ciphertext read per socket read (a full TLS record is 16 KiB + 256).
const READ_CHUNK: usize = 17 * 1024;
/// Most plaintext one `writev` gathers into one encryption pass.
const GATHER_MAX: usize = 64 * 1024;

/// A finished ciphertext write: its result and the emptied buffer.
type WriteDone = (io::Result<()>, Vec<u8>);

/// Where the engine hands ciphertext to its writer and takes the buffer
/// back.
#[derive(Default)]
struct WriteHandover {
    request: Cell<Option<Vec<u8>>>,
    done: Cell<Option<WriteDone>>,
}

/// Writes every buffer handed over, one after another, for as long as the
/// stream lives: one allocation per connection, not one per write (the
/// write side's counterpart of [`ReadBuffer`]'s reader).
fn writer<S: OwnedWrite + 'static>(
    io: Rc<S>,
    handover: Rc<WriteHandover>,
) -> Pin<Box<dyn Future<Output = ()>>> {
    Box::pin(async move {
        loop {
            let records = poll_fn(|_| match handover.request.take() {
                Some(records) => Poll::Ready(records),
                None => Poll::Pending,
            })
            .await;
            let done = write_all(io.as_ref(), records).await;
            handover.done.set(Some(done));
        }
    })
}

/// A sticky error: every later call fails the same way (a TLS protocol
/// error stays a `rustls::Error` inside the `io::Error`, so callers can
/// still tell it apart, e.g. an alert from the peer).
#[derive(Clone)]
struct StickyError {
    kind: io::ErrorKind,
    message: String,
    tls: Option<rustls::Error>,
}

impl StickyError {
    fn from_io(e: &io::Error) -> StickyError {
        StickyError {
            kind: e.kind(),
            message: e.to_string(),
            tls: e
                .get_ref()
                .and_then(|inner| inner.downcast_ref::<rustls::Error>())
                .cloned(),
        }
    }

    fn to_io(&self) -> io::Error {
        match &self.tls {
            Some(tls) => io::Error::new(self.kind, tls.clone()),
            None => io::Error::new(self.kind, self.message.clone()),
        }
    }
}

/// Maps a rustls error to the `io::Error` a stream caller sees.
pub(crate) fn tls_error(e: rustls::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

/// The connection state and every operation in flight.
struct Engine<S> {
    conn: Connection,
    /// Ciphertext read from the socket and not yet in rustls, and the
    /// socket read in flight (which owns the buffer meanwhile); reads
    /// reuse one buffer and one future for the whole connection.
    input: ReadBuffer<S>,
    read_waiters: SharedWaker,
    /// The socket reached end of stream (and rustls was told).
    eof: bool,
    read_error: Option<StickyError>,
    /// Runs the ciphertext writes; created by the first one.
    writer: Option<Pin<Box<dyn Future<Output = ()>>>>,
    write_handover: Rc<WriteHandover>,
    /// A ciphertext write is in flight (the writer owns its buffer).
    writing: bool,
    write_waiters: SharedWaker,
    /// An emptied ciphertext buffer, reused by the next write.
    spare_tx: Vec<u8>,
    /// Plaintext gathered from several buffers for one encryption pass.
    gather: Vec<u8>,
    write_error: Option<StickyError>,
}

/// A TLS connection over an owned-buffer stream `S` (a [`TcpStream`] by
/// default), client or server side, made by
/// [`TlsAcceptor::accept`](crate::TlsAcceptor::accept) or
/// [`TlsConnector::connect`](crate::TlsConnector::connect).
///
/// It implements [`OwnedRead`] and [`OwnedWrite`] like the socket itself:
/// `read` decrypts into the caller's buffer (appending to a `Vec`'s spare
/// capacity), `write`/`writev` encrypt and return once the records are
/// written, all records of one call in one socket write. Reads and writes
/// may run at the same time from different tasks of the same core, and
/// dropping either future midway is safe (see the module docs).
///
/// See the [crate docs](crate) for an example.
pub struct TlsStream<S = TcpStream> {
    io: Rc<S>,
    engine: RefCell<Engine<S>>,
}

impl<S: OwnedRead + OwnedWrite + 'static> TlsStream<S> {
    /// Wraps `io` with a connection whose handshake has not started yet.
    pub(crate) fn new(io: S, conn: Connection) -> TlsStream<S> {
        let io = Rc::new(io);
        TlsStream {
            engine: RefCell::new(Engine {
                conn,
                input: ReadBuffer::new(io.clone(), BytesMut::new(), READ_CHUNK),
                read_waiters: SharedWaker::new(),
                eof: false,
                read_error: None,
                writer: None,
                write_handover: Rc::default(),
                writing: false,
                write_waiters: SharedWaker::new(),
                spare_tx: Vec::new(),
                gather: Vec::new(),
                write_error: None,
            }),
            io,
        }
    }

    /// Runs the handshake to its end; on a protocol error the alert rustls
    /// queued is sent before the error returns. The caller bounds the time.
    pub(crate) async fn handshake(&self) -> io::Result<()> {
        let result = poll_fn(|cx| self.poll_handshake(cx)).await;
        if result.is_err() {
            // Best effort: tell the peer why (an alert is a few bytes that
            // an empty send buffer takes at once).
            let _ = poll_fn(|cx| self.poll_flush(cx)).await;
        }
        result
    }

    fn poll_handshake(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            // Done: records queued by the last step (TLS 1.3 session
            // tickets, a client's Finished) go out with the first write,
            // in the same socket write as its data, or when a reader finds
            // nothing to read (one syscall less per connection).
            if !self.engine.borrow().conn.is_handshaking() {
                return Poll::Ready(Ok(()));
            }
            ready!(self.poll_flush(cx))?;
            let mut engine = self.engine.borrow_mut();
            if !engine.conn.is_handshaking() {
                return Poll::Ready(Ok(()));
            }
            if engine.eof {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "peer closed the connection during the TLS handshake",
                )));
            }
            ready!(self.poll_ingest(&mut engine, cx))?;
        }
    }

    /// Sends close_notify and writes out everything pending. The peer reads
    /// a clean end of stream (`Ok(0)`); the socket stays open for reading
    /// until the stream is dropped.
    pub async fn shutdown(&self) -> io::Result<()> {
        self.engine.borrow_mut().conn.send_close_notify();
        poll_fn(|cx| self.poll_flush(cx)).await
    }

    /// Writes out every record rustls has queued (protocol answers,
    /// ciphertext of a dropped write).
    pub async fn flush(&self) -> io::Result<()> {
        poll_fn(|cx| self.poll_flush(cx)).await
    }

    /// TLS 1.3: sends fresh traffic keys (a KeyUpdate that asks the peer
    /// for its own); for connections that carry very much data or live
    /// very long. An error on TLS 1.2.
    pub async fn refresh_traffic_keys(&self) -> io::Result<()> {
        self.engine
            .borrow_mut()
            .conn
            .refresh_traffic_keys()
            .map_err(tls_error)?;
        poll_fn(|cx| self.poll_flush(cx)).await
    }

    /// The application protocol ALPN chose (`b"h2"`, `b"http/1.1"`), if any.
    pub fn negotiated_alpn(&self) -> Option<Vec<u8>> {
        self.engine
            .borrow()
            .conn
            .alpn_protocol()
            .map(<[u8]>::to_vec)
    }

    /// The TLS version in use (1.2 or 1.3).
    pub fn protocol_version(&self) -> Option<ProtocolVersion> {
        self.engine.borrow().conn.protocol_version()
    }

    /// The peer's certificate chain, end entity first: the server's on a
    /// client, the client's on a server that asked for one (mTLS).
    pub fn peer_certificates(&self) -> Option<Vec<CertificateDer<'static>>> {
        let engine = self.engine.borrow();
        let chain = engine.conn.peer_certificates()?;
        Some(chain.iter().map(|c| c.clone().into_owned()).collect())
    }

    /// On a server: the host name the client asked for (SNI).
    pub fn sni_hostname(&self) -> Option<String> {
        match &self.engine.borrow().conn {
            Connection::Server(server) => server.server_name().map(str::to_owned),
            Connection::Client(_) => None,
        }
    }

    /// On a client: whether this connection resumed an earlier session.
    /// On a server: whether the client resumed one.
    pub fn is_resumed(&self) -> bool {
        use rustls::HandshakeKind;
        let engine = self.engine.borrow();
        matches!(engine.conn.handshake_kind(), Some(HandshakeKind::Resumed))
    }

    /// The wrapped stream (for its addresses or a TCP half-close).
    pub fn get_ref(&self) -> &S {
        &self.io
    }

    /// Reads and decrypts into `buf`'s read target; `Ok(0)` once the peer
    /// sent close_notify, `UnexpectedEof` if the socket ended without one.
    pub async fn read<B: IoBufMut>(&self, mut buf: B) -> (io::Result<usize>, B) {
        let res = poll_fn(|cx| self.poll_read(cx, &mut buf)).await;
        (res, buf)
    }

    /// Encrypts some of `buf` and writes it; returns how many plaintext bytes.
    pub async fn write<B: IoBuf>(&self, buf: B) -> (io::Result<usize>, B) {
        let res = self.write_gathered(std::slice::from_ref(&buf)).await;
        (res, buf)
    }

    /// Encrypts and writes every byte of `buf`.
    pub async fn write_all<B: IoBuf>(&self, buf: B) -> (io::Result<()>, B) {
        write_all(self, buf).await
    }

    /// Encrypts some of the bytes of `bufs`, in order, and writes their
    /// records in one socket write; returns how many plaintext bytes.
    pub async fn writev<B: IoBuf>(&self, bufs: Vec<B>) -> (io::Result<usize>, Vec<B>) {
        let res = self.write_gathered(&bufs).await;
        (res, bufs)
    }

    async fn write_gathered<B: IoBuf>(&self, bufs: &[B]) -> io::Result<usize> {
        // Nothing is taken from `bufs` while an earlier write is in flight,
        // so a write dropped while it waits here consumed nothing. Records
        // merely queued (session tickets after the handshake, a protocol
        // answer) go out with this data, in the same socket write.
        if self.engine.borrow().writing {
            poll_fn(|cx| self.poll_flush(cx)).await?;
        }
        let taken = self.encrypt(bufs)?;
        poll_fn(|cx| self.poll_flush(cx)).await?;
        Ok(taken)
    }

    /// Hands plaintext from `bufs` to rustls; returns how many bytes it took.
    fn encrypt<B: IoBuf>(&self, bufs: &[B]) -> io::Result<usize> {
        let mut guard = self.engine.borrow_mut();
        let engine = &mut *guard;
        if let Some(e) = &engine.write_error {
            return Err(e.to_io());
        }
        let mut parts = bufs.iter().map(IoBuf::as_bytes).filter(|b| !b.is_empty());
        let Some(first) = parts.next() else {
            return Ok(0);
        };
        let Some(second) = parts.next() else {
            return engine.conn.writer().write(first);
        };
        // One plaintext run makes full-size records, not one small record
        // per buffer.
        engine.gather.clear();
        for part in [first, second].into_iter().chain(parts) {
            let room = GATHER_MAX - engine.gather.len();
            engine
                .gather
                .extend_from_slice(&part[..part.len().min(room)]);
            if engine.gather.len() == GATHER_MAX {
                break;
            }
        }
        let taken = engine.conn.writer().write(&engine.gather);
        engine.gather.clear();
        taken
    }

    /// Drives the write in flight and starts the next one while rustls has
    /// records queued; ready once everything queued is written.
    fn poll_flush(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Self::flush_engine(&self.io, &mut self.engine.borrow_mut(), cx)
    }

    fn flush_engine(
        io: &Rc<S>,
        engine: &mut Engine<S>,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            if engine.writing {
                engine.write_waiters.register(cx.waker());
                let mut shared_cx = Context::from_waker(engine.write_waiters.waker());
                let handover = &engine.write_handover;
                let writer = engine
                    .writer
                    .get_or_insert_with(|| writer(io.clone(), handover.clone()));
                // The writer never finishes: it waits for the next records.
                let _ = writer.as_mut().poll(&mut shared_cx);
                let Some((res, mut spent)) = engine.write_handover.done.take() else {
                    return Poll::Pending;
                };
                engine.writing = false;
                spent.clear();
                engine.spare_tx = spent;
                if let Err(e) = res {
                    engine.write_error = Some(StickyError::from_io(&e));
                }
            }
            if let Some(e) = &engine.write_error {
                return Poll::Ready(Err(e.to_io()));
            }
            if !engine.conn.wants_write() {
                return Poll::Ready(Ok(()));
            }
            let mut records = std::mem::take(&mut engine.spare_tx);
            while engine.conn.wants_write() {
                engine.conn.write_tls(&mut records)?;
            }
            engine.write_handover.request.set(Some(records));
            engine.writing = true;
        }
    }

    fn poll_read<B: IoBufMut>(&self, cx: &mut Context<'_>, buf: &mut B) -> Poll<io::Result<usize>> {
        let mut guard = self.engine.borrow_mut();
        let engine = &mut *guard;
        loop {
            if let Some(done) = Self::take_plaintext(engine, buf) {
                return Poll::Ready(done);
            }
            if let Some(e) = &engine.read_error {
                return Poll::Ready(Err(e.to_io()));
            }
            if engine.eof {
                // rustls knows of the EOF and still says "would block".
                return Poll::Ready(Err(io::ErrorKind::UnexpectedEof.into()));
            }
            // Protocol answers (a KeyUpdate, an alert) go out as soon as a
            // reader comes by; a reader never waits for them.
            if engine.writing || engine.conn.wants_write() {
                let _ = Self::flush_engine(&self.io, engine, cx);
            }
            if let Err(e) = ready!(self.poll_ingest(engine, cx)) {
                // The alert rustls queued for a protocol error goes out if
                // the socket takes it now.
                let _ = Self::flush_engine(&self.io, engine, cx);
                return Poll::Ready(Err(e));
            }
        }
    }

    /// Copies decrypted bytes into `buf`, decrypting more of the ciphertext
    /// already read while room remains (no syscall). `None`: nothing to
    /// give yet; `Some(Ok(0))`: a clean close_notify or no room in `buf`.
    fn take_plaintext<B: IoBufMut>(
        engine: &mut Engine<S>,
        buf: &mut B,
    ) -> Option<io::Result<usize>> {
        let mut copied = 0;
        loop {
            let (target, room) = buf.read_target();
            if room == 0 {
                return Some(Ok(copied));
            }
            let mut reader = engine.conn.reader();
            match reader.fill_buf() {
                // Empty: the peer's close_notify, after all its data.
                Ok([]) => return Some(Ok(copied)),
                Ok(plain) => {
                    let n = plain.len().min(room);
                    // SAFETY: `target` points to `room` writable bytes of
                    // `buf` (IoBufMut's contract) and `n <= room`; `plain` is
                    // rustls's own buffer, so the regions do not overlap.
                    unsafe { std::ptr::copy_nonoverlapping(plain.as_ptr(), target, n) };
                    reader.consume(n);
                    // SAFETY: the copy above initialised those `n` bytes.
                    unsafe { buf.advance_written(n) };
                    copied += n;
                    continue;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) if copied == 0 => return Some(Err(e)),
                Err(_) => return Some(Ok(copied)),
            }
            if copied == 0 {
                return None;
            }
            // More records of the last socket read fit: decrypt them now. A
            // protocol error here is sticky and reported by the next read.
            match Self::feed_buffered(engine) {
                Some(Ok(())) => {}
                Some(Err(_)) | None => return Some(Ok(copied)),
            }
        }
    }

    /// Hands rustls ciphertext read earlier and lets it process that;
    /// `None` when there is none.
    fn feed_buffered(engine: &mut Engine<S>) -> Option<io::Result<()>> {
        if engine.input.buffer().is_empty() || engine.read_error.is_some() {
            return None;
        }
        let mut pending = &engine.input.buffer()[..];
        match engine.conn.read_tls(&mut pending) {
            // rustls takes nothing more once close_notify came: the rest
            // is dropped and nothing more is read.
            Ok(0) => {
                engine.eof = true;
                engine.input.buffer_mut().clear();
            }
            Ok(n) => engine.input.buffer_mut().advance(n),
            // Received plaintext is full: the reader drains it first.
            Err(e) if e.kind() == io::ErrorKind::Other => return Some(Ok(())),
            Err(e) => return Some(Err(e)),
        }
        Some(Self::process(engine))
    }

    /// Gives rustls more ciphertext: what is left of the last socket read,
    /// else a new socket read (kept in flight in the engine). Ready once
    /// rustls processed something or learned of end of stream.
    fn poll_ingest(&self, engine: &mut Engine<S>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            if let Some(fed) = Self::feed_buffered(engine) {
                return Poll::Ready(fed);
            }
            if let Some(e) = &engine.read_error {
                return Poll::Ready(Err(e.to_io()));
            }
            if engine.eof {
                return Poll::Ready(Ok(()));
            }
            engine.read_waiters.register(cx.waker());
            let mut shared_cx = Context::from_waker(engine.read_waiters.waker());
            let res = ready!(engine.input.poll_fill(&mut shared_cx, None));
            match res {
                Ok(0) => {
                    engine.eof = true;
                    // An empty reader tells rustls the transport ended.
                    engine.conn.read_tls(&mut io::empty())?;
                    return Poll::Ready(Self::process(engine));
                }
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    engine.read_error = Some(StickyError::from_io(&e));
                    return Poll::Ready(Err(e));
                }
            }
        }
    }

    /// Lets rustls process what it was given; a protocol error is sticky.
    fn process(engine: &mut Engine<S>) -> io::Result<()> {
        match engine.conn.process_new_packets() {
            Ok(_) => Ok(()),
            Err(e) => {
                let e = tls_error(e);
                engine.read_error = Some(StickyError::from_io(&e));
                Err(e)
            }
        }
    }
}

impl<S: OwnedRead + OwnedWrite + 'static> OwnedRead for TlsStream<S> {
    async fn read<B: IoBufMut>(&self, buf: B) -> (io::Result<usize>, B) {
        TlsStream::read(self, buf).await
    }
}

impl<S: OwnedRead + OwnedWrite + 'static> OwnedWrite for TlsStream<S> {
    async fn write<B: IoBuf>(&self, buf: B) -> (io::Result<usize>, B) {
        TlsStream::write(self, buf).await
    }

    async fn writev<B: IoBuf>(&self, bufs: Vec<B>) -> (io::Result<usize>, Vec<B>) {
        TlsStream::writev(self, bufs).await
    }
}

impl<S> std::fmt::Debug for TlsStream<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let engine = self.engine.borrow();
        f.debug_struct("TlsStream")
            .field("server", &matches!(engine.conn, Connection::Server(_)))
            .field("version", &engine.conn.protocol_version())
            .field(
                "alpn",
                &engine.conn.alpn_protocol().map(String::from_utf8_lossy),
            )
            .finish_non_exhaustive()
    }
}
