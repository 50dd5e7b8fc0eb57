//! A one-core `Workers` run on the calling thread: the core's index, its
//! pinning and the thread's affinity after it, a panic, and a run started
//! from inside a runtime (which takes a thread of its own). Signals: see
//! `one_core_signals.rs`.

mod common;
use common::*;

use std::sync::{Arc, Mutex};

use percore_runtime::{allowed_cpus, current_core, DriverChoice, Workers};

/// This thread's id, as the kernel names it.
fn tid() -> libc::pid_t {
    // SAFETY: gettid has no preconditions.
    unsafe { libc::gettid() }
}

both_drivers!(
    one_core_runs_on_the_calling_thread_pinned,
    |d: DriverChoice| {
        let cpus = allowed_cpus();
        let before = allowed_cpus();
        let me = tid();
        let seen = Arc::new(Mutex::new(None));
        let s = seen.clone();
        Workers::new()
            .cores(1)
            .driver(d)
            .handle_signals(false)
            .run(move |w| {
                let s = s.clone();
                async move {
                    *s.lock().unwrap() =
                        Some((tid(), current_core(), w.index, w.cpu, allowed_cpus()));
                }
            })
            .unwrap();
        let (on, core, index, cpu, during) = seen.lock().unwrap().take().unwrap();
        assert_eq!(on, me, "the core runs on the calling thread");
        assert_eq!((core, index), (Some(0), 0));
        assert_eq!(cpu, Some(cpus[0]));
        assert_eq!(during, vec![cpus[0]], "pinned to the first allowed cpu");
        assert_eq!(allowed_cpus(), before, "the affinity is restored");
        assert_eq!(current_core(), None, "no core index after the run");
    }
);

both_drivers!(one_core_unpinned_keeps_the_affinity, |d: DriverChoice| {
    let before = allowed_cpus();
    let seen = Arc::new(Mutex::new(None));
    let s = seen.clone();
    Workers::new()
        .cores(1)
        .pin(false)
        .driver(d)
        .handle_signals(false)
        .run(move |w| {
            let s = s.clone();
            async move {
                *s.lock().unwrap() = Some((w.cpu, allowed_cpus()));
            }
        })
        .unwrap();
    let (cpu, during) = seen.lock().unwrap().take().unwrap();
    assert_eq!(cpu, None);
    assert_eq!(during, before);
});

both_drivers!(a_panicking_one_core_run_is_an_error, |d: DriverChoice| {
    let before = allowed_cpus();
    let err = Workers::new()
        .cores(1)
        .driver(d)
        .handle_signals(false)
        .run(|_w| async { panic!("the core fails (expected by the test)") })
        .unwrap_err();
    assert!(err.to_string().contains("panicked"), "{err}");
    assert_eq!(allowed_cpus(), before, "the affinity is restored");
    assert_eq!(current_core(), None);
    // The thread can run another core after it.
    let ran = Arc::new(Mutex::new(false));
    let r = ran.clone();
    Workers::new()
        .cores(1)
        .driver(d)
        .handle_signals(false)
        .run(move |_w| {
            let r = r.clone();
            async move { *r.lock().unwrap() = true }
        })
        .unwrap();
    assert!(*ran.lock().unwrap());
});

// Inside a runtime the calling thread is taken: the core gets a worker
// thread, as with more cores.
both_drivers!(
    one_core_inside_a_runtime_takes_a_thread,
    |d: DriverChoice| {
        let me = tid();
        let seen = Arc::new(Mutex::new(None));
        let s = seen.clone();
        block_on(d, async move {
            Workers::new()
                .cores(1)
                .driver(d)
                .handle_signals(false)
                .run(move |w| {
                    let s = s.clone();
                    async move {
                        *s.lock().unwrap() = Some((tid(), current_core(), w.index));
                    }
                })
                .unwrap();
        });
        let (on, core, index) = seen.lock().unwrap().take().unwrap();
        assert_ne!(on, me);
        assert_eq!((core, index), (Some(0), 0));
    }
);

both_drivers!(every_worker_thread_knows_its_core, |d: DriverChoice| {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    Workers::new()
        .cores(3)
        .pin(false)
        .driver(d)
        .handle_signals(false)
        .run(move |w| {
            let s = s.clone();
            async move {
                s.lock().unwrap().push((w.index, current_core()));
            }
        })
        .unwrap();
    let mut seen = seen.lock().unwrap().clone();
    seen.sort();
    assert_eq!(seen, vec![(0, Some(0)), (1, Some(1)), (2, Some(2))]);
    assert_eq!(current_core(), None);
});
