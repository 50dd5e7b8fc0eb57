//! An app's lifecycle hooks, run on its core: startup before the core
//! accepts, shutdown once it has stopped and its requests have finished,
//! cleanup last (in reverse order of setup).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::rc::Rc;

use super::app::AppState;

type HookFuture = Pin<Box<dyn Future<Output = io::Result<()>>>>;
type Cleanup = Box<dyn FnOnce() -> Pin<Box<dyn Future<Output = ()>>>>;
type SetupFuture = Pin<Box<dyn Future<Output = io::Result<Cleanup>>>>;

/// The app's state, as lifecycle hooks see it (owned: hooks are `async`).
///
/// ```
/// use std::cell::RefCell;
/// use percore::web::{App, AppStateRef};
/// async fn connect(state: AppStateRef) -> std::io::Result<()> {
///     *state.get::<RefCell<Option<String>>>().unwrap().borrow_mut() = Some("connected".into());
///     Ok(())
/// }
/// let app = App::new().state(RefCell::new(None::<String>)).on_startup(connect);
/// # let _ = app;
/// ```
#[derive(Clone)]
pub struct AppStateRef(pub(crate) Rc<AppState>);

impl std::fmt::Debug for AppStateRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppStateRef").finish_non_exhaustive()
    }
}

impl AppStateRef {
    /// The state value of type `T`, as `req.state::<T>()` gives it.
    pub fn get<T: 'static>(&self) -> Option<&T> {
        self.0.get::<T>()
    }
}

/// The hooks of one app (nested apps' included), in the order added.
#[derive(Default)]
pub(crate) struct Hooks {
    startup: Vec<Box<dyn Fn(AppStateRef) -> HookFuture>>,
    setup: Vec<Box<dyn Fn(AppStateRef) -> SetupFuture>>,
    shutdown: Vec<Box<dyn Fn(AppStateRef) -> HookFuture>>,
}

impl Hooks {
    pub(crate) fn on_startup<F, Fut>(&mut self, f: F)
    where
        F: Fn(AppStateRef) -> Fut + 'static,
        Fut: Future<Output = io::Result<()>> + 'static,
    {
        self.startup.push(Box::new(move |s| Box::pin(f(s))));
    }

    pub(crate) fn on_shutdown<F, Fut>(&mut self, f: F)
    where
        F: Fn(AppStateRef) -> Fut + 'static,
        Fut: Future<Output = io::Result<()>> + 'static,
    {
        self.shutdown.push(Box::new(move |s| Box::pin(f(s))));
    }

    pub(crate) fn cleanup_ctx<F, Fut, C, CFut>(&mut self, f: F)
    where
        F: Fn(AppStateRef) -> Fut + 'static,
        Fut: Future<Output = io::Result<C>> + 'static,
        C: FnOnce() -> CFut + 'static,
        CFut: Future<Output = ()> + 'static,
    {
        self.setup.push(Box::new(move |s| {
            let fut = f(s);
            Box::pin(async move {
                let cleanup = fut.await?;
                Ok(
                    Box::new(move || Box::pin(cleanup()) as Pin<Box<dyn Future<Output = ()>>>)
                        as Cleanup,
                )
            })
        }));
    }

    /// Takes a nested app's hooks after this app's; they keep seeing
    /// `state`, the nested app's.
    pub(crate) fn append(&mut self, other: Hooks, state: Rc<AppState>) {
        for hook in other.startup {
            let state = state.clone();
            self.startup
                .push(Box::new(move |_| hook(AppStateRef(state.clone()))));
        }
        for setup in other.setup {
            let state = state.clone();
            self.setup
                .push(Box::new(move |_| setup(AppStateRef(state.clone()))));
        }
        for hook in other.shutdown {
            let state = state.clone();
            self.shutdown
                .push(Box::new(move |_| hook(AppStateRef(state.clone()))));
        }
    }

    /// Runs the startup hooks, then the setup halves of the cleanup
    /// contexts; the first error stops it (the cleanups of contexts
    /// already set up still run).
    pub(crate) async fn start(
        &self,
        state: &Rc<AppState>,
    ) -> Result<Started, (io::Error, Started)> {
        let mut started = Started {
            cleanups: Vec::new(),
        };
        for hook in &self.startup {
            if let Err(e) = hook(AppStateRef(state.clone())).await {
                return Err((e, started));
            }
        }
        for setup in &self.setup {
            match setup(AppStateRef(state.clone())).await {
                Ok(cleanup) => started.cleanups.push(cleanup),
                Err(e) => return Err((e, started)),
            }
        }
        Ok(started)
    }

    /// Runs every shutdown hook (an error is logged, the rest still run).
    pub(crate) async fn shut_down(&self, state: &Rc<AppState>) {
        for hook in &self.shutdown {
            if let Err(e) = hook(AppStateRef(state.clone())).await {
                tracing::error!("shutdown hook failed: {e}");
            }
        }
    }
}

/// The cleanups owed by the contexts that were set up.
pub(crate) struct Started {
    cleanups: Vec<Cleanup>,
}

impl Started {
    /// Runs the cleanups, last set up first.
    pub(crate) async fn clean_up(self) {
        for cleanup in self.cleanups.into_iter().rev() {
            cleanup().await;
        }
    }
}
