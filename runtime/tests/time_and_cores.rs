//! Timers, cross-core channels, workers and shutdown, on both drivers.

mod common;
use common::*;

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use percore_runtime::sync::{mpsc, oneshot, Shutdown};
use percore_runtime::time::{
    coarse_now, interval, sleep, sleep_until, timeout, timeout_from_wait, turn_started,
};
use percore_runtime::{debug_timers, spawn_local, yield_now, DriverChoice, Workers};

/// Slack allowed past a deadline on this shared, noisy machine.
const LATE: Duration = Duration::from_millis(250);

// A sleep whose timer fired unpolled (the timer gave its waker away) and
// that is then moved to a later deadline fires again, on time, though the
// same waker polls it throughout (a `Sleep` that skipped the timers for a
// waker it had registered would miss this: BENCHMARKS.md, serve19g).
both_drivers!(
    a_sleep_moved_on_after_its_timer_fired_fires_again,
    |d: DriverChoice| {
        block_on(d, async {
            let mut first = Box::pin(sleep(Duration::from_millis(10)));
            // Armed with this task's waker, then left to fire unpolled.
            std::future::poll_fn(|cx| {
                assert!(std::future::Future::poll(first.as_mut(), cx).is_pending());
                std::task::Poll::Ready(())
            })
            .await;
            sleep(Duration::from_millis(40)).await;
            let start = Instant::now();
            first.as_mut().reset(start + Duration::from_millis(20));
            // Polled again and again by one waker before it is due.
            timeout(Duration::from_secs(5), first)
                .await
                .expect("the moved sleep fires");
            let took = start.elapsed();
            assert!(took >= Duration::from_millis(20), "{took:?}");
            assert!(
                took < Duration::from_millis(20) + LATE * 4,
                "late: {took:?}"
            );
        });
    }
);

