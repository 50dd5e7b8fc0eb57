//! Micro-benchmarks of the runtime's hot paths, on both drivers:
//! spawn + join, timer insert + cancel, channel send + recv.
//!
//! `cargo bench -p percore-runtime --bench runtime`

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use percore_runtime::sync::{mpsc, oneshot};
use percore_runtime::time::{sleep, timeout};
use percore_runtime::{spawn_local, yield_now, Builder, DriverChoice, Runtime};

fn runtimes() -> Vec<(&'static str, Runtime)> {
    vec![
        (
            "uring",
            Builder::new().driver(DriverChoice::Uring).build().unwrap(),
        ),
        (
            "epoll",
            Builder::new().driver(DriverChoice::Epoll).build().unwrap(),
        ),
    ]
}

fn spawn_and_join(c: &mut Criterion) {
    for (name, rt) in runtimes() {
        c.bench_function(&format!("spawn_join_100/{name}"), |b| {
            b.iter(|| {
                rt.block_on(async {
                    let handles: Vec<_> =
                        (0..100u32).map(|i| spawn_local(async move { i })).collect();
                    let mut sum = 0;
                    for h in handles {
                        sum += h.await.unwrap();
                    }
                    sum
                })
            })
        });
        c.bench_function(&format!("wake_yield_1000/{name}"), |b| {
            b.iter(|| {
                rt.block_on(async {
                    for _ in 0..1000 {
                        yield_now().await;
                    }
                })
            })
        });
    }
}

fn timers(c: &mut Criterion) {
    for (name, rt) in runtimes() {
        // Insert and cancel with 100k other timers alive.
        c.bench_function(&format!("timer_insert_cancel_with_100k_live/{name}"), |b| {
            rt.block_on(async {
                let mut live: Vec<_> = (0..100_000u64)
                    .map(|i| Box::pin(sleep(Duration::from_secs(60 + i % 600))))
                    .collect();
                for s in live.iter_mut() {
                    let _ = timeout(Duration::ZERO, s.as_mut()).await;
                }
                b.iter(|| {
                    rt_block_inner(async {
                        let mut s = Box::pin(sleep(Duration::from_secs(30)));
                        let _ = timeout(Duration::ZERO, s.as_mut()).await;
                    })
                });
                drop(live);
            })
        });
    }
}

/// Runs a future to completion inside an already running runtime by
/// polling it once per iteration (the futures benchmarked here finish at once).
fn rt_block_inner<F: std::future::Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    let waker = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(waker);
    loop {
        if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

fn channels(c: &mut Criterion) {
    for (name, rt) in runtimes() {
        c.bench_function(&format!("mpsc_send_recv_1000/{name}"), |b| {
            b.iter_batched(
                mpsc::unbounded::<u64>,
                |(tx, mut rx)| {
                    rt.block_on(async move {
                        for i in 0..1000 {
                            tx.try_send(i).unwrap();
                        }
                        let mut sum = 0;
                        for _ in 0..1000 {
                            sum += rx.recv().await.unwrap();
                        }
                        sum
                    })
                },
                BatchSize::SmallInput,
            )
        });
        c.bench_function(&format!("oneshot_cross_thread/{name}"), |b| {
            b.iter(|| {
                let (tx, rx) = oneshot::channel::<u32>();
                let t = std::thread::spawn(move || tx.send(1).unwrap());
                let v = rt.block_on(rx).unwrap();
                t.join().unwrap();
                v
            })
        });
    }
}

criterion_group!(benches, spawn_and_join, timers, channels);
criterion_main!(benches);
