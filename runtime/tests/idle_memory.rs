//! What waiting connections cost in heap memory, on both drivers: this
//! binary counts the bytes each thread has allocated and not freed.

mod common;
use common::*;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use bytes::BytesMut;
use percore_runtime::future::{race, Either};
use percore_runtime::io::ReadBuffer;
use percore_runtime::net::UnixStream;
use percore_runtime::time::sleep;
use percore_runtime::DriverChoice;

/// The system allocator, counting the live bytes of each thread.
struct Counting;

thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
}

fn count(delta: isize) {
    let _ = LIVE.try_with(|live| live.set(live.get() + delta));
}

/// Bytes this thread has allocated and not freed.
fn live() -> isize {
    LIVE.with(Cell::get)
}

// SAFETY: every call is forwarded to `System` unchanged; only a counter
// is updated besides.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            count(layout.size() as isize);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        count(-(layout.size() as isize));
        // SAFETY: forwarded.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            count(new_size as isize - layout.size() as isize);
        }
        new
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Read-buffer growth step of the connections below (the HTTP server's).
const CHUNK: usize = 16 * 1024;

/// Starts a read of `input` and leaves it in flight.
async fn start_wait(input: &mut ReadBuffer<UnixStream>) {
    let waited = race(input.fill(None), std::future::ready(())).await;
    assert!(matches!(waited, Either::Right(())), "nothing was sent yet");
}

both_drivers!(
    waits_hold_no_buffer_while_every_provided_buffer_is_taken,
    |choice: DriverChoice| {
        block_on(choice, async {
            // More received messages than the ring has buffers (64), none
            // read yet: every provided buffer is taken.
            const BUSY: usize = 80;
            const IDLE: usize = 200;
            let pair = || {
                let (a, b) = UnixStream::pair().unwrap();
                (a, ReadBuffer::new(Rc::new(b), BytesMut::new(), CHUNK))
            };
            let (busy_peers, mut busy): (Vec<_>, Vec<_>) = (0..BUSY).map(|_| pair()).unzip();
            let (idle_peers, mut idle): (Vec<_>, Vec<_>) = (0..IDLE).map(|_| pair()).unzip();
            for input in busy.iter_mut() {
                start_wait(input).await;
            }
            for (i, peer) in busy_peers.iter().enumerate() {
                peer.write_all(format!("busy {i:03}").into_bytes())
                    .await
                    .0
                    .unwrap();
            }
            sleep(Duration::from_millis(20)).await;
            // Connections that wait for their next message meanwhile (each
            // wait polled twice: the second sees how the first went).
            let before = live();
            for _ in 0..2 {
                for input in idle.iter_mut() {
                    start_wait(input).await;
                }
                sleep(Duration::from_millis(20)).await;
            }
            let per_wait = (live() - before) / IDLE as isize;
            assert!(
                per_wait < 256,
                "a waiting connection holds {per_wait} bytes (a read buffer is {CHUNK})"
            );
            if let Some(stats) = percore_runtime::debug_provided_buffers() {
                assert!(
                    stats.exhausted >= IDLE as u64,
                    "the waits found every buffer taken: {stats:?}"
                );
            }
            // Every connection still gets its bytes, in order.
            for (i, peer) in idle_peers.iter().enumerate() {
                peer.write_all(format!("idle {i:03}").into_bytes())
                    .await
                    .0
                    .unwrap();
            }
            for (name, inputs) in [("busy", &mut busy), ("idle", &mut idle)] {
                for (i, input) in inputs.iter_mut().enumerate() {
                    while input.buffer().len() < 8 {
                        assert!(input.fill(None).await.unwrap() > 0);
                    }
                    assert_eq!(&input.buffer()[..], format!("{name} {i:03}").as_bytes());
                }
            }
            drop((busy, idle, busy_peers, idle_peers));
            sleep(Duration::from_millis(20)).await;
            assert_eq!(percore_runtime::debug_tracked_ops(), 0, "nothing leaked");
            if let Some(stats) = percore_runtime::debug_provided_buffers() {
                assert_eq!(stats.taken, stats.recycled, "every buffer back: {stats:?}");
            }
        })
    }
);

both_drivers!(
    a_spawned_task_holds_its_future_once,
    |choice: DriverChoice| {
        block_on(choice, async {
            // A task that waits holding 2 000 bytes.
            let waiting = || {
                let payload = [7u8; 2000];
                async move {
                    sleep(Duration::from_secs(3600)).await;
                    std::hint::black_box(&payload);
                }
            };
            let size = std::mem::size_of_val(&waiting()) as isize;
            const TASKS: isize = 100;
            let before = live();
            let tasks: Vec<_> = (0..TASKS)
                .map(|_| percore_runtime::spawn_local(waiting()))
                .collect();
            // Every task polled once: waiting on its timer.
            sleep(Duration::from_millis(1)).await;
            let per_task = (live() - before) / TASKS;
            assert!(
                per_task < size + 256,
                "a task of a {size}-byte future holds {per_task} bytes"
            );
            for task in &tasks {
                task.abort();
            }
        })
    }
);
