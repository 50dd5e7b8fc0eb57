//! Networking on both drivers: TCP echo at scale, cancellation safety, Unix,
//! UDP, files, the buffered layer.

mod common;
use common::*;

use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use percore_runtime::io::BufStream;
use percore_runtime::net::{
    ListenOptions, TcpListener, TcpStream, UdpSocket, UnixListener, UnixStream,
};
use percore_runtime::sync::mpsc;
use percore_runtime::time::{sleep, timeout};
use percore_runtime::{debug_tracked_ops, spawn_local, yield_now, DriverChoice};

/// Echoes every byte on each accepted connection until EOF.
fn spawn_echo_server(listener: TcpListener) {
    spawn_local(async move {
        loop {
            let stream = match listener.accept().await {
                Ok((stream, _)) => stream,
                Err(e) => panic!("accept failed: {e}"),
            };
            spawn_local(async move {
                let mut buf = Vec::with_capacity(4096);
                loop {
                    buf.clear();
                    let (res, b) = stream.read(buf).await;
                    match res {
                        Ok(0) | Err(_) => return,
                        Ok(_) => {}
                    }
                    let (res, b) = stream.write_all(b).await;
                    if res.is_err() {
                        return;
                    }
                    buf = b;
                }
            });
        }
    });
}

async fn echo_once(stream: &TcpStream, payload: Vec<u8>) -> Vec<u8> {
    let want = payload.len();
    let (res, _) = stream.write_all(payload).await;
    res.unwrap();
    let mut got = Vec::with_capacity(want);
    while got.len() < want {
        let (res, b) = stream.read(got).await;
        assert!(res.unwrap() > 0, "unexpected EOF");
        got = b;
    }
    got
}

// 10 000 concurrent connections need 20 000 descriptors, more than one
// process may open here (RLIMIT_NOFILE 20000, not raisable without
// CAP_SYS_RESOURCE): the clients run in a child process (this same test
// binary, re-executed), the server in this one.
both_drivers!(tcp_echo_10k_concurrent_connections, |d: DriverChoice| {
    const CONNS: usize = 10_000;
    raise_nofile(CONNS as u64 + 1000);
    if let Ok(addr) = std::env::var("PERCORE_10K_ADDR") {
        run_10k_clients(d, addr.parse().unwrap(), CONNS);
        return;
    }
    let name = match d {
        DriverChoice::Uring => "tcp_echo_10k_concurrent_connections::uring",
        _ => "tcp_echo_10k_concurrent_connections::epoll",
    };
    block_on(d, async move {
        let listener = TcpListener::bind_with(
            "127.0.0.1:0",
            ListenOptions {
                backlog: 4096,
                ..ListenOptions::default()
            },
        )
        .unwrap();
        let addr = listener.local_addr().unwrap();
        spawn_echo_server(listener);
        let child = std::process::Command::new(std::env::current_exe().unwrap())
            .args([name, "--exact", "--nocapture", "--test-threads", "1"])
            .env("PERCORE_10K_ADDR", addr.to_string())
            .spawn()
            .unwrap();
        let status = percore_runtime::spawn_blocking(move || {
            let mut child = child;
            child.wait()
        })
        .await
        .unwrap()
        .unwrap();
        assert!(status.success(), "client process failed: {status}");
    });
});

fn run_10k_clients(d: DriverChoice, addr: SocketAddr, conns: usize) {
    block_on(d, async move {
        let clients: Vec<_> = (0..conns)
            .map(|i| {
                spawn_local(async move {
                    let s = TcpStream::connect(addr).await.unwrap();
                    let msg = format!("hello from {i:05}").into_bytes();
                    assert_eq!(echo_once(&s, msg.clone()).await, msg);
                    s
                })
            })
            .collect();
        // All connections are open at the same time here.
        let mut streams = Vec::with_capacity(conns);
        for c in clients {
            streams.push(Rc::new(c.await.unwrap()));
        }
        assert_eq!(streams.len(), conns);
        let second: Vec<_> = streams
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let s = s.clone();
                spawn_local(async move {
                    let msg = vec![(i % 251) as u8; 100];
                    assert_eq!(echo_once(&s, msg.clone()).await, msg);
                })
            })
            .collect();
        for h in second {
            h.await.unwrap();
        }
    });
}

