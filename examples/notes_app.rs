//! A realistic percore app to copy from: a JSON API for notes with login
//! sessions, a WebSocket, and file uploads streamed to disk.
//!
//! ```text
//! cargo run --release --example notes_app -- --listen 127.0.0.1:8080 --cores 2 --uploads /tmp/uploads
//! curl -c jar -H 'content-type: application/json' -d '{"user":"ada"}' http://127.0.0.1:8080/api/login
//! curl -b jar -H 'content-type: application/json' -d '{"title":"milk","body":"2 l"}' http://127.0.0.1:8080/api/notes
//! curl -b jar http://127.0.0.1:8080/api/notes
//! curl -b jar -F file=@photo.jpg http://127.0.0.1:8080/api/files
//! ```
//!
//! - `POST /api/login` (`{"user": NAME}`) starts a session (a new id, in a
//!   sealed cookie); `GET /api/me` tells who is logged in; `POST /api/logout`.
//! - `/api/notes` (GET list, POST create) and `/api/notes/{id}` (GET, PUT,
//!   DELETE): the logged-in user's notes, as JSON.
//! - `POST /api/files`: a `multipart/form-data` upload; each file part is
//!   written chunk by chunk to `--uploads/USER/NAME`.
//! - `GET /api/ws`: a WebSocket; each text message comes back as
//!   `{"user": NAME, "text": TEXT}`.
//!
//! Shared nothing: each user's notes live on one core (chosen by a hash of
//! the name), in that core's plain `HashMap`. A request served by another
//! core asks the owner over a cross-core channel and awaits its answer, so
//! no lock is ever taken and every connection sees the same notes.

use std::cell::RefCell;
use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use clap::Parser;
use percore::rt::spawn_local;
use percore::rt::sync::{mpsc, oneshot};
use percore::web::{
    get, post, App, AppStateRef, HttpError, IntoResponse, Json, Key, Next, Request, Response,
    Sessions, StatusCode,
};
use percore::ws::Message;
use percore::Server;
use percore_cli::RuntimeArgs;
use serde::{Deserialize, Serialize};

/// A notes API with logins, a WebSocket and uploads.
#[derive(Parser)]
#[command(name = "notes_app")]
struct Args {
    /// Address to listen on, IP:PORT (port 0: any free port)
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,

    #[command(flatten)]
    runtime: RuntimeArgs,

    /// Directory for uploaded files (one subdirectory per user)
    #[arg(long, value_name = "DIR", default_value = "uploads")]
    uploads: PathBuf,

    /// Secret (at least 32 bytes) sealing the session cookies [default: a
    /// random key: logins end with the process]
    #[arg(long, value_name = "KEY")]
    secret: Option<String>,
}

// ---------------------------------------------------------------- the store

/// A note as stored and as sent.
#[derive(Clone, Serialize)]
struct Note {
    id: u64,
    title: String,
    body: String,
}

/// A note as a client writes it.
#[derive(Deserialize)]
struct NoteIn {
    title: String,
    #[serde(default)]
    body: String,
}

/// What a core asks the core that owns a user's notes.
enum Op {
    List,
    Get(u64),
    Create(NoteIn),
    Update(u64, NoteIn),
    Delete(u64),
}

/// The owner's answer: a status and a JSON body.
type Reply = (StatusCode, serde_json::Value);

struct Job {
    user: String,
    op: Op,
    reply: oneshot::Sender<Reply>,
}

/// One core's notes: by user, then by id.
#[derive(Default)]
struct Shard {
    notes: HashMap<String, BTreeMap<u64, Note>>,
    next_id: u64,
}

impl Shard {
    fn apply(&mut self, user: String, op: Op) -> Reply {
        let notes = self.notes.entry(user).or_default();
        let missing = || {
            (
                StatusCode::NOT_FOUND,
                serde_json::json!({"error": "no such note"}),
            )
        };
        let json = |note: &Note| serde_json::to_value(note).expect("a note is JSON");
        match op {
            Op::List => {
                let all: Vec<&Note> = notes.values().collect();
                (
                    StatusCode::OK,
                    serde_json::to_value(all).expect("notes are JSON"),
                )
            }
            Op::Get(id) => notes
                .get(&id)
                .map_or_else(missing, |n| (StatusCode::OK, json(n))),
            Op::Create(new) => {
                self.next_id += 1;
                let note = Note {
                    id: self.next_id,
                    title: new.title,
                    body: new.body,
                };
                let answer = (StatusCode::CREATED, json(&note));
                notes.insert(note.id, note);
                answer
            }
            Op::Update(id, new) => match notes.get_mut(&id) {
                Some(note) => {
                    note.title = new.title;
                    note.body = new.body;
                    (StatusCode::OK, json(note))
                }
                None => missing(),
            },
            Op::Delete(id) => match notes.remove(&id) {
                Some(_) => (StatusCode::OK, serde_json::json!({"deleted": id})),
                None => missing(),
            },
        }
    }
}

