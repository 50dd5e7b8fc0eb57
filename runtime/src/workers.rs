//! Many cores: one pinned worker thread per core, each with its own runtime.

use std::cell::Cell;
use std::future::Future;
use std::io;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Barrier};

use crate::builder::Builder;
use crate::driver::{DriverChoice, DriverInfo};
use crate::sync::Shutdown;

/// The number of CPUs this process may run on (its affinity mask, which
/// honours `taskset` and cgroup cpusets).
///
/// ```
/// assert!(percore_runtime::available_cores() >= 1);
/// ```
pub fn available_cores() -> usize {
    allowed_cpus().len().max(1)
}

/// The CPUs in this process's affinity mask, in order.
pub fn allowed_cpus() -> Vec<usize> {
    let Some(set) = thread_affinity() else {
        let n = std::thread::available_parallelism().map_or(1, |n| n.get());
        return (0..n).collect();
    };
    (0..libc::CPU_SETSIZE as usize)
        // SAFETY: `cpu` is below CPU_SETSIZE.
        .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) })
        .collect()
}

/// The calling thread's CPU affinity mask (`None`: the kernel refused).
fn thread_affinity() -> Option<libc::cpu_set_t> {
    // SAFETY: cpu_set_t is plain data; sched_getaffinity fills it in.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: passes a valid pointer and the exact size of the set.
    let rc =
        unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) };
    (rc == 0).then_some(set)
}

/// Sets the calling thread's CPU affinity mask to `set`.
fn set_thread_affinity(set: &libc::cpu_set_t) -> io::Result<()> {
    // SAFETY: passes a valid set of the right size for the calling thread.
    let rc = unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), set) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

thread_local! {
    /// The index of the core this thread runs for [`Workers`], while it does.
    static CORE: Cell<Option<usize>> = const { Cell::new(None) };
}

/// The index (0..cores) of the [`Workers`] core the calling thread runs,
/// `None` off the workers (or after a one-core run on the calling thread
/// returned).
///
/// ```
/// use percore_runtime::{current_core, Workers};
/// assert_eq!(current_core(), None);
/// Workers::new().cores(1).handle_signals(false).run(|w| async move {
///     assert_eq!(current_core(), Some(w.index));
/// }).unwrap();
/// assert_eq!(current_core(), None);
/// ```
pub fn current_core() -> Option<usize> {
    CORE.with(Cell::get)
}

/// Marks the calling thread as core `index` until dropped.
struct OnCore(Option<usize>);

impl OnCore {
    fn enter(index: usize) -> OnCore {
        OnCore(CORE.with(|c| c.replace(Some(index))))
    }
}

impl Drop for OnCore {
    fn drop(&mut self) {
        CORE.with(|c| c.set(self.0));
    }
}

/// The calling thread's CPU affinity, put back when dropped.
struct SavedAffinity(libc::cpu_set_t);

impl SavedAffinity {
    fn save() -> Option<SavedAffinity> {
        thread_affinity().map(SavedAffinity)
    }
}

impl Drop for SavedAffinity {
    fn drop(&mut self) {
        if let Err(e) = set_thread_affinity(&self.0) {
            tracing::warn!("could not restore the thread's cpu affinity: {e}");
        }
    }
}

/// Pins the calling thread to `cpu`, or warns why it could not.
fn pin_worker(index: usize, cpu: usize) -> bool {
    match pin_current_thread(cpu) {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!("could not pin worker {index} to cpu {cpu}: {e}");
            false
        }
    }
}

/// Pins the calling thread to `cpu`.
pub fn pin_current_thread(cpu: usize) -> io::Result<()> {
    // SAFETY: cpu_set_t is plain data.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    if cpu >= libc::CPU_SETSIZE as usize {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "cpu out of range",
        ));
    }
    // SAFETY: CPU_SET on a valid set; `cpu` is below CPU_SETSIZE (checked above).
    unsafe { libc::CPU_SET(cpu, &mut set) };
    set_thread_affinity(&set)
}

/// What a worker's closure learns about its core.
#[derive(Debug, Clone)]
pub struct WorkerContext {
    /// Worker index, 0..cores.
    pub index: usize,
    /// The CPU the worker is pinned to (`None` when pinning is off or failed).
    pub cpu: Option<usize>,
    /// Total number of workers.
    pub cores: usize,
    /// Raised on SIGINT/SIGTERM (if signals are handled) or by the caller.
    pub shutdown: Shutdown,
    /// The driver this worker's runtime got.
    pub driver: DriverInfo,
}

/// Runs N workers, each pinned to one CPU of the allowed set, each running
/// its own runtime and the user's per-core future: a thread each, or, with
/// one core, on the calling thread (pinned for the run; threads it spawns
/// meanwhile inherit that one-CPU affinity).
///
/// ```
/// use percore_runtime::Workers;
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use std::sync::Arc;
/// let ran = Arc::new(AtomicUsize::new(0));
/// let r = ran.clone();
/// Workers::new().cores(2).handle_signals(false).run(move |w| {
///     let r = r.clone();
///     async move { r.fetch_add(w.index + 1, Ordering::SeqCst); }
/// }).unwrap();
/// assert_eq!(ran.load(Ordering::SeqCst), 3);
/// ```
#[derive(Debug)]
pub struct Workers {
    cores: usize,
    driver: DriverChoice,
    pin: bool,
    handle_signals: bool,
    shutdown: Shutdown,
}

