//! Counting a server's open connections, upgraded ones included, so that
//! a graceful shutdown can wait for them. The HTTP drivers, the upgrade
//! hand-over and the WebSocket all hold a [`ConnGuard`].

use std::cell::Cell;
use std::rc::Rc;

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
