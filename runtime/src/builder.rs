//! [`Builder`]: a runtime's configuration (driver, ring size, io_uring
//! features, each with its `PERCORE_*` environment default).

use std::io;

use crate::driver::{Driver, DriverChoice};
use crate::runtime::Runtime;

/// Multishot accept's default (see [`Builder::multishot_accept`]).
const MULTISHOT_ACCEPT_DEFAULT: bool = true;

/// Multishot receive's default (see [`Builder::multishot_recv`]).
const MULTISHOT_RECV_DEFAULT: bool = true;

/// Registered descriptors' default (see [`Builder::registered_fds`]).
const REGISTERED_FDS_DEFAULT: bool = false;

/// Fixed-file slots per ring by default (see [`Builder::registered_fds_slots`]).
const REGISTERED_FDS_SLOTS_DEFAULT: u32 = 4096;

/// Zero-copy send's default (see [`Builder::zerocopy_send`]).
const ZEROCOPY_SEND_DEFAULT: bool = false;

/// The smallest write sent zero-copy by default (see
/// [`Builder::zerocopy_send_min`]).
const ZEROCOPY_SEND_MIN_DEFAULT: usize = 16 * 1024;

/// Configures a [`Runtime`].
///
/// ```
/// use percore_runtime::{Builder, DriverChoice};
/// let rt = Builder::new().driver(DriverChoice::Epoll).build().unwrap();
/// assert_eq!(rt.driver().kind, percore_runtime::DriverKind::Epoll);
/// ```
#[derive(Debug, Clone)]
pub struct Builder {
    driver: DriverChoice,
    ring_entries: u32,
    provided_buffers: bool,
    multishot_accept: bool,
    multishot_recv: bool,
    zerocopy_send: bool,
    zerocopy_send_min: usize,
    registered_fds: bool,
    registered_fds_slots: u32,
    /// The best io_uring setup to try (`PERCORE_URING_SETUP`, for A/B).
    uring_setup: crate::driver::uring::Setup,
}

/// Whether `PERCORE_{name}` switches a default-on feature off (`0`, `off`,
/// `false`), or a default-off one on (`1`, `on`, `true`).
fn env_switch(name: &str, default: bool) -> bool {
    match std::env::var(name).as_deref() {
        Ok("0" | "off" | "false") => false,
        Ok("1" | "on" | "true") => true,
        _ => default,
    }
}

impl Default for Builder {
    fn default() -> Self {
        Builder::new()
    }
}

impl Builder {
    /// A builder with the automatic driver choice and default ring size.
    pub fn new() -> Builder {
        Builder {
            driver: DriverChoice::Auto,
            ring_entries: 1024,
            provided_buffers: env_switch("PERCORE_PROVIDED_BUFFERS", true),
            multishot_accept: env_switch("PERCORE_MULTISHOT_ACCEPT", MULTISHOT_ACCEPT_DEFAULT),
            multishot_recv: env_switch("PERCORE_MULTISHOT_RECV", MULTISHOT_RECV_DEFAULT),
            zerocopy_send: env_switch("PERCORE_ZEROCOPY_SEND", ZEROCOPY_SEND_DEFAULT),
            zerocopy_send_min: std::env::var("PERCORE_ZEROCOPY_SEND_MIN")
                .ok()
                .and_then(|s| s.trim().parse().ok())
                .unwrap_or(ZEROCOPY_SEND_MIN_DEFAULT),
            registered_fds: env_switch("PERCORE_REGISTERED_FDS", REGISTERED_FDS_DEFAULT),
            registered_fds_slots: REGISTERED_FDS_SLOTS_DEFAULT,
            uring_setup: std::env::var("PERCORE_URING_SETUP")
                .ok()
                .and_then(|s| crate::driver::uring::Setup::parse(&s))
                .unwrap_or(crate::driver::uring::Setup::DeferTaskrun),
        }
    }

    /// Selects the I/O driver. `Auto` (the default) honours `PERCORE_DRIVER`
    /// and falls back from io_uring to epoll when io_uring is unavailable.
    pub fn driver(mut self, choice: DriverChoice) -> Builder {
        self.driver = choice;
        self
    }

    /// Submission-queue size of the io_uring driver.
    pub fn ring_entries(mut self, entries: u32) -> Builder {
        self.ring_entries = entries.max(8);
        self
    }

    /// Whether io_uring receives of idle connections use a ring of
    /// provided buffers (`IORING_REGISTER_PBUF_RING`, probed at start-up;
    /// default on): a connection waiting for input then holds no read
    /// buffer. Off, each receive reads into its connection's own buffer.
    /// `PERCORE_PROVIDED_BUFFERS=0` sets the default to off (for A/B
    /// measurements); this method overrides it.
    ///
    /// ```
    /// use percore_runtime::Builder;
    /// let rt = Builder::new().provided_buffers(false).build().unwrap();
    /// rt.block_on(async {});
    /// ```
    pub fn provided_buffers(mut self, on: bool) -> Builder {
        self.provided_buffers = on;
        self
    }

