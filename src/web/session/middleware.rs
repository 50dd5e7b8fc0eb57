//! `Sessions`: loads the session a request's cookie names, and saves it
//! (with a fresh cookie) after the handler has answered.

use std::rc::Rc;
use std::time::Duration;

use cookie::{Cookie, Key, SameSite};

use super::handle::{LazyLoad, Session};
use super::store::{is_unavailable, SessionStore};
use super::CookieStore;
use crate::web::middleware::{IntoMiddleware, Middleware};
use crate::web::plugin::Plugin;
use crate::web::{App, HttpError, IntoResponse, Next, Request, Response, ResponseCookies};

/// The session middleware: install it with `App::plugin` (or
/// `App::middleware`), then handlers use `req.session()`.
///
/// The cookie is `HttpOnly`, `SameSite=Lax`, `Path=/`, with `Max-Age` (one
/// day by default), and `Secure` when the request came over TLS (an
/// `https` request target) unless set with [`secure`](Self::secure).
/// A cookie that is tampered with, oversized, expired or names an unknown
/// session is ignored: the request gets a new, empty session. A store that
/// cannot be reached (refused, reset, timed out) gets the request a 503
/// with `Retry-After: 1`; any other store error is a 500.
///
/// ```
/// use std::time::Duration;
/// use percore::web::{App, Key, SameSite, Sessions};
/// let sessions = Sessions::cookie(Key::generate())
///     .cookie_name("sid")
///     .max_age(Duration::from_secs(3600))
///     .same_site(SameSite::Strict)
///     .secure(true);
/// let app = App::new().plugin(sessions);
/// # let _ = app;
/// ```
pub struct Sessions {
    store: Rc<dyn SessionStore>,
    /// `store` when it is a [`CookieStore`]: loaded only when used.
    cookie_store: Option<Rc<CookieStore>>,
    cookie_name: String,
    max_age: Duration,
    same_site: SameSite,
    secure: Option<bool>,
    path: String,
    domain: Option<String>,
}

impl std::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sessions")
            .field("cookie_name", &self.cookie_name)
            .field("max_age", &self.max_age)
            .field("same_site", &self.same_site)
            .field("secure", &self.secure)
            .field("path", &self.path)
            .field("domain", &self.domain)
            .finish_non_exhaustive()
    }
}

impl Sessions {
    /// Sessions kept in `store`.
    pub fn new<S: SessionStore>(store: S) -> Sessions {
        let any: Box<dyn std::any::Any> = Box::new(store);
        let (store, cookie_store): (Rc<dyn SessionStore>, _) = match any.downcast::<CookieStore>() {
            Ok(cookies) => {
                let cookies = Rc::<CookieStore>::from(cookies);
                (cookies.clone(), Some(cookies))
            }
            Err(other) => (Rc::new(*other.downcast::<S>().expect("an S")), None),
        };
        Sessions {
            store,
            cookie_store,
            cookie_name: "percore.session".into(),
            max_age: Duration::from_secs(24 * 3600),
            same_site: SameSite::Lax,
            secure: None,
            path: "/".into(),
            domain: None,
        }
    }

    /// Sessions encrypted into their cookie with `key` ([`CookieStore`]).
    pub fn cookie(key: Key) -> Sessions {
        Sessions::new(CookieStore::new(key))
    }

    /// Sessions in Redis through `client` (this core's), ids signed with
    /// `key` ([`RedisSessionStore`](super::RedisSessionStore)).
    pub fn redis(client: percore_redis::Client, key: Key) -> Sessions {
        Sessions::new(super::RedisSessionStore::new(client, key))
    }

    /// The cookie's name (default `percore.session`).
    pub fn cookie_name(mut self, name: &str) -> Sessions {
        self.cookie_name = name.to_string();
        self
    }

    /// How long a session lives after its last change (default one day).
    pub fn max_age(mut self, max_age: Duration) -> Sessions {
        self.max_age = max_age;
        self
    }

    /// The cookie's `SameSite` (default `Lax`).
    pub fn same_site(mut self, same_site: SameSite) -> Sessions {
        self.same_site = same_site;
        self
    }

    /// Always (or never) mark the cookie `Secure`, whatever the request's scheme.
    pub fn secure(mut self, secure: bool) -> Sessions {
        self.secure = Some(secure);
        self
    }

    /// The cookie's `Path` (default `/`).
    pub fn path(mut self, path: &str) -> Sessions {
        self.path = path.to_string();
        self
    }

    /// The cookie's `Domain` (default none: this host only).
    pub fn domain(mut self, domain: &str) -> Sessions {
        self.domain = Some(domain.to_string());
        self
    }

