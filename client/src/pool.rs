//! The connection pool of one client (one core): connections per origin,
//! a total and a per-host limit, FIFO waiters, idle connections kept for
//! reuse until their idle timeout, most recently used first.
//!
//! Every connection — connecting, in use or idle — holds a [`Permit`]: one
//! unit of both limits, given back when the connection closes. A freed
//! permit or a connection put back goes to the oldest waiter that can use
//! it, so waiters are served in arrival order and a newcomer never
//! overtakes one that waits for the same origin.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::future::poll_fn;
use std::hash::Hasher;
use std::rc::{Rc, Weak};
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use percore_http::h1::ResponseHeadMemo;
use percore_runtime::io::ReadBuffer;
use slab::Slab;

use crate::connect::Stream;
use crate::h1::Heads;
use crate::within::LazyTimer;

/// A connection's read buffer grows by this much when less than a quarter
/// of this much is free.
const READ_CHUNK: usize = 16 * 1024;

/// Where connections go: scheme, host and port.
#[derive(Debug, Clone, Eq)]
pub(crate) struct Origin {
    /// `"http"` or `"https"` (static: no allocation per request).
    pub scheme: &'static str,
    /// Shared: the client keeps the last origin asked for, and a request
    /// to it takes a reference instead of a copy.
    pub host: Rc<str>,
    pub port: u16,
}

impl PartialEq for Origin {
    /// Scheme, host and port alike; a host shared with `other` (the
    /// client's last origin, handed to each request) is alike without
    /// comparing its bytes.
    fn eq(&self, other: &Origin) -> bool {
        self.port == other.port
            && (std::ptr::eq(self.scheme, other.scheme) || self.scheme == other.scheme)
            && (Rc::ptr_eq(&self.host, &other.host) || self.host == other.host)
    }
}

impl std::hash::Hash for Origin {
    /// The host's bytes, the port, and the scheme by its length (`http`
    /// or `https`): alike for equal origins.
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write(self.host.as_bytes());
        state.write_u16(self.port);
        state.write_usize(self.scheme.len());
    }
}

/// The pool's limits.
#[derive(Debug, Clone)]
pub(crate) struct PoolConfig {
    pub limit: usize,
    pub limit_per_host: usize,
    pub idle_timeout: Duration,
    pub max_idle_per_host: usize,
}

/// An open connection ([`ConnParts`]), boxed: a request moves its
/// connection out of the pool, into the exchange, into the response's
/// body and back several times; each move copies a pointer, not the
/// parts (one allocation per connection, not per request).
pub(crate) struct Conn(Box<ConnParts>);

/// An open connection, its read buffer and its request heads' buffer
/// and memo.
pub(crate) struct ConnParts {
    /// The socket and the bytes read from it: a read survives a wait that
    /// gave up, and on io_uring with multishot receive (the default) the
    /// socket's one receive (armed by the first read, kept while the
    /// connection idles in the pool) stands for a receive submitted per
    /// request.
    pub input: ReadBuffer<Stream>,
    pub heads: Heads,
    /// The timer its waits share (see [`LazyTimer`]).
    pub timer: LazyTimer,
    /// Its last response head (see `parse_response_head_memo`).
    pub memo: ResponseHeadMemo,
    /// Whether it carried a request before this one.
    pub reused: bool,
    permit: Permit,
}

impl std::ops::Deref for Conn {
    type Target = ConnParts;

    fn deref(&self) -> &ConnParts {
        &self.0
    }
}

impl std::ops::DerefMut for Conn {
    fn deref_mut(&mut self) -> &mut ConnParts {
        &mut self.0
    }
}

impl Conn {
    /// A new connection, counted under `permit`.
    pub(crate) fn new(stream: Stream, permit: Permit) -> Conn {
        Conn(Box::new(ConnParts {
            input: ReadBuffer::new(Rc::new(stream), BytesMut::new(), READ_CHUNK),
            heads: Heads::default(),
            timer: LazyTimer::default(),
            memo: ResponseHeadMemo::default(),
            reused: false,
            permit,
        }))
    }
}

impl ConnParts {
    /// The bytes received and not yet consumed.
    pub(crate) fn buf(&mut self) -> &mut BytesMut {
        self.input.buffer_mut()
    }
}

/// One unit of the pool's limits; given back when dropped.
pub(crate) struct Permit {
    pool: Weak<RefCell<State>>,
    /// Its origin's [`Share`] (a key of `State::shares`, alive while the
    /// origin has a permit), which holds the origin: a connection goes
    /// back to its idle list without a lookup by origin.
    share: usize,
}

