//! The demo server's app: ordinary handlers on the ordinary router.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use percore::http::Body;
use percore::rt::sync::broadcast::Hub;
use percore::web::header::CONTENT_TYPE;
use percore::web::HeaderValue;
use percore::web::{
    get, post, App, Html, HttpError, IntoResponse, Json, Key, Metrics, Request, Response, Sessions,
    StaticDir, StatusCode,
};
use percore::ws::{Message as WsMessage, WebSocket};
use serde::{Deserialize, Serialize};

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
        return (StatusCode::INTERNAL_SERVER_ERROR, "no chat room").into_response();
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

/// Longest user name `/login` accepts, in bytes.
const MAX_USER: usize = 64;

#[derive(Deserialize)]
struct LoginForm {
    user: String,
}

/// `POST /login` with `user=NAME` (urlencoded): a new session (a new id,
/// against fixation) holding the name.
async fn login(mut req: Request) -> Result<String, HttpError> {
    let form: LoginForm = req.form().await?;
    let user = form.user.trim();
    if user.is_empty() || user.len() > MAX_USER || user.chars().any(char::is_control) {
        return Err(HttpError::bad_request(format!(
            "user must be 1 to {MAX_USER} bytes of printable text"
        )));
    }
    let session = req.session()?;
    session.renew();
    session.insert("user", user)?;
    Ok(format!("logged in as {user}\n"))
}

/// `GET /whoami`: the session's user name, or 401 without a session.
async fn whoami(req: Request) -> Result<String, HttpError> {
    match req.session()?.get::<String>("user") {
        Some(user) => Ok(user),
        None => Err(HttpError::unauthorized("not logged in")),
    }
}

/// `POST /logout`: ends the session.
async fn logout(req: Request) -> Result<&'static str, HttpError> {
    req.session()?.clear();
    Ok("logged out\n")
}

/// What every core's app is built from: made once per process, shared.
#[derive(Clone)]
pub struct DemoOptions {
    /// Seals the session cookies: the same key on every core (and on every
    /// process that should accept the same logins).
    pub key: Key,
    /// Served at `/static/`.
    pub static_dir: PathBuf,
    /// Every core's counters, served at `/metrics` when set (`--metrics`).
    /// Off by default (the benchmark routes stay as they were): counting
    /// costs about 180 user-space instructions per request (BENCHMARKS.md,
    /// issue 17), down from about 1 400 as a middleware.
    pub metrics: Option<Metrics>,
}

impl DemoOptions {
    /// Options with `key` and `static_dir`.
    pub fn new(key: Key, static_dir: PathBuf) -> DemoOptions {
        DemoOptions {
            key,
            static_dir,
            metrics: None,
        }
    }

    /// The demo's own assets (`examples/demo/static`).
    pub fn default_static_dir() -> PathBuf {
        PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/demo/static"))
    }
}

/// The demo app (one instance per core), joined to `room`, with a key made
/// once for this process and the demo's own assets (the tests' demo app).
#[allow(dead_code)] // used by tests/common, which includes this file
pub fn app_with_room(room: &ChatRoom) -> App {
    static DEFAULTS: OnceLock<DemoOptions> = OnceLock::new();
    let options = DEFAULTS
        .get_or_init(|| DemoOptions::new(Key::generate(), DemoOptions::default_static_dir()));
    app(room, options)
}

/// The demo app (one instance per core), joined to `room`, built from `options`.
pub fn app(room: &ChatRoom, options: &DemoOptions) -> App {
    // Only the account routes carry the session middleware: the benchmark
    // routes pay nothing for it.
    let sessions = || Sessions::cookie(options.key.clone());
    let app = match &options.metrics {
        Some(metrics) => App::new().plugin(metrics.clone()),
        None => App::new(),
    };
    app.state(room.clone())
        .route("/", get(index))
        .route("/plaintext", get(plaintext))
        .route("/json", get(json))
        .route("/echo", post(echo))
        .route("/ws", get(ws_echo))
        .route("/chat", get(chat))
        .route("/login", post(login).middleware(sessions()))
        .route("/whoami", get(whoami).middleware(sessions()))
        .route("/logout", post(logout).middleware(sessions()))
        .static_dir(
            "/static",
            StaticDir::new(&options.static_dir).precompressed(true),
        )
}
