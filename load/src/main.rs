//! percore-load: an HTTP/1.1 (pipelined), HTTP/2 and WebSocket load
//! generator, cleartext or TLS, one pinned thread per core, each with its
//! own connections.
//!
//! ```text
//! cargo run --release -p percore-load -- http://127.0.0.1:8080/plaintext -c 64 -d 10
//! cargo run --release -p percore-load -- http://127.0.0.1:8080/ -c 16 -n 100000 --pipeline 16
//! cargo run --release -p percore-load -- http://127.0.0.1:8080/ -c 4 -d 5 --h2 -m 100
//! cargo run --release -p percore-load -- ws://127.0.0.1:8080/ws -c 32 -d 5 --ws --msg-size 128
//! cargo run --release -p percore-load -- https://127.0.0.1:8443/plaintext -c 64 -d 10 -k
//! ```
//!
//! Each connection drives the sans-IO codecs directly (no pooled client
//! in between): the HTTP/1.1 request is encoded once and reused.

mod args;
mod clock;
mod conn;
mod h1;
mod h2;
mod io;
mod plan;
mod run;
mod stats;
mod target;
mod ws;

use std::process::ExitCode;
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::CommandFactory;
use http::HeaderMap;
use percore_runtime::sync::Shutdown;

use args::Args;
use plan::{Budget, Plan, Protocol, RequestSpec};
use run::Shape;
use target::Target;

/// WebSocket message size without --msg-size.
const DEFAULT_MSG_SIZE: u32 = 64;

/// How long a run lasts when neither -d nor -n is given (as wrk).
const DEFAULT_DURATION: Duration = Duration::from_secs(10);

fn main() -> ExitCode {
    let args: Args = percore_cli::parse();
    let ws = args.ws || args.url.starts_with("ws://") || args.url.starts_with("wss://");
    let target = match Target::parse(&args.url, ws) {
        Ok(t) => t,
        Err(e) => usage_error(&e),
    };
    if ws && args.h2 {
        usage_error("--h2 cannot be used with a WebSocket URL");
    }
    if !ws && args.msg_size.is_some() {
        usage_error("--msg-size needs --ws or a ws:// URL");
    }
    let protocol = if ws {
        Protocol::Ws
    } else if args.h2 {
        Protocol::H2 {
            streams: args.max_streams as usize,
        }
    } else {
        Protocol::H1 {
            depth: args.pipeline as usize,
        }
    };
    let duration = match (args.duration, args.requests) {
        (None, None) => Some(DEFAULT_DURATION),
        (d, _) => d,
    };
    let mut headers = HeaderMap::new();
    for (name, value) in args.headers {
        headers.append(name, value);
    }
    let request = RequestSpec {
        method: args.method,
        headers,
        body: args.body.map(Bytes::from),
    };
    let stop = Shutdown::new();
    let budget = Budget::new(
        args.requests,
        duration.map(|d| Instant::now() + d),
        stop.clone(),
    );
    let payload = Bytes::from(vec![
        b'x';
        args.msg_size.unwrap_or(DEFAULT_MSG_SIZE) as usize
    ]);
    let tls = target.tls;
    if !tls && (args.insecure || args.cacert.is_some()) {
        usage_error("--insecure and --cacert need an https:// or wss:// URL");
    }
    let mut plan = Plan::new(target, protocol, request, payload, args.timeout, budget);
    if tls {
        let ca = match &args.cacert {
            None => None,
            Some(path) => match std::fs::read(path) {
                Ok(pem) => Some(pem),
                Err(e) => {
                    eprintln!("error: cannot read {}: {e}", path.display());
                    return ExitCode::FAILURE;
                }
            },
        };
        match conn::connector(protocol, ca.as_deref(), args.insecure) {
            Ok(connector) => plan = plan.with_tls(connector),
            Err(e) => {
                eprintln!("error: TLS configuration: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    let shape = Shape {
        cores: args.runtime.cores,
        connections: args.connections as usize,
        driver: args.runtime.driver.into(),
    };
    let summary = match run::run(plan, shape, stop) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    print!("{}", summary.text());
    if let Some(path) = args.json {
        let text = summary.json().to_string();
        if let Err(e) = std::fs::write(&path, text + "\n") {
            eprintln!("error: cannot write {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}

/// Exits with status 2 and the usage, as for any other command-line mistake.
fn usage_error(message: &str) -> ! {
    Args::command()
        .error(clap::error::ErrorKind::ValueValidation, message)
        .exit()
}