both_drivers!(large_transfer_intact, |d: DriverChoice| {
    block_on(d, async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        spawn_echo_server(listener);
        let s = Rc::new(TcpStream::connect(addr).await.unwrap());
        let data: Vec<u8> = (0..8 * 1024 * 1024u32).map(|i| (i % 253) as u8).collect();
        let expected = data.clone();
        let w = s.clone();
        let writer = spawn_local(async move { w.write_all(data).await.0.unwrap() });
        let mut got = Vec::with_capacity(expected.len());
        while got.len() < expected.len() {
            got.reserve(64 * 1024);
            let (res, b) = s.read(got).await;
            assert!(res.unwrap() > 0);
            got = b;
        }
        writer.await.unwrap();
        assert!(got == expected, "8 MiB echo corrupted");
    });
});

both_drivers!(
    a_stalled_peer_times_out_a_vectored_write,
    |d: DriverChoice| {
        block_on(d, async {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let client = TcpStream::connect(addr).await.unwrap();
            let (server, _) = listener.accept().await.unwrap();
            // The client reads nothing: 64 MiB cannot all fit in the buffers.
            let chunks = vec![bytes::Bytes::from(vec![7u8; 32 << 20]); 2];
            let started = std::time::Instant::now();
            let (res, _) = server
                .write_all_vectored_timeout(chunks, Duration::from_millis(200))
                .await;
            assert_eq!(res.unwrap_err().kind(), std::io::ErrorKind::TimedOut);
            assert!(started.elapsed() < Duration::from_secs(5));
            // A reader that keeps reading gets everything through the same call.
            let reader = spawn_local(async move {
                let mut total = 0usize;
                loop {
                    let (res, _) = client.read(Vec::with_capacity(1 << 20)).await;
                    match res.unwrap() {
                        0 => return total,
                        n => total += n,
                    }
                }
            });
            let chunks = vec![bytes::Bytes::from(vec![7u8; 4 << 20]); 2];
            let (res, left) = server
                .write_all_vectored_timeout(chunks, Duration::from_secs(5))
                .await;
            res.unwrap();
            assert!(left.is_empty());
            server.shutdown(std::net::Shutdown::Write).unwrap();
            // What the stalled write left in the buffers comes first.
            assert!(reader.await.unwrap() >= 8 << 20);
        });
    }
);

/// Byte `p` of the pattern stream: consecutive big-endian u64 counters.
fn pattern_byte(p: u64) -> u8 {
    (p / 8).to_be_bytes()[(p % 8) as usize]
}

/// Finds where in the pattern stream `chunk` starts (chunk must be ≥ 16 bytes).
fn locate(chunk: &[u8]) -> Option<u64> {
    for align in 0..8usize {
        if chunk.len() < align + 8 {
            return None;
        }
        let word = u64::from_be_bytes(chunk[align..align + 8].try_into().unwrap());
        let start = (word * 8).checked_sub(align as u64)?;
        if chunk
            .iter()
            .enumerate()
            .all(|(i, &b)| b == pattern_byte(start + i as u64))
        {
            return Some(start);
        }
    }
    None
}

/// Polls `fut` `polls` times, yielding to the runtime between polls (so its
/// loop turn hands the operation to the kernel), then drops it unless it
/// finished: the output if it did.
async fn drop_after_polls<F: std::future::Future>(fut: F, polls: u32) -> Option<F::Output> {
    let mut fut = std::pin::pin!(fut);
    for i in 0..polls {
        let polled = std::future::poll_fn(|cx| std::task::Poll::Ready(fut.as_mut().poll(cx))).await;
        if let std::task::Poll::Ready(out) = polled {
            return Some(out);
        }
        if i + 1 < polls {
            yield_now().await;
        }
    }
    None
}

/// Whether the runtime's driver is io_uring (where a dropped operation is
/// really in the kernel's hands).
fn on_uring(d: DriverChoice) -> bool {
    matches!(d, DriverChoice::Uring)
}

