//! The multishot receive (io_uring, `Builder::multishot_recv`) against the
//! other read paths: each test runs with it, with single receives into
//! provided buffers, without provided buffers (the forced fallback of a
//! kernel without them) and on epoll. Cancelled reads and a buffer handed
//! to a new reader lose no byte; a peer that sends more than the per-socket
//! queue bound is held back by the kernel, not queued without bound; ring
//! exhaustion (`ENOBUFS`) recovers; nothing leaks (operations, provided
//! buffers, descriptors).

mod common;
use common::*;

use std::rc::Rc;
use std::time::Duration;

use bytes::BytesMut;
use percore_runtime::future::{race, Either};
use percore_runtime::io::ReadBuffer;
use percore_runtime::net::UnixStream;
use percore_runtime::time::sleep;
use percore_runtime::{spawn_local, Builder, DriverChoice, Runtime};

/// A read path under test.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    /// io_uring, multishot receive into provided buffers.
    Multishot,
    /// io_uring, one receive per read into provided buffers.
    Single,
    /// io_uring without provided buffers (so without multishot receive).
    NoBuffers,
    /// epoll.
    Epoll,
}

const MODES: [Mode; 4] = [Mode::Multishot, Mode::Single, Mode::NoBuffers, Mode::Epoll];

fn runtime(mode: Mode) -> Runtime {
    let builder = match mode {
        Mode::Epoll => Builder::new().driver(DriverChoice::Epoll),
        _ => Builder::new()
            .driver(DriverChoice::Uring)
            .provided_buffers(mode != Mode::NoBuffers)
            .multishot_recv(mode == Mode::Multishot),
    };
    builder.build().expect("runtime")
}

/// The byte at offset `i` of the test streams.
fn pattern(i: usize) -> u8 {
    (i % 251) as u8
}

fn check_pattern(from: usize, bytes: &[u8]) {
    for (k, &b) in bytes.iter().enumerate() {
        assert_eq!(b, pattern(from + k), "byte {}", from + k);
    }
}

/// At rest: no operation tracked (after the sockets are gone) and every
/// provided buffer taken was given back.
fn assert_at_rest(mode: Mode) {
    assert_eq!(
        percore_runtime::debug_tracked_ops(),
        0,
        "{mode:?}: ops leaked"
    );
    if let Some(stats) = percore_runtime::debug_provided_buffers() {
        assert_eq!(
            stats.taken, stats.recycled,
            "{mode:?}: buffers leaked: {stats:?}"
        );
    }
}

/// The writer sends numbered pieces; the reader cancels waits again and
/// again, hands its buffer over to a new `ReadBuffer` of the same stream
/// halfway, then reads the rest with plain `read`s: every piece arrives
/// once, in order.
fn cancelled_and_handed_over(mode: Mode) {
    runtime(mode).block_on(async move {
        let (a, b) = UnixStream::pair().unwrap();
        let b = Rc::new(b);
        const PIECES: u32 = 3000;
        let writer = spawn_local(async move {
            for i in 0..PIECES {
                a.write_all(i.to_be_bytes().to_vec()).await.0.unwrap();
                if i % 50 == 0 {
                    sleep(Duration::from_micros(300)).await;
                }
            }
            a
        });
        let mut got: Vec<u8> = Vec::new();
        let mut cancelled = 0;
        let mut input = ReadBuffer::new(b.clone(), BytesMut::new(), 256);
        while got.len() + input.buffer().len() < 4000 {
            match race(input.fill(None), std::future::ready(())).await {
                Either::Left(res) => assert!(res.unwrap() > 0, "early end of stream"),
                Either::Right(()) => {
                    cancelled += 1;
                    sleep(Duration::from_micros(100)).await;
                }
            }
        }
        assert!(cancelled > 0, "no wait was cancelled");
        // Hand over between reads, as an upgrade does.
        let handed = input.take_buffer();
        drop(input);
        let mut input = ReadBuffer::new(b.clone(), handed, 256);
        while got.len() + input.buffer().len() < 8000 {
            assert!(input.fill(None).await.unwrap() > 0, "early end of stream");
        }
        got.extend_from_slice(&input.take_buffer());
        drop(input);
        while got.len() < PIECES as usize * 4 {
            // Small buffers: what does not fit waits for the next read.
            let (res, buf) = b.read(Vec::with_capacity(7)).await;
            assert!(res.unwrap() > 0, "early end of stream at {}", got.len());
            got.extend_from_slice(&buf);
        }
        let a = writer.await.unwrap();
        let numbers: Vec<u32> = got
            .chunks(4)
            .map(|c| u32::from_be_bytes(c.try_into().unwrap()))
            .collect();
        assert_eq!(numbers, (0..PIECES).collect::<Vec<u32>>(), "{mode:?}");
        // End of stream comes through too.
        drop(a);
        let (res, _) = b.read(Vec::with_capacity(16)).await;
        assert_eq!(res.unwrap(), 0, "{mode:?}: end of stream");
        drop(b);
        sleep(Duration::from_millis(10)).await;
        assert_at_rest(mode);
    });
}

