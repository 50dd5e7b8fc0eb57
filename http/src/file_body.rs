//! Response bodies read from files.

use std::future::Future;
use std::io;
use std::path::Path;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{ready, Context, Poll};

use bytes::{Bytes, BytesMut};
use percore_runtime::fs::File;

use crate::body::{Body, BodyStream};

/// Bytes read from the file per chunk.
const CHUNK: usize = 64 * 1024;

type ReadFuture = Pin<Box<dyn Future<Output = (io::Result<usize>, BytesMut)>>>;

/// A response body streamed from a file: one 64 KiB read at a time (an
/// io_uring read on that driver, the blocking pool under epoll), only as
/// fast as the client takes it, sent with its length as `Content-Length`.
/// HTTP/1.1 over plain TCP sends one of 4 KiB or more with `sendfile(2)`
/// instead (see [`BodyStream::file_range`]): no copy through user space.
///
/// ```
/// use percore_http::{Body, FileBody};
/// use percore_runtime::Runtime;
/// let path = std::env::temp_dir().join(format!("percore-file-body-doc-{}", std::process::id()));
/// std::fs::write(&path, b"hello file").unwrap();
/// Runtime::new().unwrap().block_on(async {
///     let body = Body::from(FileBody::open(&path).await.unwrap());
///     assert_eq!(body.size_hint(), Some(10));
///     assert_eq!(body.collect().await.unwrap(), "hello file");
/// });
/// std::fs::remove_file(&path).unwrap();
/// ```
pub struct FileBody {
    file: Rc<File>,
    offset: u64,
    remaining: u64,
    len: u64,
    read: Option<ReadFuture>,
}

impl std::fmt::Debug for FileBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileBody")
            .field("offset", &self.offset)
            .field("remaining", &self.remaining)
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

impl FileBody {
    /// Opens `path` for reading; the body is the whole file.
    pub async fn open(path: impl AsRef<Path>) -> io::Result<FileBody> {
        let file = File::open(path).await?;
        let len = file.metadata().await?.len();
        Ok(FileBody::new(file, 0, len))
    }

    /// `len` bytes of `file` starting at `offset` (all of it, or a range).
    /// A file that turns out shorter fails the body with `UnexpectedEof`.
    pub fn new(file: File, offset: u64, len: u64) -> FileBody {
        FileBody::shared(Rc::new(file), offset, len)
    }

    /// Like [`new`](Self::new), on a file other bodies read too (the parts
    /// of a multi-range response, say).
    pub fn shared(file: Rc<File>, offset: u64, len: u64) -> FileBody {
        FileBody {
            file,
            offset,
            remaining: len,
            len,
            read: None,
        }
    }
}

impl BodyStream for FileBody {
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<io::Result<Bytes>>> {
        let this = self.get_mut();
        if this.remaining == 0 {
            return Poll::Ready(None);
        }
        let read = match &mut this.read {
            Some(read) => read,
            slot => {
                let want = this.remaining.min(CHUNK as u64) as usize;
                let (file, offset) = (this.file.clone(), this.offset);
                slot.insert(Box::pin(async move {
                    file.read_at(BytesMut::with_capacity(want), offset).await
                }))
            }
        };
        let (result, mut buf) = ready!(read.as_mut().poll(cx));
        this.read = None;
        match result {
            Ok(0) => {
                this.remaining = 0;
                Poll::Ready(Some(Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "file shorter than the body's length",
                ))))
            }
            Ok(n) => {
                let n = (n as u64).min(this.remaining);
                buf.truncate(n as usize);
                this.offset += n;
                this.remaining -= n;
                Poll::Ready(Some(Ok(buf.freeze())))
            }
            Err(e) => {
                this.remaining = 0;
                Poll::Ready(Some(Err(e)))
            }
        }
    }

    fn size_hint(&self) -> Option<u64> {
        Some(self.len)
    }

    fn file_range(&self) -> Option<(&File, u64, u64)> {
        (self.read.is_none() && self.remaining == self.len).then_some((
            &*self.file,
            self.offset,
            self.len,
        ))
    }
}

impl From<FileBody> for Body {
    fn from(file: FileBody) -> Body {
        Body::stream(file)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use percore_runtime::{DriverChoice, Runtime};

    fn temp(name: &str, data: &[u8]) -> std::path::PathBuf {
        let path = std::env::temp_dir().join(format!("percore-{name}-{}", std::process::id()));
        std::fs::write(&path, data).unwrap();
        path
    }

    fn on_both_drivers(test: impl Fn() -> std::pin::Pin<Box<dyn Future<Output = ()>>>) {
        for driver in [DriverChoice::Uring, DriverChoice::Epoll] {
            let rt = Runtime::builder().driver(driver).build().unwrap();
            rt.block_on(test());
        }
    }

    #[test]
    fn streams_the_whole_file_in_chunks() {
        let data: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let path = temp("file-body-whole", &data);
        on_both_drivers(|| {
            let (path, data) = (path.clone(), data.clone());
            Box::pin(async move {
                let mut body = FileBody::open(&path).await.unwrap();
                assert_eq!(body.size_hint(), Some(data.len() as u64));
                let mut got = Vec::new();
                let mut chunks = 0;
                while let Some(chunk) =
                    std::future::poll_fn(|cx| Pin::new(&mut body).poll_next(cx)).await
                {
                    let chunk = chunk.unwrap();
                    assert!(chunk.len() <= CHUNK);
                    got.extend_from_slice(&chunk);
                    chunks += 1;
                }
                assert_eq!(got, data);
                assert_eq!(chunks, data.len().div_ceil(CHUNK));
            })
        });
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn a_range_and_a_file_shorter_than_declared() {
        let path = temp("file-body-range", b"0123456789");
        on_both_drivers(|| {
            let path = path.clone();
            Box::pin(async move {
                let file = File::open(&path).await.unwrap();
                let range = Body::from(FileBody::new(file, 3, 4));
                assert_eq!(range.collect().await.unwrap(), "3456");
                let file = File::open(&path).await.unwrap();
                let err = Body::from(FileBody::new(file, 8, 5))
                    .collect()
                    .await
                    .unwrap_err();
                assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
            })
        });
        std::fs::remove_file(&path).unwrap();
    }
}