both_drivers!(
    dropping_in_flight_reads_corrupts_and_leaks_nothing,
    |d: DriverChoice| {
        let fds_before = open_fds();
        block_on(d, async {
            let (reader, writer) = UnixStream::pair().unwrap();
            // The writer sends 1 KiB of the stream per token, so the rounds
            // below decide when data arrives: some reads find it, others wait
            // in the kernel on an empty socket and are dropped there, and
            // data keeps coming behind the orphans they leave.
            let (tokens, mut wanted) = mpsc::unbounded::<()>();
            let writer_task = spawn_local(async move {
                let mut pos = 0u64;
                while wanted.recv().await.is_some() {
                    let chunk: Vec<u8> = (pos..pos + 1024).map(pattern_byte).collect();
                    let (res, _) = writer.write_all(chunk).await;
                    if res.is_err() {
                        return;
                    }
                    pos += 1024;
                }
            });
            let mut last_end = 0u64;
            let mut checked = 0;
            let mut dropped_in_flight = 0;
            // Every read that returns is checked: its bytes are a piece of the
            // stream, later than every piece seen before (a read dropped in
            // flight may have consumed bytes: those are skipped, never reused
            // or corrupted).
            let mut check = |buf: &[u8]| {
                if buf.len() >= 16 {
                    let start = locate(buf).expect("read returned bytes not in the stream");
                    assert!(start >= last_end, "data went backwards");
                    last_end = start + buf.len() as u64;
                    checked += 1;
                }
            };
            for round in 0..8_000u32 {
                let buf = Vec::with_capacity(1024);
                // Of every four rounds: data is sent and read (3 polls); a
                // read is dropped before the kernel saw it (1 poll); one is
                // dropped while it waits in the kernel (2 polls); and one
                // waits while data is sent behind it (2 polls).
                let polls = match round % 4 {
                    0 | 3 => {
                        tokens.try_send(()).unwrap();
                        if round % 4 == 0 {
                            3
                        } else {
                            2
                        }
                    }
                    1 => 1,
                    _ => 2,
                };
                match drop_after_polls(reader.read(buf), polls).await {
                    Some((res, buf)) => {
                        res.unwrap();
                        check(&buf);
                    }
                    // Polled again after a loop turn (which submits what is
                    // queued) and still pending: on io_uring the kernel holds
                    // it. With one poll it was queued but never submitted.
                    None if polls > 1 => dropped_in_flight += 1,
                    None => {}
                }
                // Churn the allocator so a freed buffer would be reused.
                let junk = vec![0xEEu8; 1024];
                std::hint::black_box(&junk);
            }
            assert!(checked > 1000, "only {checked} reads completed");
            if on_uring(d) {
                assert!(
                    dropped_in_flight > 100,
                    "only {dropped_in_flight} reads were dropped while in flight"
                );
            }
            drop(tokens);
            drop(reader);
            let _ = writer_task.await;
            sleep(Duration::from_millis(20)).await;
            assert_eq!(
                debug_tracked_ops(),
                0,
                "operations or buffers still tracked"
            );
        });
        assert!(open_fds() <= fds_before, "file descriptors leaked");
    }
);

both_drivers!(
    dropping_in_flight_writes_sends_no_foreign_bytes,
    |d: DriverChoice| {
        let fds_before = open_fds();
        block_on(d, async {
            let (a, b) = UnixStream::pair().unwrap();
            // The reader is slower than the writer (4 KiB per three loop
            // turns), so the socket fills and writes wait in the kernel,
            // where the drops below catch them.
            let reader = spawn_local(async move {
                let mut total = 0usize;
                loop {
                    let (res, buf) = b.read(Vec::with_capacity(4096)).await;
                    match res {
                        Ok(0) | Err(_) => return total,
                        Ok(n) => {
                            assert!(buf.iter().all(|&x| x == 0xAB), "foreign bytes were sent");
                            total += n;
                        }
                    }
                    yield_now().await;
                    yield_now().await;
                }
            });
            let mut dropped_in_flight = 0;
            for round in 0..3_000u32 {
                let data = vec![0xABu8; 8192];
                let polls = 1 + round % 3;
                // As for reads: pending after a loop turn means submitted.
                if drop_after_polls(a.write(data), polls).await.is_none() && polls > 1 {
                    dropped_in_flight += 1;
                }
                let junk = vec![0x00u8; 8192];
                std::hint::black_box(&junk);
            }
            if on_uring(d) {
                assert!(
                    dropped_in_flight > 100,
                    "only {dropped_in_flight} writes were dropped while in flight"
                );
            }
            drop(a);
            let total = reader.await.unwrap();
            assert!(total > 0);
            sleep(Duration::from_millis(20)).await;
            assert_eq!(debug_tracked_ops(), 0);
        });
        assert!(open_fds() <= fds_before, "file descriptors leaked");
    }
);

