use std::time::Duration;

use bytes::{Buf, BytesMut};
use percore_runtime::net::{TcpListener, TcpStream};
use percore_runtime::{Builder, DriverChoice};

use super::{Acquired, Conn, Origin, Pool, PoolConfig};
use crate::connect::Stream;

fn pool() -> Pool {
    Pool::new(PoolConfig {
        limit: 4,
        limit_per_host: 4,
        idle_timeout: Duration::from_secs(60),
        max_idle_per_host: 4,
    })
}

/// A connection to a listener of this runtime, under a permit of `pool`.
async fn conn(pool: &Pool, listener: &TcpListener, origin: &Origin) -> Conn {
    let Some(Acquired::Slot(permit)) = pool.try_acquire(origin, false) else {
        panic!("room for a connection");
    };
    let stream = TcpStream::connect(listener.local_addr().unwrap())
        .await
        .unwrap();
    Conn::new(Stream::Tcp(stream), permit)
}

#[test]
fn an_idle_connection_keeps_no_piece_of_a_read_block() {
    for driver in [DriverChoice::Epoll, DriverChoice::Uring] {
        let rt = Builder::new().driver(driver).build().unwrap();
        rt.block_on(async {
            let pool = pool();
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let origin = Origin {
                scheme: "http",
                host: "127.0.0.1".into(),
                port: listener.local_addr().unwrap().port(),
            };
            let mut conn = conn(&pool, &listener, &origin).await;
            // A response read into a piece of a shared block (as the
            // runtime's reads of an idle connection do), then consumed.
            let mut block = BytesMut::with_capacity(32 * 1024);
            block.extend_from_slice(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
            let mut piece = block.split();
            piece.advance(piece.len());
            *conn.buf() = piece;
            pool.release(conn);
            assert_eq!(pool.stats().idle, 1);
            // The block is this handle's alone again: no idle connection
            // holds a piece of it.
            assert!(block.try_reclaim(32 * 1024), "{driver:?}");
            // A buffer of the connection's own, with room, is kept.
            let Some(Acquired::Reused(mut conn)) = pool.try_acquire(&origin, false) else {
                panic!("the idle connection");
            };
            *conn.buf() = BytesMut::with_capacity(1024);
            pool.release(conn);
            let Some(Acquired::Reused(mut conn)) = pool.try_acquire(&origin, false) else {
                panic!("the idle connection");
            };
            assert_eq!(conn.buf().capacity(), 1024);
        });
    }
}
