//! The write side of an HTTP/1.1 connection: responses are encoded into
//! [`Output`], small bodies copied next to their head and large ones queued
//! uncopied, and written in batches (pipelined answers go out together).
//!
//! The buffer answers are encoded into is taken from the core's
//! [`buf_pool`] when the first byte is encoded and goes back to it when the
//! write completes: a connection waiting for its next request holds none.

use std::fmt;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::time::Duration;

use crate::server::Conn;
use bytes::{Bytes, BytesMut};
use http::header::{HeaderValue, CONTENT_TYPE};
use http::{HeaderMap, StatusCode, Version};
use percore_runtime::buf::Slice;
use percore_runtime::buf_pool;
use percore_runtime::fs::File;
use percore_runtime::io::write_now;
use percore_runtime::net::TcpStream;
use percore_runtime::time::{timeout_from_wait, Elapsed};

use super::head_cache::{encode_head, Fields};
use super::input::RequestInput;
use crate::body::{Body, BodyStream};
use crate::h1::{self, ResponseBody};
use crate::server::exchange::{has_no_body, PeekedBody};
use crate::Limits;
use crate::{Plain, Reply};

/// Full bodies up to this size are copied next to the head (one write);
/// larger ones are sent as their own iovec.
const COPY_BODY_MAX: usize = 8 * 1024;
/// Buffered response bytes that force a flush even when more pipelined
/// requests are waiting.
pub(super) const FLUSH_AT: usize = 64 * 1024;

/// The smallest file body sent with `sendfile(2)` (the head goes first
/// with `MSG_MORE`, so both leave in one segment). A smaller one is read
/// and copied next to its head: for 1 KiB that was cheaper (on io_uring
/// the sendfile call needs two `ioctl`s around it), from 4 KiB up sendfile
/// cost the same CPU on a quiet machine and 10-30 % less while other work
/// competed for the caches (BENCHMARKS.md, issue 17).
const SENDFILE_MIN: u64 = 4 * 1024;

/// A response whose body is a stream, not yet encoded: see
/// [`Output::write_streamed`].
pub(super) struct Streamed {
    parts: http::response::Parts,
    body: Pin<Box<dyn BodyStream>>,
    /// The version of the answer (HTTP/1.0 to an HTTP/1.0 request).
    version: Version,
    /// The request was `HEAD`: the head only.
    is_head: bool,
}

impl fmt::Debug for Streamed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Streamed")
            .field("status", &self.parts.status)
            .field("version", &self.version)
            .finish()
    }
}

/// Response bytes waiting to be written to the connection.
pub(super) struct Output {
    stream: Rc<Conn>,
    /// Encoded bytes after `chunks`; no allocation while nothing waits
    /// (see [`Output::buf`]).
    buf: BytesMut,
    chunks: Vec<Bytes>,
    /// Responses completed in `buf`/`chunks` since the last flush.
    pub(super) responses: usize,
    /// How long the client may accept nothing while output waits.
    write_timeout: Duration,
}

impl fmt::Debug for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Output")
            .field("len", &self.len())
            .field("responses", &self.responses)
            .finish()
    }
}

impl Output {
    /// Output to `stream`, failing a write that makes no progress for
    /// `write_timeout`.
    pub(super) fn new(stream: Rc<Conn>, write_timeout: Duration) -> Output {
        Output {
            stream,
            buf: BytesMut::new(),
            chunks: Vec::new(),
            responses: 0,
            write_timeout,
        }
    }

    /// The buffer to encode into: one from the core's pool when this
    /// connection holds none (it has nothing waiting).
    #[inline(always)]
    fn buf(&mut self) -> &mut BytesMut {
        if self.buf.capacity() == 0 {
            self.take_buf();
        }
        &mut self.buf
    }

    /// Out of line: [`Output::buf`] stays small enough to inline where it
    /// is called.
    #[inline(never)]
    fn take_buf(&mut self) {
        self.buf = buf_pool::take();
    }

    /// Bytes waiting.
    pub(super) fn len(&self) -> usize {
        self.buf.len() + self.chunks.iter().map(Bytes::len).sum::<usize>()
    }

    /// Whether nothing waits.
    pub(super) fn is_empty(&self) -> bool {
        self.buf.is_empty() && self.chunks.is_empty()
    }

    /// Appends body bytes: copied when small (flattened next to the head),
    /// queued as their own buffer when large.
    fn push_body(&mut self, body: Bytes) {
        if body.len() <= COPY_BODY_MAX {
            self.buf().extend_from_slice(&body);
        } else {
            if !self.buf.is_empty() {
                self.chunks.push(std::mem::take(&mut self.buf).freeze());
            }
            self.chunks.push(body);
        }
    }

