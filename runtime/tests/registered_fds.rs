//! Registered (direct) descriptors for accepted and connected sockets
//! (io_uring, `Builder::registered_fds`): each test runs with them on, off
//! on io_uring, and on epoll (which has none). Echo over many connections
//! arrives intact; a slot freed by a closed socket and given to a new one
//! never delivers to the old socket, and the old socket's peer sees its
//! close; a full table leaves further sockets unregistered and working;
//! dropped reads leave no operation, descriptor or slot behind; a
//! connection to a peer outside the runtime holds a slot of its own.

mod common;
use common::*;

use std::rc::Rc;
use std::time::{Duration, Instant};

use percore_runtime::future::{race, Either};
use percore_runtime::io::write_all;
use percore_runtime::net::{TcpListener, TcpStream};
use percore_runtime::time::sleep;
use percore_runtime::{debug_registered_fds, spawn_local, Builder, DriverChoice, Runtime};

/// A configuration under test.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    /// io_uring, accepted and connected sockets registered.
    On,
    /// io_uring, not registered.
    Off,
    /// epoll.
    Epoll,
}

const MODES: [Mode; 3] = [Mode::On, Mode::Off, Mode::Epoll];

fn runtime(mode: Mode, slots: u32) -> Runtime {
    let builder = match mode {
        Mode::Epoll => Builder::new().driver(DriverChoice::Epoll),
        _ => Builder::new()
            .driver(DriverChoice::Uring)
            .registered_fds(mode == Mode::On)
            .registered_fds_slots(slots),
    };
    builder.build().expect("runtime")
}

/// Slots in use as the mode expects them: `on` with the table, none else.
fn expect_slots(mode: Mode, on: usize) -> Option<usize> {
    (mode == Mode::On).then_some(on)
}

/// Waits (bounded) until the slots in use are `want`: a released slot is
/// free again once its close through the ring completed.
async fn slots_settle(mode: Mode, want: usize) {
    let deadline = Instant::now() + Duration::from_secs(2);
    while debug_registered_fds() != expect_slots(mode, want) && Instant::now() < deadline {
        sleep(Duration::from_millis(2)).await;
    }
    assert_eq!(debug_registered_fds(), expect_slots(mode, want), "{mode:?}");
}

/// Reads exactly `len` bytes.
/// A connection to `listener` (at `addr`): the accepted socket and the
/// client's.
async fn connected(listener: &TcpListener, addr: std::net::SocketAddr) -> (TcpStream, TcpStream) {
    let client = spawn_local(async move { TcpStream::connect(addr).await.unwrap() });
    let (server, _) = listener.accept().await.unwrap();
    (server, client.await.unwrap())
}

/// No operation is still tracked by the driver.
fn assert_no_ops_leaked(mode: Mode) {
    assert_eq!(
        percore_runtime::debug_tracked_ops(),
        0,
        "{mode:?}: ops leaked"
    );
}

async fn read_exact(s: &TcpStream, len: usize) -> Vec<u8> {
    let mut got = Vec::with_capacity(len);
    while got.len() < len {
        let (res, buf) = s.read(Vec::with_capacity(len - got.len())).await;
        let n = res.unwrap();
        assert!(n > 0, "early end of stream at {}", got.len());
        got.extend_from_slice(&buf);
    }
    got
}

/// Bytes of connection `id`.
fn message(id: usize, len: usize) -> Vec<u8> {
    (0..len).map(|i| ((i * 7 + id * 13) % 251) as u8).collect()
}

/// Serves `n` connections of `listener`, echoing each until its end.
fn echo_server(listener: Rc<TcpListener>, n: usize) {
    spawn_local(async move {
        for _ in 0..n {
            let (stream, _) = listener.accept().await.unwrap();
            spawn_local(async move {
                loop {
                    let (res, buf) = stream.read(Vec::with_capacity(4096)).await;
                    match res {
                        Ok(0) | Err(_) => break,
                        Ok(_) => write_all(&stream, buf).await.0.unwrap(),
                    }
                }
            });
        }
    });
}

