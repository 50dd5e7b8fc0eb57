//! TCP echo on tokio current_thread, one pinned runtime per core (SO_REUSEPORT).

use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn main() {
    let a = percore_bench_peers::args("127.0.0.1:7000");
    let addr = a.listen;
    println!(
        "listening on {addr} (cores: {}, tokio current_thread)",
        a.cores
    );
    percore_bench_peers::per_core(a.cores, move |_| async move {
        let listener =
            tokio::net::TcpListener::from_std(percore_bench_peers::reuseport_listener(addr))
                .unwrap();
        loop {
            let (mut s, _) = listener.accept().await.unwrap();
            s.set_nodelay(true).unwrap();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 16 * 1024];
                loop {
                    let n = match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    if s.write_all(&buf[..n]).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
}
