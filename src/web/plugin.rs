//! `Plugin`: one call that adds routes, middleware, state and hooks.

use super::App;

/// A reusable piece of an app: installing it may add routes, middleware,
/// state and lifecycle hooks, all in one `App::plugin` call.
///
/// ```
/// use percore::web::{get, App, Next, Plugin, Request, Response};
///
/// /// A health check and a header on every answer.
/// struct Health { version: &'static str }
///
/// async fn stamp(req: Request, next: Next) -> Response {
///     let version = *req.state::<&'static str>().unwrap();
///     let mut resp = next.run(req).await;
///     resp.headers_mut().insert("x-version", version.parse().unwrap());
///     resp
/// }
///
/// impl Plugin for Health {
///     fn install(self, app: App) -> App {
///         app.state(self.version)
///             .middleware(stamp)
///             .route("/health", get(|_r: Request| async { "ok" }))
///     }
/// }
///
/// let app = App::new().plugin(Health { version: "1.2" });
/// # let _ = app;
/// ```
pub trait Plugin {
    /// Adds what the plugin brings to `app`.
    fn install(self, app: App) -> App;
}
