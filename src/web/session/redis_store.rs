//! `RedisSessionStore`: sessions in Redis, the cookie carrying a signed
//! random id.

use std::io;
use std::time::Duration;

use cookie::{Cookie, CookieJar, Key};
use percore_redis::{Client, Cmd, Value};

use super::store::{SessionData, SessionStore, StoreFuture};

/// The name signed with every id (authenticated, never sent).
const SIGN_NAME: &str = "percore.session";

/// Random bytes in a session id (128 bits).
const ID_BYTES: usize = 16;

/// Sessions kept in Redis, for applications served by several processes
/// or hosts: every process given the same Redis and the same key reads
/// every session.
///
/// The cookie carries a random 128-bit id, signed with the key (a
/// forged or altered cookie is refused without asking Redis). The data is
/// one JSON value under `PREFIX + id`, written with `SET ... EX max_age`:
/// Redis forgets a session `max_age` after its last change. A request
/// costs one `GET` (one round trip) when it carries a session cookie, and
/// one `SET` when the handler changed the session; a renewed id (at login)
/// is one round trip too (`DEL` old and `SET` new, pipelined).
///
/// When Redis does not answer within the client's command timeout, the
/// [`Sessions`](super::Sessions) middleware answers 503; the next request
/// tries a new connection, so the app recovers when Redis is back. The
/// middleware loads the session of every request it sees that carries the
/// cookie: put it on the routes (or the sub-app) that use sessions, and
/// the other routes neither wait for Redis nor fail with it.
///
/// ```no_run
/// use percore::redis::{Client, Config};
/// use percore::web::{App, Key, RedisSessionStore, Sessions};
/// let redis: Config = "redis://127.0.0.1:6379".parse().unwrap();
/// let key = Key::generate(); // the same on every core and every process
/// let app = move || {
///     // One client (a small connection pool) per core.
///     let store = RedisSessionStore::new(Client::new(redis.clone()), key.clone());
///     App::new().plugin(Sessions::new(store))
/// };
/// # let _ = app;
/// ```
pub struct RedisSessionStore {
    client: Client,
    key: Key,
    prefix: String,
}

impl std::fmt::Debug for RedisSessionStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisSessionStore")
            .field("client", &self.client)
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl RedisSessionStore {
    /// Sessions in the Redis `client` talks to, ids signed with `key`,
    /// under keys that start with `percore:session:`.
    pub fn new(client: Client, key: Key) -> RedisSessionStore {
        RedisSessionStore {
            client,
            key,
            prefix: "percore:session:".into(),
        }
    }

    /// Redis keys start with `prefix` (apps sharing a Redis keep apart).
    pub fn prefix(mut self, prefix: &str) -> RedisSessionStore {
        self.prefix = prefix.to_string();
        self
    }

    /// The id a genuine cookie value carries.
    fn verify(&self, value: &str) -> Option<String> {
        // A signed id is 44 bytes of MAC plus 32 of id: refuse anything
        // far larger before any work.
        if value.len() > 256 {
            return None;
        }
        let mut jar = CookieJar::new();
        jar.add_original(Cookie::new(SIGN_NAME, value.to_string()));
        let id = jar.signed(&self.key).get(SIGN_NAME)?.value().to_string();
        (id.len() == 2 * ID_BYTES && id.bytes().all(|b| b.is_ascii_hexdigit())).then_some(id)
    }

    /// A new random id, and its signed cookie value.
    fn new_id(&self) -> io::Result<(String, String)> {
        let mut raw = [0u8; ID_BYTES];
        getrandom::getrandom(&mut raw).map_err(io::Error::other)?;
        let id: String = raw.iter().map(|b| format!("{b:02x}")).collect();
        let mut jar = CookieJar::new();
        jar.signed_mut(&self.key)
            .add(Cookie::new(SIGN_NAME, id.clone()));
        let value = jar
            .get(SIGN_NAME)
            .map(|c| c.value().to_string())
            .unwrap_or_default();
        Ok((id, value))
    }

    fn redis_key(&self, id: &str) -> String {
        format!("{}{id}", self.prefix)
    }

    fn set(&self, id: &str, data: &SessionData, ttl: Duration) -> io::Result<Cmd> {
        let json = serde_json::to_vec(data)?;
        Ok(Cmd::new("SET")
            .arg(self.redis_key(id))
            .arg(json)
            .arg("EX")
            .arg(ttl.as_secs().max(1).to_string()))
    }
}

impl SessionStore for RedisSessionStore {
    fn load<'a>(&'a self, value: &'a str) -> StoreFuture<'a, Option<SessionData>> {
        Box::pin(async move {
            let Some(id) = self.verify(value) else {
                return Ok(None);
            };
            let Some(json) = self.client.get(self.redis_key(&id)).await? else {
                return Ok(None);
            };
            match serde_json::from_slice(&json) {
                Ok(data) => Ok(Some(data)),
                Err(e) => {
                    tracing::warn!("redis session {id}: not session data ({e}): ignored");
                    Ok(None)
                }
            }
        })
    }

    fn save<'a>(
        &'a self,
        value: Option<&'a str>,
        data: &'a SessionData,
        ttl: Duration,
    ) -> StoreFuture<'a, String> {
        Box::pin(async move {
            let (id, value) = match value.and_then(|v| Some((self.verify(v)?, v.to_string()))) {
                Some(known) => known,
                None => self.new_id()?,
            };
            self.client.cmd(&self.set(&id, data, ttl)?).await?;
            Ok(value)
        })
    }

    fn delete<'a>(&'a self, value: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            if let Some(id) = self.verify(value) {
                self.client.del(self.redis_key(&id)).await?;
            }
            Ok(())
        })
    }

    fn renew<'a>(
        &'a self,
        old: &'a str,
        data: &'a SessionData,
        ttl: Duration,
    ) -> StoreFuture<'a, String> {
        Box::pin(async move {
            let (id, value) = self.new_id()?;
            let mut cmds = Vec::with_capacity(2);
            if let Some(old) = self.verify(old) {
                cmds.push(Cmd::new("DEL").arg(self.redis_key(&old)));
            }
            cmds.push(self.set(&id, data, ttl)?);
            for reply in self.client.pipeline(&cmds).await? {
                if let Value::Error(e) = reply {
                    return Err(io::Error::other(format!(
                        "redis: {}",
                        String::from_utf8_lossy(&e)
                    )));
                }
            }
            Ok(value)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_random_signed_and_checked() {
        let client = Client::new(percore_redis::Config::new("127.0.0.1", 1));
        let store = RedisSessionStore::new(client.clone(), Key::generate());
        let (id, value) = store.new_id().unwrap();
        assert_eq!(id.len(), 32);
        assert_eq!(store.verify(&value).as_deref(), Some(id.as_str()));
        let (id2, _) = store.new_id().unwrap();
        assert_ne!(id, id2);
        // The bare id, another key's signature, a flipped byte: refused.
        assert_eq!(store.verify(&id), None);
        let other = RedisSessionStore::new(client, Key::generate());
        assert_eq!(other.verify(&value), None);
        let mut flipped = value.clone().into_bytes();
        let last = flipped.len() - 1;
        flipped[last] = if flipped[last] == b'0' { b'1' } else { b'0' };
        assert_eq!(store.verify(std::str::from_utf8(&flipped).unwrap()), None);
        assert_eq!(store.verify(&"A".repeat(5000)), None);
        assert_eq!(store.verify(""), None);
    }
}
