//! `io::ReadBuffer` on both drivers: cancelled reads lose no byte, the
//! deadline ends a wait and not the read, the buffer grows as asked.

mod common;
use common::*;

use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use percore_runtime::future::{race, Either};
use percore_runtime::io::ReadBuffer;
use percore_runtime::net::UnixStream;
use percore_runtime::time::sleep;
use percore_runtime::{spawn_local, DriverChoice};

both_drivers!(cancelled_reads_lose_no_byte, |choice: DriverChoice| {
    block_on(choice, async {
        let (a, b) = UnixStream::pair().unwrap();
        let mut input = ReadBuffer::new(Rc::new(b), BytesMut::new(), 64);
        // The writer sends 200 numbered pieces, pausing now and then, while
        // the reader cancels its wait again and again.
        let writer = spawn_local(async move {
            for i in 0..200u32 {
                a.write_all(i.to_be_bytes().to_vec()).await.0.unwrap();
                if i % 7 == 0 {
                    sleep(Duration::from_millis(1)).await;
                }
            }
        });
        let mut cancelled = 0;
        while input.buffer().len() < 800 {
            match race(input.fill(None), std::future::ready(())).await {
                Either::Left(res) => assert!(res.unwrap() > 0, "early end of stream"),
                Either::Right(()) => {
                    cancelled += 1;
                    // Let the read in flight take what arrives meanwhile.
                    sleep(Duration::from_micros(200)).await;
                }
            }
        }
        writer.await.unwrap();
        assert!(cancelled > 0, "no wait was cancelled");
        let got: Vec<u32> = input
            .buffer()
            .chunks(4)
            .map(|c| u32::from_be_bytes(c.try_into().unwrap()))
            .collect();
        assert_eq!(got, (0..200).collect::<Vec<u32>>());
    })
});

both_drivers!(
    a_deadline_ends_the_wait_not_the_read,
    |choice: DriverChoice| {
        block_on(choice, async {
            let (a, b) = UnixStream::pair().unwrap();
            let mut input = ReadBuffer::new(Rc::new(b), BytesMut::from(&b"kept "[..]), 64);
            let start = Instant::now();
            let err = input
                .fill(Some(start + Duration::from_millis(20)))
                .await
                .unwrap_err();
            assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
            assert!(start.elapsed() >= Duration::from_millis(20));
            // io_uring keeps its receive in flight; epoll has none to keep
            // (it reads when readiness says bytes are there), nor has a
            // multishot receive (whose queue is the socket's).
            let single = choice == DriverChoice::Uring && !percore_runtime::debug_multishot_recv();
            assert_eq!(input.is_reading(), single);
            a.write_all(b"late".to_vec()).await.0.unwrap();
            // A deadline already past still lets a completed read through.
            let mut n = 0;
            while n == 0 {
                match input
                    .fill(Some(Instant::now() + Duration::from_secs(5)))
                    .await
                {
                    Ok(got) => n = got,
                    Err(e) => panic!("{e}"),
                }
            }
            assert!(!input.is_reading());
            assert_eq!(&input.buffer()[..], b"kept late");
            // And a later wait with a new deadline times out again.
            let err = input
                .fill(Some(Instant::now() + Duration::from_millis(5)))
                .await
                .unwrap_err();
            assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
            drop(a);
            assert_eq!(input.fill(None).await.unwrap(), 0, "end of stream");
            assert_eq!(&input.buffer()[..], b"kept late");
        })
    }
);

both_drivers!(
    the_buffer_grows_for_expected_input,
    |choice: DriverChoice| {
        block_on(choice, async {
            let (a, b) = UnixStream::pair().unwrap();
            let mut input =
                ReadBuffer::new(Rc::new(b), BytesMut::new(), 1024).with_max_ahead(64 * 1024);
            a.write_all(vec![7u8; 10]).await.0.unwrap();
            input.fill(None).await.unwrap();
            // A piece of the core's scratch buffer, of the bytes' size (epoll,
            // and io_uring with provided buffers).
            assert!(input.buffer().capacity() < 32 * 1024);
            input.expect(40 * 1024);
            a.write_all(vec![8u8; 10]).await.0.unwrap();
            input.fill(None).await.unwrap();
            assert!(
                input.buffer().capacity() >= 40 * 1024,
                "room for what is expected"
            );
            input.buffer_mut().clear();
            input.expect(1 << 30);
            a.write_all(vec![9u8; 10]).await.0.unwrap();
            input.fill(None).await.unwrap();
            assert!(
                input.buffer().capacity() <= 128 * 1024,
                "never more than max_ahead reserved at once"
            );
            let taken = input.take_buffer();
            assert_eq!(&taken[..], &[9u8; 10]);
            // The taker can read on into it: it has room of its own.
            assert!(taken.capacity() - taken.len() >= 1024 / 4);
            assert!(input.buffer().is_empty());
        })
    }
);