/// Every core's mailbox; shared by all cores (only the senders).
struct Shards {
    mailboxes: Vec<mpsc::Sender<Job>>,
    /// Each core takes one receiver when its app is built.
    unclaimed: Mutex<Vec<mpsc::Receiver<Job>>>,
}

impl Shards {
    fn new(cores: usize) -> Shards {
        let (mailboxes, receivers) = (0..cores).map(|_| mpsc::unbounded()).unzip();
        Shards {
            mailboxes,
            unclaimed: Mutex::new(receivers),
        }
    }

    /// Runs `op` on the core that owns `user`'s notes.
    async fn ask(&self, user: &str, op: Op) -> Result<Reply, HttpError> {
        let mut hash = DefaultHasher::new();
        user.hash(&mut hash);
        let owner = &self.mailboxes[(hash.finish() % self.mailboxes.len() as u64) as usize];
        let (reply, answer) = oneshot::channel();
        let job = Job {
            user: user.to_string(),
            op,
            reply,
        };
        let gone = || HttpError::service_unavailable("the notes store is shutting down");
        owner.send(job).await.map_err(|_| gone())?;
        answer.await.map_err(|_| gone())
    }
}

/// Serves this core's mailbox until the server stops.
async fn serve_shard(mut mailbox: mpsc::Receiver<Job>) {
    let mut shard = Shard::default();
    while let Some(job) = mailbox.recv().await {
        let _ = job.reply.send(shard.apply(job.user, job.op));
    }
}

// ----------------------------------------------------------------- sessions

/// The logged-in user, put in the request by [`require_login`].
#[derive(Clone)]
struct User(String);

#[derive(Deserialize)]
struct Login {
    user: String,
}

