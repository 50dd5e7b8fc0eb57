//! percore-ws: WebSocket for percore (RFC 6455, RFC 7692).
