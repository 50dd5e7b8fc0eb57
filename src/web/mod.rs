//! The web layer: `App`, routing, handlers, middleware, errors, responses,
//! JSON and forms — in the spirit of aiohttp.
//!
//! The `http` crate's types a handler needs are re-exported here
//! (`StatusCode`, `Method`, `HeaderMap`, `HeaderValue`, `Uri`, `header`), so
//! an app needs no `http` dependency of its own.
//!
//! ```
//! use percore::web::{App, HttpError, Request, StatusCode, get};
//!
//! async fn hello(_req: Request) -> &'static str { "Hello, World!" }
//! async fn user(req: Request) -> Result<String, HttpError> {
//!     match req.param("id") {
//!         Some("0") => Err(HttpError::not_found("no user 0")),
//!         Some(id) => Ok(format!("user {id}")),
//!         None => Err(HttpError::new(StatusCode::BAD_REQUEST, "no id")),
//!     }
//! }
//!
//! let app = App::new()
//!     .route("/", get(hello))
//!     .route("/users/{id}", get(user));
//! # let _ = app;
//! ```

mod accept_encoding;
mod access_log;
mod app;
mod compress;
mod conn_slot;
mod cookies;
mod cors;
mod dispatch;
mod error;
mod extract;
mod handler;
mod lifecycle;
mod metrics;
mod middleware;
pub mod multipart;
mod percent;
mod plugin;
mod request;
mod request_id;
mod request_parts;
mod response;
mod router;
mod session;
pub mod static_files;
#[cfg(test)]
mod test_heads;
#[cfg(test)]
mod testing;
mod url;
mod vary;

pub use access_log::{AccessLog, LogFormat, ACCESS_LOG_TARGET};
pub use app::App;
pub use compress::Compression;
pub use conn_slot::ReplySlot;
pub use cookies::ResponseCookies;
pub use cors::Cors;
pub use error::HttpError;
pub use handler::{BoxFuture, Handler, ReplyFuture};
pub use lifecycle::AppStateRef;
pub use metrics::Metrics;
pub use middleware::{IntoMiddleware, Next};
pub use percore_http::{Plain, Reply};
pub use plugin::Plugin;
pub use request::Request;
pub use request_id::{RequestId, RequestIds, X_REQUEST_ID};
pub use response::{Html, IntoResponse, Json, Response, Typed};
pub use router::{any, delete, get, head, options, patch, post, put, MethodRouter};
pub use session::{
    CookieStore, RedisSessionStore, Session, SessionData, SessionStore, Sessions, StoreFuture,
};
pub use static_files::{StaticDir, StaticFile};

pub use http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};

/// The `cookie` crate (cookie building, jars, keys, `time` for `Max-Age`).
pub use ::cookie;
pub use ::cookie::{Cookie, CookieJar, Key, SameSite};
