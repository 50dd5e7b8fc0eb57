//! The command line, parsed by clap: unknown flags and bad values exit
//! with status 2 (through `percore_cli::parse`).

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use http::{HeaderName, HeaderValue, Method};
use percore_cli::RuntimeArgs;

/// percore-load: an HTTP/1.1 (pipelined), HTTP/2 and WebSocket load
/// generator, cleartext or TLS (https://, wss://), one pinned thread per
/// core, each with its own connections.
///
/// Stops after -n requests or -d seconds (10 s if neither is given; the
/// first reached if both are), then prints requests, errors by kind,
/// requests/s and latency percentiles. `-d` is the duration, as in wrk;
/// the request body is `-b/--body`.
///
/// Every request counts once: as a response (any status; non-2xx ones are
/// also counted as errors, as wrk does) or as an error (connect, timeout,
/// protocol, io). With -n, responses plus errors other than non-2xx add
/// up to N exactly.
#[derive(Debug, Parser)]
#[command(name = "percore-load", version)]
pub struct Args {
    /// Target URL: http://HOST:PORT/PATH, or ws://HOST:PORT/PATH (which
    /// implies --ws); https:// and wss:// connect with TLS (ALPN h2 with
    /// --h2, else http/1.1; one full handshake per connection)
    #[arg(value_name = "URL")]
    pub url: String,

    /// Connections, spread over the cores
    #[arg(short = 'c', long, value_name = "CONNS", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub connections: u32,

    /// Run for SECS seconds (decimals allowed)
    #[arg(short = 'd', long, value_name = "SECS", value_parser = parse_seconds)]
    pub duration: Option<Duration>,

    /// Send REQS requests in total, then stop
    #[arg(short = 'n', long, value_name = "REQS",
          value_parser = clap::value_parser!(u64).range(1..))]
    pub requests: Option<u64>,

    /// HTTP/2 (cleartext with prior knowledge, or TLS with ALPN h2), -m
    /// streams per connection
    #[arg(long, conflicts_with_all = ["ws", "pipeline"])]
    pub h2: bool,

    /// Concurrent streams per HTTP/2 connection
    #[arg(short = 'm', long, value_name = "STREAMS", default_value_t = 1,
          requires = "h2", value_parser = clap::value_parser!(u32).range(1..=65_536))]
    pub max_streams: u32,

    /// HTTP/1.1 pipelining: DEPTH requests written at once per connection
    #[arg(long, value_name = "DEPTH", default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(1..=65_536))]
    pub pipeline: u32,

    /// WebSocket: upgrade each connection, then echo round trips of
    /// --msg-size bytes (each one a "request")
    #[arg(long)]
    pub ws: bool,

    /// WebSocket message size in bytes (binary messages) [default: 64]
    #[arg(long, value_name = "BYTES",
          value_parser = clap::value_parser!(u32).range(0..=(64 << 20)))]
    pub msg_size: Option<u32>,

    /// Request method
    #[arg(short = 'X', long, value_name = "METHOD", default_value = "GET",
          value_parser = parse_method, conflicts_with = "ws")]
    pub method: Method,

    /// Request body (sent with Content-Length)
    #[arg(short = 'b', long, value_name = "BODY", conflicts_with = "ws")]
    pub body: Option<String>,

    /// Extra request header, 'name: value' (repeatable)
    #[arg(short = 'H', long = "header", value_name = "'K: V'", value_parser = parse_header)]
    pub headers: Vec<(HeaderName, HeaderValue)>,

    /// Seconds to wait for a response (or a connection) before counting a
    /// timeout and reconnecting
    #[arg(long, value_name = "SECS", default_value = "10", value_parser = parse_seconds)]
    pub timeout: Duration,

    /// TLS: trust the CA certificates in FILE (PEM) besides the Mozilla
    /// roots
    #[arg(long, value_name = "FILE")]
    pub cacert: Option<PathBuf>,

    /// TLS: accept any server certificate, unverified (for self-signed
    /// test servers only)
    #[arg(short = 'k', long)]
    pub insecure: bool,

    /// Also write the summary as JSON to FILE
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,

    #[command(flatten)]
    pub runtime: RuntimeArgs,
}

/// A positive number of seconds, decimals allowed.
fn parse_seconds(value: &str) -> Result<Duration, String> {
    let secs: f64 = value
        .trim_end_matches('s')
        .parse()
        .map_err(|_| format!("{value:?} is not a number of seconds"))?;
    if !(secs > 0.0 && secs <= 1e6) {
        return Err("must be above 0 and at most 1000000".into());
    }
    Ok(Duration::from_secs_f64(secs))
}

fn parse_method(value: &str) -> Result<Method, String> {
    Method::from_bytes(value.as_bytes()).map_err(|_| format!("{value:?} is not a method"))
}

fn parse_header(value: &str) -> Result<(HeaderName, HeaderValue), String> {
    let (name, v) = value
        .split_once(':')
        .ok_or_else(|| format!("{value:?} is not 'name: value'"))?;
    let name = HeaderName::from_bytes(name.trim().as_bytes())
        .map_err(|_| format!("{:?} is not a header name", name.trim()))?;
    let v = HeaderValue::from_str(v.trim())
        .map_err(|_| format!("{:?} is not a header value", v.trim()))?;
    Ok((name, v))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Args, clap::Error> {
        percore_cli::parse_from(std::iter::once("percore-load").chain(args.iter().copied()))
    }

    #[test]
    fn duration_is_d_and_body_is_b() {
        let a = parse(&["http://x/", "-d", "1.5", "-b", "hi", "-X", "POST"]).unwrap();
        assert_eq!(a.duration, Some(Duration::from_millis(1500)));
        assert_eq!(a.body.as_deref(), Some("hi"));
        assert_eq!(a.method, Method::POST);
    }

    #[test]
    fn headers_repeat() {
        let a = parse(&["http://x/", "-H", "a: 1", "-H", "B:two"]).unwrap();
        assert_eq!(a.headers.len(), 2);
        assert_eq!(a.headers[1].0, "b");
        assert_eq!(a.headers[1].1, "two");
    }

    #[test]
    fn tls_flags() {
        let a = parse(&["https://x/", "-k", "--cacert", "ca.pem"]).unwrap();
        assert!(a.insecure);
        assert_eq!(a.cacert.as_deref(), Some(std::path::Path::new("ca.pem")));
        assert!(!parse(&["https://x/"]).unwrap().insecure);
    }

    #[test]
    fn mistakes_exit_2() {
        for bad in [
            &["http://x/", "--bogus"][..],
            &["http://x/", "-c", "0"],
            &["http://x/", "-d", "soon"],
            &["http://x/", "-H", "no colon"],
            &["http://x/", "-m", "4"],
            &["http://x/", "--h2", "--ws"],
        ] {
            let err = parse(bad).unwrap_err();
            assert_eq!(err.exit_code(), 2, "{bad:?}");
        }
    }
}