impl Drop for Permit {
    fn drop(&mut self) {
        let Some(shared) = self.pool.upgrade() else {
            return;
        };
        {
            let mut st = shared.borrow_mut();
            st.total -= 1;
            if let Some(share) = st.shares.get_mut(self.share) {
                share.conns -= 1;
                if share.conns == 0 {
                    // No connection to the origin is left: neither is its
                    // (empty) idle list, kept only while it has some.
                    let share = st.shares.remove(self.share);
                    st.origins.remove(&share.origin);
                }
            }
        }
        dispatch(&shared);
    }
}

/// What [`Pool::acquire`] hands out.
pub(crate) enum Acquired {
    /// An idle connection to reuse.
    Reused(Conn),
    /// Room for a new connection: open it under this permit.
    Slot(Permit),
}

/// Counts for tests and monitoring.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PoolStats {
    /// Connections open or being opened (idle ones included).
    pub connections: usize,
    /// Connections idle, waiting for reuse.
    pub idle: usize,
    /// Requests waiting for a connection.
    pub waiting: usize,
}

struct Idle {
    conn: Conn,
    since: Instant,
}

struct Waiter {
    origin: Origin,
    fresh_only: bool,
    grant: RefCell<Option<Acquired>>,
    waker: RefCell<Option<Waker>>,
}

/// A map by origin. Its keys are the origins this client was asked to
/// reach (and at most `max_redirects` per request a server sent it to),
/// not attacker-chosen at scale, so a fast multiplicative hash
/// ([`FxHasher`](percore_http::FxHasher)) does: the default SipHash cost
/// ~1 300 instructions per request (two lookups of two strings each).
pub(crate) type OriginMap<V> = HashMap<Origin, V, percore_http::FxBuildHasher>;

/// An origin's part of the pool, while it has connections.
struct Share {
    origin: Origin,
    /// Its connections: connecting, in use or idle.
    conns: usize,
    /// Its idle ones, the most recently used last.
    idle: VecDeque<Idle>,
}

struct State {
    cfg: PoolConfig,
    total: usize,
    /// Each origin with connections, and its share's key in `shares`:
    /// one lookup per request (the connection goes back by its permit's
    /// key).
    origins: OriginMap<usize>,
    shares: Slab<Share>,
    /// The share last granted from: tried before the lookup (a client
    /// that asks one origin again and again finds it without hashing).
    last: Option<usize>,
    /// No idle connection expires before this (a bound kept as they are
    /// put back, made exact by each prune): `grant` prunes only from then
    /// on, not by a walk of every idle list per request.
    prune_at: Option<Instant>,
    waiters: VecDeque<Rc<Waiter>>,
    reaper: bool,
}

/// The pool; clones share it.
#[derive(Clone)]
pub(crate) struct Pool {
    shared: Rc<RefCell<State>>,
}

impl Pool {
    pub(crate) fn new(cfg: PoolConfig) -> Pool {
        Pool {
            shared: Rc::new(RefCell::new(State {
                cfg,
                total: 0,
                origins: OriginMap::default(),
                shares: Slab::new(),
                last: None,
                prune_at: None,
                waiters: VecDeque::new(),
                reaper: false,
            })),
        }
    }

    pub(crate) fn stats(&self) -> PoolStats {
        let st = self.shared.borrow();
        PoolStats {
            connections: st.total,
            idle: st.shares.iter().map(|(_, s)| s.idle.len()).sum(),
            waiting: st.waiters.len(),
        }
    }

    /// What [`Pool::acquire`] gives without waiting, if anything: `None`
    /// while the limits are reached or others wait for `origin`.
    pub(crate) fn try_acquire(&self, origin: &Origin, fresh_only: bool) -> Option<Acquired> {
        loop {
            let mut evicted = Vec::new();
            let got = {
                let mut st = self.shared.borrow_mut();
                if st.waiters.iter().any(|w| w.origin == *origin) {
                    None
                } else {
                    st.grant(&self.shared, origin, fresh_only, &mut evicted)
                }
            };
            if got.is_some() || evicted.is_empty() {
                return got;
            }
            drop(evicted); // frees room; try again
        }
    }

