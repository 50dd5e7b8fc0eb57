//! Connection upgrades (RFC 9110 §7.8): a handler answers `101 Switching
//! Protocols` and takes the connection over, as WebSocket and h2c do.
//!
//! For a request that asks to upgrade (`Connection: upgrade` plus an
//! `Upgrade` header, HTTP/1.1, no body), the HTTP/1.1 server puts an
//! [`OnUpgrade`] in the request's extensions. A handler takes it with
//! [`on_upgrade`], spawns a task that awaits it, and returns a 101 response.
//! Once the server has written the 101, the task receives the connection as
//! an [`Upgraded`]: the stream and every byte the client sent after the
//! request head. If the handler answers anything but 101, the connection
//! stays HTTP/1.1 and the `OnUpgrade` resolves to an error.
//!
//! ```no_run
//! use percore_http::{upgrade, Body, Request, Response};
//! use percore_runtime::spawn_local;
//!
//! async fn handler(mut req: Request) -> Response {
//!     let Some(on_upgrade) = upgrade::on_upgrade(&mut req) else {
//!         return Response::new(Body::from("expected an upgrade"));
//!     };
//!     spawn_local(async move {
//!         if let Ok(upgraded) = on_upgrade.await {
//!             let (stream, already_read) = upgraded.into_parts();
//!             // speak the new protocol on `stream`, starting with `already_read`
//!             let _ = (stream, already_read);
//!         }
//!     });
//!     let mut resp = Response::new(Body::empty());
//!     *resp.status_mut() = http::StatusCode::SWITCHING_PROTOCOLS;
//!     resp.headers_mut().insert(http::header::UPGRADE, "my-protocol".parse().unwrap());
//!     resp.headers_mut().insert(http::header::CONNECTION, "upgrade".parse().unwrap());
//!     resp
//! }
//! ```

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use crate::server::Conn;
use bytes::BytesMut;
use http::header::{CONNECTION, UPGRADE};
use percore_runtime::sync::Shutdown;

use crate::connections::ConnGuard;
use crate::service::Request;

/// A connection handed over by the HTTP/1.1 server after a 101 response.
pub struct Upgraded {
    stream: Rc<Conn>,
    read_buf: BytesMut,
    shutdown: Shutdown,
    guard: ConnGuard,
    write_timeout: Duration,
}

impl Upgraded {
    pub(crate) fn new(
        stream: Rc<Conn>,
        read_buf: BytesMut,
        shutdown: Shutdown,
        guard: ConnGuard,
        write_timeout: Duration,
    ) -> Upgraded {
        Upgraded {
            stream,
            read_buf,
            shutdown,
            guard,
            write_timeout,
        }
    }

    /// The server's [`Limits::write_timeout`](crate::Limits::write_timeout):
    /// how long the peer may accept no byte while output waits. The new
    /// protocol should apply it to its own writes.
    pub fn write_timeout(&self) -> Duration {
        self.write_timeout
    }

    /// The server's graceful-shutdown signal: a long-lived protocol should
    /// say goodbye to its peer (WebSocket: Close 1001) when it is raised.
    pub fn shutdown_signal(&self) -> Shutdown {
        self.shutdown.clone()
    }

    /// The stream, and the bytes the client sent after the upgrade request
    /// that the server had already read: the new protocol starts with them.
    pub fn into_parts(self) -> (Rc<Conn>, BytesMut) {
        (self.stream, self.read_buf)
    }

    /// As [`into_parts`](Self::into_parts), plus the guard that keeps the
    /// connection counted as open: a graceful shutdown waits (up to its
    /// deadline) until it is dropped.
    pub fn into_guarded_parts(self) -> (Rc<Conn>, BytesMut, ConnGuard) {
        (self.stream, self.read_buf, self.guard)
    }
}

impl fmt::Debug for Upgraded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Upgraded")
            .field("buffered", &self.read_buf.len())
            .finish()
    }
}

