//! Timers: `sleep`, `sleep_until`, `timeout`, `interval`.
//!
//! Each runtime keeps its timers in a slab (O(1) cancel) indexed by a binary
//! heap of deadlines (O(log n) insert). Cancelled or moved timers leave
//! stale heap entries that are skipped when popped and compacted away when
//! they outnumber the live ones, so 100k live connection timeouts stay cheap.
//!
//! ```
//! use percore_runtime::{Runtime, time::{sleep, timeout}};
//! use std::time::Duration;
//! Runtime::new().unwrap().block_on(async {
//!     let slow = sleep(Duration::from_secs(60));
//!     assert!(timeout(Duration::from_millis(5), slow).await.is_err());
//! });
//! ```

use std::cell::Cell;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use slab::Slab;

use crate::runtime::{context, with_context};
use crate::wake_all;

struct Entry {
    /// Nanoseconds after [`Timers::epoch`]: 8 bytes, not an `Instant`'s 16.
    deadline: u64,
    waker: Option<Waker>,
    fired: bool,
}

/// A heap item: a deadline (as in [`Entry`]) and its slab key, 16 bytes.
type HeapItem = Reverse<(u64, u32)>;

/// The timer store of one runtime.
///
/// (Sizes: an idle connection holds one timer, its keep-alive deadline, so
/// a slab entry is 32 bytes and a heap item 16, not 40 and 24 with
/// `Instant`s and `usize` keys.)
pub(crate) struct Timers {
    epoch: Instant,
    entries: Slab<Entry>,
    heap: BinaryHeap<HeapItem>,
}

impl Timers {
    pub(crate) fn new() -> Timers {
        Timers {
            epoch: Instant::now(),
            entries: Slab::new(),
            heap: BinaryHeap::new(),
        }
    }

    /// `deadline` as nanoseconds after the epoch (one before it is due at once).
    fn ticks(&self, deadline: Instant) -> u64 {
        let nanos = deadline.saturating_duration_since(self.epoch).as_nanos();
        u64::try_from(nanos).unwrap_or(u64::MAX)
    }

    fn instant(&self, ticks: u64) -> Instant {
        self.epoch + Duration::from_nanos(ticks)
    }

    fn item(ticks: u64, key: usize) -> HeapItem {
        // A slab of more than 2^32 timers would not fit in memory.
        Reverse((ticks, u32::try_from(key).expect("timer key over u32")))
    }

    fn insert(&mut self, deadline: Instant, waker: Waker) -> usize {
        let deadline = self.ticks(deadline);
        let key = self.entries.insert(Entry {
            deadline,
            waker: Some(waker),
            fired: false,
        });
        self.heap.push(Self::item(deadline, key));
        key
    }

    fn reset(&mut self, key: usize, deadline: Instant) {
        let deadline = self.ticks(deadline);
        if let Some(e) = self.entries.get_mut(key) {
            e.deadline = deadline;
            e.fired = false;
            self.heap.push(Self::item(deadline, key));
            self.maybe_compact();
        }
    }

    fn remove(&mut self, key: usize) {
        self.entries.try_remove(key);
        self.maybe_compact();
    }

    fn maybe_compact(&mut self) {
        if self.heap.len() > 64 && self.heap.len() > 2 * self.entries.len() {
            self.heap = self
                .entries
                .iter()
                .filter(|(_, e)| !e.fired)
                .map(|(k, e)| Self::item(e.deadline, k))
                .collect();
        }
    }

