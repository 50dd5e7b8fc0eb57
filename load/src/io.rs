//! The socket side every protocol shares: connecting (failures counted),
//! reading and writing under each connection's [`Watch`], the reconnect
//! loop, and the per-core [`watchdog`] that ends waits on the response
//! timeout and at the run's deadline.
//!
//! A timer per read would cost a timer-heap insert and remove on every
//! response; instead each connection notes since when it waits for the
//! server (a timestamp it takes anyway for the latency), and one task per
//! core looks at every connection a few times per timeout.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use percore_runtime::time::{sleep, sleep_until};

use crate::clock::Tick;
use crate::conn::Conn;
use crate::plan::Core;
use crate::stats::ErrorKind;

/// Read buffer size; a read needs at least a quarter of it free.
const READ_BUF: usize = 64 * 1024;

/// Pause after a failed connect, so a server that is down is not hammered.
const CONNECT_BACKOFF: Duration = Duration::from_millis(10);

/// The watchdog looks at the connections this many times per timeout
/// (a wait ends between 1 and 1.1 timeouts after it began)...
const CHECKS_PER_TIMEOUT: u32 = 10;

/// ...but at least this often, so that Ctrl-C ends a run quickly.
const MAX_TICK: Duration = Duration::from_millis(100);

/// What a read brought.
#[derive(Debug)]
pub enum Got {
    /// Bytes, appended to the buffer.
    Data,
    /// The server closed the connection.
    Closed,
    /// The read failed.
    Failed,
    /// No byte within the timeout.
    TimedOut,
    /// The run's deadline passed.
    Over,
}

impl Got {
    /// How the requests waiting on a read that did not bring bytes failed
    /// (`None` for `Data`, and for `Over`, when they are not counted).
    pub fn error_kind(&self) -> Option<ErrorKind> {
        match self {
            Got::Closed | Got::Failed => Some(ErrorKind::Io),
            Got::TimedOut => Some(ErrorKind::Timeout),
            Got::Data | Got::Over => None,
        }
    }
}

/// Why the watchdog ended a connection's wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alarm {
    /// The server sent nothing for `--timeout`.
    TimedOut,
    /// The run is over (deadline, Ctrl-C).
    Over,
}

/// One connection's watch: since when it waits for the server, and the
/// alarm the core's [`watchdog`] raised.
#[derive(Debug, Default)]
pub struct Watch {
    since: Cell<Option<Tick>>,
    alarm: Cell<Option<Alarm>>,
    waker: RefCell<Option<Waker>>,
}

impl Watch {
    /// Waiting for the server since `at` (a write, or the last bytes read).
    pub fn arm(&self, at: Tick) {
        self.since.set(Some(at));
    }

    /// Not waiting for the server.
    pub fn disarm(&self) {
        self.since.set(None);
    }

    /// Raises `alarm` and wakes the connection's task.
    fn raise(&self, alarm: Alarm) {
        if self.alarm.get() != Some(Alarm::Over) {
            self.alarm.set(Some(alarm));
        }
        if let Some(waker) = self.waker.borrow_mut().take() {
            waker.wake();
        }
    }

    /// `future`, ended early by an alarm.
    pub fn guard<F: Future>(&self, future: F) -> Guarded<'_, F> {
        Guarded {
            future,
            watch: self,
        }
    }
}

pin_project_lite::pin_project! {
    /// A future the watchdog may end: see [`Watch::guard`].
    pub struct Guarded<'a, F> {
        #[pin]
        future: F,
        watch: &'a Watch,
    }
}

impl<F: Future> Future for Guarded<'_, F> {
    type Output = Result<F::Output, Alarm>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let watch = *this.watch;
        if let Poll::Ready(v) = this.future.poll(cx) {
            // Bytes came: a timeout raised meanwhile no longer holds.
            if watch.alarm.get() == Some(Alarm::TimedOut) {
                watch.alarm.set(None);
            }
            return Poll::Ready(Ok(v));
        }
        if let Some(alarm) = watch.alarm.get() {
            if alarm == Alarm::TimedOut {
                watch.alarm.set(None);
            }
            return Poll::Ready(Err(alarm));
        }
        let mut slot = watch.waker.borrow_mut();
        match &*slot {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => *slot = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}

