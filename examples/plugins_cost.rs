//! `GET /plaintext` with the production plugins switched on one at a time,
//! to measure what each costs a request (BENCHMARKS.md, issue 17):
//!
//! ```text
//! CALLGRIND_PORT=18733 bash benches/callgrind.sh h1 20000 target/release/examples/plugins_cost --cores 1 --driver epoll
//! CALLGRIND_PORT=18733 bash benches/callgrind.sh h1 20000 target/release/examples/plugins_cost --cores 1 --driver epoll --access-log
//! ```
//!
//! `--metrics` installs the metrics plugin (served at `/metrics`);
//! `--access-log` installs the access-log plugin, which stays disabled
//! (this program sets no `tracing` subscriber) unless `--log-lines` also
//! prints its lines on stderr; `--access-log-middleware` installs it as an
//! ordinary middleware instead, as the plugin did before. Prints
//! `listening on http://ADDR` when ready.

use std::io;
use std::net::SocketAddr;

use clap::Parser;
use percore::web::{get, AccessLog, App, Metrics, Request};
use percore::Server;
use percore_cli::RuntimeArgs;

/// `/plaintext` with optional production plugins.
#[derive(Parser)]
#[command(name = "plugins_cost")]
struct Args {
    /// Address to listen on, IP:PORT
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,

    #[command(flatten)]
    runtime: RuntimeArgs,

    /// Install the metrics plugin
    #[arg(long)]
    metrics: bool,

    /// Install the access-log plugin (disabled: no subscriber)
    #[arg(long)]
    access_log: bool,

    /// Install the access log as an ordinary middleware instead (how the
    /// plugin installed itself before issue 17's change), disabled
    #[arg(long, conflicts_with = "access_log")]
    access_log_middleware: bool,

    /// Print the access log's lines on stderr (a subscriber at INFO)
    #[arg(long, requires = "access_log")]
    log_lines: bool,
}

fn main() -> io::Result<()> {
    let args: Args = percore_cli::parse();
    if args.log_lines {
        tracing_subscriber::fmt()
            .with_writer(io::stderr)
            .with_max_level(tracing::Level::INFO)
            .init();
    }
    let metrics = args.metrics.then(Metrics::new);
    let (access_log, as_middleware) = (args.access_log, args.access_log_middleware);
    Server::new(move || {
        let mut app = App::new();
        if let Some(metrics) = &metrics {
            app = app.plugin(metrics.clone());
        }
        if access_log {
            app = app.plugin(AccessLog::combined());
        }
        if as_middleware {
            app = app.middleware(AccessLog::combined().middleware());
        }
        app.route("/plaintext", get(|_r: Request| async { "Hello, World!" }))
    })
    .bind(args.listen)?
    .cores(args.runtime.cores)
    .driver(args.runtime.driver.into())
    .on_ready(|info| println!("listening on http://{}", info.addr))
    .run()
}
