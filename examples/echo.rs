//! A TCP echo server on every core, one pinned worker per core sharing the
//! port with SO_REUSEPORT.
//!
//! ```text
//! cargo run --release --example echo -- --listen 127.0.0.1:7000 --cores 2 --driver uring
//! ```
//!
//! `--buffer BYTES` sets the read buffer (16 KiB by default): with 1 MiB it
//! is the floor for large WebSocket messages, every byte crossing the kernel
//! twice and nothing else. `--unmask` adds the one pass over the bytes that
//! every WebSocket server must make: each read is XORed in place with an
//! all-zero masking key (the bytes stay the same, the work is the same as a
//! real unmask), the floor for any WebSocket server.
//!
//! With `--canned` it is the benchmarks' floor for HTTP/1.1 instead: for
//! every `\r\n\r\n` it reads it writes one pre-encoded `200 OK` response
//! (the bytes of the demo's `/plaintext` answer, its `date` re-rendered
//! once a second), with no parsing at all, so the gap between it and the
//! demo's `/plaintext` is what the HTTP layer costs. With `--tls-cert FILE --tls-key FILE` as well it
//! answers over TLS (percore-tls, ALPN `http/1.1`): the floor under an
//! HTTPS server, records and socket calls and nothing else. `--help` lists
//! the options.

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::builder::RangedU64ValueParser;
use clap::Parser;
use percore::http::h1::DateCache;
use percore::rt::future::{race, Either};
use percore::rt::io::{write_all, OwnedRead, OwnedWrite};
use percore::rt::net::{reserve_port, ListenOptions, TcpListener, TcpStream};
use percore::rt::{spawn_local, Workers};
use percore::tls::{TlsAcceptor, TlsConfig};
use percore_cli::RuntimeArgs;

/// A TCP echo server on every core.
///
/// One pinned worker per core, the port shared with SO_REUSEPORT: the floor
/// the benchmarks compare percore's servers with. Prints `listening on ADDR
/// (cores: N, driver: D)` once it accepts connections.
#[derive(Parser)]
#[command(name = "echo", version)]
struct Args {
    /// Address to listen on, IP:PORT (port 0: any free port)
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:7000")]
    listen: SocketAddr,

    #[command(flatten)]
    runtime: RuntimeArgs,

    /// Read buffer per connection, in bytes (1 MiB: the floor for large
    /// WebSocket messages)
    #[arg(
        long,
        value_name = "BYTES",
        default_value_t = 16 * 1024,
        value_parser = RangedU64ValueParser::<usize>::new().range(1..=1 << 30)
    )]
    buffer: usize,

    /// XOR every read in place with an all-zero WebSocket masking key: the
    /// one pass over the bytes every WebSocket server makes
    #[arg(long)]
    unmask: bool,

    /// Answer every request head (each `\r\n\r\n`) with one fixed `200 OK`,
    /// parsing nothing: the HTTP/1.1 floor
    #[arg(long, conflicts_with_all = ["buffer", "unmask"])]
    canned: bool,

    /// With --canned: answer over TLS with this certificate chain (PEM)
    #[arg(long, value_name = "FILE", requires_all = ["canned", "tls_key"])]
    tls_cert: Option<PathBuf>,

    /// With --tls-cert: its private key (PEM)
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
}

/// How long a TLS handshake may take before the connection is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

