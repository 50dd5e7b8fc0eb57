//! SIGINT and SIGTERM while a one-core run is on: the first sets a flag
//! (the run stops, the summary is printed), a second ends the process
//! (status 128 + signal). The handlers last as long as the run: once the
//! [`RunSignals`] guard is dropped, its actions are unregistered and the
//! signals act as by default again (the process terminates), instead of
//! setting a flag nobody looks at.
//!
//! signal-hook cannot give a signal its default action back once it has
//! registered one (its handler stays, and with no action left it would
//! ignore the signal), so each signal also gets, once per process, an
//! action that runs the default one while no run is on.

use std::io;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::SigId;

/// The signals a run handles.
const SIGNALS: [i32; 2] = [SIGINT, SIGTERM];

/// Runs on now, and the flag that is true while there are none (the
/// once-per-process default actions look at it).
static RUNS: Mutex<Option<(usize, Arc<AtomicBool>)>> = Mutex::new(None);

/// Counts how many times [`RunSignals::install`] registered the default
/// actions (once per process; for the tests).
static DEFAULTS_REGISTERED: AtomicUsize = AtomicUsize::new(0);

/// A run's SIGINT/SIGTERM actions, unregistered when dropped.
#[derive(Debug)]
pub struct RunSignals {
    ids: Vec<SigId>,
    /// Counted among the runs on (its actions all registered).
    counted: bool,
}

impl RunSignals {
    /// Registers the run's actions: the first signal sets `interrupted`,
    /// a second (with `interrupted` set) ends the process.
    pub fn install(interrupted: &Arc<AtomicBool>) -> io::Result<RunSignals> {
        default_actions()?;
        // From here on, dropping the guard undoes what is registered.
        let mut guard = RunSignals {
            ids: Vec::new(),
            counted: false,
        };
        for signal in SIGNALS {
            // The shutdown first: at the first signal the flag is not
            // set yet, so only the second one ends the process.
            guard
                .ids
                .push(signal_hook::flag::register_conditional_shutdown(
                    signal,
                    128 + signal,
                    interrupted.clone(),
                )?);
            guard
                .ids
                .push(signal_hook::flag::register(signal, interrupted.clone())?);
        }
        // The run's actions are in place: only now do the default ones
        // stand aside (a signal before this ends the process, as it
        // would without a run).
        if let Some((count, idle)) = &mut *runs() {
            *count += 1;
            idle.store(false, Ordering::SeqCst);
            guard.counted = true;
        }
        Ok(guard)
    }
}

/// The run registry, whatever a panicking holder left in it.
fn runs() -> std::sync::MutexGuard<'static, Option<(usize, Arc<AtomicBool>)>> {
    RUNS.lock().unwrap_or_else(|e| e.into_inner())
}

/// Registers, once per process, the actions that run each signal's
/// default while no run is on (all of them, or none when one fails).
fn default_actions() -> io::Result<()> {
    let mut runs = runs();
    if runs.is_some() {
        return Ok(());
    }
    let idle = Arc::new(AtomicBool::new(true));
    let mut ids = Vec::new();
    for signal in SIGNALS {
        match signal_hook::flag::register_conditional_default(signal, idle.clone()) {
            Ok(id) => ids.push(id),
            Err(e) => {
                for id in ids {
                    signal_hook::low_level::unregister(id);
                }
                return Err(e);
            }
        }
    }
    DEFAULTS_REGISTERED.fetch_add(1, Ordering::Relaxed);
    *runs = Some((0, idle));
    Ok(())
}

impl Drop for RunSignals {
    fn drop(&mut self) {
        // The default actions take over first, then the run's go: a
        // signal in between ends the process, as it would after the run.
        if self.counted {
            if let Some((count, idle)) = &mut *runs() {
                *count -= 1;
                if *count == 0 {
                    idle.store(true, Ordering::SeqCst);
                }
            }
        }
        for id in self.ids.drain(..) {
            signal_hook::low_level::unregister(id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;
    use std::process::Command;

    /// The child half of `a_signal_after_the_run_terminates_the_process`.
    const CHILD: &str = "PERCORE_LOAD_SIGNALS_CHILD";

    #[test]
    fn handlers_last_as_long_as_the_run() {
        if std::env::var_os(CHILD).is_some() {
            return;
        }
        let interrupted = Arc::new(AtomicBool::new(false));
        let guard = RunSignals::install(&interrupted).unwrap();
        let ids = guard.ids.clone();
        assert_eq!(ids.len(), 4);
        // The first SIGINT of a run sets the flag and nothing more.
        signal_hook::low_level::raise(SIGINT).unwrap();
        assert!(interrupted.load(Ordering::SeqCst));
        drop(guard);
        for id in ids {
            assert!(
                !signal_hook::low_level::unregister(id),
                "an action outlived its run"
            );
        }
        // A second run registers its own actions, not the defaults again.
        let again = Arc::new(AtomicBool::new(false));
        drop(RunSignals::install(&again).unwrap());
        assert_eq!(DEFAULTS_REGISTERED.load(Ordering::Relaxed), 1);
        // After the run, SIGINT terminates a process as by default: in a
        // child (this test binary, running only the child half below).
        let status = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "signals::tests::child_runs_then_gets_sigint",
                "--nocapture",
            ])
            .env(CHILD, "1")
            .status()
            .unwrap();
        assert_eq!(status.signal(), Some(SIGINT), "{status:?}");
    }

    /// In the child: a run's handlers come and go, then SIGINT, which must
    /// end the process by the signal (so the parent sees it, not a pass).
    #[test]
    fn child_runs_then_gets_sigint() {
        if std::env::var_os(CHILD).is_none() {
            return;
        }
        let interrupted = Arc::new(AtomicBool::new(false));
        drop(RunSignals::install(&interrupted).unwrap());
        signal_hook::low_level::raise(SIGINT).unwrap();
        // Still here: the signal was ignored or only set a flag.
        std::process::exit(3);
    }
}
