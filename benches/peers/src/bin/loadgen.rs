//! Load generator for what wrk and h2load do not cover.
//!
//! `loadgen tcp-echo --addr 127.0.0.1:7000 --conns 64 --size 64 --duration 10`
//! prints one JSON line: messages/s and p50/p99 round-trip latency (µs).
//!
//! `loadgen ws-echo --addr 127.0.0.1:8080 --conns 64 --size 32 --duration 10`
//! does the same over WebSocket (`GET /ws`, binary messages, tokio-tungstenite).
//!
//! With `--engine uring` the echo modes run on `percore_bench_peers::uring_load`
//! instead: one thread, one raw io_uring, far less CPU per message than the
//! tokio client, so the server rather than the generator saturates first.
//!
//! `loadgen idle --addr 127.0.0.1:8080 --conns 10000 --hold 5` opens that many
//! keep-alive connections, sends one `GET /plaintext` on each, prints
//! `{"open": N, "failed": F}` once they are all answered, then holds them for
//! `--hold` seconds (or until stdin closes) and exits.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use percore_bench_peers::uring_load;
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
    let engine = flag(&args, "--engine", "tokio");
    match (mode.as_str(), engine.as_str()) {
        ("tcp-echo", "uring") => report(
            uring_load::run(addr, conns, duration, |_| {
                Ok(uring_load::TcpEcho::new(size))
            })
            .expect("tcp-echo load"),
            duration,
        ),
        ("ws-echo", "uring") => report(
            uring_load::run(addr, conns, duration, |s| {
                uring_load::ws_handshake(s, addr)?;
                Ok(uring_load::WsEcho::new(size))
            })
            .expect("ws-echo load"),
            duration,
        ),
        (_, "uring") => {
            eprintln!("--engine uring drives tcp-echo and ws-echo only");
            std::process::exit(2);
        }
        ("tcp-echo", _) => tcp_echo(addr, conns, size, duration, threads),
        ("ws-echo", _) => ws_echo(addr, conns, size, duration, threads),
        ("idle", _) => idle(
            addr,
            conns,
            Duration::from_secs_f64(flag(&args, "--hold", "5").parse().unwrap()),
        ),
        _ => {
            eprintln!("usage: loadgen tcp-echo|ws-echo|idle --addr A --conns N --size B --duration S [--threads T] [--hold S] [--engine tokio|uring]");
            std::process::exit(2);
        }
    }
}

fn tcp_echo(
    addr: std::net::SocketAddr,
    conns: usize,
    size: usize,
    duration: Duration,
    threads: usize,
) {
    run_clients(threads, conns, duration, move |stop| async move {
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
    });
}

/// Runs `conns` copies of `client` (each returns its round-trip latencies)
/// for `duration`, then stops them and prints the report.
fn run_clients<F, Fut>(threads: usize, conns: usize, duration: Duration, client: F)
where
    F: Fn(Arc<AtomicBool>) -> Fut,
    Fut: std::future::Future<Output = Vec<u32>> + Send + 'static,
{
    let rt = runtime(threads);
    let stop = Arc::new(AtomicBool::new(false));
    let results = rt.block_on(async {
        let tasks = (0..conns)
            .map(|_| tokio::spawn(client(stop.clone())))
            .collect();
        gather_after(duration, &stop, tasks).await
    });
    report(results, duration);
}

/// Lets the clients run for `duration`, stops them and gathers their latencies.
async fn gather_after(
    duration: Duration,
    stop: &AtomicBool,
    tasks: Vec<tokio::task::JoinHandle<Vec<u32>>>,
) -> Vec<u32> {
    tokio::time::sleep(duration).await;
    stop.store(true, Ordering::Relaxed);
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all
}

/// Prints messages/s and p50/p99 of the round-trip latencies as one JSON line.
fn report(mut lat: Vec<u32>, duration: Duration) {
    lat.sort_unstable();
    let n = lat.len();
    let pct = |p: f64| {
        lat.get(((n as f64 * p) as usize).min(n.saturating_sub(1)))
            .copied()
            .unwrap_or(0)
    };
    println!(
        "{{\"messages\": {n}, \"messages_per_sec\": {:.0}, \"p50_us\": {}, \"p99_us\": {}}}",
        n as f64 / duration.as_secs_f64(),
        pct(0.50),
        pct(0.99)
    );
}

