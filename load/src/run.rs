//! The run: one pinned worker per core, each with its share of the
//! connections (one core: on the calling thread, the process's only
//! thread); a progress line per second on a terminal; every core's stats
//! merged at the end.

use std::io::{IsTerminal, Write};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use percore_runtime::sync::Shutdown;
use percore_runtime::time::sleep;
use percore_runtime::{spawn_local, DriverChoice, Workers};
use signal_hook::consts::{SIGINT, SIGTERM};

use crate::plan::{Core, Plan, Protocol};
use crate::stats::{Live, Stats, Summary};

/// Where and how hard to run.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    /// Worker threads.
    pub cores: usize,
    /// Connections in total.
    pub connections: usize,
    /// I/O driver.
    pub driver: DriverChoice,
}

/// Runs `plan` with `shape`'s cores and connections until its budget is
/// spent; `stop` ends it early (it is also raised by SIGINT/SIGTERM).
pub fn run(plan: Plan, shape: Shape, stop: Shutdown) -> std::io::Result<Summary> {
    let plan = Arc::new(plan);
    let cores = shape.cores.min(shape.connections).max(1);
    let live: Vec<Arc<Live>> = (0..cores).map(|_| Arc::default()).collect();
    let results = Arc::new(Mutex::new(Vec::with_capacity(cores)));
    let started = Instant::now();
    let finished = Arc::new(AtomicBool::new(false));
    let progress = std::io::stderr()
        .is_terminal()
        .then(|| spawn_progress(live.clone(), finished.clone(), started));
    let outcome = if cores == 1 {
        run_here(&plan, shape, &live[0], &results, stop)
    } else {
        let worker_live = live.clone();
        let worker_results = results.clone();
        Workers::new()
            .cores(cores)
            .driver(shape.driver)
            .shutdown_signal(stop)
            .run(move |ctx| {
                let core = Rc::new(Core::new(plan.clone(), worker_live[ctx.index].clone()));
                let mine = share(shape.connections, ctx.cores, ctx.index);
                run_core(core, mine, worker_results.clone())
            })
    };
    let elapsed = started.elapsed();
    finished.store(true, Ordering::Relaxed);
    if let Some(thread) = progress {
        let _ = thread.join();
    }
    outcome?;
    let mut stats = Stats::default();
    for core in results.lock().unwrap_or_else(|e| e.into_inner()).iter() {
        stats.merge(core);
    }
    Ok(Summary::new(stats, elapsed))
}

/// One core's run: its `connections` and the watchdog, then its stats
/// into `results`.
async fn run_core(core: Rc<Core>, connections: usize, results: Arc<Mutex<Vec<Stats>>>) {
    let tasks: Vec<_> = (0..connections)
        .map(|_| spawn_local(connection(core.clone())))
        .collect();
    let watchdog = spawn_local(crate::io::watchdog(core.clone()));
    for task in tasks {
        let _ = task.await;
    }
    watchdog.abort();
    let stats = core.stats.borrow().clone();
    results
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(stats);
}

/// One core: the run on the calling thread, pinned to the first allowed
/// CPU, with SIGINT/SIGTERM noted by a signal handler (a flag the
/// watchdog's tick looks at), not a signal thread: a process of one
/// thread. With a second thread (a worker, the signal thread) every
/// syscall on a descriptor takes and drops a reference to its file in
/// the kernel (the descriptor table is shared), ~70 ns each here, two
/// or three per keep-alive request (BENCHMARKS.md, epoll19c).
fn run_here(
    plan: &Arc<Plan>,
    shape: Shape,
    live: &Arc<Live>,
    results: &Arc<Mutex<Vec<Stats>>>,
    stop: Shutdown,
) -> std::io::Result<()> {
    let interrupted = Arc::new(AtomicBool::new(false));
    for signal in [SIGINT, SIGTERM] {
        // A second signal, once the first set the flag, ends the process.
        signal_hook::flag::register_conditional_shutdown(
            signal,
            128 + signal,
            interrupted.clone(),
        )?;
        signal_hook::flag::register(signal, interrupted.clone())?;
    }
    if let Some(&cpu) = percore_runtime::allowed_cpus().first() {
        let _ = percore_runtime::pin_current_thread(cpu);
    }
    let rt = percore_runtime::Builder::new()
        .driver(shape.driver)
        .build()?;
    let core = Rc::new(Core::new(plan.clone(), live.clone()));
    rt.block_on(async {
        let relay = spawn_local(relay_signal(interrupted, stop));
        run_core(core, shape.connections, results.clone()).await;
        relay.abort();
    });
    Ok(())
}

/// Raises `stop` once `interrupted` is set (by a signal handler), looking
/// as often as the watchdog does at most.
async fn relay_signal(interrupted: Arc<AtomicBool>, stop: Shutdown) {
    while !interrupted.load(Ordering::Relaxed) {
        sleep(crate::io::MAX_TICK).await;
    }
    stop.trigger();
}

/// The connections of core `index` of `cores`, `total` spread evenly.
fn share(total: usize, cores: usize, index: usize) -> usize {
    total / cores + usize::from(index < total % cores)
}

async fn connection(core: Rc<Core>) {
    match core.plan.protocol {
        Protocol::H1 { depth } => crate::h1::connection(&core, depth).await,
        Protocol::H2 { streams } => crate::h2::connection(&core, streams).await,
        Protocol::Ws => crate::ws::connection(&core).await,
    }
}

/// Prints, once a second until `finished`, the totals so far and the rate
/// of the last second.
fn spawn_progress(
    live: Vec<Arc<Live>>,
    finished: Arc<AtomicBool>,
    started: Instant,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut last = 0;
        let mut next = started + Duration::from_secs(1);
        while !finished.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(50));
            if Instant::now() < next {
                continue;
            }
            let responses: u64 = live
                .iter()
                .map(|l| l.responses.load(Ordering::Relaxed))
                .sum();
            let errors: u64 = live.iter().map(|l| l.errors.load(Ordering::Relaxed)).sum();
            let _ = writeln!(
                std::io::stderr(),
                "{:>4}s  {responses} requests  {errors} errors  {} req/s",
                (next - started).as_secs(),
                responses - last
            );
            last = responses;
            next += Duration::from_secs(1);
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_are_spread_evenly() {
        assert_eq!(
            (0..3).map(|i| share(10, 3, i)).collect::<Vec<_>>(),
            [4, 3, 3]
        );
        assert_eq!((0..2).map(|i| share(2, 2, i)).sum::<usize>(), 2);
    }
}
