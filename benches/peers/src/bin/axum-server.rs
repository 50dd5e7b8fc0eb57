//! axum 0.8 serving the demo's routes (`/plaintext`, `/json`, `POST /echo`,
//! `/ws` echo; HTTP/1.1 and h2c), written the way axum's README does it:
//! one `axum::serve` on tokio's multi-thread runtime, TCP_NODELAY set.

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::http::{header, HeaderMap};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use axum::{Json, Router};
use bytes::Bytes;

async fn echo(headers: HeaderMap, body: Bytes) -> impl IntoResponse {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .cloned()
        .unwrap_or(header::HeaderValue::from_static("application/octet-stream"));
    ([(header::CONTENT_TYPE, ct)], body)
}

async fn ws(upgrade: WebSocketUpgrade) -> impl IntoResponse {
    upgrade.max_message_size(64 << 20).on_upgrade(ws_echo)
}

async fn ws_echo(mut socket: WebSocket) {
    while let Some(Ok(msg)) = socket.recv().await {
        let echo = matches!(msg, Message::Text(_) | Message::Binary(_));
        if matches!(msg, Message::Close(_)) || (echo && socket.send(msg).await.is_err()) {
            return;
        }
    }
}

fn main() {
    let a = percore_bench_peers::args("127.0.0.1:8080");
    let addr = a.listen;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(a.cores)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let app = Router::new()
            .route("/plaintext", get(|| async { "Hello, World!" }))
            .route(
                "/json",
                get(|| async { Json(serde_json::json!({"message": "Hello, World!"})) }),
            )
            .route("/echo", post(echo))
            .route("/ws", get(ws));
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .unwrap()
            .tap_io(|tcp| {
                let _ = tcp.set_nodelay(true);
            });
        println!("listening on {addr} (cores: {}, axum)", a.cores);
        axum::serve(listener, app).await.unwrap();
    });
}
