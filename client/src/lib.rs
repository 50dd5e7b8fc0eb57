//! percore-client: an HTTP/1.1 and HTTP/2 client for percore's runtime, shaped like
//! aiohttp's `ClientSession` and reqwest: one [`Client`] per core (it is
//! `!Send`, like a handler), a pool per origin with total and per-host
//! limits, timeouts like aiohttp's `ClientTimeout`, redirects, content
//! decoding, an optional cookie jar, and a Unix-socket connector.
//!
//! ```no_run
//! use percore_client::Client;
//! percore_runtime::Runtime::new().unwrap().block_on(async {
//!     let client = Client::builder().limit_per_host(4).build().unwrap();
//!     let resp = client.get("http://127.0.0.1:8080/hello").send().await.unwrap();
//!     assert!(resp.status().is_success());
//!     println!("{}", resp.text().await.unwrap());
//! });
//! ```
//!
//! `https://` URLs go through the same pool over TLS (rustls with *ring*):
//! SNI and certificate verification against the URL's host, Mozilla's
//! roots plus [`ClientBuilder::add_root_certificate`], a client certificate
//! with [`ClientBuilder::identity`], and ALPN: a server that chooses `h2`
//! gets the origin's requests multiplexed on one HTTP/2 connection, one
//! that chooses `http/1.1` pooled HTTP/1.1 connections. A TLS failure is
//! [`ErrorKind::Tls`] ([`Error::tls`] has the rustls cause);
//! [`ClientBuilder::danger_accept_invalid_certs`] turns verification off
//! for tests.
//!
//! ```no_run
//! use percore_client::Client;
//! percore_runtime::Runtime::new().unwrap().block_on(async {
//!     let ca = std::fs::read("ca.pem").unwrap();
//!     let client = Client::builder().add_root_certificate(&ca).build().unwrap();
//!     let resp = client.get("https://localhost:8443/").send().await.unwrap();
//!     println!("{:?}", resp.version()); // HTTP/2.0 when the server chose h2
//! });
//! ```
//!
//! Roots: `webpki-roots` (Mozilla's list compiled in) rather than
//! `rustls-native-certs`: it needs no CA bundle on the machine (minimal
//! containers have none), reads no files at start, and is already what
//! percore-tls uses; add a private CA with `add_root_certificate`.
//!
//! [`Client::ws`] opens a WebSocket (`ws://` or `wss://`): the same
//! [`WebSocket`] as the server's, in the client role, permessage-deflate
//! when asked; over HTTP/1.1, or over HTTP/2 (RFC 8441 extended CONNECT,
//! one stream of the origin's pooled connection) with
//! [`WsBuilder::http2`] or when the client already speaks HTTP/2 there.
//!
//! The HTTP/1.1 wire format lives in `percore_http::h1` (sans-IO: the
//! response parser and request encoder beside the server's codec); this
//! crate is the I/O around it: connections, the pool, the send path.
//!
//! A stale keep-alive connection — one the server closed while it was idle
//! in the pool — is the classic pool bug: the request fails with
//! "server disconnected" before any answer. Here such a failure, before
//! any response byte, is retried once on a new connection when that is
//! safe: the method is idempotent and the body can be sent again, or no
//! byte of the request went out. Other failures are reported.

#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

mod alpn;
mod client;
mod connect;
mod cookies;
mod decode;
mod error;
mod h1;
mod h2;
mod pool;
mod request;
mod response;
mod within;
mod ws;

pub use client::{Client, ClientBuilder, Timeouts};

/// The time at the start of this runtime loop turn (read by the loop
/// anyway, so no clock read here), or the clock outside a runtime. What
/// the client counts its timeouts from and stamps idle connections with:
/// a deadline counted from it ends at most the turn's work so far (µs)
/// earlier than one counted from `Instant::now()`. Each clock read is a
/// visible share of a request's CPU time (~4 % of an h2 request in
/// `client_bench` before, five or six reads per request).
pub(crate) fn now() -> std::time::Instant {
    percore_runtime::time::turn_started().unwrap_or_else(std::time::Instant::now)
}
pub use error::{Error, ErrorKind, TimeoutKind};
pub use percore_http::{Body, BodyStream, FileBody};
pub use percore_ws::{Message, WebSocket, WsError};
pub use pool::PoolStats;
pub use request::{IntoUrl, RequestBuilder};
pub use response::Response;
pub use url::Url;
pub use ws::WsBuilder;
