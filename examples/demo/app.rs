//! The demo server's app: ordinary handlers on the ordinary router.

use http::header::{HeaderValue, CONTENT_TYPE};
use percore::http::Body;
use percore::web::{get, post, App, Html, Json, Request, Response};
use serde::Serialize;

const INDEX: &str = include_str!("index.html");

async fn index(_req: Request) -> Html<&'static str> {
    Html(INDEX)
}

async fn plaintext(_req: Request) -> &'static str {
    "Hello, World!"
}

#[derive(Serialize)]
struct Message {
    message: &'static str,
}

async fn json(_req: Request) -> Json<Message> {
    Json(Message {
        message: "Hello, World!",
    })
}

/// Streams the request body back as it arrives, with the same Content-Type.
async fn echo(mut req: Request) -> Response {
    let content_type = req
        .headers()
        .get(CONTENT_TYPE)
        .cloned()
        .unwrap_or_else(|| HeaderValue::from_static("application/octet-stream"));
    let mut resp = Response::new(Body::from(req.take_body()));
    resp.headers_mut().insert(CONTENT_TYPE, content_type);
    resp
}

/// The demo app (one instance per core).
pub fn app() -> App {
    App::new()
        .route("/", get(index))
        .route("/plaintext", get(plaintext))
        .route("/json", get(json))
        .route("/echo", post(echo))
}
