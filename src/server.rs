//! `Server`: one pinned worker per core, each with its own listener
//! (SO_REUSEPORT), its own app instance and its own connections.

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use percore_http::server::{serve, serve_tls, ConnConfig, OpenConnections};
use percore_http::{Limits, Service};
use percore_runtime::future::{race, Either};
use percore_runtime::net::{reserve_port, ListenOptions, TcpListener};
use percore_runtime::sync::Shutdown;
use percore_runtime::time::sleep;
use percore_runtime::{available_cores, spawn_local, DriverChoice, DriverInfo, Workers};
use percore_tls::{TlsAcceptor, TlsConfig};

/// What [`Server::on_ready`] learns once every core is listening.
#[derive(Debug, Clone)]
pub struct ReadyInfo {
    /// The bound address (with the real port when 0 was asked).
    pub addr: SocketAddr,
    /// Number of worker cores.
    pub cores: usize,
    /// The driver of the first core (all cores choose the same way).
    pub driver: DriverInfo,
}

type ReadyCallback = Box<dyn FnOnce(&ReadyInfo) + Send>;

/// An HTTP server running one app instance per core.
///
/// ```no_run
/// use percore::web::{App, Request, get};
/// async fn hello(_req: Request) -> &'static str { "Hello, World!" }
/// percore::Server::new(|| App::new().route("/", get(hello)))
///     .bind("127.0.0.1:8080").unwrap()
///     .cores(percore::available_cores())
///     .run()
///     .unwrap();
/// ```
pub struct Server<F> {
    factory: Arc<F>,
    addr: Option<SocketAddr>,
    cores: usize,
    driver: DriverChoice,
    limits: Limits,
    shutdown: Shutdown,
    handle_signals: bool,
    grace: Duration,
    on_ready: Option<ReadyCallback>,
    tls: Option<TlsAcceptor>,
}

