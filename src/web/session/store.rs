//! `SessionStore`: where sessions live, by the id their cookie carries.

use std::collections::BTreeMap;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::time::Duration;

/// A session's values, by key (JSON, so any store can keep them as text).
pub type SessionData = BTreeMap<String, serde_json::Value>;

/// What a store's methods return: a future on this core.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = io::Result<T>> + 'a>>;

/// Where sessions are kept. The session cookie carries an id: a random
/// key for a server-side store (Redis, a database), the sealed data
/// itself for [`CookieStore`](super::CookieStore). The [`Sessions`](super::Sessions)
/// middleware calls `load` once per request that carries a cookie, and
/// `save` or `delete` once at the end if the session changed.
///
/// A server-side store makes ids of at least 128 random bits, expires
/// entries after `ttl`, and never trusts an id it did not make: an
/// unknown id loads as `None` (a new, empty session).
///
/// ```
/// use std::cell::RefCell;
/// use std::collections::HashMap;
/// use std::time::Duration;
/// use percore::web::{SessionData, SessionStore, StoreFuture};
///
/// /// Sessions in this core's memory (a sketch: no expiry, ids from a counter).
/// #[derive(Default)]
/// struct MemoryStore(RefCell<HashMap<String, SessionData>>, RefCell<u64>);
///
/// impl SessionStore for MemoryStore {
///     fn load<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<SessionData>> {
///         Box::pin(async move { Ok(self.0.borrow().get(id).cloned()) })
///     }
///     fn save<'a>(&'a self, id: Option<&'a str>, data: &'a SessionData, _ttl: Duration) -> StoreFuture<'a, String> {
///         Box::pin(async move {
///             let id = id.map(str::to_owned).unwrap_or_else(|| {
///                 *self.1.borrow_mut() += 1;
///                 format!("s{}", self.1.borrow())
///             });
///             self.0.borrow_mut().insert(id.clone(), data.clone());
///             Ok(id)
///         })
///     }
///     fn delete<'a>(&'a self, id: &'a str) -> StoreFuture<'a, ()> {
///         Box::pin(async move { self.0.borrow_mut().remove(id); Ok(()) })
///     }
/// }
/// let _ = percore::web::Sessions::new(MemoryStore::default());
/// ```
pub trait SessionStore: 'static {
    /// The session `id` names; `None` when unknown, expired or not genuine.
    fn load<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<SessionData>>;

    /// Keeps `data` for `ttl` under `id`, or under a new id when `id` is
    /// `None`; returns the id for the cookie.
    fn save<'a>(
        &'a self,
        id: Option<&'a str>,
        data: &'a SessionData,
        ttl: Duration,
    ) -> StoreFuture<'a, String>;

    /// Forgets the session `id` (logout, or a renewed id).
    fn delete<'a>(&'a self, id: &'a str) -> StoreFuture<'a, ()>;

    /// Keeps `data` under a new id and forgets `old` (a renewed session:
    /// against fixation). By default `delete` then `save`; a store that
    /// can do both in one round trip overrides it.
    fn renew<'a>(
        &'a self,
        old: &'a str,
        data: &'a SessionData,
        ttl: Duration,
    ) -> StoreFuture<'a, String> {
        Box::pin(async move {
            self.delete(old).await?;
            self.save(None, data, ttl).await
        })
    }
}

/// Whether a store's error means "the store cannot be reached now" (the
/// request gets a 503) rather than "this request went wrong" (a 500).
pub(crate) fn is_unavailable(e: &io::Error) -> bool {
    use io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionRefused
            | ConnectionReset
            | ConnectionAborted
            | NotConnected
            | BrokenPipe
            | TimedOut
            | UnexpectedEof
            | AddrNotAvailable
            | HostUnreachable
            | NetworkUnreachable
            | NetworkDown
            | NotFound
    )
}
