//! The body of a 206 with several ranges: `multipart/byteranges`
//! (RFC 9110 §14.6), streamed from the file part by part, with its exact
//! length up front.

use std::collections::VecDeque;
use std::hash::{BuildHasher, Hasher};
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use bytes::Bytes;
use percore_http::{BodyStream, FileBody};
use percore_runtime::fs::File;

use super::range::ByteRange;

/// A fresh boundary: 64 random bits (std's hasher keys), so that no file
/// plausibly contains it.
pub(crate) fn boundary() -> String {
    let random = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    format!("percore-{random:016x}")
}

enum Piece {
    Text(Bytes),
    File(FileBody),
}

/// The parts' headers and the file's ranges, in order.
pub(crate) struct MultipartBody {
    pieces: VecDeque<Piece>,
    len: u64,
}

impl MultipartBody {
    /// The parts for `ranges` of `file` (`file_len` bytes, `content_type`).
    pub(crate) fn new(
        file: File,
        file_len: u64,
        ranges: &[ByteRange],
        content_type: &str,
        boundary: &str,
    ) -> MultipartBody {
        let file = Rc::new(file);
        let mut pieces = VecDeque::with_capacity(ranges.len() * 2 + 1);
        let mut len = 0;
        for (i, r) in ranges.iter().enumerate() {
            let lead = if i == 0 { "" } else { "\r\n" };
            let head = format!(
                "{lead}--{boundary}\r\ncontent-type: {content_type}\r\ncontent-range: bytes {}-{}/{file_len}\r\n\r\n",
                r.start, r.end
            );
            len += head.len() as u64 + r.len();
            pieces.push_back(Piece::Text(head.into()));
            pieces.push_back(Piece::File(FileBody::shared(
                file.clone(),
                r.start,
                r.len(),
            )));
        }
        let tail = format!("\r\n--{boundary}--\r\n");
        len += tail.len() as u64;
        pieces.push_back(Piece::Text(tail.into()));
        MultipartBody { pieces, len }
    }
}

impl BodyStream for MultipartBody {
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<io::Result<Bytes>>> {
        let this = self.get_mut();
        loop {
            match this.pieces.front_mut() {
                None => return Poll::Ready(None),
                Some(Piece::Text(text)) => {
                    let text = std::mem::take(text);
                    this.pieces.pop_front();
                    return Poll::Ready(Some(Ok(text)));
                }
                Some(Piece::File(body)) => match Pin::new(body).poll_next(cx) {
                    Poll::Ready(None) => {
                        this.pieces.pop_front();
                    }
                    other => return other,
                },
            }
        }
    }

    fn size_hint(&self) -> Option<u64> {
        Some(self.len)
    }
}
