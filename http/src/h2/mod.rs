//! HTTP/2: sans-IO frame codec, HPACK, connection state machine.
