//! Accepting connections on every path: io_uring with one multishot accept
//! per listener, io_uring with one accept per connection (multishot off,
//! as on a kernel whose probe says no), and epoll. Cancelled accepts lose
//! no connection and leak no descriptor, a listener dropped with
//! connections queued closes them, a listener nobody accepts on holds a
//! bounded queue and resumes, and a kernel that refuses the multishot
//! accept gets single accepts.

mod common;
use common::*;

use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use percore_runtime::net::{TcpListener, TcpStream, UnixListener, UnixStream};
use percore_runtime::time::{sleep, timeout};
use percore_runtime::{debug_tracked_ops, Builder, DriverChoice, Runtime};

/// The three ways a listener accepts.
#[derive(Debug, Clone, Copy)]
enum Path {
    UringMultishot,
    UringSingle,
    Epoll,
}

const PATHS: [Path; 3] = [Path::UringMultishot, Path::UringSingle, Path::Epoll];

fn runtime_for(path: Path) -> Runtime {
    let builder = match path {
        Path::UringMultishot => Builder::new()
            .driver(DriverChoice::Uring)
            .multishot_accept(true),
        Path::UringSingle => Builder::new()
            .driver(DriverChoice::Uring)
            .multishot_accept(false),
        Path::Epoll => Builder::new().driver(DriverChoice::Epoll),
    };
    builder.build().expect("runtime")
}

/// Connects, sends `id` and keeps the stream open.
async fn client(addr: SocketAddr, id: u32) -> TcpStream {
    let stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(id.to_be_bytes().to_vec()).await.0.unwrap();
    stream
}

/// The id the peer of `stream` sent.
async fn read_id(stream: &TcpStream) -> u32 {
    let mut buf = Vec::with_capacity(4);
    while buf.len() < 4 {
        let (n, b) = stream.read(buf).await;
        assert!(n.unwrap() > 0, "peer closed before its id");
        buf = b;
    }
    u32::from_be_bytes(buf[..4].try_into().unwrap())
}

/// Accepts until `want` ids are in, or until nothing arrives for 200 ms.
async fn accept_ids(listener: &TcpListener, want: usize) -> Vec<u32> {
    let mut ids = Vec::new();
    while ids.len() < want {
        match timeout(Duration::from_millis(200), listener.accept()).await {
            Ok(Ok((stream, peer))) => {
                assert_eq!(peer, stream.peer_addr().unwrap(), "the peer's address");
                ids.push(read_id(&stream).await);
            }
            Ok(Err(e)) => panic!("accept failed: {e}"),
            Err(_) => break,
        }
    }
    ids.sort_unstable();
    ids
}

/// Half the accepts are cancelled (at once, or after the kernel saw them)
/// while connections arrive; every connection is accepted exactly once
/// afterwards (except on single io_uring accepts, see below), and at the
/// end no descriptor or operation is left.
#[test]
fn cancelled_accepts_lose_no_connection() {
    let _serial = serial();
    for path in PATHS {
        let fds_before = open_fds();
        runtime_for(path).block_on(async {
            let listener = Rc::new(TcpListener::bind("127.0.0.1:0").unwrap());
            let addr = listener.local_addr().unwrap();
            let mut clients = Vec::new();
            let mut ids = Vec::new();
            for id in 0..200u32 {
                let l = listener.clone();
                let wait = if id % 2 == 0 { 0 } else { 1 };
                let got = timeout(Duration::from_millis(wait), async move {
                    l.accept_stream().await
                })
                .await;
                if let Ok(accepted) = got {
                    ids.push(read_id(&accepted.unwrap()).await);
                }
                clients.push(client(addr, id).await);
            }
            ids.extend(accept_ids(&listener, 200 - ids.len()).await);
            ids.sort_unstable();
            match path {
                // A single accept the kernel completed at once, for a
                // future dropped before it saw the result, closes its
                // connection (the orphan's clean-up): some are lost.
                Path::UringSingle => {
                    ids.dedup();
                    assert!(ids.len() <= 200 && ids.iter().all(|&id| id < 200));
                }
                // A multishot accept's connections wait in the driver,
                // not in the future: none is lost.
                Path::UringMultishot | Path::Epoll => {
                    assert_eq!(ids, (0..200).collect::<Vec<u32>>(), "{path:?}")
                }
            }
            drop(clients);
            drop(listener);
            sleep(Duration::from_millis(20)).await;
            assert_eq!(debug_tracked_ops(), 0, "{path:?}: operations left");
        });
        assert!(
            open_fds() <= fds_before,
            "{path:?}: descriptors leaked ({} open, {fds_before} before)",
            open_fds()
        );
    }
}