both_drivers!(cancelled_accepts_leak_no_descriptors, |d: DriverChoice| {
    block_on(d, async {
        let listener = Rc::new(TcpListener::bind("127.0.0.1:0").unwrap());
        let addr = listener.local_addr().unwrap();
        let fds_before = open_fds();
        for _ in 0..200 {
            let l = listener.clone();
            let _ = timeout(Duration::ZERO, async move { l.accept().await }).await;
            // A connection arrives while the cancelled accept may still be in flight.
            let c = TcpStream::connect(addr).await.unwrap();
            drop(c);
        }
        // Connections that a cancelled accept did not take are still queued.
        let mut taken = 0;
        while let Ok(Ok(_)) = timeout(Duration::from_millis(20), listener.accept()).await {
            taken += 1;
        }
        sleep(Duration::from_millis(20)).await;
        assert!(taken <= 200);
        assert!(open_fds() <= fds_before + 2, "accepted descriptors leaked");
    });
});

both_drivers!(cancelled_connects_leak_no_descriptors, |d: DriverChoice| {
    block_on(d, async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let fds_before = open_fds();
        let mut connected = 0;
        for round in 0..300u32 {
            // Dropped before the kernel saw it, or while the kernel connects.
            if let Some(res) = drop_after_polls(TcpStream::connect(addr), 1 + round % 3).await {
                res.unwrap();
                connected += 1;
            }
        }
        // Let every cancelled connect complete and its socket be closed.
        sleep(Duration::from_millis(50)).await;
        assert!(connected < 300, "no connect was ever dropped in flight");
        assert!(
            open_fds() <= fds_before,
            "sockets of cancelled connects leaked: {} open, {fds_before} before",
            open_fds()
        );
        drop(listener);
    });
});

both_drivers!(unix_listener_accepts_and_echoes, |d: DriverChoice| {
    let dir = std::env::temp_dir().join(format!("percore-unix-{}-{d:?}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("echo.sock");
    block_on(d, async {
        let listener = UnixListener::bind(&path).unwrap();
        let server = spawn_local(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let (res, buf) = stream.read(Vec::with_capacity(64)).await;
            res.unwrap();
            stream.write_all(buf).await.0.unwrap();
        });
        let client = UnixStream::connect(&path).await.unwrap();
        client.write_all(b"over a path".to_vec()).await.0.unwrap();
        let mut got = Vec::with_capacity(64);
        while got.len() < 11 {
            let (res, buf) = client.read(got).await;
            assert!(res.unwrap() > 0, "unexpected EOF");
            got = buf;
        }
        assert_eq!(got, b"over a path");
        server.await.unwrap();
    });
    std::fs::remove_dir_all(&dir).unwrap();
});

both_drivers!(read_timeout_leaves_stream_usable, |d: DriverChoice| {
    block_on(d, async {
        let (a, b) = UnixStream::pair().unwrap();
        let r = timeout(Duration::from_millis(10), a.read(Vec::with_capacity(16))).await;
        assert!(r.is_err());
        b.write_all(b"later".to_vec()).await.0.unwrap();
        let mut got = Vec::with_capacity(16);
        // A cancelled io_uring read may have consumed data before the cancel;
        // here no data was in flight, so everything arrives.
        while got.len() < 5 {
            let (res, buf) = a.read(got).await;
            res.unwrap();
            got = buf;
        }
        assert_eq!(got, b"later");
    });
});

both_drivers!(writev_sends_in_order, |d: DriverChoice| {
    block_on(d, async {
        let (a, b) = UnixStream::pair().unwrap();
        let bufs = vec![b"one ".to_vec(), b"two ".to_vec(), b"three".to_vec()];
        let (res, back) = a.writev(bufs).await;
        assert_eq!(res.unwrap(), 13);
        assert_eq!(back.len(), 3);
        let (_, got) = b.read(Vec::with_capacity(64)).await;
        assert_eq!(got, b"one two three");
    });
});

both_drivers!(
    writev_of_many_buffers_sends_them_all_in_order,
    |d: DriverChoice| {
        block_on(d, async {
            let (a, b) = UnixStream::pair().unwrap();
            // More buffers than a syscall's iovec array holds on the stack.
            let bufs: Vec<Vec<u8>> = (0..40u8).map(|i| vec![i; usize::from(i) + 1]).collect();
            let want: Vec<u8> = bufs.concat();
            let (res, back) = a.writev(bufs).await;
            assert_eq!(res.unwrap(), want.len());
            assert_eq!(back.len(), 40);
            let mut got = Vec::new();
            while got.len() < want.len() {
                let (res, buf) = b.read(Vec::with_capacity(4096)).await;
                assert!(res.unwrap() > 0);
                got.extend_from_slice(&buf);
            }
            assert_eq!(got, want);
        });
    }
);

both_drivers!(tcp_options_and_addresses, |d: DriverChoice| {
    block_on(d, async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let accept = spawn_local(async move { listener.accept().await.unwrap() });
        let c = TcpStream::connect(addr).await.unwrap();
        let (s, peer) = accept.await.unwrap();
        assert_eq!(peer, c.local_addr().unwrap());
        assert_eq!(c.peer_addr().unwrap(), addr);
        s.set_nodelay(true).unwrap();
        assert!(s.nodelay().unwrap());
        c.shutdown(std::net::Shutdown::Write).unwrap();
        let (res, _) = s.read(Vec::with_capacity(8)).await;
        assert_eq!(res.unwrap(), 0, "shutdown(Write) must give the peer EOF");
    });
});