    /// An idle connection to `origin` (unless `fresh_only`) or room for a
    /// new one, waiting in line while the limits are reached.
    pub(crate) async fn acquire(&self, origin: &Origin, fresh_only: bool) -> Acquired {
        if let Some(got) = self.try_acquire(origin, fresh_only) {
            return got;
        }
        let waiter = Rc::new(Waiter {
            origin: origin.clone(),
            fresh_only,
            grant: RefCell::new(None),
            waker: RefCell::new(None),
        });
        self.shared.borrow_mut().waiters.push_back(waiter.clone());
        let guard = WaitGuard {
            pool: self.clone(),
            waiter,
        };
        poll_fn(|cx| match guard.waiter.grant.borrow_mut().take() {
            Some(got) => Poll::Ready(got),
            None => {
                *guard.waiter.waker.borrow_mut() = Some(cx.waker().clone());
                Poll::Pending
            }
        })
        .await
    }

    /// Puts a connection whose exchange ended cleanly back for reuse: to
    /// the oldest waiter for its origin, else into the idle list (closed
    /// instead when that list is full).
    pub(crate) fn release(&self, mut conn: Conn) {
        // Released only after a read completed: an empty buffer then means
        // no bytes of another response are left in it.
        debug_assert!(
            !conn.input.is_reading(),
            "a pooled connection with a read in flight"
        );
        conn.reused = true;
        // Its consumed input may be a piece of the core's read scratch
        // block (epoll's reads, io_uring's copies out of provided buffers):
        // empty, with no room, yet keeping the block (32 KiB) alive while
        // the connection idles. The next read starts a new piece anyway.
        let buf = conn.buf();
        if buf.capacity() == 0 {
            *buf = BytesMut::new();
        }
        let surplus = {
            let mut st = self.shared.borrow_mut();
            let st = &mut *st;
            // Its origin (its share's) only looked up when someone waits.
            let share = match st.waiters.is_empty() {
                true => None,
                false => st.shares.get(conn.permit.share),
            };
            let waiting = share.and_then(|share| {
                st.waiters
                    .iter()
                    .position(|w| w.origin == share.origin && !w.fresh_only)
            });
            if let Some(i) = waiting {
                if let Some(w) = st.waiters.remove(i) {
                    w.give(Acquired::Reused(conn));
                }
                return;
            }
            let max_idle = st.cfg.max_idle_per_host;
            let since = crate::now();
            let idle = |conn| Idle { conn, since };
            // The origin's list by the permit's key, not by a lookup.
            let surplus = match st.shares.get_mut(conn.permit.share) {
                Some(share) if share.idle.len() < max_idle => {
                    share.idle.push_back(idle(conn));
                    None
                }
                _ => Some(conn),
            };
            if let (None, Some(expires)) = (&surplus, since.checked_add(st.cfg.idle_timeout)) {
                st.prune_at = Some(st.prune_at.map_or(expires, |at| at.min(expires)));
            }
            if surplus.is_none() && !st.reaper && percore_runtime::in_runtime() {
                st.reaper = true;
                percore_runtime::spawn_local(reap(Rc::downgrade(&self.shared)));
            }
            surplus
        };
        drop(surplus);
    }
}

impl Waiter {
    fn give(&self, got: Acquired) {
        *self.grant.borrow_mut() = Some(got);
        if let Some(w) = self.waker.borrow_mut().take() {
            w.wake();
        }
    }
}

/// Leaves the line when the wait ends or is cancelled (pool-wait timeout),
/// handing back anything granted meanwhile.
struct WaitGuard {
    pool: Pool,
    waiter: Rc<Waiter>,
}

impl Drop for WaitGuard {
    fn drop(&mut self) {
        self.pool
            .shared
            .borrow_mut()
            .waiters
            .retain(|w| !Rc::ptr_eq(w, &self.waiter));
        let granted = self.waiter.grant.borrow_mut().take();
        match granted {
            Some(Acquired::Reused(conn)) => self.pool.release(conn),
            Some(Acquired::Slot(permit)) => drop(permit),
            None => {}
        }
    }
}

