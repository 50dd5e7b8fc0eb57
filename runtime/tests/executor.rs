//! Executor: spawn, join, abort, panics, budget, cross-thread wake.

mod common;
use common::*;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

use percore_runtime::net::UnixStream;
use percore_runtime::sync::{mpsc, oneshot};
use percore_runtime::time::sleep;
use percore_runtime::{spawn_local, yield_now, DriverChoice, JoinError};

both_drivers!(spawn_and_join, |d: DriverChoice| {
    let out = block_on(d, async {
        let handles: Vec<_> = (0..100u64)
            .map(|i| spawn_local(async move { i * 2 }))
            .collect();
        let mut sum = 0;
        for h in handles {
            sum += h.await.unwrap();
        }
        sum
    });
    assert_eq!(out, 9900);
});

// Wakers are kept per task slot and reused: a waker kept by a finished task
// only makes the slot's next task poll spuriously, and that task still
// completes on its own wakes, from this thread or another.
both_drivers!(stale_waker_of_a_reused_slot, |d: DriverChoice| {
    block_on(d, async {
        let mut stale = Vec::new();
        for round in 0..3 {
            let polls = Rc::new(Cell::new(0u32));
            let ready = Rc::new(Cell::new(false));
            let (p, r) = (polls.clone(), ready.clone());
            let (tx, rx) = std::sync::mpsc::channel();
            let h = spawn_local(std::future::poll_fn(move |cx| {
                p.set(p.get() + 1);
                let _ = tx.send(cx.waker().clone());
                if r.get() {
                    std::task::Poll::Ready(round)
                } else {
                    std::task::Poll::Pending
                }
            }));
            yield_now().await;
            assert_eq!(polls.get(), 1);
            for w in stale.drain(..) {
                std::task::Waker::wake(w);
            }
            yield_now().await;
            assert!(!h.is_finished());
            ready.set(true);
            let w = rx.try_iter().last().expect("the task was polled");
            std::thread::spawn(move || w.wake()).join().unwrap();
            assert_eq!(h.await.unwrap(), round);
            // Every waker the finished task handed out, kept past its end.
            stale.extend(rx.try_iter());
        }
    });
});

both_drivers!(abort_drops_the_future, |d: DriverChoice| {
    struct Flag(Rc<Cell<bool>>);
    impl Drop for Flag {
        fn drop(&mut self) {
            self.0.set(true);
        }
    }
    block_on(d, async {
        let dropped = Rc::new(Cell::new(false));
        let flag = Flag(dropped.clone());
        let h = spawn_local(async move {
            let _flag = flag;
            sleep(Duration::from_secs(60)).await;
            1
        });
        yield_now().await;
        assert!(!h.is_finished());
        h.abort();
        assert!(dropped.get(), "abort must drop the task's future at once");
        assert!(matches!(h.await, Err(JoinError::Cancelled)));
    });
});

both_drivers!(task_aborting_itself, |d: DriverChoice| {
    block_on(d, async {
        let slot: Rc<RefCell<Option<percore_runtime::JoinHandle<()>>>> = Rc::default();
        let s = slot.clone();
        let after = Rc::new(Cell::new(false));
        let a = after.clone();
        let h = spawn_local(async move {
            yield_now().await;
            if let Some(me) = s.borrow().as_ref() {
                me.abort();
            }
            yield_now().await;
            a.set(true);
        });
        *slot.borrow_mut() = Some(h);
        sleep(Duration::from_millis(5)).await;
        assert!(!after.get(), "an aborted task must not run again");
        let h = slot.borrow_mut().take().unwrap();
        assert!(h.await.is_err());
    });
});

both_drivers!(panic_is_contained, |d: DriverChoice| {
    block_on(d, async {
        let h = spawn_local(async { panic!("boom") });
        let err = h.await.unwrap_err();
        assert!(err.is_panic());
        assert!(err.to_string().contains("boom"));
        // The runtime keeps working.
        assert_eq!(spawn_local(async { 5 }).await.unwrap(), 5);
    });
});

both_drivers!(a_dropped_handle_detaches_the_task, |d: DriverChoice| {
    block_on(d, async {
        let (tx, rx) = oneshot::channel();
        let handle = spawn_local(async move {
            sleep(Duration::from_millis(10)).await;
            tx.send(7u32).unwrap();
        });
        drop(handle);
        // The task runs to completion without anyone holding its handle.
        assert_eq!(rx.await, Ok(7));
    });
});

