//! The demo server: the routes every benchmark and interop test uses.
//!
//! ```text
//! cargo run --release --example demo -- --listen 127.0.0.1:8080 --cores 2 --driver uring
//! ```
//!
//! Routes: `GET /` (this demo's page), `GET /plaintext`, `GET /json`,
//! `GET /bytes/{kib}` (KiB of in-memory bytes, at most 4096),
//! `POST /echo` (the request body streamed back with its Content-Type),
//! `GET /ws` (WebSocket echo; permessage-deflate without context takeover),
//! `GET /ws-takeover` (the same echo, deflate with context takeover),
//! `GET /chat` (a WebSocket chat room shared by
//! every core), `POST /login`, `GET /whoami`, `POST /logout` (a session in a
//! sealed cookie, or in Redis with `--redis`, which also bridges the chat
//! between processes), `GET /static/...` (files), `GET /metrics` (Prometheus, with `--metrics`).
//! `--help` lists the options. `--tls-self-signed` (or
//! `--tls-cert FILE --tls-key FILE`) serves HTTPS instead:
//!
//! ```text
//! cargo run --release --example demo -- --listen 127.0.0.1:8443 --tls-self-signed
//! curl -k --http2 https://127.0.0.1:8443/plaintext
//! ```

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;
use percore::tls::TlsConfig;
use percore::Server;
use percore_cli::RuntimeArgs;

mod app;

use app::{app, ChatRoom, DemoOptions, RedisOptions};
use percore::web::Key;

/// percore's demo server.
///
/// Routes: GET / (a page about the demo), GET /plaintext, GET /json,
/// GET /bytes/{kib} (in-memory bytes),
/// POST /echo, GET /ws (WebSocket echo), GET /ws-takeover (the echo with
/// deflate's context takeover), GET /chat (a WebSocket chat
/// room), POST /login (user=NAME), GET /whoami, POST /logout, GET /static/
/// and, with --metrics, GET /metrics, over HTTP/1.1 and HTTP/2 (h2c), on one pinned worker
/// per core.
/// Prints `listening on http://ADDR (cores: N, driver: D)` once it accepts
/// connections (`https://` with TLS: HTTP/2 or HTTP/1.1 chosen by ALPN).
/// With --tls-cert/--tls-key, SIGHUP reloads both files: new connections
/// get the new certificate, open ones keep theirs.
#[derive(Parser)]
#[command(name = "demo", version)]
struct Args {
    /// Address to listen on, IP:PORT (port 0: any free port)
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,

    /// Serve TLS with this certificate chain (PEM, end entity first; needs --tls-key)
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,

    /// The private key (PEM) of --tls-cert
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,

    /// Serve TLS with a throwaway self-signed certificate for localhost
    /// and the listen address (for trying it out: clients need -k)
    #[arg(long, conflicts_with = "tls_cert")]
    tls_self_signed: bool,

    #[command(flatten)]
    runtime: RuntimeArgs,

    /// Directory served at /static/ [default: the demo's own assets, examples/demo/static]
    #[arg(long = "static", value_name = "DIR", value_parser = existing_dir)]
    static_dir: Option<PathBuf>,

    /// Secret (at least 32 bytes) that seals the session cookies; processes
    /// given the same secret accept each other's logins [default: a random
    /// key per process: sessions end with it]
    #[arg(long, value_name = "KEY", value_parser = secret_key)]
    secret: Option<Key>,

    /// Count requests on every core and serve them at /metrics (Prometheus
    /// text); off by default (about 180 instructions per request)
    #[arg(long)]
    metrics: bool,

    /// Keep the sessions in this Redis and bridge the chat through it:
    /// demo processes given the same --redis and --secret share logins and
    /// chat lines (redis://[[USER]:PASSWORD@]HOST[:PORT][/DB])
    #[arg(long, value_name = "URL", value_parser = redis_url)]
    redis: Option<percore::redis::Config>,
}

/// `--redis`: a redis:// URL.
fn redis_url(value: &str) -> Result<percore::redis::Config, String> {
    value.parse().map_err(|e: io::Error| e.to_string())
}

/// `--static`: a directory that exists.
fn existing_dir(value: &str) -> Result<PathBuf, String> {
    let path = PathBuf::from(value);
    if path.is_dir() {
        Ok(path)
    } else {
        Err(format!("{value:?} is not a directory"))
    }
}

/// `--secret`: at least 32 bytes, stretched into the cookie key.
fn secret_key(value: &str) -> Result<Key, String> {
    if value.len() < 32 {
        return Err(format!(
            "the secret must be at least 32 bytes (got {})",
            value.len()
        ));
    }
    Ok(Key::derive_from(value.as_bytes()))
}

fn main() -> io::Result<()> {
    let args: Args = percore_cli::parse();
    let tls = tls_config(&args)?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    if args.redis.is_some() && args.secret.is_none() {
        eprintln!(
            "warning: --redis without --secret: other processes cannot read \
             this one's session cookies"
        );
    }
    let key = args.secret.unwrap_or_else(|| {
        eprintln!(
            "warning: no --secret: sessions are sealed with a random key; \
             they end when this process does and no other process accepts them"
        );
        Key::generate()
    });
    let static_dir = args
        .static_dir
        .unwrap_or_else(DemoOptions::default_static_dir);
    let mut options = DemoOptions::new(key, static_dir);
    if args.metrics {
        options.metrics = Some(percore::web::Metrics::new());
    }
    let room = ChatRoom::new();
    if let Some(config) = args.redis {
        let redis = RedisOptions::new(config);
        app::bridge_chat(room.clone(), redis.clone(), args.runtime.driver.into())?;
        options.redis = Some(redis);
    }
    let mut server = Server::new(move || app(&room, &options))
        .bind(args.listen)?
        .cores(args.runtime.cores)
        .driver(args.runtime.driver.into())
        .on_ready(move |info| {
            println!(
                "listening on {scheme}://{} (cores: {}, driver: {})",
                info.addr, info.cores, info.driver
            );
        });
    if let Some(tls) = tls {
        server = server.tls(tls)?;
    }
    if let (Some(cert), Some(key), Some(reloader)) =
        (args.tls_cert, args.tls_key, server.tls_reloader())
    {
        percore::rt::signal::on_hangup(move || {
            match reloader.reload_from_pem_files(&cert, &key) {
                Ok(()) => eprintln!("SIGHUP: reloaded {}", cert.display()),
                Err(e) => eprintln!("SIGHUP: reload failed, the old certificate stays: {e}"),
            }
        })?;
    }
    server.run()
}

/// The TLS configuration the flags ask for, if any.
fn tls_config(args: &Args) -> io::Result<Option<TlsConfig>> {
    if args.tls_self_signed {
        let names = vec!["localhost".to_string(), args.listen.ip().to_string()];
        let cert = rcgen::generate_simple_self_signed(names).map_err(io::Error::other)?;
        let (cert_pem, key_pem) = (cert.cert.pem(), cert.key_pair.serialize_pem());
        return TlsConfig::from_pem(cert_pem.as_bytes(), key_pem.as_bytes()).map(Some);
    }
    match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => TlsConfig::from_pem_files(cert, key).map(Some),
        _ => Ok(None),
    }
}
