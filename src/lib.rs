//! percore: a thread-per-core async runtime for Linux (io_uring, with an
//! epoll fallback) with HTTP/1.1, HTTP/2 and WebSocket, and an
//! aiohttp-style web layer.
//!
//! ```
//! use percore::rt::{Runtime, spawn_local};
//! let rt = Runtime::new().unwrap();
//! assert_eq!(rt.block_on(async { spawn_local(async { 1 + 1 }).await.unwrap() }), 2);
//! ```

#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

#[doc = include_str!("../docs/guide.md")]
pub mod guide {}
mod server;
pub mod test;
pub mod web;

/// The runtime: executor, drivers, net, time, channels, workers.
pub mod rt {
    pub use percore_runtime::*;
}

/// HTTP protocol layer: bodies, limits, the `Service` trait, connection drivers.
pub mod http {
    pub use percore_http::*;
}

/// WebSocket: the codec, the async socket, upgrades in handlers.
pub mod ws {
    pub use percore_ws::*;
}

pub use percore_client as client;
pub use percore_http::Limits;
pub use percore_redis as redis;
pub use percore_runtime::{available_cores, DriverChoice};
pub use percore_tls as tls;
pub use server::{ReadyInfo, Server};