both_drivers!(busy_task_cannot_starve_others, |d: DriverChoice| {
    block_on(d, async {
        let stop = Rc::new(Cell::new(false));
        let s = stop.clone();
        let spinner = spawn_local(async move {
            while !s.get() {
                yield_now().await;
            }
        });
        // A timer, I/O and another task must make progress while the spinner
        // spins.
        let t0 = Instant::now();
        sleep(Duration::from_millis(20)).await;
        assert!(t0.elapsed() < Duration::from_secs(2));
        let (a, b) = UnixStream::pair().unwrap();
        let echo = spawn_local(async move {
            let (res, buf) = b.read(Vec::with_capacity(16)).await;
            res.unwrap();
            b.write_all(buf).await.0.unwrap();
        });
        a.write_all(b"ping".to_vec()).await.0.unwrap();
        let (res, got) = a.read(Vec::with_capacity(16)).await;
        res.unwrap();
        assert_eq!(got, b"ping");
        echo.await.unwrap();
        assert!(!spinner.is_finished(), "the spinner is still spinning");
        stop.set(true);
        spinner.await.unwrap();
    });
});

both_drivers!(
    wake_from_another_thread_reaches_parked_runtime,
    |d: DriverChoice| {
        let (tx, rx) = oneshot::channel();
        let sender = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            tx.send(99u32).unwrap();
        });
        let t0 = Instant::now();
        let got = block_on(d, rx);
        sender.join().unwrap();
        assert_eq!(got, Ok(99));
        assert!(t0.elapsed() < Duration::from_secs(5));
    }
);

both_drivers!(many_remote_wakes, |d: DriverChoice| {
    let (tx, mut rx) = mpsc::unbounded::<u64>();
    let producers: Vec<_> = (0..4)
        .map(|p| {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for i in 0..25_000u64 {
                    tx.try_send(p * 1_000_000 + i).unwrap();
                    if i % 1000 == 0 {
                        std::thread::yield_now();
                    }
                }
            })
        })
        .collect();
    drop(tx);
    let (count, sum) = block_on(d, async move {
        let (mut count, mut sum) = (0u64, 0u64);
        while let Some(v) = rx.recv().await {
            count += 1;
            sum += v;
        }
        (count, sum)
    });
    for p in producers {
        p.join().unwrap();
    }
    assert_eq!(count, 100_000);
    let expected: u64 = (0..4u64)
        .map(|p| 25_000 * p * 1_000_000 + (0..25_000u64).sum::<u64>())
        .sum();
    assert_eq!(sum, expected);
});

both_drivers!(spawn_blocking_returns, |d: DriverChoice| {
    block_on(d, async {
        let v = percore_runtime::spawn_blocking(|| {
            std::thread::sleep(Duration::from_millis(10));
            7
        })
        .await
        .unwrap();
        assert_eq!(v, 7);
        let err = percore_runtime::spawn_blocking(|| -> u8 { panic!("in pool") })
            .await
            .unwrap_err();
        assert!(err.is_panic());
    });
});

#[test]
fn env_var_selects_the_driver() {
    // Runs in a child process so the variable does not leak into other tests.
    if std::env::var("PERCORE_ENV_CHILD").is_ok() {
        let rt = percore_runtime::Runtime::new().unwrap();
        println!("DRIVER={}", rt.driver());
        return;
    }
    let exe = std::env::current_exe().unwrap();
    for (value, want) in [
        ("epoll", "epoll (requested by PERCORE_DRIVER)"),
        ("uring", "io_uring (requested by PERCORE_DRIVER)"),
    ] {
        let out = std::process::Command::new(&exe)
            .args(["env_var_selects_the_driver", "--exact", "--nocapture"])
            .env("PERCORE_ENV_CHILD", "1")
            .env("PERCORE_DRIVER", value)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            stdout.contains(&format!("DRIVER={want}")),
            "{value}: {stdout}"
        );
    }
}

