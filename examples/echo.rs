//! A TCP echo server on every core, one pinned worker per core sharing the
//! port with SO_REUSEPORT.
//!
//! ```text
//! cargo run --release --example echo -- --listen 127.0.0.1:7000 --cores 2 --driver uring
//! ```

use std::io;

use percore::cli::ServerArgs;
use percore::rt::future::{race, Either};
use percore::rt::net::{reserve_port, ListenOptions, TcpListener, TcpStream};
use percore::rt::{spawn_local, Workers};

async fn echo(stream: TcpStream) {
    let mut buf = Vec::with_capacity(16 * 1024);
    loop {
        buf.clear();
        let (res, b) = stream.read(buf).await;
        match res {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let (res, b) = stream.write_all(b).await;
        if res.is_err() {
            return;
        }
        buf = b;
    }
}

fn main() -> io::Result<()> {
    let args = ServerArgs::from_env("127.0.0.1:7000");
    let (addr, reservation) = reserve_port(args.listen)?;
    let cores = args.cores;
    let bound = std::sync::Arc::new(std::sync::Barrier::new(cores));
    let reservation = std::sync::Mutex::new(Some(reservation));
    Workers::new()
        .cores(cores)
        .driver(args.driver)
        .run(move |w| {
            let bound = bound.clone();
            let first = w.index == 0;
            let reservation = first.then(|| reservation.lock().unwrap().take()).flatten();
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
                            spawn_local(echo(stream));
                        }
                        Either::Left(Err(e)) => eprintln!("accept: {e}"),
                        Either::Right(()) => return,
                    }
                }
            }
        })
}
