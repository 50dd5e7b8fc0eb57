//! A WebSocket session's checks, shared by the client's WebSocket tests
//! (over HTTP/1.1 and over HTTP/2).

use bytes::Bytes;
use percore::ws::{CloseState, Message, WebSocket, WsError};

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
