//! Connection tests: the server against a scripted client
//! (`server.rs`), the client against our server and against a scripted
//! server (`client.rs`).

mod client;
mod server;
