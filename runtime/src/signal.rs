//! SIGINT/SIGTERM turned into a graceful-shutdown signal.

use std::io;

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use crate::sync::Shutdown;

/// Raises `shutdown` on the first SIGINT or SIGTERM. A second signal of
/// either kind exits the process at once (status 130), for impatient users.
///
/// ```no_run
/// use percore_runtime::{signal::shutdown_on_signals, sync::Shutdown};
/// let shutdown = Shutdown::new();
/// shutdown_on_signals(shutdown.clone()).unwrap();
/// ```
pub fn shutdown_on_signals(shutdown: Shutdown) -> io::Result<()> {
    let mut signals = Signals::new([SIGINT, SIGTERM])?;
    std::thread::Builder::new()
        .name("percore-signals".into())
        .spawn(move || {
            let mut seen = 0;
            for sig in signals.forever() {
                seen += 1;
                if seen > 1 {
                    std::process::exit(128 + sig);
                }
                tracing::info!("signal {sig}: shutting down gracefully");
                shutdown.trigger();
            }
        })?;
    Ok(())
}
