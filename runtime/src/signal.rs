//! SIGINT/SIGTERM turned into a graceful-shutdown signal; SIGHUP into a
//! callback ([`on_hangup`], e.g. to reload certificates).
//!
//! One process-wide thread waits for the signals and raises every
//! [`Shutdown`] registered with [`shutdown_on_signals`]. A signal that finds
//! nothing left to shut down gracefully (a second Ctrl-C) exits the process
//! at once with status 128 + signal.

use std::io;
use std::sync::{Mutex, OnceLock};

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use crate::sync::{lock, Shutdown};

fn registered() -> &'static Mutex<Vec<Shutdown>> {
    static REGISTERED: Mutex<Vec<Shutdown>> = Mutex::new(Vec::new());
    &REGISTERED
}

fn start_listener() -> io::Result<()> {
    static STARTED: OnceLock<Result<(), String>> = OnceLock::new();
    let started = STARTED.get_or_init(|| {
        let mut signals = Signals::new([SIGINT, SIGTERM]).map_err(|e| e.to_string())?;
        std::thread::Builder::new()
            .name("percore-signals".into())
            .spawn(move || {
                for sig in signals.forever() {
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
            })
            .map(drop)
            .map_err(|e| e.to_string())
    });
    started.clone().map_err(io::Error::other)
}

/// Raises `shutdown` on the next SIGINT or SIGTERM.
///
/// ```no_run
/// use percore_runtime::{signal::shutdown_on_signals, sync::Shutdown};
/// let shutdown = Shutdown::new();
/// shutdown_on_signals(shutdown.clone()).unwrap();
/// ```
pub fn shutdown_on_signals(shutdown: Shutdown) -> io::Result<()> {
    start_listener()?;
    lock(registered()).push(shutdown);
    Ok(())
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