/// The `:protocol` of an HTTP/2 extended CONNECT (RFC 8441): the protocol
/// the client wants to speak on the stream (`websocket`). The HTTP/2 server
/// puts it in the request's extensions, beside an [`OnUpgrade`] that
/// resolves to the stream once a 2xx answer is sent.
///
/// ```
/// use percore_http::upgrade::Protocol;
/// let p = Protocol::new("websocket");
/// assert_eq!(p.as_str(), "websocket");
/// assert!(p.is("WebSocket"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Protocol(String);

impl Protocol {
    /// A protocol token.
    pub fn new(protocol: impl Into<String>) -> Protocol {
        Protocol(protocol.into())
    }

    /// The token as sent.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this is `name` (case-insensitive, as HTTP upgrade tokens are).
    pub fn is(&self, name: &str) -> bool {
        self.0.eq_ignore_ascii_case(name)
    }
}

/// Why an upgrade did not happen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpgradeError {
    /// The response was not `101 Switching Protocols`, or the connection
    /// failed before the 101 was written.
    NotUpgraded,
}

impl fmt::Display for UpgradeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the connection was not upgraded")
    }
}

impl std::error::Error for UpgradeError {}

enum Slot {
    Waiting(Option<Waker>),
    Ready(Upgraded),
    Failed,
}

struct Entry {
    slot: Slot,
    /// Live `OnUpgrade` handles (clones of the request's extensions).
    handles: usize,
}

thread_local! {
    /// Upgrades in progress on this core, by id. `http::Extensions` only
    /// holds `Send + Sync` values, so the request carries an id and the
    /// connection (which never leaves its core) stays here.
    static SLOTS: RefCell<HashMap<u64, Entry>> = RefCell::new(HashMap::new());
}

/// Ids unique across threads, so an `OnUpgrade` polled on another core
/// finds nothing rather than another connection.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Resolves to the [`Upgraded`] connection once the server has sent the 101.
///
/// It must be awaited on the core that received the request (a task made
/// with `spawn_local`); anywhere else it resolves to an error.
#[derive(Debug)]
pub struct OnUpgrade {
    id: u64,
}

impl Future for OnUpgrade {
    type Output = Result<Upgraded, UpgradeError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        SLOTS.with(|slots| {
            let mut slots = slots.borrow_mut();
            let Some(entry) = slots.get_mut(&self.id) else {
                return Poll::Ready(Err(UpgradeError::NotUpgraded));
            };
            match std::mem::replace(&mut entry.slot, Slot::Failed) {
                Slot::Ready(upgraded) => Poll::Ready(Ok(upgraded)),
                Slot::Waiting(_) => {
                    entry.slot = Slot::Waiting(Some(cx.waker().clone()));
                    Poll::Pending
                }
                Slot::Failed => Poll::Ready(Err(UpgradeError::NotUpgraded)),
            }
        })
    }
}

impl Clone for OnUpgrade {
    /// Clones share the upgrade: the first to be polled after the 101 gets it.
    fn clone(&self) -> Self {
        let _ = SLOTS.try_with(|slots| {
            if let Some(entry) = slots.borrow_mut().get_mut(&self.id) {
                entry.handles += 1;
            }
        });
        OnUpgrade { id: self.id }
    }
}

impl Drop for OnUpgrade {
    fn drop(&mut self) {
        // The last handle gone: an upgraded connection nobody took is closed.
        let _ = SLOTS.try_with(|slots| {
            let mut slots = slots.borrow_mut();
            if let Some(entry) = slots.get_mut(&self.id) {
                entry.handles -= 1;
                if entry.handles == 0 {
                    slots.remove(&self.id);
                }
            }
        });
    }
}

/// The server's end of an [`OnUpgrade`]: fulfilled after the 101 is written;
/// dropping it unfulfilled fails the upgrade.
pub(crate) struct PendingUpgrade {
    id: u64,
}