/// Whether `fd` has `O_NONBLOCK` set.
fn is_nonblocking(fd: std::os::fd::RawFd) -> bool {
    // SAFETY: F_GETFL on an open descriptor reads no memory.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    assert!(flags >= 0, "fcntl: {}", std::io::Error::last_os_error());
    flags & libc::O_NONBLOCK != 0
}

both_drivers!(
    accepted_sockets_come_in_the_drivers_mode,
    |d: DriverChoice| {
        // The accept itself sets the mode (no fcntl follows it): epoll
        // needs non-blocking sockets, io_uring blocking ones.
        use std::os::fd::AsRawFd;
        let dir = std::env::temp_dir().join(format!("percore-mode-{}-{d:?}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("mode.sock");
        block_on(d, async {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let accept = spawn_local(async move { listener.accept().await.unwrap() });
            let c = TcpStream::connect(addr).await.unwrap();
            let (s, _) = accept.await.unwrap();
            assert_eq!(is_nonblocking(s.as_raw_fd()), !on_uring(d));
            c.write_all(b"tcp".to_vec()).await.0.unwrap();
            let (res, got) = s.read(Vec::with_capacity(8)).await;
            assert_eq!(res.unwrap(), 3);
            assert_eq!(got, b"tcp");

            let unix = UnixListener::bind(&path).unwrap();
            let accept = spawn_local(async move { unix.accept().await.unwrap() });
            let c = UnixStream::connect(&path).await.unwrap();
            let (s, _) = accept.await.unwrap();
            assert_eq!(is_nonblocking(s.as_raw_fd()), !on_uring(d));
            s.write_all(b"unix".to_vec()).await.0.unwrap();
            let (res, got) = c.read(Vec::with_capacity(8)).await;
            assert_eq!(res.unwrap(), 4);
            assert_eq!(got, b"unix");
        });
        std::fs::remove_dir_all(&dir).unwrap();
    }
);

both_drivers!(connect_refused_is_an_error, |d: DriverChoice| {
    block_on(d, async {
        // Bind then drop to get a port nobody listens on.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let err = TcpStream::connect(addr)
            .await
            .expect_err("connect must fail");
        assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);
    });
});

both_drivers!(reuse_port_listeners_share_a_port, |d: DriverChoice| {
    block_on(d, async {
        let opts = ListenOptions {
            reuse_port: true,
            ..ListenOptions::default()
        };
        let a = TcpListener::bind_with("127.0.0.1:0", opts).unwrap();
        let addr = a.local_addr().unwrap();
        let b = TcpListener::bind_with(addr, opts).unwrap();
        assert_eq!(b.local_addr().unwrap(), addr);
    });
});

both_drivers!(udp_round_trip, |d: DriverChoice| {
    block_on(d, async {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        for i in 0..100u8 {
            let (res, _) = a.send_to(vec![i; 10], b.local_addr().unwrap()).await;
            assert_eq!(res.unwrap(), 10);
            let (res, buf) = b.recv_from(Vec::with_capacity(64)).await;
            let (n, from) = res.unwrap();
            assert_eq!((n, from), (10, a.local_addr().unwrap()));
            assert_eq!(buf, vec![i; 10]);
        }
    });
});

both_drivers!(buffered_layer_lines_and_exact, |d: DriverChoice| {
    block_on(d, async {
        let (a, b) = UnixStream::pair().unwrap();
        let w = spawn_local(async move {
            let mut a = BufStream::new(a);
            for i in 0..1000 {
                a.write_all(format!("line {i}\n").as_bytes()).await.unwrap();
            }
            a.write_all(&[7u8; 20_000]).await.unwrap();
            a.flush().await.unwrap();
        });
        let mut b = BufStream::with_capacity(100, b);
        for i in 0..1000 {
            let mut line = String::new();
            b.read_line(&mut line).await.unwrap();
            assert_eq!(line, format!("line {i}\n"));
        }
        let mut big = vec![0u8; 20_000];
        b.read_exact(&mut big).await.unwrap();
        assert!(big.iter().all(|&x| x == 7));
        w.await.unwrap();
        let mut one = [0u8; 1];
        let err = b.read_exact(&mut one).await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::UnexpectedEof);
    });
});