impl Default for Workers {
    fn default() -> Self {
        Workers::new()
    }
}

impl Workers {
    /// One worker per available core, automatic driver, pinned, with
    /// SIGINT/SIGTERM handling.
    pub fn new() -> Workers {
        Workers {
            cores: available_cores(),
            driver: DriverChoice::Auto,
            pin: true,
            handle_signals: true,
            shutdown: Shutdown::new(),
        }
    }

    /// Number of workers (at least 1); one runs on the calling thread.
    pub fn cores(mut self, n: usize) -> Workers {
        self.cores = n.max(1);
        self
    }

    /// The driver for every worker.
    pub fn driver(mut self, choice: DriverChoice) -> Workers {
        self.driver = choice;
        self
    }

    /// Whether to pin worker i to the i-th allowed CPU (default true).
    pub fn pin(mut self, pin: bool) -> Workers {
        self.pin = pin;
        self
    }

    /// Whether SIGINT/SIGTERM raise the shutdown signal (default true).
    pub fn handle_signals(mut self, on: bool) -> Workers {
        self.handle_signals = on;
        self
    }

    /// Uses `shutdown` as the workers' shutdown signal (to trigger it yourself).
    pub fn shutdown_signal(mut self, shutdown: Shutdown) -> Workers {
        self.shutdown = shutdown;
        self
    }

    /// Runs `make(ctx)` on every worker and waits until all of them return.
    /// Fails if a runtime cannot be created or a worker panics.
    ///
    /// One core runs on the calling thread (pinned for the run, its CPU
    /// affinity restored after; SIGINT/SIGTERM relayed by a task of that
    /// core, see [`signal`](crate::signal)): the process needs no other
    /// thread. With more cores, or when the calling thread is inside a
    /// runtime already, each core gets a thread `percore-worker-N`.
    pub fn run<F, Fut>(self, make: F) -> io::Result<()>
    where
        F: Fn(WorkerContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + 'static,
    {
        if self.cores == 1 && !crate::in_runtime() {
            return self.run_here(make);
        }
        if self.handle_signals {
            crate::signal::shutdown_on_signals(self.shutdown.clone())?;
        }
        let cpus = allowed_cpus();
        let make = Arc::new(make);
        let started = Arc::new(Barrier::new(self.cores));
        let mut threads = Vec::with_capacity(self.cores);
        for index in 0..self.cores {
            let cpu = if self.pin && !cpus.is_empty() {
                Some(cpus[index % cpus.len()])
            } else {
                None
            };
            let make = make.clone();
            let shutdown = self.shutdown.clone();
            let driver = self.driver;
            let cores = self.cores;
            let started = started.clone();
            let handle = std::thread::Builder::new()
                .name(format!("percore-worker-{index}"))
                .spawn(move || -> io::Result<()> {
                    let cpu = cpu.filter(|&c| pin_worker(index, c));
                    let _core = OnCore::enter(index);
                    let rt = Builder::new().driver(driver).build();
                    started.wait();
                    let rt = rt?;
                    let ctx = WorkerContext {
                        index,
                        cpu,
                        cores,
                        shutdown,
                        driver: rt.driver().clone(),
                    };
                    rt.block_on(make(ctx));
                    Ok(())
                })?;
            threads.push(handle);
        }
        let mut result = Ok(());
        for t in threads {
            let r = t
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("a worker thread panicked")));
            if result.is_ok() {
                result = r;
            }
        }
        result
    }

    /// [`run`](Self::run) for one core, on the calling thread.
    fn run_here<F, Fut>(self, make: F) -> io::Result<()>
    where
        F: Fn(WorkerContext) -> Fut,
        Fut: Future<Output = ()>,
    {
        let relay = self
            .handle_signals
            .then(|| crate::signal::relay_here(self.shutdown.clone()))
            .transpose()?;
        let first = allowed_cpus().first().copied().filter(|_| self.pin);
        let _affinity = first.and_then(|_| SavedAffinity::save());
        let cpu = first.filter(|&c| pin_worker(0, c));
        let _core = OnCore::enter(0);
        let ran = std::panic::catch_unwind(AssertUnwindSafe(|| -> io::Result<()> {
            let rt = Builder::new().driver(self.driver).build()?;
            let ctx = WorkerContext {
                index: 0,
                cpu,
                cores: 1,
                shutdown: self.shutdown.clone(),
                driver: rt.driver().clone(),
            };
            rt.block_on(async {
                if let Some(relay) = &relay {
                    crate::spawn_detached(relay.run());
                }
                make(ctx).await
            });
            // The runtime (and the relay's task) drop here, before the
            // relay stops counting.
            Ok(())
        }));
        drop(relay);
        ran.unwrap_or_else(|_| Err(io::Error::other("a worker thread panicked")))
    }
}
