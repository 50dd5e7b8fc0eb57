//! Sessions: a [`Sessions`] middleware, the [`Session`] a handler reads and
//! changes through `req.session()`, and where sessions are kept
//! ([`SessionStore`]; by default [`CookieStore`], encrypted in the cookie
//! itself, with no server state; [`RedisSessionStore`] for apps served by
//! several processes or hosts).
//!
//! ```
//! use percore::web::{get, post, App, HttpError, Key, Request, Sessions};
//!
//! async fn login(req: Request) -> Result<&'static str, HttpError> {
//!     let session = req.session()?;
//!     session.renew(); // a new id at login, against session fixation
//!     session.insert("user", "ada")?;
//!     Ok("logged in")
//! }
//!
//! async fn whoami(req: Request) -> Result<String, HttpError> {
//!     let user: Option<String> = req.session()?.get("user");
//!     Ok(user.unwrap_or_else(|| "nobody".into()))
//! }
//!
//! async fn logout(req: Request) -> Result<&'static str, HttpError> {
//!     req.session()?.clear(); // the cookie is deleted
//!     Ok("bye")
//! }
//!
//! let key = Key::generate(); // shared by every core
//! let app = move || {
//!     App::new()
//!         .plugin(Sessions::cookie(key.clone()))
//!         .route("/login", post(login))
//!         .route("/whoami", get(whoami))
//!         .route("/logout", post(logout))
//! };
//! # let _ = app();
//! ```

mod cookie_store;
mod handle;
mod middleware;
mod redis_store;
mod store;

pub use cookie_store::CookieStore;
pub use handle::Session;
pub use middleware::Sessions;
pub use redis_store::RedisSessionStore;
pub use store::{SessionData, SessionStore, StoreFuture};