both_drivers!(file_positional_io, |d: DriverChoice| {
    let path = std::env::temp_dir().join(format!("percore-file-{}-{:?}", std::process::id(), d));
    block_on(d, async {
        let f = percore_runtime::fs::File::create(&path).await.unwrap();
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 256) as u8).collect();
        f.write_all_at(data.clone(), 10).await.0.unwrap();
        let (res, buf) = f.read_at(Vec::with_capacity(1000), 5000).await;
        assert_eq!(res.unwrap(), 1000);
        assert_eq!(&buf[..], &data[4990..5990]);
        assert_eq!(f.metadata().await.unwrap().len(), 100_010);
        f.sync_all().await.unwrap();
    });
    std::fs::remove_file(&path).unwrap();
});

both_drivers!(
    dropping_in_flight_file_operations_leaks_nothing,
    |d: DriverChoice| {
        let path =
            std::env::temp_dir().join(format!("percore-drop-{}-{:?}", std::process::id(), d));
        let fds_before = open_fds();
        block_on(d, async {
            let f = percore_runtime::fs::File::create(&path).await.unwrap();
            let data = vec![0x5Au8; 64 << 10];
            f.write_all_at(data, 0).await.0.unwrap();
            for round in 0..600u32 {
                // Dropped before it was issued, or while the ring or the
                // blocking pool works on it: each operation holds the file
                // open until it is done, whatever happens to its future.
                let polls = 1 + round % 3;
                let offset = u64::from(round % 16) * 4096;
                if round % 2 == 0 {
                    if let Some((res, buf)) =
                        drop_after_polls(f.read_at(Vec::with_capacity(4096), offset), polls).await
                    {
                        res.unwrap();
                        assert!(buf.iter().all(|&b| b == 0x5A), "foreign bytes read");
                    }
                } else if let Some((res, _)) =
                    drop_after_polls(f.write_at(vec![0x5Au8; 4096], offset), polls).await
                {
                    assert_eq!(res.unwrap(), 4096);
                }
            }
            // Operations that are waited for still work.
            let (res, buf) = f.read_at(Vec::with_capacity(4096), 4096).await;
            assert_eq!(res.unwrap(), 4096);
            assert!(buf.iter().all(|&b| b == 0x5A));
            // The file goes while blocking-pool jobs may still hold it.
            drop(f);
            let deadline = std::time::Instant::now() + Duration::from_secs(5);
            while debug_tracked_ops() > 0 && std::time::Instant::now() < deadline {
                sleep(Duration::from_millis(5)).await;
            }
            assert_eq!(debug_tracked_ops(), 0, "operations still tracked");
        });
        // Blocking jobs close their handle when they finish.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while open_fds() > fds_before && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(open_fds() <= fds_before, "file descriptors leaked");
        let left = std::fs::read(&path).unwrap();
        assert_eq!(left.len(), 64 << 10);
        assert!(
            left.iter().all(|&b| b == 0x5A),
            "a dropped write wrote foreign bytes"
        );
        std::fs::remove_file(&path).unwrap();
    }
);

both_drivers!(
    a_socket_used_on_another_driver_fails_cleanly,
    |d: DriverChoice| {
        // A socket belongs to the driver of the runtime that made it: on a
        // runtime with the other driver its operations fail, never panic.
        let (a, b) = block_on(d, async { UnixStream::pair().unwrap() });
        let other = match d {
            DriverChoice::Uring => DriverChoice::Epoll,
            _ => DriverChoice::Uring,
        };
        block_on(other, async move {
            let (res, _) = a.write(b"x".to_vec()).await;
            assert!(res.is_err(), "write on a foreign driver must fail");
            let (res, _) = b.read(Vec::with_capacity(8)).await;
            assert!(res.is_err(), "read on a foreign driver must fail");
        });
    }
);