both_drivers!(
    dropping_it_mid_read_cancels_the_read,
    |choice: DriverChoice| {
        block_on(choice, async {
            let (a, b) = UnixStream::pair().unwrap();
            let mut input = ReadBuffer::new(Rc::new(b), BytesMut::new(), 64);
            // Start a read and leave it in flight across a loop turn.
            let waited = race(input.fill(None), sleep(Duration::from_millis(5))).await;
            assert!(matches!(waited, Either::Right(())));
            let single = choice == DriverChoice::Uring && !percore_runtime::debug_multishot_recv();
            assert_eq!(input.is_reading(), single);
            drop(input);
            a.write_all(b"after".to_vec()).await.0.ok();
            drop(a);
            sleep(Duration::from_millis(20)).await;
            // The read was cancelled and its buffer released: nothing tracked.
            assert_eq!(percore_runtime::debug_tracked_ops(), 0, "nothing leaked");
        })
    }
);

both_drivers!(
    an_idle_buffer_holds_no_memory_and_keeps_every_byte,
    |choice: DriverChoice| {
        block_on(choice, async {
            let (a, b) = UnixStream::pair().unwrap();
            let mut input = ReadBuffer::new(Rc::new(b), BytesMut::new(), 1024);
            for round in 0..50u8 {
                // Two "pipelined requests" in one write: the parser takes the
                // first, the second stays buffered across the next wait.
                let piece = [round; 24];
                a.write_all([&piece[..], &piece[..]].concat())
                    .await
                    .0
                    .unwrap();
                while input.buffer().len() < 48 {
                    assert!(input.fill(None).await.unwrap() > 0);
                }
                let first = input.buffer_mut().split_to(24);
                assert_eq!(&first[..], &piece[..]);
                // A wait that finds nothing (io_uring: the read in flight
                // owns the leftover meanwhile).
                let waited = race(input.fill(None), sleep(Duration::from_millis(1))).await;
                assert!(matches!(waited, Either::Right(())));
                if choice == DriverChoice::Epoll {
                    // Only the leftover is kept, in memory of its own size.
                    assert_eq!(&input.buffer()[..], &piece[..], "round {round}");
                    assert_eq!(input.buffer().capacity(), 24, "round {round}");
                }
                let marker = [round.wrapping_add(100); 24];
                a.write_all(marker.to_vec()).await.0.unwrap();
                while input.buffer().len() < 48 {
                    assert!(input.fill(None).await.unwrap() > 0);
                }
                assert_eq!(&input.buffer()[..], &[piece, marker].concat()[..]);
                input.buffer_mut().clear();
                let waited = race(input.fill(None), sleep(Duration::from_millis(1))).await;
                assert!(matches!(waited, Either::Right(())));
                if choice == DriverChoice::Epoll {
                    // Idle: no buffer at all.
                    assert_eq!(input.buffer().capacity(), 0, "round {round}");
                }
                // Bytes held from an earlier read (the first "request") stay
                // intact while later reads reuse the scratch buffer.
                assert_eq!(&first[..], &piece[..]);
            }
            // A buffer taken right after a read (a protocol switch) has room
            // to read on into, and keeps the bytes.
            a.write_all(b"early".to_vec()).await.0.unwrap();
            while input.buffer().len() < 5 {
                assert!(input.fill(None).await.unwrap() > 0);
            }
            let taken = input.take_buffer();
            assert_eq!(&taken[..], b"early");
            assert!(taken.capacity() - taken.len() >= 256);
            drop(a);
            while input.fill(None).await.unwrap() != 0 {}
            assert!(input.buffer().is_empty());
        })
    }
);

/// A stream without a direct socket (as TLS): the reader-task path.
struct Indirect(UnixStream);

impl percore_runtime::io::OwnedRead for Indirect {
    async fn read<B: percore_runtime::buf::IoBufMut>(&self, buf: B) -> (std::io::Result<usize>, B) {
        self.0.read(buf).await
    }
}

both_drivers!(
    a_stream_without_a_direct_socket_loses_no_byte,
    |choice: DriverChoice| {
        block_on(choice, async {
            let (a, b) = UnixStream::pair().unwrap();
            let mut input = ReadBuffer::new(Rc::new(Indirect(b)), BytesMut::new(), 64);
            let writer = spawn_local(async move {
                for i in 0..100u32 {
                    a.write_all(i.to_be_bytes().to_vec()).await.0.unwrap();
                    if i % 9 == 0 {
                        sleep(Duration::from_millis(1)).await;
                    }
                }
            });
            let mut cancelled = 0;
            while input.buffer().len() < 400 {
                match race(input.fill(None), std::future::ready(())).await {
                    Either::Left(res) => assert!(res.unwrap() > 0, "early end of stream"),
                    Either::Right(()) => {
                        cancelled += 1;
                        // The task's read stays in flight on both drivers.
                        assert!(input.is_reading());
                        sleep(Duration::from_micros(200)).await;
                    }
                }
            }
            writer.await.unwrap();
            assert!(cancelled > 0);
            let got: Vec<u32> = input
                .buffer()
                .chunks(4)
                .map(|c| u32::from_be_bytes(c.try_into().unwrap()))
                .collect();
            assert_eq!(got, (0..100).collect::<Vec<u32>>());
        })
    }
);