/// A listener dropped while connections wait in its queue (a multishot
/// accept took them already) closes them: the peers see end of stream and
/// no descriptor stays open.
#[test]
fn a_dropped_listener_closes_the_connections_it_queued() {
    let _serial = serial();
    for path in PATHS {
        let fds_before = open_fds();
        runtime_for(path).block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            // The first accept arms the multishot accept.
            let first = timeout(Duration::ZERO, listener.accept()).await;
            assert!(first.is_err(), "nobody connected yet");
            let mut clients = Vec::new();
            for id in 0..20 {
                clients.push(client(addr, id).await);
            }
            sleep(Duration::from_millis(20)).await;
            drop(listener);
            sleep(Duration::from_millis(20)).await;
            for c in &clients {
                let (n, _) = timeout(Duration::from_secs(2), c.read(Vec::with_capacity(8)))
                    .await
                    .expect("the server side was closed");
                // End of stream, or a reset of a connection never accepted.
                assert!(matches!(n, Ok(0) | Err(_)), "{path:?}: {n:?}");
            }
            drop(clients);
            sleep(Duration::from_millis(20)).await;
            assert_eq!(debug_tracked_ops(), 0, "{path:?}: operations left");
        });
        assert!(
            open_fds() <= fds_before,
            "{path:?}: descriptors leaked ({} open, {fds_before} before)",
            open_fds()
        );
    }
}

/// More connections arrive than a multishot accept queues before it is
/// stopped (128): the descriptors held for a listener nobody accepts on
/// stay bounded, and accepting again resumes with every connection.
#[test]
fn a_listener_nobody_accepts_on_holds_a_bounded_queue() {
    let _serial = serial();
    raise_nofile(4096);
    for path in PATHS {
        let fds_before = open_fds();
        runtime_for(path).block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            assert!(timeout(Duration::ZERO, listener.accept()).await.is_err());
            let mut clients = Vec::new();
            for id in 0..300 {
                clients.push(client(addr, id).await);
            }
            sleep(Duration::from_millis(50)).await;
            // 300 client sockets, at most 128 accepted and queued (+ slack
            // for the kernel's completions still on their way).
            let held = open_fds() - fds_before - clients.len();
            assert!(held <= 140, "{path:?}: {held} descriptors held");
            let ids = accept_ids(&listener, 300).await;
            assert_eq!(ids, (0..300).collect::<Vec<u32>>(), "{path:?}");
        });
        assert!(open_fds() <= fds_before, "{path:?}: descriptors leaked");
    }
}

/// A socket that is bound but not listening makes the kernel refuse the
/// accept (EINVAL) on every path: the multishot accept gives up on itself
/// and the single accept reports the error; nothing hangs.
#[test]
fn an_accept_the_kernel_refuses_falls_back_and_fails() {
    let _serial = serial();
    for path in PATHS {
        runtime_for(path).block_on(async {
            let socket = socket2::Socket::new(
                socket2::Domain::IPV4,
                socket2::Type::STREAM,
                Some(socket2::Protocol::TCP),
            )
            .unwrap();
            socket
                .bind(&"127.0.0.1:0".parse::<SocketAddr>().unwrap().into())
                .unwrap();
            let listener = TcpListener::from_std(socket.into()).unwrap();
            for _ in 0..2 {
                let got = timeout(Duration::from_secs(2), listener.accept())
                    .await
                    .expect("the refused accept returns");
                let err = got.expect_err("no connection on a socket not listening");
                assert_eq!(err.raw_os_error(), Some(libc::EINVAL), "{path:?}: {err}");
            }
            drop(listener);
            sleep(Duration::from_millis(20)).await;
            assert_eq!(debug_tracked_ops(), 0, "{path:?}: operations left");
        });
    }
}

/// Unix listeners take the same path; the multishot accept has no
/// address to give, so the peer's comes from `getpeername(2)`.
#[test]
fn unix_listeners_accept_on_every_path() {
    let _serial = serial();
    for path in PATHS {
        let dir = std::env::temp_dir().join(format!("percore-accept-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let sock = dir.join("l.sock");
        let fds_before = open_fds();
        runtime_for(path).block_on(async {
            let listener = UnixListener::bind(&sock).unwrap();
            for round in 0..20u8 {
                let c = UnixStream::connect(&sock).await.unwrap();
                c.write_all(vec![round]).await.0.unwrap();
                let (s, _peer) = listener.accept().await.unwrap();
                let (n, buf) = s.read(Vec::with_capacity(4)).await;
                assert_eq!((n.unwrap(), buf[0]), (1, round), "{path:?}");
            }
            drop(listener);
            sleep(Duration::from_millis(20)).await;
            assert_eq!(debug_tracked_ops(), 0, "{path:?}: operations left");
        });
        assert!(open_fds() <= fds_before, "{path:?}: descriptors leaked");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