    /// Writes everything waiting. The common case, one buffer, is written
    /// as it is and given back to the core's pool once written.
    pub(super) async fn flush(&mut self) -> io::Result<()> {
        self.responses = 0;
        if self.chunks.is_empty() {
            if self.buf.is_empty() {
                return Ok(());
            }
            let buf = std::mem::take(&mut self.buf);
            // The common keep-alive case, an idle socket on epoll, is sent
            // here, before any write future is made (`write_all_timeout`
            // tries the same first, but its future costs about 45
            // instructions per request even when it is ready at once).
            let from = match write_now(&*self.stream, &buf) {
                Ok(n) if n == buf.len() => {
                    buf_pool::recycle(buf);
                    return Ok(());
                }
                // A part sent (or none): the write sends the rest.
                Ok(n) => n,
                Err(e) => {
                    buf_pool::recycle(buf);
                    return Err(e);
                }
            };
            let (res, back) = self
                .stream
                .write_all_timeout(Slice::new(buf, from), self.write_timeout)
                .await;
            if let Some(buf) = back {
                buf_pool::recycle(buf.into_inner());
            }
            return res;
        }
        if !self.buf.is_empty() {
            self.chunks.push(std::mem::take(&mut self.buf).freeze());
        }
        let chunks = std::mem::take(&mut self.chunks);
        let (res, _) = self
            .stream
            .write_all_vectored_timeout(chunks, self.write_timeout)
            .await;
        res
    }

    /// Whether the batched responses go to the socket now, before the next
    /// pipelined request is read: at [`FLUSH_AT`] bytes or after
    /// `max_pipelined_requests` responses. A client that pipelines without
    /// reading then fills the socket, the flush waits, and the server reads
    /// no more: its memory stays bounded.
    pub(super) fn must_flush(&self, limits: &Limits) -> bool {
        self.len() >= FLUSH_AT || self.responses >= limits.max_pipelined_requests.max(1)
    }

    /// A short plain-text response for protocol errors; always closes.
    pub(super) fn error_response(&mut self, status: StatusCode) {
        let reason = status.canonical_reason().unwrap_or("Error");
        let body = Bytes::from(format!("{} {}\n", status.as_u16(), reason));
        let mut headers = HeaderMap::new();
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        self.head(
            Version::HTTP_11,
            status,
            &headers,
            ResponseBody::Length(body.len() as u64),
            true,
        );
        self.push_body(body);
    }

    /// Encodes a response head (through the core's last-head cache).
    pub(super) fn head(
        &mut self,
        version: Version,
        status: StatusCode,
        headers: &HeaderMap,
        framing: ResponseBody,
        close: bool,
    ) {
        encode_head(
            self.buf(),
            version,
            status,
            Fields::Map(headers),
            framing,
            close,
        );
    }

    /// Appends bytes already encoded (a fixed response head).
    pub(super) fn extend_from_slice(&mut self, bytes: &[u8]) {
        self.buf().extend_from_slice(bytes);
    }

    /// Encodes `resp`, the answer to a request of `req_version`, when its
    /// body is empty or in memory: the common answer is encoded here,
    /// without a future of its own (an `async fn` here grew too large for
    /// the compiler to inline into the connection loop, and cost ~80
    /// instructions per request). A streamed body is handed back, for
    /// [`Output::write_streamed`]. Clears `keep_alive` when the connection
    /// must end after the answer (what `input` says of the request body).
    /// A [`Plain`] answer's head is written from its parts (no map), by
    /// the same writer as a `Response`'s ([`Output::write_full`]).
    #[inline]
    pub(super) fn write_response(
        &mut self,
        input: &RequestInput,
        req_version: Version,
        resp: Reply,
        is_head: bool,
        keep_alive: &mut bool,
    ) -> Option<Streamed> {
        let version = if req_version == Version::HTTP_10 {
            Version::HTTP_10
        } else {
            Version::HTTP_11
        };
        let resp = match resp {
            Reply::Plain(Plain {
                status,
                content_type,
                body,
            }) => {
                let fields = Fields::ContentType(&content_type);
                self.write_full(input, version, status, fields, body, is_head, keep_alive);
                return None;
            }
            Reply::Response(resp) => *resp,
        };
        let (parts, body) = resp.into_parts();
        let full = match body {
            Body::Empty => Bytes::new(),
            Body::Full(b) => b,
            Body::Stream(body) => {
                return Some(Streamed {
                    parts,
                    body,
                    version,
                    is_head,
                })
            }
        };
        let fields = Fields::Map(&parts.headers);
        self.write_full_apart(
            input,
            version,
            parts.status,
            fields,
            full,
            is_head,
            keep_alive,
        );
        crate::header_pool::recycle(parts.headers);
        None
    }

