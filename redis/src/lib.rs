//! percore-redis: a Redis client on percore's runtime, no tokio.
//!
//! - [`resp`]: a sans-IO RESP2 codec ([`Cmd`] out, [`Decoder`] in) with
//!   limits on every length and on nesting;
//! - [`Client`]: one per core, a small pool of connections opened on
//!   demand (and again after an error), each carrying many commands at
//!   once, every command bounded by a timeout;
//! - [`Subscriber`]: a dedicated connection for `SUBSCRIBE`.
//!
//! ```no_run
//! use std::time::Duration;
//! use percore_redis::{Client, Config};
//! let config: Config = "redis://127.0.0.1:6379".parse().unwrap();
//! percore_runtime::Runtime::new().unwrap().block_on(async {
//!     let redis = Client::new(config.command_timeout(Duration::from_millis(500)));
//!     redis.set_ex("k", "v", Duration::from_secs(10)).await.unwrap();
//!     assert_eq!(redis.get("k").await.unwrap().as_deref(), Some(&b"v"[..]));
//! });
//! ```

#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]
#![forbid(unsafe_code)]

mod client;
mod config;
mod conn;
mod pubsub;
pub mod resp;

use std::io;

pub use client::Client;
pub use config::Config;
pub use pubsub::{Message, Subscriber};
pub use resp::{Cmd, Decoder, ProtocolError, RespLimits, Value};

/// `value`, or an `Err` of kind `Other` for an error reply.
pub(crate) fn check(value: Value) -> io::Result<Value> {
    match value {
        Value::Error(e) => Err(io::Error::other(format!(
            "redis: {}",
            String::from_utf8_lossy(&e)
        ))),
        v => Ok(v),
    }
}