both_drivers!(timers_fire_in_order_and_on_time, |d: DriverChoice| {
    block_on(d, async {
        let start = Instant::now();
        let fired: Rc<RefCell<Vec<(u64, Instant)>>> = Rc::default();
        // A scrambled set of deadlines 0..100 ms.
        let delays: Vec<u64> = (0..200u64).map(|i| (i * 37) % 100).collect();
        let tasks: Vec<_> = delays
            .iter()
            .map(|&ms| {
                let fired = fired.clone();
                spawn_local(async move {
                    sleep_until(start + Duration::from_millis(ms)).await;
                    fired.borrow_mut().push((ms, Instant::now()));
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        let fired = fired.borrow();
        assert_eq!(fired.len(), 200);
        for w in fired.windows(2) {
            assert!(w[0].0 <= w[1].0, "timer {} fired after {}", w[0].0, w[1].0);
        }
        for &(ms, at) in fired.iter() {
            let deadline = start + Duration::from_millis(ms);
            assert!(at >= deadline, "timer {ms} fired early");
            assert!(
                at <= deadline + LATE,
                "timer {ms} fired {:?} late",
                at - deadline
            );
        }
    });
});

both_drivers!(timeout_cancels_the_inner_future, |d: DriverChoice| {
    struct Guard(Rc<RefCell<bool>>);
    impl Drop for Guard {
        fn drop(&mut self) {
            *self.0.borrow_mut() = true;
        }
    }
    block_on(d, async {
        let dropped = Rc::new(RefCell::new(false));
        let g = Guard(dropped.clone());
        let t0 = Instant::now();
        let r = timeout(Duration::from_millis(20), async move {
            let _g = g;
            sleep(Duration::from_secs(30)).await;
        })
        .await;
        assert!(r.is_err());
        assert!(*dropped.borrow(), "the timed-out future must be dropped");
        assert!(t0.elapsed() >= Duration::from_millis(20));
        assert!(t0.elapsed() < Duration::from_millis(20) + LATE);
        // A future that finishes in time gives its output.
        assert_eq!(timeout(Duration::from_secs(5), async { 8 }).await, Ok(8));
    });
});

both_drivers!(coarse_clock_is_the_turns_reading, |d: DriverChoice| {
    block_on(d, async {
        let first = coarse_now();
        assert_eq!(Some(first), turn_started());
        assert!(first <= Instant::now());
        // Work within one turn does not move it...
        let spin = Instant::now();
        while spin.elapsed() < Duration::from_millis(3) {}
        assert_eq!(coarse_now(), first);
        // ...a new turn does, to at least the time already spent.
        yield_now().await;
        assert!(coarse_now() >= first + Duration::from_millis(3));
        // A sleep due by the true clock but not by the turn's reading
        // still ends, and never early.
        let due = Instant::now();
        while Instant::now() <= due {}
        sleep_until(due).await;
        assert!(coarse_now() >= due);
    });
});

both_drivers!(
    timeout_from_wait_arms_a_timer_only_when_waiting,
    |d: DriverChoice| {
        block_on(d, async {
            let timers = debug_timers().0;
            assert_eq!(
                timeout_from_wait(Duration::from_millis(1), async { 5 }).await,
                Ok(5)
            );
            assert_eq!(debug_timers().0, timers, "a ready future armed a timer");
            let start = coarse_now();
            let t0 = Instant::now();
            let slow = sleep(Duration::from_secs(30));
            assert!(timeout_from_wait(Duration::from_millis(20), slow)
                .await
                .is_err());
            assert!(Instant::now() >= start + Duration::from_millis(20));
            assert!(t0.elapsed() < Duration::from_millis(20) + LATE);
            // Done in time: its output, and its timer is gone.
            let quick = async {
                sleep(Duration::from_millis(2)).await;
                9
            };
            assert_eq!(
                timeout_from_wait(Duration::from_secs(5), quick).await,
                Ok(9)
            );
            assert_eq!(debug_timers().0, timers);
        });
    }
);

both_drivers!(many_live_timers_and_cancels, |d: DriverChoice| {
    block_on(d, async {
        // 100k timers armed at once, most cancelled before they fire.
        // The 10 kept are due soon; the rest far enough out that none is
        // due before it is polled and armed, however slow the machine.
        let mut sleeps: Vec<_> = (0..100_000u64)
            .map(|i| match i {
                0..10 => Box::pin(sleep(Duration::from_millis(200 + i))),
                _ => Box::pin(sleep(
                    Duration::from_secs(60) + Duration::from_millis(i % 1000),
                )),
            })
            .collect();
        for s in sleeps.iter_mut().take(100_000) {
            let _ = timeout(Duration::ZERO, s.as_mut()).await;
        }
        assert_eq!(debug_timers().0, 100_000, "every polled sleep is armed");
        sleeps.truncate(10);
        // Cancelling is removal from the slab; the heap's stale slots are
        // compacted away as they come to outnumber the live ones.
        let (live, heap) = debug_timers();
        assert_eq!(live, 10);
        assert!(heap <= 64, "{heap} heap slots left for 10 live timers");
        for s in sleeps {
            s.await;
        }
        assert_eq!(debug_timers().0, 0, "fired timers are released");
    });
});

both_drivers!(interval_ticks, |d: DriverChoice| {
    block_on(d, async {
        let t0 = Instant::now();
        let mut every = interval(Duration::from_millis(10));
        for _ in 0..5 {
            every.tick().await;
        }
        assert!(t0.elapsed() >= Duration::from_millis(40));
    });
});

both_drivers!(channels_across_cores_under_load, |d: DriverChoice| {
    const PER_PRODUCER: u64 = 50_000;
    let (tx, mut rx) = mpsc::channel::<u64>(64);
    let (done_tx, done_rx) = oneshot::channel();
    let consumer = std::thread::spawn(move || {
        block_on(d, async move {
            let (mut n, mut sum) = (0u64, 0u64);
            while let Some(v) = rx.recv().await {
                n += 1;
                sum += v;
            }
            done_tx.send((n, sum)).unwrap();
        })
    });
    let producers: Vec<_> = (0..3u64)
        .map(|p| {
            let tx = tx.clone();
            std::thread::spawn(move || {
                block_on(d, async move {
                    for i in 0..PER_PRODUCER {
                        tx.send(p * PER_PRODUCER + i).await.unwrap();
                    }
                })
            })
        })
        .collect();
    drop(tx);
    let (n, sum) = block_on(d, done_rx).unwrap();
    for p in producers {
        p.join().unwrap();
    }
    consumer.join().unwrap();
    assert_eq!(n, 3 * PER_PRODUCER);
    assert_eq!(sum, (0..3 * PER_PRODUCER).sum::<u64>());
});

both_drivers!(ping_pong_between_cores, |d: DriverChoice| {
    let (to_b, mut b_rx) = mpsc::unbounded::<oneshot::Sender<u32>>();
    let b = std::thread::spawn(move || {
        block_on(d, async move {
            let mut i = 0;
            while let Some(reply) = b_rx.recv().await {
                reply.send(i).unwrap();
                i += 1;
            }
        })
    });
    block_on(d, async move {
        for want in 0..10_000u32 {
            let (tx, rx) = oneshot::channel();
            to_b.try_send(tx).unwrap();
            assert_eq!(rx.await.unwrap(), want);
        }
    });
    b.join().unwrap();
});

both_drivers!(shutdown_reaches_every_core, |d: DriverChoice| {
    let shutdown = Shutdown::new();
    let started = Arc::new(AtomicUsize::new(0));
    let stopped = Arc::new(AtomicUsize::new(0));
    let trigger = {
        let shutdown = shutdown.clone();
        let started = started.clone();
        std::thread::spawn(move || {
            while started.load(Ordering::SeqCst) < 4 {
                std::thread::sleep(Duration::from_millis(5));
            }
            shutdown.trigger();
        })
    };
    let (s, st) = (started.clone(), stopped.clone());
    Workers::new()
        .cores(4)
        .driver(d)
        .handle_signals(false)
        .shutdown_signal(shutdown)
        .run(move |w| {
            let (s, st) = (s.clone(), st.clone());
            async move {
                s.fetch_add(1, Ordering::SeqCst);
                // Parked in the kernel until the other thread raises the flag.
                w.shutdown.wait().await;
                st.fetch_add(1, Ordering::SeqCst);
            }
        })
        .unwrap();
    trigger.join().unwrap();
    assert_eq!(stopped.load(Ordering::SeqCst), 4);
});

/// Polls its future with a waker of its own that passes wakes on to the
/// task's (as a set of futures polled apart would): a wait inside it is not
/// polled with the task's own waker.
struct OwnWaker<F> {
    inner: std::pin::Pin<Box<F>>,
    outer: Arc<Forward>,
}

struct Forward(std::sync::Mutex<Option<std::task::Waker>>);

impl std::task::Wake for Forward {
    fn wake(self: Arc<Self>) {
        if let Some(w) = self.0.lock().unwrap().take() {
            w.wake();
        }
    }
}

impl<F: std::future::Future> std::future::Future for OwnWaker<F> {
    type Output = F::Output;
    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<F::Output> {
        *self.outer.0.lock().unwrap() = Some(cx.waker().clone());
        let waker = std::task::Waker::from(self.outer.clone());
        self.inner
            .as_mut()
            .poll(&mut std::task::Context::from_waker(&waker))
    }
}

// A wait polled by its runtime's own task registers nothing (the trigger
// wakes every runtime's tasks instead); one polled with another waker
// registers it. Both end when another thread raises the flag.
both_drivers!(
    shutdown_wakes_tasks_that_registered_nothing,
    |d: DriverChoice| {
        use percore_runtime::future::{race, Either};
        let shutdown = Shutdown::new();
        let waiting = Arc::new(AtomicUsize::new(0));
        let trigger = {
            let (shutdown, waiting) = (shutdown.clone(), waiting.clone());
            std::thread::spawn(move || {
                while waiting.load(Ordering::SeqCst) < 41 {
                    std::thread::sleep(Duration::from_millis(5));
                }
                // Let the last task's wait be polled.
                std::thread::sleep(Duration::from_millis(20));
                shutdown.trigger();
            })
        };
        block_on(d, async {
            let mut tasks = Vec::new();
            for i in 0..41 {
                let (shutdown, waiting) = (shutdown.clone(), waiting.clone());
                tasks.push(spawn_local(async move {
                    waiting.fetch_add(1, Ordering::SeqCst);
                    let wait = race(sleep(Duration::from_secs(60)), shutdown.wait());
                    let ended = if i == 0 {
                        let outer = Arc::new(Forward(std::sync::Mutex::new(None)));
                        let inner = Box::pin(wait);
                        OwnWaker { inner, outer }.await
                    } else {
                        wait.await
                    };
                    assert!(matches!(ended, Either::Right(())), "task {i}");
                }));
            }
            let all = async {
                for t in tasks {
                    t.await.unwrap();
                }
            };
            timeout(Duration::from_secs(20), all)
                .await
                .expect("every waiting task ends on the trigger");
        });
        trigger.join().unwrap();
    }
);

both_drivers!(workers_are_pinned_to_distinct_cpus, |d: DriverChoice| {
    let cpus = percore_runtime::allowed_cpus();
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let s = seen.clone();
    Workers::new()
        .cores(cpus.len())
        .driver(d)
        .handle_signals(false)
        .run(move |w| {
            let s = s.clone();
            async move {
                // SAFETY: sched_getcpu has no preconditions.
                let now_on = unsafe { libc::sched_getcpu() };
                s.lock()
                    .unwrap()
                    .push((w.index, w.cpu, now_on as usize, w.driver.kind));
            }
        })
        .unwrap();
    let mut seen = seen.lock().unwrap().clone();
    seen.sort();
    assert_eq!(seen.len(), cpus.len());
    for (i, (index, cpu, on, _)) in seen.iter().enumerate() {
        assert_eq!(*index, i);
        assert_eq!(*cpu, Some(cpus[i]));
        assert_eq!(*on, cpus[i], "worker {i} runs on the wrong cpu");
    }
});

both_drivers!(
    broadcast_reaches_subscribers_on_every_core,
    |d: DriverChoice| {
        use percore_runtime::sync::broadcast::Hub;
        const CORES: usize = 3;
        const SUBS: usize = 5;
        const MSGS: u32 = 200;
        let hub = Hub::<(usize, u32)>::new();
        let subscribed = Arc::new(AtomicUsize::new(0));
        let verified = Arc::new(AtomicUsize::new(0));
        let (h, s, v) = (hub.clone(), subscribed.clone(), verified.clone());
        Workers::new()
            .cores(CORES)
            .pin(false)
            .driver(d)
            .handle_signals(false)
            .run(move |w| {
                let (hub, subscribed, verified) = (h.clone(), s.clone(), v.clone());
                async move {
                    let readers: Vec<_> = (0..SUBS)
                        .map(|_| {
                            let mut sub = hub.subscribe();
                            spawn_local(async move {
                                let mut next = [0u32; CORES];
                                for _ in 0..CORES as u32 * MSGS {
                                    let (from, i) = sub.recv().await.unwrap().unwrap();
                                    assert_eq!(i, next[from], "order from core {from}");
                                    next[from] += 1;
                                }
                            })
                        })
                        .collect();
                    subscribed.fetch_add(SUBS, Ordering::SeqCst);
                    while subscribed.load(Ordering::SeqCst) < CORES * SUBS {
                        sleep(Duration::from_millis(1)).await;
                    }
                    for i in 0..MSGS {
                        hub.send((w.index, i));
                        if i % 50 == 0 {
                            percore_runtime::yield_now().await;
                        }
                    }
                    for r in readers {
                        r.await.unwrap();
                        verified.fetch_add(1, Ordering::SeqCst);
                    }
                }
            })
            .unwrap();
        assert_eq!(verified.load(Ordering::SeqCst), CORES * SUBS);
    }
);

both_drivers!(
    broadcast_slow_subscriber_lags_instead_of_growing,
    |d: DriverChoice| {
        use percore_runtime::sync::broadcast::{Hub, Lagged};
        block_on(d, async {
            let hub = Hub::<u32>::with_capacity(4);
            let mut slow = hub.subscribe();
            for i in 0..10 {
                hub.send(i);
            }
            // Let the core's fan-out task move the messages to the subscriber.
            percore_runtime::yield_now().await;
            percore_runtime::yield_now().await;
            assert_eq!(slow.recv().await, Some(Err(Lagged(6))));
            for i in 6..10 {
                assert_eq!(slow.recv().await, Some(Ok(i)));
            }
        });
    }
);

both_drivers!(
    broadcast_hub_outlives_a_runtime_on_the_same_thread,
    |d: DriverChoice| {
        use percore_runtime::sync::broadcast::Hub;
        let hub = Hub::<u32>::new();
        for round in 0..2 {
            let hub = hub.clone();
            block_on(d, async move {
                let mut sub = hub.subscribe();
                hub.send(round);
                assert_eq!(sub.recv().await, Some(Ok(round)));
            });
        }
    }
);