async fn echo(stream: TcpStream, buffer: usize, unmask_key: Option<[u8; 4]>) {
    let mut buf = Vec::with_capacity(buffer);
    loop {
        buf.clear();
        let (res, mut b) = stream.read(buf).await;
        match res {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        if let Some(key) = unmask_key {
            percore::ws::mask::apply_mask(&mut b, key, 0);
        }
        let (res, b) = stream.write_all(b).await;
        if res.is_err() {
            return;
        }
        buf = b;
    }
}

/// The canned answer: the demo's `/plaintext` answer, byte for byte, dated
/// `date` (an IMF-fixdate).
fn canned_answer(date: &[u8]) -> Vec<u8> {
    let mut answer = b"HTTP/1.1 200 OK\r\ndate: ".to_vec();
    answer.extend_from_slice(date);
    answer.extend_from_slice(
        b"\r\ncontent-type: text/plain\r\ncontent-length: 13\r\n\r\nHello, World!",
    );
    answer
}

/// Counts request-head terminators in `bytes`, given the state left by the
/// previous read (how many bytes of `\r\n\r\n` were already matched).
fn count_terminators(bytes: &[u8], matched: &mut usize) -> usize {
    const END: &[u8; 4] = b"\r\n\r\n";
    let mut count = 0;
    for &b in bytes {
        *matched = if b == END[*matched] {
            *matched + 1
        } else if b == b'\r' {
            1
        } else {
            0
        };
        if *matched == END.len() {
            count += 1;
            *matched = 0;
        }
    }
    count
}

/// The TLS handshake, then [`canned`] answers over it.
async fn canned_tls(acceptor: TlsAcceptor, stream: TcpStream) {
    if let Ok(tls) = acceptor.accept(stream, HANDSHAKE_TIMEOUT).await {
        canned(tls).await;
    }
}

async fn canned<S: OwnedRead + OwnedWrite>(stream: S) {
    let mut buf = Vec::with_capacity(16 * 1024);
    let (mut date, mut answer) = (DateCache::EMPTY, Vec::new());
    let mut out = Vec::with_capacity(16 * 128);
    let mut matched = 0;
    loop {
        buf.clear();
        let (res, b) = stream.read(buf).await;
        buf = b;
        match res {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let n = count_terminators(&buf, &mut matched);
        if n == 0 {
            continue;
        }
        if date.update(std::time::SystemTime::now()) {
            answer = canned_answer(date.get());
        }
        out.clear();
        for _ in 0..n {
            out.extend_from_slice(&answer);
        }
        let (res, o) = write_all(&stream, out).await;
        if res.is_err() {
            return;
        }
        out = o;
    }
}

fn main() -> io::Result<()> {
    let args: Args = percore_cli::parse();
    let canned_mode = args.canned;
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(TlsAcceptor::new(
            TlsConfig::from_pem_files(cert, key)?.alpn(&[b"http/1.1"]),
        )?),
        _ => None,
    };
    let buffer = args.buffer;
    // Zero, but opaque to the compiler, which cannot drop the pass.
    let unmask_key = args.unmask.then_some(std::hint::black_box([0u8; 4]));
    let (addr, reservation) = reserve_port(args.listen)?;
    let cores = args.runtime.cores;
    let bound = std::sync::Arc::new(std::sync::Barrier::new(cores));
    let reservation = std::sync::Mutex::new(Some(reservation));
    Workers::new()
        .cores(cores)
        .driver(args.runtime.driver.into())
        .run(move |w| {
            let bound = bound.clone();
            let first = w.index == 0;
            let reservation = first.then(|| reservation.lock().unwrap().take()).flatten();
            let tls = tls.clone();
            async move {
                let opts = ListenOptions {
                    reuse_port: true,
                    ..ListenOptions::default()
                };
                let listener = TcpListener::bind_with(addr, opts).expect("bind");
                bound.wait();
                if first {
                    drop(reservation);
                    println!(
                        "listening on {addr} (cores: {}, driver: {})",
                        w.cores, w.driver
                    );
                }
                loop {
                    match race(listener.accept(), w.shutdown.wait()).await {
                        Either::Left(Ok((stream, _))) => {
                            let _ = stream.set_nodelay(true);
                            if let Some(acceptor) = &tls {
                                spawn_local(canned_tls(acceptor.clone(), stream));
                            } else if canned_mode {
                                spawn_local(canned(stream));
                            } else {
                                spawn_local(echo(stream, buffer, unmask_key));
                            }
                        }
                        Either::Left(Err(e)) => eprintln!("accept: {e}"),
                        Either::Right(()) => return,
                    }
                }
            }
        })
}

#[cfg(test)]
mod tests {
    use super::count_terminators;

    #[test]
    fn terminators_are_counted_across_reads() {
        let mut m = 0;
        assert_eq!(
            count_terminators(b"GET / HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n\r", &mut m),
            1
        );
        assert_eq!(count_terminators(b"\n", &mut m), 1);
        assert_eq!(count_terminators(b"\r\r\n\r\n", &mut m), 1);
        assert_eq!(count_terminators(b"a\r\nb\r\n", &mut m), 0);
    }
}
