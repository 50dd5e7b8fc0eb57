//! Counting a server's open connections, upgraded ones included, so that
//! a graceful shutdown can wait for them; and counting every core's open
//! connections by protocol, for metrics. The HTTP drivers, the upgrade
//! hand-over and the WebSocket all hold a [`ConnGuard`].

use std::cell::Cell;
use std::marker::PhantomData;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;

/// What an open connection speaks now, for [`CoreConnections`].
///
/// ```
/// use percore_http::server::ConnProtocol;
/// assert_eq!(ConnProtocol::Http2.label(), "HTTP/2");
/// assert_eq!(ConnProtocol::ALL.len(), 4);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnProtocol {
    /// HTTP/1.x; also a connection not yet past protocol detection (or,
    /// over TLS, its handshake).
    Http1,
    /// HTTP/2: prior knowledge, `Upgrade: h2c`, or ALPN `h2`.
    Http2,
    /// A WebSocket after its 101.
    WebSocket,
    /// Upgraded (101) to a protocol other than WebSocket.
    Other,
}

impl ConnProtocol {
    /// Every protocol, in the order of [`CoreConnections::open`]'s index.
    pub const ALL: [ConnProtocol; 4] = [
        ConnProtocol::Http1,
        ConnProtocol::Http2,
        ConnProtocol::WebSocket,
        ConnProtocol::Other,
    ];

    /// Its metrics label: `HTTP/1.1` (HTTP/1.0 included), `HTTP/2`,
    /// `WebSocket`, `other`; HTTP/1.1 and HTTP/2 are spelled as the
    /// `protocol` label of the request counters (`percore_requests_total`).
    pub fn label(self) -> &'static str {
        match self {
            ConnProtocol::Http1 => "HTTP/1.1",
            ConnProtocol::Http2 => "HTTP/2",
            ConnProtocol::WebSocket => "WebSocket",
            ConnProtocol::Other => "other",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// One core's open connections by protocol: written only by that core's
/// connection guards (a plain load and store, no locked add), read by any
/// thread (a metrics scrape on another core). Aligned to 128 bytes so
/// cores never share its cache line.
///
/// ```
/// use percore_http::server::{ConnProtocol, CoreConnections, OpenConnections};
/// let here = CoreConnections::this_core();
/// let before = here.open(ConnProtocol::Http2);
/// let mut guard = OpenConnections::default().enter();
/// guard.set_protocol(ConnProtocol::Http2);
/// assert_eq!(here.open(ConnProtocol::Http2), before + 1);
/// drop(guard);
/// assert_eq!(here.open(ConnProtocol::Http2), before);
/// ```
#[repr(align(128))]
#[derive(Debug, Default)]
pub struct CoreConnections {
    open: [AtomicUsize; 4],
}

thread_local! {
    static THIS_CORE: Arc<CoreConnections> = Arc::default();
}

impl CoreConnections {
    /// The block of the calling thread (each worker is one core): every
    /// server on this thread counts its connections there.
    pub fn this_core() -> Arc<CoreConnections> {
        THIS_CORE.with(Arc::clone)
    }

    /// Connections open now that speak `protocol`.
    pub fn open(&self, protocol: ConnProtocol) -> usize {
        self.open[protocol.index()].load(Relaxed)
    }

    /// Only the owning thread calls this (guards are `!Send`).
    fn add(&self, protocol: ConnProtocol, up: bool) {
        let counter = &self.open[protocol.index()];
        let now = counter.load(Relaxed);
        counter.store(if up { now + 1 } else { now - 1 }, Relaxed);
    }
}

/// Counts a server's open connections, upgraded ones included: each holds
/// a [`ConnGuard`] while it is open, so a graceful shutdown can wait for
/// them.
///
/// ```
/// use percore_http::server::OpenConnections;
/// let open = OpenConnections::default();
/// let guard = open.enter();
/// assert_eq!(open.count(), 1);
/// drop(guard);
/// assert_eq!(open.count(), 0);
/// ```
#[derive(Clone, Default, Debug)]
pub struct OpenConnections(Rc<Cell<usize>>);

impl OpenConnections {
    /// Counts one more open connection (as HTTP/1.x until told otherwise)
    /// until the guard is dropped.
    pub fn enter(&self) -> ConnGuard {
        self.enter_as(ConnProtocol::Http1)
    }

    /// Counts one more open connection speaking `protocol`.
    pub fn enter_as(&self, protocol: ConnProtocol) -> ConnGuard {
        self.0.set(self.0.get() + 1);
        let core = CoreConnections::this_core();
        core.add(protocol, true);
        ConnGuard {
            count: self.0.clone(),
            core,
            protocol,
            _not_send: PhantomData,
        }
    }

    /// Connections open now.
    pub fn count(&self) -> usize {
        self.0.get()
    }
}

/// Keeps a connection counted in its [`OpenConnections`] and, under its
/// protocol, in its core's [`CoreConnections`] until dropped.
#[derive(Debug)]
pub struct ConnGuard {
    count: Rc<Cell<usize>>,
    core: Arc<CoreConnections>,
    protocol: ConnProtocol,
    /// The core's block is written by this thread only.
    _not_send: PhantomData<Rc<()>>,
}

impl ConnGuard {
    /// The connection now speaks `protocol` (an h2c upgrade, a WebSocket).
    pub fn set_protocol(&mut self, protocol: ConnProtocol) {
        if protocol != self.protocol {
            self.core.add(self.protocol, false);
            self.core.add(protocol, true);
            self.protocol = protocol;
        }
    }

    /// What the connection is counted as.
    pub fn protocol(&self) -> ConnProtocol {
        self.protocol
    }
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        self.count.set(self.count.get() - 1);
        self.core.add(self.protocol, false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guards_move_between_protocols_and_leave_nothing_behind() {
        // A fresh thread: a block of its own.
        std::thread::spawn(|| {
            let core = CoreConnections::this_core();
            let open = OpenConnections::default();
            let mut a = open.enter();
            let b = open.enter_as(ConnProtocol::Other);
            let counts = |core: &CoreConnections| ConnProtocol::ALL.map(|p| core.open(p));
            assert_eq!(counts(&core), [1, 0, 0, 1]);
            a.set_protocol(ConnProtocol::Http2);
            assert_eq!(counts(&core), [0, 1, 0, 1]);
            a.set_protocol(ConnProtocol::Http2);
            assert_eq!(counts(&core), [0, 1, 0, 1]);
            a.set_protocol(ConnProtocol::WebSocket);
            assert_eq!(
                (counts(&core), a.protocol()),
                ([0, 0, 1, 1], ConnProtocol::WebSocket)
            );
            drop(b);
            assert_eq!(counts(&core), [0, 0, 1, 0]);
            assert_eq!(open.count(), 1);
            drop(a);
            assert_eq!((counts(&core), open.count()), ([0; 4], 0));
            // Another thread's block is another block.
            let other = std::thread::spawn(CoreConnections::this_core)
                .join()
                .unwrap();
            assert!(!Arc::ptr_eq(&core, &other));
        })
        .join()
        .unwrap();
    }
}
