//! Load generator for what wrk and h2load do not cover.
//!
//! `loadgen tcp-echo --addr 127.0.0.1:7000 --conns 64 --size 64 --duration 10`
//! prints one JSON line: messages/s and p50/p99 round-trip latency (µs).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn flag(args: &[String], name: &str, default: &str) -> String {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
        .unwrap_or_else(|| default.to_string())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mode = args.get(1).cloned().unwrap_or_default();
    let addr: std::net::SocketAddr = flag(&args, "--addr", "127.0.0.1:7000").parse().unwrap();
    let conns: usize = flag(&args, "--conns", "64").parse().unwrap();
    let size: usize = flag(&args, "--size", "64").parse().unwrap();
    let duration = Duration::from_secs_f64(flag(&args, "--duration", "10").parse().unwrap());
    let threads: usize = flag(&args, "--threads", "1").parse().unwrap();
    match mode.as_str() {
        "tcp-echo" => tcp_echo(addr, conns, size, duration, threads),
        _ => {
            eprintln!("usage: loadgen tcp-echo --addr A --conns N --size B --duration S [--threads T]");
            std::process::exit(2);
        }
    }
}

fn tcp_echo(addr: std::net::SocketAddr, conns: usize, size: usize, duration: Duration, threads: usize) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.max(1))
        .enable_all()
        .build()
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let results = rt.block_on(async {
        let mut tasks = Vec::new();
        for _ in 0..conns {
            let stop = stop.clone();
            tasks.push(tokio::spawn(async move {
                let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
                s.set_nodelay(true).unwrap();
                let msg = vec![b'x'; size];
                let mut back = vec![0u8; size];
                let mut lat = Vec::with_capacity(100_000);
                while !stop.load(Ordering::Relaxed) {
                    let t0 = Instant::now();
                    s.write_all(&msg).await.unwrap();
                    s.read_exact(&mut back).await.unwrap();
                    lat.push(t0.elapsed().as_micros() as u32);
                }
                lat
            }));
        }
        tokio::time::sleep(duration).await;
        stop.store(true, Ordering::Relaxed);
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.unwrap());
        }
        all
    });
    let mut lat = results;
    lat.sort_unstable();
    let n = lat.len();
    let pct = |p: f64| lat.get(((n as f64 * p) as usize).min(n.saturating_sub(1))).copied().unwrap_or(0);
    println!(
        "{{\"messages\": {n}, \"messages_per_sec\": {:.0}, \"p50_us\": {}, \"p99_us\": {}}}",
        n as f64 / duration.as_secs_f64(),
        pct(0.50),
        pct(0.99)
    );
}
