//! Helpers shared by the runtime tests: every test runs on both drivers.
#![allow(dead_code)]

use std::future::Future;

use percore_runtime::{Builder, DriverChoice, DriverKind, Runtime};

/// Declares `mod $name { #[test] fn uring(); #[test] fn epoll(); }`, each
/// running `$body(choice)` (a `fn(DriverChoice)`).
#[macro_export]
macro_rules! both_drivers {
    ($name:ident, $body:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            #[test]
            fn uring() {
                let _serial = $crate::common::serial();
                ($body)(percore_runtime::DriverChoice::Uring)
            }
            #[test]
            fn epoll() {
                let _serial = $crate::common::serial();
                ($body)(percore_runtime::DriverChoice::Epoll)
            }
        }
    };
}

/// Serialises the tests of one binary: some count the process's file
/// descriptors or open thousands of sockets.
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

pub fn runtime(choice: DriverChoice) -> Runtime {
    let rt = Builder::new().driver(choice).build().expect("runtime");
    let want = match choice {
        DriverChoice::Uring => DriverKind::Uring,
        _ => DriverKind::Epoll,
    };
    assert_eq!(rt.driver().kind, want);
    rt
}

pub fn block_on<F: Future>(choice: DriverChoice, f: F) -> F::Output {
    runtime(choice).block_on(f)
}

/// Open file descriptors of this process.
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Raises RLIMIT_NOFILE to at least `n`.
pub fn raise_nofile(n: u64) {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain getrlimit/setrlimit on a valid struct.
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
        if lim.rlim_cur < n {
            lim.rlim_cur = n.min(lim.rlim_max.max(n));
            if lim.rlim_max < n {
                lim.rlim_max = n;
            }
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}