#[test]
fn cancelled_reads_and_a_handed_over_buffer_lose_no_byte() {
    let _serial = serial();
    for mode in MODES {
        cancelled_and_handed_over(mode);
    }
}

/// A peer sends 8 MiB while the reader pauses: the provided buffers its
/// socket holds stay bounded (the queue bound plus what the kernel received
/// in one go before the driver's stop reached it, never more than the
/// ring's 64 buffers), the rest waits in the kernel (the writer cannot
/// finish), and every byte then arrives in order.
fn a_fast_peer(mode: Mode) {
    runtime(mode).block_on(async move {
        let fds = open_fds();
        let (a, b) = UnixStream::pair().unwrap();
        const TOTAL: usize = 8 << 20;
        let done = Rc::new(std::cell::Cell::new(false));
        let written = done.clone();
        let writer = spawn_local(async move {
            let data: Vec<u8> = (0..TOTAL).map(pattern).collect();
            a.write_all(data).await.0.unwrap();
            written.set(true);
            a
        });
        let mut input = ReadBuffer::new(Rc::new(b), BytesMut::new(), 16 * 1024);
        let mut read = 0;
        for pause in 0..3 {
            // Reading and pausing: the multishot receive keeps receiving
            // until its queue is full, and no further.
            assert!(input.fill(None).await.unwrap() > 0);
            sleep(Duration::from_millis(30)).await;
            assert!(
                !done.get(),
                "{mode:?} pause {pause}: the writer was not held back"
            );
            if let Some(stats) = percore_runtime::debug_provided_buffers() {
                let held = stats.taken - stats.recycled;
                assert!(
                    held <= 64,
                    "{mode:?} pause {pause}: {held} buffers held: {stats:?}"
                );
                if mode == Mode::Multishot {
                    assert!(held > 0, "it received while the reader paused: {stats:?}");
                }
            }
            let buf = input.buffer_mut().split();
            check_pattern(read, &buf);
            read += buf.len();
        }
        while read < TOTAL {
            assert!(input.fill(None).await.unwrap() > 0, "early end at {read}");
            let buf = input.buffer_mut().split();
            check_pattern(read, &buf);
            read += buf.len();
        }
        let a = writer.await.unwrap();
        if mode == Mode::Multishot {
            let stats = percore_runtime::debug_provided_buffers().unwrap();
            assert!(stats.stopped > 0, "the queue bound stopped it: {stats:?}");
        }
        drop((a, input));
        sleep(Duration::from_millis(10)).await;
        assert_at_rest(mode);
        assert_eq!(open_fds(), fds, "{mode:?}: descriptors leaked");
    });
}

#[test]
fn a_peer_sending_more_than_the_queue_bound_is_held_back() {
    let _serial = serial();
    for mode in MODES {
        a_fast_peer(mode);
    }
}

