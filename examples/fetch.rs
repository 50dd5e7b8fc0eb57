//! A small curl: one request with percore's client.
//!
//! ```text
//! cargo run --release --example fetch -- [-X METHOD] [-d BODY] [-H 'k: v']... \
//!     [--max-body BYTES] [--timeout SECS] [--h2] [--cacert FILE] [--insecure] URL
//! ```
//!
//! `https://` URLs verify the server against the built-in (Mozilla)
//! roots, plus the CA of `--cacert`; `-k`/`--insecure` skips the check.
//! Over TLS, ALPN picks HTTP/2 or HTTP/1.1.
//!
//! The status line and headers go to stderr, the body to stdout. On
//! failure: one line naming the error kind, exit status 1.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use percore::client::{Client, Error};
use percore::rt::Runtime;

#[derive(Parser, Debug)]
#[command(about = "Fetch a URL with percore's HTTP client")]
struct Args {
    /// The request method.
    #[arg(short = 'X', long = "request", default_value = "GET")]
    method: String,
    /// The request body (sent as is).
    #[arg(short = 'd', long = "data")]
    data: Option<String>,
    /// A header, `name: value` (repeatable).
    #[arg(short = 'H', long = "header")]
    headers: Vec<String>,
    /// Largest body accepted, in bytes.
    #[arg(long = "max-body", default_value_t = 16 * 1024 * 1024)]
    max_body: u64,
    /// Total timeout in seconds (connection, answer and body).
    #[arg(long = "timeout", default_value_t = 30.0)]
    timeout: f64,
    /// Speak HTTP/2 without negotiation (h2c prior knowledge).
    #[arg(long = "h2")]
    h2: bool,
    /// Trust the CA certificates in this PEM file too (https).
    #[arg(long = "cacert", value_name = "FILE")]
    cacert: Option<std::path::PathBuf>,
    /// Do not verify the server's certificate (https; tests only).
    #[arg(short = 'k', long = "insecure")]
    insecure: bool,
    /// The URL (http:// or https://).
    url: String,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let rt = match Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(fetch(&args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn fetch(args: &Args) -> Result<(), Error> {
    let timeout = Duration::try_from_secs_f64(args.timeout).unwrap_or(Duration::from_secs(30));
    let mut builder = Client::builder().timeout(timeout).max_body(args.max_body);
    if let Some(path) = &args.cacert {
        match std::fs::read(path) {
            Ok(pem) => builder = builder.add_root_certificate(&pem),
            Err(e) => {
                eprintln!("error: cannot read {}: {e}", path.display());
                std::process::exit(1);
            }
        }
    }
    let client = builder.danger_accept_invalid_certs(args.insecure).build()?;
    let Ok(method) = http::Method::from_bytes(args.method.as_bytes()) else {
        eprintln!("error: invalid method {:?}", args.method);
        std::process::exit(1);
    };
    let mut req = client.request(method, args.url.as_str());
    if args.h2 {
        req = req.http2_prior_knowledge();
    }
    for h in &args.headers {
        let (name, value) = h.split_once(':').unwrap_or((h, ""));
        req = req.header(name.trim(), value.trim());
    }
    if let Some(data) = &args.data {
        req = req.body(data.clone());
    }
    let resp = req.send().await?;
    let mut head = format!("{:?} {}\n", resp.version(), resp.status());
    for (name, value) in resp.headers() {
        head.push_str(&format!(
            "{name}: {}\n",
            String::from_utf8_lossy(value.as_bytes())
        ));
    }
    eprint!("{head}");
    let body = resp.bytes().await?;
    let mut out = std::io::stdout().lock();
    // A closed stdout (a pipe into `head`) is not the request's failure.
    let _ = out.write_all(&body).and_then(|()| out.flush());
    Ok(())
}