/// 200 connections wait at once (more than the 64 provided buffers of an
/// io_uring), a third of the waits are cancelled and resumed, each peer
/// sends two numbered messages in one write; every byte arrives in order,
/// and at rest every provided buffer taken was given back.
fn many_waiting_connections(rt: percore_runtime::Runtime, provided: bool) {
    rt.block_on(async move {
        assert_eq!(
            percore_runtime::debug_provided_buffers().is_some(),
            provided,
            "provided buffers as configured"
        );
        const CONNS: u32 = 200;
        let mut writers = Vec::new();
        let mut readers = Vec::new();
        for _ in 0..CONNS {
            let (a, b) = UnixStream::pair().unwrap();
            writers.push(a);
            readers.push(ReadBuffer::new(Rc::new(b), BytesMut::new(), 1024));
        }
        for round in 0..3u32 {
            // Every reader waits (a read in flight on io_uring); some waits
            // are cancelled.
            for (i, input) in readers.iter_mut().enumerate() {
                let waited = race(input.fill(None), std::future::ready(())).await;
                assert!(
                    matches!(waited, Either::Right(())),
                    "conn {i}: nothing sent yet"
                );
            }
            for (i, a) in writers.iter().enumerate() {
                let mut msg = Vec::new();
                for k in 0..2u32 {
                    msg.extend_from_slice(&(round * 1_000_000 + i as u32 * 10 + k).to_be_bytes());
                    msg.extend_from_slice(&[k as u8; 60]);
                }
                a.write_all(msg).await.0.unwrap();
            }
            // Let the kernel complete every receive before anyone reads.
            sleep(Duration::from_millis(20)).await;
            for (i, input) in readers.iter_mut().enumerate() {
                while input.buffer().len() < 128 {
                    assert!(input.fill(None).await.unwrap() > 0);
                }
                for k in 0..2u32 {
                    let piece = input.buffer_mut().split_to(64);
                    let id = u32::from_be_bytes(piece[..4].try_into().unwrap());
                    assert_eq!(id, round * 1_000_000 + i as u32 * 10 + k);
                    assert!(piece[4..].iter().all(|&b| b == k as u8));
                }
                assert!(input.buffer().is_empty());
            }
        }
        if let Some(stats) = percore_runtime::debug_provided_buffers() {
            assert!(stats.taken > 0, "receives used provided buffers: {stats:?}");
            // 200 receives completing at once outnumber the 64 buffers: the
            // rest fell back to their own buffers, and lost nothing.
            assert!(stats.exhausted > 0, "the fallback was exercised: {stats:?}");
            assert_eq!(stats.taken, stats.recycled, "every buffer given back");
        }
        // Dropping readers with receives in flight leaks nothing.
        for input in readers.iter_mut() {
            let _ = race(input.fill(None), std::future::ready(())).await;
        }
        drop(readers);
        drop(writers);
        sleep(Duration::from_millis(20)).await;
        assert_eq!(percore_runtime::debug_tracked_ops(), 0, "nothing leaked");
        if let Some(stats) = percore_runtime::debug_provided_buffers() {
            assert_eq!(
                stats.taken, stats.recycled,
                "every buffer given back: {stats:?}"
            );
        }
    });
}

#[test]
fn many_waiting_connections_uring_provided_buffers() {
    let _serial = common::serial();
    let rt = percore_runtime::Builder::new()
        .driver(DriverChoice::Uring)
        .provided_buffers(true)
        .build()
        .unwrap();
    many_waiting_connections(rt, true);
}

#[test]
fn many_waiting_connections_uring_without_provided_buffers() {
    let _serial = common::serial();
    let rt = percore_runtime::Builder::new()
        .driver(DriverChoice::Uring)
        .provided_buffers(false)
        .build()
        .unwrap();
    many_waiting_connections(rt, false);
}

#[test]
fn many_waiting_connections_epoll() {
    let _serial = common::serial();
    let rt = percore_runtime::Builder::new()
        .driver(DriverChoice::Epoll)
        .build()
        .unwrap();
    many_waiting_connections(rt, false);
}

#[test]
fn many_waiting_connections_uring_multishot_recv() {
    let _serial = common::serial();
    let rt = percore_runtime::Builder::new()
        .driver(DriverChoice::Uring)
        .provided_buffers(true)
        .multishot_recv(true)
        .build()
        .unwrap();
    many_waiting_connections(rt, true);
}
