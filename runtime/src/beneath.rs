//! Opening paths below a directory without ever leaving it: the check is
//! the open itself, so a symbolic link swapped in after any earlier look
//! at the tree cannot lead out (no time-of-check/time-of-use gap).
//!
//! `openat2(2)` with `RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS` (and
//! `RESOLVE_NO_SYMLINKS` unless links are followed) where the kernel has
//! it (Linux 5.6+); elsewhere (an older kernel, a seccomp filter that
//! refuses it) the same rules walked one component at a time with
//! `openat(O_NOFOLLOW)`, reading links with `readlinkat` when they are
//! followed. Either way: `..` may not climb above the directory, absolute
//! link targets are refused, and at most 40 links are followed.

use std::ffi::{CString, OsStr, OsString};
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

/// Links followed in one resolution at most (the kernel's own limit).
const MAX_LINKS: usize = 40;

/// Flags of the file opened at the end of the path: read only, no
/// controlling terminal, and a FIFO cannot stall the open.
const OPEN_FLAGS: libc::c_int =
    libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NONBLOCK | libc::O_NOCTTY;

/// Whether `openat2` may be tried (cleared when the kernel lacks it).
static OPENAT2: AtomicBool = AtomicBool::new(true);

/// How a path below a [`RootDir`] is resolved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resolver {
    /// `openat2` where the kernel has it, else [`Resolver::Walk`].
    Auto,
    /// One component at a time with `openat(O_NOFOLLOW)` (the fallback;
    /// selectable to test it).
    Walk,
    /// `openat2` with `RESOLVE_CACHED` too: only what the kernel can
    /// resolve from its caches, without waiting for a disk, so it may run
    /// on a core's own thread. Anything else (and a kernel without
    /// `openat2`) fails with `WouldBlock`: ask again with [`Resolver::Auto`]
    /// on the blocking pool.
    Cached,
}

/// A directory held open, below which paths are opened without ever
/// leaving it (see the module documentation for the rules).
///
/// ```
/// use percore_runtime::fs::{Resolver, RootDir};
/// let base = std::env::temp_dir().join(format!("percore-rootdir-doc-{}", std::process::id()));
/// std::fs::create_dir_all(base.join("root")).unwrap();
/// std::fs::write(base.join("root/a.txt"), "a").unwrap();
/// std::fs::write(base.join("secret.txt"), "s").unwrap();
/// std::os::unix::fs::symlink("../secret.txt", base.join("root/out")).unwrap();
/// let root = RootDir::open(base.join("root")).unwrap();
/// assert!(root.open_file("a.txt".as_ref(), false, Resolver::Auto).is_ok());
/// assert!(root.open_file("out".as_ref(), true, Resolver::Auto).is_err());
/// assert!(root.open_file("../secret.txt".as_ref(), true, Resolver::Walk).is_err());
/// std::fs::remove_dir_all(base).unwrap();
/// ```
#[derive(Debug)]
pub struct RootDir {
    fd: OwnedFd,
    path: PathBuf,
}

impl RootDir {
    /// Opens the directory at `path` (links on the way to it are the
    /// caller's own choice and are followed).
    pub fn open(path: impl AsRef<Path>) -> io::Result<RootDir> {
        let path = path.as_ref();
        let c = cstr(path.as_os_str())?;
        // SAFETY: `c` is a NUL-terminated path that outlives the call; the
        // flags ask for no memory to be written.
        let fd = unsafe {
            libc::open(
                c.as_ptr(),
                libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
            )
        };
        Ok(RootDir {
            fd: owned(fd)?,
            path: path.to_path_buf(),
        })
    }