    /// Whether io_uring listeners accept with one multishot
    /// `IORING_OP_ACCEPT` (Linux 5.19, probed at start-up) instead of one
    /// accept per connection. `PERCORE_MULTISHOT_ACCEPT=1`/`0` sets the
    /// default (for A/B measurements); this method overrides it.
    ///
    /// ```
    /// use percore_runtime::Builder;
    /// let rt = Builder::new().multishot_accept(true).build().unwrap();
    /// rt.block_on(async {});
    /// ```
    pub fn multishot_accept(mut self, on: bool) -> Builder {
        self.multishot_accept = on;
        self
    }

    /// Whether io_uring connections receive with one multishot
    /// `IORING_OP_RECV` into the provided buffers (Linux 6.0, probed at
    /// start-up; needs [`provided_buffers`](Self::provided_buffers))
    /// instead of one receive per read: armed by a connection's first
    /// read, it stays in the kernel, and what it receives queues per
    /// connection (a few buffers; past that the kernel's socket buffer and
    /// TCP's window push back) until read. `PERCORE_MULTISHOT_RECV=1`/`0`
    /// sets the default (for A/B measurements); this method overrides it.
    ///
    /// ```
    /// use percore_runtime::Builder;
    /// let rt = Builder::new().multishot_recv(true).build().unwrap();
    /// rt.block_on(async {});
    /// ```
    pub fn multishot_recv(mut self, on: bool) -> Builder {
        self.multishot_recv = on;
        self
    }

    /// Whether io_uring writes of at least
    /// [`zerocopy_send_min`](Self::zerocopy_send_min) bytes are zero-copy
    /// sends (`IORING_OP_SEND_ZC` / `SENDMSG_ZC`, Linux 6.0/6.1, probed at
    /// start-up): the kernel sends from the buffer's pages instead of
    /// copying them, and the write completes when the kernel lets go of
    /// them (for TCP: when the peer acknowledged the bytes, which a peer
    /// may delay by up to 40 ms when it has nothing to send). A socket that
    /// refuses it (a Unix socket) writes with plain sends. Off by default:
    /// on loopback it cost more CPU than it saved (BENCHMARKS.md, issue 19).
    /// `PERCORE_ZEROCOPY_SEND=1`/`0` sets the default (for A/B
    /// measurements); this method overrides it.
    ///
    /// ```
    /// use percore_runtime::Builder;
    /// let rt = Builder::new().zerocopy_send(true).build().unwrap();
    /// rt.block_on(async {});
    /// ```
    pub fn zerocopy_send(mut self, on: bool) -> Builder {
        self.zerocopy_send = on;
        self
    }

    /// The smallest write sent zero-copy when
    /// [`zerocopy_send`](Self::zerocopy_send) is on (default 16 KiB;
    /// `PERCORE_ZEROCOPY_SEND_MIN` sets the default).
    pub fn zerocopy_send_min(mut self, bytes: usize) -> Builder {
        self.zerocopy_send_min = bytes.max(1);
        self
    }

    /// Registers stream sockets (accepted ones, and those
    /// `TcpStream::connect`/`UnixStream::connect` open) in the io_uring
    /// ring's fixed-file table as well (`PERCORE_REGISTERED_FDS=1|0`; off
    /// by default: see BENCHMARKS.md, issue 19): their receives and sends
    /// name the slot, sparing the kernel a descriptor lookup each, at the
    /// cost of a registration syscall per connection. Probed at start-up; a kernel
    /// without sparse tables (before Linux 5.19), or a full table, leaves
    /// sockets unregistered. No effect on epoll.
    ///
    /// ```
    /// use percore_runtime::Builder;
    /// let rt = Builder::new().registered_fds(true).build().unwrap();
    /// ```
    pub fn registered_fds(mut self, on: bool) -> Builder {
        self.registered_fds = on;
        self
    }

    /// Slots of the fixed-file table when [`registered_fds`](Self::registered_fds)
    /// is on (default 4096, at most the descriptor limit): connections
    /// beyond it go unregistered.
    pub fn registered_fds_slots(mut self, slots: u32) -> Builder {
        self.registered_fds_slots = slots.max(1);
        self
    }

    /// Creates the runtime on the current thread.
    pub fn build(&self) -> io::Result<Runtime> {
        let features = crate::driver::uring::Features {
            provided_buffers: self.provided_buffers,
            multishot_accept: self.multishot_accept,
            multishot_recv: self.multishot_recv,
            zerocopy_send_min: self.zerocopy_send.then_some(self.zerocopy_send_min),
            registered_fds: self.registered_fds.then_some(self.registered_fds_slots),
            setup: self.uring_setup,
        };
        let (driver, info) = Driver::new(self.driver, self.ring_entries, features)?;
        Ok(Runtime::on_driver(driver, info))
    }
}
