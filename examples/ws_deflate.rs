//! WebSocket echo routes, one per permessage-deflate setting, for
//! `benches/ws_idle_memory.py` (memory at rest, ratio, CPU per message).
//!
//! ```text
//! cargo run --release --example ws_deflate -- --listen 127.0.0.1:8090 --cores 1 --driver uring
//! ```
//!
//! Routes: `GET /ws` (the default [`DeflateConfig`]: no context takeover,
//! as the demo's `/ws`), `GET /ws-takeover` (the default with context
//! takeover kept both ways: 12-bit windows, `memLevel` 5),
//! `GET /ws-full` ([`DeflateConfig::context_takeover`]: 15-bit windows,
//! `memLevel` 8, every message compressed), `GET /ws-1k` (the default with
//! a 1 KiB threshold, Node `ws`'s documented default: smaller messages go
//! uncompressed) and `GET /ws-plain` (no permessage-deflate).

use std::io;
use std::net::SocketAddr;

use clap::Parser;
use percore::web::{get, App, Request, Response};
use percore::ws::{DeflateConfig, Message, WebSocket};
use percore::Server;
use percore_cli::RuntimeArgs;

/// WebSocket echo with each permessage-deflate setting on its own route.
#[derive(Parser)]
#[command(name = "ws_deflate", version)]
struct Args {
    /// Address to listen on, IP:PORT (port 0: any free port)
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8090")]
    listen: SocketAddr,

    #[command(flatten)]
    runtime: RuntimeArgs,
}

fn main() -> io::Result<()> {
    let args: Args = Args::parse();
    Server::new(|| {
        App::new()
            .route("/ws", get(|r| echo(r, Some(DeflateConfig::default()))))
            .route(
                "/ws-takeover",
                get(|r| {
                    let takeover = DeflateConfig {
                        server_no_context_takeover: false,
                        client_no_context_takeover: false,
                        ..DeflateConfig::default()
                    };
                    echo(r, Some(takeover))
                }),
            )
            .route(
                "/ws-full",
                get(|r| echo(r, Some(DeflateConfig::context_takeover()))),
            )
            .route(
                "/ws-1k",
                get(|r| {
                    let threshold = DeflateConfig {
                        threshold: 1024,
                        ..DeflateConfig::default()
                    };
                    echo(r, Some(threshold))
                }),
            )
            .route("/ws-plain", get(|r| echo(r, None)))
    })
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

async fn echo(mut req: Request, deflate: Option<DeflateConfig>) -> Response {
    let upgrade = match req.websocket() {
        Ok(up) => up,
        Err(refusal) => return refusal.into_response(),
    };
    let upgrade = match deflate {
        Some(cfg) => upgrade.deflate_config(cfg),
        None => upgrade,
    };
    upgrade.on_upgrade(|mut ws: WebSocket| async move {
        while let Some(Ok(msg)) = ws.recv().await {
            if matches!(msg, Message::Text(_) | Message::Binary(_)) && ws.send(msg).await.is_err() {
                break;
            }
        }
    })
}