impl PendingUpgrade {
    pub(crate) fn fulfil(self, upgraded: Upgraded) {
        self.settle(Slot::Ready(upgraded));
    }

    /// Replaces the slot's state (if the `OnUpgrade` still exists) and wakes its task.
    fn settle(&self, value: Slot) {
        let waker = SLOTS.with(|slots| {
            let mut slots = slots.borrow_mut();
            let entry = slots.get_mut(&self.id)?;
            match &entry.slot {
                Slot::Waiting(_) => match std::mem::replace(&mut entry.slot, value) {
                    Slot::Waiting(waker) => waker,
                    _ => None,
                },
                _ => None,
            }
        });
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl Drop for PendingUpgrade {
    fn drop(&mut self) {
        let _ = SLOTS.try_with(|_| self.settle(Slot::Failed));
    }
}

/// A connected pair: the server keeps the first, the request carries the second.
pub(crate) fn pending() -> (PendingUpgrade, OnUpgrade) {
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let entry = Entry {
        slot: Slot::Waiting(None),
        handles: 1,
    };
    SLOTS.with(|slots| slots.borrow_mut().insert(id, entry));
    (PendingUpgrade { id }, OnUpgrade { id })
}

/// Takes the request's [`OnUpgrade`], if the request asked for an upgrade
/// the server can hand over.
pub fn on_upgrade(req: &mut Request) -> Option<OnUpgrade> {
    req.extensions_mut().remove::<OnUpgrade>()
}

/// Whether `headers` ask for a protocol upgrade: an `Upgrade` field and a
/// `Connection` field that lists the `upgrade` option.
///
/// ```
/// let mut h = http::HeaderMap::new();
/// h.insert(http::header::UPGRADE, "websocket".parse().unwrap());
/// h.insert(http::header::CONNECTION, "keep-alive, Upgrade".parse().unwrap());
/// assert!(percore_http::upgrade::wants_upgrade(&h));
/// ```
pub fn wants_upgrade(headers: &http::HeaderMap) -> bool {
    headers.contains_key(UPGRADE) && connection_has(headers, "upgrade")
}

/// Whether a `Connection` field lists `option` (case-insensitive).
pub fn connection_has(headers: &http::HeaderMap, option: &str) -> bool {
    crate::field_list::text_contains(headers, CONNECTION, option)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::task::Wake;

    struct Flag(std::sync::atomic::AtomicBool);
    impl Wake for Flag {
        fn wake(self: Arc<Self>) {
            self.0.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    }

    #[test]
    fn dropped_pending_fails_and_wakes() {
        let (pending, mut on) = pending();
        let (other_pending, other_on) = super::pending();
        drop(other_on);
        drop(other_pending);
        assert!(SLOTS.with(|s| s.borrow().len()) == 1);
        let flag = Arc::new(Flag(Default::default()));
        let waker = Waker::from(flag.clone());
        let mut cx = Context::from_waker(&waker);
        assert!(Pin::new(&mut on).poll(&mut cx).is_pending());
        drop(pending);
        assert!(flag.0.load(std::sync::atomic::Ordering::SeqCst));
        assert!(matches!(
            Pin::new(&mut on).poll(&mut cx),
            Poll::Ready(Err(UpgradeError::NotUpgraded))
        ));
        drop(on);
        assert!(SLOTS.with(|s| s.borrow().is_empty()));
    }

    #[test]
    fn upgrade_tokens() {
        let mut h = http::HeaderMap::new();
        h.insert(UPGRADE, "websocket".parse().unwrap());
        assert!(!wants_upgrade(&h));
        h.append(CONNECTION, "keep-alive".parse().unwrap());
        h.append(CONNECTION, "UPGRADE".parse().unwrap());
        assert!(wants_upgrade(&h));
        assert!(connection_has(&h, "keep-alive"));
        assert!(!connection_has(&h, "close"));
    }
}
