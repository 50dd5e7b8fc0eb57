//! The demo server's app: ordinary handlers on the ordinary router.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use percore::http::Body;
use percore::redis::{Client as RedisClient, Config as RedisConfig, Subscriber};
use percore::rt::sync::broadcast::Hub;
use percore::web::header::CONTENT_TYPE;
use percore::web::HeaderValue;
use percore::web::{
    get, post, App, Html, HttpError, IntoResponse, Json, Key, Metrics, Request, Response, Sessions,
    StaticDir, StatusCode, Typed,
};
use percore::ws::{DeflateConfig, Message as WsMessage, WebSocket};
use serde::{Deserialize, Serialize};

const INDEX: &str = include_str!("index.html");

/// Largest chat line accepted, in bytes.
const MAX_CHAT_LINE: usize = 4 * 1024;

/// The chat room every core's connections share.
pub type ChatRoom = Hub<Arc<str>>;

async fn index(_req: Request) -> Html<&'static str> {
    Html(INDEX)
}

/// `text/plain` without a charset: the answer TechEmpower's plaintext test
/// names, and the one the benchmark peers (hyper, may-minihttp) send.
async fn plaintext(_req: Request) -> Typed<&'static str> {
    Typed(HeaderValue::from_static("text/plain"), "Hello, World!")
}

/// Largest `/bytes/{kib}` body, in KiB.
const MAX_BYTES_KIB: usize = 4096;

