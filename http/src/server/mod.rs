//! Connection drivers: the thin glue that runs the sans-IO protocol cores on
//! percore sockets and calls a [`crate::Service`] for each request.

mod body_pace;
mod exchange;
mod h1;
mod h2;
mod header_cache;
mod start;

pub use start::serve;

use std::cell::Cell;
use std::rc::Rc;

use crate::Limits;
use percore_runtime::sync::Shutdown;

/// Counts a server's open connections, upgraded ones included: each holds
/// a [`ConnGuard`] while it is open, so a graceful shutdown can wait for
/// them.
///
/// ```
/// use percore_http::server::OpenConnections;
/// let open = OpenConnections::default();
/// let guard = open.enter();
/// assert_eq!(open.count(), 1);
/// drop(guard);
/// assert_eq!(open.count(), 0);
/// ```
#[derive(Clone, Default, Debug)]
pub struct OpenConnections(Rc<Cell<usize>>);

impl OpenConnections {
    /// Counts one more open connection until the guard is dropped.
    pub fn enter(&self) -> ConnGuard {
        self.0.set(self.0.get() + 1);
        ConnGuard(self.0.clone())
    }

    /// Connections open now.
    pub fn count(&self) -> usize {
        self.0.get()
    }
}

/// Keeps a connection counted in its [`OpenConnections`] until dropped.
#[derive(Debug)]
pub struct ConnGuard(Rc<Cell<usize>>);

impl Drop for ConnGuard {
    fn drop(&mut self) {
        self.0.set(self.0.get() - 1);
    }
}

/// What a connection needs besides its socket and service.
#[derive(Clone)]
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

/// Closes after a final response: stop writing, then read and discard what
/// the client still sends for a moment, so that unread input does not make
/// the kernel reset the connection before the client has read our answer.
pub(crate) async fn linger_close(stream: &percore_runtime::net::TcpStream) {
    use std::time::{Duration, Instant};
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let deadline = Instant::now() + Duration::from_millis(500);
    let mut discarded = 0usize;
    while discarded < 256 * 1024 {
        let buf = bytes::BytesMut::with_capacity(16 * 1024);
        match percore_runtime::time::timeout_at(deadline, stream.read(buf)).await {
            Ok((Ok(n), _)) if n > 0 => discarded += n,
            _ => return,
        }
    }
}
