//! Multi-producer, single-consumer channels, bounded and unbounded.

use std::collections::VecDeque;
use std::fmt;
use std::future::poll_fn;
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};

use super::lock;

struct State<T> {
    queue: VecDeque<T>,
    capacity: Option<usize>,
    senders: usize,
    receiver_alive: bool,
    recv_waker: Option<Waker>,
    send_wakers: VecDeque<Waker>,
}

struct Chan<T> {
    state: Mutex<State<T>>,
}

/// The receiver is gone; the value comes back.
#[derive(PartialEq, Eq)]
pub struct SendError<T>(pub T);

impl<T> fmt::Debug for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SendError(..)")
    }
}

impl<T> fmt::Display for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("channel closed")
    }
}

impl<T> std::error::Error for SendError<T> {}

/// Why `try_send` failed; the value comes back.
#[derive(PartialEq, Eq)]
pub enum TrySendError<T> {
    /// The channel is at capacity.
    Full(T),
    /// The receiver is gone.
    Closed(T),
}

impl<T> fmt::Debug for TrySendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TrySendError::Full(_) => "Full(..)",
            TrySendError::Closed(_) => "Closed(..)",
        })
    }
}

impl<T> fmt::Display for TrySendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TrySendError::Full(_) => "channel full",
            TrySendError::Closed(_) => "channel closed",
        })
    }
}

impl<T> std::error::Error for TrySendError<T> {}

/// Sending half; clone it for more producers. `Send`: give it to other cores.
pub struct Sender<T> {
    chan: Arc<Chan<T>>,
}

impl<T> std::fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sender").finish_non_exhaustive()
    }
}

/// Receiving half.
pub struct Receiver<T> {
    chan: Arc<Chan<T>>,
}

impl<T> std::fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Receiver").finish_non_exhaustive()
    }
}

fn new_chan<T>(capacity: Option<usize>) -> (Sender<T>, Receiver<T>) {
    let chan = Arc::new(Chan {
        state: Mutex::new(State {
            queue: VecDeque::new(),
            capacity,
            senders: 1,
            receiver_alive: true,
            recv_waker: None,
            send_wakers: VecDeque::new(),
        }),
    });
    (Sender { chan: chan.clone() }, Receiver { chan })
}

/// A channel without a capacity limit: `send` never waits.
pub fn unbounded<T>() -> (Sender<T>, Receiver<T>) {
    new_chan(None)
}

/// A channel holding at most `capacity` values: `send` waits for room.
///
/// ```
/// use percore_runtime::{Runtime, sync::mpsc::{channel, TrySendError}};
/// Runtime::new().unwrap().block_on(async {
///     let (tx, mut rx) = channel(1);
///     tx.send(1).await.unwrap();
///     assert_eq!(tx.try_send(2), Err(TrySendError::Full(2)));
///     assert_eq!(rx.recv().await, Some(1));
///     tx.send(2).await.unwrap();
/// });
/// ```
pub fn channel<T>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    new_chan(Some(capacity.max(1)))
}

impl<T> Sender<T> {
    /// Queues `value` without waiting; fails if full or closed.
    pub fn try_send(&self, value: T) -> Result<(), TrySendError<T>> {
        let waker = {
            let mut st = lock(&self.chan.state);
            if !st.receiver_alive {
                return Err(TrySendError::Closed(value));
            }
            if st.capacity.is_some_and(|c| st.queue.len() >= c) {
                return Err(TrySendError::Full(value));
            }
            st.queue.push_back(value);
            st.recv_waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
        Ok(())
    }

    /// Queues `value`, waiting for room on a bounded channel.
    pub async fn send(&self, value: T) -> Result<(), SendError<T>> {
        let mut value = Some(value);
        poll_fn(|cx| {
            let v = value.take().expect("polled after completion");
            match self.try_send(v) {
                Ok(()) => Poll::Ready(Ok(())),
                Err(TrySendError::Closed(v)) => Poll::Ready(Err(SendError(v))),
                Err(TrySendError::Full(v)) => {
                    value = Some(v);
                    let mut st = lock(&self.chan.state);
                    if st.capacity.is_some_and(|c| st.queue.len() >= c) {
                        st.send_wakers.push_back(cx.waker().clone());
                        Poll::Pending
                    } else {
                        drop(st);
                        cx.waker().wake_by_ref();
                        Poll::Pending
                    }
                }
            }
        })
        .await
    }

    /// Whether the receiver is gone.
    pub fn is_closed(&self) -> bool {
        !lock(&self.chan.state).receiver_alive
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        lock(&self.chan.state).senders += 1;
        Sender {
            chan: self.chan.clone(),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let waker = {
            let mut st = lock(&self.chan.state);
            st.senders -= 1;
            if st.senders == 0 {
                st.recv_waker.take()
            } else {
                None
            }
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

impl<T> Receiver<T> {
    /// Waits for the next value; `None` once every sender is gone and the
    /// queue is empty.
    pub async fn recv(&mut self) -> Option<T> {
        poll_fn(|cx| {
            let mut st = lock(&self.chan.state);
            if let Some(v) = st.queue.pop_front() {
                let waker = st.send_wakers.pop_front();
                drop(st);
                if let Some(w) = waker {
                    w.wake();
                }
                return Poll::Ready(Some(v));
            }
            if st.senders == 0 {
                return Poll::Ready(None);
            }
            match &st.recv_waker {
                Some(w) if w.will_wake(cx.waker()) => {}
                _ => st.recv_waker = Some(cx.waker().clone()),
            }
            Poll::Pending
        })
        .await
    }

    /// Takes a value if one is queued.
    pub fn try_recv(&mut self) -> Option<T> {
        let mut st = lock(&self.chan.state);
        let v = st.queue.pop_front();
        let waker = v.as_ref().and_then(|_| st.send_wakers.pop_front());
        drop(st);
        if let Some(w) = waker {
            w.wake();
        }
        v
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let (wakers, items) = {
            let mut st = lock(&self.chan.state);
            st.receiver_alive = false;
            (
                std::mem::take(&mut st.send_wakers),
                std::mem::take(&mut st.queue),
            )
        };
        drop(items);
        for w in wakers {
            w.wake();
        }
    }
}
