//! percore-ws: WebSocket for percore (RFC 6455, RFC 7692).
//!
//! The protocol core is sans-IO: the [`Codec`] turns bytes into
//! [`Message`]s and back, the [`handshake`] module validates and builds the
//! HTTP upgrade, and [`deflate`] negotiates permessage-deflate. On top, for
//! the percore runtime: [`WebSocketUpgrade`] accepts an upgrade in an HTTP
//! handler and [`WebSocket`] is the async socket (`recv`, `send`, `split`,
//! heartbeat).
//!
//! Modules, one job each:
//! * [`mask`]: payload masking;
//! * [`utf8`]: incremental UTF-8 validation across fragments;
//! * [`frame`]: frame header decode/encode;
//! * [`deflate`]: permessage-deflate negotiation and compression;
//! * [`handshake`]: opening handshake (server and client);
//! * [`codec`]: the per-connection state machine.
//!
//! ```
//! use bytes::BytesMut;
//! use percore_ws::{Codec, Config, Message, Role};
//!
//! let mut server = Codec::new(Role::Server, Config::default());
//! // A masked ping from a client, RFC 6455 §5.7.
//! let mut input = BytesMut::from(&[0x89, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58][..]);
//! let ping = server.decode(&mut input).unwrap().unwrap();
//! let mut out = BytesMut::new();
//! server.encode(&ping.pong_reply().unwrap(), &mut out).unwrap();
//! assert_eq!(&out[..], b"\x8a\x05Hello");
//! ```
#![forbid(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

pub mod codec;
pub mod deflate;
mod error;
pub mod frame;
pub mod handshake;
pub mod mask;
mod message;
mod rng;
mod server;
mod socket;
pub mod utf8;

pub use codec::{CloseState, Codec, Config, Role};
pub use deflate::DeflateConfig;
pub use error::{EncodeError, ProtocolError};
pub use message::{is_valid_close_code, CloseFrame, Message, Utf8Bytes};
pub use server::{Refusal, WebSocketUpgrade};
pub use socket::{WebSocket, WsError, WsReader, WsWriter};
