//! The demo server's app: ordinary handlers on the ordinary router.

use std::sync::Arc;
use std::time::Duration;

use http::header::{HeaderValue, CONTENT_TYPE};
use percore::http::Body;
use percore::rt::sync::broadcast::Hub;
use percore::web::{get, post, App, Html, IntoResponse, Json, Request, Response};
use percore::ws::{Message as WsMessage, WebSocket};
use serde::Serialize;

const INDEX: &str = include_str!("index.html");

/// Largest chat line accepted, in bytes.
const MAX_CHAT_LINE: usize = 4 * 1024;

/// The chat room every core's connections share.
pub type ChatRoom = Hub<Arc<str>>;

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

/// WebSocket echo of every text and binary message (deflate if offered).
async fn ws_echo(mut req: Request) -> Response {
    match req.websocket() {
        Ok(upgrade) => upgrade
            .deflate(true)
            .on_upgrade(|mut ws: WebSocket| async move {
                while let Some(Ok(msg)) = ws.recv().await {
                    if matches!(msg, WsMessage::Text(_) | WsMessage::Binary(_))
                        && ws.send(msg).await.is_err()
                    {
                        break;
                    }
                }
            }),
        Err(refusal) => refusal.into_response(),
    }
}

/// A chat room across all cores: every text line a member sends reaches
/// every member, whichever core their connection landed on.
async fn chat(mut req: Request) -> Response {
    let Some(room) = req.state::<ChatRoom>().cloned() else {
        return (http::StatusCode::INTERNAL_SERVER_ERROR, "no chat room").into_response();
    };
    match req.websocket() {
        Ok(upgrade) => upgrade
            .deflate(true)
            .max_message_size(MAX_CHAT_LINE, MAX_CHAT_LINE)
            .heartbeat(Duration::from_secs(30))
            .on_upgrade(move |ws| chat_member(ws, room)),
        Err(refusal) => refusal.into_response(),
    }
}

async fn chat_member(ws: WebSocket, room: ChatRoom) {
    let (mut reader, writer) = ws.split();
    let mut lines = room.subscribe();
    let forward = percore::rt::spawn_local(async move {
        while let Some(line) = lines.recv().await {
            // A member that lags behind just misses some lines.
            let Ok(line) = line else { continue };
            if writer.send(WsMessage::text(&*line)).await.is_err() {
                break;
            }
        }
    });
    while let Some(Ok(msg)) = reader.recv().await {
        if let WsMessage::Text(text) = msg {
            room.send(Arc::from(text.as_str()));
        }
    }
    forward.abort();
}

/// The demo app (one instance per core), joined to `room`.
pub fn app_with_room(room: &ChatRoom) -> App {
    App::new()
        .state(room.clone())
        .route("/", get(index))
        .route("/plaintext", get(plaintext))
        .route("/json", get(json))
        .route("/echo", post(echo))
        .route("/ws", get(ws_echo))
        .route("/chat", get(chat))
}
