//! Many cores: one pinned worker thread per core, each with its own runtime.

use std::future::Future;
use std::io;
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
    // SAFETY: cpu_set_t is plain data; sched_getaffinity fills it in.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: passes a valid pointer and the exact size of the set.
    let rc =
        unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) };
    if rc != 0 {
        let n = std::thread::available_parallelism().map_or(1, |n| n.get());
        return (0..n).collect();
    }
    (0..libc::CPU_SETSIZE as usize)
        // SAFETY: `cpu` is below CPU_SETSIZE.
        .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) })
        .collect()
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
    // SAFETY: passes a valid set of the right size for the calling thread.
    let rc = unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
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

/// Starts N worker threads, each pinned to one CPU of the allowed set, each
/// running its own runtime and the user's per-core future.
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

    /// Number of worker threads (at least 1).
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
    pub fn run<F, Fut>(self, make: F) -> io::Result<()>
    where
        F: Fn(WorkerContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + 'static,
    {
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
                    let cpu = cpu.filter(|&c| match pin_current_thread(c) {
                        Ok(()) => true,
                        Err(e) => {
                            tracing::warn!("could not pin worker {index} to cpu {c}: {e}");
                            false
                        }
                    });
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
}
