//! Connection drivers: the thin glue that runs the sans-IO protocol cores on
//! percore sockets and calls a [`crate::Service`] for each request.
//!
//! - `start`: where a connection starts; protocol detection (the HTTP/2
//!   preface, `Upgrade: h2c`, ALPN over TLS) picks the driver. [`serve`]
//!   is the entry (`serve_tls` with the `tls` feature).
//! - `conn`: [`Conn`], the stream every driver runs on: plain TCP, or TLS
//!   (feature `tls`, the only reason this crate would depend on rustls).
//! - `h1`: the HTTP/1.1 driver: read side (`input`), write side (`output`)
//!   and the dispatch loop.
//! - `h2`: the HTTP/2 driver: socket loop, request bodies, stream tasks.
//! - `exchange`: what both drivers do per request (the handler call, a
//!   panic answered with 500, the first-chunk peek, bodiless responses).
//! - `header_cache`: the per-core `Date` and `content-length` values.
//! - `body_pace`: the slow-request-body rule both drivers apply.

mod body_pace;
mod conn;
mod exchange;
mod h1;
mod h2;
mod header_cache;
mod start;

pub use crate::connections::{ConnGuard, ConnProtocol, CoreConnections, OpenConnections};
pub use conn::{Conn, Tunnel};
pub use h2::H2Stream;
pub use start::serve;
#[cfg(feature = "tls")]
pub use start::serve_tls;

use std::rc::Rc;

use crate::Limits;
use percore_runtime::sync::Shutdown;

/// What a connection needs besides its socket and service.
#[derive(Debug, Clone)]
pub struct ConnConfig {
    /// Limits and timeouts.
    pub limits: Rc<Limits>,
    /// Raised when the server shuts down: idle connections close, busy ones
    /// finish their request and then close.
    pub shutdown: Shutdown,
    /// Serve HTTP/2 too: h2c with prior knowledge (detected by the client
    /// preface) and via `Upgrade: h2c`.
    pub http2: bool,
    /// The server's open connections (this one is counted while served).
    pub connections: OpenConnections,
}

/// How long a closing connection waits for its close_notify to go out, and
/// then for the client's last bytes.
const LINGER: std::time::Duration = std::time::Duration::from_millis(500);

/// Closes after a final response when nothing more can come from the
/// client: close_notify (TLS) and FIN, no lingering read.
pub(crate) async fn close_now(stream: &Conn) {
    stream.close_write(LINGER).await;
}

/// Closes after a final response: stop writing, then read and discard what
/// the client still sends for a moment, so that unread input does not make
/// the kernel reset the connection before the client has read our answer.
/// Over TLS, close_notify goes first and the drain reads through TLS.
pub(crate) async fn linger_close(stream: &Conn) {
    use std::time::Instant;
    let linger = LINGER;
    stream.close_write(linger).await;
    let deadline = Instant::now() + linger;
    let mut discarded = 0usize;
    while discarded < 256 * 1024 {
        let buf = bytes::BytesMut::with_capacity(16 * 1024);
        match percore_runtime::time::timeout_at(deadline, stream.read(buf)).await {
            Ok((Ok(n), _)) if n > 0 => discarded += n,
            _ => return,
        }
    }
}
