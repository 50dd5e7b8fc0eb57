//! The run: one pinned worker per core ([`Workers`]), each with its share
//! of the connections (one core: on the calling thread, the process's
//! only thread); a progress line per second on a terminal (one core: a
//! task of the run, not a thread); every core's stats merged at the end.

use std::io::{IsTerminal, Write};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use percore_runtime::sync::Shutdown;
use percore_runtime::time::sleep_until;
use percore_runtime::{spawn_local, DriverChoice, Workers};

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
/// spent; `stop` ends it early (it is also raised by SIGINT/SIGTERM, the
/// runtime's handling: a second signal ends the process).
///
/// The cores are [`Workers`]: one core runs on the calling thread, pinned,
/// its signals relayed by a task of the run, so the process keeps to one
/// thread. With a second thread (a worker, the signal thread) every
/// syscall on a descriptor takes and drops a reference to its file in the
/// kernel (the descriptor table is shared), ~70 ns each here, two or three
/// per keep-alive request (BENCHMARKS.md, epoll19c).
pub fn run(plan: Plan, shape: Shape, stop: Shutdown) -> std::io::Result<Summary> {
    let plan = Arc::new(plan);
    let cores = shape.cores.min(shape.connections).max(1);
    let live: Vec<Arc<Live>> = (0..cores).map(|_| Arc::default()).collect();
    let results = Arc::new(Mutex::new(Vec::with_capacity(cores)));
    let started = Instant::now();
    let finished = Arc::new(AtomicBool::new(false));
    let show_progress = std::io::stderr().is_terminal();
    // One core: the progress line is a task of the run (below), not a
    // thread.
    let progress = (show_progress && cores > 1)
        .then(|| spawn_progress(live.clone(), finished.clone(), started));
    let worker_live = live.clone();
    let worker_results = results.clone();
    let outcome = Workers::new()
        .cores(cores)
        .driver(shape.driver)
        .shutdown_signal(stop)
        .run(move |ctx| {
            let core = Rc::new(Core::new(plan.clone(), worker_live[ctx.index].clone()));
            let mine = share(shape.connections, ctx.cores, ctx.index);
            let progress = (show_progress && ctx.cores == 1)
                .then(|| Progress::new(worker_live.clone(), started));
            run_core(core, mine, worker_results.clone(), progress)
        });
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

/// One core's run: its `connections`, the watchdog and the `progress`
/// line if given, then its stats into `results`.
async fn run_core(
    core: Rc<Core>,
    connections: usize,
    results: Arc<Mutex<Vec<Stats>>>,
    progress: Option<Progress>,
) {
    let tasks: Vec<_> = (0..connections)
        .map(|_| spawn_local(connection(core.clone())))
        .collect();
    let watchdog = spawn_local(crate::io::watchdog(core.clone()));
    let progress = progress.map(|p| spawn_local(p.run()));
    for task in tasks {
        let _ = task.await;
    }
    watchdog.abort();
    if let Some(task) = progress {
        task.abort();
    }
    let stats = core.stats.borrow().clone();
    results
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(stats);
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

/// The progress line: once a second, the totals so far and the rate of
/// the last second.
struct Progress {
    live: Vec<Arc<Live>>,
    started: Instant,
    /// Responses at the last line.
    last: u64,
    /// When the next line is due.
    next: Instant,
}

impl Progress {
    fn new(live: Vec<Arc<Live>>, started: Instant) -> Progress {
        Progress {
            live,
            started,
            last: 0,
            next: started + Duration::from_secs(1),
        }
    }

    /// The line due now, and the next one a second later.
    fn line(&mut self) -> String {
        let live = &self.live;
        let responses: u64 = live
            .iter()
            .map(|l| l.responses.load(Ordering::Relaxed))
            .sum();
        let errors: u64 = live.iter().map(|l| l.errors.load(Ordering::Relaxed)).sum();
        let line = format!(
            "{:>4}s  {responses} requests  {errors} errors  {} req/s",
            (self.next - self.started).as_secs(),
            responses - self.last
        );
        self.last = responses;
        self.next += Duration::from_secs(1);
        line
    }

    /// One core: a task of the run, until it is aborted.
    async fn run(mut self) {
        loop {
            sleep_until(self.next).await;
            let _ = writeln!(std::io::stderr(), "{}", self.line());
        }
    }
}

/// More cores: a thread that prints the line until `finished`.
fn spawn_progress(
    live: Vec<Arc<Live>>,
    finished: Arc<AtomicBool>,
    started: Instant,
) -> std::thread::JoinHandle<()> {
    let mut progress = Progress::new(live, started);
    std::thread::spawn(move || {
        while !finished.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(50));
            if Instant::now() >= progress.next {
                let _ = writeln!(std::io::stderr(), "{}", progress.line());
            }
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

    #[test]
    fn progress_lines_count_the_last_second() {
        let live: Vec<Arc<Live>> = (0..2).map(|_| Arc::default()).collect();
        let started = Instant::now();
        let mut progress = Progress::new(live.clone(), started);
        live[0].add_responses(30);
        live[1].add_responses(12);
        live[1].add_errors(2);
        assert_eq!(progress.line(), "   1s  42 requests  2 errors  42 req/s");
        live[0].add_responses(8);
        assert_eq!(progress.line(), "   2s  50 requests  2 errors  8 req/s");
        assert_eq!(progress.next, started + Duration::from_secs(3));
    }
}
