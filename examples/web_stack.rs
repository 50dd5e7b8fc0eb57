//! The web layer's per-request cost: `/plaintext` bare, or behind three
//! small middlewares and the cookie-store session (the issue-16 budget:
//! at most 10 % more CPU per request).
//!
//! ```text
//! cargo run --release --example web_stack -- --listen 127.0.0.1:8080 --stack full --cores 1
//! curl -c jar http://127.0.0.1:8080/login   # a valid session cookie
//! curl -b jar http://127.0.0.1:8080/plaintext
//! ```
//!
//! `benches/web_stack.sh` measures both stacks (callgrind and CPU time).

use std::cell::Cell;
use std::io;
use std::net::SocketAddr;
use std::time::Instant;

use clap::{Parser, ValueEnum};
use percore::web::header::HeaderName;
use percore::web::{get, App, HeaderValue, HttpError, Key, Next, Request, Response, Sessions};
use percore::Server;
use percore_cli::RuntimeArgs;

/// Serves `/plaintext` bare or behind a middleware stack; `/login` starts
/// a session (sealed with a fixed bench key, so cookies survive restarts).
#[derive(Parser)]
#[command(name = "web_stack")]
struct Args {
    /// Address to listen on, IP:PORT
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,

    /// What wraps /plaintext
    #[arg(long, value_enum, default_value_t = Stack::Bare)]
    stack: Stack,

    #[command(flatten)]
    runtime: RuntimeArgs,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Stack {
    /// The router and the handler only
    Bare,
    /// A request id, a header, a timing middleware and cookie sessions
    Full,
}

async fn plaintext(_req: Request) -> &'static str {
    "Hello, World!"
}

async fn login(req: Request) -> Result<&'static str, HttpError> {
    let session = req.session()?;
    session.renew();
    session.insert("user", "bench")?;
    Ok("logged in")
}

const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
const X_SERVED_BY: HeaderName = HeaderName::from_static("x-served-by");
const SERVER_TIMING: HeaderName = HeaderName::from_static("server-timing");

thread_local! {
    static NEXT_ID: Cell<u64> = const { Cell::new(0) };
}

/// A per-core counter as the request's id, sent back in `x-request-id`.
async fn request_id(req: Request, next: Next) -> Response {
    let id = NEXT_ID.with(|n| {
        n.set(n.get() + 1);
        n.get()
    });
    let mut resp = next.run(req).await;
    resp.headers_mut()
        .insert(X_REQUEST_ID, HeaderValue::from(id));
    resp
}

/// A fixed header on every answer.
async fn served_by(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    resp.headers_mut()
        .insert(X_SERVED_BY, HeaderValue::from_static("percore"));
    resp
}

/// How long the rest of the chain took, in `server-timing`.
async fn timing(req: Request, next: Next) -> Response {
    let start = Instant::now();
    let mut resp = next.run(req).await;
    let micros = start.elapsed().as_micros() as u64;
    resp.headers_mut()
        .insert(SERVER_TIMING, HeaderValue::from(micros));
    resp
}

fn app(stack: Stack, key: &Key) -> App {
    let app = App::new();
    let app = match stack {
        Stack::Bare => app,
        Stack::Full => app
            .middleware(request_id)
            .middleware(served_by)
            .middleware(timing)
            .plugin(Sessions::cookie(key.clone())),
    };
    app.route("/plaintext", get(plaintext))
        .route("/login", get(login))
}

fn main() -> io::Result<()> {
    let args: Args = percore_cli::parse();
    let key = Key::derive_from(b"percore web_stack bench key, not a secret!");
    let stack = args.stack;
    Server::new(move || app(stack, &key))
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
