//! `CookieStore`: the session sealed (AES-256-GCM) into its own cookie.

use std::io;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cookie::{Cookie, CookieJar, Key};
use serde::{Deserialize, Serialize};

use super::store::{SessionData, SessionStore, StoreFuture};
use crate::web::cookies::MAX_COOKIE_SIZE;

/// Sessions kept in the cookie itself, encrypted and authenticated with
/// the app's key: no server state, so any core (or process sharing the
/// key) reads them. The sealed cookie also carries its expiry, so an old
/// copy stops working after `max_age` even if a client keeps it. Keep
/// sessions small: a sealed session over 4 KiB cannot be saved (browsers
/// drop larger cookies), and the request that grew it gets a 500.
///
/// ```
/// use percore::web::{CookieStore, Key, SessionStore};
/// use std::time::Duration;
/// let store = CookieStore::new(Key::generate());
/// percore::rt::Runtime::new().unwrap().block_on(async {
///     let mut data = percore::web::SessionData::new();
///     data.insert("user".into(), "ada".into());
///     let sealed = store.save(None, &data, Duration::from_secs(60)).await.unwrap();
///     assert_eq!(store.load(&sealed).await.unwrap(), Some(data));
///     assert_eq!(store.load("forged").await.unwrap(), None);
/// });
/// ```
pub struct CookieStore {
    key: Key,
}

impl std::fmt::Debug for CookieStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CookieStore").finish_non_exhaustive()
    }
}

/// The name sealed with every value (authenticated, never sent).
const SEAL_NAME: &str = "percore.session";

#[derive(Serialize, Deserialize)]
struct Sealed {
    /// Expiry, in seconds since the Unix epoch.
    exp: u64,
    data: SessionData,
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl CookieStore {
    /// A store sealing with `key` (the same on every core).
    pub fn new(key: Key) -> CookieStore {
        CookieStore { key }
    }

    /// The session sealed in `value`, if genuine and not expired.
    pub(crate) fn open(&self, value: &str) -> Option<SessionData> {
        if value.len() > MAX_COOKIE_SIZE {
            return None;
        }
        let mut jar = CookieJar::new();
        jar.add_original(Cookie::new(SEAL_NAME, value.to_string()));
        let plain = jar.private(&self.key).get(SEAL_NAME)?;
        let sealed: Sealed = serde_json::from_str(plain.value()).ok()?;
        (sealed.exp > now_secs()).then_some(sealed.data)
    }

    fn seal(&self, data: &SessionData, ttl: Duration) -> io::Result<String> {
        let exp = now_secs().saturating_add(ttl.as_secs());
        let json = serde_json::to_string(&Sealed {
            exp,
            data: data.clone(),
        })?;
        let mut jar = CookieJar::new();
        jar.private_mut(&self.key).add(Cookie::new(SEAL_NAME, json));
        let value = jar
            .get(SEAL_NAME)
            .map(|c| c.value().to_string())
            .unwrap_or_default();
        if value.len() > MAX_COOKIE_SIZE {
            return Err(io::Error::other(format!(
                "the session is too large for a cookie ({} bytes sealed, {MAX_COOKIE_SIZE} at most)",
                value.len()
            )));
        }
        Ok(value)
    }
}

impl SessionStore for CookieStore {
    fn load<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<SessionData>> {
        Box::pin(async move { Ok(self.open(id)) })
    }

    fn save<'a>(
        &'a self,
        _id: Option<&'a str>,
        data: &'a SessionData,
        ttl: Duration,
    ) -> StoreFuture<'a, String> {
        // A fresh nonce each time: every save is a new id.
        Box::pin(async move { self.seal(data, ttl) })
    }

    fn delete<'a>(&'a self, _id: &'a str) -> StoreFuture<'a, ()> {
        // Nothing on the server; the middleware deletes the cookie.
        Box::pin(async { Ok(()) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expired_tampered_and_oversized_cookies_are_not_sessions() {
        let store = CookieStore::new(Key::generate());
        let mut data = SessionData::new();
        data.insert("n".into(), 1.into());
        let sealed = store.seal(&data, Duration::from_secs(60)).unwrap();
        assert_eq!(store.open(&sealed), Some(data.clone()));
        let expired = store.seal(&data, Duration::ZERO).unwrap();
        assert_eq!(store.open(&expired), None, "expired");
        let other = CookieStore::new(Key::generate());
        assert_eq!(other.open(&sealed), None, "another key");
        let mut flipped = sealed.clone().into_bytes();
        flipped[10] = if flipped[10] == b'A' { b'B' } else { b'A' };
        assert_eq!(
            store.open(std::str::from_utf8(&flipped).unwrap()),
            None,
            "tampered"
        );
        assert_eq!(
            store.open(&"A".repeat(MAX_COOKIE_SIZE + 1)),
            None,
            "oversized"
        );
        assert_eq!(store.open(""), None);
        data.insert("big".into(), "x".repeat(MAX_COOKIE_SIZE).into());
        assert!(
            store.seal(&data, Duration::from_secs(60)).is_err(),
            "too large to save"
        );
    }
}