/// 100 peers each send 64 KiB at once with every reader armed: more than
/// the ring's 64 provided buffers, so receives find none (`ENOBUFS`) and
/// fall back; every stream still arrives whole, and dropping the sockets
/// mid-stream (receives armed, buffers queued) leaks nothing.
fn exhaustion(mode: Mode) {
    runtime(mode).block_on(async move {
        let fds = open_fds();
        const CONNS: usize = 100;
        const EACH: usize = 64 * 1024;
        let mut writers = Vec::new();
        let mut readers = Vec::new();
        for _ in 0..CONNS {
            let (a, b) = UnixStream::pair().unwrap();
            writers.push(Rc::new(a));
            readers.push(ReadBuffer::new(Rc::new(b), BytesMut::new(), 4096));
        }
        for input in readers.iter_mut() {
            let waited = race(input.fill(None), std::future::ready(())).await;
            assert!(matches!(waited, Either::Right(())), "nothing sent yet");
        }
        let mut tasks = Vec::new();
        for a in &writers {
            let a = a.clone();
            tasks.push(spawn_local(async move {
                let data: Vec<u8> = (0..EACH).map(pattern).collect();
                a.write_all(data).await.0.unwrap();
            }));
        }
        sleep(Duration::from_millis(30)).await;
        for input in readers.iter_mut() {
            let mut read = 0;
            while read < EACH {
                assert!(input.fill(None).await.unwrap() > 0, "early end at {read}");
                let buf = input.buffer_mut().split();
                check_pattern(read, &buf);
                read += buf.len();
            }
        }
        for t in tasks {
            t.await.unwrap();
        }
        if mode == Mode::Multishot || mode == Mode::Single {
            let stats = percore_runtime::debug_provided_buffers().unwrap();
            assert!(stats.exhausted > 0, "{mode:?}: the ring ran out: {stats:?}");
        }
        // Half the peers send again; all sockets go while receives are armed
        // and some completions wait in their queues.
        for a in writers.iter().step_by(2) {
            a.write_all(vec![1u8; 20_000]).await.0.unwrap();
        }
        sleep(Duration::from_millis(10)).await;
        drop(readers);
        drop(writers);
        sleep(Duration::from_millis(30)).await;
        assert_at_rest(mode);
        assert_eq!(open_fds(), fds, "{mode:?}: descriptors leaked");
    });
}

#[test]
fn ring_exhaustion_recovers_and_dropped_sockets_leak_nothing() {
    let _serial = serial();
    for mode in MODES {
        exhaustion(mode);
    }
}

#[test]
fn the_switch_reaches_the_driver() {
    let _serial = serial();
    // With the switch on, reads of an idle socket hold no provided buffer
    // and arm one operation that stays armed across reads.
    runtime(Mode::Multishot).block_on(async {
        let (a, b) = UnixStream::pair().unwrap();
        let mut input = ReadBuffer::new(Rc::new(b), BytesMut::new(), 1024);
        for i in 0..5u8 {
            let waited = race(input.fill(None), std::future::ready(())).await;
            assert!(matches!(waited, Either::Right(())));
            assert_eq!(percore_runtime::debug_tracked_ops(), 1, "one armed receive");
            let stats = percore_runtime::debug_provided_buffers().unwrap();
            assert_eq!(
                stats.taken, stats.recycled,
                "an idle socket holds no buffer"
            );
            a.write_all(vec![i; 10]).await.0.unwrap();
            assert_eq!(input.fill(None).await.unwrap(), 10);
            assert_eq!(&input.buffer_mut().split()[..], &[i; 10]);
        }
        let stats = percore_runtime::debug_provided_buffers().unwrap();
        assert_eq!(stats.taken, 5, "each message took one buffer: {stats:?}");
        assert!(
            !input.is_reading(),
            "the queue is the socket's, not a read's"
        );
    });
}
