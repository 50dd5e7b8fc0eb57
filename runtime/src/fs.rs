//! Files with positional reads and writes: native on io_uring, on the
//! blocking pool under epoll.
//!
//! ```
//! use percore_runtime::{Runtime, fs::File};
//! let path = std::env::temp_dir().join(format!("percore-fs-doc-{}", std::process::id()));
//! Runtime::new().unwrap().block_on(async {
//!     let f = File::create(&path).await.unwrap();
//!     f.write_all_at(b"hello world".to_vec(), 0).await.0.unwrap();
//!     let (n, buf) = f.read_at(Vec::with_capacity(5), 6).await;
//!     assert_eq!(n.unwrap(), 5);
//!     assert_eq!(buf, b"world");
//! });
//! std::fs::remove_file(&path).unwrap();
//! ```

use std::fs::OpenOptions;
use std::io;
use std::path::Path;

pub use crate::beneath::{Resolver, RootDir};
use crate::blocking::spawn_blocking;
use crate::buf::{IoBuf, IoBufMut, Slice};
use crate::driver::fd::SharedFd;
use crate::driver::op::{self, Driven, ReadAt, WriteAt};

/// An open file.
#[derive(Debug)]
pub struct File {
    fd: SharedFd,
}

fn join_err(e: crate::task::JoinError) -> io::Error {
    io::Error::other(e.to_string())
}

impl File {
    /// Opens an existing file for reading.
    pub async fn open(path: impl AsRef<Path>) -> io::Result<File> {
        File::open_with(path.as_ref(), OpenOptions::new().read(true).clone()).await
    }

    /// Creates (or truncates) a file for reading and writing.
    pub async fn create(path: impl AsRef<Path>) -> io::Result<File> {
        let mut opts = OpenOptions::new();
        opts.read(true).write(true).create(true).truncate(true);
        File::open_with(path.as_ref(), opts).await
    }

    /// Opens with explicit options (on the blocking pool).
    pub async fn open_with(path: &Path, opts: OpenOptions) -> io::Result<File> {
        let path = path.to_owned();
        let file = spawn_blocking(move || opts.open(path))
            .await
            .map_err(join_err)??;
        Ok(File {
            fd: SharedFd::new(file.into()),
        })
    }

    /// Takes over a file opened elsewhere (by [`RootDir::open_file`], say).
    ///
    /// ```
    /// let file = percore_runtime::fs::File::from_std(std::fs::File::open("/dev/null").unwrap());
    /// # drop(file);
    /// ```
    pub fn from_std(file: std::fs::File) -> File {
        File {
            fd: SharedFd::new(file.into()),
        }
    }

    pub(crate) fn shared_fd(&self) -> &SharedFd {
        &self.fd
    }

    /// Reads at `offset` into `buf`'s read target.
    pub async fn read_at<B: IoBufMut>(&self, buf: B, offset: u64) -> (io::Result<usize>, B) {
        let mut read = ReadAt::new(self.fd.clone(), buf, offset);
        let driven = Driven::file();
        if matches!(driven, Driven::BlockingPool) {
            // Under epoll: data already in the page cache is read here, at
            // once, instead of through a hop to the blocking pool.
            match read.call_nowait() {
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::Unsupported
                    ) => {}
                result => {
                    let buf = read.into_buf(&result);
                    return (result.map(|n| n as usize), buf);
                }
            }
        }
        let (result, op) = op::run(read, driven).await;
        let buf = op.into_buf(&result);
        (result.map(|n| n as usize), buf)
    }

    /// Writes `buf` at `offset`; returns how many bytes were written.
    pub async fn write_at<B: IoBuf>(&self, buf: B, offset: u64) -> (io::Result<usize>, B) {
        let write = WriteAt::new(self.fd.clone(), buf, offset);
        let (result, op) = op::run(write, Driven::file()).await;
        (result.map(|n| n as usize), op.buf)
    }

    /// Writes all of `buf` starting at `offset`.
    pub async fn write_all_at<B: IoBuf>(&self, buf: B, offset: u64) -> (io::Result<()>, B) {
        let total = buf.as_bytes().len();
        let mut slice = Slice::new(buf, 0);
        let mut done = 0;
        while done < total {
            let (res, s) = self.write_at(slice, offset + done as u64).await;
            match res {
                Ok(0) => return (Err(io::ErrorKind::WriteZero.into()), s.into_inner()),
                Ok(n) => {
                    done += n;
                    slice = Slice::new(s.into_inner(), done);
                }
                Err(e) => return (Err(e), s.into_inner()),
            }
        }
        (Ok(()), slice.into_inner())
    }

    /// The file's metadata (on the blocking pool).
    pub async fn metadata(&self) -> io::Result<std::fs::Metadata> {
        let fd = self.fd.clone();
        spawn_blocking(move || {
            let file = std::fs::File::from(fd.borrowed().try_clone_to_owned()?);
            file.metadata()
        })
        .await
        .map_err(join_err)?
    }

    /// Flushes data and metadata to storage (on the blocking pool).
    pub async fn sync_all(&self) -> io::Result<()> {
        let fd = self.fd.clone();
        spawn_blocking(move || std::fs::File::from(fd.borrowed().try_clone_to_owned()?).sync_all())
            .await
            .map_err(join_err)?
    }
}