    /// The path it was opened by.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Opens `rel` (relative; empty or `.` is the directory itself) for
    /// reading, never leaving this directory: `..` above it, absolute link
    /// targets and links leading out fail (`EXDEV`, `ELOOP`, `ENOENT`...);
    /// with `follow_symlinks` off, any link on the way fails. Blocking:
    /// lookups may wait for the disk.
    pub fn open_file(
        &self,
        rel: &Path,
        follow_symlinks: bool,
        resolver: Resolver,
    ) -> io::Result<File> {
        if rel.is_absolute() {
            return Err(io::Error::from_raw_os_error(libc::EXDEV));
        }
        let fd = match resolver {
            Resolver::Cached if !OPENAT2.load(Relaxed) => Err(io::ErrorKind::WouldBlock.into()),
            Resolver::Cached => match self.openat2(rel, follow_symlinks, libc::RESOLVE_CACHED) {
                Err(e) if unavailable(&e) || e.raw_os_error() == Some(libc::EINVAL) => {
                    // No openat2, or no RESOLVE_CACHED (before Linux 5.12).
                    Err(io::ErrorKind::WouldBlock.into())
                }
                other => other,
            },
            Resolver::Auto if OPENAT2.load(Relaxed) => {
                match self.openat2(rel, follow_symlinks, 0) {
                    Err(e) if unavailable(&e) => {
                        if e.raw_os_error() == Some(libc::ENOSYS) {
                            OPENAT2.store(false, Relaxed);
                        }
                        self.walk(rel, follow_symlinks)
                    }
                    other => other,
                }
            }
            _ => self.walk(rel, follow_symlinks),
        }?;
        Ok(File::from(fd))
    }

    fn openat2(&self, rel: &Path, follow_symlinks: bool, extra: u64) -> io::Result<OwnedFd> {
        let rel = if rel.as_os_str().is_empty() {
            Path::new(".")
        } else {
            rel
        };
        let c = cstr(rel.as_os_str())?;
        let mut resolve = libc::RESOLVE_BENEATH | libc::RESOLVE_NO_MAGICLINKS | extra;
        if !follow_symlinks {
            resolve |= libc::RESOLVE_NO_SYMLINKS;
        }
        // SAFETY: open_how is plain data; all-zero is its "nothing asked" value.
        let mut how: libc::open_how = unsafe { std::mem::zeroed() };
        how.flags = OPEN_FLAGS as u64;
        how.resolve = resolve;
        // The kernel answers EAGAIN when a concurrent rename or mount keeps
        // it from proving the walk stayed inside: try again a few times.
        let mut tries = 0;
        loop {
            // SAFETY: the directory fd is open for the call; `c` and `how`
            // outlive it and the size passed is `how`'s own.
            let fd = unsafe {
                libc::syscall(
                    libc::SYS_openat2,
                    self.fd.as_raw_fd(),
                    c.as_ptr(),
                    &how as *const libc::open_how,
                    std::mem::size_of::<libc::open_how>(),
                )
            };
            match owned(fd as libc::c_int) {
                // With RESOLVE_CACHED, EAGAIN means "not from the caches".
                Err(e) if e.raw_os_error() == Some(libc::EAGAIN) && extra == 0 && tries < 8 => {
                    tries += 1
                }
                other => return other,
            }
        }
    }

    /// The fallback: one component at a time, every directory opened with
    /// `O_PATH | O_DIRECTORY | O_NOFOLLOW`, the last one with `O_NOFOLLOW`;
    /// a link met on the way is read and walked in turn when followed.
    fn walk(&self, rel: &Path, follow_symlinks: bool) -> io::Result<OwnedFd> {
        let mut pending: Vec<OsString> = Vec::new();
        push_components(&mut pending, rel.as_os_str());
        // Directories entered so far; empty: at the root.
        let mut entered: Vec<OwnedFd> = Vec::new();
        let mut links = 0;
        while let Some(name) = pending.pop() {
            if name == ".." {
                if entered.pop().is_none() {
                    return Err(io::Error::from_raw_os_error(libc::EXDEV));
                }
                continue;
            }
            let at = entered.last().map_or(self.fd.as_fd(), |d| d.as_fd());
            let last = pending.is_empty();
            let flags = if last {
                OPEN_FLAGS | libc::O_NOFOLLOW
            } else {
                libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC
            };
            match openat(at, &name, flags) {
                Ok(fd) if last => return Ok(fd),
                Ok(fd) => entered.push(fd),
                // ELOOP: the last component is a link; ENOTDIR: a link (or
                // a file) where a directory must be.
                Err(e) if matches!(e.raw_os_error(), Some(libc::ELOOP | libc::ENOTDIR)) => {
                    let target = match readlinkat(at, &name) {
                        Ok(target) => target,
                        Err(_) => return Err(e), // not a link
                    };
                    if !follow_symlinks {
                        return Err(io::Error::from_raw_os_error(libc::ELOOP));
                    }
                    links += 1;
                    if links > MAX_LINKS {
                        return Err(io::Error::from_raw_os_error(libc::ELOOP));
                    }
                    if target.as_bytes().first() == Some(&b'/') {
                        return Err(io::Error::from_raw_os_error(libc::EXDEV));
                    }
                    push_components(&mut pending, &target);
                }
                Err(e) => return Err(e),
            }
        }
        // Nothing left to open: the directory reached itself.
        let at = entered.last().map_or(self.fd.as_fd(), |d| d.as_fd());
        openat(at, OsStr::new("."), OPEN_FLAGS)
    }
}

