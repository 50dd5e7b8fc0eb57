//! `Sessions`: loads the session a request's cookie names, and saves it
//! (with a fresh cookie) after the handler has answered.

use std::rc::Rc;
use std::time::Duration;

use cookie::{Cookie, Key, SameSite};

use super::handle::Session;
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
    pub fn new(store: impl SessionStore) -> Sessions {
        Sessions {
            store: Rc::new(store),
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

    async fn run(&self, mut req: Request, next: Next) -> Response {
        let incoming = req.cookie(&self.cookie_name).map(str::to_owned);
        let mut session = Session::default();
        if let Some(id) = incoming {
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
        Rc::new(move |req, next| {
            let sessions = sessions.clone();
            Box::pin(async move { sessions.run(req, next).await })
        })
    }
}

/// Installs the middleware.
impl Plugin for Sessions {
    fn install(self, app: App) -> App {
        app.middleware(self)
    }
}