fn echo_many(mode: Mode) {
    runtime(mode, 4096).block_on(async move {
        let fds = open_fds();
        let n = 64;
        let listener = Rc::new(TcpListener::bind("127.0.0.1:0").unwrap());
        let addr = listener.local_addr().unwrap();
        echo_server(listener.clone(), n);
        let mut clients = Vec::new();
        for id in 0..n {
            clients.push(spawn_local(async move {
                let client = TcpStream::connect(addr).await.unwrap();
                for round in 0..3 {
                    let msg = message(id + round, 3000 + id * 17);
                    write_all(&client, msg.clone()).await.0.unwrap();
                    assert_eq!(read_exact(&client, msg.len()).await, msg, "connection {id}");
                }
                client
            }));
        }
        let mut open = Vec::new();
        for c in clients {
            open.push(c.await.unwrap());
        }
        // Every socket, accepted and connected, holds a slot while open.
        assert_eq!(
            debug_registered_fds(),
            expect_slots(mode, 2 * n),
            "{mode:?}"
        );
        drop(open);
        slots_settle(mode, 0).await;
        drop(listener);
        sleep(Duration::from_millis(10)).await;
        assert_no_ops_leaked(mode);
        assert_eq!(open_fds(), fds, "{mode:?}: descriptors leaked");
    });
}

#[test]
fn echo_over_many_connections_is_intact() {
    let _serial = serial();
    for mode in MODES {
        echo_many(mode);
    }
}

/// Two slots: A's client and A's accepted socket take them (the client's
/// socket exists first); A's accepted socket closes with a read in flight,
/// and C's client gets its slot (the table is then full, so C's accepted
/// socket goes unregistered). A's peer sees the end of A, not C's bytes,
/// and C's client receives only its own peer's bytes: the dropped read of
/// the old socket never lands in the slot's new owner.
fn slot_reuse(mode: Mode) {
    runtime(mode, 2).block_on(async move {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let (server_a, client_a) = connected(&listener, addr).await;
        assert_eq!(debug_registered_fds(), expect_slots(mode, 2));
        // A read in flight on A, dropped, then A closed.
        let raced = race(
            server_a.read(Vec::with_capacity(64)),
            sleep(Duration::from_millis(5)),
        )
        .await;
        assert!(matches!(raced, Either::Right(())));
        drop(server_a);
        slots_settle(mode, 1).await;

        let (server_c, client_c) = connected(&listener, addr).await;
        assert_eq!(debug_registered_fds(), expect_slots(mode, 2));

        // A's peer sees A's end (the table let go of A's file too).
        let (res, buf) = client_a.read(Vec::with_capacity(64)).await;
        assert!(
            matches!(res, Ok(0)),
            "{mode:?}: A's peer read {res:?} {buf:?}"
        );
        // Bytes A's peer sends now go nowhere near C.
        let _ = write_all(&client_a, b"from-a".to_vec()).await;
        write_all(&client_c, b"from-c".to_vec()).await.0.unwrap();
        assert_eq!(read_exact(&server_c, 6).await, b"from-c");
        write_all(&server_c, b"to-c".to_vec()).await.0.unwrap();
        assert_eq!(read_exact(&client_c, 4).await, b"to-c");
        drop((server_c, client_c, client_a, listener));
        slots_settle(mode, 0).await;
        sleep(Duration::from_millis(10)).await;
        assert_no_ops_leaked(mode);
    });
}

#[test]
fn a_reused_slot_never_reaches_the_old_socket() {
    let _serial = serial();
    for mode in MODES {
        slot_reuse(mode);
    }
}

