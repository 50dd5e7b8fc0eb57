//! The two I/O drivers behind one API: io_uring (default) and epoll (via mio).
//!
//! A runtime owns exactly one driver. `DriverChoice::Auto` uses io_uring and
//! falls back to epoll when the kernel refuses io_uring (ENOSYS on old
//! kernels, EPERM under seccomp or `kernel.io_uring_disabled`); the reason is
//! kept in [`DriverInfo`] and logged. `PERCORE_DRIVER=uring|epoll` overrides
//! the automatic choice.

pub(crate) mod buf_ring;
pub(crate) mod epoll;
pub(crate) mod fd;
pub(crate) mod op;
pub(crate) mod uring;

use std::fmt;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::Arc;
use std::time::Duration;

/// Which driver a runtime should use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DriverChoice {
    /// io_uring when available, else epoll; `PERCORE_DRIVER` may override.
    #[default]
    Auto,
    /// io_uring, or an error if the kernel refuses it.
    Uring,
    /// epoll.
    Epoll,
}

impl std::str::FromStr for DriverChoice {
    type Err = String;

    /// Parses `auto`, `uring` (or `io_uring`) and `epoll`.
    ///
    /// ```
    /// use percore_runtime::DriverChoice;
    /// assert_eq!("epoll".parse::<DriverChoice>(), Ok(DriverChoice::Epoll));
    /// assert!("kqueue".parse::<DriverChoice>().is_err());
    /// ```
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" | "" => Ok(DriverChoice::Auto),
            "uring" | "io_uring" | "io-uring" => Ok(DriverChoice::Uring),
            "epoll" => Ok(DriverChoice::Epoll),
            other => Err(format!(
                "unknown driver {other:?} (expected uring, epoll or auto)"
            )),
        }
    }
}

/// The driver a runtime actually got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DriverKind {
    /// io_uring.
    Uring,
    /// epoll (through mio).
    Epoll,
}

impl fmt::Display for DriverKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DriverKind::Uring => "io_uring",
            DriverKind::Epoll => "epoll",
        })
    }
}

/// The driver a runtime got and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DriverInfo {
    /// The driver in use.
    pub kind: DriverKind,
    /// Why this driver was chosen (including an io_uring setup error).
    pub reason: String,
}

impl fmt::Display for DriverInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.kind, self.reason)
    }
}

/// Wakes a parked driver from another thread.
pub(crate) enum Unparker {
    Eventfd(Arc<OwnedFd>),
    Mio(Arc<mio::Waker>),
}

impl Unparker {
    pub(crate) fn unpark(&self) {
        match self {
            Unparker::Eventfd(fd) => {
                let one: u64 = 1;
                // SAFETY: writes 8 bytes from a live u64 to an eventfd we own.
                let _ = unsafe {
                    libc::write(
                        fd.as_raw_fd(),
                        (&one as *const u64).cast(),
                        std::mem::size_of::<u64>(),
                    )
                };
            }
            Unparker::Mio(waker) => {
                let _ = waker.wake();
            }
        }
    }
}

#[allow(clippy::large_enum_variant)] // one per thread, never moved after creation
pub(crate) enum Driver {
    Uring(uring::Uring),
    Epoll(epoll::Epoll),
}

fn env_choice() -> Option<DriverChoice> {
    let value = std::env::var("PERCORE_DRIVER").ok()?;
    match value.parse() {
        Ok(choice) => Some(choice),
        Err(e) => {
            tracing::warn!("PERCORE_DRIVER ignored: {e}");
            None
        }
    }
}

impl Driver {
    pub(crate) fn new(
        choice: DriverChoice,
        entries: u32,
        features: uring::Features,
    ) -> io::Result<(Driver, DriverInfo)> {
        let (choice, source) = match choice {
            DriverChoice::Auto => match env_choice() {
                Some(c) => (c, "PERCORE_DRIVER"),
                None => (DriverChoice::Auto, "default"),
            },
            c => (c, "builder"),
        };
        let epoll = |reason: String| -> io::Result<(Driver, DriverInfo)> {
            Ok((
                Driver::Epoll(epoll::Epoll::new()?),
                DriverInfo {
                    kind: DriverKind::Epoll,
                    reason,
                },
            ))
        };
        match choice {
            DriverChoice::Epoll => epoll(format!("requested by {source}")),
            DriverChoice::Uring => Ok((
                Driver::Uring(uring::Uring::new(entries, features)?),
                DriverInfo {
                    kind: DriverKind::Uring,
                    reason: format!("requested by {source}"),
                },
            )),
            DriverChoice::Auto => match uring::Uring::new(entries, features) {
                Ok(ring) => Ok((
                    Driver::Uring(ring),
                    DriverInfo {
                        kind: DriverKind::Uring,
                        reason: "default".into(),
                    },
                )),
                Err(e) => {
                    tracing::warn!("io_uring unavailable ({e}); falling back to epoll");
                    epoll(format!("io_uring setup failed: {e}"))
                }
            },
        }
    }

    pub(crate) fn unparker(&self) -> Unparker {
        match self {
            Driver::Uring(d) => d.unparker(),
            Driver::Epoll(d) => d.unparker(),
        }
    }

    /// Submits pending work and waits for events up to `timeout` (`None`: forever).
    pub(crate) fn park(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        match self {
            Driver::Uring(d) => d.park(timeout),
            Driver::Epoll(d) => d.park(timeout),
        }
    }

    pub(crate) fn shutdown(&mut self) {
        if let Driver::Uring(d) = self {
            d.shutdown();
        }
    }
}
