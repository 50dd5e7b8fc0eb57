//! `Server`: one pinned worker per core, each with its own listener
//! (SO_REUSEPORT), its own app instance and its own connections.

use std::any::Any;
use std::future::Future;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use percore_http::server::{serve, serve_tls, ConnConfig, OpenConnections};
use percore_http::{Limits, Service};
use percore_runtime::future::{race, Either};
use percore_runtime::net::{reserve_port, ListenOptions, TcpListener};
use percore_runtime::sync::Shutdown;
use percore_runtime::time::sleep;
use percore_runtime::{
    available_cores, spawn_detached, yield_now, DriverChoice, DriverInfo, Runtime, Workers,
};
use percore_tls::{TlsAcceptor, TlsConfig};

use crate::web::App;

/// What [`Server::on_ready`] learns once every core is listening.
#[derive(Debug, Clone)]
pub struct ReadyInfo {
    /// The bound address (with the real port when 0 was asked).
    pub addr: SocketAddr,
    /// Number of worker cores.
    pub cores: usize,
    /// The driver of the cores (all cores choose the same way).
    pub driver: DriverInfo,
}

type ReadyCallback = Box<dyn FnOnce(&ReadyInfo) + Send>;

/// A process-wide hook: run on the main thread, on a runtime of its own.
type ProcessHook = Box<dyn FnOnce() -> Pin<Box<dyn Future<Output = io::Result<()>>>> + Send>;

/// An HTTP server running one app instance per core (by default one
/// pinned worker per core this process may use).
///
/// ```no_run
/// use percore::web::{App, Request, get};
/// async fn hello(_req: Request) -> &'static str { "Hello, World!" }
/// percore::Server::new(|| App::new().route("/", get(hello)))
///     .bind("127.0.0.1:8080").unwrap()
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
    on_startup: Vec<ProcessHook>,
    on_shutdown: Vec<ProcessHook>,
    tls: Option<TlsAcceptor>,
}

impl<F> std::fmt::Debug for Server<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("addr", &self.addr)
            .field("cores", &self.cores)
            .field("driver", &self.driver)
            .field("limits", &self.limits)
            .field("handle_signals", &self.handle_signals)
            .field("grace", &self.grace)
            .finish_non_exhaustive()
    }
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
            on_startup: Vec::new(),
            on_shutdown: Vec::new(),
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

    /// Runs `hook` once for the whole process, on the main thread (on a
    /// runtime of its own), after the listeners are bound and before any
    /// core starts; an error is returned by [`run`](Self::run) and nothing
    /// is served. Each core's own hooks are the app's
    /// ([`App::on_startup`](crate::web::App::on_startup)).
    ///
    /// ```no_run
    /// use percore::web::{App, Request, get};
    /// percore::Server::new(|| App::new().route("/", get(|_r: Request| async { "hi" })))
    ///     .on_startup(|| async { println!("migrating the database"); Ok(()) })
    ///     .on_shutdown(|| async { println!("all cores stopped"); Ok(()) })
    ///     .run()
    ///     .unwrap();
    /// ```
    pub fn on_startup<H, Fut>(mut self, hook: H) -> Server<F>
    where
        H: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = io::Result<()>> + 'static,
    {
        self.on_startup.push(Box::new(move || Box::pin(hook())));
        self
    }

    /// Runs `hook` once for the whole process after every core has stopped
    /// (its requests finished, its app's shutdown hooks run); an error is
    /// returned by [`run`](Self::run).
    pub fn on_shutdown<H, Fut>(mut self, hook: H) -> Server<F>
    where
        H: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = io::Result<()>> + 'static,
    {
        self.on_shutdown.push(Box::new(move || Box::pin(hook())));
        self
    }

    /// Called once, when every core listens (and its startup hooks ran).
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
        run_process_hooks(self.on_startup)?;
        let listeners = Arc::new(Mutex::new(
            listeners.into_iter().map(Some).collect::<Vec<_>>(),
        ));
        let ready = Arc::new(Mutex::new(self.on_ready));
        let limits = Arc::new(self.limits);
        let factory = self.factory;
        let grace = self.grace;
        let cores = self.cores;
        let starting = Arc::new(AtomicUsize::new(cores));
        let failure: Arc<Mutex<Option<io::Error>>> = Arc::default();
        let failed = failure.clone();
        let tls = self.tls;
        let served = Workers::new()
            .cores(cores)
            .driver(self.driver)
            .handle_signals(self.handle_signals)
            .shutdown_signal(self.shutdown)
            .run(move |w| {
                let std_listener = listeners.lock().ok().and_then(|mut l| l[w.index].take());
                let service = Rc::new(factory());
                let limits = Rc::new((*limits).clone());
                let ready = ready.clone();
                let starting = starting.clone();
                let failed = failed.clone();
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
                    // An app's startup hooks run before its core accepts.
                    let app = (&*service as &dyn Any).downcast_ref::<App>();
                    let started = match app {
                        Some(app) => match app.start().await {
                            Ok(started) => Some(started),
                            Err((e, started)) => {
                                tracing::error!("core {}: startup hook failed: {e}", w.index);
                                if let Ok(mut first) = failed.lock() {
                                    first.get_or_insert(e);
                                }
                                w.shutdown.trigger();
                                started.clean_up().await;
                                return;
                            }
                        },
                        None => None,
                    };
                    if starting.fetch_sub(1, Ordering::AcqRel) == 1 {
                        if let Some(cb) = ready.lock().ok().and_then(|mut r| r.take()) {
                            cb(&ReadyInfo {
                                addr,
                                cores,
                                driver: w.driver.clone(),
                            });
                        }
                    }
                    serve_core(
                        listener,
                        service.clone(),
                        limits,
                        w.shutdown.clone(),
                        grace,
                        tls,
                    )
                    .await;
                    if let (Some(app), Some(started)) = (app, started) {
                        app.stop(started).await;
                    }
                }
            });
        let stopped = run_process_hooks(self.on_shutdown);
        served?;
        if let Some(e) = failure.lock().ok().and_then(|mut f| f.take()) {
            return Err(e);
        }
        stopped
    }
}

/// Runs process-wide hooks in order on a runtime of their own; the first
/// error stops them.
fn run_process_hooks(hooks: Vec<ProcessHook>) -> io::Result<()> {
    if hooks.is_empty() {
        return Ok(());
    }
    Runtime::new()?.block_on(async move {
        for hook in hooks {
            hook().await?;
        }
        Ok(())
    })
}

/// Connections a core spawns in a row before it lets the tasks already
/// queued run (see [`serve_core`]).
const ACCEPT_STREAK: usize = 32;

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
    let mut streak = 0;
    loop {
        match race(listener.accept_stream(), shutdown.wait()).await {
            Either::Left(Ok(stream)) => {
                // A burst of new connections (a multishot accept hands
                // over hundreds at once) is spawned a few at a time, each
                // few behind the tasks already queued: spawned all at once,
                // every one of them would take its worker and write buffer
                // before the first gave its back (their completions queue
                // behind the whole batch), and the heap of that peak stays
                // resident after it.
                streak += 1;
                if streak == ACCEPT_STREAK {
                    streak = 0;
                    yield_now().await;
                }
                let service = service.clone();
                // Detached: nobody awaits a connection's task, so it has
                // no join state (one allocation per connection fewer).
                match &tls {
                    None => spawn_detached(serve(stream, service, cfg.clone())),
                    Some(tls) => {
                        spawn_detached(serve_tls(stream, tls.clone(), service, cfg.clone()))
                    }
                }
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