both_drivers!(
    completions_reach_a_loop_that_never_idles,
    |d: DriverChoice| {
        // A task that only yields keeps the loop busy, so it never parks to
        // wait; bytes that another thread sends complete reads the kernel
        // already holds. Those completions must still arrive (on io_uring
        // with deferred task work, only when the loop enters the ring to run
        // that work).
        block_on(d, async {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let writer = std::thread::spawn(move || {
                use std::io::Write;
                let mut s = std::net::TcpStream::connect(addr).unwrap();
                for i in 0..50u8 {
                    std::thread::sleep(Duration::from_millis(2));
                    s.write_all(&[i]).unwrap();
                }
            });
            let (stream, _) = listener.accept().await.unwrap();
            let received = Rc::new(std::cell::Cell::new(0usize));
            let count = received.clone();
            let reader = spawn_local(async move {
                while count.get() < 50 {
                    let (res, _) = stream.read(Vec::with_capacity(64)).await;
                    count.set(count.get() + res.unwrap());
                }
            });
            let started = std::time::Instant::now();
            while received.get() < 50 {
                assert!(
                    started.elapsed() < Duration::from_secs(10),
                    "completions stopped reaching the busy loop after {} bytes",
                    received.get()
                );
                yield_now().await;
            }
            reader.await.unwrap();
            writer.join().unwrap();
        });
    }
);

// A short `sendfile` (the file ended before `len`) must not be taken for a
// full socket: under edge-triggered epoll that waited for an edge that never
// comes, and the next `sendfile` at the file's end hung.
both_drivers!(sendfile_short_count_then_end_of_file, |d: DriverChoice| {
    let path = std::env::temp_dir().join(format!(
        "percore-sendfile-eof-{}-{:?}",
        std::process::id(),
        d
    ));
    std::fs::write(&path, b"hello sendfile").unwrap();
    block_on(d, async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, _) = listener.accept().await.unwrap();
        let file = percore_runtime::fs::File::open(&path).await.unwrap();
        assert_eq!(server.sendfile(&file, 6, 100).await.unwrap(), 8);
        let (n, buf) = client.read(Vec::with_capacity(16)).await;
        assert_eq!(&buf[..n.unwrap()], b"sendfile");
        let end = timeout(Duration::from_secs(5), server.sendfile(&file, 14, 100)).await;
        assert_eq!(
            end.expect("sendfile at the end of the file hung").unwrap(),
            0
        );
    });
    std::fs::remove_file(&path).unwrap();
});

both_drivers!(try_write_sends_in_place_only_on_epoll, |d: DriverChoice| {
    block_on(d, async move {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, _) = listener.accept().await.unwrap();
        let first = b"in place".to_vec();
        if on_uring(d) {
            // A send is an operation of the ring: never in place.
            assert!(server.try_write(&first).is_none());
            return;
        }
        assert_eq!(server.try_write(&first).unwrap().unwrap(), first.len());
        // The peer reads nothing: the socket fills, a partial or refused
        // send clears readiness, and from then on nothing is sent in place.
        let block = vec![7u8; 1 << 20];
        let mut sent = first.len();
        let mut in_place = 0;
        while let Some(n) = server.try_write(&block) {
            sent += n.unwrap();
            in_place += 1;
            assert!(in_place < 10_000, "a full socket kept taking bytes");
        }
        assert!(
            server.try_write(&first).is_none(),
            "readiness stays cleared"
        );
        // The waiting write goes on once the peer reads; every byte arrives
        // in order.
        let reader = spawn_local(async move {
            let mut got = Vec::new();
            loop {
                let (n, buf) = client.read(Vec::with_capacity(64 << 10)).await;
                let n = n.unwrap();
                if n == 0 {
                    return got;
                }
                got.extend_from_slice(&buf[..n]);
            }
        });
        server.write_all(b"tail".to_vec()).await.0.unwrap();
        server.shutdown(std::net::Shutdown::Write).unwrap();
        let got = reader.await.unwrap();
        assert_eq!(got.len(), sent + 4);
        assert_eq!(&got[..first.len()], b"in place");
        assert!(got[first.len()..sent].iter().all(|&b| b == 7));
        assert_eq!(&got[sent..], b"tail");
    })
});
