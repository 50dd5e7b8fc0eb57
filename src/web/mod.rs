//! The web layer: `App`, routing, handlers, responses, JSON — in the spirit
//! of aiohttp.
//!
//! ```
//! use percore::web::{App, Request, get, post, Json};
//!
//! async fn hello(_req: Request) -> &'static str { "Hello, World!" }
//! async fn user(req: Request) -> String { format!("user {}", req.param("id").unwrap_or("?")) }
//!
//! let app = App::new()
//!     .route("/", get(hello))
//!     .route("/users/{id}", get(user));
//! # let _ = app;
//! ```

mod app;
mod handler;
mod request;
mod response;
mod router;
pub mod static_files;

pub use app::{App, Next};
pub use handler::Handler;
pub use request::Request;
pub use response::{Html, IntoResponse, Json, Response};
pub use router::{any, delete, get, head, options, patch, post, put, MethodRouter};
pub use static_files::{StaticDir, StaticFile};
