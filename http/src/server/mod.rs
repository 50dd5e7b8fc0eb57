//! Connection drivers: the thin glue that runs the sans-IO protocol cores on
//! percore sockets and calls a [`crate::Service`] for each request.

mod date;
pub mod h1;
mod h2;
mod write;

pub use h1::serve_h1;

use std::rc::Rc;

use crate::Limits;
use percore_runtime::sync::Shutdown;

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
}