    /// Whether a heap item still describes a live, unfired timer.
    fn is_live(&self, deadline: u64, key: usize) -> bool {
        self.entries
            .get(key)
            .is_some_and(|e| !e.fired && e.deadline == deadline)
    }

    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        // Stale items may hide behind the top; a too-early wake-up is harmless.
        self.heap.peek().map(|Reverse((d, _))| self.instant(*d))
    }

    /// Wakes every timer whose deadline is at or before `now`.
    pub(crate) fn fire_expired(&mut self, now: Instant) {
        let now = self.ticks(now);
        while let Some(Reverse((deadline, key))) = self.heap.peek().copied() {
            if deadline > now {
                break;
            }
            self.heap.pop();
            let key = key as usize;
            if !self.is_live(deadline, key) {
                continue;
            }
            if let Some(e) = self.entries.get_mut(key) {
                e.fired = true;
                if let Some(w) = e.waker.take() {
                    w.wake();
                }
            }
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Heap slots, cancelled ones not yet compacted away included.
    pub(crate) fn heap_len(&self) -> usize {
        self.heap.len()
    }
}

thread_local! {
    /// When this thread's runtime last came back from waiting for I/O and
    /// timers: the clock read every loop turn makes anyway.
    static TURN: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// Notes `now` as the start of the current loop turn (the runtime, after
/// each wait for I/O, and when `block_on` starts).
pub(crate) fn set_turn_started(now: Option<Instant>) {
    TURN.with(|t| t.set(now));
}

/// When the current turn of this thread's runtime loop began: the moment
/// it last returned from waiting for I/O and timers (or `block_on`
/// started), read from the clock reading the loop makes anyway, so it
/// costs no clock read. Every task polled in this turn runs after it, so
/// `turn_started()` to a later `Instant::now()` bounds from above how long
/// the work of a task took since the core saw its input, waiting behind
/// earlier tasks of the turn included. `None` outside a runtime.
///
/// ```
/// use percore_runtime::{Runtime, time::{sleep, turn_started}};
/// use std::time::{Duration, Instant};
/// assert!(turn_started().is_none());
/// Runtime::new().unwrap().block_on(async {
///     let first = turn_started().unwrap();
///     assert!(first <= Instant::now());
///     sleep(Duration::from_millis(2)).await;
///     assert!(turn_started().unwrap() >= first + Duration::from_millis(2));
/// });
/// assert!(turn_started().is_none());
/// ```
#[inline]
pub fn turn_started() -> Option<Instant> {
    TURN.with(Cell::get)
}

/// The clock as the current loop turn read it: [`turn_started`] inside a
/// runtime (no clock read), `Instant::now()` outside one. Behind the true
/// time by at most how long the turn has run so far (its precision is a
/// turn: microseconds on a busy core, up to the length of the longest
/// task poll). Good for deadlines measured in seconds (connection
/// timeouts), for the `Date` header's once-a-second check and for
/// coarse latencies; not for measuring work done within one turn.
///
/// ```
/// use percore_runtime::{Runtime, time::{coarse_now, turn_started}};
/// use std::time::Instant;
/// let outside = coarse_now();
/// assert!(outside <= Instant::now());
/// Runtime::new().unwrap().block_on(async {
///     assert_eq!(Some(coarse_now()), turn_started());
/// });
/// ```
#[inline]
pub fn coarse_now() -> Instant {
    turn_started().unwrap_or_else(Instant::now)
}

/// A future that completes at a deadline. Created by [`sleep`] and [`sleep_until`].
#[derive(Debug)]
pub struct Sleep {
    deadline: Instant,
    /// The timer's slot (a slab key under 2^32, as the heap keeps it).
    key: Option<u32>,
    /// The data address of the task waker the armed timer holds (0: none
    /// noted). Polled again before the deadline by the task whose waker
    /// that is, the timer needs nothing: it cannot have fired (a timer
    /// fires only in a turn whose reading reached its deadline), and the
    /// waker it holds wakes that task (a task waker's address names its
    /// task slot; the task polling now sits in that slot). So the timers
    /// are not touched.
    armed: usize,
}

/// Waits for `duration`.
pub fn sleep(duration: Duration) -> Sleep {
    sleep_until(Instant::now() + duration)
}

/// Waits until `deadline`.
pub fn sleep_until(deadline: Instant) -> Sleep {
    Sleep {
        deadline,
        key: None,
        armed: 0,
    }
}

impl Sleep {
    /// The deadline.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Whether the deadline has passed.
    pub fn is_elapsed(&self) -> bool {
        Instant::now() >= self.deadline
    }

    /// Moves the deadline (earlier or later), keeping the timer slot.
    pub fn reset(&mut self, deadline: Instant) {
        self.deadline = deadline;
        // A timer that fired gave its waker away: the next poll registers
        // one again.
        self.armed = 0;
        if let Some(key) = self.key {
            context(|cx| cx.timers.borrow_mut().reset(key as usize, deadline));
        }
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // The turn's reading, not a clock read: the loop fires a timer in
        // the turn whose reading reached its deadline, so a woken sleep
        // sees that reading here and completes. One that the true clock
        // has passed but the turn's reading has not arms its timer, which
        // the next turn (its wait is then zero) fires.
        if coarse_now() >= self.deadline {
            self.armed = 0;
            if let Some(key) = self.key.take() {
                context(|rt| rt.timers.borrow_mut().remove(key as usize));
            }
            return Poll::Ready(());
        }
        let waker = cx.waker();
        if self.armed != 0 && self.armed == waker.data() as usize && wake_all::polled_by_task(waker)
        {
            return Poll::Pending;
        }
        let deadline = self.deadline;
        let armed = match self.key {
            None => {
                let key = context(|rt| rt.timers.borrow_mut().insert(deadline, waker.clone()));
                self.key = Some(u32::try_from(key).expect("timer key over u32"));
                true
            }
            Some(key) => context(|rt| {
                let key = key as usize;
                let mut timers = rt.timers.borrow_mut();
                let fired = timers.entries.get(key).is_none_or(|e| e.fired);
                if fired {
                    // Woken early by a clock edge: arm again.
                    timers.reset(key, deadline);
                }
                let Some(e) = timers.entries.get_mut(key) else {
                    return false;
                };
                match &e.waker {
                    Some(w) if w.will_wake(waker) => {}
                    _ => e.waker = Some(waker.clone()),
                }
                true
            }),
        };
        self.armed = if armed && wake_all::polled_by_task(waker) {
            waker.data() as usize
        } else {
            0
        };
        Poll::Pending
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            with_context(|cx| {
                if let Ok(mut t) = cx.timers.try_borrow_mut() {
                    t.remove(key as usize);
                }
            });
        }
    }
}

/// The error of [`timeout`]: the deadline passed first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed;

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("deadline has elapsed")
    }
}

