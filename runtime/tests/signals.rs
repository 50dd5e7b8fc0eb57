//! SIGTERM and SIGINT become a graceful shutdown on every core (own test
//! binary: the signal handler is process-wide).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use percore_runtime::{DriverChoice, Workers};

#[test]
fn sigterm_and_sigint_shut_down_every_core_on_both_drivers() {
    let cases = [libc::SIGTERM, libc::SIGINT]
        .into_iter()
        .flat_map(|sig| [(sig, DriverChoice::Uring), (sig, DriverChoice::Epoll)]);
    for (signal, driver) in cases {
        let stopped = Arc::new(AtomicUsize::new(0));
        let started = Arc::new(AtomicUsize::new(0));
        let (st, sd) = (started.clone(), stopped.clone());
        let killer = std::thread::spawn(move || {
            while st.load(Ordering::SeqCst) < 3 {
                std::thread::sleep(Duration::from_millis(5));
            }
            // SAFETY: sends a signal to our own process.
            unsafe { libc::kill(libc::getpid(), signal) };
        });
        let s = started.clone();
        Workers::new()
            .cores(3)
            .driver(driver)
            .run(move |w| {
                let (s, sd) = (s.clone(), sd.clone());
                async move {
                    s.fetch_add(1, Ordering::SeqCst);
                    w.shutdown.wait().await;
                    sd.fetch_add(1, Ordering::SeqCst);
                }
            })
            .unwrap();
        killer.join().unwrap();
        assert_eq!(
            stopped.load(Ordering::SeqCst),
            3,
            "{driver:?}, signal {signal}"
        );
    }
}