fn runtime(threads: usize) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.max(1))
        .enable_all()
        .build()
        .unwrap()
}

fn ws_echo(
    addr: std::net::SocketAddr,
    conns: usize,
    size: usize,
    duration: Duration,
    threads: usize,
) {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
    use tokio_tungstenite::tungstenite::Message;
    run_clients(threads, conns, duration, move |stop| async move {
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        tcp.set_nodelay(true).unwrap();
        let config = WebSocketConfig::default().max_message_size(Some(64 << 20));
        let (mut ws, _) = tokio_tungstenite::client_async_with_config(
            format!("ws://{addr}/ws"),
            tcp,
            Some(config),
        )
        .await
        .expect("websocket handshake");
        let msg = bytes::Bytes::from(vec![b'x'; size]);
        let mut lat = Vec::with_capacity(100_000);
        while !stop.load(Ordering::Relaxed) {
            let t0 = Instant::now();
            ws.send(Message::Binary(msg.clone())).await.unwrap();
            loop {
                match ws.next().await {
                    Some(Ok(Message::Binary(b))) => {
                        assert_eq!(b.len(), size, "echo has the sent length");
                        break;
                    }
                    Some(Ok(_)) => continue,
                    other => panic!("connection ended: {other:?}"),
                }
            }
            lat.push(t0.elapsed().as_micros() as u32);
        }
        let _ = ws.close(None).await;
        lat
    });
}

/// Raises this process's open-file limit to its hard limit.
fn raise_nofile() {
    // SAFETY: getrlimit/setrlimit on a local struct.
    unsafe {
        let mut lim: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

fn idle(addr: std::net::SocketAddr, conns: usize, hold: Duration) {
    use std::net::{IpAddr, Ipv4Addr};
    raise_nofile();
    let rt = runtime(1);
    rt.block_on(async move {
        let gate = Arc::new(tokio::sync::Semaphore::new(256));
        let mut tasks = Vec::with_capacity(conns);
        for i in 0..conns {
            let gate = gate.clone();
            // 20k connections per source address keeps clear of the
            // ephemeral-port range (32768-60999) of one address.
            let source = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1 + (i / 20_000) as u8));
            tasks.push(tokio::spawn(async move {
                let permit = gate.acquire_owned().await.unwrap();
                let sock = tokio::net::TcpSocket::new_v4().ok()?;
                // The port is chosen by connect(), not bind(): connect may
                // take a port whose old connections wait in TIME_WAIT (a
                // run's earlier idle scenarios leave 10 000 of them), bind
                // to port 0 may not.
                let on: libc::c_int = 1;
                // SAFETY: `sock` is an open socket; the option value is a
                // c_int that outlives the call, its size passed with it.
                let set = unsafe {
                    libc::setsockopt(
                        std::os::fd::AsRawFd::as_raw_fd(&sock),
                        libc::IPPROTO_IP,
                        libc::IP_BIND_ADDRESS_NO_PORT,
                        (&on as *const libc::c_int).cast(),
                        std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                    )
                };
                (set == 0).then_some(())?;
                sock.bind((source, 0).into()).ok()?;
                let mut s = sock.connect(addr).await.ok()?;
                s.set_nodelay(true).ok()?;
                s.write_all(b"GET /plaintext HTTP/1.1\r\nHost: bench\r\n\r\n")
                    .await
                    .ok()?;
                let mut buf = [0u8; 1024];
                let n = s.read(&mut buf).await.ok()?;
                drop(permit);
                buf[..n].starts_with(b"HTTP/1.1 200").then_some(s)
            }));
        }
        let mut open = Vec::with_capacity(conns);
        let mut failed = 0;
        for t in tasks {
            match t.await.unwrap() {
                Some(s) => open.push(s),
                None => failed += 1,
            }
        }
        println!("{{\"open\": {}, \"failed\": {failed}}}", open.len());
        let stdin_closed = tokio::task::spawn_blocking(|| {
            let mut sink = String::new();
            let _ = std::io::stdin().read_line(&mut sink);
        });
        let _ = tokio::time::timeout(hold, stdin_closed).await;
        drop(open);
    });
}