/// Pushes `path`'s components onto `stack` so that the first is popped
/// first (empty and `.` components dropped).
fn push_components(stack: &mut Vec<OsString>, path: &OsStr) {
    let parts: Vec<&[u8]> = path
        .as_bytes()
        .split(|&b| b == b'/')
        .filter(|p| !p.is_empty() && *p != b".")
        .collect();
    for part in parts.into_iter().rev() {
        stack.push(OsString::from_vec(part.to_vec()));
    }
}

/// Whether `openat2` itself is missing or refused (an old kernel, a
/// seccomp filter): the walk does the job instead.
fn unavailable(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENOSYS | libc::EPERM))
}

fn cstr(s: &OsStr) -> io::Result<CString> {
    CString::new(s.as_bytes()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
}

/// The descriptor a syscall returned, or its error.
fn owned(fd: libc::c_int) -> io::Result<OwnedFd> {
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a non-negative result of open/openat/openat2 is a new
    // descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn openat(at: BorrowedFd<'_>, name: &OsStr, flags: libc::c_int) -> io::Result<OwnedFd> {
    let c = cstr(name)?;
    // SAFETY: `at` is an open descriptor for the call; `c` is a
    // NUL-terminated name that outlives it.
    owned(unsafe { libc::openat(at.as_raw_fd(), c.as_ptr(), flags) })
}

fn readlinkat(at: BorrowedFd<'_>, name: &OsStr) -> io::Result<OsString> {
    let c = cstr(name)?;
    let mut buf = vec![0u8; libc::PATH_MAX as usize];
    // SAFETY: `at` is open, `c` outlives the call, and the kernel writes at
    // most `buf.len()` bytes into `buf`.
    let n = unsafe {
        libc::readlinkat(
            at.as_raw_fd(),
            c.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    buf.truncate(n as usize);
    Ok(OsString::from_vec(buf))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::os::unix::fs::symlink;

    /// base/{secret.txt, root/{a.txt, sub/b.txt, links...}}
    fn tree(name: &str) -> PathBuf {
        let base =
            std::env::temp_dir().join(format!("percore-beneath-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let root = base.join("root");
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::write(root.join("a.txt"), "a").unwrap();
        std::fs::write(root.join("sub/b.txt"), "b").unwrap();
        std::fs::write(base.join("secret.txt"), "secret").unwrap();
        symlink("../secret.txt", root.join("out")).unwrap();
        symlink(base.join("secret.txt"), root.join("out_abs")).unwrap();
        symlink("..", root.join("up")).unwrap();
        symlink("sub/b.txt", root.join("in")).unwrap();
        symlink("sub", root.join("subdir")).unwrap();
        symlink("../a.txt", root.join("sub/back")).unwrap();
        symlink(root.join("a.txt"), root.join("in_abs")).unwrap();
        symlink("loop", root.join("loop")).unwrap();
        base
    }

    fn read(root: &RootDir, rel: &str, follow: bool, resolver: Resolver) -> io::Result<String> {
        let mut text = String::new();
        root.open_file(rel.as_ref(), follow, resolver)?
            .read_to_string(&mut text)?;
        Ok(text)
    }

    #[test]
    fn both_resolvers_keep_inside_the_root() {
        let base = tree("rules");
        let root = RootDir::open(base.join("root")).unwrap();
        for resolver in [Resolver::Auto, Resolver::Walk] {
            for follow in [false, true] {
                let at = |rel: &str| read(&root, rel, follow, resolver);
                assert_eq!(at("a.txt").unwrap(), "a", "{resolver:?}");
                assert_eq!(at("sub/b.txt").unwrap(), "b");
                assert_eq!(at("./sub//b.txt").unwrap(), "b");
                // Out of the root, whichever way: refused.
                for escape in [
                    "out",
                    "out_abs",
                    "up/secret.txt",
                    "../secret.txt",
                    "sub/../../secret.txt",
                    "/etc/passwd",
                    "in_abs",
                    "loop",
                    "missing",
                    "a.txt/x",
                ] {
                    assert!(at(escape).is_err(), "{escape} {resolver:?} follow={follow}");
                }
                // Links inside the root: only when followed.
                for (rel, want) in [("in", "b"), ("subdir/b.txt", "b"), ("sub/back", "a")] {
                    match at(rel) {
                        Ok(text) => assert!(follow && text == want, "{rel} {resolver:?}"),
                        Err(_) => assert!(!follow, "{rel} {resolver:?}"),
                    }
                }
                // The directory itself, and one below it.
                for dir in ["", ".", "sub"] {
                    let file = root.open_file(dir.as_ref(), follow, resolver).unwrap();
                    assert!(file.metadata().unwrap().is_dir());
                }
            }
        }
        std::fs::remove_dir_all(base).unwrap();
    }

    #[test]
    fn a_link_swapped_in_after_opening_the_root_is_not_followed_out() {
        let base = tree("swap");
        let root = RootDir::open(base.join("root")).unwrap();
        assert_eq!(
            read(&root, "sub/b.txt", false, Resolver::Auto).unwrap(),
            "b"
        );
        // sub becomes a link to the directory holding the secret.
        std::fs::create_dir(base.join("outside")).unwrap();
        std::fs::write(base.join("outside/b.txt"), "secret").unwrap();
        std::fs::rename(base.join("root/sub"), base.join("old_sub")).unwrap();
        symlink(base.join("outside"), base.join("root/sub")).unwrap();
        for resolver in [Resolver::Auto, Resolver::Walk] {
            for follow in [false, true] {
                assert!(read(&root, "sub/b.txt", follow, resolver).is_err());
            }
        }
        // A relative link out of the root is refused as well.
        std::fs::remove_file(base.join("root/sub")).unwrap();
        symlink("../outside", base.join("root/sub")).unwrap();
        for resolver in [Resolver::Auto, Resolver::Walk] {
            for follow in [false, true] {
                assert!(read(&root, "sub/b.txt", follow, resolver).is_err());
            }
        }
        std::fs::remove_dir_all(base).unwrap();
    }

    #[test]
    fn the_cached_resolver_keeps_the_rules_or_says_would_block() {
        let base = tree("cached");
        let root = RootDir::open(base.join("root")).unwrap();
        // Warm the caches, then ask only them.
        for rel in ["a.txt", "sub/b.txt", "in", "out"] {
            let _ = read(&root, rel, true, Resolver::Auto);
        }
        for follow in [false, true] {
            for (rel, want) in [
                ("a.txt", Some("a")),
                ("sub/b.txt", Some("b")),
                ("out", None),
            ] {
                match read(&root, rel, follow, Resolver::Cached) {
                    Ok(text) => assert_eq!(Some(text.as_str()), want, "{rel}"),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(_) => assert!(want.is_none(), "{rel}"),
                }
            }
            let linked = read(&root, "in", follow, Resolver::Cached);
            assert!(matches!(&linked, Ok(t) if follow && t == "b") || linked.is_err());
        }
        std::fs::remove_dir_all(base).unwrap();
    }

    #[test]
    fn too_many_links_fail() {
        let base = tree("many");
        let root_path = base.join("root");
        std::fs::write(root_path.join("l0"), "end").unwrap();
        for i in 1..=45 {
            symlink(format!("l{}", i - 1), root_path.join(format!("l{i}"))).unwrap();
        }
        let root = RootDir::open(&root_path).unwrap();
        for resolver in [Resolver::Auto, Resolver::Walk] {
            assert_eq!(read(&root, "l39", true, resolver).unwrap(), "end");
            assert!(read(&root, "l45", true, resolver).is_err(), "{resolver:?}");
        }
        std::fs::remove_dir_all(base).unwrap();
    }
}
