//! The demo server: the routes every benchmark and interop test uses.
//!
//! ```text
//! cargo run --release --example demo -- --listen 127.0.0.1:8080 --cores 2 --driver uring
//! ```
//!
//! Routes: `GET /` (this demo's page), `GET /plaintext`, `GET /json`,
//! `POST /echo` (the request body streamed back with its Content-Type),
//! `GET /ws` (WebSocket echo), `GET /chat` (a WebSocket chat room shared by
//! every core).

use std::io;

use percore::cli::ServerArgs;
use percore::Server;

mod app;

use app::{app_with_room, ChatRoom};

fn main() -> io::Result<()> {
    let args = ServerArgs::from_env("127.0.0.1:8080");
    let room = ChatRoom::new();
    Server::new(move || app_with_room(&room))
        .bind(args.listen)?
        .cores(args.cores)
        .driver(args.driver)
        .on_ready(|info| {
            println!(
                "listening on http://{} (cores: {}, driver: {})",
                info.addr, info.cores, info.driver
            );
        })
        .run()
}
