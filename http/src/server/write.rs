//! Writing a list of byte chunks with as few syscalls as possible.

use std::io;

use bytes::{Buf, Bytes};
use percore_runtime::net::TcpStream;

/// Writes every byte of `chunks` in order, with vectored writes; returns
/// the emptied vector for reuse.
pub(crate) async fn write_all_vectored(
    stream: &TcpStream,
    mut chunks: Vec<Bytes>,
) -> (io::Result<()>, Vec<Bytes>) {
    chunks.retain(|c| !c.is_empty());
    while !chunks.is_empty() {
        let (res, back) = if chunks.len() == 1 {
            let only = chunks.pop().unwrap_or_default();
            let (res, b) = stream.write(only).await;
            chunks.push(b);
            (res, chunks)
        } else {
            stream.writev(chunks).await
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
