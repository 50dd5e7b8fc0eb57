//! Shared bits of the benchmark peers: argument parsing, pinning, listeners.

pub mod uring_load;

use std::net::SocketAddr;

/// `--listen ADDR --cores N` (the same flags as percore's examples).
pub struct Args {
    pub listen: SocketAddr,
    pub cores: usize,
    pub rest: Vec<String>,
}

pub fn args(default_listen: &str) -> Args {
    let mut out = Args {
        listen: default_listen.parse().unwrap(),
        cores: allowed_cpus().len(),
        rest: Vec::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--listen" => out.listen = it.next().expect("--listen ADDR").parse().expect("address"),
            "--cores" => out.cores = it.next().expect("--cores N").parse().expect("number"),
            "--driver" => {
                let _ = it.next();
            }
            _ => out.rest.push(a),
        }
    }
    out
}

/// CPUs of this process's affinity mask.
pub fn allowed_cpus() -> Vec<usize> {
    // SAFETY: plain sched_getaffinity on a zeroed set.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return vec![0];
        }
        (0..libc::CPU_SETSIZE as usize)
            .filter(|&c| libc::CPU_ISSET(c, &set))
            .collect()
    }
}

/// Pins the calling thread to `cpu`.
pub fn pin(cpu: usize) {
    // SAFETY: plain sched_setaffinity on a set with one CPU.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

/// A non-blocking SO_REUSEPORT listener for one core.
pub fn reuseport_listener(addr: SocketAddr) -> std::net::TcpListener {
    let s = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        None,
    )
    .unwrap();
    s.set_reuse_address(true).unwrap();
    s.set_reuse_port(true).unwrap();
    s.bind(&addr.into()).unwrap();
    s.listen(4096).unwrap();
    s.set_nonblocking(true).unwrap();
    s.into()
}

/// Runs `f` on one current_thread runtime per core, each pinned, as hyper
/// and tokio users do for thread-per-core deployments.
pub fn per_core<F, Fut>(cores: usize, f: F)
where
    F: Fn(usize) -> Fut + Send + Sync + Clone + 'static,
    Fut: std::future::Future<Output = ()>,
{
    let cpus = allowed_cpus();
    let threads: Vec<_> = (0..cores)
        .map(|i| {
            let f = f.clone();
            let cpu = cpus[i % cpus.len()];
            std::thread::spawn(move || {
                pin(cpu);
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap()
                    .block_on(f(i));
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}
