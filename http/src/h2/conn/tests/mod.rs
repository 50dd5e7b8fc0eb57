//! Connection tests: the server against a scripted client
//! (`server.rs`), the client against our server and against a scripted
//! server (`client.rs`) and against nghttpd over a socket
//! (`client_nghttpd.rs`).

mod client;
mod client_nghttpd;
mod server;
