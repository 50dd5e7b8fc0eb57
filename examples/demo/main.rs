//! The demo server: the routes every benchmark and interop test uses.
//!
//! ```text
//! cargo run --release --example demo -- --listen 127.0.0.1:8080 --cores 2 --driver uring
//! ```
//!
//! Routes: `GET /` (this demo's page), `GET /plaintext`, `GET /json`,
//! `POST /echo` (the request body streamed back with its Content-Type),
//! `GET /ws` (WebSocket echo), `GET /chat` (a WebSocket chat room shared by
//! every core). `--help` lists the options.

use std::io;
use std::net::SocketAddr;

use clap::Parser;
use percore::Server;
use percore_cli::RuntimeArgs;

mod app;

use app::{app_with_room, ChatRoom};

/// percore's demo server.
///
/// Routes: GET / (a page about the demo), GET /plaintext, GET /json,
/// POST /echo, GET /ws (WebSocket echo) and GET /chat (a WebSocket chat
/// room), over HTTP/1.1 and HTTP/2 (h2c), on one pinned worker per core.
/// Prints `listening on http://ADDR (cores: N, driver: D)` once it accepts
/// connections.
#[derive(Parser)]
#[command(name = "demo", version)]
struct Args {
    /// Address to listen on, IP:PORT (port 0: any free port)
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,

    #[command(flatten)]
    runtime: RuntimeArgs,
}

fn main() -> io::Result<()> {
    let args: Args = percore_cli::parse();
    let room = ChatRoom::new();
    Server::new(move || app_with_room(&room))
        .bind(args.listen)?
        .cores(args.runtime.cores)
        .driver(args.runtime.driver.into())
        .on_ready(|info| {
            println!(
                "listening on http://{} (cores: {}, driver: {})",
                info.addr, info.cores, info.driver
            );
        })
        .run()
}