/// Reads into `buf`'s spare room (growing it when short), until the
/// watchdog says the wait is over; arm `watch` first.
pub async fn read_more(stream: &Conn, buf: &mut BytesMut, watch: &Watch) -> Got {
    if buf.capacity() - buf.len() < READ_BUF / 4 {
        buf.reserve(READ_BUF);
    }
    let owned = std::mem::take(buf);
    match watch.guard(stream.read(owned)).await {
        Ok((res, owned)) => {
            *buf = owned;
            match res {
                Ok(0) => Got::Closed,
                Ok(_) => Got::Data,
                Err(_) => Got::Failed,
            }
        }
        // The read in flight is cancelled; its buffer is lost with it.
        Err(Alarm::TimedOut) => Got::TimedOut,
        Err(Alarm::Over) => Got::Over,
    }
}

/// Writes all of `bytes` until the watchdog says the wait is over (a
/// server that stops reading); `Err` with how the requests failed
/// (`None`: the run is over).
pub async fn write_all(
    stream: &Conn,
    bytes: Bytes,
    watch: &Watch,
) -> Result<(), Option<ErrorKind>> {
    // One `write` takes a request batch whole but for a full send buffer:
    // `write_all`'s loop only for the rest.
    let len = bytes.len();
    // epoll: the `send(2)` at once, when the socket is known writable (no
    // future, no guard; almost always for a request batch).
    let bytes = match stream.try_write(&bytes) {
        None => bytes,
        Some(Ok(n)) if n == len => return Ok(()),
        Some(Ok(n)) if n > 0 => bytes.slice(n..),
        Some(Ok(_) | Err(_)) => return Err(Some(ErrorKind::Io)),
    };
    let len = bytes.len();
    let rest = match watch.guard(stream.write(bytes)).await {
        Ok((Ok(n), _)) if n == len => return Ok(()),
        Ok((Ok(n), bytes)) if n > 0 => bytes.slice(n..),
        Ok((Ok(_) | Err(_), _)) => return Err(Some(ErrorKind::Io)),
        Err(Alarm::TimedOut) => return Err(Some(ErrorKind::Timeout)),
        Err(Alarm::Over) => return Err(None),
    };
    match watch.guard(stream.write_all(rest)).await {
        Ok((Ok(()), _)) => Ok(()),
        Ok((Err(_), _)) => Err(Some(ErrorKind::Io)),
        Err(Alarm::TimedOut) => Err(Some(ErrorKind::Timeout)),
        Err(Alarm::Over) => Err(None),
    }
}

/// Keeps one connection busy until the run is over: connects (a failed
/// connect or TLS handshake is one failed request), then runs `session` on
/// the stream,
/// again after each session that ends asking for a new connection.
///
/// `owed` counts requests claimed from the budget but not sent; a session
/// returns the ones it could not send there, and returns `false` when the
/// run is over.
pub async fn keep_connected<S, F>(core: &Core, mut session: S)
where
    S: FnMut(Conn, u64, Rc<Watch>) -> F,
    F: Future<Output = (bool, u64)>,
{
    let watch = core.watch();
    let mut owed = 0;
    loop {
        if owed == 0 {
            owed = core.claim(1);
            if owed == 0 {
                return;
            }
        } else if core.is_over() {
            return;
        }
        watch.arm(Tick::now());
        match watch.guard(Conn::open(&core.plan)).await {
            Ok(Ok(stream)) => {
                let (go_on, left) = session(stream, owed, watch.clone()).await;
                owed = left;
                if !go_on {
                    return;
                }
            }
            Err(Alarm::Over) => return,
            Ok(Err(_)) | Err(Alarm::TimedOut) => {
                core.error(ErrorKind::Connect, 1);
                owed -= 1;
                watch.disarm();
                sleep(CONNECT_BACKOFF).await;
            }
        }
    }
}

/// One core's watchdog: ends waits that passed the timeout, and every
/// wait once the run is over (deadline or Ctrl-C). Runs until the run is
/// over (or is aborted once the connections are done).
pub async fn watchdog(core: Rc<Core>) {
    let plan = &core.plan;
    let tick = (plan.timeout / CHECKS_PER_TIMEOUT).clamp(Duration::from_millis(1), MAX_TICK);
    loop {
        let mut next = Instant::now() + tick;
        if let Some(deadline) = plan.budget.deadline() {
            next = next.min(deadline);
        }
        sleep_until(next).await;
        let watches = core.watches.borrow().clone();
        if plan.budget.is_over_at(Instant::now()) {
            core.over.set(true);
            for watch in &watches {
                watch.raise(Alarm::Over);
            }
            return;
        }
        let now = Tick::now();
        for watch in &watches {
            if watch
                .since
                .get()
                .is_some_and(|since| now.since(since) >= plan.timeout)
            {
                watch.raise(Alarm::TimedOut);
            }
        }
    }
}