impl std::error::Error for Elapsed {}

impl From<Elapsed> for std::io::Error {
    fn from(_: Elapsed) -> Self {
        std::io::ErrorKind::TimedOut.into()
    }
}

pin_project_lite::pin_project! {
    /// A future with a deadline. Created by [`timeout`].
    pub struct Timeout<F> {
        #[pin]
        future: F,
        sleep: Sleep,
    }
}

/// Runs `future` for at most `duration`; drops it and returns `Err(Elapsed)`
/// if it is not done by then.
pub fn timeout<F: Future>(duration: Duration, future: F) -> Timeout<F> {
    Timeout {
        future,
        sleep: sleep(duration),
    }
}

/// Like [`timeout`], with an absolute deadline.
pub fn timeout_at<F: Future>(deadline: Instant, future: F) -> Timeout<F> {
    Timeout {
        future,
        sleep: sleep_until(deadline),
    }
}

impl<F: Future> Future for Timeout<F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Poll::Ready(out) = this.future.poll(cx) {
            return Poll::Ready(Ok(out));
        }
        match Pin::new(this.sleep).poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(Elapsed)),
            Poll::Pending => Poll::Pending,
        }
    }
}

pin_project_lite::pin_project! {
    /// A future with a time limit that starts when it first waits.
    /// Created by [`timeout_from_wait`].
    pub struct WaitTimeout<F> {
        #[pin]
        future: F,
        limit: Duration,
        sleep: Option<Sleep>,
    }
}

