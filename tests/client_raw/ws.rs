//! A WebSocket session's checks, shared by the client's WebSocket tests
//! (over HTTP/1.1 and over HTTP/2).

use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use bytes::Bytes;
use percore::client::Client;
use percore::ws::{CloseState, Message, WebSocket, WsError};
use percore::DriverChoice;

use super::runtime;
use crate::common::{listening_addr, start_listening};

/// The next message that is not a ping or pong.
pub async fn next_data(ws: &mut WebSocket) -> Message {
    loop {
        match ws.recv().await {
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
            Some(Ok(msg)) => return msg,
            other => panic!("expected a message, got {other:?}"),
        }
    }
}

/// Texts and binaries of every length class echo back intact, also many
/// in flight at once.
pub async fn echo_round_trips(ws: &mut WebSocket) {
    let long = "x".repeat(70_000);
    for text in ["hello", "", "żółć ✓ 𝄞", long.as_str()] {
        ws.send(Message::text(text.to_string())).await.unwrap();
        assert_eq!(next_data(ws).await, Message::text(text.to_string()));
    }
    for len in [1usize, 125, 126, 65_535, 65_536, 1 << 20] {
        let data: Bytes = (0..len).map(|i| (i * 31 % 251) as u8).collect();
        ws.send(Message::Binary(data.clone())).await.unwrap();
        assert_eq!(next_data(ws).await, Message::Binary(data), "{len} bytes");
    }
    for i in 0..200 {
        ws.send(Message::text(format!("m{i}"))).await.unwrap();
    }
    for i in 0..200 {
        assert_eq!(next_data(ws).await, Message::text(format!("m{i}")));
    }
    // Our ping gets the peer's pong.
    ws.send(Message::Ping(Bytes::from_static(b"there?")))
        .await
        .unwrap();
    loop {
        match ws.recv().await {
            Some(Ok(Message::Pong(p))) => break assert_eq!(&p[..], b"there?"),
            Some(Ok(Message::Ping(_))) => {}
            other => panic!("expected the pong, got {other:?}"),
        }
    }
}

/// We close; the peer's Close answers ours and the socket ends.
pub async fn close_from_client(mut ws: WebSocket) {
    ws.close(1000, "done").await.unwrap();
    match ws.recv().await {
        Some(Ok(Message::Close(Some(frame)))) => assert_eq!(frame.code, 1000),
        other => panic!("expected the Close answer, got {other:?}"),
    }
    assert!(ws.recv().await.is_none());
    assert_eq!(ws.close_state(), CloseState::Closed);
    assert!(matches!(
        ws.send(Message::text("late")).await,
        Err(WsError::Closed)
    ));
}

/// A session with a peer script (`tests/py/ws_server.py`,
/// `tests/node/ws_server.js`, `tests/node/ws_h2_server.js`): subprotocol
/// and deflate negotiated as asked, echoes, the server's ping answered,
/// the server's close, ours; with the client `make` builds, at the URL
/// `url` makes of the server's address.
pub fn session_at(
    d: DriverChoice,
    mut cmd: Command,
    deflate: bool,
    make: impl FnOnce() -> Client,
    url: impl FnOnce(SocketAddr) -> String,
) {
    let (_peer, line) = start_listening(&mut cmd);
    let url = url(listening_addr(&line));
    runtime(d).block_on(async move {
        let client = make();
        let mut ws = client
            .ws(&url)
            .protocols(["unknown", "chat.v1"])
            .deflate(deflate)
            .connect()
            .await
            .unwrap();
        assert_eq!(ws.protocol().as_deref(), Some("chat.v1"));
        let Message::Text(hello) = next_data(&mut ws).await else {
            panic!("no hello")
        };
        let ext = hello.as_str().strip_prefix("hello chat.v1 ").unwrap();
        assert_eq!(ext.starts_with("permessage-deflate"), deflate, "{hello}");
        assert_eq!(ext == "none", !deflate, "{hello}");
        echo_round_trips(&mut ws).await;

        // The server's ping is answered (and shown to us).
        ws.send(Message::text("ping-me")).await.unwrap();
        match ws.recv().await {
            Some(Ok(Message::Ping(p))) => assert_eq!(&p[..], b"percore?"),
            other => panic!("expected the server's ping, got {other:?}"),
        }
        assert_eq!(next_data(&mut ws).await, Message::text("pong-received"));

        // The server closes: its code and reason, then the end.
        ws.send(Message::text("close-me")).await.unwrap();
        match ws.recv().await {
            Some(Ok(Message::Close(Some(frame)))) => {
                assert_eq!((frame.code, frame.reason.as_str()), (4000, "bye"))
            }
            other => panic!("expected the server's Close, got {other:?}"),
        }
        let end = percore::rt::time::timeout(Duration::from_secs(5), ws.recv()).await;
        assert!(matches!(end, Ok(None)), "{end:?}");

        let mut ws = client
            .ws(&url)
            .protocols(["chat.v2"])
            .deflate(deflate)
            .connect()
            .await
            .unwrap();
        assert_eq!(ws.protocol().as_deref(), Some("chat.v2"));
        assert!(matches!(next_data(&mut ws).await, Message::Text(_)));
        close_from_client(ws).await;
    });
}
