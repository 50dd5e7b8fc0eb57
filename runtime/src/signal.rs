//! SIGINT/SIGTERM turned into a graceful-shutdown signal; SIGHUP into a
//! callback ([`on_hangup`], e.g. to reload certificates).
//!
//! A process-wide handler, installed once and never removed, writes each
//! SIGINT/SIGTERM as one byte into a socket pair. A *relay* reads those
//! bytes and raises every [`Shutdown`] registered with
//! [`shutdown_on_signals`] (or by a one-core [`Workers`](crate::Workers)
//! run). The relays are the thread `percore-signals`, started by the first
//! [`shutdown_on_signals`] and kept for good, and a task on the core of a
//! one-core run while that run lasts (so such a process keeps to one
//! thread). Once the handler is installed, a signal that finds nothing
//! left to shut down gracefully (a second Ctrl-C), that comes while no
//! relay reads, or that comes while the previous one is still unread (a
//! core stuck in a handler never runs its relay), exits the process at
//! once with status 128 + signal.

use std::io::{self, Read};
use std::os::fd::{AsRawFd, IntoRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use crate::net::socket::Socket;
use crate::sync::{lock, Shutdown};

fn registered() -> &'static Mutex<Vec<Shutdown>> {
    static REGISTERED: Mutex<Vec<Shutdown>> = Mutex::new(Vec::new());
    &REGISTERED
}

/// Relays reading the signal bytes now: the signal thread once started,
/// and each one-core run while it lasts. The handler exits the process
/// when it finds none.
static RELAYS: AtomicUsize = AtomicUsize::new(0);

/// Held while a relay starts or stops (not by the handler).
static RELAYS_CHANGING: Mutex<()> = Mutex::new(());

/// Signal bytes the handler sent that no relay has read yet. A signal
/// that finds one still unread ends the process: the relay that should
/// read it is not running (a one-core run whose core is stuck), so a
/// second Ctrl-C must not wait for it.
static UNREAD: AtomicUsize = AtomicUsize::new(0);

/// The read end of the socket pair the handler writes signals into
/// (non-blocking: a read finds the bytes there or none).
fn signal_bytes() -> io::Result<&'static UnixStream> {
    static READ_END: OnceLock<Result<UnixStream, String>> = OnceLock::new();
    READ_END
        .get_or_init(|| install().map_err(|e| e.to_string()))
        .as_ref()
        .map_err(|e| io::Error::other(e.clone()))
}

/// Makes the socket pair and installs the handler for SIGINT and SIGTERM.
fn install() -> io::Result<UnixStream> {
    let (read, write) = UnixStream::pair()?;
    read.set_nonblocking(true)?;
    write.set_nonblocking(true)?;
    // Never closed: the handler writes to it for the rest of the process.
    let write = write.into_raw_fd();
    for sig in [SIGINT, SIGTERM] {
        // SAFETY: the action makes async-signal-safe calls only (an atomic
        // load, `send(2)`, `_exit(2)`) and touches no lock or allocation.
        unsafe { signal_hook::low_level::register(sig, move || on_signal(sig, write)) }?;
    }
    Ok(read)
}

/// The handler's action: the signal's number as one byte to the relays,
/// or the process's end when no relay reads.
fn on_signal(sig: libc::c_int, write: RawFd) {
    if RELAYS.load(Ordering::SeqCst) == 0 || UNREAD.fetch_add(1, Ordering::SeqCst) > 0 {
        // SAFETY: `_exit` is async-signal-safe and ends the process.
        unsafe { libc::_exit(128 + sig) };
    }
    let byte = sig as u8;
    // SAFETY: one byte from a valid local; the descriptor stays open. A full
    // socket buffer (thousands of signals unread) drops this one.
    unsafe {
        libc::send(
            write,
            (&byte as *const u8).cast(),
            1,
            libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
        )
    };
}

/// Raises every registered shutdown not raised yet, or ends the process
/// when there is none.
fn deliver(sig: libc::c_int) {
    let pending = std::mem::take(&mut *lock(registered()));
    let live: Vec<_> = pending.into_iter().filter(|s| !s.is_triggered()).collect();
    if live.is_empty() {
        std::process::exit(128 + sig);
    }
    tracing::info!("signal {sig}: shutting down gracefully");
    for s in live {
        s.trigger();
    }
}

/// The signal bytes waiting in `read` (up to 64), without waiting.
fn take_bytes(mut read: &UnixStream) -> Vec<u8> {
    let mut buf = [0u8; 64];
    let n = read.read(&mut buf).unwrap_or(0);
    // Counted before it was sent, so never below what is read.
    UNREAD.fetch_sub(n, Ordering::SeqCst);
    buf[..n].to_vec()
}

