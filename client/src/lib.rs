//! percore-client: HTTP/1.1, HTTP/2 and WebSocket client (not yet implemented).