    fn cookie_for(&self, value: String, secure: bool) -> Cookie<'static> {
        let mut cookie = Cookie::build((self.cookie_name.clone(), value))
            .path(self.path.clone())
            .http_only(true)
            .same_site(self.same_site)
            .secure(secure)
            .max_age(cookie::time::Duration::seconds(
                i64::try_from(self.max_age.as_secs()).unwrap_or(i64::MAX),
            ))
            .build();
        if let Some(domain) = &self.domain {
            cookie.set_domain(domain.clone());
        }
        cookie
    }

    async fn run(self: Rc<Self>, mut req: Request, next: Next) -> Response {
        let mut session = Session::default();
        if self.cookie_store.is_some() {
            // Opened (cookies parsed, decrypted) only if the handler asks.
            session = Session::lazy(self.clone());
        } else if let Some(id) = req.cookie(&self.cookie_name).map(str::to_owned) {
            match self.store.load(&id).await {
                Ok(Some(data)) => session = Session::loaded(id, data),
                Ok(None) => {}
                // Not an empty session: that would log the user out, and
                // a save would overwrite the session they have.
                Err(e) => return store_failed(&e),
            }
        }
        let secure = self
            .secure
            .unwrap_or_else(|| req.uri().scheme() == Some(&http::uri::Scheme::HTTPS));
        req.set_session(session.clone());
        let mut resp = next.run(req).await;
        if let Err(e) = self.finish(&session, &mut resp, secure).await {
            return store_failed(&e);
        }
        resp
    }

    /// Saves or deletes a session that changed, and sets its cookie.
    async fn finish(
        &self,
        session: &Session,
        resp: &mut Response,
        secure: bool,
    ) -> std::io::Result<()> {
        let state = session.take_state();
        if !state.changed && !state.renew {
            return Ok(());
        }
        if state.data.is_empty() {
            if let Some(old) = state.id {
                self.store.delete(&old).await?;
                let mut removal = self.cookie_for(String::new(), secure);
                removal.make_removal();
                resp.set_cookie(removal);
            }
            return Ok(());
        }
        let new_id = match state.id {
            Some(old) if state.renew => self.store.renew(&old, &state.data, self.max_age).await?,
            id => {
                self.store
                    .save(id.as_deref(), &state.data, self.max_age)
                    .await?
            }
        };
        resp.set_cookie(self.cookie_for(new_id, secure));
        Ok(())
    }
}

/// The answer when the store failed: 503 (with `Retry-After`) when it
/// cannot be reached, 500 otherwise.
fn store_failed(e: &std::io::Error) -> Response {
    if is_unavailable(e) {
        tracing::warn!("session store unavailable: {e}");
        HttpError::service_unavailable("the session store is unavailable; try again shortly")
            .header("retry-after", "1")
            .into_response()
    } else {
        tracing::error!("session store: {e}");
        HttpError::internal("the session could not be saved").into_response()
    }
}

impl IntoMiddleware for Sessions {
    fn into_middleware(self) -> Middleware {
        let sessions = Rc::new(self);
        Rc::new(move |req, next| Box::pin(sessions.clone().run(req, next)))
    }
}

impl LazyLoad for Sessions {
    fn load(&self, cookies: &cookie::CookieJar) -> Option<(String, super::SessionData)> {
        let id = cookies.get(&self.cookie_name)?.value();
        let data = self.cookie_store.as_ref()?.open(id)?;
        Some((id.to_string(), data))
    }
}

/// Installs the middleware.
impl Plugin for Sessions {
    fn install(self, app: App) -> App {
        app.middleware(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::web::{get, IntoResponse, SessionData, StoreFuture};

    /// A store that is not a `CookieStore`: loaded eagerly, by the middleware.
    struct Fixed;

    impl SessionStore for Fixed {
        fn load<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<SessionData>> {
            let data = (id == "known").then(|| {
                let mut d = SessionData::new();
                d.insert("user".into(), "ada".into());
                d
            });
            Box::pin(async move { Ok(data) })
        }
        fn save<'a>(
            &'a self,
            _id: Option<&'a str>,
            _data: &'a SessionData,
            _ttl: Duration,
        ) -> StoreFuture<'a, String> {
            Box::pin(async { Ok("saved".to_string()) })
        }
        fn delete<'a>(&'a self, _id: &'a str) -> StoreFuture<'a, ()> {
            Box::pin(async { Ok(()) })
        }
    }

    #[test]
    fn only_the_cookie_store_is_opened_lazily() {
        assert!(Sessions::cookie(Key::generate()).cookie_store.is_some());
        assert!(Sessions::new(CookieStore::new(Key::generate()))
            .cookie_store
            .is_some());
        assert!(Sessions::new(Fixed).cookie_store.is_none());
    }

    #[test]
    fn both_paths_load_the_session_the_cookie_names() {
        async fn whoami(req: Request) -> Response {
            match req.session() {
                Ok(s) => s.get::<String>("user").unwrap_or_default().into_response(),
                Err(e) => e.into_response(),
            }
        }
        let key = Key::generate();
        let mut data = SessionData::new();
        data.insert("user".into(), "ada".into());
        let store = CookieStore::new(key.clone());
        percore_runtime::Runtime::new().unwrap().block_on(async {
            let sealed = store
                .save(None, &data, Duration::from_secs(60))
                .await
                .unwrap();
            let cases = [
                (Sessions::cookie(key.clone()), sealed.as_str()),
                (Sessions::new(Fixed), "known"),
            ];
            for (sessions, id) in cases {
                let app = App::new().plugin(sessions).route("/", get(whoami));
                for (cookie, user) in [(id, "ada"), ("forged", "")] {
                    let req = crate::test::get("/")
                        .header("cookie", &format!("percore.session={cookie}"))
                        .empty();
                    let resp = app.oneshot(req).await;
                    assert!(resp.headers().get("set-cookie").is_none());
                    assert_eq!(resp.into_body().collect().await.unwrap(), user);
                }
            }
        });
    }
}
