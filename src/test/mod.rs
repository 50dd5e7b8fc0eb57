//! Testing apps: requests built without the `http` crate for
//! [`App::oneshot`](crate::web::App::oneshot), and [`TestServer`], an app
//! on a real socket, with [`TestClient`] (percore's client, a cookie jar).
//!
//! ```
//! use percore::web::{post, App, Request};
//! let app = App::new().route("/echo", post(|mut r: Request| async move { r.text().await }));
//! percore::rt::Runtime::new().unwrap().block_on(async {
//!     let resp = app.oneshot(percore::test::post("/echo").body("hi")).await;
//!     assert_eq!(resp.into_body().collect().await.unwrap(), "hi");
//! });
//! ```

mod client;
mod request;
mod server;

pub use client::TestClient;
pub use request::{get, post, request, RequestBuilder};
pub use server::TestServer;