impl State {
    /// What `origin` can have now, if anything. Idle connections of any
    /// origin that stand in the way of the total limit are moved to
    /// `evicted` (the caller drops them, outside the borrow, and retries).
    fn grant(
        &mut self,
        shared: &Rc<RefCell<State>>,
        origin: &Origin,
        fresh_only: bool,
        evicted: &mut Vec<Conn>,
    ) -> Option<Acquired> {
        let now = crate::now();
        if self.prune_at.is_some_and(|at| at <= now) {
            self.prune(now, evicted);
        }
        let last = self
            .last
            .filter(|&k| self.shares.get(k).is_some_and(|s| s.origin == *origin));
        let key = last.or_else(|| self.origins.get(origin).copied());
        self.last = key;
        let share = key.and_then(|k| self.shares.get_mut(k));
        let conns = match share {
            Some(share) if !fresh_only => match share.idle.pop_back() {
                Some(idle) => return Some(Acquired::Reused(idle.conn)),
                None => share.conns,
            },
            Some(share) => share.conns,
            None => 0,
        };
        if conns >= self.cfg.limit_per_host {
            if fresh_only {
                // Make room among this origin's own idle connections.
                let share = key.and_then(|k| self.shares.get_mut(k));
                if let Some(idle) = share.and_then(|s| s.idle.pop_front()) {
                    evicted.push(idle.conn);
                }
            }
            return None;
        }
        if self.total < self.cfg.limit {
            self.total += 1;
            let key = match key {
                Some(k) => k,
                None => {
                    let k = self.shares.insert(Share {
                        origin: origin.clone(),
                        conns: 0,
                        idle: VecDeque::new(),
                    });
                    self.origins.insert(origin.clone(), k);
                    k
                }
            };
            if let Some(share) = self.shares.get_mut(key) {
                share.conns += 1;
            }
            return Some(Acquired::Slot(Permit {
                pool: Rc::downgrade(shared),
                share: key,
            }));
        }
        if let Some(oldest) = self.oldest_idle() {
            if let Some(idle) = self.shares.get_mut(oldest).and_then(|s| s.idle.pop_front()) {
                evicted.push(idle.conn);
            }
        }
        None
    }

    /// The share of the idle connection idle the longest.
    fn oldest_idle(&self) -> Option<usize> {
        self.shares
            .iter()
            .filter_map(|(k, s)| s.idle.front().map(|i| (i.since, k)))
            .min_by_key(|(since, _)| *since)
            .map(|(_, k)| k)
    }

    /// Moves idle connections past their idle timeout to `expired`. An
    /// origin's emptied list stays while the origin has connections (in
    /// use, coming back: no new list per request), and goes with the last
    /// (its permit's drop removes the share).
    fn prune(&mut self, now: Instant, expired: &mut Vec<Conn>) {
        let timeout = self.cfg.idle_timeout;
        for (_, share) in self.shares.iter_mut() {
            let list = &mut share.idle;
            while list
                .front()
                .is_some_and(|i| now.saturating_duration_since(i.since) >= timeout)
            {
                if let Some(i) = list.pop_front() {
                    expired.push(i.conn);
                }
            }
        }
        self.prune_at = self.next_expiry();
    }

    /// When the next idle connection expires.
    fn next_expiry(&self) -> Option<Instant> {
        self.shares
            .iter()
            .filter_map(|(_, s)| s.idle.front()?.since.checked_add(self.cfg.idle_timeout))
            .min()
    }
}

/// Serves waiters, oldest first, with whatever is free now.
fn dispatch(shared: &Rc<RefCell<State>>) {
    loop {
        let mut evicted = Vec::new();
        {
            let mut st = shared.borrow_mut();
            let mut i = 0;
            while i < st.waiters.len() {
                let Some(w) = st.waiters.get(i).cloned() else {
                    break;
                };
                match st.grant(shared, &w.origin, w.fresh_only, &mut evicted) {
                    Some(got) => {
                        st.waiters.remove(i);
                        w.give(got);
                    }
                    None => i += 1,
                }
            }
        }
        if evicted.is_empty() {
            return;
        }
        drop(evicted); // each permit given back dispatches again
    }
}

/// Closes idle connections when their idle timeout passes; runs while the
/// pool has idle connections and the pool lives.
async fn reap(pool: Weak<RefCell<State>>) {
    loop {
        let next = {
            let Some(shared) = pool.upgrade() else {
                return;
            };
            let mut st = shared.borrow_mut();
            let next = st.next_expiry();
            if next.is_none() {
                st.reaper = false;
            }
            next
        };
        let Some(at) = next else {
            return;
        };
        percore_runtime::time::sleep_until(at).await;
        let Some(shared) = pool.upgrade() else {
            return;
        };
        let mut expired = Vec::new();
        shared.borrow_mut().prune(Instant::now(), &mut expired);
        drop(shared);
        drop(expired);
    }
}

#[cfg(test)]
mod tests;
