//! What an idle socket keeps: sizes and buffers.

use super::*;

/// A socket on a fresh loopback connection, in the server role.
async fn loopback_socket() -> WebSocket {
    use percore_runtime::net::{TcpListener, TcpStream};
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let tcp = TcpStream::connect(listener.local_addr().unwrap())
        .await
        .unwrap();
    WebSocket::new(
        Rc::new(Conn::from(tcp)),
        BytesMut::new(),
        Codec::new(crate::Role::Server, crate::Config::default()),
    )
}

/// What an idle plain socket keeps per connection: the shared state
/// (the heartbeat, subprotocol and goodbye state boxed apart), and the
/// futures a handler waits in. A task waiting in `recv` holds the state
/// of the read, not of the writes `recv` makes rarely (pong, close
/// reply, going away, heartbeat: boxed); `send` holds no write of its
/// own (the write, with its timer, is boxed while it runs). Sizes of a
/// debug build, where futures are larger than in a release build.
#[test]
fn an_idle_socket_and_its_futures_are_small() {
    // Was 704 bytes (codec 304) with the rare state inline.
    let state = std::mem::size_of::<SocketState>();
    assert!(state <= 560, "SocketState is {state} bytes");
    // The runtime's part of it, not this crate's to shrink.
    let input = std::mem::size_of::<ReadBuffer<Conn>>();
    let codec = std::mem::size_of::<Codec>();
    assert!(codec <= 216, "Codec is {codec} bytes");
    assert!(
        state <= input + codec + 176,
        "SocketState is {state} bytes: {input} of input, {codec} of codec"
    );
    percore_runtime::Runtime::new().unwrap().block_on(async {
        let mut ws = loopback_socket().await;
        // `send` was 896 bytes with the write inline.
        let send = std::mem::size_of_val(&ws.send(Message::Ping(Bytes::new())));
        let recv = std::mem::size_of_val(&ws.recv());
        assert!(recv <= 320, "recv is {recv} bytes");
        assert!(send <= 352, "send is {send} bytes");
    });
}

/// After a message in and its echo out, an idle socket holds no read
/// buffer, no write buffer, no queued chunk or waiter list and no rare
/// state. Both drivers.
fn idle_after_an_echo_holds_no_buffer(driver: percore_runtime::DriverChoice) {
    use percore_runtime::net::{TcpListener, TcpStream};
    let rt = percore_runtime::Builder::new()
        .driver(driver)
        .build()
        .unwrap();
    rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let peer = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, _) = listener.accept().await.unwrap();
        let mut ws = WebSocket::new(
            Rc::new(Conn::from(server)),
            BytesMut::new(),
            Codec::new(crate::Role::Server, crate::Config::default()),
        );
        let mut client = Codec::new(crate::Role::Client, crate::Config::default());
        let mut wire = BytesMut::new();
        let msg = Message::text("x".repeat(300));
        client.encode(&msg, &mut wire).unwrap();
        let (res, _) = peer.write_all(wire.freeze()).await;
        res.unwrap();
        let got = ws.recv().await.unwrap().unwrap();
        assert_eq!(got, msg);
        ws.send(got).await.unwrap();
        let s = ws.reader.shared.borrow();
        assert_eq!(s.input.buffer().capacity(), 0, "read buffer kept");
        assert_eq!(s.out.capacity(), 0, "write buffer kept");
        assert_eq!(s.chunks.capacity(), 0);
        assert_eq!(s.write_waiters.capacity(), 0);
        assert!(s.rare.is_none());
        assert_eq!(s.written, s.encoded);
    });
}

#[test]
fn idle_after_an_echo_holds_no_buffer_uring() {
    idle_after_an_echo_holds_no_buffer(percore_runtime::DriverChoice::Uring);
}

#[test]
fn idle_after_an_echo_holds_no_buffer_epoll() {
    idle_after_an_echo_holds_no_buffer(percore_runtime::DriverChoice::Epoll);
}
