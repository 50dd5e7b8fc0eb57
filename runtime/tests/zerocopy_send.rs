//! Zero-copy sends (io_uring, `Builder::zerocopy_send`) against the plain
//! write paths: each test runs with zero-copy sends, with plain sends on
//! io_uring and on epoll (which always sends plainly). Large writes arrive
//! intact and in order; a write dropped or timed out mid-send keeps its
//! buffer with the driver until the kernel's notification and then frees
//! it (no buffer, operation or descriptor leaked); a socket that refuses
//! zero-copy (a Unix socket: `EOPNOTSUPP`) falls back to plain sends.

mod common;
use common::*;

use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use percore_runtime::buf::IoBuf;
use percore_runtime::future::{race, Either};
use percore_runtime::io::{write_all_timeout, OwnedRead, OwnedWrite};
use percore_runtime::net::{TcpListener, TcpStream, UnixStream};
use percore_runtime::time::sleep;
use percore_runtime::{spawn_local, Builder, DriverChoice, Runtime};

/// A write path under test.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    /// io_uring, writes of 16 KiB and more zero-copy.
    ZeroCopy,
    /// io_uring, plain sends.
    Plain,
    /// epoll.
    Epoll,
}

const MODES: [Mode; 3] = [Mode::ZeroCopy, Mode::Plain, Mode::Epoll];

fn runtime(mode: Mode) -> Runtime {
    let builder = match mode {
        Mode::Epoll => Builder::new().driver(DriverChoice::Epoll),
        _ => Builder::new()
            .driver(DriverChoice::Uring)
            .zerocopy_send(mode == Mode::ZeroCopy)
            .zerocopy_send_min(16 * 1024),
    };
    builder.build().expect("runtime")
}

/// The byte at offset `i` of the test streams.
fn pattern(i: usize) -> u8 {
    (i % 251) as u8
}

fn bytes_from(from: usize, len: usize) -> Vec<u8> {
    (from..from + len).map(pattern).collect()
}

async fn tcp_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let connect = spawn_local(async move { TcpStream::connect(addr).await.unwrap() });
    let (server, _) = listener.accept().await.unwrap();
    (server, connect.await.unwrap())
}

/// Reads `total` bytes from `s` and checks them against the pattern.
async fn read_and_check<S: OwnedRead>(s: &S, total: usize, mode: Mode) {
    let mut read = 0;
    while read < total {
        let (res, buf) = s.read(Vec::with_capacity(64 * 1024)).await;
        let n = res.unwrap();
        assert!(n > 0, "{mode:?}: early end of stream at {read}");
        for (k, &b) in buf.iter().enumerate() {
            assert_eq!(b, pattern(read + k), "{mode:?}: byte {}", read + k);
        }
        read += n;
    }
}

/// Writes of mixed sizes around the threshold, single and vectored (a small
/// head and a large body, as the HTTP server writes a response), to `w`,
/// returns the bytes written.
async fn write_mixed<W: OwnedWrite + 'static>(w: Rc<W>) -> usize {
    let sizes = [100, 20 * 1024, 1 << 20, 17 * 1024, 3, 256 * 1024, 16 * 1024];
    let mut at = 0;
    for (i, &len) in sizes.iter().enumerate() {
        if i % 2 == 0 {
            let (res, _) = percore_runtime::io::write_all(&*w, bytes_from(at, len)).await;
            res.unwrap();
            at += len;
        } else {
            let head = Bytes::from(bytes_from(at, 90));
            let body = Bytes::from(bytes_from(at + 90, len));
            let (res, _) = percore_runtime::io::write_all_vectored(&*w, vec![head, body]).await;
            res.unwrap();
            at += 90 + len;
        }
    }
    at
}

/// Bytes `write_mixed` writes.
const MIXED_TOTAL: usize =
    100 + (90 + 20 * 1024) + (1 << 20) + (90 + 17 * 1024) + 3 + (90 + 256 * 1024) + 16 * 1024;

/// At rest: no operation tracked (after the sockets are gone).
fn assert_at_rest(mode: Mode) {
    assert_eq!(
        percore_runtime::debug_tracked_ops(),
        0,
        "{mode:?}: ops leaked"
    );
}

fn large_writes_tcp(mode: Mode) {
    runtime(mode).block_on(async move {
        let fds = open_fds();
        let before = percore_runtime::debug_zerocopy_notifications();
        let (server, client) = tcp_pair().await;
        let server = Rc::new(server);
        let writer = spawn_local(write_mixed(server.clone()));
        // The reader starts late: the writes fill the socket and wait.
        sleep(Duration::from_millis(20)).await;
        let written = {
            let reader = spawn_local(async move {
                read_and_check(&client, MIXED_TOTAL, mode).await;
                (client, MIXED_TOTAL)
            });
            let written = writer.await.unwrap();
            let (client, total) = reader.await.unwrap();
            assert_eq!(written, total);
            drop(client);
            written
        };
        let notifications = percore_runtime::debug_zerocopy_notifications() - before;
        match mode {
            // Five writes reach the threshold (some are sent in parts).
            Mode::ZeroCopy => assert!(notifications >= 5, "{notifications} zero-copy sends"),
            _ => assert_eq!(notifications, 0, "{mode:?}: zero-copy sends"),
        }
        drop(server);
        sleep(Duration::from_millis(10)).await;
        assert_at_rest(mode);
        assert_eq!(
            open_fds(),
            fds,
            "{mode:?}: descriptors leaked ({written} bytes)"
        );
    });
}