/// Like [`timeout`], but the clock starts when `future` first has to wait
/// (its first `Pending`), read as [`coarse_now`] (so the limit may end up
/// to one loop turn short): a future that is ready at once costs no clock
/// read and no timer. For limits on I/O that usually completes at once,
/// such as a write's stall timeout.
///
/// ```
/// use percore_runtime::{Runtime, time::{sleep, timeout_from_wait}};
/// use std::time::Duration;
/// Runtime::new().unwrap().block_on(async {
///     assert_eq!(timeout_from_wait(Duration::from_millis(5), async { 7 }).await, Ok(7));
///     let slow = sleep(Duration::from_secs(60));
///     assert!(timeout_from_wait(Duration::from_millis(5), slow).await.is_err());
/// });
/// ```
pub fn timeout_from_wait<F: Future>(limit: Duration, future: F) -> WaitTimeout<F> {
    WaitTimeout {
        future,
        limit,
        sleep: None,
    }
}

impl<F: Future> Future for WaitTimeout<F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Poll::Ready(out) = this.future.poll(cx) {
            return Poll::Ready(Ok(out));
        }
        let limit = *this.limit;
        let sleep = this
            .sleep
            .get_or_insert_with(|| sleep_until(coarse_now() + limit));
        match Pin::new(sleep).poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(Elapsed)),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// Ticks at a fixed period. Created by [`interval`].
#[derive(Debug)]
pub struct Interval {
    period: Duration,
    sleep: Sleep,
}

/// Ticks every `period`, the first tick at once. Missed ticks are skipped,
/// not bunched.
///
/// ```
/// use percore_runtime::{Runtime, time::interval};
/// use std::time::Duration;
/// Runtime::new().unwrap().block_on(async {
///     let mut every = interval(Duration::from_millis(2));
///     every.tick().await;
///     every.tick().await;
/// });
/// ```
pub fn interval(period: Duration) -> Interval {
    assert!(!period.is_zero(), "interval period must be non-zero");
    Interval {
        period,
        sleep: sleep_until(Instant::now()),
    }
}

impl Interval {
    /// Waits for the next tick and returns its scheduled time.
    pub async fn tick(&mut self) -> Instant {
        (&mut self.sleep).await;
        let scheduled = self.sleep.deadline();
        let mut next = scheduled + self.period;
        let now = Instant::now();
        if next <= now {
            next = now + self.period;
        }
        self.sleep.reset(next);
        scheduled
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    fn noop_waker() -> Waker {
        Waker::noop().clone()
    }

    #[test]
    fn heap_skips_cancelled_and_moved_timers() {
        let mut t = Timers::new();
        let now = Instant::now();
        let a = t.insert(now + Duration::from_millis(10), noop_waker());
        let b = t.insert(now + Duration::from_millis(20), noop_waker());
        t.remove(a);
        t.reset(b, now + Duration::from_millis(50));
        t.fire_expired(now + Duration::from_millis(30));
        assert!(!t.entries[b].fired, "moved timer fired at its old deadline");
        t.fire_expired(now + Duration::from_millis(50));
        assert!(t.entries[b].fired);
    }

    #[test]
    fn a_timer_is_small() {
        // Every idle connection holds one (its keep-alive deadline).
        assert!(std::mem::size_of::<Entry>() <= 32);
        assert_eq!(std::mem::size_of::<HeapItem>(), 16);
    }

    #[test]
    fn deadlines_keep_their_instant_and_early_ones_fire_at_once() {
        let mut t = Timers::new();
        let later = t.epoch + Duration::from_nanos(1_234_567_891);
        t.insert(later, noop_waker());
        assert_eq!(t.next_deadline(), Some(later));
        let before_epoch = t.epoch.checked_sub(Duration::from_secs(1)).unwrap();
        let k = t.insert(before_epoch, noop_waker());
        t.fire_expired(t.epoch);
        assert!(t.entries[k].fired);
        assert_eq!(t.next_deadline(), Some(later));
    }

    #[test]
    fn compaction_bounds_the_heap() {
        let mut t = Timers::new();
        let now = Instant::now();
        for i in 0..10_000u64 {
            let k = t.insert(now + Duration::from_millis(i), noop_waker());
            t.remove(k);
        }
        assert_eq!(t.len(), 0);
        assert!(
            t.heap.len() <= 64,
            "heap kept {} stale entries",
            t.heap.len()
        );
    }
}
