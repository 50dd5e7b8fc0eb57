//! HTTP/1.1: sans-IO codec.