impl<F, S> Server<F>
where
    F: Fn() -> S + Send + Sync + 'static,
    S: Service,
{
    /// A server whose cores each build their service with `factory`.
    pub fn new(factory: F) -> Server<F> {
        Server {
            factory: Arc::new(factory),
            addr: None,
            cores: available_cores(),
            driver: DriverChoice::Auto,
            limits: Limits::default(),
            shutdown: Shutdown::new(),
            handle_signals: true,
            grace: Duration::from_secs(10),
            on_ready: None,
            tls: None,
        }
    }

    /// The address to listen on (port 0 picks a free port).
    pub fn bind(mut self, addr: impl ToSocketAddrs) -> io::Result<Server<F>> {
        self.addr = addr.to_socket_addrs()?.next();
        if self.addr.is_none() {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "no address"));
        }
        Ok(self)
    }

    /// Number of worker cores (default: every core this process may use).
    pub fn cores(mut self, n: usize) -> Server<F> {
        self.cores = n.max(1);
        self
    }

    /// The I/O driver (default: io_uring with epoll fallback).
    pub fn driver(mut self, driver: DriverChoice) -> Server<F> {
        self.driver = driver;
        self
    }

    /// Limits and timeouts.
    pub fn limits(mut self, limits: Limits) -> Server<F> {
        self.limits = limits;
        self
    }

    /// The shutdown signal (raise it to stop the server gracefully).
    pub fn shutdown_signal(mut self, shutdown: Shutdown) -> Server<F> {
        self.shutdown = shutdown;
        self
    }

    /// Whether SIGINT/SIGTERM stop the server gracefully (default true).
    pub fn handle_signals(mut self, on: bool) -> Server<F> {
        self.handle_signals = on;
        self
    }

    /// How long in-flight requests may run after shutdown starts (default 10 s).
    pub fn shutdown_timeout(mut self, grace: Duration) -> Server<F> {
        self.grace = grace;
        self
    }

    /// Called once, when every core listens.
    pub fn on_ready(mut self, f: impl FnOnce(&ReadyInfo) + Send + 'static) -> Server<F> {
        self.on_ready = Some(Box::new(f));
        self
    }

    /// Serves TLS (1.3 and 1.2) instead of plain TCP: ALPN `h2` picks
    /// HTTP/2, `http/1.1` (or none) HTTP/1.1. The handshake must finish
    /// within [`Limits::header_read_timeout`].
    ///
    /// ```no_run
    /// use percore::tls::TlsConfig;
    /// use percore::web::{App, Request, get};
    /// async fn hello(_req: Request) -> &'static str { "Hello, TLS!" }
    /// percore::Server::new(|| App::new().route("/", get(hello)))
    ///     .bind("127.0.0.1:8443")?
    ///     .tls(TlsConfig::from_pem_files("cert.pem", "key.pem")?)?
    ///     .run()
    /// # ; Ok::<(), std::io::Error>(())
    /// ```
    pub fn tls(mut self, config: TlsConfig) -> io::Result<Server<F>> {
        self.tls = Some(TlsAcceptor::new(config)?);
        Ok(self)
    }

    /// After [`tls`](Self::tls): the acceptor every core shares, to replace
    /// the certificate while the server runs
    /// ([`TlsAcceptor::reload_from_pem_files`]); new connections get the
    /// new one. `None` without TLS.
    pub fn tls_reloader(&self) -> Option<TlsAcceptor> {
        self.tls.clone()
    }

    /// Runs until shutdown. Bind errors are returned before any worker starts.
    pub fn run(self) -> io::Result<()> {
        let requested = self
            .addr
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080)));
        let (addr, reservation) = reserve_port(requested)?;
        let opts = ListenOptions {
            reuse_port: true,
            backlog: 4096,
            ..ListenOptions::default()
        };
        let listeners: Vec<std::net::TcpListener> = (0..self.cores)
            .map(|_| TcpListener::bind_std(addr, opts))
            .collect::<io::Result<_>>()?;
        drop(reservation);
        let listeners = Arc::new(Mutex::new(
            listeners.into_iter().map(Some).collect::<Vec<_>>(),
        ));
        let ready = Arc::new(Mutex::new(self.on_ready));
        let limits = Arc::new(self.limits);
        let factory = self.factory;
        let grace = self.grace;
        let cores = self.cores;
        let tls = self.tls;
        Workers::new()
            .cores(cores)
            .driver(self.driver)
            .handle_signals(self.handle_signals)
            .shutdown_signal(self.shutdown)
            .run(move |w| {
                let std_listener = listeners.lock().ok().and_then(|mut l| l[w.index].take());
                let service = Rc::new(factory());
                let limits = Rc::new((*limits).clone());
                let ready = ready.clone();
                let tls = tls.clone();
                async move {
                    let Some(std_listener) = std_listener else {
                        return;
                    };
                    let listener = match TcpListener::from_std(std_listener) {
                        Ok(l) => l,
                        Err(e) => {
                            tracing::error!("core {}: cannot adopt listener: {e}", w.index);
                            return;
                        }
                    };
                    if w.index == 0 {
                        if let Some(cb) = ready.lock().ok().and_then(|mut r| r.take()) {
                            cb(&ReadyInfo {
                                addr,
                                cores,
                                driver: w.driver.clone(),
                            });
                        }
                    }
                    serve_core(listener, service, limits, w.shutdown.clone(), grace, tls).await;
                }
            })
    }
}

/// Accepts connections on one core until shutdown (each one over TLS when
/// `tls` is set), then waits (up to `grace`) for the open connections to
/// finish.
async fn serve_core<S: Service>(
    listener: TcpListener,
    service: Rc<S>,
    limits: Rc<Limits>,
    shutdown: Shutdown,
    grace: Duration,
    tls: Option<TlsAcceptor>,
) {
    let cfg = ConnConfig {
        limits,
        shutdown: shutdown.clone(),
        http2: true,
        connections: OpenConnections::default(),
    };
    // Accept failures (EMFILE and friends) come in floods: one warning a
    // second, with the count of those not logged.
    let mut last_warning: Option<Instant> = None;
    let mut unlogged = 0u64;
    loop {
        match race(listener.accept(), shutdown.wait()).await {
            Either::Left(Ok((stream, _peer))) => {
                let service = service.clone();
                match &tls {
                    None => spawn_local(serve(stream, service, cfg.clone())),
                    Some(tls) => spawn_local(serve_tls(stream, tls.clone(), service, cfg.clone())),
                };
            }
            Either::Left(Err(e)) => {
                if last_warning.is_none_or(|t| t.elapsed() >= Duration::from_secs(1)) {
                    tracing::warn!("accept failed: {e} ({unlogged} more since the last warning)");
                    last_warning = Some(Instant::now());
                    unlogged = 0;
                } else {
                    unlogged += 1;
                }
                // Back off instead of spinning.
                sleep(Duration::from_millis(10)).await;
            }
            Either::Right(()) => break,
        }
    }
    drop(listener);
    let deadline = Instant::now() + grace;
    while cfg.connections.count() > 0 && Instant::now() < deadline {
        sleep(Duration::from_millis(10)).await;
    }
}
