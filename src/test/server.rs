//! `TestServer`: an app on an ephemeral port, on its own thread, stopped
//! when dropped.

use std::io;
use std::net::SocketAddr;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use percore_http::Service;
use percore_runtime::sync::Shutdown;

use crate::Server;

/// A server for integration tests: binds `127.0.0.1:0`, runs on a thread
/// of its own, ignores signals, and shuts down gracefully when dropped.
///
/// ```
/// use percore::web::{App, Request, get};
/// use percore::test::TestServer;
/// use std::io::{Read, Write};
///
/// let srv = TestServer::start(|| App::new().route("/", get(|_r: Request| async { "hi" })));
/// let mut s = std::net::TcpStream::connect(srv.addr()).unwrap();
/// s.write_all(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").unwrap();
/// let mut answer = String::new();
/// s.read_to_string(&mut answer).unwrap();
/// assert!(answer.starts_with("HTTP/1.1 200 OK") && answer.ends_with("hi"));
/// ```
pub struct TestServer {
    addr: SocketAddr,
    shutdown: Shutdown,
    thread: Option<JoinHandle<io::Result<()>>>,
}

impl std::fmt::Debug for TestServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestServer")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl TestServer {
    /// Serves what `factory` builds on one core, with default limits and driver.
    /// Panics if the server cannot start (a test cannot go on without it).
    pub fn start<F, S>(factory: F) -> TestServer
    where
        F: Fn() -> S + Send + Sync + 'static,
        S: Service,
    {
        TestServer::start_server(Server::new(factory).cores(1))
    }

    /// Runs `server` as configured (driver, limits, cores, hooks), bound to
    /// an ephemeral port of 127.0.0.1, with signals left alone.
    pub fn start_server<F, S>(server: Server<F>) -> TestServer
    where
        F: Fn() -> S + Send + Sync + 'static,
        S: Service,
    {
        let shutdown = Shutdown::new();
        let (tx, rx) = mpsc::channel();
        let server = server
            .bind("127.0.0.1:0")
            .expect("127.0.0.1:0 is an address")
            .handle_signals(false)
            .shutdown_signal(shutdown.clone())
            .on_ready(move |info| {
                let _ = tx.send(info.addr);
            });
        let thread = std::thread::spawn(move || server.run());
        match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(addr) => TestServer {
                addr,
                shutdown,
                thread: Some(thread),
            },
            Err(_) => {
                shutdown.trigger();
                let why = thread.join().map(|r| r.err());
                panic!("the test server did not start: {why:?}");
            }
        }
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://addr` followed by `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// The signal that stops the server: trigger it to start a graceful
    /// shutdown without waiting for it (then [`stop`](Self::stop) waits).
    ///
    /// ```
    /// use percore::web::{App, Request, get};
    /// let srv = percore::test::TestServer::start(|| App::new().route("/", get(|_r: Request| async { "hi" })));
    /// srv.shutdown_signal().trigger(); // e.g. while a request is in flight
    /// srv.stop().unwrap();
    /// ```
    pub fn shutdown_signal(&self) -> Shutdown {
        self.shutdown.clone()
    }

    /// Stops the server gracefully and waits for it; the server's result.
    pub fn stop(mut self) -> io::Result<()> {
        self.stop_and_join()
    }

    fn stop_and_join(&mut self) -> io::Result<()> {
        self.shutdown.trigger();
        match self.thread.take() {
            Some(t) => t
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("the server thread panicked"))),
            None => Ok(()),
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Err(e) = self.stop_and_join() {
            if !std::thread::panicking() {
                panic!("test server failed: {e}");
            }
        }
    }
}