    /// [`Output::write_response`]'s in-memory answer, a [`Plain`]'s or a
    /// `Response`'s alike: the head from `status` and `fields` (through
    /// the core's head cache), then `body`, a small one copied next to the
    /// head in place. Inlined where a `Plain` is written (out of line, its
    /// arguments were moved through memory: +110 instructions per
    /// pipelined request); a `Response` calls it through
    /// [`Output::write_full_apart`], so that the connection loop holds one
    /// copy of it.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn write_full(
        &mut self,
        input: &RequestInput,
        version: Version,
        status: StatusCode,
        fields: Fields<'_>,
        body: Bytes,
        is_head: bool,
        keep_alive: &mut bool,
    ) {
        if input.body_ends_connection(false) {
            *keep_alive = false;
        }
        let framing = ResponseBody::Length(body.len() as u64);
        encode_head(self.buf(), version, status, fields, framing, !*keep_alive);
        if !has_no_body(status, is_head) && !body.is_empty() {
            if body.len() <= COPY_BODY_MAX {
                // Next to the head just written (the buffer is taken, so
                // `push_body`'s check for it is skipped: calling it here
                // measured +27 instructions per pipelined request).
                self.buf.extend_from_slice(&body);
            } else {
                self.push_body(body);
            }
        }
    }

    /// [`Output::write_full`] out of line, for a `Response`'s head.
    #[inline(never)]
    #[allow(clippy::too_many_arguments)]
    fn write_full_apart(
        &mut self,
        input: &RequestInput,
        version: Version,
        status: StatusCode,
        fields: Fields<'_>,
        body: Bytes,
        is_head: bool,
        keep_alive: &mut bool,
    ) {
        self.write_full(input, version, status, fields, body, is_head, keep_alive);
    }

    /// Writes a response with a streamed body (handed back by
    /// [`Output::write_response`]), flushing as the body produces chunks,
    /// or with `sendfile(2)` for a file on plain TCP. Clears `keep_alive`
    /// when the connection must end after it (the body's framing, a
    /// failed body, or what `input` says of the request body).
    pub(super) async fn write_streamed(
        &mut self,
        input: &RequestInput,
        resp: Streamed,
        keep_alive: &mut bool,
    ) -> io::Result<()> {
        let Streamed {
            parts,
            mut body,
            version,
            is_head,
        } = resp;
        let status = parts.status;
        let no_body = has_no_body(status, is_head);
        let framing = match body.size_hint() {
            Some(n) => ResponseBody::Length(n),
            // HTTP/1.0 has no chunked coding: the close ends the body.
            None if version == Version::HTTP_10 => {
                *keep_alive = false;
                ResponseBody::CloseDelimited
            }
            None => ResponseBody::Chunked,
        };
        let stream = self.stream.clone();
        if let (Conn::Plain(tcp), Some((file, offset, len))) = (&*stream, body.file_range()) {
            if framing == ResponseBody::Length(len) && len >= SENDFILE_MIN {
                if input.body_ends_connection(true) {
                    *keep_alive = false;
                }
                self.head(version, status, &parts.headers, framing, !*keep_alive);
                crate::header_pool::recycle(parts.headers);
                if no_body {
                    return Ok(());
                }
                return self.send_file(tcp, file, offset, len, keep_alive).await;
            }
        }
        let peeked = match PeekedBody::peek(&mut body).await {
            Ok(peeked) => peeked,
            Err(status) => {
                *keep_alive = false;
                self.error_response(status);
                return Ok(());
            }
        };
        if input.body_ends_connection(true) {
            *keep_alive = false;
        }
        self.head(version, status, &parts.headers, framing, !*keep_alive);
        crate::header_pool::recycle(parts.headers);
        if no_body {
            return Ok(());
        }
        self.stream_body(peeked, framing, keep_alive).await
    }

    /// Sends the head and what is batched before it, then `len` bytes of
    /// `file` from `offset` with `sendfile(2)`: the file's pages go to the
    /// socket without a copy through user space. Each call must make
    /// progress within the write timeout; a failure closes the connection.
    async fn send_file(
        &mut self,
        tcp: &TcpStream,
        file: &File,
        mut offset: u64,
        len: u64,
        keep_alive: &mut bool,
    ) -> io::Result<()> {
        let result = async {
            // The head (and answers batched before it) with MSG_MORE: it
            // leaves with the file's first bytes, in one segment.
            if !self.chunks.is_empty() {
                // Rare: a large body batched before this answer goes first.
                self.flush().await?;
            }
            self.responses = 0;
            let mut head = std::mem::take(&mut self.buf).freeze();
            while !head.is_empty() {
                let (n, back) =
                    match timeout_from_wait(self.write_timeout, tcp.write_more(head)).await {
                        Ok((Ok(0), _)) => return Err(io::ErrorKind::WriteZero.into()),
                        Ok((Ok(n), back)) => (n, back),
                        Ok((Err(e), _)) => return Err(e),
                        Err(Elapsed) => return Err(io::ErrorKind::TimedOut.into()),
                    };
                head = back.slice(n..);
            }
            let mut left = len;
            while left > 0 {
                let want = usize::try_from(left).unwrap_or(usize::MAX);
                let n =
                    match timeout_from_wait(self.write_timeout, tcp.sendfile(file, offset, want))
                        .await
                    {
                        Ok(Ok(0)) => {
                            return Err(io::Error::new(
                                io::ErrorKind::UnexpectedEof,
                                "file shorter than the body's length",
                            ))
                        }
                        Ok(Ok(n)) => n as u64,
                        Ok(Err(e)) => return Err(e),
                        Err(Elapsed) => return Err(io::ErrorKind::TimedOut.into()),
                    };
                offset += n;
                left -= n.min(left);
            }
            Ok(())
        }
        .await;
        if result.is_err() {
            *keep_alive = false;
        }
        result
    }

    /// Writes a streamed body chunk by chunk, in `framing`.
    async fn stream_body(
        &mut self,
        mut body: PeekedBody<'_>,
        framing: ResponseBody,
        keep_alive: &mut bool,
    ) -> io::Result<()> {
        let declared = match framing {
            ResponseBody::Length(n) => Some(n),
            _ => None,
        };
        let mut sent = 0u64;
        while let Some(chunk) = body.next().await {
            let chunk = match chunk {
                Ok(c) => c,
                Err(e) => {
                    // Mid-body failure: the only honest signal left is to close.
                    *keep_alive = false;
                    let _ = self.flush().await;
                    return Err(e);
                }
            };
            if chunk.is_empty() {
                continue;
            }
            sent += chunk.len() as u64;
            if declared.is_some_and(|n| sent > n) {
                *keep_alive = false;
                return Err(io::Error::other("response body longer than its length"));
            }
            if framing == ResponseBody::Chunked {
                h1::encode_chunk_header(self.buf(), chunk.len());
                self.push_body(chunk);
                self.buf().extend_from_slice(b"\r\n");
            } else {
                self.push_body(chunk);
            }
            self.flush().await?;
        }
        match declared {
            None if framing == ResponseBody::Chunked => {
                let trailers = body.take_trailers();
                h1::encode_last_chunk(self.buf(), trailers.as_ref());
            }
            None => {} // close-delimited: the close ends it
            Some(n) if sent < n => {
                *keep_alive = false;
                let _ = self.flush().await;
                return Err(io::Error::other("response body shorter than its length"));
            }
            Some(_) => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batched_responses_are_flushed_by_count_and_by_size() {
        percore_runtime::Runtime::new().unwrap().block_on(async {
            use percore_runtime::net::{TcpListener, TcpStream};
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let a = crate::server::Conn::from(TcpStream::connect(addr).await.unwrap());
            let limits = Limits {
                max_pipelined_requests: 4,
                ..Limits::default()
            };
            let stream = Rc::new(a);
            let mut out = Output::new(stream.clone(), limits.write_timeout);
            out.buf.extend_from_slice(b"HTTP/1.1 200 OK\r\n\r\n");
            out.responses = 3;
            assert!(!out.must_flush(&limits));
            out.responses = 4;
            assert!(out.must_flush(&limits));
            out.responses = 1;
            out.push_body(Bytes::from(vec![b'x'; FLUSH_AT]));
            assert!(out.must_flush(&limits), "64 KiB waiting is flushed");
            let zero = Limits {
                max_pipelined_requests: 0,
                ..Limits::default()
            };
            let mut one = Output::new(stream, zero.write_timeout);
            one.responses = 1;
            assert!(one.must_flush(&zero), "0 means every response");
        });
    }
}