#[test]
fn large_writes_arrive_intact_and_in_order() {
    let _serial = serial();
    for mode in MODES {
        large_writes_tcp(mode);
    }
}

/// A buffer that counts its drops.
struct Tracked {
    bytes: Vec<u8>,
    drops: Arc<AtomicUsize>,
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::SeqCst);
    }
}

// SAFETY: the bytes are a Vec's heap storage, which stays put and
// unchanged while the value lives.
unsafe impl IoBuf for Tracked {
    fn write_source(&self) -> (*const u8, usize) {
        (self.bytes.as_ptr(), self.bytes.len())
    }
    fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }
}

/// Writes to a peer that does not read: some are dropped mid-send (raced
/// against a sleep), some time out; every buffer is freed once the
/// kernel is done with it, and nothing stays tracked after the sockets go.
fn dropped_writes(mode: Mode) {
    runtime(mode).block_on(async move {
        let fds = open_fds();
        let drops = Arc::new(AtomicUsize::new(0));
        let made = 6;
        let before = percore_runtime::debug_zerocopy_notifications();
        let (server, client) = tcp_pair().await;
        for i in 0..made {
            let buf = Tracked {
                bytes: vec![i as u8; 4 << 20],
                drops: drops.clone(),
            };
            if i % 2 == 0 {
                let write = percore_runtime::io::write_all(&server, buf);
                let raced = race(write, sleep(Duration::from_millis(5))).await;
                assert!(matches!(raced, Either::Right(())), "{mode:?}: 4 MiB fit");
            } else {
                let (res, back) = write_all_timeout(&server, buf, Duration::from_millis(5)).await;
                assert_eq!(res.unwrap_err().kind(), std::io::ErrorKind::TimedOut);
                assert!(back.is_none());
            }
        }
        // The peer reads what arrived, then both ends go.
        let drained = race(
            async {
                loop {
                    let (res, _) = client.read(Vec::with_capacity(1 << 20)).await;
                    if res.unwrap() == 0 {
                        break;
                    }
                }
            },
            sleep(Duration::from_millis(100)),
        )
        .await;
        assert!(matches!(drained, Either::Right(())));
        drop(server);
        drop(client);
        for _ in 0..100 {
            if drops.load(Ordering::SeqCst) == made && percore_runtime::debug_tracked_ops() == 0 {
                break;
            }
            sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(
            drops.load(Ordering::SeqCst),
            made,
            "{mode:?}: buffers leaked"
        );
        let notifications = percore_runtime::debug_zerocopy_notifications() - before;
        assert_eq!(mode == Mode::ZeroCopy, notifications > 0, "{mode:?}");
        assert_at_rest(mode);
        assert_eq!(open_fds(), fds, "{mode:?}: descriptors leaked");
    });
}

#[test]
fn dropped_and_timed_out_writes_leak_no_buffer() {
    let _serial = serial();
    for mode in MODES {
        dropped_writes(mode);
    }
}

/// Unix sockets refuse zero-copy sends (`EOPNOTSUPP`): the first large
/// write falls back to a plain send, and the socket sends plainly from
/// then on; every byte arrives in order.
fn refused(mode: Mode) {
    runtime(mode).block_on(async move {
        let fds = open_fds();
        let (a, b) = UnixStream::pair().unwrap();
        let a = Rc::new(a);
        let writer = spawn_local(write_mixed(a.clone()));
        read_and_check(&b, MIXED_TOTAL, mode).await;
        assert_eq!(writer.await.unwrap(), MIXED_TOTAL);
        drop((a, b));
        sleep(Duration::from_millis(10)).await;
        assert_at_rest(mode);
        assert_eq!(open_fds(), fds, "{mode:?}: descriptors leaked");
    });
}

#[test]
fn a_socket_that_refuses_zero_copy_falls_back_to_plain_sends() {
    let _serial = serial();
    for mode in MODES {
        refused(mode);
    }
}

#[test]
fn the_switch_and_the_threshold_reach_the_driver() {
    let _serial = serial();
    // Below the threshold, writes are plain; at it, zero-copy.
    runtime(Mode::ZeroCopy).block_on(async {
        let (server, client) = tcp_pair().await;
        let before = percore_runtime::debug_zerocopy_notifications();
        let small = vec![1u8; 16 * 1024 - 1];
        server.write_all(small).await.0.unwrap();
        assert_eq!(percore_runtime::debug_zerocopy_notifications(), before);
        server.write_all(vec![2u8; 16 * 1024]).await.0.unwrap();
        assert_eq!(
            percore_runtime::debug_zerocopy_notifications(),
            before + 1,
            "one zero-copy send, done only at its notification"
        );
        let mut got = 0;
        while got < 32 * 1024 - 1 {
            let (res, _) = client.read(Vec::with_capacity(64 * 1024)).await;
            got += res.unwrap();
        }
    });
}