/// io_uring made unavailable with a seccomp filter (as Docker's default
/// profile does): the automatic choice must fall back to epoll and say why.
/// The check runs in a child process without `PERCORE_DRIVER`, so that the
/// caller's environment cannot turn `Auto` into an explicit choice.
#[test]
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
fn falls_back_to_epoll_when_io_uring_is_blocked() {
    const TEST: &str = "falls_back_to_epoll_when_io_uring_is_blocked";
    if std::env::var("PERCORE_FALLBACK_CHILD").is_err() {
        run_in_child_without_driver_env(TEST, "PERCORE_FALLBACK_CHILD");
        return;
    }
    let handle = std::thread::spawn(|| {
        deny_io_uring_setup();
        let rt = percore_runtime::Builder::new()
            .build()
            .expect("fallback runtime");
        let info = rt.driver().clone();
        // The fallback runtime works.
        let v = rt.block_on(async { spawn_local(async { 3 }).await.unwrap() });
        let explicit = percore_runtime::Builder::new()
            .driver(DriverChoice::Uring)
            .build()
            .err()
            .map(|e| e.raw_os_error());
        (info, v, explicit)
    });
    let (info, v, explicit) = handle.join().unwrap();
    assert_eq!(info.kind, percore_runtime::DriverKind::Epoll);
    assert!(
        info.reason.contains("io_uring setup failed"),
        "{}",
        info.reason
    );
    assert_eq!(v, 3);
    assert_eq!(
        explicit,
        Some(Some(libc::EPERM)),
        "explicit uring must fail, not fall back"
    );
}

/// Runs test `name` of this binary again in a child process with `marker`
/// set and `PERCORE_DRIVER` removed, and fails unless the child passes.
fn run_in_child_without_driver_env(name: &str, marker: &str) {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(marker, "1")
        .env_remove("PERCORE_DRIVER")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "child {name} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Installs a seccomp filter on the calling thread that fails io_uring_setup with EPERM.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
fn deny_io_uring_setup() {
    #[cfg(target_arch = "x86_64")]
    const AUDIT_ARCH: u32 = 0xC000_003E;
    #[cfg(target_arch = "aarch64")]
    const AUDIT_ARCH: u32 = 0xC000_00B7;
    const RET_ALLOW: u32 = 0x7fff_0000;
    const RET_ERRNO: u32 = 0x0005_0000;
    let stmt = |code: u16, k: u32| libc::sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    };
    let jump = |k: u32, jt: u8, jf: u8| libc::sock_filter {
        code: 0x15,
        jt,
        jf,
        k,
    };
    let filter = [
        stmt(0x20, 4),          // ld arch
        jump(AUDIT_ARCH, 0, 3), // foreign arch: allow
        stmt(0x20, 0),          // ld syscall nr
        jump(libc::SYS_io_uring_setup as u32, 0, 1),
        stmt(0x06, RET_ERRNO | libc::EPERM as u32),
        stmt(0x06, RET_ALLOW),
    ];
    let prog = libc::sock_fprog {
        len: filter.len() as u16,
        filter: filter.as_ptr() as *mut _,
    };
    // SAFETY: standard seccomp installation on the calling thread with a
    // valid filter program that outlives the call.
    unsafe {
        assert_eq!(libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), 0);
        assert_eq!(
            libc::prctl(
                libc::PR_SET_SECCOMP,
                2, /* SECCOMP_MODE_FILTER */
                &prog as *const _
            ),
            0,
            "seccomp: {}",
            std::io::Error::last_os_error()
        );
    }
}

// A runtime kept in a thread-local is dropped at thread exit, possibly after
// the runtime's own thread-locals: with tasks still pending (a sleep, an
// accept) that must not panic (a panic in a thread-local destructor aborts
// the process, this test binary included).
both_drivers!(
    a_runtime_in_a_thread_local_drops_at_thread_exit,
    |d: DriverChoice| {
        thread_local! {
            static RT: RefCell<Option<percore_runtime::Runtime>> = const { RefCell::new(None) };
        }
        std::thread::spawn(move || {
            RT.with(|rt| *rt.borrow_mut() = Some(runtime(d)));
            RT.with(|rt| {
                rt.borrow().as_ref().unwrap().block_on(async {
                    spawn_local(sleep(Duration::from_secs(3600)));
                    let listener = percore_runtime::net::TcpListener::bind("127.0.0.1:0").unwrap();
                    spawn_local(async move { listener.accept().await.map(|_| ()) });
                    yield_now().await;
                })
            });
        })
        .join()
        .expect("the thread ends without a panic");
    }
);
