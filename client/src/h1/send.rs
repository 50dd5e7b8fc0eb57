//! Writing a request's bytes: whole buffers (one plain send, or a
//! vectored one) and the body after the head (in memory, or a stream with
//! its declared length or chunked, with its trailers).

use std::future::poll_fn;
use std::io;

use bytes::{Buf, Bytes, BytesMut};
use percore_http::h1::{encode_chunk_header, encode_last_chunk, RequestFraming};
use percore_http::Body;
use percore_runtime::buf::IoBuf;
use percore_runtime::io::OwnedWrite;

use super::Failure;
use crate::connect::Stream;
use crate::error::{Error, ErrorKind};

/// Writes every byte of `chunks`; `sent` turns true once any byte went out.
pub(super) async fn write_all(
    stream: &Stream,
    mut chunks: Vec<Bytes>,
    sent: &mut bool,
) -> io::Result<()> {
    chunks.retain(|c| !c.is_empty());
    while !chunks.is_empty() {
        if chunks.len() == 1 {
            return write_one(stream, chunks.remove(0), sent).await.0;
        }
        let (res, back) = stream.writev(chunks).await;
        chunks = back;
        let mut n = match res {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        *sent = true;
        while n > 0 {
            let Some(first) = chunks.first_mut() else {
                break;
            };
            let take = n.min(first.len());
            first.advance(take);
            n -= take;
            if first.is_empty() {
                chunks.remove(0);
            }
        }
    }
    Ok(())
}

/// Writes every byte of one buffer with plain sends: no `Vec` of
/// buffers, and no message header and iovec array, which a vectored
/// write builds on the heap under io_uring. Gives the buffer back (a
/// connection's head buffer is used again).
pub(super) async fn write_one<B: IoBuf + Buf>(
    stream: &Stream,
    mut bytes: B,
    sent: &mut bool,
) -> (io::Result<()>, B) {
    while bytes.has_remaining() {
        let (res, back) = stream.write(bytes).await;
        bytes = back;
        if let Err(e) = took(res, &mut bytes, sent) {
            return (Err(e), bytes);
        }
    }
    (Ok(()), bytes)
}

/// One write's result applied to `bytes`: what it sent is passed over
/// (and `sent` set), an interrupted write took nothing, a write of
/// nothing or a failure is the error.
#[inline]
pub(super) fn took(
    res: io::Result<usize>,
    bytes: &mut impl Buf,
    sent: &mut bool,
) -> io::Result<()> {
    match res {
        Ok(0) => Err(io::ErrorKind::WriteZero.into()),
        Ok(n) => {
            *sent = true;
            bytes.advance(n);
            Ok(())
        }
        Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(()),
        Err(e) => Err(e),
    }
}

/// Why a request body was not sent in full.
pub(super) enum SendError {
    /// The socket failed: the server may have answered early.
    Socket(Failure),
    /// The body itself failed (its stream, or its length).
    Body(Failure),
}

impl From<SendError> for Failure {
    fn from(e: SendError) -> Failure {
        match e {
            SendError::Socket(f) | SendError::Body(f) => f,
        }
    }
}

/// Sends a request body after its head: in memory, or a stream with its
/// declared length or chunked (with its trailers).
pub(super) async fn send_body(
    stream: &Stream,
    body: Body,
    framing: RequestFraming,
) -> Result<(), SendError> {
    let mut sent = true;
    let io_err = |e: io::Error| {
        SendError::Socket(Failure::Fatal(Error::io("cannot send the request body", e)))
    };
    let mut s = match body {
        Body::Empty => return Ok(()),
        Body::Full(b) => return write_one(stream, b, &mut sent).await.0.map_err(io_err),
        Body::Stream(s) => s,
    };
    let mut written = 0u64;
    while let Some(chunk) = poll_fn(|cx| s.as_mut().poll_next(cx)).await {
        let chunk = chunk.map_err(|e| {
            SendError::Body(Failure::Fatal(Error::with_source(
                ErrorKind::Io,
                "the request body stream failed",
                e,
            )))
        })?;
        if chunk.is_empty() {
            continue;
        }
        written += chunk.len() as u64;
        match framing {
            RequestFraming::Length(n) if written > n => {
                return Err(SendError::Body(Failure::Fatal(Error::new(
                    ErrorKind::Builder,
                    "the request body stream is longer than its size hint",
                ))))
            }
            RequestFraming::Chunked => {
                let mut size = BytesMut::with_capacity(20);
                encode_chunk_header(&mut size, chunk.len());
                let parts = vec![size.freeze(), chunk, Bytes::from_static(b"\r\n")];
                write_all(stream, parts, &mut sent).await.map_err(io_err)?;
            }
            _ => write_one(stream, chunk, &mut sent)
                .await
                .0
                .map_err(io_err)?,
        }
    }
    match framing {
        RequestFraming::Chunked => {
            let mut last = BytesMut::new();
            encode_last_chunk(&mut last, s.as_mut().take_trailers().as_ref());
            write_one(stream, last.freeze(), &mut sent)
                .await
                .0
                .map_err(io_err)
        }
        RequestFraming::Length(n) if written < n => {
            Err(SendError::Body(Failure::Fatal(Error::new(
                ErrorKind::Builder,
                "the request body stream is shorter than its size hint",
            ))))
        }
        _ => Ok(()),
    }
}