/// Counts one more relay. The first relay to start throws away bytes a
/// signal left behind when the last one stopped (a handler that saw a
/// relay an instant before it stopped).
fn relay_starts(read: &UnixStream) {
    let _changing = lock(&RELAYS_CHANGING);
    if RELAYS.load(Ordering::SeqCst) == 0 {
        while !take_bytes(read).is_empty() {}
    }
    RELAYS.fetch_add(1, Ordering::SeqCst);
}

/// Counts one relay fewer; the last one delivers the signals that came
/// while it was stopping (from then on the handler itself exits).
fn relay_stops(read: &UnixStream) {
    let _changing = lock(&RELAYS_CHANGING);
    if RELAYS.fetch_sub(1, Ordering::SeqCst) == 1 {
        loop {
            let bytes = take_bytes(read);
            if bytes.is_empty() {
                break;
            }
            bytes.into_iter().for_each(|b| deliver(b.into()));
        }
    }
}

fn start_thread() -> io::Result<()> {
    static STARTED: OnceLock<Result<(), String>> = OnceLock::new();
    let started = STARTED.get_or_init(|| {
        let read = signal_bytes().map_err(|e| e.to_string())?;
        relay_starts(read);
        let spawned = std::thread::Builder::new()
            .name("percore-signals".into())
            .spawn(move || loop {
                let mut pfd = libc::pollfd {
                    fd: read.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                };
                // SAFETY: one valid pollfd; waits without a timeout.
                if unsafe { libc::poll(&mut pfd, 1, -1) } < 0 {
                    continue; // EINTR
                }
                // Another relay may have taken the bytes first: then none.
                take_bytes(read).into_iter().for_each(|b| deliver(b.into()));
            });
        if spawned.is_err() {
            relay_stops(read);
        }
        spawned.map(drop).map_err(|e| e.to_string())
    });
    started.clone().map_err(io::Error::other)
}

/// Raises `shutdown` on the next SIGINT or SIGTERM (through the process's
/// signal thread, started by the first call).
///
/// ```no_run
/// use percore_runtime::{signal::shutdown_on_signals, sync::Shutdown};
/// let shutdown = Shutdown::new();
/// shutdown_on_signals(shutdown.clone()).unwrap();
/// ```
pub fn shutdown_on_signals(shutdown: Shutdown) -> io::Result<()> {
    start_thread()?;
    lock(registered()).push(shutdown);
    Ok(())
}

/// A relay on the calling thread's core (a one-core run): counted from
/// [`relay_here`] until dropped. [`run`](Self::run) is its task.
#[derive(Debug)]
pub(crate) struct LocalRelay {
    read: &'static UnixStream,
    /// The run's shutdown, registered while the relay lasts.
    shutdown: Shutdown,
}

/// Registers `shutdown` to be raised by SIGINT/SIGTERM through a relay
/// that runs as a task of this thread's runtime (no signal thread).
pub(crate) fn relay_here(shutdown: Shutdown) -> io::Result<LocalRelay> {
    let read = signal_bytes()?;
    // Registered first: a signal the signal thread relays meanwhile finds
    // it and does not end the process.
    lock(registered()).push(shutdown.clone());
    relay_starts(read);
    Ok(LocalRelay { read, shutdown })
}

impl LocalRelay {
    /// Reads the signal bytes on the current runtime and delivers them,
    /// until the runtime drops the task. A descriptor of its own (a
    /// duplicate of the read end) is registered with the driver.
    pub(crate) fn run(&self) -> impl std::future::Future<Output = ()> + 'static {
        let read = self.read;
        async move {
            if let Err(e) = relay(read).await {
                tracing::warn!("the signal relay stopped: {e}; SIGINT/SIGTERM are ignored");
            }
        }
    }
}

impl Drop for LocalRelay {
    fn drop(&mut self) {
        // The run is over: a signal still unread must not count it as
        // something left to shut down.
        lock(registered()).retain(|s| !s.same(&self.shutdown));
        relay_stops(self.read);
    }
}

async fn relay(read: &'static UnixStream) -> io::Result<()> {
    // A descriptor of its own for the driver (the read end's mode is
    // shared by the duplicate: non-blocking).
    let own = Socket::as_is(OwnedFd::from(read.try_clone()?).into())?;
    loop {
        own.readable().await?;
        take_bytes(read).into_iter().for_each(|b| deliver(b.into()));
    }
}

/// Calls `reload` on a thread of its own at every SIGHUP (instead of the
/// default, which ends the process): the conventional "reload your
/// configuration" signal. Each call registers one more callback.
///
/// ```no_run
/// percore_runtime::signal::on_hangup(|| eprintln!("SIGHUP: reloading")).unwrap();
/// ```
pub fn on_hangup(mut reload: impl FnMut() + Send + 'static) -> io::Result<()> {
    let mut signals = Signals::new([SIGHUP])?;
    std::thread::Builder::new()
        .name("percore-sighup".into())
        .spawn(move || {
            for _ in signals.forever() {
                reload();
            }
        })
        .map(drop)
}