/// Two slots, five connections (ten sockets): the first connection's two
/// sockets take both, the rest go unregistered and echo all the same; once
/// the first are closed, new sockets get slots again.
fn table_full(mode: Mode) {
    runtime(mode, 2).block_on(async move {
        let fds = open_fds();
        let listener = Rc::new(TcpListener::bind("127.0.0.1:0").unwrap());
        let addr = listener.local_addr().unwrap();
        echo_server(listener.clone(), 7);
        let mut clients = Vec::new();
        for id in 0..5 {
            let client = TcpStream::connect(addr).await.unwrap();
            let msg = message(id, 5000);
            write_all(&client, msg.clone()).await.0.unwrap();
            assert_eq!(read_exact(&client, msg.len()).await, msg, "{mode:?} {id}");
            clients.push(client);
        }
        assert_eq!(debug_registered_fds(), expect_slots(mode, 2), "{mode:?}");
        drop(clients);
        slots_settle(mode, 0).await;
        let mut again = Vec::new();
        for id in 0..2 {
            let client = TcpStream::connect(addr).await.unwrap();
            write_all(&client, message(id, 100)).await.0.unwrap();
            assert_eq!(read_exact(&client, 100).await, message(id, 100));
            again.push(client);
        }
        assert_eq!(debug_registered_fds(), expect_slots(mode, 2), "{mode:?}");
        drop(again);
        slots_settle(mode, 0).await;
        drop(listener);
        sleep(Duration::from_millis(10)).await;
        assert_eq!(open_fds(), fds, "{mode:?}: descriptors leaked");
    });
}

#[test]
fn a_full_table_leaves_sockets_unregistered_and_working() {
    let _serial = serial();
    for mode in MODES {
        table_full(mode);
    }
}

/// Reads dropped mid-wait on registered sockets, then a read that gets
/// its bytes: nothing stays tracked, open or registered afterwards, and
/// every provided buffer taken went back.
fn dropped_reads(mode: Mode) {
    runtime(mode, 4096).block_on(async move {
        let fds = open_fds();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        for id in 0..20 {
            let (server, client) = connected(&listener, addr).await;
            for _ in 0..2 {
                let raced = race(
                    server.read(Vec::with_capacity(128)),
                    sleep(Duration::from_millis(2)),
                )
                .await;
                assert!(matches!(raced, Either::Right(())), "{mode:?}");
            }
            write_all(&client, message(id, 300)).await.0.unwrap();
            assert_eq!(read_exact(&server, 300).await, message(id, 300));
            if id % 2 == 0 {
                // One more dropped read, left for the close to end.
                let _ = race(
                    server.read(Vec::with_capacity(128)),
                    sleep(Duration::from_millis(1)),
                )
                .await;
            }
            drop((server, client));
        }
        slots_settle(mode, 0).await;
        drop(listener);
        sleep(Duration::from_millis(10)).await;
        assert_no_ops_leaked(mode);
        assert_eq!(open_fds(), fds, "{mode:?}: descriptors leaked");
        if let Some(stats) = percore_runtime::debug_provided_buffers() {
            assert_eq!(stats.taken, stats.recycled, "{mode:?}: {stats:?}");
        }
    });
}

#[test]
fn dropped_reads_leak_nothing() {
    let _serial = serial();
    for mode in MODES {
        dropped_reads(mode);
    }
}

/// A connection to a peer outside the runtime (a std listener on another
/// thread): the connected socket alone holds a slot while open, echoes
/// through it intact, and frees it on close.
fn connected_only(mode: Mode) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let peer = std::thread::spawn(move || {
        use std::io::{Read, Write};
        let (mut stream, _) = listener.accept().unwrap();
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => stream.write_all(&buf[..n]).unwrap(),
            }
        }
    });
    runtime(mode, 16).block_on(async move {
        let client = TcpStream::connect(addr).await.unwrap();
        assert_eq!(debug_registered_fds(), expect_slots(mode, 1), "{mode:?}");
        for round in 0..4 {
            let msg = message(round, 10_000);
            write_all(&client, msg.clone()).await.0.unwrap();
            assert_eq!(read_exact(&client, msg.len()).await, msg, "{mode:?}");
        }
        drop(client);
        slots_settle(mode, 0).await;
        sleep(Duration::from_millis(10)).await;
        assert_no_ops_leaked(mode);
    });
    // The peer saw the end of the stream: the client's descriptor (and its
    // slot's file) closed.
    peer.join().unwrap();
}

#[test]
fn a_connected_socket_takes_a_slot_of_its_own() {
    let _serial = serial();
    for mode in MODES {
        connected_only(mode);
    }
}
