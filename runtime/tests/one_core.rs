//! A one-core `Workers` run on the calling thread: the core's index, its
//! pinning and the thread's affinity after it, a panic, and a run started
//! from inside a runtime (which takes a thread of its own). Signals: see
//! `one_core_signals.rs`.

mod common;
use common::*;

use std::sync::{Arc, Mutex};
use std::thread::{self, ThreadId};

use percore_runtime::{allowed_cpus, current_core, DriverChoice, WorkerContext, Workers};

/// What `look` saw on each core of a run of `workers` (signals left
/// alone), in the order the cores ran it.
fn seen_by_cores<T: Send + 'static>(
    workers: Workers,
    look: impl Fn(&WorkerContext) -> T + Send + Sync + 'static,
) -> Vec<T> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (s, look) = (seen.clone(), Arc::new(look));
    workers
        .handle_signals(false)
        .run(move |w| {
            let (s, look) = (s.clone(), look.clone());
            async move { s.lock().unwrap().push(look(&w)) }
        })
        .unwrap();
    let seen = std::mem::take(&mut *seen.lock().unwrap());
    seen
}

fn one_core(d: DriverChoice) -> Workers {
    Workers::new().cores(1).driver(d)
}

fn me() -> ThreadId {
    thread::current().id()
}

both_drivers!(
    one_core_runs_on_the_calling_thread_pinned,
    |d: DriverChoice| {
        let cpus = allowed_cpus();
        let before = allowed_cpus();
        let seen = seen_by_cores(one_core(d), |w| {
            (me(), current_core(), w.index, w.cpu, allowed_cpus())
        });
        let [(on, core, index, cpu, during)] = &seen[..] else {
            panic!("one core: {}", seen.len())
        };
        assert_eq!(*on, me(), "the core runs on the calling thread");
        assert_eq!((*core, *index), (Some(0), 0));
        assert_eq!(*cpu, Some(cpus[0]));
        assert_eq!(*during, vec![cpus[0]], "pinned to the first allowed cpu");
        assert_eq!(allowed_cpus(), before, "the affinity is restored");
        assert_eq!(current_core(), None, "no core index after the run");
    }
);

both_drivers!(one_core_unpinned_keeps_the_affinity, |d: DriverChoice| {
    let before = allowed_cpus();
    let seen = seen_by_cores(one_core(d).pin(false), |w| (w.cpu, allowed_cpus()));
    assert_eq!(seen, vec![(None, before)]);
});

both_drivers!(a_panicking_one_core_run_is_an_error, |d: DriverChoice| {
    let before = allowed_cpus();
    let err = one_core(d)
        .handle_signals(false)
        .run(|_w| async { panic!("the core fails (expected by the test)") })
        .unwrap_err();
    assert!(err.to_string().contains("panicked"), "{err}");
    assert_eq!(allowed_cpus(), before, "the affinity is restored");
    assert_eq!(current_core(), None);
    // The thread can run another core after it.
    assert_eq!(seen_by_cores(one_core(d), |_| true), vec![true]);
});

// Inside a runtime the calling thread is taken: the core gets a worker
// thread, as with more cores.
both_drivers!(
    one_core_inside_a_runtime_takes_a_thread,
    |d: DriverChoice| {
        let seen = block_on(d, async move {
            seen_by_cores(one_core(d), |w| (me(), current_core(), w.index))
        });
        let [(on, core, index)] = &seen[..] else {
            panic!("one core: {}", seen.len())
        };
        assert_ne!(*on, me());
        assert_eq!((*core, *index), (Some(0), 0));
    }
);

both_drivers!(every_worker_thread_knows_its_core, |d: DriverChoice| {
    let workers = Workers::new().cores(3).pin(false).driver(d);
    let mut seen = seen_by_cores(workers, |w| (w.index, current_core()));
    seen.sort();
    assert_eq!(seen, vec![(0, Some(0)), (1, Some(1)), (2, Some(2))]);
    assert_eq!(current_core(), None);
});