/// A user name is also a directory name: 1 to 32 of `a-z 0-9 _ -`.
fn valid_user(name: &str) -> bool {
    (1..=32).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

async fn login(mut req: Request) -> Result<Json<serde_json::Value>, HttpError> {
    let Login { user } = req.json().await?;
    if !valid_user(&user) {
        return Err(HttpError::bad_request("user: 1 to 32 of a-z, 0-9, _ and -"));
    }
    let session = req.session()?;
    session.renew(); // a new session id at login, against fixation
    session.insert("user", &user)?;
    Ok(Json(serde_json::json!({ "user": user })))
}

async fn logout(req: Request) -> Result<StatusCode, HttpError> {
    req.session()?.clear();
    Ok(StatusCode::NO_CONTENT)
}

async fn me(req: Request) -> Json<serde_json::Value> {
    let user = req.extensions().get::<User>().unwrap().0.clone();
    Json(serde_json::json!({ "user": user }))
}

/// The API's middleware: a 401 without a login, the [`User`] otherwise.
async fn require_login(mut req: Request, next: Next) -> Response {
    let user = match req.session() {
        Ok(session) => session.get::<String>("user"),
        Err(e) => return e.into_response(),
    };
    match user {
        Some(user) => {
            req.extensions_mut().insert(User(user));
            next.run(req).await
        }
        None => HttpError::unauthorized("log in first: POST /api/login").into_response(),
    }
}

// -------------------------------------------------------------------- notes

fn user(req: &Request) -> String {
    req.extensions()
        .get::<User>()
        .expect("require_login ran")
        .0
        .clone()
}

fn note_id(req: &Request) -> Result<u64, HttpError> {
    req.param("id")
        .and_then(|id| id.parse().ok())
        .ok_or_else(|| HttpError::bad_request("a note id is a number"))
}

async fn run(req: &Request, op: Op) -> Response {
    let shards = req.state::<Arc<Shards>>().expect("the app has its shards");
    match shards.ask(&user(req), op).await {
        Ok((status, body)) => (status, Json(body)).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn list_notes(req: Request) -> Response {
    run(&req, Op::List).await
}

async fn create_note(mut req: Request) -> Result<Response, HttpError> {
    let note: NoteIn = req.json().await?;
    Ok(run(&req, Op::Create(note)).await)
}

async fn get_note(req: Request) -> Result<Response, HttpError> {
    let id = note_id(&req)?;
    Ok(run(&req, Op::Get(id)).await)
}

async fn update_note(mut req: Request) -> Result<Response, HttpError> {
    let id = note_id(&req)?;
    let note: NoteIn = req.json().await?;
    Ok(run(&req, Op::Update(id, note)).await)
}

async fn delete_note(req: Request) -> Result<Response, HttpError> {
    let id = note_id(&req)?;
    Ok(run(&req, Op::Delete(id)).await)
}

// ------------------------------------------------------------ files and ws

#[derive(Serialize)]
struct Saved {
    name: String,
    bytes: u64,
}

/// Writes each file part of a multipart body to `uploads/USER/NAME`, chunk
/// by chunk (never whole in memory); other fields are ignored.
async fn upload(mut req: Request) -> Result<(StatusCode, Json<Vec<Saved>>), HttpError> {
    let dir = req
        .state::<UploadDir>()
        .expect("configured")
        .0
        .join(user(&req));
    std::fs::create_dir_all(&dir)
        .map_err(|e| HttpError::internal(format!("upload directory: {e}")))?;
    let mut form = req.multipart()?;
    let mut saved = Vec::new();
    while let Some(mut part) = form.next_part().await? {
        // The client's file name, reduced to one harmless path component.
        if let Some(name) = part.safe_file_name() {
            let bytes = part.save_to(dir.join(&name)).await?;
            saved.push(Saved { name, bytes });
        }
    }
    if saved.is_empty() {
        return Err(HttpError::bad_request("no file part in the upload"));
    }
    Ok((StatusCode::CREATED, Json(saved)))
}

/// Each text message comes back as `{"user": ..., "text": ...}`.
async fn ws(mut req: Request) -> Response {
    let name = user(&req);
    match req.websocket() {
        Ok(upgrade) => upgrade.on_upgrade(move |mut ws| async move {
            while let Some(Ok(msg)) = ws.recv().await {
                if let Message::Text(text) = msg {
                    let line = serde_json::json!({ "user": name, "text": text.as_str() });
                    if ws.send(Message::text(line.to_string())).await.is_err() {
                        break;
                    }
                }
            }
        }),
        Err(refusal) => refusal.into_response(),
    }
}

async fn index(_req: Request) -> &'static str {
    "notes_app: POST /api/login {\"user\": NAME}, then /api/notes, /api/files, /api/ws\n"
}

// ---------------------------------------------------------------- the app

struct UploadDir(PathBuf);

/// One core's app. `shards` is shared by every core.
fn app(shards: &Arc<Shards>, key: &Key, uploads: &Path) -> App {
    let mailbox = shards.unclaimed.lock().unwrap().pop();
    let api = App::new()
        .middleware(require_login)
        .route("/me", get(me))
        .route("/notes", get(list_notes).post(create_note))
        .route(
            "/notes/{id}",
            get(get_note).put(update_note).delete(delete_note),
        )
        .route("/files", post(upload))
        .route("/ws", get(ws));
    App::new()
        .plugin(Sessions::cookie(key.clone()))
        .state(shards.clone())
        .state(UploadDir(uploads.to_path_buf()))
        .state(RefCell::new(mailbox))
        .on_startup(|state: AppStateRef| async move {
            // This core serves the notes it owns.
            let mailbox = state.get::<RefCell<Option<mpsc::Receiver<Job>>>>();
            if let Some(mailbox) = mailbox.and_then(|m| m.borrow_mut().take()) {
                spawn_local(serve_shard(mailbox));
            }
            Ok(())
        })
        .route("/", get(index))
        .route("/api/login", post(login))
        .route("/api/logout", post(logout))
        .nest("/api", api)
}

fn main() -> io::Result<()> {
    let args: Args = percore_cli::parse();
    let key = match &args.secret {
        Some(secret) if secret.len() >= 32 => Key::derive_from(secret.as_bytes()),
        Some(_) => return Err(io::Error::other("--secret needs at least 32 bytes")),
        None => Key::generate(),
    };
    std::fs::create_dir_all(&args.uploads)?;
    let shards = Arc::new(Shards::new(args.runtime.cores));
    let uploads = args.uploads.clone();
    Server::new(move || app(&shards, &key, &uploads))
        .bind(args.listen)?
        .cores(args.runtime.cores)
        .driver(args.runtime.driver.into())
        .on_ready(|info| {
            println!(
                "listening on http://{} (cores: {}, driver: {})",
                info.addr, info.cores, info.driver
            )
        })
        .run()
}
