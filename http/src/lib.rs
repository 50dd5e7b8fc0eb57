//! percore-http: HTTP/1.1 and HTTP/2 for percore.
//!
//! The protocol cores (`h1`, `h2`) are sans-IO: bytes in, events and bytes out.
//! The connection drivers that run them on the percore runtime are thin glue.

#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

mod body;
mod connections;
pub mod field_list;
mod file_body;
mod fx_hash;
pub mod h1;
pub mod h2;
pub mod header_pool;
mod limits;
mod reply;
pub mod server;
mod service;
pub mod upgrade;

pub use body::{Body, BodyError, BodySender, BodyStream, RequestBody};
pub use file_body::FileBody;
pub use fx_hash::{FxBuildHasher, FxHasher};
pub use limits::Limits;
pub use reply::{typed_response, Plain, Reply};
pub use service::{CatchUnwind, ConnState, FnService, Request, Response, Service};