/// `kib` KiB of in-memory bytes (at most 4 MiB; one shared buffer per
/// size and core, not copied per response): the large-body benchmark
/// (zero-copy send), without a file behind it.
async fn bytes(req: Request) -> Response {
    thread_local! {
        static BODIES: std::cell::RefCell<std::collections::HashMap<usize, bytes::Bytes>> =
            Default::default();
    }
    match req.param("kib").and_then(|k| k.parse::<usize>().ok()) {
        Some(kib) if kib <= MAX_BYTES_KIB => BODIES
            .with(|b| {
                b.borrow_mut()
                    .entry(kib)
                    .or_insert_with(|| (0..kib * 1024).map(|i| (i % 251) as u8).collect())
                    .clone()
            })
            .into_response(),
        _ => (StatusCode::NOT_FOUND, "no such size").into_response(),
    }
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

/// WebSocket echo of every text and binary message (deflate if offered,
/// with the default: no context takeover, so an idle socket keeps no
/// compression state).
async fn ws_echo(req: Request) -> Response {
    ws_echo_with(req, DeflateConfig::default())
}

/// The same echo with permessage-deflate's context takeover kept both ways
/// ([`DeflateConfig::context_takeover`]: the best ratio on a stream of
/// similar messages, a compressor and a decompressor per connection).
async fn ws_echo_takeover(req: Request) -> Response {
    ws_echo_with(req, DeflateConfig::context_takeover())
}

fn ws_echo_with(mut req: Request, deflate: DeflateConfig) -> Response {
    match req.websocket() {
        Ok(upgrade) => upgrade
            .deflate_config(deflate)
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
    let bridge = req.state::<ChatBridge>().cloned();
    match req.websocket() {
        Ok(upgrade) => upgrade
            .deflate(true)
            .max_message_size(MAX_CHAT_LINE, MAX_CHAT_LINE)
            .heartbeat(Duration::from_secs(30))
            .on_upgrade(move |ws| chat_member(ws, room, bridge)),
        Err(refusal) => refusal.into_response(),
    }
}

async fn chat_member(ws: WebSocket, room: ChatRoom, bridge: Option<ChatBridge>) {
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
            if let Some(bridge) = &bridge {
                bridge.publish(text.as_str()).await;
            }
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
    /// Sessions in this Redis, and the chat bridged through it (`--redis`).
    pub redis: Option<RedisOptions>,
}

impl DemoOptions {
    /// Options with `key` and `static_dir`.
    pub fn new(key: Key, static_dir: PathBuf) -> DemoOptions {
        DemoOptions {
            key,
            static_dir,
            metrics: None,
            redis: None,
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
    // routes pay nothing for it. With --redis, this core's one Redis pool
    // keeps the sessions and publishes the chat lines.
    let redis = options
        .redis
        .as_ref()
        .map(|r| (r, RedisClient::new(r.config.clone())));
    let sessions = || match &redis {
        Some((_, client)) => Sessions::redis(client.clone(), options.key.clone()),
        None => Sessions::cookie(options.key.clone()),
    };
    let mut app = match &options.metrics {
        Some(metrics) => App::new().plugin(metrics.clone()),
        None => App::new(),
    };
    if let Some((r, client)) = &redis {
        app = app.state(ChatBridge {
            redis: client.clone(),
            origin: r.origin.clone(),
        });
    }
    app.state(room.clone())
        .route("/", get(index))
        .route("/plaintext", get(plaintext))
        .route("/json", get(json))
        .route("/bytes/{kib}", get(bytes))
        .route("/echo", post(echo))
        .route("/ws", get(ws_echo))
        .route("/ws-takeover", get(ws_echo_takeover))
        .route("/chat", get(chat))
        .route("/login", post(login).middleware(sessions()))
        .route("/whoami", get(whoami).middleware(sessions()))
        .route("/logout", post(logout).middleware(sessions()))
        .static_dir(
            "/static",
            StaticDir::new(&options.static_dir).precompressed(true),
        )
}

// --- The chat across processes (`--redis`) ---------------------------------
//
// A line a member sends goes to this process's room (every core) and is
// PUBLISHed as "ORIGIN LINE", ORIGIN naming this process. One subscriber
// per process (its own thread and runtime) puts the lines of the *other*
// processes into the room; its own come back from Redis too and are
// dropped, so no member sees a line twice.

/// The Redis channel of the demo's chat.
pub const CHAT_CHANNEL: &str = "percore:demo:chat";

/// Where sessions and the chat go with `--redis`, shared by every core.
#[derive(Clone, Debug)]
pub struct RedisOptions {
    /// The server.
    pub config: RedisConfig,
    /// This process's name in published lines (random).
    pub origin: Arc<str>,
}

impl RedisOptions {
    /// Options for `config`, with a fresh random origin.
    pub fn new(config: RedisConfig) -> RedisOptions {
        let mut raw = [0u8; 8];
        getrandom::getrandom(&mut raw).expect("the OS has random bytes");
        let origin: String = raw.iter().map(|b| format!("{b:02x}")).collect();
        RedisOptions {
            config,
            origin: origin.into(),
        }
    }
}

/// A core's way out to the other processes (app state with `--redis`).
#[derive(Clone)]
pub struct ChatBridge {
    redis: RedisClient,
    origin: Arc<str>,
}

impl ChatBridge {
    /// Publishes `line` for the other processes; a Redis that is down
    /// costs them the line, not this process's members.
    async fn publish(&self, line: &str) {
        let message = format!("{} {line}", self.origin);
        if let Err(e) = self.redis.publish(CHAT_CHANNEL, message).await {
            tracing::warn!("chat bridge: publish failed: {e}");
        }
    }
}

/// Starts this process's subscriber (a thread with its own runtime on
/// `driver`): lines other processes publish reach `room`. It reconnects
/// (every 500 ms) while Redis is away.
pub fn bridge_chat(
    room: ChatRoom,
    redis: RedisOptions,
    driver: percore::DriverChoice,
) -> std::io::Result<()> {
    let (started, result) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("chat-bridge".into())
        .spawn(move || {
            let rt = match percore::rt::Runtime::builder().driver(driver).build() {
                Ok(rt) => rt,
                Err(e) => return drop(started.send(Err(e))),
            };
            let _ = started.send(Ok(()));
            rt.block_on(async move {
                loop {
                    if let Err(e) = relay(&room, &redis).await {
                        tracing::warn!("chat bridge: {e}; reconnecting");
                    }
                    percore::rt::time::sleep(Duration::from_millis(500)).await;
                }
            })
        })?;
    result
        .recv()
        .unwrap_or_else(|_| Err(std::io::Error::other("the chat bridge thread died")))
}

/// Puts the lines of other processes into `room` until the connection fails.
async fn relay(room: &ChatRoom, redis: &RedisOptions) -> std::io::Result<()> {
    let mut sub = Subscriber::connect(&redis.config).await?;
    sub.subscribe(&[CHAT_CHANNEL]).await?;
    loop {
        let msg = sub.next_message().await?;
        let Ok(text) = std::str::from_utf8(&msg.payload) else {
            continue;
        };
        match text.split_once(' ') {
            Some((origin, line)) if origin != &*redis.origin && line.len() <= MAX_CHAT_LINE => {
                room.send(Arc::from(line));
            }
            _ => {}
        }
    }
}
